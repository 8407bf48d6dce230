//! FETCH and UID FETCH (RFC 9051 §6.4.5, §7.5.2; RFC 3516 BINARY; RFC 7162 CHANGEDSINCE
//! and MODSEQ; RFC 8514 SAVEDATE): the plan of a FETCH and the writing of one message's
//! response.
//!
//! A [`FetchPlan`] says what the storage side must provide per message: the index facts
//! always, the MIME summary when an item needs it ([`FetchPlan::needs_summary`]), and
//! which byte ranges of the file it loads into memory ([`FetchPlan::reads`]: the whole
//! file when it is small, else the small header blocks HEADER.FIELDS filters and the
//! small encoded bodies BINARY decodes, at most [`FETCH_INLINE_BYTES_MAX`] in all).
//! Everything else that comes from the file is queued as a file range
//! ([`super::Output::File`]) for the caller to send (sendfile on plaintext), or, when it
//! must be decoded or filtered and is not in memory (or would not fit the output budget),
//! as a transform ([`super::transform`]) that the caller feeds the file a piece at a
//! time. One function, [`write_message`], writes every item, whatever the path.
//!
//! Invariants: message data is always a literal, empty or not (RFC 9051 §7.5.2 allows a
//! quoted string, but some clients cannot parse one there); a literal's length is known
//! before its header is written; memory per message is the plan's reads (at most
//! [`FETCH_INLINE_BYTES_MAX`]), one output budget and one small state per item; the work
//! done in memory per message is at most [`MESSAGE_WORK_BYTES_MAX`] of input, the rest
//! waits as transforms for the client to read.

use std::ops::Range;

use super::error::CommandError;
use super::facts::{FetchMessage, SystemFlags};
use super::objectid;
use super::output::{OUTPUT_BUDGET_BYTES, OutputQueue};
use super::transform::{Transform, TransformKind};
use crate::imap::datetime::DateTime;
use crate::imap::response::{
    ResponseCode, write_fetch_body_structure, write_fetch_close, write_fetch_date, write_fetch_envelope,
    write_fetch_flag_names, write_fetch_literal_header, write_fetch_modseq, write_fetch_number,
    write_fetch_objectid, write_fetch_open, write_fetch_preview, write_fetch_separator, write_fetch_uid,
    write_section_name, write_uidfetch_open,
};
use crate::imap::types::{FetchAttr, Flag, Partial, Section, SectionText};
use crate::mime::{
    self, DecodeProgress, DecodedSize, HeaderFieldsFilter, MessageSummary, PartialDecoder, SectionKind,
    TransferEncoding,
};

/// Message files up to this size are read whole into memory when a FETCH needs any of
/// their content, and their data written from there: one read per message instead of a
/// sendfile round trip per item (past the output budget, repeated items still go out
/// from the file). Larger ones are sent from the file; of those, at most this much is
/// loaded: the header blocks and encoded bodies (each no larger than this) that
/// HEADER.FIELDS and BINARY need. 64 KiB holds most mail; a chunk of
/// [`FETCH_CHUNK_MAX`] messages holds at most 4 MiB of file data.
pub const FETCH_INLINE_BYTES_MAX: u64 = 64 * 1024;

/// Input decoded or filtered in memory per message while its response is written (the
/// BINARY and HEADER.FIELDS items of loaded data); items past it become transforms,
/// produced as the client reads. Without it, `BINARY.SIZE[1]` repeated 3,000 times would
/// decode a loaded 64 KiB part 3,000 times in one call. One output budget's worth.
pub const MESSAGE_WORK_BYTES_MAX: u64 = OUTPUT_BUDGET_BYTES as u64;

/// Messages the storage side loads per FETCH chunk (records, summaries, small files):
/// bounds what one FETCH holds in memory (see [`FETCH_INLINE_BYTES_MAX`]) and the files
/// it opens at once.
pub const FETCH_CHUNK_MAX: usize = 64;

/// Messages per chunk when the plan needs only index facts (FLAGS, UID, sizes, dates,
/// MODSEQ): each costs a record lookup and a few dozen bytes of output, so a chunk is
/// one read transaction of modest length.
pub const FETCH_INDEX_CHUNK_MAX: usize = 512;

/// Most UIDs a CHANGEDSINCE FETCH asks the store for first (64 KiB of them): a client's
/// sync finds a handful; past this many changes the FETCH walks its whole set as it
/// would without CHANGEDSINCE (its output is that large anyway).
pub const CHANGED_SINCE_UIDS_MAX: usize = 16 * 1024;

/// Messages of the set a CHANGEDSINCE FETCH walks past without a match before it sends
/// an (empty) chunk anyway: the round trip is a yield, so a long walk never holds the
/// core (RFC 7162 §3.1.4 syncs of a 1M-message set take 32 of them).
pub const CHANGED_SINCE_WALK_MAX: usize = 32 * 1024;

/// What a FETCH needs and writes.
#[derive(Debug, Clone)]
pub struct FetchPlan {
    attrs: Vec<FetchAttr>,
    changed_since: Option<u64>,
    marks_seen: bool,
    needs_summary: bool,
    needs_file: bool,
    index_only: bool,
    computes_preview: bool,
}

impl FetchPlan {
    /// A plan for `attrs` (UID already added for UID FETCH, MODSEQ for CHANGEDSINCE).
    /// `read_only`: EXAMINE, no implicit `\Seen`.
    pub(crate) fn new(attrs: Vec<FetchAttr>, changed_since: Option<u64>, read_only: bool) -> FetchPlan {
        let marks_seen = !read_only && attrs.iter().any(sets_seen);
        let needs_summary = attrs.iter().any(needs_summary);
        let needs_file = attrs.iter().any(reads_file);
        let index_only = attrs.iter().all(from_index);
        let computes_preview = attrs.contains(&FetchAttr::Preview { lazy: false });
        FetchPlan {
            attrs,
            changed_since,
            marks_seen,
            needs_summary,
            needs_file,
            index_only,
            computes_preview,
        }
    }

    /// PREVIEW without LAZY is asked (RFC 8970): a summary stored without a
    /// preview (before summary format 3) must have it computed from the file
    /// ([`mime::preview_source`], a bounded read). With LAZY only, such a message
    /// answers NIL.
    pub fn computes_preview(&self) -> bool {
        self.computes_preview
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

    /// [`FetchPlan::reads`] is the whole file of `file_bytes` bytes, whatever its summary.
    pub fn reads_whole(&self, file_bytes: u64) -> bool {
        self.needs_file && file_bytes <= FETCH_INLINE_BYTES_MAX
    }

    /// The ranges of a message file (of `file_bytes` bytes, with `summary`) to load into
    /// memory: the whole file when it is at most [`FETCH_INLINE_BYTES_MAX`] and any
    /// content is needed; otherwise the header blocks HEADER.FIELDS filters and the
    /// encoded bodies BINARY decodes, each and all together at most
    /// [`FETCH_INLINE_BYTES_MAX`]. Other content goes out as file ranges or transforms.
    pub fn reads(&self, file_bytes: u64, summary: Option<&MessageSummary>) -> Vec<Range<u64>> {
        if !self.needs_file {
            return Vec::new();
        }
        if self.reads_whole(file_bytes) {
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
        let mut total = 0;
        ranges.retain(|range| {
            let length = range.end.saturating_sub(range.start);
            let fits = total + length <= FETCH_INLINE_BYTES_MAX;
            if fits {
                total += length;
            }
            fits
        });
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
            | FetchAttr::EmailId
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
        | FetchAttr::Rfc822Text
        | FetchAttr::ThreadId
        | FetchAttr::Preview { .. } => true,
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
    /// UIDONLY (RFC 9586 §3.3): `* uid UIDFETCH (...)`, without the UID item, which
    /// would repeat the number.
    pub(crate) uidfetch: Option<u32>,
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
    match context.uidfetch {
        Some(uid) => write_uidfetch_open(out.buf(), uid),
        None => write_fetch_open(out.buf(), context.seq),
    }
    let mut items = Items { out, message, work_left: MESSAGE_WORK_BYTES_MAX };
    let mut first = true;
    let mut separate = |out: &mut OutputQueue| {
        if !std::mem::take(&mut first) {
            write_fetch_separator(out.buf());
        }
    };
    let flags_asked = plan.attrs.contains(&FetchAttr::Flags);
    if context.seen_now && !flags_asked {
        separate(items.out);
        write_flags_item(items.out, message, context);
    }
    for attr in &plan.attrs {
        if context.uidfetch.is_some() && *attr == FetchAttr::Uid {
            continue;
        }
        separate(items.out);
        let out = &mut *items.out;
        match attr {
            FetchAttr::Uid => write_fetch_uid(out.buf(), facts.uid),
            FetchAttr::Flags => write_flags_item(out, message, context),
            FetchAttr::ModSeq => write_fetch_modseq(out.buf(), facts.modseq),
            FetchAttr::InternalDate => {
                write_fetch_date(out.buf(), b"INTERNALDATE", &date(facts.internal_date_ms))
            }
            FetchAttr::SaveDate => write_fetch_date(out.buf(), b"SAVEDATE", &date(facts.save_date_ms)),
            FetchAttr::Rfc822Size => write_fetch_number(out.buf(), b"RFC822.SIZE", facts.served_size()),
            FetchAttr::EmailId => {
                write_fetch_objectid(out.buf(), b"EMAILID", Some(&objectid::email_id(facts.email_id)));
            }
            FetchAttr::ThreadId => {
                let summary = summary(message)?;
                let id =
                    objectid::thread_id(&summary.envelope, summary.references.as_deref(), facts.email_id);
                write_fetch_objectid(out.buf(), b"THREADID", Some(&id));
            }
            FetchAttr::Preview { lazy } => {
                // RFC 8970: NIL only for LAZY; the caller computed every other one.
                let preview = summary(message)?.preview.as_deref();
                write_fetch_preview(out.buf(), if *lazy { preview } else { Some(preview.unwrap_or("")) });
            }
            FetchAttr::Envelope => write_fetch_envelope(out.buf(), &summary(message)?.envelope),
            FetchAttr::Body | FetchAttr::BodyStructure => {
                let extension = matches!(attr, FetchAttr::BodyStructure);
                write_fetch_body_structure(out.buf(), &summary(message)?.root, extension);
            }
            FetchAttr::Rfc822 => items.section(b"RFC822", &Section::Full, None)?,
            FetchAttr::Rfc822Header => {
                items.section(b"RFC822.HEADER", &Section::Text(SectionText::Header), None)?;
            }
            FetchAttr::Rfc822Text => {
                items.section(b"RFC822.TEXT", &Section::Text(SectionText::Text), None)?
            }
            FetchAttr::BodySection { section, partial, .. } => {
                let mut name = Vec::new();
                write_section_name(&mut name, "BODY", section, partial.map(|p| p.offset));
                items.section(&name, section, *partial)?;
            }
            FetchAttr::Binary { part, partial, .. } => items.binary(part, *partial)?,
            FetchAttr::BinarySize { part } => items.binary_size(part)?,
        }
    }
    write_fetch_close(items.out.buf());
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

/// The pieces answering a section (RFC 9051 §6.4.5) other than HEADER.FIELDS, `None`
/// when the part does not exist. The served message is the stored prefix followed by
/// the file; only the top-level header includes the prefix.
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
                SectionText::Header | SectionText::HeaderFields(_) | SectionText::HeaderFieldsNot(_) => {
                    Ok(Some(vec![Piece::Slice(prefix), Piece::File(root.header.clone())]))
                }
                SectionText::Text => Ok(Some(vec![Piece::File(root.body.clone())])),
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
            Ok(mime::section_range(summary(message)?, path, kind).map(|range| vec![Piece::File(range)]))
        }
    }
}

/// A piece of what a URL names: bytes of the stored delivery prefix, or a range of the
/// message file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlPiece {
    /// Bytes from the record (the delivery prefix, small).
    Bytes(Vec<u8>),
    /// A range of the message file.
    File(Range<u64>),
}

/// The pieces of a message, or of its section and partial range, that a URL names
/// (RFC 5092, for CATENATE RFC 4469 §3): the bytes `FETCH BODY.PEEK[section]<partial>`
/// serves, by the same code. `Ok(None)`: no such part. HEADER.FIELDS sections are
/// refused: they are filtered, not ranges of the message. `summary` is needed unless
/// `section` is `None`.
pub fn url_pieces(
    prefix: &[u8],
    file_bytes: u64,
    summary: Option<&MessageSummary>,
    section: Option<&Section>,
    partial: Option<Partial>,
) -> Result<Option<Vec<UrlPiece>>, CommandError> {
    let section = section.unwrap_or(&Section::Full);
    if header_fields_of(section).is_some() {
        return Ok(None);
    }
    let facts = super::facts::MessageFacts {
        uid: 0,
        modseq: 0,
        flags: SystemFlags::default(),
        keywords: &[],
        internal_date_ms: 0,
        save_date_ms: 0,
        file_bytes,
        prefix,
        email_id: 0,
    };
    let message = FetchMessage { facts, summary, loaded: &[], file: 0 };
    let Some(pieces) = section_pieces(&message, section)? else { return Ok(None) };
    let pieces = apply_partial(pieces, partial).into_iter().map(|piece| match piece {
        Piece::Memory(bytes) => UrlPiece::Bytes(bytes),
        Piece::Slice(bytes) => UrlPiece::Bytes(bytes.to_vec()),
        Piece::File(range) => UrlPiece::File(range),
    });
    Ok(Some(pieces.filter(|piece| !matches!(piece, UrlPiece::Bytes(b) if b.is_empty())).collect()))
}

/// HEADER.FIELDS (or .NOT) of a section: the field names, whether NOT, and whether the
/// delivery prefix comes before the block (the message's own header).
fn header_fields_of(section: &Section) -> Option<(&[String], bool, bool)> {
    match section {
        Section::Text(SectionText::HeaderFields(names)) => Some((names, false, true)),
        Section::Text(SectionText::HeaderFieldsNot(names)) => Some((names, true, true)),
        Section::Part(_, Some(SectionText::HeaderFields(names))) => Some((names, false, false)),
        Section::Part(_, Some(SectionText::HeaderFieldsNot(names))) => Some((names, true, false)),
        _ => None,
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

/// A window as (offset, most bytes), `None` for the whole.
fn window(partial: Option<Partial>) -> (u64, Option<u64>) {
    partial.map_or((0, None), |partial| (u64::from(partial.offset), Some(u64::from(partial.length))))
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

/// The items of one message being written: the output, the message, and the work left
/// to do in memory ([`MESSAGE_WORK_BYTES_MAX`]).
struct Items<'q, 'm, 'a> {
    out: &'q mut OutputQueue,
    message: &'m FetchMessage<'a>,
    work_left: u64,
}

impl Items<'_, '_, '_> {
    /// Loaded bytes of `range` to decode or filter in memory now, producing at most
    /// `most` output bytes; `None` when they are not loaded, the work allowance is spent
    /// or the output would pass the budget: then a transform does it.
    fn in_memory(&mut self, range: &Range<u64>, most: u64) -> Option<&[u8]> {
        let bytes = loaded(self.message, range)?;
        let work = bytes.len() as u64;
        let fits = self.out.queued_bytes() as u64 + most <= OUTPUT_BUDGET_BYTES as u64;
        if !fits || work > self.work_left {
            return None;
        }
        self.work_left -= work;
        Some(bytes)
    }

    fn section(
        &mut self,
        name: &[u8],
        section: &Section,
        partial: Option<Partial>,
    ) -> Result<(), CommandError> {
        if let Some((names, not, with_prefix)) = header_fields_of(section) {
            return self.header_fields(name, section, (names, not, with_prefix), partial);
        }
        // A part that does not exist is empty (RFC 9051 §6.4.5 leaves it open; an empty
        // literal is what clients parse best).
        let pieces = section_pieces(self.message, section)?.unwrap_or_default();
        write_pieces(self.out, self.message, name, apply_partial(pieces, partial), false);
        Ok(())
    }

    /// HEADER.FIELDS / HEADER.FIELDS.NOT: filtered in memory when the block is loaded
    /// and small enough, else by a transform reading the block from the file.
    fn header_fields(
        &mut self,
        name: &[u8],
        section: &Section,
        (names, not, with_prefix): (&[String], bool, bool),
        partial: Option<Partial>,
    ) -> Result<(), CommandError> {
        let message = self.message;
        let summary = summary(message)?;
        let block = match section {
            Section::Part(path, _) => mime::section_range(summary, path, SectionKind::Header),
            _ => Some(summary.root.header.clone()),
        };
        let Some(block) = block else {
            write_pieces(self.out, message, name, Vec::new(), false);
            return Ok(());
        };
        let prefix = if with_prefix { message.facts.prefix } else { &[] };
        // The filter's output is at most its input plus two line breaks.
        let most = prefix.len() as u64 + (block.end - block.start) + 4;
        if let Some(bytes) = self.in_memory(&block, most) {
            let mut data = Vec::new();
            let mut filter = HeaderFieldsFilter::new(names, not);
            filter.feed(prefix, &mut data);
            filter.feed(bytes, &mut data);
            filter.finish(&mut data);
            write_pieces(self.out, message, name, apply_partial(vec![Piece::Memory(data)], partial), false);
            return Ok(());
        }
        let (offset, length) = window(partial);
        let kind = TransformKind::Fields { name: name.to_vec(), names: names.to_vec(), not, offset, length };
        self.out.transform(Transform::new(message.file, prefix, block, kind));
        Ok(())
    }

    /// BINARY[part] (RFC 3516 §4.2): the part's body without its transfer encoding;
    /// BINARY[] is the whole message as it is.
    fn binary(&mut self, part: &[u32], partial: Option<Partial>) -> Result<(), CommandError> {
        let message = self.message;
        let mut name = Vec::new();
        if part.is_empty() {
            write_section_name(&mut name, "BINARY", &Section::Full, partial.map(|p| p.offset));
            let pieces = vec![Piece::Slice(message.facts.prefix), Piece::File(0..message.facts.file_bytes)];
            write_pieces(self.out, message, &name, apply_partial(pieces, partial), false);
            return Ok(());
        }
        write_section_name(
            &mut name,
            "BINARY",
            &Section::Part(part.to_vec(), None),
            partial.map(|p| p.offset),
        );
        let (body, encoding, labelled_binary) = encoded_part(message, part)?;
        if encoding == TransferEncoding::Identity {
            // literal8 (RFC 3516 §4.3) when the data may hold NUL: loaded bytes are
            // checked; a body sent from the file is 7bit/8bit (no NUL, RFC 2045 §2.7)
            // unless labelled binary.
            let pieces = apply_partial(vec![Piece::File(body)], partial);
            let binary = pieces.iter().any(|piece| match piece {
                Piece::File(range) => {
                    loaded(message, range).map_or(labelled_binary, |bytes| bytes.contains(&0))
                }
                Piece::Memory(bytes) => bytes.contains(&0),
                Piece::Slice(bytes) => bytes.contains(&0),
            });
            write_pieces(self.out, message, &name, pieces, binary);
            return Ok(());
        }
        let (offset, length) = window(partial);
        // Decoding never makes data longer than its encoded form.
        let most = (body.end - body.start).min(length.unwrap_or(u64::MAX));
        if let Some(bytes) = self.in_memory(&body, most) {
            let mut data = Vec::new();
            let mut decoder = PartialDecoder::new(encoding, offset, length);
            if decoder.decode(bytes, &mut data) == DecodeProgress::NeedMore {
                decoder.finish(&mut data);
            }
            let binary = data.contains(&0);
            write_pieces(self.out, message, &name, vec![Piece::Memory(data)], binary);
            return Ok(());
        }
        let kind = TransformKind::Binary { name, encoding, offset, length };
        self.out.transform(Transform::new(message.file, &[], body, kind));
        Ok(())
    }

    /// BINARY.SIZE[part] (RFC 3516 §4.2): the decoded size.
    fn binary_size(&mut self, part: &[u32]) -> Result<(), CommandError> {
        let message = self.message;
        let mut name = Vec::new();
        write_section_name(&mut name, "BINARY.SIZE", &Section::Part(part.to_vec(), None), None);
        if part.is_empty() {
            write_fetch_number(self.out.buf(), b"BINARY.SIZE[]", message.facts.served_size());
            return Ok(());
        }
        let (body, encoding, _) = encoded_part(message, part)?;
        if encoding == TransferEncoding::Identity {
            write_fetch_number(self.out.buf(), &name, body.end - body.start);
            return Ok(());
        }
        if let Some(bytes) = self.in_memory(&body, 0) {
            let mut size = DecodedSize::new(encoding);
            size.feed(bytes);
            write_fetch_number(self.out.buf(), &name, size.finish());
            return Ok(());
        }
        let kind = TransformKind::BinarySize { name, encoding };
        self.out.transform(Transform::new(message.file, &[], body, kind));
        Ok(())
    }
}

/// A leaf part's body range, its transfer encoding, and whether it is labelled binary
/// (RFC 3516 §4.2: BINARY of a multipart is an error; an unknown encoding is
/// `NO [UNKNOWN-CTE]`, §4.3).
fn encoded_part(
    message: &FetchMessage<'_>,
    part: &[u32],
) -> Result<(Range<u64>, TransferEncoding, bool), CommandError> {
    let found =
        mime::section_part(summary(message)?, part).ok_or_else(|| CommandError::bad("no such part"))?;
    if !found.children.is_empty() {
        return Err(CommandError::bad("BINARY of a multipart part"));
    }
    let encoding = TransferEncoding::from_name(&found.encoding)
        .map_err(|_| CommandError::no(ResponseCode::UnknownCte, "unknown content-transfer-encoding"))?;
    let labelled_binary = found.encoding.trim_ascii().eq_ignore_ascii_case(b"binary");
    Ok((found.body.clone(), encoding, labelled_binary))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::server::Output;
    use crate::imap::server::facts::{MessageFacts, SystemFlags};

    fn message<'a>(
        file: &'a [u8],
        summary: Option<&'a MessageSummary>,
        loaded: &'a [(u64, &'a [u8])],
    ) -> FetchMessage<'a> {
        FetchMessage {
            facts: MessageFacts {
                uid: 1,
                modseq: 1,
                flags: SystemFlags::default(),
                keywords: &[],
                internal_date_ms: 0,
                save_date_ms: 0,
                file_bytes: file.len() as u64,
                prefix: &[],
                email_id: 7,
            },
            summary,
            loaded,
            file: 7,
        }
    }

    /// Writes everything queued, answering reads from `file`; returns what went out and
    /// the most response bytes the queue held at once.
    fn drain(out: &mut OutputQueue, file: &[u8]) -> (Vec<u8>, usize) {
        let mut sent = Vec::new();
        let mut held = out.queued_bytes();
        while let Some(output) = out.pending() {
            held = held.max(out.queued_bytes());
            match output {
                Output::Bytes(bytes) => {
                    let n = bytes.len() as u64;
                    sent.extend_from_slice(bytes);
                    out.advance(n);
                }
                Output::File { file: name, offset, length } => {
                    assert_eq!(name, 7);
                    sent.extend_from_slice(&file[offset as usize..(offset + length) as usize]);
                    out.advance(length);
                }
                Output::Read { file: name, offset, length } => {
                    assert_eq!(name, 7);
                    let end = (offset + length).min(file.len() as u64);
                    out.provide(&file[offset as usize..end as usize]);
                }
            }
        }
        (sent, held)
    }

    #[test]
    fn a_section_asked_again_and_again_stays_within_the_budget() {
        // issue 10: `FETCH n (BODY.PEEK[] BODY.PEEK[] ...)` must not copy the message once
        // per item into memory.
        let body = vec![b'x'; 40 * 1024];
        let item = FetchAttr::BodySection { peek: true, section: Section::Full, partial: None };
        let plan = FetchPlan::new(vec![item; 100], None, true);
        assert_eq!(plan.reads(body.len() as u64, None), vec![0..body.len() as u64]);
        let loaded = [(0, body.as_slice())];
        let mut out = OutputQueue::default();
        let context = MessageContext { seq: 1, recent: false, seen_now: false, uidfetch: None };
        assert!(write_message(&mut out, &plan, &message(&body, None, &loaded), context).is_ok());
        assert!(out.queued_bytes() <= OUTPUT_BUDGET_BYTES + 100 * 32, "{} bytes held", out.queued_bytes());
        let (sent, _) = drain(&mut out, &body);
        assert!(sent.len() > 100 * 40 * 1024, "every item is sent whole");
    }

    #[test]
    fn preview_of_a_summary_stored_without_one_is_nil_only_when_lazy() {
        let file = b"Subject: old\r\n\r\nold text\r\n";
        let mut summary = mime::summarize(file);
        summary.preview = None; // as decoded from summary format 2
        let lazy = FetchPlan::new(vec![FetchAttr::Preview { lazy: true }, FetchAttr::EmailId], None, true);
        assert!(!lazy.computes_preview());
        assert!(lazy.needs_summary() && !lazy.needs_file() && !lazy.index_only());
        let eager = FetchPlan::new(vec![FetchAttr::Preview { lazy: false }], None, true);
        assert!(eager.computes_preview());
        let context = MessageContext { seq: 1, recent: false, seen_now: false, uidfetch: None };
        for (plan, expected) in [
            (lazy, &b"* 1 FETCH (PREVIEW NIL EMAILID (M7))\r\n"[..]),
            (eager, b"* 1 FETCH (PREVIEW \"\")\r\n"),
        ] {
            let mut out = OutputQueue::default();
            let mut facts = message(file, Some(&summary), &[]);
            facts.facts.email_id = 7;
            assert!(write_message(&mut out, &plan, &facts, context).is_ok());
            let (sent, _) = drain(&mut out, file);
            assert_eq!(String::from_utf8_lossy(&sent), String::from_utf8_lossy(expected));
        }
    }

    /// A message whose second part is `body` in base64, and its summary.
    fn base64_message(body: &[u8]) -> (Vec<u8>, MessageSummary) {
        use std::fmt::Write as _;
        let mut encoded = String::new();
        for line in body.chunks(57) {
            let mut bits = 0u32;
            let mut count = 0;
            let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            for &byte in line {
                bits = bits << 8 | u32::from(byte);
                count += 8;
                while count >= 6 {
                    count -= 6;
                    encoded.push(alphabet[(bits >> count & 63) as usize] as char);
                }
            }
            if count > 0 {
                encoded.push(alphabet[(bits << (6 - count) & 63) as usize] as char);
                encoded.push_str(if count == 2 { "==" } else { "=" });
            }
            let _ = write!(encoded, "\r\n");
        }
        let file = format!(
            "Subject: b\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n\r\ntext\r\n--x\r\n\
             Content-Transfer-Encoding: base64\r\n\r\n{encoded}--x--\r\n"
        )
        .into_bytes();
        let summary = mime::summarize(&file);
        (file, summary)
    }

    #[test]
    fn binary_items_again_and_again_are_decoded_as_the_client_reads() {
        // issue 10: `FETCH 1 (BINARY.PEEK[2] ...)` decoded the part once per item, whole.
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let (file, summary) = base64_message(&data);
        let binary = FetchAttr::Binary { peek: true, part: vec![2], partial: None };
        let window =
            FetchAttr::Binary { peek: true, part: vec![2], partial: Some(Partial { offset: 5, length: 64 }) };
        let size = FetchAttr::BinarySize { part: vec![2] };
        let attrs = [binary, window, size].into_iter().cycle().take(30).collect();
        let plan = FetchPlan::new(attrs, None, true);
        assert!(plan.reads(file.len() as u64, Some(&summary)).is_empty(), "the part is too large to load");
        let mut out = OutputQueue::default();
        let context = MessageContext { seq: 1, recent: false, seen_now: false, uidfetch: None };
        let fetched = message(&file, Some(&summary), &[]);
        assert!(write_message(&mut out, &plan, &fetched, context).is_ok());
        let (sent, held) = drain(&mut out, &file);
        assert!(held <= 2 * OUTPUT_BUDGET_BYTES, "{held} bytes held");
        let mut expected = b"* 1 FETCH (".to_vec();
        for i in 0..10 {
            if i > 0 {
                expected.push(b' ');
            }
            expected.extend_from_slice(b"BINARY[2] ~{200000}\r\n");
            expected.extend_from_slice(&data);
            expected.extend_from_slice(b" BINARY[2]<5> {64}\r\n");
            expected.extend_from_slice(&data[5..69]);
            expected.extend_from_slice(b" BINARY.SIZE[2] 200000");
        }
        expected.extend_from_slice(b")\r\n");
        let differ =
            sent.iter().zip(&expected).position(|(a, b)| a != b).unwrap_or(sent.len().min(expected.len()));
        assert!(
            sent == expected,
            "differ at {differ} of {}/{}: {:?}",
            sent.len(),
            expected.len(),
            String::from_utf8_lossy(&sent[differ.saturating_sub(30)..(differ + 30).min(sent.len())])
        );
    }

    #[test]
    fn loaded_parts_are_decoded_in_memory_only_up_to_the_work_allowance() {
        let (file, summary) = base64_message(&vec![b'a'; 30_000]);
        assert!(file.len() as u64 <= FETCH_INLINE_BYTES_MAX);
        let plan = FetchPlan::new(vec![FetchAttr::BinarySize { part: vec![2] }; 50], None, true);
        let reads = plan.reads(file.len() as u64, Some(&summary));
        assert_eq!(reads, vec![0..file.len() as u64]);
        let loaded = [(0, file.as_slice())];
        let mut out = OutputQueue::default();
        let context = MessageContext { seq: 1, recent: false, seen_now: false, uidfetch: None };
        assert!(write_message(&mut out, &plan, &message(&file, Some(&summary), &loaded), context).is_ok());
        // 40 KiB of base64 per item: one in memory, the rest as transforms.
        let transforms = out.segments_waiting();
        assert_eq!(transforms, 49);
        let (sent, _) = drain(&mut out, &file);
        assert_eq!(String::from_utf8_lossy(&sent).matches("BINARY.SIZE[2] 30000").count(), 50);
    }

    #[test]
    fn header_fields_of_a_large_header_are_filtered_as_the_client_reads() {
        let mut file = b"Subject: big\r\n".to_vec();
        for i in 0..20_000 {
            file.extend_from_slice(format!("X-Filler-{i}: {}\r\n", "v".repeat(40)).as_bytes());
        }
        file.extend_from_slice(b"To: t\r\n\r\nbody\r\n");
        let summary = mime::summarize(&file);
        let names = vec!["to".to_string(), "subject".to_string()];
        let section = Section::Text(SectionText::HeaderFields(names));
        let item = FetchAttr::BodySection { peek: true, section, partial: None };
        let plan = FetchPlan::new(vec![item; 20], None, true);
        assert!(plan.reads(file.len() as u64, Some(&summary)).is_empty());
        let mut out = OutputQueue::default();
        let context = MessageContext { seq: 1, recent: false, seen_now: false, uidfetch: None };
        let fetched = message(&file, Some(&summary), &[]);
        assert!(write_message(&mut out, &plan, &fetched, context).is_ok());
        let (sent, held) = drain(&mut out, &file);
        assert!(held <= OUTPUT_BUDGET_BYTES, "{held}");
        let item = "BODY[HEADER.FIELDS (to subject)] {23}\r\nSubject: big\r\nTo: t\r\n\r\n";
        let text = String::from_utf8_lossy(&sent);
        assert_eq!(text.matches(item).count(), 20, "{}", &text[..300.min(text.len())]);
    }
}
