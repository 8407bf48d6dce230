//! Transcript tests of REPLACE and UID REPLACE (RFC 8508): the new message is appended
//! (APPENDUID in an untagged OK), then the old one is expunged from the selected mailbox;
//! a refused append expunges nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod imap_session_common;

use imap_session_common::{Client, account, assert_lines};

/// A client with INBOX selected (three messages, UIDs 1..3); the SELECT output dropped.
fn selected_client(extra: &str) -> Client {
    let account = account();
    let mut client = Client::logged_in(&account);
    client.send(&format!("{extra}s1 SELECT INBOX\r\n"));
    client
}

#[test]
fn replace_into_another_mailbox_expunges_the_old_message() {
    let mut client = selected_client("");
    let lines =
        client.send("a1 REPLACE 2 Archive (\\Draft) {5+}\r\nhello\r\na2 STATUS Archive (MESSAGES)\r\n");
    assert_lines(
        &lines,
        &[
            "S: * OK [APPENDUID 1004 1] replacement message added",
            "S: * 2 EXPUNGE",
            "S: a1 OK REPLACE completed",
            "S: * STATUS Archive (MESSAGES 1)",
            "S: a2 OK STATUS completed",
        ],
    );
    let lines = client.send("a3 UID FETCH 1:* (FLAGS)\r\n");
    assert_lines(
        &lines,
        &[
            "S: * 1 FETCH (UID 1 FLAGS (\\Recent))",
            "S: * 2 FETCH (UID 3 FLAGS (\\Recent))",
            "S: a3 OK FETCH completed",
        ],
    );
}

#[test]
fn uid_replace_in_the_selected_mailbox_with_qresync() {
    let mut client = selected_client("e1 ENABLE QRESYNC\r\n");
    let lines = client.send("a1 UID REPLACE 3 INBOX {5+}\r\nhello\r\n");
    assert_lines(
        &lines,
        &[
            "S: * OK [APPENDUID 1001 4] replacement message added",
            "S: * VANISHED 3",
            "S: * 3 EXISTS",
            "S: * 3 RECENT",
            "S: a1 OK REPLACE completed",
        ],
    );
}

#[test]
fn a_refused_replace_expunges_nothing() {
    let mut client = selected_client("");
    let lines = client.send(
        "a1 REPLACE 2 Nothing {5+}\r\nhello\r\na2 REPLACE 9 INBOX {5+}\r\nhello\r\n\
         a3 UID REPLACE 9 INBOX {5+}\r\nhello\r\na4 REPLACE 1 INBOX (\\Bogus) {5+}\r\nhello\r\n\
         a5 REPLACE 1 INBOX {5+}\r\nhello {5+}\r\nworld\r\na6 REPLACE 1 INBOX\r\na7 UID REPLACE 1 INBOX\r\n\
         a8 NOOP\r\n",
    );
    assert_lines(
        &lines,
        &[
            "S: a1 NO [TRYCREATE] no mailbox \"Nothing\"",
            "S: a2 BAD no such message",
            "S: a3 NO no message with that UID",
            "S: a4 BAD flag \\Bogus cannot be set",
            "S: a5 BAD REPLACE takes one message",
            "S: a6 BAD ...",
            "S: a7 BAD ...",
            "S: a8 OK done",
        ],
    );
    let lines = client.send("a9 UID SEARCH ALL\r\n");
    assert_lines(&lines, &["S: * SEARCH 1 2 3", "S: a9 OK SEARCH completed"]);
}

#[test]
fn replace_needs_a_writable_selected_mailbox() {
    let account = account();
    let mut client = Client::logged_in(&account);
    let lines = client.send("a1 REPLACE 1 INBOX {5}\r\n");
    assert_lines(&lines, &["S: a1 BAD select a mailbox first"]);
    client.send("s1 EXAMINE INBOX\r\n");
    let lines = client.send("a2 REPLACE 1 INBOX {5}\r\n");
    assert_lines(&lines, &["S: a2 NO [READ-ONLY] mailbox is read-only"]);
}

#[test]
fn the_target_mailbox_may_come_as_a_literal() {
    let mut client = selected_client("");
    let lines =
        client.send("a1 uid replace 1 {7+}\r\nArchive \"14-Oct-2025 09:12:43 +0000\" {5+}\r\nhello\r\n");
    assert_lines(
        &lines,
        &[
            "S: * OK [APPENDUID 1004 1] replacement message added",
            "S: * 1 EXPUNGE",
            "S: a1 OK REPLACE completed",
        ],
    );
}
