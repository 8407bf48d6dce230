//! SEARCH BODY and TEXT (RFC 9051 §6.4.4) over a message read in pieces, with memory that
//! does not grow with the message: the same decoding as [`super::body_matches`] and
//! [`super::text_matches`] (transfer encoding removed, charset converted, HTML reduced to
//! text, simple case folding), then a substring search that carries only the last
//! `needle length - 1` folded bytes from one piece to the next.
//!
//! - [`TextMatcher`]: a folded needle found in text fed in pieces.
//! - [`PartMatcher`]: one text/* part's body bytes, as stored, in pieces.
//! - [`ContentSearch`]: a whole message from its summary: it names the byte ranges of
//!   the message file it needs, in file order (text bodies for BODY; also every header
//!   block for TEXT), so the caller reads only those, in pieces of its choosing, and can
//!   stop at the first match.
//!
//! Bounds. Charsets that are ASCII-compatible (UTF-8, the single-byte tables, Shift_JIS,
//! EUC, GBK, Big5, GB18030) are converted line by line, in pieces of at most
//! [`SEARCH_PIECE_BYTES_MAX`]; stateful ones (UTF-16, UTF-7, ISO-2022) and text/html are
//! converted once at the end of the part from at most [`SEARCH_BUFFERED_BYTES_MAX`] bytes
//! (HTML-to-text needs the whole document), so a larger such part is searched in its
//! first 1 MiB only. Header blocks (TEXT) are searched in their first
//! [`super::HEADER_BYTES_MAX`] bytes, as the summary considers them. Below these sizes
//! the result equals the whole-buffer matchers (the tests check it).

use std::ops::Range;

use memchr::memmem;

use super::search::{decode_text_field, fold};
use super::structure::considered;
use super::{HEADER_BYTES_MAX, MessageSummary, Part, TransferDecoder, TransferEncoding, header};

/// Longest piece of an ASCII-compatible charset converted at once: pieces end after a
/// line feed, so a line longer than this is cut (a multi-byte character at the cut may
/// then be read as two errors, in a line no encoder writes).
pub const SEARCH_PIECE_BYTES_MAX: usize = 64 * 1024;

/// Most bytes of a text/html part, or of a part in a stateful charset, held to be
/// converted at the end of the part. HTML mail bodies are tens of KiB; past this, the
/// rest of such a part is not searched.
pub const SEARCH_BUFFERED_BYTES_MAX: usize = 1024 * 1024;

/// Where a text part's converted text goes, one part (or one header field) at a time:
/// the needle matcher of a search, or the trigram set of a text signature
/// (`text_signature.rs`). Both see exactly the same text, which is what makes a
/// signature's "absent" answer exact.
pub trait TextSink {
    /// The next piece of the current unit's text (unfolded).
    fn feed(&mut self, text: &str);
    /// Nothing more fed can change the outcome: the feeder may stop converting.
    fn settled(&self) -> bool;
}

/// A case-insensitive (simple case folding) needle found in text fed in pieces.
#[derive(Debug, Clone)]
pub struct TextMatcher {
    finder: memmem::Finder<'static>,
    /// The last `needle - 1` folded bytes of the text so far, then the new piece.
    window: Vec<u8>,
    found: bool,
}

impl TextMatcher {
    /// A matcher for `needle` (folded here). An empty needle matches any text, empty too.
    #[must_use]
    pub fn new(needle: &str) -> TextMatcher {
        let folded = fold(needle).into_bytes();
        let found = folded.is_empty();
        TextMatcher { finder: memmem::Finder::new(&folded).into_owned(), window: Vec::new(), found }
    }

    /// Takes the next piece of text.
    pub fn feed(&mut self, text: &str) {
        if self.found {
            return;
        }
        self.window.extend(text.chars().map(super::search::fold_char).collect::<String>().bytes());
        if self.finder.find(&self.window).is_some() {
            self.found = true;
            self.window = Vec::new();
            return;
        }
        let keep = self.finder.needle().len().saturating_sub(1).min(self.window.len());
        self.window.drain(..self.window.len() - keep);
    }

    /// True once the needle was seen.
    #[must_use]
    pub fn found(&self) -> bool {
        self.found
    }
}

impl TextSink for TextMatcher {
    fn feed(&mut self, text: &str) {
        TextMatcher::feed(self, text);
    }

    fn settled(&self) -> bool {
        self.found
    }
}

/// How a part's charset is converted.
#[derive(Debug, Clone, Copy)]
enum Conversion {
    /// UTF-8 (or no known charset): lossy, an incomplete sequence carried to the next piece.
    Utf8,
    /// An ASCII-compatible charset: converted in pieces ending after a line feed; `true`
    /// when the decoder maps every ASCII byte to itself, so an all-ASCII piece (most lines
    /// of Latin-1 or windows-1252 mail) is its own text and skips the decoder.
    Lines(fn(&[u8]) -> String, bool),
    /// A stateful charset: converted once at the end.
    Whole(fn(&[u8]) -> String),
}

fn conversion_of(part: &Part) -> Conversion {
    let Some(charset) = part.param(b"charset") else {
        return Conversion::Utf8;
    };
    let Some(decoder) = mail_parser::decoders::charsets::map::charset_decoder(charset) else {
        return Conversion::Utf8;
    };
    let name: Vec<u8> =
        charset.iter().filter(|byte| byte.is_ascii_alphanumeric()).map(u8::to_ascii_lowercase).collect();
    let stateful =
        [&b"utf16"[..], b"utf7", b"iso2022", b"csiso2022", b"ucs2", b"unicode", b"csunicode", b"hz"];
    if stateful.iter().any(|prefix| name.starts_with(prefix)) {
        Conversion::Whole(decoder)
    } else {
        Conversion::Lines(decoder, maps_ascii_to_itself(decoder))
    }
}

/// One text/* part's body bytes as stored (transfer-encoded), in pieces, turned into its
/// text for a [`TextSink`].
#[derive(Debug)]
pub struct PartText<S> {
    decoder: TransferDecoder,
    conversion: Conversion,
    html: bool,
    /// Decoded bytes not yet converted (an incomplete UTF-8 sequence, a line in progress,
    /// or everything of a part converted at the end).
    pending: Vec<u8>,
    /// Converted text of an HTML part, reduced to text at the end.
    html_text: String,
    sink: S,
    decoded: Vec<u8>,
}

/// Whether `decoder` turns each ASCII byte into the same character, checked on all 128 of
/// them at once (the charset tables and the ASCII-compatible multi-byte charsets do; the
/// check keeps the shortcut exact for any that would not).
fn maps_ascii_to_itself(decoder: fn(&[u8]) -> String) -> bool {
    let ascii: [u8; 128] = std::array::from_fn(|byte| byte as u8);
    decoder(&ascii).as_bytes() == ascii
}

/// Matches one text/* part: its body bytes as stored, in pieces.
pub type PartMatcher = PartText<TextMatcher>;

impl PartText<TextMatcher> {
    /// A matcher for `part` (a text/* part of a summary) and `needle`.
    #[must_use]
    pub fn new(part: &Part, needle: &str) -> PartMatcher {
        PartText::with_sink(part, TextMatcher::new(needle))
    }

    /// The end of the body: true if the part contains the needle.
    #[must_use]
    pub fn finish(self) -> bool {
        self.finish_into().found()
    }
}

impl<S: TextSink> PartText<S> {
    /// The text of `part` (a text/* part of a summary), for `sink`.
    pub fn with_sink(part: &Part, sink: S) -> PartText<S> {
        // Unknown encodings are searched as they are, as the whole-buffer matcher does.
        let encoding = TransferEncoding::from_name(&part.encoding).unwrap_or(TransferEncoding::Identity);
        PartText {
            decoder: TransferDecoder::new(encoding),
            conversion: conversion_of(part),
            html: part.media_subtype.eq_ignore_ascii_case(b"html"),
            pending: Vec::new(),
            html_text: String::new(),
            sink,
            decoded: Vec::new(),
        }
    }

    /// Takes the next piece of the part's body.
    pub fn feed(&mut self, body: &[u8]) {
        if self.sink.settled() {
            return;
        }
        let mut decoded = std::mem::take(&mut self.decoded);
        decoded.clear();
        self.decoder.decode(body, &mut decoded);
        self.convert(&decoded, false);
        self.decoded = decoded;
    }

    /// The end of the body: the sink, having seen the part's whole text.
    pub fn finish_into(mut self) -> S {
        if !self.sink.settled() {
            let mut decoded = Vec::new();
            let decoder =
                std::mem::replace(&mut self.decoder, TransferDecoder::new(TransferEncoding::Identity));
            decoder.finish(&mut decoded);
            self.convert(&decoded, true);
        }
        if self.html && !self.sink.settled() {
            let text = mail_parser::decoders::html::html_to_text(&self.html_text);
            self.sink.feed(&text);
        }
        self.sink
    }

    fn convert(&mut self, decoded: &[u8], last: bool) {
        match self.conversion {
            Conversion::Utf8 => {
                // Taken out so valid UTF-8 is emitted borrowed, not copied.
                let mut pending = std::mem::take(&mut self.pending);
                pending.extend_from_slice(decoded);
                let complete = if last { pending.len() } else { utf8_complete(&pending) };
                self.emit(&String::from_utf8_lossy(&pending[..complete]));
                pending.drain(..complete);
                self.pending = pending;
            }
            Conversion::Lines(decoder, ascii) => {
                let mut rest = decoded;
                while !rest.is_empty() {
                    let room = SEARCH_PIECE_BYTES_MAX - self.pending.len();
                    let take = memchr::memchr(b'\n', &rest[..room.min(rest.len())])
                        .map_or(room.min(rest.len()), |newline| newline + 1);
                    self.pending.extend_from_slice(&rest[..take]);
                    rest = &rest[take..];
                    if self.pending.ends_with(b"\n") || self.pending.len() == SEARCH_PIECE_BYTES_MAX {
                        self.emit_pending(decoder, ascii);
                    }
                }
                if last && !self.pending.is_empty() {
                    self.emit_pending(decoder, ascii);
                }
            }
            Conversion::Whole(decoder) => {
                let room = SEARCH_BUFFERED_BYTES_MAX.saturating_sub(self.pending.len());
                self.pending.extend_from_slice(&decoded[..room.min(decoded.len())]);
                if last {
                    let text = decoder(&self.pending);
                    self.pending = Vec::new();
                    self.emit(&text);
                }
            }
        }
    }

    /// Converts and emits the pending piece of an ASCII-compatible charset, then empties
    /// it; an all-ASCII piece is emitted as it is when the decoder would not change it.
    fn emit_pending(&mut self, decoder: fn(&[u8]) -> String, maps_ascii: bool) {
        let piece = std::mem::take(&mut self.pending);
        match std::str::from_utf8(&piece) {
            Ok(text) if maps_ascii && piece.is_ascii() => self.emit(text),
            _ => self.emit(&decoder(&piece)),
        }
        self.pending = piece;
        self.pending.clear();
    }

    fn emit(&mut self, text: &str) {
        if self.html {
            let room = SEARCH_BUFFERED_BYTES_MAX.saturating_sub(self.html_text.len());
            let mut end = room.min(text.len());
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            self.html_text.push_str(&text[..end]);
        } else {
            self.sink.feed(text);
        }
    }
}

/// Length of the prefix of `bytes` after which no UTF-8 sequence can continue into later
/// bytes: the tail from the last lead byte is held back when it is shorter than its
/// sequence. Holding back more than needed never changes the lossy conversion (a lead
/// byte ends whatever sequence came before it), so converting the prefix now and the rest
/// with the next piece gives the whole-buffer result.
fn utf8_complete(bytes: &[u8]) -> usize {
    let tail_start = bytes.len().saturating_sub(3);
    for at in (tail_start..bytes.len()).rev() {
        let byte = bytes[at];
        if (0x80..0xc0).contains(&byte) {
            continue; // a continuation byte: look further back
        }
        let needed = match byte {
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => return bytes.len(), // ASCII or never valid: nothing continues past it
        };
        return if bytes.len() - at < needed { at } else { bytes.len() };
    }
    bytes.len()
}

/// Which SEARCH key: BODY (text bodies) or TEXT (headers too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchScope {
    /// BODY: the text/* parts' bodies.
    Body,
    /// TEXT: every header block as well.
    Text,
}

/// One range of the message file the search reads.
#[derive(Debug, Clone)]
pub(crate) struct Segment {
    pub(crate) range: Range<u64>,
    /// `None`: a header block; else the text part (in summary order) whose body it is.
    pub(crate) part: Option<usize>,
    /// A header block longer than the range (cut at [`HEADER_BYTES_MAX`]).
    pub(crate) cut: bool,
}

/// The text parts of the message `summary` describes and the ranges of its file a
/// search of `scope` reads, in file order (a part's header block before its body).
pub(crate) fn segments(summary: &MessageSummary, scope: SearchScope) -> (Vec<&Part>, Vec<Segment>) {
    let mut parts = Vec::new();
    let mut segments = Vec::new();
    let mut stack = vec![&summary.root];
    while let Some(part) = stack.pop() {
        if scope == SearchScope::Text {
            let end = part.header.end.min(part.header.start.saturating_add(HEADER_BYTES_MAX as u64));
            segments.push(Segment { range: part.header.start..end, part: None, cut: end < part.header.end });
        }
        if part.is_text() {
            segments.push(Segment { range: part.body.clone(), part: Some(parts.len()), cut: false });
            parts.push(part);
        }
        stack.extend(part.children.iter().rev());
        if let Some(embedded) = &part.message {
            stack.push(&embedded.1);
        }
    }
    (parts, segments)
}

/// SEARCH BODY/TEXT over one message: ask [`ContentSearch::next_range`] which bytes of the
/// message file to read, [`ContentSearch::feed`] them in order in pieces of any size, and
/// repeat until it returns `None`; then [`ContentSearch::matched`].
#[derive(Debug)]
pub struct ContentSearch<'a> {
    needle: String,
    parts: Vec<&'a Part>,
    segments: Vec<Segment>,
    next: usize,
    /// Bytes of the current segment still expected.
    remaining: u64,
    part: Option<PartMatcher>,
    header: Vec<u8>,
    /// The header block is longer than [`HEADER_BYTES_MAX`]: only its first bytes are read.
    header_cut: bool,
    found: bool,
}

impl<'a> ContentSearch<'a> {
    /// A search for `needle` in the message `summary` describes.
    #[must_use]
    pub fn new(summary: &'a MessageSummary, scope: SearchScope, needle: &str) -> ContentSearch<'a> {
        let (parts, segments) = segments(summary, scope);
        let mut search = ContentSearch {
            needle: needle.to_string(),
            parts,
            segments,
            next: 0,
            remaining: 0,
            part: None,
            header: Vec::new(),
            header_cut: false,
            found: false,
        };
        search.start_segment();
        search
    }

    /// The range of the message file to feed next, or `None` when the search is decided.
    #[must_use]
    pub fn next_range(&self) -> Option<Range<u64>> {
        if self.found {
            return None;
        }
        let segment = self.segments.get(self.next)?;
        Some(segment.range.end - self.remaining..segment.range.end)
    }

    /// Feeds the next bytes of the range [`ContentSearch::next_range`] named (at most its
    /// length; extra bytes are ignored).
    pub fn feed(&mut self, bytes: &[u8]) {
        let take = usize::try_from(self.remaining).unwrap_or(usize::MAX).min(bytes.len());
        let bytes = &bytes[..take];
        self.remaining -= take as u64;
        match &mut self.part {
            Some(matcher) => matcher.feed(bytes),
            None => self.header.extend_from_slice(bytes),
        }
        if self.remaining == 0 {
            self.end_segment();
        }
    }

    /// True when the message matched (decided once `next_range` is `None`).
    #[must_use]
    pub fn matched(&self) -> bool {
        self.found
    }

    fn start_segment(&mut self) {
        while let Some(segment) = self.segments.get(self.next) {
            self.remaining = segment.range.end.saturating_sub(segment.range.start);
            self.header.clear();
            self.header_cut = segment.cut;
            self.part = segment
                .part
                .and_then(|index| self.parts.get(index))
                .map(|part| PartMatcher::new(part, &self.needle));
            if self.remaining > 0 {
                return;
            }
            self.end_segment_now();
            if self.found {
                return;
            }
        }
    }

    fn end_segment(&mut self) {
        self.end_segment_now();
        if !self.found {
            self.start_segment();
        }
    }

    fn end_segment_now(&mut self) {
        let found = match self.part.take() {
            Some(matcher) => matcher.finish(),
            None => header_contains(&self.header, self.header_cut, &self.needle),
        };
        self.found |= found;
        self.next += 1;
    }
}

/// TEXT on one header block as read (`cut`: its first [`HEADER_BYTES_MAX`] bytes only):
/// a field `name: decoded value` contains the needle.
fn header_contains(block: &[u8], cut: bool, needle: &str) -> bool {
    let needle = fold(needle);
    header_field_texts(block, cut).any(|text| fold(&text).contains(&needle))
}

/// Each field of a header block as read (`cut`: its first [`HEADER_BYTES_MAX`] bytes
/// only) as TEXT searches it: `name: decoded value`, unfolded.
pub(crate) fn header_field_texts(block: &[u8], cut: bool) -> impl Iterator<Item = String> + '_ {
    // Cut: the fields run past what was read, and a line crossing the limit is left out,
    // as the summary considers it.
    let fields_length = if cut { usize::MAX } else { header::header_extent(block).0 };
    let fields = considered(block, fields_length, HEADER_BYTES_MAX);
    header::fields(fields).map(|field| {
        let mut text = String::from_utf8_lossy(field.name).into_owned();
        text.push_str(": ");
        text.push_str(&decode_text_field(field.value));
        text
    })
}

#[cfg(test)]
#[path = "body_search_tests.rs"]
pub(crate) mod tests;
