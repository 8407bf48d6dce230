//! The DKIM-Signature header field (RFC 6376 §3.5) and, with small differences, ARC's
//! ARC-Message-Signature (RFC 8617 §4.1.2): tags parsed and checked into a [`Signature`].

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::auth::tags::{self, Tag, TagError};
use crate::dns::DomainName;

use super::canon::{Canonicalization, HashAlgorithm};

/// Most header names a signature may list in `h=`. RFC 6376 sets no limit; real signers
/// list 10–30. 256 bounds the header hash input we build for one signature.
pub const SIGNED_HEADERS_MAX: usize = 256;

/// Longest decoded signature (`b=`), in octets: an RSA-8192 signature is 1024 octets, the
/// largest key size we verify.
pub const SIGNATURE_BYTES_MAX: usize = 1024;

/// The signing algorithm (RFC 6376 §3.3, RFC 8463 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// rsa-sha256.
    RsaSha256,
    /// rsa-sha1: verified for old signers, never used to sign.
    RsaSha1,
    /// ed25519-sha256.
    Ed25519Sha256,
}

impl Algorithm {
    /// The `a=` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RsaSha256 => "rsa-sha256",
            Algorithm::RsaSha1 => "rsa-sha1",
            Algorithm::Ed25519Sha256 => "ed25519-sha256",
        }
    }

    /// The hash it uses for the header and body.
    pub fn hash(self) -> HashAlgorithm {
        match self {
            Algorithm::RsaSha1 => HashAlgorithm::Sha1,
            Algorithm::RsaSha256 | Algorithm::Ed25519Sha256 => HashAlgorithm::Sha256,
        }
    }

    /// The key type it needs (`k=` of the key record).
    pub fn key_type(self) -> &'static str {
        match self {
            Algorithm::RsaSha256 | Algorithm::RsaSha1 => "rsa",
            Algorithm::Ed25519Sha256 => "ed25519",
        }
    }

    fn parse(value: &str) -> Option<Algorithm> {
        match value.to_ascii_lowercase().as_str() {
            "rsa-sha256" => Some(Algorithm::RsaSha256),
            "rsa-sha1" => Some(Algorithm::RsaSha1),
            "ed25519-sha256" => Some(Algorithm::Ed25519Sha256),
            _ => None,
        }
    }
}

/// Which header field the signature came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// DKIM-Signature (requires `v=1`).
    Dkim,
    /// ARC-Message-Signature (requires `i=` as the ARC instance, no `v=`).
    ArcMessage,
}

/// A parsed, checked signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// `a=`.
    pub algorithm: Algorithm,
    /// `b=`, decoded.
    pub signature: Vec<u8>,
    /// `bh=`, decoded.
    pub body_hash: Vec<u8>,
    /// `c=` header part.
    pub header_canonicalization: Canonicalization,
    /// `c=` body part.
    pub body_canonicalization: Canonicalization,
    /// `d=`.
    pub domain: DomainName,
    /// `h=`, lower case.
    pub signed_headers: Vec<String>,
    /// `i=` (DKIM: the agent or user identifier; default `@d`).
    pub identity: String,
    /// `i=` of an ARC-Message-Signature: its instance.
    pub instance: u32,
    /// `l=`.
    pub body_length: Option<u64>,
    /// `s=`.
    pub selector: String,
    /// `t=`.
    pub timestamp: Option<u64>,
    /// `x=`.
    pub expiration: Option<u64>,
}

/// Why a signature header is unusable: each is a permerror for that signature
/// (RFC 6376 §6.1.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The tag-list does not parse.
    #[error(transparent)]
    Tags(#[from] TagError),
    /// A required tag is missing.
    #[error("missing tag {0}=")]
    Missing(&'static str),
    /// `v=` is not 1.
    #[error("unsupported version")]
    Version,
    /// An algorithm we do not know.
    #[error("unknown algorithm")]
    Algorithm,
    /// A tag value that does not parse.
    #[error("invalid {0}= value")]
    Invalid(&'static str),
    /// `h=` does not include From (RFC 6376 §5.4).
    #[error("From is not signed")]
    FromNotSigned,
    /// `i=` is not within `d=` (RFC 6376 §3.5).
    #[error("i= is not within d=")]
    IdentityDomain,
    /// `x=` is not after `t=` (RFC 6376 §3.5).
    #[error("x= before t=")]
    ExpiresBeforeTimestamp,
}

impl Signature {
    /// Parses a header field's value.
    pub fn parse(value: &[u8], flavor: Flavor) -> Result<Signature, SignatureError> {
        let tags = tags::parse(value)?;
        let required = |name: &'static str| tags::get(&tags, name).ok_or(SignatureError::Missing(name));
        if flavor == Flavor::Dkim && required("v")? != "1" {
            return Err(SignatureError::Version);
        }
        let algorithm = Algorithm::parse(required("a")?).ok_or(SignatureError::Algorithm)?;
        let signature = decode_base64(required("b")?, "b")?;
        if signature.is_empty() || signature.len() > SIGNATURE_BYTES_MAX {
            return Err(SignatureError::Invalid("b"));
        }
        let body_hash = decode_base64(required("bh")?, "bh")?;
        let (header_canonicalization, body_canonicalization) = parse_canonicalization(tags::get(&tags, "c"))?;
        let domain = DomainName::parse(required("d")?).map_err(|_| SignatureError::Invalid("d"))?;
        let signed_headers = parse_signed_headers(required("h")?)?;
        let selector = required("s")?.to_ascii_lowercase();
        DomainName::parse(&selector).map_err(|_| SignatureError::Invalid("s"))?;
        let number = |name: &'static str| parse_number(&tags, name);
        let (timestamp, expiration, body_length) = (number("t")?, number("x")?, number("l")?);
        if let (Some(t), Some(x)) = (timestamp, expiration)
            && x <= t
        {
            return Err(SignatureError::ExpiresBeforeTimestamp);
        }
        let (identity, instance) = identity_and_instance(&tags, flavor, &domain)?;
        if let Some(query) = tags::get(&tags, "q")
            && !query.split(':').any(|q| q.trim().eq_ignore_ascii_case("dns/txt"))
        {
            return Err(SignatureError::Invalid("q"));
        }
        Ok(Signature {
            algorithm,
            signature,
            body_hash,
            header_canonicalization,
            body_canonicalization,
            domain,
            signed_headers,
            identity,
            instance,
            body_length,
            selector,
            timestamp,
            expiration,
        })
    }
}

fn decode_base64(value: &str, name: &'static str) -> Result<Vec<u8>, SignatureError> {
    STANDARD.decode(tags::without_whitespace(value)).map_err(|_| SignatureError::Invalid(name))
}

fn parse_canonicalization(
    value: Option<&str>,
) -> Result<(Canonicalization, Canonicalization), SignatureError> {
    let one = |text: &str| match text.trim().to_ascii_lowercase().as_str() {
        "simple" => Ok(Canonicalization::Simple),
        "relaxed" => Ok(Canonicalization::Relaxed),
        _ => Err(SignatureError::Invalid("c")),
    };
    match value {
        None => Ok((Canonicalization::Simple, Canonicalization::Simple)),
        Some(value) => match value.split_once('/') {
            None => Ok((one(value)?, Canonicalization::Simple)),
            Some((header, body)) => Ok((one(header)?, one(body)?)),
        },
    }
}

fn parse_signed_headers(value: &str) -> Result<Vec<String>, SignatureError> {
    let names: Vec<String> = value
        .split(':')
        .map(|n| tags::without_whitespace(n).to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    if names.len() > SIGNED_HEADERS_MAX {
        return Err(SignatureError::Invalid("h"));
    }
    if !names.iter().any(|n| n == "from") {
        return Err(SignatureError::FromNotSigned);
    }
    Ok(names)
}

fn parse_number(tags: &[Tag], name: &'static str) -> Result<Option<u64>, SignatureError> {
    match tags::get(tags, name) {
        None => Ok(None),
        // RFC 6376 §3.5: at most 12 digits for t=, x= and l= (76 bits would not fit u64).
        Some(v) if !v.is_empty() && v.len() <= 12 && v.bytes().all(|b| b.is_ascii_digit()) => {
            v.parse().map(Some).map_err(|_| SignatureError::Invalid(name))
        }
        Some(_) => Err(SignatureError::Invalid(name)),
    }
}

fn identity_and_instance(
    tags: &[Tag],
    flavor: Flavor,
    domain: &DomainName,
) -> Result<(String, u32), SignatureError> {
    match flavor {
        Flavor::ArcMessage => {
            let instance = tags::get(tags, "i").ok_or(SignatureError::Missing("i"))?;
            let instance = instance.parse().map_err(|_| SignatureError::Invalid("i"))?;
            Ok((format!("@{domain}"), instance))
        }
        Flavor::Dkim => {
            let Some(identity) = tags::get(tags, "i") else { return Ok((format!("@{domain}"), 0)) };
            let (_, identity_domain) = identity.rsplit_once('@').ok_or(SignatureError::Invalid("i"))?;
            let identity_domain =
                DomainName::parse(identity_domain).map_err(|_| SignatureError::Invalid("i"))?;
            if !identity_domain.is_within(domain) {
                return Err(SignatureError::IdentityDomain);
            }
            Ok((identity.to_string(), 0))
        }
    }
}

/// The raw header field with the value of its `b=` tag removed (RFC 6376 §3.7: "the value
/// of the b= tag (including all surrounding whitespace) is deleted"), everything else,
/// folding included, left as it was.
pub fn without_signature_value(raw: &[u8]) -> Vec<u8> {
    let colon = raw.iter().position(|&b| b == b':').map_or(raw.len(), |i| i + 1);
    let mut out = raw[..colon].to_vec();
    let mut rest = &raw[colon..];
    loop {
        let end = rest.iter().position(|&b| b == b';').unwrap_or(rest.len());
        let spec = &rest[..end];
        match spec.iter().position(|&b| b == b'=') {
            Some(eq) if spec[..eq].iter().filter(|b| !b" \t\r\n".contains(b)).eq(b"b".iter()) => {
                out.extend_from_slice(&spec[..=eq]);
                // Keep the line end of the field if b= was the last tag.
                if end == rest.len() {
                    let trailing = spec.len() - super::super::header::trim_line_end(spec).len();
                    out.extend_from_slice(&spec[spec.len() - trailing..]);
                }
            }
            _ => out.extend_from_slice(spec),
        }
        if end == rest.len() {
            break;
        }
        out.push(b';');
        rest = &rest[end + 1..];
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_a_signature() {
        let value = b" v=1; a=rsa-sha256; s=brisbane; d=example.com;\r\n c=simple/simple; q=dns/txt; i=joe@football.example.com;\r\n h=Received : From : To :Subject : Date : Message-ID;\r\n bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n b=AuUoFEfDxTDkHlLXSZEpZj79LICEps6eda7W3deTVFOk4yAUoqOB\r\n 4nujc7YopdG5dWLSdNg6xNAZpOPr+kHxt1IrE+NahM6L/LbvaHut\r\n KVdkLLkpVaVVQPzeRDI009SO2Il5Lu7rDNH6mZckBdrIx0orEtZV\r\n 4bmp/YzhwvcubU4=;";
        let signature = Signature::parse(value, Flavor::Dkim).unwrap();
        assert_eq!(signature.identity, "joe@football.example.com");
        assert_eq!(signature.selector, "brisbane");
        assert_eq!(signature.signed_headers.len(), 6);
        assert_eq!(signature.body_hash.len(), 32);
        assert_eq!(signature.header_canonicalization, Canonicalization::Simple);
    }

    #[test]
    fn refuses_bad_signatures() {
        let base = "v=1; a=rsa-sha256; d=example.com; s=s; h=from; bh=AAAA; b=AAAA";
        assert!(Signature::parse(base.as_bytes(), Flavor::Dkim).is_ok());
        let cases = [
            (base.replace("v=1", "v=2"), SignatureError::Version),
            (base.replace("h=from", "h=to"), SignatureError::FromNotSigned),
            (base.replace("a=rsa-sha256", "a=rsa-md5"), SignatureError::Algorithm),
            (base.replace("; s=s", ""), SignatureError::Missing("s")),
            (format!("{base}; t=200; x=100"), SignatureError::ExpiresBeforeTimestamp),
            (format!("{base}; i=user@other.example"), SignatureError::IdentityDomain),
            (format!("{base}; l=-1"), SignatureError::Invalid("l")),
        ];
        for (text, expected) in cases {
            assert_eq!(Signature::parse(text.as_bytes(), Flavor::Dkim), Err(expected), "{text}");
        }
    }

    #[test]
    fn strips_only_the_b_value() {
        let raw = b"DKIM-Signature: a=rsa-sha256; bh=abc; b=sig\r\n nature ; d=x\r\n";
        assert_eq!(without_signature_value(raw), b"DKIM-Signature: a=rsa-sha256; bh=abc; b=; d=x\r\n");
        let raw = b"DKIM-Signature: a=rsa-sha256; b = sig\r\n";
        assert_eq!(without_signature_value(raw), b"DKIM-Signature: a=rsa-sha256; b =\r\n");
    }
}
