//! Fuzz target: the whole IMAP server session (RFC 9051, RFC 3501 and the extensions it
//! announces) on arbitrary client bytes, with the in-memory storage side answering every
//! event (`imap::server::memory`), so every command reaches its real handling, the
//! selected state included. The first byte picks the read size (it stays part of the
//! traffic, so real transcripts work as seeds) and, in its low bit, whether the client
//! starts logged in (PREAUTH); its high bit hides some capabilities for the account, as
//! its settings may (their commands are then refused, `server/hidden.rs`). Checks: no panic; never more used than given; progress
//! or a wait for input on every round; the output is well-formed IMAP (lines that are
//! untagged, continuations or tagged, literals of exactly their announced size); and
//! after the tagged OK of LOGOUT nothing more is written.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use moxide_protocols::imap::ReaderConfig;
use moxide_protocols::imap::server::memory::{Account, Connection};
use moxide_protocols::imap::server::{ServerConfig, Session, SystemFlags};

/// Bounds the drive loop; each round uses input, answers events, or reads more.
const ROUNDS_MAX: usize = 100_000;

const MULTIPART: &[u8] = b"From: a@b.example\r\nTo: G: x@y.example, <>;\r\nSubject: mixed\r\n\
Date: Sun, 25 Mar 2007 01:00:00 +0200\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ=\r\n--b--\r\n";

fuzz_target!(|data: &[u8]| {
    let Some(&first) = data.first() else {
        return;
    };
    let piece = usize::from(first % 32) + 1;
    let config = Arc::new(ServerConfig {
        hostname: "mx.example".to_owned(),
        plaintext_auth: true,
        starttls: first & 2 != 0,
        reader: ReaderConfig {
            line_bytes_max: 1024,
            literal_bytes_max: 256,
            append_bytes_max: 1024,
            nesting_max: 8,
            command_literals_max: 8,
        },
        ..ServerConfig::default()
    });
    let mut account = Account::new("mox@localhost", "moxmoxmox");
    account.deliver("INBOX", b"Subject: one\r\n\r\nbody\r\n", SystemFlags::default(), &["Work"]);
    account.deliver("INBOX", MULTIPART, SystemFlags::SEEN, &[]);
    let mut connection = Connection::new(account.shared());
    let mut session = Session::new(config, false, vec!["PLAIN".to_owned()]);
    if first & 0x80 != 0 {
        let hidden = ["METADATA", "SORT", "COMPRESS", "MULTISEARCH", "CONDSTORE", "THREAD=REFS"];
        session.hide_capabilities(&hidden.map(str::to_owned));
    }
    session.start(first & 1 != 0);
    let mut buffer: Vec<u8> = Vec::new();
    let mut rest = data;
    for _ in 0..ROUNDS_MAX {
        connection.drive(&mut session);
        if session.wants_close() {
            break;
        }
        let used = session.handle_input(&buffer, 0);
        assert!(used <= buffer.len());
        buffer.drain(..used);
        if used > 0 || session.has_work() {
            continue;
        }
        if rest.is_empty() {
            break;
        }
        let take = piece.min(rest.len());
        buffer.extend_from_slice(&rest[..take]);
        rest = &rest[take..];
    }
    connection.write_out(&mut session);
    check_framing(&connection.written);
});

/// Every response is a line starting with `* `, `+ ` or a tag, ending in CRLF; a line
/// ending in `{n}` (or `~{n}`) is followed by exactly n bytes, then the rest of the line.
fn check_framing(output: &[u8]) {
    let mut at = 0;
    let mut line_start = true;
    while at < output.len() {
        let rest = &output[at..];
        if line_start {
            assert!(
                rest.starts_with(b"* ") || rest.starts_with(b"+ ") || rest.first().is_some_and(u8::is_ascii_graphic),
                "a response starts badly: {:?}",
                String::from_utf8_lossy(&rest[..rest.len().min(40)])
            );
        }
        let Some(end) = rest.windows(2).position(|pair| pair == b"\r\n") else {
            panic!("output ends inside a line: {:?}", String::from_utf8_lossy(rest));
        };
        let line = &rest[..end];
        assert!(!line.contains(&b'\n') && !line.contains(&b'\r'), "bare CR or LF in a line");
        at += end + 2;
        match literal_size(line) {
            Some(size) => {
                assert!(at + size <= output.len(), "literal runs past the output");
                at += size;
                line_start = false;
            }
            None => line_start = true,
        }
    }
}

fn literal_size(line: &[u8]) -> Option<usize> {
    let body = line.strip_suffix(b"}")?;
    let digits = body.iter().rev().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    let (head, number) = body.split_at(body.len() - digits);
    head.strip_suffix(b"{")?;
    std::str::from_utf8(number).ok()?.parse().ok()
}
