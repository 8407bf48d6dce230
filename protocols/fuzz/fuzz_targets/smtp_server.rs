//! Fuzz target: the whole SMTP server session (RFC 5321 and extensions, STARTTLS
//! RFC 3207, AUTH RFC 4954) on arbitrary client bytes. The input is fed in two reads
//! split at a point the fuzzer picks (from the first byte, which stays part of the
//! traffic so that real transcripts work as seeds; its low bits also pick implicit TLS
//! and submission mode, with BURL RFC 4468); every event that needs an answer is
//! answered, alternating accept and reject by a fuzzer-chosen pattern, AUTH steps
//! alternate challenge, success and failure the same way, and BURLs are appended (within
//! the room given), too large or unresolved. Checks: no panic, output made of well-formed reply
//! lines, every Body within its size bound, the session never reports using more bytes
//! than it was given, a STARTTLS handshake only ever starts with no plaintext left
//! over, and nothing happens after a refused STARTTLS. The clock advances by the first
//! byte's value in seconds each round (so request deadlines fire on some inputs), and
//! with its bit 3 set the session is drained when the second read arrives.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use moxide_protocols::smtp::{
    BODY_CHUNK_BYTES_MAX, BurlOutcome, EnhancedCode, Event, Reply, ServerConfig, ServerSession, Verdict,
};

/// Bounds the drive loop; each round either uses input, emits something, or feeds.
const ROUNDS_MAX: usize = 1_000_000;

fuzz_target!(|data: &[u8]| {
    let Some(&first) = data.first() else {
        return;
    };
    let split = usize::from(first) * data.len() / 256;
    let config = ServerConfig {
        hostname: "mx.example".to_owned(),
        message_bytes_max: 2000,
        recipients_max: 3,
        errors_max: 50,
        commands_without_mail_max: 50,
        starttls: true,
        submission: first & 2 != 0,
        auth_mechanisms: vec!["PLAIN".to_owned(), "LOGIN".to_owned()],
        auth_requires_tls: first & 4 != 0,
        requiretls: true,
        burl: first & 2 != 0,
        ..ServerConfig::default()
    };
    let mut session = if first & 1 != 0 {
        ServerSession::new_tls(Arc::new(config))
    } else {
        ServerSession::new(Arc::new(config))
    };
    let mut refused_starttls = false;
    let mut buffer = data[..split].to_vec();
    let mut rest = &data[split..];
    let mut output = Vec::new();
    let mut answers = 0u32;
    let mut now_ms = 0u64;
    for _ in 0..ROUNDS_MAX {
        now_ms += u64::from(first) * 1000;
        let used = session.handle_input(&buffer, now_ms);
        assert!(used <= buffer.len());
        buffer.drain(..used);
        let mut progressed = used > 0;
        while let Some(event) = session.poll_event() {
            progressed = true;
            assert!(!refused_starttls, "event after a refused STARTTLS");
            let needs_answer = match event {
                Event::Body(bytes) => {
                    assert!(!bytes.is_empty() && bytes.len() <= BODY_CHUNK_BYTES_MAX);
                    false
                }
                Event::MailFrom(_) | Event::RcptTo(_) | Event::MessageStart => true,
                Event::MessageEnd => true,
                Event::Burl { room_bytes, .. } => {
                    answers = answers.wrapping_add(1);
                    let outcome = match u32::from(first).wrapping_add(answers) % 5 {
                        0 => BurlOutcome::TooLarge,
                        1 => BurlOutcome::Unresolved,
                        _ => BurlOutcome::Appended(room_bytes.min(u64::from(first))),
                    };
                    session.burl_done(outcome);
                    false
                }
                Event::StartTls { pipelined: true } => {
                    assert!(session.wants_close());
                    refused_starttls = true;
                    false
                }
                Event::StartTls { pipelined: false } => {
                    // The session saw all the plaintext there was.
                    assert!(buffer.is_empty());
                    session.tls_started();
                    false
                }
                Event::Auth { .. } | Event::AuthResponse(_) => {
                    answers = answers.wrapping_add(1);
                    match u32::from(first).wrapping_add(answers) % 3 {
                        0 => session.auth_challenge(b"more"),
                        1 => session.auth_success("user"),
                        _ => session.auth_failure(Reply::new(535, Some(EnhancedCode(5, 7, 8)), "no")),
                    }
                    false
                }
                _ => false,
            };
            if needs_answer {
                answers = answers.wrapping_add(1);
                // Reject one answer in seven, at a point that depends on the input.
                let verdict = if u32::from(first).wrapping_add(answers).is_multiple_of(7) {
                    Verdict::Reject(Reply::new(550, Some(EnhancedCode(5, 7, 1)), "no"))
                } else {
                    Verdict::Accept
                };
                session.answer(verdict);
            }
        }
        let pending = session.pending_output();
        progressed |= !pending.is_empty();
        output.extend_from_slice(pending);
        let n = pending.len();
        session.advance_output(n);
        if session.wants_close() {
            break;
        }
        if !progressed {
            if rest.is_empty() {
                break;
            }
            buffer.extend_from_slice(rest);
            rest = &[];
            if first & 8 != 0 {
                session.drain(now_ms, 10_000);
            }
        }
    }
    check_replies(&output);
});

/// Every line: a 2xx-5xx code, `-` or ` ` or nothing, printable text, CRLF; a
/// multi-line reply keeps its code and ends with a ` ` line.
fn check_replies(output: &[u8]) {
    assert!(output.is_empty() || output.ends_with(b"\r\n"));
    let mut continuing: Option<[u8; 3]> = None;
    for line in output.split(|&b| b == b'\n').filter(|line| !line.is_empty()) {
        let line = line.strip_suffix(b"\r").expect("line ends in CRLF");
        assert!(line.len() >= 3 && line.len() + 2 <= 512);
        assert!(line.iter().all(|&b| b == b'\t' || (0x20..0x7f).contains(&b)));
        let code = [line[0], line[1], line[2]];
        assert!((b'2'..=b'5').contains(&code[0]));
        assert!(code[1].is_ascii_digit() && code[2].is_ascii_digit());
        if let Some(previous) = continuing {
            assert_eq!(previous, code);
        }
        continuing = match line.get(3) {
            None | Some(b' ') => None,
            Some(b'-') => Some(code),
            Some(_) => panic!("bad separator"),
        };
    }
    assert!(continuing.is_none());
}
