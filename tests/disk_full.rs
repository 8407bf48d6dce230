//! A full disk (issue 10): the data directory on a small tmpfs made by the test (tests run
//! as root). Filling it must give SMTP `452 4.3.1` and IMAP `NO [OVERQUOTA]`, lose nothing
//! acknowledged, store nothing refused, and the server must work again as soon as space
//! is freed, without a restart.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Client, Server, message_for, message_id_of, stored_messages};

/// Size of the filesystem: room for the store and a handful of messages.
const FILESYSTEM_BYTES: u64 = 24 << 20;
/// Space left free before the messages arrive.
const FREE_BYTES: u64 = 1 << 20;
/// Size of each message: a few fit in the free space, then the disk is full.
const MESSAGE_BYTES: usize = 150_000;

/// A tmpfs mounted on a directory; unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path) -> Tmpfs {
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={FILESYSTEM_BYTES},mode=0700"), "tmpfs"])
            .arg(at)
            .status()
            .expect("mount(8)");
        assert!(status.success(), "mounting a tmpfs needs root");
        Tmpfs(at.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn free_bytes(path: &Path) -> u64 {
    let output = Command::new("df").args(["--output=avail", "-B1"]).arg(path).output().unwrap();
    String::from_utf8_lossy(&output.stdout).lines().nth(1).unwrap().trim().parse().unwrap()
}

/// Fills the filesystem of `dir` until `leave` bytes are free.
fn fill(dir: &Path, leave: u64) -> PathBuf {
    let filler = dir.join("filler");
    let size = free_bytes(dir).saturating_sub(leave);
    std::fs::write(&filler, vec![0u8; usize::try_from(size).unwrap()]).unwrap();
    filler
}

fn imap_append(server: &Server, message: &[u8]) -> String {
    let mut imap = Client::connect(server.imap.expect("imap listener")).unwrap();
    imap.line().unwrap();
    imap.send(b"a LOGIN mox@localhost moxmoxmox\r\n").unwrap();
    assert!(imap.line().unwrap().starts_with("a OK"));
    imap.send(format!("b APPEND INBOX {{{}}}\r\n", message.len()).as_bytes()).unwrap();
    let line = imap.line().unwrap();
    if !line.starts_with('+') {
        return line;
    }
    imap.send(message).unwrap();
    imap.send(b"\r\n").unwrap();
    loop {
        let line = imap.line().unwrap();
        if line.starts_with("b ") {
            return line;
        }
    }
}

#[test]
fn a_full_disk_refuses_with_452_and_overquota_and_recovers_when_space_is_freed() {
    let dir = tempfile::tempdir().unwrap();
    Server::start(dir.path(), 1).kill();
    let data = dir.path().join("data");
    let saved = dir.path().join("saved");
    std::fs::rename(&data, &saved).unwrap();
    std::fs::create_dir(&data).unwrap();
    let _tmpfs = Tmpfs::mount(&data);
    let copied =
        Command::new("cp").arg("-a").arg(format!("{}/.", saved.display())).arg(&data).status().unwrap();
    assert!(copied.success());

    let mut server = Server::start(dir.path(), 1);
    let mut sent = BTreeMap::new();
    let mut acknowledged = Vec::new();
    let mut smtp = Client::connect(server.smtp).unwrap();
    smtp.hello().unwrap();
    let filler = fill(&data, FREE_BYTES);
    let mut refused = 0;
    for n in 0..40 {
        let id = format!("full-{n}");
        let message = message_for(&id, MESSAGE_BYTES);
        sent.insert(id.clone(), message.clone());
        let reply = smtp.deliver("full@example.org", &["mox@localhost"], &message).unwrap();
        match reply.code {
            250 => acknowledged.push(id),
            452 => {
                assert!(reply.text().starts_with("4.3.1"), "{reply:?}");
                refused += 1;
                if refused == 3 {
                    break;
                }
            }
            _ => panic!("{id}: {reply:?} (a full disk is 452 4.3.1)"),
        }
    }
    assert_eq!(refused, 3, "the disk never filled up");
    assert!(!acknowledged.is_empty(), "nothing fitted before the disk was full");
    let append = imap_append(&server, &message_for("imap-full", MESSAGE_BYTES));
    assert!(append.starts_with("b NO [OVERQUOTA]"), "{append}");

    // Space is freed: the same server accepts mail again.
    std::fs::remove_file(&filler).unwrap();
    let message = message_for("after-free", MESSAGE_BYTES);
    sent.insert("after-free".into(), message.clone());
    let reply = smtp.deliver("full@example.org", &["mox@localhost"], &message).unwrap();
    assert_eq!(reply.code, 250, "{reply:?}");
    acknowledged.push("after-free".into());
    let message = message_for("imap-after-free", MESSAGE_BYTES);
    sent.insert("imap-after-free".into(), message.clone());
    let append = imap_append(&server, &message);
    assert!(append.starts_with("b OK"), "{append}");
    acknowledged.push("imap-after-free".into());
    server.kill();

    let stored = stored_messages(dir.path(), "mox");
    let mut ids: Vec<String> =
        stored.iter().map(|message| message_id_of(&message.file).expect("a test id")).collect();
    for (message, id) in stored.iter().zip(&ids) {
        assert!(message.file.ends_with(&sent[id]), "{id}: stored bytes differ");
    }
    ids.sort();
    acknowledged.sort();
    assert_eq!(ids, acknowledged, "stored must be exactly what was acknowledged");
    let (ok, report) = common::verifydata(dir.path());
    assert!(ok, "verifydata: {report}");
}
