//! rkyv records stored as LMDB values: [`MessageRecord`] (in `messages`) and
//! `MailboxRecord` (in `mailboxes`), and the owned [`MessageInfo`] handed to callers.
//!
//! Value layout: one record-version byte, then the rkyv archive (crate feature
//! `unaligned`: LMDB values have no alignment, the archive needs none). Reads validate the
//! archive (`rkyv::access`) and then its meaning against the key; writes assert the
//! record's invariants before encoding (STYLE rule 8: validated before put, after get).

use rkyv::rancor::BoxedError;
use rkyv::{Archive, Deserialize, Serialize};

use crate::error::StorageError;
use crate::flags::{Flags, SpecialUse};
use crate::ids::{MailboxId, MessageId, ModSeq, Uid, UidValidity};

/// Record version byte of message records this build writes and reads.
pub(crate) const MESSAGE_RECORD_VERSION: u8 = 1;
/// Record version byte of mailbox records this build writes and reads.
pub(crate) const MAILBOX_RECORD_VERSION: u8 = 1;

/// The index record of one message: where it is, its IMAP state, and the header lines
/// added at delivery. The message as served is `prefix` followed by the file's bytes.
///
/// Read in place as [`ArchivedMessageRecord`] through [`crate::ReadView::for_each_message`].
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub struct MessageRecord {
    pub(crate) id: u64,
    pub(crate) mailbox: u32,
    pub(crate) uid: u32,
    pub(crate) modseq: u64,
    pub(crate) received_ms: i64,
    pub(crate) size: u64,
    pub(crate) flags: u32,
    pub(crate) keywords: Vec<String>,
    pub(crate) prefix: Vec<u8>,
}

/// One message as callers see it (an owned copy of its record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    /// Account-wide id; names the file.
    pub id: MessageId,
    /// Mailbox holding it.
    pub mailbox: MailboxId,
    /// UID in that mailbox.
    pub uid: Uid,
    /// Mod-sequence of its last change.
    pub modseq: ModSeq,
    /// INTERNALDATE, Unix milliseconds.
    pub received_ms: i64,
    /// Length of the message file (the original bytes); served size is
    /// `prefix.len() + size`.
    pub size: u64,
    /// System flags.
    pub flags: Flags,
    /// Keywords, sorted case-insensitively.
    pub keywords: Vec<String>,
    /// Header lines added at delivery, each ending in CRLF; served before the file.
    pub prefix: Vec<u8>,
}

impl ArchivedMessageRecord {
    /// Account-wide message id.
    pub fn id(&self) -> MessageId {
        MessageId(self.id.to_native())
    }
    /// Mailbox holding the message.
    pub fn mailbox(&self) -> MailboxId {
        MailboxId(self.mailbox.to_native())
    }
    /// UID in its mailbox.
    pub fn uid(&self) -> Uid {
        Uid(self.uid.to_native())
    }
    /// Mod-sequence of the last change.
    pub fn modseq(&self) -> ModSeq {
        ModSeq(self.modseq.to_native())
    }
    /// INTERNALDATE, Unix milliseconds.
    pub fn received_ms(&self) -> i64 {
        self.received_ms.to_native()
    }
    /// Length of the message file.
    pub fn size(&self) -> u64 {
        self.size.to_native()
    }
    /// Served size: prefix plus file (RFC822.SIZE).
    pub fn served_size(&self) -> u64 {
        // A prefix is at most PREFIX_BYTES_MAX, far below u64::MAX.
        self.size().saturating_add(self.prefix.len() as u64)
    }
    /// System flags.
    pub fn flags(&self) -> Flags {
        Flags(self.flags.to_native())
    }
    /// Keywords, sorted case-insensitively.
    pub fn keywords(&self) -> impl Iterator<Item = &str> {
        self.keywords.iter().map(|keyword| keyword.as_str())
    }
    /// Header lines added at delivery.
    pub fn prefix(&self) -> &[u8] {
        self.prefix.as_slice()
    }
    /// An owned copy.
    pub fn to_info(&self) -> MessageInfo {
        MessageInfo {
            id: self.id(),
            mailbox: self.mailbox(),
            uid: self.uid(),
            modseq: self.modseq(),
            received_ms: self.received_ms(),
            size: self.size(),
            flags: self.flags(),
            keywords: self.keywords().map(str::to_string).collect(),
            prefix: self.prefix().to_vec(),
        }
    }
    /// The owned record, for read-modify-write.
    pub(crate) fn to_record(&self) -> MessageRecord {
        MessageRecord {
            id: self.id().0,
            mailbox: self.mailbox().0,
            uid: self.uid().0,
            modseq: self.modseq().0,
            received_ms: self.received_ms(),
            size: self.size(),
            flags: self.flags().0,
            keywords: self.keywords().map(str::to_string).collect(),
            prefix: self.prefix().to_vec(),
        }
    }
}

/// The index record of one mailbox: name, counters, and the counts STATUS reports.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub(crate) struct MailboxRecord {
    pub(crate) id: u32,
    pub(crate) name: String,
    /// [`SpecialUse::code`], 0 for none.
    pub(crate) special_use: u8,
    pub(crate) uidvalidity: u32,
    pub(crate) uidnext: u32,
    pub(crate) highest_modseq: u64,
    pub(crate) messages: u32,
    pub(crate) unseen: u32,
    pub(crate) deleted: u32,
    /// Sum of served sizes (prefix + file) of its messages (RFC 8438 STATUS SIZE).
    pub(crate) size_bytes: u64,
}

impl MessageRecord {
    /// Served size: prefix plus file (RFC822.SIZE).
    pub(crate) fn served_size(&self) -> u64 {
        self.size.saturating_add(self.prefix.len() as u64)
    }
}

impl MailboxRecord {
    /// Counts a message arriving with `flags` and `served_size`.
    pub(crate) fn count_in(&mut self, flags: Flags, served_size: u64) -> Result<(), StorageError> {
        let overflow = || StorageError::corrupt(format!("mailbox {}: count overflow", self.id));
        self.messages = self.messages.checked_add(1).ok_or_else(overflow)?;
        if !flags.contains(Flags::SEEN) {
            self.unseen = self.unseen.checked_add(1).ok_or_else(overflow)?;
        }
        if flags.contains(Flags::DELETED) {
            self.deleted = self.deleted.checked_add(1).ok_or_else(overflow)?;
        }
        self.size_bytes = self.size_bytes.checked_add(served_size).ok_or_else(overflow)?;
        Ok(())
    }

    /// Uncounts a message leaving with `flags` and `served_size`.
    pub(crate) fn count_out(&mut self, flags: Flags, served_size: u64) -> Result<(), StorageError> {
        let underflow = || StorageError::corrupt(format!("mailbox {}: count underflow", self.id));
        self.messages = self.messages.checked_sub(1).ok_or_else(underflow)?;
        if !flags.contains(Flags::SEEN) {
            self.unseen = self.unseen.checked_sub(1).ok_or_else(underflow)?;
        }
        if flags.contains(Flags::DELETED) {
            self.deleted = self.deleted.checked_sub(1).ok_or_else(underflow)?;
        }
        self.size_bytes = self.size_bytes.checked_sub(served_size).ok_or_else(underflow)?;
        Ok(())
    }

    /// Recounts a message whose flags change from `old` to `new`.
    pub(crate) fn recount(&mut self, old: Flags, new: Flags) -> Result<(), StorageError> {
        self.count_out(old, 0)?;
        self.count_in(new, 0)
    }

    pub(crate) fn special_use(&self) -> Result<Option<SpecialUse>, StorageError> {
        SpecialUse::from_code(self.special_use)
            .map_err(|code| StorageError::corrupt(format!("mailbox {}: special use code {code}", self.id)))
    }
}

fn encode<T>(version: u8, record: &T) -> Result<Vec<u8>, StorageError>
where
    T: for<'a> Serialize<
        rkyv::api::high::HighSerializer<
            rkyv::util::AlignedVec,
            rkyv::ser::allocator::ArenaHandle<'a>,
            BoxedError,
        >,
    >,
{
    let archive = rkyv::to_bytes::<BoxedError>(record)
        .map_err(|error| StorageError::Encoding { message: error.to_string() })?;
    let mut value = Vec::with_capacity(1 + archive.len());
    value.push(version);
    value.extend_from_slice(&archive);
    Ok(value)
}

/// Splits off and checks the version byte.
fn archive_bytes<'v>(value: &'v [u8], version: u8, what: &str) -> Result<&'v [u8], StorageError> {
    match value.split_first() {
        Some((&found, archive)) if found == version => Ok(archive),
        Some((&found, _)) => {
            Err(StorageError::corrupt(format!("{what}: record version {found}, this build reads {version}")))
        }
        None => Err(StorageError::corrupt(format!("{what}: empty value"))),
    }
}

/// Encodes a message record; asserts the invariants every stored record has.
pub(crate) fn encode_message(record: &MessageRecord) -> Result<Vec<u8>, StorageError> {
    assert!(record.id >= 1);
    assert!(record.mailbox >= 1);
    assert!(record.uid >= 1);
    assert!(record.modseq >= 1);
    assert!(Flags(record.flags).is_valid());
    encode(MESSAGE_RECORD_VERSION, record)
}

/// Validates a `messages` value in place and checks it against its key.
pub(crate) fn access_message(id: MessageId, value: &[u8]) -> Result<&ArchivedMessageRecord, StorageError> {
    let what = || format!("message {id}");
    let archive = archive_bytes(value, MESSAGE_RECORD_VERSION, &what())?;
    let record = rkyv::access::<ArchivedMessageRecord, BoxedError>(archive)
        .map_err(|error| StorageError::corrupt(format!("{}: {error}", what())))?;
    let sane = record.id() == id
        && record.mailbox().0 >= 1
        && record.uid().0 >= 1
        && record.modseq().0 >= 1
        && record.flags().is_valid();
    if !sane {
        return Err(StorageError::corrupt(format!(
            "{}: record contradicts its key or invariants: {record:?}",
            what()
        )));
    }
    Ok(record)
}

/// Encodes a mailbox record; asserts the invariants every stored record has.
pub(crate) fn encode_mailbox(record: &MailboxRecord) -> Result<Vec<u8>, StorageError> {
    assert!(record.id >= 1);
    assert!(record.uidnext >= 1);
    assert!(record.highest_modseq >= 1);
    assert!(record.unseen <= record.messages);
    assert!(record.deleted <= record.messages);
    encode(MAILBOX_RECORD_VERSION, record)
}

/// Validates a `mailboxes` value and returns an owned copy checked against its key.
pub(crate) fn decode_mailbox(id: MailboxId, value: &[u8]) -> Result<MailboxRecord, StorageError> {
    let what = || format!("mailbox {id}");
    let archive = archive_bytes(value, MAILBOX_RECORD_VERSION, &what())?;
    let archived = rkyv::access::<ArchivedMailboxRecord, BoxedError>(archive)
        .map_err(|error| StorageError::corrupt(format!("{}: {error}", what())))?;
    let record = rkyv::deserialize::<MailboxRecord, BoxedError>(archived)
        .map_err(|error| StorageError::corrupt(format!("{}: {error}", what())))?;
    let sane = record.id == id.0
        && record.uidnext >= 1
        && record.highest_modseq >= 1
        && record.unseen <= record.messages
        && record.deleted <= record.messages;
    if !sane {
        return Err(StorageError::corrupt(format!(
            "{}: record contradicts its key or invariants: {record:?}",
            what()
        )));
    }
    record.special_use()?;
    Ok(record)
}

impl MailboxRecord {
    /// The caller's view of this record.
    pub(crate) fn to_info(&self) -> Result<crate::mailbox::MailboxInfo, StorageError> {
        Ok(crate::mailbox::MailboxInfo {
            id: MailboxId(self.id),
            name: self.name.clone(),
            special_use: self.special_use()?,
            uidvalidity: UidValidity(self.uidvalidity),
            uidnext: Uid(self.uidnext),
            highest_modseq: ModSeq(self.highest_modseq),
            messages: self.messages,
            unseen: self.unseen,
            deleted: self.deleted,
            size_bytes: self.size_bytes,
        })
    }
}
