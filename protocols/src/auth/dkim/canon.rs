//! DKIM canonicalization (RFC 6376 §3.4): header fields (`simple`, `relaxed`) and the body
//! as a stream fed in chunks of any size, hashed as it goes with an optional length limit
//! (`l=`, §3.5). No body bytes are kept beyond the few that a chunk boundary splits.

use ring::digest;

/// `simple` or `relaxed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Canonicalization {
    /// As sent (header), trailing empty lines dropped (body).
    Simple,
    /// Whitespace compressed, header names lower case.
    Relaxed,
}

/// The hash a signature uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    /// SHA-1 (rsa-sha1, verification only).
    Sha1,
    /// SHA-256.
    Sha256,
}

impl HashAlgorithm {
    pub(crate) fn ring(self) -> &'static digest::Algorithm {
        match self {
            HashAlgorithm::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            HashAlgorithm::Sha256 => &digest::SHA256,
        }
    }
}

/// Appends the canonical form of one header field (raw text with its line end) to `out`.
/// `relaxed` (RFC 6376 §3.4.2): name lower case, unfolded, whitespace runs to one space,
/// none around the colon or at the end; CRLF appended. `simple` (§3.4.1): unchanged.
pub fn header_field(raw: &[u8], canonicalization: Canonicalization, out: &mut Vec<u8>) {
    match canonicalization {
        Canonicalization::Simple => out.extend_from_slice(raw),
        Canonicalization::Relaxed => {
            let colon = raw.iter().position(|&b| b == b':').unwrap_or(raw.len());
            let name = &raw[..colon];
            let name_end = name.iter().rposition(|b| !b" \t".contains(b)).map_or(0, |i| i + 1);
            out.extend(name[..name_end].iter().map(u8::to_ascii_lowercase));
            out.push(b':');
            let value = raw.get(colon + 1..).unwrap_or(&[]);
            let mut pending_space = false;
            let mut started = false;
            for &byte in value {
                match byte {
                    b'\r' | b'\n' => {}
                    b' ' | b'\t' => pending_space = started,
                    _ => {
                        if pending_space {
                            out.push(b' ');
                            pending_space = false;
                        }
                        out.push(byte);
                        started = true;
                    }
                }
            }
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// Size of the staging buffer between canonicalization and the hash: large enough that
/// the hash sees long runs, small enough for the stack.
const STAGE_BYTES: usize = 4096;

/// A body canonicalized and hashed as it streams by.
#[derive(Clone)]
pub struct BodyHasher {
    canonicalization: Canonicalization,
    context: digest::Context,
    /// `l=`: hash at most this many canonical octets.
    limit: Option<u64>,
    /// Canonical octets produced so far (hashed or, past the limit, only counted).
    produced: u64,
    /// Empty lines seen and not yet emitted (they vanish if the body ends).
    pending_empty_lines: u64,
    /// A CR ended the previous chunk.
    pending_cr: bool,
    /// Whitespace seen in the current line and not yet emitted (relaxed).
    pending_space: bool,
    /// The current line has produced content.
    line_has_content: bool,
    stage: Vec<u8>,
}

impl std::fmt::Debug for BodyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BodyHasher")
            .field("canonicalization", &self.canonicalization)
            .field("produced", &self.produced)
            .finish()
    }
}

impl BodyHasher {
    /// A hasher for one canonicalization, hash and length limit.
    pub fn new(canonicalization: Canonicalization, hash: HashAlgorithm, limit: Option<u64>) -> BodyHasher {
        BodyHasher {
            canonicalization,
            context: digest::Context::new(hash.ring()),
            limit,
            produced: 0,
            pending_empty_lines: 0,
            pending_cr: false,
            pending_space: false,
            line_has_content: false,
            stage: Vec::with_capacity(STAGE_BYTES),
        }
    }

    /// Feeds the next body bytes.
    pub fn update(&mut self, chunk: &[u8]) {
        let relaxed = self.canonicalization == Canonicalization::Relaxed;
        for &byte in chunk {
            if self.pending_cr {
                self.pending_cr = false;
                if byte == b'\n' {
                    self.end_line();
                    continue;
                }
                // A CR not followed by LF is line content.
                self.content(b'\r');
            }
            match byte {
                b'\r' => self.pending_cr = true,
                b' ' | b'\t' if relaxed => self.pending_space = true,
                _ => self.content(byte),
            }
        }
        self.flush_stage();
    }

    fn content(&mut self, byte: u8) {
        if !self.line_has_content {
            for _ in 0..self.pending_empty_lines {
                self.emit(b"\r\n");
            }
            self.pending_empty_lines = 0;
            self.line_has_content = true;
        }
        if self.pending_space {
            self.pending_space = false;
            self.emit(b" ");
        }
        self.emit(&[byte]);
    }

    fn end_line(&mut self) {
        self.pending_space = false;
        if self.line_has_content {
            self.emit(b"\r\n");
            self.line_has_content = false;
        } else {
            self.pending_empty_lines = self.pending_empty_lines.saturating_add(1);
        }
    }

    fn emit(&mut self, bytes: &[u8]) {
        let take = match self.limit {
            Some(limit) => {
                bytes.len().min(usize::try_from(limit.saturating_sub(self.produced)).unwrap_or(usize::MAX))
            }
            None => bytes.len(),
        };
        self.produced += bytes.len() as u64;
        if take == 0 {
            return;
        }
        if self.stage.len() + take > STAGE_BYTES {
            self.flush_stage();
        }
        self.stage.extend_from_slice(&bytes[..take]);
    }

    fn flush_stage(&mut self) {
        if !self.stage.is_empty() {
            self.context.update(&self.stage);
            self.stage.clear();
        }
    }

    /// Ends the body. Returns the hash, or `None` when `l=` asked for more octets than the
    /// canonical body has (RFC 6376 §6.1.3: such a signature is not valid).
    pub fn finish(mut self) -> Option<Vec<u8>> {
        if self.pending_cr {
            self.pending_cr = false;
            self.content(b'\r');
        }
        self.pending_space = false;
        if self.line_has_content {
            // RFC 6376 §3.4.3/§3.4.4: a body not ending in CRLF gets one.
            self.emit(b"\r\n");
        } else if self.produced == 0 && self.canonicalization == Canonicalization::Simple {
            // §3.4.3: an empty body is a single CRLF under `simple`.
            self.emit(b"\r\n");
        }
        self.flush_stage();
        if self.limit.is_some_and(|limit| limit > self.produced) {
            return None;
        }
        Some(self.context.finish().as_ref().to_vec())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Canonical bytes, by hashing with an identity check: compare hashes of the expected
    /// canonical form (fed as a simple body that it already is) with the streamed result.
    fn canonical_hash(body: &[u8], canonicalization: Canonicalization, split: usize) -> Vec<u8> {
        let mut hasher = BodyHasher::new(canonicalization, HashAlgorithm::Sha256, None);
        for chunk in body.chunks(split.max(1)) {
            hasher.update(chunk);
        }
        hasher.finish().unwrap()
    }

    fn sha256(bytes: &[u8]) -> Vec<u8> {
        digest::digest(&digest::SHA256, bytes).as_ref().to_vec()
    }

    #[test]
    fn rfc6376_section_3_4_6_example() {
        let body = b" C \r\nD \t E\r\n\r\n\r\n";
        for split in [1, 2, 3, 100] {
            assert_eq!(canonical_hash(body, Canonicalization::Relaxed, split), sha256(b" C\r\nD E\r\n"));
            assert_eq!(canonical_hash(body, Canonicalization::Simple, split), sha256(b" C \r\nD \t E\r\n"));
        }
    }

    #[test]
    fn empty_bodies_and_missing_final_crlf() {
        assert_eq!(canonical_hash(b"", Canonicalization::Simple, 10), sha256(b"\r\n"));
        assert_eq!(canonical_hash(b"\r\n\r\n", Canonicalization::Simple, 1), sha256(b"\r\n"));
        assert_eq!(canonical_hash(b"", Canonicalization::Relaxed, 10), sha256(b""));
        assert_eq!(canonical_hash(b" \t\r\n", Canonicalization::Relaxed, 1), sha256(b""));
        assert_eq!(canonical_hash(b"abc", Canonicalization::Simple, 1), sha256(b"abc\r\n"));
        assert_eq!(canonical_hash(b"a\rb\r", Canonicalization::Simple, 1), sha256(b"a\rb\r\r\n"));
    }

    #[test]
    fn length_limit() {
        let mut hasher = BodyHasher::new(Canonicalization::Simple, HashAlgorithm::Sha256, Some(5));
        hasher.update(b"hello world\r\n");
        assert_eq!(hasher.finish().unwrap(), sha256(b"hello"));
        let mut hasher = BodyHasher::new(Canonicalization::Simple, HashAlgorithm::Sha256, Some(500));
        hasher.update(b"short\r\n");
        assert_eq!(hasher.finish(), None);
    }

    #[test]
    fn relaxed_header() {
        let mut out = Vec::new();
        header_field(b"SubJect \t:  A  \t B\r\n\tC \r\n", Canonicalization::Relaxed, &mut out);
        assert_eq!(out, b"subject:A B C\r\n");
    }
}
