//! TCP for the executors: listening sockets bound once per core, streams, connect, and a
//! connection limit.
//!
//! Listening sockets are created by [`bind_per_core`] on the main thread, before the
//! executors start: a port-0 request is resolved once and every core binds that same port
//! with `SO_REUSEPORT`, so the kernel spreads accepts over the cores. A probe bind without
//! `SO_REUSEPORT` first refuses a port another process already holds (with reuse-port on
//! both sides the kernel would silently share it).
//!
//! Every accepted or connected stream gets `TCP_NODELAY`: SMTP and IMAP are chatty, and
//! with Nagle each request/response stalls ~40 ms.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::io::{AsyncRead, AsyncWrite};
use socket2::{Domain, Protocol, Socket, Type};

/// Pending-connection queue per listening socket. Per core, so the machine-wide queue is
/// this times the number of cores; 1024 matches common `somaxconn` defaults.
pub const LISTEN_BACKLOG_MAX: i32 = 1024;

/// A bound, listening socket waiting to be handed to its core. `Send`, so it can be
/// created on the main thread and moved into an executor.
#[derive(Debug)]
pub struct ListenerSocket {
    socket: Socket,
}

impl ListenerSocket {
    /// Turns the socket into a listener driven by the current core's executor. Must be
    /// called on an executor thread.
    pub fn into_listener(self) -> TcpListener {
        let fd = self.socket.into_raw_fd();
        // SAFETY: `fd` is a bound, listening TCP socket we own (into_raw_fd gave up the
        // Socket's ownership), which is what glommio's from_raw_fd requires.
        let inner = unsafe { glommio::net::TcpListener::from_raw_fd(fd) };
        TcpListener { inner }
    }
}

/// Binds `address` once per core (`cores` sockets, all on the same port, SO_REUSEPORT).
/// Returns the address actually bound (a port of 0 becomes the kernel's choice).
pub fn bind_per_core(address: SocketAddr, cores: usize) -> io::Result<(SocketAddr, Vec<ListenerSocket>)> {
    if address.port() != 0 {
        // Probe without SO_REUSEPORT: fails if anyone else holds the port.
        let probe = new_socket(address)?;
        probe.bind(&address.into())?;
        drop(probe);
    }
    let mut sockets = Vec::with_capacity(cores);
    let mut bound = address;
    for _ in 0..cores.max(1) {
        let socket = new_socket(bound)?;
        socket.set_reuse_port(true)?;
        socket.bind(&bound.into())?;
        socket.listen(LISTEN_BACKLOG_MAX)?;
        if bound.port() == 0 {
            bound = socket
                .local_addr()?
                .as_socket()
                .ok_or_else(|| io::Error::other("listening socket has no inet address"))?;
        }
        sockets.push(ListenerSocket { socket });
    }
    Ok((bound, sockets))
}

fn new_socket(address: SocketAddr) -> io::Result<Socket> {
    let domain = if address.is_ipv6() { Domain::IPV6 } else { Domain::IPV4 };
    let socket = Socket::new(domain, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.set_cloexec(true)?;
    Ok(socket)
}

/// A listening socket on the current core.
#[derive(Debug)]
pub struct TcpListener {
    inner: glommio::net::TcpListener,
}

impl TcpListener {
    /// Waits for the next connection; the stream has `TCP_NODELAY` set.
    pub async fn accept(&self) -> io::Result<TcpStream> {
        let stream = self.inner.accept().await.map_err(io::Error::from)?;
        stream.set_nodelay(true).map_err(io::Error::from)?;
        Ok(TcpStream { inner: stream })
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr().map_err(io::Error::from)
    }
}

/// A TCP connection on the current core: `AsyncRead` + `AsyncWrite`.
#[derive(Debug)]
pub struct TcpStream {
    inner: glommio::net::TcpStream,
}

impl TcpStream {
    /// Connects to `address` (with `TCP_NODELAY`).
    pub async fn connect(address: SocketAddr) -> io::Result<TcpStream> {
        let stream = glommio::net::TcpStream::connect(address).await.map_err(io::Error::from)?;
        stream.set_nodelay(true).map_err(io::Error::from)?;
        Ok(TcpStream { inner: stream })
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr().map_err(io::Error::from)
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr().map_err(io::Error::from)
    }

    /// Reads fail with `ErrorKind::TimedOut` after `timeout` without data (`None`: never).
    /// Cheaper than wrapping each read in a timer: the reactor arms one per pending read.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_read_timeout(timeout).map_err(io::Error::from)
    }

    /// Writes fail with `ErrorKind::TimedOut` after `timeout` without progress.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.inner.set_write_timeout(timeout).map_err(io::Error::from)
    }

    /// Shuts down the write half (the peer reads end-of-stream).
    pub async fn shutdown_write(&self) -> io::Result<()> {
        self.inner.shutdown(std::net::Shutdown::Write).await.map_err(io::Error::from)
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.as_raw_fd()
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_close(cx)
    }
}

/// A limit on concurrent connections shared by all cores (one atomic counter).
#[derive(Debug, Clone)]
pub struct ConnectionLimiter {
    shared: Arc<LimiterShared>,
}

#[derive(Debug)]
struct LimiterShared {
    open: AtomicUsize,
    max: usize,
}

/// One admitted connection; dropping it frees the slot.
#[derive(Debug)]
pub struct ConnectionPermit {
    shared: Arc<LimiterShared>,
}

impl ConnectionLimiter {
    /// At most `max` connections at once.
    pub fn new(max: usize) -> Self {
        ConnectionLimiter { shared: Arc::new(LimiterShared { open: AtomicUsize::new(0), max }) }
    }

    /// A permit, or `None` when `max` connections are open.
    pub fn try_acquire(&self) -> Option<ConnectionPermit> {
        let admitted = self
            .shared
            .open
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |open| {
                (open < self.shared.max).then_some(open + 1)
            })
            .is_ok();
        admitted.then(|| ConnectionPermit { shared: Arc::clone(&self.shared) })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.shared.open.load(Ordering::Acquire)
    }
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let before = self.shared.open.fetch_sub(1, Ordering::AcqRel);
        assert!(before > 0, "connection permit released twice");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::{RuntimeConfig, run, spawn};
    use futures_lite::{AsyncReadExt, AsyncWriteExt};
    use std::io::{Read, Write};
    use std::sync::Mutex;

    #[test]
    fn limiter_admits_up_to_max() {
        let limiter = ConnectionLimiter::new(2);
        let a = limiter.try_acquire().unwrap();
        let _b = limiter.try_acquire().unwrap();
        assert!(limiter.try_acquire().is_none());
        drop(a);
        assert_eq!(limiter.open(), 1);
        assert!(limiter.try_acquire().is_some());
    }

    #[test]
    fn port_in_use_is_refused() {
        let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = holder.local_addr().unwrap();
        let error = bind_per_core(taken, 2).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::AddrInUse);
    }

    /// Two cores accept on one port; plain std clients connect; every connection is
    /// served and the kernel spreads them (both cores are asked; we only require that all
    /// are served, spreading is the kernel's business).
    #[test]
    fn per_core_listeners_share_a_port() {
        let (address, sockets) = bind_per_core("127.0.0.1:0".parse().unwrap(), 2).unwrap();
        assert_ne!(address.port(), 0);
        let served = Arc::new(Mutex::new(Vec::new()));
        let clients = std::thread::spawn(move || {
            for i in 0..20u8 {
                let mut stream = std::net::TcpStream::connect(address).unwrap();
                stream.write_all(&[i]).unwrap();
                let mut reply = [0u8; 1];
                stream.read_exact(&mut reply).unwrap();
                assert_eq!(reply[0], i.wrapping_add(1));
            }
        });
        let config = RuntimeConfig { pin_to_cpus: false, ..RuntimeConfig::default() };
        let served_in = Arc::clone(&served);
        let total = Arc::new(AtomicUsize::new(0));
        run(&config, sockets, move |core, socket| {
            let served = Arc::clone(&served_in);
            let total = Arc::clone(&total);
            async move {
                let listener = socket.into_listener();
                while total.load(Ordering::SeqCst) < 20 {
                    let accept = crate::time::timeout(Duration::from_millis(50), listener.accept()).await;
                    let Ok(stream) = accept else { continue };
                    let mut stream = stream.unwrap();
                    total.fetch_add(1, Ordering::SeqCst);
                    served.lock().unwrap().push(core.index);
                    spawn(async move {
                        let mut byte = [0u8; 1];
                        stream.read_exact(&mut byte).await.unwrap();
                        stream.write_all(&[byte[0].wrapping_add(1)]).await.unwrap();
                    })
                    .await;
                }
            }
        })
        .unwrap();
        clients.join().unwrap();
        assert_eq!(served.lock().unwrap().len(), 20);
    }
}
