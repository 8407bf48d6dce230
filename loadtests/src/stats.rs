//! Latency recording per operation kind (HDR histograms in microseconds) and error
//! tallies. Each worker thread owns a [`Recorder`]; they are merged once at the end, so
//! recording never takes a lock.
//!
//! Histograms keep 3 significant digits from 1 µs to [`LATENCY_US_MAX`]: a percentile is
//! exact to 0.1%, and a slower operation is clamped (and still counted) rather than lost.

use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Highest latency a histogram resolves: one hour. Every run is bounded well below it.
pub(crate) const LATENCY_US_MAX: u64 = 3_600_000_000;

/// Significant decimal digits the histograms keep.
const SIGNIFICANT_DIGITS: u8 = 3;
const _: () = assert!(LATENCY_US_MAX >= 2 && SIGNIFICANT_DIGITS <= 5);

/// Distinct error messages kept per run; further kinds are counted under
/// [`OTHER_ERRORS`]. Enough to see every kind of failure, few enough for a readable report.
pub(crate) const ERROR_KINDS_MAX: usize = 20;

/// The key under which errors beyond [`ERROR_KINDS_MAX`] kinds are counted.
pub(crate) const OTHER_ERRORS: &str = "(other errors)";

/// Latencies and errors of one operation kind.
#[derive(Debug, Clone)]
struct Kind {
    histogram: Histogram<u64>,
    errors: u64,
}

impl Kind {
    #[expect(clippy::expect_used, reason = "constant bounds that hdrhistogram documents as valid")]
    fn new() -> Kind {
        // Valid: 1 ≤ low, high ≥ 2·low, digits ≤ 5 (checked below at compile time).
        let histogram = Histogram::new_with_bounds(1, LATENCY_US_MAX, SIGNIFICANT_DIGITS)
            .expect("histogram bounds are valid constants");
        Kind { histogram, errors: 0 }
    }
}

/// Records latencies per kind and tallies errors by message.
#[derive(Debug, Clone, Default)]
pub(crate) struct Recorder {
    kinds: BTreeMap<&'static str, Kind>,
    error_messages: BTreeMap<String, u64>,
}

/// Percentiles of one operation kind, in milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct KindSummary {
    /// Successful operations.
    pub(crate) count: u64,
    /// Failed operations.
    pub(crate) errors: u64,
    /// Successful operations per second of the run.
    pub(crate) rate_per_sec: f64,
    /// Median latency.
    pub(crate) p50: f64,
    /// 90th percentile.
    pub(crate) p90: f64,
    /// 99th percentile.
    pub(crate) p99: f64,
    /// Slowest.
    pub(crate) max: f64,
    /// Mean.
    pub(crate) mean: f64,
}

impl Recorder {
    /// A successful operation of `kind` that took `elapsed`.
    pub(crate) fn record(&mut self, kind: &'static str, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX).clamp(1, LATENCY_US_MAX);
        let entry = self.kinds.entry(kind).or_insert_with(Kind::new);
        entry.histogram.saturating_record(micros);
    }

    /// A failed operation of `kind`, described by `message`.
    pub(crate) fn error(&mut self, kind: &'static str, message: impl std::fmt::Display) {
        self.kinds.entry(kind).or_insert_with(Kind::new).errors += 1;
        self.note_error(format!("{kind}: {message}"));
    }

    /// `count` failed operations of `kind` with the same `message`.
    pub(crate) fn error_n(&mut self, kind: &'static str, count: u64, message: impl std::fmt::Display) {
        self.kinds.entry(kind).or_insert_with(Kind::new).errors += count;
        self.add_error_messages(format!("{kind}: {message}"), count);
    }

    /// Counts an error message without attributing it to an operation kind.
    pub(crate) fn note_error(&mut self, message: String) {
        self.add_error_messages(message, 1);
    }

    fn add_error_messages(&mut self, message: String, count: u64) {
        let key = if self.error_messages.len() < ERROR_KINDS_MAX || self.error_messages.contains_key(&message)
        {
            message
        } else {
            OTHER_ERRORS.to_string()
        };
        *self.error_messages.entry(key).or_insert(0) += count;
    }

    /// Adds everything `other` recorded.
    pub(crate) fn merge(&mut self, other: Recorder) {
        for (name, kind) in other.kinds {
            let entry = self.kinds.entry(name).or_insert_with(Kind::new);
            // Same bounds on both sides, so adding cannot fail; saturate if it ever did.
            if entry.histogram.add(&kind.histogram).is_err() {
                for value in kind.histogram.iter_recorded() {
                    entry.histogram.saturating_record_n(value.value_iterated_to(), value.count_at_value());
                }
            }
            entry.errors += kind.errors;
        }
        for (message, count) in other.error_messages {
            self.add_error_messages(message, count);
        }
    }

    /// Successful operations of `kind`.
    pub(crate) fn count(&self, kind: &str) -> u64 {
        self.kinds.get(kind).map_or(0, |k| k.histogram.len())
    }

    /// Failed operations of every kind.
    pub(crate) fn total_errors(&self) -> u64 {
        self.kinds.values().map(|k| k.errors).sum()
    }

    /// Error messages and how often each occurred.
    pub(crate) fn error_messages(&self) -> &BTreeMap<String, u64> {
        &self.error_messages
    }

    /// Percentiles per kind; rates over `seconds`.
    pub(crate) fn summaries(&self, seconds: f64) -> BTreeMap<String, KindSummary> {
        self.kinds.iter().map(|(name, kind)| ((*name).to_string(), summarize(kind, seconds))).collect()
    }
}

fn summarize(kind: &Kind, seconds: f64) -> KindSummary {
    let histogram = &kind.histogram;
    let count = histogram.len();
    let ms = |micros: u64| if count == 0 { 0.0 } else { round3(micros as f64 / 1000.0) };
    KindSummary {
        count,
        errors: kind.errors,
        rate_per_sec: if seconds > 0.0 { round3(count as f64 / seconds) } else { 0.0 },
        p50: ms(histogram.value_at_quantile(0.50)),
        p90: ms(histogram.value_at_quantile(0.90)),
        p99: ms(histogram.value_at_quantile(0.99)),
        max: ms(histogram.max()),
        mean: if count == 0 { 0.0 } else { round3(histogram.mean() / 1000.0) },
    }
}

/// `value` rounded to 3 decimals (microseconds in milliseconds; rates).
pub(crate) fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn percentiles_of_known_values() {
        let mut recorder = Recorder::default();
        for ms in 1..=100u64 {
            recorder.record("op", Duration::from_millis(ms));
        }
        recorder.error("op", "boom");
        let summary = &recorder.summaries(2.0)["op"];
        assert_eq!(summary.count, 100);
        assert_eq!(summary.errors, 1);
        assert_eq!(summary.rate_per_sec, 50.0);
        // 3 significant digits: within 0.1% of the exact value.
        for (got, want) in
            [(summary.p50, 50.0), (summary.p90, 90.0), (summary.p99, 99.0), (summary.max, 100.0)]
        {
            assert!((got - want).abs() <= want * 0.001 + 0.001, "{got} vs {want}");
        }
        assert!((summary.mean - 50.5).abs() < 0.1);
    }

    #[test]
    fn merge_adds_counts_and_errors() {
        let mut a = Recorder::default();
        let mut b = Recorder::default();
        a.record("x", Duration::from_micros(10));
        b.record("x", Duration::from_micros(30));
        b.record("y", Duration::from_secs(7200)); // clamped, still counted
        b.error("x", "refused");
        b.error("x", "refused");
        a.error("x", "refused");
        a.merge(b);
        assert_eq!(a.count("x"), 2);
        assert_eq!(a.count("y"), 1);
        assert_eq!(a.count("x") + a.count("y"), 3);
        assert_eq!(a.total_errors(), 3);
        assert_eq!(a.error_messages()["x: refused"], 3);
        let max = a.summaries(1.0)["y"].max;
        assert!((max - 3_600_000.0).abs() <= 3_600.0, "{max}");
    }

    #[test]
    fn error_kinds_are_bounded() {
        let mut recorder = Recorder::default();
        for i in 0..ERROR_KINDS_MAX + 5 {
            recorder.error("op", format!("error {i}"));
        }
        assert_eq!(recorder.error_messages().len(), ERROR_KINDS_MAX + 1);
        assert_eq!(recorder.error_messages()[OTHER_ERRORS], 5);
        let mut merged = Recorder::default();
        merged.merge(recorder);
        assert!(merged.error_messages().len() <= ERROR_KINDS_MAX + 1);
        assert_eq!(merged.error_messages().values().sum::<u64>(), ERROR_KINDS_MAX as u64 + 5);
        assert_eq!(merged.total_errors(), ERROR_KINDS_MAX as u64 + 5);
    }

    #[test]
    fn empty_kind_summarizes_to_zero() {
        let mut recorder = Recorder::default();
        recorder.error("connect", "refused");
        let summary = &recorder.summaries(0.0)["connect"];
        assert_eq!((summary.count, summary.p99, summary.rate_per_sec), (0, 0.0, 0.0));
    }
}
