//! [`StoreCache`]: the process-wide set of open account stores. Stores open lazily on
//! first use; the least recently used ones close when more than `open_max` are open, and
//! idle ones close on [`StoreCache::close_idle`].
//!
//! Invariants: at most one open store per account in the process (heed refuses a second
//! open anyway); a store is closed only when the cache holds its last `Arc`, so nobody
//! ever uses a closed environment; and it is closed before the cache's lock is released,
//! so no `get` can open an account whose previous environment is still closing. Closing
//! (munmap and four `close`s) is short; opening already happens under the lock. Each open store costs 4 descriptors (its environment's 3 and its held `msg/` directory), ~3 mmaps
//! and its map's address space, which is what `open_max` bounds.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::datadir::DataDir;
use crate::error::StorageError;
use crate::store::{AccountStore, StoreOptions};

struct Entry {
    store: Arc<AccountStore>,
    last_used: Instant,
}

/// Open account stores, shared. `Send + Sync`; one per process.
pub struct StoreCache {
    data: DataDir,
    options: StoreOptions,
    open_max: usize,
    entries: Mutex<HashMap<String, Entry>>,
    /// `get`s answered from an open store, and those that had to open one (metrics).
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for StoreCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreCache")
            .field("root", &self.data.root())
            .field("open_max", &self.open_max)
            .field("open", &self.open_count())
            .finish()
    }
}

impl StoreCache {
    /// A cache opening stores under `data` with `options`, keeping at most `open_max`
    /// (at least 1) open while nobody else holds them.
    pub fn new(data: DataDir, options: StoreOptions, open_max: usize) -> Self {
        StoreCache {
            data,
            options,
            open_max: open_max.max(1),
            entries: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic while holding the lock cannot leave the map half-updated: every
        // mutation is a single insert or remove.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Returns the account's open store, opening it if needed (blocking: may create
    /// files; the cache is locked meanwhile, which is short for existing accounts). When
    /// more than `open_max` are open, closes the least recently used ones that nobody
    /// else holds; if all are held, the cache stays over the limit until they are let go.
    pub fn get(&self, account: &str) -> Result<Arc<AccountStore>, StorageError> {
        let now = Instant::now();
        let mut entries = self.lock();
        if let Some(entry) = entries.get_mut(account) {
            entry.last_used = now;
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(Arc::clone(&entry.store));
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        let store = Arc::new(AccountStore::open(&self.data, account, &self.options)?);
        entries.insert(account.to_string(), Entry { store: Arc::clone(&store), last_used: now });
        // The evicted environments close here, under the lock: closed outside it, a `get`
        // of an evicted account in between would find no entry, open the environment
        // again while the old one is still open, and fail ("already open").
        drop(evict_lru(&mut entries, self.open_max));
        drop(entries);
        Ok(store)
    }

    /// `get`s served by an already open store, and `get`s that opened one, since start.
    pub fn hits_and_misses(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }

    /// Closes the stores not used for `idle` that nobody else holds; returns how many.
    pub fn close_idle(&self, idle: Duration) -> usize {
        let now = Instant::now();
        let mut entries = self.lock();
        let names: Vec<String> = entries
            .iter()
            .filter(|(_, entry)| {
                now.duration_since(entry.last_used) >= idle && Arc::strong_count(&entry.store) == 1
            })
            .map(|(name, _)| name.clone())
            .collect();
        let closed: Vec<Entry> = names.iter().filter_map(|name| entries.remove(name)).collect();
        let count = closed.len();
        // Closed under the lock, for the reason given in `get`.
        drop(closed);
        drop(entries);
        count
    }

    /// Runs [`AccountStore::sweep_orphans`] on every account of the data directory, one
    /// at a time; returns how many files were moved aside. An account that fails is
    /// logged and skipped.
    pub fn sweep_orphans(&self) -> Result<usize, StorageError> {
        let mut moved = 0;
        for account in self.data.account_names()? {
            match self.get(&account).and_then(|store| store.sweep_orphans()) {
                Ok(sweep) => moved += sweep.moved.len(),
                Err(error) => tracing::error!(account, %error, "orphan sweep of account failed"),
            }
        }
        Ok(moved)
    }

    /// How many stores are open.
    pub fn open_count(&self) -> usize {
        self.lock().len()
    }
}

/// Removes least recently used, unheld entries until at most `open_max` remain (or none
/// can go); returns them for the caller to close while it still holds the lock.
fn evict_lru(entries: &mut HashMap<String, Entry>, open_max: usize) -> Vec<Entry> {
    let mut closed = Vec::new();
    while entries.len() > open_max {
        let victim = entries
            .iter()
            .filter(|(_, entry)| Arc::strong_count(&entry.store) == 1)
            .min_by_key(|(_, entry)| entry.last_used)
            .map(|(name, _)| name.clone());
        let Some(victim) = victim.and_then(|name| entries.remove(&name)) else {
            break;
        };
        tracing::debug!(account = victim.store.account(), "closing least recently used store");
        closed.push(victim);
    }
    closed
}
