//! SMTP session actors: glue between the sans-IO `moxide_protocols::smtp` session, the
//! socket, the spool and the account actors.
//!
//! - [`listener`]: accepts on one core's listening socket, applies the connection limit,
//!   spawns a session per connection (a panic ends that connection only).
//! - [`session`]: the read → protocol → act → write loop of one connection.
//! - [`delivery`]: hands a finished spool file to each recipient account's actor and
//!   answers only when every one of them made it durable.

pub mod delivery;
pub mod listener;
pub mod session;

use std::cell::Cell;
use std::path::PathBuf;
use std::sync::Arc;

use moxide_protocols::smtp::ServerConfig;

/// How an SMTP listener behaves; shared by the sessions of one listener on one core.
pub struct SmtpSettings {
    /// Protocol settings (hostname, limits, timeouts).
    pub protocol: Arc<ServerConfig>,
    /// Where spool files are written (same filesystem as the accounts).
    pub spool_dir: PathBuf,
    /// Spool files created on this core so far (makes names unique with the core index).
    pub(crate) spool_counter: Cell<u64>,
}

impl SmtpSettings {
    /// Settings for a listener.
    pub fn new(protocol: Arc<ServerConfig>, spool_dir: PathBuf) -> Self {
        SmtpSettings { protocol, spool_dir, spool_counter: Cell::new(0) }
    }
}
