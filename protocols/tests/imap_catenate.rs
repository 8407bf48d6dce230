//! Transcript tests of CATENATE (RFC 4469): APPEND making a message of TEXT literals and
//! URL parts (RFC 5092) naming this account's messages, their sections and ranges; BADURL
//! and TOOBIG refusals, after which the connection reads the next command as a command.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod imap_session_common;

use imap_session_common::{Client, PASSWORD, USER, assert_lines, message};
use moxide_protocols::imap::server::SystemFlags;
use moxide_protocols::imap::server::memory::{Account, SharedAccount};

const MULTIPART: &str = "From: a@example.org\r\nSubject: parts\r\nMIME-Version: 1.0\r\n\
    Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
    first part\r\n--b\r\nContent-Type: text/plain\r\n\r\nsecond part\r\n--b--\r\n";

/// INBOX (UIDVALIDITY 1001) holds message 1 (UID 1) and the multipart message (UID 2).
fn account() -> SharedAccount {
    let mut account = Account::new(USER, PASSWORD);
    account.deliver("INBOX", &message(1), SystemFlags::default(), &[]);
    account.deliver("INBOX", MULTIPART.as_bytes(), SystemFlags::default(), &[]);
    account.shared()
}

/// The served bytes of a message, by `UID FETCH uid BODY.PEEK[]`.
fn body(client: &mut Client, mailbox: &str, uid: u32) -> String {
    let lines = client.send(&format!("f0 EXAMINE {mailbox}\r\nf1 UID FETCH {uid} BODY.PEEK[]\r\n"));
    let start = lines.iter().position(|line| line.contains("FETCH (UID")).unwrap();
    let end = lines.iter().position(|line| line.starts_with("S: f1 OK")).unwrap();
    let mut text: Vec<String> =
        lines[start + 1..end].iter().map(|line| line.trim_start_matches("S: ").to_owned()).collect();
    // The last line carries the literal's end and the closing parenthesis.
    if let Some(last) = text.last_mut() {
        *last = last.trim_end_matches(')').to_owned();
    }
    text.join("\r\n")
}

#[test]
fn text_urls_sections_and_ranges_make_one_message() {
    let mut client = Client::logged_in(&account());
    let lines = client.send(
        "a1 APPEND Drafts (\\Draft) CATENATE (TEXT {14+}\r\nSubject: new\r\n URL \"/INBOX;UIDVALIDITY=1001/;UID=2/;SECTION=1\" \
         URL \"/inbox/;uid=2/;section=2/;partial=0.6\" TEXT {2+}\r\n\r\n \
         URL \"imap://mox%40localhost@MX.example/INBOX/;UID=1/;SECTION=TEXT\")\r\n",
    );
    assert_lines(&lines, &["S: a1 OK [APPENDUID 1003 1] APPEND completed"]);
    assert_eq!(body(&mut client, "Drafts", 1), "Subject: new\r\nfirst partsecond\r\nbody 1\r\n");
}

#[test]
fn multiappend_with_catenate_is_all_or_nothing() {
    let mut client = Client::logged_in(&account());
    let lines = client.send(
        "a1 APPEND Drafts {3+}\r\nabc CATENATE (URL /INBOX/;UID=1/;SECTION=HEADER) CATENATE (TEXT {1+}\r\nx)\r\n\
         a2 APPEND Drafts CATENATE (URL /INBOX/;UID=1) CATENATE (URL /INBOX/;UID=9)\r\n\
         a3 STATUS Drafts (MESSAGES)\r\n",
    );
    assert_lines(
        &lines,
        &[
            "S: a1 OK [APPENDUID 1003 1:3] APPEND completed",
            "S: a2 NO [BADURL /INBOX/;UID=9] CATENATE: no such message",
            "S: * STATUS Drafts (MESSAGES 3)",
            "S: a3 OK STATUS completed",
        ],
    );
    assert_eq!(body(&mut client, "Drafts", 3), "x");
}

#[test]
fn bad_urls_fail_the_append_and_the_connection_goes_on() {
    let mut client = Client::logged_in(&account());
    let lines = client.send(
        "a1 APPEND Drafts CATENATE (URL \"/INBOX;UIDVALIDITY=5/;UID=1\")\r\n\
         a2 APPEND Drafts CATENATE (URL \"imap://other@mx.example/INBOX/;UID=1\")\r\n\
         a3 APPEND Drafts CATENATE (URL \"imap://mox%40localhost@elsewhere.example/INBOX/;UID=1\")\r\n\
         a4 APPEND Drafts CATENATE (URL \"/Nothing/;UID=1\")\r\n\
         a5 APPEND Drafts CATENATE (URL \"/INBOX/;UID=2/;SECTION=7\")\r\n\
         a6 APPEND Drafts CATENATE (URL \"INBOX/;UID=1\")\r\n\
         a7 APPEND Drafts CATENATE (URL \"/INBOX/;UID=1;URLAUTH=anonymous\")\r\n",
    );
    assert_lines(
        &lines,
        &[
            "S: a1 NO [BADURL /INBOX;UIDVALIDITY=5/;UID=1] CATENATE: UIDVALIDITY differs",
            "S: a2 NO [BADURL imap://other@mx.example/INBOX/;UID=1] CATENATE: URL names another user",
            "S: a3 NO [BADURL imap://mox%40localhost@elsewhere.example/INBOX/;UID=1] CATENATE: URL names another server",
            "S: a4 NO [BADURL /Nothing/;UID=1] CATENATE: no such mailbox",
            "S: a5 NO [BADURL /INBOX/;UID=2/;SECTION=7] CATENATE: no such part",
            "S: a6 NO [BADURL INBOX/;UID=1] CATENATE: relative URLs need a mailbox",
            "S: a7 NO [BADURL /INBOX/;UID=1;URLAUTH=anonymous] CATENATE: URLAUTH URLs are not taken here",
        ],
    );
    // RFC 4469 §5: the literals sent after the refused URL are read and dropped.
    let lines = client.send(
        "b1 APPEND Drafts CATENATE (URL /INBOX/;UID=7 TEXT {12+}\r\nb9 LOGOUT\r\n URL /x TEXT {0+}\r\n)\r\n\
         b2 STATUS Drafts (MESSAGES)\r\n",
    );
    assert_lines(
        &lines,
        &[
            "S: b1 NO [BADURL /INBOX/;UID=7] CATENATE: no such message",
            "S: * STATUS Drafts (MESSAGES 0)",
            "S: b2 OK STATUS completed",
        ],
    );
}

#[test]
fn parts_together_over_appendlimit_are_too_big() {
    let mut client = Client::logged_in(&account());
    let text = "x".repeat(6000);
    let lines = client.send(&format!(
        "a1 APPEND Drafts CATENATE (TEXT {{6000+}}\r\n{text} TEXT {{6000+}}\r\n{text})\r\n\
         a2 APPEND Drafts CATENATE (TEXT {{6000+}}\r\n{text} URL /INBOX/;UID=1 URL /INBOX/;UID=1 \
         URL /INBOX/;UID=1 URL /INBOX/;UID=1 URL /INBOX/;UID=1 URL /INBOX/;UID=1 URL /INBOX/;UID=1 URL /INBOX/;UID=1 URL /INBOX/;UID=1 URL /INBOX/;UID=1 \
         URL /INBOX/;UID=1 URL /INBOX/;UID=1 URL /INBOX/;UID=1 URL /INBOX/;UID=1 URL /INBOX/;UID=1 \
         URL /INBOX/;UID=1 URL /INBOX/;UID=1 URL /INBOX/;UID=1 URL /INBOX/;UID=1 URL /INBOX/;UID=1 \
         URL /INBOX/;UID=1 URL /INBOX/;UID=1 URL /INBOX/;UID=1 URL /INBOX/;UID=1 URL /INBOX/;UID=1 \
         URL /INBOX/;UID=1 URL /INBOX/;UID=1 URL /INBOX/;UID=1 URL /INBOX/;UID=1 URL /INBOX/;UID=1)\r\n\
         a3 STATUS Drafts (MESSAGES)\r\n"
    ));
    assert_lines(
        &lines,
        &[
            "S: a1 NO [TOOBIG] CATENATE: message larger than APPENDLIMIT",
            "S: a2 NO [TOOBIG] message larger than APPENDLIMIT",
            "S: * STATUS Drafts (MESSAGES 0)",
            "S: a3 OK STATUS completed",
        ],
    );
}

#[test]
fn replace_takes_a_catenated_message() {
    let mut client = Client::logged_in(&account());
    client.send("s1 SELECT INBOX\r\n");
    let lines = client.send(
        "a1 UID REPLACE 1 INBOX CATENATE (TEXT {10+}\r\nSubject: x URL \"/INBOX/;UID=1/;SECTION=TEXT\")\r\n",
    );
    assert_lines(
        &lines,
        &[
            "S: * OK [APPENDUID 1001 3] replacement message added",
            "S: * 1 EXPUNGE",
            "S: * 2 EXISTS",
            "S: * 2 RECENT",
            "S: a1 OK REPLACE completed",
        ],
    );
    assert_eq!(body(&mut client, "INBOX", 3), "Subject: xbody 1\r\n");
}
