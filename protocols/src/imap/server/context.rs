//! UPDATE contexts (RFC 5267 §4, CONTEXT=SEARCH and CONTEXT=SORT): `SEARCH RETURN
//! (UPDATE ...)` and `SORT RETURN (UPDATE ...)` keep the result, and the session reports
//! how it changes as the mailbox changes, with `* ESEARCH (TAG "t") [UID] REMOVEFROM
//! (pos set) ADDTO (pos set)`; CANCELUPDATE ends a context. A SEARCH result is in
//! mailbox order, so its position is always 0 (as Dovecot writes it); a SORT result
//! keeps its order, and each pair names the position in it where the set goes or
//! leaves (RFC 5267 §4.3.3, §4.3.4; see [`sorted_diff`]).
//!
//! Driven by the session's change handling ([`super::selected`]): expunged messages
//! leave every result at once (REMOVEFROM goes out before the EXPUNGE or VANISHED that
//! removes them, with the numbers they had); new messages and flag changes make the
//! contexts stale, and at the next point that allows untagged updates (the end of a
//! command, or IDLE) the session runs each context's search (and sort) again through
//! the storage side ([`super::Event::Search`], [`super::Event::Sort`], off the executor
//! like any SEARCH or SORT) and writes the difference. The tagged response of the
//! command waits for that.
//!
//! A message's sort keys (dates, size, addresses, subject) never change, so messages
//! that stay in a sorted result keep their order: an update only removes and inserts.
//!
//! Invariants: a session holds at most [`SEARCH_CONTEXTS_MAX`] contexts, SEARCH and SORT
//! together; each result is a subset of the view, kept as runs of UIDs, and a sorted
//! one also in its order (at most [`SORT_CONTEXT_MESSAGES_MAX`] UIDs); contexts belong
//! to the selected mailbox and end with it.

use std::collections::HashSet;
use std::sync::Arc;

use super::error::{CommandError, Done};
use super::facts::SearchHit;
use super::search::SearchProgram;
use super::selected::Selected;
use super::sort::SortProgram;
use super::uids::UidList;
use super::{Answer, Event, Session};
use crate::imap::response::{ContextPair, ResponseCode, Status, write_esearch_update, write_untagged_status};
use crate::imap::types::{SearchKey, SequenceSet, format_uid_set};

/// UPDATE contexts one session may hold, SEARCH and SORT together. A client keeps one
/// per list it shows (a folder view, an unread count); each context costs its key and
/// its result as runs of UIDs (a sorted one also 4 bytes per message in its order), and
/// a search of the mailbox whenever messages arrive or change, so a few suffice and
/// more would multiply the work of every change. Past it, a SEARCH or SORT with UPDATE
/// is answered without a context (`* NO [NOUPDATE "tag"]`, RFC 5267 §4.3.1).
pub const SEARCH_CONTEXTS_MAX: usize = 8;

/// Messages a SORT context may hold in its order: 4 bytes each, so at most 400 KiB per
/// context and 3.2 MiB for a session at [`SEARCH_CONTEXTS_MAX`], and a bound on the
/// work of each update's difference. A client pages a larger result with PARTIAL
/// instead; a SORT whose result is larger gets no context (`* NO [NOUPDATE "tag"]`,
/// RFC 5267 §4.3.1 lets a server refuse), and a context whose result grows past it
/// ends the same way.
pub const SORT_CONTEXT_MESSAGES_MAX: usize = 100_000;

/// One UPDATE context.
#[derive(Debug)]
pub(crate) struct SearchContext {
    /// The SEARCH's or SORT's tag, as the updates name it.
    pub(crate) tag: String,
    /// UID SEARCH / UID SORT: updates carry UIDs, else sequence numbers.
    pub(crate) uid: bool,
    /// The search program's key, run again on changes.
    pub(crate) key: SearchKey,
    /// The UIDs of the current result.
    pub(crate) result: UidList,
    /// A SORT context: its order, and the result's UIDs in it.
    pub(crate) sorted: Option<SortedResult>,
}

/// A SORT context's order and result.
#[derive(Debug)]
pub(crate) struct SortedResult {
    pub(crate) program: Arc<SortProgram>,
    /// The result's UIDs in sort order (as many as `result` holds).
    pub(crate) uids: Vec<u32>,
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
    /// Whether the running SEARCH or SORT (with UPDATE) may get a context; otherwise
    /// writes `* NO [NOUPDATE "tag"]` (RFC 5267 §4.3.1) and the command goes on without
    /// one. A tag that already names a context is an error: RFC 5267 §4.3 has the
    /// command rejected with BAD.
    pub(crate) fn context_allowed(&mut self, key: &SearchKey) -> Result<bool, CommandError> {
        let Some(tag) = self.tag().map(|tag| tag.0.clone()) else { return Ok(false) };
        let contexts = self.selected.as_ref().map_or(&[][..], |selected| selected.contexts.as_slice());
        if contexts.iter().any(|context| context.tag == tag) {
            return Err(CommandError::Bad(format!("tag {tag:?} names an UPDATE context already")));
        }
        let refusal = if follows_numbers(key) {
            "no UPDATE for a search by sequence numbers or $"
        } else if contexts.len() >= SEARCH_CONTEXTS_MAX {
            "too many UPDATE contexts"
        } else {
            return Ok(true);
        };
        self.refuse_context(tag, refusal);
        Ok(false)
    }

    fn refuse_context(&mut self, tag: String, text: &str) {
        write_untagged_status(self.out.buf(), Status::No, Some(&ResponseCode::NoUpdate(tag)), text);
    }

    /// Keeps a context for the running SEARCH's result (`uids` ascending, in the view).
    pub(crate) fn add_context(&mut self, uid: bool, key: SearchKey, uids: &[u32]) {
        let Some(tag) = self.tag().map(|tag| tag.0.clone()) else { return };
        let Some(selected) = self.selected.as_mut() else { return };
        let result = UidList::from_sorted(uids.iter().copied());
        selected.contexts.push(SearchContext { tag, uid, key, result, sorted: None });
    }

    /// Keeps a context for the running SORT's result (`uids` in sort order, in the
    /// view), or refuses one past [`SORT_CONTEXT_MESSAGES_MAX`].
    pub(crate) fn add_sort_context(
        &mut self,
        uid: bool,
        key: SearchKey,
        program: Arc<SortProgram>,
        uids: Vec<u32>,
    ) {
        let Some(tag) = self.tag().map(|tag| tag.0.clone()) else { return };
        if uids.len() > SORT_CONTEXT_MESSAGES_MAX {
            return self.refuse_context(tag, "too many messages for a SORT context");
        }
        let Some(selected) = self.selected.as_mut() else { return };
        let mut ascending = uids.clone();
        ascending.sort_unstable();
        let result = UidList::from_sorted(ascending);
        let sorted = Some(SortedResult { program, uids });
        selected.contexts.push(SearchContext { tag, uid, key, result, sorted });
    }

    /// CANCELUPDATE (RFC 5267 §4.3.5): a tag that names no context is BAD.
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
        let program = Arc::new(SearchProgram::new(
            context.key.clone(),
            selected.uids.clone(),
            selected.recent.clone(),
            selected.saved.clone(),
            now_ms,
        ));
        let event = match &context.sorted {
            None => Event::Search(program),
            Some(sorted) => Event::Sort { search: program, sort: Arc::clone(&sorted.program) },
        };
        self.refreshing = Some(index);
        self.request(event, true);
        true
    }

    /// The answer to a context's search (or sort): writes what changed, then searches
    /// for the next context, or ends the refresh (and writes the tagged response that
    /// waited).
    pub(crate) fn context_searched(&mut self, index: usize, answer: Answer) {
        let mut next = index + 1;
        if let Some(selected) = self.selected.as_mut() {
            match answer {
                Answer::Searched(hits) => update_unsorted(selected, index, hits, self.out.buf()),
                Answer::Sorted(hits) => {
                    let kept = update_sorted(selected, index, hits, self.out.buf());
                    // A context that ended left its index to the next one.
                    next = if kept { index + 1 } else { index };
                }
                _ => {}
            }
        }
        if self.request_context_search(next) {
            return;
        }
        if let Some(result) = self.running.as_mut().and_then(|running| running.result.take()) {
            self.write_tagged(result);
        }
    }
}

/// A SEARCH context's new result: REMOVEFROM and ADDTO at position 0.
fn update_unsorted(selected: &mut Selected, index: usize, hits: Vec<SearchHit>, out: &mut Vec<u8>) {
    let Some(context) = selected.contexts.get_mut(index) else { return };
    let mut now: Vec<u32> =
        hits.into_iter().map(|hit| hit.uid).filter(|&uid| selected.uids.contains(uid)).collect();
    now.sort_unstable();
    now.dedup();
    let removed: Vec<u32> = context.result.iter().filter(|uid| now.binary_search(uid).is_err()).collect();
    let added: Vec<u32> = now.iter().copied().filter(|&uid| !context.result.contains(uid)).collect();
    if removed.is_empty() && added.is_empty() {
        return;
    }
    let number = |uid: u32| if context.uid { Some(uid) } else { selected.uids.seq_of(uid) };
    let removed: Vec<u32> = removed.into_iter().filter_map(number).collect();
    let added: Vec<u32> = added.into_iter().filter_map(number).collect();
    let removed = [(0, format_uid_set(&removed))];
    let added = [(0, format_uid_set(&added))];
    write_esearch_update(out, &context.tag, context.uid, &removed, &added);
    context.result = UidList::from_sorted(now);
}

/// A SORT context's new result (`hits` in sort order): REMOVEFROM and ADDTO with
/// positions. False when the context ended because its result grew past
/// [`SORT_CONTEXT_MESSAGES_MAX`] (Spec question: RFC 5267 §4.3.1 describes NOUPDATE
/// only while the command runs; an untagged NO later is the nearest a client can
/// understand).
fn update_sorted(selected: &mut Selected, index: usize, hits: Vec<SearchHit>, out: &mut Vec<u8>) -> bool {
    let Some(context) = selected.contexts.get_mut(index) else { return true };
    let Some(sorted) = context.sorted.as_mut() else { return true };
    let mut seen = HashSet::with_capacity(hits.len());
    let now: Vec<u32> = hits
        .into_iter()
        .map(|hit| hit.uid)
        .filter(|&uid| selected.uids.contains(uid) && seen.insert(uid))
        .collect();
    if now.len() > SORT_CONTEXT_MESSAGES_MAX {
        let tag = context.tag.clone();
        selected.contexts.remove(index);
        let code = ResponseCode::NoUpdate(tag);
        write_untagged_status(out, Status::No, Some(&code), "too many messages for a SORT context");
        return false;
    }
    let diff = sorted_diff(&sorted.uids, &now);
    if !diff.is_empty() {
        let number = |uid: u32| if context.uid { Some(uid) } else { selected.uids.seq_of(uid) };
        let removed = pairs(&diff.removed, number);
        let added = pairs(&diff.added, number);
        write_esearch_update(out, &context.tag, context.uid, &removed, &added);
    }
    let mut ascending = now.clone();
    ascending.sort_unstable();
    context.result = UidList::from_sorted(ascending);
    sorted.uids = now;
    true
}

/// How a sorted result changes: runs to remove, then runs to insert, each as (1-based
/// position, UIDs), to be applied in order (RFC 5267 §4.3.2).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct SortedDiff {
    pub(crate) removed: Vec<(u32, Vec<u32>)>,
    pub(crate) added: Vec<(u32, Vec<u32>)>,
}

impl SortedDiff {
    fn is_empty(&self) -> bool {
        self.removed.is_empty() && self.added.is_empty()
    }
}

/// The REMOVEFROM and ADDTO runs that turn the sorted result `old` into `new`.
///
/// Removals go first, lowest position first: a run that stood at 1-based position `p`
/// in `old` is removed at `p` minus the messages removed before it (RFC 5267 §4.3.4:
/// the first UID of the set is at that position before removal). Then insertions,
/// lowest final position first: a run that stands at `q` in `new` is inserted at `q`,
/// since everything before it in `new` is in place by then (RFC 5267 §4.3.3: the first
/// UID of the set occupies that position after insertion).
///
/// Messages in both keep their relative order (their sort keys never change); should
/// they not, those out of order are removed and inserted again, which is still right.
pub(crate) fn sorted_diff(old: &[u32], new: &[u32]) -> SortedDiff {
    let in_new: HashSet<u32> = new.iter().copied().collect();
    let in_old: HashSet<u32> = old.iter().copied().collect();
    let kept_old: Vec<u32> = old.iter().copied().filter(|uid| in_new.contains(uid)).collect();
    let kept_new: Vec<u32> = new.iter().copied().filter(|uid| in_old.contains(uid)).collect();
    let stays: HashSet<u32> =
        if kept_old == kept_new { kept_old.into_iter().collect() } else { HashSet::new() };
    let mut diff = SortedDiff::default();
    let mut last: Option<usize> = None;
    let mut removed_before = 0u32;
    for (index, &uid) in old.iter().enumerate() {
        if stays.contains(&uid) {
            continue;
        }
        match diff.removed.last_mut() {
            Some((_, run)) if last.is_some_and(|last| last + 1 == index) => run.push(uid),
            _ => diff.removed.push((position(index) - removed_before, vec![uid])),
        }
        last = Some(index);
        removed_before += 1;
    }
    last = None;
    for (index, &uid) in new.iter().enumerate() {
        if stays.contains(&uid) {
            continue;
        }
        match diff.added.last_mut() {
            Some((_, run)) if last.is_some_and(|last| last + 1 == index) => run.push(uid),
            _ => diff.added.push((position(index), vec![uid])),
        }
        last = Some(index);
    }
    diff
}

/// The 1-based position of a 0-based index (results are far below `u32::MAX`).
fn position(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX).saturating_add(1)
}

/// The wire pairs of runs: each run's UIDs as numbers (UIDs, or sequence numbers as
/// they are now), in the run's order.
fn pairs(runs: &[(u32, Vec<u32>)], number: impl Fn(u32) -> Option<u32>) -> Vec<ContextPair> {
    runs.iter()
        .map(|(position, uids)| {
            let numbers: Vec<u32> = uids.iter().copied().filter_map(&number).collect();
            (*position, format_uid_set(&numbers))
        })
        .collect()
}

/// Writes REMOVEFROM for the contexts holding some of `gone` (ascending UIDs still in
/// the view, about to be expunged), numbered as they are before the removal, and takes
/// them out of the results. A SORT context names the positions they leave.
pub(crate) fn remove_expunged(selected: &mut Selected, gone: &[u32], out: &mut Vec<u8>) {
    for context in &mut selected.contexts {
        if !gone.iter().any(|&uid| context.result.contains(uid)) {
            continue;
        }
        let number = |uid: u32| if context.uid { Some(uid) } else { selected.uids.seq_of(uid) };
        let removed = match context.sorted.as_mut() {
            None => {
                let uids: Vec<u32> =
                    gone.iter().copied().filter(|&uid| context.result.contains(uid)).collect();
                let numbers: Vec<u32> = uids.iter().copied().filter_map(number).collect();
                vec![(0, format_uid_set(&numbers))]
            }
            Some(sorted) => {
                let now: Vec<u32> =
                    sorted.uids.iter().copied().filter(|uid| gone.binary_search(uid).is_err()).collect();
                let diff = sorted_diff(&sorted.uids, &now);
                sorted.uids = now;
                pairs(&diff.removed, number)
            }
        };
        write_esearch_update(out, &context.tag, context.uid, &removed, &[]);
        context.result.remove(gone);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removals_count_positions_before_each_run_and_insertions_final_positions() {
        // 10 20 30 40 50 -> 20 35 50 60: remove 10 at 1, then 30 40 at 3-1 = 2; add 35 at
        // 2 and 60 at 4.
        let diff = sorted_diff(&[10, 20, 30, 40, 50], &[20, 35, 50, 60]);
        assert_eq!(diff.removed, vec![(1, vec![10]), (2, vec![30, 40])]);
        assert_eq!(diff.added, vec![(2, vec![35]), (4, vec![60])]);
        assert_eq!(apply(&[10, 20, 30, 40, 50], &diff), vec![20, 35, 50, 60]);
    }

    #[test]
    fn out_of_order_survivors_are_moved_by_removal_and_insertion() {
        let diff = sorted_diff(&[1, 2, 3], &[3, 1, 2]);
        assert_eq!(apply(&[1, 2, 3], &diff), vec![3, 1, 2]);
        assert!(sorted_diff(&[5, 3, 9], &[5, 3, 9]).is_empty());
    }

    #[test]
    fn diffs_replay_to_the_new_order() {
        // A small exhaustive walk: every subset of a fixed order, from every subset.
        let order = [7u32, 3, 9, 1, 4];
        for from in 0u32..32 {
            for to in 0u32..32 {
                let pick = |mask: u32| -> Vec<u32> {
                    order.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, &u)| u).collect()
                };
                let (old, new) = (pick(from), pick(to));
                assert_eq!(apply(&old, &sorted_diff(&old, &new)), new, "{old:?} -> {new:?}");
            }
        }
    }

    /// What a client does with the pairs (RFC 5267 §4.3.3, §4.3.4).
    fn apply(old: &[u32], diff: &SortedDiff) -> Vec<u32> {
        let mut list = old.to_vec();
        for (position, run) in &diff.removed {
            let at = *position as usize - 1;
            assert_eq!(&list[at..at + run.len()], run.as_slice());
            list.drain(at..at + run.len());
        }
        for (position, run) in &diff.added {
            let at = *position as usize - 1;
            list.splice(at..at, run.iter().copied());
        }
        list
    }
}
