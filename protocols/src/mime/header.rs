//! Header blocks (RFC 5322 §2.2, §3.6; RFC 2045 §3 for MIME part headers): where a
//! header ends, its fields with their folded continuation lines, unfolding, and the
//! HEADER.FIELDS / HEADER.FIELDS.NOT subsets of RFC 9051 §6.4.5.
//!
//! Lines end in CRLF or a bare LF. A header ends after the first empty line; without
//! one, it runs to the end of the bytes. A line that is neither a field nor a
//! continuation (no colon) stays in the header as a field with no value, as most
//! servers do, rather than ending the header early.

/// One header field: name, raw value and the whole field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field<'a> {
    /// The name before the colon, surrounding white space removed (RFC 5322 §4.5.2
    /// obsolete syntax allows white space before the colon).
    pub(crate) name: &'a [u8],
    /// Everything after the colon up to the field's final line break, continuation lines
    /// included (folded).
    pub(crate) value: &'a [u8],
    /// The whole field, first line to last line, final line break included.
    pub(crate) raw: &'a [u8],
}

/// Length of the header block at the start of `bytes`, the ending empty line included;
/// `bytes.len()` when there is no empty line.
pub(crate) fn header_len(bytes: &[u8]) -> usize {
    header_extent(bytes).1
}

/// The header block at the start of `bytes` as (length of its fields, length with the
/// ending empty line): the empty line is `\n` or `\r\n`; without one, both are
/// `bytes.len()`.
pub(crate) fn header_extent(bytes: &[u8]) -> (usize, usize) {
    let mut position = 0;
    while position < bytes.len() {
        let Some(newline) = memchr::memchr(b'\n', &bytes[position..]) else {
            return (bytes.len(), bytes.len());
        };
        let line = &bytes[position..position + newline];
        if line.is_empty() || line == b"\r" {
            return (position, position + newline + 1);
        }
        position += newline + 1;
    }
    (bytes.len(), bytes.len())
}

/// Iterator over the fields of a header block; stops at the empty line.
pub(crate) struct Fields<'a> {
    rest: &'a [u8],
}

/// The fields of `header_block`, in order.
pub(crate) fn fields(header_block: &[u8]) -> Fields<'_> {
    Fields { rest: header_block }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        let bytes = self.rest;
        let first_end = line_end(bytes, 0);
        let first = &bytes[..first_end];
        if first.is_empty() || first == b"\n" || first == b"\r\n" {
            self.rest = &[];
            return None;
        }
        let mut end = first_end;
        while end < bytes.len() && matches!(bytes[end], b' ' | b'\t') {
            end = line_end(bytes, end);
        }
        let raw = &bytes[..end];
        self.rest = &bytes[end..];
        let content = strip_line_break(raw);
        let (name, value) = match memchr::memchr(b':', strip_line_break(first)) {
            Some(colon) => (trim(&content[..colon]), &content[colon + 1..]),
            None => (trim(content), &content[content.len()..]),
        };
        Some(Field { name, value, raw })
    }
}

/// Index just after the line break of the line starting at `start` (or the end).
fn line_end(bytes: &[u8], start: usize) -> usize {
    match memchr::memchr(b'\n', &bytes[start..]) {
        Some(offset) => start + offset + 1,
        None => bytes.len(),
    }
}

/// `bytes` without one final LF or CRLF.
fn strip_line_break(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    bytes.strip_suffix(b"\r").unwrap_or(bytes)
}

/// `bytes` without leading and trailing spaces, tabs, CRs and LFs.
pub(crate) fn trim(bytes: &[u8]) -> &[u8] {
    let is_space = |byte: &u8| matches!(byte, b' ' | b'\t' | b'\r' | b'\n');
    let start = bytes.iter().position(|byte| !is_space(byte)).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|byte| !is_space(byte)).map_or(start, |last| last + 1);
    &bytes[start..end]
}

/// A field value unfolded (RFC 5322 §2.2.3: the line breaks of folding removed, the
/// white space after them kept; stray CRs dropped too) and trimmed.
pub(crate) fn unfold(value: &[u8]) -> Vec<u8> {
    trim(value).iter().copied().filter(|&byte| byte != b'\r' && byte != b'\n').collect()
}

/// HEADER.FIELDS / HEADER.FIELDS.NOT (RFC 9051 §6.4.5): from a header block (the bytes of
/// a part's `header` range), the fields whose names are (or with `not`, are not) in
/// `names`, compared ASCII case-insensitively, each with its folded lines as stored,
/// followed by the empty line. The empty line is left out only when the header block has
/// none (a message that ends inside its header), as RFC 9051 §6.4.5 says.
#[must_use]
pub fn header_fields(header_block: &[u8], names: &[String], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for field in fields(header_block) {
        let listed = names.iter().any(|name| name.as_bytes().eq_ignore_ascii_case(field.name));
        if listed != not {
            out.extend_from_slice(field.raw);
            if !field.raw.ends_with(b"\n") {
                // The last field of a header without an empty line: terminate it so that
                // the output stays a well-formed header.
                out.extend_from_slice(b"\r\n");
            }
        }
    }
    if ends_with_empty_line(header_block) {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// True when the header block ends with its empty line.
fn ends_with_empty_line(header_block: &[u8]) -> bool {
    header_len(header_block) == header_block.len()
        && (header_block == b"\n"
            || header_block == b"\r\n"
            || header_block.ends_with(b"\n\n")
            || header_block.ends_with(b"\n\r\n"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn header_len_finds_the_empty_line() {
        assert_eq!(header_len(b"A: b\r\n\r\nbody"), 8);
        assert_eq!(header_len(b"A: b\n\nbody"), 6);
        assert_eq!(header_len(b"\r\nbody"), 2);
        assert_eq!(header_len(b"A: b\r\n"), 6);
        assert_eq!(header_len(b"A: b"), 4);
        assert_eq!(header_len(b""), 0);
        // A line of white space is a continuation, not the end.
        assert_eq!(header_len(b"A: b\r\n \r\n\r\nx"), 11);
    }

    #[test]
    fn fields_keep_folding_and_tolerate_junk() {
        let block = b"Subject: a\r\n b\r\nX-Odd : v\r\nno colon here\r\nTo:x\n\r\nbody";
        let got: Vec<_> = fields(block).collect();
        assert_eq!(got.len(), 4);
        assert_eq!(got[0].name, b"Subject");
        assert_eq!(got[0].value, b" a\r\n b");
        assert_eq!(got[0].raw, b"Subject: a\r\n b\r\n");
        assert_eq!(got[1].name, b"X-Odd");
        assert_eq!(got[1].value, b" v");
        assert_eq!(got[2].name, b"no colon here");
        assert_eq!(got[2].value, b"");
        assert_eq!(got[3].name, b"To");
        assert_eq!(got[3].raw, b"To:x\n");
    }

    #[test]
    fn unfold_removes_line_breaks_only() {
        assert_eq!(unfold(b" a\r\n\tb \r\n c  "), b"a\tb  c");
        assert_eq!(unfold(b"  "), b"");
    }

    #[test]
    fn header_fields_without_empty_line() {
        let names = vec!["a".to_string()];
        assert_eq!(header_fields(b"A: 1\r\nB: 2", &names, false), b"A: 1\r\n");
        assert_eq!(header_fields(b"A: 1\r\nB: 2", &names, true), b"B: 2\r\n");
        assert_eq!(header_fields(b"B: 2\r\n\r\n", &names, false), b"\r\n");
        assert_eq!(header_fields(b"\r\n", &names, false), b"\r\n");
    }
}
