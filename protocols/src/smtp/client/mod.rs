//! The SMTP client session: server bytes in, events and command bytes out (RFC 5321
//! §3 and §4 from the client's side, with PIPELINING RFC 2920, SIZE RFC 1870, 8BITMIME
//! RFC 6152, SMTPUTF8 RFC 6531, CHUNKING RFC 3030, DSN RFC 3461, STARTTLS RFC 3207,
//! AUTH RFC 4954 with SCRAM-SHA-256/SHA-1 and their -PLUS variants (RFC 5802, RFC 7677,
//! RFC 9266) and PLAIN (RFC 4616), LIMITS RFC 9422, REQUIRETLS RFC 8689).
//!
//! The caller owns the socket, the clock and the message file. It writes
//! [`ClientSession::pending_output`] (then [`ClientSession::advance_output`]), feeds
//! what the server sends to [`ClientSession::handle_input`], drains
//! [`ClientSession::poll_event`], and acts on the events: after [`Event::Ready`] it may
//! start TLS, authenticate, [`ClientSession::send`] a transaction or quit; after
//! [`Event::SendBody`] it streams the message through [`ClientSession::body_data`] and
//! [`ClientSession::body_end`]. The session says when it waits for the server
//! ([`ClientSession::wants_input`]) and until when ([`ClientSession::deadline_ms`]:
//! the RFC 5321 §4.5.3.2 timeouts); past it the caller calls
//! [`ClientSession::handle_timeout`].
//!
//! Invariants:
//! - replies are matched to commands in the order sent (RFC 2920 §3.1); every recipient
//!   of a transaction ends with exactly one result ([`TransactionResult`]);
//! - a message that cannot go to this server (SMTPUTF8, 8BITMIME, SIZE, REQUIRETLS) is
//!   refused by [`ClientSession::send`] before any command is written;
//! - the body is never held whole: `body_data` takes what fits in
//!   [`CLIENT_OUTPUT_BYTES_MAX`] and says how much it took; DATA is dot-stuffed across
//!   any piece boundaries (RFC 5321 §4.5.2);
//! - no server byte that arrived with the `220` to STARTTLS is used: such input fails
//!   the session (the STARTTLS injection of RFC 3207 §6 reversed);
//! - AUTH picks the strongest mechanism both sides allow ([`choose_mechanism`]); PLAIN
//!   goes only over TLS; a SCRAM exchange ends in [`Event::Authenticated`] only after
//!   the server's signature verified; PBKDF2 runs in the caller ([`Event::AuthDerive`]);
//! - after a failure (`421`, a malformed reply, a timeout, the peer closing) the session
//!   takes no input and emits no event after [`Event::Failed`].

mod capabilities;
mod envelope;
pub mod limits;
pub mod reply_reader;

use std::collections::VecDeque;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

pub use capabilities::Capabilities;
pub use envelope::{ADDRESS_BYTES_MAX, DsnEnvelope, DsnReturn, Envelope, Recipient, Unsendable, xtext};
use limits::{
    BDAT_CHUNK_BYTES_MAX, BDAT_IN_FLIGHT_MAX, CLIENT_OUTPUT_BYTES_MAX, DATA_BLOCK_TIMEOUT_MS,
    DATA_INITIATION_TIMEOUT_MS, DATA_TERMINATION_TIMEOUT_MS, GREETING_TIMEOUT_MS, MAIL_TIMEOUT_MS,
    RCPT_TIMEOUT_MS,
};
pub use reply_reader::{ReplyError, ReplyReader};

use crate::sasl::{ChannelBinding, Derivation, Mechanism, ScramClient};
use crate::smtp::reply::{EnhancedCode, Reply};

/// The mechanisms the client can use, strongest first: SCRAM with channel binding,
/// SCRAM, then PLAIN (the password itself, only over TLS).
pub const CLIENT_MECHANISMS: [Mechanism; 5] = [
    Mechanism::ScramSha256Plus,
    Mechanism::ScramSha256,
    Mechanism::ScramSha1Plus,
    Mechanism::ScramSha1,
    Mechanism::Plain,
];

/// The strongest mechanism of [`CLIENT_MECHANISMS`] that the server `offered` (its EHLO
/// AUTH list), that `allowed` names (empty: all), and that the connection supports:
/// -PLUS only with channel binding data, PLAIN only over TLS.
pub fn choose_mechanism(
    offered: &[String],
    allowed: &[Mechanism],
    tls: bool,
    binding: bool,
) -> Option<Mechanism> {
    CLIENT_MECHANISMS.into_iter().find(|&mechanism| {
        let usable = match mechanism {
            Mechanism::Plain => tls,
            m if m.needs_channel_binding() => binding,
            _ => true,
        };
        usable
            && (allowed.is_empty() || allowed.contains(&mechanism))
            && offered.iter().any(|name| name.eq_ignore_ascii_case(mechanism.name()))
    })
}

/// What [`ClientSession::authenticate`] needs.
pub struct AuthRequest<'a> {
    /// The account name at the server.
    pub username: &'a str,
    /// Its password (sent itself only by PLAIN).
    pub password: &'a str,
    /// Mechanisms the configuration allows; empty: all of [`CLIENT_MECHANISMS`].
    pub allowed: &'a [Mechanism],
    /// The TLS connection's channel binding (RFC 9266 tls-exporter), if any.
    pub channel_binding: Option<ChannelBinding>,
    /// Random bytes for the SCRAM client nonce (18 or more).
    pub nonce: &'a [u8],
}

impl std::fmt::Debug for AuthRequest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthRequest").field("username", &self.username).finish_non_exhaustive()
    }
}

/// Where an AUTH exchange stands.
#[derive(Debug)]
enum AuthState {
    /// AUTH PLAIN sent; waiting for 235.
    Plain,
    /// SCRAM client-first sent; waiting for server-first (334).
    ScramFirst(Box<ScramClient>),
    /// Waiting for the caller's salted password.
    ScramDerive(Box<ScramClient>),
    /// client-final sent; waiting for server-final (334).
    ScramFinal(Box<ScramClient>),
    /// The server proved itself; the empty response sent; waiting for 235.
    ScramVerified,
    /// `*` sent (RFC 4954 §4: the client cancels); the reply is ignored, this reason
    /// is reported.
    Cancelled(Reply),
}

/// Settings of a client session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Our host name, sent with EHLO/HELO (RFC 5321 §4.1.1.1).
    pub hostname: String,
}

/// Which step the session was in; names where a failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Waiting for the `220` greeting.
    Greeting,
    /// EHLO.
    Ehlo,
    /// HELO, after EHLO was refused.
    Helo,
    /// STARTTLS, or the TLS handshake after it.
    StartTls,
    /// AUTH.
    Auth,
    /// MAIL FROM.
    Mail,
    /// RCPT TO.
    Rcpt,
    /// DATA, waiting for `354`.
    Data,
    /// Sending the message.
    Body,
    /// Waiting for the reply after the message.
    DataEnd,
    /// RSET.
    Rset,
    /// QUIT.
    Quit,
    /// Nothing asked, between transactions.
    Idle,
}

/// Why the session failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureCause {
    /// A reply that ends the session: `421`, or a refused greeting, EHLO and HELO.
    Reply(Reply),
    /// The server did not answer by the deadline.
    Timeout,
    /// The server closed the connection.
    Closed,
    /// The server sent bytes that are not a reply.
    Malformed(ReplyError),
    /// A reply when none was asked for.
    Unexpected(Reply),
    /// Bytes after the `220` to STARTTLS, before the handshake.
    InputAfterStartTls,
}

/// A failed session: the connection is done; the caller closes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Where it failed.
    pub stage: Stage,
    /// Why.
    pub cause: FailureCause,
}

impl Failure {
    /// The server's reply, when the failure was one.
    pub fn reply(&self) -> Option<&Reply> {
        match &self.cause {
            FailureCause::Reply(reply) => Some(reply),
            _ => None,
        }
    }
}

/// The results of one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionResult {
    /// The reply to MAIL.
    pub mail: Reply,
    /// Each recipient's result, in envelope order: the MAIL reply when MAIL failed, the
    /// RCPT reply when RCPT failed, else the reply to the message (RFC 5321 §3.3).
    pub recipients: Vec<Reply>,
}

impl TransactionResult {
    /// Recipients whose message was accepted.
    pub fn delivered_count(&self) -> usize {
        self.recipients.iter().filter(|reply| reply.code / 100 == 2).count()
    }
}

/// What happened. Events come in the order of the replies that caused them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Greeting and EHLO (or HELO) done, EHLO again after TLS, or the `250` to the RSET
    /// of [`ClientSession::reset`]: the caller may act.
    /// The server's extensions are in [`ClientSession::capabilities`].
    Ready,
    /// The server said `220` to STARTTLS: run the TLS handshake on the connection now,
    /// then call [`ClientSession::tls_established`].
    TlsReady,
    /// STARTTLS was refused; the session is ready again, still in plaintext.
    StartTlsRefused(Reply),
    /// AUTH succeeded (`235`); ready again.
    Authenticated,
    /// AUTH was refused (or the client cancelled it: the reply then stands for our
    /// reason, `454 4.7.0`); ready again, unauthenticated.
    AuthRefused(Reply),
    /// SCRAM: derive the salted password ([`Derivation::salted_password`], slow: off
    /// the executor), then call [`ClientSession::auth_derived`].
    AuthDerive(Derivation),
    /// Stream the message now: `body_data` until it is all taken, then `body_end`.
    SendBody,
    /// The transaction is over; the session is ready for the next.
    TransactionDone(TransactionResult),
    /// QUIT was answered; close the connection.
    Closed,
    /// The session failed; close the connection. No event follows.
    Failed(Failure),
}

/// A reply the session waits for, and by when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Expected {
    what: Awaiting,
    deadline_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Awaiting {
    Greeting,
    Ehlo,
    Helo,
    StartTls,
    Auth,
    Mail,
    Rcpt(usize),
    Data,
    Bdat {
        last: bool,
    },
    DataEnd,
    Rset,
    /// RSET before a kept connection is used again.
    Reset,
    /// The same RSET leading the next transaction's pipelined group: its `250` gives no
    /// event (the envelope's replies follow).
    ResetInGroup,
    Quit,
}

impl Awaiting {
    fn stage(self) -> Stage {
        match self {
            Self::Greeting => Stage::Greeting,
            Self::Ehlo => Stage::Ehlo,
            Self::Helo => Stage::Helo,
            Self::StartTls => Stage::StartTls,
            Self::Auth => Stage::Auth,
            Self::Mail => Stage::Mail,
            Self::Rcpt(_) => Stage::Rcpt,
            Self::Data => Stage::Data,
            Self::Bdat { last: false } => Stage::Body,
            Self::Bdat { last: true } | Self::DataEnd => Stage::DataEnd,
            Self::Rset | Self::Reset | Self::ResetInGroup => Stage::Rset,
            Self::Quit => Stage::Quit,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Replies are awaited or the caller may act ([`Event::Ready`] given).
    Running,
    /// The caller streams the message.
    Body,
    /// The caller runs the TLS handshake.
    TlsHandshake,
    /// QUIT answered.
    Closed,
    /// Failed.
    Failed,
}

/// One transaction under way.
#[derive(Debug)]
struct Transaction {
    chunking: bool,
    /// Command lines not yet written (without PIPELINING, one at a time).
    unsent: VecDeque<(String, Awaiting)>,
    mail: Option<Reply>,
    rcpt: Vec<Option<Reply>>,
    rcpt_accepted: usize,
    /// The reply to the message, or what stands for it.
    data: Option<Reply>,
    body: BodyState,
}

#[derive(Debug, Default)]
struct BodyState {
    at_line_start: bool,
    /// The last two message bytes, to know whether it ended with CRLF.
    tail: [u8; 2],
    bytes: u64,
    bdat_in_flight: usize,
    /// A BDAT chunk was refused: the rest is dropped and RSET ends the transaction.
    refused: Option<Reply>,
    progress_ms: u64,
}

/// The SMTP client session. See the module documentation.
#[derive(Debug)]
pub struct ClientSession {
    config: ClientConfig,
    reader: ReplyReader,
    expected: VecDeque<Expected>,
    phase: Phase,
    caps: Capabilities,
    tls: bool,
    transaction: Option<Transaction>,
    auth: Option<AuthState>,
    events: VecDeque<Event>,
    out: Vec<u8>,
    out_sent: usize,
    /// A RSET to lead the next transaction's pipelined group ([`ClientSession::reset`]).
    reset_pending: bool,
}

mod session;
