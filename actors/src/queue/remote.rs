//! One delivery attempt to a remote destination over SMTP: connect to each address of
//! each host in turn, run the sans-IO client session (`moxide_protocols::smtp::client`)
//! on the connection, STARTTLS as the host's TLS policy says ([`super::tls_policy`]:
//! DANE or MTA-STS enforce require it verified, with no plaintext fallback; MTA-STS
//! testing verifies, records a failure and goes on unverified; otherwise opportunistic,
//! a failed handshake retried once in plaintext as Postfix's `may` level does, unless
//! the domain is remembered to offer STARTTLS), stream the message from its queue
//! file, and turn the replies into one outcome per recipient. A REQUIRETLS message
//! (RFC 8689) goes only to hosts whose TLS is verified.
//!
//! A host that cannot be reached, refuses the greeting, says `421` or drops the
//! connection before the transaction ends is skipped for the next one (RFC 5321
//! §5.1); the replies of a completed transaction are final for this attempt. A
//! connection lost after the message was sent but before its reply leaves the
//! recipients to be retried: the peer may have taken it, so a duplicate is possible
//! (RFC 5321 §6.1 accepts duplicates over losses).
//!
//! Connections are kept between the destinations of one domain in one run
//! ([`Kept`]): after a delivery the session stays open, and the next message to the
//! same address under the same TLS and AUTH terms starts with RSET on it instead of a
//! new connection; at most [`CONNECTION_MESSAGES_MAX`] messages per connection, at most
//! [`CONNECTION_IDLE_MS_MAX`] idle, QUIT at the end of the run. A kept connection that
//! fails before anything was sent on it (the peer closed it while idle) is replaced by
//! a new one at once.
//!
//! Through a smarthost ([`attempt_smarthost`]): each address of the relay in turn,
//! TLS as its transport says (implicit or STARTTLS required, both verified with WebPKI
//! against the relay's name; or opportunistic), then AUTH with the strongest mechanism
//! both sides allow (PBKDF2 for SCRAM on a helper thread). A `5xx` to AUTH (RFC 4954
//! §6: `535` credentials invalid) fails the recipients for good, with a DSN: the
//! credentials are wrong for every attempt until an operator changes them, as mox
//! treats a permanent AUTH error; a `4xx` (`454` temporary failure) is retried.

use std::cell::RefCell;
use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use moxide_protocols::smtp::BodyType;
use moxide_protocols::smtp::client::{
    AuthRequest, ClientConfig, ClientSession, DsnEnvelope, DsnReturn, Envelope, Event, Failure, FailureCause,
    Recipient, TransactionResult,
};
use moxide_protocols::smtp::{EnhancedCode, Reply};
use moxide_runtime::net::TcpStream;
use moxide_runtime::tls::{ClientTlsStream, TlsConnector, TlsError};
use moxide_storage::queue::{Destination, QueuedBody, QueuedMessage, StoredReply};

use super::schedule::RecipientOutcome;
use super::tls_policy::{HostTls, PolicyType, QueueTlsPolicies, ResultType, StsState, handshake_result};
use super::transport::{Smarthost, SmarthostAuth, SmarthostTls};
use crate::clock::now_monotonic_ms;

/// Time to establish a TCP connection: 30 s, as mox and Postfix (`smtp_connect_timeout`).
pub const CONNECT_TIMEOUT_MS: u64 = 30_000;

/// Bytes read from a server at once, and message bytes read from the file per helper
/// thread trip (64 KiB: one good socket write).
const READ_BUFFER_BYTES: usize = 64 * 1024;

/// A host to try: its name (for SNI, logs and DSNs) and its addresses, ports included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// Host name (an MX target), or the address as text.
    pub name: String,
    /// Where it listens.
    pub addresses: Vec<SocketAddr>,
    /// Where the host came from, which decides the TLS policies that apply.
    pub source: HostSource,
}

/// How a host was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostSource {
    /// A configured route: the recipient domain's DANE and MTA-STS policies name its
    /// MX hosts, not this one, so only opportunistic TLS applies.
    Route,
    /// MX lookup (or the implicit MX); `authentic`: the MX record and the host's
    /// addresses came from authentic DNS answers (DNSSEC validated by a trusted
    /// resolver), so DANE applies (RFC 7672 §2.2).
    Mx {
        /// All answers had the AD bit from a trusted resolver.
        authentic: bool,
    },
}

/// The connection, plain or after STARTTLS.
enum Connection {
    Plain(TcpStream),
    Tls(Box<ClientTlsStream>),
}

impl AsyncRead for Connection {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Connection::Plain(tcp) => Pin::new(tcp).poll_read(cx, buf),
            Connection::Tls(tls) => Pin::new(&mut **tls).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Connection::Plain(tcp) => Pin::new(tcp).poll_write(cx, buf),
            Connection::Tls(tls) => Pin::new(&mut **tls).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Connection::Tls(tls) => Pin::new(&mut **tls).poll_flush(cx),
        }
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Plain(tcp) => Pin::new(tcp).poll_close(cx),
            Connection::Tls(tls) => Pin::new(&mut **tls).poll_close(cx),
        }
    }
}

/// What an attempt needs besides the destination.
pub(crate) struct RemoteAttempt<'a> {
    pub(crate) hostname: &'a str,
    /// Opportunistic (unverified) client TLS; `None`: plaintext unless a policy
    /// requires verified TLS.
    pub(crate) tls: Option<&'a TlsConnector>,
    /// DANE, MTA-STS, TLS memory and TLSRPT results; `None`: opportunistic TLS only.
    pub(crate) policies: Option<&'a QueueTlsPolicies>,
    pub(crate) message: &'a QueuedMessage,
    pub(crate) file: Arc<MessageFile>,
    /// Wall clock, Unix ms (policy cache ages, TLSRPT days).
    pub(crate) now_ms: i64,
    /// Where a connection is kept between the destinations of one run (`None`: every
    /// session ends with QUIT).
    pub(crate) kept: Option<&'a RefCell<Option<Kept>>>,
}

/// A queued message's file: its bytes when they fit one read, else the open file.
#[derive(Debug)]
pub(crate) enum MessageFile {
    /// The whole message: a small file read with the open (at most
    /// [`READ_BUFFER_BYTES`]), or an inline message (`QueuedContent::Inline`).
    Small(Arc<[u8]>),
    /// Read in pieces as it is sent.
    Open(Arc<File>),
}

impl MessageFile {
    /// Opens the file of a message of `size` bytes (blocking: on a helper thread).
    pub(crate) fn open(path: &std::path::Path, size: u64) -> io::Result<MessageFile> {
        use std::os::unix::fs::FileExt as _;
        let file = File::open(path)?;
        match usize::try_from(size) {
            Ok(length) if length <= READ_BUFFER_BYTES => {
                let mut bytes = vec![0; length];
                file.read_exact_at(&mut bytes, 0)?;
                Ok(MessageFile::Small(Arc::from(bytes)))
            }
            _ => Ok(MessageFile::Open(Arc::new(file))),
        }
    }
}

impl RemoteAttempt<'_> {
    /// Where this attempt's TLSRPT results are counted: nowhere for a TLS report, whose
    /// sessions are not reported (RFC 8460 §3), so a domain whose TLS fails does not get
    /// reports about the delivery of its reports.
    fn results(&self) -> Option<&QueueTlsPolicies> {
        self.policies.filter(|_| !self.message.tls_report)
    }
}

/// Most messages one connection carries before it is closed: a bound on how long one
/// peer holds one of our connections, and on the damage of a session that went wrong
/// unnoticed. Postfix has no count limit by default but a 300 s time limit; 100
/// messages of a typical size take well under that.
pub const CONNECTION_MESSAGES_MAX: u32 = 100;

/// Longest a connection stays open between two messages: 5 s. The next destination of
/// the same domain follows at once in the same run (the DSN and the store's write in
/// between take milliseconds), so a longer wait only holds a socket at the peer,
/// which may close it sooner anyway (Postfix keeps its cache 2 s).
pub const CONNECTION_IDLE_MS_MAX: u64 = 5_000;

/// Longest wait for a kept connection's QUIT to be written: 5 s. The `221` is not
/// awaited (nothing depends on it); a peer that takes no bytes is simply dropped.
pub const KEPT_QUIT_WAIT_MS_MAX: u64 = 5_000;

/// A connection left open after a completed delivery, ready for the next message to
/// the same address under the same TLS and AUTH terms (`key`).
pub struct Kept {
    key: String,
    connection: Connection,
    session: ClientSession,
    messages: u32,
    idle_since_ms: u64,
}

impl std::fmt::Debug for Kept {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kept")
            .field("key", &self.key)
            .field("messages", &self.messages)
            .finish_non_exhaustive()
    }
}

/// The kept connection if it matches `key` and has not idled too long; any other is
/// closed.
async fn take_kept(attempt: &RemoteAttempt<'_>, key: &str) -> Option<Kept> {
    let kept = attempt.kept?.borrow_mut().take()?;
    let fresh = now_monotonic_ms().saturating_sub(kept.idle_since_ms) <= CONNECTION_IDLE_MS_MAX;
    if kept.key == key && fresh {
        return Some(kept);
    }
    close_kept(Some(kept)).await;
    None
}

/// Ends a kept connection with QUIT (not waiting for the `221`; at most
/// [`KEPT_QUIT_WAIT_MS_MAX`]).
pub(crate) async fn close_kept(kept: Option<Kept>) {
    let Some(Kept { mut connection, mut session, .. }) = kept else { return };
    session.quit(now_monotonic_ms());
    let quit = async {
        let pending = session.pending_output().to_vec();
        let _ = connection.write_all(&pending).await;
        let _ = connection.flush().await;
    };
    let _ = moxide_runtime::time::timeout(Duration::from_millis(KEPT_QUIT_WAIT_MS_MAX), quit).await;
}

/// Why one connection did not complete a transaction.
#[derive(Debug)]
enum HostFailure {
    /// Before or outside a transaction: try the next address.
    Session(StoredReply),
    /// TLS could not be set up (handshake or certificate).
    Tls(TlsError),
    /// TLS is required and the server did not offer STARTTLS (or refused it).
    NoStartTls,
    /// AUTH was refused (or no mechanism both sides allow): `5xx` fails the
    /// recipients, anything else retries them.
    Auth(StoredReply),
}

/// How one connection is made: TLS, the name TLS verifies, AUTH.
struct Hop<'a> {
    host: &'a Host,
    address: SocketAddr,
    /// The connector for STARTTLS (or implicit TLS); `None`: plaintext.
    tls: Option<&'a TlsConnector>,
    /// No plaintext: STARTTLS must succeed.
    tls_required: bool,
    /// TLS from the first byte (RFC 8314).
    tls_implicit: bool,
    /// The name given to TLS (SNI, and what a verifying connector checks).
    server_name: String,
    auth: Option<&'a SmarthostAuth>,
    /// How `tls` verifies (`plain`, `opportunistic`, `verified`): a kept connection is
    /// used again only under the same TLS terms.
    tls_label: &'static str,
}

impl<'a> Hop<'a> {
    /// A connection to an MX host (or fixed route): no AUTH; an IP-named host gets
    /// `localhost` as SNI (opportunistic TLS does not check it).
    fn mx(host: &'a Host, address: SocketAddr, tls: Option<&'a TlsConnector>, tls_required: bool) -> Self {
        let server_name = if host.name.parse::<std::net::IpAddr>().is_ok() {
            "localhost".to_owned()
        } else {
            host.name.clone()
        };
        Hop { host, address, tls, tls_required, tls_implicit: false, server_name, auth: None, tls_label: "" }
    }

    /// What a kept connection must match to carry this hop's next message.
    fn key(&self) -> String {
        let user = self.auth.map_or("", |auth| auth.username.as_str());
        format!(
            "{}|{}|{}|{}|{}|{user}",
            self.address, self.server_name, self.tls_label, self.tls_required, self.tls_implicit
        )
    }
}

/// How the next connection to an address uses TLS.
enum TlsTry {
    /// A verifying connector; `required`: no fallback (DANE, MTA-STS enforce), else
    /// a failure is recorded and the connection repeated unverified (MTA-STS testing).
    Verified { connector: TlsConnector, required: bool },
    /// The opportunistic connector; `required`: no plaintext fallback.
    Unverified { required: bool },
    /// Plaintext.
    Plain,
}

/// A completed session: the outcomes, and whether it ran over TLS.
struct Delivered {
    outcomes: Vec<RecipientOutcome>,
    tls: bool,
}

/// Tries the hosts in order; returns one outcome per recipient of `destination`.
pub(crate) async fn attempt(
    attempt: &RemoteAttempt<'_>,
    destination: &Destination,
    hosts: &[Host],
) -> Vec<RecipientOutcome> {
    let domain = destination.domain.as_str();
    let routed = hosts.iter().all(|host| host.source == HostSource::Route);
    let sts = match attempt.policies {
        Some(policies) if !routed => policies.sts(domain, attempt.now_ms).await,
        _ => StsState::None,
    };
    if let (Some(policies), StsState::FetchFailed(kind, _)) = (attempt.results(), &sts) {
        policies.record_failure(domain, PolicyType::Sts, *kind, "", attempt.now_ms);
    }
    let mut last = reply("no host to deliver to", 451, EnhancedCode(4, 4, 4), "");
    let mut refused_for_requiretls = 0;
    for host in hosts {
        let plan = match attempt.policies {
            Some(policies) if host.source != HostSource::Route => {
                let counted = attempt.results().is_some();
                policies.host_tls_counted(domain, host, &sts, attempt.now_ms, counted).await
            }
            _ => HostTls::Opportunistic { required: false },
        };
        if let HostTls::Defer(why) = &plan
            && !attempt.message.tls_optional
        {
            tracing::info!(host = %host.name, %why, "host deferred by TLS policy");
            last = reply(why, 451, EnhancedCode(4, 7, 5), &host.name);
            continue;
        }
        if attempt.message.requiretls && !plan.is_verified() {
            // RFC 8689 §4.2.1: only to hosts whose TLS is verified (DANE or MTA-STS).
            let text = "REQUIRETLS needs verified TLS (MTA-STS enforce or DANE) to this host";
            last = reply(text, 550, EnhancedCode(5, 7, 30), &host.name);
            refused_for_requiretls += 1;
            continue;
        }
        for &address in &host.addresses {
            match attempt_address(attempt, destination, host, address, &plan).await {
                Ok(outcomes) => {
                    if let Some(policies) = attempt.policies {
                        policies.flush_results(attempt.now_ms).await;
                    }
                    return outcomes;
                }
                Err(failure) => last = failure,
            }
        }
    }
    if let Some(policies) = attempt.policies {
        policies.flush_results(attempt.now_ms).await;
    }
    let outcome = if refused_for_requiretls == hosts.len() && !hosts.is_empty() {
        RecipientOutcome::Failed(last)
    } else {
        RecipientOutcome::Retry(last)
    };
    destination.recipients.iter().map(|_| outcome.clone()).collect()
}

/// One attempt through `smarthost` at `hosts` (its name resolved): each address in
/// turn until one completes the session. `verified`: the WebPKI connector that
/// required TLS uses; `attempt.tls` (unverified) serves opportunistic STARTTLS. No
/// DANE, MTA-STS or TLSRPT: they concern the recipient domain's MX hosts.
pub(crate) async fn attempt_smarthost(
    attempt: &RemoteAttempt<'_>,
    destination: &Destination,
    smarthost: &Smarthost,
    verified: Option<&TlsConnector>,
    hosts: &[Host],
) -> Vec<RecipientOutcome> {
    let all = |outcome: RecipientOutcome| destination.recipients.iter().map(|_| outcome.clone()).collect();
    if attempt.message.requiretls && !smarthost.tls.is_verified() {
        // RFC 8689 §4.2.1: only over verified TLS; opportunistic STARTTLS is not.
        let text = "REQUIRETLS needs verified TLS, and this smarthost's transport does not require it";
        return all(RecipientOutcome::Failed(reply(text, 550, EnhancedCode(5, 7, 30), &smarthost.host)));
    }
    let connector = match smarthost.tls {
        SmarthostTls::StartTlsOpportunistic => attempt.tls,
        SmarthostTls::Implicit | SmarthostTls::StartTlsRequired => match verified {
            Some(connector) => Some(connector),
            None => {
                let text = "no trusted roots to verify the smarthost's certificate";
                return all(RecipientOutcome::Retry(reply(
                    text,
                    451,
                    EnhancedCode(4, 7, 5),
                    &smarthost.host,
                )));
            }
        },
    };
    let mut last = reply("no address for the smarthost", 451, EnhancedCode(4, 4, 4), &smarthost.host);
    for host in hosts {
        for &address in &host.addresses {
            let hop = Hop {
                host,
                address,
                tls: connector,
                tls_required: smarthost.tls.is_verified(),
                tls_implicit: smarthost.tls == SmarthostTls::Implicit,
                server_name: smarthost.host.trim_start_matches('[').trim_end_matches(']').to_owned(),
                auth: smarthost.auth.as_ref(),
                tls_label: if smarthost.tls.is_verified() { "verified" } else { "opportunistic" },
            };
            let mut result = deliver_to(attempt, destination, &hop).await;
            if let (Err(HostFailure::Tls(error)), SmarthostTls::StartTlsOpportunistic) =
                (&result, smarthost.tls)
            {
                // Opportunistic, as for MX hosts: a failed handshake once more in
                // plaintext (PLAIN then stays unused: the client sends it only over TLS).
                tracing::info!(host = %host.name, %address, %error, "smarthost TLS failed; plaintext");
                let plain = Hop { tls: None, tls_label: "plain", ..hop };
                result = deliver_to(attempt, destination, &plain).await;
            }
            match result {
                Ok(delivered) => return delivered.outcomes,
                Err(HostFailure::Auth(refused)) if refused.code / 100 == 5 => {
                    return all(RecipientOutcome::Failed(refused));
                }
                Err(HostFailure::Auth(failure) | HostFailure::Session(failure)) => last = failure,
                Err(HostFailure::NoStartTls) => {
                    let text = "the smarthost did not start TLS, which its transport requires";
                    last = reply(text, 451, EnhancedCode(4, 7, 5), &host.name);
                }
                Err(HostFailure::Tls(error)) => {
                    tracing::info!(host = %host.name, %address, %error, "smarthost TLS failed");
                    let text = format!("TLS to the smarthost failed: {error}");
                    last = reply(&text, 451, EnhancedCode(4, 7, 5), &host.name);
                }
            }
        }
    }
    all(RecipientOutcome::Retry(last))
}

/// The first way to connect under `plan`. A message whose TLS is optional (RFC 8689 §5,
/// RFC 8460 §3) tries the plan's verified TLS without requiring it: a failure falls
/// back to unverified TLS, then plaintext, and a deferring plan connects as without a
/// policy.
fn first_try(attempt: &RemoteAttempt<'_>, plan: &HostTls) -> Result<TlsTry, String> {
    let optional = attempt.message.tls_optional;
    let webpki = || {
        attempt
            .policies
            .and_then(|policies| policies.webpki().cloned())
            .ok_or_else(|| "no WebPKI roots for MTA-STS".to_owned())
    };
    Ok(match plan {
        HostTls::Dane(records) => match TlsConnector::dane(records.clone()) {
            Ok(connector) => TlsTry::Verified { connector, required: !optional },
            Err(_) if optional => TlsTry::Unverified { required: false },
            Err(error) => return Err(error.to_string()),
        },
        HostTls::StsEnforce => match webpki() {
            Ok(connector) => TlsTry::Verified { connector, required: !optional },
            Err(_) if optional => TlsTry::Unverified { required: false },
            Err(error) => return Err(error),
        },
        HostTls::StsTesting => match webpki() {
            Ok(connector) => TlsTry::Verified { connector, required: false },
            Err(_) => TlsTry::Unverified { required: false },
        },
        HostTls::Opportunistic { required } => TlsTry::Unverified { required: *required && !optional },
        HostTls::Defer(_) if optional => TlsTry::Unverified { required: false },
        HostTls::Defer(why) => return Err(why.clone()),
    })
}

/// One address under `plan`: connections until one completes or the plan allows no
/// other; the reply that stands for the failure otherwise.
async fn attempt_address(
    attempt: &RemoteAttempt<'_>,
    destination: &Destination,
    host: &Host,
    address: SocketAddr,
    plan: &HostTls,
) -> Result<Vec<RecipientOutcome>, StoredReply> {
    let domain = destination.domain.as_str();
    let now_ms = attempt.now_ms;
    let mut next =
        first_try(attempt, plan).map_err(|why| reply(&why, 451, EnhancedCode(4, 7, 5), &host.name))?;
    loop {
        let (connector, required) = match &next {
            TlsTry::Verified { connector, required } => (Some(connector), *required),
            TlsTry::Unverified { required } => (attempt.tls, *required),
            TlsTry::Plain => (None, false),
        };
        let verified = matches!(next, TlsTry::Verified { .. });
        let label = match (&next, connector) {
            (TlsTry::Verified { .. }, _) => "verified",
            (_, Some(_)) => "opportunistic",
            (_, None) => "plain",
        };
        let hop = Hop { tls_label: label, ..Hop::mx(host, address, connector, required) };
        match deliver_to(attempt, destination, &hop).await {
            Ok(delivered) => {
                if let Some(policies) = attempt.results() {
                    if verified && delivered.tls {
                        policies.record_success(domain, plan, now_ms);
                    } else if matches!(plan, HostTls::StsTesting) && !delivered.tls {
                        policies.record_failure(
                            domain,
                            PolicyType::Sts,
                            ResultType::StarttlsNotSupported,
                            &host.name,
                            now_ms,
                        );
                    }
                }
                // A TLS-optional message may have fallen back to plaintext: what it saw
                // must not erase the domain's STARTTLS memory (a downgrade).
                if let Some(policies) = attempt.policies
                    && !attempt.message.tls_optional
                {
                    policies.remember_tls(domain, delivered.tls, verified && delivered.tls, now_ms);
                }
                return Ok(delivered.outcomes);
            }
            Err(HostFailure::Session(failure) | HostFailure::Auth(failure)) => {
                tracing::info!(host = %host.name, %address, code = failure.code, text = %failure.text, "host failed");
                return Err(failure);
            }
            Err(HostFailure::NoStartTls) => {
                if let Some(policies) = attempt.results() {
                    policies.record_failure_for(
                        domain,
                        plan,
                        ResultType::StarttlsNotSupported,
                        &host.name,
                        now_ms,
                    );
                }
                let text = "TLS is required for this host and it did not start TLS";
                return Err(reply(text, 451, EnhancedCode(4, 7, 5), &host.name));
            }
            Err(HostFailure::Tls(error)) => {
                tracing::info!(host = %host.name, %address, %error, "TLS failed");
                if verified && let Some(policies) = attempt.results() {
                    policies.record_failure_for(domain, plan, handshake_result(&error), &host.name, now_ms);
                }
                next = match next {
                    TlsTry::Verified { required: false, .. } => TlsTry::Unverified { required: false },
                    TlsTry::Unverified { required: false } => TlsTry::Plain,
                    _ => {
                        let text = format!("TLS to this host failed and is required: {error}");
                        return Err(reply(&text, 451, EnhancedCode(4, 7, 5), &host.name));
                    }
                };
            }
        }
    }
}

fn reply(text: &str, code: u16, enhanced: EnhancedCode, host: &str) -> StoredReply {
    StoredReply {
        code,
        enhanced: Some((enhanced.0, enhanced.1, enhanced.2)),
        text: text.chars().take(moxide_storage::queue::QUEUE_REPLY_TEXT_BYTES_MAX / 4).collect(),
        remote_host: host.to_owned(),
    }
}

fn stored(reply: &Reply, host: &str) -> StoredReply {
    let mut text = reply.text.clone();
    let mut end = text.len().min(moxide_storage::queue::QUEUE_REPLY_TEXT_BYTES_MAX);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
    StoredReply {
        code: reply.code,
        enhanced: reply.enhanced.map(|e| (e.0, e.1, e.2)),
        text,
        remote_host: host.to_owned(),
    }
}

fn envelope(message: &QueuedMessage, recipients: &[moxide_storage::queue::QueuedRecipient]) -> Envelope {
    Envelope {
        mail_from: message.mail_from.clone(),
        recipients: recipients
            .iter()
            .map(|r| Recipient {
                address: r.address.clone(),
                notify: r.notify.clone(),
                original: r.original.clone(),
            })
            .collect(),
        size_bytes: message.prefix.len() as u64 + message.size_bytes,
        body: match message.body {
            QueuedBody::SevenBit => BodyType::SevenBit,
            QueuedBody::EightBit => BodyType::EightBitMime,
            QueuedBody::Binary => BodyType::BinaryMime,
        },
        smtputf8: message.smtputf8,
        requiretls: message.requiretls,
        dsn: DsnEnvelope {
            ret: Some(if message.return_headers_only { DsnReturn::Headers } else { DsnReturn::Full }),
            envid: message.envid.clone(),
        },
    }
}

/// One connection: the session driven to the end. Recipients beyond the server's
/// RCPTMAX go in further transactions on the same connection.
async fn deliver_to(
    attempt: &RemoteAttempt<'_>,
    destination: &Destination,
    hop: &Hop<'_>,
) -> Result<Delivered, HostFailure> {
    let key = hop.key();
    if let Some(kept) = take_kept(attempt, &key).await {
        let mut driver = Driver::new(kept.connection, kept.session, hop);
        let mut progress = Progress { messages: kept.messages, reused: true, ..Progress::default() };
        match run_session(attempt, destination, hop, &mut driver, &mut progress).await {
            Err(HostFailure::Session(failure)) if progress.is_untouched() => {
                tracing::info!(host = %hop.host.name, text = %failure.text, "kept connection unusable; a new one");
            }
            result => return finish(attempt, key, driver, &progress, result),
        }
    }
    let (connection, session) = connect(attempt, hop).await?;
    let mut driver = Driver::new(connection, session, hop);
    let mut progress = Progress::default();
    let result = run_session(attempt, destination, hop, &mut driver, &mut progress).await;
    finish(attempt, key, driver, &progress, result)
}

/// Keeps the connection for the next message when the session asked for it.
fn finish(
    attempt: &RemoteAttempt<'_>,
    key: String,
    driver: Driver<'_>,
    progress: &Progress,
    result: Result<Delivered, HostFailure>,
) -> Result<Delivered, HostFailure> {
    if let (Ok(_), true, Some(slot), Some(connection)) =
        (&result, progress.keep, attempt.kept, driver.connection)
    {
        let kept = Kept {
            key,
            connection,
            session: driver.session,
            messages: progress.messages,
            idle_since_ms: now_monotonic_ms(),
        };
        *slot.borrow_mut() = Some(kept);
    }
    result
}

/// What a session did so far, for the decision to keep or replace its connection.
#[derive(Default)]
struct Progress {
    /// Messages sent on the connection, this one included once it completed.
    messages: u32,
    /// The connection was kept from an earlier delivery.
    reused: bool,
    /// A transaction completed, or the message body started.
    touched: bool,
    /// Keep the connection open for the next message.
    keep: bool,
}

impl Progress {
    /// A kept connection that failed before any transaction completed and before any
    /// body byte went out: nothing can have been delivered, so a new connection may
    /// try at once (the usual case: the server closed it while it was idle).
    fn is_untouched(&self) -> bool {
        self.reused && !self.touched
    }
}

/// A TCP connection to the hop, TLS at once when the hop says so, and its session.
async fn connect(
    attempt: &RemoteAttempt<'_>,
    hop: &Hop<'_>,
) -> Result<(Connection, ClientSession), HostFailure> {
    let (host, tls) = (hop.host, hop.tls);
    let connect = TcpStream::connect(hop.address);
    let tcp = match moxide_runtime::time::timeout(Duration::from_millis(CONNECT_TIMEOUT_MS), connect).await {
        Ok(Ok(tcp)) => tcp,
        Ok(Err(error)) => {
            return Err(HostFailure::Session(reply(
                &format!("connect: {error}"),
                451,
                EnhancedCode(4, 4, 1),
                &host.name,
            )));
        }
        Err(_) => {
            return Err(HostFailure::Session(reply(
                "connect: timed out",
                451,
                EnhancedCode(4, 4, 1),
                &host.name,
            )));
        }
    };
    let config = ClientConfig { hostname: attempt.hostname.to_owned() };
    if hop.tls_implicit {
        let connector = tls.ok_or(HostFailure::Tls(TlsError::Config("no TLS client".into())))?;
        let stream = connector.connect(&hop.server_name, tcp).await.map_err(HostFailure::Tls)?;
        tracing::info!(host = %host.name, version = %stream.version(), cipher = stream.cipher(), "TLS established");
        Ok((Connection::Tls(Box::new(stream)), ClientSession::new_tls(config, now_monotonic_ms())))
    } else {
        Ok((Connection::Plain(tcp), ClientSession::new(config, now_monotonic_ms())))
    }
}

/// Drives one session to the end of the destination's recipients. On a kept
/// connection it starts with RSET (`Progress::reused`: TLS and AUTH are done already).
async fn run_session(
    attempt: &RemoteAttempt<'_>,
    destination: &Destination,
    hop: &Hop<'_>,
    driver: &mut Driver<'_>,
    progress: &mut Progress,
) -> Result<Delivered, HostFailure> {
    let (host, tls, tls_required) = (hop.host, hop.tls, hop.tls_required);
    let recipients = &destination.recipients;
    let mut outcomes: Vec<RecipientOutcome> = Vec::with_capacity(recipients.len());
    let mut tls_tried = progress.reused;
    let mut auth_tried = progress.reused;
    if progress.reused {
        driver.session.reset(now_monotonic_ms());
    }
    loop {
        driver.flush().await?;
        let Some(event) = driver.session.poll_event() else {
            if driver.session.wants_input() {
                driver.read().await?;
                continue;
            }
            if driver.session.is_done() {
                break;
            }
            return Err(HostFailure::Session(reply(
                "client session stalled",
                451,
                EnhancedCode(4, 3, 0),
                &host.name,
            )));
        };
        match event {
            Event::AuthRefused(refused) => {
                driver.session.quit(now_monotonic_ms());
                let _ = driver.flush().await;
                tracing::info!(host = %host.name, code = refused.code, text = %refused.text, "AUTH refused");
                return Err(HostFailure::Auth(stored(&refused, &host.name)));
            }
            Event::AuthDerive(derivation) => {
                let password = hop.auth.map(|auth| auth.password.clone()).unwrap_or_default();
                let salted = moxide_runtime::offload(move || derivation.salted_password(&password))
                    .await
                    .unwrap_or(Err(moxide_protocols::sasl::SaslError::Aborted));
                driver.session.auth_derived(salted, now_monotonic_ms());
            }
            Event::Ready | Event::StartTlsRefused(_) | Event::TransactionDone(_) | Event::Authenticated => {
                if let Event::TransactionDone(result) = &event {
                    progress.touched = true;
                    outcomes.extend(transaction_outcomes(result, &host.name));
                }
                let now = now_monotonic_ms();
                if tls.is_some() && !tls_tried && !driver.session.is_tls() && driver.session.start_tls(now) {
                    tls_tried = true;
                    continue;
                }
                if tls_required && !driver.session.is_tls() {
                    // No STARTTLS offered, or refused: no plaintext under this policy.
                    driver.session.quit(now);
                    let _ = driver.flush().await;
                    return Err(HostFailure::NoStartTls);
                }
                if let Some(auth) = hop.auth.filter(|_| !auth_tried) {
                    auth_tried = true;
                    driver.authenticate(auth, now)?;
                    continue;
                }
                if outcomes.len() >= recipients.len() {
                    progress.messages += 1;
                    if attempt.kept.is_some() && progress.messages < CONNECTION_MESSAGES_MAX {
                        progress.keep = true;
                        break;
                    }
                    driver.session.quit(now);
                    continue;
                }
                let batch_max = driver.session.recipients_max() as usize;
                let batch = &recipients[outcomes.len()..recipients.len().min(outcomes.len() + batch_max)];
                if let Err(refused) = driver.session.send(&envelope(attempt.message, batch), now) {
                    let result = stored(&refused.reply(), &host.name);
                    let outcome = if refused.reply().code / 100 == 5 {
                        RecipientOutcome::Failed(result)
                    } else {
                        RecipientOutcome::Retry(result)
                    };
                    outcomes.extend(batch.iter().map(|_| outcome.clone()));
                    driver.session.quit(now);
                }
            }
            Event::TlsReady => {
                let connector = tls.ok_or(HostFailure::Tls(TlsError::Config("no TLS client".into())))?;
                driver.start_tls(connector).await?;
            }
            Event::SendBody => {
                progress.touched = true;
                driver.send_body(attempt).await?;
            }
            Event::Closed => break,
            Event::Failed(failure) => {
                if outcomes.len() >= recipients.len() {
                    break;
                }
                let failed = failure_reply(&failure, &host.name);
                if outcomes.is_empty() {
                    return Err(HostFailure::Session(failed));
                }
                // Earlier transactions on this connection completed: their results
                // stand (retrying them would send twice); the rest are retried.
                outcomes.resize(recipients.len(), RecipientOutcome::Retry(failed));
                break;
            }
        }
    }
    if outcomes.len() < recipients.len() {
        let ended = reply(
            "connection ended before every recipient was tried",
            451,
            EnhancedCode(4, 4, 2),
            &host.name,
        );
        if outcomes.is_empty() {
            return Err(HostFailure::Session(ended));
        }
        outcomes.resize(recipients.len(), RecipientOutcome::Retry(ended));
    }
    Ok(Delivered { outcomes, tls: driver.session.is_tls() })
}

fn transaction_outcomes(result: &TransactionResult, host: &str) -> Vec<RecipientOutcome> {
    result
        .recipients
        .iter()
        .map(|reply| match reply.code / 100 {
            2 => RecipientOutcome::Delivered,
            5 => RecipientOutcome::Failed(stored(reply, host)),
            _ => RecipientOutcome::Retry(stored(reply, host)),
        })
        .collect()
}

fn failure_reply(failure: &Failure, host: &str) -> StoredReply {
    match &failure.cause {
        FailureCause::Reply(reply) => {
            // A refused greeting or EHLO is this host's answer, but other hosts of the
            // domain may still take the message: retried, not failed (RFC 5321 §5.1).
            let mut stored = stored(reply, host);
            if stored.code / 100 == 5 {
                stored.text = format!("{} (at {:?})", stored.text, failure.stage);
            }
            stored
        }
        FailureCause::Timeout => {
            reply(&format!("timeout at {:?}", failure.stage), 451, EnhancedCode(4, 4, 2), host)
        }
        FailureCause::Closed => {
            reply(&format!("connection closed at {:?}", failure.stage), 451, EnhancedCode(4, 4, 2), host)
        }
        other => reply(
            &format!("protocol error at {:?}: {other:?}", failure.stage),
            451,
            EnhancedCode(4, 5, 0),
            host,
        ),
    }
}

/// The socket side of one client session.
struct Driver<'h> {
    connection: Option<Connection>,
    session: ClientSession,
    buffer: Vec<u8>,
    host: &'h str,
    /// The name TLS is started with.
    server_name: &'h str,
}

impl<'h> Driver<'h> {
    fn new(connection: Connection, session: ClientSession, hop: &'h Hop<'h>) -> Self {
        Driver {
            connection: Some(connection),
            session,
            buffer: vec![0; READ_BUFFER_BYTES],
            host: &hop.host.name,
            server_name: &hop.server_name,
        }
    }

    /// Starts AUTH with the strongest mechanism both sides allow (channel binding
    /// from the TLS connection when it has one); none: an `Auth` failure (retried:
    /// the smarthost may offer it again, or the operator fix the list).
    fn authenticate(&mut self, auth: &SmarthostAuth, now: u64) -> Result<(), HostFailure> {
        let binding = match &self.connection {
            Some(Connection::Tls(tls)) => {
                tls.channel_binding().map(|data| moxide_protocols::sasl::ChannelBinding {
                    kind: moxide_protocols::sasl::ChannelBindingKind::TlsExporter,
                    data,
                })
            }
            _ => None,
        };
        // 24 random bytes: about 156 bits of nonce (RFC 5802 §5.1 asks for a
        // fresh, unpredictable one).
        let mut nonce = [0u8; 24];
        moxide_runtime::random::fill(&mut nonce);
        let request = AuthRequest {
            username: &auth.username,
            password: &auth.password,
            allowed: &auth.mechanisms,
            channel_binding: binding,
            nonce: &nonce,
        };
        match self.session.authenticate(&request, now) {
            Some(mechanism) => {
                tracing::info!(host = %self.host, %mechanism, "authenticating");
                Ok(())
            }
            None => {
                let offered = self.session.capabilities().auth_mechanisms.join(" ");
                let text = format!("no allowed AUTH mechanism (the server offers: {offered})");
                self.session.quit(now);
                Err(HostFailure::Auth(reply(&text, 454, EnhancedCode(4, 7, 0), self.host)))
            }
        }
    }

    fn lost(&self, what: &str, error: &io::Error) -> HostFailure {
        HostFailure::Session(reply(&format!("{what}: {error}"), 451, EnhancedCode(4, 4, 2), self.host))
    }

    async fn flush(&mut self) -> Result<(), HostFailure> {
        let Some(connection) = self.connection.as_mut() else { return Ok(()) };
        while !self.session.pending_output().is_empty() {
            let pending = self.session.pending_output();
            let timeout =
                Duration::from_millis(moxide_protocols::smtp::client::limits::DATA_BLOCK_TIMEOUT_MS);
            match moxide_runtime::time::timeout(timeout, connection.write(pending)).await {
                Ok(Ok(0)) => return Err(self.lost("write", &io::ErrorKind::WriteZero.into())),
                Ok(Ok(n)) => self.session.advance_output(n),
                Ok(Err(error)) => return Err(self.lost("write", &error)),
                Err(_) => return Err(self.lost("write", &io::ErrorKind::TimedOut.into())),
            }
        }
        connection.flush().await.map_err(|error| self.lost("write", &error))
    }

    async fn read(&mut self) -> Result<(), HostFailure> {
        let Some(connection) = self.connection.as_mut() else { return Ok(()) };
        let now = now_monotonic_ms();
        let wait = self.session.deadline_ms().map_or(0, |deadline| deadline.saturating_sub(now));
        match moxide_runtime::time::timeout(Duration::from_millis(wait), connection.read(&mut self.buffer))
            .await
        {
            Ok(Ok(0)) => self.session.peer_closed(),
            Ok(Ok(n)) => {
                let used = self.session.handle_input(&self.buffer[..n], now_monotonic_ms());
                if used < n && !self.session.is_done() {
                    // Only after the 220 to STARTTLS does the session leave input
                    // unused, and then it fails itself (no plaintext may follow it).
                    self.session.peer_closed();
                }
            }
            Ok(Err(_)) => self.session.peer_closed(),
            Err(_) => self.session.handle_timeout(now_monotonic_ms()),
        }
        Ok(())
    }

    async fn start_tls(&mut self, connector: &TlsConnector) -> Result<(), HostFailure> {
        let Some(Connection::Plain(tcp)) = self.connection.take() else {
            return Err(HostFailure::Tls(TlsError::AlreadyTls));
        };
        match connector.connect(self.server_name, tcp).await {
            Ok(tls) => {
                tracing::info!(host = %self.host, version = %tls.version(), cipher = tls.cipher(), "TLS established");
                self.connection = Some(Connection::Tls(Box::new(tls)));
                self.session.tls_established(now_monotonic_ms());
                Ok(())
            }
            Err(error) => Err(HostFailure::Tls(error)),
        }
    }

    /// Streams the prefix, then the file in pieces read on a helper thread.
    async fn send_body(&mut self, attempt: &RemoteAttempt<'_>) -> Result<(), HostFailure> {
        self.feed(&attempt.message.prefix).await?;
        let file = match &*attempt.file {
            MessageFile::Small(bytes) => {
                self.feed(bytes).await?;
                self.session.body_end(now_monotonic_ms());
                return Ok(());
            }
            MessageFile::Open(file) => file,
        };
        let mut offset = 0u64;
        while offset < attempt.message.size_bytes {
            let file = Arc::clone(file);
            let want = usize::try_from((attempt.message.size_bytes - offset).min(READ_BUFFER_BYTES as u64))
                .unwrap_or(READ_BUFFER_BYTES);
            let chunk = moxide_runtime::offload(move || {
                use std::os::unix::fs::FileExt as _;
                let mut chunk = vec![0; want];
                file.read_exact_at(&mut chunk, offset).map(|()| chunk)
            })
            .await
            .map_err(|panic| {
                HostFailure::Session(reply(
                    &format!("reading the message: {panic:?}"),
                    451,
                    EnhancedCode(4, 3, 0),
                    "",
                ))
            })?
            .map_err(|error| {
                HostFailure::Session(reply(
                    &format!("reading the message: {error}"),
                    451,
                    EnhancedCode(4, 3, 0),
                    "",
                ))
            })?;
            self.feed(&chunk).await?;
            offset += want as u64;
        }
        self.session.body_end(now_monotonic_ms());
        Ok(())
    }

    async fn feed(&mut self, mut bytes: &[u8]) -> Result<(), HostFailure> {
        while !bytes.is_empty() {
            let taken = self.session.body_data(bytes, now_monotonic_ms());
            bytes = &bytes[taken..];
            if taken == 0 {
                if self.session.is_done() {
                    return Ok(());
                }
                if self.session.pending_output().is_empty() {
                    // BDAT replies are due before more chunks go out.
                    self.read().await?;
                } else {
                    self.flush().await?;
                }
            }
        }
        Ok(())
    }
}
