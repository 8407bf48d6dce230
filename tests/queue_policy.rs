//! The queue's policies through the real binary (issue 14): a local account that fails
//! temporarily during incoming SMTP (an injected LMDB commit failure) is queued for a
//! local retry while the other account keeps its copy, the transaction gets `250`, and
//! after `kill -9` and a restart the retry delivers it exactly once; FUTURERELEASE
//! (RFC 4865) through Python's smtplib holds a submitted message in the queue; a hard
//! bounce from a second server puts the address on the account's suppression list, which
//! refuses the next submission to it until `moxide queue suppress remove`; hold rules
//! hold matching messages on entry; the per-account send limits refuse with `451 4.7.1`;
//! submitted mail is DKIM-signed for its `From:` domain, not its envelope's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    Client, PASSWORD, Server, message_for, message_id_of, set_password, stored_messages, verifydata,
    write_serve_config,
};

const DOMAINS: &str = r#"
postmaster_account = "alice"
[domains."example.org"]
[accounts.alice]
addresses = ["alice@example.org"]
[accounts.bob]
addresses = ["bob@example.org"]
"#;

fn config_with(dir: &Path, extra: &str) -> PathBuf {
    config_with_domains(dir, extra, DOMAINS)
}

fn config_with_domains(dir: &Path, extra: &str, domains: &str) -> PathBuf {
    let config = write_serve_config(dir, "", &[("submission", ""), ("smtp", "")], domains);
    let mut text = format!("inbound_checks = false\n{}", std::fs::read_to_string(&config).unwrap());
    text.push_str(extra);
    std::fs::write(&config, text).unwrap();
    set_password(&config, "alice", PASSWORD);
    config
}

fn start(dir: &Path, config: &Path, env: &[(&str, &str)]) -> Server {
    let arg = config.display().to_string();
    Server::start_args(dir, &["serve", "--config", &arg], env)
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

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Message ids in an account's Inbox (server stopped), each with its count.
fn ids_of(dir: &Path, account: &str) -> Vec<String> {
    let mut ids: Vec<String> =
        stored_messages(dir, account).iter().map(|m| message_id_of(&m.file).expect("message id")).collect();
    ids.sort();
    ids
}

#[test]
fn a_temporary_local_failure_is_retried_from_the_queue_exactly_once_across_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(dir.path(), "");
    let fault_file = dir.path().join("fault");
    let fault_env = fault_file.display().to_string();
    let env = [("MOXIDE_FAULT_FILE", fault_env.as_str())];
    let mut server = start(dir.path(), &config, &env);
    let mut smtp = Client::connect(server.smtp).unwrap();
    smtp.hello().unwrap();
    let to = ["alice@example.org", "bob@example.org"];
    // Opens both account stores (their first commits), so the fault hits a delivery.
    let warm_up = message_for("warm-up", 1500);
    assert_eq!(smtp.deliver("sender@remote.example", &to, &warm_up).unwrap().code, 250);
    // The next LMDB commit fails: one of the two accounts (whichever commits first).
    std::fs::write(&fault_file, "commit fail").unwrap();
    let retried = message_for("retried", 3000);
    let reply = smtp.deliver("sender@remote.example", &to, &retried).unwrap();
    assert_eq!(reply.code, 250, "one account stored it, the other is queued: {}", reply.text());
    wait_until("the fault to fire", Duration::from_secs(10), || !fault_file.exists());
    let listed = queue_command(&config, &["list"]);
    assert_eq!(
        listed.lines().filter(|l| l.contains(" from ")).count(),
        1,
        "one local retry queued: {listed}"
    );
    assert!(listed.contains("example.org recipients 1 attempts 0"), "{listed}");
    // A crash before the retry: the queue record is durable, the stored copy stays.
    server.kill();
    let server = start(dir.path(), &config, &[]);
    queue_command(&config, &["retry"]);
    wait_until("the queue to empty", Duration::from_secs(30), || {
        queue_command(&config, &["list"]).is_empty()
    });
    drop(server);
    for account in ["alice", "bob"] {
        assert_eq!(ids_of(dir.path(), account), ["retried", "warm-up"], "{account}: each once");
        let stored = stored_messages(dir.path(), account);
        let copy = stored.iter().find(|m| message_id_of(&m.file).as_deref() == Some("retried")).unwrap();
        assert!(copy.file.ends_with(&retried), "{account}: byte-identical");
    }
    let (clean, output) = verifydata(dir.path());
    assert!(clean, "{output}");
}

/// Submits with smtplib, with `options` as MAIL parameters; returns smtplib's outcome
/// (`ok`, or the refusal's code and text) and the EHLO reply's FUTURERELEASE line.
fn submit(server: &Server, to: &str, id: &str, options: &[&str]) -> (String, String) {
    let port = server.listener("submission").port();
    let options: Vec<String> = options.iter().map(|o| format!("{o:?}")).collect();
    let script = format!(
        r#"
import smtplib
s = smtplib.SMTP("127.0.0.1", {port}, timeout=30)
s.ehlo("client.example")
line = "FUTURERELEASE " + s.esmtp_features.get("futurerelease", "none")
s.login("alice@example.org", "{PASSWORD}")
msg = "From: alice@example.org\r\nTo: {to}\r\nSubject: later\r\nMessage-ID: <{id}@test>\r\n\r\nhello\r\n"
try:
    s.sendmail("alice@example.org", ["{to}"], msg, mail_options=[{options}])
    print("ok")
except smtplib.SMTPRecipientsRefused as e:
    code, text = list(e.recipients.values())[0]
    print(code, text.decode())
except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as e:
    print(e.smtp_code, e.smtp_error.decode())
print(line)
s.quit()
"#,
        options = options.join(", ")
    );
    let output = Command::new("python3").arg("-c").arg(script).output().unwrap();
    assert!(output.status.success(), "smtplib: {}", String::from_utf8_lossy(&output.stderr));
    let text = String::from_utf8(output.stdout).unwrap();
    let mut lines = text.lines();
    (lines.next().unwrap().to_owned(), lines.next().unwrap().to_owned())
}

#[test]
fn futurerelease_holds_a_submission_in_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let config = config_with(dir.path(), "");
    let server = start(dir.path(), &config, &[]);
    let (outcome, advertised) = submit(&server, "bob@example.org", "later", &["HOLDFOR=3600"]);
    assert_eq!(outcome, "ok");
    let words: Vec<&str> = advertised.split(' ').collect();
    assert_eq!(words[..2], ["FUTURERELEASE", "5184000"], "{advertised}");
    assert!(words[2].ends_with('Z') && words[2].len() == 20, "{advertised}");
    let listed = queue_command(&config, &["list"]);
    assert!(listed.contains("example.org recipients 1 attempts 0 next"), "{listed}");
    // Beyond the advertised maximum: 501 5.5.4; both parameters: refused too.
    let (outcome, _) = submit(&server, "bob@example.org", "too-late", &["HOLDFOR=5184001"]);
    assert!(outcome.starts_with("501 5.5.4"), "{outcome}");
    let (outcome, _) =
        submit(&server, "bob@example.org", "both", &["HOLDFOR=1", "HOLDUNTIL=2030-01-01T00:00:00Z"]);
    assert!(outcome.starts_with("501 5.5.4"), "{outcome}");
    // A time already past releases at once.
    let (outcome, _) = submit(&server, "bob@example.org", "past", &["HOLDUNTIL=2001-01-01T00:00:00+01:00"]);
    assert_eq!(outcome, "ok");
    wait_until("the past release to be delivered", Duration::from_secs(30), || {
        queue_command(&config, &["list"]).lines().filter(|l| l.contains(" from ")).count() == 1
    });
    drop(server);
    assert_eq!(ids_of(dir.path(), "bob"), ["past"], "the held one waits");
}

const RECEIVER_DOMAINS: &str = r#"
postmaster_account = "carol"
[domains."remote.example"]
[accounts.carol]
addresses = ["carol@remote.example"]
"#;

#[test]
fn a_hard_bounce_suppresses_the_address_until_removed() {
    let receiving = tempfile::tempdir().unwrap();
    let receiver_config = write_serve_config(receiving.path(), "", &[("smtp", "")], RECEIVER_DOMAINS);
    let text = format!("inbound_checks = false\n{}", std::fs::read_to_string(&receiver_config).unwrap());
    std::fs::write(&receiver_config, text).unwrap();
    let receiver = start(receiving.path(), &receiver_config, &[]);
    let dir = tempfile::tempdir().unwrap();
    let route = format!(
        "[queue]\nstarttls = false\n[[queue.routes]]\ndomain = \"remote.example\"\nhost = \"mx.remote.example\"\naddress = \"{}\"\n",
        receiver.smtp
    );
    let config = config_with(dir.path(), &route);
    let server = start(dir.path(), &config, &[]);
    // The receiver has no such user: 550 5.1.1 at RCPT, a hard bounce.
    assert_eq!(submit(&server, "nobody@remote.example", "first", &[]).0, "ok");
    wait_until("the bounce to be recorded", Duration::from_secs(30), || {
        queue_command(&config, &["suppress", "list"]).contains("alice nobody@remote.example")
    });
    let (outcome, _) = submit(&server, "Nobody@remote.example", "second", &[]);
    assert!(outcome.starts_with("550 5.1.1") && outcome.contains("suppression list"), "{outcome}");
    // Another address of the same domain is not affected.
    assert_eq!(submit(&server, "carol@remote.example", "third", &[]).0, "ok");
    assert_eq!(
        queue_command(&config, &["suppress", "remove", "alice", "nobody@remote.example"]).trim(),
        "removed"
    );
    assert!(queue_command(&config, &["suppress", "list"]).is_empty());
    assert_eq!(submit(&server, "nobody@remote.example", "fourth", &[]).0, "ok");
    // An operator's entry works the same way.
    queue_command(&config, &["suppress", "add", "alice", "carol@remote.example"]);
    assert!(submit(&server, "carol@remote.example", "fifth", &[]).0.starts_with("550 5.1.1"));
    drop(server);
    drop(receiver);
}

#[test]
fn hold_rules_hold_matching_messages_on_entry() {
    let dir = tempfile::tempdir().unwrap();
    // No route and no DNS for remote.example: a message not held would be attempted and
    // fail temporarily (attempts 1); a held one is never attempted.
    let config = config_with(dir.path(), "[queue]\nstarttls = false\n");
    let server = start(dir.path(), &config, &[]);
    let added = queue_command(&config, &["holdrules", "add", "--recipient-domain", "held.example"]);
    assert_eq!(added.trim(), "added 1");
    assert!(
        queue_command(&config, &["holdrules", "list"])
            .contains("1 account any sender-domain any recipient-domain held.example")
    );
    assert_eq!(submit(&server, "someone@held.example", "held", &[]).0, "ok");
    let listed = queue_command(&config, &["list"]);
    assert!(listed.contains("held.example recipients 1 attempts 0 held"), "{listed}");
    assert_eq!(queue_command(&config, &["holdrules", "remove", "1"]).trim(), "removed");
    assert!(queue_command(&config, &["holdrules", "list"]).is_empty());
    assert_eq!(queue_command(&config, &["release"]).trim(), "released 1");
    drop(server);
}

#[test]
fn send_limits_refuse_over_the_day_s_messages_and_first_time_recipients() {
    let domains = r#"
postmaster_account = "alice"
[domains."example.org"]
[accounts.alice]
addresses = ["alice@example.org"]
outgoing_messages_per_day_max = 3
first_time_recipients_per_day_max = 2
[accounts.bob]
addresses = ["bob@example.org"]
"#;
    let dir = tempfile::tempdir().unwrap();
    // Held on entry, so no attempt runs (no route, no DNS needed).
    let config = config_with_domains(dir.path(), "[queue]\nstarttls = false\n", domains);
    queue_command(&config, &["holdrules", "add"]);
    let server = start(dir.path(), &config, &[]);
    assert_eq!(submit(&server, "a@remote.example", "m1", &[]).0, "ok");
    assert_eq!(submit(&server, "b@remote.example", "m2", &[]).0, "ok");
    let (outcome, _) = submit(&server, "c@remote.example", "m3", &[]);
    assert!(outcome.starts_with("451 4.7.1") && outcome.contains("2 new recipients"), "{outcome}");
    // A known recipient is not a first-time one; local recipients are not counted.
    assert_eq!(submit(&server, "a@remote.example", "m4", &[]).0, "ok");
    assert_eq!(submit(&server, "bob@example.org", "m5", &[]).0, "ok");
    let (outcome, _) = submit(&server, "b@remote.example", "m6", &[]);
    assert!(outcome.starts_with("451 4.7.1") && outcome.contains("3 messages"), "{outcome}");
    let listed = queue_command(&config, &["list"]);
    assert_eq!(listed.lines().filter(|l| l.contains(" from ")).count(), 3, "{listed}");
    drop(server);
}

#[test]
fn the_dkim_signing_domain_is_the_from_header_s() {
    let receiving = tempfile::tempdir().unwrap();
    let receiver_config = write_serve_config(receiving.path(), "", &[("smtp", "")], RECEIVER_DOMAINS);
    let text = format!("inbound_checks = false\n{}", std::fs::read_to_string(&receiver_config).unwrap());
    std::fs::write(&receiver_config, text).unwrap();
    let receiver = start(receiving.path(), &receiver_config, &[]);
    let domains = r#"
postmaster_account = "alice"
[domains."example.org"]
[domains."other.example"]
[accounts.alice]
addresses = ["alice@example.org", "alice@other.example"]
"#;
    let dir = tempfile::tempdir().unwrap();
    let route = format!(
        "[queue]\nstarttls = false\n[[queue.routes]]\ndomain = \"remote.example\"\nhost = \"mx.remote.example\"\naddress = \"{}\"\n",
        receiver.smtp
    );
    let config = config_with_domains(dir.path(), &route, domains);
    let server = start(dir.path(), &config, &[]);
    let port = server.listener("submission").port();
    // The envelope is one of alice's addresses, the author another, in another domain.
    let script = format!(
        r#"
import smtplib
s = smtplib.SMTP("127.0.0.1", {port}, timeout=30)
s.login("alice@example.org", "{PASSWORD}")
msg = "From: alice@other.example\r\nTo: carol@remote.example\r\nSubject: aligned\r\nMessage-ID: <aligned@test>\r\n\r\nhello\r\n"
s.sendmail("alice@example.org", ["carol@remote.example"], msg)
s.quit()
"#
    );
    let output = Command::new("python3").arg("-c").arg(script).output().unwrap();
    assert!(output.status.success(), "smtplib: {}", String::from_utf8_lossy(&output.stderr));
    wait_until("the queue to empty", Duration::from_secs(30), || {
        queue_command(&config, &["list"]).is_empty()
    });
    drop(server);
    drop(receiver);
    let stored = stored_messages(receiving.path(), "carol");
    assert_eq!(stored.len(), 1);
    let text = String::from_utf8_lossy(&stored[0].file).into_owned();
    let signatures: Vec<&str> = text.lines().filter(|l| l.starts_with("DKIM-Signature:")).collect();
    assert!(!signatures.is_empty(), "signed: {text}");
    assert!(text.contains("d=other.example;"), "d= is the From: domain: {text}");
    assert!(!text.contains("d=example.org;"), "not the envelope's: {text}");
}
