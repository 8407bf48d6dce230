//! Key and small-value encodings of the LMDB databases (see the schema table in lib.rs).
//!
//! Invariant: integers are big-endian, so LMDB's lexicographic byte order equals numeric
//! order and a (mailbox, ...) prefix selects one mailbox's entries in order.

use crate::error::StorageError;
use crate::ids::{MailboxId, MessageId, ModSeq, Uid};

/// Meta key: schema version, u32.
pub(crate) const META_SCHEMA_VERSION: &[u8] = b"schema_version";
/// Meta key: next message id to allocate, u64.
pub(crate) const META_NEXT_MESSAGE_ID: &[u8] = b"next_message_id";
/// Meta key: next mailbox id to allocate, u32.
pub(crate) const META_NEXT_MAILBOX_ID: &[u8] = b"next_mailbox_id";
/// Meta key: next UIDVALIDITY to hand out, u32.
pub(crate) const META_NEXT_UIDVALIDITY: &[u8] = b"next_uidvalidity";
/// Meta key: the account's modseq counter (highest assigned), u64.
pub(crate) const META_HIGHEST_MODSEQ: &[u8] = b"highest_modseq";
/// Meta key of schema 2 and older: argon2id PHC string of the account password. Read
/// (as credentials with only that hash) until the next set replaces it by
/// [`META_CREDENTIALS`].
pub(crate) const META_PASSWORD: &[u8] = b"password";
/// Meta key (schema 3): version byte + rkyv credentials record (`credentials.rs`).
pub(crate) const META_CREDENTIALS: &[u8] = b"credentials";

pub(crate) fn mailbox_key(mailbox: MailboxId) -> [u8; 4] {
    mailbox.0.to_be_bytes()
}

pub(crate) fn message_key(id: MessageId) -> [u8; 8] {
    id.0.to_be_bytes()
}

/// Key of `uids` and `tombstones`: (mailbox, uid).
pub(crate) fn uid_key(mailbox: MailboxId, uid: Uid) -> [u8; 8] {
    let mut key = [0; 8];
    key[..4].copy_from_slice(&mailbox.0.to_be_bytes());
    key[4..].copy_from_slice(&uid.0.to_be_bytes());
    key
}

/// Key of `modseqs`: (mailbox, modseq, uid).
pub(crate) fn modseq_key(mailbox: MailboxId, modseq: ModSeq, uid: Uid) -> [u8; 16] {
    let mut key = [0; 16];
    key[..4].copy_from_slice(&mailbox.0.to_be_bytes());
    key[4..12].copy_from_slice(&modseq.0.to_be_bytes());
    key[12..].copy_from_slice(&uid.0.to_be_bytes());
    key
}

/// Key of `expunged`: (expunge modseq, mailbox, uid), so a purge walks the oldest first.
pub(crate) fn expunged_key(modseq: ModSeq, mailbox: MailboxId, uid: Uid) -> [u8; 16] {
    let mut key = [0; 16];
    key[..8].copy_from_slice(&modseq.0.to_be_bytes());
    key[8..12].copy_from_slice(&mailbox.0.to_be_bytes());
    key[12..].copy_from_slice(&uid.0.to_be_bytes());
    key
}

/// Inclusive bounds of the `N`-byte keys that start with `mailbox` (the keys of `uids`
/// and `tombstones` have 8 bytes, those of `modseqs` 16): all of one mailbox's entries.
pub(crate) fn mailbox_key_bounds<const N: usize>(mailbox: MailboxId) -> ([u8; N], [u8; N]) {
    const { assert!(N >= 4) };
    let mut first = [0; N];
    let mut last = [0xff; N];
    first[..4].copy_from_slice(&mailbox.0.to_be_bytes());
    last[..4].copy_from_slice(&mailbox.0.to_be_bytes());
    (first, last)
}

fn fixed<const N: usize>(bytes: &[u8], what: &str) -> Result<[u8; N], StorageError> {
    bytes
        .try_into()
        .map_err(|_| StorageError::corrupt(format!("{what}: {} bytes where {N} were expected", bytes.len())))
}

pub(crate) fn decode_u32(bytes: &[u8], what: &str) -> Result<u32, StorageError> {
    fixed::<4>(bytes, what).map(u32::from_be_bytes)
}

pub(crate) fn decode_u64(bytes: &[u8], what: &str) -> Result<u64, StorageError> {
    fixed::<8>(bytes, what).map(u64::from_be_bytes)
}

pub(crate) fn decode_mailbox_key(bytes: &[u8]) -> Result<MailboxId, StorageError> {
    decode_u32(bytes, "mailbox key").map(MailboxId)
}

pub(crate) fn decode_message_key(bytes: &[u8]) -> Result<MessageId, StorageError> {
    decode_u64(bytes, "message key").map(MessageId)
}

pub(crate) fn decode_uid_key(bytes: &[u8]) -> Result<(MailboxId, Uid), StorageError> {
    let key = fixed::<8>(bytes, "uid key")?;
    let (mailbox, uid) = key.split_at(4);
    Ok((MailboxId(decode_u32(mailbox, "uid key")?), Uid(decode_u32(uid, "uid key")?)))
}

pub(crate) fn decode_modseq_key(bytes: &[u8]) -> Result<(MailboxId, ModSeq, Uid), StorageError> {
    let key = fixed::<16>(bytes, "modseq key")?;
    Ok((
        MailboxId(decode_u32(&key[..4], "modseq key")?),
        ModSeq(decode_u64(&key[4..12], "modseq key")?),
        Uid(decode_u32(&key[12..], "modseq key")?),
    ))
}

pub(crate) fn decode_expunged_key(bytes: &[u8]) -> Result<(ModSeq, MailboxId, Uid), StorageError> {
    let key = fixed::<16>(bytes, "expunged key")?;
    Ok((
        ModSeq(decode_u64(&key[..8], "expunged key")?),
        MailboxId(decode_u32(&key[8..12], "expunged key")?),
        Uid(decode_u32(&key[12..], "expunged key")?),
    ))
}
