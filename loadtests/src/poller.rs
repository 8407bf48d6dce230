//! A minimal level-triggered `epoll(7)` wrapper for the idle scenario's event loop: it
//! holds tens of thousands of sockets on one thread, which threads cannot, and it can
//! drive sockets we created and bound ourselves (`--sources`), which our runtime's
//! connect cannot.
//!
//! Level-triggered on purpose: a connection that was not fully drained is simply
//! reported again, so no readiness is ever lost.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::time::Duration;

use rustix::event::Timespec;
use rustix::event::epoll::{self, CreateFlags, EventData, EventFlags};

/// Most readiness events taken from the kernel per wait; more stay queued for the next.
pub(crate) const EVENTS_PER_WAIT_MAX: usize = 1024;

/// One readiness report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Event {
    /// The token given when registering.
    pub(crate) token: u64,
    /// Data (or end of stream) to read.
    pub(crate) readable: bool,
    /// Room to write (a non-blocking connect finished).
    pub(crate) writable: bool,
    /// An error or hang-up is pending.
    pub(crate) failed: bool,
}

/// An epoll instance.
pub(crate) struct Poller {
    epoll: OwnedFd,
    buffer: Vec<epoll::Event>,
}

impl Poller {
    /// A new epoll instance.
    pub(crate) fn new() -> io::Result<Poller> {
        let epoll = epoll::create(CreateFlags::CLOEXEC)?;
        Ok(Poller { epoll, buffer: Vec::with_capacity(EVENTS_PER_WAIT_MAX) })
    }

    fn interest(writable: bool) -> EventFlags {
        let mut interest = EventFlags::IN | EventFlags::RDHUP;
        if writable {
            interest |= EventFlags::OUT;
        }
        interest
    }

    /// Watches `fd` for reading (and writing, if `writable`), reporting `token`.
    pub(crate) fn add(&self, fd: impl AsFd, token: u64, writable: bool) -> io::Result<()> {
        Ok(epoll::add(&self.epoll, fd, EventData::new_u64(token), Self::interest(writable))?)
    }

    /// Changes what `fd` is watched for.
    pub(crate) fn modify(&self, fd: impl AsFd, token: u64, writable: bool) -> io::Result<()> {
        Ok(epoll::modify(&self.epoll, fd, EventData::new_u64(token), Self::interest(writable))?)
    }

    /// Stops watching `fd` (closing it does too; this is for sockets kept open).
    pub(crate) fn delete(&self, fd: impl AsFd) -> io::Result<()> {
        Ok(epoll::delete(&self.epoll, fd)?)
    }

    /// Waits up to `timeout` for readiness and appends the events to `out`.
    pub(crate) fn wait(&mut self, out: &mut Vec<Event>, timeout: Duration) -> io::Result<()> {
        let timeout = Timespec {
            tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(timeout.subsec_nanos()),
        };
        self.buffer.clear();
        match epoll::wait(&self.epoll, rustix::buffer::spare_capacity(&mut self.buffer), Some(&timeout)) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(()),
            Err(error) => return Err(error.into()),
        }
        for event in &self.buffer {
            let flags = event.flags;
            out.push(Event {
                token: event.data.u64(),
                readable: flags.intersects(EventFlags::IN | EventFlags::RDHUP),
                writable: flags.contains(EventFlags::OUT),
                failed: flags.intersects(EventFlags::ERR | EventFlags::HUP),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::io::{Read, Write};

    #[test]
    fn reports_readable_writable_and_hangup() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let mut poller = Poller::new().unwrap();
        poller.add(&server, 7, true).unwrap();
        let mut events = Vec::new();
        poller.wait(&mut events, Duration::from_secs(5)).unwrap();
        assert_eq!(events, vec![Event { token: 7, readable: false, writable: true, failed: false }]);

        poller.modify(&server, 7, false).unwrap();
        events.clear();
        poller.wait(&mut events, Duration::from_millis(10)).unwrap();
        assert!(events.is_empty());

        client.write_all(b"hello").unwrap();
        poller.wait(&mut events, Duration::from_secs(5)).unwrap();
        assert_eq!(events, vec![Event { token: 7, readable: true, writable: false, failed: false }]);
        let mut buffer = [0u8; 16];
        assert_eq!(server.read(&mut buffer).unwrap(), 5);

        drop(client);
        events.clear();
        poller.wait(&mut events, Duration::from_secs(5)).unwrap();
        assert!(events[0].readable);
        assert_eq!(server.read(&mut buffer).unwrap(), 0);
        poller.delete(&server).unwrap();
    }
}
