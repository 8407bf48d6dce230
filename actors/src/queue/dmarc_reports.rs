//! DMARC aggregate reports (RFC 7489 §7.2) about the mail we receive: every incoming
//! message evaluated under a policy that asks for reports (`rua`) is counted in
//! [`DmarcEvaluations`] (shared by the SMTP sessions of all cores: one short lock per
//! message, no I/O), which the queue's core adds to the [`DmarcEvalStore`] every
//! [`DMARC_FLUSH_INTERVAL_MS`]; the server stores the rest once every core has stopped. Once a UTC day has ended, each policy
//! domain's report for it goes to the `mailto:` addresses of the domain's current
//! record, composed by `moxide_protocols::dmarcrpt`, DKIM-signed by our reporting
//! domain and queued from the null reverse path like a TLS report.
//!
//! Rules of §7.1 and §7.2.1: an address outside the policy domain's organizational
//! domain gets reports only if `<policy-domain>._report._dmarc.<its domain>` holds a
//! `v=DMARC1` record; a report larger than an address's `!size` limit is not sent to
//! it; a domain whose record is gone gets none (a failed lookup keeps the day for a
//! later run).
//!
//! What a crash costs: counts gathered since the last flush (at most a minute of them;
//! a graceful stop flushes); a report queued but not yet removed from the store is sent
//! again after a restart (at least once, as with TLS reports).
//!
//! Bounded: [`DMARC_PENDING_DAYS_MAX`] domain-days in memory and [`STORED_ROWS_MAX`] rows per
//! domain and day, at most
//! [`DMARC_REPORT_DOMAINS_MAX`] reports per run, days kept [`DMARC_DAYS_KEPT`].

use std::collections::HashMap;
use std::path::PathBuf;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

use moxide_protocols::auth::dmarc::{DmarcRecord, is_dmarc_record};
use moxide_protocols::dmarcrpt::{
    self, DkimAuth, PublishedPolicy, Report, ReportMessage, Row, authorization_name, parse_rua,
};
use moxide_protocols::dns::{DomainName, Question, RecordType, ResolveError, Resolver};
use moxide_protocols::smtp::rfc5322_date;
use moxide_storage::dmarc_evaluations::{
    DmarcEvalStore, STORED_ROWS_MAX, StoredDmarcDay, StoredDmarcPolicy, StoredDmarcRow,
};

use super::QueueRunner;
use super::report_mail::{Signer, next_daily_run_ms, random_hex};
use super::sign::DkimKeys;
use super::tls_policy::BoxedResolver;

/// Domain-days counted in memory between flushes: each is a few hundred bytes plus its
/// rows; 10,000 distinct sending domains in a minute is far beyond a small server's mail.
/// Evaluations of further domains are dropped until the next flush (counted, logged).
pub const DMARC_PENDING_DAYS_MAX: usize = 10_000;

/// How often the counts in memory are added to the store: once a minute bounds what a
/// crash loses to a minute of statistics, at one small LMDB transaction a minute.
pub const DMARC_FLUSH_INTERVAL_MS: i64 = 60_000;

/// Policy domains reported per run: each costs DNS lookups and a message or two.
/// Domains beyond it are reported by the next run while their days are kept.
pub const DMARC_REPORT_DOMAINS_MAX: usize = 1000;

/// Days evaluations are kept unreported (a server stopped for longer drops them):
/// reports are about recent mail, and a receiver wants them daily.
pub const DMARC_DAYS_KEPT: i64 = 3;

/// Most random delay after the UTC day ends before its reports go: one hour.
pub const DMARC_REPORT_DELAY_MS_MAX: i64 = 3_600_000;

const DAY_MS: i64 = 86_400_000;

/// One message's evaluation, as the SMTP session gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The domain whose record applied (lower case).
    pub policy_domain: String,
    /// The record.
    pub record: DmarcRecord,
    /// The report row the message counts in.
    pub row: Row,
}

#[derive(Debug, Default)]
struct Pending {
    days: HashMap<(String, i64), StoredDmarcDay>,
    dropped: u64,
}

/// The evaluations counted since the last flush; cheap to clone (clones share them).
#[derive(Debug, Clone, Default)]
pub struct DmarcEvaluations(Arc<Mutex<Pending>>);

impl DmarcEvaluations {
    /// Counts one message evaluated at `now_ms`.
    pub fn record(&self, evaluation: Evaluation, now_ms: i64) {
        let day = now_ms.div_euclid(DAY_MS);
        let policy = stored_policy(&evaluation.record);
        let row = stored_row(&evaluation.row);
        let Ok(mut pending) = self.0.lock() else { return };
        let key = (evaluation.policy_domain, day);
        if !pending.days.contains_key(&key) && pending.days.len() >= DMARC_PENDING_DAYS_MAX {
            pending.dropped += 1;
            return;
        }
        let entry = pending.days.entry(key).or_insert_with_key(|(domain, day)| StoredDmarcDay {
            domain: domain.clone(),
            day: *day,
            policy: StoredDmarcPolicy::default(),
            rows: Vec::new(),
            rows_dropped: 0,
        });
        entry.policy = policy;
        let full = entry.rows.len() >= STORED_ROWS_MAX;
        match entry.rows.iter_mut().find(|(r, _)| *r == row) {
            Some((_, count)) => *count += 1,
            None if full => entry.rows_dropped += 1,
            None => entry.rows.push((row, 1)),
        }
    }

    /// Adds what was counted to `store` and drops stored days older than
    /// [`DMARC_DAYS_KEPT`]. Blocking. A failure is logged and the counts are lost
    /// (reports are statistics; keeping them would make the memory bound soft).
    pub fn store_blocking(&self, store: &DmarcEvalStore, now_ms: i64) {
        let (days, dropped) = self.take();
        if dropped > 0 {
            tracing::warn!(dropped, "DMARC evaluations not counted: too many domains between flushes");
        }
        if days.is_empty() {
            return;
        }
        let oldest_day = now_ms.div_euclid(DAY_MS) - (DMARC_DAYS_KEPT - 1);
        let messages: u64 = days.iter().flat_map(|d| d.rows.iter().map(|(_, c)| c)).sum();
        let domains = days.len();
        match store.add(&days, oldest_day) {
            Ok(()) => tracing::debug!(domains, messages, "DMARC evaluations stored"),
            Err(error) => tracing::error!(%error, messages, "DMARC evaluations not stored"),
        }
    }

    /// Takes what was counted, and how many evaluations were dropped for lack of room.
    fn take(&self) -> (Vec<StoredDmarcDay>, u64) {
        let Ok(mut pending) = self.0.lock() else { return (Vec::new(), 0) };
        let taken = std::mem::take(&mut *pending);
        (taken.days.into_values().collect(), taken.dropped)
    }
}

fn policy_letters(policy: moxide_protocols::auth::dmarc::Policy) -> String {
    policy.as_str().to_owned()
}

fn alignment_letter(alignment: moxide_protocols::auth::dmarc::Alignment) -> String {
    match alignment {
        moxide_protocols::auth::dmarc::Alignment::Strict => "s".into(),
        moxide_protocols::auth::dmarc::Alignment::Relaxed => "r".into(),
    }
}

fn stored_policy(record: &DmarcRecord) -> StoredDmarcPolicy {
    StoredDmarcPolicy {
        adkim: alignment_letter(record.dkim_alignment),
        aspf: alignment_letter(record.spf_alignment),
        p: policy_letters(record.policy),
        sp: policy_letters(record.subdomain_policy),
        pct: record.percent,
        rua: record.aggregate_reports.iter().take(8).filter(|uri| uri.len() <= 510).cloned().collect(),
    }
}

/// Cuts `text` to the stored field size (255 bytes) on a character boundary.
fn field(text: &str) -> String {
    let mut end = text.len().min(255);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

fn stored_row(row: &Row) -> StoredDmarcRow {
    StoredDmarcRow {
        source_ip: field(&row.source_ip),
        disposition: field(&row.disposition),
        dkim_aligned: row.dkim_aligned,
        spf_aligned: row.spf_aligned,
        reasons: row.reasons.iter().take(8).map(|(a, b)| (field(a), field(b))).collect(),
        envelope_to: field(&row.envelope_to),
        header_from: field(&row.header_from),
        dkim: row
            .dkim
            .iter()
            .take(8)
            .map(|d| (field(&d.domain), field(&d.selector), field(&d.result)))
            .collect(),
        spf: (field(&row.spf.0), field(&row.spf.1), field(&row.spf.2)),
    }
}

fn report_row(row: &StoredDmarcRow) -> Row {
    Row {
        source_ip: row.source_ip.clone(),
        disposition: row.disposition.clone(),
        dkim_aligned: row.dkim_aligned,
        spf_aligned: row.spf_aligned,
        reasons: row.reasons.clone(),
        envelope_to: row.envelope_to.clone(),
        header_from: row.header_from.clone(),
        dkim: row
            .dkim
            .iter()
            .map(|(domain, selector, result)| DkimAuth {
                domain: domain.clone(),
                selector: selector.clone(),
                result: result.clone(),
            })
            .collect(),
        spf: row.spf.clone(),
    }
}

/// Who sends the reports, and how.
#[derive(Clone)]
pub struct DmarcReportSettings {
    /// `From:` of the report messages and `report_metadata/email`.
    pub from: String,
    /// Our domain: the file name's receiver, the DKIM `d=`.
    pub submitter: String,
    /// `report_metadata/org_name`.
    pub organization: String,
    /// Keys of the local domains (the submitter's sign the reports).
    pub dkim: Option<Arc<DkimKeys>>,
    /// The counts the SMTP sessions add to.
    pub evaluations: DmarcEvaluations,
    /// Where the counts are kept until reported.
    pub store: Arc<DmarcEvalStore>,
    /// Looks up the policy records and report authorizations.
    pub resolver: Rc<BoxedResolver>,
    /// Test hook: when this file appears, it is removed and the reports are sent at
    /// once, the current day included.
    pub trigger: Option<PathBuf>,
}

impl std::fmt::Debug for DmarcReportSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DmarcReportSettings").field("from", &self.from).finish_non_exhaustive()
    }
}

/// When the next daily run is due after `now_ms`.
pub(super) fn next_run_ms(now_ms: i64) -> i64 {
    next_daily_run_ms(now_ms, DMARC_REPORT_DELAY_MS_MAX)
}

/// The `v=DMARC1` record at `_dmarc.<domain>`: `Ok(Ok(record))` when there is exactly
/// one that parses, `Ok(Err(why))` when there is none to use, `Err` when the lookup failed
/// (the day is kept and reported by a later run).
async fn current_record(
    resolver: &BoxedResolver,
    domain: &str,
) -> Result<Result<DmarcRecord, String>, String> {
    let Ok(name) = DomainName::parse(&format!("_dmarc.{domain}")) else {
        return Ok(Err("not a domain name".into()));
    };
    let answer = match resolver.lookup(&Question::new(name, RecordType::Txt)).await {
        Ok(answer) => answer,
        // No such name and no TXT record are answers (empty), not errors.
        Err(ResolveError::InvalidName) => return Ok(Err("not a name to ask about".into())),
        Err(error) => return Err(error.to_string()),
    };
    let mut found = answer.records.iter().map(|r| r.txt_joined()).filter(|t| is_dmarc_record(t));
    Ok(match (found.next(), found.next()) {
        (Some(text), None) => DmarcRecord::parse(&text).map_err(|e| e.to_string()),
        (None, _) => Err("no DMARC record".into()),
        (Some(_), Some(_)) => Err("several DMARC records".into()),
    })
}

/// Whether `name` holds a `v=DMARC1` record: the report address's domain agrees to
/// receive reports about the policy domain (RFC 7489 §7.1).
async fn authorized(resolver: &BoxedResolver, name: &str) -> bool {
    let Ok(name) = DomainName::parse(name) else { return false };
    match resolver.lookup(&Question::new(name, RecordType::Txt)).await {
        Ok(answer) => answer.records.iter().any(|r| is_dmarc_record(&r.txt_joined())),
        Err(_) => false,
    }
}

impl QueueRunner {
    /// Adds the counts in memory to the store (on a helper thread).
    pub(super) async fn flush_dmarc_evaluations(&self, now_ms: i64) {
        let Some(settings) = &self.settings.dmarc_reports else { return };
        let (evaluations, store) = (settings.evaluations.clone(), Arc::clone(&settings.store));
        if let Err(panic) = moxide_runtime::offload(move || evaluations.store_blocking(&store, now_ms)).await
        {
            tracing::error!(panic = %panic.0, "DMARC evaluations not stored");
        }
    }

    /// Sends the reports of days before today (`include_today`: today's too, for the
    /// test hook); returns how many report messages were queued.
    pub async fn send_dmarc_reports(&self, now_ms: i64, include_today: bool) -> usize {
        let Some(settings) = &self.settings.dmarc_reports else { return 0 };
        self.flush_dmarc_evaluations(now_ms).await;
        let before = now_ms.div_euclid(DAY_MS) + i64::from(include_today);
        let store = Arc::clone(&settings.store);
        let days = match moxide_runtime::offload(move || store.days_before(before, DMARC_REPORT_DOMAINS_MAX))
            .await
        {
            Ok(Ok(days)) => days,
            Ok(Err(error)) => {
                tracing::error!(%error, "DMARC evaluations not read");
                return 0;
            }
            Err(panic) => {
                tracing::error!(panic = %panic.0, "DMARC evaluations not read");
                return 0;
            }
        };
        tracing::debug!(days = days.len(), "DMARC reports to send");
        let mut queued = 0;
        for day in days {
            match self.report_day(settings, &day, now_ms).await {
                Ok(count) => queued += count,
                // Kept: the next run (or restart) tries again while the day is kept.
                Err(error) => {
                    tracing::error!(domain = %day.domain, day = day.day, %error, "DMARC report not queued");
                    continue;
                }
            }
            let store = Arc::clone(&settings.store);
            let (domain, at) = (day.domain.clone(), day.day);
            match moxide_runtime::offload(move || store.remove(&domain, at)).await {
                Ok(Ok(_)) => {}
                Ok(Err(error)) => {
                    tracing::error!(domain = %day.domain, %error, "reported evaluations not removed")
                }
                Err(panic) => {
                    tracing::error!(domain = %day.domain, panic = %panic.0, "reported evaluations not removed")
                }
            }
        }
        queued
    }

    /// Queues `day`'s report to the addresses that may have it; how many messages.
    async fn report_day(
        &self,
        settings: &DmarcReportSettings,
        day: &StoredDmarcDay,
        now_ms: i64,
    ) -> Result<usize, String> {
        let domain = &day.domain;
        let record = match current_record(&settings.resolver, domain).await? {
            Ok(record) => record,
            Err(why) => {
                tracing::info!(%domain, day = day.day, %why, "no DMARC report sent: no usable record now");
                return Ok(0);
            }
        };
        let Ok(policy_domain) = DomainName::parse(domain) else { return Ok(0) };
        let mut addresses = Vec::new();
        for rua in parse_rua(&record.aggregate_reports) {
            let Ok(rua_domain) = DomainName::parse(&rua.domain) else { continue };
            if let Some(name) = authorization_name(&policy_domain, &rua_domain)
                && !authorized(&settings.resolver, &name).await
            {
                tracing::info!(%domain, to = %rua.address, "DMARC report address not authorized (RFC 7489 §7.1)");
                continue;
            }
            addresses.push(rua);
        }
        if addresses.is_empty() {
            return Ok(0);
        }
        let report = Report {
            org_name: settings.organization.clone(),
            email: settings.from.clone(),
            report_id: random_hex(10),
            day: day.day,
            policy: PublishedPolicy {
                domain: domain.clone(),
                adkim: day.policy.adkim.clone(),
                aspf: day.policy.aspf.clone(),
                p: day.policy.p.clone(),
                sp: day.policy.sp.clone(),
                pct: day.policy.pct,
            },
            rows: day.rows.iter().map(|(row, count)| (report_row(row), *count)).collect(),
        };
        let (_, gzip, file_name) = dmarcrpt::compose(&report, &settings.submitter);
        let mut messages = Vec::new();
        for rua in addresses {
            let message_id = format!("{}@{}", random_hex(12), self.settings.hostname);
            let boundary = format!("dmarc-{}", random_hex(12));
            let bytes = dmarcrpt::compose_message(&ReportMessage {
                from: &settings.from,
                to: &rua.address,
                policy_domain: domain,
                submitter: &settings.submitter,
                report_id: &report.report_id,
                date: &rfc5322_date(now_ms.div_euclid(1000)),
                message_id: &message_id,
                boundary: &boundary,
                file_name: &file_name,
                gzip: &gzip,
            });
            if rua.size_max.is_some_and(|max| bytes.len() as u64 > max) {
                tracing::info!(%domain, to = %rua.address, size = bytes.len(), "DMARC report larger than the address takes; not sent");
                continue;
            }
            messages.push((rua.address, bytes));
        }
        let signer = Signer { domain: &settings.submitter, keys: settings.dkim.as_ref() };
        let count = self.queue_report_messages("dmarc", false, signer, messages, now_ms).await?;
        tracing::info!(%domain, day = day.day, messages = count, "DMARC report queued");
        Ok(count)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn evaluation(domain: &str, ip: &str) -> Evaluation {
        Evaluation {
            policy_domain: domain.into(),
            record: DmarcRecord::parse(b"v=DMARC1; p=quarantine; rua=mailto:r@example.com").unwrap(),
            row: Row {
                source_ip: ip.into(),
                disposition: "none".into(),
                dkim_aligned: true,
                spf_aligned: true,
                reasons: Vec::new(),
                envelope_to: "example.net".into(),
                header_from: domain.into(),
                dkim: Vec::new(),
                spf: (domain.into(), "mfrom".into(), "pass".into()),
            },
        }
    }

    #[test]
    fn equal_rows_are_counted_together_per_domain_and_day() {
        let evaluations = DmarcEvaluations::default();
        let day = 20_000 * DAY_MS;
        evaluations.record(evaluation("example.com", "192.0.2.1"), day + 1);
        evaluations.record(evaluation("example.com", "192.0.2.1"), day + 2);
        evaluations.record(evaluation("example.com", "192.0.2.2"), day + 3);
        evaluations.record(evaluation("example.com", "192.0.2.1"), day + DAY_MS);
        evaluations.record(evaluation("example.org", "192.0.2.1"), day + 5);
        let (mut days, dropped) = evaluations.take();
        days.sort_by(|a, b| (a.day, &a.domain).cmp(&(b.day, &b.domain)));
        assert_eq!(dropped, 0);
        assert_eq!(days.len(), 3);
        assert_eq!(days[0].rows.iter().map(|(_, c)| *c).collect::<Vec<_>>(), vec![2, 1]);
        assert_eq!(days[0].policy.p, "quarantine");
        assert_eq!(days[0].policy.rua, vec!["mailto:r@example.com".to_owned()]);
        assert!(evaluations.take().0.is_empty(), "taken once");
    }

    #[test]
    fn domains_beyond_the_bound_are_dropped_and_counted() {
        let evaluations = DmarcEvaluations::default();
        for i in 0..DMARC_PENDING_DAYS_MAX + 3 {
            evaluations.record(evaluation(&format!("d{i}.example"), "192.0.2.1"), 0);
        }
        let (days, dropped) = evaluations.take();
        assert_eq!((days.len(), dropped), (DMARC_PENDING_DAYS_MAX, 3));
        assert_eq!(field(&"é".repeat(200)).len(), 254);
    }
}
