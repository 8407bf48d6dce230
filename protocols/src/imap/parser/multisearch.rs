//! ESEARCH (MULTISEARCH, RFC 7377 §4): `ESEARCH [SP "IN" SP "(" source-mbox [SP "("
//! scope-options ")"] ")"] [SP search-return-opts] SP search-program`, where
//! `source-mbox` is one or more `filter-mailboxes` (NOTIFY's, as RFC 7377 §2.2
//! changes it). The return options and program are SEARCH's ([`super::search`]).
//!
//! Invariant: at most [`MULTISEARCH_SOURCE_NAMES_MAX`] mailbox names in all, and no
//! recursion (a mailbox list does not nest).

use super::super::command::CommandBody;
use super::super::error::{ParseError, ParseResult};
use super::super::types::MailboxFilter;
use super::Cursor;
use super::search::parse_search_arguments;

/// Mailbox names one ESEARCH's sources may list, all filters together: a client names a
/// few folders (or a subtree) and uses `personal` for everything, so 100 is ample, and it
/// bounds what the command holds before it runs.
pub const MULTISEARCH_SOURCE_NAMES_MAX: usize = 100;

/// Filters one ESEARCH may list: each kind once is 7, and a repeat is harmless.
const SOURCE_FILTERS_MAX: usize = 16;

/// `ESEARCH ...` after the command name.
pub(super) fn parse_esearch(c: &mut Cursor<'_>, nesting_max: usize) -> ParseResult<CommandBody> {
    c.sp()?;
    let mut sources = Vec::new();
    if c.keyword("IN") {
        c.sp()?;
        sources = parse_sources(c)?;
        c.sp()?;
    }
    let search = parse_search_arguments(c, nesting_max)?;
    Ok(CommandBody::Esearch { sources, search })
}

/// `"(" filter-mailboxes *(SP filter-mailboxes) [SP "(" scope-options ")"] ")"`. No scope
/// option is defined (RFC 7377 §4), so any is refused.
fn parse_sources(c: &mut Cursor<'_>) -> ParseResult<Vec<MailboxFilter>> {
    c.byte(b'(', "expected ( after IN")?;
    let mut filters = Vec::new();
    let mut names = 0;
    loop {
        if c.peek() == Some(b'(') {
            return Err(ParseError::syntax("unknown scope option"));
        }
        if filters.len() >= SOURCE_FILTERS_MAX {
            return Err(ParseError::syntax("too many mailbox filters"));
        }
        let filter = match c.atom()?.to_ascii_lowercase().as_str() {
            "selected" => MailboxFilter::Selected,
            "inboxes" => MailboxFilter::Inboxes,
            "personal" => MailboxFilter::Personal,
            "subscribed" => MailboxFilter::Subscribed,
            "subtree" => MailboxFilter::Subtree(parse_mailboxes(c, &mut names)?),
            "subtree-one" => MailboxFilter::SubtreeOne(parse_mailboxes(c, &mut names)?),
            "mailboxes" => MailboxFilter::Mailboxes(parse_mailboxes(c, &mut names)?),
            _ => return Err(ParseError::syntax("unknown mailbox filter")),
        };
        filters.push(filter);
        if c.take(b')') {
            return Ok(filters);
        }
        c.sp()?;
    }
}

/// `SP one-or-more-mailbox`: a mailbox, or `"(" mailbox *(SP mailbox) ")"`; `names`
/// counts them against [`MULTISEARCH_SOURCE_NAMES_MAX`].
fn parse_mailboxes(c: &mut Cursor<'_>, names: &mut usize) -> ParseResult<Vec<String>> {
    c.sp()?;
    let many = c.take(b'(');
    let mut mailboxes = Vec::new();
    loop {
        if *names >= MULTISEARCH_SOURCE_NAMES_MAX {
            return Err(ParseError::syntax("too many mailboxes"));
        }
        mailboxes.push(c.mailbox()?);
        *names += 1;
        if !many || c.take(b')') {
            return Ok(mailboxes);
        }
        c.sp()?;
    }
}
