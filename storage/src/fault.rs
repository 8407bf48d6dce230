//! Fault injection for tests: fail one chosen fsync, hard link, rename or LMDB commit of
//! the store, to check that what a client is told matches what is durable.
//!
//! The seam exists only in builds with the `fault-injection` cargo feature. The workspace
//! turns it on through dev-dependencies, so `cargo test` builds have it and `cargo build`
//! (and `cargo install`, any release) builds do not: there, [`hit`] is an inline function
//! returning a zero-sized value whose checks are constant `Ok`, and nothing reads the
//! environment. Even in a test build nothing fires unless a test arms it, in process
//! ([`arm`]) or for a child process through the file named by [`FAULT_FILE_ENV`].
//!
//! The file holds one line `<point> <action> [<skip>]`: point `fsync`, `link`, `rename` or
//! `commit`; action `fail` (EIO instead of the operation), `fail-after` (the operation
//! is done, then EIO is reported: the "outcome unknown" case, e.g. an fsync error after
//! LMDB wrote its meta page), `nospace` (ENOSPC instead of the operation) or `panic` (a
//! panic instead of the operation); `skip` matching operations pass first (default 0).
//! The fault fires once; the file is removed when it fires, so a test waits for it to
//! disappear to know the fault was hit.

/// Environment variable naming the control file of a test build (see the module doc).
pub const FAULT_FILE_ENV: &str = "MOXIDE_FAULT_FILE";

/// The operations a fault can be injected into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint {
    /// An fsync of a message file copy or of a directory.
    Fsync,
    /// The hard link of a spool file (or message file, for COPY) to its message path.
    Link,
    /// A rename (moving an orphan file aside).
    Rename,
    /// An LMDB write transaction's commit.
    Commit,
}

/// What an armed fault does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultAction {
    /// The operation is not done; EIO is returned.
    Fail,
    /// The operation is done, then EIO is returned.
    FailAfter,
    /// The operation is not done; ENOSPC is returned.
    NoSpace,
    /// The operation is not done; the thread panics.
    Panic,
}

pub(crate) use armed::hit;
#[cfg(any(test, feature = "fault-injection"))]
pub use armed::{arm, disarm};

#[cfg(any(test, feature = "fault-injection"))]
mod armed {
    use std::io;
    use std::os::unix::fs::MetadataExt;
    use std::path::{Path, PathBuf};
    use std::sync::{Mutex, PoisonError};

    use super::{FAULT_FILE_ENV, FaultAction, FaultPoint};

    /// One armed fault and where it came from.
    struct Armed {
        point: FaultPoint,
        action: FaultAction,
        skip: u64,
        /// Only operations on paths below this one (in-process tests, which run in
        /// parallel, each scope a fault to their own directory).
        scope: Option<PathBuf>,
        /// The control file it was read from (removed when it fires), and that file's
        /// identity (device, inode, mtime), so it is parsed once.
        file: Option<(PathBuf, (u64, u64, i64))>,
    }

    static ARMED: Mutex<Option<Armed>> = Mutex::new(None);

    /// Arms a fault in this process for operations on paths below `scope` (tests of
    /// the storage crate and in-process actor tests); replaces any armed one.
    pub fn arm(scope: &Path, point: FaultPoint, action: FaultAction, skip: u64) {
        let scope = Some(scope.to_path_buf());
        *ARMED.lock().unwrap_or_else(PoisonError::into_inner) =
            Some(Armed { point, action, skip, scope, file: None });
    }

    /// Disarms the fault armed in this process, if it has not fired.
    pub fn disarm() {
        *ARMED.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// The fault decided for one operation.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Injected(Option<FaultAction>);

    impl Injected {
        /// Before the operation: the error (or panic) that replaces it.
        pub(crate) fn before(self) -> io::Result<()> {
            match self.0 {
                Some(FaultAction::Fail) => Err(io::Error::from_raw_os_error(libc::EIO)),
                Some(FaultAction::NoSpace) => Err(io::Error::from_raw_os_error(libc::ENOSPC)),
                Some(FaultAction::Panic) => panic!("injected fault: panic"),
                Some(FaultAction::FailAfter) | None => Ok(()),
            }
        }

        /// After the operation succeeded: the error reported in its place.
        pub(crate) fn after(self) -> io::Result<()> {
            match self.0 {
                Some(FaultAction::FailAfter) => Err(io::Error::from_raw_os_error(libc::EIO)),
                _ => Ok(()),
            }
        }
    }

    /// Decides whether the fault fires for this operation (consuming it if so).
    pub(crate) fn hit(point: FaultPoint, path: &Path) -> Injected {
        let mut armed = ARMED.lock().unwrap_or_else(PoisonError::into_inner);
        load_file(&mut armed);
        let Some(current) = armed.as_mut() else { return Injected(None) };
        if current.point != point || current.scope.as_ref().is_some_and(|scope| !path.starts_with(scope)) {
            return Injected(None);
        }
        if current.skip > 0 {
            current.skip -= 1;
            return Injected(None);
        }
        let fired = armed.take();
        let action = fired.as_ref().map(|fired| fired.action);
        if let Some((path, _)) = fired.and_then(|fired| fired.file) {
            // Tells the test the fault fired.
            let _ = std::fs::remove_file(path);
        }
        tracing::warn!(?point, ?action, path = %path.display(), "injected fault fires");
        Injected(action)
    }

    /// Reads the control file named by the environment when it is new or changed.
    fn load_file(armed: &mut Option<Armed>) {
        let Some(path) = std::env::var_os(FAULT_FILE_ENV).map(PathBuf::from) else { return };
        let Ok(metadata) = std::fs::metadata(&path) else { return };
        let identity = (metadata.dev(), metadata.ino(), metadata.mtime_nsec() ^ metadata.mtime());
        if armed.as_ref().and_then(|armed| armed.file.as_ref()).is_some_and(|(_, id)| *id == identity) {
            return;
        }
        let Ok(text) = std::fs::read_to_string(&path) else { return };
        match parse(&text) {
            Some((point, action, skip)) => {
                tracing::warn!(?point, ?action, skip, "fault injection armed from {}", path.display());
                *armed = Some(Armed { point, action, skip, scope: None, file: Some((path, identity)) });
            }
            None => tracing::error!(%text, "unreadable fault injection file {}", path.display()),
        }
    }

    fn parse(text: &str) -> Option<(FaultPoint, FaultAction, u64)> {
        let mut words = text.split_whitespace();
        let point = match words.next()? {
            "fsync" => FaultPoint::Fsync,
            "link" => FaultPoint::Link,
            "rename" => FaultPoint::Rename,
            "commit" => FaultPoint::Commit,
            _ => return None,
        };
        let action = match words.next()? {
            "fail" => FaultAction::Fail,
            "fail-after" => FaultAction::FailAfter,
            "nospace" => FaultAction::NoSpace,
            "panic" => FaultAction::Panic,
            _ => return None,
        };
        let skip = match words.next() {
            Some(skip) => skip.parse().ok()?,
            None => 0,
        };
        Some((point, action, skip))
    }
}

#[cfg(not(any(test, feature = "fault-injection")))]
mod armed {
    use std::io;
    use std::path::Path;

    use super::FaultPoint;

    /// No fault: production builds have no seam.
    #[derive(Debug, Clone, Copy)]
    pub(crate) struct Injected;

    impl Injected {
        #[inline(always)]
        pub(crate) fn before(self) -> io::Result<()> {
            Ok(())
        }

        #[inline(always)]
        pub(crate) fn after(self) -> io::Result<()> {
            Ok(())
        }
    }

    #[inline(always)]
    pub(crate) fn hit(_point: FaultPoint, _path: &Path) -> Injected {
        Injected
    }
}

/// Runs a file-system operation through the seam: the armed fault for `point` replaces
/// it or follows it.
pub(crate) fn around<T>(
    point: FaultPoint,
    path: &std::path::Path,
    op: impl FnOnce() -> std::io::Result<T>,
) -> std::io::Result<T> {
    let injected = hit(point, path);
    injected.before()?;
    let value = op()?;
    injected.after()?;
    Ok(value)
}

/// Whether this build has the seam (the binary says so at startup).
pub const FAULT_INJECTION_BUILT: bool = cfg!(any(test, feature = "fault-injection"));
