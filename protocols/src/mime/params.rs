//! Content-Type and Content-Disposition values (RFC 2045 §5.1, RFC 2183 §2): the type
//! tokens and the `;`-separated parameters, with RFC 2231 §3 continuations joined.
//!
//! Parsing is lenient the way deployed mail needs: an unquoted value runs to the next
//! `;` (so `name=my file.pdf` keeps its space) with comments removed (RFC 2045 §5.1's own
//! example has `charset=us-ascii (Plain text)`), an unterminated quoted string runs to
//! the end. RFC 2231 values are joined but not decoded: a joined value with an encoded
//! segment is returned under `name*` in its encoded form `charset'language'%XX..`,
//! which is 7-bit, lossless, and what IMAP clients already handle in BODYSTRUCTURE.

use super::{PARAMS_MAX, Params};

/// A parsed Content-Type: type, subtype, parameters. `None` when the value has no
/// `type/subtype` (RFC 2045 §5.2 then says to assume text/plain).
pub(crate) fn content_type(value: &[u8]) -> Option<(Vec<u8>, Vec<u8>, Params)> {
    let mut cursor = Cursor { bytes: value, position: 0 };
    cursor.skip_space_and_comments();
    let media_type = cursor.token();
    cursor.skip_space_and_comments();
    if media_type.is_empty() || !cursor.eat(b'/') {
        return None;
    }
    cursor.skip_space_and_comments();
    let subtype = cursor.token();
    if subtype.is_empty() {
        return None;
    }
    let params = cursor.params();
    Some((media_type.to_vec(), subtype.to_vec(), params))
}

/// A parsed Content-Disposition: type and parameters; `None` without a type.
pub(crate) fn disposition(value: &[u8]) -> Option<(Vec<u8>, Params)> {
    let mut cursor = Cursor { bytes: value, position: 0 };
    cursor.skip_space_and_comments();
    let kind = cursor.token();
    if kind.is_empty() {
        return None;
    }
    Some((kind.to_vec(), cursor.params()))
}

/// The first token of a value (Content-Transfer-Encoding), comments skipped.
pub(crate) fn first_token(value: &[u8]) -> &[u8] {
    let mut cursor = Cursor { bytes: value, position: 0 };
    cursor.skip_space_and_comments();
    cursor.token()
}

struct Cursor<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.position).copied()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let found = self.peek() == Some(byte);
        if found {
            self.position += 1;
        }
        found
    }

    /// A token: bytes up to white space, `;`, `/`, `=`, `(` or `"`.
    fn token(&mut self) -> &'a [u8] {
        let start = self.position;
        while let Some(byte) = self.peek() {
            if is_space(byte) || matches!(byte, b';' | b'/' | b'=' | b'(' | b'"') {
                break;
            }
            self.position += 1;
        }
        &self.bytes[start..self.position]
    }

    fn skip_space_and_comments(&mut self) {
        while let Some(byte) = self.peek() {
            if is_space(byte) {
                self.position += 1;
            } else if byte == b'(' {
                self.skip_comment();
            } else {
                break;
            }
        }
    }

    /// Skips a comment starting at `(`: nested parentheses and backslash escapes count
    /// (RFC 5322 §3.2.2); an unterminated comment runs to the end. A counter, no recursion.
    fn skip_comment(&mut self) {
        let mut depth = 0usize;
        while let Some(byte) = self.peek() {
            self.position += 1;
            match byte {
                b'\\' => self.position = (self.position + 1).min(self.bytes.len()),
                b'(' => depth += 1,
                b')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        return;
                    }
                }
                _ => {}
            }
        }
    }

    /// A quoted string starting at `"`, unescaped; runs to the end when unterminated.
    fn quoted(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.position += 1;
        while let Some(byte) = self.peek() {
            self.position += 1;
            match byte {
                b'"' => break,
                b'\\' => {
                    if let Some(escaped) = self.peek() {
                        out.push(escaped);
                        self.position += 1;
                    }
                }
                _ => out.push(byte),
            }
        }
        out
    }

    /// An unquoted value: up to the next `;`, comments removed, trimmed.
    fn unquoted(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(byte) = self.peek() {
            match byte {
                b';' => break,
                b'(' => self.skip_comment(),
                _ => {
                    out.push(byte);
                    self.position += 1;
                }
            }
        }
        while out.last().is_some_and(|&byte| is_space(byte)) {
            out.pop();
        }
        out
    }

    /// Skips to just after the next `;` outside quoted strings and comments.
    fn skip_past_semicolon(&mut self) {
        while let Some(byte) = self.peek() {
            match byte {
                b';' => {
                    self.position += 1;
                    return;
                }
                b'"' => {
                    self.quoted();
                }
                b'(' => self.skip_comment(),
                _ => self.position += 1,
            }
        }
    }

    /// `*(";" attribute "=" value)`, at most [`PARAMS_MAX`], continuations joined.
    fn params(&mut self) -> Params {
        let mut raw = Vec::new();
        while self.position < self.bytes.len() && raw.len() < PARAMS_MAX {
            self.skip_past_semicolon();
            self.skip_space_and_comments();
            let name = self.token();
            self.skip_space_and_comments();
            if name.is_empty() || !self.eat(b'=') {
                continue;
            }
            self.skip_space_and_comments();
            let value = if self.peek() == Some(b'"') { self.quoted() } else { self.unquoted() };
            raw.push((name.to_vec(), value));
        }
        join_continuations(raw)
    }
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\r' | b'\n')
}

/// One parameter name split per RFC 2231: `name`, `name*`, `name*N` or `name*N*`.
struct Section<'a> {
    base: &'a [u8],
    number: Option<u32>,
    encoded: bool,
}

fn split_name(name: &[u8]) -> Section<'_> {
    let (stem, encoded) = match name.strip_suffix(b"*") {
        Some(stem) => (stem, true),
        None => (name, false),
    };
    if let Some(star) = memchr::memrchr(b'*', stem) {
        let digits = &stem[star + 1..];
        let number = std::str::from_utf8(digits).ok().and_then(|text| text.parse::<u32>().ok());
        if !digits.is_empty() && digits.iter().all(u8::is_ascii_digit) && number.is_some() {
            return Section { base: &stem[..star], number, encoded };
        }
    }
    Section { base: stem, number: None, encoded }
}

/// Joins RFC 2231 §3 continuations (`name*0`, `name*1*`, ...) into one parameter at the
/// position of the first segment; other parameters pass through unchanged.
fn join_continuations(raw: Params) -> Params {
    let sections: Vec<Section<'_>> = raw.iter().map(|(name, _)| split_name(name)).collect();
    let mut out = Params::new();
    for (index, section) in sections.iter().enumerate() {
        if section.number.is_none() {
            out.push(raw[index].clone());
            continue;
        }
        let same_base =
            |other: &Section<'_>| other.number.is_some() && other.base.eq_ignore_ascii_case(section.base);
        if sections[..index].iter().any(same_base) {
            continue; // joined with its first segment
        }
        let mut segments: Vec<(u32, usize)> = sections
            .iter()
            .enumerate()
            .filter(|(_, other)| same_base(other))
            .filter_map(|(position, other)| other.number.map(|number| (number, position)))
            .collect();
        segments.sort_by_key(|&(number, _)| number);
        segments.dedup_by_key(|&mut (number, _)| number);
        out.push(join_segments(section.base, &segments, &sections, &raw));
    }
    out
}

fn join_segments(
    base: &[u8],
    segments: &[(u32, usize)],
    sections: &[Section<'_>],
    raw: &Params,
) -> (Vec<u8>, Vec<u8>) {
    let any_encoded = segments.iter().any(|&(_, position)| sections[position].encoded);
    let mut name = base.to_vec();
    let mut value = Vec::new();
    if !any_encoded {
        for &(_, position) in segments {
            value.extend_from_slice(&raw[position].1);
        }
        return (name, value);
    }
    name.push(b'*');
    let first_encoded = segments.first().is_some_and(|&(_, position)| sections[position].encoded);
    if !first_encoded {
        value.extend_from_slice(b"''"); // no charset, no language (RFC 2231 §4)
    }
    for &(_, position) in segments {
        if sections[position].encoded {
            value.extend_from_slice(&raw[position].1);
        } else {
            percent_encode(&raw[position].1, &mut value);
        }
    }
    (name, value)
}

/// Percent-encodes what RFC 2231 §7 does not allow as `attribute-char`.
fn percent_encode(bytes: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &byte in bytes {
        let plain = byte.is_ascii_graphic() && !b"*'%()<>@,;:\\\"/[]?=".contains(&byte);
        if plain {
            out.push(byte);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(byte >> 4)], HEX[usize::from(byte & 15)]]);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn pairs(params: &Params) -> Vec<(String, String)> {
        params
            .iter()
            .map(|(name, value)| {
                (String::from_utf8_lossy(name).into_owned(), String::from_utf8_lossy(value).into_owned())
            })
            .collect()
    }

    fn p(name: &str, value: &str) -> (String, String) {
        (name.to_string(), value.to_string())
    }

    #[test]
    fn simple_content_type() {
        let (kind, subtype, params) =
            content_type(b" Text/Plain ; charset=\"utf-8\"; format=flowed").unwrap();
        assert_eq!(kind, b"Text");
        assert_eq!(subtype, b"Plain");
        assert_eq!(pairs(&params), vec![p("charset", "utf-8"), p("format", "flowed")]);
    }

    #[test]
    fn comments_spaces_and_escapes() {
        let (_, _, params) =
            content_type(b"text/plain; charset=us-ascii (Plain text); name=my file.txt; q=\"a\\\"b;c\"")
                .unwrap();
        assert_eq!(
            pairs(&params),
            vec![p("charset", "us-ascii"), p("name", "my file.txt"), p("q", "a\"b;c")]
        );
        let (_, _, params) = content_type(b"multipart/mixed; boundary=\"unterminated").unwrap();
        assert_eq!(pairs(&params), vec![p("boundary", "unterminated")]);
    }

    #[test]
    fn invalid_content_types() {
        assert!(content_type(b"text").is_none());
        assert!(content_type(b"/plain").is_none());
        assert!(content_type(b"text/").is_none());
        assert!(content_type(b"").is_none());
    }

    #[test]
    fn rfc2231_plain_continuations_are_joined() {
        let (_, _, params) =
            content_type(b"message/external-body; access-type=URL; URL*1=\"cp/foo\"; URL*0=\"ftp://\"; x=1")
                .unwrap();
        assert_eq!(pairs(&params), vec![p("access-type", "URL"), p("URL", "ftp://cp/foo"), p("x", "1")]);
    }

    #[test]
    fn rfc2231_encoded_continuations_stay_encoded() {
        let value = b"attachment; filename*0*=us-ascii'en'This%20is%20even%20more%20; \
            filename*1*=%2A%2A%2Afun%2A%2A%2A%20; filename*2=\"isn't it!\"";
        let (kind, params) = disposition(value).unwrap();
        assert_eq!(kind, b"attachment");
        assert_eq!(
            pairs(&params),
            vec![p(
                "filename*",
                "us-ascii'en'This%20is%20even%20more%20%2A%2A%2Afun%2A%2A%2A%20isn%27t%20it!"
            )]
        );
        let (_, params) = disposition(b"inline; filename*=utf-8''%E2%82%AC.txt").unwrap();
        assert_eq!(pairs(&params), vec![p("filename*", "utf-8''%E2%82%AC.txt")]);
        let (_, params) = disposition(b"inline; n*0=a b; n*1*=%41").unwrap();
        assert_eq!(pairs(&params), vec![p("n*", "''a%20b%41")]);
    }

    #[test]
    fn params_are_bounded() {
        let mut value = b"text/plain".to_vec();
        for index in 0..PARAMS_MAX + 5 {
            value.extend_from_slice(format!("; p{index}=v").as_bytes());
        }
        let (_, _, params) = content_type(&value).unwrap();
        assert_eq!(params.len(), PARAMS_MAX);
    }

    #[test]
    fn first_token_skips_comments() {
        assert_eq!(first_token(b" (old) base64 (x)"), b"base64");
        assert_eq!(first_token(b""), b"");
    }
}
