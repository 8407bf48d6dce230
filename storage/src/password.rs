//! The account password, stored as an argon2id PHC string (RFC 9106) in `meta`; the
//! plaintext is never stored.
//!
//! Production parameters follow OWASP's argon2id recommendation: m = 19456 KiB, t = 2,
//! p = 1 (~20-50 ms per hash on a server core: slow on purpose, run it off the
//! executor). Unit tests use tiny parameters so that unoptimized builds stay fast;
//! verification always uses the parameters recorded in the stored string.

use std::fs::File;
use std::io::Read;

use argon2::password_hash::{self, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};

use crate::error::StorageError;
use crate::keys;
use crate::store::AccountStore;

/// Longest password accepted. Bounds hashing input; real passphrases are far shorter.
pub const PASSWORD_BYTES_MAX: usize = 1024;

/// argon2 cost parameters.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cost {
    pub(crate) memory_kib: u32,
    pub(crate) iterations: u32,
    pub(crate) lanes: u32,
}

/// OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane.
pub(crate) const PRODUCTION_COST: Cost = Cost { memory_kib: 19456, iterations: 2, lanes: 1 };

/// Unit tests only: argon2's minimum memory (8 KiB per lane) and one pass, so that
/// unoptimized test builds stay fast. Never used by the library outside tests.
#[cfg(test)]
const COST: Cost = Cost { memory_kib: 64, iterations: 1, lanes: 1 };
#[cfg(not(test))]
const COST: Cost = PRODUCTION_COST;

/// Random salt length: RFC 9106 §3.1 recommends 128 bits.
const SALT_BYTES: usize = 16;

/// Source of salt bytes (the kernel CSPRNG; never blocks once the system booted).
const RANDOM_DEVICE: &str = "/dev/urandom";

fn hash_error(error: impl std::fmt::Display) -> StorageError {
    StorageError::PasswordHash { message: error.to_string() }
}

/// Hashes `password` with a fresh random salt; returns the PHC string.
pub(crate) fn hash_password(password: &str) -> Result<String, StorageError> {
    hash_password_with(password, COST)
}

/// Hashes `password` at `cost` with a fresh random salt.
pub(crate) fn hash_password_with(password: &str, cost: Cost) -> Result<String, StorageError> {
    let params = Params::new(cost.memory_kib, cost.iterations, cost.lanes, None).map_err(hash_error)?;
    let hasher = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let mut salt = [0u8; SALT_BYTES];
    File::open(RANDOM_DEVICE)
        .and_then(|mut random| random.read_exact(&mut salt))
        .map_err(|error| StorageError::io(RANDOM_DEVICE, error))?;
    let salt = SaltString::encode_b64(&salt).map_err(hash_error)?;
    let hash = hasher.hash_password(password.as_bytes(), &salt).map_err(hash_error)?;
    Ok(hash.to_string())
}

/// Checks `password` against a stored PHC string, with the parameters it records.
pub(crate) fn verify_hash(phc: &str, password: &str) -> Result<bool, StorageError> {
    let parsed = PasswordHash::new(phc).map_err(hash_error)?;
    match Argon2::default().verify_password(password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(password_hash::Error::Password) => Ok(false),
        Err(error) => Err(hash_error(error)),
    }
}

impl AccountStore {
    /// Sets the password: stores its argon2id hash (RFC 9106), never the plaintext.
    /// Slow on purpose (tens of ms): call it off the executor. The hash is computed
    /// before the writer lock is taken.
    pub fn set_password(&self, password: &str) -> Result<(), StorageError> {
        if password.len() > PASSWORD_BYTES_MAX {
            return Err(StorageError::PasswordTooLong { max: PASSWORD_BYTES_MAX });
        }
        let phc = hash_password(password)?;
        let writer = self.begin_write()?;
        self.lmdb.write(&writer, |wtxn| Ok(self.dbs.meta.put(wtxn, keys::META_PASSWORD, phc.as_bytes())?))
    }

    /// True when `password` matches the stored hash; false when it does not or no
    /// password is set. Slow on purpose, like [`AccountStore::set_password`].
    pub fn verify_password(&self, password: &str) -> Result<bool, StorageError> {
        if password.len() > PASSWORD_BYTES_MAX {
            return Ok(false);
        }
        match self.read(|view| view.password_hash())? {
            Some(phc) => verify_hash(&phc, password),
            None => Ok(false),
        }
    }

    /// True when a password is set.
    pub fn has_password(&self) -> Result<bool, StorageError> {
        self.read(|view| view.password_hash().map(|phc| phc.is_some()))
    }
}
