//! One SMTP connection: read bytes, feed the sans-IO session, act on its events (directory
//! lookups, spooling, delivery, STARTTLS, AUTH), write its replies.
//!
//! Replies are flushed when the session needs more input (RFC 2920 §3.2: a server flushes
//! when its input buffer is empty) or when enough has accumulated, so a pipelined
//! transaction costs one write per client flight.
//!
//! STARTTLS (RFC 3207): the handshake starts only when neither the protocol session nor
//! our read buffer holds plaintext received after the STARTTLS line; otherwise the upgrade
//! is refused and the connection closed, so injected commands are never executed.
//!
//! Time: the protocol session keeps the request deadlines and decides when the client ran
//! out of time; this loop passes it the monotonic clock and wakes it at its deadline.
//! Shutdown: when the core starts draining, the protocol session is told (with the time
//! left of the grace) and decides whether it is idle (`421 4.3.2` now) or finishes the
//! request under way first. A delivery already handed to the account actors is always
//! awaited, never cancelled, so its answer is the true outcome.
//!
//! Submission: the message's `From:` must be an address of the authenticated account
//! (RFC 6409 §6.3, as mox requires). It is found while the message streams to the spool
//! (only that one field is kept) and checked at the end of the data, before anything is
//! stored: `550 5.7.1` for another's address, `554 5.6.0` when there is not exactly one
//! author mailbox.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use moxide_protocols::auth::intake::Intake;
use moxide_protocols::mime::Summarizer;
use moxide_protocols::sasl::Mechanism;
use moxide_protocols::smtp::{
    EnhancedCode, Event, ForwardPath, FromField, FromScanner, MailFrom, Release, Reply, ReversePath,
    ServerConfig, ServerSession, Verdict,
};
use moxide_runtime::Stream;
use moxide_runtime::fs::{Finished, SpoolFile};
use moxide_runtime::net::TcpStream;
use moxide_runtime::shutdown::Shutdown;
use moxide_storage::queue::{SendLimitKind, SendQuota};

use super::SmtpSettings;
use super::delivery::{Annotations, Recipient, Spooled, deliver_spooled};
use super::inbound::Screened;
use crate::auth::{
    AuthConnection, AuthFailure, AuthProgress, Authenticated, Authenticator, offered_mechanisms,
};
use crate::directory::{Lookup, Poster};
use crate::node::Node;

mod burl;
pub use burl::BURL_READ_BYTES_MAX;

/// Bytes read from the socket at a time. Must hold a whole command line (and a whole SASL
/// response line) so the session can tell a long line from a short read.
pub const READ_BUFFER_BYTES: usize = 32 * 1024;
const _: () = assert!(READ_BUFFER_BYTES >= moxide_protocols::smtp::COMMAND_LINE_BYTES_MAX);
const _: () = assert!(READ_BUFFER_BYTES >= moxide_protocols::smtp::SASL_LINE_BYTES_MAX);

/// Most entries of an account's send record a submission reads on its core for the send
/// limits (the totals and the minutes that left the window). An account idle for most
/// of a day has up to a day's minutes: a helper thread reads those, and its next enqueue
/// removes them.
const SEND_RECORD_INLINE_ENTRIES_MAX: usize = 64;

/// Replies queued before we write them even though input remains (a long pipelined burst).
pub const OUTPUT_FLUSH_BYTES: usize = 16 * 1024;

/// A write that makes no progress for this long ends the connection (a client that does not
/// read its replies holds no memory forever).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(300);

/// Once the shutdown's grace is over, what is left to write (a final reply and the 421)
/// must go out within this; a client that does not read them is cut off.
pub const CLOSING_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// Longest FUTURERELEASE hold accepted (RFC 4865 `max-future-release-interval`): 60
/// days, as mox. A held message occupies the queue that long; its file is on disk, no
/// memory is held for it.
pub const FUTURE_RELEASE_SECS_MAX: u64 = 60 * 24 * 3600;

/// What one transaction (MAIL … end of message) has gathered.
#[derive(Default)]
struct Transaction {
    mail_from: Option<MailFrom>,
    recipients: Vec<Recipient>,
    /// Submission: recipients in other domains, for the outbound queue.
    remote: Vec<String>,
    /// Submission: FUTURERELEASE's release time (RFC 4865), Unix ms.
    release_ms: Option<i64>,
    spool: Option<SpoolFile>,
    spool_failed: bool,
    /// The spool write failed for a full disk (answered 452 4.3.1).
    spool_no_space: bool,
    /// The message's summary, built from the same bytes as they reach the spool
    /// (memory bounded whatever the message's size, `moxide_protocols::mime::Summarizer`).
    summarizer: Option<Summarizer>,
    /// The message's author, found as it streams in (submission only).
    author: Option<FromScanner>,
    /// The message collected for the inbound authentication checks (SMTP listener only).
    auth_intake: Option<Intake>,
}

struct Connection {
    node: Node,
    settings: Rc<SmtpSettings>,
    peer: SocketAddr,
    stream: Option<Stream>,
    buffer: Vec<u8>,
    start: usize,
    end: usize,
    helo: Option<String>,
    esmtp: bool,
    transaction: Transaction,
    authenticator: Option<Authenticator>,
    /// SCRAM: success is reported after the client acknowledged the server's final message.
    pending_success: Option<Authenticated>,
    authenticated: Option<Authenticated>,
    /// This core's shutdown notice.
    shutdown: Shutdown,
}

/// Serves one connection until QUIT, EOF, timeout or an IO error.
pub async fn run_session(node: Node, settings: Rc<SmtpSettings>, stream: TcpStream, peer: SocketAddr) {
    tracing::debug!(%peer, "smtp connection");
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let shutdown = moxide_runtime::shutdown::notice();
    let stream = match (&settings.tls, settings.implicit_tls) {
        (Some(acceptor), true) => match until_closing(&shutdown, acceptor.accept(stream)).await {
            Some(Ok(tls)) => Stream::from(tls),
            Some(Err(error)) => {
                tracing::debug!(%peer, %error, "tls handshake failed");
                return;
            }
            None => return,
        },
        _ => Stream::from(stream),
    };
    let tls = stream.is_tls();
    let config = connection_config(&settings, &stream, &AuthConnection::of(&stream, &settings, peer));
    let mut session = if tls { ServerSession::new_tls(config) } else { ServerSession::new(config) };
    let mut connection = Connection {
        node,
        settings,
        peer,
        stream: Some(stream),
        buffer: vec![0u8; READ_BUFFER_BYTES],
        start: 0,
        end: 0,
        helo: None,
        esmtp: false,
        transaction: Transaction::default(),
        authenticator: None,
        pending_success: None,
        authenticated: None,
        shutdown,
    };
    if let Err(error) = connection.serve(&mut session).await {
        tracing::debug!(%peer, %error, "smtp connection ended with an error");
    }
    connection.abandon_transaction().await;
    if let Some(mut stream) = connection.stream.take() {
        let _ = stream.close().await;
    }
}

impl AuthConnection {
    fn of(stream: &Stream, settings: &SmtpSettings, peer: SocketAddr) -> AuthConnection {
        AuthConnection {
            ip: peer.ip(),
            tls: stream.tls_info(),
            channel_binding: stream.channel_binding(),
            plaintext_allowed: settings.plaintext_auth,
        }
    }
}

/// The protocol configuration for a connection in its current state: STARTTLS offered on
/// plaintext connections of TLS listeners; AUTH mechanisms (submission only) as allowed on
/// this connection, strongest first.
fn connection_config(settings: &SmtpSettings, stream: &Stream, auth: &AuthConnection) -> Arc<ServerConfig> {
    let mut config = ServerConfig::clone(&settings.protocol);
    config.starttls = settings.tls.is_some() && !stream.is_tls();
    config.requiretls = true;
    config.auth_requires_tls = !settings.plaintext_auth;
    // RFC 4468 §3.1: BURL on submission only; URLAUTH URLs of our host resolve against
    // this node's stores (`crate::urlauth`).
    config.burl = config.submission;
    // Submission with a queue: the release time advertised is computed now; a
    // connection's EHLO is answered within minutes of it.
    config.futurerelease =
        (config.submission && settings.queue.is_some() && settings.local_catchall.is_none()).then(|| {
            let max_secs = crate::clock::now_unix_ms().div_euclid(1000)
                + i64::try_from(FUTURE_RELEASE_SECS_MAX).unwrap_or(i64::MAX);
            moxide_protocols::smtp::FutureRelease {
                interval_secs_max: FUTURE_RELEASE_SECS_MAX,
                datetime_max: moxide_protocols::smtp::release::format_datetime(max_secs),
            }
        });
    config.auth_mechanisms = if config.submission {
        offered_mechanisms(auth, settings.auth.global.is_some())
            .iter()
            .map(|m| m.name().to_string())
            .collect()
    } else {
        Vec::new()
    };
    Arc::new(config)
}

impl Connection {
    async fn serve(&mut self, session: &mut ServerSession) -> std::io::Result<()> {
        loop {
            let mut progressed = false;
            while let Some(event) = session.poll_event() {
                progressed = true;
                match event {
                    Event::StartTls { pipelined } => self.start_tls(session, pipelined).await?,
                    Event::Auth { mechanism, initial } => {
                        self.auth_start(session, &mechanism, initial.as_deref()).await
                    }
                    Event::AuthResponse(response) => self.auth_respond(session, &response).await,
                    Event::Burl { url, room_bytes, .. } => {
                        let outcome = self.on_burl(&url, room_bytes).await;
                        session.burl_done(outcome);
                    }
                    Event::AuthCancel => {
                        self.authenticator = None;
                        self.pending_success = None;
                    }
                    event => {
                        if let Some(verdict) = self.on_event(event).await {
                            session.answer(verdict);
                        }
                    }
                }
            }
            if session.wants_close() {
                return self.flush(session).await;
            }
            self.follow_shutdown(session);
            let now_ms = crate::clock::now_monotonic_ms();
            let used = session.handle_input(&self.buffer[self.start..self.end], now_ms);
            self.start += used;
            if used > 0 || progressed || session.wants_close() {
                if session.pending_output().len() >= OUTPUT_FLUSH_BYTES {
                    self.flush(session).await?;
                }
                continue;
            }
            self.flush(session).await?;
            if !self.read_more(session).await? {
                return Ok(());
            }
        }
    }

    /// Tells the protocol session once that the core is shutting down, with the time
    /// left of the grace; it decides what that means for the request under way.
    fn follow_shutdown(&self, session: &mut ServerSession) {
        if session.is_draining() {
            return;
        }
        if let Some(grace) = self.shutdown.grace_left() {
            let grace_ms = u64::try_from(grace.as_millis()).unwrap_or(u64::MAX);
            session.drain(crate::clock::now_monotonic_ms(), grace_ms);
        }
    }

    /// Reads more input; false at end of stream. Also returns (true, nothing read) at the
    /// session's deadline or when the shutdown starts, so the session can decide.
    async fn read_more(&mut self, session: &mut ServerSession) -> std::io::Result<bool> {
        self.buffer.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        if self.end == self.buffer.len() {
            // The session consumes over-long lines itself; a full buffer it will not
            // touch means it is stuck, which would be a bug: close rather than spin.
            tracing::error!(peer = %self.peer, "smtp session made no progress on a full buffer");
            return Ok(false);
        }
        let now_ms = crate::clock::now_monotonic_ms();
        let fallback_ms = now_ms.saturating_add(self.settings.protocol.command_timeout_ms);
        let wait =
            Duration::from_millis(session.deadline_ms().unwrap_or(fallback_ms).saturating_sub(now_ms).max(1));
        let watch_shutdown = !session.is_draining();
        let Connection { stream, buffer, end, shutdown, .. } = self;
        let stream = stream.as_mut().ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotConnected))?;
        let read = async { Some(stream.read(&mut buffer[*end..]).await) };
        let wake = async {
            if watch_shutdown {
                futures_lite::future::or(shutdown.draining(), moxide_runtime::time::sleep(wait)).await;
            } else {
                moxide_runtime::time::sleep(wait).await;
            }
            None
        };
        // Dropping a pending read loses no bytes: the runtime's streams read only
        // when polled ready.
        match futures_lite::future::or(read, wake).await {
            None => Ok(true),
            Some(Ok(0)) => Ok(false),
            Some(Ok(n)) => {
                *end += n;
                Ok(true)
            }
            Some(Err(error)) => Err(error),
        }
    }

    async fn flush(&mut self, session: &mut ServerSession) -> std::io::Result<()> {
        let Connection { stream, shutdown, .. } = self;
        let stream = stream.as_mut().ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotConnected))?;
        let write = async {
            while !session.pending_output().is_empty() {
                let written = stream.write(session.pending_output()).await?;
                if written == 0 {
                    return Err(std::io::ErrorKind::WriteZero.into());
                }
                session.advance_output(written);
            }
            stream.flush().await
        };
        // Past the grace, a client that does not read cannot hold the shutdown up.
        let bound = async {
            shutdown.closing().await;
            moxide_runtime::time::sleep(CLOSING_WRITE_TIMEOUT).await;
            Err(std::io::ErrorKind::TimedOut.into())
        };
        futures_lite::future::or(write, bound).await
    }

    /// RFC 3207 §4: send 220, then the handshake; all state is reset afterwards.
    async fn start_tls(&mut self, session: &mut ServerSession, pipelined: bool) -> std::io::Result<()> {
        if pipelined {
            return Ok(()); // the session refused (554) and is closing
        }
        if self.start < self.end {
            // Plaintext after STARTTLS that the session has not seen yet: the same attack.
            tracing::info!(peer = %self.peer, "pipelined data after STARTTLS; refusing the upgrade");
            session.tls_refused_injection();
            return Ok(());
        }
        let Some(acceptor) = self.settings.tls.clone() else {
            session.tls_failed();
            return Ok(());
        };
        self.flush(session).await?;
        let Some(plain) = self.stream.take() else { return Ok(()) };
        let Some(handshake) = until_closing(&self.shutdown, plain.start_tls(&acceptor)).await else {
            session.tls_failed();
            return Ok(());
        };
        match handshake {
            Ok(tls) => {
                let auth = AuthConnection::of(&tls, &self.settings, self.peer);
                session.tls_started();
                session.replace_config(connection_config(&self.settings, &tls, &auth));
                self.stream = Some(tls);
                self.helo = None;
                self.authenticated = None;
                Ok(())
            }
            Err(error) => {
                tracing::debug!(peer = %self.peer, %error, "starttls handshake failed");
                session.tls_failed();
                Err(std::io::Error::other(error.to_string()))
            }
        }
    }

    async fn auth_start(&mut self, session: &mut ServerSession, mechanism: &str, initial: Option<&[u8]>) {
        let Some(stream) = self.stream.as_ref() else { return };
        let connection = AuthConnection::of(stream, &self.settings, self.peer);
        let Some(mechanism) = Mechanism::from_name(mechanism) else {
            session.auth_failure(Reply::new(504, Some(EnhancedCode(5, 5, 4)), "mechanism not supported"));
            return;
        };
        let hostname = self.settings.protocol.hostname.clone();
        match Authenticator::new(
            self.node.clone(),
            Arc::clone(&self.settings.auth),
            &connection,
            mechanism,
            &hostname,
        ) {
            Ok(mut authenticator) => {
                let progress = authenticator.start(initial).await;
                self.authenticator = Some(authenticator);
                self.auth_progress(session, progress);
            }
            Err(failure) => session.auth_failure(failure_reply(&failure, connection.tls.is_some())),
        }
    }

    async fn auth_respond(&mut self, session: &mut ServerSession, response: &[u8]) {
        if let Some(done) = self.pending_success.take() {
            // RFC 4954 §4: the client acknowledged our final SCRAM message (empty response).
            if response.is_empty() {
                self.succeed(session, done);
            } else {
                session.auth_failure(Reply::new(
                    501,
                    Some(EnhancedCode(5, 5, 2)),
                    "expected an empty response",
                ));
            }
            return;
        }
        let Some(authenticator) = self.authenticator.as_mut() else { return };
        let progress = authenticator.respond(response).await;
        self.auth_progress(session, progress);
    }

    fn auth_progress(&mut self, session: &mut ServerSession, progress: AuthProgress) {
        match progress {
            AuthProgress::Challenge(challenge) => session.auth_challenge(&challenge),
            AuthProgress::Success(done, Some(final_message)) => {
                session.auth_challenge(&final_message);
                self.pending_success = Some(done);
            }
            AuthProgress::Success(done, None) => self.succeed(session, done),
            AuthProgress::Failure(failure) => {
                self.authenticator = None;
                let tls = self.stream.as_ref().is_some_and(Stream::is_tls);
                session.auth_failure(failure_reply(&failure, tls));
            }
        }
    }

    fn succeed(&mut self, session: &mut ServerSession, done: Authenticated) {
        self.authenticator = None;
        session.auth_success(done.account.to_string());
        self.authenticated = Some(done);
    }

    async fn on_event(&mut self, event: Event<'_>) -> Option<Verdict> {
        match event {
            Event::Helo { name, extended } => {
                self.helo = Some(name);
                self.esmtp = extended;
                None
            }
            Event::Quit => None,
            Event::MailFrom(mail_from) => {
                self.abandon_transaction().await;
                if let Some(refusal) = self.check_sender(&mail_from) {
                    return Some(Verdict::Reject(refusal));
                }
                match release_time(&mail_from, crate::clock::now_unix_ms()) {
                    Ok(release_ms) => self.transaction.release_ms = release_ms,
                    Err(refusal) => return Some(Verdict::Reject(refusal)),
                }
                self.transaction.mail_from = Some(mail_from);
                Some(Verdict::Accept)
            }
            Event::RcptTo(path) => {
                let remote_before = self.transaction.remote.len();
                let verdict = self.on_rcpt(path);
                if self.transaction.remote.len() > remote_before {
                    Some(self.check_suppressed(verdict).await)
                } else {
                    Some(verdict)
                }
            }
            Event::MessageStart => Some(self.on_message_start().await),
            Event::Body(bytes) => {
                self.on_body(bytes).await;
                None
            }
            Event::MessageEnd => {
                let verdict = self.on_message_end().await;
                count_transaction(&verdict);
                Some(verdict)
            }
            Event::MessageAborted(reason) => {
                tracing::debug!(peer = %self.peer, ?reason, "message aborted");
                self.discard_spool().await;
                None
            }
            Event::Reset => {
                self.abandon_transaction().await;
                None
            }
            Event::StartTls { .. }
            | Event::Auth { .. }
            | Event::AuthResponse(_)
            | Event::AuthCancel
            | Event::Burl { .. } => None,
        }
    }

    /// Submission: the sender must be an address of the authenticated account (as mox
    /// requires), so an account cannot send as another. localserve accepts any sender.
    /// The null reverse path is accepted: RFC 6409 §3.2 says it is no reason on its own to
    /// refuse a submission (user agents send disposition notifications with it); the
    /// message's `From:` is checked all the same (see [`Self::check_author`]).
    fn check_sender(&self, mail_from: &MailFrom) -> Option<Reply> {
        let authenticated = self.authenticated.as_ref()?;
        if self.settings.local_catchall.is_some() {
            return None;
        }
        let ReversePath::Mailbox(mailbox) = &mail_from.path else { return None };
        if self.owns_address(authenticated, &mailbox.localpart, &mailbox.domain.to_string()) {
            None
        } else {
            Some(Reply::new(550, Some(EnhancedCode(5, 7, 1)), "not allowed to send as that address"))
        }
    }

    /// Whether `localpart@domain` delivers to the authenticated account.
    fn owns_address(&self, authenticated: &Authenticated, localpart: &str, domain: &str) -> bool {
        matches!(self.node.directory().lookup(localpart, domain), Lookup::Account(account) if account == authenticated.account)
    }

    /// Whether this message's author must be checked: submission, as an account (not in
    /// localserve, which accepts any sender as mox's does).
    fn author_checked(&self) -> bool {
        self.settings.protocol.submission
            && self.authenticated.is_some()
            && self.settings.local_catchall.is_none()
    }

    /// Submission (RFC 6409 §6.3): the message's `From:` must be an address of the
    /// authenticated account; `None` when it is (or the check does not apply).
    fn check_author(&self, author: Option<&FromScanner>) -> Option<Reply> {
        let authenticated = self.authenticated.as_ref()?;
        let author = author?;
        match author.finish() {
            FromField::Mailbox { localpart, domain }
                if self.owns_address(authenticated, &localpart, &domain) =>
            {
                None
            }
            FromField::Mailbox { localpart, domain } => {
                tracing::info!(peer = %self.peer, account = %authenticated.account, from = %format!("{localpart}@{domain}"), "submission refused: From is not the account's");
                Some(Reply::new(
                    550,
                    Some(EnhancedCode(5, 7, 1)),
                    "message From address must belong to the authenticated account",
                ))
            }
            FromField::Invalid(reason) => {
                tracing::info!(peer = %self.peer, account = %authenticated.account, reason, "submission refused: bad From");
                // RFC 6409 §6.3: 554 for syntactic problems in the data.
                Some(Reply::new(554, Some(EnhancedCode(5, 6, 0)), "message needs exactly one From address"))
            }
        }
    }

    /// A closed alias (not `post_public`) takes mail only from its members and allowed
    /// senders: the authenticated account on submission, else the envelope sender
    /// (which the inbound checks' SPF and DMARC judge). Refused at RCPT with `550 5.7.1`
    /// (RFC 3463: delivery not authorized), so the sender learns it at once and nothing
    /// is stored.
    fn check_alias_poster(&self, path: &ForwardPath) -> Option<Reply> {
        let ForwardPath::Mailbox(alias) = path else { return None };
        let mail_from = self.transaction.mail_from.as_ref().and_then(|m| match &m.path {
            ReversePath::Mailbox(mailbox) => Some((mailbox.localpart.as_str(), mailbox.domain.to_string())),
            _ => None,
        });
        let poster = Poster {
            account: self.authenticated.as_ref().map(|a| &*a.account),
            mail_from: mail_from.as_ref().map(|(localpart, domain)| (*localpart, domain.as_str())),
        };
        if self.node.directory().may_post(&alias.localpart, &alias.domain.to_string(), poster) {
            return None;
        }
        tracing::info!(peer = %self.peer, alias = %alias, "refused: not allowed to post to the alias");
        Some(Reply::new(550, Some(EnhancedCode(5, 7, 1)), "only members may send to this alias"))
    }

    fn on_rcpt(&mut self, path: ForwardPath) -> Verdict {
        if let (Some(_), Some(account)) = (&self.authenticated, &self.settings.local_catchall) {
            self.transaction.recipients.push(Recipient { path, account: Arc::clone(account) });
            return Verdict::Accept;
        }
        let directory = self.node.directory();
        let lookup = match &path {
            ForwardPath::Postmaster => Lookup::Account(Arc::clone(directory.postmaster())),
            ForwardPath::Mailbox(mailbox) => {
                directory.lookup(&mailbox.localpart, &mailbox.domain.to_string())
            }
        };
        match lookup {
            Lookup::Account(account) => {
                self.transaction.recipients.push(Recipient { path, account });
                Verdict::Accept
            }
            // Each member account once per transaction: the recipients stay bounded by
            // the accounts, however many RCPTs name the alias.
            Lookup::Alias(members) => {
                if let Some(refusal) = self.check_alias_poster(&path) {
                    return Verdict::Reject(refusal);
                }
                for account in members.iter() {
                    if !self.transaction.recipients.iter().any(|r| r.account == *account) {
                        let account = Arc::clone(account);
                        self.transaction.recipients.push(Recipient { path: path.clone(), account });
                    }
                }
                Verdict::Accept
            }
            // RFC 5321 §3.6.2 / RFC 3463: no such mailbox.
            Lookup::UnknownUser => {
                Verdict::Reject(Reply::new(550, Some(EnhancedCode(5, 1, 1)), "no such user here"))
            }
            Lookup::NotLocal if self.authenticated.is_some() && self.settings.queue.is_some() => {
                // Submission: other domains go through the outbound queue.
                let ForwardPath::Mailbox(mailbox) = &path else { return Verdict::Accept };
                self.transaction.remote.push(mailbox.to_string());
                Verdict::Accept
            }
            Lookup::NotLocal if self.authenticated.is_some() => Verdict::Reject(Reply::new(
                550,
                Some(EnhancedCode(5, 3, 0)),
                "delivery to other domains is not configured on this server",
            )),
            // No relaying for unauthenticated clients (RFC 5321 §3.6.2).
            Lookup::NotLocal => Verdict::Reject(Reply::new(
                550,
                Some(EnhancedCode(5, 7, 1)),
                "relaying denied: not a local domain",
            )),
        }
    }

    /// Submission: a recipient in another domain that the account's suppression list
    /// holds (an earlier hard bounce, or an operator's entry) is refused; the recipient
    /// just accepted is taken back from the transaction.
    async fn check_suppressed(&mut self, verdict: Verdict) -> Verdict {
        let (Verdict::Accept, Some(queue), Some(authenticated)) =
            (&verdict, self.settings.queue.as_ref(), self.authenticated.as_ref())
        else {
            return verdict;
        };
        let Some(address) = self.transaction.remote.last().cloned() else { return verdict };
        // One lookup in the queue's memory map: read here, not handed to a helper thread
        // (as the small IMAP reads are).
        match queue.suppressed(&authenticated.account, &address) {
            Ok(None) => verdict,
            Ok(Some(entry)) => {
                self.transaction.remote.pop();
                tracing::info!(peer = %self.peer, account = %authenticated.account, to = %address, reason = %entry.reason, "submission refused: suppressed recipient");
                Verdict::Reject(Reply::new(
                    550,
                    Some(EnhancedCode(5, 1, 1)),
                    "recipient is on this account's suppression list after an earlier permanent failure; \
                     an administrator can remove it",
                ))
            }
            Err(error) => {
                self.transaction.remote.pop();
                tracing::error!(%error, "suppression list lookup failed");
                Verdict::Reject(temporary_failure())
            }
        }
    }

    /// Submission: the account's send limits (`directory::SendLimits`) over the last 24
    /// hours, counting this message's recipients in other domains. Over a limit: `451
    /// 4.7.1` (temporary: the window slides on), nothing stored. This early check reads
    /// before the enqueue that records the message; the enqueue checks again in its own
    /// transaction ([`SendQuota`]), so two submissions racing at the limit cannot both
    /// pass.
    async fn check_send_limits(&self, remote: &[String]) -> Option<Reply> {
        let queue = self.settings.queue.as_ref().filter(|_| !remote.is_empty())?;
        let account = self.authenticated.as_ref()?.account.to_string();
        let limits = self.node.directory().send_limits(&account);
        let now_ms = crate::clock::now_unix_ms();
        // Read here when the send record is its usual few entries (the totals and the
        // minutes that left the window); a helper thread reads a longer one.
        let counts = match queue.send_counts_within(&account, remote, now_ms, SEND_RECORD_INLINE_ENTRIES_MAX)
        {
            Ok(Some(counts)) => Ok(Ok(counts)),
            Ok(None) => {
                let queue = Arc::clone(queue);
                let recipients = remote.to_vec();
                let lookup = account.clone();
                moxide_runtime::offload(move || queue.send_counts(&lookup, &recipients, now_ms)).await
            }
            Err(error) => Ok(Err(error)),
        };
        let (counts, first_time) = match counts {
            Ok(Ok(counts)) => counts,
            Ok(Err(error)) => {
                tracing::error!(%error, "send limit lookup failed");
                return Some(temporary_failure());
            }
            Err(panic) => {
                tracing::error!(panic = %panic.0, "send limit lookup panicked");
                return Some(temporary_failure());
            }
        };
        let messages = counts.recipients + remote.len() as u64;
        if messages > u64::from(limits.messages_per_day_max) {
            tracing::warn!(%account, limit = limits.messages_per_day_max, "submission refused: messages per day");
            return Some(send_limit_reply(SendLimitKind::Messages, limits.messages_per_day_max));
        }
        if first_time > 0
            && counts.first_time + first_time > u64::from(limits.first_time_recipients_per_day_max)
        {
            tracing::warn!(%account, limit = limits.first_time_recipients_per_day_max, "submission refused: first-time recipients per day");
            return Some(send_limit_reply(
                SendLimitKind::FirstTimeRecipients,
                limits.first_time_recipients_per_day_max,
            ));
        }
        None
    }

    async fn on_message_start(&mut self) -> Verdict {
        let path = self.settings.spool_dir.join(super::spool_name(self.node.core().index));
        // Created at its first write: a small message only the queue takes is never a
        // file (see `on_message_end`); a failure to create it is a failed write.
        self.transaction.spool = Some(SpoolFile::deferred(&path));
        self.transaction.spool_failed = false;
        self.transaction.summarizer = Some(Summarizer::new());
        self.transaction.author = self.author_checked().then(FromScanner::new);
        let checked = self.settings.inbound.is_some() && self.authenticated.is_none();
        self.transaction.auth_intake = checked.then(Intake::new);
        Verdict::Accept
    }

    async fn on_body(&mut self, bytes: &[u8]) {
        if let Some(summarizer) = self.transaction.summarizer.as_mut() {
            summarizer.feed(bytes);
        }
        if let Some(intake) = self.transaction.auth_intake.as_mut() {
            intake.update(bytes);
        }
        if let Some(author) = self.transaction.author.as_mut()
            && !author.is_done()
        {
            author.feed(bytes);
        }
        let Some(spool) = self.transaction.spool.as_mut() else { return };
        if self.transaction.spool_failed {
            return;
        }
        if let Err(error) = spool.append(bytes).await {
            tracing::error!(path = %spool.path().display(), %error, "spool write failed");
            self.transaction.spool_failed = true;
            self.transaction.spool_no_space = is_no_space(&error);
        }
    }

    async fn on_message_end(&mut self) -> Verdict {
        let transaction = std::mem::take(&mut self.transaction);
        let Some(spool) = transaction.spool else { return Verdict::Reject(temporary_failure()) };
        if transaction.spool_failed {
            let _ = spool.discard().await;
            return Verdict::Reject(local_failure(transaction.spool_no_space));
        }
        if let Some(refusal) = self.check_author(transaction.author.as_ref()) {
            let _ = spool.discard().await;
            return Verdict::Reject(refusal);
        }
        if let Some(refusal) = self.check_send_limits(&transaction.remote).await {
            let _ = spool.discard().await;
            return Verdict::Reject(refusal);
        }
        let path = spool.path().to_path_buf();
        // Kept only for a submission to other domains: signed from memory and stored in
        // the queue's database. When nothing else takes it (no local recipient, no
        // inbound checks reading the file), a small one is never written to a file.
        let remote = !transaction.remote.is_empty();
        let file_needed = !remote || !transaction.recipients.is_empty() || transaction.auth_intake.is_some();
        let finished = match file_needed {
            true => {
                spool.finish_with_bytes().await.map(|(size, bytes)| (size, bytes.filter(|_| remote), true))
            }
            false => spool.finish_in_memory().await.map(|finished| match finished {
                Finished::File(size) => (size, None, true),
                Finished::Memory(bytes) => (bytes.len() as u64, Some(bytes), false),
            }),
        };
        let (size, bytes, on_disk) = match finished {
            Ok(finished) => finished,
            Err(error) => {
                tracing::error!(path = %path.display(), %error, "spool write failed");
                let _ = moxide_runtime::fs::remove_file(path).await;
                return Verdict::Reject(local_failure(is_no_space(&error)));
            }
        };
        let tls = self.stream.as_ref().and_then(Stream::tls_info);
        let envelope = super::delivery::Envelope {
            peer: self.peer,
            helo: self.helo.clone(),
            esmtp: self.esmtp,
            tls,
            authenticated: self.authenticated.is_some(),
            account: self.authenticated.as_ref().map(|a| Arc::clone(&a.account)),
            release_ms: transaction.release_ms,
            author_domain: transaction.author.as_ref().and_then(|author| match author.finish() {
                FromField::Mailbox { domain, .. } => Some(domain.to_ascii_lowercase()),
                FromField::Invalid(_) => None,
            }),
            tls_required_no: transaction.author.as_ref().is_some_and(FromScanner::tls_required_no),
            mail_from: transaction.mail_from,
            recipients: transaction.recipients,
            remote: transaction.remote,
            send_quota: self.authenticated.as_ref().map(|a| {
                let limits = self.node.directory().send_limits(&a.account);
                SendQuota {
                    messages_max: limits.messages_per_day_max,
                    first_time_max: limits.first_time_recipients_per_day_max,
                }
            }),
        };
        let mut summary = transaction.summarizer.map(|summarizer| summarizer.finish().encode());
        let mut bytes = bytes;
        let (path, size, annotations) =
            match self.screen(transaction.auth_intake, &envelope, path, size).await {
                Ok(Some((path, size, annotations, rewritten))) => {
                    if rewritten {
                        // The summary's byte ranges are of the original bytes.
                        summary = None;
                        bytes = None;
                    }
                    (path, size, annotations)
                }
                Ok(None) => return Verdict::Reject(temporary_failure()),
                Err(reply) => return Verdict::Reject(reply),
            };
        let spooled = Spooled { path: &path, size, bytes: bytes.as_deref() };
        let verdict =
            deliver_spooled(&self.node, &self.settings, &envelope, spooled, summary, &annotations).await;
        let delivered = !matches!(verdict, Verdict::Reject(_));
        let reports = self
            .settings
            .inbound
            .as_ref()
            .and_then(|inbound| super::inbound::report_store(inbound, &self.node.directory(), &envelope));
        if let (true, Some(store)) = (delivered, reports) {
            super::inbound::store_reports(store.clone(), path.clone()).await;
        }
        // No file: nothing to remove. Delivered, the file has another name (in an
        // account or the queue): removing the spool's name is a directory entry, done
        // here as its creation was (the runtime's fs module doc). Otherwise this frees
        // the file: a helper's job, not waited for (a crash before it leaves a spool
        // file the next start sweeps).
        let removed = if !on_disk {
            Ok(())
        } else if delivered {
            std::fs::remove_file(&path)
        } else {
            let name = path.clone();
            let job = move || {
                if let Err(error) = std::fs::remove_file(&name) {
                    tracing::warn!(path = %name.display(), %error, "could not remove spool file");
                }
            };
            moxide_runtime::offload_detached(job).or_else(|job| {
                job();
                Ok(())
            })
        };
        if let Err(error) = removed {
            tracing::warn!(path = %path.display(), %error, "could not remove spool file");
        }
        verdict
    }

    /// The inbound checks (`inbound`): the spool file to deliver (written again when it
    /// held Authentication-Results claiming our name), its size and annotations; `Err`
    /// with the refusal (spool removed); `Ok(None)` when rewriting failed (removed too).
    async fn screen(
        &self,
        intake: Option<Intake>,
        envelope: &super::delivery::Envelope,
        path: std::path::PathBuf,
        size: u64,
    ) -> Result<Option<(std::path::PathBuf, u64, Annotations, bool)>, Reply> {
        let (Some(intake), Some(inbound)) = (intake, self.settings.inbound.as_ref()) else {
            return Ok(Some((path, size, Annotations::default(), false)));
        };
        let collected = intake.finish();
        let hostname = &self.settings.protocol.hostname;
        match super::inbound::screen(inbound, &self.node.directory(), hostname, envelope, &collected, &path)
            .await
        {
            Ok(Screened::Deliver { annotations, rewritten: None }) => {
                Ok(Some((path, size, annotations, false)))
            }
            Ok(Screened::Deliver { annotations, rewritten: Some((path, size)) }) => {
                Ok(Some((path, size, annotations, true)))
            }
            Ok(Screened::Refuse(reply)) => {
                tracing::info!(peer = %self.peer, reply = %reply.text, "message refused by the inbound checks");
                let _ = moxide_runtime::fs::remove_file(path).await;
                Err(reply)
            }
            Err(error) => {
                tracing::error!(path = %path.display(), %error, "rewriting the spool file failed");
                let _ = moxide_runtime::fs::remove_file(path).await;
                Ok(None)
            }
        }
    }

    async fn discard_spool(&mut self) {
        if let Some(spool) = self.transaction.spool.take()
            && let Err(error) = spool.discard().await
        {
            tracing::warn!(%error, "could not discard spool file");
        }
    }

    async fn abandon_transaction(&mut self) {
        self.discard_spool().await;
        self.transaction = Transaction::default();
    }
}

/// FUTURERELEASE (RFC 4865): when the message may leave, Unix ms (`None`: now). A hold
/// longer than advertised gets `501 5.5.4`; a `HOLDUNTIL` already past releases now.
fn release_time(mail_from: &MailFrom, now_ms: i64) -> Result<Option<i64>, Reply> {
    let too_long = || Reply::new(501, Some(EnhancedCode(5, 5, 4)), "hold time beyond the advertised maximum");
    let max_ms = i64::try_from(FUTURE_RELEASE_SECS_MAX).unwrap_or(i64::MAX).saturating_mul(1000);
    match mail_from.release {
        None => Ok(None),
        Some(Release::For(secs)) => {
            let hold_ms = i64::try_from(secs).unwrap_or(i64::MAX).saturating_mul(1000);
            if hold_ms > max_ms {
                return Err(too_long());
            }
            Ok(Some(now_ms.saturating_add(hold_ms)))
        }
        Some(Release::Until(secs)) => {
            let at_ms = secs.saturating_mul(1000);
            if at_ms > now_ms.saturating_add(max_ms) {
                return Err(too_long());
            }
            Ok(Some(at_ms.max(now_ms)))
        }
    }
}

/// Runs `future` unless the shutdown's grace ends first (`None`): for TLS handshakes,
/// whose own timeout is longer than the grace.
async fn until_closing<T>(shutdown: &Shutdown, future: impl std::future::Future<Output = T>) -> Option<T> {
    futures_lite::future::or(async { Some(future.await) }, async {
        shutdown.closing().await;
        None
    })
    .await
}

/// The SMTP reply for a failed authentication (RFC 4954 §6).
fn failure_reply(failure: &AuthFailure, tls: bool) -> Reply {
    match failure {
        AuthFailure::BadCredentials => {
            Reply::new(535, Some(EnhancedCode(5, 7, 8)), "authentication credentials invalid")
        }
        AuthFailure::RateLimited => {
            Reply::new(454, Some(EnhancedCode(4, 7, 0)), "too many authentication failures; try again later")
        }
        AuthFailure::MechanismUnavailable if !tls => {
            Reply::new(538, Some(EnhancedCode(5, 7, 11)), "encryption required for this mechanism")
        }
        AuthFailure::MechanismUnavailable => {
            Reply::new(504, Some(EnhancedCode(5, 5, 4)), "mechanism not available")
        }
        AuthFailure::Malformed => {
            Reply::new(501, Some(EnhancedCode(5, 5, 2)), "malformed authentication exchange")
        }
        AuthFailure::Temporary => {
            Reply::new(454, Some(EnhancedCode(4, 7, 0)), "temporary authentication failure")
        }
    }
}

/// RFC 5321 §4.2.2 452 with RFC 3463 4.3.1 (mail system full): the disk is full; the
/// client should retry later, once space is freed.
pub(crate) fn insufficient_storage() -> Reply {
    Reply::new(452, Some(EnhancedCode(4, 3, 1)), "insufficient system storage; try again later")
}

/// A local failure: 452 4.3.1 when the disk is full, else 451 4.3.0.
pub(crate) fn local_failure(no_space: bool) -> Reply {
    if no_space { insufficient_storage() } else { temporary_failure() }
}

/// ENOSPC or EDQUOT.
fn is_no_space(error: &std::io::Error) -> bool {
    matches!(error.kind(), std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded)
}

/// RFC 5321 §4.2.2 451 with RFC 3463 4.3.0: our problem, the client should retry later.
pub(crate) fn temporary_failure() -> Reply {
    Reply::new(
        451,
        Some(EnhancedCode(4, 3, 0)),
        "temporary local problem, message not accepted; try again later",
    )
}

/// Counts a finished SMTP transaction by its answer: `delivered` (2xx), `refused` (5xx),
/// `failed` (4xx: the client retries).
fn count_transaction(verdict: &Verdict) {
    let result = match verdict {
        Verdict::Accept | Verdict::AcceptWith(_) => "delivered",
        Verdict::Reject(reply) if reply.code >= 500 => "refused",
        Verdict::Reject(_) => "failed",
    };
    crate::metrics::metrics().smtp_transactions.get_or_create(&crate::metrics::ResultLabels { result }).inc();
}

/// `451 4.7.1` for a submission over a send limit (temporary: the window slides on).
pub(crate) fn send_limit_reply(kind: SendLimitKind, max: u32) -> Reply {
    let what = match kind {
        SendLimitKind::Messages => "messages",
        SendLimitKind::FirstTimeRecipients => "new recipients",
    };
    Reply::new(
        451,
        Some(EnhancedCode(4, 7, 1)),
        format!("this account reached its limit of {max} {what} in 24 hours; try again later"),
    )
}
