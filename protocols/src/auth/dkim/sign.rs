//! DKIM signing (RFC 6376 §5, RFC 8463): a [`Signer`] fed the message in pieces of any
//! size gives the `DKIM-Signature` header field to put in front of it. Relaxed/relaxed
//! canonicalization, the header fields mox signs ([`SIGNED_HEADERS`]), and From, To and
//! Subject oversigned (named once more than they occur, so none can be added after
//! signing without breaking the signature, RFC 6376 §8.15). ed25519-sha256 and
//! rsa-sha256 keys from PKCS#8, Ed25519 with ring and RSA with AWS-LC (whose RSA
//! private-key operation is more than twice as fast as ring's where the CPU has AVX-512
//! IFMA; RSA signing is the largest cost of a relayed message).
//!
//! Bounded: the header block is kept up to [`SIGNED_HEADER_BYTES_MAX`] (a longer one is
//! not signed); the body is hashed as it streams and never kept. Sans-IO: the time comes
//! from the caller (RSA blinding draws on AWS-LC's own random source).

use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use memchr::memmem;
use ring::signature::Ed25519KeyPair;

use super::canon::{BodyHasher, Canonicalization, HashAlgorithm, header_field};

/// Header fields signed when present, in this order (mox's list).
pub const SIGNED_HEADERS: [&str; 11] = [
    "From",
    "To",
    "Cc",
    "Bcc",
    "Reply-To",
    "References",
    "In-Reply-To",
    "Subject",
    "Date",
    "Message-ID",
    "Content-Type",
];

/// Header fields named once more than they occur (RFC 6376 §8.15).
pub const OVERSIGNED_HEADERS: [&str; 3] = ["From", "To", "Subject"];

/// Longest header block signed: 256 KiB, far more than real mail has; a longer one is
/// not signed rather than buffered further.
pub const SIGNED_HEADER_BYTES_MAX: usize = 256 * 1024;

/// A private key to sign with.
pub enum SigningKey {
    /// Ed25519 (RFC 8463).
    Ed25519(Ed25519KeyPair),
    /// RSA, 2048 bits or more.
    Rsa(RsaKeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SigningKey::Ed25519(_) => "SigningKey::Ed25519",
            SigningKey::Rsa(_) => "SigningKey::Rsa",
        })
    }
}

impl SigningKey {
    /// A key from its PKCS#8 DER: Ed25519 or RSA.
    pub fn from_pkcs8(der: &[u8]) -> Option<SigningKey> {
        if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
            return Some(SigningKey::Ed25519(pair));
        }
        RsaKeyPair::from_pkcs8(der).ok().map(SigningKey::Rsa)
    }

    fn algorithm(&self) -> &'static str {
        match self {
            SigningKey::Ed25519(_) => "ed25519-sha256",
            SigningKey::Rsa(_) => "rsa-sha256",
        }
    }
}

/// Why no signature was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignError {
    /// The header block passed [`SIGNED_HEADER_BYTES_MAX`].
    #[error("header too long to sign")]
    HeaderTooLong,
    /// The key refused to sign (RSA without a working random source).
    #[error("signing failed")]
    Crypto,
}

/// Signs one message as it streams by, with one key or several of one domain: every
/// signature is relaxed/relaxed over the same fields, so the body is hashed once.
pub struct Signer<'k> {
    domain: String,
    /// (selector, key), in the order their fields are given.
    keys: Vec<(String, &'k SigningKey)>,
    header: Vec<u8>,
    in_header: bool,
    too_long: bool,
    body: BodyHasher,
}

impl<'k> Signer<'k> {
    /// A signer for `domain` (the `d=` tag) with `key` published under `selector`.
    pub fn new(domain: &str, selector: &str, key: &'k SigningKey) -> Signer<'k> {
        Signer::with_keys(domain, [(selector, key)])
    }

    /// A signer for `domain` with each of `keys` (selector, key): one field per key.
    pub fn with_keys<'s>(
        domain: &str,
        keys: impl IntoIterator<Item = (&'s str, &'k SigningKey)>,
    ) -> Signer<'k> {
        Signer {
            domain: domain.to_ascii_lowercase(),
            keys: keys.into_iter().map(|(selector, key)| (selector.to_owned(), key)).collect(),
            header: Vec::new(),
            in_header: true,
            too_long: false,
            body: BodyHasher::new(Canonicalization::Relaxed, HashAlgorithm::Sha256, None),
        }
    }

    /// The next bytes of the message (header and body as sent, CRLF line ends).
    pub fn feed(&mut self, mut bytes: &[u8]) {
        if self.in_header {
            // The header ends at the first empty line; look back 3 bytes for a CRLF CRLF
            // split between pieces.
            let from = self.header.len().saturating_sub(3);
            let room = SIGNED_HEADER_BYTES_MAX.saturating_sub(self.header.len());
            let take = bytes.len().min(room + 4);
            self.header.extend_from_slice(&bytes[..take]);
            match memmem::find(&self.header[from..], b"\r\n\r\n") {
                Some(at) => {
                    let end = from + at + 2;
                    let body_start = end + 2;
                    let rest_in_header = self.header.len() - body_start;
                    self.header.truncate(end);
                    self.in_header = false;
                    bytes = &bytes[take - rest_in_header..];
                }
                None if self.header.len() > SIGNED_HEADER_BYTES_MAX => {
                    self.too_long = true;
                    self.in_header = false;
                    self.header.clear();
                    return;
                }
                None => return,
            }
        }
        if !self.too_long {
            self.body.update(bytes);
        }
    }

    /// The `DKIM-Signature` field (with its CRLF) for the message fed, signed at
    /// `now_secs` by the first key (the one of [`Signer::new`]).
    pub fn finish(self, now_secs: i64) -> Result<String, SignError> {
        self.finish_each(now_secs).into_iter().next().unwrap_or(Err(SignError::Crypto))
    }

    /// One `DKIM-Signature` field (with its CRLF) per key, in the keys' order, for the
    /// message fed, signed at `now_secs`.
    pub fn finish_each(self, now_secs: i64) -> Vec<Result<String, SignError>> {
        if self.too_long {
            return self.keys.iter().map(|_| Err(SignError::HeaderTooLong)).collect();
        }
        let mut header = self.header;
        if self.in_header && !header.ends_with(b"\r\n") && !header.is_empty() {
            header.extend_from_slice(b"\r\n");
        }
        let fields = split_fields(&header);
        let names = signed_names(&fields);
        let body_hash = STANDARD.encode(self.body.finish().unwrap_or_default());
        // RFC 6376 §5.4.2: the fields hashed, in `h=` order, instances taken from the
        // bottom up; the same for every key.
        let mut hashed = Vec::new();
        let mut used: Vec<(String, usize)> = Vec::new();
        for name in &names {
            let lower = name.to_ascii_lowercase();
            let count = used.iter_mut().find(|(n, _)| *n == lower).map(|(_, c)| {
                *c += 1;
                *c
            });
            let nth = count.unwrap_or_else(|| {
                used.push((lower.clone(), 1));
                1
            });
            if let Some(raw) =
                fields.iter().rev().filter(|(n, _)| n.eq_ignore_ascii_case(&lower)).nth(nth - 1)
            {
                header_field(raw.1, Canonicalization::Relaxed, &mut hashed);
            }
        }
        let names = names.join(":");
        self.keys
            .iter()
            .map(|(selector, key)| {
                let mut field = format!(
                    "DKIM-Signature: v=1; a={}; c=relaxed/relaxed; d={}; s={};\r\n\tt={}; h={};\r\n\tbh={}; b=",
                    key.algorithm(),
                    self.domain,
                    selector,
                    now_secs,
                    names,
                    body_hash,
                );
                let mut data = hashed.clone();
                let mut own = Vec::new();
                header_field(format!("{field}\r\n").as_bytes(), Canonicalization::Relaxed, &mut own);
                own.truncate(own.len().saturating_sub(2)); // §3.7: without its trailing CRLF
                data.extend_from_slice(&own);
                let signature = sign(key, &data)?;
                let encoded = STANDARD.encode(signature);
                for (i, chunk) in encoded.as_bytes().chunks(72).enumerate() {
                    if i > 0 {
                        field.push_str("\r\n\t");
                    }
                    field.push_str(&String::from_utf8_lossy(chunk));
                }
                field.push_str("\r\n");
                Ok(field)
            })
            .collect()
    }
}

fn sign(key: &SigningKey, data: &[u8]) -> Result<Vec<u8>, SignError> {
    match key {
        // RFC 8463 §3: Ed25519 signs the SHA-256 hash of the data.
        SigningKey::Ed25519(pair) => {
            let hash = ring::digest::digest(&ring::digest::SHA256, data);
            Ok(pair.sign(hash.as_ref()).as_ref().to_vec())
        }
        SigningKey::Rsa(pair) => {
            let mut signature = vec![0; pair.public_modulus_len()];
            let random = aws_lc_rs::rand::SystemRandom::new();
            pair.sign(&RSA_PKCS1_SHA256, &random, data, &mut signature).map_err(|_| SignError::Crypto)?;
            Ok(signature)
        }
    }
}

/// The header block's fields: (name, raw field with continuation lines and CRLF).
fn split_fields(header: &[u8]) -> Vec<(String, &[u8])> {
    let mut fields: Vec<(String, &[u8])> = Vec::new();
    let mut start = 0;
    let mut at = 0;
    while at < header.len() {
        let end = memchr::memchr(b'\n', &header[at..]).map_or(header.len(), |i| at + i + 1);
        let continuation = matches!(header.get(end), Some(b' ' | b'\t'));
        if !continuation {
            let raw = &header[start..end];
            if let Some(colon) = memchr::memchr(b':', raw) {
                let name = String::from_utf8_lossy(&raw[..colon]).trim().to_owned();
                fields.push((name, raw));
            }
            start = end;
        }
        at = end;
    }
    fields
}

/// The `h=` names: each signed field as often as it occurs, oversigned ones once more.
fn signed_names(fields: &[(String, &[u8])]) -> Vec<String> {
    let mut names = Vec::new();
    for name in SIGNED_HEADERS {
        let count = fields.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).count();
        let extra = usize::from(OVERSIGNED_HEADERS.contains(&name));
        for _ in 0..count + extra {
            names.push(name.to_owned());
        }
    }
    names
}
