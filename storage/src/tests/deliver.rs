//! Delivery: round trip, batches, per-message failures, orphan replacement, restart,
//! summaries.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;

use super::{assert_consistent, body, deliver_one, file_bytes, fixture, inbox, new_message};
use crate::{
    DELIVERY_BATCH_MAX, DeliveryError, Flags, MailboxId, MailboxTarget, MessageId, ModSeq, PREFIX_BYTES_MAX,
    SUMMARY_BYTES_MAX, SpecialUse, StorageError, Uid,
};

#[test]
fn delivery_round_trip_keeps_bytes_prefix_uids_and_counts() {
    let fixture = fixture();
    let store = fixture.open("alice");
    let inbox = inbox(&store);
    let bytes = body(1);
    let mut message = new_message(fixture.spool(&bytes), &bytes, MailboxTarget::Inbox);
    message.flags = Flags::FLAGGED;
    message.keywords = vec!["$Forwarded".to_string(), "$forwarded".to_string()];
    let delivered = store.deliver(&[message.clone()]).unwrap().remove(0).unwrap();

    assert_eq!(delivered.id, MessageId(1));
    assert_eq!(delivered.mailbox, inbox);
    assert_eq!(delivered.uid, Uid(1));
    assert_eq!(delivered.modseq, ModSeq(2));
    assert_eq!(delivered.size, bytes.len() as u64);

    let info = store.read(|view| view.message_by_uid(inbox, Uid(1))).unwrap().unwrap();
    assert_eq!(info.id, delivered.id);
    assert_eq!(info.prefix, message.prefix);
    assert_eq!(info.received_ms, message.received_ms);
    assert_eq!(info.flags, Flags::FLAGGED);
    assert_eq!(info.keywords, vec!["$Forwarded".to_string()]);
    assert_eq!(file_bytes(&store, info.id, info.size), bytes);
    assert_eq!(store.read(|view| view.message(delivered.id)).unwrap(), Some(info.clone()));

    let mailbox = store.read(|view| view.mailbox(inbox)).unwrap().unwrap();
    assert_eq!(mailbox.messages, 1);
    assert_eq!(mailbox.unseen, 1);
    assert_eq!(mailbox.deleted, 0);
    assert_eq!(mailbox.uidnext, Uid(2));
    assert_eq!(mailbox.highest_modseq, ModSeq(2));
    assert_eq!(mailbox.size_bytes, (message.prefix.len() + bytes.len()) as u64);
    assert_eq!(store.read(|view| view.highest_modseq()).unwrap(), ModSeq(2));
    // The spool file stays: the caller removes it after all its deliveries.
    assert!(message.spool_path.exists());
    assert_consistent(&store);
}

#[test]
fn batch_of_100_gets_contiguous_uids_and_one_modseq_each() {
    let fixture = fixture();
    let store = fixture.open("bob");
    let inbox = inbox(&store);
    let batch: Vec<_> = (0..100)
        .map(|n| {
            let bytes = body(n);
            new_message(fixture.spool(&bytes), &bytes, MailboxTarget::Inbox)
        })
        .collect();
    let results = store.deliver(&batch).unwrap();
    assert_eq!(results.len(), 100);
    for (n, result) in results.iter().enumerate() {
        let delivered = result.as_ref().unwrap();
        assert_eq!(delivered.uid, Uid(n as u32 + 1));
        assert_eq!(delivered.id, MessageId(n as u64 + 1));
        assert_eq!(delivered.modseq, ModSeq(n as u64 + 2));
    }
    let infos = store.read(|view| view.messages(inbox, Uid(1), Uid(u32::MAX))).unwrap();
    assert_eq!(infos.len(), 100);
    for (n, info) in infos.iter().enumerate() {
        assert_eq!(file_bytes(&store, info.id, info.size), body(n as u64));
    }
    let some = store.read(|view| view.messages(inbox, Uid(10), Uid(19))).unwrap();
    assert_eq!(some.iter().map(|info| info.uid.0).collect::<Vec<_>>(), (10..20).collect::<Vec<_>>());
    assert_eq!(store.read(|view| view.mailbox(inbox)).unwrap().unwrap().messages, 100);
    assert_consistent(&store);
}

#[test]
fn bad_messages_fail_alone() {
    let fixture = fixture();
    let store = fixture.open("carol");
    let good = body(1);
    let short = body(2);
    let mut mismatch = new_message(fixture.spool(&short[..10]), &short, MailboxTarget::Inbox);
    mismatch.size = short.len() as u64;
    let mut missing = new_message(fixture.spool(&good), &good, MailboxTarget::Inbox);
    missing.spool_path = fixture.data.spool_dir().join("never-written");
    let no_mailbox = new_message(fixture.spool(&good), &good, MailboxTarget::Id(MailboxId(999)));
    let mut bad_prefix = new_message(fixture.spool(&good), &good, MailboxTarget::Inbox);
    bad_prefix.prefix = b"X-No-Crlf: at the end".to_vec();
    let mut big_prefix = new_message(fixture.spool(&good), &good, MailboxTarget::Inbox);
    big_prefix.prefix = vec![b'a'; PREFIX_BYTES_MAX + 1];
    let mut bad_flags = new_message(fixture.spool(&good), &good, MailboxTarget::Inbox);
    bad_flags.flags = Flags(1 << 20);
    let mut bad_keyword = new_message(fixture.spool(&good), &good, MailboxTarget::Inbox);
    bad_keyword.keywords = vec!["\\Seen".to_string()];
    let batch = [
        new_message(fixture.spool(&good), &good, MailboxTarget::Inbox),
        mismatch,
        missing,
        no_mailbox,
        bad_prefix,
        big_prefix,
        bad_flags,
        bad_keyword,
        new_message(fixture.spool(&good), &good, MailboxTarget::Inbox),
    ];
    let results = store.deliver(&batch).unwrap();
    assert_eq!(results[0].as_ref().unwrap().uid, Uid(1));
    assert!(matches!(
        results[1],
        Err(DeliveryError::SpoolMismatch { expected, found: 10 }) if expected == short.len() as u64
    ));
    assert!(matches!(results[2], Err(DeliveryError::SpoolMissing)));
    assert!(matches!(results[3], Err(DeliveryError::NoSuchMailbox)));
    assert!(matches!(results[4], Err(DeliveryError::PrefixNotCrlf)));
    assert!(matches!(results[5], Err(DeliveryError::PrefixTooLarge { .. })));
    assert!(matches!(results[6], Err(DeliveryError::InvalidFlags(_))));
    assert!(matches!(results[7], Err(DeliveryError::InvalidFlags(_))));
    let last = results[8].as_ref().unwrap();
    assert_eq!(last.uid, Uid(2));
    assert_eq!(last.id, MessageId(2));
    assert_eq!(store.read(|view| view.mailbox(last.mailbox)).unwrap().unwrap().messages, 2);
    assert_consistent(&store);
}

#[test]
fn batch_limit_and_empty_batch() {
    let fixture = fixture();
    let store = fixture.open("dave");
    assert!(store.deliver(&[]).unwrap().is_empty());
    let bytes = body(1);
    let message = new_message(fixture.spool(&bytes), &bytes, MailboxTarget::Inbox);
    let batch = vec![message; DELIVERY_BATCH_MAX + 1];
    assert!(matches!(
        store.deliver(&batch),
        Err(StorageError::BatchTooLarge { count, max: DELIVERY_BATCH_MAX }) if count == DELIVERY_BATCH_MAX + 1
    ));
    assert_eq!(store.read(|view| view.highest_modseq()).unwrap(), ModSeq(1));
    assert_consistent(&store);
}

#[test]
fn orphan_file_at_next_id_is_replaced() {
    let fixture = fixture();
    let store = fixture.open("erin");
    deliver_one(&fixture, &store, &body(1), MailboxTarget::Inbox);
    // A crash between link and commit left a file at the id the next delivery gets.
    let orphan = store.message_path(MessageId(2));
    fs::create_dir_all(orphan.parent().unwrap()).unwrap();
    fs::write(&orphan, b"half of something else").unwrap();
    let report = store.check_consistency().unwrap();
    assert_eq!(report.orphan_files, vec![orphan.clone()]);
    assert!(report.problems.is_empty(), "{report:#?}");

    let bytes = body(2);
    let delivered = deliver_one(&fixture, &store, &bytes, MailboxTarget::Inbox);
    assert_eq!(delivered.id, MessageId(2));
    assert_eq!(fs::read(&orphan).unwrap(), bytes);
    assert_consistent(&store);
}

#[test]
fn files_land_in_hi_directories() {
    let fixture = fixture();
    let store = fixture.open("fay");
    assert_eq!(
        store.message_path(MessageId(4095)),
        fixture.data.account_dir("fay").unwrap().join("msg/0/4095")
    );
    assert_eq!(
        store.message_path(MessageId(4096)),
        fixture.data.account_dir("fay").unwrap().join("msg/1/4096")
    );
    let delivered = deliver_one(&fixture, &store, &body(1), MailboxTarget::Inbox);
    let path = store.message_path(delivered.id);
    use std::os::unix::fs::PermissionsExt;
    let dir_mode = fs::metadata(path.parent().unwrap()).unwrap().permissions().mode();
    assert_eq!(dir_mode & 0o777, 0o700);
}

#[test]
fn restart_keeps_everything() {
    let fixture = fixture();
    let (archive, delivered, mailboxes, highest) = {
        let store = fixture.open("gus");
        let archive = store.read(|view| view.mailbox_by_name("Archive")).unwrap().unwrap();
        assert_eq!(archive.special_use, Some(SpecialUse::Archive));
        let created = store.create_mailbox("Lists/rust", None).unwrap();
        let mut delivered = Vec::new();
        for n in 0..5 {
            delivered.push(deliver_one(&fixture, &store, &body(n), MailboxTarget::Inbox));
        }
        delivered.push(deliver_one(&fixture, &store, &body(9), MailboxTarget::Id(created.id)));
        store.set_password("correct horse").unwrap();
        let mailboxes = store.read(|view| view.mailboxes()).unwrap();
        let highest = store.read(|view| view.highest_modseq()).unwrap();
        (archive, delivered, mailboxes, highest)
    };
    let store = fixture.open("gus");
    assert_eq!(store.read(|view| view.mailboxes()).unwrap(), mailboxes);
    assert_eq!(store.read(|view| view.highest_modseq()).unwrap(), highest);
    let reopened_archive = store.read(|view| view.mailbox(archive.id)).unwrap().unwrap();
    assert_eq!(reopened_archive.uidvalidity, archive.uidvalidity);
    for (n, delivered) in delivered.iter().enumerate() {
        let info = store.read(|view| view.message(delivered.id)).unwrap().unwrap();
        assert_eq!(info.uid, delivered.uid);
        assert_eq!(info.mailbox, delivered.mailbox);
        let expected = if n == 5 { body(9) } else { body(n as u64) };
        assert_eq!(file_bytes(&store, info.id, info.size), expected);
    }
    assert!(store.verify_password("correct horse").unwrap());
    // Counters continue where they were.
    let next = deliver_one(&fixture, &store, &body(6), MailboxTarget::Inbox);
    assert_eq!(next.id, MessageId(7));
    assert_eq!(next.uid, Uid(6));
    assert!(next.modseq > highest);
    assert_consistent(&store);
}

#[test]
fn same_spool_to_two_accounts_and_twice_to_one() {
    let fixture = fixture();
    let alice = fixture.open("alice");
    let bob = fixture.open("bob");
    let bytes = body(7);
    let spool = fixture.spool(&bytes);
    let message = new_message(spool.clone(), &bytes, MailboxTarget::Inbox);
    alice.deliver(&[message.clone(), message.clone()]).unwrap().into_iter().for_each(|r| {
        r.unwrap();
    });
    bob.deliver(&[message]).unwrap().remove(0).unwrap();
    fs::remove_file(&spool).unwrap();
    for store in [&alice, &bob] {
        let infos = store.read(|view| view.messages(super::inbox(store), Uid(1), Uid(u32::MAX))).unwrap();
        for info in infos {
            assert_eq!(file_bytes(store, info.id, info.size), bytes);
        }
        assert_consistent(store);
    }
}

#[test]
fn summaries_round_trip_and_go_with_their_message() {
    let fixture = fixture();
    let store = fixture.open("hank");
    let inbox = inbox(&store);
    let bytes = body(1);
    let with = |summary: Option<Vec<u8>>| {
        let mut message = new_message(fixture.spool(&bytes), &bytes, MailboxTarget::Inbox);
        message.summary = summary;
        message
    };
    let big = vec![7u8; SUMMARY_BYTES_MAX + 1];
    let largest = vec![8u8; SUMMARY_BYTES_MAX];
    let batch =
        [with(Some(b"\x00binary\xff".to_vec())), with(None), with(Some(big)), with(Some(largest.clone()))];
    let delivered: Vec<_> = store.deliver(&batch).unwrap().into_iter().map(Result::unwrap).collect();
    let summary = |id| store.read(|view| view.summary(id).map(|s| s.map(<[u8]>::to_vec))).unwrap();
    assert_eq!(summary(delivered[0].id).as_deref(), Some(&b"\x00binary\xff"[..]));
    assert_eq!(summary(delivered[1].id), None);
    assert_eq!(summary(delivered[2].id), None, "too large: delivered without summary");
    assert_eq!(summary(delivered[3].id), Some(largest));
    assert_eq!(summary(MessageId(99)), None);
    // Borrowed in place from the transaction, usable for the length of the read.
    let length = store.read(|view| Ok(view.summary(delivered[0].id)?.map_or(0, <[u8]>::len))).unwrap();
    assert_eq!(length, 8);
    let info = store.read(|view| view.message(delivered[0].id)).unwrap().unwrap();
    assert_eq!(info.saved_ms, info.received_ms, "saved_ms None means received_ms");
    assert_consistent(&store);
    store.expunge(inbox, &[delivered[0].uid]).unwrap();
    assert_eq!(summary(delivered[0].id).map(|bytes| bytes.len()), Some(8), "kept until purged");
    store.purge_expunged().unwrap();
    assert_eq!(summary(delivered[0].id), None);
    assert_consistent(&store);
}

#[test]
fn special_use_target_finds_junk_or_falls_back_to_inbox() {
    let fixture = fixture();
    let store = fixture.open("alice");
    let junk = store.read(|view| view.mailbox_by_name("Junk")).unwrap().unwrap();
    assert_eq!(junk.special_use, Some(SpecialUse::Junk));
    let delivered = deliver_one(&fixture, &store, &body(1), MailboxTarget::SpecialUse(SpecialUse::Junk));
    assert_eq!(delivered.mailbox, junk.id);
    // Without a \Junk mailbox the message still arrives, in INBOX.
    store.expunge(junk.id, &[delivered.uid]).unwrap();
    store.delete_mailbox("Junk").unwrap();
    let delivered = deliver_one(&fixture, &store, &body(2), MailboxTarget::SpecialUse(SpecialUse::Junk));
    assert_eq!(delivered.mailbox, inbox(&store));
    assert_consistent(&store);
}
