//! SMTP session actors: glue between the sans-IO `moxide_protocols::smtp` session, the
//! socket, the spool and the account actors.
//!
//! - [`listener`]: accepts on one core's listening socket, applies the connection limit,
//!   spawns a session per connection (a panic ends that connection only).
//! - [`session`]: the read → protocol → act → write loop of one connection.
//! - [`delivery`]: hands a finished spool file to each recipient account's actor and,
//!   for other domains (submission) and accounts that failed temporarily, to the
//!   outbound queue; answers only when every one of them made it durable.
//! - [`inbound`]: SPF, DKIM, DMARC, iprev and ARC on incoming mail, the
//!   Authentication-Results header, and the DMARC decision.

pub mod delivery;
pub mod inbound;
pub mod listener;
pub mod session;

use std::cell::Cell;
use std::path::PathBuf;
use std::sync::Arc;

use moxide_protocols::smtp::ServerConfig;
use moxide_runtime::tls::TlsAcceptor;

use crate::auth::AuthServices;

/// How an SMTP listener behaves; shared by the sessions of one listener on one core.
pub struct SmtpSettings {
    /// Protocol settings (hostname, limits, timeouts, submission). STARTTLS and the AUTH
    /// mechanisms are filled in per connection from the fields below.
    pub protocol: Arc<ServerConfig>,
    /// Where spool files are written (same filesystem as the accounts).
    pub spool_dir: PathBuf,
    /// Certificates, when this listener offers TLS.
    pub tls: Option<TlsAcceptor>,
    /// TLS from the first byte (RFC 8314, port 465) rather than STARTTLS.
    pub implicit_tls: bool,
    /// Password mechanisms allowed without TLS (loopback listeners by default).
    pub plaintext_auth: bool,
    /// Authentication state shared by the server.
    pub auth: Arc<AuthServices>,
    /// Submission only: deliver every recipient to this account (localserve, as mox's
    /// localserve does: nothing leaves a test setup).
    pub local_catchall: Option<Arc<str>>,
    /// The outbound queue: recipients in other domains (submission; without a queue
    /// they are refused, `550 5.3.0`) and local retries (every listener: an account
    /// that failed temporarily while others stored the message).
    pub queue: Option<Arc<moxide_storage::queue::QueueStore>>,
    /// Submission only: DKIM keys; queued mail from a domain with keys is signed.
    pub dkim: Option<Arc<crate::queue::sign::DkimKeys>>,
    /// SMTP (not submission): check incoming mail (SPF, DKIM, DMARC, iprev, ARC).
    pub inbound: Option<inbound::InboundAuth>,
    /// A delivery over a recipient's quota is refused for good (`552 5.2.2`, RFC 3463:
    /// mailbox full) rather than for now (`452 4.2.2`, the default: the sender retries
    /// and the mail arrives once the owner made room).
    pub over_quota_permanent: bool,
}

impl SmtpSettings {
    /// Settings for a plaintext listener without authentication (port 25 without TLS).
    pub fn new(protocol: Arc<ServerConfig>, spool_dir: PathBuf, auth: Arc<AuthServices>) -> Self {
        SmtpSettings {
            protocol,
            spool_dir,
            tls: None,
            implicit_tls: false,
            plaintext_auth: false,
            auth,
            local_catchall: None,
            queue: None,
            dkim: None,
            inbound: None,
            over_quota_permanent: false,
        }
    }
}

thread_local! {
    /// Spool files created on this core (thread) so far.
    static SPOOL_COUNTER: Cell<u64> = const { Cell::new(0) };
}

/// A spool file name unique in this data directory: creation time, core, per-core counter.
/// (Spool files are created with O_EXCL, so a clash would be an error, never an overwrite.)
pub(crate) fn spool_name(core: usize) -> String {
    let counter = SPOOL_COUNTER.with(|c| {
        c.set(c.get() + 1);
        c.get()
    });
    format!("{:x}-{core}-{counter}", crate::clock::now_unix_ms())
}
