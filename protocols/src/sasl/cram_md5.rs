//! CRAM-MD5 (RFC 2195): the server sends a unique challenge, the client answers with its
//! user name and HMAC-MD5(password, challenge) in lower-case hex.
//!
//! The password is not stored: [`CramMd5Secrets`] keeps the two MD5 chaining states after
//! the key's inner and outer pad blocks (RFC 2104 §2 steps 1–3), which is all HMAC needs.
//! We continue from those states with md-5's block function and do MD5's padding and
//! length encoding ourselves (RFC 1321 §3.1–§3.2, §3.5).
//!
//! No clock: the challenge `<hex.hex@host>` is made only from the caller's random nonce,
//! which is all RFC 2195 needs (a string the client has not seen before).
//!
//! Invariant: the digest comparison is constant-time; an unknown user fails exactly
//! where a wrong digest fails, after the client's only message.

use std::fmt;

use md5::Digest;
use md5::block_api::compress;
use subtle::ConstantTimeEq;

use super::error::SaslError;
use super::exchange::Step;
use super::precis::{prepare_password, prepare_username};
use super::secrets::Secrets;

/// MD5 block size in octets (RFC 1321 §3.4 processes 16-word blocks).
const BLOCK_BYTES: usize = 64;

/// MD5's initial chaining value, words A–D (RFC 1321 §3.3).
const MD5_INITIAL_STATE: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// CRAM-MD5 secrets: the MD5 states after the key's ipad and opad blocks. `PartialEq` is
/// for tests and storage round trips (not constant-time; verification never uses it).
#[derive(Clone, PartialEq, Eq)]
pub struct CramMd5Secrets {
    /// MD5 state after compressing `key XOR ipad` (RFC 2104 §2).
    pub inner: [u32; 4],
    /// MD5 state after compressing `key XOR opad`.
    pub outer: [u32; 4],
}

impl fmt::Debug for CramMd5Secrets {
    /// Redacted: the states are a password equivalent for CRAM-MD5.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CramMd5Secrets").finish_non_exhaustive()
    }
}

impl CramMd5Secrets {
    /// HMAC-MD5 of `message` under the key these states were made from (RFC 2104 §2
    /// steps 4–7): the inner hash continues from `inner`, the outer from `outer`.
    pub fn hmac(&self, message: &[u8]) -> [u8; 16] {
        let inner = md5_finish(self.inner, BLOCK_BYTES as u64, message);
        md5_finish(self.outer, BLOCK_BYTES as u64, &inner)
    }
}

/// Derives CRAM-MD5 secrets from a password after RFC 8265 OpaqueString preparation.
/// A prepared password longer than the MD5 block is hashed first (RFC 2104 §2).
pub fn derive_cram_md5(password: &str) -> Result<CramMd5Secrets, SaslError> {
    let prepared = prepare_password(password)?;
    let mut key = [0u8; BLOCK_BYTES];
    if prepared.len() > BLOCK_BYTES {
        key[..16].copy_from_slice(&md5::Md5::digest(prepared.as_bytes()));
    } else {
        key[..prepared.len()].copy_from_slice(prepared.as_bytes());
    }
    Ok(CramMd5Secrets { inner: state_after_pad(&key, 0x36), outer: state_after_pad(&key, 0x5c) })
}

fn state_after_pad(key: &[u8; BLOCK_BYTES], pad: u8) -> [u32; 4] {
    let block = key.map(|b| b ^ pad);
    let mut state = MD5_INITIAL_STATE;
    compress(&mut state, &[block]);
    state
}

/// Finishes an MD5 computation that has already absorbed `prefix_bytes` (a multiple of
/// the block size) into `state`: `data`, then the RFC 1321 §3.1 padding and §3.2 length.
fn md5_finish(mut state: [u32; 4], prefix_bytes: u64, data: &[u8]) -> [u8; 16] {
    let (blocks, rest) = data.as_chunks::<BLOCK_BYTES>();
    compress(&mut state, blocks);
    let mut tail = [[0u8; BLOCK_BYTES]; 2];
    let tail_bytes = tail.as_flattened_mut();
    tail_bytes[..rest.len()].copy_from_slice(rest);
    tail_bytes[rest.len()] = 0x80;
    // The 64-bit length needs 8 octets after the 0x80 marker, else a second block.
    let tail_blocks = if rest.len() + 1 + 8 <= BLOCK_BYTES { 1 } else { 2 };
    let length_bits = prefix_bytes.wrapping_add(data.len() as u64).wrapping_mul(8);
    let end = tail_blocks * BLOCK_BYTES;
    tail_bytes[end - 8..end].copy_from_slice(&length_bits.to_le_bytes());
    compress(&mut state, &tail[..tail_blocks]);
    let mut digest = [0u8; 16];
    for (out, word) in digest.chunks_exact_mut(4).zip(state) {
        out.copy_from_slice(&word.to_le_bytes());
    }
    digest
}

/// Lower-case hex, as RFC 2195 sends the digest.
pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// The challenge: `<` hex of the nonce's first half `.` hex of the rest `@` host `>`,
/// shaped like RFC 2195's msg-id example. The host keeps only letters, digits, `.` and
/// `-` so the challenge stays a valid msg-id whatever the configuration holds.
fn challenge(nonce: &[u8], hostname: &str) -> Vec<u8> {
    let (left, right) = nonce.split_at(nonce.len() / 2);
    let mut host: String =
        hostname.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-').collect();
    if host.is_empty() {
        host.push_str("localhost");
    }
    format!("<{}.{}@{host}>", hex_lower(left), hex_lower(right)).into_bytes()
}

/// Where a CRAM-MD5 exchange stands.
#[derive(Debug)]
enum Phase {
    /// Challenge sent, waiting for `user digest`.
    Response,
    /// Response parsed, waiting for the caller's secrets. `authcid` is `None` when the
    /// name cannot be a user (PRECIS refused it).
    Secrets { authcid: Option<String>, digest: Vec<u8> },
}

/// Server side of one CRAM-MD5 exchange.
#[derive(Debug)]
pub(crate) struct CramMd5 {
    challenge: Vec<u8>,
    phase: Phase,
}

impl CramMd5 {
    pub(crate) fn new(nonce: &[u8], hostname: &str) -> CramMd5 {
        CramMd5 { challenge: challenge(nonce, hostname), phase: Phase::Response }
    }

    /// CRAM-MD5 is server-first: an initial response, even an empty one, is a protocol
    /// error (RFC 4422 §5 step 3 leaves none to a server-first mechanism).
    pub(crate) fn start(&mut self, initial: Option<&[u8]>) -> Step {
        match initial {
            Some(_) => Step::Failure(SaslError::Malformed("CRAM-MD5 takes no initial response")),
            None => Step::Challenge(self.challenge.clone()),
        }
    }

    /// RFC 2195: the user name, a space, the digest as 32 hex digits. The name may
    /// contain spaces, so the last one separates.
    pub(crate) fn respond(&mut self, response: &[u8]) -> Step {
        if !matches!(self.phase, Phase::Response) {
            return Step::Failure(SaslError::OutOfSequence);
        }
        let Ok(text) = std::str::from_utf8(response) else {
            return Step::Failure(SaslError::Malformed("CRAM-MD5 response is not UTF-8"));
        };
        let Some((name, digest)) = text.rsplit_once(' ') else {
            return Step::Failure(SaslError::Malformed("CRAM-MD5 response without a space"));
        };
        if digest.len() != 32 || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Step::Failure(SaslError::Malformed("CRAM-MD5 digest is not 32 hex digits"));
        }
        let digest = digest.to_ascii_lowercase().into_bytes();
        match prepare_username(name) {
            Ok(authcid) => {
                self.phase = Phase::Secrets { authcid: Some(authcid.clone()), digest };
                Step::NeedSecrets { authcid, authzid: None }
            }
            Err(SaslError::TooLong) => Step::Failure(SaslError::TooLong),
            // A name that cannot exist fails as an unknown one does; no lookup needed.
            Err(_) => Step::Failure(SaslError::BadCredentials),
        }
    }

    pub(crate) fn with_secrets(&mut self, secrets: Option<Secrets<'_>>) -> Step {
        let Phase::Secrets { authcid, digest } = &self.phase else {
            return Step::Failure(SaslError::OutOfSequence);
        };
        let stored = secrets.and_then(|s| s.cram_md5);
        // Unknown users compare against a digest of nothing, so both paths do the work.
        let expected = match stored {
            Some(secrets) => hex_lower(&secrets.hmac(&self.challenge)),
            None => hex_lower(&[0u8; 16]),
        };
        let matches: bool = expected.as_bytes().ct_eq(digest).into();
        match authcid {
            Some(authcid) if matches && stored.is_some() => {
                Step::Success { authcid: authcid.clone(), final_message: None }
            }
            _ => Step::Failure(SaslError::BadCredentials),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn md5_finish_matches_md5_over_block_boundaries() {
        for len in [0usize, 1, 55, 56, 63, 64, 65, 119, 120, 200] {
            let data: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let mut state = MD5_INITIAL_STATE;
            let prefix = [0x5au8; 64];
            compress(&mut state, &[prefix]);
            let ours = md5_finish(state, 64, &data);
            let whole: Vec<u8> = prefix.iter().chain(&data).copied().collect();
            assert_eq!(ours.as_slice(), md5::Md5::digest(&whole).as_slice(), "len {len}");
        }
    }

    #[test]
    fn challenge_uses_only_nonce_and_host() {
        let c = challenge(&[0x01, 0xab, 0xff, 0x10], "mx.exa mple<>");
        assert_eq!(c, b"<01ab.ff10@mx.example>");
        assert_eq!(challenge(&[1, 2], "<>"), b"<01.02@localhost>");
    }
}
