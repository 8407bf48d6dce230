//! Executor statistics for metrics: the time each core spent running tasks.

use std::time::Duration;

/// Time this core's executor spent running tasks since it started (zero outside the
/// runtime). Monotonic: metrics take differences.
pub fn busy_time() -> Duration {
    crate::scheduler::busy_time()
}
