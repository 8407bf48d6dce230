//! Starting the server from a loaded configuration: data directory, stores, TLS,
//! authentication and rate-limit state, listeners, executors, nodes. Shared by `serve`
//! and `localserve`.
//!
//! Stopping: SIGTERM or SIGINT starts a graceful shutdown (see
//! `moxide_runtime::shutdown`). Every core stops accepting; sessions between commands
//! close at once (SMTP `421 4.3.2`, IMAP `* BYE`); a session in the middle of a command
//! finishes it within `limits.shutdown_grace_secs`, a delivery being committed is
//! answered with its true outcome. A core returns once no session is open on any
//! listener (every session awaits its own account requests, so no commit is left in
//! flight), and the process exits 0. A second signal, or [`SHUTDOWN_CLOSING_MAX`] past
//! the grace, ends it at once with exit code 1 (as safe as a crash: acknowledged mail is
//! durable).

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use moxide_actors::auth::AuthServices;
use moxide_actors::dns::Dns;
use moxide_actors::imap::{ImapSettings, listener as imap_listener};
use moxide_actors::listen::IpLimits;
use moxide_actors::node::ACCOUNT_IDLE_DEFAULT;
use moxide_actors::queue::dmarc_reports::{DmarcEvaluations, DmarcReportSettings};
use moxide_actors::queue::mx::MxDestinations;
use moxide_actors::queue::tls_policy::{BoxedResolver, QueueTlsPolicies, TlsPolicySettings};
use moxide_actors::queue::tls_reports::TlsReportSettings;
use moxide_actors::queue::{Host, HostSource, QueueRunner, QueueSettings, StaticRoutes};
use moxide_actors::ratelimit::{Limiter, WindowLimit};
use moxide_actors::smtp::inbound::InboundAuth;
use moxide_actors::smtp::{SmtpSettings, listener as smtp_listener};
use moxide_actors::{Node, NodeSeed, NodeServices, node_seeds};
use moxide_runtime::net::{ConnectionLimiter, ListenerSocket, bind_per_core};
use moxide_runtime::shutdown::{ShutdownPlan, ShutdownSeed};
use moxide_runtime::tls::{CertificateFiles, TlsAcceptor, TlsConnector, TlsSettings, TrustRoots};
use moxide_runtime::{RuntimeConfig, online_cpus, spawn_detached};
use moxide_storage::dmarc_evaluations::DmarcEvalStore;
use moxide_storage::queue::QueueStore;
use moxide_storage::tls_policy::{StoredDomainTls, StoredStsPolicy, StoredTlsResults, TlsPolicyStore};
use moxide_storage::{DataDir, DataDirLock, GlobalStore, StoreCache, StoreOptions};

use crate::config::{Config, Limits, ListenerProtocol, ListenerTls, TomlDomainsFile};

/// The control socket's name in the data directory (HTTP, owner only; the CLI's way to
/// the running server).
pub(crate) const CONTROL_SOCKET: &str = "ctl.sock";

/// Concurrent control-socket connections (one CLI command each).
const CONTROL_CONNECTIONS_MAX: usize = 16;

/// How often each core adds its executor busy time to the metrics.
const BUSY_SAMPLE_INTERVAL: Duration = Duration::from_secs(5);

/// Account stores kept open at once; each costs 4 descriptors and its map's address
/// space (CRATE-NOTES: ~6k environments of 3 descriptors fit a 20k limit, so ~5k stores
/// of 4), so stay well below.
pub(crate) const OPEN_STORES_MAX: usize = 1000;

/// A store nobody used for this long is closed (its descriptors and mappings freed);
/// the next request reopens it in about a millisecond.
pub(crate) const STORE_IDLE: Duration = Duration::from_secs(300);

/// How often core 0 looks for idle stores and changed certificate files.
pub(crate) const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// After the shutdown grace: time for sessions to write their last reply and close, and
/// for a commit under way to finish (fsyncs take milliseconds to a second), before the
/// process is ended anyway. The stop is bounded by the grace plus this.
pub(crate) const SHUTDOWN_CLOSING_MAX: Duration = Duration::from_secs(5);

/// How often a stopping core checks whether sessions are still open (on any core; the
/// listeners' counters are shared). Only runs during shutdown.
const SHUTDOWN_POLL_INTERVAL: Duration = Duration::from_millis(20);

/// How often each core logs its DNS counters (hits, misses, queries) when it asked
/// anything: hourly keeps the log quiet while still showing the cache at work.
const DNS_REPORT_INTERVAL: Duration = Duration::from_secs(3600);

/// Why the server did not start or stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ServerError {
    /// The data directory could not be opened or cleaned.
    #[error("data directory: {0}")]
    Storage(#[from] moxide_storage::StorageError),
    /// A listener could not be bound.
    #[error("listening on {address} ({protocol}): {source}")]
    Bind {
        /// Address.
        address: std::net::SocketAddr,
        /// Protocol.
        protocol: &'static str,
        /// Cause.
        source: std::io::Error,
    },
    /// The certificates could not be loaded.
    #[error("TLS: {0}")]
    Tls(#[from] moxide_runtime::tls::TlsError),
    /// The runtime failed.
    #[error(transparent)]
    Runtime(#[from] moxide_runtime::RuntimeError),
    /// The signal handlers could not be installed.
    #[error("installing signal handlers: {0}")]
    Signals(std::io::Error),
    /// The admin credentials file could not be read.
    #[error("admin credentials: {0}")]
    Admin(String),
}

/// How one listener runs; `Send`, cloned into every core.
#[derive(Clone)]
struct ListenerPlan {
    protocol: ListenerProtocol,
    tls: Option<TlsAcceptor>,
    implicit_tls: bool,
    plaintext_auth: bool,
    limiter: ConnectionLimiter,
}

/// What each core receives before it starts.
struct CoreSeed {
    node: NodeSeed,
    sockets: Vec<ListenerSocket>,
}

/// State every core shares.
#[derive(Clone)]
struct Shared {
    services: NodeServices,
    smtp: Arc<moxide_protocols::smtp::ServerConfig>,
    auth: Arc<AuthServices>,
    ip_limits: Arc<IpLimits>,
    plans: Vec<ListenerPlan>,
    acceptors: Vec<TlsAcceptor>,
    spool_dir: std::path::PathBuf,
    local_catchall: Option<Arc<str>>,
    /// The outbound queue (not in localserve, which delivers everything locally).
    queue: Option<Arc<QueueStore>>,
    /// Fetched MTA-STS policies kept across restarts, and those read at startup.
    #[allow(clippy::type_complexity)]
    tls_policies:
        Option<(Arc<TlsPolicyStore>, Vec<StoredStsPolicy>, Vec<StoredTlsResults>, Vec<StoredDomainTls>)>,
    /// The queue's fixed routes and STARTTLS setting.
    queue_config: crate::config::QueueConfig,
    /// DKIM keys queued mail is signed with.
    dkim: Option<Arc<moxide_actors::queue::sign::DkimKeys>>,
    /// The resolver for MX lookups when the inbound checks have none of their own.
    queue_dns: Option<moxide_actors::dns::DnsSettings>,
    hostname: String,
    /// Graceful shutdown grace.
    shutdown_grace: Duration,
    /// The HTTP plane's shared state.
    web: Arc<moxide_web::WebServices>,
    /// Where the control socket goes.
    control_path: std::path::PathBuf,
    /// Open control-socket connections (the shutdown waits for them too).
    control_limiter: ConnectionLimiter,
    /// SIGHUP, for core 0 (taken once).
    hangup: Arc<std::sync::Mutex<Option<moxide_runtime::hangup::HangupSeed>>>,
    /// Inbound checks on SMTP listeners: `None` when off. Inside, the DNS client's
    /// settings (`None`: no lookups) and where reports are kept. Per-domain choices
    /// (`dmarc_reject`, report addresses) come from the live directory.
    inbound: Option<InboundPlan>,
    /// SMTP deliveries over quota get `552 5.2.2` rather than `452 4.2.2`.
    over_quota_permanent: bool,
    /// DMARC aggregate reports: the evaluations counted by every core's SMTP sessions
    /// and their store; `None` when off (no queue, no inbound checks, or configured off).
    dmarc: Option<(Arc<DmarcEvalStore>, DmarcEvaluations)>,
}

/// What each core needs to check incoming mail.
#[derive(Clone)]
struct InboundPlan {
    dns: Option<moxide_actors::dns::DnsSettings>,
    reports: moxide_storage::ReportStore,
}

/// Prepared server: listeners bound, ready to run.
pub(crate) struct Server {
    runtime: RuntimeConfig,
    seeds: Vec<CoreSeed>,
    shared: Shared,
    /// Addresses actually bound, with protocol and TLS mode, in listener order.
    pub(crate) bound: Vec<(ListenerProtocol, ListenerTls, std::net::SocketAddr)>,
    /// One server per data directory, for as long as it runs.
    lock: DataDirLock,
}

fn limiter(windows: &[(Duration, [u64; 3])]) -> Limiter {
    Limiter::new(windows.iter().map(|&(window, limits)| WindowLimit { window, limits }).collect())
}

fn ip_limits(limits: &Limits) -> IpLimits {
    IpLimits {
        rate: limiter(&[(Duration::from_secs(60), limits.connection_rate_per_minute)]),
        open: limiter(&[(Duration::MAX, limits.connections_per_ip)]),
        exempt: limits.ratelimit_exempt.clone(),
    }
}

impl Server {
    /// Opens the data directory, clears the spool of a previous run, loads certificates,
    /// binds every listener. `lock` is the data directory's, taken by the caller before it
    /// touched anything; it is held until the server stops.
    pub(crate) fn prepare(
        config: &Config,
        lock: DataDirLock,
        pin_cores: bool,
        local_catchall: Option<Arc<str>>,
    ) -> Result<Server, ServerError> {
        let static_config = &config.static_config;
        let cores = match static_config.cores {
            0 => online_cpus(),
            n => n,
        };
        if moxide_storage::fault::FAULT_INJECTION_BUILT {
            tracing::warn!("test build: storage fault injection is compiled in (never ship this binary)");
        }
        let data = DataDir::open(&static_config.data_dir)?;
        for (path, length) in data.clean_spool()? {
            // A crash left it; its client never got 250, so it will retry. Not trusted.
            tracing::warn!(path = %path.display(), length, "removed unacknowledged spool file from a previous run");
        }
        let stores = Arc::new(StoreCache::new(data.clone(), config.store_options(), OPEN_STORES_MAX));
        let global = Arc::new(GlobalStore::open(&data, &StoreOptions::default())?);
        // localserve delivers everything locally (as mox's does): no queue, nothing leaves.
        let queue = match local_catchall {
            Some(_) => None,
            None => Some(Arc::new(QueueStore::open(&data, &StoreOptions::default())?)),
        };
        let tls_policies = match &queue {
            Some(_) => {
                let store = TlsPolicyStore::open(&data, &StoreOptions::default())?;
                let stored = store.policies().unwrap_or_else(|error| {
                    tracing::error!(%error, "stored MTA-STS policies unreadable; starting without them");
                    Vec::new()
                });
                let results = store.results().unwrap_or_else(|error| {
                    tracing::error!(%error, "stored TLS report results unreadable; starting without them");
                    Vec::new()
                });
                let domain_tls = store.domain_tls().unwrap_or_else(|error| {
                    tracing::error!(%error, "stored TLS memory unreadable; starting without it");
                    Vec::new()
                });
                Some((Arc::new(store), stored, results, domain_tls))
            }
            None => None,
        };
        let dmarc = match &queue {
            Some(_) if static_config.queue.dmarc_reports && static_config.inbound_checks => {
                let store = DmarcEvalStore::open(&data, &StoreOptions::default())?;
                Some((Arc::new(store), DmarcEvaluations::default()))
            }
            _ => None,
        };
        // Keys for signing queued mail, made where a domain has none.
        let dkim = queue.as_ref().map(|_| {
            Arc::new(crate::dkim_keys::ensure_and_load(config, moxide_actors::clock::now_unix_ms() / 1000))
        });
        let mut decoy_key = [0u8; 32];
        moxide_runtime::random::fill(&mut decoy_key);
        let limits = &static_config.limits;
        let auth = Arc::new(AuthServices {
            failures: limiter(&[
                (Duration::from_secs(60), limits.auth_failures_per_minute),
                (Duration::from_secs(86_400), limits.auth_failures_per_day),
            ]),
            global: Some(global),
            exempt: limits.ratelimit_exempt.clone(),
            decoy_key,
            verified: moxide_actors::auth::VerifiedPasswords::new(),
        });
        let certificates: Vec<CertificateFiles> = static_config
            .tls
            .certificates
            .iter()
            .map(|c| CertificateFiles { chain: c.chain.clone(), key: c.key.clone() })
            .collect();
        let mut seeds: Vec<CoreSeed> =
            node_seeds(cores).into_iter().map(|node| CoreSeed { node, sockets: Vec::new() }).collect();
        let mut bound = Vec::new();
        let mut plans = Vec::new();
        let mut acceptors = Vec::new();
        for listener in &static_config.listeners {
            let mode = match listener.tls {
                ListenerTls::Auto if listener.protocol == ListenerProtocol::Http => ListenerTls::None,
                ListenerTls::Auto if certificates.is_empty() => ListenerTls::None,
                ListenerTls::Auto => ListenerTls::StartTls,
                other => other,
            };
            let tls = if mode == ListenerTls::None {
                None
            } else {
                let mut settings = TlsSettings::new(certificates.clone());
                settings.alpn = match listener.protocol {
                    ListenerProtocol::Imap => vec![b"imap".to_vec()],
                    ListenerProtocol::Http => vec![b"h2".to_vec(), b"http/1.1".to_vec()],
                    ListenerProtocol::Smtp | ListenerProtocol::Submission => vec![b"smtp".to_vec()],
                };
                settings.request_client_certificate =
                    matches!(listener.protocol, ListenerProtocol::Submission | ListenerProtocol::Imap);
                let acceptor = TlsAcceptor::new(settings)?;
                acceptors.push(acceptor.clone());
                Some(acceptor)
            };
            let (address, sockets) = bind_per_core(listener.address, cores).map_err(|source| {
                ServerError::Bind { address: listener.address, protocol: listener.protocol.name(), source }
            })?;
            for (seed, socket) in seeds.iter_mut().zip(sockets) {
                seed.sockets.push(socket);
            }
            bound.push((listener.protocol, mode, address));
            plans.push(ListenerPlan {
                protocol: listener.protocol,
                tls,
                implicit_tls: mode == ListenerTls::Implicit,
                plaintext_auth: listener.plaintext_auth_allowed(),
                limiter: ConnectionLimiter::new(limits.connections_max),
            });
        }
        let services = NodeServices {
            stores,
            directory: Arc::new(config.directory.clone()),
            account_idle: ACCOUNT_IDLE_DEFAULT,
        };
        let runtime = RuntimeConfig { pin_to_cpus: pin_cores, ..RuntimeConfig::default() };
        let web = web_services(config, &auth, &services.stores, queue.as_ref(), &data)?;
        let shared = Shared {
            services,
            smtp: Arc::new(config.smtp_protocol()),
            auth,
            ip_limits: Arc::new(ip_limits(limits)),
            plans,
            acceptors,
            spool_dir: data.spool_dir(),
            local_catchall,
            queue,
            tls_policies,
            dkim,
            queue_config: static_config.queue.clone(),
            queue_dns: static_config
                .dns
                .settings(std::fs::read_to_string(crate::config::RESOLV_CONF_PATH).ok().as_deref()),
            hostname: static_config.hostname.clone(),
            shutdown_grace: Duration::from_secs(limits.shutdown_grace_secs),
            web,
            control_path: static_config.data_dir.join(CONTROL_SOCKET),
            control_limiter: ConnectionLimiter::new(CONTROL_CONNECTIONS_MAX),
            hangup: Arc::new(std::sync::Mutex::new(None)),
            inbound: inbound_plan(config, &data),
            over_quota_permanent: static_config.over_quota_permanent,
            dmarc,
        };
        Ok(Server { runtime, seeds, shared, bound, lock })
    }

    /// Runs until a graceful shutdown completes (see the module docs).
    pub(crate) fn run(self) -> Result<(), ServerError> {
        let Server { runtime, seeds, shared, bound: _, lock } = self;
        start_orphan_sweep(Arc::clone(&shared.services.stores));
        let plan = ShutdownPlan {
            grace: shared.shutdown_grace,
            force_after: shared.shutdown_grace + SHUTDOWN_CLOSING_MAX,
        };
        let signals =
            moxide_runtime::shutdown::catch_signals(seeds.len(), plan).map_err(ServerError::Signals)?;
        let hangup = moxide_runtime::hangup::catch_hangup().map_err(ServerError::Signals)?;
        *shared.hangup.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(hangup);
        let seeds: Vec<(CoreSeed, ShutdownSeed)> = seeds.into_iter().zip(signals).collect();
        let dmarc = shared.dmarc.clone();
        moxide_runtime::run(&runtime, seeds, move |core, (seed, signal)| {
            let shared = shared.clone();
            async move {
                let shutdown = signal.start();
                let node = Node::start(core, seed.node, shared.services.clone()).await;
                if core.index == 0 {
                    spawn_detached(sweep(node.clone(), shared.acceptors.clone()));
                    start_control(&shared, &node);
                }
                spawn_detached(moxide_actors::metrics::sample_executor_busy(
                    core.index,
                    BUSY_SAMPLE_INTERVAL,
                ));
                // One DNS client (cache) per core, shared by its SMTP listeners.
                let inbound = shared.inbound.as_ref().map(|plan| InboundAuth {
                    dns: plan.dns.clone().map(Dns::new),
                    reports: Some(plan.reports.clone()),
                    evaluations: shared.dmarc.as_ref().map(|(_, evaluations)| evaluations.clone()),
                });
                let dns = inbound.as_ref().and_then(|inbound| inbound.dns.clone());
                if let Some(dns) = &dns {
                    spawn_detached(report_dns(core.index, dns.clone()));
                }
                if core.index == 0 {
                    start_queue(
                        &shared,
                        &node,
                        dns.clone().or_else(|| shared.queue_dns.clone().map(Dns::new)),
                    );
                }
                start_listeners(&shared, &node, seed.sockets, inbound.as_ref());
                shutdown.draining().await;
                while shared.plans.iter().any(|plan| plan.limiter.open() > 0)
                    || shared.control_limiter.open() > 0
                {
                    moxide_runtime::time::sleep(SHUTDOWN_POLL_INTERVAL).await;
                }
                if let Some(dns) = &dns {
                    log_dns_stats(core.index, dns, "dns counters at stop");
                }
                if core.index == 0 {
                    tracing::info!("all sessions closed");
                }
            }
        })?;
        // Every session has ended: the DMARC counts of the last minute are stored now,
        // so a graceful stop loses none.
        if let Some((store, evaluations)) = dmarc {
            evaluations.store_blocking(&store, moxide_actors::clock::now_unix_ms());
        }
        drop(lock);
        tracing::info!("stopped");
        Ok(())
    }
}

/// The inbound checks' plan: DNS settings from the config or /etc/resolv.conf.
fn inbound_plan(config: &Config, data: &DataDir) -> Option<InboundPlan> {
    let static_config = &config.static_config;
    if !static_config.inbound_checks {
        return None;
    }
    let resolv_conf = match std::fs::read_to_string(crate::config::RESOLV_CONF_PATH) {
        Ok(text) => Some(text),
        Err(error) if static_config.dns.resolvers.is_empty() && static_config.dns.use_resolv_conf => {
            tracing::warn!(%error, "cannot read {}; asking 127.0.0.1:53", crate::config::RESOLV_CONF_PATH);
            None
        }
        Err(_) => None,
    };
    let dns = static_config.dns.settings(resolv_conf.as_deref());
    match &dns {
        Some(settings) => {
            let servers: Vec<String> =
                settings.exchange.servers.iter().map(|s| s.address.to_string()).collect();
            tracing::info!(resolvers = %servers.join(" "), "inbound checks on");
        }
        None => tracing::info!("inbound checks on without DNS: results are \"none\""),
    }
    Some(InboundPlan { dns, reports: moxide_storage::ReportStore::new(data) })
}

/// Starts this core's accept loop for every listener.
fn start_listeners(
    shared: &Shared,
    node: &Node,
    sockets: Vec<ListenerSocket>,
    inbound: Option<&InboundAuth>,
) {
    for (plan, socket) in shared.plans.iter().zip(sockets) {
        let listener = match socket.into_listener() {
            Ok(listener) => listener,
            Err(error) => {
                tracing::error!(%error, protocol = ?plan.protocol, "listener not started on this core");
                continue;
            }
        };
        let limiter = plan.limiter.clone();
        let ip_limits = Arc::clone(&shared.ip_limits);
        match plan.protocol {
            ListenerProtocol::Smtp | ListenerProtocol::Submission => {
                let mut settings = smtp_settings(shared, plan);
                if plan.protocol == ListenerProtocol::Smtp {
                    settings.inbound = inbound.cloned();
                }
                let settings = Rc::new(settings);
                spawn_detached(smtp_listener::serve(node.clone(), settings, listener, limiter, ip_limits));
            }
            ListenerProtocol::Imap => {
                let settings = Rc::new(imap_settings(shared, plan));
                spawn_detached(imap_listener::serve(node.clone(), settings, listener, limiter, ip_limits));
            }
            ListenerProtocol::Http => {
                let web = Arc::clone(&shared.web);
                let tls = plan.tls.clone();
                spawn_detached(moxide_web::server::serve(
                    node.clone(),
                    web,
                    tls,
                    listener,
                    limiter,
                    ip_limits,
                ));
            }
        }
    }
}

/// Starts the outbound queue's runner on this core (core 0): fixed routes first, then
/// MX lookup through this core's DNS client.
fn start_queue(shared: &Shared, node: &Node, dns: Option<Dns>) {
    let Some(store) = shared.queue.clone() else { return };
    let routes = shared.queue_config.fixed_routes().map(|(domain, host, address)| {
        let name = host.unwrap_or_else(|| address.ip().to_string());
        (domain, Host { name, addresses: vec![address], source: HostSource::Route })
    });
    // Checked when the configuration was loaded.
    let routing = shared.queue_config.routing().unwrap_or_else(|error| {
        tracing::error!(%error, "queue routing refused; delivering directly");
        moxide_actors::queue::transport::Routing::default()
    });
    let verified_tls = match trust_roots(&shared.queue_config).map(|roots| TlsConnector::webpki(&roots)) {
        Some(Ok(connector)) => Some(connector),
        Some(Err(error)) => {
            tracing::error!(%error, "no verifying client TLS; smarthosts that require TLS are not used");
            None
        }
        None => None,
    };
    let tls = if shared.queue_config.starttls {
        match TlsConnector::opportunistic_unverified() {
            Ok(connector) => Some(connector),
            Err(error) => {
                tracing::error!(%error, "no client TLS for the queue; sending in plaintext");
                None
            }
        }
    } else {
        None
    };
    let policies = dns.clone().map(|dns| Rc::new(tls_policies(shared, dns)));
    let settings = QueueSettings {
        hostname: shared.hostname.clone(),
        tls,
        policies,
        spool_dir: shared.spool_dir.clone(),
        retry_jitter_permille_max: moxide_actors::queue::schedule::RETRY_JITTER_PERMILLE_MAX,
        tls_reports: tls_report_settings(shared, node),
        dmarc_reports: dmarc_report_settings(shared, node, dns.clone()),
        routing,
        verified_tls,
        connections_per_domain: shared.queue_config.connections_per_domain,
    };
    let destinations = MxDestinations::new(dns, StaticRoutes::new(routes), shared.queue_config.mx_port);
    let runner = QueueRunner::new(store, node.clone(), settings, Rc::new(destinations));
    spawn_detached(runner.run());
}

/// Test hook: the file whose appearance makes the queue send the TLS reports at once,
/// the current day included (docs/operations.md). Never set in production.
const TLS_REPORTS_TRIGGER_ENV: &str = "MOXIDE_TEST_TLS_REPORTS_TRIGGER";

/// Test hook: the file whose appearance makes the queue send the DMARC aggregate
/// reports at once, the current day included. Never set in production.
const DMARC_REPORTS_TRIGGER_ENV: &str = "MOXIDE_TEST_DMARC_REPORTS_TRIGGER";

/// Test hook: milliseconds after which a cached MTA-STS policy's `_mta-sts` record is
/// asked again when the policy is used (hourly otherwise), so a test sees a changed
/// policy id at once. Never set in production.
const STS_RECORD_CHECK_ENV: &str = "MOXIDE_TEST_STS_RECORD_CHECK_MS";

/// Who sends our reports (TLS and DMARC): the configured address, else `postmaster@`
/// our hostname's local domain (the longest local domain the hostname is in, else the
/// hostname); and the reporting domain, the address's, whose DKIM keys sign them.
fn report_sender(shared: &Shared, node: &Node) -> (String, String) {
    let hostname = shared.hostname.to_ascii_lowercase();
    let mut labels = hostname.as_str();
    let submitter = loop {
        if node.directory().is_local_domain(labels) {
            break labels.to_owned();
        }
        match labels.split_once('.') {
            Some((_, rest)) if rest.contains('.') => labels = rest,
            _ => break hostname.clone(),
        }
    };
    let from =
        shared.queue_config.tls_report_address.clone().unwrap_or_else(|| format!("postmaster@{submitter}"));
    let submitter = from.rsplit_once('@').map_or(submitter, |(_, domain)| domain.to_ascii_lowercase());
    (from, submitter)
}

/// Who sends the daily TLS reports.
fn tls_report_settings(shared: &Shared, node: &Node) -> Option<TlsReportSettings> {
    let config = &shared.queue_config;
    if !config.tls_reports {
        return None;
    }
    let (from, submitter) = report_sender(shared, node);
    Some(TlsReportSettings {
        organization: config.tls_report_organization.clone().unwrap_or_else(|| shared.hostname.clone()),
        contact: config.tls_report_contact.clone().unwrap_or_else(|| from.clone()),
        from,
        submitter,
        dkim: shared.dkim.clone(),
        trigger: std::env::var_os(TLS_REPORTS_TRIGGER_ENV).map(std::path::PathBuf::from),
    })
}

/// Who sends the daily DMARC aggregate reports, and the counts they are made of;
/// `None` without a DNS client (the records cannot be looked up).
fn dmarc_report_settings(shared: &Shared, node: &Node, dns: Option<Dns>) -> Option<DmarcReportSettings> {
    let (store, evaluations) = shared.dmarc.clone()?;
    let dns = dns?;
    let (from, submitter) = report_sender(shared, node);
    Some(DmarcReportSettings {
        organization: shared
            .queue_config
            .tls_report_organization
            .clone()
            .unwrap_or_else(|| shared.hostname.clone()),
        from,
        submitter,
        dkim: shared.dkim.clone(),
        evaluations,
        store,
        resolver: Rc::new(BoxedResolver::new(dns)),
        trigger: std::env::var_os(DMARC_REPORTS_TRIGGER_ENV).map(std::path::PathBuf::from),
    })
}

/// The trusted roots (MTA-STS, smarthosts): the system bundle and the extra files (a
/// file that cannot be read is logged and skipped); `None` when there are none.
fn trust_roots(config: &crate::config::QueueConfig) -> Option<TrustRoots> {
    let mut files: Vec<std::path::PathBuf> = config.tls_roots_extra.clone();
    if !config.tls_roots_file.as_os_str().is_empty() {
        files.insert(0, config.tls_roots_file.clone());
    }
    let readable: Vec<_> = files
        .into_iter()
        .filter(|file| match std::fs::metadata(file) {
            Ok(_) => true,
            Err(error) => {
                tracing::warn!(file = %file.display(), %error, "trusted roots file skipped");
                false
            }
        })
        .collect();
    match TrustRoots::load(&readable) {
        Ok(roots) => Some(roots),
        Err(error) => {
            tracing::error!(%error, "no trusted roots: MTA-STS is off, and smarthosts that require TLS are not used");
            None
        }
    }
}

/// DANE and MTA-STS for the queue: roots from the system bundle and the extra files
/// (a file that cannot be read is logged and skipped; no roots at all turns MTA-STS off).
fn tls_policies(shared: &Shared, dns: Dns) -> QueueTlsPolicies {
    let config = &shared.queue_config;
    let roots = if config.mta_sts { trust_roots(config) } else { None };
    let (store, stored, results, domain_tls) = match &shared.tls_policies {
        Some((store, stored, results, domain_tls)) => {
            (Some(Arc::clone(store)), stored.clone(), results.clone(), domain_tls.clone())
        }
        None => (None, Vec::new(), Vec::new(), Vec::new()),
    };
    let record_check_interval_ms = std::env::var(STS_RECORD_CHECK_ENV)
        .ok()
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(moxide_actors::queue::tls_policy::STS_RECORD_CHECK_INTERVAL_MS);
    let settings = TlsPolicySettings {
        store,
        roots,
        dane: config.dane,
        mta_sts_port: config.mta_sts_port,
        record_check_interval_ms,
    };
    QueueTlsPolicies::new(BoxedResolver::new(dns), settings, stored, results).with_domain_tls(domain_tls)
}

/// The HTTP plane's shared state: live configuration over the domains file, the admin
/// credentials in the data directory, the request limiter, the metrics registry.
fn web_services(
    config: &Config,
    auth: &Arc<AuthServices>,
    stores: &Arc<StoreCache>,
    queue: Option<&Arc<QueueStore>>,
    data: &DataDir,
) -> Result<Arc<moxide_web::WebServices>, ServerError> {
    let static_config = &config.static_config;
    let file = TomlDomainsFile::of(config);
    let live = moxide_web::LiveConfig::new(crate::config::directory_spec(&config.domains), Box::new(file));
    let admin = moxide_web::AdminStore::open(&static_config.data_dir).map_err(ServerError::Admin)?;
    let limits = &static_config.limits;
    Ok(Arc::new(moxide_web::WebServices {
        auth: Arc::clone(auth),
        live: Arc::new(live),
        admin,
        sessions: moxide_web::Sessions::default(),
        requests: limiter(&[(Duration::from_secs(60), limits.http_requests_per_minute)]),
        exempt: limits.ratelimit_exempt.clone(),
        hostname: static_config.hostname.clone(),
        data_dir: static_config.data_dir.clone(),
        registry: moxide_web::registry(Arc::clone(stores)),
        imports: moxide_web::import::Imports::default(),
        import_bytes_max: limits.import_bytes_max,
        message_bytes_max: limits.message_bytes_max,
        queue: queue.cloned(),
        reports: moxide_storage::ReportStore::new(data),
        // Checked when the configuration was loaded.
        transports: static_config.queue.routing().unwrap_or_default(),
    }))
}

/// Core 0: the control socket (the CLI's way in) and SIGHUP (reload the domains file).
fn start_control(shared: &Shared, node: &Node) {
    match moxide_runtime::unix::UnixListener::bind_private(&shared.control_path) {
        Ok(listener) => spawn_detached(moxide_web::server::serve_control(
            node.clone(),
            Arc::clone(&shared.web),
            listener,
            shared.control_limiter.clone(),
        )),
        Err(error) => {
            tracing::error!(path = %shared.control_path.display(), %error, "cannot listen on the control socket; CLI commands cannot reach this server");
        }
    }
    let hangup = shared.hangup.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
    if let Some(hangup) = hangup {
        let node = node.clone();
        let live = Arc::clone(&shared.web.live);
        spawn_detached(async move {
            let mut hangups = match hangup.start() {
                Ok(hangups) => hangups,
                Err(error) => {
                    tracing::error!(%error, "watching for SIGHUP; reload with `moxide config reload` instead");
                    return;
                }
            };
            while hangups.next().await {
                tracing::info!("SIGHUP: reloading the domains file");
                if let Err(error) = moxide_web::live::reload(&node, &live).await {
                    tracing::error!(error = %error.message, "reload refused; the running configuration is unchanged");
                }
            }
        });
    }
}

fn smtp_settings(shared: &Shared, plan: &ListenerPlan) -> SmtpSettings {
    let submission = plan.protocol == ListenerProtocol::Submission;
    let mut protocol = moxide_protocols::smtp::ServerConfig::clone(&shared.smtp);
    protocol.submission = submission;
    let mut settings =
        SmtpSettings::new(Arc::new(protocol), shared.spool_dir.clone(), Arc::clone(&shared.auth));
    settings.tls = plan.tls.clone();
    settings.implicit_tls = plan.implicit_tls;
    settings.plaintext_auth = plan.plaintext_auth;
    settings.local_catchall = if submission { shared.local_catchall.clone() } else { None };
    // Every listener: submission queues other domains, and any listener queues local
    // retries for accounts that fail temporarily.
    settings.queue = shared.queue.clone();
    settings.dkim = if submission { shared.dkim.clone() } else { None };
    settings.over_quota_permanent = shared.over_quota_permanent;
    settings
}

fn imap_settings(shared: &Shared, plan: &ListenerPlan) -> ImapSettings {
    let mut settings =
        ImapSettings::new(shared.smtp.hostname.clone(), shared.spool_dir.clone(), Arc::clone(&shared.auth));
    settings.tls = plan.tls.clone();
    settings.implicit_tls = plan.implicit_tls;
    settings.plaintext_auth = plan.plaintext_auth;
    settings
}

/// The startup orphan sweep: every account's message files that its index does not
/// refer to (left by a crash or a commit of unknown outcome) are moved aside, on a thread
/// of its own while the server runs (it takes each store's writer lock one directory at a
/// time, so deliveries go on).
fn start_orphan_sweep(stores: Arc<StoreCache>) {
    let spawned =
        std::thread::Builder::new().name("orphan-sweep".into()).spawn(move || match stores.sweep_orphans() {
            Ok(0) => tracing::debug!("orphan sweep found nothing"),
            Ok(moved) => tracing::warn!(moved, "orphan sweep moved files aside"),
            Err(error) => tracing::error!(%error, "orphan sweep failed"),
        });
    if let Err(error) = spawned {
        tracing::error!(%error, "cannot start the orphan sweep");
    }
}

/// Periodic housekeeping on core 0: closes account stores idle for [`STORE_IDLE`] (the
/// LRU bounds the count; this frees the rest over time) and reloads certificate files
/// that changed. Both are blocking, so offloaded.
/// Logs one core's DNS counters every [`DNS_REPORT_INTERVAL`] when it asked anything since
/// the last time: the cache's hit rate shows whether the resolver is being spared.
async fn report_dns(core: usize, dns: Dns) {
    let mut last = dns.stats();
    loop {
        moxide_runtime::time::sleep(DNS_REPORT_INTERVAL).await;
        let now = dns.stats();
        if now.cache.hits + now.cache.misses != last.cache.hits + last.cache.misses {
            log_dns_stats(core, &dns, "dns counters");
        }
        last = now;
    }
}

fn log_dns_stats(core: usize, dns: &Dns, message: &str) {
    let stats = dns.stats();
    tracing::info!(
        core,
        hits = stats.cache.hits,
        misses = stats.cache.misses,
        joined = stats.joined,
        exchanges = stats.exchanges,
        overloaded = stats.overloaded,
        evictions = stats.cache.evictions,
        entries = stats.cache.entries,
        bytes = stats.cache.bytes,
        "{message}"
    );
}

async fn sweep(node: Node, acceptors: Vec<TlsAcceptor>) {
    loop {
        moxide_runtime::time::sleep(SWEEP_INTERVAL).await;
        let stores = Arc::clone(node.stores());
        match moxide_runtime::offload(move || stores.close_idle(STORE_IDLE)).await {
            Ok(0) => {}
            Ok(closed) => tracing::debug!(closed, "closed idle account stores"),
            Err(panic) => tracing::error!(%panic, "closing idle stores panicked"),
        }
        let acceptors = acceptors.clone();
        let reloaded = moxide_runtime::offload(move || {
            acceptors.iter().filter(|a| matches!(a.reload_if_changed(), Ok(true))).count()
        })
        .await;
        if let Ok(count) = reloaded
            && count > 0
        {
            tracing::info!(count, "reloaded changed TLS certificates");
        }
    }
}
