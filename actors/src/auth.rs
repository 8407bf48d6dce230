//! Authentication shared by SMTP submission and IMAP: drives a
//! `moxide_protocols::sasl` exchange against the account store, the TLS client-key
//! registry and the failed-authentication rate limiter.
//!
//! Rules (RFC 4954 §4, RFC 9051 §6.2.2, and mox's behaviour):
//! - a login name is any address of the account or the account name; an authorization
//!   identity (SASL authzid), when given, must name the same account (RFC 4422 §3.4.1:
//!   the server decides whom the client may act as; acting as another account is
//!   refused like a wrong password);
//! - mechanisms that send the password (PLAIN, LOGIN) are offered only over TLS unless the
//!   listener allows plaintext (loopback by default);
//! - an IP (and its networks) with too many recent failures is refused before its
//!   credentials are even checked, so a correct guess after the limit still fails;
//! - every failure is answered after a delay and counted;
//! - passwords and SASL payloads never reach the logs; the `traceauth` target may show
//!   exchange steps, and only when explicitly enabled (see the binary's logging setup).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use moxide_protocols::sasl::{
    ChannelBinding, ChannelBindingKind, CramMd5Secrets, Mechanism, SaslError, ScramSecrets, Secrets,
    ServerExchange, Step,
};
use moxide_runtime::tls::TlsInfo;
use moxide_storage::{GlobalStore, StoredCredentials};

use crate::directory::Lookup;
use crate::node::Node;
use crate::ratelimit::Limiter;

/// Delay before a failed authentication is answered (mox uses one second): slows guessing
/// without tying up more than a timer.
pub const AUTH_FAILURE_DELAY: Duration = Duration::from_secs(1);

/// Random bytes for SASL nonces and challenges.
const NONCE_BYTES: usize = 24;

/// Shared authentication state of a server: limiter and key registry.
pub struct AuthServices {
    /// Failed authentications per IP prefix.
    pub failures: Limiter,
    /// Registered TLS client public keys (SASL EXTERNAL, IMAP PREAUTH).
    pub global: Option<Arc<GlobalStore>>,
    /// Addresses exempt from rate limits (tests, trusted relays).
    pub exempt: Vec<IpAddr>,
    /// Key for the decoy salts SCRAM shows for unknown users, so probing cannot tell
    /// them from real ones (random per process).
    pub decoy_key: [u8; 32],
    /// Recently verified passwords, so a client that logs in again and again (IMAP
    /// clients open several connections; some reconnect per check) costs a MAC, not an
    /// argon2id run.
    pub verified: VerifiedPasswords,
}

/// How long a verified password is remembered. A password change invalidates at once
/// (the stored hash is part of the key); this bounds the memory held and how long a
/// remembered login skips the slow hash.
pub const VERIFIED_PASSWORD_TTL: Duration = Duration::from_secs(300);

/// Most remembered logins; past it the cache starts over (a simple bound, not an LRU:
/// a full cache only costs argon2 runs).
pub const VERIFIED_PASSWORDS_MAX: usize = 100_000;

/// A cache of (account, stored hash, password) → verified, holding only an HMAC of them
/// under a random per-process key (never the password), as Dovecot's auth cache does.
pub struct VerifiedPasswords {
    key: [u8; 32],
    entries: std::sync::Mutex<std::collections::HashMap<[u8; 32], i64>>,
}

impl VerifiedPasswords {
    /// An empty cache with a fresh random key.
    pub fn new() -> VerifiedPasswords {
        let mut key = [0u8; 32];
        moxide_runtime::random::fill(&mut key);
        VerifiedPasswords { key, entries: std::sync::Mutex::new(std::collections::HashMap::new()) }
    }

    fn mac(&self, account: &str, phc: &str, password: &str) -> [u8; 32] {
        use hmac::Mac as _;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("any key length works"));
        for part in [account, phc, password] {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part.as_bytes());
        }
        mac.finalize().into_bytes().into()
    }

    fn check(&self, account: &str, phc: &str, password: &str, now_ms: i64) -> bool {
        let mac = self.mac(account, phc, password);
        let entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.get(&mac).is_some_and(|expires| *expires > now_ms)
    }

    fn remember(&self, account: &str, phc: &str, password: &str, now_ms: i64) {
        let mac = self.mac(account, phc, password);
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= VERIFIED_PASSWORDS_MAX {
            entries.retain(|_, expires| *expires > now_ms);
            if entries.len() >= VERIFIED_PASSWORDS_MAX {
                entries.clear();
            }
        }
        let ttl = i64::try_from(VERIFIED_PASSWORD_TTL.as_millis()).unwrap_or(i64::MAX);
        entries.insert(mac, now_ms.saturating_add(ttl));
    }
}

impl Default for VerifiedPasswords {
    fn default() -> Self {
        Self::new()
    }
}

impl AuthServices {
    fn is_exempt(&self, ip: IpAddr) -> bool {
        self.exempt.contains(&ip)
    }
}

/// Who authenticated.
#[derive(Debug, Clone)]
pub struct Authenticated {
    /// The account.
    pub account: Arc<str>,
    /// The name the client logged in with.
    pub login: String,
}

/// Why an authentication failed, for the protocol's reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthFailure {
    /// Wrong name/password/proof (RFC 4954 535 5.7.8; IMAP AUTHENTICATIONFAILED).
    BadCredentials,
    /// Too many failures from this network: try later (SMTP 454 4.7.0; IMAP UNAVAILABLE).
    RateLimited,
    /// The mechanism is not offered here (e.g. PLAIN without TLS): 538 5.7.11 / NO.
    MechanismUnavailable,
    /// The client broke the exchange (bad encoding, cancel): 501 / BAD.
    Malformed,
    /// Our problem (storage): 454 4.7.0 / NO [UNAVAILABLE].
    Temporary,
}

/// The next thing to tell the client.
#[derive(Debug)]
pub enum AuthProgress {
    /// Send this challenge (raw; the protocol base64-encodes it).
    Challenge(Vec<u8>),
    /// Done. `final_message`: SCRAM server-final data to send with the success.
    Success(Authenticated, Option<Vec<u8>>),
    /// Failed (already delayed and counted).
    Failure(AuthFailure),
}

/// The connection facts authentication depends on.
pub struct AuthConnection {
    /// Client address.
    pub ip: IpAddr,
    /// TLS details when the connection is TLS.
    pub tls: Option<TlsInfo>,
    /// RFC 9266 tls-exporter data when available (TLS 1.3).
    pub channel_binding: Option<Vec<u8>>,
    /// Whether PLAIN/LOGIN are allowed without TLS on this listener.
    pub plaintext_allowed: bool,
}

/// Mechanisms to offer on a connection, strongest first.
pub fn offered_mechanisms(connection: &AuthConnection, external_possible: bool) -> Vec<Mechanism> {
    Mechanism::ALL
        .into_iter()
        .filter(|m| !m.needs_channel_binding() || connection.channel_binding.is_some())
        .filter(|m| !m.sends_password() || connection.tls.is_some() || connection.plaintext_allowed)
        .filter(|m| {
            *m != Mechanism::External
                || (external_possible
                    && connection.tls.as_ref().is_some_and(|t| t.client_spki_sha256.is_some()))
        })
        .collect()
}

/// One authentication exchange.
pub struct Authenticator {
    node: Node,
    services: Arc<AuthServices>,
    ip: IpAddr,
    tls_key: Option<[u8; 32]>,
    exchange: ServerExchange,
    authcid: Option<String>,
    /// The identity the client asked to act as, when it named one.
    authzid: Option<String>,
    /// The mechanism's name, for metrics.
    mechanism: &'static str,
}

impl Authenticator {
    /// Begins an exchange for `mechanism` (None: refused; the reason as failure).
    pub fn new(
        node: Node,
        services: Arc<AuthServices>,
        connection: &AuthConnection,
        mechanism: Mechanism,
        hostname: &str,
    ) -> Result<Authenticator, AuthFailure> {
        if !offered_mechanisms(connection, services.global.is_some()).contains(&mechanism) {
            return Err(AuthFailure::MechanismUnavailable);
        }
        let mut nonce = [0u8; NONCE_BYTES];
        moxide_runtime::random::fill(&mut nonce);
        let binding = connection
            .channel_binding
            .clone()
            .map(|data| ChannelBinding { kind: ChannelBindingKind::TlsExporter, data });
        let exchange =
            ServerExchange::new(mechanism, &nonce, hostname, binding).with_decoy_key(&services.decoy_key);
        Ok(Authenticator {
            node,
            services,
            ip: connection.ip,
            tls_key: connection.tls.as_ref().and_then(|t| t.client_spki_sha256),
            exchange,
            authcid: None,
            authzid: None,
            mechanism: mechanism_label(mechanism),
        })
    }

    /// Starts with the client's initial response, if any.
    pub async fn start(&mut self, initial: Option<&[u8]>) -> AuthProgress {
        if !self.services.is_exempt(self.ip)
            && !self.services.failures.can_add(self.ip, crate::clock::now_unix_ms(), 1)
        {
            tracing::info!(ip = %self.ip, "authentication refused: too many failures from this network");
            crate::metrics::count_ratelimit("auth");
            crate::metrics::count_login(self.mechanism, AuthFailure::RateLimited.label());
            moxide_runtime::time::sleep(AUTH_FAILURE_DELAY).await;
            return AuthProgress::Failure(AuthFailure::RateLimited);
        }
        let step = self.exchange.start(initial);
        self.drive(step).await
    }

    /// The client's next response.
    pub async fn respond(&mut self, response: &[u8]) -> AuthProgress {
        let step = self.exchange.respond(response);
        self.drive(step).await
    }

    async fn drive(&mut self, mut step: Step) -> AuthProgress {
        loop {
            step = match step {
                Step::Challenge(challenge) => return AuthProgress::Challenge(challenge),
                Step::NeedSecrets { authcid, authzid } => {
                    let credentials = self.credentials_of(&authcid).await;
                    self.authcid = Some(authcid);
                    self.authzid = authzid;
                    match credentials {
                        Err(failure) => return self.fail(failure).await,
                        Ok(None) => self.exchange.with_secrets(None),
                        Ok(Some(stored)) => {
                            let (sha1, sha256, cram) = secrets_of(&stored);
                            let secrets = Secrets {
                                scram_sha1: sha1.as_ref(),
                                scram_sha256: sha256.as_ref(),
                                cram_md5: cram.as_ref(),
                            };
                            self.exchange.with_secrets(Some(secrets))
                        }
                    }
                }
                Step::VerifyPassword { authcid, authzid, password } => {
                    let verified = self.verify_password(&authcid, password).await;
                    self.authcid = Some(authcid);
                    self.authzid = authzid;
                    match verified {
                        Err(failure) => return self.fail(failure).await,
                        Ok(ok) => self.exchange.password_verified(ok),
                    }
                }
                Step::VerifyExternal { authzid } => {
                    let identity = self.external_identity(&authzid).await;
                    self.exchange.external_verified(identity)
                }
                Step::Success { authcid, final_message } => {
                    let Some(account) = self.account_for(&authcid) else {
                        return self.fail(AuthFailure::BadCredentials).await;
                    };
                    if !self.may_act_as(&account) {
                        tracing::info!(ip = %self.ip, %account, "authorization identity of another account refused");
                        return self.fail(AuthFailure::BadCredentials).await;
                    }
                    tracing::info!(ip = %self.ip, %account, "authenticated");
                    crate::metrics::count_login(self.mechanism, "ok");
                    return AuthProgress::Success(Authenticated { account, login: authcid }, final_message);
                }
                Step::Failure(error) => {
                    let failure = match error {
                        SaslError::Malformed(_) | SaslError::Aborted | SaslError::TooLong => {
                            AuthFailure::Malformed
                        }
                        _ => AuthFailure::BadCredentials,
                    };
                    tracing::trace!(target: "traceauth", ip = %self.ip, ?error, "sasl exchange failed");
                    return self.fail(failure).await;
                }
            };
        }
    }

    async fn fail(&mut self, failure: AuthFailure) -> AuthProgress {
        if matches!(failure, AuthFailure::BadCredentials | AuthFailure::Malformed)
            && !self.services.is_exempt(self.ip)
        {
            self.services.failures.add(self.ip, crate::clock::now_unix_ms(), 1);
        }
        tracing::info!(ip = %self.ip, login = self.authcid.as_deref().unwrap_or(""), ?failure, "authentication failed");
        crate::metrics::count_login(self.mechanism, failure.label());
        moxide_runtime::time::sleep(AUTH_FAILURE_DELAY).await;
        AuthProgress::Failure(failure)
    }

    fn account_for(&self, login: &str) -> Option<Arc<str>> {
        account_for_login(&self.node, login)
    }

    /// Whether the requested authorization identity, if any, is a name of `account`
    /// (any of its addresses, or its name, as for logins).
    fn may_act_as(&self, account: &Arc<str>) -> bool {
        match &self.authzid {
            None => true,
            Some(authzid) => self.account_for(authzid).is_some_and(|other| other == *account),
        }
    }

    async fn credentials_of(&self, login: &str) -> Result<Option<StoredCredentials>, AuthFailure> {
        let Some(account) = self.account_for(login) else { return Ok(None) };
        let stores = Arc::clone(self.node.stores());
        let result = moxide_runtime::offload(move || stores.get(&account)?.credentials()).await;
        match result {
            Ok(Ok(credentials)) => Ok(credentials),
            Ok(Err(error)) => {
                tracing::error!(%error, "reading credentials failed");
                Err(AuthFailure::Temporary)
            }
            Err(panic) => {
                tracing::error!(%panic, "reading credentials panicked");
                Err(AuthFailure::Temporary)
            }
        }
    }

    async fn verify_password(&self, login: &str, password: String) -> Result<bool, AuthFailure> {
        let Some(account) = self.account_for(login) else { return Ok(false) };
        verify_account_password(&self.node, &self.services, account, password).await
    }
    /// SASL EXTERNAL (RFC 4422 appendix A): the TLS client key names the login; an authzid,
    /// if given, must be that login.
    async fn external_identity(&self, authzid: &str) -> Option<String> {
        let key = self.tls_key?;
        let registered = registered_key(self.services.global.as_ref()?, key).await?;
        if !authzid.is_empty() && authzid != registered.login_address {
            return None;
        }
        Some(registered.login_address)
    }
}

/// Checks `password` against `account`'s stored hash (remembered verifications skip
/// argon2id; see [`VerifiedPasswords`]), on a helper thread.
async fn verify_account_password(
    node: &Node,
    services: &Arc<AuthServices>,
    account: Arc<str>,
    password: String,
) -> Result<bool, AuthFailure> {
    let stores = Arc::clone(node.stores());
    let services = Arc::clone(services);
    let now_ms = crate::clock::now_unix_ms();
    let result = moxide_runtime::offload(move || -> Result<bool, moxide_storage::StorageError> {
        let Ok(prepared) = moxide_protocols::sasl::prepare_password(&password) else { return Ok(false) };
        let store = stores.get(&account)?;
        let Some(credentials) = store.credentials()? else { return Ok(false) };
        if services.verified.check(&account, &credentials.argon2id, &prepared, now_ms) {
            return Ok(true);
        }
        let ok = moxide_storage::verify_password_hash(&credentials.argon2id, &prepared)?;
        if ok {
            services.verified.remember(&account, &credentials.argon2id, &prepared, now_ms);
        }
        Ok(ok)
    })
    .await;
    match result {
        Ok(Ok(ok)) => Ok(ok),
        Ok(Err(error)) => {
            tracing::error!(%error, "verifying a password failed");
            Err(AuthFailure::Temporary)
        }
        Err(panic) => {
            tracing::error!(%panic, "verifying a password panicked");
            Err(AuthFailure::Temporary)
        }
    }
}

/// A password login outside SASL (the HTTP API's account login): the same rules as
/// SMTP and IMAP logins. A network over the failure limit is refused before the password
/// is looked at; a failure is counted and answered after [`AUTH_FAILURE_DELAY`].
pub async fn password_login(
    node: &Node,
    services: &Arc<AuthServices>,
    ip: IpAddr,
    login: &str,
    password: String,
) -> Result<Arc<str>, AuthFailure> {
    let exempt = services.is_exempt(ip);
    if !exempt && !services.failures.can_add(ip, crate::clock::now_unix_ms(), 1) {
        crate::metrics::count_ratelimit("auth");
        crate::metrics::count_login("password", AuthFailure::RateLimited.label());
        moxide_runtime::time::sleep(AUTH_FAILURE_DELAY).await;
        return Err(AuthFailure::RateLimited);
    }
    let verified = match account_for_login(node, login) {
        Some(account) => verify_account_password(node, services, Arc::clone(&account), password)
            .await
            .map(|ok| ok.then_some(account)),
        None => Ok(None),
    };
    let failure = match verified {
        Ok(Some(account)) => {
            crate::metrics::count_login("password", "ok");
            return Ok(account);
        }
        Ok(None) => AuthFailure::BadCredentials,
        Err(failure) => failure,
    };
    if failure == AuthFailure::BadCredentials && !exempt {
        services.failures.add(ip, crate::clock::now_unix_ms(), 1);
    }
    crate::metrics::count_login("password", failure.label());
    tracing::info!(%ip, ?failure, "password login failed");
    moxide_runtime::time::sleep(AUTH_FAILURE_DELAY).await;
    Err(failure)
}

/// A failed-login check outside SASL for a secret that is not an account's (the HTTP
/// API's admin password): refuses a network over the failure limit, or counts a failure
/// and waits [`AUTH_FAILURE_DELAY`]. `verified`: what the caller's own check found.
pub async fn other_login(
    services: &AuthServices,
    ip: IpAddr,
    check: impl AsyncFnOnce() -> bool,
) -> Result<(), AuthFailure> {
    let exempt = services.is_exempt(ip);
    if !exempt && !services.failures.can_add(ip, crate::clock::now_unix_ms(), 1) {
        crate::metrics::count_ratelimit("auth");
        crate::metrics::count_login("password", AuthFailure::RateLimited.label());
        moxide_runtime::time::sleep(AUTH_FAILURE_DELAY).await;
        return Err(AuthFailure::RateLimited);
    }
    if check().await {
        crate::metrics::count_login("password", "ok");
        return Ok(());
    }
    if !exempt {
        services.failures.add(ip, crate::clock::now_unix_ms(), 1);
    }
    crate::metrics::count_login("password", AuthFailure::BadCredentials.label());
    moxide_runtime::time::sleep(AUTH_FAILURE_DELAY).await;
    Err(AuthFailure::BadCredentials)
}

fn mechanism_label(mechanism: Mechanism) -> &'static str {
    match mechanism {
        Mechanism::ScramSha256Plus => "scram-sha-256-plus",
        Mechanism::ScramSha256 => "scram-sha-256",
        Mechanism::ScramSha1Plus => "scram-sha-1-plus",
        Mechanism::ScramSha1 => "scram-sha-1",
        Mechanism::CramMd5 => "cram-md5",
        Mechanism::Plain => "plain",
        Mechanism::Login => "login",
        Mechanism::External => "external",
    }
}

impl AuthFailure {
    /// The metric label of this failure.
    pub fn label(&self) -> &'static str {
        match self {
            AuthFailure::BadCredentials => "bad_credentials",
            AuthFailure::RateLimited => "rate_limited",
            AuthFailure::MechanismUnavailable => "unavailable",
            AuthFailure::Malformed => "malformed",
            AuthFailure::Temporary => "temporary",
        }
    }
}

/// The registration of a TLS client key, if any.
pub async fn registered_key(
    global: &Arc<GlobalStore>,
    fingerprint: [u8; 32],
) -> Option<moxide_storage::TlsPublicKey> {
    let global = Arc::clone(global);
    match moxide_runtime::offload(move || global.tls_public_key(&fingerprint)).await {
        Ok(Ok(key)) => key,
        Ok(Err(error)) => {
            tracing::error!(%error, "reading TLS client keys failed");
            None
        }
        Err(_) => None,
    }
}

/// The account a login name names: any address of it (as mox), or its name.
pub fn account_for_login(node: &Node, login: &str) -> Option<Arc<str>> {
    let directory = node.directory();
    if let Some((localpart, domain)) = login.rsplit_once('@')
        && let Lookup::Account(account) = directory.lookup(localpart, domain)
    {
        return Some(account);
    }
    directory.accounts().iter().find(|a| ***a == *login).cloned()
}

fn secrets_of(
    stored: &StoredCredentials,
) -> (Option<ScramSecrets>, Option<ScramSecrets>, Option<CramMd5Secrets>) {
    let scram = |record: &moxide_storage::ScramRecord| ScramSecrets {
        salt: record.salt.clone(),
        iterations: record.iterations,
        stored_key: record.stored_key.clone(),
        server_key: record.server_key.clone(),
    };
    let cram = stored.cram_md5.map(|state| CramMd5Secrets {
        inner: [state[0], state[1], state[2], state[3]],
        outer: [state[4], state[5], state[6], state[7]],
    });
    (stored.scram_sha1.as_ref().map(scram), stored.scram_sha256.as_ref().map(scram), cram)
}

/// Everything derived from a password for storage (never the plaintext): argon2id for
/// PLAIN/LOGIN, SCRAM-SHA-1/256 secrets, CRAM-MD5 states. Blocking and slow (argon2 and
/// PBKDF2 on purpose): call from a helper thread.
pub fn derive_credentials(password: &str) -> Result<StoredCredentials, String> {
    let prepared =
        moxide_protocols::sasl::prepare_password(password).map_err(|e| format!("password refused: {e}"))?;
    let argon2id = moxide_storage::hash_password(&prepared).map_err(|e| e.to_string())?;
    let iterations = moxide_protocols::sasl::SCRAM_ITERATIONS_DEFAULT;
    let mut salt1 = [0u8; 16];
    let mut salt256 = [0u8; 16];
    moxide_runtime::random::fill(&mut salt1);
    moxide_runtime::random::fill(&mut salt256);
    let record = |s: ScramSecrets| moxide_storage::ScramRecord {
        salt: s.salt,
        iterations: s.iterations,
        stored_key: s.stored_key,
        server_key: s.server_key,
    };
    let sha1 = moxide_protocols::sasl::derive_scram_sha1(&prepared, &salt1, iterations)
        .map_err(|e| e.to_string())?;
    let sha256 = moxide_protocols::sasl::derive_scram_sha256(&prepared, &salt256, iterations)
        .map_err(|e| e.to_string())?;
    let cram = moxide_protocols::sasl::derive_cram_md5(&prepared).map_err(|e| e.to_string())?;
    let mut cram_state = [0u32; 8];
    cram_state[..4].copy_from_slice(&cram.inner);
    cram_state[4..].copy_from_slice(&cram.outer);
    Ok(StoredCredentials {
        argon2id,
        scram_sha1: Some(record(sha1)),
        scram_sha256: Some(record(sha256)),
        cram_md5: Some(cram_state),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verified_passwords_expire_and_follow_the_stored_hash() {
        let cache = VerifiedPasswords::new();
        let ttl = i64::try_from(VERIFIED_PASSWORD_TTL.as_millis()).unwrap_or(i64::MAX);
        cache.remember("alice", "$argon2id$one", "secret", 0);
        assert!(cache.check("alice", "$argon2id$one", "secret", 1));
        assert!(!cache.check("alice", "$argon2id$one", "Secret", 1), "another password");
        assert!(!cache.check("bob", "$argon2id$one", "secret", 1), "another account");
        assert!(!cache.check("alice", "$argon2id$two", "secret", 1), "the password was changed");
        assert!(!cache.check("alice", "$argon2id$one", "secret", ttl), "expired");
    }
}
