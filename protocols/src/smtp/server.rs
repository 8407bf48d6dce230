//! The SMTP server session: bytes in, events and reply bytes out (RFC 5321 with SIZE
//! RFC 1870, 8BITMIME RFC 6152, SMTPUTF8 RFC 6531, ENHANCEDSTATUSCODES RFC 2034/3463,
//! PIPELINING RFC 2920, CHUNKING and BINARYMIME RFC 3030, LIMITS RFC 9422, STARTTLS
//! RFC 3207 and implicit TLS RFC 8314, AUTH RFC 4954, submission RFC 6409, REQUIRETLS
//! RFC 8689, BURL RFC 4468). STARTTLS lives in `starttls`, AUTH in `auth`, BURL in `burl`.
//!
//! The caller owns the socket and the clock. It feeds bytes to
//! [`ServerSession::handle_input`], drains [`ServerSession::poll_event`], answers the
//! events that ask for a decision with [`ServerSession::answer`], and writes
//! [`ServerSession::pending_output`]. Invariants:
//! - replies come out in command order (RFC 2920 §3.1): while an event waits to be polled
//!   or answered, no further input is read;
//! - at most one event needs an answer at a time, and nothing else is queued behind it;
//! - a message ends only at CRLF "." CRLF (see the `data` module); after a bare CR or LF
//!   the rest of the body is read and dropped, never executed as commands;
//! - every byte of a BDAT chunk is consumed as data, even when the chunk is refused
//!   (RFC 3030 §2), so chunk contents are never executed as commands either;
//! - a message is built from DATA, or from BDAT chunks and BURL contents in any order,
//!   the last one marked `LAST` (RFC 4468 §3.2); BURL content never passes through the
//!   session: the caller appends it and reports its size;
//! - buffers are bounded: no command line over the limit is held, body bytes are handed
//!   out in pieces of [`BODY_CHUNK_BYTES_MAX`], output stops growing past
//!   [`OUTPUT_BYTES_MAX`] until the caller flushes;
//! - once closing (QUIT or 421), no more input is read and no answer is expected;
//! - no byte that arrived together with a STARTTLS command is ever used after it: such
//!   input refuses the upgrade and closes the session (see `starttls`);
//! - during an AUTH exchange client lines are SASL responses, never commands, and the
//!   session reads none until the caller took its step on the previous one;
//! - every request (command line, SASL response, DATA body, BDAT chunk) must arrive by a
//!   deadline that grows with its size at a minimum rate, not an idle timeout that any
//!   byte restarts (see `deadline`); a graceful shutdown lets the request under way
//!   finish and then closes with `421 4.3.2`.

use std::collections::VecDeque;
use std::sync::Arc;

use memchr::memchr;

use super::address::ForwardPath;
use super::command::{BodyType, Command, CommandError, MailFrom, is_bdat_line, is_burl_line, parse_command};
use super::data::DataDecoder;
use super::limits::{
    BODY_CHUNK_BYTES_MAX, COMMAND_LINE_BYTES_MAX, COMMAND_LINE_BYTES_MIN, COMMAND_TIMEOUT_MS,
    COMMANDS_WITHOUT_MAIL_MAX, DATA_TIMEOUT_MS, ERRORS_MAX, INPUT_RATE_BYTES_PER_SECOND_MIN,
    MESSAGE_BYTES_MAX, OUTPUT_BYTES_MAX, RECIPIENTS_MAX,
};
use super::reply::{EnhancedCode, Reply};
use crate::imap::url::AuthUrl;

mod auth;
mod burl;
mod deadline;
mod starttls;

pub use burl::BurlOutcome;

/// Events queued at once: a command yields at most two (e.g. `MessageAborted` + `Quit`,
/// `Reset` + `Helo`, `Body` + `MessageEnd`) and an external close adds one.
const EVENTS_QUEUED_MAX: usize = 4;

/// Settings of a server session. Limits default to the consts in [`super::limits`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Our host name, in the greeting, the EHLO reply and 221/421 replies.
    pub hostname: String,
    /// Largest message in octets, advertised as `SIZE`.
    pub message_bytes_max: u64,
    /// Most recipients per transaction, advertised as `LIMITS RCPTMAX`.
    pub recipients_max: u32,
    /// Longest command line, CRLF included; values below
    /// [`COMMAND_LINE_BYTES_MIN`] are raised to it. The caller's read buffer must hold at
    /// least this many bytes, or a long line could never complete.
    pub command_line_bytes_max: usize,
    /// Error replies allowed before `421` and close.
    pub errors_max: u32,
    /// Commands moving no mail allowed since the last accepted MAIL, before `421`.
    pub commands_without_mail_max: u32,
    /// Time a command or SASL response line may take to arrive, counted from when the
    /// session is ready for it, before byte credit (see `deadline`), ms.
    pub command_timeout_ms: u64,
    /// Time a DATA body or BDAT chunk may take before byte credit, and the longest
    /// silence while message bytes arrive, ms.
    pub data_timeout_ms: u64,
    /// Slowest input the session waits for: each byte of a request adds
    /// `1000 / input_rate_bytes_per_second_min` ms to its deadline (0 counts as 1).
    pub input_rate_bytes_per_second_min: u64,
    /// Offer STARTTLS (RFC 3207) on plain connections; set when a certificate is
    /// configured for this listener.
    pub starttls: bool,
    /// An RFC 6409 submission listener: MAIL needs an authenticated client, else
    /// `530 5.7.0`.
    pub submission: bool,
    /// SASL mechanism names advertised after `AUTH` in the EHLO reply, in this order
    /// (RFC 4954 §3); empty: AUTH is neither offered nor accepted.
    pub auth_mechanisms: Vec<String>,
    /// Offer and accept AUTH only once TLS is active: on a plain connection AUTH is not
    /// advertised and gets `538 5.7.11`. Keeps passwords off the wire in the clear.
    pub auth_requires_tls: bool,
    /// Advertise REQUIRETLS (RFC 8689) once TLS is active, and accept its MAIL parameter
    /// then. The caller must then relay such messages only over verified TLS.
    pub requiretls: bool,
    /// Advertise FUTURERELEASE (RFC 4865) with these limits, and accept HOLDFOR and
    /// HOLDUNTIL; `None`: neither (a parameter of an extension not offered, RFC 5321
    /// §4.1.1.11).
    pub futurerelease: Option<super::release::FutureRelease>,
    /// Advertise `BURL imap` (RFC 4468) and take BURL from authenticated clients: for
    /// submission listeners whose caller resolves URLAUTH URLs of our own host (RFC 4468
    /// §3.1: never on port 25).
    pub burl: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            hostname: "localhost".to_owned(),
            message_bytes_max: MESSAGE_BYTES_MAX,
            recipients_max: RECIPIENTS_MAX,
            command_line_bytes_max: COMMAND_LINE_BYTES_MAX,
            errors_max: ERRORS_MAX,
            commands_without_mail_max: COMMANDS_WITHOUT_MAIL_MAX,
            command_timeout_ms: COMMAND_TIMEOUT_MS,
            data_timeout_ms: DATA_TIMEOUT_MS,
            input_rate_bytes_per_second_min: INPUT_RATE_BYTES_PER_SECOND_MIN,
            starttls: false,
            submission: false,
            auth_mechanisms: Vec::new(),
            auth_requires_tls: true,
            requiretls: false,
            futurerelease: None,
            burl: false,
        }
    }
}

/// What happened in the session. Every event stops input processing until it is
/// polled; those marked "needs `answer`" also until [`ServerSession::answer`] is called.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// HELO/EHLO accepted (the session already replied). Informational.
    Helo {
        /// The client's name for itself, as sent.
        name: String,
        /// True for EHLO.
        extended: bool,
    },
    /// Needs `answer`. Accept -> `250 2.1.0`.
    MailFrom(MailFrom),
    /// Needs `answer`. Accept -> `250 2.1.5`. Past `recipients_max` the session replies
    /// `452 4.5.3` itself and emits no event.
    RcptTo(ForwardPath),
    /// First DATA, BDAT or BURL of a transaction with at least one recipient. Needs
    /// `answer`: Accept -> DATA gets `354` and the body follows, BDAT goes on reading its
    /// chunk, BURL asks for its URL (`Burl`); Reject -> that reply (a BDAT chunk's bytes are still consumed and dropped) and
    /// the transaction ends with no further event.
    MessageStart,
    /// Message bytes in order: dot-unstuffed for DATA, raw for BDAT. At most
    /// [`BODY_CHUNK_BYTES_MAX`]; borrowed from the session until its next call.
    Body(&'a [u8]),
    /// The whole message arrived within limits. Needs `answer`, given only once the
    /// message is durable: Accept/AcceptWith -> `250 2.0.0`, Reject -> that reply. Either
    /// way the transaction ends.
    MessageEnd,
    /// BURL (RFC 4468) after `MessageStart`: resolve `url` for the authenticated
    /// client (the session checked it names our host), and append its content to the
    /// message as raw bytes, as a BDAT chunk's. Needs [`ServerSession::burl_done`]:
    /// `Appended(octets)` when it fitted in `room_bytes` (then `250 2.5.0`, or for
    /// `last` a `MessageEnd` follows), `TooLarge` when it would not (nothing appended),
    /// `Unresolved` for any failed check. On failure a `MessageAborted` follows.
    Burl {
        /// The URLAUTH URL, parsed.
        url: AuthUrl,
        /// `LAST`: the message ends with this content.
        last: bool,
        /// Octets the message may still grow by (`message_bytes_max` minus what BDAT
        /// and earlier BURLs gave).
        room_bytes: u64,
    },
    /// The message being received was dropped by the session; discard what was
    /// spooled. The transaction is over too (no `Reset` follows). The session sends its
    /// error reply where the RFC says (after the message's end for DATA).
    MessageAborted(AbortReason),
    /// A transaction ended without a message (RSET, HELO/EHLO, QUIT, a failed first
    /// BDAT, ...): drop per-transaction state.
    Reset,
    /// QUIT received and `221` queued: close once the output is flushed.
    Quit,
    /// STARTTLS accepted (RFC 3207 §4). With `pipelined: false`, `220 2.0.0` is queued
    /// and the session waits: flush the output completely, then run the TLS handshake on
    /// the raw socket (no plaintext read buffer may survive it) and call
    /// [`ServerSession::tls_started`] or [`ServerSession::tls_failed`]; if you hold
    /// plaintext the session did not see, call [`ServerSession::tls_refused_injection`]
    /// instead. With `pipelined: true`, the client sent more bytes behind STARTTLS in the
    /// same input (a command injection attempt, CVE-2011-0411 class): the session has
    /// already queued `554 5.5.1` and is closing. Never start TLS then; drop your buffer.
    StartTls {
        /// Input followed the STARTTLS line when it was handled.
        pipelined: bool,
    },
    /// AUTH (RFC 4954 §4) with an offered mechanism. Needs
    /// [`ServerSession::auth_challenge`], [`ServerSession::auth_success`] or
    /// [`ServerSession::auth_failure`], driven by the caller's SASL exchange.
    Auth {
        /// The mechanism as spelled in [`ServerConfig::auth_mechanisms`].
        mechanism: String,
        /// The decoded initial response, if given; `Some(empty)` for `=`.
        initial: Option<Vec<u8>>,
    },
    /// The client's decoded answer to the last challenge. Needs the same calls as `Auth`.
    AuthResponse(Vec<u8>),
    /// The exchange ended without a result and the session replied: the client sent
    /// `*` (`501 5.0.0`), a response that is not base64 (`501 5.5.2`) or a line over
    /// [`SASL_LINE_BYTES_MAX`](super::SASL_LINE_BYTES_MAX) (`500 5.5.6`). Drop the
    /// SASL state.
    AuthCancel,
}

/// Why the session dropped a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AbortReason {
    /// Over `message_bytes_max`; the session replies `552 5.3.4`.
    TooLarge,
    /// A bare CR or LF in DATA (RFC 5321 §2.3.8); the session replies `550 5.6.0`.
    BareCrOrLf,
    /// RSET, HELO or EHLO between BDAT chunks.
    Reset,
    /// A BDAT transaction failed: a bad BDAT command, or DATA after BDAT (RFC 3030 §2).
    BdatFailed,
    /// A BURL failed (RFC 4468 §3.2: the whole transaction fails); the reply is sent.
    BurlFailed,
    /// The session is closing (QUIT, timeout, shutdown, too many errors).
    Closed,
}

/// The caller's decision on an event that needs an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Accept with the session's standard text.
    Accept,
    /// Accept with this text (e.g. a queue id for `250 2.0.0`).
    AcceptWith(String),
    /// Refuse with this reply (should be 4xx or 5xx; it counts towards `errors_max`).
    Reject(Reply),
}

/// The mail transaction in progress, from an accepted MAIL to the end of the message.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transaction {
    /// The accepted MAIL command (path, SIZE, BODY, SMTPUTF8).
    pub mail_from: MailFrom,
    /// Recipients accepted so far, in order.
    pub recipients: Vec<ForwardPath>,
}

/// An event waiting in the queue; `Body` refers to the session's body buffer.
#[derive(Debug)]
enum Queued {
    Helo { name: String, extended: bool },
    MailFrom(MailFrom),
    RcptTo(ForwardPath),
    MessageStart,
    Body,
    Burl { url: AuthUrl, last: bool },
    MessageEnd,
    MessageAborted(AbortReason),
    Reset,
    Quit,
    StartTls { pipelined: bool },
    Auth { mechanism: String, initial: Option<Vec<u8>> },
    AuthResponse(Vec<u8>),
    AuthCancel,
}

/// The question an outstanding event asked. `Tls` waits for `tls_started`,
/// `tls_failed` or `tls_refused_injection`; `AuthStep` for `auth_challenge`,
/// `auth_success` or `auth_failure`; `Burl` for `burl_done`; the others for `answer`.
#[derive(Debug)]
enum Awaiting {
    Mail(MailFrom),
    Rcpt(ForwardPath),
    DataStart,
    BdatStart { size: u64, last: bool },
    BurlStart { url: AuthUrl, last: bool },
    Burl { last: bool },
    MessageEnd,
    Tls,
    AuthStep,
}

impl Awaiting {
    /// True for the questions [`ServerSession::answer`] answers.
    fn takes_verdict(&self) -> bool {
        !matches!(self, Self::Tls | Self::AuthStep | Self::Burl { .. })
    }
}

/// What the next input bytes are.
#[derive(Debug)]
enum Phase {
    /// Command lines.
    Command,
    /// The rest of an overlong line, dropped up to its LF; `auth` when it was a SASL
    /// response, which ends the exchange.
    SkipLine { auth: bool },
    /// One SASL response line, after a `334` challenge.
    AuthResponse,
    /// A DATA body; `failed` is set once the message is known to be dropped (bare CR
    /// or LF, or too large): the rest is read and dropped up to the terminator.
    Data { decoder: DataDecoder, bytes: u64, failed: bool },
    /// A BDAT chunk; `remaining` is never 0 here.
    Chunk { size: u64, remaining: u64, last: bool, sink: ChunkSink },
}

/// Where a BDAT chunk's bytes go.
#[derive(Debug)]
enum ChunkSink {
    /// Into `Body` events of the open message.
    Message,
    /// Nowhere; this error reply follows the chunk.
    Discard(Reply),
}

/// One SMTP server connection's protocol state. No IO, no clock.
#[derive(Debug)]
pub struct ServerSession {
    config: Arc<ServerConfig>,
    phase: Phase,
    helo_name: Option<String>,
    esmtp: bool,
    transaction: Option<Transaction>,
    /// `MessageStart` was emitted and neither `MessageEnd` nor `MessageAborted` since.
    message_open: bool,
    /// BDAT octets accepted into the open message.
    message_bytes: u64,
    awaiting: Option<Awaiting>,
    events: VecDeque<Queued>,
    body: Vec<u8>,
    output: Vec<u8>,
    errors: u32,
    commands_without_mail: u32,
    closing: bool,
    /// `shutdown` came while a MessageEnd answer was due: close right after it.
    shutdown_after_answer: bool,
    /// The deadline of the request being received (monotonic ms, the caller's clock);
    /// `None` between requests and while an answer is outstanding.
    deadline_ms: Option<u64>,
    /// `drain` was called: close at the next request boundary.
    draining: bool,
    /// When a draining session closes whatever it is doing.
    shutdown_deadline_ms: Option<u64>,
    /// TLS is active: implicit TLS (RFC 8314 §3) or a completed STARTTLS.
    tls: bool,
    /// The identity the caller's SASL exchange authenticated.
    authenticated: Option<String>,
}

/// One step of line reading.
enum LineRead<'a> {
    /// No LF yet and still under the limit: wait for more input.
    Incomplete,
    /// No LF within the limit: this many bytes are dropped, the rest is skipped.
    Overlong(usize),
    /// A line and the bytes it used; `None` when it ended in a bare LF.
    Line { line: Option<&'a [u8]>, used: usize },
}

/// Finds the next line in `input`, looking at most `line_max` bytes ahead.
fn next_line(input: &[u8], line_max: usize) -> LineRead<'_> {
    let window = &input[..input.len().min(line_max)];
    let Some(lf) = memchr(b'\n', window) else {
        return if window.len() < line_max { LineRead::Incomplete } else { LineRead::Overlong(window.len()) };
    };
    // RFC 5321 §2.3.8: lines end in CRLF; a bare LF is refused, not guessed at.
    LineRead::Line { line: window[..lf].strip_suffix(b"\r"), used: lf + 1 }
}

fn code(class: u8, subject: u16, detail: u16) -> Option<EnhancedCode> {
    Some(EnhancedCode(class, subject, detail))
}

impl ServerSession {
    /// Queues the `220 <hostname> ESMTP moxide` greeting.
    pub fn new(config: Arc<ServerConfig>) -> Self {
        let mut session = Self {
            config,
            phase: Phase::Command,
            helo_name: None,
            esmtp: false,
            transaction: None,
            message_open: false,
            message_bytes: 0,
            awaiting: None,
            events: VecDeque::with_capacity(EVENTS_QUEUED_MAX),
            body: Vec::new(),
            output: Vec::new(),
            errors: 0,
            commands_without_mail: 0,
            closing: false,
            shutdown_after_answer: false,
            deadline_ms: None,
            draining: false,
            shutdown_deadline_ms: None,
            tls: false,
            authenticated: None,
        };
        let greeting = format!("{} ESMTP moxide", session.config.hostname);
        session.write(Reply::new(220, None, greeting));
        session
    }

    /// Processes as much of `input` as it can and returns the number of bytes used; the
    /// caller drops those and keeps the rest for the next call. Returns early (maybe 0)
    /// when an event waits to be polled, an answer is outstanding, the session is
    /// closing, or pending output passed [`OUTPUT_BYTES_MAX`]. Command lines are used
    /// only when complete; an overlong line is consumed and dropped up to its end, then
    /// answered `500 5.5.2`. `now_ms` is the caller's monotonic clock: it starts and
    /// extends request deadlines, and a session whose deadline passed while it waits for
    /// input closes with `421` (call again with no input at [`Self::deadline_ms`]).
    /// Never panics on any input.
    pub fn handle_input(&mut self, input: &[u8], now_ms: u64) -> usize {
        let mut used = 0;
        while self.ready_for_input() {
            let rest = &input[used..];
            if self.close_if_drained(rest) {
                break;
            }
            self.arm_deadline(now_ms);
            if rest.is_empty() {
                break;
            }
            let step = match self.phase {
                Phase::Command => self.read_command(rest),
                Phase::SkipLine { auth } => self.skip_line(rest, auth),
                Phase::AuthResponse => self.read_auth_response(rest),
                Phase::Data { .. } => self.read_data(rest),
                Phase::Chunk { .. } => self.read_chunk(rest),
            };
            if step == 0 {
                break;
            }
            self.credit_deadline(step, now_ms);
            used += step;
        }
        if self.ready_for_input() {
            self.check_deadlines(now_ms);
        }
        used
    }

    /// The next event, if any. `Body` borrows the session's buffer.
    pub fn poll_event(&mut self) -> Option<Event<'_>> {
        let event = match self.events.pop_front()? {
            Queued::Helo { name, extended } => Event::Helo { name, extended },
            Queued::MailFrom(mail) => Event::MailFrom(mail),
            Queued::RcptTo(path) => Event::RcptTo(path),
            Queued::MessageStart => Event::MessageStart,
            Queued::Body => Event::Body(&self.body),
            Queued::Burl { url, last } => Event::Burl { url, last, room_bytes: self.burl_room_bytes() },
            Queued::MessageEnd => Event::MessageEnd,
            Queued::MessageAborted(reason) => Event::MessageAborted(reason),
            Queued::Reset => Event::Reset,
            Queued::Quit => Event::Quit,
            Queued::StartTls { pipelined } => Event::StartTls { pipelined },
            Queued::Auth { mechanism, initial } => Event::Auth { mechanism, initial },
            Queued::AuthResponse(response) => Event::AuthResponse(response),
            Queued::AuthCancel => Event::AuthCancel,
        };
        Some(event)
    }

    /// Answers the event that needs it (MailFrom, RcptTo, MessageStart, MessageEnd).
    /// Without such an event this is a programmer error (debug assertion, else
    /// ignored), except after the session started closing, when it is ignored.
    /// StartTls and the AUTH events have calls of their own.
    pub fn answer(&mut self, verdict: Verdict) {
        if !self.awaiting.as_ref().is_some_and(Awaiting::takes_verdict) {
            debug_assert!(self.closing, "answer() without an event awaiting a verdict");
            return;
        }
        let Some(awaiting) = self.awaiting.take() else {
            return;
        };
        match awaiting {
            Awaiting::Mail(mail) => self.answer_mail(mail, verdict),
            Awaiting::Rcpt(path) => self.answer_rcpt(path, verdict),
            Awaiting::DataStart => self.answer_data_start(verdict),
            Awaiting::BdatStart { size, last } => self.answer_bdat_start(size, last, verdict),
            Awaiting::BurlStart { url, last } => self.answer_burl_start(url, last, verdict),
            Awaiting::MessageEnd => self.answer_message_end(verdict),
            Awaiting::Tls | Awaiting::AuthStep | Awaiting::Burl { .. } => {}
        }
    }

    /// Replaces the configuration, e.g. after a TLS handshake when the mechanisms on
    /// offer depend on the negotiated TLS version (SCRAM -PLUS needs TLS 1.3 here). Takes
    /// effect from the next command; the caller calls it between `tls_started()` and the
    /// client's next EHLO.
    pub fn replace_config(&mut self, config: Arc<ServerConfig>) {
        self.config = config;
    }

    /// Reply bytes not yet written to the peer.
    pub fn pending_output(&self) -> &[u8] {
        &self.output
    }

    /// The caller wrote `n` bytes of [`Self::pending_output`].
    pub fn advance_output(&mut self, n: usize) {
        debug_assert!(n <= self.output.len(), "advanced past the pending output");
        self.output.drain(..n.min(self.output.len()));
    }

    /// True once QUIT or a 421 was queued: flush pending output, then close.
    pub fn wants_close(&self) -> bool {
        self.closing
    }

    /// The caller gave up waiting for the client on its own (a transport-level timeout):
    /// queues `421 4.4.2 <host> timeout` and closes. Deadlines the session keeps itself
    /// need no call: `handle_input` checks them.
    pub fn timed_out(&mut self) {
        let text = format!("{} timeout", self.config.hostname);
        self.close_with(Reply::new(421, code(4, 4, 2), text));
    }

    /// The server stops now: queues `421 4.3.2 <host> shutting down` and closes,
    /// dropping a message being received. When a message waits for its final answer,
    /// the 421 follows that answer, so a message being committed is still acknowledged.
    /// [`Self::drain`] is the gentler form that lets the request under way finish.
    pub fn shutdown(&mut self) {
        if matches!(self.awaiting, Some(Awaiting::MessageEnd)) {
            self.shutdown_after_answer = true;
            return;
        }
        self.close_shutting_down();
    }

    /// The HELO/EHLO name the client gave, if any.
    pub fn helo_name(&self) -> Option<&str> {
        self.helo_name.as_deref()
    }

    /// True when the client greeted with EHLO (vs HELO).
    pub fn esmtp(&self) -> bool {
        self.esmtp
    }

    /// True while TLS is active: implicit TLS or after [`Self::tls_started`].
    pub fn tls(&self) -> bool {
        self.tls
    }

    /// The identity given to [`Self::auth_success`], until STARTTLS resets the session.
    pub fn authenticated(&self) -> Option<&str> {
        self.authenticated.as_deref()
    }

    /// The transaction in progress, if any; it stays available until MessageEnd is
    /// answered.
    pub fn transaction(&self) -> Option<&Transaction> {
        self.transaction.as_ref()
    }

    fn ready_for_input(&self) -> bool {
        !self.closing
            && self.events.is_empty()
            && self.awaiting.is_none()
            && self.output.len() <= OUTPUT_BYTES_MAX
    }

    // ----- input phases -----

    /// Takes one complete command line, or starts skipping an overlong one.
    fn read_command(&mut self, input: &[u8]) -> usize {
        let (line, used) = match next_line(input, self.command_line_max(input)) {
            LineRead::Incomplete => return 0,
            LineRead::Overlong(used) => {
                self.phase = Phase::SkipLine { auth: false };
                return used;
            }
            LineRead::Line { line: None, used } => {
                self.request_done();
                self.reply_error(Reply::new(500, code(5, 5, 2), "command line must end with CRLF"));
                return used;
            }
            LineRead::Line { line: Some(line), used } => (line, used),
        };
        self.request_done();
        match parse_command(line) {
            Ok(command) => self.execute(command, input.len() > used),
            Err(error) => {
                if (is_bdat_line(line) || is_burl_line(line)) && self.message_open {
                    self.abort_message(AbortReason::BdatFailed);
                }
                self.reply_error(error.reply());
            }
        }
        used
    }

    /// The line limit for the command starting at `input`. RFC 4954 §4 lets an initial
    /// response make AUTH lines long, so they get the SASL limit where AUTH is offered.
    /// Decided from the first bytes, which are there whenever the limit matters: below
    /// [`COMMAND_LINE_BYTES_MIN`] bytes no line is ever cut.
    fn command_line_max(&self, input: &[u8]) -> usize {
        let configured = self.config.command_line_bytes_max.max(COMMAND_LINE_BYTES_MIN);
        let is_auth = input.get(..5).is_some_and(|verb| verb.eq_ignore_ascii_case(b"AUTH "));
        if is_auth && self.auth_offered() { configured.max(super::SASL_LINE_BYTES_MAX) } else { configured }
    }

    /// Drops the rest of an overlong line.
    fn skip_line(&mut self, input: &[u8], auth: bool) -> usize {
        let Some(lf) = memchr(b'\n', input) else {
            return input.len();
        };
        self.phase = Phase::Command;
        self.request_done();
        if auth {
            // RFC 4954 §4: a response longer than our buffer fails AUTH with 500 5.5.6.
            let text = "authentication exchange line too long";
            self.end_auth_exchange(Reply::new(500, code(5, 5, 6), text));
        } else {
            self.reply_error(Reply::new(500, code(5, 5, 2), "line too long"));
        }
        lf + 1
    }

    /// Decodes DATA body bytes into one `Body` event, or drops them once the message
    /// is known to fail.
    fn read_data(&mut self, input: &[u8]) -> usize {
        let Phase::Data { decoder, bytes, failed } = &mut self.phase else {
            return 0;
        };
        self.body.clear();
        let decoded = decoder.decode(input, &mut self.body, BODY_CHUNK_BYTES_MAX);
        *bytes = bytes.saturating_add(len_u64(self.body.len()));
        *failed = *failed || decoder.saw_bare_cr_or_lf() || *bytes > self.config.message_bytes_max;
        // The reason is decided at the end, from the whole message, so that it does not
        // depend on where the reads happened to split the input.
        let failure = failed.then(|| {
            if decoder.saw_bare_cr_or_lf() { AbortReason::BareCrOrLf } else { AbortReason::TooLarge }
        });
        if failure.is_none() && !self.body.is_empty() {
            self.push(Queued::Body);
        }
        if decoded.ended {
            self.phase = Phase::Command;
            self.request_done();
            self.finish_data(failure);
        }
        decoded.used
    }

    /// After CRLF.CRLF: the message goes to the caller, or it is aborted and the
    /// failure answered.
    fn finish_data(&mut self, failure: Option<AbortReason>) {
        let Some(reason) = failure else {
            self.message_open = false;
            self.push(Queued::MessageEnd);
            self.awaiting = Some(Awaiting::MessageEnd);
            return;
        };
        self.abort_message(reason);
        if reason == AbortReason::BareCrOrLf {
            let text = "message contains bare CR or LF (RFC 5321 section 2.3.8)";
            self.reply_error(Reply::new(550, code(5, 6, 0), text));
        } else {
            self.reply_error(too_large());
        }
    }

    /// Consumes BDAT chunk bytes: into a `Body` event, or dropped.
    fn read_chunk(&mut self, input: &[u8]) -> usize {
        let Phase::Chunk { remaining, sink, .. } = &mut self.phase else {
            return 0;
        };
        let mut take = (*remaining).min(len_u64(input.len()));
        if matches!(sink, ChunkSink::Message) {
            take = take.min(len_u64(BODY_CHUNK_BYTES_MAX));
        }
        // `take` <= input.len(), so it fits a usize.
        let take_bytes = usize::try_from(take).unwrap_or(input.len());
        *remaining -= take;
        let chunk_done = *remaining == 0;
        if matches!(sink, ChunkSink::Message) {
            self.body.clear();
            self.body.extend_from_slice(&input[..take_bytes]);
            self.push(Queued::Body);
        }
        if chunk_done {
            self.request_done();
            match std::mem::replace(&mut self.phase, Phase::Command) {
                Phase::Chunk { sink: ChunkSink::Discard(reply), .. } => self.reply_error(reply),
                Phase::Chunk { size, last, .. } => self.finish_chunk(size, last),
                _ => {}
            }
        }
        take_bytes
    }

    // ----- commands -----

    /// Runs one command; `input_follows` tells whether more input came behind its line.
    fn execute(&mut self, command: Command, input_follows: bool) {
        match command {
            Command::Helo(name) => self.cmd_helo(name, false),
            Command::Ehlo(name) => self.cmd_helo(name, true),
            Command::Mail(mail) => self.cmd_mail(mail),
            Command::Rcpt(path) => self.cmd_rcpt(path),
            Command::Data => self.cmd_data(),
            Command::Bdat { size, last } => self.cmd_bdat(size, last),
            Command::Burl { url, last } => self.cmd_burl(url, last),
            Command::Rset => {
                if self.count_command_without_mail() {
                    self.end_transaction(AbortReason::Reset);
                    self.write(Reply::new(250, code(2, 0, 0), "ok"));
                }
            }
            Command::Noop => {
                if self.count_command_without_mail() {
                    self.write(Reply::new(250, code(2, 0, 0), "ok"));
                }
            }
            // RFC 5321 §3.5.3: 252 when we will not verify but would accept the mail;
            // verifying would let anyone harvest addresses.
            Command::Vrfy | Command::Expn => {
                if self.count_command_without_mail() {
                    let text = "cannot verify, but will accept the message and try delivery";
                    self.write(Reply::new(252, code(2, 5, 0), text));
                }
            }
            Command::Help => {
                if self.count_command_without_mail() {
                    let text = "commands: HELO EHLO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY \
                                EXPN HELP";
                    self.write(Reply::new(214, code(2, 0, 0), text));
                }
            }
            Command::Quit => self.cmd_quit(),
            Command::StartTls => self.cmd_starttls(input_follows),
            Command::Auth { mechanism, initial } => self.cmd_auth(&mechanism, initial),
        }
    }

    /// HELO/EHLO: also resets any transaction (RFC 5321 §4.1.4).
    fn cmd_helo(&mut self, name: String, extended: bool) {
        if !self.count_command_without_mail() {
            return;
        }
        self.end_transaction(AbortReason::Reset);
        self.helo_name = Some(name.clone());
        self.esmtp = extended;
        let reply = if extended {
            self.ehlo_reply()
        } else {
            // RFC 2034 §3: no enhanced code in the HELO/EHLO reply.
            Reply::new(250, None, self.config.hostname.clone())
        };
        self.write(reply);
        self.push(Queued::Helo { name, extended });
    }

    /// The EHLO reply: one place builds the capability list. STARTTLS only before TLS,
    /// REQUIRETLS only with it (RFC 8689), AUTH where this connection may authenticate.
    fn ehlo_reply(&self) -> Reply {
        let mut capabilities = vec![
            self.config.hostname.clone(),
            "PIPELINING".to_owned(),
            format!("SIZE {}", self.config.message_bytes_max),
            "8BITMIME".to_owned(),
            "SMTPUTF8".to_owned(),
            "ENHANCEDSTATUSCODES".to_owned(),
            "CHUNKING".to_owned(),
            "BINARYMIME".to_owned(),
            format!("LIMITS RCPTMAX={}", self.config.recipients_max),
        ];
        if self.starttls_offered() {
            capabilities.push("STARTTLS".to_owned());
        }
        if self.requiretls_offered() {
            capabilities.push("REQUIRETLS".to_owned());
        }
        if self.auth_offered() {
            capabilities.push(format!("AUTH {}", self.config.auth_mechanisms.join(" ")));
        }
        if self.config.burl {
            // RFC 4468 §3.1/§3.3: `imap` says we resolve `submit+` URLAUTH URLs of our own
            // host. Advertised before AUTH too: the argument does not depend on who logs
            // in (every account's URLs resolve here), and clients seldom send EHLO again
            // after AUTH, so the no-argument form the RFC allows before AUTH would hide it
            // from them. BURL itself still needs AUTH (`530 5.7.0`).
            capabilities.push("BURL imap".to_owned());
        }
        if let Some(release) = &self.config.futurerelease {
            // RFC 4865 §3: FUTURERELEASE <max-future-release-interval> <max-future-release-date-time>.
            capabilities
                .push(format!("FUTURERELEASE {} {}", release.interval_secs_max, release.datetime_max));
        }
        Reply::new(250, None, capabilities.join("\n"))
    }

    fn cmd_mail(&mut self, mail: MailFrom) {
        let refusal = if self.helo_name.is_none() {
            Some(Reply::new(503, code(5, 5, 1), "send HELO or EHLO first"))
        } else if self.config.submission && self.authenticated.is_none() {
            // RFC 6409 §4.3: a submission server authenticates its clients; RFC 4954 §6
            // gives the reply.
            Some(Reply::new(530, code(5, 7, 0), "authentication required"))
        } else if mail.requiretls && !self.requiretls_offered() {
            // RFC 5321 §4.1.1.11: a parameter of an extension we did not offer here.
            Some(CommandError::UnknownParameter.reply())
        } else if mail.release.is_some() && self.config.futurerelease.is_none() {
            Some(CommandError::UnknownParameter.reply())
        } else if self.transaction.is_some() {
            Some(Reply::new(503, code(5, 5, 1), "nested MAIL command"))
        } else if mail.size_bytes.is_some_and(|size| size > self.config.message_bytes_max) {
            // RFC 1870 §6.1: a declared size over the fixed maximum gets 552.
            Some(too_large())
        } else if !mail.smtputf8 && !reverse_path_is_ascii(&mail) {
            Some(needs_smtputf8())
        } else {
            None
        };
        match refusal {
            Some(reply) => self.reply_error(reply),
            None => {
                self.push(Queued::MailFrom(mail.clone()));
                self.awaiting = Some(Awaiting::Mail(mail));
            }
        }
    }

    fn cmd_rcpt(&mut self, path: ForwardPath) {
        let Some(transaction) = &self.transaction else {
            self.reply_error(Reply::new(503, code(5, 5, 1), "MAIL first"));
            return;
        };
        let smtputf8 = transaction.mail_from.smtputf8;
        let accepted = len_u64(transaction.recipients.len());
        if self.message_open {
            self.reply_error(Reply::new(503, code(5, 5, 1), "RCPT after message data"));
        } else if !smtputf8 && !path.is_ascii() {
            self.reply_error(needs_smtputf8());
        } else if accepted >= u64::from(self.config.recipients_max) {
            // RFC 5321 §4.5.3.1.10: 452 for too many recipients, so the client sends
            // the rest in another transaction. Not a client error.
            self.write(Reply::new(452, code(4, 5, 3), "too many recipients"));
        } else {
            self.push(Queued::RcptTo(path.clone()));
            self.awaiting = Some(Awaiting::Rcpt(path));
        }
    }

    fn cmd_data(&mut self) {
        let Some(transaction) = &self.transaction else {
            self.reply_error(Reply::new(503, code(5, 5, 1), "MAIL first"));
            return;
        };
        let no_recipients = transaction.recipients.is_empty();
        let binary = transaction.mail_from.body == BodyType::BinaryMime;
        if self.message_open {
            // RFC 3030 §2: DATA after BDAT in one transaction is 503; the state is left
            // undefined, we end the transaction. The same after BURL (RFC 4468 §3.2
            // mixes BURL with BDAT only).
            self.abort_message(AbortReason::BdatFailed);
            self.reply_error(Reply::new(503, code(5, 5, 1), "DATA not allowed after BDAT"));
        } else if no_recipients {
            self.reply_error(Reply::new(503, code(5, 5, 1), "RCPT first"));
        } else if binary {
            // RFC 3030 §3: a BINARYMIME message can only be sent with BDAT.
            let text = "BODY=BINARYMIME requires BDAT";
            self.reply_error(Reply::new(503, code(5, 5, 1), text));
        } else {
            self.message_open = true;
            self.push(Queued::MessageStart);
            self.awaiting = Some(Awaiting::DataStart);
        }
    }

    /// BDAT (RFC 3030 §2). Whatever happens, `size` octets are consumed as data.
    fn cmd_bdat(&mut self, size: u64, last: bool) {
        let Some(transaction) = &self.transaction else {
            let reply = Reply::new(503, code(5, 5, 1), "MAIL first");
            self.discard_chunk(size, last, reply);
            return;
        };
        if transaction.recipients.is_empty() {
            let reply = Reply::new(503, code(5, 5, 1), "RCPT first");
            self.discard_chunk(size, last, reply);
            return;
        }
        let max = self.config.message_bytes_max;
        if !self.message_open {
            if size > max {
                self.end_transaction(AbortReason::TooLarge);
                self.discard_chunk(size, last, too_large());
            } else {
                self.message_open = true;
                self.push(Queued::MessageStart);
                self.awaiting = Some(Awaiting::BdatStart { size, last });
            }
        } else if self.message_bytes.saturating_add(size) > max {
            self.abort_message(AbortReason::TooLarge);
            self.discard_chunk(size, last, too_large());
        } else {
            self.start_chunk(size, last);
        }
    }

    fn cmd_quit(&mut self) {
        self.end_transaction(AbortReason::Closed);
        let text = format!("{} closing connection", self.config.hostname);
        self.write(Reply::new(221, code(2, 0, 0), text));
        self.push(Queued::Quit);
        self.closing = true;
    }

    // ----- answers -----

    fn answer_mail(&mut self, mail: MailFrom, verdict: Verdict) {
        match verdict.accepted_text("ok") {
            Ok(text) => {
                self.transaction = Some(Transaction { mail_from: mail, recipients: Vec::new() });
                self.commands_without_mail = 0;
                self.write(Reply::new(250, code(2, 1, 0), text));
            }
            Err(reply) => self.reply_error(reply),
        }
    }

    fn answer_rcpt(&mut self, path: ForwardPath, verdict: Verdict) {
        match verdict.accepted_text("ok") {
            Ok(text) => {
                if let Some(transaction) = &mut self.transaction {
                    transaction.recipients.push(path);
                }
                self.write(Reply::new(250, code(2, 1, 5), text));
            }
            Err(reply) => self.reply_error(reply),
        }
    }

    fn answer_data_start(&mut self, verdict: Verdict) {
        match verdict.accepted_text("start mail input; end with <CRLF>.<CRLF>") {
            Ok(text) => {
                // 3yz replies carry no enhanced code: RFC 3463 classes are 2, 4 and 5.
                self.write(Reply::new(354, None, text));
                self.phase = Phase::Data { decoder: DataDecoder::new(), bytes: 0, failed: false };
            }
            Err(reply) => {
                self.message_open = false;
                self.transaction = None;
                self.reply_error(reply);
            }
        }
    }

    fn answer_bdat_start(&mut self, size: u64, last: bool, verdict: Verdict) {
        match verdict.accepted_text("") {
            Ok(_) => {
                self.message_bytes = 0;
                self.start_chunk(size, last);
            }
            Err(reply) => {
                self.message_open = false;
                self.transaction = None;
                self.discard_chunk(size, last, reply);
            }
        }
    }

    fn answer_message_end(&mut self, verdict: Verdict) {
        self.transaction = None;
        match verdict.accepted_text("ok") {
            Ok(text) => self.write(Reply::new(250, code(2, 0, 0), text)),
            Err(reply) => self.reply_error(reply),
        }
        if self.shutdown_after_answer {
            self.shutdown();
        }
    }

    // ----- helpers -----

    /// Reads a chunk of the open BDAT message.
    fn start_chunk(&mut self, size: u64, last: bool) {
        self.message_bytes = self.message_bytes.saturating_add(size);
        if size == 0 {
            self.finish_chunk(size, last);
        } else {
            self.phase = Phase::Chunk { size, remaining: size, last, sink: ChunkSink::Message };
        }
    }

    /// Drops a chunk; `reply` (an error) follows its last byte.
    fn discard_chunk(&mut self, size: u64, last: bool, reply: Reply) {
        if size == 0 {
            self.reply_error(reply);
        } else {
            self.phase = Phase::Chunk { size, remaining: size, last, sink: ChunkSink::Discard(reply) };
        }
    }

    /// A chunk of the open message is complete.
    fn finish_chunk(&mut self, size: u64, last: bool) {
        if last {
            self.message_open = false;
            self.push(Queued::MessageEnd);
            self.awaiting = Some(Awaiting::MessageEnd);
        } else {
            let text = format!("{size} octets received");
            self.write(Reply::new(250, code(2, 0, 0), text));
        }
    }

    /// Drops the open message and its transaction, telling the caller why.
    fn abort_message(&mut self, reason: AbortReason) {
        debug_assert!(self.message_open);
        self.message_open = false;
        self.transaction = None;
        self.push(Queued::MessageAborted(reason));
    }

    /// Ends the transaction, if any, with the right event.
    fn end_transaction(&mut self, reason: AbortReason) {
        if self.message_open {
            self.abort_message(reason);
        } else if self.transaction.take().is_some() {
            self.push(Queued::Reset);
        }
    }

    /// Counts a command that moves no mail; false (and 421 queued) past the limit.
    fn count_command_without_mail(&mut self) -> bool {
        self.commands_without_mail = self.commands_without_mail.saturating_add(1);
        if self.commands_without_mail <= self.config.commands_without_mail_max {
            return true;
        }
        let text = format!("{} too many commands without a transaction", self.config.hostname);
        self.close_with(Reply::new(421, code(4, 7, 0), text));
        false
    }

    /// Sends an error reply, or 421 instead once `errors_max` is exceeded.
    fn reply_error(&mut self, reply: Reply) {
        debug_assert!(!reply.is_positive(), "error reply with a positive code");
        self.errors = self.errors.saturating_add(1);
        if self.errors <= self.config.errors_max {
            self.write(reply);
            return;
        }
        let text = format!("{} too many errors", self.config.hostname);
        self.close_with(Reply::new(421, code(4, 7, 0), text));
    }

    /// Queues a final reply and stops: RFC 5321 §3.8 lets a server answer any command
    /// with 421 and close.
    fn close_with(&mut self, reply: Reply) {
        if self.closing {
            return;
        }
        self.end_transaction(AbortReason::Closed);
        self.awaiting = None;
        self.phase = Phase::Command;
        self.deadline_ms = None;
        self.write(reply);
        self.closing = true;
    }

    fn write(&mut self, reply: Reply) {
        reply.write_to(&mut self.output);
    }

    fn push(&mut self, event: Queued) {
        // Invariant: input is read only with an empty queue, and no input step queues
        // more than two events; external calls add at most one (close_with runs once).
        assert!(self.events.len() < EVENTS_QUEUED_MAX, "event queue overflow");
        self.events.push_back(event);
    }
}

impl Verdict {
    /// The accept text (`default` for plain Accept) or the rejection reply.
    fn accepted_text(self, default: &str) -> Result<String, Reply> {
        match self {
            Self::Accept => Ok(default.to_owned()),
            Self::AcceptWith(text) => Ok(text),
            Self::Reject(reply) => Err(reply),
        }
    }
}

fn too_large() -> Reply {
    Reply::new(552, code(5, 3, 4), "message too large")
}

/// RFC 6531 §3.4: a non-ASCII address without SMTPUTF8 gets 553 5.6.7.
fn needs_smtputf8() -> Reply {
    let text = "non-ASCII address requires SMTPUTF8";
    Reply::new(553, code(5, 6, 7), text)
}

fn reverse_path_is_ascii(mail: &MailFrom) -> bool {
    match &mail.path {
        super::address::ReversePath::Null => true,
        super::address::ReversePath::Mailbox(mailbox) => mailbox.is_ascii(),
    }
}

/// usize to u64; lossless on every platform Rust supports (usize is at most 64 bits).
fn len_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}
