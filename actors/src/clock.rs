//! The one place actors read the clocks. A deterministic simulator replaces this seam
//! (see STYLE.md rule 14); until then they are the system's.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Milliseconds on a monotonic clock since its first use in this process: what the
/// sans-IO sessions take as `now` for their deadlines (it never goes back when the wall
/// clock is set).
pub fn now_monotonic_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    let start = START.get_or_init(Instant::now);
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}
