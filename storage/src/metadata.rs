//! METADATA entries (RFC 5464): the server's and each mailbox's annotations of one
//! account, in the `metadata` database (schema 6), keyed by (scope, entry name) where the
//! scope is 0 for the server and the mailbox id otherwise (ids start at 1). Keyed by id,
//! a mailbox's entries follow it through RENAME without a write; DELETE removes them in
//! its transaction (`rename.rs`).
//!
//! `/private/...` and `/shared/...` entries are stored alike: an account has no shared
//! mailboxes, so the account is the only reader of both. Names arrive checked by the
//! IMAP parser (RFC 5464 §3.2, lower case); values are opaque bytes. Every write is
//! checked against the limits below inside its transaction, so a refused SETMETADATA
//! changes nothing. Backups copy the environment and so include the entries.

use std::ops::Bound;

use heed::{RoTxn, RwTxn};

use crate::error::{MetadataLimit, StorageError};
use crate::ids::MailboxId;
use crate::schema::Databases;
use crate::store::AccountStore;
use crate::view::{ReadView, mailbox_id_by_name};

/// Largest value of one entry, in bytes: 32 KiB, the IMAP session's
/// `METADATA_VALUE_BYTES_MAX` (the actors crate asserts they agree). Comments, colours and
/// client settings are far smaller; Dovecot's default for a value is 64 KiB.
pub const METADATA_VALUE_BYTES_MAX: usize = 32 * 1024;

/// Longest entry name, in bytes: 256, the IMAP parser's limit. With the 4-byte scope it
/// keeps keys within LMDB's 511 bytes.
pub const METADATA_ENTRY_NAME_BYTES_MAX: usize = 256;
const _: () = assert!(METADATA_ENTRY_NAME_BYTES_MAX + 4 <= 511);

/// Most entries of one mailbox (or of the server): 100. The registered entries
/// (comment, admin, a few vendor settings) are a handful per mailbox; a client that
/// stores more is storing data, not annotations. Bounds one GETMETADATA's answer.
pub const METADATA_ENTRIES_PER_MAILBOX_MAX: u32 = 100;

/// Most entries of the whole account: 1000 (mox's limit too): a colour and a comment on
/// 500 mailboxes. Bounds what a LIST RETURN (METADATA) and every SETMETADATA's check
/// walk.
pub const METADATA_ENTRIES_PER_ACCOUNT_MAX: u32 = 1000;

/// Most bytes of names and values in the whole account: 1 MiB (mox's limit too). Bounds
/// the memory of a LIST RETURN (METADATA) answer and the database's share of the map.
pub const METADATA_ACCOUNT_BYTES_MAX: u64 = 1 << 20;
const _: () = assert!(METADATA_VALUE_BYTES_MAX as u64 <= METADATA_ACCOUNT_BYTES_MAX);
const _: () = assert!(METADATA_ENTRIES_PER_MAILBOX_MAX <= METADATA_ENTRIES_PER_ACCOUNT_MAX);

/// The stored entries of one scope, sorted by name.
pub type MetadataEntries = Vec<(String, Vec<u8>)>;

/// The key of an entry: the scope (0: the server) big-endian, then the name.
fn entry_key(scope: u32, name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(4 + name.len());
    key.extend_from_slice(&scope.to_be_bytes());
    key.extend_from_slice(name.as_bytes());
    key
}

fn scope_of(mailbox: Option<MailboxId>) -> u32 {
    mailbox.map_or(0, |id| id.0)
}

/// Splits a key into scope and name.
fn decode_key(key: &[u8]) -> Result<(u32, &str), StorageError> {
    let (scope, name) =
        key.split_at_checked(4).ok_or_else(|| StorageError::corrupt("metadata key too short"))?;
    let scope = crate::keys::decode_u32(scope, "metadata scope")?;
    let name = std::str::from_utf8(name).map_err(|_| StorageError::corrupt("metadata name is not UTF-8"))?;
    Ok((scope, name))
}

/// Whether `name` is one the IMAP parser lets through for SETMETADATA: printable ASCII,
/// under `/private/` or `/shared/`, no `*`, `%`, `//`, trailing `/` or upper case.
fn valid_name(name: &str) -> bool {
    name.len() <= METADATA_ENTRY_NAME_BYTES_MAX
        && (name.starts_with("/private/") || name.starts_with("/shared/"))
        && name
            .bytes()
            .all(|b| (0x20..0x7f).contains(&b) && !matches!(b, b'*' | b'%') && !b.is_ascii_uppercase())
        && !name.contains("//")
        && !name.ends_with('/')
}

/// The entries of one scope.
fn read_scope(txn: &RoTxn<'_>, dbs: &Databases, scope: u32) -> Result<MetadataEntries, StorageError> {
    let mut entries = Vec::new();
    for entry in dbs.metadata.prefix_iter(txn, &scope.to_be_bytes())? {
        let (key, value) = entry?;
        let (_, name) = decode_key(key)?;
        entries.push((name.to_owned(), value.to_vec()));
    }
    Ok(entries)
}

/// Totals of the account: entries, bytes, and entries per scope of `scope`.
fn totals(txn: &RoTxn<'_>, dbs: &Databases, scope: u32) -> Result<(u32, u64, u32), StorageError> {
    let (mut count, mut bytes, mut in_scope) = (0u32, 0u64, 0u32);
    for entry in dbs.metadata.iter(txn)? {
        let (key, value) = entry?;
        let (entry_scope, name) = decode_key(key)?;
        count += 1;
        bytes += (name.len() + value.len()) as u64;
        if entry_scope == scope {
            in_scope += 1;
        }
    }
    Ok((count, bytes, in_scope))
}

impl ReadView<'_> {
    /// Every entry of `mailbox` (`None`: the server's), sorted by name.
    pub fn metadata(&self, mailbox: Option<MailboxId>) -> Result<MetadataEntries, StorageError> {
        read_scope(self.txn, self.dbs, scope_of(mailbox))
    }
}

impl AccountStore {
    /// SETMETADATA (RFC 5464 §4.3): sets each entry of `mailbox` (`None`: the server), or
    /// removes it for a `None` value, all in one transaction; returns the mailbox's id.
    /// Errors: [`StorageError::NoSuchMailbox`], [`StorageError::InvalidMetadata`] (a name
    /// the parser would not pass, a value over [`METADATA_VALUE_BYTES_MAX`]),
    /// [`StorageError::MetadataLimit`] (past an entry count or the byte total; nothing
    /// was changed).
    pub fn set_metadata(
        &self,
        mailbox: Option<&str>,
        entries: &[(String, Option<Vec<u8>>)],
    ) -> Result<Option<MailboxId>, StorageError> {
        for (name, value) in entries {
            if !valid_name(name) || value.as_ref().is_some_and(|value| value.len() > METADATA_VALUE_BYTES_MAX)
            {
                return Err(StorageError::InvalidMetadata { name: name.clone() });
            }
        }
        let writer = self.begin_write()?;
        let id = self.lmdb.write(&writer, |wtxn| set_in(wtxn, &self.dbs, mailbox, entries))?;
        drop(writer);
        Ok(id)
    }
}

/// SETMETADATA inside the caller's transaction; the limits are checked after the
/// changes, so a command that removes and adds in one go is judged by its result.
fn set_in(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    mailbox: Option<&str>,
    entries: &[(String, Option<Vec<u8>>)],
) -> Result<Option<MailboxId>, StorageError> {
    let id = match mailbox {
        Some(name) => Some(mailbox_id_by_name(wtxn, dbs, name)?.ok_or(StorageError::NoSuchMailbox)?),
        None => None,
    };
    let scope = scope_of(id);
    for (name, value) in entries {
        let key = entry_key(scope, name);
        match value {
            Some(value) => dbs.metadata.put(wtxn, &key, value)?,
            None => {
                dbs.metadata.delete(wtxn, &key)?;
            }
        }
    }
    let (count, bytes, in_scope) = totals(wtxn, dbs, scope)?;
    if in_scope > METADATA_ENTRIES_PER_MAILBOX_MAX {
        return Err(StorageError::MetadataLimit { limit: MetadataLimit::EntriesPerMailbox });
    }
    if count > METADATA_ENTRIES_PER_ACCOUNT_MAX {
        return Err(StorageError::MetadataLimit { limit: MetadataLimit::EntriesPerAccount });
    }
    if bytes > METADATA_ACCOUNT_BYTES_MAX {
        return Err(StorageError::MetadataLimit { limit: MetadataLimit::AccountBytes });
    }
    Ok(id)
}

/// Removes every entry of `mailbox` (the mailbox is being deleted).
pub(crate) fn delete_mailbox(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    mailbox: MailboxId,
) -> Result<(), StorageError> {
    let first = mailbox.0.to_be_bytes();
    let range = match mailbox.0.checked_add(1) {
        Some(next) => (Bound::Included(first.to_vec()), Bound::Excluded(next.to_be_bytes().to_vec())),
        None => (Bound::Included(first.to_vec()), Bound::Unbounded),
    };
    let range = (range.0.as_ref().map(Vec::as_slice), range.1.as_ref().map(Vec::as_slice));
    dbs.metadata.delete_range(wtxn, &range)?;
    Ok(())
}

/// The consistency check's part: every entry belongs to the server or to an existing
/// mailbox, has a valid name and value, and the account is within the limits. Returns
/// one line per problem.
pub(crate) fn check(txn: &RoTxn<'_>, dbs: &Databases) -> Result<Vec<String>, StorageError> {
    let mut problems = Vec::new();
    let mut per_scope: std::collections::BTreeMap<u32, u32> = std::collections::BTreeMap::new();
    let (mut count, mut bytes) = (0u32, 0u64);
    for entry in dbs.metadata.iter(txn)? {
        let (key, value) = entry?;
        let (scope, name) = decode_key(key)?;
        if scope != 0 && dbs.mailboxes.get(txn, &scope.to_be_bytes())?.is_none() {
            problems.push(format!("metadata entry {name:?} of mailbox {scope}, which does not exist"));
        }
        if !valid_name(name) || value.len() > METADATA_VALUE_BYTES_MAX {
            problems.push(format!("metadata entry {name:?} of scope {scope} is invalid"));
        }
        *per_scope.entry(scope).or_default() += 1;
        count += 1;
        bytes += (name.len() + value.len()) as u64;
    }
    if per_scope.values().any(|&n| n > METADATA_ENTRIES_PER_MAILBOX_MAX)
        || count > METADATA_ENTRIES_PER_ACCOUNT_MAX
        || bytes > METADATA_ACCOUNT_BYTES_MAX
    {
        problems.push(format!("metadata over its limits: {count} entries, {bytes} bytes"));
    }
    Ok(problems)
}
