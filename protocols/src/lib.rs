//! Sans-IO protocol logic for moxide: SMTP today; IMAP, SASL, DNS and message
//! authentication later.
//!
//! # Design overview
//!
//! Every protocol here is a state machine that owns its buffers but no socket, clock or
//! random source (the shape rustls uses). A connection actor elsewhere reads bytes and
//! calls:
//!
//! ```text
//!   bytes ──> handle_input(&[u8]) -> used ──> poll_event() -> Event ──> answer(Verdict)
//!                                                                         │
//!   socket <── pending_output() / advance_output(n) <── replies ──────────┘
//! ```
//!
//! Architecture invariants:
//! - no dependency on an IO runtime, storage or network crate; no `unsafe`; time comes
//!   in as arguments (timeouts are reported by the caller, dates are formatted from
//!   seconds it passes);
//! - no panics on peer bytes: parsers return typed errors, which map to wire replies in
//!   one place per protocol; limits are named `_MAX` consts with their reasons;
//! - every parser is fuzzed (`fuzz/`), and sessions are tested with client/server
//!   transcripts that run the same input whole and one byte at a time.
//!
//! Modules: [`smtp`] (server session: commands, paths, DATA/BDAT, replies, trace header).

#![forbid(unsafe_code)]

pub mod smtp;
