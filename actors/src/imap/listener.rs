//! Accepting IMAP connections on one core.

use std::rc::Rc;

use moxide_runtime::net::{ConnectionLimiter, TcpListener};

use super::ImapSettings;
use super::session::run_session;
use crate::listen::accept_loop;
use crate::node::Node;

/// Accepts forever, one session task per connection. Over the connection limit a client
/// gets `* BYE` (RFC 9051 §7.1.5) and is closed.
pub async fn serve(
    node: Node,
    settings: Rc<ImapSettings>,
    listener: TcpListener,
    limiter: ConnectionLimiter,
) {
    let refusal: Rc<[u8]> = Rc::from(&b"* BYE [UNAVAILABLE] too many connections, try again later\r\n"[..]);
    accept_loop("imap", listener, limiter, refusal, move |stream, peer| {
        run_session(node.clone(), Rc::clone(&settings), stream, peer)
    })
    .await;
}
