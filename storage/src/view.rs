//! Reads: [`ReadView`], the caller's window on one read transaction, and the lookups the
//! write paths share with it.
//!
//! Every record read is validated (rkyv check plus agreement with its key) before use;
//! a failure is [`StorageError::Corrupt`], never a panic.

use std::ops::{Bound, ControlFlow};

use heed::{RoTxn, RwTxn};

use crate::error::StorageError;
use crate::ids::{MailboxId, MessageId, ModSeq, Uid};
use crate::keys;
use crate::mailbox::MailboxInfo;
use crate::names::INBOX;
use crate::records::{
    ArchivedMessageRecord, MailboxRecord, MessageInfo, access_message, decode_mailbox, encode_mailbox,
};
use crate::schema::Databases;

/// Reads a required u32 counter from `meta`.
pub(crate) fn meta_u32(txn: &RoTxn<'_>, dbs: &Databases, key: &[u8]) -> Result<u32, StorageError> {
    let what = String::from_utf8_lossy(key);
    let bytes =
        dbs.meta.get(txn, key)?.ok_or_else(|| StorageError::corrupt(format!("meta {what} missing")))?;
    keys::decode_u32(bytes, &what)
}

/// Reads a required u64 counter from `meta`.
pub(crate) fn meta_u64(txn: &RoTxn<'_>, dbs: &Databases, key: &[u8]) -> Result<u64, StorageError> {
    let what = String::from_utf8_lossy(key);
    let bytes =
        dbs.meta.get(txn, key)?.ok_or_else(|| StorageError::corrupt(format!("meta {what} missing")))?;
    keys::decode_u64(bytes, &what)
}

pub(crate) fn put_meta_u32(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    key: &[u8],
    value: u32,
) -> Result<(), StorageError> {
    Ok(dbs.meta.put(wtxn, key, &value.to_be_bytes())?)
}

pub(crate) fn put_meta_u64(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    key: &[u8],
    value: u64,
) -> Result<(), StorageError> {
    Ok(dbs.meta.put(wtxn, key, &value.to_be_bytes())?)
}

pub(crate) fn mailbox_record(
    txn: &RoTxn<'_>,
    dbs: &Databases,
    id: MailboxId,
) -> Result<Option<MailboxRecord>, StorageError> {
    dbs.mailboxes.get(txn, &keys::mailbox_key(id))?.map(|value| decode_mailbox(id, value)).transpose()
}

pub(crate) fn put_mailbox(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    record: &MailboxRecord,
) -> Result<(), StorageError> {
    let key = keys::mailbox_key(MailboxId(record.id));
    Ok(dbs.mailboxes.put(wtxn, &key, &encode_mailbox(record)?)?)
}

/// The id of the mailbox named `name` (INBOX in any case).
pub(crate) fn mailbox_id_by_name(
    txn: &RoTxn<'_>,
    dbs: &Databases,
    name: &str,
) -> Result<Option<MailboxId>, StorageError> {
    let name = if name.eq_ignore_ascii_case(INBOX) { INBOX } else { name };
    dbs.mailbox_names.get(txn, name.as_bytes())?.map(keys::decode_mailbox_key).transpose()
}

/// The validated record of message `id`, in place.
pub(crate) fn message_record<'t>(
    txn: &'t RoTxn<'_>,
    dbs: &Databases,
    id: MessageId,
) -> Result<Option<&'t ArchivedMessageRecord>, StorageError> {
    dbs.messages.get(txn, &keys::message_key(id))?.map(|value| access_message(id, value)).transpose()
}

pub(crate) fn message_id_by_uid(
    txn: &RoTxn<'_>,
    dbs: &Databases,
    mailbox: MailboxId,
    uid: Uid,
) -> Result<Option<MessageId>, StorageError> {
    dbs.uids.get(txn, &keys::uid_key(mailbox, uid))?.map(keys::decode_message_key).transpose()
}

/// The record behind (mailbox, uid), checked to agree with that key.
pub(crate) fn message_record_by_uid<'t>(
    txn: &'t RoTxn<'_>,
    dbs: &Databases,
    mailbox: MailboxId,
    uid: Uid,
) -> Result<Option<&'t ArchivedMessageRecord>, StorageError> {
    let Some(id) = message_id_by_uid(txn, dbs, mailbox, uid)? else {
        return Ok(None);
    };
    let record = message_record(txn, dbs, id)?.ok_or_else(|| {
        StorageError::corrupt(format!("uid index ({mailbox}, {uid}) -> message {id} without record"))
    })?;
    if record.mailbox() != mailbox || record.uid() != uid {
        return Err(StorageError::corrupt(format!(
            "uid index ({mailbox}, {uid}) -> message {id} recorded as ({}, {})",
            record.mailbox(),
            record.uid()
        )));
    }
    Ok(Some(record))
}

/// Visits the messages of `mailbox` with UIDs in `[first, last]`, in UID order.
pub(crate) fn visit_messages<'t>(
    txn: &'t RoTxn<'_>,
    dbs: &Databases,
    mailbox: MailboxId,
    first: Uid,
    last: Uid,
    mut f: impl FnMut(&'t ArchivedMessageRecord) -> ControlFlow<()>,
) -> Result<(), StorageError> {
    if first > last {
        return Ok(());
    }
    let start = keys::uid_key(mailbox, first);
    let end = keys::uid_key(mailbox, last);
    let range = (Bound::Included(&start[..]), Bound::Included(&end[..]));
    for entry in dbs.uids.range(txn, &range)? {
        let (key, value) = entry?;
        let (key_mailbox, uid) = keys::decode_uid_key(key)?;
        let id = keys::decode_message_key(value)?;
        let record = message_record(txn, dbs, id)?
            .ok_or_else(|| StorageError::corrupt(format!("uid index -> message {id} without record")))?;
        if record.mailbox() != key_mailbox || record.uid() != uid {
            return Err(StorageError::corrupt(format!(
                "uid index ({key_mailbox}, {uid}) -> message {id} recorded elsewhere"
            )));
        }
        if f(record).is_break() {
            break;
        }
    }
    Ok(())
}

/// The caller's window on one read transaction (see [`crate::AccountStore::read`]). It
/// cannot outlive the transaction, nor can anything borrowed from it.
pub struct ReadView<'t> {
    txn: &'t RoTxn<'t>,
    dbs: &'t Databases,
}

impl<'t> ReadView<'t> {
    pub(crate) fn new(txn: &'t RoTxn<'t>, dbs: &'t Databases) -> Self {
        ReadView { txn, dbs }
    }

    /// The stored PHC string of the account password, if one is set.
    pub(crate) fn password_hash(&self) -> Result<Option<String>, StorageError> {
        self.dbs
            .meta
            .get(self.txn, keys::META_PASSWORD)?
            .map(|bytes| {
                String::from_utf8(bytes.to_vec())
                    .map_err(|_| StorageError::corrupt("password hash is not UTF-8"))
            })
            .transpose()
    }

    /// The account's modseq counter: the highest mod-sequence ever assigned (1 when
    /// nothing changed yet).
    pub fn highest_modseq(&self) -> Result<ModSeq, StorageError> {
        meta_u64(self.txn, self.dbs, keys::META_HIGHEST_MODSEQ).map(ModSeq)
    }

    /// Every mailbox, in id order.
    pub fn mailboxes(&self) -> Result<Vec<MailboxInfo>, StorageError> {
        let mut all = Vec::new();
        for entry in self.dbs.mailboxes.iter(self.txn)? {
            let (key, value) = entry?;
            let id = keys::decode_mailbox_key(key)?;
            all.push(decode_mailbox(id, value)?.to_info()?);
        }
        Ok(all)
    }

    /// The mailbox with this id.
    pub fn mailbox(&self, id: MailboxId) -> Result<Option<MailboxInfo>, StorageError> {
        mailbox_record(self.txn, self.dbs, id)?.map(|record| record.to_info()).transpose()
    }

    /// The mailbox with this name; "INBOX" in any case is the inbox, other names are
    /// case-sensitive.
    pub fn mailbox_by_name(&self, name: &str) -> Result<Option<MailboxInfo>, StorageError> {
        match mailbox_id_by_name(self.txn, self.dbs, name)? {
            Some(id) => {
                let info = self.mailbox(id)?;
                if info.is_none() {
                    return Err(StorageError::corrupt(format!(
                        "mailbox name {name:?} -> {id} without record"
                    )));
                }
                Ok(info)
            }
            None => Ok(None),
        }
    }

    /// The message with this id.
    pub fn message(&self, id: MessageId) -> Result<Option<MessageInfo>, StorageError> {
        Ok(message_record(self.txn, self.dbs, id)?.map(ArchivedMessageRecord::to_info))
    }

    /// The message with this UID in `mailbox`.
    pub fn message_by_uid(&self, mailbox: MailboxId, uid: Uid) -> Result<Option<MessageInfo>, StorageError> {
        Ok(message_record_by_uid(self.txn, self.dbs, mailbox, uid)?.map(ArchivedMessageRecord::to_info))
    }

    /// Owned copies of the messages with UIDs in `[first, last]`, in UID order. Hot paths
    /// use [`ReadView::for_each_message`], which copies nothing.
    pub fn messages(
        &self,
        mailbox: MailboxId,
        first: Uid,
        last: Uid,
    ) -> Result<Vec<MessageInfo>, StorageError> {
        let mut infos = Vec::new();
        visit_messages(self.txn, self.dbs, mailbox, first, last, |record| {
            infos.push(record.to_info());
            ControlFlow::Continue(())
        })?;
        Ok(infos)
    }

    /// Visits the archived records with UIDs in `[first, last]` in place (validated), in
    /// UID order; `f` stops the walk with `ControlFlow::Break`.
    pub fn for_each_message(
        &self,
        mailbox: MailboxId,
        first: Uid,
        last: Uid,
        f: impl FnMut(&ArchivedMessageRecord) -> ControlFlow<()>,
    ) -> Result<(), StorageError> {
        visit_messages(self.txn, self.dbs, mailbox, first, last, f)
    }

    /// (UID, modseq) of the messages of `mailbox` changed after `modseq` (RFC 7162 §3.1
    /// CHANGEDSINCE), in modseq order. Delivery counts as a change.
    pub fn changed_since(
        &self,
        mailbox: MailboxId,
        modseq: ModSeq,
    ) -> Result<Vec<(Uid, ModSeq)>, StorageError> {
        let Some(after) = modseq.0.checked_add(1) else {
            return Ok(Vec::new());
        };
        let start = keys::modseq_key(mailbox, ModSeq(after), Uid(0));
        let end = keys::modseq_key(mailbox, ModSeq(u64::MAX), Uid(u32::MAX));
        let range = (Bound::Included(&start[..]), Bound::Included(&end[..]));
        let mut changed = Vec::new();
        for entry in self.dbs.modseqs.range(self.txn, &range)? {
            let (key, _) = entry?;
            let (_, change, uid) = keys::decode_modseq_key(key)?;
            changed.push((uid, change));
        }
        Ok(changed)
    }

    /// (UID, modseq of the expunge) of the messages of `mailbox` expunged after `modseq`
    /// (RFC 7162 §3.2, VANISHED (EARLIER)), in UID order.
    pub fn expunged_since(
        &self,
        mailbox: MailboxId,
        modseq: ModSeq,
    ) -> Result<Vec<(Uid, ModSeq)>, StorageError> {
        let mut expunged = Vec::new();
        for entry in self.dbs.tombstones.prefix_iter(self.txn, &keys::mailbox_key(mailbox))? {
            let (key, value) = entry?;
            let (_, uid) = keys::decode_uid_key(key)?;
            let when = ModSeq(keys::decode_u64(value, "tombstone")?);
            if when > modseq {
                expunged.push((uid, when));
            }
        }
        Ok(expunged)
    }
}
