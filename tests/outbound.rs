//! The outbound queue end to end with real binaries on loopback: a message submitted to
//! one `moxide serve` (Python's smtplib, AUTH PLAIN) reaches a second `moxide serve` as
//! the recipient domain's server, over STARTTLS, through a configured route, with a DKIM
//! signature that dkimpy verifies against the key `moxide dns records` prints; and a
//! queued message survives `kill -9` of the sender and is delivered exactly once after
//! the restart (`moxide queue retry` makes it due at once); and the recipient server is
//! found by MX lookup (the test DNS server, `tests/dns_server.py`, serving a zone with
//! the domain's MX and the host's A record), and a null MX fails at once with a DSN;
//! `moxide queue bounce` fails a queued message with a DSN to its sender; the admin
//! API's queue endpoints (curl over the control socket) list with filters and pages,
//! show, hold, release, retry, drop and bounce, and the running queue acts on each;
//! and messages submitted over many connections at once while the sender is killed with
//! `kill -9`, again and again, or loses power (its data directory on
//! `tests/crashfs.py`), each reach the recipient exactly once if acknowledged, at most
//! once if not.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{
    Client, DnsServer, Ledger, PASSWORD, RECEIVER_DOMAINS, Rng, SENDER_DOMAINS, Server, message_for,
    message_id_of, set_password, stored_messages, write_serve_config,
};

/// A receiving server with a self-signed certificate (STARTTLS offered).
fn receiver(dir: &Path) -> Server {
    let config = write_serve_config(dir, "", &[("smtp", "")], RECEIVER_DOMAINS);
    let status = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=mx.remote.example",
        ])
        .arg("-keyout")
        .arg(dir.join("key.pem"))
        .arg("-out")
        .arg(dir.join("cert.pem"))
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    // No DNS for the receiver's own checks: not what these tests look at.
    let mut text = format!("inbound_checks = false\n{}", std::fs::read_to_string(&config).unwrap());
    text.push_str("[[tls.certificates]]\nchain = \"cert.pem\"\nkey = \"key.pem\"\n");
    std::fs::write(&config, text).unwrap();
    let arg = config.display().to_string();
    Server::start_args(dir, &["serve", "--config", &arg], &[])
}

/// Writes the sender's configuration, routing remote.example to `route`.
fn sender_config(dir: &Path, route: SocketAddr) -> PathBuf {
    sender_config_with(
        dir,
        &format!(
            "[queue]\n[[queue.routes]]\ndomain = \"remote.example\"\nhost = \"mx.remote.example\"\naddress = \"{route}\"\n"
        ),
    )
}

/// Writes the sender's configuration with `extra` TOML tables appended; the sender's own
/// inbound checks are off (no DNS needed for them).
fn sender_config_with(dir: &Path, extra: &str) -> PathBuf {
    let config = write_serve_config(dir, "", &[("submission", ""), ("smtp", "")], SENDER_DOMAINS);
    let mut text = format!("inbound_checks = false\n{}", std::fs::read_to_string(&config).unwrap());
    text.push_str(extra);
    std::fs::write(&config, text).unwrap();
    config
}

fn start_sender(dir: &Path, config: &Path) -> Server {
    let arg = config.display().to_string();
    Server::start_args(dir, &["serve", "--config", &arg], &[])
}

/// Submits one message with smtplib to `to`.
fn submit(server: &Server, id: &str) {
    submit_to(server, id, "bob@remote.example");
}

fn submit_to(server: &Server, id: &str, to: &str) {
    common::submit_with_smtplib(server, "alice@example.org", PASSWORD, to, id);
}

fn wait_for_log(server: &Server, needle: &str, timeout: Duration) {
    let deadline = Instant::now() + timeout;
    while !server.log().contains(needle) {
        assert!(Instant::now() < deadline, "no {needle:?} in the log:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn queue_command(config: &Path, args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_moxide"))
        .args(["queue", "--config"])
        .arg(config)
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// An attempt's result is stored just after its log line: wait until the listing has
/// `needle`.
fn wait_for_listing(config: &Path, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = queue_command(config, &["list"]);
        if listed.contains(needle) {
            return;
        }
        assert!(Instant::now() < deadline, "never listed {needle:?}: {listed}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The result is stored just after the "delivered" log line: wait for it.
fn wait_for_empty_queue(config: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let listed = queue_command(config, &["list"]);
        if listed.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "still queued: {listed}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn submitted_mail_reaches_the_recipient_server_over_starttls() {
    let receiving = tempfile::tempdir().unwrap();
    let sending = tempfile::tempdir().unwrap();
    let mut receiver = receiver(receiving.path());
    let config = sender_config(sending.path(), receiver.smtp);
    set_password(&config, "alice", PASSWORD);
    let mut sender = start_sender(sending.path(), &config);
    submit(&sender, "first@client.example");
    wait_for_log(&sender, "moxide_actors::queue: delivered", Duration::from_secs(30));
    assert!(sender.log().contains("TLS established"), "{}", sender.log());
    wait_for_empty_queue(&config);
    assert!(sender.terminate(Duration::from_secs(30)).0.is_some_and(|s| s.success()));
    assert!(receiver.terminate(Duration::from_secs(30)).0.is_some_and(|s| s.success()));
    let stored = stored_messages(receiving.path(), "bob");
    assert_eq!(stored.len(), 1);
    let file = String::from_utf8_lossy(&stored[0].file).to_string();
    assert!(file.contains("Message-ID: <first@client.example>"), "{file}");
    assert!(file.contains("\r\n.a line with a dot\r\n"), "dot-stuffing undone: {file}");
    assert!(file.contains("\r\nReceived: from client.example"), "the sender's trace header: {file}");
    let prefix = String::from_utf8_lossy(&stored[0].info.prefix).to_string();
    assert!(prefix.contains("with ESMTPS"), "received over TLS: {prefix}");
    // Signed with the Ed25519 and the RSA-2048 key made at the sender's first start;
    // dkimpy verifies both signatures against the records `moxide dns records` prints.
    assert!(
        file.starts_with("DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.org;"),
        "{file}"
    );
    assert!(
        file.contains("\r\nDKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.org;"),
        "{file}"
    );
    let records = Command::new(env!("CARGO_BIN_EXE_moxide"))
        .args(["dns", "records", "--config"])
        .arg(&config)
        .arg("example.org")
        .output()
        .unwrap();
    let records = String::from_utf8(records.stdout).unwrap();
    let dkim_lines: Vec<&str> =
        records.lines().filter(|l| l.contains("._domainkey.example.org. TXT")).collect();
    assert_eq!(dkim_lines.len(), 2, "{records}");
    assert!(records.contains("k=rsa; h=sha256; p="), "{records}");
    let message = sending.path().join("received.eml");
    std::fs::write(&message, [stored[0].info.prefix.as_slice(), &stored[0].file].concat()).unwrap();
    // Each record line: `<selector>._domainkey.<domain>. TXT "..." ["..."]`.
    let script = "import sys, dkim\nmsg = open(sys.argv[1], 'rb').read()\nzone = {}\nfor line in sys.argv[2:]:\n    name, _, value = line.split(' ', 2)\n    zone[name.encode()] = ''.join(value.split('\"')[1::2]).encode()\nd = dkim.DKIM(msg)\nresults = [d.verify(idx=i, dnsfunc=lambda name, timeout=5: zone.get(name, b'')) for i in range(2)]\nprint(results)\nsys.exit(0 if all(results) else 1)\n";
    let output =
        Command::new("python3").args(["-c", script]).arg(&message).args(&dkim_lines).output().unwrap();
    assert!(
        output.status.success(),
        "dkimpy: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn a_queued_message_survives_kill_9_and_is_delivered_once() {
    let receiving = tempfile::tempdir().unwrap();
    let sending = tempfile::tempdir().unwrap();
    // First the route leads nowhere: the message stays queued.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let config = sender_config(sending.path(), closed);
    set_password(&config, "alice", PASSWORD);
    let mut sender = start_sender(sending.path(), &config);
    submit(&sender, "survivor@client.example");
    wait_for_log(&sender, "moxide_actors::queue: will retry", Duration::from_secs(30));
    // The attempt is stored just after the log line (as a delivery is).
    wait_for_listing(&config, "remote.example recipients 1 attempts 1");
    sender.kill();
    let listed = queue_command(&config, &["list"]);
    assert!(listed.contains("remote.example recipients 1 attempts 1"), "{listed}");

    let mut receiver = receiver(receiving.path());
    let config = sender_config(sending.path(), receiver.smtp);
    let mut sender = start_sender(sending.path(), &config);
    assert!(queue_command(&config, &["retry", "--domain", "remote.example"]).contains("due now 1"));
    wait_for_log(&sender, "moxide_actors::queue: delivered", Duration::from_secs(30));
    wait_for_empty_queue(&config);
    assert!(sender.terminate(Duration::from_secs(30)).0.is_some_and(|s| s.success()));
    assert!(receiver.terminate(Duration::from_secs(30)).0.is_some_and(|s| s.success()));
    let stored = stored_messages(receiving.path(), "bob");
    assert_eq!(stored.len(), 1, "exactly once");
    assert!(String::from_utf8_lossy(&stored[0].file).contains("Message-ID: <survivor@client.example>"));
    let leftovers = std::fs::read_dir(sending.path().join("data/queue/msg/0")).map_or(0, |d| d.count());
    assert_eq!(leftovers, 0, "no queue file left");
}

/// One submission client: AUTH PLAIN as alice, then messages to bob@remote.example until
/// told to stop or the server dies under it.
fn submit_loop(address: SocketAddr, name: String, submitted: Arc<Mutex<Ledger>>, stop: Arc<AtomicBool>) {
    let Ok(mut client) = Client::connect(address) else { return };
    if client.hello().is_err() {
        return;
    }
    let token = base64::engine::general_purpose::STANDARD.encode(format!("\0alice\0{PASSWORD}"));
    match client.command(&format!("AUTH PLAIN {token}")) {
        Ok(reply) if reply.code == 235 => {}
        Ok(reply) => panic!("{name}: AUTH refused: {reply:?}"),
        Err(_) => return,
    }
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        let id = format!("{name}-m{n}");
        n += 1;
        // Mostly small, now and then one that spans several spool writes.
        let size = if n % 9 == 0 { 120_000 } else { 300 + (n * 37) % 6_000 };
        let message = String::from_utf8(message_for(&id, size))
            .unwrap()
            .replacen("From: <sender@example.org>", "From: <alice@example.org>", 1)
            .into_bytes();
        if !Ledger::deliver(
            &submitted,
            &mut client,
            ("alice@example.org", &["bob@remote.example"]),
            id,
            &message,
        ) {
            return;
        }
    }
}

/// `count` clients running [`submit_loop`] against `address`, named `{prefix}-c{n}`, until
/// the returned flag is set.
fn submitters(
    address: SocketAddr,
    count: usize,
    prefix: &str,
    submitted: &Arc<Mutex<Ledger>>,
) -> (Arc<AtomicBool>, Vec<std::thread::JoinHandle<()>>) {
    let stop = Arc::new(AtomicBool::new(false));
    let clients = (0..count)
        .map(|client| {
            let (submitted, stop) = (Arc::clone(submitted), Arc::clone(&stop));
            let name = format!("{prefix}-c{client}");
            std::thread::spawn(move || submit_loop(address, name, submitted, stop))
        })
        .collect();
    (stop, clients)
}

/// The queue's promise under concurrent submission and crashes: a message that got `250`
/// is queued durably whatever moment the server dies (its group commit shared with other
/// sessions' messages and with the queue's own attempt results), and once the recipient's
/// server can be reached every queued message is delivered once, its bytes intact; no
/// queue or spool file is left behind.
#[test]
fn concurrently_submitted_mail_survives_kill_9_and_is_delivered_once() {
    const ROUNDS: usize = 3;
    const CONNECTIONS: usize = 8;
    let (mut rng, seed) = Rng::from_env_or_time("QUEUE_CRASH_SEED");
    let replay = format!("replay: QUEUE_CRASH_SEED={seed}");
    let receiving = tempfile::tempdir().unwrap();
    let sending = tempfile::tempdir().unwrap();
    // The route leads nowhere while the sender is killed: attempts fail and are recorded
    // while sessions queue messages.
    let config = crash_sender_config(sending.path());
    let submitted = Arc::new(Mutex::new(Ledger::default()));
    for round in 0..ROUNDS {
        let mut sender = start_sender(sending.path(), &config);
        let (stop, clients) =
            submitters(sender.listener("submission"), CONNECTIONS, &format!("r{round}"), &submitted);
        std::thread::sleep(Duration::from_millis(200 + rng.below(800)));
        sender.kill();
        stop.store(true, Ordering::SeqCst);
        for client in clients {
            client.join().unwrap_or_else(|_| panic!("a client panicked; {replay}"));
        }
    }
    let acknowledged = submitted.lock().unwrap().acknowledged.len();
    assert!(acknowledged > ROUNDS * CONNECTIONS, "too few acknowledged to mean anything: {acknowledged}");

    let submitted = submitted.lock().unwrap();
    let delivered = deliver_queued_and_check(sending.path(), receiving.path(), &submitted, &replay);
    eprintln!(
        "queue crash test: seed {seed}, {} sent, {acknowledged} acknowledged, {delivered} delivered",
        submitted.sent.len(),
    );
}

/// After a crash of the sender: starts a receiver and the sender again, makes the queue
/// due and waits until it is empty; then every message the receiver has was sent once
/// (its bytes intact), every acknowledged one arrived, and no queue or spool file is
/// left. Returns how many arrived.
fn deliver_queued_and_check(sending: &Path, receiving: &Path, submitted: &Ledger, replay: &str) -> usize {
    let mut receiver = receiver(receiving);
    let config = sender_config(sending, receiver.smtp);
    let mut sender = start_sender(sending, &config);
    queue_command(&config, &["retry", "--domain", "remote.example"]);
    wait_for_empty_queue(&config);
    assert!(sender.terminate(Duration::from_secs(30)).0.is_some_and(|s| s.success()));
    assert!(receiver.terminate(Duration::from_secs(30)).0.is_some_and(|s| s.success()));

    let mut seen = HashSet::new();
    for message in stored_messages(receiving, "bob") {
        let id = message_id_of(&message.file)
            .unwrap_or_else(|| panic!("a stored message without a test id; {replay}"));
        assert!(seen.insert(id.clone()), "{id} delivered twice; {replay}");
        let sent =
            submitted.sent.get(&id).unwrap_or_else(|| panic!("{id} delivered but never sent; {replay}"));
        assert!(message.file.ends_with(sent), "{id} arrived changed or partial; {replay}");
    }
    for id in &submitted.acknowledged {
        assert!(seen.contains(id), "{id} got 250 but never arrived; {replay}");
    }
    let queue_files: usize = std::fs::read_dir(sending.join("data/queue/msg"))
        .map_or(0, |dirs| dirs.flatten().map(|d| std::fs::read_dir(d.path()).map_or(0, |f| f.count())).sum());
    assert_eq!(queue_files, 0, "queue files left behind; {replay}");
    let spool = std::fs::read_dir(sending.join("data/tmp")).map_or(0, |d| d.count());
    assert_eq!(spool, 0, "spool files left behind; {replay}");
    seen.len()
}

/// The sender's configuration for the crash tests: remote.example routed to a closed
/// port (attempts fail and are recorded while sessions queue messages), and a daily send
/// limit above what fast clients submit.
fn crash_sender_config(sending: &Path) -> PathBuf {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let config = sender_config(sending, closed);
    set_password(&config, "alice", PASSWORD);
    std::fs::write(
        sending.join("domains.toml"),
        format!("{SENDER_DOMAINS}outgoing_messages_per_day_max = 100000\n"),
    )
    .unwrap();
    config
}

/// Submission under power loss: the sender's data directory is `tests/crashfs.py`, which
/// keeps only what was fsynced (or written O_DSYNC) when its process is killed. Every
/// message acknowledged before the loss, kept inline in the queue's database (up to
/// 64 KiB) or as a linked file (larger), is delivered once after the restart.
#[test]
fn submitted_mail_survives_losing_everything_not_fsynced() {
    const CONNECTIONS: usize = 4;
    let replay = "power loss of the sender".to_string();
    let receiving = tempfile::tempdir().unwrap();
    let sending = tempfile::tempdir().unwrap();
    let config = crash_sender_config(sending.path());
    // A first start makes the data directory (DKIM keys, stores) on the ordinary
    // filesystem; then the filesystem that forgets takes its place.
    start_sender(sending.path(), &config).kill();
    let data = sending.path().join("data");
    let backing = sending.path().join("backing");
    std::fs::rename(&data, &backing).unwrap();
    std::fs::create_dir(&data).unwrap();
    let mut fs = common::crashfs::CrashFs::mount(&backing, &data);

    let submitted = Arc::new(Mutex::new(Ledger::default()));
    let mut sender = start_sender(sending.path(), &config);
    let (stop, clients) = submitters(sender.listener("submission"), CONNECTIONS, "p", &submitted);
    std::thread::sleep(Duration::from_secs(3));
    sender.kill();
    fs.crash();
    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.join().unwrap();
    }
    let acknowledged = submitted.lock().unwrap().acknowledged.len();
    assert!(acknowledged >= 10, "too few acknowledged to mean anything: {acknowledged}");

    // The disk after the loss becomes the data directory.
    drop(fs);
    std::fs::remove_dir(&data).unwrap();
    std::fs::rename(&backing, &data).unwrap();
    let submitted = submitted.lock().unwrap();
    let delivered = deliver_queued_and_check(sending.path(), receiving.path(), &submitted, &replay);
    eprintln!(
        "queue power loss: {} sent, {acknowledged} acknowledged, {delivered} delivered",
        submitted.sent.len()
    );
}

#[test]
fn the_recipient_server_is_found_by_mx_lookup_and_a_null_mx_bounces() {
    let receiving = tempfile::tempdir().unwrap();
    let sending = tempfile::tempdir().unwrap();
    let mut receiver = receiver(receiving.path());
    let zone = sending.path().join("zone");
    std::fs::write(
        &zone,
        "remote.example. 300 IN MX 10 mx.remote.example.\n\
         mx.remote.example. 300 IN A 127.0.0.1\n\
         nomail.example. 300 IN MX 0 .\n",
    )
    .unwrap();
    let dns = DnsServer::start(&zone);
    let config = sender_config_with(
        sending.path(),
        &format!("[dns]\nresolvers = [\"{}\"]\n[queue]\nmx_port = {}\n", dns.address, receiver.smtp.port()),
    );
    set_password(&config, "alice", PASSWORD);
    let mut sender = start_sender(sending.path(), &config);
    submit(&sender, "mx@client.example");
    submit_to(&sender, "nullmx@client.example", "someone@nomail.example");
    wait_for_log(&sender, "moxide_actors::queue: delivered id=1", Duration::from_secs(30));
    wait_for_log(&sender, "null MX", Duration::from_secs(30));
    wait_for_empty_queue(&config);
    let queries = dns.queries();
    assert!(queries.contains(&"remote.example MX".to_owned()), "{queries:?}");
    assert!(queries.contains(&"mx.remote.example A".to_owned()), "{queries:?}");
    assert!(sender.terminate(Duration::from_secs(30)).0.is_some_and(|s| s.success()));
    assert!(receiver.terminate(Duration::from_secs(30)).0.is_some_and(|s| s.success()));
    let stored = stored_messages(receiving.path(), "bob");
    assert_eq!(stored.len(), 1);
    assert!(String::from_utf8_lossy(&stored[0].file).contains("Message-ID: <mx@client.example>"));
    // The null MX's failure came back to alice as a DSN.
    let bounces = stored_messages(sending.path(), "alice");
    assert_eq!(bounces.len(), 1);
    let dsn = String::from_utf8_lossy(&bounces[0].file).to_string();
    assert!(dsn.contains("Final-Recipient: rfc822; someone@nomail.example\r\nAction: failed\r\n"), "{dsn}");
    assert!(dsn.contains("Message-ID: <nullmx@client.example>"), "original header returned: {dsn}");
}

#[test]
fn bounce_fails_a_queued_message_with_a_dsn_to_the_sender() {
    let sending = tempfile::tempdir().unwrap();
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let config = sender_config(sending.path(), closed);
    set_password(&config, "alice", PASSWORD);
    let mut sender = start_sender(sending.path(), &config);
    submit(&sender, "bounced@client.example");
    wait_for_log(&sender, "moxide_actors::queue: will retry", Duration::from_secs(30));
    assert!(queue_command(&config, &["bounce", "--domain", "remote.example"]).contains("bounced 1"));
    // The DSN is queued in the same transaction; the running server delivers it locally.
    wait_for_empty_queue(&config);
    assert!(sender.terminate(Duration::from_secs(30)).0.is_some_and(|s| s.success()));
    let inbox = stored_messages(sending.path(), "alice");
    assert_eq!(inbox.len(), 1);
    let dsn = String::from_utf8_lossy(&inbox[0].file).to_string();
    assert!(dsn.contains("Action: failed\r\nStatus: 5.3.0\r\n"), "{dsn}");
    assert!(dsn.contains("delivery cancelled by the postmaster"), "{dsn}");
    assert!(dsn.contains("Message-ID: <bounced@client.example>"), "{dsn}");
}

/// One admin API call over the control socket with curl; (status, JSON answer).
fn api(dir: &Path, method: &str, path: &str, body: Option<&str>) -> (u16, serde_json::Value) {
    let socket = dir.join("data/ctl.sock");
    let mut command = Command::new("curl");
    command.args(["-sS", "-X", method, "-w", "\n%{http_code}", "--unix-socket"]).arg(&socket);
    if let Some(body) = body {
        command.args(["-H", "Content-Type: application/json", "-d", body]);
    }
    let output = command.arg(format!("http://moxide{path}")).output().unwrap();
    let text = String::from_utf8(output.stdout).unwrap();
    let (json, status) = text.rsplit_once('\n').unwrap();
    let value = if json.is_empty() { serde_json::Value::Null } else { serde_json::from_str(json).unwrap() };
    (status.parse().unwrap(), value)
}

fn attempts(dir: &Path, id: u64) -> u64 {
    let (status, message) = api(dir, "GET", &format!("/api/v0/admin/queue/{id}"), None);
    assert_eq!(status, 200, "{message}");
    message["destinations"][0]["attempts"].as_u64().unwrap()
}

#[test]
fn the_admin_api_lists_and_changes_the_queue() {
    let sending = tempfile::tempdir().unwrap();
    let dir = sending.path();
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let config = sender_config(dir, closed);
    set_password(&config, "alice", PASSWORD);
    let mut sender = start_sender(dir, &config);
    submit(&sender, "one@client.example");
    submit(&sender, "two@client.example");
    let deadline = Instant::now() + Duration::from_secs(30);
    while sender.log().matches("moxide_actors::queue: will retry").count() < 2 {
        assert!(Instant::now() < deadline, "{}", sender.log());
        std::thread::sleep(Duration::from_millis(50));
    }

    // Pages by id, with filters.
    let (status, page) = api(dir, "GET", "/api/v0/admin/queue?limit=1", None);
    assert_eq!(status, 200, "{page}");
    let first = page["messages"][0]["id"].as_u64().unwrap();
    assert_eq!(page["next_after"].as_u64(), Some(first), "{page}");
    let (_, rest) = api(dir, "GET", &format!("/api/v0/admin/queue?after={first}"), None);
    let second = rest["messages"][0]["id"].as_u64().unwrap();
    assert!(
        second > first && rest["next_after"].is_null() && rest["messages"].as_array().unwrap().len() == 1
    );
    let count = |query: &str| {
        api(dir, "GET", &format!("/api/v0/admin/queue?{query}"), None).1["messages"].as_array().unwrap().len()
    };
    assert_eq!(count("domain=Remote.example"), 2);
    assert_eq!(count("domain=other.example"), 0);
    assert_eq!(count("from=alice%40example.org"), 2);
    assert_eq!(count("held=true"), 0);
    let (_, shown) = api(dir, "GET", &format!("/api/v0/admin/queue/{first}"), None);
    let recipient = &shown["destinations"][0]["recipients"][0];
    assert_eq!(recipient["address"], "bob@remote.example");
    assert!(recipient["last_result"]["code"].as_u64().unwrap() >= 400, "{shown}");

    // Hold: the runner leaves it; retry releases it and the runner attempts it at once.
    let selection = format!("{{\"id\": {first}}}");
    let (status, changed) = api(dir, "POST", "/api/v0/admin/queue/hold", Some(&selection));
    assert_eq!((status, changed["destinations"].as_u64()), (200, Some(1)));
    assert_eq!(count("held=true"), 1);
    assert!(queue_command(&config, &["list", "--held"]).contains(&format!("{first} from alice@example.org")));
    let (_, changed) = api(dir, "POST", "/api/v0/admin/queue/release", Some(&selection));
    assert_eq!(changed["destinations"].as_u64(), Some(1));
    let before = attempts(dir, first);
    let (_, changed) = api(dir, "POST", "/api/v0/admin/queue/retry", Some(&selection));
    assert_eq!(changed["destinations"].as_u64(), Some(1));
    let deadline = Instant::now() + Duration::from_secs(10);
    while attempts(dir, first) == before {
        assert!(Instant::now() < deadline, "retry did not run:\n{}", sender.log());
        std::thread::sleep(Duration::from_millis(50));
    }

    // Drop one without a DSN, bounce the other with one.
    let (_, changed) = api(dir, "POST", "/api/v0/admin/queue/drop", Some(&format!("{{\"id\": {second}}}")));
    assert_eq!(changed["destinations"].as_u64(), Some(1));
    assert_eq!(api(dir, "GET", &format!("/api/v0/admin/queue/{second}"), None).0, 404);
    let (_, changed) =
        api(dir, "POST", "/api/v0/admin/queue/bounce", Some(r#"{"domain": "remote.example"}"#));
    assert_eq!(changed["destinations"].as_u64(), Some(1));
    wait_for_empty_queue(&config);

    // Refusals.
    assert_eq!(api(dir, "POST", "/api/v0/admin/queue/explode", Some("{}")).0, 404);
    assert_eq!(api(dir, "POST", "/api/v0/admin/queue/hold", Some(r#"{"bogus": 1}"#)).0, 400);
    assert_eq!(api(dir, "GET", "/api/v0/admin/queue/abc", None).0, 400);
    assert_eq!(api(dir, "GET", "/api/v0/admin/queue?limit=0", None).0, 400);
    assert_eq!(api(dir, "DELETE", "/api/v0/admin/queue", None).0, 405);

    assert!(sender.terminate(Duration::from_secs(30)).0.is_some_and(|s| s.success()));
    let inbox = stored_messages(dir, "alice");
    assert_eq!(inbox.len(), 1, "one DSN, for the bounced message only");
    let dsn = String::from_utf8_lossy(&inbox[0].file).to_string();
    assert!(dsn.contains("Message-ID: <one@client.example>"), "{dsn}");
}
