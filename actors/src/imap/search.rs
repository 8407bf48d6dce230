//! SEARCH, the storage side: runs the session's [`SearchProgram`] over the selected
//! mailbox in two phases. In one read transaction every message is judged on its record
//! in place (and, for SUBJECT and SENT*, a glance at its stored summary); the messages
//! still undecided are then read on a helper thread, in chunks, only as far as the
//! program needs (the header block, or the whole file for BODY and TEXT).

use std::ops::ControlFlow;
use std::sync::Arc;

use moxide_protocols::imap::server::{Answer, SearchContent, SearchHit, SearchNeed, SearchProgram, Verdict};
use moxide_protocols::mime::{self, Glance, MessageSummary};
use moxide_storage::{AccountStore, MessageId, MessageInfo, StorageError, Uid};

use super::facts::{info_facts, record_facts, storage_error};
use super::session::Conn;

/// Undecided messages read per helper-thread call.
const CONTENT_CHUNK_MAX: usize = 256;

/// A message whose verdict needs its content.
struct Undecided {
    info: MessageInfo,
    summary: Option<Vec<u8>>,
}

impl Conn {
    pub(crate) async fn search(&mut self, program: Arc<SearchProgram>) -> Answer {
        let (store, mailbox) = match (self.account_store(), self.selected.as_ref()) {
            (Ok((_, store)), Some(selected)) => (store, selected.mailbox),
            _ => return Answer::Failed(moxide_protocols::imap::server::CommandError::Internal),
        };
        let mut hits = Vec::new();
        let mut undecided = Vec::new();
        let read = store.read(|view| {
            view.for_each_message(mailbox, Uid(1), Uid(u32::MAX), |record| {
                if !program.in_view(record.uid().0) {
                    return ControlFlow::Continue(());
                }
                let keywords: Vec<&str> = record.keywords().collect();
                let facts = record_facts(record, &keywords);
                let mut verdict = program.judge(&facts, None);
                if verdict == Verdict::NeedsContent && program.need() == SearchNeed::Summary {
                    // A summary that is missing or unreadable leaves the message to the
                    // content phase, which rebuilds it from the file.
                    if let Ok(Some(bytes)) = view.summary(record.id())
                        && let Ok(glance) = Glance::of(bytes)
                    {
                        let content = SearchContent {
                            date: glance.date,
                            subject: glance.subject,
                            ..Default::default()
                        };
                        verdict = program.judge(&facts, Some(&content));
                    }
                }
                match verdict {
                    Verdict::Yes => hits.push(SearchHit { uid: facts.uid, modseq: facts.modseq }),
                    Verdict::No => {}
                    Verdict::NeedsContent => {
                        undecided.push(Undecided { info: record.to_info(), summary: None })
                    }
                }
                ControlFlow::Continue(())
            })?;
            for message in &mut undecided {
                message.summary = view.summary(message.info.id)?.map(<[u8]>::to_vec);
            }
            Ok(())
        });
        if let Err(error) = read {
            return Answer::Failed(storage_error(error));
        }
        let mut undecided = undecided.into_iter().peekable();
        while undecided.peek().is_some() {
            let chunk: Vec<Undecided> = undecided.by_ref().take(CONTENT_CHUNK_MAX).collect();
            let (chunk_store, chunk_program) = (Arc::clone(&store), Arc::clone(&program));
            match moxide_runtime::offload(move || judge_content(&chunk_store, &chunk_program, chunk)).await {
                Ok(found) => hits.extend(found),
                Err(panic) => {
                    tracing::error!(%panic, "search content phase panicked");
                    return Answer::Failed(moxide_protocols::imap::server::CommandError::Internal);
                }
            }
        }
        Answer::Searched(hits)
    }
}

/// The content phase, on a helper thread: the messages of `chunk` that match. Reads only
/// what the program needs: nothing beyond the stored summary for SUBJECT and SENT*, the
/// header block for address and HEADER keys, the whole file for BODY and TEXT.
fn judge_content(store: &AccountStore, program: &SearchProgram, chunk: Vec<Undecided>) -> Vec<SearchHit> {
    let need = program.need();
    let mut hits = Vec::new();
    for message in chunk {
        let info = &message.info;
        let stored = message.summary.as_deref().and_then(|bytes| MessageSummary::decode(bytes).ok());
        // Without a stored summary, the whole file is read to make one.
        let read_whole = need == SearchNeed::Whole || stored.is_none();
        let read_header = need == SearchNeed::Header && !read_whole;
        let mut file_bytes = Vec::new();
        if read_whole || read_header {
            let length = match (&stored, read_header) {
                (Some(summary), true) => summary.root.header.end.min(info.size),
                _ => info.size,
            };
            match read_start_of_file(store, info.id, info.size, length) {
                Ok(bytes) => file_bytes = bytes,
                Err(error) => {
                    // A missing or damaged file is reported, and the message does not match.
                    tracing::error!(%error, uid = info.uid.0, "search: message file unreadable");
                    continue;
                }
            }
        }
        let summary = stored.unwrap_or_else(|| mime::summarize(&file_bytes));
        let mut header = info.prefix.clone();
        if !file_bytes.is_empty() {
            let end = usize::try_from(summary.root.header.end).unwrap_or(usize::MAX).min(file_bytes.len());
            header.extend_from_slice(&file_bytes[..end]);
        }
        let content = SearchContent {
            date: summary.envelope.date.as_deref(),
            subject: summary.envelope.subject.as_deref(),
            header: &header,
            whole: &file_bytes,
            summary: Some(&summary),
        };
        let keywords: Vec<&str> = info.keywords.iter().map(String::as_str).collect();
        let facts = info_facts(info, &keywords);
        if program.judge(&facts, Some(&content)) == Verdict::Yes {
            hits.push(SearchHit { uid: info.uid.0, modseq: info.modseq.0 });
        }
    }
    hits
}

/// The first `length` bytes of a message file (its size checked against the record).
fn read_start_of_file(
    store: &AccountStore,
    id: MessageId,
    size: u64,
    length: u64,
) -> Result<Vec<u8>, StorageError> {
    use std::os::unix::fs::FileExt as _;
    let file = store.open_message_file(id, size)?;
    // `length` is at most the file's size, which the record says is a real file's size.
    let mut bytes = vec![0u8; usize::try_from(length).unwrap_or(usize::MAX)];
    file.read_exact_at(&mut bytes, 0)
        .map_err(|source| StorageError::Io { path: store.message_path(id), source })?;
    Ok(bytes)
}
