//! An established server-side TLS connection over our [`TcpStream`]: reads and writes go
//! through rustls (futures-rustls drives it on the runtime's futures-io stream).
//!
//! Invariants: the negotiated parameters ([`TlsInfo`]) are read once, right after the
//! handshake, and never change (rustls does no renegotiation, so a TLS 1.2 peer cannot
//! swap its certificate mid-connection: the triple-handshake attack has no opening).

use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_lite::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};
use rustls::ProtocolVersion;
use rustls::server::ServerConnection;

use super::client_auth::{client_spki, spki_sha256};
use super::{CHANNEL_BINDING_BYTES, CHANNEL_BINDING_LABEL, TlsError, TlsInfo, TlsVersion};
use crate::net::TcpStream;

/// File bytes read per helper-thread trip when sending a file through TLS. rustls
/// accepts up to 64 KiB of plaintext ahead of the socket, so a bigger chunk would only
/// wait in memory; a smaller one costs more offload round trips (~tens of µs each) per
/// message.
pub const TLS_FILE_CHUNK_BYTES_MAX: usize = 64 * 1024;

/// A server-side TLS connection: `AsyncRead` + `AsyncWrite` of the plaintext.
#[derive(Debug)]
pub struct TlsStream {
    inner: futures_rustls::server::TlsStream<TcpStream>,
    info: TlsInfo,
}

impl TlsStream {
    /// Wraps a completed handshake. Fails only if rustls negotiated a version we never
    /// enabled, which would be a rustls bug; refusing is cheaper than trusting it.
    pub(super) fn new(inner: futures_rustls::server::TlsStream<TcpStream>) -> Result<TlsStream, TlsError> {
        let info = negotiated(inner.get_ref().1)?;
        Ok(TlsStream { inner, info })
    }

    /// What the handshake negotiated.
    pub fn info(&self) -> TlsInfo {
        self.info.clone()
    }

    /// RFC 9266 tls-exporter channel binding (for SCRAM-*-PLUS): 32 bytes exported with
    /// the label "EXPORTER-Channel-Binding" and no context.
    ///
    /// TLS 1.3 only; `None` on TLS 1.2. RFC 9266 §3 allows tls-exporter on TLS 1.2 only
    /// when extended master secret (RFC 7627) was negotiated, which rustls does not let
    /// us check, and rustls offers no tls-unique (RFC 5929) either. A SCRAM server then
    /// does not advertise the -PLUS mechanisms on TLS 1.2 connections.
    pub fn channel_binding(&self) -> Option<Vec<u8>> {
        if self.info.version != TlsVersion::Tls13 {
            return None;
        }
        let connection = self.inner.get_ref().1;
        connection.export_keying_material(vec![0u8; CHANNEL_BINDING_BYTES], CHANNEL_BINDING_LABEL, None).ok()
    }

    /// The client's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().0.peer_addr()
    }

    /// Our address on this connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().0.local_addr()
    }

    /// Reads fail with `ErrorKind::TimedOut` after `timeout` without data from the
    /// socket (`None`: never). TLS records count as data as they arrive.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.get_ref().0.set_read_timeout(timeout)
    }

    /// Writes fail with `ErrorKind::TimedOut` after `timeout` without progress.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.get_ref().0.set_write_timeout(timeout)
    }

    /// The TLS counterpart of [`TcpStream::send_file_step`]: reads up to
    /// [`TLS_FILE_CHUNK_BYTES_MAX`] bytes of `file` from `offset` on a helper thread and
    /// writes them through TLS, waiting at most `step` for the socket. Returns the bytes
    /// taken by TLS (0 when the peer's window stayed full for `step`); the caller advances
    /// `offset` by that many and calls again. Bytes may still sit encrypted in rustls's
    /// buffer when this returns; the next write or flush sends them.
    pub async fn send_file_step(
        &mut self,
        file: &Arc<File>,
        offset: u64,
        length: u64,
        step: Duration,
    ) -> io::Result<u64> {
        let chunk_bytes = usize::try_from(length).unwrap_or(usize::MAX).min(TLS_FILE_CHUNK_BYTES_MAX);
        if chunk_bytes == 0 {
            return Ok(0);
        }
        let deadline = Instant::now() + step;
        let file = Arc::clone(file);
        let chunk = crate::offload(move || read_chunk(&file, offset, chunk_bytes))
            .await
            .map_err(|panic| io::Error::other(panic.to_string()))??;
        let mut written = 0;
        while written < chunk.len() {
            // A zero budget still tries once: `timeout` polls the write before the timer.
            let budget = deadline.saturating_duration_since(Instant::now());
            match crate::time::timeout(budget, self.inner.write(&chunk[written..])).await {
                Err(crate::time::Elapsed) => break,
                Ok(Ok(0)) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(Ok(n)) => written += n,
                Ok(Err(error)) => return Err(error),
            }
        }
        if written > 0 {
            // Push what rustls holds towards the socket within this step; what doesn't
            // fit now goes out with the next write. The futures-rustls flush is cancel
            // safe: the runtime's socket writes are readiness-based, nothing is in flight.
            let budget = deadline.saturating_duration_since(Instant::now());
            if let Ok(flushed) = crate::time::timeout(budget, self.inner.flush()).await {
                flushed?;
            }
        }
        Ok(written as u64)
    }
}

/// Reads exactly `bytes` bytes at `offset` (a file shorter than promised is an error, as
/// with sendfile).
fn read_chunk(file: &File, offset: u64, bytes: usize) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt as _;
    let mut chunk = vec![0u8; bytes];
    file.read_exact_at(&mut chunk, offset)?;
    Ok(chunk)
}

fn negotiated(connection: &ServerConnection) -> Result<TlsInfo, TlsError> {
    let version = match connection.protocol_version() {
        Some(ProtocolVersion::TLSv1_3) => TlsVersion::Tls13,
        Some(ProtocolVersion::TLSv1_2) => TlsVersion::Tls12,
        other => return Err(TlsError::Handshake(format!("unexpected protocol version {other:?}"))),
    };
    let cipher = match connection.negotiated_cipher_suite() {
        Some(suite) => {
            let suite = suite.suite();
            suite.as_str().map_or_else(|| format!("{suite:?}"), str::to_string)
        }
        None => return Err(TlsError::Handshake("no cipher suite after handshake".to_string())),
    };
    let client_spki = connection.peer_certificates().and_then(|chain| chain.first()).and_then(client_spki);
    Ok(TlsInfo {
        version,
        cipher,
        alpn: connection.alpn_protocol().map(<[u8]>::to_vec),
        server_name: connection.server_name().map(str::to_ascii_lowercase),
        client_spki_sha256: client_spki.as_deref().map(spki_sha256),
        client_spki,
    })
}

impl AsyncRead for TlsStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TlsStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    /// Sends close_notify (RFC 8446 §6.1), then shuts the socket's write half.
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}
