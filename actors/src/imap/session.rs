//! One IMAP connection: reads bytes with the session's deadlines, feeds them to the
//! sans-IO [`Session`], does what its events ask (store reads on this core, account
//! actor calls, spool files, SASL steps), writes its output, and in IDLE waits for input
//! or a change to the selected mailbox.
//!
//! Invariants: the loop holds no read transaction across an `.await`; output is written
//! whenever the session's budget is reached (FETCH streams, a chunk at a time); a client
//! that goes away is an ordinary end of the connection (debug log), never an error.

use std::fs::File;
use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use moxide_protocols::imap::server::{
    AddedEvent, Answer, CatenateTarget, Event, RecentMode, ServerConfig, Session,
};
use moxide_runtime::Stream;
use moxide_runtime::net::TcpStream;
use moxide_storage::{AccountStore, MailboxId, Uid, View};

use super::ImapSettings;
use super::append::Appending;
use super::output::WRITE_TIMEOUT;
use crate::auth::Authenticator;
use crate::change::{Change, Notification, Subscription};
use crate::node::Node;

/// Read buffer of an idle connection: small, because tens of thousands of IMAP
/// connections sit in IDLE (STYLE.md's budget is 16 KiB per idle connection, everything
/// included). The reader keeps partial commands itself, so a small buffer only means
/// more reads, never a refused command.
const READ_BUFFER_BYTES_MIN: usize = 2 * 1024;

/// The buffer doubles while reads fill it (an APPEND upload, a pipelined burst), up to
/// this; it shrinks back once drained.
const READ_BUFFER_BYTES_MAX: usize = 64 * 1024;

/// The logged-in account.
pub(crate) struct Login {
    pub(crate) account: Arc<str>,
    pub(crate) store: Arc<AccountStore>,
}

/// The selected mailbox, as the storage side holds it.
pub(crate) struct SelectedMailbox {
    pub(crate) mailbox: MailboxId,
    pub(crate) subscription: Subscription,
    /// Pins expunged messages this session may still show, and holds its `\Recent`.
    pub(crate) view: View,
}

/// The socket side of a session.
pub(crate) struct Io {
    /// None only while a STARTTLS handshake holds it.
    pub(crate) stream: Option<Stream>,
    buffer: Vec<u8>,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

/// The storage and socket side of one connection.
pub(crate) struct Conn {
    pub(crate) io: Io,
    pub(crate) node: Node,
    pub(crate) settings: Rc<ImapSettings>,
    pub(crate) peer: SocketAddr,
    pub(crate) login: Option<Login>,
    pub(crate) selected: Option<SelectedMailbox>,
    /// AUTHENTICATE in progress.
    pub(crate) sasl: Option<Authenticator>,
    /// The account's changes while NOTIFY wants those of other mailboxes (RFC 5465).
    pub(crate) notify: Option<Subscription>,
    pub(crate) append: Appending,
    /// Message files the output may still name (the FETCH chunk's large files).
    pub(crate) files: Vec<(u64, Arc<File>)>,
    /// When the read under way in IDLE times out (monotonic ms): a change notification
    /// ends one wait, and the next wait keeps its deadline rather than starting anew.
    idle_deadline_ms: Option<u64>,
}

/// Serves one connection until LOGOUT, EOF, autologout or an IO error.
pub(crate) async fn run_session(
    node: Node,
    settings: Rc<ImapSettings>,
    protocol: Arc<ServerConfig>,
    stream: TcpStream,
    peer: SocketAddr,
) {
    tracing::debug!(%peer, "imap connection");
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let stream = match (&settings.tls, settings.implicit_tls) {
        (Some(acceptor), true) => match Box::pin(acceptor.accept(stream)).await {
            Ok(tls) => Stream::from(tls),
            Err(error) => {
                tracing::debug!(%peer, %error, "tls handshake failed");
                return;
            }
        },
        _ => Stream::from(stream),
    };
    let io = Io { stream: Some(stream), buffer: vec![0; READ_BUFFER_BYTES_MIN], start: 0, end: 0 };
    let mut conn = Conn {
        io,
        node,
        settings,
        peer,
        login: None,
        selected: None,
        sasl: None,
        notify: None,
        append: Appending::default(),
        files: Vec::new(),
        idle_deadline_ms: None,
    };
    let mechanisms = conn.mechanisms();
    let tls = conn.is_tls();
    let mut session = Session::new(protocol, tls, mechanisms);
    // Boxed, as the abandon below: an await's state is part of the session's future for
    // the connection's whole life, and these run once (docs/benchmarks-analysis.md, the
    // memory of an idle connection).
    let preauth = Box::pin(conn.preauth()).await;
    if let Some(login) = conn.login.as_ref().filter(|_| preauth) {
        session.hide_capabilities(&conn.node.directory().hidden_capabilities(&login.account));
    }
    session.start(preauth);
    if let Err(error) = Box::pin(conn.serve(&mut session)).await {
        tracing::debug!(%peer, %error, "imap connection ended by an IO error");
    }
    if conn.append.holds_files() {
        Box::pin(conn.append.abandon()).await;
    }
    if let Some(mut stream) = conn.io.stream.take() {
        let _ = stream.close().await;
    }
}

impl Io {
    /// Moves unread bytes to the front and sizes the buffer for the next read: doubled
    /// when the last read filled it, back to the minimum when it is empty. False when it
    /// is full at its maximum (nothing can be read).
    fn make_room(&mut self) -> bool {
        let filled = self.end == self.buffer.len();
        self.buffer.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        if self.end == 0 && self.buffer.len() > READ_BUFFER_BYTES_MIN {
            self.buffer = vec![0; READ_BUFFER_BYTES_MIN];
        } else if filled && self.buffer.len() < READ_BUFFER_BYTES_MAX {
            self.buffer.resize((self.buffer.len() * 2).min(READ_BUFFER_BYTES_MAX), 0);
        }
        self.end < self.buffer.len()
    }

    /// COMPRESS=DEFLATE (RFC 4978 §3) from the next byte on: what the reader holds after
    /// the command is compressed input, handed to the inflater.
    fn start_compression(&mut self) -> std::io::Result<()> {
        let stream =
            self.stream.take().ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotConnected))?;
        let compressed = stream.start_compression(&self.buffer[self.start..self.end]);
        self.start = self.end;
        match compressed {
            Ok(stream) => {
                self.stream = Some(stream);
                Ok(())
            }
            Err(stream) => {
                // The session refuses a second COMPRESS itself; this would be a bug.
                self.stream = Some(stream);
                Err(std::io::Error::other("compression is already on"))
            }
        }
    }

    pub(crate) fn stream(&mut self) -> std::io::Result<&mut Stream> {
        self.stream.as_mut().ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotConnected))
    }
}

pub(crate) fn now_ms() -> u64 {
    u64::try_from(crate::clock::now_unix_ms()).unwrap_or(0)
}

impl Conn {
    fn start_compression(&mut self, session: &mut Session) -> std::io::Result<()> {
        self.io.start_compression()?;
        tracing::debug!(peer = %self.peer, "imap compression on");
        session.compression_started();
        Ok(())
    }

    pub(crate) fn is_tls(&self) -> bool {
        self.io.stream.as_ref().is_some_and(Stream::is_tls)
    }

    async fn serve(&mut self, session: &mut Session) -> std::io::Result<()> {
        loop {
            self.absorb_changes(session);
            self.run_events(session).await?;
            self.write_out(session).await?;
            if session.wants_close() {
                return Ok(());
            }
            let input = &self.io.buffer[self.io.start..self.io.end];
            let used = session.handle_input(input, now_ms());
            count_completed(session);
            self.io.start += used;
            if used > 0 || session.has_work() {
                continue;
            }
            if !self.read_more(session).await? {
                return Ok(());
            }
        }
    }

    /// Does what the session asks until it waits for input.
    async fn run_events(&mut self, session: &mut Session) -> std::io::Result<()> {
        loop {
            self.follow_notify(session).await;
            let event = match session.poll_event() {
                None => return Ok(()),
                Some(Event::AppendData(bytes)) => {
                    self.append.write(bytes).await;
                    continue;
                }
                Some(event) => event.detach(),
            };
            if let Some(event) = event {
                Box::pin(self.handle(session, event)).await?;
                count_completed(session);
            }
            self.absorb_changes(session);
            if session.output_blocked() {
                self.write_out(session).await?;
            }
        }
    }

    async fn handle(&mut self, session: &mut Session, event: Event<'static>) -> std::io::Result<()> {
        let answer = match event {
            Event::StartTls => {
                // The OK goes out in plaintext before the handshake.
                self.write_out(session).await?;
                return self.starttls(session).await;
            }
            Event::Compress => {
                // The OK goes out uncompressed; everything after it is compressed.
                self.write_out(session).await?;
                return self.start_compression(session);
            }
            Event::Login { username, password } => self.login(&username, &password).await,
            Event::Authenticate { mechanism, initial } => self.authenticate(&mechanism, initial).await,
            Event::AuthResponse(response) => self.auth_response(&response).await,
            Event::AuthCancelled => {
                self.sasl = None;
                return Ok(());
            }
            Event::Deselected => {
                self.selected = None;
                return Ok(());
            }
            Event::AppendMessageEnd => {
                self.append.message_end().await;
                return Ok(());
            }
            Event::FetchChunk { plan, uids } => self.fetch_chunk(session, &plan, &uids).await?,
            Event::Search(program) => self.search(session, program).await?,
            Event::SearchMailbox { mailbox, program, view_given } => {
                self.search_mailbox(session, &mailbox, program, view_given).await?
            }
            Event::Sort { search, sort } => self.sort(session, search, sort).await?,
            Event::Thread { search, thread } => self.thread(session, search, thread).await?,
            Event::UrlFetch(url) => return self.urlfetch(session, &url).await,
            Event::Sync { .. } => {
                let answer = self.sync(&event).await;
                session.answer(answer);
                self.advance_view(session);
                return Ok(());
            }
            event => self.answer(event).await,
        };
        if !session.is_authenticated()
            && let Some(login) = &self.login
        {
            // The login's tagged OK lists capabilities: without those the account hides.
            session.hide_capabilities(&self.node.directory().hidden_capabilities(&login.account));
        }
        session.answer(answer);
        Ok(())
    }

    /// The answers that need no access to the session.
    async fn answer(&mut self, event: Event<'static>) -> Answer {
        match event {
            Event::Select { mailbox, recent, qresync, .. } => self.select(&mailbox, recent, qresync).await,
            Event::Create { mailbox, special_use } => self.create(mailbox, special_use.as_deref()).await,
            Event::Delete { mailbox } => self.delete(mailbox).await,
            Event::Rename { from, to } => self.rename(from, to).await,
            Event::Subscribe { mailbox, subscribed } => self.subscribe(mailbox, subscribed).await,
            Event::List { recent, status, deleted_bytes } => self.list(recent, status, deleted_bytes).await,
            Event::Status { mailbox, recent, deleted_bytes } => {
                self.status(&mailbox, recent, deleted_bytes).await
            }
            Event::FetchSeen(uids) => self.fetch_seen(uids).await,
            Event::ExpungedSince { since } => self.expunged_since(since).await,
            Event::ChangedSince { since, max } => self.changed_since(since, max),
            Event::Quota { mailbox } => self.quota(mailbox.as_deref()).await,
            Event::GetMetadata { mailboxes } => self.get_metadata(mailboxes).await,
            Event::SetMetadata { mailbox, entries } => self.set_metadata(mailbox, entries).await,
            Event::Store { uids, mode, flags, keywords, unchanged_since, report_unchanged } => {
                self.store(uids, mode, flags, keywords, unchanged_since, report_unchanged).await
            }
            Event::Copy { uids, mailbox, is_move } => self.copy(uids, &mailbox, is_move).await,
            Event::Expunge { within } => self.expunge(&within).await,
            Event::AppendMessage { mailbox, flags, keywords, date_ms, .. } => {
                self.append_message(&mailbox, flags, keywords, date_ms).await
            }
            Event::AppendEnd { store } => self.append_end(store).await,
            Event::UrlAuthKey { user, mailbox } => self.urlauth_key(&user, mailbox).await,
            Event::ResetUrlAuthKeys { mailbox } => self.reset_urlauth_keys(mailbox).await,
            Event::CatenateUrl { url, mailbox, uidvalidity, uid, section, partial, user, bytes_max } => {
                let target = CatenateTarget { mailbox, uidvalidity, uid, section, partial, user };
                self.catenate_url(&url, target, bytes_max).await
            }
            _ => Answer::Failed(moxide_protocols::imap::server::CommandError::Internal),
        }
    }

    /// The view's pin follows the modseq up to which the session reported expunges.
    fn advance_view(&self, session: &Session) {
        if let (Some(selected), Some(modseq)) = (&self.selected, session.view_modseq()) {
            selected.view.advance(moxide_storage::ModSeq(modseq));
        }
    }

    /// Takes queued change notifications; tells the session when one concerns its
    /// mailbox.
    fn absorb_changes(&mut self, session: &mut Session) {
        // NOTIFY's responses wait while a URLFETCH response is open (see
        // `Session::response_open`).
        while !session.response_open()
            && let Some(notification) = self.notify.as_ref().and_then(Subscription::try_next)
        {
            self.notify_changes(session, notification);
        }
        while let Some(notification) =
            self.selected.as_ref().and_then(|selected| selected.subscription.try_next())
        {
            self.selected_changed(session, &notification);
        }
    }

    /// Tells the session about a notification of the selected mailbox's subscription: a
    /// pure delivery is reported from the event when the session's view is current
    /// (`protocols/src/imap/server/added.rs`); anything else makes it read storage.
    fn selected_changed(&mut self, session: &mut Session, notification: &Notification) {
        let Some(selected) = &self.selected else { return };
        let mailbox = selected.mailbox;
        let (uids, modseq) = match what_changed(notification, mailbox) {
            Changed::Nothing => return,
            Changed::Other => return session.mailbox_changed(),
            Changed::Added { uids, modseq } => (uids, modseq),
        };
        let (Some(&first), Some(&last)) = (uids.first(), uids.last()) else { return };
        match session.messages_added(first, last, modseq) {
            AddedEvent::Known => {}
            AddedEvent::Sync => session.mailbox_changed(),
            AddedEvent::Apply(recent) => {
                let recent = match (recent, &self.login) {
                    (RecentMode::Claim, Some(login)) => claim_recent(&login.store, selected, Uid(last)),
                    _ => None,
                };
                session.apply_added(uids, modseq, recent);
                self.advance_view(session);
            }
        }
    }

    /// Writes out everything the session queued.
    pub(crate) async fn write_out(&mut self, session: &mut Session) -> std::io::Result<()> {
        let Conn { io, files, .. } = self;
        let stream = io.stream()?;
        super::output::write_all(stream, session, files).await?;
        stream.flush().await
    }

    /// Reads more input; false at end of stream or after a timeout (the session then
    /// said BYE).
    async fn read_more(&mut self, session: &mut Session) -> std::io::Result<bool> {
        if !self.io.make_room() {
            // The reader consumes over-long lines itself; a full buffer it does not touch
            // would be a bug: close rather than spin.
            tracing::error!(peer = %self.peer, "imap reader made no progress on a full buffer");
            return Ok(false);
        }
        let idling = session.is_idling();
        let now_ms = crate::clock::now_monotonic_ms();
        let deadline_ms = match self.idle_deadline_ms.take() {
            // NOTIFY's wake-ups between commands keep the autologout too.
            Some(deadline_ms)
                if idling || self.notify.is_some() || session.wants_updates_between_commands() =>
            {
                deadline_ms
            }
            _ => now_ms
                .saturating_add(u64::try_from(self.read_timeout(session).as_millis()).unwrap_or(u64::MAX)),
        };
        if deadline_ms <= now_ms {
            session.timed_out();
            self.write_out(session).await?;
            return Ok(false);
        }
        let between_commands = session.is_between_commands() && self.io.start == self.io.end;
        let between_updates = session.wants_updates_between_commands() && between_commands;
        let Conn { io, selected, notify, .. } = self;
        let stream =
            io.stream.as_mut().ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotConnected))?;
        if idling {
            // An IDLE session may wait for hours: under COMPRESS it keeps only the
            // inflate state meanwhile (write_out flushed everything before this read).
            stream.release_idle_state();
        }
        // Our own timer, not the socket's read timeout: that one is per pending read, and
        // this deadline must span several (IDLE's notifications, the shutdown). Dropping
        // a pending read loses no bytes: the runtime's streams read only when polled
        // ready.
        let read = async {
            let wait = Duration::from_millis(deadline_ms - now_ms);
            let timed_out = async {
                moxide_runtime::time::sleep(wait).await;
                Err(std::io::Error::from(std::io::ErrorKind::TimedOut))
            };
            Woken::Read(futures_lite::future::or(stream.read(&mut io.buffer[io.end..]), timed_out).await)
        };
        let changed_selected = async {
            match selected.as_ref().filter(|_| idling || between_updates) {
                // Changes to other mailboxes are dropped: IDLE reports the selected one.
                Some(selected) => loop {
                    let notification = selected.subscription.next().await;
                    if concerns(&notification, selected.mailbox) {
                        break Woken::Selected(notification);
                    }
                },
                None => std::future::pending().await,
            }
        };
        // NOTIFY (RFC 5465 §5): other mailboxes' changes go out between commands too.
        let changed_elsewhere = async {
            match notify.as_ref().filter(|_| idling || between_commands) {
                Some(notify) => Woken::Notify(notify.next().await),
                None => std::future::pending().await,
            }
        };
        let changed = futures_lite::future::or(changed_selected, changed_elsewhere);
        let waiting = async { Some(futures_lite::future::or(read, changed).await) };
        // The shutdown goes first: a client that keeps sending cannot outrun it.
        let Some(woken) = futures_lite::future::or(shutdown_due(between_commands), waiting).await else {
            session.shutdown();
            let _ = moxide_runtime::time::timeout(SHUTDOWN_WRITE_TIMEOUT, self.write_out(session)).await;
            return Ok(false);
        };
        match woken {
            Woken::Selected(notification) => {
                self.idle_deadline_ms = Some(deadline_ms);
                self.selected_changed(session, &notification);
                Ok(true)
            }
            Woken::Notify(notification) => {
                self.idle_deadline_ms = Some(deadline_ms);
                self.notify_changes(session, notification);
                Ok(true)
            }
            Woken::Read(Ok(0)) => Ok(false),
            Woken::Read(Ok(n)) => {
                self.io.end += n;
                Ok(true)
            }
            Woken::Read(Err(error)) if error.kind() == std::io::ErrorKind::TimedOut => {
                session.timed_out();
                self.write_out(session).await?;
                Ok(false)
            }
            Woken::Read(Err(error)) => Err(error),
        }
    }
}

/// What ended a wait for input.
enum Woken {
    /// The socket read (or timed out).
    Read(std::io::Result<usize>),
    /// NOTIFY's account-wide subscription had news.
    Notify(Notification),
    /// The selected mailbox's subscription had news about it.
    Selected(Notification),
}

impl Conn {
    /// How long to wait for input: the autologout once logged in; before, the login
    /// timeout, cut to the session's deadline for the command being read.
    fn read_timeout(&self, session: &Session) -> Duration {
        if session.is_authenticated() {
            return self.settings.autologout;
        }
        let idle = self.settings.login_timeout;
        match session.deadline_ms() {
            Some(deadline) => idle.min(Duration::from_millis(deadline.saturating_sub(now_ms()))),
            None => idle,
        }
    }
}

/// Counts the command that just ended, if one did, by name and result, and its latency
/// (at the session clock's millisecond resolution).
fn count_completed(session: &mut Session) {
    let Some(completed) = session.take_completed() else { return };
    let metrics = crate::metrics::metrics();
    let command = completed.command;
    metrics
        .imap_commands
        .get_or_create(&crate::metrics::CommandLabels { command, result: completed.outcome.label() })
        .inc();
    let elapsed_ms = now_ms().saturating_sub(completed.started_ms);
    #[allow(clippy::cast_precision_loss, reason = "milliseconds far below 2^52")]
    let seconds = elapsed_ms as f64 / 1000.0;
    metrics
        .imap_command_seconds
        .get_or_create(&crate::metrics::CommandNameLabels { command })
        .observe(seconds);
}

/// Whether a notification may concern `mailbox`.
fn concerns(notification: &Notification, mailbox: MailboxId) -> bool {
    match notification {
        Notification::Overflowed => true,
        Notification::Changes(batch) => batch.changes.iter().any(|change| change.mailbox() == Some(mailbox)),
    }
}

/// What a notification changed in one mailbox.
#[derive(Debug, PartialEq, Eq)]
enum Changed {
    /// Nothing.
    Nothing,
    /// Messages were added and nothing else changed: their UIDs (ascending) and the
    /// highest modseq among them.
    Added { uids: Vec<u32>, modseq: u64 },
    /// Something else, or the subscription overflowed: only storage can tell.
    Other,
}

fn what_changed(notification: &Notification, mailbox: MailboxId) -> Changed {
    let Notification::Changes(batch) = notification else { return Changed::Other };
    let mut uids = Vec::new();
    let mut highest = 0;
    for change in batch.changes.iter().filter(|change| change.mailbox() == Some(mailbox)) {
        match change {
            Change::Added { uid, modseq, .. } => {
                uids.push(uid.0);
                highest = highest.max(modseq.0);
            }
            _ => return Changed::Other,
        }
    }
    if uids.is_empty() {
        return Changed::Nothing;
    }
    uids.sort_unstable();
    uids.dedup();
    Changed::Added { uids, modseq: highest }
}

/// `\Recent` for new messages up to `last` (RFC 3501 §2.3.2), claimed as a sync would
/// claim it (`mailboxes.rs`).
fn claim_recent(store: &AccountStore, selected: &SelectedMailbox, last: Uid) -> Option<RangeInclusive<u32>> {
    let mailbox = selected.mailbox;
    selected
        .view
        .claim_recent(mailbox, last, || super::mailboxes::recent_mark_at_open(store, mailbox))
        .map(|(a, b)| a.0..=b.0)
}

// ----- graceful shutdown (issue 10) -----
//
// A session between commands (or in IDLE) ends with `* BYE` as soon as the core starts
// draining; one in the middle of a command finishes it and ends at its next read, or at
// the end of the grace at the latest (RFC 9051 §7.1.5: BYE when the server closes).

/// Completes (with `None`) when the shutdown ends this session: once draining if it is
/// `between_commands`, else once the grace is over. Raced against the session's reads.
async fn shutdown_due<T>(between_commands: bool) -> Option<T> {
    let shutdown = moxide_runtime::shutdown::notice();
    if between_commands {
        shutdown.draining().await;
    } else {
        shutdown.closing().await;
    }
    None
}

/// How long the `* BYE` of a shutdown may take to write.
const SHUTDOWN_WRITE_TIMEOUT: Duration = Duration::from_secs(2);
