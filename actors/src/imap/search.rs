//! SEARCH and UID SEARCH (RFC 9051 §6.4.4) with ESEARCH return options (RFC 4731),
//! SEARCHRES (RFC 5182), CONDSTORE's MODSEQ key (RFC 7162 §3.1.5), WITHIN (RFC 5032) and
//! SAVEDATE keys (RFC 8514).
//!
//! Evaluation has two phases. In one read transaction every message is judged on what
//! its index record knows (flags, keywords, sizes, dates, UID, modseq): each key is true,
//! false or "needs the content". Keys the stored summary answers (SUBJECT, SENT*) are
//! decided in the same pass from a [`Glance`] at the summary's bytes in place. Only the
//! messages still undecided are then read, on a helper thread, in chunks: the header
//! block for address/HEADER keys, the whole message for BODY/TEXT. A search on flags,
//! dates and subjects over 100k messages never opens a file.

use std::collections::HashSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use moxide_protocols::imap::{SearchCommand, SearchKey, SearchReturn, SequenceSet, Tag, format_uid_set};
use moxide_protocols::mime::{self, Glance, MessageSummary};
use moxide_storage::{AccountStore, ArchivedMessageRecord, Flags, MessageId, StorageError, Uid};

use super::session::{CommandError, CommandResult, Done, Session};

/// Undecided messages read per helper-thread call.
const CONTENT_CHUNK_MAX: usize = 256;

const DAY_MS: i64 = 86_400_000;

/// A key's verdict on one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Yes,
    No,
    NeedsContent,
}

impl Verdict {
    fn from_bool(value: bool) -> Verdict {
        if value { Verdict::Yes } else { Verdict::No }
    }
}

/// What the index knows of a message.
#[derive(Debug, Clone)]
struct Facts {
    seq: u32,
    uid: u32,
    flags: Flags,
    keywords: Vec<String>,
    received_ms: i64,
    saved_ms: i64,
    served_size: u64,
    modseq: u64,
}

impl Facts {
    fn of(seq: u32, record: &ArchivedMessageRecord) -> Facts {
        Facts {
            seq,
            uid: record.uid().0,
            flags: record.flags(),
            keywords: record.keywords().map(str::to_string).collect(),
            received_ms: record.received_ms(),
            saved_ms: record.saved_ms(),
            served_size: record.served_size(),
            modseq: record.modseq().0,
        }
    }
}

/// The mailbox-wide context of an evaluation.
#[derive(Debug, Clone)]
struct Scope {
    count: u32,
    max_uid: u32,
    saved: HashSet<u32>,
    now_ms: i64,
}

/// A message that needs its content read.
struct Undecided {
    facts: Facts,
    id: MessageId,
    size: u64,
    prefix: Vec<u8>,
    summary: Option<Vec<u8>>,
}

/// A message's content, loaded as far as the key needs.
struct Content<'a> {
    glance: Glance<'a>,
    /// Empty unless the key needs the header block or more.
    header: &'a [u8],
    /// Empty unless the key needs the whole message.
    whole: &'a [u8],
    /// Decoded only when the key needs the whole message.
    summary: Option<&'a MessageSummary>,
}

impl Session {
    pub(crate) async fn search(&mut self, uid_mode: bool, tag: &Tag, search: SearchCommand) -> CommandResult {
        if let Some(charset) = &search.charset
            && !charset.eq_ignore_ascii_case("UTF-8")
            && !charset.eq_ignore_ascii_case("US-ASCII")
        {
            return Err(CommandError::No(
                Some(moxide_protocols::imap::ResponseCode::BadCharset(vec!["UTF-8".into()])),
                "only UTF-8 searches are supported".into(),
            ));
        }
        let store = Arc::clone(&self.login_ref()?.store);
        let Some(selected) = self.selected.as_ref() else {
            return Err(CommandError::Bad("no mailbox selected".into()));
        };
        let scope = Arc::new(Scope {
            count: selected.count(),
            max_uid: selected.max_uid(),
            saved: selected.saved.iter().copied().collect(),
            now_ms: crate::clock::now_unix_ms(),
        });
        let mut matched: Vec<(u32, u32, u64)> = Vec::new();
        let mut undecided = Vec::new();
        let mailbox = selected.mailbox;
        let from_summary = need_of(&search.key) == Need::Summary;
        store.read(|view| {
            view.for_each_message(mailbox, Uid(1), Uid(u32::MAX), |record| {
                let Some(seq) = selected.seq_of(record.uid().0) else { return ControlFlow::Continue(()) };
                let facts = Facts::of(seq, record);
                let mut verdict = judge(&search.key, &facts, &scope, None);
                if verdict == Verdict::NeedsContent && from_summary {
                    // A summary that is missing or unreadable leaves the message to the
                    // content phase, which rebuilds it from the file.
                    if let Ok(Some(bytes)) = view.summary(record.id())
                        && let Ok(glance) = Glance::of(bytes)
                    {
                        let content = Content { glance, header: &[], whole: &[], summary: None };
                        verdict = judge(&search.key, &facts, &scope, Some(&content));
                    }
                }
                match verdict {
                    Verdict::Yes => matched.push((facts.seq, facts.uid, facts.modseq)),
                    Verdict::No => {}
                    Verdict::NeedsContent => undecided.push(Undecided {
                        facts,
                        id: record.id(),
                        size: record.size(),
                        prefix: record.prefix().to_vec(),
                        summary: None,
                    }),
                }
                ControlFlow::Continue(())
            })?;
            for message in &mut undecided {
                message.summary = view.summary(message.id)?.map(<[u8]>::to_vec);
            }
            Ok(())
        })?;
        let key = Arc::new(search.key.clone());
        let mut undecided = undecided.into_iter().peekable();
        while undecided.peek().is_some() {
            let chunk: Vec<Undecided> = undecided.by_ref().take(CONTENT_CHUNK_MAX).collect();
            let (chunk_store, chunk_key, chunk_scope) =
                (Arc::clone(&store), Arc::clone(&key), Arc::clone(&scope));
            let hits =
                moxide_runtime::offload(move || judge_content(&chunk_store, &chunk_key, &chunk_scope, chunk))
                    .await
                    .map_err(|panic| CommandError::Internal(panic.to_string()))?;
            matched.extend(hits);
        }
        matched.sort_unstable();
        self.write_search(uid_mode, tag, &search, &matched);
        Ok(Done::ok("SEARCH completed"))
    }

    fn write_search(
        &mut self,
        uid_mode: bool,
        tag: &Tag,
        search: &SearchCommand,
        matched: &[(u32, u32, u64)],
    ) {
        let numbers: Vec<u32> =
            matched.iter().map(|&(seq, uid, _)| if uid_mode { uid } else { seq }).collect();
        let modseq = uses_modseq(&search.key).then(|| matched.iter().map(|m| m.2).max().unwrap_or(0));
        if uses_modseq(&search.key) {
            self.enabled.condstore = true;
        }
        // RFC 9051 §7.3.4: IMAP4rev2 replaced the SEARCH response with ESEARCH.
        let rev2_default = Vec::new();
        let options = match &search.return_opts {
            Some(options) => Some(options),
            None if self.enabled.rev2 => Some(&rev2_default),
            None => None,
        };
        let Some(options) = options else {
            let mut line = b"* SEARCH".to_vec();
            for n in &numbers {
                line.extend_from_slice(format!(" {n}").as_bytes());
            }
            if let Some(modseq) = modseq.filter(|_| !numbers.is_empty()) {
                line.extend_from_slice(format!(" (MODSEQ {modseq})").as_bytes());
            }
            line.extend_from_slice(b"\r\n");
            self.out.buf().extend_from_slice(&line);
            return;
        };
        let all = options.is_empty() || options.contains(&SearchReturn::All);
        let (min, max, count) = (
            options.contains(&SearchReturn::Min),
            options.contains(&SearchReturn::Max),
            options.contains(&SearchReturn::Count),
        );
        if options.contains(&SearchReturn::Save) {
            // RFC 5182 §2.4: with MIN/MAX (and no ALL/COUNT) only those are saved.
            let uids: Vec<u32> = matched.iter().map(|m| m.1).collect();
            let saved = if (min || max) && !all && !count {
                let mut picked = Vec::new();
                if min && let Some(first) = uids.first() {
                    picked.push(*first);
                }
                if max
                    && let Some(last) = uids.last()
                    && !picked.contains(last)
                {
                    picked.push(*last);
                }
                picked
            } else {
                uids
            };
            if let Some(selected) = self.selected.as_mut() {
                selected.saved = saved;
            }
            if !(all || min || max || count) || (options.len() == 1) {
                return; // SAVE alone: no ESEARCH response (RFC 5182 §2.1).
            }
        }
        let mut line = format!("* ESEARCH (TAG \"{}\")", tag.0).into_bytes();
        if uid_mode {
            line.extend_from_slice(b" UID");
        }
        if min && let Some(first) = numbers.first() {
            line.extend_from_slice(format!(" MIN {first}").as_bytes());
        }
        if max && let Some(last) = numbers.last() {
            line.extend_from_slice(format!(" MAX {last}").as_bytes());
        }
        if all && !numbers.is_empty() {
            let mut sorted = numbers.clone();
            sorted.sort_unstable();
            line.extend_from_slice(format!(" ALL {}", format_uid_set(&sorted)).as_bytes());
        }
        if count {
            line.extend_from_slice(format!(" COUNT {}", numbers.len()).as_bytes());
        }
        if let Some(modseq) = modseq.filter(|_| !numbers.is_empty()) {
            line.extend_from_slice(format!(" MODSEQ {modseq}").as_bytes());
        }
        line.extend_from_slice(b"\r\n");
        self.out.buf().extend_from_slice(&line);
    }
}

fn uses_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::ModSeq { .. } => true,
        SearchKey::Not(inner) => uses_modseq(inner),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        SearchKey::And(keys) => keys.iter().any(uses_modseq),
        _ => false,
    }
}

fn in_set(set: &SequenceSet, n: u32, star: u32, saved: &HashSet<u32>, uid: u32) -> bool {
    match set {
        SequenceSet::Saved => saved.contains(&uid),
        set => set.contains(n, star),
    }
}

/// Judges a message. Without content, keys that need it answer NeedsContent; with it,
/// every key is decided. Bounded recursion: the parser limits nesting.
fn judge(key: &SearchKey, facts: &Facts, scope: &Scope, content: Option<&Content<'_>>) -> Verdict {
    use SearchKey as K;
    let flags = facts.flags;
    let day = |ms: i64| ms.div_euclid(DAY_MS);
    let has_keyword = |k: &str| facts.keywords.iter().any(|have| have.eq_ignore_ascii_case(k));
    match key {
        K::All | K::SaveDateSupported | K::Old => Verdict::Yes,
        K::New | K::Recent => Verdict::No,
        K::Answered => Verdict::from_bool(flags.contains(Flags::ANSWERED)),
        K::Deleted => Verdict::from_bool(flags.contains(Flags::DELETED)),
        K::Draft => Verdict::from_bool(flags.contains(Flags::DRAFT)),
        K::Flagged => Verdict::from_bool(flags.contains(Flags::FLAGGED)),
        K::Seen => Verdict::from_bool(flags.contains(Flags::SEEN)),
        K::Unanswered => Verdict::from_bool(!flags.contains(Flags::ANSWERED)),
        K::Undeleted => Verdict::from_bool(!flags.contains(Flags::DELETED)),
        K::Undraft => Verdict::from_bool(!flags.contains(Flags::DRAFT)),
        K::Unflagged => Verdict::from_bool(!flags.contains(Flags::FLAGGED)),
        K::Unseen => Verdict::from_bool(!flags.contains(Flags::SEEN)),
        K::Keyword(k) => Verdict::from_bool(has_keyword(k)),
        K::Unkeyword(k) => Verdict::from_bool(!has_keyword(k)),
        // RFC 9051 §6.4.4: dates compare by day, disregarding time.
        K::Before(date) => Verdict::from_bool(day(facts.received_ms) < date.days_since_epoch()),
        K::On(date) => Verdict::from_bool(day(facts.received_ms) == date.days_since_epoch()),
        K::Since(date) => Verdict::from_bool(day(facts.received_ms) >= date.days_since_epoch()),
        K::SavedBefore(date) => Verdict::from_bool(day(facts.saved_ms) < date.days_since_epoch()),
        K::SavedOn(date) => Verdict::from_bool(day(facts.saved_ms) == date.days_since_epoch()),
        K::SavedSince(date) => Verdict::from_bool(day(facts.saved_ms) >= date.days_since_epoch()),
        K::Larger(n) => Verdict::from_bool(facts.served_size > *n),
        K::Smaller(n) => Verdict::from_bool(facts.served_size < *n),
        K::Younger(secs) => Verdict::from_bool(
            scope.now_ms - facts.received_ms <= i64::try_from(*secs).unwrap_or(i64::MAX / 1000) * 1000,
        ),
        K::Older(secs) => Verdict::from_bool(
            scope.now_ms - facts.received_ms > i64::try_from(*secs).unwrap_or(i64::MAX / 1000) * 1000,
        ),
        K::Uid(set) => Verdict::from_bool(in_set(set, facts.uid, scope.max_uid, &scope.saved, facts.uid)),
        K::Seq(set) => Verdict::from_bool(in_set(set, facts.seq, scope.count, &scope.saved, facts.uid)),
        // RFC 7162 §3.1.5: messages with a modseq at or above the value.
        K::ModSeq { modseq, .. } => Verdict::from_bool(facts.modseq >= *modseq),
        K::Not(inner) => match judge(inner, facts, scope, content) {
            Verdict::Yes => Verdict::No,
            Verdict::No => Verdict::Yes,
            Verdict::NeedsContent => Verdict::NeedsContent,
        },
        K::Or(a, b) => match (judge(a, facts, scope, content), judge(b, facts, scope, content)) {
            (Verdict::Yes, _) | (_, Verdict::Yes) => Verdict::Yes,
            (Verdict::No, Verdict::No) => Verdict::No,
            _ => Verdict::NeedsContent,
        },
        K::And(keys) => {
            let mut verdict = Verdict::Yes;
            for key in keys {
                match judge(key, facts, scope, content) {
                    Verdict::No => return Verdict::No,
                    Verdict::NeedsContent => verdict = Verdict::NeedsContent,
                    Verdict::Yes => {}
                }
            }
            verdict
        }
        content_key => match content {
            None => Verdict::NeedsContent,
            Some(content) => Verdict::from_bool(judge_content_key(content_key, content)),
        },
    }
}

fn judge_content_key(key: &SearchKey, content: &Content<'_>) -> bool {
    use SearchKey as K;
    let sent_day = content.glance.date_unix_secs.map(|s| s.div_euclid(86_400));
    match key {
        K::From(needle) => mime::address_matches(content.header, "From", needle),
        K::To(needle) => mime::address_matches(content.header, "To", needle),
        K::Cc(needle) => mime::address_matches(content.header, "Cc", needle),
        K::Bcc(needle) => mime::address_matches(content.header, "Bcc", needle),
        // The stored envelope's Subject, RFC 2047 words decoded by the matcher.
        K::Subject(needle) => {
            content.glance.subject.is_some_and(|subject| mime::value_matches(subject, needle))
        }
        K::Header(name, needle) => mime::header_matches(content.header, name, needle),
        K::Body(needle) => {
            content.summary.is_some_and(|summary| mime::body_matches(content.whole, summary, needle))
        }
        K::Text(needle) => {
            content.summary.is_some_and(|summary| mime::text_matches(content.whole, summary, needle))
        }
        K::SentBefore(date) => sent_day.is_some_and(|d| d < date.days_since_epoch()),
        K::SentOn(date) => sent_day.is_some_and(|d| d == date.days_since_epoch()),
        K::SentSince(date) => sent_day.is_some_and(|d| d >= date.days_since_epoch()),
        _ => false,
    }
}

/// How much of a message the content keys of a search need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Need {
    /// The stored summary (SUBJECT from the envelope, SENT* from the Date).
    Summary,
    /// The header block (addresses, HEADER).
    Header,
    /// The whole message (BODY, TEXT).
    Whole,
}

fn need_of(key: &SearchKey) -> Need {
    match key {
        SearchKey::Body(_) | SearchKey::Text(_) => Need::Whole,
        SearchKey::From(_)
        | SearchKey::To(_)
        | SearchKey::Cc(_)
        | SearchKey::Bcc(_)
        | SearchKey::Header(..) => Need::Header,
        SearchKey::Not(inner) => need_of(inner),
        SearchKey::Or(a, b) => need_of(a).max(need_of(b)),
        SearchKey::And(keys) => keys.iter().map(need_of).max().unwrap_or(Need::Summary),
        _ => Need::Summary,
    }
}

/// The content phase, on a helper thread: (seq, uid, modseq) of the messages that match.
/// Reads only what the key needs: nothing beyond the stored summary for SUBJECT and SENT*,
/// the header block for address and HEADER keys, the whole file for BODY and TEXT.
fn judge_content(
    store: &AccountStore,
    key: &SearchKey,
    scope: &Scope,
    chunk: Vec<Undecided>,
) -> Vec<(u32, u32, u64)> {
    let need = need_of(key);
    let mut hits = Vec::new();
    for message in chunk {
        let uid = message.facts.uid;
        let stored = message.summary.as_deref().and_then(|bytes| MessageSummary::decode(bytes).ok());
        // Without a stored summary, the whole file is read to make one.
        let read_whole = need == Need::Whole || stored.is_none();
        let read_header = need == Need::Header && !read_whole;
        let mut file_bytes = Vec::new();
        if read_whole || read_header {
            let length = match (&stored, read_header) {
                (Some(summary), true) => summary.root.header.end.min(message.size),
                _ => message.size,
            };
            match read_prefix_of_file(store, message.id, message.size, length) {
                Ok(bytes) => file_bytes = bytes,
                Err(error) => {
                    // A missing or damaged file is reported, and the message does not match.
                    tracing::error!(%error, uid, "search: message file unreadable");
                    continue;
                }
            }
        }
        let summary = match stored {
            Some(summary) => summary,
            None => mime::summarize(&file_bytes),
        };
        let mut header = message.prefix;
        if !file_bytes.is_empty() {
            let header_end =
                usize::try_from(summary.root.header.end).unwrap_or(usize::MAX).min(file_bytes.len());
            header.extend_from_slice(&file_bytes[..header_end]);
        }
        let content = Content {
            glance: Glance::of_summary(&summary),
            header: &header,
            whole: &file_bytes,
            summary: Some(&summary),
        };
        if judge(key, &message.facts, scope, Some(&content)) == Verdict::Yes {
            hits.push((message.facts.seq, uid, message.facts.modseq));
        }
    }
    hits
}

/// The first `length` bytes of a message file (the file's size is checked against the
/// record, as for every read).
fn read_prefix_of_file(
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
