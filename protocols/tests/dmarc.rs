//! DMARC (RFC 7489) evaluation through an in-memory zone: policy discovery at the author
//! domain and its organizational domain, relaxed and strict alignment of SPF and DKIM,
//! `sp=` for subdomains, `pct` sampling, several records, DNS errors.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use moxide_protocols::auth::dkim::{Algorithm, DkimResult, DkimStatus};
use moxide_protocols::auth::dmarc::{DmarcResult, Policy, evaluate};
use moxide_protocols::auth::header::HeaderBlock;
use moxide_protocols::auth::spf::{Identity, SpfOutcome, SpfResult, SpfVerdict};
use moxide_protocols::dns::memory::MemoryResolver;
use moxide_protocols::dns::{DomainName, Question, RecordType, ResolveError};

fn spf(domain: &str, result: SpfResult) -> SpfVerdict {
    SpfVerdict {
        outcome: SpfOutcome::new(result),
        identity: Identity::MailFrom,
        domain: domain.to_string(),
        sender: format!("bounce@{domain}"),
    }
}

fn dkim(domain: &str, status: DkimStatus) -> DkimResult {
    DkimResult {
        status,
        domain: Some(DomainName::parse(domain).unwrap()),
        selector: Some("s".into()),
        identity: Some(format!("@{domain}")),
        algorithm: Some(Algorithm::RsaSha256),
        signature_prefix: None,
        reason: None,
        testing: false,
    }
}

fn zone() -> MemoryResolver {
    let mut zone = MemoryResolver::new();
    zone.add_txt("_dmarc.example.com", "v=DMARC1; p=reject; sp=quarantine; rua=mailto:dmarc@example.com");
    zone.add_txt("_dmarc.strict.example", "v=DMARC1; p=reject; adkim=s; aspf=s");
    zone.add_txt("_dmarc.half.example", "v=DMARC1; p=reject; pct=50");
    zone.add_txt("_dmarc.twice.example", "v=DMARC1; p=reject");
    zone.add_txt("_dmarc.twice.example", "v=DMARC1; p=none");
    zone.add_txt("_dmarc.own.example.com", "v=DMARC1; p=none");
    zone
}

fn run(
    zone: &MemoryResolver,
    from: &str,
    spf_verdict: &SpfVerdict,
    dkim_results: &[DkimResult],
    draw: u8,
) -> moxide_protocols::auth::dmarc::DmarcOutcome {
    let headers =
        HeaderBlock::parse(format!("From: Someone <someone@{from}>\r\nSubject: x\r\n").into_bytes());
    futures_lite::future::block_on(evaluate(zone, &headers, spf_verdict, dkim_results, draw))
}

#[test]
fn aligned_passes() {
    let zone = zone();
    // Relaxed SPF alignment: a subdomain of the author's organizational domain.
    let outcome = run(&zone, "example.com", &spf("bounces.example.com", SpfResult::Pass), &[], 0);
    assert_eq!(outcome.result, DmarcResult::Pass);
    // DKIM aligned pass alone is enough, even with SPF failing.
    let outcome = run(
        &zone,
        "example.com",
        &spf("other.example", SpfResult::Fail),
        &[dkim("example.com", DkimStatus::Pass)],
        0,
    );
    assert_eq!(outcome.result, DmarcResult::Pass);
    // Strict: the subdomain no longer aligns.
    let outcome = run(
        &zone,
        "strict.example",
        &spf("mail.strict.example", SpfResult::Pass),
        &[dkim("x.strict.example", DkimStatus::Pass)],
        0,
    );
    assert_eq!(outcome.result, DmarcResult::Fail);
    assert_eq!(outcome.disposition, Policy::Reject);
}

#[test]
fn failures_and_policies() {
    let zone = zone();
    // Unaligned passes do not count.
    let outcome = run(
        &zone,
        "example.com",
        &spf("attacker.example", SpfResult::Pass),
        &[dkim("attacker.example", DkimStatus::Pass)],
        0,
    );
    assert_eq!((outcome.result, outcome.disposition), (DmarcResult::Fail, Policy::Reject));
    assert_eq!(
        outcome.record.as_ref().unwrap().aggregate_reports,
        vec!["mailto:dmarc@example.com".to_string()]
    );
    // A subdomain without its own record: the organizational record's sp= applies.
    let outcome = run(&zone, "news.example.com", &spf("attacker.example", SpfResult::Pass), &[], 0);
    assert_eq!((outcome.result, outcome.disposition), (DmarcResult::Fail, Policy::Quarantine));
    // A subdomain with its own record uses its p=.
    let outcome = run(&zone, "own.example.com", &spf("attacker.example", SpfResult::Pass), &[], 0);
    assert_eq!((outcome.result, outcome.disposition), (DmarcResult::Fail, Policy::None));
    // pct=50: a draw inside the sample gets the policy, outside the next weaker one.
    let inside = run(&zone, "half.example", &spf("x.example", SpfResult::Fail), &[], 49);
    let outside = run(&zone, "half.example", &spf("x.example", SpfResult::Fail), &[], 50);
    assert_eq!((inside.disposition, outside.disposition), (Policy::Reject, Policy::Quarantine));
    assert_eq!(outside.requested, Some(Policy::Reject));
}

#[test]
fn none_temperror_permerror() {
    let mut zone = zone();
    let outcome = run(&zone, "nodmarc.example", &spf("nodmarc.example", SpfResult::Fail), &[], 0);
    assert_eq!(outcome.result, DmarcResult::None);
    let outcome = run(&zone, "twice.example", &spf("x.example", SpfResult::Fail), &[], 0);
    assert_eq!(outcome.result, DmarcResult::None, "two records end discovery");
    // An aligned DKIM check that failed temporarily: temperror, not a fail to act on.
    let outcome = run(
        &zone,
        "example.com",
        &spf("x.example", SpfResult::Fail),
        &[dkim("example.com", DkimStatus::TempError)],
        0,
    );
    assert_eq!(outcome.result, DmarcResult::TempError);
    zone.fail(
        Question::new(DomainName::parse("_dmarc.broken.example").unwrap(), RecordType::Txt),
        ResolveError::Timeout,
    );
    let outcome = run(&zone, "broken.example", &spf("x.example", SpfResult::Fail), &[], 0);
    assert_eq!(outcome.result, DmarcResult::TempError);
    let headers = HeaderBlock::parse(b"Subject: no from\r\n".to_vec());
    let outcome =
        futures_lite::future::block_on(evaluate(&zone, &headers, &spf("x.example", SpfResult::Pass), &[], 0));
    assert_eq!(outcome.result, DmarcResult::PermError);
}
