//! Blocking work off the executors: fsync, LMDB write commits, opening environments,
//! password hashing. Each executor has a small pool of helper threads; the executor awaits
//! the result without blocking.
//!
//! A panic in the closure is caught and returned as [`OffloadPanic`]: glommio's own
//! `spawn_blocking` would otherwise read an uninitialized result.

use std::panic::{AssertUnwindSafe, catch_unwind};

/// The offloaded closure panicked; the text is the panic message when it was a string.
#[derive(Debug, Clone, thiserror::Error)]
#[error("blocking task panicked: {0}")]
pub struct OffloadPanic(pub String);

/// Runs `work` on one of this core's helper threads and returns its result.
/// Must be called from inside the runtime.
pub async fn offload<F, R>(work: F) -> Result<R, OffloadPanic>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    glommio::executor().spawn_blocking(move || catch_unwind(AssertUnwindSafe(work))).await.map_err(
        |payload| {
            let text = payload
                .downcast_ref::<&str>()
                .map(|s| (*s).to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "non-string panic payload".to_string());
            OffloadPanic(text)
        },
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::{RuntimeConfig, run};

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
        })
        .unwrap();
    }
}
