//! METADATA commands (RFC 5464 §4): GETMETADATA with its MAXSIZE and DEPTH options,
//! SETMETADATA with `NIL` to remove, the entry-name rules of RFC 5464 §3.2, and the
//! METADATA return option of LIST (RFC 9590 §3).

use super::super::command::CommandBody;
use super::super::error::{ParseError, ParseResult};
use super::super::limits::{METADATA_COMMAND_ENTRIES_MAX, METADATA_ENTRY_NAME_BYTES_MAX};
use super::super::types::MetadataDepth;
use super::Cursor;

/// `GETMETADATA [SP options] SP mailbox SP entries`. RFC 5464 §4.2's grammar puts the
/// options before the mailbox; Interop: its examples (and some clients) put them after
/// it, so both are accepted.
pub(super) fn parse_getmetadata(c: &mut Cursor<'_>) -> ParseResult<CommandBody> {
    c.sp()?;
    let mut max_size = None;
    let mut depth = None;
    if c.peek() == Some(b'(') {
        parse_options(c, &mut max_size, &mut depth)?;
        c.sp()?;
    }
    let mailbox = c.mailbox()?;
    c.sp()?;
    if c.peek() == Some(b'(') && at_option(c) {
        if max_size.is_some() || depth.is_some() {
            return Err(ParseError::syntax("options given twice"));
        }
        parse_options(c, &mut max_size, &mut depth)?;
        c.sp()?;
    }
    let entries = parse_entries(c)?;
    Ok(CommandBody::GetMetadata { mailbox, entries, max_size, depth: depth.unwrap_or_default() })
}

/// Whether `(` starts GETMETADATA options rather than the entry list (entry names start
/// with `/` or a quote).
fn at_option(c: &Cursor<'_>) -> bool {
    let mut probe = Cursor::new(c.rest());
    probe.take(b'(') && (probe.keyword("MAXSIZE") || probe.keyword("DEPTH"))
}

/// `"(" option *(SP option) ")"` with `MAXSIZE n` and `DEPTH (0 / 1 / infinity)`, each
/// at most once.
fn parse_options(
    c: &mut Cursor<'_>,
    max_size: &mut Option<u64>,
    depth: &mut Option<MetadataDepth>,
) -> ParseResult<()> {
    c.byte(b'(', "expected GETMETADATA options")?;
    loop {
        if c.keyword("MAXSIZE") && max_size.is_none() {
            c.sp()?;
            *max_size = Some(c.number64()?);
        } else if c.keyword("DEPTH") && depth.is_none() {
            c.sp()?;
            *depth = Some(match c.atom()?.to_ascii_lowercase().as_str() {
                "0" => MetadataDepth::Zero,
                "1" => MetadataDepth::One,
                "infinity" => MetadataDepth::Infinity,
                _ => return Err(ParseError::syntax("DEPTH must be 0, 1 or infinity")),
            });
        } else {
            return Err(ParseError::syntax("unknown or repeated GETMETADATA option"));
        }
        if c.take(b')') {
            return Ok(());
        }
        c.sp()?;
    }
}

/// `entries = entry / "(" entry *(SP entry) ")"`.
fn parse_entries(c: &mut Cursor<'_>) -> ParseResult<Vec<String>> {
    if !c.take(b'(') {
        return Ok(vec![entry_name(c)?]);
    }
    let mut entries = Vec::new();
    loop {
        if entries.len() >= METADATA_COMMAND_ENTRIES_MAX {
            return Err(ParseError::syntax("too many entries"));
        }
        entries.push(entry_name(c)?);
        if c.take(b')') {
            return Ok(entries);
        }
        c.sp()?;
    }
}

/// `SETMETADATA SP mailbox SP "(" entry SP value *(SP entry SP value) ")"`, where a
/// value is an nstring or a literal8 (RFC 5464 §5). Only `/private/...` and
/// `/shared/...` entries can be set (RFC 5464 §3.2).
pub(super) fn parse_setmetadata(c: &mut Cursor<'_>) -> ParseResult<CommandBody> {
    c.sp()?;
    let mailbox = c.mailbox()?;
    c.sp()?;
    c.byte(b'(', "expected ( before the entries")?;
    let mut entries = Vec::new();
    loop {
        if entries.len() >= METADATA_COMMAND_ENTRIES_MAX {
            return Err(ParseError::syntax("too many entries"));
        }
        let name = entry_name(c)?;
        check_settable(&name)?;
        c.sp()?;
        let value = c.nstring_or_literal8()?;
        entries.push((name, value));
        if c.take(b')') {
            return Ok(CommandBody::SetMetadata { mailbox, entries });
        }
        c.sp()?;
    }
}

/// LIST's `METADATA (entry *(SP entry))` return option (RFC 9590 §3), after `METADATA`.
pub(super) fn parse_list_return(c: &mut Cursor<'_>) -> ParseResult<Vec<String>> {
    c.sp()?;
    c.byte(b'(', "expected ( after METADATA")?;
    let mut entries = Vec::new();
    loop {
        if entries.len() >= METADATA_COMMAND_ENTRIES_MAX {
            return Err(ParseError::syntax("too many entries"));
        }
        entries.push(entry_name(c)?);
        if c.take(b')') {
            return Ok(entries);
        }
        c.sp()?;
    }
}

/// An entry name (RFC 5464 §3.2), lower case (entry names are case-insensitive): an
/// astring of printable ASCII starting with `/`, without `*` or `%`, without `//` and
/// not ending with `/` (`/` alone is taken, for DEPTH infinity over everything), at
/// most [`METADATA_ENTRY_NAME_BYTES_MAX`] bytes.
fn entry_name(c: &mut Cursor<'_>) -> ParseResult<String> {
    let bytes = c.astring()?;
    check_entry_name(&bytes)?;
    // ASCII checked above, so this never fails.
    let name = String::from_utf8(bytes).map_err(|_| ParseError::syntax("entry name is not ASCII"))?;
    Ok(name.to_ascii_lowercase())
}

/// The RFC 5464 §3.2 rules, and our length limit.
fn check_entry_name(name: &[u8]) -> ParseResult<()> {
    if name.len() > METADATA_ENTRY_NAME_BYTES_MAX {
        return Err(ParseError::syntax("entry name too long"));
    }
    if name.first() != Some(&b'/') {
        return Err(ParseError::syntax("entry name must start with /"));
    }
    if name.iter().any(|&b| !(0x20..0x7f).contains(&b) || b == b'*' || b == b'%') {
        return Err(ParseError::syntax("entry name must be printable ASCII without * or %"));
    }
    if name.windows(2).any(|pair| pair == b"//") {
        return Err(ParseError::syntax("entry name must not contain //"));
    }
    if name.len() > 1 && name.ends_with(b"/") {
        return Err(ParseError::syntax("entry name must not end with /"));
    }
    Ok(())
}

/// SETMETADATA's names: under `/private/` or `/shared/` (RFC 5464 §3.2), and a vendor
/// entry names its vendor and an entry (`/shared/vendor/<vendor>/<name>`, §3.2.1.2).
fn check_settable(name: &str) -> ParseResult<()> {
    let Some(rest) = name.strip_prefix("/private/").or_else(|| name.strip_prefix("/shared/")) else {
        return Err(ParseError::syntax("entry names start with /private/ or /shared/"));
    };
    if (rest == "vendor" || rest.starts_with("vendor/")) && rest.split('/').count() < 3 {
        return Err(ParseError::syntax("vendor entries need a vendor and a name"));
    }
    Ok(())
}

/// Whether the command text starts with `tag SP SETMETADATA SP`: the one command
/// besides APPEND whose literals may be literal8 (RFC 5464 §5).
pub(crate) fn is_setmetadata(text: &[u8]) -> bool {
    let Some(tag) = super::parse_tag(text) else {
        return false;
    };
    let mut cursor = Cursor::new(text.get(tag.0.len() + 1..).unwrap_or_default());
    cursor.keyword("SETMETADATA") && cursor.peek() == Some(b' ')
}
