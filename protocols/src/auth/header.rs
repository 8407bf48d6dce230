//! The message header block as the authentication checks see it: the raw bytes of each
//! field (RFC 5322 §2.2, folding kept, so DKIM's `simple` canonicalization hashes exactly
//! what was sent), looked up by name without regard to case.

use std::ops::Range;

/// Largest header block collected for the checks, in octets. Real header blocks are a few
/// KiB; mailing lists and long trace chains reach tens. Past this the block is cut and
/// signatures over it cannot verify (they fail, nothing is over-read); 512 KiB bounds a
/// session's memory for a hostile message.
pub const HEADER_BLOCK_BYTES_MAX: usize = 512 * 1024;

/// Most header fields indexed; later fields are not seen by the checks. 5,000 is far above
/// any real message (a few hundred with long trace chains).
pub const HEADER_FIELDS_MAX: usize = 5_000;

/// One header field: where its name and its whole text (with folding and line end) lie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    name: Range<usize>,
    raw: Range<usize>,
}

/// A header block and its fields, top to bottom.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HeaderBlock {
    bytes: Vec<u8>,
    fields: Vec<Field>,
}

impl HeaderBlock {
    /// Indexes a header block (everything before the empty line, line ends included).
    /// Lines that are neither a field (`name:`) nor a continuation are skipped.
    pub fn parse(bytes: Vec<u8>) -> HeaderBlock {
        let mut fields: Vec<Field> = Vec::new();
        let mut start = 0;
        while start < bytes.len() && fields.len() <= HEADER_FIELDS_MAX {
            let end = memchr::memchr(b'\n', &bytes[start..]).map_or(bytes.len(), |i| start + i + 1);
            let line = &bytes[start..end];
            if line.first().is_some_and(|&b| b == b' ' || b == b'\t') {
                if let Some(last) = fields.last_mut()
                    && last.raw.end == start
                {
                    last.raw.end = end;
                }
            } else if let Some(colon) = memchr::memchr(b':', line) {
                let name_end =
                    start + line[..colon].iter().rposition(|b| !b" \t".contains(b)).map_or(0, |i| i + 1);
                // RFC 5322 §3.6.8: printable ASCII but colon; whitespace before the colon
                // is obsolete syntax (§4.5.8) and tolerated.
                if name_end > start && bytes[start..name_end].iter().all(|&b| (33..=126).contains(&b)) {
                    fields.push(Field { name: start..name_end, raw: start..end });
                }
            }
            start = end;
        }
        fields.truncate(HEADER_FIELDS_MAX);
        HeaderBlock { bytes, fields }
    }

    /// The fields, top to bottom.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// A field's name as written.
    pub fn name(&self, field: &Field) -> &[u8] {
        &self.bytes[field.name.clone()]
    }

    /// A field's whole text: name, colon, value, folding and the line end.
    pub fn raw(&self, field: &Field) -> &[u8] {
        &self.bytes[field.raw.clone()]
    }

    /// A field's value: after the colon, line end removed (folding kept).
    pub fn value(&self, field: &Field) -> &[u8] {
        let raw = self.raw(field);
        let after_colon = raw.iter().position(|&b| b == b':').map_or(raw.len(), |i| i + 1);
        trim_line_end(&raw[after_colon..])
    }

    /// Byte range of a field in the block.
    pub fn range(&self, field: &Field) -> Range<usize> {
        field.raw.clone()
    }

    /// Fields named `name` (ASCII case-insensitive), top to bottom.
    pub fn named<'a>(&'a self, name: &'a str) -> impl DoubleEndedIterator<Item = &'a Field> + 'a {
        self.fields.iter().filter(move |f| self.name(f).eq_ignore_ascii_case(name.as_bytes()))
    }

    /// The whole block.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// `bytes` without a trailing CRLF or LF.
pub fn trim_line_end(bytes: &[u8]) -> &[u8] {
    let bytes = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    bytes.strip_suffix(b"\r").unwrap_or(bytes)
}

/// Unfolds a header value (removes CRLF before whitespace) and trims surrounding
/// whitespace: the value as a parser should see it.
pub fn unfold(value: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = value.iter().copied().filter(|&b| b != b'\r' && b != b'\n').collect();
    while out.last().is_some_and(|b| b" \t".contains(b)) {
        out.pop();
    }
    let leading = out.iter().take_while(|b| b" \t".contains(b)).count();
    out.drain(..leading);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_with_folding() {
        let block = HeaderBlock::parse(
            b"From: a@example.com\r\nSubject: one\r\n  two\r\nbroken line\r\nDKIM-Signature : v=1;\r\n\tb=x\r\n".to_vec(),
        );
        assert_eq!(block.fields().len(), 3);
        let subject = block.named("subject").next().map(|f| block.raw(f).to_vec());
        assert_eq!(subject.as_deref(), Some(&b"Subject: one\r\n  two\r\n"[..]));
        let dkim = block.named("dkim-signature").next().map(|f| block.value(f).to_vec());
        assert_eq!(dkim.as_deref(), Some(&b" v=1;\r\n\tb=x"[..]));
        assert_eq!(unfold(b" one\r\n  two"), b"one  two");
    }
}
