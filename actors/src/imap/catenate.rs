//! CATENATE's URL parts (RFC 4469 §3), the storage side: the session parsed the URL;
//! here it is resolved against the logged-in account (the user an absolute URL names
//! must be this account, the UIDVALIDITY must match), the section and range are found
//! with the code FETCH uses (`url_pieces`), and the bytes are copied from the message
//! file into the spool of the message being appended, [`CATENATE_READ_BYTES_MAX`] at a
//! time on a helper thread: a referenced message is never held in memory whole.
//!
//! The referenced message is read, never changed: no `\Seen` (RFC 4469 §3 leaves flags
//! of the source alone).

use std::fs::File;
use std::os::unix::fs::FileExt as _;
use std::sync::Arc;

use moxide_protocols::imap::ResponseCode;
use moxide_protocols::imap::server::{Answer, CatenateTarget, CommandError, UrlPiece, url_pieces};
use moxide_storage::{AccountStore, MessageInfo, StorageError, Uid};

use super::facts::{io_failure, storage_error};
use super::session::Conn;

/// Bytes read from a referenced message file per step when CATENATE copies it into the
/// spool: one buffer per copy, reused. 256 KiB makes a 20 MiB message 80 hops to the
/// helper thread, and memory does not grow with the message.
pub(crate) const CATENATE_READ_BYTES_MAX: usize = 256 * 1024;

/// A resolved URL: the record and, when a section is named, its stored summary.
type Resolved = (MessageInfo, Option<Vec<u8>>);

impl Conn {
    /// Adds the bytes a CATENATE URL names to the message being appended; answers
    /// `Catenated` with their count, or `NO [BADURL]` / `NO [TOOBIG]`.
    pub(crate) async fn catenate_url(&mut self, url: &str, target: CatenateTarget, bytes_max: u64) -> Answer {
        let (account, store) = match self.account_store() {
            Ok(pair) => pair,
            Err(error) => return Answer::Failed(error),
        };
        if let Some(user) = &target.user
            && crate::auth::account_for_login(&self.node, user).as_deref() != Some(&*account)
        {
            return Answer::Failed(CommandError::bad_url(url, "URL names another user"));
        }
        let (info, stored) = match store.read(|view| resolve(view, &target)) {
            Ok(Ok(resolved)) => resolved,
            Ok(Err(why)) => return Answer::Failed(CommandError::bad_url(url, why)),
            Err(error) => return Answer::Failed(storage_error(error)),
        };
        let opened = crate::urlauth::open_with_summary(&store, &info, target.section.is_some(), stored).await;
        let (file, summary) = match opened {
            Ok(opened) => opened,
            Err(error) => return Answer::Failed(error),
        };
        let pieces = match url_pieces(
            &info.prefix,
            info.size,
            summary.as_ref(),
            target.section.as_ref(),
            target.partial,
        ) {
            Ok(Some(pieces)) => pieces,
            Ok(None) => return Answer::Failed(CommandError::bad_url(url, "no such part")),
            Err(error) => return Answer::Failed(error),
        };
        let total: u64 = pieces.iter().map(piece_len).sum();
        if total > bytes_max {
            return Answer::Failed(CommandError::no(
                ResponseCode::TooBig,
                "CATENATE: message larger than APPENDLIMIT",
            ));
        }
        if let Err(error) = self.copy_pieces(&store, &info, file, pieces).await {
            return Answer::Failed(error);
        }
        match self.append.failure() {
            Some(error) => Answer::Failed(error),
            None => Answer::Catenated(total),
        }
    }

    /// Writes the pieces into the current spool, reading file ranges a buffer at a time
    /// on a helper thread.
    async fn copy_pieces(
        &mut self,
        store: &Arc<AccountStore>,
        info: &MessageInfo,
        file: Arc<File>,
        pieces: Vec<UrlPiece>,
    ) -> Result<(), CommandError> {
        let mut buffer = Vec::new();
        for piece in pieces {
            let range = match piece {
                UrlPiece::Bytes(bytes) => {
                    self.append.write(&bytes).await;
                    continue;
                }
                UrlPiece::File(range) => range,
            };
            let mut offset = range.start;
            while offset < range.end {
                let length =
                    usize::try_from(range.end - offset).unwrap_or(usize::MAX).min(CATENATE_READ_BYTES_MAX);
                let reading = Arc::clone(&file);
                let mut taken = std::mem::take(&mut buffer);
                let read = moxide_runtime::offload(move || {
                    taken.resize(length, 0);
                    let result = reading.read_exact_at(&mut taken, offset);
                    (taken, result)
                })
                .await;
                let (filled, result) = read.map_err(|_| CommandError::Internal)?;
                if let Err(error) = result {
                    let path = store.message_path(info.id);
                    tracing::error!(path = %path.display(), %error, "catenate: reading a message file failed");
                    return Err(io_failure("catenate: message file read failed", &error));
                }
                self.append.write(&filled).await;
                buffer = filled;
                offset += length as u64;
            }
        }
        Ok(())
    }
}

/// The record the URL names and, for a section, its stored summary; `Err(why)` for a
/// URL that names nothing here.
fn resolve(
    view: &moxide_storage::ReadView<'_>,
    target: &CatenateTarget,
) -> Result<Result<Resolved, &'static str>, StorageError> {
    let Some(mailbox) = view.mailbox_by_name(&target.mailbox)? else {
        return Ok(Err("no such mailbox"));
    };
    if target.uidvalidity.is_some_and(|uidvalidity| uidvalidity != mailbox.uidvalidity.0) {
        return Ok(Err("UIDVALIDITY differs"));
    }
    let Some(info) = view.message_by_uid(mailbox.id, Uid(target.uid))? else {
        return Ok(Err("no such message"));
    };
    let stored = if target.section.is_some() { view.summary(info.id)?.map(<[u8]>::to_vec) } else { None };
    Ok(Ok((info, stored)))
}

fn piece_len(piece: &UrlPiece) -> u64 {
    match piece {
        UrlPiece::Bytes(bytes) => bytes.len() as u64,
        UrlPiece::File(range) => range.end.saturating_sub(range.start),
    }
}
