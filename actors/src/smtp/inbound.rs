//! Authentication of incoming mail at delivery (issue 13): the message's bytes go through
//! `moxide_protocols::auth::intake::Intake` as they reach the spool (header block kept,
//! body hashed, never read again); at the end of DATA the checks run against this core's
//! DNS cache, and the outcome decides:
//!
//! - the header fields stored before the message (Authentication-Results with our host
//!   name as authserv-id, Received-SPF), in the record's prefix like Received;
//! - Authentication-Results fields already in the message that claim our authserv-id are
//!   removed (RFC 8601 §5), by writing the spool file again without them;
//! - DMARC `p=reject` failures get `550 5.7.1` (RFC 7489 §6.6.4), unless a recipient's
//!   domain is configured to accept and mark them (`dmarc_reject = "mark"`): then, as for
//!   `p=quarantine`, the message goes to each account's Junk mailbox with its
//!   Authentication-Results saying `dmarc=fail`.
//!
//! Only the SMTP listener checks (submission is authenticated). Without a DNS client
//! (localserve with no resolver configured) no lookup is made and the header says `none`.

use std::ops::Range;
use std::path::{Path, PathBuf};

use moxide_protocols::auth::Verdict;
use moxide_protocols::auth::dmarc::{DmarcResult, Policy};
use moxide_protocols::auth::intake::Collected;
use moxide_protocols::auth::results::authserv_id;
use moxide_protocols::auth::spf::Identity;
use moxide_protocols::auth::{Transaction, check};
use moxide_protocols::dmarcrpt::{DkimAuth, ROW_DKIM_RESULTS_MAX, Row};
use moxide_protocols::reports::{self, ReportKind};
use moxide_protocols::smtp::{EnhancedCode, ForwardPath, Reply, ReversePath};
use moxide_storage::ReportStore;

use super::delivery::Envelope;
use crate::directory::Directory;
use crate::dns::Dns;
use crate::queue::dmarc_reports::{DmarcEvaluations, Evaluation};

/// Longest time the checks of one message may take at the end of DATA. Each lookup is
/// bounded by the resolver's tries and timeouts, but SPF alone may make 10 lookups in a
/// row; past 30 s the client gets `451 4.4.3` and retries later (RFC 5321 §4.5.3.2.6 has
/// it wait 10 minutes for this reply, so 30 s is well inside). A temporary refusal rather
/// than delivering unchecked: a sender who controls slow DNS must not skip DMARC that way.
pub const CHECKS_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// What the SMTP listener needs to check incoming mail.
#[derive(Clone)]
pub struct InboundAuth {
    /// This core's DNS client; `None`: no lookups at all, results `none`.
    pub dns: Option<Dns>,
    /// Where the reports in mail to a domain's report addresses (the directory's
    /// `is_report_address`) are kept once parsed.
    pub reports: Option<ReportStore>,
    /// Where DMARC evaluations are counted for aggregate reports; `None`: not counted.
    pub evaluations: Option<DmarcEvaluations>,
}

/// Whether a delivered message went to a report address: the store to keep its reports.
pub(crate) fn report_store<'a>(
    inbound: &'a InboundAuth,
    directory: &Directory,
    envelope: &Envelope,
) -> Option<&'a ReportStore> {
    let store = inbound.reports.as_ref()?;
    let to_reports = envelope.recipients.iter().any(|recipient| match &recipient.path {
        ForwardPath::Mailbox(mailbox) => {
            directory.is_report_address(&mailbox.localpart, &mailbox.domain.to_string())
        }
        ForwardPath::Postmaster => false,
    });
    to_reports.then_some(store)
}

/// Parses the reports in a delivered message (RFC 7489 §7.2, RFC 8460 §4) and keeps the
/// valid ones; on a helper thread, before the spool file is removed. Problems are logged:
/// the message itself was delivered.
pub(crate) async fn store_reports(store: ReportStore, spool: PathBuf) {
    let outcome = moxide_runtime::offload(move || -> Result<Vec<String>, String> {
        let bytes = std::fs::read(&spool).map_err(|e| e.to_string())?;
        let documents = reports::extract(&bytes).map_err(|e| e.to_string())?;
        let mut stored = Vec::new();
        for document in documents {
            let (kind, name) = match document.kind {
                ReportKind::Dmarc => {
                    let report = reports::dmarc::parse(&document.bytes).map_err(|e| e.to_string())?;
                    let name = format!(
                        "{}!{}!{}!{}!{}.xml",
                        report.org_name, report.domain, report.begin, report.end, report.report_id
                    );
                    ("dmarc", name)
                }
                ReportKind::TlsRpt => {
                    let report = reports::tlsrpt::parse(&document.bytes).map_err(|e| e.to_string())?;
                    ("tlsrpt", format!("{}!{}!{}.json", report.organization, report.start, report.report_id))
                }
            };
            if store.put(kind, &name, &document.bytes).map_err(|e| e.to_string())? {
                stored.push(format!("{kind}/{name}"));
            }
        }
        Ok(stored)
    })
    .await;
    match outcome {
        Ok(Ok(stored)) => tracing::info!(reports = ?stored, "stored reports"),
        Ok(Err(error)) => tracing::info!(%error, "message to a report address holds no usable report"),
        Err(panic) => tracing::error!(%panic, "report parsing panicked"),
    }
}

/// What the checks decided for one message.
#[derive(Debug, Default)]
pub(crate) struct Decision {
    /// Header fields to store before the message (each ends in CRLF).
    pub prefix: String,
    /// Refuse the message with this reply.
    pub refuse: Option<Reply>,
    /// Deliver to the accounts' Junk mailboxes.
    pub junk: bool,
    /// Byte ranges of the spool file (header fields) to leave out.
    pub strip: Vec<Range<u64>>,
}

/// Runs the checks for a message and decides.
pub(crate) async fn decide(
    inbound: &InboundAuth,
    directory: &Directory,
    hostname: &str,
    envelope: &Envelope,
    collected: &Collected,
) -> Decision {
    let strip = own_results_fields(collected, hostname);
    let Some(dns) = &inbound.dns else {
        return Decision {
            prefix: format!("Authentication-Results: {hostname}; none\r\n"),
            strip,
            ..Decision::default()
        };
    };
    let helo = envelope.helo.as_deref().unwrap_or("");
    let sender = match envelope.mail_from.as_ref().map(|m| &m.path) {
        Some(ReversePath::Mailbox(mailbox)) => Some((mailbox.localpart.clone(), mailbox.domain.to_string())),
        _ => None,
    };
    let mut draw = [0u8; 1];
    moxide_runtime::random::fill(&mut draw);
    let transaction = Transaction {
        ip: envelope.peer.ip(),
        helo,
        mail_from: sender.as_ref().map(|(local, domain)| (local.as_str(), domain.as_str())),
        receiver: hostname,
        now_secs: u64::try_from(crate::clock::now_unix_ms() / 1000).unwrap_or(0),
        pct_draw: draw[0] % 100,
    };
    let verdict = check(dns, &transaction, collected).await;
    let prefix = verdict.header_fields(&transaction);
    let disposition = verdict.dmarc_disposition();
    tracing::debug!(
        peer = %envelope.peer,
        spf = verdict.spf.outcome.result.as_str(),
        dmarc = verdict.dmarc.result.as_str(),
        disposition = disposition.as_str(),
        "message authentication"
    );
    let marked = || {
        envelope
            .recipients
            .iter()
            .any(|r| domain_of(&r.path).is_some_and(|d| directory.marks_dmarc_rejects(&d)))
    };
    let decision = match disposition {
        Policy::Reject if !marked() => {
            Decision { prefix, refuse: Some(dmarc_refusal(&verdict.dmarc)), junk: false, strip }
        }
        Policy::Reject | Policy::Quarantine => Decision { prefix, refuse: None, junk: true, strip },
        Policy::None => Decision { prefix, refuse: None, junk: false, strip },
    };
    if let Some(evaluations) = &inbound.evaluations
        && let Some(evaluation) = evaluation(&verdict, envelope, &decision)
    {
        evaluations.record(evaluation, crate::clock::now_unix_ms());
    }
    decision
}

/// The report row of a message evaluated under a record that asks for aggregate
/// reports (RFC 7489 §7.2); `None` when there is no such record or DMARC could not be
/// evaluated (temperror, permerror).
fn evaluation(verdict: &Verdict, envelope: &Envelope, decision: &Decision) -> Option<Evaluation> {
    let dmarc = &verdict.dmarc;
    let record = dmarc.record.as_ref().filter(|r| !r.aggregate_reports.is_empty())?;
    if !matches!(dmarc.result, DmarcResult::Pass | DmarcResult::Fail) {
        return None;
    }
    let policy_domain = dmarc.policy_domain.as_ref()?.as_str().to_owned();
    let header_from = dmarc.from_domain.as_ref()?.as_str().to_owned();
    let disposition = match (decision.refuse.is_some(), decision.junk) {
        (true, _) => Policy::Reject,
        (false, true) => Policy::Quarantine,
        (false, false) => Policy::None,
    };
    let mut reasons = Vec::new();
    if dmarc.requested.is_some_and(|requested| requested != dmarc.disposition) {
        reasons.push(("sampled_out".to_owned(), String::new()));
    }
    if dmarc.disposition == Policy::Reject && disposition == Policy::Quarantine {
        reasons.push(("local_policy".to_owned(), "delivered to Junk instead of rejected".to_owned()));
    }
    let envelope_to = envelope.recipients.first().and_then(|r| domain_of(&r.path)).unwrap_or_default();
    let spf = &verdict.spf;
    let scope = match spf.identity {
        Identity::Helo => "helo",
        Identity::MailFrom => "mfrom",
    };
    let dkim = verdict
        .dkim
        .iter()
        .filter_map(|result| {
            Some(DkimAuth {
                domain: result.domain.as_ref()?.as_str().to_owned(),
                selector: result.selector.clone().unwrap_or_default(),
                result: result.status.as_str().to_owned(),
            })
        })
        .take(ROW_DKIM_RESULTS_MAX)
        .collect();
    let row = Row {
        source_ip: envelope.peer.ip().to_canonical().to_string(),
        disposition: disposition.as_str().to_owned(),
        dkim_aligned: dmarc.dkim_aligned,
        spf_aligned: dmarc.spf_aligned,
        reasons,
        envelope_to,
        header_from,
        dkim,
        spf: (spf.domain.clone(), scope.to_owned(), spf.outcome.result.as_str().to_owned()),
    };
    Some(Evaluation { policy_domain, record: record.clone(), row })
}

fn domain_of(path: &ForwardPath) -> Option<String> {
    match path {
        ForwardPath::Mailbox(mailbox) => Some(mailbox.domain.to_string().to_ascii_lowercase()),
        ForwardPath::Postmaster => None,
    }
}

/// `550 5.7.1` naming the domain whose policy refused the message (RFC 7489 §7.2 leaves
/// the reply to the receiver; 5.7.1 is "delivery not authorized", RFC 3463).
fn dmarc_refusal(dmarc: &moxide_protocols::auth::dmarc::DmarcOutcome) -> Reply {
    let domain = dmarc.from_domain.as_ref().map_or("the From domain", |d| d.as_str());
    Reply::new(550, Some(EnhancedCode(5, 7, 1)), format!("message refused by the DMARC policy of {domain}"))
}

/// Authentication-Results fields of the message whose authserv-id is ours (RFC 8601 §5:
/// they must not be believed, and our users' clients would).
fn own_results_fields(collected: &Collected, hostname: &str) -> Vec<Range<u64>> {
    let headers = &collected.headers;
    headers
        .named("Authentication-Results")
        .filter(|field| authserv_id(headers.value(field)).is_some_and(|id| id.eq_ignore_ascii_case(hostname)))
        .map(|field| {
            let range = headers.range(field);
            range.start as u64..range.end as u64
        })
        .collect()
}

/// What the session does with a checked message.
pub(crate) enum Screened {
    /// Refuse it with this reply (the spool file is still there; the caller removes it).
    Refuse(Reply),
    /// Deliver it with these additions.
    Deliver {
        /// Header fields to store before the message, and whether it goes to Junk.
        annotations: super::delivery::Annotations,
        /// The spool file was written again without our-authserv-id fields: its path and
        /// size (the streaming MIME summary no longer matches its offsets).
        rewritten: Option<(PathBuf, u64)>,
    },
}

/// Runs the checks on a finished (synced) spool file and decides.
pub(crate) async fn screen(
    inbound: &InboundAuth,
    directory: &Directory,
    hostname: &str,
    envelope: &Envelope,
    collected: &Collected,
    spool: &Path,
) -> std::io::Result<Screened> {
    let Ok(decision) = moxide_runtime::time::timeout(
        CHECKS_TIMEOUT,
        decide(inbound, directory, hostname, envelope, collected),
    )
    .await
    else {
        tracing::warn!(peer = %envelope.peer, "message authentication timed out");
        let reply =
            Reply::new(451, Some(EnhancedCode(4, 4, 3)), "message authentication timed out, try again later");
        return Ok(Screened::Refuse(reply));
    };
    if let Some(reply) = decision.refuse {
        return Ok(Screened::Refuse(reply));
    }
    let rewritten =
        if decision.strip.is_empty() { None } else { Some(rewrite_without(spool, decision.strip).await?) };
    let annotations = super::delivery::Annotations { prefix: decision.prefix, junk: decision.junk };
    Ok(Screened::Deliver { annotations, rewritten })
}

/// Writes `spool` again, without the byte ranges `strip` (sorted, in the header block),
/// next to it as `<name>-auth`, synced; removes the original. On a helper thread.
pub(crate) async fn rewrite_without(spool: &Path, strip: Vec<Range<u64>>) -> std::io::Result<(PathBuf, u64)> {
    let original = spool.to_path_buf();
    let mut rewritten = spool.as_os_str().to_owned();
    rewritten.push("-auth");
    let rewritten = PathBuf::from(rewritten);
    moxide_runtime::offload(move || copy_without(&original, &rewritten, &strip).map(|size| (rewritten, size)))
        .await
        .map_err(|panic| std::io::Error::other(panic.to_string()))?
}

fn copy_without(from: &Path, to: &Path, strip: &[Range<u64>]) -> std::io::Result<u64> {
    use std::io::{Read, Seek, SeekFrom, Write};
    let mut source = std::fs::File::open(from)?;
    let mut target = std::fs::OpenOptions::new().write(true).create_new(true).open(to)?;
    let mut position = 0u64;
    let mut written = 0u64;
    for range in strip {
        let keep = range.start.saturating_sub(position);
        written += std::io::copy(&mut (&mut source).take(keep), &mut target)?;
        source.seek(SeekFrom::Start(range.end))?;
        position = range.end;
    }
    written += std::io::copy(&mut source, &mut target)?;
    target.flush()?;
    target.sync_data()?;
    drop(target);
    std::fs::remove_file(from)?;
    Ok(written)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use moxide_protocols::auth::intake::Intake;

    #[test]
    fn our_results_fields_are_found_and_cut() {
        let message = b"Authentication-Results: mx.example.org; dkim=pass\r\nFrom: a@b.example\r\n\
            Authentication-Results: other.example; spf=pass\r\nAuthentication-Results: (c) MX.example.ORG;\r\n\
            \tdmarc=pass\r\nSubject: x\r\n\r\nbody\r\n";
        let mut intake = Intake::new();
        intake.update(message);
        let ranges = own_results_fields(&intake.finish(), "mx.example.org");
        assert_eq!(ranges.len(), 2);
        let dir = tempfile::tempdir().unwrap();
        let spool = dir.path().join("spool");
        std::fs::write(&spool, message).unwrap();
        let target = dir.path().join("out");
        let size = copy_without(&spool, &target, &ranges).unwrap();
        let kept = std::fs::read(&target).unwrap();
        assert_eq!(kept.len() as u64, size);
        assert_eq!(
            kept,
            b"From: a@b.example\r\nAuthentication-Results: other.example; spf=pass\r\nSubject: x\r\n\r\nbody\r\n"
        );
        assert!(!spool.exists());
    }
}
