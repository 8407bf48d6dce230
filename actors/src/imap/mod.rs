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
mod mailboxes;
mod output;
mod search;
mod selected;
mod session;
mod write;

use std::path::PathBuf;
use std::time::Duration;

use moxide_protocols::imap::ReaderConfig;

/// What we advertise (RFC 9051 §7.2.2). Every one of them works fully; STARTTLS, other
/// SASL mechanisms and LOGINDISABLED come with the TLS and authentication issue.
pub const CAPABILITIES: &[&str] = &[
    "IMAP4rev2",
    "IMAP4rev1",
    "ENABLE",
    "LITERAL+",
    "IDLE",
    "SASL-IR",
    "AUTH=PLAIN",
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
}

/// Autologout timer once authenticated: RFC 9051 §5.4 says at least 30 minutes.
pub const AUTOLOGOUT_DEFAULT: Duration = Duration::from_secs(30 * 60);
/// Before authentication a client gets less patience.
pub const LOGIN_TIMEOUT_DEFAULT: Duration = Duration::from_secs(60);
/// Syntax errors in a row tolerated before `* BYE`: a client that sends garbage is cut
/// off, a buggy one that sometimes errs is not.
pub const ERRORS_MAX_DEFAULT: u32 = 10;

impl ImapSettings {
    /// Settings with the defaults.
    pub fn new(hostname: String, spool_dir: PathBuf) -> Self {
        ImapSettings {
            hostname,
            reader: ReaderConfig::default(),
            spool_dir,
            autologout: AUTOLOGOUT_DEFAULT,
            login_timeout: LOGIN_TIMEOUT_DEFAULT,
            errors_max: ERRORS_MAX_DEFAULT,
        }
    }

    /// The APPENDLIMIT capability value.
    pub(crate) fn append_limit(&self) -> u64 {
        self.reader.append_bytes_max
    }
}
