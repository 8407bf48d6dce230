//! [`ServerExchange`]: one server-side SASL exchange (RFC 4422 §3), sans-IO. The caller
//! feeds decoded client messages and answers lookups; the exchange says what to send or
//! what it needs next through [`Step`].
//!
//! Shape: `start` (with the initial response, if any) and then `respond` for each
//! client message; `NeedSecrets`, `VerifyPassword` and `VerifyExternal` are questions the
//! caller answers with `with_secrets`, `password_verified` or `external_verified`. No IO,
//! no clock; randomness comes in as the nonce.
//!
//! Invariants: the exchange is single-use (after `Success` or `Failure` every call
//! returns `Failure(Aborted)`); a call the exchange did not ask for ends it with
//! `Failure(OutOfSequence)`; client messages longer than `MESSAGE_BYTES_MAX` end it with
//! `Failure(TooLong)` before any parsing.

use std::fmt;

use super::cram_md5::CramMd5;
use super::error::SaslError;
use super::limits::{MESSAGE_BYTES_MAX, NONCE_BYTES_MAX, NONCE_BYTES_MIN, USERNAME_BYTES_MAX};
use super::plain::{Login, plain_message};
use super::precis::prepare_username;
use super::scram::{Scram, ScramConfig};
use super::secrets::{ScramHash, Secrets};
use super::{ChannelBinding, Mechanism};

/// What the mechanism asks the caller for, or says.
#[derive(Clone, PartialEq, Eq)]
pub enum Step {
    /// Send this challenge (raw bytes; the caller base64-encodes for the wire).
    Challenge(Vec<u8>),
    /// Look up the user and call `with_secrets` (SCRAM, CRAM-MD5). Names are prepared
    /// with RFC 8265 OpaqueString.
    NeedSecrets {
        /// The user to look up.
        authcid: String,
        /// What the client asked to act as, when it said so. Not checked here: the
        /// caller authorizes it once the exchange succeeds (RFC 4422 §3.4.1).
        authzid: Option<String>,
    },
    /// Verify this password (PLAIN, LOGIN) against the stored argon2id hash (slow: the
    /// caller does it off the executor) and call `password_verified`.
    VerifyPassword {
        /// The user, OpaqueString-prepared.
        authcid: String,
        /// What the client asked to act as, when it said so, prepared; the caller
        /// authorizes it (RFC 4422 §3.4.1).
        authzid: Option<String>,
        /// The password, OpaqueString-prepared (the form the stored hash is made from).
        password: String,
    },
    /// EXTERNAL: the caller decides using the TLS client certificate; `authzid` is what
    /// the client asked to act as (may be empty); call `external_verified`.
    VerifyExternal {
        /// The requested authorization identity, possibly empty.
        authzid: String,
    },
    /// Authenticated. `final_message`: data to send with the success (SCRAM
    /// server-final: IMAP/SMTP send it as a final challenge or in the OK, the caller
    /// chooses).
    Success {
        /// The authenticated user.
        authcid: String,
        /// Additional data with success, if the mechanism has any.
        final_message: Option<Vec<u8>>,
    },
    /// The exchange failed and is over.
    Failure(SaslError),
}

impl fmt::Debug for Step {
    /// Like a derived `Debug`, with the password redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Challenge(data) => {
                f.debug_tuple("Challenge").field(&String::from_utf8_lossy(data)).finish()
            }
            Step::NeedSecrets { authcid, authzid } => {
                f.debug_struct("NeedSecrets").field("authcid", authcid).field("authzid", authzid).finish()
            }
            Step::VerifyPassword { authcid, authzid, .. } => f
                .debug_struct("VerifyPassword")
                .field("authcid", authcid)
                .field("authzid", authzid)
                .finish_non_exhaustive(),
            Step::VerifyExternal { authzid } => {
                f.debug_struct("VerifyExternal").field("authzid", authzid).finish()
            }
            Step::Success { authcid, final_message } => f
                .debug_struct("Success")
                .field("authcid", authcid)
                .field("final_message", &final_message.as_deref().map(String::from_utf8_lossy))
                .finish(),
            Step::Failure(error) => f.debug_tuple("Failure").field(error).finish(),
        }
    }
}

/// The mechanism-specific part of an exchange.
enum Machine {
    Scram(Box<Scram>),
    CramMd5(CramMd5),
    Plain,
    Login(Login),
    External,
}

/// Whose move it is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Awaiting {
    /// `start` not called yet.
    Start,
    /// A client message or secrets, as the mechanism's own phase says.
    Mechanism,
    /// `password_verified` for this user.
    Password { authcid: String },
    /// `external_verified`, with the authzid the client asked for.
    External { authzid: String },
    /// Success or failure happened.
    Over,
}

/// One server-side SASL exchange; single-use.
pub struct ServerExchange {
    mechanism: Mechanism,
    machine: Machine,
    awaiting: Awaiting,
}

impl fmt::Debug for ServerExchange {
    /// Mechanism and whose move it is; no secrets, no client data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let awaiting = match &self.awaiting {
            Awaiting::Start => "start",
            Awaiting::Mechanism => "mechanism",
            Awaiting::Password { .. } => "password_verified",
            Awaiting::External { .. } => "external_verified",
            Awaiting::Over => "over",
        };
        f.debug_struct("ServerExchange")
            .field("mechanism", &self.mechanism)
            .field("awaiting", &awaiting)
            .finish()
    }
}

impl ServerExchange {
    /// `nonce`: at least 18 random bytes from the caller (used for SCRAM server nonce and
    /// CRAM-MD5 challenge; bytes past `NONCE_BYTES_MAX` are ignored); `hostname` for the
    /// CRAM-MD5 challenge; `binding`: the TLS channel binding data when the connection is
    /// TLS (required for -PLUS mechanisms; for non-PLUS SCRAM its presence means we
    /// advertise -PLUS, which decides the gs2 `y` handling, RFC 5802 §6; override with
    /// [`with_plus_advertised`](Self::with_plus_advertised)).
    ///
    /// # Panics
    /// When `nonce` is shorter than `NONCE_BYTES_MIN`: a caller bug that would make
    /// nonces guessable.
    pub fn new(
        mechanism: Mechanism,
        nonce: &[u8],
        hostname: &str,
        binding: Option<ChannelBinding>,
    ) -> ServerExchange {
        assert!(nonce.len() >= NONCE_BYTES_MIN, "SASL nonce needs at least {NONCE_BYTES_MIN} random bytes");
        let nonce = &nonce[..nonce.len().min(NONCE_BYTES_MAX)];
        let scram = |hash| {
            let config = ScramConfig {
                mechanism,
                plus_advertised: binding.is_some(),
                binding: binding.clone(),
                decoy_key: nonce.to_vec(),
            };
            Machine::Scram(Box::new(Scram::new(hash, config, nonce)))
        };
        let machine = match mechanism {
            Mechanism::ScramSha256Plus | Mechanism::ScramSha256 => scram(ScramHash::Sha256),
            Mechanism::ScramSha1Plus | Mechanism::ScramSha1 => scram(ScramHash::Sha1),
            Mechanism::CramMd5 => Machine::CramMd5(CramMd5::new(nonce, hostname)),
            Mechanism::Plain => Machine::Plain,
            Mechanism::Login => Machine::Login(Login::Username),
            Mechanism::External => Machine::External,
        };
        ServerExchange { mechanism, machine, awaiting: Awaiting::Start }
    }

    /// Says whether this connection advertises -PLUS mechanisms (default: whether a
    /// channel binding was given). Decides whether a SCRAM client's gs2 `y` flag is a
    /// downgrade (RFC 5802 §6). Has no effect on other mechanisms.
    pub fn with_plus_advertised(mut self, advertised: bool) -> ServerExchange {
        if let Machine::Scram(scram) = &mut self.machine {
            scram.set_plus_advertised(advertised);
        }
        self
    }

    /// Sets the key for SCRAM decoy salts of unknown users (a per-installation secret of
    /// at least 16 random bytes, kept across restarts), so a user's decoy salt is the same
    /// on every attempt, like a real one. Without it the decoy salt changes per exchange.
    pub fn with_decoy_key(mut self, key: &[u8]) -> ServerExchange {
        if let Machine::Scram(scram) = &mut self.machine {
            scram.set_decoy_key(key);
        }
        self
    }

    /// The mechanism of this exchange.
    pub fn mechanism(&self) -> Mechanism {
        self.mechanism
    }

    /// True once the exchange returned `Success` or `Failure`.
    pub fn is_over(&self) -> bool {
        self.awaiting == Awaiting::Over
    }

    /// Begins, with the initial response if the client sent one (SASL-IR / AUTH x y).
    /// `Some(empty)` is an empty initial response ("=" on the wire).
    pub fn start(&mut self, initial: Option<&[u8]>) -> Step {
        if let Some(step) = self.refuse_unless(matches!(self.awaiting, Awaiting::Start)) {
            return step;
        }
        if initial.is_some_and(|m| m.len() > MESSAGE_BYTES_MAX) {
            return self.finish(Step::Failure(SaslError::TooLong));
        }
        let mechanism = self.mechanism;
        let step = match &mut self.machine {
            Machine::Scram(scram) => scram.start(initial),
            Machine::CramMd5(cram) => cram.start(initial),
            Machine::Login(login) => login.start(initial),
            Machine::Plain | Machine::External => match initial {
                None => Step::Challenge(Vec::new()),
                Some(message) => simple_message(mechanism, message),
            },
        };
        self.finish(step)
    }

    /// The client's next response (already base64-decoded).
    pub fn respond(&mut self, response: &[u8]) -> Step {
        if let Some(step) = self.refuse_unless(matches!(self.awaiting, Awaiting::Mechanism)) {
            return step;
        }
        if response.len() > MESSAGE_BYTES_MAX {
            return self.finish(Step::Failure(SaslError::TooLong));
        }
        let mechanism = self.mechanism;
        let step = match &mut self.machine {
            Machine::Scram(scram) => scram.respond(response),
            Machine::CramMd5(cram) => cram.respond(response),
            Machine::Login(login) => login.respond(response),
            Machine::Plain | Machine::External => simple_message(mechanism, response),
        };
        self.finish(step)
    }

    /// Answer to NeedSecrets (None: no such user — the exchange continues
    /// indistinguishably and fails at the end, so user names cannot be probed).
    pub fn with_secrets(&mut self, secrets: Option<Secrets<'_>>) -> Step {
        if let Some(step) = self.refuse_unless(matches!(self.awaiting, Awaiting::Mechanism)) {
            return step;
        }
        let step = match &mut self.machine {
            Machine::Scram(scram) => scram.with_secrets(secrets),
            Machine::CramMd5(cram) => cram.with_secrets(secrets),
            Machine::Plain | Machine::Login(_) | Machine::External => Step::Failure(SaslError::OutOfSequence),
        };
        self.finish(step)
    }

    /// Answer to VerifyPassword: whether the password matched the stored hash.
    pub fn password_verified(&mut self, ok: bool) -> Step {
        if let Some(step) = self.refuse_unless(matches!(self.awaiting, Awaiting::Password { .. })) {
            return step;
        }
        let step = match std::mem::replace(&mut self.awaiting, Awaiting::Over) {
            Awaiting::Password { authcid } if ok => Step::Success { authcid, final_message: None },
            _ => Step::Failure(SaslError::BadCredentials),
        };
        self.finish(step)
    }

    /// Answer to VerifyExternal: the account the client certificate maps to, or `None`
    /// when it maps to none. The requested authzid must be empty or that account.
    pub fn external_verified(&mut self, authcid: Option<String>) -> Step {
        if let Some(step) = self.refuse_unless(matches!(self.awaiting, Awaiting::External { .. })) {
            return step;
        }
        let Awaiting::External { authzid } = std::mem::replace(&mut self.awaiting, Awaiting::Over) else {
            return self.finish(Step::Failure(SaslError::OutOfSequence));
        };
        let step = match authcid {
            None => Step::Failure(SaslError::BadCredentials),
            Some(authcid) if authzid.is_empty() || same_identity(&authzid, &authcid) => {
                Step::Success { authcid, final_message: None }
            }
            Some(_) => Step::Failure(SaslError::AuthzidMismatch),
        };
        self.finish(step)
    }

    /// Ends the exchange on the client's cancel (`*` on the wire).
    pub fn abort(&mut self) -> Step {
        self.awaiting = Awaiting::Over;
        Step::Failure(SaslError::Aborted)
    }

    /// `Some(failure)` when the call is not the one the exchange waits for.
    fn refuse_unless(&mut self, expected: bool) -> Option<Step> {
        if self.awaiting == Awaiting::Over {
            return Some(Step::Failure(SaslError::Aborted));
        }
        (!expected).then(|| self.finish(Step::Failure(SaslError::OutOfSequence)))
    }

    /// Records what the step means for whose move it is next.
    fn finish(&mut self, step: Step) -> Step {
        self.awaiting = match &step {
            Step::Challenge(_) | Step::NeedSecrets { .. } => Awaiting::Mechanism,
            Step::VerifyPassword { authcid, .. } => Awaiting::Password { authcid: authcid.clone() },
            Step::VerifyExternal { authzid } => Awaiting::External { authzid: authzid.clone() },
            Step::Success { .. } | Step::Failure(_) => Awaiting::Over,
        };
        step
    }
}

/// PLAIN's message or EXTERNAL's authzid: the whole exchange in one client message.
fn simple_message(mechanism: Mechanism, message: &[u8]) -> Step {
    match mechanism {
        Mechanism::External => external_message(message),
        _ => plain_message(message),
    }
}

/// EXTERNAL (RFC 4422 Appendix A): the message is the requested authzid, possibly empty.
fn external_message(message: &[u8]) -> Step {
    if message.len() > USERNAME_BYTES_MAX {
        return Step::Failure(SaslError::TooLong);
    }
    match std::str::from_utf8(message) {
        Ok(authzid) if !authzid.contains('\0') => Step::VerifyExternal { authzid: authzid.to_owned() },
        _ => Step::Failure(SaslError::Malformed("EXTERNAL authzid is not UTF-8 without NUL")),
    }
}

/// Whether two identities are the same after OpaqueString preparation.
fn same_identity(left: &str, right: &str) -> bool {
    match (prepare_username(left), prepare_username(right)) {
        (Ok(left), Ok(right)) => left == right,
        _ => false,
    }
}
