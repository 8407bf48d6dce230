//! Graceful shutdown: SIGTERM and SIGINT are caught once for the process and told to
//! every core, which stops in stages (as Postfix, Dovecot and mox stop: stop accepting,
//! let work under way finish, then close what is left).
//!
//! - [`catch_signals`] runs on the main thread before [`crate::run`]: it installs the
//!   handlers and a watcher thread, and returns one [`ShutdownSeed`] per core.
//! - On its core, [`ShutdownSeed::start`] connects the core's [`Shutdown`] notice (the
//!   one [`notice`] returns there) to the watcher.
//! - The first signal moves every core to [`ShutdownStage::Draining`]: listeners stop,
//!   sessions between commands close, sessions in the middle of one finish it. After
//!   the grace, [`ShutdownStage::Closing`]: whatever still runs is told to stop now. The
//!   application decides when a core's work is done and returns from its init future;
//!   [`crate::run`] returns when every core did.
//! - A second signal, or the `force_after` bound passing, ends the process at once with
//!   exit code 1 ([`FORCED_EXIT_CODE`]): the same as a crash, which storage survives.
//!
//! Invariant: the notice only moves forward (Running → Draining → Closing), and a
//! waiter registered before a move is woken by it. Waiters that are dropped unregister,
//! so racing a notice against reads in a loop costs no memory.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use futures_lite::AsyncReadExt;

/// Exit code when the process is ended before its graceful shutdown completed (a second
/// signal, or the bound passed).
pub const FORCED_EXIT_CODE: i32 = 1;

/// How long the stages may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownPlan {
    /// From the signal to [`ShutdownStage::Closing`]: time for work under way to finish.
    pub grace: Duration,
    /// From the signal to a forced exit, whatever still runs; longer than `grace`.
    pub force_after: Duration,
}

/// Where a core is in stopping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ShutdownStage {
    /// Serving normally.
    Running,
    /// Stop accepting; finish what is under way; close what is idle.
    Draining,
    /// The grace is over: stop everything now.
    Closing,
}

/// One core's end of the signal watcher; `Send`, made before the executors start.
#[derive(Debug)]
pub struct ShutdownSeed {
    wake: UnixStream,
    grace: Duration,
}

/// Installs handlers for SIGTERM and SIGINT (replacing their default, which ends the
/// process at once) and starts the thread that acts on them; returns a seed per core.
/// Call it once, on the main thread, before [`crate::run`].
pub fn catch_signals(cores: usize, plan: ShutdownPlan) -> std::io::Result<Vec<ShutdownSeed>> {
    let mut seeds = Vec::with_capacity(cores);
    let mut wakers = Vec::with_capacity(cores);
    for _ in 0..cores {
        let (wake, waker) = UnixStream::pair()?;
        seeds.push(ShutdownSeed { wake, grace: plan.grace });
        wakers.push(waker);
    }
    let mut signals =
        signal_hook::iterator::Signals::new([signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT])?;
    std::thread::Builder::new().name("moxide-signals".to_string()).spawn(move || {
        let mut signals = signals.forever();
        let Some(first) = signals.next() else { return };
        let grace_ms = u64::try_from(plan.grace.as_millis()).unwrap_or(u64::MAX);
        tracing::info!(signal = first, grace_ms, "shutting down");
        for mut waker in wakers {
            // A core that already ended has closed its end; nothing to tell it.
            let _ = waker.write_all(&[1]);
        }
        let force_after = plan.force_after;
        let _ = std::thread::Builder::new().name("moxide-shutdown-bound".to_string()).spawn(move || {
            std::thread::sleep(force_after);
            let bound_ms = u64::try_from(force_after.as_millis()).unwrap_or(u64::MAX);
            tracing::error!(bound_ms, "shutdown took too long; forcing exit");
            std::process::exit(FORCED_EXIT_CODE);
        });
        if let Some(second) = signals.next() {
            tracing::warn!(signal = second, "second signal; forcing exit");
            std::process::exit(FORCED_EXIT_CODE);
        }
    })?;
    Ok(seeds)
}

impl ShutdownSeed {
    /// On its core: watches for the signal and returns the core's notice, which moves to
    /// Draining when it comes and to Closing after the grace.
    pub fn start(self) -> Shutdown {
        let shutdown = notice();
        let mut wake = match crate::unix::UnixStream::from_std(self.wake) {
            Ok(wake) => wake,
            Err(error) => {
                // This core then learns of a shutdown only by the forced exit's bound.
                tracing::error!(%error, "watching for the shutdown signal");
                return shutdown;
            }
        };
        let watched = shutdown.clone();
        let grace = self.grace;
        crate::task::spawn_detached(async move {
            let mut byte = [0u8; 1];
            // One byte means "begin"; end of stream (the watcher thread gone) never comes
            // before process exit, and an error leaves the core running as it was.
            if matches!(wake.read(&mut byte).await, Ok(1)) {
                watched.begin(grace);
            }
        });
        shutdown
    }
}

thread_local! {
    static NOTICE: RefCell<Option<Shutdown>> = const { RefCell::new(None) };
}

/// This core's shutdown notice (made on first use). Stays at Running until a signal
/// arrives (see [`ShutdownSeed::start`]) or [`Shutdown::begin`] is called.
pub fn notice() -> Shutdown {
    NOTICE.with(|slot| slot.borrow_mut().get_or_insert_with(Shutdown::new).clone())
}

/// One core's shutdown state; cheap to clone, stays on its core.
#[derive(Clone)]
pub struct Shutdown {
    inner: Rc<Inner>,
}

struct Inner {
    stage: Cell<ShutdownStage>,
    /// When Closing begins (set with Draining).
    closing_at: Cell<Option<Instant>>,
    draining: Event,
    closing: Event,
}

impl Shutdown {
    fn new() -> Shutdown {
        Shutdown {
            inner: Rc::new(Inner {
                stage: Cell::new(ShutdownStage::Running),
                closing_at: Cell::new(None),
                draining: Event::default(),
                closing: Event::default(),
            }),
        }
    }

    /// The current stage.
    pub fn stage(&self) -> ShutdownStage {
        self.inner.stage.get()
    }

    /// True from Draining on.
    pub fn is_draining(&self) -> bool {
        self.stage() >= ShutdownStage::Draining
    }

    /// Completes once the core is Draining (at once if it already is).
    pub async fn draining(&self) {
        self.inner.draining.wait().await;
    }

    /// Completes once the core is Closing (at once if it already is).
    pub async fn closing(&self) {
        self.inner.closing.wait().await;
    }

    /// Time left until Closing, while Draining; zero once Closing; `None` while Running.
    pub fn grace_left(&self) -> Option<Duration> {
        match self.stage() {
            ShutdownStage::Running => None,
            ShutdownStage::Closing => Some(Duration::ZERO),
            ShutdownStage::Draining => Some(
                self.inner
                    .closing_at
                    .get()
                    .map_or(Duration::ZERO, |at| at.saturating_duration_since(Instant::now())),
            ),
        }
    }

    /// Begins the shutdown on this core: Draining now, Closing after `grace` (what a
    /// signal does; tests call it directly). Later calls change nothing.
    pub fn begin(&self, grace: Duration) {
        if self.stage() != ShutdownStage::Running {
            return;
        }
        self.inner.closing_at.set(Some(Instant::now() + grace));
        self.inner.stage.set(ShutdownStage::Draining);
        self.inner.draining.set();
        let inner = Rc::clone(&self.inner);
        crate::task::spawn_detached(async move {
            crate::time::sleep(grace).await;
            inner.stage.set(ShutdownStage::Closing);
            inner.closing.set();
        });
    }
}

/// A one-way flag that tasks on one core can wait for.
#[derive(Default)]
struct Event {
    set: Cell<bool>,
    next_id: Cell<u64>,
    waiters: RefCell<HashMap<u64, Waker>>,
}

impl Event {
    fn set(&self) {
        self.set.set(true);
        let waiters = std::mem::take(&mut *self.waiters.borrow_mut());
        for waker in waiters.into_values() {
            waker.wake();
        }
    }

    fn wait(&self) -> EventWait<'_> {
        EventWait { event: self, id: None }
    }
}

/// A wait on an [`Event`]; unregisters itself when dropped.
struct EventWait<'a> {
    event: &'a Event,
    id: Option<u64>,
}

impl Future for EventWait<'_> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.event.set.get() {
            return Poll::Ready(());
        }
        let id = match self.id {
            Some(id) => id,
            None => {
                let id = self.event.next_id.get();
                self.event.next_id.set(id.wrapping_add(1));
                self.id = Some(id);
                id
            }
        };
        self.event.waiters.borrow_mut().insert(id, cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for EventWait<'_> {
    fn drop(&mut self) {
        if let Some(id) = self.id {
            self.event.waiters.borrow_mut().remove(&id);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::{RuntimeConfig, run};

    #[test]
    fn stages_move_forward_and_wake_waiters() {
        let config = RuntimeConfig { pin_to_cpus: false, ..RuntimeConfig::default() };
        run(&config, vec![()], |_, ()| async {
            let shutdown = notice();
            assert_eq!(shutdown.stage(), ShutdownStage::Running);
            assert_eq!(shutdown.grace_left(), None);
            // A waiter raced and dropped many times leaves nothing behind.
            for _ in 0..1000 {
                let raced = futures_lite::future::or(
                    async {
                        shutdown.draining().await;
                        false
                    },
                    async {
                        crate::time::sleep(Duration::from_micros(1)).await;
                        true
                    },
                );
                assert!(raced.await);
            }
            assert!(shutdown.inner.draining.waiters.borrow().is_empty());
            let waiting = crate::spawn({
                let shutdown = shutdown.clone();
                async move {
                    shutdown.draining().await;
                    let at = Instant::now();
                    shutdown.closing().await;
                    at.elapsed()
                }
            });
            crate::yield_now().await;
            let started = Instant::now();
            notice().begin(Duration::from_millis(50));
            notice().begin(Duration::from_secs(100)); // no effect
            assert!(shutdown.is_draining());
            assert!(shutdown.grace_left().unwrap() <= Duration::from_millis(50));
            let between = waiting.await;
            assert!(between >= Duration::from_millis(45), "{between:?}");
            assert!(started.elapsed() < Duration::from_secs(10));
            assert_eq!(shutdown.stage(), ShutdownStage::Closing);
            assert_eq!(shutdown.grace_left(), Some(Duration::ZERO));
            shutdown.draining().await; // already set: at once
        })
        .unwrap();
    }

    #[test]
    fn a_seed_begins_the_shutdown_when_its_watcher_writes() {
        let (wake, waker) = UnixStream::pair().unwrap();
        let seed = ShutdownSeed { wake, grace: Duration::from_millis(10) };
        let config = RuntimeConfig { pin_to_cpus: false, ..RuntimeConfig::default() };
        let waker = std::sync::Mutex::new(Some(waker));
        run(&config, vec![seed], move |_, seed| {
            let waker = waker.lock().unwrap().take();
            async move {
                let shutdown = seed.start();
                assert_eq!(shutdown.stage(), ShutdownStage::Running);
                let mut waker = waker.unwrap();
                std::thread::spawn(move || waker.write_all(&[1]).unwrap());
                shutdown.closing().await;
                assert_eq!(notice().stage(), ShutdownStage::Closing);
            }
        })
        .unwrap();
    }
}
