//! Rate limits keyed by client IP at three network-prefix levels (as mox does): a single
//! address, its neighbourhood and its provider-sized block, so an attacker cannot dodge
//! a limit by rotating addresses inside one network.
//!
//! | level | IPv4 | IPv6 |
//! |---|---|---|
//! | 1 | /32 | /64 |
//! | 2 | /26 | /48 |
//! | 3 | /21 | /32 |
//!
//! A limiter has one or more windows (per minute, per day, or "forever" for counts that
//! are released, such as open connections), each with a limit per level. An event is
//! admitted only when every level of every window stays within its limit; then it is
//! counted everywhere.
//!
//! Windows slide: the count is the current fixed window's plus the previous one's,
//! weighted by how much of the previous window still overlaps the last window length. A
//! plain fixed window would forget everything at its boundary, so a guesser who hit the
//! limit a second before the minute turned could start again at once. One limiter is shared by all cores (a mutex around small maps; one
//! uncontended lock per connection or login is noise next to the syscalls around it).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

/// Entries kept per window before stale ones (of past windows) are swept.
const ENTRIES_SWEEP_MIN: usize = 4096;

/// A window and its limit for each prefix level (level 1 first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowLimit {
    /// Window length; `Duration::MAX` for counts that never expire (released explicitly).
    pub window: Duration,
    /// Limits for /32, /26, /21 (IPv4) or /64, /48, /32 (IPv6).
    pub limits: [u64; 3],
}

/// A rate limiter; see the module documentation.
#[derive(Debug)]
pub struct Limiter {
    windows: Vec<WindowLimit>,
    state: Mutex<Vec<Counts>>,
}

/// Per window: (level, masked address) -> counts of a window index and the one before.
type Counts = HashMap<(u8, u128), Slot>;

#[derive(Debug, Clone, Copy)]
struct Slot {
    index: i64,
    count: u64,
    previous: u64,
}

impl Slot {
    /// Moves the slot to window `index`, carrying the count over when it was the window
    /// right before.
    fn roll(&mut self, index: i64) {
        if self.index == index {
            return;
        }
        self.previous = if self.index + 1 == index { self.count } else { 0 };
        self.count = 0;
        self.index = index;
    }

    /// The sliding count at `index`, with `overlap` (0..=1) of the previous window counted.
    fn estimate(self, index: i64, overlap: f64) -> u64 {
        let mut slot = self;
        slot.roll(index);
        // Rounded up: a partial event still counts.
        slot.count + (slot.previous as f64 * overlap).ceil() as u64
    }
}

/// The three keys of an address: (level, masked address).
fn keys(ip: IpAddr) -> [(u8, u128); 3] {
    match ip {
        IpAddr::V4(v4) => {
            let bits = u128::from(u32::from(v4));
            [(1, bits), (2, bits & !0x3f), (3, bits & !0x7ff)]
        }
        IpAddr::V6(v6) => {
            // An IPv4-mapped IPv6 address is the IPv4 client it stands for.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return keys(IpAddr::V4(v4));
            }
            let bits = u128::from(v6);
            [
                (4, bits & !((1u128 << 64) - 1)),
                (5, bits & !((1u128 << 80) - 1)),
                (6, bits & !((1u128 << 96) - 1)),
            ]
        }
    }
}

impl Limiter {
    /// A limiter with these windows.
    pub fn new(windows: Vec<WindowLimit>) -> Limiter {
        let state = windows.iter().map(|_| HashMap::new()).collect();
        Limiter { windows, state: Mutex::new(state) }
    }

    /// The windows it enforces.
    pub fn windows(&self) -> &[WindowLimit] {
        &self.windows
    }

    /// The fixed window `now_ms` falls in, and how much of the previous window still
    /// overlaps a window length back from now (1 at the start of a window, 0 at its end).
    fn position(window: Duration, now_ms: i64) -> (i64, f64) {
        if window == Duration::MAX {
            return (0, 0.0);
        }
        let length = i64::try_from(window.as_millis()).unwrap_or(i64::MAX).max(1);
        let elapsed = now_ms.rem_euclid(length) as f64 / length as f64;
        (now_ms.div_euclid(length), 1.0 - elapsed)
    }

    /// Counts `n` events from `ip` at `now_ms` if that keeps every limit; returns whether
    /// it did (false: over a limit, nothing counted).
    pub fn add(&self, ip: IpAddr, now_ms: i64, n: u64) -> bool {
        self.apply(ip, now_ms, n, true)
    }

    /// Whether `n` more events from `ip` would stay within every limit (counts nothing).
    pub fn can_add(&self, ip: IpAddr, now_ms: i64, n: u64) -> bool {
        self.apply(ip, now_ms, n, false)
    }

    fn apply(&self, ip: IpAddr, now_ms: i64, n: u64, count: bool) -> bool {
        let keys = keys(ip);
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for (window, counts) in self.windows.iter().zip(state.iter()) {
            let (index, overlap) = Self::position(window.window, now_ms);
            for (level, key) in keys.iter().enumerate() {
                let used = counts.get(key).map_or(0, |slot| slot.estimate(index, overlap));
                if used.saturating_add(n) > window.limits[level] {
                    return false;
                }
            }
        }
        if count {
            for (window, counts) in self.windows.iter().zip(state.iter_mut()) {
                let (index, _) = Self::position(window.window, now_ms);
                if counts.len() >= ENTRIES_SWEEP_MIN {
                    // Slots two windows old count for nothing any more.
                    counts.retain(|_, slot| slot.index + 1 >= index && (slot.count > 0 || slot.previous > 0));
                }
                for key in keys {
                    let slot = counts.entry(key).or_insert(Slot { index, count: 0, previous: 0 });
                    slot.roll(index);
                    slot.count += n;
                }
            }
        }
        true
    }

    /// Takes back `n` events (an open connection closed). Only meaningful for windows that
    /// never expire.
    pub fn release(&self, ip: IpAddr, now_ms: i64, n: u64) {
        let keys = keys(ip);
        let mut state = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        for (window, counts) in self.windows.iter().zip(state.iter_mut()) {
            let (index, _) = Self::position(window.window, now_ms);
            for key in keys {
                if let Some(slot) = counts.get_mut(&key)
                    && slot.index == index
                {
                    slot.count = slot.count.saturating_sub(n);
                    if slot.count == 0 && slot.previous == 0 {
                        counts.remove(&key);
                    }
                }
            }
        }
    }
}

/// mox's default: new connections per minute per level (300 / 900 / 2700).
pub fn connection_rate_default() -> Vec<WindowLimit> {
    vec![WindowLimit { window: Duration::from_secs(60), limits: [300, 900, 2700] }]
}

/// mox's default: open connections per level (30 / 90 / 270).
pub fn connections_default() -> Vec<WindowLimit> {
    vec![WindowLimit { window: Duration::MAX, limits: [30, 90, 270] }]
}

/// mox's default: failed authentications per minute (10 / 30 / 90) and per day
/// (50 / 150 / 450).
pub fn auth_failures_default() -> Vec<WindowLimit> {
    vec![
        WindowLimit { window: Duration::from_secs(60), limits: [10, 30, 90] },
        WindowLimit { window: Duration::from_secs(86_400), limits: [50, 150, 450] },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|_| unreachable!("test address"))
    }

    #[test]
    fn levels_and_windows() {
        let limiter = Limiter::new(vec![WindowLimit { window: Duration::from_secs(60), limits: [2, 3, 4] }]);
        let t = 1_200_000; // the start of a minute
        assert!(limiter.add(ip("10.0.0.1"), t, 1));
        assert!(limiter.add(ip("10.0.0.1"), t, 1));
        assert!(!limiter.add(ip("10.0.0.1"), t, 1), "level 1 (/32) full at 2");
        assert!(limiter.add(ip("10.0.0.2"), t, 1), "same /26, third event: level 2 limit 3");
        assert!(!limiter.add(ip("10.0.0.3"), t, 1), "/26 full at 3");
        assert!(limiter.add(ip("10.0.0.64"), t, 1), "another /26 in the same /21");
        assert!(!limiter.add(ip("10.0.1.1"), t, 1), "/21 full at 4");
        assert!(limiter.add(ip("10.0.8.1"), t, 1), "another /21");
        assert!(!limiter.add(ip("10.0.0.1"), t + 60_000, 1), "a window later the old events still weigh in");
        assert!(limiter.add(ip("10.0.0.1"), t + 120_000, 1), "two windows later they are gone");
    }

    #[test]
    fn the_window_slides_across_its_boundary() {
        let limiter =
            Limiter::new(vec![WindowLimit { window: Duration::from_secs(60), limits: [10, 100, 100] }]);
        // Ten events in the last second of a minute...
        let late = 59_000;
        for _ in 0..10 {
            assert!(limiter.add(ip("192.0.2.9"), late, 1));
        }
        // ...still count a second into the next one (a fixed window would forget them).
        assert!(!limiter.add(ip("192.0.2.9"), 61_000, 1));
        // Half a minute on, about half of them still weigh in.
        assert!(limiter.can_add(ip("192.0.2.9"), 90_000, 4));
        assert!(!limiter.can_add(ip("192.0.2.9"), 90_000, 6));
    }

    #[test]
    fn ipv6_prefixes_and_mapped_ipv4() {
        let limiter = Limiter::new(vec![WindowLimit { window: Duration::MAX, limits: [1, 2, 3] }]);
        assert!(limiter.add(ip("2001:db8:1:1::1"), 0, 1));
        assert!(!limiter.add(ip("2001:db8:1:1::2"), 0, 1), "same /64");
        assert!(limiter.add(ip("2001:db8:1:2::1"), 0, 1), "same /48, other /64");
        assert!(!limiter.add(ip("2001:db8:1:3::1"), 0, 1), "/48 full at 2");
        assert!(limiter.add(ip("::ffff:192.0.2.1"), 0, 1));
        assert!(!limiter.add(ip("192.0.2.1"), 0, 1), "mapped address counts as the IPv4 one");
    }

    #[test]
    fn release_frees_open_connection_slots() {
        let limiter = Limiter::new(connections_default());
        for _ in 0..30 {
            assert!(limiter.add(ip("192.0.2.7"), 0, 1));
        }
        assert!(!limiter.add(ip("192.0.2.7"), 0, 1));
        assert!(!limiter.can_add(ip("192.0.2.7"), 0, 1));
        limiter.release(ip("192.0.2.7"), 0, 1);
        assert!(limiter.can_add(ip("192.0.2.7"), 0, 1));
        assert!(limiter.add(ip("192.0.2.7"), 0, 1));
    }

    #[test]
    fn every_window_must_allow() {
        let limiter = Limiter::new(auth_failures_default());
        let minute = 60_000;
        let mut admitted = 0;
        // One burst every two minutes (so the sliding minute has emptied each time).
        for m in 0..10 {
            for _ in 0..10 {
                if limiter.add(ip("198.51.100.1"), m * 2 * minute, 1) {
                    admitted += 1;
                }
            }
        }
        assert_eq!(admitted, 50, "10 per minute, but 50 per day");
    }
}
