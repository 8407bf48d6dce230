//! Stored credentials: round trips, the rules checked on put and get, the schema-2
//! `password` key read and replaced, and the committed schema-2 fixture.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::{assert_consistent, body, file_bytes, fixture};
use crate::credentials::{CREDENTIALS_RECORD_VERSION, encode_credentials};
use crate::{
    AccountStore, MailboxTarget, MessageId, SCHEMA_VERSION, SCRAM_SALT_BYTES_MAX, ScramRecord, StorageError,
    StoredCredentials, Uid, hash_password, keys,
};

fn scram(salt: &[u8], iterations: u32, key_bytes: usize, seed: u8) -> ScramRecord {
    ScramRecord {
        salt: salt.to_vec(),
        iterations,
        stored_key: vec![seed; key_bytes],
        server_key: vec![seed.wrapping_add(1); key_bytes],
    }
}

/// Credentials with every field set, with distinct contents.
fn full(password: &str) -> StoredCredentials {
    StoredCredentials {
        argon2id: hash_password(password).unwrap(),
        scram_sha1: Some(scram(b"salt-one", 4096, 20, 0x11)),
        scram_sha256: Some(scram(b"salt-two-longer", 8192, 32, 0x22)),
        cram_md5: Some([1, 2, 3, 0xffff_ffff, 5, 6, 7, 0x8000_0000]),
    }
}

fn raw_meta(store: &AccountStore, key: &[u8]) -> Option<Vec<u8>> {
    let read = store.lmdb.read_txn(None).unwrap();
    store.dbs.meta.get(read.txn(), key).unwrap().map(<[u8]>::to_vec)
}

fn put_raw_meta(store: &AccountStore, key: &[u8], value: &[u8]) {
    let writer = store.lmdb.lock_writer();
    store.lmdb.write(&writer, |wtxn| Ok(store.dbs.meta.put(wtxn, key, value)?)).unwrap();
}

#[test]
fn round_trip_all_fields_and_none_fields() {
    let fixture = fixture();
    let store = fixture.open("alice");
    assert_eq!(store.credentials().unwrap(), None);

    let credentials = full("pw");
    store.set_credentials(&credentials).unwrap();
    assert_eq!(store.credentials().unwrap(), Some(credentials.clone()));
    assert!(store.verify_password("pw").unwrap());
    let raw = raw_meta(&store, keys::META_CREDENTIALS).unwrap();
    assert_eq!(raw[0], CREDENTIALS_RECORD_VERSION);
    assert_consistent(&store);

    // Only the hash: the optional fields come back as None, not as the old ones.
    let only_hash = StoredCredentials { scram_sha1: None, scram_sha256: None, cram_md5: None, ..full("pw2") };
    store.set_credentials(&only_hash).unwrap();
    assert_eq!(store.credentials().unwrap(), Some(only_hash));
    assert!(!store.verify_password("pw").unwrap());

    // Each optional field alone.
    let only_sha256 = StoredCredentials { scram_sha1: None, cram_md5: None, ..credentials.clone() };
    store.set_credentials(&only_sha256).unwrap();
    assert_eq!(store.credentials().unwrap(), Some(only_sha256));
    let only_cram = StoredCredentials { scram_sha1: None, scram_sha256: None, ..credentials.clone() };
    store.set_credentials(&only_cram).unwrap();
    assert_eq!(store.credentials().unwrap(), Some(only_cram));

    // Reopening keeps them.
    drop(store);
    let store = fixture.open("alice");
    assert_eq!(store.credentials().unwrap().unwrap().cram_md5, credentials.cram_md5);
    assert_consistent(&store);
}

#[test]
fn set_password_drops_derived_secrets() {
    let fixture = fixture();
    let store = fixture.open("bob");
    store.set_credentials(&full("old")).unwrap();
    store.set_password("new").unwrap();
    let stored = store.credentials().unwrap().unwrap();
    assert_eq!((stored.scram_sha1, stored.scram_sha256, stored.cram_md5), (None, None, None));
    assert!(store.verify_password("new").unwrap());
    assert!(!store.verify_password("old").unwrap());
}

#[test]
fn invalid_credentials_are_refused_and_nothing_changes() {
    let fixture = fixture();
    let store = fixture.open("carol");
    let good = full("pw");
    store.set_credentials(&good).unwrap();
    let long_salt = vec![7; SCRAM_SALT_BYTES_MAX + 1];
    let bad = [
        StoredCredentials { argon2id: "plaintext".into(), ..good.clone() },
        StoredCredentials { argon2id: String::new(), ..good.clone() },
        StoredCredentials { argon2id: good.argon2id.replace("argon2id", "argon2i"), ..good.clone() },
        StoredCredentials { scram_sha1: Some(scram(b"s", 4096, 32, 1)), ..good.clone() },
        StoredCredentials { scram_sha256: Some(scram(b"s", 4096, 20, 1)), ..good.clone() },
        StoredCredentials { scram_sha256: Some(scram(b"", 4096, 32, 1)), ..good.clone() },
        StoredCredentials { scram_sha256: Some(scram(&long_salt, 4096, 32, 1)), ..good.clone() },
        StoredCredentials { scram_sha1: Some(scram(b"s", 0, 20, 1)), ..good.clone() },
        StoredCredentials {
            scram_sha256: Some(ScramRecord { server_key: vec![0; 31], ..scram(b"s", 1, 32, 1) }),
            ..good.clone()
        },
    ];
    for credentials in &bad {
        assert!(
            matches!(store.set_credentials(credentials), Err(StorageError::InvalidCredentials { .. })),
            "{credentials:?}"
        );
        assert_eq!(store.credentials().unwrap().as_ref(), Some(&good));
    }
    // The limits themselves are fine.
    let edge = StoredCredentials {
        scram_sha256: Some(scram(&[7; SCRAM_SALT_BYTES_MAX], 1, 32, 1)),
        scram_sha1: Some(scram(b"s", u32::MAX, 20, 1)),
        ..good
    };
    store.set_credentials(&edge).unwrap();
    assert_eq!(store.credentials().unwrap(), Some(edge));
}

#[test]
fn debug_leaves_out_secrets() {
    let credentials = full("pw");
    let shown = format!("{credentials:?}");
    assert!(!shown.contains("argon2id$"), "{shown}");
    assert!(!shown.contains("17, 17"), "{shown}"); // the SHA-1 stored key bytes
    assert!(shown.contains("iterations: 4096"), "{shown}");
}

#[test]
fn corrupt_records_are_reported_not_trusted() {
    let fixture = fixture();
    let store = fixture.open("dave");
    store.set_credentials(&full("pw")).unwrap();
    let mut raw = raw_meta(&store, keys::META_CREDENTIALS).unwrap();

    // Unknown record version.
    raw[0] = CREDENTIALS_RECORD_VERSION + 1;
    put_raw_meta(&store, keys::META_CREDENTIALS, &raw);
    assert!(matches!(store.credentials(), Err(StorageError::Corrupt { .. })));
    assert!(matches!(store.verify_password("pw"), Err(StorageError::Corrupt { .. })));
    assert!(!store.check_consistency().unwrap().is_ok());

    // A truncated archive.
    raw[0] = CREDENTIALS_RECORD_VERSION;
    put_raw_meta(&store, keys::META_CREDENTIALS, &raw[..raw.len() / 2]);
    assert!(matches!(store.credentials(), Err(StorageError::Corrupt { .. })));

    // A schema-2 key that is not a PHC string.
    let store = fixture.open("erin");
    put_raw_meta(&store, keys::META_PASSWORD, b"hunter2");
    assert!(matches!(store.credentials(), Err(StorageError::Corrupt { .. })));
    assert!(!store.check_consistency().unwrap().is_ok());
}

#[test]
fn schema2_password_key_reads_and_is_replaced_on_set() {
    let fixture = fixture();
    let store = fixture.open("frank");
    let phc = hash_password("legacy pw").unwrap();
    put_raw_meta(&store, keys::META_PASSWORD, phc.as_bytes());
    assert!(store.has_password().unwrap());
    assert!(store.verify_password("legacy pw").unwrap());
    assert!(!store.verify_password("legacy pW").unwrap());
    let expected =
        StoredCredentials { argon2id: phc.clone(), scram_sha1: None, scram_sha256: None, cram_md5: None };
    assert_eq!(store.credentials().unwrap(), Some(expected));
    assert_consistent(&store);

    // Both keys at once (never written by us) reads `credentials` and is reported.
    let current = full("current pw");
    put_raw_meta(&store, keys::META_CREDENTIALS, &encode_credentials(&current).unwrap());
    assert_eq!(store.credentials().unwrap(), Some(current.clone()));
    assert!(!store.check_consistency().unwrap().is_ok());

    // The next set writes `credentials` and removes `password` in one transaction.
    store.set_credentials(&current).unwrap();
    assert!(raw_meta(&store, keys::META_PASSWORD).is_none());
    assert!(store.verify_password("current pw").unwrap());
    assert!(!store.verify_password("legacy pw").unwrap());
    assert_consistent(&store);
}

/// Copies the committed schema-2 account (see tests/fixtures/schema2/README.md) into the
/// fixture's data directory as account `v2`; the committed files are never opened.
fn install_schema2_fixture(fixture: &super::Fixture) {
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema2/accounts/v2");
    super::schema::copy_tree(&source, &fixture.data.account_dir("v2").unwrap());
}

/// The PHC string `set_password("fixture password")` stored in the schema-2 fixture.
const FIXTURE_PHC: &str =
    "$argon2id$v=19$m=64,t=1,p=1$cWq52ujluhgEArN70ZEqwg$TekR9zO+hUiKsBuVOp0Bm4l07eY98khyilrn3DR4s78";

#[test]
fn schema2_fixture_migrates_and_its_password_verifies_and_upgrades() {
    let fixture = fixture();
    install_schema2_fixture(&fixture);
    let store = fixture.open("v2");
    let version = keys::decode_u32(&raw_meta(&store, keys::META_SCHEMA_VERSION).unwrap(), "version").unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(raw_meta(&store, keys::META_PASSWORD).unwrap(), FIXTURE_PHC.as_bytes());
    assert!(raw_meta(&store, keys::META_CREDENTIALS).is_none(), "the migration rewrites nothing");

    // The old key verifies, and the mail is intact.
    assert!(store.verify_password("fixture password").unwrap());
    assert!(!store.verify_password("fixture Password").unwrap());
    assert_eq!(store.credentials().unwrap().unwrap().argon2id, FIXTURE_PHC);
    let inbox = super::inbox(&store);
    let message = store.read(|view| view.message_by_uid(inbox, Uid(1))).unwrap().unwrap();
    assert_eq!(message.id, MessageId(1));
    assert_eq!(file_bytes(&store, message.id, message.size), body(1));
    assert_consistent(&store);

    // Upgrade: credentials derived by the caller replace the old key; the hash is kept.
    let upgraded = StoredCredentials { argon2id: FIXTURE_PHC.to_string(), ..full("unused") };
    store.set_credentials(&upgraded).unwrap();
    assert!(raw_meta(&store, keys::META_PASSWORD).is_none());
    drop(store);
    let store = fixture.open("v2");
    assert_eq!(store.credentials().unwrap(), Some(upgraded));
    assert!(store.verify_password("fixture password").unwrap());
    super::deliver_one(&fixture, &store, &body(2), MailboxTarget::Inbox);
    assert_consistent(&store);
}

#[test]
fn schema2_environment_with_credentials_is_corrupt() {
    let fixture = fixture();
    let store = fixture.open("gina");
    store.set_credentials(&full("pw")).unwrap();
    put_raw_meta(&store, keys::META_SCHEMA_VERSION, &2u32.to_be_bytes());
    drop(store);
    assert!(matches!(
        AccountStore::open(&fixture.data, "gina", &crate::StoreOptions::default()),
        Err(StorageError::Corrupt { .. })
    ));
}
