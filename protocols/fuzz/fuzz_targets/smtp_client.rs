//! Fuzz target: the SMTP client session (RFC 5321 client side, PIPELINING RFC 2920,
//! CHUNKING RFC 3030, STARTTLS RFC 3207, AUTH RFC 4954 with SCRAM and PLAIN) and its
//! reply reader on arbitrary server bytes.
//! The first byte picks the piece size the input is fed in and whether the server
//! supposedly offers PIPELINING/CHUNKING (through what the bytes say, not a flag): the
//! session starts a transaction whenever it is ready, streams a fixed body when asked,
//! asks for STARTTLS when offered, runs the "handshake" at once, then authenticates once
//! with whatever mechanism the server offers (the SCRAM derivation answered at once). Checks: no panic,
//! the session never uses more bytes than given, no event after `Failed`, every
//! transaction reports one result per recipient, and the output holds only the
//! commands and body the session was given (every line ends in CRLF).
#![no_main]

use libfuzzer_sys::fuzz_target;
use moxide_protocols::smtp::BodyType;
use moxide_protocols::smtp::client::{
    AuthRequest, ClientConfig, ClientSession, DsnEnvelope, Envelope, Event, Recipient, ReplyReader,
};

/// Bounds the drive loop.
const ROUNDS_MAX: usize = 100_000;

const BODY: &[u8] = b"Subject: x\r\n\r\n.dot\r\nend";

fuzz_target!(|data: &[u8]| {
    let Some((&first, server)) = data.split_first() else {
        return;
    };
    reply_reader_alone(server);
    let piece = usize::from(first % 16) + 1;
    let mut session = ClientSession::new(ClientConfig { hostname: "c.example".into() }, 0);
    let envelope = Envelope {
        mail_from: "a@c.example".into(),
        recipients: vec![Recipient::new("b@s.example"), Recipient::new("c@s.example")],
        size_bytes: BODY.len() as u64,
        body: BodyType::SevenBit,
        smtputf8: false,
        requiretls: false,
        dsn: DsnEnvelope::default(),
    };
    let mut at = 0;
    let mut failed = false;
    let mut auth_started = false;
    for round in 0..ROUNDS_MAX {
        if at >= server.len() || session.is_done() {
            break;
        }
        let end = (at + piece).min(server.len());
        let used = session.handle_input(&server[at..end], round as u64);
        assert!(used <= end - at);
        // Input left unused: the session waits for the caller (TLS) or failed.
        at = if used == 0 { end } else { at + used };
        while let Some(event) = session.poll_event() {
            assert!(!failed, "event after Failed");
            match event {
                Event::Failed(_) => failed = true,
                Event::TlsReady => {
                    session.tls_established(round as u64);
                }
                Event::SendBody => {
                    let mut body = BODY;
                    while !body.is_empty() {
                        let taken = session.body_data(body, round as u64);
                        if taken == 0 {
                            break;
                        }
                        body = &body[taken..];
                    }
                    if session.wants_body() || body.is_empty() {
                        session.body_end(round as u64);
                    }
                }
                Event::TransactionDone(result) => assert_eq!(result.recipients.len(), 2),
                Event::AuthDerive(derivation) => {
                    // Whatever the server sent, the bounds hold (no unbounded PBKDF2).
                    assert!(derivation.iterations <= moxide_protocols::sasl::SCRAM_ITERATIONS_MAX);
                    session.auth_derived(Ok(vec![0; 32]), round as u64);
                }
                _ => {}
            }
        }
        let authenticating = session.is_ready() && session.is_tls() && !auth_started && {
            // AUTH over TLS: the server's EHLO decides the mechanism (SCRAM or PLAIN).
            auth_started = true;
            let request = AuthRequest {
                username: "u",
                password: "p",
                allowed: &[],
                channel_binding: None,
                nonce: &[7; 24],
            };
            session.authenticate(&request, round as u64).is_some()
        };
        if !authenticating && session.is_ready() && !session.start_tls(round as u64) {
            let _ = session.send(&envelope, round as u64);
        }
        let output = session.pending_output();
        assert!(output.is_empty() || output.ends_with(b"\r\n"), "output ends mid-line");
        let n = output.len();
        session.advance_output(n);
    }
});

/// The reply reader alone: every reply it returns is within its limits.
fn reply_reader_alone(mut input: &[u8]) {
    let mut reader = ReplyReader::new();
    while !input.is_empty() {
        match reader.feed(input) {
            Ok((used, reply)) => {
                assert!(used > 0 && used <= input.len());
                if let Some(reply) = reply {
                    assert!((200..=599).contains(&reply.code));
                }
                input = &input[used..];
            }
            Err(_) => return,
        }
    }
}
