//! Executor statistics for metrics: time each core spent running tasks and polling I/O.

use std::cell::Cell;
use std::time::Duration;

thread_local! {
    static BUSY: Cell<Duration> = const { Cell::new(Duration::ZERO) };
}

/// Time this core's executor has spent running tasks and polling I/O since it started
/// (excluding time parked). Call on an executor thread.
pub fn busy_time() -> Duration {
    // glommio hands out its counters as deltas since the last read; keep the sum here.
    let delta = glommio::executor().executor_stats().total_runtime();
    BUSY.with(|busy| {
        let total = busy.get() + delta;
        busy.set(total);
        total
    })
}
