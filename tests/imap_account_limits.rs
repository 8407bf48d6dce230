//! Per-account settings of the domains file through the real `moxide localserve` binary:
//! `quota_messages` (RFC 9208 MESSAGE) refuses the delivery past it with `452 4.2.2`
//! (SMTP) and an APPEND with `NO [OVERQUOTA]`, and GETQUOTAROOT reports it, seen by
//! Python's imaplib; `imap_hidden_capabilities` leaves capabilities out of the lists the
//! account's sessions see after login, while the commands keep working; with
//! `over_quota_permanent` (static configuration) the refusal is `552 5.2.2`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::{Client, Server};

/// The localserve domains file with limits for account mox.
const DOMAINS: &str = r#"postmaster_account = "mox"
[domains.localhost]
localpart_separators = ["+"]
[accounts.mox]
addresses = ["mox@localhost", "@localhost"]
quota_messages = 2
imap_hidden_capabilities = ["THREAD", "partial"]
"#;

/// The IMAP half, with imaplib: prints the login's capabilities as the client saw
/// them, GETQUOTAROOT's answer, an APPEND's outcome and a THREAD's (refused: the
/// account hides THREAD, so the command is unknown to it).
const IMAP_SCRIPT: &str = r#"
import imaplib, sys
imap = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
pre = imap.capabilities
typ, data = imap.login("mox@localhost", "moxmoxmox")
caps = imap.untagged_responses.get("CAPABILITY") or [data[0]]
caps = b" ".join(caps).decode()
print("before login:", "THREAD=REFS" in pre, "PARTIAL" in pre)
print("after login:", "THREAD=REFS" in caps, "PARTIAL" in caps, "SORT" in caps)
typ, data = imap.getquotaroot("INBOX")
print("GETQUOTAROOT", typ, data[1][0].decode())
typ, data = imap.append("INBOX", None, None, b"Subject: third\r\n\r\nthird\r\n")
print("APPEND", typ, data[0].decode().split("]")[0] + "]")
imap.select("INBOX")
try:
    typ, data = imap.thread("REFS", "UTF-8", "ALL")
    print("THREAD", typ, data[0].decode())
except imap.error as error:
    print("THREAD", error)
imap.logout()
"#;

#[test]
fn message_quota_and_hidden_capabilities_from_the_domains_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(dir.path().join("config/domains.toml"), DOMAINS).unwrap();
    let server = Server::start(dir.path(), 2);
    let mut smtp = Client::connect(server.smtp).unwrap();
    smtp.hello().unwrap();
    for n in 1..=3 {
        let message = format!("From: a@example.org\r\nSubject: {n}\r\n\r\nbody {n}\r\n");
        let reply = smtp.deliver("a@example.org", &["mox@localhost"], message.as_bytes()).unwrap();
        if n <= 2 {
            assert_eq!(reply.code, 250, "{reply:?}");
        } else {
            // The third would make three messages: refused for now, the sender retries.
            assert_eq!(reply.code, 452, "{reply:?}");
            assert!(reply.text().contains("4.2.2"), "{reply:?}");
        }
    }
    let port = server.imap.expect("imap listener printed").port().to_string();
    let output =
        Command::new("python3").args(["-c", IMAP_SCRIPT, &port]).output().expect("python3 is installed");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "imaplib failed:\n{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        stdout,
        "before login: True True\n\
         after login: False False True\n\
         GETQUOTAROOT OK \"\" (MESSAGE 2 2)\n\
         APPEND NO [OVERQUOTA]\n\
         THREAD THREAD command error: BAD [b'unknown command']\n"
    );
}

/// `over_quota_permanent = true` in the static configuration (`moxide serve`): the
/// delivery past the limit is refused for good, `552 5.2.2`.
#[test]
fn over_quota_permanent_answers_552() {
    let dir = tempfile::tempdir().unwrap();
    let domains = "postmaster_account = \"alice\"\n[domains.\"example.org\"]\n\
        [accounts.alice]\naddresses = [\"alice@example.org\"]\nquota_messages = 1\n";
    std::fs::write(dir.path().join("domains.toml"), domains).unwrap();
    let config = dir.path().join("moxide.toml");
    let text = "hostname = \"mx.example.org\"\ndata_dir = \"data\"\ndomains_file = \"domains.toml\"\n\
        cores = 1\npin_cores = false\ninbound_checks = false\nover_quota_permanent = true\n\
        [[listeners]]\nprotocol = \"smtp\"\naddress = \"127.0.0.1:0\"\n";
    std::fs::write(&config, text).unwrap();
    let config = config.display().to_string();
    let server = Server::start_args(dir.path(), &["serve", "--config", &config], &[]);
    let mut smtp = Client::connect(server.smtp).unwrap();
    smtp.hello().unwrap();
    let message = b"From: a@example.net\r\nSubject: hi\r\n\r\nbody\r\n";
    let first = smtp.deliver("a@example.net", &["alice@example.org"], message).unwrap();
    assert_eq!(first.code, 250, "{first:?}");
    let second = smtp.deliver("a@example.net", &["alice@example.org"], message).unwrap();
    assert_eq!(second.code, 552, "{second:?}");
    assert!(second.text().contains("5.2.2"), "{second:?}");
}
