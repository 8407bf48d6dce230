//! Memory and latency bounds of issue 10 ("Bounded by design") through the real binary
//! (`moxide localserve --cores 1` on loopback, kernel-chosen ports), measured from the
//! outside: the server's peak resident set (`VmHWM` in `/proc/<pid>/status`, reset
//! through `/proc/<pid>/clear_refs` before each command) may grow by at most
//! [`RSS_GROWTH_BYTES_MAX`] over its resident set before the command, under each
//! command the issue reproduced; and while one session runs a heavy command, another
//! session's NOOP on the same core is answered within [`NOOP_LATENCY_MAX`]; the same two
//! bounds hold for commands over a large set of messages (STORE, COPY, MOVE, EXPUNGE)
//! and for another session's resync after them.
//!
//! The mailboxes are written straight into the store while the server is stopped (hard
//! links of a few spool files for the large mailbox), so the test spends its time on the
//! commands, not on building data.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::Server;
use moxide_protocols::mime::summarize;
use moxide_storage::{
    AccountStore, DELIVERY_BATCH_MAX, DataDir, Flags, MailboxTarget, NewMessage, StoreOptions,
};

/// Most the server's resident set may grow under one command (issue 10: "each stays under
/// +64 MiB"). Before the fixes: +950 MB for the repeated FETCH, +370 MB for BINARY, +193 MB
/// for SEARCH BODY.
const RSS_GROWTH_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// Most a NOOP may wait beside a heavy command on the same core. Measured here (debug
/// build, 2 loaded cores): see docs/architecture.md; the bound is generous so a loaded CI
/// does not flake, and still far below the 12 s the issue measured.
const NOOP_LATENCY_MAX: Duration = Duration::from_secs(1);

/// Each test measures its own server; run one at a time so none measures another.
static SERIAL: Mutex<()> = Mutex::new(());

const USER: &str = "mox@localhost";
const PASSWORD: &str = "moxmoxmox";

// ---- the server's memory ----

fn assert_bounded(pid: u32, what: &str, command: impl FnOnce()) {
    let started = Instant::now();
    // The peak counts pages of the store's memory map the command touched first (file
    // pages, shared with the page cache) as well as allocations: the after-before
    // difference of the file part says how much of the peak was the map.
    let file_before = common::status_kib(pid, "RssFile:");
    let ((), growth) = common::rss_growth(pid, command);
    let file_growth = common::status_kib(pid, "RssFile:").saturating_sub(file_before);
    eprintln!(
        "{what}: peak RSS +{:.1} MiB (mapped file pages +{:.1} MiB), {:.1} s",
        growth as f64 / 1048576.0,
        file_growth as f64 / 1024.0,
        started.elapsed().as_secs_f64()
    );
    assert!(growth < RSS_GROWTH_BYTES_MAX, "{what}: the server's RSS grew by {growth} bytes");
}

// ---- a raw IMAP client ----

struct Imap {
    stream: TcpStream,
    tag: u32,
}

/// What a command got back: every byte counted, the first ones kept.
struct Response {
    bytes: u64,
    head: Vec<u8>,
    status: String,
}

const HEAD_BYTES: usize = 4096;

impl Imap {
    fn login(address: SocketAddr) -> Imap {
        let stream = TcpStream::connect(address).unwrap();
        stream.set_nodelay(true).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        let mut imap = Imap { stream, tag: 0 };
        let mut greeting = [0u8; 512];
        let n = imap.stream.read(&mut greeting).unwrap();
        assert!(greeting[..n].starts_with(b"* OK"), "{}", String::from_utf8_lossy(&greeting[..n]));
        let login = imap.command(&format!("LOGIN {USER} {PASSWORD}"));
        assert!(login.status.contains(" OK"), "{}", login.status);
        imap
    }

    fn next_tag(&mut self) -> String {
        self.tag += 1;
        format!("t{}", self.tag)
    }

    /// Sends `text` as a tagged command and reads to its tagged status line.
    fn command(&mut self, text: &str) -> Response {
        let tag = self.next_tag();
        self.stream.write_all(format!("{tag} {text}\r\n").as_bytes()).unwrap();
        self.response(&tag)
    }

    /// APPEND of `message` as a synchronizing literal.
    fn append(&mut self, mailbox: &str, message: &[u8]) -> Response {
        let tag = self.next_tag();
        self.stream
            .write_all(format!("{tag} APPEND {mailbox} {{{}}}\r\n", message.len()).as_bytes())
            .unwrap();
        let mut line = [0u8; 256];
        let n = self.stream.read(&mut line).unwrap();
        assert!(line[..n].starts_with(b"+"), "{}", String::from_utf8_lossy(&line[..n]));
        for piece in message.chunks(1 << 20) {
            self.stream.write_all(piece).unwrap();
        }
        self.stream.write_all(b"\r\n").unwrap();
        self.response(&tag)
    }

    /// Reads until the line `tag ...` CRLF, at the start of a line; the response data
    /// is counted and dropped (a literal holding such a line would fool it; ours do not).
    fn response(&mut self, tag: &str) -> Response {
        let needle = format!("\r\n{tag} ");
        let mut buffer = vec![0u8; 256 * 1024];
        // The stream's last bytes, so a status line cut between reads is still found;
        // it starts with CRLF as if a line had ended before the first byte.
        let mut carry = b"\r\n".to_vec();
        let mut response = Response { bytes: 0, head: Vec::new(), status: String::new() };
        loop {
            let n = self.stream.read(&mut buffer).unwrap();
            assert!(n > 0, "connection closed; got {}", String::from_utf8_lossy(&response.head));
            response.bytes += n as u64;
            let room = HEAD_BYTES.saturating_sub(response.head.len());
            response.head.extend_from_slice(&buffer[..n.min(room)]);
            carry.extend_from_slice(&buffer[..n]);
            if let Some(at) = find(&carry, needle.as_bytes())
                && let Some(end) = find(&carry[at + 2..], b"\r\n")
            {
                response.status = String::from_utf8_lossy(&carry[at + 2..at + 2 + end]).into_owned();
                return response;
            }
            let keep = carry.len().saturating_sub(512);
            carry.drain(..keep);
        }
    }
}

/// The response's head without the progress lines a search past its first second sends
/// before its answer (INPROGRESS, RFC 9585).
fn without_progress(head: &[u8]) -> Vec<u8> {
    let mut rest = head;
    while rest.starts_with(b"* OK [INPROGRESS ") {
        let Some(end) = find(rest, b"\r\n") else { break };
        rest = &rest[end + 2..];
    }
    rest.to_vec()
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    memchr::memmem::find(haystack, needle)
}

// ---- the data ----

/// A message to write into the store, and whether to store its summary (big ones are
/// summarized by the server from the file, in pieces, when first needed).
struct Prepared {
    path: PathBuf,
    size: u64,
    summary: Option<Vec<u8>>,
}

fn spool(data: &DataDir, name: &str, message: &[u8], with_summary: bool) -> Prepared {
    let path = data.spool_dir().join(name);
    std::fs::write(&path, message).unwrap();
    let summary = with_summary.then(|| summarize(message).encode());
    Prepared { path, size: message.len() as u64, summary }
}

/// Stores each message `copies` times (hard links of its spool file), in order.
fn store_all(dir: &Path, build: impl FnOnce(&DataDir) -> Vec<(Prepared, usize)>) {
    let data = DataDir::open(dir.join("data")).unwrap();
    let store = AccountStore::open(&data, "mox", &StoreOptions::default()).unwrap();
    let prepared = build(&data);
    let mut messages = Vec::new();
    for (message, copies) in &prepared {
        for _ in 0..*copies {
            messages.push(NewMessage {
                spool_path: message.path.clone(),
                size: message.size,
                prefix: Vec::new(),
                mailbox: MailboxTarget::Inbox,
                received_ms: 1_700_000_000_000,
                flags: Flags::empty(),
                keywords: Vec::new(),
                summary: message.summary.clone(),
                saved_ms: None,
            });
        }
    }
    for batch in messages.chunks(DELIVERY_BATCH_MAX) {
        for result in store.deliver(batch).unwrap() {
            result.unwrap();
        }
    }
    for (message, _) in prepared {
        std::fs::remove_file(message.path).unwrap();
    }
}

/// A text message of about `size` bytes whose lines carry `word`.
fn text_message(subject: &str, word: &str, size: usize) -> Vec<u8> {
    let mut message = format!("From: <a@example.org>\r\nSubject: {subject}\r\n\r\n").into_bytes();
    let line = format!("{word} and some more text to fill the line of this message body\r\n");
    while message.len() < size {
        message.extend_from_slice(line.as_bytes());
    }
    message
}

/// A single-part message whose body is `decoded_bytes` of pseudo-random data in base64.
fn base64_message(decoded_bytes: usize) -> Vec<u8> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut message = b"From: <a@example.org>\r\nSubject: binary\r\nMIME-Version: 1.0\r\n\
        Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        .to_vec();
    let mut rng = common::Rng::new(10);
    let mut left = decoded_bytes;
    while left > 0 {
        // 57 bytes make a 76-character line.
        let take = left.min(57);
        let mut bits = 0u32;
        let mut count = 0;
        for _ in 0..take {
            bits = (bits << 8) | (rng.next() as u32 & 0xff);
            count += 8;
            while count >= 6 {
                count -= 6;
                message.push(ALPHABET[((bits >> count) & 63) as usize]);
            }
        }
        if count > 0 {
            message.push(ALPHABET[((bits << (6 - count)) & 63) as usize]);
            message.extend_from_slice(if count == 2 { b"==" } else { b"=" });
        }
        message.extend_from_slice(b"\r\n");
        left -= take;
    }
    message
}

// ---- the tests ----

/// The memory reproductions, each under +64 MiB of peak RSS.
#[test]
fn commands_stay_within_the_memory_bound() {
    let _serial = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), 1);
    server.kill();
    // UIDs 1-64: ~70 KB text; 65: 20 MB of base64; 66: 100 MB of text, the word
    // SEARCH looks for in its last line.
    let mut huge = text_message("huge", "haystack", 100 * 1024 * 1024);
    huge.extend_from_slice(b"the needle\r\n");
    store_all(dir.path(), |data| {
        vec![
            (spool(data, "text", &text_message("seventy", "plain", 70_000), true), 64),
            (spool(data, "binary", &base64_message(15 * 1024 * 1024), false), 1),
            (spool(data, "huge", &huge, false), 1),
        ]
    });
    let server = Server::start(dir.path(), 1);
    let address = server.imap.unwrap();
    let pid = server.pid();
    let mut imap = Imap::login(address);
    assert!(imap.command("SELECT INBOX").status.contains(" OK"));

    let items = ["BODY.PEEK[]<0.65536>"; 3_000].join(" ");
    assert_bounded(pid, "FETCH 61:64 (BODY.PEEK[]<0.65536> x3000)", || {
        let response = imap.command(&format!("FETCH 61:64 ({items})"));
        assert!(response.status.contains(" OK"), "{}", response.status);
        assert!(response.bytes > 4 * 3_000 * 65_536, "{} bytes", response.bytes);
    });
    assert_bounded(pid, "FETCH 65 (BINARY.PEEK[1] x10) of 20 MB of base64", || {
        let response = imap.command(&format!("FETCH 65 ({})", ["BINARY.PEEK[1]"; 10].join(" ")));
        assert!(response.status.contains(" OK"), "{}", response.status);
        assert!(response.bytes > 10 * 15 * 1024 * 1024, "{} bytes", response.bytes);
        let head = String::from_utf8_lossy(&response.head);
        assert!(head.starts_with(&format!("* 65 FETCH (BINARY[1] ~{{{}}}", 15 * 1024 * 1024)), "{head:.200}");
    });
    assert_bounded(pid, "FETCH 65 (BINARY.SIZE[1] BINARY.PEEK[1]<0.64> x3)", || {
        let items = ["BINARY.SIZE[1] BINARY.PEEK[1]<0.64>"; 3].join(" ");
        let response = imap.command(&format!("FETCH 65 ({items})"));
        assert!(response.status.contains(" OK"), "{}", response.status);
        let head = String::from_utf8_lossy(&response.head);
        assert!(head.starts_with(&format!("* 65 FETCH (BINARY.SIZE[1] {}", 15 * 1024 * 1024)), "{head:.200}");
    });
    assert_bounded(pid, "UID SEARCH BODY over a 100 MB message", || {
        let response = imap.command("UID SEARCH BODY needle");
        assert!(response.status.contains(" OK"), "{}", response.status);
        let head = without_progress(&response.head);
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("* SEARCH 66\r\n"), "{head:.200}");
    });
    let appended = text_message("appended", "appended", 60 * 1024 * 1024);
    assert_bounded(pid, "APPEND of a 60 MB literal", || {
        let response = imap.append("INBOX", &appended);
        assert!(response.status.contains(" OK"), "{}", response.status);
    });
    drop(appended);
    let mut smtp = common::Client::connect(server.smtp).unwrap();
    smtp.hello().unwrap();
    let message = text_message("smtp", "delivered", 61 * 1000 * 1000);
    assert_bounded(pid, "SMTP DATA of 61 MB", || {
        let reply = smtp.deliver("sender@example.org", &[USER], &message).unwrap();
        assert_eq!(reply.code, 250, "{reply:?}");
    });
    // The new messages join this session's view at its next sync.
    assert!(imap.command("NOOP").status.contains(" OK"));
    let response = imap.command("UID SEARCH SUBJECT smtp");
    assert!(response.status.contains(" OK"), "{}", response.status);
    assert!(String::from_utf8_lossy(&without_progress(&response.head)).starts_with("* SEARCH 68\r\n"));
    imap.command("LOGOUT");
}

/// Whether a heavy command's response is the expected one.
type Check = fn(&Response) -> bool;

/// Messages in the mailbox the heavy commands walk.
const LARGE_MAILBOX_MESSAGES: usize = 20_000;

/// While one session searches every message's text, walks every record and selects a
/// large mailbox, another session's NOOPs on the same core go on.
#[test]
fn heavy_commands_do_not_hold_the_core() {
    let _serial = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), 1);
    server.kill();
    store_all(dir.path(), |data| {
        let half = LARGE_MAILBOX_MESSAGES / 2;
        vec![
            (spool(data, "a", &text_message("a", "alpha", 1_500), true), half),
            (spool(data, "b", &text_message("b", "beta", 1_500), true), half),
        ]
    });
    let server = Server::start(dir.path(), 1);
    let address = server.imap.unwrap();
    let mut other = Imap::login(address);
    let stop = AtomicBool::new(false);
    // The slowest NOOP since the last heavy command started, in microseconds.
    let slowest_us = AtomicU64::new(0);
    let (slowest, noops) = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let (mut slowest, mut noops) = (Duration::ZERO, 0);
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                assert!(other.command("NOOP").status.contains(" OK"));
                let took = started.elapsed();
                slowest = slowest.max(took);
                slowest_us.fetch_max(u64::try_from(took.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
                noops += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            (slowest, noops)
        });
        let mut imap = Imap::login(address);
        let heavy: [(&str, Check); 5] = [
            ("SELECT INBOX", |r| r.status.contains(" OK")),
            ("SEARCH BODY gamma", |r| without_progress(&r.head).starts_with(b"* SEARCH\r\n")),
            ("SEARCH RETURN (COUNT) TEXT alpha", |r| r.status.contains(" OK")),
            ("SEARCH RETURN (COUNT) UNSEEN", |r| r.status.contains(" OK")),
            ("UID STORE 1:* +FLAGS.SILENT (\\Seen)", |r| r.status.contains(" OK")),
        ];
        for (command, check) in heavy {
            slowest_us.store(0, Ordering::Relaxed);
            let started = Instant::now();
            let response = imap.command(command);
            assert!(
                check(&response),
                "{command}: {} {}",
                response.status,
                String::from_utf8_lossy(&response.head)
            );
            eprintln!(
                "{command} over {LARGE_MAILBOX_MESSAGES} messages: {:.0} ms; slowest NOOP beside it: {:.1} ms",
                started.elapsed().as_secs_f64() * 1e3,
                slowest_us.load(Ordering::Relaxed) as f64 / 1e3
            );
        }
        stop.store(true, Ordering::Relaxed);
        watcher.join().unwrap()
    });
    eprintln!("{noops} NOOPs beside them; the slowest took {:.1} ms", slowest.as_secs_f64() * 1e3);
    assert!(noops > 0);
    assert!(slowest < NOOP_LATENCY_MAX, "a NOOP waited {slowest:?}");
}

/// Messages the large-set commands name (`STORE 1:*`, `UID COPY 1:*`, ...).
const LARGE_SET_MESSAGES: usize = 30_000;

/// Commands over a large set write one untagged response per message (STORE's FETCH
/// FLAGS, EXPUNGE, a resync's EXPUNGEs): the server's RSS stays within the bound, and
/// another session's NOOP on the same core goes on meanwhile.
#[test]
fn large_set_responses_are_bounded_and_do_not_hold_the_core() {
    let _serial = SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), 1);
    server.kill();
    store_all(dir.path(), |data| {
        vec![(spool(data, "small", &text_message("small", "small", 600), true), LARGE_SET_MESSAGES)]
    });
    let server = Server::start(dir.path(), 1);
    let address = server.imap.unwrap();
    let pid = server.pid();
    let mut heavy = Imap::login(address);
    let mut stale = Imap::login(address);
    let mut other = Imap::login(address);
    for imap in [&mut heavy, &mut stale] {
        let response = imap.command("SELECT INBOX");
        assert!(response.status.contains(" OK"), "{}", response.status);
    }
    for name in ["Copies", "Moved"] {
        assert!(heavy.command(&format!("CREATE {name}")).status.contains(" OK"));
    }
    let n = LARGE_SET_MESSAGES as u64;
    let stop = AtomicBool::new(false);
    let slowest_us = AtomicU64::new(0);
    let (slowest, noops) = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| {
            let (mut slowest, mut noops) = (Duration::ZERO, 0);
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                assert!(other.command("NOOP").status.contains(" OK"));
                let took = started.elapsed();
                slowest = slowest.max(took);
                slowest_us.fetch_max(u64::try_from(took.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
                noops += 1;
                std::thread::sleep(Duration::from_millis(5));
            }
            (slowest, noops)
        });
        let run = |imap: &mut Imap, command: &str, at_least_bytes: u64| {
            slowest_us.store(0, Ordering::Relaxed);
            let started = Instant::now();
            assert_bounded(pid, command, || {
                let response = imap.command(command);
                assert!(response.status.contains(" OK"), "{command}: {}", response.status);
                assert!(response.bytes >= at_least_bytes, "{command}: {} bytes", response.bytes);
            });
            eprintln!(
                "{command} over {LARGE_SET_MESSAGES} messages: {:.0} ms; slowest NOOP beside it: {:.1} ms",
                started.elapsed().as_secs_f64() * 1e3,
                slowest_us.load(Ordering::Relaxed) as f64 / 1e3
            );
        };
        // `* n FETCH (FLAGS (x))` per message.
        run(&mut heavy, "STORE 1:* +FLAGS (x)", n * 20);
        run(&mut heavy, "UID COPY 1:* Copies", 0);
        assert!(heavy.command("SELECT Copies").status.contains(" OK"));
        // `* n EXPUNGE` per message, after the COPYUID.
        run(&mut heavy, "UID MOVE 1:* Moved", n * 10);
        assert!(heavy.command("SELECT INBOX").status.contains(" OK"));
        run(&mut heavy, "STORE 1:* +FLAGS.SILENT (\\Deleted)", 0);
        run(&mut heavy, "EXPUNGE", n * 10);
        // The other session learns of every flag change and expunge at once.
        run(&mut stale, "NOOP", n * 10);
        stop.store(true, Ordering::Relaxed);
        watcher.join().unwrap()
    });
    eprintln!("{noops} NOOPs beside them; the slowest took {:.1} ms", slowest.as_secs_f64() * 1e3);
    assert!(noops > 0);
    assert!(slowest < NOOP_LATENCY_MAX, "a NOOP waited {slowest:?}");
    let response = heavy.command("STATUS Moved (MESSAGES)");
    assert!(
        String::from_utf8_lossy(&response.head).contains(&format!("MESSAGES {LARGE_SET_MESSAGES}")),
        "{}",
        String::from_utf8_lossy(&response.head)
    );
}
