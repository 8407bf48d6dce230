//! Message summaries (`moxide_protocols::mime`): computed once when a message enters the
//! store, so FETCH and SEARCH rarely touch the message file again.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use moxide_protocols::mime::{MessageSummary, Summarizer, summarize};

/// Bytes read from a spool file at a time when summarizing it: the summarizer holds no
/// more of the message than this buffer (plus its bounded header buffer).
const SPOOL_READ_BYTES: usize = 64 * 1024;

/// Reads a spool file in pieces and summarizes it, on a helper thread; memory stays
/// bounded whatever the message's size. `None` when the file cannot be read (the store
/// then computes the summary when first needed). SMTP summarizes as the message streams
/// in instead; this serves messages already spooled (IMAP APPEND).
pub(crate) async fn summarize_spool(path: PathBuf) -> Option<Vec<u8>> {
    let result = moxide_runtime::offload(move || summarize_file(&path).map(|summary| summary.encode())).await;
    match result {
        Ok(Ok(encoded)) => Some(encoded),
        Ok(Err(error)) => {
            tracing::warn!(%error, "could not read spool file to summarize it");
            None
        }
        Err(panic) => {
            tracing::error!(%panic, "summarizing a message panicked");
            None
        }
    }
}

/// The summary of a file's bytes, read in [`SPOOL_READ_BYTES`] pieces.
fn summarize_file(path: &Path) -> std::io::Result<MessageSummary> {
    let mut file = std::fs::File::open(path)?;
    let mut buffer = vec![0u8; SPOOL_READ_BYTES];
    let mut summarizer = Summarizer::new();
    loop {
        match file.read(&mut buffer) {
            Ok(0) => return Ok(summarizer.finish()),
            Ok(read) => summarizer.feed(&buffer[..read]),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}

/// The summary of a stored message: the stored one, or computed from its bytes.
pub(crate) fn summary_of(
    stored: Option<&[u8]>,
    file_bytes: impl FnOnce() -> std::io::Result<Vec<u8>>,
) -> std::io::Result<MessageSummary> {
    if let Some(bytes) = stored
        && let Ok(summary) = MessageSummary::decode(bytes)
    {
        return Ok(summary);
    }
    Ok(summarize(&file_bytes()?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn a_file_read_in_pieces_is_summarized_as_a_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool");
        let mut message =
            b"Subject: big\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n".to_vec();
        while message.len() < 3 * SPOOL_READ_BYTES {
            message.extend_from_slice(b"a line of text, long enough to cross the read buffer\r\n");
        }
        message.extend_from_slice(b"--b--\r\n");
        std::fs::write(&path, &message).unwrap();
        assert_eq!(summarize_file(&path).unwrap(), summarize(&message));
        assert!(summarize_file(&dir.path().join("missing")).is_err());
    }
}
