//! UDP sockets on the current core (readiness through the core's reactor), for the DNS stub
//! resolver: one socket per query, bound to port 0 so the kernel picks a random source
//! port (RFC 5452 §9.2), with receive deadlines.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use crate::reactor::{Async, Direction};
use crate::time::{Elapsed, timeout};

/// A bound UDP socket on the current core.
pub struct UdpSocket {
    inner: Async<std::net::UdpSocket>,
}

impl std::fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdpSocket").field("local", &self.inner.get_ref().local_addr().ok()).finish()
    }
}

impl UdpSocket {
    /// Binds `address` (port 0: the kernel picks a random ephemeral port). Must be called
    /// on an executor thread.
    pub fn bind(address: SocketAddr) -> io::Result<UdpSocket> {
        let socket = std::net::UdpSocket::bind(address)?;
        socket.set_nonblocking(true)?;
        Ok(UdpSocket { inner: Async::new(socket)? })
    }

    /// Binds the unspecified address of `peer`'s family on a random port: the socket to
    /// talk to `peer` from.
    pub fn bind_for(peer: SocketAddr) -> io::Result<UdpSocket> {
        let any: IpAddr =
            if peer.is_ipv4() { Ipv4Addr::UNSPECIFIED.into() } else { Ipv6Addr::UNSPECIFIED.into() };
        UdpSocket::bind(SocketAddr::new(any, 0))
    }

    /// The bound address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().local_addr()
    }

    /// Sends one datagram.
    pub async fn send_to(&self, bytes: &[u8], peer: SocketAddr) -> io::Result<usize> {
        std::future::poll_fn(|cx| {
            self.inner.poll_io(Direction::Write, cx, |socket| socket.send_to(bytes, peer))
        })
        .await
    }

    /// Receives one datagram into `buf`; a longer datagram is cut to `buf`'s length.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        std::future::poll_fn(|cx| {
            self.inner.poll_io(Direction::Read, cx, |socket| socket.recv_from(&mut *buf))
        })
        .await
    }

    /// Receives one datagram, giving up after `wait`.
    pub async fn recv_from_within(
        &self,
        buf: &mut [u8],
        wait: Duration,
    ) -> Result<io::Result<(usize, SocketAddr)>, Elapsed> {
        timeout(wait, self.recv_from(buf)).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::{RuntimeConfig, run};

    #[test]
    fn datagrams_both_ways_and_a_deadline() {
        let config = RuntimeConfig { pin_to_cpus: false, ..RuntimeConfig::default() };
        run(&config, vec![()], |_, ()| async {
            let server = UdpSocket::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            let server_address = server.local_addr().unwrap();
            let client = UdpSocket::bind_for(server_address).unwrap();
            let client_address = client.local_addr().unwrap();
            assert_ne!(client_address.port(), 0);
            client.send_to(b"ping", server_address).await.unwrap();
            let mut buf = [0u8; 16];
            let (n, from) = server.recv_from(&mut buf).await.unwrap();
            assert_eq!((&buf[..n], from.port()), (&b"ping"[..], client_address.port()));
            server.send_to(b"pong", from).await.unwrap();
            let (n, _) = client.recv_from_within(&mut buf, Duration::from_secs(5)).await.unwrap().unwrap();
            assert_eq!(&buf[..n], b"pong");
            assert!(client.recv_from_within(&mut buf, Duration::from_millis(20)).await.is_err());
        })
        .unwrap();
    }
}
