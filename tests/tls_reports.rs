//! Daily SMTP TLS reports (RFC 8460) end to end on loopback: a sending `moxide serve`
//! delivers to a receiving one over DANE-verified TLS (the test DNS server
//! `tests/dns_server.py` with the AD bit set, a private CA made with openssl, as in
//! `tests/outbound_tls.rs`); the receiver's domain publishes `_smtp._tls` with
//! `rua=mailto:reports@remote.example`. The sender's test hook (the file named by
//! `MOXIDE_TEST_TLS_REPORTS_TRIGGER`) sends the reports now, today included. The
//! receiver's report address gets one report mail (RFC 8460 §5.3 headers), its own
//! TLSRPT parser stores the report with the right counts (the preferred MX's TLSA
//! record matches nothing: one `tlsa-invalid` failure, then one success on the next), and dkimpy verifies the
//! mail's DKIM signature against the key `moxide dns records` prints for the sender.
//! The record's second rua, `https:`, gets the same report POSTed (§5.3.2) to a Python
//! HTTPS server whose certificate the sender trusts through `queue.tls_roots_extra`.
//! The report's own delivery to those MX hosts is not counted (RFC 8460 §3): a second
//! run of the hook finds nothing to report.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{
    DnsServer, PASSWORD, SENDER_DOMAINS, Server, set_password, stored_messages, write_serve_config,
};

const RECEIVER_DOMAINS: &str = r#"
postmaster_account = "bob"
[domains."remote.example"]
tls_reports = "reports"
[accounts.bob]
addresses = ["bob@remote.example"]
[accounts.reports]
addresses = ["reports@remote.example"]
"#;

fn openssl(args: &[&str], dir: &Path) {
    let output = Command::new("openssl").args(args).current_dir(dir).output().unwrap();
    assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// A self-signed certificate for `host` in `dir`: `<host>.pem`, `<host>.key`. Marked
/// not a CA, so WebPKI takes it as a server's own certificate when it is also the
/// trusted root (`queue.tls_roots_extra`).
fn certificate(dir: &Path, host: &str) {
    let subject = format!("/CN={host}");
    let san = format!("subjectAltName=DNS:{host}");
    let (key, pem) = (format!("{host}.key"), format!("{host}.pem"));
    openssl(
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &subject,
            "-addext",
            &san,
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-keyout",
            &key,
            "-out",
            &pem,
        ],
        dir,
    );
}

/// SHA-256 of the SubjectPublicKeyInfo of certificate file `file`, hex (TLSA 3 1 1).
fn spki_sha256(dir: &Path, file: &str) -> String {
    let script = format!(
        "openssl x509 -in {file} -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256 -hex"
    );
    let output = Command::new("sh").args(["-c", &script]).current_dir(dir).output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap().rsplit(' ').next().unwrap().trim().to_owned()
}

/// A Python HTTPS server on a kernel-chosen loopback port with `<host>.pem` of `dir`:
/// it answers every POST with 201 and writes its body and Content-Type to `dir/posted`
/// and `dir/posted.type`. Stopped when the returned guard is dropped (a failed test too).
fn https_receiver(dir: &Path, host: &str) -> (KillOnDrop, u16) {
    use std::io::{BufRead, BufReader};
    let script = format!(
        r#"
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        open("posted.type", "w").write(self.headers["Content-Type"])
        open("posted", "wb").write(body)
        self.send_response(201); self.send_header("Content-Length", "0"); self.end_headers()
    def log_message(self, *args): pass
server = http.server.HTTPServer(("127.0.0.1", 0), H)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain("{host}.pem", "{host}.key")
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#
    );
    let mut child = Command::new("python3")
        .args(["-c", &script])
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line.trim().parse().expect("the HTTPS receiver's port");
    (KillOnDrop(child), port)
}

struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn stop(mut server: Server) {
    assert!(server.terminate(Duration::from_secs(30)).0.is_some_and(|s| s.success()));
}

fn dkimpy_verifies(message: &[u8], txt: &str) -> (bool, String) {
    let script = "import sys, dkim\nmsg = sys.stdin.buffer.read()\ntxt = sys.argv[1].encode()\nok = dkim.verify(msg, dnsfunc=lambda name, timeout=5: txt)\nprint('verified' if ok else 'failed')\nsys.exit(0 if ok else 1)\n";
    let mut child = Command::new("python3")
        .args(["-c", script, txt])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), message).unwrap();
    let output = child.wait_with_output().unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

#[test]
fn a_days_tls_report_reaches_the_rua_signed_and_parsed() {
    let pki = tempfile::tempdir().unwrap();
    certificate(pki.path(), "mx.remote.example");
    certificate(pki.path(), "r.remote.example");
    let (https, https_port) = https_receiver(pki.path(), "r.remote.example");
    let receiving = tempfile::tempdir().unwrap();
    let sending = tempfile::tempdir().unwrap();
    let zone = sending.path().join("zone");
    std::fs::write(
        &zone,
        format!(
            "remote.example. 300 IN MX 10 mx.remote.example.\n\
             remote.example. 300 IN MX 5 mx0.remote.example.\n\
             mx.remote.example. 300 IN A 127.0.0.1\n\
             mx0.remote.example. 300 IN A 127.0.0.1\n\
             _25._tcp.mx0.remote.example. 300 IN TLSA 3 1 1 {}\n\
             r.remote.example. 300 IN A 127.0.0.1\n\
             _smtp._tls.remote.example. 300 IN TXT \"v=TLSRPTv1; rua=mailto:reports@remote.example,https://r.remote.example:{https_port}/tlsrpt\"\n\
             _25._tcp.mx.remote.example. 300 IN TLSA 3 1 1 {}\n",
            "ab".repeat(32),
            spki_sha256(pki.path(), "mx.remote.example.pem")
        ),
    )
    .unwrap();
    let dns = DnsServer::start_with(&zone, true);

    // The receiver checks inbound mail (so its report address parses reports).
    let config = write_serve_config(receiving.path(), "", &[("smtp", "")], RECEIVER_DOMAINS);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "[dns]\nresolvers = [\"{}\"]\n[[tls.certificates]]\nchain = \"{}\"\nkey = \"{}\"\n",
        dns.address,
        pki.path().join("mx.remote.example.pem").display(),
        pki.path().join("mx.remote.example.key").display()
    ));
    std::fs::write(&config, text).unwrap();
    let arg = config.display().to_string();
    let receiver = Server::start_args(receiving.path(), &["serve", "--config", &arg], &[]);

    let config = write_serve_config(sending.path(), "", &[("submission", ""), ("smtp", "")], SENDER_DOMAINS);
    let mut text = format!("inbound_checks = false\n{}", std::fs::read_to_string(&config).unwrap());
    text.push_str(&format!(
        "[dns]\nresolvers = [\"{}\"]\ntrust_ad = true\n[queue]\nmx_port = {}\ntls_report_organization = \"Example Org\"\ntls_roots_file = \"\"\ntls_roots_extra = [\"{}\"]\n",
        dns.address,
        receiver.smtp.port(),
        pki.path().join("r.remote.example.pem").display()
    ));
    std::fs::write(&config, text).unwrap();
    set_password(&config, "alice", PASSWORD);
    let trigger = sending.path().join("send-tls-reports");
    let trigger_arg = trigger.display().to_string();
    let sender = Server::start_args(
        sending.path(),
        &["serve", "--config", &config.display().to_string()],
        &[("MOXIDE_TEST_TLS_REPORTS_TRIGGER", &trigger_arg)],
    );
    common::submit_with_smtplib(
        &sender,
        "alice@example.org",
        PASSWORD,
        "bob@remote.example",
        "tlsrpt@client.example",
    );
    sender.wait_for_log("moxide_actors::queue: delivered", 1);
    std::fs::write(&trigger, b"").unwrap();
    sender.wait_for_log("TLS report queued", 1);
    sender.wait_for_log("moxide_actors::queue: delivered", 2);
    receiver.wait_for_log("stored reports", 1);
    sender.wait_for_log("TLS report posted", 1);
    assert!(!trigger.exists(), "the hook's file is consumed");
    // RFC 8460 §3: the report's own delivery (to the same MX hosts: a TLSA failure,
    // then a success) is not counted, so a second run finds nothing to report.
    std::fs::write(&trigger, b"").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while trigger.exists() {
        assert!(std::time::Instant::now() < deadline, "the hook's file is not consumed");
        std::thread::sleep(Duration::from_millis(50));
    }
    // The run ends before the queue stops (it stops only between runs).
    let mut sender = sender;
    assert!(sender.terminate(Duration::from_secs(30)).0.is_some_and(|s| s.success()));
    assert_eq!(sender.log().matches("TLS report queued").count(), 1, "{}", sender.log());
    stop(receiver);

    // The report mail (RFC 8460 §5.3).
    let reports = stored_messages(receiving.path(), "reports");
    assert_eq!(reports.len(), 1);
    let mail = String::from_utf8_lossy(&reports[0].file).to_string();
    for needle in [
        "TLS-Report-Domain: remote.example\r\n",
        "TLS-Report-Submitter: example.org\r\n",
        "From: <postmaster@example.org>\r\n",
        "Subject: Report Domain: remote.example Submitter: example.org Report-ID: <",
        "report-type=\"tlsrpt\"",
        "Content-Type: application/tlsrpt+gzip\r\n",
        "DKIM-Signature: v=1; a=ed25519-sha256;",
        "filename=\"example.org!remote.example!",
    ] {
        assert!(mail.contains(needle), "{needle:?} missing:\n{mail}");
    }
    // The report comes from the null reverse path, over TLS.
    let prefix = String::from_utf8_lossy(&reports[0].info.prefix).to_string();
    assert!(prefix.contains("with ESMTPS"), "{prefix}");
    assert!(bob_got_one(receiving.path()));

    // The receiver's own parser stored it, with the day's counts.
    let dir = receiving.path().join("data/reports/tlsrpt");
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let json = std::fs::read(&files[0]).unwrap();
    let report = moxide_protocols::reports::tlsrpt::parse(&json).unwrap();
    assert_eq!(report.organization, "Example Org");
    assert_eq!(report.policies.len(), 1, "{report:?}");
    assert_eq!(report.policies[0].policy_type, "tlsa");
    assert_eq!(report.policies[0].domain, "remote.example");
    // The first MX's TLSA matches nothing (a failure), the second delivers (a success).
    assert_eq!((report.policies[0].successful, report.policies[0].failed), (1, 1), "{report:?}");
    assert_eq!(report.policies[0].failure_types, vec!["tlsa-invalid".to_owned()], "{report:?}");

    // The same report, POSTed to the https: rua (RFC 8460 §5.3.2).
    drop(https);
    assert_eq!(std::fs::read_to_string(pki.path().join("posted.type")).unwrap(), "application/tlsrpt+gzip");
    let posted = Command::new("gzip").arg("-dc").arg(pki.path().join("posted")).output().unwrap();
    assert!(posted.status.success(), "the POSTed body is gzip");
    let over_https = moxide_protocols::reports::tlsrpt::parse(&posted.stdout).unwrap();
    assert_eq!(over_https.organization, "Example Org");
    assert_eq!(over_https.policies, report.policies);

    // DKIM-valid against the sender's published key.
    let records = Command::new(env!("CARGO_BIN_EXE_moxide"))
        .args(["dns", "records", "--config"])
        .arg(&config)
        .arg("example.org")
        .output()
        .unwrap();
    let records = String::from_utf8(records.stdout).unwrap();
    let dkim_line = records.lines().find(|l| l.contains("._domainkey.example.org. TXT")).expect(&records);
    let value = dkim_line.split('"').nth(1).unwrap();
    let (ok, output) = dkimpy_verifies(&reports[0].file, value);
    assert!(ok, "dkimpy: {output}\n{mail}");
}

fn bob_got_one(receiving: &Path) -> bool {
    stored_messages(receiving, "bob").len() == 1
}
