//! SEARCH, the storage side: runs the session's [`SearchProgram`] over the selected
//! mailbox in two phases. First every message is judged on its record in place (EMAILID
//! too: it is the record's id) and, for SUBJECT and SENT*, a glance at its stored summary
//! (for THREADID, its stored envelope and References; for BODY and TEXT, its stored text
//! signature, which rules out most messages without the needle), in slices of
//! [`SEARCH_SLICE_MESSAGES_MAX`] records, one read transaction each; a mailbox larger than
//! one slice is judged on a helper thread, so the core stays free for other sessions. The
//! messages still undecided are then read on a helper thread, in chunks, only as far as
//! the program needs: the header block, or for BODY and TEXT the ranges each
//! `ContentSearch` names, fed in [`SEARCH_READ_BYTES`] pieces (never a whole message).
//!
//! MULTISEARCH (RFC 7377) runs the same search over one mailbox at a time, selected or
//! not ([`Conn::search_mailbox`]), giving the core back before each.
//!
//! A search still running after a second reports its progress (INPROGRESS, RFC 9585)
//! between slices and chunks, at most once a second (the session's rule).
//!
//! Memory: the hits and the undecided UIDs (4 bytes each), one slice's work, and per
//! message being read its summary, at most [`mime::HEADER_BYTES_MAX`] of header and one
//! read piece.

use std::fs::File;
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt as _;
use std::sync::Arc;

use moxide_protocols::imap::server::{
    Answer, CommandError, MessageFacts, SearchContent, SearchHit, SearchNeed, SearchProgram, Session,
    UidList, Verdict, objectid,
};
use moxide_protocols::mime::{self, Glance, MessageSummary};
use moxide_storage::{AccountStore, MailboxId, MessageInfo, StorageError, Uid};

use super::facts::{info_facts, record_facts, storage_error};
use super::session::{Conn, now_ms};

/// Records judged per read transaction in the first phase. A record judged in place costs
/// about a microsecond (a few in a debug build), so a slice is a few milliseconds: a
/// mailbox of at most one slice is judged on the session's core without a hop to a helper
/// thread; a larger one (100k messages: 25 slices) goes slice by slice to helper threads,
/// letting other blocking work of the core interleave.
const SEARCH_SLICE_MESSAGES_MAX: usize = 4096;

/// Undecided messages read per helper-thread call in the content phase.
const CONTENT_CHUNK_MAX: usize = 256;

/// Bytes of a message file read at a time for BODY and TEXT: the `ContentSearch`
/// piece size, so a search holds one piece whatever the message's size.
const SEARCH_READ_BYTES: usize = mime::SEARCH_PIECE_BYTES_MAX;

/// What one slice of the first phase found, and where the next starts.
#[derive(Default)]
struct Slice {
    /// Records judged (in the view or not).
    judged: u64,
    hits: Vec<SearchHit>,
    undecided: Vec<u32>,
    next: Option<u32>,
}

impl Conn {
    /// SEARCH (and the search of SORT and THREAD). A search that runs past a second
    /// reports its progress between slices and content chunks (INPROGRESS, RFC 9585):
    /// messages decided out of the view's; the session decides when a response goes
    /// out, and it is written at once.
    pub(crate) async fn search(
        &mut self,
        session: &mut Session,
        program: Arc<SearchProgram>,
    ) -> std::io::Result<Answer> {
        let (store, mailbox) = match (self.account_store(), self.selected.as_ref()) {
            (Ok((_, store)), Some(selected)) => (store, selected.mailbox),
            _ => return Ok(Answer::Failed(CommandError::Internal)),
        };
        self.search_in(session, store, mailbox, program).await
    }

    /// MULTISEARCH (RFC 7377): one mailbox of the account, selected or not. The core is
    /// given back first, so a search of many small mailboxes (each judged here in one
    /// slice) never holds it for more than one of them; a mailbox that is not the
    /// session's gets all its messages as the program's view, read on a helper thread
    /// when it is larger than a slice.
    pub(crate) async fn search_mailbox(
        &mut self,
        session: &mut Session,
        name: &str,
        program: Arc<SearchProgram>,
        view_given: bool,
    ) -> std::io::Result<Answer> {
        moxide_runtime::task::yield_now().await;
        let store = match self.account_store() {
            Ok((_, store)) => store,
            Err(error) => return Ok(Answer::Failed(error)),
        };
        let info = match store.read(|view| view.mailbox_by_name(name)) {
            Ok(Some(info)) => info,
            Ok(None) => return Ok(Answer::Failed(CommandError::no_such_mailbox(name))),
            Err(error) => return Ok(Answer::Failed(storage_error(error))),
        };
        let program = if view_given {
            program
        } else {
            let (uid_store, mailbox) = (Arc::clone(&store), info.id);
            let read = move || uid_store.read(|view| view.uids(mailbox));
            let uids = if info.messages as usize <= SEARCH_SLICE_MESSAGES_MAX {
                read()
            } else {
                match moxide_runtime::offload(read).await {
                    Ok(uids) => uids,
                    Err(panic) => {
                        tracing::error!(%panic, "reading a mailbox's UIDs panicked");
                        return Ok(Answer::Failed(CommandError::Internal));
                    }
                }
            };
            match uids {
                Ok(uids) => {
                    Arc::new(program.with_view(UidList::from_sorted(uids.into_iter().map(|uid| uid.0))))
                }
                Err(error) => return Ok(Answer::Failed(storage_error(error))),
            }
        };
        Ok(match self.search_in(session, Arc::clone(&store), info.id, program).await? {
            Answer::Searched(hits) => Answer::MailboxSearched { uidvalidity: info.uidvalidity.0, hits },
            other => other,
        })
    }

    /// The search of `mailbox`, in two phases (see the module doc).
    async fn search_in(
        &mut self,
        session: &mut Session,
        store: Arc<AccountStore>,
        mailbox: MailboxId,
        program: Arc<SearchProgram>,
    ) -> std::io::Result<Answer> {
        let total = u64::from(program.view_len());
        let inline = usize::try_from(program.view_len()).unwrap_or(usize::MAX) <= SEARCH_SLICE_MESSAGES_MAX;
        let (mut hits, mut undecided, mut judged) = (Vec::new(), Vec::new(), 0u64);
        let mut next = Some(1);
        while let Some(first) = next {
            let slice = match slice_off_core(&store, mailbox, &program, first, inline).await {
                Ok(slice) => slice,
                Err(error) => return Ok(Answer::Failed(error)),
            };
            judged += slice.judged;
            hits.extend(slice.hits);
            undecided.extend(slice.undecided);
            next = slice.next;
            self.report_progress(session, judged.saturating_sub(undecided.len() as u64), total).await?;
        }
        let mut decided = judged.saturating_sub(undecided.len() as u64);
        for chunk in undecided.chunks(CONTENT_CHUNK_MAX) {
            let (chunk_store, chunk_program, chunk) =
                (Arc::clone(&store), Arc::clone(&program), chunk.to_vec());
            let judged =
                moxide_runtime::offload(move || judge_content(&chunk_store, mailbox, &chunk_program, &chunk))
                    .await;
            match judged {
                Ok(Ok(found)) => hits.extend(found),
                Ok(Err(error)) => return Ok(Answer::Failed(storage_error(error))),
                Err(panic) => {
                    tracing::error!(%panic, "search content phase panicked");
                    return Ok(Answer::Failed(CommandError::Internal));
                }
            }
            decided += CONTENT_CHUNK_MAX as u64;
            self.report_progress(session, decided, total).await?;
        }
        hits.sort_unstable_by_key(|hit| hit.uid);
        Ok(Answer::Searched(hits))
    }

    /// Gives the session the search's progress; writes out the response it may make.
    async fn report_progress(&mut self, session: &mut Session, done: u64, total: u64) -> std::io::Result<()> {
        if session.progress(now_ms(), done, total) {
            self.write_out(session).await?;
        }
        Ok(())
    }
}

/// One slice of the first phase, here for a mailbox of one slice, else on a helper
/// thread.
async fn slice_off_core(
    store: &Arc<AccountStore>,
    mailbox: MailboxId,
    program: &Arc<SearchProgram>,
    first: u32,
    inline: bool,
) -> Result<Slice, CommandError> {
    let slice = if inline {
        judge_slice(store, mailbox, program, first)
    } else {
        let (slice_store, slice_program) = (Arc::clone(store), Arc::clone(program));
        match moxide_runtime::offload(move || judge_slice(&slice_store, mailbox, &slice_program, first)).await
        {
            Ok(slice) => slice,
            Err(panic) => {
                tracing::error!(%panic, "search index phase panicked");
                return Err(CommandError::Internal);
            }
        }
    };
    slice.map_err(storage_error)
}

/// The first phase over the records from UID `first`, at most
/// [`SEARCH_SLICE_MESSAGES_MAX`] of them, in one read transaction.
fn judge_slice(
    store: &AccountStore,
    mailbox: MailboxId,
    program: &SearchProgram,
    first: u32,
) -> Result<Slice, StorageError> {
    store.read(|view| {
        let mut slice = Slice::default();
        let mut judged = 0;
        view.for_each_message(mailbox, Uid(first), Uid(u32::MAX), |record| {
            if judged == SEARCH_SLICE_MESSAGES_MAX {
                slice.next = Some(record.uid().0);
                return ControlFlow::Break(());
            }
            judged += 1;
            slice.judged += 1;
            if !program.in_view(record.uid().0) {
                return ControlFlow::Continue(());
            }
            let keywords: Vec<&str> = record.keywords().collect();
            let facts = record_facts(record, &keywords);
            let mut verdict = program.judge(&facts, None);
            if verdict == Verdict::NeedsContent
                && !program.texts().is_empty()
                && let Ok(Some(signature)) = view.text_signature(record.id())
            {
                // Most messages without a BODY/TEXT needle are ruled out here, unread.
                verdict = program.judge_with_signature(&facts, signature);
            }
            if verdict == Verdict::NeedsContent && program.need() == SearchNeed::Summary {
                // A summary that is missing or unreadable leaves the message to the
                // content phase, which rebuilds it from the file.
                if let Ok(Some(bytes)) = view.summary(record.id()) {
                    verdict = judge_summary(program, &facts, bytes).unwrap_or(verdict);
                }
            }
            match verdict {
                Verdict::Yes => slice.hits.push(SearchHit { uid: facts.uid, modseq: facts.modseq }),
                Verdict::No => {}
                Verdict::NeedsContent => slice.undecided.push(facts.uid),
            }
            ControlFlow::Continue(())
        })?;
        Ok(slice)
    })
}

/// Judges a message from its stored summary alone (SUBJECT, SENT*, THREADID): a glance
/// at its leading fields, or its envelope when THREADID needs the thread's root; `None`
/// when the summary does not read.
fn judge_summary(program: &SearchProgram, facts: &MessageFacts<'_>, bytes: &[u8]) -> Option<Verdict> {
    if program.needs_thread_id() {
        let stored = MessageSummary::decode_envelope(bytes).ok()?;
        let thread = objectid::thread_id(&stored.envelope, stored.references.as_deref(), facts.email_id);
        let content = SearchContent {
            date: stored.envelope.date.as_deref(),
            subject: stored.envelope.subject.as_deref(),
            thread_id: Some(&thread),
            ..Default::default()
        };
        return Some(program.judge(facts, Some(&content)));
    }
    let glance = Glance::of(bytes).ok()?;
    let content = SearchContent { date: glance.date, subject: glance.subject, ..Default::default() };
    Some(program.judge(facts, Some(&content)))
}

/// The content phase, on a helper thread: the messages of `uids` that match. Reads only
/// what the program needs: nothing beyond the stored summary for SUBJECT and SENT*, the
/// header block for address and HEADER keys, the ranges BODY and TEXT search. A message
/// gone meanwhile does not match; one whose file cannot be read is logged and does not
/// match either.
fn judge_content(
    store: &AccountStore,
    mailbox: MailboxId,
    program: &SearchProgram,
    uids: &[u32],
) -> Result<Vec<SearchHit>, StorageError> {
    let mut hits = Vec::new();
    // One read buffer for the chunk, grown to the longest range read (at most
    // SEARCH_READ_BYTES), rather than 64 KiB zeroed per message.
    let mut buffer = Vec::new();
    for &uid in uids {
        // A short read transaction per message: files are read outside it.
        let found = store.read(|view| {
            let Some(info) = view.message_by_uid(mailbox, Uid(uid))? else { return Ok(None) };
            let summary = view.summary(info.id)?.and_then(|bytes| MessageSummary::decode(bytes).ok());
            Ok(Some((info, summary)))
        })?;
        let Some((info, stored)) = found else { continue };
        match judge_message(store, program, &info, stored, &mut buffer) {
            Ok(true) => hits.push(SearchHit { uid: info.uid.0, modseq: info.modseq.0 }),
            Ok(false) => {}
            Err(error) => {
                // A missing or damaged file is reported, and the message does not match.
                tracing::error!(%error, uid = info.uid.0, "search: message file unreadable");
            }
        }
    }
    Ok(hits)
}

/// Judges one message with its content, read from its file as far as needed.
fn judge_message(
    store: &AccountStore,
    program: &SearchProgram,
    info: &MessageInfo,
    stored: Option<MessageSummary>,
    buffer: &mut Vec<u8>,
) -> Result<bool, StorageError> {
    let need = program.need();
    let io_error = |source| StorageError::Io { path: store.message_path(info.id), source };
    let file = match (need, &stored) {
        (SearchNeed::Summary, Some(_)) => None,
        _ => Some(store.open_message_file(info.id, info.size)?),
    };
    let summary = match (stored, &file) {
        (Some(summary), _) => summary,
        (None, Some(file)) => crate::summary::summarize_file(file).map_err(io_error)?,
        (None, None) => return Ok(false),
    };
    let mut header = Vec::new();
    let mut texts = Vec::new();
    if let Some(file) = &file
        && need >= SearchNeed::Header
    {
        header = info.prefix.clone();
        // Fields past the first HEADER_BYTES_MAX are not searched, as the summary does not
        // consider them either.
        let length = summary.root.header.end.min(mime::HEADER_BYTES_MAX as u64);
        let start = header.len();
        header.resize(start + usize::try_from(length).unwrap_or(0), 0);
        let read = read_full_at(file, &mut header[start..], 0).map_err(io_error)?;
        header.truncate(start + read);
        if need == SearchNeed::Whole {
            texts = text_verdicts(file, program, &summary, buffer).map_err(io_error)?;
        }
    }
    let thread = program
        .needs_thread_id()
        .then(|| objectid::thread_id(&summary.envelope, summary.references.as_deref(), info.id.0));
    let content = SearchContent {
        date: summary.envelope.date.as_deref(),
        subject: summary.envelope.subject.as_deref(),
        header: &header,
        texts: &texts,
        thread_id: thread.as_deref(),
    };
    let keywords: Vec<&str> = info.keywords.iter().map(String::as_str).collect();
    Ok(program.judge(&info_facts(info, &keywords), Some(&content)) == Verdict::Yes)
}

/// Each BODY and TEXT key's verdict on the message in `file`: its `ContentSearch` names
/// the ranges, read at most [`SEARCH_READ_BYTES`] at a time into `buffer`.
fn text_verdicts(
    file: &File,
    program: &SearchProgram,
    summary: &MessageSummary,
    buffer: &mut Vec<u8>,
) -> std::io::Result<Vec<bool>> {
    let mut verdicts = Vec::with_capacity(program.texts().len());
    for text in program.texts() {
        let mut search = text.start(summary);
        while let Some(range) = search.next_range() {
            let length =
                usize::try_from(range.end - range.start).unwrap_or(usize::MAX).min(SEARCH_READ_BYTES);
            if buffer.len() < length {
                buffer.resize(length, 0);
            }
            let read = read_full_at(file, &mut buffer[..length], range.start)?;
            if read == 0 {
                // The summary names bytes past the end of the file.
                return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof));
            }
            search.feed(&buffer[..read]);
        }
        verdicts.push(search.matched());
    }
    Ok(verdicts)
}

/// Fills `buffer` from `offset` as far as the file goes; how many bytes were read.
fn read_full_at(file: &File, buffer: &mut [u8], offset: u64) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read_at(&mut buffer[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}
