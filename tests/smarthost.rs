//! Outbound transports end to end with real binaries on loopback: a sending
//! `moxide serve` relays through a second `moxide serve` acting as the smarthost
//! (submission with implicit TLS and with STARTTLS, a certificate for
//! `smarthost.example` issued by a private CA the sender trusts through
//! `queue.tls_roots_extra`, the name found through the test DNS server).
//!
//! Cases: routes by recipient domain and by sender domain choose transports that
//! authenticate with SCRAM-SHA-256, SCRAM-SHA-256-PLUS (TLS 1.3 channel binding) and
//! PLAIN, and one to the relay's port 25 without AUTH (opportunistic STARTTLS), and
//! the messages arrive in the smarthost's mailbox (read over IMAP with
//! Python's imaplib); a wrong password (`535`) fails the message for good with a DSN
//! naming the smarthost as Remote-MTA; a route with `minimum_attempts = 1` leaves the
//! first attempt to direct delivery (a peer answering `451`) and takes the retry
//! (made due with `moxide queue retry`, no sleeping) through the smarthost; routes
//! changed in the domains file and reloaded (SIGHUP, `moxide config reload`) apply to
//! the next message, a reload naming an unknown transport is refused, and the admin
//! API shows them; and `moxide config check` refuses a route naming a transport that
//! does not exist.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{
    DnsServer, PASSWORD, SENDER_DOMAINS, Server, issue, make_ca, set_password, stored_messages,
    write_serve_config,
};

/// The smarthost's accounts: `relay` (the sender's login there, which may send as
/// alice@example.org) and `bob`, the recipient of every test message.
const SMARTHOST_DOMAINS: &str = r#"
postmaster_account = "bob"
[domains."example.org"]
[domains."remote.example"]
[domains."other.example"]
[domains."third.example"]
[domains."fourth.example"]
[accounts.relay]
addresses = ["alice@example.org"]
[accounts.bob]
addresses = ["bob@remote.example", "bob@other.example", "bob@third.example", "bob@fourth.example"]
"#;

const RELAY_PASSWORD: &str = "relay secret 123";

/// The test PKI in `dir`: CA `ca` and a certificate for smarthost.example.
fn pki(dir: &Path) {
    make_ca(dir, "ca");
    issue(dir, "ca", "smarthost.example");
}

/// The smarthost: submission with implicit TLS ("submissions") and with STARTTLS
/// ("submission"), IMAP, the certificate of `pki`.
fn smarthost(dir: &Path, pki: &Path) -> Server {
    let listeners = [
        ("smtp", ""),
        ("submission", "tls = \"implicit\""),
        ("submission", "tls = \"starttls\""),
        ("imap", ""),
    ];
    let config = write_serve_config(dir, "", &listeners, SMARTHOST_DOMAINS);
    let mut text = format!("inbound_checks = false\n{}", std::fs::read_to_string(&config).unwrap());
    text.push_str(&format!(
        "[[tls.certificates]]\nchain = \"{}\"\nkey = \"{}\"\n",
        pki.join("smarthost.example.pem").display(),
        pki.join("smarthost.example.key").display()
    ));
    std::fs::write(&config, text).unwrap();
    set_password(&config, "relay", RELAY_PASSWORD);
    set_password(&config, "bob", PASSWORD);
    let arg = config.display().to_string();
    Server::start_args(dir, &["serve", "--config", &arg], &[])
}

/// The sending server: DNS from `dns`, the CA of `pki` as its only root, `queue` the
/// lines of its `[queue]` table and after (transports, fixed routes), `routes` the
/// domains file's routes.
fn sender(dir: &Path, pki: &Path, dns: &DnsServer, queue: &str, routes: &str) -> (Server, PathBuf) {
    let domains = format!("{SENDER_DOMAINS}{routes}");
    let config = write_serve_config(dir, "", &[("smtp", ""), ("submission", "")], &domains);
    let mut text = format!("inbound_checks = false\n{}", std::fs::read_to_string(&config).unwrap());
    text.push_str(&format!(
        "[dns]\nresolvers = [\"{}\"]\n[queue]\ntls_roots_file = \"\"\ntls_roots_extra = [\"{}\"]\n{queue}",
        dns.address,
        pki.join("ca.pem").display(),
    ));
    std::fs::write(&config, text).unwrap();
    set_password(&config, "alice", PASSWORD);
    let arg = config.display().to_string();
    (Server::start_args(dir, &["serve", "--config", &arg], &[]), config)
}

/// A transport to the smarthost: `kind`, `port`, the relay's credentials (`password`)
/// and `mechanisms` (TOML array text, may be empty).
fn transport(name: &str, kind: &str, port: u16, password: &str, mechanisms: &str) -> String {
    format!(
        "[queue.transports.{name}]\nkind = \"{kind}\"\nhost = \"smarthost.example\"\nport = {port}\n\
         username = \"relay\"\npassword = \"{password}\"\nmechanisms = [{mechanisms}]\n"
    )
}

/// A zone where smarthost.example is 127.0.0.1.
fn dns(dir: &Path) -> DnsServer {
    let zone = dir.join("zone");
    std::fs::write(&zone, "smarthost.example. 300 IN A 127.0.0.1\n").unwrap();
    DnsServer::start(&zone)
}

fn wait_for_log(server: &Server, needle: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.log().matches(needle).count() < count {
        assert!(Instant::now() < deadline, "not {count} × {needle:?} in the log:\n{}", server.log());
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

/// The Message-IDs in bob's INBOX at the smarthost, over IMAP (imaplib), once there
/// are `count` messages.
fn inbox_message_ids(server: &Server, count: usize) -> Vec<String> {
    let port = server.listener("imap").port();
    let script = format!(
        r#"
import imaplib, time
deadline = time.time() + 60
while True:
    c = imaplib.IMAP4("127.0.0.1", {port})
    c.login("bob@remote.example", "{PASSWORD}")
    typ, data = c.select("INBOX")
    if int(data[0]) >= {count} or time.time() > deadline:
        break
    c.logout()
    time.sleep(0.2)
typ, data = c.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
for item in data:
    if isinstance(item, tuple):
        print(item[1].decode().strip())
c.logout()
"#
    );
    let output = Command::new("python3").arg("-c").arg(script).output().unwrap();
    assert!(output.status.success(), "imaplib: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap().lines().map(str::to_owned).collect()
}

fn submit(server: &Server, id: &str, to: &str) {
    common::submit_with_smtplib(server, "alice@example.org", PASSWORD, to, id);
}

/// The lines of the log that say which mechanism authenticated at the smarthost.
fn mechanisms_used(server: &Server) -> Vec<String> {
    let log = server.log();
    let mut used: Vec<String> = log
        .lines()
        .filter(|l| l.contains("authenticating"))
        .filter_map(|l| l.split("mechanism=").nth(1))
        .map(|m| m.split_whitespace().next().unwrap_or("").to_owned())
        .collect();
    used.sort();
    used
}

#[test]
fn routes_relay_through_a_smarthost_with_scram_and_plain() {
    let pki_dir = tempfile::tempdir().unwrap();
    let relaying = tempfile::tempdir().unwrap();
    let sending = tempfile::tempdir().unwrap();
    pki(pki_dir.path());
    let dns = dns(sending.path());
    let mut relay = smarthost(relaying.path(), pki_dir.path());
    let implicit = relay.listener("submissions").port();
    let starttls = relay.listener("submission").port();
    let queue = [
        transport("scram", "submissions", implicit, RELAY_PASSWORD, "\"SCRAM-SHA-256\""),
        transport("plain", "submission", starttls, RELAY_PASSWORD, "\"PLAIN\""),
        transport("strongest", "submissions", implicit, RELAY_PASSWORD, ""),
        // Port 25 of the relay, no AUTH, opportunistic STARTTLS.
        format!(
            "[queue.transports.port25]\nkind = \"smtp\"\nhost = \"smarthost.example\"\nport = {}\n",
            relay.smtp.port()
        ),
    ]
    .concat();
    let routes = [
        "[[routes]]\ntransport = \"port25\"\nto_domain = [\"fourth.example\"]\n",
        "[[routes]]\ntransport = \"scram\"\nto_domain = [\"remote.example\"]\n",
        "[[routes]]\ntransport = \"plain\"\nto_domain = [\"other.example\"]\n",
        "[[routes]]\ntransport = \"strongest\"\nfrom_domain = [\"example.org\"]\n",
    ]
    .concat();
    let (mut sender, _config) = sender(sending.path(), pki_dir.path(), &dns, &queue, &routes);
    submit(&sender, "scram@client.example", "bob@remote.example");
    submit(&sender, "plain@client.example", "bob@other.example");
    submit(&sender, "plus@client.example", "bob@third.example");
    submit(&sender, "port25@client.example", "bob@fourth.example");
    wait_for_log(&sender, "moxide_actors::queue: delivered", 4);
    let mut ids = inbox_message_ids(&relay, 4);
    ids.sort();
    assert_eq!(
        ids,
        [
            "Message-ID: <plain@client.example>",
            "Message-ID: <plus@client.example>",
            "Message-ID: <port25@client.example>",
            "Message-ID: <scram@client.example>"
        ]
    );
    // Each route's transport, each with its mechanism: TLS 1.3 gives channel binding.
    assert_eq!(
        mechanisms_used(&sender),
        ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"],
        "{}",
        sender.log()
    );
    assert!(sender.terminate(Duration::from_secs(30)).0.is_some_and(|s| s.success()));
    assert!(relay.terminate(Duration::from_secs(30)).0.is_some_and(|s| s.success()));
}

#[test]
fn a_wrong_password_fails_for_good_with_a_dsn_naming_the_smarthost() {
    let pki_dir = tempfile::tempdir().unwrap();
    let relaying = tempfile::tempdir().unwrap();
    let sending = tempfile::tempdir().unwrap();
    pki(pki_dir.path());
    let dns = dns(sending.path());
    let mut relay = smarthost(relaying.path(), pki_dir.path());
    let queue = transport("relay", "submissions", relay.listener("submissions").port(), "wrong password", "");
    let routes = "[[routes]]\ntransport = \"relay\"\n";
    let (mut sender, config) = sender(sending.path(), pki_dir.path(), &dns, &queue, routes);
    submit(&sender, "denied@client.example", "bob@remote.example");
    wait_for_log(&sender, "moxide_actors::queue: failed", 1);
    // The DSN is queued to alice (local) and delivered; then the queue is empty.
    let deadline = Instant::now() + Duration::from_secs(30);
    while !queue_command(&config, &["list"]).is_empty() {
        assert!(Instant::now() < deadline, "still queued");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(sender.terminate(Duration::from_secs(30)).0.is_some_and(|s| s.success()));
    assert!(relay.terminate(Duration::from_secs(30)).0.is_some_and(|s| s.success()));
    let bounces = stored_messages(sending.path(), "alice");
    assert_eq!(bounces.len(), 1);
    let dsn = String::from_utf8_lossy(&bounces[0].file).to_string();
    assert!(dsn.contains("Final-Recipient: rfc822; bob@remote.example\r\nAction: failed\r\n"), "{dsn}");
    assert!(dsn.contains("Remote-MTA: dns; smarthost.example"), "{dsn}");
    assert!(dsn.contains("535"), "{dsn}");
    assert!(stored_messages(relaying.path(), "bob").is_empty());
}

/// A peer that answers every connection's MAIL with `451`, counting connections.
fn refusing_peer() -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let connections = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&connections);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut writer = stream;
            let _ = writer.write_all(b"220 peer.example ESMTP\r\n");
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                let answer: &[u8] = match verb.as_str() {
                    "EHLO" | "HELO" => b"250 peer.example\r\n",
                    "QUIT" => b"221 bye\r\n",
                    _ => b"451 4.3.0 try again later\r\n",
                };
                let _ = writer.write_all(answer);
                if verb == "QUIT" {
                    break;
                }
                line.clear();
            }
        }
    });
    (address, connections)
}

#[test]
fn minimum_attempts_sends_retries_through_the_smarthost() {
    let pki_dir = tempfile::tempdir().unwrap();
    let relaying = tempfile::tempdir().unwrap();
    let sending = tempfile::tempdir().unwrap();
    pki(pki_dir.path());
    let dns = dns(sending.path());
    let mut relay = smarthost(relaying.path(), pki_dir.path());
    let (peer, connections) = refusing_peer();
    let queue = [
        transport("relay", "submission", relay.listener("submission").port(), RELAY_PASSWORD, ""),
        // Direct delivery goes to the refusing peer (a fixed route).
        format!("[[queue.routes]]\ndomain = \"remote.example\"\naddress = \"{peer}\"\n"),
    ]
    .concat();
    // The domain's routes: alice's mail is from example.org.
    let routes = "[[domains.\"example.org\".routes]]\ntransport = \"relay\"\nminimum_attempts = 1\n";
    let (mut sender, config) = sender(sending.path(), pki_dir.path(), &dns, &queue, routes);
    submit(&sender, "retried@client.example", "bob@remote.example");
    wait_for_log(&sender, "moxide_actors::queue: will retry", 1);
    assert_eq!(connections.load(Ordering::SeqCst), 1, "the first attempt went direct");
    let listed = queue_command(&config, &["list"]);
    assert!(listed.contains("remote.example recipients 1 attempts 1"), "{listed}");
    assert!(queue_command(&config, &["retry", "--domain", "remote.example"]).contains("due now 1"));
    wait_for_log(&sender, "moxide_actors::queue: delivered", 1);
    assert_eq!(inbox_message_ids(&relay, 1), ["Message-ID: <retried@client.example>"]);
    assert_eq!(connections.load(Ordering::SeqCst), 1, "the retry went through the smarthost");
    assert!(sender.log().contains("through a smarthost"), "{}", sender.log());
    assert!(sender.terminate(Duration::from_secs(30)).0.is_some_and(|s| s.success()));
    assert!(relay.terminate(Duration::from_secs(30)).0.is_some_and(|s| s.success()));
}

/// `GET /api/v0/admin/routes` over the sender's control socket (curl), retried while
/// the socket is not there yet (it is bound once the first core runs).
fn routes_api(dir: &Path) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let output = Command::new("curl")
            .args(["-sS", "--fail", "--unix-socket"])
            .arg(dir.join("data/ctl.sock"))
            .arg("http://localhost/api/v0/admin/routes")
            .output()
            .unwrap();
        if output.status.success() {
            return serde_json::from_slice(&output.stdout).unwrap();
        }
        assert!(Instant::now() < deadline, "{}", String::from_utf8_lossy(&output.stderr));
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// How many attempts the log says went through transport `name`.
fn through(server: &Server, name: &str) -> usize {
    let needle = format!("transport=\"{name}\"");
    server.log().lines().filter(|l| l.contains("through a smarthost") && l.contains(&needle)).count()
}

/// Routes are live configuration: the domains file rewritten and reloaded (SIGHUP, then
/// `moxide config reload`, which is the API's reload), the next message takes the new
/// route; a route naming a transport that does not exist is refused and the running
/// routes stay. The admin API shows the routes that apply and the transports without
/// their credentials.
#[test]
fn routes_change_with_a_reload() {
    let pki_dir = tempfile::tempdir().unwrap();
    let relaying = tempfile::tempdir().unwrap();
    let sending = tempfile::tempdir().unwrap();
    pki(pki_dir.path());
    let dns = dns(sending.path());
    let mut relay = smarthost(relaying.path(), pki_dir.path());
    let queue = [
        transport("relay", "submissions", relay.listener("submissions").port(), RELAY_PASSWORD, ""),
        format!(
            "[queue.transports.port25]\nkind = \"smtp\"\nhost = \"smarthost.example\"\nport = {}\n",
            relay.smtp.port()
        ),
    ]
    .concat();
    let routes = |transport: &str| {
        format!("[[routes]]\ntransport = \"{transport}\"\nto_domain = [\"remote.example\"]\n")
    };
    let (mut sender, config) = sender(sending.path(), pki_dir.path(), &dns, &queue, &routes("relay"));
    let shown = routes_api(sending.path());
    assert_eq!(shown["routes"][0]["transport"], "relay", "{shown}");
    assert_eq!(shown["transports"][0]["name"], "port25", "{shown}");
    assert_eq!(shown["transports"][1]["auth"], true, "{shown}");
    assert!(!shown.to_string().contains(RELAY_PASSWORD), "{shown}");

    submit(&sender, "first@client.example", "bob@remote.example");
    wait_for_log(&sender, "moxide_actors::queue: delivered", 1);
    assert_eq!((through(&sender, "relay"), through(&sender, "port25")), (1, 0), "{}", sender.log());

    // Rewritten and reloaded by SIGHUP: the next message goes through port25.
    let domains = sending.path().join("domains.toml");
    std::fs::write(&domains, format!("{SENDER_DOMAINS}{}", routes("port25"))).unwrap();
    sender.signal("HUP");
    wait_for_log(&sender, "configuration reloaded", 1);
    assert_eq!(routes_api(sending.path())["routes"][0]["transport"], "port25");
    submit(&sender, "second@client.example", "bob@remote.example");
    wait_for_log(&sender, "moxide_actors::queue: delivered", 2);
    assert_eq!((through(&sender, "relay"), through(&sender, "port25")), (1, 1), "{}", sender.log());

    // A route to a transport that does not exist: refused, port25 stays.
    std::fs::write(&domains, format!("{SENDER_DOMAINS}{}", routes("nope"))).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_moxide"))
        .args(["config", "reload", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!output.status.success() && stderr.contains("\"nope\""), "{stderr}");
    assert_eq!(routes_api(sending.path())["routes"][0]["transport"], "port25");
    submit(&sender, "third@client.example", "bob@remote.example");
    wait_for_log(&sender, "moxide_actors::queue: delivered", 3);
    assert_eq!((through(&sender, "relay"), through(&sender, "port25")), (1, 2), "{}", sender.log());

    // Back to relay through the API's reload (the CLI's way).
    std::fs::write(&domains, format!("{SENDER_DOMAINS}{}", routes("relay"))).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_moxide"))
        .args(["config", "reload", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    submit(&sender, "fourth@client.example", "bob@remote.example");
    wait_for_log(&sender, "moxide_actors::queue: delivered", 4);
    assert_eq!((through(&sender, "relay"), through(&sender, "port25")), (2, 2), "{}", sender.log());
    let mut ids = inbox_message_ids(&relay, 4);
    ids.sort();
    assert_eq!(
        ids,
        [
            "Message-ID: <first@client.example>",
            "Message-ID: <fourth@client.example>",
            "Message-ID: <second@client.example>",
            "Message-ID: <third@client.example>"
        ]
    );
    assert!(sender.terminate(Duration::from_secs(30)).0.is_some_and(|s| s.success()));
    assert!(relay.terminate(Duration::from_secs(30)).0.is_some_and(|s| s.success()));
}

#[test]
fn config_check_names_an_unknown_transport() {
    let dir = tempfile::tempdir().unwrap();
    let domains = format!("{SENDER_DOMAINS}[[accounts.alice.routes]]\ntransport = \"provider\"\n");
    let config = write_serve_config(dir.path(), "", &[("smtp", "")], &domains);
    let mut text = std::fs::read_to_string(&config).unwrap();
    let check = || {
        Command::new(env!("CARGO_BIN_EXE_moxide"))
            .args(["config", "check", "--config"])
            .arg(&config)
            .output()
            .unwrap()
    };
    let output = check();
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(!output.status.success());
    assert!(stderr.contains("\"provider\"") && stderr.contains("not configured"), "{stderr}");
    // Defined, it passes.
    text.push_str("[queue.transports.provider]\nkind = \"submission\"\nhost = \"smtp.provider.example\"\n");
    std::fs::write(&config, &text).unwrap();
    let output = check();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}
