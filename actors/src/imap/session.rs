//! One IMAP connection: the read loop, the session states (RFC 9051 §3), authentication,
//! and the commands that fit in a few lines. Commands by area live in sibling modules.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use moxide_protocols::imap::{
    Command, CommandBody, CommandReader, ReadErrorKind, ReadEvent, ReadMode, ResponseCode, Status, Tag,
    write_capability, write_continuation, write_tagged, write_untagged_status,
};
use moxide_runtime::Stream;
use moxide_runtime::net::TcpStream;
use moxide_storage::{AccountStore, StorageError};

use super::ImapSettings;
use super::append::Append;
use super::output::Output;
use super::selected::{Selected, Updates};
use crate::account::AccountError;
use crate::node::Node;

/// Bytes read from the socket at a time.
/// Read buffer of an idle connection: small, because tens of thousands of IMAP
/// connections sit in IDLE (STYLE.md's budget is 16 KiB per idle connection, everything
/// included). The reader keeps partial commands itself, so a small buffer only means
/// more reads, never a refused command.
const READ_BUFFER_BYTES_MIN: usize = 2 * 1024;

/// The buffer doubles while reads fill it (an APPEND upload, a pipelined burst), up to
/// this; it shrinks back once drained.
const READ_BUFFER_BYTES_MAX: usize = 64 * 1024;

/// A write making no progress for this long ends the connection.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(300);

/// How a command ended, when it did not fail.
pub(crate) struct Done {
    pub(crate) code: Option<ResponseCode>,
    pub(crate) text: String,
}

impl Done {
    pub(crate) fn ok(text: &str) -> Done {
        Done { code: None, text: text.to_string() }
    }

    pub(crate) fn with(code: ResponseCode, text: &str) -> Done {
        Done { code: Some(code), text: text.to_string() }
    }
}

/// How a command failed: the error class decides the status (STYLE.md rule 6).
#[derive(Debug)]
pub(crate) enum CommandError {
    /// The client's mistake in syntax or state: BAD.
    Bad(String),
    /// A refusal: NO with an optional response code.
    No(Option<ResponseCode>, String),
    /// Our failure: NO [SERVERBUG]; the cause goes to the log only.
    Internal(String),
}

pub(crate) type CommandResult = Result<Done, CommandError>;

impl From<StorageError> for CommandError {
    fn from(error: StorageError) -> Self {
        match error {
            StorageError::NoSuchMailbox => {
                CommandError::No(Some(ResponseCode::NonExistent), "no such mailbox".into())
            }
            StorageError::MailboxExists => {
                CommandError::No(Some(ResponseCode::AlreadyExists), "mailbox already exists".into())
            }
            StorageError::HasChildren => CommandError::No(
                Some(ResponseCode::HasChildren),
                "mailbox has children; delete them first".into(),
            ),
            StorageError::CannotDeleteInbox => {
                CommandError::No(Some(ResponseCode::Cannot), "INBOX cannot be deleted".into())
            }
            StorageError::InvalidMailboxName { name } => {
                CommandError::No(Some(ResponseCode::Cannot), format!("invalid mailbox name {name:?}"))
            }
            StorageError::InvalidKeyword { keyword } => {
                CommandError::Bad(format!("invalid keyword {keyword:?}"))
            }
            StorageError::MailboxLimit { .. } => {
                CommandError::No(Some(ResponseCode::Limit), error.to_string())
            }
            StorageError::TooManyKeywords { max, .. } => {
                CommandError::No(Some(ResponseCode::Limit), format!("at most {max} keywords per message"))
            }
            // RFC 5530 §3 OVERQUOTA: a full disk is reported as a quota (as Dovecot does);
            // the client may retry once space is freed.
            other if other.is_no_space() => {
                CommandError::No(Some(ResponseCode::OverQuota), "not enough disk space".into())
            }
            other => CommandError::Internal(other.to_string()),
        }
    }
}

/// A failed file operation of a command: `NO [OVERQUOTA]` for a full disk (RFC 5530 §3),
/// otherwise our failure.
pub(crate) fn io_failure(what: &str, error: &std::io::Error) -> CommandError {
    match error.kind() {
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
            CommandError::No(Some(ResponseCode::OverQuota), "not enough disk space".into())
        }
        _ => CommandError::Internal(format!("{what}: {error}")),
    }
}

impl From<AccountError> for CommandError {
    fn from(error: AccountError) -> Self {
        match error {
            error if error.is_no_space() => {
                CommandError::No(Some(ResponseCode::OverQuota), "not enough disk space".into())
            }
            AccountError::Storage(storage) => match Arc::try_unwrap(storage) {
                Ok(storage) => storage.into(),
                Err(shared) => CommandError::Internal(shared.to_string()),
            },
            other => CommandError::Internal(other.to_string()),
        }
    }
}

/// Extensions the client enabled (RFC 5161) or that were turned on by use.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Enabled {
    pub(crate) utf8: bool,
    pub(crate) condstore: bool,
    pub(crate) qresync: bool,
    pub(crate) rev2: bool,
}

/// The logged-in account.
pub(crate) struct Login {
    pub(crate) account: Arc<str>,
    pub(crate) store: Arc<AccountStore>,
}

/// The socket side of a session.
pub(crate) struct Io {
    /// None only while a STARTTLS handshake holds it.
    pub(crate) stream: Option<Stream>,
    buffer: Vec<u8>,
    pub(crate) start: usize,
    pub(crate) end: usize,
}

pub(crate) struct Session {
    pub(crate) io: Io,
    pub(crate) node: Node,
    pub(crate) settings: Rc<ImapSettings>,
    pub(crate) peer: SocketAddr,
    pub(crate) out: Output,
    pub(crate) login: Option<Login>,
    pub(crate) selected: Option<Selected>,
    pub(crate) enabled: Enabled,
    pub(crate) errors: u32,
    pub(crate) append: Option<Append>,
    /// AUTHENTICATE waiting for the client's response line.
    pub(crate) sasl: Option<super::login::SaslState>,
    pub(crate) closing: bool,
}

/// Serves one connection until LOGOUT, EOF, autologout or an IO error.
pub(crate) async fn run_session(node: Node, settings: Rc<ImapSettings>, stream: TcpStream, peer: SocketAddr) {
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
    let mut session = Session {
        io,
        node,
        settings,
        peer,
        out: Output::default(),
        login: None,
        selected: None,
        enabled: Enabled::default(),
        errors: 0,
        append: None,
        sasl: None,
        closing: false,
    };
    if let Err(error) = session.serve().await {
        tracing::debug!(%peer, %error, "imap connection ended with an error");
    }
    session.abandon_append().await;
    if let Some(mut stream) = session.io.stream.take() {
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
}

impl Session {
    /// Writes out everything queued.
    pub(crate) async fn flush(&mut self) -> std::io::Result<()> {
        let stream =
            self.io.stream.as_mut().ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotConnected))?;
        self.out.flush(stream, WRITE_TIMEOUT).await
    }

    async fn serve(&mut self) -> std::io::Result<()> {
        let mut reader = CommandReader::new(self.settings.reader.clone());
        self.greet().await;
        loop {
            let progressed = self.step(&mut reader).await?;
            if self.closing {
                return self.flush().await;
            }
            if progressed {
                if self.out.wants_flush() {
                    self.flush().await?;
                }
                continue;
            }
            self.flush().await?;
            let idle = between_commands(self, &reader);
            if !self.read_more(idle).await? {
                return Ok(());
            }
        }
    }

    /// Feeds buffered input to the reader and handles at most one event. Returns whether
    /// anything happened (false: more input is needed).
    async fn step(&mut self, reader: &mut CommandReader) -> std::io::Result<bool> {
        let (used, event) = reader.feed(&self.io.buffer[self.io.start..self.io.end]);
        let event = match event {
            None => {
                self.io.start += used;
                return Ok(used > 0);
            }
            Some(ReadEvent::AppendData(bytes)) => {
                // Field-level borrows: `bytes` may point into io.buffer.
                Box::pin(super::append::write_data(&mut self.append, bytes)).await;
                self.io.start += used;
                return Ok(true);
            }
            Some(ReadEvent::Command(command)) => Event::Command(command),
            Some(ReadEvent::Continue) => Event::Continue,
            Some(ReadEvent::AppendMessage { tag, mailbox, flags, date, size, binary, index }) => {
                Event::AppendMessage(tag, mailbox, flags, date, size, binary, index)
            }
            Some(ReadEvent::AppendMessageEnd) => Event::AppendMessageEnd,
            Some(ReadEvent::AppendEnd { tag, rejected }) => Event::AppendEnd(tag, rejected),
            Some(ReadEvent::IdleDone) => Event::Unexpected,
            Some(ReadEvent::SaslResponse(response)) => Event::Sasl(Some(response)),
            Some(ReadEvent::SaslCancel) => Event::Sasl(None),
            Some(ReadEvent::Error(error)) => Event::Error(error.tag, error.kind, error.detail),
        };
        self.io.start += used;
        match event {
            Event::Command(command) => self.command(command, reader).await?,
            Event::Continue => write_continuation(self.out.buf(), "go ahead"),
            Event::AppendMessage(tag, mailbox, flags, date, size, binary, index) => {
                let accepted =
                    Box::pin(self.append_begin(tag, mailbox, flags, date, size, binary, index)).await;
                if accepted {
                    reader.append_accept();
                } else {
                    reader.append_reject();
                }
            }
            Event::AppendMessageEnd => Box::pin(self.append_message_end()).await,
            Event::AppendEnd(tag, rejected) => Box::pin(self.append_end(tag, rejected)).await,
            Event::Sasl(response) => Box::pin(self.sasl_response(response, reader)).await,
            Event::Error(tag, kind, detail) => {
                // An error in the middle of an APPEND ends it: its spooled messages go.
                Box::pin(self.abandon_append()).await;
                self.read_error(tag, kind, &detail);
            }
            Event::Unexpected => {}
        }
        Ok(true)
    }

    /// Reads more input; false at end of stream, after an autologout, or when the
    /// shutdown ends the session (`idle`: it is between commands).
    async fn read_more(&mut self, idle: bool) -> std::io::Result<bool> {
        let io = &mut self.io;
        if !io.make_room() {
            // The reader consumes over-long lines itself; a full buffer it does not touch
            // would be a bug: close rather than spin.
            tracing::error!(peer = %self.peer, "imap reader made no progress on a full buffer");
            return Ok(false);
        }
        let timeout =
            if self.login.is_some() { self.settings.autologout } else { self.settings.login_timeout };
        let stream =
            io.stream.as_mut().ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotConnected))?;
        stream.set_read_timeout(Some(timeout))?;
        let read = async { Some(stream.read(&mut io.buffer[io.end..]).await) };
        // The shutdown goes first: a client that keeps sending cannot outrun it.
        let Some(read) = futures_lite::future::or(shutdown_due(idle), read).await else {
            return self.shutdown_bye().await;
        };
        match read {
            Ok(0) => Ok(false),
            Ok(n) => {
                io.end += n;
                Ok(true)
            }
            Err(error) if error.kind() == std::io::ErrorKind::TimedOut => {
                write_untagged_status(self.out.buf(), Status::Bye, None, "autologout: idle for too long");
                self.flush().await?;
                Ok(false)
            }
            Err(error) => Err(error),
        }
    }

    fn read_error(&mut self, tag: Option<Tag>, kind: ReadErrorKind, detail: &str) {
        let (status, code) = match kind {
            ReadErrorKind::LiteralTooBig | ReadErrorKind::AppendTooBig => {
                (Status::No, Some(ResponseCode::TooBig))
            }
            _ => (Status::Bad, None),
        };
        match &tag {
            Some(tag) => write_tagged(self.out.buf(), tag, status, code.as_ref(), detail),
            None => write_untagged_status(self.out.buf(), status, code.as_ref(), detail),
        }
        if status == Status::Bad {
            self.count_error();
        }
    }

    fn count_error(&mut self) {
        self.errors += 1;
        if self.errors > self.settings.errors_max {
            write_untagged_status(self.out.buf(), Status::Bye, None, "too many protocol errors");
            self.closing = true;
        }
    }

    async fn command(&mut self, command: Command, reader: &mut CommandReader) -> std::io::Result<()> {
        let Command { tag, body } = command;
        if let CommandBody::Idle = body {
            return self.idle(tag, reader).await;
        }
        if let CommandBody::Authenticate { mechanism, initial_response } = body {
            Box::pin(self.authenticate(tag, &mechanism, initial_response, reader)).await;
            return Ok(());
        }
        if let CommandBody::StartTls = body {
            return Box::pin(self.starttls(tag, reader)).await;
        }
        let allow_expunge = !matches!(
            body,
            CommandBody::Fetch { uid: false, .. }
                | CommandBody::Store { uid: false, .. }
                | CommandBody::Search { uid: false, .. }
        );
        // Boxed, as every command but IDLE: a session's task is as large as its largest
        // state, and a session spends its life idle; the box lives only while a command runs.
        let result = Box::pin(self.execute(&tag, body)).await;
        if let Err(error) = self.sync_selected(allow_expunge) {
            tracing::error!(peer = %self.peer, %error, "reading mailbox changes failed");
        }
        self.finish(&tag, result);
        Ok(())
    }

    /// Writes the tagged response of a command.
    pub(crate) fn finish(&mut self, tag: &Tag, result: CommandResult) {
        match result {
            Ok(done) => {
                self.errors = 0;
                write_tagged(self.out.buf(), tag, Status::Ok, done.code.as_ref(), &done.text);
            }
            Err(CommandError::Bad(text)) => {
                write_tagged(self.out.buf(), tag, Status::Bad, None, &text);
                self.count_error();
            }
            Err(CommandError::No(code, text)) => {
                write_tagged(self.out.buf(), tag, Status::No, code.as_ref(), &text)
            }
            Err(CommandError::Internal(cause)) => {
                tracing::error!(peer = %self.peer, %cause, "imap command failed");
                write_tagged(
                    self.out.buf(),
                    tag,
                    Status::No,
                    Some(&ResponseCode::ServerBug),
                    "internal error",
                );
            }
        }
    }

    /// Tells the client about changes to the selected mailbox, as far as allowed now.
    pub(crate) fn sync_selected(&mut self, allow_expunge: bool) -> Result<(), StorageError> {
        let Session { selected, login, out, enabled, .. } = self;
        let (Some(selected), Some(login)) = (selected.as_mut(), login.as_ref()) else { return Ok(()) };
        let updates = Updates { allow_expunge, qresync: enabled.qresync, condstore: enabled.condstore };
        selected.sync(&login.store, out.buf(), updates)
    }

    async fn execute(&mut self, tag: &Tag, body: CommandBody) -> CommandResult {
        use CommandBody as C;
        match body {
            C::Capability => {
                let caps = self.capabilities();
                let caps: Vec<&str> = caps.iter().map(String::as_str).collect();
                write_capability(self.out.buf(), &caps);
                Ok(Done::ok("capabilities listed"))
            }
            C::Noop | C::Check => {
                // RFC 9051 §6.1.2: clients poll with NOOP, so it must show every change
                // committed before it, even one whose event is still on its way here.
                if let (Some(selected), Some(login)) = (self.selected.as_mut(), self.login.as_ref()) {
                    selected.poll(&login.store)?;
                }
                Ok(Done::ok("done"))
            }
            C::Logout => {
                write_untagged_status(self.out.buf(), Status::Bye, None, "logging out");
                self.closing = true;
                Ok(Done::ok("logged out"))
            }
            C::Id(_) => {
                let line =
                    format!("* ID (\"name\" \"moxide\" \"version\" \"{}\")\r\n", env!("CARGO_PKG_VERSION"));
                self.out.buf().extend_from_slice(line.as_bytes());
                Ok(Done::ok("ID completed"))
            }
            C::StartTls => unreachable!("handled before execute"),
            C::Login { username, password } => self.login(&username, &password).await,
            C::Authenticate { .. } | C::Idle => unreachable!("handled before execute"),
            body => {
                let Some(_) = self.login else {
                    return Err(CommandError::Bad("log in first".into()));
                };
                self.execute_authenticated(tag, body).await
            }
        }
    }

    async fn execute_authenticated(&mut self, tag: &Tag, body: CommandBody) -> CommandResult {
        use CommandBody as C;
        match body {
            C::Enable(names) => Ok(self.enable(&names)),
            C::Namespace => {
                self.out.buf().extend_from_slice(b"* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n");
                Ok(Done::ok("NAMESPACE completed"))
            }
            C::Select { mailbox, params } => self.select(&mailbox, params, false).await,
            C::Examine { mailbox, params } => self.select(&mailbox, params, true).await,
            C::Create { mailbox, special_use } => self.create(&mailbox, &special_use).await,
            C::Delete { mailbox } => self.delete(&mailbox).await,
            C::Rename { from, to } => self.rename(&from, &to).await,
            C::Subscribe { mailbox } => self.subscribe(&mailbox, true).await,
            C::Unsubscribe { mailbox } => self.subscribe(&mailbox, false).await,
            C::List(list) => self.list(&list),
            C::Lsub { reference, pattern } => self.lsub(&reference, &pattern),
            C::Status { mailbox, attrs } => self.status(&mailbox, &attrs),
            body => {
                if self.selected.is_none() {
                    return Err(CommandError::Bad("select a mailbox first".into()));
                }
                self.execute_selected(tag, body).await
            }
        }
    }

    async fn execute_selected(&mut self, tag: &Tag, body: CommandBody) -> CommandResult {
        use CommandBody as C;
        match body {
            C::Close => self.close(true).await,
            C::Unselect => self.close(false).await,
            C::Expunge => self.expunge(None).await,
            C::UidExpunge(set) => self.expunge(Some(set)).await,
            C::Search { uid, search } => self.search(uid, tag, search).await,
            C::Fetch { uid, set, attrs, modifiers } => self.fetch(uid, &set, attrs, &modifiers).await,
            C::Store { uid, set, mode, silent, flags, unchanged_since } => {
                self.store(uid, &set, mode, silent, &flags, unchanged_since).await
            }
            C::Copy { uid, set, mailbox } => self.copy_or_move(uid, &set, &mailbox, false).await,
            C::Move { uid, set, mailbox } => self.copy_or_move(uid, &set, &mailbox, true).await,
            _ => Err(CommandError::Bad("command not valid in this state".into())),
        }
    }

    fn enable(&mut self, names: &[String]) -> Done {
        let mut enabled = Vec::new();
        for name in names {
            let upper = name.to_ascii_uppercase();
            let newly = match upper.as_str() {
                "CONDSTORE" => !std::mem::replace(&mut self.enabled.condstore, true),
                "QRESYNC" => {
                    // RFC 7162 §3.2.3: QRESYNC implies CONDSTORE.
                    self.enabled.condstore = true;
                    !std::mem::replace(&mut self.enabled.qresync, true)
                }
                "UTF8=ACCEPT" => !std::mem::replace(&mut self.enabled.utf8, true),
                "IMAP4REV2" => !std::mem::replace(&mut self.enabled.rev2, true),
                _ => false,
            };
            if newly {
                enabled.push(upper);
            }
        }
        let mut line = b"* ENABLED".to_vec();
        for name in &enabled {
            line.push(b' ');
            line.extend_from_slice(name.as_bytes());
        }
        line.extend_from_slice(b"\r\n");
        self.out.buf().extend_from_slice(&line);
        Done::ok("ENABLE completed")
    }

    async fn idle(&mut self, tag: Tag, reader: &mut CommandReader) -> std::io::Result<()> {
        if self.login.is_none() {
            self.finish(&tag, Err(CommandError::Bad("log in first".into())));
            return Ok(());
        }
        write_continuation(self.out.buf(), "idling");
        reader.set_mode(ReadMode::IdleDone);
        loop {
            let (used, event) = reader.feed(&self.io.buffer[self.io.start..self.io.end]);
            let event = match event {
                Some(ReadEvent::IdleDone) => Some(Ok(())),
                Some(ReadEvent::Error(error)) => Some(Err(error.detail)),
                Some(_) | None => None,
            };
            self.io.start += used;
            match event {
                Some(Ok(())) => break,
                Some(Err(detail)) => {
                    reader.set_mode(ReadMode::Command);
                    self.finish(&tag, Err(CommandError::Bad(detail)));
                    return Ok(());
                }
                None if used > 0 => continue,
                None => {}
            }
            if let Err(error) = self.sync_selected(true) {
                tracing::error!(peer = %self.peer, %error, "reading mailbox changes failed");
            }
            self.flush().await?;
            if !self.idle_wait().await? {
                self.closing = true;
                return Ok(());
            }
        }
        reader.set_mode(ReadMode::Command);
        self.finish(&tag, Ok(Done::ok("IDLE terminated")));
        Ok(())
    }

    /// Waits for input or a change to the selected mailbox. False at end of stream.
    async fn idle_wait(&mut self) -> std::io::Result<bool> {
        let Session { io, selected, .. } = self;
        if !io.make_room() {
            return Ok(false);
        }
        let stream =
            io.stream.as_mut().ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotConnected))?;
        stream.set_read_timeout(Some(self.settings.autologout))?;
        let read = async { Some(stream.read(&mut io.buffer[io.end..]).await) };
        let changed = async {
            match selected {
                Some(selected) => selected.changed().await,
                None => std::future::pending::<()>().await,
            }
            None
        };
        let waiting = async { Some(futures_lite::future::or(read, changed).await) };
        let Some(woken) = futures_lite::future::or(shutdown_due(true), waiting).await else {
            return self.shutdown_bye().await;
        };
        match woken {
            None => Ok(true),
            Some(Ok(0)) => Ok(false),
            Some(Ok(n)) => {
                io.end += n;
                Ok(true)
            }
            Some(Err(error)) if error.kind() == std::io::ErrorKind::TimedOut => {
                write_untagged_status(self.out.buf(), Status::Bye, None, "autologout: idle for too long");
                let _ = self.flush().await;
                Ok(false)
            }
            Some(Err(error)) => Err(error),
        }
    }

    /// The mailbox name a client sent, in our UTF-8 form (RFC 9051 §5.1: modified UTF-7
    /// unless UTF8=ACCEPT/IMAP4rev2 is enabled; INBOX in any case is INBOX).
    pub(crate) fn mailbox_name(&self, sent: &str) -> Result<String, CommandError> {
        let name = if self.enabled.utf8 || self.enabled.rev2 || !sent.contains('&') {
            sent.to_string()
        } else {
            moxide_protocols::imap::utf7::decode(sent).map_err(|_| {
                CommandError::Bad(format!("mailbox name {sent:?} is not valid modified UTF-7"))
            })?
        };
        if name.eq_ignore_ascii_case("INBOX") {
            return Ok("INBOX".to_string());
        }
        if name.get(..6).is_some_and(|prefix| prefix.eq_ignore_ascii_case("INBOX/")) {
            return Ok(format!("INBOX/{}", &name[6..]));
        }
        Ok(name)
    }

    pub(crate) fn login_ref(&self) -> Result<&Login, CommandError> {
        self.login.as_ref().ok_or_else(|| CommandError::Bad("log in first".into()))
    }
}

enum Event {
    Command(Command),
    Continue,
    AppendMessage(
        Tag,
        String,
        Vec<moxide_protocols::imap::Flag>,
        Option<moxide_protocols::imap::DateTime>,
        u64,
        bool,
        u32,
    ),
    AppendMessageEnd,
    AppendEnd(Tag, bool),
    Sasl(Option<Vec<u8>>),
    Error(Option<Tag>, ReadErrorKind, String),
    Unexpected,
}

// ----- graceful shutdown (issue 10): the IMAP session's only shutdown code -----
//
// A session between commands (or in IDLE) ends with `* BYE` as soon as the core starts
// draining; one in the middle of a command finishes it and ends at its next read, or at
// the end of the grace at the latest (RFC 9051 §7.1.5: BYE when the server closes).

/// Between commands: nothing of a command read yet, no APPEND or AUTHENTICATE under way.
fn between_commands(session: &Session, reader: &CommandReader) -> bool {
    reader.is_idle()
        && session.io.start == session.io.end
        && session.append.is_none()
        && session.sasl.is_none()
}

/// Completes (with `None`) when the shutdown ends this session: once draining if it is
/// `idle`, else once the grace is over. Raced against the session's reads.
async fn shutdown_due<T>(idle: bool) -> Option<T> {
    let shutdown = moxide_runtime::shutdown::notice();
    if idle {
        shutdown.draining().await;
    } else {
        shutdown.closing().await;
    }
    None
}

impl Session {
    /// Says `* BYE` for the shutdown (best effort, briefly) and ends the session.
    async fn shutdown_bye(&mut self) -> std::io::Result<bool> {
        write_untagged_status(self.out.buf(), Status::Bye, None, "server shutting down");
        let _ = moxide_runtime::time::timeout(SHUTDOWN_WRITE_TIMEOUT, self.flush()).await;
        Ok(false)
    }
}

/// How long the `* BYE` of a shutdown may take to write.
const SHUTDOWN_WRITE_TIMEOUT: Duration = Duration::from_secs(2);
