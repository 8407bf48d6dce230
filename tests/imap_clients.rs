//! Real IMAP clients against the real `moxide localserve` binary: Python's imaplib (login,
//! mailbox management with non-ASCII names, APPEND/FETCH byte-identical, BODYSTRUCTURE,
//! sections and partials, STORE, SEARCH, COPY/MOVE, EXPUNGE, IDLE woken by SMTP, two
//! sessions seeing each other's changes, several connections expunging, fetching,
//! storing and appending on one mailbox at once), curl, mbsync syncing to a Maildir, and
//! raw sockets for what clients misbehaving do (a byte a second before login, a
//! disconnect in the middle of a FETCH).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

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

/// SEARCH BODY and TEXT with imaplib over messages delivered by SMTP (so each has its
/// text signature): every charset and encoding path, present and absent needles, in a
/// COPY and after an EXPUNGE, each against the expected messages.
#[test]
fn imaplib_text_search() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 2);
    python(&["textsearch", &imap_port(&server), &server.smtp.port().to_string()]);
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
    python(&["changedsince", &port]);
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
    let errors = logged_errors(dir.path());
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
    let prefix = b"Authentication-Results: localhost; none\r\nReceived: ";
    assert!(message.starts_with(prefix), "the served message includes the delivery prefix");
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

/// The server log's ERROR lines.
fn logged_errors(dir: &Path) -> Vec<String> {
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    log.lines().filter(|line| line.contains("ERROR")).map(str::to_owned).collect()
}

/// Before login a command must arrive whole within 30 s plus its size at 1 KiB/s: a
/// client that sends a byte a second (which restarts the idle timeout every time) is
/// told BYE and closed soon after the 30 s.
#[test]
fn a_client_sending_a_byte_a_second_before_login_is_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 1);
    let mut stream = TcpStream::connect(server.imap.unwrap()).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut greeting = [0u8; 512];
    let n = stream.read(&mut greeting).unwrap();
    assert!(greeting[..n].starts_with(b"* OK"), "{}", String::from_utf8_lossy(&greeting[..n]));
    let started = Instant::now();
    let mut received = Vec::new();
    for byte in b"a1 LOGIN mox@localhost moxmoxmox".iter().cycle() {
        if stream.write_all(&[*byte]).is_err() {
            break;
        }
        let mut buffer = [0u8; 512];
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(_) => {} // the read timeout: a second went by
        }
        assert!(started.elapsed() < Duration::from_secs(90), "still connected after 90 s");
    }
    let text = String::from_utf8_lossy(&received);
    assert!(text.contains("* BYE"), "{text}");
    assert!(started.elapsed() >= Duration::from_secs(25), "cut off after {:?}", started.elapsed());
}

/// A client that closes its connection while a large FETCH is being written ends its
/// session quietly: nothing is logged at ERROR.
#[test]
fn a_client_leaving_in_the_middle_of_a_fetch_is_not_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 1);
    let mut client = Client::connect(server.smtp).unwrap();
    client.hello().unwrap();
    for i in 0..8 {
        let message = message_for(&format!("big-{i}"), 2 * 1024 * 1024);
        let reply = client.deliver("sender@example.org", &["mox@localhost"], &message).unwrap();
        assert_eq!(reply.code, 250, "{reply:?}");
    }
    for _ in 0..3 {
        let mut stream = TcpStream::connect(server.imap.unwrap()).unwrap();
        stream
            .write_all(
                b"a1 LOGIN mox@localhost moxmoxmox\r\na2 SELECT INBOX\r\na3 FETCH 1:* (BODY.PEEK[])\r\n",
            )
            .unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // Read a little of the answer, then go away without reading the rest.
        let mut buffer = vec![0u8; 64 * 1024];
        let mut got = 0;
        while got < 300_000 {
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => got += n,
            }
        }
        drop(stream);
    }
    // The session notices the reset on its next write; give it a moment.
    std::thread::sleep(Duration::from_secs(2));
    let errors = logged_errors(dir.path());
    assert!(errors.is_empty(), "the server logged errors:\n{}", errors.join("\n"));
}
