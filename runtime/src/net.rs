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

    /// Sends up to `length` bytes of `file` from `offset` straight from the page cache
    /// (`sendfile(2)`), on a helper thread so the executor never blocks. Waits at most
    /// `step` for socket space; returns the bytes sent (0 when the peer's window stayed
    /// full for `step`: the caller retries and applies its own write timeout). A slow
    /// reader therefore holds a helper thread for at most `step` at a time.
    ///
    /// The caller must have flushed everything written before through this stream.
    pub async fn send_file_step(
        &self,
        file: &std::sync::Arc<std::fs::File>,
        offset: u64,
        length: u64,
        step: Duration,
    ) -> io::Result<u64> {
        // SAFETY: dup only creates a new descriptor for the socket we hold; the OwnedFd
        // closes it when the helper thread is done. The original stays owned by glommio.
        let socket = unsafe { libc::dup(self.as_raw_fd()) };
        if socket < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `socket` is a fresh descriptor from dup above, owned by nobody else.
        let socket = unsafe { std::os::fd::OwnedFd::from_raw_fd(socket) };
        let file = std::sync::Arc::clone(file);
        crate::offload(move || send_file_blocking(&socket, &file, offset, length, step))
            .await
            .map_err(|panic| io::Error::other(panic.to_string()))?
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

/// Largest single sendfile call; keeps one step's latency bounded on fast links too.
const SEND_FILE_CALL_BYTES_MAX: u64 = 1 << 20;

fn send_file_blocking(
    socket: &std::os::fd::OwnedFd,
    file: &std::fs::File,
    offset: u64,
    length: u64,
    step: Duration,
) -> io::Result<u64> {
    use std::os::fd::AsRawFd as _;
    let timeout = libc::timeval {
        tv_sec: libc::time_t::try_from(step.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_usec: libc::suseconds_t::from(step.subsec_micros()),
    };
    // SAFETY: setsockopt reads `timeout` (a valid timeval) for its stated size. The option
    // is per socket; glommio never blocks on this socket (it sends with MSG_DONTWAIT), so
    // only our blocking sendfile is affected.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_SNDTIMEO,
            (&raw const timeout).cast(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut sent = 0u64;
    while sent < length {
        let mut position =
            libc::off_t::try_from(offset + sent).map_err(|_| io::Error::other("offset too large"))?;
        let count = (length - sent).min(SEND_FILE_CALL_BYTES_MAX) as usize;
        // SAFETY: both descriptors are open for the duration of the call; `position` is a
        // valid off_t the kernel updates.
        let n = unsafe { libc::sendfile(socket.as_raw_fd(), file.as_raw_fd(), &mut position, count) };
        if n < 0 {
            let error = io::Error::last_os_error();
            match error.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => return Ok(sent),
                io::ErrorKind::Interrupted => continue,
                _ => return Err(error),
            }
        }
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shorter than expected"));
        }
        sent += n as u64;
    }
    Ok(sent)
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

    /// sendfile from a file to a glommio stream; a std client reads it all.
    #[test]
    fn send_file_reaches_the_peer() {
        let dir = std::env::temp_dir().join(format!("moxide-sendfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let content: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let (address, sockets) = bind_per_core("127.0.0.1:0".parse().unwrap(), 1).unwrap();
        let expected = content[1000..2_501_000].to_vec();
        let reader = std::thread::spawn(move || {
            let mut stream = std::net::TcpStream::connect(address).unwrap();
            std::thread::sleep(Duration::from_millis(300)); // let the server hit a full window
            let mut received = Vec::new();
            stream.read_to_end(&mut received).unwrap();
            received
        });
        let config = RuntimeConfig { pin_to_cpus: false, ..RuntimeConfig::default() };
        run(&config, sockets, move |_, socket| {
            let path = path.clone();
            async move {
                let listener = socket.into_listener();
                let mut stream = listener.accept().await.unwrap();
                let file = Arc::new(std::fs::File::open(&path).unwrap());
                let (mut offset, mut left) = (1000u64, 2_500_000u64);
                while left > 0 {
                    let sent =
                        stream.send_file_step(&file, offset, left, Duration::from_millis(50)).await.unwrap();
                    offset += sent;
                    left -= sent;
                }
                stream.close().await.unwrap();
            }
        })
        .unwrap();
        assert!(reader.join().unwrap() == expected);
        std::fs::remove_dir_all(&dir).unwrap();
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
