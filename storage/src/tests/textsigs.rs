//! The `textsigs` database: made before the write lock and written with the message,
//! copied by COPY, kept by MOVE (same MessageId), removed with the summary when an
//! expunged message is purged and when its mailbox is deleted; verifydata clean after
//! each and catching an entry without a summary.

use super::{assert_consistent, body, fixture, inbox, new_message};
use crate::{AccountStore, MailboxId, MailboxTarget, MessageId, Uid, keys, set_text_signature_deriver};

/// The signature this test binary derives: `sig-` and the summary, so a test can tell
/// them apart; none for a summary of `decline`.
fn echo(summary: &[u8], _file: &std::fs::File) -> Option<Vec<u8>> {
    (summary != b"decline").then(|| [b"sig-", summary].concat())
}

fn signature(store: &AccountStore, mailbox: MailboxId, uid: u32) -> Option<Vec<u8>> {
    store
        .read(|view| {
            let Some(info) = view.message_by_uid(mailbox, Uid(uid))? else { return Ok(None) };
            Ok(view.text_signature(info.id)?.map(<[u8]>::to_vec))
        })
        .unwrap()
}

fn entries(store: &AccountStore) -> usize {
    let txn = store.lmdb.read_txn(None).unwrap();
    usize::try_from(store.dbs.textsigs.len(txn.txn()).unwrap()).unwrap()
}

#[test]
fn signatures_follow_their_message() {
    set_text_signature_deriver(echo);
    let fixture = fixture();
    let store = fixture.open("alice");
    let inbox = inbox(&store);
    let archive = store.read(|view| view.mailbox_by_name("Archive")).unwrap().unwrap().id;
    let mut messages = Vec::new();
    for n in 1..=4u64 {
        let bytes = body(n);
        let mut message = new_message(fixture.spool(&bytes), &bytes, MailboxTarget::Inbox);
        // Message 2 has no summary, message 4 one the deriver declines: no signature.
        message.summary = match n {
            2 => None,
            4 => Some(b"decline".to_vec()),
            n => Some(format!("s{n}").into_bytes()),
        };
        messages.push(message);
    }
    store.deliver(&messages).unwrap();
    assert_eq!(signature(&store, inbox, 1), Some(b"sig-s1".to_vec()));
    assert_eq!(signature(&store, inbox, 2), None);
    assert_eq!(signature(&store, inbox, 3), Some(b"sig-s3".to_vec()));
    assert_eq!(signature(&store, inbox, 4), None);
    assert_eq!(entries(&store), 2);
    assert_consistent(&store);

    store.copy_messages(inbox, &[Uid(1), Uid(2)], archive, 5).unwrap();
    assert_eq!(signature(&store, archive, 1), Some(b"sig-s1".to_vec()));
    assert_eq!(signature(&store, archive, 2), None);
    assert_eq!(entries(&store), 3);
    assert_consistent(&store);

    store.move_messages(inbox, &[Uid(3)], archive, 6).unwrap();
    assert_eq!(signature(&store, archive, 3), Some(b"sig-s3".to_vec()));
    store.purge_expunged().unwrap();
    assert_eq!(entries(&store), 3);
    assert_consistent(&store);

    // An expunged message keeps its signature until it is purged (a session may still
    // refer to it), then loses it with its summary.
    store.expunge(inbox, &[Uid(1)]).unwrap();
    store.purge_expunged().unwrap();
    assert_eq!(entries(&store), 2);
    assert_consistent(&store);

    store.delete_mailbox("Archive").unwrap();
    assert_eq!(entries(&store), 0);
    assert_consistent(&store);
}

#[test]
fn verifydata_reports_a_signature_without_summary() {
    set_text_signature_deriver(echo);
    let fixture = fixture();
    let store = fixture.open("bob");
    let writer = store.lmdb.lock_writer();
    let key = keys::message_key(MessageId(77));
    store.lmdb.write(&writer, |wtxn| Ok(store.dbs.textsigs.put(wtxn, &key, b"sig")?)).unwrap();
    drop(writer);
    assert!(!store.check_consistency().unwrap().is_ok());
}
