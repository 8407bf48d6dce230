//! URLAUTH access keys (RFC 4467 §7): one random key per mailbox, with which the IMAP
//! server signs and checks URLAUTH URLs naming that mailbox's messages. Stored in the
//! `meta` database under `urlauth_key` + the mailbox id (4 bytes, big-endian), value the
//! key's [`URLAUTH_KEY_BYTES`] bytes. No schema change: earlier code reads `meta` only by
//! its own key names and never walks it, so it ignores these entries.
//!
//! A key is made the first time GENURLAUTH needs it (the caller draws it from the system
//! random source, the account actor stores it: [`AccountStore::urlauth_key_or_insert`]);
//! RESETKEY removes keys ([`AccountStore::remove_urlauth_keys`]), so every URL signed
//! with them stops working and the next GENURLAUTH makes a new one. Keyed by id, a key
//! follows its mailbox through RENAME; DELETE removes it in its transaction
//! (`rename.rs`), so a later mailbox of the same name never honours old URLs.

use std::ops::Bound;

use heed::{RoTxn, RwTxn};

use crate::error::StorageError;
use crate::ids::MailboxId;
use crate::schema::Databases;
use crate::store::AccountStore;
use crate::view::{ReadView, mailbox_id_by_name};

/// Bytes of an access key: 256 random bits, the HMAC-SHA256 block's natural key size and
/// twice RFC 4467 §7's "at least 128 bits".
pub const URLAUTH_KEY_BYTES: usize = 32;

/// Prefix of the meta keys holding access keys.
const KEY_PREFIX: &[u8] = b"urlauth_key";

fn meta_key(mailbox: MailboxId) -> Vec<u8> {
    let mut key = KEY_PREFIX.to_vec();
    key.extend_from_slice(&mailbox.0.to_be_bytes());
    key
}

fn read_key(
    txn: &RoTxn<'_>,
    dbs: &Databases,
    mailbox: MailboxId,
) -> Result<Option<[u8; URLAUTH_KEY_BYTES]>, StorageError> {
    match dbs.meta.get(txn, &meta_key(mailbox))? {
        Some(value) => match <[u8; URLAUTH_KEY_BYTES]>::try_from(value) {
            Ok(key) => Ok(Some(key)),
            Err(_) => Err(StorageError::corrupt(format!(
                "urlauth key of mailbox {mailbox} has {} bytes",
                value.len()
            ))),
        },
        None => Ok(None),
    }
}

impl ReadView<'_> {
    /// The access key of `mailbox`, if GENURLAUTH made one since the last RESETKEY.
    pub fn urlauth_key(&self, mailbox: MailboxId) -> Result<Option<[u8; URLAUTH_KEY_BYTES]>, StorageError> {
        read_key(self.txn, self.dbs, mailbox)
    }
}

impl AccountStore {
    /// The access key of the mailbox named `mailbox`, storing `fresh` as its key when it
    /// has none. Errors: [`StorageError::NoSuchMailbox`].
    pub fn urlauth_key_or_insert(
        &self,
        mailbox: &str,
        fresh: [u8; URLAUTH_KEY_BYTES],
    ) -> Result<(MailboxId, [u8; URLAUTH_KEY_BYTES]), StorageError> {
        let writer = self.begin_write()?;
        let result = self.lmdb.write(&writer, |wtxn| {
            let id = mailbox_id_by_name(wtxn, &self.dbs, mailbox)?.ok_or(StorageError::NoSuchMailbox)?;
            if let Some(key) = read_key(wtxn, &self.dbs, id)? {
                return Ok((id, key));
            }
            self.dbs.meta.put(wtxn, &meta_key(id), &fresh)?;
            Ok((id, fresh))
        });
        drop(writer);
        result
    }

    /// RESETKEY (RFC 4467 §4): removes the access key of the mailbox named `mailbox`, or
    /// (`None`) of every mailbox. Errors: [`StorageError::NoSuchMailbox`].
    pub fn remove_urlauth_keys(&self, mailbox: Option<&str>) -> Result<(), StorageError> {
        let writer = self.begin_write()?;
        let result = self.lmdb.write(&writer, |wtxn| match mailbox {
            Some(name) => {
                let id = mailbox_id_by_name(wtxn, &self.dbs, name)?.ok_or(StorageError::NoSuchMailbox)?;
                self.dbs.meta.delete(wtxn, &meta_key(id))?;
                Ok(())
            }
            None => {
                let (first, last) = (meta_key(MailboxId(0)), meta_key(MailboxId(u32::MAX)));
                self.dbs
                    .meta
                    .delete_range(wtxn, &(Bound::Included(&first[..]), Bound::Included(&last[..])))?;
                Ok(())
            }
        });
        drop(writer);
        result
    }
}

/// Removes the key of `mailbox` (the mailbox is being deleted).
pub(crate) fn delete_mailbox(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    mailbox: MailboxId,
) -> Result<(), StorageError> {
    dbs.meta.delete(wtxn, &meta_key(mailbox))?;
    Ok(())
}

/// Consistency: every key belongs to an existing mailbox and has the right length.
pub(crate) fn check(txn: &RoTxn<'_>, dbs: &Databases) -> Result<Vec<String>, StorageError> {
    let mut problems = Vec::new();
    let (first, last) = (meta_key(MailboxId(0)), meta_key(MailboxId(u32::MAX)));
    for entry in dbs.meta.range(txn, &(Bound::Included(&first[..]), Bound::Included(&last[..])))? {
        let (key, value) = entry?;
        let Some(id) = key.get(KEY_PREFIX.len()..).and_then(|id| <[u8; 4]>::try_from(id).ok()) else {
            problems.push(format!("meta key {key:?} looks like an urlauth key but is not one"));
            continue;
        };
        let id = u32::from_be_bytes(id);
        if dbs.mailboxes.get(txn, &id.to_be_bytes())?.is_none() {
            problems.push(format!("urlauth key of mailbox {id}, which does not exist"));
        }
        if value.len() != URLAUTH_KEY_BYTES {
            problems.push(format!("urlauth key of mailbox {id} has {} bytes", value.len()));
        }
    }
    Ok(problems)
}
