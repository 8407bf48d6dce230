//! Transcript tests of SEARCH contexts (RFC 5267 §4, CONTEXT=SEARCH): RETURN (UPDATE)
//! keeps a result, and changes made elsewhere (here: straight to the in-memory
//! account) come back as `* ESEARCH (TAG ..) ADDTO/REMOVEFROM` where untagged updates
//! may go out: REMOVEFROM before the EXPUNGE that removes a message, ADDTO after
//! EXISTS, in IDLE as they happen. CANCELUPDATE ends a context; a session holds at
//! most `SEARCH_CONTEXTS_MAX`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod imap_session_common;

use imap_session_common::{Client, account, assert_lines, message};
use moxide_protocols::imap::server::{SEARCH_CONTEXTS_MAX, SystemFlags};
use moxide_protocols::imap::types::StoreMode;

/// SELECT INBOX of the default account (messages 1 and 3 unseen, 2 seen and flagged).
const SELECT: &[&str] = &[
    "S: * FLAGS ...",
    "S: * OK [PERMANENTFLAGS ...",
    "S: * 3 EXISTS",
    "S: * 3 RECENT",
    "S: * OK [UNSEEN 1] first unseen",
    "S: * OK [UIDVALIDITY 1001] UIDs valid",
    "S: * OK [UIDNEXT 4] predicted next UID",
    "S: * OK [HIGHESTMODSEQ 4] highest",
    "S: * OK [MAILBOXID (F...",
    "S: a1 OK [READ-WRITE] SELECT completed",
];

#[test]
fn update_contexts_follow_flag_changes_arrivals_and_expunges() {
    for piece in [0, 7] {
        let account = account();
        let mut a = Client::logged_in(&account);
        a.feed(
            b"a1 SELECT INBOX\r\na2 UID SEARCH RETURN (UPDATE) UNSEEN\r\na3 SEARCH RETURN (COUNT UPDATE) FLAGGED\r\n",
            piece,
            0,
        );
        let mut expected = SELECT.to_vec();
        // UPDATE alone: no result now, only the updates.
        expected.extend([
            "S: a2 OK SEARCH completed",
            "S: * ESEARCH (TAG \"a3\") COUNT 1",
            "S: a3 OK SEARCH completed",
        ]);
        assert_lines(&a.take_output(), &expected);

        account.borrow_mut().store(
            "INBOX",
            &[1],
            StoreMode::Add,
            SystemFlags::SEEN.union(SystemFlags::FLAGGED),
            &[],
        );
        a.feed(b"a4 NOOP\r\n", piece, 0);
        assert_lines(
            &a.take_output(),
            &[
                "S: * 1 FETCH (UID 1 FLAGS (\\Seen \\Flagged \\Recent))",
                "S: * ESEARCH (TAG \"a2\") UID REMOVEFROM (0 1)",
                "S: * ESEARCH (TAG \"a3\") ADDTO (0 1)",
                "S: a4 OK done",
            ],
        );

        account.borrow_mut().deliver("INBOX", &message(4), SystemFlags::default(), &[]);
        account.borrow_mut().expunge("INBOX", &[3]);
        a.feed(b"a5 NOOP\r\n", piece, 0);
        assert_lines(
            &a.take_output(),
            &[
                // Before the EXPUNGE: the number the client still has.
                "S: * ESEARCH (TAG \"a2\") UID REMOVEFROM (0 3)",
                "S: * 3 EXPUNGE",
                "S: * 3 EXISTS",
                "S: * 3 RECENT",
                "S: * ESEARCH (TAG \"a2\") UID ADDTO (0 4)",
                "S: a5 OK done",
            ],
        );

        // In IDLE the updates go out as they come.
        a.feed(b"a6 IDLE\r\n", piece, 0);
        assert_lines(&a.take_output(), &["S: + idling"]);
        account.borrow_mut().store("INBOX", &[2], StoreMode::Remove, SystemFlags::FLAGGED, &[]);
        a.run(0);
        assert_lines(
            &a.take_output(),
            &["S: * 2 FETCH (UID 2 FLAGS (\\Seen \\Recent))", "S: * ESEARCH (TAG \"a3\") REMOVEFROM (0 2)"],
        );
        a.feed(b"DONE\r\n", piece, 0);
        assert_lines(&a.take_output(), &["S: a6 OK IDLE terminated"]);

        // Cancelled: no more updates for a2.
        a.feed(b"a7 CANCELUPDATE \"a2\"\r\na8 CANCELUPDATE \"a2\"\r\n", piece, 0);
        assert_lines(&a.take_output(), &["S: a7 OK CANCELUPDATE completed", "S: a8 BAD ..."]);
        account.borrow_mut().deliver("INBOX", &message(5), SystemFlags::default(), &[]);
        a.feed(b"a9 NOOP\r\n", piece, 0);
        assert_lines(&a.take_output(), &["S: * 4 EXISTS", "S: * 4 RECENT", "S: a9 OK done"]);

        // A new mailbox view: the contexts ended with the old one.
        a.feed(b"b1 UNSELECT\r\nb2 CANCELUPDATE \"a3\"\r\n", piece, 0);
        assert_lines(&a.take_output(), &["S: b1 OK ...", "S: b2 BAD ..."]);
    }
}

#[test]
fn contexts_refused_by_numbers_and_past_the_limit() {
    let account = account();
    let mut a = Client::logged_in(&account);
    let mut script = String::from(
        "a1 SELECT INBOX\r\na2 SEARCH RETURN (UPDATE) 1:2\r\na3 UID SEARCH RETURN (UPDATE) UID $\r\n\
         a4 SORT RETURN (UPDATE) (DATE) UTF-8 1:2\r\n",
    );
    let mut expected = SELECT.to_vec();
    expected.extend([
        "S: * NO [NOUPDATE \"a2\"] ...",
        "S: a2 OK SEARCH completed",
        "S: * NO [NOUPDATE \"a3\"] ...",
        "S: a3 OK SEARCH completed",
        "S: * NO [NOUPDATE \"a4\"] ...",
        "S: a4 OK SORT completed",
    ]);
    let tags: Vec<String> = (0..=SEARCH_CONTEXTS_MAX).map(|n| format!("c{n}")).collect();
    for tag in &tags {
        script.push_str(&format!("{tag} SEARCH RETURN (UPDATE) ALL\r\n"));
    }
    let lines: Vec<String> = tags.iter().map(|tag| format!("S: {tag} OK SEARCH completed")).collect();
    let refused = format!("S: * NO [NOUPDATE \"c{SEARCH_CONTEXTS_MAX}\"] ...");
    for (n, line) in lines.iter().enumerate() {
        if n == SEARCH_CONTEXTS_MAX {
            expected.push(&refused);
        }
        expected.push(line);
    }
    // RFC 5267 §4.3: a tag that names a context already is BAD, for SORT too.
    script.push_str("c0 SEARCH RETURN (UPDATE) ALL\r\nc1 SORT RETURN (UPDATE) (SIZE) UTF-8 ALL\r\n");
    expected.push("S: c0 BAD ...");
    expected.push("S: c1 BAD ...");
    a.feed(script.as_bytes(), 0, 0);
    assert_lines(&a.take_output(), &expected);
}

/// CONTEXT=SORT (RFC 5267 §4): a SORT context's updates name positions in its order:
/// REMOVEFROM where a run stood (less what left before it), ADDTO where a run stands
/// once inserted.
#[test]
fn sort_contexts_report_positions_in_sort_order() {
    for piece in [0, 7] {
        let account = account();
        let mut a = Client::logged_in(&account);
        // Order by REVERSE SUBJECT: "message 3", "message 2", "message 1" (UIDs 3 2 1).
        a.feed(
            b"a1 SELECT INBOX\r\na2 UID SORT RETURN (UPDATE COUNT) (REVERSE SUBJECT) UTF-8 UNDELETED\r\n\
              a3 SORT RETURN (CONTEXT UPDATE PARTIAL 1:2) (SUBJECT) UTF-8 UNSEEN\r\n",
            piece,
            0,
        );
        let mut expected = SELECT.to_vec();
        expected.extend([
            "S: * ESEARCH (TAG \"a2\") UID COUNT 3",
            "S: a2 OK SORT completed",
            "S: * ESEARCH (TAG \"a3\") PARTIAL (1:2 1,3)",
            "S: a3 OK SORT completed",
        ]);
        assert_lines(&a.take_output(), &expected);

        // "message 25" sorts between "message 2" and "message 3"; UID 2 gets \Deleted.
        account.borrow_mut().deliver("INBOX", &subject_message("message 25"), SystemFlags::default(), &[]);
        account.borrow_mut().store("INBOX", &[2], StoreMode::Add, SystemFlags::DELETED, &[]);
        a.feed(b"a4 NOOP\r\n", piece, 0);
        assert_lines(
            &a.take_output(),
            &[
                "S: * 4 EXISTS",
                "S: * 4 RECENT",
                "S: * 2 FETCH (UID 2 FLAGS (\\Seen \\Flagged \\Deleted \\Recent))",
                // 3 2 1 -> 3 4 1: UID 2 leaves position 2, UID 4 takes it.
                "S: * ESEARCH (TAG \"a2\") UID REMOVEFROM (2 2) ADDTO (2 4)",
                // 1 3 -> 1 4 3 (sequence numbers).
                "S: * ESEARCH (TAG \"a3\") ADDTO (2 4)",
                "S: a4 OK done",
            ],
        );

        // An expunge: REMOVEFROM at the position it held, before the EXPUNGE.
        account.borrow_mut().expunge("INBOX", &[3]);
        a.feed(b"a5 NOOP\r\n", piece, 0);
        assert_lines(
            &a.take_output(),
            &[
                "S: * ESEARCH (TAG \"a2\") UID REMOVEFROM (1 3)",
                "S: * ESEARCH (TAG \"a3\") REMOVEFROM (3 3)",
                "S: * 3 EXPUNGE",
                "S: a5 OK done",
            ],
        );

        // Several runs in one response, in IDLE: 4 1 -> 6 4 1 5 (UIDs 5, 6 new and seen).
        a.feed(b"a6 IDLE\r\n", piece, 0);
        assert_lines(&a.take_output(), &["S: + idling"]);
        account.borrow_mut().deliver("INBOX", &subject_message("message 0"), SystemFlags::SEEN, &[]);
        account.borrow_mut().deliver("INBOX", &subject_message("message 9"), SystemFlags::SEEN, &[]);
        a.run(0);
        assert_lines(
            &a.take_output(),
            &["S: * 5 EXISTS", "S: * 5 RECENT", "S: * ESEARCH (TAG \"a2\") UID ADDTO (1 6 4 5)"],
        );
        a.feed(b"DONE\r\na7 CANCELUPDATE \"a2\" \"a3\"\r\na8 CANCELUPDATE \"a3\"\r\n", piece, 0);
        assert_lines(
            &a.take_output(),
            &["S: a6 OK IDLE terminated", "S: a7 OK CANCELUPDATE completed", "S: a8 BAD ..."],
        );
    }
}

/// A message with the given subject (and the test message's other fields).
fn subject_message(subject: &str) -> Vec<u8> {
    format!(
        "From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: {subject}\r\n\
         Date: Mon, 02 Jan 2023 10:00:00 +0100\r\nMessage-ID: <{subject}@example.org>\r\n\r\nbody\r\n"
    )
    .into_bytes()
}
