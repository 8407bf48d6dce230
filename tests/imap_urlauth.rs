//! URLAUTH (RFC 4467) through the real `moxide localserve` binary: Python's imaplib
//! (`tests/clients/urlauth.py`) signs URLs with GENURLAUTH and fetches them back with
//! URLFETCH (whole message, section, range), meets NIL for expired, tampered,
//! submission-only and other accounts' URLs, and RESETKEY; after a restart a saved URL
//! still works (the keys are stored). A raw client then fetches a 20 MiB message by URL
//! while the server's peak resident set is watched (`VmHWM`): the bytes go from the file
//! to the socket, never held whole. `verifydata` is clean after each part.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::Server;

const FIRST: &str = "\
CAPABILITY => True
URLFETCH whole => identical
URLFETCH section => identical
URLFETCH partial => identical
URLFETCH expired => NIL
URLFETCH tampered => NIL
URLFETCH submit+ over IMAP => NIL
URLFETCH for the other user, by this one => NIL
URLFETCH for the other user, by it => identical
URLFETCH of this user's user+ URL, by the other => NIL
GENURLAUTH for another user's mailbox => NO
RESETKEY INBOX => OK
URLFETCH after RESETKEY => NIL
URLFETCH new key => identical
";

const RESTART: &str = "\
URLFETCH after restart => identical
RESETKEY => OK
URLFETCH after RESETKEY of all => NIL
";

/// Runs a `moxide` CLI verb, with `input` on its stdin; it must succeed.
fn moxide(args: &[&str], input: Option<&str>) {
    let output = common::moxide_cli(args, input);
    assert!(output.status.success(), "moxide {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

fn script(server: &Server, state: &Path, stage: &str) -> String {
    let port = server.imap.expect("imap listener printed").port().to_string();
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/urlauth.py");
    let state = state.display().to_string();
    let output = Command::new("python3")
        .arg(path)
        .args([
            "127.0.0.1",
            &port,
            "mox@localhost",
            "moxmoxmox",
            "bob@localhost",
            "bob-password",
            &state,
            stage,
        ])
        .output()
        .expect("python3 is installed");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "urlauth.py failed:\n{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn urlauth_with_imaplib_and_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), 2);
    let config = dir.path().join("config/moxide.toml").display().to_string();
    moxide(&["account", "add", "--config", &config, "bob", "bob@localhost"], None);
    moxide(&["setaccountpassword", "--config", &config, "bob"], Some("bob-password\n"));
    let state = dir.path().join("saved-url");
    assert_eq!(script(&server, &state, "first"), FIRST);
    server.kill();
    let (clean, report) = common::verifydata(dir.path());
    assert!(clean, "{report}");
    let mut server = Server::start(dir.path(), 1);
    assert_eq!(script(&server, &state, "restart"), RESTART);
    server.kill();
    let (clean, report) = common::verifydata(dir.path());
    assert!(clean, "{report}");
}

/// The fetched message: larger than any buffer the output may use.
const LARGE_BYTES: usize = 20 * 1024 * 1024;

/// Most the server's peak resident set may rise while sending the large message: far
/// below its size, so a copy held in memory fails the test.
const RSS_GROWTH_BYTES_MAX: u64 = 8 * 1024 * 1024;

#[test]
fn urlfetch_of_a_large_message_does_not_grow_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), 1);
    let address: SocketAddr = server.imap.unwrap();
    let mut stream = TcpStream::connect(address).unwrap();
    stream.set_nodelay(true).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut greeting = [0u8; 1024];
    let _ = stream.read(&mut greeting).unwrap();
    assert!(
        common::imap_command(&mut stream, "a1", b"a1 LOGIN mox@localhost moxmoxmox\r\n").1.contains("OK")
    );
    let mut large = b"Subject: large\r\n\r\n".to_vec();
    while large.len() < LARGE_BYTES {
        large.extend_from_slice(
            b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef01234567\r\n",
        );
    }
    let mut append = format!("a2 APPEND INBOX {{{}+}}\r\n", large.len()).into_bytes();
    append.extend_from_slice(&large);
    append.extend_from_slice(b"\r\n");
    let (_, appended, _) = common::imap_command(&mut stream, "a2", &append);
    assert!(appended.contains("OK [APPENDUID"), "{appended}");
    let uid = appended.split_whitespace().nth(4).unwrap().trim_end_matches(']').to_owned();
    drop(append);
    let generate = format!(
        "a3 GENURLAUTH \"imap://mox%40localhost@localhost/INBOX/;UID={uid};URLAUTH=authuser\" INTERNAL\r\n"
    );
    let (untagged, done, _) = common::imap_command(&mut stream, "a3", generate.as_bytes());
    assert!(done.contains("OK"), "{done}");
    let url = untagged[0].strip_prefix("* GENURLAUTH \"").unwrap().trim_end_matches('"').to_owned();

    let pid = server.pid();
    let fetch = format!("a4 URLFETCH \"{url}\"\r\n");
    let ((untagged, done, total), growth) =
        common::rss_growth(pid, || common::imap_command(&mut stream, "a4", fetch.as_bytes()));
    assert!(done.contains("OK"), "{done}");
    assert!(untagged[0].ends_with(&format!(" {{{}}}", large.len())), "{}", untagged[0]);
    assert!(total > large.len(), "{total} octets read");
    eprintln!("URLFETCH of {} MiB: peak RSS +{:.1} MiB", LARGE_BYTES >> 20, growth as f64 / 1048576.0);
    assert!(growth < RSS_GROWTH_BYTES_MAX, "the server's RSS grew by {growth} bytes");
    drop(stream);
    server.kill();
    let (clean, report) = common::verifydata(dir.path());
    assert!(clean, "{report}");
}
