//! Interoperability of the outbound queue with Postfix as the receiving MX (issue 14,
//! "Outbound"): a private Postfix (`tests/postfix_mx.py`: its own configuration, queue
//! and data directories, smtpd on a kernel-chosen loopback port, STARTTLS with a
//! self-signed certificate, the `virtual` agent delivering to a maildir in the test's
//! temporary directory) is found by `moxide serve` through the MX record served by
//! `tests/dns_server.py` (`queue.mx_port` points at Postfix's port). A message submitted
//! with Python's smtplib (AUTH PLAIN) must arrive in the maildir over TLS (Postfix's log
//! and its `Received:` header say so) with a DKIM signature that dkimpy verifies against
//! the key `moxide dns records` prints. Needs root (Postfix's master runs as root);
//! `scripts/test` installs the postfix package without a system instance.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{DnsServer, PASSWORD, SENDER_DOMAINS, Server, set_password, write_serve_config};

const HELPER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/postfix_mx.py");

/// A running private Postfix; stopped with `postfix stop` when dropped, also when the
/// test panics, so no instance outlives the test.
struct Postfix {
    dir: PathBuf,
    /// Where `bob@remote.example` is delivered (a maildir's `new`).
    new_mail: PathBuf,
    log: PathBuf,
}

impl Postfix {
    fn start(dir: &Path, port: u16) -> Postfix {
        let status = Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=mx.remote.example",
            ])
            .arg("-keyout")
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem"))
            .output()
            .unwrap();
        assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
        let pf = dir.join("postfix");
        let postfix = Postfix {
            new_mail: pf.join("mail/bob@remote.example/new"),
            log: pf.join("postfix.log"),
            dir: pf.clone(),
        };
        let output = Command::new("python3")
            .arg(HELPER)
            .arg("start")
            .arg(&pf)
            .arg(port.to_string())
            .args(["remote.example", "bob@remote.example"])
            .arg(dir.join("cert.pem"))
            .arg(dir.join("key.pem"))
            .output()
            .expect("python3 runs tests/postfix_mx.py");
        assert!(
            output.status.success(),
            "postfix did not start (scripts/test installs it; needs root): {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        postfix
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The delivered messages' files.
    fn delivered(&self) -> Vec<PathBuf> {
        std::fs::read_dir(&self.new_mail).map_or(Vec::new(), |d| d.map(|e| e.unwrap().path()).collect())
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        // Only when the start got as far as writing a configuration.
        if self.dir.join("conf/main.cf").exists() {
            let _ = Command::new("python3").arg(HELPER).arg("stop").arg(&self.dir).output();
        }
    }
}

fn submit(server: &Server, id: &str) {
    common::submit_with_smtplib(server, "alice@example.org", PASSWORD, "bob@remote.example", id);
}

fn dkimpy_verifies(message: &Path, txt: &str) -> (bool, String) {
    let script = "import sys, dkim\nmsg = open(sys.argv[1], 'rb').read()\ntxt = sys.argv[2].encode()\nok = dkim.verify(msg, dnsfunc=lambda name, timeout=5: txt)\nprint('verified' if ok else 'failed')\nsys.exit(0 if ok else 1)\n";
    let output = Command::new("python3").args(["-c", script]).arg(message).arg(txt).output().unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

#[test]
fn postfix_as_the_mx_receives_over_tls_with_a_valid_dkim_signature() {
    let temp = tempfile::tempdir().unwrap();
    // Postfix's processes run as the `postfix` user and must reach their directories.
    std::fs::set_permissions(temp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let postfix = Postfix::start(temp.path(), port);

    let sending = temp.path().join("moxide");
    std::fs::create_dir(&sending).unwrap();
    let zone = temp.path().join("zone");
    std::fs::write(
        &zone,
        "remote.example. 300 IN MX 10 mx.remote.example.\nmx.remote.example. 300 IN A 127.0.0.1\n",
    )
    .unwrap();
    let dns = DnsServer::start(&zone);
    let config = write_serve_config(&sending, "", &[("submission", ""), ("smtp", "")], SENDER_DOMAINS);
    let mut text = format!("inbound_checks = false\n{}", std::fs::read_to_string(&config).unwrap());
    text.push_str(&format!("[dns]\nresolvers = [\"{}\"]\n[queue]\nmx_port = {port}\n", dns.address));
    std::fs::write(&config, text).unwrap();
    set_password(&config, "alice", PASSWORD);
    let arg = config.display().to_string();
    let mut sender = Server::start_args(&sending, &["serve", "--config", &arg], &[]);
    submit(&sender, "interop@client.example");

    let deadline = Instant::now() + Duration::from_secs(60);
    while postfix.delivered().is_empty() {
        assert!(
            Instant::now() < deadline,
            "nothing delivered by postfix\nmoxide log:\n{}\npostfix log:\n{}",
            sender.log(),
            postfix.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let queries = dns.queries();
    assert!(queries.contains(&"remote.example MX".to_owned()), "{queries:?}");
    assert!(sender.log().contains("TLS established"), "{}", sender.log());
    assert!(sender.terminate(Duration::from_secs(30)).0.is_some_and(|s| s.success()));

    let delivered = postfix.delivered();
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    let message = String::from_utf8_lossy(&std::fs::read(&delivered[0]).unwrap()).to_string();
    assert!(message.contains("Message-ID: <interop@client.example>"), "{message}");
    assert!(message.contains("\n.a line with a dot\n"), "dot-stuffing undone: {message}");
    // Postfix's trace header and its log both show the session was encrypted.
    assert!(message.contains("(using TLSv1."), "{message}");
    assert!(message.contains("by mx.remote.example (Postfix) with ESMTPS"), "{message}");
    let log = postfix.log();
    assert!(log.contains("TLS connection established from localhost[127.0.0.1]"), "{log}");
    assert!(log.contains("status=sent (delivered to maildir)"), "{log}");

    // The signature survives Postfix's handling (its trace headers are prepended, line
    // ends become LF in the maildir file) and verifies against the published key.
    let records = Command::new(env!("CARGO_BIN_EXE_moxide"))
        .args(["dns", "records", "--config"])
        .arg(&config)
        .arg("example.org")
        .output()
        .unwrap();
    let records = String::from_utf8(records.stdout).unwrap();
    let dkim_line = records.lines().find(|l| l.contains("._domainkey.example.org. TXT")).expect(&records);
    let value = dkim_line.split('"').nth(1).unwrap();
    assert!(message.contains("DKIM-Signature: v=1; a=ed25519-sha256;"), "{message}");
    let (ok, output) = dkimpy_verifies(&delivered[0], value);
    assert!(ok, "dkimpy: {output}\n{message}");
}
