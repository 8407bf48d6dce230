//! Timers and timeouts on the current core.
//!
//! Two kinds. [`sleep`] and [`timeout`] arm a glommio timer each: exact, but every one
//! costs an io_uring TIMEOUT to arm and an ASYNC_CANCEL when dropped early, which is what
//! a read's idle timeout almost always is. [`coarse_sleep`] is for those: deadlines of a
//! core are kept in one ordered map and a single ticker task per core wakes the expired
//! ones every [`COARSE_TICK`], so arming and dropping one is a map insert and remove, no
//! system call. It fires up to one tick late, never early.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// A timeout fired before the future completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("timed out")]
pub struct Elapsed;

/// Waits `duration` without blocking the executor.
pub async fn sleep(duration: Duration) {
    glommio::timer::Timer::new(duration).await;
}

/// Runs `future`, giving up after `duration`.
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    futures_lite::future::or(async { Ok(future.await) }, async {
        sleep(duration).await;
        Err(Elapsed)
    })
    .await
}

/// How late a [`coarse_sleep`] may fire: the ticker's period. Idle, login and
/// autologout timeouts are seconds to minutes, so a quarter second is noise to them, and
/// a core with pending deadlines wakes four times a second for them (none without).
pub const COARSE_TICK: Duration = Duration::from_millis(250);

/// The pending coarse deadlines of this core's executor.
#[derive(Default)]
struct Wheel {
    /// (deadline, id) -> the waiting task.
    pending: BTreeMap<(Instant, u64), Waker>,
    next_id: u64,
    /// A ticker task runs on this core.
    ticking: bool,
}

thread_local! {
    static WHEEL: RefCell<Wheel> = RefCell::new(Wheel::default());
}

/// Waits at least `duration`, at most [`COARSE_TICK`] longer, without a timer of its own
/// (see the module doc). Only inside the runtime: the first pending one starts the core's
/// ticker task.
pub fn coarse_sleep(duration: Duration) -> CoarseSleep {
    CoarseSleep { deadline: Instant::now() + duration, key: None }
}

/// The future of [`coarse_sleep`]; dropping it withdraws the deadline.
#[must_use = "a sleep does nothing unless awaited"]
pub struct CoarseSleep {
    deadline: Instant,
    /// Its entry in the wheel while registered.
    key: Option<(Instant, u64)>,
}

impl Future for CoarseSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            self.withdraw();
            return Poll::Ready(());
        }
        let deadline = self.deadline;
        let key = self.key;
        let (key, start_ticker) = WHEEL.with_borrow_mut(|wheel| {
            let key = match key.filter(|key| wheel.pending.contains_key(key)) {
                Some(key) => key,
                None => {
                    wheel.next_id += 1;
                    (deadline, wheel.next_id)
                }
            };
            wheel.pending.insert(key, cx.waker().clone());
            let start_ticker = !wheel.ticking;
            wheel.ticking = true;
            (key, start_ticker)
        });
        self.key = Some(key);
        if start_ticker {
            crate::task::spawn_detached(tick());
        }
        Poll::Pending
    }
}

impl CoarseSleep {
    fn withdraw(&mut self) {
        if let Some(key) = self.key.take() {
            // try_with: a sleep dropped while the thread's locals are torn down.
            let _ = WHEEL.try_with(|wheel| wheel.borrow_mut().pending.remove(&key));
        }
    }
}

impl Drop for CoarseSleep {
    fn drop(&mut self) {
        self.withdraw();
    }
}

/// The core's ticker: wakes expired deadlines every [`COARSE_TICK`] while any are
/// pending, then ends (the next pending sleep starts another).
async fn tick() {
    /// Clears `ticking` however the task ends, including dropped with its executor, so
    /// a later executor on this thread starts its own ticker.
    struct Ticking;
    impl Drop for Ticking {
        fn drop(&mut self) {
            let _ = WHEEL.try_with(|wheel| wheel.borrow_mut().ticking = false);
        }
    }
    let _ticking = Ticking;
    loop {
        sleep(COARSE_TICK).await;
        let now = Instant::now();
        let (expired, empty) = WHEEL.with_borrow_mut(|wheel| {
            let later = wheel.pending.split_off(&(now, u64::MAX));
            let expired = std::mem::replace(&mut wheel.pending, later);
            (expired, wheel.pending.is_empty())
        });
        // Woken outside the borrow: a waker may poll in place.
        for waker in expired.into_values() {
            waker.wake();
        }
        if empty {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::{RuntimeConfig, run};
    use std::time::Instant;

    #[test]
    fn timeout_fires_and_passes() {
        let config = RuntimeConfig { pin_to_cpus: false, ..RuntimeConfig::default() };
        run(&config, vec![()], |_, ()| async {
            let start = Instant::now();
            assert_eq!(timeout(Duration::from_millis(20), std::future::pending::<()>()).await, Err(Elapsed));
            assert!(start.elapsed() >= Duration::from_millis(20));
            assert_eq!(timeout(Duration::from_secs(5), async { 7 }).await, Ok(7));
        })
        .unwrap();
    }

    #[test]
    fn coarse_sleeps_fire_late_never_early_and_withdraw_when_dropped() {
        let config = RuntimeConfig { pin_to_cpus: false, ..RuntimeConfig::default() };
        run(&config, vec![()], |_, ()| async {
            let start = Instant::now();
            coarse_sleep(Duration::from_millis(30)).await;
            let took = start.elapsed();
            assert!(took >= Duration::from_millis(30), "{took:?}");
            assert!(took < Duration::from_millis(30) + COARSE_TICK * 4, "{took:?}");
            // One that loses a race is withdrawn.
            let dropped = futures_lite::future::or(sleep(Duration::from_millis(10)), async {
                coarse_sleep(Duration::from_secs(60)).await;
            });
            dropped.await;
            assert!(WHEEL.with_borrow(|wheel| wheel.pending.is_empty()));
            // Many at once, in any order, all fire.
            let sleeps = (0..50u64).rev().map(|n| coarse_sleep(Duration::from_millis(n * 3)));
            for sleep in sleeps.collect::<Vec<_>>() {
                sleep.await;
            }
            assert!(WHEEL.with_borrow(|wheel| wheel.pending.is_empty()));
        })
        .unwrap();
    }
}
