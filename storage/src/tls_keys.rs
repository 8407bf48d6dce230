//! TLS client public keys in the [`GlobalStore`]: an account registers one public key
//! per device, and a TLS client certificate carrying that key logs in as the account
//! (SASL EXTERNAL, RFC 4422 Appendix A; IMAP PREAUTH, RFC 9051 §7.1). Only the key
//! identifies the account: no CA, no name in the certificate matters. The handshake
//! gives the SHA-256 of the certificate's SubjectPublicKeyInfo (RFC 5280 §4.1.2.7),
//! which is the key of `tls_public_keys`, so a login is one lookup, no scan.
//!
//! Value: record-version byte ([`TLS_PUBLIC_KEY_RECORD_VERSION`]) then the rkyv archive
//! of `TlsPublicKeyRecord`, a private copy of [`TlsPublicKey`] so the API can change
//! without changing the bytes on disk.
//!
//! Rules checked before a put and again after every get (STYLE rule 8): the record's
//! fingerprint equals its key and is not all zeros; the account name is valid
//! ([`crate::is_valid_account_name`]); the login address is 1 to
//! [`LOGIN_ADDRESS_BYTES_MAX`] bytes, the name at most [`TLS_PUBLIC_KEY_NAME_BYTES_MAX`],
//! neither with control characters (both end up in logs and listings); the SPKI is a DER
//! SEQUENCE of at most [`SPKI_BYTES_MAX`] bytes. Not checked (no SHA-256 here): that the
//! fingerprint is the SPKI's digest, nor that the address belongs to the account; the
//! caller does both. Listing per account scans the table: it is small
//! ([`TLS_PUBLIC_KEYS_PER_ACCOUNT_MAX`] per account).

use heed::RoTxn;
use rkyv::rancor::BoxedError;
use rkyv::{Archive, Deserialize, Serialize};

use crate::error::StorageError;
use crate::global::GlobalStore;
use crate::names::is_valid_account_name;
use crate::records::{archive_bytes, encode};
use crate::schema::Db;

/// Most TLS public keys one account may register: one per device, and people have a
/// handful of devices. Bounds the table (each add and each listing scans it) and what a
/// compromised account can put in it. More is [`StorageError::TooManyTlsPublicKeys`].
pub const TLS_PUBLIC_KEYS_PER_ACCOUNT_MAX: usize = 64;

/// Longest device label: enough for any name a person types or a certificate's CN
/// (RFC 5280's upper bound for a CN is 64 characters, up to 4 bytes each).
pub const TLS_PUBLIC_KEY_NAME_BYTES_MAX: usize = 256;

/// Longest login address: RFC 5321 §4.5.3.1.3 limits a path to 256 octets including
/// the angle brackets, so an address to 254.
pub const LOGIN_ADDRESS_BYTES_MAX: usize = 254;

/// Largest SPKI DER accepted: an RSA-16384 key takes about 2.1 KiB and ML-DSA-87's about
/// 2.6 KiB; 16 KiB leaves room for any key a client certificate carries and bounds the
/// record.
pub const SPKI_BYTES_MAX: usize = 16 * 1024;

/// Record version byte of TLS public key records this build writes and reads.
pub(crate) const TLS_PUBLIC_KEY_RECORD_VERSION: u8 = 1;

/// The DER tag of a constructed SEQUENCE (X.690 §8.9), which an SPKI is.
const DER_SEQUENCE_TAG: u8 = 0x30;

/// A registered TLS client public key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsPublicKey {
    /// SHA-256 of the SubjectPublicKeyInfo DER: the lookup key, unique in the store.
    pub fingerprint: [u8; 32],
    /// The account the key logs in to.
    pub account: String,
    /// The address the login is as; the caller checks that it belongs to the account.
    pub login_address: String,
    /// Device label, for listings; may be empty.
    pub name: String,
    /// Do not send IMAP PREAUTH for this key: the client wants to AUTHENTICATE (for
    /// instance as another address) even though its certificate is known.
    pub no_imap_preauth: bool,
    /// The SubjectPublicKeyInfo DER (RFC 5280 §4.1.2.7), for listings.
    pub spki: Vec<u8>,
    /// When the key was registered, Unix milliseconds.
    pub created_ms: i64,
}

/// Version 1 of a stored TLS public key. Part of the on-disk format: never change it.
#[derive(Archive, Serialize, Deserialize)]
pub(crate) struct TlsPublicKeyRecord {
    fingerprint: [u8; 32],
    account: String,
    login_address: String,
    name: String,
    no_imap_preauth: bool,
    spki: Vec<u8>,
    created_ms: i64,
}

/// The rules of the module doc; the reason for the first one broken.
fn check(key: &TlsPublicKey) -> Result<(), &'static str> {
    if key.fingerprint == [0; 32] {
        return Err("fingerprint is all zeros");
    }
    if !is_valid_account_name(&key.account) {
        return Err("account name is not valid");
    }
    let address = &key.login_address;
    if address.is_empty() || address.len() > LOGIN_ADDRESS_BYTES_MAX || address.chars().any(char::is_control)
    {
        return Err("login address empty, too long or with control characters");
    }
    if key.name.len() > TLS_PUBLIC_KEY_NAME_BYTES_MAX || key.name.chars().any(char::is_control) {
        return Err("name too long or with control characters");
    }
    if key.spki.len() > SPKI_BYTES_MAX || key.spki.first() != Some(&DER_SEQUENCE_TAG) {
        return Err("SPKI empty, too long or not a DER SEQUENCE");
    }
    Ok(())
}

fn encode_key(key: &TlsPublicKey) -> Result<Vec<u8>, StorageError> {
    let record = TlsPublicKeyRecord {
        fingerprint: key.fingerprint,
        account: key.account.clone(),
        login_address: key.login_address.clone(),
        name: key.name.clone(),
        no_imap_preauth: key.no_imap_preauth,
        spki: key.spki.clone(),
        created_ms: key.created_ms,
    };
    encode(TLS_PUBLIC_KEY_RECORD_VERSION, &record)
}

/// Validates a `tls_public_keys` value and checks it against its key.
fn decode_key(fingerprint: &[u8], value: &[u8]) -> Result<TlsPublicKey, StorageError> {
    let what = || format!("TLS public key {}", hex(fingerprint));
    let corrupt = |error: BoxedError| StorageError::corrupt(format!("{}: {error}", what()));
    let archive = archive_bytes(value, TLS_PUBLIC_KEY_RECORD_VERSION, &what())?;
    let archived = rkyv::access::<ArchivedTlsPublicKeyRecord, BoxedError>(archive).map_err(corrupt)?;
    let record = rkyv::deserialize::<TlsPublicKeyRecord, BoxedError>(archived).map_err(corrupt)?;
    let key = TlsPublicKey {
        fingerprint: record.fingerprint,
        account: record.account,
        login_address: record.login_address,
        name: record.name,
        no_imap_preauth: record.no_imap_preauth,
        spki: record.spki,
        created_ms: record.created_ms,
    };
    if key.fingerprint.as_slice() != fingerprint {
        return Err(StorageError::corrupt(format!("{}: record contradicts its key", what())));
    }
    check(&key).map_err(|reason| StorageError::corrupt(format!("{}: {reason}", what())))?;
    Ok(key)
}

/// Lower-case hex, for messages about a fingerprint.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Calls `f` with every stored key, checked, in fingerprint order.
fn for_each_key(txn: &RoTxn<'_>, db: &Db, mut f: impl FnMut(TlsPublicKey)) -> Result<(), StorageError> {
    for entry in db.iter(txn)? {
        let (fingerprint, value) = entry?;
        f(decode_key(fingerprint, value)?);
    }
    Ok(())
}

impl GlobalStore {
    /// Registers `key`. [`StorageError::KeyExists`] when its fingerprint is registered
    /// (to any account; the stored key is unchanged), [`StorageError::TooManyTlsPublicKeys`]
    /// when the account has [`TLS_PUBLIC_KEYS_PER_ACCOUNT_MAX`], and
    /// [`StorageError::InvalidTlsPublicKey`] when it breaks a rule of the module doc.
    /// Durable when it returns.
    pub fn add_tls_public_key(&self, key: &TlsPublicKey) -> Result<(), StorageError> {
        check(key).map_err(|reason| StorageError::InvalidTlsPublicKey { reason })?;
        let value = encode_key(key)?;
        let writer = self.begin_write()?;
        self.lmdb.write(&writer, |wtxn| {
            let db = self.dbs.tls_public_keys;
            if db.get(wtxn, &key.fingerprint)?.is_some() {
                return Err(StorageError::KeyExists);
            }
            let mut count = 0;
            for_each_key(wtxn, &db, |stored| {
                count += usize::from(stored.account == key.account);
            })?;
            if count >= TLS_PUBLIC_KEYS_PER_ACCOUNT_MAX {
                return Err(StorageError::TooManyTlsPublicKeys { max: TLS_PUBLIC_KEYS_PER_ACCOUNT_MAX });
            }
            db.put(wtxn, &key.fingerprint, &value)?;
            Ok(())
        })
    }

    /// Removes the key with `fingerprint`; false when none was registered. Durable when
    /// it returns.
    pub fn remove_tls_public_key(&self, fingerprint: &[u8; 32]) -> Result<bool, StorageError> {
        let writer = self.begin_write()?;
        self.lmdb.write(&writer, |wtxn| Ok(self.dbs.tls_public_keys.delete(wtxn, fingerprint)?))
    }

    /// Removes every key of `account` (when the account is removed: a new account of the
    /// same name must not inherit its devices) and returns how many there were. Durable
    /// when it returns.
    pub fn remove_account_tls_public_keys(&self, account: &str) -> Result<usize, StorageError> {
        let writer = self.begin_write()?;
        self.lmdb.write(&writer, |wtxn| {
            let mut fingerprints = Vec::new();
            for_each_key(wtxn, &self.dbs.tls_public_keys, |stored| {
                if stored.account == account {
                    fingerprints.push(stored.fingerprint);
                }
            })?;
            for fingerprint in &fingerprints {
                self.dbs.tls_public_keys.delete(wtxn, fingerprint)?;
            }
            Ok(fingerprints.len())
        })
    }

    /// The key with `fingerprint`, if registered: the lookup of a TLS client
    /// certificate's SPKI digest during login.
    pub fn tls_public_key(&self, fingerprint: &[u8; 32]) -> Result<Option<TlsPublicKey>, StorageError> {
        let read = self.lmdb.read_txn(None)?;
        self.dbs
            .tls_public_keys
            .get(read.txn(), fingerprint)?
            .map(|value| decode_key(fingerprint, value))
            .transpose()
    }

    /// The registered keys of `account`, or of every account for `None`, in fingerprint
    /// order. Scans the table (see the module doc).
    pub fn tls_public_keys(&self, account: Option<&str>) -> Result<Vec<TlsPublicKey>, StorageError> {
        let read = self.lmdb.read_txn(None)?;
        let mut keys = Vec::new();
        for_each_key(read.txn(), &self.dbs.tls_public_keys, |stored| {
            if account.is_none_or(|account| stored.account == account) {
                keys.push(stored);
            }
        })?;
        Ok(keys)
    }
}
