//! The executor loop of one core: a run queue of tasks, the reactor, and the protocol by
//! which other threads wake a parked core.
//!
//! Tasks are `async-task` tasks spawned as thread-local: they are polled and dropped only
//! on the core that spawned them. A task woken on its own core goes to the local run
//! queue (no atomics beyond the task's own state). A task woken from another thread (an
//! offloaded job finished, another core sent a mesh message) goes to the core's remote
//! queue, a mutex-guarded vector; the waking thread writes the core's eventfd only when
//! the core is parked or about to park (`sleeping`), so a busy core takes remote wakes
//! with no system call.
//!
//! Parking is race-free without `membarrier`: the core sets `sleeping` and then looks at
//! the remote queue; a waker pushes and then swaps `sleeping` off. Both are sequentially
//! consistent, so either the core sees the task or the waker sees `sleeping` and writes
//! the eventfd (level-triggered in the epoll set, so a write before the wait still wakes
//! it).
//!
//! One pass of the loop: move remote wakes to the local queue, run the tasks queued at
//! the start of the pass (at most [`TASKS_PER_PASS`]; tasks woken meanwhile wait for the
//! next pass, so sockets are polled between), then poll the reactor: without waiting when
//! tasks are queued, else until the next timer or event.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use async_task::Runnable;

use crate::reactor::{Reactor, WakeHandle};

/// Tasks run per pass at most before the reactor is polled again, so that a core with a
/// long run queue still takes in socket events every so often.
const TASKS_PER_PASS: usize = 256;

/// What other threads share with a core: its remote queue and how to wake it.
pub(crate) struct Remote {
    queue: Mutex<RemoteQueue>,
    sleeping: AtomicBool,
    wake: WakeHandle,
    owner: ThreadId,
}

#[derive(Default)]
struct RemoteQueue {
    tasks: Vec<Runnable>,
    /// The core ended: wakes from other threads are dropped (leaked: a thread-local task
    /// must not be dropped on another thread).
    closed: bool,
}

impl Remote {
    fn lock(&self) -> MutexGuard<'_, RemoteQueue> {
        // A panic while holding this lock leaves a consistent queue (push or take).
        self.queue.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn push(&self, runnable: Runnable) {
        {
            let mut queue = self.lock();
            if queue.closed {
                std::mem::forget(runnable);
                return;
            }
            queue.tasks.push(runnable);
        }
        if self.sleeping.swap(false, Ordering::SeqCst) {
            self.wake.wake();
        }
    }
}

/// The state of the core running on this thread.
pub(crate) struct Local {
    queue: RefCell<VecDeque<Runnable>>,
    remote: Arc<Remote>,
    reactor: Reactor,
    busy: Cell<Duration>,
}

thread_local! {
    static LOCAL: RefCell<Option<Rc<Local>>> = const { RefCell::new(None) };
}

fn current() -> Option<Rc<Local>> {
    LOCAL.try_with(|slot| slot.borrow().clone()).ok().flatten()
}

/// Runs `f` with the current core's reactor. Panics outside the runtime (a programmer
/// error: only code started by [`crate::run`] does I/O through it).
pub(crate) fn with_reactor<R>(f: impl FnOnce(&Reactor) -> R) -> R {
    match current() {
        Some(local) => f(&local.reactor),
        None => panic!("moxide-runtime I/O used outside the runtime"),
    }
}

/// Like [`with_reactor`], `None` outside the runtime (drops after the core ended).
pub(crate) fn try_with_reactor<R>(f: impl FnOnce(&Reactor) -> R) -> Option<R> {
    current().map(|local| f(&local.reactor))
}

/// Time this core spent running tasks (for [`crate::stats`]).
pub(crate) fn busy_time() -> Duration {
    current().map_or(Duration::ZERO, |local| local.busy.get())
}

fn schedule(remote: &Arc<Remote>, runnable: Runnable) {
    let mut runnable = Some(runnable);
    // Fails only while this thread's locals are destroyed: then it runs no core.
    let _ = LOCAL.try_with(|slot| {
        if let Some(local) = slot.borrow().as_ref()
            && Arc::ptr_eq(&local.remote, remote)
            && let Some(runnable) = runnable.take()
        {
            local.queue.borrow_mut().push_back(runnable);
        }
    });
    let Some(runnable) = runnable else { return };
    if std::thread::current().id() == remote.owner {
        // The core ended and this is its thread: the task may be dropped here.
        drop(runnable);
    } else {
        remote.push(runnable);
    }
}

/// Spawns a task on the current core and queues its first poll.
pub(crate) fn spawn_local<F>(future: F) -> async_task::Task<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let remote = match current() {
        Some(local) => Arc::clone(&local.remote),
        None => panic!("moxide-runtime spawn outside the runtime"),
    };
    let (runnable, task) = async_task::spawn_local(future, move |runnable| schedule(&remote, runnable));
    runnable.schedule();
    task
}

/// Runs the core: `root` and every task it spawns, until `root` completes; the pass in
/// which it completes runs to its end. Tasks still pending then are dropped.
pub(crate) fn run_core<F>(root: F) -> io::Result<()>
where
    F: Future<Output = ()> + 'static,
{
    let reactor = Reactor::new()?;
    let remote = Arc::new(Remote {
        queue: Mutex::new(RemoteQueue::default()),
        sleeping: AtomicBool::new(false),
        wake: reactor.wake_handle()?,
        owner: std::thread::current().id(),
    });
    let local = Rc::new(Local {
        queue: RefCell::new(VecDeque::new()),
        remote,
        reactor,
        busy: Cell::new(Duration::ZERO),
    });
    LOCAL.with(|slot| *slot.borrow_mut() = Some(Rc::clone(&local)));
    let done = Rc::new(Cell::new(false));
    let done_in = Rc::clone(&done);
    spawn_local(async move {
        root.await;
        done_in.set(true);
    })
    .detach();
    let result = run_passes(&local, &done);
    shut_down(local);
    result
}

fn run_passes(local: &Local, done: &Cell<bool>) -> io::Result<()> {
    loop {
        let started = Instant::now();
        {
            let mut remote = local.remote.lock();
            if !remote.tasks.is_empty() {
                local.queue.borrow_mut().extend(remote.tasks.drain(..));
            }
        }
        let queued = local.queue.borrow().len().min(TASKS_PER_PASS);
        for _ in 0..queued {
            let next = local.queue.borrow_mut().pop_front();
            match next {
                Some(runnable) => {
                    runnable.run();
                }
                None => break,
            }
        }
        // Checked after the pass, not after each task: the tasks woken together with the
        // root (a shutdown notice wakes every listener and the root at once) still run
        // their last steps before the core ends.
        if done.get() {
            return Ok(());
        }
        local.busy.set(local.busy.get() + started.elapsed());
        let timeout = if !local.queue.borrow().is_empty() || local.reactor.has_yielders() {
            Some(Duration::ZERO)
        } else {
            park_timeout(local)
        };
        let result = local.reactor.poll(timeout);
        local.remote.sleeping.store(false, Ordering::SeqCst);
        result?;
    }
}

/// Announces the park and returns how long to wait: zero when a remote wake came in
/// meanwhile (the next pass takes it), else until the next timer (or forever).
fn park_timeout(local: &Local) -> Option<Duration> {
    local.remote.sleeping.store(true, Ordering::SeqCst);
    if !local.remote.lock().tasks.is_empty() {
        return Some(Duration::ZERO);
    }
    local.reactor.next_deadline().map(|deadline| deadline.saturating_duration_since(Instant::now()))
}

fn shut_down(local: Rc<Local>) {
    let remote_tasks = {
        let mut remote = local.remote.lock();
        remote.closed = true;
        std::mem::take(&mut remote.tasks)
    };
    LOCAL.with(|slot| slot.borrow_mut().take());
    // Dropped here, on the core's thread, after the core stopped taking wakes: dropping a
    // task may wake others, whose schedule then drops them too (see `schedule`).
    drop(remote_tasks);
    let queued = std::mem::take(&mut *local.queue.borrow_mut());
    drop(queued);
    drop(local);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::{RuntimeConfig, run, spawn, spawn_detached};
    use std::sync::atomic::AtomicUsize;
    use std::task::{Poll, Waker};

    fn one_core<Fut: Future<Output = ()> + 'static>(init: impl Fn() -> Fut + Send + Sync + 'static) {
        let config = RuntimeConfig { pin_to_cpus: false, ..RuntimeConfig::default() };
        run(&config, vec![()], move |_, ()| init()).unwrap();
    }

    /// A core with nothing to do parks in epoll without a timeout; a waker fired from a
    /// plain thread must still reach it (remote queue + eventfd).
    #[test]
    fn a_wake_from_another_thread_reaches_a_parked_core() {
        one_core(|| async {
            let slot: Arc<Mutex<(bool, Option<Waker>)>> = Arc::new(Mutex::new((false, None)));
            let waker_side = Arc::clone(&slot);
            std::thread::spawn(move || {
                for _ in 0..3 {
                    std::thread::sleep(Duration::from_millis(30));
                    let waker = {
                        let mut state = waker_side.lock().unwrap();
                        state.0 = true;
                        state.1.take()
                    };
                    if let Some(waker) = waker {
                        waker.wake();
                        return;
                    }
                }
            });
            std::future::poll_fn(|cx| {
                let mut state = slot.lock().unwrap();
                if state.0 {
                    return Poll::Ready(());
                }
                state.1 = Some(cx.waker().clone());
                Poll::Pending
            })
            .await;
        });
    }

    /// Dropping a JoinHandle cancels the task: its future is dropped on the core and
    /// never completes.
    #[test]
    fn a_dropped_join_handle_cancels_the_task() {
        one_core(|| async {
            let finished = Rc::new(Cell::new(false));
            let set = Rc::clone(&finished);
            let handle = spawn(async move {
                crate::time::sleep(Duration::from_millis(20)).await;
                set.set(true);
            });
            drop(handle);
            crate::time::sleep(Duration::from_millis(60)).await;
            assert!(!finished.get());
        });
    }

    /// Tasks still pending when the core's root completes are dropped on the core's own
    /// thread (async-task's local tasks must not be dropped elsewhere), timers and
    /// sockets included.
    #[test]
    fn pending_tasks_are_dropped_on_the_core_when_it_ends() {
        struct Guard(Arc<AtomicUsize>, std::thread::ThreadId);
        impl Drop for Guard {
            fn drop(&mut self) {
                assert_eq!(std::thread::current().id(), self.1, "dropped on another thread");
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
        let dropped = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&dropped);
        one_core(move || {
            let counter = Arc::clone(&counter);
            async move {
                let here = std::thread::current().id();
                for _ in 0..10 {
                    let guard = Guard(Arc::clone(&counter), here);
                    spawn_detached(async move {
                        let _guard = guard;
                        crate::time::sleep(Duration::from_secs(3600)).await;
                    });
                }
                let guard = Guard(Arc::clone(&counter), here);
                let socket = crate::udp::UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
                spawn_detached(async move {
                    let _guard = guard;
                    let mut buf = [0u8; 8];
                    let _ = socket.recv_from(&mut buf).await;
                });
                crate::time::sleep(Duration::from_millis(10)).await;
            }
        });
        assert_eq!(dropped.load(Ordering::SeqCst), 11);
    }

    /// A task that loops with yield_to_reactor lets a socket's data in between its
    /// steps, even though it is never idle.
    #[test]
    fn yield_to_reactor_lets_socket_events_in() {
        one_core(|| async {
            let receiver = crate::udp::UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let address = receiver.local_addr().unwrap();
            let received = Rc::new(Cell::new(false));
            let flag = Rc::clone(&received);
            spawn_detached(async move {
                let mut buf = [0u8; 8];
                receiver.recv_from(&mut buf).await.unwrap();
                flag.set(true);
            });
            std::net::UdpSocket::bind("127.0.0.1:0").unwrap().send_to(b"x", address).unwrap();
            let started = Instant::now();
            while !received.get() {
                assert!(started.elapsed() < Duration::from_secs(5), "the datagram never came in");
                crate::task::yield_to_reactor().await;
            }
        });
    }
}
