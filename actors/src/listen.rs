//! The accept loop every protocol listener shares: connection limit, one task per
//! connection, panics contained to their connection, refusals logged as a summary per
//! window, and the end of accepting when the core starts shutting down.
//!
//! Invariants: a connection's [`ConnectionPermit`](moxide_runtime::net::ConnectionLimiter)
//! is held until its session task has ended (so a listener's open count reaching zero
//! means its sessions are gone, which the graceful shutdown waits for); the loop never
//! logs more than one line per refused connection class per window, however many
//! clients a flood brings.

use std::cell::RefCell;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::{AsyncWriteExt, FutureExt};
use moxide_runtime::net::{ConnectionLimiter, TcpListener, TcpStream};
use moxide_runtime::offload::panic_text;
use moxide_runtime::spawn_detached;

use crate::ratelimit::Limiter;

/// Pause after a failed accept (EMFILE and friends) instead of spinning on it.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(50);

/// Refused connections are logged once per this window (per listener and core): the
/// first with its client, the rest as one count when the window ends. One minute is the
/// connection rate limit's window, so a flood that keeps hitting the limit logs one
/// summary per window of the limit it hits, not one line per connection (a flood of
/// 10k connections a second would otherwise write 600k lines a minute).
pub const REFUSAL_LOG_WINDOW: Duration = Duration::from_secs(60);

/// Per-client-network limits on new and open connections (shared by every listener and
/// core; see [`crate::ratelimit`]).
pub struct IpLimits {
    /// New connections per window.
    pub rate: Limiter,
    /// Open connections (released when they close).
    pub open: Limiter,
    /// Addresses the limits do not apply to.
    pub exempt: Vec<IpAddr>,
}

impl IpLimits {
    /// Admits a connection from `ip`: counts it against both limiters, or refuses.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<IpPermit> {
        if self.exempt.contains(&ip) {
            return Some(IpPermit { limits: None, ip });
        }
        let now = crate::clock::now_unix_ms();
        if !self.rate.add(ip, now, 1) {
            return None;
        }
        if !self.open.add(ip, now, 1) {
            return None;
        }
        Some(IpPermit { limits: Some(Arc::clone(self)), ip })
    }
}

/// An admitted connection's place in the open-connection count.
struct IpPermit {
    limits: Option<Arc<IpLimits>>,
    ip: IpAddr,
}

impl Drop for IpPermit {
    fn drop(&mut self) {
        if let Some(limits) = &self.limits {
            limits.open.release(self.ip, crate::clock::now_unix_ms(), 1);
        }
    }
}

/// Accepts until this core starts shutting down (then the listening socket is closed
/// and the loop returns). Over a limit (the listener's connection count, or the
/// per-network rate and open-connection limits), the client gets `refusal` (the
/// protocol's "busy, go away" line) and is closed; otherwise `session(stream, peer)`
/// runs as its own task.
pub async fn accept_loop<F, Fut>(
    protocol: &'static str,
    listener: TcpListener,
    limiter: ConnectionLimiter,
    ip_limits: Arc<IpLimits>,
    refusal: Rc<[u8]>,
    session: F,
) where
    F: Fn(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + 'static,
{
    let shutdown = moxide_runtime::shutdown::notice();
    let refusals = Rc::new(RefCell::new(RefusalLog::new(REFUSAL_LOG_WINDOW)));
    loop {
        let accepted = futures_lite::future::or(async { Some(listener.accept().await) }, async {
            shutdown.draining().await;
            None
        })
        .await;
        let Some(accepted) = accepted else { break };
        let stream = match accepted {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(protocol, %error, "accept failed");
                moxide_runtime::time::sleep(ACCEPT_RETRY_DELAY).await;
                continue;
            }
        };
        let peer = stream.peer_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let Some(permit) = limiter.try_acquire() else {
            count_refusal(protocol, Refusal::ListenerFull);
            record_refusal(protocol, &refusals, Refusal::ListenerFull, peer);
            spawn_detached(refuse(stream, Rc::clone(&refusal)));
            continue;
        };
        let Some(ip_permit) = ip_limits.admit(peer.ip()) else {
            count_refusal(protocol, Refusal::NetworkLimit);
            crate::metrics::count_ratelimit("connection");
            record_refusal(protocol, &refusals, Refusal::NetworkLimit, peer);
            spawn_detached(refuse(stream, Rc::clone(&refusal)));
            continue;
        };
        crate::metrics::metrics()
            .connections
            .get_or_create(&crate::metrics::ProtocolLabels { protocol })
            .inc();
        // Boxed: the task below would otherwise hold the session's future twice (an
        // `async move` block keeps what it captured apart from the future it awaits),
        // some 6 KiB more for every open connection.
        let connection = Box::pin(std::panic::AssertUnwindSafe(session(stream, peer)).catch_unwind());
        spawn_detached(async move {
            if let Err(panic) = connection.await {
                tracing::error!(protocol, %peer, panic = %panic_text(panic.as_ref()), "session panicked; connection dropped");
            }
            drop(permit);
            drop(ip_permit);
        });
    }
    drop(listener);
    if let Some(summary) = refusals.borrow_mut().flush() {
        summary.log(protocol);
    }
    tracing::debug!(protocol, "listener closed for shutdown");
}

fn count_refusal(protocol: &'static str, refusal: Refusal) {
    let reason = match refusal {
        Refusal::ListenerFull => "listener_full",
        Refusal::NetworkLimit => "network_limit",
    };
    crate::metrics::metrics()
        .connections_refused
        .get_or_create(&crate::metrics::RefusalLabels { protocol, reason })
        .inc();
}

/// Logs a refusal, or counts it for the window's summary (and makes sure the summary is
/// written when the window ends even if no refusal follows).
fn record_refusal(protocol: &'static str, log: &Rc<RefCell<RefusalLog>>, refusal: Refusal, peer: SocketAddr) {
    let now_ms = crate::clock::now_monotonic_ms();
    let decision = log.borrow_mut().record(now_ms, refusal);
    if let Some(summary) = decision.summary {
        summary.log(protocol);
    }
    if decision.log_this {
        tracing::info!(protocol, %peer, reason = refusal.text(), "connection refused; more refusals in the next minute are counted, not logged one by one");
    }
    if let Some(window_end_ms) = decision.flush_at_ms {
        let log = Rc::clone(log);
        spawn_detached(async move {
            let wait_ms = window_end_ms.saturating_sub(crate::clock::now_monotonic_ms());
            moxide_runtime::time::sleep(Duration::from_millis(wait_ms)).await;
            let summary = log.borrow_mut().flush_due(crate::clock::now_monotonic_ms());
            if let Some(summary) = summary {
                summary.log(protocol);
            }
        });
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Refusal {
    /// The listener's `connections_max` was reached.
    ListenerFull,
    /// The client's network is over its connection rate or open-connection limit.
    NetworkLimit,
}

impl Refusal {
    fn text(self) -> &'static str {
        match self {
            Refusal::ListenerFull => "listener connection limit reached",
            Refusal::NetworkLimit => "too many connections from this network",
        }
    }
}

/// Refusals not logged one by one in a window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RefusalSummary {
    listener_full: u64,
    network_limit: u64,
    window_ms: u64,
}

impl RefusalSummary {
    fn log(self, protocol: &'static str) {
        tracing::info!(
            protocol,
            listener_full = self.listener_full,
            network_limit = self.network_limit,
            window_secs = self.window_ms / 1000,
            "more connections refused in the last window"
        );
    }
}

/// What to do about one refusal.
#[derive(Debug, PartialEq, Eq)]
struct RefusalDecision {
    /// The previous window's summary, due now.
    summary: Option<RefusalSummary>,
    /// Log this refusal on its own line (the first of its window).
    log_this: bool,
    /// Write the summary at this time (monotonic ms) unless a refusal does it first.
    flush_at_ms: Option<u64>,
}

/// The refusal log's state: a pure decision maker, so it is tested without a clock.
#[derive(Debug)]
struct RefusalLog {
    window_ms: u64,
    /// Start of the current window; `None` before the first refusal.
    window_start_ms: Option<u64>,
    /// Refusals counted, not logged, in the current window.
    counted: RefusalSummary,
    /// A timer will flush this window.
    flush_scheduled: bool,
}

impl RefusalLog {
    fn new(window: Duration) -> RefusalLog {
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX).max(1);
        RefusalLog {
            window_ms,
            window_start_ms: None,
            counted: RefusalSummary { listener_full: 0, network_limit: 0, window_ms },
            flush_scheduled: false,
        }
    }

    fn record(&mut self, now_ms: u64, refusal: Refusal) -> RefusalDecision {
        let summary = self.flush_due(now_ms);
        let Some(start_ms) = self.window_start_ms else {
            self.window_start_ms = Some(now_ms);
            return RefusalDecision { summary, log_this: true, flush_at_ms: None };
        };
        match refusal {
            Refusal::ListenerFull => self.counted.listener_full += 1,
            Refusal::NetworkLimit => self.counted.network_limit += 1,
        }
        let flush_at_ms = (!self.flush_scheduled).then(|| start_ms.saturating_add(self.window_ms));
        self.flush_scheduled = true;
        RefusalDecision { summary, log_this: false, flush_at_ms }
    }

    /// The summary of a window that has ended, if it counted anything; a new window
    /// starts with the next refusal.
    fn flush_due(&mut self, now_ms: u64) -> Option<RefusalSummary> {
        let start_ms = self.window_start_ms?;
        if now_ms < start_ms.saturating_add(self.window_ms) {
            return None;
        }
        self.flush()
    }

    /// Ends the current window now (the listener stops): its summary, if it counted
    /// anything.
    fn flush(&mut self) -> Option<RefusalSummary> {
        self.window_start_ms = None;
        self.flush_scheduled = false;
        let counted = self.counted;
        self.counted.listener_full = 0;
        self.counted.network_limit = 0;
        (counted.listener_full + counted.network_limit > 0).then_some(counted)
    }
}

async fn refuse(mut stream: TcpStream, line: Rc<[u8]>) {
    let _ = stream.write_all(&line).await;
    let _ = stream.close().await;
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn a_flood_of_refusals_logs_one_line_and_one_summary_per_window() {
        let mut log = RefusalLog::new(Duration::from_secs(60));
        let first = log.record(1_000, Refusal::ListenerFull);
        assert_eq!(first, RefusalDecision { summary: None, log_this: true, flush_at_ms: None });
        let second = log.record(1_001, Refusal::NetworkLimit);
        assert_eq!(second, RefusalDecision { summary: None, log_this: false, flush_at_ms: Some(61_000) });
        for i in 0..10_000 {
            let decision = log.record(2_000 + i, Refusal::ListenerFull);
            assert!(!decision.log_this && decision.summary.is_none() && decision.flush_at_ms.is_none());
        }
        assert_eq!(log.flush_due(60_999), None, "the window has not ended");
        let summary = log.flush_due(61_000).expect("window over");
        assert_eq!((summary.listener_full, summary.network_limit), (10_000, 1));
        assert_eq!(log.flush_due(200_000), None, "nothing counted since");
        // The next refusal opens a new window and is logged on its own again.
        assert!(log.record(300_000, Refusal::NetworkLimit).log_this);
    }

    #[test]
    fn a_refusal_after_the_window_carries_the_summary() {
        let mut log = RefusalLog::new(Duration::from_secs(60));
        assert!(log.record(0, Refusal::ListenerFull).log_this);
        assert!(!log.record(10, Refusal::ListenerFull).log_this);
        let late = log.record(90_000, Refusal::ListenerFull);
        assert_eq!(late.summary.map(|s| s.listener_full), Some(1));
        assert!(late.log_this, "first of the next window");
        // Stopping the listener writes what was counted so far.
        assert!(!log.record(90_001, Refusal::NetworkLimit).log_this);
        assert_eq!(log.flush().map(|s| s.network_limit), Some(1));
        assert_eq!(log.flush(), None);
    }
}
