//! Transcript tests with several sessions on one account (RFC 9051 §5.2 and §7.5.1 on
//! when another session's changes are reported; RFC 3501 §2.3.2 \Recent; RFC 3501
//! §7.2.6 FLAGS): client A and client B share the in-memory account, and each step
//! feeds one of them (whole, then in pieces, with identical results).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod imap_session_common;

use imap_session_common::{Client, account, assert_lines, message};
use moxide_protocols::imap::server::SystemFlags;
use moxide_protocols::imap::server::memory::SharedAccount;
use moxide_protocols::imap::types::StoreMode;

/// A step: which client sends what, and the lines it gets back.
type Step<'a> = (char, &'a str, &'a [&'a str]);

/// Runs the steps with fresh clients, whole and in 7-byte pieces.
fn steps(setup: impl Fn() -> SharedAccount, steps: &[Step<'_>]) {
    for piece in [0, 7] {
        let account = setup();
        let mut a = Client::logged_in(&account);
        let mut b = Client::logged_in(&account);
        for (who, input, expected) in steps {
            let client = if *who == 'A' { &mut a } else { &mut b };
            client.feed(input.as_bytes(), piece, 0);
            let got = client.take_output();
            assert_lines(&got, expected);
        }
    }
}

/// SELECT INBOX of the default account by the second session: nothing is recent for it.
const SELECT_SECOND: &[&str] = &[
    "S: * FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $Forwarded $Junk $NotJunk $Phishing $MDNSent)",
    "S: * OK [PERMANENTFLAGS ...",
    "S: * 3 EXISTS",
    "S: * 0 RECENT",
    "S: * OK [UNSEEN 1] first unseen",
    "S: * OK [UIDVALIDITY 1001] UIDs valid",
    "S: * OK [UIDNEXT 4] predicted next UID",
    "S: * OK [HIGHESTMODSEQ 4] highest",
    "S: * OK [MAILBOXID (F...",
    "S: b1 OK [READ-WRITE] SELECT completed",
];

const SELECT_FIRST: &[&str] = &[
    "S: * FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $Forwarded $Junk $NotJunk $Phishing $MDNSent)",
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
fn a_new_keyword_is_announced_before_a_fetch_shows_it() {
    steps(
        account,
        &[
            ('A', "a1 SELECT INBOX\r\n", SELECT_FIRST),
            ('B', "b1 SELECT INBOX\r\n", SELECT_SECOND),
            (
                'B',
                "b2 STORE 1 +FLAGS (Work)\r\n",
                &[
                    "S: * FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $Forwarded $Junk $NotJunk $Phishing $MDNSent Work)",
                    "S: * OK [PERMANENTFLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $Forwarded $Junk $NotJunk $Phishing $MDNSent Work \\*)] flags permitted",
                    "S: * 1 FETCH (FLAGS (Work))",
                    "S: b2 OK STORE completed",
                ],
            ),
            (
                'A',
                "a2 NOOP\r\n",
                &[
                    "S: * FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $Forwarded $Junk $NotJunk $Phishing $MDNSent Work)",
                    "S: * OK [PERMANENTFLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $Forwarded $Junk $NotJunk $Phishing $MDNSent Work \\*)] flags permitted",
                    "S: * 1 FETCH (UID 1 FLAGS (\\Recent Work))",
                    "S: a2 OK done",
                ],
            ),
            // A keyword already announced is not announced again; FETCH FLAGS of a keyword
            // added by delivery is announced before the FETCH.
            (
                'B',
                "b3 STORE 2 +FLAGS (work Other)\r\n",
                &[
                    "S: * FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $Forwarded $Junk $NotJunk $Phishing $MDNSent Work Other)",
                    "S: * OK [PERMANENTFLAGS ...",
                    "S: * 2 FETCH (FLAGS (\\Seen \\Flagged work Other))",
                    "S: b3 OK STORE completed",
                ],
            ),
            (
                'A',
                "a3 FETCH 2 FLAGS\r\n",
                &[
                    "S: * FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $Forwarded $Junk $NotJunk $Phishing $MDNSent Work Other)",
                    "S: * OK [PERMANENTFLAGS ...",
                    "S: * 2 FETCH (FLAGS (\\Seen \\Flagged \\Recent work Other))",
                    "S: a3 OK FETCH completed",
                ],
            ),
        ],
    );
}

#[test]
fn a_message_expunged_elsewhere_stays_readable_until_reported() {
    steps(
        account,
        &[
            ('A', "a1 SELECT INBOX\r\n", SELECT_FIRST),
            ('B', "b1 SELECT INBOX\r\n", SELECT_SECOND),
            (
                'B',
                "b2 STORE 2 +FLAGS.SILENT (\\Deleted)\r\nb3 EXPUNGE\r\n",
                &["S: b2 OK STORE completed", "S: * 2 EXPUNGE", "S: b3 OK EXPUNGE completed"],
            ),
            // FETCH, STORE and SEARCH may not report the expunge (RFC 9051 §7.5.1): the
            // message keeps its number and its data.
            (
                'A',
                "a2 FETCH 2 (UID BODY.PEEK[TEXT])\r\n",
                &["S: * 2 FETCH (UID 2 BODY[TEXT] {8}", "S: body 2", "S: )", "S: a2 OK FETCH completed"],
            ),
            // SEARCH looks at the messages that exist: the expunged one matches nothing,
            // while the numbers stay those of the session's view.
            ('A', "a3 SEARCH ALL\r\n", &["S: * SEARCH 1 3", "S: a3 OK SEARCH completed"]),
            // UID FETCH allows the EXPUNGE, after the data of the still-numbered message.
            (
                'A',
                "a4 UID FETCH 2 FLAGS\r\n",
                &[
                    "S: * 2 FETCH (UID 2 FLAGS (\\Seen \\Flagged \\Deleted \\Recent))",
                    "S: * 2 EXPUNGE",
                    "S: a4 OK FETCH completed",
                ],
            ),
            ('A', "a5 FETCH 2 (UID)\r\n", &["S: * 2 FETCH (UID 3)", "S: a5 OK FETCH completed"]),
        ],
    );
}

#[test]
fn nothing_but_bye_after_logout() {
    steps(
        account,
        &[
            ('A', "a1 SELECT INBOX\r\n", SELECT_FIRST),
            ('B', "b1 SELECT INBOX\r\n", SELECT_SECOND),
            (
                'B',
                "b2 STORE 1 +FLAGS (\\Answered)\r\nb3 STORE 3 +FLAGS.SILENT (\\Deleted)\r\nb4 EXPUNGE\r\n",
                &[
                    "S: * 1 FETCH (FLAGS (\\Answered))",
                    "S: b2 OK STORE completed",
                    "S: b3 OK STORE completed",
                    "S: * 3 EXPUNGE",
                    "S: b4 OK EXPUNGE completed",
                ],
            ),
            ('A', "a2 LOGOUT\r\n", &["S: * BYE logging out", "S: a2 OK logged out"]),
        ],
    );
}

#[test]
fn a_new_message_is_recent_in_one_session_only() {
    let deliver = |account: &SharedAccount| {
        account.borrow_mut().deliver("INBOX", &message(9), SystemFlags::default(), &[]);
    };
    for piece in [0, 7] {
        let account = account();
        let mut a = Client::logged_in(&account);
        let mut b = Client::logged_in(&account);
        a.feed(b"a1 SELECT INBOX\r\n", piece, 0);
        assert_lines(&a.take_output(), SELECT_FIRST);
        b.feed(b"b1 SELECT INBOX\r\n", piece, 0);
        assert_lines(&b.take_output(), SELECT_SECOND);
        deliver(&account);
        // B syncs first: the new message is recent there, not in A.
        b.feed(b"b2 NOOP\r\nb3 SEARCH RECENT\r\nb4 FETCH 4 FLAGS\r\n", piece, 0);
        assert_lines(
            &b.take_output(),
            &[
                "S: * 4 EXISTS",
                "S: * 1 RECENT",
                "S: b2 OK done",
                "S: * SEARCH 4",
                "S: b3 OK SEARCH completed",
                "S: * 4 FETCH (FLAGS (\\Recent))",
                "S: b4 OK FETCH completed",
            ],
        );
        a.feed(b"a2 NOOP\r\na3 SEARCH NEW\r\na4 FETCH 4 FLAGS\r\na5 STATUS INBOX (RECENT)\r\n", piece, 0);
        assert_lines(
            &a.take_output(),
            &[
                "S: * 4 EXISTS",
                "S: * 3 RECENT",
                "S: a2 OK done",
                "S: * SEARCH 1 3",
                "S: a3 OK SEARCH completed",
                "S: * 4 FETCH (FLAGS ())",
                "S: a4 OK FETCH completed",
                "S: * STATUS INBOX (RECENT 0)",
                "S: a5 OK STATUS completed",
            ],
        );
    }
}

#[test]
fn idle_reports_changes_as_they_happen() {
    for piece in [0, 7] {
        let account = account();
        let mut a = Client::logged_in(&account);
        a.feed(b"a1 SELECT INBOX\r\na2 IDLE\r\n", piece, 0);
        let mut expected = SELECT_FIRST.to_vec();
        expected.push("S: + idling");
        assert_lines(&a.take_output(), &expected);
        account.borrow_mut().deliver("INBOX", &message(4), SystemFlags::default(), &[]);
        account.borrow_mut().store("INBOX", &[1], StoreMode::Add, SystemFlags::FLAGGED, &[]);
        a.run(0);
        assert_lines(
            &a.take_output(),
            &["S: * 4 EXISTS", "S: * 4 RECENT", "S: * 1 FETCH (UID 1 FLAGS (\\Flagged \\Recent))"],
        );
        account.borrow_mut().expunge("INBOX", &[2]);
        a.feed(b"DONE\r\n", piece, 0);
        assert_lines(&a.take_output(), &["S: * 2 EXPUNGE", "S: a2 OK IDLE terminated"]);
    }
}

#[test]
fn expunges_wait_for_a_command_that_allows_them() {
    steps(
        account,
        &[
            ('A', "a1 SELECT INBOX\r\n", SELECT_FIRST),
            ('B', "b1 SELECT INBOX\r\n", SELECT_SECOND),
            (
                'B',
                "b2 STORE 1 +FLAGS.SILENT (\\Deleted)\r\nb3 EXPUNGE\r\n",
                &["S: b2 OK STORE completed", "S: * 1 EXPUNGE", "S: b3 OK EXPUNGE completed"],
            ),
            (
                'A',
                "a2 STORE 3 +FLAGS (\\Seen)\r\n",
                &["S: * 3 FETCH (FLAGS (\\Seen \\Recent))", "S: a2 OK STORE completed"],
            ),
            ('A', "a3 CHECK\r\n", &["S: * 1 EXPUNGE", "S: a3 OK done"]),
            // The expunged message is gone from A's view now; its UID is not reused.
            ('A', "a4 UID SEARCH ALL\r\n", &["S: * SEARCH 2 3", "S: a4 OK SEARCH completed"]),
        ],
    );
}

#[test]
fn qresync_sessions_get_vanished() {
    steps(
        account,
        &[
            (
                'A',
                "a0 ENABLE QRESYNC\r\na1 SELECT INBOX\r\n",
                &[
                    "S: * ENABLED QRESYNC",
                    "S: a0 OK ENABLE completed",
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
                ],
            ),
            ('B', "b1 SELECT INBOX\r\n", SELECT_SECOND),
            (
                'B',
                "b2 STORE 1:2 +FLAGS.SILENT (\\Deleted)\r\nb3 EXPUNGE\r\n",
                &[
                    "S: b2 OK STORE completed",
                    "S: * 2 EXPUNGE",
                    "S: * 1 EXPUNGE",
                    "S: b3 OK EXPUNGE completed",
                ],
            ),
            ('A', "a2 NOOP\r\n", &["S: * VANISHED 1:2", "S: a2 OK done"]),
        ],
    );
}
