//! [`DmarcEvalStore`]: the DMARC evaluations of incoming mail, counted per policy
//! domain, UTC day and report row (RFC 7489 §7.2), so that a restart does not lose what
//! the day's aggregate report will say. An LMDB environment in `data/queue/dmarc/`.
//!
//! | database      | key                                       | value |
//! |---------------|-------------------------------------------|-------|
//! | `meta`        | ASCII name                                | `schema_version` u32 BE |
//! | `evaluations` | domain, 0, day (i64 BE, days since 1970)  | version byte + rkyv `DayRecord` |
//!
//! Rules checked before a put and after every get (STYLE rule 8): the domain is 1 to
//! 253 bytes without controls and equals the key; at most [`STORED_ROWS_MAX`] rows, each
//! with short fields. The writer is the queue's core, which adds the counts gathered in
//! memory about once a minute (one transaction on a helper thread).
//!
//! Schema history: version 1 is the first.

use heed::RwTxn;
use rkyv::rancor::BoxedError;
use rkyv::{Archive, Deserialize, Serialize};

use crate::datadir::DataDir;
use crate::error::StorageError;
use crate::files::ensure_dir;
use crate::keys;
use crate::lmdb::Lmdb;
use crate::records::{archive_bytes, encode};
use crate::schema::{Db, Versions, check_empty, create_databases, probe, stored_version};
use crate::store::StoreOptions;

/// Schema version of this store.
pub const DMARC_EVAL_SCHEMA_VERSION: u32 = 1;

const VERSIONS: Versions = Versions { current: DMARC_EVAL_SCHEMA_VERSION, oldest: DMARC_EVAL_SCHEMA_VERSION };

const DATABASE_NAMES: [&str; 2] = ["meta", "evaluations"];

const RECORD_VERSION: u8 = 1;

/// Most rows kept per domain and day; messages of further distinct rows are counted
/// in `rows_dropped`. A row is one source address with one outcome: a domain sending
/// from a thousand addresses to one receiver in a day is a very large sender, and a
/// report of 1,000 rows is about 1 MB of XML.
pub const STORED_ROWS_MAX: usize = 1_000;

/// Most domain-days [`DmarcEvalStore::days`] returns: 10,000 domains for a few days.
pub const STORED_DAYS_MAX: usize = 30_000;

/// Longest text field of a row (a domain is at most 253, an address 45).
const FIELD_BYTES_MAX: usize = 255;

/// Most reasons or DKIM results per row.
const ROW_LIST_MAX: usize = 8;

/// One report row and its message count.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StoredDmarcRow {
    /// The client's address.
    pub source_ip: String,
    /// none, quarantine or reject.
    pub disposition: String,
    /// Aligned DKIM passed.
    pub dkim_aligned: bool,
    /// Aligned SPF passed.
    pub spf_aligned: bool,
    /// Reasons: type, comment.
    pub reasons: Vec<(String, String)>,
    /// The recipient's domain.
    pub envelope_to: String,
    /// The From header's domain.
    pub header_from: String,
    /// DKIM results: domain, selector, result.
    pub dkim: Vec<(String, String, String)>,
    /// SPF: domain, scope, result.
    pub spf: (String, String, String),
}

/// The published policy a day's rows were evaluated under (the last one seen).
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredDmarcPolicy {
    /// `adkim`.
    pub adkim: String,
    /// `aspf`.
    pub aspf: String,
    /// `p`.
    pub p: String,
    /// `sp`.
    pub sp: String,
    /// `pct`.
    pub pct: u8,
    /// The record's `rua`, as published.
    pub rua: Vec<String>,
}

/// One policy domain's evaluations of one day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDmarcDay {
    /// The policy domain (lower case).
    pub domain: String,
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    /// The policy.
    pub policy: StoredDmarcPolicy,
    /// Rows and counts, at most [`STORED_ROWS_MAX`].
    pub rows: Vec<(StoredDmarcRow, u64)>,
    /// Messages whose rows did not fit.
    pub rows_dropped: u64,
}

/// Version 1 of a stored day. Part of the on-disk format: never change it.
#[derive(Archive, Serialize, Deserialize)]
struct DayRecord {
    domain: String,
    day: i64,
    policy: StoredDmarcPolicy,
    rows: Vec<(StoredDmarcRow, u64)>,
    rows_dropped: u64,
}

fn day_key(domain: &str, day: i64) -> Vec<u8> {
    let mut key = domain.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(&day.to_be_bytes());
    key
}

fn check_day(day: &StoredDmarcDay) -> Result<(), &'static str> {
    let domain = &day.domain;
    if domain.is_empty() || domain.len() > 253 || domain.bytes().any(|b| b == 0 || b.is_ascii_control()) {
        return Err("domain empty, too long or with control characters");
    }
    if day.rows.len() > STORED_ROWS_MAX {
        return Err("too many rows");
    }
    let short = |text: &String| text.len() <= FIELD_BYTES_MAX;
    let row_ok = |(row, _): &(StoredDmarcRow, u64)| {
        [&row.source_ip, &row.disposition, &row.envelope_to, &row.header_from].into_iter().all(short)
            && row.reasons.len() <= ROW_LIST_MAX
            && row.dkim.len() <= ROW_LIST_MAX
            && row.reasons.iter().all(|(a, b)| short(a) && short(b))
            && row.dkim.iter().all(|(a, b, c)| short(a) && short(b) && short(c))
            && short(&row.spf.0)
            && short(&row.spf.1)
            && short(&row.spf.2)
    };
    if !day.rows.iter().all(row_ok) {
        return Err("malformed row");
    }
    if day.policy.rua.len() > ROW_LIST_MAX
        || !day.policy.rua.iter().all(|uri| uri.len() <= 2 * FIELD_BYTES_MAX)
    {
        return Err("malformed rua");
    }
    Ok(())
}

/// Adds `more` into `into`: counts of equal rows add up; new rows are appended while
/// there is room, else their messages go to `rows_dropped`. The newer policy wins.
fn merge(into: &mut StoredDmarcDay, more: &StoredDmarcDay) {
    into.policy = more.policy.clone();
    into.rows_dropped += more.rows_dropped;
    for (row, count) in &more.rows {
        if let Some((_, existing)) = into.rows.iter_mut().find(|(r, _)| r == row) {
            *existing += count;
        } else if into.rows.len() < STORED_ROWS_MAX {
            into.rows.push((row.clone(), *count));
        } else {
            into.rows_dropped += count;
        }
    }
}

/// The store (see the module doc). `Send + Sync`; every method blocks.
pub struct DmarcEvalStore {
    lmdb: Lmdb,
    days: Db,
}

impl std::fmt::Debug for DmarcEvalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DmarcEvalStore").finish_non_exhaustive()
    }
}

impl DmarcEvalStore {
    /// Opens `data/queue/dmarc/`, creating what is missing.
    pub fn open(data: &DataDir, options: &StoreOptions) -> Result<DmarcEvalStore, StorageError> {
        let queue_dir = data.root().join("queue");
        let dir = queue_dir.join("dmarc");
        ensure_dir(&queue_dir)?;
        ensure_dir(&dir)?;
        let lmdb = Lmdb::open(
            &dir,
            "dmarc evaluations",
            options.map_size_initial_bytes,
            options.map_size_max_bytes,
            options.readers_max,
        )?;
        let [_meta, days] = match probe(&lmdb, &DATABASE_NAMES, VERSIONS)? {
            Some(dbs) => dbs,
            None => {
                let writer = lmdb.lock_writer();
                let dbs = create_databases(&lmdb, &writer, &DATABASE_NAMES)?;
                lmdb.write(&writer, |wtxn| set_up(wtxn, &dbs))?;
                dbs
            }
        };
        Ok(DmarcEvalStore { lmdb, days })
    }

    /// Adds `entries` to what is stored for their domain and day, and removes days
    /// before `oldest_day`, in one durable transaction.
    pub fn add(&self, entries: &[StoredDmarcDay], oldest_day: i64) -> Result<(), StorageError> {
        for entry in entries {
            check_day(entry).map_err(|reason| {
                StorageError::corrupt(format!("evaluations of {}: {reason}", entry.domain))
            })?;
        }
        let writer = self.lmdb.lock_writer();
        self.lmdb.write(&writer, |wtxn| {
            let mut old = Vec::new();
            for entry in self.days.iter(wtxn)? {
                let (key, _) = entry?;
                let day =
                    key.len().checked_sub(8).and_then(|at| key[at..].try_into().ok()).map(i64::from_be_bytes);
                if day.is_none_or(|day| day < oldest_day) {
                    old.push(key.to_vec());
                }
            }
            for key in old {
                self.days.delete(wtxn, &key)?;
            }
            for entry in entries.iter().filter(|entry| entry.day >= oldest_day) {
                let key = day_key(&entry.domain, entry.day);
                let mut merged = match self.days.get(wtxn, &key)? {
                    Some(value) => decode(&key, value)?,
                    None => StoredDmarcDay { rows: Vec::new(), rows_dropped: 0, ..entry.clone() },
                };
                merge(&mut merged, entry);
                let record = DayRecord {
                    domain: merged.domain,
                    day: merged.day,
                    policy: merged.policy,
                    rows: merged.rows,
                    rows_dropped: merged.rows_dropped,
                };
                self.days.put(wtxn, &key, &encode(RECORD_VERSION, &record)?)?;
            }
            Ok(())
        })
    }

    /// Removes `domain`'s evaluations of `day` once its report is queued; durable when
    /// it returns; whether there were any.
    pub fn remove(&self, domain: &str, day: i64) -> Result<bool, StorageError> {
        let writer = self.lmdb.lock_writer();
        self.lmdb.write(&writer, |wtxn| Ok(self.days.delete(wtxn, &day_key(domain, day))?))
    }

    /// The stored days before `before` (days since 1970), oldest first, at most `max`
    /// (and never more than [`STORED_DAYS_MAX`]).
    pub fn days_before(&self, before: i64, max: usize) -> Result<Vec<StoredDmarcDay>, StorageError> {
        let txn = self.lmdb.read_txn(None)?;
        let mut found = Vec::new();
        for entry in self.days.iter(txn.txn())?.take(STORED_DAYS_MAX) {
            let (key, value) = entry?;
            let day = decode(key, value)?;
            if day.day < before {
                found.push(day);
            }
        }
        found.sort_by(|a, b| (a.day, &a.domain).cmp(&(b.day, &b.domain)));
        found.truncate(max);
        Ok(found)
    }
}

fn decode(key: &[u8], value: &[u8]) -> Result<StoredDmarcDay, StorageError> {
    let what = format!("DMARC evaluations {}", String::from_utf8_lossy(key));
    let corrupt = |error: BoxedError| StorageError::corrupt(format!("{what}: {error}"));
    let archive = archive_bytes(value, RECORD_VERSION, &what)?;
    let archived = rkyv::access::<ArchivedDayRecord, BoxedError>(archive).map_err(corrupt)?;
    let record = rkyv::deserialize::<DayRecord, BoxedError>(archived).map_err(corrupt)?;
    let day = StoredDmarcDay {
        domain: record.domain,
        day: record.day,
        policy: record.policy,
        rows: record.rows,
        rows_dropped: record.rows_dropped,
    };
    if day_key(&day.domain, day.day) != key {
        return Err(StorageError::corrupt(format!("{what}: record contradicts its key")));
    }
    check_day(&day).map_err(|reason| StorageError::corrupt(format!("{what}: {reason}")))?;
    Ok(day)
}

fn set_up(wtxn: &mut RwTxn<'_>, dbs: &[Db; 2]) -> Result<(), StorageError> {
    match stored_version(&dbs[0], wtxn)? {
        None => {
            check_empty(wtxn, dbs)?;
            dbs[0].put(wtxn, keys::META_SCHEMA_VERSION, &DMARC_EVAL_SCHEMA_VERSION.to_be_bytes())?;
            Ok(())
        }
        Some(version) => VERSIONS.check(version),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn row(ip: &str) -> StoredDmarcRow {
        StoredDmarcRow {
            source_ip: ip.into(),
            disposition: "none".into(),
            dkim_aligned: true,
            spf_aligned: false,
            reasons: Vec::new(),
            envelope_to: "example.net".into(),
            header_from: "example.com".into(),
            dkim: vec![("example.com".into(), "s1".into(), "pass".into())],
            spf: ("bounce.other.example".into(), "mfrom".into(), "pass".into()),
        }
    }

    fn day(day: i64, rows: Vec<(StoredDmarcRow, u64)>) -> StoredDmarcDay {
        StoredDmarcDay {
            domain: "example.com".into(),
            day,
            policy: StoredDmarcPolicy { p: "reject".into(), ..StoredDmarcPolicy::default() },
            rows,
            rows_dropped: 0,
        }
    }

    #[test]
    fn counts_add_up_across_flushes_and_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        {
            let store = DmarcEvalStore::open(&data, &StoreOptions::default()).unwrap();
            store.add(&[day(20_000, vec![(row("192.0.2.1"), 2)])], 19_990).unwrap();
            store.add(&[day(20_000, vec![(row("192.0.2.1"), 1), (row("192.0.2.2"), 5)])], 19_990).unwrap();
            store.add(&[day(20_001, vec![(row("192.0.2.1"), 1)])], 19_990).unwrap();
        }
        let store = DmarcEvalStore::open(&data, &StoreOptions::default()).unwrap();
        let days = store.days_before(20_001, 10).unwrap();
        assert_eq!(days, vec![day(20_000, vec![(row("192.0.2.1"), 3), (row("192.0.2.2"), 5)])]);
        assert_eq!(store.days_before(20_002, 10).unwrap().len(), 2);
        assert!(store.remove("example.com", 20_000).unwrap());
        assert!(!store.remove("example.com", 20_000).unwrap());
        // Older days go when a later add moves the window.
        store.add(&[], 20_002).unwrap();
        assert!(store.days_before(30_000, 10).unwrap().is_empty());
        let bad = StoredDmarcDay { domain: String::new(), ..day(20_003, Vec::new()) };
        assert!(store.add(&[bad], 0).is_err());
    }

    #[test]
    fn rows_beyond_the_limit_are_counted_not_kept() {
        let mut stored = day(1, Vec::new());
        let many: Vec<_> =
            (0..STORED_ROWS_MAX + 2).map(|i| (row(&format!("10.0.{}.{}", i / 256, i % 256)), 2)).collect();
        merge(&mut stored, &day(1, many));
        assert_eq!((stored.rows.len(), stored.rows_dropped), (STORED_ROWS_MAX, 4));
    }
}
