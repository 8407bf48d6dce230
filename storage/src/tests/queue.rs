//! The outbound queue store: enqueue and reopen, grouping by domain, the schedule,
//! attempt results with DSNs in the same transaction, hold/release/retry/remove, and
//! crash points (injected faults; orphan files swept at open); the sending policy (send
//! record and its window, suppression lists, hold rules matched at enqueue).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;

use super::faults::armed;
use super::{Fixture, fixture};
use crate::fault::{FaultAction, FaultPoint, disarm};
use crate::queue::{
    Destination, HoldRule, NewQueued, QUEUE_DUE_BATCH_MAX, QUEUE_DUE_SCAN_MAX, QUEUE_INLINE_BYTES_MAX,
    QueueFilter, QueueId, QueueStore, QueueUpdate, QueuedBody, QueuedContent, QueuedMessage, QueuedRecipient,
    SEND_WINDOW_MS, SendLimitKind, SendQuota, StoredReply, Suppression,
};
use crate::{StorageError, StoreOptions};

fn open(fixture: &Fixture) -> QueueStore {
    QueueStore::open(&fixture.data, &StoreOptions::default()).unwrap()
}

fn recipient(address: &str) -> QueuedRecipient {
    QueuedRecipient {
        address: address.into(),
        notify: None,
        original: None,
        last_result: None,
        account: None,
    }
}

fn new_queued(fixture: &Fixture, bytes: &[u8], recipients: &[&str], at_ms: i64) -> NewQueued {
    queued(QueuedContent::File(fixture.spool(bytes)), bytes.len(), recipients, at_ms)
}

/// [`new_queued`] with its bytes inline (no spool file).
fn new_inline(bytes: &[u8], recipients: &[&str], at_ms: i64) -> NewQueued {
    queued(QueuedContent::Inline(std::sync::Arc::from(bytes)), bytes.len(), recipients, at_ms)
}

fn queued(content: QueuedContent, size: usize, recipients: &[&str], at_ms: i64) -> NewQueued {
    NewQueued {
        content,
        message: QueuedMessage {
            id: QueueId(0),
            queued_ms: at_ms,
            sender_account: "alice".into(),
            mail_from: "alice@local.example".into(),
            size_bytes: size as u64,
            prefix: b"DKIM-Signature: x\r\n".to_vec(),
            smtputf8: false,
            body: QueuedBody::SevenBit,
            requiretls: false,
            envid: None,
            return_headers_only: false,
            to_junk: false,
            tls_optional: false,
            tls_report: false,
        },
        recipients: recipients.iter().map(|r| recipient(r)).collect(),
        first_attempt_ms: at_ms,
        held: false,
        send_quota: None,
    }
}

fn queue_files(fixture: &Fixture) -> usize {
    let msg = fixture.data.root().join("queue/msg");
    fs::read_dir(msg).unwrap().map(|dir| fs::read_dir(dir.unwrap().path()).unwrap().count()).sum()
}

#[test]
fn enqueue_groups_by_domain_and_survives_reopen() {
    let fixture = fixture();
    let store = open(&fixture);
    let new = new_queued(
        &fixture,
        b"Subject: a\r\n\r\nbody\r\n",
        &["a@x.example", "b@Y.example", "c@X.EXAMPLE"],
        1000,
    );
    let QueuedContent::File(spool) = new.content.clone() else { unreachable!() };
    let ids = store.enqueue(std::slice::from_ref(&new)).unwrap();
    assert_eq!(ids, [QueueId(1)]);
    drop(store);
    let store = open(&fixture);
    let message = store.message(ids[0]).unwrap().unwrap();
    assert_eq!(message.prefix, b"DKIM-Signature: x\r\n");
    let destinations = store.destinations(ids[0]).unwrap();
    let domains: Vec<(&str, usize)> =
        destinations.iter().map(|d| (d.domain.as_str(), d.recipients.len())).collect();
    assert_eq!(domains, [("x.example", 2), ("y.example", 1)]);
    // One file shared with the spool (a hard link), not a copy per recipient.
    let path = store.message_path(ids[0]);
    assert_eq!(fs::read(&path).unwrap(), b"Subject: a\r\n\r\nbody\r\n");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(fs::metadata(&path).unwrap().ino(), fs::metadata(&spool).unwrap().ino());
    assert_eq!(store.enqueue(&[new_queued(&fixture, b"x", &["d@z.example"], 0)]).unwrap(), [QueueId(2)]);
}

/// A small message kept inline: no file anywhere in the queue, its bytes back exactly
/// (one chunk, several, the largest allowed, none) after a reopen, and gone with its
/// records when its last destination is removed.
#[test]
fn inline_messages_live_and_leave_with_their_records() {
    let fixture = fixture();
    let store = open(&fixture);
    let sizes = [0, 1, 1999, 2000, 2001, 10_000, QUEUE_INLINE_BYTES_MAX];
    let bodies: Vec<Vec<u8>> =
        sizes.iter().map(|&n| (0..n).map(|i| b"abcdefghij\r\n"[i % 12]).collect()).collect();
    let batch: Vec<NewQueued> = bodies.iter().map(|b| new_inline(b, &["a@x.example"], 0)).collect();
    let ids = store.enqueue(&batch).unwrap();
    // A file-backed message between inline ones keeps its file.
    let filed = store.enqueue(&[new_queued(&fixture, b"filed", &["a@y.example"], 0)]).unwrap()[0];
    let after = store.enqueue(&[new_inline(b"after", &["a@z.example"], 0)]).unwrap()[0];
    assert_eq!(queue_files(&fixture), 1);
    assert_eq!(store.remembered(ids[1]).as_deref(), Some(&bodies[1][..]));
    drop(store);
    let store = open(&fixture);
    assert_eq!(queue_files(&fixture), 1, "the sweep at open leaves inline messages alone");
    for (id, body) in ids.iter().zip(&bodies) {
        let (message, content) = store.message_with_content(*id).unwrap().unwrap();
        assert_eq!(message.size_bytes, body.len() as u64);
        assert!(matches!(content, QueuedContent::Inline(bytes) if bytes[..] == body[..]), "{}", body.len());
    }
    let (_, content) = store.message_with_content(filed).unwrap().unwrap();
    assert!(matches!(content, QueuedContent::File(path) if path == store.message_path(filed)));
    assert!(
        matches!(store.message_with_content(after).unwrap(), Some((_, QueuedContent::Inline(b))) if &b[..] == b"after")
    );
    // Removing every destination removes the bytes; the neighbours keep theirs.
    let removed =
        store.remove(&QueueFilter { domain: Some("x.example".into()), ..Default::default() }).unwrap();
    assert_eq!(removed, sizes.len());
    for id in &ids {
        assert!(store.message_with_content(*id).unwrap().is_none());
        assert!(store.remembered(*id).is_none());
    }
    assert!(
        matches!(store.message_with_content(after).unwrap(), Some((_, QueuedContent::Inline(b))) if &b[..] == b"after")
    );
    assert_eq!(queue_files(&fixture), 1);
    // More messages after the removals still append behind the last id.
    let later = store.enqueue(&[new_inline(b"later", &["a@x.example"], 0)]).unwrap()[0];
    assert!(later > after);
    assert!(
        matches!(store.message_with_content(later).unwrap(), Some((_, QueuedContent::Inline(b))) if &b[..] == b"later")
    );
}

/// Inline bytes over the limit, or not the size the record says, are refused before
/// anything is written.
#[test]
fn inline_bytes_must_fit_and_match_the_size() {
    let fixture = fixture();
    let store = open(&fixture);
    let too_big = vec![b'x'; QUEUE_INLINE_BYTES_MAX + 1];
    assert!(matches!(
        store.enqueue(&[new_inline(&too_big, &["a@x.example"], 0)]),
        Err(StorageError::Corrupt { .. })
    ));
    let mut lying = new_inline(b"four", &["a@x.example"], 0);
    lying.message.size_bytes = 5;
    assert!(matches!(store.enqueue(&[lying]), Err(StorageError::Corrupt { .. })));
    assert_eq!(store.list().unwrap().len(), 0);
    assert_eq!(store.enqueue(&[new_inline(b"four", &["a@x.example"], 0)]).unwrap(), [QueueId(1)]);
}

#[test]
fn the_schedule_gives_due_destinations_earliest_first() {
    let fixture = fixture();
    let store = open(&fixture);
    store.enqueue(&[new_queued(&fixture, b"1", &["a@x.example"], 5000)]).unwrap();
    store.enqueue(&[new_queued(&fixture, b"2", &["a@y.example"], 2000)]).unwrap();
    assert_eq!(store.next_due_ms().unwrap(), Some(2000));
    assert!(store.due(1999, 10).unwrap().is_empty());
    let due = store.due(5000, 10).unwrap();
    let domains: Vec<&str> = due.iter().map(|d| d.domain.as_str()).collect();
    assert_eq!(domains, ["y.example", "x.example"]);
    assert_eq!(store.due(5000, 1).unwrap().len(), 1);
}

/// The run loop's look: busy domains left out, and at most `QUEUE_DUE_SCAN_MAX` due
/// entries read, so a backlog it refuses bounds the work of each look.
#[test]
fn due_where_leaves_out_refused_domains_within_its_scan() {
    let fixture = fixture();
    let store = open(&fixture);
    let busy: Vec<NewQueued> =
        (0..QUEUE_DUE_SCAN_MAX).map(|n| new_queued(&fixture, b"b", &["a@busy.example"], n as i64)).collect();
    store.enqueue(&busy).unwrap();
    store.enqueue(&[new_queued(&fixture, b"o", &["a@other.example"], 1_000_000)]).unwrap();
    let not_busy = |d: &Destination| d.domain != "busy.example";
    assert!(store.due_where(1_000_000, 10, not_busy).unwrap().is_empty(), "past the scan");
    assert_eq!(store.due(1_000_000, 5000).unwrap().len(), QUEUE_DUE_BATCH_MAX);
    store.enqueue(&[new_queued(&fixture, b"p", &["a@other.example"], 0)]).unwrap();
    let due = store.due_where(1_000_000, 10, not_busy).unwrap();
    assert_eq!(due.iter().map(|d| d.domain.as_str()).collect::<Vec<_>>(), ["other.example"]);
}

fn reply(code: u16, text: &str) -> StoredReply {
    StoredReply { code, enhanced: None, text: text.into(), remote_host: "mx.x.example".into() }
}

#[test]
fn attempt_results_and_their_dsn_commit_together() {
    let fixture = fixture();
    let store = open(&fixture);
    let ids = store.enqueue(&[new_queued(&fixture, b"m", &["a@x.example", "b@x.example"], 0)]).unwrap();
    let mut destination = store.due(0, 10).unwrap().remove(0);
    // a was delivered, b failed temporarily: b stays, retried later.
    destination.recipients.remove(0);
    destination.recipients[0].last_result = Some(reply(451, "try later"));
    destination.attempts = 1;
    destination.last_attempt_ms = Some(0);
    destination.next_attempt_ms = 450_000;
    store.apply(&[QueueUpdate::Put(destination.clone())], &[]).unwrap();
    assert!(store.due(449_999, 10).unwrap().is_empty());
    let due = store.due(450_000, 10).unwrap();
    assert_eq!(due, [destination.clone()]);
    // b fails for good: the destination goes, a DSN is queued in the same transaction,
    // and the message (record and file) is removed.
    let dsn = new_queued(&fixture, b"dsn", &["alice@local.example"], 450_000);
    let new_ids = store.apply(&[QueueUpdate::Remove(destination.key)], &[dsn]).unwrap();
    assert_eq!(new_ids, [QueueId(2)]);
    assert_eq!(store.message(ids[0]).unwrap(), None);
    assert!(!store.message_path(ids[0]).exists());
    assert!(store.message_path(new_ids[0]).exists());
    assert_eq!(queue_files(&fixture), 1);
}

#[test]
fn hold_release_retry_remove() {
    let fixture = fixture();
    let store = open(&fixture);
    let ids = store.enqueue(&[new_queued(&fixture, b"m", &["a@x.example", "b@y.example"], 100_000)]).unwrap();
    let y = QueueFilter { domain: Some("Y.example".into()), ..QueueFilter::default() };
    assert_eq!(store.set_held(&y, true).unwrap(), 1);
    assert_eq!(store.set_held(&y, true).unwrap(), 0, "already held");
    let due: Vec<Destination> = store.due(i64::MAX, 10).unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].domain, "x.example");
    assert_eq!(store.set_held(&y, false).unwrap(), 1);
    assert_eq!(store.due(i64::MAX, 10).unwrap().len(), 2);
    assert_eq!(store.retry_now(&QueueFilter { message: Some(ids[0]), domain: None }, 5).unwrap(), 2);
    assert_eq!(store.next_due_ms().unwrap(), Some(5));
    assert_eq!(store.remove(&y).unwrap(), 1);
    assert!(store.message(ids[0]).unwrap().is_some(), "x.example is still queued");
    assert_eq!(store.remove(&QueueFilter::default()).unwrap(), 1);
    assert_eq!(store.message(ids[0]).unwrap(), None);
    assert_eq!(queue_files(&fixture), 0);
    assert!(store.list().unwrap().is_empty());
}

/// Pages by id with a filter; the cursor continues where the page stopped.
#[test]
fn pages_by_id_with_a_filter() {
    let fixture = fixture();
    let store = open(&fixture);
    for i in 0..7 {
        let domain = if i % 2 == 0 { "even.example" } else { "odd.example" };
        store.enqueue(&[new_queued(&fixture, b"m", &[&format!("r{i}@{domain}")], 0)]).unwrap();
    }
    let even = |_: &QueuedMessage, d: &[Destination]| d.iter().any(|d| d.domain == "even.example");
    let first = store.page(None, 2, even).unwrap();
    let ids: Vec<u64> = first.messages.iter().map(|(m, _)| m.id.0).collect();
    assert_eq!(ids, [1, 3]);
    assert_eq!(first.next_after, Some(QueueId(3)));
    let second = store.page(first.next_after, 2, even).unwrap();
    let ids: Vec<u64> = second.messages.iter().map(|(m, _)| m.id.0).collect();
    assert_eq!(ids, [5, 7]);
    assert_eq!(second.next_after, None, "the queue was read to its end");
    let past = store.page(Some(QueueId(7)), 2, even).unwrap();
    assert!(past.messages.is_empty() && past.next_after.is_none(), "{past:?}");
    let all = store.page(None, usize::MAX, |_, _| true).unwrap();
    assert_eq!((all.messages.len(), all.next_after), (7, None));
}

/// An operator's change never brings back what an attempt stored meanwhile, and a hold
/// made during an attempt survives the attempt's results.
#[test]
fn operator_changes_and_attempt_results_do_not_overwrite_each_other() {
    let fixture = fixture();
    let store = open(&fixture);
    store.enqueue(&[new_queued(&fixture, b"m", &["a@x.example", "b@x.example"], 0)]).unwrap();
    let attempt_copy = store.due(0, 10).unwrap().remove(0);
    // The operator holds it while the attempt runs; the attempt delivered a.
    assert_eq!(store.set_held(&QueueFilter::default(), true).unwrap(), 1);
    let mut result = attempt_copy.clone();
    result.recipients.remove(0);
    result.attempts = 1;
    result.next_attempt_ms = 1000;
    store.apply(&[QueueUpdate::Put(result)], &[]).unwrap();
    let now = store.destinations(attempt_copy.key.message).unwrap().remove(0);
    assert!(now.held, "the hold stands");
    assert!(store.due(i64::MAX, 10).unwrap().is_empty());
    // Retry now releases it and keeps the attempt's recipients (a is not sent again).
    assert_eq!(store.retry_now(&QueueFilter::default(), 5).unwrap(), 1);
    let now = store.destinations(attempt_copy.key.message).unwrap().remove(0);
    let left: Vec<&str> = now.recipients.iter().map(|r| r.address.as_str()).collect();
    assert_eq!((left, now.attempts, now.held, now.next_attempt_ms), (vec!["b@x.example"], 1, false, 5));
}

/// A fault before the commit (link, fsync) or a failed commit: the caller is told, no
/// record exists, and no file is left once the store opens again; a commit that
/// landed but reported an error counts as done.
#[test]
fn crash_points_leave_no_record_without_its_bytes() {
    for (point, action) in [
        (FaultPoint::Link, FaultAction::Fail),
        (FaultPoint::Fsync, FaultAction::Fail),
        (FaultPoint::Commit, FaultAction::Fail),
        (FaultPoint::Commit, FaultAction::FailAfter),
    ] {
        let fixture = fixture();
        let store = open(&fixture);
        let batch = [
            new_queued(&fixture, b"a", &["a@x.example"], 0),
            new_inline(b"i", &["i@x.example"], 0),
            new_queued(&fixture, b"b", &["b@x.example"], 0),
        ];
        let skip = u64::from(point != FaultPoint::Commit);
        let guard = armed(fixture.data.root(), point, action, skip);
        let result = store.enqueue(&batch);
        drop(guard);
        disarm();
        let listed = store.list().unwrap();
        match result {
            Ok(ids) => {
                assert_eq!((point, action), (FaultPoint::Commit, FaultAction::FailAfter));
                assert_eq!(ids.len(), 3);
                assert_eq!(listed.len(), 3);
            }
            Err(error) => {
                assert!(listed.is_empty(), "{point:?} {action:?}: {error:?}");
                let unknown = matches!(error, StorageError::CommitUnknown { .. });
                assert_eq!(queue_files(&fixture), if unknown { 2 } else { 0 }, "{point:?} {action:?}");
            }
        }
        drop(store);
        let store = open(&fixture);
        let listed = store.list().unwrap();
        assert_eq!(
            queue_files(&fixture),
            listed.len().saturating_sub(1),
            "{point:?} {action:?}: every file has its record"
        );
        for (message, _) in &listed {
            match store.message_with_content(message.id).unwrap().unwrap().1 {
                QueuedContent::File(path) => assert!(path.exists()),
                QueuedContent::Inline(bytes) => assert_eq!(&bytes[..], b"i"),
            }
        }
    }
}

#[test]
fn invalid_records_are_refused_before_anything_is_written() {
    let fixture = fixture();
    let store = open(&fixture);
    let mut new = new_queued(&fixture, b"m", &["a@x.example"], 0);
    new.recipients[0].address = "a@x.example\r\nRCPT TO:<b@y>".into();
    assert!(store.enqueue(std::slice::from_ref(&new)).is_err());
    new.recipients.clear();
    assert!(store.enqueue(&[new]).is_err());
    assert_eq!(queue_files(&fixture), 0);
}

#[test]
fn the_send_record_counts_submitted_recipients_in_the_window() {
    let fixture = fixture();
    let store = open(&fixture);
    store.enqueue(&[new_queued(&fixture, b"1", &["a@x.example", "B@y.example"], 1000)]).unwrap();
    let asked = ["a@x.example".to_owned(), "b@y.example".to_owned(), "c@z.example".to_owned()];
    let (counts, new) = store.send_counts("alice", &asked, 2000).unwrap();
    assert_eq!((counts.recipients, counts.first_time, new), (2, 2, 1), "b is known, whatever its case");
    assert_eq!(store.send_counts("bob", &asked, 2000).unwrap().0.recipients, 0, "per account");
    // A local retry (recipient pinned to an account) is not a submission to count.
    let mut retry = new_queued(&fixture, b"2", &["d@x.example"], 3000);
    retry.recipients[0].account = Some("bob".into());
    store.enqueue(&[retry]).unwrap();
    assert_eq!(store.send_counts("alice", &asked, 3000).unwrap().0.recipients, 2);
    // Submissions count by the minute: the entry of minute 0 counts until all of that
    // minute has left the window, then no longer, and a later enqueue prunes it.
    assert_eq!(store.send_counts("alice", &asked, 1000 + SEND_WINDOW_MS + 1).unwrap().0.recipients, 2);
    let later = 60_000 + SEND_WINDOW_MS;
    assert_eq!(store.send_counts("alice", &asked, later).unwrap().0.recipients, 0);
    store.enqueue(&[new_queued(&fixture, b"3", &["a@x.example"], later)]).unwrap();
    let (counts, new) = store.send_counts("alice", &asked, later).unwrap();
    assert_eq!((counts.recipients, counts.first_time, new), (1, 0, 1));
}

/// The window's counts against a model of it (sums of the minutes whose end is after
/// the window's start), over enqueues spread across two days in batches; and only the
/// minutes in the window are kept.
#[test]
fn the_send_record_keeps_minutes_and_totals_that_match_the_window() {
    let fixture = fixture();
    let store = open(&fixture);
    let mut model: Vec<(i64, u64, u64)> = Vec::new();
    let mut known = std::collections::BTreeSet::new();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut at = 5_000_i64;
    let asked = ["fresh@x.example".to_owned()];
    for round in 0..40 {
        let batch: Vec<NewQueued> = (0..30)
            .map(|n| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                at += i64::try_from(seed % 300_000).unwrap();
                let recipients = ["a@x.example", "b@y.example", "c@z.example"];
                let count = usize::try_from(seed % 3).unwrap() + 1;
                let first = recipients[..count].iter().filter(|r| known.insert(**r)).count();
                model.push((at - at % 60_000, count as u64, first as u64));
                new_queued(&fixture, format!("{round} {n}").as_bytes(), &recipients[..count], at)
            })
            .collect();
        store.enqueue(&batch).unwrap();
        for probe in [at, at + 30_000, at + SEND_WINDOW_MS / 2] {
            let cutoff = probe - SEND_WINDOW_MS;
            let counted = model.iter().filter(|(minute, ..)| minute + 60_000 > cutoff);
            let expected = counted.fold((0, 0), |(all, new), (_, n, first)| (all + n, new + first));
            let (counts, _) = store.send_counts("alice", &asked, probe).unwrap();
            assert_eq!((counts.recipients, counts.first_time), expected, "round {round}, probe {probe}");
        }
    }
    assert!(at > 2 * SEND_WINDOW_MS, "the run spans two days");
    // The last enqueue pruned what had left the window: the totals, and one entry per
    // minute still in it (at most a day's minutes, whatever the volume).
    let minutes: std::collections::BTreeSet<i64> = model
        .iter()
        .map(|(minute, ..)| *minute)
        .filter(|minute| minute + 60_000 > at - SEND_WINDOW_MS)
        .collect();
    assert_eq!(store.sent_entries("alice").unwrap(), 1 + minutes.len());
}

/// A store whose send record predates the totals record (one entry per message) is
/// counted from its entries, and the next enqueue writes the totals and prunes the
/// entries that left the window; then a check reads two entries.
#[test]
fn a_send_record_without_totals_is_summed_then_kept() {
    let fixture = fixture();
    let store = open(&fixture);
    for (n, at) in [1_000_i64, 2_000, 50_000_000, 50_000_500].into_iter().enumerate() {
        store.put_legacy_sent("alice", at, n as u64 + 1, 2).unwrap();
    }
    let asked = [];
    let now = SEND_WINDOW_MS + 10_000_000;
    assert_eq!(store.send_counts("alice", &asked, now).unwrap().0.recipients, 4, "the two of the last day");
    assert_eq!(store.send_counts_within("alice", &asked, now, 3).unwrap(), None, "every entry is read");
    let within = store.send_counts_within("alice", &asked, now, 4).unwrap();
    assert_eq!(within, Some(store.send_counts("alice", &asked, now).unwrap()));
    store.enqueue(&[new_queued(&fixture, b"1", &["a@x.example"], now)]).unwrap();
    let within = store.send_counts_within("alice", &asked, now, 2).unwrap();
    assert_eq!(
        within.map(|(counts, _)| counts.recipients),
        Some(5),
        "the totals and the first minute in the window"
    );
    assert_eq!(store.sent_entries("alice").unwrap(), 4, "totals, two in the window, the new minute");
    assert_eq!(store.send_counts("alice", &asked, now).unwrap().0.recipients, 5);
    let (counts, _) = store.send_counts("alice", &asked, 50_000_500 + SEND_WINDOW_MS + 1).unwrap();
    assert_eq!(counts.recipients, 1, "the legacy entries leave at their own time");
    store.enqueue(&[new_queued(&fixture, b"2", &["b@x.example"], 2 * SEND_WINDOW_MS)]).unwrap();
    assert_eq!(store.sent_entries("alice").unwrap(), 3, "totals and two minutes");
    assert_eq!(store.send_counts("alice", &asked, 2 * SEND_WINDOW_MS).unwrap().0.recipients, 2);
}

/// The send limits hold inside the enqueue's transaction: a message that would pass one
/// is refused whole (no record, no file, nothing counted), and of concurrent submissions
/// at the limit exactly as many pass as fit, group commit or not.
#[test]
fn send_quotas_are_checked_in_the_enqueue_transaction() {
    let fixture = fixture();
    let store = open(&fixture);
    let quota = SendQuota { messages_max: 3, first_time_max: 100 };
    let with_quota = |body: &[u8], recipients: &[&str]| {
        let mut new = new_queued(&fixture, body, recipients, 1000);
        new.send_quota = Some(quota);
        new
    };
    store.enqueue(&[with_quota(b"1", &["a@x.example", "b@x.example"])]).unwrap();
    let refused = store.enqueue(&[with_quota(b"2", &["c@x.example", "d@y.example"])]).unwrap_err();
    assert!(
        matches!(refused, StorageError::SendLimit { kind: SendLimitKind::Messages, max: 3 }),
        "{refused}"
    );
    assert_eq!(store.list().unwrap().len(), 1, "nothing of the refused message stored");
    assert_eq!(queue_files(&fixture), 1);
    let asked = ["c@x.example".to_owned()];
    assert_eq!(
        store.send_counts("alice", &asked, 1000).unwrap(),
        (crate::queue::SendCounts { recipients: 2, first_time: 2 }, 1)
    );
    // First-time recipients: known ones do not count.
    let quota = SendQuota { messages_max: 100, first_time_max: 3 };
    let mut known = new_queued(&fixture, b"3", &["a@x.example", "e@x.example", "f@x.example"], 1000);
    known.send_quota = Some(quota);
    let refused = store.enqueue(&[known]).unwrap_err();
    assert!(matches!(refused, StorageError::SendLimit { kind: SendLimitKind::FirstTimeRecipients, .. }));
    let mut known = new_queued(&fixture, b"4", &["a@x.example", "b@x.example", "c@x.example"], 1000);
    known.send_quota = Some(quota);
    store.enqueue(&[known]).unwrap();
    // Racing submissions of another account, one recipient each, limit 5: five pass.
    let quota = SendQuota { messages_max: 5, first_time_max: 100 };
    let passed: usize = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..12)
            .map(|n| {
                let mut new = new_queued(&fixture, format!("race {n}").as_bytes(), &["r@z.example"], 1000);
                new.message.sender_account = "racer".into();
                new.send_quota = Some(quota);
                let store = &store;
                scope.spawn(move || store.enqueue(&[new]).is_ok())
            })
            .collect();
        handles.into_iter().map(|h| usize::from(h.join().unwrap())).sum()
    });
    assert_eq!(passed, 5);
    assert_eq!(store.send_counts("racer", &[], 1000).unwrap().0.recipients, 5);
}

#[test]
fn suppressions_are_per_account_and_added_with_attempt_results() {
    let fixture = fixture();
    let store = open(&fixture);
    let entry = |account: &str, address: &str| Suppression {
        account: account.into(),
        address: address.into(),
        added_ms: 5,
        reason: "550 5.1.1 no\r\nsuch user".into(),
    };
    store.suppress(&[entry("alice", "gone@x.example")]).unwrap();
    let found = store.suppressed("alice", "Gone@X.example").unwrap().unwrap();
    assert_eq!(found.reason, "550 5.1.1 no  such user", "control characters do not survive");
    assert_eq!(store.suppressed("bob", "gone@x.example").unwrap(), None);
    // An attempt's hard bounce is added in the transaction storing its result.
    let ids = store.enqueue(&[new_queued(&fixture, b"m", &["gone2@x.example"], 0)]).unwrap();
    let destination = store.destinations(ids[0]).unwrap().remove(0);
    store
        .apply_with(&[QueueUpdate::Remove(destination.key)], &[], &[entry("bob", "gone2@x.example")])
        .unwrap();
    assert!(store.suppressed("bob", "gone2@x.example").unwrap().is_some());
    assert_eq!(store.suppressions(None).unwrap().len(), 2);
    assert_eq!(store.suppressions(Some("alice")).unwrap().len(), 1);
    assert!(store.unsuppress("alice", "GONE@x.example").unwrap());
    assert!(!store.unsuppress("alice", "gone@x.example").unwrap());
    assert!(store.suppressions(Some("alice")).unwrap().is_empty());
    assert!(matches!(store.suppress(&[entry("", "a@x.example")]), Err(StorageError::Corrupt { .. })));
}

#[test]
fn hold_rules_hold_matching_destinations_at_enqueue() {
    let fixture = fixture();
    let store = open(&fixture);
    let rule = HoldRule { id: 0, recipient_domain: Some("Y.example".into()), ..HoldRule::default() };
    assert_eq!(store.add_hold_rule(&rule).unwrap(), 1);
    let other = HoldRule { id: 0, account: Some("bob".into()), ..HoldRule::default() };
    assert_eq!(store.add_hold_rule(&other).unwrap(), 2);
    let ids = store.enqueue(&[new_queued(&fixture, b"m", &["a@x.example", "b@y.example"], 0)]).unwrap();
    let held: Vec<(String, bool)> =
        store.destinations(ids[0]).unwrap().into_iter().map(|d| (d.domain, d.held)).collect();
    assert_eq!(held, [("x.example".to_owned(), false), ("y.example".to_owned(), true)]);
    assert_eq!(store.due(0, 10).unwrap().len(), 1, "the held one is not scheduled");
    let rules = store.hold_rules().unwrap();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0].recipient_domain.as_deref(), Some("y.example"));
    assert!(store.remove_hold_rule(1).unwrap());
    assert!(!store.remove_hold_rule(1).unwrap());
    let ids = store.enqueue(&[new_queued(&fixture, b"n", &["b@y.example"], 0)]).unwrap();
    assert!(!store.destinations(ids[0]).unwrap()[0].held);
}

#[test]
fn suppressions_and_hold_rules_are_read_in_pages() {
    let fixture = fixture();
    let store = open(&fixture);
    let entry = |account: &str, address: String| Suppression {
        account: account.into(),
        address,
        added_ms: 1,
        reason: String::new(),
    };
    let mut entries: Vec<Suppression> = (0..5).map(|i| entry("alice", format!("a{i}@x.example"))).collect();
    entries.extend((0..3).map(|i| entry("bob", format!("b{i}@x.example"))));
    entries.push(entry("alicia", "c@x.example".into()));
    store.suppress(&entries).unwrap();
    // One account's list: "alicia" sorts after "alice\0..." and is not part of it.
    let (page, more) = store.suppressions_page(Some("alice"), None, 2).unwrap();
    assert_eq!((page.len(), more), (2, true));
    let mut seen: Vec<String> = page.iter().map(|s| s.address.clone()).collect();
    let mut after = page.last().map(|s| (s.account.clone(), s.address.clone()));
    loop {
        let cursor = after.as_ref().map(|(a, b)| (a.as_str(), b.as_str()));
        let (page, more) = store.suppressions_page(Some("alice"), cursor, 2).unwrap();
        seen.extend(page.iter().map(|s| s.address.clone()));
        after = page.last().map(|s| (s.account.clone(), s.address.clone()));
        if !more {
            break;
        }
    }
    assert_eq!(seen, (0..5).map(|i| format!("a{i}@x.example")).collect::<Vec<_>>());
    // Every account's, continuing across accounts.
    let (all, more) = store.suppressions_page(None, Some(("alice", "a4@x.example")), 500).unwrap();
    assert!(!more);
    let accounts: Vec<&str> = all.iter().map(|s| s.account.as_str()).collect();
    assert_eq!(accounts, ["alicia", "bob", "bob", "bob"]);
    let (none, more) = store.suppressions_page(Some("carol"), None, 10).unwrap();
    assert!(none.is_empty() && !more);

    for _ in 0..3 {
        store.add_hold_rule(&HoldRule::default()).unwrap();
    }
    let (rules, more) = store.hold_rules_page(None, 2).unwrap();
    assert_eq!((rules.iter().map(|r| r.id).collect::<Vec<_>>(), more), (vec![1, 2], true));
    let (rules, more) = store.hold_rules_page(Some(2), 2).unwrap();
    assert_eq!((rules.iter().map(|r| r.id).collect::<Vec<_>>(), more), (vec![3], false));
}

#[test]
fn a_removed_account_is_forgotten_and_its_neighbours_are_not() {
    let fixture = fixture();
    let store = open(&fixture);
    let entry = |account: &str| Suppression {
        account: account.into(),
        address: "gone@x.example".into(),
        added_ms: 1,
        reason: String::new(),
    };
    store.suppress(&[entry("alice"), entry("alicia"), entry("bob")]).unwrap();
    store.enqueue(&[new_queued(&fixture, b"1", &["a@x.example"], 1000)]).unwrap();
    let mine = HoldRule { id: 0, account: Some("alice".into()), ..HoldRule::default() };
    let theirs = HoldRule { id: 0, account: Some("bob".into()), ..HoldRule::default() };
    store.add_hold_rule(&mine).unwrap();
    store.add_hold_rule(&theirs).unwrap();
    let asked = ["a@x.example".to_owned()];
    assert_eq!(store.send_counts("alice", &asked, 2000).unwrap().0.recipients, 1);

    assert_eq!(store.forget_account("alice").unwrap(), (1, 1));
    assert!(store.suppressions(Some("alice")).unwrap().is_empty());
    assert_eq!(store.suppressions(None).unwrap().len(), 2, "alicia's and bob's stay");
    let (counts, new) = store.send_counts("alice", &asked, 2000).unwrap();
    assert_eq!(
        (counts.recipients, counts.first_time, new),
        (0, 0, 1),
        "send record and known recipients gone"
    );
    let rules = store.hold_rules().unwrap();
    assert_eq!(rules.iter().map(|r| r.account.as_deref()).collect::<Vec<_>>(), [Some("bob")]);
    assert_eq!(store.forget_account("alice").unwrap(), (0, 0));
}

/// Enqueues from eight threads at once (as sessions on several helper threads do) share
/// transactions: every call gets ids of its own messages only, no id twice, every record
/// and file there after a reopen.
#[test]
fn concurrent_enqueues_share_commits_and_keep_their_own_ids() {
    let fixture = fixture();
    let store = open(&fixture);
    let calls: Vec<Vec<NewQueued>> = (0..8u32)
        .flat_map(|thread| (0..10u32).map(move |call| (thread, call)))
        .map(|(thread, call)| {
            // Calls of one or two messages; each message's body names its thread and call.
            (0..1 + call % 2)
                .map(|n| {
                    let body = format!("Subject: t{thread} c{call} n{n}\r\n\r\nbody\r\n");
                    let mut new = new_queued(&fixture, body.as_bytes(), &["r@x.example"], 1000);
                    new.message.sender_account = format!("t{thread}");
                    new
                })
                .collect()
        })
        .collect();
    let expected: usize = calls.iter().map(Vec::len).sum();
    let mut per_thread: Vec<Vec<Vec<NewQueued>>> = vec![Vec::new(); 8];
    for (index, call) in calls.into_iter().enumerate() {
        per_thread[index / 10].push(call);
    }
    let results: Vec<Vec<(Vec<NewQueued>, Vec<QueueId>)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = per_thread
            .into_iter()
            .map(|calls| {
                let store = &store;
                scope.spawn(move || {
                    calls
                        .into_iter()
                        .map(|call| {
                            let ids = store.enqueue(&call).unwrap();
                            (call, ids)
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    drop(store);
    let store = open(&fixture);
    let mut seen = std::collections::BTreeSet::new();
    for (call, ids) in results.iter().flatten() {
        assert_eq!(call.len(), ids.len());
        for (new, id) in call.iter().zip(ids) {
            assert!(seen.insert(*id), "{id:?} given twice");
            let stored = store.message(*id).unwrap().unwrap();
            assert_eq!(stored.sender_account, new.message.sender_account);
            let QueuedContent::File(spool) = &new.content else { unreachable!() };
            assert_eq!(fs::read(store.message_path(*id)).unwrap(), fs::read(spool).unwrap());
        }
    }
    assert_eq!(seen.len(), expected);
    assert_eq!(queue_files(&fixture), expected);
}
