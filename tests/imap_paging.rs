//! PARTIAL (RFC 9394), CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4) through the real `moxide
//! localserve` binary with Python's imaplib (`tests/clients/paging.py`, `sort_context.py`): paged SEARCH,
//! SORT and FETCH on a mailbox with a gap in its UIDs, and an UPDATE context that
//! reports another connection's append, flag change and expunge at the next NOOP
//! (REMOVEFROM for the expunged message before its EXPUNGE, then the search run again).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Server;

/// What the script prints, worked out by hand: the view is UIDs 1 2 3 6 7 8 9 10 at
/// sequence numbers 1 to 8; UIDs 1 3 7 9 are unseen.
const EXPECTED: &str = "\
CAPABILITY => PARTIAL CONTEXT=SEARCH
UID SEARCH RETURN (PARTIAL 1:3) ALL => OK UID PARTIAL (1:3 1:3)
SEARCH RETURN (COUNT PARTIAL -1:-2) ALL => OK COUNT 8 PARTIAL (-1:-2 7:8)
SEARCH RETURN (PARTIAL 20:30) ALL => OK PARTIAL (20:30 NIL)
SORT RETURN (PARTIAL 1:2) (REVERSE ARRIVAL) UTF-8 ALL => OK PARTIAL (1:2 8,7)
UID FETCH 1:* (UID) (PARTIAL -1:-3) => OK 8 9 10
FETCH 1:* (UID) (PARTIAL 2:3) => OK 2 3
UID SEARCH RETURN (UPDATE) UNSEEN => OK
NOOP => OK UID REMOVEFROM (0 9) | UID REMOVEFROM (0 1) ADDTO (0 11)
CANCELUPDATE => OK
";

#[test]
fn partial_paging_and_update_contexts_with_imaplib() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 2);
    assert_eq!(common::run_imap_client_script(&server, "paging.py"), EXPECTED);
}

/// CONTEXT=SORT: subjects m8 m2 m6 m4 (UIDs 1 to 4) sort as 2 4 3 1. The other
/// connection's expunge of UID 1 leaves position 4 before the EXPUNGE; then the sort
/// runs again: UID 4 (now seen) leaves position 2 and the new UID 5 (m5) takes it.
const SORT_EXPECTED: &str = "\
CAPABILITY => ESORT CONTEXT=SORT
UID SORT RETURN (UPDATE PARTIAL 1:3) (SUBJECT) UTF-8 UNSEEN => OK UID PARTIAL (1:3 2,4,3)
NOOP => OK UID REMOVEFROM (4 1) | UID REMOVEFROM (2 4) ADDTO (2 5)
CANCELUPDATE => OK
";

#[test]
fn sort_update_context_follows_another_connection_with_imaplib() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 2);
    assert_eq!(common::run_imap_client_script(&server, "sort_context.py"), SORT_EXPECTED);
}
