//! Received DMARC aggregate and SMTP TLS reports (`/api/v0/admin/reports/...`): list the
//! stored reports of a kind a page at a time (by name), and read one parsed into JSON.
//! The documents are the files delivery stored under `data/reports/` (see
//! `moxide_storage::ReportStore`); they are parsed again on a helper thread with the
//! parsers that accepted them.

use hyper::StatusCode;
use moxide_actors::reports::{self, StoredKind, StoredReportError};

use crate::api::{Ctx, Reply, blocking, json};
use crate::error::{ApiError, CommonErrors};
use crate::types::{DmarcReport, DmarcRow, ReportEntry, ReportListing, TlsPolicyResult, TlsReportDetails};

/// Reports per page when the request names no `limit`.
pub const REPORT_PAGE_DEFAULT: usize = 100;

fn kind_of(kind: &str) -> Result<StoredKind, ApiError> {
    match kind {
        "dmarc" => Ok(StoredKind::Dmarc),
        "tlsrpt" => Ok(StoredKind::TlsRpt),
        _ => Err(ApiError::not_found(format!("no report kind {kind:?} (dmarc or tlsrpt)"))),
    }
}

fn parse_query(query: &str) -> Result<(Option<String>, usize), ApiError> {
    let mut after = None;
    let mut limit = REPORT_PAGE_DEFAULT;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = crate::api::percent_decode(&value.replace('+', " "));
        match name {
            "after" => after = Some(value),
            "limit" => {
                limit = value
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| ApiError::bad_request("limit must be a number of at least 1"))?
            }
            other => return Err(ApiError::bad_request(format!("unknown parameter {other:?}"))),
        }
    }
    Ok((after, limit))
}

/// Lists stored reports of one kind (`dmarc` or `tlsrpt`), by name, a page at a time
/// (at most 1000 per page); continue with `after` = `next_after` while present.
#[utoipa::path(get, path = "/api/v0/admin/reports/{kind}", tag = "admin", security(("bearer" = [])),
    params(
        ("kind" = String, Path, description = "dmarc or tlsrpt"),
        ("after" = Option<String>, Query, description = "Start after this report name"),
        ("limit" = Option<u64>, Query, description = "Most reports on the page (default 100, at most 1000)"),
    ),
    responses((status = 200, body = ReportListing), CommonErrors))]
pub(crate) async fn reports_list(ctx: &Ctx, kind: &str, query: &str) -> Result<Reply, ApiError> {
    let kind = kind_of(kind)?;
    let (after, limit) = parse_query(query)?;
    let store = ctx.services.reports.clone();
    let (names, more) = blocking(move || reports::page(&store, kind, after.as_deref(), limit))
        .await?
        .map_err(ApiError::internal)?;
    let next_after = if more { names.last().map(|(name, _)| name.clone()) } else { None };
    let reports = names.into_iter().map(|(name, size_bytes)| ReportEntry { name, size_bytes }).collect();
    Ok(json(StatusCode::OK, &ReportListing { reports, next_after }))
}

fn read_failure(error: StoredReportError) -> ApiError {
    match error {
        StoredReportError::NotFound => ApiError::not_found("no such report"),
        other => ApiError::internal(other),
    }
}

/// One DMARC aggregate report, parsed.
#[utoipa::path(get, path = "/api/v0/admin/reports/dmarc/{name}", tag = "admin", security(("bearer" = [])),
    params(("name" = String, Path, description = "The report's name, as listed")),
    responses((status = 200, body = DmarcReport), CommonErrors))]
pub(crate) async fn dmarc_report(ctx: &Ctx, name: &str) -> Result<Reply, ApiError> {
    let store = ctx.services.reports.clone();
    let wanted = name.to_string();
    let report = blocking(move || reports::dmarc(&store, &wanted)).await?.map_err(read_failure)?;
    let rows = report
        .rows
        .into_iter()
        .map(|r| DmarcRow {
            source_ip: r.source_ip,
            count: r.count,
            disposition: r.disposition,
            dkim: r.dkim,
            spf: r.spf,
            header_from: r.header_from,
        })
        .collect();
    let details = DmarcReport {
        name: name.to_string(),
        org_name: report.org_name,
        email: report.email,
        report_id: report.report_id,
        begin: report.begin,
        end: report.end,
        domain: report.domain,
        policy: report.policy,
        rows,
        rows_dropped: report.rows_dropped,
    };
    Ok(json(StatusCode::OK, &details))
}

/// One SMTP TLS report, parsed.
#[utoipa::path(get, path = "/api/v0/admin/reports/tlsrpt/{name}", tag = "admin", security(("bearer" = [])),
    params(("name" = String, Path, description = "The report's name, as listed")),
    responses((status = 200, body = TlsReportDetails), CommonErrors))]
pub(crate) async fn tls_report(ctx: &Ctx, name: &str) -> Result<Reply, ApiError> {
    let store = ctx.services.reports.clone();
    let wanted = name.to_string();
    let report = blocking(move || reports::tlsrpt(&store, &wanted)).await?.map_err(read_failure)?;
    let policies = report
        .policies
        .into_iter()
        .map(|p| TlsPolicyResult {
            policy_type: p.policy_type,
            domain: p.domain,
            successful: p.successful,
            failed: p.failed,
            failure_types: p.failure_types,
        })
        .collect();
    let details = TlsReportDetails {
        name: name.to_string(),
        organization: report.organization,
        report_id: report.report_id,
        start: report.start,
        end: report.end,
        policies,
    };
    Ok(json(StatusCode::OK, &details))
}
