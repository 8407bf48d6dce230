//! Flag changes (plain and UNCHANGEDSINCE), expunge, tombstones, mailbox creation.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ops::ControlFlow;

use super::{assert_consistent, body, deliver_one, fixture, inbox};
use crate::{
    FlagOp, Flags, KEYWORDS_PER_MESSAGE_MAX, MailboxId, MailboxTarget, ModSeq, SpecialUse, StorageError, Uid,
};

#[test]
fn store_flags_bumps_modseqs_and_counts() {
    let fixture = fixture();
    let store = fixture.open("alice");
    let inbox = inbox(&store);
    for n in 0..4 {
        deliver_one(&fixture, &store, &body(n), MailboxTarget::Inbox);
    }
    let after_delivery = store.read(|view| view.highest_modseq()).unwrap();
    assert_eq!(after_delivery, ModSeq(5));

    let changed =
        store.store_flags(inbox, &[Uid(1), Uid(3), Uid(99)], FlagOp::Add, Flags::SEEN, &[]).unwrap();
    assert_eq!(changed.iter().map(|c| c.uid).collect::<Vec<_>>(), vec![Uid(1), Uid(3)]);
    assert_eq!(changed[0].modseq, ModSeq(6));
    assert_eq!(changed[1].modseq, ModSeq(7));
    assert_eq!(changed[0].flags, Flags::SEEN);
    let mailbox = store.read(|view| view.mailbox(inbox)).unwrap().unwrap();
    assert_eq!((mailbox.messages, mailbox.unseen, mailbox.deleted), (4, 2, 0));
    assert_eq!(mailbox.highest_modseq, ModSeq(7));

    // Unchanged messages keep their modseq and are not reported.
    let again = store.store_flags(inbox, &[Uid(1)], FlagOp::Add, Flags::SEEN, &[]).unwrap();
    assert!(again.is_empty());
    assert_eq!(store.read(|view| view.highest_modseq()).unwrap(), ModSeq(7));

    let changed_since = store.read(|view| view.changed_since(inbox, after_delivery)).unwrap();
    assert_eq!(changed_since, vec![(Uid(1), ModSeq(6)), (Uid(3), ModSeq(7))]);
    let all = store.read(|view| view.changed_since(inbox, ModSeq(1))).unwrap();
    assert_eq!(all.len(), 4);

    let keywords = vec!["$Junk".to_string(), "Work".to_string()];
    let set =
        store.store_flags(inbox, &[Uid(1)], FlagOp::Set, Flags::DELETED | Flags::DRAFT, &keywords).unwrap();
    assert_eq!(set[0].flags, Flags::DELETED | Flags::DRAFT);
    assert_eq!(set[0].keywords, keywords);
    let removed =
        store.store_flags(inbox, &[Uid(1)], FlagOp::Remove, Flags::DRAFT, &["work".to_string()]).unwrap();
    assert_eq!(removed[0].flags, Flags::DELETED);
    assert_eq!(removed[0].keywords, vec!["$Junk".to_string()]);
    let mailbox = store.read(|view| view.mailbox(inbox)).unwrap().unwrap();
    assert_eq!((mailbox.unseen, mailbox.deleted), (3, 1));
    let info = store.read(|view| view.message_by_uid(inbox, Uid(1))).unwrap().unwrap();
    assert_eq!(info.flags, Flags::DELETED);
    assert_eq!(info.modseq, removed[0].modseq);
    assert_consistent(&store);
}

#[test]
fn store_flags_refuses_bad_input_without_changes() {
    let fixture = fixture();
    let store = fixture.open("bob");
    let inbox = inbox(&store);
    deliver_one(&fixture, &store, &body(1), MailboxTarget::Inbox);
    let before = store.read(|view| view.highest_modseq()).unwrap();
    assert!(matches!(
        store.store_flags(MailboxId(999), &[Uid(1)], FlagOp::Add, Flags::SEEN, &[]),
        Err(StorageError::NoSuchMailbox)
    ));
    assert!(matches!(
        store.store_flags(inbox, &[Uid(1)], FlagOp::Add, Flags(1 << 9), &[]),
        Err(StorageError::InvalidFlags { .. })
    ));
    assert!(matches!(
        store.store_flags(inbox, &[Uid(1)], FlagOp::Add, Flags::SEEN, &["a b".to_string()]),
        Err(StorageError::InvalidKeyword { .. })
    ));
    let many: Vec<String> = (0..KEYWORDS_PER_MESSAGE_MAX).map(|n| format!("k{n}")).collect();
    store.store_flags(inbox, &[Uid(1)], FlagOp::Set, Flags::empty(), &many).unwrap();
    let before_overflow = store.read(|view| view.highest_modseq()).unwrap();
    assert!(before_overflow > before);
    assert!(matches!(
        store.store_flags(inbox, &[Uid(1)], FlagOp::Add, Flags::SEEN, &["one-more".to_string()]),
        Err(StorageError::TooManyKeywords { .. })
    ));
    assert_eq!(store.read(|view| view.highest_modseq()).unwrap(), before_overflow);
    let info = store.read(|view| view.message_by_uid(inbox, Uid(1))).unwrap().unwrap();
    assert_eq!(info.flags, Flags::empty());
    assert_consistent(&store);
}

#[test]
fn expunge_leaves_tombstones_and_the_purge_removes_files() {
    let fixture = fixture();
    let store = fixture.open("carol");
    let inbox = inbox(&store);
    let mut delivered = Vec::new();
    for n in 0..5 {
        delivered.push(deliver_one(&fixture, &store, &body(n), MailboxTarget::Inbox));
    }
    store.store_flags(inbox, &[Uid(2)], FlagOp::Add, Flags::SEEN | Flags::DELETED, &[]).unwrap();
    let before = store.read(|view| view.highest_modseq()).unwrap();

    let expunged = store.expunge(inbox, &[Uid(2), Uid(4), Uid(4), Uid(77)]).unwrap();
    assert_eq!(expunged.iter().map(|e| e.uid).collect::<Vec<_>>(), vec![Uid(2), Uid(4)]);
    assert_eq!(expunged[0].id, delivered[1].id);
    assert_eq!(expunged[0].modseq, ModSeq(before.0 + 1));
    assert_eq!(expunged[1].modseq, ModSeq(before.0 + 2));
    for gone in &expunged {
        // Kept (record, summary, file) until a purge finds no view that may show it.
        assert!(store.message_path(gone.id).exists());
        assert_eq!(store.read(|view| view.message(gone.id)).unwrap(), None);
        assert_eq!(store.read(|view| view.message_by_uid(inbox, gone.uid)).unwrap(), None);
        let kept = store.read(|view| view.expunged_message(inbox, gone.uid)).unwrap().unwrap();
        assert_eq!((kept.id, kept.uid), (gone.id, gone.uid));
    }
    assert_consistent(&store);
    assert_eq!(store.purge_expunged().unwrap(), 2);
    assert_eq!(store.purge_expunged().unwrap(), 0);
    for gone in &expunged {
        assert!(!store.message_path(gone.id).exists());
        assert_eq!(store.read(|view| view.expunged_message(inbox, gone.uid)).unwrap(), None);
    }
    let mailbox = store.read(|view| view.mailbox(inbox)).unwrap().unwrap();
    assert_eq!((mailbox.messages, mailbox.unseen, mailbox.deleted), (3, 3, 0));
    assert_eq!(mailbox.highest_modseq, expunged[1].modseq);
    assert_eq!(mailbox.uidnext, Uid(6));

    let since = store.read(|view| view.expunged_since(inbox, before)).unwrap();
    assert_eq!(since, vec![(Uid(2), expunged[0].modseq), (Uid(4), expunged[1].modseq)]);
    let later = store.read(|view| view.expunged_since(inbox, expunged[0].modseq)).unwrap();
    assert_eq!(later, vec![(Uid(4), expunged[1].modseq)]);
    let changed = store.read(|view| view.changed_since(inbox, ModSeq(1))).unwrap();
    assert!(changed.iter().all(|(uid, _)| *uid != Uid(2) && *uid != Uid(4)));
    // The bounded reads: the whole answer up to the limit, nothing past it.
    let at_most = |max| store.read(|view| view.expunged_since_at_most(inbox, before, max)).unwrap();
    assert_eq!(at_most(2), Some(since.clone()));
    assert_eq!(at_most(1), None);
    let changed_at_most = |max| store.read(|view| view.changed_since_at_most(inbox, ModSeq(1), max)).unwrap();
    assert_eq!(changed_at_most(changed.len()), Some(changed.clone()));
    assert_eq!(changed_at_most(changed.len() - 1), None);

    let mut visited = Vec::new();
    store
        .read(|view| {
            view.for_each_message(inbox, Uid(1), Uid(u32::MAX), |record| {
                visited.push(record.uid());
                ControlFlow::Continue(())
            })
        })
        .unwrap();
    assert_eq!(visited, vec![Uid(1), Uid(3), Uid(5)]);
    // UIDs are never reused.
    let next = deliver_one(&fixture, &store, &body(9), MailboxTarget::Inbox);
    assert_eq!(next.uid, Uid(6));
    assert_consistent(&store);
}

#[test]
fn for_each_message_stops_on_break() {
    let fixture = fixture();
    let store = fixture.open("dan");
    let inbox = inbox(&store);
    for n in 0..5 {
        deliver_one(&fixture, &store, &body(n), MailboxTarget::Inbox);
    }
    let mut seen = 0;
    store
        .read(|view| {
            view.for_each_message(inbox, Uid(2), Uid(5), |record| {
                seen += 1;
                assert_eq!(record.size(), body(u64::from(record.uid().0 - 1)).len() as u64);
                if record.uid() == Uid(3) { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
            })
        })
        .unwrap();
    assert_eq!(seen, 2);
}

#[test]
fn create_mailbox_names_and_uidvalidity() {
    let fixture = fixture();
    let store = fixture.open("eve");
    let names: Vec<String> =
        store.read(|view| view.mailboxes()).unwrap().into_iter().map(|mailbox| mailbox.name).collect();
    assert_eq!(names, ["INBOX", "Sent", "Drafts", "Archive", "Trash", "Junk"]);
    let sent = store.read(|view| view.mailbox_by_name("Sent")).unwrap().unwrap();
    assert_eq!(sent.special_use, Some(SpecialUse::Sent));
    assert_eq!(sent.highest_modseq, ModSeq(1));
    assert!(store.read(|view| view.mailbox_by_name("inBox")).unwrap().is_some());
    assert!(store.read(|view| view.mailbox_by_name("sent")).unwrap().is_none());

    let work = store.create_mailbox("Work", Some(SpecialUse::Archive)).unwrap();
    assert_eq!(work.special_use, Some(SpecialUse::Archive));
    assert_eq!(work.uidnext, Uid(1));
    assert_eq!(work.messages, 0);
    let other = store.create_mailbox("work", None).unwrap();
    assert_ne!(work.uidvalidity, other.uidvalidity);
    assert_ne!(work.id, other.id);
    for existing in ["Work", "inbox", "INBOX", "Sent"] {
        assert!(matches!(store.create_mailbox(existing, None), Err(StorageError::MailboxExists)));
    }
    for invalid in ["", "a//b", "/a", "a/", "tab\there", &"x".repeat(256)] {
        assert!(matches!(store.create_mailbox(invalid, None), Err(StorageError::InvalidMailboxName { .. })));
    }
    let uidvalidities: std::collections::BTreeSet<_> =
        store.read(|view| view.mailboxes()).unwrap().into_iter().map(|mailbox| mailbox.uidvalidity).collect();
    assert_eq!(uidvalidities.len(), 8);
    let delivered = deliver_one(&fixture, &store, &body(1), MailboxTarget::Id(work.id));
    assert_eq!(delivered.mailbox, work.id);
    assert_eq!(delivered.uid, Uid(1));
    assert_consistent(&store);
}

#[test]
fn conditional_store_fails_newer_messages_and_spares_unchanged_ones() {
    let fixture = fixture();
    let store = fixture.open("fred");
    let inbox = inbox(&store);
    for n in 0..4 {
        deliver_one(&fixture, &store, &body(n), MailboxTarget::Inbox);
    }
    // Modseqs now: uid n has n + 1. Change uid 3 so it is newer than what a client saw.
    let seen = store.read(|view| view.highest_modseq()).unwrap();
    assert_eq!(seen, ModSeq(5));
    store.store_flags(inbox, &[Uid(3)], FlagOp::Add, Flags::FLAGGED, &[]).unwrap();
    store.store_flags(inbox, &[Uid(2)], FlagOp::Add, Flags::SEEN, &[]).unwrap();
    let uid2_modseq = store.read(|view| view.message_by_uid(inbox, Uid(2))).unwrap().unwrap().modseq;

    // UNCHANGEDSINCE 5: uids 2 and 3 changed since (modseq 7, 6) and fail. uid 1 changes.
    // uid 4 gets \Seen... it has none: changes too. uid 9 does not exist: neither list.
    let stored = store
        .store_flags_conditional(
            inbox,
            &[Uid(4), Uid(3), Uid(1), Uid(2), Uid(9)],
            FlagOp::Add,
            Flags::SEEN,
            &[],
            Some(seen),
        )
        .unwrap();
    assert_eq!(stored.failed, vec![Uid(2), Uid(3)]);
    assert_eq!(stored.changed.iter().map(|c| c.uid).collect::<Vec<_>>(), [Uid(1), Uid(4)]);
    assert_eq!(stored.changed.iter().map(|c| c.modseq).collect::<Vec<_>>(), [ModSeq(8), ModSeq(9)]);
    let uid2 = store.read(|view| view.message_by_uid(inbox, Uid(2))).unwrap().unwrap();
    assert_eq!((uid2.flags, uid2.modseq), (Flags::SEEN, uid2_modseq));
    let uid3 = store.read(|view| view.message_by_uid(inbox, Uid(3))).unwrap().unwrap();
    assert_eq!(uid3.flags, Flags::FLAGGED);

    // A message at or below UNCHANGEDSINCE whose flags would not change passes: in
    // neither list, modseq kept, account modseq kept.
    let highest = store.read(|view| view.highest_modseq()).unwrap();
    let noop = store
        .store_flags_conditional(inbox, &[Uid(1), Uid(4)], FlagOp::Add, Flags::SEEN, &[], Some(highest))
        .unwrap();
    assert!(noop.changed.is_empty() && noop.failed.is_empty());
    assert_eq!(store.read(|view| view.highest_modseq()).unwrap(), highest);
    assert_eq!(store.read(|view| view.message_by_uid(inbox, Uid(1))).unwrap().unwrap().modseq, ModSeq(8));

    // UNCHANGEDSINCE 0 fails every message (RFC 7162 §3.1.3), even a no-op.
    let zero = store
        .store_flags_conditional(inbox, &[Uid(1), Uid(2)], FlagOp::Add, Flags::SEEN, &[], Some(ModSeq(0)))
        .unwrap();
    assert_eq!((zero.changed.len(), zero.failed), (0, vec![Uid(1), Uid(2)]));
    // Duplicates are handled once: the second sight does not fail on the first's modseq.
    let twice = store
        .store_flags_conditional(inbox, &[Uid(1), Uid(1)], FlagOp::Remove, Flags::SEEN, &[], Some(highest))
        .unwrap();
    assert_eq!((twice.changed.len(), twice.failed.len()), (1, 0));
    let mailbox = store.read(|view| view.mailbox(inbox)).unwrap().unwrap();
    assert_eq!(mailbox.unseen, 2, "uid 1 lost \\Seen again, uid 3 never had it");
    assert_eq!(mailbox.highest_modseq, twice.changed[0].modseq);
    assert_consistent(&store);
}

#[test]
fn expunged_messages_stay_readable_while_a_view_may_show_them() {
    let fixture = fixture();
    let store = fixture.open("erin");
    let inbox = inbox(&store);
    let delivered: Vec<_> =
        (0..3).map(|n| deliver_one(&fixture, &store, &body(n), MailboxTarget::Inbox)).collect();
    let lagging = store.open_view().unwrap();
    let current = store.open_view().unwrap();
    let first = store.expunge(inbox, &[Uid(1)]).unwrap();
    current.advance(first[0].modseq);
    // `lagging` has not reported the expunge: nothing goes.
    assert_eq!(store.purge_expunged().unwrap(), 0);
    let kept = store.read(|view| view.expunged_message(inbox, Uid(1))).unwrap().unwrap();
    assert_eq!(kept.id, delivered[0].id);
    assert!(store.open_message_file(kept.id, kept.size).is_ok());
    lagging.advance(first[0].modseq);
    let second = store.expunge(inbox, &[Uid(2)]).unwrap();
    // The first is behind every pin now; the second is still ahead of both.
    assert_eq!(store.purge_expunged().unwrap(), 1);
    assert!(!store.message_path(delivered[0].id).exists());
    assert!(store.message_path(delivered[1].id).exists());
    drop(lagging);
    current.advance(second[0].modseq);
    assert_eq!(store.purge_expunged().unwrap(), 1);
    assert!(!store.message_path(delivered[1].id).exists());
    assert_consistent(&store);
}

#[test]
fn a_store_reopened_after_a_crash_purges_what_it_kept() {
    let fixture = fixture();
    let id = {
        let store = fixture.open("fay");
        let delivered = deliver_one(&fixture, &store, &body(1), MailboxTarget::Inbox);
        let _view = store.open_view().unwrap();
        store.expunge(inbox(&store), &[delivered.uid]).unwrap();
        assert_eq!(store.purge_expunged().unwrap(), 0);
        delivered.id
    };
    let store = fixture.open("fay");
    assert!(store.message_path(id).exists());
    assert_consistent(&store);
    assert_eq!(store.purge_expunged().unwrap(), 1);
    assert!(!store.message_path(id).exists());
    assert_consistent(&store);
}

/// The orphan sweep (server start, `verifydata --fix`) leaves alone the file of an
/// expunged message kept for a session that may still show it: it has no record, but
/// its kept entry owns it, and moving it would turn that session's FETCH into an error.
#[test]
fn the_orphan_sweep_leaves_kept_files_alone() {
    let fixture = fixture();
    let store = fixture.open("gus");
    let inbox = inbox(&store);
    let delivered = deliver_one(&fixture, &store, &body(1), MailboxTarget::Inbox);
    let view = store.open_view().unwrap();
    let gone = store.expunge(inbox, &[delivered.uid]).unwrap();
    let sweep = store.sweep_orphans().unwrap();
    assert!(sweep.moved.is_empty(), "{sweep:?}");
    assert!(store.open_message_file(delivered.id, delivered.size).is_ok());
    view.advance(gone[0].modseq);
    assert_eq!(store.purge_expunged().unwrap(), 1);
    assert!(!store.message_path(delivered.id).exists());
    assert!(store.sweep_orphans().unwrap().moved.is_empty());
    assert_consistent(&store);
}

/// With nothing kept, purging is not pending, whether or not a view is open: an empty
/// purge would still commit (and fsync) after every batch of the account actor.
#[test]
fn nothing_kept_means_no_purge() {
    let fixture = fixture();
    let store = fixture.open("hal");
    deliver_one(&fixture, &store, &body(1), MailboxTarget::Inbox);
    assert!(!store.purge_pending(), "no view, nothing kept");
    let view = store.open_view().unwrap();
    assert!(!store.purge_pending(), "a view, nothing kept");
    drop(view);
    assert_eq!(store.purge_expunged().unwrap(), 0);
}
