//! Transcript tests of COMPRESS (RFC 4978 §3), the protocol side: valid once logged in
//! and once per connection (`NO [COMPRESSIONACTIVE]` after), `BAD` for an unknown
//! mechanism and before login, the tagged OK written before the switch and no input read
//! until the caller has turned compression on, COMPRESS=DEFLATE offered only once logged
//! in (and hideable per account), STARTTLS refused after it. The DEFLATE bytes
//! themselves are the runtime's (`moxide_runtime::compress`); here the storage side
//! in memory turns compression "on" without changing bytes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod imap_session_common;

use std::sync::Arc;

use imap_session_common::{Client, account, assert_lines, check, config, lines};
use moxide_protocols::imap::server::{Event, Output};

#[test]
fn compress_once_logged_in_and_only_once() {
    let client = check(
        "C: c1 COMPRESS BOGUS\r\nC: c2 COMPRESS deflate\r\nC: c3 COMPRESS DEFLATE\r\nC: c4 SELECT INBOX\r\n\
         C: c5 COMPRESS DEFLATE\r\nC: c6 COMPRESS\r\nC: c7 STARTTLS\r\n",
        &[
            "S: c1 BAD unknown compression mechanism (DEFLATE is the one we know)",
            "S: c2 OK DEFLATE active",
            "S: c3 NO [COMPRESSIONACTIVE] compression is already active",
            "S: * FLAGS ...",
            "S: * OK [PERMANENTFLAGS ...",
            "S: * 3 EXISTS",
            "S: * 3 RECENT",
            "S: * OK [UNSEEN 1] first unseen",
            "S: * OK [UIDVALIDITY 1001] UIDs valid",
            "S: * OK [UIDNEXT 4] predicted next UID",
            "S: * OK [HIGHESTMODSEQ 4] highest",
            "S: * OK [MAILBOXID (F000003e900000001)] object id",
            "S: c4 OK [READ-WRITE] SELECT completed",
            "S: c5 NO [COMPRESSIONACTIVE] compression is already active",
            "S: c6 BAD COMPRESS: expected a space",
            "S: c7 BAD STARTTLS only before login",
        ],
    );
    assert!(client.session.is_compressed());
}

#[test]
fn compress_before_login_is_refused_and_not_offered() {
    let account = account();
    let mut client = Client::connect(&account, &Arc::new(config()));
    client.take_output();
    let got = client.send("a1 CAPABILITY\r\na2 COMPRESS DEFLATE\r\n");
    assert!(!got[0].contains("COMPRESS"), "{got:?}");
    assert_lines(&got[1..], &["S: a1 OK capabilities listed", "S: a2 BAD log in first"]);
    assert!(!client.session.is_compressed());
}

#[test]
fn capability_offers_compress_until_it_is_on() {
    let account = account();
    let mut client = Client::logged_in(&account);
    let before = client.send("a1 CAPABILITY\r\n");
    assert!(before[0].ends_with(" COMPRESS=DEFLATE"), "{before:?}");
    client.send("a2 COMPRESS DEFLATE\r\n");
    let after = client.send("a3 CAPABILITY\r\n");
    assert!(!after[0].contains("COMPRESS"), "{after:?}");
}

#[test]
fn an_account_may_hide_compress() {
    let account = account();
    let mut client = Client::logged_in(&account);
    client.session.hide_capabilities(&["compress".to_owned()]);
    let got = client.send("a1 CAPABILITY\r\na2 COMPRESS DEFLATE\r\n");
    assert!(!got[0].contains("COMPRESS"), "{got:?}");
    // A hidden extension is absent: its command is unknown (`server/hidden.rs`).
    assert_lines(&got[1..], &["S: a1 OK capabilities listed", "S: a2 BAD unknown command"]);
}

/// Bytes after the command are compressed ones: the session must not read them until the
/// caller switched (it hands them to the inflater), and the OK must be out first.
#[test]
fn nothing_is_read_between_the_ok_and_the_switch() {
    let account = account();
    let client = Client::logged_in(&account);
    let mut session = client.session;
    let input = b"z1 COMPRESS DEFLATE\r\n\x4b\x04\x00compressed";
    let used = session.handle_input(input, 0);
    assert_eq!(used, b"z1 COMPRESS DEFLATE\r\n".len());
    assert!(matches!(session.poll_event(), Some(Event::Compress)));
    assert_eq!(session.handle_input(&input[used..], 0), 0, "input read before the switch");
    let mut out = Vec::new();
    while let Some(Output::Bytes(bytes)) = session.pending_output() {
        out.extend_from_slice(bytes);
        let n = bytes.len() as u64;
        session.advance_output(n);
    }
    assert_lines(&lines(&out), &["S: z1 OK DEFLATE active"]);
    session.compression_started();
    assert!(session.is_compressed());
    let used = session.handle_input(b"z2 NOOP\r\n", 0);
    assert_eq!(used, 9);
}
