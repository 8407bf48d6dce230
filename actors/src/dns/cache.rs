//! The per-core DNS cache: answers kept for their TTL (capped), negative answers for their
//! SOA-derived time (RFC 2308 §5, capped at 3 hours), server failures and timeouts briefly
//! (RFC 2308 §7), bounded in entries and in bytes. When full, the entry that expires
//! soonest goes first. No IO and no clock: the caller passes the time.

use std::collections::{BTreeMap, HashMap};

use moxide_protocols::dns::{Lookup, Question, RecordData, ResolveError};

/// Longest time a positive answer is kept, in seconds, whatever its TTL: one day, the
/// usual resolver cap (RFC 8767 §4 suggests at most 7 days). Keeps a key or policy change
/// from going unseen for long.
pub const TTL_SECS_MAX: u32 = 86_400;

/// Longest time a negative answer is kept, in seconds: RFC 2308 §5 recommends one to
/// three hours as the upper bound.
pub const NEGATIVE_TTL_SECS_MAX: u32 = 3 * 3600;

/// How long a server failure or timeout is remembered, in milliseconds. RFC 2308 §7.1
/// allows up to 5 minutes; 30 s spares a broken domain's servers (and our sessions) a
/// burst of repeats while a fixed domain is seen again quickly.
pub const FAILURE_TTL_MS: u64 = 30_000;

/// Default bound on entries per core.
pub const ENTRIES_MAX_DEFAULT: usize = 10_000;

/// Bound on the bytes of record data kept per core: 16 MiB. Entries are usually a few
/// hundred bytes, but a hostile domain can serve 64 KiB TXT answers; this caps what such
/// answers can hold hostage.
pub const CACHE_BYTES_MAX: usize = 16 * 1024 * 1024;

/// Fixed cost counted per entry besides its records (key, bookkeeping).
const ENTRY_OVERHEAD_BYTES: usize = 128;

struct Entry {
    lookup: Lookup,
    expires_ms: u64,
    sequence: u64,
    bytes: usize,
}

/// Counters of what the cache did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups not in the cache (or expired).
    pub misses: u64,
    /// Entries dropped to stay within the bounds.
    pub evictions: u64,
    /// Entries now.
    pub entries: usize,
    /// Bytes now (estimated).
    pub bytes: usize,
}

/// The cache.
pub struct Cache {
    entries: HashMap<Question, Entry>,
    by_expiry: BTreeMap<(u64, u64), Question>,
    entries_max: usize,
    bytes: usize,
    sequence: u64,
    stats: CacheStats,
}

impl Cache {
    /// An empty cache holding at most `entries_max` entries (at least 1).
    pub fn new(entries_max: usize) -> Cache {
        Cache {
            entries: HashMap::new(),
            by_expiry: BTreeMap::new(),
            entries_max: entries_max.max(1),
            bytes: 0,
            sequence: 0,
            stats: CacheStats::default(),
        }
    }

    /// The cached outcome for `question` at `now_ms`, counting a hit or a miss.
    pub fn get(&mut self, question: &Question, now_ms: u64) -> Option<Lookup> {
        match self.entries.get(question) {
            Some(entry) if entry.expires_ms > now_ms => {
                self.stats.hits += 1;
                Some(entry.lookup.clone())
            }
            Some(_) => {
                self.remove(question);
                self.stats.misses += 1;
                None
            }
            None => {
                self.stats.misses += 1;
                None
            }
        }
    }

    /// Stores an outcome received at `now_ms`, if it may be cached.
    pub fn insert(&mut self, question: Question, lookup: &Lookup, now_ms: u64) {
        let Some(keep_ms) = keep_ms(lookup) else { return };
        let bytes = size_of_lookup(lookup) + ENTRY_OVERHEAD_BYTES;
        if bytes > CACHE_BYTES_MAX / 16 {
            // One answer may not take more than a sixteenth of the cache.
            return;
        }
        self.remove(&question);
        while self.entries.len() >= self.entries_max || self.bytes + bytes > CACHE_BYTES_MAX {
            let Some((_, soonest)) = self.by_expiry.pop_first() else { break };
            if let Some(entry) = self.entries.remove(&soonest) {
                self.bytes -= entry.bytes;
                self.stats.evictions += 1;
            }
        }
        self.sequence += 1;
        let expires_ms = now_ms.saturating_add(keep_ms);
        self.by_expiry.insert((expires_ms, self.sequence), question.clone());
        self.entries
            .insert(question, Entry { lookup: lookup.clone(), expires_ms, sequence: self.sequence, bytes });
        self.bytes += bytes;
    }

    fn remove(&mut self, question: &Question) {
        if let Some(entry) = self.entries.remove(question) {
            self.by_expiry.remove(&(entry.expires_ms, entry.sequence));
            self.bytes -= entry.bytes;
        }
    }

    /// The counters.
    pub fn stats(&self) -> CacheStats {
        CacheStats { entries: self.entries.len(), bytes: self.bytes, ..self.stats }
    }
}

/// How long an outcome may be kept, in milliseconds; `None`: not at all.
fn keep_ms(lookup: &Lookup) -> Option<u64> {
    match lookup {
        Ok(answer) => {
            let cap = if answer.records.is_empty() { NEGATIVE_TTL_SECS_MAX } else { TTL_SECS_MAX };
            let secs = answer.ttl_secs.min(cap);
            (secs > 0).then_some(u64::from(secs) * 1000)
        }
        Err(
            ResolveError::Timeout
            | ResolveError::ServerFailure { .. }
            | ResolveError::Malformed
            | ResolveError::Connection,
        ) => Some(FAILURE_TTL_MS),
        Err(_) => None,
    }
}

fn size_of_lookup(lookup: &Lookup) -> usize {
    let Ok(answer) = lookup else { return 0 };
    answer
        .records
        .iter()
        .map(|record| match record {
            RecordData::Txt(strings) => strings.iter().map(|s| s.len() + 8).sum(),
            RecordData::Tlsa(tlsa) => tlsa.data.len() + 8,
            _ => 64,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use moxide_protocols::dns::{Answer, DomainName, RecordType};
    use std::sync::Arc;

    fn question(name: &str) -> Question {
        Question::new(DomainName::parse(name).unwrap(), RecordType::Txt)
    }

    fn txt(ttl: u32, bytes: usize) -> Lookup {
        Ok(Arc::new(Answer::with_records(vec![RecordData::Txt(vec![vec![b'x'; bytes].into()])], ttl)))
    }

    #[test]
    fn ttls_negative_and_failures() {
        let mut cache = Cache::new(100);
        cache.insert(question("a.example"), &txt(60, 10), 0);
        assert!(cache.get(&question("a.example"), 59_999).is_some());
        assert!(cache.get(&question("a.example"), 60_000).is_none());
        // Negative: capped at 3 hours.
        cache.insert(question("nx.example"), &Ok(Arc::new(Answer::negative(true, 999_999))), 0);
        assert!(cache.get(&question("nx.example"), 3 * 3600 * 1000 - 1).is_some());
        assert!(cache.get(&question("nx.example"), 3 * 3600 * 1000).is_none());
        // TTL 0 and configuration errors are not kept; server failures briefly.
        cache.insert(question("zero.example"), &txt(0, 10), 0);
        assert!(cache.get(&question("zero.example"), 0).is_none());
        cache.insert(question("none.example"), &Err(ResolveError::NoServers), 0);
        assert!(cache.get(&question("none.example"), 0).is_none());
        cache.insert(question("fail.example"), &Err(ResolveError::ServerFailure { rcode: 2 }), 0);
        assert!(cache.get(&question("fail.example"), FAILURE_TTL_MS - 1).is_some());
        let stats = cache.stats();
        assert!(stats.hits >= 3 && stats.misses >= 3);
    }

    #[test]
    fn bounded_by_entries_and_bytes() {
        let mut cache = Cache::new(3);
        for (i, ttl) in [50u32, 10, 30, 40].iter().enumerate() {
            cache.insert(question(&format!("q{i}.example")), &txt(*ttl, 10), 0);
        }
        // The one expiring soonest (q1, 10 s) made room.
        assert_eq!(cache.stats().entries, 3);
        assert!(cache.get(&question("q1.example"), 0).is_none());
        assert!(cache.get(&question("q0.example"), 0).is_some());
        let mut cache = Cache::new(1_000_000);
        for i in 0..400 {
            cache.insert(question(&format!("big{i}.example")), &txt(300, 60_000), 0);
        }
        assert!(cache.stats().bytes <= CACHE_BYTES_MAX);
        assert!(cache.stats().evictions > 0);
        // An answer over a sixteenth of the cache is not kept at all.
        cache.insert(question("huge.example"), &txt(300, CACHE_BYTES_MAX / 8), 0);
        assert!(cache.get(&question("huge.example"), 0).is_none());
    }
}
