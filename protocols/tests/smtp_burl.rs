//! Transcript tests of BURL (RFC 4468) in the SMTP server session: offered on
//! submission only, taken after AUTH within a transaction with a recipient, mixed with
//! BDAT until `LAST`, a failed URL failing the transaction with the RFC's replies, the
//! size limit counted across BURL and BDAT.
//!
//! The driver in `common` plays the caller: mailbox `Drafts` holds, at UID n, n octets;
//! `Broken` fails on our side; any other mailbox names nothing (every failed check of a
//! real store looks the same). Each script is checked whole, byte by byte and in pieces.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{EHLO, check_with, config};
use moxide_protocols::smtp::ServerConfig;

const AUTH_OK: &str = "S: 235 2.7.0 authentication successful";
const MAIL_OK: &str = "S: 250 2.1.0 ok";
const RCPT_OK: &str = "S: 250 2.1.5 ok";
const QUEUED: &str = "S: 250 2.0.0 queued as Q1";
const WAITING: &str = "S: 250 2.5.0 waiting for additional BURL or BDAT commands";
const UNRESOLVED: &str = "S: 554 5.6.6 IMAP URL resolution failed";
const TRUST: &str = "S: 554 5.7.8 URL resolution requires trust relationship";
const TOO_BIG: &str = "S: 554 5.3.4 message too big for system";
const MAIL_FIRST: &str = "S: 503 5.5.1 MAIL first";

/// EHLO, AUTH PLAIN as bob, MAIL and one RCPT, all accepted.
const ENVELOPE: &str = "C: EHLO client.example\r\n\
                        C: AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n\
                        C: MAIL FROM:<bob@mx.example>\r\n\
                        C: RCPT TO:<carol@mx.example>\r\n";

/// The replies to [`ENVELOPE`].
const ENVELOPE_OK: [&str; 4] = [EHLO, AUTH_OK, MAIL_OK, RCPT_OK];

/// A submission listener with BURL; AUTH PLAIN allowed without TLS (the driver's
/// connection is plain).
fn burl_config() -> ServerConfig {
    ServerConfig {
        submission: true,
        burl: true,
        auth_mechanisms: vec!["PLAIN".to_owned()],
        auth_requires_tls: false,
        ..config()
    }
}

/// A URLAUTH URL for our host naming `mailbox` and `uid` (the driver's store).
fn url(mailbox: &str, uid: u32) -> String {
    format!(
        "imap://bob@mx.example/{mailbox};UIDVALIDITY=1/;UID={uid};URLAUTH=submit+bob:INTERNAL:{}",
        "0123456789abcdef".repeat(4)
    )
}

fn replies<'a>(parts: &[&'a str]) -> Vec<&'a str> {
    let mut all = ENVELOPE_OK.to_vec();
    all.extend_from_slice(parts);
    all
}

#[test]
fn ehlo_advertises_burl_imap_on_submission_only() {
    let t = check_with(&burl_config(), "C: EHLO client.example\r\n", &[EHLO]);
    assert_eq!(t.replies.last().map(String::as_str), Some("S: 250 BURL imap"));
    let t = check_with(&config(), "C: EHLO client.example\r\n", &[EHLO]);
    assert!(!t.replies.iter().any(|line| line.contains("BURL")), "{:?}", t.replies);
}

#[test]
fn burl_last_sends_the_message() {
    let script = format!("{ENVELOPE}C: BURL {} LAST\r\nC: NOOP\r\n", url("Drafts", 5));
    let t = check_with(&burl_config(), script, &replies(&[QUEUED, "S: 250 2.0.0 ok"]));
    let tail: Vec<&str> = t.events.iter().rev().take(3).rev().map(String::as_str).collect();
    assert_eq!(tail, ["start", "burl Drafts/5 room=1000 LAST", "end"]);
}

#[test]
fn burl_and_bdat_mix_until_last() {
    let script = format!("{ENVELOPE}C: BDAT 3\r\nabcC: BURL {} \r\nC: BDAT 2 LAST\r\nyz", url("Drafts", 4));
    // A trailing space after the URL is tolerated as after any command.
    let t =
        check_with(&burl_config(), script, &replies(&["S: 250 2.0.0 3 octets received", WAITING, QUEUED]));
    let tail: Vec<&str> = t.events.iter().rev().take(5).rev().map(String::as_str).collect();
    assert_eq!(tail, ["start", "body abc", "burl Drafts/4 room=997", "body yz", "end"]);
    // BURL first, BURL LAST after it.
    let script = format!("{ENVELOPE}C: BURL {}\r\nC: BURL {} LAST\r\n", url("Drafts", 4), url("Drafts", 6));
    let t = check_with(&burl_config(), script, &replies(&[WAITING, QUEUED]));
    assert!(t.events.contains(&"burl Drafts/6 room=996 LAST".to_owned()), "{:?}", t.events);
}

#[test]
fn burl_needs_auth_a_transaction_and_a_recipient() {
    let url = url("Drafts", 5);
    let script = format!("C: EHLO client.example\r\nC: BURL {url} LAST\r\n");
    check_with(&burl_config(), script, &[EHLO, "S: 530 5.7.0 authentication required"]);
    let script =
        format!("C: EHLO client.example\r\nC: AUTH PLAIN AGJvYgBzZWNyZXQ=\r\nC: BURL {url} LAST\r\n");
    check_with(&burl_config(), script, &[EHLO, AUTH_OK, MAIL_FIRST]);
    // RFC 4468 §3.2: every RCPT failed, BURL fails without resolving; the transaction
    // stays for another RCPT.
    let script = format!(
        "C: EHLO client.example\r\nC: AUTH PLAIN AGJvYgBzZWNyZXQ=\r\nC: MAIL FROM:<bob@mx.example>\r\n\
         C: RCPT TO:<unknown@mx.example>\r\nC: BURL {url} LAST\r\nC: RCPT TO:<carol@mx.example>\r\n\
         C: BURL {url} LAST\r\n"
    );
    let t = check_with(
        &burl_config(),
        script,
        &[
            EHLO,
            AUTH_OK,
            MAIL_OK,
            "S: 550 5.1.1 no such user",
            "S: 554 5.5.0 no valid recipients",
            RCPT_OK,
            QUEUED,
        ],
    );
    assert_eq!(t.events.iter().filter(|e| e.starts_with("burl")).count(), 1, "{:?}", t.events);
}

#[test]
fn burl_is_an_unknown_command_where_not_offered() {
    let script = format!("C: EHLO client.example\r\nC: BURL {} LAST\r\n", url("Drafts", 5));
    check_with(&config(), script, &[EHLO, "S: 500 5.5.1 command not recognized"]);
}

#[test]
fn foreign_and_non_urlauth_urls_need_a_trust_relationship_and_fail_the_transaction() {
    let foreign = url("Drafts", 5).replace("mx.example", "imap.elsewhere.example");
    for bad in [
        foreign.as_str(),
        "http://mx.example/Drafts",
        "imap://bob@mx.example/Drafts/;UID=5",
        "file:///etc/passwd",
    ] {
        let script = format!("{ENVELOPE}C: BURL {bad} LAST\r\nC: BDAT 0 LAST\r\n");
        let t = check_with(&burl_config(), script, &replies(&[TRUST, MAIL_FIRST]));
        assert!(!t.events.iter().any(|e| e.starts_with("burl") || e == "start"), "{bad}: {:?}", t.events);
        assert!(t.events.contains(&"reset".to_owned()), "{bad}: {:?}", t.events);
    }
}

/// MAIL and RCPT again, after a failed transaction.
const AGAIN: &str = "C: MAIL FROM:<bob@mx.example>\r\nC: RCPT TO:<carol@mx.example>\r\n";

#[test]
fn unresolved_urls_get_one_reply_and_the_session_goes_on() {
    // A URLAUTH URL of ours that does not parse, and one the store does not resolve.
    let broken_syntax = "imap://bob@mx.example/Drafts/;UID=x;URLAUTH=submit+bob:INTERNAL:00";
    let script = format!("{ENVELOPE}C: BURL {broken_syntax} LAST\r\nC: BDAT 0 LAST\r\n");
    let t = check_with(&burl_config(), script, &replies(&[UNRESOLVED, MAIL_FIRST]));
    assert!(!t.events.iter().any(|e| e.starts_with("burl")), "{:?}", t.events);
    let script = format!(
        "{ENVELOPE}C: BURL {} LAST\r\nC: BDAT 0 LAST\r\n{AGAIN}C: BDAT 1 LAST\r\nx",
        url("Missing", 5)
    );
    let t = check_with(&burl_config(), script, &replies(&[UNRESOLVED, MAIL_FIRST, MAIL_OK, RCPT_OK, QUEUED]));
    let tail: Vec<&str> = t.events.iter().skip_while(|e| *e != "start").map(String::as_str).collect();
    assert_eq!(tail[..3], ["start", "burl Missing/5 room=1000 LAST", "aborted BurlFailed"], "{:?}", t.events);
    // Our own failure: its 4xx, and the transaction fails all the same.
    let script = format!("{ENVELOPE}C: BDAT 2\r\nhiC: BURL {}\r\nC: BDAT 0 LAST\r\n", url("Broken", 1));
    check_with(
        &burl_config(),
        script,
        &replies(&["S: 250 2.0.0 2 octets received", "S: 451 4.3.0 try again later", MAIL_FIRST]),
    );
}

#[test]
fn size_limit_counts_bdat_and_burl_at_n_and_n_plus_one() {
    // 995 + 5 = 1000 = message_bytes_max: accepted.
    let chunk = "y".repeat(995);
    let script = format!("{ENVELOPE}C: BDAT 995\r\n{chunk}C: BURL {} LAST\r\n", url("Drafts", 5));
    check_with(&burl_config(), script, &replies(&["S: 250 2.0.0 995 octets received", QUEUED]));
    // 995 + 6: refused before anything is appended, and the transaction is over.
    let script =
        format!("{ENVELOPE}C: BDAT 995\r\n{chunk}C: BURL {} LAST\r\nC: BDAT 0 LAST\r\n", url("Drafts", 6));
    let t = check_with(
        &burl_config(),
        script,
        &replies(&["S: 250 2.0.0 995 octets received", TOO_BIG, MAIL_FIRST]),
    );
    assert!(t.events.contains(&"aborted TooLarge".to_owned()), "{:?}", t.events);
    // A first BURL alone over the limit.
    let script = format!("{ENVELOPE}C: BURL {} LAST\r\n", url("Drafts", 1001));
    check_with(&burl_config(), script, &replies(&[TOO_BIG]));
}

#[test]
fn rset_bad_burl_and_data_end_an_open_message() {
    let url = url("Drafts", 3);
    let script = format!("{ENVELOPE}C: BURL {url}\r\nC: RSET\r\nC: BDAT 0 LAST\r\n");
    let t = check_with(&burl_config(), script, &replies(&[WAITING, "S: 250 2.0.0 ok", MAIL_FIRST]));
    assert!(t.events.contains(&"aborted Reset".to_owned()), "{:?}", t.events);
    let script = format!("{ENVELOPE}C: BURL {url}\r\nC: BURL {url} LAST extra\r\nC: BDAT 0 LAST\r\n");
    let t = check_with(
        &burl_config(),
        script,
        &replies(&[WAITING, "S: 501 5.5.2 syntax: BURL absolute-URI [LAST]", MAIL_FIRST]),
    );
    assert!(t.events.contains(&"aborted BdatFailed".to_owned()), "{:?}", t.events);
    let script = format!("{ENVELOPE}C: BURL {url}\r\nC: DATA\r\n");
    check_with(&burl_config(), script, &replies(&[WAITING, "S: 503 5.5.1 DATA not allowed after BDAT"]));
}

#[test]
fn fuzz_seed_for_burl_drives_the_session() {
    let seed = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/smtp_server/burl_submission");
    let input = std::fs::read(seed).unwrap();
    // The seed's first byte (`R`) picks submission mode in the fuzz target; its AUTHs
    // (a wrong password, then PLAIN with the response on its own line) suit both the
    // fuzz target's alternating answers and this driver's toy SASL.
    let t = common::drive(&burl_config(), &input, &[input.len()]);
    assert!(t.events.contains(&"burl Drafts/5 room=997".to_owned()), "{:?}", t.events);
    assert!(t.events.contains(&"burl Drafts/6 room=992 LAST".to_owned()), "{:?}", t.events);
    assert!(t.replies.contains(&TRUST.to_owned()), "{:?}", t.replies);
    assert!(t.events.contains(&"aborted Reset".to_owned()), "{:?}", t.events);
    assert!(t.closed);
}

#[test]
fn message_start_rejected_for_burl_resolves_nothing() {
    let script = format!(
        "C: EHLO client.example\r\nC: AUTH PLAIN AGJvYgBzZWNyZXQ=\r\nC: MAIL FROM:<nodata@mx.example>\r\n\
         C: RCPT TO:<carol@mx.example>\r\nC: BURL {} LAST\r\nC: BDAT 0 LAST\r\n",
        url("Drafts", 5)
    );
    let t = check_with(
        &burl_config(),
        script,
        &[EHLO, AUTH_OK, MAIL_OK, RCPT_OK, "S: 554 5.7.1 not from you", MAIL_FIRST],
    );
    assert!(!t.events.iter().any(|e| e.starts_with("burl")), "{:?}", t.events);
}
