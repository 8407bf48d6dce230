//! The message as it streams in, collected once for every check: the header block (up to
//! [`HEADER_BLOCK_BYTES_MAX`]) and, for every DKIM-Signature and the newest
//! ARC-Message-Signature, the body hash in the canonicalization, hash and length the
//! signature asks for. Body bytes are hashed as they pass and never kept, so a 100 MiB
//! message costs the same memory as a 1 KiB one and the spool file is never read again.
//!
//! ```text
//!   DATA chunks ──> Intake::update(&[u8]) ... Intake::finish() ──> Collected
//!                   header bytes kept, body bytes hashed            ├─ headers (HeaderBlock)
//!                                                                   ├─ DKIM signatures + body hashes
//!                                                                   └─ ARC sets + AMS body hash
//! ```

use super::dkim::canon::{BodyHasher, Canonicalization, HashAlgorithm};
use super::dkim::signature::{Flavor, Signature, SignatureError};
use super::header::{HEADER_BLOCK_BYTES_MAX, HeaderBlock};

/// DKIM-Signature fields verified per message; later ones get no result. Each costs a
/// key lookup, a body hash (when its parameters differ from the others') and a signature
/// check. Real messages carry one to three (author domain, ESP, mailing list); 10 bounds
/// the work one message can ask for.
pub const DKIM_SIGNATURES_MAX: usize = 10;

/// Parameters of one body hash: signatures that share them share the hasher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BodyKey {
    /// Body canonicalization.
    pub canonicalization: Canonicalization,
    /// Hash algorithm.
    pub hash: HashAlgorithm,
    /// `l=`.
    pub length: Option<u64>,
}

impl BodyKey {
    /// The body hash parameters a signature asks for.
    pub fn of(signature: &Signature) -> BodyKey {
        BodyKey {
            canonicalization: signature.body_canonicalization,
            hash: signature.algorithm.hash(),
            length: signature.body_length,
        }
    }
}

/// A DKIM-Signature field as found.
#[derive(Debug, Clone)]
pub struct FoundSignature {
    /// Index into the header block's fields.
    pub field: usize,
    /// The parsed signature, or why it could not be parsed.
    pub parsed: Result<Signature, SignatureError>,
}

/// What the checks need from a message.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    /// The header block.
    pub headers: HeaderBlock,
    /// The header block was longer than [`HEADER_BLOCK_BYTES_MAX`] and was cut.
    pub headers_truncated: bool,
    /// DKIM-Signature fields, top to bottom, at most [`DKIM_SIGNATURES_MAX`].
    pub dkim: Vec<FoundSignature>,
    /// The newest ARC-Message-Signature (highest instance), if any parsed.
    pub arc_message_signature: Option<(usize, Signature)>,
    /// Body hashes by parameters; `None` when `l=` exceeded the body.
    pub body_hashes: Vec<(BodyKey, Option<Vec<u8>>)>,
}

impl Collected {
    /// The body hash computed for `key`.
    pub fn body_hash(&self, key: &BodyKey) -> Option<&[u8]> {
        self.body_hashes.iter().find(|(k, _)| k == key).and_then(|(_, hash)| hash.as_deref())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineState {
    /// At the start of a line.
    Start,
    /// A CR at the start of a line.
    StartCr,
    /// Inside a line.
    Inside,
}

/// Collects a message fed in chunks.
#[derive(Debug)]
pub struct Intake {
    header: Vec<u8>,
    truncated: bool,
    line: LineState,
    collected: Option<Collected>,
    hashers: Vec<(BodyKey, BodyHasher)>,
}

impl Default for Intake {
    fn default() -> Self {
        Intake::new()
    }
}

impl Intake {
    /// Ready for the first bytes of a message.
    pub fn new() -> Intake {
        Intake {
            header: Vec::new(),
            truncated: false,
            line: LineState::Start,
            collected: None,
            hashers: Vec::new(),
        }
    }

    /// Feeds the next message bytes (any chunking).
    pub fn update(&mut self, chunk: &[u8]) {
        if self.collected.is_some() {
            self.hash_body(chunk);
            return;
        }
        match self.find_header_end(chunk) {
            Some(body_start) => {
                self.keep_header(&chunk[..body_start]);
                self.start_body();
                self.hash_body(&chunk[body_start..]);
            }
            None => self.keep_header(chunk),
        }
    }

    /// Where the body starts in `chunk` (after the empty line), if the header ends in it.
    fn find_header_end(&mut self, chunk: &[u8]) -> Option<usize> {
        for (i, &byte) in chunk.iter().enumerate() {
            self.line = match (self.line, byte) {
                (LineState::Start | LineState::StartCr, b'\n') => return Some(i + 1),
                (LineState::Start, b'\r') => LineState::StartCr,
                (_, b'\n') => LineState::Start,
                _ => LineState::Inside,
            };
        }
        None
    }

    fn keep_header(&mut self, bytes: &[u8]) {
        let room = HEADER_BLOCK_BYTES_MAX - self.header.len();
        if bytes.len() > room {
            self.truncated = true;
        }
        self.header.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    /// The header block is complete: drop the empty line, parse the signatures, and set up
    /// one hasher per distinct body-hash parameter set.
    fn start_body(&mut self) {
        let mut block = std::mem::take(&mut self.header);
        if !self.truncated {
            // Drop the empty line that ended the header block.
            if block.ends_with(b"\r\n") && (block.len() == 2 || block[..block.len() - 2].ends_with(b"\n")) {
                block.truncate(block.len() - 2);
            } else if block.ends_with(b"\n")
                && (block.len() == 1 || block[..block.len() - 1].ends_with(b"\n"))
            {
                block.truncate(block.len() - 1);
            }
        }
        let headers = HeaderBlock::parse(block);
        let mut collected = Collected { headers_truncated: self.truncated, ..Collected::default() };
        for (index, field) in headers.fields().iter().enumerate() {
            let name = headers.name(field);
            if name.eq_ignore_ascii_case(b"DKIM-Signature") && collected.dkim.len() < DKIM_SIGNATURES_MAX {
                let parsed = Signature::parse(headers.value(field), Flavor::Dkim);
                collected.dkim.push(FoundSignature { field: index, parsed });
            } else if name.eq_ignore_ascii_case(b"ARC-Message-Signature")
                && let Ok(signature) = Signature::parse(headers.value(field), Flavor::ArcMessage)
                && collected
                    .arc_message_signature
                    .as_ref()
                    .is_none_or(|(_, s)| signature.instance > s.instance)
            {
                collected.arc_message_signature = Some((index, signature));
            }
        }
        let wanted = collected
            .dkim
            .iter()
            .filter_map(|found| found.parsed.as_ref().ok())
            .chain(collected.arc_message_signature.as_ref().map(|(_, s)| s));
        for signature in wanted {
            let key = BodyKey::of(signature);
            if !self.hashers.iter().any(|(k, _)| *k == key) {
                self.hashers.push((key, BodyHasher::new(key.canonicalization, key.hash, key.length)));
            }
        }
        collected.headers = headers;
        self.collected = Some(collected);
    }

    fn hash_body(&mut self, bytes: &[u8]) {
        for (_, hasher) in &mut self.hashers {
            hasher.update(bytes);
        }
    }

    /// The message ended.
    pub fn finish(mut self) -> Collected {
        if self.collected.is_none() {
            // No empty line: the whole message is header, the body is empty.
            self.start_body();
        }
        let mut collected = self.collected.take().unwrap_or_default();
        collected.body_hashes =
            self.hashers.into_iter().map(|(key, hasher)| (key, hasher.finish())).collect();
        collected
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn header_end_found_across_any_split() {
        let message = b"From: a@example.com\r\nSubject: x\r\n\r\nbody\r\n";
        for split in 1..message.len() {
            let mut intake = Intake::new();
            for chunk in message.chunks(split) {
                intake.update(chunk);
            }
            let collected = intake.finish();
            assert_eq!(collected.headers.bytes(), b"From: a@example.com\r\nSubject: x\r\n", "split {split}");
        }
        let mut intake = Intake::new();
        intake.update(b"\r\nno headers\r\n");
        assert!(intake.finish().headers.bytes().is_empty());
        let mut intake = Intake::new();
        intake.update(b"Subject: only headers\r\n");
        assert_eq!(intake.finish().headers.fields().len(), 1);
    }

    #[test]
    fn oversized_header_is_cut_not_kept() {
        let mut intake = Intake::new();
        let line = format!("X-Junk: {}\r\n", "y".repeat(998));
        for _ in 0..(HEADER_BLOCK_BYTES_MAX / line.len() + 10) {
            intake.update(line.as_bytes());
        }
        intake.update(b"\r\nbody\r\n");
        let collected = intake.finish();
        assert!(collected.headers_truncated);
        assert!(collected.headers.bytes().len() <= HEADER_BLOCK_BYTES_MAX);
    }
}
