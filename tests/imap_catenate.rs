//! CATENATE (RFC 4469) through the real `moxide localserve` binary: Python's imaplib
//! (`tests/clients/catenate.py`) saves a draft and makes a message of text, the draft,
//! its sections and ranges, compares the bytes fetched back, and meets BADURL with
//! literals after it; a raw client then catenates a 20 MiB message while the server's
//! peak resident set is watched (`VmHWM`): the referenced message is copied a buffer at
//! a time, never held whole. `verifydata` is clean after both.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use common::Server;

const EXPECTED: &str = "\
CAPABILITY => True
APPEND draft => OK
APPEND CATENATE => OK [APPENDUID n n] APPEND completed
FETCH combined => identical
BADURL then LITERAL+ => NO [BADURL /Drafts;UIDVALIDITY=n/;UID=n] CATENATE: no such message
NOOP => OK
BADURL then synchronizing literal => NO [BADURL /Drafts;UIDVALIDITY=n/;UID=n] CATENATE: no such message
NOOP => OK
other user => NO [BADURL imap://nobody@localhost/Drafts/;UID=1]
STATUS => Drafts (MESSAGES 2)
";

#[test]
fn catenate_with_imaplib() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), 2);
    assert_eq!(common::run_imap_client_script(&server, "catenate.py"), EXPECTED);
    server.kill();
    let (clean, report) = common::verifydata(dir.path());
    assert!(clean, "{report}");
}

/// The referenced message: larger than any buffer the copy may use.
const LARGE_BYTES: usize = 20 * 1024 * 1024;

/// Most the server's peak resident set may rise while catenating the large message: far
/// below its size, so a copy held in memory fails the test.
const RSS_GROWTH_BYTES_MAX: u64 = 8 * 1024 * 1024;

/// Sends `command` (whole, literals included) and reads to the line starting `tag `.
fn command(stream: &mut TcpStream, tag: &str, command: &[u8]) -> String {
    stream.write_all(command).unwrap();
    let mut seen = Vec::new();
    let mut buffer = [0u8; 65536];
    loop {
        let n = stream.read(&mut buffer).unwrap();
        assert!(n > 0, "connection closed: {}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buffer[..n]);
        let text = String::from_utf8_lossy(&seen);
        if let Some(line) = text.lines().find(|line| line.starts_with(&format!("{tag} "))) {
            return line.to_owned();
        }
        if seen.len() > 4096 {
            seen.drain(..seen.len() - 4096);
        }
    }
}

#[test]
fn catenating_a_large_message_does_not_grow_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), 1);
    let address: SocketAddr = server.imap.unwrap();
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_nodelay(true).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut greeting = [0u8; 1024];
    let _ = stream.read(&mut greeting).unwrap();
    assert!(command(&mut stream, "a1", b"a1 LOGIN mox@localhost moxmoxmox\r\n").contains("OK"));
    let mut large = b"Subject: large\r\n\r\n".to_vec();
    while large.len() < LARGE_BYTES {
        large.extend_from_slice(
            b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567\r\n",
        );
    }
    let mut append = format!("a2 APPEND INBOX {{{}+}}\r\n", large.len()).into_bytes();
    append.extend_from_slice(&large);
    append.extend_from_slice(b"\r\n");
    let appended = command(&mut stream, "a2", &append);
    assert!(appended.contains("OK [APPENDUID"), "{appended}");
    let uid = appended.split_whitespace().nth(4).unwrap().trim_end_matches(']').to_owned();
    drop(append);

    let pid = server.pid();
    let catenate = format!("a3 APPEND INBOX CATENATE (TEXT {{4+}}\r\nX: 1 URL \"/INBOX/;UID={uid}\")\r\n");
    let (answer, growth) = common::rss_growth(pid, || command(&mut stream, "a3", catenate.as_bytes()));
    assert!(answer.contains("OK [APPENDUID"), "{answer}");
    eprintln!("CATENATE of {} MiB: peak RSS +{:.1} MiB", LARGE_BYTES >> 20, growth as f64 / 1048576.0);
    assert!(growth < RSS_GROWTH_BYTES_MAX, "the server's RSS grew by {growth} bytes");

    drop(stream);
    server.kill();
    let stored = common::stored_messages(dir.path(), "mox");
    let combined =
        stored.iter().find(|message| message.file.starts_with(b"X: 1")).expect("catenated message");
    assert!(combined.file[4..] == large[..], "the catenated message differs");
    let (clean, report) = common::verifydata(dir.path());
    assert!(clean, "{report}");
}
