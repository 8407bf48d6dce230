//! Test driver for the SMTP server session: runs a client script through a session,
//! answers events from a small fixed script, and records replies and events.
//!
//! Every `check` runs the input three ways (whole, one byte at a time, in 7-byte
//! pieces) and requires identical replies, events (bodies merged) and leftover input:
//! the session's behaviour must not depend on how TCP cut the stream. A script may come
//! in several flights: the client sends the next one only after the session used
//! everything before it (as a client waits for `220` after STARTTLS).
//!
//! The driver plays the caller's part in STARTTLS (the handshake "succeeds" at once;
//! plaintext still buffered refuses it) and in AUTH, with a toy SASL: PLAIN and LOGIN
//! check for the password `secret`, user `tempfail...` gets a temporary failure, and any
//! other mechanism is "too weak".
#![allow(dead_code, reason = "shared by several test crates, each using a part of it")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use moxide_protocols::smtp::{
    BODY_CHUNK_BYTES_MAX, BurlOutcome, EnhancedCode, Event, MailFrom, REPLY_LINE_BYTES_MAX, Reply,
    ReversePath, ServerConfig, ServerSession, Verdict,
};

/// Stands for the whole multi-line EHLO reply on a plain connection.
pub(crate) const EHLO: &str = "S: <EHLO reply>";

/// Stands for the whole multi-line EHLO reply once TLS is active.
pub(crate) const EHLO_TLS: &str = "S: <EHLO reply with TLS>";

/// The configuration most tests use: small limits that are quick to reach.
pub(crate) fn config() -> ServerConfig {
    ServerConfig {
        hostname: "mx.example".to_owned(),
        message_bytes_max: 1000,
        recipients_max: 5,
        ..ServerConfig::default()
    }
}

/// [`config`] for a listener with a certificate and AUTH PLAIN and LOGIN (only over
/// TLS), REQUIRETLS on.
pub(crate) fn tls_config() -> ServerConfig {
    ServerConfig {
        starttls: true,
        auth_mechanisms: vec!["PLAIN".to_owned(), "LOGIN".to_owned()],
        requiretls: true,
        ..config()
    }
}

/// The EHLO reply lines for `config`, before (`tls: false`) or after TLS started.
pub(crate) fn ehlo_lines(config: &ServerConfig, tls: bool) -> Vec<String> {
    let mut capabilities = vec![
        config.hostname.clone(),
        "PIPELINING".to_owned(),
        format!("SIZE {}", config.message_bytes_max),
        "8BITMIME".to_owned(),
        "SMTPUTF8".to_owned(),
        "ENHANCEDSTATUSCODES".to_owned(),
        "CHUNKING".to_owned(),
        "BINARYMIME".to_owned(),
        format!("LIMITS RCPTMAX={}", config.recipients_max),
    ];
    if config.starttls && !tls {
        capabilities.push("STARTTLS".to_owned());
    }
    if config.requiretls && tls {
        capabilities.push("REQUIRETLS".to_owned());
    }
    if !config.auth_mechanisms.is_empty() && (tls || !config.auth_requires_tls) {
        capabilities.push(format!("AUTH {}", config.auth_mechanisms.join(" ")));
    }
    if config.burl {
        capabilities.push("BURL imap".to_owned());
    }
    let last = capabilities.len() - 1;
    capabilities
        .iter()
        .enumerate()
        .map(|(i, capability)| format!("S: 250{}{capability}", if i == last { ' ' } else { '-' }))
        .collect()
}

/// How a run's session starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// A plain connection: [`ServerSession::new`].
    Plain,
    /// Implicit TLS: [`ServerSession::new_tls`].
    ImplicitTls,
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
    /// Whether TLS was active at the end.
    pub(crate) tls: bool,
    /// Who was authenticated at the end.
    pub(crate) authenticated: Option<String>,
}

/// What the caller does after an event.
enum Action {
    Nothing,
    Answer(Verdict),
    TlsHandshake,
    TlsRefuse,
    Challenge(Vec<u8>),
    AuthOk(String),
    AuthFail(Reply),
    Burl(BurlOutcome),
}

/// Where the toy SASL exchange stands.
enum Sasl {
    Plain,
    LoginUser,
    LoginPassword(String),
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
    sasl: Option<Sasl>,
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
        if mail.requiretls {
            line.push_str(" requiretls");
        }
        self.record(line);
        self.sender = match &mail.path {
            ReversePath::Null => String::new(),
            ReversePath::Mailbox(mailbox) => mailbox.localpart.clone(),
        };
        if self.sender == "spammer" { reject(550, (5, 7, 1), "sender refused") } else { Verdict::Accept }
    }

    fn react(&mut self, event: Event<'_>) -> Action {
        match event {
            Event::Helo { name, extended } => {
                let verb = if extended { "EHLO" } else { "HELO" };
                self.record(format!("helo {verb} {name}"));
                Action::Nothing
            }
            Event::MailFrom(mail) => Action::Answer(self.on_mail(&mail)),
            Event::RcptTo(path) => {
                let text = path.to_string();
                self.record(format!("rcpt <{text}>"));
                Action::Answer(if text.starts_with("unknown") {
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
                Action::Answer(if self.sender == "nodata" {
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
                Action::Nothing
            }
            Event::Burl { url, last, room_bytes } => {
                let message = &url.message;
                let marker = if last { " LAST" } else { "" };
                self.record(format!("burl {}/{} room={room_bytes}{marker}", message.mailbox, message.uid));
                Action::Burl(self.resolve_burl(&message.mailbox, message.uid, room_bytes))
            }
            Event::MessageEnd => {
                self.record("end".to_owned());
                let rejected = self.message.windows(8).any(|w| w == b"REJECTME");
                Action::Answer(if rejected {
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
                Action::Nothing
            }
            Event::Reset => {
                self.record("reset".to_owned());
                Action::Nothing
            }
            Event::Quit => {
                self.record("quit".to_owned());
                Action::Nothing
            }
            other => self.react_tls_auth(other),
        }
    }

    /// The toy URL store: mailbox `Drafts` holds, at UID n, n octets of `x`; `Broken`
    /// fails on our side; every other mailbox names nothing.
    fn resolve_burl(&mut self, mailbox: &str, uid: u32, room_bytes: u64) -> BurlOutcome {
        match mailbox {
            "Drafts" if u64::from(uid) > room_bytes => BurlOutcome::TooLarge,
            "Drafts" => {
                self.message.extend(std::iter::repeat_n(b'x', uid as usize));
                BurlOutcome::Appended(u64::from(uid))
            }
            "Broken" => BurlOutcome::Failed(Reply::new(451, Some(EnhancedCode(4, 3, 0)), "try again later")),
            _ => BurlOutcome::Unresolved,
        }
    }

    fn react_tls_auth(&mut self, event: Event<'_>) -> Action {
        match event {
            Event::StartTls { pipelined: false } => {
                self.record("starttls".to_owned());
                Action::TlsHandshake
            }
            Event::StartTls { pipelined: true } => {
                self.record("starttls pipelined".to_owned());
                // The session refused by itself; a caller written to refuse here too
                // must be harmless.
                Action::TlsRefuse
            }
            Event::Auth { mechanism, initial } => {
                let shown = initial.as_deref().map_or("-".to_owned(), escape);
                self.record(format!("auth {mechanism} {shown}"));
                self.start_sasl(&mechanism, initial)
            }
            Event::AuthResponse(response) => {
                self.record(format!("auth-response {}", escape(&response)));
                self.continue_sasl(response)
            }
            Event::AuthCancel => {
                self.record("auth-cancel".to_owned());
                self.sasl = None;
                Action::Nothing
            }
            other => panic!("event not handled: {other:?}"),
        }
    }

    fn start_sasl(&mut self, mechanism: &str, initial: Option<Vec<u8>>) -> Action {
        assert!(self.sasl.is_none(), "AUTH during an exchange");
        match (mechanism, initial) {
            ("PLAIN", Some(message)) => check_plain(&message),
            ("PLAIN", None) => {
                self.sasl = Some(Sasl::Plain);
                Action::Challenge(Vec::new())
            }
            ("LOGIN", Some(user)) => {
                self.sasl = Some(Sasl::LoginPassword(String::from_utf8_lossy(&user).into_owned()));
                Action::Challenge(b"Password:".to_vec())
            }
            ("LOGIN", None) => {
                self.sasl = Some(Sasl::LoginUser);
                Action::Challenge(b"Username:".to_vec())
            }
            _ => Action::AuthFail(Reply::new(534, Some(EnhancedCode(5, 7, 9)), "mechanism too weak")),
        }
    }

    fn continue_sasl(&mut self, response: Vec<u8>) -> Action {
        match self.sasl.take().expect("response without an exchange") {
            Sasl::Plain => check_plain(&response),
            Sasl::LoginUser => {
                self.sasl = Some(Sasl::LoginPassword(String::from_utf8_lossy(&response).into_owned()));
                Action::Challenge(b"Password:".to_vec())
            }
            Sasl::LoginPassword(user) => verify(&user, &response),
        }
    }
}

/// RFC 4616 message: authzid NUL authcid NUL password.
fn check_plain(message: &[u8]) -> Action {
    match message.split(|&b| b == 0).collect::<Vec<_>>()[..] {
        [_, user, password] => verify(&String::from_utf8_lossy(user), password),
        _ => Action::AuthFail(Reply::new(501, Some(EnhancedCode(5, 5, 2)), "malformed PLAIN message")),
    }
}

fn verify(user: &str, password: &[u8]) -> Action {
    if user.starts_with("tempfail") {
        let text = "temporary authentication failure";
        Action::AuthFail(Reply::new(454, Some(EnhancedCode(4, 7, 0)), text))
    } else if password == b"secret" {
        Action::AuthOk(user.to_owned())
    } else {
        let text = "authentication credentials invalid";
        Action::AuthFail(Reply::new(535, Some(EnhancedCode(5, 7, 8)), text))
    }
}

fn reject(code: u16, (class, subject, detail): (u8, u16, u16), text: &str) -> Verdict {
    Verdict::Reject(Reply::new(code, Some(EnhancedCode(class, subject, detail)), text))
}

/// Printable form of body bytes: CR, LF and non-printables escaped.
pub(crate) fn escape(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// Runs `input` through a fresh plain session; see [`drive_from`].
pub(crate) fn drive(config: &ServerConfig, input: &[u8], cuts: &[usize]) -> Transcript {
    drive_from(config, Start::Plain, input, cuts)
}

/// Runs `input` through a fresh session; `cuts` are the input lengths made available
/// to the session, in increasing order (the last should be `input.len()`).
pub(crate) fn drive_from(config: &ServerConfig, start: Start, input: &[u8], cuts: &[usize]) -> Transcript {
    let config = Arc::new(config.clone());
    let mut session = match start {
        Start::Plain => ServerSession::new(config),
        Start::ImplicitTls => ServerSession::new_tls(config),
    };
    let mut script = Script::default();
    let mut output = Vec::new();
    let mut buffer: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut cuts = cuts.iter().copied();
    let rounds_max = 4 * input.len() + 10_000;
    for _ in 0..rounds_max {
        let used = session.handle_input(&buffer, 0);
        assert!(used <= buffer.len());
        buffer.drain(..used);
        let mut progressed = used > 0;
        while let Some(event) = session.poll_event() {
            progressed = true;
            let action = script.react(event);
            apply(&mut session, action, &buffer);
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
        tls: session.tls(),
        authenticated: session.authenticated().map(str::to_owned),
    }
}

/// Does what the caller decided; `buffer` is the plaintext it holds unread.
fn apply(session: &mut ServerSession, action: Action, buffer: &[u8]) {
    match action {
        Action::Nothing => {}
        Action::Answer(verdict) => session.answer(verdict),
        Action::TlsHandshake => {
            // The session saw all of the buffer, so it refused if anything was there.
            assert!(buffer.is_empty(), "StartTls without `pipelined` but plaintext buffered");
            session.tls_started();
        }
        Action::TlsRefuse => session.tls_refused_injection(),
        Action::Challenge(challenge) => session.auth_challenge(&challenge),
        Action::AuthOk(identity) => session.auth_success(identity),
        Action::AuthFail(reply) => session.auth_failure(reply),
        Action::Burl(outcome) => session.burl_done(outcome),
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
    check_flights(config, Start::Plain, &[script.as_ref()], expected)
}

/// [`check_with`] for a script in flights: each flight reaches the session only once it
/// used everything before (every feeding mode cuts at the flight boundaries).
/// [`EHLO_TLS`] stands for the EHLO reply with TLS active.
pub(crate) fn check_flights(
    config: &ServerConfig,
    start: Start,
    flights: &[&[u8]],
    expected: &[&str],
) -> Transcript {
    let mut input = Vec::new();
    let mut boundaries = Vec::new();
    for flight in flights {
        input.extend(client_bytes(flight));
        boundaries.push(input.len());
    }
    let with_boundaries = |mut cuts: Vec<usize>| {
        cuts.extend(&boundaries);
        cuts.sort_unstable();
        cuts.dedup();
        cuts
    };
    let whole = drive_from(config, start, &input, &with_boundaries(vec![input.len()]));
    for step in [1, 7] {
        let pieces = drive_from(config, start, &input, &with_boundaries(steps(input.len(), step)));
        assert_eq!(pieces, whole, "feeding in pieces of {step} changed the result");
    }
    let greeting = format!("S: 220 {} ESMTP moxide", config.hostname);
    assert_eq!(whole.replies.first(), Some(&greeting));
    let mut want = Vec::new();
    for line in expected {
        match *line {
            EHLO => want.extend(ehlo_lines(config, false)),
            EHLO_TLS => want.extend(ehlo_lines(config, true)),
            line => want.push(line.to_owned()),
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
