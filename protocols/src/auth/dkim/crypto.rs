//! Signature verification with ring: RSA PKCS#1 v1.5 with SHA-256 or SHA-1 (keys of
//! 1024–8192 bits; RFC 8301 §3.2 puts the floor at 1024) and Ed25519 (RFC 8463 §3, which
//! signs the SHA-256 hash of the header data, not the data).
//!
//! DKIM publishes RSA keys as SubjectPublicKeyInfo (RFC 6376 §3.6.1); some publishers put
//! the bare RSAPublicKey there, which we accept too. ring wants the bare form, so the
//! SubjectPublicKeyInfo wrapper is taken off with a minimal DER reader.

use ring::{digest, signature};

use super::signature::Algorithm;

/// Why the crypto said no.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The public key is not a key of the right kind or size.
    #[error("unusable public key")]
    Key,
    /// The signature does not verify.
    #[error("signature does not verify")]
    Mismatch,
}

/// Verifies `signature` over `data` (the canonical header data) with `public_key` as the
/// key record gives it.
pub fn verify(
    algorithm: Algorithm,
    public_key: &[u8],
    data: &[u8],
    signature_bytes: &[u8],
) -> Result<(), CryptoError> {
    match algorithm {
        Algorithm::Ed25519Sha256 => {
            if public_key.len() != 32 {
                return Err(CryptoError::Key);
            }
            let hash = digest::digest(&digest::SHA256, data);
            signature::UnparsedPublicKey::new(&signature::ED25519, public_key)
                .verify(hash.as_ref(), signature_bytes)
                .map_err(|_| CryptoError::Mismatch)
        }
        Algorithm::RsaSha256 | Algorithm::RsaSha1 => {
            let rsa_key = rsa_public_key(public_key).ok_or(CryptoError::Key)?;
            let parameters: &dyn signature::VerificationAlgorithm = if algorithm == Algorithm::RsaSha1 {
                &signature::RSA_PKCS1_1024_8192_SHA1_FOR_LEGACY_USE_ONLY
            } else {
                &signature::RSA_PKCS1_1024_8192_SHA256_FOR_LEGACY_USE_ONLY
            };
            signature::UnparsedPublicKey::new(parameters, rsa_key)
                .verify(data, signature_bytes)
                .map_err(|_| CryptoError::Mismatch)
        }
    }
}

/// rsaEncryption, 1.2.840.113549.1.1.1, as DER content octets.
const RSA_ENCRYPTION_OID: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];

/// The RSAPublicKey inside a SubjectPublicKeyInfo, or the input itself when it already is
/// an RSAPublicKey (a SEQUENCE of two INTEGERs).
pub fn rsa_public_key(der: &[u8]) -> Option<&[u8]> {
    let (tag, body, rest) = read_tlv(der)?;
    if tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let (first_tag, first, after_first) = read_tlv(body)?;
    match first_tag {
        // RSAPublicKey: INTEGER modulus, INTEGER exponent.
        0x02 => {
            let (exponent_tag, _, end) = read_tlv(after_first)?;
            (exponent_tag == 0x02 && end.is_empty()).then_some(der)
        }
        // SubjectPublicKeyInfo: AlgorithmIdentifier, BIT STRING.
        0x30 => {
            let (oid_tag, oid, _) = read_tlv(first)?;
            if oid_tag != 0x06 || oid != RSA_ENCRYPTION_OID {
                return None;
            }
            let (bits_tag, bits, end) = read_tlv(after_first)?;
            if bits_tag != 0x03 || !end.is_empty() {
                return None;
            }
            // The first content octet counts unused bits: 0 for a key.
            let (&unused, key) = bits.split_first()?;
            (unused == 0).then_some(key)
        }
        _ => None,
    }
}

/// One DER tag-length-value: (tag, content, what follows). Definite lengths only, up to
/// four length octets (keys are far smaller).
fn read_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (length, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let length = rest[..count].iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        (length, &rest[count..])
    };
    if rest.len() < length {
        return None;
    }
    Some((tag, &rest[..length], &rest[length..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_reader_refuses_junk() {
        assert!(rsa_public_key(b"").is_none());
        assert!(rsa_public_key(&[0x30, 0x05, 0x02, 0x01]).is_none());
        assert!(rsa_public_key(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff]).is_none());
        // A bare RSAPublicKey passes through.
        let bare = [0x30, 0x06, 0x02, 0x01, 0x05, 0x02, 0x01, 0x03];
        assert_eq!(rsa_public_key(&bare), Some(&bare[..]));
    }
}
