//! Incoming mail authentication through the real binary: `moxide localserve
//! --dns-resolver` pointed at `tests/dns_server.py` (dnslib) serving a zone made by
//! `tests/auth_messages.py`, with messages signed by dkimpy and sent with swaks.
//!
//! - a signed message from an SPF-authorized host: Authentication-Results with iprev,
//!   spf, dkim and dmarc pass (and Received-SPF), stored in INBOX;
//! - an Authentication-Results field forged under our host name is gone from the stored
//!   copy, the rest of the message untouched;
//! - a DMARC `p=reject` failure gets `550 5.7.1` and nothing is stored; the same message
//!   to a domain configured with `dmarc_reject = "mark"` goes to Junk;
//! - a `p=quarantine` failure goes to Junk;
//! - the second message from the same domain is checked from the DNS cache;
//! - a DMARC aggregate report (gzip) and a TLS report (`application/tlsrpt+gzip`) sent
//!   to the configured report addresses are delivered and kept under `data/reports/`;
//! - without `--dns-resolver`, no lookup is made and the header says `none`;
//! - `moxide serve` with `[dns] resolvers` in its configuration file does the same checks
//!   (authserv-id: the configured hostname) and refuses the `p=reject` failure.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{DnsServer, Server, stored_messages, stored_messages_in};

const DOMAINS: &str = r#"postmaster_account = "mox"

[domains.localhost]
localpart_separators = ["+"]
dmarc_reports = "dmarc-reports"
tls_reports = "tls-reports"

[domains."marked.test"]
dmarc_reject = "mark"

[accounts.mox]
addresses = ["mox@localhost", "@localhost", "@marked.test"]
"#;

/// swaks' transcript and whether it exited 0.
fn swaks(port: u16, from: &str, to: &str, message: &Path) -> (bool, String) {
    let output = Command::new("swaks")
        .args(["--server", "127.0.0.1", "--port", &port.to_string(), "--to", to, "--from", from])
        .args(["--helo", "mail.good.example", "--data"])
        .arg(format!("@{}", message.display()))
        .output()
        .expect("swaks is installed (scripts/test installs it)");
    let transcript =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), transcript)
}

fn localserve(dir: &Path, resolver: Option<std::net::SocketAddr>) -> Server {
    std::fs::create_dir_all(dir.join("config")).unwrap();
    std::fs::write(dir.join("config/domains.toml"), DOMAINS).unwrap();
    let dir_arg = dir.display().to_string();
    let resolver_arg = resolver.map(|r| r.to_string());
    let mut args = vec!["localserve", "--dir", &dir_arg, "--cores", "1"];
    for port in ["--smtp-port", "--submission-port", "--submissions-port", "--imap-port", "--imaps-port"] {
        args.extend([port, "0"]);
    }
    if let Some(resolver) = &resolver_arg {
        args.extend(["--dns-resolver", resolver]);
    }
    Server::start_args(dir, &args, &[])
}

fn prefix_text(stored: &common::Stored) -> String {
    String::from_utf8_lossy(&stored.info.prefix).into_owned()
}

#[test]
fn checks_results_and_dmarc_decisions() {
    let work = tempfile::tempdir().unwrap();
    let status = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/auth_messages.py"))
        .arg(work.path())
        .status()
        .expect("python3 runs tests/auth_messages.py");
    assert!(status.success(), "auth_messages.py failed (scripts/test installs dkimpy)");
    let dns = DnsServer::start(&work.path().join("zone"));
    let dir = work.path().join("server");
    let mut server = localserve(&dir, Some(dns.address));
    let port = server.smtp.port();
    let eml = |name: &str| work.path().join(format!("{name}.eml"));

    let (ok, transcript) = swaks(port, "alice@good.example", "mox@localhost", &eml("good"));
    assert!(ok, "{transcript}\n{}", server.log());
    let asked_once = dns.queries().len();
    let (ok, transcript) = swaks(port, "alice@good.example", "mox@localhost", &eml("forged"));
    assert!(ok, "{transcript}\n{}", server.log());
    let asked_twice = dns.queries().len();
    let (ok, transcript) = swaks(port, "alice@good.example", "mox@localhost", &eml("tampered"));
    assert!(ok, "{transcript}\n{}", server.log());
    let (ok, transcript) = swaks(port, "attacker@elsewhere.example", "mox@localhost", &eml("reject"));
    assert!(!ok && transcript.contains("550 5.7.1"), "{transcript}\n{}", server.log());
    let (ok, transcript) = swaks(port, "ceo@reject.example", "mox@marked.test", &eml("reject"));
    assert!(ok, "{transcript}\n{}", server.log());
    let (ok, transcript) = swaks(port, "attacker@elsewhere.example", "mox@localhost", &eml("quarantine"));
    assert!(ok, "{transcript}\n{}", server.log());
    let (ok, transcript) =
        swaks(port, "reports@receiver.example", "dmarc-reports@localhost", &eml("dmarc-report"));
    assert!(ok, "{transcript}\n{}", server.log());
    let (ok, transcript) =
        swaks(port, "reports@receiver.example", "tls-reports@localhost", &eml("tls-report"));
    assert!(ok, "{transcript}\n{}", server.log());
    server.kill();

    let listed = |kind: &str| -> Vec<String> {
        std::fs::read_dir(dir.join("data/reports").join(kind))
            .map(|entries| entries.map(|e| e.unwrap().file_name().into_string().unwrap()).collect())
            .unwrap_or_default()
    };
    assert_eq!(
        listed("dmarc"),
        vec!["receiver.example_localhost_1700000000_1700086399_agg-1.xml".to_string()]
    );
    assert_eq!(listed("tlsrpt").len(), 1, "{:?}", listed("tlsrpt"));

    // The second message from good.example needed no new DNS questions but its own
    // (nothing: same SPF record, same key, same policy, same reverse name).
    assert_eq!(asked_once, asked_twice, "second message answered from the cache: {:?}", dns.queries());

    let inbox = stored_messages(&dir, "mox");
    assert_eq!(inbox.len(), 5, "good, forged, tampered and the two reports in INBOX");
    let good = prefix_text(&inbox[0]);
    for expected in [
        "Authentication-Results: localhost;",
        "iprev=pass policy.iprev=127.0.0.1 (mail.good.example)",
        "spf=pass smtp.mailfrom=alice@good.example",
        "dkim=pass",
        "header.d=good.example",
        "dmarc=pass header.from=good.example",
        "arc=none",
        "Received-SPF: pass",
    ] {
        assert!(good.contains(expected), "{expected:?} missing in:\n{good}");
    }
    assert!(good.find("Authentication-Results").unwrap() < good.find("Received: ").unwrap());
    let forged = &inbox[1];
    let forged_file = String::from_utf8_lossy(&forged.file);
    assert!(!forged_file.contains("bank.example"), "the forged field is gone:\n{forged_file}");
    assert!(forged_file.starts_with("DKIM-Signature:"), "{forged_file}");
    assert!(prefix_text(forged).contains("dkim=pass"), "the signature still verifies after the removal");

    // A broken signature fails DKIM; DMARC still passes through aligned SPF.
    let tampered = prefix_text(&inbox[2]);
    for expected in ["spf=pass", "dkim=fail", "header.d=good.example", "dmarc=pass"] {
        assert!(tampered.contains(expected), "{expected:?} missing in:\n{tampered}");
    }

    let junk = stored_messages_in(&dir, "mox", "Junk");
    assert_eq!(junk.len(), 2, "the marked reject and the quarantine in Junk");
    for message in &junk {
        let prefix = prefix_text(message);
        assert!(prefix.contains("dmarc=fail"), "{prefix}");
    }
    // Neither SPF (`-all`) nor DKIM (unsigned) vouches for the spoofed senders.
    assert!(prefix_text(&junk[0]).contains("spf=fail smtp.mailfrom=ceo@reject.example"));
    assert!(prefix_text(&junk[0]).contains("dkim=none"));
    assert!(prefix_text(&junk[0]).contains("header.from=reject.example"));
    assert!(prefix_text(&junk[1]).contains("(p=quarantine dis=quarantine)"));
}

#[test]
fn localserve_without_a_resolver_makes_no_lookups() {
    let work = tempfile::tempdir().unwrap();
    let dir = work.path().join("server");
    let mut server = localserve(&dir, None);
    let message = work.path().join("m.eml");
    std::fs::write(&message, "From: a@good.example\r\nSubject: x\r\n\r\nbody\r\n").unwrap();
    let (ok, transcript) = swaks(server.smtp.port(), "a@good.example", "mox@localhost", &message);
    assert!(ok, "{transcript}\n{}", server.log());
    server.kill();
    let stored = stored_messages(&dir, "mox");
    assert_eq!(stored.len(), 1);
    assert!(prefix_text(&stored[0]).starts_with("Authentication-Results: localhost; none\r\n"));
}

#[test]
fn serve_with_resolvers_in_the_config() {
    let work = tempfile::tempdir().unwrap();
    let status = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/auth_messages.py"))
        .arg(work.path())
        .status()
        .expect("python3 runs tests/auth_messages.py");
    assert!(status.success(), "auth_messages.py failed (scripts/test installs dkimpy)");
    let dns = DnsServer::start(&work.path().join("zone"));
    let dir = work.path().join("server");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("domains.toml"),
        "postmaster_account = \"alice\"\n[domains.\"example.org\"]\n[accounts.alice]\naddresses = [\"alice@example.org\"]\n",
    )
    .unwrap();
    let config = dir.join("moxide.toml");
    std::fs::write(
        &config,
        format!(
            "hostname = \"mx.example.org\"\ndata_dir = \"data\"\ndomains_file = \"domains.toml\"\ncores = 1\n\
             pin_cores = false\n[dns]\nresolvers = [\"{}\"]\nattempt_timeout_ms = 2000\n\
             [[listeners]]\nprotocol = \"smtp\"\naddress = \"127.0.0.1:0\"\n\
             [[listeners]]\nprotocol = \"imap\"\naddress = \"127.0.0.1:0\"\n",
            dns.address
        ),
    )
    .unwrap();
    let config_arg = config.display().to_string();
    let mut server = Server::start_args(&dir, &["serve", "--config", &config_arg], &[]);
    let port = server.smtp.port();
    let eml = |name: &str| work.path().join(format!("{name}.eml"));
    let (ok, transcript) = swaks(port, "alice@good.example", "alice@example.org", &eml("good"));
    assert!(ok, "{transcript}\n{}", server.log());
    let (ok, transcript) = swaks(port, "ceo@reject.example", "alice@example.org", &eml("reject"));
    assert!(!ok && transcript.contains("550 5.7.1"), "{transcript}\n{}", server.log());
    let (status, _) = server.terminate(std::time::Duration::from_secs(20));
    assert!(status.is_some_and(|s| s.success()), "{}", server.log());
    assert!(!dns.queries().is_empty(), "the configured resolver was asked");
    // The core's DNS counters are logged when it stops.
    let log = server.log();
    let counters = log.lines().find(|l| l.contains("dns counters at stop")).unwrap_or_default();
    assert!(counters.contains("misses=") && counters.contains("exchanges="), "{log}");

    let inbox = stored_messages(&dir, "alice");
    assert_eq!(inbox.len(), 1, "the reject failure is not stored");
    let good = prefix_text(&inbox[0]);
    for expected in [
        "Authentication-Results: mx.example.org;",
        "iprev=pass",
        "spf=pass smtp.mailfrom=alice@good.example",
        "dkim=pass",
        "dmarc=pass header.from=good.example",
    ] {
        assert!(good.contains(expected), "{expected:?} missing in:\n{good}");
    }
}
