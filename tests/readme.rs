//! The README's commands, tried as a new user would: the repository's HEAD cloned into a
//! fresh temporary directory, the run command typed there exactly as README.md writes it
//! (read from the file, so this test breaks when the README changes and the test does
//! not), with no flags and the default ports; then the README's own `swaks` and `curl`
//! lines against it, SIGTERM, and a second start in the same directory.
//!
//! The clone's build shares this workspace's target directory (`CARGO_TARGET_DIR`), so
//! dependencies are compiled once per machine; the clone's own crates still build from the
//! clone's sources. The README's test command is checked to be what `.ci/run` runs.
//!
//! Without a `.git` directory (a source tarball) the tree is copied instead of cloned.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// A first `cargo run --release` compiles the whole workspace in release mode: minutes on
/// a 2-core machine, more when CI's other tests share it.
const FIRST_START_TIMEOUT: Duration = Duration::from_secs(40 * 60);
/// A restart only checks that the build is fresh.
const RESTART_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// How long the server may take to stop after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The README's commands: the two `sh` blocks under "## Two commands" (run, test), and
/// the inline `swaks ...` and `curl ...` examples that follow the run command.
struct Readme {
    run: String,
    test: String,
    swaks: String,
    curl: String,
}

fn readme() -> Readme {
    let text = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let section = text.split("\n## Two commands").nth(1).expect("README has a '## Two commands' section");
    let section = section.split("\n## ").next().unwrap();
    let mut blocks = Vec::new();
    let mut rest = section;
    while let Some(start) = rest.find("```sh\n") {
        let body = &rest[start + 6..];
        let end = body.find("```").expect("closed code block");
        blocks.push(body[..end].trim().to_string());
        rest = &body[end + 3..];
    }
    assert_eq!(blocks.len(), 2, "expected the run and the test command: {blocks:?}");
    for block in &blocks {
        assert!(!block.contains('\n'), "a README command is one line: {block:?}");
    }
    let inline = |prefix: &str| -> String {
        section
            .split('`')
            .skip(1)
            .step_by(2)
            .find(|span| span.starts_with(prefix))
            .unwrap_or_else(|| panic!("README shows a `{prefix}...` example"))
            .to_string()
    };
    Readme { run: blocks[0].clone(), test: blocks[1].clone(), swaks: inline("swaks "), curl: inline("curl ") }
}

#[test]
fn ci_runs_the_readme_test_command() {
    let readme = readme();
    let ci = std::fs::read_to_string(workspace().join(".ci/run")).unwrap();
    assert!(
        ci.lines().any(|line| line.trim() == readme.test),
        ".ci/run does not run the README's test command {:?}",
        readme.test
    );
    assert!(workspace().join(&readme.test).is_file(), "{} is not a file", readme.test);
}

/// The fresh copy: a clone of HEAD, or the tree without build output when there is no git.
fn fresh_checkout(into: &Path) -> PathBuf {
    let checkout = into.join("moxide");
    let head = Command::new("git").args(["rev-parse", "HEAD"]).current_dir(workspace()).output();
    match head {
        Ok(output) if output.status.success() => {
            let head = String::from_utf8(output.stdout).unwrap();
            let clone = Command::new("git")
                .args(["clone", "--quiet", "--no-checkout"])
                .arg(workspace())
                .arg(&checkout)
                .status()
                .unwrap();
            assert!(clone.success());
            let checkout_head = Command::new("git")
                .args(["checkout", "--quiet", "--detach", head.trim()])
                .current_dir(&checkout)
                .status()
                .unwrap();
            assert!(checkout_head.success());
        }
        _ => {
            eprintln!("no git repository: copying the tree instead of cloning HEAD");
            let copy = Command::new("cp").arg("-a").arg(workspace()).arg(&checkout).status().unwrap();
            assert!(copy.success());
            for leftover in ["target", "moxide-localserve", "protocols/fuzz/target"] {
                let _ = std::fs::remove_dir_all(checkout.join(leftover));
            }
        }
    }
    checkout
}

/// The README's run command, started in `checkout` as typed at a shell.
struct Running {
    child: Child,
    log: PathBuf,
    listeners: Vec<(String, SocketAddr)>,
}

impl Running {
    fn start(checkout: &Path, command: &str, log: &Path, timeout: Duration) -> Running {
        let target =
            PathBuf::from(env!("CARGO_BIN_EXE_moxide")).parent().unwrap().parent().unwrap().to_owned();
        let log_file = std::fs::OpenOptions::new().create(true).append(true).open(log).unwrap();
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("exec {command}"))
            .current_dir(checkout)
            .env("CARGO_TARGET_DIR", &target)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (lines_tx, lines_rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + timeout;
        let mut listeners = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = lines_rx.recv_timeout(left) else {
                let _ = child.kill();
                panic!("{command:?} did not print 'moxide: ready' in {timeout:?}; log:\n{}", tail(log));
            };
            if let Some((name, address)) =
                line.strip_prefix("moxide: listening ").and_then(|l| l.split_once(' '))
            {
                listeners.push((name.to_string(), address.parse().unwrap()));
            }
            if line == "moxide: ready" {
                break;
            }
        }
        Running { child, log: log.to_path_buf(), listeners }
    }

    fn terminate(mut self) {
        // The shell's builtin: a fresh Debian may have no /bin/kill (procps).
        let kill = format!("kill -TERM {}", self.child.id());
        assert!(Command::new("sh").args(["-c", &kill]).status().unwrap().success());
        let deadline = Instant::now() + STOP_TIMEOUT;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "still running {STOP_TIMEOUT:?} after SIGTERM:\n{}",
                tail(&self.log)
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        // A graceful stop (docs/operations.md): exit status 0, not death by the signal.
        assert!(status.success(), "stopped with {status} after SIGTERM:\n{}", tail(&self.log));
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let start = text.len().saturating_sub(8000);
    text[text.floor_char_boundary(start)..].to_string()
}

/// Runs a README example line as typed at a shell; returns its standard output.
fn shell(command: &str) -> String {
    let output = Command::new("sh").arg("-c").arg(command).stdin(Stdio::null()).output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The README's curl line with its mailbox URL narrowed to one message.
fn curl_fetch(readme_curl: &str, uid: u32) -> String {
    let url = readme_curl.split_whitespace().find(|word| word.starts_with("imap://")).unwrap();
    // Quoted: the `;` would end the command at a shell.
    shell(&readme_curl.replace(url, &format!("'{url}/;UID={uid}'")))
}

fn port_of(command: &str) -> u16 {
    let after = command.split("127.0.0.1:").nth(1).expect("an example names 127.0.0.1:PORT");
    after.chars().take_while(char::is_ascii_digit).collect::<String>().parse().unwrap()
}

#[test]
fn readme_commands_work_in_a_fresh_clone() {
    let readme = readme();
    let (smtp_port, imap_port) = (port_of(&readme.swaks), port_of(&readme.curl));
    for port in [smtp_port, imap_port] {
        // Our listeners use SO_REUSEPORT, so a server left running elsewhere would share the
        // port silently; a plain bind fails instead.
        if let Err(error) = TcpListener::bind(("127.0.0.1", port)) {
            panic!("port {port} is busy ({error}): stop the server using it (another localserve?)");
        }
    }
    let tmp = tempfile::tempdir().unwrap();
    let checkout = fresh_checkout(tmp.path());
    let log = tmp.path().join("localserve.log");

    let server = Running::start(&checkout, &readme.run, &log, FIRST_START_TIMEOUT);
    let printed: Vec<u16> = server.listeners.iter().map(|(_, a)| a.port()).collect();
    assert!(printed.contains(&smtp_port) && printed.contains(&imap_port), "{:?}", server.listeners);
    assert!(checkout.join("moxide-localserve/data").is_dir(), "data is not in ./moxide-localserve");

    let sent = shell(&readme.swaks);
    assert!(sent.contains("250"), "{sent}");
    let listing = shell(&readme.curl);
    assert!(listing.contains("INBOX"), "{listing}");
    let message = curl_fetch(&readme.curl, 1);
    assert!(message.contains("This is a test mailing"), "swaks' message not served:\n{message}");
    server.terminate();

    let server = Running::start(&checkout, &readme.run, &log, RESTART_TIMEOUT);
    let message = curl_fetch(&readme.curl, 1);
    assert!(message.contains("This is a test mailing"), "message lost across restart:\n{message}");
    shell(&readme.swaks);
    let second = curl_fetch(&readme.curl, 2);
    assert!(second.contains("This is a test mailing"), "{second}");
    server.terminate();
}
