//! INPROGRESS (RFC 9585) through the real binary: a mailbox of 60 000 messages written
//! in bulk into the store (as `tests/imap_bigbox.rs` does), then SEARCH TEXT, SEARCH
//! BODY and SORT ... BODY, which read every message file, with Python's imaplib
//! (`tests/clients/inprogress.py`) reading the untagged progress responses: each names
//! the command's tag, counts up to the mailbox's size, none comes in the first second
//! or more often than once a second, and a command that runs well past a second has
//! at least one. A quick SEARCH ALL has none. The mailbox is big enough that the content
//! searches run a few seconds in a debug build on this machine (not asserted: only that
//! some command reported progress, which needs one over a second).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::Server;
use moxide_storage::{
    AccountStore, DELIVERY_BATCH_MAX, DataDir, Flags, MailboxTarget, NewMessage, StoreOptions,
};

/// Enough that a search reading every file runs for seconds in a debug build (about
/// 30 µs per small file on a quiet machine here: 60,000 took 1.4–2 s, too close to the
/// one second progress needs), few enough to store in a few seconds.
const MESSAGES: usize = 160_000;

/// Spool files the messages are hard-linked from: ext4 allows 65,000 links per file.
const SPOOLS: usize = 4;

fn populate(dir: &Path) {
    let data = DataDir::open(dir.join("data")).unwrap();
    let store = AccountStore::open(&data, "mox", &StoreOptions::default()).unwrap();
    // SPOOLS files, each hard-linked for a share of the messages.
    let spools: Vec<(std::path::PathBuf, u64, Vec<u8>)> = (0..SPOOLS)
        .map(|kind| {
            let path = data.spool_dir().join(format!("bulk-{kind}"));
            let body =
                format!("From: <bulk@example.org>\r\nSubject: bulk {kind}\r\n\r\nbulk body {kind}\r\n");
            std::fs::write(&path, &body).unwrap();
            (path, body.len() as u64, moxide_protocols::mime::summarize(body.as_bytes()).encode())
        })
        .collect();
    for batch in (0..MESSAGES).collect::<Vec<_>>().chunks(DELIVERY_BATCH_MAX) {
        let messages: Vec<NewMessage> = batch
            .iter()
            .map(|i| {
                let (path, size, summary) = &spools[i % SPOOLS];
                NewMessage {
                    spool_path: path.clone(),
                    size: *size,
                    prefix: Vec::new(),
                    mailbox: MailboxTarget::Inbox,
                    received_ms: 1_700_000_000_000 + *i as i64,
                    flags: Flags::empty(),
                    keywords: Vec::new(),
                    summary: Some(summary.clone()),
                    saved_ms: None,
                }
            })
            .collect();
        for result in store.deliver(&messages).unwrap() {
            result.unwrap();
        }
    }
    for (path, ..) in spools {
        std::fs::remove_file(path).unwrap();
    }
}

#[test]
fn long_searches_report_their_progress() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), 1);
    server.kill();
    populate(dir.path());
    let server = Server::start(dir.path(), 2);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/inprogress.py");
    let port = server.imap.unwrap().port().to_string();
    let output = Command::new("python3")
        .arg(script)
        .args(["127.0.0.1", &port, "mox@localhost", "moxmoxmox", &MESSAGES.to_string()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "inprogress.py failed:\n{stdout}{stderr}\nserver log:\n{}",
        server.log()
    );
    eprintln!("{}", stderr.trim());
    assert_eq!(stdout, "CAPABILITY => True\nrules kept => True\nprogress seen => True\n");
}
