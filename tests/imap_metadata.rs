//! METADATA (RFC 5464) and LIST-METADATA (RFC 9590) through the real `moxide
//! localserve` binary with Python's imaplib (`tests/clients/metadata.py`): a UTF-8 value
//! with a line break sent as a literal and a binary value as a literal8, MAXSIZE's
//! LONGENTRIES, the server's `/shared/admin` (read only), an entry name refused with
//! BAD, the value limit (`NO [METADATA MAXSIZE 32768]`) and the entry limit (`NO
//! [METADATA TOOMANY]`), entries following RENAME and gone with DELETE, LIST RETURN
//! (METADATA); then a restart, after which the entries read back and `verifydata` is
//! clean.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::Server;

/// What the write phase prints, worked out by hand.
const WRITTEN: &str = "\
CAPABILITY => METADATA LIST-METADATA
SETMETADATA INBOX => OK
GETMETADATA INBOX => OK True True
GETMETADATA MAXSIZE 10 => OK [METADATA LONGENTRIES 35] INBOX (/private/comment \"inbox\")
GETMETADATA server => OK \"\" (/shared/admin \"mailto:postmaster@localhost\")
SETMETADATA /shared/admin => ('NO', '[NOPERM] /shared/admin is set by the administrator')
SETMETADATA server => OK
GETMETADATA // => BAD
SETMETADATA 40000 octets => NO [METADATA MAXSIZE 32768]
SETMETADATA 100 entries => OK
SETMETADATA 101st entry => NO [METADATA TOOMANY]
GETMETADATA after RENAME => OK Renamed (/private/comment \"annotated\")
LIST RETURN METADATA => OK INBOX (/private/comment \"inbox\")Renamed (/private/comment \"annotated\")Sent (/private/comment NIL)
GETMETADATA after DELETE and CREATE => OK 0
";

const READ: &str = "\
GETMETADATA INBOX after restart => OK True True True
GETMETADATA server after restart => OK \"\" (/shared/comment \"server note\")
";

/// Runs the script's `phase` against the server as the test account.
fn run(server: &Server, phase: &str) -> String {
    let port = server.imap.expect("imap listener printed").port().to_string();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/metadata.py");
    let output = std::process::Command::new("python3")
        .arg(path)
        .args(["127.0.0.1", &port, "mox@localhost", "moxmoxmox", phase])
        .output()
        .expect("python3 is installed (scripts/test installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{phase} failed:\n{stdout}{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

#[test]
fn metadata_with_imaplib_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), 2);
    assert_eq!(run(&server, "write"), WRITTEN);
    server.kill();
    let (clean, report) = common::verifydata(dir.path());
    assert!(clean, "{report}");
    let server = Server::start(dir.path(), 2);
    assert_eq!(run(&server, "read"), READ);
}
