//! Transcript tests of URLAUTH (RFC 4467): GENURLAUTH signs a URL with the mailbox's
//! key, URLFETCH returns what a signed URL names (the message, a section, a range) and
//! `NIL` for a URL that is tampered with, expired, for another user or for submission
//! only; RESETKEY makes earlier URLs worthless.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod imap_session_common;

use imap_session_common::{Client, PASSWORD, USER, assert_lines, message};
use moxide_protocols::imap::server::SystemFlags;
use moxide_protocols::imap::server::memory::{Account, SharedAccount};
use moxide_protocols::imap::url::urlauth_mac;

const MULTIPART: &str = "From: a@example.org\r\nSubject: parts\r\nMIME-Version: 1.0\r\n\
    Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
    first part\r\n--b\r\nContent-Type: text/plain\r\n\r\nsecond part\r\n--b--\r\n";

const BASE: &str = "imap://mox%40localhost@mx.example/INBOX;UIDVALIDITY=1001/;UID=";

/// INBOX (UIDVALIDITY 1001) holds message 1 (UID 1) and the multipart message (UID 2).
fn account() -> SharedAccount {
    let mut account = Account::new(USER, PASSWORD);
    account.deliver("INBOX", &message(1), SystemFlags::default(), &[]);
    account.deliver("INBOX", MULTIPART.as_bytes(), SystemFlags::default(), &[]);
    account.shared()
}

/// GENURLAUTH of `rump`: the signed URL from `* GENURLAUTH`.
fn generate(client: &mut Client, rump: &str) -> String {
    let lines = client.send(&format!("g1 GENURLAUTH \"{rump}\" INTERNAL\r\n"));
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[1], "S: g1 OK GENURLAUTH completed");
    let signed = lines[0].strip_prefix("S: * GENURLAUTH \"").unwrap().strip_suffix('"').unwrap();
    signed.to_owned()
}

#[test]
fn generated_urls_fetch_message_section_and_range() {
    let mut client = Client::logged_in(&account());
    let rump = format!("{BASE}2;URLAUTH=user+mox%40localhost");
    let signed = generate(&mut client, &rump);
    // The memory account's first key is 1 in every byte.
    assert_eq!(signed, format!("{rump}:INTERNAL:{}", urlauth_mac(&[1; 32], &rump)));
    let whole = generate(&mut client, &format!("{BASE}1;URLAUTH=authuser"));
    let section = generate(&mut client, &format!("{BASE}2/;SECTION=2;URLAUTH=authuser"));
    let partial = generate(&mut client, &format!("{BASE}2/;SECTION=1/;PARTIAL=2.4;URLAUTH=authuser"));
    let lines = client.send(&format!("f1 URLFETCH \"{whole}\" \"{section}\" \"{partial}\"\r\n"));
    let body = String::from_utf8(message(1)).unwrap();
    let mut expected = vec![format!("S: * URLFETCH \"{whole}\" {{{}}}", body.len())];
    let body_lines: Vec<String> = body.split("\r\n").map(|line| format!("S: {line}")).collect();
    expected.extend(body_lines[..body_lines.len() - 1].iter().cloned());
    expected.push(format!("S:  \"{section}\" {{11}}"));
    expected.push(format!("S: second part \"{partial}\" {{4}}"));
    expected.push("S: rst ".to_owned());
    expected.push("S: f1 OK URLFETCH completed".to_owned());
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    assert_lines(&lines, &expected);
    // The source keeps its flags: URLFETCH sets no \Seen.
    let lines = client.send("s1 STATUS INBOX (UNSEEN)\r\n");
    assert_lines(&lines, &["S: * STATUS INBOX (UNSEEN 2)", "S: s1 OK STATUS completed"]);
}

#[test]
fn tampered_expired_foreign_and_submit_urls_are_nil() {
    let mut client = Client::logged_in(&account());
    let good = generate(&mut client, &format!("{BASE}1;URLAUTH=user+mox%40localhost"));
    let mut tampered = good.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'0' { b'1' } else { b'0' };
    let tampered = String::from_utf8(tampered).unwrap();
    // The memory account's clock is 2023-11-14.
    let expired = generate(&mut client, &format!("{BASE}1;EXPIRE=2023-01-01T00:00:00Z;URLAUTH=authuser"));
    let later = generate(&mut client, &format!("{BASE}1;EXPIRE=2030-01-01T00:00:00Z;URLAUTH=authuser"));
    let submit = generate(&mut client, &format!("{BASE}1;URLAUTH=submit+mox%40localhost"));
    let other_uid = good.replacen(";UID=1;", ";UID=2;", 1);
    let lines = client.send(&format!(
        "f1 URLFETCH \"{tampered}\" \"{expired}\" \"{submit}\" \"{other_uid}\" \"/INBOX/;UID=1\"\r\n"
    ));
    assert_lines(
        &lines,
        &[
            &format!(
                "S: * URLFETCH \"{tampered}\" NIL \"{expired}\" NIL \"{submit}\" NIL \"{other_uid}\" NIL \"/INBOX/;UID=1\" NIL"
            ),
            "S: f1 OK URLFETCH completed",
        ],
    );
    let lines = client.send(&format!("f2 URLFETCH \"{later}\"\r\n"));
    assert!(lines[0].ends_with(" {152}"), "{lines:?}");
}

#[test]
fn resetkey_invalidates_and_generation_refusals() {
    let mut client = Client::logged_in(&account());
    let url = generate(&mut client, &format!("{BASE}1;URLAUTH=authuser"));
    let drafts = generate(&mut client, "imap://mox%40localhost@mx.example/Drafts/;UID=1;URLAUTH=authuser");
    let lines =
        client.send("r1 RESETKEY INBOX INTERNAL\r\nr2 RESETKEY Nothing\r\nr3 RESETKEY INBOX OTHER\r\n");
    assert_lines(
        &lines,
        &[
            "S: r1 OK RESETKEY completed",
            "S: r2 NO [NONEXISTENT] no mailbox \"Nothing\"",
            "S: r3 NO [CANNOT] only INTERNAL URLAUTH",
        ],
    );
    let lines = client.send(&format!("f1 URLFETCH \"{url}\"\r\n"));
    assert_lines(&lines, &[&format!("S: * URLFETCH \"{url}\" NIL"), "S: f1 OK URLFETCH completed"]);
    // A new key signs anew; the old URL stays worthless.
    let again = generate(&mut client, &format!("{BASE}1;URLAUTH=authuser"));
    assert_ne!(again, url);
    let lines = client.send("r4 RESETKEY\r\n");
    assert_lines(&lines, &["S: r4 OK RESETKEY completed"]);
    let lines = client.send(&format!("f2 URLFETCH \"{again}\" \"{drafts}\"\r\n"));
    assert_lines(
        &lines,
        &[&format!("S: * URLFETCH \"{again}\" NIL \"{drafts}\" NIL"), "S: f2 OK URLFETCH completed"],
    );
    let lines = client.send(
        "g1 GENURLAUTH \"imap://other@mx.example/INBOX/;UID=1;URLAUTH=authuser\" INTERNAL\r\n\
         g2 GENURLAUTH \"imap://mox%40localhost@elsewhere.example/INBOX/;UID=1;URLAUTH=authuser\" INTERNAL\r\n\
         g3 GENURLAUTH \"imap://mox%40localhost@mx.example/INBOX/;UID=1;URLAUTH=anonymous\" INTERNAL\r\n\
         g4 GENURLAUTH \"imap://mox%40localhost@mx.example/INBOX/;UID=1;URLAUTH=authuser\" OTHER\r\n\
         g5 GENURLAUTH \"/INBOX/;UID=1;URLAUTH=authuser\" INTERNAL\r\n\
         g6 GENURLAUTH \"imap://mox%40localhost@mx.example/Nothing/;UID=1;URLAUTH=authuser\" INTERNAL\r\n\
         g7 GENURLAUTH\r\n",
    );
    assert_lines(
        &lines,
        &[
            "S: g1 NO [NOPERM] URL names another user",
            "S: g2 NO [BADURL imap://mox%40localhost@elsewhere.example/INBOX/;UID=1;URLAUTH=authuser] URL names another server",
            "S: g3 NO [BADURL ...",
            "S: g4 NO [CANNOT] only INTERNAL URLAUTH",
            "S: g5 NO [BADURL /INBOX/;UID=1;URLAUTH=authuser] a URLAUTH URL names its user and server",
            "S: g6 NO [NONEXISTENT] no mailbox \"Nothing\"",
            "S: g7 BAD ...",
        ],
    );
}

#[test]
fn pipelined_commands_fed_in_pieces() {
    let rump = format!("{BASE}2/;SECTION=1;URLAUTH=authuser");
    let signed = format!("{rump}:INTERNAL:{}", urlauth_mac(&[1; 32], &rump));
    let script = format!(
        "C: g1 GENURLAUTH \"{rump}\" INTERNAL \"{rump}\" internal\r\n\
         C: f1 URLFETCH \"{signed}\" {{{}+}}\r\n{signed} \"{signed}x\"\r\n\
         C: r1 RESETKEY\r\n\
         C: f2 URLFETCH \"{signed}\"\r\n",
        signed.len()
    );
    imap_session_common::check_with(
        account,
        &script,
        &[
            &format!("S: * GENURLAUTH \"{signed}\" \"{signed}\""),
            "S: g1 OK GENURLAUTH completed",
            &format!("S: * URLFETCH \"{signed}\" {{10}}"),
            &format!("S: first part \"{signed}\" {{10}}"),
            &format!("S: first part \"{signed}x\" NIL"),
            "S: f1 OK URLFETCH completed",
            "S: r1 OK RESETKEY completed",
            &format!("S: * URLFETCH \"{signed}\" NIL"),
            "S: f2 OK URLFETCH completed",
        ],
    );
}
