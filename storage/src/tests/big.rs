//! Fast reads: `uids` and `for_each_uid` on small mailboxes (both walk strategies), and a
//! 100k-message mailbox with the timings printed (no timing assertions).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ops::ControlFlow;
use std::time::Instant;

use super::{assert_consistent, body, deliver_one, fixture, inbox, new_message};
use crate::{AccountStore, DELIVERY_BATCH_MAX, MailboxId, MailboxTarget, Uid};

/// UIDs `for_each_uid` visits for `wanted`, stopping after `stop_after` records.
fn visited(store: &AccountStore, mailbox: MailboxId, wanted: &[Uid], stop_after: usize) -> Vec<Uid> {
    let mut seen = Vec::new();
    store
        .read(|view| {
            view.for_each_uid(mailbox, wanted, |record| {
                assert_eq!(record.mailbox(), mailbox);
                seen.push(record.uid());
                if seen.len() == stop_after { ControlFlow::Break(()) } else { ControlFlow::Continue(()) }
            })
        })
        .unwrap();
    seen
}

#[test]
fn uids_and_for_each_uid_skip_missing_and_sort() {
    let fixture = fixture();
    let store = fixture.open("alice");
    let inbox = inbox(&store);
    for n in 0..40 {
        deliver_one(&fixture, &store, &body(n), MailboxTarget::Inbox);
    }
    store.expunge(inbox, &[Uid(5), Uid(6), Uid(30)]).unwrap();
    let all = store.read(|view| view.uids(inbox)).unwrap();
    assert_eq!(all.len(), 37);
    assert!(all.windows(2).all(|pair| pair[0] < pair[1]));
    assert!(!all.contains(&Uid(5)) && !all.contains(&Uid(30)));
    assert!(store.read(|view| view.uids(MailboxId(99))).unwrap().is_empty());
    let sent = store.read(|view| view.mailbox_by_name("Sent")).unwrap().unwrap();
    assert!(store.read(|view| view.uids(sent.id)).unwrap().is_empty());

    let u = |list: &[u32]| list.iter().map(|&n| Uid(n)).collect::<Vec<_>>();
    // Dense (one cursor pass): missing ones skipped.
    assert_eq!(visited(&store, inbox, &u(&[3, 4, 5, 6, 7, 8]), usize::MAX), u(&[3, 4, 7, 8]));
    // Sparse (point lookups), including UIDs past the end.
    assert_eq!(visited(&store, inbox, &u(&[1, 30, 40, 1000]), usize::MAX), u(&[1, 40]));
    // Unsorted with duplicates: sorted, each once.
    assert_eq!(visited(&store, inbox, &u(&[9, 2, 9, 1, 40]), usize::MAX), u(&[1, 2, 9, 40]));
    // Break stops the walk, in both strategies.
    assert_eq!(visited(&store, inbox, &u(&[1, 2, 3, 4]), 2), u(&[1, 2]));
    assert_eq!(visited(&store, inbox, &u(&[1, 20, 40]), 1), u(&[1]));
    assert!(visited(&store, inbox, &[], usize::MAX).is_empty());
    assert!(visited(&store, MailboxId(99), &u(&[1]), usize::MAX).is_empty());
    assert_eq!(visited(&store, inbox, &all, usize::MAX), all);
}

/// Messages in the big mailbox.
const BIG_MESSAGES: u32 = 100_000;

#[test]
fn big_mailbox_of_100k_messages() {
    let fixture = fixture();
    let store = fixture.open("big");
    let inbox = inbox(&store);
    let started = Instant::now();
    let mut delivered = 0u32;
    let mut batch_number = 0u64;
    while delivered < BIG_MESSAGES {
        let count = (BIG_MESSAGES - delivered).min(DELIVERY_BATCH_MAX as u32);
        // One spool file per batch: each file gets `count` links, far below ext4's 65000.
        let bytes = body(batch_number);
        let spool = fixture.spool(&bytes);
        let batch: Vec<_> =
            (0..count).map(|_| new_message(spool.clone(), &bytes, MailboxTarget::Inbox)).collect();
        for result in store.deliver(&batch).unwrap() {
            result.unwrap();
        }
        delivered += count;
        batch_number += 1;
    }
    let delivery = started.elapsed();

    let started = Instant::now();
    let uids = store.read(|view| view.uids(inbox)).unwrap();
    let uids_time = started.elapsed();
    assert_eq!(uids.len(), BIG_MESSAGES as usize);
    assert_eq!(uids.last(), Some(&Uid(BIG_MESSAGES)));

    let started = Instant::now();
    let mut walked = 0u32;
    let mut size_bytes = 0u64;
    store
        .read(|view| {
            view.for_each_message(inbox, Uid(1), Uid(u32::MAX), |record| {
                walked += 1;
                size_bytes += record.served_size();
                ControlFlow::Continue(())
            })
        })
        .unwrap();
    let walk_time = started.elapsed();
    assert_eq!(walked, BIG_MESSAGES);
    assert_eq!(store.read(|view| view.mailbox(inbox)).unwrap().unwrap().size_bytes, size_bytes);

    let every_third: Vec<Uid> = uids.iter().copied().step_by(3).collect();
    let started = Instant::now();
    let dense = visited(&store, inbox, &every_third, usize::MAX);
    let dense_time = started.elapsed();
    assert_eq!(dense, every_third);
    let sparse: Vec<Uid> = uids.iter().copied().step_by(997).collect();
    let started = Instant::now();
    assert_eq!(visited(&store, inbox, &sparse, usize::MAX), sparse);
    let sparse_time = started.elapsed();

    println!(
        "{BIG_MESSAGES} messages: deliver {delivery:?} ({batch_number} batches), uids {uids_time:?}, \
         for_each_message {walk_time:?}, for_each_uid every 3rd {dense_time:?}, \
         every 997th {sparse_time:?}, map {} MiB",
        store.map_size_bytes() >> 20
    );
    let started = Instant::now();
    assert_consistent(&store);
    println!("check_consistency {:?}", started.elapsed());
}
