//! Sending DMARC aggregate reports (RFC 7489 §7.2), sans-IO: the rows counted from our
//! evaluations of incoming mail ([`Row`]), the XML document of Appendix C gzip'ed with
//! the file name of §7.2.1.1 ([`compose`]), the message that carries it
//! ([`compose_message`]), the `rua` URIs of a policy record with their size limits
//! ([`parse_rua`]) and whether a report address outside the policy domain must first
//! agree to receive it (§7.1, [`authorization_name`]). The queue keeps the counts and
//! sends the reports; reading reports others send us is `reports::dmarc`.
//!
//! Bounded: the document holds what the caller passes (the queue keeps at most
//! 1,000 rows per domain and day); at most [`ROW_DKIM_RESULTS_MAX`] DKIM results per
//! row and [`RUA_URIS_MAX`] report URIs per record.

use std::fmt::Write as _;

use crate::auth::dmarc::organizational_domain;
use crate::dns::DomainName;
pub use crate::report_mail::ReportMessage;
use crate::report_mail::{self, Layout};

/// Most DKIM results kept per row: a message with more signatures than this is rare
/// and the extra ones would only make its row unlike every other.
pub const ROW_DKIM_RESULTS_MAX: usize = 4;

/// Most `rua` URIs used from one record: each means one report message.
pub const RUA_URIS_MAX: usize = 2;

/// One DKIM signature's result in a row (`auth_results/dkim`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DkimAuth {
    /// `d=`.
    pub domain: String,
    /// `s=`.
    pub selector: String,
    /// none, pass, fail, policy, neutral, temperror or permerror.
    pub result: String,
}

/// What happened to messages from one source: the aggregation key of a report row.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Row {
    /// The connecting client's address.
    pub source_ip: String,
    /// `policy_evaluated/disposition`: none, quarantine or reject (what we did).
    pub disposition: String,
    /// An aligned DKIM signature passed.
    pub dkim_aligned: bool,
    /// SPF passed for an aligned domain.
    pub spf_aligned: bool,
    /// `policy_evaluated/reason`: why the disposition differs from the policy (type,
    /// comment): `sampled_out` for `pct`, `local_policy` for a reject we delivered to Junk.
    pub reasons: Vec<(String, String)>,
    /// `identifiers/envelope_to`: the recipient's domain (empty: left out).
    pub envelope_to: String,
    /// `identifiers/header_from`.
    pub header_from: String,
    /// `auth_results/dkim`, at most [`ROW_DKIM_RESULTS_MAX`].
    pub dkim: Vec<DkimAuth>,
    /// `auth_results/spf`: domain, scope (helo or mfrom), result.
    pub spf: (String, String, String),
}

/// The policy record the rows were evaluated under (`policy_published`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PublishedPolicy {
    /// The domain the record was found at.
    pub domain: String,
    /// `adkim`: r or s.
    pub adkim: String,
    /// `aspf`: r or s.
    pub aspf: String,
    /// `p`.
    pub p: String,
    /// `sp`.
    pub sp: String,
    /// `pct`.
    pub pct: u8,
}

/// A report about one policy domain for one UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// `report_metadata/org_name`.
    pub org_name: String,
    /// `report_metadata/email`: where to write about the report.
    pub email: String,
    /// `report_metadata/report_id`: letters and digits.
    pub report_id: String,
    /// Days since 1970 (UTC) the report covers.
    pub day: i64,
    /// The published policy.
    pub policy: PublishedPolicy,
    /// The rows and their message counts.
    pub rows: Vec<(Row, u64)>,
}

/// Escapes text for XML character data (the five predefined entities); control
/// characters other than tab and line ends are dropped, as XML 1.0 cannot carry them.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

fn element(out: &mut String, name: &str, text: &str) {
    let _ = write!(out, "<{name}>{}</{name}>", escape(text));
}

fn row_xml(out: &mut String, row: &Row, count: u64) {
    let pass_fail = |pass: bool| if pass { "pass" } else { "fail" };
    out.push_str("<record><row>");
    element(out, "source_ip", &row.source_ip);
    element(out, "count", &count.to_string());
    out.push_str("<policy_evaluated>");
    element(out, "disposition", &row.disposition);
    element(out, "dkim", pass_fail(row.dkim_aligned));
    element(out, "spf", pass_fail(row.spf_aligned));
    for (kind, comment) in &row.reasons {
        out.push_str("<reason>");
        element(out, "type", kind);
        if !comment.is_empty() {
            element(out, "comment", comment);
        }
        out.push_str("</reason>");
    }
    out.push_str("</policy_evaluated></row><identifiers>");
    if !row.envelope_to.is_empty() {
        element(out, "envelope_to", &row.envelope_to);
    }
    element(out, "header_from", &row.header_from);
    out.push_str("</identifiers><auth_results>");
    for dkim in row.dkim.iter().take(ROW_DKIM_RESULTS_MAX) {
        out.push_str("<dkim>");
        element(out, "domain", &dkim.domain);
        if !dkim.selector.is_empty() {
            element(out, "selector", &dkim.selector);
        }
        element(out, "result", &dkim.result);
        out.push_str("</dkim>");
    }
    let (domain, scope, result) = &row.spf;
    out.push_str("<spf>");
    element(out, "domain", domain);
    element(out, "scope", scope);
    element(out, "result", result);
    out.push_str("</spf></auth_results></record>");
}

/// The report document (RFC 7489 Appendix C), its gzip, and the attachment's file name
/// (§7.2.1.1: `receiver "!" policy-domain "!" begin "!" end [ "!" unique-id ] ".xml.gz"`;
/// `submitter` is our domain).
pub fn compose(report: &Report, submitter: &str) -> (Vec<u8>, Vec<u8>, String) {
    let begin = report.day * 86_400;
    let end = begin + 86_399;
    let policy = &report.policy;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<feedback>");
    element(&mut out, "version", "1.0");
    out.push_str("<report_metadata>");
    element(&mut out, "org_name", &report.org_name);
    element(&mut out, "email", &report.email);
    element(&mut out, "report_id", &report.report_id);
    let _ = write!(out, "<date_range><begin>{begin}</begin><end>{end}</end></date_range>");
    out.push_str("</report_metadata><policy_published>");
    element(&mut out, "domain", &policy.domain);
    element(&mut out, "adkim", &policy.adkim);
    element(&mut out, "aspf", &policy.aspf);
    element(&mut out, "p", &policy.p);
    element(&mut out, "sp", &policy.sp);
    element(&mut out, "pct", &policy.pct.to_string());
    out.push_str("</policy_published>");
    for (row, count) in &report.rows {
        row_xml(&mut out, row, *count);
    }
    out.push_str("</feedback>\r\n");
    let xml = out.into_bytes();
    let gzip = report_mail::gzip(&xml);
    let name = format!("{submitter}!{}!{begin}!{end}!{}.xml.gz", policy.domain, report.report_id);
    (xml, gzip, name)
}

/// The report's mail (RFC 7489 §7.2.1.1): the subject its ABNF gives, a short text part
/// and the gzip'ed document as an `application/gzip` attachment, in `multipart/mixed`.
/// CRLF line ends; the caller signs it with DKIM.
pub fn compose_message(message: &ReportMessage<'_>) -> Vec<u8> {
    let layout = Layout {
        subject_report_id: &format!("<{}>", message.report_id),
        extra_fields: &[],
        multipart: "multipart/mixed",
        text: &format!(
            "This is a DMARC aggregate report (RFC 7489) for {} from {}.",
            message.policy_domain, message.submitter
        ),
        attachment_type: "application/gzip",
    };
    report_mail::compose(message, &layout)
}

/// A `mailto:` report URI of a DMARC record's `rua` (RFC 7489 §6.2, §6.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rua {
    /// The address.
    pub address: String,
    /// The domain of the address, lower case.
    pub domain: String,
    /// The largest report the address takes (`!10m`), bytes; `None`: any size.
    pub size_max: Option<u64>,
}

/// The usable `mailto:` URIs among a record's `rua` entries, at most [`RUA_URIS_MAX`].
/// Others (`https:`, malformed addresses) are left out: RFC 7489 §7.2.1 only defines
/// delivery by mail.
pub fn parse_rua(uris: &[String]) -> Vec<Rua> {
    uris.iter().filter_map(|uri| parse_one(uri)).take(RUA_URIS_MAX).collect()
}

fn parse_one(uri: &str) -> Option<Rua> {
    let uri = uri.trim();
    let rest = uri.get(..7).filter(|scheme| scheme.eq_ignore_ascii_case("mailto:")).map(|_| &uri[7..])?;
    let (address, limit) = match rest.rsplit_once('!') {
        Some((address, limit)) => (address, Some(size_limit(limit)?)),
        None => (rest, None),
    };
    let address = address.split('?').next().unwrap_or_default();
    let (local, domain) = address.rsplit_once('@')?;
    let bad = |b: u8| b.is_ascii_control() || matches!(b, b' ' | b'<' | b'>' | b',' | b'%');
    if local.is_empty() || address.bytes().any(bad) {
        return None;
    }
    let domain = DomainName::parse(domain).ok()?.as_str().to_ascii_lowercase();
    Some(Rua { address: address.to_owned(), domain, size_max: limit })
}

/// `10m` and the like (RFC 7489 §6.4: digits and an optional unit k, m, g or t).
fn size_limit(text: &str) -> Option<u64> {
    let (digits, unit) = match text.as_bytes().last()? {
        b'k' | b'K' => (&text[..text.len() - 1], 1u64 << 10),
        b'm' | b'M' => (&text[..text.len() - 1], 1 << 20),
        b'g' | b'G' => (&text[..text.len() - 1], 1 << 30),
        b't' | b'T' => (&text[..text.len() - 1], 1 << 40),
        _ => (text, 1),
    };
    digits.parse::<u64>().ok()?.checked_mul(unit)
}

/// The TXT name that must hold a `v=DMARC1` record before reports about
/// `policy_domain` go to an address in `rua_domain` (RFC 7489 §7.1), or `None` when
/// both share an organizational domain and no check is needed.
pub fn authorization_name(policy_domain: &DomainName, rua_domain: &DomainName) -> Option<String> {
    if organizational_domain(policy_domain) == organizational_domain(rua_domain) {
        return None;
    }
    Some(format!("{}._report._dmarc.{}", policy_domain.as_str(), rua_domain.as_str()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Read as _;

    use super::*;

    fn row(ip: &str, dkim: bool) -> Row {
        Row {
            source_ip: ip.into(),
            disposition: "none".into(),
            dkim_aligned: dkim,
            spf_aligned: true,
            reasons: vec![("sampled_out".into(), String::new())],
            envelope_to: "example.net".into(),
            header_from: "example.com".into(),
            dkim: vec![DkimAuth {
                domain: "example.com".into(),
                selector: "s<1>".into(),
                result: "pass".into(),
            }],
            spf: ("example.com".into(), "mfrom".into(), "pass".into()),
        }
    }

    #[test]
    fn composed_reports_parse_back() {
        let report = Report {
            org_name: "Mail & Co".into(),
            email: "postmaster@example.net".into(),
            report_id: "abc123".into(),
            day: 20_000,
            policy: PublishedPolicy {
                domain: "example.com".into(),
                adkim: "r".into(),
                aspf: "r".into(),
                p: "reject".into(),
                sp: "reject".into(),
                pct: 100,
            },
            rows: vec![(row("192.0.2.1", true), 3), (row("2001:db8::1", false), 1)],
        };
        let (xml, gzip, name) = compose(&report, "example.net");
        assert_eq!(name, "example.net!example.com!1728000000!1728086399!abc123.xml.gz");
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(&gzip[..]).read_to_end(&mut unzipped).unwrap();
        assert_eq!(unzipped, xml);
        let parsed = crate::reports::dmarc::parse(&xml).unwrap();
        assert_eq!(parsed.org_name, "Mail & Co");
        assert_eq!((parsed.begin, parsed.end), (1_728_000_000, 1_728_086_399));
        assert_eq!((parsed.domain.as_str(), parsed.policy.as_str()), ("example.com", "reject"));
        assert_eq!(parsed.messages(), 4);
        assert_eq!(parsed.rows[1].source_ip, "2001:db8::1");
        assert_eq!((parsed.rows[1].dkim.as_str(), parsed.rows[1].spf.as_str()), ("fail", "pass"));
        assert!(String::from_utf8(xml).unwrap().contains("<selector>s&lt;1&gt;</selector>"));

        let mail = compose_message(&ReportMessage {
            from: "postmaster@example.net",
            to: "dmarc@example.com",
            policy_domain: "example.com",
            submitter: "example.net",
            report_id: "abc123",
            date: "Thu, 1 Jan 2026 00:00:00 +0000",
            message_id: "x@example.net",
            boundary: "b-1",
            file_name: &name,
            gzip: &gzip,
        });
        let text = String::from_utf8(mail).unwrap();
        assert!(
            text.contains(
                "Subject: Report Domain: example.com Submitter: example.net Report-ID: <abc123>\r\n"
            )
        );
        assert!(text.lines().all(|l| l.len() <= 998));
    }

    #[test]
    fn rua_uris_and_limits() {
        let uris = vec![
            "https://r.example/".to_owned(),
            "mailto:a@R.Example!10m".to_owned(),
            "mailto:bad address@r.example".to_owned(),
            "MAILTO:b@r.example".to_owned(),
            "mailto:c@r.example".to_owned(),
        ];
        let found = parse_rua(&uris);
        assert_eq!(found.len(), 2);
        assert_eq!(
            found[0],
            Rua { address: "a@R.Example".into(), domain: "r.example".into(), size_max: Some(10 << 20) }
        );
        assert_eq!((found[1].address.as_str(), found[1].size_max), ("b@r.example", None));
        assert!(parse_rua(&["mailto:a@r.example!x".to_owned()]).is_empty());
        assert_eq!(size_limit("512"), Some(512));
        assert_eq!(size_limit("99999999999t"), None);
    }

    #[test]
    fn outside_addresses_need_the_report_record() {
        let name = |text: &str| DomainName::parse(text).unwrap();
        assert_eq!(authorization_name(&name("mail.example.com"), &name("reports.example.com")), None);
        assert_eq!(
            authorization_name(&name("example.com"), &name("thirdparty.example")).as_deref(),
            Some("example.com._report._dmarc.thirdparty.example")
        );
    }
}
