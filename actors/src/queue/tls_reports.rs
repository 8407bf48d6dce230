//! Sending the daily SMTP TLS reports (RFC 8460 §3, §4, §5): for each policy domain with
//! results of a day that has ended, the domain's `_smtp._tls` record names where reports
//! go (`rua`); the report (`moxide_protocols::tlsrpt::compose`, the §4.4 JSON, gzip'ed)
//! travels in a message of its own per `mailto:` address (§5.3, `compose_message`),
//! DKIM-signed by our reporting domain (§5.3 requires a valid signature), queued from
//! the null reverse path like a DSN; to each `https:` URI it is POSTed (§5.3.2,
//! `application/tlsrpt+gzip`, the server's certificate verified with WebPKI), one after
//! the other by a task of the run's own so a slow report server does not hold up the
//! queue; a failed POST is logged, not repeated (§5.3.2 leaves retries to the sender).
//!
//! When: [`QueueRunner::run`] sends at startup the days not reported yet that are
//! still kept (yesterday's; results are kept two days), then once a day after the UTC
//! day ends, plus a random delay of up to [`TLS_REPORT_DELAY_MS_MAX`] so that not every
//! sender's reports arrive at midnight. A test hook (`TlsReportSettings::trigger`, a
//! file whose appearance runs the job at once, today included) lets tests send now.
//!
//! Exactly once, as far as the two stores allow: a domain's day is removed from the
//! results store right after its report messages are durable in the queue; a crash in
//! between sends that report again after the restart (at least once, never lost).
//!
//! Bounded: at most [`TLS_REPORT_DOMAINS_MAX`] domains per run and
//! [`TLS_REPORT_RECIPIENTS_MAX`] `mailto:` addresses and as many `https:` URIs per domain.

use std::path::PathBuf;
use std::sync::Arc;

use moxide_protocols::mtasts::http::{HttpsUrl, parse_https_url};
use moxide_protocols::smtp::rfc5322_date;
use moxide_protocols::tlsrpt::{PolicyResults, Report, ReportMessage, ReportUri, compose, compose_message};

use super::QueueRunner;
use super::report_mail::{Signer, next_daily_run_ms, random_hex};
use super::sign::DkimKeys;
use super::tls_policy::{DayResults, PolicyType};

/// Policy domains reported per run (one run a day): each is a DNS lookup and a message
/// or a few; 1000 is far beyond the domains a small server sends to under a policy in a
/// day, and keeps one run to minutes. Domains beyond it are reported by the next run
/// while their results are kept, else not at all (logged).
pub const TLS_REPORT_DOMAINS_MAX: usize = 1000;

/// `mailto:` addresses, and `https:` URIs, a domain's report is sent to: RFC 8460 §3
/// allows several; a record naming more than two of a kind is unusual, and each costs
/// a message or a connection.
pub const TLS_REPORT_RECIPIENTS_MAX: usize = 2;

/// Most random delay after the UTC day ends before its reports go: one hour, so that
/// report receivers do not get every sender's reports at 00:00.
pub const TLS_REPORT_DELAY_MS_MAX: i64 = 3_600_000;

const DAY_MS: i64 = 86_400_000;

/// Who sends the reports, and how.
#[derive(Debug, Clone)]
pub struct TlsReportSettings {
    /// `From:` of the report messages (the postmaster or a configured address).
    pub from: String,
    /// Our domain: `TLS-Report-Submitter`, the file name's sender, the DKIM `d=`.
    pub submitter: String,
    /// `organization-name` of the reports.
    pub organization: String,
    /// `contact-info` of the reports.
    pub contact: String,
    /// Keys of the local domains (the submitter's sign the reports).
    pub dkim: Option<Arc<DkimKeys>>,
    /// Test hook: when this file appears, it is removed and the reports are sent at
    /// once, the current day included.
    pub trigger: Option<PathBuf>,
}

/// When the next daily run is due after `now_ms`: the end of the day plus a random
/// delay of up to [`TLS_REPORT_DELAY_MS_MAX`].
pub(super) fn next_run_ms(now_ms: i64) -> i64 {
    next_daily_run_ms(now_ms, TLS_REPORT_DELAY_MS_MAX)
}

/// The report's policies: the failures by policy type, and the successes under the
/// domain's MTA-STS policy when it has one cached, else under DANE (the only sessions
/// counted are under one of the two).
fn policies_of(domain: &str, results: &DayResults, sts_strings: Option<Vec<String>>) -> Vec<PolicyResults> {
    let main = if sts_strings.is_some() { PolicyType::Sts } else { PolicyType::Tlsa };
    let mut kinds = vec![main];
    for ((kind, _, _), _) in &results.failures {
        if !kinds.contains(kind) {
            kinds.push(*kind);
        }
    }
    kinds
        .into_iter()
        .map(|kind| PolicyResults {
            policy_type: match kind {
                PolicyType::Tlsa => "tlsa",
                PolicyType::Sts => "sts",
                PolicyType::NoPolicyFound => "no-policy-found",
            },
            policy_domain: domain.to_owned(),
            policy_strings: if kind == PolicyType::Sts {
                sts_strings.clone().unwrap_or_default()
            } else {
                Vec::new()
            },
            successes: if kind == main { results.successes } else { 0 },
            failures: results
                .failures
                .iter()
                .filter(|((k, _, _), _)| *k == kind)
                .map(|((_, result, host), count)| (result.as_str().to_owned(), host.clone(), *count))
                .collect(),
        })
        .collect()
}

impl QueueRunner {
    /// Sends the reports of days before today (`include_today`: today's too, for the
    /// test hook); returns how many report messages were queued.
    pub async fn send_tls_reports(&self, now_ms: i64, include_today: bool) -> usize {
        let (Some(settings), Some(policies)) = (&self.settings.tls_reports, &self.settings.policies) else {
            return 0;
        };
        let today = now_ms.div_euclid(DAY_MS);
        let before = if include_today { today + 1 } else { today };
        let mut queued = 0;
        // The POSTs of this run, made one after the other by one task of their own.
        let mut posts = Vec::new();
        for (domain, day, results) in policies.results_before(before, TLS_REPORT_DOMAINS_MAX) {
            let (addresses, urls) = match policies.report_uris(&domain).await {
                Ok(uris) => report_destinations(&domain, uris),
                Err(error) => {
                    tracing::info!(%domain, day, %error, "no TLS report sent: no usable TLSRPT record");
                    (Vec::new(), Vec::new())
                }
            };
            let report = Report {
                organization: settings.organization.clone(),
                contact: settings.contact.clone(),
                report_id: random_hex(10),
                day,
                policies: policies_of(&domain, &results, policies.sts_policy_strings(&domain)),
            };
            if !urls.is_empty() {
                let (_, gzip, _) = compose(&report, &settings.submitter);
                posts.push((domain.clone(), day, urls, gzip));
            }
            if !addresses.is_empty() {
                match self.queue_report(settings, &report, &domain, &addresses, now_ms).await {
                    Ok(count) => {
                        tracing::info!(%domain, day, to = ?addresses, "TLS report queued");
                        queued += count;
                    }
                    Err(error) => {
                        // Kept: the next run (or restart) tries again while the day is kept.
                        tracing::error!(%domain, day, %error, "TLS report not queued");
                        continue;
                    }
                }
            }
            policies.forget_results(&domain, day).await;
        }
        if !posts.is_empty() {
            let policies = policies.clone();
            moxide_runtime::spawn_detached(async move {
                for (domain, day, urls, gzip) in posts {
                    for url in urls {
                        match policies.post_report(&url, &gzip).await {
                            Ok(status) => {
                                tracing::info!(%domain, day, host = %url.host, status, "TLS report posted")
                            }
                            Err(error) => tracing::warn!(%domain, day, %error, "TLS report post failed"),
                        }
                    }
                }
            });
        }
        queued
    }

    /// Composes, signs and queues `report` to each of `addresses` in one transaction.
    async fn queue_report(
        &self,
        settings: &TlsReportSettings,
        report: &Report,
        domain: &str,
        addresses: &[String],
        now_ms: i64,
    ) -> Result<usize, String> {
        let (_, gzip, file_name) = compose(report, &settings.submitter);
        let messages = addresses
            .iter()
            .map(|address| {
                let message_id = format!("{}@{}", random_hex(12), self.settings.hostname);
                let boundary = format!("tlsrpt-{}", random_hex(12));
                let bytes = compose_message(&ReportMessage {
                    from: &settings.from,
                    to: address,
                    policy_domain: domain,
                    submitter: &settings.submitter,
                    report_id: &report.report_id,
                    date: &rfc5322_date(now_ms.div_euclid(1000)),
                    message_id: &message_id,
                    boundary: &boundary,
                    file_name: &file_name,
                    gzip: &gzip,
                });
                (address.clone(), bytes)
            })
            .collect();
        let signer = Signer { domain: &settings.submitter, keys: settings.dkim.as_ref() };
        self.queue_report_messages("tlsrpt", true, signer, messages, now_ms).await
    }
}

/// The `mailto:` addresses and the `https:` URLs among `uris`, at most
/// [`TLS_REPORT_RECIPIENTS_MAX`] of each.
fn report_destinations(domain: &str, uris: Vec<ReportUri>) -> (Vec<String>, Vec<HttpsUrl>) {
    let mut addresses = Vec::new();
    let mut urls = Vec::new();
    for uri in uris {
        match uri {
            ReportUri::Mailto(address) if addresses.len() < TLS_REPORT_RECIPIENTS_MAX => {
                // RFC 8460 §3 allows `mailto:` with URI escapes and `?` fields; we take
                // the plain address.
                let plain = address.split('?').next().unwrap_or_default().to_owned();
                if !plain.is_empty()
                    && !plain.bytes().any(|b| b.is_ascii_control() || b == b' ' || b == b'<' || b == b'>')
                {
                    addresses.push(plain);
                }
            }
            ReportUri::Mailto(_) => {}
            ReportUri::Https(url) if urls.len() < TLS_REPORT_RECIPIENTS_MAX => match parse_https_url(&url) {
                Some(parsed) => urls.push(parsed),
                None => tracing::info!(%domain, %url, "unusable https: TLS report URI; skipped"),
            },
            ReportUri::Https(_) => {}
        }
    }
    (addresses, urls)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::super::tls_policy::ResultType;
    use super::*;

    #[test]
    fn successes_go_under_the_domains_policy_and_failures_under_theirs() {
        let results = DayResults {
            successes: 3,
            failures: vec![((PolicyType::Tlsa, ResultType::TlsaInvalid, "mx.example.com".into()), 2)],
        };
        let sts = Some(vec!["version: STSv1".to_owned(), "mode: testing".to_owned()]);
        let policies = policies_of("example.com", &results, sts);
        assert_eq!(policies.len(), 2);
        assert_eq!((policies[0].policy_type, policies[0].successes), ("sts", 3));
        assert!(policies[0].failures.is_empty());
        assert_eq!(policies[1].policy_type, "tlsa");
        assert_eq!(policies[1].failures, vec![("tlsa-invalid".to_owned(), "mx.example.com".to_owned(), 2)]);
        let only_dane = policies_of("example.com", &DayResults { successes: 1, failures: Vec::new() }, None);
        assert_eq!(only_dane.len(), 1);
        assert_eq!((only_dane[0].policy_type, only_dane[0].successes), ("tlsa", 1));
    }

    #[test]
    fn plain_mailto_addresses_and_https_urls_up_to_the_limit() {
        let uris = vec![
            ReportUri::Https("https://r.example/".into()),
            ReportUri::Https("https://127.0.0.1/".into()),
            ReportUri::Mailto("a@r.example?subject=x".into()),
            ReportUri::Mailto("bad <x>@r.example".into()),
            ReportUri::Mailto("b@r.example".into()),
            ReportUri::Https("https://s.example:8443/in".into()),
            ReportUri::Https("https://t.example/".into()),
            ReportUri::Mailto("c@r.example".into()),
        ];
        let (addresses, urls) = report_destinations("r.example", uris);
        assert_eq!(addresses, vec!["a@r.example", "b@r.example"]);
        let hosts: Vec<(&str, u16)> = urls.iter().map(|u| (u.host.as_str(), u.port)).collect();
        assert_eq!(hosts, [("r.example", 443), ("s.example", 8443)]);
        let day = 20_000 * DAY_MS;
        let next = next_run_ms(day + 5);
        assert!(next >= day + DAY_MS && next <= day + DAY_MS + TLS_REPORT_DELAY_MS_MAX);
    }
}
