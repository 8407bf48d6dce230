//! SEARCH: return options (RFC 4731 §3.1, RFC 5182 SAVE), CHARSET, and the search
//! program (RFC 9051 §6.4.4 with the IMAP4rev1 keys of RFC 3501 §6.4.4, MODSEQ RFC 7162
//! §3.1.5, SAVEDBEFORE/SAVEDON/SAVEDSINCE/SAVEDATESUPPORTED RFC 8514 §5, EMAILID/THREADID RFC 8474 §6, YOUNGER/OLDER
//! RFC 5032).
//!
//! Invariant: no recursion. `(`, `NOT` and `OR` push frames on an explicit stack whose
//! depth is bounded by `nesting_max`; each finished key is folded into the frames
//! below it.

use super::super::command::CommandBody;
use super::super::error::{ParseError, ParseResult, ReadErrorKind};
use super::super::types::{PartialRange, SearchCommand, SearchKey, SearchReturn};
use super::Cursor;

/// An unfinished compound key on the parser's stack.
enum Frame {
    /// `(` seen; the keys so far.
    Group(Vec<SearchKey>),
    /// `NOT` seen; waiting for its key.
    Not,
    /// `OR` seen; waiting for the first key.
    OrFirst,
    /// `OR a` seen; waiting for the second key.
    OrSecond(SearchKey),
}

/// `SEARCH [SP "RETURN" SP "(" opts ")"] SP ["CHARSET" SP charset SP] search-key
/// *(SP search-key)`.
pub(super) fn parse_search(c: &mut Cursor<'_>, uid: bool, nesting_max: usize) -> ParseResult<CommandBody> {
    c.sp()?;
    let search = parse_search_arguments(c, nesting_max)?;
    Ok(CommandBody::Search { uid, search })
}

/// SEARCH's arguments after the space that follows its name: `[RETURN (opts) SP]
/// [CHARSET charset SP] program` (also MULTISEARCH's, RFC 7377 §4).
pub(super) fn parse_search_arguments(c: &mut Cursor<'_>, nesting_max: usize) -> ParseResult<SearchCommand> {
    let mut return_opts = None;
    if c.keyword("RETURN") {
        c.sp()?;
        return_opts = Some(parse_return_opts(c)?);
        c.sp()?;
    }
    let mut charset = None;
    if c.keyword("CHARSET") {
        c.sp()?;
        charset = Some(String::from_utf8_lossy(&c.astring()?).into_owned());
        c.sp()?;
    }
    // Strings in another charset are decoded lossily: the session refuses the search
    // with BADCHARSET anyway (RFC 9051 §6.4.4).
    let lossy = charset
        .as_deref()
        .is_some_and(|name| !name.eq_ignore_ascii_case("UTF-8") && !name.eq_ignore_ascii_case("US-ASCII"));
    let key = parse_program(c, nesting_max, lossy)?;
    Ok(SearchCommand { charset, return_opts, key })
}

/// `"(" [search-return-opt *(SP search-return-opt)] ")"`.
pub(super) fn parse_return_opts(c: &mut Cursor<'_>) -> ParseResult<Vec<SearchReturn>> {
    c.byte(b'(', "expected ( after RETURN")?;
    let mut opts = Vec::new();
    if c.take(b')') {
        return Ok(opts);
    }
    loop {
        let opt = match c.atom()?.to_ascii_uppercase().as_str() {
            // RFC 5267 §4.2: CONTEXT is a hint a server may ignore; we keep no cache.
            "CONTEXT" if c.take(b')') => return finish_return_opts(opts),
            "CONTEXT" => {
                c.sp()?;
                continue;
            }
            "MIN" => SearchReturn::Min,
            "MAX" => SearchReturn::Max,
            "ALL" => SearchReturn::All,
            "COUNT" => SearchReturn::Count,
            "SAVE" => SearchReturn::Save,
            "UPDATE" => SearchReturn::Update,
            "PARTIAL" => {
                c.sp()?;
                SearchReturn::Partial(parse_partial_range(c)?)
            }
            _ => return Err(ParseError::syntax("unknown return option")),
        };
        if let SearchReturn::Partial(_) = opt
            && opts.iter().any(|have| matches!(have, SearchReturn::Partial(_)))
        {
            return Err(ParseError::syntax("PARTIAL given twice"));
        }
        if !opts.contains(&opt) {
            opts.push(opt);
        }
        if c.take(b')') {
            return finish_return_opts(opts);
        }
        c.sp()?;
    }
}

/// The options once `)` closed them.
fn finish_return_opts(opts: Vec<SearchReturn>) -> ParseResult<Vec<SearchReturn>> {
    let partial = opts.iter().any(|opt| matches!(opt, SearchReturn::Partial(_)));
    if partial && opts.contains(&SearchReturn::All) {
        // RFC 9394 §3.1: ALL and PARTIAL are mutually exclusive.
        return Err(ParseError::syntax("ALL and PARTIAL together"));
    }
    Ok(opts)
}

/// `partial-range = partial-range-first / partial-range-last`: `nz-number ":" nz-number`
/// or `"-" nz-number ":" "-" nz-number` (RFC 9394 §5); both ends of one sign.
pub(super) fn parse_partial_range(c: &mut Cursor<'_>) -> ParseResult<PartialRange> {
    let from_end = c.take(b'-');
    let first = c.nz_number()?;
    c.byte(b':', "expected : in partial range")?;
    if c.take(b'-') != from_end {
        return Err(ParseError::syntax("partial range ends of different signs"));
    }
    let second = c.nz_number()?;
    Ok(PartialRange { low: first.min(second), high: first.max(second), from_end })
}

/// `CANCELUPDATE SP tag-string *(SP tag-string)` (RFC 5267 §4.3); `tag-string` is a
/// `string`. At most [`CANCEL_TAGS_MAX`] tags.
pub(super) fn parse_cancel_update(c: &mut Cursor<'_>) -> ParseResult<CommandBody> {
    let mut tags = Vec::new();
    while c.take(b' ') {
        if tags.len() >= CANCEL_TAGS_MAX {
            return Err(ParseError::syntax("too many tags"));
        }
        tags.push(String::from_utf8_lossy(&c.string()?).into_owned());
    }
    if tags.is_empty() {
        return Err(ParseError::syntax("expected a tag"));
    }
    Ok(CommandBody::CancelUpdate(tags))
}

/// Tags one CANCELUPDATE may name: no session holds more contexts than the session's
/// limit (8), so 64 is plenty and keeps the command's memory small.
const CANCEL_TAGS_MAX: usize = 64;

/// What to do after a key was folded into the stack.
enum Next {
    /// Read another key.
    Key,
    /// The program is complete.
    Done,
}

/// The search program, to the end of the input.
pub(super) fn parse_program(c: &mut Cursor<'_>, nesting_max: usize, lossy: bool) -> ParseResult<SearchKey> {
    let mut top = Vec::new();
    let mut stack = Vec::new();
    loop {
        let key = parse_key_start(c, &mut stack, nesting_max, lossy)?;
        if let Next::Done = fold(c, &mut stack, &mut top, key)? {
            break;
        }
    }
    Ok(if top.len() == 1 { top.remove(0) } else { SearchKey::And(top) })
}

/// Pushes frames for `(`, `NOT` and `OR` until a simple key comes, and returns it.
fn parse_key_start(
    c: &mut Cursor<'_>,
    stack: &mut Vec<Frame>,
    nesting_max: usize,
    lossy: bool,
) -> ParseResult<SearchKey> {
    loop {
        let frame = if c.take(b'(') {
            Frame::Group(Vec::new())
        } else if c.keyword("NOT") {
            c.sp()?;
            Frame::Not
        } else if c.keyword("OR") {
            c.sp()?;
            Frame::OrFirst
        } else {
            return parse_simple_key(c, lossy);
        };
        if stack.len() >= nesting_max {
            return Err(ParseError { kind: ReadErrorKind::TooDeep, detail: "search keys nested too deeply" });
        }
        stack.push(frame);
    }
}

/// Folds a finished key into the frames below it, closing groups at `)`.
fn fold(
    c: &mut Cursor<'_>,
    stack: &mut Vec<Frame>,
    top: &mut Vec<SearchKey>,
    mut key: SearchKey,
) -> ParseResult<Next> {
    loop {
        match stack.pop() {
            Some(Frame::Not) => key = SearchKey::Not(Box::new(key)),
            Some(Frame::OrFirst) => {
                stack.push(Frame::OrSecond(key));
                c.sp()?;
                return Ok(Next::Key);
            }
            Some(Frame::OrSecond(first)) => key = SearchKey::Or(Box::new(first), Box::new(key)),
            Some(Frame::Group(mut keys)) => {
                keys.push(key);
                if !c.take(b')') {
                    c.sp()?;
                    stack.push(Frame::Group(keys));
                    return Ok(Next::Key);
                }
                key = SearchKey::And(keys);
            }
            None => {
                top.push(key);
                if c.at_end() {
                    return Ok(Next::Done);
                }
                c.sp()?;
                return Ok(Next::Key);
            }
        }
    }
}

/// A key that contains no other key.
fn parse_simple_key(c: &mut Cursor<'_>, lossy: bool) -> ParseResult<SearchKey> {
    if c.peek().is_some_and(|b| b.is_ascii_digit() || b == b'*' || b == b'$') {
        return Ok(SearchKey::Seq(c.sequence_set(true)?));
    }
    let name = c.atom()?.to_ascii_uppercase();
    let key = match name.as_str() {
        "ALL" => SearchKey::All,
        "ANSWERED" => SearchKey::Answered,
        "DELETED" => SearchKey::Deleted,
        "DRAFT" => SearchKey::Draft,
        "FLAGGED" => SearchKey::Flagged,
        "SEEN" => SearchKey::Seen,
        "NEW" => SearchKey::New,
        "OLD" => SearchKey::Old,
        "RECENT" => SearchKey::Recent,
        "UNANSWERED" => SearchKey::Unanswered,
        "UNDELETED" => SearchKey::Undeleted,
        "UNDRAFT" => SearchKey::Undraft,
        "UNFLAGGED" => SearchKey::Unflagged,
        "UNSEEN" => SearchKey::Unseen,
        "SAVEDATESUPPORTED" => SearchKey::SaveDateSupported,
        _ => {
            c.sp()?;
            parse_key_with_argument(c, &name, lossy)?
        }
    };
    Ok(key)
}

/// `objectid = 1*255(ALPHA / DIGIT / "_" / "-")` (RFC 8474 §7).
fn objectid(c: &mut Cursor<'_>) -> ParseResult<String> {
    let id = c.atom()?;
    if !crate::imap::server::objectid::is_objectid(id) {
        return Err(ParseError::syntax("expected an object id"));
    }
    Ok(id.to_owned())
}

fn parse_key_with_argument(c: &mut Cursor<'_>, name: &str, lossy: bool) -> ParseResult<SearchKey> {
    let key = match name {
        "KEYWORD" => SearchKey::Keyword(c.atom()?.to_owned()),
        "UNKEYWORD" => SearchKey::Unkeyword(c.atom()?.to_owned()),
        "EMAILID" => SearchKey::EmailId(objectid(c)?),
        "THREADID" => SearchKey::ThreadId(objectid(c)?),
        "BCC" => SearchKey::Bcc(text(c, lossy)?),
        "CC" => SearchKey::Cc(text(c, lossy)?),
        "FROM" => SearchKey::From(text(c, lossy)?),
        "SUBJECT" => SearchKey::Subject(text(c, lossy)?),
        "TO" => SearchKey::To(text(c, lossy)?),
        "BODY" => SearchKey::Body(text(c, lossy)?),
        "TEXT" => SearchKey::Text(text(c, lossy)?),
        "HEADER" => {
            let field = text(c, lossy)?;
            c.sp()?;
            SearchKey::Header(field, text(c, lossy)?)
        }
        "BEFORE" => SearchKey::Before(c.date()?),
        "ON" => SearchKey::On(c.date()?),
        "SINCE" => SearchKey::Since(c.date()?),
        "SENTBEFORE" => SearchKey::SentBefore(c.date()?),
        "SENTON" => SearchKey::SentOn(c.date()?),
        "SENTSINCE" => SearchKey::SentSince(c.date()?),
        "SAVEDBEFORE" => SearchKey::SavedBefore(c.date()?),
        "SAVEDON" => SearchKey::SavedOn(c.date()?),
        "SAVEDSINCE" => SearchKey::SavedSince(c.date()?),
        "LARGER" => SearchKey::Larger(c.number64()?),
        "SMALLER" => SearchKey::Smaller(c.number64()?),
        "YOUNGER" => SearchKey::Younger(u64::from(c.nz_number()?)),
        "OLDER" => SearchKey::Older(u64::from(c.nz_number()?)),
        "UID" => SearchKey::Uid(c.sequence_set(true)?),
        "MODSEQ" => parse_modseq(c)?,
        _ => return Err(ParseError::syntax("unknown search key")),
    };
    Ok(key)
}

/// `MODSEQ [entry-name SP entry-type-req SP] mod-sequence-valzer` (RFC 7162 §3.1.5);
/// the entry name is a quoted string such as `"/flags/\\seen"`.
fn parse_modseq(c: &mut Cursor<'_>) -> ParseResult<SearchKey> {
    let mut entry = None;
    if c.peek() == Some(b'"') {
        let name =
            String::from_utf8(c.string()?).map_err(|_| ParseError::syntax("entry name is not UTF-8"))?;
        c.sp()?;
        let kind = c.atom()?.to_ascii_lowercase();
        if !matches!(kind.as_str(), "priv" | "shared" | "all") {
            return Err(ParseError::syntax("expected priv, shared or all"));
        }
        c.sp()?;
        entry = Some((name, kind));
    }
    Ok(SearchKey::ModSeq { entry, modseq: c.number64()? })
}

/// A search string: UTF-8, or lossily decoded under a charset we refuse anyway.
fn text(c: &mut Cursor<'_>, lossy: bool) -> ParseResult<String> {
    let bytes = c.astring()?;
    if lossy {
        return Ok(String::from_utf8_lossy(&bytes).into_owned());
    }
    String::from_utf8(bytes).map_err(|_| ParseError::syntax("search string is not UTF-8"))
}
