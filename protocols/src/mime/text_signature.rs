//! Text signatures: per message, a small bit set of the trigrams of every text SEARCH
//! BODY or TEXT (RFC 9051 §6.4.4) looks at, made once when the message is stored, so a
//! search can rule a message out without opening its file (issue 16's SEARCH BODY/TEXT
//! goal).
//!
//! What goes in: the same text, unit by unit, that [`super::ContentSearch`] in TEXT
//! scope matches against (each text part's converted text through the same
//! [`PartText`], each header field as `name: decoded value`), folded with the same simple
//! case folding, hashed three UTF-8 bytes at a time. A unit's trigrams never span two
//! units, as a match never does. A search (BODY or TEXT) for a folded needle of three
//! bytes or more can only match a message whose signature has the bit of every trigram
//! of the needle; so "a bit is missing" is an exact "no", and anything else means "read
//! the file" (a signature is a filter, never a verdict of "yes").
//!
//! Size. The trigrams are hashed into 65,536 bits while the message is read, then the bit
//! set is folded down (OR of its halves, which keeps `hash mod size`) to the power of two
//! at least twice the number of bits set: 64 bits to 8 KiB, between two and four bits per
//! distinct trigram, so about a quarter to two fifths of the bits are set and a needle
//! of n trigrams absent from a message passes with a chance of roughly 0.3ⁿ. A 4 KiB
//! message of prose gets a few hundred bytes. Building reads at most
//! [`SIGNATURE_SOURCE_BYTES_MAX`] bytes of the file; past that the message gets no
//! signature (and is always read).
//!
//! Format (stored; change [`SIGNATURE_VERSION`] with any change to the text, the folding
//! or the hash): version byte, log2 of the number of bits, the bits as little-endian u64
//! words. A signature that does not parse rules nothing out.

use super::body_search::{PartText, SearchScope, TextSink, header_field_texts, segments};
use super::search::fold_char;
use super::{MessageSummary, Part};

/// The format's version, the first byte of every signature.
pub const SIGNATURE_VERSION: u8 = 1;

/// Most bytes of a message file read to make its signature: a larger text (the
/// summary's text parts and header blocks) gets none.
pub const SIGNATURE_SOURCE_BYTES_MAX: u64 = 4 * 1024 * 1024;

/// Bits hashed into while reading: the largest signature.
const BUILD_BITS_LOG2: u8 = 16;
const BUILD_WORDS: usize = (1 << BUILD_BITS_LOG2) / 64;
/// The smallest signature, in bits.
const MIN_BITS_LOG2: u8 = 6;

/// The hash of one trigram (its three bytes in the low 24 bits, first byte highest), in
/// `0..2^16`: the top bits of a multiplicative hash.
fn trigram_hash(packed: u32) -> u32 {
    packed.wrapping_mul(0x9e37_79b1) >> (32 - u32::from(BUILD_BITS_LOG2))
}

/// Calls `each` with every folded byte of `text`: ASCII lowercased in place, any other
/// character through the matchers' `fold_char`, as UTF-8.
fn folded_bytes(text: &str, mut each: impl FnMut(u8)) {
    let bytes = text.as_bytes();
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        if byte.is_ascii() {
            each(byte.to_ascii_lowercase());
            at += 1;
            continue;
        }
        // `at` is a character boundary: everything before it was whole characters.
        let Some(character) = text.get(at..).and_then(|rest| rest.chars().next()) else { return };
        let mut buffer = [0u8; 4];
        fold_char(character).encode_utf8(&mut buffer).bytes().for_each(&mut each);
        at += character.len_utf8();
    }
}

/// A sliding window over a unit's folded bytes: the packed trigram ending at each byte.
#[derive(Default)]
struct Window {
    /// The last three bytes, the latest lowest.
    packed: u32,
    /// Bytes of the current unit so far, counted up to 3.
    seen: u8,
}

impl Window {
    /// Takes the next byte; the trigram it ends, if the unit has three bytes yet.
    fn push(&mut self, byte: u8) -> Option<u32> {
        self.packed = (self.packed << 8 | u32::from(byte)) & 0x00ff_ffff;
        if self.seen < 2 {
            self.seen += 1;
            return None;
        }
        Some(self.packed)
    }
}

/// The trigram set being built: a [`TextSink`] fed unit by unit.
struct Trigrams {
    bits: Box<[u64]>,
    window: Window,
}

impl Trigrams {
    fn new() -> Trigrams {
        Trigrams { bits: vec![0u64; BUILD_WORDS].into_boxed_slice(), window: Window::default() }
    }

    /// The current unit ended: no trigram spans it and the next.
    fn end_unit(&mut self) {
        self.window = Window::default();
    }

    /// The stored form, folded down to its size (see the module doc).
    fn encode(&self) -> Vec<u8> {
        let set: u32 = self.bits.iter().map(|word| word.count_ones()).sum();
        let wanted = (u64::from(set) * 2).next_power_of_two().max(1 << MIN_BITS_LOG2);
        let log2 = u8::try_from(wanted.trailing_zeros()).unwrap_or(BUILD_BITS_LOG2).min(BUILD_BITS_LOG2);
        let words = (1usize << log2) / 64;
        let mut folded = vec![0u64; words];
        for chunk in self.bits.chunks(words) {
            for (into, word) in folded.iter_mut().zip(chunk) {
                *into |= word;
            }
        }
        let mut out = Vec::with_capacity(2 + words * 8);
        out.push(SIGNATURE_VERSION);
        out.push(log2);
        for word in folded {
            out.extend_from_slice(&word.to_le_bytes());
        }
        out
    }
}

impl TextSink for Trigrams {
    fn feed(&mut self, text: &str) {
        let (bits, window) = (&mut self.bits, &mut self.window);
        folded_bytes(text, |byte| {
            if let Some(trigram) = window.push(byte) {
                let hash = trigram_hash(trigram) as usize;
                if let Some(word) = bits.get_mut(hash / 64) {
                    *word |= 1 << (hash % 64);
                }
            }
        });
    }

    fn settled(&self) -> bool {
        false
    }
}

/// Makes a message's signature from its file: ask [`SignatureBuilder::next_range`] which
/// bytes to read, [`SignatureBuilder::feed`] them in order in pieces of any size, and
/// repeat until it returns `None`; then [`SignatureBuilder::finish`].
pub struct SignatureBuilder<'a> {
    parts: Vec<&'a Part>,
    segments: Vec<super::body_search::Segment>,
    next: usize,
    remaining: u64,
    part: Option<PartText<Trigrams>>,
    /// The set, while no part holds it.
    trigrams: Option<Trigrams>,
    header: Vec<u8>,
    header_cut: bool,
    /// The text is larger than [`SIGNATURE_SOURCE_BYTES_MAX`]: no signature.
    too_large: bool,
}

impl std::fmt::Debug for SignatureBuilder<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignatureBuilder").field("next", &self.next).finish_non_exhaustive()
    }
}

impl<'a> SignatureBuilder<'a> {
    /// A signature of the message `summary` describes.
    #[must_use]
    pub fn new(summary: &'a MessageSummary) -> SignatureBuilder<'a> {
        let (parts, segments) = segments(summary, SearchScope::Text);
        let total: u64 =
            segments.iter().map(|segment| segment.range.end.saturating_sub(segment.range.start)).sum();
        let mut builder = SignatureBuilder {
            parts,
            segments,
            next: 0,
            remaining: 0,
            part: None,
            trigrams: Some(Trigrams::new()),
            header: Vec::new(),
            header_cut: false,
            too_large: total > SIGNATURE_SOURCE_BYTES_MAX,
        };
        if !builder.too_large {
            builder.start_segment();
        }
        builder
    }

    /// The range of the message file to feed next, or `None` when all is read.
    #[must_use]
    pub fn next_range(&self) -> Option<std::ops::Range<u64>> {
        if self.too_large {
            return None;
        }
        let segment = self.segments.get(self.next)?;
        Some(segment.range.end - self.remaining..segment.range.end)
    }

    /// Feeds the next bytes of the range [`SignatureBuilder::next_range`] named (at most
    /// its length; extra bytes are ignored).
    pub fn feed(&mut self, bytes: &[u8]) {
        if self.too_large || self.next >= self.segments.len() {
            return;
        }
        let take = usize::try_from(self.remaining).unwrap_or(usize::MAX).min(bytes.len());
        let bytes = &bytes[..take];
        self.remaining -= take as u64;
        match &mut self.part {
            Some(part) => part.feed(bytes),
            None => self.header.extend_from_slice(bytes),
        }
        if self.remaining == 0 {
            self.end_segment();
            self.start_segment();
        }
    }

    /// The signature, once every range was fed; `None` for a text too large, or when the
    /// file ended before the ranges did (the caller stopped feeding).
    #[must_use]
    pub fn finish(self) -> Option<Vec<u8>> {
        if self.too_large || self.next < self.segments.len() {
            return None;
        }
        self.trigrams.as_ref().map(Trigrams::encode)
    }

    fn start_segment(&mut self) {
        while let Some(segment) = self.segments.get(self.next) {
            self.remaining = segment.range.end.saturating_sub(segment.range.start);
            self.header.clear();
            self.header_cut = segment.cut;
            if let Some(part) = segment.part.and_then(|index| self.parts.get(index))
                && let Some(trigrams) = self.trigrams.take()
            {
                self.part = Some(PartText::with_sink(part, trigrams));
            }
            if self.remaining > 0 {
                return;
            }
            self.end_segment();
        }
    }

    fn end_segment(&mut self) {
        if let Some(part) = self.part.take() {
            let mut trigrams = part.finish_into();
            trigrams.end_unit();
            self.trigrams = Some(trigrams);
        } else if let Some(trigrams) = self.trigrams.as_mut() {
            for text in header_field_texts(&self.header, self.header_cut) {
                trigrams.feed(&text);
                trigrams.end_unit();
            }
        }
        self.next += 1;
    }
}

/// A needle's trigram hashes, made once per search and tested against each message's
/// signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureProbe {
    hashes: Vec<u32>,
}

impl SignatureProbe {
    /// The probe for `needle` (folded here). A needle of fewer than three folded bytes
    /// rules nothing out.
    #[must_use]
    pub fn new(needle: &str) -> SignatureProbe {
        let mut window = Window::default();
        let mut hashes = Vec::new();
        folded_bytes(needle, |byte| hashes.extend(window.push(byte).map(trigram_hash)));
        hashes.sort_unstable();
        hashes.dedup();
        SignatureProbe { hashes }
    }

    /// False only when the message `signature` belongs to cannot contain the needle
    /// (BODY or TEXT); true when it may, or the signature does not parse.
    #[must_use]
    pub fn may_match(&self, signature: &[u8]) -> bool {
        let [version, log2, bits @ ..] = signature else { return true };
        if *version != SIGNATURE_VERSION || !(MIN_BITS_LOG2..=BUILD_BITS_LOG2).contains(log2) {
            return true;
        }
        let size = 1usize << log2;
        if bits.len() != size / 8 {
            return true;
        }
        self.hashes.iter().all(|&hash| {
            let bit = hash as usize & (size - 1);
            bits[bit / 8] & (1 << (bit % 8)) != 0
        })
    }
}

/// The signature of a message held whole in memory (`message`, the bytes `summary`
/// describes); `None` as [`SignatureBuilder::finish`].
#[must_use]
pub fn signature_of(message: &[u8], summary: &MessageSummary) -> Option<Vec<u8>> {
    let mut builder = SignatureBuilder::new(summary);
    while let Some(range) = builder.next_range() {
        let start = usize::try_from(range.start).unwrap_or(usize::MAX).min(message.len());
        let end = usize::try_from(range.end).unwrap_or(usize::MAX).min(message.len());
        if start == end {
            return None;
        }
        builder.feed(&message[start..end]);
    }
    builder.finish()
}

#[cfg(test)]
#[path = "text_signature_tests.rs"]
mod tests;
