//! SORT and THREAD, the storage side: the search runs as for SEARCH; then, on a helper
//! thread, one read transaction walks the matches' records and what the keys need of
//! their stored summaries (nothing for ARRIVAL/SIZE, the date for DATE, else the
//! envelopes and References; never the message files while a summary exists) and the
//! session's program orders or threads them. The executor only waits. Summaries stored
//! before References was kept (format 1) make THREAD=REFERENCES read those messages'
//! header blocks, once per command.

use std::ops::ControlFlow;
use std::sync::Arc;

use moxide_protocols::imap::server::{
    Answer, CommandError, SearchHit, SearchProgram, Session, SortNeeds, SortProgram, SortRecord, ThreadFacts,
    ThreadProgram, Threads,
};
use moxide_protocols::mime::{Envelope, MessageSummary, StoredEnvelope};
use moxide_storage::{AccountStore, MailboxId, StorageError, Uid};

use super::facts::{record_facts, storage_error};
use super::session::Conn;

impl Conn {
    pub(crate) async fn sort(
        &mut self,
        session: &mut Session,
        search: Arc<SearchProgram>,
        sort: Arc<SortProgram>,
    ) -> std::io::Result<Answer> {
        let hits = match self.search(session, search).await? {
            Answer::Searched(hits) => hits,
            other => return Ok(other),
        };
        let (store, mailbox) = match (self.account_store(), self.selected.as_ref()) {
            (Ok((_, store)), Some(selected)) => (store, selected.mailbox),
            _ => return Ok(Answer::Failed(CommandError::Internal)),
        };
        Ok(match moxide_runtime::offload(move || sort_hits(&store, mailbox, &sort, &hits)).await {
            Ok(Ok(sorted)) => Answer::Sorted(sorted),
            Ok(Err(error)) => Answer::Failed(storage_error(error)),
            Err(panic) => {
                tracing::error!(%panic, "sort panicked");
                Answer::Failed(CommandError::Internal)
            }
        })
    }
}

impl Conn {
    pub(crate) async fn thread(
        &mut self,
        session: &mut Session,
        search: Arc<SearchProgram>,
        thread: ThreadProgram,
    ) -> std::io::Result<Answer> {
        let hits = match self.search(session, search).await? {
            Answer::Searched(hits) => hits,
            other => return Ok(other),
        };
        let (store, mailbox) = match (self.account_store(), self.selected.as_ref()) {
            (Ok((_, store)), Some(selected)) => (store, selected.mailbox),
            _ => return Ok(Answer::Failed(CommandError::Internal)),
        };
        Ok(match moxide_runtime::offload(move || thread_hits(&store, mailbox, thread, &hits)).await {
            Ok(Ok(threads)) => Answer::Threaded(threads),
            Ok(Err(error)) => Answer::Failed(storage_error(error)),
            Err(panic) => {
                tracing::error!(%panic, "thread panicked");
                Answer::Failed(CommandError::Internal)
            }
        })
    }
}

/// On a helper thread: the threads of `hits`.
fn thread_hits(
    store: &AccountStore,
    mailbox: MailboxId,
    thread: ThreadProgram,
    hits: &[SearchHit],
) -> Result<Threads, StorageError> {
    let Some((first, last)) = uid_bounds(hits) else { return Ok(Threads::default()) };
    let mut wanted = Wanted::new(hits);
    let mut facts: Vec<ThreadFacts> = Vec::with_capacity(hits.len());
    store.read(|view| {
        view.for_each_message(mailbox, Uid(first), Uid(last), |record| {
            if !wanted.contains(record.uid().0) {
                return ControlFlow::Continue(());
            }
            let record_facts = record_facts(record, &[]);
            let stored = view.summary(record.id()).ok().flatten();
            let mut heading = heading_of(store, stored, record.id(), record.size());
            if thread.needs_references() && !heading.references_known {
                heading.references = stored_references(store, stored, record.id(), record.size());
            }
            facts.push(thread.facts(
                &record_facts,
                heading.date_unix_secs,
                &heading.envelope,
                heading.references.as_deref(),
            ));
            ControlFlow::Continue(())
        })
    })?;
    Ok(thread.thread(facts))
}

/// The References of a message whose summary predates them: its header block, read
/// from the file (the summary says where it ends) and summarized.
fn stored_references(
    store: &AccountStore,
    stored: Option<&[u8]>,
    id: moxide_storage::MessageId,
    size: u64,
) -> Option<Vec<u8>> {
    use std::os::unix::fs::FileExt as _;
    let summary = MessageSummary::decode(stored?).ok()?;
    let length = usize::try_from(summary.root.header.end.min(size)).ok()?;
    let mut header = vec![0u8; length];
    let file = store.open_message_file(id, size).ok()?;
    file.read_exact_at(&mut header, 0).ok()?;
    moxide_protocols::mime::summarize(&header).references
}

/// On a helper thread: the sort records of `hits`, ordered.
fn sort_hits(
    store: &AccountStore,
    mailbox: MailboxId,
    sort: &SortProgram,
    hits: &[SearchHit],
) -> Result<Vec<SearchHit>, StorageError> {
    let Some((first, last)) = uid_bounds(hits) else { return Ok(Vec::new()) };
    let mut wanted = Wanted::new(hits);
    let needs = sort.needs();
    let empty = Envelope::default();
    let mut records: Vec<SortRecord> = Vec::with_capacity(hits.len());
    store.read(|view| {
        view.for_each_message(mailbox, Uid(first), Uid(last), |record| {
            if !wanted.contains(record.uid().0) {
                return ControlFlow::Continue(());
            }
            let keywords: Vec<&str> = record.keywords().collect();
            let facts = record_facts(record, &keywords);
            let stored = || view.summary(record.id()).ok().flatten();
            let date_only = |bytes: Option<&[u8]>| bytes.and_then(|b| MessageSummary::decode_date(b).ok());
            records.push(match needs {
                SortNeeds::Nothing => sort.record(&facts, None, &empty),
                SortNeeds::Date => match date_only(stored()) {
                    Some(date) => sort.record(&facts, date, &empty),
                    None => {
                        let heading = heading_of(store, stored(), record.id(), record.size());
                        sort.record(&facts, heading.date_unix_secs, &empty)
                    }
                },
                SortNeeds::Envelope => {
                    let heading = heading_of(store, stored(), record.id(), record.size());
                    sort.record(&facts, heading.date_unix_secs, &heading.envelope)
                }
            });
            ControlFlow::Continue(())
        })
    })?;
    Ok(sort.order(records))
}

/// The UIDs of a search's hits, asked in ascending order as the mailbox walk meets
/// them: a step through a sorted list instead of a hash lookup per message.
struct Wanted {
    uids: Vec<u32>,
    next: usize,
}

impl Wanted {
    fn new(hits: &[SearchHit]) -> Wanted {
        let mut uids: Vec<u32> = hits.iter().map(|hit| hit.uid).collect();
        if !uids.is_sorted() {
            uids.sort_unstable();
        }
        Wanted { uids, next: 0 }
    }

    /// Whether `uid` is a hit; calls must come with ascending UIDs.
    fn contains(&mut self, uid: u32) -> bool {
        while self.uids.get(self.next).is_some_and(|&hit| hit < uid) {
            self.next += 1;
        }
        self.uids.get(self.next) == Some(&uid)
    }
}

/// The lowest and highest UID of `hits`.
fn uid_bounds(hits: &[SearchHit]) -> Option<(u32, u32)> {
    let first = hits.iter().map(|hit| hit.uid).min()?;
    let last = hits.iter().map(|hit| hit.uid).max()?;
    Some((first, last))
}

/// The leading fields of the stored summary; a message stored without one (its spool
/// was unreadable when it arrived) is summarized from its file now.
fn heading_of(
    store: &AccountStore,
    stored: Option<&[u8]>,
    id: moxide_storage::MessageId,
    size: u64,
) -> StoredEnvelope {
    if let Some(bytes) = stored
        && let Ok(decoded) = MessageSummary::decode_envelope(bytes)
    {
        return decoded;
    }
    // Read in bounded pieces, never whole (issue 10).
    let summary = store
        .open_message_file(id, size)
        .map_err(std::io::Error::other)
        .and_then(|file| crate::summary::summarize_file(&file));
    match summary {
        Ok(summary) => StoredEnvelope {
            date_unix_secs: summary.date_unix_secs,
            references: summary.references,
            references_known: true,
            envelope: summary.envelope,
        },
        Err(error) => {
            // A missing file is reported; the message sorts with empty keys.
            tracing::error!(%error, id = id.0, "sort/thread: message file unreadable");
            StoredEnvelope { references_known: true, envelope: Envelope::default(), ..Default::default() }
        }
    }
}
