//! URLAUTH access keys (RFC 4467 §7): made once per mailbox, kept across reopening,
//! removed by RESETKEY (one mailbox or all) and with their mailbox, checked by the
//! consistency check.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::{assert_consistent, fixture};
use crate::{MailboxId, StorageError};

fn id(store: &crate::AccountStore, name: &str) -> MailboxId {
    store.read(|view| view.mailbox_by_name(name)).unwrap().unwrap().id
}

fn key(store: &crate::AccountStore, name: &str) -> Option<[u8; 32]> {
    let mailbox = id(store, name);
    store.read(|view| view.urlauth_key(mailbox)).unwrap()
}

#[test]
fn keys_made_once_reset_and_deleted() {
    let fixture = fixture();
    let store = fixture.open("a");
    store.create_mailbox("Drafts2", None).unwrap();
    assert_eq!(key(&store, "INBOX"), None);
    let (inbox, first) = store.urlauth_key_or_insert("inbox", [1; 32]).unwrap();
    assert_eq!((inbox, first), (id(&store, "INBOX"), [1; 32]));
    // A second GENURLAUTH uses the stored key, not a fresh one.
    assert_eq!(store.urlauth_key_or_insert("INBOX", [2; 32]).unwrap().1, [1; 32]);
    store.urlauth_key_or_insert("Drafts2", [3; 32]).unwrap();
    assert!(matches!(store.urlauth_key_or_insert("nosuch", [4; 32]), Err(StorageError::NoSuchMailbox)));
    assert!(matches!(store.remove_urlauth_keys(Some("nosuch")), Err(StorageError::NoSuchMailbox)));
    assert_consistent(&store);
    store.remove_urlauth_keys(Some("INBOX")).unwrap();
    assert_eq!(key(&store, "INBOX"), None);
    assert_eq!(key(&store, "Drafts2"), Some([3; 32]));
    drop(store);
    let store = fixture.open("a");
    assert_eq!(key(&store, "Drafts2"), Some([3; 32]));
    store.urlauth_key_or_insert("INBOX", [5; 32]).unwrap();
    store.remove_urlauth_keys(None).unwrap();
    assert_eq!((key(&store, "INBOX"), key(&store, "Drafts2")), (None, None));
    // Schema fields next to the keys are untouched by the range delete.
    assert_consistent(&store);
    store.urlauth_key_or_insert("Drafts2", [6; 32]).unwrap();
    let old = id(&store, "Drafts2");
    store.delete_mailbox("Drafts2").unwrap();
    assert_eq!(store.read(|view| view.urlauth_key(old)).unwrap(), None);
    store.create_mailbox("Drafts2", None).unwrap();
    assert_eq!(key(&store, "Drafts2"), None);
    assert_consistent(&store);
}

#[test]
fn a_key_of_a_missing_mailbox_or_of_a_wrong_length_is_reported() {
    let fixture = fixture();
    let store = fixture.open("a");
    let mut missing = b"urlauth_key".to_vec();
    missing.extend_from_slice(&999u32.to_be_bytes());
    let mut short = b"urlauth_key".to_vec();
    short.extend_from_slice(&id(&store, "INBOX").0.to_be_bytes());
    let writer = store.lmdb.lock_writer();
    store
        .lmdb
        .write(&writer, |wtxn| {
            store.dbs.meta.put(wtxn, &missing, &[7; 32])?;
            Ok(store.dbs.meta.put(wtxn, &short, &[7; 5])?)
        })
        .unwrap();
    drop(writer);
    let report = format!("{:?}", store.check_consistency().unwrap());
    assert!(report.contains("urlauth key of mailbox 999, which does not exist"), "{report}");
    assert!(report.contains("has 5 bytes"), "{report}");
}
