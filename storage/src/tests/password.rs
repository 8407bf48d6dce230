//! Password hashes: argon2id PHC strings, never the plaintext.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::fixture;
use crate::password::{PRODUCTION_COST, hash_password, hash_password_with, verify_hash};
use crate::{PASSWORD_BYTES_MAX, StorageError, keys};

#[test]
fn set_and_verify() {
    let fixture = fixture();
    let store = fixture.open("alice");
    assert!(!store.has_password().unwrap());
    assert!(!store.verify_password("").unwrap());
    assert!(!store.verify_password("anything").unwrap());

    store.set_password("s3cret passphrase").unwrap();
    assert!(store.has_password().unwrap());
    assert!(store.verify_password("s3cret passphrase").unwrap());
    assert!(!store.verify_password("s3cret passphrasE").unwrap());
    assert!(!store.verify_password("").unwrap());

    // The raw value in the environment is a PHC string without the plaintext.
    let read = store.lmdb.read_txn(None).unwrap();
    let raw = store.dbs.meta.get(read.txn(), keys::META_PASSWORD).unwrap().unwrap().to_vec();
    drop(read);
    assert!(raw.starts_with(b"$argon2id$v=19$"));
    assert!(!raw.windows(6).any(|window| window == b"s3cret"));

    // A new password replaces the old; salts differ.
    store.set_password("other").unwrap();
    assert!(!store.verify_password("s3cret passphrase").unwrap());
    assert!(store.verify_password("other").unwrap());
    assert_ne!(hash_password("same").unwrap(), hash_password("same").unwrap());
}

#[test]
fn limits_and_bad_hashes() {
    let fixture = fixture();
    let store = fixture.open("bob");
    let long = "x".repeat(PASSWORD_BYTES_MAX + 1);
    assert!(matches!(store.set_password(&long), Err(StorageError::PasswordTooLong { .. })));
    assert!(!store.has_password().unwrap());
    store.set_password(&long[1..]).unwrap();
    assert!(store.verify_password(&long[1..]).unwrap());
    assert!(!store.verify_password(&long).unwrap());
    assert!(matches!(verify_hash("not a phc string", "x"), Err(StorageError::PasswordHash { .. })));
}

#[test]
fn production_cost_is_owasps_and_verifies() {
    let phc = hash_password_with("pw", PRODUCTION_COST).unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    assert!(verify_hash(&phc, "pw").unwrap());
    assert!(!verify_hash(&phc, "pW").unwrap());
}
