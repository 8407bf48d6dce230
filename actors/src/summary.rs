//! Message summaries (`moxide_protocols::mime`): computed once when a message enters the
//! store, so FETCH and SEARCH rarely touch the message file again.

use std::path::PathBuf;

use moxide_protocols::mime::{MessageSummary, summarize};

/// Reads a spool file and summarizes it, on a helper thread. `None` when the file cannot
/// be read (the store then computes the summary when first needed).
pub(crate) async fn summarize_spool(path: PathBuf) -> Option<Vec<u8>> {
    let result =
        moxide_runtime::offload(move || std::fs::read(&path).map(|bytes| summarize(&bytes).encode())).await;
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
