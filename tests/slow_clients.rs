//! Slow SMTP clients against the real `moxide serve` binary: a client that trickles bytes
//! (5 a second, below the configured minimum of 100) is closed with `421 4.4.2` in every
//! phase — a partial command line, an overlong line, a DATA body, a BDAT chunk — about
//! when its request's deadline passes, although it never falls silent for as long as the
//! timeout. A client sending a message at a rate above the minimum takes several data
//! timeouts and still gets it delivered. (Before per-request deadlines, each byte
//! restarted an idle timeout and a trickling client kept its connection forever.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{Server, message_for, stored_messages, write_serve_config};

const DOMAINS: &str = r#"
postmaster_account = "alice"
[domains."example.org"]
[accounts.alice]
addresses = ["alice@example.org"]
"#;

/// 2 s per request before credit, 100 bytes a second minimum.
const LIMITS: &str =
    "command_timeout_secs = 2\ndata_timeout_secs = 2\ninput_rate_bytes_per_second_min = 100\n";

/// Longest a trickling client is kept in this test: the 2 s deadline plus credit (under
/// 0.1 s here) plus scheduling slack on a loaded machine. The old idle timeout never
/// fired at all.
const CLOSED_WITHIN: Duration = Duration::from_secs(8);

/// Connects, reads the greeting, sends `setup` and reads `replies` replies to it (the
/// last, if any, must have code `last_code`); then trickles `byte` every 200 ms until the server
/// answers. Returns that answer and how long after the setup it came.
fn trickle(
    address: SocketAddr,
    setup: &[u8],
    replies: usize,
    last_code: &str,
    byte: u8,
) -> (String, Duration) {
    let stream = TcpStream::connect(address).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut writer = stream;
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("220 "), "{line}");
    writer.write_all(setup).unwrap();
    let mut last = String::new();
    for _ in 0..replies {
        loop {
            last.clear();
            reader.read_line(&mut last).unwrap();
            if last.as_bytes().get(3) != Some(&b'-') {
                break;
            }
        }
    }
    assert!(replies == 0 || last.starts_with(last_code), "setup ended with {last:?}");
    let started = Instant::now();
    reader.get_ref().set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    loop {
        assert!(started.elapsed() < CLOSED_WITHIN, "still open after {:?} of trickling", started.elapsed());
        // The server may close before a write: then the reply is already waiting.
        let _ = writer.write_all(&[byte]);
        line.clear();
        match reader.read_line(&mut line) {
            Ok(_) if line.ends_with('\n') => return (line.trim_end().to_string(), started.elapsed()),
            Ok(0) => panic!("closed without a reply"),
            _ => {}
        }
    }
}

#[test]
fn trickling_clients_are_closed_in_every_phase_and_steady_ones_are_not() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_serve_config(dir.path(), LIMITS, &[("smtp", "")], DOMAINS);
    let config = config.display().to_string();
    let mut server = Server::start_args(dir.path(), &["serve", "--config", &config], &[]);
    let address = server.smtp;
    let envelope = "EHLO slow.example\r\nMAIL FROM:<s@slow.example>\r\nRCPT TO:<alice@example.org>\r\n";
    let phases: Vec<(&str, Vec<u8>, usize, &str, u8)> = vec![
        ("partial command", Vec::new(), 0, "220", b'N'),
        ("overlong line", [b"EHLO x\r\n".to_vec(), vec![b'x'; 5000]].concat(), 1, "250", b'x'),
        ("DATA body", format!("{envelope}DATA\r\n").into_bytes(), 4, "354", b'z'),
        ("BDAT chunk", format!("{envelope}BDAT 1000 LAST\r\n").into_bytes(), 3, "250", b'z'),
    ];
    let slow: Vec<_> = phases
        .into_iter()
        .map(|(name, setup, replies, code, byte)| {
            std::thread::spawn(move || (name, trickle(address, &setup, replies, code, byte)))
        })
        .collect();

    // Meanwhile a steady client sends 8 KB at about 2 KB/s: four data timeouts long,
    // twenty times the minimum rate. Its deadline grows with what it sends.
    let mut steady = common::Client::connect(address).unwrap();
    steady.hello().unwrap();
    assert_eq!(steady.command("MAIL FROM:<steady@example.net>").unwrap().code, 250);
    assert_eq!(steady.command("RCPT TO:<alice@example.org>").unwrap().code, 250);
    assert_eq!(steady.command("DATA").unwrap().code, 354);
    let message = message_for("steady", 8_000);
    let mut wire = Vec::new();
    moxide_protocols::smtp::dot_stuff(&message, &mut wire);
    let started = Instant::now();
    for piece in wire.chunks(200) {
        steady.send(piece).unwrap();
        std::thread::sleep(Duration::from_millis(100));
    }
    let reply = steady.reply().unwrap();
    assert_eq!(reply.code, 250, "{reply:?} after {:?}", started.elapsed());
    assert!(started.elapsed() > Duration::from_secs(3), "the message took longer than the data timeout");

    for handle in slow {
        let (name, (reply, after)) = handle.join().unwrap();
        assert!(reply.starts_with("421 4.4.2"), "{name}: {reply}");
        // Not before its deadline: the trickle earns ~10 ms of credit per byte.
        assert!(after >= Duration::from_millis(1_500), "{name}: closed after {after:?}");
        eprintln!("{name}: {reply} after {after:?}");
    }
    server.kill();
    let stored = stored_messages(dir.path(), "alice");
    assert_eq!(stored.len(), 1, "only the steady client's message");
    assert!(stored[0].file == message);
}
