//! The parts of APPEND around its message literals (RFC 9051 §6.3.12, MULTIAPPEND
//! RFC 3502 §6.3.11, BINARY RFC 3516 §4.4, UTF8 RFC 6855 §4):
//!
//! ```text
//! tag SP "APPEND" SP mailbox 1*(SP [flag-list SP] [date-time SP] (literal / literal8 /
//!     "UTF8" SP "(" literal8 ")")) CRLF
//! ```
//!
//! REPLACE and UID REPLACE (RFC 8508 §6) take the same message after a message number:
//!
//! ```text
//! tag SP ["UID" SP] "REPLACE" SP (seq-number / uid) SP mailbox SP [flag-list SP]
//!     [date-time SP] (literal / literal8 / "UTF8" SP "(" literal8 ")") CRLF
//! ```
//!
//! The reader streams message bytes instead of buffering them, so it asks these
//! functions, at each literal announcement, whether the literal is a message and with
//! which flags and date; the announcement itself is parsed by the reader.

use super::super::datetime::DateTime;
use super::super::error::{ParseError, ParseResult};
use super::super::types::{Flag, Tag};
use super::{Cursor, parse_tag};

/// Flags, date and form of one APPEND message, from the text before its literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AppendHeader {
    pub(crate) flags: Vec<Flag>,
    pub(crate) date: Option<DateTime>,
    /// Inside `UTF8 (`: a `)` must follow the message (RFC 6855 §4).
    pub(crate) utf8: bool,
}

/// What the literal at the end of an APPEND's text so far is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AppendStart {
    /// The mailbox name itself: an ordinary literal, buffered.
    MailboxLiteral,
    /// The first message.
    Message { tag: Tag, mailbox: String, header: AppendHeader, replace: Option<ReplaceTarget> },
}

/// The message a REPLACE command replaces (RFC 8508 §3.2, §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplaceTarget {
    /// UID REPLACE: `number` is a UID, else a message sequence number.
    pub uid: bool,
    /// The number as sent (never 0).
    pub number: u32,
}

/// Whether the command text starts with `tag SP APPEND SP` or `tag SP [UID SP] REPLACE
/// SP`: commands whose message literal is streamed.
pub(crate) fn is_append(text: &[u8]) -> bool {
    let Some(tag) = parse_tag(text) else {
        return false;
    };
    let mut cursor = Cursor::new(text.get(tag.0.len() + 1..).unwrap_or_default());
    command_name(&mut cursor).is_ok() && cursor.peek() == Some(b' ')
}

/// Reads `APPEND`, `REPLACE` or `UID REPLACE`; `Some(uid)` for the REPLACE forms.
fn command_name(c: &mut Cursor<'_>) -> ParseResult<Option<bool>> {
    if c.keyword("APPEND") {
        return Ok(None);
    }
    if c.keyword("REPLACE") {
        return Ok(Some(false));
    }
    if c.keyword("UID") && c.take(b' ') && c.keyword("REPLACE") {
        return Ok(Some(true));
    }
    Err(ParseError::syntax("expected APPEND or REPLACE"))
}

/// `prefix`: the APPEND (or REPLACE) command text before a literal announcement at its
/// end.
pub(crate) fn parse_append_start(prefix: &[u8]) -> ParseResult<AppendStart> {
    let tag = parse_tag(prefix).ok_or(ParseError::syntax("invalid tag"))?;
    let mut c = Cursor::new(prefix.get(tag.0.len() + 1..).unwrap_or_default());
    let replace = match command_name(&mut c)? {
        None => None,
        Some(uid) => {
            c.sp()?;
            Some(ReplaceTarget { uid, number: c.nz_number()? })
        }
    };
    c.sp()?;
    if c.at_end() {
        return Ok(AppendStart::MailboxLiteral);
    }
    let mailbox = c.mailbox()?;
    c.sp()?;
    let header = parse_header(&mut c)?;
    Ok(AppendStart::Message { tag, mailbox, header, replace })
}

/// `text`: what follows a message literal, up to the next literal announcement (or the
/// whole line when `has_literal` is false). `Ok(None)`: the command ends here.
pub(crate) fn parse_append_next(
    text: &[u8],
    close_utf8: bool,
    has_literal: bool,
) -> ParseResult<Option<AppendHeader>> {
    let mut c = Cursor::new(text);
    if close_utf8 {
        c.byte(b')', "expected ) after UTF8 message")?;
    }
    if !has_literal {
        c.end()?;
        return Ok(None);
    }
    c.sp()?;
    parse_header(&mut c).map(Some)
}

/// `[flag-list SP] [date-time SP] ["UTF8" SP "("]`, to the end of the text.
fn parse_header(c: &mut Cursor<'_>) -> ParseResult<AppendHeader> {
    let mut header = AppendHeader { flags: Vec::new(), date: None, utf8: false };
    if c.peek() == Some(b'(') {
        header.flags = c.flag_list()?;
        c.sp()?;
    }
    if c.peek() == Some(b'"') {
        header.date = Some(c.date_time()?);
        c.sp()?;
    }
    if c.keyword("UTF8") {
        c.sp()?;
        c.byte(b'(', "expected ( after UTF8")?;
        header.utf8 = true;
    }
    c.end()?;
    Ok(header)
}
