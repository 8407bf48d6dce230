//! METADATA entries (RFC 5464): per scope, following RENAME, gone with DELETE, the
//! limits refused whole, the consistency check, and the schema 5 → 6 migration.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::{assert_consistent, body, deliver_one, fixture};
use crate::{
    METADATA_ACCOUNT_BYTES_MAX, METADATA_ENTRIES_PER_ACCOUNT_MAX, METADATA_ENTRIES_PER_MAILBOX_MAX,
    METADATA_VALUE_BYTES_MAX, MailboxId, MailboxTarget, MetadataLimit, SCHEMA_VERSION, StorageError, keys,
};

fn set(name: &str, value: &str) -> (String, Option<Vec<u8>>) {
    (name.to_owned(), Some(value.as_bytes().to_vec()))
}

fn entries(store: &crate::AccountStore, mailbox: Option<MailboxId>) -> Vec<(String, Vec<u8>)> {
    store.read(|view| view.metadata(mailbox)).unwrap()
}

fn id(store: &crate::AccountStore, name: &str) -> MailboxId {
    store.read(|view| view.mailbox_by_name(name)).unwrap().unwrap().id
}

#[test]
fn entries_per_scope_set_and_removed() {
    let fixture = fixture();
    let store = fixture.open("a");
    let inbox = super::inbox(&store);
    store.set_metadata(None, &[set("/shared/comment", "server")]).unwrap();
    let got =
        store.set_metadata(Some("inbox"), &[set("/shared/comment", "in"), set("/private/a", "1")]).unwrap();
    assert_eq!(got, Some(inbox));
    assert_eq!(entries(&store, None), vec![("/shared/comment".to_owned(), b"server".to_vec())]);
    assert_eq!(
        entries(&store, Some(inbox)),
        vec![("/private/a".to_owned(), b"1".to_vec()), ("/shared/comment".to_owned(), b"in".to_vec())]
    );
    store
        .set_metadata(Some("INBOX"), &[("/private/a".to_owned(), None), ("/private/none".to_owned(), None)])
        .unwrap();
    assert_eq!(entries(&store, Some(inbox)).len(), 1);
    assert!(matches!(
        store.set_metadata(Some("nosuch"), &[set("/shared/x", "1")]),
        Err(StorageError::NoSuchMailbox)
    ));
    for bad in ["/other/x", "/shared//x", "/shared/x/", "/Shared/x", "/shared/*"] {
        let result = store.set_metadata(None, &[set(bad, "1")]);
        assert!(matches!(result, Err(StorageError::InvalidMetadata { .. })), "{bad}: {result:?}");
    }
    let long = vec![b'v'; METADATA_VALUE_BYTES_MAX + 1];
    let result = store.set_metadata(None, &[("/shared/x".to_owned(), Some(long))]);
    assert!(matches!(result, Err(StorageError::InvalidMetadata { .. })));
    assert_consistent(&store);
}

#[test]
fn entries_follow_rename_and_go_with_delete() {
    let fixture = fixture();
    let store = fixture.open("a");
    store.create_mailbox("Work/Old", None).unwrap();
    store.set_metadata(Some("Work"), &[set("/shared/comment", "parent")]).unwrap();
    store.set_metadata(Some("Work/Old"), &[set("/shared/comment", "child")]).unwrap();
    store.set_metadata(Some("INBOX"), &[set("/private/comment", "inbox")]).unwrap();
    store.rename_mailbox("Work", "Job").unwrap();
    assert_eq!(entries(&store, Some(id(&store, "Job/Old")))[0].1, b"child");
    assert_eq!(entries(&store, Some(id(&store, "Job")))[0].1, b"parent");
    // RENAME of INBOX makes a new mailbox for its messages; INBOX keeps its entries.
    store.rename_mailbox("INBOX", "Inbox-old").unwrap();
    assert_eq!(entries(&store, Some(super::inbox(&store)))[0].1, b"inbox");
    assert!(entries(&store, Some(id(&store, "Inbox-old"))).is_empty());
    let old = id(&store, "Job/Old");
    store.delete_mailbox("Job/Old").unwrap();
    assert!(entries(&store, Some(old)).is_empty());
    store.create_mailbox("Job/Old", None).unwrap();
    assert!(entries(&store, Some(id(&store, "Job/Old"))).is_empty());
    assert_eq!(entries(&store, Some(id(&store, "Job"))).len(), 1);
    assert_consistent(&store);
}

#[test]
fn limits_refuse_the_whole_command() {
    let fixture = fixture();
    let store = fixture.open("a");
    let full: Vec<_> =
        (0..METADATA_ENTRIES_PER_MAILBOX_MAX).map(|n| set(&format!("/shared/e{n}"), "v")).collect();
    store.set_metadata(Some("INBOX"), &full).unwrap();
    let result =
        store.set_metadata(Some("INBOX"), &[set("/private/one-more", "v"), ("/shared/e0".to_owned(), None)]);
    assert!(result.is_ok(), "one removed, one added: {result:?}");
    let result = store.set_metadata(Some("INBOX"), &[set("/private/two-more", "v")]);
    let Err(StorageError::MetadataLimit { limit: MetadataLimit::EntriesPerMailbox }) = result else {
        panic!("{result:?}")
    };
    assert!(!entries(&store, Some(super::inbox(&store))).iter().any(|(name, _)| name == "/private/two-more"));
    // Fill the account from other mailboxes up to its entry limit.
    let per = METADATA_ENTRIES_PER_MAILBOX_MAX;
    for n in 1..METADATA_ENTRIES_PER_ACCOUNT_MAX / per {
        let name = format!("M{n}");
        store.create_mailbox(&name, None).unwrap();
        store.set_metadata(Some(&name), &full).unwrap();
    }
    let result = store.set_metadata(None, &[set("/shared/comment", "x")]);
    let Err(StorageError::MetadataLimit { limit: MetadataLimit::EntriesPerAccount }) = result else {
        panic!("{result:?}")
    };
    assert_consistent(&store);

    let store = fixture.open("b");
    let big = vec![b'v'; METADATA_VALUE_BYTES_MAX];
    let fits = (METADATA_ACCOUNT_BYTES_MAX as usize / (METADATA_VALUE_BYTES_MAX + 16)) as u32;
    let values: Vec<_> = (0..fits).map(|n| (format!("/shared/big{n}"), Some(big.clone()))).collect();
    store.set_metadata(None, &values).unwrap();
    let result = store.set_metadata(Some("INBOX"), &[("/shared/big".to_owned(), Some(big))]);
    let Err(StorageError::MetadataLimit { limit: MetadataLimit::AccountBytes }) = result else {
        panic!("{result:?}")
    };
    assert_consistent(&store);
}

#[test]
fn an_entry_of_a_missing_mailbox_is_reported() {
    let fixture = fixture();
    let store = fixture.open("a");
    let mut key = 999u32.to_be_bytes().to_vec();
    key.extend_from_slice(b"/shared/comment");
    let writer = store.lmdb.lock_writer();
    store.lmdb.write(&writer, |wtxn| Ok(store.dbs.metadata.put(wtxn, &key, b"x")?)).unwrap();
    drop(writer);
    let report = store.check_consistency().unwrap();
    assert!(format!("{report:?}").contains("which does not exist"), "{report:#?}");
}

#[test]
fn schema5_gains_the_metadata_database() {
    let fixture = fixture();
    let store = fixture.open("old");
    deliver_one(&fixture, &store, &body(1), MailboxTarget::Inbox);
    // A schema-5 environment has no `metadata` database and version 5.
    let writer = store.lmdb.lock_writer();
    store
        .lmdb
        .write(&writer, |wtxn| {
            store.dbs.meta.put(wtxn, keys::META_SCHEMA_VERSION, &5u32.to_be_bytes())?;
            // SAFETY: no other handle of this database is used after the commit: the
            // store is dropped right after, and the reopen opens the environment anew.
            #[allow(unsafe_code)]
            unsafe {
                store.dbs.metadata.remove(wtxn)?;
            }
            Ok(())
        })
        .unwrap();
    drop(writer);
    drop(store);

    let store = fixture.open("old");
    let version = store.read(|view| crate::schema::stored_version(&view.dbs.meta, view.txn)).unwrap();
    assert_eq!(version, Some(SCHEMA_VERSION));
    assert!(entries(&store, None).is_empty());
    store.set_metadata(Some("INBOX"), &[set("/shared/comment", "after")]).unwrap();
    assert_eq!(entries(&store, Some(super::inbox(&store))).len(), 1);
    assert_consistent(&store);
}
