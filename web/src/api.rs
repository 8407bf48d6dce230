//! Routing and handlers of `/api/v0/...`, `/metrics` and the OpenAPI document.
//!
//! Each handler is annotated for the OpenAPI document (`openapi.rs` collects them).
//! Handlers check the caller first (admin endpoints refuse accounts with 403 and
//! everyone without a token with 401), read at most [`API_BODY_BYTES_MAX`] of body, do
//! their blocking work (password hashing, LMDB writes, the domains file) on helper
//! threads, and answer JSON.

use std::net::IpAddr;
use std::rc::Rc;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use moxide_actors::{AccountSpec, DirectoryChange, DomainSpec, Lookup, Node};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::WebServices;
use crate::auth::{Principal, hex, principal_of};
use crate::error::{ApiError, CommonErrors};
use crate::live;
use crate::types::*;

/// Largest request body: the biggest request is a PEM certificate (a few KiB); 256 KiB
/// leaves room for long chains without letting a client make us buffer much.
pub const API_BODY_BYTES_MAX: usize = 256 * 1024;

/// Where a request came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A TCP client at this address.
    Tcp(IpAddr),
    /// The control socket: the server's own user (file permissions); acts as admin.
    Control,
}

/// One core's handler state.
pub struct Ctx {
    /// This core's node.
    pub node: Node,
    /// Shared services.
    pub services: Arc<WebServices>,
}

/// A response body: whole (JSON, text) or streamed (an export, made on this core as it
/// is sent; not `Send`, hence no boxed body).
pub enum ReplyBody {
    /// The whole body.
    Full(Full<Bytes>),
    /// An export archive.
    Export(Box<crate::export::ExportBody>),
}

impl hyper::body::Body for ReplyBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            ReplyBody::Full(full) => std::pin::Pin::new(full)
                .poll_frame(cx)
                .map(|frame| frame.map(|f| f.map_err(|never| match never {}))),
            ReplyBody::Export(export) => std::pin::Pin::new(export.as_mut()).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ReplyBody::Full(full) => full.is_end_stream(),
            ReplyBody::Export(_) => false,
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            ReplyBody::Full(full) => full.size_hint(),
            ReplyBody::Export(_) => hyper::body::SizeHint::default(),
        }
    }
}

pub(crate) type Reply = Response<ReplyBody>;

/// A whole body.
fn full(bytes: impl Into<Bytes>) -> ReplyBody {
    ReplyBody::Full(Full::new(bytes.into()))
}

/// Answers one request.
pub async fn handle(ctx: Rc<Ctx>, origin: Origin, request: Request<Incoming>) -> Reply {
    let reply = match route(&ctx, origin, request).await {
        Ok(reply) => reply,
        Err(error) => error_reply(&error),
    };
    let class = match reply.status().as_u16() {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    moxide_actors::metrics::metrics()
        .http_requests
        .get_or_create(&moxide_actors::metrics::HttpLabels { status: class })
        .inc();
    reply
}

async fn route(ctx: &Ctx, origin: Origin, request: Request<Incoming>) -> Result<Reply, ApiError> {
    if let Origin::Tcp(ip) = origin
        && !ctx.services.exempt.contains(&ip)
        && !ctx.services.requests.add(ip, moxide_actors::clock::now_unix_ms(), 1)
    {
        moxide_actors::metrics::count_ratelimit("http_request");
        return Err(ApiError::too_many_requests("too many requests from this network; slow down"));
    }
    let path = request.uri().path().to_string();
    let segments: Vec<String> = path.trim_start_matches('/').split('/').map(percent_decode).collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let method = request.method().clone();
    match segments.as_slice() {
        ["metrics"] => only(&method, Method::GET, || metrics(ctx)),
        ["api", "v0", "openapi.json"] => only(&method, Method::GET, openapi),
        ["api", "v0", "login"] if method == Method::POST => login(ctx, origin, request).await,
        ["api", "v0", "logout"] if method == Method::POST => logout(ctx, &request),
        ["api", "v0", "login" | "logout"] => Err(ApiError::method_not_allowed()),
        ["api", "v0", "admin", rest @ ..] => {
            match caller(ctx, origin, &request)? {
                Principal::Admin => {}
                Principal::Account(_) => return Err(ApiError::forbidden()),
            }
            admin_route(ctx, &method, rest, request).await
        }
        ["api", "v0", "account", rest @ ..] => {
            let Principal::Account(account) = caller(ctx, origin, &request)? else {
                return Err(ApiError::forbidden());
            };
            account_route(ctx, &method, &account, rest, request).await
        }
        _ => Err(ApiError::not_found(format!("no such path {path}"))),
    }
}

async fn admin_route(
    ctx: &Ctx,
    method: &Method,
    rest: &[&str],
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    let query = request.uri().query().unwrap_or("").to_string();
    let body = request.into_body();
    match (method, rest) {
        (&Method::GET, ["accounts", account, "export"]) => export(ctx, existing(ctx, account)?, &query).await,
        (&Method::POST, ["accounts", account, "import"]) => {
            crate::transfer::import_start(ctx, existing(ctx, account)?, &query, body).await
        }
        (&Method::GET, ["accounts", account, "import", id]) => {
            crate::transfer::import_status(ctx, &existing(ctx, account)?, id)
        }
        (&Method::GET, ["queue"]) => crate::queue::queue_list(ctx, &query).await,
        (&Method::GET, ["queue", id]) => crate::queue::queue_show(ctx, id).await,
        (&Method::POST, ["queue", action]) => {
            crate::queue::queue_act(ctx, action, read_json(body).await?).await
        }
        (&Method::GET, ["reports", kind]) => crate::reports::reports_list(ctx, kind, &query).await,
        (&Method::GET, ["reports", "dmarc", name]) => crate::reports::dmarc_report(ctx, name).await,
        (&Method::GET, ["reports", "tlsrpt", name]) => crate::reports::tls_report(ctx, name).await,
        (&Method::GET, ["domains"]) => domains_list(ctx),
        (&Method::POST, ["domains"]) => domain_add(ctx, read_json(body).await?).await,
        (&Method::DELETE, ["domains", domain]) => domain_remove(ctx, domain).await,
        (&Method::GET, ["domains", domain, "records"]) => domain_records(ctx, domain).await,
        (&Method::GET, ["accounts"]) => accounts_list(ctx),
        (&Method::POST, ["accounts"]) => account_add(ctx, read_json(body).await?).await,
        (&Method::GET, ["accounts", account]) => account_get(ctx, existing(ctx, account)?).await,
        (&Method::DELETE, ["accounts", account]) => account_remove(ctx, account).await,
        (&Method::PATCH, ["accounts", account]) => {
            account_update(ctx, &existing(ctx, account)?, read_json(body).await?).await
        }
        (&Method::GET, ["suppressions"]) => crate::policy::suppressions_list(ctx, None, &query).await,
        (&Method::POST, ["suppressions"]) => {
            crate::policy::suppression_add(ctx, None, read_json(body).await?).await
        }
        // Not `existing`: entries of a removed account can still be removed.
        (&Method::DELETE, ["suppressions", account, address]) => {
            crate::policy::suppression_remove(ctx, &Arc::from(*account), address).await
        }
        (&Method::GET, ["holdrules"]) => crate::policy::hold_rules_list(ctx, &query).await,
        (&Method::POST, ["holdrules"]) => crate::policy::hold_rule_add(ctx, read_json(body).await?).await,
        (&Method::DELETE, ["holdrules", id]) => crate::policy::hold_rule_remove(ctx, id).await,
        (&Method::PUT, ["accounts", account, "password"]) => {
            let account = existing(ctx, account)?;
            let set: PasswordSet = read_json(body).await?;
            set_password(ctx, &account, set.password).await?;
            ctx.services.sessions.end_account(&account);
            Ok(no_content())
        }
        (&Method::POST, ["accounts", account, "addresses"]) => {
            let add: AddressAdd = read_json(body).await?;
            let change = DirectoryChange::AddAddress { account: account.to_string(), address: add.address };
            live::apply(&ctx.node, &ctx.services.live, change).await?;
            Ok(no_content())
        }
        (&Method::DELETE, ["accounts", account, "addresses", address]) => {
            let change =
                DirectoryChange::RemoveAddress { account: account.to_string(), address: address.to_string() };
            live::apply(&ctx.node, &ctx.services.live, change).await?;
            Ok(no_content())
        }
        (&Method::GET, ["accounts", account, "tlspubkeys"]) => tls_keys(ctx, &existing(ctx, account)?).await,
        (&Method::POST, ["accounts", account, "tlspubkeys"]) => {
            tls_key_add(ctx, &existing(ctx, account)?, read_json(body).await?).await
        }
        (&Method::DELETE, ["accounts", account, "tlspubkeys", fingerprint]) => {
            tls_key_remove(ctx, &existing(ctx, account)?, fingerprint).await
        }
        (&Method::PUT, ["accounts", account, "quota"]) => {
            let set: QuotaSet = read_json(body).await?;
            let change =
                DirectoryChange::SetQuota { account: account.to_string(), quota_bytes: set.quota_bytes };
            live::apply(&ctx.node, &ctx.services.live, change).await?;
            Ok(no_content())
        }
        (&Method::GET, ["aliases"]) => aliases_list(ctx),
        (&Method::PUT, ["aliases", address]) => alias_set(ctx, address, read_json(body).await?).await,
        (&Method::DELETE, ["aliases", address]) => {
            live::apply(&ctx.node, &ctx.services.live, DirectoryChange::RemoveAlias(address.to_string()))
                .await?;
            Ok(no_content())
        }
        (&Method::POST, ["config", "reload"]) => config_reload(ctx).await,
        (&Method::GET, ["routes"]) => routes_show(ctx),
        (&Method::PUT, ["password"]) => admin_password(ctx, read_json(body).await?).await,
        (&Method::GET, ["tokens"]) => tokens_list(ctx),
        (&Method::POST, ["tokens"]) => token_add(ctx, read_json(body).await?).await,
        (&Method::DELETE, ["tokens", id]) => token_remove(ctx, id).await,
        (
            _,
            ["domains" | "accounts" | "tokens" | "aliases" | "suppressions" | "holdrules"]
            | ["domains" | "tokens" | "aliases" | "holdrules", _]
            | ["suppressions", _, _]
            | ["accounts", _],
        ) => Err(ApiError::method_not_allowed()),
        (
            _,
            ["accounts", _, "password" | "quota" | "addresses" | "tlspubkeys" | "export" | "import"]
            | ["accounts", _, "import", _]
            | ["domains", _, "records"]
            | ["accounts", _, "addresses" | "tlspubkeys", _],
        ) => Err(ApiError::method_not_allowed()),
        (_, ["config", "reload"] | ["password"] | ["routes"]) => Err(ApiError::method_not_allowed()),
        (_, ["queue"] | ["queue", _] | ["reports", _] | ["reports", "dmarc" | "tlsrpt", _]) => {
            Err(ApiError::method_not_allowed())
        }
        _ => Err(ApiError::not_found("no such admin path")),
    }
}

async fn account_route(
    ctx: &Ctx,
    method: &Method,
    account: &Arc<str>,
    rest: &[&str],
    request: Request<Incoming>,
) -> Result<Reply, ApiError> {
    // The account may have been removed since its session began.
    let account = existing(ctx, account)?;
    let query = request.uri().query().unwrap_or("").to_string();
    let body = request.into_body();
    match (method, rest) {
        (&Method::GET, []) => own_account(ctx, account).await,
        (&Method::GET, ["export"]) => export(ctx, account, &query).await,
        (&Method::POST, ["import"]) => crate::transfer::import_start(ctx, account, &query, body).await,
        (&Method::GET, ["import", id]) => crate::transfer::import_status(ctx, &account, id),
        (&Method::PUT, ["password"]) => own_password(ctx, &account, read_json(body).await?).await,
        (&Method::GET, ["tlspubkeys"]) => own_tls_keys(ctx, &account).await,
        (&Method::POST, ["tlspubkeys"]) => own_tls_key_add(ctx, &account, read_json(body).await?).await,
        (&Method::DELETE, ["tlspubkeys", fingerprint]) => {
            own_tls_key_remove(ctx, &account, fingerprint).await
        }
        (&Method::GET, ["suppressions"]) => {
            crate::policy::suppressions_list(ctx, Some(&account), &query).await
        }
        (&Method::POST, ["suppressions"]) => {
            crate::policy::suppression_add(ctx, Some(&account), read_json(body).await?).await
        }
        (&Method::DELETE, ["suppressions", address]) => {
            crate::policy::suppression_remove(ctx, &account, address).await
        }
        (
            _,
            []
            | ["password" | "tlspubkeys" | "export" | "import" | "suppressions"]
            | ["tlspubkeys" | "import" | "suppressions", _],
        ) => Err(ApiError::method_not_allowed()),
        _ => Err(ApiError::not_found("no such account path")),
    }
}

fn only(
    method: &Method,
    allowed: Method,
    handler: impl FnOnce() -> Result<Reply, ApiError>,
) -> Result<Reply, ApiError> {
    if *method == allowed { handler() } else { Err(ApiError::method_not_allowed()) }
}

/// Who the bearer token names (the control socket is the admin).
fn caller(ctx: &Ctx, origin: Origin, request: &Request<Incoming>) -> Result<Principal, ApiError> {
    if origin == Origin::Control {
        return Ok(Principal::Admin);
    }
    let token = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim)
        .ok_or_else(ApiError::unauthorized)?;
    let now_ms = moxide_actors::clock::now_unix_ms();
    principal_of(&ctx.services.admin, &ctx.services.sessions, token, now_ms)
        .ok_or_else(ApiError::unauthorized)
}

/// The account as the directory holds it, or 404.
fn existing(ctx: &Ctx, name: &str) -> Result<Arc<str>, ApiError> {
    ctx.node
        .directory()
        .account(name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(format!("no account {name:?}")))
}

pub(crate) async fn read_json<T: DeserializeOwned>(body: Incoming) -> Result<T, ApiError> {
    let collected = Limited::new(body, API_BODY_BYTES_MAX).collect().await.map_err(|error| {
        if error.is::<http_body_util::LengthLimitError>() {
            ApiError::payload_too_large(API_BODY_BYTES_MAX)
        } else {
            ApiError::bad_request(format!("reading the body: {error}"))
        }
    })?;
    serde_json::from_slice(&collected.to_bytes())
        .map_err(|error| ApiError::bad_request(format!("JSON body: {error}")))
}

pub(crate) fn json(status: StatusCode, value: &impl Serialize) -> Reply {
    let body = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    let mut reply = Response::new(full(body));
    *reply.status_mut() = status;
    reply.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    reply
}

pub(crate) fn no_content() -> Reply {
    let mut reply = Response::new(full(Bytes::new()));
    *reply.status_mut() = StatusCode::NO_CONTENT;
    reply
}

fn error_reply(error: &ApiError) -> Reply {
    let mut reply = json(error.status, &error.body());
    if error.status == StatusCode::UNAUTHORIZED {
        reply.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    reply
}

/// `%XX` escapes decoded (an address in a path is `alice%40example.org` or plain).
pub(crate) fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Streams an export of `account` (see `crate::transfer`).
async fn export(ctx: &Ctx, account: Arc<str>, query: &str) -> Result<Reply, ApiError> {
    crate::transfer::export(ctx, account, query).await
}

pub(crate) async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, ApiError> {
    moxide_runtime::offload(work).await.map_err(ApiError::internal)
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "metrics",
    responses((status = 200, description = "Metrics in the OpenMetrics text format (Prometheus scrapes it)",
        content_type = "application/openmetrics-text", body = String)))]
pub(crate) fn metrics(ctx: &Ctx) -> Result<Reply, ApiError> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &ctx.services.registry)
        .map_err(ApiError::internal)?;
    let mut reply = Response::new(full(text));
    reply.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
    );
    Ok(reply)
}

/// This document.
#[utoipa::path(get, path = "/api/v0/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object)))]
pub(crate) fn openapi() -> Result<Reply, ApiError> {
    let mut reply = Response::new(full(crate::openapi::document()));
    reply.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(reply)
}

/// Trades a password for a session token. Failures are delayed and counted per client
/// network like SMTP and IMAP logins; over the limit every login is refused (429).
#[utoipa::path(post, path = "/api/v0/login", tag = "session", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse), CommonErrors))]
pub(crate) async fn login(ctx: &Ctx, origin: Origin, request: Request<Incoming>) -> Result<Reply, ApiError> {
    let login: LoginRequest = read_json(request.into_body()).await?;
    let ip = match origin {
        Origin::Tcp(ip) => ip,
        Origin::Control => IpAddr::from([127, 0, 0, 1]),
    };
    let services = &ctx.services;
    let principal = if login.username == "admin" {
        let admin = Arc::clone(services);
        let password = login.password;
        let check = async move || {
            let admin = Arc::clone(&admin);
            moxide_runtime::offload(move || admin.admin.verify_password(&password)).await.unwrap_or(false)
        };
        moxide_actors::auth::other_login(&services.auth, ip, check).await.map_err(login_failure)?;
        Principal::Admin
    } else {
        let account = moxide_actors::auth::password_login(
            &ctx.node,
            &services.auth,
            ip,
            &login.username,
            login.password,
        )
        .await
        .map_err(login_failure)?;
        Principal::Account(account)
    };
    let now_ms = moxide_actors::clock::now_unix_ms();
    let token = services
        .sessions
        .start(principal.clone(), now_ms)
        .ok_or_else(|| ApiError::unavailable("too many sessions; try again later"))?;
    let (role, account) = match principal {
        Principal::Admin => ("admin", None),
        Principal::Account(account) => ("account", Some(account.to_string())),
    };
    let expires_in_secs = crate::auth::SESSION_TTL.as_secs();
    Ok(json(StatusCode::OK, &LoginResponse { token, role: role.into(), account, expires_in_secs }))
}

fn login_failure(failure: moxide_actors::auth::AuthFailure) -> ApiError {
    use moxide_actors::auth::AuthFailure;
    match failure {
        AuthFailure::RateLimited => {
            ApiError::too_many_requests("too many failed logins from this network; try later")
        }
        AuthFailure::Temporary => ApiError::unavailable("temporary failure; try again"),
        _ => ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthorized",
            message: "wrong username or password".into(),
        },
    }
}

/// Ends the session of the bearer token.
#[utoipa::path(post, path = "/api/v0/logout", tag = "session", security(("bearer" = [])),
    responses((status = 204, description = "Session ended"), CommonErrors))]
pub(crate) fn logout(ctx: &Ctx, request: &Request<Incoming>) -> Result<Reply, ApiError> {
    let token = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .ok_or_else(ApiError::unauthorized)?;
    if ctx.services.sessions.end(token.trim()) { Ok(no_content()) } else { Err(ApiError::unauthorized()) }
}

/// Lists the local domains.
#[utoipa::path(get, path = "/api/v0/admin/domains", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = [Domain]), CommonErrors))]
pub(crate) fn domains_list(ctx: &Ctx) -> Result<Reply, ApiError> {
    let domains: Vec<Domain> = ctx.services.live.spec().domains.iter().map(domain_of).collect();
    Ok(json(StatusCode::OK, &domains))
}

fn domain_of(spec: &DomainSpec) -> Domain {
    Domain {
        name: spec.name.clone(),
        localpart_separators: spec.localpart_separators.iter().map(char::to_string).collect(),
        dkim_selectors: spec.dkim_selectors.clone(),
    }
}

/// Adds a local domain with a new DKIM key; answers the DNS records to publish for it.
#[utoipa::path(post, path = "/api/v0/admin/domains", tag = "admin", security(("bearer" = [])), request_body = DomainCreate,
    responses((status = 201, body = DomainCreated), CommonErrors))]
pub(crate) async fn domain_add(ctx: &Ctx, create: DomainCreate) -> Result<Reply, ApiError> {
    let mut separators = Vec::new();
    for separator in &create.localpart_separators {
        let mut chars = separator.chars();
        match (chars.next(), chars.next()) {
            (Some(c), None) if !c.is_alphanumeric() && c != '@' && !c.is_whitespace() && !c.is_control() => {
                separators.push(c)
            }
            _ => {
                return Err(ApiError::bad_request(format!(
                    "separator {separator:?} must be one punctuation character"
                )));
            }
        }
    }
    let now_secs = moxide_actors::clock::now_unix_ms().div_euclid(1000);
    let spec = DomainSpec {
        name: create.name.trim_end_matches('.').to_lowercase(),
        localpart_separators: separators,
        dkim_selectors: crate::dkim::selectors_for(now_secs),
        ..Default::default()
    };
    let change = DirectoryChange::AddDomain(spec.clone());
    // Validated before the key is made: the name becomes a directory name.
    ctx.services.live.spec().apply(&change)?;
    let data_dir = ctx.services.data_dir.clone();
    let (name, hostname) = (spec.name.clone(), ctx.services.hostname.clone());
    blocking(move || crate::dkim::generate_all(&data_dir, &name, now_secs))
        .await?
        .map_err(ApiError::internal)?;
    live::apply(&ctx.node, &ctx.services.live, change).await?;
    let data_dir = ctx.services.data_dir.clone();
    let domain = spec.clone();
    let dns_records = blocking(move || dns_records(&data_dir, &domain, &hostname)).await?;
    Ok(json(StatusCode::CREATED, &DomainCreated { domain: domain_of(&spec), dns_records }))
}

/// The DNS records to publish for a domain (its DKIM keys included).
#[utoipa::path(get, path = "/api/v0/admin/domains/{domain}/records", tag = "admin", security(("bearer" = [])),
    params(("domain" = String, Path, description = "Domain name")),
    responses((status = 200, body = [DnsRecord]), CommonErrors))]
pub(crate) async fn domain_records(ctx: &Ctx, domain: &str) -> Result<Reply, ApiError> {
    let wanted = domain.trim_end_matches('.').to_lowercase();
    let spec = ctx
        .services
        .live
        .spec()
        .domains
        .into_iter()
        .find(|d| d.name == wanted)
        .ok_or_else(|| ApiError::not_found(format!("no domain {domain:?}")))?;
    let data_dir = ctx.services.data_dir.clone();
    let hostname = ctx.services.hostname.clone();
    let records = blocking(move || dns_records(&data_dir, &spec, &hostname)).await?;
    Ok(json(StatusCode::OK, &records))
}

/// Blocking (reads the DKIM keys): what a domain needs in DNS to receive mail here,
/// let receivers check its signatures, and let clients find the server. A key file
/// that cannot be read is logged and left out.
pub fn dns_records(data_dir: &std::path::Path, domain: &DomainSpec, hostname: &str) -> Vec<DnsRecord> {
    let mut records = base_records(&domain.name, hostname);
    for selector in &domain.dkim_selectors {
        match crate::dkim::record_value(data_dir, &domain.name, selector) {
            Ok(value) => records.push(DnsRecord {
                name: format!("{selector}._domainkey.{}.", domain.name),
                record_type: "TXT".into(),
                value,
                purpose: "DKIM public key (RFC 6376; Ed25519 keys: RFC 8463): receivers verify the domain's signatures".into(),
            }),
            Err(error) => tracing::warn!(%error, "DKIM key left out of the DNS records"),
        }
    }
    records
}

fn base_records(domain: &str, hostname: &str) -> Vec<DnsRecord> {
    let record = |name: String, record_type: &str, value: String, purpose: &str| DnsRecord {
        name,
        record_type: record_type.into(),
        value,
        purpose: purpose.into(),
    };
    vec![
        record(
            format!("{domain}."),
            "MX",
            format!("10 {hostname}."),
            "deliver the domain's mail to this server (RFC 5321 §5.1)",
        ),
        record(
            format!("{domain}."),
            "TXT",
            "\"v=spf1 mx -all\"".into(),
            "SPF: only the domain's MX hosts send its mail",
        ),
        record(
            format!("_dmarc.{domain}."),
            "TXT",
            format!("\"v=DMARC1; p=reject; rua=mailto:postmaster@{domain}\""),
            "DMARC policy: reject mail that fails SPF and DKIM alignment",
        ),
        record(
            format!("_submissions._tcp.{domain}."),
            "SRV",
            format!("0 1 465 {hostname}."),
            "clients find submission with TLS (RFC 8314)",
        ),
        record(
            format!("_imaps._tcp.{domain}."),
            "SRV",
            format!("0 1 993 {hostname}."),
            "clients find IMAP with TLS (RFC 8314)",
        ),
    ]
}

/// Removes a domain no address uses (409 otherwise).
#[utoipa::path(delete, path = "/api/v0/admin/domains/{domain}", tag = "admin", security(("bearer" = [])),
    params(("domain" = String, Path, description = "Domain name")),
    responses((status = 204, description = "Removed"), CommonErrors))]
pub(crate) async fn domain_remove(ctx: &Ctx, domain: &str) -> Result<Reply, ApiError> {
    live::apply(&ctx.node, &ctx.services.live, DirectoryChange::RemoveDomain(domain.to_string())).await?;
    Ok(no_content())
}

/// Lists the accounts and their addresses.
#[utoipa::path(get, path = "/api/v0/admin/accounts", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = [AccountSummary]), CommonErrors))]
pub(crate) fn accounts_list(ctx: &Ctx) -> Result<Reply, ApiError> {
    let accounts: Vec<AccountSummary> =
        ctx.services.live.spec().accounts.into_iter().map(|a| summary_of(&a)).collect();
    Ok(json(StatusCode::OK, &accounts))
}

fn summary_of(spec: &AccountSpec) -> AccountSummary {
    AccountSummary {
        name: spec.name.clone(),
        addresses: spec.addresses.clone(),
        quota_bytes: spec.quota_bytes,
        quota_messages: spec.quota_messages,
        imap_hidden_capabilities: spec.hidden_capabilities.clone(),
        outgoing_messages_per_day_max: spec.send_limits.messages_per_day_max,
        first_time_recipients_per_day_max: spec.send_limits.first_time_recipients_per_day_max,
    }
}

/// Changes an account's settings (quotas, hidden IMAP capabilities, send limits): the
/// fields given replace the settings, validated, written to the domains file and applied
/// on every core before the answer. Answers the account as it now is.
#[utoipa::path(patch, path = "/api/v0/admin/accounts/{account}", tag = "admin", security(("bearer" = [])),
    params(("account" = String, Path, description = "Account name")), request_body = AccountUpdate,
    responses((status = 200, body = AccountSummary), CommonErrors))]
pub(crate) async fn account_update(
    ctx: &Ctx,
    account: &Arc<str>,
    update: AccountUpdate,
) -> Result<Reply, ApiError> {
    let update = moxide_actors::AccountUpdate {
        quota_bytes: update.quota_bytes,
        quota_messages: update.quota_messages,
        hidden_capabilities: update.imap_hidden_capabilities,
        messages_per_day_max: update.outgoing_messages_per_day_max,
        first_time_recipients_per_day_max: update.first_time_recipients_per_day_max,
    };
    let change = DirectoryChange::UpdateAccount { account: account.to_string(), update };
    live::apply(&ctx.node, &ctx.services.live, change).await?;
    let spec = ctx
        .services
        .live
        .spec()
        .accounts
        .into_iter()
        .find(|a| *a.name == **account)
        .ok_or_else(|| ApiError::not_found(format!("no account {account:?}")))?;
    Ok(json(StatusCode::OK, &summary_of(&spec)))
}

/// Adds an account (with its addresses and, optionally, its password). It receives mail
/// and can log in at once, on every core, without a restart.
#[utoipa::path(post, path = "/api/v0/admin/accounts", tag = "admin", security(("bearer" = [])), request_body = AccountCreate,
    responses((status = 201, body = AccountSummary), CommonErrors))]
pub(crate) async fn account_add(ctx: &Ctx, create: AccountCreate) -> Result<Reply, ApiError> {
    let credentials = match create.password {
        Some(password) => Some(derive(password).await?),
        None => None,
    };
    let spec = AccountSpec {
        name: create.name.clone(),
        addresses: create.addresses.clone(),
        quota_bytes: create.quota_bytes,
        quota_messages: create.quota_messages,
        hidden_capabilities: create.imap_hidden_capabilities.clone(),
        send_limits: moxide_actors::directory::SendLimits {
            messages_per_day_max: create
                .outgoing_messages_per_day_max
                .unwrap_or(moxide_actors::directory::SEND_MESSAGES_PER_DAY_MAX),
            first_time_recipients_per_day_max: create
                .first_time_recipients_per_day_max
                .unwrap_or(moxide_actors::directory::SEND_FIRST_TIME_RECIPIENTS_PER_DAY_MAX),
        },
        routes: Vec::new(),
    };
    live::apply(&ctx.node, &ctx.services.live, DirectoryChange::AddAccount(spec.clone())).await?;
    let stores = Arc::clone(ctx.node.stores());
    let name = create.name.clone();
    // A name used before keeps no credentials or devices (removal cleared them); set the
    // new password, or make sure none is left.
    blocking(move || -> Result<(), moxide_storage::StorageError> {
        let store = stores.get(&name)?;
        match credentials {
            Some(credentials) => store.set_credentials(&credentials),
            None => store.clear_credentials(),
        }
    })
    .await?
    .map_err(ApiError::internal)?;
    Ok(json(StatusCode::CREATED, &summary_of(&spec)))
}

async fn derive(password: String) -> Result<moxide_storage::StoredCredentials, ApiError> {
    if password.is_empty() {
        return Err(ApiError::bad_request("empty password"));
    }
    blocking(move || moxide_actors::auth::derive_credentials(&password)).await?.map_err(ApiError::bad_request)
}

async fn set_password(ctx: &Ctx, account: &Arc<str>, password: String) -> Result<(), ApiError> {
    let credentials = derive(password).await?;
    let stores = Arc::clone(ctx.node.stores());
    let account = Arc::clone(account);
    blocking(move || stores.get(&account)?.set_credentials(&credentials)).await?.map_err(ApiError::internal)
}

/// An account's addresses, usage and whether it has a password.
#[utoipa::path(get, path = "/api/v0/admin/accounts/{account}", tag = "admin", security(("bearer" = [])),
    params(("account" = String, Path, description = "Account name")),
    responses((status = 200, body = AccountDetails), CommonErrors))]
pub(crate) async fn account_get(ctx: &Ctx, account: Arc<str>) -> Result<Reply, ApiError> {
    Ok(json(StatusCode::OK, &account_details(ctx, account).await?))
}

async fn account_details(ctx: &Ctx, account: Arc<str>) -> Result<AccountDetails, ApiError> {
    let spec = ctx
        .services
        .live
        .spec()
        .accounts
        .into_iter()
        .find(|a| *a.name == *account)
        .unwrap_or_else(|| AccountSpec { name: account.to_string(), ..Default::default() });
    let stores = Arc::clone(ctx.node.stores());
    let global = ctx.services.auth.global.clone();
    let name = Arc::clone(&account);
    let (password_set, usage, keys) = blocking(move || -> Result<_, moxide_storage::StorageError> {
        let store = stores.get(&name)?;
        let password_set = store.credentials()?.is_some();
        let mailboxes = store.read(|view| view.mailboxes())?;
        let usage = Usage {
            mailboxes: u32::try_from(mailboxes.len()).unwrap_or(u32::MAX),
            messages: mailboxes.iter().map(|m| u64::from(m.messages)).sum(),
            size_bytes: mailboxes.iter().map(|m| m.size_bytes).sum(),
        };
        let keys = match &global {
            Some(global) => global.tls_public_keys(Some(&name))?.len(),
            None => 0,
        };
        Ok((password_set, usage, keys))
    })
    .await?
    .map_err(ApiError::internal)?;
    Ok(AccountDetails {
        name: account.to_string(),
        addresses: spec.addresses,
        password_set,
        usage,
        quota_bytes: spec.quota_bytes,
        quota_messages: spec.quota_messages,
        imap_hidden_capabilities: spec.hidden_capabilities,
        outgoing_messages_per_day_max: spec.send_limits.messages_per_day_max,
        first_time_recipients_per_day_max: spec.send_limits.first_time_recipients_per_day_max,
        tls_public_keys: u32::try_from(keys).unwrap_or(u32::MAX),
    })
}

/// Removes an account: it stops receiving mail and logging in at once. Its messages stay
/// in the data directory; its password, TLS keys, suppression list, send record and the
/// hold rules that name it are removed.
#[utoipa::path(delete, path = "/api/v0/admin/accounts/{account}", tag = "admin", security(("bearer" = [])),
    params(("account" = String, Path, description = "Account name")),
    responses((status = 204, description = "Removed"), CommonErrors))]
pub(crate) async fn account_remove(ctx: &Ctx, account: &str) -> Result<Reply, ApiError> {
    live::apply(&ctx.node, &ctx.services.live, DirectoryChange::RemoveAccount(account.to_string())).await?;
    ctx.services.sessions.end_account(account);
    let stores = Arc::clone(ctx.node.stores());
    let global = ctx.services.auth.global.clone();
    let queue = ctx.services.queue.clone();
    let name = account.to_string();
    blocking(move || -> Result<(), moxide_storage::StorageError> {
        stores.get(&name)?.clear_credentials()?;
        if let Some(global) = global {
            global.remove_account_tls_public_keys(&name)?;
        }
        if let Some(queue) = queue {
            queue.forget_account(&name)?;
        }
        Ok(())
    })
    .await?
    .map_err(ApiError::internal)?;
    Ok(no_content())
}

/// Sets an account's password (its sessions end; logins with the old one fail at once).
#[utoipa::path(put, path = "/api/v0/admin/accounts/{account}/password", tag = "admin", security(("bearer" = [])),
    params(("account" = String, Path, description = "Account name")), request_body = PasswordSet,
    responses((status = 204, description = "Password set"), CommonErrors))]
#[allow(dead_code, reason = "documents the route handled inline in admin_route")]
pub(crate) fn account_password_doc() {}

/// Sets or clears an account's quota; applies to the next delivery.
#[utoipa::path(put, path = "/api/v0/admin/accounts/{account}/quota", tag = "admin", security(("bearer" = [])),
    params(("account" = String, Path, description = "Account name")), request_body = QuotaSet,
    responses((status = 204, description = "Quota set"), CommonErrors))]
#[allow(dead_code, reason = "documents the route handled inline in admin_route")]
pub(crate) fn account_quota_doc() {}

/// Lists the aliases and their members.
#[utoipa::path(get, path = "/api/v0/admin/aliases", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = [Alias]), CommonErrors))]
pub(crate) fn aliases_list(ctx: &Ctx) -> Result<Reply, ApiError> {
    let aliases: Vec<Alias> = ctx
        .services
        .live
        .spec()
        .aliases
        .into_iter()
        .map(|a| Alias {
            address: a.address,
            members: a.members,
            post_public: a.post_public,
            allowed_senders: a.allowed_senders,
        })
        .collect();
    Ok(json(StatusCode::OK, &aliases))
}

/// Creates an alias (mail to it goes to each member's account), or replaces its members.
#[utoipa::path(put, path = "/api/v0/admin/aliases/{address}", tag = "admin", security(("bearer" = [])),
    params(("address" = String, Path, description = "The alias's address")), request_body = AliasSet,
    responses((status = 200, body = Alias), CommonErrors))]
pub(crate) async fn alias_set(ctx: &Ctx, address: &str, set: AliasSet) -> Result<Reply, ApiError> {
    let alias = moxide_actors::AliasSpec {
        address: address.to_string(),
        members: set.members,
        post_public: set.post_public,
        allowed_senders: set.allowed_senders,
    };
    live::apply(&ctx.node, &ctx.services.live, DirectoryChange::SetAlias(alias.clone())).await?;
    let answer = Alias {
        address: alias.address,
        members: alias.members,
        post_public: alias.post_public,
        allowed_senders: alias.allowed_senders,
    };
    Ok(json(StatusCode::OK, &answer))
}

/// Removes an alias.
#[utoipa::path(delete, path = "/api/v0/admin/aliases/{address}", tag = "admin", security(("bearer" = [])),
    params(("address" = String, Path, description = "The alias's address")),
    responses((status = 204, description = "Removed"), CommonErrors))]
#[allow(dead_code, reason = "documents the route handled inline in admin_route")]
pub(crate) fn alias_remove_doc() {}

/// Adds an address (or `@domain` catch-all) to an account.
#[utoipa::path(post, path = "/api/v0/admin/accounts/{account}/addresses", tag = "admin", security(("bearer" = [])),
    params(("account" = String, Path, description = "Account name")), request_body = AddressAdd,
    responses((status = 204, description = "Added"), CommonErrors))]
#[allow(dead_code, reason = "documents the route handled inline in admin_route")]
pub(crate) fn address_add_doc() {}

/// Removes an address from an account.
#[utoipa::path(delete, path = "/api/v0/admin/accounts/{account}/addresses/{address}", tag = "admin", security(("bearer" = [])),
    params(("account" = String, Path, description = "Account name"), ("address" = String, Path, description = "The address")),
    responses((status = 204, description = "Removed"), CommonErrors))]
#[allow(dead_code, reason = "documents the route handled inline in admin_route")]
pub(crate) fn address_remove_doc() {}

/// An account's registered TLS client public keys.
#[utoipa::path(get, path = "/api/v0/admin/accounts/{account}/tlspubkeys", tag = "admin", security(("bearer" = [])),
    params(("account" = String, Path, description = "Account name")),
    responses((status = 200, body = [TlsKey]), CommonErrors))]
pub(crate) async fn tls_keys(ctx: &Ctx, account: &Arc<str>) -> Result<Reply, ApiError> {
    let global = global(ctx)?;
    let name = Arc::clone(account);
    let keys = blocking(move || global.tls_public_keys(Some(&name))).await?.map_err(ApiError::internal)?;
    let keys: Vec<TlsKey> = keys.into_iter().map(tls_key_of).collect();
    Ok(json(StatusCode::OK, &keys))
}

fn tls_key_of(key: moxide_storage::TlsPublicKey) -> TlsKey {
    TlsKey {
        fingerprint: hex(&key.fingerprint),
        account: key.account,
        login_address: key.login_address,
        name: key.name,
        imap_preauth: !key.no_imap_preauth,
        created_ms: key.created_ms,
    }
}

fn global(ctx: &Ctx) -> Result<Arc<moxide_storage::GlobalStore>, ApiError> {
    ctx.services.auth.global.clone().ok_or_else(|| ApiError::unavailable("no key store"))
}

/// Registers a TLS client certificate's public key for an account.
#[utoipa::path(post, path = "/api/v0/admin/accounts/{account}/tlspubkeys", tag = "admin", security(("bearer" = [])),
    params(("account" = String, Path, description = "Account name")), request_body = TlsKeyAdd,
    responses((status = 201, body = TlsKey), CommonErrors))]
pub(crate) async fn tls_key_add(ctx: &Ctx, account: &Arc<str>, add: TlsKeyAdd) -> Result<Reply, ApiError> {
    let directory = ctx.node.directory();
    let login_address = match add.login_address {
        Some(address) => address,
        None => ctx
            .services
            .live
            .spec()
            .accounts
            .into_iter()
            .find(|a| *a.name == **account)
            .and_then(|a| a.addresses.into_iter().find(|a| !a.starts_with('@')))
            .ok_or_else(|| ApiError::bad_request("the account has no address to log in as"))?,
    };
    let owner = login_address.rsplit_once('@').map(|(local, domain)| directory.lookup(local, domain));
    if owner != Some(Lookup::Account(Arc::clone(account))) {
        return Err(ApiError::bad_request(format!("{login_address} is not an address of account {account}")));
    }
    let (spki, fingerprint) = moxide_runtime::tls::certificate_public_key(add.certificate.as_bytes())
        .map_err(|error| ApiError::bad_request(format!("certificate: {error}")))?;
    let key = moxide_storage::TlsPublicKey {
        fingerprint,
        account: account.to_string(),
        login_address,
        name: add.name,
        no_imap_preauth: add.no_imap_preauth,
        spki,
        created_ms: moxide_actors::clock::now_unix_ms(),
    };
    let global = global(ctx)?;
    let stored = moxide_storage::TlsPublicKey { spki: Vec::new(), ..key.clone() };
    blocking(move || global.add_tls_public_key(&key)).await?.map_err(|error| match error {
        moxide_storage::StorageError::KeyExists => ApiError::conflict("this key is already registered"),
        moxide_storage::StorageError::TooManyTlsPublicKeys { .. }
        | moxide_storage::StorageError::InvalidTlsPublicKey { .. } => {
            ApiError::bad_request(error.to_string())
        }
        other => ApiError::internal(other),
    })?;
    Ok(json(StatusCode::CREATED, &tls_key_of(stored)))
}

/// Removes a registered key of an account.
#[utoipa::path(delete, path = "/api/v0/admin/accounts/{account}/tlspubkeys/{fingerprint}", tag = "admin", security(("bearer" = [])),
    params(("account" = String, Path, description = "Account name"), ("fingerprint" = String, Path, description = "64 hex digits")),
    responses((status = 204, description = "Removed"), CommonErrors))]
pub(crate) async fn tls_key_remove(
    ctx: &Ctx,
    account: &Arc<str>,
    fingerprint: &str,
) -> Result<Reply, ApiError> {
    let bytes = unhex(fingerprint).ok_or_else(|| ApiError::bad_request("a fingerprint is 64 hex digits"))?;
    let global = global(ctx)?;
    let owner = account.to_string();
    let removed = blocking(move || -> Result<bool, moxide_storage::StorageError> {
        match global.tls_public_key(&bytes)? {
            Some(key) if key.account == owner => global.remove_tls_public_key(&bytes),
            _ => Ok(false),
        }
    })
    .await?
    .map_err(ApiError::internal)?;
    if removed {
        Ok(no_content())
    } else {
        Err(ApiError::not_found(format!("no key {fingerprint} for account {account}")))
    }
}

fn unhex(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

/// Re-reads the domains file, validates it, and applies it on every core; an invalid
/// file changes nothing (400 with the reason).
#[utoipa::path(post, path = "/api/v0/admin/config/reload", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = ReloadResult), CommonErrors))]
pub(crate) async fn config_reload(ctx: &Ctx) -> Result<Reply, ApiError> {
    let reloaded = live::reload(&ctx.node, &ctx.services.live).await?;
    let result = ReloadResult {
        changed: reloaded.changed,
        domains: u32::try_from(reloaded.domains).unwrap_or(u32::MAX),
        accounts: u32::try_from(reloaded.accounts).unwrap_or(u32::MAX),
    };
    Ok(json(StatusCode::OK, &result))
}

/// The outbound queue's transports and routes as they apply now: routes from the
/// domains file (a reload changes them for the next delivery attempt), transports from
/// the static file (without credentials).
#[utoipa::path(get, path = "/api/v0/admin/routes", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = QueueRouting), CommonErrors))]
pub(crate) fn routes_show(ctx: &Ctx) -> Result<Reply, ApiError> {
    use moxide_actors::queue::transport::{Route, SmarthostTls, Transport};
    let view = |routes: &[Route]| -> Vec<RouteView> {
        routes
            .iter()
            .map(|r| RouteView {
                transport: r.transport.clone(),
                from_domain: r.from_domains.clone(),
                to_domain: r.to_domains.clone(),
                minimum_attempts: r.minimum_attempts,
            })
            .collect()
    };
    let level = |name: &str, routes: &[Route]| {
        (!routes.is_empty()).then(|| RouteLevel { name: name.to_string(), routes: view(routes) })
    };
    let spec = ctx.services.live.spec();
    let transports = ctx
        .services
        .transports
        .transports()
        .map(|(name, transport)| match transport {
            Transport::Direct { ipv4, ipv6 } => TransportView {
                name: name.clone(),
                kind: "direct".into(),
                host: None,
                port: None,
                auth: false,
                ipv4: *ipv4,
                ipv6: *ipv6,
            },
            Transport::Smarthost(smarthost) => TransportView {
                name: name.clone(),
                kind: match smarthost.tls {
                    SmarthostTls::Implicit => "submissions",
                    SmarthostTls::StartTlsRequired => "starttls",
                    SmarthostTls::StartTlsOpportunistic => "smtp",
                }
                .into(),
                host: Some(smarthost.host.clone()),
                port: Some(smarthost.port),
                auth: smarthost.auth.is_some(),
                ipv4: true,
                ipv6: true,
            },
        })
        .collect();
    let routing = QueueRouting {
        transports,
        account_routes: spec.accounts.iter().filter_map(|a| level(&a.name, &a.routes)).collect(),
        domain_routes: spec.domains.iter().filter_map(|d| level(&d.name, &d.routes)).collect(),
        routes: view(&spec.routes),
    };
    Ok(json(StatusCode::OK, &routing))
}

/// Sets the admin password.
#[utoipa::path(put, path = "/api/v0/admin/password", tag = "admin", security(("bearer" = [])), request_body = PasswordSet,
    responses((status = 204, description = "Password set"), CommonErrors))]
pub(crate) async fn admin_password(ctx: &Ctx, set: PasswordSet) -> Result<Reply, ApiError> {
    let services = Arc::clone(&ctx.services);
    blocking(move || services.admin.set_password(&set.password)).await?.map_err(ApiError::bad_request)?;
    Ok(no_content())
}

/// Lists the API tokens (not their secrets).
#[utoipa::path(get, path = "/api/v0/admin/tokens", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = [Token]), CommonErrors))]
pub(crate) fn tokens_list(ctx: &Ctx) -> Result<Reply, ApiError> {
    let tokens: Vec<Token> = ctx
        .services
        .admin
        .tokens()
        .into_iter()
        .map(|t| Token { id: t.id, name: t.name, created_ms: t.created_ms })
        .collect();
    Ok(json(StatusCode::OK, &tokens))
}

/// Makes a long-lived admin API token; its secret is in this answer only.
#[utoipa::path(post, path = "/api/v0/admin/tokens", tag = "admin", security(("bearer" = [])), request_body = TokenCreate,
    responses((status = 201, body = TokenCreated), CommonErrors))]
pub(crate) async fn token_add(ctx: &Ctx, create: TokenCreate) -> Result<Reply, ApiError> {
    let services = Arc::clone(&ctx.services);
    let now_ms = moxide_actors::clock::now_unix_ms();
    let (token, secret) = blocking(move || services.admin.create_token(&create.name, now_ms))
        .await?
        .map_err(ApiError::bad_request)?;
    let token = Token { id: token.id, name: token.name, created_ms: token.created_ms };
    Ok(json(StatusCode::CREATED, &TokenCreated { token, secret }))
}

/// Revokes an API token.
#[utoipa::path(delete, path = "/api/v0/admin/tokens/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = String, Path, description = "Token id")),
    responses((status = 204, description = "Revoked"), CommonErrors))]
pub(crate) async fn token_remove(ctx: &Ctx, id: &str) -> Result<Reply, ApiError> {
    let services = Arc::clone(&ctx.services);
    let id_owned = id.to_string();
    let removed =
        blocking(move || services.admin.revoke_token(&id_owned)).await?.map_err(ApiError::internal)?;
    if removed { Ok(no_content()) } else { Err(ApiError::not_found(format!("no token {id:?}"))) }
}

/// The logged-in account: addresses, usage, password and keys.
#[utoipa::path(get, path = "/api/v0/account", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = AccountDetails), CommonErrors))]
pub(crate) async fn own_account(ctx: &Ctx, account: Arc<str>) -> Result<Reply, ApiError> {
    Ok(json(StatusCode::OK, &account_details(ctx, account).await?))
}

/// Changes the logged-in account's password.
#[utoipa::path(put, path = "/api/v0/account/password", tag = "account", security(("bearer" = [])), request_body = PasswordSet,
    responses((status = 204, description = "Password set"), CommonErrors))]
pub(crate) async fn own_password(ctx: &Ctx, account: &Arc<str>, set: PasswordSet) -> Result<Reply, ApiError> {
    set_password(ctx, account, set.password).await?;
    Ok(no_content())
}

/// The logged-in account's TLS client public keys.
#[utoipa::path(get, path = "/api/v0/account/tlspubkeys", tag = "account", security(("bearer" = [])),
    responses((status = 200, body = [TlsKey]), CommonErrors))]
pub(crate) async fn own_tls_keys(ctx: &Ctx, account: &Arc<str>) -> Result<Reply, ApiError> {
    tls_keys(ctx, account).await
}

/// Registers a TLS client certificate for the logged-in account.
#[utoipa::path(post, path = "/api/v0/account/tlspubkeys", tag = "account", security(("bearer" = [])), request_body = TlsKeyAdd,
    responses((status = 201, body = TlsKey), CommonErrors))]
pub(crate) async fn own_tls_key_add(
    ctx: &Ctx,
    account: &Arc<str>,
    add: TlsKeyAdd,
) -> Result<Reply, ApiError> {
    tls_key_add(ctx, account, add).await
}

/// Removes one of the logged-in account's keys.
#[utoipa::path(delete, path = "/api/v0/account/tlspubkeys/{fingerprint}", tag = "account", security(("bearer" = [])),
    params(("fingerprint" = String, Path, description = "64 hex digits")),
    responses((status = 204, description = "Removed"), CommonErrors))]
pub(crate) async fn own_tls_key_remove(
    ctx: &Ctx,
    account: &Arc<str>,
    fingerprint: &str,
) -> Result<Reply, ApiError> {
    tls_key_remove(ctx, account, fingerprint).await
}
