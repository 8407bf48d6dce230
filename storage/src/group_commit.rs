//! Group commit for a store written from many threads at once: callers that arrive while
//! a commit runs wait, and the next of them commits all their requests in one
//! transaction (one set of device flushes) and hands each its own result. A caller
//! returns only after the transaction holding its request is durable, exactly as if it
//! had committed alone; only the flushes are shared.
//!
//! Blocking (a `Mutex` and a `Condvar`): for the helper threads that run store writes,
//! never for an executor.

use std::collections::{HashMap, HashSet};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// Requests one transaction takes at most: bounds the transaction's size (and so the
/// time others wait behind it) when many callers pile up; the rest go in the next one.
pub(crate) const GROUP_REQUESTS_MAX: usize = 64;

/// The queue of requests and the results not yet collected.
pub(crate) struct GroupCommit<T, R> {
    state: Mutex<State<T, R>>,
    finished: Condvar,
}

struct State<T, R> {
    pending: Vec<(u64, T)>,
    results: HashMap<u64, R>,
    /// Tickets of a group whose commit panicked: their callers panic too.
    abandoned: HashSet<u64>,
    committing: bool,
    next_ticket: u64,
}

impl<T, R> Default for GroupCommit<T, R> {
    fn default() -> Self {
        GroupCommit {
            state: Mutex::new(State {
                pending: Vec::new(),
                results: HashMap::new(),
                abandoned: HashSet::new(),
                committing: false,
                next_ticket: 0,
            }),
            finished: Condvar::new(),
        }
    }
}

impl<T, R> GroupCommit<T, R> {
    fn lock(&self) -> MutexGuard<'_, State<T, R>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Commits `request`, alone or with others: `commit` gets the requests of one group
    /// (at most [`GROUP_REQUESTS_MAX`], in arrival order) and must return one result per
    /// request, in the same order. Whichever caller finds no commit running runs
    /// `commit` for everyone waiting; the others sleep until their result is in.
    pub(crate) fn run(&self, request: T, mut commit: impl FnMut(Vec<T>) -> Vec<R>) -> R {
        let mut state = self.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.pending.push((ticket, request));
        loop {
            if let Some(result) = state.results.remove(&ticket) {
                return result;
            }
            if state.abandoned.remove(&ticket) {
                drop(state);
                panic!("the group commit holding this request panicked");
            }
            if state.committing {
                state = self.finished.wait(state).unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            state.committing = true;
            let take = state.pending.len().min(GROUP_REQUESTS_MAX);
            let (tickets, requests): (Vec<u64>, Vec<T>) = state.pending.drain(..take).unzip();
            drop(state);
            // A panicking commit must not leave the others waiting for ever: the callers
            // of its group panic too (as they would have alone), the rest go on.
            let guard = Reopen { group: self, tickets: &tickets, own: ticket };
            let results = commit(requests);
            std::mem::forget(guard);
            state = self.lock();
            state.committing = false;
            debug_assert_eq!(results.len(), tickets.len(), "one result per request");
            state.results.extend(tickets.into_iter().zip(results));
            self.finished.notify_all();
        }
    }
}

/// If the committing caller unwinds: marks its group's tickets abandoned and clears
/// `committing`.
struct Reopen<'a, T, R> {
    group: &'a GroupCommit<T, R>,
    tickets: &'a [u64],
    own: u64,
}

impl<T, R> Drop for Reopen<'_, T, R> {
    fn drop(&mut self) {
        let mut state = self.group.lock();
        state.committing = false;
        state.abandoned.extend(self.tickets.iter().copied().filter(|&t| t != self.own));
        drop(state);
        self.group.finished.notify_all();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Eight threads commit 50 requests each; every caller gets its own result and the
    /// commits are fewer than the requests once callers overlap.
    #[test]
    fn every_caller_gets_its_own_result_and_commits_are_shared() {
        let group: Arc<GroupCommit<u64, u64>> = Arc::default();
        let commits = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8u64)
            .map(|thread| {
                let (group, commits) = (Arc::clone(&group), Arc::clone(&commits));
                std::thread::spawn(move || {
                    for n in 0..50u64 {
                        let request = thread * 1000 + n;
                        let result = group.run(request, |requests| {
                            commits.fetch_add(1, Ordering::Relaxed);
                            std::thread::sleep(std::time::Duration::from_micros(200));
                            requests.iter().map(|r| r * 2).collect()
                        });
                        assert_eq!(result, request * 2);
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        let commits = commits.load(Ordering::Relaxed);
        assert!(commits < 400, "{commits} commits for 400 requests");
        assert!(group.lock().results.is_empty() && group.lock().pending.is_empty());
    }

    /// A commit that panics does not strand the callers waiting behind it: those in its
    /// group panic, later ones commit.
    #[test]
    fn a_panicking_commit_does_not_strand_the_others() {
        let group: Arc<GroupCommit<u64, u64>> = Arc::default();
        let first = {
            let group = Arc::clone(&group);
            std::thread::spawn(move || group.run(1, |_| panic!("commit failed")))
        };
        assert!(first.join().is_err());
        assert_eq!(group.run(2, |requests| requests), 2);
        assert!(group.lock().abandoned.is_empty());
    }

    /// Callers that pile up behind a running commit are taken at most
    /// [`GROUP_REQUESTS_MAX`] per transaction, in arrival order; the rest go next.
    #[test]
    fn a_group_takes_at_most_the_limit() {
        let group: Arc<GroupCommit<u64, u64>> = Arc::default();
        let sizes = Arc::new(std::sync::Mutex::new(Vec::new()));
        let waiting = GROUP_REQUESTS_MAX as u64 + 10;
        let commit = move |group: Arc<GroupCommit<u64, u64>>, sizes: Arc<std::sync::Mutex<Vec<Vec<u64>>>>| {
            move |requests: Vec<u64>| {
                // The first commit holds on until every other caller is queued.
                if requests == [0] {
                    while (group.lock().pending.len() as u64) < waiting {
                        std::thread::sleep(std::time::Duration::from_millis(1));
                    }
                }
                sizes.lock().unwrap().push(requests.clone());
                requests
            }
        };
        let first = {
            let (g, s) = (Arc::clone(&group), Arc::clone(&sizes));
            std::thread::spawn(move || g.run(0, commit(Arc::clone(&g), s)))
        };
        while !group.lock().committing {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let others: Vec<_> = (1..=waiting)
            .map(|n| {
                let (g, s) = (Arc::clone(&group), Arc::clone(&sizes));
                let handle = std::thread::spawn(move || g.run(n, commit(Arc::clone(&g), s)));
                // One at a time into the queue, so arrival order is known. Waits on the
                // tickets handed out, which only grow: the queue itself empties as soon as
                // the last caller is in (the first commit lets go then), and a poll that
                // missed that moment waited for ever on a loaded machine.
                while group.lock().next_ticket <= n {
                    std::thread::sleep(std::time::Duration::from_micros(100));
                }
                handle
            })
            .collect();
        assert_eq!(first.join().unwrap(), 0);
        for (n, handle) in (1..=waiting).zip(others) {
            assert_eq!(handle.join().unwrap(), n);
        }
        let sizes = sizes.lock().unwrap();
        assert_eq!(sizes[0], [0]);
        assert_eq!(sizes[1], (1..=GROUP_REQUESTS_MAX as u64).collect::<Vec<_>>());
        assert_eq!(sizes[2], (GROUP_REQUESTS_MAX as u64 + 1..=waiting).collect::<Vec<_>>());
    }
}
