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
//! CATENATE (RFC 4469 §5) makes a message of parts instead of one literal:
//!
//! ```text
//! append-data =/ "CATENATE" SP "(" cat-part *(SP cat-part) ")"
//! cat-part    = "TEXT" SP (literal / literal8) / "URL" SP astring
//! ```
//!
//! The reader streams message bytes instead of buffering them, so it asks these
//! functions, at each literal announcement, whether the literal is a message and with
//! which flags and date; the announcement itself is parsed by the reader.

use super::super::datetime::DateTime;
use super::super::error::{ParseError, ParseResult};
use super::super::types::{Flag, Tag};
use super::cursor::utf8;
use super::{Cursor, parse_tag};

/// Flags, date and form of one APPEND message, from the text before its literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AppendHeader {
    pub(crate) flags: Vec<Flag>,
    pub(crate) date: Option<DateTime>,
    /// Inside `UTF8 (`: a `)` must follow the message (RFC 6855 §4).
    pub(crate) utf8: bool,
}

/// What an APPEND's text up to a literal announcement (or the line's end) is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AppendStart {
    /// The mailbox name itself: an ordinary literal, buffered.
    MailboxLiteral,
    /// The command's first message (or CATENATE) begins.
    Message { tag: Tag, mailbox: String, replace: Option<ReplaceTarget>, line: AppendLine },
}

/// What an APPEND expects next, between one line's text and the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AppendPosition {
    /// After the mailbox or a whole message: another message or the end.
    Between,
    /// After a `UTF8 (` message literal: `)`.
    Utf8Close,
    /// Inside `CATENATE (`: a part or `)`; `first`: right after the `(`.
    Parts { first: bool },
}

/// One thing an APPEND's text says, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AppendItem {
    /// A message begins; with `catenate`, its parts follow, else its literal.
    Message { header: AppendHeader, catenate: bool },
    /// A CATENATE `URL` part, as sent.
    Url(String),
    /// CATENATE's `)`: the message is complete.
    CatenateEnd,
}

/// What the literal announced at the end of a text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LiteralRole {
    /// A whole message (the last item is a `Message` without CATENATE).
    Message,
    /// A CATENATE `TEXT` part.
    Text,
}

/// A parsed piece of APPEND text: its items, the role of the literal that ends it
/// (`None`: the command ends), and what the text after that literal must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AppendLine {
    pub(crate) items: Vec<AppendItem>,
    pub(crate) literal: Option<LiteralRole>,
    pub(crate) next: AppendPosition,
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
/// end (`has_literal`), or the whole command line.
pub(crate) fn parse_append_start(prefix: &[u8], has_literal: bool) -> ParseResult<AppendStart> {
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
    if c.at_end() && has_literal {
        return Ok(AppendStart::MailboxLiteral);
    }
    let mailbox = c.mailbox()?;
    let line = parse_append_items(c.rest(), AppendPosition::Between, has_literal)?;
    if !matches!(line.items.first(), Some(AppendItem::Message { .. })) {
        return Err(ParseError::syntax("expected a message literal"));
    }
    Ok(AppendStart::Message { tag, mailbox, replace, line })
}

/// `text`: APPEND text that starts at `position`, up to the next literal announcement
/// (`has_literal`) or to the command's end.
pub(crate) fn parse_append_items(
    text: &[u8],
    mut position: AppendPosition,
    has_literal: bool,
) -> ParseResult<AppendLine> {
    let mut c = Cursor::new(text);
    let mut items = Vec::new();
    loop {
        match position {
            AppendPosition::Utf8Close => {
                c.byte(b')', "expected ) after UTF8 message")?;
                position = AppendPosition::Between;
            }
            AppendPosition::Between => {
                if c.at_end() && !has_literal {
                    return Ok(AppendLine { items, literal: None, next: position });
                }
                c.sp()?;
                let (header, catenate) = parse_header(&mut c)?;
                items.push(AppendItem::Message { header: header.clone(), catenate });
                if catenate {
                    position = AppendPosition::Parts { first: true };
                    continue;
                }
                c.end()?;
                if !has_literal {
                    return Err(ParseError::syntax("expected a message literal"));
                }
                let next = if header.utf8 { AppendPosition::Utf8Close } else { AppendPosition::Between };
                return Ok(AppendLine { items, literal: Some(LiteralRole::Message), next });
            }
            AppendPosition::Parts { first } => {
                if !first && c.take(b')') {
                    items.push(AppendItem::CatenateEnd);
                    position = AppendPosition::Between;
                    continue;
                }
                if !first {
                    c.sp()?;
                }
                if c.keyword("URL") {
                    c.sp()?;
                    if c.peek() == Some(b'{') || c.peek() == Some(b'~') {
                        return Err(ParseError::syntax("a URL must be an atom or a quoted string"));
                    }
                    items.push(AppendItem::Url(utf8(c.astring()?)?));
                    position = AppendPosition::Parts { first: false };
                    continue;
                }
                if !c.keyword("TEXT") {
                    return Err(ParseError::syntax("expected TEXT or URL"));
                }
                c.sp()?;
                c.end()?;
                if !has_literal {
                    return Err(ParseError::syntax("expected a TEXT literal"));
                }
                let next = AppendPosition::Parts { first: false };
                return Ok(AppendLine { items, literal: Some(LiteralRole::Text), next });
            }
        }
    }
}

/// `[flag-list SP] [date-time SP]` then `"UTF8" SP "("`, or `"CATENATE" SP "("` (true),
/// or nothing (the literal follows).
fn parse_header(c: &mut Cursor<'_>) -> ParseResult<(AppendHeader, bool)> {
    let mut header = AppendHeader { flags: Vec::new(), date: None, utf8: false };
    if c.peek() == Some(b'(') {
        header.flags = c.flag_list()?;
        c.sp()?;
    }
    if c.peek() == Some(b'"') {
        header.date = Some(c.date_time()?);
        c.sp()?;
    }
    if c.keyword("CATENATE") {
        c.sp()?;
        c.byte(b'(', "expected ( after CATENATE")?;
        return Ok((header, true));
    }
    if c.keyword("UTF8") {
        c.sp()?;
        c.byte(b'(', "expected ( after UTF8")?;
        header.utf8 = true;
    }
    Ok((header, false))
}
