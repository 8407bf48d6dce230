//! IDLE fan-out through the real `moxide localserve` binary (issue 16): more idling
//! sessions per core than one turn of the node's fan-out wakes
//! (`FANOUT_WAKES_PER_TURN_MAX`), so deliveries reach most of them through the fan-out
//! task and the event path (`Session::messages_added`), and an expunge and a flag change
//! made by another session in between through the storage read. Every idler must see the
//! same updates in the same order (RFC 9051 §7.5.1: EXISTS, EXPUNGE, FETCH), and after
//! DONE the same view as another session has.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;

use common::{Client, Server, message_for};

/// Idling sessions: over two cores, each gets about 100, more than one fan-out turn.
const IDLERS: usize = 200;

/// Logs in, selects INBOX and starts IDLE.
fn idler(imap: SocketAddr) -> Client {
    let mut client = Client::connect(imap).unwrap();
    client.line().unwrap();
    for (tag, command) in [("a", "LOGIN mox@localhost moxmoxmox"), ("b", "SELECT INBOX")] {
        client.send(format!("{tag} {command}\r\n").as_bytes()).unwrap();
        while !client.line().unwrap().starts_with(&format!("{tag} OK")) {}
    }
    client.send(b"c IDLE\r\n").unwrap();
    assert_eq!(client.line().unwrap(), "+ idling");
    client
}

/// Runs `command` on a session, returning its untagged lines.
fn command(client: &mut Client, tag: &str, command: &str) -> Vec<String> {
    client.send(format!("{tag} {command}\r\n").as_bytes()).unwrap();
    let mut lines = Vec::new();
    loop {
        let line = client.line().unwrap();
        if line.starts_with(&format!("{tag} ")) {
            assert!(line.starts_with(&format!("{tag} OK")), "{command}: {line}");
            return lines;
        }
        lines.push(line);
    }
}

fn deliver(server: &Server, n: usize) {
    let mut smtp = Client::connect(server.smtp).unwrap();
    smtp.hello().unwrap();
    let reply =
        smtp.deliver("a@example.org", &["mox@localhost"], &message_for(&format!("m{n}"), 200)).unwrap();
    assert_eq!(reply.code, 250, "{reply:?}");
}

#[test]
fn every_idler_sees_the_same_updates_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let dir_arg = dir.path().display().to_string();
    let mut args = vec!["localserve", "--dir", &dir_arg, "--cores", "2", "--ratelimit-exempt", "127.0.0.1"];
    for port in [
        "--smtp-port",
        "--submission-port",
        "--submissions-port",
        "--imap-port",
        "--imaps-port",
        "--http-port",
    ] {
        args.extend([port, "0"]);
    }
    let server = Server::start_args(dir.path(), &args, &[]);
    let imap = server.imap.expect("imap listener printed");
    deliver(&server, 0);
    let mut idlers: Vec<Client> = (0..IDLERS).map(|_| idler(imap)).collect();
    let mut other = idler(imap);
    other.send(b"DONE\r\n").unwrap();
    while !other.line().unwrap().starts_with("c OK") {}

    // Two deliveries, then another session's flag change and expunge of the first
    // message, then two more deliveries.
    deliver(&server, 1);
    deliver(&server, 2);
    command(&mut other, "n", "NOOP");
    command(&mut other, "d", "UID STORE 2 +FLAGS (\\Flagged)");
    command(&mut other, "e", "UID STORE 1 +FLAGS (\\Deleted)");
    command(&mut other, "f", "EXPUNGE");
    deliver(&server, 3);
    deliver(&server, 4);

    command(&mut other, "m", "NOOP");
    let fresh = without_recent(&command(&mut other, "g", "UID FETCH 1:* (FLAGS)"));
    for (n, client) in idlers.iter_mut().enumerate() {
        // Updates may be grouped (two deliveries in one EXISTS, an expunge reported with
        // a later delivery, expunges before EXISTS before FETCH within one update), but
        // each must be right for the view the client has when it reads it.
        let mut view = View { uids: vec![1], next_uid: 2, flagged: false };
        let mut seen = Vec::new();
        while !(view.uids == [2, 3, 4, 5] && view.flagged) {
            let line = client.line().unwrap_or_else(|error| panic!("idler {n}: {error} after {seen:?}"));
            view.read(&line).unwrap_or_else(|error| panic!("idler {n}: {error} after {seen:?}"));
            seen.push(line);
        }
        client.send(b"DONE\r\n").unwrap();
        while !client.line().unwrap().starts_with("c OK") {}
        assert_eq!(without_recent(&command(client, "h", "UID FETCH 1:* (FLAGS)")), fresh, "idler {n}");
    }
}

/// An idling client's view: UIDs by sequence number (UIDs of new messages are known
/// here: only this test's deliveries add messages, in order).
struct View {
    uids: Vec<u32>,
    next_uid: u32,
    flagged: bool,
}

impl View {
    fn read(&mut self, line: &str) -> Result<(), String> {
        let words: Vec<&str> = line.split(' ').collect();
        let number = |at: usize| words.get(at).and_then(|w| w.parse::<usize>().ok());
        match (words.get(2).copied(), number(1)) {
            (Some("RECENT"), Some(_)) => {}
            (Some("EXISTS"), Some(count)) if count >= self.uids.len() => {
                while self.uids.len() < count {
                    self.uids.push(self.next_uid);
                    self.next_uid += 1;
                }
            }
            (Some("EXPUNGE"), Some(seq)) if (1..=self.uids.len()).contains(&seq) => {
                self.uids.remove(seq - 1);
            }
            (Some("FETCH"), Some(seq)) => {
                let uid = self.uids.get(seq.wrapping_sub(1)).copied();
                if words.get(3) != Some(&"(UID") || number(4).map(|u| u as u32) != uid {
                    return Err(format!("{line} does not match the view {:?}", self.uids));
                }
                self.flagged |= uid == Some(2) && line.contains("\\Flagged");
            }
            _ => return Err(format!("{line} unexpected with the view {:?}", self.uids)),
        }
        Ok(())
    }
}

/// The FETCH lines, without `\\Recent` (IMAP4rev1: only the session that claimed a
/// message shows it).
fn without_recent(lines: &[String]) -> Vec<String> {
    lines
        .iter()
        .filter(|line| line.contains(" FETCH ("))
        .map(|line| line.replace(" \\Recent", "").replace("\\Recent ", "").replace("\\Recent", ""))
        .collect()
}
