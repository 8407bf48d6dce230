//! The export and import endpoints: `GET .../export` streams an archive of an account's
//! mailboxes ([`crate::export`]); `POST .../import` stores an uploaded archive in the
//! data directory's `tmp/` and starts an import ([`crate::import`]), whose progress
//! `GET .../import/{id}` shows. The account API acts on the caller's own account, the
//! admin API on any.

use std::sync::Arc;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{CONTENT_DISPOSITION, CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};

use crate::api::{Ctx, ReplyBody, blocking, json};
use crate::error::{ApiError, CommonErrors};
use crate::export::{ExportBody, Exporter, MailFormat, parse_query};
use crate::import::{IMPORT_EXPANSION_MAX, ImportLimits, ImportState};
use crate::types::{ImportStarted, ImportStatus};

/// Streams the archive: the mailbox list is read first (a failure there is a JSON
/// error); after the headers, a failure ends the body abruptly.
pub(crate) async fn export(
    ctx: &Ctx,
    account: Arc<str>,
    query: &str,
) -> Result<Response<ReplyBody>, ApiError> {
    let (format, archive) = parse_query(query).map_err(ApiError::bad_request)?;
    let stores = Arc::clone(ctx.node.stores());
    let name = Arc::clone(&account);
    let exporter = blocking(move || Exporter::new(stores.get(&name)?, format, archive))
        .await?
        .map_err(ApiError::internal)?;
    let body = ReplyBody::Export(Box::new(ExportBody::new(exporter)));
    let mut reply = Response::new(body);
    let headers = reply.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(archive.content_type()));
    let format_name = if format == MailFormat::Mbox { "mbox" } else { "maildir" };
    let file_name: String = account
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '_' })
        .collect();
    let disposition = format!("attachment; filename=\"{file_name}-{format_name}.{}\"", archive.extension());
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(CONTENT_DISPOSITION, value);
    }
    Ok(reply)
}

/// Receives the archive into the data directory's `tmp/` (refusing bodies over the
/// import limit with 413), registers the import and starts it on this core.
pub(crate) async fn import_start(
    ctx: &Ctx,
    account: Arc<str>,
    query: &str,
    body: Incoming,
) -> Result<Response<ReplyBody>, ApiError> {
    let mailbox = query
        .split('&')
        .find_map(|pair| pair.strip_prefix("mailbox="))
        .map(|name| crate::api::percent_decode(&name.replace('+', " ")))
        .unwrap_or_else(|| "INBOX".to_string());
    let services = &ctx.services;
    let id = random_id()?;
    let spool_dir = services.data_dir.join("tmp");
    let path = spool_dir.join(format!("import-{id}.archive"));
    let bytes = receive(body, &path, services.import_bytes_max).await?;
    let Some(progress) = services.imports.start(id.clone(), &account) else {
        let _ = moxide_runtime::fs::remove_file(path).await;
        return Err(ApiError::unavailable("too many imports are running; try again later"));
    };
    let limits = ImportLimits {
        message_bytes_max: services.message_bytes_max,
        expanded_bytes_max: services.import_bytes_max.saturating_mul(IMPORT_EXPANSION_MAX),
    };
    tracing::info!(%account, %id, bytes, "import started");
    moxide_runtime::spawn_detached(crate::import::run(
        ctx.node.clone(),
        account,
        path,
        mailbox,
        spool_dir,
        limits,
        progress,
    ));
    Ok(json(StatusCode::ACCEPTED, &ImportStarted { id, bytes }))
}

/// Streams `body` into a new file at `path`, at most `limit` bytes; the file is removed
/// on any failure.
async fn receive(mut body: Incoming, path: &std::path::Path, limit: u64) -> Result<u64, ApiError> {
    let mut spool = moxide_runtime::fs::SpoolFile::create(path).await.map_err(ApiError::internal)?;
    let failure = loop {
        let frame = match body.frame().await {
            None => break None,
            Some(Ok(frame)) => frame,
            Some(Err(error)) => break Some(ApiError::bad_request(format!("reading the body: {error}"))),
        };
        let Ok(data) = frame.into_data() else { continue };
        if spool.len() + data.len() as u64 > limit {
            break Some(ApiError::payload_too_large(usize::try_from(limit).unwrap_or(usize::MAX)));
        }
        if let Err(error) = spool.append(&data).await {
            break Some(ApiError::internal(error));
        }
    };
    if let Some(error) = failure {
        let _ = spool.discard().await;
        return Err(error);
    }
    spool.finish().await.map_err(ApiError::internal)
}

fn random_id() -> Result<String, ApiError> {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 12];
    ring::rand::SystemRandom::new().fill(&mut bytes).map_err(|_| ApiError::internal("no randomness"))?;
    Ok(crate::auth::hex(&bytes))
}

/// The progress of an import of `account`.
pub(crate) fn import_status(
    ctx: &Ctx,
    account: &Arc<str>,
    id: &str,
) -> Result<Response<ReplyBody>, ApiError> {
    let progress = ctx
        .services
        .imports
        .get(id, Some(account))
        .ok_or_else(|| ApiError::not_found(format!("no import {id:?} of account {account}")))?;
    let (state, reason) = match progress.state {
        ImportState::Running => ("running", None),
        ImportState::Done => ("done", None),
        ImportState::Failed(reason) => ("failed", Some(reason)),
    };
    Ok(json(
        StatusCode::OK,
        &ImportStatus {
            id: progress.id,
            account: progress.account,
            state: state.to_string(),
            reason,
            messages: progress.messages,
            skipped: progress.skipped,
            mailboxes_created: progress.mailboxes_created,
            errors: progress.errors,
            error_messages: progress.error_messages,
        },
    ))
}

/// Exports the logged-in account's mailboxes as a zip or tar.gz of mbox files (one per
/// mailbox, mboxrd quoting) or Maildir folders (flags in the file names, keywords in
/// each folder's `dovecot-keywords`), streamed as it is made.
#[utoipa::path(get, path = "/api/v0/account/export", tag = "account", security(("bearer" = [])),
    params(
        ("format" = Option<String>, Query, description = "`mbox` (default) or `maildir`"),
        ("archive" = Option<String>, Query, description = "`zip` (default) or `tgz`")),
    responses((status = 200, description = "The archive", content_type = "application/zip", body = Vec<u8>),
        (status = 200, description = "The archive", content_type = "application/gzip", body = Vec<u8>),
        CommonErrors))]
#[allow(dead_code, reason = "documents the route handled by transfer::export")]
pub(crate) fn own_export_doc() {}

/// Exports an account's mailboxes (see `GET /api/v0/account/export`).
#[utoipa::path(get, path = "/api/v0/admin/accounts/{account}/export", tag = "admin", security(("bearer" = [])),
    params(("account" = String, Path, description = "Account name"),
        ("format" = Option<String>, Query, description = "`mbox` (default) or `maildir`"),
        ("archive" = Option<String>, Query, description = "`zip` (default) or `tgz`")),
    responses((status = 200, description = "The archive", content_type = "application/zip", body = Vec<u8>),
        CommonErrors))]
#[allow(dead_code, reason = "documents the route handled by transfer::export")]
pub(crate) fn export_doc() {}

/// Imports an mbox file, or a zip or tar.gz of mbox files and Maildir folders, into the
/// logged-in account: mailboxes are created as needed (within the account's limits and
/// quota), Maildir flags and keywords kept, duplicates not checked. The body (at most
/// `limits.import_bytes_max`) is stored first; the answer gives the import's id at once.
#[utoipa::path(post, path = "/api/v0/account/import", tag = "account", security(("bearer" = [])),
    params(("mailbox" = Option<String>, Query, description = "Mailbox for a bare mbox file (default INBOX)")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "mbox, zip or tar.gz"),
    responses((status = 202, body = ImportStarted), CommonErrors))]
#[allow(dead_code, reason = "documents the route handled by transfer::import_start")]
pub(crate) fn own_import_doc() {}

/// Imports into an account (see `POST /api/v0/account/import`).
#[utoipa::path(post, path = "/api/v0/admin/accounts/{account}/import", tag = "admin", security(("bearer" = [])),
    params(("account" = String, Path, description = "Account name"),
        ("mailbox" = Option<String>, Query, description = "Mailbox for a bare mbox file (default INBOX)")),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "mbox, zip or tar.gz"),
    responses((status = 202, body = ImportStarted), CommonErrors))]
#[allow(dead_code, reason = "documents the route handled by transfer::import_start")]
pub(crate) fn import_doc() {}

/// The progress of one of the logged-in account's imports.
#[utoipa::path(get, path = "/api/v0/account/import/{id}", tag = "account", security(("bearer" = [])),
    params(("id" = String, Path, description = "The import's id")),
    responses((status = 200, body = ImportStatus), CommonErrors))]
#[allow(dead_code, reason = "documents the route handled by transfer::import_status")]
pub(crate) fn own_import_status_doc() {}

/// The progress of an import into an account.
#[utoipa::path(get, path = "/api/v0/admin/accounts/{account}/import/{id}", tag = "admin", security(("bearer" = [])),
    params(("account" = String, Path, description = "Account name"), ("id" = String, Path, description = "The import's id")),
    responses((status = 200, body = ImportStatus), CommonErrors))]
#[allow(dead_code, reason = "documents the route handled by transfer::import_status")]
pub(crate) fn import_status_doc() {}
