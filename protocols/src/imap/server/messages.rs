//! Commands on the selected mailbox's messages: FETCH (in chunks, see [`super::fetch`]),
//! SEARCH (see [`super::search`]), STORE (RFC 9051 §6.4.6, CONDSTORE's UNCHANGEDSINCE
//! and .SILENT, RFC 7162 §3.1.3), COPY (§6.4.7, COPYUID of RFC 4315), MOVE (RFC 6851) and
//! EXPUNGE / UID EXPUNGE (§6.4.3, RFC 4315 §2.1). The storage side does the work; the
//! session resolves sequence sets, decides what to report and writes it.

use std::ops::RangeInclusive;
use std::sync::Arc;

use super::error::{CommandError, Done};
use super::facts::{FetchMessage, SearchHit, StoreOutcome};
use super::fetch::{
    CHANGED_SINCE_UIDS_MAX, CHANGED_SINCE_WALK_MAX, FETCH_CHUNK_MAX, FETCH_INDEX_CHUNK_MAX, FetchPlan,
    MessageContext, write_message,
};
use super::flags::split;
use super::search::{SearchProgram, uses_modseq, write_answer};
use super::uids::UidList;
use super::{Answer, Event, Job, Session};
use crate::imap::response::{
    ResponseCode, Status, write_fetch_close, write_fetch_modseq, write_fetch_open, write_fetch_separator,
    write_fetch_uid, write_uidfetch_open, write_untagged_status, write_vanished,
};
use crate::imap::types::{
    FetchAttr, FetchModifier, Flag, PartialRange, SearchCommand, SearchReturn, SeqNumber, SeqRange,
    SequenceSet, StoreMode, format_uid_set,
};

/// Walks the messages a set names, in ascending order, a chunk at a time, without
/// holding a list of every target (a FETCH 1:* of a large mailbox keeps a few numbers).
#[derive(Debug)]
struct Cursor {
    /// Merged ascending ranges of sequence numbers or UIDs.
    ranges: Vec<RangeInclusive<u32>>,
    uid_mode: bool,
    index: usize,
    /// The next number to look at in the current range.
    next: u32,
}

impl Cursor {
    fn new(set: &SequenceSet, uid_mode: bool, view: &UidList, saved: &UidList) -> Cursor {
        match set {
            SequenceSet::Saved => {
                Cursor { ranges: saved.ranges().collect(), uid_mode: true, index: 0, next: 0 }
            }
            set => {
                let star = if uid_mode { view.last().unwrap_or(0) } else { view.len() };
                Cursor { ranges: set.resolve(star), uid_mode, index: 0, next: 0 }
            }
        }
    }

    /// Keeps only the messages at the positions `range` names among those the set
    /// names, in order (RFC 9394 §3.2). The set's ranges become sequence ranges (a search
    /// per range, no walk over messages), which are then cut to the window.
    fn windowed(self, view: &UidList, range: &PartialRange) -> Cursor {
        let mut seqs: Vec<RangeInclusive<u32>> = Vec::with_capacity(self.ranges.len());
        for set_range in &self.ranges {
            let (low, high) = if self.uid_mode {
                let below_end = view.rank(*set_range.end()) + u32::from(view.contains(*set_range.end()));
                (view.rank(*set_range.start()) + 1, below_end)
            } else {
                (*set_range.start(), (*set_range.end()).min(view.len()))
            };
            if low <= high {
                seqs.push(low..=high);
            }
        }
        let total: u64 = seqs.iter().map(|seq| u64::from(seq.end() - seq.start()) + 1).sum();
        let window = range.window(u32::try_from(total).unwrap_or(u32::MAX)).unwrap_or(0..0);
        let mut ranges = Vec::new();
        let mut position = 0u32; // 0-based position of the current range's first message
        for seq in seqs {
            let length = seq.end() - seq.start() + 1;
            let from = window.start.max(position);
            let to = window.end.min(position.saturating_add(length));
            if from < to {
                let first = seq.start() + (from - position);
                ranges.push(first..=first + (to - from - 1));
            }
            position = position.saturating_add(length);
        }
        Cursor { ranges, uid_mode: false, index: 0, next: 0 }
    }

    /// The next (seq, uid) pairs, at most `n`.
    fn take(&mut self, view: &UidList, n: usize) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        while out.len() < n {
            let Some(range) = self.ranges.get(self.index) else { break };
            let start = self.next.max(*range.start());
            if start > *range.end() {
                self.index += 1;
                continue;
            }
            let want = n - out.len();
            let got: Vec<(u32, u32)> = if self.uid_mode {
                view.by_uid(start..=*range.end()).take(want).collect()
            } else {
                view.by_seq(start..=*range.end()).take(want).collect()
            };
            match got.last() {
                Some(&(seq, uid)) if got.len() == want => {
                    let last = if self.uid_mode { uid } else { seq };
                    match last.checked_add(1) {
                        Some(next) => self.next = next,
                        None => self.index += 1,
                    }
                }
                _ => self.index += 1,
            }
            out.extend(got);
        }
        out
    }
}

/// A FETCH in progress.
#[derive(Debug)]
pub(crate) struct FetchJob {
    plan: Arc<FetchPlan>,
    cursor: Cursor,
    /// The set as sent (VANISHED filters by it).
    set: SequenceSet,
    phase: FetchPhase,
    chunk: Vec<u32>,
    /// UIDs of the chunk whose `\Seen` this FETCH set (sorted).
    seen_now: Vec<u32>,
    /// The first failure; the rest of the FETCH is skipped.
    error: Option<CommandError>,
    /// NOTIFY's FETCH of new messages (RFC 5465 §5.2): no command, no tagged response.
    notification: bool,
    /// CHANGEDSINCE: the only UIDs that can match (sorted); `None`: every UID of the set.
    only: Option<Vec<u32>>,
}

impl FetchJob {
    /// MessageNew's FETCH of the selected mailbox's messages with UIDs in `uids`.
    pub(crate) fn notification(plan: Arc<FetchPlan>, uids: RangeInclusive<u32>) -> FetchJob {
        let (first, last) = (*uids.start(), *uids.end());
        let set = SequenceSet::Ranges(vec![SeqRange {
            first: SeqNumber::Value(first),
            last: SeqNumber::Value(last),
        }]);
        FetchJob {
            plan,
            cursor: Cursor { ranges: vec![uids], uid_mode: true, index: 0, next: 0 },
            set,
            phase: FetchPhase::Chunk,
            chunk: Vec::new(),
            seen_now: Vec::new(),
            error: None,
            notification: true,
            only: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FetchPhase {
    Vanished,
    Changed,
    Seen,
    Chunk,
}

/// A SEARCH in progress.
#[derive(Debug)]
pub(crate) struct SearchJob {
    search: SearchCommand,
    uid: bool,
    /// RETURN (UPDATE) and a context may be kept (RFC 5267 §4.2).
    update: bool,
}

/// A STORE in progress.
#[derive(Debug)]
pub(crate) struct StoreJob {
    uid: bool,
    silent: bool,
}

/// A COPY or MOVE in progress.
#[derive(Debug)]
pub(crate) struct CopyJob {
    is_move: bool,
}

impl Session {
    pub(crate) fn fetch(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        mut attrs: Vec<FetchAttr>,
        modifiers: &[FetchModifier],
    ) {
        let mut changed_since = None;
        let mut vanished = false;
        let mut partial = None;
        for modifier in modifiers {
            match modifier {
                FetchModifier::ChangedSince(modseq) => changed_since = Some(*modseq),
                FetchModifier::Vanished => vanished = true,
                FetchModifier::Partial(range) => partial = Some(*range),
            }
        }
        if vanished && !(uid && self.enabled.qresync && changed_since.is_some()) {
            // RFC 7162 §3.2.6: VANISHED needs UID FETCH, QRESYNC enabled and CHANGEDSINCE.
            self.finish(Err(CommandError::bad(
                "VANISHED needs UID FETCH with CHANGEDSINCE and QRESYNC enabled",
            )));
            return;
        }
        if changed_since.is_some() && !attrs.contains(&FetchAttr::ModSeq) {
            attrs.push(FetchAttr::ModSeq);
        }
        if attrs.contains(&FetchAttr::ModSeq) {
            // RFC 7162 §3.1: FETCH MODSEQ and CHANGEDSINCE enable CONDSTORE.
            self.enable_condstore();
        }
        if uid && !attrs.contains(&FetchAttr::Uid) {
            attrs.insert(0, FetchAttr::Uid);
        }
        let Some(selected) = &self.selected else { return self.finish(Err(CommandError::Internal)) };
        let plan = Arc::new(FetchPlan::new(attrs, changed_since, selected.read_only));
        let mut cursor = Cursor::new(set, uid, &selected.uids, &selected.saved);
        if let Some(range) = &partial {
            // RFC 9394 §3.2: the positions count the messages the set names, before
            // CHANGEDSINCE filters them.
            cursor = cursor.windowed(&selected.uids, range);
        }
        let job = FetchJob {
            plan,
            cursor,
            set: set.clone(),
            phase: FetchPhase::Chunk,
            chunk: Vec::new(),
            seen_now: Vec::new(),
            error: None,
            notification: false,
            only: None,
        };
        match changed_since.filter(|_| vanished) {
            Some(since) => {
                self.set_job(Job::Fetch(FetchJob { phase: FetchPhase::Vanished, ..job }));
                self.request(Event::ExpungedSince { since }, true);
            }
            None => self.fetch_changed_or_chunk(job),
        }
    }

    /// With CHANGEDSINCE, first the UIDs that can match (from the store's modseq index),
    /// so a sync of a big mailbox walks what changed, not every message; else the chunks.
    fn fetch_changed_or_chunk(&mut self, job: FetchJob) {
        match job.plan.changed_since() {
            Some(since) if !job.notification => {
                self.set_job(Job::Fetch(FetchJob { phase: FetchPhase::Changed, ..job }));
                self.request(Event::ChangedSince { since, max: CHANGED_SINCE_UIDS_MAX }, true);
            }
            _ => self.next_fetch_chunk(job),
        }
    }

    pub(crate) fn next_fetch_chunk(&mut self, mut job: FetchJob) {
        let Some(selected) = &self.selected else {
            return self.fetch_ended(job.notification, Err(CommandError::Internal));
        };
        if let Some(error) = job.error.take() {
            return self.fetch_ended(job.notification, Err(error));
        }
        let n = if job.plan.index_only() { FETCH_INDEX_CHUNK_MAX } else { FETCH_CHUNK_MAX };
        let mut walked = 0;
        let chunk: Vec<u32> = loop {
            let targets = job.cursor.take(&selected.uids, n);
            if targets.is_empty() {
                return self.fetch_ended(job.notification, Ok(Done::ok("FETCH completed")));
            }
            walked += targets.len();
            let mut chunk: Vec<u32> = targets.into_iter().map(|(_, uid)| uid).collect();
            if let Some(only) = &job.only {
                chunk.retain(|uid| only.binary_search(uid).is_ok());
            }
            // An empty chunk after CHANGED_SINCE_WALK_MAX messages still goes out: the
            // round trip lets other work run while a long set is walked.
            if !chunk.is_empty() || walked >= CHANGED_SINCE_WALK_MAX {
                break chunk;
            }
        };
        job.chunk = chunk;
        job.seen_now.clear();
        let uids = job.chunk.clone();
        if job.plan.marks_seen() {
            job.phase = FetchPhase::Seen;
            self.park_fetch(job);
            self.request(Event::FetchSeen(uids), true);
        } else {
            job.phase = FetchPhase::Chunk;
            let plan = Arc::clone(&job.plan);
            self.park_fetch(job);
            self.request(Event::FetchChunk { plan, uids }, true);
        }
    }

    /// Keeps the FETCH while its event is out: a command's in its job, NOTIFY's aside
    /// (it may run inside IDLE or before a command's tagged response).
    fn park_fetch(&mut self, job: FetchJob) {
        if job.notification {
            self.notify_fetch = Some(job);
        } else {
            self.set_job(Job::Fetch(job));
        }
    }

    /// A FETCH ended: a command's with its tagged response, NOTIFY's without.
    fn fetch_ended(&mut self, notification: bool, result: super::error::CommandResult) {
        if notification {
            self.notify_fetch_done();
        } else {
            self.finish(result);
        }
    }

    pub(crate) fn fetch_answered(&mut self, mut job: FetchJob, answer: Answer) {
        match (job.phase, answer) {
            (FetchPhase::Vanished, Answer::Uids(mut gone)) => {
                let max_uid = self.selected.as_ref().map_or(0, |selected| selected.max_uid());
                gone.retain(|&uid| job.set.contains(uid, max_uid.max(uid)));
                gone.sort_unstable();
                if !gone.is_empty() {
                    write_vanished(self.out.buf(), true, &format_uid_set(&gone));
                }
                self.fetch_changed_or_chunk(job);
            }
            (FetchPhase::Changed, Answer::ChangedUids(only)) => {
                job.only = only;
                self.next_fetch_chunk(job);
            }
            (FetchPhase::Seen, Answer::Stored(outcome)) => {
                if let Some(selected) = self.selected.as_mut() {
                    for change in &outcome.changed {
                        selected.note_reported(change.uid, change.modseq);
                    }
                }
                job.seen_now = outcome.changed.iter().map(|change| change.uid).collect();
                job.seen_now.sort_unstable();
                job.phase = FetchPhase::Chunk;
                let (plan, uids) = (Arc::clone(&job.plan), job.chunk.clone());
                self.park_fetch(job);
                self.request(Event::FetchChunk { plan, uids }, true);
            }
            (FetchPhase::Chunk, Answer::ChunkDone) => self.next_fetch_chunk(job),
            (_, Answer::Failed(error)) => self.fetch_ended(job.notification, Err(error)),
            _ => self.fetch_ended(job.notification, Err(CommandError::Internal)),
        }
    }

    /// One message of the FETCH chunk being loaded (see [`Event::FetchChunk`]); writes
    /// its response. Messages not in the chunk or not in the view are ignored.
    pub fn fetch_message(&mut self, message: &FetchMessage<'_>) {
        let rev1 = !self.enabled.rev2;
        let uidonly = self.enabled.uidonly;
        let Session { running, selected, out, notify_fetch, .. } = self;
        let Some(selected) = selected.as_mut() else { return };
        let job = match (notify_fetch.as_mut(), running.as_mut()) {
            (Some(job), _) => job,
            (None, Some(super::Running { job: Job::Fetch(job), .. })) => job,
            _ => return,
        };
        let uid = message.facts.uid;
        if job.phase != FetchPhase::Chunk || job.error.is_some() || job.chunk.binary_search(&uid).is_err() {
            return;
        }
        if job.plan.changed_since().is_some_and(|since| message.facts.modseq <= since) {
            return;
        }
        let Some(seq) = selected.seq_of(uid) else { return };
        let seen_now = job.seen_now.binary_search(&uid).is_ok();
        let context = MessageContext {
            seq,
            recent: rev1 && selected.recent.contains(uid),
            seen_now,
            uidfetch: uidonly.then_some(uid),
        };
        if seen_now || job.plan.shows_flags() {
            selected.announced.announce(
                out.buf(),
                selected.read_only,
                message.facts.keywords.iter().copied(),
            );
        }
        selected.saw_modseq(message.facts.modseq);
        if job.plan.index_only() {
            // Index items cannot fail: written in place.
            if let Err(error) = write_message(out, &job.plan, message, context) {
                job.error = Some(error);
            }
            return;
        }
        // Written aside first: a failing item must not leave half a response behind.
        let mut response = super::output::OutputQueue::default();
        match write_message(&mut response, &job.plan, message, context) {
            Ok(()) => out.append(response),
            Err(error) => job.error = Some(error),
        }
    }

    pub(crate) fn search(&mut self, uid: bool, search: SearchCommand) {
        if let Some(charset) = &search.charset
            && !charset.eq_ignore_ascii_case("UTF-8")
            && !charset.eq_ignore_ascii_case("US-ASCII")
        {
            let code = ResponseCode::BadCharset(vec!["UTF-8".into()]);
            return self.finish(Err(CommandError::no(code, "only UTF-8 searches are supported")));
        }
        if uses_modseq(&search.key) {
            // RFC 7162 §3.1: SEARCH MODSEQ enables CONDSTORE.
            self.enable_condstore();
        }
        let asks_update =
            search.return_opts.as_ref().is_some_and(|opts| opts.contains(&SearchReturn::Update));
        let update = match asks_update.then(|| self.context_allowed(&search.key)) {
            None => false,
            Some(Ok(allowed)) => allowed,
            Some(Err(error)) => return self.finish(Err(error)),
        };
        let Some(selected) = &self.selected else { return self.finish(Err(CommandError::Internal)) };
        let now_ms = i64::try_from(self.now_ms).unwrap_or(i64::MAX);
        let program = SearchProgram::new(
            search.key.clone(),
            selected.uids.clone(),
            selected.recent.clone(),
            selected.saved.clone(),
            now_ms,
        );
        self.set_job(Job::Search(SearchJob { search, uid, update }));
        self.request(Event::Search(Arc::new(program)), true);
    }

    pub(crate) fn search_answered(&mut self, job: SearchJob, answer: Answer) {
        let hits = match answer {
            Answer::Searched(hits) => hits,
            Answer::Failed(error) => return self.finish(Err(error)),
            _ => return self.finish(Err(CommandError::Internal)),
        };
        let (rev2, tag) = (self.enabled.rev2, self.tag().cloned());
        let (Some(selected), Some(tag)) = (self.selected.as_mut(), tag) else {
            return self.finish(Err(CommandError::Internal));
        };
        let mut numbered: Vec<(u32, SearchHit)> =
            hits.into_iter().filter_map(|hit| selected.seq_of(hit.uid).map(|seq| (seq, hit))).collect();
        numbered.sort_unstable();
        numbered.dedup();
        let answer = write_answer(&mut self.out, &tag, &job.search, job.uid, rev2, &numbered, None);
        if let Some(mut saved) = answer.saved {
            saved.sort_unstable();
            selected.saved = UidList::from_sorted(saved);
        }
        if job.update {
            let uids: Vec<u32> = numbered.iter().map(|(_, hit)| hit.uid).collect();
            self.add_context(job.uid, job.search.key, &uids);
        }
        self.finish(Ok(Done::ok("SEARCH completed")));
    }

    pub(crate) fn store(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        mode: StoreMode,
        silent: bool,
        flags: &[Flag],
        unchanged_since: Option<u64>,
    ) {
        let (system, keywords) = match split(flags) {
            Ok(split) => split,
            Err(text) => return self.finish(Err(CommandError::Bad(text))),
        };
        if unchanged_since.is_some() {
            // RFC 7162 §3.1: UNCHANGEDSINCE enables CONDSTORE.
            self.enable_condstore();
        }
        let Some(selected) = &self.selected else { return self.finish(Err(CommandError::Internal)) };
        if selected.read_only {
            return self.finish(Err(CommandError::no(ResponseCode::ReadOnly, "mailbox is read-only")));
        }
        let uids: Vec<u32> = selected.resolve(set, uid).into_iter().map(|(_, uid)| uid).collect();
        if uids.is_empty() {
            return self.finish(Ok(Done::ok("STORE completed")));
        }
        self.set_job(Job::Store(StoreJob { uid, silent }));
        let event =
            Event::Store { uids, mode, flags: system, keywords, unchanged_since, report_unchanged: !silent };
        self.request(event, true);
    }

    pub(crate) fn store_answered(&mut self, job: StoreJob, answer: Answer) {
        let outcome = match answer {
            Answer::Stored(outcome) => outcome,
            Answer::Failed(error) => return self.finish(Err(error)),
            _ => return self.finish(Err(CommandError::Internal)),
        };
        let updates = self.updates(false);
        let Some(selected) = self.selected.as_mut() else { return self.finish(Err(CommandError::Internal)) };
        let StoreOutcome { changed, failed, unchanged } = outcome;
        for change in &changed {
            selected.note_reported(change.uid, change.modseq);
        }
        for fact in &unchanged {
            selected.saw_modseq(fact.modseq);
        }
        if job.silent {
            let out = self.out.buf();
            // RFC 7162 §3.1.3: with CONDSTORE, .SILENT still reports the new modseq of
            // each message that changed; nothing else.
            if updates.condstore {
                for change in &changed {
                    let Some(seq) = selected.seq_of(change.uid) else { continue };
                    if updates.uidonly {
                        write_uidfetch_open(out, change.uid);
                    } else {
                        write_fetch_open(out, seq);
                    }
                    if job.uid && !updates.uidonly {
                        write_fetch_uid(out, change.uid);
                        write_fetch_separator(out);
                    }
                    write_fetch_modseq(out, change.modseq);
                    write_fetch_close(out);
                }
            }
        } else {
            let mut reports: Vec<_> = changed.into_iter().chain(unchanged).collect();
            reports.sort_unstable_by_key(|fact| fact.uid);
            selected.queue_flags(&mut self.out, reports, job.uid, updates);
        }
        if failed.is_empty() {
            return self.finish(Ok(Done::ok("STORE completed")));
        }
        let mut numbers: Vec<u32> =
            failed.iter().filter_map(|&uid| if job.uid { Some(uid) } else { selected.seq_of(uid) }).collect();
        numbers.sort_unstable();
        let code = ResponseCode::Modified(format_uid_set(&numbers));
        self.finish(Ok(Done::with(code, "conditional STORE failed for some messages")));
    }

    pub(crate) fn copy(&mut self, uid: bool, set: &SequenceSet, sent: &str, is_move: bool) {
        let name = self.mailbox_name(sent);
        let Some(selected) = &self.selected else { return self.finish(Err(CommandError::Internal)) };
        if is_move && selected.read_only {
            return self.finish(Err(CommandError::no(ResponseCode::ReadOnly, "mailbox is read-only")));
        }
        let uids: Vec<u32> = selected.resolve(set, uid).into_iter().map(|(_, uid)| uid).collect();
        let text = if is_move { "MOVE completed" } else { "COPY completed" };
        if uids.is_empty() {
            return self.finish(Ok(Done::ok(text)));
        }
        self.set_job(Job::Copy(CopyJob { is_move }));
        self.request(Event::Copy { uids, mailbox: name, is_move }, true);
    }

    pub(crate) fn copy_answered(&mut self, job: CopyJob, answer: Answer) {
        let outcome = match answer {
            Answer::Copied(outcome) => outcome,
            Answer::Failed(error) => return self.finish(Err(try_create(error))),
            _ => return self.finish(Err(CommandError::Internal)),
        };
        let text = if job.is_move { "MOVE completed" } else { "COPY completed" };
        let mut pairs = outcome.pairs;
        pairs.sort_unstable();
        let source: Vec<u32> = pairs.iter().map(|pair| pair.0).collect();
        let destination: Vec<u32> = pairs.iter().map(|pair| pair.1).collect();
        let code = ResponseCode::CopyUid {
            uidvalidity: outcome.uidvalidity,
            source: format_uid_set(&source),
            destination: format_uid_set(&destination),
        };
        if job.is_move {
            // RFC 6851 §4.3: COPYUID in an untagged OK before the expunges.
            if !pairs.is_empty() {
                write_untagged_status(self.out.buf(), Status::Ok, Some(&code), "moved");
            }
            let qresync = self.enabled.qresync || self.enabled.uidonly;
            if let Some(selected) = self.selected.as_mut() {
                selected.remove_own(&outcome.expunged, &mut self.out, qresync);
            }
            return self.finish(Ok(Done::ok(text)));
        }
        if pairs.is_empty() {
            return self.finish(Ok(Done::ok(text)));
        }
        self.finish(Ok(Done::with(code, text)))
    }

    pub(crate) fn expunge(&mut self, set: Option<SequenceSet>) {
        let Some(selected) = &self.selected else { return self.finish(Err(CommandError::Internal)) };
        if selected.read_only {
            return self.finish(Err(CommandError::no(ResponseCode::ReadOnly, "mailbox is read-only")));
        }
        let view: Vec<RangeInclusive<u32>> = selected.uids.ranges().collect();
        let within = match set {
            None => view,
            Some(set) => {
                let star = selected.max_uid();
                let asked = match &set {
                    SequenceSet::Saved => selected.saved.ranges().collect(),
                    set => set.resolve(star),
                };
                intersect(&view, &asked)
            }
        };
        if within.is_empty() {
            return self.finish(Ok(Done::ok("EXPUNGE completed")));
        }
        self.set_job(Job::Expunge);
        self.request(Event::Expunge { within }, true);
    }

    pub(crate) fn expunge_answered(&mut self, answer: Answer) {
        let (uids, highest) = match answer {
            Answer::Expunged(uids, highest) => (uids, highest),
            Answer::Failed(error) => return self.finish(Err(error)),
            _ => return self.finish(Err(CommandError::Internal)),
        };
        let qresync = self.enabled.qresync || self.enabled.uidonly;
        if let Some(selected) = self.selected.as_mut() {
            selected.remove_own(&uids, &mut self.out, qresync);
        }
        if self.enabled.condstore && !uids.is_empty() {
            return self.finish(Ok(Done::with(ResponseCode::HighestModSeq(highest), "EXPUNGE completed")));
        }
        self.finish(Ok(Done::ok("EXPUNGE completed")))
    }
}

/// RFC 9051 §6.4.7, §6.3.12: a destination that does not exist is `NO [TRYCREATE]`, so
/// the client may CREATE it and retry.
pub(crate) fn try_create(error: CommandError) -> CommandError {
    match error {
        CommandError::No(Some(ResponseCode::NonExistent), text) => {
            CommandError::No(Some(ResponseCode::TryCreate), text)
        }
        other => other,
    }
}

/// The intersection of two ascending lists of disjoint ranges.
fn intersect(a: &[RangeInclusive<u32>], b: &[RangeInclusive<u32>]) -> Vec<RangeInclusive<u32>> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        let start = *a[i].start().max(b[j].start());
        let end = *a[i].end().min(b[j].end());
        if start <= end {
            out.push(start..=end);
        }
        if a[i].end() < b[j].end() {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intersections() {
        assert_eq!(intersect(&[1..=5, 8..=10], &[3..=9]), vec![3..=5, 8..=9]);
        assert_eq!(intersect(&[1..=5], &[6..=9]), Vec::<RangeInclusive<u32>>::new());
        assert_eq!(intersect(&[1..=u32::MAX], &[7..=7, 9..=12]), vec![7..=7, 9..=12]);
    }

    #[test]
    fn the_cursor_walks_a_set_in_chunks() {
        let view = UidList::from_sorted([1, 2, 3, 7, 8, 20]);
        let set = SequenceSet::Ranges(vec![crate::imap::types::SeqRange {
            first: crate::imap::types::SeqNumber::Value(2),
            last: crate::imap::types::SeqNumber::Star,
        }]);
        let mut cursor = Cursor::new(&set, true, &view, &UidList::default());
        assert_eq!(cursor.take(&view, 2), vec![(2, 2), (3, 3)]);
        assert_eq!(cursor.take(&view, 2), vec![(4, 7), (5, 8)]);
        assert_eq!(cursor.take(&view, 2), vec![(6, 20)]);
        assert!(cursor.take(&view, 2).is_empty());
        let mut by_seq = Cursor::new(&set, false, &view, &UidList::default());
        assert_eq!(by_seq.take(&view, 10).len(), 5);
    }
}
