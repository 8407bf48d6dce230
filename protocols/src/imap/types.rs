//! Values carried by IMAP commands: tags, sequence sets, flags, FETCH attributes and
//! sections, SEARCH keys, STATUS attributes, LIST and SELECT parameters.
//!
//! Grammar: RFC 9051 §9 (IMAP4rev2) with RFC 3501 §9 (IMAP4rev1) additions, RFC 5182
//! (`$`), RFC 7162 (CONDSTORE/QRESYNC), RFC 5258/5819 (LIST-EXTENDED, LIST-STATUS),
//! RFC 3516 (BINARY), RFC 8514 (SAVEDATE), RFC 5032 (WITHIN), RFC 8438 (STATUS=SIZE).
//!
//! Invariants: these types hold parsed values only (no wire text); strings are UTF-8;
//! sequence numbers are never 0 (the parser refuses `0`).

use std::fmt;
use std::ops::RangeInclusive;

use super::datetime::Date;

/// A command tag (RFC 9051 §2.2.1): ASTRING-CHARs except `+`, echoed in the answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tag(pub String);

impl fmt::Display for Tag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One end of a sequence range: a number, or `*` for the largest in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SeqNumber {
    /// A message sequence number or UID, never 0.
    Value(u32),
    /// `*`: the largest sequence number or UID in use (RFC 9051 §9 `seq-number`).
    Star,
}

impl SeqNumber {
    fn resolve(self, star: u32) -> u32 {
        match self {
            Self::Value(n) => n,
            Self::Star => star,
        }
    }
}

/// A range `first:last` as sent (RFC 9051 §9 `seq-range`); a single number has
/// `first == last`. The order is the client's: `5:1` means `1:5`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeqRange {
    /// The first number as written.
    pub first: SeqNumber,
    /// The last number as written.
    pub last: SeqNumber,
}

/// A sequence set (RFC 9051 §9 `sequence-set`), or `$`, the result saved by
/// `SEARCH RETURN (SAVE)` (RFC 5182).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SequenceSet {
    /// Comma-separated ranges, in the order sent; never empty.
    Ranges(Vec<SeqRange>),
    /// `$` (RFC 5182 §2.1): the caller substitutes the saved result.
    Saved,
}

impl SequenceSet {
    /// Normalized inclusive ranges with `*` = `star` (the largest sequence number or UID
    /// in use, 0 if the mailbox is empty): each range ordered low..=high, sorted,
    /// overlapping and adjacent ranges merged. `Saved` must be resolved by the caller
    /// first; it yields no ranges here.
    pub fn resolve(&self, star: u32) -> Vec<RangeInclusive<u32>> {
        let Self::Ranges(ranges) = self else {
            return Vec::new();
        };
        let mut spans: Vec<(u32, u32)> = ranges
            .iter()
            .map(|range| {
                let first = range.first.resolve(star);
                let last = range.last.resolve(star);
                (first.min(last), first.max(last))
            })
            .collect();
        spans.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(spans.len());
        for (low, high) in spans {
            match merged.last_mut() {
                Some(previous) if low <= previous.1.saturating_add(1) => {
                    previous.1 = previous.1.max(high);
                }
                _ => merged.push((low, high)),
            }
        }
        merged.into_iter().map(|(low, high)| low..=high).collect()
    }

    /// Whether `n` is in the set, with `*` = `star` as in [`SequenceSet::resolve`].
    /// Always false for `Saved`.
    pub fn contains(&self, n: u32, star: u32) -> bool {
        let Self::Ranges(ranges) = self else {
            return false;
        };
        ranges.iter().any(|range| {
            let first = range.first.resolve(star);
            let last = range.last.resolve(star);
            (first.min(last)..=first.max(last)).contains(&n)
        })
    }
}

impl fmt::Display for SequenceSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self::Ranges(ranges) = self else {
            return f.write_str("$");
        };
        for (i, range) in ranges.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write_seq_number(f, range.first)?;
            if range.first != range.last {
                f.write_str(":")?;
                write_seq_number(f, range.last)?;
            }
        }
        Ok(())
    }
}

fn write_seq_number(f: &mut fmt::Formatter<'_>, n: SeqNumber) -> fmt::Result {
    match n {
        SeqNumber::Value(v) => write!(f, "{v}"),
        SeqNumber::Star => f.write_str("*"),
    }
}

/// Writes a UID set compactly, runs of consecutive numbers as `a:b` ("1:3,5"), for
/// COPYUID/APPENDUID (RFC 4315 §3), ESEARCH (RFC 4731), VANISHED and MODIFIED
/// (RFC 7162). The input should be sorted ascending; unsorted input still gives a
/// correct (if longer) set, and duplicates are written once.
pub fn format_uid_set(sorted_uids: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < sorted_uids.len() {
        let start = sorted_uids[i];
        let mut end = start;
        let mut j = i + 1;
        while j < sorted_uids.len() && (sorted_uids[j] == end || Some(sorted_uids[j]) == end.checked_add(1)) {
            end = sorted_uids[j];
            j += 1;
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i = j;
    }
    out
}

/// A message flag (RFC 9051 §2.3.2).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Flag {
    /// `\Seen`.
    Seen,
    /// `\Answered`.
    Answered,
    /// `\Flagged`.
    Flagged,
    /// `\Deleted`.
    Deleted,
    /// `\Draft`.
    Draft,
    /// `\Recent` (IMAP4rev1 only; RFC 9051 removed it).
    Recent,
    /// A keyword: an atom such as `$Junk` or `NonJunk`, as sent.
    Keyword(String),
    /// Another backslash flag, backslash included (e.g. `\Foo`; `\*` in PERMANENTFLAGS).
    Extension(String),
}

impl Flag {
    /// Parses one flag from its IMAP text: system flags without regard to case, other
    /// `\`-flags as [`Flag::Extension`], atoms as [`Flag::Keyword`]. `None` for text
    /// that is not a flag (empty, atom-specials, non-ASCII).
    pub fn parse(text: &str) -> Option<Flag> {
        if let Some(name) = text.strip_prefix('\\') {
            if name.is_empty() || !name.bytes().all(is_atom_char) {
                return None;
            }
            let flag = match name.to_ascii_lowercase().as_str() {
                "seen" => Flag::Seen,
                "answered" => Flag::Answered,
                "flagged" => Flag::Flagged,
                "deleted" => Flag::Deleted,
                "draft" => Flag::Draft,
                "recent" => Flag::Recent,
                _ => Flag::Extension(text.to_owned()),
            };
            return Some(flag);
        }
        if text.is_empty() || !text.bytes().all(is_atom_char) {
            return None;
        }
        Some(Flag::Keyword(text.to_owned()))
    }
}

impl Flag {
    /// The flag's IMAP text (`\Seen`, `$Junk`), without allocating.
    pub fn as_str(&self) -> &str {
        match self {
            Flag::Seen => "\\Seen",
            Flag::Answered => "\\Answered",
            Flag::Flagged => "\\Flagged",
            Flag::Deleted => "\\Deleted",
            Flag::Draft => "\\Draft",
            Flag::Recent => "\\Recent",
            Flag::Keyword(name) | Flag::Extension(name) => name,
        }
    }
}

impl fmt::Display for Flag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Flag::Seen => f.write_str("\\Seen"),
            Flag::Answered => f.write_str("\\Answered"),
            Flag::Flagged => f.write_str("\\Flagged"),
            Flag::Deleted => f.write_str("\\Deleted"),
            Flag::Draft => f.write_str("\\Draft"),
            Flag::Recent => f.write_str("\\Recent"),
            Flag::Keyword(name) | Flag::Extension(name) => f.write_str(name),
        }
    }
}

/// ATOM-CHAR (RFC 9051 §9): a CHAR that is not an atom-special.
pub(crate) fn is_atom_char(b: u8) -> bool {
    (0x21..0x7f).contains(&b) && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// The text part of a section (RFC 9051 §6.4.5 `section-msgtext` / `section-text`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SectionText {
    /// `HEADER`.
    Header,
    /// `HEADER.FIELDS (names)`; names as sent.
    HeaderFields(Vec<String>),
    /// `HEADER.FIELDS.NOT (names)`.
    HeaderFieldsNot(Vec<String>),
    /// `TEXT`.
    Text,
    /// `MIME` (only after a part number).
    Mime,
}

/// A FETCH `BODY[...]` section (RFC 9051 §6.4.5 `section-spec`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Section {
    /// `BODY[]`: the whole message.
    Full,
    /// `BODY[1.2]`, `BODY[1.2.HEADER]`, `BODY[1.TEXT]`, `BODY[1.MIME]`: part numbers
    /// (each ≥ 1) and an optional text part.
    Part(Vec<u32>, Option<SectionText>),
    /// `BODY[HEADER]`, `BODY[TEXT]`, `BODY[HEADER.FIELDS (..)]` of the message itself.
    Text(SectionText),
}

/// A partial fetch `<offset.length>` (RFC 9051 §6.4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Partial {
    /// First octet, from 0.
    pub offset: u32,
    /// Most octets returned, ≥ 1.
    pub length: u32,
}

/// One FETCH data item (RFC 9051 §6.4.5; RFC 3516 BINARY; RFC 7162 MODSEQ; RFC 8514
/// SAVEDATE). The macros ALL, FAST and FULL are expanded by the parser.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FetchAttr {
    /// `ENVELOPE`.
    Envelope,
    /// `FLAGS`.
    Flags,
    /// `INTERNALDATE`.
    InternalDate,
    /// `RFC822` (= `BODY[]`, sets \Seen).
    Rfc822,
    /// `RFC822.HEADER` (= `BODY.PEEK[HEADER]`).
    Rfc822Header,
    /// `RFC822.SIZE`.
    Rfc822Size,
    /// `RFC822.TEXT` (= `BODY[TEXT]`, sets \Seen).
    Rfc822Text,
    /// `BODY` (non-extensible body structure).
    Body,
    /// `BODYSTRUCTURE`.
    BodyStructure,
    /// `UID`.
    Uid,
    /// `MODSEQ` (RFC 7162 §3.1.4.1).
    ModSeq,
    /// `SAVEDATE` (RFC 8514 §4).
    SaveDate,
    /// `EMAILID` (RFC 8474 §5.3).
    EmailId,
    /// `THREADID` (RFC 8474 §5.3).
    ThreadId,
    /// `PREVIEW` or `PREVIEW (LAZY)` (RFC 8970): with `lazy`, NIL when the preview
    /// is not at hand.
    Preview {
        /// `LAZY`.
        lazy: bool,
    },
    /// `BODY[section]<partial>` or `BODY.PEEK[...]` (`peek`: do not set \Seen).
    BodySection {
        /// `BODY.PEEK`.
        peek: bool,
        /// The section.
        section: Section,
        /// `<offset.length>`, if given.
        partial: Option<Partial>,
    },
    /// `BINARY[part]<partial>` or `BINARY.PEEK[...]` (RFC 3516 §4.2); empty part = whole.
    Binary {
        /// `BINARY.PEEK`.
        peek: bool,
        /// Part numbers, empty for the whole message.
        part: Vec<u32>,
        /// `<offset.length>`, if given.
        partial: Option<Partial>,
    },
    /// `BINARY.SIZE[part]` (RFC 3516 §4.2).
    BinarySize {
        /// Part numbers, empty for the whole message.
        part: Vec<u32>,
    },
}

/// A FETCH modifier (RFC 7162 §3.1.4.1, §3.2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FetchModifier {
    /// `CHANGEDSINCE modseq`: only messages with a higher mod-sequence.
    ChangedSince(u64),
    /// `VANISHED` (QRESYNC, UID FETCH with CHANGEDSINCE only; the parser checks).
    Vanished,
    /// `PARTIAL range` (RFC 9394 §3.2): only the messages at these positions of the set.
    Partial(PartialRange),
}

/// A SEARCH key (RFC 9051 §6.4.4, RFC 3501 §6.4.4, RFC 7162 §3.1.5, RFC 8514 §5,
/// RFC 5032). Strings are UTF-8.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SearchKey {
    /// `ALL`.
    All,
    /// `ANSWERED`.
    Answered,
    /// `DELETED`.
    Deleted,
    /// `DRAFT`.
    Draft,
    /// `FLAGGED`.
    Flagged,
    /// `SEEN`.
    Seen,
    /// `NEW` (IMAP4rev1: recent and unseen).
    New,
    /// `OLD` (IMAP4rev1: not recent).
    Old,
    /// `RECENT` (IMAP4rev1).
    Recent,
    /// `UNANSWERED`.
    Unanswered,
    /// `UNDELETED`.
    Undeleted,
    /// `UNDRAFT`.
    Undraft,
    /// `UNFLAGGED`.
    Unflagged,
    /// `UNSEEN`.
    Unseen,
    /// `KEYWORD flag`.
    Keyword(String),
    /// `UNKEYWORD flag`.
    Unkeyword(String),
    /// `BCC string`.
    Bcc(String),
    /// `CC string`.
    Cc(String),
    /// `FROM string`.
    From(String),
    /// `SUBJECT string`.
    Subject(String),
    /// `TO string`.
    To(String),
    /// `BODY string`.
    Body(String),
    /// `TEXT string`.
    Text(String),
    /// `HEADER field-name string`.
    Header(String, String),
    /// `BEFORE date` (internal date).
    Before(Date),
    /// `ON date` (internal date).
    On(Date),
    /// `SINCE date` (internal date).
    Since(Date),
    /// `SENTBEFORE date` (Date: header).
    SentBefore(Date),
    /// `SENTON date`.
    SentOn(Date),
    /// `SENTSINCE date`.
    SentSince(Date),
    /// `SAVEDBEFORE date` (RFC 8514 §5).
    SavedBefore(Date),
    /// `SAVEDON date`.
    SavedOn(Date),
    /// `SAVEDSINCE date`.
    SavedSince(Date),
    /// `SAVEDATESUPPORTED` (RFC 8514 §5).
    SaveDateSupported,
    /// `EMAILID objectid` (RFC 8474 §6).
    EmailId(String),
    /// `THREADID objectid` (RFC 8474 §6).
    ThreadId(String),
    /// `LARGER n` (octets).
    Larger(u64),
    /// `SMALLER n` (octets).
    Smaller(u64),
    /// `YOUNGER seconds` (RFC 5032).
    Younger(u64),
    /// `OLDER seconds` (RFC 5032).
    Older(u64),
    /// `UID set`.
    Uid(SequenceSet),
    /// A bare sequence set (message numbers).
    Seq(SequenceSet),
    /// `MODSEQ [entry-name entry-type] modseq` (RFC 7162 §3.1.5); the entry is the
    /// quoted name without quotes (e.g. `/flags/\seen`) and `priv`/`shared`/`all`.
    ModSeq {
        /// The metadata entry and its type, if given.
        entry: Option<(String, String)>,
        /// Messages with a mod-sequence at least this.
        modseq: u64,
    },
    /// `NOT key`.
    Not(Box<SearchKey>),
    /// `OR key key`.
    Or(Box<SearchKey>, Box<SearchKey>),
    /// `(key key ...)`, or several keys at the top level: all must match.
    And(Vec<SearchKey>),
}

/// A `RETURN` option of an extended SEARCH (RFC 4731 §3.1, RFC 5182 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SearchReturn {
    /// `MIN`.
    Min,
    /// `MAX`.
    Max,
    /// `ALL`.
    All,
    /// `COUNT`.
    Count,
    /// `SAVE` (RFC 5182).
    Save,
    /// `PARTIAL range` (RFC 9394 §3.1): a window of the result, by position.
    Partial(PartialRange),
    /// `UPDATE` (RFC 5267 §4.2): keep the result and report how it changes.
    Update,
}

/// A PARTIAL range (RFC 9394 §3.1): 1-based positions in an ordered result, counted from
/// its first item, or from its last when `from_end` (`-1` is the last). `low <= high`:
/// the parser orders the two ends as sequence ranges are (`10:1` is `1:10`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PartialRange {
    /// The end nearer the start (or, with `from_end`, nearer the end) of the result.
    pub low: u32,
    /// The other end.
    pub high: u32,
    /// Negative positions, counted back from the last item.
    pub from_end: bool,
}

impl PartialRange {
    /// The 0-based indexes this range covers in a result of `total` items (clipped to
    /// it); `None` when none.
    #[must_use]
    pub fn window(&self, total: u32) -> Option<std::ops::Range<u32>> {
        let (start, end) = if self.from_end {
            // -k is index total - k.
            (total.saturating_sub(self.high), total.saturating_add(1).saturating_sub(self.low.max(1)))
        } else {
            (self.low.max(1) - 1, self.high.min(total))
        };
        (start < end).then_some(start..end)
    }
}

impl std::fmt::Display for PartialRange {
    /// As the client wrote it, ends ordered: `1:10` or `-1:-10`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let minus = if self.from_end { "-" } else { "" };
        write!(f, "{minus}{}:{minus}{}", self.low, self.high)
    }
}

/// A mailbox specifier of MULTISEARCH's source options (RFC 7377 §2.2, the
/// `filter-mailboxes` of NOTIFY without `selected-delayed`, with `subtree-one`).
/// Names are as sent (the session decodes them).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum MailboxFilter {
    /// `selected`: the selected mailbox.
    Selected,
    /// `inboxes`: the mailboxes mail is delivered to (here, INBOX).
    Inboxes,
    /// `personal`: every mailbox of the account.
    Personal,
    /// `subscribed`: the subscribed mailboxes.
    Subscribed,
    /// `subtree`: these mailboxes and all below them.
    Subtree(Vec<String>),
    /// `subtree-one` (RFC 7377 §2.2): these mailboxes and their children.
    SubtreeOne(Vec<String>),
    /// `mailboxes`: these mailboxes.
    Mailboxes(Vec<String>),
}

/// A SEARCH command's arguments.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SearchCommand {
    /// `CHARSET x` as sent. Anything but UTF-8/US-ASCII should get
    /// `NO [BADCHARSET (UTF-8)]`; the strings are then decoded lossily.
    pub charset: Option<String>,
    /// `None`: plain SEARCH (answer `* SEARCH`). `Some(vec![])`: `RETURN ()`, an
    /// ESEARCH with `ALL` (RFC 4731 §3.1).
    pub return_opts: Option<Vec<SearchReturn>>,
    /// The search program; several top-level keys are combined in [`SearchKey::And`].
    pub key: SearchKey,
}

/// A SORT key (RFC 5256 §3, DISPLAYFROM/DISPLAYTO RFC 5957 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortKey {
    /// INTERNALDATE.
    Arrival,
    /// The local part of the first Cc address.
    Cc,
    /// The Date: header in UTC, or INTERNALDATE when it has none.
    Date,
    /// The local part of the first From address.
    From,
    /// RFC822.SIZE.
    Size,
    /// The base subject (RFC 5256 §2.1).
    Subject,
    /// The local part of the first To address.
    To,
    /// The display name of the first From address, or its address.
    DisplayFrom,
    /// The display name of the first To address, or its address.
    DisplayTo,
}

/// One SORT criterion: a key, perhaps reversed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SortCriterion {
    /// `REVERSE` before the key.
    pub reverse: bool,
    /// The key.
    pub key: SortKey,
}

/// A SORT command's arguments (RFC 5256 §3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SortCommand {
    /// The criteria, most significant first.
    pub criteria: Vec<SortCriterion>,
    /// The search: charset (always sent in SORT), keys, and ESORT's return options
    /// (RFC 5267 §3; never SAVE).
    pub search: SearchCommand,
}

/// A THREAD algorithm (RFC 5256 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ThreadAlgorithm {
    /// ORDEREDSUBJECT: by base subject, then sent date.
    OrderedSubject,
    /// REFERENCES: by Message-ID, In-Reply-To and References, then subject.
    References,
    /// REFS (draft-ietf-morg-inthread, as Dovecot has it): REFERENCES without the
    /// subject merging, threads ordered by their most recent message.
    Refs,
}

/// How STORE changes flags (RFC 9051 §6.4.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreMode {
    /// `FLAGS`.
    Replace,
    /// `+FLAGS`.
    Add,
    /// `-FLAGS`.
    Remove,
}

/// A STATUS data item (RFC 9051 §6.3.11; RFC 8438 SIZE; RFC 7162 HIGHESTMODSEQ; RFC 7889
/// APPENDLIMIT).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusAttr {
    /// `MESSAGES`.
    Messages,
    /// `RECENT` (IMAP4rev1).
    Recent,
    /// `UIDNEXT`.
    UidNext,
    /// `UIDVALIDITY`.
    UidValidity,
    /// `UNSEEN`.
    Unseen,
    /// `DELETED` (IMAP4rev2).
    Deleted,
    /// `SIZE` (RFC 8438).
    Size,
    /// `HIGHESTMODSEQ` (RFC 7162 §3.1.6).
    HighestModSeq,
    /// `APPENDLIMIT` (RFC 7889 §3): the largest message APPEND takes into the mailbox.
    AppendLimit,
    /// `DELETED-STORAGE` (RFC 9208 §4.4): what EXPUNGE would free, in KiB.
    DeletedStorage,
    /// `MAILBOXID` (RFC 8474 §4.3).
    MailboxId,
}

impl StatusAttr {
    /// The item's name as written in STATUS responses.
    pub fn name(self) -> &'static str {
        match self {
            Self::Messages => "MESSAGES",
            Self::Recent => "RECENT",
            Self::UidNext => "UIDNEXT",
            Self::UidValidity => "UIDVALIDITY",
            Self::Unseen => "UNSEEN",
            Self::Deleted => "DELETED",
            Self::Size => "SIZE",
            Self::HighestModSeq => "HIGHESTMODSEQ",
            Self::AppendLimit => "APPENDLIMIT",
            Self::DeletedStorage => "DELETED-STORAGE",
            Self::MailboxId => "MAILBOXID",
        }
    }
}

/// A LIST command (RFC 9051 §6.3.9, RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS,
/// RFC 6154 SPECIAL-USE). Names and patterns are as sent (not mUTF-7 decoded).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ListCommand {
    /// The reference name.
    pub reference: String,
    /// One pattern, or several with `("a" "b")` (RFC 5258 §3).
    pub patterns: Vec<String>,
    /// Selection option `SUBSCRIBED`.
    pub select_subscribed: bool,
    /// Selection option `SPECIAL-USE` (RFC 6154 §3).
    pub select_special_use: bool,
    /// Selection option `RECURSIVEMATCH` (never alone: the parser checks).
    pub select_recursive_match: bool,
    /// Selection option `REMOTE`.
    pub select_remote: bool,
    /// Return option `SUBSCRIBED`.
    pub return_subscribed: bool,
    /// Return option `CHILDREN`.
    pub return_children: bool,
    /// Return option `SPECIAL-USE`.
    pub return_special_use: bool,
    /// Return option `STATUS (...)` (RFC 5819).
    pub return_status: Option<Vec<StatusAttr>>,
    /// Return option `METADATA (entries)` (RFC 9590 §3): entry names, lower case.
    pub return_metadata: Option<Vec<String>>,
    /// Whether any LIST-EXTENDED syntax was used (select options, a pattern list or
    /// return options), which changes the response rules (RFC 5258 §3).
    pub extended: bool,
}

/// GETMETADATA's DEPTH option (RFC 5464 §4.2.2): which entries below a named one are
/// returned too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum MetadataDepth {
    /// `0` (the default): only the named entries.
    #[default]
    Zero,
    /// `1`: the named entries and their immediate children.
    One,
    /// `infinity`: the named entries and everything below them.
    Infinity,
}

/// `QRESYNC (...)` parameters of SELECT/EXAMINE (RFC 7162 §3.2.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QresyncParams {
    /// The UIDVALIDITY the client knows.
    pub uidvalidity: u32,
    /// The last known mod-sequence.
    pub modseq: u64,
    /// UIDs the client knows, if sent.
    pub known_uids: Option<SequenceSet>,
    /// `(known-sequence-set known-uid-set)`, if sent.
    pub seq_match: Option<(SequenceSet, SequenceSet)>,
}

/// SELECT/EXAMINE parameters (RFC 7162 §3.1.8, §3.2.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct SelectParams {
    /// `(CONDSTORE)`.
    pub condstore: bool,
    /// `(QRESYNC (...))`.
    pub qresync: Option<QresyncParams>,
}
