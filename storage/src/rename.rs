//! RENAME (RFC 9051 §6.3.6) and DELETE (RFC 9051 §6.3.5) of mailboxes.
//!
//! RENAME keeps each mailbox's id, UIDVALIDITY, special use and messages, and renames
//! its children with it; renaming INBOX is special (RFC 9051 §6.3.6): a new mailbox
//! takes INBOX's messages (MOVE semantics: new UIDs there, tombstones in INBOX), INBOX
//! stays, empty, and keeps its children. DELETE removes a mailbox without children with
//! its messages, index entries, summaries and tombstones; the files go after the commit
//! (as for expunge). Neither touches subscriptions (RFC 9051 §6.3.7).
//!
//! Invariants: `mailboxes` and `mailbox_names` agree after each transaction; a mailbox
//! id is never reused, so a deleted mailbox's UIDVALIDITY never comes back.

use std::ops::Bound;

use heed::RwTxn;

use crate::change::Expunged;
use crate::copy::{Copied, move_in};
use crate::error::StorageError;
use crate::ids::{MailboxId, MessageId, Uid};
use crate::keys;
use crate::mailbox::{MailboxInfo, MailboxLimits, has_children, insert_mailbox, insert_parents};
use crate::names::{INBOX, canonical_mailbox_name, children_prefix};
use crate::records::MailboxRecord;
use crate::schema::Databases;
use crate::store::AccountStore;
use crate::tombstones;
use crate::view::{mailbox_id_by_name, mailbox_record, message_record, put_mailbox};

/// A RENAME done: the mailboxes as [`AccountStore::rename_mailbox`] returns them, and for
/// INBOX the messages it moved.
#[derive(Debug)]
pub struct Renamed {
    /// Created, then renamed mailboxes, as they are now.
    pub mailboxes: Vec<MailboxInfo>,
    /// INBOX's messages, moved to the new mailbox (only when INBOX was renamed).
    pub moved: Option<InboxMoved>,
}

/// What a RENAME of INBOX moved: MOVE's two halves (RFC 9051 §6.3.6).
#[derive(Debug)]
pub struct InboxMoved {
    /// INBOX, where the messages are now expunged.
    pub inbox: MailboxId,
    /// The new mailbox that took them.
    pub to: MailboxId,
    /// The messages in the new mailbox.
    pub copied: Copied,
    /// INBOX's tombstones.
    pub expunged: Vec<Expunged>,
}

impl AccountStore {
    /// RENAME: the mailbox `from` and all its children (names under `from/`) get the
    /// name `to` (children `to/...`), keeping ids, UIDVALIDITY, special use and messages.
    /// Missing ancestors of `to` are created (RFC 9051 §6.3.6 SHOULD).
    ///
    /// Renaming INBOX creates `to`, moves every INBOX message there (new UIDs, tombstones
    /// in INBOX, SAVEDATE kept) and leaves INBOX empty; children of INBOX are not renamed.
    /// The caller learns INBOX's expunges from [`crate::ReadView::expunged_since`].
    ///
    /// Returns the mailboxes created (ancestors, outermost first; for INBOX also `to`,
    /// last), then the renamed ones (`to` first, then its children by name), as they are
    /// now. Errors: [`StorageError::NoSuchMailbox`] (`from`), [`StorageError::MailboxExists`]
    /// (`to`, or a child's new name, exists; `to` is INBOX),
    /// [`StorageError::InvalidMailboxName`] (`to` is invalid, lies under `from`, or makes a
    /// child's name too long), [`StorageError::MailboxLimit`] (`to` or a child's new name
    /// is too deep, or the parents to create would pass the number of mailboxes). One
    /// transaction: on error nothing changed.
    pub fn rename_mailbox(&self, from: &str, to: &str) -> Result<Vec<MailboxInfo>, StorageError> {
        Ok(self.rename_mailbox_moving(from, to)?.mailboxes)
    }

    /// As [`AccountStore::rename_mailbox`], and for INBOX also what moved: the account
    /// actor publishes those as a MOVE's changes, so sessions showing INBOX see the
    /// expunges at once and NOTIFY reports the new mailbox's messages (RFC 5465 §5.2,
    /// §5.3).
    pub fn rename_mailbox_moving(&self, from: &str, to: &str) -> Result<Renamed, StorageError> {
        let to = canonical_mailbox_name(to)?;
        self.mailbox_limits.check_depth(&to)?;
        let writer = self.begin_write()?;
        let renamed = self.lmdb.write(&writer, |wtxn| {
            let id = mailbox_id_by_name(wtxn, &self.dbs, from)?.ok_or(StorageError::NoSuchMailbox)?;
            let record = mailbox_record(wtxn, &self.dbs, id)?.ok_or_else(|| {
                StorageError::corrupt(format!("mailbox name {from:?} -> {id} without record"))
            })?;
            let before = self.dbs.mailbox_names.len(wtxn)?;
            let (records, moved) = if record.name == INBOX {
                let (records, moved) = rename_inbox_in(wtxn, &self.dbs, record, &to)?;
                (records, Some(moved))
            } else {
                (rename_in(wtxn, &self.dbs, record, &to, &self.mailbox_limits)?, None)
            };
            self.mailbox_limits.check_count(wtxn, &self.dbs, before)?;
            // Inside the transaction, so that no error follows the commit.
            let mailboxes = records.iter().map(MailboxRecord::to_info).collect::<Result<Vec<_>, _>>()?;
            Ok(Renamed { mailboxes, moved })
        })?;
        // Renaming INBOX moves its messages, which keeps their INBOX records for the
        // sessions showing INBOX (`expunged.rs`); the next purge looks for them.
        self.note_kept(crate::ids::ModSeq(1));
        drop(writer);
        Ok(renamed)
    }

    /// DELETE: removes the mailbox `name` with its messages (records, index entries,
    /// summaries; the files are unlinked after the commit), its tombstones and its
    /// METADATA entries (RFC 5464 §3.2: they go with the mailbox), and returns
    /// it as it was. Subscriptions stay (RFC 9051 §6.3.7). Errors:
    /// [`StorageError::NoSuchMailbox`], [`StorageError::CannotDeleteInbox`],
    /// [`StorageError::HasChildren`] (RFC 9051 §6.3.5 lets a server refuse; the IMAP
    /// response code is HASCHILDREN).
    pub fn delete_mailbox(&self, name: &str) -> Result<MailboxInfo, StorageError> {
        let writer = self.begin_write()?;
        let (info, removed) = self.lmdb.write(&writer, |wtxn| {
            let (record, removed) = delete_in(wtxn, &self.dbs, name)?;
            // Inside the transaction, so that no error follows the commit.
            Ok((record.to_info()?, removed))
        })?;
        self.remove_message_files(removed.iter().copied());
        drop(writer);
        Ok(info)
    }
}

/// RENAME of a mailbox other than INBOX, inside the caller's transaction.
fn rename_in(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    record: MailboxRecord,
    to: &str,
    limits: &MailboxLimits,
) -> Result<Vec<MailboxRecord>, StorageError> {
    let from = record.name.clone();
    if to == INBOX || to == from {
        return Err(StorageError::MailboxExists);
    }
    if to.starts_with(&children_prefix(&from)) {
        return Err(StorageError::InvalidMailboxName { name: to.to_string() });
    }
    let mut subtree = vec![record];
    for id in child_ids(wtxn, dbs, &from)? {
        let child = mailbox_record(wtxn, dbs, id)?
            .ok_or_else(|| StorageError::corrupt(format!("mailbox {id} named but without record")))?;
        subtree.push(child);
    }
    // Old names go first: a new name may be one the subtree is leaving (`a/b` -> `a`
    // turns `a/b/b` into `a/b`).
    for mailbox in &mut subtree {
        let new_name = format!("{to}{}", &mailbox.name[from.len()..]);
        canonical_mailbox_name(&new_name)?;
        limits.check_depth(&new_name)?;
        dbs.mailbox_names.delete(wtxn, mailbox.name.as_bytes())?;
        mailbox.name = new_name;
    }
    for mailbox in &subtree {
        if dbs.mailbox_names.get(wtxn, mailbox.name.as_bytes())?.is_some() {
            return Err(StorageError::MailboxExists);
        }
        dbs.mailbox_names.put(wtxn, mailbox.name.as_bytes(), &keys::mailbox_key(MailboxId(mailbox.id)))?;
        put_mailbox(wtxn, dbs, mailbox)?;
    }
    let mut changed = insert_parents(wtxn, dbs, to)?;
    changed.extend(subtree);
    Ok(changed)
}

/// Ids of the mailboxes named `name/...`, in name order.
fn child_ids(wtxn: &RwTxn<'_>, dbs: &Databases, name: &str) -> Result<Vec<MailboxId>, StorageError> {
    let prefix = children_prefix(name);
    let mut ids = Vec::new();
    for entry in dbs.mailbox_names.prefix_iter(wtxn, prefix.as_bytes())? {
        let (_, value) = entry?;
        ids.push(keys::decode_mailbox_key(value)?);
    }
    Ok(ids)
}

/// RENAME of INBOX (RFC 9051 §6.3.6): a new mailbox `to` takes all INBOX messages.
fn rename_inbox_in(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    inbox: MailboxRecord,
    to: &str,
) -> Result<(Vec<MailboxRecord>, InboxMoved), StorageError> {
    if to == INBOX || dbs.mailbox_names.get(wtxn, to.as_bytes())?.is_some() {
        return Err(StorageError::MailboxExists);
    }
    let mut created = insert_parents(wtxn, dbs, to)?;
    let target = MailboxId(insert_mailbox(wtxn, dbs, to, None)?.id);
    let inbox = MailboxId(inbox.id);
    let uids: Vec<Uid> = located_uids(wtxn, dbs, inbox)?.into_iter().map(|(uid, _)| uid).collect();
    let (copied, expunged) = move_in(wtxn, dbs, (inbox, &uids), target, None)?;
    assert_eq!(copied.pairs.len(), uids.len());
    let moved = InboxMoved { inbox, to: target, copied, expunged };
    let target = mailbox_record(wtxn, dbs, target)?
        .ok_or_else(|| StorageError::corrupt(format!("new mailbox {target} vanished")))?;
    created.push(target);
    Ok((created, moved))
}

/// (UID, message id) of every message of `mailbox`, from the uid index, in UID order.
fn located_uids(
    wtxn: &RwTxn<'_>,
    dbs: &Databases,
    mailbox: MailboxId,
) -> Result<Vec<(Uid, MessageId)>, StorageError> {
    let mut located = Vec::new();
    for entry in dbs.uids.prefix_iter(wtxn, &keys::mailbox_key(mailbox))? {
        let (key, value) = entry?;
        let (_, uid) = keys::decode_uid_key(key)?;
        located.push((uid, keys::decode_message_key(value)?));
    }
    Ok(located)
}

/// DELETE inside the caller's transaction; returns the record as it was and the ids
/// whose files must go after the commit.
fn delete_in(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    name: &str,
) -> Result<(MailboxRecord, Vec<MessageId>), StorageError> {
    let id = mailbox_id_by_name(wtxn, dbs, name)?.ok_or(StorageError::NoSuchMailbox)?;
    let record = mailbox_record(wtxn, dbs, id)?
        .ok_or_else(|| StorageError::corrupt(format!("mailbox name {name:?} -> {id} without record")))?;
    if record.name == INBOX {
        return Err(StorageError::CannotDeleteInbox);
    }
    if has_children(wtxn, dbs, &record.name)? {
        return Err(StorageError::HasChildren);
    }
    let located = located_uids(wtxn, dbs, id)?;
    for &(uid, message) in &located {
        let stored = message_record(wtxn, dbs, message)?.ok_or_else(|| {
            StorageError::corrupt(format!("uid index ({id}, {uid}) -> {message} without record"))
        })?;
        if stored.mailbox() != id || stored.uid() != uid {
            return Err(StorageError::corrupt(format!(
                "uid index ({id}, {uid}) -> {message} recorded elsewhere"
            )));
        }
        dbs.messages.delete(wtxn, &keys::message_key(message))?;
        dbs.summaries.delete(wtxn, &keys::message_key(message))?;
        crate::textsigs::remove(wtxn, dbs, message)?;
    }
    let (first, last) = keys::mailbox_key_bounds::<8>(id);
    let short = (Bound::Included(&first[..]), Bound::Included(&last[..]));
    let removed = dbs.uids.delete_range(wtxn, &short)?;
    crate::sortkeys::delete_mailbox(wtxn, dbs, id)?;
    tombstones::delete_mailbox(wtxn, dbs, id)?;
    crate::metadata::delete_mailbox(wtxn, dbs, id)?;
    crate::urlauth::delete_mailbox(wtxn, dbs, id)?;
    let (first, last) = keys::mailbox_key_bounds::<16>(id);
    dbs.modseqs.delete_range(wtxn, &(Bound::Included(&first[..]), Bound::Included(&last[..])))?;
    dbs.mailboxes.delete(wtxn, &keys::mailbox_key(id))?;
    dbs.mailbox_names.delete(wtxn, record.name.as_bytes())?;
    // The same transaction listed them: the range holds exactly those entries.
    assert_eq!(removed, located.len());
    Ok((record, located.into_iter().map(|(_, message)| message).collect()))
}
