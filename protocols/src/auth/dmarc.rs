//! DMARC (RFC 7489): the author domain from the From header, policy discovery at the
//! domain and then its organizational domain (Public Suffix List, compiled in by the
//! `psl` crate), identifier alignment of SPF and DKIM results, and the disposition with
//! `p`/`sp` and `pct` sampling. The caller supplies the random draw for `pct`.

use mail_parser::HeaderValue;
use mail_parser::parsers::MessageStream;

use crate::dns::{DomainName, Question, RecordType, ResolveError, Resolver};

use super::dkim::{DkimResult, DkimStatus};
use super::header::HeaderBlock;
use super::spf::{SpfResult, SpfVerdict};
use super::tags;

/// Longest DMARC record parsed, in octets: real records are under 300; one TXT record
/// cannot exceed a DNS message anyway. 4 KiB bounds the parse.
pub const RECORD_BYTES_MAX: usize = 4096;

/// Most report addresses kept from `rua=` or `ruf=`: RFC 7489 §6.2 lets a record list
/// several; 10 is plenty and bounds what a record makes us store.
pub const REPORT_ADDRESSES_MAX: usize = 10;

/// A requested policy (RFC 7489 §6.3 `p`, `sp`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Monitor only.
    None,
    /// Treat failing mail as suspicious (deliver to Junk).
    Quarantine,
    /// Refuse failing mail.
    Reject,
}

impl Policy {
    fn parse(value: &str) -> Option<Policy> {
        match value.trim().to_ascii_lowercase().as_str() {
            "none" => Some(Policy::None),
            "quarantine" => Some(Policy::Quarantine),
            "reject" => Some(Policy::Reject),
            _ => None,
        }
    }

    /// The keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::None => "none",
            Policy::Quarantine => "quarantine",
            Policy::Reject => "reject",
        }
    }

    /// RFC 7489 §6.6.4: mail sampled out by `pct` gets the next weaker policy.
    fn weaker(self) -> Policy {
        match self {
            Policy::Reject => Policy::Quarantine,
            Policy::Quarantine | Policy::None => Policy::None,
        }
    }
}

/// Relaxed or strict identifier alignment (RFC 7489 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alignment {
    /// Same organizational domain.
    Relaxed,
    /// Same domain.
    Strict,
}

/// A DMARC record (RFC 7489 §6.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmarcRecord {
    /// `p=`.
    pub policy: Policy,
    /// `sp=` (defaults to `p`).
    pub subdomain_policy: Policy,
    /// `adkim=`.
    pub dkim_alignment: Alignment,
    /// `aspf=`.
    pub spf_alignment: Alignment,
    /// `pct=` (0–100).
    pub percent: u8,
    /// `rua=` URIs.
    pub aggregate_reports: Vec<String>,
    /// `ruf=` URIs.
    pub failure_reports: Vec<String>,
}

/// Why text is not a usable DMARC record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// Does not start with `v=DMARC1`.
    #[error("not a DMARC record")]
    NotDmarc,
    /// Tag syntax or a required tag is broken.
    #[error("invalid DMARC record: {0}")]
    Invalid(&'static str),
}

/// Whether TXT text is a DMARC record (RFC 7489 §6.6.3: starts with `v=DMARC1`).
pub fn is_dmarc_record(text: &[u8]) -> bool {
    let Some(rest) = text.strip_prefix(b"v=DMARC1") else { return false };
    rest.first().is_none_or(|&b| b == b';' || b == b' ' || b == b'\t')
}

impl DmarcRecord {
    /// Parses a record. A missing or invalid `p=` with a valid `rua=` counts as `p=none`
    /// (RFC 7489 §6.6.3 step 6).
    pub fn parse(text: &[u8]) -> Result<DmarcRecord, RecordError> {
        if !is_dmarc_record(text) {
            return Err(RecordError::NotDmarc);
        }
        if text.len() > RECORD_BYTES_MAX {
            return Err(RecordError::Invalid("too long"));
        }
        let tags = tags::parse(text).map_err(|_| RecordError::Invalid("tag syntax"))?;
        let uris = |name| -> Vec<String> {
            tags::get(&tags, name)
                .map(|v| {
                    v.split(',')
                        .map(|u| u.trim().to_string())
                        .filter(|u| u.len() > 7 && u[..7].eq_ignore_ascii_case("mailto:"))
                        .take(REPORT_ADDRESSES_MAX)
                        .collect()
                })
                .unwrap_or_default()
        };
        let aggregate_reports = uris("rua");
        let policy = match tags::get(&tags, "p").and_then(Policy::parse) {
            Some(policy) => policy,
            None if !aggregate_reports.is_empty() => Policy::None,
            None => return Err(RecordError::Invalid("p=")),
        };
        let subdomain_policy = match tags::get(&tags, "sp") {
            None => policy,
            Some(value) => Policy::parse(value).ok_or(RecordError::Invalid("sp="))?,
        };
        let alignment = |name| match tags::get(&tags, name).map(|v| v.trim().to_ascii_lowercase()) {
            Some(v) if v == "s" => Ok(Alignment::Strict),
            Some(v) if v == "r" => Ok(Alignment::Relaxed),
            None => Ok(Alignment::Relaxed),
            Some(_) => Err(RecordError::Invalid("alignment")),
        };
        let percent = match tags::get(&tags, "pct") {
            None => 100,
            Some(value) => {
                value.trim().parse::<u8>().ok().filter(|p| *p <= 100).ok_or(RecordError::Invalid("pct="))?
            }
        };
        Ok(DmarcRecord {
            policy,
            subdomain_policy,
            dkim_alignment: alignment("adkim")?,
            spf_alignment: alignment("aspf")?,
            percent,
            aggregate_reports,
            failure_reports: uris("ruf"),
        })
    }
}

/// The organizational domain (RFC 7489 §3.2): the registrable domain under the Public
/// Suffix List, or the name itself when it is a public suffix or has no known suffix.
pub fn organizational_domain(domain: &DomainName) -> DomainName {
    match psl::domain_str(domain.as_str()) {
        Some(registrable) => DomainName::parse(registrable).unwrap_or_else(|_| domain.clone()),
        None => domain.clone(),
    }
}

fn aligned(a: &DomainName, b: &DomainName, mode: Alignment) -> bool {
    match mode {
        Alignment::Strict => a == b,
        Alignment::Relaxed => organizational_domain(a) == organizational_domain(b),
    }
}

/// A DMARC result (RFC 8601 §2.7.4, RFC 7489 §11.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DmarcResult {
    /// No policy published, or no usable From.
    None,
    /// An aligned SPF or DKIM pass.
    Pass,
    /// No aligned pass.
    Fail,
    /// A DNS error looking up the policy, or an aligned check that failed temporarily.
    TempError,
    /// A broken policy record or an unusable From header.
    PermError,
}

impl DmarcResult {
    /// The result keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            DmarcResult::None => "none",
            DmarcResult::Pass => "pass",
            DmarcResult::Fail => "fail",
            DmarcResult::TempError => "temperror",
            DmarcResult::PermError => "permerror",
        }
    }
}

/// What DMARC says about a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DmarcOutcome {
    /// The result.
    pub result: DmarcResult,
    /// The RFC5322.From domain, when there is one.
    pub from_domain: Option<DomainName>,
    /// The record found (at the From domain or its organizational domain).
    pub record: Option<DmarcRecord>,
    /// The policy that applies to this message (after `sp` and `pct`); `None` unless the
    /// result is a fail.
    pub disposition: Policy,
    /// The policy before `pct` sampling, for the Authentication-Results comment.
    pub requested: Option<Policy>,
    /// A problem, for the header.
    pub reason: Option<String>,
    /// Where the record was found: the From domain or its organizational domain (the
    /// `policy_published/domain` of an aggregate report, RFC 7489 §7.2).
    pub policy_domain: Option<DomainName>,
    /// An aligned DKIM signature passed (`policy_evaluated/dkim`).
    pub dkim_aligned: bool,
    /// SPF passed for an aligned domain (`policy_evaluated/spf`).
    pub spf_aligned: bool,
}

impl DmarcOutcome {
    fn new(result: DmarcResult, from_domain: Option<DomainName>, reason: Option<String>) -> DmarcOutcome {
        DmarcOutcome {
            result,
            from_domain,
            record: None,
            disposition: Policy::None,
            requested: None,
            reason,
            policy_domain: None,
            dkim_aligned: false,
            spf_aligned: false,
        }
    }
}

/// The From header's single author domain (RFC 7489 §6.6.1): one From field whose
/// addresses all share a domain. `Err` carries why not.
pub fn from_domain(headers: &HeaderBlock) -> Result<DomainName, &'static str> {
    let mut fields = headers.named("From");
    let field = fields.next().ok_or("no From header")?;
    if fields.next().is_some() {
        return Err("several From headers");
    }
    let mut buffer = headers.value(field).to_vec();
    buffer.extend_from_slice(b"\r\n");
    let HeaderValue::Address(addresses) = MessageStream::new(&buffer).parse_address() else {
        return Err("From has no address");
    };
    let mut domain: Option<DomainName> = None;
    for address in addresses.iter() {
        let text = address.address.as_deref().ok_or("From has no address")?;
        let (_, host) = text.rsplit_once('@').ok_or("From address without domain")?;
        let parsed = DomainName::parse(host).map_err(|_| "invalid From domain")?;
        if domain.as_ref().is_some_and(|d| *d != parsed) {
            return Err("From addresses in several domains");
        }
        domain = Some(parsed);
    }
    domain.ok_or("From has no address")
}

/// Evaluates DMARC. `spf` is the MAIL FROM (or HELO) verdict; `pct_draw` is a random
/// number in 0..100 for `pct` sampling.
pub async fn evaluate<R: Resolver>(
    resolver: &R,
    headers: &HeaderBlock,
    spf: &SpfVerdict,
    dkim: &[DkimResult],
    pct_draw: u8,
) -> DmarcOutcome {
    let author = match from_domain(headers) {
        Ok(domain) => domain,
        Err(reason) => return DmarcOutcome::new(DmarcResult::PermError, None, Some(reason.to_string())),
    };
    let organizational = organizational_domain(&author);
    let (record, at_organizational) = match discover(resolver, &author, &organizational).await {
        Ok(Some(found)) => found,
        Ok(None) => return DmarcOutcome::new(DmarcResult::None, Some(author), None),
        Err(error) => {
            return DmarcOutcome::new(DmarcResult::TempError, Some(author), Some(error.to_string()));
        }
    };
    let aligned = alignment(&author, &record, spf, dkim);
    let (result, reason) = aligned.result();
    let mut outcome = DmarcOutcome::new(result, Some(author.clone()), reason);
    outcome.policy_domain = Some(if at_organizational { organizational.clone() } else { author.clone() });
    (outcome.dkim_aligned, outcome.spf_aligned) = (aligned.dkim_pass, aligned.spf_pass);
    if result == DmarcResult::Fail {
        // RFC 7489 §6.6.3: sp applies when the record came from the organizational domain
        // for a subdomain author.
        let requested = if at_organizational && author != organizational {
            record.subdomain_policy
        } else {
            record.policy
        };
        outcome.requested = Some(requested);
        outcome.disposition = if pct_draw < record.percent { requested } else { requested.weaker() };
    }
    outcome.record = Some(record);
    outcome
}

/// Finds the record at `_dmarc.<author>`, then at `_dmarc.<organizational>`. `Ok(None)`:
/// no record (zero or several DMARC records end discovery, RFC 7489 §6.6.3).
async fn discover<R: Resolver>(
    resolver: &R,
    author: &DomainName,
    organizational: &DomainName,
) -> Result<Option<(DmarcRecord, bool)>, ResolveError> {
    if let Some(record) = lookup_record(resolver, author).await? {
        return Ok(Some((record, author == organizational)));
    }
    if author != organizational
        && let Some(record) = lookup_record(resolver, organizational).await?
    {
        return Ok(Some((record, true)));
    }
    Ok(None)
}

async fn lookup_record<R: Resolver>(
    resolver: &R,
    domain: &DomainName,
) -> Result<Option<DmarcRecord>, ResolveError> {
    let Ok(name) = domain.prepend("_dmarc") else { return Ok(None) };
    let answer = resolver.lookup(&Question::new(name, RecordType::Txt)).await?;
    let mut found = answer.records.iter().map(|r| r.txt_joined()).filter(|t| is_dmarc_record(t));
    let (Some(text), None) = (found.next(), found.next()) else { return Ok(None) };
    Ok(DmarcRecord::parse(&text).ok())
}

/// What the aligned checks said.
struct Aligned {
    spf_pass: bool,
    dkim_pass: bool,
    temporary: bool,
}

impl Aligned {
    fn result(&self) -> (DmarcResult, Option<String>) {
        if self.spf_pass || self.dkim_pass {
            (DmarcResult::Pass, None)
        } else if self.temporary {
            // An aligned check that could not finish might have passed: not a fail to act on.
            (DmarcResult::TempError, Some("aligned check failed temporarily".into()))
        } else {
            (DmarcResult::Fail, None)
        }
    }
}

fn alignment(author: &DomainName, record: &DmarcRecord, spf: &SpfVerdict, dkim: &[DkimResult]) -> Aligned {
    let spf_domain = DomainName::parse(&spf.domain).ok();
    let spf_aligned = spf_domain.as_ref().is_some_and(|d| aligned(d, author, record.spf_alignment));
    let dkim_aligned =
        |r: &&DkimResult| r.domain.as_ref().is_some_and(|d| aligned(d, author, record.dkim_alignment));
    Aligned {
        spf_pass: spf_aligned && spf.outcome.result == SpfResult::Pass,
        dkim_pass: dkim.iter().filter(dkim_aligned).any(|r| r.status == DkimStatus::Pass),
        temporary: (spf_aligned && spf.outcome.result == SpfResult::TempError)
            || dkim.iter().filter(dkim_aligned).any(|r| r.status == DkimStatus::TempError),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn name(text: &str) -> DomainName {
        DomainName::parse(text).unwrap()
    }

    #[test]
    fn records() {
        let record = DmarcRecord::parse(
            b"v=DMARC1; p=reject; sp=none; adkim=s; pct=50; rua=mailto:r@example.com,https://x",
        )
        .unwrap();
        assert_eq!(
            (record.policy, record.subdomain_policy, record.percent),
            (Policy::Reject, Policy::None, 50)
        );
        assert_eq!(record.dkim_alignment, Alignment::Strict);
        assert_eq!(record.spf_alignment, Alignment::Relaxed);
        assert_eq!(record.aggregate_reports, vec!["mailto:r@example.com".to_string()]);
        assert_eq!(
            DmarcRecord::parse(b"v=DMARC1; p=bogus; rua=mailto:a@b.example").unwrap().policy,
            Policy::None
        );
        assert!(DmarcRecord::parse(b"v=DMARC1; p=bogus").is_err());
        assert!(DmarcRecord::parse(b"v=DMARC1; p=none; pct=101").is_err());
        assert_eq!(DmarcRecord::parse(b"v=dmarc1; p=none"), Err(RecordError::NotDmarc));
        assert!(!is_dmarc_record(b"v=DMARC10; p=none"));
    }

    #[test]
    fn organizational_domains() {
        assert_eq!(organizational_domain(&name("mail.example.com")), name("example.com"));
        assert_eq!(organizational_domain(&name("a.b.example.co.uk")), name("example.co.uk"));
        assert_eq!(organizational_domain(&name("co.uk")), name("co.uk"));
        assert!(aligned(&name("bounce.example.com"), &name("example.com"), Alignment::Relaxed));
        assert!(!aligned(&name("bounce.example.com"), &name("example.com"), Alignment::Strict));
    }

    #[test]
    fn from_domains() {
        let block = |text: &str| HeaderBlock::parse(text.as_bytes().to_vec());
        assert_eq!(from_domain(&block("From: \"A, B\" <a@Example.COM>\r\n")), Ok(name("example.com")));
        assert_eq!(from_domain(&block("From: a@x.example, b@x.example\r\n")), Ok(name("x.example")));
        assert!(from_domain(&block("From: a@x.example, b@y.example\r\n")).is_err());
        assert!(from_domain(&block("From: a@x.example\r\nFrom: b@x.example\r\n")).is_err());
        assert!(from_domain(&block("To: a@x.example\r\n")).is_err());
    }
}
