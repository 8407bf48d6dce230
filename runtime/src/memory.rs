//! The process allocator's handling of large blocks.
//!
//! glibc serves blocks above its mmap threshold (128 KiB) with their own mappings and
//! unmaps them when freed, but by default it raises that threshold to the size of any
//! such block once one is freed. After one argon2id verification (19 MiB of working
//! memory, freed) every later one then comes from the heap, and the heap keeps those
//! 19 MiB resident for good: measured as +20 KiB "per connection" over 1000 IMAP logins
//! on a server that had delivered mail before. Fixing the threshold keeps large,
//! short-lived blocks (password hashing, big FETCH buffers) out of the long-lived heap.

/// Blocks of at least this size get their own mapping (glibc's default threshold).
pub const MMAP_THRESHOLD_BYTES: i32 = 128 * 1024;

/// Pins the allocator's mmap threshold (glibc only; other allocators keep their ways).
/// Called once at startup, before threads start.
pub fn pin_mmap_threshold() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallopt only sets an allocator parameter; it is called before the
        // executors and helper threads start allocating.
        let done = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) };
        if done != 1 {
            tracing::warn!("could not pin the allocator's mmap threshold");
        }
    }
}
