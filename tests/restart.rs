//! Restart behaviour: messages and UIDVALIDITY persist; a spool file left by a crash is
//! reported and removed, never delivered; a truncated message file is reported by
//! `verifydata`, not served.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Client, Server, message_for, stored_messages};

#[test]
fn messages_persist_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let mut server = Server::start(dir.path(), 2);
        let mut client = Client::connect(server.smtp).unwrap();
        client.hello().unwrap();
        let reply = client
            .deliver("a@example.org", &["mox@localhost"], &message_for(&format!("restart-{round}"), 1_000))
            .unwrap();
        assert_eq!(reply.code, 250, "{reply:?}");
        assert_eq!(client.command("QUIT").unwrap().code, 221);
        server.kill();
    }
    let stored = stored_messages(dir.path(), "mox");
    let ids: Vec<_> = stored.iter().filter_map(|m| common::message_id_of(&m.file)).collect();
    assert_eq!(ids, vec!["restart-0", "restart-1", "restart-2"]);
    let uids: Vec<u32> = stored.iter().map(|m| m.info.uid.0).collect();
    assert_eq!(uids, vec![1, 2, 3], "uids continue across restarts");
}

#[test]
fn uidvalidity_is_stable() {
    let dir = tempfile::tempdir().unwrap();
    let uidvalidity = || {
        let data = moxide_storage::DataDir::open(dir.path().join("data")).unwrap();
        let store = moxide_storage::AccountStore::open(&data, "mox", &Default::default()).unwrap();
        store.read(|view| Ok(view.mailbox_by_name("INBOX")?.unwrap().uidvalidity)).unwrap()
    };
    let mut server = Server::start(dir.path(), 1);
    server.kill();
    let first = uidvalidity();
    let mut server = Server::start(dir.path(), 1);
    server.kill();
    assert_eq!(uidvalidity(), first);
}

#[test]
fn leftover_spool_is_reported_not_delivered() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), 1);
    server.kill();
    // What a crash mid-DATA leaves: a partial spool file.
    let leftover = dir.path().join("data/tmp/0-0-1");
    std::fs::write(&leftover, b"Subject: half a mess").unwrap();
    let mut server = Server::start(dir.path(), 1);
    server.kill();
    assert!(!leftover.exists(), "spool file must be removed");
    assert!(server.log().contains("unacknowledged spool file"), "{}", server.log());
    assert!(stored_messages(dir.path(), "mox").is_empty(), "a spool file is never delivered");
}

#[test]
fn truncated_message_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), 1);
    let mut client = Client::connect(server.smtp).unwrap();
    client.hello().unwrap();
    let reply =
        client.deliver("a@example.org", &["mox@localhost"], &message_for("to-truncate", 4_000)).unwrap();
    assert_eq!(reply.code, 250);
    server.kill();
    let (ok, report) = common::verifydata(dir.path());
    assert!(ok, "{report}");

    let data = moxide_storage::DataDir::open(dir.path().join("data")).unwrap();
    let store = moxide_storage::AccountStore::open(&data, "mox", &Default::default()).unwrap();
    let info = store
        .read(|view| {
            let inbox = view.mailbox_by_name("INBOX")?.unwrap();
            view.message_by_uid(inbox.id, moxide_storage::Uid(1))
        })
        .unwrap()
        .unwrap();
    let path = store.message_path(info.id);
    drop(store);
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(100).unwrap();
    let (ok, report) = common::verifydata(dir.path());
    assert!(!ok, "a truncated file must fail verification: {report}");
    assert!(report.contains("problem"), "{report}");
}
