//! Graceful shutdown of the real `moxide serve` binary under load: SMTP clients
//! delivering and IMAP clients appending on two cores, idle SMTP and IMAP sessions (one
//! in IDLE), and one SMTP client in the middle of its DATA when SIGTERM arrives.
//!
//! Checked: the process exits 0 within the documented bound (grace + 5 s); idle sessions
//! get `421 4.3.2` / `* BYE` at once; the client in the middle of DATA finishes its
//! message and gets `250` then `421 4.3.2`; every acknowledged message (SMTP 250, IMAP
//! APPEND OK) is stored exactly once, byte for byte; nothing is stored that was not
//! sent; the spool is empty and `verifydata` is clean. (Before graceful shutdown SIGTERM
//! killed the process: no exit code, connections reset.)

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Client, Server, message_for, set_password, stored_messages, write_serve_config};

const DOMAINS: &str = r#"
postmaster_account = "alice"
[domains."example.org"]
[accounts.alice]
addresses = ["alice@example.org"]
"#;

const PASSWORD: &str = "shutdown test password";

/// The configured grace, and the bound the docs promise on top of it.
const GRACE: Duration = Duration::from_secs(3);
const CLOSING_MAX: Duration = Duration::from_secs(5);

/// What the load clients did: every id sent, every id acknowledged.
#[derive(Default)]
struct Ledger {
    sent: HashMap<String, Vec<u8>>,
    acknowledged: HashSet<String>,
}

/// A message of a size that varies with `id`, so deliveries span spool writes.
fn load_message(id: &str, n: usize) -> Vec<u8> {
    message_for(id, 500 + (n * 7919) % 40_000)
}

/// Delivers messages on one connection until the server says 421 (or goes away).
fn smtp_load(address: SocketAddr, name: String, ledger: Arc<Mutex<Ledger>>) -> usize {
    let mut client = Client::connect(address).unwrap();
    client.hello().unwrap();
    for n in 0.. {
        let id = format!("{name}-{n}");
        let message = load_message(&id, n);
        ledger.lock().unwrap().sent.insert(id.clone(), message.clone());
        match client.deliver("load@example.net", &["alice@example.org"], &message) {
            Ok(reply) if reply.code == 250 => {
                ledger.lock().unwrap().acknowledged.insert(id);
            }
            Ok(reply) => {
                assert_eq!(reply.code, 421, "{name}: {reply:?}");
                assert!(reply.text().contains("4.3.2"), "{name}: {reply:?}");
                return n;
            }
            Err(_) => return n, // closed between our write and its reply
        }
    }
    unreachable!()
}

/// A minimal IMAP client on a raw socket.
struct Imap {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Imap {
    fn login(address: SocketAddr) -> Imap {
        let stream = TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut imap = Imap { reader: BufReader::new(stream.try_clone().unwrap()), writer: stream };
        assert!(imap.line().unwrap().starts_with("* OK"));
        let done = imap.command("a", &format!("LOGIN alice@example.org \"{PASSWORD}\"")).unwrap();
        assert!(done.starts_with("a OK"), "{done}");
        let done = imap.command("b", "SELECT INBOX").unwrap();
        assert!(done.starts_with("b OK"), "{done}");
        imap
    }

    fn line(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(line.trim_end().to_string())
    }

    /// Sends `tag command`, returns the tagged reply, or the `* BYE` line if one comes.
    fn command(&mut self, tag: &str, command: &str) -> std::io::Result<String> {
        self.writer.write_all(format!("{tag} {command}\r\n").as_bytes())?;
        self.until_tagged(tag)
    }

    /// Reads until `* BYE`, past untagged updates (an IDLE session sees the appends).
    fn bye(&mut self) -> String {
        loop {
            let line = self.line().unwrap();
            assert!(line.starts_with("* "), "{line}");
            if line.starts_with("* BYE") {
                return line;
            }
        }
    }

    fn until_tagged(&mut self, tag: &str) -> std::io::Result<String> {
        loop {
            let line = self.line()?;
            if line.starts_with(&format!("{tag} ")) || line.starts_with("* BYE") {
                return Ok(line);
            }
        }
    }
}

/// APPENDs (LITERAL+, one write each) and NOOPs until the server says BYE.
fn imap_load(address: SocketAddr, name: String, ledger: Arc<Mutex<Ledger>>) -> usize {
    let mut imap = Imap::login(address);
    for n in 0.. {
        let id = format!("{name}-{n}");
        let message = load_message(&id, n);
        ledger.lock().unwrap().sent.insert(id.clone(), message.clone());
        let mut command = format!("t{n} APPEND INBOX {{{}+}}\r\n", message.len()).into_bytes();
        command.extend_from_slice(&message);
        command.extend_from_slice(b"\r\n");
        if imap.writer.write_all(&command).is_err() {
            return n;
        }
        match imap.until_tagged(&format!("t{n}")) {
            Ok(line) if line.starts_with(&format!("t{n} OK")) => {
                ledger.lock().unwrap().acknowledged.insert(id);
            }
            Ok(line) => {
                assert!(line.starts_with("* BYE"), "{name}: {line}");
                return n;
            }
            Err(_) => return n,
        }
        match imap.command(&format!("n{n}"), "NOOP") {
            Ok(line) if line.starts_with("* BYE") => return n,
            Ok(_) => {}
            Err(_) => return n,
        }
    }
    unreachable!()
}

#[test]
fn sigterm_under_load_stops_cleanly_and_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let limits = format!("shutdown_grace_secs = {}\n", GRACE.as_secs());
    let config = write_serve_config(dir.path(), &limits, &[("smtp", ""), ("imap", "")], DOMAINS);
    set_password(&config, "alice", PASSWORD);
    let config = config.display().to_string();
    let mut server = Server::start_args(dir.path(), &["serve", "--config", &config], &[]);
    let smtp = server.smtp;
    let imap = server.listener("imap");
    let ledger = Arc::new(Mutex::new(Ledger::default()));

    let mut load = Vec::new();
    for t in 0..3 {
        let ledger = Arc::clone(&ledger);
        load.push(std::thread::spawn(move || smtp_load(smtp, format!("smtp{t}"), ledger)));
    }
    for t in 0..2 {
        let ledger = Arc::clone(&ledger);
        load.push(std::thread::spawn(move || imap_load(imap, format!("imap{t}"), ledger)));
    }
    let mut idle_smtp = Client::connect(smtp).unwrap();
    idle_smtp.hello().unwrap();
    let mut idle_imap = Imap::login(imap);
    let mut idling_imap = Imap::login(imap);
    idling_imap.writer.write_all(b"i IDLE\r\n").unwrap();
    assert!(idling_imap.line().unwrap().starts_with('+'));

    // One client is in the middle of its DATA when the signal comes.
    let mut middle = Client::connect(smtp).unwrap();
    middle.hello().unwrap();
    assert_eq!(middle.command("MAIL FROM:<middle@example.net>").unwrap().code, 250);
    assert_eq!(middle.command("RCPT TO:<alice@example.org>").unwrap().code, 250);
    assert_eq!(middle.command("DATA").unwrap().code, 354);
    let middle_message = load_message("middle", 3);
    let mut wire = Vec::new();
    moxide_protocols::smtp::dot_stuff(&middle_message, &mut wire);
    let (first_half, second_half) = wire.split_at(wire.len() / 2);
    middle.send(first_half).unwrap();
    ledger.lock().unwrap().sent.insert("middle".to_string(), middle_message.clone());

    std::thread::sleep(Duration::from_millis(1500));
    let signalled = Instant::now();
    server.signal("TERM");

    // Idle sessions are closed at once.
    let reply = idle_smtp.reply().unwrap();
    assert_eq!(reply.code, 421, "{reply:?}");
    assert!(reply.text().contains("4.3.2"), "{reply:?}");
    assert!(idle_imap.bye().starts_with("* BYE"));
    assert!(idling_imap.bye().starts_with("* BYE"), "IDLE ends with BYE");
    assert!(signalled.elapsed() < GRACE, "idle sessions closed after {:?}", signalled.elapsed());

    // The one in the middle of DATA finishes: 250, then 421.
    std::thread::sleep(Duration::from_millis(500));
    middle.send(second_half).unwrap();
    let reply = middle.reply().unwrap();
    assert_eq!(reply.code, 250, "{reply:?}");
    ledger.lock().unwrap().acknowledged.insert("middle".to_string());
    let reply = middle.reply().unwrap();
    assert_eq!(reply.code, 421, "{reply:?}");

    let status = server.wait_exit(GRACE + CLOSING_MAX + Duration::from_secs(10));
    let took = signalled.elapsed();
    assert!(status.is_some_and(|s| s.code() == Some(0)), "exit status {status:?}; log:\n{}", server.log());
    assert!(took < GRACE + CLOSING_MAX, "took {took:?}");
    let rounds: usize = load.into_iter().map(|handle| handle.join().unwrap()).sum();
    assert!(rounds > 5, "the load ran ({rounds} rounds)");

    let ledger = ledger.lock().unwrap();
    let stored = stored_messages(dir.path(), "alice");
    let mut seen = HashSet::new();
    for message in &stored {
        let id = common::message_id_of(&message.file).expect("a test message");
        assert!(seen.insert(id.clone()), "{id} stored twice");
        let sent = ledger.sent.get(&id).unwrap_or_else(|| panic!("{id} stored but never sent"));
        assert!(message.file == *sent, "{id}: stored bytes differ");
    }
    for id in &ledger.acknowledged {
        assert!(seen.contains(id), "{id} acknowledged but lost");
    }
    let spool: Vec<_> = std::fs::read_dir(dir.path().join("data/tmp")).unwrap().collect();
    assert!(spool.is_empty(), "spool left: {spool:?}");
    let (ok, report) = common::verifydata(dir.path());
    assert!(ok, "{report}");
    let log = server.log();
    assert!(log.contains("shutting down") && log.contains("stopped"), "{log}");
    eprintln!("{} acknowledged, {} stored, exit after {took:?}", ledger.acknowledged.len(), stored.len());
}

/// A session in the middle of DATA holds the shutdown for its grace; a second SIGTERM
/// ends the process at once with exit code 1, and the data directory is still sound.
/// Past the grace the session is closed with `421 4.3.2` and the process exits 0.
#[test]
fn a_second_signal_forces_the_exit_and_the_grace_bounds_the_wait() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_serve_config(dir.path(), "shutdown_grace_secs = 60\n", &[("smtp", "")], DOMAINS);
    let config = config.display().to_string();
    let mut server = Server::start_args(dir.path(), &["serve", "--config", &config], &[]);
    let mut middle = Client::connect(server.smtp).unwrap();
    middle.hello().unwrap();
    middle.command("MAIL FROM:<m@example.net>").unwrap();
    middle.command("RCPT TO:<alice@example.org>").unwrap();
    assert_eq!(middle.command("DATA").unwrap().code, 354);
    middle.send(b"Subject: half\r\n\r\nhalf a message").unwrap();
    server.signal("TERM");
    std::thread::sleep(Duration::from_millis(500));
    assert!(server.is_running(), "the message under way holds the shutdown");
    let forced_at = Instant::now();
    server.signal("TERM");
    let status = server.wait_exit(Duration::from_secs(10));
    assert!(status.is_some_and(|s| s.code() == Some(1)), "{status:?}");
    assert!(forced_at.elapsed() < Duration::from_secs(5));
    assert!(server.log().contains("second signal"), "{}", server.log());
    let (ok, report) = common::verifydata(dir.path());
    assert!(ok, "{report}");

    // Again with a grace of 1 s and no second signal: the grace ends the session.
    let config = write_serve_config(dir.path(), "shutdown_grace_secs = 1\n", &[("smtp", "")], DOMAINS);
    let config = config.display().to_string();
    let mut server = Server::start_args(dir.path(), &["serve", "--config", &config], &[]);
    let mut middle = Client::connect(server.smtp).unwrap();
    middle.hello().unwrap();
    middle.command("MAIL FROM:<m@example.net>").unwrap();
    middle.command("RCPT TO:<alice@example.org>").unwrap();
    assert_eq!(middle.command("DATA").unwrap().code, 354);
    middle.send(b"Subject: half\r\n\r\nhalf a message").unwrap();
    let (status, took) = server.terminate(Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.code() == Some(0)), "{status:?}");
    assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(1) + CLOSING_MAX, "{took:?}");
    let reply = middle.reply().unwrap();
    assert_eq!(reply.code, 421, "{reply:?}");
    assert!(reply.text().contains("4.3.2"), "{reply:?}");
    assert!(stored_messages(dir.path(), "alice").is_empty());
}
