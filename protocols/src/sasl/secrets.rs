//! SCRAM secrets (RFC 5802 §3) derived when a password is set, the hash functions SCRAM
//! runs on, and the [`Secrets`] bundle the caller hands to an exchange.
//!
//! Only StoredKey and ServerKey are kept, never the password or SaltedPassword: with them
//! the server can verify a proof and prove itself, but a thief cannot log in with them
//! alone (RFC 5802 §9). HMAC keys here are hash outputs or stored keys, so HMAC's key
//! hashing for keys longer than a block (RFC 2104 §2) is handled but rarely taken.
//!
//! Invariant: a `ScramSecrets` made by a `derive_*` function has keys of the hash's output
//! length, a salt within `SALT_BYTES_MIN..=SALT_BYTES_MAX` and an iteration count within
//! `SCRAM_ITERATIONS_MIN..=SCRAM_ITERATIONS_MAX`. Secrets read back from disk are checked
//! again by the exchange before use.

use std::fmt;

use hmac::Hmac;
use hmac::digest::{Digest, KeyInit, Mac};
use sha1::Sha1;
use sha2::Sha256;

use super::cram_md5::CramMd5Secrets;
use super::error::SaslError;
use super::limits::{SALT_BYTES_MAX, SALT_BYTES_MIN, SCRAM_ITERATIONS_MAX, SCRAM_ITERATIONS_MIN};
use super::precis::prepare_password;

/// Secrets stored per account for one SCRAM hash, derived when the password is set
/// (never the plaintext). `PartialEq` is for tests and storage round trips; it is not
/// constant-time, and verification never uses it.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramSecrets {
    /// Random salt, sent to the client as `s=`.
    pub salt: Vec<u8>,
    /// PBKDF2 iteration count, sent as `i=`.
    pub iterations: u32,
    /// `H(HMAC(SaltedPassword, "Client Key"))`: verifies client proofs.
    pub stored_key: Vec<u8>,
    /// `HMAC(SaltedPassword, "Server Key")`: signs the server-final message.
    pub server_key: Vec<u8>,
}

impl fmt::Debug for ScramSecrets {
    /// Keys are redacted: they are password equivalents for anyone who also sniffs an
    /// exchange, and have no place in logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramSecrets")
            .field("salt_bytes", &self.salt.len())
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// The stored secrets of one account, as many as it has; the exchange picks what its
/// mechanism needs. A missing entry behaves like an unknown user.
#[derive(Debug, Clone, Copy, Default)]
pub struct Secrets<'a> {
    /// For SCRAM-SHA-1 and SCRAM-SHA-1-PLUS.
    pub scram_sha1: Option<&'a ScramSecrets>,
    /// For SCRAM-SHA-256 and SCRAM-SHA-256-PLUS.
    pub scram_sha256: Option<&'a ScramSecrets>,
    /// For CRAM-MD5.
    pub cram_md5: Option<&'a CramMd5Secrets>,
}

/// Derives SCRAM-SHA-1 secrets (RFC 5802 §3) from a password, after RFC 8265
/// OpaqueString preparation. `salt` must be random, `SALT_BYTES_MIN..=SALT_BYTES_MAX`
/// octets; `iterations` within `SCRAM_ITERATIONS_MIN..=SCRAM_ITERATIONS_MAX`. Slow by
/// design (PBKDF2): run it off the executor.
pub fn derive_scram_sha1(password: &str, salt: &[u8], iterations: u32) -> Result<ScramSecrets, SaslError> {
    ScramHash::Sha1.derive(password, salt, iterations)
}

/// Derives SCRAM-SHA-256 secrets (RFC 7677 §3, the RFC 5802 §3 algorithm with SHA-256);
/// same rules as [`derive_scram_sha1`].
pub fn derive_scram_sha256(password: &str, salt: &[u8], iterations: u32) -> Result<ScramSecrets, SaslError> {
    ScramHash::Sha256.derive(password, salt, iterations)
}

/// The hash function of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ScramHash {
    Sha1,
    Sha256,
}

impl ScramHash {
    /// Output length of H and HMAC, in octets.
    pub(crate) fn output_bytes(self) -> usize {
        match self {
            ScramHash::Sha1 => 20,
            ScramHash::Sha256 => 32,
        }
    }

    /// `H(data)`.
    pub(crate) fn digest(self, data: &[u8]) -> Vec<u8> {
        match self {
            ScramHash::Sha1 => Sha1::digest(data).to_vec(),
            ScramHash::Sha256 => Sha256::digest(data).to_vec(),
        }
    }

    /// `HMAC(key, parts concatenated)`.
    pub(crate) fn hmac(self, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
        match self {
            ScramHash::Sha1 => hmac_parts::<Hmac<Sha1>>(key, parts, |long| Sha1::digest(long).to_vec()),
            ScramHash::Sha256 => hmac_parts::<Hmac<Sha256>>(key, parts, |long| Sha256::digest(long).to_vec()),
        }
    }

    /// `Hi(password, salt, i)`: PBKDF2 with HMAC-H and one output block (RFC 5802 §2.2).
    pub(crate) fn salted_password(self, password: &[u8], salt: &[u8], iterations: u32) -> Vec<u8> {
        let mut out = vec![0u8; self.output_bytes()];
        match self {
            ScramHash::Sha1 => pbkdf2::pbkdf2_hmac::<Sha1>(password, salt, iterations, &mut out),
            ScramHash::Sha256 => pbkdf2::pbkdf2_hmac::<Sha256>(password, salt, iterations, &mut out),
        }
        out
    }

    fn derive(self, password: &str, salt: &[u8], iterations: u32) -> Result<ScramSecrets, SaslError> {
        if !(SALT_BYTES_MIN..=SALT_BYTES_MAX).contains(&salt.len()) {
            return Err(SaslError::InvalidParameter("salt length out of bounds"));
        }
        if !(SCRAM_ITERATIONS_MIN..=SCRAM_ITERATIONS_MAX).contains(&iterations) {
            return Err(SaslError::InvalidParameter("iteration count out of bounds"));
        }
        let prepared = prepare_password(password)?;
        let salted = self.salted_password(prepared.as_bytes(), salt, iterations);
        let client_key = self.hmac(&salted, &[b"Client Key"]);
        let secrets = ScramSecrets {
            salt: salt.to_vec(),
            iterations,
            stored_key: self.digest(&client_key),
            server_key: self.hmac(&salted, &[b"Server Key"]),
        };
        debug_assert!(self.validate(&secrets).is_ok());
        Ok(secrets)
    }

    /// Checks secrets read back from storage before using them: keys of the right length,
    /// a salt, a non-zero iteration count. The bounds of derivation are not enforced here,
    /// so secrets made under older bounds keep working.
    pub(crate) fn validate(self, secrets: &ScramSecrets) -> Result<(), SaslError> {
        let keys_fit = secrets.stored_key.len() == self.output_bytes()
            && secrets.server_key.len() == self.output_bytes();
        if !keys_fit
            || secrets.salt.is_empty()
            || secrets.salt.len() > SALT_BYTES_MAX
            || secrets.iterations == 0
        {
            return Err(SaslError::SecretsInvalid);
        }
        Ok(())
    }
}

/// HMAC (RFC 2104) over `parts`, with `M` the HMAC type and `hash` its hash function
/// (for keys longer than a block). The key is zero-padded to the block size here, which
/// is what RFC 2104 §2 prescribes, so the infallible fixed-size constructor applies.
fn hmac_parts<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]], hash: fn(&[u8]) -> Vec<u8>) -> Vec<u8> {
    let mut block = hmac::digest::Key::<M>::default();
    if key.len() <= block.len() {
        block[..key.len()].copy_from_slice(key);
    } else {
        let hashed = hash(key);
        // Invariant: a hash output is shorter than its block (20 or 32 < 64 octets).
        block[..hashed.len()].copy_from_slice(&hashed);
    }
    let mut mac = <M as KeyInit>::new(&block);
    for part in parts {
        Mac::update(&mut mac, part);
    }
    mac.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn hmac_matches_rfc_4231_and_rfc_2202() {
        // RFC 4231 §4.3 test case 2 (HMAC-SHA-256), RFC 2202 §3 test case 2 (HMAC-SHA-1).
        let mac = ScramHash::Sha256.hmac(b"Jefe", &[b"what do ya want ", b"for nothing?"]);
        assert_eq!(hex(&mac), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        let mac = ScramHash::Sha1.hmac(b"Jefe", &[b"what do ya want for nothing?"]);
        assert_eq!(hex(&mac), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
        // RFC 2202 §3 test case 6: an 80-octet key, longer than the block.
        let mac =
            ScramHash::Sha1.hmac(&[0xaa; 80], &[b"Test Using Larger Than Block-Size Key - Hash Key First"]);
        assert_eq!(hex(&mac), "aa4ae5e15272d00e95705637ce8a3b55ed402112");
    }

    #[test]
    fn derivation_bounds() {
        assert_eq!(
            derive_scram_sha256("pencil", &[1; 7], 4096),
            Err(SaslError::InvalidParameter("salt length out of bounds"))
        );
        assert_eq!(
            derive_scram_sha256("pencil", &[1; 16], 4095),
            Err(SaslError::InvalidParameter("iteration count out of bounds"))
        );
        assert!(derive_scram_sha1("pencil", &[1; 65], 4096).is_err());
        assert!(derive_scram_sha1("", &[1; 16], 4096).is_err());
        let secrets = derive_scram_sha1("pencil", &[1; 8], 4096).unwrap();
        assert!(!format!("{secrets:?}").contains("stored_key"));
    }
}
