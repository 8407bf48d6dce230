//! NOTIFY (RFC 5465) through the real `moxide localserve` binary
//! (`tests/clients/notify.py`): client A sets NOTIFY for INBOXES and PERSONAL on a raw
//! socket and issues no command; an SMTP delivery and client B's STORE, CREATE, RENAME,
//! SUBSCRIBE, APPEND, SETMETADATA and DELETE reach A as STATUS, LIST and METADATA
//! responses read straight from the socket; with INBOX selected and SELECTED's
//! MessageNew FETCH attributes, a delivery brings EXISTS and the FETCH, and B's STORE
//! and EXPUNGE their FETCH and EXPUNGE, all without a command; in IDLE both kinds
//! arrive too, and B's RENAME of INBOX brings the new name and INBOX's expunges; A's
//! own RENAME of INBOX reports them in its response, once, and a selected child of a
//! mailbox A renames is renamed with it (DELETE by the new name closes it). Then the overflow: A stops reading (a 4 KiB
//! receive buffer) while B makes 600 METADATA changes of 25 KiB of entry names each
//! (15 MB of notifications); the server's RSS stays bounded, and once A reads it finds
//! `* OK [NOTIFICATIONOVERFLOW]` and no notification after it.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::Server;

/// Runs the script's `phase` against the server as the test account.
fn run(server: &Server, phase: &str) -> String {
    let imap = server.imap.expect("imap listener printed").port().to_string();
    let smtp = server.smtp.port().to_string();
    let pid = server.pid().to_string();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/notify.py");
    let output = std::process::Command::new("python3")
        .arg(path)
        .args(["127.0.0.1", &imap, &smtp, "mox@localhost", "moxmoxmox", &pid, phase])
        .output()
        .expect("python3 is installed (scripts/test installs it)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{phase} failed:\n{stdout}{stderr}");
    eprintln!("{stderr}");
    stdout
}

const EVENTS: &str = "\
NOTIFY SET STATUS => OK NOTIFY completed ['* STATUS INBOX (MESSAGES 0 UIDNEXT 1 UIDVALIDITY n UNSEEN 0)']
SMTP delivery => * STATUS INBOX (MESSAGES 1 UIDNEXT 2 UIDVALIDITY n UNSEEN 1)
STORE \\Seen => * STATUS INBOX (MESSAGES 1 UIDNEXT 2 UIDVALIDITY n UNSEEN 0)
CREATE => * LIST () \"/\" Work
RENAME => * LIST () \"/\" Play (\"OLDNAME\" (\"Work\"))
SUBSCRIBE => * LIST (\\Subscribed) \"/\" Play
APPEND elsewhere => * STATUS Play (MESSAGES 1 UIDNEXT 2 UIDVALIDITY n UNSEEN 1)
SETMETADATA mailbox => * METADATA Play /private/comment
SETMETADATA server => * METADATA \"\" /shared/comment
DELETE => * LIST (\\NonExistent) \"/\" Play
NOOP => OK done []
NOTIFY NONE => OK NOTIFY completed
NOTIFY SET SELECTED => OK NOTIFY completed
SMTP delivery => * 2 EXISTS
MessageNew FETCH => ['* 2 FETCH (UID 2 BODY[HEADER.FIELDS (SUBJECT)] {19}', 'Subject: second', '', ')']
STORE by B => * 1 FETCH (UID 1 FLAGS (\\Seen \\Deleted))
EXPUNGE by B => * 1 EXPUNGE
IDLE => + idling
CREATE in IDLE => * LIST () \"/\" Idle-box
APPEND in IDLE => * 2 EXISTS
RENAME INBOX in IDLE => * LIST () \"/\" Old-inbox
its expunges => * 2 EXPUNGE * 1 EXPUNGE
DONE => a8 OK IDLE terminated
own RENAME INBOX => OK RENAME completed ['* LIST () \"/\" Again', '* 2 EXPUNGE', '* 1 EXPUNGE']
NOOP => OK done []
DELETE renamed selected child => OK DELETE completed
then FETCH => BAD select a mailbox first
";

#[test]
fn notify_reaches_a_client_that_sends_no_command() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 2);
    assert_eq!(run(&server, "events"), EVENTS);
}

const OVERFLOW: &str = "\
NOTIFY SET => OK NOTIFY completed
server RSS growth under 32 MiB => True
overflow said => True
fewer notifications than events => True
notifications after the overflow => 0
NOOP after => OK done []
";

#[test]
fn a_client_that_stops_reading_gets_an_overflow_not_a_growing_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 2);
    assert_eq!(run(&server, "overflow"), OVERFLOW);
}
