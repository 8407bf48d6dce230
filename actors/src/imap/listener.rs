//! Accepting IMAP connections on one core.

use std::rc::Rc;
use std::sync::Arc;

use moxide_runtime::net::{ConnectionLimiter, TcpListener};

use super::ImapSettings;
use super::session::run_session;
use crate::listen::{IpLimits, accept_loop};
use crate::node::Node;

/// Accepts forever, one session task per connection. Over a connection limit a client
/// gets `* BYE` (RFC 9051 §7.1.5) and is closed.
pub async fn serve(
    node: Node,
    settings: Rc<ImapSettings>,
    listener: TcpListener,
    limiter: ConnectionLimiter,
    ip_limits: Arc<IpLimits>,
) {
    let refusal: Rc<[u8]> = Rc::from(&b"* BYE [UNAVAILABLE] too many connections, try again later\r\n"[..]);
    let protocol = Arc::new(settings.protocol());
    accept_loop("imap", listener, limiter, ip_limits, refusal, move |stream, peer| {
        run_session(node.clone(), Rc::clone(&settings), Arc::clone(&protocol), stream, peer)
    })
    .await;
}
