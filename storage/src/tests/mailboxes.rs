//! Mailbox hierarchy: CREATE with parents, RENAME (plain, children, INBOX), DELETE,
//! subscriptions.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::{Fixture, assert_consistent, body, deliver_one, fixture, inbox};
use crate::{
    AccountStore, FlagOp, Flags, MailboxInfo, MailboxTarget, ModSeq, SpecialUse, StorageError, Uid, keys,
};

fn names(store: &AccountStore) -> Vec<String> {
    let mut names: Vec<String> =
        store.read(|view| view.mailboxes()).unwrap().into_iter().map(|mailbox| mailbox.name).collect();
    names.sort();
    names
}

fn by_name(store: &AccountStore, name: &str) -> Option<MailboxInfo> {
    store.read(|view| view.mailbox_by_name(name)).unwrap()
}

/// Delivers `count` messages into `name` and returns the mailbox.
fn filled(fixture: &Fixture, store: &AccountStore, name: &str, count: u64) -> MailboxInfo {
    let mailbox = by_name(store, name).unwrap();
    for n in 0..count {
        deliver_one(fixture, store, &body(n), MailboxTarget::Id(mailbox.id));
    }
    by_name(store, name).unwrap()
}

#[test]
fn create_makes_missing_parents() {
    let fixture = fixture();
    let store = fixture.open("alice");
    let leaf = store.create_mailbox("a/b/c", Some(SpecialUse::Archive)).unwrap();
    assert_eq!(leaf.name, "a/b/c");
    assert_eq!(leaf.special_use, Some(SpecialUse::Archive));
    assert_eq!(by_name(&store, "a").unwrap().special_use, None);
    assert_eq!(by_name(&store, "a/b").unwrap().special_use, None);
    // Parents exist already: only the leaf is new.
    let sibling = store.create_mailbox("a/b/d", None).unwrap();
    assert_eq!(sibling.id.0, leaf.id.0 + 1);
    assert!(matches!(store.create_mailbox("a/b", None), Err(StorageError::MailboxExists)));
    // The leaf existing means nothing is created, not even a missing parent.
    let before = names(&store);
    assert!(matches!(store.create_mailbox("inbox", None), Err(StorageError::MailboxExists)));
    assert_eq!(names(&store), before);
    let child = store.create_mailbox("inbox/Sub", None).unwrap();
    assert_eq!(child.name, "INBOX/Sub");
    assert_eq!(by_name(&store, "Inbox/Sub").unwrap().id, child.id);
    assert!(matches!(store.create_mailbox("INBOX/Sub", None), Err(StorageError::MailboxExists)));
    for invalid in ["a/", "/a", "a//b", ""] {
        assert!(matches!(store.create_mailbox(invalid, None), Err(StorageError::InvalidMailboxName { .. })));
    }
    assert_consistent(&store);
}

#[test]
fn rename_plain_keeps_uidvalidity_messages_and_special_use() {
    let fixture = fixture();
    let store = fixture.open("bob");
    let sent = filled(&fixture, &store, "Sent", 3);
    let renamed = store.rename_mailbox("Sent", "Sent Items").unwrap();
    assert_eq!(renamed.len(), 1);
    let now = &renamed[0];
    assert_eq!((now.id, now.name.as_str()), (sent.id, "Sent Items"));
    assert_eq!(
        (now.uidvalidity, now.special_use, now.messages),
        (sent.uidvalidity, Some(SpecialUse::Sent), 3)
    );
    assert_eq!(by_name(&store, "Sent Items").unwrap(), sent_with_name(&sent, "Sent Items"));
    assert!(by_name(&store, "Sent").is_none());
    let messages = store.read(|view| view.messages(sent.id, Uid(1), Uid(u32::MAX))).unwrap();
    assert_eq!(messages.len(), 3);
    // Target parents are created; the old name is free again.
    let moved = store.rename_mailbox("Sent Items", "Archive/2024/Sent").unwrap();
    let moved_names: Vec<&str> = moved.iter().map(|mailbox| mailbox.name.as_str()).collect();
    assert_eq!(moved_names, ["Archive/2024", "Archive/2024/Sent"]);
    assert_eq!(moved[1].id, sent.id);
    store.create_mailbox("Sent Items", None).unwrap();
    assert_consistent(&store);
}

fn sent_with_name(sent: &MailboxInfo, name: &str) -> MailboxInfo {
    MailboxInfo { name: name.to_string(), ..sent.clone() }
}

#[test]
fn rename_takes_children_along() {
    let fixture = fixture();
    let store = fixture.open("carol");
    for name in ["Lists/rust", "Lists/rust/users", "Lists/go", "Listsx"] {
        store.create_mailbox(name, None).unwrap();
    }
    let users = filled(&fixture, &store, "Lists/rust/users", 2);
    let renamed = store.rename_mailbox("Lists", "Mail/Lists").unwrap();
    let renamed_names: Vec<&str> = renamed.iter().map(|mailbox| mailbox.name.as_str()).collect();
    assert_eq!(
        renamed_names,
        ["Mail", "Mail/Lists", "Mail/Lists/go", "Mail/Lists/rust", "Mail/Lists/rust/users"]
    );
    assert_eq!(
        names(&store),
        [
            "Archive",
            "Drafts",
            "INBOX",
            "Junk",
            "Listsx",
            "Mail",
            "Mail/Lists",
            "Mail/Lists/go",
            "Mail/Lists/rust",
            "Mail/Lists/rust/users",
            "Sent",
            "Trash"
        ]
    );
    let users_now = by_name(&store, "Mail/Lists/rust/users").unwrap();
    assert_eq!((users_now.id, users_now.uidvalidity, users_now.messages), (users.id, users.uidvalidity, 2));
    store.rename_mailbox("Mail/Lists/rust", "Mail/Lists/rust2").unwrap();
    assert_eq!(by_name(&store, "Mail/Lists/rust2/users").unwrap().id, users.id);
    assert_consistent(&store);
}

/// Removes an empty mailbox by hand, leaving its children without parent: the shape
/// schema 1 could leave (it created no parents), which RENAME must handle.
fn punch_hole(store: &AccountStore, name: &str) {
    let mailbox = by_name(store, name).unwrap();
    assert_eq!(mailbox.messages, 0);
    let writer = store.lmdb.lock_writer();
    store
        .lmdb
        .write(&writer, |wtxn| {
            store.dbs.mailboxes.delete(wtxn, &keys::mailbox_key(mailbox.id))?;
            store.dbs.mailbox_names.delete(wtxn, name.as_bytes())?;
            Ok(())
        })
        .unwrap();
}

#[test]
fn rename_may_reuse_names_its_own_subtree_leaves() {
    let fixture = fixture();
    let store = fixture.open("dora");
    store.create_mailbox("a/b/b/x", None).unwrap();
    store.create_mailbox("a/b/x", None).unwrap();
    let (b_x, b_b_x) = (by_name(&store, "a/b/x").unwrap(), by_name(&store, "a/b/b/x").unwrap());
    assert!(matches!(store.rename_mailbox("a/b", "a"), Err(StorageError::MailboxExists)));
    punch_hole(&store, "a");
    // `a/b` -> `a`: `a/b/b/x` becomes `a/b/x`, a name the old `a/b/x` (now `a/x`) leaves.
    let renamed = store.rename_mailbox("a/b", "a").unwrap();
    let renamed_names: Vec<&str> = renamed.iter().map(|mailbox| mailbox.name.as_str()).collect();
    assert_eq!(renamed_names, ["a", "a/b", "a/b/x", "a/x"]);
    assert_eq!(by_name(&store, "a/x").unwrap().id, b_x.id);
    assert_eq!(by_name(&store, "a/b/x").unwrap().id, b_b_x.id);
    assert!(by_name(&store, "a/b/b/x").is_none());
    assert_consistent(&store);
}

#[test]
fn rename_refusals_change_nothing() {
    let fixture = fixture();
    let store = fixture.open("erin");
    for name in ["Work/a", "Other", "Dest/a"] {
        store.create_mailbox(name, None).unwrap();
    }
    punch_hole(&store, "Dest");
    let long = "x".repeat(crate::MAILBOX_NAME_BYTES_MAX - 1);
    let refusals = [
        ("Nope", "X", "NoSuchMailbox"),
        ("Work", "Work", "MailboxExists"),
        ("Work", "Sent", "MailboxExists"),
        ("Work", "inbox", "MailboxExists"),
        ("Work", "Other", "MailboxExists"),
        // The target is free but a child's new name (`Dest/a`) exists.
        ("Work", "Dest", "MailboxExists"),
        ("Work", "Work/sub", "InvalidMailboxName"),
        ("Work", "bad//name", "InvalidMailboxName"),
        // `Work` itself fits, its child `Work/a` would not.
        ("Work", long.as_str(), "InvalidMailboxName"),
    ];
    let before = store.read(|view| view.mailboxes()).unwrap();
    for (from, to, expected) in refusals {
        let error = store.rename_mailbox(from, to).unwrap_err();
        assert!(format!("{error:?}").starts_with(expected), "{from} -> {to}: {error:?}");
        assert_eq!(store.read(|view| view.mailboxes()).unwrap(), before, "{from} -> {to}");
    }
    assert!(store.rename_mailbox("Work/a", &long).is_ok());
    assert_consistent(&store);
}

#[test]
fn rename_inbox_moves_its_messages_and_keeps_children() {
    let fixture = fixture();
    let store = fixture.open("fay");
    let inbox_id = inbox(&store);
    store.create_mailbox("INBOX/Child", None).unwrap();
    let mut delivered = Vec::new();
    for n in 0..3 {
        let bytes = body(n);
        let mut message = super::new_message(fixture.spool(&bytes), &bytes, MailboxTarget::Inbox);
        message.saved_ms = Some(1_000 + n as i64);
        message.summary = Some(vec![n as u8; 3]);
        delivered.push(store.deliver(&[message]).unwrap().remove(0).unwrap());
    }
    store.store_flags(inbox_id, &[Uid(2)], FlagOp::Add, Flags::SEEN, &[]).unwrap();
    let inbox_before = store.read(|view| view.mailbox(inbox_id)).unwrap().unwrap();
    let modseq_before = store.read(|view| view.highest_modseq()).unwrap();

    let created = store.rename_mailbox("inbox", "Old/Inbox").unwrap();
    let created_names: Vec<&str> = created.iter().map(|mailbox| mailbox.name.as_str()).collect();
    assert_eq!(created_names, ["Old", "Old/Inbox"]);
    let old = &created[1];
    assert_eq!((old.messages, old.unseen, old.size_bytes), (3, 2, inbox_before.size_bytes));
    assert_ne!(old.uidvalidity, inbox_before.uidvalidity);
    let inbox_after = store.read(|view| view.mailbox(inbox_id)).unwrap().unwrap();
    assert_eq!((inbox_after.name.as_str(), inbox_after.messages, inbox_after.unseen), ("INBOX", 0, 0));
    assert_eq!(inbox_after.size_bytes, 0);
    assert_eq!(inbox_after.uidvalidity, inbox_before.uidvalidity);
    assert_eq!(inbox_after.uidnext, inbox_before.uidnext);
    let vanished = store.read(|view| view.expunged_since(inbox_id, modseq_before)).unwrap();
    assert_eq!(vanished.iter().map(|(uid, _)| uid.0).collect::<Vec<_>>(), [1, 2, 3]);
    for (n, message) in delivered.iter().enumerate() {
        let info = store.read(|view| view.message(message.id)).unwrap().unwrap();
        assert_eq!((info.mailbox, info.uid), (old.id, Uid(n as u32 + 1)));
        assert_eq!(info.saved_ms, 1_000 + n as i64, "SAVEDATE kept on INBOX rename");
        let summary = store.read(|view| view.summary(message.id).map(|s| s.map(<[u8]>::to_vec))).unwrap();
        assert_eq!(summary, Some(vec![n as u8; 3]));
        assert!(store.message_path(message.id).exists());
    }
    assert!(by_name(&store, "INBOX/Child").is_some());
    // INBOX goes on: the next delivery continues its UIDs.
    assert_eq!(deliver_one(&fixture, &store, &body(9), MailboxTarget::Inbox).uid, Uid(4));
    assert!(matches!(store.rename_mailbox("INBOX", "Old/Inbox"), Err(StorageError::MailboxExists)));
    assert!(matches!(store.rename_mailbox("INBOX", "inbox"), Err(StorageError::MailboxExists)));
    assert_consistent(&store);
}

#[test]
fn delete_removes_messages_files_and_tombstones() {
    let fixture = fixture();
    let store = fixture.open("gus");
    store.create_mailbox("Work", None).unwrap();
    let work = filled(&fixture, &store, "Work", 4);
    store.expunge(work.id, &[Uid(2)]).unwrap();
    let ids: Vec<_> = store.read(|view| view.messages(work.id, Uid(1), Uid(u32::MAX))).unwrap();
    assert_eq!(ids.len(), 3);
    store.set_subscribed("Work", true).unwrap();
    let kept = deliver_one(&fixture, &store, &body(7), MailboxTarget::Inbox);

    let deleted = store.delete_mailbox("Work").unwrap();
    assert_eq!((deleted.id, deleted.messages), (work.id, 3));
    assert!(by_name(&store, "Work").is_none());
    for info in &ids {
        assert!(!store.message_path(info.id).exists());
        assert_eq!(store.read(|view| view.message(info.id)).unwrap(), None);
    }
    assert!(store.read(|view| view.uids(work.id)).unwrap().is_empty());
    assert!(store.read(|view| view.expunged_since(work.id, ModSeq(0))).unwrap().is_empty());
    assert!(store.read(|view| view.changed_since(work.id, ModSeq(0))).unwrap().is_empty());
    assert!(store.message_path(kept.id).exists());
    // Subscriptions stay; a new mailbox of the same name gets a new UIDVALIDITY.
    assert_eq!(store.read(|view| view.subscriptions()).unwrap(), ["Work"]);
    let again = store.create_mailbox("Work", None).unwrap();
    assert_ne!(again.uidvalidity, work.uidvalidity);
    assert_ne!(again.id, work.id);
    assert!(matches!(store.delete_mailbox("Work/none"), Err(StorageError::NoSuchMailbox)));
    assert_consistent(&store);
}

#[test]
fn delete_refuses_inbox_and_parents() {
    let fixture = fixture();
    let store = fixture.open("hal");
    store.create_mailbox("a/b", None).unwrap();
    for inbox in ["INBOX", "inbox"] {
        assert!(matches!(store.delete_mailbox(inbox), Err(StorageError::CannotDeleteInbox)));
    }
    assert!(matches!(store.delete_mailbox("a"), Err(StorageError::HasChildren)));
    // `ab` is no child of `a`.
    store.create_mailbox("ab", None).unwrap();
    store.delete_mailbox("a/b").unwrap();
    store.delete_mailbox("a").unwrap();
    assert!(by_name(&store, "ab").is_some());
    assert!(matches!(store.delete_mailbox("a"), Err(StorageError::NoSuchMailbox)));
    assert_consistent(&store);
}

#[test]
fn subscriptions_are_names_not_mailboxes() {
    let fixture = fixture();
    let store = fixture.open("ivy");
    assert!(store.read(|view| view.subscriptions()).unwrap().is_empty());
    for name in ["Sent", "inbox", "Does/not/exist", "Ärger", "Sent"] {
        store.set_subscribed(name, true).unwrap();
    }
    assert_eq!(
        store.read(|view| view.subscriptions()).unwrap(),
        ["Does/not/exist", "INBOX", "Sent", "Ärger"]
    );
    store.set_subscribed("Sent", false).unwrap();
    store.set_subscribed("never", false).unwrap();
    assert_eq!(store.read(|view| view.subscriptions()).unwrap(), ["Does/not/exist", "INBOX", "Ärger"]);
    assert!(matches!(store.set_subscribed("a//b", true), Err(StorageError::InvalidMailboxName { .. })));
    // RENAME leaves subscriptions alone.
    store.set_subscribed("Drafts", true).unwrap();
    store.rename_mailbox("Drafts", "Entwürfe").unwrap();
    assert!(store.read(|view| view.subscriptions()).unwrap().contains(&"Drafts".to_string()));
    assert_consistent(&store);
}

fn limited(fixture: &Fixture, account: &str, mailboxes_max: u32, depth_max: u32) -> AccountStore {
    let options = crate::StoreOptions {
        mailbox_limits: crate::MailboxLimits { mailboxes_max, depth_max },
        ..crate::StoreOptions::default()
    };
    AccountStore::open(&fixture.data, account, &options).unwrap()
}

fn is_limit(
    result: Result<impl std::fmt::Debug, StorageError>,
    limit: crate::MailboxLimit,
    max: u32,
) -> bool {
    matches!(result, Err(StorageError::MailboxLimit { limit: found, max: found_max }) if found == limit && found_max == max)
}

#[test]
fn create_stops_at_the_mailbox_count_with_parents_counted() {
    let fixture = fixture();
    // INBOX and the 5 default mailboxes: room for 4 more.
    let store = limited(&fixture, "carol", 10, 16);
    assert_eq!(names(&store).len(), 6);
    // 4 new mailboxes (3 parents and the leaf) fit exactly: N.
    store.create_mailbox("a/b/c/d", None).unwrap();
    assert_eq!(names(&store).len(), 10);
    // One more: N + 1, refused, nothing created.
    assert!(is_limit(store.create_mailbox("e", None), crate::MailboxLimit::Count, 10));
    // A leaf that would bring parents along is refused whole.
    store.delete_mailbox("a/b/c/d").unwrap();
    let before = names(&store);
    assert!(is_limit(store.create_mailbox("x/y", None), crate::MailboxLimit::Count, 10));
    assert_eq!(names(&store), before);
    store.create_mailbox("x", None).unwrap();
    assert_consistent(&store);
}

#[test]
fn create_and_rename_stop_at_the_depth() {
    let fixture = fixture();
    let store = limited(&fixture, "dave", 100, 3);
    store.create_mailbox("a/b/c", None).unwrap();
    assert!(is_limit(store.create_mailbox("a/b/c/d", None), crate::MailboxLimit::Depth, 3));
    // RENAME of a subtree: the deepest child's new name counts.
    store.create_mailbox("p/q", None).unwrap();
    assert!(is_limit(store.rename_mailbox("p", "a/b/p"), crate::MailboxLimit::Depth, 3));
    assert!(is_limit(store.rename_mailbox("Sent", "a/b/c/Sent"), crate::MailboxLimit::Depth, 3));
    assert!(is_limit(store.rename_mailbox("INBOX", "a/b/c/Old"), crate::MailboxLimit::Depth, 3));
    store.rename_mailbox("p", "a/p").unwrap();
    assert!(by_name(&store, "a/p/q").is_some());
    // One CREATE of 255 bytes would make 128 mailboxes: refused before any is made.
    let long = vec!["a"; 128].join("/");
    assert!(is_limit(store.create_mailbox(&long, None), crate::MailboxLimit::Depth, 3));
    assert_consistent(&store);
}

#[test]
fn rename_counts_the_parents_it_creates() {
    let fixture = fixture();
    let store = limited(&fixture, "erin", 8, 16);
    store.create_mailbox("w", None).unwrap();
    assert_eq!(names(&store).len(), 7);
    // Moving `w` below a new parent adds one mailbox: 8 fits.
    store.rename_mailbox("w", "n/w").unwrap();
    // Two new parents would make 10.
    assert!(is_limit(store.rename_mailbox("n/w", "m/o/w"), crate::MailboxLimit::Count, 8));
    // Renaming INBOX creates the target (and here a parent).
    assert!(is_limit(store.rename_mailbox("INBOX", "q/Old"), crate::MailboxLimit::Count, 8));
    // A rename that adds nothing works even when the account is over a lowered limit.
    drop(store);
    let store = limited(&fixture, "erin", 4, 16);
    store.rename_mailbox("Junk", "Spam").unwrap();
    assert!(is_limit(store.create_mailbox("z", None), crate::MailboxLimit::Count, 4));
    assert_consistent(&store);
}
