//! The control socket: a Unix stream listener in the data directory that only the
//! server's own user can connect to (the admin CLI talks to the running server through
//! it).
//!
//! Permissions are right from the first moment the path exists: the socket is bound in a
//! fresh directory of mode 0700, made 0600, and only then renamed to its final path
//! (rename keeps the bound socket working), so no client of another user can connect in
//! a window between bind and chmod, whatever the process umask is.

use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncRead, AsyncWrite};

use crate::reactor::{Async, Direction};

/// A listening control socket on the current core.
pub struct UnixListener {
    inner: Async<std::os::unix::net::UnixListener>,
    path: PathBuf,
}

impl UnixListener {
    /// Binds `path` (replacing a stale socket file left by a previous run: the caller
    /// holds the data directory's lock, so no live server owns it) with mode 0600. Must be
    /// called on an executor thread.
    pub fn bind_private(path: &Path) -> io::Result<UnixListener> {
        let parent = path.parent().ok_or_else(|| io::Error::other("socket path has no directory"))?;
        let staging = parent.join(format!(".ctl-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::DirBuilder::new().mode(0o700).create(&staging)?;
        let staged = staging.join("s");
        let bound = std::os::unix::net::UnixListener::bind(&staged);
        let result = bound.and_then(|inner| {
            std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))?;
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(error) => return Err(error),
            }
            std::fs::rename(&staged, path)?;
            inner.set_nonblocking(true)?;
            Ok(inner)
        });
        let _ = std::fs::remove_dir_all(&staging);
        Ok(UnixListener { inner: Async::new(result?)?, path: path.to_path_buf() })
    }

    /// Waits for the next connection.
    pub async fn accept(&self) -> io::Result<UnixStream> {
        let (stream, _) =
            std::future::poll_fn(|cx| self.inner.poll_io(Direction::Read, cx, |listener| listener.accept()))
                .await?;
        UnixStream::from_std(stream)
    }

    /// Where the socket is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for UnixListener {
    fn drop(&mut self) {
        // The path is ours while the data directory lock is held; a CLI that finds no
        // socket knows no server listens.
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A connection on the control socket: `AsyncRead` + `AsyncWrite`.
pub struct UnixStream {
    inner: Async<std::os::unix::net::UnixStream>,
}

impl UnixStream {
    /// Drives a connected std stream (made non-blocking here) on the current core.
    pub(crate) fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        Ok(UnixStream { inner: Async::new(stream)? })
    }
}

impl AsyncRead for UnixStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.inner.poll_io(Direction::Read, cx, |mut stream| stream.read(&mut *buf))
    }
}

impl AsyncWrite for UnixStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.inner.poll_io(Direction::Write, cx, |mut stream| stream.write(buf))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(crate::reactor::write_half_closed(
            self.inner.get_ref().shutdown(std::net::Shutdown::Write),
        ))
    }
}

/// The process id of the process that made the listening socket `stream` is connected
/// to (`SO_PEERCRED`; for a Unix stream socket, the credentials at `listen(2)`).
///
/// Why the CLI asks: after `kill -9`, a server's listening socket could outlive the
/// process for a moment (builds on glommio's io_uring had it torn down by a kernel worker
/// after the exit), so a connect to a stale `ctl.sock` may succeed and then be reset
/// unanswered. The listener's process id tells that apart from the new server.
pub fn peer_pid(stream: &std::os::unix::net::UnixStream) -> io::Result<u32> {
    use std::os::fd::AsRawFd as _;
    let mut credentials = libc::ucred { pid: 0, uid: 0, gid: 0 };
    let mut length =
        libc::socklen_t::try_from(std::mem::size_of::<libc::ucred>()).unwrap_or(libc::socklen_t::MAX);
    // SAFETY: the descriptor is open for the borrow of `stream`; the kernel writes at most
    // `length` bytes into `credentials`, a `ucred` of exactly that size.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            std::ptr::addr_of_mut!(credentials).cast(),
            &mut length,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    u32::try_from(credentials.pid).map_err(|_| io::Error::other("no peer process id"))
}
