//! The actor kernel: what every actor and session needs to talk to another one on the same
//! core, and where an account's actor lives.
//!
//! - [`mailbox`]: a bounded single-core channel (an actor's inbox).
//! - [`oneshot`]: a single-core reply slot.
//! - [`join_all`]: waits for several futures at once (deliveries to several accounts).
//! - [`home_core`]: the stable placement `hash(account) % cores`.
//!
//! Everything here is `!Send` on purpose: values cross cores only through the runtime's
//! mesh, which [`crate::node`] wraps with correlation ids.

pub mod mailbox;
pub mod oneshot;

mod join;

pub use join::join_all;

/// The core an account's actor lives on: FNV-1a of the account name modulo the number of
/// cores. Stable across restarts and independent of the process's hash seed, so logs and
/// tests can predict it.
pub fn home_core(account: &str, cores: usize) -> usize {
    const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;
    let hash =
        account.bytes().fold(FNV_OFFSET, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME));
    // Lossless: the remainder is below `cores`, a usize.
    (hash % cores.max(1) as u64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_core_is_stable_and_in_range() {
        assert_eq!(home_core("mox", 1), 0);
        for cores in 1..8 {
            assert!(home_core("alice", cores) < cores);
            assert_eq!(home_core("alice", cores), home_core("alice", cores));
        }
        // Different accounts spread: over 100 names both of two cores get some.
        let on_zero = (0..100).filter(|i| home_core(&format!("user{i}"), 2) == 0).count();
        assert!((20..80).contains(&on_zero), "{on_zero}");
    }
}
