//! The global store: TLS client public keys by fingerprint, its own schema version,
//! reopening, and its place in the data directory.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::slice;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::fixture;
use crate::tls_keys::TLS_PUBLIC_KEY_RECORD_VERSION;
use crate::{
    GLOBAL_SCHEMA_VERSION, GlobalStore, LOGIN_ADDRESS_BYTES_MAX, MAP_SIZE_MIN_BYTES, SPKI_BYTES_MAX,
    StorageError, StoreOptions, TLS_PUBLIC_KEY_NAME_BYTES_MAX, TLS_PUBLIC_KEYS_PER_ACCOUNT_MAX, TlsPublicKey,
    keys,
};

fn open(fixture: &super::Fixture) -> GlobalStore {
    GlobalStore::open(&fixture.data, &StoreOptions::default()).unwrap()
}

/// A key whose fingerprint starts with `n` (then `m`), for `account`.
fn key(n: u8, m: u8, account: &str) -> TlsPublicKey {
    let mut fingerprint = [m; 32];
    fingerprint[0] = n;
    TlsPublicKey {
        fingerprint,
        account: account.to_string(),
        login_address: format!("{account}@example.org"),
        name: format!("device {n}.{m}"),
        no_imap_preauth: n.is_multiple_of(2),
        spki: vec![0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00, n, m],
        created_ms: 1_700_000_000_000 + i64::from(n),
    }
}

fn stored_version(store: &GlobalStore) -> u32 {
    let read = store.lmdb.read_txn(None).unwrap();
    let bytes = store.dbs.meta.get(read.txn(), keys::META_SCHEMA_VERSION).unwrap().unwrap();
    keys::decode_u32(bytes, "version").unwrap()
}

#[test]
fn add_get_list_remove() {
    let fixture = fixture();
    let store = open(&fixture);
    assert!(store.tls_public_keys(None).unwrap().is_empty());
    assert_eq!(store.tls_public_key(&[3; 32]).unwrap(), None);

    let (a3, a1, b2) = (key(3, 0, "alice"), key(1, 0, "alice"), key(2, 0, "bob"));
    for added in [&a3, &a1, &b2] {
        store.add_tls_public_key(added).unwrap();
    }
    assert_eq!(store.tls_public_key(&a3.fingerprint).unwrap().as_ref(), Some(&a3));
    assert_eq!(store.tls_public_key(&b2.fingerprint).unwrap().as_ref(), Some(&b2));
    assert_eq!(store.tls_public_key(&[9; 32]).unwrap(), None);
    // Fingerprint order, filtered by account.
    assert_eq!(store.tls_public_keys(None).unwrap(), [a1.clone(), b2.clone(), a3.clone()]);
    assert_eq!(store.tls_public_keys(Some("alice")).unwrap(), [a1.clone(), a3.clone()]);
    assert_eq!(store.tls_public_keys(Some("bob")).unwrap(), slice::from_ref(&b2));
    assert!(store.tls_public_keys(Some("nobody")).unwrap().is_empty());

    assert!(store.remove_tls_public_key(&a1.fingerprint).unwrap());
    assert!(!store.remove_tls_public_key(&a1.fingerprint).unwrap());
    assert_eq!(store.tls_public_key(&a1.fingerprint).unwrap(), None);
    assert_eq!(store.tls_public_keys(Some("alice")).unwrap(), slice::from_ref(&a3));

    // The stored value is a versioned record.
    let read = store.lmdb.read_txn(None).unwrap();
    let raw = store.dbs.tls_public_keys.get(read.txn(), &a3.fingerprint).unwrap().unwrap();
    assert_eq!(raw[0], TLS_PUBLIC_KEY_RECORD_VERSION);
}

#[test]
fn duplicate_fingerprint_is_refused() {
    let fixture = fixture();
    let store = open(&fixture);
    let first = key(7, 7, "alice");
    store.add_tls_public_key(&first).unwrap();
    let same_account = TlsPublicKey { name: "again".into(), ..first.clone() };
    let other_account = TlsPublicKey { account: "mallory".into(), ..first.clone() };
    for duplicate in [&first, &same_account, &other_account] {
        assert!(matches!(store.add_tls_public_key(duplicate), Err(StorageError::KeyExists)));
    }
    assert_eq!(store.tls_public_keys(None).unwrap(), [first]);
}

#[test]
fn reopen_keeps_data_and_one_open_per_process() {
    let fixture = fixture();
    let store = open(&fixture);
    let kept = key(5, 1, "alice");
    store.add_tls_public_key(&kept).unwrap();
    assert!(matches!(
        GlobalStore::open(&fixture.data, &StoreOptions::default()),
        Err(StorageError::GlobalStoreAlreadyOpen)
    ));
    // Close and open again, as the next process (a restart, the CLI) does.
    drop(store);
    let store = open(&fixture);
    assert_eq!(store.tls_public_keys(None).unwrap(), slice::from_ref(&kept));
    store.add_tls_public_key(&key(6, 1, "bob")).unwrap();
    drop(store);
    let store = open(&fixture);
    assert_eq!(store.tls_public_keys(None).unwrap().len(), 2);
    assert_eq!(store.tls_public_key(&kept.fingerprint).unwrap(), Some(kept));
}

#[test]
fn schema_version_is_stored_and_checked() {
    let fixture = fixture();
    let store = open(&fixture);
    assert_eq!(stored_version(&store), GLOBAL_SCHEMA_VERSION);
    store.add_tls_public_key(&key(1, 1, "alice")).unwrap();
    drop(store);

    // The current version opens without writing.
    let data_file = fixture.data.root().join("global/data.mdb");
    let before = fs::read(&data_file).unwrap();
    drop(open(&fixture));
    assert_eq!(fs::read(&data_file).unwrap(), before);

    // A newer version is refused, untouched.
    let store = open(&fixture);
    let writer = store.lmdb.lock_writer();
    let newer = GLOBAL_SCHEMA_VERSION + 1;
    store
        .lmdb
        .write(&writer, |wtxn| {
            Ok(store.dbs.meta.put(wtxn, keys::META_SCHEMA_VERSION, &newer.to_be_bytes())?)
        })
        .unwrap();
    drop(writer);
    drop(store);
    let before = fs::read(&data_file).unwrap();
    assert!(matches!(
        GlobalStore::open(&fixture.data, &StoreOptions::default()),
        Err(StorageError::SchemaTooNew { found, supported: GLOBAL_SCHEMA_VERSION }) if found == newer
    ));
    assert_eq!(fs::read(&data_file).unwrap(), before);
}

#[test]
fn layout_is_private_and_not_an_account() {
    let fixture = fixture();
    drop(fixture.open("alice"));
    let store = open(&fixture);
    let dir = fixture.data.root().join("global");
    assert_eq!(fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    assert!(dir.join("data.mdb").is_file());
    assert_eq!(fixture.data.account_names().unwrap(), ["alice"]);
    // An account may be called "global": it lives in accounts/, apart from the store.
    drop(fixture.open("global"));
    store.add_tls_public_key(&key(1, 2, "global")).unwrap();
    assert_eq!(fixture.data.account_names().unwrap(), ["alice", "global"]);
}

#[test]
fn invalid_keys_are_refused() {
    let fixture = fixture();
    let store = open(&fixture);
    let good = key(4, 4, "alice");
    let bad = [
        TlsPublicKey { fingerprint: [0; 32], ..good.clone() },
        TlsPublicKey { account: String::new(), ..good.clone() },
        TlsPublicKey { account: "../etc".into(), ..good.clone() },
        TlsPublicKey { login_address: String::new(), ..good.clone() },
        TlsPublicKey { login_address: "a".repeat(LOGIN_ADDRESS_BYTES_MAX + 1), ..good.clone() },
        TlsPublicKey { login_address: "a@b\r\nc".into(), ..good.clone() },
        TlsPublicKey { name: "n".repeat(TLS_PUBLIC_KEY_NAME_BYTES_MAX + 1), ..good.clone() },
        TlsPublicKey { name: "tab\there".into(), ..good.clone() },
        TlsPublicKey { spki: Vec::new(), ..good.clone() },
        TlsPublicKey { spki: b"-----BEGIN PUBLIC KEY-----".to_vec(), ..good.clone() },
        TlsPublicKey { spki: [&[0x30][..], &vec![0; SPKI_BYTES_MAX]].concat(), ..good.clone() },
    ];
    for invalid in &bad {
        assert!(
            matches!(store.add_tls_public_key(invalid), Err(StorageError::InvalidTlsPublicKey { .. })),
            "{invalid:?}"
        );
    }
    assert!(store.tls_public_keys(None).unwrap().is_empty());
    // At the limits, and with an empty name, it is fine.
    let edge = TlsPublicKey {
        login_address: "a".repeat(LOGIN_ADDRESS_BYTES_MAX),
        name: String::new(),
        spki: [&[0x30][..], &vec![0; SPKI_BYTES_MAX - 1]].concat(),
        ..good
    };
    store.add_tls_public_key(&edge).unwrap();
    assert_eq!(store.tls_public_keys(None).unwrap(), [edge]);
}

#[test]
fn keys_per_account_are_bounded_and_removed_with_the_account() {
    let fixture = fixture();
    let store = open(&fixture);
    let count = u8::try_from(TLS_PUBLIC_KEYS_PER_ACCOUNT_MAX).unwrap();
    for n in 0..count {
        store.add_tls_public_key(&key(n, 1, "alice")).unwrap();
    }
    assert!(matches!(
        store.add_tls_public_key(&key(count, 1, "alice")),
        Err(StorageError::TooManyTlsPublicKeys { max: TLS_PUBLIC_KEYS_PER_ACCOUNT_MAX })
    ));
    // Other accounts are not affected.
    store.add_tls_public_key(&key(0, 2, "bob")).unwrap();
    assert_eq!(store.remove_account_tls_public_keys("alice").unwrap(), TLS_PUBLIC_KEYS_PER_ACCOUNT_MAX);
    assert_eq!(store.remove_account_tls_public_keys("alice").unwrap(), 0);
    assert_eq!(store.tls_public_keys(None).unwrap(), [key(0, 2, "bob")]);
    store.add_tls_public_key(&key(count, 1, "alice")).unwrap();
}

#[test]
fn corrupt_records_are_reported_not_trusted() {
    let fixture = fixture();
    let store = open(&fixture);
    let stored = key(8, 8, "alice");
    store.add_tls_public_key(&stored).unwrap();
    let raw = {
        let read = store.lmdb.read_txn(None).unwrap();
        store.dbs.tls_public_keys.get(read.txn(), &stored.fingerprint).unwrap().unwrap().to_vec()
    };
    // The same record under another fingerprint contradicts its key.
    let elsewhere = [9; 32];
    let mut unknown_version = raw.clone();
    unknown_version[0] = TLS_PUBLIC_KEY_RECORD_VERSION + 1;
    let writer = store.lmdb.lock_writer();
    store
        .lmdb
        .write(&writer, |wtxn| {
            store.dbs.tls_public_keys.put(wtxn, &elsewhere, &raw)?;
            Ok(store.dbs.tls_public_keys.put(wtxn, &stored.fingerprint, &unknown_version)?)
        })
        .unwrap();
    drop(writer);
    for fingerprint in [&elsewhere, &stored.fingerprint] {
        assert!(matches!(store.tls_public_key(fingerprint), Err(StorageError::Corrupt { .. })));
    }
    assert!(matches!(store.tls_public_keys(None), Err(StorageError::Corrupt { .. })));
}

#[test]
fn map_grows_and_readers_read_while_keys_are_added() {
    let fixture = fixture();
    let options = StoreOptions { map_size_initial_bytes: 1, ..StoreOptions::default() };
    let store = Arc::new(GlobalStore::open(&fixture.data, &options).unwrap());
    assert_eq!(store.lmdb.map_size_bytes(), MAP_SIZE_MIN_BYTES);
    let first = key(0, 0xaa, "reader");
    store.add_tls_public_key(&first).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (store, stop, first) = (Arc::clone(&store), Arc::clone(&stop), first.clone());
        std::thread::spawn(move || {
            let mut reads = 0u64;
            while !stop.load(Ordering::Relaxed) || reads == 0 {
                assert_eq!(store.tls_public_key(&first.fingerprint).unwrap().as_ref(), Some(&first));
                reads += 1;
            }
            reads
        })
    };
    // Large SPKIs so that the 64 KiB map must grow a few times.
    let big_spki = [&[0x30][..], &vec![0x5a; SPKI_BYTES_MAX - 1]].concat();
    for n in 1..=20u8 {
        let big = TlsPublicKey { spki: big_spki.clone(), ..key(n, 0xbb, &format!("account{n}")) };
        store.add_tls_public_key(&big).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    assert!(reader.join().unwrap() > 0);
    assert!(store.lmdb.map_size_bytes() > MAP_SIZE_MIN_BYTES);
    assert_eq!(store.tls_public_keys(None).unwrap().len(), 21);
}
