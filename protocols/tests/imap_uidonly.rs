//! Transcript tests of UIDONLY (RFC 9586): after ENABLE UIDONLY, commands with message
//! sequence numbers get `BAD [UIDREQUIRED]`, FETCH responses are UIDFETCH and expunges
//! are reported as VANISHED, for this session's commands and for other sessions'
//! changes alike.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod imap_session_common;

use imap_session_common::{Client, account, assert_lines};
use moxide_protocols::imap::StoreMode;
use moxide_protocols::imap::server::SystemFlags;
use moxide_protocols::imap::server::memory::SharedAccount;

/// A client that enabled UIDONLY (and IMAP4rev2, so no RECENT) and selected INBOX
/// (three messages, UIDs 1..3).
fn uidonly_client(account: &SharedAccount) -> Client {
    let mut client = Client::logged_in(account);
    let lines = client.send("e1 ENABLE UIDONLY IMAP4rev2\r\n");
    assert_lines(&lines, &["S: * ENABLED UIDONLY IMAP4REV2", "S: e1 OK ENABLE completed"]);
    client.send("s1 SELECT INBOX\r\n");
    client
}

#[test]
fn sequence_numbers_are_refused() {
    let account = account();
    let mut client = uidonly_client(&account);
    let lines = client.send(
        "a1 FETCH 1 FLAGS\r\na2 STORE 1 +FLAGS (\\Seen)\r\na3 COPY 1 INBOX\r\na4 MOVE 1 INBOX\r\n\
         a5 SEARCH ALL\r\na6 SORT (ARRIVAL) UTF-8 ALL\r\na7 THREAD REFS UTF-8 ALL\r\n\
         a8 UID SEARCH 1:2\r\na9 UID SEARCH OR SEEN NOT (DRAFT 2)\r\nb1 REPLACE 1 INBOX {5}\r\n\
         b2 UID SEARCH UID 1:2 SEEN\r\n",
    );
    let mut expected: Vec<String> = ["a1", "a2", "a3", "a4", "a5", "a6", "a7", "a8", "a9", "b1"]
        .iter()
        .map(|tag| format!("S: {tag} BAD [UIDREQUIRED] UIDONLY is enabled: use UIDs"))
        .collect();
    expected.push("S: * ESEARCH (TAG \"b2\") UID ALL 2".to_owned());
    expected.push("S: b2 OK SEARCH completed".to_owned());
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_lines(&lines, &expected);
}

#[test]
fn fetch_and_store_answer_with_uidfetch() {
    let account = account();
    let mut client = uidonly_client(&account);
    let lines = client.send(
        "a1 UID FETCH 2:3 (UID FLAGS)\r\na2 UID STORE 1 +FLAGS (\\Flagged)\r\n\
         a3 UID STORE 1 +FLAGS.SILENT (\\Seen)\r\n",
    );
    assert_lines(
        &lines,
        &[
            "S: * 2 UIDFETCH (FLAGS (\\Seen \\Flagged))",
            "S: * 3 UIDFETCH (FLAGS ())",
            "S: a1 OK FETCH completed",
            "S: * 1 UIDFETCH (FLAGS (\\Flagged))",
            "S: a2 OK STORE completed",
            "S: a3 OK STORE completed",
        ],
    );
}

#[test]
fn expunges_and_other_sessions_changes_come_as_vanished_and_uidfetch() {
    let account = account();
    let mut client = uidonly_client(&account);
    let lines = client.send("a1 UID STORE 2 +FLAGS.SILENT (\\Deleted)\r\na2 EXPUNGE\r\n");
    assert_lines(&lines, &["S: a1 OK STORE completed", "S: * VANISHED 2", "S: a2 OK EXPUNGE completed"]);
    account.borrow_mut().store("INBOX", &[3], StoreMode::Add, SystemFlags::ANSWERED, &[]);
    let gone = account.borrow_mut().expunge("INBOX", &[1]);
    assert_eq!(gone, vec![1]);
    let lines = client.send("a3 NOOP\r\n");
    assert_lines(&lines, &["S: * VANISHED 1", "S: * 3 UIDFETCH (FLAGS (\\Answered))", "S: a3 OK done"]);
}

#[test]
fn without_uidonly_nothing_changes() {
    let account = account();
    let mut client = Client::logged_in(&account);
    client.send("s1 SELECT INBOX\r\n");
    let lines = client.send("a1 FETCH 2 (UID)\r\n");
    assert_lines(&lines, &["S: * 2 FETCH (UID 2)", "S: a1 OK FETCH completed"]);
}
