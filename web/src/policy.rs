//! The queue's sending policy for the operator and the accounts: the suppression lists
//! (`/api/v0/admin/suppressions...`, and an account's own at
//! `/api/v0/account/suppressions...`) and the hold rules (`/api/v0/admin/holdrules...`).
//! Both live in the queue store (`moxide_storage::queue::policy`), which the submission
//! sessions read at each message, so a change applies to the next submission with
//! nothing to publish. The blocking functions here are also what `moxide queue suppress`
//! and `moxide queue holdrules` run themselves when no server holds the data directory.
//!
//! Listings are pages (at most `POLICY_PAGE_MAX` entries, one read transaction each):
//! a suppression list grows by itself with every hard bounce.

use std::sync::Arc;

use hyper::StatusCode;
use moxide_storage::StorageError;
use moxide_storage::queue::{HoldRule, POLICY_PAGE_MAX, QUEUE_ADDRESS_BYTES_MAX, QueueStore, Suppression};

use crate::api::{Ctx, Reply, blocking, json, no_content};
use crate::error::{ApiError, CommonErrors};
use crate::types::{
    HoldRuleAdd, HoldRuleEntry, HoldRuleListing, SuppressionAdd, SuppressionEntry, SuppressionListing,
};

/// Entries per page when the request names no `limit`.
pub const POLICY_PAGE_DEFAULT: usize = 100;

/// What a listing asks for (`after`, `limit`, and for the admin's suppressions `account`).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PolicyQuery {
    /// The `next_after` of the previous page.
    pub after: Option<String>,
    /// Most entries on the page.
    pub limit: Option<usize>,
    /// Only this account's suppressions.
    pub account: Option<String>,
}

impl PolicyQuery {
    /// Parses a query string; `account` only where `account_allowed`.
    pub fn parse(query: &str, account_allowed: bool) -> Result<PolicyQuery, String> {
        let mut out = PolicyQuery::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = crate::api::percent_decode(&value.replace('+', " "));
            match name {
                "after" => out.after = Some(value),
                "limit" => {
                    let limit: u64 = value.parse().map_err(|_| "limit must be a number".to_string())?;
                    if limit == 0 {
                        return Err("limit must be at least 1".into());
                    }
                    out.limit = Some(usize::try_from(limit).unwrap_or(usize::MAX).min(POLICY_PAGE_MAX));
                }
                "account" if account_allowed => out.account = Some(value),
                other => return Err(format!("unknown parameter {other:?}")),
            }
        }
        Ok(out)
    }
}

/// Blocking: one page of the suppression list of `account` (every account's when `None`).
/// A cursor is `account:address` (account names have no `:`).
pub fn list_suppressions(
    store: &QueueStore,
    account: Option<&str>,
    query: &PolicyQuery,
) -> Result<SuppressionListing, StorageError> {
    let after = query.after.as_deref().and_then(|cursor| cursor.split_once(':'));
    let limit = query.limit.unwrap_or(POLICY_PAGE_DEFAULT);
    let (entries, more) = store.suppressions_page(account, after, limit)?;
    let next_after = more.then(|| entries.last().map(|e| format!("{}:{}", e.account, e.address))).flatten();
    Ok(SuppressionListing { suppressions: entries.into_iter().map(suppression_of).collect(), next_after })
}

/// Blocking: one page of the hold rules.
pub fn list_hold_rules(store: &QueueStore, query: &PolicyQuery) -> Result<HoldRuleListing, String> {
    let after = match query.after.as_deref() {
        Some(after) => Some(after.parse::<u64>().map_err(|_| "after must be a rule id".to_string())?),
        None => None,
    };
    let (rules, more) = store
        .hold_rules_page(after, query.limit.unwrap_or(POLICY_PAGE_DEFAULT))
        .map_err(|e| e.to_string())?;
    let next_after = more.then(|| rules.last().map(|r| r.id)).flatten();
    Ok(HoldRuleListing { rules: rules.into_iter().map(hold_rule_entry).collect(), next_after })
}

/// A suppressed address as stored: `localpart@domain`, lower case, bounded, no spaces
/// or control characters.
pub fn check_address(address: &str) -> Result<String, String> {
    let valid = address.len() <= QUEUE_ADDRESS_BYTES_MAX
        && !address.chars().any(|c| c.is_control() || c.is_whitespace())
        && address.rsplit_once('@').is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty());
    if valid {
        Ok(address.to_lowercase())
    } else {
        Err(format!(
            "{address:?} is not an address (localpart@domain, at most {QUEUE_ADDRESS_BYTES_MAX} bytes)"
        ))
    }
}

/// The rule `add` asks for, checked: each field given is 1 to 320 bytes without spaces
/// or control characters; domains lower case.
pub fn hold_rule_of(add: HoldRuleAdd) -> Result<HoldRule, String> {
    for (what, value) in [
        ("account", &add.account),
        ("sender_domain", &add.sender_domain),
        ("recipient_domain", &add.recipient_domain),
    ] {
        if let Some(value) = value
            && (value.is_empty()
                || value.len() > QUEUE_ADDRESS_BYTES_MAX
                || value.chars().any(|c| c.is_control() || c.is_whitespace()))
        {
            return Err(format!("{what} {value:?} must be 1-{QUEUE_ADDRESS_BYTES_MAX} bytes without spaces"));
        }
    }
    let lower = |d: Option<String>| d.map(|d| d.trim_end_matches('.').to_lowercase());
    Ok(HoldRule {
        id: 0,
        account: add.account,
        sender_domain: lower(add.sender_domain),
        recipient_domain: lower(add.recipient_domain),
    })
}

fn suppression_of(entry: Suppression) -> SuppressionEntry {
    SuppressionEntry {
        account: entry.account,
        address: entry.address,
        added_ms: entry.added_ms,
        reason: entry.reason,
    }
}

fn hold_rule_entry(rule: HoldRule) -> HoldRuleEntry {
    HoldRuleEntry {
        id: rule.id,
        account: rule.account,
        sender_domain: rule.sender_domain,
        recipient_domain: rule.recipient_domain,
    }
}

/// The queue store, or why a change cannot be made (localserve has no queue).
fn store_for_change(ctx: &Ctx) -> Result<Arc<QueueStore>, ApiError> {
    ctx.services
        .queue
        .clone()
        .ok_or_else(|| ApiError::conflict("this server has no outbound queue (localserve)"))
}

/// Lists suppressed addresses, a page at a time in account and address order;
/// continue with `after` = `next_after` while it is present.
#[utoipa::path(get, path = "/api/v0/admin/suppressions", tag = "admin", security(("bearer" = [])),
    params(
        ("account" = Option<String>, Query, description = "Only this account's list"),
        ("after" = Option<String>, Query, description = "The next_after of the previous page"),
        ("limit" = Option<u64>, Query, description = "Most entries on the page (default 100, at most 500)"),
    ),
    responses((status = 200, body = SuppressionListing), CommonErrors))]
pub(crate) async fn suppressions_list(
    ctx: &Ctx,
    own: Option<&Arc<str>>,
    query: &str,
) -> Result<Reply, ApiError> {
    let query = PolicyQuery::parse(query, own.is_none()).map_err(ApiError::bad_request)?;
    let Some(store) = ctx.services.queue.clone() else {
        return Ok(json(StatusCode::OK, &SuppressionListing { suppressions: Vec::new(), next_after: None }));
    };
    let account = own.map(ToString::to_string).or_else(|| query.account.clone());
    let listing = blocking(move || list_suppressions(&store, account.as_deref(), &query))
        .await?
        .map_err(ApiError::internal)?;
    Ok(json(StatusCode::OK, &listing))
}

/// Suppresses an address for an account: its submissions to it are refused until the
/// entry is removed.
#[utoipa::path(post, path = "/api/v0/admin/suppressions", tag = "admin", security(("bearer" = [])),
    request_body = SuppressionAdd, responses((status = 201, body = SuppressionEntry), CommonErrors))]
pub(crate) async fn suppression_add(
    ctx: &Ctx,
    own: Option<&Arc<str>>,
    add: SuppressionAdd,
) -> Result<Reply, ApiError> {
    let account = match (own, add.account) {
        (Some(own), None) => own.to_string(),
        (Some(own), Some(named)) if *named == **own => named,
        (Some(_), Some(_)) => return Err(ApiError::bad_request("an account adds to its own list only")),
        (None, Some(named)) => named,
        (None, None) => return Err(ApiError::bad_request("name the account")),
    };
    if !ctx.node.directory().has_account(&account) {
        return Err(ApiError::not_found(format!("no account {account:?}")));
    }
    let address = check_address(&add.address).map_err(ApiError::bad_request)?;
    let default_reason = if own.is_some() { "added by the account" } else { "added by the postmaster" };
    let entry = Suppression {
        account,
        address,
        added_ms: moxide_actors::clock::now_unix_ms(),
        reason: add.reason.unwrap_or_else(|| default_reason.to_string()),
    };
    let store = store_for_change(ctx)?;
    let stored = entry.clone();
    blocking(move || store.suppress(std::slice::from_ref(&stored))).await?.map_err(ApiError::internal)?;
    tracing::info!(account = %entry.account, address = %entry.address, "address suppressed");
    let mut answer = suppression_of(entry);
    answer.reason.truncate(moxide_storage::queue::SUPPRESSION_REASON_BYTES_MAX);
    Ok(json(StatusCode::CREATED, &answer))
}

/// Removes an address from an account's suppression list.
#[utoipa::path(delete, path = "/api/v0/admin/suppressions/{account}/{address}", tag = "admin", security(("bearer" = [])),
    params(("account" = String, Path, description = "Account name"), ("address" = String, Path, description = "The suppressed address")),
    responses((status = 204, description = "Removed"), CommonErrors))]
pub(crate) async fn suppression_remove(
    ctx: &Ctx,
    account: &Arc<str>,
    address: &str,
) -> Result<Reply, ApiError> {
    let not_found = || ApiError::not_found(format!("{address} is not on {account}'s suppression list"));
    let address = check_address(address).map_err(|_| not_found())?;
    let store = ctx.services.queue.clone().ok_or_else(not_found)?;
    let name = account.to_string();
    let stored = address.clone();
    let removed = blocking(move || store.unsuppress(&name, &stored)).await?.map_err(ApiError::internal)?;
    if !removed {
        return Err(not_found());
    }
    tracing::info!(%account, %address, "address no longer suppressed");
    Ok(no_content())
}

/// Lists the hold rules by id, a page at a time.
#[utoipa::path(get, path = "/api/v0/admin/holdrules", tag = "admin", security(("bearer" = [])),
    params(
        ("after" = Option<u64>, Query, description = "The next_after of the previous page"),
        ("limit" = Option<u64>, Query, description = "Most rules on the page (default 100, at most 500)"),
    ),
    responses((status = 200, body = HoldRuleListing), CommonErrors))]
pub(crate) async fn hold_rules_list(ctx: &Ctx, query: &str) -> Result<Reply, ApiError> {
    let query = PolicyQuery::parse(query, false).map_err(ApiError::bad_request)?;
    let Some(store) = ctx.services.queue.clone() else {
        return Ok(json(StatusCode::OK, &HoldRuleListing { rules: Vec::new(), next_after: None }));
    };
    let listing = blocking(move || list_hold_rules(&store, &query)).await?.map_err(ApiError::bad_request)?;
    Ok(json(StatusCode::OK, &listing))
}

/// Adds a hold rule: messages queued from now on that match every field given are held
/// until released (`POST /queue/release`). A rule with no field holds everything.
#[utoipa::path(post, path = "/api/v0/admin/holdrules", tag = "admin", security(("bearer" = [])),
    request_body = HoldRuleAdd, responses((status = 201, body = HoldRuleEntry), CommonErrors))]
pub(crate) async fn hold_rule_add(ctx: &Ctx, add: HoldRuleAdd) -> Result<Reply, ApiError> {
    let rule = hold_rule_of(add).map_err(ApiError::bad_request)?;
    let store = store_for_change(ctx)?;
    let stored = rule.clone();
    let id = blocking(move || store.add_hold_rule(&stored)).await?.map_err(ApiError::internal)?;
    tracing::info!(id, "hold rule added");
    Ok(json(StatusCode::CREATED, &hold_rule_entry(HoldRule { id, ..rule })))
}

/// Removes a hold rule (what it held stays held until released).
#[utoipa::path(delete, path = "/api/v0/admin/holdrules/{id}", tag = "admin", security(("bearer" = [])),
    params(("id" = u64, Path, description = "The rule's id")),
    responses((status = 204, description = "Removed"), CommonErrors))]
pub(crate) async fn hold_rule_remove(ctx: &Ctx, id: &str) -> Result<Reply, ApiError> {
    let id: u64 = id.parse().map_err(|_| ApiError::bad_request("a hold rule id is a number"))?;
    let not_found = || ApiError::not_found(format!("no hold rule {id}"));
    let store = ctx.services.queue.clone().ok_or_else(not_found)?;
    let removed = blocking(move || store.remove_hold_rule(id)).await?.map_err(ApiError::internal)?;
    if !removed {
        return Err(not_found());
    }
    tracing::info!(id, "hold rule removed");
    Ok(no_content())
}

/// The logged-in account's suppression list (addresses its submissions may not go to),
/// a page at a time.
#[utoipa::path(get, path = "/api/v0/account/suppressions", tag = "account", security(("bearer" = [])),
    params(
        ("after" = Option<String>, Query, description = "The next_after of the previous page"),
        ("limit" = Option<u64>, Query, description = "Most entries on the page (default 100, at most 500)"),
    ),
    responses((status = 200, body = SuppressionListing), CommonErrors))]
#[allow(dead_code, reason = "documents a route `suppressions_list` handles")]
pub(crate) fn own_suppressions_doc() {}

/// Adds an address to the logged-in account's suppression list (`account` may be left
/// out, or must name the account itself).
#[utoipa::path(post, path = "/api/v0/account/suppressions", tag = "account", security(("bearer" = [])),
    request_body = SuppressionAdd, responses((status = 201, body = SuppressionEntry), CommonErrors))]
#[allow(dead_code, reason = "documents a route `suppression_add` handles")]
pub(crate) fn own_suppression_add_doc() {}

/// Removes an address from the logged-in account's suppression list.
#[utoipa::path(delete, path = "/api/v0/account/suppressions/{address}", tag = "account", security(("bearer" = [])),
    params(("address" = String, Path, description = "The suppressed address")),
    responses((status = 204, description = "Removed"), CommonErrors))]
#[allow(dead_code, reason = "documents a route `suppression_remove` handles")]
pub(crate) fn own_suppression_remove_doc() {}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn queries_and_values_are_checked() {
        let query = PolicyQuery::parse("after=alice%3Ax%40y&limit=9999&account=alice", true).unwrap();
        assert_eq!(query.after.as_deref(), Some("alice:x@y"));
        assert_eq!(query.limit, Some(POLICY_PAGE_MAX));
        assert!(PolicyQuery::parse("account=alice", false).is_err(), "an account lists its own only");
        assert!(PolicyQuery::parse("limit=0", true).is_err());
        assert_eq!(check_address("Bob@Example.org").unwrap(), "bob@example.org");
        for bad in ["bob", "@example.org", "bob@", "a b@c", "a\r\n@b", &"x".repeat(400)] {
            assert!(check_address(bad).is_err(), "{bad:?}");
        }
        let rule = hold_rule_of(HoldRuleAdd {
            recipient_domain: Some("Held.Example.".into()),
            ..Default::default()
        });
        assert_eq!(rule.unwrap().recipient_domain.as_deref(), Some("held.example"));
        assert!(hold_rule_of(HoldRuleAdd { account: Some(String::new()), ..Default::default() }).is_err());
    }
}
