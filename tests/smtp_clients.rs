//! Real SMTP clients against the real `moxide localserve` binary: Python's smtplib, swaks
//! (plain and pipelined) and a raw pipelined BDAT client. Every accepted message is read
//! back from the data directory after the server stopped and compared byte for byte with
//! what was sent (after the `Received:` prefix the server records separately).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{Server, message_for, stored_messages};

fn python(args: &[&str]) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/smtp_clients.py");
    let output = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 is installed (scripts/test installs it)");
    assert!(
        output.status.success(),
        "smtp_clients.py {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn swaks(port: u16, extra: &[&str], body_file: &Path) -> String {
    let output = Command::new("swaks")
        .args(["--server", "127.0.0.1", "--port", &port.to_string(), "--to", "mox@localhost"])
        .args(["--from", "swaks@example.org", "--helo", "swaks.example", "--data"])
        .arg(format!("@{}", body_file.display()))
        .args(extra)
        .output()
        .expect("swaks is installed (scripts/test installs it)");
    let transcript =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "swaks {extra:?} failed:\n{transcript}");
    transcript
}

#[test]
fn real_clients_deliver_byte_identical_messages() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), 2);
    let port = server.smtp.port();

    // Three messages for smtplib: small, with 8-bit content, and larger than one spool write.
    let mut eight_bit = message_for("py-8bit", 2_000);
    eight_bit.extend_from_slice("Grüße aus Köln, ünïcödé body line\r\n".as_bytes());
    let sent = [message_for("py-small", 300), eight_bit, message_for("py-large", 300_000)];
    let mut files = Vec::new();
    for (i, message) in sent.iter().enumerate() {
        let path = dir.path().join(format!("py-{i}.eml"));
        std::fs::write(&path, message).unwrap();
        files.push(path);
    }
    let mut args = vec!["smtplib".to_string(), port.to_string()];
    args.extend(files.iter().map(|f| f.display().to_string()));
    python(&args.iter().map(String::as_str).collect::<Vec<_>>());

    let multi = message_for("py-multi", 1_000);
    let multi_path = dir.path().join("multi.eml");
    std::fs::write(&multi_path, &multi).unwrap();
    python(&["multi", &port.to_string(), &multi_path.display().to_string()]);
    python(&["refusals", &port.to_string()]);

    let bdat = message_for("bdat", 50_000);
    let bdat_path = dir.path().join("bdat.eml");
    std::fs::write(&bdat_path, &bdat).unwrap();
    python(&["bdat", &port.to_string(), &bdat_path.display().to_string()]);

    // swaks sends the file as DATA; it converts its line endings to CRLF itself.
    let swaks_plain = message_for("swaks-plain", 5_000);
    let swaks_piped = message_for("swaks-pipelined", 5_000);
    let plain_path = dir.path().join("swaks-plain.eml");
    let piped_path = dir.path().join("swaks-piped.eml");
    std::fs::write(&plain_path, &swaks_plain).unwrap();
    std::fs::write(&piped_path, &swaks_piped).unwrap();
    swaks(port, &[], &plain_path);
    let transcript = swaks(port, &["--pipeline"], &piped_path);
    assert!(transcript.contains("PIPELINING"), "{transcript}");

    server.kill();
    // swaks always ends the data with an empty line before the "." (its transcript shows
    // "\r\n\r\n.\r\n"), so what it sent is the file plus one CRLF.
    let swaks_plain = [swaks_plain, b"\r\n".to_vec()].concat();
    let swaks_piped = [swaks_piped, b"\r\n".to_vec()].concat();
    let stored = stored_messages(dir.path(), "mox");
    let expected: Vec<(&str, &[u8])> = vec![
        ("py-small", &sent[0]),
        ("py-8bit", &sent[1]),
        ("py-large", &sent[2]),
        ("py-multi", &multi),
        ("bdat", &bdat),
        ("swaks-plain", &swaks_plain),
        ("swaks-pipelined", &swaks_piped),
    ];
    assert_eq!(stored.len(), expected.len(), "one copy each; the multi-recipient message once per account");
    for (message, (id, bytes)) in stored.iter().zip(&expected) {
        assert_eq!(common::message_id_of(&message.file).as_deref(), Some(*id));
        assert!(message.file == *bytes, "{id}: stored bytes differ from sent bytes");
        let prefix = String::from_utf8(message.info.prefix.clone()).unwrap();
        // RFC 7208 §9.1: our authentication results above our Received (localserve has no
        // resolver, so `none`).
        let received = prefix.strip_prefix("Authentication-Results: localhost; none\r\n");
        assert!(received.is_some_and(|r| r.starts_with("Received: from ")), "{id}: {prefix}");
        assert!(prefix.ends_with("\r\n"), "{id}: {prefix:?}");
        assert!(prefix.contains("by localhost"), "{id}: {prefix}");
    }
    // UIDs are assigned in delivery order, contiguous from 1.
    let uids: Vec<u32> = stored.iter().map(|m| m.info.uid.0).collect();
    assert_eq!(uids, (1..=expected.len() as u32).collect::<Vec<_>>());
    let (ok, report) = common::verifydata(dir.path());
    assert!(ok, "{report}");
}

#[test]
fn localserve_prints_what_it_listens_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 1);
    let out = server.stdout().join("\n");
    assert!(out.contains("moxide: listening smtp 127.0.0.1:"), "{out}");
    assert!(out.contains("mox@localhost") && out.contains("moxmoxmox"), "{out}");
    assert!(dir.path().join("config/domains.toml").exists());
}
