//! FETCH, the storage side: loads each chunk the session asks for and feeds it back one
//! message at a time, writing the output out whenever the session's budget is reached.
//!
//! A chunk whose plan needs only index facts (FLAGS, UID, sizes, dates, MODSEQ) is fed
//! straight from the archived records inside one read transaction on this core, without
//! copies or a helper thread: the sync pattern of every client (`FETCH 1:* (FLAGS)`).
//! Any other chunk is loaded in batches of at most [`LOADED_SUMMARY_BYTES_MAX`] of stored
//! summaries: records and stored summaries from one read transaction, then, on a helper
//! thread, per message its summary (decoded, or computed from the file in pieces when
//! none was stored), the byte ranges the plan reads into memory (a small file whole,
//! never more than `FETCH_INLINE_BYTES_MAX`), and the open file for the ranges the session
//! sends from it (sendfile on plaintext) or reads to decode. PREVIEW (without LAZY) of a
//! message whose stored summary predates previews reads the preview's source (at most
//! `PREVIEW_SOURCE_BYTES_MAX`) from the file here too. A message another session
//! expunged but this one still shows is read from the store's kept records.

use std::fs::File;
use std::ops::{ControlFlow, Range};
use std::os::unix::fs::FileExt as _;
use std::sync::Arc;

use moxide_protocols::imap::server::{
    Answer, CommandError, FETCH_CHUNK_MAX, FetchMessage, FetchPlan, Session, StoreOutcome,
};
use moxide_protocols::mime::MessageSummary;
use moxide_storage::{AccountStore, FlagOp, Flags, MailboxId, MessageInfo, ModSeq, StorageError, Uid};

use super::facts::{account_error, changed_fact, info_facts, record_facts, storage_error};
use super::session::Conn;

/// A record of a chunk and its stored summary, as read on this core.
type Stored = (MessageInfo, Option<Vec<u8>>);

/// Stored summaries loaded at once for a FETCH: a summary is about 600 bytes for
/// ordinary mail but up to ~2 MiB for a message of 10,000 parts, so a chunk of 64 such
/// messages is loaded a few at a time (the decoded summaries take a few times this).
const LOADED_SUMMARY_BYTES_MAX: usize = 4 * 1024 * 1024;

/// Expunged UIDs a VANISHED (EARLIER) reads on the session's core: index entries read in
/// place, a few thousand in well under a millisecond.
const EXPUNGED_HERE_MAX: usize = 4096;

/// One message of a chunk, loaded.
struct Loaded {
    info: MessageInfo,
    summary: Option<MessageSummary>,
    pieces: Vec<(u64, Vec<u8>)>,
    file: Option<Arc<File>>,
}

impl Conn {
    fn selected_mailbox(&self) -> Result<(Arc<str>, Arc<AccountStore>, MailboxId), CommandError> {
        let (account, store) = self.account_store()?;
        let mailbox = self.selected.as_ref().ok_or(CommandError::Internal)?.mailbox;
        Ok((account, store, mailbox))
    }

    /// FETCH's implicit `\Seen` (RFC 9051 §6.4.5) through the account actor.
    pub(crate) async fn fetch_seen(&mut self, uids: Vec<u32>) -> Answer {
        let (account, store, mailbox) = match self.selected_mailbox() {
            Ok(selected) => selected,
            Err(error) => return Answer::Failed(error),
        };
        // Only messages without \Seen go to the actor; a chunk of read mail costs a read.
        let unseen = store.read(|view| {
            let wanted: Vec<Uid> = uids.iter().map(|&uid| Uid(uid)).collect();
            let mut unseen = Vec::new();
            view.for_each_uid(mailbox, &wanted, |record| {
                if !record.flags().contains(Flags::SEEN) {
                    unseen.push(record.uid());
                }
                ControlFlow::Continue(())
            })?;
            Ok(unseen)
        });
        let uids = match unseen {
            Ok(unseen) if unseen.is_empty() => return Answer::Stored(StoreOutcome::default()),
            Ok(unseen) => unseen,
            Err(error) => return Answer::Failed(storage_error(error)),
        };
        match self.node.store_flags(&account, mailbox, uids, FlagOp::Add, Flags::SEEN, Vec::new(), None).await
        {
            Ok(stored) => Answer::Stored(StoreOutcome {
                changed: stored.changed.into_iter().map(changed_fact).collect(),
                ..StoreOutcome::default()
            }),
            Err(error) => Answer::Failed(account_error(error)),
        }
    }

    /// UIDs expunged after `since` (VANISHED (EARLIER)): read here when there are at
    /// most [`EXPUNGED_HERE_MAX`], else (up to every message the mailbox ever had, for a
    /// client that last synced long ago) on a helper thread.
    pub(crate) async fn expunged_since(&self, since: u64) -> Answer {
        let (_, store, mailbox) = match self.selected_mailbox() {
            Ok(selected) => selected,
            Err(error) => return Answer::Failed(error),
        };
        let small = store.read(|view| view.expunged_since_at_most(mailbox, ModSeq(since), EXPUNGED_HERE_MAX));
        let gone = match small {
            Ok(Some(gone)) => gone,
            Ok(None) => {
                let reader = Arc::clone(&store);
                let read = move || reader.read(|view| view.expunged_since(mailbox, ModSeq(since)));
                match super::mailboxes::read_off_core(true, read).await {
                    Ok(gone) => gone,
                    Err(error) => return Answer::Failed(error),
                }
            }
            Err(error) => return Answer::Failed(storage_error(error)),
        };
        Answer::Uids(gone.into_iter().map(|(uid, _)| uid.0).collect())
    }

    /// The UIDs a CHANGEDSINCE `since` FETCH can report, at most `max` (see
    /// [`moxide_storage::ReadView::changed_uids_since`]): bounded work, here on the core.
    pub(crate) fn changed_since(&self, since: u64, max: usize) -> Answer {
        let (_, store, mailbox) = match self.selected_mailbox() {
            Ok(selected) => selected,
            Err(error) => return Answer::Failed(error),
        };
        match store.read(|view| view.changed_uids_since(mailbox, ModSeq(since), max)) {
            Ok(uids) => Answer::ChangedUids(uids),
            Err(error) => Answer::Failed(storage_error(error)),
        }
    }

    /// Feeds one chunk to the session; the answer to give when done.
    pub(crate) async fn fetch_chunk(
        &mut self,
        session: &mut Session,
        plan: &Arc<FetchPlan>,
        uids: &[u32],
    ) -> std::io::Result<Answer> {
        let (_, store, mailbox) = match self.selected_mailbox() {
            Ok(selected) => selected,
            Err(error) => return Ok(Answer::Failed(error)),
        };
        self.files.clear();
        if uids.is_empty() {
            // A CHANGEDSINCE walk past messages that cannot match: let the core's other
            // work (sockets included) run.
            moxide_runtime::task::yield_to_reactor().await;
            return Ok(Answer::ChunkDone);
        }
        if plan.index_only() {
            if let Err(error) = feed_index(session, &store, mailbox, uids) {
                return Ok(Answer::Failed(storage_error(error)));
            }
            return Ok(Answer::ChunkDone);
        }
        let mut rest = uids;
        while !rest.is_empty() {
            let read = store.read(|view| stored_summaries(view, mailbox, rest, plan));
            let (stored, used) = match read {
                Ok(read) => read,
                Err(error) => return Ok(Answer::Failed(storage_error(error))),
            };
            rest = &rest[used..];
            let stored = match decode_here(plan, stored) {
                Ok(loaded) => {
                    self.feed(session, loaded).await?;
                    if uids.len() >= FETCH_CHUNK_MAX {
                        // More chunks may follow, each decoded on this core: let the
                        // core's sockets run between them.
                        moxide_runtime::task::yield_to_reactor().await;
                    }
                    continue;
                }
                Err(stored) => stored,
            };
            if let Some(failed) = self.feed_loaded(session, &store, plan, stored).await? {
                return Ok(Answer::Failed(failed));
            }
        }
        Ok(Answer::ChunkDone)
    }

    /// Loads a batch on a helper thread and feeds it to the session, writing out
    /// whenever its budget is reached; the failure to answer, if any.
    async fn feed_loaded(
        &mut self,
        session: &mut Session,
        store: &Arc<AccountStore>,
        plan: &Arc<FetchPlan>,
        stored: Vec<Stored>,
    ) -> std::io::Result<Option<CommandError>> {
        let (load_store, load_plan) = (Arc::clone(store), Arc::clone(plan));
        let loaded = match moxide_runtime::offload(move || load_chunk(&load_store, &load_plan, stored)).await
        {
            Ok(Ok(loaded)) => loaded,
            Ok(Err(error)) => return Ok(Some(storage_error(error))),
            Err(panic) => {
                tracing::error!(%panic, "loading a FETCH chunk panicked");
                return Ok(Some(CommandError::Internal));
            }
        };
        self.feed(session, loaded).await?;
        Ok(None)
    }

    /// Feeds loaded messages to the session, writing out whenever its budget is reached
    /// and once at the end (the output may name the files of these messages).
    async fn feed(&mut self, session: &mut Session, loaded: Vec<Loaded>) -> std::io::Result<()> {
        self.files = loaded.iter().filter_map(|m| m.file.clone().map(|file| (m.info.id.0, file))).collect();
        for message in &loaded {
            let keywords: Vec<&str> = message.info.keywords.iter().map(String::as_str).collect();
            let pieces: Vec<(u64, &[u8])> =
                message.pieces.iter().map(|(at, bytes)| (*at, bytes.as_slice())).collect();
            session.fetch_message(&FetchMessage {
                facts: info_facts(&message.info, &keywords),
                summary: message.summary.as_ref(),
                loaded: &pieces,
                file: message.info.id.0,
            });
            if session.output_blocked() {
                self.write_out_now(session).await?;
            }
        }
        // The session's output may still name these files: write it out before the
        // next batch replaces them.
        if session.pending_output().is_some() {
            self.write_out_now(session).await?;
        }
        Ok(())
    }

    async fn write_out_now(&mut self, session: &mut Session) -> std::io::Result<()> {
        use futures_lite::AsyncWriteExt as _;
        let Conn { io, files, .. } = self;
        let stream = io.stream()?;
        super::output::write_all(stream, session, files).await?;
        stream.flush().await
    }
}

/// Feeds index facts from the archived records in place (one read transaction); UIDs
/// without a live record come from the kept expunged records.
fn feed_index(
    session: &mut Session,
    store: &AccountStore,
    mailbox: MailboxId,
    uids: &[u32],
) -> Result<(), StorageError> {
    let wanted: Vec<Uid> = uids.iter().map(|&uid| Uid(uid)).collect();
    store.read(|view| {
        let mut found = Vec::with_capacity(uids.len());
        view.for_each_uid(mailbox, &wanted, |record| {
            found.push(record.uid().0);
            let keywords: Vec<&str> = record.keywords().collect();
            let facts = record_facts(record, &keywords);
            session.fetch_message(&FetchMessage { facts, summary: None, loaded: &[], file: record.id().0 });
            ControlFlow::Continue(())
        })?;
        for &uid in uids.iter().filter(|uid| found.binary_search(uid).is_err()) {
            if let Some(info) = view.expunged_message(mailbox, Uid(uid))? {
                let keywords: Vec<&str> = info.keywords.iter().map(String::as_str).collect();
                let facts = info_facts(&info, &keywords);
                session.fetch_message(&FetchMessage { facts, summary: None, loaded: &[], file: info.id.0 });
            }
        }
        Ok(())
    })
}

/// Records (live or kept) and stored summaries of the first UIDs of a chunk, from one
/// read transaction, until [`LOADED_SUMMARY_BYTES_MAX`] of summaries; and how many UIDs
/// that took.
fn stored_summaries(
    view: &moxide_storage::ReadView<'_>,
    mailbox: MailboxId,
    uids: &[u32],
    plan: &FetchPlan,
) -> Result<(Vec<Stored>, usize), StorageError> {
    let mut out = Vec::with_capacity(uids.len());
    let mut summary_bytes = 0;
    for (index, &uid) in uids.iter().enumerate() {
        if summary_bytes >= LOADED_SUMMARY_BYTES_MAX {
            return Ok((out, index));
        }
        let info = match view.message_by_uid(mailbox, Uid(uid))? {
            Some(info) => info,
            None => match view.expunged_message(mailbox, Uid(uid))? {
                Some(info) => info,
                None => continue,
            },
        };
        if plan.changed_since().is_some_and(|since| info.modseq.0 <= since) {
            continue;
        }
        // A message read whole for its content alone (BODY[], RFC822) needs no summary:
        // neither looked up nor copied.
        let summary = if plan.needs_file() && !plan.needs_summary_for(info.size) {
            None
        } else {
            view.summary(info.id)?.map(<[u8]>::to_vec)
        };
        summary_bytes += summary.as_ref().map_or(0, Vec::len);
        out.push((info, summary));
    }
    Ok((out, uids.len()))
}

/// Stored summaries decoded on the session's core: a batch of at most this many bytes
/// (a 64-message chunk of ordinary mail is about 40 KiB) decodes in a fraction of a
/// millisecond, less than handing it to a helper thread and back.
const DECODED_HERE_BYTES_MAX: usize = 64 * 1024;

/// A batch whose plan reads no file, decoded here when every message has its stored
/// summary (with a preview when the plan shows one) and the batch is small; else the
/// batch back, for [`load_chunk`] on a helper thread.
fn decode_here(plan: &FetchPlan, stored: Vec<Stored>) -> Result<Vec<Loaded>, Vec<Stored>> {
    let bytes: usize = stored.iter().map(|(_, summary)| summary.as_ref().map_or(0, Vec::len)).sum();
    if plan.needs_file()
        || bytes > DECODED_HERE_BYTES_MAX
        || stored.iter().any(|(_, summary)| summary.is_none())
    {
        return Err(stored);
    }
    let mut summaries = Vec::with_capacity(stored.len());
    for (_, bytes) in &stored {
        let summary = match bytes {
            Some(bytes) if plan.needs_summary() => MessageSummary::decode(bytes).ok(),
            _ => None,
        };
        // Stored before previews were kept: the file has it (see load_chunk).
        if summary.as_ref().is_some_and(|summary| plan.computes_preview() && summary.preview.is_none()) {
            return Err(stored);
        }
        summaries.push(summary);
    }
    Ok(stored
        .into_iter()
        .zip(summaries)
        .map(|((info, _), summary)| Loaded { info, summary, pieces: Vec::new(), file: None })
        .collect())
}

/// On a helper thread: each message's summary, the ranges the plan reads, its open file.
fn load_chunk(
    store: &AccountStore,
    plan: &FetchPlan,
    stored: Vec<Stored>,
) -> Result<Vec<Loaded>, StorageError> {
    let mut loaded = Vec::with_capacity(stored.len());
    for (info, summary_bytes) in stored {
        // The file is opened only when an item reads it or no summary was stored.
        let mut file = None;
        // A small message the plan reads whole: read with the open, its length checked
        // by the read (no fstat).
        let mut whole = None;
        if plan.needs_file() || summary_bytes.is_none() {
            if plan.reads_whole(info.size) {
                let (opened, bytes) = store.read_message_file(info.id, info.size)?;
                file = Some(opened);
                whole = Some(bytes);
            } else {
                file = Some(store.open_message_file(info.id, info.size)?);
            }
        }
        let mut summary = match (&file, plan.needs_summary_for(info.size)) {
            (_, false) => None,
            (Some(file), true) => Some(summary_or_file(store, &info, summary_bytes.as_deref(), file)?),
            (None, true) => summary_bytes.as_deref().and_then(|bytes| MessageSummary::decode(bytes).ok()),
        };
        if let Some(summary) =
            summary.as_mut().filter(|summary| plan.computes_preview() && summary.preview.is_none())
        {
            // Stored before previews were kept (RFC 8970: only LAZY may answer NIL).
            let opened = match file.take() {
                Some(opened) => opened,
                None => store.open_message_file(info.id, info.size)?,
            };
            crate::summary::fill_preview(summary, &opened)
                .map_err(|source| StorageError::Io { path: store.message_path(info.id), source })?;
            file = Some(opened);
        }
        let mut pieces = Vec::new();
        if let Some(file) = &file {
            for range in plan.reads(info.size, summary.as_ref()) {
                let bytes = match whole.take() {
                    Some(bytes) if range == (0..info.size) => bytes,
                    _ => read_range(store, file, &info, range.clone())?,
                };
                pieces.push((range.start, bytes));
            }
        }
        // Kept open even when loaded whole: past the output budget the session sends
        // repeated items from the file.
        let file = file.filter(|_| plan.needs_file()).map(Arc::new);
        loaded.push(Loaded { info, summary, pieces, file });
    }
    Ok(loaded)
}

/// The stored summary, or one computed from the file (read in pieces) when none was
/// stored (messages older than schema 2) or it does not decode.
fn summary_or_file(
    store: &AccountStore,
    info: &MessageInfo,
    stored: Option<&[u8]>,
    file: &File,
) -> Result<MessageSummary, StorageError> {
    crate::summary::summary_or_file(stored, file)
        .map_err(|source| StorageError::Io { path: store.message_path(info.id), source })
}

fn read_range(
    store: &AccountStore,
    file: &File,
    info: &MessageInfo,
    range: Range<u64>,
) -> Result<Vec<u8>, StorageError> {
    let length = usize::try_from(range.end.saturating_sub(range.start)).unwrap_or(0);
    let mut bytes = vec![0u8; length];
    file.read_exact_at(&mut bytes, range.start)
        .map_err(|source| StorageError::Io { path: store.message_path(info.id), source })?;
    Ok(bytes)
}
