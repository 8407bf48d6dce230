//! [`Summarizer`]: the message summary computed while the message streams in, one chunk
//! at a time, in memory that does not grow with the message (DESIGN.md's delivery step:
//! "header parsing ... run incrementally").
//!
//! The message is read as lines. Only two things are kept of them: the header block being
//! read (its first [`HEADER_BYTES_MAX`] bytes, and no more than
//! [`SUMMARY_HEADER_BYTES_MAX`] over all the message's headers), and the first bytes of the
//! current line, enough to recognize a delimiter of any open multipart (RFC 2046 §5.1.1).
//! Bodies are only counted: their offsets, their line feeds, their last byte.
//!
//! A line's break is held back until the next line is known, because a delimiter line
//! owns the line break before it (RFC 2046 §5.1.1): when the next line is a delimiter,
//! every part inside that multipart ends before the held break (a header whose empty line
//! that was then had no empty line at all); otherwise the break is ordinary content.
//! Delimiters of enclosing multiparts are looked for first, so an outer delimiter ends
//! every part inside it.
//!
//! Parts are allotted in document order. Once [`PARTS_MAX`] are allotted, delimiter lines
//! that would start another part are not recognized (close delimiters still are), so their
//! bytes stay in the part that holds them, and containers are summarized as text/plain
//! leaves. Below the limit the result equals the whole-buffer algorithm it replaced
//! (`reference.rs`), which the tests check.
//!
//! The body of one part, the preview's source ([`super::preview`]), is kept too: its first
//! [`PREVIEW_SOURCE_BYTES_MAX`] bytes, from which `finish` makes the preview text.
//!
//! Memory per message in flight, whatever its size: one header buffer (at most
//! [`HEADER_BYTES_MAX`]), the preview's source (at most [`PREVIEW_SOURCE_BYTES_MAX`]), one line prefix (at most a boundary plus 4 bytes, a boundary
//! coming from a considered header), a stack of at most [`PART_DEPTH_MAX`] + 1 open parts,
//! and the summary itself: at most [`PARTS_MAX`] parts whose strings all come from
//! considered header bytes, at most [`SUMMARY_HEADER_BYTES_MAX`] in all.
//!
//! Work per chunk is linear in its length (one `memchr` per line; delimiter candidates
//! only for lines starting with `--`) plus, when a header block ends, parsing at most
//! [`HEADER_BYTES_MAX`] of it.

use super::envelope::HeaderInfo;
use super::preview::{Candidate, PREVIEW_SOURCE_BYTES_MAX, candidate, preview_of_part};
use super::structure::{
    Link, Node, assemble, considered, counts_lines, describe, is_embedded_message, make_text_leaf,
};
use super::{
    Envelope, HEADER_BYTES_MAX, MessageSummary, PART_DEPTH_MAX, PARTS_MAX, SUMMARY_HEADER_BYTES_MAX,
};

/// The header limits a summarizer works under; the defaults are the named limits, tests
/// use small ones to reach them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HeaderLimits {
    /// [`HEADER_BYTES_MAX`].
    pub(crate) header_bytes_max: usize,
    /// [`SUMMARY_HEADER_BYTES_MAX`].
    pub(crate) summary_header_bytes_max: usize,
}

impl Default for HeaderLimits {
    fn default() -> Self {
        HeaderLimits {
            header_bytes_max: HEADER_BYTES_MAX,
            summary_header_bytes_max: SUMMARY_HEADER_BYTES_MAX,
        }
    }
}

/// Builds a [`MessageSummary`] from a message fed in pieces of any size: [`Summarizer::feed`]
/// each piece in order, then [`Summarizer::finish`]. The result is the same whatever the
/// pieces, and the same as [`super::summarize`] of the whole message. Never panics.
///
/// ```
/// use moxide_protocols::mime::{Summarizer, summarize};
/// let message = b"Subject: hi\r\nContent-Type: text/plain\r\n\r\nbody\r\n";
/// let mut summarizer = Summarizer::new();
/// for piece in message.chunks(5) {
///     summarizer.feed(piece);
/// }
/// assert_eq!(summarizer.finish(), summarize(message));
/// ```
#[derive(Debug)]
pub struct Summarizer {
    limits: HeaderLimits,
    /// Bytes fed so far: the offset of the next byte.
    offset: u64,
    /// Line feeds fed so far.
    newlines: u64,
    /// The last byte fed.
    last_byte: Option<u8>,
    line: Line,
    /// The line break of the previous line, not yet known to be content.
    held: Option<Held>,
    /// Open parts, outermost first; only the innermost can be reading its header.
    stack: Vec<Open>,
    /// Every part allotted so far, in document order (parents before children).
    nodes: Vec<Node>,
    /// The first bytes of the header being read (the innermost open part's).
    header: Vec<u8>,
    /// How many bytes of that header may be considered.
    header_allowance: usize,
    /// Header bytes later headers may still have considered.
    budget_left: usize,
    /// Longest boundary of an open multipart plus 4, once computed after the stack changed.
    prefix_max: Option<usize>,
    /// The top-level message's envelope and date.
    envelope: Envelope,
    date_unix_secs: Option<i64>,
    references: Option<Vec<u8>>,
    preview: PreviewSource,
}

/// The source of the preview ([`super::preview`]) as the message streams: the first
/// [`PREVIEW_SOURCE_BYTES_MAX`] body bytes of the part chosen so far.
#[derive(Debug, Default)]
struct PreviewSource {
    /// The part whose body lines are being kept (open, in its body).
    target: Option<usize>,
    /// The part whose bytes `bytes` holds.
    chosen: Option<usize>,
    /// A text/plain part was chosen: no later part replaces it.
    plain_found: bool,
    bytes: Vec<u8>,
    /// Length of `bytes` when the current line started: a delimiter line is taken back.
    line_start: usize,
}

impl PreviewSource {
    fn keep(&mut self, bytes: &[u8]) {
        let room = PREVIEW_SOURCE_BYTES_MAX.saturating_sub(self.bytes.len());
        self.bytes.extend_from_slice(&bytes[..room.min(bytes.len())]);
    }
}

/// The line being read.
#[derive(Debug, Default)]
struct Line {
    start: u64,
    /// Content bytes so far (the line feed not included).
    length: u64,
    /// Its first bytes, up to `prefix_max`.
    prefix: Vec<u8>,
    /// Longest open boundary plus 4 (`--`, boundary, `--`); 0 when no delimiter can occur.
    prefix_max: usize,
    /// Index of the last content byte that is not space, tab or CR (tracked only when a
    /// delimiter can occur).
    last_non_space: Option<u64>,
    /// The last two content bytes (`tail[1]` the last), valid up to `length`.
    tail: [u8; 2],
}

/// A line break held back: it starts at `start` (its CR, or its LF) and ends where the
/// current line starts.
#[derive(Debug, Clone, Copy)]
struct Held {
    start: u64,
    /// The byte before the break (`None` at the start of the message).
    byte_before: Option<u8>,
}

/// An open part.
#[derive(Debug)]
struct Open {
    node: usize,
    depth: usize,
    start: u64,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Reading the header (into [`Summarizer::header`]).
    Header { link: Link, in_digest: bool },
    /// In the body, after a header that ended at `body_start` with an empty line.
    Body { body_start: u64, newlines_before: u64, kind: BodyKind },
}

#[derive(Debug)]
enum BodyKind {
    /// Counted only.
    Leaf,
    /// An embedded message follows (the next open part) and spans the body.
    Message,
    /// A multipart whose children are found by `boundary`; the child being read, if any,
    /// is the next open part. `closed` after the close delimiter (then the epilogue).
    Multipart { boundary: Vec<u8>, in_digest: bool, closed: bool },
}

/// Where parts being closed end.
#[derive(Debug, Clone, Copy)]
struct End {
    at: u64,
    /// Line feeds before `at`.
    newlines: u64,
    /// The byte before `at`.
    byte_before: Option<u8>,
}

impl Default for Summarizer {
    fn default() -> Self {
        Summarizer::new()
    }
}

impl Summarizer {
    /// A summarizer at the start of a message.
    #[must_use]
    pub fn new() -> Summarizer {
        Summarizer::with_limits(HeaderLimits::default())
    }

    pub(crate) fn with_limits(limits: HeaderLimits) -> Summarizer {
        let mut summarizer = Summarizer {
            limits,
            offset: 0,
            newlines: 0,
            last_byte: None,
            line: Line::default(),
            held: None,
            stack: Vec::new(),
            nodes: Vec::new(),
            header: Vec::new(),
            header_allowance: 0,
            budget_left: limits.summary_header_bytes_max,
            prefix_max: None,
            envelope: Envelope::default(),
            date_unix_secs: None,
            references: None,
            preview: PreviewSource::default(),
        };
        summarizer.open_part(0, 0, Link::Root, false);
        summarizer
    }

    /// Bytes fed so far.
    #[must_use]
    pub fn bytes_fed(&self) -> u64 {
        self.offset
    }

    /// Takes the next piece of the message (any length, empty included).
    pub fn feed(&mut self, mut chunk: &[u8]) {
        while !chunk.is_empty() {
            match memchr::memchr(b'\n', chunk) {
                Some(newline) => {
                    self.take_content(&chunk[..newline]);
                    self.end_line(true);
                    chunk = &chunk[newline + 1..];
                }
                None => {
                    self.take_content(chunk);
                    return;
                }
            }
        }
    }

    /// The summary of everything fed; offsets are offsets into those bytes.
    #[must_use]
    pub fn finish(mut self) -> MessageSummary {
        self.end_line(false);
        let end = End { at: self.offset, newlines: self.newlines, byte_before: self.last_byte };
        self.close_above(0, end);
        debug_assert!(self.stack.is_empty());
        let preview = self.make_preview();
        let root = assemble(std::mem::take(&mut self.nodes));
        MessageSummary {
            envelope: std::mem::take(&mut self.envelope),
            root,
            date_unix_secs: self.date_unix_secs,
            references: self.references.take(),
            preview: Some(preview),
        }
    }

    /// The preview from the chosen part's kept bytes, cut to its body (the line break
    /// before a delimiter was kept, but belongs to the delimiter), as
    /// [`super::preview_text`] makes it from the same bytes of a whole message.
    fn make_preview(&mut self) -> String {
        let Some(node) = self.preview.chosen.and_then(|chosen| self.nodes.get(chosen)) else {
            return String::new();
        };
        let body =
            usize::try_from(node.part.body.end.saturating_sub(node.part.body.start)).unwrap_or(usize::MAX);
        self.preview.bytes.truncate(body);
        preview_of_part(&node.part, &self.preview.bytes)
    }

    /// The open part whose body the current line is in, if the innermost one is.
    fn body_node(&self) -> Option<usize> {
        match self.stack.last() {
            Some(Open { node, state: State::Body { .. }, .. }) => Some(*node),
            _ => None,
        }
    }

    /// Whether the current line's bytes go to the preview's source.
    fn keeping_preview(&self) -> bool {
        self.preview.target.is_some() && self.preview.target == self.body_node()
    }

    /// Whether part `node` lies inside an embedded message (its own root included).
    fn in_embedded_message(&self, node: usize) -> bool {
        let mut index = node;
        // Parents come before children, so the walk ends at the root (at most
        // PART_DEPTH_MAX + 1 steps).
        while let Some(at) = self.nodes.get(index) {
            if at.envelope.is_some() {
                return true;
            }
            if index == 0 || at.parent >= index {
                return false;
            }
            index = at.parent;
        }
        false
    }

    /// A leaf part was described: it may become the preview's source.
    fn consider_for_preview(&mut self, node: usize) {
        if self.preview.plain_found {
            return;
        }
        let Some(slot) = self.nodes.get(node) else { return };
        let wanted = match candidate(&slot.part) {
            Candidate::Plain => true,
            Candidate::Html => self.preview.chosen.is_none(),
            Candidate::No => false,
        };
        if !wanted || self.in_embedded_message(node) {
            return;
        }
        self.preview.plain_found = candidate(&slot.part) == Candidate::Plain;
        self.preview.bytes.clear();
        self.preview.chosen = Some(node);
        self.preview.target = Some(node);
    }

    fn reading_header(&self) -> bool {
        matches!(self.stack.last(), Some(Open { state: State::Header { .. }, .. }))
    }

    /// Content bytes of the current line (no line feed among them).
    fn take_content(&mut self, bytes: &[u8]) {
        let Some(&last) = bytes.last() else {
            return;
        };
        if self.reading_header() {
            self.keep_header_bytes(bytes);
        } else if self.keeping_preview() {
            self.preview.keep(bytes);
        }
        let line = &mut self.line;
        if line.prefix_max > 0 {
            let room = line.prefix_max.saturating_sub(line.prefix.len());
            line.prefix.extend_from_slice(&bytes[..room.min(bytes.len())]);
            if let Some(index) = bytes.iter().rposition(|&byte| !matches!(byte, b' ' | b'\t' | b'\r')) {
                line.last_non_space = Some(line.length + super::structure::to_u64(index));
            }
        }
        line.tail = match bytes {
            [.., before, last] => [*before, *last],
            _ => [line.tail[1], last],
        };
        let length = super::structure::to_u64(bytes.len());
        line.length += length;
        self.offset += length;
        self.last_byte = Some(last);
    }

    fn keep_header_bytes(&mut self, bytes: &[u8]) {
        let room = self.header_allowance.saturating_sub(self.header.len());
        self.header.extend_from_slice(&bytes[..room.min(bytes.len())]);
    }

    /// The current line ends: at a line feed (`has_newline`, the feed not yet counted), or
    /// at the end of the message.
    fn end_line(&mut self, has_newline: bool) {
        if has_newline && self.reading_header() {
            self.keep_header_bytes(b"\n");
        }
        let line_end = self.offset + u64::from(has_newline);
        let keeping_preview = self.keeping_preview();
        match self.find_delimiter() {
            Some((multipart, closing)) => {
                if keeping_preview {
                    self.preview.bytes.truncate(self.preview.line_start);
                }
                self.on_delimiter(multipart, closing, line_end);
            }
            None => {
                if keeping_preview && has_newline {
                    self.preview.keep(b"\n");
                }
                self.on_content_line(has_newline, line_end);
            }
        }
        self.preview.line_start = self.preview.bytes.len();
        if has_newline {
            self.held = Some(self.line_break());
            self.offset += 1;
            self.newlines += 1;
            self.last_byte = Some(b'\n');
        }
        self.start_line();
    }

    /// The break of the current line, whose line feed is at `self.offset`.
    fn line_break(&self) -> Held {
        let line = &self.line;
        let after_line_start = || (line.start > 0).then_some(b'\n');
        if line.length >= 1 && line.tail[1] == b'\r' {
            let byte_before = if line.length >= 2 { Some(line.tail[0]) } else { after_line_start() };
            Held { start: self.offset - 1, byte_before }
        } else {
            let byte_before = if line.length >= 1 { Some(line.tail[1]) } else { after_line_start() };
            Held { start: self.offset, byte_before }
        }
    }

    fn start_line(&mut self) {
        let stack = &self.stack;
        let prefix_max = *self.prefix_max.get_or_insert_with(|| {
            stack
                .iter()
                .filter_map(|open| match &open.state {
                    State::Body { kind: BodyKind::Multipart { boundary, closed: false, .. }, .. } => {
                        Some(boundary.len() + 4)
                    }
                    _ => None,
                })
                .max()
                .unwrap_or(0)
        });
        let line = &mut self.line;
        line.start = self.offset;
        line.length = 0;
        line.prefix.clear();
        line.prefix_max = prefix_max;
        line.last_non_space = None;
    }

    /// The open multipart (stack index) whose delimiter the current line is, outermost
    /// first, and whether it is the close delimiter.
    fn find_delimiter(&self) -> Option<(usize, bool)> {
        let prefix = &self.line.prefix;
        if !prefix.starts_with(b"--") {
            return None;
        }
        for (index, open) in self.stack.iter().enumerate() {
            let State::Body { kind: BodyKind::Multipart { boundary, closed: false, .. }, .. } = &open.state
            else {
                continue;
            };
            if boundary.is_empty() || !prefix[2..].starts_with(boundary) {
                continue;
            }
            let after = 2 + boundary.len();
            if prefix.get(after..after + 2) == Some(b"--") {
                return Some((index, true));
            }
            let after = super::structure::to_u64(after);
            let only_space_follows = self.line.last_non_space.is_none_or(|last| last < after);
            if only_space_follows && self.nodes.len() < PARTS_MAX {
                return Some((index, false));
            }
        }
        None
    }

    fn on_delimiter(&mut self, multipart: usize, closing: bool, line_end: u64) {
        self.prefix_max = None;
        let held = self.held.take();
        if let Some(child) = self.stack.get(multipart + 1) {
            let line_start = self.line.start;
            let end = match held {
                // The break before the delimiter is the delimiter's (RFC 2046 §5.1.1).
                Some(held) if child.start < line_start => {
                    End { at: held.start, newlines: self.newlines - 1, byte_before: held.byte_before }
                }
                // An empty child: two delimiters in a row.
                _ => End { at: line_start, newlines: self.newlines, byte_before: None },
            };
            self.close_above(multipart + 1, end);
        }
        let Some(open) = self.stack.get_mut(multipart) else {
            return;
        };
        let depth = open.depth;
        let parent = open.node;
        let State::Body { kind: BodyKind::Multipart { in_digest, closed, .. }, .. } = &mut open.state else {
            return;
        };
        if closing {
            *closed = true;
            return;
        }
        let in_digest = *in_digest;
        self.nodes.push(Node { parent, ..Node::default() });
        self.open_part(line_end, depth + 1, Link::Child, in_digest);
    }

    /// Starts a part at `start` whose node was just pushed (or the root).
    fn open_part(&mut self, start: u64, depth: usize, link: Link, in_digest: bool) {
        if self.nodes.is_empty() {
            self.nodes.push(Node::default());
        }
        if link == Link::Embedded
            && let Some(node) = self.nodes.last_mut()
        {
            node.envelope = Some(Box::default());
        }
        let node = self.nodes.len() - 1;
        self.header.clear();
        self.header_allowance = self.limits.header_bytes_max.min(self.budget_left);
        self.stack.push(Open { node, depth, start, state: State::Header { link, in_digest } });
    }

    fn on_content_line(&mut self, has_newline: bool, line_end: u64) {
        self.held = None;
        let blank = self.line.length == 0 || (self.line.length == 1 && self.line.tail[1] == b'\r');
        if !(has_newline && blank && self.reading_header()) {
            return;
        }
        let Some(Open { node, depth, start, state: State::Header { link, in_digest } }) = self.stack.pop()
        else {
            return; // reading_header() said the innermost part is in its header
        };
        self.prefix_max = None;
        // The header ends with this empty line; its fields end where the line starts.
        let fields_length = usize::try_from(self.line.start - start).unwrap_or(usize::MAX);
        let kind = self.describe_part(node, link, in_digest, depth, fields_length);
        let is_message = matches!(kind, BodyKind::Message);
        let state = State::Body { body_start: line_end, newlines_before: self.newlines + 1, kind };
        self.stack.push(Open { node, depth, start, state });
        if is_message {
            self.nodes.push(Node { parent: node, ..Node::default() });
            self.open_part(line_end, depth + 1, Link::Embedded, false);
        }
    }

    /// Describes part `node` from its header's considered fields and decides what its
    /// body holds.
    fn describe_part(
        &mut self,
        node: usize,
        link: Link,
        in_digest: bool,
        depth: usize,
        fields_length: usize,
    ) -> BodyKind {
        let fields = considered(&self.header, fields_length, self.header_allowance);
        self.budget_left = self.budget_left.saturating_sub(fields.len());
        let info = HeaderInfo::collect(fields);
        let envelope = match link {
            Link::Root => {
                self.envelope = info.envelope();
                self.date_unix_secs = info.date_unix_secs();
                self.references = info.references();
                None
            }
            Link::Embedded => Some(Box::new(info.envelope())),
            Link::Child => None,
        };
        let mut part = describe(&info, in_digest);
        let can_nest = depth < PART_DEPTH_MAX && self.nodes.len() < PARTS_MAX;
        let kind = if part.is_multipart() && can_nest {
            let boundary = part.param(b"boundary").map(<[u8]>::to_vec).unwrap_or_default();
            let in_digest = part.media_subtype.eq_ignore_ascii_case(b"digest");
            BodyKind::Multipart { boundary, in_digest, closed: false }
        } else if is_embedded_message(&part) && can_nest {
            BodyKind::Message
        } else {
            if part.is_multipart() || is_embedded_message(&part) {
                make_text_leaf(&mut part);
            }
            BodyKind::Leaf
        };
        if let Some(slot) = self.nodes.get_mut(node) {
            slot.part = part;
            if envelope.is_some() {
                slot.envelope = envelope;
            }
        }
        if matches!(kind, BodyKind::Leaf) {
            self.consider_for_preview(node);
        }
        kind
    }

    /// Closes every open part from stack index `first` up, innermost first, at `end`.
    fn close_above(&mut self, first: usize, end: End) {
        while self.stack.len() > first {
            let Some(open) = self.stack.pop() else {
                return;
            };
            self.close(open, end);
        }
    }

    fn close(&mut self, open: Open, end: End) {
        let start = open.start.min(end.at);
        let (header_end, lines) = match open.state {
            State::Header { link, in_digest } => {
                // No empty line: the header is all of the part, the body empty.
                let fields_length = usize::try_from(end.at - start).unwrap_or(usize::MAX);
                let kind = self.describe_part(open.node, link, in_digest, open.depth, fields_length);
                if matches!(kind, BodyKind::Message) {
                    // An embedded message with nothing in it, as the whole-buffer
                    // algorithm makes of an empty body.
                    self.nodes.push(Node { parent: open.node, ..Node::default() });
                    self.open_part(end.at, open.depth + 1, Link::Embedded, false);
                    self.close_above(self.stack.len() - 1, end);
                }
                (end.at, 0)
            }
            State::Body { body_start, newlines_before, .. } => {
                let header_end = body_start.min(end.at);
                let lines = if end.at > header_end {
                    let unterminated = u64::from(end.byte_before != Some(b'\n'));
                    end.newlines - newlines_before + unterminated
                } else {
                    0
                };
                (header_end, lines)
            }
        };
        if self.preview.target == Some(open.node) {
            self.preview.target = None;
        }
        let Some(node) = self.nodes.get_mut(open.node) else {
            return;
        };
        let part = &mut node.part;
        part.header = start..header_end;
        part.body = header_end..end.at;
        part.size = end.at - header_end;
        part.lines = if counts_lines(part) { lines } else { 0 };
    }
}

#[cfg(test)]
#[path = "summarizer_tests.rs"]
pub(crate) mod tests;
