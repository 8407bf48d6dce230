//! Accepting SMTP connections on one core.

use std::rc::Rc;
use std::sync::Arc;

use moxide_runtime::net::{ConnectionLimiter, TcpListener};

use super::SmtpSettings;
use super::session::run_session;
use crate::listen::{IpLimits, accept_loop};
use crate::node::Node;

/// Accepts forever, one session task per connection. Over a connection limit a client
/// gets `421 4.7.0` and is closed (RFC 5321 §3.8: 421 is the reply for "service not
/// available, closing").
pub async fn serve(
    node: Node,
    settings: Rc<SmtpSettings>,
    listener: TcpListener,
    limiter: ConnectionLimiter,
    ip_limits: Arc<IpLimits>,
) {
    let refusal =
        format!("421 4.7.0 {} too many connections, try again later\r\n", settings.protocol.hostname);
    accept_loop("smtp", listener, limiter, ip_limits, Rc::from(refusal.into_bytes()), move |stream, peer| {
        run_session(node.clone(), Rc::clone(&settings), stream, peer)
    })
    .await;
}
