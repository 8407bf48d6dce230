//! COPY (RFC 9051 §6.4.7) and MOVE (RFC 6851), with the UID pairs that RFC 4315 COPYUID
//! reports.
//!
//! COPY makes new messages: new ids from the account counter, the source files
//! hard-linked to the new ids (file first, index second, exactly as delivery: link,
//! fsync the touched directories, then one transaction), records copied with
//! `saved_ms` = now (RFC 8514) and the summary copied. MOVE re-homes records in one
//! transaction and touches no file: the message keeps its id (and file and summary),
//! gets the next UID of the target, and its source UID gets a tombstone.
//!
//! Invariants: source UIDs are handled in ascending order, each once, so the pairs are
//! in COPYUID order; target UIDs are contiguous from the target's UIDNEXT; every new or
//! moved message takes the next account modseq (a moved message's tombstone shares it);
//! the counts of both mailboxes change in the same transaction.

use std::path::PathBuf;

use heed::RwTxn;

use crate::change::{Expunged, assert_modseqs_increase, next_modseq};
use crate::deliver::Delivered;
use crate::error::{DeliveryError, StorageError};
use crate::expunged;
use crate::files::{link_message, remove_if_exists};
use crate::flags::Flags;
use crate::ids::{MailboxId, MessageId, ModSeq, Uid, UidValidity};
use crate::keys;
use crate::lmdb::WriterGuard;
use crate::records::{MessageRecord, encode_message};
use crate::schema::Databases;
use crate::store::AccountStore;
use crate::tombstones;
use crate::view::{
    mailbox_record, message_record, message_record_by_uid, meta_u64, put_mailbox, put_meta_u64, sorted_unique,
};

/// What COPY or MOVE made in the target mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// The target's UIDVALIDITY (RFC 4315 COPYUID).
    pub uidvalidity: UidValidity,
    /// (source UID, target UID) per message, in source UID order.
    pub pairs: Vec<(Uid, Uid)>,
    /// The messages in the target, in the same order. After MOVE their ids are the
    /// sources' ids.
    pub created: Vec<Delivered>,
    /// The account's highest modseq afterwards (unchanged when nothing was copied).
    pub modseq: ModSeq,
}

/// One message to copy, with the id it will get.
struct PlannedCopy {
    source_uid: Uid,
    source_id: MessageId,
    size: u64,
    id: MessageId,
    path: PathBuf,
}

/// What the copy plan saw, checked again inside the write transaction.
struct CopyPlan {
    first_id: MessageId,
    copies: Vec<PlannedCopy>,
}

impl AccountStore {
    /// COPY: for each existing source UID (ascending, each once; missing ones skipped), a
    /// new message in `to` with a new id, the same flags, keywords, `received_ms`, prefix
    /// and summary, and `saved_ms` = `now_ms`. The file is hard-linked to the new id (no
    /// bytes copied, except across filesystems or past the link limit), the directories
    /// are fsynced, then one transaction indexes all. `to == from` is allowed.
    ///
    /// Errors: [`StorageError::NoSuchMailbox`] for either mailbox; a source file that is
    /// missing ([`StorageError::MessageFileMissing`]) fails the whole copy. On `Err`
    /// nothing was indexed and the links made are removed, except after
    /// [`StorageError::CommitUnknown`], when they stay for the orphan sweep.
    pub fn copy_messages(
        &self,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
        now_ms: i64,
    ) -> Result<Copied, StorageError> {
        let uids = sorted_unique(uids);
        let writer = self.begin_write()?;
        let plan = self.plan_copy(&writer, from, &uids, to)?;
        if let Err(error) = self.link_copies(&plan.copies) {
            remove_copies(&plan.copies);
            return Err(error);
        }
        let copied = self.lmdb.write(&writer, |wtxn| {
            let copied = copy_in(wtxn, &self.dbs, &plan, to, now_ms)?;
            // Before the commit, so that no panic follows one.
            assert_copied(&plan, &copied);
            Ok(copied)
        });
        let copied = match copied {
            Ok(copied) => copied,
            // The index may refer to the new links: leave them to the orphan sweep.
            Err(error @ StorageError::CommitUnknown { .. }) => return Err(error),
            Err(error) => {
                remove_copies(&plan.copies);
                return Err(error);
            }
        };
        drop(writer);
        Ok(copied)
    }

    /// MOVE (RFC 6851 §3.1): COPY and EXPUNGE of the sources in one transaction, but the
    /// messages keep their ids and files: each record changes mailbox, UID, modseq and
    /// `saved_ms` (= `now_ms`), and each source UID gets a tombstone with the same modseq.
    /// No file operation. Returns the copy result and the expunged source list (same
    /// order). `to == from` is allowed (new UIDs in the same mailbox).
    /// Errors: [`StorageError::NoSuchMailbox`] for either mailbox.
    pub fn move_messages(
        &self,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
        now_ms: i64,
    ) -> Result<(Copied, Vec<Expunged>), StorageError> {
        let uids = sorted_unique(uids);
        let writer = self.begin_write()?;
        let (copied, expunged) =
            self.lmdb.write(&writer, |wtxn| move_in(wtxn, &self.dbs, (from, &uids), to, Some(now_ms)))?;
        if let Some(first) = expunged.first() {
            self.note_kept(first.modseq);
        }
        drop(writer);
        Ok((copied, expunged))
    }

    /// Picks the sources and the new ids, in a read transaction under the writer lock.
    fn plan_copy(
        &self,
        writer: &WriterGuard<'_>,
        from: MailboxId,
        uids: &[Uid],
        to: MailboxId,
    ) -> Result<CopyPlan, StorageError> {
        let read = self.lmdb.read_txn(Some(writer))?;
        let txn = read.txn();
        for mailbox in [from, to] {
            mailbox_record(txn, &self.dbs, mailbox)?.ok_or(StorageError::NoSuchMailbox)?;
        }
        let first_id = MessageId(meta_u64(txn, &self.dbs, keys::META_NEXT_MESSAGE_ID)?);
        let mut next_id = first_id.0;
        let mut copies = Vec::new();
        for &uid in uids {
            let Some(source) = message_record_by_uid(txn, &self.dbs, from, uid)? else {
                continue;
            };
            let id = MessageId(next_id);
            // As in delivery: an id never allocated has no record, so a file found at its
            // path is an orphan and may be replaced.
            if message_record(txn, &self.dbs, id)?.is_some() {
                return Err(StorageError::corrupt(format!("next message id {id} already has a record")));
            }
            let path = self.message_path(id);
            copies.push(PlannedCopy {
                source_uid: uid,
                source_id: source.id(),
                size: source.size(),
                id,
                path,
            });
            next_id = next_id.checked_add(1).ok_or_else(|| StorageError::corrupt("message ids exhausted"))?;
        }
        Ok(CopyPlan { first_id, copies })
    }

    /// Links every source file to its new id and makes the names durable.
    fn link_copies(&self, copies: &[PlannedCopy]) -> Result<(), StorageError> {
        for copy in copies {
            self.ensure_message_dir(&copy.path)?;
            let source = self.message_path(copy.source_id);
            if let Err(error) = link_message(&source, &copy.path, copy.size)? {
                return Err(source_file_error(source, error));
            }
        }
        self.sync_message_dirs(copies.iter().map(|copy| copy.path.as_path()))
    }
}

/// A source-side failure of `link_message` is a damaged store here, not a bad spool.
fn source_file_error(path: PathBuf, error: DeliveryError) -> StorageError {
    match error {
        DeliveryError::SpoolMissing => StorageError::MessageFileMissing { path },
        DeliveryError::SpoolMismatch { expected, found } => {
            StorageError::MessageFileMismatch { path, expected, found }
        }
        DeliveryError::Io(source) => StorageError::Io { path, source },
        other => StorageError::corrupt(format!("{}: {other}", path.display())),
    }
}

/// Removes the files a failed copy linked (all at ids never indexed).
fn remove_copies(copies: &[PlannedCopy]) {
    for copy in copies {
        if let Err(error) = remove_if_exists(&copy.path) {
            tracing::warn!(path = %copy.path.display(), %error, "cannot remove file of failed copy");
        }
    }
}

/// Inside the write transaction: the new records, their index entries and summaries, the
/// target's counts, the counters.
fn copy_in(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    plan: &CopyPlan,
    to: MailboxId,
    now_ms: i64,
) -> Result<Copied, StorageError> {
    if meta_u64(wtxn, dbs, keys::META_NEXT_MESSAGE_ID)? != plan.first_id.0 {
        return Err(StorageError::corrupt("next message id moved during copy (a second writer?)"));
    }
    let mut target = mailbox_record(wtxn, dbs, to)?.ok_or(StorageError::NoSuchMailbox)?;
    let mut modseq = meta_u64(wtxn, dbs, keys::META_HIGHEST_MODSEQ)?;
    let mut copied = Copied {
        uidvalidity: UidValidity(target.uidvalidity),
        pairs: Vec::with_capacity(plan.copies.len()),
        created: Vec::with_capacity(plan.copies.len()),
        modseq: ModSeq(modseq),
    };
    for copy in &plan.copies {
        let source = message_record(wtxn, dbs, copy.source_id)?
            .ok_or_else(|| StorageError::corrupt(format!("message {} vanished", copy.source_id)))?;
        let mut record = source.to_record();
        let from = (source.mailbox(), source.uid());
        let summary = dbs.summaries.get(wtxn, &keys::message_key(copy.source_id))?.map(<[u8]>::to_vec);
        modseq = next_modseq(modseq)?;
        let uid = target.take_uid()?;
        record.id = copy.id.0;
        record.mailbox = to.0;
        record.uid = uid.0;
        record.modseq = modseq;
        record.saved_ms = now_ms;
        put_located(wtxn, dbs, &record)?;
        crate::sortkeys::copy(wtxn, dbs, from, (to, uid))?;
        if let Some(summary) = summary {
            dbs.summaries.put(wtxn, &keys::message_key(copy.id), &summary)?;
            crate::textsigs::copy(wtxn, dbs, copy.source_id, copy.id)?;
        }
        target.count_in(Flags(record.flags), record.served_size())?;
        target.highest_modseq = modseq;
        copied.pairs.push((copy.source_uid, uid));
        copied.created.push(Delivered {
            id: copy.id,
            mailbox: to,
            uid,
            modseq: ModSeq(modseq),
            size: copy.size,
        });
    }
    if let Some(last) = plan.copies.last() {
        let end_id =
            last.id.0.checked_add(1).ok_or_else(|| StorageError::corrupt("message ids exhausted"))?;
        put_mailbox(wtxn, dbs, &target)?;
        put_meta_u64(wtxn, dbs, keys::META_NEXT_MESSAGE_ID, end_id)?;
        put_meta_u64(wtxn, dbs, keys::META_HIGHEST_MODSEQ, modseq)?;
    }
    copied.modseq = ModSeq(modseq);
    Ok(copied)
}

/// Puts a record and its uid and modseq index entries at the place the record names.
fn put_located(wtxn: &mut RwTxn<'_>, dbs: &Databases, record: &MessageRecord) -> Result<(), StorageError> {
    let (id, mailbox, uid) = (MessageId(record.id), MailboxId(record.mailbox), Uid(record.uid));
    let id_key = keys::message_key(id);
    dbs.messages.put(wtxn, &id_key, &encode_message(record)?)?;
    dbs.uids.put(wtxn, &keys::uid_key(mailbox, uid), &id_key)?;
    dbs.modseqs.put(wtxn, &keys::modseq_key(mailbox, ModSeq(record.modseq), uid), &[])?;
    Ok(())
}

/// MOVE inside the caller's transaction, for the UIDs `uids` (ascending, unique) of
/// `from`. `saved_ms`: the new SAVEDATE, or `None` to keep each message's (RENAME of
/// INBOX, which the user sees as the same messages under a new name).
pub(crate) fn move_in(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    (from, uids): (MailboxId, &[Uid]),
    to: MailboxId,
    saved_ms: Option<i64>,
) -> Result<(Copied, Vec<Expunged>), StorageError> {
    let mut source = mailbox_record(wtxn, dbs, from)?.ok_or(StorageError::NoSuchMailbox)?;
    let mut target = if from == to {
        None
    } else {
        Some(mailbox_record(wtxn, dbs, to)?.ok_or(StorageError::NoSuchMailbox)?)
    };
    let mut modseq = meta_u64(wtxn, dbs, keys::META_HIGHEST_MODSEQ)?;
    let mut copied = Copied {
        uidvalidity: UidValidity(target.as_ref().unwrap_or(&source).uidvalidity),
        pairs: Vec::new(),
        created: Vec::new(),
        modseq: ModSeq(modseq),
    };
    let mut expunged = Vec::new();
    for &uid in uids {
        let Some(stored) = message_record_by_uid(wtxn, dbs, from, uid)? else {
            continue;
        };
        let mut record = stored.to_record();
        modseq = next_modseq(modseq)?;
        // The source UID stays readable for the sessions that still show it; the
        // message itself lives on (same id, file and summary) in the target.
        let kept = encode_message(&record)?;
        expunged::keep(wtxn, dbs, (from, uid, ModSeq(modseq)), MessageId(record.id), false, &kept)?;
        unlocate(wtxn, dbs, &record, modseq)?;
        let (flags, served_size) = (Flags(record.flags), record.served_size());
        source.count_out(flags, served_size)?;
        source.highest_modseq = modseq;
        let into = target.as_mut().unwrap_or(&mut source);
        let new_uid = into.take_uid()?;
        into.count_in(flags, served_size)?;
        into.highest_modseq = modseq;
        record.mailbox = to.0;
        record.uid = new_uid.0;
        record.modseq = modseq;
        record.saved_ms = saved_ms.unwrap_or(record.saved_ms);
        put_located(wtxn, dbs, &record)?;
        crate::sortkeys::rekey(wtxn, dbs, (from, uid), (to, new_uid))?;
        let id = MessageId(record.id);
        copied.pairs.push((uid, new_uid));
        copied.created.push(Delivered {
            id,
            mailbox: to,
            uid: new_uid,
            modseq: ModSeq(modseq),
            size: record.size,
        });
        expunged.push(Expunged { uid, id, modseq: ModSeq(modseq) });
    }
    if !expunged.is_empty() {
        put_mailbox(wtxn, dbs, &source)?;
        if let Some(target) = &target {
            put_mailbox(wtxn, dbs, target)?;
        }
        put_meta_u64(wtxn, dbs, keys::META_HIGHEST_MODSEQ, modseq)?;
    }
    copied.modseq = ModSeq(modseq);
    assert_moved(&copied, &expunged);
    Ok((copied, expunged))
}

/// Removes a record's uid and modseq index entries and leaves a tombstone with `modseq`.
fn unlocate(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    record: &MessageRecord,
    modseq: u64,
) -> Result<(), StorageError> {
    let (mailbox, uid) = (MailboxId(record.mailbox), Uid(record.uid));
    let uid_key = keys::uid_key(mailbox, uid);
    let gone = [
        dbs.uids.delete(wtxn, &uid_key)?,
        dbs.modseqs.delete(wtxn, &keys::modseq_key(mailbox, ModSeq(record.modseq), uid))?,
    ];
    if gone.contains(&false) {
        return Err(StorageError::corrupt(format!(
            "message {} ({mailbox}, {uid}) lacks an index entry",
            record.id
        )));
    }
    tombstones::put(wtxn, dbs, mailbox, uid, ModSeq(modseq))?;
    Ok(())
}

/// What a copy must have made true: one new message per planned source, ids as planned,
/// contiguous target UIDs, increasing modseqs.
fn assert_copied(plan: &CopyPlan, copied: &Copied) {
    assert_eq!(copied.pairs.len(), plan.copies.len());
    assert_eq!(copied.created.len(), plan.copies.len());
    for ((planned, pair), created) in plan.copies.iter().zip(&copied.pairs).zip(&copied.created) {
        assert_eq!(pair.0, planned.source_uid);
        assert_eq!(pair.1, created.uid);
        assert_eq!(created.id, planned.id);
    }
    assert_target_uids(copied);
}

/// What a move must have made true: per message, the same id on both sides, one modseq.
fn assert_moved(copied: &Copied, expunged: &[Expunged]) {
    assert_eq!(copied.pairs.len(), expunged.len());
    assert_eq!(copied.created.len(), expunged.len());
    for ((pair, created), gone) in copied.pairs.iter().zip(&copied.created).zip(expunged) {
        assert_eq!(pair.0, gone.uid);
        assert_eq!(created.id, gone.id);
        assert_eq!(created.modseq, gone.modseq);
    }
    assert_target_uids(copied);
}

/// Target UIDs are contiguous; modseqs increase and end at `copied.modseq`.
fn assert_target_uids(copied: &Copied) {
    for pair in copied.created.windows(2) {
        assert_eq!(pair[1].uid.0, pair[0].uid.0 + 1);
    }
    assert_modseqs_increase(copied.created.iter().map(|created| created.modseq));
    if let Some(last) = copied.created.last() {
        assert_eq!(last.modseq, copied.modseq);
    }
}
