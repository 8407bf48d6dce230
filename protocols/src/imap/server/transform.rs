//! FETCH data that is not the file's bytes as stored, produced as the file streams
//! through: BINARY's decoded part bodies (RFC 3516 §4.2, base64 and quoted-printable),
//! BINARY.SIZE (the decoded length), and HEADER.FIELDS / HEADER.FIELDS.NOT (RFC 9051
//! §6.4.5) of header blocks too large to hold. A [`Transform`] sits in the output queue
//! as one segment; it asks its caller for the file a piece at a time
//! ([`super::Output::Read`]) and turns each piece into output bytes.
//!
//! A literal's length comes before its data (RFC 9051 §4.3), and there is no way to tell
//! a decoded or filtered length without reading the input, so a transform reads its
//! range twice: first to count the output (and to see a NUL, which asks for literal8,
//! RFC 3516 §4.3), then to produce it. A window `<offset.length>` stops either pass as
//! soon as the window is complete, so `BINARY[1]<0.64>` of a 20 MB part reads one piece.
//!
//! Invariants: a transform holds at most one piece's output ([`TRANSFORM_READ_BYTES_MAX`]
//! plus the decoder's held-back bytes) and its decoder or filter, whatever the range's
//! size; the data written is exactly as long as the literal header said. Both passes see
//! the same bytes of an immutable message file; if the second somehow produced fewer
//! (a file damaged in between), the rest is padded with spaces so the response stays
//! well formed, and more is cut.

use std::ops::Range;

use crate::imap::response::{write_fetch_literal_header, write_fetch_number};
use crate::mime::{DecodeProgress, HeaderFieldsFilter, PartialDecoder, TransferEncoding};

/// Bytes of the file a transform asks for at a time: 64 KiB, the output budget, so one
/// piece's output (never larger than its input for these transforms, bar 998 bytes of
/// quoted-printable white space) is about one budget's worth.
pub const TRANSFORM_READ_BYTES_MAX: u64 = 64 * 1024;

/// What a transform produces.
#[derive(Debug, Clone)]
pub(crate) enum TransformKind {
    /// BINARY[part]<offset.length>: the decoded window, as a literal named `name`.
    Binary {
        /// The echoed item name, e.g. `BINARY[1]<0>`.
        name: Vec<u8>,
        /// The part's transfer encoding (not identity).
        encoding: TransferEncoding,
        /// The window's first decoded byte.
        offset: u64,
        /// The window's most bytes (`None`: to the end).
        length: Option<u64>,
    },
    /// BINARY.SIZE[part]: the decoded length, as a number item named `name`.
    BinarySize {
        /// The echoed item name, e.g. `BINARY.SIZE[1]`.
        name: Vec<u8>,
        /// The part's transfer encoding (not identity).
        encoding: TransferEncoding,
    },
    /// HEADER.FIELDS (or .NOT) of a header block, windowed, as a literal named `name`.
    Fields {
        /// The echoed item name.
        name: Vec<u8>,
        /// The field names.
        names: Vec<String>,
        /// HEADER.FIELDS.NOT.
        not: bool,
        /// The window's first byte.
        offset: u64,
        /// The window's most bytes (`None`: to the end).
        length: Option<u64>,
    },
}

/// Makes a transform's output from its input, keeping only a window of it.
#[derive(Debug)]
enum Producer {
    Decode(PartialDecoder),
    Fields { filter: HeaderFieldsFilter, window: Window, scratch: Vec<u8> },
}

/// Output positions kept: `[start, end)`.
#[derive(Debug, Clone, Copy)]
struct Window {
    position: u64,
    start: u64,
    end: u64,
}

impl Window {
    fn new(offset: u64, length: Option<u64>) -> Window {
        Window {
            position: 0,
            start: offset,
            end: length.map_or(u64::MAX, |length| offset.saturating_add(length)),
        }
    }

    /// Appends the part of `bytes` (the next output) that lies in the window.
    fn keep(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        let from = self.position;
        let to = from.saturating_add(bytes.len() as u64);
        self.position = to;
        let (keep_from, keep_to) = (self.start.max(from), self.end.min(to));
        if keep_from < keep_to {
            // Both lie within `bytes`: offsets below its length.
            let first = usize::try_from(keep_from - from).unwrap_or(usize::MAX);
            let last = usize::try_from(keep_to - from).unwrap_or(usize::MAX);
            out.extend_from_slice(&bytes[first..last]);
        }
    }

    fn is_complete(&self) -> bool {
        self.position >= self.end
    }
}

impl Producer {
    fn new(kind: &TransformKind) -> Producer {
        match kind {
            TransformKind::Binary { encoding, offset, length, .. } => {
                Producer::Decode(PartialDecoder::new(*encoding, *offset, *length))
            }
            TransformKind::BinarySize { encoding, .. } => {
                Producer::Decode(PartialDecoder::new(*encoding, 0, None))
            }
            TransformKind::Fields { names, not, offset, length, .. } => Producer::Fields {
                filter: HeaderFieldsFilter::new(names, *not),
                window: Window::new(*offset, *length),
                scratch: Vec::new(),
            },
        }
    }

    /// Feeds input; appends the window's output to `out`. True when no more input is
    /// needed.
    fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        match self {
            Producer::Decode(decoder) => decoder.decode(input, out) == DecodeProgress::Done,
            Producer::Fields { filter, window, scratch } => {
                scratch.clear();
                filter.feed(input, scratch);
                window.keep(scratch, out);
                window.is_complete()
            }
        }
    }

    /// The end of the input.
    fn finish(self, out: &mut Vec<u8>) {
        match self {
            Producer::Decode(decoder) => decoder.finish(out),
            Producer::Fields { filter, mut window, mut scratch } => {
                scratch.clear();
                filter.finish(&mut scratch);
                window.keep(&scratch, out);
            }
        }
    }
}

/// Where a transform is.
#[derive(Debug)]
enum Phase {
    /// Counting the output: bytes so far, and whether a NUL was among them.
    Measure { counted: u64, nul: bool },
    /// Producing it: bytes still owed to the literal.
    Stream { remaining: u64 },
    /// Everything is in `ready`.
    Done,
}

/// One item's data, produced from a file range as it is read; see the module doc.
#[derive(Debug)]
pub(crate) struct Transform {
    /// The caller's name for the file.
    pub(crate) file: u64,
    /// Input before the file range (the delivery prefix of a message's own header).
    prefix: Vec<u8>,
    range: Range<u64>,
    kind: TransformKind,
    phase: Phase,
    /// The next file offset to read.
    next: u64,
    producer: Option<Producer>,
    /// Output ready to be written, and how much of it was.
    ready: Vec<u8>,
    written: usize,
}

impl Transform {
    /// A transform of `range` of `file` (after `prefix`), ready to ask for its input.
    pub(crate) fn new(file: u64, prefix: &[u8], range: Range<u64>, kind: TransformKind) -> Transform {
        let mut transform = Transform {
            file,
            prefix: prefix.to_vec(),
            next: range.start,
            range,
            kind,
            phase: Phase::Measure { counted: 0, nul: false },
            producer: None,
            ready: Vec::new(),
            written: 0,
        };
        transform.start_pass();
        transform
    }

    /// Output bytes ready to be written (empty when it needs input or is done).
    pub(crate) fn ready(&self) -> &[u8] {
        &self.ready[self.written..]
    }

    /// The caller wrote `n` bytes of [`Transform::ready`]; returns how many of `n` it took.
    pub(crate) fn advance(&mut self, n: u64) -> u64 {
        let left = self.ready.len() - self.written;
        let step = usize::try_from(n).unwrap_or(usize::MAX).min(left);
        self.written += step;
        if self.written == self.ready.len() {
            self.ready.clear();
            self.written = 0;
        }
        step as u64
    }

    /// True once every byte was produced and written.
    pub(crate) fn is_finished(&self) -> bool {
        matches!(self.phase, Phase::Done) && self.ready.is_empty()
    }

    /// The file bytes wanted next, when nothing is ready: (offset, length).
    pub(crate) fn wanted(&self) -> Option<(u64, u64)> {
        if !self.ready.is_empty() || matches!(self.phase, Phase::Done) {
            return None;
        }
        let length = self.range.end.saturating_sub(self.next).min(TRANSFORM_READ_BYTES_MAX);
        Some((self.next, length))
    }

    /// The file bytes asked for by [`Transform::wanted`] (fewer at the end of the file;
    /// none means the file ends here).
    pub(crate) fn provide(&mut self, bytes: &[u8]) {
        if self.wanted().is_none() {
            return;
        }
        let take = usize::try_from(self.range.end.saturating_sub(self.next)).unwrap_or(usize::MAX);
        let bytes = &bytes[..bytes.len().min(take)];
        self.next += bytes.len() as u64;
        let input_ended = bytes.is_empty() || self.next >= self.range.end;
        let done = self.feed(bytes);
        if done || input_ended {
            self.end_pass();
        }
    }

    /// Starts a pass over the input: the prefix first; an empty range ends it at once.
    fn start_pass(&mut self) {
        self.next = self.range.start;
        self.producer = Some(Producer::new(&self.kind));
        let prefix = std::mem::take(&mut self.prefix);
        let done = self.feed(&prefix);
        self.prefix = prefix;
        if done || self.next >= self.range.end {
            self.end_pass();
        }
    }

    /// Feeds input to the pass under way; true when it needs no more.
    fn feed(&mut self, input: &[u8]) -> bool {
        let Some(producer) = self.producer.as_mut() else { return true };
        match &mut self.phase {
            Phase::Measure { counted, nul } => {
                let mut scratch = std::mem::take(&mut self.ready);
                scratch.clear();
                let done = producer.feed(input, &mut scratch);
                *counted += scratch.len() as u64;
                *nul |= scratch.contains(&0);
                scratch.clear();
                self.ready = scratch;
                done
            }
            Phase::Stream { remaining } => {
                let before = self.ready.len();
                let done = producer.feed(input, &mut self.ready);
                let owed = usize::try_from(*remaining).unwrap_or(usize::MAX);
                self.ready.truncate(before + (self.ready.len() - before).min(owed));
                *remaining -= (self.ready.len() - before) as u64;
                done || *remaining == 0
            }
            Phase::Done => true,
        }
    }

    /// The pass under way has all its input: the measure pass writes the item's head and
    /// starts the stream pass; the stream pass completes the literal.
    fn end_pass(&mut self) {
        let Some(producer) = self.producer.take() else { return };
        match self.phase {
            Phase::Measure { mut counted, mut nul } => {
                let mut tail = Vec::new();
                producer.finish(&mut tail);
                counted += tail.len() as u64;
                nul |= tail.contains(&0);
                self.ready.clear();
                match &self.kind {
                    TransformKind::BinarySize { name, .. } => {
                        write_fetch_number(&mut self.ready, name, counted);
                        self.phase = Phase::Done;
                        return;
                    }
                    TransformKind::Binary { name, .. } => {
                        write_fetch_literal_header(&mut self.ready, name, counted, nul);
                    }
                    TransformKind::Fields { name, .. } => {
                        write_fetch_literal_header(&mut self.ready, name, counted, false);
                    }
                }
                self.phase = Phase::Stream { remaining: counted };
                if counted == 0 {
                    self.phase = Phase::Done;
                } else {
                    self.start_pass();
                }
            }
            Phase::Stream { remaining } => {
                let before = self.ready.len();
                producer.finish(&mut self.ready);
                let owed = usize::try_from(remaining).unwrap_or(usize::MAX);
                self.ready.truncate(before + (self.ready.len() - before).min(owed));
                let short = remaining - (self.ready.len() - before) as u64;
                // Only a file changed between the passes comes short: keep the framing.
                self.ready.resize(self.ready.len() + usize::try_from(short).unwrap_or(0), b' ');
                self.phase = Phase::Done;
            }
            Phase::Done => {}
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Runs a transform over `file`, answering its reads in pieces of at most `piece`.
    fn run(mut transform: Transform, file: &[u8], piece: usize) -> (Vec<u8>, u64) {
        let mut out = Vec::new();
        let mut read = 0u64;
        loop {
            let ready = transform.ready().to_vec();
            if !ready.is_empty() {
                out.extend_from_slice(&ready);
                transform.advance(ready.len() as u64);
                continue;
            }
            let Some((offset, length)) = transform.wanted() else { break };
            assert!(length <= TRANSFORM_READ_BYTES_MAX);
            let start = (offset as usize).min(file.len());
            let end = (start + (length as usize).min(piece)).min(file.len());
            read += (end - start) as u64;
            transform.provide(&file[start..end]);
        }
        assert!(transform.is_finished());
        (out, read)
    }

    fn binary(offset: u64, length: Option<u64>) -> TransformKind {
        TransformKind::Binary {
            name: b"BINARY[1]".to_vec(),
            encoding: TransferEncoding::Base64,
            offset,
            length,
        }
    }

    #[test]
    fn a_base64_body_is_measured_then_streamed() {
        let body = b"aGVsbG8gd29ybGQ=\r\n".repeat(3);
        let file = [b"head\r\n\r\n".as_slice(), &body].concat();
        let range = 8..file.len() as u64;
        for piece in [1, 3, 7, 1000] {
            let (out, _) = run(Transform::new(1, &[], range.clone(), binary(0, None)), &file, piece);
            assert_eq!(out, b"BINARY[1] {11}\r\nhello world");
            let (out, _) = run(Transform::new(1, &[], range.clone(), binary(6, Some(3))), &file, piece);
            assert_eq!(out, b"BINARY[1] {3}\r\nwor");
            let (out, _) = run(Transform::new(1, &[], range.clone(), binary(20, Some(3))), &file, piece);
            assert_eq!(out, b"BINARY[1] {0}\r\n");
            let size = TransformKind::BinarySize {
                name: b"BINARY.SIZE[1]".to_vec(),
                encoding: TransferEncoding::Base64,
            };
            let (out, _) = run(Transform::new(1, &[], range.clone(), size), &file, piece);
            assert_eq!(out, b"BINARY.SIZE[1] 11");
        }
    }

    #[test]
    fn a_small_window_of_a_large_body_reads_one_piece_per_pass() {
        let line = b"QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB\r\n";
        let file = line.repeat(300_000); // 22 MB
        let (out, read) =
            run(Transform::new(1, &[], 0..file.len() as u64, binary(0, Some(64))), &file, usize::MAX);
        assert_eq!(out, [b"BINARY[1] {64}\r\n".as_slice(), &[b'A'; 64]].concat());
        assert_eq!(read, 2 * TRANSFORM_READ_BYTES_MAX);
    }

    #[test]
    fn nul_asks_for_literal8() {
        let file = b"AAEC"; // 00 01 02
        let (out, _) = run(Transform::new(1, &[], 0..4, binary(0, None)), file, 2);
        assert_eq!(out, b"BINARY[1] ~{3}\r\n\x00\x01\x02");
    }

    #[test]
    fn header_fields_stream_with_the_prefix_and_a_window() {
        let file = b"Subject: s\r\nX: 1\r\nTo: t\r\n\r\nbody";
        let kind = |offset, length| TransformKind::Fields {
            name: b"BODY[HEADER.FIELDS (TO SUBJECT RECEIVED)]".to_vec(),
            names: vec!["to".into(), "subject".into(), "received".into()],
            not: false,
            offset,
            length,
        };
        let prefix = b"Received: r\r\n";
        for piece in [1, 5, 100] {
            let (out, _) = run(Transform::new(1, prefix, 0..27, kind(0, None)), file, piece);
            assert_eq!(out, b"BODY[HEADER.FIELDS (TO SUBJECT RECEIVED)] {34}\r\nReceived: r\r\nSubject: s\r\nTo: t\r\n\r\n");
            let (out, _) = run(Transform::new(1, prefix, 0..27, kind(13, Some(12))), file, piece);
            assert_eq!(out, b"BODY[HEADER.FIELDS (TO SUBJECT RECEIVED)] {12}\r\nSubject: s\r\n");
        }
    }

    #[test]
    fn a_file_that_comes_short_keeps_the_framing() {
        let file = b"aGVsbG8gd29ybGQ=";
        let mut transform = Transform::new(1, &[], 0..16, binary(0, None));
        assert_eq!(transform.wanted(), Some((0, 16)));
        transform.provide(file);
        let head = transform.ready().to_vec();
        assert_eq!(head, b"BINARY[1] {11}\r\n");
        transform.advance(head.len() as u64);
        transform.provide(&file[..4]);
        assert_eq!(transform.ready(), b"hel");
        transform.advance(3);
        transform.provide(&[]); // the file ends
        assert_eq!(transform.ready(), b"        ");
        transform.advance(8);
        assert!(transform.is_finished());
    }
}
