//! Request deadlines and the graceful shutdown in the server session. Time is the
//! caller's: every `handle_input` call passes `now_ms` from a monotonic clock, and the
//! caller wakes the session at [`ServerSession::deadline_ms`] by calling `handle_input`
//! again (with whatever input it has, maybe none).
//!
//! A *request* is what the session waits for as a whole: a command line (an overlong one
//! included), a SASL response line, a DATA body, one BDAT chunk. Each must arrive by its
//! deadline, so a client that trickles bytes cannot hold a connection: an idle timeout
//! that restarts on every byte would let one byte a second keep a session forever.
//! Postfix's per-request deadlines (`smtpd_per_request_deadline`, with
//! `smtpd_min_data_rate` for message content) and Dovecot's fixed pre-login deadline
//! work the same way. The rules:
//! - a request's deadline is set when the session becomes ready for it (after the reply to
//!   the previous one is queued): `command_timeout_ms` later for lines, `data_timeout_ms`
//!   later for message bytes. Time before the first byte counts;
//! - each byte that arrives adds `1000 / input_rate_bytes_per_second_min` ms, rounded
//!   up per read, so the time allowed grows with the request's size;
//! - the deadline never moves past `now` plus the phase's timeout: a client sending at
//!   least the minimum rate is never cut off, one sending slower runs out, and none can
//!   save up time for a later stall. The timeout is thus also the longest silence;
//! - past the deadline the session queues `421 4.4.2 <host> timeout` and closes (RFC 5321
//!   §3.8 lets a server end a session with 421). While the session waits for an answer
//!   no deadline runs: that time is the server's, not the client's.
//!
//! Graceful shutdown ([`ServerSession::drain`]): at the next point where a request
//! would begin (or at once, if the session is there), the session queues `421 4.3.2`
//! and closes. A request under way (a partial command line, a DATA body, a BDAT chunk, a
//! SASL response) finishes first: a message is received, answered (after it is made
//! durable) and only then is the session closed. Everything must finish within the grace
//! the caller gives; past it the session closes with `421 4.3.2` too. A fully received
//! command that waits in the input behind the finished request is not run: it gets the
//! 421 (the client retries it later).

use memchr::memchr;

use super::{Phase, ServerSession, code};
use crate::smtp::reply::Reply;

impl ServerSession {
    /// When the session stops waiting for its input (monotonic ms, the clock the caller
    /// passes to [`Self::handle_input`]): the current request's deadline, or the end of
    /// the shutdown grace if that is sooner. `None` while no request runs (an answer is
    /// outstanding, or the session is closing). Call `handle_input` by then.
    pub fn deadline_ms(&self) -> Option<u64> {
        if self.closing {
            return None;
        }
        match (self.deadline_ms, self.shutdown_deadline_ms) {
            (Some(request), Some(shutdown)) => Some(request.min(shutdown)),
            (request, None) => request,
            (None, Some(_)) => None,
        }
    }

    /// The server is shutting down: let the request under way finish, then close with
    /// `421 4.3.2`; close anyway once `now_ms + grace_ms` passes. Takes effect in the next
    /// [`Self::handle_input`] call, which decides with the input the caller holds: a
    /// partial command line is read to its end, anything else closes the session at once.
    /// A second call never extends the grace.
    pub fn drain(&mut self, now_ms: u64, grace_ms: u64) {
        let end = now_ms.saturating_add(grace_ms);
        self.draining = true;
        self.shutdown_deadline_ms = Some(self.shutdown_deadline_ms.map_or(end, |earlier| earlier.min(end)));
    }

    /// Whether [`Self::drain`] was called.
    pub fn is_draining(&self) -> bool {
        self.draining
    }

    /// Starts the deadline of the request the session is now ready for, unless one runs.
    pub(super) fn arm_deadline(&mut self, now_ms: u64) {
        if self.deadline_ms.is_none() {
            self.deadline_ms = Some(now_ms.saturating_add(self.phase_timeout_ms()));
        }
    }

    /// `bytes` of the current request arrived: more time, within the phase's bound.
    pub(super) fn credit_deadline(&mut self, bytes: usize, now_ms: u64) {
        let Some(deadline) = self.deadline_ms else { return };
        let rate = self.config.input_rate_bytes_per_second_min.max(1);
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        let credit_ms = bytes.saturating_mul(1000).div_ceil(rate);
        let ceiling = now_ms.saturating_add(self.phase_timeout_ms());
        self.deadline_ms = Some(deadline.saturating_add(credit_ms).min(ceiling));
    }

    /// The current request is complete; the next one gets its own deadline.
    pub(super) fn request_done(&mut self) {
        self.deadline_ms = None;
    }

    /// While draining, at the start of a request: true (and the session closing) unless
    /// `pending` is the beginning of a command line, which may still finish.
    pub(super) fn close_if_drained(&mut self, pending: &[u8]) -> bool {
        if !self.draining || !matches!(self.phase, Phase::Command) {
            return false;
        }
        let partial_line = !pending.is_empty() && memchr(b'\n', pending).is_none();
        if partial_line {
            return false;
        }
        self.close_shutting_down();
        true
    }

    /// The session waits for input: closes it if its time ran out.
    pub(super) fn check_deadlines(&mut self, now_ms: u64) {
        if self.shutdown_deadline_ms.is_some_and(|end| now_ms >= end) {
            self.close_shutting_down();
        } else if self.deadline_ms.is_some_and(|deadline| now_ms >= deadline) {
            let text = format!("{} timeout", self.config.hostname);
            self.close_with(Reply::new(421, code(4, 4, 2), text));
        }
    }

    /// `421 4.3.2`: RFC 3463 X.3.2, "system not accepting network messages".
    pub(super) fn close_shutting_down(&mut self) {
        let text = format!("{} shutting down", self.config.hostname);
        self.close_with(Reply::new(421, code(4, 3, 2), text));
    }

    /// How long a request of the current phase may take before any byte arrives.
    fn phase_timeout_ms(&self) -> u64 {
        match self.phase {
            Phase::Data { .. } | Phase::Chunk { .. } => self.config.data_timeout_ms,
            Phase::Command | Phase::SkipLine { .. } | Phase::AuthResponse => self.config.command_timeout_ms,
        }
    }
}
