//! The bytes of recently queued inline messages (`content.rs`), kept in memory so their
//! first attempt sends without a helper thread reading them back: the commit that stored
//! them had them in memory anyway, and the queue usually attempts a message within a poll
//! interval. Bounded by [`FRESH_BYTES_MAX`] in all, the oldest entries going first; an
//! entry leaves when its message leaves the queue. Only an optimization: a miss reads the
//! queue's database, and an entry is used only after the message's record was found (entries are made after the
//! commit, and ids of committed messages are never reused, so an entry can never stand
//! for another message's bytes).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use super::{QUEUE_INLINE_BYTES_MAX, QueueId};

/// Most bytes kept in all: a few seconds of a busy relay's small messages.
pub(crate) const FRESH_BYTES_MAX: usize = 16 * 1024 * 1024;

#[derive(Default)]
pub(crate) struct FreshFiles {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    files: HashMap<QueueId, Arc<[u8]>>,
    /// Insertion order, for eviction; ids already forgotten are skipped.
    order: VecDeque<QueueId>,
    bytes: usize,
}

impl FreshFiles {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Keeps `bytes` as the message `id`'s; too large a message is not kept.
    pub(crate) fn remember(&self, id: QueueId, bytes: Arc<[u8]>) {
        if bytes.len() > QUEUE_INLINE_BYTES_MAX {
            return;
        }
        let mut state = self.lock();
        while state.bytes + bytes.len() > FRESH_BYTES_MAX {
            let Some(oldest) = state.order.pop_front() else { break };
            if let Some(evicted) = state.files.remove(&oldest) {
                state.bytes -= evicted.len();
            }
        }
        state.bytes += bytes.len();
        if let Some(replaced) = state.files.insert(id, bytes) {
            state.bytes -= replaced.len();
        } else {
            state.order.push_back(id);
        }
    }

    /// The kept file of `id`.
    pub(crate) fn get(&self, id: QueueId) -> Option<Arc<[u8]>> {
        self.lock().files.get(&id).cloned()
    }

    /// Drops the entries of messages that left the queue.
    pub(crate) fn forget(&self, ids: &[QueueId]) {
        let mut state = self.lock();
        for id in ids {
            if let Some(removed) = state.files.remove(id) {
                state.bytes -= removed.len();
            }
        }
        // Forgotten ids still in `order` cost 8 bytes each until they reach the front.
        while state.order.front().is_some_and(|id| !state.files.contains_key(id)) {
            state.order.pop_front();
        }
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn kept_until_forgotten_or_pushed_out_within_the_bound() {
        let fresh = FreshFiles::default();
        fresh.remember(QueueId(1), Arc::from(&b"one"[..]));
        assert_eq!(fresh.get(QueueId(1)).as_deref(), Some(&b"one"[..]));
        fresh.forget(&[QueueId(1), QueueId(9)]);
        assert_eq!(fresh.get(QueueId(1)), None);
        assert_eq!(fresh.bytes(), 0);

        fresh.remember(QueueId(2), Arc::from(vec![0; QUEUE_INLINE_BYTES_MAX + 1]));
        assert_eq!(fresh.get(QueueId(2)), None, "too large to keep");

        let count = FRESH_BYTES_MAX / QUEUE_INLINE_BYTES_MAX;
        for n in 0..count as u64 + 3 {
            fresh.remember(QueueId(100 + n), Arc::from(vec![0; QUEUE_INLINE_BYTES_MAX]));
            assert!(fresh.bytes() <= FRESH_BYTES_MAX);
        }
        assert_eq!(fresh.get(QueueId(100)), None, "the oldest went first");
        assert_eq!(fresh.get(QueueId(102)), None);
        assert!(fresh.get(QueueId(103)).is_some());
        assert!(fresh.get(QueueId(100 + count as u64 + 2)).is_some());
    }
}
