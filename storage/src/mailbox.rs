//! Mailboxes: the caller's [`MailboxInfo`], the default set every account starts with,
//! CREATE (RFC 9051 §6.3.4) with special-use attributes (RFC 6154 §2, and RFC 6154 §3
//! CREATE-SPECIAL-USE) and missing parents, and subscriptions (RFC 9051 §6.3.7, §6.3.8).
//! RENAME and DELETE are in `rename.rs`.
//!
//! Limits ([`MailboxLimits`]): CREATE and RENAME refuse to take an account past its
//! number of mailboxes (parents CREATE makes count too) or a name past its hierarchy
//! depth, with [`StorageError::MailboxLimit`] (IMAP `NO [LIMIT]`); existing mailboxes are
//! never touched by a lowered limit.
//!
//! Invariants: names are unique (INBOX stored as `INBOX`); ids and UIDVALIDITY values come
//! from account counters and are never reused; `mailboxes` and `mailbox_names` agree.

use heed::{RoTxn, RwTxn};

use crate::error::{MailboxLimit, StorageError};
use crate::flags::SpecialUse;
use crate::ids::{MailboxId, ModSeq, Uid, UidValidity};
use crate::keys;
use crate::names::{HIERARCHY_DELIMITER, ancestors, canonical_mailbox_name, children_prefix};
use crate::records::{MailboxRecord, encode_mailbox};
use crate::schema::Databases;
use crate::store::AccountStore;
use crate::view::{meta_u32, meta_u64, put_meta_u32};

/// The mailboxes besides INBOX that a new account gets, with their special use.
pub const DEFAULT_MAILBOXES: [(&str, SpecialUse); 5] = [
    ("Sent", SpecialUse::Sent),
    ("Drafts", SpecialUse::Drafts),
    ("Archive", SpecialUse::Archive),
    ("Trash", SpecialUse::Trash),
    ("Junk", SpecialUse::Junk),
];

/// Mailboxes one account may have, INBOX and the default ones included. Every mailbox
/// costs each LIST a pattern match and a line of output, and one `CREATE a/b/c/...` of 255
/// bytes makes 128 of them; Dovecot counts no limit by default, Exchange Online stops at
/// 10 000 folders, and real hierarchies have tens to hundreds. 10 000 keeps a LIST of
/// everything in the tens of milliseconds.
pub const MAILBOXES_MAX: u32 = 10_000;

/// Levels in one mailbox name (`a/b/c` has 3). Dovecot allowed 16 until 2.2.25; clients
/// rarely show more than a handful. Bounds the parents one CREATE makes and the work
/// LIST does per name for its parents.
pub const MAILBOX_DEPTH_MAX: u32 = 16;

const _: () = assert!(MAILBOXES_MAX as usize > DEFAULT_MAILBOXES.len() + 1);
const _: () = assert!(MAILBOX_DEPTH_MAX >= 2);

/// Per-account mailbox limits, from the configuration ([`crate::StoreOptions`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MailboxLimits {
    /// At most this many mailboxes (default [`MAILBOXES_MAX`]).
    pub mailboxes_max: u32,
    /// At most this many levels per name (default [`MAILBOX_DEPTH_MAX`]).
    pub depth_max: u32,
}

impl Default for MailboxLimits {
    fn default() -> Self {
        MailboxLimits { mailboxes_max: MAILBOXES_MAX, depth_max: MAILBOX_DEPTH_MAX }
    }
}

impl MailboxLimits {
    /// Refuses a name deeper than [`MailboxLimits::depth_max`].
    pub(crate) fn check_depth(&self, name: &str) -> Result<(), StorageError> {
        let levels = name.matches(HIERARCHY_DELIMITER).count().saturating_add(1);
        if u32::try_from(levels).unwrap_or(u32::MAX) > self.depth_max {
            return Err(StorageError::MailboxLimit { limit: MailboxLimit::Depth, max: self.depth_max });
        }
        Ok(())
    }

    /// Refuses a transaction that took the count from `before` to above the limit; one
    /// that adds nothing passes even on an account over a lowered limit.
    pub(crate) fn check_count(
        &self,
        wtxn: &RwTxn<'_>,
        dbs: &Databases,
        before: u64,
    ) -> Result<(), StorageError> {
        let after = dbs.mailbox_names.len(wtxn)?;
        if after > before && after > u64::from(self.mailboxes_max) {
            return Err(StorageError::MailboxLimit { limit: MailboxLimit::Count, max: self.mailboxes_max });
        }
        Ok(())
    }
}

/// One mailbox as callers see it: what SELECT and STATUS report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MailboxInfo {
    /// Account-wide id.
    pub id: MailboxId,
    /// Full name, `INBOX` for the inbox; `/` separates levels.
    pub name: String,
    /// RFC 6154 special use, if any.
    pub special_use: Option<SpecialUse>,
    /// UIDVALIDITY.
    pub uidvalidity: UidValidity,
    /// UIDNEXT: the UID the next message will get.
    pub uidnext: Uid,
    /// Highest mod-sequence of any change in this mailbox (RFC 7162 HIGHESTMODSEQ).
    pub highest_modseq: ModSeq,
    /// Messages in the mailbox.
    pub messages: u32,
    /// Messages without `\Seen`.
    pub unseen: u32,
    /// Messages with `\Deleted`.
    pub deleted: u32,
    /// Sum of the served sizes (prefix + file) of its messages (RFC 8438 STATUS SIZE).
    pub size_bytes: u64,
}

/// Adds a mailbox named `name` (already canonical) with the next id and UIDVALIDITY.
pub(crate) fn insert_mailbox(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    name: &str,
    special_use: Option<SpecialUse>,
) -> Result<MailboxRecord, StorageError> {
    if dbs.mailbox_names.get(wtxn, name.as_bytes())?.is_some() {
        return Err(StorageError::MailboxExists);
    }
    let id = meta_u32(wtxn, dbs, keys::META_NEXT_MAILBOX_ID)?;
    let uidvalidity = meta_u32(wtxn, dbs, keys::META_NEXT_UIDVALIDITY)?;
    let highest_modseq = meta_u64(wtxn, dbs, keys::META_HIGHEST_MODSEQ)?;
    let exhausted = || StorageError::corrupt("mailbox id or UIDVALIDITY counter exhausted");
    put_meta_u32(wtxn, dbs, keys::META_NEXT_MAILBOX_ID, id.checked_add(1).ok_or_else(exhausted)?)?;
    put_meta_u32(wtxn, dbs, keys::META_NEXT_UIDVALIDITY, uidvalidity.checked_add(1).ok_or_else(exhausted)?)?;
    let record = MailboxRecord {
        id,
        name: name.to_string(),
        special_use: special_use.map_or(0, SpecialUse::code),
        uidvalidity,
        uidnext: 1,
        highest_modseq,
        messages: 0,
        unseen: 0,
        deleted: 0,
        size_bytes: 0,
    };
    let key = keys::mailbox_key(MailboxId(id));
    dbs.mailboxes.put(wtxn, &key, &encode_mailbox(&record)?)?;
    dbs.mailbox_names.put(wtxn, name.as_bytes(), &key)?;
    Ok(record)
}

/// Creates the missing ancestors of `name` (`a` and `a/b` for `a/b/c`), outermost
/// first, without special use (RFC 9051 §6.3.4: the server SHOULD create them).
pub(crate) fn insert_parents(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    name: &str,
) -> Result<Vec<MailboxRecord>, StorageError> {
    let mut created = Vec::new();
    for parent in ancestors(name) {
        if dbs.mailbox_names.get(wtxn, parent.as_bytes())?.is_none() {
            created.push(insert_mailbox(wtxn, dbs, parent, None)?);
        }
    }
    Ok(created)
}

/// True when some mailbox is named `name/...`.
pub(crate) fn has_children(txn: &RoTxn<'_>, dbs: &Databases, name: &str) -> Result<bool, StorageError> {
    let prefix = children_prefix(name);
    Ok(dbs.mailbox_names.prefix_iter(txn, prefix.as_bytes())?.next().transpose()?.is_some())
}

impl AccountStore {
    /// RFC 9051 §6.3.4 CREATE: a new, empty mailbox with a fresh UIDVALIDITY from the
    /// account counter (so a name deleted and created again gets a different one).
    /// Names are case-sensitive except INBOX (and the `INBOX/` prefix), which always
    /// exists. Missing ancestors are created too (`a` and `a/b` for `a/b/c`, without
    /// special use), in the same transaction; the leaf is returned. A trailing `/` is
    /// refused: the IMAP layer strips the delimiter RFC 9051 §6.3.4 lets clients add.
    /// Errors: [`StorageError::InvalidMailboxName`], [`StorageError::MailboxExists`] (the
    /// leaf exists; nothing is created), [`StorageError::MailboxLimit`] (the name is too
    /// deep, or it and its missing parents would pass the account's number of mailboxes;
    /// nothing is created).
    pub fn create_mailbox(
        &self,
        name: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<MailboxInfo, StorageError> {
        let name = canonical_mailbox_name(name)?;
        self.mailbox_limits.check_depth(&name)?;
        let writer = self.begin_write()?;
        let info = self.lmdb.write(&writer, |wtxn| {
            if self.dbs.mailbox_names.get(wtxn, name.as_bytes())?.is_some() {
                return Err(StorageError::MailboxExists);
            }
            let before = self.dbs.mailbox_names.len(wtxn)?;
            insert_parents(wtxn, &self.dbs, &name)?;
            let record = insert_mailbox(wtxn, &self.dbs, &name, special_use)?;
            self.mailbox_limits.check_count(wtxn, &self.dbs, before)?;
            // Before the commit, so that neither a panic nor an error follows one.
            assert_eq!(record.name, name);
            record.to_info()
        })?;
        drop(writer);
        Ok(info)
    }

    /// RFC 9051 §6.3.7 SUBSCRIBE / §6.3.8 UNSUBSCRIBE: adds or removes `name` (in its
    /// canonical form) from the subscriptions. The name need not exist as a mailbox, and
    /// subscriptions are never removed by DELETE or RENAME (RFC 9051 §6.3.7). Idempotent.
    /// Errors: [`StorageError::InvalidMailboxName`].
    pub fn set_subscribed(&self, name: &str, subscribed: bool) -> Result<(), StorageError> {
        let name = canonical_mailbox_name(name)?;
        let writer = self.begin_write()?;
        self.lmdb.write(&writer, |wtxn| {
            if subscribed {
                self.dbs.subscriptions.put(wtxn, name.as_bytes(), &[])?;
            } else {
                self.dbs.subscriptions.delete(wtxn, name.as_bytes())?;
            }
            Ok(())
        })
    }
}
