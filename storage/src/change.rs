//! Changes to existing messages: flags (RFC 9051 §6.4.6 STORE, with RFC 7162 §3.1
//! mod-sequences and RFC 7162 §3.1.3 UNCHANGEDSINCE) and expunge (RFC 9051 §6.4.3, with
//! RFC 7162 §3.2 tombstones for QRESYNC).
//!
//! Invariants: every changed or expunged message takes the next account modseq, and its
//! mailbox's highest modseq follows; counts (messages, unseen, deleted, size) are updated
//! in the same transaction; an expunged message's record is kept (with its summary and
//! file) until no session view can show it any more (`expunged.rs`).

use heed::RwTxn;

use crate::error::StorageError;
use crate::expunged;
use crate::flags::Flags;
use crate::ids::{MailboxId, MessageId, ModSeq, Uid};
use crate::keys;
use crate::names::{checked_keywords, keywords_added, keywords_removed};
use crate::records::{MailboxRecord, encode_message};
use crate::schema::Databases;
use crate::store::AccountStore;
use crate::tombstones;
use crate::view::{
    mailbox_record, message_record_by_uid, meta_u64, put_mailbox, put_meta_u64, sorted_unique,
};

/// How STORE combines the given flags with a message's (RFC 9051 §6.4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagOp {
    /// `FLAGS`: replace.
    Set,
    /// `+FLAGS`: add.
    Add,
    /// `-FLAGS`: remove.
    Remove,
}

/// A message whose flags or keywords changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagsChanged {
    /// The message.
    pub uid: Uid,
    /// Its system flags now.
    pub flags: Flags,
    /// Its keywords now.
    pub keywords: Vec<String>,
    /// The mod-sequence of this change.
    pub modseq: ModSeq,
}

/// What a conditional STORE did (RFC 7162 §3.1.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlagsStored {
    /// Messages whose flags or keywords changed, in UID order, each with its new modseq.
    pub changed: Vec<FlagsChanged>,
    /// Messages left alone because their modseq was above UNCHANGEDSINCE, in UID order
    /// (the UIDs of the MODIFIED response code).
    pub failed: Vec<Uid>,
}

/// A message removed by expunge, or from the source mailbox by MOVE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Expunged {
    /// Its UID (now in the tombstones).
    pub uid: Uid,
    /// Its id: after EXPUNGE the file is gone; after MOVE the message lives on under
    /// this id in the target mailbox.
    pub id: MessageId,
    /// The mod-sequence of the expunge.
    pub modseq: ModSeq,
}

/// The flags and keywords a message has after `op`.
fn apply_op(
    op: FlagOp,
    current: (Flags, &[String]),
    given: (Flags, &[String]),
) -> Result<(Flags, Vec<String>), StorageError> {
    let (flags, keywords) = current;
    let (given_flags, given_keywords) = given;
    Ok(match op {
        FlagOp::Set => (given_flags, given_keywords.to_vec()),
        FlagOp::Add => (flags.union(given_flags), keywords_added(keywords, given_keywords)?),
        FlagOp::Remove => (flags.difference(given_flags), keywords_removed(keywords, given_keywords)),
    })
}

impl AccountStore {
    /// Changes flags and keywords of the messages `uids` of `mailbox` in one transaction.
    /// Each message that actually changes gets a new modseq and is returned (in UID
    /// order); unknown UIDs and unchanged messages are skipped. Keywords compare without
    /// case. Errors: [`StorageError::NoSuchMailbox`], invalid flags or keywords, or more
    /// than [`crate::KEYWORDS_PER_MESSAGE_MAX`] keywords on a message (nothing changed).
    pub fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &[Uid],
        op: FlagOp,
        flags: Flags,
        keywords: &[String],
    ) -> Result<Vec<FlagsChanged>, StorageError> {
        let stored = self.store_flags_conditional(mailbox, uids, op, flags, keywords, None)?;
        assert!(stored.failed.is_empty());
        Ok(stored.changed)
    }

    /// [`AccountStore::store_flags`] with RFC 7162 §3.1.3 UNCHANGEDSINCE: a message whose
    /// modseq is above `unchanged_since` is not changed and is listed in
    /// [`FlagsStored::failed`] (so `Some(ModSeq(0))` fails every message). A message at
    /// or below it whose flags would not change passes: it is in neither list and keeps
    /// its modseq. `uids` are handled in UID order, each once.
    pub fn store_flags_conditional(
        &self,
        mailbox: MailboxId,
        uids: &[Uid],
        op: FlagOp,
        flags: Flags,
        keywords: &[String],
        unchanged_since: Option<ModSeq>,
    ) -> Result<FlagsStored, StorageError> {
        if !flags.is_valid() {
            return Err(StorageError::InvalidFlags { bits: flags.0 });
        }
        let keywords = checked_keywords(keywords)?;
        let uids = sorted_unique(uids);
        let request = StoreRequest { op, given: (flags, &keywords), unchanged_since };
        let writer = self.begin_write()?;
        let stored = self.lmdb.write(&writer, |wtxn| {
            let stored = store_flags_in(wtxn, &self.dbs, mailbox, &uids, &request)?;
            // Before the commit, so that no panic follows one.
            assert_modseqs_increase(stored.changed.iter().map(|change| change.modseq));
            if let Some(limit) = unchanged_since {
                assert!(stored.changed.iter().all(|change| change.modseq > limit));
            }
            Ok(stored)
        })?;
        drop(writer);
        Ok(stored)
    }

    /// Expunges the messages `uids` of `mailbox` in one transaction: records and index
    /// entries go, each UID gets a tombstone with the new modseq of its expunge, counts
    /// follow. The old records are kept in `expunged`, and the summaries and files stay,
    /// until [`AccountStore::purge_expunged`] finds no session view that can still show
    /// them. Unknown UIDs are skipped; the caller decides which messages go (`\Deleted`
    /// ones for EXPUNGE, any for MOVE).
    pub fn expunge(&self, mailbox: MailboxId, uids: &[Uid]) -> Result<Vec<Expunged>, StorageError> {
        let writer = self.begin_write()?;
        let expunged = self.lmdb.write(&writer, |wtxn| {
            let expunged = expunge_in(wtxn, &self.dbs, mailbox, uids)?;
            // Before the commit, so that no panic follows one.
            assert_modseqs_increase(expunged.iter().map(|gone| gone.modseq));
            Ok(expunged)
        })?;
        // Files stay with their kept entries until `purge_expunged` (after its commit).
        if let Some(first) = expunged.first() {
            self.note_kept(first.modseq);
        }
        drop(writer);
        Ok(expunged)
    }
}

/// What one STORE asks for.
struct StoreRequest<'k> {
    op: FlagOp,
    given: (Flags, &'k [String]),
    unchanged_since: Option<ModSeq>,
}

fn store_flags_in(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    mailbox: MailboxId,
    uids: &[Uid],
    request: &StoreRequest<'_>,
) -> Result<FlagsStored, StorageError> {
    let mut counts = mailbox_record(wtxn, dbs, mailbox)?.ok_or(StorageError::NoSuchMailbox)?;
    let mut modseq = meta_u64(wtxn, dbs, keys::META_HIGHEST_MODSEQ)?;
    let mut changed = Vec::new();
    let mut failed = Vec::new();
    for &uid in uids {
        let Some(stored) = message_record_by_uid(wtxn, dbs, mailbox, uid)? else {
            continue;
        };
        if request.unchanged_since.is_some_and(|limit| stored.modseq() > limit) {
            failed.push(uid);
            continue;
        }
        let mut record = stored.to_record();
        let old_flags = Flags(record.flags);
        let (new_flags, new_keywords) = apply_op(request.op, (old_flags, &record.keywords), request.given)?;
        if new_flags == old_flags && new_keywords == record.keywords {
            continue;
        }
        modseq = next_modseq(modseq)?;
        let old_key = keys::modseq_key(mailbox, ModSeq(record.modseq), uid);
        if !dbs.modseqs.delete(wtxn, &old_key)? {
            return Err(StorageError::corrupt(format!(
                "modseq index lacks ({mailbox}, {}, {uid})",
                record.modseq
            )));
        }
        counts.recount(old_flags, new_flags)?;
        record.flags = new_flags.0;
        record.keywords = new_keywords;
        record.modseq = modseq;
        let new_key = keys::modseq_key(mailbox, ModSeq(modseq), uid);
        dbs.modseqs.put(wtxn, &new_key, &[])?;
        let id_key = keys::message_key(MessageId(record.id));
        dbs.messages.put(wtxn, &id_key, &encode_message(&record)?)?;
        counts.highest_modseq = modseq;
        changed.push(FlagsChanged {
            uid,
            flags: new_flags,
            keywords: record.keywords,
            modseq: ModSeq(modseq),
        });
    }
    finish(wtxn, dbs, &counts, modseq, !changed.is_empty())?;
    Ok(FlagsStored { changed, failed })
}

fn expunge_in(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    mailbox: MailboxId,
    uids: &[Uid],
) -> Result<Vec<Expunged>, StorageError> {
    let mut counts = mailbox_record(wtxn, dbs, mailbox)?.ok_or(StorageError::NoSuchMailbox)?;
    let mut modseq = meta_u64(wtxn, dbs, keys::META_HIGHEST_MODSEQ)?;
    let mut expunged = Vec::new();
    for &uid in uids {
        let Some(stored) = message_record_by_uid(wtxn, dbs, mailbox, uid)? else {
            continue;
        };
        let (id, old_modseq) = (stored.id(), stored.modseq());
        let (flags, served_size) = (stored.flags(), stored.served_size());
        modseq = next_modseq(modseq)?;
        let uid_key = keys::uid_key(mailbox, uid);
        let record_value = dbs
            .messages
            .get(wtxn, &keys::message_key(id))?
            .ok_or_else(|| StorageError::corrupt(format!("message {id} vanished during expunge")))?
            .to_vec();
        expunged::keep(wtxn, dbs, (mailbox, uid, ModSeq(modseq)), id, true, &record_value)?;
        let gone = [
            dbs.messages.delete(wtxn, &keys::message_key(id))?,
            dbs.uids.delete(wtxn, &uid_key)?,
            dbs.modseqs.delete(wtxn, &keys::modseq_key(mailbox, old_modseq, uid))?,
        ];
        crate::sortkeys::remove(wtxn, dbs, (mailbox, uid))?;
        if gone.contains(&false) {
            return Err(StorageError::corrupt(format!(
                "message {id} ({mailbox}, {uid}) lacks an index entry"
            )));
        }
        tombstones::put(wtxn, dbs, mailbox, uid, ModSeq(modseq))?;
        counts.count_out(flags, served_size)?;
        counts.highest_modseq = modseq;
        expunged.push(Expunged { uid, id, modseq: ModSeq(modseq) });
    }
    finish(wtxn, dbs, &counts, modseq, !expunged.is_empty())?;
    Ok(expunged)
}

pub(crate) fn next_modseq(modseq: u64) -> Result<u64, StorageError> {
    modseq.checked_add(1).ok_or_else(|| StorageError::corrupt("modseq exhausted"))
}

/// Stores the mailbox counts and the account modseq when anything changed.
fn finish(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    counts: &MailboxRecord,
    modseq: u64,
    changed: bool,
) -> Result<(), StorageError> {
    if changed {
        put_mailbox(wtxn, dbs, counts)?;
        put_meta_u64(wtxn, dbs, keys::META_HIGHEST_MODSEQ, modseq)?;
    }
    Ok(())
}

/// Each change of one transaction has its own, larger modseq.
pub(crate) fn assert_modseqs_increase(modseqs: impl Iterator<Item = ModSeq>) {
    let mut previous = ModSeq(0);
    for modseq in modseqs {
        assert!(modseq > previous);
        previous = modseq;
    }
}
