//! The outbound queue for the operator (`/api/v0/admin/queue...`): list (filtered,
//! paged), show one message, and hold, release, retry now, drop or bounce
//! destinations. The blocking functions here are also what `moxide queue` runs itself
//! when no server holds the data directory, so both paths behave the same.
//!
//! Changes are made in the queue store the running server's queue runner reads: each is
//! one write transaction that re-reads its destinations inside it, so an attempt's
//! results stored meanwhile are kept (`QueueStore::set_held`). The runner looks for due
//! work every `QUEUE_POLL_INTERVAL_MS` (250 ms), so a retry or release starts within
//! that time. A bounce composes the failure DSN (RFC 3464) to the sender as the runner
//! would and stores it with the destination's removal in one transaction.

use std::path::Path;

use hyper::StatusCode;
use moxide_actors::queue::dsn::make_blocking;
use moxide_storage::StorageError;
use moxide_storage::queue::{
    Destination, QueueFilter, QueueId, QueueStore, QueueUpdate, QueuedMessage, QueuedRecipient, StoredReply,
};

use crate::api::{Ctx, Reply, blocking, json};
use crate::error::{ApiError, CommonErrors};
use crate::types::{
    QueueChanged, QueueDestination, QueueListing, QueueMessage, QueueRecipient, QueueReply, QueueSelection,
};

/// Messages per page when the request names no `limit`.
pub const QUEUE_PAGE_DEFAULT: usize = 100;

/// What a listing selects (the query of `GET /api/v0/admin/queue`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct QueueQuery {
    /// Start after this message id.
    pub after: Option<u64>,
    /// Most messages on the page.
    pub limit: Option<usize>,
    /// Only messages with a destination of this domain.
    pub domain: Option<String>,
    /// Only messages from this MAIL FROM address (without case).
    pub from: Option<String>,
    /// Only messages with a held destination (`true`) or with one not held (`false`).
    pub held: Option<bool>,
}

impl QueueQuery {
    /// Parses a query string (`after=7&limit=50&domain=example.org&held=true`).
    pub fn parse(query: &str) -> Result<QueueQuery, String> {
        let mut out = QueueQuery::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = crate::api::percent_decode(&value.replace('+', " "));
            let number = |what: &str| value.parse::<u64>().map_err(|_| format!("{what} must be a number"));
            match name {
                "after" => out.after = Some(number("after")?),
                "limit" => {
                    let limit = number("limit")?;
                    if limit == 0 {
                        return Err("limit must be at least 1".into());
                    }
                    out.limit = Some(usize::try_from(limit).unwrap_or(usize::MAX));
                }
                "domain" => out.domain = Some(value),
                "from" => out.from = Some(value),
                "held" => {
                    out.held = Some(match value.as_str() {
                        "true" => true,
                        "false" => false,
                        _ => return Err("held must be true or false".into()),
                    })
                }
                other => return Err(format!("unknown parameter {other:?}")),
            }
        }
        Ok(out)
    }

    fn keeps(&self, message: &QueuedMessage, destinations: &[Destination]) -> bool {
        let domain_ok = self
            .domain
            .as_deref()
            .is_none_or(|domain| destinations.iter().any(|d| d.domain.eq_ignore_ascii_case(domain)));
        let from_ok = self.from.as_deref().is_none_or(|from| message.mail_from.eq_ignore_ascii_case(from));
        let held_ok = self.held.is_none_or(|held| destinations.iter().any(|d| d.held == held));
        domain_ok && from_ok && held_ok
    }
}

/// An operation on selected destinations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueAction {
    /// No attempt until released.
    Hold,
    /// Attempts resume on schedule.
    Release,
    /// Due now (and released).
    Retry,
    /// Removed without a DSN.
    Drop,
    /// Removed with a failure DSN to the sender.
    Bounce,
}

impl QueueAction {
    /// Its name in a path.
    pub fn name(self) -> &'static str {
        match self {
            QueueAction::Hold => "hold",
            QueueAction::Release => "release",
            QueueAction::Retry => "retry",
            QueueAction::Drop => "drop",
            QueueAction::Bounce => "bounce",
        }
    }

    /// The action named in a path (`hold`, `release`, `retry`, `drop`, `bounce`).
    pub fn from_name(name: &str) -> Option<QueueAction> {
        Some(match name {
            "hold" => QueueAction::Hold,
            "release" => QueueAction::Release,
            "retry" => QueueAction::Retry,
            "drop" => QueueAction::Drop,
            "bounce" => QueueAction::Bounce,
            _ => return None,
        })
    }
}

/// Where a bounce's DSN is composed and what it names as the reporting host.
#[derive(Debug, Clone)]
pub struct BounceContext<'a> {
    /// Our host name (Reporting-MTA).
    pub hostname: &'a str,
    /// The spool directory (the DSN is written there, then linked into the queue).
    pub spool_dir: &'a Path,
}

/// Blocking: one page of the queue.
pub fn list(store: &QueueStore, query: &QueueQuery) -> Result<QueueListing, StorageError> {
    let limit = query.limit.unwrap_or(QUEUE_PAGE_DEFAULT);
    let page = store.page(query.after.map(QueueId), limit, |m, d| query.keeps(m, d))?;
    Ok(QueueListing {
        messages: page.messages.iter().map(|(m, d)| message_of(m, d)).collect(),
        next_after: page.next_after.map(|id| id.0),
    })
}

/// Blocking: one queued message, if queued.
pub fn show(store: &QueueStore, id: u64) -> Result<Option<QueueMessage>, StorageError> {
    let Some(message) = store.message(QueueId(id))? else { return Ok(None) };
    Ok(Some(message_of(&message, &store.destinations(QueueId(id))?)))
}

/// Blocking: applies `action` to the destinations `selection` names; returns how many
/// changed.
pub fn act(
    store: &QueueStore,
    action: QueueAction,
    selection: &QueueSelection,
    bounce: &BounceContext<'_>,
    now_ms: i64,
) -> Result<usize, StorageError> {
    let filter = QueueFilter { message: selection.id.map(QueueId), domain: selection.domain.clone() };
    match action {
        QueueAction::Hold => store.set_held(&filter, true),
        QueueAction::Release => store.set_held(&filter, false),
        QueueAction::Retry => store.retry_now(&filter, now_ms),
        QueueAction::Drop => store.remove(&filter),
        QueueAction::Bounce => bounce_matching(store, &filter, bounce, now_ms),
    }
}

/// Removes each matching destination and queues a failure DSN for its recipients (when
/// the message has a sender and they asked for one), one transaction per destination.
fn bounce_matching(
    store: &QueueStore,
    filter: &QueueFilter,
    context: &BounceContext<'_>,
    now_ms: i64,
) -> Result<usize, StorageError> {
    let cancelled = StoredReply {
        code: 550,
        enhanced: Some((5, 3, 0)),
        text: "delivery cancelled by the postmaster".into(),
        remote_host: String::new(),
    };
    let mut bounced = 0;
    for (message, destinations) in store.list()? {
        let mut selected = destinations.into_iter().filter(|d| filter.matches(d)).peekable();
        if selected.peek().is_none() {
            continue;
        }
        // Its bytes, for the DSN's copy of the header (gone meanwhile: nothing to bounce).
        let Some((_, content)) = store.message_with_content(message.id)? else { continue };
        for destination in selected {
            let recipients: Vec<QueuedRecipient> = destination
                .recipients
                .iter()
                .map(|r| QueuedRecipient { last_result: Some(cancelled.clone()), ..r.clone() })
                .collect();
            let dsn = make_blocking(
                context.hostname,
                context.spool_dir,
                &message,
                &content,
                &recipients,
                false,
                now_ms,
            );
            let result = store.apply(&[QueueUpdate::Remove(destination.key)], dsn.as_slice());
            if let Some(spool) = dsn.as_ref().and_then(moxide_actors::queue::dsn::spool_of) {
                let _ = std::fs::remove_file(spool);
            }
            result?;
            bounced += 1;
        }
    }
    Ok(bounced)
}

fn message_of(message: &QueuedMessage, destinations: &[Destination]) -> QueueMessage {
    QueueMessage {
        id: message.id.0,
        queued_ms: message.queued_ms,
        mail_from: message.mail_from.clone(),
        sender_account: message.sender_account.clone(),
        size_bytes: message.size_bytes,
        requiretls: message.requiretls,
        smtputf8: message.smtputf8,
        destinations: destinations.iter().map(destination_of).collect(),
    }
}

fn destination_of(destination: &Destination) -> QueueDestination {
    QueueDestination {
        domain: destination.domain.clone(),
        attempts: destination.attempts,
        next_attempt_ms: destination.next_attempt_ms,
        last_attempt_ms: destination.last_attempt_ms,
        held: destination.held,
        recipients: destination
            .recipients
            .iter()
            .map(|r| QueueRecipient {
                address: r.address.clone(),
                last_result: r.last_result.as_ref().map(|reply| QueueReply {
                    code: reply.code,
                    enhanced: reply.enhanced.map(|(a, b, c)| format!("{a}.{b}.{c}")),
                    text: reply.text.clone(),
                    remote_host: reply.remote_host.clone(),
                }),
            })
            .collect(),
    }
}

/// Lists the outbound queue a page at a time, by message id. Filters: `domain` (a
/// destination's recipient domain), `from` (MAIL FROM), `held`. A page examines at
/// most 10,000 messages; continue with `after` = `next_after` while it is present.
#[utoipa::path(get, path = "/api/v0/admin/queue", tag = "admin", security(("bearer" = [])),
    params(
        ("after" = Option<u64>, Query, description = "Start after this message id"),
        ("limit" = Option<u64>, Query, description = "Most messages on the page (default 100, at most 500)"),
        ("domain" = Option<String>, Query, description = "Only messages with a destination of this domain"),
        ("from" = Option<String>, Query, description = "Only messages from this MAIL FROM address"),
        ("held" = Option<bool>, Query, description = "Only messages with a held (true) or not held (false) destination"),
    ),
    responses((status = 200, body = QueueListing), CommonErrors))]
pub(crate) async fn queue_list(ctx: &Ctx, query: &str) -> Result<Reply, ApiError> {
    let query = QueueQuery::parse(query).map_err(ApiError::bad_request)?;
    let Some(store) = ctx.services.queue.clone() else {
        return Ok(json(StatusCode::OK, &QueueListing { messages: Vec::new(), next_after: None }));
    };
    let listing = blocking(move || list(&store, &query)).await?.map_err(ApiError::internal)?;
    Ok(json(StatusCode::OK, &listing))
}

/// One queued message: its envelope, destinations, and each recipient's last result.
#[utoipa::path(get, path = "/api/v0/admin/queue/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = u64, Path, description = "The message id")),
    responses((status = 200, body = QueueMessage), CommonErrors))]
pub(crate) async fn queue_show(ctx: &Ctx, id: &str) -> Result<Reply, ApiError> {
    let id: u64 = id.parse().map_err(|_| ApiError::bad_request("a queue id is a number"))?;
    let not_found = || ApiError::not_found(format!("no queued message {id}"));
    let store = ctx.services.queue.clone().ok_or_else(not_found)?;
    let message = blocking(move || show(&store, id)).await?.map_err(ApiError::internal)?;
    Ok(json(StatusCode::OK, &message.ok_or_else(not_found)?))
}

/// Applies `action` to the selected destinations (all of them when the selection is
/// empty). Documented as one path per action below.
pub(crate) async fn queue_act(ctx: &Ctx, action: &str, selection: QueueSelection) -> Result<Reply, ApiError> {
    let action = QueueAction::from_name(action)
        .ok_or_else(|| ApiError::not_found(format!("no queue operation {action:?}")))?;
    let Some(store) = ctx.services.queue.clone() else {
        return Ok(json(StatusCode::OK, &QueueChanged { destinations: 0 }));
    };
    let hostname = ctx.services.hostname.clone();
    let spool_dir = ctx.services.data_dir.join("tmp");
    let now_ms = moxide_actors::clock::now_unix_ms();
    let changed = blocking(move || {
        let context = BounceContext { hostname: &hostname, spool_dir: &spool_dir };
        act(&store, action, &selection, &context, now_ms)
    })
    .await?
    .map_err(ApiError::internal)?;
    if changed > 0 {
        tracing::info!(?action, changed, "queue changed by the operator");
    }
    Ok(json(StatusCode::OK, &QueueChanged { destinations: u32::try_from(changed).unwrap_or(u32::MAX) }))
}

/// Holds the selected destinations (all when the selection is empty): no attempt until released.
#[utoipa::path(post, path = "/api/v0/admin/queue/hold", tag = "admin", security(("bearer" = [])),
    request_body = QueueSelection, responses((status = 200, body = QueueChanged), CommonErrors))]
#[allow(dead_code, reason = "documents a route `queue_act` handles")]
pub(crate) fn queue_hold_doc() {}

/// Releases the selected held destinations: attempts resume on their schedule.
#[utoipa::path(post, path = "/api/v0/admin/queue/release", tag = "admin", security(("bearer" = [])),
    request_body = QueueSelection, responses((status = 200, body = QueueChanged), CommonErrors))]
#[allow(dead_code, reason = "documents a route `queue_act` handles")]
pub(crate) fn queue_release_doc() {}

/// Makes the selected destinations due now (and releases them).
#[utoipa::path(post, path = "/api/v0/admin/queue/retry", tag = "admin", security(("bearer" = [])),
    request_body = QueueSelection, responses((status = 200, body = QueueChanged), CommonErrors))]
#[allow(dead_code, reason = "documents a route `queue_act` handles")]
pub(crate) fn queue_retry_doc() {}

/// Removes the selected destinations without a DSN.
#[utoipa::path(post, path = "/api/v0/admin/queue/drop", tag = "admin", security(("bearer" = [])),
    request_body = QueueSelection, responses((status = 200, body = QueueChanged), CommonErrors))]
#[allow(dead_code, reason = "documents a route `queue_act` handles")]
pub(crate) fn queue_drop_doc() {}

/// Fails the selected destinations now: removed, with a failure DSN (RFC 3464) to the sender.
#[utoipa::path(post, path = "/api/v0/admin/queue/bounce", tag = "admin", security(("bearer" = [])),
    request_body = QueueSelection, responses((status = 200, body = QueueChanged), CommonErrors))]
#[allow(dead_code, reason = "documents a route `queue_act` handles")]
pub(crate) fn queue_bounce_doc() {}
