//! The SMTP client session: server bytes in, events and command bytes out (RFC 5321
//! §3 and §4 from the client's side, with PIPELINING RFC 2920, SIZE RFC 1870, 8BITMIME
//! RFC 6152, SMTPUTF8 RFC 6531, CHUNKING RFC 3030, DSN RFC 3461, STARTTLS RFC 3207,
//! AUTH PLAIN RFC 4954 and RFC 4616, LIMITS RFC 9422, REQUIRETLS RFC 8689).
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

use crate::smtp::reply::{EnhancedCode, Reply};

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
    /// Greeting and EHLO (or HELO) done, or EHLO again after TLS: the caller may act.
    /// The server's extensions are in [`ClientSession::capabilities`].
    Ready,
    /// The server said `220` to STARTTLS: run the TLS handshake on the connection now,
    /// then call [`ClientSession::tls_established`].
    TlsReady,
    /// STARTTLS was refused; the session is ready again, still in plaintext.
    StartTlsRefused(Reply),
    /// AUTH succeeded (`235`); ready again.
    Authenticated,
    /// AUTH was refused; ready again, unauthenticated.
    AuthRefused(Reply),
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
    Bdat { last: bool },
    DataEnd,
    Rset,
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
            Self::Rset => Stage::Rset,
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
    events: VecDeque<Event>,
    out: Vec<u8>,
    out_sent: usize,
}

mod session;
