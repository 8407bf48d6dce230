//! Configuration files: the static file (listeners, data dir, limits) and the domains file
//! (domains, accounts, addresses). Both TOML. Passwords are never in either: the account
//! store keeps argon2id hashes (`moxide setaccountpassword`).
//!
//! Relative paths in the static file are relative to the directory holding it, so a config
//! directory can be moved as a whole.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use moxide_actors::directory::SendLimits;
use moxide_actors::queue::transport::{DIRECT, Route};
use moxide_actors::{AccountSpec, AliasSpec, Directory, DirectoryError, DirectorySpec, DomainSpec};
use moxide_protocols::smtp::ServerConfig;
use serde::{Deserialize, Serialize};

/// The static configuration file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct StaticConfig {
    /// Host name in greetings and trace headers.
    pub(crate) hostname: String,
    /// Data directory (accounts, spool).
    pub(crate) data_dir: PathBuf,
    /// Domains and accounts file.
    pub(crate) domains_file: PathBuf,
    /// Executors to run; 0: one per online CPU.
    #[serde(default)]
    pub(crate) cores: usize,
    /// Pin each executor to a CPU.
    #[serde(default = "default_true")]
    pub(crate) pin_cores: bool,
    /// Protocol limits.
    #[serde(default)]
    pub(crate) limits: Limits,
    /// Certificates for TLS listeners.
    #[serde(default)]
    pub(crate) tls: TlsConfig,
    /// Where to listen.
    #[serde(default)]
    pub(crate) listeners: Vec<Listener>,
    /// The outbound queue.
    #[serde(default)]
    pub(crate) queue: QueueConfig,
    /// Check incoming mail on SMTP listeners (SPF, DKIM, DMARC, iprev, ARC) and record the
    /// results in an Authentication-Results header.
    #[serde(default = "default_true")]
    pub(crate) inbound_checks: bool,
    /// The DNS resolver the checks use.
    #[serde(default)]
    pub(crate) dns: DnsConfig,
    /// Refuse SMTP deliveries over a recipient's quota with `552 5.2.2` (for good)
    /// instead of `452 4.2.2` (try again later).
    #[serde(default)]
    pub(crate) over_quota_permanent: bool,
}

/// Where DNS questions go (`[dns]`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct DnsConfig {
    /// Recursive resolvers as `IP:port`, asked in order (at most 3). Empty: the
    /// `nameserver` lines of /etc/resolv.conf, if `use_resolv_conf`.
    pub(crate) resolvers: Vec<SocketAddr>,
    /// Read /etc/resolv.conf when `resolvers` is empty. Off (localserve): no resolver, no
    /// lookups at all; the checks report `none`.
    pub(crate) use_resolv_conf: bool,
    /// Believe the AD bit (DNSSEC validated) from resolvers on loopback: set it when a
    /// validating resolver (unbound, ...) runs on this machine. Unset: resolv.conf's
    /// `options trust-ad`. Never believed from other addresses.
    pub(crate) trust_ad: Option<bool>,
    /// Time one resolver gets per try, milliseconds. Unset: resolv.conf's `timeout:`, else
    /// 3000.
    pub(crate) attempt_timeout_ms: Option<u64>,
    /// Rounds over all resolvers. Unset: resolv.conf's `attempts:`, else 2.
    pub(crate) attempts: Option<u32>,
    /// Answers cached per core.
    pub(crate) cache_entries_max: usize,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            resolvers: Vec::new(),
            use_resolv_conf: true,
            trust_ad: None,
            attempt_timeout_ms: None,
            attempts: None,
            cache_entries_max: moxide_actors::dns::ENTRIES_MAX_DEFAULT,
        }
    }
}

/// Where the system's resolvers are listed.
pub(crate) const RESOLV_CONF_PATH: &str = "/etc/resolv.conf";

impl DnsConfig {
    /// The DNS client's settings, or `None` when no lookups are to be made. `resolv_conf`
    /// is the text of /etc/resolv.conf (read by the caller), used when no resolvers are
    /// configured; without nameserver lines the local machine's (127.0.0.1:53) is asked,
    /// as the C library does.
    pub(crate) fn settings(&self, resolv_conf: Option<&str>) -> Option<moxide_actors::dns::DnsSettings> {
        use moxide_protocols::dns::{ExchangeConfig, NameServer, ResolvConf};
        let system = match (&self.resolvers[..], self.use_resolv_conf) {
            ([], false) => return None,
            ([], true) => ResolvConf::parse(resolv_conf.unwrap_or("")),
            _ => ResolvConf::parse(""),
        };
        let trust_ad = self.trust_ad.unwrap_or(system.trust_ad);
        let addresses: Vec<SocketAddr> = if !self.resolvers.is_empty() {
            self.resolvers.clone()
        } else if system.nameservers.is_empty() {
            vec![SocketAddr::from(([127, 0, 0, 1], 53))]
        } else {
            system.nameservers.iter().map(|&ip| SocketAddr::new(ip, 53)).collect()
        };
        let servers = addresses
            .into_iter()
            .map(|address| NameServer { address, trust_ad: trust_ad && address.ip().is_loopback() })
            .collect();
        let exchange = ExchangeConfig {
            servers,
            attempts: self.attempts.unwrap_or(system.attempts),
            attempt_timeout_ms: self.attempt_timeout_ms.unwrap_or(system.attempt_timeout_ms),
        }
        .clamped();
        Some(moxide_actors::dns::DnsSettings {
            exchange: std::sync::Arc::new(exchange),
            cache_entries_max: self.cache_entries_max,
        })
    }
}

/// The outbound queue's settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct QueueConfig {
    /// Fixed hosts for recipient domains (`domain` + `address`, tried in order instead
    /// of their MX hosts). The routes that choose transports are in the domains file.
    pub(crate) routes: Vec<RouteConfig>,
    /// Named transports (smarthosts, or direct delivery with options).
    pub(crate) transports: BTreeMap<String, TransportConfig>,
    /// Use STARTTLS when a server offers it (opportunistic, certificate not verified).
    pub(crate) starttls: bool,
    /// Port of the hosts found by MX lookup: 25; another only for tests.
    pub(crate) mx_port: u16,
    /// Most connections to one recipient domain (or smarthost) at once.
    pub(crate) connections_per_domain: usize,
    /// Apply recipient domains' MTA-STS policies (RFC 8461).
    pub(crate) mta_sts: bool,
    /// Apply DANE (RFC 7672) to MX hosts found through authentic DNS answers.
    pub(crate) dane: bool,
    /// The system's trusted roots (PEM bundle) for MTA-STS; empty: none.
    pub(crate) tls_roots_file: PathBuf,
    /// More trusted roots (PEM files), e.g. a private CA.
    pub(crate) tls_roots_extra: Vec<PathBuf>,
    /// Port of MTA-STS policy servers: 443; another only for tests.
    pub(crate) mta_sts_port: u16,
    /// Send the daily SMTP TLS reports (RFC 8460) to recipient domains that ask.
    pub(crate) tls_reports: bool,
    /// `From:` of TLS reports; default `postmaster@` our hostname's local domain.
    pub(crate) tls_report_address: Option<String>,
    /// The reports' `organization-name`; default the hostname.
    pub(crate) tls_report_organization: Option<String>,
    /// The reports' `contact-info`; default the reporting address.
    pub(crate) tls_report_contact: Option<String>,
    /// Count DMARC evaluations of incoming mail and send the daily aggregate reports
    /// (RFC 7489 §7.2) to the domains that ask; sender and organization as for TLS reports.
    pub(crate) dmarc_reports: bool,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            routes: Vec::new(),
            transports: BTreeMap::new(),
            starttls: true,
            mx_port: 25,
            connections_per_domain: moxide_actors::queue::QUEUE_CONNECTIONS_PER_DOMAIN_DEFAULT,
            mta_sts: true,
            dane: true,
            tls_roots_file: PathBuf::from(SYSTEM_ROOTS_FILE),
            tls_roots_extra: Vec::new(),
            mta_sts_port: 443,
            tls_reports: true,
            tls_report_address: None,
            tls_report_organization: None,
            tls_report_contact: None,
            dmarc_reports: true,
        }
    }
}

/// Debian's bundle of the system's trusted roots (the `ca-certificates` package).
pub(crate) const SYSTEM_ROOTS_FILE: &str = "/etc/ssl/certs/ca-certificates.crt";

/// A fixed route (`[[queue.routes]]`): mail for the recipient domain goes to `address`
/// instead of its MX hosts (direct delivery). The fields of transport routes are read
/// only to say that those are in the domains file now.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RouteConfig {
    /// The recipient domain.
    pub(crate) domain: Option<String>,
    /// The host's name (TLS SNI, logs, DSNs); default: the address.
    pub(crate) host: Option<String>,
    /// Where it listens.
    pub(crate) address: Option<SocketAddr>,
    /// A transport route's transport (refused here: the domains file has them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) transport: Option<String>,
    /// A transport route's condition (refused here, likewise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) from_domain: Vec<String>,
    /// A transport route's condition (refused here, likewise).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) to_domain: Vec<String>,
    /// A transport route's condition (refused here, likewise).
    #[serde(skip_serializing_if = "is_zero")]
    pub(crate) minimum_attempts: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A route that chooses a transport, in the domains file (global `[[routes]]`,
/// `[[domains.<name>.routes]]`, `[[accounts.<name>.routes]]`): reloaded live, as mox
/// keeps its routes in domains.conf and its transports in mox.conf.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct RouteEntry {
    /// The transport's name (`direct`, or one of the static file's `queue.transports`).
    pub(crate) transport: String,
    /// `MAIL FROM` domains it applies to; empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) from_domain: Vec<String>,
    /// Recipient domains it applies to; empty: any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) to_domain: Vec<String>,
    /// Attempts already made before it applies; 0: from the first.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) minimum_attempts: u32,
}

impl RouteEntry {
    fn route(&self) -> Route {
        Route {
            from_domains: self.from_domain.clone(),
            to_domains: self.to_domain.clone(),
            minimum_attempts: self.minimum_attempts,
            transport: self.transport.clone(),
        }
    }

    fn of(route: &Route) -> RouteEntry {
        RouteEntry {
            transport: route.transport.clone(),
            from_domain: route.from_domains.clone(),
            to_domain: route.to_domains.clone(),
            minimum_attempts: route.minimum_attempts,
        }
    }
}

/// What kind of transport.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TransportKind {
    /// A smarthost with TLS from the first byte (RFC 8314), default port 465.
    Submissions,
    /// A smarthost with STARTTLS required (RFC 6409), default port 587.
    Submission,
    /// A smarthost on SMTP, default port 25: STARTTLS opportunistic unless
    /// `require_tls`.
    Smtp,
    /// MX delivery, optionally without IPv4 or IPv6.
    Direct,
}

/// A named transport (`[queue.transports.NAME]`).
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct TransportConfig {
    /// What it is.
    pub(crate) kind: TransportKind,
    /// Smarthost: its host name (verified against its certificate) or IP address.
    #[serde(default)]
    pub(crate) host: Option<String>,
    /// Smarthost: its port; default by kind (465, 587, 25).
    #[serde(default)]
    pub(crate) port: Option<u16>,
    /// Smarthost: AUTH user name; with `password`.
    #[serde(default)]
    pub(crate) username: Option<String>,
    /// Smarthost: AUTH password (keep this file private: mode 0600).
    #[serde(default)]
    pub(crate) password: Option<String>,
    /// Smarthost: a file whose first line is the AUTH password, instead of `password`
    /// (relative to the static file's directory; read at start).
    #[serde(default)]
    pub(crate) password_file: Option<std::path::PathBuf>,
    /// Smarthost: AUTH mechanisms allowed (SCRAM-SHA-256-PLUS, SCRAM-SHA-256,
    /// SCRAM-SHA-1-PLUS, SCRAM-SHA-1, PLAIN); empty: all, strongest first.
    #[serde(default)]
    pub(crate) mechanisms: Vec<String>,
    /// `smtp` smarthost: require STARTTLS, verified (default false: opportunistic).
    #[serde(default)]
    pub(crate) require_tls: bool,
    /// `direct`: connect to IPv4 addresses (default true).
    #[serde(default = "default_true")]
    pub(crate) ipv4: bool,
    /// `direct`: connect to IPv6 addresses (default true).
    #[serde(default = "default_true")]
    pub(crate) ipv6: bool,
}

impl std::fmt::Debug for TransportConfig {
    /// The password never goes to logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransportConfig")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl TransportConfig {
    fn transport(&self, name: &str) -> Result<moxide_actors::queue::transport::Transport, String> {
        use moxide_actors::queue::transport::{Smarthost, SmarthostAuth, SmarthostTls, Transport};
        let (tls, port) = match self.kind {
            TransportKind::Direct => {
                let smarthost_only = self.host.is_some()
                    || self.port.is_some()
                    || self.username.is_some()
                    || self.password.is_some()
                    || self.password_file.is_some()
                    || !self.mechanisms.is_empty()
                    || self.require_tls;
                if smarthost_only {
                    return Err(format!(
                        "transport {name:?} is direct: host, port, auth and require_tls are for smarthosts"
                    ));
                }
                if !self.ipv4 && !self.ipv6 {
                    return Err(format!("transport {name:?} leaves out both IPv4 and IPv6"));
                }
                return Ok(Transport::Direct { ipv4: self.ipv4, ipv6: self.ipv6 });
            }
            TransportKind::Submissions => (SmarthostTls::Implicit, 465),
            TransportKind::Submission => (SmarthostTls::StartTlsRequired, 587),
            TransportKind::Smtp if self.require_tls => (SmarthostTls::StartTlsRequired, 25),
            TransportKind::Smtp => (SmarthostTls::StartTlsOpportunistic, 25),
        };
        if self.require_tls && self.kind != TransportKind::Smtp {
            return Err(format!(
                "transport {name:?}: require_tls is for kind smtp (the others always require TLS)"
            ));
        }
        let Some(host) = self.host.clone().filter(|h| !h.is_empty() && !h.contains(char::is_whitespace))
        else {
            return Err(format!("transport {name:?} needs a host"));
        };
        let mut mechanisms = Vec::new();
        for mechanism in &self.mechanisms {
            match moxide_protocols::sasl::Mechanism::from_name(mechanism) {
                Some(m) if moxide_protocols::smtp::client::CLIENT_MECHANISMS.contains(&m) => {
                    mechanisms.push(m)
                }
                _ => {
                    return Err(format!(
                        "transport {name:?}: mechanism {mechanism:?} is not one of SCRAM-SHA-256-PLUS, \
                         SCRAM-SHA-256, SCRAM-SHA-1-PLUS, SCRAM-SHA-1, PLAIN"
                    ));
                }
            }
        }
        let password = match (&self.password, &self.password_file) {
            (Some(_), Some(_)) => {
                return Err(format!("transport {name:?}: password or password_file, not both"));
            }
            (Some(password), None) => Some(password.clone()),
            (None, Some(path)) => Some(read_password_file(name, path)?),
            (None, None) => None,
        };
        let auth = match (&self.username, password) {
            (Some(username), Some(password)) => {
                Some(SmarthostAuth { username: username.clone(), password, mechanisms })
            }
            (None, None) if mechanisms.is_empty() => None,
            _ => {
                return Err(format!(
                    "transport {name:?}: username and password go together (and mechanisms need them)"
                ));
            }
        };
        Ok(Transport::Smarthost(Smarthost { host, port: self.port.unwrap_or(port), tls, auth }))
    }
}

/// A transport's `password_file`: its first line, without the line ending. Warns when
/// others may read the file, as for a password in the static file.
fn read_password_file(name: &str, path: &Path) -> Result<String, String> {
    use std::os::unix::fs::PermissionsExt as _;
    let text = std::fs::read_to_string(path)
        .map_err(|error| format!("transport {name:?}: password_file {}: {error}", path.display()))?;
    let password = text.lines().next().unwrap_or("").to_string();
    if password.is_empty() {
        return Err(format!("transport {name:?}: password_file {} has an empty first line", path.display()));
    }
    if std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0) {
        tracing::warn!(transport = name, file = %path.display(), "the smarthost password file is readable by others: chmod 600");
    }
    Ok(password)
}

impl QueueConfig {
    /// Whether any transport holds a password (the file should then be private).
    pub(crate) fn has_secrets(&self) -> bool {
        self.transports.values().any(|t| t.password.is_some())
    }

    /// The queue's transports, checked; the error names the one that is wrong, or a
    /// transport route left in `[[queue.routes]]` (they are in the domains file).
    pub(crate) fn routing(&self) -> Result<moxide_actors::queue::transport::Routing, String> {
        let mut transports = std::collections::HashMap::new();
        for (name, config) in &self.transports {
            transports.insert(name.clone(), config.transport(name)?);
        }
        for (i, route) in self.routes.iter().enumerate() {
            if route.transport.is_some()
                || !route.from_domain.is_empty()
                || !route.to_domain.is_empty()
                || route.minimum_attempts != 0
            {
                return Err(format!(
                    "queue.routes[{i}]: routes that choose a transport are in the domains file now \
                     ([[routes]]); here only fixed routes (domain + address)"
                ));
            }
            if route.domain.is_none() || route.address.is_none() {
                return Err(format!("queue.routes[{i}]: a fixed route needs domain and address"));
            }
        }
        Ok(moxide_actors::queue::transport::Routing::new(transports))
    }

    /// The names routes may use: `direct` and the configured transports.
    pub(crate) fn transport_names(&self) -> Vec<String> {
        self.transports.keys().cloned().collect()
    }

    /// The fixed routes (`domain` + `address`).
    pub(crate) fn fixed_routes(&self) -> impl Iterator<Item = (String, Option<String>, SocketAddr)> + '_ {
        self.routes.iter().filter_map(|r| Some((r.domain.clone()?, r.host.clone(), r.address?)))
    }
}

fn default_true() -> bool {
    true
}

/// Limits, defaulting to the protocol crates' named constants.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Limits {
    /// Largest message accepted (SIZE), bytes.
    pub(crate) message_bytes_max: u64,
    /// Largest mailbox import request body (`POST .../import`), bytes; it goes to disk.
    pub(crate) import_bytes_max: u64,
    /// Recipients per transaction (LIMITS RCPTMAX).
    pub(crate) recipients_max: u32,
    /// Concurrent connections per listener (all cores together).
    pub(crate) connections_max: usize,
    /// Errors per SMTP session before 421.
    pub(crate) errors_max: u32,
    /// Time an SMTP command line may take to arrive, idle time before it included,
    /// seconds (RFC 5321 §4.5.3.2.7: at least 300); plus byte credit at the minimum rate.
    pub(crate) command_timeout_secs: u64,
    /// Time a DATA body or BDAT chunk may take before byte credit, and the longest
    /// silence while message bytes arrive, seconds.
    pub(crate) data_timeout_secs: u64,
    /// Slowest SMTP input waited for: each byte of a command line, DATA body or BDAT
    /// chunk adds 1/rate seconds to its deadline.
    pub(crate) input_rate_bytes_per_second_min: u64,
    /// Graceful shutdown: time sessions in the middle of a command get to finish it
    /// after SIGTERM/SIGINT, seconds. The process exits within this plus
    /// [`crate::server::SHUTDOWN_CLOSING_MAX`].
    pub(crate) shutdown_grace_secs: u64,
    /// New connections per minute per client network level (/32, /26, /21 for IPv4;
    /// /64, /48, /32 for IPv6).
    pub(crate) connection_rate_per_minute: [u64; 3],
    /// Open connections per client network level.
    pub(crate) connections_per_ip: [u64; 3],
    /// Failed authentications per minute per client network level.
    pub(crate) auth_failures_per_minute: [u64; 3],
    /// Failed authentications per day per client network level.
    pub(crate) auth_failures_per_day: [u64; 3],
    /// Client addresses the per-IP limits do not apply to. Loopback is not exempt unless
    /// listed here.
    pub(crate) ratelimit_exempt: Vec<std::net::IpAddr>,
    /// HTTP requests per minute per client network level (admin and account API).
    pub(crate) http_requests_per_minute: [u64; 3],
    /// Mailboxes per account, INBOX and parents made by CREATE included (IMAP
    /// `NO [LIMIT]` past it).
    pub(crate) mailboxes_max: u32,
    /// Levels per mailbox name (`a/b/c` has 3).
    pub(crate) mailbox_depth_max: u32,
}

impl Default for Limits {
    fn default() -> Self {
        let protocol = ServerConfig::default();
        Limits {
            message_bytes_max: protocol.message_bytes_max,
            import_bytes_max: moxide_web::import::IMPORT_BYTES_MAX_DEFAULT,
            recipients_max: protocol.recipients_max,
            connections_max: CONNECTIONS_MAX_DEFAULT,
            errors_max: protocol.errors_max,
            command_timeout_secs: protocol.command_timeout_ms / 1000,
            data_timeout_secs: protocol.data_timeout_ms / 1000,
            input_rate_bytes_per_second_min: protocol.input_rate_bytes_per_second_min,
            shutdown_grace_secs: SHUTDOWN_GRACE_SECS_DEFAULT,
            connection_rate_per_minute: [300, 900, 2700],
            connections_per_ip: [30, 90, 270],
            auth_failures_per_minute: [10, 30, 90],
            auth_failures_per_day: [50, 150, 450],
            ratelimit_exempt: Vec::new(),
            http_requests_per_minute: [600, 1800, 5400],
            mailboxes_max: moxide_storage::MAILBOXES_MAX,
            mailbox_depth_max: moxide_storage::MAILBOX_DEPTH_MAX,
        }
    }
}

/// Graceful shutdown grace by default, seconds: a message of a few megabytes on an
/// ordinary link and any commit under way finish well within it, and an operator (or
/// systemd, whose default stop timeout is 90 s) waits at most this plus 5 s.
pub(crate) const SHUTDOWN_GRACE_SECS_DEFAULT: u64 = 10;

/// Most grace allowed, seconds: the stop must stay bounded for service managers.
pub(crate) const SHUTDOWN_GRACE_SECS_MAX: u64 = 600;

/// Concurrent connections per listener by default: well above what one host's clients
/// open, well below the process's descriptor limit.
pub(crate) const CONNECTIONS_MAX_DEFAULT: usize = 10_000;

/// A listening address and what it speaks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Listener {
    /// Protocol on this address.
    pub(crate) protocol: ListenerProtocol,
    /// Address and port (port 0: the kernel picks one; it is printed at startup).
    pub(crate) address: SocketAddr,
    /// TLS on this listener.
    #[serde(default)]
    pub(crate) tls: ListenerTls,
    /// Allow password authentication (PLAIN, LOGIN, IMAP LOGIN) without TLS. Default: only
    /// when the listener's address is loopback (mox's NoRequireSTARTTLS).
    #[serde(default)]
    pub(crate) plaintext_auth: Option<bool>,
}

impl Listener {
    /// Whether password logins are allowed without TLS here.
    pub(crate) fn plaintext_auth_allowed(&self) -> bool {
        self.plaintext_auth.unwrap_or_else(|| self.address.ip().is_loopback())
    }
}

/// How a listener uses TLS.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ListenerTls {
    /// STARTTLS when certificates are configured, plaintext otherwise.
    #[default]
    Auto,
    /// Plaintext only.
    None,
    /// Plaintext with STARTTLS (RFC 3207, RFC 9051 §6.2.1).
    StartTls,
    /// TLS from the first byte (RFC 8314): ports 465 and 993.
    Implicit,
}

/// Certificates (PEM files) offered on TLS listeners; the first is the default, others are
/// chosen by SNI. Files are re-read when they change.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct TlsConfig {
    /// Certificate chain and key pairs.
    #[serde(default)]
    pub(crate) certificates: Vec<CertificatePaths>,
}

/// One certificate: chain and private key, PEM.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct CertificatePaths {
    /// Certificate chain (leaf first).
    pub(crate) chain: PathBuf,
    /// Private key (PKCS#8, PKCS#1 or SEC1).
    pub(crate) key: PathBuf,
}

/// What a listener speaks.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum ListenerProtocol {
    /// SMTP for incoming mail (port 25): local recipients only, no relaying.
    Smtp,
    /// SMTP submission (RFC 6409, ports 587 and 465): authentication required.
    Submission,
    /// IMAP4rev2/rev1 (port 143).
    Imap,
    /// HTTP: the admin and account JSON API and `/metrics` (`tls = "implicit"` for
    /// HTTPS; STARTTLS does not exist in HTTP).
    Http,
}

impl ListenerProtocol {
    /// Name used in logs and the startup announcement.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ListenerProtocol::Smtp => "smtp",
            ListenerProtocol::Submission => "submission",
            ListenerProtocol::Imap => "imap",
            ListenerProtocol::Http => "http",
        }
    }
}

/// The domains file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub(crate) struct DomainsFile {
    /// Account receiving postmaster mail.
    pub(crate) postmaster_account: String,
    /// Local domains by name.
    #[serde(default)]
    pub(crate) domains: std::collections::BTreeMap<String, DomainEntry>,
    /// Accounts by name.
    #[serde(default)]
    pub(crate) accounts: std::collections::BTreeMap<String, AccountEntry>,
    /// Aliases by address.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub(crate) aliases: std::collections::BTreeMap<String, AliasEntry>,
    /// The queue's global routes, after the account's and the sender domain's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) routes: Vec<RouteEntry>,
}

/// An alias's settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AliasEntry {
    /// Addresses of local accounts that receive the alias's mail.
    pub(crate) members: Vec<String>,
    /// Anyone may send to it (default: only members and `allowed_senders`).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) post_public: bool,
    /// Other senders allowed to post: addresses, or `@domain`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) allowed_senders: Vec<String>,
}

/// A domain's settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct DomainEntry {
    /// Characters ending the account part of a local-part, e.g. `["+"]`.
    pub(crate) localpart_separators: Vec<char>,
    /// DKIM selectors of the domain's keys in `data/dkim/<domain>/`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) dkim_selectors: Vec<String>,
    /// What happens to mail for this domain that fails DMARC under the sender's
    /// `p=reject`.
    #[serde(skip_serializing_if = "DmarcReject::is_default")]
    pub(crate) dmarc_reject: DmarcReject,
    /// Local part whose mail holds DMARC aggregate reports about this domain (the address
    /// published in `rua=`): delivered as usual, and the reports parsed and kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) dmarc_reports: Option<String>,
    /// Local part whose mail holds SMTP TLS reports (the `rua=` of `_smtp._tls`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tls_reports: Option<String>,
    /// The queue's routes for mail from this domain (its `MAIL FROM` domain).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) routes: Vec<RouteEntry>,
}

/// The answer to a DMARC `p=reject` failure.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum DmarcReject {
    /// Refused at the end of DATA with `550 5.7.1`, as the sender's domain asks.
    #[default]
    Refuse,
    /// Accepted and delivered to Junk, with `dmarc=fail` in Authentication-Results.
    Mark,
}

impl DmarcReject {
    /// Whether this is the default, which the domains file need not spell out.
    fn is_default(&self) -> bool {
        *self == Self::default()
    }
}

/// An account's settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AccountEntry {
    /// Addresses (`user@domain`, or `@domain` for a catch-all).
    pub(crate) addresses: Vec<String>,
    /// Bytes its messages may take in all; absent: no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) quota_bytes: Option<u64>,
    /// How many messages it may hold in all (RFC 9208 MESSAGE); absent: no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) quota_messages: Option<u64>,
    /// IMAP capabilities to leave out of CAPABILITY lists after login.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) imap_hidden_capabilities: Vec<String>,
    /// Messages (each recipient counted) it may queue for other domains in 24 hours;
    /// absent: 1000.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) outgoing_messages_per_day_max: Option<u32>,
    /// Recipients it never sent to before it may queue for in 24 hours; absent: 200.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) first_time_recipients_per_day_max: Option<u32>,
    /// The queue's routes for mail the account submits, checked first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) routes: Vec<RouteEntry>,
}

/// Both files, loaded and checked.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// The static file.
    pub(crate) static_config: StaticConfig,
    /// The domains file.
    pub(crate) domains: DomainsFile,
    /// The directory built from the domains file.
    pub(crate) directory: Directory,
}

/// A configuration problem.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// File.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// A file is not valid TOML or has unknown/missing keys.
    #[error("parsing {path}: {source}")]
    Parse {
        /// File.
        path: PathBuf,
        /// Cause.
        source: Box<toml::de::Error>,
    },
    /// The domains file is inconsistent.
    #[error("{path}: {source}")]
    Directory {
        /// File.
        path: PathBuf,
        /// Cause.
        source: DirectoryError,
    },
    /// Something else is wrong in the static file.
    #[error("{path}: {message}")]
    Invalid {
        /// File.
        path: PathBuf,
        /// What.
        message: String,
    },
}

impl Config {
    /// Loads and checks the static file at `path` and the domains file it names.
    ///
    /// Every path in the result is absolute: relative ones in the file are joined to the
    /// file's own directory, itself made absolute here from the working directory.
    pub(crate) fn load(path: &Path) -> Result<Config, ConfigError> {
        let path = &std::path::absolute(path)
            .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
        let mut static_config: StaticConfig = read_toml(path)?;
        let base = path.parent().unwrap_or(Path::new("/"));
        static_config.data_dir = base.join(&static_config.data_dir);
        static_config.domains_file = base.join(&static_config.domains_file);
        for roots in &mut static_config.queue.tls_roots_extra {
            *roots = base.join(&*roots);
        }
        for transport in static_config.queue.transports.values_mut() {
            if let Some(file) = &mut transport.password_file {
                *file = base.join(&*file);
            }
        }
        for certificate in &mut static_config.tls.certificates {
            certificate.chain = base.join(&certificate.chain);
            certificate.key = base.join(&certificate.key);
        }
        check_static(path, &static_config)?;
        let domains: DomainsFile = read_toml(&static_config.domains_file)?;
        let directory = Directory::new(&directory_spec(&domains))
            .map_err(|source| ConfigError::Directory { path: static_config.domains_file.clone(), source })?;
        for account in directory.accounts() {
            if !moxide_storage::is_valid_account_name(account) {
                return Err(ConfigError::Invalid {
                    path: static_config.domains_file.clone(),
                    message: format!(
                        "account name {account:?} must be 1-64 of A-Z a-z 0-9 . _ - and not start with '.'"
                    ),
                });
            }
        }
        check_routes(&directory_spec(&domains), &static_config.queue.transport_names())
            .map_err(|message| ConfigError::Invalid { path: static_config.domains_file.clone(), message })?;
        Ok(Config { static_config, domains, directory })
    }

    /// Account store settings: the defaults, with the configured mailbox limits.
    pub(crate) fn store_options(&self) -> moxide_storage::StoreOptions {
        let limits = &self.static_config.limits;
        moxide_storage::StoreOptions {
            mailbox_limits: moxide_storage::MailboxLimits {
                mailboxes_max: limits.mailboxes_max,
                depth_max: limits.mailbox_depth_max,
            },
            ..moxide_storage::StoreOptions::default()
        }
    }

    /// Protocol settings for SMTP sessions.
    pub(crate) fn smtp_protocol(&self) -> ServerConfig {
        let limits = &self.static_config.limits;
        ServerConfig {
            hostname: self.static_config.hostname.clone(),
            message_bytes_max: limits.message_bytes_max,
            recipients_max: limits.recipients_max,
            errors_max: limits.errors_max,
            command_timeout_ms: limits.command_timeout_secs.saturating_mul(1000),
            data_timeout_ms: limits.data_timeout_secs.saturating_mul(1000),
            input_rate_bytes_per_second_min: limits.input_rate_bytes_per_second_min,
            ..ServerConfig::default()
        }
    }
}

fn check_static(path: &Path, config: &StaticConfig) -> Result<(), ConfigError> {
    let invalid = |message: String| ConfigError::Invalid { path: path.to_path_buf(), message };
    if config.hostname.is_empty() || config.hostname.contains(char::is_whitespace) {
        return Err(invalid(format!("hostname {:?} is not a host name", config.hostname)));
    }
    if config.cores > moxide_runtime::executor::CORES_MAX {
        return Err(invalid(format!(
            "cores = {} is more than {}",
            config.cores,
            moxide_runtime::executor::CORES_MAX
        )));
    }
    let limits = &config.limits;
    if limits.recipients_max < 100 {
        // RFC 5321 §4.5.3.1.8: servers must accept at least 100 recipients.
        return Err(invalid("limits.recipients_max must be at least 100 (RFC 5321 §4.5.3.1.8)".into()));
    }
    if limits.connections_max == 0
        || limits.errors_max == 0
        || limits.message_bytes_max == 0
        || limits.import_bytes_max == 0
    {
        return Err(invalid(
            "limits.connections_max, errors_max, message_bytes_max and import_bytes_max must be above 0"
                .into(),
        ));
    }
    if limits.command_timeout_secs == 0 || limits.data_timeout_secs == 0 {
        return Err(invalid("limits timeouts must be above 0 seconds".into()));
    }
    // Every account starts with INBOX and the default mailboxes, and INBOX/x must fit.
    let defaults = u32::try_from(moxide_storage::DEFAULT_MAILBOXES.len() + 1).unwrap_or(u32::MAX);
    if limits.mailboxes_max < defaults || limits.mailbox_depth_max < 2 {
        return Err(invalid(format!(
            "limits.mailboxes_max must be at least {defaults} and limits.mailbox_depth_max at least 2"
        )));
    }
    if limits.input_rate_bytes_per_second_min == 0 {
        return Err(invalid("limits.input_rate_bytes_per_second_min must be above 0".into()));
    }
    if limits.shutdown_grace_secs > SHUTDOWN_GRACE_SECS_MAX {
        return Err(invalid(format!("limits.shutdown_grace_secs must be at most {SHUTDOWN_GRACE_SECS_MAX}")));
    }
    for listener in &config.listeners {
        if listener.protocol == ListenerProtocol::Http && listener.tls == ListenerTls::StartTls {
            return Err(invalid(format!(
                "listener {} (http): HTTP has no STARTTLS; use tls = \"implicit\" or \"none\"",
                listener.address
            )));
        }
        let wants_tls = matches!(listener.tls, ListenerTls::StartTls | ListenerTls::Implicit);
        if wants_tls && config.tls.certificates.is_empty() {
            return Err(invalid(format!(
                "listener {} ({}) wants TLS but no [[tls.certificates]] are configured",
                listener.address,
                listener.protocol.name()
            )));
        }
    }
    for (i, a) in config.listeners.iter().enumerate() {
        if config.listeners[..i].iter().any(|b| b.address == a.address && a.address.port() != 0) {
            return Err(invalid(format!("two listeners on {}", a.address)));
        }
    }
    config.queue.routing().map_err(invalid)?;
    let limit = moxide_actors::queue::QUEUE_CONNECTIONS_PER_DOMAIN_LIMIT;
    if !(1..=limit).contains(&config.queue.connections_per_domain) {
        return Err(invalid(format!(
            "queue.connections_per_domain is {}: it must be 1 to {limit}",
            config.queue.connections_per_domain
        )));
    }
    if config.queue.has_secrets() {
        use std::os::unix::fs::PermissionsExt as _;
        if std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o077 != 0) {
            tracing::warn!(file = %path.display(), "the configuration holds smarthost passwords and others can read it: chmod 600");
        }
    }
    Ok(())
}

fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })?;
    toml::from_str(&text)
        .map_err(|source| ConfigError::Parse { path: path.to_path_buf(), source: Box::new(source) })
}

/// The domains file a directory specification is written as (the reverse of
/// [`directory_spec`]).
pub(crate) fn domains_file_of(spec: &DirectorySpec) -> DomainsFile {
    DomainsFile {
        postmaster_account: spec.postmaster_account.clone(),
        domains: spec
            .domains
            .iter()
            .map(|d| {
                let entry = DomainEntry {
                    localpart_separators: d.localpart_separators.clone(),
                    dkim_selectors: d.dkim_selectors.clone(),
                    dmarc_reject: if d.dmarc_reject_mark { DmarcReject::Mark } else { DmarcReject::Refuse },
                    dmarc_reports: d.dmarc_reports.clone(),
                    tls_reports: d.tls_reports.clone(),
                    routes: d.routes.iter().map(RouteEntry::of).collect(),
                };
                (d.name.clone(), entry)
            })
            .collect(),
        accounts: spec
            .accounts
            .iter()
            .map(|a| {
                let defaults = SendLimits::default();
                let limits = a.send_limits;
                let entry = AccountEntry {
                    addresses: a.addresses.clone(),
                    quota_bytes: a.quota_bytes,
                    quota_messages: a.quota_messages,
                    imap_hidden_capabilities: a.hidden_capabilities.clone(),
                    outgoing_messages_per_day_max: Some(limits.messages_per_day_max)
                        .filter(|&n| n != defaults.messages_per_day_max),
                    first_time_recipients_per_day_max: Some(limits.first_time_recipients_per_day_max)
                        .filter(|&n| n != defaults.first_time_recipients_per_day_max),
                    routes: a.routes.iter().map(RouteEntry::of).collect(),
                };
                (a.name.clone(), entry)
            })
            .collect(),
        aliases: spec
            .aliases
            .iter()
            .map(|a| {
                let entry = AliasEntry {
                    members: a.members.clone(),
                    post_public: a.post_public,
                    allowed_senders: a.allowed_senders.clone(),
                };
                (a.address.clone(), entry)
            })
            .collect(),
        routes: spec.routes.iter().map(RouteEntry::of).collect(),
    }
}

/// The domains file as the running server reads and rewrites it (live configuration).
pub(crate) struct TomlDomainsFile {
    /// Where it is.
    pub(crate) path: PathBuf,
    /// The transports its routes may name (the static file's).
    pub(crate) transports: Vec<String>,
}

/// The first line of a domains file written by moxide.
const DOMAINS_FILE_HEADER: &str = "# Domains and accounts. moxide rewrites this file when the admin API or CLI changes\n\
# them (comments are not kept); edit it by hand too, then run `moxide config reload`.\n";

impl TomlDomainsFile {
    /// The domains file `config` names, its routes checked against its transports.
    pub(crate) fn of(config: &Config) -> TomlDomainsFile {
        TomlDomainsFile {
            path: config.static_config.domains_file.clone(),
            transports: config.static_config.queue.transport_names(),
        }
    }

    /// Reads and validates the file.
    pub(crate) fn load(&self) -> Result<DirectorySpec, ConfigError> {
        let file: DomainsFile = read_toml(&self.path)?;
        let spec = directory_spec(&file);
        check_routes(&spec, &self.transports)
            .map_err(|message| ConfigError::Invalid { path: self.path.clone(), message })?;
        Ok(spec)
    }

    /// Replaces the file atomically with `spec`.
    pub(crate) fn store(&self, spec: &DirectorySpec) -> Result<(), String> {
        let text = toml::to_string(&domains_file_of(spec)).map_err(|e| e.to_string())?;
        moxide_web::auth::write_atomically(
            &self.path,
            format!("{DOMAINS_FILE_HEADER}{text}").as_bytes(),
            0o644,
        )
        .map_err(|e| format!("writing {}: {e}", self.path.display()))
    }
}

impl moxide_web::DomainsFile for TomlDomainsFile {
    fn read(&self) -> Result<DirectorySpec, String> {
        self.load().map_err(|e| e.to_string())
    }

    fn write(&self, spec: &DirectorySpec) -> Result<(), String> {
        self.store(spec)
    }
}

/// The directory specification a domains file describes.
pub(crate) fn directory_spec(domains: &DomainsFile) -> DirectorySpec {
    DirectorySpec {
        domains: domains
            .domains
            .iter()
            .map(|(name, entry)| DomainSpec {
                name: name.clone(),
                localpart_separators: entry.localpart_separators.clone(),
                dkim_selectors: entry.dkim_selectors.clone(),
                dmarc_reject_mark: entry.dmarc_reject == DmarcReject::Mark,
                dmarc_reports: entry.dmarc_reports.clone(),
                tls_reports: entry.tls_reports.clone(),
                routes: entry.routes.iter().map(RouteEntry::route).collect(),
            })
            .collect(),
        accounts: domains
            .accounts
            .iter()
            .map(|(name, entry)| {
                let defaults = SendLimits::default();
                AccountSpec {
                    name: name.clone(),
                    addresses: entry.addresses.clone(),
                    quota_bytes: entry.quota_bytes,
                    quota_messages: entry.quota_messages,
                    hidden_capabilities: entry.imap_hidden_capabilities.clone(),
                    send_limits: SendLimits {
                        messages_per_day_max: entry
                            .outgoing_messages_per_day_max
                            .unwrap_or(defaults.messages_per_day_max),
                        first_time_recipients_per_day_max: entry
                            .first_time_recipients_per_day_max
                            .unwrap_or(defaults.first_time_recipients_per_day_max),
                    },
                    routes: entry.routes.iter().map(RouteEntry::route).collect(),
                }
            })
            .collect(),
        aliases: domains
            .aliases
            .iter()
            .map(|(address, entry)| AliasSpec {
                address: address.clone(),
                members: entry.members.clone(),
                post_public: entry.post_public,
                allowed_senders: entry.allowed_senders.clone(),
            })
            .collect(),
        postmaster_account: domains.postmaster_account.clone(),
        routes: domains.routes.iter().map(RouteEntry::route).collect(),
    }
}

/// Checks that every route of `spec` names `direct` or one of `transports` (the static
/// file's); the error says which route does not.
pub(crate) fn check_routes(spec: &DirectorySpec, transports: &[String]) -> Result<(), String> {
    let known = |route: &Route| route.transport == DIRECT || transports.contains(&route.transport);
    let levels = std::iter::once(("routes".to_string(), &spec.routes))
        .chain(spec.domains.iter().map(|d| (format!("domains.{:?}.routes", d.name), &d.routes)))
        .chain(spec.accounts.iter().map(|a| (format!("accounts.{:?}.routes", a.name), &a.routes)));
    for (label, routes) in levels {
        if let Some((i, route)) = routes.iter().enumerate().find(|(_, r)| !known(r)) {
            return Err(format!(
                "{label}[{i}]: transport {:?} is not configured (the static file's queue.transports, or \"direct\")",
                route.transport
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    const DOMAINS: &str = r#"
postmaster_account = "alice"
[domains."example.org"]
localpart_separators = ["+"]
dmarc_reject = "mark"
dmarc_reports = "dmarc-reports"
[accounts.alice]
addresses = ["alice@example.org", "@example.org"]
quota_messages = 5000
imap_hidden_capabilities = ["THREAD", "PARTIAL"]
[[accounts.alice.routes]]
transport = "direct"
to_domain = ["y.example"]
"#;

    #[test]
    fn loads_with_defaults_and_relative_paths() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "domains.toml", DOMAINS);
        let path = write(
            dir.path(),
            "moxide.toml",
            "hostname = \"mx.example.org\"\ndata_dir = \"data\"\ndomains_file = \"domains.toml\"\n\
             [[listeners]]\nprotocol = \"smtp\"\naddress = \"127.0.0.1:2525\"\n",
        );
        let config = Config::load(&path).unwrap();
        assert_eq!(config.static_config.data_dir, dir.path().join("data"));
        assert_eq!(config.static_config.limits, Limits::default());
        assert!(config.static_config.pin_cores);
        assert_eq!(config.smtp_protocol().hostname, "mx.example.org");
        assert!(config.directory.has_account("alice"));
        // The domains file round-trips through the form the live configuration writes.
        let file = TomlDomainsFile::of(&config);
        let spec = file.load().unwrap();
        file.store(&spec).unwrap();
        assert_eq!(file.load().unwrap(), spec);
        // So do the routes.
        assert_eq!(spec.accounts[0].routes[0].to_domains, ["y.example"]);
        // Per-domain inbound choices survive a rewrite and reach the directory.
        assert!(spec.domains[0].dmarc_reject_mark);
        assert!(config.directory.marks_dmarc_rejects("Example.org"));
        assert!(config.directory.is_report_address("DMARC-reports", "example.org"));
        assert!(!config.directory.is_report_address("alice", "example.org"));
        // The message-count limit survives the rewrite too.
        assert_eq!(spec.accounts[0].quota_messages, Some(5000));
        assert_eq!(config.directory.quota_messages("alice"), Some(5000));
        assert_eq!(spec.accounts[0].hidden_capabilities.len(), 2);
        assert_eq!(config.directory.hidden_capabilities("alice").len(), 2);
        assert!(!config.static_config.over_quota_permanent);
        assert!(std::fs::read_to_string(&file.path).unwrap().starts_with("# Domains and accounts."));
    }

    #[test]
    fn mistakes_are_reported_with_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "domains.toml", DOMAINS);
        let base = "hostname = \"mx\"\ndata_dir = \"d\"\ndomains_file = \"domains.toml\"\n";
        let unknown_key = write(dir.path(), "a.toml", &format!("{base}colour = 1\n"));
        let error = Config::load(&unknown_key).unwrap_err().to_string();
        assert!(error.contains("a.toml") && error.contains("colour"), "{error}");

        let https = write(
            dir.path(),
            "h.toml",
            &format!(
                "{base}[[listeners]]\nprotocol = \"http\"\naddress = \"127.0.0.1:0\"\ntls = \"starttls\"\n"
            ),
        );
        assert!(Config::load(&https).unwrap_err().to_string().contains("STARTTLS"));
        let low = write(dir.path(), "b.toml", &format!("{base}[limits]\nrecipients_max = 5\n"));
        assert!(Config::load(&low).unwrap_err().to_string().contains("at least 100"));
        let rate =
            write(dir.path(), "r.toml", &format!("{base}[limits]\ninput_rate_bytes_per_second_min = 0\n"));
        assert!(Config::load(&rate).unwrap_err().to_string().contains("input_rate_bytes_per_second_min"));
        let grace = write(dir.path(), "g.toml", &format!("{base}[limits]\nshutdown_grace_secs = 601\n"));
        assert!(Config::load(&grace).unwrap_err().to_string().contains("shutdown_grace_secs"));
        for count in [0, 101] {
            let lanes = write(
                dir.path(),
                "q.toml",
                &format!(
                    "{base}[queue]
connections_per_domain = {count}
"
                ),
            );
            assert!(Config::load(&lanes).unwrap_err().to_string().contains("connections_per_domain"));
        }
        let lanes = write(
            dir.path(),
            "q.toml",
            &format!(
                "{base}[queue]
connections_per_domain = 20
"
            ),
        );
        assert_eq!(Config::load(&lanes).unwrap().static_config.queue.connections_per_domain, 20);

        write(dir.path(), "bad-domains.toml", "postmaster_account = \"x\"\n");
        let bad = write(
            dir.path(),
            "c.toml",
            "hostname = \"mx\"\ndata_dir = \"d\"\ndomains_file = \"bad-domains.toml\"\n",
        );
        assert!(Config::load(&bad).unwrap_err().to_string().contains("postmaster account"));

        let transport_route = write(
            dir.path(),
            "t.toml",
            &format!("{base}[[queue.routes]]\ntransport = \"relay\"\nfrom_domain = [\"example.org\"]\n"),
        );
        let error = Config::load(&transport_route).unwrap_err().to_string();
        assert!(error.contains("t.toml") && error.contains("domains file"), "{error}");
        let no_address =
            write(dir.path(), "m.toml", &format!("{base}[[queue.routes]]\ndomain = \"x.example\"\n"));
        assert!(Config::load(&no_address).unwrap_err().to_string().contains("fixed route"));
        let no_host =
            write(dir.path(), "n.toml", &format!("{base}[queue.transports.relay]\nkind = \"submissions\"\n"));
        assert!(Config::load(&no_host).unwrap_err().to_string().contains("needs a host"));
        let old_level = write(
            dir.path(),
            "u.toml",
            &format!("{base}[[queue.account_routes.alice]]\ntransport = \"direct\"\n"),
        );
        assert!(Config::load(&old_level).unwrap_err().to_string().contains("account_routes"));
        // A route in the domains file naming a transport the static file lacks.
        write(
            dir.path(),
            "routes-domains.toml",
            &format!("{DOMAINS}[[routes]]\ntransport = \"relay\"\nminimum_attempts = 1\n"),
        );
        let routed = "hostname = \"mx\"\ndata_dir = \"d\"\ndomains_file = \"routes-domains.toml\"\n\
             [[queue.routes]]\ndomain = \"x.example\"\naddress = \"127.0.0.1:25\"\n";
        let unknown_transport = write(dir.path(), "rt.toml", routed);
        let error = Config::load(&unknown_transport).unwrap_err().to_string();
        assert!(
            error.contains("routes-domains.toml")
                && error.contains("\"relay\"")
                && error.contains("not configured"),
            "{error}"
        );
        let good = write(
            dir.path(),
            "ok.toml",
            &format!(
                "{routed}[queue.transports.relay]\nkind = \"submission\"\nhost = \"smtp.provider.example\"\n\
                 username = \"u\"\npassword = \"p\"\nmechanisms = [\"scram-sha-256\"]\n"
            ),
        );
        let config = Config::load(&good).unwrap();
        let routing = config.static_config.queue.routing().unwrap();
        let query = |account, attempts_made| moxide_actors::queue::transport::RouteQuery {
            account,
            from_domain: "example.org",
            to_domain: "y.example",
            attempts_made,
        };
        let routes = config.directory.routes();
        assert_eq!(routing.choose(routes, &query("alice", 1)).0, "direct");
        assert_eq!(routing.choose(routes, &query("bob", 0)).0, "direct");
        assert_eq!(routing.choose(routes, &query("bob", 1)).0, "relay");
        assert!(!format!("{:?}", config.static_config.queue).contains("\"p\""));
        assert_eq!(config.static_config.queue.fixed_routes().count(), 1);

        let missing = dir.path().join("nope.toml");
        assert!(matches!(Config::load(&missing), Err(ConfigError::Read { .. })));
    }

    /// A smarthost password read from `password_file`, relative to the static file: its
    /// first line; with `password` too, missing or empty, the file does not load.
    #[test]
    fn transport_password_file() {
        use moxide_actors::queue::transport::Transport;
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "domains.toml", DOMAINS);
        let relay = |auth: &str| {
            format!(
                "hostname = \"mx\"\ndata_dir = \"d\"\ndomains_file = \"domains.toml\"\n\
                 [queue.transports.relay]\nkind = \"submission\"\nhost = \"smtp.provider.example\"\n\
                 username = \"u\"\n{auth}"
            )
        };
        write(dir.path(), "relay.pass", "s3cret word\nnot this\n");
        let good = write(dir.path(), "p.toml", &relay("password_file = \"relay.pass\"\n"));
        let config = Config::load(&good).unwrap();
        let transport = config.static_config.queue.transports["relay"].transport("relay").unwrap();
        let Transport::Smarthost(smarthost) = transport else { panic!("a smarthost") };
        assert_eq!(smarthost.auth.unwrap().password, "s3cret word");
        assert!(!config.static_config.queue.has_secrets());

        let both = write(dir.path(), "b.toml", &relay("password = \"p\"\npassword_file = \"relay.pass\"\n"));
        assert!(Config::load(&both).unwrap_err().to_string().contains("not both"));
        let missing = write(dir.path(), "m.toml", &relay("password_file = \"nope.pass\"\n"));
        assert!(Config::load(&missing).unwrap_err().to_string().contains("nope.pass"));
        write(dir.path(), "empty.pass", "\n");
        let empty = write(dir.path(), "e.toml", &relay("password_file = \"empty.pass\"\n"));
        assert!(Config::load(&empty).unwrap_err().to_string().contains("empty first line"));
    }
}
