//! StoreCache: lazy open, LRU bound, idle close, data intact across close and reopen.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use super::{body, fixture, new_message};
use crate::{MailboxTarget, StoreCache, StoreOptions};

const OPEN_MAX: usize = 3;

#[test]
fn lru_bounds_open_stores_and_reopens_them_intact() {
    let fixture = fixture();
    let cache = StoreCache::new(fixture.data.clone(), StoreOptions::default(), OPEN_MAX);
    let accounts: Vec<String> = (0..OPEN_MAX + 5).map(|n| format!("user{n}")).collect();
    for (n, account) in accounts.iter().enumerate() {
        let store = cache.get(account).unwrap();
        let bytes = body(n as u64);
        let message = new_message(fixture.spool(&bytes), &bytes, MailboxTarget::Inbox);
        store.deliver(&[message]).unwrap().remove(0).unwrap();
        drop(store);
        assert!(cache.open_count() <= OPEN_MAX);
    }
    assert_eq!(cache.open_count(), OPEN_MAX);
    for (n, account) in accounts.iter().enumerate() {
        let store = cache.get(account).unwrap();
        let infos = store
            .read(|view| view.messages(super::inbox(&store), crate::Uid(1), crate::Uid(u32::MAX)))
            .unwrap();
        assert_eq!(infos.len(), 1, "{account}");
        assert_eq!(super::file_bytes(&store, infos[0].id, infos[0].size), body(n as u64));
        super::assert_consistent(&store);
        assert!(cache.open_count() <= OPEN_MAX);
    }
}

#[test]
fn held_stores_are_not_closed() {
    let fixture = fixture();
    let cache = StoreCache::new(fixture.data.clone(), StoreOptions::default(), OPEN_MAX);
    let held: Vec<_> = (0..OPEN_MAX + 1).map(|n| cache.get(&format!("held{n}")).unwrap()).collect();
    assert_eq!(cache.open_count(), OPEN_MAX + 1);
    // The same Arc comes back while open.
    assert!(Arc::ptr_eq(&held[0], &cache.get("held0").unwrap()));
    assert_eq!(cache.close_idle(Duration::ZERO), 0);
    drop(held);
    let extra = cache.get("extra").unwrap();
    assert_eq!(cache.open_count(), OPEN_MAX);
    assert!(cache.open_count() > 0);
    assert_eq!(cache.close_idle(Duration::from_secs(3600)), 0);
    assert_eq!(cache.close_idle(Duration::ZERO), OPEN_MAX - 1);
    assert_eq!(cache.open_count(), 1);
    drop(extra);
    assert_eq!(cache.close_idle(Duration::ZERO), 1);
    assert_eq!(cache.open_count(), 0);
    assert!(cache.get("bad name").is_err());
    assert_eq!(cache.open_count(), 0);
}

/// Issue 10: an evicted environment used to be closed after the cache's lock was
/// released, so a `get` of that account in between opened it while it was still open
/// and failed with "already open" (a transient 451 or `NO` to a client). Many threads
/// getting and dropping a few accounts through a cache of one keep eviction and reopening
/// racing; every `get` must succeed.
#[test]
fn get_never_races_the_close_of_an_evicted_store() {
    const THREADS: usize = 8;
    const ROUNDS: usize = 300;
    let fixture = fixture();
    let cache = Arc::new(StoreCache::new(fixture.data.clone(), StoreOptions::default(), 1));
    for n in 0..3 {
        drop(cache.get(&format!("racer{n}")).unwrap());
    }
    let workers: Vec<_> = (0..THREADS)
        .map(|thread| {
            let cache = Arc::clone(&cache);
            std::thread::spawn(move || {
                for round in 0..ROUNDS {
                    let account = format!("racer{}", (thread + round) % 3);
                    match cache.get(&account) {
                        Ok(store) => drop(store),
                        Err(error) => panic!("get {account} (thread {thread}, round {round}): {error}"),
                    }
                    if round % 7 == 0 {
                        cache.close_idle(Duration::ZERO);
                    }
                }
            })
        })
        .collect();
    for worker in workers {
        worker.join().unwrap();
    }
    assert!(cache.open_count() <= 3);
}
