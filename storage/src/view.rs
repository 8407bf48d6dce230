//! Reads: [`ReadView`], the caller's window on one read transaction, and the lookups the
//! write paths share with it.
//!
//! Every record read is validated (rkyv check plus agreement with its key) before use;
//! a failure is [`StorageError::Corrupt`], never a panic.

use std::borrow::Cow;
use std::ops::{Bound, ControlFlow};

use heed::{RoTxn, RwTxn};

use crate::credentials::{StoredCredentials, read_credentials};
use crate::error::StorageError;
use crate::ids::{MailboxId, MessageId, ModSeq, Uid};
use crate::keys;
use crate::mailbox::MailboxInfo;
use crate::names::canonical_mailbox_name;
use crate::records::{
    ArchivedMessageRecord, MailboxRecord, MessageInfo, StoredMessage, access_message, decode_mailbox,
    encode_mailbox,
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

/// The first mailbox (by id) with special use `usage`. Walks the mailbox table, which
/// `MAILBOXES_MAX` bounds.
pub(crate) fn mailbox_with_special_use(
    txn: &RoTxn<'_>,
    dbs: &Databases,
    usage: crate::flags::SpecialUse,
) -> Result<Option<MailboxId>, StorageError> {
    for entry in dbs.mailboxes.iter(txn)? {
        let (key, value) = entry?;
        let id = keys::decode_mailbox_key(key)?;
        if decode_mailbox(id, value)?.special_use()? == Some(usage) {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// The id of the mailbox named `name` (INBOX and the `INBOX/` prefix in any case). A
/// name that is not valid today is looked up as given: schema 1 stored `inbox/a` as is.
pub(crate) fn mailbox_id_by_name(
    txn: &RoTxn<'_>,
    dbs: &Databases,
    name: &str,
) -> Result<Option<MailboxId>, StorageError> {
    let canonical = canonical_mailbox_name(name).unwrap_or(Cow::Borrowed(name));
    let mut found = dbs.mailbox_names.get(txn, canonical.as_bytes())?;
    if found.is_none() && canonical != name {
        found = dbs.mailbox_names.get(txn, name.as_bytes())?;
    }
    found.map(keys::decode_mailbox_key).transpose()
}

/// The validated record of message `id`, in place.
pub(crate) fn message_record<'t>(
    txn: &'t RoTxn<'_>,
    dbs: &Databases,
    id: MessageId,
) -> Result<Option<StoredMessage<'t>>, StorageError> {
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
) -> Result<Option<StoredMessage<'t>>, StorageError> {
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
fn visit_messages(
    txn: &RoTxn<'_>,
    dbs: &Databases,
    mailbox: MailboxId,
    (first, last): (Uid, Uid),
    mut f: impl FnMut(&ArchivedMessageRecord) -> ControlFlow<()>,
) -> Result<(), StorageError> {
    visit_uid_range(txn, dbs, mailbox, (first, last), |_| true, |record| record.with_current(&mut f))
}

/// Walks the uid index of `mailbox` over `[first, last]` in one cursor pass; for each
/// UID that `wanted` accepts, validates the record and hands it to `f`.
fn visit_uid_range<'t>(
    txn: &'t RoTxn<'_>,
    dbs: &Databases,
    mailbox: MailboxId,
    (first, last): (Uid, Uid),
    mut wanted: impl FnMut(Uid) -> bool,
    mut f: impl FnMut(StoredMessage<'t>) -> Result<ControlFlow<()>, StorageError>,
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
        if !wanted(uid) {
            continue;
        }
        let id = keys::decode_message_key(value)?;
        let record = message_record(txn, dbs, id)?
            .ok_or_else(|| StorageError::corrupt(format!("uid index -> message {id} without record")))?;
        if record.mailbox() != key_mailbox || record.uid() != uid {
            return Err(StorageError::corrupt(format!(
                "uid index ({key_mailbox}, {uid}) -> message {id} recorded elsewhere"
            )));
        }
        if f(record)?.is_break() {
            break;
        }
    }
    Ok(())
}

/// [`ReadView::for_each_uid`] walks the uid index range when the wanted UIDs are at least
/// 1 in this many of the range (a sequential step costs ~0.1 µs, a lookup from the root
/// ~0.5-1 µs), and looks each UID up otherwise (`1,100000` must not walk 100k entries).
const UID_RANGE_SPAN_PER_WANTED_MAX: u64 = 8;

/// `uids` sorted ascending without duplicates, copied only when it is not already.
pub(crate) fn sorted_unique(uids: &[Uid]) -> Cow<'_, [Uid]> {
    if uids.windows(2).all(|pair| pair[0] < pair[1]) {
        return Cow::Borrowed(uids);
    }
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    Cow::Owned(sorted)
}

/// The caller's window on one read transaction (see [`crate::AccountStore::read`]). It
/// cannot outlive the transaction, nor can anything borrowed from it.
pub struct ReadView<'t> {
    pub(crate) txn: &'t RoTxn<'t>,
    pub(crate) dbs: &'t Databases,
}

impl<'t> ReadView<'t> {
    pub(crate) fn new(txn: &'t RoTxn<'t>, dbs: &'t Databases) -> Self {
        ReadView { txn, dbs }
    }

    /// The account's credentials (see [`crate::AccountStore::credentials`]).
    pub(crate) fn credentials(&self) -> Result<Option<StoredCredentials>, StorageError> {
        read_credentials(self.txn, self.dbs)
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
        Ok(message_record(self.txn, self.dbs, id)?.map(StoredMessage::to_info))
    }

    /// The message with this UID in `mailbox`.
    pub fn message_by_uid(&self, mailbox: MailboxId, uid: Uid) -> Result<Option<MessageInfo>, StorageError> {
        Ok(message_record_by_uid(self.txn, self.dbs, mailbox, uid)?.map(StoredMessage::to_info))
    }

    /// The record of (mailbox, uid) as it was when another session expunged or moved it,
    /// kept while some session may still show the message (deferred removal, see
    /// [`crate::Views`]); its summary ([`ReadView::summary`]) and file are kept too.
    /// `None` for a live message (use [`ReadView::message_by_uid`]) or one purged.
    pub fn expunged_message(
        &self,
        mailbox: MailboxId,
        uid: Uid,
    ) -> Result<Option<MessageInfo>, StorageError> {
        crate::expunged::message(self.txn, self.dbs, mailbox, uid)
    }

    /// The summary stored with message `id` at delivery (opaque bytes, see
    /// [`crate::NewMessage::summary`]), borrowed from the transaction. `None` when the
    /// message has none (delivered without, too large, or older than schema 2) or does
    /// not exist.
    pub fn summary(&self, id: MessageId) -> Result<Option<&[u8]>, StorageError> {
        Ok(self.dbs.summaries.get(self.txn, &keys::message_key(id))?)
    }

    /// The message's text signature (`textsigs.rs`), borrowed from the transaction;
    /// `None` when it has none.
    pub fn text_signature(&self, id: MessageId) -> Result<Option<&[u8]>, StorageError> {
        Ok(self.dbs.textsigs.get(self.txn, &keys::message_key(id))?)
    }

    /// The `sortkeys` entries of `mailbox` with UIDs in `[first, last]`, in UID order,
    /// borrowed from the transaction (`sortkeys.rs`). Messages without an entry are not
    /// visited; an entry exists only for a live message.
    pub fn for_each_sort_keys(
        &self,
        mailbox: MailboxId,
        first: Uid,
        last: Uid,
        f: impl FnMut(crate::SortKeysEntry<'t>) -> ControlFlow<()>,
    ) -> Result<(), StorageError> {
        crate::sortkeys::visit(self.txn, self.dbs, mailbox, (first, last), f)
    }

    /// The subscribed mailbox names (RFC 9051 §6.3.7 SUBSCRIBE), sorted by bytes. They
    /// need not exist as mailboxes.
    pub fn subscriptions(&self) -> Result<Vec<String>, StorageError> {
        let mut names = Vec::new();
        for entry in self.dbs.subscriptions.iter(self.txn)? {
            let (name, _) = entry?;
            let name = std::str::from_utf8(name)
                .map_err(|_| StorageError::corrupt("subscription name is not UTF-8"))?;
            names.push(name.to_string());
        }
        Ok(names)
    }

    /// All UIDs of `mailbox` in ascending order, from the uid index keys alone (no
    /// record is read). An unknown mailbox has none.
    pub fn uids(&self, mailbox: MailboxId) -> Result<Vec<Uid>, StorageError> {
        let expected = mailbox_record(self.txn, self.dbs, mailbox)?.map_or(0, |record| record.messages);
        let mut uids = Vec::with_capacity(usize::try_from(expected).unwrap_or(0));
        for entry in self.dbs.uids.prefix_iter(self.txn, &keys::mailbox_key(mailbox))? {
            let (key, _) = entry?;
            let (_, uid) = keys::decode_uid_key(key)?;
            uids.push(uid);
        }
        Ok(uids)
    }

    /// Visits the records of the messages `uids` of `mailbox` in place (validated), in
    /// UID order; UIDs without a message are skipped, `f` stops the walk with
    /// `ControlFlow::Break`. `uids` should be sorted ascending (it is sorted here
    /// otherwise). A dense list is served by one cursor pass over the uid index, a
    /// sparse one by a lookup per UID (see `UID_RANGE_SPAN_PER_WANTED_MAX`).
    pub fn for_each_uid(
        &self,
        mailbox: MailboxId,
        uids: &[Uid],
        mut f: impl FnMut(&ArchivedMessageRecord) -> ControlFlow<()>,
    ) -> Result<(), StorageError> {
        let uids = sorted_unique(uids);
        let (Some(&first), Some(&last)) = (uids.first(), uids.last()) else {
            return Ok(());
        };
        let span = u64::from(last.0 - first.0) + 1;
        if span <= (uids.len() as u64).saturating_mul(UID_RANGE_SPAN_PER_WANTED_MAX) {
            let mut next = 0;
            let wanted = |uid: Uid| {
                while uids.get(next).is_some_and(|&want| want < uid) {
                    next += 1;
                }
                uids.get(next) == Some(&uid)
            };
            return visit_uid_range(self.txn, self.dbs, mailbox, (first, last), wanted, |record| {
                record.with_current(&mut f)
            });
        }
        for &uid in uids.iter() {
            if let Some(record) = message_record_by_uid(self.txn, self.dbs, mailbox, uid)?
                && record.with_current(&mut f)?.is_break()
            {
                break;
            }
        }
        Ok(())
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
        visit_uid_range(
            self.txn,
            self.dbs,
            mailbox,
            (first, last),
            |_| true,
            |record| {
                infos.push(record.to_info());
                Ok(ControlFlow::Continue(()))
            },
        )?;
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
        visit_messages(self.txn, self.dbs, mailbox, (first, last), f)
    }

    /// (UID, modseq) of the messages of `mailbox` changed after `modseq` (RFC 7162 §3.1
    /// CHANGEDSINCE), in modseq order. Delivery counts as a change.
    pub fn changed_since(
        &self,
        mailbox: MailboxId,
        modseq: ModSeq,
    ) -> Result<Vec<(Uid, ModSeq)>, StorageError> {
        Ok(self.changed_since_at_most(mailbox, modseq, usize::MAX)?.unwrap_or_default())
    }

    /// [`ReadView::changed_since`], or `None` when more than `max` messages changed
    /// (reads at most `max + 1` index entries): lets a caller do a small read here and
    /// a large one elsewhere.
    pub fn changed_since_at_most(
        &self,
        mailbox: MailboxId,
        modseq: ModSeq,
        max: usize,
    ) -> Result<Option<Vec<(Uid, ModSeq)>>, StorageError> {
        let Some(after) = modseq.0.checked_add(1) else {
            return Ok(Some(Vec::new()));
        };
        let start = keys::modseq_key(mailbox, ModSeq(after), Uid(0));
        let end = keys::modseq_key(mailbox, ModSeq(u64::MAX), Uid(u32::MAX));
        let range = (Bound::Included(&start[..]), Bound::Included(&end[..]));
        let mut changed = Vec::new();
        for entry in self.dbs.modseqs.range(self.txn, &range)? {
            if changed.len() == max {
                return Ok(None);
            }
            let (key, _) = entry?;
            let (_, change, uid) = keys::decode_modseq_key(key)?;
            changed.push((uid, change));
        }
        Ok(Some(changed))
    }

    /// The UIDs a CHANGEDSINCE `modseq` FETCH can report (RFC 7162 §3.1.4): messages of
    /// `mailbox` changed after it, and messages expunged after it (a session that has not
    /// yet seen such an expunge still shows the message), sorted; `None` when there are
    /// more than `max` (the caller then walks its whole set, as for a FETCH without it).
    /// Reads only the changes, from the modseq and tombstone indexes: a mobile client's
    /// sync of a 100k mailbox costs what changed, not the mailbox.
    pub fn changed_uids_since(
        &self,
        mailbox: MailboxId,
        modseq: ModSeq,
        max: usize,
    ) -> Result<Option<Vec<u32>>, StorageError> {
        let Some(after) = modseq.0.checked_add(1) else {
            return Ok(Some(Vec::new()));
        };
        let start = keys::modseq_key(mailbox, ModSeq(after), Uid(0));
        let end = keys::modseq_key(mailbox, ModSeq(u64::MAX), Uid(u32::MAX));
        let mut uids = Vec::new();
        for db in [&self.dbs.modseqs, &self.dbs.vanished] {
            for entry in db.range(self.txn, &(Bound::Included(&start[..]), Bound::Included(&end[..])))? {
                let (key, _) = entry?;
                if uids.len() == max {
                    return Ok(None);
                }
                let (_, _, uid) = keys::decode_modseq_key(key)?;
                uids.push(uid.0);
            }
        }
        uids.sort_unstable();
        uids.dedup();
        Ok(Some(uids))
    }

    /// (UID, modseq of the expunge) of the messages of `mailbox` expunged after `modseq`
    /// (RFC 7162 §3.2, VANISHED (EARLIER)), in UID order.
    pub fn expunged_since(
        &self,
        mailbox: MailboxId,
        modseq: ModSeq,
    ) -> Result<Vec<(Uid, ModSeq)>, StorageError> {
        Ok(crate::tombstones::since(self.txn, self.dbs, mailbox, modseq, usize::MAX)?.unwrap_or_default())
    }

    /// [`ReadView::expunged_since`], or `None` when more than `max` messages were
    /// expunged (reads at most `max + 1` index entries).
    pub fn expunged_since_at_most(
        &self,
        mailbox: MailboxId,
        modseq: ModSeq,
        max: usize,
    ) -> Result<Option<Vec<(Uid, ModSeq)>>, StorageError> {
        crate::tombstones::since(self.txn, self.dbs, mailbox, modseq, max)
    }
}
