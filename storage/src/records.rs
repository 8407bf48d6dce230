//! rkyv records stored as LMDB values: [`MessageRecord`] (in `messages`) and
//! `MailboxRecord` (in `mailboxes`), and the owned [`MessageInfo`] handed to callers.
//! The credentials and TLS key records (`credentials.rs`, `tls_keys.rs`) use the same
//! value layout through `encode` and `archive_bytes`.
//!
//! Value layout: one record-version byte, then the rkyv archive (crate feature
//! `unaligned`: LMDB values have no alignment, the archive needs none). Reads validate the
//! archive (`rkyv::access`) and then its meaning against the key; writes assert the
//! record's invariants before encoding (STYLE rule 8: validated before put, after get).
//!
//! Message records exist in two versions. Version 2 (written since schema 2) adds
//! `saved_ms` (RFC 8514 SAVEDATE). Version 1 records stay on disk after the schema
//! migration and read as [`StoredMessage::V1`] with `saved_ms = received_ms`; they are
//! rewritten as version 2 on their next change (flags, move). Callbacks that take an
//! [`ArchivedMessageRecord`] get a version-1 record as an upgraded copy (see
//! [`StoredMessage::with_current`]), so only legacy records pay for a copy.

use rkyv::rancor::BoxedError;
use rkyv::string::ArchivedString;
use rkyv::{Archive, Deserialize, Serialize};

use crate::error::StorageError;
use crate::flags::{Flags, SpecialUse};
use crate::ids::{MailboxId, MessageId, ModSeq, Uid, UidValidity};

/// Record version byte of message records this build writes.
pub(crate) const MESSAGE_RECORD_VERSION: u8 = 2;
/// Record version byte of schema-1 message records, which this build still reads.
pub(crate) const MESSAGE_RECORD_VERSION_V1: u8 = 1;
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
    /// RFC 8514 SAVEDATE: when the message was saved to its current mailbox.
    pub(crate) saved_ms: i64,
}

/// The version-1 layout of [`MessageRecord`] (schema 1): the same fields without
/// `saved_ms`. Part of the on-disk format: never change it.
#[derive(Archive, Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
#[rkyv(derive(Debug))]
pub(crate) struct MessageRecordV1 {
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
    /// RFC 8514 SAVEDATE, Unix milliseconds: when it was saved to this mailbox
    /// (delivery, APPEND, COPY, MOVE); `received_ms` for records older than schema 2.
    pub saved_ms: i64,
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
    /// RFC 8514 SAVEDATE, Unix milliseconds.
    pub fn saved_ms(&self) -> i64 {
        self.saved_ms.to_native()
    }
    /// Length of the message file.
    pub fn size(&self) -> u64 {
        self.size.to_native()
    }
    /// Served size: prefix plus file (RFC822.SIZE).
    pub fn served_size(&self) -> u64 {
        StoredMessage::Current(self).served_size()
    }
    /// System flags.
    pub fn flags(&self) -> Flags {
        Flags(self.flags.to_native())
    }
    /// Keywords, sorted case-insensitively.
    pub fn keywords(&self) -> impl Iterator<Item = &str> {
        self.keywords.iter().map(ArchivedString::as_str)
    }
    /// Header lines added at delivery.
    pub fn prefix(&self) -> &[u8] {
        self.prefix.as_slice()
    }
    /// An owned copy.
    pub fn to_info(&self) -> MessageInfo {
        StoredMessage::Current(self).to_info()
    }
}

/// A validated `messages` value of either record version, read in place.
#[derive(Clone, Copy, Debug)]
pub(crate) enum StoredMessage<'v> {
    /// Version 2, the current layout.
    Current(&'v ArchivedMessageRecord),
    /// Version 1 (schema 1), without `saved_ms`.
    V1(&'v ArchivedMessageRecordV1),
}

/// Reads one field that both record versions have.
macro_rules! either {
    ($stored:expr, $record:ident => $read:expr) => {
        match $stored {
            StoredMessage::Current($record) => $read,
            StoredMessage::V1($record) => $read,
        }
    };
}

impl<'v> StoredMessage<'v> {
    pub(crate) fn id(self) -> MessageId {
        MessageId(either!(self, record => record.id.to_native()))
    }
    pub(crate) fn mailbox(self) -> MailboxId {
        MailboxId(either!(self, record => record.mailbox.to_native()))
    }
    pub(crate) fn uid(self) -> Uid {
        Uid(either!(self, record => record.uid.to_native()))
    }
    pub(crate) fn modseq(self) -> ModSeq {
        ModSeq(either!(self, record => record.modseq.to_native()))
    }
    pub(crate) fn received_ms(self) -> i64 {
        either!(self, record => record.received_ms.to_native())
    }
    /// Version 1 records predate SAVEDATE (RFC 8514): they count as saved when received.
    /// Spec question: RFC 8514 also allows NIL for an unknown save date; INTERNALDATE is
    /// the closer answer for mail that never moved, and SEARCH SAVEDSINCE stays useful.
    pub(crate) fn saved_ms(self) -> i64 {
        match self {
            StoredMessage::Current(record) => record.saved_ms.to_native(),
            StoredMessage::V1(record) => record.received_ms.to_native(),
        }
    }
    pub(crate) fn size(self) -> u64 {
        either!(self, record => record.size.to_native())
    }
    pub(crate) fn flags(self) -> Flags {
        Flags(either!(self, record => record.flags.to_native()))
    }
    pub(crate) fn keywords(self) -> impl Iterator<Item = &'v str> {
        let keywords: &'v [ArchivedString] = either!(self, record => record.keywords.as_slice());
        keywords.iter().map(ArchivedString::as_str)
    }
    pub(crate) fn prefix(self) -> &'v [u8] {
        either!(self, record => record.prefix.as_slice())
    }
    /// Served size: prefix plus file (RFC822.SIZE).
    pub(crate) fn served_size(self) -> u64 {
        // A prefix is at most PREFIX_BYTES_MAX, far below u64::MAX.
        self.size().saturating_add(self.prefix().len() as u64)
    }

    /// An owned copy.
    pub(crate) fn to_info(self) -> MessageInfo {
        MessageInfo {
            id: self.id(),
            mailbox: self.mailbox(),
            uid: self.uid(),
            modseq: self.modseq(),
            received_ms: self.received_ms(),
            saved_ms: self.saved_ms(),
            size: self.size(),
            flags: self.flags(),
            keywords: self.keywords().map(str::to_string).collect(),
            prefix: self.prefix().to_vec(),
        }
    }

    /// The owned record in the current version, for read-modify-write.
    pub(crate) fn to_record(self) -> MessageRecord {
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
            saved_ms: self.saved_ms(),
        }
    }

    /// Calls `f` with the record in the current layout: in place, or for a version-1
    /// record with an upgraded copy (one encode and check; only legacy records pay it).
    pub(crate) fn with_current<R>(
        self,
        f: impl FnOnce(&ArchivedMessageRecord) -> R,
    ) -> Result<R, StorageError> {
        match self {
            StoredMessage::Current(record) => Ok(f(record)),
            StoredMessage::V1(_) => {
                let bytes = rkyv::to_bytes::<BoxedError>(&self.to_record())
                    .map_err(|error| StorageError::Encoding { message: error.to_string() })?;
                let record = rkyv::access::<ArchivedMessageRecord, BoxedError>(&bytes)
                    .map_err(|error| StorageError::Encoding { message: error.to_string() })?;
                Ok(f(record))
            }
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

    /// Hands out UIDNEXT and advances it; at 2^32-1 the mailbox needs a new UIDVALIDITY.
    pub(crate) fn take_uid(&mut self) -> Result<Uid, StorageError> {
        let uid = Uid(self.uidnext);
        self.uidnext =
            self.uidnext.checked_add(1).ok_or(StorageError::UidsExhausted { mailbox: MailboxId(self.id) })?;
        Ok(uid)
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

pub(crate) fn encode<T>(version: u8, record: &T) -> Result<Vec<u8>, StorageError>
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
pub(crate) fn archive_bytes<'v>(value: &'v [u8], version: u8, what: &str) -> Result<&'v [u8], StorageError> {
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

/// Encodes a record in the version-1 layout, as schema 1 wrote it (tests of the
/// migration path).
#[cfg(test)]
pub(crate) fn encode_message_v1(record: &MessageRecordV1) -> Result<Vec<u8>, StorageError> {
    encode(MESSAGE_RECORD_VERSION_V1, record)
}

/// Validates a `messages` value of either version in place and checks it against its key.
pub(crate) fn access_message(id: MessageId, value: &[u8]) -> Result<StoredMessage<'_>, StorageError> {
    let what = || format!("message {id}");
    let checked = |error: BoxedError| StorageError::corrupt(format!("{}: {error}", what()));
    let record = match value.split_first() {
        Some((&MESSAGE_RECORD_VERSION, archive)) => StoredMessage::Current(
            rkyv::access::<ArchivedMessageRecord, BoxedError>(archive).map_err(checked)?,
        ),
        Some((&MESSAGE_RECORD_VERSION_V1, archive)) => {
            StoredMessage::V1(rkyv::access::<ArchivedMessageRecordV1, BoxedError>(archive).map_err(checked)?)
        }
        Some((&found, _)) => {
            return Err(StorageError::corrupt(format!(
                "{}: record version {found}, this build reads {MESSAGE_RECORD_VERSION_V1} and \
                 {MESSAGE_RECORD_VERSION}",
                what()
            )));
        }
        None => return Err(StorageError::corrupt(format!("{}: empty value", what()))),
    };
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
