//! IMAP session actors: the glue between the sans-IO session
//! (`moxide_protocols::imap::server`), the socket, the account stores (reads, on the
//! session's own core) and the account actors (every write). No protocol decision is
//! made here: the session decides what to answer; this module reads, writes and sends.
//!
//! - [`listener`]: accept loop (shared with SMTP) and connection limit.
//! - `session`: the connection loop (read with deadlines, feed, act on events, write
//!   out), IDLE's wait for input or changes.
//! - `auth`: PREAUTH by TLS client key, STARTTLS's handshake, LOGIN and AUTHENTICATE
//!   through the shared authenticator.
//! - `mailboxes`: SELECT's snapshot and subscription, syncs, LIST, STATUS, CREATE,
//!   DELETE, RENAME, SUBSCRIBE.
//! - `fetch`, `search`, `messages`, `append`: the storage side of FETCH, SEARCH, STORE/
//!   COPY/MOVE/EXPUNGE and APPEND.
//! - `ordering`: the storage side of SORT and THREAD: keys from the stored summaries,
//!   ordered or threaded on a helper thread.
//! - `quota`: GETQUOTA/GETQUOTAROOT's limit (the directory's) and usage (the store's).
//! - `metadata`: GETMETADATA/SETMETADATA and LIST RETURN (METADATA): stored entries
//!   read in a read transaction, writes through the account actor, `/shared/admin`.
//! - `notify`: NOTIFY's account-wide subscription and its change batches turned into
//!   the session's notices (a mailbox record read per touched mailbox).
//! - `output`: writing the session's output, message-file ranges with sendfile.
//! - `facts`: store records to the session's storage-neutral facts.

pub mod listener;

mod append;
mod auth;
mod catenate;
mod facts;
mod fetch;
mod mailboxes;
mod messages;
mod metadata;
mod notify;
mod ordering;
mod output;
mod quota;
mod search;
mod session;
mod urlauth;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use moxide_protocols::imap::ReaderConfig;
use moxide_protocols::imap::server::{BAD_COMMANDS_MAX, ServerConfig};
use moxide_runtime::tls::TlsAcceptor;

use crate::auth::AuthServices;

/// How an IMAP listener behaves.
pub struct ImapSettings {
    /// Our host name (greeting, logs).
    pub hostname: String,
    /// Command reader limits (line, literal, APPENDLIMIT, nesting).
    pub reader: ReaderConfig,
    /// Spool directory for APPEND (same filesystem as the accounts).
    pub spool_dir: PathBuf,
    /// Idle time before the server logs a client out (RFC 9051 §5.4: at least 30 minutes
    /// once authenticated).
    pub autologout: Duration,
    /// Idle time before login.
    pub login_timeout: Duration,
    /// Commands answered BAD in a row before the server says BYE.
    pub bad_commands_max: u32,
    /// Certificates, when this listener offers TLS.
    pub tls: Option<TlsAcceptor>,
    /// TLS from the first byte (RFC 8314, port 993) rather than STARTTLS.
    pub implicit_tls: bool,
    /// LOGIN and password mechanisms allowed without TLS (loopback listeners by default;
    /// otherwise LOGINDISABLED until STARTTLS, RFC 9051 §6.2.3).
    pub plaintext_auth: bool,
    /// Authentication state shared by the server.
    pub auth: Arc<AuthServices>,
}

/// Autologout timer once authenticated: RFC 9051 §5.4 says at least 30 minutes.
pub const AUTOLOGOUT_DEFAULT: Duration = Duration::from_secs(30 * 60);
/// Before authentication a client gets less patience (per read; the whole command has
/// its own deadline, `moxide_protocols::imap::server::COMMAND_DURATION_MS_MIN`).
pub const LOGIN_TIMEOUT_DEFAULT: Duration = Duration::from_secs(60);

impl ImapSettings {
    /// Settings with the defaults, plaintext, no TLS.
    pub fn new(hostname: String, spool_dir: PathBuf, auth: Arc<AuthServices>) -> Self {
        ImapSettings {
            hostname,
            reader: ReaderConfig::default(),
            spool_dir,
            autologout: AUTOLOGOUT_DEFAULT,
            login_timeout: LOGIN_TIMEOUT_DEFAULT,
            bad_commands_max: BAD_COMMANDS_MAX,
            tls: None,
            implicit_tls: false,
            plaintext_auth: false,
            auth,
        }
    }

    /// The session configuration these settings make.
    pub(crate) fn protocol(&self) -> ServerConfig {
        ServerConfig {
            hostname: self.hostname.clone(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            reader: self.reader.clone(),
            bad_commands_max: self.bad_commands_max,
            starttls: self.tls.is_some() && !self.implicit_tls,
            plaintext_auth: self.plaintext_auth,
            ..ServerConfig::default()
        }
    }
}

/// Storage failures as IMAP command errors, also for URL resolution ([`crate::urlauth`]).
pub(crate) use facts::storage_error;
