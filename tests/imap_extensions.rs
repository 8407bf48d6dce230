//! REPLACE (RFC 8508) and UIDONLY (RFC 9586) through the real `moxide localserve`
//! binary with Python's imaplib (`tests/clients/extensions.py`): a draft replaced by
//! sequence number and by UID (the APPENDUID in an untagged OK, the old message
//! expunged), and a UID REPLACE of a message that is not there, which leaves the
//! mailbox as it was; then, with UIDONLY enabled, FETCH refused with UIDREQUIRED, UID
//! FETCH answered with UIDFETCH and an expunge reported as VANISHED.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Server;

/// What the script prints, worked out by hand: drafts 1..3 at UIDs 1..3; REPLACE 2 adds
/// UID 4 and expunges sequence number 2; UID REPLACE 4 adds UID 5 and expunges UID 4,
/// then at sequence number 3.
const EXPECTED: &str = "\
CAPABILITY => REPLACE UIDONLY
REPLACE 2 => OK [APPENDUID V 4] replacement message added EXPUNGE 2
UID REPLACE 4 => OK [APPENDUID V 5] replacement message added EXPUNGE 3
UID REPLACE 99 => NO
UID SEARCH ALL => OK 1 3 5
UID FETCH 5 => OK Subject: draft 5
ENABLE UIDONLY => OK UIDONLY
FETCH 1 => BAD UIDREQUIRED
UID FETCH 1:* => OK 1 (FLAGS ()) | 3 (FLAGS ()) | 5 (FLAGS ())
EXPUNGE => OK VANISHED 3 EXPUNGE 0
";

#[test]
fn replace_and_uidonly_with_imaplib() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 2);
    assert_eq!(common::run_imap_client_script(&server, "extensions.py"), EXPECTED);
}
