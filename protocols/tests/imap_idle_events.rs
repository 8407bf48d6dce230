//! IDLE updates reported straight from change events (issue 16, IDLE fan-out) against
//! the same updates read from storage: two sessions on two identical in-memory accounts
//! get the same changes (deliveries, flag changes, expunges, interleaved), one told by
//! events as the server's glue tells it (`Session::messages_added`, falling back to
//! `Session::mailbox_changed`), the other only by storage reads; every line they write
//! must be the same (EXISTS, RECENT, EXPUNGE/VANISHED, FETCH with MODSEQ; RFC 9051
//! §7.5.1, RFC 7162 §3.2.10), and so must their views at the end.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod imap_session_common;

use imap_session_common::{Client, account, message};
use moxide_protocols::imap::server::memory::SharedAccount;
use moxide_protocols::imap::server::{AddedEvent, RecentMode, SystemFlags};
use moxide_protocols::imap::types::StoreMode;

/// A change made by another session.
#[derive(Debug, Clone, Copy)]
enum Op {
    /// Deliver `n` messages into INBOX in one commit.
    Deliver(u32),
    /// Set `\Flagged` on a UID.
    Flag(u32),
    /// Expunge a UID.
    Expunge(u32),
    /// The subscription overflowed (the events were lost): only a storage read helps.
    Overflow,
}

/// What one commit tells a subscriber.
enum Note {
    Added { uids: Vec<u32>, modseq: u64 },
    Other,
}

fn commit(account: &SharedAccount, op: Op) -> Note {
    let mut account = account.borrow_mut();
    match op {
        Op::Deliver(n) => {
            let uids = (0..n)
                .map(|k| account.deliver("INBOX", &message(100 + k), SystemFlags::default(), &[]).unwrap());
            let uids: Vec<u32> = uids.collect();
            Note::Added { uids, modseq: account.highest_modseq() }
        }
        Op::Flag(uid) => {
            account.store("INBOX", &[uid], StoreMode::Add, SystemFlags::FLAGGED, &[]);
            Note::Other
        }
        Op::Expunge(uid) => {
            account.expunge("INBOX", &[uid]);
            Note::Other
        }
        Op::Overflow => Note::Other,
    }
}

/// Tells the event-driven client about a commit as `actors/src/imap/session.rs` does;
/// true when it was reported from the event.
fn tell(client: &mut Client, note: Note) -> bool {
    client.connection.seen_changes();
    let Note::Added { uids, modseq } = note else {
        client.session.mailbox_changed();
        return false;
    };
    let (first, last) = (uids[0], *uids.last().unwrap());
    match client.session.messages_added(first, last, modseq) {
        AddedEvent::Known => false,
        AddedEvent::Sync => {
            client.session.mailbox_changed();
            false
        }
        AddedEvent::Apply(recent) => {
            let recent =
                if recent == RecentMode::Claim { client.connection.claim_recent(last) } else { None };
            client.session.apply_added(uids, modseq, recent);
            true
        }
    }
}

/// Runs `setup` (commands before IDLE), then the ops in IDLE, then DONE and `after`, on
/// both clients; returns how many ops were reported from events.
fn compare(setup: &str, ops: &[Op], after: &str) -> usize {
    let (events_account, storage_account) = (account(), account());
    let mut events = Client::logged_in(&events_account);
    let mut storage = Client::logged_in(&storage_account);
    let start = format!("{setup}i1 IDLE\r\n");
    assert_eq!(events.send(&start), storage.send(&start), "before IDLE");
    let mut applied = 0;
    for (step, &op) in ops.iter().enumerate() {
        let note = commit(&events_account, op);
        commit(&storage_account, op);
        applied += usize::from(tell(&mut events, note));
        events.run(0);
        storage.run(0);
        let (got, want) = (events.take_output(), storage.take_output());
        assert_eq!(got, want, "after step {step}: {op:?}");
    }
    let end = format!("DONE\r\n{after}");
    let (got, want) = (events.send(&end), storage.send(&end));
    assert_eq!(got, want, "after IDLE");
    applied
}

const AFTER: &str = "z1 FETCH 1:* (UID FLAGS)\r\nz2 STATUS INBOX (MESSAGES UIDNEXT HIGHESTMODSEQ)\r\n";

const INTERLEAVED: &[Op] = &[
    Op::Deliver(1),
    Op::Deliver(2),
    Op::Flag(1),
    Op::Deliver(1),
    Op::Expunge(2),
    Op::Deliver(1),
    Op::Deliver(1),
    Op::Expunge(5),
    Op::Flag(6),
    Op::Overflow,
    Op::Deliver(3),
    Op::Expunge(1),
    Op::Deliver(1),
];

#[test]
fn events_and_storage_reads_write_the_same_imap4rev1() {
    let applied = compare("s1 SELECT INBOX\r\n", INTERLEAVED, AFTER);
    assert!(applied >= 5, "the event path was taken {applied} times");
}

#[test]
fn events_and_storage_reads_write_the_same_condstore() {
    let applied = compare("s0 ENABLE CONDSTORE\r\ns1 SELECT INBOX\r\n", INTERLEAVED, AFTER);
    assert!(applied >= 5, "the event path was taken {applied} times");
}

#[test]
fn events_and_storage_reads_write_the_same_qresync_imap4rev2() {
    let setup = "s0 ENABLE QRESYNC IMAP4rev2\r\ns1 SELECT INBOX\r\n";
    let applied = compare(setup, INTERLEAVED, "z0 FETCH 1:* (UID FLAGS MODSEQ)\r\n");
    assert!(applied >= 5, "the event path was taken {applied} times");
}

#[test]
fn events_and_storage_reads_write_the_same_examine() {
    let applied = compare("s1 EXAMINE INBOX\r\n", INTERLEAVED, AFTER);
    assert!(applied >= 5, "the event path was taken {applied} times");
}

#[test]
fn a_search_context_is_updated_after_an_event() {
    // RFC 5267 §4: the context's ADDTO follows the EXISTS, whichever way it came.
    let setup = "s0 ENABLE IMAP4rev2\r\ns1 SELECT INBOX\r\ns2 SEARCH RETURN (UPDATE) UNSEEN\r\n";
    compare(setup, INTERLEAVED, AFTER);
}

#[test]
fn a_delivery_seen_by_a_storage_read_first_is_not_reported_twice() {
    let account = account();
    let mut client = Client::logged_in(&account);
    client.send("s1 SELECT INBOX\r\ni1 IDLE\r\n");
    let first = commit(&account, Op::Deliver(1));
    // A flag change's event came first: the storage read finds the delivery too.
    commit(&account, Op::Flag(1));
    client.connection.seen_changes();
    client.session.mailbox_changed();
    client.run(0);
    let lines = client.take_output();
    assert!(lines.contains(&"S: * 4 EXISTS".to_owned()), "{lines:?}");
    let Note::Added { uids, modseq } = first else { unreachable!() };
    assert_eq!(client.session.messages_added(uids[0], uids[0], modseq), AddedEvent::Known);
}

#[test]
fn outside_idle_events_wait_for_the_storage_read() {
    let account = account();
    let mut client = Client::logged_in(&account);
    client.send("s1 SELECT INBOX\r\n");
    let Note::Added { uids, modseq } = commit(&account, Op::Deliver(1)) else { unreachable!() };
    // RFC 9051 §7.5.1: between commands nothing is sent; the next command's end syncs.
    assert_eq!(client.session.messages_added(uids[0], uids[0], modseq), AddedEvent::Sync);
}
