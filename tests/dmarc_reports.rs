//! DMARC aggregate reports (RFC 7489 §7.2) end to end on loopback: a reporting
//! `moxide serve` receives mail claiming `example.com` (the test DNS server
//! `tests/dns_server.py` publishes its SPF, DKIM key and a DMARC record asking for
//! reports at `dmarc@example.com` and at an address of another organization that did
//! not agree to take them, RFC 7489 §7.1). One message is signed by dkimpy and passes,
//! one is forged and refused under `p=reject`, one claims a domain whose record asks
//! for no reports. The reporter is stopped and started again (its counts must survive),
//! then its test hook (the file named by `MOXIDE_TEST_DMARC_REPORTS_TRIGGER`) sends
//! today's report. A second `moxide serve`, the MX of `example.com`, receives it, and its
//! own DMARC report parser stores it: two rows with the right outcomes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Client, DnsServer, Server, stored_messages, write_serve_config};

const REPORTER_DOMAINS: &str = r#"
postmaster_account = "bob"
[domains."example.net"]
[accounts.bob]
addresses = ["bob@example.net"]
"#;

const RECEIVER_DOMAINS: &str = r#"
postmaster_account = "dmarc"
[domains."example.com"]
dmarc_reports = "dmarc"
[accounts.dmarc]
addresses = ["dmarc@example.com"]
"#;

/// Writes `zone` and `good.eml` (signed by dkimpy with a fresh RSA key published in
/// the zone), `forged.eml` and `norua.eml` into `dir`.
const MAKE_MAIL: &str = r#"
import base64, os, subprocess, sys
import dkim
out = sys.argv[1]
def openssl(args, data=None):
    return subprocess.run(["openssl"] + args, input=data, capture_output=True, check=True).stdout
def txt(text):
    return " ".join('"%s"' % text[i:i + 250] for i in range(0, len(text), 250))
pem = openssl(["genrsa", "-traditional", "2048"])
public = base64.b64encode(openssl(["rsa", "-pubout", "-outform", "DER"], pem)).decode()
zone = "\n".join([
    "$TTL 300",
    "example.com. IN MX 10 mx.example.com.",
    "mx.example.com. IN A 127.0.0.1",
    'example.com. IN TXT "v=spf1 ip4:127.0.0.1 -all"',
    "sel._domainkey.example.com. IN TXT " + txt("v=DKIM1; k=rsa; p=" + public),
    '_dmarc.example.com. IN TXT "v=DMARC1; p=reject; rua=mailto:dmarc@example.com!10m,mailto:dmarc@thirdparty.example"',
    '_dmarc.other.example. IN TXT "v=DMARC1; p=none"',
    "",
])
open(os.path.join(out, "zone"), "w").write(zone)
def message(sender, subject):
    return (b"From: <" + sender + b">\r\nTo: <bob@example.net>\r\nSubject: " + subject +
            b"\r\nDate: Mon, 01 Jan 2024 10:00:00 +0000\r\nMessage-ID: <" + subject + b"@test>\r\n\r\nHello.\r\n")
good = message(b"alice@example.com", b"good")
signature = dkim.sign(good, b"sel", b"example.com", pem, include_headers=[b"from", b"to", b"subject", b"date"])
open(os.path.join(out, "good.eml"), "wb").write(signature + good)
open(os.path.join(out, "forged.eml"), "wb").write(message(b"ceo@example.com", b"forged"))
open(os.path.join(out, "norua.eml"), "wb").write(message(b"someone@other.example", b"norua"))
"#;

fn stop(mut server: Server) {
    assert!(server.terminate(Duration::from_secs(30)).0.is_some_and(|s| s.success()));
}

fn deliver(server: &Server, from: &str, message: &Path) -> u16 {
    let mut client = Client::connect(server.smtp).unwrap();
    client.hello().unwrap();
    client.deliver(from, &["bob@example.net"], &std::fs::read(message).unwrap()).unwrap().code
}

#[test]
fn a_days_dmarc_report_reaches_the_rua_and_survives_a_restart() {
    let work = tempfile::tempdir().unwrap();
    let status = Command::new("python3").args(["-c", MAKE_MAIL]).arg(work.path()).status().unwrap();
    assert!(status.success(), "making the test mail failed (scripts/test installs dkimpy)");
    let dns = DnsServer::start(&work.path().join("zone"));

    // The MX of example.com, whose report address parses DMARC reports.
    let receiving = tempfile::tempdir().unwrap();
    let config = write_serve_config(receiving.path(), "", &[("smtp", "")], RECEIVER_DOMAINS);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!("[dns]\nresolvers = [\"{}\"]\n", dns.address));
    std::fs::write(&config, text).unwrap();
    let receiver =
        Server::start_args(receiving.path(), &["serve", "--config", &config.display().to_string()], &[]);

    // The reporter: checks inbound mail, sends its reports to example.com's MX.
    let reporting = tempfile::tempdir().unwrap();
    let config = write_serve_config(reporting.path(), "", &[("smtp", "")], REPORTER_DOMAINS);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "[dns]\nresolvers = [\"{}\"]\n[queue]\nmx_port = {}\ntls_report_address = \"postmaster@example.net\"\ntls_report_organization = \"Reporter Org\"\n",
        dns.address,
        receiver.smtp.port()
    ));
    std::fs::write(&config, text).unwrap();
    let config_arg = config.display().to_string();
    let reporter = Server::start_args(
        reporting.path(),
        &["serve", "--config", &config_arg],
        &[("RUST_LOG", "info,moxide_actors::queue=debug")],
    );
    let eml = |name: &str| work.path().join(format!("{name}.eml"));
    assert_eq!(deliver(&reporter, "alice@example.com", &eml("good")), 250, "{}", reporter.log());
    assert_eq!(deliver(&reporter, "bounce@elsewhere.example", &eml("forged")), 550, "{}", reporter.log());
    assert_eq!(deliver(&reporter, "someone@other.example", &eml("norua")), 250, "{}", reporter.log());
    // A graceful stop stores the counts; the restarted server reports them.
    let log = reporter.log();
    stop(reporter);
    assert!(!log.contains("DMARC evaluations stored"), "nothing stored before the stop:\n{log}");
    let log = std::fs::read_to_string(reporting.path().join("server.log")).unwrap();
    assert!(log.contains("DMARC evaluations stored domains=1 messages=2"), "{log}");

    let trigger = reporting.path().join("send-dmarc-reports");
    let trigger_arg = trigger.display().to_string();
    let reporter = Server::start_args(
        reporting.path(),
        &["serve", "--config", &config_arg],
        &[("MOXIDE_TEST_DMARC_REPORTS_TRIGGER", &trigger_arg)],
    );
    std::fs::write(&trigger, b"").unwrap();
    reporter.wait_for_log("DMARC report queued", 1);
    reporter.wait_for_log("moxide_actors::queue: delivered", 1);
    receiver.wait_for_log("stored reports", 1);
    assert!(reporter.log().contains("DMARC report address not authorized"), "{}", reporter.log());
    assert!(!trigger.exists(), "the hook's file is consumed");
    stop(reporter);
    stop(receiver);

    // The report mail (RFC 7489 §7.2.1.1), signed by the reporting domain.
    let reports = stored_messages(receiving.path(), "dmarc");
    assert_eq!(reports.len(), 1);
    let mail = String::from_utf8_lossy(&reports[0].file).to_string();
    for needle in [
        "From: <postmaster@example.net>\r\n",
        "To: <dmarc@example.com>\r\n",
        "Subject: Report Domain: example.com Submitter: example.net Report-ID: <",
        "Content-Type: application/gzip\r\n",
        "filename=\"example.net!example.com!",
        "DKIM-Signature: v=1; a=ed25519-sha256;",
    ] {
        assert!(mail.contains(needle), "{needle:?} missing:\n{mail}");
    }

    // The receiver's own parser stored it: one row per outcome.
    let dir = receiving.path().join("data/reports/dmarc");
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let xml = std::fs::read(&files[0]).unwrap();
    let report = moxide_protocols::reports::dmarc::parse(&xml).unwrap();
    assert_eq!((report.org_name.as_str(), report.email.as_str()), ("Reporter Org", "postmaster@example.net"));
    assert_eq!((report.domain.as_str(), report.policy.as_str()), ("example.com", "reject"));
    let mut rows: Vec<_> = report
        .rows
        .iter()
        .map(|r| (r.source_ip.as_str(), r.count, r.disposition.as_str(), r.dkim.as_str(), r.spf.as_str()))
        .collect();
    rows.sort();
    assert_eq!(
        rows,
        vec![("127.0.0.1", 1, "none", "pass", "pass"), ("127.0.0.1", 1, "reject", "fail", "fail")],
        "{report:?}"
    );
    assert!(report.rows.iter().all(|r| r.header_from == "example.com"), "{report:?}");
}
