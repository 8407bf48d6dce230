//! Content-Transfer-Encoding removal (RFC 2045 §6) for BINARY fetches (RFC 3516) and for
//! SEARCH. Decoding is lenient the way RFC 2045 asks: base64 ignores characters outside
//! its alphabet (§6.8) and stops at padding; quoted-printable keeps a malformed `=`
//! sequence as it is (§6.7 note 1) and deletes trailing white space of lines (§6.7 rule 3).
//! Line breaks are kept as they are in the input.

use super::DecodeError;

/// BINARY (RFC 3516): `body` with its Content-Transfer-Encoding `encoding` removed
/// (names compared ASCII case-insensitively, surrounding white space ignored). 7bit,
/// 8bit, binary and an empty name return the body unchanged.
///
/// # Errors
/// [`DecodeError::UnknownEncoding`] for any other encoding name (IMAP answers
/// `NO [UNKNOWN-CTE]`).
pub fn decode_body(body: &[u8], encoding: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let encoding = super::header::trim(encoding);
    let is = |name: &[u8]| encoding.eq_ignore_ascii_case(name);
    if encoding.is_empty() || is(b"7bit") || is(b"8bit") || is(b"binary") {
        Ok(body.to_vec())
    } else if is(b"base64") {
        Ok(base64(body))
    } else if is(b"quoted-printable") {
        Ok(quoted_printable(body))
    } else {
        Err(DecodeError::UnknownEncoding)
    }
}

fn base64_value(byte: u8) -> Option<u32> {
    let value = match byte {
        b'A'..=b'Z' => byte - b'A',
        b'a'..=b'z' => byte - b'a' + 26,
        b'0'..=b'9' => byte - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    };
    Some(u32::from(value))
}

fn base64(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let mut accumulator = 0u32;
    let mut count = 0u8;
    for &byte in input {
        if byte == b'=' {
            break; // padding: the data ends here (RFC 2045 §6.8)
        }
        let Some(value) = base64_value(byte) else {
            continue;
        };
        accumulator = (accumulator << 6) | value;
        count += 1;
        if count == 4 {
            out.extend_from_slice(&accumulator.to_be_bytes()[1..]);
            accumulator = 0;
            count = 0;
        }
    }
    // A partial group: 2 characters carry 1 byte, 3 carry 2; 1 carries none.
    match count {
        2 => out.push((accumulator >> 4).to_be_bytes()[3]),
        3 => out.extend_from_slice(&(accumulator >> 2).to_be_bytes()[2..]),
        _ => {}
    }
    out
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        b'a'..=b'f' => Some(byte - b'a' + 10), // lower case is not canonical, but seen
        _ => None,
    }
}

fn quoted_printable(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    for line in input.split_inclusive(|&byte| byte == b'\n') {
        let (content, line_break) = split_line_break(line);
        let content = trim_end_space(content);
        let (content, soft) = match content.strip_suffix(b"=") {
            Some(content) => (content, true),
            None => (content, false),
        };
        decode_qp_line(content, &mut out);
        if !soft {
            out.extend_from_slice(line_break);
        }
    }
    out
}

fn decode_qp_line(content: &[u8], out: &mut Vec<u8>) {
    let mut index = 0;
    while let Some(&byte) = content.get(index) {
        if byte == b'='
            && let (Some(high), Some(low)) = (
                content.get(index + 1).and_then(|&h| hex_value(h)),
                content.get(index + 2).and_then(|&l| hex_value(l)),
            )
        {
            out.push(high << 4 | low);
            index += 3;
            continue;
        }
        out.push(byte);
        index += 1;
    }
}

fn split_line_break(line: &[u8]) -> (&[u8], &[u8]) {
    let content_length = if line.ends_with(b"\r\n") {
        line.len() - 2
    } else if line.ends_with(b"\n") {
        line.len() - 1
    } else {
        line.len()
    };
    line.split_at(content_length)
}

fn trim_end_space(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().rposition(|&byte| byte != b' ' && byte != b'\t').map_or(0, |last| last + 1);
    &bytes[..end]
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn base64_variants() {
        assert_eq!(base64(b"aGVsbG8="), b"hello");
        assert_eq!(base64(b"aGVs\r\nbG8h"), b"hello!");
        assert_eq!(base64(b"aGVsbA=="), b"hell");
        assert_eq!(base64(b"a GV*sbG8"), b"hello");
        assert_eq!(base64(b"aGVsbG8=garbage"), b"hello");
        assert_eq!(base64(b"a"), b"");
        assert_eq!(base64(b""), b"");
    }

    #[test]
    fn quoted_printable_variants() {
        assert_eq!(quoted_printable(b"a=3Db=\r\nc  \r\nd=e9=\n"), b"a=bc\r\nd\xe9");
        assert_eq!(quoted_printable(b"=ZZ =4"), b"=ZZ =4");
        assert_eq!(quoted_printable(b"x=  \r\ny"), b"xy");
        assert_eq!(quoted_printable(b"end="), b"end");
    }
}
