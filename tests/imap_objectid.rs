//! OBJECTID (RFC 8474) and PREVIEW (RFC 8970) through the real `moxide localserve`
//! binary: messages delivered with Python's smtplib, read with imaplib
//! (`tests/clients/objectid_preview.py`). PREVIEW of plain, quoted-printable, base64,
//! HTML, multipart/alternative, windows-1252 and empty bodies; THREADID equal for a
//! reply and its parent, and SEARCH THREADID; MAILBOXID from SELECT, STATUS and CREATE,
//! kept by RENAME, new after DELETE and CREATE; EMAILID new for a COPY, kept by MOVE,
//! and SEARCH EMAILID. And a message whose summary was stored in format 2 (written into
//! the store directly, as an older build did): PREVIEW made from its file, PREVIEW (LAZY)
//! NIL for it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::Server;
use moxide_storage::{AccountStore, DataDir, Flags, MailboxTarget, NewMessage, StoreOptions};

/// What the script prints, worked out by hand from its messages (1..10 in INBOX).
const EXPECTED: &str = "\
CAPABILITY => OBJECTID PREVIEW
PREVIEW plain => \"Hello from plain text. Bye.\"
PREVIEW qp => \"Grüße aus Köln, ein sehr langer Satz.\"
PREVIEW base64 => \"Hello, wörld! A base64 body.\"
PREVIEW html => \"Hello HTML world\"
PREVIEW alternative => \"the plain version\"
PREVIEW windows-1252 => \"café crème € 5\"
PREVIEW empty => \"\"
PREVIEW parent => \"The question.\"
PREVIEW reply => \"The answer.\"
PREVIEW other => \"Unrelated.\"
PREVIEW (LAZY) plain => \"Hello from plain text. Bye.\"
after PREVIEW, \\Seen on 1 => False
THREADID reply == parent => True
THREADID other == parent => False
SEARCH THREADID parent => OK 8 9
SELECT INBOX MAILBOXID == STATUS => True
CREATE == STATUS => True ; != INBOX => True
RENAME => OK ; MAILBOXID kept => True
DELETE, CREATE again => OK ; new MAILBOXID => True
SELECT Renamed MAILBOXID == CREATE => True
SEARCH EMAILID => OK 1
COPY keeps EMAILID => False
MOVE => OK
MOVE keeps EMAILID => True
SEARCH EMAILID in Moved => OK 1
SEARCH copy's EMAILID in Moved => OK ''
";

/// Runs the script against `server` with `last` as its fifth argument; its output.
fn run_script(server: &Server, last: &str) -> String {
    let imap_port = server.imap.expect("imap listener printed").port().to_string();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/objectid_preview.py");
    let output = std::process::Command::new("python3")
        .arg(script)
        .args(["127.0.0.1", &imap_port, "mox@localhost", "moxmoxmox", last])
        .output()
        .expect("python3 is installed (scripts/test installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "script failed:\n{stdout}{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

#[test]
fn objectid_and_preview_with_smtplib_and_imaplib() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 2);
    let smtp_port = server.smtp.port().to_string();
    assert_eq!(run_script(&server, &smtp_port), EXPECTED);
}

/// A message stored with a summary in format 2 (before previews were kept), as an
/// older build wrote it: PREVIEW makes the text from the file, PREVIEW (LAZY) says NIL.
#[test]
fn preview_of_a_message_stored_before_previews() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), 1);
    server.kill();
    let data = DataDir::open(dir.path().join("data")).unwrap();
    let store = AccountStore::open(&data, "mox", &StoreOptions::default()).unwrap();
    let body = b"Subject: old\r\nMessage-ID: <old@example.org>\r\n\
        Content-Transfer-Encoding: quoted-printable\r\n\r\nStored =\r\nlong ago.\r\n";
    let spool = data.spool_dir().join("old-message");
    std::fs::write(&spool, body).unwrap();
    let mut summary = moxide_protocols::mime::summarize(body);
    summary.preview = None;
    let mut encoded = summary.encode();
    // Format 3 without a Date or References: version, 0 (no date), 0 (no References),
    // 0 (no preview). Format 2 is the same without the preview's byte.
    assert_eq!(encoded[..4], [3, 0, 0, 0]);
    encoded.remove(3);
    encoded[0] = 2;
    let message = NewMessage {
        spool_path: spool.clone(),
        size: body.len() as u64,
        prefix: Vec::new(),
        mailbox: MailboxTarget::Inbox,
        received_ms: 1_700_000_000_000,
        flags: Flags::empty(),
        keywords: Vec::new(),
        summary: Some(encoded),
        saved_ms: None,
    };
    for result in store.deliver(&[message]).unwrap() {
        result.unwrap();
    }
    drop(store);
    std::fs::remove_file(spool).unwrap();
    let server = Server::start(dir.path(), 2);
    let expected = "\
PREVIEW (LAZY) old => null
PREVIEW old => \"Stored long ago.\"
PREVIEW (LAZY) old, again => null
SEARCH THREADID old => OK 1
";
    assert_eq!(run_script(&server, "old"), expected);
}
