//! The `sortkeys` database: written with the message, copied by COPY, re-keyed by MOVE,
//! removed by EXPUNGE and DELETE; verifydata clean after each and catching a stray entry.

use std::ops::ControlFlow;

use super::{assert_consistent, body, fixture, inbox, new_message};
use crate::{
    AccountStore, MailboxId, MailboxTarget, SORT_KEYS_HEADER_BYTES, Uid, keys, set_sort_keys_deriver,
};

/// The keys this test binary derives: the summary itself, so a test can tell them apart.
fn echo(summary: &[u8]) -> Option<Vec<u8>> {
    Some(summary.to_vec())
}

/// (UID, received_ms, served size, keys) of every entry of `mailbox`.
fn entries(store: &AccountStore, mailbox: MailboxId) -> Vec<(u32, i64, u64, Vec<u8>)> {
    let mut found = Vec::new();
    store
        .read(|view| {
            view.for_each_sort_keys(mailbox, Uid(1), Uid(u32::MAX), |entry| {
                found.push((entry.uid.0, entry.received_ms, entry.served_size, entry.keys.to_vec()));
                ControlFlow::Continue(())
            })
        })
        .unwrap();
    found
}

#[test]
fn keys_follow_their_message() {
    set_sort_keys_deriver(echo);
    let fixture = fixture();
    let store = fixture.open("alice");
    let inbox = inbox(&store);
    let archive = store.read(|view| view.mailbox_by_name("Archive")).unwrap().unwrap().id;
    let mut messages = Vec::new();
    for n in 1..=3u64 {
        let bytes = body(n);
        let mut message = new_message(fixture.spool(&bytes), &bytes, MailboxTarget::Inbox);
        // Message 2 has no summary, so no keys.
        message.summary = (n != 2).then(|| format!("keys-{n}").into_bytes());
        messages.push(message);
    }
    store.deliver(&messages).unwrap();
    let served = |n: u64| body(n).len() as u64 + b"Received: from test\r\n".len() as u64;
    let received = 1_700_000_000_000;
    assert_eq!(
        entries(&store, inbox),
        vec![(1, received, served(1), b"keys-1".to_vec()), (3, received, served(3), b"keys-3".to_vec())]
    );
    assert_consistent(&store);

    store.copy_messages(inbox, &[Uid(1), Uid(2)], archive, 5).unwrap();
    assert_eq!(entries(&store, archive), vec![(1, received, served(1), b"keys-1".to_vec())]);
    assert_eq!(entries(&store, inbox).len(), 2);
    assert_consistent(&store);

    store.move_messages(inbox, &[Uid(3)], archive, 6).unwrap();
    assert_eq!(entries(&store, inbox), vec![(1, received, served(1), b"keys-1".to_vec())]);
    let in_archive: Vec<u32> = entries(&store, archive).iter().map(|entry| entry.0).collect();
    assert_eq!(in_archive, [1, 3]);
    assert_consistent(&store);

    store.expunge(archive, &[Uid(1)]).unwrap();
    let in_archive: Vec<u32> = entries(&store, archive).iter().map(|entry| entry.0).collect();
    assert_eq!(in_archive, [3]);
    assert_consistent(&store);

    store.delete_mailbox("Archive").unwrap();
    assert!(entries(&store, archive).is_empty());
    assert_eq!(entries(&store, inbox).len(), 1);
    assert_consistent(&store);
}

#[test]
fn verifydata_reports_stray_and_wrong_entries() {
    set_sort_keys_deriver(echo);
    let fixture = fixture();
    let store = fixture.open("bob");
    let inbox = inbox(&store);
    let bytes = body(1);
    let mut message = new_message(fixture.spool(&bytes), &bytes, MailboxTarget::Inbox);
    message.summary = Some(b"k".to_vec());
    store.deliver(&[message]).unwrap();
    assert_consistent(&store);
    let put = |uid: u32, value: &[u8]| {
        let writer = store.lmdb.lock_writer();
        let key = keys::uid_key(inbox, Uid(uid));
        store.lmdb.write(&writer, |wtxn| Ok(store.dbs.sortkeys.put(wtxn, &key, value)?)).unwrap();
    };
    // An entry of a UID that has no message.
    put(9, &[0; SORT_KEYS_HEADER_BYTES]);
    assert!(!store.check_consistency().unwrap().is_ok());
    let writer = store.lmdb.lock_writer();
    store
        .lmdb
        .write(&writer, |wtxn| Ok(store.dbs.sortkeys.delete(wtxn, &keys::uid_key(inbox, Uid(9)))?))
        .unwrap();
    drop(writer);
    assert_consistent(&store);
    // An entry whose INTERNALDATE disagrees with the record; then one truncated.
    put(1, &[0; SORT_KEYS_HEADER_BYTES]);
    assert!(!store.check_consistency().unwrap().is_ok());
    put(1, &[0; 3]);
    assert!(!store.check_consistency().unwrap().is_ok());
}
