//! DMARC aggregate reports (RFC 7489 §7.2, Appendix C): the XML read into a summary of
//! who reported, for which domain and period, under which published policy, and one row
//! per source address with its count and results. DTDs are refused (no entity expansion),
//! and the element count and rows are bounded.

use roxmltree::{Document, Node, ParsingOptions};

use super::ReportError;

/// Most XML nodes parsed: a report row is about 30 nodes, so this allows ~60,000 rows
/// and bounds the tree built for any input.
pub const XML_NODES_MAX: u32 = 2_000_000;

/// Most rows kept from one report; more are counted in `rows_dropped`. Large providers'
/// daily reports for a busy domain have thousands of rows, not tens of thousands.
pub const ROWS_MAX: usize = 50_000;

/// One row: a source address and what happened to its messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregateRow {
    /// `source_ip`.
    pub source_ip: String,
    /// `count`.
    pub count: u64,
    /// `policy_evaluated/disposition`: none, quarantine or reject.
    pub disposition: String,
    /// `policy_evaluated/dkim` (aligned DKIM): pass or fail.
    pub dkim: String,
    /// `policy_evaluated/spf` (aligned SPF): pass or fail.
    pub spf: String,
    /// `identifiers/header_from`.
    pub header_from: String,
}

/// A DMARC aggregate report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AggregateReport {
    /// `report_metadata/org_name`: who sent it.
    pub org_name: String,
    /// `report_metadata/email`.
    pub email: String,
    /// `report_metadata/report_id`.
    pub report_id: String,
    /// `date_range/begin`, seconds since the epoch.
    pub begin: u64,
    /// `date_range/end`.
    pub end: u64,
    /// `policy_published/domain`.
    pub domain: String,
    /// `policy_published/p`.
    pub policy: String,
    /// The rows.
    pub rows: Vec<AggregateRow>,
    /// Rows past [`ROWS_MAX`], not kept.
    pub rows_dropped: u64,
}

impl AggregateReport {
    /// Messages reported, over all rows kept.
    pub fn messages(&self) -> u64 {
        self.rows.iter().map(|r| r.count).sum()
    }
}

fn child<'a, 'input>(node: Node<'a, 'input>, name: &str) -> Option<Node<'a, 'input>> {
    node.children().find(|c| c.is_element() && c.tag_name().name() == name)
}

fn text_at(node: Node<'_, '_>, path: &[&str]) -> String {
    let mut current = Some(node);
    for name in path {
        current = current.and_then(|n| child(n, name));
    }
    current.and_then(|n| n.text()).map(|t| t.trim().to_string()).unwrap_or_default()
}

/// Parses a report document.
pub fn parse(xml: &[u8]) -> Result<AggregateReport, ReportError> {
    let text = std::str::from_utf8(xml).map_err(|_| ReportError::Invalid("not UTF-8".into()))?;
    let options =
        ParsingOptions { allow_dtd: false, nodes_limit: XML_NODES_MAX, ..ParsingOptions::default() };
    let document =
        Document::parse_with_options(text, options).map_err(|e| ReportError::Invalid(e.to_string()))?;
    let feedback = document.root_element();
    if feedback.tag_name().name() != "feedback" {
        return Err(ReportError::Invalid("root element is not <feedback>".into()));
    }
    let number = |path: &[&str]| -> Result<u64, ReportError> {
        let text = text_at(feedback, path);
        text.parse()
            .map_err(|_| ReportError::Invalid(format!("{} is not a number: {text:?}", path.join("/"))))
    };
    let mut report = AggregateReport {
        org_name: text_at(feedback, &["report_metadata", "org_name"]),
        email: text_at(feedback, &["report_metadata", "email"]),
        report_id: text_at(feedback, &["report_metadata", "report_id"]),
        begin: number(&["report_metadata", "date_range", "begin"])?,
        end: number(&["report_metadata", "date_range", "end"])?,
        domain: text_at(feedback, &["policy_published", "domain"]),
        policy: text_at(feedback, &["policy_published", "p"]),
        rows: Vec::new(),
        rows_dropped: 0,
    };
    if report.report_id.is_empty() || report.domain.is_empty() {
        return Err(ReportError::Invalid("report_id or policy_published/domain missing".into()));
    }
    for record in feedback.children().filter(|c| c.is_element() && c.tag_name().name() == "record") {
        if report.rows.len() >= ROWS_MAX {
            report.rows_dropped += 1;
            continue;
        }
        let count = text_at(record, &["row", "count"]);
        report.rows.push(AggregateRow {
            source_ip: text_at(record, &["row", "source_ip"]),
            count: count.parse().map_err(|_| ReportError::Invalid(format!("row count {count:?}")))?,
            disposition: text_at(record, &["row", "policy_evaluated", "disposition"]),
            dkim: text_at(record, &["row", "policy_evaluated", "dkim"]),
            spf: text_at(record, &["row", "policy_evaluated", "spf"]),
            header_from: text_at(record, &["identifiers", "header_from"]),
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    pub(crate) const REPORT: &str = r#"<?xml version="1.0" encoding="UTF-8" ?>
<feedback>
  <report_metadata>
    <org_name>receiver.example</org_name>
    <email>noreply-dmarc@receiver.example</email>
    <report_id>9391651994964116463</report_id>
    <date_range><begin>1700000000</begin><end>1700086399</end></date_range>
  </report_metadata>
  <policy_published><domain>example.org</domain><adkim>r</adkim><aspf>r</aspf><p>reject</p><pct>100</pct></policy_published>
  <record>
    <row><source_ip>192.0.2.1</source_ip><count>12</count>
      <policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>pass</spf></policy_evaluated></row>
    <identifiers><header_from>example.org</header_from></identifiers>
    <auth_results><dkim><domain>example.org</domain><result>pass</result></dkim></auth_results>
  </record>
  <record>
    <row><source_ip>198.51.100.7</source_ip><count>3</count>
      <policy_evaluated><disposition>reject</disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row>
    <identifiers><header_from>example.org</header_from></identifiers>
  </record>
</feedback>"#;

    #[test]
    fn reads_a_report() {
        let report = parse(REPORT.as_bytes()).unwrap();
        assert_eq!(report.org_name, "receiver.example");
        assert_eq!((report.begin, report.end), (1_700_000_000, 1_700_086_399));
        assert_eq!((report.domain.as_str(), report.policy.as_str()), ("example.org", "reject"));
        assert_eq!(report.rows.len(), 2);
        assert_eq!(report.messages(), 15);
        assert_eq!(report.rows[1].disposition, "reject");
    }

    #[test]
    fn refuses_entities_and_junk() {
        let bomb = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY a \"aaaa\">]><feedback>&a;</feedback>";
        assert!(parse(bomb.as_bytes()).is_err());
        assert!(parse(b"<other/>").is_err());
        assert!(parse(b"\xff\xfe").is_err());
        assert!(
            parse(REPORT.replace("<begin>1700000000</begin>", "<begin>soon</begin>").as_bytes()).is_err()
        );
    }
}
