//! SASL mechanisms (RFC 4422), server side and SCRAM's client side, sans-IO: SCRAM-SHA-256(-PLUS), SCRAM-SHA-1(-PLUS),
//! CRAM-MD5, PLAIN, LOGIN and EXTERNAL, the secrets each needs at rest, and RFC 8265
//! password preparation. SMTP AUTH and IMAP AUTHENTICATE sessions drive a
//! [`ServerExchange`] with base64-decoded client messages and act on its [`Step`]s.
//!
//! - [`exchange`]: [`ServerExchange`] and [`Step`]; EXTERNAL (RFC 4422 Appendix A);
//! - `scram`: SCRAM (RFC 5802, RFC 7677) with channel binding (RFC 5929, RFC 9266), the
//!   server side and the client side ([`ScramClient`], for SMTP AUTH to a smarthost);
//! - `cram_md5`: CRAM-MD5 (RFC 2195) from precomputed HMAC-MD5 states;
//! - `plain`: PLAIN (RFC 4616) and LOGIN (draft-murchison-sasl-login);
//! - [`secrets`]: what is stored per account and how it is derived;
//! - `precis`: RFC 8265 OpaqueString for passwords and user names;
//! - [`limits`]: every limit with its reason; [`error`]: [`SaslError`].
//!
//! Architecture invariants: no IO, no clock, randomness only from the caller (the nonce);
//! secrets are compared in constant time (`subtle`); an unknown user fails at the same
//! step and with the same error as a wrong password (`BadCredentials`); an authzid is
//! handed to the caller, which authorizes it (for moxide: another name of the same
//! account; no proxy authorization); an exchange is single-use.

pub mod error;
pub mod exchange;
pub mod limits;
pub mod secrets;

mod cram_md5;
mod plain;
mod precis;
mod scram;

use std::fmt;

pub use cram_md5::{CramMd5Secrets, derive_cram_md5};
pub use error::SaslError;
pub use exchange::{ServerExchange, Step};
pub use limits::*;
pub use precis::prepare_password;
pub use scram::client::{Derivation, ScramClient, client_nonce};
pub use secrets::{ScramSecrets, Secrets, derive_scram_sha1, derive_scram_sha256};

/// A SASL mechanism we serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mechanism {
    /// SCRAM-SHA-256 with channel binding (RFC 7677, RFC 5802 §6).
    ScramSha256Plus,
    /// SCRAM-SHA-256 (RFC 7677).
    ScramSha256,
    /// SCRAM-SHA-1 with channel binding (RFC 5802).
    ScramSha1Plus,
    /// SCRAM-SHA-1 (RFC 5802).
    ScramSha1,
    /// CRAM-MD5 (RFC 2195).
    CramMd5,
    /// PLAIN (RFC 4616): the password in the clear.
    Plain,
    /// LOGIN (draft-murchison-sasl-login): the password in the clear.
    Login,
    /// EXTERNAL (RFC 4422 Appendix A): the TLS client certificate authenticates.
    External,
}

impl Mechanism {
    /// Strongest first, as advertised (mox's order).
    pub const ALL: [Mechanism; 8] = [
        Mechanism::ScramSha256Plus,
        Mechanism::ScramSha256,
        Mechanism::ScramSha1Plus,
        Mechanism::ScramSha1,
        Mechanism::CramMd5,
        Mechanism::Plain,
        Mechanism::Login,
        Mechanism::External,
    ];

    /// The registered name, as advertised and as clients send it.
    pub fn name(self) -> &'static str {
        match self {
            Mechanism::ScramSha256Plus => "SCRAM-SHA-256-PLUS",
            Mechanism::ScramSha256 => "SCRAM-SHA-256",
            Mechanism::ScramSha1Plus => "SCRAM-SHA-1-PLUS",
            Mechanism::ScramSha1 => "SCRAM-SHA-1",
            Mechanism::CramMd5 => "CRAM-MD5",
            Mechanism::Plain => "PLAIN",
            Mechanism::Login => "LOGIN",
            Mechanism::External => "EXTERNAL",
        }
    }

    /// The mechanism with this name, case-insensitively (RFC 4422 §3.1 names are
    /// upper-case, but SMTP and IMAP treat them as case-insensitive atoms).
    pub fn from_name(name: &str) -> Option<Mechanism> {
        Mechanism::ALL.into_iter().find(|m| m.name().eq_ignore_ascii_case(name))
    }

    /// True for the -PLUS variants, which need TLS channel binding data.
    pub fn needs_channel_binding(self) -> bool {
        matches!(self, Mechanism::ScramSha256Plus | Mechanism::ScramSha1Plus)
    }

    /// True when the client sends the password itself (PLAIN, LOGIN): offer these only
    /// over TLS in production.
    pub fn sends_password(self) -> bool {
        matches!(self, Mechanism::Plain | Mechanism::Login)
    }
}

impl fmt::Display for Mechanism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The channel binding type of a TLS connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelBindingKind {
    /// `tls-exporter` (RFC 9266 §2): the default for TLS 1.3.
    TlsExporter,
    /// `tls-unique` (RFC 5929 §3): TLS 1.2 only.
    TlsUnique,
}

impl ChannelBindingKind {
    /// The channel binding type name clients put after `p=`.
    pub fn name(self) -> &'static str {
        match self {
            ChannelBindingKind::TlsExporter => "tls-exporter",
            ChannelBindingKind::TlsUnique => "tls-unique",
        }
    }
}

/// The channel binding of the connection the exchange runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelBinding {
    /// Which binding type `data` is.
    pub kind: ChannelBindingKind,
    /// The binding data from the TLS stack (for `tls-exporter`: 32 octets exported with
    /// the label `EXPORTER-Channel-Binding` and no context, RFC 9266 §2).
    pub data: Vec<u8>,
}
