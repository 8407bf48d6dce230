//! Received reports read back for the admin API: the stored documents (DMARC aggregate
//! reports, RFC 7489 §7.2; SMTP TLS reports, RFC 8460 §4) listed a page at a time and
//! parsed again by the same parsers that accepted them at delivery. Blocking (directory
//! reads, file reads): call from a helper thread.

use moxide_protocols::reports;
pub use moxide_protocols::reports::ReportError;
pub use moxide_protocols::reports::dmarc::{AggregateReport, AggregateRow};
pub use moxide_protocols::reports::tlsrpt::{TlsPolicySummary, TlsReport};
use moxide_storage::{ReportStore, StorageError};

/// Most reports one page lists: names and sizes, a few dozen KiB of JSON.
pub const REPORT_PAGE_MAX: usize = 1000;

/// The kinds of stored report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoredKind {
    /// DMARC aggregate reports (`reports/dmarc/`).
    Dmarc,
    /// SMTP TLS reports (`reports/tlsrpt/`).
    TlsRpt,
}

impl StoredKind {
    /// The directory name under `reports/`.
    pub fn dir(self) -> &'static str {
        match self {
            StoredKind::Dmarc => "dmarc",
            StoredKind::TlsRpt => "tlsrpt",
        }
    }
}

/// Why a stored report cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoredReportError {
    /// No report of that name.
    #[error("no such report")]
    NotFound,
    /// The store failed.
    #[error("report store: {0}")]
    Storage(#[from] StorageError),
    /// The stored document no longer parses (edited by hand, or a parser change).
    #[error("stored report does not parse: {0}")]
    Invalid(#[from] ReportError),
}

/// A page of report names after `after` (sorted), at most `limit` (and
/// [`REPORT_PAGE_MAX`]), each with its size; and whether more follow.
pub fn page(
    store: &ReportStore,
    kind: StoredKind,
    after: Option<&str>,
    limit: usize,
) -> Result<(Vec<(String, u64)>, bool), StorageError> {
    let limit = limit.clamp(1, REPORT_PAGE_MAX);
    let names = store.list(kind.dir())?;
    let start = after.map_or(0, |after| names.partition_point(|name| name.as_str() <= after));
    let rest = names.get(start..).unwrap_or_default();
    let mut out = Vec::new();
    for name in rest.iter().take(limit) {
        let size = store.size(kind.dir(), name)?;
        out.push((name.clone(), size));
    }
    Ok((out, rest.len() > limit))
}

/// The stored bytes of a report, or [`StoredReportError::NotFound`].
fn bytes(store: &ReportStore, kind: StoredKind, name: &str) -> Result<Vec<u8>, StoredReportError> {
    if !store.list(kind.dir())?.iter().any(|n| n == name) {
        return Err(StoredReportError::NotFound);
    }
    Ok(store.read(kind.dir(), name)?)
}

/// A stored DMARC aggregate report, parsed.
pub fn dmarc(store: &ReportStore, name: &str) -> Result<AggregateReport, StoredReportError> {
    Ok(reports::dmarc::parse(&bytes(store, StoredKind::Dmarc, name)?)?)
}

/// A stored SMTP TLS report, parsed.
pub fn tlsrpt(store: &ReportStore, name: &str) -> Result<TlsReport, StoredReportError> {
    Ok(reports::tlsrpt::parse(&bytes(store, StoredKind::TlsRpt, name)?)?)
}
