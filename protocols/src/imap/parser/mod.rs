//! The IMAP command parser: one complete command (as the reader assembled it) to a
//! [`Command`] (RFC 9051 §6 and §9, RFC 3501 §9, and the extensions in [`super`]).
//!
//! Pure functions, no state between commands. Keywords match without regard to case.
//! Nesting (SEARCH) is parsed with an explicit stack bounded by `nesting_max`, never by
//! recursion. Errors carry the tag when it could be read, so the session can answer
//! `<tag> BAD ...`.

mod append;
mod cursor;
mod fetch;
mod mailbox;
mod metadata;
mod multisearch;
mod notify;
mod quota;
mod search;
mod sort;
mod urlauth;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::command::{Command, CommandBody};
use super::error::{ParseError, ParseResult, ReadError, ReadErrorKind};
use super::limits::{ID_FIELDS_MAX, TAG_BYTES_MAX};
use super::types::Tag;
pub use append::ReplaceTarget;
pub(crate) use append::{
    AppendItem, AppendLine, AppendPosition, AppendStart, LiteralRole, is_append, parse_append_items,
    parse_append_start,
};
pub(crate) use cursor::Cursor;
use cursor::utf8;
pub(crate) use fetch::parse_url_section;
pub(crate) use metadata::is_setmetadata;
pub use multisearch::MULTISEARCH_SOURCE_NAMES_MAX;
pub use notify::{
    EventGroup, MailboxFilter, NOTIFY_EVENTS_MAX, NOTIFY_GROUPS_MAX, NOTIFY_MAILBOXES_MAX, NotifyEvent,
    NotifySet,
};

/// A tag character: ASTRING-CHAR except `+` (RFC 9051 §9 `tag`), ASCII only.
fn is_tag_char(b: u8) -> bool {
    b != b'+' && b < 0x80 && (super::types::is_atom_char(b) || b == b']')
}

/// Reads the tag at the start of a command, if it is a valid one followed by a space.
pub(crate) fn parse_tag(input: &[u8]) -> Option<Tag> {
    parse_tag_followed_by(input, false)
}

/// Reads a tag followed by a space, or (with `allow_end`) by nothing: a line with only a
/// tag still gets a tagged BAD.
fn parse_tag_followed_by(input: &[u8], allow_end: bool) -> Option<Tag> {
    let mut cursor = Cursor::new(input);
    let tag = cursor.take_while(is_tag_char);
    let followed = match cursor.peek() {
        Some(b' ') => true,
        None => allow_end,
        Some(_) => false,
    };
    if tag.is_empty() || tag.len() > TAG_BYTES_MAX || !followed {
        return None;
    }
    Some(Tag(String::from_utf8_lossy(tag).into_owned()))
}

/// Parses one complete command: its lines joined by CRLF, each literal's bytes right
/// after its announcement and CRLF, without the final CRLF. `nesting_max` bounds
/// parenthesized SEARCH keys.
pub fn parse_command(input: &[u8], nesting_max: usize) -> Result<Command, ReadError> {
    let Some(tag) = parse_tag_followed_by(input, true) else {
        return Err(ReadError::new(None, ReadErrorKind::Syntax, "invalid or missing tag"));
    };
    let mut cursor = Cursor::new(input.get(tag.0.len() + 1..).unwrap_or_default());
    let name = match cursor.atom() {
        Ok(name) => name.to_ascii_uppercase(),
        Err(_) => return Err(ReadError::new(Some(tag), ReadErrorKind::Syntax, "missing command name")),
    };
    match parse_body(&mut cursor, &name, nesting_max).and_then(|body| cursor.end().map(|()| body)) {
        Ok(body) => Ok(Command { tag, body }),
        Err(error) => Err(ReadError::new(Some(tag), error.kind, format!("{name}: {}", error.detail))),
    }
}

fn parse_body(c: &mut Cursor<'_>, name: &str, nesting_max: usize) -> ParseResult<CommandBody> {
    let body = match name {
        "CAPABILITY" => CommandBody::Capability,
        "NOOP" => CommandBody::Noop,
        "LOGOUT" => CommandBody::Logout,
        "STARTTLS" => CommandBody::StartTls,
        "NAMESPACE" => CommandBody::Namespace,
        "IDLE" => CommandBody::Idle,
        "CHECK" => CommandBody::Check,
        "CLOSE" => CommandBody::Close,
        "UNSELECT" => CommandBody::Unselect,
        "EXPUNGE" => CommandBody::Expunge,
        "ID" => parse_id(c)?,
        "AUTHENTICATE" => parse_authenticate(c)?,
        "LOGIN" => {
            c.sp()?;
            let username = c.astring_utf8()?;
            c.sp()?;
            CommandBody::Login { username, password: c.astring_utf8()? }
        }
        "ENABLE" => parse_enable(c)?,
        "COMPRESS" => {
            c.sp()?;
            CommandBody::Compress { mechanism: c.atom()?.to_owned() }
        }
        "SELECT" | "EXAMINE" => mailbox::parse_select(c, name == "EXAMINE")?,
        "CREATE" => mailbox::parse_create(c)?,
        "DELETE" | "SUBSCRIBE" | "UNSUBSCRIBE" => mailbox::parse_single_mailbox(c, name)?,
        "RENAME" => {
            c.sp()?;
            let from = c.mailbox()?;
            c.sp()?;
            CommandBody::Rename { from, to: c.mailbox()? }
        }
        "LIST" => mailbox::parse_list(c)?,
        "LSUB" => {
            c.sp()?;
            let reference = c.mailbox()?;
            c.sp()?;
            CommandBody::Lsub { reference, pattern: c.list_mailbox()? }
        }
        "STATUS" => mailbox::parse_status(c)?,
        "SEARCH" => search::parse_search(c, false, nesting_max)?,
        "SORT" => sort::parse_sort(c, false, nesting_max)?,
        "GETQUOTA" => quota::parse_getquota(c)?,
        "GETQUOTAROOT" => quota::parse_getquotaroot(c)?,
        "SETQUOTA" => quota::parse_setquota(c)?,
        "GETMETADATA" => metadata::parse_getmetadata(c)?,
        "SETMETADATA" => metadata::parse_setmetadata(c)?,
        "NOTIFY" => notify::parse_notify(c)?,
        "GENURLAUTH" => urlauth::parse_genurlauth(c)?,
        "RESETKEY" => urlauth::parse_resetkey(c)?,
        "URLFETCH" => urlauth::parse_urlfetch(c)?,
        "CANCELUPDATE" => search::parse_cancel_update(c)?,
        "ESEARCH" => multisearch::parse_esearch(c, nesting_max)?,
        "THREAD" => sort::parse_thread(c, false, nesting_max)?,
        "FETCH" => fetch::parse_fetch(c, false)?,
        "STORE" => fetch::parse_store(c, false)?,
        "COPY" | "MOVE" => parse_copy_move(c, false, name == "MOVE")?,
        "UID" => parse_uid(c, nesting_max)?,
        // The reader streams APPEND; it reaches the parser only without a message.
        "APPEND" | "REPLACE" => return Err(ParseError::syntax("expected a message literal")),
        _ => return Err(ParseError::syntax("unknown command")),
    };
    Ok(body)
}

/// `UID (COPY / MOVE / FETCH / SEARCH / STORE / EXPUNGE / SORT / THREAD) ...` (RFC 9051
/// §6.4.9, RFC 4315 §2.1, RFC 6851 §3, RFC 5256 §4).
fn parse_uid(c: &mut Cursor<'_>, nesting_max: usize) -> ParseResult<CommandBody> {
    c.sp()?;
    let name = c.atom()?.to_ascii_uppercase();
    match name.as_str() {
        "COPY" | "MOVE" => parse_copy_move(c, true, name == "MOVE"),
        "FETCH" => fetch::parse_fetch(c, true),
        "SEARCH" => search::parse_search(c, true, nesting_max),
        "SORT" => sort::parse_sort(c, true, nesting_max),
        "THREAD" => sort::parse_thread(c, true, nesting_max),
        "STORE" => fetch::parse_store(c, true),
        "EXPUNGE" => {
            c.sp()?;
            Ok(CommandBody::UidExpunge(c.sequence_set(true)?))
        }
        // The reader streams UID REPLACE (RFC 8508); here it came without a message.
        "REPLACE" => Err(ParseError::syntax("expected a message literal")),
        _ => Err(ParseError::syntax("unknown UID command")),
    }
}

fn parse_copy_move(c: &mut Cursor<'_>, uid: bool, is_move: bool) -> ParseResult<CommandBody> {
    c.sp()?;
    let set = c.sequence_set(true)?;
    c.sp()?;
    let mailbox = c.mailbox()?;
    Ok(if is_move {
        CommandBody::Move { uid, set, mailbox }
    } else {
        CommandBody::Copy { uid, set, mailbox }
    })
}

/// `ID SP ("(" string SP nstring *(SP string SP nstring) ")" / NIL)` (RFC 2971 §4).
/// Interop: an empty list `()` is taken as NIL.
fn parse_id(c: &mut Cursor<'_>) -> ParseResult<CommandBody> {
    c.sp()?;
    if c.keyword("NIL") {
        return Ok(CommandBody::Id(None));
    }
    c.byte(b'(', "expected ( or NIL")?;
    let mut fields = Vec::new();
    if c.take(b')') {
        return Ok(CommandBody::Id(None));
    }
    loop {
        if fields.len() >= ID_FIELDS_MAX {
            return Err(ParseError::syntax("too many ID fields"));
        }
        let field = utf8(c.string()?)?;
        c.sp()?;
        let value = c.nstring()?.map(utf8).transpose()?;
        fields.push((field, value));
        if c.take(b')') {
            return Ok(CommandBody::Id(Some(fields)));
        }
        c.sp()?;
    }
}

/// `AUTHENTICATE SP auth-type [SP (base64 / "=")]` (RFC 9051 §6.2.2, RFC 4959 §3).
fn parse_authenticate(c: &mut Cursor<'_>) -> ParseResult<CommandBody> {
    c.sp()?;
    let mechanism = c.atom()?.to_owned();
    let mut initial_response = None;
    if c.take(b' ') {
        let text = c.take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='));
        if text.is_empty() {
            return Err(ParseError::syntax("expected base64 initial response"));
        }
        let decoded = if text == b"=" {
            Vec::new()
        } else {
            STANDARD
                .decode(text)
                .map_err(|_| ParseError { kind: ReadErrorKind::BadBase64, detail: "invalid base64" })?
        };
        initial_response = Some(decoded);
    }
    Ok(CommandBody::Authenticate { mechanism, initial_response })
}

/// `ENABLE 1*(SP capability)` (RFC 5161 §3.1).
fn parse_enable(c: &mut Cursor<'_>) -> ParseResult<CommandBody> {
    let mut capabilities = Vec::new();
    while c.take(b' ') {
        capabilities.push(c.atom()?.to_owned());
    }
    if capabilities.is_empty() {
        return Err(ParseError::syntax("expected capability names"));
    }
    Ok(CommandBody::Enable(capabilities))
}
