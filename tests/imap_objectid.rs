//! OBJECTID (RFC 8474) and PREVIEW (RFC 8970) through the real `moxide localserve`
//! binary: messages delivered with Python's smtplib, read with imaplib
//! (`tests/clients/objectid_preview.py`). PREVIEW of plain, quoted-printable, base64,
//! HTML, multipart/alternative, windows-1252 and empty bodies; THREADID equal for a
//! reply and its parent, and SEARCH THREADID; MAILBOXID from SELECT, STATUS and CREATE,
//! kept by RENAME, new after DELETE and CREATE; EMAILID new for a COPY, kept by MOVE,
//! and SEARCH EMAILID.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::Server;

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

#[test]
fn objectid_and_preview_with_smtplib_and_imaplib() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 2);
    let imap_port = server.imap.expect("imap listener printed").port().to_string();
    let smtp_port = server.smtp.port().to_string();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/objectid_preview.py");
    let output = std::process::Command::new("python3")
        .arg(script)
        .args(["127.0.0.1", &imap_port, "mox@localhost", "moxmoxmox", &smtp_port])
        .output()
        .expect("python3 is installed (scripts/test installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "script failed:\n{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(stdout, EXPECTED);
}
