//! Accepting SMTP connections on one core.

use std::net::SocketAddr;
use std::rc::Rc;

use futures_lite::{AsyncWriteExt, FutureExt};
use moxide_runtime::net::{ConnectionLimiter, TcpListener, TcpStream};
use moxide_runtime::spawn_detached;

use super::SmtpSettings;
use super::session::run_session;
use crate::node::Node;

/// Accepts forever, one session task per connection. Over the connection limit a client
/// gets `421 4.7.0` and is closed (RFC 5321 §3.8: 421 is the reply for "service not
/// available, closing").
pub async fn serve(
    node: Node,
    settings: Rc<SmtpSettings>,
    listener: TcpListener,
    limiter: ConnectionLimiter,
) {
    loop {
        let stream = match listener.accept().await {
            Ok(stream) => stream,
            Err(error) => {
                // EMFILE and friends: back off briefly instead of spinning.
                tracing::warn!(%error, "accept failed");
                moxide_runtime::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let peer = stream.peer_addr().unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let Some(permit) = limiter.try_acquire() else {
            spawn_detached(refuse(stream, Rc::clone(&settings)));
            continue;
        };
        let node = node.clone();
        let settings = Rc::clone(&settings);
        spawn_detached(async move {
            let session = std::panic::AssertUnwindSafe(run_session(node, settings, stream, peer));
            if let Err(panic) = session.catch_unwind().await {
                let text = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(%peer, panic = %text, "smtp session panicked; connection dropped");
            }
            drop(permit);
        });
    }
}

async fn refuse(mut stream: TcpStream, settings: Rc<SmtpSettings>) {
    let line = format!("421 4.7.0 {} too many connections, try again later\r\n", settings.protocol.hostname);
    let _ = stream.write_all(line.as_bytes()).await;
    let _ = stream.close().await;
}
