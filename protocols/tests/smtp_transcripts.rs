//! Transcript tests of the SMTP server session (RFC 5321, 1870, 2920, 3030, 6152, 6531,
//! 9422): client lines in, server reply lines and session events out.
//!
//! Each `check` also feeds the input one byte at a time and in 7-byte pieces and
//! requires the same result (see `common`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{EHLO, check, check_with, client_bytes, config, drive, steps};
use moxide_protocols::smtp::{
    BODY_CHUNK_BYTES_MAX, COMMAND_LINE_BYTES_MAX, Event, OUTPUT_BYTES_MAX, ServerConfig, ServerSession,
    Verdict,
};

const MAIL_OK: &str = "S: 250 2.1.0 ok";
const RCPT_OK: &str = "S: 250 2.1.5 ok";
const GO_AHEAD: &str = "S: 354 start mail input; end with <CRLF>.<CRLF>";
const QUEUED: &str = "S: 250 2.0.0 queued as Q1";
const BYE: &str = "S: 221 2.0.0 mx.example closing connection";
const OUT_OF_SEQUENCE: &str = "S: 503 5.5.1 MAIL first";
const TOO_LARGE: &str = "S: 552 5.3.4 message too large";
const BARE: &str = "S: 550 5.6.0 message contains bare CR or LF (RFC 5321 section 2.3.8)";

/// EHLO, MAIL and one RCPT, all accepted.
const ENVELOPE: &str = "C: EHLO client.example\r\n\
                        C: MAIL FROM:<alice@client.example>\r\n\
                        C: RCPT TO:<bob@mx.example>\r\n";

fn script(parts: &[&str]) -> String {
    parts.concat()
}

// ----- greeting, HELO/EHLO, simple commands -----

#[test]
fn greeting_names_the_host() {
    let session = ServerSession::new(Arc::new(ServerConfig::default()));
    assert_eq!(session.pending_output(), b"220 localhost ESMTP moxide\r\n");
    assert!(!session.wants_close());
    assert_eq!(session.helo_name(), None);
}

#[test]
fn quit() {
    let t = check("C: QUIT\r\nC: NOOP\r\n", &[BYE]);
    assert_eq!(t.events, ["quit"]);
    assert!(t.closed);
    assert_eq!(t.leftover, b"NOOP\r\n", "nothing after QUIT is read");
}

#[test]
fn ehlo_advertises_extensions_and_helo_gets_one_line() {
    let t = check("C: EHLO client.example\r\nC: HELO other.example\r\n", &[EHLO, "S: 250 mx.example"]);
    assert_eq!(t.events, ["helo EHLO client.example", "helo HELO other.example"]);
    check(
        "C: HELO\r\nC: EHLO a b\r\n",
        &["S: 501 5.5.2 syntax: HELO domain", "S: 501 5.5.2 syntax: EHLO domain"],
    );
}

#[test]
fn helo_name_and_esmtp_are_remembered() {
    let mut session = ServerSession::new(Arc::new(config()));
    assert_eq!(session.handle_input(b"EHLO c.example\r\n", 0), 16);
    assert!(session.poll_event().is_some());
    assert_eq!(session.helo_name(), Some("c.example"));
    assert!(session.esmtp());
    session.handle_input(b"HELO d.example\r\n", 0);
    assert!(session.poll_event().is_some());
    assert_eq!(session.helo_name(), Some("d.example"));
    assert!(!session.esmtp());
}

#[test]
fn simple_commands() {
    let t = check(
        "C: NOOP\r\nC: noop hello\r\nC: RSET\r\nC: VRFY bob\r\nC: EXPN list\r\nC: HELP\r\n",
        &[
            "S: 250 2.0.0 ok",
            "S: 250 2.0.0 ok",
            "S: 250 2.0.0 ok",
            "S: 252 2.5.0 cannot verify, but will accept the message and try delivery",
            "S: 252 2.5.0 cannot verify, but will accept the message and try delivery",
            "S: 214 2.0.0 commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY EXPN HELP",
        ],
    );
    assert!(t.events.is_empty());
}

#[test]
fn unknown_and_malformed_commands() {
    check(
        "C: FOO\r\nC: STARTTLS\r\nC: AUTH PLAIN\r\nC: DATA now\r\nC: RSET x\r\nC: \r\n",
        &[
            "S: 500 5.5.1 command not recognized",
            // Known verbs of extensions this listener does not offer.
            "S: 502 5.5.1 STARTTLS not available",
            "S: 503 5.5.1 authentication not available",
            "S: 501 5.5.2 syntax: DATA",
            "S: 501 5.5.2 syntax: RSET",
            "S: 500 5.5.2 empty command",
        ],
    );
}

#[test]
fn command_lines_must_end_in_crlf_and_hold_no_controls() {
    check(
        "C: NOOP\nC: NO\0OP\r\nC: NOOP\rQUIT\r\nC: NOOP \x7f\r\nC: NOOP\r\n",
        &[
            "S: 500 5.5.2 command line must end with CRLF",
            "S: 500 5.5.2 invalid character in command",
            "S: 500 5.5.2 invalid character in command",
            "S: 500 5.5.2 invalid character in command",
            "S: 250 2.0.0 ok",
        ],
    );
    check(b"C: NOOP \xff\xfe\r\n", &["S: 500 5.5.2 command is not valid UTF-8"]);
}

// ----- a whole transaction -----

#[test]
fn data_transaction() {
    let t = check(
        script(&[
            ENVELOPE,
            "C: DATA\r\n\
             C: Subject: hi\r\n\
             C: \r\n\
             C: ..dot\r\n\
             C: .\r\n\
             C: QUIT\r\n",
        ]),
        &[EHLO, MAIL_OK, RCPT_OK, GO_AHEAD, QUEUED, BYE],
    );
    assert_eq!(
        t.events,
        [
            "helo EHLO client.example",
            "mail <alice@client.example> body=SevenBit",
            "rcpt <bob@mx.example>",
            "start",
            r"body Subject: hi\r\n\r\n.dot\r\n",
            "end",
            "quit",
        ]
    );
}

#[test]
fn two_messages_in_one_session_and_null_sender_and_postmaster() {
    let t = check(
        script(&[
            ENVELOPE,
            "C: DATA\r\nC: one\r\nC: .\r\n\
             C: MAIL FROM:<> BODY=8BITMIME SIZE=10\r\n\
             C: RCPT TO:<Postmaster>\r\n\
             C: DATA\r\nC: two\r\nC: .\r\n",
        ]),
        &[EHLO, MAIL_OK, RCPT_OK, GO_AHEAD, QUEUED, MAIL_OK, RCPT_OK, GO_AHEAD, QUEUED],
    );
    assert_eq!(
        t.events[4..],
        [
            r"body one\r\n",
            "end",
            "mail <> size=10 body=EightBitMime",
            "rcpt <Postmaster>",
            "start",
            r"body two\r\n",
            "end",
        ]
    );
}

#[test]
fn transaction_is_visible_until_the_message_is_answered() {
    let mut session = ServerSession::new(Arc::new(config()));
    let input = client_bytes(
        script(&[ENVELOPE, "C: RCPT TO:<carol@mx.example>\r\nC: DATA\r\nC: x\r\nC: .\r\n"]).as_bytes(),
    );
    let mut used = 0;
    let mut saw_end = false;
    while !saw_end {
        used += session.handle_input(&input[used..], 0);
        while let Some(event) = session.poll_event() {
            match event {
                Event::MessageEnd => saw_end = true,
                Event::MailFrom(_) | Event::RcptTo(_) | Event::MessageStart => {
                    session.answer(Verdict::Accept);
                }
                _ => {}
            }
        }
    }
    let transaction = session.transaction().expect("transaction during MessageEnd");
    assert_eq!(transaction.mail_from.path.to_string(), "alice@client.example");
    let recipients: Vec<String> = transaction.recipients.iter().map(|r| r.to_string()).collect();
    assert_eq!(recipients, ["bob@mx.example", "carol@mx.example"]);
    session.answer(Verdict::Accept);
    assert!(session.transaction().is_none());
    assert!(session.pending_output().ends_with(b"250 2.0.0 ok\r\n"));
}

// ----- sequence errors -----

#[test]
fn commands_out_of_sequence() {
    check(
        "C: MAIL FROM:<a@b.example>\r\n\
         C: EHLO c\r\n\
         C: RCPT TO:<a@b.example>\r\n\
         C: DATA\r\n\
         C: MAIL FROM:<a@b.example>\r\n\
         C: DATA\r\n\
         C: MAIL FROM:<a@b.example>\r\n",
        &[
            "S: 503 5.5.1 send HELO or EHLO first",
            EHLO,
            OUT_OF_SEQUENCE,
            OUT_OF_SEQUENCE,
            MAIL_OK,
            "S: 503 5.5.1 RCPT first",
            "S: 503 5.5.1 nested MAIL command",
        ],
    );
}

#[test]
fn rset_and_ehlo_end_the_transaction() {
    let t = check(
        script(&[
            ENVELOPE,
            "C: RSET\r\nC: DATA\r\n\
             C: MAIL FROM:<a@b.example>\r\nC: EHLO again\r\nC: RCPT TO:<x@y.example>\r\n",
        ]),
        &[EHLO, MAIL_OK, RCPT_OK, "S: 250 2.0.0 ok", OUT_OF_SEQUENCE, MAIL_OK, EHLO, OUT_OF_SEQUENCE],
    );
    assert_eq!(t.events[3..], ["reset", "mail <a@b.example> body=SevenBit", "reset", "helo EHLO again"]);
}

// ----- MAIL and RCPT parameters and addresses -----

#[test]
fn mail_size_at_and_over_the_limit() {
    check(
        "C: EHLO c\r\n\
         C: MAIL FROM:<a@b.example> SIZE=1001\r\n\
         C: MAIL FROM:<a@b.example> SIZE=1000\r\n",
        &[EHLO, TOO_LARGE, MAIL_OK],
    );
}

#[test]
fn mail_parameter_errors() {
    check(
        "C: EHLO c\r\n\
         C: MAIL FROM:<a@b.example> RET=HDRS\r\n\
         C: MAIL FROM:<a@b.example> BODY=9BIT\r\n\
         C: MAIL FROM:a@b.example\r\n\
         C: MAIL FROM:<a@b..example>\r\n\
         C: MAIL <a@b.example>\r\n\
         C: MAIL FROM: <a@b.example> BODY=binarymime\r\n\
         C: RCPT TO:<c@d.example> NOTIFY=NEVER\r\n\
         C: RCPT TO:<c@@d.example>\r\n\
         C: RCPT TO: <c@d.example>\r\n",
        &[
            EHLO,
            "S: 555 5.5.4 unsupported parameter",
            "S: 501 5.5.4 bad BODY",
            "S: 501 5.1.7 bad sender address: path must be enclosed in <>",
            "S: 501 5.1.7 bad sender address: invalid domain",
            "S: 501 5.5.2 syntax: MAIL FROM:<address> [parameters]",
            MAIL_OK,
            "S: 555 5.5.4 unsupported parameter",
            "S: 501 5.1.3 bad recipient address: invalid domain",
            RCPT_OK,
        ],
    );
}

#[test]
fn utf8_addresses_need_smtputf8() {
    let t = check(
        "C: EHLO c\r\n\
         C: MAIL FROM:<jöran@b.example>\r\n\
         C: MAIL FROM:<a@b.example>\r\n\
         C: RCPT TO:<bob@bücher.example>\r\n\
         C: RSET\r\n\
         C: MAIL FROM:<jöran@b.example> SMTPUTF8\r\n\
         C: RCPT TO:<bob@bücher.example>\r\n",
        &[
            EHLO,
            "S: 553 5.6.7 non-ASCII address requires SMTPUTF8",
            MAIL_OK,
            "S: 553 5.6.7 non-ASCII address requires SMTPUTF8",
            "S: 250 2.0.0 ok",
            MAIL_OK,
            RCPT_OK,
        ],
    );
    assert_eq!(t.events[3..], ["mail <jöran@b.example> body=SevenBit smtputf8", "rcpt <bob@bücher.example>"]);
}

#[test]
fn binarymime_refuses_data_but_takes_bdat() {
    let t = check(
        b"C: EHLO c\r\n\
         C: MAIL FROM:<a@b.example> BODY=BINARYMIME\r\n\
         C: RCPT TO:<c@d.example>\r\n\
         C: DATA\r\n\
         C: BDAT 4 LAST\r\n\
         \0\x01\r\xff",
        &[EHLO, MAIL_OK, RCPT_OK, "S: 503 5.5.1 BODY=BINARYMIME requires BDAT", QUEUED],
    );
    assert_eq!(t.events[3..], ["start", r"body \x00\x01\r\xff", "end"]);
}

#[test]
fn verdicts_reject_senders_and_recipients() {
    let t = check(
        "C: EHLO c\r\n\
         C: MAIL FROM:<spammer@b.example>\r\n\
         C: MAIL FROM:<a@b.example>\r\n\
         C: RCPT TO:<unknown@d.example>\r\n\
         C: RCPT TO:<busy@d.example>\r\n\
         C: DATA\r\n\
         C: RCPT TO:<c@d.example>\r\n",
        &[
            EHLO,
            "S: 550 5.7.1 sender refused",
            MAIL_OK,
            "S: 550 5.1.1 no such user",
            "S: 451 4.3.0 try again later",
            "S: 503 5.5.1 RCPT first",
            RCPT_OK,
        ],
    );
    assert_eq!(t.events.len(), 6);
}

// ----- limits at N and N+1 -----

#[test]
fn recipients_max_at_n_and_n_plus_one() {
    let config = ServerConfig { recipients_max: 3, errors_max: 0, ..config() };
    let t = check_with(
        &config,
        "C: EHLO c\r\n\
         C: MAIL FROM:<a@b.example>\r\n\
         C: RCPT TO:<r1@d.example>\r\n\
         C: RCPT TO:<r2@d.example>\r\n\
         C: RCPT TO:<r3@d.example>\r\n\
         C: RCPT TO:<r4@d.example>\r\n\
         C: RCPT TO:<r5@d.example>\r\n\
         C: DATA\r\nC: .\r\n",
        &[
            EHLO,
            MAIL_OK,
            RCPT_OK,
            RCPT_OK,
            RCPT_OK,
            "S: 452 4.5.3 too many recipients",
            "S: 452 4.5.3 too many recipients",
            GO_AHEAD,
            QUEUED,
        ],
    );
    // 452 is neither an accepted recipient (no event) nor an error (errors_max is 0).
    assert_eq!(t.events.iter().filter(|e| e.starts_with("rcpt")).count(), 3);
    assert!(!t.closed);
}

#[test]
fn errors_max_at_n_and_n_plus_one() {
    let config = ServerConfig { errors_max: 3, ..config() };
    let t = check_with(
        &config,
        "C: FOO\r\nC: RCPT TO:<a@b.example>\r\nC: DATA x\r\nC: NOOP\r\nC: BAR\r\nC: NOOP\r\n",
        &[
            "S: 500 5.5.1 command not recognized",
            OUT_OF_SEQUENCE,
            "S: 501 5.5.2 syntax: DATA",
            "S: 250 2.0.0 ok",
            "S: 421 4.7.0 mx.example too many errors",
        ],
    );
    assert!(t.closed);
    assert_eq!(t.leftover, b"NOOP\r\n");
}

#[test]
fn rejected_verdicts_count_as_errors() {
    let config = ServerConfig { errors_max: 2, ..config() };
    let t = check_with(
        &config,
        "C: EHLO c\r\n\
         C: MAIL FROM:<a@b.example>\r\n\
         C: RCPT TO:<unknown1@d.example>\r\n\
         C: RCPT TO:<unknown2@d.example>\r\n\
         C: RCPT TO:<unknown3@d.example>\r\n",
        &[
            EHLO,
            MAIL_OK,
            "S: 550 5.1.1 no such user",
            "S: 550 5.1.1 no such user",
            "S: 421 4.7.0 mx.example too many errors",
        ],
    );
    assert!(t.closed);
    assert_eq!(t.events.last().map(String::as_str), Some("reset"));
}

#[test]
fn commands_without_mail_at_n_and_n_plus_one() {
    let config = ServerConfig { commands_without_mail_max: 3, ..config() };
    // EHLO, NOOP, RSET: three; MAIL resets the count; then three more are fine.
    check_with(
        &config,
        "C: EHLO c\r\nC: NOOP\r\nC: RSET\r\n\
         C: MAIL FROM:<a@b.example>\r\nC: RSET\r\nC: VRFY x\r\nC: HELP\r\n",
        &[
            EHLO,
            "S: 250 2.0.0 ok",
            "S: 250 2.0.0 ok",
            MAIL_OK,
            "S: 250 2.0.0 ok",
            "S: 252 2.5.0 cannot verify, but will accept the message and try delivery",
            "S: 214 2.0.0 commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY EXPN HELP",
        ],
    );
    let t = check_with(
        &config,
        "C: EHLO c\r\nC: NOOP\r\nC: NOOP\r\nC: NOOP\r\nC: QUIT\r\n",
        &[
            EHLO,
            "S: 250 2.0.0 ok",
            "S: 250 2.0.0 ok",
            "S: 421 4.7.0 mx.example too many commands without a transaction",
        ],
    );
    assert!(t.closed);
    assert_eq!(t.leftover, b"QUIT\r\n");
}

#[test]
fn command_line_length_at_n_and_n_plus_one() {
    let config = ServerConfig { command_line_bytes_max: 512, ..config() };
    let at_limit = format!("NOOP {}\r\n", "x".repeat(512 - 7));
    assert_eq!(at_limit.len(), 512);
    let over_limit = format!("NOOP {}\r\n", "x".repeat(512 - 6));
    check_with(
        &config,
        format!("{at_limit}{over_limit}NOOP\r\n"),
        &["S: 250 2.0.0 ok", "S: 500 5.5.2 line too long", "S: 250 2.0.0 ok"],
    );
}

#[test]
fn a_200_kb_line_is_skipped_not_buffered() {
    let line = format!("MAIL FROM:<{}@b.example>\r\n", "a".repeat(200 * 1024));
    let t = check(format!("EHLO c\r\n{line}QUIT\r\n"), &[EHLO, "S: 500 5.5.2 line too long", BYE]);
    assert_eq!(t.events, ["helo EHLO c", "quit"]);
    // The session never holds more than one line's worth: it consumes an overlong
    // partial line as soon as it sees it is too long.
    let mut session = ServerSession::new(Arc::new(config()));
    let partial = vec![b'a'; 3 * COMMAND_LINE_BYTES_MAX];
    assert_eq!(session.handle_input(&partial, 0), partial.len());
    assert_eq!(session.handle_input(&partial[..10], 0), 10);
    assert_eq!(session.handle_input(b"\r\nNO", 0), 2);
}

#[test]
fn message_size_at_n_and_n_plus_one_and_the_session_goes_on() {
    let config = ServerConfig { message_bytes_max: 100, ..config() };
    // 98 octets of text plus CRLF is 100 octets of message.
    let body_at_limit = format!("{}\r\n", "a".repeat(98));
    let body_over_limit = format!("{}\r\n", "a".repeat(99));
    let t = check_with(
        &config,
        script(&[
            ENVELOPE,
            "C: DATA\r\n",
            &body_over_limit,
            "C: .\r\n",
            "C: MAIL FROM:<a@b.example>\r\nC: RCPT TO:<c@d.example>\r\nC: DATA\r\n",
            &body_at_limit,
            "C: .\r\n",
        ]),
        &[EHLO, MAIL_OK, RCPT_OK, GO_AHEAD, TOO_LARGE, MAIL_OK, RCPT_OK, GO_AHEAD, QUEUED],
    );
    let events: Vec<&str> = t.events.iter().map(|e| &e[..e.len().min(12)]).collect();
    assert_eq!(
        events[3..],
        ["start", "aborted TooL", "mail <a@b.ex", "rcpt <c@d.ex", "start", "body aaaaaaa", "end",]
    );
}

#[test]
fn output_limit_pauses_reading_until_flushed() {
    let config = ServerConfig { commands_without_mail_max: u32::MAX, ..config() };
    let mut session = ServerSession::new(Arc::new(config));
    let input = "NOOP\r\n".repeat(10_000);
    let used = session.handle_input(input.as_bytes(), 0);
    assert!(used < input.len(), "read everything without a flush");
    let pending = session.pending_output().len();
    assert!(pending > OUTPUT_BYTES_MAX && pending < OUTPUT_BYTES_MAX + 100);
    assert_eq!(session.handle_input(&input.as_bytes()[used..], 0), 0);
    session.advance_output(pending);
    assert!(session.handle_input(&input.as_bytes()[used..], 0) > 0);
}

// ----- pipelining -----

#[test]
fn pipelined_transaction_is_answered_in_order() {
    // The whole transaction in one buffer, answered as the caller decides.
    let input = client_bytes(
        script(&[ENVELOPE, "C: RCPT TO:<unknown@mx.example>\r\nC: DATA\r\nC: hi\r\nC: .\r\nC: QUIT\r\n"])
            .as_bytes(),
    );
    let mut session = ServerSession::new(Arc::new(config()));
    session.advance_output(session.pending_output().len());
    let mut used = session.handle_input(&input, 0);
    // Every event stops reading until it is polled, so the caller sees them in order.
    assert_eq!(&input[..used], b"EHLO client.example\r\n");
    assert!(matches!(session.poll_event(), Some(Event::Helo { .. })));
    used += session.handle_input(&input[used..], 0);
    // Stops right after MAIL: its answer is outstanding.
    assert!(input[..used].ends_with(b"MAIL FROM:<alice@client.example>\r\n"));
    assert!(matches!(session.poll_event(), Some(Event::MailFrom(_))));
    assert!(session.poll_event().is_none());
    assert_eq!(session.handle_input(&input[used..], 0), 0, "read past an unanswered MAIL");
    session.answer(Verdict::Accept);
    used += session.handle_input(&input[used..], 0);
    assert!(matches!(session.poll_event(), Some(Event::RcptTo(_))));
    session.answer(Verdict::Accept);
    used += session.handle_input(&input[used..], 0);
    assert!(matches!(session.poll_event(), Some(Event::RcptTo(_))));
    session.answer(Verdict::Reject(moxide_protocols::smtp::Reply::new(
        550,
        Some(moxide_protocols::smtp::EnhancedCode(5, 1, 1)),
        "no",
    )));
    used += session.handle_input(&input[used..], 0);
    assert_eq!(session.poll_event(), Some(Event::MessageStart));
    assert_eq!(session.handle_input(&input[used..], 0), 0, "body read before 354");
    session.answer(Verdict::Accept);
    used += session.handle_input(&input[used..], 0);
    assert_eq!(session.poll_event(), Some(Event::Body(b"hi\r\n")));
    assert_eq!(session.poll_event(), Some(Event::MessageEnd));
    assert_eq!(session.handle_input(&input[used..], 0), 0, "QUIT read before the 250");
    session.answer(Verdict::AcceptWith("id 7".to_owned()));
    used += session.handle_input(&input[used..], 0);
    assert_eq!(session.poll_event(), Some(Event::Quit));
    assert_eq!(used, input.len());
    assert_eq!(
        String::from_utf8_lossy(session.pending_output()),
        "250-mx.example\r\n250-PIPELINING\r\n250-SIZE 1000\r\n250-8BITMIME\r\n\
         250-SMTPUTF8\r\n250-ENHANCEDSTATUSCODES\r\n250-CHUNKING\r\n250-BINARYMIME\r\n\
         250 LIMITS RCPTMAX=5\r\n250 2.1.0 ok\r\n250 2.1.5 ok\r\n550 5.1.1 no\r\n\
         354 start mail input; end with <CRLF>.<CRLF>\r\n250 2.0.0 id 7\r\n\
         221 2.0.0 mx.example closing connection\r\n"
    );
}

// ----- DATA: unstuffing, terminator, smuggling -----

#[test]
fn terminator_split_at_every_position() {
    let input =
        client_bytes(script(&[ENVELOPE, "C: DATA\r\nC: a\r\nC: ..b\r\nC: .\r\nC: NOOP\r\n"]).as_bytes());
    let whole = drive(&config(), &input, &[input.len()]);
    assert_eq!(whole.events[3..], ["start", r"body a\r\n.b\r\n", "end"]);
    assert_eq!(whole.replies.last().map(String::as_str), Some("S: 250 2.0.0 ok"));
    for split in 1..input.len() {
        let split_run = drive(&config(), &input, &[split, input.len()]);
        assert_eq!(split_run, whole, "split at {split}");
    }
}

#[test]
fn smuggling_variants_are_rejected_and_never_executed() {
    for variant in ["\n.\n", "\r\n.\n", "\n.\r\n", "\r.\r", "\r.\r\n", "\r", "\n"] {
        let t = check(
            script(&[
                ENVELOPE,
                "C: DATA\r\n",
                "C: hello",
                variant,
                "MAIL FROM:<evil@x.example>\r\n\
                 RCPT TO:<victim@y.example>\r\n\
                 DATA\r\n\
                 smuggled\r\n\
                 .\r\n\
                 C: NOOP\r\n",
            ]),
            &[EHLO, MAIL_OK, RCPT_OK, GO_AHEAD, BARE, "S: 250 2.0.0 ok"],
        );
        assert_eq!(t.events[3..], ["start", "aborted BareCrOrLf"], "{variant:?}");
    }
}

#[test]
fn bare_lf_in_the_first_body_line_and_terminator_lookalikes() {
    // A bare LF right after 354 and a "." line ended by LF only.
    check(
        script(&[ENVELOPE, "C: DATA\r\n\n.\nC: x\r\nC: .\r\nC: NOOP\r\n"]),
        &[EHLO, MAIL_OK, RCPT_OK, GO_AHEAD, BARE, "S: 250 2.0.0 ok"],
    );
    // A session that saw a bad message still takes a good one.
    check(
        script(&[
            ENVELOPE,
            "C: DATA\r\nC: a\rb\r\nC: .\r\n",
            "C: MAIL FROM:<a@b.example>\r\nC: RCPT TO:<c@d.example>\r\n",
            "C: DATA\r\nC: good\r\nC: .\r\n",
        ]),
        &[EHLO, MAIL_OK, RCPT_OK, GO_AHEAD, BARE, MAIL_OK, RCPT_OK, GO_AHEAD, QUEUED],
    );
}

#[test]
fn message_start_rejected_for_data() {
    let t = check(
        "C: EHLO c\r\nC: MAIL FROM:<nodata@b.example>\r\nC: RCPT TO:<c@d.example>\r\n\
         C: DATA\r\nC: RCPT TO:<c@d.example>\r\n",
        &[EHLO, MAIL_OK, RCPT_OK, "S: 554 5.7.1 not from you", OUT_OF_SEQUENCE],
    );
    assert_eq!(t.events.last().map(String::as_str), Some("start"));
}

#[test]
fn message_end_rejected() {
    check(
        script(&[ENVELOPE, "C: DATA\r\nC: REJECTME\r\nC: .\r\nC: RCPT TO:<x@y.example>\r\n"]),
        &[EHLO, MAIL_OK, RCPT_OK, GO_AHEAD, "S: 554 5.6.0 content refused", OUT_OF_SEQUENCE],
    );
}

#[test]
fn large_body_arrives_intact_in_bounded_pieces() {
    let config = ServerConfig { message_bytes_max: 1 << 20, ..config() };
    let line = "0123456789abcdef".repeat(8);
    let body: String = (0..1700).map(|i| format!(".{i}{line}\r\n")).collect();
    let input = client_bytes(script(&[ENVELOPE, "C: DATA\r\n", &body, "C: .\r\n"]).as_bytes());
    let mut session = ServerSession::new(Arc::new(config));
    let mut used = 0;
    let mut message = Vec::new();
    let mut bodies = 0;
    while used < input.len() {
        used += session.handle_input(&input[used..], 0);
        while let Some(event) = session.poll_event() {
            match event {
                Event::Body(bytes) => {
                    assert!(bytes.len() <= BODY_CHUNK_BYTES_MAX);
                    message.extend_from_slice(bytes);
                    bodies += 1;
                }
                Event::Helo { .. } => {}
                _ => session.answer(Verdict::Accept),
            }
        }
    }
    let unstuffed = body.replace("\r\n.", "\r\n").replacen('.', "", 1);
    assert!(body.len() > 3 * BODY_CHUNK_BYTES_MAX);
    assert_eq!(message, unstuffed.as_bytes());
    assert!(bodies >= 4);
}

// ----- BDAT -----

#[test]
fn pipelined_bdat_chunks() {
    let t = check(
        script(&[ENVELOPE, "C: BDAT 5\r\nhelloC: BDAT 8 LAST\r\n world\r\nC: NOOP\r\n"]),
        &[EHLO, MAIL_OK, RCPT_OK, "S: 250 2.0.0 5 octets received", QUEUED, "S: 250 2.0.0 ok"],
    );
    assert_eq!(t.events[3..], ["start", r"body hello world\r\n", "end"]);
}

#[test]
fn bdat_zero_last_and_chunks_that_look_like_commands() {
    let t = check(
        script(&[
            ENVELOPE,
            "C: BDAT 6\r\nQUIT\r\nC: BDAT 0 LAST\r\n",
            "C: MAIL FROM:<a@b.example>\r\nC: RCPT TO:<c@d.example>\r\nC: BDAT 0 LAST\r\n",
        ]),
        &[EHLO, MAIL_OK, RCPT_OK, "S: 250 2.0.0 6 octets received", QUEUED, MAIL_OK, RCPT_OK, QUEUED],
    );
    assert_eq!(t.events[3..6], ["start", r"body QUIT\r\n", "end"]);
    assert_eq!(t.events[8..], ["start", "end"]);
}

#[test]
fn bdat_out_of_sequence_still_consumes_its_bytes() {
    check(
        "C: EHLO c\r\n\
         C: BDAT 6\r\nQUIT\r\n\
         C: MAIL FROM:<a@b.example>\r\n\
         C: BDAT 6 LAST\r\nQUIT\r\n\
         C: BDAT 0\r\n\
         C: NOOP\r\n",
        &[
            EHLO,
            OUT_OF_SEQUENCE,
            MAIL_OK,
            "S: 503 5.5.1 RCPT first",
            "S: 503 5.5.1 RCPT first",
            "S: 250 2.0.0 ok",
        ],
    );
}

#[test]
fn data_after_bdat_fails_the_transaction() {
    let t = check(
        script(&[ENVELOPE, "C: BDAT 2\r\nhiC: DATA\r\nC: BDAT 3 LAST\r\nabcC: NOOP\r\n"]),
        &[
            EHLO,
            MAIL_OK,
            RCPT_OK,
            "S: 250 2.0.0 2 octets received",
            "S: 503 5.5.1 DATA not allowed after BDAT",
            OUT_OF_SEQUENCE,
            "S: 250 2.0.0 ok",
        ],
    );
    assert_eq!(t.events[3..], ["start", "aborted BdatFailed"]);
}

#[test]
fn bad_bdat_command_fails_an_open_bdat_message() {
    let t = check(
        script(&[ENVELOPE, "C: BDAT 2\r\nhiC: BDAT two\r\nC: BDAT 1 LAST\r\nxC: NOOP\r\n"]),
        &[
            EHLO,
            MAIL_OK,
            RCPT_OK,
            "S: 250 2.0.0 2 octets received",
            "S: 501 5.5.2 syntax: BDAT size [LAST]",
            OUT_OF_SEQUENCE,
            "S: 250 2.0.0 ok",
        ],
    );
    assert_eq!(t.events[3..], ["start", "aborted BdatFailed"]);
}

#[test]
fn bdat_size_limit_at_n_and_n_plus_one() {
    let config = ServerConfig { message_bytes_max: 10, ..config() };
    // First chunk too large: no message starts, the transaction ends.
    let t = check_with(
        &config,
        script(&[ENVELOPE, "C: BDAT 11\r\nQUIT\r\nQUITXC: BDAT 1 LAST\r\nxC: NOOP\r\n"]),
        &[EHLO, MAIL_OK, RCPT_OK, TOO_LARGE, OUT_OF_SEQUENCE, "S: 250 2.0.0 ok"],
    );
    assert_eq!(t.events[3..], ["reset"]);
    // Over the limit in a later chunk: the message is aborted.
    let t = check_with(
        &config,
        script(&[ENVELOPE, "C: BDAT 6\r\n123456C: BDAT 5 LAST\r\n78901C: NOOP\r\n"]),
        &[EHLO, MAIL_OK, RCPT_OK, "S: 250 2.0.0 6 octets received", TOO_LARGE, "S: 250 2.0.0 ok"],
    );
    assert_eq!(t.events[3..], ["start", "aborted TooLarge"]);
    // Exactly at the limit.
    let t = check_with(
        &config,
        script(&[ENVELOPE, "C: BDAT 6\r\n123456C: BDAT 4 LAST\r\n7890"]),
        &[EHLO, MAIL_OK, RCPT_OK, "S: 250 2.0.0 6 octets received", QUEUED],
    );
    assert_eq!(t.events[3..], ["start", "body 1234567890", "end"]);
}

#[test]
fn rset_or_quit_between_bdat_chunks_aborts() {
    let t = check(
        script(&[ENVELOPE, "C: BDAT 2\r\nhiC: RSET\r\nC: BDAT 1\r\nx"]),
        &[EHLO, MAIL_OK, RCPT_OK, "S: 250 2.0.0 2 octets received", "S: 250 2.0.0 ok", OUT_OF_SEQUENCE],
    );
    assert_eq!(t.events[3..], ["start", "aborted Reset"]);
    let t = check(
        script(&[ENVELOPE, "C: BDAT 2\r\nhiC: QUIT\r\n"]),
        &[EHLO, MAIL_OK, RCPT_OK, "S: 250 2.0.0 2 octets received", BYE],
    );
    assert_eq!(t.events[3..], ["start", "aborted Closed", "quit"]);
}

#[test]
fn message_start_rejected_for_bdat_drops_the_chunk() {
    check(
        "C: EHLO c\r\nC: MAIL FROM:<nodata@b.example>\r\nC: RCPT TO:<c@d.example>\r\n\
         C: BDAT 6\r\nQUIT\r\nC: BDAT 0 LAST\r\n",
        &[EHLO, MAIL_OK, RCPT_OK, "S: 554 5.7.1 not from you", OUT_OF_SEQUENCE],
    );
}

#[test]
fn rcpt_after_bdat_data_is_out_of_sequence() {
    check(
        script(&[ENVELOPE, "C: BDAT 1\r\nxC: RCPT TO:<c@d.example>\r\nC: BDAT 0 LAST\r\n"]),
        &[
            EHLO,
            MAIL_OK,
            RCPT_OK,
            "S: 250 2.0.0 1 octets received",
            "S: 503 5.5.1 RCPT after message data",
            QUEUED,
        ],
    );
}

// ----- shutdown (deadlines and draining: smtp_deadlines.rs) -----

#[test]
fn shutdown_waits_for_a_message_being_committed() {
    let mut session = ServerSession::new(Arc::new(config()));
    session.shutdown();
    assert!(session.wants_close());
    assert!(session.pending_output().ends_with(b"421 4.3.2 mx.example shutting down\r\n"));

    let mut session = ServerSession::new(Arc::new(config()));
    let input = client_bytes(script(&[ENVELOPE, "C: DATA\r\nC: x\r\nC: .\r\n"]).as_bytes());
    let mut used = 0;
    let mut at_end = false;
    while !at_end {
        used += session.handle_input(&input[used..], 0);
        while let Some(event) = session.poll_event() {
            match event {
                Event::MessageEnd => at_end = true,
                Event::Helo { .. } | Event::Body(_) => {}
                _ => session.answer(Verdict::Accept),
            }
        }
    }
    session.advance_output(session.pending_output().len());
    session.shutdown();
    assert!(!session.wants_close());
    session.answer(Verdict::Accept);
    assert_eq!(session.pending_output(), b"250 2.0.0 ok\r\n421 4.3.2 mx.example shutting down\r\n");
    assert!(session.wants_close());
    assert_eq!(session.poll_event(), None);
    // A late answer after closing is ignored.
    session.answer(Verdict::Accept);
}

// ----- garbage -----

#[test]
fn binary_garbage_gets_errors_then_421() {
    // A fixed pseudo-random byte stream (xorshift), with some line ends.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let garbage: Vec<u8> = (0..20_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            match state % 50 {
                0 => b'\n',
                1 => b'\r',
                _ => (state >> 8) as u8,
            }
        })
        .collect();
    let t = drive(&config(), &garbage, &steps(garbage.len(), 13));
    assert!(t.closed);
    assert_eq!(t.replies.last().map(String::as_str), Some("S: 421 4.7.0 mx.example too many errors"));
    assert_eq!(t.replies.len(), 1 + 20 + 1);
}

// ----- fuzz seeds -----

#[test]
fn fuzz_seed_corpus_is_real_client_traffic() {
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/corpus/smtp_server/");
    let run = |name: &str| {
        let input = std::fs::read(format!("{corpus}{name}")).unwrap();
        drive(&config(), &input, &[input.len()])
    };
    let swaks = run("swaks_transcript");
    assert_eq!(swaks.replies[swaks.replies.len() - 2..], [QUEUED, BYE]);
    let pipelined = run("pipelined_envelope");
    assert_eq!(pipelined.events.iter().filter(|e| *e == "end").count(), 2);
    assert!(pipelined.closed);
    let bdat = run("bdat_chunks");
    assert_eq!(bdat.events.iter().filter(|e| *e == "end").count(), 2, "{:?}", bdat.events);
    assert!(bdat.events.contains(&r"body Subject: chunked\r\n\r\n\x00\x01\r\nbody\xff".to_owned()));
    assert!(bdat.closed);
    let smuggling = run("smuggling_attempt");
    assert!(smuggling.replies.contains(&BARE.to_owned()));
    assert!(!smuggling.events.iter().any(|e| e.contains("evil")));
}
