//! SEARCH contexts (RFC 5267 §4, CONTEXT=SEARCH): `SEARCH RETURN (UPDATE ...)` keeps
//! the result, and the session reports how it changes as the mailbox changes, with
//! `* ESEARCH (TAG "t") [UID] REMOVEFROM (0 set) ADDTO (0 set)`; CANCELUPDATE ends a
//! context. Results are unsorted, so the position is always 0 (as Dovecot writes it).
//!
//! Driven by the session's change handling ([`super::selected`]): expunged messages
//! leave every result at once (REMOVEFROM goes out before the EXPUNGE or VANISHED that
//! removes them, with the numbers they had); new messages and flag changes make the
//! contexts stale, and at the next point that allows untagged updates (the end of a
//! command, or IDLE) the session runs each context's search again through the storage
//! side ([`super::Event::Search`], off the executor like any SEARCH) and writes the
//! difference. The tagged response of the command waits for that.
//!
//! Invariants: a session holds at most [`SEARCH_CONTEXTS_MAX`] contexts; each result
//! is a subset of the view, kept as runs of UIDs; contexts belong to the selected
//! mailbox and end with it.

use std::sync::Arc;

use super::error::{CommandError, Done};
use super::search::SearchProgram;
use super::uids::UidList;
use super::{Answer, Event, Session};
use crate::imap::response::{ResponseCode, Status, write_esearch_update, write_untagged_status};
use crate::imap::types::{SearchKey, SequenceSet, format_uid_set};

/// UPDATE contexts one session may hold. A client keeps one per list it shows (a
/// folder view, an unread count); each context costs its key and its result as runs of
/// UIDs, and a search of the mailbox whenever messages arrive or change, so a few
/// suffice and more would multiply the work of every change. Past it, a SEARCH with
/// UPDATE is answered without a context (`* NO [NOUPDATE "tag"]`, RFC 5267 §4.2).
pub const SEARCH_CONTEXTS_MAX: usize = 8;

/// One UPDATE context.
#[derive(Debug)]
pub(crate) struct SearchContext {
    /// The SEARCH's tag, as the updates name it.
    pub(crate) tag: String,
    /// UID SEARCH: updates carry UIDs, else sequence numbers.
    pub(crate) uid: bool,
    /// The search program's key, run again on changes.
    pub(crate) key: SearchKey,
    /// The UIDs of the current result.
    pub(crate) result: UidList,
}

/// Whether `key` names messages by sequence number or by the saved result: such a
/// result changes meaning as the mailbox changes, so it gets no context.
fn follows_numbers(key: &SearchKey) -> bool {
    match key {
        SearchKey::Seq(_) | SearchKey::Uid(SequenceSet::Saved) => true,
        SearchKey::Not(inner) => follows_numbers(inner),
        SearchKey::Or(a, b) => follows_numbers(a) || follows_numbers(b),
        SearchKey::And(keys) => keys.iter().any(follows_numbers),
        _ => false,
    }
}

impl Session {
    /// Whether the running SEARCH (with UPDATE) may get a context; otherwise writes
    /// `* NO [NOUPDATE "tag"]` (RFC 5267 §4.2) and the search goes on without one.
    pub(crate) fn context_allowed(&mut self, key: &SearchKey) -> bool {
        let Some(tag) = self.tag().map(|tag| tag.0.clone()) else { return false };
        let held = self
            .selected
            .as_ref()
            .map_or(0, |selected| selected.contexts.iter().filter(|context| context.tag != tag).count());
        let refusal = if follows_numbers(key) {
            "no UPDATE for a search by sequence numbers or $"
        } else if held >= SEARCH_CONTEXTS_MAX {
            "too many UPDATE contexts"
        } else {
            return true;
        };
        write_untagged_status(self.out.buf(), Status::No, Some(&ResponseCode::NoUpdate(tag)), refusal);
        false
    }

    /// Keeps a context for the running SEARCH's result (`uids` ascending, in the view);
    /// one of the same tag is replaced.
    pub(crate) fn add_context(&mut self, uid: bool, key: SearchKey, uids: &[u32]) {
        let Some(tag) = self.tag().map(|tag| tag.0.clone()) else { return };
        let Some(selected) = self.selected.as_mut() else { return };
        selected.contexts.retain(|context| context.tag != tag);
        let result = UidList::from_sorted(uids.iter().copied());
        selected.contexts.push(SearchContext { tag, uid, key, result });
    }

    /// CANCELUPDATE (RFC 5267 §4.3): a tag that names no context is BAD.
    pub(crate) fn cancel_update(&mut self, tags: &[String]) {
        let Some(selected) = self.selected.as_mut() else { return self.finish(Err(CommandError::Internal)) };
        if let Some(unknown) = tags.iter().find(|tag| !selected.contexts.iter().any(|c| &c.tag == *tag)) {
            let text = format!("no UPDATE context for tag {unknown:?}");
            return self.finish(Err(CommandError::Bad(text)));
        }
        selected.contexts.retain(|context| !tags.contains(&context.tag));
        self.finish(Ok(Done::ok("CANCELUPDATE completed")));
    }

    /// After changes were applied: runs the stale contexts' searches again when
    /// updates may go out now. True when a search was queued (the caller waits for it;
    /// [`Session::context_searched`] takes the answer).
    pub(crate) fn refresh_contexts(&mut self) -> bool {
        let allowed = self.running.as_ref().is_none_or(|running| running.allow_expunge);
        let Some(selected) = self.selected.as_mut() else { return false };
        if !allowed || !selected.contexts_stale {
            return false;
        }
        selected.contexts_stale = false;
        self.request_context_search(0)
    }

    fn request_context_search(&mut self, index: usize) -> bool {
        let Some(selected) = &self.selected else { return false };
        let Some(context) = selected.contexts.get(index) else {
            self.refreshing = None;
            return false;
        };
        let now_ms = i64::try_from(self.now_ms).unwrap_or(i64::MAX);
        let program = SearchProgram::new(
            context.key.clone(),
            selected.uids.clone(),
            selected.recent.clone(),
            selected.saved.clone(),
            now_ms,
        );
        self.refreshing = Some(index);
        self.request(Event::Search(Arc::new(program)), true);
        true
    }

    /// The answer to a context's search: writes what changed, then searches for the
    /// next context, or ends the refresh (and writes the tagged response that waited).
    pub(crate) fn context_searched(&mut self, index: usize, answer: Answer) {
        if let (Answer::Searched(hits), Some(selected)) = (answer, self.selected.as_mut())
            && let Some(context) = selected.contexts.get_mut(index)
        {
            let mut now: Vec<u32> =
                hits.into_iter().map(|hit| hit.uid).filter(|&uid| selected.uids.contains(uid)).collect();
            now.sort_unstable();
            now.dedup();
            let removed: Vec<u32> =
                context.result.iter().filter(|uid| now.binary_search(uid).is_err()).collect();
            let added: Vec<u32> = now.iter().copied().filter(|&uid| !context.result.contains(uid)).collect();
            if !removed.is_empty() || !added.is_empty() {
                let number = |uid: u32| if context.uid { Some(uid) } else { selected.uids.seq_of(uid) };
                let removed: Vec<u32> = removed.into_iter().filter_map(number).collect();
                let added: Vec<u32> = added.into_iter().filter_map(number).collect();
                let (removed, added) = (format_uid_set(&removed), format_uid_set(&added));
                write_esearch_update(self.out.buf(), &context.tag, context.uid, &removed, &added);
                context.result = UidList::from_sorted(now);
            }
        }
        if self.request_context_search(index + 1) {
            return;
        }
        if let Some(result) = self.running.as_mut().and_then(|running| running.result.take()) {
            self.write_tagged(result);
        }
    }
}

/// Writes REMOVEFROM for the contexts holding some of `gone` (ascending UIDs still in
/// the view, about to be expunged), numbered as they are before the removal, and takes
/// them out of the results.
pub(crate) fn remove_expunged(selected: &mut super::selected::Selected, gone: &[u32], out: &mut Vec<u8>) {
    for context in &mut selected.contexts {
        let removed: Vec<u32> = gone.iter().copied().filter(|&uid| context.result.contains(uid)).collect();
        if removed.is_empty() {
            continue;
        }
        let numbers: Vec<u32> = if context.uid {
            removed.clone()
        } else {
            removed.iter().filter_map(|&uid| selected.uids.seq_of(uid)).collect()
        };
        write_esearch_update(out, &context.tag, context.uid, &format_uid_set(&numbers), "");
        context.result.remove(&removed);
    }
}
