//! FETCH and UID FETCH (RFC 9051 §6.4.5, §7.5.2; RFC 3516 BINARY; RFC 7162 CHANGEDSINCE
//! and MODSEQ; RFC 8514 SAVEDATE): the plan of a FETCH and the writing of one message's
//! response.
//!
//! A [`FetchPlan`] says what the storage side must provide per message: the index facts
//! always, the MIME summary when an item needs it ([`FetchPlan::needs_summary`]), and
//! which byte ranges of the file must be in memory ([`FetchPlan::reads`]: header blocks
//! for HEADER.FIELDS, encoded part bodies for BINARY, and the whole file when it is small).
//! Everything else that comes from the file is queued as a file range
//! ([`super::Output::File`]) for the caller to send (sendfile on plaintext). One function,
//! [`write_message`], writes every item, whatever the path.
//!
//! Invariants: message data is always a literal, empty or not (RFC 9051 §7.5.2 allows a
//! quoted string, but some clients cannot parse one there); a literal's length is known
//! before its header is written; memory per message is the plan's reads, which are
//! bounded by the message's size (small files) or by what HEADER.FIELDS and BINARY of an
//! encoded part need.

use std::ops::Range;

use super::error::CommandError;
use super::facts::{FetchMessage, SystemFlags};
use super::output::{OUTPUT_BUDGET_BYTES, OutputQueue};
use crate::imap::datetime::DateTime;
use crate::imap::response::{
    ResponseCode, write_fetch_body_structure, write_fetch_close, write_fetch_date, write_fetch_envelope,
    write_fetch_flag_names, write_fetch_literal_header, write_fetch_modseq, write_fetch_number,
    write_fetch_open, write_fetch_separator, write_fetch_uid, write_section_name,
};
use crate::imap::types::{FetchAttr, Flag, Partial, Section, SectionText};
use crate::mime::{self, MessageSummary, SectionKind};

/// Message files up to this size are read whole into memory when a FETCH needs any of
/// their content, and their data written from there: one read per message instead of a
/// sendfile round trip per item (past the output budget, repeated items still go out
/// from the file). Larger ones are sent from the file. 64 KiB holds most mail; a chunk
/// of [`FETCH_CHUNK_MAX`] such messages is at most 4 MiB in flight.
pub const FETCH_INLINE_BYTES_MAX: u64 = 64 * 1024;

/// Messages the storage side loads per FETCH chunk (records, summaries, small files):
/// bounds what one FETCH holds in memory (see [`FETCH_INLINE_BYTES_MAX`]) and the files
/// it opens at once.
pub const FETCH_CHUNK_MAX: usize = 64;

/// Messages per chunk when the plan needs only index facts (FLAGS, UID, sizes, dates,
/// MODSEQ): each costs a record lookup and a few dozen bytes of output, so a chunk is
/// one read transaction of modest length.
pub const FETCH_INDEX_CHUNK_MAX: usize = 512;

/// What a FETCH needs and writes.
#[derive(Debug, Clone)]
pub struct FetchPlan {
    attrs: Vec<FetchAttr>,
    changed_since: Option<u64>,
    marks_seen: bool,
    needs_summary: bool,
    needs_file: bool,
    index_only: bool,
}

impl FetchPlan {
    /// A plan for `attrs` (UID already added for UID FETCH, MODSEQ for CHANGEDSINCE).
    /// `read_only`: EXAMINE, no implicit `\Seen`.
    pub(crate) fn new(attrs: Vec<FetchAttr>, changed_since: Option<u64>, read_only: bool) -> FetchPlan {
        let marks_seen = !read_only && attrs.iter().any(sets_seen);
        let needs_summary = attrs.iter().any(needs_summary);
        let needs_file = attrs.iter().any(reads_file);
        let index_only = attrs.iter().all(from_index);
        FetchPlan { attrs, changed_since, marks_seen, needs_summary, needs_file, index_only }
    }

    /// Only index facts are needed: no summary, no file.
    pub fn index_only(&self) -> bool {
        self.index_only
    }

    /// Some item reads the message file (sections, BINARY, RFC822*); otherwise the
    /// index facts and the summary answer everything.
    pub fn needs_file(&self) -> bool {
        self.needs_file
    }

    /// The MIME summary is needed.
    pub fn needs_summary(&self) -> bool {
        self.needs_summary
    }

    /// Whether a message with a file of `file_bytes` needs its summary: for the items
    /// that show the structure, and to find the ranges [`FetchPlan::reads`] takes from
    /// a file too large to load whole.
    pub fn needs_summary_for(&self, file_bytes: u64) -> bool {
        self.needs_summary || (self.needs_file && file_bytes > FETCH_INLINE_BYTES_MAX)
    }

    /// CHANGEDSINCE (RFC 7162 §3.1.4.1): only messages with a larger modseq are written.
    pub fn changed_since(&self) -> Option<u64> {
        self.changed_since
    }

    /// FLAGS is one of the items.
    pub(crate) fn shows_flags(&self) -> bool {
        self.attrs.contains(&FetchAttr::Flags)
    }

    /// The items set `\Seen` (RFC 9051 §6.4.5) and the mailbox is writable.
    pub(crate) fn marks_seen(&self) -> bool {
        self.marks_seen
    }

    /// The ranges of a message file (of `file_bytes` bytes, with `summary`) that must be
    /// in memory: the whole file when it is at most [`FETCH_INLINE_BYTES_MAX`] and any
    /// content is needed; otherwise the header blocks HEADER.FIELDS filters and the
    /// encoded bodies BINARY decodes. Other content goes out as file ranges.
    pub fn reads(&self, file_bytes: u64, summary: Option<&MessageSummary>) -> Vec<Range<u64>> {
        if !self.needs_file {
            return Vec::new();
        }
        if file_bytes <= FETCH_INLINE_BYTES_MAX {
            return std::iter::once(0..file_bytes).collect();
        }
        let Some(summary) = summary else { return Vec::new() };
        let mut ranges = Vec::new();
        for attr in &self.attrs {
            match attr {
                FetchAttr::BodySection { section, .. } => {
                    if let Some(range) = header_fields_range(summary, section) {
                        ranges.push(range);
                    }
                }
                FetchAttr::Binary { part, .. } | FetchAttr::BinarySize { part } => {
                    if let Some(found) = mime::section_part(summary, part)
                        && !is_identity(&found.encoding)
                        && found.children.is_empty()
                    {
                        ranges.push(found.body.clone());
                    }
                }
                _ => {}
            }
        }
        ranges.sort_by_key(|range| (range.start, range.end));
        ranges.dedup();
        ranges
    }
}

/// The header block a HEADER.FIELDS section filters.
fn header_fields_range(summary: &MessageSummary, section: &Section) -> Option<Range<u64>> {
    match section {
        Section::Text(SectionText::HeaderFields(_) | SectionText::HeaderFieldsNot(_)) => {
            Some(summary.root.header.clone())
        }
        Section::Part(path, Some(SectionText::HeaderFields(_) | SectionText::HeaderFieldsNot(_))) => {
            mime::section_range(summary, path, SectionKind::Header)
        }
        _ => None,
    }
}

/// Items answered from the index record alone.
fn from_index(attr: &FetchAttr) -> bool {
    matches!(
        attr,
        FetchAttr::Uid
            | FetchAttr::Flags
            | FetchAttr::InternalDate
            | FetchAttr::Rfc822Size
            | FetchAttr::ModSeq
            | FetchAttr::SaveDate
    )
}

/// Items whose data comes from the message file.
fn reads_file(attr: &FetchAttr) -> bool {
    matches!(
        attr,
        FetchAttr::Rfc822
            | FetchAttr::Rfc822Header
            | FetchAttr::Rfc822Text
            | FetchAttr::BodySection { .. }
            | FetchAttr::Binary { .. }
            | FetchAttr::BinarySize { .. }
    )
}

fn needs_summary(attr: &FetchAttr) -> bool {
    match attr {
        FetchAttr::Envelope
        | FetchAttr::Body
        | FetchAttr::BodyStructure
        | FetchAttr::Rfc822Header
        | FetchAttr::Rfc822Text => true,
        FetchAttr::BodySection { section, .. } => !matches!(section, Section::Full),
        FetchAttr::Binary { part, .. } | FetchAttr::BinarySize { part } => !part.is_empty(),
        _ => false,
    }
}

/// RFC 9051 §6.4.5: BODY[...] (not PEEK), BINARY[...] (not PEEK), RFC822 and RFC822.TEXT
/// set `\Seen`.
fn sets_seen(attr: &FetchAttr) -> bool {
    matches!(
        attr,
        FetchAttr::BodySection { peek: false, .. }
            | FetchAttr::Binary { peek: false, .. }
            | FetchAttr::Rfc822
            | FetchAttr::Rfc822Text
    )
}

/// Content-transfer-encodings that BINARY returns unchanged.
fn is_identity(encoding: &[u8]) -> bool {
    let encoding = encoding.trim_ascii();
    encoding.is_empty()
        || [&b"7bit"[..], b"8bit", b"binary"].iter().any(|name| encoding.eq_ignore_ascii_case(name))
}

/// How one message is written, beside its data.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MessageContext {
    pub(crate) seq: u32,
    /// The message is `\Recent` in this session (IMAP4rev1).
    pub(crate) recent: bool,
    /// This FETCH just set `\Seen` on it: FLAGS goes into the response even when not
    /// asked for (RFC 9051 §6.4.5 implicit `\Seen`, RFC 3501 §6.4.5).
    pub(crate) seen_now: bool,
}

/// A piece of item data: bytes, or a range of the message file.
enum Piece<'a> {
    Memory(Vec<u8>),
    Slice(&'a [u8]),
    File(Range<u64>),
}

impl Piece<'_> {
    fn len(&self) -> u64 {
        match self {
            Piece::Memory(bytes) => bytes.len() as u64,
            Piece::Slice(bytes) => bytes.len() as u64,
            Piece::File(range) => range.end - range.start,
        }
    }
}

/// Writes `* seq FETCH (...)` for one message (see the module doc). The items come in
/// the order asked, FLAGS first when it was added for an implicit `\Seen`.
pub(crate) fn write_message(
    out: &mut OutputQueue,
    plan: &FetchPlan,
    message: &FetchMessage<'_>,
    context: MessageContext,
) -> Result<(), CommandError> {
    let facts = &message.facts;
    write_fetch_open(out.buf(), context.seq);
    let mut first = true;
    let mut separate = |out: &mut OutputQueue| {
        if !std::mem::take(&mut first) {
            write_fetch_separator(out.buf());
        }
    };
    let flags_asked = plan.attrs.contains(&FetchAttr::Flags);
    if context.seen_now && !flags_asked {
        separate(out);
        write_flags_item(out, message, context);
    }
    for attr in &plan.attrs {
        separate(out);
        match attr {
            FetchAttr::Uid => write_fetch_uid(out.buf(), facts.uid),
            FetchAttr::Flags => write_flags_item(out, message, context),
            FetchAttr::ModSeq => write_fetch_modseq(out.buf(), facts.modseq),
            FetchAttr::InternalDate => {
                write_fetch_date(out.buf(), b"INTERNALDATE", &date(facts.internal_date_ms))
            }
            FetchAttr::SaveDate => write_fetch_date(out.buf(), b"SAVEDATE", &date(facts.save_date_ms)),
            FetchAttr::Rfc822Size => write_fetch_number(out.buf(), b"RFC822.SIZE", facts.served_size()),
            FetchAttr::Envelope => write_fetch_envelope(out.buf(), &summary(message)?.envelope),
            FetchAttr::Body | FetchAttr::BodyStructure => {
                let extension = matches!(attr, FetchAttr::BodyStructure);
                write_fetch_body_structure(out.buf(), &summary(message)?.root, extension);
            }
            FetchAttr::Rfc822 => write_section(out, message, b"RFC822", &Section::Full, None)?,
            FetchAttr::Rfc822Header => {
                write_section(out, message, b"RFC822.HEADER", &Section::Text(SectionText::Header), None)?;
            }
            FetchAttr::Rfc822Text => {
                write_section(out, message, b"RFC822.TEXT", &Section::Text(SectionText::Text), None)?;
            }
            FetchAttr::BodySection { section, partial, .. } => {
                let mut name = Vec::new();
                write_section_name(&mut name, "BODY", section, partial.map(|p| p.offset));
                write_section(out, message, &name, section, *partial)?;
            }
            FetchAttr::Binary { part, partial, .. } => write_binary(out, message, part, *partial)?,
            FetchAttr::BinarySize { part } => {
                let size = binary_size(message, part)?;
                let mut name = Vec::new();
                write_section_name(&mut name, "BINARY.SIZE", &Section::Part(part.clone(), None), None);
                if part.is_empty() {
                    name = b"BINARY.SIZE[]".to_vec();
                }
                write_fetch_number(out.buf(), &name, size);
            }
        }
    }
    write_fetch_close(out.buf());
    Ok(())
}

fn write_flags_item(out: &mut OutputQueue, message: &FetchMessage<'_>, context: MessageContext) {
    let facts = &message.facts;
    let system =
        SystemFlags::named().into_iter().filter(|(bit, _)| facts.flags.contains(*bit)).map(|(_, flag)| flag);
    let system: Vec<Flag> = system.collect();
    let recent = context.recent.then_some("\\Recent");
    let names = system.iter().map(Flag::as_str).chain(recent).chain(facts.keywords.iter().copied());
    write_fetch_flag_names(out.buf(), names);
}

fn date(ms: i64) -> DateTime {
    DateTime { unix_secs: ms.div_euclid(1000), offset_minutes: 0 }
}

fn summary<'a>(message: &FetchMessage<'a>) -> Result<&'a MessageSummary, CommandError> {
    message.summary.ok_or(CommandError::Internal)
}

/// The loaded bytes covering `range`, if the caller loaded them.
fn loaded<'a>(message: &FetchMessage<'a>, range: &Range<u64>) -> Option<&'a [u8]> {
    message.loaded.iter().find_map(|&(offset, bytes)| {
        let end = offset.checked_add(bytes.len() as u64)?;
        if offset <= range.start && range.end <= end {
            let from = usize::try_from(range.start - offset).ok()?;
            let to = usize::try_from(range.end - offset).ok()?;
            bytes.get(from..to)
        } else {
            None
        }
    })
}

/// The pieces answering a section (RFC 9051 §6.4.5), `None` when the part does not
/// exist. The served message is the stored prefix followed by the file; only the
/// top-level header includes the prefix.
fn section_pieces<'a>(
    message: &FetchMessage<'a>,
    section: &Section,
) -> Result<Option<Vec<Piece<'a>>>, CommandError> {
    let prefix = message.facts.prefix;
    let size = message.facts.file_bytes;
    match section {
        Section::Full => Ok(Some(vec![Piece::Slice(prefix), Piece::File(0..size)])),
        Section::Text(text) => {
            let root = &summary(message)?.root;
            match text {
                SectionText::Header => Ok(Some(vec![Piece::Slice(prefix), Piece::File(root.header.clone())])),
                SectionText::Text => Ok(Some(vec![Piece::File(root.body.clone())])),
                SectionText::HeaderFields(names) | SectionText::HeaderFieldsNot(names) => {
                    let block = loaded(message, &root.header).ok_or(CommandError::Internal)?;
                    let mut header = prefix.to_vec();
                    header.extend_from_slice(block);
                    let not = matches!(text, SectionText::HeaderFieldsNot(_));
                    Ok(Some(vec![Piece::Memory(mime::header_fields(&header, names, not))]))
                }
                SectionText::Mime => Err(CommandError::bad("MIME needs a part number")),
            }
        }
        Section::Part(path, text) => {
            let kind = match text {
                None => SectionKind::Full,
                Some(
                    SectionText::Header | SectionText::HeaderFields(_) | SectionText::HeaderFieldsNot(_),
                ) => SectionKind::Header,
                Some(SectionText::Text) => SectionKind::Text,
                Some(SectionText::Mime) => SectionKind::Mime,
            };
            let Some(range) = mime::section_range(summary(message)?, path, kind) else { return Ok(None) };
            match text {
                Some(SectionText::HeaderFields(names) | SectionText::HeaderFieldsNot(names)) => {
                    let block = loaded(message, &range).ok_or(CommandError::Internal)?;
                    let not = matches!(text, Some(SectionText::HeaderFieldsNot(_)));
                    Ok(Some(vec![Piece::Memory(mime::header_fields(block, names, not))]))
                }
                _ => Ok(Some(vec![Piece::File(range)])),
            }
        }
    }
}

/// `<offset.length>` (RFC 9051 §6.4.5): the bytes from offset, at most length of them.
fn apply_partial(pieces: Vec<Piece<'_>>, partial: Option<Partial>) -> Vec<Piece<'_>> {
    let Some(partial) = partial else { return pieces };
    let (mut skip, mut take) = (u64::from(partial.offset), u64::from(partial.length));
    let mut out = Vec::new();
    for piece in pieces {
        if take == 0 {
            break;
        }
        let length = piece.len();
        if skip >= length {
            skip -= length;
            continue;
        }
        let count = (length - skip).min(take);
        // Both bounds lie within the piece: skip < length and count <= length - skip.
        let (from, to) = (skip as usize, (skip + count) as usize);
        out.push(match piece {
            Piece::Memory(bytes) => Piece::Memory(bytes.get(from..to).unwrap_or_default().to_vec()),
            Piece::Slice(bytes) => Piece::Slice(bytes.get(from..to).unwrap_or_default()),
            Piece::File(range) => Piece::File(range.start + skip..range.start + skip + count),
        });
        take -= count;
        skip = 0;
    }
    out
}

/// Writes `name {n}` CRLF and the pieces: memory as bytes, file ranges from the loaded
/// file when the caller has it in memory (within the output budget), else as file
/// segments.
fn write_pieces(
    out: &mut OutputQueue,
    message: &FetchMessage<'_>,
    name: &[u8],
    pieces: Vec<Piece<'_>>,
    binary: bool,
) {
    let length: u64 = pieces.iter().map(Piece::len).sum();
    write_fetch_literal_header(out.buf(), name, length, binary);
    for piece in pieces {
        match piece {
            Piece::Memory(bytes) => out.buf().extend_from_slice(&bytes),
            Piece::Slice(bytes) => out.buf().extend_from_slice(bytes),
            // Loaded bytes are copied while the response stays within the output budget;
            // past it (the same section asked for again and again) they go out from the
            // file like any large range, so one message's response holds at most about
            // the budget in memory.
            Piece::File(range) => match loaded(message, &range) {
                Some(bytes) if out.queued_bytes() + bytes.len() <= OUTPUT_BUDGET_BYTES => {
                    out.buf().extend_from_slice(bytes);
                }
                _ => out.file(message.file, range.start, range.end - range.start),
            },
        }
    }
}

fn write_section(
    out: &mut OutputQueue,
    message: &FetchMessage<'_>,
    name: &[u8],
    section: &Section,
    partial: Option<Partial>,
) -> Result<(), CommandError> {
    // A part that does not exist is empty (RFC 9051 §6.4.5 leaves it open; an empty
    // literal is what clients parse best).
    let pieces = section_pieces(message, section)?.unwrap_or_default();
    write_pieces(out, message, name, apply_partial(pieces, partial), false);
    Ok(())
}

/// The bytes of a part's body without its transfer encoding, and whether they are the
/// file's bytes unchanged (then sent from the file).
enum Decoded {
    /// The body range, and whether it may hold NUL (labelled `binary`).
    Unchanged(Range<u64>, bool),
    Bytes(Vec<u8>),
}

fn decoded_part(message: &FetchMessage<'_>, part: &[u32]) -> Result<Decoded, CommandError> {
    let found =
        mime::section_part(summary(message)?, part).ok_or_else(|| CommandError::bad("no such part"))?;
    if !found.children.is_empty() {
        return Err(CommandError::bad("BINARY of a multipart part"));
    }
    if is_identity(&found.encoding) {
        let binary = found.encoding.trim_ascii().eq_ignore_ascii_case(b"binary");
        return Ok(Decoded::Unchanged(found.body.clone(), binary));
    }
    let body = loaded(message, &found.body).ok_or(CommandError::Internal)?;
    mime::decode_body(body, &found.encoding)
        .map(Decoded::Bytes)
        .map_err(|_| CommandError::no(ResponseCode::UnknownCte, "unknown content-transfer-encoding"))
}

/// BINARY[part] (RFC 3516 §4.2): the part's body without its transfer encoding;
/// BINARY[] is the whole message as it is.
fn write_binary(
    out: &mut OutputQueue,
    message: &FetchMessage<'_>,
    part: &[u32],
    partial: Option<Partial>,
) -> Result<(), CommandError> {
    let mut name = Vec::new();
    write_section_name(&mut name, "BINARY", &Section::Part(part.to_vec(), None), partial.map(|p| p.offset));
    if part.is_empty() {
        name.clear();
        write_section_name(&mut name, "BINARY", &Section::Full, partial.map(|p| p.offset));
        let pieces = vec![Piece::Slice(message.facts.prefix), Piece::File(0..message.facts.file_bytes)];
        write_pieces(out, message, &name, apply_partial(pieces, partial), false);
        return Ok(());
    }
    let (pieces, labelled_binary) = match decoded_part(message, part)? {
        Decoded::Unchanged(range, binary) => (vec![Piece::File(range)], binary),
        Decoded::Bytes(bytes) => (vec![Piece::Memory(bytes)], false),
    };
    let pieces = apply_partial(pieces, partial);
    // literal8 (RFC 3516 §4.3) when the data may hold NUL: bytes in memory are checked;
    // a body sent from the file is 7bit/8bit (no NUL, RFC 2045 §2.7) unless labelled
    // binary.
    let binary = pieces.iter().any(|piece| match piece {
        Piece::Memory(bytes) => bytes.contains(&0),
        Piece::Slice(bytes) => bytes.contains(&0),
        Piece::File(range) => loaded(message, range).map_or(labelled_binary, |bytes| bytes.contains(&0)),
    });
    write_pieces(out, message, &name, pieces, binary);
    Ok(())
}

/// BINARY.SIZE[part] (RFC 3516 §4.2): the decoded size.
fn binary_size(message: &FetchMessage<'_>, part: &[u32]) -> Result<u64, CommandError> {
    if part.is_empty() {
        return Ok(message.facts.served_size());
    }
    Ok(match decoded_part(message, part)? {
        Decoded::Unchanged(range, _) => range.end - range.start,
        Decoded::Bytes(bytes) => bytes.len() as u64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::server::facts::{MessageFacts, SystemFlags};

    #[test]
    fn a_section_asked_again_and_again_stays_within_the_budget() {
        // issue 10: `FETCH n (BODY.PEEK[] BODY.PEEK[] ...)` must not copy the message once
        // per item into memory.
        let body = vec![b'x'; 40 * 1024];
        let item = FetchAttr::BodySection { peek: true, section: Section::Full, partial: None };
        let plan = FetchPlan::new(vec![item; 100], None, true);
        assert_eq!(plan.reads(body.len() as u64, None), vec![0..body.len() as u64]);
        let loaded = [(0, body.as_slice())];
        let message = FetchMessage {
            facts: MessageFacts {
                uid: 1,
                modseq: 1,
                flags: SystemFlags::default(),
                keywords: &[],
                internal_date_ms: 0,
                save_date_ms: 0,
                file_bytes: body.len() as u64,
                prefix: &[],
            },
            summary: None,
            loaded: &loaded,
            file: 7,
        };
        let mut out = OutputQueue::default();
        let context = MessageContext { seq: 1, recent: false, seen_now: false };
        assert!(write_message(&mut out, &plan, &message, context).is_ok());
        assert!(out.queued_bytes() <= OUTPUT_BUDGET_BYTES + 100 * 32, "{} bytes held", out.queued_bytes());
        let mut sent = 0u64;
        while let Some(output) = out.pending() {
            let n = match output {
                super::super::Output::Bytes(bytes) => bytes.len() as u64,
                super::super::Output::File { file, length, .. } => {
                    assert_eq!(file, 7);
                    length
                }
            };
            sent += n;
            out.advance(n);
        }
        assert!(sent > 100 * 40 * 1024, "every item is sent whole");
    }
}
