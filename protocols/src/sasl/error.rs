//! Why a SASL exchange failed, or why a password or secret derivation was refused.
//!
//! One enum for the whole module. Sessions map it to the wire in one place (SMTP
//! `535 5.7.8` / `501 5.5.2`, IMAP `NO [AUTHENTICATIONFAILED]` / `BAD`): [`SaslError::is_client_syntax`]
//! tells malformed input apart from refused credentials. The text never names a user or
//! echoes secrets, so it is safe to log.

/// A failed exchange or a refused derivation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SaslError {
    /// The client's message does not follow the mechanism's syntax; the text says which
    /// rule (never the input).
    #[error("malformed SASL message: {0}")]
    Malformed(&'static str),
    /// Wrong password or proof, unknown user, or a name that cannot be a user. These are
    /// one variant on purpose: a client must not learn which of them it was.
    #[error("invalid credentials")]
    BadCredentials,
    /// The client asked to act as someone it may not: a name no account can have, or
    /// (for EXTERNAL, decided here) another identity than its certificate's. Other
    /// authzids are authorized by the caller, which refuses those of another account.
    #[error("authorization identity differs from the authentication identity")]
    AuthzidMismatch,
    /// The SCRAM `c=` attribute does not match the gs2 header and our channel binding
    /// data: the client sees another TLS connection (a man in the middle) or is broken.
    #[error("channel binding data mismatch")]
    ChannelBindingMismatch,
    /// A -PLUS mechanism without channel binding in the gs2 header (`n` or `y`).
    #[error("channel binding required by the -PLUS mechanism")]
    ChannelBindingRequired,
    /// Channel binding was asked for that this exchange cannot do: `p=` with a non-PLUS
    /// mechanism, a binding type other than the connection's, or a -PLUS mechanism on a
    /// connection without TLS binding data.
    #[error("channel binding not supported here")]
    ChannelBindingUnsupported,
    /// SCRAM gs2 flag `y` (client supports channel binding, thinks we do not) while we
    /// advertise -PLUS mechanisms: someone stripped them from our list (RFC 5802 §6).
    #[error("channel binding downgrade detected")]
    ChannelBindingDowngrade,
    /// The exchange is over (after success, failure or a client cancel); it is single-use.
    #[error("authentication exchange aborted")]
    Aborted,
    /// A client message, user name or password is longer than its limit.
    #[error("SASL message or field too long")]
    TooLong,
    /// The caller called a method the exchange did not ask for (a caller bug, not the
    /// client's); the exchange is over.
    #[error("SASL exchange step out of sequence")]
    OutOfSequence,
    /// A password or user name contains code points RFC 8265 §4.2 (OpaqueString) refuses,
    /// or is empty; the text says which rule.
    #[error("string refused by PRECIS OpaqueString: {0}")]
    Precis(&'static str),
    /// A derivation parameter (salt length, iteration count) is outside its bounds.
    #[error("invalid secret derivation parameter: {0}")]
    InvalidParameter(&'static str),
    /// Stored secrets do not fit the mechanism (wrong key length, empty salt, zero
    /// iterations): a problem with our data, not the client's.
    #[error("stored SASL secrets are invalid")]
    SecretsInvalid,
    /// SCRAM client side: the server's signature (`v=`) does not match what the password
    /// gives: the server does not know the account's keys (an impostor, or broken).
    #[error("the server's SCRAM signature did not verify")]
    ServerNotVerified,
}

impl SaslError {
    /// True when the client sent something that breaks the protocol (SMTP `501`, IMAP
    /// `BAD`), false for refusals (`535`, `NO`) and our own problems.
    pub fn is_client_syntax(&self) -> bool {
        matches!(self, SaslError::Malformed(_) | SaslError::TooLong)
    }
}
