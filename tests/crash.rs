//! Crash safety: deliver a stream of messages over several connections, `kill -9` the
//! server at random moments, restart it, and check that every message that got `250` is
//! stored exactly once and byte-identical, that nothing partial or unknown is stored, and
//! that the index is consistent. Several rounds on the same data directory.
//!
//! Messages that were fully sent but not acknowledged when the server died may or may not
//! be stored (the acknowledgement can be lost after the commit; RFC 5321 §6.1 accepts
//! that duplicates are possible, never losses): if stored, they must be complete.
//!
//! Replay a failing run with `CRASH_SEED=<seed printed on failure>`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Client, Ledger, Rng, Server, message_for, message_id_of, stored_messages};

const ROUNDS: usize = 5;
const CONNECTIONS: usize = 4;

fn client_loop(
    server: std::net::SocketAddr,
    worker: usize,
    round: usize,
    seed: u64,
    ledger: Arc<Mutex<Ledger>>,
    stop: Arc<AtomicBool>,
) {
    let mut rng = Rng::new(seed ^ ((round as u64) << 32) ^ worker as u64);
    let Ok(mut client) = Client::connect(server) else { return };
    if client.hello().is_err() {
        return;
    }
    let mut n = 0;
    while !stop.load(Ordering::SeqCst) {
        let id = format!("r{round}-w{worker}-m{n}");
        n += 1;
        // Mostly small mail, now and then one that spans several spool writes.
        let size = if rng.below(10) == 0 {
            100_000 + rng.below(200_000) as usize
        } else {
            200 + rng.below(8_000) as usize
        };
        let message = message_for(&id, size);
        if !Ledger::deliver(&ledger, &mut client, ("crash@example.org", &["mox@localhost"]), id, &message) {
            return; // the server died under us
        }
    }
}

#[test]
fn acknowledged_mail_survives_kill_9() {
    let (mut rng, seed) = Rng::from_env_or_time("CRASH_SEED");
    let dir = tempfile::tempdir().unwrap();
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    for round in 0..ROUNDS {
        let mut server = Server::start(dir.path(), 2);
        let stop = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..CONNECTIONS)
            .map(|worker| {
                let (ledger, stop, address) = (Arc::clone(&ledger), Arc::clone(&stop), server.smtp);
                std::thread::spawn(move || client_loop(address, worker, round, seed, ledger, stop))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(150 + rng.below(900)));
        server.kill();
        stop.store(true, Ordering::SeqCst);
        for worker in workers {
            worker.join().unwrap_or_else(|_| panic!("client panicked; replay: CRASH_SEED={seed}"));
        }
        check_store(dir.path(), &ledger.lock().unwrap(), seed, round);
    }
    let ledger = ledger.lock().unwrap();
    assert!(
        ledger.acknowledged.len() > ROUNDS * 5,
        "too few deliveries to mean anything: {}",
        ledger.acknowledged.len()
    );
    eprintln!(
        "crash test: seed {seed}, {} sent, {} acknowledged",
        ledger.sent.len(),
        ledger.acknowledged.len()
    );
}

fn check_store(dir: &std::path::Path, ledger: &Ledger, seed: u64, round: usize) {
    let replay = format!("round {round}, replay: CRASH_SEED={seed}");
    // Restarting runs recovery (spool cleanup); stop it again before reading.
    let mut restarted = Server::start(dir, 1);
    restarted.kill();
    let stored = stored_messages(dir, "mox");
    let mut seen = HashSet::new();
    for message in &stored {
        let id = message_id_of(&message.file)
            .unwrap_or_else(|| panic!("stored message without a test id ({replay})"));
        assert!(seen.insert(id.clone()), "{id} stored twice ({replay})");
        let sent = ledger.sent.get(&id).unwrap_or_else(|| panic!("{id} stored but never sent ({replay})"));
        assert!(
            message.file == *sent,
            "{id} stored bytes differ from sent bytes: partial or corrupt ({replay})"
        );
        assert!(!message.info.prefix.is_empty(), "{id} has no Received prefix ({replay})");
    }
    for id in &ledger.acknowledged {
        assert!(seen.contains(id), "{id} got 250 but is not stored ({replay})");
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.join("data/tmp")).unwrap().collect();
    assert!(leftovers.is_empty(), "spool not cleaned after restart: {leftovers:?} ({replay})");
    let (ok, report) = common::verifydata(dir);
    assert!(ok, "verifydata after crash: {report} ({replay})");
}
