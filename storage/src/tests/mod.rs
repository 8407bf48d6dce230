//! Unit tests of the storage crate, by area, with shared fixtures. Every test works in
//! its own temporary data directory; stores are checked with `check_consistency`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod big;
mod cache;
mod change;
mod consistency;
mod copy;
mod credentials;
mod datadir;
mod deliver;
mod faults;
mod global;
mod mailboxes;
mod map;
mod metadata;
mod names;
mod password;
mod queue;
mod records;
mod schema;
mod sortkeys;
mod textsigs;
mod urlauth;

use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use tempfile::TempDir;

use crate::{AccountStore, DataDir, Delivered, Flags, MailboxId, MailboxTarget, NewMessage, StoreOptions};

/// A data directory that disappears with the test.
pub(super) struct Fixture {
    _temp: TempDir,
    pub(super) data: DataDir,
}

pub(super) fn fixture() -> Fixture {
    let temp = tempfile::tempdir().unwrap();
    let data = DataDir::open(temp.path().join("data")).unwrap();
    Fixture { _temp: temp, data }
}

impl Fixture {
    pub(super) fn open(&self, account: &str) -> AccountStore {
        AccountStore::open(&self.data, account, &StoreOptions::default()).unwrap()
    }

    /// Writes and fsyncs a spool file with `bytes`, as the SMTP session does.
    pub(super) fn spool(&self, bytes: &[u8]) -> PathBuf {
        static SPOOLED: AtomicU64 = AtomicU64::new(0);
        let number = SPOOLED.fetch_add(1, Ordering::Relaxed);
        let path = self.data.spool_dir().join(format!("spool-{number}"));
        let mut file = File::create(&path).unwrap();
        file.write_all(bytes).unwrap();
        file.sync_all().unwrap();
        path
    }
}

/// A message body whose bytes depend on `n`.
pub(super) fn body(n: u64) -> Vec<u8> {
    format!("Subject: message {n}\r\nFrom: a@example.org\r\n\r\nbody of {n}\r\n").into_bytes()
}

pub(super) fn new_message(spool: PathBuf, bytes: &[u8], mailbox: MailboxTarget) -> NewMessage {
    NewMessage {
        spool_path: spool,
        size: bytes.len() as u64,
        prefix: b"Received: from test\r\n".to_vec(),
        mailbox,
        received_ms: 1_700_000_000_000,
        flags: Flags::empty(),
        keywords: Vec::new(),
        saved_ms: None,
        summary: None,
    }
}

/// Delivers one message to `mailbox` and returns its outcome, which must be Ok.
pub(super) fn deliver_one(
    fixture: &Fixture,
    store: &AccountStore,
    bytes: &[u8],
    mailbox: MailboxTarget,
) -> Delivered {
    let message = new_message(fixture.spool(bytes), bytes, mailbox);
    let mut results = store.deliver(&[message]).unwrap();
    assert_eq!(results.len(), 1);
    results.remove(0).unwrap()
}

pub(super) fn inbox(store: &AccountStore) -> MailboxId {
    store.read(|view| view.mailbox_by_name("INBOX")).unwrap().unwrap().id
}

pub(super) fn assert_consistent(store: &AccountStore) {
    let report = store.check_consistency().unwrap();
    assert!(report.is_ok(), "{report:#?}");
}

/// The bytes of the message file of `id`, through the checked open.
pub(super) fn file_bytes(store: &AccountStore, id: crate::MessageId, size: u64) -> Vec<u8> {
    use std::io::Read;
    let mut bytes = Vec::new();
    store.open_message_file(id, size).unwrap().read_to_end(&mut bytes).unwrap();
    bytes
}
