//! Sans-IO protocol logic for moxide: SMTP, IMAP, SASL, MIME, DNS and message
//! authentication.
//!
//! # Design overview
//!
//! Every protocol here is a state machine that owns its buffers but no socket, clock or
//! random source (the shape rustls uses). A connection actor elsewhere reads bytes and
//! calls:
//!
//! ```text
//!   bytes ──> handle_input(&[u8], now) -> used ──> poll_event() -> Event ──> answer(Verdict)
//!                                                                         │
//!   socket <── pending_output() / advance_output(n) <── replies ──────────┘
//! ```
//!
//! Architecture invariants:
//! - no dependency on an IO runtime, storage or network crate; no `unsafe`; time comes
//!   in as arguments (the SMTP session keeps its request deadlines on the monotonic
//!   milliseconds the caller passes and says when to wake it; dates are formatted from
//!   seconds the caller passes);
//! - no panics on peer bytes: parsers return typed errors, which map to wire replies in
//!   one place per protocol; limits are named `_MAX` consts with their reasons;
//! - every parser is fuzzed (`fuzz/`), and sessions are tested with client/server
//!   transcripts that run the same input whole and one byte at a time.
//!
//! Modules:
//! - [`smtp`]: server session (commands, paths, DATA/BDAT, replies, trace header) and
//!   client session (replies read, commands and the message written, for the queue);
//! - [`imap`]: streaming command reader (literals, APPEND streamed, IDLE and SASL modes),
//!   command types, response writer, modified UTF-7;
//! - [`mime`]: message summaries computed once per message (envelope, body structure
//!   with byte ranges), section ranges, BINARY decoding and SEARCH matching;
//! - [`dns`]: names, the DNS message codec, the stub resolver's exchange state machine
//!   and the [`Resolver`](dns::Resolver) trait the checks ask through;
//! - [`tlsrpt`]: TLS reports to send (RFC 8460): the `_smtp._tls` record, the JSON report;
//! - [`dmarcrpt`]: DMARC aggregate reports to send (RFC 7489 §7.2): rows, the XML
//!   report, its message, `rua` URIs;
//! - [`report_mail`]: the mail both kinds of report travel in;
//! - [`mtasts`]: MTA-STS records, policies and their HTTP fetch (RFC 8461), sans-IO;
//! - [`auth`]: incoming mail authentication (SPF, DKIM, DMARC, iprev, ARC) and the
//!   Authentication-Results header.
//!
//! The IMAP reader does not use the SMTP session's event/answer shape: IMAP commands are
//! self-contained, so it yields whole commands; only APPEND, whose message is streamed,
//! has events that need the session's decision (accept or refuse) before more input.

#![forbid(unsafe_code)]

pub mod auth;
pub mod dmarcrpt;
pub mod dns;
pub mod imap;
pub mod mime;
pub mod mtasts;
pub mod report_mail;
pub mod reports;
pub mod sasl;
pub mod smtp;
pub mod tlsrpt;
