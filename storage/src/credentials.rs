//! Stored SASL credentials of an account: the argon2id PHC string (RFC 9106) for PLAIN
//! and LOGIN, SCRAM-SHA-1 and SCRAM-SHA-256 secrets (RFC 5802 §3, RFC 7677) and the
//! CRAM-MD5 precomputed HMAC-MD5 states (RFC 2195, RFC 2104 §2). All of it is derived
//! from the password when it is set, by the caller (`moxide_protocols::sasl`: storage
//! does not depend on protocols); the plaintext is never stored.
//!
//! Format: meta key `credentials`, one record-version byte ([`CREDENTIALS_RECORD_VERSION`])
//! then the rkyv archive of `CredentialsRecord`, a private copy of the public types so
//! the API can change without changing the bytes on disk.
//!
//! Schema 2 and older stored only the PHC string under meta key `password`. That key
//! reads as credentials with only `argon2id` (migration on the next set: every
//! [`AccountStore::set_credentials`], and so [`AccountStore::set_password`], writes
//! `credentials` and deletes `password` in one transaction). Invariant: after a set the
//! two keys never coexist; if they do, `credentials` wins and
//! [`AccountStore::check_consistency`] reports it.
//!
//! Rules checked before a put and again after every get (STYLE rule 8): the argon2id
//! string parses within our cost bounds (`password::parse_argon2id`); a SCRAM record
//! has a salt of 1 to [`SCRAM_SALT_BYTES_MAX`] bytes, at least one iteration (RFC 5802
//! §5.1 `i`), and keys of the hash's output length (20 bytes for SHA-1, 32 for
//! SHA-256).

use std::fmt;

use heed::RoTxn;
use rkyv::rancor::BoxedError;
use rkyv::{Archive, Deserialize, Serialize};

use crate::error::StorageError;
use crate::keys;
use crate::password::parse_argon2id;
use crate::records::{archive_bytes, encode};
use crate::schema::Databases;
use crate::store::AccountStore;

/// Longest SCRAM salt accepted. RFC 5802 sets no bound; servers use 16 to 32 bytes.
/// 128 leaves room for any of them and bounds the record.
pub const SCRAM_SALT_BYTES_MAX: usize = 128;

/// Record version byte of credentials records this build writes and reads.
pub(crate) const CREDENTIALS_RECORD_VERSION: u8 = 1;

/// SHA-1's output length: StoredKey and ServerKey of SCRAM-SHA-1 (RFC 5802 §3).
const SHA1_OUTPUT_BYTES: usize = 20;
/// SHA-256's output length: StoredKey and ServerKey of SCRAM-SHA-256 (RFC 7677 §3).
const SHA256_OUTPUT_BYTES: usize = 32;

/// The SCRAM secrets of one hash function (RFC 5802 §3): what the server needs to check
/// a client proof and prove itself, without the password. `Debug` leaves out the keys.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramRecord {
    /// The salt of `SaltedPassword`, sent to the client (`s=`, RFC 5802 §5.1).
    pub salt: Vec<u8>,
    /// The PBKDF2 iteration count, sent to the client (`i=`), at least 1.
    pub iterations: u32,
    /// `StoredKey := H(ClientKey)`: checks the client's proof.
    pub stored_key: Vec<u8>,
    /// `ServerKey := HMAC(SaltedPassword, "Server Key")`: signs the server's final
    /// message.
    pub server_key: Vec<u8>,
}

impl fmt::Debug for ScramRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramRecord")
            .field("salt_bytes", &self.salt.len())
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

/// An account's stored credentials. `Debug` leaves out every secret.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredCredentials {
    /// argon2id PHC string of the (prepared) password, for PLAIN and LOGIN
    /// ([`crate::hash_password`]).
    pub argon2id: String,
    /// SCRAM-SHA-1 secrets (RFC 5802), if derived.
    pub scram_sha1: Option<ScramRecord>,
    /// SCRAM-SHA-256 secrets (RFC 7677), if derived.
    pub scram_sha256: Option<ScramRecord>,
    /// CRAM-MD5 (RFC 2195): the HMAC-MD5 (RFC 2104) states after the first block, inner
    /// (key XOR ipad) four words then outer (key XOR opad) four words, if derived.
    pub cram_md5: Option<[u32; 8]>,
}

impl fmt::Debug for StoredCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCredentials")
            .field("scram_sha1", &self.scram_sha1)
            .field("scram_sha256", &self.scram_sha256)
            .field("cram_md5", &self.cram_md5.is_some())
            .finish_non_exhaustive()
    }
}

/// Version 1 of the stored credentials. Part of the on-disk format: never change it.
#[derive(Archive, Serialize, Deserialize)]
pub(crate) struct CredentialsRecord {
    argon2id: String,
    scram_sha1: Option<ScramSecrets>,
    scram_sha256: Option<ScramSecrets>,
    cram_md5: Option<[u32; 8]>,
}

/// Version 1 of one stored SCRAM record. Part of the on-disk format: never change it.
#[derive(Archive, Serialize, Deserialize)]
pub(crate) struct ScramSecrets {
    salt: Vec<u8>,
    iterations: u32,
    stored_key: Vec<u8>,
    server_key: Vec<u8>,
}

impl From<&ScramRecord> for ScramSecrets {
    fn from(record: &ScramRecord) -> Self {
        ScramSecrets {
            salt: record.salt.clone(),
            iterations: record.iterations,
            stored_key: record.stored_key.clone(),
            server_key: record.server_key.clone(),
        }
    }
}

impl From<ScramSecrets> for ScramRecord {
    fn from(secrets: ScramSecrets) -> Self {
        ScramRecord {
            salt: secrets.salt,
            iterations: secrets.iterations,
            stored_key: secrets.stored_key,
            server_key: secrets.server_key,
        }
    }
}

/// Checks one SCRAM record whose keys must be `key_bytes` long.
fn check_scram(record: &ScramRecord, key_bytes: usize) -> Result<(), &'static str> {
    if record.salt.is_empty() || record.salt.len() > SCRAM_SALT_BYTES_MAX {
        return Err("SCRAM salt empty or too long");
    }
    if record.iterations == 0 {
        return Err("SCRAM iteration count is zero");
    }
    if record.stored_key.len() != key_bytes || record.server_key.len() != key_bytes {
        return Err("SCRAM key length differs from the hash's output length");
    }
    Ok(())
}

/// The rules of the module doc; the reason for the first one broken.
fn check(credentials: &StoredCredentials) -> Result<(), &'static str> {
    parse_argon2id(&credentials.argon2id)?;
    if let Some(record) = &credentials.scram_sha1 {
        check_scram(record, SHA1_OUTPUT_BYTES)?;
    }
    if let Some(record) = &credentials.scram_sha256 {
        check_scram(record, SHA256_OUTPUT_BYTES)?;
    }
    Ok(())
}

/// Encodes checked credentials as a `credentials` value.
pub(crate) fn encode_credentials(credentials: &StoredCredentials) -> Result<Vec<u8>, StorageError> {
    let record = CredentialsRecord {
        argon2id: credentials.argon2id.clone(),
        scram_sha1: credentials.scram_sha1.as_ref().map(ScramSecrets::from),
        scram_sha256: credentials.scram_sha256.as_ref().map(ScramSecrets::from),
        cram_md5: credentials.cram_md5,
    };
    encode(CREDENTIALS_RECORD_VERSION, &record)
}

/// Validates a `credentials` value and returns the credentials it holds.
fn decode_credentials(value: &[u8]) -> Result<StoredCredentials, StorageError> {
    let corrupt = |error: BoxedError| StorageError::corrupt(format!("credentials: {error}"));
    let archive = archive_bytes(value, CREDENTIALS_RECORD_VERSION, "credentials")?;
    let archived = rkyv::access::<ArchivedCredentialsRecord, BoxedError>(archive).map_err(corrupt)?;
    let record = rkyv::deserialize::<CredentialsRecord, BoxedError>(archived).map_err(corrupt)?;
    let credentials = StoredCredentials {
        argon2id: record.argon2id,
        scram_sha1: record.scram_sha1.map(ScramRecord::from),
        scram_sha256: record.scram_sha256.map(ScramRecord::from),
        cram_md5: record.cram_md5,
    };
    check(&credentials).map_err(|reason| StorageError::corrupt(format!("credentials: {reason}")))?;
    Ok(credentials)
}

/// The account's credentials: the `credentials` record, else a schema-2 `password` key
/// as credentials with only the hash, else none. Checked (see the module doc).
pub(crate) fn read_credentials(
    txn: &RoTxn<'_>,
    dbs: &Databases,
) -> Result<Option<StoredCredentials>, StorageError> {
    if let Some(value) = dbs.meta.get(txn, keys::META_CREDENTIALS)? {
        return decode_credentials(value).map(Some);
    }
    let Some(legacy) = dbs.meta.get(txn, keys::META_PASSWORD)? else {
        return Ok(None);
    };
    let argon2id = String::from_utf8(legacy.to_vec())
        .map_err(|_| StorageError::corrupt("password hash is not UTF-8"))?;
    parse_argon2id(&argon2id).map_err(|reason| StorageError::corrupt(format!("password: {reason}")))?;
    Ok(Some(StoredCredentials { argon2id, scram_sha1: None, scram_sha256: None, cram_md5: None }))
}

/// The consistency check's part: both keys at once, or a value that fails its checks.
/// Returns the problems found.
pub(crate) fn credential_problems(txn: &RoTxn<'_>, dbs: &Databases) -> Result<Vec<String>, StorageError> {
    let mut problems = Vec::new();
    let current = dbs.meta.get(txn, keys::META_CREDENTIALS)?.is_some();
    let legacy = dbs.meta.get(txn, keys::META_PASSWORD)?.is_some();
    if current && legacy {
        problems.push("meta: both `credentials` and the schema-2 `password` key".to_string());
    }
    match read_credentials(txn, dbs) {
        Ok(_) => {}
        Err(StorageError::Corrupt { what }) => problems.push(what),
        Err(error) => return Err(error),
    }
    Ok(problems)
}

impl AccountStore {
    /// Stores `credentials`, replacing any stored before (and a schema-2 `password` key)
    /// in one durable transaction. The caller derived them from the prepared password;
    /// this only checks and writes (no hashing), but the commit fsyncs: call it off the
    /// executor. Credentials that break a rule of the module doc are
    /// [`StorageError::InvalidCredentials`], and nothing is written.
    pub fn set_credentials(&self, credentials: &StoredCredentials) -> Result<(), StorageError> {
        check(credentials).map_err(|reason| StorageError::InvalidCredentials { reason })?;
        let value = encode_credentials(credentials)?;
        let writer = self.begin_write()?;
        self.lmdb.write(&writer, |wtxn| {
            self.dbs.meta.put(wtxn, keys::META_CREDENTIALS, &value)?;
            self.dbs.meta.delete(wtxn, keys::META_PASSWORD)?;
            Ok(())
        })
    }

    /// Removes the stored credentials (the account was removed: an account later made
    /// with the same name must not log in with the old password). Durable when it
    /// returns; call it off the executor.
    pub fn clear_credentials(&self) -> Result<(), StorageError> {
        let writer = self.begin_write()?;
        self.lmdb.write(&writer, |wtxn| {
            self.dbs.meta.delete(wtxn, keys::META_CREDENTIALS)?;
            self.dbs.meta.delete(wtxn, keys::META_PASSWORD)?;
            Ok(())
        })
    }

    /// The stored credentials (from a schema-2 `password` key: only `argon2id`), or
    /// `None` when no password was ever set. [`StorageError::Corrupt`] when the stored
    /// value fails its checks.
    pub fn credentials(&self) -> Result<Option<StoredCredentials>, StorageError> {
        self.read(|view| view.credentials())
    }
}
