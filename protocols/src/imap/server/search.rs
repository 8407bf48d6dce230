//! SEARCH and UID SEARCH (RFC 9051 §6.4.4, RFC 3501 §6.4.4) with ESEARCH return options
//! (RFC 4731), SEARCHRES (RFC 5182), CONDSTORE's MODSEQ key (RFC 7162 §3.1.5), WITHIN
//! (RFC 5032), SAVEDATE keys (RFC 8514) and EMAILID/THREADID (RFC 8474 §6): the verdicts, and the writing of the answer.
//!
//! The storage side runs a [`SearchProgram`] in two phases. First every message of the
//! mailbox is judged on its index facts (flags, keywords, sizes, dates, UID, modseq): each
//! key is true, false or "needs the content". Keys the stored summary answers (SUBJECT,
//! SENT*) are decided in the same pass from a glance at the summary, and BODY and TEXT
//! keys whose needle a message's text signature rules out
//! ([`SearchProgram::judge_with_signature`]) are false there. Only the messages
//! still undecided are then read, as far as [`SearchProgram::need`] says: the header
//! block for address and HEADER keys, and for BODY and TEXT the ranges each of
//! [`SearchProgram::texts`] names, fed in pieces to a [`mime::ContentSearch`]: the caller
//! never holds a whole message. A search on flags, dates and subjects over 100k messages
//! never opens a file.
//!
//! Invariants: only messages in the session's view match (a message the client was not
//! told about has no number yet); the key tree is at most the parser's nesting limit
//! deep, which bounds the recursion of [`SearchProgram::judge`].

use super::facts::{MessageFacts, SearchHit, SystemFlags};
use super::lines::Lines;
use super::output::OutputQueue;
use super::uids::UidList;
use crate::imap::response::{EsearchResponse, MailboxCorrelator, write_esearch};
use crate::imap::types::{
    PartialRange, SearchCommand, SearchKey, SearchReturn, SequenceSet, Tag, format_uid_set,
};
use crate::mime::{self, ContentSearch, MessageSummary, SearchScope};

const DAY_MS: i64 = 86_400_000;

/// A key's verdict on one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It matches.
    Yes,
    /// It does not.
    No,
    /// The content decides: judge again with [`SearchContent`].
    NeedsContent,
}

impl Verdict {
    fn from_bool(value: bool) -> Verdict {
        if value { Verdict::Yes } else { Verdict::No }
    }
}

/// How much of an undecided message the content phase must read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SearchNeed {
    /// The stored summary (SUBJECT from the envelope, SENT* from the Date).
    Summary,
    /// The header block (addresses, HEADER).
    Header,
    /// The message's text (BODY, TEXT): the ranges [`SearchProgram::texts`] name.
    Whole,
}

/// A BODY or TEXT key of a program: what the content phase looks for in a message's
/// file with a [`ContentSearch`] (which names the ranges to read and takes them in pieces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TextSearch {
    /// BODY (text bodies) or TEXT (headers too).
    pub scope: SearchScope,
    /// The string looked for.
    pub needle: String,
}

impl TextSearch {
    /// A search of this key over the message `summary` describes.
    #[must_use]
    pub fn start<'a>(&self, summary: &'a MessageSummary) -> ContentSearch<'a> {
        ContentSearch::new(summary, self.scope, &self.needle)
    }
}

/// A message's content, as far as the search needs it.
#[derive(Debug, Clone, Copy, Default)]
pub struct SearchContent<'a> {
    /// The raw Date value (from the summary or its glance).
    pub date: Option<&'a [u8]>,
    /// The raw Subject value.
    pub subject: Option<&'a [u8]>,
    /// The header block, the delivery prefix included; empty unless [`SearchNeed::Header`]
    /// or more.
    pub header: &'a [u8],
    /// Whether each of [`SearchProgram::texts`] matched, in order; empty unless
    /// [`SearchNeed::Whole`] (a missing entry does not match).
    pub texts: &'a [bool],
    /// The message's THREADID (RFC 8474 §5.2, [`super::objectid::thread_id`]), when
    /// [`SearchProgram::needs_thread_id`].
    pub thread_id: Option<&'a str>,
}

/// A search, ready to run over a mailbox's messages; see the module doc.
#[derive(Debug, Clone)]
pub struct SearchProgram {
    key: SearchKey,
    view: UidList,
    recent: UidList,
    saved: UidList,
    now_ms: i64,
    need: SearchNeed,
    texts: Vec<TextSearch>,
    /// Each of `texts`' needle as a text-signature probe.
    probes: Vec<mime::SignatureProbe>,
    needs_thread_id: bool,
}

/// What a judgement knows of a message beyond its index facts.
#[derive(Clone, Copy)]
enum Known<'a> {
    /// Nothing: content keys need the content.
    Nothing,
    /// Which of [`SearchProgram::texts`] its text signature rules out.
    RuledOut(&'a [bool]),
    /// Its content.
    Content(&'a SearchContent<'a>),
}

impl SearchProgram {
    pub(crate) fn new(key: SearchKey, view: UidList, recent: UidList, saved: UidList, now_ms: i64) -> Self {
        let need = need_of(&key);
        let mut texts = Vec::new();
        text_searches(&key, &mut texts);
        let needs_thread_id = has_key(&key, &|key| matches!(key, SearchKey::ThreadId(_)));
        let probes = texts.iter().map(|text| mime::SignatureProbe::new(&text.needle)).collect();
        SearchProgram { key, view, recent, saved, now_ms, need, texts, probes, needs_thread_id }
    }

    /// A THREADID key is among the keys: the content must carry the message's
    /// [`SearchContent::thread_id`], made from its stored envelope and References.
    pub fn needs_thread_id(&self) -> bool {
        self.needs_thread_id
    }

    /// The BODY and TEXT keys (each once), whose verdicts the content phase gives in
    /// [`SearchContent::texts`].
    pub fn texts(&self) -> &[TextSearch] {
        &self.texts
    }

    /// [`SearchContent::texts`] for a message held whole in memory (`message`, the file's
    /// bytes, which `summary` describes): the same verdicts as the file fed in pieces.
    pub fn text_verdicts(&self, message: &[u8], summary: &MessageSummary) -> Vec<bool> {
        self.texts
            .iter()
            .map(|text| {
                let mut search = text.start(summary);
                while let Some(range) = search.next_range() {
                    let start = usize::try_from(range.start).unwrap_or(usize::MAX).min(message.len());
                    let end = usize::try_from(range.end).unwrap_or(usize::MAX).min(message.len());
                    if start == end {
                        // The summary names bytes past the file (a damaged file): no match.
                        return false;
                    }
                    search.feed(&message[start..end]);
                }
                search.matched()
            })
            .collect()
    }

    /// What the content phase reads for an undecided message.
    pub fn need(&self) -> SearchNeed {
        self.need
    }

    /// The same program over another view: MULTISEARCH (RFC 7377) gives a mailbox that
    /// is not selected all its messages (`view`, ascending UIDs), numbered 1 to n.
    #[must_use]
    pub fn with_view(&self, view: UidList) -> SearchProgram {
        SearchProgram { view, ..self.clone() }
    }

    /// The session's view when the key is ALL: every message in it matches, so SORT and
    /// THREAD need no search pass (their own walk skips the messages gone meanwhile).
    pub fn all_of_view(&self) -> Option<&UidList> {
        is_all(&self.key).then_some(&self.view)
    }

    /// How many messages the session's view holds: the most the first phase judges.
    pub fn view_len(&self) -> u32 {
        self.view.len()
    }

    /// Whether the message is in the session's view (others never match).
    pub fn in_view(&self, uid: u32) -> bool {
        self.view.contains(uid)
    }

    /// Judges a message. Without content, keys that need it answer
    /// [`Verdict::NeedsContent`]; with it, every key is decided.
    pub fn judge(&self, facts: &MessageFacts<'_>, content: Option<&SearchContent<'_>>) -> Verdict {
        let Some(seq) = self.view.seq_of(facts.uid) else { return Verdict::No };
        let known = content.map_or(Known::Nothing, Known::Content);
        self.judge_key(&self.key, seq, facts, known)
    }

    /// Judges a message without its content but with its stored text signature
    /// (`mime::SignatureBuilder`): a BODY or TEXT key whose needle the signature rules
    /// out is false; other content keys still answer [`Verdict::NeedsContent`]. So
    /// `SEARCH BODY x` decides most messages without x here, without opening a file.
    pub fn judge_with_signature(&self, facts: &MessageFacts<'_>, signature: &[u8]) -> Verdict {
        let Some(seq) = self.view.seq_of(facts.uid) else { return Verdict::No };
        // Runs once per message of the mailbox: no allocation for the usual few needles.
        let ruled = |probe: &mime::SignatureProbe| !probe.may_match(signature);
        let mut few = [false; 8];
        let many: Vec<bool>;
        let ruled_out: &[bool] = match few.get_mut(..self.probes.len()) {
            Some(slots) => {
                slots.iter_mut().zip(&self.probes).for_each(|(slot, probe)| *slot = ruled(probe));
                slots
            }
            None => {
                many = self.probes.iter().map(ruled).collect();
                &many
            }
        };
        self.judge_key(&self.key, seq, facts, Known::RuledOut(ruled_out))
    }

    fn in_set(&self, set: &SequenceSet, n: u32, star: u32, uid: u32) -> bool {
        match set {
            SequenceSet::Saved => self.saved.contains(uid),
            set => set.contains(n, star),
        }
    }

    fn judge_key(&self, key: &SearchKey, seq: u32, facts: &MessageFacts<'_>, known: Known<'_>) -> Verdict {
        use SearchKey as K;
        let flags = facts.flags;
        let day = |ms: i64| ms.div_euclid(DAY_MS);
        let has = |bit: SystemFlags| flags.contains(bit);
        let has_keyword = |k: &str| facts.keywords.iter().any(|have| have.eq_ignore_ascii_case(k));
        let recent = self.recent.contains(facts.uid);
        let age_ms = |secs: u64| i64::try_from(secs).unwrap_or(i64::MAX / 1000).saturating_mul(1000);
        match key {
            K::All | K::SaveDateSupported => Verdict::Yes,
            // RFC 3501 §6.4.4: NEW is RECENT UNSEEN; OLD is NOT RECENT.
            K::Recent => Verdict::from_bool(recent),
            K::New => Verdict::from_bool(recent && !has(SystemFlags::SEEN)),
            K::Old => Verdict::from_bool(!recent),
            K::Answered => Verdict::from_bool(has(SystemFlags::ANSWERED)),
            K::Deleted => Verdict::from_bool(has(SystemFlags::DELETED)),
            K::Draft => Verdict::from_bool(has(SystemFlags::DRAFT)),
            K::Flagged => Verdict::from_bool(has(SystemFlags::FLAGGED)),
            K::Seen => Verdict::from_bool(has(SystemFlags::SEEN)),
            K::Unanswered => Verdict::from_bool(!has(SystemFlags::ANSWERED)),
            K::Undeleted => Verdict::from_bool(!has(SystemFlags::DELETED)),
            K::Undraft => Verdict::from_bool(!has(SystemFlags::DRAFT)),
            K::Unflagged => Verdict::from_bool(!has(SystemFlags::FLAGGED)),
            K::Unseen => Verdict::from_bool(!has(SystemFlags::SEEN)),
            K::Keyword(k) => Verdict::from_bool(has_keyword(k)),
            K::Unkeyword(k) => Verdict::from_bool(!has_keyword(k)),
            // RFC 9051 §6.4.4: dates compare by day, disregarding time.
            K::Before(date) => Verdict::from_bool(day(facts.internal_date_ms) < date.days_since_epoch()),
            K::On(date) => Verdict::from_bool(day(facts.internal_date_ms) == date.days_since_epoch()),
            K::Since(date) => Verdict::from_bool(day(facts.internal_date_ms) >= date.days_since_epoch()),
            K::SavedBefore(date) => Verdict::from_bool(day(facts.save_date_ms) < date.days_since_epoch()),
            K::SavedOn(date) => Verdict::from_bool(day(facts.save_date_ms) == date.days_since_epoch()),
            K::SavedSince(date) => Verdict::from_bool(day(facts.save_date_ms) >= date.days_since_epoch()),
            K::Larger(n) => Verdict::from_bool(facts.served_size() > *n),
            K::Smaller(n) => Verdict::from_bool(facts.served_size() < *n),
            K::Younger(secs) => Verdict::from_bool(self.now_ms - facts.internal_date_ms <= age_ms(*secs)),
            K::Older(secs) => Verdict::from_bool(self.now_ms - facts.internal_date_ms > age_ms(*secs)),
            K::Uid(set) => {
                Verdict::from_bool(self.in_set(set, facts.uid, self.view.last().unwrap_or(0), facts.uid))
            }
            K::Seq(set) => Verdict::from_bool(self.in_set(set, seq, self.view.len(), facts.uid)),
            // RFC 7162 §3.1.5: messages with a modseq at or above the value.
            K::ModSeq { modseq, .. } => Verdict::from_bool(facts.modseq >= *modseq),
            K::EmailId(id) => Verdict::from_bool(super::objectid::parse_email_id(id) == Some(facts.email_id)),
            K::Not(inner) => match self.judge_key(inner, seq, facts, known) {
                Verdict::Yes => Verdict::No,
                Verdict::No => Verdict::Yes,
                Verdict::NeedsContent => Verdict::NeedsContent,
            },
            K::Or(a, b) => {
                match (self.judge_key(a, seq, facts, known), self.judge_key(b, seq, facts, known)) {
                    (Verdict::Yes, _) | (_, Verdict::Yes) => Verdict::Yes,
                    (Verdict::No, Verdict::No) => Verdict::No,
                    _ => Verdict::NeedsContent,
                }
            }
            K::And(keys) => {
                let mut verdict = Verdict::Yes;
                for key in keys {
                    match self.judge_key(key, seq, facts, known) {
                        Verdict::No => return Verdict::No,
                        Verdict::NeedsContent => verdict = Verdict::NeedsContent,
                        Verdict::Yes => {}
                    }
                }
                verdict
            }
            content_key => match known {
                Known::Nothing => Verdict::NeedsContent,
                Known::RuledOut(ruled_out) => match content_key {
                    K::Body(needle) if self.ruled_out(SearchScope::Body, needle, ruled_out) => Verdict::No,
                    K::Text(needle) if self.ruled_out(SearchScope::Text, needle, ruled_out) => Verdict::No,
                    _ => Verdict::NeedsContent,
                },
                Known::Content(content) => Verdict::from_bool(self.judge_content_key(content_key, content)),
            },
        }
    }
}

impl SearchProgram {
    fn judge_content_key(&self, key: &SearchKey, content: &SearchContent<'_>) -> bool {
        use SearchKey as K;
        // RFC 3501 §6.4.4: SENT* compare the Date: header's own date, disregarding time and
        // timezone: a message dated 25 Mar 01:00 +0200 was sent on the 25th. Parsed only for
        // those keys: parsing it for every content key was a seventh of SEARCH SUBJECT's time.
        let sent_day = || content.date.and_then(mime::sent_day);
        match key {
            K::From(needle) => mime::address_matches(content.header, "From", needle),
            K::To(needle) => mime::address_matches(content.header, "To", needle),
            K::Cc(needle) => mime::address_matches(content.header, "Cc", needle),
            K::Bcc(needle) => mime::address_matches(content.header, "Bcc", needle),
            // The stored envelope's Subject, RFC 2047 words decoded by the matcher.
            K::Subject(needle) => content.subject.is_some_and(|subject| mime::value_matches(subject, needle)),
            K::ThreadId(id) => content.thread_id == Some(id.as_str()),
            K::Header(name, needle) => mime::header_matches(content.header, name, needle),
            K::Body(needle) => self.text_verdict(SearchScope::Body, needle, content),
            K::Text(needle) => self.text_verdict(SearchScope::Text, needle, content),
            K::SentBefore(date) => sent_day().is_some_and(|d| d < date.days_since_epoch()),
            K::SentOn(date) => sent_day().is_some_and(|d| d == date.days_since_epoch()),
            K::SentSince(date) => sent_day().is_some_and(|d| d >= date.days_since_epoch()),
            _ => false,
        }
    }

    fn ruled_out(&self, scope: SearchScope, needle: &str, ruled_out: &[bool]) -> bool {
        let index = self.texts.iter().position(|text| text.scope == scope && text.needle == needle);
        index.and_then(|index| ruled_out.get(index)).copied().unwrap_or(false)
    }

    fn text_verdict(&self, scope: SearchScope, needle: &str, content: &SearchContent<'_>) -> bool {
        let index = self.texts.iter().position(|text| text.scope == scope && text.needle == needle);
        index.and_then(|index| content.texts.get(index)).copied().unwrap_or(false)
    }
}

/// The BODY and TEXT keys of `key`, each once, in the order of the tree.
fn text_searches(key: &SearchKey, out: &mut Vec<TextSearch>) {
    let text = match key {
        SearchKey::Body(needle) => TextSearch { scope: SearchScope::Body, needle: needle.clone() },
        SearchKey::Text(needle) => TextSearch { scope: SearchScope::Text, needle: needle.clone() },
        SearchKey::Not(inner) => return text_searches(inner, out),
        SearchKey::Or(a, b) => {
            text_searches(a, out);
            return text_searches(b, out);
        }
        SearchKey::And(keys) => return keys.iter().for_each(|key| text_searches(key, out)),
        _ => return,
    };
    if !out.contains(&text) {
        out.push(text);
    }
}

fn need_of(key: &SearchKey) -> SearchNeed {
    match key {
        SearchKey::Body(_) | SearchKey::Text(_) => SearchNeed::Whole,
        SearchKey::From(_)
        | SearchKey::To(_)
        | SearchKey::Cc(_)
        | SearchKey::Bcc(_)
        | SearchKey::Header(..) => SearchNeed::Header,
        SearchKey::Not(inner) => need_of(inner),
        SearchKey::Or(a, b) => need_of(a).max(need_of(b)),
        SearchKey::And(keys) => keys.iter().map(need_of).max().unwrap_or(SearchNeed::Summary),
        _ => SearchNeed::Summary,
    }
}

/// Whether `key` or a key inside it satisfies `test`.
fn has_key(key: &SearchKey, test: &dyn Fn(&SearchKey) -> bool) -> bool {
    match key {
        SearchKey::Not(inner) => has_key(inner, test),
        SearchKey::Or(a, b) => has_key(a, test) || has_key(b, test),
        SearchKey::And(keys) => keys.iter().any(|key| has_key(key, test)),
        key => test(key),
    }
}

/// Whether the key uses MODSEQ (RFC 7162 §3.1.5: then the answer carries the highest
/// modseq of the matches, and CONDSTORE is enabled by use).
/// Whether `key` matches every message: ALL, or a list of ALLs.
fn is_all(key: &SearchKey) -> bool {
    match key {
        SearchKey::All => true,
        SearchKey::And(keys) => keys.iter().all(is_all),
        _ => false,
    }
}

pub(crate) fn uses_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::ModSeq { .. } => true,
        SearchKey::Not(inner) => uses_modseq(inner),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        SearchKey::And(keys) => keys.iter().any(uses_modseq),
        _ => false,
    }
}

/// The PARTIAL return option among `options`, if any (RFC 9394 §3.1).
pub(crate) fn partial_of(options: &[SearchReturn]) -> Option<PartialRange> {
    options.iter().find_map(|option| match option {
        SearchReturn::Partial(range) => Some(*range),
        _ => None,
    })
}

/// The numbers in the window of `range`, as a set (in the result's order; empty when
/// none: written `NIL`).
pub(crate) fn window_of(range: &PartialRange, numbers: &[u32]) -> String {
    match range.window(numbers.len() as u32) {
        Some(window) => format_uid_set(&numbers[window.start as usize..window.end as usize]),
        None => String::new(),
    }
}

/// The answer to a SEARCH: what to write, and what to save for `$` (RFC 5182).
pub(crate) struct SearchAnswer {
    /// UIDs to save as the new `$`, when SAVE was asked.
    pub(crate) saved: Option<Vec<u32>>,
}

/// Writes `* SEARCH` or `* ESEARCH` for `hits` (as (seq, uid, modseq), ascending).
/// `rev2`: IMAP4rev2 answers ESEARCH even without RETURN (RFC 9051 §7.3.4).
pub(crate) fn write_answer(
    out: &mut OutputQueue,
    tag: &Tag,
    search: &SearchCommand,
    uid_mode: bool,
    rev2: bool,
    hits: &[(u32, SearchHit)],
    mailbox: Option<MailboxCorrelator<'_>>,
) -> SearchAnswer {
    let numbers: Vec<u32> = hits.iter().map(|(seq, hit)| if uid_mode { hit.uid } else { *seq }).collect();
    let modseq = uses_modseq(&search.key).then(|| hits.iter().map(|(_, hit)| hit.modseq).max()).flatten();
    let modseq = modseq.filter(|_| !numbers.is_empty());
    let rev2_default = Vec::new();
    let without_update: Vec<SearchReturn>;
    let options = match &search.return_opts {
        Some(options) if options.contains(&SearchReturn::Update) => {
            // RFC 5267 §4.2: UPDATE alone asks for no result now, only the updates.
            without_update = options.iter().copied().filter(|o| *o != SearchReturn::Update).collect();
            if without_update.is_empty() {
                return SearchAnswer { saved: None };
            }
            &without_update
        }
        Some(options) => options,
        None if rev2 => &rev2_default,
        None => {
            // One number per hit: made as it is written.
            out.lines(Lines::search(numbers, modseq));
            return SearchAnswer { saved: None };
        }
    };
    let all = options.is_empty() || options.contains(&SearchReturn::All);
    let (min, max, count) = (
        options.contains(&SearchReturn::Min),
        options.contains(&SearchReturn::Max),
        options.contains(&SearchReturn::Count),
    );
    let partial = partial_of(options);
    let window = partial.map(|range| window_of(&range, &numbers));
    let mut saved = None;
    if options.contains(&SearchReturn::Save) {
        // RFC 5182 §2.4: with MIN/MAX (and no ALL/COUNT) only those are saved; with
        // PARTIAL (RFC 9394 §3.1) the messages of the window.
        let uids: Vec<u32> = hits.iter().map(|(_, hit)| hit.uid).collect();
        saved = Some(if let Some(range) = partial {
            uids[range.window(uids.len() as u32).map_or(0..0, |w| w.start as usize..w.end as usize)].to_vec()
        } else if (min || max) && !all && !count {
            let mut picked: Vec<u32> = Vec::new();
            picked.extend(uids.first().filter(|_| min));
            picked.extend(uids.last().filter(|last| max && !picked.contains(last)));
            picked
        } else {
            uids
        });
        if options.len() == 1 {
            return SearchAnswer { saved }; // SAVE alone: no ESEARCH response (RFC 5182 §2.1).
        }
    }
    let all_set = if all { format_uid_set(&numbers) } else { String::new() };
    let response = EsearchResponse {
        tag: Some(tag),
        uid: uid_mode,
        min: numbers.first().copied().filter(|_| min),
        max: numbers.last().copied().filter(|_| max),
        all: (all && !numbers.is_empty()).then_some(all_set.as_str()),
        count: count.then_some(numbers.len() as u32),
        modseq,
        partial: partial.zip(window.as_deref()),
        mailbox,
    };
    write_esearch(out.buf(), &response);
    SearchAnswer { saved }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::imap::server::facts::SystemFlags;

    fn program(key: SearchKey) -> SearchProgram {
        let view = UidList::from_sorted([1]);
        SearchProgram::new(key, view, UidList::default(), UidList::default(), 0)
    }

    fn facts(flags: SystemFlags) -> MessageFacts<'static> {
        MessageFacts {
            uid: 1,
            modseq: 1,
            flags,
            keywords: &[],
            internal_date_ms: 0,
            save_date_ms: 0,
            file_bytes: 10,
            prefix: b"",
            email_id: 1,
        }
    }

    /// A needle the signature rules out makes its key false, so NOT and OR around it
    /// decide too; a needle it may hold, or another content key, still needs the content.
    #[test]
    fn signatures_decide_ruled_out_text_keys() {
        let message = b"Subject: hello\r\n\r\nA plain body about nothing.\r\n";
        let signature = mime::signature_of(message, &mime::summarize(message)).unwrap();
        let body = |needle: &str| SearchKey::Body(needle.to_string());
        let text = |needle: &str| SearchKey::Text(needle.to_string());
        let seen = facts(SystemFlags::SEEN);
        let cases = [
            (body("quetzalcoatl"), Verdict::No),
            (text("quetzalcoatl"), Verdict::No),
            (body("PLAIN body"), Verdict::NeedsContent),
            (text("subject: hello"), Verdict::NeedsContent),
            (SearchKey::Not(Box::new(body("quetzalcoatl"))), Verdict::Yes),
            (SearchKey::Or(Box::new(body("quetzalcoatl")), Box::new(SearchKey::Seen)), Verdict::Yes),
            (SearchKey::Or(Box::new(body("quetzalcoatl")), Box::new(body("nothing"))), Verdict::NeedsContent),
            (SearchKey::And(vec![body("quetzalcoatl"), SearchKey::From("x".into())]), Verdict::No),
            (SearchKey::And(vec![body("nothing"), SearchKey::From("x".into())]), Verdict::NeedsContent),
            (body("ab"), Verdict::NeedsContent),
        ];
        for (key, verdict) in cases {
            let program = program(key.clone());
            assert_eq!(program.judge_with_signature(&seen, &signature), verdict, "{key:?}");
        }
        // More needles than the judgement keeps on the stack.
        let many: Vec<SearchKey> = (0..9).map(|n| body(&format!("nothing{n}"))).collect();
        assert_eq!(program(SearchKey::And(many)).judge_with_signature(&seen, &signature), Verdict::No);
        // A damaged signature rules nothing out.
        assert_eq!(program(body("quetzalcoatl")).judge_with_signature(&seen, b"\x09"), Verdict::NeedsContent);
    }
}
