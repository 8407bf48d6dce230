//! What one request/response round trip on a loopback TCP connection costs a server that
//! does nothing else: on this crate's executors, on a plain epoll loop and on a plain
//! io_uring loop. Issue 16 asked whether glommio's reactor was the wall; it was (about
//! 10 µs per wake-up beyond the epoll loop), and the runtime has its own executor since,
//! which this example measures against the two plain loops. `scripts/reactor-floor` drives the three, and
//! `moxide localserve` answering IMAP NOOP, with the same client and reads the server's
//! CPU from /proc.
//!
//! Every mode answers each line received with one IMAP-like status line, as a mail
//! server answers a command: one read, one write per round trip when the client waits
//! for each answer.
//!
//! ```text
//! echo_floor runtime PORT [CORES]   # one executor per core, SO_REUSEPORT listeners
//! echo_floor epoll PORT [CORES]     # one thread per core, level-triggered epoll
//! echo_floor uring PORT [CORES]     # one thread per core, one io_uring: accept, recv
//!                                   # and send as ring operations, one wait per pass
//! ```

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::os::fd::AsFd;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use rustix::event::epoll::{self, CreateFlags, EventData, EventFlags};

/// What each request line is answered with (the size of an IMAP tagged NOOP answer).
const ANSWER: &[u8] = b"a OK NOOP completed\r\n";
/// Read buffer per connection.
const READ_BYTES: usize = 4096;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let arguments: Vec<String> = std::env::args().collect();
    let usage = "usage: echo_floor runtime|epoll|uring PORT [CORES]";
    let mode = arguments.get(1).ok_or(usage)?.clone();
    let port: u16 = arguments.get(2).ok_or(usage)?.parse()?;
    let cores: usize = match arguments.get(3) {
        Some(cores) => cores.parse()?,
        None => moxide_runtime::online_cpus(),
    };
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    match mode.as_str() {
        "runtime" => {
            let (_, sockets) = moxide_runtime::net::bind_per_core(address, cores)?;
            println!("ready {mode} {address} cores {cores}");
            on_runtime(sockets)?;
        }
        "epoll" => on_threads(address, cores, "epoll", epoll_loop)?,
        "uring" => on_threads(address, cores, "uring", uring_loop)?,
        _ => return Err(usage.into()),
    }
    Ok(())
}

/// Lines ended in `bytes`: how many answers are owed.
fn lines_in(bytes: &[u8]) -> usize {
    bytes.iter().filter(|&&byte| byte == b'\n').count()
}

fn on_runtime(sockets: Vec<moxide_runtime::net::ListenerSocket>) -> Result<(), moxide_runtime::RuntimeError> {
    let config = moxide_runtime::RuntimeConfig { pin_to_cpus: true, ..Default::default() };
    moxide_runtime::run(&config, sockets, |_, socket| async move {
        let Ok(listener) = socket.into_listener() else { return };
        while let Ok(mut stream) = listener.accept().await {
            moxide_runtime::spawn_detached(async move {
                let mut buffer = vec![0u8; READ_BYTES];
                let mut answers = Vec::new();
                loop {
                    let read = match stream.read(&mut buffer).await {
                        Ok(0) | Err(_) => return,
                        Ok(read) => read,
                    };
                    answers.clear();
                    (0..lines_in(&buffer[..read])).for_each(|_| answers.extend_from_slice(ANSWER));
                    if !answers.is_empty() && stream.write_all(&answers).await.is_err() {
                        return;
                    }
                }
            });
        }
    })
}

/// One thread per core, each with its own SO_REUSEPORT listener, running `serve`.
fn on_threads(
    address: SocketAddr,
    cores: usize,
    mode: &str,
    serve: fn(&std::net::TcpListener) -> io::Result<()>,
) -> io::Result<()> {
    // bind_per_core's sockets are the runtime's to drive; these threads bind their own.
    let threads: Vec<_> = (0..cores)
        .map(|_| {
            let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)?;
            socket.set_reuse_address(true)?;
            socket.set_reuse_port(true)?;
            socket.bind(&address.into())?;
            socket.listen(1024)?;
            let listener: std::net::TcpListener = socket.into();
            Ok(std::thread::spawn(move || serve(&listener)))
        })
        .collect::<io::Result<_>>()?;
    println!("ready {mode} {address} cores {cores}");
    for thread in threads {
        thread.join().map_err(|_| io::Error::other("server thread panicked"))??;
    }
    Ok(())
}

fn epoll_loop(listener: &std::net::TcpListener) -> io::Result<()> {
    const LISTENER: u64 = u64::MAX;
    // Accepts until EAGAIN after each readiness event.
    listener.set_nonblocking(true)?;
    let poller = epoll::create(CreateFlags::CLOEXEC)?;
    epoll::add(&poller, listener.as_fd(), EventData::new_u64(LISTENER), EventFlags::IN)?;
    let mut streams: Vec<Option<std::net::TcpStream>> = Vec::new();
    let mut events: Vec<epoll::Event> = Vec::with_capacity(256);
    let mut buffer = vec![0u8; READ_BYTES];
    let mut answers = Vec::new();
    loop {
        events.clear();
        match epoll::wait(&poller, rustix::buffer::spare_capacity(&mut events), None) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(error) => return Err(error.into()),
        }
        for event in &events {
            let token = event.data.u64();
            if token == LISTENER {
                while let Ok((stream, _)) = listener.accept() {
                    stream.set_nonblocking(true)?;
                    stream.set_nodelay(true)?;
                    let slot = streams.iter().position(Option::is_none).unwrap_or(streams.len());
                    epoll::add(&poller, stream.as_fd(), EventData::new_u64(slot as u64), EventFlags::IN)?;
                    if slot == streams.len() {
                        streams.push(Some(stream));
                    } else {
                        streams[slot] = Some(stream);
                    }
                }
                continue;
            }
            let Some(slot) = usize::try_from(token).ok().and_then(|slot| streams.get_mut(slot)) else {
                continue;
            };
            let Some(stream) = slot.as_mut() else { continue };
            let keep = match stream.read(&mut buffer) {
                Ok(0) => false,
                Ok(read) => {
                    answers.clear();
                    (0..lines_in(&buffer[..read])).for_each(|_| answers.extend_from_slice(ANSWER));
                    // The client waits for each answer, so the socket's send buffer has
                    // room; a short write here would be a client that does not read.
                    stream.write_all(&answers).is_ok()
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => true,
                Err(_) => false,
            };
            if !keep {
                *slot = None;
            }
        }
    }
}

/// A connection of the io_uring loop; boxed, so its buffers stay put while the kernel
/// reads into or sends from them.
struct UringConnection {
    stream: std::net::TcpStream,
    read: [u8; READ_BYTES],
    answers: Vec<u8>,
}

/// `user_data` of a ring operation: the connection's slot and what the operation was.
const OP_ACCEPT: u64 = u64::MAX;
const OP_RECV: u64 = 0;
const OP_SEND: u64 = 1;

fn uring_loop(listener: &std::net::TcpListener) -> io::Result<()> {
    use io_uring::{IoUring, opcode, types};
    use std::os::fd::{AsRawFd, FromRawFd};

    // One operation in flight per connection plus the accept: room for 4,095 connections.
    let mut ring = IoUring::new(4096)?;
    let mut connections: Vec<Option<Box<UringConnection>>> = Vec::new();
    let listener_fd = types::Fd(listener.as_raw_fd());
    let accept = opcode::Accept::new(listener_fd, std::ptr::null_mut(), std::ptr::null_mut())
        .build()
        .user_data(OP_ACCEPT);
    // SAFETY: the accept operation points at no memory of ours (null address buffers),
    // and the listener outlives the ring (it is borrowed for the whole loop).
    unsafe { ring.submission().push(&accept) }.map_err(io::Error::other)?;
    loop {
        ring.submit_and_wait(1)?;
        let completions: Vec<(u64, i32)> =
            ring.completion().map(|entry| (entry.user_data(), entry.result())).collect();
        for (user_data, result) in completions {
            if user_data == OP_ACCEPT {
                if result >= 0 {
                    // SAFETY: a successful accept returns a new socket descriptor we own.
                    let stream = unsafe { std::net::TcpStream::from_raw_fd(result) };
                    stream.set_nodelay(true)?;
                    let slot = connections.iter().position(Option::is_none).unwrap_or(connections.len());
                    let connection =
                        Box::new(UringConnection { stream, read: [0; READ_BYTES], answers: Vec::new() });
                    if slot == connections.len() {
                        connections.push(Some(connection));
                    } else {
                        connections[slot] = Some(connection);
                    }
                    push_recv(&mut ring, &mut connections, slot)?;
                }
                // SAFETY: as for the first accept.
                unsafe { ring.submission().push(&accept) }.map_err(io::Error::other)?;
                continue;
            }
            let slot = usize::try_from(user_data >> 1).unwrap_or(usize::MAX);
            let Some(Some(connection)) = connections.get_mut(slot) else { continue };
            if result <= 0 {
                connections[slot] = None;
                continue;
            }
            if user_data & 1 == OP_RECV {
                let read = usize::try_from(result).unwrap_or(0).min(READ_BYTES);
                let owed = lines_in(&connection.read[..read]);
                connection.answers.clear();
                (0..owed).for_each(|_| connection.answers.extend_from_slice(ANSWER));
                if owed == 0 {
                    push_recv(&mut ring, &mut connections, slot)?;
                    continue;
                }
                let send = opcode::Send::new(
                    types::Fd(connection.stream.as_raw_fd()),
                    connection.answers.as_ptr(),
                    u32::try_from(connection.answers.len()).unwrap_or(u32::MAX),
                )
                .build()
                .user_data(((slot as u64) << 1) | OP_SEND);
                // SAFETY: the answers live in the boxed connection, which stays in its
                // slot (not moved, not touched) until this send completes.
                unsafe { ring.submission().push(&send) }.map_err(io::Error::other)?;
            } else {
                // The client waits for its answer, so a send completes whole; a short one
                // would be a client that does not read, which this tool does not serve.
                push_recv(&mut ring, &mut connections, slot)?;
            }
        }
    }
}

fn push_recv(
    ring: &mut io_uring::IoUring,
    connections: &mut [Option<Box<UringConnection>>],
    slot: usize,
) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let Some(Some(connection)) = connections.get_mut(slot) else { return Ok(()) };
    let recv = io_uring::opcode::Recv::new(
        io_uring::types::Fd(connection.stream.as_raw_fd()),
        connection.read.as_mut_ptr(),
        READ_BYTES as u32,
    )
    .build()
    .user_data(((slot as u64) << 1) | OP_RECV);
    // SAFETY: the read buffer lives in the boxed connection, which stays in its slot
    // until this receive completes (a connection is dropped only on a completion).
    unsafe { ring.submission().push(&recv) }.map_err(io::Error::other)
}
