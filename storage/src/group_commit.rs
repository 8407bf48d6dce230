//! Group commit for a store written from many threads and tasks at once: requests that
//! arrive while a commit runs wait, and the next commit takes all of them in one
//! transaction (one set of device flushes) and hands each its own result. A request's
//! result is published only after the transaction holding it is durable, exactly as if
//! it had committed alone; only the flushes are shared.
//!
//! One committer at a time commits groups until none is pending. A caller on an
//! executor ([`GroupCommit::submit`] then [`GroupCommit::result`]) starts the committer
//! as a job on a helper thread when none runs, and awaits its result without holding a
//! thread: many sessions waiting for one commit's flushes must not occupy every helper
//! thread of their core (signing, reading and the commit itself need them). A blocking
//! caller ([`GroupCommit::run`]) that finds no committer commits on its own thread until
//! its own request is durable, then hands what is pending over to those requests' owners
//! ([`Turn::Lead`]); otherwise it waits on a `Condvar`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

/// Requests one transaction takes at most: bounds the transaction's size (and so the
/// time others wait behind it) when many callers pile up; the rest go in the next one.
pub(crate) const GROUP_REQUESTS_MAX: usize = 64;

/// The queue of requests and the results not yet collected.
pub(crate) struct GroupCommit<T, R> {
    shared: Arc<Shared<T, R>>,
}

struct Shared<T, R> {
    state: Mutex<State<T, R>>,
    finished: Condvar,
}

struct State<T, R> {
    pending: VecDeque<(u64, T)>,
    results: HashMap<u64, R>,
    /// Tickets of a group whose commit panicked.
    abandoned: HashSet<u64>,
    /// Tickets whose awaiting future was dropped: their results are discarded.
    orphaned: HashSet<u64>,
    /// Tasks awaiting a result.
    wakers: HashMap<u64, Waker>,
    committing: bool,
    next_ticket: u64,
}

/// A request's place in line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket(u64);

impl<T, R> Default for GroupCommit<T, R> {
    fn default() -> Self {
        GroupCommit {
            shared: Arc::new(Shared {
                state: Mutex::new(State {
                    pending: VecDeque::new(),
                    results: HashMap::new(),
                    abandoned: HashSet::new(),
                    orphaned: HashSet::new(),
                    wakers: HashMap::new(),
                    committing: false,
                    next_ticket: 0,
                }),
                finished: Condvar::new(),
            }),
        }
    }
}

impl<T, R> Shared<T, R> {
    fn lock(&self) -> MutexGuard<'_, State<T, R>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<T, R> GroupCommit<T, R> {
    #[cfg(test)]
    fn lock(&self) -> MutexGuard<'_, State<T, R>> {
        self.shared.lock()
    }

    /// Puts `request` in line. The flag is true when no committer runs: the caller must
    /// then run [`GroupCommit::commit_pending`] (on a thread that may block), which
    /// commits this request and every one that arrives meanwhile.
    pub(crate) fn submit(&self, request: T) -> (Ticket, bool) {
        let mut state = self.shared.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.pending.push_back((ticket, request));
        let start = !state.committing;
        state.committing = true;
        (Ticket(ticket), start)
    }

    /// The committer: commits groups (at most [`GROUP_REQUESTS_MAX`] requests each, in
    /// arrival order) until none is pending, publishing each group's results as soon as
    /// its commit returns. `commit` must return one result per request, in order;
    /// `after` runs once each group's results are out (work that need not delay them,
    /// such as removing files the commit made unreferenced). A panicking commit abandons
    /// its group's requests; the committer goes on.
    pub(crate) fn commit_pending(&self, commit: impl FnMut(Vec<T>) -> Vec<R>, after: impl FnMut()) {
        self.commit_until(None, commit, after);
    }

    /// [`GroupCommit::commit_pending`], stopping once `own`'s result is published: a
    /// blocking caller leads only until its own request is durable, then hands what is
    /// still pending over to the requests' owners (the first of them to look starts the
    /// next committer), so its call is not held for ever by others' steady arrivals.
    fn commit_until(
        &self,
        own: Option<u64>,
        mut commit: impl FnMut(Vec<T>) -> Vec<R>,
        mut after: impl FnMut(),
    ) {
        loop {
            let (tickets, requests): (Vec<u64>, Vec<T>) = {
                let mut state = self.shared.lock();
                let own_done =
                    own.is_some_and(|own| state.results.contains_key(&own) || state.abandoned.contains(&own));
                if state.pending.is_empty() || own_done {
                    state.committing = false;
                    let wake = hand_over(&mut state);
                    drop(state);
                    self.wake(wake);
                    return;
                }
                let take = state.pending.len().min(GROUP_REQUESTS_MAX);
                state.pending.drain(..take).unzip()
            };
            let outcome = catch_unwind(AssertUnwindSafe(|| commit(requests)));
            let mut state = self.shared.lock();
            let mut wake = Vec::with_capacity(tickets.len());
            match outcome {
                Ok(results) => {
                    debug_assert_eq!(results.len(), tickets.len(), "one result per request");
                    for (ticket, result) in tickets.into_iter().zip(results) {
                        if !state.orphaned.remove(&ticket) {
                            state.results.insert(ticket, result);
                            wake.extend(state.wakers.remove(&ticket));
                        }
                    }
                }
                Err(_) => {
                    for ticket in tickets {
                        if !state.orphaned.remove(&ticket) {
                            state.abandoned.insert(ticket);
                            wake.extend(state.wakers.remove(&ticket));
                        }
                    }
                }
            }
            drop(state);
            self.wake(wake);
            // A panic here must not leave `committing` set with nobody committing (the
            // panic hook has reported it).
            let _ = catch_unwind(AssertUnwindSafe(&mut after));
        }
    }

    /// Wakes blocking callers (all: each checks its own ticket) and the given tasks.
    fn wake(&self, wakers: Vec<Waker>) {
        self.shared.finished.notify_all();
        for waker in wakers {
            waker.wake();
        }
    }

    /// Commits `request`, alone or with others, blocking the calling thread until its
    /// transaction is durable. With no committer running, the caller commits on its own
    /// thread (what is pending, its request among it) until its request is durable;
    /// `after` as in [`GroupCommit::commit_pending`].
    ///
    /// # Panics
    ///
    /// When the commit of the request's group panicked (as the caller's own commit
    /// would have).
    pub(crate) fn run(
        &self,
        request: T,
        mut commit: impl FnMut(Vec<T>) -> Vec<R>,
        mut after: impl FnMut(),
    ) -> R {
        let (ticket, start) = self.submit(request);
        if start {
            self.commit_until(Some(ticket.0), &mut commit, &mut after);
        }
        let mut state = self.shared.lock();
        loop {
            if let Some(result) = state.results.remove(&ticket.0) {
                return result;
            }
            if state.abandoned.remove(&ticket.0) {
                drop(state);
                panic!("the group commit holding this request panicked");
            }
            if !state.committing {
                // Handed over by a caller that led before: this one leads now.
                state.committing = true;
                drop(state);
                self.commit_until(Some(ticket.0), &mut commit, &mut after);
                state = self.shared.lock();
                continue;
            }
            state = self.shared.finished.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The outcome of a [`GroupCommit::submit`]ted request, awaited without blocking
    /// ([`GroupResult::turn`]). Dropping it before the result leaves the request in line
    /// (it is still committed) and discards the result.
    pub(crate) fn result(&self, ticket: Ticket) -> GroupResult<T, R> {
        GroupResult { shared: Some(Arc::clone(&self.shared)), ticket: ticket.0 }
    }
}

/// With no committer running and requests pending: the wakers of those requests'
/// owners, taken out, for the first of them to look to start the next committer.
fn hand_over<T, R>(state: &mut State<T, R>) -> Vec<Waker> {
    if state.committing || state.pending.is_empty() {
        return Vec::new();
    }
    let tickets: Vec<u64> = state.pending.iter().map(|(ticket, _)| *ticket).collect();
    tickets.into_iter().filter_map(|ticket| state.wakers.remove(&ticket)).collect()
}

/// What awaiting a request gives ([`GroupResult::turn`]).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Turn<R> {
    /// The request's transaction is durable; its result.
    Done(R),
    /// The commit of the request's group panicked: its outcome is unknown.
    Abandoned,
    /// No committer runs and requests are pending (a blocking caller led, and handed
    /// over when its own request was durable): the caller must start the committer, as
    /// when [`GroupCommit::submit`] says so, then await the turn again.
    Lead,
}

/// One request's place in line, for a task ([`GroupCommit::result`]).
pub(crate) struct GroupResult<T, R> {
    /// `None` once the result was taken.
    shared: Option<Arc<Shared<T, R>>>,
    ticket: u64,
}

impl<T, R> GroupResult<T, R> {
    /// The request's outcome, or [`Turn::Lead`] (after which the caller awaits again).
    pub(crate) async fn turn(&mut self) -> Turn<R> {
        std::future::poll_fn(|cx| self.poll_turn(cx)).await
    }

    fn poll_turn(&mut self, cx: &mut Context<'_>) -> Poll<Turn<R>> {
        let ticket = self.ticket;
        let Some(shared) = self.shared.as_ref() else {
            return Poll::Ready(Turn::Abandoned);
        };
        let mut state = shared.lock();
        let ready = if let Some(result) = state.results.remove(&ticket) {
            Turn::Done(result)
        } else if state.abandoned.remove(&ticket) {
            Turn::Abandoned
        } else if !state.committing {
            // Pending (not published, so still in line) with nobody committing.
            state.committing = true;
            return Poll::Ready(Turn::Lead);
        } else {
            match state.wakers.get(&ticket) {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                _ => {
                    state.wakers.insert(ticket, cx.waker().clone());
                }
            }
            return Poll::Pending;
        };
        drop(state);
        self.shared = None;
        Poll::Ready(ready)
    }
}

impl<T, R> Drop for GroupResult<T, R> {
    /// Discards the result; a hand-over this owner was woken for passes to the others.
    fn drop(&mut self) {
        let Some(shared) = self.shared.take() else { return };
        let mut state = shared.lock();
        state.wakers.remove(&self.ticket);
        let published = state.results.remove(&self.ticket).is_some() || state.abandoned.remove(&self.ticket);
        if !published {
            state.orphaned.insert(self.ticket);
        }
        let wake = hand_over(&mut state);
        drop(state);
        shared.finished.notify_all();
        for waker in wake {
            waker.wake();
        }
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
                        let result = group.run(
                            request,
                            |requests| {
                                commits.fetch_add(1, Ordering::Relaxed);
                                std::thread::sleep(std::time::Duration::from_micros(200));
                                requests.iter().map(|r| r * 2).collect()
                            },
                            || {},
                        );
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
            std::thread::spawn(move || group.run(1, |_| panic!("commit failed"), || {}))
        };
        assert!(first.join().is_err());
        assert_eq!(group.run(2, |requests| requests, || {}), 2);
        assert!(group.lock().abandoned.is_empty());
    }

    /// A waker that unparks a thread: awaits a result in a test without a runtime.
    struct Unpark(std::thread::Thread);

    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }

    fn block_on<F: Future>(future: F) -> F::Output {
        let mut future = std::pin::pin!(future);
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        loop {
            if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
                return output;
            }
            std::thread::park();
        }
    }

    /// A hundred requests submitted from one thread wait as futures, not as threads; the
    /// one committer takes them in groups of at most the limit and each future gets its
    /// own result. Once the committer has ended, the next request starts another.
    #[test]
    fn submitted_requests_wait_without_a_thread_and_share_commits() {
        let group: Arc<GroupCommit<u64, u64>> = Arc::default();
        let mut waiting = Vec::new();
        for n in 0..100u64 {
            let (ticket, start) = group.submit(n);
            assert_eq!(start, n == 0, "only the first request finds no committer");
            waiting.push((n, group.result(ticket)));
        }
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let committer = {
            let (group, sizes) = (Arc::clone(&group), Arc::clone(&sizes));
            std::thread::spawn(move || {
                group.commit_pending(
                    |requests| {
                        sizes.lock().unwrap().push(requests.len());
                        requests.iter().map(|r| r * 2).collect()
                    },
                    || {},
                )
            })
        };
        for (n, mut result) in waiting {
            assert_eq!(block_on(result.turn()), Turn::Done(n * 2));
        }
        committer.join().unwrap();
        assert_eq!(*sizes.lock().unwrap(), [GROUP_REQUESTS_MAX, 100 - GROUP_REQUESTS_MAX]);
        {
            let state = group.lock();
            assert!(state.results.is_empty() && state.wakers.is_empty() && !state.committing);
        }
        assert!(group.submit(7).1, "a request after the committer ended starts one");
    }

    /// A future dropped before its result leaves the request in line: it is committed,
    /// and its result is discarded rather than kept for ever.
    #[test]
    fn a_dropped_wait_is_still_committed_and_its_result_discarded() {
        let group = GroupCommit::<u64, u64>::default();
        let (first, _) = group.submit(1);
        drop(group.result(first));
        let (second, _) = group.submit(2);
        let committed = Mutex::new(Vec::<u64>::new());
        let mut afters = 0;
        group.commit_pending(
            |requests| {
                committed.lock().unwrap().extend(&requests);
                requests
            },
            || {
                // Runs once the group's results are out, not before.
                assert!(
                    group.lock().results.contains_key(&second.0),
                    "after ran before the results were out"
                );
                afters += 1;
            },
        );
        assert_eq!(*committed.lock().unwrap(), [1, 2]);
        assert_eq!(afters, 1, "once per group");
        assert_eq!(block_on(group.result(second).turn()), Turn::Done(2));
        let state = group.lock();
        assert!(state.results.is_empty() && state.orphaned.is_empty() && state.wakers.is_empty());
    }

    /// A blocking caller that found no committer commits only until its own request is
    /// durable: a request that arrived meanwhile is handed over to its awaiting owner,
    /// which is told to start the committer.
    #[test]
    fn a_blocking_caller_leads_until_its_own_result_then_hands_over() {
        let group: Arc<GroupCommit<u64, u64>> = Arc::default();
        let (started, commit_started) = std::sync::mpsc::channel();
        let (go, proceed) = std::sync::mpsc::channel::<()>();
        let blocking = {
            let group = Arc::clone(&group);
            std::thread::spawn(move || {
                group.run(
                    1,
                    |requests| {
                        assert_eq!(requests, [1], "the blocking caller committed another's request");
                        started.send(()).unwrap();
                        proceed.recv().unwrap();
                        requests
                    },
                    || {},
                )
            })
        };
        commit_started.recv().unwrap();
        let (ticket, start) = group.submit(2);
        assert!(!start, "a commit is under way");
        let mut result = group.result(ticket);
        go.send(()).unwrap();
        assert_eq!(blocking.join().unwrap(), 1);
        assert_eq!(block_on(result.turn()), Turn::Lead);
        group.commit_pending(|requests| requests, || {});
        assert_eq!(block_on(result.turn()), Turn::Done(2));
        assert!(!group.lock().committing);
    }

    /// A panicking `after` step neither loses the group's results nor leaves the group
    /// commit believing a committer still runs.
    #[test]
    fn a_panicking_after_step_leaves_the_results_and_the_next_commit() {
        let group = GroupCommit::<u64, u64>::default();
        let (ticket, start) = group.submit(1);
        assert!(start);
        group.commit_pending(|requests| requests, || panic!("after failed"));
        assert_eq!(block_on(group.result(ticket).turn()), Turn::Done(1));
        assert!(group.submit(2).1, "the next request starts a committer");
    }

    /// Awaited requests whose group's commit panicked get `Abandoned`; the committer
    /// survives the panic and commits the next group.
    #[test]
    fn awaited_requests_of_a_panicking_commit_are_abandoned() {
        let group = GroupCommit::<u64, u64>::default();
        let tickets: Vec<Ticket> = (0..=GROUP_REQUESTS_MAX as u64).map(|n| group.submit(n).0).collect();
        group.commit_pending(
            |requests| {
                assert!(!requests.contains(&0), "commit failed");
                requests
            },
            || {},
        );
        let last = GROUP_REQUESTS_MAX as u64;
        for (n, ticket) in (0..=last).zip(tickets) {
            let expected = if n == last { Turn::Done(last) } else { Turn::Abandoned };
            assert_eq!(block_on(group.result(ticket).turn()), expected);
        }
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
            std::thread::spawn(move || g.run(0, commit(Arc::clone(&g), s), || {}))
        };
        while !group.lock().committing {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        let others: Vec<_> = (1..=waiting)
            .map(|n| {
                let (g, s) = (Arc::clone(&group), Arc::clone(&sizes));
                let handle = std::thread::spawn(move || g.run(n, commit(Arc::clone(&g), s), || {}));
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
