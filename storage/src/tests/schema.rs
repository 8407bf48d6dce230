//! Schema versions: too new and too old are refused untouched; half-done setup resumes.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;

use heed::CommitOrAbort;
use heed::types::Bytes;

use super::{assert_consistent, body, deliver_one, fixture};
use crate::lmdb::Lmdb;
use crate::{
    AccountStore, MailboxTarget, SCHEMA_VERSION, SCHEMA_VERSION_OLDEST, StorageError, StoreOptions, keys,
};

fn set_version(store: &AccountStore, version: u32) {
    let writer = store.lmdb.lock_writer();
    store
        .lmdb
        .write(&writer, |wtxn| {
            Ok(store.dbs.meta.put(wtxn, keys::META_SCHEMA_VERSION, &version.to_be_bytes())?)
        })
        .unwrap();
}

/// Makes an environment by hand, as an older build would have, with only the databases
/// and meta entries given.
fn hand_made_env(index_dir: &std::path::Path, names: &[&str], meta: &[(&[u8], &[u8])]) {
    fs::create_dir_all(index_dir).unwrap();
    let lmdb = Lmdb::open(index_dir, "fixture", 1 << 20, 1 << 20, 8).unwrap();
    let env = lmdb.env();
    let wtxn = env.write_txn().unwrap();
    let dbs = env
        .create_databases_and_commit(wtxn, |opener, wtxn| {
            let mut dbs = Vec::new();
            for name in names {
                dbs.push(opener.create_database::<Bytes, Bytes>(wtxn, Some(name))?);
            }
            Ok::<_, heed::Error>(CommitOrAbort::<_, ()>::Commit(dbs.first().copied()))
        })
        .unwrap()
        .unwrap_commit();
    if let Some(meta_db) = dbs {
        let mut wtxn = env.write_txn().unwrap();
        for (key, value) in meta {
            meta_db.put(&mut wtxn, key, value).unwrap();
        }
        wtxn.commit().unwrap();
    }
}

#[test]
fn newer_schema_is_refused_untouched() {
    let fixture = fixture();
    let store = fixture.open("alice");
    deliver_one(&fixture, &store, &body(1), MailboxTarget::Inbox);
    set_version(&store, SCHEMA_VERSION + 1);
    drop(store);
    let data_file = fixture.data.account_dir("alice").unwrap().join("index/data.mdb");
    let before = fs::read(&data_file).unwrap();
    for _ in 0..2 {
        assert!(matches!(
            AccountStore::open(&fixture.data, "alice", &StoreOptions::default()),
            Err(StorageError::SchemaTooNew { found, supported: SCHEMA_VERSION }) if found == SCHEMA_VERSION + 1
        ));
    }
    assert_eq!(fs::read(&data_file).unwrap(), before);
}

#[test]
fn version_zero_fixture_is_refused_untouched() {
    let fixture = fixture();
    let index_dir = fixture.data.account_dir("old").unwrap().join("index");
    hand_made_env(&index_dir, &["meta", "messages"], &[(keys::META_SCHEMA_VERSION, &0u32.to_be_bytes())]);
    let before = fs::read(index_dir.join("data.mdb")).unwrap();
    assert!(matches!(
        AccountStore::open(&fixture.data, "old", &StoreOptions::default()),
        Err(StorageError::SchemaTooOld { found: 0, oldest: SCHEMA_VERSION_OLDEST })
    ));
    assert_eq!(fs::read(index_dir.join("data.mdb")).unwrap(), before);
}

#[test]
fn interrupted_setup_resumes() {
    // A crash after the databases were created but before the setup commit leaves them
    // empty and without version: the next open sets up.
    let fixture = fixture();
    let index_dir = fixture.data.account_dir("fresh").unwrap().join("index");
    hand_made_env(&index_dir, &["meta", "mailboxes", "uids"], &[]);
    let store = fixture.open("fresh");
    assert_eq!(store.read(|view| view.mailboxes()).unwrap().len(), 6);
    deliver_one(&fixture, &store, &body(1), MailboxTarget::Inbox);
    assert_consistent(&store);
}

#[test]
fn data_without_version_is_corrupt() {
    let fixture = fixture();
    let index_dir = fixture.data.account_dir("odd").unwrap().join("index");
    hand_made_env(&index_dir, &["meta"], &[(b"something", b"else")]);
    assert!(matches!(
        AccountStore::open(&fixture.data, "odd", &StoreOptions::default()),
        Err(StorageError::Corrupt { .. })
    ));
}

#[test]
fn current_version_opens_without_writing() {
    let fixture = fixture();
    drop(fixture.open("steady"));
    let data_file = fixture.data.account_dir("steady").unwrap().join("index/data.mdb");
    let before = fs::read(&data_file).unwrap();
    drop(fixture.open("steady"));
    assert_eq!(fs::read(&data_file).unwrap(), before);
}
