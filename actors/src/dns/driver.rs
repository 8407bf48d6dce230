//! Drives one `Exchange` over real sockets: a fresh UDP socket per try (the kernel picks a
//! random source port), random message ids from the OS generator, the runtime's TCP
//! exchange after truncation, deadlines on the monotonic clock.

use std::sync::Arc;
use std::time::Duration;

use moxide_protocols::dns::{Answer, Exchange, ExchangeConfig, Question, ResolveError, Step, Transport};
use moxide_runtime::udp::UdpSocket;

use crate::clock::now_monotonic_ms;

/// Receive buffer for one UDP answer: we advertise a 1232-octet EDNS payload, so a
/// conforming answer fits with room to spare; a longer datagram is cut, fails to decode,
/// and counts as a failed try.
const UDP_RECEIVE_BYTES: usize = 4096;

/// Largest answer read over TCP: the protocol's own maximum (two-octet length prefix).
const TCP_REPLY_BYTES_MAX: usize = 65_535;

fn random_id() -> u16 {
    let mut bytes = [0u8; 2];
    moxide_runtime::random::fill(&mut bytes);
    u16::from_be_bytes(bytes)
}

/// Asks `question` until the exchange is done.
pub(super) async fn exchange(
    question: Question,
    config: Arc<ExchangeConfig>,
) -> Result<Arc<Answer>, ResolveError> {
    let mut exchange = Exchange::new(question, config);
    let mut socket: Option<UdpSocket> = None;
    let mut buffer = vec![0u8; UDP_RECEIVE_BYTES];
    loop {
        let now = now_monotonic_ms();
        match exchange.poll(now, random_id()) {
            Step::Done(result) => return result.map(Arc::new),
            Step::Send(transmit) if transmit.transport == Transport::Udp => {
                socket = match UdpSocket::bind_for(transmit.server) {
                    Ok(fresh) => match fresh.send_to(&transmit.bytes, transmit.server).await {
                        Ok(_) => Some(fresh),
                        Err(_) => None,
                    },
                    Err(_) => None,
                };
                if socket.is_none() {
                    exchange.handle_send_failure();
                }
            }
            Step::Send(transmit) => {
                let wait = Duration::from_millis(transmit.deadline_ms.saturating_sub(now));
                let reply = moxide_runtime::exchange::length_prefixed_exchange(
                    transmit.server,
                    &transmit.bytes,
                    wait,
                    TCP_REPLY_BYTES_MAX,
                )
                .await;
                exchange.handle_tcp(reply.as_deref().ok());
            }
            Step::Wait { deadline_ms } => {
                let Some(udp) = &socket else {
                    exchange.handle_send_failure();
                    continue;
                };
                let wait = Duration::from_millis(deadline_ms.saturating_sub(now).max(1));
                match udp.recv_from_within(&mut buffer, wait).await {
                    Ok(Ok((length, from))) => exchange.handle_udp(from, &buffer[..length]),
                    // A socket error (e.g. ICMP port unreachable): this try failed.
                    Ok(Err(_)) => exchange.handle_send_failure(),
                    // The deadline passed: the next poll moves on.
                    Err(_) => {}
                }
            }
        }
    }
}
