//! One server per data directory: with a server in the middle of an SMTP DATA and an IMAP
//! APPEND, a second `localserve` or `serve` on the same directory and `verifydata` are
//! refused at once with an error naming the directory and the running process, and change
//! nothing: the first server's DATA and APPEND then complete. `setaccountpassword` beside
//! the running server is not refused: it asks that server through its control socket, the
//! one process writing the data, and the new password works at once.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::{Client, Server, message_for, stored_messages};

/// How long a refused command may take: it stops before doing any work.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(20);

fn moxide(cwd: &Path, args: &[&str]) -> Output {
    moxide_with_input(cwd, args, None)
}

fn moxide_with_input(cwd: &Path, args: &[&str], input: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_moxide"))
        .args(args)
        .current_dir(cwd)
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = input {
        use std::io::Write as _;
        child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    }
    let deadline = Instant::now() + REFUSAL_TIMEOUT;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("moxide {args:?} still running after {REFUSAL_TIMEOUT:?}: it was not refused");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// The spool's files and their lengths.
fn spool(dir: &Path) -> Vec<(String, u64)> {
    let mut files: Vec<_> = std::fs::read_dir(dir.join("data/tmp"))
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (e.file_name().to_string_lossy().into_owned(), e.metadata().unwrap().len())
        })
        .collect();
    files.sort();
    files
}

fn modified(path: &Path) -> SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

fn assert_refused(output: &Output, data_dir: &Path, pid: u32, what: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{what} was not refused: {stderr}");
    assert!(stderr.contains("in use"), "{what}: {stderr}");
    assert!(stderr.contains(&*data_dir.to_string_lossy()), "{what} does not name the directory: {stderr}");
    assert!(stderr.contains(&format!("pid {pid}")), "{what} does not name the process: {stderr}");
}

#[test]
fn second_server_is_refused_and_harms_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("ls");
    std::fs::create_dir(&dir).unwrap();
    let mut server = Server::start(&dir, 1);
    let pid = server.pid();
    let data_dir = dir.join("data");

    // An SMTP transaction in the middle of DATA, past the spool's first 64 KiB write
    // (a spool is created at its first write).
    let body = message_for("smtp-during-refusal", 200_000);
    let mut smtp = Client::connect(server.smtp).unwrap();
    smtp.hello().unwrap();
    assert_eq!(smtp.command("MAIL FROM:<a@example.org>").unwrap().code, 250);
    assert_eq!(smtp.command("RCPT TO:<mox@localhost>").unwrap().code, 250);
    assert_eq!(smtp.command("DATA").unwrap().code, 354);
    let mut wire = Vec::new();
    moxide_protocols::smtp::dot_stuff(&body, &mut wire); // ends with the terminating dot
    let (head, tail) = wire.split_at(wire.len() / 2);
    smtp.send(head).unwrap();

    // An IMAP APPEND in the middle of its literal.
    let message = message_for("imap-during-refusal", 20_000);
    let mut imap = Client::connect(server.imap.unwrap()).unwrap();
    assert!(imap.line().unwrap().starts_with("* OK"));
    imap.send(b"a LOGIN mox@localhost moxmoxmox\r\n").unwrap();
    while !imap.line().unwrap().starts_with("a OK") {}
    imap.send(format!("b APPEND INBOX {{{}}}\r\n", message.len()).as_bytes()).unwrap();
    assert!(imap.line().unwrap().starts_with('+'));
    let (first, rest) = message.split_at(message.len() / 2);
    imap.send(first).unwrap();

    // Both spool files exist before the second server tries.
    let deadline = Instant::now() + Duration::from_secs(10);
    while spool(&dir).len() < 2 {
        assert!(Instant::now() < deadline, "spool files did not appear: {:?}", spool(&dir));
        std::thread::sleep(Duration::from_millis(20));
    }
    let spool_before = spool(&dir);
    let reference = dir.join("config/moxide.toml");
    let reference_modified = modified(&reference);

    let second = moxide(
        tmp.path(),
        &["localserve", "--dir", "ls", "--smtp-port", "0", "--imap-port", "0", "--submission-port", "0"],
    );
    assert_refused(&second, &data_dir, pid, "a second localserve");
    let config = reference.to_str().unwrap();
    assert_refused(&moxide(tmp.path(), &["serve", "--config", config]), &data_dir, pid, "serve");
    assert_refused(
        &moxide(tmp.path(), &["verifydata", data_dir.to_str().unwrap()]),
        &data_dir,
        pid,
        "verifydata",
    );
    // Through the running server: the new password works at once, the old one fails.
    let set = moxide_with_input(
        tmp.path(),
        &["setaccountpassword", "--config", config, "mox"],
        Some("changed-pw\n"),
    );
    assert!(set.status.success(), "setaccountpassword: {}", String::from_utf8_lossy(&set.stderr));
    let mut check = Client::connect(server.imap.unwrap()).unwrap();
    assert!(check.line().unwrap().starts_with("* OK"));
    check.send(b"c LOGIN mox@localhost changed-pw\r\n").unwrap();
    let new_login = loop {
        let line = check.line().unwrap();
        if line.starts_with("c ") {
            break line;
        }
    };
    assert!(new_login.starts_with("c OK"), "{new_login}");
    // The old password was verified (and remembered) by the session above: it fails now.
    let mut old = Client::connect(server.imap.unwrap()).unwrap();
    assert!(old.line().unwrap().starts_with("* OK"));
    old.send(b"d LOGIN mox@localhost moxmoxmox\r\n").unwrap();
    let old_login = loop {
        let line = old.line().unwrap();
        if line.starts_with("d ") {
            break line;
        }
    };
    assert!(old_login.starts_with("d NO"), "{old_login}");
    // Reading beside a running server is allowed.
    let list = moxide(tmp.path(), &["config", "tlspubkey", "list", "--config", config]);
    assert!(list.status.success(), "{}", String::from_utf8_lossy(&list.stderr));

    assert_eq!(spool(&dir), spool_before, "the refused commands touched the spool");
    assert_eq!(modified(&reference), reference_modified, "the refused localserve rewrote its config");
    assert!(server.is_running());

    // The first server's DATA and APPEND complete normally.
    smtp.send(tail).unwrap();
    let reply = smtp.reply().unwrap();
    assert_eq!(reply.code, 250, "{reply:?}\n{}", server.log());
    imap.send(rest).unwrap();
    imap.send(b"\r\n").unwrap();
    let done = loop {
        let line = imap.line().unwrap();
        if line.starts_with("b ") {
            break line;
        }
    };
    assert!(done.starts_with("b OK"), "{done}\n{}", server.log());
    server.kill();

    let ids: Vec<_> =
        stored_messages(&dir, "mox").iter().filter_map(|m| common::message_id_of(&m.file)).collect();
    assert_eq!(ids, ["smtp-during-refusal", "imap-during-refusal"]);
    let (ok, report) = common::verifydata(&dir);
    assert!(ok, "{report}");
}
