//! A queued message's bytes: a file in `queue/msg/`, or, for a message of at most
//! [`QUEUE_INLINE_BYTES_MAX`], chunks in the `bodies` database of the queue's own
//! environment.
//!
//! Why inline: a small message relayed on its way needed, besides the queue's commit, a
//! spool file created and written, a hard link, a data sync, a directory sync, and two
//! unlinks (docs/benchmarks-analysis.md, "Small messages inside the queue's database").
//! Written in the enqueue's transaction, the bytes are durable with the records by the
//! commit's one sync, and removed with them in the transaction that removes the message:
//! there is never a record without its bytes, and no orphan to sweep.
//!
//! The bytes are cut into chunks of [`CHUNK_BYTES`], small enough for two to share an
//! LMDB page: no value spills onto overflow pages, whose allocation needs a run of
//! adjacent free pages (a search of the free list that grows with a churning queue's
//! free pages). Keys are the message id then the chunk number, both big-endian; ids only
//! grow, so a message's chunks are appended at the end of the tree.

use std::path::PathBuf;
use std::sync::Arc;

use heed::{PutFlags, RoTxn, RwTxn};

use super::QueueId;
use crate::error::StorageError;
use crate::schema::Db;

/// Largest message stored inline: the SMTP session's spool buffer (64 KiB), the bytes
/// it still holds in memory at the end of a message.
pub const QUEUE_INLINE_BYTES_MAX: usize = 64 * 1024;

/// Bytes per chunk: with its 10-byte key and LMDB's 8-byte node header, two chunks fill
/// a 4 KiB page (4,080 usable bytes) and each stays under LMDB's largest in-page node
/// (2,038 bytes); at most 33 chunks per message.
const CHUNK_BYTES: usize = 2000;

/// Where a queued message's bytes are.
#[derive(Clone)]
pub enum QueuedContent {
    /// A file: to enqueue, the spool file to link; read back, the queue's own file.
    File(PathBuf),
    /// The whole message, kept in the queue's database (at most
    /// [`QUEUE_INLINE_BYTES_MAX`] bytes).
    Inline(Arc<[u8]>),
}

/// The length of inline bytes, not the bytes: a message in a log line would be up to
/// 64 KiB of someone's mail.
impl std::fmt::Debug for QueuedContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueuedContent::File(path) => f.debug_tuple("File").field(path).finish(),
            QueuedContent::Inline(bytes) => write!(f, "Inline({} bytes)", bytes.len()),
        }
    }
}

fn chunk_key(id: QueueId, chunk: u16) -> [u8; 10] {
    let mut key = [0; 10];
    key[..8].copy_from_slice(&id.0.to_be_bytes());
    key[8..].copy_from_slice(&chunk.to_be_bytes());
    key
}

/// Writes `bytes` as message `id`'s chunks. Appended: `id` is above every id stored (ids
/// only grow), which LMDB checks (a violation fails the transaction, never misplaces a
/// chunk). An empty message is one empty chunk, so every inline message has a chunk 0.
pub(super) fn put(bodies: &Db, wtxn: &mut RwTxn<'_>, id: QueueId, bytes: &[u8]) -> Result<(), StorageError> {
    if bytes.len() > QUEUE_INLINE_BYTES_MAX {
        return Err(StorageError::corrupt("inline queued message over its limit"));
    }
    let mut chunks: Vec<&[u8]> = bytes.chunks(CHUNK_BYTES).collect();
    if chunks.is_empty() {
        chunks.push(&[]);
    }
    for (index, chunk) in chunks.into_iter().enumerate() {
        let number = u16::try_from(index).map_err(|_| StorageError::corrupt("too many chunks"))?;
        bodies.put_with_flags(wtxn, PutFlags::APPEND, &chunk_key(id, number), chunk)?;
    }
    Ok(())
}

/// Message `id`'s inline bytes, or `None` when it has none (its bytes are a file).
/// Chunks are checked to be numbered from 0 without a gap and to stay within the limit.
pub(super) fn get(bodies: &Db, txn: &RoTxn<'_>, id: QueueId) -> Result<Option<Arc<[u8]>>, StorageError> {
    let mut out: Option<Vec<u8>> = None;
    for (expected, entry) in bodies.prefix_iter(txn, &id.0.to_be_bytes())?.enumerate() {
        let (key, chunk) = entry?;
        let number = key.get(8..).and_then(|n| <[u8; 2]>::try_from(n).ok()).map(u16::from_be_bytes);
        if number.map(usize::from) != Some(expected) {
            return Err(StorageError::corrupt(format!("queued message {id}: inline chunks out of order")));
        }
        let bytes = out.get_or_insert_with(Vec::new);
        if bytes.len() + chunk.len() > QUEUE_INLINE_BYTES_MAX {
            return Err(StorageError::corrupt(format!("queued message {id}: inline bytes over the limit")));
        }
        bytes.extend_from_slice(chunk);
    }
    Ok(out.map(Arc::from))
}

/// Deletes message `id`'s chunks; returns whether it had any (was stored inline).
pub(super) fn delete(bodies: &Db, wtxn: &mut RwTxn<'_>, id: QueueId) -> Result<bool, StorageError> {
    let range = (
        std::ops::Bound::Included(&chunk_key(id, 0)[..]),
        std::ops::Bound::Included(&chunk_key(id, u16::MAX)[..]),
    );
    Ok(bodies.delete_range(wtxn, &range)? > 0)
}
