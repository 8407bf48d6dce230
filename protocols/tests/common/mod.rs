//! Test driver for the SMTP server session: runs a client script through a session,
//! answers events from a small fixed script, and records replies and events.
//!
//! Every `check` runs the input three ways (whole, one byte at a time, in 7-byte
//! pieces) and requires identical replies, events (bodies merged) and leftover input:
//! the session's behaviour must not depend on how TCP cut the stream.
#![allow(dead_code, reason = "shared by several test crates, each using a part of it")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use moxide_protocols::smtp::{
    BODY_CHUNK_BYTES_MAX, EnhancedCode, Event, MailFrom, REPLY_LINE_BYTES_MAX, Reply, ReversePath,
    ServerConfig, ServerSession, Verdict,
};

/// Stands for the whole multi-line EHLO reply in expected transcripts.
pub(crate) const EHLO: &str = "S: <EHLO reply>";

/// The configuration most tests use: small limits that are quick to reach.
pub(crate) fn config() -> ServerConfig {
    ServerConfig {
        hostname: "mx.example".to_owned(),
        message_bytes_max: 1000,
        recipients_max: 5,
        ..ServerConfig::default()
    }
}

/// The EHLO reply lines for `config`.
pub(crate) fn ehlo_lines(config: &ServerConfig) -> Vec<String> {
    vec![
        format!("S: 250-{}", config.hostname),
        "S: 250-PIPELINING".to_owned(),
        format!("S: 250-SIZE {}", config.message_bytes_max),
        "S: 250-8BITMIME".to_owned(),
        "S: 250-SMTPUTF8".to_owned(),
        "S: 250-ENHANCEDSTATUSCODES".to_owned(),
        "S: 250-CHUNKING".to_owned(),
        "S: 250-BINARYMIME".to_owned(),
        format!("S: 250 LIMITS RCPTMAX={}", config.recipients_max),
    ]
}

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Transcript {
    /// Reply lines as `S: ...`, greeting included.
    pub(crate) replies: Vec<String>,
    /// Events as short strings; consecutive bodies merged into one `body ...`.
    pub(crate) events: Vec<String>,
    /// Input the session did not consume.
    pub(crate) leftover: Vec<u8>,
    /// Whether the session asked to close.
    pub(crate) closed: bool,
}

/// The client side's answers: reject sender `spammer@...`, recipients `unknown...@`
/// (550) and `busy...@` (451), the message start for sender `nodata@...`, and messages
/// containing `REJECTME`; accept everything else.
#[derive(Default)]
struct Script {
    sender: String,
    message: Vec<u8>,
    pending_body: Vec<u8>,
    events: Vec<String>,
}

impl Script {
    fn record(&mut self, line: String) {
        self.flush_body();
        self.events.push(line);
    }

    fn flush_body(&mut self) {
        if !self.pending_body.is_empty() {
            let body = escape(&std::mem::take(&mut self.pending_body));
            self.events.push(format!("body {body}"));
        }
    }

    fn on_mail(&mut self, mail: &MailFrom) -> Verdict {
        let mut line = format!("mail <{}>", mail.path);
        if let Some(size) = mail.size_bytes {
            line.push_str(&format!(" size={size}"));
        }
        line.push_str(&format!(" body={:?}", mail.body));
        if mail.smtputf8 {
            line.push_str(" smtputf8");
        }
        self.record(line);
        self.sender = match &mail.path {
            ReversePath::Null => String::new(),
            ReversePath::Mailbox(mailbox) => mailbox.localpart.clone(),
        };
        if self.sender == "spammer" { reject(550, (5, 7, 1), "sender refused") } else { Verdict::Accept }
    }

    fn react(&mut self, event: Event<'_>) -> Option<Verdict> {
        match event {
            Event::Helo { name, extended } => {
                let verb = if extended { "EHLO" } else { "HELO" };
                self.record(format!("helo {verb} {name}"));
                None
            }
            Event::MailFrom(mail) => Some(self.on_mail(&mail)),
            Event::RcptTo(path) => {
                let text = path.to_string();
                self.record(format!("rcpt <{text}>"));
                Some(if text.starts_with("unknown") {
                    reject(550, (5, 1, 1), "no such user")
                } else if text.starts_with("busy") {
                    reject(451, (4, 3, 0), "try again later")
                } else {
                    Verdict::Accept
                })
            }
            Event::MessageStart => {
                self.record("start".to_owned());
                self.message.clear();
                Some(if self.sender == "nodata" {
                    reject(554, (5, 7, 1), "not from you")
                } else {
                    Verdict::Accept
                })
            }
            Event::Body(bytes) => {
                assert!(!bytes.is_empty(), "empty Body event");
                assert!(bytes.len() <= BODY_CHUNK_BYTES_MAX, "Body event too large");
                self.pending_body.extend_from_slice(bytes);
                self.message.extend_from_slice(bytes);
                None
            }
            Event::MessageEnd => {
                self.record("end".to_owned());
                let rejected = self.message.windows(8).any(|w| w == b"REJECTME");
                Some(if rejected {
                    reject(554, (5, 6, 0), "content refused")
                } else {
                    Verdict::AcceptWith("queued as Q1".to_owned())
                })
            }
            Event::MessageAborted(reason) => {
                // Bytes before the abort are discarded, as a real caller would; how
                // many arrived before the session noticed depends on input chunking.
                self.pending_body.clear();
                self.record(format!("aborted {reason:?}"));
                None
            }
            Event::Reset => {
                self.record("reset".to_owned());
                None
            }
            Event::Quit => {
                self.record("quit".to_owned());
                None
            }
        }
    }
}

fn reject(code: u16, (class, subject, detail): (u8, u16, u16), text: &str) -> Verdict {
    Verdict::Reject(Reply::new(code, Some(EnhancedCode(class, subject, detail)), text))
}

/// Printable form of body bytes: CR, LF and non-printables escaped.
pub(crate) fn escape(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// Runs `input` through a fresh session; `cuts` are the input lengths made available
/// to the session, in increasing order (the last should be `input.len()`).
pub(crate) fn drive(config: &ServerConfig, input: &[u8], cuts: &[usize]) -> Transcript {
    let mut session = ServerSession::new(Arc::new(config.clone()));
    let mut script = Script::default();
    let mut output = Vec::new();
    let mut buffer: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut cuts = cuts.iter().copied();
    let rounds_max = 4 * input.len() + 10_000;
    for _ in 0..rounds_max {
        let used = session.handle_input(&buffer);
        assert!(used <= buffer.len());
        buffer.drain(..used);
        let mut progressed = used > 0;
        while let Some(event) = session.poll_event() {
            progressed = true;
            if let Some(verdict) = script.react(event) {
                session.answer(verdict);
            }
        }
        let pending = session.pending_output();
        progressed |= !pending.is_empty();
        output.extend_from_slice(pending);
        let n = pending.len();
        session.advance_output(n);
        assert!(session.pending_output().is_empty());
        if session.wants_close() {
            break;
        }
        if !progressed {
            match cuts.next() {
                Some(cut) => {
                    let cut = cut.min(input.len());
                    buffer.extend_from_slice(&input[fed.min(cut)..cut]);
                    fed = fed.max(cut);
                }
                None => break,
            }
        }
    }
    // Bytes of a message still open when the input ran out are not reported: how many
    // of them the session passed on before it saw a failure depends on the cuts.
    script.pending_body.clear();
    assert_well_formed(&output);
    buffer.extend_from_slice(&input[fed..]);
    Transcript {
        replies: String::from_utf8(output)
            .unwrap()
            .split_terminator("\r\n")
            .map(|line| format!("S: {line}"))
            .collect(),
        events: script.events,
        leftover: buffer,
        closed: session.wants_close(),
    }
}

/// Cut points for feeding `len` bytes in pieces of `step`.
pub(crate) fn steps(len: usize, step: usize) -> Vec<usize> {
    (1..=len.div_ceil(step)).map(|i| (i * step).min(len)).collect()
}

/// Turns a `C: `-prefixed script into raw client bytes: every `C: ` is removed (it
/// marks where the client starts a command, also right after a BDAT chunk, where no
/// line break precedes it); text without the marker is taken as it is.
pub(crate) fn client_bytes(script: &[u8]) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(script.len());
    let mut i = 0;
    while i < script.len() {
        if script[i..].starts_with(b"C: ") {
            i += 3;
        } else {
            bytes.push(script[i]);
            i += 1;
        }
    }
    bytes
}

/// Runs `script` whole, byte by byte and in 7-byte pieces with `config`; asserts the
/// three agree and that the replies after the greeting are `expected` (where
/// [`EHLO`] stands for the EHLO reply). Returns the transcript.
pub(crate) fn check_with(config: &ServerConfig, script: impl AsRef<[u8]>, expected: &[&str]) -> Transcript {
    let input = client_bytes(script.as_ref());
    let whole = drive(config, &input, &[input.len()]);
    for step in [1, 7] {
        let pieces = drive(config, &input, &steps(input.len(), step));
        assert_eq!(pieces, whole, "feeding in pieces of {step} changed the result");
    }
    let greeting = format!("S: 220 {} ESMTP moxide", config.hostname);
    assert_eq!(whole.replies.first(), Some(&greeting));
    let mut want = Vec::new();
    for line in expected {
        if *line == EHLO {
            want.extend(ehlo_lines(config));
        } else {
            want.push((*line).to_owned());
        }
    }
    assert_eq!(whole.replies[1..], want[..], "replies differ");
    whole
}

/// [`check_with`] with [`config`].
pub(crate) fn check(script: impl AsRef<[u8]>, expected: &[&str]) -> Transcript {
    check_with(&config(), script, expected)
}

/// Asserts that `output` is a sequence of complete, well-formed reply lines
/// (RFC 5321 §4.2): a code 2xx..5xx, `-` on continuation lines with the same code,
/// printable text, CRLF, at most 512 octets per line.
pub(crate) fn assert_well_formed(output: &[u8]) {
    assert!(output.is_empty() || output.ends_with(b"\r\n"), "output does not end in CRLF");
    let text = std::str::from_utf8(output).expect("replies are ASCII");
    let mut continuing: Option<&str> = None;
    for line in text.split_terminator("\r\n") {
        assert!(line.len() + 2 <= REPLY_LINE_BYTES_MAX, "line too long: {line}");
        assert!(line.bytes().all(|b| b == b'\t' || (0x20..0x7f).contains(&b)), "bad character in {line:?}");
        let code = line.get(..3).expect("line shorter than a code");
        assert!(code.bytes().all(|b| b.is_ascii_digit()), "bad code {line:?}");
        assert!((b'2'..=b'5').contains(&code.as_bytes()[0]), "bad code {line:?}");
        if let Some(previous) = continuing {
            assert_eq!(previous, code, "multi-line reply changed its code");
        }
        continuing = match line.as_bytes().get(3) {
            None | Some(b' ') => None,
            Some(b'-') => Some(code),
            Some(_) => panic!("bad separator in {line:?}"),
        };
    }
    assert!(continuing.is_none(), "multi-line reply not finished");
}
