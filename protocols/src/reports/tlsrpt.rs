//! SMTP TLS reports (RFC 8460 §4): the JSON read into who reported, for which period, and
//! per policy the domain, its type and the successful and failed session counts.

use serde_json::Value;

use super::ReportError;

/// Most policies kept from one report (one per MX host policy; real reports have a few).
pub const POLICIES_MAX: usize = 1_000;

/// One policy's summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsPolicySummary {
    /// `policy-type`: sts, tlsa or no-policy-found.
    pub policy_type: String,
    /// `policy-domain`.
    pub domain: String,
    /// `summary/total-successful-session-count`.
    pub successful: u64,
    /// `summary/total-failure-session-count`.
    pub failed: u64,
    /// `result-type` of each failure detail.
    pub failure_types: Vec<String>,
}

/// A TLS report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsReport {
    /// `organization-name`.
    pub organization: String,
    /// `report-id`.
    pub report_id: String,
    /// `date-range/start-datetime` (date-time text, as sent).
    pub start: String,
    /// `date-range/end-datetime`.
    pub end: String,
    /// The policies.
    pub policies: Vec<TlsPolicySummary>,
}

fn text(value: &Value, key: &str) -> String {
    value.get(key).and_then(Value::as_str).unwrap_or("").to_string()
}

fn count(value: &Value, key: &str) -> u64 {
    value.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// Parses a report document.
pub fn parse(json: &[u8]) -> Result<TlsReport, ReportError> {
    let root: Value = serde_json::from_slice(json).map_err(|e| ReportError::Invalid(e.to_string()))?;
    let report_id = text(&root, "report-id");
    if report_id.is_empty() {
        return Err(ReportError::Invalid("report-id missing".into()));
    }
    let range = root.get("date-range").cloned().unwrap_or(Value::Null);
    let policies = root
        .get("policies")
        .and_then(Value::as_array)
        .ok_or_else(|| ReportError::Invalid("policies missing".into()))?
        .iter()
        .take(POLICIES_MAX)
        .map(|entry| {
            let policy = entry.get("policy").cloned().unwrap_or(Value::Null);
            let summary = entry.get("summary").cloned().unwrap_or(Value::Null);
            let failure_types = entry
                .get("failure-details")
                .and_then(Value::as_array)
                .map(|details| details.iter().map(|d| text(d, "result-type")).take(100).collect())
                .unwrap_or_default();
            TlsPolicySummary {
                policy_type: text(&policy, "policy-type"),
                domain: text(&policy, "policy-domain"),
                successful: count(&summary, "total-successful-session-count"),
                failed: count(&summary, "total-failure-session-count"),
                failure_types,
            }
        })
        .collect();
    Ok(TlsReport {
        organization: text(&root, "organization-name"),
        report_id,
        start: text(&range, "start-datetime"),
        end: text(&range, "end-datetime"),
        policies,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    pub(crate) const REPORT: &str = r#"{
  "organization-name": "Company-X",
  "date-range": {"start-datetime": "2016-04-01T00:00:00Z", "end-datetime": "2016-04-01T23:59:59Z"},
  "contact-info": "sts-reporting@company-x.example",
  "report-id": "5065427c-23d3-47ca-b6e0-946ea0e8c4be",
  "policies": [{
    "policy": {"policy-type": "sts", "policy-string": ["version: STSv1", "mode: testing"],
               "policy-domain": "company-y.example", "mx-host": ["*.mail.company-y.example"]},
    "summary": {"total-successful-session-count": 5326, "total-failure-session-count": 303},
    "failure-details": [{"result-type": "certificate-expired", "sending-mta-ip": "2001:db8:abcd:0012::1",
                         "receiving-mx-hostname": "mx1.mail.company-y.example", "failed-session-count": 100}]
  }]
}"#;

    #[test]
    fn reads_a_report() {
        let report = parse(REPORT.as_bytes()).unwrap();
        assert_eq!(report.organization, "Company-X");
        assert_eq!(report.policies.len(), 1);
        let policy = &report.policies[0];
        assert_eq!((policy.successful, policy.failed), (5326, 303));
        assert_eq!(policy.failure_types, vec!["certificate-expired".to_string()]);
        assert!(parse(b"{}").is_err());
        assert!(parse(b"not json").is_err());
    }
}
