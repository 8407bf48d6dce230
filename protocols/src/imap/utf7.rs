//! Modified UTF-7 for mailbox names (RFC 3501 §5.1.3), used with IMAP4rev1 clients
//! that have not enabled UTF8=ACCEPT (RFC 6855); IMAP4rev2 sessions use UTF-8 (RFC 9051
//! §5.1, with mUTF-7 still understood from rev1 clients).
//!
//! Printable US-ASCII (0x20..=0x7e) stands for itself, except `&`, written `&-`.
//! Everything else is UTF-16BE in a modified BASE64 (`,` instead of `/`, no padding)
//! between `&` and `-`.
//!
//! Invariant: [`decode`] accepts only the canonical encoding, the one [`encode`]
//! produces, so that every name has exactly one wire form. Refused: printable ASCII
//! inside a shift (`&AGE-` for `a`), adjacent shifts (`&AOQ-&AOQ-`), unterminated
//! shifts, leftover or non-zero padding bits, unpaired surrogates, raw 8-bit or control
//! bytes.

use base64::Engine as _;
use base64::alphabet::Alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// Why a name is not valid modified UTF-7.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Utf7Error {
    /// A byte outside printable US-ASCII appeared unencoded.
    #[error("mailbox name has a byte outside printable US-ASCII")]
    NotPrintableAscii,
    /// A `&` shift had no terminating `-`.
    #[error("mailbox name has an unterminated &-shift")]
    Unterminated,
    /// The shifted part is not valid modified BASE64 of whole UTF-16 code units.
    #[error("mailbox name has invalid modified BASE64")]
    BadBase64,
    /// The shifted part decodes to an unpaired surrogate.
    #[error("mailbox name has invalid UTF-16")]
    BadUtf16,
    /// Valid, but not the canonical encoding (RFC 3501 §5.1.3).
    #[error("mailbox name is not canonical modified UTF-7")]
    NotCanonical,
}

/// The modified BASE64 alphabet: `,` in place of `/` (RFC 3501 §5.1.3).
const ALPHABET: Alphabet =
    match Alphabet::new("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,") {
        Ok(alphabet) => alphabet,
        // Evaluated at compile time: a bad alphabet fails the build, never a request.
        Err(_) => panic!("invalid modified BASE64 alphabet"),
    };

/// The modified BASE64 engine: no padding written or accepted, and non-zero trailing
/// bits refused (they would be a second spelling of the same name).
const ENGINE: GeneralPurpose = GeneralPurpose::new(
    &ALPHABET,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

fn is_printable(c: char) -> bool {
    (' '..='~').contains(&c)
}

/// Encodes a UTF-8 mailbox name as modified UTF-7.
pub fn encode(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut units: Vec<u16> = Vec::new();
    for c in name.chars() {
        if is_printable(c) {
            flush_shift(&mut units, &mut out);
            if c == '&' {
                out.push_str("&-");
            } else {
                out.push(c);
            }
        } else {
            let mut buf = [0u16; 2];
            units.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush_shift(&mut units, &mut out);
    out
}

fn flush_shift(units: &mut Vec<u16>, out: &mut String) {
    if units.is_empty() {
        return;
    }
    let bytes: Vec<u8> = units.iter().flat_map(|u| u.to_be_bytes()).collect();
    out.push('&');
    out.push_str(&ENGINE.encode(bytes));
    out.push('-');
    units.clear();
}

/// Decodes a modified UTF-7 mailbox name to UTF-8, refusing non-canonical forms.
pub fn decode(name: &str) -> Result<String, Utf7Error> {
    let bytes = name.as_bytes();
    let mut out = String::with_capacity(name.len());
    let mut i = 0;
    let mut after_shift = false;
    while i < bytes.len() {
        let b = bytes[i];
        if !(0x20..=0x7e).contains(&b) {
            return Err(Utf7Error::NotPrintableAscii);
        }
        if b != b'&' {
            out.push(char::from(b));
            i += 1;
            after_shift = false;
            continue;
        }
        let end = bytes[i + 1..].iter().position(|&c| c == b'-').ok_or(Utf7Error::Unterminated)? + i + 1;
        let shifted = &bytes[i + 1..end];
        i = end + 1;
        if shifted.is_empty() {
            out.push('&');
            after_shift = false;
            continue;
        }
        if after_shift {
            // Two shifts in a row: the canonical form merges them into one.
            return Err(Utf7Error::NotCanonical);
        }
        decode_shift(shifted, &mut out)?;
        after_shift = true;
    }
    Ok(out)
}

fn decode_shift(shifted: &[u8], out: &mut String) -> Result<(), Utf7Error> {
    let raw = ENGINE.decode(shifted).map_err(|_| Utf7Error::BadBase64)?;
    if raw.len() % 2 != 0 {
        return Err(Utf7Error::BadBase64);
    }
    // The shortest BASE64 of n octets has ceil(8n/6) characters; more is padding junk.
    if shifted.len() != (raw.len() * 8).div_ceil(6) {
        return Err(Utf7Error::BadBase64);
    }
    let units = raw.chunks_exact(2).map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
    for c in char::decode_utf16(units) {
        let c = c.map_err(|_| Utf7Error::BadUtf16)?;
        if is_printable(c) {
            return Err(Utf7Error::NotCanonical);
        }
        out.push(c);
    }
    Ok(())
}
