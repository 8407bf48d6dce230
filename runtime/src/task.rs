//! Spawning tasks on the current core. Tasks never migrate: a task spawned here runs on
//! this executor until it ends, so it may hold `Rc`s and `RefCell`s.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// A spawned task's result. Dropping the handle cancels the task; call
/// [`JoinHandle::detach`] to let it run on its own.
#[must_use = "dropping a JoinHandle cancels the task; detach() it to let it run"]
pub struct JoinHandle<T>(glommio::Task<T>);

impl<T> JoinHandle<T> {
    /// Lets the task run to completion without anyone awaiting it.
    pub fn detach(self) {
        self.0.detach();
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
    JoinHandle(glommio::spawn_local(future))
}

/// Spawns `future` and lets it run on its own.
pub fn spawn_detached<F>(future: F)
where
    F: Future + 'static,
    F::Output: 'static,
{
    glommio::spawn_local(future).detach();
}

/// Lets other tasks on this core run before continuing.
pub async fn yield_now() {
    futures_lite::future::yield_now().await;
}

/// How long [`yield_to_reactor`] waits at most when nothing else is ready: long enough
/// that its timer is not yet due when first polled (so the task really waits for the
/// reactor), short enough to cost nothing a client could notice.
const REACTOR_YIELD_MIN: Duration = Duration::from_micros(20);

/// Lets the core's reactor take in what completed (socket readiness, file operations)
/// and the tasks that wakes run, besides those already woken, before continuing.
/// [`yield_now`] only lets already woken tasks run: glommio polls its rings when the run
/// queue is empty or its preemption timer fires (100 ms), so a task that loops with
/// `yield_now` keeps every socket on the core waiting. A short timer does it: the task
/// then runs again once the reactor was polled, at most [`REACTOR_YIELD_MIN`] later if
/// the core has nothing else to do.
pub async fn yield_to_reactor() {
    glommio::timer::Timer::new(REACTOR_YIELD_MIN).await;
}
