//! Blocking work off the executors: fsync, LMDB write commits, opening environments,
//! password hashing, sendfile. Each executor has a small pool of helper threads fed from
//! one queue; the executor awaits the result without blocking, and the helper that
//! finishes wakes the waiting task through the core's remote queue.
//!
//! A panic in the closure is caught and returned as [`OffloadPanic`].

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Poll, Waker};

/// The offloaded closure panicked; the text is the panic message when it was a string.
#[derive(Debug, Clone, thiserror::Error)]
#[error("blocking task panicked: {0}")]
pub struct OffloadPanic(pub String);

type Job = Box<dyn FnOnce() + Send>;

/// One core's helper threads and their queue.
pub(crate) struct Pool {
    shared: Arc<PoolShared>,
}

#[derive(Default)]
struct PoolShared {
    jobs: Mutex<PoolQueue>,
    ready: Condvar,
}

#[derive(Default)]
struct PoolQueue {
    jobs: VecDeque<Job>,
    closed: bool,
}

impl PoolShared {
    fn lock(&self) -> MutexGuard<'_, PoolQueue> {
        self.jobs.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Pool {
    /// Starts `threads` helper threads named `name`.
    pub(crate) fn start(threads: usize, name: &str) -> std::io::Result<Pool> {
        let shared = Arc::new(PoolShared::default());
        for _ in 0..threads.max(1) {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new().name(name.to_string()).spawn(move || helper(&shared))?;
        }
        Ok(Pool { shared })
    }

    fn submit(&self, job: Job) {
        self.shared.lock().jobs.push_back(job);
        self.shared.ready.notify_one();
    }
}

impl Drop for Pool {
    /// Helpers finish the jobs queued and exit; nobody waits for them.
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_all();
    }
}

fn helper(shared: &PoolShared) {
    loop {
        let job = {
            let mut queue = shared.lock();
            loop {
                if let Some(job) = queue.jobs.pop_front() {
                    break job;
                }
                if queue.closed {
                    return;
                }
                queue = shared.ready.wait(queue).unwrap_or_else(PoisonError::into_inner);
            }
        };
        job();
    }
}

std::thread_local! {
    static POOL: std::cell::RefCell<Option<Pool>> = const { std::cell::RefCell::new(None) };
}

/// Gives the calling executor thread its pool (until [`uninstall`]).
pub(crate) fn install(pool: Pool) {
    POOL.with(|slot| *slot.borrow_mut() = Some(pool));
}

/// Drops the calling executor thread's pool: its helpers exit once idle.
pub(crate) fn uninstall() {
    let pool = POOL.with(|slot| slot.borrow_mut().take());
    drop(pool);
}

/// Where a helper leaves the result for the waiting task.
struct Slot<R> {
    state: Mutex<(Option<std::thread::Result<R>>, Option<Waker>)>,
}

/// Runs `work` on one of this core's helper threads and returns its result.
/// Must be called from inside the runtime.
pub async fn offload<F, R>(work: F) -> Result<R, OffloadPanic>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let slot = Arc::new(Slot { state: Mutex::new((None, None)) });
    let filled = Arc::clone(&slot);
    let job: Job = Box::new(move || {
        let result = catch_unwind(AssertUnwindSafe(work));
        let waker = {
            let mut state = filled.state.lock().unwrap_or_else(PoisonError::into_inner);
            state.0 = Some(result);
            state.1.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    });
    let submitted = POOL.with(|pool| pool.borrow().as_ref().map(|pool| pool.submit(job)));
    if submitted.is_none() {
        panic!("moxide-runtime offload outside the runtime");
    }
    let result = std::future::poll_fn(|cx| {
        let mut state = slot.state.lock().unwrap_or_else(PoisonError::into_inner);
        match state.0.take() {
            Some(result) => Poll::Ready(result),
            None => {
                match &state.1 {
                    Some(waker) if waker.will_wake(cx.waker()) => {}
                    _ => state.1 = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    })
    .await;
    result.map_err(|payload| OffloadPanic(panic_text(payload.as_ref())))
}

/// Runs `work` on one of this core's helper threads without waiting for it: for work
/// that must finish whether or not anyone is still interested (a group commit that
/// other tasks await). A panic in it is caught and logged. Outside the runtime the work
/// comes back as the error, for the caller to run where it may block.
pub fn offload_detached<F>(work: F) -> Result<(), F>
where
    F: FnOnce() + Send + 'static,
{
    POOL.with(|pool| match pool.borrow().as_ref() {
        Some(pool) => {
            pool.submit(Box::new(move || {
                if let Err(payload) = catch_unwind(AssertUnwindSafe(work)) {
                    tracing::error!(panic = %panic_text(payload.as_ref()), "detached helper job panicked");
                }
            }));
            Ok(())
        }
        None => Err(work),
    })
}

/// A panic's message when it was a string (what `panic!` with text makes): for every
/// place that catches a panic and reports it.
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::{RuntimeConfig, run};

    #[test]
    fn detached_work_outside_the_runtime_comes_back() {
        let work = offload_detached(|| ()).unwrap_err();
        work();
    }

    #[test]
    fn result_and_panic_come_back() {
        let config = RuntimeConfig { pin_to_cpus: false, ..RuntimeConfig::default() };
        run(&config, vec![()], |_, ()| async {
            let executor_thread = std::thread::current().id();
            let (value, thread) = offload(|| (6 * 7, std::thread::current().id())).await.unwrap();
            assert_eq!(value, 42);
            assert_ne!(thread, executor_thread);
            let panicked = offload(|| -> u32 { panic!("boom") }).await.unwrap_err();
            assert_eq!(panicked.0, "boom");
            // A detached job runs on a helper; one that panics leaves the helper working.
            let (sender, receiver) = std::sync::mpsc::channel();
            assert!(offload_detached(|| panic!("detached boom")).is_ok());
            assert!(offload_detached(move || sender.send(std::thread::current().id()).unwrap()).is_ok());
            let thread = offload(move || receiver.recv().unwrap()).await.unwrap();
            assert_ne!(thread, executor_thread);
        })
        .unwrap();
    }
}
