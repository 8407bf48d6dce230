//! IMAP session actors (RFC 9051 IMAP4rev2, RFC 3501 IMAP4rev1 and the extensions in
//! [`CAPABILITIES`]): glue between the sans-IO `moxide_protocols::imap` reader/writer, the
//! socket, the account stores (reads, on the session's own core) and the account actors
//! (every write).
//!
//! - [`listener`]: accept loop (shared with SMTP) and connection limit.
//! - `session`: the connection loop, states, authentication and small commands.
//! - `selected`: the selected mailbox's view (UIDs by sequence number) and the rules for
//!   telling the client about changes (RFC 9051 §5.2, §7.5.1).
//! - `mailboxes`, `fetch`, `search`, `write`, `append`: the commands by area.
//! - `output`: queued response bytes and message-file segments (sendfile on plaintext).

pub mod listener;

mod append;
mod fetch;
mod flags;
mod login;
mod mailboxes;
mod output;
mod search;
mod selected;
mod session;
mod uids;
mod write;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use moxide_protocols::imap::ReaderConfig;
use moxide_runtime::tls::TlsAcceptor;

use crate::auth::AuthServices;

/// What we advertise in every state (RFC 9051 §7.2.2); STARTTLS, LOGINDISABLED, SASL-IR
/// and the AUTH= mechanisms are added per connection state. Every one of them works fully.
pub const CAPABILITIES: &[&str] = &[
    "IMAP4rev2",
    "IMAP4rev1",
    "ENABLE",
    "LITERAL+",
    "IDLE",
    "BINARY",
    "UNSELECT",
    "UIDPLUS",
    "ESEARCH",
    "SEARCHRES",
    "MOVE",
    "UTF8=ACCEPT",
    "LIST-EXTENDED",
    "SPECIAL-USE",
    "CREATE-SPECIAL-USE",
    "LIST-STATUS",
    "ID",
    "NAMESPACE",
    "CONDSTORE",
    "QRESYNC",
    "STATUS=SIZE",
    "MULTIAPPEND",
    "SAVEDATE",
    "WITHIN",
    "CHILDREN",
];

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
    /// Protocol errors (BAD) in a row before the server says BYE.
    pub errors_max: u32,
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
/// Before authentication a client gets less patience.
pub const LOGIN_TIMEOUT_DEFAULT: Duration = Duration::from_secs(60);
/// Syntax errors in a row tolerated before `* BYE`: a client that sends garbage is cut
/// off, a buggy one that sometimes errs is not.
pub const ERRORS_MAX_DEFAULT: u32 = 10;

impl ImapSettings {
    /// Settings with the defaults, plaintext, no TLS.
    pub fn new(hostname: String, spool_dir: PathBuf, auth: Arc<AuthServices>) -> Self {
        ImapSettings {
            hostname,
            reader: ReaderConfig::default(),
            spool_dir,
            autologout: AUTOLOGOUT_DEFAULT,
            login_timeout: LOGIN_TIMEOUT_DEFAULT,
            errors_max: ERRORS_MAX_DEFAULT,
            tls: None,
            implicit_tls: false,
            plaintext_auth: false,
            auth,
        }
    }

    /// The APPENDLIMIT capability value.
    pub(crate) fn append_limit(&self) -> u64 {
        self.reader.append_bytes_max
    }
}
