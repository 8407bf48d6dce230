//! Hostile input: random bytes, 200 KB lines, binary floods, half-closed connections. The
//! server must not crash, must answer with protocol errors or close, and must keep serving
//! well-behaved clients afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{Client, Rng, Server, message_for, stored_messages};

fn send_garbage(address: std::net::SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // The server may close early (too many errors): a failed write is fine.
    let _ = stream.write_all(bytes);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let mut reply = Vec::new();
    let _ = stream.read_to_end(&mut reply);
    reply
}

#[test]
fn garbage_does_not_hurt_later_clients() {
    let (mut rng, seed) = Rng::from_env_or_time("GARBAGE_SEED");
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), 2);
    let address = server.smtp;

    // A 200 KB line: one "line too long" error, then the session goes on.
    let mut client = Client::connect(address).unwrap();
    client.hello().unwrap();
    let mut long = vec![b'A'; 200_000];
    long.extend_from_slice(b"\r\n");
    client.send(&long).unwrap();
    let reply = client.reply().unwrap();
    assert_eq!(reply.code, 500, "{reply:?}");
    assert_eq!(client.command("NOOP").unwrap().code, 250);
    let reply =
        client.deliver("a@example.org", &["mox@localhost"], &message_for("after-long-line", 500)).unwrap();
    assert_eq!(reply.code, 250, "{reply:?}");

    // Random bytes in several connections at once, some huge, some tiny.
    let floods: Vec<_> = (0..6)
        .map(|i| {
            let size = [10, 1_000, 70_000, 300_000, 1_000_000, 3][i];
            let bytes = rng.bytes(size);
            std::thread::spawn(move || send_garbage(address, &bytes))
        })
        .collect();
    for flood in floods {
        let reply = flood.join().unwrap();
        // Whatever it said, it said it in reply lines starting with a code.
        if !reply.is_empty() {
            assert!(
                reply[..3].iter().all(u8::is_ascii_digit),
                "seed {seed}: {:?}",
                String::from_utf8_lossy(&reply[..reply.len().min(200)])
            );
        }
    }

    // Binary in the middle of DATA, NULs and bare CRs included: the message is refused
    // (bare CR/LF) or stored exactly; the session must stay in sync either way.
    let mut client = Client::connect(address).unwrap();
    client.hello().unwrap();
    assert_eq!(client.command("MAIL FROM:<a@example.org>").unwrap().code, 250);
    assert_eq!(client.command("RCPT TO:<mox@localhost>").unwrap().code, 250);
    assert_eq!(client.command("DATA").unwrap().code, 354);
    let mut body = rng.bytes(5_000);
    body.retain(|&b| b != b'\n' && b != b'\r');
    body.extend_from_slice(b"\nsmuggled\r\n.\r\n");
    client.send(&body).unwrap();
    let reply = client.reply().unwrap();
    assert_eq!(reply.code, 550, "seed {seed}: bare LF must be refused: {reply:?}");
    assert_eq!(client.command("NOOP").unwrap().code, 250);

    // A well-behaved client is served normally after all of it.
    let mut client = Client::connect(address).unwrap();
    client.hello().unwrap();
    let reply =
        client.deliver("a@example.org", &["mox@localhost"], &message_for("after-garbage", 2_000)).unwrap();
    assert_eq!(reply.code, 250, "seed {seed}: {reply:?}");
    assert!(server.is_running(), "server died; log:\n{}", server.log());
    server.kill();

    let stored = stored_messages(dir.path(), "mox");
    let ids: Vec<_> = stored.iter().filter_map(|m| common::message_id_of(&m.file)).collect();
    assert_eq!(ids, vec!["after-long-line", "after-garbage"], "seed {seed}");
}
