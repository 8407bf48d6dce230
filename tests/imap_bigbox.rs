//! A large mailbox (100k messages written in bulk into the store, with their summaries
//! as delivery writes them, half without a preview as older versions stored them), then
//! FETCH 1:* FLAGS, STORE, SEARCH, SORT, THREAD, PREVIEW and VANISHED (EARLIER) past
//! what a session reads on its core, through the real server with imaplib. Correctness only:
//! timings belong in docs/benchmarks.md, not in test assertions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::Server;
use moxide_storage::{
    AccountStore, DELIVERY_BATCH_MAX, DataDir, Flags, MailboxTarget, NewMessage, StoreOptions,
};

const MESSAGES: usize = 100_000;

fn populate(dir: &Path) {
    let data = DataDir::open(dir.join("data")).unwrap();
    let store = AccountStore::open(&data, "mox", &StoreOptions::default()).unwrap();
    // Two spool files, each hard-linked for half of the messages (a link per message keeps
    // the test fast; ext4 allows 65000 links per file).
    let spools: Vec<(std::path::PathBuf, u64, Vec<u8>)> = ["even", "odd"]
        .iter()
        .map(|kind| {
            let path = data.spool_dir().join(format!("bulk-{kind}"));
            let body =
                format!("From: <bulk@example.org>\r\nSubject: bulk {kind}\r\n\r\nbulk body {kind}\r\n");
            std::fs::write(&path, &body).unwrap();
            let mut summary = moxide_protocols::mime::summarize(body.as_bytes());
            if *kind == "odd" {
                // As stored before summaries kept a preview: FETCH PREVIEW reads the file.
                summary.preview = None;
            }
            (path, body.len() as u64, summary.encode())
        })
        .collect();
    let started = std::time::Instant::now();
    for batch in (0..MESSAGES).collect::<Vec<_>>().chunks(DELIVERY_BATCH_MAX) {
        let messages: Vec<NewMessage> = batch
            .iter()
            .map(|i| {
                let (path, size, summary) = &spools[i % 2];
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
    eprintln!("bulk store of {MESSAGES} messages: {:.1} s", started.elapsed().as_secs_f64());
    for (path, ..) in spools {
        std::fs::remove_file(path).unwrap();
    }
}

#[test]
fn a_hundred_thousand_messages() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), 1);
    server.kill();
    populate(dir.path());
    let server = Server::start(dir.path(), 2);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/imap_clients.py");
    let output = Command::new("python3")
        .arg(script)
        .args(["bigbox", &server.imap.unwrap().port().to_string(), &MESSAGES.to_string()])
        .output()
        .unwrap();
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "bigbox failed:\n{text}\nserver log:\n{}", server.log());
    eprintln!("{}", text.trim());
}
