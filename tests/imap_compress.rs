//! COMPRESS=DEFLATE (RFC 4978) against the real `moxide localserve` binary, with real
//! clients: Python's imaplib over a socket wrapped in raw DEFLATE (over plain TCP with
//! partial and sync flushes, STARTTLS and implicit TLS: COMPRESS before login, an
//! unknown mechanism, COMPRESS twice, STARTTLS after it, APPEND and FETCH, IDLE woken by
//! an SMTP delivery), a 10 MiB FETCH with the server's peak RSS read from /proc, a
//! decompression bomb inside an over-long literal, the resident memory of compressed
//! connections in IDLE against plain ones, a compressed FETCH the client stops reading
//! (another session's NOOPs answered meanwhile, every byte there later), a shutdown's
//! BYE to a compressed IDLE, mbsync (isync), which turns COMPRESS on by itself when the
//! server offers it, and offlineimap3 with `usecompression`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use common::{Client, Server};

fn python(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/compress.py");
    let output = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 is installed (scripts/test installs it)");
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "compress.py {args:?} failed:\n{text}");
    text
}

/// Runs the client in `args` while measuring the server's memory: from the client's
/// `READY` (logged in, so the password hash's working memory is not counted) to its end.
/// Returns what it printed and the growth of the server's peak RSS in KiB.
fn python_measured(server: &Server, args: &[&str]) -> (String, u64) {
    python_at_ready(server, args, |_| {})
}

/// Runs the client in `args`; at its `READY` calls `at_ready` with the server's pid,
/// resets the server's peak RSS, and lets the client go on. Returns what it printed and
/// the growth of the server's peak RSS (from `READY` to the end) in KiB.
fn python_at_ready(server: &Server, args: &[&str], at_ready: impl FnOnce(u32)) -> (String, u64) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/compress.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is installed (scripts/test installs it)");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut printed = String::new();
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap() > 0 && line.trim() != "READY" {
        printed.push_str(&line);
        line.clear();
    }
    if line.trim() != "READY" {
        let output = child.wait_with_output().unwrap();
        panic!("the client ended before READY:\n{printed}{}", String::from_utf8_lossy(&output.stderr));
    }
    let pid = server.pid();
    at_ready(pid);
    let (before_kib, _) = rss_kib(pid);
    reset_peak(pid);
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let output = {
        let mut rest = String::new();
        stdout.read_to_string(&mut rest).unwrap();
        printed.push_str(&rest);
        child.wait_with_output().unwrap()
    };
    let (_, peak_kib) = rss_kib(pid);
    printed.push_str(&String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "compress.py {args:?} failed:\n{printed}");
    printed.push_str(&format!("server rss {before_kib} KiB before, peak {peak_kib} KiB during\n"));
    (printed, peak_kib.saturating_sub(before_kib))
}

fn port(server: &Server, name: &str) -> String {
    server.listener(name).port().to_string()
}

#[test]
fn imaplib_compresses_over_plain_tcp_starttls_and_implicit_tls() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 2);
    let smtp = server.smtp.port().to_string();
    let ca = dir.path().join("config/tls/chain.pem").display().to_string();
    let imap = port(&server, "imap");
    let imaps = port(&server, "imaps");
    for (listener, mode) in [(&imap, "plain"), (&imap, "plain-sync"), (&imap, "starttls"), (&imaps, "imaps")]
    {
        let seen = python(&["flows", listener, &smtp, mode, &ca]);
        eprintln!("{}", seen.trim());
        assert!(seen.contains("before login: COMPRESS command error: BAD"), "{seen}");
        assert!(seen.contains("second COMPRESS: NO [COMPRESSIONACTIVE]"), "{seen}");
    }
    assert!(!server.log().contains("ERROR"), "{}", server.log());
}

/// The server's resident memory and its peak since the last reset, in KiB.
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        let line = status.lines().find(|line| line.starts_with(name)).unwrap();
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Writing 5 to clear_refs resets the peak (VmHWM) to the current RSS (proc(5)).
fn reset_peak(pid: u32) {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").unwrap();
}

#[test]
fn a_10_mib_fetch_streams_through_the_compressor_in_bounded_memory() {
    const MESSAGE_BYTES: usize = 10 * 1024 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 1);
    let message = common::message_for("big", MESSAGE_BYTES);
    let mut smtp = Client::connect(server.smtp).unwrap();
    smtp.hello().unwrap();
    let reply = smtp.deliver("sender@example.org", &["mox@localhost"], &message).unwrap();
    assert_eq!(reply.code, 250, "{reply:?}");
    drop(smtp);
    let expected = dir.path().join("big.eml");
    std::fs::write(&expected, &message).unwrap();
    let (seen, growth_kib) =
        python_measured(&server, &["bigfetch", &port(&server, "imap"), &expected.display().to_string()]);
    eprintln!("{}", seen.trim());
    // The message is 10 MiB: holding it whole (or its compressed form) would show. The
    // compressor's state, a 64 KiB file chunk and allocator slack stay far below.
    assert!(growth_kib < 4 * 1024, "peak RSS grew by {growth_kib} KiB during a compressed 10 MiB FETCH");
}

#[test]
fn a_decompression_bomb_gets_the_literal_limit_not_memory() {
    const BOMB_MIB: &str = "64";
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 1);
    let (seen, growth_kib) = python_measured(&server, &["bomb", &port(&server, "imap"), BOMB_MIB]);
    eprintln!("{}", seen.trim());
    assert!(seen.contains("over-long literal: b1 NO [TOOBIG]"), "{seen}");
    assert!(growth_kib < 4 * 1024, "peak RSS grew by {growth_kib} KiB while 64 MiB of zeros were inflated");
}

/// An idle compressed connection keeps the inflate state only: the deflate state
/// (about 330 KiB) is freed while the session waits in IDLE and made again for the next
/// response.
#[test]
fn compressed_connections_in_idle_hold_little_memory() {
    let plain_kib = idle_connection_kib("plain");
    let compressed_kib = idle_connection_kib("deflate");
    eprintln!("per idle connection: {plain_kib} KiB plain, {compressed_kib} KiB compressed");
    // With the deflate state kept, compression would add over 350 KiB each; the inflate
    // state and its input buffer are about 55 KiB.
    assert!(
        compressed_kib < plain_kib + 120,
        "{compressed_kib} KiB per idle compressed connection against {plain_kib} KiB plain"
    );
}

/// A plain idle connection stays within the 16 KiB the project aims for at scale (about
/// 12 KiB in a release build with 4,000 connections, docs/benchmarks-analysis.md). This
/// debug build with 25 connections measures 13–15 KiB; a connection task that held the
/// session's future twice measured 22–25 KiB here.
#[test]
fn a_plain_idle_connection_holds_little_memory() {
    let plain_kib = idle_connection_kib("plain");
    assert!(plain_kib < 18, "{plain_kib} KiB per idle plain connection");
}

/// The server's resident memory per connection in IDLE (`deflate` or `plain`), over a
/// server that served one such connection first (store, actor, allocator warm).
fn idle_connection_kib(mode: &str) -> u64 {
    // Below the 30 open connections one address may hold.
    const CONNECTIONS: u64 = 25;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 1);
    let imap = port(&server, "imap");
    python_at_ready(&server, &["idlers", &imap, "1", mode], |_| {});
    let (before_kib, _) = rss_kib(server.pid());
    let mut idle_kib = 0;
    python_at_ready(&server, &["idlers", &imap, &CONNECTIONS.to_string(), mode], |pid| {
        idle_kib = rss_kib(pid).0;
    });
    idle_kib.saturating_sub(before_kib) / CONNECTIONS
}

/// A client that stops reading in the middle of a compressed FETCH: the server's file
/// steps stall against the full socket and are retried (a write cut by its step timeout
/// loses nothing), the core stays free for another session, and once the client reads
/// again it gets every byte.
#[test]
fn a_stalled_compressed_fetch_neither_holds_the_core_nor_loses_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 1);
    // Base64 of random bytes: DEFLATE saves only about a quarter, so the compressed
    // response (about 6 MB) is more than the socket buffers hold.
    let mut rng = common::Rng::new(4978);
    let mut message = b"From: <sender@example.org>\r\nTo: <mox@localhost>\r\nSubject: noise\r\n\r\n".to_vec();
    while message.len() < 8 * 1024 * 1024 {
        let line = base64::engine::general_purpose::STANDARD.encode(rng.bytes(57));
        message.extend_from_slice(line.as_bytes());
        message.extend_from_slice(b"\r\n");
    }
    let mut smtp = Client::connect(server.smtp).unwrap();
    smtp.hello().unwrap();
    let reply = smtp.deliver("sender@example.org", &["mox@localhost"], &message).unwrap();
    assert_eq!(reply.code, 250, "{reply:?}");
    drop(smtp);
    let expected = dir.path().join("noise.eml");
    std::fs::write(&expected, &message).unwrap();
    let seen = python(&["slowreader", &port(&server, "imap"), &expected.display().to_string()]);
    eprintln!("{}", seen.trim());
    assert!(!server.log().contains("ERROR"), "{}", server.log());
}

/// A graceful shutdown reaches a compressed session in IDLE: its `* BYE` is written
/// through the compressor and flushed, and the server exits cleanly.
#[test]
fn shutdown_says_bye_through_the_compressor() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), 1);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/compress.py");
    let mut child = Command::new("python3")
        .arg(script)
        .args(["shutdown", &port(&server, "imap")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 is installed (scripts/test installs it)");
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while stdout.read_line(&mut line).unwrap() > 0 && line.trim() != "READY" {
        line.clear();
    }
    server.signal("TERM");
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{rest}{stderr}");
    assert!(rest.contains("in IDLE at shutdown: * BYE"), "{rest}{stderr}");
    let status = server.wait_exit(Duration::from_secs(30));
    assert!(status.is_some_and(|status| status.success()), "{status:?}\n{}", server.log());
}

/// mbsync (isync 1.4) sends COMPRESS DEFLATE by itself when CAPABILITY offers it; a
/// sync of a few hundred messages runs through it, and a second sync is a no-op.
#[test]
fn mbsync_negotiates_compress_and_syncs() {
    const MESSAGES: usize = 200;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 2);
    let mut smtp = Client::connect(server.smtp).unwrap();
    smtp.hello().unwrap();
    for i in 0..MESSAGES {
        let message = common::message_for(&format!("mbsync-{i}"), 4000);
        let reply = smtp.deliver("sender@example.org", &["mox@localhost"], &message).unwrap();
        assert_eq!(reply.code, 250, "{reply:?}");
    }
    drop(smtp);
    let maildir = dir.path().join("maildir");
    std::fs::create_dir_all(&maildir).unwrap();
    let config = dir.path().join("mbsyncrc");
    std::fs::write(
        &config,
        format!(
            "IMAPAccount moxide\nHost 127.0.0.1\nPort {}\nUser mox@localhost\nPass moxmoxmox\nSSLType None\nAuthMechs LOGIN\n\n\
             IMAPStore remote\nAccount moxide\n\n\
             MaildirStore local\nPath {}/\nInbox {}/INBOX\n\n\
             Channel inbox\nFar :remote:INBOX\nNear :local:INBOX\nCreate Near\nSync Pull\nSyncState *\n",
            port(&server, "imap"),
            maildir.display(),
            maildir.display()
        ),
    )
    .unwrap();
    let run = || {
        // -Dn: the protocol as mbsync sees it (after its own inflating).
        let output = Command::new("mbsync")
            .arg("-c")
            .arg(&config)
            .arg("-Dn")
            .arg("inbox")
            .output()
            .expect("mbsync (isync) is installed");
        let text =
            format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "mbsync failed:\n{text}");
        text
    };
    let first = run();
    assert!(first.contains("COMPRESS DEFLATE"), "mbsync did not ask for compression:\n{first}");
    let stored: Vec<_> = ["cur", "new"]
        .iter()
        .flat_map(|sub| std::fs::read_dir(maildir.join("INBOX").join(sub)).unwrap())
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(stored.len(), MESSAGES);
    for path in stored {
        let text = String::from_utf8(std::fs::read(&path).unwrap()).unwrap();
        let id = common::message_id_of(text.as_bytes()).unwrap();
        // mbsync stores LF line ends and adds an X-TUID line while it syncs.
        let without_tuid: String =
            text.split_inclusive('\n').filter(|l| !l.starts_with("X-TUID: ")).collect();
        let sent = String::from_utf8(common::message_for(&id, 4000)).unwrap().replace("\r\n", "\n");
        assert!(without_tuid.ends_with(&sent), "{id} differs");
    }
    let second = run();
    assert!(second.contains("COMPRESS DEFLATE"), "{second}");
    assert!(!server.log().contains("ERROR"), "{}", server.log());
}

/// offlineimap3 (Debian's `offlineimap3`, imaplib2 underneath) with `usecompression`
/// sends COMPRESS DEFLATE after login and syncs INBOX to a Maildir through it.
#[test]
fn offlineimap_with_usecompression_syncs() {
    const MESSAGES: usize = 50;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 2);
    let mut smtp = Client::connect(server.smtp).unwrap();
    smtp.hello().unwrap();
    for i in 0..MESSAGES {
        let message = common::message_for(&format!("offlineimap-{i}"), 3000);
        let reply = smtp.deliver("sender@example.org", &["mox@localhost"], &message).unwrap();
        assert_eq!(reply.code, 250, "{reply:?}");
    }
    drop(smtp);
    let config = dir.path().join("offlineimaprc");
    std::fs::write(
        &config,
        format!(
            "[general]\naccounts = moxide\nmetadata = {dir}/offlineimap-meta\n\n\
             [Account moxide]\nlocalrepository = local\nremoterepository = remote\n\n\
             [Repository local]\ntype = Maildir\nlocalfolders = {dir}/offlineimap-mail\n\n\
             [Repository remote]\ntype = IMAP\nremotehost = 127.0.0.1\nremoteport = {port}\n\
             remoteuser = mox@localhost\nremotepass = moxmoxmox\nssl = no\nstarttls = no\n\
             usecompression = yes\nfolderfilter = lambda folder: folder == 'INBOX'\n",
            dir = dir.path().display(),
            port = port(&server, "imap"),
        ),
    )
    .unwrap();
    let output = Command::new("offlineimap")
        .args(["-c", &config.display().to_string(), "-o", "-u", "basic", "-d", "imap"])
        .output()
        .expect("offlineimap (offlineimap3) is installed (scripts/test installs it)");
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "offlineimap failed:\n{text}");
    assert!(text.contains("COMPRESS DEFLATE"), "offlineimap did not ask for compression:\n{text}");
    let inbox = dir.path().join("offlineimap-mail/INBOX");
    let stored: Vec<_> = ["cur", "new"]
        .iter()
        .flat_map(|sub| std::fs::read_dir(inbox.join(sub)).unwrap())
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(stored.len(), MESSAGES, "{text}");
    for path in stored {
        let bytes = std::fs::read(&path).unwrap();
        let id = common::message_id_of(&bytes).unwrap();
        let text = String::from_utf8(bytes).unwrap().replace("\r\n", "\n");
        let sent = String::from_utf8(common::message_for(&id, 3000)).unwrap().replace("\r\n", "\n");
        assert!(text.ends_with(&sent), "{id} differs");
    }
    assert!(!server.log().contains("ERROR"), "{}", server.log());
}
