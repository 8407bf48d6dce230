//! The accept loop every protocol listener shares: connection limit, one task per
//! connection, panics contained to their connection, and the end of accepting when the
//! core starts shutting down.
//!
//! Invariant: a connection's [`ConnectionPermit`](moxide_runtime::net::ConnectionLimiter)
//! is held until its session task has ended, so a listener's open count reaching zero
//! means its sessions are gone, which the graceful shutdown waits for.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use futures_lite::{AsyncWriteExt, FutureExt};
use moxide_runtime::net::{ConnectionLimiter, TcpListener, TcpStream};
use moxide_runtime::spawn_detached;

use crate::ratelimit::Limiter;

/// Pause after a failed accept (EMFILE and friends) instead of spinning on it.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_millis(50);

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
            tracing::info!(protocol, %peer, "connection refused: limit reached");
            spawn_detached(refuse(stream, Rc::clone(&refusal)));
            continue;
        };
        let Some(ip_permit) = ip_limits.admit(peer.ip()) else {
            tracing::info!(protocol, %peer, "connection refused: too many connections from this network");
            spawn_detached(refuse(stream, Rc::clone(&refusal)));
            continue;
        };
        let connection = std::panic::AssertUnwindSafe(session(stream, peer));
        spawn_detached(async move {
            if let Err(panic) = connection.catch_unwind().await {
                tracing::error!(protocol, %peer, panic = %panic_text(panic.as_ref()), "session panicked; connection dropped");
            }
            drop(permit);
            drop(ip_permit);
        });
    }
    drop(listener);
    tracing::debug!(protocol, "listener closed for shutdown");
}

async fn refuse(mut stream: TcpStream, line: Rc<[u8]>) {
    let _ = stream.write_all(&line).await;
    let _ = stream.close().await;
}

/// The message of a panic payload, when it has one.
pub(crate) fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_string())
}
