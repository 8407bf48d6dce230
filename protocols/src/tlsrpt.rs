//! Sending SMTP TLS reports (RFC 8460), sans-IO: the `_smtp._tls` TXT record that says
//! where a domain wants its reports ([`parse_record`]), the report itself
//! ([`compose`]: the JSON document of §4.4, gzip-compressed, with the file name of
//! §5.3), and the message that carries it by mail ([`compose_message`], RFC 8460
//! §5.3: `multipart/report; report-type="tlsrpt"`). The queue counts the results and
//! sends the reports; reading reports others send us is `reports::tlsrpt`.
//!
//! Bounded: at most [`RUA_URIS_MAX`] report URIs per record; the report holds what the
//! caller passes (the queue keeps at most 64 failure kinds per domain and day).

use serde_json::json;

pub use crate::report_mail::ReportMessage;
use crate::report_mail::{self, Layout, clean};

/// Most `rua` URIs used from one record: RFC 8460 §3 lets a domain name several; a
/// handful is plenty, and each means one report message.
pub const RUA_URIS_MAX: usize = 4;

/// Why a TLSRPT record is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// Not a `v=TLSRPTv1` record.
    #[error("not a TLSRPT record")]
    NotTlsRpt,
    /// More than one `v=TLSRPTv1` record (RFC 8460 §3: then none is used).
    #[error("more than one TLSRPT record")]
    Multiple,
    /// No usable `rua`.
    #[error("no rua")]
    NoRua,
}

/// Where reports go: `mailto:` addresses and `https:` URLs (RFC 8460 §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportUri {
    /// Send the report by mail to this address.
    Mailto(String),
    /// POST the report to this URL.
    Https(String),
}

/// Parses the TXT records of `_smtp._tls.<domain>` (each joined from its strings).
pub fn parse_records<'a>(records: impl IntoIterator<Item = &'a [u8]>) -> Result<Vec<ReportUri>, RecordError> {
    let mut found = None;
    for record in records {
        match parse_record(record) {
            Err(RecordError::NotTlsRpt) => {}
            parsed => {
                if found.is_some() {
                    return Err(RecordError::Multiple);
                }
                found = Some(parsed);
            }
        }
    }
    found.unwrap_or(Err(RecordError::NotTlsRpt))
}

/// Parses one record: `v=TLSRPTv1; rua=mailto:a@example.com,https://example.com/r`.
pub fn parse_record(text: &[u8]) -> Result<Vec<ReportUri>, RecordError> {
    let text = std::str::from_utf8(text).map_err(|_| RecordError::NotTlsRpt)?;
    let mut fields = text.split(';').map(str::trim);
    if fields.next() != Some("v=TLSRPTv1") {
        return Err(RecordError::NotTlsRpt);
    }
    let mut uris = Vec::new();
    for field in fields {
        let Some(value) = field.strip_prefix("rua=") else { continue };
        for uri in value.split(',').map(str::trim) {
            let parsed = if let Some(address) = uri.strip_prefix("mailto:") {
                address.contains('@').then(|| ReportUri::Mailto(address.to_owned()))
            } else if uri.starts_with("https://") {
                Some(ReportUri::Https(uri.to_owned()))
            } else {
                None
            };
            if let Some(parsed) = parsed
                && uris.len() < RUA_URIS_MAX
            {
                uris.push(parsed);
            }
        }
    }
    if uris.is_empty() { Err(RecordError::NoRua) } else { Ok(uris) }
}

/// One policy's results in a report (RFC 8460 §4.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyResults {
    /// `tlsa`, `sts` or `no-policy-found`.
    pub policy_type: &'static str,
    /// The policy domain.
    pub policy_domain: String,
    /// The policy's text lines (MTA-STS policy lines, TLSA records), may be empty.
    pub policy_strings: Vec<String>,
    /// Sessions that succeeded under the policy.
    pub successes: u64,
    /// (result type, receiving MX host, failed sessions).
    pub failures: Vec<(String, String, u64)>,
}

/// A report for one policy domain and one UTC day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Our organization (RFC 8460 §4.4 `organization-name`): our host name will do.
    pub organization: String,
    /// Where to reach us about the report.
    pub contact: String,
    /// Unique id of the report.
    pub report_id: String,
    /// The day, as days since 1970-01-01 UTC.
    pub day: i64,
    /// The policies applied that day.
    pub policies: Vec<PolicyResults>,
}

/// The report's JSON, its gzip compression and its file name (RFC 8460 §5.3:
/// `sender!policy-domain!begin!end!id.json.gz`, timestamps in Unix seconds).
pub fn compose(report: &Report, sender: &str) -> (Vec<u8>, Vec<u8>, String) {
    let begin = report.day * 86_400;
    let end = begin + 86_399;
    let policies: Vec<serde_json::Value> = report
        .policies
        .iter()
        .map(|policy| {
            let failures: u64 = policy.failures.iter().map(|(_, _, count)| count).sum();
            json!({
                "policy": {
                    "policy-type": policy.policy_type,
                    "policy-string": policy.policy_strings,
                    "policy-domain": policy.policy_domain,
                },
                "summary": {
                    "total-successful-session-count": policy.successes,
                    "total-failure-session-count": failures,
                },
                "failure-details": policy.failures.iter().map(|(result, host, count)| json!({
                    "result-type": result,
                    "receiving-mx-hostname": host,
                    "failed-session-count": count,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let document = json!({
        "organization-name": report.organization,
        "date-range": { "start-datetime": rfc3339(begin), "end-datetime": rfc3339(end) },
        "contact-info": report.contact,
        "report-id": report.report_id,
        "policies": policies,
    });
    let text = document.to_string().into_bytes();
    let gzip = report_mail::gzip(&text);
    let domain = report.policies.first().map_or("", |policy| policy.policy_domain.as_str());
    let name = format!("{sender}!{domain}!{begin}!{end}!{}.json.gz", report.report_id);
    (text, gzip, name)
}

/// The report's mail (RFC 8460 §5.3): `multipart/report` with `report-type="tlsrpt"`,
/// a short text part and the gzip'ed JSON as `application/tlsrpt+gzip`, with the
/// `TLS-Report-Domain` and `TLS-Report-Submitter` fields the section requires and the
/// subject its ABNF gives. CRLF line ends; the caller signs it (DKIM, required by §5.3).
pub fn compose_message(message: &ReportMessage<'_>) -> Vec<u8> {
    let policy_domain = clean(message.policy_domain);
    let submitter = clean(message.submitter);
    let layout = Layout {
        subject_report_id: &format!("<{}@{submitter}>", message.report_id),
        extra_fields: &[
            format!("TLS-Report-Domain: {policy_domain}"),
            format!("TLS-Report-Submitter: {submitter}"),
        ],
        multipart: "multipart/report; report-type=\"tlsrpt\"",
        text: &format!("This is an SMTP TLS report (RFC 8460) for {policy_domain} from {submitter}."),
        attachment_type: "application/tlsrpt+gzip",
    };
    report_mail::compose(message, &layout)
}

/// `YYYY-MM-DDTHH:MM:SSZ` for Unix seconds.
fn rfc3339(secs: i64) -> String {
    let (year, month, day) = crate::smtp::received::civil_from_days(secs.div_euclid(86_400));
    let of_day = secs.rem_euclid(86_400);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", of_day / 3600, of_day / 60 % 60, of_day % 60)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Read as _;

    use super::*;

    #[test]
    fn records_give_their_report_uris() {
        let uris = parse_record(b"v=TLSRPTv1; rua=mailto:tls@example.com, https://r.example/tls").unwrap();
        assert_eq!(
            uris,
            vec![
                ReportUri::Mailto("tls@example.com".into()),
                ReportUri::Https("https://r.example/tls".into())
            ]
        );
        assert_eq!(parse_record(b"v=STSv1; id=1"), Err(RecordError::NotTlsRpt));
        assert_eq!(parse_record(b"v=TLSRPTv1; rua=ftp://x"), Err(RecordError::NoRua));
        let many = format!("v=TLSRPTv1; rua={}", ["mailto:a@b.example"; RUA_URIS_MAX + 2].join(","));
        assert_eq!(parse_record(many.as_bytes()).unwrap().len(), RUA_URIS_MAX);
        let two: [&[u8]; 2] = [b"v=TLSRPTv1; rua=mailto:a@b.example", b"v=TLSRPTv1; rua=mailto:c@d.example"];
        assert_eq!(parse_records(two), Err(RecordError::Multiple));
    }

    #[test]
    fn a_report_is_the_rfc_json_gzipped() {
        let report = Report {
            organization: "mx.example.org".into(),
            contact: "postmaster@example.org".into(),
            report_id: "r1".into(),
            day: 20_000,
            policies: vec![PolicyResults {
                policy_type: "sts",
                policy_domain: "remote.example".into(),
                policy_strings: vec!["version: STSv1".into(), "mode: enforce".into()],
                successes: 5,
                failures: vec![("certificate-host-mismatch".into(), "mx.remote.example".into(), 2)],
            }],
        };
        let (text, gzip, name) = compose(&report, "example.org");
        assert_eq!(name, "example.org!remote.example!1728000000!1728086399!r1.json.gz");
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(gzip.as_slice()).read_to_end(&mut unzipped).unwrap();
        assert_eq!(unzipped, text);
        let value: serde_json::Value = serde_json::from_slice(&text).unwrap();
        assert_eq!(value["date-range"]["start-datetime"], "2024-10-04T00:00:00Z");
        assert_eq!(value["date-range"]["end-datetime"], "2024-10-04T23:59:59Z");
        let policy = &value["policies"][0];
        assert_eq!(policy["summary"]["total-successful-session-count"], 5);
        assert_eq!(policy["summary"]["total-failure-session-count"], 2);
        assert_eq!(policy["failure-details"][0]["result-type"], "certificate-host-mismatch");
        // Our own reader of received reports reads it back.
        let summary = crate::reports::tlsrpt::parse(&text).unwrap();
        assert_eq!(summary.policies.len(), 1);
        let mail = compose_message(&ReportMessage {
            from: "postmaster@example.org",
            to: "tls@remote.example",
            policy_domain: "remote.example",
            submitter: "example.org",
            report_id: "r1",
            date: "Fri, 4 Oct 2024 00:00:00 +0000",
            message_id: "r1@example.org",
            boundary: "b-1",
            file_name: &name,
            gzip: &gzip,
        });
        let mail_text = String::from_utf8(mail.clone()).unwrap();
        assert!(mail_text.contains("\r\nTLS-Report-Domain: remote.example\r\n"), "{mail_text}");
        assert!(mail_text.contains("\r\nTLS-Report-Submitter: example.org\r\n"), "{mail_text}");
        assert!(
            mail_text.contains("Subject: Report Domain: remote.example Submitter: example.org Report-ID: <r1@example.org>\r\n"),
            "{mail_text}"
        );
        assert!(mail_text.lines().all(|l| l.len() <= 998));
        // Our reader of received report mail finds the same document in it.
        let documents = crate::reports::extract(&mail).unwrap();
        assert_eq!(documents.len(), 1);
        assert_eq!(documents[0].kind, crate::reports::ReportKind::TlsRpt);
        assert_eq!(documents[0].bytes, text);
    }
}
