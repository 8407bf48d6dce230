//! The mechanisms that send the password itself: PLAIN (RFC 4616) and LOGIN
//! (draft-murchison-sasl-login). The caller verifies the password against the stored
//! argon2id hash; these only parse and apply the identity rules. Use them only over TLS.
//!
//! PLAIN: `[authzid] NUL authcid NUL passwd`, UTF-8, exactly two NULs, authcid and
//! password non-empty (RFC 4616 §2). LOGIN: challenges `Username:` then `Password:`; an
//! initial response, when the client sends one, is the user name.
//!
//! Names and passwords are prepared with RFC 8265 OpaqueString; a name or password that
//! the profile refuses cannot match any account and fails as `BadCredentials` (LOGIN
//! still asks for the password first, so the failure comes at the usual place).
//!
//! Invariant: `VerifyPassword` carries prepared strings only. An authzid (the identity
//! the client asks to act as) is passed on prepared, or `None` when empty; whether the
//! authcid may act as it is the caller's decision (RFC 4422 §3.4.1: the server
//! authorizes), since only the caller knows which names belong to one account.

use super::error::SaslError;
use super::exchange::Step;
use super::precis::{prepare_password, prepare_username};

/// The identity checks shared by PLAIN and LOGIN, then the `VerifyPassword` step.
fn verify_step(authzid: Option<&str>, authcid: &str, password: &str) -> Result<Step, SaslError> {
    let authcid = match prepare_username(authcid) {
        Ok(prepared) => prepared,
        Err(SaslError::TooLong) => return Err(SaslError::TooLong),
        Err(_) => return Err(SaslError::BadCredentials),
    };
    let authzid = match authzid {
        None | Some("") => None,
        Some(wanted) => match prepare_username(wanted) {
            Ok(prepared) => Some(prepared),
            // A name the profile refuses can be no account's.
            Err(_) => return Err(SaslError::AuthzidMismatch),
        },
    };
    let password = match prepare_password(password) {
        Ok(prepared) => prepared,
        Err(SaslError::TooLong) => return Err(SaslError::TooLong),
        Err(_) => return Err(SaslError::BadCredentials),
    };
    Ok(Step::VerifyPassword { authcid, authzid, password })
}

/// Parses a PLAIN message into the `VerifyPassword` step (or the failure).
pub(crate) fn plain_message(message: &[u8]) -> Step {
    let Ok(text) = std::str::from_utf8(message) else {
        return Step::Failure(SaslError::Malformed("PLAIN message is not UTF-8"));
    };
    let mut parts = text.split('\0');
    let (Some(authzid), Some(authcid), Some(password), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Step::Failure(SaslError::Malformed("PLAIN message needs exactly two NULs"));
    };
    if authcid.is_empty() || password.is_empty() {
        return Step::Failure(SaslError::Malformed("PLAIN authcid or password empty"));
    }
    verify_step(Some(authzid), authcid, password).unwrap_or_else(Step::Failure)
}

/// Where a LOGIN exchange stands.
#[derive(Debug)]
pub(crate) enum Login {
    /// `Username:` sent.
    Username,
    /// `Password:` sent; the user name as received.
    Password { username: String },
    /// Over (the exchange records the end).
    Over,
}

/// The LOGIN challenges; the caller base64-encodes them for the wire.
const USERNAME_CHALLENGE: &[u8] = b"Username:";
const PASSWORD_CHALLENGE: &[u8] = b"Password:";

impl Login {
    pub(crate) fn start(&mut self, initial: Option<&[u8]>) -> Step {
        match initial {
            None => Step::Challenge(USERNAME_CHALLENGE.to_vec()),
            Some(username) => self.respond(username),
        }
    }

    pub(crate) fn respond(&mut self, response: &[u8]) -> Step {
        match std::mem::replace(self, Login::Over) {
            Login::Username => {
                let Ok(username) = std::str::from_utf8(response) else {
                    return Step::Failure(SaslError::Malformed("LOGIN user name is not UTF-8"));
                };
                if username.is_empty() {
                    return Step::Failure(SaslError::Malformed("LOGIN user name empty"));
                }
                *self = Login::Password { username: username.to_owned() };
                Step::Challenge(PASSWORD_CHALLENGE.to_vec())
            }
            Login::Password { username } => {
                let Ok(password) = std::str::from_utf8(response) else {
                    return Step::Failure(SaslError::Malformed("LOGIN password is not UTF-8"));
                };
                verify_step(None, &username, password).unwrap_or_else(Step::Failure)
            }
            Login::Over => Step::Failure(SaslError::OutOfSequence),
        }
    }
}
