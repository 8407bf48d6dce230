//! Process-wide metrics in the Prometheus data model (prometheus-client), counted where
//! things happen and rendered by the HTTP plane at `/metrics`.
//!
//! Every label value is one of a fixed set of `&'static str` (protocol names, result
//! classes, IMAP command names from a closed list): no label grows with client input, so
//! the number of series is bounded by the code, not by traffic. Counters are atomics
//! shared by all cores; an increment is one uncontended-in-practice atomic add.

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// A protocol or listener kind: `smtp`, `submission`, `imap`, `http`.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProtocolLabels {
    /// Listener protocol.
    pub protocol: &'static str,
}

/// A refused connection: the listener's protocol and why.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RefusalLabels {
    /// Listener protocol.
    pub protocol: &'static str,
    /// `listener_full` or `network_limit`.
    pub reason: &'static str,
}

/// A login attempt.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LoginLabels {
    /// SASL mechanism (`plain`, `scram-sha-256`, ...), `password` for IMAP LOGIN and the
    /// HTTP API.
    pub mechanism: &'static str,
    /// `ok`, `bad_credentials`, `rate_limited`, `malformed`, `unavailable`, `temporary`.
    pub result: &'static str,
}

/// Something that ends in a result class.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    /// Result class.
    pub result: &'static str,
}

/// An IMAP command and how it ended.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommandLabels {
    /// Command name, lower case, from the closed set of
    /// `moxide_protocols::imap::CommandBody::name` (and `append`).
    pub command: &'static str,
    /// `ok`, `no`, `bad`, `error`.
    pub result: &'static str,
}

/// An IMAP command name alone (for its latency histogram).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CommandNameLabels {
    /// Command name, lower case.
    pub command: &'static str,
}

/// A rate limit that refused something.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LimitLabels {
    /// `connection`, `auth`, `http_request`.
    pub limit: &'static str,
}

/// An HTTP request by its status class.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// `2xx`, `4xx`, ...
    pub status: &'static str,
}

/// A core (executor) by index.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CoreLabels {
    /// Core index.
    pub core: u32,
}

/// All series; see the module docs.
#[derive(Debug)]
pub struct Metrics {
    /// Connections accepted, by listener protocol.
    pub connections: Family<ProtocolLabels, Counter>,
    /// Connections refused at accept, by protocol and reason.
    pub connections_refused: Family<RefusalLabels, Counter>,
    /// Logins by mechanism and result (SMTP AUTH, IMAP, HTTP API).
    pub logins: Family<LoginLabels, Counter>,
    /// Refusals by a rate limit.
    pub ratelimit_refusals: Family<LimitLabels, Counter>,
    /// SMTP transactions (one per message) by result: `delivered`, `refused`, `failed`.
    pub smtp_transactions: Family<ResultLabels, Counter>,
    /// Deliveries to an account (one per message and account) by result.
    pub deliveries: Family<ResultLabels, Counter>,
    /// Seconds from asking an account actor to deliver until it answered.
    pub delivery_seconds: Histogram,
    /// IMAP commands by name and result.
    pub imap_commands: Family<CommandLabels, Counter>,
    /// IMAP command latency by name.
    pub imap_command_seconds: Family<CommandNameLabels, Histogram>,
    /// Writes per account-actor commit batch.
    pub commit_batch_writes: Histogram,
    /// Seconds per account-actor commit batch (on the helper thread, fsyncs included).
    pub commit_seconds: Histogram,
    /// HTTP requests by status class.
    pub http_requests: Family<HttpLabels, Counter>,
    /// Seconds each core's executor spent running tasks and polling I/O.
    pub executor_busy_seconds: Family<CoreLabels, Counter<f64, std::sync::atomic::AtomicU64>>,
}

fn latency_histogram() -> Histogram {
    // 100 µs to ~105 s in ×2 steps: fsyncs and commits sit at the low end, a slow
    // SEARCH or a big APPEND at the high end.
    Histogram::new(exponential_buckets(0.0001, 2.0, 21))
}

impl Metrics {
    fn new() -> Metrics {
        Metrics {
            connections: Family::default(),
            connections_refused: Family::default(),
            logins: Family::default(),
            ratelimit_refusals: Family::default(),
            smtp_transactions: Family::default(),
            deliveries: Family::default(),
            delivery_seconds: latency_histogram(),
            imap_commands: Family::default(),
            imap_command_seconds: Family::new_with_constructor(latency_histogram),
            commit_batch_writes: Histogram::new(exponential_buckets(1.0, 2.0, 11)),
            commit_seconds: latency_histogram(),
            http_requests: Family::default(),
            executor_busy_seconds: Family::default(),
        }
    }

    fn register(&'static self, registry: &mut Registry) {
        registry.register(
            "connections",
            "Connections accepted, by listener protocol",
            self.connections.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections refused at accept (listener full or a network over its limits)",
            self.connections_refused.clone(),
        );
        registry.register("logins", "Logins by mechanism and result", self.logins.clone());
        registry.register("ratelimit_refusals", "Refusals by a rate limit", self.ratelimit_refusals.clone());
        registry.register(
            "smtp_transactions",
            "SMTP transactions (one per message) by result",
            self.smtp_transactions.clone(),
        );
        registry.register("deliveries", "Deliveries to accounts by result", self.deliveries.clone());
        registry.register(
            "delivery_seconds",
            "Time from handing a message to an account actor until it is durable",
            self.delivery_seconds.clone(),
        );
        registry.register("imap_commands", "IMAP commands by name and result", self.imap_commands.clone());
        registry.register("imap_command_seconds", "IMAP command latency", self.imap_command_seconds.clone());
        registry.register(
            "commit_batch_writes",
            "Write requests per account actor commit batch",
            self.commit_batch_writes.clone(),
        );
        registry.register(
            "commit_seconds",
            "Account actor commit batch latency",
            self.commit_seconds.clone(),
        );
        registry.register("http_requests", "HTTP requests by status class", self.http_requests.clone());
        registry.register(
            "executor_busy_seconds",
            "Time each core's executor ran tasks and polled I/O",
            self.executor_busy_seconds.clone(),
        );
    }
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// The process's metrics.
pub fn metrics() -> &'static Metrics {
    METRICS.get_or_init(Metrics::new)
}

/// A registry (prefix `moxide`) with every series of [`metrics`]; the HTTP plane adds
/// its collectors and renders it.
pub fn registry() -> Registry {
    let mut registry = Registry::with_prefix("moxide");
    metrics().register(&mut registry);
    registry
}

/// Counts one login attempt.
pub fn count_login(mechanism: &'static str, result: &'static str) {
    metrics().logins.get_or_create(&LoginLabels { mechanism, result }).inc();
}

/// Counts one refusal by a rate limit.
pub fn count_ratelimit(limit: &'static str) {
    metrics().ratelimit_refusals.get_or_create(&LimitLabels { limit }).inc();
}

/// Adds this core's executor busy time to its counter every `interval`, forever (spawn
/// it on every core).
pub async fn sample_executor_busy(core: usize, interval: std::time::Duration) {
    let labels = CoreLabels { core: u32::try_from(core).unwrap_or(u32::MAX) };
    let mut last = moxide_runtime::stats::busy_time();
    metrics().executor_busy_seconds.get_or_create(&labels).inc_by(last.as_secs_f64());
    loop {
        moxide_runtime::time::sleep(interval).await;
        let now = moxide_runtime::stats::busy_time();
        metrics().executor_busy_seconds.get_or_create(&labels).inc_by((now - last).as_secs_f64());
        last = now;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn logins_are_rendered_with_their_labels() {
        count_login("plain", "ok");
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry()).unwrap();
        assert!(text.contains("moxide_logins_total{mechanism=\"plain\",result=\"ok\"} 1"), "{text}");
    }
}
