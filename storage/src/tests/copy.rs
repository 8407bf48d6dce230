//! COPY and MOVE: UID pairs, hard links, counts, modseqs, tombstones, summaries.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::os::unix::fs::MetadataExt;

use super::{Fixture, assert_consistent, body, file_bytes, fixture, inbox, new_message};
use crate::{
    AccountStore, Delivered, FlagOp, Flags, MailboxId, MailboxInfo, MailboxTarget, MessageId, ModSeq,
    StorageError, Uid,
};

/// Delivers `count` messages to INBOX, each with a summary, keyword and SAVEDATE.
fn inbox_with(fixture: &Fixture, store: &AccountStore, count: u64) -> Vec<Delivered> {
    let batch: Vec<_> = (0..count)
        .map(|n| {
            let bytes = body(n);
            let mut message = new_message(fixture.spool(&bytes), &bytes, MailboxTarget::Inbox);
            message.summary = Some(format!("summary {n}").into_bytes());
            message.saved_ms = Some(5_000 + n as i64);
            message.keywords = vec![format!("k{n}")];
            message
        })
        .collect();
    store.deliver(&batch).unwrap().into_iter().map(Result::unwrap).collect()
}

fn mailbox(store: &AccountStore, id: MailboxId) -> MailboxInfo {
    store.read(|view| view.mailbox(id)).unwrap().unwrap()
}

fn summary(store: &AccountStore, id: MessageId) -> Option<Vec<u8>> {
    store.read(|view| view.summary(id).map(|s| s.map(<[u8]>::to_vec))).unwrap()
}

#[test]
fn copy_to_another_mailbox_links_files_and_counts() {
    let fixture = fixture();
    let store = fixture.open("alice");
    let inbox = inbox(&store);
    let sources = inbox_with(&fixture, &store, 4);
    store.store_flags(inbox, &[Uid(3)], FlagOp::Add, Flags::SEEN | Flags::DELETED, &[]).unwrap();
    let archive = store.read(|view| view.mailbox_by_name("Archive")).unwrap().unwrap();
    let inbox_before = mailbox(&store, inbox);
    let modseq_before = store.read(|view| view.highest_modseq()).unwrap();

    let copied = store.copy_messages(inbox, &[Uid(3), Uid(1), Uid(99), Uid(3)], archive.id, 9_999).unwrap();
    assert_eq!(copied.uidvalidity, archive.uidvalidity);
    assert_eq!(copied.pairs, vec![(Uid(1), Uid(1)), (Uid(3), Uid(2))]);
    assert_eq!(copied.created.iter().map(|c| c.id).collect::<Vec<_>>(), [MessageId(5), MessageId(6)]);
    assert_eq!(copied.created[0].modseq, ModSeq(modseq_before.0 + 1));
    assert_eq!(copied.modseq, ModSeq(modseq_before.0 + 2));
    for ((source_uid, _), created) in copied.pairs.iter().zip(&copied.created) {
        let source = &sources[source_uid.0 as usize - 1];
        let original = store.read(|view| view.message(source.id)).unwrap().unwrap();
        let copy = store.read(|view| view.message(created.id)).unwrap().unwrap();
        assert_eq!((copy.mailbox, copy.uid, copy.modseq), (archive.id, created.uid, created.modseq));
        assert_eq!(
            (copy.flags, &copy.keywords, &copy.prefix),
            (original.flags, &original.keywords, &original.prefix)
        );
        assert_eq!((copy.received_ms, copy.saved_ms), (original.received_ms, 9_999));
        assert_eq!(summary(&store, created.id), summary(&store, source.id));
        assert!(summary(&store, created.id).is_some());
        // Hard links: one inode, no copied bytes.
        let source_file = fs::metadata(store.message_path(source.id)).unwrap();
        let copy_file = fs::metadata(store.message_path(created.id)).unwrap();
        assert_eq!((copy_file.ino(), copy_file.dev()), (source_file.ino(), source_file.dev()));
        assert_eq!(file_bytes(&store, created.id, copy.size), body(u64::from(source_uid.0 - 1)));
    }
    let archive_after = mailbox(&store, archive.id);
    assert_eq!((archive_after.messages, archive_after.unseen, archive_after.deleted), (2, 1, 1));
    assert_eq!(archive_after.uidnext, Uid(3));
    assert_eq!(archive_after.highest_modseq, copied.modseq);
    assert_eq!(mailbox(&store, inbox), inbox_before, "COPY leaves the source alone");
    // Expunging the source keeps the copy's file (the other link).
    store.expunge(inbox, &[Uid(1)]).unwrap();
    store.purge_expunged().unwrap();
    assert!(!store.message_path(sources[0].id).exists());
    let copy = &copied.created[0];
    assert_eq!(file_bytes(&store, copy.id, copy.size), body(0));
    assert_consistent(&store);
}

#[test]
fn copy_within_one_mailbox_and_edge_cases() {
    let fixture = fixture();
    let store = fixture.open("bob");
    let inbox = inbox(&store);
    inbox_with(&fixture, &store, 2);
    let copied = store.copy_messages(inbox, &[Uid(1), Uid(2)], inbox, 1).unwrap();
    assert_eq!(copied.pairs, vec![(Uid(1), Uid(3)), (Uid(2), Uid(4))]);
    let after = mailbox(&store, inbox);
    assert_eq!((after.messages, after.uidnext), (4, Uid(5)));
    assert_eq!(store.read(|view| view.uids(inbox)).unwrap(), [Uid(1), Uid(2), Uid(3), Uid(4)]);

    // Nothing to copy: nothing changes, no id is used.
    let modseq = store.read(|view| view.highest_modseq()).unwrap();
    let none = store.copy_messages(inbox, &[Uid(77)], inbox, 1).unwrap();
    assert!(none.pairs.is_empty() && none.created.is_empty());
    assert_eq!(none.modseq, modseq);
    assert!(matches!(
        store.copy_messages(inbox, &[Uid(1)], MailboxId(99), 1),
        Err(StorageError::NoSuchMailbox)
    ));
    assert!(matches!(
        store.copy_messages(MailboxId(99), &[Uid(1)], inbox, 1),
        Err(StorageError::NoSuchMailbox)
    ));
    let next = super::deliver_one(&fixture, &store, &body(5), MailboxTarget::Inbox);
    assert_eq!(next.id, MessageId(5));
    assert_consistent(&store);
}

#[test]
fn copy_of_a_missing_file_fails_whole_and_leaves_no_links() {
    let fixture = fixture();
    let store = fixture.open("carl");
    let inbox = inbox(&store);
    let sources = inbox_with(&fixture, &store, 3);
    fs::remove_file(store.message_path(sources[2].id)).unwrap();
    let error = store.copy_messages(inbox, &[Uid(1), Uid(2), Uid(3)], inbox, 1).unwrap_err();
    assert!(matches!(error, StorageError::MessageFileMissing { .. }), "{error:?}");
    for id in 4..=6 {
        assert!(!store.message_path(MessageId(id)).exists(), "link {id} left behind");
    }
    assert_eq!(mailbox(&store, inbox).messages, 3);
    let report = store.check_consistency().unwrap();
    assert!(report.orphan_files.is_empty());
    assert_eq!(report.problems.len(), 1, "{report:#?}");
}

#[test]
fn move_keeps_ids_and_files_and_leaves_tombstones() {
    let fixture = fixture();
    let store = fixture.open("dina");
    let inbox = inbox(&store);
    let sources = inbox_with(&fixture, &store, 4);
    store.store_flags(inbox, &[Uid(2)], FlagOp::Add, Flags::SEEN, &[]).unwrap();
    let trash = store.read(|view| view.mailbox_by_name("Trash")).unwrap().unwrap();
    let inodes: Vec<u64> =
        sources.iter().map(|source| fs::metadata(store.message_path(source.id)).unwrap().ino()).collect();
    let modseq_before = store.read(|view| view.highest_modseq()).unwrap();
    let inbox_before = mailbox(&store, inbox);

    let (copied, expunged) = store.move_messages(inbox, &[Uid(4), Uid(2), Uid(50)], trash.id, 7_777).unwrap();
    assert_eq!(copied.pairs, vec![(Uid(2), Uid(1)), (Uid(4), Uid(2))]);
    assert_eq!(copied.uidvalidity, trash.uidvalidity);
    assert_eq!(
        expunged.iter().map(|gone| (gone.uid, gone.id)).collect::<Vec<_>>(),
        [(Uid(2), sources[1].id), (Uid(4), sources[3].id)]
    );
    assert_eq!(copied.created.iter().map(|c| c.id).collect::<Vec<_>>(), [sources[1].id, sources[3].id]);
    assert_eq!(expunged[0].modseq, ModSeq(modseq_before.0 + 1));
    assert_eq!(copied.modseq, ModSeq(modseq_before.0 + 2));
    for (n, source) in sources.iter().enumerate() {
        // No file operation: same paths, same inodes, no new files.
        assert_eq!(fs::metadata(store.message_path(source.id)).unwrap().ino(), inodes[n]);
    }
    assert!(!store.message_path(MessageId(5)).exists());
    let moved = store.read(|view| view.message(sources[1].id)).unwrap().unwrap();
    assert_eq!((moved.mailbox, moved.uid, moved.modseq), (trash.id, Uid(1), expunged[0].modseq));
    assert_eq!((moved.flags, moved.saved_ms), (Flags::SEEN, 7_777));
    assert_eq!(summary(&store, moved.id), Some(b"summary 1".to_vec()));
    assert_eq!(store.read(|view| view.message_by_uid(inbox, Uid(2))).unwrap(), None);
    let vanished = store.read(|view| view.expunged_since(inbox, modseq_before)).unwrap();
    assert_eq!(vanished, vec![(Uid(2), expunged[0].modseq), (Uid(4), expunged[1].modseq)]);
    let inbox_after = mailbox(&store, inbox);
    assert_eq!((inbox_after.messages, inbox_after.unseen), (2, 2));
    assert_eq!(
        inbox_after.size_bytes,
        inbox_before.size_bytes - 2 * moved.prefix.len() as u64 - 2 * moved.size
    );
    assert_eq!(inbox_after.highest_modseq, copied.modseq);
    let trash_after = mailbox(&store, trash.id);
    assert_eq!((trash_after.messages, trash_after.unseen, trash_after.uidnext), (2, 1, Uid(3)));
    assert_eq!(trash_after.size_bytes + inbox_after.size_bytes, inbox_before.size_bytes);
    assert_eq!(store.read(|view| view.changed_since(trash.id, modseq_before)).unwrap().len(), 2);
    assert_consistent(&store);

    // Moving within one mailbox renumbers; an empty move changes nothing.
    let (again, gone) = store.move_messages(inbox, &[Uid(1)], inbox, 1).unwrap();
    assert_eq!((again.pairs.clone(), gone.len()), (vec![(Uid(1), Uid(5))], 1));
    assert_eq!(mailbox(&store, inbox).messages, 2);
    let modseq = store.read(|view| view.highest_modseq()).unwrap();
    let (nothing, none) = store.move_messages(inbox, &[Uid(1)], trash.id, 1).unwrap();
    assert!(nothing.pairs.is_empty() && none.is_empty());
    assert_eq!((nothing.modseq, nothing.uidvalidity), (modseq, trash.uidvalidity));
    assert!(matches!(
        store.move_messages(inbox, &[Uid(5)], MailboxId(99), 1),
        Err(StorageError::NoSuchMailbox)
    ));
    assert_eq!(store.read(|view| view.highest_modseq()).unwrap(), modseq);
    // The moved-out UIDs stay readable in the source for lagging sessions.
    let kept = store.read(|view| view.expunged_message(inbox, Uid(2))).unwrap().unwrap();
    assert_eq!((kept.id, kept.mailbox), (sources[1].id, inbox));
    // A moved message expunged later loses its file and summary once purged; the purge
    // of its MOVE entry (older) never takes the file.
    store.expunge(trash.id, &[Uid(1)]).unwrap();
    assert!(store.message_path(sources[1].id).exists());
    assert_consistent(&store);
    store.purge_expunged().unwrap();
    assert!(!store.message_path(sources[1].id).exists());
    assert_eq!(summary(&store, sources[1].id), None);
    assert_consistent(&store);
}
