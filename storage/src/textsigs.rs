//! The `textsigs` database (schema 8): per message, by MessageId, its text signature, so
//! SEARCH BODY and TEXT rule most messages out without opening their files (issue 16).
//!
//! Value: the signature's bytes, made from the message's summary and file by the
//! function the process registered with [`set_text_signature_deriver`] (opaque here: the
//! IMAP side makes and reads them). Made before the delivery's write lock is taken (it
//! reads the file's text, up to the deriver's own bound), written in the transaction that
//! stores the message, copied by COPY (MOVE keeps the MessageId), removed wherever the
//! message's summary is, and checked by verifydata: an entry always sits beside a
//! summary.
//!
//! A message without an entry (stored before schema 8, without a summary, by a process
//! that registered no deriver, or whose text the deriver declined) is read by the
//! search, as before; readers must not assume every message has one.

use std::fs::File;
use std::sync::OnceLock;

use heed::RwTxn;

use crate::error::StorageError;
use crate::ids::MessageId;
use crate::keys;
use crate::schema::Databases;

/// Longest signature stored for one message: the deriver's largest (8 KiB of bits and a
/// small header) with room to spare. A longer one is not stored.
pub const TEXT_SIGNATURE_BYTES_MAX: usize = 16 * 1024;

/// Turns a stored summary ([`crate::NewMessage::summary`]) and the message's file into
/// its text signature; `None` when it declines (the message then gets no entry).
/// Blocking: it reads the file.
pub type TextSignatureDeriver = fn(&[u8], &File) -> Option<Vec<u8>>;

static DERIVER: OnceLock<TextSignatureDeriver> = OnceLock::new();

/// Registers the function that makes text signatures, once per process (the first
/// registration wins). Until then no entries are written.
pub fn set_text_signature_deriver(deriver: TextSignatureDeriver) {
    let _ = DERIVER.set(deriver);
}

/// The signature of a message about to be stored: its stored summary and spool file.
/// Any failure (no deriver, no summary, an unreadable file) means no entry.
pub(crate) fn derive(summary: Option<&[u8]>, spool: &std::path::Path) -> Option<Vec<u8>> {
    let derive = DERIVER.get()?;
    let summary = summary?;
    let file = File::open(spool).ok()?;
    derive(summary, &file).filter(|signature| signature.len() <= TEXT_SIGNATURE_BYTES_MAX)
}

/// COPY: the source's entry, if any, for the copy.
pub(crate) fn copy(
    wtxn: &mut RwTxn<'_>,
    dbs: &Databases,
    from: MessageId,
    to: MessageId,
) -> Result<(), StorageError> {
    let Some(value) = dbs.textsigs.get(wtxn, &keys::message_key(from))?.map(<[u8]>::to_vec) else {
        return Ok(());
    };
    dbs.textsigs.put(wtxn, &keys::message_key(to), &value)?;
    Ok(())
}

/// The message's summary went: its entry, if any, goes too.
pub(crate) fn remove(wtxn: &mut RwTxn<'_>, dbs: &Databases, id: MessageId) -> Result<(), StorageError> {
    dbs.textsigs.delete(wtxn, &keys::message_key(id))?;
    Ok(())
}
