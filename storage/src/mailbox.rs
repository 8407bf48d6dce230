//! Mailboxes: the caller's [`MailboxInfo`], the default set every account starts with,
//! and CREATE (RFC 9051 §6.3.4) with special-use attributes (RFC 6154 §2, and RFC 6154 §3
//! CREATE-SPECIAL-USE).
//!
//! Invariants: names are unique (INBOX stored as `INBOX`); ids and UIDVALIDITY values come
//! from account counters and are never reused; `mailboxes` and `mailbox_names` agree.

use heed::RwTxn;

use crate::error::StorageError;
use crate::flags::SpecialUse;
use crate::ids::{MailboxId, ModSeq, Uid, UidValidity};
use crate::keys;
use crate::names::canonical_mailbox_name;
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

impl AccountStore {
    /// RFC 9051 §6.3.4 CREATE: a new, empty mailbox with a fresh UIDVALIDITY from the
    /// account counter (so a name deleted and created again gets a different one).
    /// Names are case-sensitive except INBOX, which always exists. Intermediate levels
    /// are not created. Errors: [`StorageError::InvalidMailboxName`],
    /// [`StorageError::MailboxExists`].
    pub fn create_mailbox(
        &self,
        name: &str,
        special_use: Option<SpecialUse>,
    ) -> Result<MailboxInfo, StorageError> {
        let name = canonical_mailbox_name(name)?;
        let writer = self.begin_write()?;
        let record = self.lmdb.write(&writer, |wtxn| insert_mailbox(wtxn, &self.dbs, name, special_use))?;
        record.to_info()
    }
}
