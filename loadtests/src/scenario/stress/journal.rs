//! What the run's sessions are changing, per account, so a finding caused by a concurrent
//! change is excused rather than reported: when session A stores `+FLAGS (x)` while
//! session B stores `-FLAGS (x)` on the same message, the flags A's FETCH shows depend on
//! which the server applied last, and both outcomes are right. Likewise a message B
//! expunged may still be in A's view, with its data gone on the server.
//!
//! Each change is an entry from the moment the session sends it until its completion
//! (the server applies it somewhere in between). A finding of a command that ran from
//! `since` is excused by an entry of another session on the same message that touched
//! one of the flags concerned and had not completed before `since`, or by an expunge of
//! that message at any time.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Instant;

use super::model::Excuse;

/// Most entries kept per account: the oldest go first. Sessions live for seconds and
/// make a few changes each, so 4096 entries span far longer than any session (and bound
/// the memory at a few hundred KiB per account).
pub(crate) const ENTRIES_PER_ACCOUNT_MAX: usize = 4096;

/// What a change touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Touch {
    /// These flags (lower case).
    Flags(Vec<String>),
    /// All flags (`STORE FLAGS`, which replaces them).
    AllFlags,
    /// The message is being expunged (from its `\Deleted` mark on).
    Expunge,
}

#[derive(Debug)]
struct Entry {
    id: u64,
    session: u64,
    uid: u32,
    touch: Touch,
    end: Option<Instant>,
}

#[derive(Debug, Default)]
struct Account {
    entries: VecDeque<Entry>,
    next_id: u64,
}

/// The journal of one run.
#[derive(Debug)]
pub(crate) struct Journal {
    accounts: Vec<Mutex<Account>>,
}

/// Entries opened by [`Journal::begin`], to close with [`Journal::end`].
#[derive(Debug, Default)]
pub(crate) struct Ticket {
    account: usize,
    ids: Vec<u64>,
}

impl Journal {
    /// A journal for accounts `0..accounts`.
    pub(crate) fn new(accounts: usize) -> Journal {
        Journal { accounts: (0..accounts).map(|_| Mutex::new(Account::default())).collect() }
    }

    fn account(&self, account: usize) -> Option<std::sync::MutexGuard<'_, Account>> {
        // A poisoned lock means a worker panicked, which the run reports; the journal
        // is advisory, so carry on with its data.
        self.accounts.get(account).map(|lock| lock.lock().unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// Session `session` starts changing `uids` of `account` as `touch` says.
    pub(crate) fn begin(&self, account: usize, session: u64, uids: &[u32], touch: &Touch) -> Ticket {
        let mut ticket = Ticket { account, ids: Vec::with_capacity(uids.len()) };
        let Some(mut journal) = self.account(account) else { return ticket };
        for &uid in uids {
            let id = journal.next_id;
            journal.next_id += 1;
            if journal.entries.len() >= ENTRIES_PER_ACCOUNT_MAX {
                journal.entries.pop_front();
            }
            journal.entries.push_back(Entry { id, session, uid, touch: touch.clone(), end: None });
            ticket.ids.push(id);
        }
        ticket
    }

    /// The changes of `ticket` completed (or failed).
    pub(crate) fn end(&self, ticket: Ticket) {
        let Some(mut journal) = self.account(ticket.account) else { return };
        let now = Instant::now();
        for entry in journal.entries.iter_mut().rev().filter(|e| ticket.ids.contains(&e.id)) {
            entry.end = Some(now);
        }
    }

    /// Whether `excuse` holds for a finding of `session` on `account` about a command
    /// that ran from `since`.
    pub(crate) fn excuses(&self, account: usize, session: u64, excuse: &Excuse, since: Instant) -> bool {
        let Some(journal) = self.account(account) else { return false };
        journal.entries.iter().any(|entry| {
            if entry.session == session || entry.uid != excuse.uid {
                return false;
            }
            let concurrent = entry.end.is_none_or(|end| end >= since);
            match &entry.touch {
                Touch::Expunge => true,
                Touch::AllFlags => concurrent,
                Touch::Flags(flags) => {
                    concurrent && (excuse.flags.is_empty() || flags.iter().any(|f| excuse.flags.contains(f)))
                }
            }
        })
    }

    /// Whether another session than `session` started expunging `uid` of `account`.
    pub(crate) fn expunged_by_other(&self, account: usize, session: u64, uid: u32) -> bool {
        let Some(journal) = self.account(account) else { return false };
        journal.entries.iter().any(|e| e.session != session && e.uid == uid && e.touch == Touch::Expunge)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn excuse(uid: u32, flags: &[&str]) -> Excuse {
        Excuse { uid, flags: flags.iter().map(|f| f.to_string()).collect() }
    }

    #[test]
    fn concurrent_changes_of_the_same_flag_excuse() {
        let journal = Journal::new(2);
        let since = Instant::now();
        let other = journal.begin(0, 2, &[7, 8], &Touch::Flags(vec!["$work".into()]));
        // In progress: excuses a finding on the same flag and message, of another session.
        assert!(journal.excuses(0, 1, &excuse(7, &["$work"]), since));
        assert!(!journal.excuses(0, 1, &excuse(7, &["\\seen"]), since));
        assert!(!journal.excuses(0, 1, &excuse(9, &["$work"]), since));
        assert!(!journal.excuses(1, 1, &excuse(7, &["$work"]), since));
        assert!(!journal.excuses(0, 2, &excuse(7, &["$work"]), since));
        journal.end(other);
        // Completed after `since`: still concurrent. Completed before: not.
        assert!(journal.excuses(0, 1, &excuse(8, &["$work"]), since));
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(!journal.excuses(0, 1, &excuse(8, &["$work"]), Instant::now()));
    }

    #[test]
    fn replacing_flags_and_expunging_excuse() {
        let journal = Journal::new(1);
        let earlier = Instant::now();
        let replace = journal.begin(0, 2, &[7], &Touch::AllFlags);
        journal.end(replace);
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(!journal.excuses(0, 1, &excuse(7, &["\\seen"]), Instant::now()));
        assert!(journal.excuses(0, 1, &excuse(7, &["\\seen"]), earlier));
        let expunge = journal.begin(0, 3, &[9], &Touch::Expunge);
        journal.end(expunge);
        std::thread::sleep(std::time::Duration::from_millis(2));
        assert!(journal.excuses(0, 1, &excuse(9, &[]), Instant::now()));
        assert!(journal.expunged_by_other(0, 1, 9));
        assert!(!journal.expunged_by_other(0, 3, 9));
        assert!(!journal.expunged_by_other(0, 1, 7));
    }

    #[test]
    fn entries_are_bounded() {
        let journal = Journal::new(1);
        for uid in 0..(ENTRIES_PER_ACCOUNT_MAX as u32 + 10) {
            let ticket = journal.begin(0, 2, &[uid], &Touch::Expunge);
            journal.end(ticket);
        }
        assert_eq!(journal.account(0).unwrap().entries.len(), ENTRIES_PER_ACCOUNT_MAX);
        assert!(!journal.expunged_by_other(0, 1, 0));
        assert!(journal.expunged_by_other(0, 1, 10));
    }
}
