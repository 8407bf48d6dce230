//! Delivery: a batch of spooled messages becomes message files plus index records, in
//! the order that makes a crash harmless (see lib.rs, "Write order and crash safety").
//!
//! 1. plan (read transaction): check each message and its spool file, pick ids from the
//!    account counter; a bad message fails alone;
//! 2. link each spool file to `msg/<hi>/<id>` (replacing an orphan left there by a
//!    crash), fsync every touched directory once;
//! 3. one write transaction: records, uid and modseq index, mailbox counts, counters.
//!
//! Napkin math: one batch costs one LMDB commit (two fsyncs, ~1-5 ms here) plus one
//! directory fsync per touched `msg/<hi>` (usually one), whatever its length; 100
//! messages per batch is ~50 µs of fsync each instead of ~3 ms.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fs;
use std::io::{self, ErrorKind};
use std::path::{Path, PathBuf};

use heed::{RoTxn, RwTxn};

use crate::error::{DeliveryError, StorageError};
use crate::files::{link_message, remove_if_exists, sync_linked};
use crate::flags::{Flags, SpecialUse};
use crate::ids::{MailboxId, MessageId, ModSeq, Uid};
use crate::keys;
use crate::lmdb::WriterGuard;
use crate::names::{INBOX, checked_keywords};
use crate::records::{MailboxRecord, MessageRecord, encode_message};
use crate::schema::Databases;
use crate::store::AccountStore;
use crate::view::{
    mailbox_id_by_name, mailbox_record, mailbox_with_special_use, message_record, meta_u64, put_mailbox,
    put_meta_u64,
};

/// Most messages in one delivery batch. The account actor group-commits whatever
/// arrived meanwhile, up to this; 1024 records (~300 KiB of pages) keep one transaction
/// small and its fsync amortized over many messages.
pub const DELIVERY_BATCH_MAX: usize = 1024;

/// Longest prefix (header lines added at delivery: Received, Authentication-Results,
/// ARC sets). 64 KiB is far above what we add (~2-4 KiB) and keeps records small.
pub const PREFIX_BYTES_MAX: usize = 64 * 1024;

/// Longest summary stored (see [`NewMessage::summary`]). Envelope, body structure and
/// preview of ordinary mail take 1-4 KiB; thousands of recipients or MIME parts reach
/// tens of KiB. A longer summary is not stored (logged, the message is delivered): the
/// summary is a cache, and IMAP parses the file when a message has none.
pub const SUMMARY_BYTES_MAX: usize = 256 * 1024;

/// A spooled message to deliver to this account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMessage {
    /// The spool file, already fsynced by the caller; linked, never moved or removed.
    pub spool_path: PathBuf,
    /// Length the spool file must have.
    pub size: u64,
    /// Header lines added at delivery, each ending in CRLF; served before the file.
    pub prefix: Vec<u8>,
    /// Where it goes.
    pub mailbox: MailboxTarget,
    /// INTERNALDATE, Unix milliseconds.
    pub received_ms: i64,
    /// Initial system flags.
    pub flags: Flags,
    /// Initial keywords.
    pub keywords: Vec<String>,
    /// RFC 8514 SAVEDATE, Unix milliseconds; `None`: the same as `received_ms`.
    pub saved_ms: Option<i64>,
    /// Opaque bytes stored beside the record in the same transaction (the IMAP side puts
    /// `MessageSummary::encode` output here: envelope, body structure); storage never
    /// looks inside. Read back with [`crate::ReadView::summary`]. Longer than
    /// [`SUMMARY_BYTES_MAX`]: not stored.
    pub summary: Option<Vec<u8>>,
}

/// The mailbox a message is delivered to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailboxTarget {
    /// The account's INBOX.
    Inbox,
    /// A mailbox by id (a rule's target, APPEND).
    Id(MailboxId),
    /// The account's mailbox with this special use (RFC 6154), e.g. `\Junk` for mail that
    /// failed DMARC under a quarantine policy; INBOX when the account has none (special-use
    /// mailboxes can be deleted).
    SpecialUse(SpecialUse),
}

/// A message stored and indexed: acknowledge it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// Its id (and file name).
    pub id: MessageId,
    /// The mailbox it went to.
    pub mailbox: MailboxId,
    /// Its UID there.
    pub uid: Uid,
    /// The mod-sequence of its arrival.
    pub modseq: ModSeq,
    /// Length of its file.
    pub size: u64,
}

/// One message that passed the checks, with the id it will get.
struct Planned {
    /// Position in the batch.
    index: usize,
    id: MessageId,
    mailbox: MailboxId,
    keywords: Vec<String>,
    path: PathBuf,
}

/// What the plan saw, for the assertions after the commit.
struct Plan {
    first_id: MessageId,
    /// First id not taken by this batch (failed messages' ids stay unused).
    end_id: MessageId,
    highest_modseq: ModSeq,
    uidnext: BTreeMap<MailboxId, Uid>,
    planned: Vec<Planned>,
}

/// One result per batch position, filled in as the phases decide.
type Outcomes = Vec<Option<Result<Delivered, DeliveryError>>>;

/// Whether one refused message fails the whole batch.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Each message alone (SMTP deliveries grouped by the account actor).
    Each,
    /// All or nothing (IMAP MULTIAPPEND, RFC 3502 §6.3.11).
    All,
}

impl AccountStore {
    /// Delivers a batch in one LMDB write transaction. Per message: the spool file's
    /// length must be `size` (else [`DeliveryError::SpoolMismatch`], and the others go
    /// on); it is hard-linked to `msg/<hi>/<id>` (an existing file there is an orphan of
    /// a crash and is replaced; across filesystems it is copied and fsynced). Each
    /// touched directory is fsynced once, then records, indexes, mailbox counts and
    /// counters are committed together. The spool file is left in place (the caller may
    /// deliver it to other accounts and removes it afterwards).
    ///
    /// On `Err` nothing was indexed, except for [`StorageError::CommitUnknown`] (the
    /// commit may have landed). Files linked by this batch are removed only when the
    /// index is known not to refer to them (the error came before the commit started);
    /// otherwise they stay, and the orphan sweep removes those the index lacks. Results
    /// are in batch order. Nothing after a successful commit can fail or panic: every
    /// check of what the batch made true runs inside the transaction, before it commits.
    pub fn deliver(
        &self,
        batch: &[NewMessage],
    ) -> Result<Vec<Result<Delivered, DeliveryError>>, StorageError> {
        self.deliver_in(batch, Mode::Each)
    }

    /// Delivers a batch all or nothing, in one LMDB write transaction (RFC 3502
    /// MULTIAPPEND: "If the server is unable to append all messages, it must not append
    /// any"): the first refused message fails the batch with
    /// [`StorageError::MessageRefused`] and nothing is indexed. Because it is a single
    /// transaction, a crash also leaves all or none of them. Otherwise as
    /// [`AccountStore::deliver`].
    pub fn deliver_all(&self, batch: &[NewMessage]) -> Result<Vec<Delivered>, StorageError> {
        let results = self.deliver_in(batch, Mode::All)?;
        let mut delivered = Vec::with_capacity(results.len());
        for (index, result) in results.into_iter().enumerate() {
            // Unreachable in practice: `Mode::All` refuses the batch before committing.
            delivered.push(
                result.map_err(|error| StorageError::MessageRefused { index, source: Box::new(error) })?,
            );
        }
        Ok(delivered)
    }

    fn deliver_in(
        &self,
        batch: &[NewMessage],
        mode: Mode,
    ) -> Result<Vec<Result<Delivered, DeliveryError>>, StorageError> {
        if batch.len() > DELIVERY_BATCH_MAX {
            return Err(StorageError::BatchTooLarge { count: batch.len(), max: DELIVERY_BATCH_MAX });
        }
        // Before the write lock: making a signature reads the message's text.
        let signatures: Vec<Option<Vec<u8>>> = batch
            .iter()
            .map(|message| crate::textsigs::derive(stored_summary(message), &message.spool_path))
            .collect();
        let writer = self.begin_write()?;
        let mut outcomes: Outcomes = batch.iter().map(|_| None).collect();
        let mut plan = self.plan_delivery(&writer, batch, &mut outcomes)?;
        if mode == Mode::All {
            refuse_partial(&mut outcomes)?;
        }
        self.link_files(batch, &mut plan.planned, &mut outcomes)?;
        if mode == Mode::All
            && let Err(error) = refuse_partial(&mut outcomes)
        {
            // Nothing was committed: the index refers to none of these files.
            remove_linked(&plan.planned);
            return Err(error);
        }
        if !plan.planned.is_empty() {
            let indexed = self.lmdb.write(&writer, |wtxn| {
                let delivered = index_batch(wtxn, &self.dbs, batch, &signatures, &plan)?;
                // Checked before the commit: a failed assertion aborts the transaction,
                // so a panic never follows a commit.
                assert_delivered(&plan, &delivered);
                assert_decided(&outcomes, &plan.planned);
                Ok(delivered)
            });
            let delivered = match indexed {
                Ok(delivered) => delivered,
                Err(error @ StorageError::CommitUnknown { .. }) => {
                    // The index may refer to them: never remove them here.
                    return Err(error);
                }
                Err(error) => {
                    remove_linked(&plan.planned);
                    return Err(error);
                }
            };
            for (planned, delivered) in plan.planned.iter().zip(delivered) {
                outcomes[planned.index] = Some(Ok(delivered));
            }
        }
        drop(writer);
        // Every position was decided (asserted before the commit, or no commit at all
        // when nothing was planned); a hole would be a refused message.
        Ok(outcomes.into_iter().map(|outcome| outcome.unwrap_or(Err(DeliveryError::Undecided))).collect())
    }

    /// Phase 1: checks every message and picks ids, in one read transaction.
    fn plan_delivery(
        &self,
        writer: &WriterGuard<'_>,
        batch: &[NewMessage],
        outcomes: &mut Outcomes,
    ) -> Result<Plan, StorageError> {
        let read = self.lmdb.read_txn(Some(writer))?;
        let txn = read.txn();
        let first_id = MessageId(meta_u64(txn, &self.dbs, keys::META_NEXT_MESSAGE_ID)?);
        let highest_modseq = ModSeq(meta_u64(txn, &self.dbs, keys::META_HIGHEST_MODSEQ)?);
        let inbox = mailbox_id_by_name(txn, &self.dbs, INBOX)?
            .ok_or_else(|| StorageError::corrupt("INBOX missing"))?;
        let mut uidnext = BTreeMap::new();
        let mut planned = Vec::with_capacity(batch.len());
        let mut next_id = first_id.0;
        for (index, message) in batch.iter().enumerate() {
            let checked = check_message(txn, &self.dbs, message, inbox, &mut uidnext)?;
            let (mailbox, keywords) = match checked {
                Ok(accepted) => accepted,
                Err(error) => {
                    outcomes[index] = Some(Err(error));
                    continue;
                }
            };
            let id = MessageId(next_id);
            // The id was never allocated, so nothing may refer to it; this is what makes
            // replacing a file found at its path safe.
            if message_record(txn, &self.dbs, id)?.is_some() {
                return Err(StorageError::corrupt(format!("next message id {id} already has a record")));
            }
            let path = self.message_path(id);
            planned.push(Planned { index, id, mailbox, keywords, path });
            next_id = next_id.checked_add(1).ok_or_else(|| StorageError::corrupt("message ids exhausted"))?;
        }
        Ok(Plan { first_id, end_id: MessageId(next_id), highest_modseq, uidnext, planned })
    }

    /// Phase 2: links the files and makes their names durable. Messages whose spool
    /// side fails are dropped from `planned` with their outcome set; a failure on our
    /// side removes what this batch linked and fails the batch.
    fn link_files(
        &self,
        batch: &[NewMessage],
        planned: &mut Vec<Planned>,
        outcomes: &mut Outcomes,
    ) -> Result<(), StorageError> {
        let mut linked = vec![false; planned.len()];
        let mut result = self.link_each(batch, planned, &mut linked, outcomes);
        if result.is_ok() {
            let paths = planned.iter().zip(&linked).filter(|(_, linked)| **linked);
            result = self.sync_message_dirs(paths.map(|(message, _)| message.path.as_path()));
        }
        let mut linked = linked.into_iter();
        planned.retain(|_| linked.next().unwrap_or(false));
        if result.is_err() {
            remove_linked(planned);
        }
        result
    }

    fn link_each(
        &self,
        batch: &[NewMessage],
        planned: &[Planned],
        linked: &mut [bool],
        outcomes: &mut Outcomes,
    ) -> Result<(), StorageError> {
        for (position, message) in planned.iter().enumerate() {
            let new_message = &batch[message.index];
            self.ensure_message_dir(&message.path)?;
            match link_message(&new_message.spool_path, &message.path, new_message.size)? {
                Ok(()) => linked[position] = true,
                Err(error) => outcomes[message.index] = Some(Err(error)),
            }
        }
        let linked_paths = planned.iter().zip(linked.iter()).filter(|(_, linked)| **linked);
        sync_linked(linked_paths.map(|(message, _)| message.path.as_path()))
    }
}

/// Checks one message: flags, keywords, prefix, mailbox, spool file. The outer error
/// fails the batch (LMDB), the inner one only this message.
fn check_message(
    txn: &RoTxn<'_>,
    dbs: &Databases,
    message: &NewMessage,
    inbox: MailboxId,
    uidnext: &mut BTreeMap<MailboxId, Uid>,
) -> Result<Result<(MailboxId, Vec<String>), DeliveryError>, StorageError> {
    if !message.flags.is_valid() {
        let error = StorageError::InvalidFlags { bits: message.flags.0 };
        return Ok(Err(DeliveryError::InvalidFlags(Box::new(error))));
    }
    let keywords = match checked_keywords(&message.keywords) {
        Ok(keywords) => keywords,
        Err(error) => return Ok(Err(DeliveryError::InvalidFlags(Box::new(error)))),
    };
    if let Err(error) = check_prefix(&message.prefix) {
        return Ok(Err(error));
    }
    let mailbox = match message.mailbox {
        MailboxTarget::Inbox => inbox,
        MailboxTarget::Id(id) => id,
        MailboxTarget::SpecialUse(usage) => mailbox_with_special_use(txn, dbs, usage)?.unwrap_or(inbox),
    };
    let Some(record) = mailbox_record(txn, dbs, mailbox)? else {
        return Ok(Err(DeliveryError::NoSuchMailbox));
    };
    uidnext.entry(mailbox).or_insert(Uid(record.uidnext));
    if let Err(error) = check_spool(&message.spool_path, message.size) {
        return Ok(Err(error));
    }
    Ok(Ok((mailbox, keywords)))
}

fn check_prefix(prefix: &[u8]) -> Result<(), DeliveryError> {
    if prefix.len() > PREFIX_BYTES_MAX {
        return Err(DeliveryError::PrefixTooLarge { size: prefix.len(), max: PREFIX_BYTES_MAX });
    }
    if !prefix.is_empty() && !prefix.ends_with(b"\r\n") {
        return Err(DeliveryError::PrefixNotCrlf);
    }
    Ok(())
}

/// The spool file must be a regular file of exactly `size` bytes: a truncated or
/// overwritten spool is reported, never trusted.
fn check_spool(path: &Path, size: u64) -> Result<(), DeliveryError> {
    // Not following a symlink: `link` would link the symlink itself.
    let metadata = match fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == ErrorKind::NotFound => {
            return Err(DeliveryError::SpoolMissing);
        }
        Err(error) => return Err(DeliveryError::Io(error)),
    };
    if !metadata.is_file() {
        return Err(DeliveryError::Io(io::Error::new(
            ErrorKind::InvalidInput,
            "spool path is not a regular file",
        )));
    }
    if metadata.len() != size {
        return Err(DeliveryError::SpoolMismatch { expected: size, found: metadata.len() });
    }
    Ok(())
}

/// All or nothing: the first refused message (in batch order) fails the batch.
fn refuse_partial(outcomes: &mut Outcomes) -> Result<(), StorageError> {
    let refused = outcomes.iter_mut().enumerate().find(|(_, outcome)| matches!(outcome, Some(Err(_))));
    if let Some((index, outcome)) = refused
        && let Some(Err(error)) = outcome.take()
    {
        return Err(StorageError::MessageRefused { index, source: Box::new(error) });
    }
    Ok(())
}

/// Every batch position is refused or planned.
fn assert_decided(outcomes: &Outcomes, planned: &[Planned]) {
    for (index, outcome) in outcomes.iter().enumerate() {
        assert!(outcome.is_some() || planned.iter().any(|message| message.index == index));
    }
}

/// Removes the files of a batch that will not be indexed; they would be orphans.
fn remove_linked(planned: &[Planned]) {
    for message in planned {
        if let Err(error) = remove_if_exists(&message.path) {
            tracing::warn!(path = %message.path.display(), %error, "cannot remove file of failed delivery");
        }
    }
}

/// Phase 3, inside the write transaction: records, indexes, counts, counters.
fn index_batch(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    batch: &[NewMessage],
    signatures: &[Option<Vec<u8>>],
    plan: &Plan,
) -> Result<Vec<Delivered>, StorageError> {
    let stored_next = meta_u64(wtxn, dbs, keys::META_NEXT_MESSAGE_ID)?;
    if stored_next != plan.first_id.0 {
        return Err(StorageError::corrupt(format!(
            "next message id moved from {} to {stored_next} during delivery (a second writer?)",
            plan.first_id
        )));
    }
    let mut modseq = meta_u64(wtxn, dbs, keys::META_HIGHEST_MODSEQ)?;
    let mut mailboxes: BTreeMap<MailboxId, MailboxRecord> = BTreeMap::new();
    let mut delivered = Vec::with_capacity(plan.planned.len());
    for planned in &plan.planned {
        let message = &batch[planned.index];
        let mailbox = match mailboxes.entry(planned.mailbox) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                let record = mailbox_record(wtxn, dbs, planned.mailbox)?
                    .ok_or_else(|| StorageError::corrupt(format!("mailbox {} vanished", planned.mailbox)))?;
                entry.insert(record)
            }
        };
        modseq = modseq.checked_add(1).ok_or_else(|| StorageError::corrupt("modseq exhausted"))?;
        let stored = index_message(wtxn, dbs, message, planned, mailbox, ModSeq(modseq))?;
        if let Some(Some(signature)) = signatures.get(planned.index)
            && stored_summary(message).is_some()
        {
            dbs.textsigs.put(wtxn, &keys::message_key(planned.id), signature)?;
        }
        delivered.push(stored);
    }
    for record in mailboxes.values() {
        put_mailbox(wtxn, dbs, record)?;
    }
    put_meta_u64(wtxn, dbs, keys::META_NEXT_MESSAGE_ID, plan.end_id.0)?;
    put_meta_u64(wtxn, dbs, keys::META_HIGHEST_MODSEQ, modseq)?;
    Ok(delivered)
}

/// Puts one message's record and index entries and counts it in its mailbox.
fn index_message(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    message: &NewMessage,
    planned: &Planned,
    mailbox: &mut MailboxRecord,
    modseq: ModSeq,
) -> Result<Delivered, StorageError> {
    let uid = mailbox.take_uid()?;
    let record = MessageRecord {
        id: planned.id.0,
        mailbox: planned.mailbox.0,
        uid: uid.0,
        modseq: modseq.0,
        received_ms: message.received_ms,
        size: message.size,
        flags: message.flags.0,
        keywords: planned.keywords.clone(),
        prefix: message.prefix.clone(),
        saved_ms: message.saved_ms.unwrap_or(message.received_ms),
    };
    let id_key = keys::message_key(planned.id);
    dbs.messages.put(wtxn, &id_key, &encode_message(&record)?)?;
    match &message.summary {
        Some(summary) if summary.len() <= SUMMARY_BYTES_MAX => dbs.summaries.put(wtxn, &id_key, summary)?,
        Some(summary) => {
            tracing::warn!(id = %planned.id, bytes = summary.len(), "summary too large, not stored");
        }
        None => {}
    }
    dbs.uids.put(wtxn, &keys::uid_key(planned.mailbox, uid), &id_key)?;
    let place = (planned.mailbox, uid);
    crate::sortkeys::put_new(
        wtxn,
        dbs,
        place,
        stored_summary(message),
        message.received_ms,
        record.served_size(),
    )?;
    dbs.modseqs.put(wtxn, &keys::modseq_key(planned.mailbox, modseq, uid), &[])?;
    mailbox.count_in(message.flags, record.served_size())?;
    mailbox.highest_modseq = modseq.0;
    Ok(Delivered { id: planned.id, mailbox: planned.mailbox, uid, modseq, size: message.size })
}

/// The summary the store keeps for `message`: none when it has none or it is too large.
fn stored_summary(message: &NewMessage) -> Option<&[u8]> {
    message.summary.as_deref().filter(|summary| summary.len() <= SUMMARY_BYTES_MAX)
}

/// What the batch must have made true (STYLE example 4): per mailbox, contiguous UIDs
/// from its UIDNEXT; modseqs strictly increasing above the account's highest before.
fn assert_delivered(plan: &Plan, delivered: &[Delivered]) {
    assert_eq!(delivered.len(), plan.planned.len());
    let mut uidnext = plan.uidnext.clone();
    let mut modseq = plan.highest_modseq;
    for (planned, delivered) in plan.planned.iter().zip(delivered) {
        assert_eq!(delivered.id, planned.id);
        assert_eq!(delivered.mailbox, planned.mailbox);
        let expected_uid = uidnext.get_mut(&delivered.mailbox);
        assert_eq!(expected_uid.as_deref(), Some(&delivered.uid));
        if let Some(expected_uid) = expected_uid {
            expected_uid.0 += 1;
        }
        assert!(delivered.modseq > modseq);
        modseq = delivered.modseq;
    }
}
