//! The core's reactor: one epoll instance per executor thread, the core's timers, and an
//! eventfd through which other threads (helper threads, other cores) wake a parked core.
//!
//! Sockets are registered once, edge-triggered for reading and writing
//! (`EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET`): no `epoll_ctl` per wait. Each
//! registration ([`Async`]) keeps a readiness flag per direction. An I/O attempt runs only
//! while its flag is set; a `WouldBlock` (or a short read or write: with edge triggering
//! any later arrival queues a new event) clears it, and the next event sets it and wakes
//! the task that waits. Events are taken in by [`Reactor::poll`] between task runs, on the
//! same thread, so a flag cannot change while a task looks at it.
//!
//! Timers are a sorted map of deadlines on the core, and the wait's timeout is the nearest
//! one (`epoll_pwait2`, microsecond precision): arming and cancelling a timer is a map
//! insert and remove, no system call.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use rustix::event::epoll::{self, CreateFlags, EventData, EventFlags};
use rustix::event::{EventfdFlags, eventfd};

/// The eventfd's token; sockets use their slot index, always below it.
const WAKE_TOKEN: u64 = u64::MAX;
/// Events taken in per `epoll_wait`; more stay queued in the kernel for the next pass.
const EVENTS_PER_WAIT: usize = 1024;

/// One executor thread's reactor.
pub(crate) struct Reactor {
    epoll: OwnedFd,
    wake: OwnedFd,
    events: RefCell<Vec<epoll::Event>>,
    /// The sources an event made ready, kept between polls for its allocation.
    ready: RefCell<Vec<(Rc<Source>, bool, bool)>>,
    sources: RefCell<Slots>,
    timers: RefCell<BTreeMap<(Instant, u64), Waker>>,
    next_timer: Cell<u64>,
    /// Tasks waiting in [`crate::task::yield_to_reactor`]: woken after the next poll.
    yielders: RefCell<Vec<Waker>>,
}

/// Registered sources by slot (the epoll token); freed slots are reused.
#[derive(Default)]
struct Slots {
    entries: Vec<Option<Rc<Source>>>,
    free: Vec<usize>,
}

/// A registered descriptor's readiness and the tasks waiting for it.
pub(crate) struct Source {
    slot: usize,
    fd: RawFd,
    readable: Cell<bool>,
    writable: Cell<bool>,
    reader: Cell<Option<Waker>>,
    writer: Cell<Option<Waker>>,
}

/// Which way a task waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

impl Source {
    fn flag(&self, direction: Direction) -> &Cell<bool> {
        match direction {
            Direction::Read => &self.readable,
            Direction::Write => &self.writable,
        }
    }

    fn waiter(&self, direction: Direction) -> &Cell<Option<Waker>> {
        match direction {
            Direction::Read => &self.reader,
            Direction::Write => &self.writer,
        }
    }

    fn ready(&self, direction: Direction) {
        self.flag(direction).set(true);
        if let Some(waker) = self.waiter(direction).take() {
            waker.wake();
        }
    }
}

impl Reactor {
    pub(crate) fn new() -> io::Result<Reactor> {
        let epoll = epoll::create(CreateFlags::CLOEXEC)?;
        let wake = eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        // Level-triggered: a wake written while the core ran is seen by the next wait.
        epoll::add(&epoll, &wake, EventData::new_u64(WAKE_TOKEN), EventFlags::IN)?;
        Ok(Reactor {
            epoll,
            wake,
            events: RefCell::new(Vec::with_capacity(EVENTS_PER_WAIT)),
            ready: RefCell::new(Vec::with_capacity(EVENTS_PER_WAIT)),
            sources: RefCell::new(Slots::default()),
            timers: RefCell::new(BTreeMap::new()),
            next_timer: Cell::new(0),
            yielders: RefCell::new(Vec::new()),
        })
    }

    /// The descriptor other threads write to wake this core (see [`WakeHandle`]).
    pub(crate) fn wake_handle(&self) -> io::Result<WakeHandle> {
        Ok(WakeHandle { fd: self.wake.try_clone()? })
    }

    fn register(&self, fd: BorrowedFd<'_>) -> io::Result<Rc<Source>> {
        let mut slots = self.sources.borrow_mut();
        let slot = match slots.free.pop() {
            Some(slot) => slot,
            None => {
                slots.entries.push(None);
                slots.entries.len() - 1
            }
        };
        let source = Rc::new(Source {
            slot,
            fd: fd.as_raw_fd(),
            readable: Cell::new(true),
            writable: Cell::new(true),
            reader: Cell::new(None),
            writer: Cell::new(None),
        });
        let flags = EventFlags::IN | EventFlags::OUT | EventFlags::RDHUP | EventFlags::ET;
        if let Err(error) = epoll::add(&self.epoll, fd, EventData::new_u64(slot as u64), flags) {
            slots.free.push(slot);
            return Err(error.into());
        }
        slots.entries[slot] = Some(Rc::clone(&source));
        Ok(source)
    }

    fn deregister(&self, source: &Source, fd: BorrowedFd<'_>) {
        // Removed explicitly, not by close: a dup of the descriptor (sendfile's helper)
        // would keep the registration, and its events, alive.
        let _ = epoll::delete(&self.epoll, fd);
        let mut slots = self.sources.borrow_mut();
        if let Some(entry) = slots.entries.get_mut(source.slot) {
            *entry = None;
            slots.free.push(source.slot);
        }
    }

    /// The nearest timer's deadline: how long a parked core may wait.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.borrow().keys().next().map(|&(deadline, _)| deadline)
    }

    pub(crate) fn has_yielders(&self) -> bool {
        !self.yielders.borrow().is_empty()
    }

    /// Waits for events at most `timeout` (`None`: until one comes), wakes the tasks they
    /// concern, then fires due timers and wakes the yielders.
    pub(crate) fn poll(&self, timeout: Option<Duration>) -> io::Result<()> {
        let mut events = self.events.borrow_mut();
        events.clear();
        let timespec = timeout.map(|timeout| rustix::event::Timespec {
            tv_sec: i64::try_from(timeout.as_secs()).unwrap_or(i64::MAX),
            tv_nsec: i64::from(timeout.subsec_nanos()),
        });
        match epoll::wait(&self.epoll, rustix::buffer::spare_capacity(&mut *events), timespec.as_ref()) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(error) => return Err(error.into()),
        }
        let mut woken = false;
        let mut ready = std::mem::take(&mut *self.ready.borrow_mut());
        {
            let slots = self.sources.borrow();
            for event in events.iter() {
                let token = event.data.u64();
                if token == WAKE_TOKEN {
                    woken = true;
                    continue;
                }
                let Some(Some(source)) = usize::try_from(token).ok().and_then(|slot| slots.entries.get(slot))
                else {
                    continue;
                };
                let flags = event.flags;
                let hangup = flags.intersects(EventFlags::HUP | EventFlags::ERR);
                let read = hangup || flags.intersects(EventFlags::IN | EventFlags::PRI | EventFlags::RDHUP);
                let write = hangup || flags.contains(EventFlags::OUT);
                ready.push((Rc::clone(source), read, write));
            }
        }
        drop(events);
        if woken {
            let mut counter = [0u8; 8];
            let _ = rustix::io::read(&self.wake, &mut counter);
        }
        // Wakes run outside the borrows: a waker may drop a task whose sockets deregister.
        for (source, read, write) in ready.drain(..) {
            if read {
                source.ready(Direction::Read);
            }
            if write {
                source.ready(Direction::Write);
            }
        }
        *self.ready.borrow_mut() = ready;
        self.fire_timers(Instant::now());
        let yielders = std::mem::take(&mut *self.yielders.borrow_mut());
        yielders.into_iter().for_each(Waker::wake);
        Ok(())
    }

    fn fire_timers(&self, now: Instant) {
        loop {
            let due = {
                let mut timers = self.timers.borrow_mut();
                match timers.first_entry() {
                    Some(entry) if entry.key().0 <= now => Some(entry.remove()),
                    _ => None,
                }
            };
            match due {
                Some(waker) => waker.wake(),
                None => return,
            }
        }
    }

    fn timer_set(&self, deadline: Instant, id: Option<u64>, waker: &Waker) -> u64 {
        let mut timers = self.timers.borrow_mut();
        let id = id.unwrap_or_else(|| {
            let id = self.next_timer.get();
            self.next_timer.set(id + 1);
            id
        });
        match timers.get_mut(&(deadline, id)) {
            Some(stored) if stored.will_wake(waker) => {}
            Some(stored) => stored.clone_from(waker),
            None => {
                timers.insert((deadline, id), waker.clone());
            }
        }
        id
    }

    fn timer_cancel(&self, deadline: Instant, id: u64) {
        self.timers.borrow_mut().remove(&(deadline, id));
    }

    pub(crate) fn add_yielder(&self, waker: &Waker) {
        self.yielders.borrow_mut().push(waker.clone());
    }
}

impl Drop for Reactor {
    /// The core ended: the tasks still waiting on a socket hold that socket's source, and
    /// the source holds their wakers, a cycle that would keep both alive. Taking the
    /// wakers out lets those tasks be dropped (on this thread, see the scheduler).
    fn drop(&mut self) {
        let mut wakers = Vec::new();
        for source in self.sources.get_mut().entries.iter().flatten() {
            wakers.extend(source.reader.take());
            wakers.extend(source.writer.take());
        }
        drop(wakers);
    }
}

/// Wakes a parked core from any thread (helper threads, other cores).
pub(crate) struct WakeHandle {
    fd: OwnedFd,
}

impl WakeHandle {
    pub(crate) fn wake(&self) {
        // A full counter (never, at one write per park) or a closed core: nothing to do.
        let _ = rustix::io::write(&self.fd, &1u64.to_ne_bytes());
    }
}

/// A descriptor registered with the current core's reactor. Dropping it deregisters it
/// (then closes the descriptor with `T`).
pub(crate) struct Async<T: AsFd> {
    io: T,
    source: Rc<Source>,
}

impl<T: AsFd> Async<T> {
    /// Registers `io`, which must already be non-blocking. Panics outside the runtime.
    pub(crate) fn new(io: T) -> io::Result<Async<T>> {
        let source = crate::scheduler::with_reactor(|reactor| reactor.register(io.as_fd()))?;
        Ok(Async { io, source })
    }

    pub(crate) fn get_ref(&self) -> &T {
        &self.io
    }

    /// Ready when the direction may make progress; registers the task otherwise.
    pub(crate) fn poll_ready(&self, direction: Direction, cx: &mut Context<'_>) -> Poll<()> {
        if self.source.flag(direction).get() {
            return Poll::Ready(());
        }
        let slot = self.source.waiter(direction);
        match slot.take() {
            Some(waker) if waker.will_wake(cx.waker()) => slot.set(Some(waker)),
            _ => slot.set(Some(cx.waker().clone())),
        }
        Poll::Pending
    }

    /// Marks the direction as not ready: the next attempt waits for an event.
    pub(crate) fn clear(&self, direction: Direction) {
        self.source.flag(direction).set(false);
    }

    /// Runs `attempt` while the direction is ready, until it does not report
    /// `WouldBlock` (which clears the flag and waits).
    pub(crate) fn poll_io<R>(
        &self,
        direction: Direction,
        cx: &mut Context<'_>,
        mut attempt: impl FnMut(&T) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            if self.poll_ready(direction, cx).is_pending() {
                return Poll::Pending;
            }
            match attempt(&self.io) {
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => self.clear(direction),
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                result => return Poll::Ready(result),
            }
        }
    }

    /// Waits until the direction may make progress.
    pub(crate) async fn ready(&self, direction: Direction) {
        std::future::poll_fn(|cx| self.poll_ready(direction, cx)).await;
    }
}

impl<T: AsFd> Drop for Async<T> {
    fn drop(&mut self) {
        debug_assert_eq!(self.source.fd, self.io.as_fd().as_raw_fd());
        // Outside the runtime (the core already ended) there is nothing to deregister.
        let _ =
            crate::scheduler::try_with_reactor(|reactor| reactor.deregister(&self.source, self.io.as_fd()));
    }
}

/// What closing a stream answers after shutting down its write half: a peer that is
/// already gone is no error.
pub(crate) fn write_half_closed(shutdown: io::Result<()>) -> io::Result<()> {
    match shutdown {
        Err(error) if error.kind() != io::ErrorKind::NotConnected => Err(error),
        _ => Ok(()),
    }
}

/// A timer on the current core: ready once `deadline` has passed.
pub(crate) struct Timer {
    deadline: Instant,
    id: Option<u64>,
}

impl Timer {
    pub(crate) fn at(deadline: Instant) -> Timer {
        Timer { deadline, id: None }
    }

    pub(crate) fn poll_expired(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            self.cancel();
            return Poll::Ready(());
        }
        let id =
            crate::scheduler::with_reactor(|reactor| reactor.timer_set(self.deadline, self.id, cx.waker()));
        self.id = Some(id);
        Poll::Pending
    }

    fn cancel(&mut self) {
        if let Some(id) = self.id.take() {
            let deadline = self.deadline;
            let _ = crate::scheduler::try_with_reactor(|reactor| reactor.timer_cancel(deadline, id));
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.cancel();
    }
}

impl std::future::Future for Timer {
    type Output = ();
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.get_mut().poll_expired(cx)
    }
}
