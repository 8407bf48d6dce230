//! Password hashes: argon2id PHC strings, never the plaintext.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use argon2::password_hash::SaltString;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, Version};

use super::fixture;
use crate::password::{PRODUCTION_COST, hash_password_with};
use crate::{PASSWORD_BYTES_MAX, StorageError, hash_password, keys, verify_password_hash};

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

    // The raw value in the environment holds a PHC string without the plaintext, under
    // the schema-3 key only.
    let read = store.lmdb.read_txn(None).unwrap();
    let raw = store.dbs.meta.get(read.txn(), keys::META_CREDENTIALS).unwrap().unwrap().to_vec();
    assert!(store.dbs.meta.get(read.txn(), keys::META_PASSWORD).unwrap().is_none());
    drop(read);
    assert!(raw.windows(15).any(|window| window == b"$argon2id$v=19$"));
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
    assert!(matches!(hash_password(&long), Err(StorageError::PasswordTooLong { .. })));
    assert!(!store.has_password().unwrap());
    store.set_password(&long[1..]).unwrap();
    assert!(store.verify_password(&long[1..]).unwrap());
    assert!(!store.verify_password(&long).unwrap());
    assert!(matches!(verify_password_hash("not a phc string", "x"), Err(StorageError::PasswordHash { .. })));
}

#[test]
fn hash_and_verify_functions() {
    let phc = hash_password("correct horse").unwrap();
    assert!(phc.starts_with("$argon2id$v=19$"), "{phc}");
    assert!(verify_password_hash(&phc, "correct horse").unwrap());
    // Wrong passwords of the same length, shorter, longer, empty and over-long are all a
    // plain `false` (the comparison itself is constant-time in password-hash).
    for wrong in ["correct horsE", "correct hors", "correct horse ", "", &"x".repeat(PASSWORD_BYTES_MAX + 1)]
    {
        assert!(!verify_password_hash(&phc, wrong).unwrap(), "{wrong:?}");
    }
    // The hash of an empty password verifies only the empty password.
    let empty = hash_password("").unwrap();
    assert!(verify_password_hash(&empty, "").unwrap());
    assert!(!verify_password_hash(&empty, " ").unwrap());
}

/// A PHC string of `algorithm` made with argon2 directly (not through our API).
fn foreign_hash(algorithm: Algorithm, memory_kib: u32, passes: u32, lanes: u32) -> String {
    let params = Params::new(memory_kib, passes, lanes, None).unwrap();
    let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
    Argon2::new(algorithm, Version::V0x13, params).hash_password(b"pw", &salt).unwrap().to_string()
}

#[test]
fn only_argon2id_within_cost_bounds_is_verified() {
    let argon2id = foreign_hash(Algorithm::Argon2id, 64, 1, 1);
    assert!(verify_password_hash(&argon2id, "pw").unwrap());
    for other in [foreign_hash(Algorithm::Argon2i, 64, 1, 1), foreign_hash(Algorithm::Argon2d, 64, 1, 1)] {
        assert!(
            matches!(verify_password_hash(&other, "pw"), Err(StorageError::PasswordHash { .. })),
            "{other}"
        );
    }
    // Costs beyond the bounds are refused before any hashing (the strings are edited,
    // not computed: computing them would cost what the bounds forbid).
    for (from, to) in [("m=64,", "m=2097153,"), ("t=1,", "t=17,"), ("p=1$", "p=17$")] {
        let edited = argon2id.replace(from, to);
        assert_ne!(edited, argon2id);
        assert!(
            matches!(verify_password_hash(&edited, "pw"), Err(StorageError::PasswordHash { .. })),
            "{edited}"
        );
    }
    // No output, or no salt: not a hash we can verify against.
    let without_output = argon2id.rsplit_once('$').unwrap().0.to_string();
    assert!(matches!(verify_password_hash(&without_output, "pw"), Err(StorageError::PasswordHash { .. })));
    let over_long = format!("{argon2id}{}", "A".repeat(300));
    assert!(matches!(verify_password_hash(&over_long, "pw"), Err(StorageError::PasswordHash { .. })));
}

#[test]
fn production_cost_is_owasps_and_verifies() {
    let phc = hash_password_with("pw", PRODUCTION_COST).unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    assert!(verify_password_hash(&phc, "pw").unwrap());
    assert!(!verify_password_hash(&phc, "pW").unwrap());
}
