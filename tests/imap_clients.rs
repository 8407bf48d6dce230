//! Real IMAP clients against the real `moxide localserve` binary: Python's imaplib (login,
//! mailbox management with non-ASCII names, APPEND/FETCH byte-identical, BODYSTRUCTURE,
//! sections and partials, STORE, SEARCH, COPY/MOVE, EXPUNGE, IDLE woken by SMTP, two
//! sessions seeing each other's changes, several connections expunging, fetching,
//! storing and appending on one mailbox at once), curl, and mbsync syncing to a Maildir.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{Client, Server, message_for};

fn python(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/imap_clients.py");
    let output = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 is installed (scripts/test installs it)");
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "imap_clients.py {args:?} failed:\n{text}");
    text
}

fn imap_port(server: &Server) -> String {
    server.imap.expect("imap listener printed").port().to_string()
}

/// Delivers `count` messages over one pipelined-enough SMTP connection.
fn deliver(server: &Server, prefix: &str, count: usize) {
    let mut client = Client::connect(server.smtp).unwrap();
    client.hello().unwrap();
    for i in 0..count {
        let reply = client
            .deliver("sender@example.org", &["mox@localhost"], &message_for(&format!("{prefix}-{i}"), 600))
            .unwrap();
        assert_eq!(reply.code, 250, "{reply:?}");
    }
}

#[test]
fn imaplib_flows() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 2);
    let port = imap_port(&server);
    let smtp = server.smtp.port().to_string();
    python(&["basic", &port, &smtp]);
    let idle = python(&["idle", &port, &smtp]);
    eprintln!("{}", idle.trim());
    python(&["twosessions", &port]);
    python(&["qresync", &port]);
    python(&["rev2", &port]);
}

/// Several imaplib connections on one mailbox at once: each fetches messages others may
/// be expunging (the data must still come, RFC 9051 §7.5.1), stores random keywords (each
/// announced with FLAGS before a FETCH shows it), expunges and appends. No command may
/// fail, and the server may log no error (a message file missing under a FETCH was one).
#[test]
fn concurrent_expunge_fetch_store_and_append() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 2);
    let output = python(&["stress", &imap_port(&server), "6", "8", "strict"]);
    eprintln!("{}", output.trim());
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    let errors: Vec<&str> = log.lines().filter(|line| line.contains("ERROR")).collect();
    assert!(errors.is_empty(), "the server logged errors:\n{}", errors.join("\n"));
}

#[test]
fn uidvalidity_is_stable_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), 1);
    let before = python(&["status", &imap_port(&server)]);
    server.kill();
    let server = Server::start(dir.path(), 2);
    let after = python(&["status", &imap_port(&server)]);
    assert_eq!(before, after);
    assert!(before.starts_with("UIDVALIDITY "), "{before}");
}

#[test]
fn curl_lists_and_fetches() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 2);
    deliver(&server, "curl", 1);
    let base = format!("imap://127.0.0.1:{}", imap_port(&server));
    let curl = |url: &str| {
        let output = Command::new("curl")
            .args(["-sS", "--max-time", "30", "--user", "mox@localhost:moxmoxmox", url])
            .output()
            .expect("curl is installed");
        assert!(output.status.success(), "curl {url}: {}", String::from_utf8_lossy(&output.stderr));
        output.stdout
    };
    let listing = String::from_utf8(curl(&format!("{base}/"))).unwrap();
    for name in ["INBOX", "Sent", "Drafts", "Archive", "Trash", "Junk"] {
        assert!(listing.contains(name), "{listing}");
    }
    let message = curl(&format!("{base}/INBOX;UID=1"));
    let sent = message_for("curl-0", 600);
    assert!(message.ends_with(&sent), "fetched message differs:\n{}", String::from_utf8_lossy(&message));
    assert!(message.starts_with(b"Received: "), "the served message includes the Received prefix");
}

#[test]
fn mbsync_syncs_a_mailbox_and_the_second_sync_is_a_no_op() {
    const MESSAGES: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 2);
    deliver(&server, "mbsync", MESSAGES);
    let maildir = dir.path().join("maildir");
    std::fs::create_dir_all(&maildir).unwrap();
    let config = dir.path().join("mbsyncrc");
    std::fs::write(
        &config,
        format!(
            "IMAPAccount moxide\nHost 127.0.0.1\nPort {}\nUser mox@localhost\nPass moxmoxmox\nSSLType None\nAuthMechs LOGIN\n\n\
             IMAPStore remote\nAccount moxide\n\n\
             MaildirStore local\nPath {}/\nInbox {}/INBOX\n\n\
             Channel inbox\nFar :remote:INBOX\nNear :local:INBOX\nCreate Near\nSync Pull\nSyncState *\n",
            imap_port(&server),
            maildir.display(),
            maildir.display()
        ),
    )
    .unwrap();
    let run = || {
        let output = Command::new("mbsync")
            .arg("-c")
            .arg(&config)
            .arg("-V")
            .arg("inbox")
            .output()
            .expect("mbsync (isync) is installed");
        let text =
            format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "mbsync failed:\n{text}");
        text
    };
    let files = |maildir: &Path| -> Vec<String> {
        let mut names: Vec<String> = ["cur", "new"]
            .iter()
            .flat_map(|sub| std::fs::read_dir(maildir.join("INBOX").join(sub)).unwrap())
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    run();
    let first = files(&maildir);
    assert_eq!(first.len(), MESSAGES);
    // Every message arrived whole: the served bytes end with what was sent.
    for entry in
        ["cur", "new"].iter().flat_map(|sub| std::fs::read_dir(maildir.join("INBOX").join(sub)).unwrap())
    {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let id = common::message_id_of(&bytes).unwrap();
        // mbsync stores Maildir files with LF line ends and inserts its own X-TUID header
        // line while it syncs; everything else is what was sent.
        let text = String::from_utf8(bytes).unwrap();
        let without_tuid: String =
            text.split_inclusive('\n').filter(|l| !l.starts_with("X-TUID: ")).collect();
        let sent = String::from_utf8(message_for(&id, 600)).unwrap().replace("\r\n", "\n");
        assert!(without_tuid.ends_with(&sent), "{id} differs:\n{text}");
    }
    let second = run();
    assert_eq!(files(&maildir), first, "a second sync must not change the Maildir");
    assert!(!second.contains("new message"), "second sync fetched messages again:\n{second}");
}
