//! SIGHUP, the classic "reload your configuration" signal: caught once for the process
//! and delivered to one core as a stream of notices (one per signal; signals that arrive
//! while a reload runs are merged, which is what a reload wants).

use std::os::unix::net::UnixStream;

use futures_lite::AsyncReadExt;
use std::io::Write;

/// The receiving end, made before the executors start; `Send`.
#[derive(Debug)]
pub struct HangupSeed {
    wake: UnixStream,
}

/// Installs the SIGHUP handler (replacing its default, which ends the process) and a
/// watcher thread. Call once, on the main thread, before [`crate::run`].
pub fn catch_hangup() -> std::io::Result<HangupSeed> {
    let (wake, mut waker) = UnixStream::pair()?;
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGHUP])?;
    std::thread::Builder::new().name("moxide-sighup".to_string()).spawn(move || {
        for _ in signals.forever() {
            if waker.write_all(&[1]).is_err() {
                return;
            }
        }
    })?;
    Ok(HangupSeed { wake })
}

/// SIGHUP notices on the core that started them.
pub struct Hangups {
    wake: crate::unix::UnixStream,
}

impl HangupSeed {
    /// On the core that will act on SIGHUP.
    pub fn start(self) -> std::io::Result<Hangups> {
        let wake = crate::unix::UnixStream::from_std(self.wake)?;
        Ok(Hangups { wake })
    }
}

impl Hangups {
    /// Waits for the next SIGHUP (several pending ones count as one). `false`: the
    /// watcher is gone, no more will come.
    pub async fn next(&mut self) -> bool {
        let mut bytes = [0u8; 64];
        matches!(self.wake.read(&mut bytes).await, Ok(n) if n > 0)
    }
}
