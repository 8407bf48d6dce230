//! [`TlsPolicyStore`]: the outbound queue's cache of MTA-STS policies (RFC 8461 §5.1),
//! an LMDB environment in `data/queue/tls/`, so a restart keeps the policies it
//! learned: a policy protects a domain's mail only if a blocked fetch after a restart
//! cannot erase it; and the TLSRPT results (RFC 8460) counted per policy domain and day,
//! so a restart does not lose what the day's report will say.
//!
//! | database       | key                 | value |
//! |----------------|---------------------|-------|
//! | `meta`         | ASCII name          | `schema_version` u32 BE |
//! | `sts_policies` | domain (lower case) | version byte + rkyv `StsPolicyRecord` |
//! | `tls_results`  | domain, 0, day (i64 BE, days since 1970) | version byte + rkyv `TlsResultsRecord` |
//! | `domain_tls`   | domain (lower case) | version byte + rkyv `DomainTlsRecord` |
//!
//! Rules checked before a put and after every get (STYLE rule 8): the domain is 1 to
//! 253 bytes of lower-case name characters and equals the key; the id 1 to 32 letters
//! and digits; the mode 0..=2; at most [`STORED_MX_PATTERNS_MAX`] patterns of at most
//! 255 bytes each. The writer is the queue's core (policy fetches are rare: one write
//! per fetched policy, on a helper thread).
//!
//! `domain_tls` is the queue's memory of each recipient domain's TLS (whether its hosts
//! offered STARTTLS, whether verified TLS was used, when last seen), so that a restart
//! does not forget that a domain offers STARTTLS and let a downgrade through.
//!
//! Schema history: version 1 is the first; version 2 adds `domain_tls` (created empty
//! when a version-1 environment is opened).

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
pub const TLS_POLICY_SCHEMA_VERSION: u32 = 2;

const VERSIONS: Versions = Versions { current: TLS_POLICY_SCHEMA_VERSION, oldest: 1 };

const DATABASE_NAMES: [&str; 4] = ["meta", "sts_policies", "tls_results", "domain_tls"];

/// Most domains [`TlsPolicyStore::domain_tls`] returns: the queue remembers 10,000.
pub const STORED_DOMAIN_TLS_MAX: usize = 10_000;

/// What one recipient domain's hosts did with TLS, as last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDomainTls {
    /// The domain (lower case).
    pub domain: String,
    /// Its hosts offered STARTTLS.
    pub starttls: bool,
    /// Verified TLS (DANE or MTA-STS) was used.
    pub verified: bool,
    /// When it was seen, Unix ms.
    pub updated_ms: i64,
}

/// Version 1 of a stored domain TLS entry. Part of the on-disk format: never change it.
#[derive(Archive, Serialize, Deserialize)]
struct DomainTlsRecord {
    domain: String,
    starttls: bool,
    verified: bool,
    updated_ms: i64,
}

/// Most result entries [`TlsPolicyStore::results`] returns: the queue keeps results of
/// 10,000 domains for two days.
pub const STORED_RESULTS_MAX: usize = 20_000;

/// Most failure kinds stored per domain and day (the queue keeps 64).
pub const STORED_FAILURES_MAX: usize = 64;

/// One day's TLSRPT counts for one policy domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTlsResults {
    /// The policy domain (lower case).
    pub domain: String,
    /// Days since 1970-01-01 (UTC).
    pub day: i64,
    /// Sessions that applied a policy successfully.
    pub successes: u64,
    /// Failed sessions: policy type (0 tlsa, 1 sts, 2 no-policy-found), result type as
    /// RFC 8460 §4.3 names it, receiving MX host, count.
    pub failures: Vec<(u8, String, String, u64)>,
}

/// Version 1 of stored results. Part of the on-disk format: never change it.
#[derive(Archive, Serialize, Deserialize)]
struct TlsResultsRecord {
    domain: String,
    day: i64,
    successes: u64,
    failures: Vec<(u8, String, String, u64)>,
}

fn results_key(domain: &str, day: i64) -> Vec<u8> {
    let mut key = domain.as_bytes().to_vec();
    key.push(0);
    key.extend_from_slice(&day.to_be_bytes());
    key
}

/// Most MX patterns stored per policy: the policy parser keeps at most 64.
pub const STORED_MX_PATTERNS_MAX: usize = 64;

/// Most policies [`TlsPolicyStore::policies`] returns: the queue keeps 10,000 in memory,
/// and the store never holds more than it was given.
pub const STORED_POLICIES_MAX: usize = 10_000;

const RECORD_VERSION: u8 = 1;

/// One cached MTA-STS policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredStsPolicy {
    /// The policy domain (lower case).
    pub domain: String,
    /// The `_mta-sts` record's id when it was fetched.
    pub id: String,
    /// 0 enforce, 1 testing, 2 none.
    pub mode: u8,
    /// The policy's `max_age`, seconds.
    pub max_age_secs: u64,
    /// The `mx` patterns.
    pub mx: Vec<String>,
    /// Unix ms after which it is not used.
    pub expires_ms: i64,
    /// Unix ms when its record was last checked.
    pub checked_ms: i64,
}

/// Version 1 of a stored policy. Part of the on-disk format: never change it.
#[derive(Archive, Serialize, Deserialize)]
struct StsPolicyRecord {
    domain: String,
    id: String,
    mode: u8,
    max_age_secs: u64,
    mx: Vec<String>,
    expires_ms: i64,
    checked_ms: i64,
}

fn check(policy: &StoredStsPolicy) -> Result<(), &'static str> {
    let domain = &policy.domain;
    let name_byte =
        |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.' || b == b'_';
    if domain.is_empty() || domain.len() > 253 || !domain.bytes().all(name_byte) {
        return Err("domain empty, too long or not a lower-case name");
    }
    if policy.id.is_empty() || policy.id.len() > 32 || !policy.id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err("id empty, too long or not letters and digits");
    }
    if policy.mode > 2 {
        return Err("unknown mode");
    }
    if policy.mx.len() > STORED_MX_PATTERNS_MAX || policy.mx.iter().any(|p| p.is_empty() || p.len() > 255) {
        return Err("too many or malformed mx patterns");
    }
    Ok(())
}

/// The store (see the module doc). `Send + Sync`; every method blocks.
pub struct TlsPolicyStore {
    lmdb: Lmdb,
    policies: Db,
    results: Db,
    domain_tls: Db,
}

impl std::fmt::Debug for TlsPolicyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsPolicyStore").finish_non_exhaustive()
    }
}

impl TlsPolicyStore {
    /// Opens `data/queue/tls/`, creating what is missing.
    pub fn open(data: &DataDir, options: &StoreOptions) -> Result<TlsPolicyStore, StorageError> {
        let queue_dir = data.root().join("queue");
        let dir = queue_dir.join("tls");
        ensure_dir(&queue_dir)?;
        ensure_dir(&dir)?;
        let lmdb = Lmdb::open(
            &dir,
            "tls policies",
            options.map_size_initial_bytes,
            options.map_size_max_bytes,
            options.readers_max,
        )?;
        let [_meta, policies, results, domain_tls] = match probe(&lmdb, &DATABASE_NAMES, VERSIONS)? {
            Some(dbs) => dbs,
            None => {
                let writer = lmdb.lock_writer();
                let dbs = create_databases(&lmdb, &writer, &DATABASE_NAMES)?;
                lmdb.write(&writer, |wtxn| set_up(wtxn, &dbs))?;
                dbs
            }
        };
        Ok(TlsPolicyStore { lmdb, policies, results, domain_tls })
    }

    /// Stores (or replaces) `policy`; durable when it returns.
    pub fn put_policy(&self, policy: &StoredStsPolicy) -> Result<(), StorageError> {
        check(policy)
            .map_err(|reason| StorageError::corrupt(format!("policy of {}: {reason}", policy.domain)))?;
        let record = StsPolicyRecord {
            domain: policy.domain.clone(),
            id: policy.id.clone(),
            mode: policy.mode,
            max_age_secs: policy.max_age_secs,
            mx: policy.mx.clone(),
            expires_ms: policy.expires_ms,
            checked_ms: policy.checked_ms,
        };
        let value = encode(RECORD_VERSION, &record)?;
        let writer = self.lmdb.lock_writer();
        self.lmdb.write(&writer, |wtxn| Ok(self.policies.put(wtxn, policy.domain.as_bytes(), &value)?))
    }

    /// Removes `domain`'s policy (evicted from the cache); whether there was one.
    pub fn remove_policy(&self, domain: &str) -> Result<bool, StorageError> {
        let writer = self.lmdb.lock_writer();
        self.lmdb.write(&writer, |wtxn| Ok(self.policies.delete(wtxn, domain.as_bytes())?))
    }

    /// The stored policies, at most [`STORED_POLICIES_MAX`].
    pub fn policies(&self) -> Result<Vec<StoredStsPolicy>, StorageError> {
        let txn = self.lmdb.read_txn(None)?;
        let mut found = Vec::new();
        for entry in self.policies.iter(txn.txn())?.take(STORED_POLICIES_MAX) {
            let (key, value) = entry?;
            found.push(decode(key, value)?);
        }
        Ok(found)
    }
}

impl TlsPolicyStore {
    /// Stores `entries` (replacing the same domain and day) and removes days before
    /// `oldest_day`, in one durable transaction.
    pub fn put_results(&self, entries: &[StoredTlsResults], oldest_day: i64) -> Result<(), StorageError> {
        let mut values = Vec::with_capacity(entries.len());
        for entry in entries {
            check_results(entry)
                .map_err(|reason| StorageError::corrupt(format!("results of {}: {reason}", entry.domain)))?;
            let record = TlsResultsRecord {
                domain: entry.domain.clone(),
                day: entry.day,
                successes: entry.successes,
                failures: entry.failures.clone(),
            };
            values.push((results_key(&entry.domain, entry.day), encode(RECORD_VERSION, &record)?));
        }
        let writer = self.lmdb.lock_writer();
        self.lmdb.write(&writer, |wtxn| {
            let mut old = Vec::new();
            for entry in self.results.iter(wtxn)? {
                let (key, _) = entry?;
                let day =
                    key.len().checked_sub(8).and_then(|at| key[at..].try_into().ok()).map(i64::from_be_bytes);
                if day.is_none_or(|day| day < oldest_day) {
                    old.push(key.to_vec());
                }
            }
            for key in old {
                self.results.delete(wtxn, &key)?;
            }
            for (key, value) in &values {
                self.results.put(wtxn, key, value)?;
            }
            Ok(())
        })
    }

    /// Removes the results of `domain` on `day` once their report is queued: a day
    /// without stored results is never reported again, so a restart does not send it
    /// twice. Durable when it returns; whether there were any.
    pub fn remove_results(&self, domain: &str, day: i64) -> Result<bool, StorageError> {
        let writer = self.lmdb.lock_writer();
        self.lmdb.write(&writer, |wtxn| Ok(self.results.delete(wtxn, &results_key(domain, day))?))
    }

    /// The stored results, at most [`STORED_RESULTS_MAX`].
    pub fn results(&self) -> Result<Vec<StoredTlsResults>, StorageError> {
        let txn = self.lmdb.read_txn(None)?;
        let mut found = Vec::new();
        for entry in self.results.iter(txn.txn())?.take(STORED_RESULTS_MAX) {
            let (key, value) = entry?;
            let what = format!("TLS results {}", String::from_utf8_lossy(key));
            let corrupt = |error: BoxedError| StorageError::corrupt(format!("{what}: {error}"));
            let archive = archive_bytes(value, RECORD_VERSION, &what)?;
            let archived = rkyv::access::<ArchivedTlsResultsRecord, BoxedError>(archive).map_err(corrupt)?;
            let record = rkyv::deserialize::<TlsResultsRecord, BoxedError>(archived).map_err(corrupt)?;
            let results = StoredTlsResults {
                domain: record.domain,
                day: record.day,
                successes: record.successes,
                failures: record.failures,
            };
            if results_key(&results.domain, results.day) != key {
                return Err(StorageError::corrupt(format!("{what}: record contradicts its key")));
            }
            check_results(&results).map_err(|reason| StorageError::corrupt(format!("{what}: {reason}")))?;
            found.push(results);
        }
        Ok(found)
    }
}

impl TlsPolicyStore {
    /// Stores (or replaces) `entries` and removes the domains in `forget`, in one
    /// durable transaction.
    pub fn put_domain_tls(&self, entries: &[StoredDomainTls], forget: &[String]) -> Result<(), StorageError> {
        let mut values = Vec::with_capacity(entries.len());
        for entry in entries {
            if !domain_ok(&entry.domain) {
                return Err(StorageError::corrupt(format!("domain TLS of {:?}: bad domain", entry.domain)));
            }
            let record = DomainTlsRecord {
                domain: entry.domain.clone(),
                starttls: entry.starttls,
                verified: entry.verified,
                updated_ms: entry.updated_ms,
            };
            values.push((entry.domain.as_bytes(), encode(RECORD_VERSION, &record)?));
        }
        let writer = self.lmdb.lock_writer();
        self.lmdb.write(&writer, |wtxn| {
            for domain in forget {
                self.domain_tls.delete(wtxn, domain.as_bytes())?;
            }
            for (key, value) in &values {
                self.domain_tls.put(wtxn, key, value)?;
            }
            Ok(())
        })
    }

    /// The remembered domains, at most [`STORED_DOMAIN_TLS_MAX`].
    pub fn domain_tls(&self) -> Result<Vec<StoredDomainTls>, StorageError> {
        let txn = self.lmdb.read_txn(None)?;
        let mut found = Vec::new();
        for entry in self.domain_tls.iter(txn.txn())?.take(STORED_DOMAIN_TLS_MAX) {
            let (key, value) = entry?;
            let what = format!("domain TLS {}", String::from_utf8_lossy(key));
            let corrupt = |error: BoxedError| StorageError::corrupt(format!("{what}: {error}"));
            let archive = archive_bytes(value, RECORD_VERSION, &what)?;
            let archived = rkyv::access::<ArchivedDomainTlsRecord, BoxedError>(archive).map_err(corrupt)?;
            let record = rkyv::deserialize::<DomainTlsRecord, BoxedError>(archived).map_err(corrupt)?;
            if record.domain.as_bytes() != key || !domain_ok(&record.domain) {
                return Err(StorageError::corrupt(format!("{what}: record contradicts its key")));
            }
            found.push(StoredDomainTls {
                domain: record.domain,
                starttls: record.starttls,
                verified: record.verified,
                updated_ms: record.updated_ms,
            });
        }
        Ok(found)
    }
}

/// 1 to 253 bytes of lower-case name characters.
fn domain_ok(domain: &str) -> bool {
    let name_byte =
        |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.' || b == b'_';
    !domain.is_empty() && domain.len() <= 253 && domain.bytes().all(name_byte)
}

fn check_results(results: &StoredTlsResults) -> Result<(), &'static str> {
    let domain = &results.domain;
    if domain.is_empty() || domain.len() > 253 || domain.bytes().any(|b| b == 0 || b.is_ascii_control()) {
        return Err("domain empty, too long or with control characters");
    }
    if results.failures.len() > STORED_FAILURES_MAX {
        return Err("too many failure kinds");
    }
    let bad = |(policy, result, host, _): &(u8, String, String, u64)| {
        *policy > 2 || result.is_empty() || result.len() > 64 || host.len() > 255
    };
    if results.failures.iter().any(bad) {
        return Err("malformed failure");
    }
    Ok(())
}

fn decode(key: &[u8], value: &[u8]) -> Result<StoredStsPolicy, StorageError> {
    let what = format!("MTA-STS policy {}", String::from_utf8_lossy(key));
    let corrupt = |error: BoxedError| StorageError::corrupt(format!("{what}: {error}"));
    let archive = archive_bytes(value, RECORD_VERSION, &what)?;
    let archived = rkyv::access::<ArchivedStsPolicyRecord, BoxedError>(archive).map_err(corrupt)?;
    let record = rkyv::deserialize::<StsPolicyRecord, BoxedError>(archived).map_err(corrupt)?;
    let policy = StoredStsPolicy {
        domain: record.domain,
        id: record.id,
        mode: record.mode,
        max_age_secs: record.max_age_secs,
        mx: record.mx,
        expires_ms: record.expires_ms,
        checked_ms: record.checked_ms,
    };
    if policy.domain.as_bytes() != key {
        return Err(StorageError::corrupt(format!("{what}: record contradicts its key")));
    }
    check(&policy).map_err(|reason| StorageError::corrupt(format!("{what}: {reason}")))?;
    Ok(policy)
}

fn set_up(wtxn: &mut RwTxn<'_>, dbs: &[Db; 4]) -> Result<(), StorageError> {
    match stored_version(&dbs[0], wtxn)? {
        None => {
            check_empty(wtxn, dbs)?;
            dbs[0].put(wtxn, keys::META_SCHEMA_VERSION, &TLS_POLICY_SCHEMA_VERSION.to_be_bytes())?;
            Ok(())
        }
        Some(version) => {
            VERSIONS.check(version)?;
            // 1 -> 2: `domain_tls` was created (empty) by `create_databases`.
            if version < TLS_POLICY_SCHEMA_VERSION {
                dbs[0].put(wtxn, keys::META_SCHEMA_VERSION, &TLS_POLICY_SCHEMA_VERSION.to_be_bytes())?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn policies_survive_reopening_and_bad_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        let policy = StoredStsPolicy {
            domain: "example.com".into(),
            id: "20240101".into(),
            mode: 0,
            max_age_secs: 86_400,
            mx: vec!["mx.example.com".into(), "*.example.net".into()],
            expires_ms: 2_000,
            checked_ms: 1_000,
        };
        {
            let store = TlsPolicyStore::open(&data, &StoreOptions::default()).unwrap();
            store.put_policy(&policy).unwrap();
            let bad = StoredStsPolicy { id: "not ok".into(), ..policy.clone() };
            assert!(store.put_policy(&bad).is_err());
        }
        let store = TlsPolicyStore::open(&data, &StoreOptions::default()).unwrap();
        assert_eq!(store.policies().unwrap(), vec![policy]);
        assert!(store.remove_policy("example.com").unwrap());
        assert!(store.policies().unwrap().is_empty());
        let today = StoredTlsResults {
            domain: "example.com".into(),
            day: 20_000,
            successes: 3,
            failures: vec![(1, "certificate-host-mismatch".into(), "mx.example.com".into(), 2)],
        };
        let yesterday = StoredTlsResults { day: 19_999, ..today.clone() };
        store.put_results(&[yesterday.clone(), today.clone()], 19_999).unwrap();
        assert_eq!(store.results().unwrap(), vec![yesterday, today.clone()]);
        assert!(store.remove_results("example.com", 19_999).unwrap());
        assert!(!store.remove_results("example.com", 19_999).unwrap());
        assert_eq!(store.results().unwrap(), vec![today.clone()]);
        store.put_results(&[], 20_000).unwrap();
        assert_eq!(store.results().unwrap(), vec![today]);
    }

    #[test]
    fn domain_tls_survives_reopening_and_a_version_1_store_is_upgraded() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        let seen =
            StoredDomainTls { domain: "example.com".into(), starttls: true, verified: false, updated_ms: 5 };
        let other = StoredDomainTls { domain: "example.net".into(), ..seen.clone() };
        {
            let store = TlsPolicyStore::open(&data, &StoreOptions::default()).unwrap();
            store.put_domain_tls(&[seen.clone(), other.clone()], &[]).unwrap();
            store.put_domain_tls(&[], &["example.net".to_owned()]).unwrap();
            let bad = StoredDomainTls { domain: "Not Ok".into(), ..seen.clone() };
            assert!(store.put_domain_tls(&[bad], &[]).is_err());
            // As a version-1 environment: the version says 1 and `domain_tls` is empty.
            let writer = store.lmdb.lock_writer();
            let meta = probe(&store.lmdb, &DATABASE_NAMES, VERSIONS).unwrap().unwrap()[0];
            store
                .lmdb
                .write(&writer, |wtxn| {
                    meta.put(wtxn, keys::META_SCHEMA_VERSION, &1u32.to_be_bytes())?;
                    store.domain_tls.clear(wtxn)?;
                    Ok(())
                })
                .unwrap();
        }
        let store = TlsPolicyStore::open(&data, &StoreOptions::default()).unwrap();
        assert!(store.domain_tls().unwrap().is_empty());
        store.put_domain_tls(std::slice::from_ref(&seen), &[]).unwrap();
        drop(store);
        let store = TlsPolicyStore::open(&data, &StoreOptions::default()).unwrap();
        assert_eq!(store.domain_tls().unwrap(), vec![seen]);
    }
}
