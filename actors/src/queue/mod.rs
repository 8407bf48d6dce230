//! The outbound queue's actor: finds due destinations in the [`QueueStore`], delivers
//! each (to local accounts through their actors, to other domains over SMTP with the
//! sans-IO client), records the results and the DSNs they cause in one transaction.
//!
//! - [`schedule`]: the retry schedule and what an attempt's outcomes do (pure);
//! - [`remote`]: one attempt over SMTP (connect, STARTTLS, the client session, the
//!   message streamed from its queue file);
//! - `local`: destinations whose domain is ours (DSNs to local senders) and local
//!   retries (recipients pinned to an account that failed at reception);
//! - [`dsn`]: failure and delay DSNs (RFC 3464), composed by `moxide_protocols`;
//! - [`sign`]: DKIM keys of the local domains and the signing of submitted mail;
//! - [`tls_policy`]: DANE, MTA-STS, the memory of domains' TLS and TLSRPT results;
//! - [`tls_reports`]: the daily TLS reports (RFC 8460) sent from those results;
//! - [`dmarc_reports`]: DMARC evaluations of incoming mail counted, and the daily
//!   aggregate reports (RFC 7489 §7.2) sent from them;
//! - `report_mail`: the report messages spooled, signed and queued from `<>`.
//! - [`transport`]: transports (direct, smarthosts) and the routes that choose one per
//!   attempt from the sender, the recipient domain and the attempts made.
//!
//! Time and destinations are seams: [`QueueRunner::run_due`] takes the wall-clock time
//! as an argument, so tests drive retries with a simulated clock and never sleep; the
//! hosts of a domain come from a [`Destinations`] implementation ([`mx::MxDestinations`]:
//! fixed routes from the configuration, else MX lookup through the core's DNS client).
//!
//! Guarantees: a destination's outcome and its DSN are stored together
//! ([`QueueStore::apply`]); an attempt that a crash interrupts leaves the destination
//! as it was, so it is attempted again (at least once: a peer that took the message
//! before the crash may get it twice, never zero times). One domain's destinations are
//! attempted one at a time, at most [`QUEUE_DOMAINS_CONCURRENT_MAX`] domains at once,
//! over one kept connection where the host and TLS terms allow (`remote::Kept`).

pub mod dmarc_reports;
pub mod dsn;
mod local;
pub mod mx;
pub mod remote;
mod report_mail;
pub mod schedule;
pub mod sign;
pub mod tls_policy;
pub mod tls_reports;
pub mod transport;

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use moxide_runtime::tls::TlsConnector;
use moxide_storage::StorageError;
use moxide_storage::queue::{
    Destination, NewQueued, QUEUE_DUE_BATCH_MAX, QueueId, QueueStore, QueueUpdate, QueuedContent,
    StoredReply, Suppression,
};

pub use remote::{Host, HostSource};
use schedule::RecipientOutcome;

use crate::kernel::join_all;
use crate::node::Node;

/// Domains attempted at once: mox's 10 concurrent deliveries.
pub const QUEUE_DOMAINS_CONCURRENT_MAX: usize = 10;

/// Connections to one domain at once, when it has that many messages due, unless
/// configured (`queue.connections_per_domain`): 12, below Postfix's default
/// per-destination concurrency (20). Each connection waits for a message's result to be
/// durable before its next one's, so a backlog to one domain (a smarthost takes
/// everything) drains at most at connections / commit latency: with 4 the relay's queue
/// fell behind its submissions, with 12 it keeps up (20 is no faster;
/// docs/benchmarks-analysis.md). A domain with one message due gets one connection.
pub const QUEUE_CONNECTIONS_PER_DOMAIN_DEFAULT: usize = 12;

/// The most `queue.connections_per_domain` may ask for: 100. Each connection holds a
/// socket, a TLS session and a lane's message in memory on the queue's core; more than a
/// receiver's own per-client limit (Postfix's `smtpd_client_connection_count_limit` is
/// 50) only earns `421` replies.
pub const QUEUE_CONNECTIONS_PER_DOMAIN_LIMIT: usize = 100;

/// How often the running queue looks for due work: 250 ms. A submission's first attempt
/// waits at most this long; each look is one LMDB read.
pub const QUEUE_POLL_INTERVAL_MS: u64 = 250;

/// Why a domain has no hosts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    /// Try again later (DNS failure, no route yet).
    Temporary(String),
    /// The domain accepts no mail (null MX, RFC 7505; no such domain).
    Permanent(String),
}

/// The future a [`Destinations`] lookup returns.
pub type HostsFuture<'a> = Pin<Box<dyn Future<Output = Result<Vec<Host>, LookupError>> + 'a>>;

/// Where a domain's mail goes: its hosts in the order to try them.
pub trait Destinations {
    /// The hosts for `domain` (lower case).
    fn hosts<'a>(&'a self, domain: &'a str) -> HostsFuture<'a>;

    /// One named host (a smarthost) on `port`: its addresses from A/AAAA lookups, or
    /// the address itself when `name` is an IP address. Without DNS only the latter.
    fn host<'a>(&'a self, name: &'a str, port: u16) -> HostsFuture<'a> {
        Box::pin(async move { literal_host(name, port) })
    }
}

/// A host named by an IP address, or a temporary failure for a name.
pub(crate) fn literal_host(name: &str, port: u16) -> Result<Vec<Host>, LookupError> {
    let ip = name.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>();
    match ip {
        Ok(ip) => Ok(vec![Host {
            name: name.to_owned(),
            addresses: vec![std::net::SocketAddr::new(ip, port)],
            source: HostSource::Route,
        }]),
        Err(_) => Err(LookupError::Temporary(format!("no DNS resolver to look up {name}"))),
    }
}

/// Hosts per domain from the configuration (`[[queue.routes]]`); alone (tests), a domain
/// without a route fails temporarily.
#[derive(Debug, Clone, Default)]
pub struct StaticRoutes {
    routes: HashMap<String, Vec<Host>>,
}

impl StaticRoutes {
    /// Routes from (domain, host) pairs; several hosts for one domain are tried in order.
    pub fn new(routes: impl IntoIterator<Item = (String, Host)>) -> Self {
        let mut map: HashMap<String, Vec<Host>> = HashMap::new();
        for (domain, host) in routes {
            map.entry(domain.to_lowercase()).or_default().push(host);
        }
        StaticRoutes { routes: map }
    }

    /// The hosts routed for `domain` (lower case), if any.
    pub fn get(&self, domain: &str) -> Option<&[Host]> {
        self.routes.get(domain).map(Vec::as_slice)
    }
}

impl Destinations for StaticRoutes {
    fn hosts<'a>(&'a self, domain: &'a str) -> HostsFuture<'a> {
        let found = self.routes.get(domain).cloned();
        Box::pin(async move { found.ok_or_else(|| LookupError::Temporary(format!("no route to {domain}"))) })
    }
}

/// What the queue needs besides its store.
pub struct QueueSettings {
    /// Our host name: EHLO, DSN Reporting-MTA, trace headers.
    pub hostname: String,
    /// Client TLS for opportunistic STARTTLS; `None`: plaintext unless a policy asks
    /// for verified TLS.
    pub tls: Option<TlsConnector>,
    /// DANE and MTA-STS (RFC 7672, RFC 8461); `None`: opportunistic TLS only, and
    /// REQUIRETLS messages to other domains fail.
    pub policies: Option<Rc<tls_policy::QueueTlsPolicies>>,
    /// Where DSNs are written before they are queued (the spool, same filesystem).
    pub spool_dir: PathBuf,
    /// Most random jitter added to retry waits, thousandths
    /// ([`schedule::RETRY_JITTER_PERMILLE_MAX`] in the server; 0 in tests that check
    /// the schedule to the millisecond).
    pub retry_jitter_permille_max: u16,
    /// Daily TLS reports (RFC 8460); `None`: off. Needs `policies` (their results).
    pub tls_reports: Option<tls_reports::TlsReportSettings>,
    /// Daily DMARC aggregate reports (RFC 7489 §7.2); `None`: off (and no evaluations
    /// are counted).
    pub dmarc_reports: Option<dmarc_reports::DmarcReportSettings>,
    /// Transports (the routes come from the directory, live); the default: only
    /// `direct`.
    pub routing: transport::Routing,
    /// Client TLS verifying with WebPKI (the trusted roots) for smarthosts; `None`:
    /// smarthosts that require TLS cannot be used (attempts are retried).
    pub verified_tls: Option<TlsConnector>,
    /// Most connections to one domain at once ([`QUEUE_CONNECTIONS_PER_DOMAIN_DEFAULT`];
    /// clamped to 1..=[`QUEUE_CONNECTIONS_PER_DOMAIN_LIMIT`]).
    pub connections_per_domain: usize,
}

/// Why a queue run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// The store failed.
    #[error("queue store: {0}")]
    Storage(#[from] StorageError),
    /// A helper thread panicked.
    #[error("queue helper: {0}")]
    Offload(String),
}

/// Runs blocking store work on a helper thread.
async fn blocking<R: Send + 'static>(
    work: impl FnOnce() -> Result<R, StorageError> + Send + 'static,
) -> Result<R, QueueError> {
    moxide_runtime::offload(work)
        .await
        .map_err(|panic| QueueError::Offload(panic.0))?
        .map_err(QueueError::from)
}

/// Applies attempt results and queues messages on the queue store's group commit
/// ([`QueueStore::apply_waiting`]): resolves when durable, and the waiting holds no
/// helper thread (the committer runs on one while anything is pending).
pub(crate) async fn apply(
    store: &Arc<QueueStore>,
    updates: &[QueueUpdate],
    new: &[NewQueued],
    suppressions: &[Suppression],
) -> Result<Vec<QueueId>, StorageError> {
    let waiting = store.apply_waiting(updates, new, suppressions, |job| {
        if let Err(job) = moxide_runtime::offload_detached(job) {
            job();
        }
    })?;
    waiting.await
}

/// Splits due destinations into lanes, one connection each, grouped by domain: at most
/// `domains_max` domains (the others wait for a later look), each domain's destinations
/// dealt round-robin over up to `per_domain` lanes.
fn domain_lanes(
    due: Vec<Destination>,
    per_domain: usize,
    domains_max: usize,
) -> Vec<(String, Vec<Vec<Destination>>)> {
    let per_domain = per_domain.clamp(1, QUEUE_CONNECTIONS_PER_DOMAIN_LIMIT);
    let mut domains: Vec<(String, Vec<Destination>)> = Vec::new();
    for destination in due {
        let full = domains.len() >= domains_max;
        match domains.iter_mut().find(|(domain, _)| *domain == destination.domain) {
            Some((_, list)) => list.push(destination),
            None if !full => domains.push((destination.domain.clone(), vec![destination])),
            None => {}
        }
    }
    domains
        .into_iter()
        .map(|(domain, list)| {
            let count = list.len().min(per_domain);
            let mut dealt: Vec<Vec<Destination>> = (0..count).map(|_| Vec::new()).collect();
            for (index, destination) in list.into_iter().enumerate() {
                dealt[index % count].push(destination);
            }
            (domain, dealt)
        })
        .collect()
}

/// [`domain_lanes`] for every domain, flattened: one run's lanes.
#[cfg(test)]
fn lanes(due: Vec<Destination>, per_domain: usize) -> Vec<Vec<Destination>> {
    domain_lanes(due, per_domain, QUEUE_DOMAINS_CONCURRENT_MAX)
        .into_iter()
        .flat_map(|(_, lanes)| lanes)
        .collect()
}

/// A domain's lanes, running as a task of their own (the run loop's).
struct Running {
    domain: String,
    task: moxide_runtime::JoinHandle<()>,
}

/// Waits until one of `running` ends and removes it; never, when there are none.
async fn one_ended(running: &mut Vec<Running>) {
    std::future::poll_fn(|cx| {
        for index in 0..running.len() {
            if Pin::new(&mut running[index].task).poll(cx).is_ready() {
                // A finished task is never polled again: it leaves the list now.
                running.swap_remove(index);
                return std::task::Poll::Ready(());
            }
        }
        std::task::Poll::Pending
    })
    .await;
}

/// What an attempt decided, for [`QueueRunner::record`] to store.
struct Attempted {
    update: QueueUpdate,
    dsns: Vec<NewQueued>,
    suppressions: Vec<Suppression>,
}

fn log_unrecorded(recorded: Option<Result<(), QueueError>>) {
    if let Some(Err(error)) = recorded {
        tracing::error!(%error, "queue attempt could not be recorded");
    }
}

/// The queue actor of one process (on core 0).
pub struct QueueRunner {
    store: Arc<QueueStore>,
    node: Node,
    settings: QueueSettings,
    destinations: Rc<dyn Destinations>,
}

impl QueueRunner {
    /// A runner over `store`, delivering locally through `node`.
    pub fn new(
        store: Arc<QueueStore>,
        node: Node,
        settings: QueueSettings,
        destinations: Rc<dyn Destinations>,
    ) -> Self {
        QueueRunner { store, node, settings, destinations }
    }

    /// The store.
    pub fn store(&self) -> &Arc<QueueStore> {
        &self.store
    }

    /// Attempts destinations due at `now_ms` (wall clock, Unix ms): at most
    /// [`QUEUE_DOMAINS_CONCURRENT_MAX`] domains, concurrently, each domain's
    /// destinations over at most `connections_per_domain` connections, one
    /// after the other on each; returns when all are attempted, with how many were.
    /// (The run loop, [`QueueRunner::run`], does not wait for one domain's attempts
    /// before starting another's.)
    pub async fn run_due(&self, now_ms: i64) -> Result<usize, QueueError> {
        let store = Arc::clone(&self.store);
        let due = blocking(move || store.due(now_ms, QUEUE_DUE_BATCH_MAX)).await?;
        let groups = domain_lanes(due, self.settings.connections_per_domain, QUEUE_DOMAINS_CONCURRENT_MAX);
        let lanes: Vec<Vec<Destination>> = groups.into_iter().flat_map(|(_, lanes)| lanes).collect();
        let attempted = lanes.iter().map(Vec::len).sum();
        join_all(lanes.into_iter().map(|lane| self.run_lane(lane, now_ms)).collect()).await;
        Ok(attempted)
    }

    /// Starts the due destinations of domains not in `running` as tasks of their own, one
    /// per domain, while fewer than [`QUEUE_DOMAINS_CONCURRENT_MAX`] domains run. A slow
    /// receiver (RFC 5321 4.5.3.2 lets each reply take minutes) then holds up only its
    /// own domain's mail. Returns how many destinations were started.
    async fn start_due(
        self: &Rc<Self>,
        now_ms: i64,
        running: &mut Vec<Running>,
    ) -> Result<usize, QueueError> {
        let free = QUEUE_DOMAINS_CONCURRENT_MAX.saturating_sub(running.len());
        if free == 0 {
            return Ok(0);
        }
        let busy: std::collections::HashSet<String> = running.iter().map(|r| r.domain.clone()).collect();
        let store = Arc::clone(&self.store);
        let due =
            blocking(move || store.due_where(now_ms, QUEUE_DUE_BATCH_MAX, |d| !busy.contains(&d.domain)))
                .await?;
        let mut started = 0;
        for (domain, lanes) in domain_lanes(due, self.settings.connections_per_domain, free) {
            started += lanes.iter().map(Vec::len).sum::<usize>();
            let runner = Rc::clone(self);
            let task = moxide_runtime::spawn(async move {
                join_all(lanes.into_iter().map(|lane| runner.run_lane(lane, now_ms)).collect()).await;
            });
            running.push(Running { domain, task });
        }
        Ok(started)
    }

    /// One lane: its destinations one after the other over one connection to the same
    /// host. An attempt's outcome is committed while the lane's next message is sent:
    /// the commit waits for the disk, the transaction for the peer, and doing them one
    /// after the other bound a lane's rate by the sum (the relay's profile in
    /// docs/benchmarks-analysis.md). At most one commit is outstanding.
    async fn run_lane(&self, lane: Vec<Destination>, now_ms: i64) {
        let kept = std::cell::RefCell::new(None);
        let mut recording: Option<Pin<Box<dyn Future<Output = _> + '_>>> = None;
        for destination in lane {
            let attempted = self.attempt(destination, now_ms, &kept);
            let (recorded, attempted) = match recording.take() {
                Some(recording) => {
                    let (recorded, attempted) = futures_lite::future::zip(recording, attempted).await;
                    (Some(recorded), attempted)
                }
                None => (None, attempted.await),
            };
            log_unrecorded(recorded);
            match attempted {
                Ok(Some(attempted)) => recording = Some(Box::pin(self.record(attempted))),
                Ok(None) => {}
                Err(error) => tracing::error!(%error, "queue attempt could not be recorded"),
            }
        }
        log_unrecorded(match recording {
            Some(recording) => Some(recording.await),
            None => None,
        });
        remote::close_kept(kept.take()).await;
    }

    /// Runs until the core drains: starts each domain's due work as a task of its own,
    /// and looks again every [`QUEUE_POLL_INTERVAL_MS`] and whenever such a task ends;
    /// draining, waits for the tasks under way until the grace ends.
    pub async fn run(self) {
        let this = Rc::new(self);
        let shutdown = moxide_runtime::shutdown::notice();
        let mut running: Vec<Running> = Vec::new();
        tracing::info!("queue started");
        // At startup: the ended days not reported yet (kept across the restart).
        let mut next_reports_ms = if this.settings.tls_reports.is_some() { 0 } else { i64::MAX };
        let mut next_dmarc_ms = if this.settings.dmarc_reports.is_some() { 0 } else { i64::MAX };
        let mut next_flush_ms = 0;
        let mut next_sts_refresh_ms = 0;
        loop {
            let now_ms = crate::clock::now_unix_ms();
            if now_ms >= next_reports_ms {
                this.send_tls_reports(now_ms, false).await;
                next_reports_ms = tls_reports::next_run_ms(now_ms);
            }
            let tls_trigger = this.settings.tls_reports.as_ref().and_then(|s| s.trigger.as_ref());
            if report_mail::triggered(tls_trigger).await {
                this.send_tls_reports(now_ms, true).await;
            }
            if now_ms >= next_dmarc_ms {
                this.send_dmarc_reports(now_ms, false).await;
                next_dmarc_ms = dmarc_reports::next_run_ms(now_ms);
            }
            let dmarc_trigger = this.settings.dmarc_reports.as_ref().and_then(|s| s.trigger.as_ref());
            if report_mail::triggered(dmarc_trigger).await {
                this.send_dmarc_reports(now_ms, true).await;
            }
            if now_ms >= next_sts_refresh_ms {
                // Its own task: fetches may take 30 s each, and the queue must not wait.
                if let Some(policies) = this.settings.policies.clone() {
                    moxide_runtime::spawn_detached(async move {
                        policies.refresh_expiring(now_ms).await;
                    });
                }
                next_sts_refresh_ms = now_ms + tls_policy::STS_REFRESH_INTERVAL_MS;
            }
            if now_ms >= next_flush_ms {
                this.flush_dmarc_evaluations(now_ms).await;
                next_flush_ms = now_ms + dmarc_reports::DMARC_FLUSH_INTERVAL_MS;
            }
            match this.start_due(now_ms, &mut running).await {
                Ok(0) => {}
                Ok(started) => tracing::debug!(started, domains = running.len(), "queue attempts started"),
                Err(error) => tracing::error!(%error, "queue run failed"),
            }
            // Look again when a domain's attempts end (its backlog, or another domain
            // waiting for a free place, can start) or after the poll interval.
            let pause = moxide_runtime::time::sleep(Duration::from_millis(QUEUE_POLL_INTERVAL_MS));
            let stop = futures_lite::future::or(
                async {
                    futures_lite::future::or(pause, one_ended(&mut running)).await;
                    false
                },
                async {
                    shutdown.draining().await;
                    true
                },
            )
            .await;
            if stop {
                // Attempts under way finish (and are recorded) within the grace; what is
                // still running when it ends is left to finish on its own.
                let ended = async {
                    while let Some(run) = running.last_mut() {
                        (&mut run.task).await;
                        running.pop();
                    }
                    true
                };
                if !futures_lite::future::or(ended, async {
                    shutdown.closing().await;
                    false
                })
                .await
                {
                    for run in running {
                        run.task.detach();
                    }
                }
                tracing::info!("queue stopped");
                return;
            }
        }
    }

    /// One attempt for one destination: what [`QueueRunner::record`] then stores
    /// (`None` when the message was removed meanwhile).
    async fn attempt(
        &self,
        destination: Destination,
        now_ms: i64,
        kept: &std::cell::RefCell<Option<remote::Kept>>,
    ) -> Result<Option<Attempted>, QueueError> {
        let id = destination.key.message;
        let store = Arc::clone(&self.store);
        // One hand-off to a helper thread for the record, the bytes or the file and, when
        // it fits one read, the message itself, where there were three: each costs
        // context switches and passes of the reactor (docs/benchmarks-analysis.md, the
        // relay's profile). An inline message queued moments ago is usually still in
        // memory: then its record is read here (a short read of pages the enqueue just
        // wrote) and nothing waits for a helper thread.
        let found = match self.store.remembered(id) {
            Some(bytes) => store.message(id)?.map(|message| {
                let file = Ok(remote::MessageFile::Small(Arc::clone(&bytes)));
                (message, QueuedContent::Inline(bytes), file)
            }),
            None => {
                blocking(move || {
                    let Some((message, content)) = store.message_with_content(id)? else { return Ok(None) };
                    let opened = match &content {
                        QueuedContent::Inline(bytes) => Ok(remote::MessageFile::Small(Arc::clone(bytes))),
                        QueuedContent::File(path) => remote::MessageFile::open(path, message.size_bytes),
                    };
                    Ok(Some((message, content, opened)))
                })
                .await?
            }
        };
        let Some((message, content, opened)) = found else {
            return Ok(None); // removed meanwhile
        };
        let outcomes = match opened {
            Ok(file) => self.outcomes(&message, &destination, (&content, Arc::new(file)), now_ms, kept).await,
            Err(error) => {
                tracing::error!(%id, %error, "queued message file cannot be read");
                let reply = local_reply(451, (4, 3, 0), &format!("message file: {error}"));
                destination.recipients.iter().map(|_| RecipientOutcome::Retry(reply.clone())).collect()
            }
        };
        for (recipient, outcome) in destination.recipients.iter().zip(&outcomes) {
            match outcome {
                RecipientOutcome::Delivered => tracing::info!(%id, to = %recipient.address, "delivered"),
                RecipientOutcome::Failed(r) => {
                    tracing::info!(%id, to = %recipient.address, code = r.code, text = %r.text, "failed")
                }
                RecipientOutcome::Retry(r) => {
                    tracing::info!(%id, to = %recipient.address, code = r.code, text = %r.text, "will retry")
                }
            }
        }
        let mut draw = [0u8; 2];
        moxide_runtime::random::fill(&mut draw);
        let jitter = u16::from_be_bytes(draw) % self.settings.retry_jitter_permille_max.saturating_add(1);
        let planned = schedule::plan_with_jitter(&destination, &outcomes, now_ms, jitter);
        let mut dsns: Vec<NewQueued> = Vec::new();
        for (recipients, delay) in [(&planned.failed, false), (&planned.delayed, true)] {
            if let Some(dsn) =
                dsn::make(&self.settings, &message, content.clone(), recipients, delay, now_ms).await
            {
                dsns.push(dsn);
            }
        }
        let suppressions = schedule::hard_bounces(&message, &planned.failed, now_ms);
        for entry in &suppressions {
            tracing::info!(%id, account = %entry.account, address = %entry.address, "suppressed after a hard bounce");
        }
        Ok(Some(Attempted { update: planned.update, dsns, suppressions }))
    }

    /// Stores an attempt's outcome, its DSNs and hard bounces in one (group) commit.
    /// Until it is durable, a crash sends the message again at the next start.
    async fn record(&self, attempted: Attempted) -> Result<(), QueueError> {
        let Attempted { update, dsns, suppressions } = attempted;
        let applied = apply(&self.store, &[update], &dsns, &suppressions).await.map_err(QueueError::from);
        for spool in dsns.iter().filter_map(dsn::spool_of) {
            let _ = moxide_runtime::offload(move || std::fs::remove_file(spool)).await;
        }
        applied.map(|_| ())
    }

    async fn outcomes(
        &self,
        message: &moxide_storage::queue::QueuedMessage,
        destination: &Destination,
        (content, file): (&QueuedContent, Arc<remote::MessageFile>),
        now_ms: i64,
        kept: &std::cell::RefCell<Option<remote::Kept>>,
    ) -> Vec<RecipientOutcome> {
        let pinned = destination.recipients.iter().any(|r| r.account.is_some());
        if pinned || self.node.directory().is_local_domain(&destination.domain) {
            let spool_dir = &self.settings.spool_dir;
            return local::deliver(&self.node, spool_dir, message, destination, content, now_ms).await;
        }
        let all =
            |outcome: RecipientOutcome| destination.recipients.iter().map(|_| outcome.clone()).collect();
        let from_domain =
            message.mail_from.rsplit_once('@').map_or(String::new(), |(_, d)| d.to_ascii_lowercase());
        let query = transport::RouteQuery {
            account: &message.sender_account,
            from_domain: &from_domain,
            to_domain: &destination.domain,
            attempts_made: destination.attempts,
        };
        // Chosen once per attempt from the routes current now: a reload applies from
        // the next attempt on, never to one under way.
        let routes = std::sync::Arc::clone(self.node.directory().routes());
        let (name, chosen) = self.settings.routing.choose(&routes, &query);
        let name = name.as_str();
        let attempt = remote::RemoteAttempt {
            hostname: &self.settings.hostname,
            tls: self.settings.tls.as_ref(),
            policies: self.settings.policies.as_deref(),
            message,
            file,
            now_ms,
            kept: Some(kept),
        };
        let (ipv4, ipv6) = match &chosen {
            transport::Transport::Smarthost(smarthost) => {
                tracing::info!(id = %destination.key.message, transport = name, host = %smarthost.host, "through a smarthost");
                return match self.destinations.host(&smarthost.host, smarthost.port).await {
                    Ok(hosts) => {
                        let verified = self.settings.verified_tls.as_ref();
                        remote::attempt_smarthost(&attempt, destination, smarthost, verified, &hosts).await
                    }
                    Err(LookupError::Temporary(text) | LookupError::Permanent(text)) => {
                        // The relay's name not resolving is our configuration's
                        // problem (or DNS's): never the recipient's, so retried.
                        all(RecipientOutcome::Retry(local_reply(451, (4, 4, 3), &text)))
                    }
                };
            }
            transport::Transport::Direct { ipv4, ipv6 } => (*ipv4, *ipv6),
        };
        if message.requiretls && self.settings.policies.is_none() {
            // RFC 8689 §4.2.1: only over TLS verified by MTA-STS or DANE, which this
            // queue cannot do without policies: fail rather than send unverified.
            let text = "REQUIRETLS needs verified TLS (MTA-STS or DANE), which is not available";
            return all(RecipientOutcome::Failed(local_reply(550, (5, 7, 30), text)));
        }
        match self.destinations.hosts(&destination.domain).await {
            Ok(mut hosts) => {
                for host in &mut hosts {
                    host.addresses.retain(|a| if a.is_ipv4() { ipv4 } else { ipv6 });
                }
                hosts.retain(|host| !host.addresses.is_empty());
                if hosts.is_empty() {
                    let text = "no address of an allowed family (transport leaves IPv4 or IPv6 out)";
                    return all(RecipientOutcome::Retry(local_reply(451, (4, 4, 4), text)));
                }
                remote::attempt(&attempt, destination, &hosts).await
            }
            Err(LookupError::Temporary(text)) => {
                all(RecipientOutcome::Retry(local_reply(451, (4, 4, 3), &text)))
            }
            Err(LookupError::Permanent(text)) => {
                all(RecipientOutcome::Failed(local_reply(550, (5, 1, 2), &text)))
            }
        }
    }
}

/// A reply standing for a problem found here (no remote host said it).
fn local_reply(code: u16, enhanced: (u8, u16, u16), text: &str) -> StoredReply {
    StoredReply { code, enhanced: Some(enhanced), text: text.to_owned(), remote_host: String::new() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use moxide_storage::queue::{DestinationKey, QueueId};

    fn due(message: u64, domain: &str) -> Destination {
        Destination {
            key: DestinationKey { message: QueueId(message), index: 0 },
            domain: domain.to_owned(),
            attempts: 0,
            next_attempt_ms: 0,
            last_attempt_ms: None,
            held: false,
            delay_dsn_sent: false,
            recipients: Vec::new(),
        }
    }

    fn messages(lane: &[Destination]) -> Vec<(u64, &str)> {
        lane.iter().map(|d| (d.key.message.0, d.domain.as_str())).collect()
    }

    /// A backlog to one domain goes over several connections, dealt in due order; a
    /// domain with one message gets one; domains past the limit wait.
    #[test]
    fn lanes_split_a_busy_domain_and_cap_domains() {
        let mut list: Vec<Destination> = (1..=6).map(|n| due(n, "busy.example")).collect();
        list.push(due(7, "quiet.example"));
        list.extend((0..QUEUE_DOMAINS_CONCURRENT_MAX as u64).map(|n| due(100 + n, &format!("d{n}.example"))));
        let per_domain = 4;
        let lanes = lanes(list, per_domain);
        assert_eq!(lanes.len(), per_domain + 1 + QUEUE_DOMAINS_CONCURRENT_MAX - 2);
        assert_eq!(messages(&lanes[0]), [(1, "busy.example"), (5, "busy.example")]);
        assert_eq!(messages(&lanes[3]), [(4, "busy.example")]);
        assert_eq!(messages(&lanes[4]), [(7, "quiet.example")]);
        assert!(
            lanes.iter().flatten().all(|d| d.key.message.0 < 100 + QUEUE_DOMAINS_CONCURRENT_MAX as u64 - 2)
        );
    }

    /// The configured count: one connection per domain keeps a domain's messages in due
    /// order on one lane; 0 means one; more than a domain has due gives one lane each.
    #[test]
    fn lanes_follow_the_configured_count() {
        let list = || -> Vec<Destination> {
            let mut list: Vec<Destination> = (1..=5).map(|n| due(n, "busy.example")).collect();
            list.push(due(6, "quiet.example"));
            list
        };
        for one in [1, 0] {
            let lanes = lanes(list(), one);
            assert_eq!(lanes.len(), 2);
            assert_eq!(messages(&lanes[0]).iter().map(|m| m.0).collect::<Vec<_>>(), [1, 2, 3, 4, 5]);
        }
        let lanes = lanes(list(), 20);
        assert_eq!(lanes.len(), 6);
        assert!(lanes.iter().all(|lane| lane.len() == 1));
        // The run loop with one free place for a domain: the earliest due domain only.
        let groups = domain_lanes(list(), 4, 1);
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].0, "busy.example");
        assert_eq!(groups[0].1.iter().map(Vec::len).sum::<usize>(), 5);
    }
}
