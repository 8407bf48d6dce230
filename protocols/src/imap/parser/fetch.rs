//! FETCH and STORE: data items with sections and partials (RFC 9051 §6.4.5), BINARY
//! (RFC 3516 §4.2), MODSEQ/CHANGEDSINCE/VANISHED (RFC 7162 §3.1.4, §3.2.6), SAVEDATE
//! (RFC 8514 §4), and STORE with UNCHANGEDSINCE (RFC 7162 §3.1.3).

use super::super::command::CommandBody;
use super::super::error::{ParseError, ParseResult};
use super::super::types::{FetchAttr, FetchModifier, Partial, Section, SectionText, StoreMode, is_atom_char};
use super::Cursor;
use super::cursor::utf8;

/// `FETCH SP sequence-set SP (macro / fetch-att / "(" fetch-att *(SP fetch-att) ")")
/// [SP "(" fetch-modifier *(SP fetch-modifier) ")"]`.
pub(super) fn parse_fetch(c: &mut Cursor<'_>, uid: bool) -> ParseResult<CommandBody> {
    c.sp()?;
    let set = c.sequence_set(true)?;
    c.sp()?;
    let attrs = parse_fetch_attrs(c)?;
    let mut modifiers = Vec::new();
    if c.take(b' ') {
        modifiers = parse_fetch_modifiers(c, uid)?;
    }
    Ok(CommandBody::Fetch { uid, set, attrs, modifiers })
}

pub(super) fn parse_fetch_attrs(c: &mut Cursor<'_>) -> ParseResult<Vec<FetchAttr>> {
    // RFC 9051 §6.4.5: the macros stand alone, never inside a list.
    let fast = [FetchAttr::Flags, FetchAttr::InternalDate, FetchAttr::Rfc822Size];
    if c.keyword("FAST") {
        return Ok(fast.to_vec());
    }
    if c.keyword("ALL") {
        return Ok([&fast[..], &[FetchAttr::Envelope]].concat());
    }
    if c.keyword("FULL") {
        return Ok([&fast[..], &[FetchAttr::Envelope, FetchAttr::Body]].concat());
    }
    if !c.take(b'(') {
        return Ok(vec![parse_fetch_att(c)?]);
    }
    let mut attrs = Vec::new();
    loop {
        attrs.push(parse_fetch_att(c)?);
        if c.take(b')') {
            return Ok(attrs);
        }
        c.sp()?;
    }
}

fn parse_fetch_att(c: &mut Cursor<'_>) -> ParseResult<FetchAttr> {
    let name = c.take_while(|b| is_atom_char(b) && b != b'[' && b != b'<').to_ascii_uppercase();
    let attr = match name.as_slice() {
        b"ENVELOPE" => FetchAttr::Envelope,
        b"FLAGS" => FetchAttr::Flags,
        b"INTERNALDATE" => FetchAttr::InternalDate,
        b"RFC822" => FetchAttr::Rfc822,
        b"RFC822.HEADER" => FetchAttr::Rfc822Header,
        b"RFC822.SIZE" => FetchAttr::Rfc822Size,
        b"RFC822.TEXT" => FetchAttr::Rfc822Text,
        b"BODYSTRUCTURE" => FetchAttr::BodyStructure,
        b"UID" => FetchAttr::Uid,
        b"MODSEQ" => FetchAttr::ModSeq,
        b"SAVEDATE" => FetchAttr::SaveDate,
        b"EMAILID" => FetchAttr::EmailId,
        b"THREADID" => FetchAttr::ThreadId,
        b"PREVIEW" => FetchAttr::Preview { lazy: parse_preview_modifiers(c)? },
        b"BODY" if c.peek() != Some(b'[') => FetchAttr::Body,
        b"BODY" | b"BODY.PEEK" => {
            let section = parse_section(c)?;
            let partial = parse_partial(c)?;
            FetchAttr::BodySection { peek: name.len() > 4, section, partial }
        }
        b"BINARY" | b"BINARY.PEEK" => {
            let part = parse_binary_part(c)?;
            let partial = parse_partial(c)?;
            FetchAttr::Binary { peek: name.len() > 6, part, partial }
        }
        b"BINARY.SIZE" => FetchAttr::BinarySize { part: parse_binary_part(c)? },
        _ => return Err(ParseError::syntax("unknown fetch item")),
    };
    Ok(attr)
}

/// `[SP "(" preview-mod *(SP preview-mod) ")"]` after PREVIEW (RFC 8970); the only
/// modifier is `LAZY`. Whether LAZY was given. A list that does not start with LAZY is
/// left alone: after a lone item it is the FETCH modifiers (`PREVIEW (CHANGEDSINCE 5)`).
fn parse_preview_modifiers(c: &mut Cursor<'_>) -> ParseResult<bool> {
    if !c.looking_at(" (LAZY") {
        return Ok(false);
    }
    c.sp()?;
    c.byte(b'(', "expected (")?;
    loop {
        if !c.keyword("LAZY") {
            return Err(ParseError::syntax("unknown PREVIEW modifier"));
        }
        if c.take(b')') {
            return Ok(true);
        }
        c.sp()?;
    }
}

/// A URL's `;SECTION=` value (RFC 5092 §3: a `section-spec` of RFC 9051), already
/// %-decoded: the FETCH section grammar without its brackets.
pub(crate) fn parse_url_section(spec: &[u8]) -> ParseResult<Section> {
    let mut bracketed = Vec::with_capacity(spec.len() + 2);
    bracketed.push(b'[');
    bracketed.extend_from_slice(spec);
    bracketed.push(b']');
    let mut c = Cursor::new(&bracketed);
    let section = parse_section(&mut c)?;
    c.end()?;
    if section == Section::Full {
        return Err(ParseError::syntax("empty section"));
    }
    Ok(section)
}

/// `section = "[" [section-spec] "]"`.
fn parse_section(c: &mut Cursor<'_>) -> ParseResult<Section> {
    c.byte(b'[', "expected [")?;
    if c.take(b']') {
        return Ok(Section::Full);
    }
    let section = if c.peek().is_some_and(|b| b.is_ascii_digit()) {
        let mut part = vec![c.nz_number()?];
        let mut text = None;
        while c.take(b'.') {
            if c.peek().is_some_and(|b| b.is_ascii_digit()) {
                part.push(c.nz_number()?);
            } else {
                text = Some(parse_section_text(c, true)?);
                break;
            }
        }
        Section::Part(part, text)
    } else {
        Section::Text(parse_section_text(c, false)?)
    };
    c.byte(b']', "expected ]")?;
    Ok(section)
}

/// `section-msgtext` or, after a part number, `section-text` (which adds MIME).
fn parse_section_text(c: &mut Cursor<'_>, after_part: bool) -> ParseResult<SectionText> {
    let word = c.take_while(|b| b.is_ascii_alphabetic() || b == b'.').to_ascii_uppercase();
    let text = match word.as_slice() {
        b"HEADER" => SectionText::Header,
        b"TEXT" => SectionText::Text,
        b"MIME" if after_part => SectionText::Mime,
        b"HEADER.FIELDS" => SectionText::HeaderFields(parse_header_list(c)?),
        b"HEADER.FIELDS.NOT" => SectionText::HeaderFieldsNot(parse_header_list(c)?),
        _ => return Err(ParseError::syntax("unknown section")),
    };
    Ok(text)
}

/// `SP "(" header-fld-name *(SP header-fld-name) ")"`.
fn parse_header_list(c: &mut Cursor<'_>) -> ParseResult<Vec<String>> {
    c.sp()?;
    c.byte(b'(', "expected header field list")?;
    let mut names = Vec::new();
    loop {
        names.push(utf8(c.astring()?)?);
        if c.take(b')') {
            return Ok(names);
        }
        c.sp()?;
    }
}

/// `section-binary = "[" [section-part] "]"` (RFC 3516 §6).
fn parse_binary_part(c: &mut Cursor<'_>) -> ParseResult<Vec<u32>> {
    c.byte(b'[', "expected [")?;
    let mut part = Vec::new();
    if !c.take(b']') {
        loop {
            part.push(c.nz_number()?);
            if !c.take(b'.') {
                break;
            }
        }
        c.byte(b']', "expected ]")?;
    }
    Ok(part)
}

/// `["<" number "." nz-number ">"]`.
fn parse_partial(c: &mut Cursor<'_>) -> ParseResult<Option<Partial>> {
    if !c.take(b'<') {
        return Ok(None);
    }
    let offset = c.number()?;
    c.byte(b'.', "expected . in partial")?;
    let length = c.nz_number()?;
    c.byte(b'>', "expected > after partial")?;
    Ok(Some(Partial { offset, length }))
}

/// `"(" fetch-modifier *(SP fetch-modifier) ")"` (RFC 7162 §3.1.4.1, §3.2.6, PARTIAL
/// RFC 9394 §3.2).
fn parse_fetch_modifiers(c: &mut Cursor<'_>, uid: bool) -> ParseResult<Vec<FetchModifier>> {
    c.byte(b'(', "expected fetch modifiers")?;
    let mut modifiers = Vec::new();
    let mut changed_since = false;
    loop {
        let name = c.atom()?.to_ascii_uppercase();
        match name.as_str() {
            "CHANGEDSINCE" if !changed_since => {
                c.sp()?;
                modifiers.push(FetchModifier::ChangedSince(c.modseq()?));
                changed_since = true;
            }
            "VANISHED" if !modifiers.contains(&FetchModifier::Vanished) => {
                modifiers.push(FetchModifier::Vanished);
            }
            "PARTIAL" if !modifiers.iter().any(|m| matches!(m, FetchModifier::Partial(_))) => {
                c.sp()?;
                modifiers.push(FetchModifier::Partial(super::search::parse_partial_range(c)?));
            }
            _ => return Err(ParseError::syntax("unknown or repeated fetch modifier")),
        }
        if c.take(b')') {
            break;
        }
        c.sp()?;
    }
    // RFC 7162 §3.2.6: VANISHED only in UID FETCH, and only with CHANGEDSINCE.
    if modifiers.contains(&FetchModifier::Vanished) && !(uid && changed_since) {
        return Err(ParseError::syntax("VANISHED needs UID FETCH with CHANGEDSINCE"));
    }
    Ok(modifiers)
}

/// `STORE SP sequence-set [SP "(" UNCHANGEDSINCE SP mod-sequence-valzer ")"] SP
/// (["+" / "-"] "FLAGS" [".SILENT"]) SP (flag-list / flag *(SP flag))`.
pub(super) fn parse_store(c: &mut Cursor<'_>, uid: bool) -> ParseResult<CommandBody> {
    c.sp()?;
    let set = c.sequence_set(true)?;
    c.sp()?;
    let mut unchanged_since = None;
    if c.take(b'(') {
        if !c.keyword("UNCHANGEDSINCE") {
            return Err(ParseError::syntax("unknown store modifier"));
        }
        c.sp()?;
        unchanged_since = Some(c.number64()?);
        c.byte(b')', "expected ) after store modifier")?;
        c.sp()?;
    }
    let item = c.atom()?.to_ascii_uppercase();
    let (mode, rest) = match item.as_bytes().first() {
        Some(b'+') => (StoreMode::Add, &item[1..]),
        Some(b'-') => (StoreMode::Remove, &item[1..]),
        _ => (StoreMode::Replace, &item[..]),
    };
    let silent = match rest {
        "FLAGS" => false,
        "FLAGS.SILENT" => true,
        _ => return Err(ParseError::syntax("expected FLAGS, +FLAGS or -FLAGS")),
    };
    c.sp()?;
    let flags = if c.peek() == Some(b'(') {
        c.flag_list()?
    } else {
        let mut flags = vec![c.flag()?];
        while c.take(b' ') {
            flags.push(c.flag()?);
        }
        flags
    };
    Ok(CommandBody::Store { uid, set, mode, silent, flags, unchanged_since })
}
