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

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::io::{AsyncRead, AsyncWrite};
use rustix::net::SocketFlags;
use socket2::{Domain, Protocol, Socket, Type};

use crate::reactor::{Async, Direction, Timer};

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
    /// Turns the socket into a listener driven by the current core's reactor. Must be
    /// called on an executor thread.
    pub fn into_listener(self) -> io::Result<TcpListener> {
        self.socket.set_nonblocking(true)?;
        let listener: std::net::TcpListener = self.socket.into();
        Ok(TcpListener { inner: Async::new(listener)? })
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
pub struct TcpListener {
    inner: Async<std::net::TcpListener>,
}

impl std::fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpListener").field("local", &self.inner.get_ref().local_addr().ok()).finish()
    }
}

impl TcpListener {
    /// Waits for the next connection; the stream has `TCP_NODELAY` set.
    pub async fn accept(&self) -> io::Result<TcpStream> {
        let fd = std::future::poll_fn(|cx| {
            self.inner.poll_io(Direction::Read, cx, |listener| {
                rustix::net::accept_with(listener, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC)
                    .map_err(io::Error::from)
            })
        })
        .await?;
        TcpStream::from_connected(std::net::TcpStream::from(fd))
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }
}

/// A TCP connection on the current core: `AsyncRead` + `AsyncWrite`.
pub struct TcpStream {
    inner: Async<std::net::TcpStream>,
    read_timeout: Cell<Option<Duration>>,
    write_timeout: Cell<Option<Duration>>,
    /// The deadline of the read (write) that is waiting, armed when it first waits.
    read_timer: Option<Timer>,
    write_timer: Option<Timer>,
}

impl std::fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TcpStream").field("peer", &self.inner.get_ref().peer_addr().ok()).finish()
    }
}

impl TcpStream {
    /// A connected, non-blocking stream: `TCP_NODELAY` set, registered with the reactor.
    fn from_connected(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nodelay(true)?;
        Ok(TcpStream {
            inner: Async::new(stream)?,
            read_timeout: Cell::new(None),
            write_timeout: Cell::new(None),
            read_timer: None,
            write_timer: None,
        })
    }

    /// Connects to `address` (with `TCP_NODELAY`).
    pub async fn connect(address: SocketAddr) -> io::Result<TcpStream> {
        let domain = if address.is_ipv6() { Domain::IPV6 } else { Domain::IPV4 };
        let socket = Socket::new(domain, Type::STREAM.nonblocking().cloexec(), Some(Protocol::TCP))?;
        match socket.connect(&address.into()) {
            Ok(()) => {}
            Err(error) if error.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(error) => return Err(error),
        }
        let stream = TcpStream::from_connected(socket.into())?;
        // A non-blocking connect has ended once the socket turns writable; SO_ERROR says
        // how it ended.
        stream.inner.clear(Direction::Write);
        stream.inner.ready(Direction::Write).await;
        match stream.inner.get_ref().take_error()? {
            Some(error) => Err(error),
            None => Ok(stream),
        }
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// Reads fail with `ErrorKind::TimedOut` after `timeout` without data (`None`: never).
    /// Cheaper than wrapping each read in a timer future: the deadline is armed only
    /// when a read has to wait.
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.read_timeout.set(timeout);
        Ok(())
    }

    /// Writes fail with `ErrorKind::TimedOut` after `timeout` without progress.
    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.write_timeout.set(timeout);
        Ok(())
    }

    /// Sends up to `length` bytes of `file` from `offset` straight from the page cache
    /// (`sendfile(2)`), on a helper thread so the executor never waits for the disk.
    /// Waits at most `step` for socket space; returns the bytes sent (0 when the peer's
    /// window stayed full for `step`: the caller retries and applies its own write
    /// timeout).
    ///
    /// The caller must have flushed everything written before through this stream.
    pub async fn send_file_step(
        &self,
        file: &std::sync::Arc<std::fs::File>,
        offset: u64,
        length: u64,
        step: Duration,
    ) -> io::Result<u64> {
        let deadline = std::time::Instant::now() + step;
        loop {
            let writable = async {
                self.inner.ready(Direction::Write).await;
                true
            };
            let expired = async {
                Timer::at(deadline).await;
                false
            };
            if !futures_lite::future::or(writable, expired).await {
                return Ok(0);
            }
            // SAFETY: dup only creates a new descriptor for the socket we hold; the
            // OwnedFd closes it when the helper thread is done, whatever becomes of this
            // stream meanwhile.
            let socket = unsafe { libc::dup(self.as_raw_fd()) };
            if socket < 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `socket` is a fresh descriptor from dup above, owned by nobody else.
            let socket = unsafe { std::os::fd::OwnedFd::from_raw_fd(socket) };
            let file = std::sync::Arc::clone(file);
            let (sent, blocked) =
                crate::offload(move || send_file_nonblocking(&socket, &file, offset, length))
                    .await
                    .map_err(|panic| io::Error::other(panic.to_string()))??;
            if blocked {
                self.inner.clear(Direction::Write);
            }
            if sent > 0 || !blocked {
                return Ok(sent);
            }
        }
    }

    /// Shuts down the write half (the peer reads end-of-stream).
    pub async fn shutdown_write(&self) -> io::Result<()> {
        self.inner.get_ref().shutdown(std::net::Shutdown::Write)
    }
}

impl AsRawFd for TcpStream {
    fn as_raw_fd(&self) -> RawFd {
        self.inner.get_ref().as_raw_fd()
    }
}

/// Polls `timer` (armed now for `timeout` if not yet) after an I/O attempt went pending:
/// `Ready` with `TimedOut` once it expired.
fn poll_deadline(
    timer: &mut Option<Timer>,
    timeout: Option<Duration>,
    cx: &mut Context<'_>,
) -> Poll<io::Result<usize>> {
    let Some(timeout) = timeout else { return Poll::Pending };
    let armed = timer.get_or_insert_with(|| Timer::at(std::time::Instant::now() + timeout));
    match armed.poll_expired(cx) {
        Poll::Ready(()) => {
            *timer = None;
            Poll::Ready(Err(io::Error::from(io::ErrorKind::TimedOut)))
        }
        Poll::Pending => Poll::Pending,
    }
}

impl AsyncRead for TcpStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let wanted = buf.len();
        match this.inner.poll_io(Direction::Read, cx, |mut stream| stream.read(buf)) {
            Poll::Ready(result) => {
                this.read_timer = None;
                // Edge-triggered: a short read drained the socket, and anything that
                // arrives later raises a new event. End of stream keeps the flag so later
                // reads see it again.
                if let Ok(read) = result
                    && read > 0
                    && read < wanted
                {
                    this.inner.clear(Direction::Read);
                }
                Poll::Ready(result)
            }
            Poll::Pending => poll_deadline(&mut this.read_timer, this.read_timeout.get(), cx),
        }
    }
}

impl AsyncWrite for TcpStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match this.inner.poll_io(Direction::Write, cx, |mut stream| stream.write(buf)) {
            Poll::Ready(result) => {
                this.write_timer = None;
                if let Ok(written) = result
                    && written < buf.len()
                {
                    this.inner.clear(Direction::Write);
                }
                Poll::Ready(result)
            }
            Poll::Pending => poll_deadline(&mut this.write_timer, this.write_timeout.get(), cx),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Nothing is buffered here: a completed write is in the socket.
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(crate::reactor::write_half_closed(
            self.inner.get_ref().shutdown(std::net::Shutdown::Write),
        ))
    }
}

/// Largest single sendfile call; keeps one step's latency bounded on fast links too.
const SEND_FILE_CALL_BYTES_MAX: u64 = 1 << 20;

/// Sends from `file` on a non-blocking socket until done or the socket is full; returns
/// the bytes sent and whether it stopped because the socket was full.
fn send_file_nonblocking(
    socket: &std::os::fd::OwnedFd,
    file: &std::fs::File,
    offset: u64,
    length: u64,
) -> io::Result<(u64, bool)> {
    use std::os::fd::AsRawFd as _;
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
                io::ErrorKind::WouldBlock => return Ok((sent, true)),
                io::ErrorKind::Interrupted => continue,
                _ => return Err(error),
            }
        }
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shorter than expected"));
        }
        sent += n as u64;
    }
    Ok((sent, false))
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

    /// sendfile from a file to a runtime stream; a std client reads it all.
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
                let listener = socket.into_listener().unwrap();
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

    /// A read with a timeout fails with TimedOut when nothing comes, the stream stays
    /// usable, and data that arrives later is read with a fresh deadline (the timer is
    /// armed per waiting read, not once per stream).
    #[test]
    fn read_timeout_fires_per_waiting_read() {
        let (address, sockets) = bind_per_core("127.0.0.1:0".parse().unwrap(), 1).unwrap();
        let client = std::thread::spawn(move || {
            let mut stream = std::net::TcpStream::connect(address).unwrap();
            std::thread::sleep(Duration::from_millis(150));
            stream.write_all(b"late").unwrap();
            let mut end = Vec::new();
            stream.read_to_end(&mut end).unwrap();
        });
        let config = RuntimeConfig { pin_to_cpus: false, ..RuntimeConfig::default() };
        run(&config, sockets, |_, socket| async move {
            let listener = socket.into_listener().unwrap();
            let mut stream = listener.accept().await.unwrap();
            stream.set_read_timeout(Some(Duration::from_millis(40))).unwrap();
            let mut buf = [0u8; 16];
            let started = std::time::Instant::now();
            let error = stream.read(&mut buf).await.unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::TimedOut);
            assert!(started.elapsed() >= Duration::from_millis(40));
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let n = stream.read(&mut buf).await.unwrap();
            assert_eq!(&buf[..n], b"late");
            stream.close().await.unwrap();
        })
        .unwrap();
        client.join().unwrap();
    }

    /// connect() to a port nobody listens on fails (the error comes through SO_ERROR
    /// once the socket turns writable); to a listener it succeeds.
    #[test]
    fn connect_reports_refusal_and_success() {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let refused = closed.local_addr().unwrap();
        drop(closed);
        let open = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let reachable = open.local_addr().unwrap();
        let config = RuntimeConfig { pin_to_cpus: false, ..RuntimeConfig::default() };
        run(&config, vec![()], move |_, ()| async move {
            let error = TcpStream::connect(refused).await.unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
            let stream = TcpStream::connect(reachable).await.unwrap();
            assert_eq!(stream.peer_addr().unwrap(), reachable);
        })
        .unwrap();
        drop(open);
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
                let listener = socket.into_listener().unwrap();
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
