//! BURL (RFC 4468) through the real `moxide localserve` binary. Python's imaplib and
//! smtplib (`tests/clients/burl.py`) append a draft, sign a `submit+` URL with
//! GENURLAUTH and send the draft over submission with `BURL <url> LAST`: it arrives
//! byte-identical after the trace header fields. A tampered MAC, an expired URL,
//! another account's URL, a `user+` URL, another host, a host:port the client listens
//! on (never connected to: no fetch leaves the server) and BURL before AUTH are refused
//! with RFC 4468's replies while the session goes on; BURL without LAST then BDAT LAST
//! builds one message. A raw client then sends a 20 MiB draft by BURL while the
//! server's peak resident set is watched (`VmHWM`): the bytes go from the message file
//! to the spool in bounded pieces, never held whole. Last, with `moxide serve` and a
//! queue routed to a second server, a draft sent by BURL to another domain is queued,
//! DKIM-signed and delivered as the draft. `verifydata` is clean after the first two.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Client, PASSWORD, SENDER_DOMAINS, Server};

const EXPECTED: &str = "\
EHLO before AUTH => imap
BURL before AUTH => 530 5.7.0
BURL LAST => 250 2.0.0
delivered => identical
BURL tampered MAC => 554 5.6.6
BURL tampered MAC, then NOOP => 250 2.0.0
BURL expired => 554 5.6.6
BURL expired, then NOOP => 250 2.0.0
BURL another account's URL => 554 5.6.6
BURL another account's URL, then NOOP => 250 2.0.0
BURL user+ URL => 554 5.6.6
BURL user+ URL, then NOOP => 250 2.0.0
BURL another host => 554 5.7.8
BURL another host, then NOOP => 250 2.0.0
BURL a host:port we listen on => 554 5.7.8
BURL a host:port we listen on, then NOOP => 250 2.0.0
BURL http URL => 554 5.7.8
BURL http URL, then NOOP => 250 2.0.0
connections to our listener => none
BURL without LAST => 250 2.5.0
BDAT LAST => 250 2.0.0
delivered with the chunk => identical
BURL after a mixed message => 250 2.0.0
";

/// Runs a `moxide` CLI verb, with `input` on its stdin; it must succeed.
fn moxide(args: &[&str], input: Option<&str>) {
    let output = common::moxide_cli(args, input);
    assert!(output.status.success(), "moxide {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn burl_with_imaplib_and_smtplib() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), 2);
    let config = dir.path().join("config/moxide.toml").display().to_string();
    moxide(&["account", "add", "--config", &config, "bob", "bob@localhost"], None);
    moxide(&["setaccountpassword", "--config", &config, "bob"], Some("bob-password\n"));
    let imap_port = server.imap.expect("imap listener printed").port().to_string();
    let submission_port = server.listener("submission").port().to_string();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/burl.py");
    let output = Command::new("python3")
        .arg(path)
        .args([
            "127.0.0.1",
            &imap_port,
            &submission_port,
            "mox@localhost",
            "moxmoxmox",
            "bob@localhost",
            "bob-password",
        ])
        .output()
        .expect("python3 is installed");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "burl.py failed:\n{stdout}{}\nlog:\n{}",
        String::from_utf8_lossy(&output.stderr),
        server.log()
    );
    assert_eq!(stdout, EXPECTED);
    server.kill();
    let (clean, report) = common::verifydata(dir.path());
    assert!(clean, "{report}");
}

/// The draft sent by URL: larger than any buffer on the way.
const LARGE_BYTES: usize = 20 * 1024 * 1024;

/// Most the server's peak resident set may rise while it copies the draft into the
/// spool and delivers it: far below its size, so a copy held in memory fails the test.
const RSS_GROWTH_BYTES_MAX: u64 = 8 * 1024 * 1024;

/// Appends `message` to Drafts and signs a `submit+` URL for it.
fn signed_draft_url(address: SocketAddr, message: &[u8]) -> String {
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut greeting = [0u8; 1024];
    let _ = stream.read(&mut greeting).unwrap();
    assert!(
        common::imap_command(&mut stream, "a1", b"a1 LOGIN mox@localhost moxmoxmox\r\n").1.contains("OK")
    );
    let _ = common::imap_command(&mut stream, "a2", b"a2 CREATE Drafts\r\n");
    let mut append = format!("a3 APPEND Drafts {{{}+}}\r\n", message.len()).into_bytes();
    append.extend_from_slice(message);
    append.extend_from_slice(b"\r\n");
    let (_, appended, _) = common::imap_command(&mut stream, "a3", &append);
    assert!(appended.contains("OK [APPENDUID"), "{appended}");
    let uid = appended.split_whitespace().nth(4).unwrap().trim_end_matches(']').to_owned();
    let generate = format!(
        "a4 GENURLAUTH \"imap://mox%40localhost@localhost/Drafts/;UID={uid};URLAUTH=submit+mox%40localhost\" INTERNAL\r\n"
    );
    let (untagged, done, _) = common::imap_command(&mut stream, "a4", generate.as_bytes());
    assert!(done.contains("OK"), "{done}");
    untagged[0].strip_prefix("* GENURLAUTH \"").unwrap().trim_end_matches('"').to_owned()
}

#[test]
fn burl_of_a_large_draft_does_not_grow_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), 1);
    let mut large = b"From: mox@localhost\r\nTo: mox@localhost\r\nSubject: large draft\r\n\r\n".to_vec();
    while large.len() < LARGE_BYTES {
        large.extend_from_slice(
            b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567\r\n",
        );
    }
    let url = signed_draft_url(server.imap.unwrap(), &large);

    let mut client = Client::connect(server.listener("submission")).unwrap();
    client.socket().set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    assert_eq!(client.hello().unwrap().code, 250);
    // AUTH PLAIN: NUL mox@localhost NUL moxmoxmox.
    assert_eq!(client.command("AUTH PLAIN AG1veEBsb2NhbGhvc3QAbW94bW94bW94").unwrap().code, 235);
    assert_eq!(client.command("MAIL FROM:<mox@localhost>").unwrap().code, 250);
    assert_eq!(client.command("RCPT TO:<mox@localhost>").unwrap().code, 250);
    let pid = server.pid();
    let (reply, growth) = common::rss_growth(pid, || client.command(&format!("BURL {url} LAST")).unwrap());
    assert_eq!(reply.code, 250, "{reply:?}");
    eprintln!("BURL of {} MiB: peak RSS +{:.1} MiB", LARGE_BYTES >> 20, growth as f64 / 1048576.0);
    assert!(growth < RSS_GROWTH_BYTES_MAX, "the server's RSS grew by {growth} bytes");
    drop(client);
    server.kill();
    let inbox = common::stored_messages(dir.path(), "mox");
    let delivered = inbox.last().expect("the message was delivered");
    assert!(delivered.file.ends_with(&large), "the delivered message differs from the draft");
    let (clean, report) = common::verifydata(dir.path());
    assert!(clean, "{report}");
}

const RECEIVER_DOMAINS: &str = r#"
postmaster_account = "carol"
[domains."remote.example"]
[accounts.carol]
addresses = ["carol@remote.example"]
"#;

/// The draft of the queued submission; its `From:` is the account's, as submission
/// requires.
const REMOTE_DRAFT: &str = "From: alice@example.org\r\nTo: carol@remote.example\r\nSubject: burl to a remote domain\r\nMessage-ID: <burl-remote@example.org>\r\n\r\nhello from a draft\r\n";

fn queue_list(config: &Path) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_moxide"))
        .args(["queue", "--config"])
        .arg(config)
        .arg("list")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// `moxide serve` with a queue routed to a second server: a draft sent by BURL to
/// another domain is queued, DKIM-signed and delivered like any other submission.
#[test]
fn a_burl_submission_to_another_domain_is_signed_and_queued() {
    let receiving = tempfile::tempdir().unwrap();
    let receiver_config = common::write_serve_config(receiving.path(), "", &[("smtp", "")], RECEIVER_DOMAINS);
    let text = format!("inbound_checks = false\n{}", std::fs::read_to_string(&receiver_config).unwrap());
    std::fs::write(&receiver_config, text).unwrap();
    let receiver_arg = receiver_config.display().to_string();
    let receiver = Server::start_args(receiving.path(), &["serve", "--config", &receiver_arg], &[]);

    let dir = tempfile::tempdir().unwrap();
    let config = common::write_serve_config(
        dir.path(),
        "",
        &[("submission", ""), ("smtp", ""), ("imap", "")],
        SENDER_DOMAINS,
    );
    let route = format!(
        "[queue]\nstarttls = false\n[[queue.routes]]\ndomain = \"remote.example\"\nhost = \"mx.remote.example\"\naddress = \"{}\"\n",
        receiver.smtp
    );
    let text = format!("inbound_checks = false\n{}{route}", std::fs::read_to_string(&config).unwrap());
    std::fs::write(&config, text).unwrap();
    common::set_password(&config, "alice", PASSWORD);
    let config_arg = config.display().to_string();
    let server = Server::start_args(dir.path(), &["serve", "--config", &config_arg], &[]);
    let imap_port = server.listener("imap").port();
    let submission_port = server.listener("submission").port();
    let script = format!(
        r#"
import imaplib, smtplib
imap = imaplib.IMAP4("127.0.0.1", {imap_port})
imap.login("alice@example.org", "{PASSWORD}")
imap.create("Drafts")
typ, data = imap.append("Drafts", None, None, b"{draft}")
assert typ == "OK", data
uidvalidity, uid = data[0].split(b"APPENDUID ")[1].split(b"]")[0].split()
rump = b"imap://alice%%40example.org@mx.example.org/Drafts;UIDVALIDITY=%s/;UID=%s;URLAUTH=submit+alice%%40example.org" % (uidvalidity, uid)
tag = imap._new_tag()
imap.tagged_commands[tag] = None
imap.send(tag + b' GENURLAUTH "' + rump + b'" INTERNAL\r\n')
typ, _ = imap._command_complete("GENURLAUTH", tag)
assert typ == "OK", typ
url = imap.untagged_responses.pop("GENURLAUTH")[0].strip().strip(b'"').decode()
s = smtplib.SMTP("127.0.0.1", {submission_port}, timeout=60)
s.ehlo("client.example")
s.login("alice@example.org", "{PASSWORD}")
assert s.mail("alice@example.org")[0] == 250
assert s.rcpt("carol@remote.example")[0] == 250
code, text = s.docmd("BURL", url + " LAST")
print(code, text.decode().split(" ", 1)[0])
s.quit()
"#,
        draft = REMOTE_DRAFT.replace("\r\n", "\\r\\n")
    );
    let output = Command::new("python3").arg("-c").arg(script).output().unwrap();
    assert!(
        output.status.success(),
        "python: {}{}\nlog:\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
        server.log()
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout), "250 2.0.0\n");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !queue_list(&config).is_empty() {
        assert!(std::time::Instant::now() < deadline, "the queue did not empty:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(server);
    drop(receiver);
    let stored = common::stored_messages(receiving.path(), "carol");
    assert_eq!(stored.len(), 1);
    let text = String::from_utf8_lossy(&stored[0].file).into_owned();
    assert!(text.ends_with(REMOTE_DRAFT), "the draft as written: {text}");
    assert!(text.lines().any(|l| l.starts_with("DKIM-Signature:")), "signed: {text}");
    assert!(text.contains("d=example.org;"), "signed for the From: domain: {text}");
}
