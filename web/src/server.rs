//! HTTP connections: TCP (plain or TLS) from the shared accept loop, and the control
//! socket. hyper serves HTTP/1.1 and HTTP/2 on each (detected from the first bytes:
//! HTTP/2 with prior knowledge or by ALPN `h2` under TLS).
//!
//! Limits: request head at most [`HEADER_BYTES_MAX`] (HTTP/1 buffer; HTTP/2 header
//! list), body at most `API_BODY_BYTES_MAX`, [`HTTP2_STREAMS_MAX`] concurrent HTTP/2
//! streams, requests per client network (the request limiter), and reads idle for
//! [`HTTP_IDLE_TIMEOUT`] end the connection (a keep-alive connection left open, or a
//! client trickling its request).
//!
//! Shutdown: when the core starts draining, each connection is told to shut down
//! gracefully (HTTP/1: close after the response under way; HTTP/2: GOAWAY, finish open
//! streams); when the grace ends it is dropped.

use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::server::conn::auto;
use moxide_actors::Node;
use moxide_actors::listen::{IpLimits, accept_loop};
use moxide_runtime::net::{ConnectionLimiter, TcpListener, TcpStream};
use moxide_runtime::tls::TlsAcceptor;
use moxide_runtime::{Stream, spawn_detached};

use crate::WebServices;
use crate::api::{Ctx, Origin, handle};
use crate::io::{HyperIo, LocalExec};

/// Largest request head (request line and headers; HTTP/2 header list). 16 KiB is
/// more than any API client sends and what many servers allow.
pub const HEADER_BYTES_MAX: usize = 16 * 1024;

/// Concurrent HTTP/2 streams per connection: an admin client needs a handful.
pub const HTTP2_STREAMS_MAX: u32 = 32;

/// A connection whose reads wait this long ends.
pub const HTTP_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The refusal a busy listener writes before closing.
const REFUSAL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

/// Accepts HTTP connections on this core until it drains.
pub async fn serve(
    node: Node,
    services: Arc<WebServices>,
    tls: Option<TlsAcceptor>,
    listener: TcpListener,
    limiter: ConnectionLimiter,
    ip_limits: Arc<IpLimits>,
) {
    let ctx = Rc::new(Ctx { node, services });
    accept_loop(
        "http",
        listener,
        limiter,
        ip_limits,
        Rc::from(REFUSAL),
        move |tcp: TcpStream, peer: SocketAddr| {
            let ctx = Rc::clone(&ctx);
            let tls = tls.clone();
            async move {
                let mut stream = Stream::from(tcp);
                if let Some(acceptor) = &tls {
                    stream = match stream.start_tls(acceptor).await {
                        Ok(stream) => stream,
                        Err(error) => {
                            tracing::debug!(%peer, %error, "HTTPS handshake failed");
                            return;
                        }
                    };
                }
                if let Err(error) = stream.set_read_timeout(Some(HTTP_IDLE_TIMEOUT)) {
                    tracing::warn!(%error, "cannot set the read timeout");
                    return;
                }
                connection(ctx, stream, Origin::Tcp(peer.ip())).await;
            }
        },
    )
    .await;
}

/// Serves the control socket on this core (one core is enough) until it drains; each
/// connection holds a permit of `limiter`, so the shutdown waits for it.
pub async fn serve_control(
    node: Node,
    services: Arc<WebServices>,
    listener: moxide_runtime::unix::UnixListener,
    limiter: ConnectionLimiter,
) {
    let ctx = Rc::new(Ctx { node, services });
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
                tracing::warn!(%error, "control socket accept failed");
                moxide_runtime::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(permit) = limiter.try_acquire() else { continue };
        let ctx = Rc::clone(&ctx);
        spawn_detached(async move {
            connection(ctx, stream, Origin::Control).await;
            drop(permit);
        });
    }
    tracing::debug!(path = %listener.path().display(), "control socket closed for shutdown");
}

/// One connection: HTTP/1.1 or HTTP/2, until the client closes, a read idles out, or the
/// shutdown's grace ends.
async fn connection<S>(ctx: Rc<Ctx>, stream: S, origin: Origin)
where
    S: futures_lite::AsyncRead + futures_lite::AsyncWrite + Unpin + 'static,
{
    let service = service_fn(move |request| {
        let ctx = Rc::clone(&ctx);
        async move { Ok::<_, std::convert::Infallible>(handle(ctx, origin, request).await) }
    });
    let mut builder = auto::Builder::new(LocalExec);
    // half_close: while a response is being written (a long export), hyper would
    // otherwise keep a read pending to notice the client leaving, and the idle read
    // timeout would end a healthy download after HTTP_IDLE_TIMEOUT; a client that goes
    // away still ends it (the next write fails).
    builder.http1().max_buf_size(HEADER_BYTES_MAX).header_read_timeout(None).half_close(true);
    builder
        .http2()
        .max_header_list_size(u32::try_from(HEADER_BYTES_MAX).unwrap_or(u32::MAX))
        .max_concurrent_streams(HTTP2_STREAMS_MAX);
    let connection = builder.serve_connection(HyperIo(stream), service);
    let mut connection = std::pin::pin!(connection);
    let shutdown = moxide_runtime::shutdown::notice();
    let finished = futures_lite::future::or(async { Some(connection.as_mut().await) }, async {
        shutdown.draining().await;
        None
    })
    .await;
    let result = match finished {
        Some(result) => result,
        None => {
            connection.as_mut().graceful_shutdown();
            let drained = futures_lite::future::or(async { Some(connection.as_mut().await) }, async {
                shutdown.closing().await;
                None
            })
            .await;
            match drained {
                Some(result) => result,
                None => return,
            }
        }
    };
    if let Err(error) = result {
        tracing::debug!(%error, "HTTP connection ended with an error");
    }
}
