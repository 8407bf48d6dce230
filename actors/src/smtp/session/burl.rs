//! BURL (RFC 4468) on submission: the URLAUTH URL the protocol session checked is
//! resolved against our own store ([`crate::urlauth::resolve_auth_url`], for the
//! authenticated account: a `submit+user` URL only for that user, RFC 4468 §3.3), and
//! its content is appended to the spool file exactly as BDAT chunk bytes are, through
//! the same `on_body` (summary, author scan, spool), so everything after `LAST` is the
//! DATA/BDAT path: author check, send limits, DKIM, Received, delivery and queue.
//!
//! Bounded: the message file is read on a helper thread in pieces of
//! [`BURL_READ_BYTES_MAX`], one at a time, into one reused buffer; a 100 MiB draft
//! costs that buffer and the spool's write buffer, never its size. No network fetch
//! happens here or anywhere: a URL for another host never reaches this code (the
//! protocol session answers it `554 5.7.8`).

use std::os::unix::fs::FileExt as _;
use std::sync::Arc;

use moxide_protocols::imap::server::UrlPiece;
use moxide_protocols::imap::url::AuthUrl;
use moxide_protocols::smtp::BurlOutcome;

use super::{Connection, temporary_failure};
use crate::urlauth::{UrlRequester, resolve_auth_url};

/// Octets of a BURL's message file read at a time on a helper thread. 256 KiB: four
/// spool writes' worth per hand-off (a 20 MiB draft is 80 hand-offs of ~0.1 ms each), and
/// the only memory a BURL holds beyond the spool's buffer.
pub const BURL_READ_BYTES_MAX: usize = 256 * 1024;

impl Connection {
    /// Resolves `url` for the authenticated account and appends its content to the open
    /// message if it fits in `room_bytes` (see the module doc).
    pub(super) async fn on_burl(&mut self, url: &AuthUrl, room_bytes: u64) -> BurlOutcome {
        let Some(account) = self.authenticated.as_ref().map(|done| Arc::clone(&done.account)) else {
            return BurlOutcome::Unresolved;
        };
        let now_secs = crate::clock::now_unix_ms().div_euclid(1000);
        let resolved = match resolve_auth_url(&self.node, url, UrlRequester::Submit(&account), now_secs).await
        {
            Ok(Some(resolved)) => resolved,
            Ok(None) => {
                // Which check failed stays in no log line the client could see, and in
                // no reply (RFC 4467 §6's rule for URLFETCH).
                tracing::info!(peer = %self.peer, %account, "BURL: URL not resolved");
                return BurlOutcome::Unresolved;
            }
            Err(error) => {
                tracing::error!(peer = %self.peer, %account, ?error, "BURL: resolving a URL failed");
                return BurlOutcome::Failed(temporary_failure());
            }
        };
        let total: u64 = resolved.pieces.iter().map(piece_bytes).sum();
        if total > room_bytes {
            return BurlOutcome::TooLarge;
        }
        let mut buffer = Vec::new();
        for piece in resolved.pieces {
            match piece {
                UrlPiece::Bytes(bytes) => self.on_body(&bytes).await,
                UrlPiece::File(range) => {
                    if let Err(error) = self.append_range(&resolved.file, range, &mut buffer).await {
                        tracing::error!(peer = %self.peer, %account, message = resolved.message, %error, "BURL: reading a message file failed");
                        return BurlOutcome::Failed(temporary_failure());
                    }
                }
            }
        }
        tracing::info!(peer = %self.peer, %account, bytes = total, "BURL: content appended");
        BurlOutcome::Appended(total)
    }

    /// Appends `range` of `file` to the message, read in bounded pieces on a helper
    /// thread into `buffer` (reused across pieces).
    async fn append_range(
        &mut self,
        file: &Arc<std::fs::File>,
        range: std::ops::Range<u64>,
        buffer: &mut Vec<u8>,
    ) -> std::io::Result<()> {
        let mut offset = range.start;
        while offset < range.end {
            if self.transaction.spool_failed {
                // The message fails at its end (`on_message_end`); reading on is waste.
                return Ok(());
            }
            let length = usize::try_from(range.end - offset).unwrap_or(usize::MAX).min(BURL_READ_BYTES_MAX);
            let reading = Arc::clone(file);
            let mut taken = std::mem::take(buffer);
            let read = moxide_runtime::offload(move || {
                taken.resize(length, 0);
                let result = reading.read_exact_at(&mut taken, offset);
                (taken, result)
            })
            .await;
            let (filled, result) = read.map_err(|panic| std::io::Error::other(panic.0))?;
            result?;
            self.on_body(&filled).await;
            *buffer = filled;
            offset += length as u64;
        }
        Ok(())
    }
}

/// Octets a piece adds to the message.
fn piece_bytes(piece: &UrlPiece) -> u64 {
    match piece {
        UrlPiece::Bytes(bytes) => bytes.len() as u64,
        UrlPiece::File(range) => range.end.saturating_sub(range.start),
    }
}
