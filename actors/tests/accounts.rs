//! Account actors on the real runtime: group commit under concurrent deliveries, change
//! events reaching subscribers on another core, failures answered instead of hanging.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use moxide_actors::kernel::{home_core, join_all};
use moxide_actors::{
    AccountError, AccountSpec, Change, Directory, DirectorySpec, DomainSpec, Node, NodeServices,
    Notification, node_seeds,
};
use moxide_runtime::{RuntimeConfig, run};
use moxide_storage::fault::{FaultAction, FaultPoint};
use moxide_storage::{
    DataDir, FlagOp, Flags, MailboxId, MailboxTarget, NewMessage, StoreCache, StoreOptions, Uid,
};

fn directory() -> Arc<Directory> {
    let accounts = ["alice", "bob", "carol"]
        .iter()
        .map(|name| AccountSpec {
            name: (*name).into(),
            addresses: vec![format!("{name}@example.org")],
            ..Default::default()
        })
        .chain([
            AccountSpec { name: "dave".into(), quota_bytes: Some(QUOTA_BYTES), ..Default::default() },
            AccountSpec { name: "erin".into(), quota_messages: Some(QUOTA_MESSAGES), ..Default::default() },
        ])
        .collect();
    let spec = DirectorySpec {
        domains: vec![DomainSpec {
            name: "example.org".into(),
            localpart_separators: vec![],
            dkim_selectors: vec![],
            ..Default::default()
        }],
        accounts,
        aliases: vec![],
        postmaster_account: "alice".into(),
        routes: Vec::new(),
    };
    Arc::new(Directory::new(&spec).unwrap())
}

/// Runs `test` on core 0 of a `cores`-core runtime with nodes on every core; the other
/// cores serve until the test is done.
fn with_nodes<F, Fut>(cores: usize, data: &Path, test: F)
where
    F: Fn(Node) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    with_nodes_idle(cores, data, Duration::from_secs(60), test);
}

fn with_nodes_idle<F, Fut>(cores: usize, data: &Path, account_idle: Duration, test: F)
where
    F: Fn(Node) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let data = DataDir::open(data).unwrap();
    let services = NodeServices {
        stores: Arc::new(StoreCache::new(data, StoreOptions::default(), 100)),
        directory: directory(),
        account_idle,
    };
    let done = Arc::new(AtomicBool::new(false));
    let test = Arc::new(test);
    let config = RuntimeConfig { pin_to_cpus: false, ..RuntimeConfig::default() };
    run(&config, node_seeds(cores), move |core, seed| {
        let services = services.clone();
        let done = Arc::clone(&done);
        let test = Arc::clone(&test);
        async move {
            let node = Node::start(core, seed, services).await;
            if core.index == 0 {
                test(node).await;
                done.store(true, Ordering::SeqCst);
            } else {
                while !done.load(Ordering::SeqCst) {
                    moxide_runtime::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
    })
    .unwrap();
}

fn spool(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join("tmp").join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn new_message(path: PathBuf, size: u64) -> NewMessage {
    NewMessage {
        spool_path: path,
        size,
        prefix: b"Received: test\r\n".to_vec(),
        mailbox: MailboxTarget::Inbox,
        received_ms: 0,
        flags: Flags::empty(),
        keywords: Vec::new(),
        summary: None,
        saved_ms: None,
    }
}

/// An account not homed on core 0, so requests cross the mesh.
fn remote_account(cores: usize) -> Arc<str> {
    let name = ["alice", "bob", "carol"].into_iter().find(|a| home_core(a, cores) != 0).unwrap();
    Arc::from(name)
}

#[test]
fn concurrent_deliveries_across_cores_get_contiguous_uids() {
    const DELIVERIES: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    with_nodes(2, dir.path(), move |node| {
        let root = root.clone();
        async move {
            let account = remote_account(2);
            let path = spool(&root, "m", b"Subject: hi\r\n\r\nbody\r\n");
            let requests: Vec<_> =
                (0..DELIVERIES).map(|_| node.deliver(&account, new_message(path.clone(), 21))).collect();
            let mut uids: Vec<u32> = join_all(requests).await.into_iter().map(|r| r.unwrap().uid.0).collect();
            uids.sort_unstable();
            assert_eq!(uids, (1..=DELIVERIES as u32).collect::<Vec<_>>());
            let store = node.stores().get(&account).unwrap();
            let inbox = store.read(|v| Ok(v.mailbox_by_name("INBOX")?.unwrap())).unwrap();
            assert_eq!(inbox.messages as usize, DELIVERIES);
            assert_eq!(inbox.uidnext, Uid(DELIVERIES as u32 + 1));
            assert!(store.check_consistency().unwrap().is_ok());
        }
    });
}

/// Account dave's quota.
const QUOTA_BYTES: u64 = 100;

#[test]
fn deliveries_and_appends_past_the_quota_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    with_nodes(2, dir.path(), move |node| {
        let root = root.clone();
        async move {
            let account: Arc<str> = Arc::from("dave");
            let path = spool(&root, "m", b"Subject: hi\r\n\r\nbody\r\n");
            // 21 bytes and a 16-byte Received line: two fit in 100 bytes, a third does not.
            for _ in 0..2 {
                node.deliver(&account, new_message(path.clone(), 21)).await.unwrap();
            }
            let refused = node.deliver(&account, new_message(path.clone(), 21)).await.unwrap_err();
            assert!(
                matches!(refused, AccountError::OverQuota { resource: "bytes", limit: QUOTA_BYTES }),
                "{refused}"
            );
            let refused = node.append(&account, vec![new_message(path.clone(), 21)]).await.unwrap_err();
            assert!(matches!(refused, AccountError::OverQuota { .. }), "{refused}");
            assert_eq!(node.stores().get(&account).unwrap().usage_bytes().unwrap(), 74);
            // Others have no quota.
            node.deliver(&Arc::from("alice"), new_message(path.clone(), 21)).await.unwrap();
        }
    });
}

/// Account erin's message-count limit (RFC 9208 MESSAGE).
const QUOTA_MESSAGES: u64 = 3;

#[test]
fn deliveries_appends_and_copies_past_the_message_limit_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    with_nodes(2, dir.path(), move |node| {
        let root = root.clone();
        async move {
            let account: Arc<str> = Arc::from("erin");
            let path = spool(&root, "m", b"Subject: hi\r\n\r\nbody\r\n");
            node.deliver(&account, new_message(path.clone(), 21)).await.unwrap();
            node.deliver(&account, new_message(path.clone(), 21)).await.unwrap();
            // Two more in one APPEND would make four: all or nothing, so none.
            let two = vec![new_message(path.clone(), 21), new_message(path.clone(), 21)];
            let refused = node.append(&account, two).await.unwrap_err();
            assert!(
                matches!(refused, AccountError::OverQuota { resource: "messages", limit: 3 }),
                "{refused}"
            );
            let delivered = node.deliver(&account, new_message(path.clone(), 21)).await.unwrap();
            assert_eq!(node.stores().get(&account).unwrap().usage().unwrap().1, QUOTA_MESSAGES);
            let refused = node.deliver(&account, new_message(path.clone(), 21)).await.unwrap_err();
            assert!(matches!(refused, AccountError::OverQuota { resource: "messages", .. }), "{refused}");
            let refused = node
                .copy(&account, delivered.mailbox, vec![delivered.uid], delivered.mailbox)
                .await
                .unwrap_err();
            assert!(matches!(refused, AccountError::OverQuota { resource: "messages", .. }), "{refused}");
        }
    });
}

#[test]
fn group_commit_batches_on_one_core() {
    const DELIVERIES: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    with_nodes(1, dir.path(), move |node| {
        let root = root.clone();
        async move {
            let account: Arc<str> = Arc::from("alice");
            let path = spool(&root, "m", b"x\r\n");
            let requests: Vec<_> =
                (0..DELIVERIES).map(|_| node.deliver(&account, new_message(path.clone(), 3))).collect();
            for result in join_all(requests).await {
                result.unwrap();
            }
            let stats = node.stats();
            assert_eq!(stats.writes as usize, DELIVERIES);
            // 300 concurrent requests must not cost 300 transactions: while one commits,
            // the rest queue and go together.
            assert!(stats.commits * 10 <= DELIVERIES as u64, "{stats:?}");
        }
    });
}

#[test]
fn subscribers_on_another_core_see_changes_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    with_nodes(2, dir.path(), move |node| {
        let root = root.clone();
        async move {
            let account = remote_account(2);
            let subscription = node.subscribe(&account).await.unwrap();
            let second = node.subscribe(&account).await.unwrap();
            let path = spool(&root, "m", b"a\r\n");
            for _ in 0..3 {
                node.deliver(&account, new_message(path.clone(), 3)).await.unwrap();
            }
            let mut added = Vec::new();
            while added.len() < 3 {
                match subscription.next().await {
                    Notification::Changes(batch) => {
                        assert_eq!(&*batch.account, &*account);
                        for change in batch.changes.iter() {
                            match change {
                                Change::Added { uid, size, .. } => {
                                    assert_eq!(*size, 3 + "Received: test\r\n".len() as u64);
                                    added.push(uid.0);
                                }
                                other => panic!("unexpected {other:?}"),
                            }
                        }
                    }
                    Notification::Overflowed => panic!("no overflow expected"),
                }
            }
            assert_eq!(added, vec![1, 2, 3]);
            let inbox = node
                .stores()
                .get(&account)
                .unwrap()
                .read(|v| Ok(v.mailbox_by_name("INBOX")?.unwrap()))
                .unwrap();
            node.store_flags(&account, inbox.id, vec![Uid(2)], FlagOp::Add, Flags::SEEN, vec![], None)
                .await
                .unwrap();
            node.expunge(&account, inbox.id, vec![Uid(1), Uid(3)]).await.unwrap();
            let mut rest = Vec::new();
            while rest.len() < 2 {
                if let Notification::Changes(batch) = subscription.next().await {
                    rest.extend(batch.changes.iter().cloned());
                }
            }
            assert!(
                matches!(&rest[0], Change::Flags { uid: Uid(2), flags, .. } if flags.contains(Flags::SEEN))
            );
            assert!(matches!(&rest[1], Change::Expunged { uids, .. } if uids == &vec![Uid(1), Uid(3)]));
            // The second subscriber on this core got the same stream.
            let mut count = 0;
            while let Some(Notification::Changes(batch)) = second.try_next() {
                count += batch.changes.len();
            }
            assert_eq!(count, 5);
        }
    });
}

#[test]
fn failures_are_answered_not_hung() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    with_nodes(2, dir.path(), move |node| {
        let root = root.clone();
        async move {
            // A spool file shorter than announced: that delivery fails, the store goes on.
            let account = remote_account(2);
            let path = spool(&root, "short", b"abc");
            let error = node.deliver(&account, new_message(path.clone(), 10)).await.unwrap_err();
            assert!(matches!(error, AccountError::Delivery(_)), "{error:?}");
            node.deliver(&account, new_message(path, 3)).await.unwrap();
            // An account whose store cannot be opened (invalid name): an error, not a hang.
            let bad: Arc<str> = Arc::from("../escape");
            let error = node.deliver(&bad, new_message(root.join("tmp/none"), 1)).await.unwrap_err();
            assert!(matches!(error, AccountError::Storage(_)), "{error:?}");
        }
    });
}

#[test]
fn idle_actors_stop_and_restart_on_demand() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    with_nodes_idle(1, dir.path(), Duration::from_millis(30), move |node| {
        let root = root.clone();
        async move {
            let account: Arc<str> = Arc::from("bob");
            let path = spool(&root, "m", b"a\r\n");
            node.deliver(&account, new_message(path.clone(), 3)).await.unwrap();
            assert_eq!(node.actor_count(), 1);
            moxide_runtime::time::sleep(Duration::from_millis(200)).await;
            assert_eq!(node.actor_count(), 0, "an idle actor without subscribers stops");
            let subscription = node.subscribe(&account).await.unwrap();
            moxide_runtime::time::sleep(Duration::from_millis(200)).await;
            assert_eq!(node.actor_count(), 1, "a subscribed account's actor stays");
            let delivered = node.deliver(&account, new_message(path, 3)).await.unwrap();
            assert_eq!(delivered.uid, Uid(2));
            assert!(matches!(subscription.next().await, Notification::Changes(_)));
            drop(subscription);
            moxide_runtime::time::sleep(Duration::from_millis(300)).await;
            assert_eq!(node.actor_count(), 0, "unsubscribed, it stops again");
        }
    });
}

/// Issue 10: a write that panics later in a batch used to fail every request of the
/// batch, deliveries whose transaction had committed included (SMTP answered 451 for
/// stored mail, the sender retried, the user got it twice) and their change events were
/// skipped. Committed means answered as committed, and published.
#[test]
fn a_panic_later_in_the_batch_does_not_fail_committed_deliveries() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    with_nodes(1, dir.path(), move |node| {
        let root = root.clone();
        async move {
            let account: Arc<str> = Arc::from("alice");
            let path = spool(&root, "m", b"x\r\n");
            node.deliver(&account, new_message(path.clone(), 3)).await.unwrap();
            let subscription = node.subscribe(&account).await.unwrap();
            let inbox = node
                .stores()
                .get(&account)
                .unwrap()
                .read(|v| Ok(v.mailbox_by_name("INBOX")?.unwrap()))
                .unwrap();
            let commits = node.stats().commits;
            // The batch's first commit (the delivery) passes; the second (STORE) panics.
            moxide_storage::fault::arm(&root, FaultPoint::Commit, FaultAction::Panic, 1);
            let delivered = node.deliver(&account, new_message(path.clone(), 3));
            let flagged =
                node.store_flags(&account, inbox.id, vec![Uid(1)], FlagOp::Add, Flags::SEEN, vec![], None);
            let (delivered, flagged) = futures_join(delivered, flagged).await;
            moxide_storage::fault::disarm();
            assert_eq!(node.stats().commits, commits + 1, "both requests in one batch");
            let delivered = delivered
                .unwrap_or_else(|e| panic!("the committed delivery is answered as committed: {e:?}"));
            assert_eq!(delivered.uid, Uid(2));
            assert!(matches!(flagged, Err(AccountError::Panicked(_))), "{flagged:?}");
            let Notification::Changes(batch) = subscription.next().await else { panic!("overflow") };
            assert!(matches!(batch.changes[0], Change::Added { uid: Uid(2), .. }), "{:?}", batch.changes);
            let report = node.stores().get(&account).unwrap().check_consistency().unwrap();
            assert!(report.is_ok(), "{report:?}");
        }
    });
}

/// RFC 3502: a MULTIAPPEND with one bad message stores nothing, in one transaction: no
/// UID used, no tombstone, no modseq spent (it used to deliver the others and expunge them
/// again, which a crash in between left half done).
#[test]
fn multiappend_is_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    with_nodes(1, dir.path(), move |node| {
        let root = root.clone();
        async move {
            let account: Arc<str> = Arc::from("alice");
            let good = spool(&root, "good", b"abc\r\n");
            let short = spool(&root, "short", b"ab");
            let store = node.stores().get(&account).unwrap();
            let before = store.read(|v| Ok(v.mailbox_by_name("INBOX")?.unwrap())).unwrap();
            let messages =
                vec![new_message(good.clone(), 5), new_message(short, 9), new_message(good.clone(), 5)];
            let error = node.append(&account, messages).await.unwrap_err();
            assert!(matches!(error, AccountError::Delivery(_)), "{error:?}");
            let after = store.read(|v| Ok(v.mailbox_by_name("INBOX")?.unwrap())).unwrap();
            assert_eq!(before, after, "a refused MULTIAPPEND leaves no trace");
            let done = node
                .append(&account, vec![new_message(good.clone(), 5), new_message(good, 5)])
                .await
                .unwrap();
            assert_eq!(done.iter().map(|d| d.uid.0).collect::<Vec<_>>(), vec![1, 2]);
            assert!(store.check_consistency().unwrap().is_ok());
        }
    });
}

/// Both futures polled together (so both requests reach the actor in one batch).
async fn futures_join<A: std::future::Future, B: std::future::Future>(a: A, b: B) -> (A::Output, B::Output) {
    futures_lite::future::zip(a, b).await
}

/// Deferred removal: an expunged message's file stays while an open view (an IMAP
/// session that has not reported the expunge) may show it, and the actor removes it
/// with its next batch once no view does.
#[test]
fn expunged_files_stay_until_no_view_shows_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    with_nodes(1, dir.path(), move |node| {
        let root = root.clone();
        async move {
            let account: Arc<str> = Arc::from("alice");
            let path = spool(&root, "kept", b"Subject: kept\r\n\r\nbody\r\n");
            let delivered = node.deliver(&account, new_message(path, 23)).await.unwrap();
            let store = node.stores().get(&account).unwrap();
            let view = store.open_view().unwrap();
            node.expunge(&account, delivered.mailbox, vec![delivered.uid]).await.unwrap();
            let file = store.message_path(delivered.id);
            assert!(file.exists(), "kept for the view that still shows it");
            let kept = store.read(|v| v.expunged_message(delivered.mailbox, delivered.uid)).unwrap();
            assert_eq!(kept.map(|info| info.id), Some(delivered.id));
            // The view reports the expunge; the next batch purges.
            view.advance(store.read(|v| v.highest_modseq()).unwrap());
            node.set_subscribed(&account, "Other".into(), true).await.unwrap();
            // The purge follows the batch's replies.
            for _ in 0..500 {
                if !file.exists() {
                    break;
                }
                moxide_runtime::time::sleep(Duration::from_millis(10)).await;
            }
            assert!(!file.exists(), "removed once no view shows it");
            assert!(store.check_consistency().unwrap().is_ok());
        }
    });
}

/// NOTIFY's MailboxName and SubscriptionChange (RFC 5465 §5.4, §5.5): a change per
/// mailbox created, deleted or renamed (a RENAME names the ancestors it created and each
/// renamed child with its old name), and per (un)subscription.
#[test]
fn mailbox_name_and_subscription_changes_are_published() {
    let dir = tempfile::tempdir().unwrap();
    with_nodes(1, dir.path(), move |node| async move {
        let account: Arc<str> = Arc::from("bob");
        let subscription = node.subscribe(&account).await.unwrap();
        node.create_mailbox(&account, "a".to_owned(), None).await.unwrap();
        node.create_mailbox(&account, "a/b".to_owned(), None).await.unwrap();
        node.rename_mailbox(&account, "a".to_owned(), "x/y".to_owned()).await.unwrap();
        node.set_subscribed(&account, "x/y".to_owned(), true).await.unwrap();
        node.delete_mailbox(&account, "x/y/b".to_owned()).await.unwrap();
        let mut changes = Vec::new();
        while changes.len() < 7 {
            let Notification::Changes(batch) = subscription.next().await else { panic!("overflow") };
            changes.extend(batch.changes.iter().cloned());
        }
        let name = |from: Option<&str>, to: Option<&str>| Change::MailboxName {
            from: from.map(str::to_owned),
            to: to.map(str::to_owned),
        };
        assert_eq!(
            changes,
            vec![
                name(None, Some("a")),
                name(None, Some("a/b")),
                name(None, Some("x")),
                name(Some("a"), Some("x/y")),
                name(Some("a/b"), Some("x/y/b")),
                Change::Subscription { name: "x/y".to_owned(), subscribed: true },
                name(Some("x/y/b"), None),
            ]
        );
    });
}

/// RENAME INBOX moves every message (RFC 9051 §6.3.6), so it publishes what a MOVE does
/// after the new mailbox's name: the messages added there and expunged from INBOX. A
/// session showing INBOX sees the expunges at once, and NOTIFY reports both mailboxes.
#[test]
fn rename_inbox_publishes_the_moved_messages() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    with_nodes(1, dir.path(), move |node| {
        let root = root.clone();
        async move {
            let account: Arc<str> = Arc::from("bob");
            let path = spool(&root, "m", b"a\r\n");
            for _ in 0..2 {
                node.deliver(&account, new_message(path.clone(), 3)).await.unwrap();
            }
            let subscription = node.subscribe(&account).await.unwrap();
            node.rename_mailbox(&account, "INBOX".to_owned(), "Old".to_owned()).await.unwrap();
            let Notification::Changes(batch) = subscription.next().await else { panic!("overflow") };
            let changes = &batch.changes[..];
            assert_eq!(changes.len(), 4, "{changes:?}");
            assert_eq!(changes[0], Change::MailboxName { from: None, to: Some("Old".to_owned()) });
            let added: Vec<(MailboxId, u32)> = changes[1..3]
                .iter()
                .map(|c| match c {
                    Change::Added { mailbox, uid, .. } => (*mailbox, uid.0),
                    other => panic!("not an addition: {other:?}"),
                })
                .collect();
            assert_eq!(added.iter().map(|a| a.1).collect::<Vec<_>>(), [1, 2]);
            let Change::Expunged { mailbox, uids, .. } = &changes[3] else { panic!("{changes:?}") };
            assert_ne!(*mailbox, added[0].0, "expunged from INBOX, added to Old");
            assert_eq!(uids.iter().map(|u| u.0).collect::<Vec<_>>(), [1, 2]);
        }
    });
}

/// SETMETADATA goes through the account actor like every write: committed, then
/// published as a metadata change (what NOTIFY will report), and refused whole past a
/// limit.
#[test]
fn metadata_writes_are_committed_and_published() {
    let dir = tempfile::tempdir().unwrap();
    with_nodes(1, dir.path(), move |node| async move {
        let account: Arc<str> = Arc::from("bob");
        let subscription = node.subscribe(&account).await.unwrap();
        let set = |name: &str| (name.to_owned(), Some(b"v".to_vec()));
        node.set_metadata(&account, None, vec![set("/shared/comment")]).await.unwrap();
        node.set_metadata(&account, Some("INBOX".to_owned()), vec![set("/private/comment")]).await.unwrap();
        let Notification::Changes(batch) = subscription.next().await else { panic!("overflow") };
        assert!(matches!(batch.changes[..], [Change::ServerMetadata { .. }]), "{batch:?}");
        let Notification::Changes(batch) = subscription.next().await else { panic!("overflow") };
        assert!(matches!(batch.changes[..], [Change::MailboxMetadata { .. }]), "{batch:?}");
        assert_eq!(batch.changes[0].mailbox(), None, "a metadata change wakes no message view");
        let Change::MailboxMetadata { entries, .. } = &batch.changes[0] else { panic!("{batch:?}") };
        assert_eq!(entries, &["/private/comment".to_owned()], "NOTIFY names the entries");
        let many: Vec<_> = (0..=moxide_storage::METADATA_ENTRIES_PER_MAILBOX_MAX)
            .map(|n| set(&format!("/shared/e{n}")))
            .collect();
        let error = node.set_metadata(&account, None, many).await.unwrap_err();
        assert!(format!("{error}").contains("metadata limit"), "{error}");
        let error = node.set_metadata(&account, Some("nosuch".to_owned()), vec![set("/shared/x")]).await;
        assert!(error.is_err());
    });
}

#[test]
fn a_fan_out_to_many_subscribers_keeps_each_one_in_commit_order() {
    // More subscribers than one turn of the fan-out wakes: the rest are woken in later
    // turns, and batches committed meanwhile queue behind, never overtaking.
    const SUBSCRIBERS: usize = 3 * moxide_actors::FANOUT_WAKES_PER_TURN_MAX + 5;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    with_nodes(2, dir.path(), move |node| {
        let root = root.clone();
        async move {
            let account = remote_account(2);
            let mut subscriptions = Vec::new();
            for _ in 0..SUBSCRIBERS {
                subscriptions.push(node.subscribe(&account).await.unwrap());
            }
            let path = spool(&root, "m", b"a\r\n");
            let deliveries = (0..6).map(|_| node.deliver(&account, new_message(path.clone(), 3))).collect();
            for delivered in join_all(deliveries).await {
                delivered.unwrap();
            }
            let inbox = node
                .stores()
                .get(&account)
                .unwrap()
                .read(|v| Ok(v.mailbox_by_name("INBOX")?.unwrap()))
                .unwrap();
            node.expunge(&account, inbox.id, vec![Uid(2)]).await.unwrap();
            for subscription in &subscriptions {
                let mut seen = Vec::new();
                while seen.len() < 7 {
                    let Notification::Changes(batch) = subscription.next().await else {
                        panic!("no overflow expected")
                    };
                    for change in batch.changes.iter() {
                        match change {
                            Change::Added { uid, .. } => seen.push(uid.0),
                            Change::Expunged { uids, .. } => seen.extend(uids.iter().map(|uid| 100 + uid.0)),
                            other => panic!("unexpected {other:?}"),
                        }
                    }
                }
                assert_eq!(seen, vec![1, 2, 3, 4, 5, 6, 102]);
            }
        }
    });
}
