//! Injected faults (crate::fault) in delivery, copy and the orphan sweep: what the caller
//! is told matches what the index holds, files the index may refer to are never removed,
//! and a full disk is reported as such (issue 10, "Faults: the reported outcome is the
//! true one").
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{Fixture, body, fixture, inbox, new_message};
use crate::fault::{FaultAction, FaultPoint, arm, disarm};
use crate::{AccountStore, MailboxTarget, NewMessage, StorageError, Uid};

/// One armed fault at a time in this process: the fault tests take turns.
static ARMED: Mutex<()> = Mutex::new(());

pub(super) fn armed(
    scope: &Path,
    point: FaultPoint,
    action: FaultAction,
    skip: u64,
) -> MutexGuard<'static, ()> {
    let guard = ARMED.lock().unwrap_or_else(PoisonError::into_inner);
    arm(scope, point, action, skip);
    guard
}

fn messages(fixture: &Fixture, count: u64) -> Vec<NewMessage> {
    (0..count)
        .map(|n| {
            let bytes = body(n);
            new_message(fixture.spool(&bytes), &bytes, MailboxTarget::Inbox)
        })
        .collect()
}

fn message_count(store: &AccountStore) -> usize {
    store.read(|view| view.messages(inbox(store), Uid(1), Uid(u32::MAX))).unwrap().len()
}

/// Files in `msg/` (indexed or not).
fn message_files(store: &AccountStore) -> usize {
    let dir = store.message_path(crate::MessageId(0));
    let dir = dir.parent().unwrap().parent().unwrap();
    std::fs::read_dir(dir).unwrap().map(|sub| std::fs::read_dir(sub.unwrap().path()).unwrap().count()).sum()
}

/// The commit's fsync fails after LMDB wrote the transaction: the transaction is
/// visible, a second sync succeeds, so the delivery counts as done (answering failure
/// would make the sender retry and the user get it twice).
#[test]
fn commit_error_after_the_transaction_landed_is_a_success() {
    let fixture = fixture();
    let store = fixture.open("alice");
    let batch = messages(&fixture, 3);
    let _armed = armed(fixture.data.root(), FaultPoint::Commit, FaultAction::FailAfter, 0);
    let results = store.deliver(&batch).unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(message_count(&store), 3);
    let report = store.check_consistency().unwrap();
    assert!(report.is_ok(), "{report:#?}");
}

/// The commit fails with its outcome unknown: the error says so and the linked files
/// stay (the index may refer to them). Before issue 10 they were removed, which would
/// leave index entries without files whenever the commit had in fact landed. The sweep
/// then moves the ones the index lacks aside, and delivery goes on.
#[test]
fn commit_of_unknown_outcome_keeps_the_files() {
    let fixture = fixture();
    let store = fixture.open("alice");
    let batch = messages(&fixture, 2);
    let guard = armed(fixture.data.root(), FaultPoint::Commit, FaultAction::Fail, 0);
    let error = store.deliver(&batch).unwrap_err();
    drop(guard);
    assert!(matches!(error, StorageError::CommitUnknown { .. }), "{error:?}");
    assert_eq!(message_count(&store), 0);
    assert_eq!(message_files(&store), 2, "files of an unknown commit must stay");
    let report = store.check_consistency().unwrap();
    assert!(report.problems.is_empty(), "{report:#?}");
    assert_eq!(report.orphan_files.len(), 2);
    // This process saw an unknown outcome: its sweep leaves the files to the next start.
    assert!(store.sweep_orphans().unwrap().skipped);
    drop(store);
    let store = fixture.open("alice");
    let sweep = store.sweep_orphans().unwrap();
    assert_eq!(sweep.moved.len(), 2, "{sweep:?}");
    assert!(
        sweep.moved.iter().all(|(_, to)| to.starts_with(fixture.data.root().join("accounts/alice/orphans")))
    );
    super::assert_consistent(&store);
    let results = store.deliver(&messages(&fixture, 2)).unwrap();
    assert!(results.iter().all(Result::is_ok));
    super::assert_consistent(&store);
}

/// A failure before the commit (a directory fsync, a link) fails the batch and removes
/// its links: the index is known not to refer to them.
#[test]
fn failures_before_the_commit_remove_the_links() {
    for point in [FaultPoint::Fsync, FaultPoint::Link] {
        let fixture = fixture();
        let store = fixture.open("alice");
        let batch = messages(&fixture, 3);
        let guard = armed(fixture.data.root(), point, FaultAction::Fail, 1);
        let error = store.deliver(&batch).unwrap_err();
        drop(guard);
        assert!(matches!(error, StorageError::Io { .. }), "{point:?}: {error:?}");
        assert_eq!(message_count(&store), 0, "{point:?}");
        assert_eq!(message_files(&store), 0, "{point:?}");
        super::assert_consistent(&store);
        disarm();
    }
}

/// Every fsync a delivery does before its commit, in turn (the linked files' data, then
/// the directories): each one failing fails the batch and removes its links. Past the
/// last of them the fault finds nothing to fail and the batch is stored.
#[test]
fn each_fsync_before_the_commit_fails_the_batch() {
    let count = 3;
    let mut failed = 0;
    loop {
        let fixture = fixture();
        let store = fixture.open("alice");
        let guard = armed(fixture.data.root(), FaultPoint::Fsync, FaultAction::Fail, failed);
        let outcome = store.deliver(&messages(&fixture, count));
        drop(guard);
        disarm();
        match outcome {
            Err(error) => {
                assert!(matches!(error, StorageError::Io { .. }), "fsync {failed}: {error:?}");
                assert_eq!(message_count(&store), 0, "fsync {failed}");
                assert_eq!(message_files(&store), 0, "fsync {failed}");
                super::assert_consistent(&store);
                failed += 1;
                assert!(failed < 64, "more fsyncs than a delivery can do");
            }
            Ok(results) => {
                assert!(results.iter().all(Result::is_ok));
                break;
            }
        }
    }
    // One data sync per linked file, then at least the `msg/<hi>` directory.
    assert!(failed > count, "only {failed} fsyncs before the commit");
}

/// ENOSPC anywhere is reported as a full disk (SMTP 452 4.3.1, IMAP OVERQUOTA).
#[test]
fn a_full_disk_is_reported_as_no_space() {
    for point in [FaultPoint::Link, FaultPoint::Fsync, FaultPoint::Commit] {
        let fixture = fixture();
        let store = fixture.open("alice");
        let guard = armed(fixture.data.root(), point, FaultAction::NoSpace, 0);
        let error = store.deliver(&messages(&fixture, 1)).unwrap_err();
        drop(guard);
        assert!(error.is_no_space(), "{point:?}: {error:?}");
        drop(store);
        let store = fixture.open("alice");
        store.sweep_orphans().unwrap();
        super::assert_consistent(&store);
        assert_eq!(store.deliver(&messages(&fixture, 1)).unwrap().len(), 1);
        disarm();
    }
}

/// RFC 3502: a refused message refuses the whole batch, in one transaction: nothing
/// indexed, UIDNEXT and the modseq unchanged, no file left. (It used to deliver the
/// others and expunge them again, which left tombstones and used UIDs, and a crash in
/// between left half the command stored.)
#[test]
fn deliver_all_is_all_or_nothing() {
    let fixture = fixture();
    let store = fixture.open("alice");
    let before = store.read(|view| view.mailbox(inbox(&store))).unwrap().unwrap();
    let mut batch = messages(&fixture, 3);
    batch[1].size += 1;
    let error = store.deliver_all(&batch).unwrap_err();
    assert!(matches!(error, StorageError::MessageRefused { index: 1, .. }), "{error:?}");
    let after = store.read(|view| view.mailbox(inbox(&store))).unwrap().unwrap();
    assert_eq!(before, after);
    assert_eq!(message_files(&store), 0);
    // A link failing for the last message: the first two links are removed again.
    let guard = armed(fixture.data.root(), FaultPoint::Link, FaultAction::Fail, 2);
    let error = store.deliver_all(&messages(&fixture, 3)).unwrap_err();
    drop(guard);
    assert!(matches!(error, StorageError::Io { .. }), "{error:?}");
    assert_eq!(message_files(&store), 0);
    let delivered = store.deliver_all(&messages(&fixture, 3)).unwrap();
    assert_eq!(delivered.iter().map(|d| d.uid.0).collect::<Vec<_>>(), vec![1, 2, 3]);
    super::assert_consistent(&store);
}

/// COPY keeps its links after a commit of unknown outcome, like delivery.
#[test]
fn copy_keeps_links_after_an_unknown_commit() {
    let fixture = fixture();
    let store = fixture.open("alice");
    let results = store.deliver(&messages(&fixture, 2)).unwrap();
    assert!(results.iter().all(Result::is_ok));
    let inbox = inbox(&store);
    let guard = armed(fixture.data.root(), FaultPoint::Commit, FaultAction::Fail, 0);
    let error = store.copy_messages(inbox, &[Uid(1), Uid(2)], inbox, 0).unwrap_err();
    drop(guard);
    assert!(matches!(error, StorageError::CommitUnknown { .. }), "{error:?}");
    assert_eq!(message_files(&store), 4);
    let guard = armed(fixture.data.root(), FaultPoint::Commit, FaultAction::FailAfter, 0);
    let copied = store.copy_messages(inbox, &[Uid(1)], inbox, 0).unwrap();
    drop(guard);
    assert_eq!(copied.pairs.len(), 1);
}
