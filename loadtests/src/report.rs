//! The result of a run: one [`Report`], printed as a table for people or, with `--json`,
//! as one JSON object for scripts. The JSON schema is documented in the crate doc
//! (main.rs); the field docs here are its reference.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use crate::procstat::ServerUsage;
use crate::stats::{KindSummary, Recorder};

/// A run's result.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    /// `smtp`, `imap`, `idle`, `bigbox` or `stress`.
    pub(crate) scenario: &'static str,
    /// True when there were no errors, verification (if any) passed and nothing was fatal;
    /// the exit status is 0 exactly then.
    pub(crate) passed: bool,
    /// Successful units of the scenario's main work (see the crate doc).
    pub(crate) ok: u64,
    /// Failed operations of any kind.
    pub(crate) errors: u64,
    /// Wall-clock seconds of the measured phase.
    pub(crate) seconds: f64,
    /// `ok / seconds`.
    pub(crate) rate_per_sec: f64,
    /// Concurrent connections used.
    pub(crate) connections: u64,
    /// Latency per operation kind.
    pub(crate) latency_ms: BTreeMap<String, KindSummary>,
    /// Server resource use, `null` without `--server-pid`.
    pub(crate) server: Option<ServerUsage>,
    /// Error messages (prefixed with their operation kind) and how often each occurred.
    pub(crate) error_messages: BTreeMap<String, u64>,
    /// Why the run could not be carried out at all (setup failed), if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) fatal: Option<String>,
    /// Details of an smtp run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) smtp: Option<SmtpDetails>,
    /// Details of an imap run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) imap: Option<ImapDetails>,
    /// Details of an idle run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) idle: Option<IdleDetails>,
    /// Details of a bigbox run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) bigbox: Option<BigboxDetails>,
    /// Details of a stress run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) stress: Option<StressDetails>,
}

/// The `smtp` object.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct SmtpDetails {
    /// `--messages`.
    pub(crate) messages_requested: u64,
    /// Bytes of the accepted messages.
    pub(crate) bytes_accepted: u64,
    /// Files in `--size-corpus`, `null` for generated messages.
    pub(crate) corpus_files: Option<u64>,
    /// PIPELINING was asked for and offered.
    pub(crate) pipelining: bool,
    /// BDAT was asked for and offered.
    pub(crate) chunking: bool,
    /// `--accounts`.
    pub(crate) accounts: u32,
    /// `--messages-per-connection` (0: no limit).
    pub(crate) messages_per_connection: u64,
    /// The `--verify-imap` result, `null` without it.
    pub(crate) verify: Option<VerifyDetails>,
}

/// The `smtp.verify` object.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct VerifyDetails {
    /// Every accepted message was found exactly once.
    pub(crate) passed: bool,
    /// Accepted messages (expected in the mailbox).
    pub(crate) expected: u64,
    /// Accepted messages found exactly once.
    pub(crate) found: u64,
    /// Accepted messages not found by the deadline.
    pub(crate) missing: u64,
    /// Accepted messages found more than once.
    pub(crate) duplicates: u64,
    /// Messages of this run found that were not acknowledged (a transaction that failed
    /// after the server had taken the message): reported, not a failure.
    pub(crate) unexpected: u64,
    /// From the start of sending until the last accepted message was visible over IMAP.
    pub(crate) e2e_seconds: f64,
    /// `expected / e2e_seconds`.
    pub(crate) e2e_rate_per_sec: f64,
}

/// The `imap` object.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct ImapDetails {
    /// `--ops`.
    pub(crate) ops_requested: u64,
    /// The operation weights used.
    pub(crate) mix: BTreeMap<String, u32>,
    /// `--login-churn`.
    pub(crate) login_churn: bool,
    /// Messages in the mailbox when the run started (after filling to the minimum; with
    /// several accounts, the smallest of their mailboxes).
    pub(crate) mailbox_messages: u32,
    /// `--accounts`.
    pub(crate) accounts: u32,
    /// `--switch-after` (operations per session with several accounts).
    pub(crate) switch_after: u64,
}

/// The `idle` object.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct IdleDetails {
    /// `--connections`.
    pub(crate) connections_requested: u64,
    /// Connections that reached IDLE.
    pub(crate) connections_idle: u64,
    /// The descriptor limit in force (after raising it to the hard limit).
    pub(crate) fd_limit: u64,
    /// Seconds from the first connect until the last connection was idling.
    pub(crate) setup_seconds: f64,
    /// `--probes`.
    pub(crate) probes_requested: u64,
    /// Probe messages the SMTP server accepted.
    pub(crate) probes_delivered: u64,
    /// EXISTS notifications expected (idle connections × delivered probes).
    pub(crate) notifications_expected: u64,
    /// EXISTS notifications seen in time.
    pub(crate) notifications_received: u64,
    /// Of those, how many arrived before our SMTP client read the 250 (counted as 0 ms in
    /// `exists`): the server announces a delivery before it acknowledges it.
    pub(crate) notifications_before_ack: u64,
    /// Server RSS before connecting, KiB (with `--server-pid`).
    pub(crate) rss_before_kib: Option<u64>,
    /// Server RSS with every connection idling, KiB (with `--server-pid`).
    pub(crate) rss_idle_kib: Option<u64>,
    /// `(rss_idle − rss_before) / connections_idle`, bytes (with `--server-pid`).
    pub(crate) memory_per_connection_bytes: Option<u64>,
}

/// The `bigbox` object.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct BigboxDetails {
    /// `--messages`.
    pub(crate) messages_requested: u64,
    /// Messages in the mailbox when the timed operations ran.
    pub(crate) messages_in_mailbox: u64,
    /// Messages this run appended to reach the size.
    pub(crate) appended: u64,
    /// Seconds the filling took.
    pub(crate) fill_seconds: f64,
    /// Messages appended per second.
    pub(crate) fill_rate_per_sec: f64,
    /// MULTIAPPEND was offered and used for filling.
    pub(crate) multiappend: bool,
    /// CONDSTORE was offered, so CHANGEDSINCE was timed.
    pub(crate) condstore: bool,
    /// Rounds of the timed operations completed.
    pub(crate) rounds: u64,
    /// Messages the last `SEARCH BODY` matched.
    pub(crate) search_matches: u64,
    /// Messages the last `SEARCH TEXT` matched.
    pub(crate) search_text_matches: u64,
    /// Messages the last CHANGEDSINCE fetch returned.
    pub(crate) changedsince_results: u64,
}

/// The `stress` object.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct StressDetails {
    /// `--accounts`.
    pub(crate) accounts: u32,
    /// Keywords in the pool (`--keywords`).
    pub(crate) keywords: u64,
    /// `--session-ops`.
    pub(crate) session_ops: u32,
    /// Sessions that ran from connect to the server's close without an error (= `ok`).
    pub(crate) sessions: u64,
    /// Of those started, how many enabled IMAP4rev2.
    pub(crate) rev2_sessions: u64,
    /// Commands sent.
    pub(crate) commands: u64,
    /// Messages appended.
    pub(crate) appended: u64,
    /// Messages this run expunged (and saw leave the view).
    pub(crate) expunged: u64,
    /// Protocol violations in total; the run passes only with 0.
    pub(crate) violations: u64,
    /// Violations per kind, every kind listed (0 included).
    pub(crate) violations_by_kind: BTreeMap<String, u64>,
    /// For each kind seen, the first occurrence: the session's last lines (`C:` client,
    /// `S:` server, literals as `<n bytes>`) and a `!! kind: detail` line.
    pub(crate) samples: BTreeMap<String, String>,
    /// Findings that concurrency made legitimate (another session changed or expunged
    /// the same message meanwhile), per kind: counted, not violations.
    pub(crate) excused: BTreeMap<String, u64>,
}

impl Report {
    /// A report for `scenario` with the recorder's latencies and errors; the caller fills
    /// in `ok` (and `passed` is computed by [`Report::finish`]).
    pub(crate) fn new(scenario: &'static str, recorder: &Recorder, seconds: f64, connections: u64) -> Report {
        Report {
            scenario,
            passed: false,
            ok: 0,
            errors: recorder.total_errors(),
            seconds: crate::stats::round3(seconds),
            rate_per_sec: 0.0,
            connections,
            latency_ms: recorder.summaries(seconds),
            server: None,
            error_messages: recorder.error_messages().clone(),
            fatal: None,
            smtp: None,
            imap: None,
            idle: None,
            bigbox: None,
            stress: None,
        }
    }

    /// A report for a run that could not start.
    pub(crate) fn fatal(scenario: &'static str, message: String) -> Report {
        let mut report = Report::new(scenario, &Recorder::default(), 0.0, 0);
        report.errors = 1;
        report.fatal = Some(message);
        report
    }

    /// Sets `ok`, computes the rate and whether the run passed (`extra_ok`: scenario
    /// checks such as verification).
    pub(crate) fn finish(mut self, ok: u64, extra_ok: bool) -> Report {
        self.ok = ok;
        self.rate_per_sec =
            if self.seconds > 0.0 { crate::stats::round3(ok as f64 / self.seconds) } else { 0.0 };
        self.passed = self.errors == 0 && self.fatal.is_none() && extra_ok;
        self
    }

    /// The JSON form (one line).
    pub(crate) fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"fatal\":\"serializing report: {e}\"}}"))
    }

    /// The table form.
    pub(crate) fn to_table(&self) -> String {
        let mut out = String::new();
        let verdict = if self.passed { "PASSED" } else { "FAILED" };
        let _ = writeln!(
            out,
            "moxide-load {}: {} ok, {} errors in {:.3} s = {:.1}/s ({} connections)  {verdict}",
            self.scenario, self.ok, self.errors, self.seconds, self.rate_per_sec, self.connections
        );
        if let Some(fatal) = &self.fatal {
            let _ = writeln!(out, "fatal: {fatal}");
        }
        if !self.latency_ms.is_empty() {
            let _ = writeln!(
                out,
                "{:<18} {:>9} {:>10} {:>9} {:>9} {:>9} {:>9} {:>7}",
                "operation", "ops", "ops/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"
            );
            for (name, s) in &self.latency_ms {
                let _ = writeln!(
                    out,
                    "{name:<18} {:>9} {:>10.1} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>7}",
                    s.count, s.rate_per_sec, s.p50, s.p90, s.p99, s.max, s.errors
                );
            }
        }
        if let Some(server) = &self.server {
            let pss = server.pss_end_kib.map_or_else(String::new, |pss| format!(", pss end {pss} KiB"));
            let _ = writeln!(
                out,
                "server: rss start {} KiB, end {} KiB, peak {} KiB{pss}; cpu {:.2} s ({} processes)",
                server.rss_start_kib,
                server.rss_end_kib,
                server.rss_peak_kib,
                server.cpu_seconds,
                server.processes
            );
        }
        let details = serde_json::to_value(self).ok();
        if let Some(object) = details.as_ref().and_then(|value| value.get(self.scenario)) {
            let _ = writeln!(out, "{}:", self.scenario);
            flatten_into(&mut out, "", object);
        }
        if let Some(stress) = &self.stress {
            for (kind, sample) in &stress.samples {
                let _ = writeln!(out, "first {kind}:");
                for line in sample.lines() {
                    let _ = writeln!(out, "  | {line}");
                }
            }
        }
        if !self.error_messages.is_empty() {
            let _ = writeln!(out, "errors:");
            for (message, count) in &self.error_messages {
                let _ = writeln!(out, "  {count:>6}x {message}");
            }
        }
        out
    }
}

/// Writes `value` as indented `key: value` lines, nested objects as `outer.inner`.
fn flatten_into(out: &mut String, prefix: &str, value: &serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            // Transcript samples are printed as blocks after the details.
            for (key, value) in
                map.iter().filter(|(key, _)| !(prefix.is_empty() && key.as_str() == "samples"))
            {
                let name = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                flatten_into(out, &name, value);
            }
        }
        other => {
            let _ = writeln!(out, "  {prefix}: {other}");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::time::Duration;

    fn sample() -> Report {
        let mut recorder = Recorder::default();
        for ms in [1, 2, 3, 4] {
            recorder.record("transaction", Duration::from_millis(ms));
        }
        let mut report = Report::new("smtp", &recorder, 2.0, 3);
        report.smtp = Some(SmtpDetails {
            messages_requested: 4,
            verify: Some(VerifyDetails { passed: true, expected: 4, found: 4, ..VerifyDetails::default() }),
            ..SmtpDetails::default()
        });
        report.finish(4, true)
    }

    #[test]
    fn json_has_the_documented_shape() {
        let json: serde_json::Value = serde_json::from_str(&sample().to_json()).unwrap();
        assert_eq!(json["scenario"], "smtp");
        assert_eq!(json["passed"], true);
        assert_eq!(json["ok"], 4);
        assert_eq!(json["errors"], 0);
        assert_eq!(json["seconds"], 2.0);
        assert_eq!(json["rate_per_sec"], 2.0);
        assert_eq!(json["connections"], 3);
        let transaction = &json["latency_ms"]["transaction"];
        for key in ["count", "errors", "rate_per_sec", "p50", "p90", "p99", "max", "mean"] {
            assert!(transaction[key].is_number(), "{key}");
        }
        assert!((transaction["p50"].as_f64().unwrap() - 2.0).abs() < 0.01);
        assert!((transaction["max"].as_f64().unwrap() - 4.0).abs() < 0.01);
        assert!(json["server"].is_null());
        assert_eq!(json["smtp"]["verify"]["found"], 4);
        assert!(json.get("fatal").is_none());
        assert!(json.get("imap").is_none());
    }

    #[test]
    fn errors_fail_the_run() {
        let mut recorder = Recorder::default();
        recorder.error("transaction", "550 no");
        let report = Report::new("smtp", &recorder, 1.0, 1).finish(0, true);
        assert!(!report.passed);
        assert_eq!(report.errors, 1);
        assert!(!Report::new("smtp", &Recorder::default(), 1.0, 1).finish(1, false).passed);
        let fatal = Report::fatal("imap", "login refused".into()).finish(0, true);
        assert!(!fatal.passed);
        assert!(fatal.to_json().contains("\"fatal\":\"login refused\""));
    }

    #[test]
    fn stress_samples_print_as_blocks() {
        let mut report = Report::new("stress", &Recorder::default(), 1.0, 2);
        let mut details = StressDetails { violations: 1, ..StressDetails::default() };
        details.violations_by_kind.insert("after_logout".into(), 1);
        details
            .samples
            .insert("after_logout".into(), "C: a1 LOGOUT\nS: * 1 EXISTS\n!! after_logout: x\n".into());
        report.stress = Some(details);
        let report = report.finish(3, false);
        assert!(!report.passed);
        let json: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        assert_eq!(json["stress"]["violations_by_kind"]["after_logout"], 1);
        let table = report.to_table();
        assert!(table.contains("  violations_by_kind.after_logout: 1\n"), "{table}");
        assert!(!table.contains("samples."), "{table}");
        assert!(table.contains("first after_logout:\n  | C: a1 LOGOUT\n  | S: * 1 EXISTS\n"), "{table}");
    }

    #[test]
    fn table_lists_operations_details_and_errors() {
        let mut report = sample();
        report.error_messages.insert("transaction: io: reset".into(), 2);
        let table = report.to_table();
        assert!(
            table.starts_with("moxide-load smtp: 4 ok, 0 errors in 2.000 s = 2.0/s (3 connections)  PASSED")
        );
        assert!(table.contains("\ntransaction                4        2.0"), "{table}");
        assert!(table.contains("  verify.passed: true"), "{table}");
        assert!(table.contains("       2x transaction: io: reset"), "{table}");
    }
}
