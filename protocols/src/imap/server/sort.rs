//! SORT and UID SORT (RFC 5256 §3, SORT=DISPLAY RFC 5957, ESORT RFC 5267 §3, CONTEXT=SORT
//! RFC 5267 §4 through [`super::context`]): the session's half, and the ordering the
//! storage side runs.
//!
//! The storage side answers [`Event::Sort`] by finding the matches as for SEARCH, then
//! building one [`SortRecord`] per match from its INTERNALDATE, size and ordering keys
//! ([`super::ordering_keys`], kept per message by the store, else made from the stored
//! summary) and ordering them with [`SortProgram::order`], off the executor; never from
//! the message file. The session turns the UIDs into numbers and writes `* SORT`.
//!
//! Keys (RFC 5256 §3): strings compare after folding (see [`crate::mime::BaseSubject`]);
//! a missing string is the empty string, which sorts first; DATE is the Date: header in
//! UTC, or INTERNALDATE when it has none that parses; messages equal on every key keep
//! their order in the mailbox.

use std::cmp::Ordering;
use std::sync::Arc;

use super::error::{CommandError, Done};
use super::facts::SearchHit;
use super::ordering_keys::OrderingKeys;
use super::search::{SearchProgram, partial_of, uses_modseq, window_of};
use super::{Answer, Event, Job, Session};
use crate::imap::response::{EsearchResponse, ResponseCode, write_esearch, write_sort};
use crate::imap::types::{
    SearchCommand, SearchKey, SearchReturn, SortCommand, SortCriterion, SortKey, format_uid_set,
};

/// A SORT's criteria, ready for the storage side.
#[derive(Debug, Clone)]
pub struct SortProgram {
    criteria: Vec<SortCriterion>,
}

/// What a SORT reads from each message's stored summary ([`SortProgram::needs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortNeeds {
    /// Nothing: the index record has the keys.
    Nothing,
    /// The Date: header's time.
    Date,
    /// The envelope (and the date).
    Envelope,
}

/// One matching message with what it sorts by, as [`SortProgram::record`] made it.
#[derive(Debug, Clone, Copy)]
pub struct SortRecord<'a> {
    hit: SearchHit,
    arrival_ms: i64,
    size: u64,
    keys: OrderingKeys<'a>,
}

impl SortProgram {
    /// A program for `criteria` (at most [`crate::imap::SORT_CRITERIA_MAX`]).
    pub fn new(criteria: Vec<SortCriterion>) -> SortProgram {
        SortProgram { criteria }
    }

    /// What the criteria need beyond the index record: ARRIVAL and SIZE nothing, DATE
    /// only the sent date, the others the envelope. A storage side that has no stored
    /// ordering keys for a message can read less for the first two.
    pub fn needs(&self) -> SortNeeds {
        let envelope =
            self.criteria.iter().any(|c| !matches!(c.key, SortKey::Arrival | SortKey::Size | SortKey::Date));
        if envelope {
            SortNeeds::Envelope
        } else if self.criteria.iter().any(|c| c.key == SortKey::Date) {
            SortNeeds::Date
        } else {
            SortNeeds::Nothing
        }
    }

    /// A match's record: its INTERNALDATE, served size and ordering keys
    /// ([`super::ordering_keys`]).
    pub fn record<'a>(
        &self,
        hit: SearchHit,
        arrival_ms: i64,
        size: u64,
        keys: OrderingKeys<'a>,
    ) -> SortRecord<'a> {
        SortRecord { hit, arrival_ms, size, keys }
    }

    /// The matches in the requested order; ties keep mailbox (UID) order (RFC 5256 §3).
    pub fn order(&self, mut records: Vec<SortRecord<'_>>) -> Vec<SearchHit> {
        records.sort_unstable_by(|a, b| self.compare(a, b));
        records.into_iter().map(|record| record.hit).collect()
    }

    fn compare(&self, a: &SortRecord<'_>, b: &SortRecord<'_>) -> Ordering {
        for criterion in &self.criteria {
            let ordering = match criterion.key {
                SortKey::Arrival => a.arrival_ms.cmp(&b.arrival_ms),
                SortKey::Date => sent_ms(a).cmp(&sent_ms(b)),
                SortKey::Size => a.size.cmp(&b.size),
                SortKey::Subject => a.keys.subject().cmp(b.keys.subject()),
                SortKey::From => a.keys.from().cmp(b.keys.from()),
                SortKey::To => a.keys.to().cmp(b.keys.to()),
                SortKey::Cc => a.keys.cc().cmp(b.keys.cc()),
                SortKey::DisplayFrom => a.keys.display_from().cmp(b.keys.display_from()),
                SortKey::DisplayTo => a.keys.display_to().cmp(b.keys.display_to()),
            };
            let ordering = if criterion.reverse { ordering.reverse() } else { ordering };
            if ordering != Ordering::Equal {
                return ordering;
            }
        }
        a.hit.uid.cmp(&b.hit.uid)
    }
}

/// DATE: the Date: header in UTC, or INTERNALDATE when it has none that parses.
fn sent_ms(record: &SortRecord<'_>) -> i64 {
    record.keys.date_unix_secs().map_or(record.arrival_ms, |secs| secs.saturating_mul(1000))
}

/// The running SORT.
#[derive(Debug)]
pub(crate) struct SortJob {
    uid: bool,
    modseq: bool,
    /// ESORT's return options (RFC 5267 §3), when RETURN was given.
    return_opts: Option<Vec<SearchReturn>>,
    /// RETURN (UPDATE) and a context may be kept (CONTEXT=SORT, RFC 5267 §4): the key
    /// and order it runs again.
    update: Option<(SearchKey, Arc<SortProgram>)>,
}

impl Session {
    /// The search program of a SORT or THREAD, after the checks SEARCH makes: UTF-8 or
    /// US-ASCII only (RFC 5256 §3: `NO [BADCHARSET]` otherwise), MODSEQ enables CONDSTORE.
    pub(crate) fn ordering_program(&mut self, search: &SearchCommand) -> Result<SearchProgram, CommandError> {
        if let Some(charset) = &search.charset
            && !charset.eq_ignore_ascii_case("UTF-8")
            && !charset.eq_ignore_ascii_case("US-ASCII")
        {
            let code = ResponseCode::BadCharset(vec!["UTF-8".into(), "US-ASCII".into()]);
            return Err(CommandError::no(code, "only UTF-8 and US-ASCII are supported"));
        }
        if uses_modseq(&search.key) {
            self.enable_condstore();
        }
        let Some(selected) = &self.selected else { return Err(CommandError::Internal) };
        let now_ms = i64::try_from(self.now_ms).unwrap_or(i64::MAX);
        Ok(SearchProgram::new(
            search.key.clone(),
            selected.uids.clone(),
            selected.recent.clone(),
            selected.saved.clone(),
            now_ms,
        ))
    }

    /// SORT / UID SORT.
    pub(crate) fn sort(&mut self, uid: bool, sort: SortCommand) {
        let search = match self.ordering_program(&sort.search) {
            Ok(search) => search,
            Err(error) => return self.finish(Err(error)),
        };
        let modseq = uses_modseq(&sort.search.key);
        let return_opts = sort.search.return_opts.clone();
        let asks_update = return_opts.as_ref().is_some_and(|opts| opts.contains(&SearchReturn::Update));
        let update = match asks_update.then(|| self.context_allowed(&sort.search.key)) {
            None => false,
            Some(Ok(allowed)) => allowed,
            Some(Err(error)) => return self.finish(Err(error)),
        };
        let program = Arc::new(SortProgram::new(sort.criteria));
        let update = update.then(|| (sort.search.key, Arc::clone(&program)));
        self.set_job(Job::Sort(SortJob { uid, modseq, return_opts, update }));
        self.request(Event::Sort { search: Arc::new(search), sort: program }, true);
    }

    pub(crate) fn sort_answered(&mut self, job: SortJob, answer: Answer) {
        let hits = match answer {
            Answer::Sorted(hits) => hits,
            Answer::Failed(error) => return self.finish(Err(error)),
            _ => return self.finish(Err(CommandError::Internal)),
        };
        let Some(selected) = self.selected.as_ref() else { return self.finish(Err(CommandError::Internal)) };
        let mut numbers = Vec::with_capacity(hits.len());
        let mut uids = Vec::with_capacity(if job.update.is_some() { hits.len() } else { 0 });
        let mut highest = 0;
        for hit in hits {
            // Only messages the client was told about have a number.
            if let Some(seq) = selected.seq_of(hit.uid) {
                numbers.push(if job.uid { hit.uid } else { seq });
                highest = highest.max(hit.modseq);
                if job.update.is_some() {
                    uids.push(hit.uid);
                }
            }
        }
        // RFC 7162 §3.1.5: with MODSEQ, the highest modseq of the matches.
        let modseq = (job.modseq && !numbers.is_empty()).then_some(highest);
        match &job.return_opts {
            None => write_sort(self.out.buf(), &numbers, modseq),
            Some(options) => {
                let Some(tag) = self.tag().cloned() else { return self.finish(Err(CommandError::Internal)) };
                // RFC 5267 §4.3: UPDATE does not mix with the others; alone it asks for
                // no result now, only the updates (as for SEARCH).
                let others: Vec<SearchReturn> =
                    options.iter().copied().filter(|option| *option != SearchReturn::Update).collect();
                if others.len() == options.len() || !others.is_empty() {
                    write_esort(self.out.buf(), &tag, job.uid, &others, &numbers, modseq);
                }
            }
        }
        if let Some((key, program)) = job.update {
            self.add_sort_context(job.uid, key, program, uids);
        }
        self.finish(Ok(Done::ok("SORT completed")));
    }
}

/// The ESEARCH answer of an ESORT (RFC 5267 §3.2): MIN and MAX are the first and last
/// messages in sort order, ALL lists them in sort order (only ascending runs become
/// ranges), an empty RETURN () means ALL.
fn write_esort(
    out: &mut Vec<u8>,
    tag: &crate::imap::types::Tag,
    uid: bool,
    options: &[SearchReturn],
    numbers: &[u32],
    modseq: Option<u64>,
) {
    let all = options.is_empty() || options.contains(&SearchReturn::All);
    let all_set = if all { format_uid_set(numbers) } else { String::new() };
    // RFC 9394 §3.1 (RFC 5267 §4.4): PARTIAL's positions are in sort order.
    let partial = partial_of(options);
    let window = partial.map(|range| window_of(&range, numbers));
    let response = EsearchResponse {
        tag: Some(tag),
        uid,
        min: numbers.first().copied().filter(|_| options.contains(&SearchReturn::Min)),
        max: numbers.last().copied().filter(|_| options.contains(&SearchReturn::Max)),
        all: (all && !numbers.is_empty()).then_some(all_set.as_str()),
        count: options.contains(&SearchReturn::Count).then_some(numbers.len() as u32),
        modseq,
        partial: partial.zip(window.as_deref()),
        mailbox: None,
    };
    write_esearch(out, &response);
}
