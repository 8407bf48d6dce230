//! SORT (RFC 5256 §3 with the DISPLAYFROM/DISPLAYTO keys of RFC 5957 §3 and ESORT's
//! return options, RFC 5267 §3) and THREAD (RFC 5256 §3): the criteria or algorithm,
//! the charset (mandatory in both) and the search program, parsed by [`super::search`].

use super::super::command::CommandBody;
use super::super::error::{ParseError, ParseResult};
use super::super::limits::SORT_CRITERIA_MAX;
use super::super::types::{
    SearchCommand, SearchReturn, SortCommand, SortCriterion, SortKey, ThreadAlgorithm,
};
use super::Cursor;
use super::search::{parse_program, parse_return_opts};

/// `SORT SP ["RETURN" SP "(" opts ")" SP] sort-criteria SP charset 1*(SP search-key)`
/// (RFC 5267 §3.1: ESORT's return options come first).
pub(super) fn parse_sort(c: &mut Cursor<'_>, uid: bool, nesting_max: usize) -> ParseResult<CommandBody> {
    c.sp()?;
    let mut return_opts = None;
    if c.keyword("RETURN") {
        c.sp()?;
        let opts = parse_return_opts(c)?;
        if opts.contains(&SearchReturn::Save) {
            // RFC 5182 defines SAVE for SEARCH; `$` holds a set, which has no order.
            return Err(ParseError::syntax("SAVE is not supported with SORT"));
        }
        return_opts = Some(opts);
        c.sp()?;
    }
    let criteria = parse_criteria(c)?;
    c.sp()?;
    let mut search = parse_charset_and_program(c, nesting_max)?;
    search.return_opts = return_opts;
    Ok(CommandBody::Sort { uid, sort: SortCommand { criteria, search } })
}

/// `THREAD SP thread-alg SP charset 1*(SP search-key)`.
pub(super) fn parse_thread(c: &mut Cursor<'_>, uid: bool, nesting_max: usize) -> ParseResult<CommandBody> {
    c.sp()?;
    let algorithm = match c.atom()?.to_ascii_uppercase().as_str() {
        "ORDEREDSUBJECT" => ThreadAlgorithm::OrderedSubject,
        "REFERENCES" => ThreadAlgorithm::References,
        "REFS" => ThreadAlgorithm::Refs,
        _ => return Err(ParseError::syntax("unknown threading algorithm")),
    };
    c.sp()?;
    let search = parse_charset_and_program(c, nesting_max)?;
    Ok(CommandBody::Thread { uid, algorithm, search })
}

/// `"(" sort-criterion *(SP sort-criterion) ")"`, `sort-criterion = ["REVERSE" SP] key`.
fn parse_criteria(c: &mut Cursor<'_>) -> ParseResult<Vec<SortCriterion>> {
    c.byte(b'(', "expected ( before sort criteria")?;
    let mut criteria = Vec::new();
    loop {
        if criteria.len() >= SORT_CRITERIA_MAX {
            return Err(ParseError::syntax("too many sort criteria"));
        }
        let reverse = c.keyword("REVERSE");
        if reverse {
            c.sp()?;
        }
        let key = match c.atom()?.to_ascii_uppercase().as_str() {
            "ARRIVAL" => SortKey::Arrival,
            "CC" => SortKey::Cc,
            "DATE" => SortKey::Date,
            "FROM" => SortKey::From,
            "SIZE" => SortKey::Size,
            "SUBJECT" => SortKey::Subject,
            "TO" => SortKey::To,
            "DISPLAYFROM" => SortKey::DisplayFrom,
            "DISPLAYTO" => SortKey::DisplayTo,
            _ => return Err(ParseError::syntax("unknown sort key")),
        };
        criteria.push(SortCriterion { reverse, key });
        if c.take(b')') {
            return Ok(criteria);
        }
        c.sp()?;
    }
}

/// `charset 1*(SP search-key)`: the charset is not optional here (RFC 5256 §5).
fn parse_charset_and_program(c: &mut Cursor<'_>, nesting_max: usize) -> ParseResult<SearchCommand> {
    let charset = String::from_utf8_lossy(&c.astring()?).into_owned();
    c.sp()?;
    let lossy = !charset.eq_ignore_ascii_case("UTF-8") && !charset.eq_ignore_ascii_case("US-ASCII");
    let key = parse_program(c, nesting_max, lossy)?;
    Ok(SearchCommand { charset: Some(charset), return_opts: None, key })
}
