//! check_consistency, open_message_file and read_message_file on damaged stores.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::{self, OpenOptions};

use super::{assert_consistent, body, deliver_one, fixture, inbox};
use crate::{MailboxTarget, MessageId, StorageError, Uid, keys};

#[test]
fn finds_truncated_missing_and_orphan_files() {
    let fixture = fixture();
    let store = fixture.open("alice");
    let first = deliver_one(&fixture, &store, &body(1), MailboxTarget::Inbox);
    let second = deliver_one(&fixture, &store, &body(2), MailboxTarget::Inbox);
    let third = deliver_one(&fixture, &store, &body(3), MailboxTarget::Inbox);
    assert_consistent(&store);

    OpenOptions::new()
        .write(true)
        .open(store.message_path(first.id))
        .unwrap()
        .set_len(first.size - 5)
        .unwrap();
    fs::remove_file(store.message_path(second.id)).unwrap();
    let orphan = store.message_path(MessageId(4242));
    fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    fs::write(&orphan, b"orphan").unwrap();
    let stray = store.message_path(third.id).with_file_name("not-a-number");
    fs::write(&stray, b"?").unwrap();

    let report = store.check_consistency().unwrap();
    assert!(!report.is_ok());
    assert_eq!(report.messages, 3);
    assert_eq!(report.orphan_files, vec![orphan]);
    let text = report.problems.join("\n");
    assert!(text.contains(&format!("message {}: file has", first.id)), "{text}");
    assert!(text.contains(&format!("message {}: file", second.id)) && text.contains("missing"), "{text}");
    assert!(text.contains("not-a-number"), "{text}");
    assert_eq!(report.problems.len(), 3, "{text}");

    assert!(matches!(
        store.open_message_file(first.id, first.size),
        Err(StorageError::MessageFileMismatch { expected, found, .. })
            if expected == first.size && found == first.size - 5
    ));
    assert!(matches!(
        store.open_message_file(second.id, second.size),
        Err(StorageError::MessageFileMissing { .. })
    ));
    assert!(store.open_message_file(third.id, third.size).is_ok());
    assert!(matches!(
        store.open_message_file(third.id, third.size + 1),
        Err(StorageError::MessageFileMismatch { .. })
    ));

    // The same checks when the read itself measures the file (no fstat).
    assert!(matches!(
        store.read_message_file(first.id, first.size),
        Err(StorageError::MessageFileMismatch { expected, found, .. })
            if expected == first.size && found == first.size - 5
    ));
    assert!(matches!(
        store.read_message_file(second.id, second.size),
        Err(StorageError::MessageFileMissing { .. })
    ));
    let (_, bytes) = store.read_message_file(third.id, third.size).unwrap();
    assert_eq!(bytes, body(3));
    assert!(matches!(
        store.read_message_file(third.id, crate::READ_WHOLE_BYTES_MAX + 1),
        Err(StorageError::Io { source, .. }) if source.kind() == std::io::ErrorKind::InvalidInput
    ));
    for (asked, found) in [(third.size + 1, third.size), (third.size - 1, third.size), (0, third.size)] {
        assert!(
            matches!(
                store.read_message_file(third.id, asked),
                Err(StorageError::MessageFileMismatch { expected, found: got, .. })
                    if expected == asked && got == found
            ),
            "asked {asked}"
        );
    }
}

#[test]
fn finds_index_disagreements() {
    let fixture = fixture();
    let store = fixture.open("bob");
    let inbox = inbox(&store);
    for n in 0..3 {
        deliver_one(&fixture, &store, &body(n), MailboxTarget::Inbox);
    }
    // Damage the index by hand: a uid entry vanishes, a modseq entry appears, and the
    // mailbox counters are bumped without messages.
    let writer = store.lmdb.lock_writer();
    store
        .lmdb
        .write(&writer, |wtxn| {
            store.dbs.uids.delete(wtxn, &keys::uid_key(inbox, Uid(2)))?;
            store.dbs.modseqs.put(wtxn, &keys::modseq_key(inbox, crate::ModSeq(3), Uid(9)), &[])?;
            Ok(())
        })
        .unwrap();
    drop(writer);
    let report = store.check_consistency().unwrap();
    let text = report.problems.join("\n");
    assert!(text.contains("uid index does not point to it"), "{text}");
    assert!(text.contains("modseq index entry"), "{text}");
    assert!(report.orphan_files.is_empty());
    // Reads through the broken entry report it instead of serving.
    assert_eq!(store.read(|view| view.message_by_uid(inbox, Uid(2))).unwrap(), None);
}

#[test]
fn finds_summaries_without_records() {
    let fixture = fixture();
    let store = fixture.open("carl");
    deliver_one(&fixture, &store, &body(1), MailboxTarget::Inbox);
    let writer = store.lmdb.lock_writer();
    store
        .lmdb
        .write(&writer, |wtxn| Ok(store.dbs.summaries.put(wtxn, &keys::message_key(MessageId(77)), b"x")?))
        .unwrap();
    drop(writer);
    let report = store.check_consistency().unwrap();
    assert_eq!(report.problems, vec!["summary of message 77, which has no record".to_string()]);
}
