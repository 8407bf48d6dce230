//! Power loss: every message that got `250` survives a crash that drops everything not
//! fsynced (issue 10).
//!
//! `tests/crash.rs` kills the server with SIGKILL, but the kernel's page cache survives
//! a killed process and writes everything back later, so a missing fsync goes unseen.
//! Here the data directory is a FUSE filesystem of our own (`tests/crashfs.py`) that
//! keeps every write in memory and passes to its backing directory only what POSIX
//! promises is durable: a file's bytes once the file is fsynced (or written through an
//! O_DSYNC descriptor, as LMDB writes its meta page), a directory entry once the
//! directory is fsynced. Killing the server and then the filesystem process is the power
//! loss; the backing directory is the disk afterwards. FUSE rather than an in-process
//! write log replayed up to the last sync: LMDB writes from C and the spool is written
//! through io_uring, and neither passes through code we could wrap; FUSE sees every
//! write at the VFS layer. (No device-mapper here, so not dm-log-writes or dm-flakey.)
//!
//! After the loss the backing directory replaces the data directory and the server is
//! started on it: every acknowledged message must be there exactly once and byte
//! identical, and `verifydata` must be clean.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::crashfs::CrashFs;
use common::{Client, Ledger, Server, message_for, message_id_of, stored_messages};

/// Concurrent SMTP connections during the run.
const CONNECTIONS: usize = 3;
/// How long mail flows before the power loss.
const RUN: Duration = Duration::from_secs(4);

fn client_loop(
    server: std::net::SocketAddr,
    worker: usize,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
) {
    let Ok(mut client) = Client::connect(server) else { return };
    if client.hello().is_err() {
        return;
    }
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        let id = format!("p-w{worker}-m{n}");
        n += 1;
        let message = message_for(&id, 300 + (n * 997) % 6000);
        if !Ledger::deliver(&ledger, &mut client, ("power@example.org", &["mox@localhost"]), id, &message) {
            return;
        }
    }
}

#[test]
fn acknowledged_mail_survives_losing_everything_not_fsynced() {
    let dir = tempfile::tempdir().unwrap();
    // A first run makes the configuration and the account, on the ordinary filesystem.
    Server::start(dir.path(), 1).kill();
    let data = dir.path().join("data");
    let backing = dir.path().join("backing");
    std::fs::rename(&data, &backing).unwrap();
    std::fs::create_dir(&data).unwrap();
    let mut fs = CrashFs::mount(&backing, &data);

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let mut server = Server::start(dir.path(), 2);
    let stop = Arc::new(AtomicBool::new(false));
    let workers: Vec<_> = (0..CONNECTIONS)
        .map(|worker| {
            let (ledger, stop, address) = (Arc::clone(&ledger), Arc::clone(&stop), server.smtp);
            std::thread::spawn(move || client_loop(address, worker, ledger, stop))
        })
        .collect();
    std::thread::sleep(RUN);
    server.kill();
    fs.crash();
    stop.store(true, Ordering::SeqCst);
    for worker in workers {
        worker.join().unwrap();
    }
    let ledger = Arc::try_unwrap(ledger).ok().unwrap().into_inner().unwrap();
    assert!(
        ledger.acknowledged.len() >= 10,
        "too few deliveries to mean anything: {}",
        ledger.acknowledged.len()
    );

    // The disk after the loss becomes the data directory.
    std::fs::remove_dir(&data).unwrap();
    std::fs::rename(&backing, &data).unwrap();
    let mut restarted = Server::start(dir.path(), 1);
    restarted.kill();
    let stored = stored_messages(dir.path(), "mox");
    let mut seen = HashSet::new();
    for message in &stored {
        let id = message_id_of(&message.file).expect("stored message without a test id");
        assert!(seen.insert(id.clone()), "{id} stored twice");
        let sent = ledger.sent.get(&id).unwrap_or_else(|| panic!("{id} stored but never sent"));
        assert!(message.file == *sent, "{id}: stored bytes differ from sent bytes (torn or unsynced file)");
    }
    let lost: Vec<_> = ledger.acknowledged.iter().filter(|id| !seen.contains(*id)).collect();
    assert!(lost.is_empty(), "acknowledged but lost after power loss: {lost:?}");
    let (ok, report) = common::verifydata(dir.path());
    assert!(ok, "verifydata after power loss: {report}");
    eprintln!(
        "power loss: {} sent, {} acknowledged, {} stored",
        ledger.sent.len(),
        ledger.acknowledged.len(),
        stored.len()
    );
}
