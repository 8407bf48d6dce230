//! Content-Transfer-Encoding removal (RFC 2045 §6) for BINARY fetches (RFC 3516) and for
//! SEARCH, as a stream: a body is fed in pieces of any size, and what is decoded is
//! handed on at once, so memory does not grow with the body.
//!
//! - [`TransferDecoder`]: decoded bytes appended to the caller's buffer, at most the input
//!   length plus [`QUOTED_PRINTABLE_SPACE_BYTES_MAX`] per call.
//! - [`PartialDecoder`]: only the decoded bytes of a window `<offset.length>` (RFC 3516 §4.1
//!   partial BINARY fetches): what comes before the window is scanned and dropped, and the
//!   decoder says when the window is complete, so the rest of the body is never read.
//! - [`DecodedSize`]: the decoded length (RFC 3516 §4.2 BINARY.SIZE) in one pass, counting
//!   only.
//! - [`decode_body`]: the whole body in memory, for callers that hold it anyway.
//!
//! Decoding is lenient the way RFC 2045 asks: base64 ignores characters outside its
//! alphabet (§6.8) and stops at padding; quoted-printable keeps a malformed `=` sequence
//! as it is (§6.7 note 1) and deletes trailing white space of lines (§6.7 rule 3). Line
//! breaks are kept as they are in the input. The stream gives the same bytes as decoding
//! the whole body at once, however it is cut (the tests check both ways).

use super::DecodeError;

/// Longest run of spaces and tabs a quoted-printable decoder holds back while it cannot
/// tell whether the run ends its line (RFC 2045 §6.7 rule 3: then it is deleted). An
/// encoder's lines are at most 76 characters (§6.7 rule 5) and SMTP lines 998 (RFC 5322
/// §2.1.1), so a longer run is not an encoder's padding: it is kept as it is, which bounds
/// what a decoder holds.
pub const QUOTED_PRINTABLE_SPACE_BYTES_MAX: usize = 998;

/// A Content-Transfer-Encoding we can remove (RFC 2045 §6.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferEncoding {
    /// 7bit, 8bit, binary (or none given): the body as it is.
    Identity,
    /// base64 (RFC 2045 §6.8).
    Base64,
    /// quoted-printable (RFC 2045 §6.7).
    QuotedPrintable,
}

impl TransferEncoding {
    /// The encoding a Content-Transfer-Encoding value names (ASCII case-insensitive,
    /// surrounding white space ignored; empty is identity).
    ///
    /// # Errors
    /// [`DecodeError::UnknownEncoding`] for any other name (IMAP answers `NO
    /// [UNKNOWN-CTE]`, RFC 3516 §4.3).
    pub fn from_name(name: &[u8]) -> Result<TransferEncoding, DecodeError> {
        let name = super::header::trim(name);
        let is = |known: &[u8]| name.eq_ignore_ascii_case(known);
        if name.is_empty() || is(b"7bit") || is(b"8bit") || is(b"binary") {
            Ok(TransferEncoding::Identity)
        } else if is(b"base64") {
            Ok(TransferEncoding::Base64)
        } else if is(b"quoted-printable") {
            Ok(TransferEncoding::QuotedPrintable)
        } else {
            Err(DecodeError::UnknownEncoding)
        }
    }
}

/// BINARY (RFC 3516): `body` with its Content-Transfer-Encoding `encoding` removed
/// (names compared ASCII case-insensitively, surrounding white space ignored). 7bit,
/// 8bit, binary and an empty name return the body unchanged.
///
/// # Errors
/// [`DecodeError::UnknownEncoding`] for any other encoding name (IMAP answers
/// `NO [UNKNOWN-CTE]`).
pub fn decode_body(body: &[u8], encoding: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut decoder = TransferDecoder::new(TransferEncoding::from_name(encoding)?);
    let mut out = Vec::with_capacity(body.len());
    decoder.decode(body, &mut out);
    decoder.finish(&mut out);
    Ok(out)
}

/// Where decoded bytes go.
trait Sink {
    fn bytes(&mut self, bytes: &[u8]);
    /// True once nothing more is wanted (the decoder may stop early).
    fn full(&self) -> bool {
        false
    }
}

impl Sink for Vec<u8> {
    fn bytes(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Counts and keeps nothing.
struct Counter(u64);

impl Sink for Counter {
    fn bytes(&mut self, bytes: &[u8]) {
        self.0 += len_u64(bytes);
    }
}

/// Keeps the decoded bytes in `[start, end)` of the output.
struct Window<'a> {
    position: u64,
    start: u64,
    end: u64,
    out: &'a mut Vec<u8>,
}

impl Sink for Window<'_> {
    fn bytes(&mut self, bytes: &[u8]) {
        let from = self.position;
        let to = from + len_u64(bytes);
        self.position = to;
        let keep_from = self.start.max(from);
        let keep_to = self.end.min(to);
        if keep_from < keep_to {
            // Both lie within `bytes`: offsets below its length.
            let first = usize::try_from(keep_from - from).unwrap_or(usize::MAX);
            let last = usize::try_from(keep_to - from).unwrap_or(usize::MAX);
            self.out.extend_from_slice(&bytes[first..last]);
        }
    }

    fn full(&self) -> bool {
        self.position >= self.end
    }
}

fn len_u64(bytes: &[u8]) -> u64 {
    u64::try_from(bytes.len()).unwrap_or(u64::MAX)
}

/// Removes a transfer encoding from a body fed in pieces: [`TransferDecoder::decode`] each
/// piece in order, then [`TransferDecoder::finish`]. The output is the same as
/// [`decode_body`] of the whole body.
#[derive(Debug, Clone)]
pub struct TransferDecoder {
    state: DecoderState,
}

#[derive(Debug, Clone)]
enum DecoderState {
    Identity,
    Base64(Base64),
    QuotedPrintable(QuotedPrintable),
}

impl TransferDecoder {
    /// A decoder at the start of a body.
    #[must_use]
    pub fn new(encoding: TransferEncoding) -> TransferDecoder {
        let state = match encoding {
            TransferEncoding::Identity => DecoderState::Identity,
            TransferEncoding::Base64 => DecoderState::Base64(Base64::default()),
            TransferEncoding::QuotedPrintable => DecoderState::QuotedPrintable(QuotedPrintable::default()),
        };
        TransferDecoder { state }
    }

    /// Decodes the next piece of the body, appending to `out` (at most `input.len()` plus
    /// [`QUOTED_PRINTABLE_SPACE_BYTES_MAX`] bytes).
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) {
        self.run(input, out);
    }

    /// The end of the body: appends what was held back (a partial base64 group, a
    /// quoted-printable sequence cut by the end).
    pub fn finish(mut self, out: &mut Vec<u8>) {
        self.end(out);
    }

    /// True when the rest of the body cannot change the output (base64 after its
    /// padding): the caller may stop reading.
    #[must_use]
    pub fn is_done(&self) -> bool {
        matches!(&self.state, DecoderState::Base64(base64) if base64.done)
    }

    fn run<S: Sink>(&mut self, input: &[u8], sink: &mut S) {
        match &mut self.state {
            DecoderState::Identity => sink.bytes(input),
            DecoderState::Base64(base64) => base64.run(input, sink),
            DecoderState::QuotedPrintable(quoted) => quoted.run(input, sink),
        }
    }

    fn end<S: Sink>(&mut self, sink: &mut S) {
        match &mut self.state {
            DecoderState::Identity => {}
            DecoderState::Base64(base64) => base64.end(sink),
            DecoderState::QuotedPrintable(quoted) => quoted.end(sink),
        }
    }
}

/// Whether a [`PartialDecoder`] wants more of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeProgress {
    /// Feed the next piece of the body.
    NeedMore,
    /// The window is complete (or the encoding ends): stop reading.
    Done,
}

/// The decoded bytes `[offset, offset + length)` of a body (RFC 3516 §4.1
/// `BINARY[section]<offset.length>`), decoding as the body streams in: bytes before the
/// window are decoded only to be counted, none after it is read once [`DecodeProgress::Done`].
#[derive(Debug, Clone)]
pub struct PartialDecoder {
    decoder: TransferDecoder,
    /// Decoded bytes produced so far (kept or not).
    position: u64,
    start: u64,
    end: u64,
}

impl PartialDecoder {
    /// The window at `offset`, `length` bytes long (`None`: to the end).
    #[must_use]
    pub fn new(encoding: TransferEncoding, offset: u64, length: Option<u64>) -> PartialDecoder {
        let end = length.map_or(u64::MAX, |length| offset.saturating_add(length));
        PartialDecoder { decoder: TransferDecoder::new(encoding), position: 0, start: offset, end }
    }

    /// Decodes the next piece of the body, appending to `out` only the window's bytes
    /// (at most as many as the window has left).
    pub fn decode(&mut self, input: &[u8], out: &mut Vec<u8>) -> DecodeProgress {
        if self.position < self.end && !self.decoder.is_done() {
            let mut window = Window { position: self.position, start: self.start, end: self.end, out };
            self.decoder.run(input, &mut window);
            self.position = window.position;
        }
        if self.position >= self.end || self.decoder.is_done() {
            DecodeProgress::Done
        } else {
            DecodeProgress::NeedMore
        }
    }

    /// The end of the body: appends what the window still gets from bytes held back.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        let mut window = Window { position: self.position, start: self.start, end: self.end, out };
        self.decoder.end(&mut window);
    }

    /// Decoded bytes produced so far, in the window or before it.
    #[must_use]
    pub fn decoded_bytes(&self) -> u64 {
        self.position
    }
}

/// The decoded length of a body (RFC 3516 §4.2 BINARY.SIZE), counted in one pass over
/// pieces of it; nothing decoded is kept.
#[derive(Debug, Clone)]
pub struct DecodedSize {
    decoder: TransferDecoder,
    counter: u64,
}

impl DecodedSize {
    /// A count at the start of a body.
    #[must_use]
    pub fn new(encoding: TransferEncoding) -> DecodedSize {
        DecodedSize { decoder: TransferDecoder::new(encoding), counter: 0 }
    }

    /// Counts the next piece of the body.
    pub fn feed(&mut self, input: &[u8]) {
        let mut counter = Counter(self.counter);
        self.decoder.run(input, &mut counter);
        self.counter = counter.0;
    }

    /// The decoded length of everything fed.
    #[must_use]
    pub fn finish(mut self) -> u64 {
        let mut counter = Counter(self.counter);
        self.decoder.end(&mut counter);
        counter.0
    }
}

fn base64_value(byte: u8) -> Option<u32> {
    let value = match byte {
        b'A'..=b'Z' => byte - b'A',
        b'a'..=b'z' => byte - b'a' + 26,
        b'0'..=b'9' => byte - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(value))
}

/// base64 state between pieces: the characters of an unfinished group.
#[derive(Debug, Clone, Default)]
struct Base64 {
    accumulator: u32,
    count: u8,
    /// Padding seen: the data ended (RFC 2045 §6.8), the rest is ignored.
    done: bool,
}

impl Base64 {
    fn run<S: Sink>(&mut self, input: &[u8], sink: &mut S) {
        if self.done {
            return;
        }
        // Decoded bytes are handed on in batches of 64 groups.
        let mut group = [0u8; 3 * 64];
        let mut filled = 0;
        for &byte in input {
            if byte == b'=' {
                sink.bytes(&group[..filled]);
                self.end(sink);
                self.done = true;
                return;
            }
            let Some(value) = base64_value(byte) else {
                continue;
            };
            self.accumulator = (self.accumulator << 6) | value;
            self.count += 1;
            if self.count == 4 {
                group[filled..filled + 3].copy_from_slice(&self.accumulator.to_be_bytes()[1..]);
                filled += 3;
                self.accumulator = 0;
                self.count = 0;
                if filled == group.len() {
                    sink.bytes(&group);
                    filled = 0;
                    if sink.full() {
                        return;
                    }
                }
            }
        }
        sink.bytes(&group[..filled]);
    }

    /// A partial group: 2 characters carry 1 byte, 3 carry 2; 1 carries none.
    fn end<S: Sink>(&mut self, sink: &mut S) {
        if self.done {
            return;
        }
        match self.count {
            2 => sink.bytes(&[(self.accumulator >> 4).to_be_bytes()[3]]),
            3 => sink.bytes(&(self.accumulator >> 2).to_be_bytes()[2..]),
            _ => {}
        }
        self.accumulator = 0;
        self.count = 0;
        self.done = true;
    }
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        b'a'..=b'f' => Some(byte - b'a' + 10), // lower case is not canonical, but seen
        _ => None,
    }
}

/// Bytes that quoted-printable decoding treats specially; everything else is copied.
fn is_quoted_special(byte: u8) -> bool {
    matches!(byte, b'=' | b' ' | b'\t' | b'\r' | b'\n')
}

/// quoted-printable state between bytes: what is held back until the line goes on or
/// ends. In order: an `=` (alone, or with one hex digit), a run of spaces and tabs, a CR.
#[derive(Debug, Clone, Default)]
struct QuotedPrintable {
    /// An `=` followed so far only by white space (and maybe a CR): a soft line break if
    /// the line ends here.
    equals: bool,
    /// `=` and one hex digit: the second digit decides.
    hex_first: Option<u8>,
    /// White space that is deleted if the line ends after it.
    space: Vec<u8>,
    /// The run outgrew [`QUOTED_PRINTABLE_SPACE_BYTES_MAX`]: it is kept and passed on.
    space_passed: bool,
    /// A CR: part of the line break if a LF follows.
    carriage_return: bool,
}

impl QuotedPrintable {
    fn run<S: Sink>(&mut self, input: &[u8], sink: &mut S) {
        let mut rest = input;
        while !rest.is_empty() {
            if self.is_idle() {
                let plain = rest.iter().position(|&byte| is_quoted_special(byte)).unwrap_or(rest.len());
                if plain > 0 {
                    sink.bytes(&rest[..plain]);
                    rest = &rest[plain..];
                    if sink.full() {
                        return;
                    }
                    continue;
                }
            }
            self.byte(rest[0], sink);
            rest = &rest[1..];
        }
    }

    fn is_idle(&self) -> bool {
        !self.equals
            && self.hex_first.is_none()
            && self.space.is_empty()
            && !self.space_passed
            && !self.carriage_return
    }

    fn byte<S: Sink>(&mut self, byte: u8, sink: &mut S) {
        if let Some(first) = self.hex_first.take() {
            if let (Some(high), Some(low)) = (hex_value(first), hex_value(byte)) {
                sink.bytes(&[high << 4 | low]);
                return;
            }
            sink.bytes(&[b'=', first]); // malformed: kept as it is (§6.7 note 1)
        }
        if self.carriage_return {
            self.carriage_return = false;
            if byte == b'\n' {
                self.line_end(sink, b"\r\n");
                return;
            }
            // Not a line break: the CR and what it held back are content.
            self.flush_held(sink);
            sink.bytes(b"\r");
        }
        match byte {
            b'\n' => self.line_end(sink, b"\n"),
            b'\r' => self.carriage_return = true,
            b' ' | b'\t' => self.white_space(byte, sink),
            b'=' => {
                self.flush_held(sink);
                self.equals = true;
            }
            _ if self.equals && self.space.is_empty() && hex_value(byte).is_some() => {
                self.equals = false;
                self.hex_first = Some(byte);
            }
            _ => {
                self.flush_held(sink);
                sink.bytes(&[byte]);
            }
        }
    }

    fn white_space<S: Sink>(&mut self, byte: u8, sink: &mut S) {
        if self.space_passed {
            sink.bytes(&[byte]);
        } else if self.space.len() < QUOTED_PRINTABLE_SPACE_BYTES_MAX {
            self.space.push(byte);
        } else {
            self.flush_held(sink);
            sink.bytes(&[byte]);
            self.space_passed = true;
        }
    }

    /// Passes on an `=` and white space that turned out not to end the line.
    fn flush_held<S: Sink>(&mut self, sink: &mut S) {
        if self.equals {
            sink.bytes(b"=");
            self.equals = false;
        }
        if !self.space.is_empty() {
            sink.bytes(&self.space);
            self.space.clear();
        }
        self.space_passed = false;
    }

    /// A line break: white space before it is deleted (§6.7 rule 3), and after an `=` the
    /// break itself (a soft line break, §6.7 rule 5).
    fn line_end<S: Sink>(&mut self, sink: &mut S, line_break: &[u8]) {
        let soft = self.equals;
        self.equals = false;
        self.space.clear();
        self.space_passed = false;
        if !soft {
            sink.bytes(line_break);
        }
    }

    /// The body ends without a line break: as a line end, except that a CR is content.
    fn end<S: Sink>(&mut self, sink: &mut S) {
        if let Some(first) = self.hex_first.take() {
            sink.bytes(&[b'=', first]);
        }
        if self.carriage_return {
            self.carriage_return = false;
            self.flush_held(sink);
            sink.bytes(b"\r");
        } else {
            self.line_end(sink, b"");
        }
    }
}

#[cfg(test)]
#[path = "transfer_tests.rs"]
mod tests;
