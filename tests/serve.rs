//! `moxide serve --config` with hand-written configuration files: config check, the idle
//! timeout (RFC 5321 §4.5.3.2) and the connection limit as a client sees them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{Client, Server, message_for, stored_messages};

const DOMAINS: &str = r#"
postmaster_account = "alice"
[domains."example.org"]
localpart_separators = ["+"]
[accounts.alice]
addresses = ["alice@example.org"]
[accounts.bob]
addresses = ["bob@example.org", "@example.org"]
"#;

fn write_config(dir: &std::path::Path, extra: &str) -> std::path::PathBuf {
    std::fs::write(dir.join("domains.toml"), DOMAINS).unwrap();
    let path = dir.join("moxide.toml");
    let text = format!(
        "hostname = \"mx.example.org\"\ndata_dir = \"data\"\ndomains_file = \"domains.toml\"\ncores = 2\npin_cores = false\n\
         {extra}\n[[listeners]]\nprotocol = \"smtp\"\naddress = \"127.0.0.1:0\"\n\
         [[listeners]]\nprotocol = \"imap\"\naddress = \"127.0.0.1:0\"\n"
    );
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn config_check_reports_ok_and_mistakes() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "");
    let output = Command::new(env!("CARGO_BIN_EXE_moxide"))
        .args(["config", "check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("ok (2 listeners, 1 domains, 2 accounts)"));

    std::fs::write(
        dir.path().join("domains.toml"),
        DOMAINS.replace(
            "@example.org\"]\n[accounts.bob]",
            "@example.org\", \"x@nowhere.example\"]\n[accounts.bob]",
        ),
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_moxide"))
        .args(["config", "check", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    let error = String::from_utf8_lossy(&output.stderr);
    assert!(error.contains("nowhere.example") && error.contains("not configured"), "{error}");
}

#[test]
fn serve_delivers_times_out_idle_clients_and_limits_connections() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "[limits]\ncommand_timeout_secs = 1\nconnections_max = 2\n");
    let config = path.display().to_string();
    let mut server = Server::start_args(dir.path(), &["serve", "--config", &config], &[]);

    let mut first = Client::connect(server.smtp).unwrap();
    let reply = first.hello().unwrap();
    assert_eq!(reply.lines[0], "mx.example.org");
    let reply = first
        .deliver("x@example.net", &["ALICE@example.org", "anyone@example.org"], &message_for("serve-1", 800))
        .unwrap();
    assert_eq!(reply.code, 250, "{reply:?}");

    // Two connections are open (first, second): a third is refused with 421.
    let mut second = Client::connect(server.smtp).unwrap();
    assert_eq!(second.reply().unwrap().code, 220);
    let mut third = Client::connect(server.smtp).unwrap();
    let refused = third.reply().unwrap();
    assert_eq!(refused.code, 421, "{refused:?}");
    assert!(refused.text().contains("4.7.0"), "{refused:?}");

    // Idle past the 1 s command timeout: 421 4.4.2 and the connection closes.
    let idle_since = Instant::now();
    let timed_out = second.reply().unwrap();
    assert_eq!(timed_out.code, 421, "{timed_out:?}");
    assert!(timed_out.text().contains("4.4.2"), "{timed_out:?}");
    assert!(idle_since.elapsed() < Duration::from_secs(10));
    assert!(second.reply().is_err(), "closed after the 421");
    let _ = first.reply(); // the first one times out too
    server.kill();

    let alice = stored_messages(dir.path(), "alice");
    let bob = stored_messages(dir.path(), "bob");
    assert_eq!(alice.len(), 1);
    assert_eq!(bob.len(), 1, "catch-all recipient, other account");
    assert!(alice[0].file == message_for("serve-1", 800));
    assert!(bob[0].file == alice[0].file);
    // One recipient per account: each Received header names its own.
    let alice_prefix = String::from_utf8_lossy(&alice[0].info.prefix).to_string();
    let bob_prefix = String::from_utf8_lossy(&bob[0].info.prefix).to_string();
    assert!(alice_prefix.contains("for <ALICE@example.org>"), "{alice_prefix}");
    assert!(bob_prefix.contains("for <anyone@example.org>"), "{bob_prefix}");
}

/// `setaccountpassword` reads the password from standard input and stores derived secrets;
/// the account can then log in over IMAP with it (and not with anything else).
#[test]
fn setaccountpassword_then_login() {
    use std::io::{BufRead, BufReader, Write};
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "");
    let mut child = Command::new(env!("CARGO_BIN_EXE_moxide"))
        .args(["setaccountpassword", "--config"])
        .arg(&path)
        .arg("alice")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"correct horse battery\n").unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));

    let config = path.display().to_string();
    let server = Server::start_args(dir.path(), &["serve", "--config", &config], &[]);
    let login = |password: &str| {
        let stream = std::net::TcpStream::connect(server.listener("imap")).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        (&stream).write_all(format!("a LOGIN alice@example.org \"{password}\"\r\n").as_bytes()).unwrap();
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            if line.starts_with("a ") {
                return line;
            }
        }
    };
    assert!(login("correct horse battery").starts_with("a OK"));
    assert!(login("wrong").starts_with("a NO"));
}
