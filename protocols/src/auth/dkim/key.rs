//! DKIM key records (RFC 6376 §3.6.1, RFC 8463 §4): the TXT record at
//! `<selector>._domainkey.<domain>`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::auth::tags;

use super::signature::Algorithm;

/// Longest decoded public key, in octets: an RSA-8192 SubjectPublicKeyInfo is about 1,060
/// octets; anything longer is not a key we can use.
pub const PUBLIC_KEY_BYTES_MAX: usize = 1100;

/// A usable key record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyRecord {
    /// `k=`: `rsa` (default) or `ed25519`.
    pub key_type: String,
    /// `p=`, decoded; empty when the key was revoked.
    pub public_key: Vec<u8>,
    /// `h=`: acceptable hashes, lower case; empty means any.
    pub hashes: Vec<String>,
    /// `t=s`: the `i=` domain must equal `d=`.
    pub strict_identity: bool,
    /// `t=y`: the domain is testing DKIM.
    pub testing: bool,
}

/// Why a key record cannot be used; a permerror for the signature (RFC 6376 §6.1.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The tag-list does not parse, or `v=` is not `DKIM1`.
    #[error("malformed key record")]
    Malformed,
    /// No `p=`.
    #[error("key record without p=")]
    MissingKey,
    /// `p=` is empty: the key was revoked (RFC 6376 §3.6.1).
    #[error("key revoked")]
    Revoked,
    /// `s=` excludes email.
    #[error("key not for email")]
    Service,
    /// `k=` or `h=` does not fit the signature's algorithm.
    #[error("key does not allow {0}")]
    Algorithm(&'static str),
}

impl KeyRecord {
    /// Parses a key record's text (the TXT strings joined).
    pub fn parse(text: &[u8]) -> Result<KeyRecord, KeyError> {
        let tags = tags::parse(text).map_err(|_| KeyError::Malformed)?;
        if let Some(version) = tags::get(&tags, "v") {
            // RFC 6376 §3.6.1: if present, v= must be first and exactly "DKIM1".
            if version != "DKIM1" || tags.first().is_some_and(|t| t.name != "v") {
                return Err(KeyError::Malformed);
            }
        }
        let encoded = tags::get(&tags, "p").ok_or(KeyError::MissingKey)?;
        let public_key =
            STANDARD.decode(tags::without_whitespace(encoded)).map_err(|_| KeyError::Malformed)?;
        if public_key.len() > PUBLIC_KEY_BYTES_MAX {
            return Err(KeyError::Malformed);
        }
        if let Some(services) = tags::get(&tags, "s")
            && !services.split(':').map(str::trim).any(|s| s == "*" || s.eq_ignore_ascii_case("email"))
        {
            return Err(KeyError::Service);
        }
        let list = |name| -> Vec<String> {
            tags::get(&tags, name)
                .map(|v| {
                    v.split(':').map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect()
                })
                .unwrap_or_default()
        };
        let flags = list("t");
        Ok(KeyRecord {
            key_type: tags::get(&tags, "k").unwrap_or("rsa").trim().to_ascii_lowercase(),
            public_key,
            hashes: list("h"),
            strict_identity: flags.iter().any(|f| f == "s"),
            testing: flags.iter().any(|f| f == "y"),
        })
    }

    /// Checks that this key may verify a signature made with `algorithm`.
    pub fn allows(&self, algorithm: Algorithm) -> Result<(), KeyError> {
        if self.public_key.is_empty() {
            return Err(KeyError::Revoked);
        }
        if self.key_type != algorithm.key_type() {
            return Err(KeyError::Algorithm(algorithm.as_str()));
        }
        let hash = match algorithm {
            Algorithm::RsaSha1 => "sha1",
            Algorithm::RsaSha256 | Algorithm::Ed25519Sha256 => "sha256",
        };
        if !self.hashes.is_empty() && !self.hashes.iter().any(|h| h == hash) {
            return Err(KeyError::Algorithm(algorithm.as_str()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn key_records() {
        let key =
            KeyRecord::parse(b"v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=").unwrap();
        assert_eq!(key.key_type, "ed25519");
        assert_eq!(key.public_key.len(), 32);
        assert!(key.allows(Algorithm::Ed25519Sha256).is_ok());
        assert_eq!(key.allows(Algorithm::RsaSha256), Err(KeyError::Algorithm("rsa-sha256")));
        assert_eq!(
            KeyRecord::parse(b"p=; k=rsa").unwrap().allows(Algorithm::RsaSha256),
            Err(KeyError::Revoked)
        );
        assert_eq!(KeyRecord::parse(b"k=rsa; v=DKIM1; p=AAAA"), Err(KeyError::Malformed));
        assert_eq!(KeyRecord::parse(b"v=DKIM1; s=tls; p=AAAA"), Err(KeyError::Service));
        let sha1_only = KeyRecord::parse(b"h=sha1; p=AAAA").unwrap();
        assert!(sha1_only.allows(Algorithm::RsaSha256).is_err());
        assert!(sha1_only.allows(Algorithm::RsaSha1).is_ok());
        assert!(KeyRecord::parse(b"t=y:s; p=AAAA").unwrap().strict_identity);
    }
}
