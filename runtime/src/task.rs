//! Spawning tasks on the current core. Tasks never migrate: a task spawned here runs on
//! this executor until it ends, so it may hold `Rc`s and `RefCell`s.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A spawned task's result. Dropping the handle cancels the task; call
/// [`JoinHandle::detach`] to let it run on its own.
#[must_use = "dropping a JoinHandle cancels the task; detach() it to let it run"]
pub struct JoinHandle<T>(async_task::Task<T>);

impl<T> JoinHandle<T> {
    /// Lets the task run to completion without anyone awaiting it.
    pub fn detach(self) {
        self.0.detach();
    }

    /// Whether the task has ended (its result is ready; awaiting it returns at once).
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        Pin::new(&mut self.0).poll(cx)
    }
}

/// Spawns `future` on the current core's executor. Panics outside the runtime (a
/// programmer error: only code started by [`crate::run`] spawns).
pub fn spawn<F>(future: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    JoinHandle(crate::scheduler::spawn_local(future))
}

/// Spawns `future` and lets it run on its own.
pub fn spawn_detached<F>(future: F)
where
    F: Future + 'static,
    F::Output: 'static,
{
    crate::scheduler::spawn_local(future).detach();
}

/// Lets other tasks on this core run before continuing.
pub async fn yield_now() {
    futures_lite::future::yield_now().await;
}

/// Lets the core's reactor take in what completed (socket readiness, timers) and the
/// tasks that wakes, besides those already woken, run before continuing. [`yield_now`]
/// alone would only let already woken tasks run before this one again; a task that loops
/// over a long job calls this between steps so every socket on the core stays served.
pub async fn yield_to_reactor() {
    let mut registered = false;
    std::future::poll_fn(|cx| {
        if registered {
            return Poll::Ready(());
        }
        registered = true;
        crate::scheduler::with_reactor(|reactor| reactor.add_yielder(cx.waker()));
        Poll::Pending
    })
    .await;
}
