//! Test driver for the IMAP server session: real [`Session`]s driven by the in-memory
//! storage side (`imap::server::memory`), fed client lines and compared line by line
//! with the expected responses.
//!
//! `check` runs a script three ways (whole, one byte at a time, in 7-byte pieces) on a
//! fresh account each time and requires the same output: how TCP cut the stream must
//! not matter. An expected line ending in `...` matches any line with that prefix.
#![allow(dead_code, reason = "shared by several test crates, each using a part of it")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use moxide_protocols::imap::ReaderConfig;
use moxide_protocols::imap::server::memory::{Account, Connection, SharedAccount};
use moxide_protocols::imap::server::{ServerConfig, Session};

pub(crate) const USER: &str = "mox@localhost";
pub(crate) const PASSWORD: &str = "moxmoxmox";

/// The configuration the tests use: plaintext LOGIN allowed, small APPENDLIMIT.
pub(crate) fn config() -> ServerConfig {
    ServerConfig {
        hostname: "mx.example".to_owned(),
        version: "0.1.0".to_owned(),
        plaintext_auth: true,
        reader: ReaderConfig { append_bytes_max: 10_000, ..ReaderConfig::default() },
        ..ServerConfig::default()
    }
}

/// An account with three messages in INBOX (the second seen and flagged).
pub(crate) fn account() -> SharedAccount {
    let mut account = Account::new(USER, PASSWORD);
    for n in 1..=3 {
        account.deliver("INBOX", &message(n), flags(n), &[]);
    }
    account.shared()
}

fn flags(n: u32) -> moxide_protocols::imap::server::SystemFlags {
    use moxide_protocols::imap::server::SystemFlags;
    if n == 2 { SystemFlags::SEEN.union(SystemFlags::FLAGGED) } else { SystemFlags::default() }
}

/// Test message `n`: a short text message.
pub(crate) fn message(n: u32) -> Vec<u8> {
    format!(
        "From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: message {n}\r\n\
         Date: Mon, 02 Jan 2023 10:00:00 +0100\r\nMessage-ID: <{n}@example.org>\r\n\r\nbody {n}\r\n"
    )
    .into_bytes()
}

/// One client connection: a session and its storage side.
pub(crate) struct Client {
    pub(crate) session: Session,
    pub(crate) connection: Connection,
    /// Input the session has not used yet.
    pending: Vec<u8>,
}

impl Client {
    /// Connects (the greeting is in the first output).
    pub(crate) fn connect(account: &SharedAccount, config: &Arc<ServerConfig>) -> Client {
        let mut session = Session::new(Arc::clone(config), false, vec!["PLAIN".to_owned()]);
        session.start(false);
        let mut client =
            Client { session, connection: Connection::new(account.clone()), pending: Vec::new() };
        client.connection.drive(&mut client.session);
        client
    }

    /// Connects and logs in; the output so far is dropped.
    pub(crate) fn logged_in(account: &SharedAccount) -> Client {
        let mut client = Client::connect(account, &Arc::new(config()));
        client.send(&format!("a0 LOGIN {USER} {PASSWORD}\r\n"));
        client.take_output();
        client
    }

    /// Feeds `input` in pieces of `piece` bytes (0: whole), driving the session after
    /// each; returns nothing (see [`Client::take_output`]).
    pub(crate) fn feed(&mut self, input: &[u8], piece: usize, now_ms: u64) {
        let pieces: Vec<&[u8]> = if piece == 0 { vec![input] } else { input.chunks(piece).collect() };
        for bytes in pieces {
            self.pending.extend_from_slice(bytes);
            self.run(now_ms);
        }
    }

    /// Uses pending input until the session wants more.
    pub(crate) fn run(&mut self, now_ms: u64) {
        for _ in 0..1_000_000 {
            self.connection.drive(&mut self.session);
            if self.session.wants_close() {
                return;
            }
            let used = self.session.handle_input(&self.pending, now_ms);
            self.pending.drain(..used);
            // As the server's loop: go on while input was used or the session has work
            // (an event can come without input, as CATENATE's parts of one line do).
            if used == 0 && !self.session.has_work() {
                return;
            }
        }
        panic!("the session made no progress");
    }

    /// Sends `input` whole.
    pub(crate) fn send(&mut self, input: &str) -> Vec<String> {
        self.feed(input.as_bytes(), 0, 0);
        self.take_output()
    }

    /// The output since the last call, as lines (`S: ` + text, CRLF removed).
    pub(crate) fn take_output(&mut self) -> Vec<String> {
        self.connection.drive(&mut self.session);
        let written = std::mem::take(&mut self.connection.written);
        lines(&written)
    }

    /// Input not used.
    pub(crate) fn leftover(&self) -> &[u8] {
        &self.pending
    }
}

/// Output bytes as `S: ` lines.
pub(crate) fn lines(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    let mut lines: Vec<String> = text.split("\r\n").map(|line| format!("S: {line}")).collect();
    if lines.last().is_some_and(|line| line == "S: ") {
        lines.pop();
    }
    lines
}

/// Client lines from a script of `C: ` lines (each ending in CRLF in the script).
pub(crate) fn client_bytes(script: &str) -> Vec<u8> {
    script
        .split_inclusive("\r\n")
        .map(|line| line.strip_prefix("C: ").unwrap_or(line))
        .collect::<String>()
        .into_bytes()
}

/// Compares output lines with expected ones (`...` at the end: prefix).
pub(crate) fn assert_lines(got: &[String], expected: &[&str]) {
    let matches = got.len() == expected.len()
        && got.iter().zip(expected).all(|(got, want)| match want.strip_suffix("...") {
            Some(prefix) => got.starts_with(prefix),
            None => got == want,
        });
    assert!(matches, "output differs\n--- got:\n{}\n--- expected:\n{}", got.join("\n"), expected.join("\n"));
}

/// Runs `script` (after a LOGIN whose output is dropped) on a fresh account from
/// `setup`, whole, byte by byte and in 7-byte pieces; all three must give `expected`.
/// Returns the session of the whole run.
pub(crate) fn check_with(setup: impl Fn() -> SharedAccount, script: &str, expected: &[&str]) -> Client {
    let input = client_bytes(script);
    let mut first = None;
    for piece in [0, 1, 7] {
        let account = setup();
        let mut client = Client::logged_in(&account);
        client.feed(&input, piece, 0);
        let got = client.take_output();
        assert_lines(&got, expected);
        if piece == 0 {
            first = Some(client);
        }
    }
    first.expect("the whole run ran")
}

/// [`check_with`] on the default [`account`].
pub(crate) fn check(script: &str, expected: &[&str]) -> Client {
    check_with(account, script, expected)
}
