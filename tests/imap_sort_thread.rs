//! SORT, ESORT and THREAD (RFC 5256, RFC 5957, RFC 5267) through the real `moxide localserve` binary with
//! Python's imaplib (`tests/clients/sort_thread.py`: APPENDs a small corpus with
//! INTERNALDATEs, then sorts and threads it). The expected answers are Dovecot 2.3.19's
//! on the same script (run against `loadtests/private-dovecot`), which agree with the
//! hand-worked transcripts of `protocols/tests/imap_sort.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::Server;

/// Dovecot 2.3.19.1's answers (Debian bookworm's dovecot-imapd), line for line.
const DOVECOT_ANSWERS: &str = "\
SORT (ARRIVAL) UTF-8 ALL => OK 1 3 2 4
SORT (CC) UTF-8 ALL => OK 2 3 4 1
SORT (DATE) UTF-8 ALL => OK 3 2 4 1
SORT (DISPLAYFROM) UTF-8 ALL => OK 2 4 3 1
SORT (DISPLAYTO) UTF-8 ALL => OK 3 2 1 4
SORT (FROM) UTF-8 ALL => OK 2 4 3 1
SORT (REVERSE SIZE) UTF-8 NOT FROM zed => OK 2 4 3
SORT (SIZE) UTF-8 ALL => OK 3 1 4 2
SORT (SUBJECT DATE) UTF-8 ALL => OK 3 1 2 4
SORT (SUBJECT REVERSE DATE) UTF-8 ALL => OK 1 3 2 4
SORT (SUBJECT) UTF-8 ALL => OK 1 3 2 4
SORT (TO) US-ASCII ALL => OK 3 2 1 4
SORT RETURN (ALL) (SUBJECT) UTF-8 SUBJECT nothing => OK
SORT RETURN (COUNT ALL) (SIZE) UTF-8 ALL => OK ALL 3,1,4,2 COUNT 4
SORT RETURN (MIN MAX COUNT) (DATE) UTF-8 ALL => OK MIN 3 MAX 1 COUNT 4
THREAD ORDEREDSUBJECT UTF-8 ALL => OK (5 8)(1 (2)(4)(3)(9))(6 7)
THREAD REFERENCES US-ASCII NOT 9 => OK (5 8)(1 (2 3)(4))((6)(7))
THREAD REFERENCES UTF-8 ALL => OK (5 8)((1 (2 3)(4))(9))((6)(7))
THREAD REFS UTF-8 ALL => OK (5)(1 (2 3)(4))((6)(7))(8)(9)
UID SORT RETURN () (REVERSE ARRIVAL) UTF-8 ALL => OK UID ALL 4,2:3,1
";

#[test]
fn sort_and_thread_answer_as_dovecot_does() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 2);
    assert_eq!(common::run_imap_client_script(&server, "sort_thread.py"), DOVECOT_ANSWERS);
}
