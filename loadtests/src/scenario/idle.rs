//! The idle scenario: open `--connections` IMAP connections (from `--sources` round-robin
//! when given), each LOGIN, SELECT, IDLE (RFC 2177); measure the server's memory with all
//! of them idling; then deliver `--probes` messages over SMTP one after another and time,
//! on every connection, SMTP 250 → `* n EXISTS`.
//!
//! All connections live on one thread in an epoll loop ([`crate::poller`]); each is a
//! small state machine fed whole responses by the shared parser. Setup is throttled to
//! [`SETUP_IN_FLIGHT_MAX`] connections at a time so the server's listen queue never
//! overflows (a dropped SYN costs a 1 s retransmit and would show up as setup latency).
//!
//! A probe's arrival on a connection is counted whenever its EXISTS count grows (not by
//! absolute number), so an expunge elsewhere does not hide later arrivals. The probe SMTP
//! client runs on its own thread so the event loop keeps reading while it waits for 250;
//! an EXISTS that arrives before our client saw the 250 counts as 0 ms.
//!
//! Napkin math: 50k connections × ~1 KiB of client buffers = 50 MiB here; descriptors are
//! the usual limit, so the soft RLIMIT_NOFILE is raised to the hard one at start.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use socket2::{SockAddr, Socket};

use crate::cli::Settings;
use crate::imap::parse::{self, Condition, Response, Status, Untagged};
use crate::message::{self, Rng, RunId};
use crate::poller::{Event, Poller};
use crate::procstat::ServerWatch;
use crate::progress::{self, Progress};
use crate::report::{IdleDetails, Report};
use crate::smtp::{SendMode, SmtpConnection, dot_stuff};
use crate::stats::{Recorder, round3};

/// Connections in setup (connect to IDLE) at once.
pub(crate) const SETUP_IN_FLIGHT_MAX: usize = 256;

/// Descriptors kept free beyond the connections: stdio, epoll, the probe's SMTP socket,
/// `/proc` reads of the server watch.
pub(crate) const FD_RESERVE: u64 = 64;

/// Bytes read from one socket per readiness event (IMAP responses while idling are tiny).
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// Largest unparsed input a connection may hold; IDLE setup responses are a few hundred
/// bytes, so anything near this is a misbehaving server.
const INPUT_BYTES_MAX: usize = 1 << 20;

/// How long the event loop waits for readiness before looking at timers and the probe.
const WAIT_SLICE: Duration = Duration::from_millis(10);

/// How often connections in setup are checked for their timeout.
const TIMEOUT_SCAN_INTERVAL: Duration = Duration::from_millis(250);

/// Pause after setup before the idle memory is read, so the server finishes its
/// per-connection allocations (and frees its setup buffers).
const SETTLE: Duration = Duration::from_secs(1);

/// Size of probe messages.
const PROBE_BYTES: usize = 1024;

/// Tags of the setup commands.
const TAG_LOGIN: &str = "a";
const TAG_SELECT: &str = "b";
const TAG_IDLE: &str = "c";

/// What to run.
#[derive(Debug)]
pub(crate) struct IdlePlan {
    /// Probe deliveries.
    pub(crate) probes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Connecting,
    Greeting,
    Login,
    Select,
    IdleStart,
    Idling,
    Closed,
}

/// The setup commands, built once.
struct Commands {
    login: Vec<u8>,
    select: Vec<u8>,
    idle: Vec<u8>,
}

impl Commands {
    fn new(settings: &Settings) -> Commands {
        // Validation checked that these quote (cli::validate_common).
        let login = crate::imap::login_arguments(&settings.user, &settings.password).unwrap_or_default();
        let mailbox = crate::imap::quote(&settings.mailbox).unwrap_or_default();
        Commands {
            login: format!("{TAG_LOGIN} LOGIN {login}\r\n").into_bytes(),
            select: format!("{TAG_SELECT} SELECT {mailbox}\r\n").into_bytes(),
            idle: format!("{TAG_IDLE} IDLE\r\n").into_bytes(),
        }
    }
}

/// One IDLE connection.
struct Connection {
    socket: Option<Socket>,
    phase: Phase,
    input: Vec<u8>,
    output: Vec<u8>,
    /// Whether the poller watches for writability.
    watching_writes: bool,
    started: Instant,
    exists: u32,
    /// When each new message arrived while idling, in order.
    arrivals: Vec<Instant>,
    /// Whether it ever reached IDLE.
    idled: bool,
}

impl Connection {
    /// Applies one response; queues the next command. `Err` ends the connection.
    fn step(
        &mut self,
        response: Response,
        now: Instant,
        commands: &Commands,
        probes: usize,
    ) -> Result<(), String> {
        match response {
            Response::Untagged(Untagged::Exists(n)) => {
                if self.phase == Phase::Idling && n > self.exists {
                    let new = (n - self.exists) as usize;
                    let room = probes.saturating_sub(self.arrivals.len());
                    self.arrivals.extend(std::iter::repeat_n(now, new.min(room)));
                }
                self.exists = n;
            }
            Response::Untagged(Untagged::Expunge(_)) => self.exists = self.exists.saturating_sub(1),
            Response::Untagged(Untagged::State { condition: Condition::Bye, text, .. }) => {
                return Err(format!("server said BYE: {text}"));
            }
            Response::Untagged(Untagged::State { condition: Condition::Ok, .. })
                if self.phase == Phase::Greeting =>
            {
                self.output.extend_from_slice(&commands.login);
                self.phase = Phase::Login;
            }
            Response::Untagged(Untagged::State { condition: Condition::Preauth, .. })
                if self.phase == Phase::Greeting =>
            {
                self.output.extend_from_slice(&commands.select);
                self.phase = Phase::Select;
            }
            Response::Untagged(_) => {}
            Response::Tagged { tag, status, code, text } => {
                if status != Status::Ok {
                    let code = code.map_or_else(String::new, |code| format!("[{code}] "));
                    return Err(format!("{tag} in {:?} refused: {code}{text}", self.phase));
                }
                match (self.phase, tag.as_str()) {
                    (Phase::Login, TAG_LOGIN) => {
                        self.output.extend_from_slice(&commands.select);
                        self.phase = Phase::Select;
                    }
                    (Phase::Select, TAG_SELECT) => {
                        self.output.extend_from_slice(&commands.idle);
                        self.phase = Phase::IdleStart;
                    }
                    (phase, tag) => return Err(format!("unexpected completion {tag} in {phase:?}")),
                }
            }
            Response::Continuation(_) if self.phase == Phase::IdleStart => {
                self.phase = Phase::Idling;
                self.idled = true;
            }
            Response::Continuation(text) => {
                return Err(format!("unexpected continuation in {:?}: {text}", self.phase));
            }
        }
        Ok(())
    }

    /// Parses every complete response in `input`.
    fn consume(&mut self, now: Instant, commands: &Commands, probes: usize) -> Result<(), String> {
        let mut start = 0;
        while let Some(length) = parse::response_length(&self.input[start..]).map_err(|e| e.to_string())? {
            let response =
                parse::parse_response(&self.input[start..start + length]).map_err(|e| e.to_string())?;
            start += length;
            self.step(response, now, commands, probes)?;
        }
        self.input.drain(..start);
        if self.input.len() > INPUT_BYTES_MAX {
            return Err("server sent an over-long response".to_string());
        }
        if self.input.is_empty() {
            self.input.shrink_to(0);
        }
        Ok(())
    }
}

/// The event loop and all connections.
struct Driver<'a> {
    settings: &'a Settings,
    target: SocketAddr,
    poller: Poller,
    connections: Vec<Connection>,
    commands: Commands,
    recorder: Recorder,
    events: Vec<Event>,
    scratch: Vec<u8>,
    in_setup: usize,
    idling: usize,
    probes: usize,
    progress: &'a Progress,
}

impl<'a> Driver<'a> {
    fn new(
        settings: &'a Settings,
        poller: Poller,
        count: usize,
        recorder: Recorder,
        probes: u64,
        progress: &'a Progress,
    ) -> Driver<'a> {
        Driver {
            settings,
            target: settings.imap_target(),
            poller,
            connections: Vec::with_capacity(count),
            commands: Commands::new(settings),
            recorder,
            events: Vec::with_capacity(crate::poller::EVENTS_PER_WAIT_MAX),
            scratch: vec![0; READ_CHUNK_BYTES],
            in_setup: 0,
            idling: 0,
            probes: usize::try_from(probes).unwrap_or(usize::MAX),
            progress,
        }
    }

    /// Starts connection number `connections.len()`.
    fn open(&mut self) {
        let index = self.connections.len();
        let mut connection = Connection {
            socket: None,
            phase: Phase::Closed,
            input: Vec::new(),
            output: Vec::new(),
            watching_writes: true,
            started: Instant::now(),
            exists: 0,
            arrivals: Vec::new(),
            idled: false,
        };
        match self.start_connect(index) {
            Ok(socket) => {
                connection.socket = Some(socket);
                connection.phase = Phase::Connecting;
                self.in_setup += 1;
            }
            Err(error) => {
                self.recorder.error("idle_setup", format!("connect: {error}"));
                self.progress.error();
            }
        }
        self.connections.push(connection);
    }

    fn start_connect(&self, index: usize) -> io::Result<Socket> {
        let socket = crate::target::new_socket(self.target, self.settings.source(index))?;
        socket.set_nonblocking(true)?;
        match socket.connect(&SockAddr::from(self.target)) {
            Ok(()) => {}
            Err(error) if error.raw_os_error() == Some(rustix::io::Errno::INPROGRESS.raw_os_error()) => {}
            Err(error) => return Err(error),
        }
        self.poller.add(&socket, index as u64, true)?;
        Ok(socket)
    }

    /// Ends connection `index` with `reason` (recorded as an error).
    fn fail(&mut self, index: usize, reason: &str) {
        let connection = &mut self.connections[index];
        let kind = match connection.phase {
            Phase::Closed => return,
            Phase::Idling => {
                self.idling -= 1;
                "idle"
            }
            _ => {
                self.in_setup -= 1;
                "idle_setup"
            }
        };
        connection.phase = Phase::Closed;
        if let Some(socket) = connection.socket.take() {
            let _ = self.poller.delete(&socket);
        }
        connection.input = Vec::new();
        connection.output = Vec::new();
        self.recorder.error(kind, reason);
        self.progress.error();
    }

    /// Waits up to [`WAIT_SLICE`] and handles what became ready.
    fn turn(&mut self) {
        self.events.clear();
        if let Err(error) = self.poller.wait(&mut self.events, WAIT_SLICE) {
            self.recorder.error("epoll", error);
            std::thread::sleep(WAIT_SLICE);
            return;
        }
        let now = Instant::now();
        let events = std::mem::take(&mut self.events);
        for event in &events {
            self.handle(event, now);
        }
        self.events = events;
    }

    fn handle(&mut self, event: &Event, now: Instant) {
        let index = event.token as usize;
        let Some(connection) = self.connections.get_mut(index) else { return };
        if connection.phase == Phase::Connecting {
            if !(event.writable || event.failed) {
                return;
            }
            let socket_error = connection.socket.as_ref().map(Socket::take_error);
            match socket_error {
                Some(Ok(None)) => connection.phase = Phase::Greeting,
                Some(Ok(Some(error)) | Err(error)) => return self.fail(index, &format!("connect: {error}")),
                None => return,
            }
        }
        if (event.readable || event.failed)
            && let Err(reason) = self.read(index, now)
        {
            return self.fail(index, &reason);
        }
        if let Err(error) = self.flush(index) {
            self.fail(index, &format!("write: {error}"));
        }
    }

    /// Reads what is there and feeds it to the connection's state machine.
    fn read(&mut self, index: usize, now: Instant) -> Result<(), String> {
        let connection = &mut self.connections[index];
        let Some(socket) = connection.socket.as_ref() else { return Ok(()) };
        let was_idling = connection.phase == Phase::Idling;
        loop {
            match (&*socket).read(&mut self.scratch) {
                Ok(0) => return Err("connection closed by server".to_string()),
                Ok(n) => {
                    connection.input.extend_from_slice(&self.scratch[..n]);
                    if n < self.scratch.len() {
                        break;
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(format!("read: {error}")),
            }
        }
        connection.consume(now, &self.commands, self.probes)?;
        if !was_idling && connection.phase == Phase::Idling {
            let setup = now.saturating_duration_since(connection.started);
            self.in_setup -= 1;
            self.idling += 1;
            self.recorder.record("idle_setup", setup);
            self.progress.ok();
        }
        Ok(())
    }

    /// Writes queued output; watches for writability while some is left.
    fn flush(&mut self, index: usize) -> io::Result<()> {
        let connection = &mut self.connections[index];
        let Some(socket) = connection.socket.as_ref() else { return Ok(()) };
        while !connection.output.is_empty() {
            match (&*socket).write(&connection.output) {
                Ok(n) => {
                    connection.output.drain(..n);
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => break,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        let want_writes = !connection.output.is_empty() || connection.phase == Phase::Connecting;
        if want_writes != connection.watching_writes {
            self.poller.modify(socket, index as u64, want_writes)?;
            connection.watching_writes = want_writes;
        }
        if connection.output.is_empty() {
            connection.output.shrink_to(0);
        }
        Ok(())
    }

    /// Fails connections whose setup took longer than the I/O timeout.
    fn expire_setups(&mut self, now: Instant) {
        let timeout = self.settings.io_timeout;
        let expired: Vec<usize> = (0..self.connections.len())
            .filter(|&i| {
                let connection = &self.connections[i];
                !matches!(connection.phase, Phase::Idling | Phase::Closed)
                    && now.saturating_duration_since(connection.started) > timeout
            })
            .collect();
        for index in expired {
            let phase = self.connections[index].phase;
            self.fail(index, &format!("no progress within {timeout:?} in {phase:?}"));
        }
    }

    /// Opens `count` connections, at most [`SETUP_IN_FLIGHT_MAX`] in setup at once, until
    /// all are idling or failed, or `deadline`.
    fn set_up(&mut self, count: usize, deadline: Instant) {
        let mut last_scan = Instant::now();
        while (self.connections.len() < count || self.in_setup > 0) && Instant::now() < deadline {
            while self.in_setup < SETUP_IN_FLIGHT_MAX && self.connections.len() < count {
                self.open();
            }
            self.turn();
            if last_scan.elapsed() >= TIMEOUT_SCAN_INTERVAL {
                last_scan = Instant::now();
                self.expire_setups(last_scan);
            }
        }
        let unfinished: Vec<usize> = (0..self.connections.len())
            .filter(|&i| !matches!(self.connections[i].phase, Phase::Idling | Phase::Closed))
            .collect();
        for index in unfinished {
            self.fail(index, "--duration ended during setup");
        }
    }

    /// Services connections for `duration`.
    fn run_for(&mut self, duration: Duration) {
        let until = Instant::now() + duration;
        while Instant::now() < until {
            self.turn();
        }
    }

    /// Connections that have seen at least `count` arrivals, among those idling.
    fn all_idling_saw(&self, count: usize) -> bool {
        self.connections.iter().filter(|c| c.phase == Phase::Idling).all(|c| c.arrivals.len() >= count)
    }

    /// Ends IDLE and logs out on every connection, without waiting for answers.
    fn close_all(&mut self) {
        for connection in &mut self.connections {
            if let Some(socket) = connection.socket.take()
                && connection.phase == Phase::Idling
            {
                let _ = (&socket).write(b"DONE\r\nz LOGOUT\r\n");
            }
        }
    }
}

/// When the SMTP server acknowledged a probe and how long the transaction took, or why it
/// failed.
type ProbeResult = Result<(Instant, Duration), String>;

/// The probe sender: a thread with its own SMTP connection, told by number what to send,
/// answering with the moment it saw 250 and the transaction's duration.
struct Prober {
    requests: mpsc::Sender<u64>,
    results: mpsc::Receiver<(u64, ProbeResult)>,
}

impl Prober {
    fn spawn(settings: &Settings, run: &RunId) -> io::Result<Prober> {
        let (requests, request_rx) = mpsc::channel::<u64>();
        let (result_tx, results) = mpsc::channel();
        let (settings, run) = (settings.clone(), run.clone());
        std::thread::Builder::new().name("probe".into()).spawn(move || {
            let mut connection: Option<SmtpConnection> = None;
            let mut rng = Rng::new(settings.seed);
            let envelope = super::envelope(&settings);
            for n in request_rx {
                let message = message::generate(&run, n, PROBE_BYTES, &envelope, &mut rng);
                let mut stuffed = Vec::new();
                dot_stuff(&message, &mut stuffed);
                let result = send_probe(&settings, &mut connection, &message, &stuffed);
                if result_tx.send((n, result)).is_err() {
                    break;
                }
            }
            if let Some(connection) = connection {
                connection.quit();
            }
        })?;
        Ok(Prober { requests, results })
    }
}

fn send_probe(
    settings: &Settings,
    connection: &mut Option<SmtpConnection>,
    message: &[u8],
    stuffed: &[u8],
) -> Result<(Instant, Duration), String> {
    let started = Instant::now();
    let open = match connection {
        Some(open) => open,
        None => connection.insert(
            SmtpConnection::connect(settings.smtp_target(), None, settings.io_timeout, super::HELO_NAME)
                .map_err(|e| format!("connect: {e}"))?,
        ),
    };
    let sent = open.send_mail(&settings.from, &settings.rcpt, message, stuffed, SendMode::default());
    let accepted_at = Instant::now();
    if let Err(error) = sent {
        *connection = None;
        return Err(error.to_string());
    }
    Ok((accepted_at, accepted_at - started))
}

/// Runs the scenario.
pub(crate) fn run(settings: &Settings, plan: &IdlePlan) -> Report {
    let mut details = IdleDetails {
        connections_requested: u64::from(settings.connections),
        probes_requested: plan.probes,
        ..IdleDetails::default()
    };
    let mut recorder = Recorder::default();
    let count = match connections_that_fit(settings, &mut recorder, &mut details) {
        Ok(count) => count,
        Err(error) => return Report::fatal("idle", error),
    };
    let run_id = RunId::new();
    let prober = match (plan.probes > 0).then(|| Prober::spawn(settings, &run_id)).transpose() {
        Ok(prober) => prober,
        Err(error) => return Report::fatal("idle", format!("starting the probe thread: {error}")),
    };
    let watch = match super::watch_server(settings) {
        Ok(watch) => watch,
        Err(error) => return Report::fatal("idle", error),
    };
    let poller = match Poller::new() {
        Ok(poller) => poller,
        Err(error) => return Report::fatal("idle", format!("epoll: {error}")),
    };
    let progress = std::sync::Arc::new(Progress::default());
    progress.phase("connecting");
    let ticker = progress::start("idle", &progress);
    let mut driver = Driver::new(settings, poller, count, recorder, plan.probes, &progress);
    let started = Instant::now();
    let deadline = started + settings.duration;
    driver.set_up(count, deadline);
    let setup_seconds = started.elapsed().as_secs_f64();
    details.setup_seconds = round3(setup_seconds);
    details.connections_idle = driver.idling as u64;
    if let Some(watch) = &watch {
        measure_idle_memory(&mut driver, watch, deadline, &mut details);
    }
    progress.phase("probing");
    let accepted_at = match &prober {
        Some(prober) => probe(&mut driver, prober, plan.probes, deadline),
        None => Vec::new(),
    };
    drop(ticker);
    driver.close_all();
    let mut recorder = std::mem::take(&mut driver.recorder);
    tally_notifications(&driver.connections, &accepted_at, &mut recorder, &mut details);
    let mut report = Report::new("idle", &recorder, setup_seconds, u64::from(settings.connections));
    report.server = watch.map(|watch| watch.finish());
    report.idle = Some(details);
    report.finish(driver.connections.iter().filter(|c| c.idled).count() as u64, true)
}

/// Raises the descriptor limit and returns how many connections fit under it; a
/// shortfall against `--connections` is recorded as setup errors (the run fails).
fn connections_that_fit(
    settings: &Settings,
    recorder: &mut Recorder,
    details: &mut IdleDetails,
) -> Result<usize, String> {
    let fd_limit = crate::target::raise_fd_limit().map_err(|e| format!("raising RLIMIT_NOFILE: {e}"))?;
    details.fd_limit = fd_limit;
    let requested = u64::from(settings.connections);
    let room = fd_limit.saturating_sub(FD_RESERVE);
    if requested > room {
        let message =
            format!("descriptor limit {fd_limit} leaves room for {room} connections (raise ulimit -Hn)");
        recorder.error_n("idle_setup", requested - room, message);
    }
    Ok(usize::try_from(requested.min(room)).unwrap_or(usize::MAX))
}

/// Lets the server settle, then reads its memory with every connection idling.
fn measure_idle_memory(
    driver: &mut Driver<'_>,
    watch: &ServerWatch,
    deadline: Instant,
    details: &mut IdleDetails,
) {
    driver.run_for(SETTLE.min(deadline.saturating_duration_since(Instant::now())));
    let before = watch.start_snapshot().rss_kib;
    let idle = watch.now().rss_kib;
    details.rss_before_kib = Some(before);
    details.rss_idle_kib = Some(idle);
    details.memory_per_connection_bytes =
        (driver.idling > 0).then(|| idle.saturating_sub(before) * 1024 / driver.idling as u64);
}

/// Sends the probes one at a time; after each, waits until every idling connection saw
/// it (or the I/O timeout). Returns when each delivered probe was accepted.
fn probe(driver: &mut Driver<'_>, prober: &Prober, probes: u64, deadline: Instant) -> Vec<Instant> {
    let mut accepted_at = Vec::new();
    for n in 0..probes {
        if Instant::now() >= deadline || prober.requests.send(n).is_err() {
            break;
        }
        let wait_limit = Instant::now() + driver.settings.io_timeout * 2;
        let result = loop {
            driver.turn();
            match prober.results.try_recv() {
                Ok((_, result)) => break result,
                Err(mpsc::TryRecvError::Empty) if Instant::now() < wait_limit => {}
                Err(_) => break Err("no answer from the SMTP server in time".to_string()),
            }
        };
        match result {
            Ok((at, took)) => {
                driver.recorder.record("probe_smtp", took);
                accepted_at.push(at);
            }
            Err(error) => {
                driver.recorder.error("probe_smtp", error);
                continue;
            }
        }
        let notify_limit = Instant::now() + driver.settings.io_timeout;
        while !driver.all_idling_saw(accepted_at.len()) && Instant::now() < notify_limit {
            driver.turn();
        }
    }
    accepted_at
}

/// Records each connection's notification latencies, and a missing notification as an
/// error, for connections that reached IDLE.
fn tally_notifications(
    connections: &[Connection],
    accepted_at: &[Instant],
    recorder: &mut Recorder,
    details: &mut IdleDetails,
) {
    details.probes_delivered = accepted_at.len() as u64;
    for connection in connections.iter().filter(|c| c.idled) {
        details.notifications_expected += accepted_at.len() as u64;
        for (arrived, accepted) in connection.arrivals.iter().zip(accepted_at) {
            recorder.record("exists", arrived.saturating_duration_since(*accepted));
            details.notifications_received += 1;
            details.notifications_before_ack += u64::from(arrived < accepted);
        }
        let missing = accepted_at.len().saturating_sub(connection.arrivals.len()) as u64;
        if missing > 0 {
            recorder.error_n("exists", missing, "no EXISTS within the timeout");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn connection() -> Connection {
        Connection {
            socket: None,
            phase: Phase::Greeting,
            input: Vec::new(),
            output: Vec::new(),
            watching_writes: false,
            started: Instant::now(),
            exists: 0,
            arrivals: Vec::new(),
            idled: false,
        }
    }

    fn commands() -> Commands {
        Commands {
            login: b"a LOGIN \"u\" \"p\"\r\n".to_vec(),
            select: b"b SELECT \"INBOX\"\r\n".to_vec(),
            idle: b"c IDLE\r\n".to_vec(),
        }
    }

    /// Feeds `input` and returns what the connection wants to send.
    fn feed(connection: &mut Connection, input: &[u8]) -> Result<String, String> {
        connection.input.extend_from_slice(input);
        connection.consume(Instant::now(), &commands(), 3)?;
        Ok(String::from_utf8(std::mem::take(&mut connection.output)).unwrap())
    }

    #[test]
    fn setup_transcript_reaches_idle_and_counts_arrivals() {
        let mut c = connection();
        assert_eq!(
            feed(&mut c, b"* OK [CAPABILITY IMAP4rev1 IDLE] hi\r\n").unwrap(),
            "a LOGIN \"u\" \"p\"\r\n"
        );
        assert_eq!(
            feed(&mut c, b"* CAPABILITY IMAP4rev1 IDLE\r\na OK logged in\r\n").unwrap(),
            "b SELECT \"INBOX\"\r\n"
        );
        assert_eq!(
            feed(
                &mut c,
                b"* 5 EXISTS\r\n* OK [UIDNEXT 6] x\r\n* FLAGS (\\Seen)\r\nb OK [READ-WRITE] done\r\n"
            )
            .unwrap(),
            "c IDLE\r\n"
        );
        assert_eq!(c.phase, Phase::IdleStart);
        // A response split across reads waits for its end.
        assert_eq!(feed(&mut c, b"+ idl").unwrap(), "");
        assert_eq!(feed(&mut c, b"ing\r\n").unwrap(), "");
        assert_eq!(c.phase, Phase::Idling);
        assert!(c.idled && c.arrivals.is_empty());
        feed(&mut c, b"* 6 EXISTS\r\n* 1 RECENT\r\n").unwrap();
        assert_eq!(c.arrivals.len(), 1);
        // An expunge elsewhere, then the next probe: still one more arrival.
        feed(&mut c, b"* 2 EXPUNGE\r\n* 6 EXISTS\r\n").unwrap();
        assert_eq!(c.arrivals.len(), 2);
        // Never more arrivals than probes.
        feed(&mut c, b"* 16 EXISTS\r\n").unwrap();
        assert_eq!(c.arrivals.len(), 3);
    }

    #[test]
    fn preauth_skips_login() {
        let mut c = connection();
        assert_eq!(feed(&mut c, b"* PREAUTH welcome\r\n").unwrap(), "b SELECT \"INBOX\"\r\n");
    }

    #[test]
    fn refusals_and_surprises_end_the_connection() {
        let mut c = connection();
        feed(&mut c, b"* OK hi\r\n").unwrap();
        let error = feed(&mut c, b"a NO [AUTHENTICATIONFAILED] bad password\r\n").unwrap_err();
        assert!(error.contains("AUTHENTICATIONFAILED"), "{error}");
        let mut c = connection();
        assert!(feed(&mut c, b"* BYE too many\r\n").unwrap_err().contains("BYE"));
        let mut c = connection();
        assert!(feed(&mut c, b"+ what\r\n").is_err());
        let mut c = connection();
        assert!(feed(&mut c, b"* 1 EXISTS\n").is_err());
    }

    #[test]
    fn notifications_tally() {
        let now = Instant::now();
        let mut a = connection();
        a.idled = true;
        a.arrivals = vec![now + Duration::from_millis(5), now + Duration::from_millis(30)];
        let mut b = connection();
        b.idled = true;
        b.arrivals = vec![now];
        let never = connection();
        let accepted = [now, now + Duration::from_millis(10)];
        let mut recorder = Recorder::default();
        let mut details = IdleDetails::default();
        tally_notifications(&[a, b, never], &accepted, &mut recorder, &mut details);
        assert_eq!((details.notifications_expected, details.notifications_received), (4, 3));
        assert_eq!(details.notifications_before_ack, 0);
        assert_eq!(recorder.count("exists"), 3);
        assert_eq!(recorder.total_errors(), 1);
        let max = recorder.summaries(1.0)["exists"].max;
        assert!((max - 20.0).abs() < 0.1, "{max}");
    }
}
