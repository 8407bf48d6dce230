//! The outbound queue end to end with real binaries on loopback: a message submitted to
//! one `moxide serve` (Python's smtplib, AUTH PLAIN) reaches a second `moxide serve` as
//! the recipient domain's server, over STARTTLS, through a configured route; and a
//! queued message survives `kill -9` of the sender and is delivered exactly once after
//! the restart (`moxide queue retry` makes it due at once).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Server, set_password, stored_messages, write_serve_config};

const SENDER_DOMAINS: &str = r#"
postmaster_account = "alice"
[domains."example.org"]
[accounts.alice]
addresses = ["alice@example.org"]
"#;

const RECEIVER_DOMAINS: &str = r#"
postmaster_account = "bob"
[domains."remote.example"]
[accounts.bob]
addresses = ["bob@remote.example"]
"#;

const PASSWORD: &str = "correct horse battery";

/// A receiving server with a self-signed certificate (STARTTLS offered).
fn receiver(dir: &Path) -> Server {
    let config = write_serve_config(dir, "", &[("smtp", "")], RECEIVER_DOMAINS);
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
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("[[tls.certificates]]\nchain = \"cert.pem\"\nkey = \"key.pem\"\n");
    std::fs::write(&config, text).unwrap();
    let arg = config.display().to_string();
    Server::start_args(dir, &["serve", "--config", &arg], &[])
}

/// Writes the sender's configuration, routing remote.example to `route`.
fn sender_config(dir: &Path, route: SocketAddr) -> PathBuf {
    let config = write_serve_config(dir, "", &[("submission", ""), ("smtp", "")], SENDER_DOMAINS);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "[queue]\n[[queue.routes]]\ndomain = \"remote.example\"\nhost = \"mx.remote.example\"\naddress = \"{route}\"\n"
    ));
    std::fs::write(&config, text).unwrap();
    config
}

fn start_sender(dir: &Path, config: &Path) -> Server {
    let arg = config.display().to_string();
    Server::start_args(dir, &["serve", "--config", &arg], &[])
}

/// Submits one message with smtplib; returns its Message-ID.
fn submit(server: &Server, id: &str) {
    let port = server.listener("submission").port();
    let script = format!(
        r#"
import smtplib
s = smtplib.SMTP("127.0.0.1", {port}, timeout=30)
s.ehlo("client.example")
s.login("alice@example.org", "{PASSWORD}")
msg = "From: alice@example.org\r\nTo: bob@remote.example\r\nSubject: outbound\r\nMessage-ID: <{id}>\r\n\r\n.a line with a dot\r\nhello over the queue\r\n"
refused = s.sendmail("alice@example.org", ["bob@remote.example"], msg)
assert not refused, refused
s.quit()
"#
    );
    let output = Command::new("python3").arg("-c").arg(script).output().unwrap();
    assert!(
        output.status.success(),
        "smtplib: {}{}\nlog:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        server.log()
    );
}

fn wait_for_log(server: &Server, needle: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !server.log().contains(needle) {
        assert!(Instant::now() < deadline, "no {needle:?} in the log:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn queue_command(config: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_moxide"))
        .args(["queue", "--config"])
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// The result is stored just after the "delivered" log line: wait for it.
fn wait_for_empty_queue(config: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = queue_command(config, &["list"]);
        if listed.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "still queued: {listed}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn submitted_mail_reaches_the_recipient_server_over_starttls() {
    let receiving = tempfile::tempdir().unwrap();
    let sending = tempfile::tempdir().unwrap();
    let mut receiver = receiver(receiving.path());
    let config = sender_config(sending.path(), receiver.smtp);
    set_password(&config, "alice", PASSWORD);
    let mut sender = start_sender(sending.path(), &config);
    submit(&sender, "first@client.example");
    wait_for_log(&sender, "moxide_actors::queue: delivered", Duration::from_secs(30));
    assert!(sender.log().contains("TLS established"), "{}", sender.log());
    wait_for_empty_queue(&config);
    assert!(sender.terminate(Duration::from_secs(30)).0.is_some_and(|s| s.success()));
    assert!(receiver.terminate(Duration::from_secs(30)).0.is_some_and(|s| s.success()));
    let stored = stored_messages(receiving.path(), "bob");
    assert_eq!(stored.len(), 1);
    let file = String::from_utf8_lossy(&stored[0].file).to_string();
    assert!(file.contains("Message-ID: <first@client.example>"), "{file}");
    assert!(file.contains("\r\n.a line with a dot\r\n"), "dot-stuffing undone: {file}");
    assert!(file.starts_with("Received: from client.example"), "the sender's trace header: {file}");
    let prefix = String::from_utf8_lossy(&stored[0].info.prefix).to_string();
    assert!(prefix.contains("with ESMTPS"), "received over TLS: {prefix}");
}

#[test]
fn a_queued_message_survives_kill_9_and_is_delivered_once() {
    let receiving = tempfile::tempdir().unwrap();
    let sending = tempfile::tempdir().unwrap();
    // First the route leads nowhere: the message stays queued.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let config = sender_config(sending.path(), closed);
    set_password(&config, "alice", PASSWORD);
    let mut sender = start_sender(sending.path(), &config);
    submit(&sender, "survivor@client.example");
    wait_for_log(&sender, "moxide_actors::queue: will retry", Duration::from_secs(30));
    sender.kill();
    let listed = queue_command(&config, &["list"]);
    assert!(listed.contains("remote.example recipients 1 attempts 1"), "{listed}");

    let mut receiver = receiver(receiving.path());
    let config = sender_config(sending.path(), receiver.smtp);
    let mut sender = start_sender(sending.path(), &config);
    assert!(queue_command(&config, &["retry", "--domain", "remote.example"]).contains("due now 1"));
    wait_for_log(&sender, "moxide_actors::queue: delivered", Duration::from_secs(30));
    wait_for_empty_queue(&config);
    assert!(sender.terminate(Duration::from_secs(30)).0.is_some_and(|s| s.success()));
    assert!(receiver.terminate(Duration::from_secs(30)).0.is_some_and(|s| s.success()));
    let stored = stored_messages(receiving.path(), "bob");
    assert_eq!(stored.len(), 1, "exactly once");
    assert!(String::from_utf8_lossy(&stored[0].file).contains("Message-ID: <survivor@client.example>"));
    let leftovers = std::fs::read_dir(sending.path().join("data/queue/msg/0")).map_or(0, |d| d.count());
    assert_eq!(leftovers, 0, "no queue file left");
}
