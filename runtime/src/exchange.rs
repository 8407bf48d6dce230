//! One request and one reply over a new TCP connection, both framed with a two-octet
//! length prefix (RFC 1035 §4.2.2, DNS over TCP), within one deadline. The DNS stub
//! resolver uses it when a UDP answer came back truncated.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use futures_lite::{AsyncReadExt, AsyncWriteExt};

use crate::net::TcpStream;
use crate::time::timeout;

/// Connects to `address`, writes `request` (already framed), reads one framed reply of at
/// most `reply_bytes_max` octets and returns it without its prefix; all within `wait`.
pub async fn length_prefixed_exchange(
    address: SocketAddr,
    request: &[u8],
    wait: Duration,
    reply_bytes_max: usize,
) -> io::Result<Vec<u8>> {
    let exchange = async {
        let mut stream = TcpStream::connect(address).await?;
        stream.write_all(request).await?;
        stream.flush().await?;
        let mut prefix = [0u8; 2];
        stream.read_exact(&mut prefix).await?;
        let length = usize::from(u16::from_be_bytes(prefix));
        if length > reply_bytes_max {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "reply longer than allowed"));
        }
        let mut reply = vec![0u8; length];
        stream.read_exact(&mut reply).await?;
        Ok(reply)
    };
    timeout(wait, exchange)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "exchange timed out"))?
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::{RuntimeConfig, run};
    use std::io::{Read, Write};

    #[test]
    fn framed_request_and_reply() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut prefix = [0u8; 2];
            stream.read_exact(&mut prefix).unwrap();
            let mut request = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
            stream.read_exact(&mut request).unwrap();
            request.reverse();
            stream.write_all(&(request.len() as u16).to_be_bytes()).unwrap();
            stream.write_all(&request).unwrap();
        });
        let config = RuntimeConfig { pin_to_cpus: false, ..RuntimeConfig::default() };
        run(&config, vec![()], move |_, ()| async move {
            let reply =
                length_prefixed_exchange(address, b"\x00\x03abc", Duration::from_secs(5), 512).await.unwrap();
            assert_eq!(reply, b"cba");
            // Nobody listens here any more: an error, not a hang.
            let closed = "127.0.0.1:1".parse().unwrap();
            assert!(
                length_prefixed_exchange(closed, b"\x00\x01x", Duration::from_secs(5), 512).await.is_err()
            );
        })
        .unwrap();
        server.join().unwrap();
    }
}
