//! Timers and timeouts on the current core.

use std::future::Future;
use std::time::{Duration, Instant};

/// A timeout fired before the future completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("timed out")]
pub struct Elapsed;

/// Waits `duration` without blocking the executor.
pub async fn sleep(duration: Duration) {
    sleep_until(Instant::now() + duration).await;
}

/// Waits until `deadline` without blocking the executor.
pub async fn sleep_until(deadline: Instant) {
    crate::reactor::Timer::at(deadline).await;
}

/// Runs `future`, giving up after `duration`.
pub async fn timeout<F: Future>(duration: Duration, future: F) -> Result<F::Output, Elapsed> {
    futures_lite::future::or(async { Ok(future.await) }, async {
        sleep(duration).await;
        Err(Elapsed)
    })
    .await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::{RuntimeConfig, run};

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
}
