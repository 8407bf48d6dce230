//! Transcript tests of PARTIAL (RFC 9394): paged SEARCH, UID SEARCH and SORT results
//! (`RETURN (PARTIAL range)`, ESEARCH's `PARTIAL (range set)`) and the FETCH modifier,
//! on a mailbox with a gap in its UIDs so positions, sequence numbers and UIDs differ.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod imap_session_common;

use imap_session_common::{PASSWORD, USER, check_with, message};
use moxide_protocols::imap::server::SystemFlags;
use moxide_protocols::imap::server::memory::{Account, SharedAccount};

const DAY_MS: i64 = 86_400_000;
/// 2023-01-01T00:00:00Z.
const JAN_1_MS: i64 = 1_672_531_200_000;

/// Ten messages arriving a day apart, UIDs 4 and 5 expunged: the view is UIDs
/// 1 2 3 6 7 8 9 10 at sequence numbers 1 to 8.
fn gapped() -> SharedAccount {
    let mut account = Account::new(USER, PASSWORD);
    for n in 1..=10 {
        account.now_ms = JAN_1_MS + i64::from(n) * DAY_MS;
        account.deliver("INBOX", &message(n), SystemFlags::default(), &[]);
    }
    account.expunge("INBOX", &[4, 5]);
    account.shared()
}

fn script(commands: &str) -> String {
    format!("C: a0 ENABLE IMAP4rev2\r\nC: a1 SELECT INBOX\r\n{commands}")
}

fn selected(more: &[&'static str]) -> Vec<&'static str> {
    let mut lines = vec![
        "S: * ENABLED IMAP4REV2",
        "S: a0 OK ENABLE completed",
        "S: * FLAGS ...",
        "S: * OK [PERMANENTFLAGS ...",
        "S: * 8 EXISTS",
        "S: * OK [UIDVALIDITY ...",
        "S: * OK [UIDNEXT 11] predicted next UID",
        "S: * OK [HIGHESTMODSEQ ...",
        "S: * OK [MAILBOXID (F...",
        "S: * LIST () \"/\" INBOX",
        "S: a1 OK [READ-WRITE] SELECT completed",
    ];
    lines.extend_from_slice(more);
    lines
}

#[test]
fn search_partial_pages_the_result() {
    check_with(
        gapped,
        &script(
            "C: b1 SEARCH RETURN (PARTIAL 1:3) ALL\r\nC: b2 UID SEARCH RETURN (PARTIAL -1:-3) ALL\r\n\
             C: b3 UID SEARCH RETURN (COUNT PARTIAL 3:5) ALL\r\nC: b4 SEARCH RETURN (PARTIAL 20:30) ALL\r\n\
             C: b5 SEARCH RETURN (PARTIAL 5:2) ALL\r\nC: b6 UID SEARCH RETURN (MIN MAX PARTIAL -2:-1) ALL\r\n",
        ),
        &selected(&[
            "S: * ESEARCH (TAG \"b1\") PARTIAL (1:3 1:3)",
            "S: b1 OK SEARCH completed",
            // -1 is the last match: the last three UIDs.
            "S: * ESEARCH (TAG \"b2\") UID PARTIAL (-1:-3 8:10)",
            "S: b2 OK SEARCH completed",
            // COUNT counts every match; the window is positions 3 to 5.
            "S: * ESEARCH (TAG \"b3\") UID COUNT 8 PARTIAL (3:5 3,6:7)",
            "S: b3 OK SEARCH completed",
            "S: * ESEARCH (TAG \"b4\") PARTIAL (20:30 NIL)",
            "S: b4 OK SEARCH completed",
            // The ends in either order, as in a sequence set.
            "S: * ESEARCH (TAG \"b5\") PARTIAL (2:5 2:5)",
            "S: b5 OK SEARCH completed",
            "S: * ESEARCH (TAG \"b6\") UID MIN 1 MAX 10 PARTIAL (-1:-2 9:10)",
            "S: b6 OK SEARCH completed",
        ]),
    );
}

#[test]
fn search_partial_refusals_and_save() {
    check_with(
        gapped,
        &script(
            "C: b1 SEARCH RETURN (ALL PARTIAL 1:2) ALL\r\nC: b2 SEARCH RETURN (PARTIAL 0:2) ALL\r\n\
             C: b3 SEARCH RETURN (PARTIAL 1:-2) ALL\r\nC: b4 SEARCH RETURN (PARTIAL 1:2 PARTIAL 3:4) ALL\r\n\
             C: b5 SEARCH RETURN (SAVE PARTIAL -1:-2) ALL\r\nC: b6 FETCH $ (UID)\r\n",
        ),
        &selected(&[
            "S: b1 BAD ...",
            "S: b2 BAD ...",
            "S: b3 BAD ...",
            "S: b4 BAD ...",
            // RFC 9394 §3.1: SAVE with PARTIAL saves the window.
            "S: * ESEARCH (TAG \"b5\") PARTIAL (-1:-2 7:8)",
            "S: b5 OK SEARCH completed",
            "S: * 7 FETCH (UID 9)",
            "S: * 8 FETCH (UID 10)",
            "S: b6 OK FETCH completed",
        ]),
    );
}

#[test]
fn sort_partial_counts_in_sort_order() {
    check_with(
        gapped,
        &script(
            "C: b1 SORT RETURN (PARTIAL 1:2) (REVERSE ARRIVAL) UTF-8 ALL\r\n\
             C: b2 UID SORT RETURN (COUNT PARTIAL -1:-3) (REVERSE ARRIVAL) UTF-8 ALL\r\n\
             C: b3 SORT RETURN (PARTIAL 9:10) (ARRIVAL) UTF-8 ALL\r\n",
        ),
        &selected(&[
            "S: * ESEARCH (TAG \"b1\") PARTIAL (1:2 8,7)",
            "S: b1 OK SORT completed",
            "S: * ESEARCH (TAG \"b2\") UID COUNT 8 PARTIAL (-1:-3 3,2,1)",
            "S: b2 OK SORT completed",
            "S: * ESEARCH (TAG \"b3\") PARTIAL (9:10 NIL)",
            "S: b3 OK SORT completed",
        ]),
    );
}

#[test]
fn fetch_partial_takes_positions_of_the_set() {
    check_with(
        gapped,
        &script(
            "C: b1 FETCH 1:* (UID) (PARTIAL 2:3)\r\nC: b2 UID FETCH 2:9 (UID) (PARTIAL -1:-2)\r\n\
             C: b3 UID FETCH 1:3,7:* (UID) (PARTIAL 3:4)\r\nC: b4 FETCH 1:* (UID) (PARTIAL 100:200)\r\n\
             C: b5 FETCH 1 (UID) (PARTIAL 1:2 PARTIAL 1:2)\r\nC: b6 FETCH 6:* (UID) (PARTIAL -5:-1)\r\n",
        ),
        &selected(&[
            "S: * 2 FETCH (UID 2)",
            "S: * 3 FETCH (UID 3)",
            "S: b1 OK FETCH completed",
            // UIDs 2:9 name 2 3 6 7 8 9; the last two are 8 and 9.
            "S: * 6 FETCH (UID 8)",
            "S: * 7 FETCH (UID 9)",
            "S: b2 OK FETCH completed",
            // UIDs 1 2 3 7 8 9 10: positions 3 and 4.
            "S: * 3 FETCH (UID 3)",
            "S: * 5 FETCH (UID 7)",
            "S: b3 OK FETCH completed",
            "S: b4 OK FETCH completed",
            "S: b5 BAD ...",
            "S: * 6 FETCH (UID 8)",
            "S: * 7 FETCH (UID 9)",
            "S: * 8 FETCH (UID 10)",
            "S: b6 OK FETCH completed",
        ]),
    );
}
