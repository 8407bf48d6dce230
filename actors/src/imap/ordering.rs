//! SORT (and THREAD), the storage side: the search runs as for SEARCH; then, on a helper
//! thread, one read transaction walks the matches' records and their stored summaries'
//! envelopes (never the message files while a summary exists) and the session's
//! program orders them. The executor only waits.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use moxide_protocols::imap::server::{
    Answer, CommandError, SearchHit, SearchProgram, SortProgram, SortRecord,
};
use moxide_protocols::mime::{Envelope, MessageSummary};
use moxide_storage::{AccountStore, MailboxId, StorageError, Uid};

use super::facts::{record_facts, storage_error};
use super::session::Conn;

impl Conn {
    pub(crate) async fn sort(&mut self, search: Arc<SearchProgram>, sort: Arc<SortProgram>) -> Answer {
        let hits = match self.search(search).await {
            Answer::Searched(hits) => hits,
            other => return other,
        };
        let (store, mailbox) = match (self.account_store(), self.selected.as_ref()) {
            (Ok((_, store)), Some(selected)) => (store, selected.mailbox),
            _ => return Answer::Failed(CommandError::Internal),
        };
        match moxide_runtime::offload(move || sort_hits(&store, mailbox, &sort, &hits)).await {
            Ok(Ok(sorted)) => Answer::Sorted(sorted),
            Ok(Err(error)) => Answer::Failed(storage_error(error)),
            Err(panic) => {
                tracing::error!(%panic, "sort panicked");
                Answer::Failed(CommandError::Internal)
            }
        }
    }
}

/// On a helper thread: the sort records of `hits`, ordered.
fn sort_hits(
    store: &AccountStore,
    mailbox: MailboxId,
    sort: &SortProgram,
    hits: &[SearchHit],
) -> Result<Vec<SearchHit>, StorageError> {
    let Some((first, last)) = uid_bounds(hits) else { return Ok(Vec::new()) };
    let wanted: HashSet<u32> = hits.iter().map(|hit| hit.uid).collect();
    let mut records: Vec<SortRecord> = Vec::with_capacity(hits.len());
    store.read(|view| {
        view.for_each_message(mailbox, Uid(first), Uid(last), |record| {
            if !wanted.contains(&record.uid().0) {
                return ControlFlow::Continue(());
            }
            let keywords: Vec<&str> = record.keywords().collect();
            let facts = record_facts(record, &keywords);
            let stored = view.summary(record.id()).ok().flatten();
            let (date, envelope) = envelope_of(store, stored, record.id(), record.size());
            records.push(sort.record(&facts, date, &envelope));
            ControlFlow::Continue(())
        })
    })?;
    Ok(sort.order(records))
}

/// The lowest and highest UID of `hits`.
fn uid_bounds(hits: &[SearchHit]) -> Option<(u32, u32)> {
    let first = hits.iter().map(|hit| hit.uid).min()?;
    let last = hits.iter().map(|hit| hit.uid).max()?;
    Some((first, last))
}

/// The parsed date and envelope from the stored summary; a message stored without one
/// (its spool was unreadable when it arrived) is summarized from its file now.
fn envelope_of(
    store: &AccountStore,
    stored: Option<&[u8]>,
    id: moxide_storage::MessageId,
    size: u64,
) -> (Option<i64>, Envelope) {
    if let Some(bytes) = stored
        && let Ok(decoded) = MessageSummary::decode_envelope(bytes)
    {
        return (decoded.date_unix_secs, decoded.envelope);
    }
    let summary = crate::summary::summary_of(None, || {
        use std::io::Read as _;
        let mut bytes = Vec::new();
        store.open_message_file(id, size).map_err(std::io::Error::other)?.read_to_end(&mut bytes)?;
        Ok(bytes)
    });
    match summary {
        Ok(summary) => (summary.date_unix_secs, summary.envelope),
        Err(error) => {
            // A missing file is reported; the message sorts with empty keys.
            tracing::error!(%error, id = id.0, "sort: message file unreadable");
            (None, Envelope::default())
        }
    }
}
