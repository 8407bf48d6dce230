//! Outbound TLS policies end to end with real peers on loopback: a sending `moxide serve`
//! finds the recipient domain's MX through the test DNS server (`tests/dns_server.py`,
//! with the AD bit set where DNSSEC is pretended, the resolver trusted on loopback),
//! a receiving `moxide serve` holds a certificate issued by a private CA made with
//! openssl, and an HTTPS server (`tests/mta_sts_server.py`, Python's ssl) serves the
//! MTA-STS policy, the CA given to the sender as an extra root.
//!
//! Cases: DANE-EE matching the receiver's key delivers (RFC 7672), and so does DANE-TA
//! naming the CA of the chain the receiver sends; a TLSA record that
//! matches nothing defers, nothing sent in plaintext, and so does a DANE host without
//! STARTTLS; MTA-STS enforce with a certificate
//! from an unknown CA defers (RFC 8461 §5), also after a restart with the policy server
//! gone (the stored policy holds); testing mode delivers anyway; a REQUIRETLS
//! message (RFC 8689) goes over DANE-verified TLS, and one to a domain with no verified
//! TLS fails with a DSN; a new `_mta-sts` id brings the new policy to the next
//! delivery, and a new id whose policy host is unreachable keeps the cached policy
//! (RFC 8461 §5.1; the record is checked at every delivery through a test hook).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{
    DnsServer, PASSWORD, RECEIVER_DOMAINS, SENDER_DOMAINS, Server, issue, make_ca, set_password,
    stored_messages, write_serve_config,
};

/// SHA-256 of the SubjectPublicKeyInfo of certificate file `file`, hex (TLSA x 1 1 data).
fn spki_sha256(dir: &Path, file: &str) -> String {
    let script = format!(
        "openssl x509 -in {file} -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256 -hex"
    );
    let output = Command::new("sh").args(["-c", &script]).current_dir(dir).output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap().rsplit(' ').next().unwrap().trim().to_owned()
}

/// The receiving server for remote.example without a certificate: no STARTTLS.
fn receiver_without_tls(dir: &Path) -> Server {
    let config = write_serve_config(dir, "", &[("smtp", "")], RECEIVER_DOMAINS);
    let text = format!("inbound_checks = false\n{}", std::fs::read_to_string(&config).unwrap());
    std::fs::write(&config, text).unwrap();
    let arg = config.display().to_string();
    Server::start_args(dir, &["serve", "--config", &arg], &[])
}

/// The receiving server for remote.example, with `<host>.pem`/`<host>.key` of `pki`.
fn receiver(dir: &Path, pki: &Path, host: &str) -> Server {
    let config = write_serve_config(dir, "", &[("smtp", "")], RECEIVER_DOMAINS);
    let mut text = format!("inbound_checks = false\n{}", std::fs::read_to_string(&config).unwrap());
    text.push_str(&format!(
        "[[tls.certificates]]\nchain = \"{}\"\nkey = \"{}\"\n",
        pki.join(format!("{host}.pem")).display(),
        pki.join(format!("{host}.key")).display()
    ));
    std::fs::write(&config, text).unwrap();
    let arg = config.display().to_string();
    Server::start_args(dir, &["serve", "--config", &arg], &[])
}

/// The sending server: DNS from `dns` (AD trusted), MX and policy ports, the private CA
/// `ca.pem` of `pki` as its only root; STARTTLS on submission with its own certificate.
fn sender(dir: &Path, pki: &Path, dns: &DnsServer, mx_port: u16, sts_port: u16) -> (Server, PathBuf) {
    sender_with(dir, pki, dns, (mx_port, sts_port), &[])
}

/// [`sender`] with `env` in the server's environment (test hooks).
fn sender_with(
    dir: &Path,
    pki: &Path,
    dns: &DnsServer,
    (mx_port, sts_port): (u16, u16),
    env: &[(&str, &str)],
) -> (Server, PathBuf) {
    let config = write_serve_config(dir, "", &[("submission", ""), ("smtp", "")], SENDER_DOMAINS);
    let mut text = format!("inbound_checks = false\n{}", std::fs::read_to_string(&config).unwrap());
    text.push_str(&format!(
        "[dns]\nresolvers = [\"{}\"]\ntrust_ad = true\n[queue]\nmx_port = {mx_port}\nmta_sts_port = {sts_port}\ntls_roots_file = \"\"\ntls_roots_extra = [\"{}\"]\n[[tls.certificates]]\nchain = \"{}\"\nkey = \"{}\"\n",
        dns.address,
        pki.join("ca.pem").display(),
        pki.join("mx.example.org.pem").display(),
        pki.join("mx.example.org.key").display(),
    ));
    std::fs::write(&config, text).unwrap();
    set_password(&config, "alice", PASSWORD);
    let arg = config.display().to_string();
    (Server::start_args(dir, &["serve", "--config", &arg], env), config)
}

/// The policy server: `policy` served over HTTPS with `<host>.pem` of `pki`.
struct PolicyServer {
    child: Child,
    port: u16,
}

impl PolicyServer {
    fn start(pki: &Path, policy: &str) -> PolicyServer {
        let file = pki.join("policy.txt");
        std::fs::write(&file, policy).unwrap();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/mta_sts_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(pki.join("mta-sts.remote.example.pem"))
            .arg(pki.join("mta-sts.remote.example.key"))
            .arg(&file)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let port = line.trim().strip_prefix("port ").and_then(|p| p.parse().ok()).expect(&line);
        PolicyServer { child, port }
    }
}

impl Drop for PolicyServer {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The PKI of a test: CA `ca`, and certificates for the sender, the receiver's MX, and
/// the policy server; `stranger`: a CA the sender does not trust, with its own
/// certificate for the MX.
fn pki(dir: &Path) {
    make_ca(dir, "ca");
    issue(dir, "ca", "mx.example.org");
    issue(dir, "ca", "mx.remote.example");
    issue(dir, "ca", "mta-sts.remote.example");
    let stranger = dir.join("stranger");
    std::fs::create_dir(&stranger).unwrap();
    make_ca(&stranger, "ca");
    issue(&stranger, "ca", "mx.remote.example");
}

fn zone(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("zone");
    std::fs::write(
        &path,
        format!(
            "remote.example. 300 IN MX 10 mx.remote.example.\n\
             mx.remote.example. 300 IN A 127.0.0.1\n\
             mta-sts.remote.example. 300 IN A 127.0.0.1\n\
             plain.example. 300 IN MX 10 mx.plain.example.\n\
             mx.plain.example. 300 IN A 127.0.0.1\n{extra}"
        ),
    )
    .unwrap();
    path
}

fn wait_for_log(server: &Server, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !server.log().contains(needle) {
        assert!(Instant::now() < deadline, "no {needle:?} in the log:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Submits over STARTTLS (smtplib), with REQUIRETLS when asked.
fn submit(server: &Server, to: &str, id: &str, requiretls: bool) {
    submit_with_fields(server, to, id, requiretls, "");
}

/// [`submit`] with more header fields (`extra`: in Python escapes, each ending in `\r\n`).
fn submit_with_fields(server: &Server, to: &str, id: &str, requiretls: bool, extra: &str) {
    let port = server.listener("submission").port();
    let options = if requiretls { "[\"REQUIRETLS\"]" } else { "[]" };
    let script = format!(
        r#"
import smtplib, ssl
s = smtplib.SMTP("127.0.0.1", {port}, timeout=30)
s.ehlo("client.example")
s.starttls(context=ssl._create_unverified_context())
s.ehlo("client.example")
s.login("alice@example.org", "{PASSWORD}")
msg = "From: alice@example.org\r\nTo: {to}\r\nSubject: tls\r\nMessage-ID: <{id}>\r\n{extra}\r\nover verified TLS\r\n"
refused = s.sendmail("alice@example.org", ["{to}"], msg, mail_options={options})
assert not refused, refused
s.quit()
"#
    );
    let output = Command::new("python3").args(["-c", &script]).output().unwrap();
    assert!(output.status.success(), "smtplib: {}", String::from_utf8_lossy(&output.stderr));
}

/// Waits until the sender's queue is empty (`moxide queue list`): results and DSNs stored.
fn wait_for_empty_queue(config: &Path) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let output = Command::new(env!("CARGO_BIN_EXE_moxide"))
            .args(["queue", "--config"])
            .arg(config)
            .arg("list")
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        if output.stdout.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "still queued: {}", String::from_utf8_lossy(&output.stdout));
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn stop(mut server: Server) {
    assert!(server.terminate(Duration::from_secs(30)).0.is_some_and(|s| s.success()));
}

/// A test's directories: the private CA and certificates (made here), the receiver's
/// and the sender's.
fn directories() -> (tempfile::TempDir, tempfile::TempDir, tempfile::TempDir) {
    let pki_dir = tempfile::tempdir().unwrap();
    pki(pki_dir.path());
    (pki_dir, tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap())
}

#[test]
fn dane_ee_match_delivers_and_requiretls_needs_verified_tls() {
    let (pki_dir, receiving, sending) = directories();
    let receiver = receiver(receiving.path(), pki_dir.path(), "mx.remote.example");
    let tlsa = format!(
        "_25._tcp.mx.remote.example. 300 IN TLSA 3 1 1 {}\n",
        spki_sha256(pki_dir.path(), "mx.remote.example.leaf.pem")
    );
    let dns = DnsServer::start_with(&zone(sending.path(), &tlsa), true);
    let (sender, config) = sender(sending.path(), pki_dir.path(), &dns, receiver.smtp.port(), 1);
    submit(&sender, "bob@remote.example", "dane@client.example", true);
    submit(&sender, "someone@plain.example", "plain@client.example", true);
    wait_for_log(&sender, "moxide_actors::queue: delivered");
    wait_for_log(&sender, "REQUIRETLS needs verified TLS");
    wait_for_empty_queue(&config);
    assert!(dns.queries().contains(&"_25._tcp.mx.remote.example TLSA".to_owned()), "{:?}", dns.queries());
    stop(sender);
    stop(receiver);
    let stored = stored_messages(receiving.path(), "bob");
    assert_eq!(stored.len(), 1);
    let prefix = String::from_utf8_lossy(&stored[0].info.prefix).to_string();
    assert!(prefix.contains("with ESMTPS"), "received over TLS: {prefix}");
    // The message to a domain without DANE or MTA-STS came back as a failure DSN.
    let bounces = stored_messages(sending.path(), "alice");
    assert_eq!(bounces.len(), 1);
    let dsn = String::from_utf8_lossy(&bounces[0].file).to_string();
    assert!(dsn.contains("Final-Recipient: rfc822; someone@plain.example\r\nAction: failed\r\n"), "{dsn}");
    assert!(dsn.contains("Status: 5.7.30"), "{dsn}");
}

#[test]
fn dane_ta_anchors_the_chain_the_server_sends() {
    let (pki_dir, receiving, sending) = directories();
    let receiver = receiver(receiving.path(), pki_dir.path(), "mx.remote.example");
    let tlsa =
        format!("_25._tcp.mx.remote.example. 300 IN TLSA 2 1 1 {}\n", spki_sha256(pki_dir.path(), "ca.pem"));
    let dns = DnsServer::start_with(&zone(sending.path(), &tlsa), true);
    let (sender, _) = sender(sending.path(), pki_dir.path(), &dns, receiver.smtp.port(), 1);
    submit(&sender, "bob@remote.example", "dane-ta@client.example", true);
    wait_for_log(&sender, "moxide_actors::queue: delivered");
    stop(sender);
    stop(receiver);
    assert_eq!(stored_messages(receiving.path(), "bob").len(), 1);
}

#[test]
fn a_tlsa_mismatch_defers_without_plaintext() {
    let (pki_dir, receiving, sending) = directories();
    let receiver = receiver(receiving.path(), pki_dir.path(), "mx.remote.example");
    let tlsa = format!("_25._tcp.mx.remote.example. 300 IN TLSA 3 1 1 {}\n", "ab".repeat(32));
    let dns = DnsServer::start_with(&zone(sending.path(), &tlsa), true);
    let (sender, _) = sender(sending.path(), pki_dir.path(), &dns, receiver.smtp.port(), 1);
    submit(&sender, "bob@remote.example", "mismatch@client.example", false);
    wait_for_log(&sender, "moxide_actors::queue: will retry");
    assert!(
        sender.log().contains("result=\"tlsa-invalid\"") || sender.log().contains("result=tlsa-invalid"),
        "{}",
        sender.log()
    );
    stop(sender);
    stop(receiver);
    assert!(stored_messages(receiving.path(), "bob").is_empty(), "nothing delivered");
}

#[test]
fn dane_without_starttls_defers_without_plaintext() {
    let (pki_dir, receiving, sending) = directories();
    let receiver = receiver_without_tls(receiving.path());
    let tlsa = format!(
        "_25._tcp.mx.remote.example. 300 IN TLSA 3 1 1 {}\n",
        spki_sha256(pki_dir.path(), "mx.remote.example.leaf.pem")
    );
    let dns = DnsServer::start_with(&zone(sending.path(), &tlsa), true);
    let (sender, _) = sender(sending.path(), pki_dir.path(), &dns, receiver.smtp.port(), 1);
    submit(&sender, "bob@remote.example", "nostarttls@client.example", false);
    wait_for_log(&sender, "moxide_actors::queue: will retry");
    assert!(sender.log().contains("starttls-not-supported"), "{}", sender.log());
    stop(sender);
    stop(receiver);
    assert!(stored_messages(receiving.path(), "bob").is_empty(), "nothing sent in plaintext");
}

#[test]
fn mta_sts_enforce_with_an_untrusted_certificate_defers_also_after_a_restart() {
    let (pki_dir, receiving, sending) = directories();
    // The MX's certificate comes from a CA the sender does not trust.
    let receiver = receiver(receiving.path(), &pki_dir.path().join("stranger"), "mx.remote.example");
    let policy = PolicyServer::start(
        pki_dir.path(),
        "version: STSv1\r\nmode: enforce\r\nmx: mx.remote.example\r\nmax_age: 86400\r\n",
    );
    let record = "_mta-sts.remote.example. 300 IN TXT \"v=STSv1; id=1\"\n";
    let dns = DnsServer::start_with(&zone(sending.path(), record), false);
    let (sender, config) = sender(sending.path(), pki_dir.path(), &dns, receiver.smtp.port(), policy.port);
    submit(&sender, "bob@remote.example", "enforce@client.example", false);
    wait_for_log(&sender, "MTA-STS policy fetched");
    wait_for_log(&sender, "moxide_actors::queue: will retry");
    assert!(sender.log().contains("certificate-not-trusted"), "{}", sender.log());
    stop(sender);
    // The policy server is gone: only the stored policy can still hold the message.
    drop(policy);
    let arg = config.display().to_string();
    let sender = Server::start_args(sending.path(), &["serve", "--config", &arg], &[]);
    let retry = Command::new(env!("CARGO_BIN_EXE_moxide"))
        .args(["queue", "--config", &arg, "retry", "--domain", "remote.example"])
        .output()
        .unwrap();
    assert!(retry.status.success(), "{}", String::from_utf8_lossy(&retry.stderr));
    let deadline = Instant::now() + Duration::from_secs(60);
    while sender.log().matches("moxide_actors::queue: will retry").count() < 2 {
        assert!(Instant::now() < deadline, "no second attempt:\n{}", sender.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(sender.log().matches("MTA-STS policy fetched").count(), 1, "{}", sender.log());
    assert_eq!(sender.log().matches("certificate-not-trusted").count(), 2, "{}", sender.log());
    stop(sender);
    stop(receiver);
    assert!(stored_messages(receiving.path(), "bob").is_empty(), "nothing delivered");
}

#[test]
fn tls_required_no_delivers_despite_an_mta_sts_failure() {
    let (pki_dir, receiving, sending) = directories();
    let receiver = receiver(receiving.path(), &pki_dir.path().join("stranger"), "mx.remote.example");
    let policy = PolicyServer::start(
        pki_dir.path(),
        "version: STSv1\r\nmode: enforce\r\nmx: mx.remote.example\r\nmax_age: 86400\r\n",
    );
    let record = "_mta-sts.remote.example. 300 IN TXT \"v=STSv1; id=1\"\n";
    let dns = DnsServer::start_with(&zone(sending.path(), record), false);
    let (sender, _) = sender(sending.path(), pki_dir.path(), &dns, receiver.smtp.port(), policy.port);
    // RFC 8689 §5: the author lets the policy go; REQUIRETLS would win over the field.
    submit_with_fields(
        &sender,
        "bob@remote.example",
        "optional@client.example",
        false,
        r"TLS-Required: No\r\n",
    );
    wait_for_log(&sender, "moxide_actors::queue: delivered");
    assert!(sender.log().contains("certificate-not-trusted"), "{}", sender.log());
    // Without the field the same policy holds the next message.
    submit(&sender, "bob@remote.example", "enforced@client.example", false);
    wait_for_log(&sender, "moxide_actors::queue: will retry");
    stop(sender);
    stop(receiver);
    let delivered = stored_messages(receiving.path(), "bob");
    assert_eq!(delivered.len(), 1);
    assert!(String::from_utf8_lossy(&delivered[0].file).contains("optional@client.example"));
}

#[test]
fn mta_sts_testing_delivers_and_records_the_failure() {
    let (pki_dir, receiving, sending) = directories();
    let receiver = receiver(receiving.path(), &pki_dir.path().join("stranger"), "mx.remote.example");
    let policy = PolicyServer::start(
        pki_dir.path(),
        "version: STSv1\nmode: testing\nmx: *.remote.example\nmax_age: 86400\n",
    );
    let record = "_mta-sts.remote.example. 300 IN TXT \"v=STSv1; id=1\"\n";
    let dns = DnsServer::start_with(&zone(sending.path(), record), false);
    let (sender, _) = sender(sending.path(), pki_dir.path(), &dns, receiver.smtp.port(), policy.port);
    submit(&sender, "bob@remote.example", "testing@client.example", false);
    wait_for_log(&sender, "moxide_actors::queue: delivered");
    assert!(sender.log().contains("certificate-not-trusted"), "{}", sender.log());
    stop(sender);
    stop(receiver);
    assert_eq!(stored_messages(receiving.path(), "bob").len(), 1);
}

#[test]
fn mta_sts_enforce_with_a_trusted_certificate_delivers() {
    let (pki_dir, receiving, sending) = directories();
    let receiver = receiver(receiving.path(), pki_dir.path(), "mx.remote.example");
    let policy = PolicyServer::start(
        pki_dir.path(),
        "version: STSv1\nmode: enforce\nmx: mx.remote.example\nmax_age: 86400\n",
    );
    let record = "_mta-sts.remote.example. 300 IN TXT \"v=STSv1; id=1\"\n";
    let dns = DnsServer::start_with(&zone(sending.path(), record), false);
    let (sender, _) = sender(sending.path(), pki_dir.path(), &dns, receiver.smtp.port(), policy.port);
    // REQUIRETLS is honoured over MTA-STS-verified TLS too.
    submit(&sender, "bob@remote.example", "sts@client.example", true);
    wait_for_log(&sender, "moxide_actors::queue: delivered");
    stop(sender);
    stop(receiver);
    assert_eq!(stored_messages(receiving.path(), "bob").len(), 1);
}

/// The test hook that makes a cached policy's `_mta-sts` record be asked again at every
/// delivery instead of at most hourly, so a changed id is seen at once.
const STS_RECORD_CHECK_HOOK: (&str, &str) = ("MOXIDE_TEST_STS_RECORD_CHECK_MS", "0");

/// remote.example's `_mta-sts` record with policy id `id`, TTL 0 (never cached).
fn sts_record(id: u32) -> String {
    format!("_mta-sts.remote.example. 0 IN TXT \"v=STSv1; id={id}\"\n")
}

/// How many times the log says `needle`, waited for until it is `count`.
fn wait_for_count(server: &Server, needle: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while server.log().matches(needle).count() < count {
        assert!(Instant::now() < deadline, "not {count} × {needle:?} in the log:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// RFC 8461 §5.1: a cached policy's record is checked again, and a new id fetches the
/// new policy, which applies to the next delivery: here the domain's new policy no
/// longer lists the MX host, so the second message is held (enforce), not sent.
#[test]
fn a_new_policy_id_brings_the_new_policy_to_the_next_delivery() {
    let (pki_dir, receiving, sending) = directories();
    let receiver = receiver(receiving.path(), pki_dir.path(), "mx.remote.example");
    let policy = PolicyServer::start(
        pki_dir.path(),
        "version: STSv1\nmode: enforce\nmx: mx.remote.example\nmax_age: 86400\n",
    );
    let zone = zone(sending.path(), &sts_record(1));
    let dns = DnsServer::start_with(&zone, false);
    let ports = (receiver.smtp.port(), policy.port);
    let (sender, config) = sender_with(sending.path(), pki_dir.path(), &dns, ports, &[STS_RECORD_CHECK_HOOK]);
    submit(&sender, "bob@remote.example", "first@client.example", false);
    wait_for_log(&sender, "moxide_actors::queue: delivered");
    // Same id, changed file: the cached policy stays (no fetch without a new id).
    std::fs::write(
        pki_dir.path().join("policy.txt"),
        "version: STSv1\nmode: enforce\nmx: elsewhere.remote.example\nmax_age: 86400\n",
    )
    .unwrap();
    submit(&sender, "bob@remote.example", "second@client.example", false);
    wait_for_count(&sender, "moxide_actors::queue: delivered", 2);
    assert_eq!(sender.log().matches("MTA-STS policy fetched").count(), 1, "{}", sender.log());
    // The new id: fetched again, and the MX is no longer in the policy.
    std::fs::write(&zone, std::fs::read_to_string(&zone).unwrap().replace("id=1", "id=2")).unwrap();
    submit(&sender, "bob@remote.example", "third@client.example", false);
    wait_for_log(&sender, "moxide_actors::queue: will retry");
    assert_eq!(sender.log().matches("MTA-STS policy fetched").count(), 2, "{}", sender.log());
    assert!(sender.log().contains("is not an MX host of the MTA-STS policy"), "{}", sender.log());
    let listed = Command::new(env!("CARGO_BIN_EXE_moxide"))
        .args(["queue", "--config"])
        .arg(&config)
        .arg("list")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&listed.stdout).contains("remote.example"), "third message still queued");
    stop(sender);
    stop(receiver);
    assert_eq!(stored_messages(receiving.path(), "bob").len(), 2);
}

/// RFC 8461 §5.1: a new id whose policy cannot be fetched (the policy host is gone)
/// keeps the cached policy in force: the message it holds stays held, where without a
/// policy it would go out over opportunistic TLS. The failed fetch is not tried again
/// at once: the next attempt within the check interval uses the cached policy without
/// asking (a policy host that swallows connections would otherwise hold every attempt
/// for the fetch timeout).
#[test]
fn an_unreachable_policy_host_keeps_the_cached_policy() {
    const INTERVAL: Duration = Duration::from_secs(4);
    let (pki_dir, receiving, sending) = directories();
    let receiver = receiver(receiving.path(), pki_dir.path(), "mx.remote.example");
    let policy = PolicyServer::start(
        pki_dir.path(),
        "version: STSv1\nmode: enforce\nmx: elsewhere.remote.example\nmax_age: 86400\n",
    );
    let zone = zone(sending.path(), &sts_record(1));
    let dns = DnsServer::start_with(&zone, false);
    let ports = (receiver.smtp.port(), policy.port);
    let interval = INTERVAL.as_millis().to_string();
    let hook = [(STS_RECORD_CHECK_HOOK.0, interval.as_str())];
    let (sender, config) = sender_with(sending.path(), pki_dir.path(), &dns, ports, &hook);
    submit(&sender, "bob@remote.example", "held@client.example", false);
    wait_for_log(&sender, "moxide_actors::queue: will retry");
    let fetched = Instant::now();
    assert!(sender.log().contains("is not an MX host of the MTA-STS policy"), "{}", sender.log());
    // A new id, and the policy host unreachable.
    drop(policy);
    std::fs::write(&zone, std::fs::read_to_string(&zone).unwrap().replace("id=1", "id=2")).unwrap();
    let retry = || {
        let output = Command::new(env!("CARGO_BIN_EXE_moxide"))
            .args(["queue", "--config"])
            .arg(&config)
            .args(["retry", "--domain", "remote.example"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    };
    // Once the interval has passed the record is asked again: the new policy's fetch
    // fails and the cached one holds the message.
    std::thread::sleep(INTERVAL.saturating_sub(fetched.elapsed()) + Duration::from_millis(500));
    retry();
    wait_for_count(&sender, "moxide_actors::queue: will retry", 2);
    // At once again: the cached policy, with no new fetch.
    retry();
    wait_for_count(&sender, "moxide_actors::queue: will retry", 3);
    let log = sender.log();
    assert_eq!(log.matches("MTA-STS policy fetch failed").count(), 1, "{log}");
    assert_eq!(log.matches("MTA-STS policy fetched").count(), 1, "{log}");
    assert_eq!(log.matches("host deferred by TLS policy").count(), 3, "{log}");
    stop(sender);
    stop(receiver);
    assert!(stored_messages(receiving.path(), "bob").is_empty(), "nothing delivered");
}
