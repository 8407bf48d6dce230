//! The RLIMIT_MEMLOCK check: glommio cannot create an executor below 512 KiB of lockable
//! memory (its io_uring rings are locked), even as root. Without the check the failure is
//! an opaque error from deep inside executor creation; with it the operator is told what
//! to change.

use std::fmt;

/// Lockable memory an executor needs (io_uring rings). Measured on glommio 0.9: creation
/// fails below this, as root too.
pub const MEMLOCK_BYTES_MIN: u64 = 512 * 1024;

/// RLIMIT_MEMLOCK is below [`MEMLOCK_BYTES_MIN`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemlockTooLow {
    /// The current soft limit in bytes.
    pub current_bytes: u64,
}

impl fmt::Display for MemlockTooLow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "RLIMIT_MEMLOCK is {} KiB, moxide needs at least {} KiB for its io_uring rings; \
             raise it with `ulimit -l {}` (shell), `LimitMEMLOCK=infinity` (systemd unit) or \
             `--ulimit memlock=-1` (containers), or run with CAP_IPC_LOCK",
            self.current_bytes / 1024,
            MEMLOCK_BYTES_MIN / 1024,
            MEMLOCK_BYTES_MIN / 1024,
        )
    }
}

impl std::error::Error for MemlockTooLow {}

/// Checks the soft RLIMIT_MEMLOCK, and raises it to the hard limit when the soft one is too
/// low but the hard one allows it (as a shell's `ulimit -l` would).
pub fn check_memlock() -> Result<(), MemlockTooLow> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes into the struct we pass and reads nothing else.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) };
    if rc != 0 {
        // Cannot tell: let executor creation report the real error.
        return Ok(());
    }
    if limit.rlim_cur == libc::RLIM_INFINITY || limit.rlim_cur >= MEMLOCK_BYTES_MIN {
        return Ok(());
    }
    if limit.rlim_max == libc::RLIM_INFINITY || limit.rlim_max >= MEMLOCK_BYTES_MIN {
        let raised =
            libc::rlimit { rlim_cur: MEMLOCK_BYTES_MIN.max(limit.rlim_cur), rlim_max: limit.rlim_max };
        // SAFETY: setrlimit only reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &raised) } == 0 {
            return Ok(());
        }
    }
    Err(MemlockTooLow { current_bytes: limit.rlim_cur })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_says_what_to_do() {
        let text = MemlockTooLow { current_bytes: 64 * 1024 }.to_string();
        assert!(text.contains("64 KiB"));
        assert!(text.contains("LimitMEMLOCK"));
        assert!(text.contains("CAP_IPC_LOCK"));
    }

    #[test]
    fn passes_on_this_machine() {
        assert_eq!(check_memlock(), Ok(()));
    }
}
