//! Schema versions: too new and too old are refused untouched; half-done setup resumes;
//! the committed schema-1 environment migrates to the current schema.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::ops::ControlFlow;
use std::path::Path;

use heed::CommitOrAbort;
use heed::types::Bytes;

use super::{assert_consistent, body, deliver_one, file_bytes, fixture, new_message};
use crate::lmdb::Lmdb;
use crate::{
    AccountStore, FlagOp, Flags, MailboxId, MailboxTarget, MessageId, ModSeq, SCHEMA_VERSION,
    SCHEMA_VERSION_OLDEST, StorageError, StoreOptions, Uid, keys,
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

/// Copies the directory tree `from` to `to` (fixtures into a test's data directory).
pub(super) fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Copies the committed schema-1 account (see tests/fixtures/schema1/README.md) into the
/// fixture's data directory as account `v1`; the committed files are never opened.
fn install_schema1_fixture(fixture: &super::Fixture) {
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema1/accounts/v1");
    copy_tree(&source, &fixture.data.account_dir("v1").unwrap());
}

/// The record version byte of message `id` as stored.
fn record_version(store: &AccountStore, id: MessageId) -> u8 {
    let read = store.lmdb.read_txn(None).unwrap();
    store.dbs.messages.get(read.txn(), &keys::message_key(id)).unwrap().unwrap()[0]
}

#[test]
fn schema1_fixture_migrates_and_reads_back() {
    let fixture = fixture();
    install_schema1_fixture(&fixture);
    let committed = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema1/accounts/v1/index");
    // Small, as the contract asks: LMDB's compacted copy of a few records.
    assert!(fs::metadata(committed.join("data.mdb")).unwrap().len() <= 64 * 1024);
    let store = fixture.open("v1");
    let stored_version = {
        let read = store.lmdb.read_txn(None).unwrap();
        keys::decode_u32(store.dbs.meta.get(read.txn(), keys::META_SCHEMA_VERSION).unwrap().unwrap(), "v")
            .unwrap()
    };
    assert_eq!(stored_version, SCHEMA_VERSION);
    assert_consistent(&store);

    let names: Vec<String> =
        store.read(|view| view.mailboxes()).unwrap().into_iter().map(|m| m.name).collect();
    assert_eq!(names, ["INBOX", "Sent", "Drafts", "Archive", "Trash", "Junk", "Lists/rust"]);
    assert_eq!(store.read(|view| view.highest_modseq()).unwrap(), ModSeq(9));
    let inbox = super::inbox(&store);
    let expected = [
        (1, inbox, Uid(1), Flags::SEEN, vec!["$Forwarded"]),
        (2, inbox, Uid(2), Flags::DELETED, vec![]),
        (4, MailboxId(7), Uid(1), Flags::FLAGGED, vec!["Work"]),
        (5, MailboxId(2), Uid(1), Flags::SEEN | Flags::ANSWERED, vec![]),
    ];
    for (n, mailbox, uid, flags, keywords) in expected {
        let id = MessageId(n);
        assert_eq!(record_version(&store, id), 1, "message {n} stays a version-1 record");
        let info = store.read(|view| view.message_by_uid(mailbox, uid)).unwrap().unwrap();
        assert_eq!(info.id, id);
        assert_eq!(info.received_ms, 1_700_000_000_000 + n as i64 * 1000);
        assert_eq!(info.saved_ms, info.received_ms);
        assert_eq!(
            (info.flags, info.keywords.clone()),
            (flags, keywords.iter().map(|k| k.to_string()).collect())
        );
        assert_eq!(info.prefix, b"Received: from test\r\n");
        assert_eq!(file_bytes(&store, id, info.size), body(n));
        assert_eq!(store.read(|view| view.summary(id).map(|s| s.map(<[u8]>::to_vec))).unwrap(), None);
    }
    assert_eq!(store.read(|view| view.expunged_since(inbox, ModSeq(1))).unwrap(), vec![(Uid(3), ModSeq(9))]);
    assert_eq!(store.read(|view| view.uids(inbox)).unwrap(), vec![Uid(1), Uid(2)]);
    // The callback APIs hand version-1 records out in the current layout.
    let mut seen = Vec::new();
    store
        .read(|view| {
            view.for_each_uid(inbox, &[Uid(1), Uid(2)], |record| {
                seen.push((record.id(), record.saved_ms(), record.received_ms()));
                ControlFlow::Continue(())
            })
        })
        .unwrap();
    assert_eq!(seen.iter().map(|(id, _, _)| id.0).collect::<Vec<_>>(), [1, 2]);
    assert!(seen.iter().all(|(_, saved, received)| saved == received));
}

#[test]
fn schema1_fixture_takes_new_writes_after_migration() {
    let fixture = fixture();
    install_schema1_fixture(&fixture);
    let data_file = fixture.data.account_dir("v1").unwrap().join("index/data.mdb");
    let store = fixture.open("v1");
    let inbox = super::inbox(&store);
    // New deliveries get version-2 records with summary; a changed v1 record is rewritten.
    let bytes = body(6);
    let mut message = new_message(fixture.spool(&bytes), &bytes, MailboxTarget::Inbox);
    message.summary = Some(b"opaque summary".to_vec());
    message.saved_ms = Some(1_800_000_000_000);
    let delivered = store.deliver(&[message]).unwrap().remove(0).unwrap();
    assert_eq!((delivered.id, delivered.uid, delivered.modseq), (MessageId(6), Uid(4), ModSeq(10)));
    assert_eq!(record_version(&store, delivered.id), 2);
    let summary = store.read(|view| view.summary(delivered.id).map(|s| s.map(<[u8]>::to_vec))).unwrap();
    assert_eq!(summary.as_deref(), Some(&b"opaque summary"[..]));
    assert_eq!(store.read(|view| view.message(delivered.id)).unwrap().unwrap().saved_ms, 1_800_000_000_000);
    store.store_flags(inbox, &[Uid(1)], FlagOp::Add, Flags::FLAGGED, &[]).unwrap();
    assert_eq!(record_version(&store, MessageId(1)), 2);
    let info = store.read(|view| view.message(MessageId(1))).unwrap().unwrap();
    assert_eq!(info.saved_ms, info.received_ms);
    assert_eq!(info.keywords, ["$Forwarded"]);
    assert_consistent(&store);

    // Reopening a migrated environment writes nothing.
    drop(store);
    let before = fs::read(&data_file).unwrap();
    let store = fixture.open("v1");
    assert_consistent(&store);
    drop(store);
    assert_eq!(fs::read(&data_file).unwrap(), before);
}

#[test]
fn schema4_tombstones_are_indexed_by_modseq_on_migration() {
    // A schema-4 environment had tombstones only by UID: empty `vanished` and version 4
    // make one, as that build left it.
    let fixture = fixture();
    let store = fixture.open("old");
    let inbox = super::inbox(&store);
    for n in 1..=5 {
        deliver_one(&fixture, &store, &body(n), MailboxTarget::Inbox);
    }
    let first = store.expunge(inbox, &[Uid(4), Uid(2)]).unwrap();
    let second = store.expunge(inbox, &[Uid(5)]).unwrap();
    let between = first.last().unwrap().modseq;
    let writer = store.lmdb.lock_writer();
    store.lmdb.write(&writer, |wtxn| Ok(store.dbs.vanished.clear(wtxn)?)).unwrap();
    drop(writer);
    set_version(&store, 4);
    drop(store);

    let store = fixture.open("old");
    let since = |modseq| store.read(|view| view.expunged_since(inbox, modseq)).unwrap();
    let all: Vec<Uid> = since(ModSeq(0)).into_iter().map(|(uid, _)| uid).collect();
    assert_eq!(all, vec![Uid(2), Uid(4), Uid(5)]);
    assert_eq!(since(between), vec![(Uid(5), second[0].modseq)]);
    assert_consistent(&store);
}

#[test]
fn a_tombstone_missing_from_the_vanished_index_is_reported() {
    let fixture = fixture();
    let store = fixture.open("gap");
    let inbox = super::inbox(&store);
    deliver_one(&fixture, &store, &body(1), MailboxTarget::Inbox);
    store.expunge(inbox, &[Uid(1)]).unwrap();
    assert_consistent(&store);
    let writer = store.lmdb.lock_writer();
    store.lmdb.write(&writer, |wtxn| Ok(store.dbs.vanished.clear(wtxn)?)).unwrap();
    drop(writer);
    let report = store.check_consistency().unwrap();
    assert!(!report.is_ok(), "{report:#?}");
    assert!(format!("{report:?}").contains("not in the vanished index"), "{report:#?}");
}
