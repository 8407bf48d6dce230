//! Getting in: capabilities per state (RFC 9051 §7.2.2), STARTTLS (RFC 9051 §6.2.1),
//! LOGIN (§6.2.3) and AUTHENTICATE (§6.2.2, SASL-IR RFC 4959). The SASL mechanisms run in
//! the caller (they need the account's secrets); the session carries their messages.
//!
//! Before TLS on a listener that does not allow plaintext passwords, LOGIN is disabled
//! (LOGINDISABLED) and refused with `NO [PRIVACYREQUIRED]`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::error::{CommandError, CommandResult, Done};
use super::facts::AuthFailure;
use super::{Answer, CAPABILITIES, Event, Job, Session};
use crate::imap::reader::ReadMode;
use crate::imap::response::{ResponseCode, write_continuation};

/// An AUTHENTICATE exchange in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SaslJob {
    /// The server sent its last message with success; an empty response completes it.
    pub(crate) success_pending: bool,
}

/// Capabilities one account may hide: more than every capability we offer would be
/// pointless, so the list a session keeps stays small.
pub const HIDDEN_CAPABILITIES_MAX: usize = 64;

impl Session {
    /// The capability list for the current state (RFC 9051 §7.2.2).
    pub(crate) fn capabilities(&self) -> Vec<String> {
        let mut caps: Vec<String> = CAPABILITIES.iter().map(|c| (*c).to_owned()).collect();
        caps.push(format!("APPENDLIMIT={}", self.config.reader.append_bytes_max));
        if self.authenticated {
            if !self.compressed {
                // RFC 4978 §3: COMPRESS is a command of the authenticated state.
                caps.push("COMPRESS=DEFLATE".into());
            }
            caps.retain(|cap| !self.is_hidden(cap));
            return caps;
        }
        if self.config.starttls && !self.tls {
            caps.push("STARTTLS".into());
        }
        if !self.tls && !self.config.plaintext_auth {
            caps.push("LOGINDISABLED".into());
        }
        if !self.mechanisms.is_empty() {
            caps.push("SASL-IR".into());
        }
        caps.extend(self.mechanisms.iter().map(|m| format!("AUTH={m}")));
        caps
    }

    /// Whether the account asked to keep `cap` out of CAPABILITY: a hidden name hides
    /// itself and, as `NAME`, every `NAME=...` (`THREAD` hides all THREAD algorithms),
    /// and the extensions that build on it ([`super::hidden::BUILDS_ON`]: METADATA
    /// hides LIST-METADATA).
    pub(crate) fn is_hidden(&self, cap: &str) -> bool {
        let hidden = |cap: &str| {
            self.hidden_capabilities.iter().any(|hidden| {
                let family = cap.split_once('=').map_or(cap, |(name, _)| name);
                hidden.eq_ignore_ascii_case(cap) || hidden.eq_ignore_ascii_case(family)
            })
        };
        hidden(cap)
            || super::hidden::BUILDS_ON
                .iter()
                .any(|(extension, base)| extension.eq_ignore_ascii_case(cap) && hidden(base))
    }

    /// The account's capabilities to leave out of CAPABILITY lists once logged in (an
    /// interop setting for clients that misuse an extension); the commands of a hidden
    /// extension are refused as unknown ([`super::hidden`]).
    /// At most [`HIDDEN_CAPABILITIES_MAX`] are kept. Call before answering the login.
    pub fn hide_capabilities(&mut self, names: &[String]) {
        self.hidden_capabilities = names.iter().take(HIDDEN_CAPABILITIES_MAX).cloned().collect();
    }

    /// STARTTLS: refused after login, with TLS already on, without a certificate, and
    /// when the client pipelined anything after it (the command-injection attack: no
    /// plaintext may be read as if it came over TLS); then the connection closes.
    pub(crate) fn starttls(&mut self, pipelined: bool) {
        let refusal = if self.authenticated {
            Some("STARTTLS only before login")
        } else if self.tls {
            Some("TLS is already active")
        } else if !self.config.starttls {
            Some("STARTTLS is not available on this listener")
        } else {
            None
        };
        if let Some(text) = refusal {
            self.finish(Err(CommandError::bad(text)));
            return;
        }
        if pipelined {
            self.closing = true;
            self.finish(Err(CommandError::bad("no commands may follow STARTTLS before the handshake")));
            return;
        }
        self.finish(Ok(Done::ok("begin TLS negotiation now")));
        // The OK is queued; the session waits for the handshake.
        self.begin(crate::imap::types::Tag(String::new()), "starttls", true, false);
        self.set_job(Job::StartTls);
        self.request(Event::StartTls, true);
    }

    /// LOGIN: the password is checked by the caller like SASL PLAIN.
    pub(crate) fn login(&mut self, username: String, password: String) {
        if self.authenticated {
            self.finish(Err(CommandError::bad("already logged in")));
            return;
        }
        if !self.tls && !self.config.plaintext_auth {
            self.finish(Err(CommandError::no(
                ResponseCode::PrivacyRequired,
                "LOGIN only over TLS (STARTTLS first)",
            )));
            return;
        }
        self.set_job(Job::Login);
        self.request(Event::Login { username, password }, true);
    }

    pub(crate) fn login_answered(&mut self, answer: Answer) {
        let result = match answer {
            Answer::LoggedIn | Answer::AuthSucceeded(None) => self.logged_in(),
            Answer::AuthFailed(failure) => Err(failure_error(failure)),
            Answer::Failed(error) => Err(error),
            _ => Err(CommandError::Internal),
        };
        self.finish(result);
    }

    fn logged_in(&mut self) -> CommandResult {
        self.authenticated = true;
        Ok(Done::with(ResponseCode::Capability(self.capabilities()), "logged in"))
    }

    /// AUTHENTICATE with any mechanism the caller offers.
    pub(crate) fn authenticate(&mut self, mechanism: String, initial: Option<Vec<u8>>) {
        if self.authenticated {
            self.finish(Err(CommandError::bad("already logged in")));
            return;
        }
        self.set_job(Job::Authenticate(SaslJob { success_pending: false }));
        self.request(Event::Authenticate { mechanism, initial }, true);
    }

    pub(crate) fn auth_answered(&mut self, sasl: SaslJob, answer: Answer) {
        match answer {
            Answer::AuthChallenge(challenge) => {
                write_continuation(self.out.buf(), &STANDARD.encode(challenge));
                self.reader.set_mode(ReadMode::SaslResponse);
                self.set_job(Job::Authenticate(sasl));
            }
            Answer::AuthSucceeded(Some(last)) => {
                // RFC 9051 §6.2.2: server data with success goes in a last challenge; the
                // client answers with an empty line.
                write_continuation(self.out.buf(), &STANDARD.encode(last));
                self.reader.set_mode(ReadMode::SaslResponse);
                self.set_job(Job::Authenticate(SaslJob { success_pending: true }));
            }
            Answer::AuthSucceeded(None) | Answer::LoggedIn => {
                self.reader.set_mode(ReadMode::Command);
                let result = self.logged_in();
                self.finish(result);
            }
            Answer::AuthFailed(failure) => {
                self.reader.set_mode(ReadMode::Command);
                self.finish(Err(failure_error(failure)));
            }
            Answer::Failed(error) => {
                self.reader.set_mode(ReadMode::Command);
                self.finish(Err(error));
            }
            _ => {
                self.reader.set_mode(ReadMode::Command);
                self.finish(Err(CommandError::Internal));
            }
        }
    }

    /// The client's answer to a `+` challenge (`None`: `*`, cancelled).
    pub(crate) fn sasl_response(&mut self, response: Option<Vec<u8>>) {
        let sasl = match self.running.as_ref().map(|running| &running.job) {
            Some(Job::Authenticate(sasl)) => *sasl,
            _ => {
                self.reader.set_mode(ReadMode::Command);
                return;
            }
        };
        let Some(response) = response else {
            self.reader.set_mode(ReadMode::Command);
            self.request(Event::AuthCancelled, false);
            self.finish(Err(CommandError::bad("authentication cancelled")));
            return;
        };
        if sasl.success_pending {
            self.reader.set_mode(ReadMode::Command);
            let result = if response.is_empty() {
                self.logged_in()
            } else {
                Err(CommandError::bad("expected an empty response"))
            };
            self.finish(result);
            return;
        }
        self.request(Event::AuthResponse(response), true);
    }
}

/// The IMAP answer for a failed authentication (RFC 9051 §7.1 response codes).
fn failure_error(failure: AuthFailure) -> CommandError {
    match failure {
        AuthFailure::BadCredentials => {
            CommandError::no(ResponseCode::AuthenticationFailed, "invalid user name or password")
        }
        AuthFailure::RateLimited => CommandError::no(
            ResponseCode::Unavailable,
            "too many authentication failures from your network; try again later",
        ),
        AuthFailure::MechanismUnavailable => {
            CommandError::no(ResponseCode::PrivacyRequired, "mechanism not available on this connection")
        }
        AuthFailure::Malformed => CommandError::bad("malformed authentication exchange"),
        AuthFailure::Temporary => {
            CommandError::no(ResponseCode::Unavailable, "temporary authentication failure")
        }
    }
}
