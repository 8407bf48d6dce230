//! SORT and THREAD, the storage side: the search runs as for SEARCH (not at all for
//! ALL: the session's view is the answer); then, on a helper thread, one read
//! transaction scans the mailbox's stored ordering keys (`sortkeys`, by UID: one range
//! scan, no lookup per message) over the matches' UID range, and the session's program
//! orders or threads the matches with the keys borrowed from the transaction. The
//! executor only waits.
//!
//! A match without stored keys (a message stored before they were kept, or whose keys
//! were too large to keep) gets them made from its stored summary (its file when it has
//! none; its header block for THREAD when the summary predates References), the same
//! bytes delivery would have stored, so old and new messages order alike.
//!
//! Memory: per command O(matches) fixed-size entries (UID, modseq, dates, size and a
//! borrowed slice, about 60 bytes each) plus the made keys of matches without stored
//! ones; the stored keys are read in place from the map.

use std::ops::ControlFlow;
use std::sync::Arc;

use moxide_protocols::imap::server::ordering_keys::{self, OrderingKeys};
use moxide_protocols::imap::server::{
    Answer, CommandError, SearchHit, SearchProgram, Session, SortNeeds, SortProgram, ThreadProgram, Threads,
};
use moxide_protocols::mime::{Envelope, MessageSummary, StoredEnvelope};
use moxide_storage::{AccountStore, MailboxId, ReadView, StorageError, Uid};

use super::facts::storage_error;
use super::session::Conn;

impl Conn {
    /// The matches of a SORT's or THREAD's search: the view for ALL, else the search's.
    async fn matches(
        &mut self,
        session: &mut Session,
        search: Arc<SearchProgram>,
    ) -> std::io::Result<Result<Matches, Answer>> {
        if search.all_of_view().is_some() {
            return Ok(Ok(Matches::View(search)));
        }
        Ok(match self.search(session, search).await? {
            Answer::Searched(hits) => Ok(Matches::Found(hits)),
            other => Err(other),
        })
    }

    pub(crate) async fn sort(
        &mut self,
        session: &mut Session,
        search: Arc<SearchProgram>,
        sort: Arc<SortProgram>,
    ) -> std::io::Result<Answer> {
        let hits = match self.matches(session, search).await? {
            Ok(hits) => hits,
            Err(answer) => return Ok(answer),
        };
        let (store, mailbox) = match (self.account_store(), self.selected.as_ref()) {
            (Ok((_, store)), Some(selected)) => (store, selected.mailbox),
            _ => return Ok(Answer::Failed(CommandError::Internal)),
        };
        Ok(match moxide_runtime::offload(move || sort_hits(&store, mailbox, &sort, hits.into_hits())).await {
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
        let hits = match self.matches(session, search).await? {
            Ok(hits) => hits,
            Err(answer) => return Ok(answer),
        };
        let (store, mailbox) = match (self.account_store(), self.selected.as_ref()) {
            (Ok((_, store)), Some(selected)) => (store, selected.mailbox),
            _ => return Ok(Answer::Failed(CommandError::Internal)),
        };
        Ok(
            match moxide_runtime::offload(move || thread_hits(&store, mailbox, thread, hits.into_hits()))
                .await
            {
                Ok(Ok(threads)) => Answer::Threaded(threads),
                Ok(Err(error)) => Answer::Failed(storage_error(error)),
                Err(panic) => {
                    tracing::error!(%panic, "thread panicked");
                    Answer::Failed(CommandError::Internal)
                }
            },
        )
    }
}

/// What a SORT or THREAD orders.
enum Matches {
    /// Every message of the session's view (the search key is ALL).
    View(Arc<SearchProgram>),
    /// The search's matches.
    Found(Vec<SearchHit>),
}

impl Matches {
    /// The matches, in ascending UID order; on a helper thread (the view may be large).
    fn into_hits(self) -> Vec<SearchHit> {
        match self {
            // ALL has no MODSEQ criterion: the hits' modseqs are never written.
            Matches::View(search) => search
                .all_of_view()
                .map(|view| view.iter().map(|uid| SearchHit { uid, modseq: 0 }).collect())
                .unwrap_or_default(),
            Matches::Found(hits) => hits,
        }
    }
}

/// One match with what it is ordered by.
struct Keyed<'a> {
    hit: SearchHit,
    arrival_ms: i64,
    size: u64,
    keys: OrderingKeys<'a>,
}

/// Where a match's keys come from.
enum Source<'t> {
    /// The `sortkeys` entry: INTERNALDATE, served size, keys.
    Stored(i64, u64, &'t [u8]),
    /// Made now, at this index of the made keys.
    Made(i64, u64, usize),
}

/// On a helper thread: the threads of `hits`.
fn thread_hits(
    store: &AccountStore,
    mailbox: MailboxId,
    thread: ThreadProgram,
    hits: Vec<SearchHit>,
) -> Result<Threads, StorageError> {
    let need = if thread.needs_references() { Need::References } else { Need::Envelope };
    with_keys(store, mailbox, hits, need, |keyed| {
        let facts = keyed.iter().map(|k| thread.facts(k.hit.uid, k.arrival_ms, k.keys)).collect();
        thread.thread(facts)
    })
}

/// On a helper thread: `hits` in the order of `sort`.
fn sort_hits(
    store: &AccountStore,
    mailbox: MailboxId,
    sort: &SortProgram,
    hits: Vec<SearchHit>,
) -> Result<Vec<SearchHit>, StorageError> {
    let need = match sort.needs() {
        SortNeeds::Nothing => Need::Nothing,
        SortNeeds::Date => Need::Date,
        SortNeeds::Envelope => Need::Envelope,
    };
    with_keys(store, mailbox, hits, need, |keyed| {
        let records = keyed.iter().map(|k| sort.record(k.hit, k.arrival_ms, k.size, k.keys)).collect();
        sort.order(records)
    })
}

/// Runs `order` on the matches still in the mailbox, in UID order, each with its keys,
/// inside one read transaction (the stored keys are borrowed from it).
fn with_keys<R>(
    store: &AccountStore,
    mailbox: MailboxId,
    mut hits: Vec<SearchHit>,
    need: Need,
    order: impl FnOnce(Vec<Keyed<'_>>) -> R,
) -> Result<R, StorageError> {
    if !hits.is_sorted_by_key(|hit| hit.uid) {
        hits.sort_unstable_by_key(|hit| hit.uid);
    }
    let (Some(first), Some(last)) = (hits.first(), hits.last()) else { return Ok(order(Vec::new())) };
    let (first, last) = (first.uid, last.uid);
    store.read(|view| {
        let mut sources: Vec<(SearchHit, Option<Source<'_>>)> = hits.iter().map(|&hit| (hit, None)).collect();
        let mut next = 0;
        view.for_each_sort_keys(mailbox, Uid(first), Uid(last), |entry| {
            while sources.get(next).is_some_and(|(hit, _)| hit.uid < entry.uid.0) {
                next += 1;
            }
            if let Some((hit, source)) = sources.get_mut(next)
                && hit.uid == entry.uid.0
                && OrderingKeys::parse(entry.keys).is_some()
            {
                *source = Some(Source::Stored(entry.received_ms, entry.served_size, entry.keys));
            }
            ControlFlow::Continue(())
        })?;
        let mut made: Vec<Vec<u8>> = Vec::new();
        for (hit, source) in &mut sources {
            if source.is_none() {
                *source = made_keys(store, view, (mailbox, hit.uid), need, &mut made)?;
            }
        }
        let keyed = sources
            .into_iter()
            .filter_map(|(hit, source)| {
                let (arrival_ms, size, bytes) = match source? {
                    Source::Stored(arrival, size, bytes) => (arrival, size, bytes),
                    Source::Made(arrival, size, index) => (arrival, size, made.get(index)?.as_slice()),
                };
                Some(Keyed { hit, arrival_ms, size, keys: OrderingKeys::parse(bytes)? })
            })
            .collect();
        Ok(order(keyed))
    })
}

/// What the keys made for a match without stored ones must hold: a SORT by ARRIVAL,
/// SIZE or DATE over messages stored before the keys were kept reads no more of their
/// summaries than it did before.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    /// Nothing beyond the record (ARRIVAL, SIZE).
    Nothing,
    /// The sent date (DATE).
    Date,
    /// Every key but the References chain (other SORT keys, ORDEREDSUBJECT).
    Envelope,
    /// Every key (REFERENCES, REFS).
    References,
}

/// The keys of a match without stored ones, made from its summary (or file) into
/// `made`; `None` when the message is gone.
fn made_keys(
    store: &AccountStore,
    view: &ReadView<'_>,
    (mailbox, uid): (MailboxId, u32),
    need: Need,
    made: &mut Vec<Vec<u8>>,
) -> Result<Option<Source<'static>>, StorageError> {
    let Some(info) = view.message_by_uid(mailbox, Uid(uid))? else { return Ok(None) };
    let stored = view.summary(info.id).ok().flatten();
    let date_only = match need {
        Need::Nothing => Some(None),
        Need::Date => stored.and_then(|bytes| MessageSummary::decode_date(bytes).ok()),
        Need::Envelope | Need::References => None,
    };
    let keys = match date_only {
        Some(date) => ordering_keys::encode(date, &Envelope::default(), None),
        None => match stored.and_then(ordering_keys::of_summary) {
            Some(keys) => keys,
            None => {
                let mut heading = heading_of(store, stored, info.id, info.size);
                if need == Need::References && !heading.references_known {
                    heading.references = stored_references(store, stored, info.id, info.size);
                }
                ordering_keys::encode(
                    heading.date_unix_secs,
                    &heading.envelope,
                    heading.references.as_deref(),
                )
            }
        },
    };
    made.push(keys);
    let size = info.size.saturating_add(info.prefix.len() as u64);
    Ok(Some(Source::Made(info.received_ms, size, made.len() - 1)))
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
