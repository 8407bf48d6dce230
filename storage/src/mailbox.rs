//! Mailboxes: the caller's [`MailboxInfo`], the default set every account starts with,
//! CREATE (RFC 9051 §6.3.4) with special-use attributes (RFC 6154 §2, and RFC 6154 §3
//! CREATE-SPECIAL-USE) and missing parents, and subscriptions (RFC 9051 §6.3.7, §6.3.8).
//! RENAME and DELETE are in `rename.rs`.
//!
//! Invariants: names are unique (INBOX stored as `INBOX`); ids and UIDVALIDITY values come
//! from account counters and are never reused; `mailboxes` and `mailbox_names` agree.

use heed::{RoTxn, RwTxn};

use crate::error::StorageError;
use crate::flags::SpecialUse;
use crate::ids::{MailboxId, ModSeq, Uid, UidValidity};
use crate::keys;
use crate::names::{ancestors, canonical_mailbox_name, children_prefix};
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
    /// leaf exists; nothing is created).
    pub fn create_mailbox(
        &self,
        name: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<MailboxInfo, StorageError> {
        let name = canonical_mailbox_name(name)?;
        let writer = self.begin_write()?;
        let info = self.lmdb.write(&writer, |wtxn| {
            if self.dbs.mailbox_names.get(wtxn, name.as_bytes())?.is_some() {
                return Err(StorageError::MailboxExists);
            }
            insert_parents(wtxn, &self.dbs, &name)?;
            let record = insert_mailbox(wtxn, &self.dbs, &name, special_use)?;
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
