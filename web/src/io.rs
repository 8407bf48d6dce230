//! hyper on our runtime: hyper 1.x asks for its own IO traits (`hyper::rt::Read` and
//! `Write`) and an executor for HTTP/2 stream tasks. These adapters give it the
//! runtime's streams (futures-io `AsyncRead`/`AsyncWrite`: TCP, TLS, the control
//! socket) and the runtime's per-core spawn. No tokio reactor is involved: hyper's h2
//! uses tokio's IO traits only as types.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::io::{AsyncRead, AsyncWrite};
use hyper::rt::{Read, ReadBufCursor, Write};

/// A runtime stream seen through hyper's IO traits.
pub struct HyperIo<T>(pub T);

impl<T: AsyncRead + Unpin> Read for HyperIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        // Read into a stack buffer and copy: marking hyper's uninitialized buffer as
        // filled needs `unsafe`, which this crate forbids; one copy of at most 8 KiB per
        // read is nothing next to the syscall for an admin API.
        let mut chunk = [0u8; READ_CHUNK_BYTES_MAX];
        let length = buf.remaining().min(READ_CHUNK_BYTES_MAX);
        match Pin::new(&mut self.get_mut().0).poll_read(cx, &mut chunk[..length]) {
            Poll::Ready(Ok(n)) => {
                buf.put_slice(&chunk[..n]);
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T: AsyncWrite + Unpin> Write for HyperIo<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().0).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().0).poll_close(cx)
    }
}

/// Most bytes read in one call (a stack buffer; see `poll_read`).
const READ_CHUNK_BYTES_MAX: usize = 8 * 1024;

/// Spawns hyper's HTTP/2 stream tasks on the current core (they are not `Send`: they
/// hold the connection's `Rc` state).
#[derive(Clone, Copy, Debug, Default)]
pub struct LocalExec;

impl<F> hyper::rt::Executor<F> for LocalExec
where
    F: Future + 'static,
{
    fn execute(&self, future: F) {
        moxide_runtime::spawn_detached(future);
    }
}
