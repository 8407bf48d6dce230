//! A connection that is plain TCP or TLS, so a session holds one type and can upgrade it
//! in place with STARTTLS (RFC 3207 for SMTP, RFC 9051 §6.2.1 for IMAP).
//!
//! STARTTLS injection (the classic bug, CVE-2011-0411 and many since): plaintext a client
//! pipelined after the STARTTLS command must never be treated as if it came over TLS.
//! This type keeps no read buffer of its own, so at [`Stream::start_tls`] anything the
//! session has not read yet is still in the kernel and becomes handshake input (where it
//! fails the handshake). The session must drop whatever its own reader buffered before
//! calling `start_tls`, and must have written its reply (this type does not buffer
//! writes, so a completed write is on the socket).
//!
//! COMPRESS=DEFLATE (RFC 4978) wraps a plain or TLS stream ([`Stream::start_compression`]);
//! TLS then lies under the compression. A compressed stream buffers what it writes until
//! it is flushed, and cannot start TLS: STARTTLS is refused after login, and COMPRESS
//! needs a login, so the order TLS-then-COMPRESS is the only one a session can reach.

use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::io::{AsyncRead, AsyncWrite};

use crate::compress::CompressedStream;
use crate::net::TcpStream;
use crate::tls::{TlsAcceptor, TlsError, TlsInfo, TlsStream};

/// A connection that is plain TCP or TLS: `AsyncRead` + `AsyncWrite` either way.
#[derive(Debug)]
pub enum Stream {
    /// Plain TCP (before STARTTLS, or a listener without TLS).
    Plain(TcpStream),
    /// TLS: implicit (RFC 8314) or after STARTTLS. Boxed: the rustls state is large and
    /// most of a server's connections may be idle plaintext ones.
    Tls(Box<TlsStream>),
    /// COMPRESS=DEFLATE over a plain or TLS stream. Boxed: the deflate and inflate
    /// states are large (see [`crate::compress`]).
    Compressed(Box<CompressedStream>),
}

impl Stream {
    /// Whether the connection is TLS.
    pub fn is_tls(&self) -> bool {
        match self {
            Stream::Plain(_) => false,
            Stream::Tls(_) => true,
            Stream::Compressed(compressed) => compressed.is_tls(),
        }
    }

    /// Whether COMPRESS=DEFLATE is on.
    pub fn is_compressed(&self) -> bool {
        matches!(self, Stream::Compressed(_))
    }

    /// Before a long wait (IDLE): frees a compressed stream's deflate state if all it
    /// wrote was flushed ([`CompressedStream::release_deflate_state`]); nothing on
    /// other streams.
    pub fn release_idle_state(&mut self) {
        if let Stream::Compressed(compressed) = self {
            compressed.release_deflate_state();
        }
    }

    /// COMPRESS=DEFLATE (RFC 4978 §3): from now on reads inflate and writes deflate.
    /// `buffered`: bytes the caller already read after the COMPRESS command (they are
    /// compressed ones). Write the tagged OK before calling this; flush after writes.
    /// Compressing twice is refused with the stream unchanged (the session answers
    /// `NO [COMPRESSIONACTIVE]` itself, without calling this).
    pub fn start_compression(self, buffered: &[u8]) -> Result<Stream, Stream> {
        match self {
            Stream::Compressed(_) => Err(self),
            inner => Ok(Stream::Compressed(Box::new(CompressedStream::new(inner, buffered)))),
        }
    }

    /// What the TLS handshake negotiated; `None` on plain connections.
    pub fn tls_info(&self) -> Option<TlsInfo> {
        match self {
            Stream::Plain(_) => None,
            Stream::Tls(tls) => Some(tls.info()),
            Stream::Compressed(compressed) => compressed.tls_info(),
        }
    }

    /// RFC 9266 tls-exporter channel binding; `None` on plain connections and on TLS 1.2
    /// (see [`TlsStream::channel_binding`]).
    pub fn channel_binding(&self) -> Option<Vec<u8>> {
        match self {
            Stream::Plain(_) => None,
            Stream::Tls(tls) => tls.channel_binding(),
            Stream::Compressed(compressed) => compressed.inner().channel_binding(),
        }
    }

    /// The client's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Stream::Plain(tcp) => tcp.peer_addr(),
            Stream::Tls(tls) => tls.peer_addr(),
            Stream::Compressed(compressed) => compressed.peer_addr(),
        }
    }

    /// Our address on this connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Stream::Plain(tcp) => tcp.local_addr(),
            Stream::Tls(tls) => tls.local_addr(),
            Stream::Compressed(compressed) => compressed.inner().local_addr(),
        }
    }

    /// Reads fail with `ErrorKind::TimedOut` after `timeout` without data (`None`:
    /// never). Survives a STARTTLS upgrade (it is a property of the socket).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Plain(tcp) => tcp.set_read_timeout(timeout),
            Stream::Tls(tls) => tls.set_read_timeout(timeout),
            Stream::Compressed(compressed) => compressed.inner().set_read_timeout(timeout),
        }
    }

    /// Writes fail with `ErrorKind::TimedOut` after `timeout` without progress.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Plain(tcp) => tcp.set_write_timeout(timeout),
            Stream::Tls(tls) => tls.set_write_timeout(timeout),
            Stream::Compressed(compressed) => compressed.inner().set_write_timeout(timeout),
        }
    }

    /// STARTTLS: runs the server handshake on this plain connection and returns the TLS
    /// one. [`TlsError::AlreadyTls`] (and the connection closed) if it already is TLS: a
    /// session answers a second STARTTLS itself, without calling this. Read the module
    /// doc about buffered plaintext first.
    pub async fn start_tls(self, acceptor: &TlsAcceptor) -> Result<Stream, TlsError> {
        match self {
            Stream::Plain(tcp) => Ok(Stream::Tls(Box::new(acceptor.accept(tcp).await?))),
            Stream::Tls(_) | Stream::Compressed(_) => Err(TlsError::AlreadyTls),
        }
    }

    /// Sends up to `length` bytes of `file` from `offset`, waiting at most `step` for
    /// socket space; returns the bytes sent (0 when the window stayed full for `step`).
    /// Plain connections use `sendfile(2)` on a helper thread
    /// ([`TcpStream::send_file_step`]); TLS ones read the range in chunks on a helper
    /// thread and encrypt them here ([`TlsStream::send_file_step`]), sending less per
    /// call; compressed ones do the same through the compressor
    /// ([`CompressedStream::send_file_step`]), which buffers, so flush after the last
    /// step. Either way the caller loops until done and must have flushed earlier writes
    /// (compressed streams excepted: their bytes all pass the same buffer in order).
    pub async fn send_file_step(
        &mut self,
        file: &Arc<File>,
        offset: u64,
        length: u64,
        step: Duration,
    ) -> io::Result<u64> {
        match self {
            Stream::Plain(tcp) => tcp.send_file_step(file, offset, length, step).await,
            Stream::Tls(tls) => tls.send_file_step(file, offset, length, step).await,
            Stream::Compressed(compressed) => compressed.send_file_step(file, offset, length, step).await,
        }
    }
}

impl From<TcpStream> for Stream {
    fn from(tcp: TcpStream) -> Stream {
        Stream::Plain(tcp)
    }
}

impl From<TlsStream> for Stream {
    fn from(tls: TlsStream) -> Stream {
        Stream::Tls(Box::new(tls))
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_read(cx, buf),
            Stream::Compressed(compressed) => Pin::new(compressed.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_write(cx, buf),
            Stream::Compressed(compressed) => Pin::new(compressed.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_flush(cx),
            Stream::Compressed(compressed) => Pin::new(compressed.as_mut()).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(tcp) => Pin::new(tcp).poll_close(cx),
            Stream::Tls(tls) => Pin::new(tls.as_mut()).poll_close(cx),
            Stream::Compressed(compressed) => Pin::new(compressed.as_mut()).poll_close(cx),
        }
    }
}
