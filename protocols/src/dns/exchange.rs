//! The stub resolver's exchange for one question, sans-IO: which server to ask next, over
//! UDP or TCP, until when to wait, and what the answer was. The caller owns the sockets,
//! the clock and the random message ids; it drives the machine like this:
//!
//! ```text
//!   loop { match exchange.poll(now_ms, random_id) {
//!       Step::Send(t) if t.transport == Udp => send t.bytes from a fresh socket (random port)
//!       Step::Send(t)                       => TCP: connect, write t.bytes (length-prefixed),
//!                                              read one framed reply -> handle_tcp(..)
//!       Step::Wait { deadline_ms }          => receive datagrams until the deadline ->
//!                                              handle_udp(from, bytes) for each
//!       Step::Done(result)                  => return result } }
//! ```
//!
//! Policy (glibc's stub resolver, tightened by RFC 5452): each round asks every server in
//! order, `attempts` rounds; a server gets `attempt_timeout_ms` per try. A datagram counts
//! only if it comes from the server's address with our id and our question (anything else
//! is ignored and the wait goes on). A truncated answer (TC, RFC 1035 §4.2.1) is asked
//! again over TCP (RFC 7766 §5) at the same server. SERVFAIL, REFUSED and the like move to
//! the next server; FORMERR is retried once without EDNS (RFC 6891 §7). NOERROR and
//! NXDOMAIN end the exchange. The AD bit is believed only from servers configured as
//! trusted (a validating resolver on loopback, RFC 6698 §4.1's "secure channel").

use std::net::SocketAddr;
use std::sync::Arc;

use super::message::{Answer, DecodeError, Question, Rcode, decode_response, encode_query, message_id};

/// Most tries at each server, counting the first: 5, glibc's `RES_MAXRETRY`. More only
/// stretches a failing lookup past the SMTP session's patience.
pub const ATTEMPTS_MAX: u32 = 5;

/// Default tries per server: 2, glibc's default.
pub const ATTEMPTS_DEFAULT: u32 = 2;

/// Default time a server gets to answer one try, in milliseconds. glibc waits 5 s; a
/// resolver on the local network answers from cache in under a millisecond and a
/// recursive lookup rarely takes over 2 s, so 3 s keeps a dead server from holding a
/// message's checks for long.
pub const ATTEMPT_TIMEOUT_MS_DEFAULT: u64 = 3_000;

/// Longest time one try may be given, in milliseconds (glibc caps `timeout:` at 30 s).
pub const ATTEMPT_TIMEOUT_MS_MAX: u64 = 30_000;

/// Most name servers used: 3, glibc's `MAXNS`; further `nameserver` lines are ignored.
pub const SERVERS_MAX: usize = 3;

/// A name server and whether its AD bit is believed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameServer {
    /// Address and port.
    pub address: SocketAddr,
    /// Believe the AD bit: set only for a validating resolver reached over a channel
    /// nobody else can write to (loopback).
    pub trust_ad: bool,
}

/// How the exchange asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeConfig {
    /// Servers in the order they are asked (at most [`SERVERS_MAX`]).
    pub servers: Vec<NameServer>,
    /// Rounds over all servers (1..=[`ATTEMPTS_MAX`]).
    pub attempts: u32,
    /// Time one try gets, in milliseconds.
    pub attempt_timeout_ms: u64,
}

impl ExchangeConfig {
    /// Configuration with the default attempts and timeout.
    pub fn new(servers: Vec<NameServer>) -> ExchangeConfig {
        ExchangeConfig { servers, attempts: ATTEMPTS_DEFAULT, attempt_timeout_ms: ATTEMPT_TIMEOUT_MS_DEFAULT }
    }

    /// Clamps every value into its allowed range.
    pub fn clamped(mut self) -> ExchangeConfig {
        self.servers.truncate(SERVERS_MAX);
        self.attempts = self.attempts.clamp(1, ATTEMPTS_MAX);
        self.attempt_timeout_ms = self.attempt_timeout_ms.clamp(1, ATTEMPT_TIMEOUT_MS_MAX);
        self
    }
}

/// UDP or TCP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// One datagram each way.
    Udp,
    /// A connection; the bytes carry the two-octet length prefix (RFC 1035 §4.2.2).
    Tcp,
}

/// Bytes to send to a server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where.
    pub server: SocketAddr,
    /// How.
    pub transport: Transport,
    /// The query (with its length prefix for TCP).
    pub bytes: Vec<u8>,
    /// When this try times out.
    pub deadline_ms: u64,
}

/// What the caller does next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this, then (UDP) wait for datagrams or (TCP) read one reply.
    Send(Transmit),
    /// Keep receiving datagrams on the current socket until the deadline.
    Wait {
        /// When the current try times out.
        deadline_ms: u64,
    },
    /// The exchange is over.
    Done(Result<Answer, ResolveError>),
}

/// Why a question got no answer. All of these are temporary in the sense of RFC 7208
/// §2.6.6 and RFC 6376 §6.1.2: the domain owner may fix them, the sender may retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ResolveError {
    /// No server answered in time.
    #[error("DNS timeout")]
    Timeout,
    /// Servers answered with SERVFAIL, REFUSED or another failure code.
    #[error("DNS server failure (rcode {rcode})")]
    ServerFailure {
        /// The last response code seen.
        rcode: u16,
    },
    /// A server sent a message we could not decode.
    #[error("malformed DNS response")]
    Malformed,
    /// No server is configured.
    #[error("no DNS resolver configured")]
    NoServers,
    /// A connection could not be made or broke (TCP), or a socket failed.
    #[error("DNS connection failed")]
    Connection,
    /// The name could not be asked about (invalid after macro expansion, too long).
    #[error("invalid DNS name")]
    InvalidName,
    /// Too many questions are already waiting for answers; try later.
    #[error("DNS resolver overloaded")]
    Overloaded,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing in flight: the next poll starts a try at `server`.
    Idle,
    /// A UDP query with this id is out.
    Udp { id: u16, deadline_ms: u64 },
    /// The UDP answer was truncated: the next poll asks over TCP.
    TcpNext,
    /// A TCP query with this id is out.
    Tcp { id: u16, deadline_ms: u64 },
    /// Finished; the result was handed out.
    Done,
}

/// One question's exchange with the configured servers.
#[derive(Debug)]
pub struct Exchange {
    question: Question,
    config: Arc<ExchangeConfig>,
    round: u32,
    server: usize,
    phase: Phase,
    /// EDNS is left out for the server at this index after it said FORMERR.
    edns_off: [bool; SERVERS_MAX],
    last_error: ResolveError,
    result: Option<Result<Answer, ResolveError>>,
}

impl Exchange {
    /// An exchange for `question` with these servers.
    pub fn new(question: Question, config: Arc<ExchangeConfig>) -> Exchange {
        let last_error =
            if config.servers.is_empty() { ResolveError::NoServers } else { ResolveError::Timeout };
        Exchange {
            question,
            config,
            round: 0,
            server: 0,
            phase: Phase::Idle,
            edns_off: [false; SERVERS_MAX],
            last_error,
            result: None,
        }
    }

    /// The question being asked.
    pub fn question(&self) -> &Question {
        &self.question
    }

    /// The next thing to do at time `now_ms`; `fresh_id` is a random message id, used if a
    /// new query goes out.
    pub fn poll(&mut self, now_ms: u64, fresh_id: u16) -> Step {
        if let Some(result) = self.result.take() {
            self.phase = Phase::Done;
            return Step::Done(result);
        }
        match self.phase {
            Phase::Done => Step::Done(Err(self.last_error)),
            Phase::Udp { deadline_ms, .. } | Phase::Tcp { deadline_ms, .. } if now_ms < deadline_ms => {
                Step::Wait { deadline_ms }
            }
            Phase::Udp { .. } | Phase::Tcp { .. } => {
                self.last_error = ResolveError::Timeout;
                self.next_server();
                self.poll(now_ms, fresh_id)
            }
            Phase::TcpNext => self.start(now_ms, fresh_id, Transport::Tcp),
            Phase::Idle => {
                if self.round >= self.config.attempts.clamp(1, ATTEMPTS_MAX) || self.config.servers.is_empty()
                {
                    self.phase = Phase::Done;
                    return Step::Done(Err(self.last_error));
                }
                self.start(now_ms, fresh_id, Transport::Udp)
            }
        }
    }

    fn start(&mut self, now_ms: u64, id: u16, transport: Transport) -> Step {
        let Some(server) = self.config.servers.get(self.server) else {
            self.phase = Phase::Done;
            return Step::Done(Err(ResolveError::NoServers));
        };
        let edns = !self.edns_off.get(self.server).copied().unwrap_or(false);
        let query = encode_query(id, &self.question, edns);
        let deadline_ms = now_ms.saturating_add(self.config.attempt_timeout_ms);
        let bytes = match transport {
            Transport::Udp => query,
            Transport::Tcp => {
                let mut framed = Vec::with_capacity(query.len() + 2);
                // A one-question query is far below 64 KiB.
                framed.extend_from_slice(&u16::try_from(query.len()).unwrap_or(u16::MAX).to_be_bytes());
                framed.extend_from_slice(&query);
                framed
            }
        };
        self.phase = match transport {
            Transport::Udp => Phase::Udp { id, deadline_ms },
            Transport::Tcp => Phase::Tcp { id, deadline_ms },
        };
        Step::Send(Transmit { server: server.address, transport, bytes, deadline_ms })
    }

    fn next_server(&mut self) {
        self.server += 1;
        if self.server >= self.config.servers.len().min(SERVERS_MAX) {
            self.server = 0;
            self.round += 1;
        }
        self.phase = Phase::Idle;
    }

    /// A datagram arrived on the exchange's socket from `from`.
    pub fn handle_udp(&mut self, from: SocketAddr, bytes: &[u8]) {
        let Phase::Udp { id, .. } = self.phase else { return };
        let Some(server) = self.config.servers.get(self.server) else { return };
        // RFC 5452 §9.1: only the server we asked, with our id, counts.
        if from != server.address || message_id(bytes) != Some(id) {
            return;
        }
        self.handle_response(bytes, id, Transport::Udp);
    }

    /// The TCP try finished: the reply's message (without the length prefix), or `None`
    /// when the connection failed or closed early.
    pub fn handle_tcp(&mut self, reply: Option<&[u8]>) {
        let Phase::Tcp { id, .. } = self.phase else { return };
        match reply {
            Some(bytes) => self.handle_response(bytes, id, Transport::Tcp),
            None => {
                self.last_error = ResolveError::Connection;
                self.next_server();
            }
        }
    }

    /// The caller could not send the query (socket error): counts as a failed try.
    pub fn handle_send_failure(&mut self) {
        if matches!(self.phase, Phase::Udp { .. } | Phase::Tcp { .. }) {
            self.last_error = ResolveError::Connection;
            self.next_server();
        }
    }

    fn handle_response(&mut self, bytes: &[u8], id: u16, transport: Transport) {
        let response = match decode_response(bytes, id, &self.question) {
            Ok(response) => response,
            Err(DecodeError::Mismatch) if transport == Transport::Udp => return,
            Err(DecodeError::Mismatch | DecodeError::Malformed) => {
                self.last_error = ResolveError::Malformed;
                self.next_server();
                return;
            }
        };
        if response.truncated && transport == Transport::Udp {
            self.phase = Phase::TcpNext;
            return;
        }
        match response.rcode {
            Rcode::NoError | Rcode::NxDomain => {
                let trusted = self.config.servers.get(self.server).is_some_and(|s| s.trust_ad);
                let mut answer = response.answer;
                answer.authentic = trusted && response.authentic_data;
                self.result = Some(Ok(answer));
            }
            Rcode::FormErr if self.edns_off.get(self.server) == Some(&false) => {
                // RFC 6891 §7: a server that does not know EDNS says FORMERR; ask it plainly.
                self.edns_off[self.server] = true;
                self.phase = Phase::Idle;
            }
            Rcode::FormErr => {
                self.last_error = ResolveError::ServerFailure { rcode: 1 };
                self.next_server();
            }
            Rcode::Failure(rcode) => {
                self.last_error = ResolveError::ServerFailure { rcode };
                self.next_server();
            }
        }
    }
}
