//! [`AccountStore::check_consistency`]: the full cross-check of an account's index and
//! files that `verifydata` and every test account run (STYLE rule 13).
//!
//! Checked: counters (ids, modseqs) bound what they count; mailboxes ⇔ names; per
//! mailbox, counts equal its messages and every UID is below UIDNEXT; every record has
//! its uid and modseq index entries and each index entry its record; tombstones are not
//! live UIDs; each record has a file of its size; each expunged message kept for a
//! session (`expunged.rs`) has its tombstone, and the ones that own their file a file of
//! its size; files without record or kept entry are orphans; each summary belongs to a
//! record or a kept entry (a record without summary is fine: delivered without
//! one, or older than schema 2); the credentials pass their checks and the schema-2
//! `password` key is gone once they are set; METADATA entries belong to the server or
//! an existing mailbox, have valid names and values, and keep within the limits
//! (`metadata.rs`). Subscriptions are not checked: they may name anything.
//! The check only reads; it holds the writer lock so no delivery is in flight (a file
//! linked but not yet indexed would look like an orphan).

use std::collections::BTreeMap;
use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use heed::RoTxn;

use crate::credentials::credential_problems;
use crate::error::StorageError;
use crate::flags::Flags;
use crate::ids::{MailboxId, MessageId, ModSeq, Uid};
use crate::keys;
use crate::records::{MailboxRecord, access_message, decode_mailbox};
use crate::schema::Databases;
use crate::store::AccountStore;
use crate::view::{meta_u32, meta_u64};

/// Most problems listed one by one; the rest are counted in a last line. Bounds the
/// report of a badly damaged store (millions of records) to a readable size.
const PROBLEMS_LISTED_MAX: usize = 1000;

/// What [`AccountStore::check_consistency`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsistencyReport {
    /// One line per problem (index disagreement, missing or wrong-size file, bad entry).
    pub problems: Vec<String>,
    /// Files in `msg/` without a record: left by a crash between link and commit (or
    /// expunge and unlink). Harmless; `verifydata --fix` moves them aside.
    pub orphan_files: Vec<PathBuf>,
    /// Message records checked.
    pub messages: u64,
}

impl ConsistencyReport {
    /// True when nothing was found.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty() && self.orphan_files.is_empty()
    }
}

/// Collects problems up to [`PROBLEMS_LISTED_MAX`].
#[derive(Default)]
struct Problems {
    listed: Vec<String>,
    unlisted: u64,
}

impl Problems {
    fn add(&mut self, problem: String) {
        if self.listed.len() < PROBLEMS_LISTED_MAX {
            self.listed.push(problem);
        } else {
            self.unlisted += 1;
        }
    }

    fn finish(mut self) -> Vec<String> {
        if self.unlisted > 0 {
            self.listed.push(format!("... and {} more problems", self.unlisted));
        }
        self.listed
    }
}

/// Per-mailbox sums recomputed from the records.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
struct Counts {
    messages: u32,
    unseen: u32,
    deleted: u32,
    size_bytes: u64,
}

/// (id → file size) of every valid record.
type MessageSizes = BTreeMap<MessageId, u64>;

/// The account counters.
struct Counters {
    next_message_id: u64,
    next_mailbox_id: u32,
    highest_modseq: u64,
}

impl AccountStore {
    /// Runs every check (see the module doc) and returns what it found. `Err` only when
    /// the check itself cannot run (LMDB or directory I/O failure). Takes the writer lock
    /// for its duration, so it waits for (and delays) writes; reads go on.
    pub fn check_consistency(&self) -> Result<ConsistencyReport, StorageError> {
        let writer = self.lmdb.lock_writer();
        let mut problems = Problems::default();
        let (files, messages) = {
            let read = self.lmdb.read_txn(Some(&writer))?;
            check_index(read.txn(), &self.dbs, &mut problems)?
        };
        let orphan_files = self.check_files(&files, &mut problems)?;
        drop(writer);
        Ok(ConsistencyReport { problems: problems.finish(), orphan_files, messages })
    }

    /// Every record's file exists with its size; returns files without record.
    fn check_files(
        &self,
        files: &BTreeMap<MessageId, u64>,
        problems: &mut Problems,
    ) -> Result<Vec<PathBuf>, StorageError> {
        for (&id, &size) in files {
            let path = self.message_path(id);
            match fs::metadata(&path) {
                Ok(metadata) if !metadata.is_file() => {
                    problems.add(format!("message {id}: {} is not a file", path.display()));
                }
                Ok(metadata) if metadata.len() != size => problems
                    .add(format!("message {id}: file has {} bytes, record says {size}", metadata.len())),
                Ok(_) => {}
                Err(error) if error.kind() == ErrorKind::NotFound => {
                    problems.add(format!("message {id}: file {} missing", path.display()));
                }
                Err(error) => return Err(StorageError::io(path, error)),
            }
        }
        let mut orphans = Vec::new();
        for (dir_index, dir) in numbered_entries(&self.message_dir, problems)? {
            if !dir.is_dir() {
                problems.add(format!("unexpected file {}", dir.display()));
                continue;
            }
            for (id, path) in numbered_entries(&dir, problems)? {
                let id = MessageId(id);
                if id.dir_index() != dir_index {
                    problems.add(format!("message file {} in the wrong directory", path.display()));
                } else if !files.contains_key(&id) {
                    orphans.push(path);
                }
            }
        }
        orphans.sort();
        Ok(orphans)
    }
}

/// Entries of `dir` named by a decimal number in canonical form; others are problems.
fn numbered_entries(dir: &Path, problems: &mut Problems) -> Result<Vec<(u64, PathBuf)>, StorageError> {
    let entries = fs::read_dir(dir).map_err(|error| StorageError::io(dir, error))?;
    let mut numbered = Vec::new();
    for entry in entries {
        let path = entry.map_err(|error| StorageError::io(dir, error))?.path();
        let number = path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.parse::<u64>().ok().filter(|n| n.to_string() == name));
        match number {
            Some(number) => numbered.push((number, path)),
            None => problems.add(format!("unexpected entry {}", path.display())),
        }
    }
    numbered.sort();
    Ok(numbered)
}

/// Checks the databases against each other; returns (id, size) of every file a valid
/// record or kept expunged message owns, and the number of records.
fn check_index(
    txn: &RoTxn<'_>,
    dbs: &Databases,
    problems: &mut Problems,
) -> Result<(BTreeMap<MessageId, u64>, u64), StorageError> {
    let counters = Counters {
        next_message_id: meta_u64(txn, dbs, keys::META_NEXT_MESSAGE_ID)?,
        next_mailbox_id: meta_u32(txn, dbs, keys::META_NEXT_MAILBOX_ID)?,
        highest_modseq: meta_u64(txn, dbs, keys::META_HIGHEST_MODSEQ)?,
    };
    let mailboxes = check_mailboxes(txn, dbs, &counters, problems)?;
    let (files, counts) = check_messages(txn, dbs, &counters, &mailboxes, problems)?;
    for (id, record) in &mailboxes {
        let found = counts.get(id).copied().unwrap_or_default();
        let stored = Counts {
            messages: record.messages,
            unseen: record.unseen,
            deleted: record.deleted,
            size_bytes: record.size_bytes,
        };
        if found != stored {
            problems.add(format!("mailbox {id}: counts {stored:?}, messages say {found:?}"));
        }
    }
    check_uid_index(txn, dbs, problems)?;
    check_modseq_index(txn, dbs, problems)?;
    check_tombstones(txn, dbs, &counters, &mailboxes, problems)?;
    crate::tombstones::check(txn, dbs, |problem| problems.add(problem))?;
    let records = files.len() as u64;
    let mut files = files;
    check_expunged(txn, dbs, &counters, &mut files, problems)?;
    check_summaries(txn, dbs, &files, problems)?;
    check_text_signatures(txn, dbs, problems)?;
    check_sort_keys(txn, dbs, problems)?;
    for problem in credential_problems(txn, dbs)? {
        problems.add(problem);
    }
    for problem in crate::metadata::check(txn, dbs)? {
        problems.add(problem);
    }
    for problem in crate::urlauth::check(txn, dbs)? {
        problems.add(problem);
    }
    Ok((files, records))
}

fn check_mailboxes(
    txn: &RoTxn<'_>,
    dbs: &Databases,
    counters: &Counters,
    problems: &mut Problems,
) -> Result<BTreeMap<MailboxId, MailboxRecord>, StorageError> {
    let mut mailboxes = BTreeMap::new();
    for entry in dbs.mailboxes.iter(txn)? {
        let (key, value) = entry?;
        let record = match keys::decode_mailbox_key(key).and_then(|id| decode_mailbox(id, value)) {
            Ok(record) => record,
            Err(error) => {
                problems.add(error.to_string());
                continue;
            }
        };
        if record.id >= counters.next_mailbox_id {
            problems.add(format!("mailbox {} not below the id counter", record.id));
        }
        if record.highest_modseq > counters.highest_modseq {
            problems.add(format!("mailbox {}: highest modseq above the account's", record.id));
        }
        let named = dbs.mailbox_names.get(txn, record.name.as_bytes())?;
        if named != Some(&keys::mailbox_key(MailboxId(record.id))[..]) {
            problems.add(format!("mailbox {}: name {:?} not indexed to it", record.id, record.name));
        }
        mailboxes.insert(MailboxId(record.id), record);
    }
    for entry in dbs.mailbox_names.iter(txn)? {
        let (name, value) = entry?;
        let known = keys::decode_mailbox_key(value)
            .ok()
            .and_then(|id| mailboxes.get(&id))
            .is_some_and(|record| record.name.as_bytes() == name);
        if !known {
            problems.add(format!("mailbox name {:?} points nowhere", String::from_utf8_lossy(name)));
        }
    }
    Ok(mailboxes)
}

/// Checks every record; returns (id → size) and the counts per mailbox.
fn check_messages(
    txn: &RoTxn<'_>,
    dbs: &Databases,
    counters: &Counters,
    mailboxes: &BTreeMap<MailboxId, MailboxRecord>,
    problems: &mut Problems,
) -> Result<(MessageSizes, BTreeMap<MailboxId, Counts>), StorageError> {
    let mut files = BTreeMap::new();
    let mut counts: BTreeMap<MailboxId, Counts> = BTreeMap::new();
    for entry in dbs.messages.iter(txn)? {
        let (key, value) = entry?;
        let record = match keys::decode_message_key(key).and_then(|id| access_message(id, value)) {
            Ok(record) => record,
            Err(error) => {
                problems.add(error.to_string());
                continue;
            }
        };
        let (id, mailbox, uid, modseq) = (record.id(), record.mailbox(), record.uid(), record.modseq());
        files.insert(id, record.size());
        let here = format!("message {id} ({mailbox}, {uid})");
        if id.0 >= counters.next_message_id {
            problems.add(format!("{here}: id not below the id counter"));
        }
        if modseq.0 > counters.highest_modseq {
            problems.add(format!("{here}: modseq {modseq} above the account's"));
        }
        let Some(owner) = mailboxes.get(&mailbox) else {
            problems.add(format!("{here}: no such mailbox"));
            continue;
        };
        if uid.0 >= owner.uidnext {
            problems.add(format!("{here}: uid not below UIDNEXT {}", owner.uidnext));
        }
        if modseq.0 > owner.highest_modseq {
            problems.add(format!("{here}: modseq {modseq} above the mailbox's"));
        }
        check_record_indexes(txn, dbs, (id, mailbox, uid, modseq), &here, problems)?;
        let sums = counts.entry(mailbox).or_default();
        sums.messages += 1;
        sums.unseen += u32::from(!record.flags().contains(Flags::SEEN));
        sums.deleted += u32::from(record.flags().contains(Flags::DELETED));
        sums.size_bytes += record.served_size();
    }
    Ok((files, counts))
}

/// A record's uid and modseq entries exist and it has no tombstone.
fn check_record_indexes(
    txn: &RoTxn<'_>,
    dbs: &Databases,
    (id, mailbox, uid, modseq): (MessageId, MailboxId, Uid, ModSeq),
    here: &str,
    problems: &mut Problems,
) -> Result<(), StorageError> {
    let uid_key = keys::uid_key(mailbox, uid);
    if dbs.uids.get(txn, &uid_key)? != Some(&keys::message_key(id)[..]) {
        problems.add(format!("{here}: uid index does not point to it"));
    }
    if dbs.modseqs.get(txn, &keys::modseq_key(mailbox, modseq, uid))?.is_none() {
        problems.add(format!("{here}: modseq index lacks it"));
    }
    if dbs.tombstones.get(txn, &uid_key)?.is_some() {
        problems.add(format!("{here}: has a tombstone"));
    }
    Ok(())
}

/// Each uid index entry points to a record that agrees.
fn check_uid_index(txn: &RoTxn<'_>, dbs: &Databases, problems: &mut Problems) -> Result<(), StorageError> {
    for entry in dbs.uids.iter(txn)? {
        let (key, value) = entry?;
        let agrees = match (keys::decode_uid_key(key), keys::decode_message_key(value)) {
            (Ok((mailbox, uid)), Ok(id)) => dbs
                .messages
                .get(txn, &keys::message_key(id))?
                .and_then(|value| access_message(id, value).ok())
                .is_some_and(|record| record.mailbox() == mailbox && record.uid() == uid),
            _ => false,
        };
        if !agrees {
            problems.add(format!("uid index entry {key:?} -> {value:?} has no matching record"));
        }
    }
    Ok(())
}

/// Each modseq index entry names a message with that modseq.
fn check_modseq_index(txn: &RoTxn<'_>, dbs: &Databases, problems: &mut Problems) -> Result<(), StorageError> {
    for entry in dbs.modseqs.iter(txn)? {
        let (key, _) = entry?;
        let agrees = match keys::decode_modseq_key(key) {
            Ok((mailbox, modseq, uid)) => {
                let id = dbs
                    .uids
                    .get(txn, &keys::uid_key(mailbox, uid))?
                    .and_then(|value| keys::decode_message_key(value).ok());
                match id {
                    Some(id) => dbs
                        .messages
                        .get(txn, &keys::message_key(id))?
                        .and_then(|value| access_message(id, value).ok())
                        .is_some_and(|record| record.modseq() == modseq),
                    None => false,
                }
            }
            Err(_) => false,
        };
        if !agrees {
            problems.add(format!("modseq index entry {key:?} has no matching record"));
        }
    }
    Ok(())
}

/// Tombstones name UIDs that were handed out, with modseqs that were.
fn check_tombstones(
    txn: &RoTxn<'_>,
    dbs: &Databases,
    counters: &Counters,
    mailboxes: &BTreeMap<MailboxId, MailboxRecord>,
    problems: &mut Problems,
) -> Result<(), StorageError> {
    for entry in dbs.tombstones.iter(txn)? {
        let (key, value) = entry?;
        let (Ok((mailbox, uid)), Ok(modseq)) =
            (keys::decode_uid_key(key), keys::decode_u64(value, "tombstone"))
        else {
            problems.add(format!("tombstone {key:?} -> {value:?} malformed"));
            continue;
        };
        let Some(owner) = mailboxes.get(&mailbox) else {
            problems.add(format!("tombstone ({mailbox}, {uid}): no such mailbox"));
            continue;
        };
        if uid.0 >= owner.uidnext || modseq > owner.highest_modseq || modseq > counters.highest_modseq {
            problems.add(format!("tombstone ({mailbox}, {uid}) at {modseq}: beyond the counters"));
        }
    }
    Ok(())
}

/// Each kept expunged message: a well-formed entry below the counters whose mailbox (if
/// it still exists) has its tombstone at that modseq; an owning entry adds its file to
/// `files` (so it is checked and not an orphan).
fn check_expunged(
    txn: &RoTxn<'_>,
    dbs: &Databases,
    counters: &Counters,
    files: &mut MessageSizes,
    problems: &mut Problems,
) -> Result<(), StorageError> {
    for entry in dbs.expunged.iter(txn)? {
        let (key, value) = entry?;
        let decoded = keys::decode_expunged_key(key)
            .and_then(|(modseq, mailbox, uid)| Ok((modseq, mailbox, uid, crate::expunged::decode(value)?)));
        let (modseq, mailbox, uid, (id, owns_file, record)) = match decoded {
            Ok(decoded) => decoded,
            Err(error) => {
                problems.add(format!("expunged entry {key:?}: {error}"));
                continue;
            }
        };
        let here = format!("expunged message {id} ({mailbox}, {uid}) at {modseq}");
        if record.mailbox() != mailbox || record.uid() != uid || modseq.0 > counters.highest_modseq {
            problems.add(format!("{here}: entry contradicts its key or the counters"));
        }
        let tombstone = dbs.tombstones.get(txn, &keys::uid_key(mailbox, uid))?;
        let mailbox_exists = dbs.mailboxes.get(txn, &keys::mailbox_key(mailbox))?.is_some();
        if mailbox_exists && tombstone != Some(&modseq.0.to_be_bytes()[..]) {
            problems.add(format!("{here}: tombstone missing or at another modseq"));
        }
        if owns_file && files.insert(id, record.size()).is_some() {
            problems.add(format!("{here}: owns the file of a live message"));
        }
    }
    Ok(())
}

/// Every `sortkeys` entry belongs to a live message (a uid index entry) and agrees with
/// its record on INTERNALDATE and served size.
fn check_sort_keys(txn: &RoTxn<'_>, dbs: &Databases, problems: &mut Problems) -> Result<(), StorageError> {
    for entry in dbs.sortkeys.iter(txn)? {
        let (key, value) = entry?;
        let Ok((mailbox, uid)) = keys::decode_uid_key(key) else {
            problems.add(format!("sort keys key {key:?} malformed"));
            continue;
        };
        let entry = match crate::sortkeys::decode(uid, value) {
            Ok(entry) => entry,
            Err(error) => {
                problems.add(format!("sort keys of ({mailbox}, {uid}): {error}"));
                continue;
            }
        };
        match crate::view::message_record_by_uid(txn, dbs, mailbox, uid)? {
            None => problems.add(format!("sort keys of ({mailbox}, {uid}), which has no message")),
            Some(record)
                if record.received_ms() != entry.received_ms || record.served_size() != entry.served_size =>
            {
                problems.add(format!("sort keys of ({mailbox}, {uid}) disagree with its record"));
            }
            Some(_) => {}
        }
    }
    Ok(())
}

/// Every text signature sits beside a summary (`textsigs.rs`).
fn check_text_signatures(
    txn: &RoTxn<'_>,
    dbs: &Databases,
    problems: &mut Problems,
) -> Result<(), StorageError> {
    for entry in dbs.textsigs.iter(txn)? {
        let (key, _) = entry?;
        if dbs.summaries.get(txn, key)?.is_none() {
            match keys::decode_message_key(key) {
                Ok(id) => problems.add(format!("text signature of message {id}, which has no summary")),
                Err(_) => problems.add(format!("text signature key {key:?} malformed")),
            }
        }
    }
    Ok(())
}

/// Every summary belongs to a message record or a kept expunged message.
fn check_summaries(
    txn: &RoTxn<'_>,
    dbs: &Databases,
    files: &MessageSizes,
    problems: &mut Problems,
) -> Result<(), StorageError> {
    for entry in dbs.summaries.iter(txn)? {
        let (key, _) = entry?;
        match keys::decode_message_key(key) {
            Ok(id) if files.contains_key(&id) => {}
            Ok(id) => problems.add(format!("summary of message {id}, which has no record")),
            Err(_) => problems.add(format!("summary key {key:?} malformed")),
        }
    }
    Ok(())
}
