//! One SMTP connection: read bytes, feed the sans-IO session, act on its events (directory
//! lookups, spooling, delivery), write its replies.
//!
//! Replies are flushed when the session needs more input (RFC 2920 §3.2: a server flushes
//! when its input buffer is empty) or when enough has accumulated, so a pipelined
//! transaction costs one write per client flight.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use moxide_protocols::smtp::{Event, ForwardPath, MailFrom, Reply, ServerSession, Verdict};
use moxide_runtime::fs::SpoolFile;
use moxide_runtime::net::TcpStream;

use super::SmtpSettings;
use super::delivery::{Recipient, deliver_spooled};
use crate::directory::Lookup;
use crate::node::Node;

/// Bytes read from the socket at a time. Must hold a whole command line so the session can
/// tell a long line from a short read.
pub const READ_BUFFER_BYTES: usize = 32 * 1024;
const _: () = assert!(READ_BUFFER_BYTES >= moxide_protocols::smtp::COMMAND_LINE_BYTES_MAX);

/// Replies queued before we write them even though input remains (a long pipelined burst).
pub const OUTPUT_FLUSH_BYTES: usize = 16 * 1024;

/// A write that makes no progress for this long ends the connection (a client that does not
/// read its replies holds no memory forever).
pub const WRITE_TIMEOUT: Duration = Duration::from_secs(300);

/// What one transaction (MAIL … end of message) has gathered.
#[derive(Default)]
struct Transaction {
    mail_from: Option<MailFrom>,
    recipients: Vec<Recipient>,
    spool: Option<SpoolFile>,
    spool_failed: bool,
}

struct Connection {
    node: Node,
    settings: Rc<SmtpSettings>,
    peer: SocketAddr,
    helo: Option<String>,
    esmtp: bool,
    transaction: Transaction,
}

/// Serves one connection until QUIT, EOF, timeout or an IO error.
pub async fn run_session(node: Node, settings: Rc<SmtpSettings>, mut stream: TcpStream, peer: SocketAddr) {
    tracing::debug!(%peer, "smtp connection");
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let mut session = ServerSession::new(Arc::clone(&settings.protocol));
    let mut connection =
        Connection { node, settings, peer, helo: None, esmtp: false, transaction: Transaction::default() };
    if let Err(error) = connection.serve(&mut session, &mut stream).await {
        tracing::debug!(%peer, %error, "smtp connection ended with an error");
    }
    connection.abandon_transaction().await;
    let _ = stream.close().await;
}

impl Connection {
    async fn serve(&mut self, session: &mut ServerSession, stream: &mut TcpStream) -> std::io::Result<()> {
        let mut buffer = vec![0u8; READ_BUFFER_BYTES];
        let (mut start, mut end) = (0usize, 0usize);
        loop {
            let mut progressed = false;
            while let Some(event) = session.poll_event() {
                progressed = true;
                if let Some(verdict) = self.on_event(event).await {
                    session.answer(verdict);
                }
            }
            if session.wants_close() {
                return flush(session, stream).await;
            }
            let used = session.handle_input(&buffer[start..end]);
            start += used;
            if used > 0 || progressed {
                if session.pending_output().len() >= OUTPUT_FLUSH_BYTES {
                    flush(session, stream).await?;
                }
                continue;
            }
            flush(session, stream).await?;
            buffer.copy_within(start..end, 0);
            end -= start;
            start = 0;
            if end == buffer.len() {
                // The session consumes over-long lines itself; a full buffer it will not
                // touch means it is stuck, which would be a bug: close rather than spin.
                tracing::error!(peer = %self.peer, "smtp session made no progress on a full buffer");
                return Ok(());
            }
            stream.set_read_timeout(Some(Duration::from_millis(session.timeout_ms())))?;
            match stream.read(&mut buffer[end..]).await {
                Ok(0) => return Ok(()),
                Ok(n) => end += n,
                Err(error) if error.kind() == std::io::ErrorKind::TimedOut => session.timed_out(),
                Err(error) => return Err(error),
            }
        }
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
                self.transaction.mail_from = Some(mail_from);
                Some(Verdict::Accept)
            }
            Event::RcptTo(path) => Some(self.on_rcpt(path)),
            Event::MessageStart => Some(self.on_message_start().await),
            Event::Body(bytes) => {
                self.on_body(bytes).await;
                None
            }
            Event::MessageEnd => Some(self.on_message_end().await),
            Event::MessageAborted(reason) => {
                tracing::debug!(peer = %self.peer, ?reason, "message aborted");
                self.discard_spool().await;
                None
            }
            Event::Reset => {
                self.abandon_transaction().await;
                None
            }
        }
    }

    fn on_rcpt(&mut self, path: ForwardPath) -> Verdict {
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
            // RFC 5321 §3.6.2 / RFC 3463: no such mailbox.
            Lookup::UnknownUser => Verdict::Reject(Reply::new(
                550,
                Some(moxide_protocols::smtp::EnhancedCode(5, 1, 1)),
                "no such user here",
            )),
            // No relaying on this listener: the domain is not ours (RFC 5321 §3.6.2).
            Lookup::NotLocal => Verdict::Reject(Reply::new(
                550,
                Some(moxide_protocols::smtp::EnhancedCode(5, 7, 1)),
                "relaying denied: not a local domain",
            )),
        }
    }

    async fn on_message_start(&mut self) -> Verdict {
        let path = self.settings.spool_dir.join(super::spool_name(self.node.core().index));
        match SpoolFile::create(&path).await {
            Ok(spool) => {
                self.transaction.spool = Some(spool);
                self.transaction.spool_failed = false;
                Verdict::Accept
            }
            Err(error) => {
                tracing::error!(path = %path.display(), %error, "cannot create spool file");
                Verdict::Reject(temporary_failure())
            }
        }
    }

    async fn on_body(&mut self, bytes: &[u8]) {
        let Some(spool) = self.transaction.spool.as_mut() else { return };
        if self.transaction.spool_failed {
            return;
        }
        if let Err(error) = spool.append(bytes).await {
            tracing::error!(path = %spool.path().display(), %error, "spool write failed");
            self.transaction.spool_failed = true;
        }
    }

    async fn on_message_end(&mut self) -> Verdict {
        let transaction = std::mem::take(&mut self.transaction);
        let Some(spool) = transaction.spool else { return Verdict::Reject(temporary_failure()) };
        if transaction.spool_failed {
            let _ = spool.discard().await;
            return Verdict::Reject(temporary_failure());
        }
        let path = spool.path().to_path_buf();
        let size = match spool.finish().await {
            Ok(size) => size,
            Err(error) => {
                tracing::error!(path = %path.display(), %error, "spool sync failed");
                let _ = moxide_runtime::fs::remove_file(path).await;
                return Verdict::Reject(temporary_failure());
            }
        };
        let envelope = super::delivery::Envelope {
            peer: self.peer,
            helo: self.helo.clone(),
            esmtp: self.esmtp,
            mail_from: transaction.mail_from,
            recipients: transaction.recipients,
        };
        let verdict = deliver_spooled(&self.node, &self.settings, &envelope, &path, size).await;
        if let Err(error) = moxide_runtime::fs::remove_file(path.clone()).await {
            tracing::warn!(path = %path.display(), %error, "could not remove spool file");
        }
        verdict
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

async fn flush(session: &mut ServerSession, stream: &mut TcpStream) -> std::io::Result<()> {
    while !session.pending_output().is_empty() {
        let written = stream.write(session.pending_output()).await?;
        if written == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        session.advance_output(written);
    }
    stream.flush().await
}

/// RFC 5321 §4.2.2 451 with RFC 3463 4.3.0: our problem, the client should retry later.
pub(crate) fn temporary_failure() -> Reply {
    Reply::new(
        451,
        Some(moxide_protocols::smtp::EnhancedCode(4, 3, 0)),
        "temporary local problem, message not accepted; try again later",
    )
}
