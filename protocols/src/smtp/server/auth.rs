//! AUTH (RFC 4954) in the server session: the command, the `334` challenge and response
//! lines, and the outcome. The SASL mechanisms themselves are the caller's (it drives
//! `moxide_protocols::sasl` with the events and calls below).
//!
//! Invariants:
//! - during an exchange every client line is a SASL response (base64 or `*`), never a
//!   command, and at most one line is read per challenge;
//! - response lines are bounded by [`SASL_LINE_BYTES_MAX`]; longer ones are skipped, not
//!   buffered, and end the exchange with `500 5.5.6`;
//! - every way an exchange ends without success counts as an error towards
//!   `errors_max`, so password guessing on one connection ends in `421`;
//! - AUTH is accepted only where it is advertised, once per session, outside a mail
//!   transaction, after EHLO.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::{Awaiting, LineRead, Phase, Queued, ServerSession, code, next_line};
use crate::smtp::command::{AuthResponse, parse_auth_response};
use crate::smtp::limits::SASL_LINE_BYTES_MAX;
use crate::smtp::reply::Reply;

impl ServerSession {
    /// Sends a `334` challenge (RFC 4954 §4) with `challenge` base64-encoded; the next
    /// client line becomes [`super::Event::AuthResponse`] or ends the exchange. A final
    /// server message that comes with success (SCRAM's server-final) is sent this way
    /// too: the client answers it with an empty line, then call [`Self::auth_success`].
    /// The challenge line is not cut to the reply line limit (RFC 4954 §4 lets it be
    /// longer); keep challenges within [`SASL_LINE_BYTES_MAX`] so clients can read them.
    pub fn auth_challenge(&mut self, challenge: &[u8]) {
        if !self.auth_step_due() {
            return;
        }
        self.awaiting = None;
        // Base64 is printable ASCII, so the line cannot break the reply framing.
        self.output.extend_from_slice(b"334 ");
        self.output.extend_from_slice(STANDARD.encode(challenge).as_bytes());
        self.output.extend_from_slice(b"\r\n");
        self.phase = Phase::AuthResponse;
    }

    /// The exchange succeeded for `identity` (the account the caller authenticated):
    /// `235 2.7.0`. [`Self::authenticated`] returns it from now on.
    pub fn auth_success(&mut self, identity: impl Into<String>) {
        if !self.auth_step_due() {
            return;
        }
        self.awaiting = None;
        self.authenticated = Some(identity.into());
        self.write(Reply::new(235, code(2, 7, 0), "authentication successful"));
    }

    /// The exchange failed: `reply` is sent (RFC 4954 §6: `535 5.7.8` bad credentials,
    /// `454 4.7.0` temporary failure, `534 5.7.9` mechanism too weak, `538 5.7.11`
    /// encryption required) and counts towards `errors_max`.
    pub fn auth_failure(&mut self, reply: Reply) {
        if !self.auth_step_due() {
            return;
        }
        self.awaiting = None;
        self.reply_error(reply);
    }

    /// AUTH: refused where RFC 4954 §4 says, else the exchange starts with an event.
    pub(super) fn cmd_auth(&mut self, mechanism: &str, initial: Option<Vec<u8>>) {
        let offered = self.offered_mechanism(mechanism);
        let refusal = if self.config.auth_mechanisms.is_empty() {
            Some(Reply::new(503, code(5, 5, 1), "authentication not available"))
        } else if !self.tls && self.config.auth_requires_tls {
            let text = "encryption required for authentication";
            Some(Reply::new(538, code(5, 7, 11), text))
        } else if !self.esmtp {
            // AUTH is an extension: HELO clients never saw it offered.
            Some(Reply::new(503, code(5, 5, 1), "send EHLO first"))
        } else if self.authenticated.is_some() {
            Some(Reply::new(503, code(5, 5, 1), "already authenticated"))
        } else if self.transaction.is_some() {
            Some(Reply::new(503, code(5, 5, 1), "AUTH not allowed during a mail transaction"))
        } else if offered.is_none() {
            Some(Reply::new(504, code(5, 5, 4), "authentication mechanism not supported"))
        } else {
            None
        };
        if let Some(reply) = refusal {
            self.reply_error(reply);
            return;
        }
        if let Some(mechanism) = offered
            && self.count_command_without_mail()
        {
            self.push(Queued::Auth { mechanism, initial });
            self.awaiting = Some(Awaiting::AuthStep);
        }
    }

    /// Reads one SASL response line after a challenge.
    pub(super) fn read_auth_response(&mut self, input: &[u8]) -> usize {
        let (line, used) = match next_line(input, SASL_LINE_BYTES_MAX) {
            LineRead::Incomplete => return 0,
            LineRead::Overlong(used) => {
                self.phase = Phase::SkipLine { auth: true };
                return used;
            }
            LineRead::Line { line, used } => (line, used),
        };
        self.phase = Phase::Command;
        let Some(line) = line else {
            let text = "response line must end with CRLF";
            self.end_auth_exchange(Reply::new(501, code(5, 5, 2), text));
            return used;
        };
        match parse_auth_response(line) {
            Ok(AuthResponse::Data(response)) => {
                self.push(Queued::AuthResponse(response));
                self.awaiting = Some(Awaiting::AuthStep);
            }
            Ok(AuthResponse::Cancel) => {
                // RFC 4954 §4: a "*" line cancels, and the server rejects AUTH with 501.
                let reply = Reply::new(501, code(5, 0, 0), "authentication cancelled");
                self.end_auth_exchange(reply);
            }
            Err(error) => self.end_auth_exchange(error.reply()),
        }
        used
    }

    /// Ends the exchange from the session's side: tells the caller, sends `reply`.
    pub(super) fn end_auth_exchange(&mut self, reply: Reply) {
        self.push(Queued::AuthCancel);
        self.reply_error(reply);
    }

    /// AUTH is advertised and may be used on this connection.
    pub(super) fn auth_offered(&self) -> bool {
        !self.config.auth_mechanisms.is_empty() && (self.tls || !self.config.auth_requires_tls)
    }

    /// The configured spelling of `mechanism`, if offered; RFC 4954 §7 has clients'
    /// strings taken without regard to case.
    fn offered_mechanism(&self, mechanism: &str) -> Option<String> {
        self.config.auth_mechanisms.iter().find(|name| name.eq_ignore_ascii_case(mechanism)).cloned()
    }

    /// True when the caller owes an AUTH step; otherwise a caller bug unless closing.
    fn auth_step_due(&self) -> bool {
        let due = matches!(self.awaiting, Some(Awaiting::AuthStep));
        debug_assert!(due || self.closing, "AUTH step without an AUTH event awaiting one");
        due
    }
}
