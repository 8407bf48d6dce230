//! Password hashing: argon2id PHC strings (RFC 9106) for PLAIN and LOGIN, and the
//! password methods of [`AccountStore`], which keep the hash in the account's
//! credentials (`credentials.rs`). The plaintext is never stored.
//!
//! Production parameters follow OWASP's argon2id recommendation: m = 19456 KiB, t = 2,
//! p = 1 (~20-50 ms per hash on a server core: slow on purpose, run it off the
//! executor). Unit tests use tiny parameters so that unoptimized builds stay fast;
//! verification always uses the parameters recorded in the stored string, which must
//! stay within the `ARGON2_*_MAX` bounds (a stored string with a huge memory cost would
//! otherwise cost that much on every login).
//!
//! Passwords arrive prepared (RFC 8265 OpaqueString, done by the SASL layer); this
//! module hashes bytes and does no normalization of its own.

use std::fs::File;
use std::io::Read;

use argon2::password_hash::{self, SaltString};
use argon2::{
    ARGON2ID_IDENT, Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version,
};

use crate::credentials::StoredCredentials;
use crate::error::StorageError;
use crate::store::AccountStore;

/// Longest password accepted. Bounds hashing input; real passphrases are far shorter.
pub const PASSWORD_BYTES_MAX: usize = 1024;

/// Longest PHC string accepted. Ours are about 100 bytes (parameters, a 22-character
/// salt, a 43-character hash); 256 leaves room for other parameters and lengths while
/// keeping the credentials record small.
pub(crate) const PASSWORD_HASH_BYTES_MAX: usize = 256;

/// Largest argon2 memory cost (KiB) a stored hash may ask for: 2 GiB, RFC 9106 §4's
/// first recommended option and the largest any recommendation asks for. Verification
/// allocates this much per login, so a larger stored value is refused.
const ARGON2_MEMORY_KIB_MAX: u32 = 1 << 21;
/// Most argon2 passes a stored hash may ask for: RFC 9106 §4's options use 1 and 3,
/// OWASP's 1 to 5; 16 bounds the time a login can cost.
const ARGON2_PASSES_MAX: u32 = 16;
/// Most argon2 lanes a stored hash may ask for: RFC 9106 §4 uses 4; 16 bounds the
/// threads' worth of work (we hash on one thread) a login can cost.
const ARGON2_LANES_MAX: u32 = 16;
const _: () = assert!(PRODUCTION_COST.memory_kib <= ARGON2_MEMORY_KIB_MAX);
const _: () = assert!(PRODUCTION_COST.iterations <= ARGON2_PASSES_MAX);
const _: () = assert!(PRODUCTION_COST.lanes <= ARGON2_LANES_MAX);

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

/// argon2id (RFC 9106) of a prepared password with a fresh random salt: the PHC string
/// to store. Blocking and slow on purpose (tens of ms): call it off the executor. A
/// password longer than [`PASSWORD_BYTES_MAX`] is [`StorageError::PasswordTooLong`].
pub fn hash_password(prepared_password: &str) -> Result<String, StorageError> {
    hash_password_with(prepared_password, COST)
}

/// Hashes `password` at `cost` with a fresh random salt.
pub(crate) fn hash_password_with(password: &str, cost: Cost) -> Result<String, StorageError> {
    if password.len() > PASSWORD_BYTES_MAX {
        return Err(StorageError::PasswordTooLong { max: PASSWORD_BYTES_MAX });
    }
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

/// Parses `phc` and checks that it is an argon2id hash we are willing to verify: salt
/// and output present, costs within the `ARGON2_*_MAX` bounds, not over-long.
pub(crate) fn parse_argon2id(phc: &str) -> Result<PasswordHash<'_>, &'static str> {
    if phc.len() > PASSWORD_HASH_BYTES_MAX {
        return Err("password hash too long");
    }
    let parsed = PasswordHash::new(phc).map_err(|_| "password hash is not a PHC string")?;
    if parsed.algorithm != ARGON2ID_IDENT {
        return Err("password hash is not argon2id");
    }
    if parsed.salt.is_none() || parsed.hash.is_none() {
        return Err("password hash has no salt or no output");
    }
    let params = Params::try_from(&parsed).map_err(|_| "password hash has invalid argon2 parameters")?;
    let within = params.m_cost() <= ARGON2_MEMORY_KIB_MAX
        && params.t_cost() <= ARGON2_PASSES_MAX
        && params.p_cost() <= ARGON2_LANES_MAX;
    if !within {
        return Err("password hash asks for more argon2 memory, passes or lanes than allowed");
    }
    Ok(parsed)
}

/// Checks a prepared password against an argon2id PHC string, with the parameters the
/// string records. The computed hash is compared with the stored one in constant time
/// (password-hash's `Output` equality), so the answer's timing does not depend on how
/// much of the hash matched. False for a wrong password and for one longer than
/// [`PASSWORD_BYTES_MAX`] (which no hash can match); [`StorageError::PasswordHash`] when
/// `phc` is not an argon2id PHC string within our cost bounds. Slow on purpose.
pub fn verify_password_hash(phc: &str, prepared_password: &str) -> Result<bool, StorageError> {
    let parsed = parse_argon2id(phc).map_err(hash_error)?;
    if prepared_password.len() > PASSWORD_BYTES_MAX {
        return Ok(false);
    }
    match Argon2::default().verify_password(prepared_password.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(password_hash::Error::Password) => Ok(false),
        Err(error) => Err(hash_error(error)),
    }
}

impl AccountStore {
    /// Sets the password: stores its argon2id hash (RFC 9106), never the plaintext, as
    /// credentials with only that hash. SCRAM and CRAM-MD5 secrets stored before are
    /// dropped (they belong to the old password); use
    /// [`AccountStore::set_credentials`] to store them with the hash. Slow on purpose
    /// (tens of ms): call it off the executor. The hash is computed before the writer
    /// lock is taken.
    pub fn set_password(&self, password: &str) -> Result<(), StorageError> {
        let argon2id = hash_password(password)?;
        self.set_credentials(&StoredCredentials {
            argon2id,
            scram_sha1: None,
            scram_sha256: None,
            cram_md5: None,
        })
    }

    /// True when `password` matches the stored argon2id hash (of the credentials record,
    /// or of a schema-2 `password` key); false when it does not or no password is set.
    /// Slow on purpose, like [`AccountStore::set_password`].
    pub fn verify_password(&self, password: &str) -> Result<bool, StorageError> {
        if password.len() > PASSWORD_BYTES_MAX {
            return Ok(false);
        }
        match self.credentials()? {
            Some(credentials) => verify_password_hash(&credentials.argon2id, password),
            None => Ok(false),
        }
    }

    /// True when a password is set.
    pub fn has_password(&self) -> Result<bool, StorageError> {
        self.credentials().map(|credentials| credentials.is_some())
    }
}
