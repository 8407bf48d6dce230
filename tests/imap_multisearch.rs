//! MULTISEARCH (RFC 7377) through the real `moxide localserve` binary with Python's
//! imaplib (`tests/clients/multisearch.py`): ESEARCH over a subtree, a subtree-one and
//! named mailboxes without a selected mailbox, over 120 mailboxes (one response each,
//! streamed), and over the selected mailbox alone.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Server;

/// What the script prints, worked out by hand: P holds needle 1 and hay (UIDs 1 2), P/a
/// hay and needle 2, P/a/b needles 3 and 4, P/a/b/c needle 5, P/x hay.
const EXPECTED: &str = "\
CAPABILITY => MULTISEARCH
ESEARCH IN (subtree P) SUBJECT needle => OK
  (MAILBOX P) UID ALL 1
  (MAILBOX P/a) UID ALL 2
  (MAILBOX P/a/b) UID ALL 1:2
  (MAILBOX P/a/b/c) UID ALL 1
ESEARCH IN (subtree-one P/a) ALL => OK
  (MAILBOX P/a) UID ALL 1:2
  (MAILBOX P/a/b) UID ALL 1:2
ESEARCH IN (mailboxes (P/x P/a/b)) RETURN (MIN COUNT) ALL => OK
  (MAILBOX P/a/b) UID MIN 1 COUNT 2
  (MAILBOX P/x) UID MIN 1 COUNT 1
ESEARCH IN (subtree Pmany) RETURN (COUNT) ALL => OK 120 mailboxes
ESEARCH ALL (nothing selected) => BAD
ESEARCH RETURN (MAX) ALL (selected) => OK (MAILBOX P/a/b) UID MAX 2
";

#[test]
fn multisearch_with_imaplib() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 2);
    assert_eq!(common::run_imap_client_script(&server, "multisearch.py"), EXPECTED);
}
