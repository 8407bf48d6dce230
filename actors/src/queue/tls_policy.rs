//! The outbound TLS policy of a recipient domain and its MX hosts: DANE (RFC 7672),
//! MTA-STS (RFC 8461), the memory of each domain's TLS capability, and the TLSRPT
//! results (RFC 8460) the attempts produce.
//!
//! Per host, the first that applies (RFC 8461 §2: DANE wins over MTA-STS):
//! - **DANE**: the host's name and addresses came from authentic DNS answers (the AD
//!   bit of a trusted resolver, `protocols::dns`), and `_25._tcp.<host>` has usable
//!   TLSA records (authentic too): STARTTLS is required and the certificate must match
//!   them. A TLSA lookup that fails for an authentic host defers the host (RFC 7672
//!   §2.2: it may be an attack on the records).
//! - **MTA-STS enforce**: the domain has a policy in `enforce` mode: the host must match
//!   one of its `mx` patterns and STARTTLS with a certificate that verifies (WebPKI,
//!   for the host's name) is required.
//! - **MTA-STS testing**: the same checks, but a failure is only recorded (TLSRPT) and
//!   the delivery goes on opportunistically.
//! - **Opportunistic**: STARTTLS when offered, not verified; a plaintext retry after a
//!   failed handshake, unless the domain is remembered to have offered STARTTLS
//!   ([`DomainTlsMemory`]), which refuses that downgrade.
//!
//! Policies are cached per domain ([`STS_POLICIES_MAX`] of them, each until its
//! `max_age`); the `_mta-sts` TXT record is asked again at most every
//! [`STS_RECORD_CHECK_INTERVAL_MS`] and a changed id fetches the policy again; a fetch
//! that fails keeps a cached policy that has not expired (RFC 8461 §5.1). Fetched
//! policies are also written to `moxide_storage::tls_policy::TlsPolicyStore` and read
//! back at startup, so a restart keeps them; so are the TLSRPT results, after each
//! attempt that changed them, and so is the TLS memory when an entry changes (or,
//! unchanged, at most once every [`DOMAIN_TLS_STORE_INTERVAL_MS`]).

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use futures_lite::io::{AsyncReadExt as _, AsyncWriteExt as _};
use moxide_protocols::dns::{DomainName, Question, RecordData, RecordType, Resolver};
use moxide_protocols::mtasts::http::{HttpsUrl, ResponseReader, policy_request, report_post_head};
use moxide_protocols::mtasts::{Mode, Policy, parse_policy, parse_records};
use moxide_protocols::tlsrpt::ReportUri;
use moxide_runtime::net::TcpStream;
use moxide_runtime::tls::{CertificateFailure, TlsConnector, TlsError, TlsaRecord, TrustRoots};

use moxide_storage::tls_policy::{StoredDomainTls, StoredStsPolicy, StoredTlsResults, TlsPolicyStore};

use super::remote::{Host, HostSource};

/// Domains whose MTA-STS policy is kept: each entry is a few hundred bytes; 10,000
/// covers the domains a busy server sends to in a policy's lifetime. When full, the
/// entry that expires first is dropped (its domain fetches again when next needed).
pub const STS_POLICIES_MAX: usize = 10_000;

/// How often a cached policy's `_mta-sts` record is asked again to learn of a new
/// policy id: once an hour, so a changed policy is seen within the hour (RFC 8461 §5.1
/// asks senders to check for updates; the cache holds the policy up to `max_age`).
pub const STS_RECORD_CHECK_INTERVAL_MS: i64 = 3_600_000;

/// How often the queue looks for cached policies to refresh before they expire
/// (RFC 8461 §10.2 recommends refreshing proactively, e.g. daily): hourly.
pub const STS_REFRESH_INTERVAL_MS: i64 = 3_600_000;

/// Policies refreshed per look: each is a DNS lookup and an HTTPS fetch of at most
/// 30 s; a hundred an hour keeps the cache of 10,000 fresh for policies of a week or
/// more, the usual `max_age`.
pub const STS_REFRESH_PER_RUN_MAX: usize = 100;

/// The whole policy fetch (connect, TLS, request, response): 30 s, as mox's and
/// Postfix's policy resolvers allow about that. A slow policy server defers nothing:
/// without a policy the attempt proceeds as it would without MTA-STS.
pub const STS_FETCH_TIMEOUT_MS: u64 = 30_000;

/// Domains whose TLS capability is remembered (a few dozen bytes each).
pub const DOMAIN_TLS_MEMORY_MAX: usize = 10_000;

/// How long a domain's offer of STARTTLS is remembered: 30 days. A domain that stopped
/// offering TLS for longer gets plaintext again; within it, a missing STARTTLS is taken
/// as a downgrade by an attacker and the delivery waits.
pub const DOMAIN_TLS_MEMORY_MS_MAX: i64 = 30 * 24 * 3_600_000;

/// How often an unchanged domain's TLS memory is written again to refresh its time:
/// once a day, so a domain mailed all the time costs one write a day, and the memory
/// after a restart is at most a day older than it was (well inside the 30 days).
pub const DOMAIN_TLS_STORE_INTERVAL_MS: i64 = 24 * 3_600_000;

/// Policy domains with TLSRPT results kept per day: reports go out daily, so a day's
/// results are kept for two days at most ([`TLSRPT_DAYS_MAX`]).
pub const TLSRPT_DOMAINS_MAX: usize = 10_000;

/// Days of TLSRPT results kept: today and yesterday (the report being made).
pub const TLSRPT_DAYS_MAX: i64 = 2;

/// Distinct failure kinds per domain and day kept with their counts (RFC 8460 §4.4
/// lists a dozen result types; times a few MX hosts).
pub const TLSRPT_FAILURES_MAX: usize = 64;

const DAY_MS: i64 = 86_400_000;

/// What an attempt must do with TLS on one host.
#[derive(Debug, Clone)]
pub enum HostTls {
    /// STARTTLS required, certificate checked against these TLSA records.
    Dane(Vec<TlsaRecord>),
    /// STARTTLS required, WebPKI-verified for the host's name (MTA-STS enforce).
    StsEnforce,
    /// Verify as enforce would, but on failure record it and deliver opportunistically.
    StsTesting,
    /// STARTTLS when offered, unverified; `required`: the domain offered STARTTLS
    /// before, so plaintext is refused.
    Opportunistic {
        /// Refuse plaintext.
        required: bool,
    },
    /// Do not deliver to this host now (why, for the DSN and logs): temporary.
    Defer(String),
}

impl HostTls {
    /// Whether TLS on this host is verified (what REQUIRETLS needs, RFC 8689 §4.2.1).
    pub fn is_verified(&self) -> bool {
        matches!(self, HostTls::Dane(_) | HostTls::StsEnforce)
    }

    /// Whether a connection without TLS must not be used.
    pub fn requires_tls(&self) -> bool {
        matches!(self, HostTls::Dane(_) | HostTls::StsEnforce | HostTls::Opportunistic { required: true })
    }

    /// The policy domain TLSRPT results go under and the policy type.
    fn report_kind(&self) -> Option<PolicyType> {
        match self {
            HostTls::Dane(_) => Some(PolicyType::Tlsa),
            HostTls::StsEnforce | HostTls::StsTesting => Some(PolicyType::Sts),
            _ => None,
        }
    }
}

/// The policy types of a TLS report (RFC 8460 §4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyType {
    /// DANE.
    Tlsa,
    /// MTA-STS.
    Sts,
    /// Neither.
    NoPolicyFound,
}

/// A failure's result type, as RFC 8460 §4.3 names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResultType {
    /// The host did not offer STARTTLS.
    StarttlsNotSupported,
    /// The certificate is not valid for the host.
    CertificateHostMismatch,
    /// The certificate expired.
    CertificateExpired,
    /// The certificate does not chain to a trusted root.
    CertificateNotTrusted,
    /// Another validation failure (an MX not in the policy, a failed handshake).
    ValidationFailure,
    /// No TLSA record matched.
    TlsaInvalid,
    /// TLSA records could not be looked up for an authentic host.
    DnssecInvalid,
    /// The MTA-STS policy could not be fetched.
    StsPolicyFetchError,
    /// The MTA-STS policy was invalid.
    StsPolicyInvalid,
}

impl ResultType {
    /// Every result type.
    pub const ALL: [ResultType; 9] = [
        ResultType::StarttlsNotSupported,
        ResultType::CertificateHostMismatch,
        ResultType::CertificateExpired,
        ResultType::CertificateNotTrusted,
        ResultType::ValidationFailure,
        ResultType::TlsaInvalid,
        ResultType::DnssecInvalid,
        ResultType::StsPolicyFetchError,
        ResultType::StsPolicyInvalid,
    ];

    /// The name in a report.
    pub fn as_str(self) -> &'static str {
        match self {
            ResultType::StarttlsNotSupported => "starttls-not-supported",
            ResultType::CertificateHostMismatch => "certificate-host-mismatch",
            ResultType::CertificateExpired => "certificate-expired",
            ResultType::CertificateNotTrusted => "certificate-not-trusted",
            ResultType::ValidationFailure => "validation-failure",
            ResultType::TlsaInvalid => "tlsa-invalid",
            ResultType::DnssecInvalid => "dnssec-invalid",
            ResultType::StsPolicyFetchError => "sts-policy-fetch-error",
            ResultType::StsPolicyInvalid => "sts-policy-invalid",
        }
    }

    /// The result type of a refused certificate.
    pub fn of_certificate(failure: &CertificateFailure) -> ResultType {
        match failure {
            CertificateFailure::TlsaMismatch => ResultType::TlsaInvalid,
            CertificateFailure::HostMismatch => ResultType::CertificateHostMismatch,
            CertificateFailure::Expired => ResultType::CertificateExpired,
            CertificateFailure::NotTrusted => ResultType::CertificateNotTrusted,
            CertificateFailure::Other(_) => ResultType::ValidationFailure,
        }
    }
}

/// One day's TLSRPT results for one policy domain (RFC 8460 §4.4's summary and
/// failure details, without the policy strings).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayResults {
    /// Sessions with the policy applied successfully.
    pub successes: u64,
    /// Failed sessions per (policy type, result type, receiving MX host).
    pub failures: Vec<((PolicyType, ResultType, String), u64)>,
}

/// A cached MTA-STS policy.
#[derive(Debug, Clone)]
struct CachedPolicy {
    id: String,
    policy: Policy,
    expires_ms: i64,
    checked_ms: i64,
}

/// What a domain's MX hosts did with TLS last time.
#[derive(Debug, Clone, Copy)]
struct DomainTls {
    starttls: bool,
    verified: bool,
    updated_ms: i64,
    /// `updated_ms` as last stored.
    stored_ms: i64,
}

/// The settings of TLS policies.
#[derive(Debug, Clone)]
pub struct TlsPolicySettings {
    /// Where fetched policies are kept across restarts; `None`: memory only.
    pub store: Option<Arc<TlsPolicyStore>>,
    /// Roots for MTA-STS (policy fetch and MX certificates); `None`: MTA-STS off.
    pub roots: Option<TrustRoots>,
    /// Look for DANE TLSA records of authentic MX hosts.
    pub dane: bool,
    /// Port of policy servers: 443; another only for tests.
    pub mta_sts_port: u16,
    /// How long after a check a cached policy's `_mta-sts` record is asked again when
    /// the policy is used: [`STS_RECORD_CHECK_INTERVAL_MS`]; shorter only in tests
    /// (the binary's test hook), which change the record's id and deliver at once.
    pub record_check_interval_ms: i64,
}

/// Policies, memory and results for the queue (one per process, on the queue's core).
pub struct TlsPolicies<R> {
    resolver: R,
    settings: TlsPolicySettings,
    webpki: Option<TlsConnector>,
    policies: RefCell<HashMap<String, CachedPolicy>>,
    memory: RefCell<HashMap<String, DomainTls>>,
    results: RefCell<HashMap<(String, i64), DayResults>>,
    /// Days whose results changed since they were last stored.
    dirty: RefCell<HashSet<(String, i64)>>,
    /// Domains whose TLS memory is to be stored; and those evicted, to be removed.
    memory_dirty: RefCell<HashSet<String>>,
    memory_evicted: RefCell<HashSet<String>>,
    /// A proactive refresh is running (one at a time).
    refreshing: std::cell::Cell<bool>,
}

/// The MTA-STS state of a domain for one attempt.
#[derive(Debug, Clone)]
pub enum StsState {
    /// No policy (no record, mode none, MTA-STS off).
    None,
    /// A policy in force.
    Policy(Policy),
    /// The record exists but no policy could be had (for TLSRPT), delivery as without.
    FetchFailed(ResultType, String),
}

impl<R: Resolver> TlsPolicies<R> {
    /// Policies looked up through `resolver`, starting with `stored` (read from the
    /// settings' store at startup; those that cannot be used are skipped).
    pub fn new(
        resolver: R,
        settings: TlsPolicySettings,
        stored: Vec<StoredStsPolicy>,
        stored_results: Vec<StoredTlsResults>,
    ) -> TlsPolicies<R> {
        let results: HashMap<(String, i64), DayResults> = stored_results
            .into_iter()
            .take(TLSRPT_DOMAINS_MAX * TLSRPT_DAYS_MAX as usize)
            .map(|stored| ((stored.domain.clone(), stored.day), day_from_stored(stored)))
            .collect();
        let policies: HashMap<String, CachedPolicy> = stored
            .into_iter()
            .take(STS_POLICIES_MAX)
            .filter_map(|stored| Some((stored.domain.clone(), cached_from_stored(stored)?)))
            .collect();
        let webpki = settings.roots.as_ref().and_then(|roots| match TlsConnector::webpki(roots) {
            Ok(connector) => Some(connector),
            Err(error) => {
                tracing::error!(%error, "no WebPKI client TLS; MTA-STS is off");
                None
            }
        });
        TlsPolicies {
            resolver,
            settings,
            webpki,
            policies: RefCell::new(policies),
            memory: RefCell::new(HashMap::new()),
            results: RefCell::new(results),
            dirty: RefCell::new(HashSet::new()),
            memory_dirty: RefCell::new(HashSet::new()),
            memory_evicted: RefCell::new(HashSet::new()),
            refreshing: std::cell::Cell::new(false),
        }
    }

    /// Starts the TLS memory from `stored` (read from the settings' store at startup);
    /// entries past [`DOMAIN_TLS_MEMORY_MS_MAX`] are dropped when they are next used.
    pub fn with_domain_tls(self, stored: Vec<StoredDomainTls>) -> TlsPolicies<R> {
        {
            let mut memory = self.memory.borrow_mut();
            for entry in stored.into_iter().take(DOMAIN_TLS_MEMORY_MAX) {
                let seen = DomainTls {
                    starttls: entry.starttls,
                    verified: entry.verified,
                    updated_ms: entry.updated_ms,
                    stored_ms: entry.updated_ms,
                };
                memory.insert(entry.domain, seen);
            }
        }
        self
    }

    /// The WebPKI connector (MTA-STS), when configured.
    pub fn webpki(&self) -> Option<&TlsConnector> {
        self.webpki.as_ref()
    }

    /// The domain's MTA-STS policy at `now_ms` (wall clock): cached, or looked up.
    pub async fn sts(&self, domain: &str, now_ms: i64) -> StsState {
        if self.webpki.is_none() {
            return StsState::None;
        }
        let cached = self.policies.borrow().get(domain).cloned().filter(|c| c.expires_ms > now_ms);
        if let Some(cached) = &cached
            && now_ms - cached.checked_ms < self.settings.record_check_interval_ms
        {
            return state_of(&cached.policy);
        }
        let id = match self.record_id(domain).await {
            Ok(Some(id)) => id,
            // No record (or a failed lookup): a cached policy stays in force until it
            // expires (RFC 8461 §5.1); none means no policy.
            Ok(None) | Err(()) => return cached.map_or(StsState::None, |c| state_of(&c.policy)),
        };
        if let Some(cached) = cached.as_ref().filter(|c| c.id == id) {
            if let Some(entry) = self.policies.borrow_mut().get_mut(domain) {
                entry.checked_ms = now_ms;
            }
            return state_of(&cached.policy);
        }
        match self.fetch(domain).await {
            Ok(policy) => {
                tracing::info!(%domain, mode = ?policy.mode, max_age = policy.max_age_secs, "MTA-STS policy fetched");
                let max_age_ms = i64::try_from(policy.max_age_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
                let entry = CachedPolicy {
                    id,
                    policy: policy.clone(),
                    expires_ms: now_ms.saturating_add(max_age_ms),
                    checked_ms: now_ms,
                };
                self.remember_policy(domain, entry.clone());
                self.persist(domain, Some(entry)).await;
                state_of(&policy)
            }
            Err((kind, error)) => {
                tracing::info!(%domain, %error, "MTA-STS policy fetch failed");
                match cached {
                    Some(cached) => {
                        // The cached policy holds (§5.1); the new one is tried again after
                        // the check interval, not at every delivery: a policy host that
                        // swallows connections would otherwise hold each attempt to the
                        // domain for the whole fetch timeout.
                        if let Some(entry) = self.policies.borrow_mut().get_mut(domain) {
                            entry.checked_ms = now_ms;
                        }
                        state_of(&cached.policy)
                    }
                    None => StsState::FetchFailed(kind, error),
                }
            }
        }
    }

    /// Domains whose cached policy has used up half its `max_age` and was not checked
    /// within [`STS_RECORD_CHECK_INTERVAL_MS`], soonest to expire first, at most `max`.
    fn refresh_due(&self, now_ms: i64, max: usize) -> Vec<String> {
        let policies = self.policies.borrow();
        let mut due: Vec<(i64, String)> = policies
            .iter()
            .filter(|(_, cached)| {
                let max_age_ms =
                    i64::try_from(cached.policy.max_age_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
                cached.expires_ms > now_ms
                    && cached.expires_ms.saturating_sub(now_ms) < max_age_ms / 2
                    && now_ms.saturating_sub(cached.checked_ms) >= STS_RECORD_CHECK_INTERVAL_MS
            })
            .map(|(domain, cached)| (cached.expires_ms, domain.clone()))
            .collect();
        due.sort();
        due.into_iter().take(max).map(|(_, domain)| domain).collect()
    }

    /// Fetches again the cached policies that are half way to expiring (RFC 8461 §10.2),
    /// so that a policy in use never lapses and a fetch blocked by an attacker when it
    /// is next needed finds it still cached. A failed fetch keeps the cached policy
    /// (and is tried again an hour later). Returns how many were renewed.
    pub async fn refresh_expiring(&self, now_ms: i64) -> usize {
        if self.webpki.is_none() || self.refreshing.replace(true) {
            return 0;
        }
        let renewed = self.refresh_each(now_ms).await;
        self.refreshing.set(false);
        renewed
    }

    async fn refresh_each(&self, now_ms: i64) -> usize {
        let mut renewed = 0;
        for domain in self.refresh_due(now_ms, STS_REFRESH_PER_RUN_MAX) {
            if let Some(entry) = self.policies.borrow_mut().get_mut(&domain) {
                entry.checked_ms = now_ms;
            }
            let id = match self.record_id(&domain).await {
                Ok(Some(id)) => id,
                // Without a record the cached policy runs out at its expiry (§5.1).
                Ok(None) | Err(()) => continue,
            };
            match self.fetch(&domain).await {
                Ok(policy) => {
                    let max_age_ms =
                        i64::try_from(policy.max_age_secs.saturating_mul(1000)).unwrap_or(i64::MAX);
                    let entry = CachedPolicy {
                        id,
                        policy,
                        expires_ms: now_ms.saturating_add(max_age_ms),
                        checked_ms: now_ms,
                    };
                    tracing::info!(%domain, "MTA-STS policy refreshed before it expires");
                    self.remember_policy(&domain, entry.clone());
                    self.persist(&domain, Some(entry)).await;
                    renewed += 1;
                }
                Err((_, error)) => {
                    tracing::info!(%domain, %error, "MTA-STS policy refresh failed; the cached one stays")
                }
            }
        }
        renewed
    }

    fn remember_policy(&self, domain: &str, entry: CachedPolicy) {
        let mut evicted = None;
        {
            let mut policies = self.policies.borrow_mut();
            if policies.len() >= STS_POLICIES_MAX && !policies.contains_key(domain) {
                evicted = policies.iter().min_by_key(|(_, c)| c.expires_ms).map(|(d, _)| d.clone());
                if let Some(first) = &evicted {
                    policies.remove(first);
                }
            }
            policies.insert(domain.to_owned(), entry);
        }
        if let Some(evicted) = evicted {
            moxide_runtime::spawn_detached({
                let store = self.settings.store.clone();
                async move {
                    if let Some(store) = store {
                        let _ = moxide_runtime::offload(move || store.remove_policy(&evicted)).await;
                    }
                }
            });
        }
    }

    /// Writes `domain`'s policy to the store (on a helper thread); a failure is logged:
    /// the policy still applies from memory.
    async fn persist(&self, domain: &str, entry: Option<CachedPolicy>) {
        let (Some(store), Some(entry)) = (self.settings.store.clone(), entry) else { return };
        let stored = StoredStsPolicy {
            domain: domain.to_owned(),
            id: entry.id,
            mode: match entry.policy.mode {
                Mode::Enforce => 0,
                Mode::Testing => 1,
                Mode::None => 2,
            },
            max_age_secs: entry.policy.max_age_secs,
            mx: entry.policy.mx,
            expires_ms: entry.expires_ms,
            checked_ms: entry.checked_ms,
        };
        match moxide_runtime::offload(move || store.put_policy(&stored)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::error!(%domain, %error, "MTA-STS policy not stored"),
            Err(panic) => tracing::error!(%domain, panic = %panic.0, "MTA-STS policy not stored"),
        }
    }

    /// The id of the domain's `_mta-sts` record; `Ok(None)`: no (valid) record.
    async fn record_id(&self, domain: &str) -> Result<Option<String>, ()> {
        let Ok(name) = DomainName::parse(&format!("_mta-sts.{domain}")) else { return Ok(None) };
        let answer = self.resolver.lookup(&Question::new(name, RecordType::Txt)).await.map_err(|_| ())?;
        let joined: Vec<Vec<u8>> = answer.records.iter().map(RecordData::txt_joined).collect();
        Ok(parse_records(joined.iter().map(Vec::as_slice)).ok().map(|record| record.id))
    }

    /// Fetches `https://mta-sts.<domain>/.well-known/mta-sts.txt` (RFC 8461 §3.3).
    async fn fetch(&self, domain: &str) -> Result<Policy, (ResultType, String)> {
        let host = format!("mta-sts.{domain}");
        let fetch = self.fetch_body(&host);
        let body =
            match moxide_runtime::time::timeout(Duration::from_millis(STS_FETCH_TIMEOUT_MS), fetch).await {
                Ok(result) => result.map_err(|error| (ResultType::StsPolicyFetchError, error))?,
                Err(_) => return Err((ResultType::StsPolicyFetchError, format!("{host}: timed out"))),
            };
        parse_policy(&body).map_err(|error| (ResultType::StsPolicyInvalid, format!("{host}: {error}")))
    }

    async fn fetch_body(&self, host: &str) -> Result<Vec<u8>, String> {
        let connector = self.webpki.as_ref().ok_or("no WebPKI roots")?;
        let name = DomainName::parse(host).map_err(|error| format!("{host}: {error}"))?;
        let mut last = format!("{host}: no address");
        for address in self.addresses(&name).await {
            match self.fetch_from(connector, host, address).await {
                Ok(body) => return Ok(body),
                Err(error) => last = format!("{host} ({address}): {error}"),
            }
        }
        Err(last)
    }

    async fn fetch_from(
        &self,
        connector: &TlsConnector,
        host: &str,
        address: SocketAddr,
    ) -> Result<Vec<u8>, String> {
        let tcp = TcpStream::connect(address).await.map_err(|error| format!("connect: {error}"))?;
        let mut tls = connector.connect(host, tcp).await.map_err(|error| format!("TLS: {error}"))?;
        tls.write_all(&policy_request(host)).await.map_err(|error| format!("write: {error}"))?;
        tls.flush().await.map_err(|error| format!("write: {error}"))?;
        let mut reader = ResponseReader::new();
        let mut buffer = vec![0; 16 * 1024];
        loop {
            let n = match tls.read(&mut buffer).await {
                Ok(n) => n,
                // A peer that closes without close_notify ends the body all the same
                // (the framing says whether it was complete).
                Err(error) if error.kind() == std::io::ErrorKind::UnexpectedEof => 0,
                Err(error) => return Err(format!("read: {error}")),
            };
            if n == 0 {
                break;
            }
            reader.feed(&buffer[..n]).map_err(|error| error.to_string())?;
            if reader.is_complete() {
                break;
            }
        }
        reader.finish().map_err(|error| error.to_string())
    }

    /// POSTs a gzip'ed TLS report to an `https:` rua (RFC 8460 §5.3.2), the server's
    /// certificate verified with WebPKI for the URL's host; `Ok` on a 2xx answer. Each
    /// address of the host is tried until one answers; at most
    /// [`STS_FETCH_TIMEOUT_MS`] in all.
    pub async fn post_report(&self, url: &HttpsUrl, gzip: &[u8]) -> Result<u16, String> {
        let post = async {
            let connector = self.webpki.as_ref().ok_or("no WebPKI roots")?;
            let name = DomainName::parse(&url.host).map_err(|error| format!("{}: {error}", url.host))?;
            let mut last = format!("{}: no address", url.host);
            for address in self.addresses_on(&name, url.port).await {
                match self.post_to(connector, url, address, gzip).await {
                    Ok(status) if (200..300).contains(&status) => return Ok(status),
                    Ok(status) => return Err(format!("{} ({address}): HTTP status {status}", url.host)),
                    Err(error) => last = format!("{} ({address}): {error}", url.host),
                }
            }
            Err(last)
        };
        match moxide_runtime::time::timeout(Duration::from_millis(STS_FETCH_TIMEOUT_MS), post).await {
            Ok(result) => result,
            Err(_) => Err(format!("{}: timed out", url.host)),
        }
    }

    async fn post_to(
        &self,
        connector: &TlsConnector,
        url: &HttpsUrl,
        address: SocketAddr,
        gzip: &[u8],
    ) -> Result<u16, String> {
        let tcp = TcpStream::connect(address).await.map_err(|error| format!("connect: {error}"))?;
        let mut tls = connector.connect(&url.host, tcp).await.map_err(|error| format!("TLS: {error}"))?;
        let head = report_post_head(&url.host, &url.path, gzip.len());
        for piece in [head.as_slice(), gzip] {
            tls.write_all(piece).await.map_err(|error| format!("write: {error}"))?;
        }
        tls.flush().await.map_err(|error| format!("write: {error}"))?;
        // Only the status matters; the header block is bounded by the reader.
        let mut reader = ResponseReader::new();
        let mut buffer = vec![0; 4096];
        while reader.status().is_none() {
            let n = tls.read(&mut buffer).await.map_err(|error| format!("read: {error}"))?;
            if n == 0 {
                return Err("closed before the status".into());
            }
            reader.feed(&buffer[..n]).map_err(|error| error.to_string())?;
        }
        reader.status().ok_or_else(|| "no status".into())
    }

    /// AAAA then A addresses of `name` on the policy port.
    async fn addresses(&self, name: &DomainName) -> Vec<SocketAddr> {
        self.addresses_on(name, self.settings.mta_sts_port).await
    }

    /// AAAA then A addresses of `name` on `port`.
    async fn addresses_on(&self, name: &DomainName, port: u16) -> Vec<SocketAddr> {
        let mut addresses = Vec::new();
        for record_type in [RecordType::Aaaa, RecordType::A] {
            if let Ok(answer) = self.resolver.lookup(&Question::new(name.clone(), record_type)).await {
                for record in &answer.records {
                    let ip = match record {
                        RecordData::A(ip) => IpAddr::V4(*ip),
                        RecordData::Aaaa(ip) => IpAddr::V6(*ip),
                        _ => continue,
                    };
                    if addresses.len() < super::mx::HOST_ADDRESSES_MAX {
                        addresses.push(SocketAddr::new(ip, port));
                    }
                }
            }
        }
        addresses
    }

    /// What TLS `host` of `domain` gets, given the domain's MTA-STS state; the policy
    /// failures it finds are counted for TLSRPT.
    pub async fn host_tls(&self, domain: &str, host: &Host, sts: &StsState, now_ms: i64) -> HostTls {
        self.host_tls_counted(domain, host, sts, now_ms, true).await
    }

    /// [`TlsPolicies::host_tls`], counting the failures it finds only when `counted`
    /// (not for a TLS report's own delivery, RFC 8460 §3).
    pub async fn host_tls_counted(
        &self,
        domain: &str,
        host: &Host,
        sts: &StsState,
        now_ms: i64,
        counted: bool,
    ) -> HostTls {
        let record_failure = |policy, result| {
            if counted {
                self.record_failure(domain, policy, result, &host.name, now_ms);
            }
        };
        if self.settings.dane && host.source == (HostSource::Mx { authentic: true }) {
            match self.tlsa(&host.name).await {
                Ok(records) if !records.is_empty() => return HostTls::Dane(records),
                Ok(_) => {}
                Err(error) => {
                    record_failure(PolicyType::Tlsa, ResultType::DnssecInvalid);
                    return HostTls::Defer(format!("TLSA lookup for {}: {error}", host.name));
                }
            }
        }
        match sts {
            StsState::Policy(policy) if policy.mode == Mode::Enforce => {
                if policy.matches(&host.name) {
                    HostTls::StsEnforce
                } else {
                    record_failure(PolicyType::Sts, ResultType::ValidationFailure);
                    HostTls::Defer(format!(
                        "{} is not an MX host of the MTA-STS policy of {domain}",
                        host.name
                    ))
                }
            }
            StsState::Policy(policy) if policy.mode == Mode::Testing => {
                if !policy.matches(&host.name) {
                    record_failure(PolicyType::Sts, ResultType::ValidationFailure);
                }
                HostTls::StsTesting
            }
            _ => HostTls::Opportunistic { required: self.starttls_remembered(domain, now_ms) },
        }
    }

    /// The usable TLSA records of `_25._tcp.<host>` from an authentic answer; none when
    /// the answer is not authentic (then DANE does not apply, RFC 7672 §2.2).
    async fn tlsa(&self, host: &str) -> Result<Vec<TlsaRecord>, String> {
        let name = DomainName::parse(&format!("_25._tcp.{host}")).map_err(|error| error.to_string())?;
        let answer = self
            .resolver
            .lookup(&Question::new(name, RecordType::Tlsa))
            .await
            .map_err(|error| error.to_string())?;
        if !answer.authentic {
            return Ok(Vec::new());
        }
        let records: Vec<TlsaRecord> = answer
            .records
            .iter()
            .filter_map(|record| match record {
                RecordData::Tlsa(tlsa) => Some(TlsaRecord {
                    usage: tlsa.usage,
                    selector: tlsa.selector,
                    matching: tlsa.matching,
                    data: tlsa.data.clone(),
                }),
                _ => None,
            })
            .collect();
        if !records.is_empty() && !records.iter().any(TlsaRecord::is_usable) {
            // RFC 7672 §2.2: records exist but none is usable: authenticated TLS is
            // not possible, and the host is treated as having no TLSA records.
            return Ok(Vec::new());
        }
        Ok(records.into_iter().filter(TlsaRecord::is_usable).collect())
    }

    fn starttls_remembered(&self, domain: &str, now_ms: i64) -> bool {
        self.memory
            .borrow()
            .get(domain)
            .is_some_and(|seen| seen.starttls && now_ms - seen.updated_ms < DOMAIN_TLS_MEMORY_MS_MAX)
    }

    /// Remembers what a completed session with one of `domain`'s hosts used.
    /// Stored with the next [`Self::flush_results`] when it changed or was last
    /// stored more than [`DOMAIN_TLS_STORE_INTERVAL_MS`] ago.
    pub fn remember_tls(&self, domain: &str, starttls: bool, verified: bool, now_ms: i64) {
        let mut memory = self.memory.borrow_mut();
        if memory.len() >= DOMAIN_TLS_MEMORY_MAX && !memory.contains_key(domain) {
            let oldest = memory.iter().min_by_key(|(_, seen)| seen.updated_ms).map(|(d, _)| d.clone());
            if let Some(oldest) = oldest {
                memory.remove(&oldest);
                self.memory_dirty.borrow_mut().remove(&oldest);
                self.memory_evicted.borrow_mut().insert(oldest);
            }
        }
        let before = memory.get(domain).copied();
        let changed = before.is_none_or(|seen| {
            seen.starttls != starttls
                || seen.verified != verified
                || now_ms.saturating_sub(seen.stored_ms) >= DOMAIN_TLS_STORE_INTERVAL_MS
        });
        let stored_ms = before.map_or(i64::MIN, |seen| seen.stored_ms);
        memory.insert(domain.to_owned(), DomainTls { starttls, verified, updated_ms: now_ms, stored_ms });
        if changed {
            self.memory_evicted.borrow_mut().remove(domain);
            self.memory_dirty.borrow_mut().insert(domain.to_owned());
        }
    }

    /// Stores the TLS memory entries that changed (one transaction on a helper thread).
    /// A failure is logged and the entries are tried again with the next flush.
    async fn flush_memory(&self) {
        let Some(store) = self.settings.store.clone() else { return };
        let dirty: Vec<String> = self.memory_dirty.borrow_mut().drain().collect();
        let forget: Vec<String> = self.memory_evicted.borrow_mut().drain().collect();
        if dirty.is_empty() && forget.is_empty() {
            return;
        }
        let entries: Vec<StoredDomainTls> = {
            let memory = self.memory.borrow();
            dirty
                .iter()
                .filter_map(|domain| {
                    let seen = memory.get(domain)?;
                    Some(StoredDomainTls {
                        domain: domain.clone(),
                        starttls: seen.starttls,
                        verified: seen.verified,
                        updated_ms: seen.updated_ms,
                    })
                })
                .collect()
        };
        let stored: Vec<(String, i64)> = entries.iter().map(|e| (e.domain.clone(), e.updated_ms)).collect();
        let retry = (dirty.clone(), forget.clone());
        let outcome = match moxide_runtime::offload(move || store.put_domain_tls(&entries, &forget)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(panic) => Err(panic.0),
        };
        match outcome {
            Ok(()) => {
                let mut memory = self.memory.borrow_mut();
                for (domain, at) in stored {
                    if let Some(seen) = memory.get_mut(&domain) {
                        seen.stored_ms = seen.stored_ms.max(at);
                    }
                }
            }
            Err(error) => {
                tracing::error!(%error, "TLS memory not stored");
                self.memory_dirty.borrow_mut().extend(retry.0);
                self.memory_evicted.borrow_mut().extend(retry.1);
            }
        }
    }

    /// Whether `domain`'s last session was over verified TLS (for operators and tests).
    pub fn remembered_verified(&self, domain: &str) -> Option<bool> {
        self.memory.borrow().get(domain).map(|seen| seen.verified)
    }

    /// Counts a session that applied `tls`'s policy successfully.
    pub fn record_success(&self, domain: &str, tls: &HostTls, now_ms: i64) {
        if tls.report_kind().is_none() {
            return;
        }
        if let Some(day) = self.day_results(domain, now_ms).as_mut() {
            day.successes += 1;
            self.dirty.borrow_mut().insert((domain.to_owned(), now_ms.div_euclid(DAY_MS)));
        }
    }

    /// Counts a failed session (RFC 8460 §4.3 result types).
    pub fn record_failure(
        &self,
        domain: &str,
        policy: PolicyType,
        result: ResultType,
        host: &str,
        now_ms: i64,
    ) {
        tracing::info!(%domain, %host, policy = ?policy, result = result.as_str(), "TLS policy failure");
        let mut results = self.results.borrow_mut();
        let Some(day) = day_entry(&mut results, domain, now_ms) else { return };
        self.dirty.borrow_mut().insert((domain.to_owned(), now_ms.div_euclid(DAY_MS)));
        let key = (policy, result, host.to_owned());
        if let Some((_, count)) = day.failures.iter_mut().find(|(k, _)| *k == key) {
            *count += 1;
        } else if day.failures.len() < TLSRPT_FAILURES_MAX {
            day.failures.push((key, 1));
        }
    }

    /// A result for the HostTls a session ran under.
    pub fn record_failure_for(
        &self,
        domain: &str,
        tls: &HostTls,
        result: ResultType,
        host: &str,
        now_ms: i64,
    ) {
        if let Some(policy) = tls.report_kind() {
            self.record_failure(domain, policy, result, host, now_ms);
        }
    }

    fn day_results(&self, domain: &str, now_ms: i64) -> DayGuard<'_> {
        DayGuard { results: self.results.borrow_mut(), domain: domain.to_owned(), now_ms }
    }

    /// Stores the TLS memory entries that changed, then the days whose results changed
    /// (one transaction on a helper thread each), and drops stored days older than
    /// [`TLSRPT_DAYS_MAX`]. A failure is logged; what was not stored stays in memory
    /// and is stored with the next change.
    pub async fn flush_results(&self, now_ms: i64) {
        self.flush_memory().await;
        let Some(store) = self.settings.store.clone() else { return };
        let dirty: Vec<(String, i64)> = self.dirty.borrow_mut().drain().collect();
        if dirty.is_empty() {
            return;
        }
        let entries: Vec<StoredTlsResults> = {
            let results = self.results.borrow();
            dirty
                .iter()
                .filter_map(|(domain, day)| {
                    let found = results.get(&(domain.clone(), *day))?;
                    Some(stored_from_day(domain, *day, found))
                })
                .collect()
        };
        let oldest_day = now_ms.div_euclid(DAY_MS) - (TLSRPT_DAYS_MAX - 1);
        match moxide_runtime::offload(move || store.put_results(&entries, oldest_day)).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::error!(%error, "TLS report results not stored");
                self.dirty.borrow_mut().extend(dirty);
            }
            Err(panic) => {
                tracing::error!(panic = %panic.0, "TLS report results not stored");
                self.dirty.borrow_mut().extend(dirty);
            }
        }
    }

    /// Results of days before `day` (days since 1970, UTC) not reported yet, oldest
    /// first, at most `max` of them.
    pub fn results_before(&self, day: i64, max: usize) -> Vec<(String, i64, DayResults)> {
        let mut found: Vec<(String, i64, DayResults)> = self
            .results
            .borrow()
            .iter()
            .filter(|((_, at), _)| *at < day)
            .map(|((domain, at), results)| (domain.clone(), *at, results.clone()))
            .collect();
        found.sort_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)));
        found.truncate(max);
        found
    }

    /// Forgets `domain`'s results of `day` once its report is queued, in memory and in
    /// the store (so a restart does not report it again). A store failure is logged:
    /// then the day may be reported twice after a restart, never lost.
    pub async fn forget_results(&self, domain: &str, day: i64) {
        let key = (domain.to_owned(), day);
        self.results.borrow_mut().remove(&key);
        self.dirty.borrow_mut().remove(&key);
        let Some(store) = self.settings.store.clone() else { return };
        let name = domain.to_owned();
        match moxide_runtime::offload(move || store.remove_results(&name, day)).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::error!(%domain, day, %error, "reported TLS results not removed"),
            Err(panic) => tracing::error!(%domain, day, panic = %panic.0, "reported TLS results not removed"),
        }
    }

    /// The `rua` URIs of `domain`'s TLSRPT record (`_smtp._tls.<domain>` TXT, RFC 8460
    /// §3); an error says why there are none (no record, several, a failed lookup).
    pub async fn report_uris(&self, domain: &str) -> Result<Vec<ReportUri>, String> {
        let name = DomainName::parse(&format!("_smtp._tls.{domain}")).map_err(|error| error.to_string())?;
        let answer = self
            .resolver
            .lookup(&Question::new(name, RecordType::Txt))
            .await
            .map_err(|error| error.to_string())?;
        let joined: Vec<Vec<u8>> = answer.records.iter().map(RecordData::txt_joined).collect();
        moxide_protocols::tlsrpt::parse_records(joined.iter().map(Vec::as_slice))
            .map_err(|error| error.to_string())
    }

    /// The lines of `domain`'s cached MTA-STS policy (a report's `policy-string`).
    pub fn sts_policy_strings(&self, domain: &str) -> Option<Vec<String>> {
        let policies = self.policies.borrow();
        let cached = policies.get(domain)?;
        let mode = match cached.policy.mode {
            Mode::Enforce => "enforce",
            Mode::Testing => "testing",
            Mode::None => "none",
        };
        let mut lines = vec!["version: STSv1".to_owned(), format!("mode: {mode}")];
        lines.extend(cached.policy.mx.iter().map(|mx| format!("mx: {mx}")));
        lines.push(format!("max_age: {}", cached.policy.max_age_secs));
        Some(lines)
    }

    /// The results recorded for `domain` on the day containing `at_ms`.
    pub fn results(&self, domain: &str, at_ms: i64) -> Option<DayResults> {
        self.results.borrow().get(&(domain.to_owned(), at_ms.div_euclid(DAY_MS))).cloned()
    }
}

/// Borrow of one day's results (made on first use).
struct DayGuard<'a> {
    results: std::cell::RefMut<'a, HashMap<(String, i64), DayResults>>,
    domain: String,
    now_ms: i64,
}

impl DayGuard<'_> {
    fn as_mut(&mut self) -> Option<&mut DayResults> {
        day_entry(&mut self.results, &self.domain, self.now_ms)
    }
}

/// Today's entry for `domain`; old days dropped first; none when full.
fn day_entry<'a>(
    results: &'a mut HashMap<(String, i64), DayResults>,
    domain: &str,
    now_ms: i64,
) -> Option<&'a mut DayResults> {
    let today = now_ms.div_euclid(DAY_MS);
    let key = (domain.to_owned(), today);
    if !results.contains_key(&key) {
        results.retain(|(_, day), _| today - *day < TLSRPT_DAYS_MAX);
        if results.len() >= TLSRPT_DOMAINS_MAX * TLSRPT_DAYS_MAX as usize {
            return None;
        }
    }
    Some(results.entry(key).or_default())
}

fn policy_type_byte(policy: PolicyType) -> u8 {
    match policy {
        PolicyType::Tlsa => 0,
        PolicyType::Sts => 1,
        PolicyType::NoPolicyFound => 2,
    }
}

fn stored_from_day(domain: &str, day: i64, results: &DayResults) -> StoredTlsResults {
    StoredTlsResults {
        domain: domain.to_owned(),
        day,
        successes: results.successes,
        failures: results
            .failures
            .iter()
            .map(|((policy, result, host), count)| {
                (policy_type_byte(*policy), result.as_str().to_owned(), host.clone(), *count)
            })
            .collect(),
    }
}

/// Stored results as the queue holds them; failures of unknown kinds are dropped.
fn day_from_stored(stored: StoredTlsResults) -> DayResults {
    let failures = stored
        .failures
        .into_iter()
        .filter_map(|(policy, result, host, count)| {
            let policy = match policy {
                0 => PolicyType::Tlsa,
                1 => PolicyType::Sts,
                2 => PolicyType::NoPolicyFound,
                _ => return None,
            };
            let result = ResultType::ALL.into_iter().find(|kind| kind.as_str() == result)?;
            Some(((policy, result, host), count))
        })
        .take(TLSRPT_FAILURES_MAX)
        .collect();
    DayResults { successes: stored.successes, failures }
}

/// A stored policy as the cache holds it; `None` when it does not parse as a policy.
fn cached_from_stored(stored: StoredStsPolicy) -> Option<CachedPolicy> {
    let mode = match stored.mode {
        0 => Mode::Enforce,
        1 => Mode::Testing,
        2 => Mode::None,
        _ => return None,
    };
    let policy = Policy { mode, max_age_secs: stored.max_age_secs, mx: stored.mx };
    Some(CachedPolicy { id: stored.id, policy, expires_ms: stored.expires_ms, checked_ms: stored.checked_ms })
}

fn state_of(policy: &Policy) -> StsState {
    match policy.mode {
        Mode::None => StsState::None,
        _ => StsState::Policy(policy.clone()),
    }
}

/// The TLSRPT result type of a failed STARTTLS handshake.
pub fn handshake_result(error: &TlsError) -> ResultType {
    match error {
        TlsError::Certificate(failure) => ResultType::of_certificate(failure),
        _ => ResultType::ValidationFailure,
    }
}

/// A [`Resolver`] behind a trait object, so the queue's policies need no type
/// parameter (the server's per-core `Dns`, or records in memory in tests).
pub struct BoxedResolver(Box<dyn DynResolver>);

/// The object-safe form of [`Resolver`].
pub trait DynResolver {
    /// Answers one question.
    fn lookup_boxed<'a>(
        &'a self,
        question: &'a Question,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = moxide_protocols::dns::Lookup> + 'a>>;
}

impl<R: Resolver> DynResolver for R {
    fn lookup_boxed<'a>(
        &'a self,
        question: &'a Question,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = moxide_protocols::dns::Lookup> + 'a>> {
        Box::pin(self.lookup(question))
    }
}

impl BoxedResolver {
    /// Wraps `resolver`.
    pub fn new(resolver: impl Resolver + 'static) -> BoxedResolver {
        BoxedResolver(Box::new(resolver))
    }
}

impl Resolver for BoxedResolver {
    fn lookup(
        &self,
        question: &Question,
    ) -> impl std::future::Future<Output = moxide_protocols::dns::Lookup> {
        let question = question.clone();
        async move { self.0.lookup_boxed(&question).await }
    }
}

/// The policies the queue holds.
pub type QueueTlsPolicies = TlsPolicies<BoxedResolver>;

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;
    use std::future::Future;

    use futures_lite::future::block_on;
    use moxide_protocols::dns::message::Tlsa;
    use moxide_protocols::dns::{Answer, Lookup, ResolveError};

    use super::*;

    /// Answers from a table, authentic or not; unknown questions time out.
    #[derive(Default)]
    struct Table {
        answers: HashMap<(String, RecordType), Answer>,
    }

    impl Table {
        fn tlsa(mut self, host: &str, usage: u8, authentic: bool) -> Table {
            let data = RecordData::Tlsa(Tlsa { usage, selector: 1, matching: 1, data: vec![1; 32] });
            let mut answer = Answer::with_records(vec![data], 300);
            answer.authentic = authentic;
            self.answers.insert((format!("_25._tcp.{host}"), RecordType::Tlsa), answer);
            self
        }

        fn empty(mut self, name: &str, record_type: RecordType) -> Table {
            let mut answer = Answer::negative(false, 300);
            answer.authentic = true;
            self.answers.insert((name.to_owned(), record_type), answer);
            self
        }
    }

    impl Resolver for Table {
        fn lookup(&self, question: &Question) -> impl Future<Output = Lookup> {
            let found = self.answers.get(&(question.name.as_str().to_owned(), question.record_type)).cloned();
            async move { found.map(Arc::new).ok_or(ResolveError::Timeout) }
        }
    }

    fn policies(table: Table) -> TlsPolicies<Table> {
        let settings = TlsPolicySettings {
            store: None,
            roots: None,
            dane: true,
            mta_sts_port: 443,
            record_check_interval_ms: STS_RECORD_CHECK_INTERVAL_MS,
        };
        TlsPolicies::new(table, settings, Vec::new(), Vec::new())
    }

    fn host(name: &str, authentic: bool) -> Host {
        Host { name: name.to_owned(), addresses: Vec::new(), source: HostSource::Mx { authentic } }
    }

    fn enforce(mode: Mode) -> StsState {
        StsState::Policy(Policy { mode, max_age_secs: 86_400, mx: vec!["*.example.com".to_owned()] })
    }

    #[test]
    fn dane_needs_authentic_answers_and_wins_over_mta_sts() {
        let table = Table::default().tlsa("mx.example.com", 3, true).tlsa("mx2.example.com", 3, false);
        let policies = policies(table);
        let plan = block_on(policies.host_tls(
            "example.com",
            &host("mx.example.com", true),
            &enforce(Mode::Enforce),
            0,
        ));
        assert!(matches!(plan, HostTls::Dane(ref records) if records.len() == 1), "{plan:?}");
        assert!(plan.is_verified());
        // The same records, but the host's own lookups were not authentic: no DANE.
        let plan =
            block_on(policies.host_tls("example.com", &host("mx.example.com", false), &StsState::None, 0));
        assert!(matches!(plan, HostTls::Opportunistic { required: false }), "{plan:?}");
        // Authentic host, TLSA answer not authentic: no DANE, MTA-STS applies.
        let plan = block_on(policies.host_tls(
            "example.com",
            &host("mx2.example.com", true),
            &enforce(Mode::Enforce),
            0,
        ));
        assert!(matches!(plan, HostTls::StsEnforce), "{plan:?}");
    }

    #[test]
    fn a_failed_tlsa_lookup_defers_and_unusable_records_do_not_count() {
        let table = Table::default().tlsa("pkix.example.com", 1, true);
        let policies = policies(table);
        // No answer for mx.example.com's TLSA (the table times out): deferred.
        let plan =
            block_on(policies.host_tls("example.com", &host("mx.example.com", true), &StsState::None, 0));
        assert!(matches!(plan, HostTls::Defer(_)), "{plan:?}");
        let day = policies.results("example.com", 0).unwrap();
        assert_eq!(day.failures[0].0.1, ResultType::DnssecInvalid);
        // Only a PKIX-EE record (unusable for SMTP): as without DANE.
        let plan =
            block_on(policies.host_tls("example.com", &host("pkix.example.com", true), &StsState::None, 0));
        assert!(matches!(plan, HostTls::Opportunistic { .. }), "{plan:?}");
    }

    #[test]
    fn mta_sts_enforce_defers_hosts_outside_the_policy_and_testing_does_not() {
        let table = Table::default().empty("_25._tcp.other.example.net", RecordType::Tlsa);
        let policies = policies(table);
        let outside = host("other.example.net", true);
        let plan = block_on(policies.host_tls("example.com", &outside, &enforce(Mode::Enforce), 0));
        assert!(matches!(plan, HostTls::Defer(_)), "{plan:?}");
        let plan = block_on(policies.host_tls("example.com", &outside, &enforce(Mode::Testing), 0));
        assert!(matches!(plan, HostTls::StsTesting), "{plan:?}");
        assert!(!plan.is_verified() && !plan.requires_tls());
        let day = policies.results("example.com", 0).unwrap();
        assert_eq!(
            day.failures,
            vec![((PolicyType::Sts, ResultType::ValidationFailure, outside.name.clone()), 2)]
        );
    }

    #[test]
    fn a_domain_that_offered_starttls_gets_no_plaintext_for_a_while() {
        let policies = policies(Table::default());
        let mx = host("mx.example.com", false);
        policies.remember_tls("example.com", true, false, 1_000);
        let plan = block_on(policies.host_tls("example.com", &mx, &StsState::None, 2_000));
        assert!(plan.requires_tls(), "{plan:?}");
        let later = 1_000 + DOMAIN_TLS_MEMORY_MS_MAX;
        let plan = block_on(policies.host_tls("example.com", &mx, &StsState::None, later));
        assert!(!plan.requires_tls(), "{plan:?}");
        policies.remember_tls("example.com", false, false, 3_000);
        let plan = block_on(policies.host_tls("example.com", &mx, &StsState::None, 3_000));
        assert!(!plan.requires_tls(), "{plan:?}");
        assert_eq!(policies.remembered_verified("example.com"), Some(false));
    }

    #[test]
    fn policies_half_way_to_expiry_are_refreshed_soonest_first() {
        let policies = policies(Table::default());
        let day_ms = 86_400_000;
        let cached = |expires_ms: i64, checked_ms: i64| CachedPolicy {
            id: "1".into(),
            policy: Policy { mode: Mode::Enforce, max_age_secs: 86_400, mx: vec!["mx.example".into()] },
            expires_ms,
            checked_ms,
        };
        let now = 10 * day_ms;
        policies.remember_policy(
            "fresh.example",
            cached(now + day_ms * 3 / 4, now - 2 * STS_RECORD_CHECK_INTERVAL_MS),
        );
        policies
            .remember_policy("old.example", cached(now + day_ms / 4, now - 2 * STS_RECORD_CHECK_INTERVAL_MS));
        policies.remember_policy(
            "older.example",
            cached(now + day_ms / 8, now - 2 * STS_RECORD_CHECK_INTERVAL_MS),
        );
        policies.remember_policy("checked.example", cached(now + day_ms / 8, now - 1));
        policies.remember_policy("expired.example", cached(now - 1, 0));
        assert_eq!(policies.refresh_due(now, 10), vec!["older.example", "old.example"]);
        assert_eq!(policies.refresh_due(now, 1), vec!["older.example"]);
        // MTA-STS off (no roots): nothing is fetched.
        assert_eq!(block_on(policies.refresh_expiring(now)), 0);
    }

    #[test]
    fn the_tls_memory_is_stored_when_it_changes_or_a_day_later_and_read_back() {
        let policies = policies(Table::default());
        let dirty = |p: &TlsPolicies<Table>| {
            let mut domains: Vec<String> = p.memory_dirty.borrow_mut().drain().collect();
            domains.sort();
            domains
        };
        policies.remember_tls("example.com", true, false, 1_000);
        assert_eq!(dirty(&policies), vec!["example.com"], "new");
        // As if stored: unchanged within a day is not written again; a change is.
        policies.memory.borrow_mut().get_mut("example.com").unwrap().stored_ms = 1_000;
        policies.remember_tls("example.com", true, false, 2_000);
        assert!(dirty(&policies).is_empty(), "unchanged");
        policies.remember_tls("example.com", true, false, 1_000 + DOMAIN_TLS_STORE_INTERVAL_MS);
        assert_eq!(dirty(&policies), vec!["example.com"], "a day later");
        policies.remember_tls("example.com", true, true, 3_000);
        assert_eq!(dirty(&policies), vec!["example.com"], "verified now");

        // Read back at startup: the memory applies as before the restart.
        let stored = vec![StoredDomainTls {
            domain: "example.org".into(),
            starttls: true,
            verified: false,
            updated_ms: 5_000,
        }];
        let restarted =
            super::TlsPolicies::new(Table::default(), policies.settings.clone(), Vec::new(), Vec::new())
                .with_domain_tls(stored);
        let mx = host("mx.example.org", false);
        let plan = block_on(restarted.host_tls("example.org", &mx, &StsState::None, 6_000));
        assert!(plan.requires_tls(), "{plan:?}");
        restarted.remember_tls("example.org", true, false, 7_000);
        assert!(dirty(&restarted).is_empty(), "read back as stored");
    }

    #[test]
    fn tls_report_results_are_per_day_and_bounded() {
        let policies = policies(Table::default());
        let plan = HostTls::StsEnforce;
        policies.record_success("example.com", &plan, 10);
        policies.record_success("example.com", &HostTls::Opportunistic { required: false }, 10);
        for i in 0..TLSRPT_FAILURES_MAX + 5 {
            policies.record_failure(
                "example.com",
                PolicyType::Sts,
                ResultType::ValidationFailure,
                &format!("mx{i}"),
                10,
            );
        }
        let day = policies.results("example.com", 10).unwrap();
        assert_eq!(day.successes, 1, "opportunistic sessions are not reported");
        assert_eq!(day.failures.len(), TLSRPT_FAILURES_MAX);
        // What is stored reads back the same (a restart keeps the day's results).
        assert_eq!(day_from_stored(stored_from_day("example.com", 0, &day)), day);
        assert_eq!(policies.dirty.borrow().len(), 1);
        // Two days later the first day is gone.
        policies.record_success("example.com", &plan, 2 * DAY_MS + 10);
        assert!(policies.results("example.com", 10).is_none());
        assert_eq!(policies.results("example.com", 2 * DAY_MS).unwrap().successes, 1);
        // An ended day is offered for its report once; after it is queued, never again.
        policies.record_success("example.net", &plan, 3 * DAY_MS);
        assert_eq!(policies.results_before(3, 10).len(), 1);
        assert_eq!(policies.results_before(3, 10)[0].0, "example.com");
        assert_eq!(policies.results_before(4, 1).len(), 1, "bounded by the caller's max");
        block_on(policies.forget_results("example.com", 2));
        assert!(policies.results_before(3, 10).is_empty());
        assert_eq!(policies.results_before(4, 10).len(), 1);
    }
}
