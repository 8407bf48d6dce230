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
#[cfg(test)]
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
/// none (a message that ends inside its header), as RFC 9051 §6.4.5 says. The same as
/// [`HeaderFieldsFilter`] fed the block at once.
#[must_use]
pub fn header_fields(header_block: &[u8], names: &[String], not: bool) -> Vec<u8> {
    let mut out = Vec::new();
    let mut filter = HeaderFieldsFilter::new(names, not);
    filter.feed(header_block, &mut out);
    filter.finish(&mut out);
    out
}

/// Bytes of a field's first line that may come before its colon. RFC 5322 §2.1.1 limits a
/// line to 998 characters; a field whose name runs longer is treated as a name no command
/// lists (it is left out by HEADER.FIELDS and kept by HEADER.FIELDS.NOT), so a filter
/// holds at most this much of a field while it cannot tell whether the field is listed.
pub const HEADER_FIELD_NAME_BYTES_MAX: usize = 1000;

/// HEADER.FIELDS / HEADER.FIELDS.NOT (RFC 9051 §6.4.5) over a header block fed in pieces
/// of any size: [`HeaderFieldsFilter::feed`] each piece in order, then
/// [`HeaderFieldsFilter::finish`]. Bytes of a field go out as soon as the field's name is
/// known, so memory does not grow with the header: it holds at most
/// [`HEADER_FIELD_NAME_BYTES_MAX`] bytes of one field. The output is the same however the
/// block is cut (see [`header_fields`] for what it is).
#[derive(Debug, Clone)]
pub struct HeaderFieldsFilter {
    names: Vec<Vec<u8>>,
    not: bool,
    /// The next byte starts a line.
    line_start: bool,
    /// A CR at the start of a line: an empty line if a LF follows.
    line_start_cr: bool,
    /// The field being read, if any.
    field: Option<FieldState>,
    /// The empty line that ends the header was seen.
    ended: bool,
    /// Bytes followed the empty line.
    after_end: bool,
}

/// A field while its bytes stream through.
#[derive(Debug, Clone)]
enum FieldState {
    /// Its name is not known yet: its bytes so far, and whether its first line ended
    /// (then it has no colon there and its name is its whole content).
    Undecided { raw: Vec<u8>, first_line_done: bool },
    /// Known: whether it goes out, and its last byte so far.
    Decided { include: bool, last: u8 },
}

impl HeaderFieldsFilter {
    /// A filter keeping the fields named in `names` (all others with `not`).
    #[must_use]
    pub fn new(names: &[String], not: bool) -> HeaderFieldsFilter {
        HeaderFieldsFilter {
            names: names.iter().map(|name| name.as_bytes().to_vec()).collect(),
            not,
            line_start: true,
            line_start_cr: false,
            field: None,
            ended: false,
            after_end: false,
        }
    }

    /// Filters the next piece of the header block, appending the kept bytes to `out`.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) {
        let mut rest = input;
        while !rest.is_empty() {
            if self.ended {
                self.after_end = true;
                return;
            }
            if self.line_start || self.line_start_cr {
                self.line_start_byte(rest[0], out);
                rest = &rest[1..];
                continue;
            }
            // Inside a line: up to its end at once.
            let (line, ends) = match memchr::memchr(b'\n', rest) {
                Some(newline) => (&rest[..=newline], true),
                None => (rest, false),
            };
            self.field_bytes(line, out);
            self.line_start = ends;
            rest = &rest[line.len()..];
        }
    }

    /// The end of the header block: completes the last field and the empty line.
    pub fn finish(mut self, out: &mut Vec<u8>) {
        if self.line_start_cr {
            // A lone CR ends the block: a field of its own, as a line.
            self.line_start_cr = false;
            self.end_field(out);
            self.field = Some(FieldState::Undecided { raw: Vec::new(), first_line_done: false });
            self.field_bytes(b"\r", out);
        }
        self.end_field(out);
        if self.ended && !self.after_end {
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The first byte of a line (or the byte after a CR that started one).
    fn line_start_byte(&mut self, byte: u8, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.line_start_cr) {
            if byte == b'\n' {
                self.end_field(out);
                self.ended = true;
                return;
            }
            // A field whose first line starts with CR.
            self.end_field(out);
            self.field = Some(FieldState::Undecided { raw: Vec::new(), first_line_done: false });
            self.line_start = false;
            self.field_bytes(b"\r", out);
            self.after_byte(byte, out);
            return;
        }
        match byte {
            b'\n' => {
                self.end_field(out);
                self.ended = true;
            }
            b'\r' => self.line_start_cr = true,
            // A continuation line, unless no field began yet (then it starts one).
            b' ' | b'\t' if self.field.is_some() => {
                self.line_start = false;
                self.field_bytes(&[byte], out);
            }
            _ => {
                self.end_field(out);
                self.field = Some(FieldState::Undecided { raw: Vec::new(), first_line_done: false });
                self.line_start = false;
                self.field_bytes(&[byte], out);
            }
        }
    }

    /// One byte inside a line (after a line-start CR that was not an empty line).
    fn after_byte(&mut self, byte: u8, out: &mut Vec<u8>) {
        self.field_bytes(&[byte], out);
        self.line_start = byte == b'\n';
    }

    /// Bytes of the current field, within one line.
    fn field_bytes(&mut self, bytes: &[u8], out: &mut Vec<u8>) {
        let decision = match &mut self.field {
            None => return,
            Some(FieldState::Decided { include, last }) => {
                if *include {
                    out.extend_from_slice(bytes);
                }
                if let Some(&byte) = bytes.last() {
                    *last = byte;
                }
                return;
            }
            Some(FieldState::Undecided { raw, first_line_done }) => {
                let colon = if *first_line_done { None } else { memchr::memchr(b':', bytes) };
                let name_end = colon.unwrap_or(bytes.len());
                match colon {
                    // Too long to be a listed name.
                    _ if raw.len() + name_end > HEADER_FIELD_NAME_BYTES_MAX => {
                        Some((self.not, std::mem::take(raw), bytes))
                    }
                    Some(colon) => {
                        raw.extend_from_slice(&bytes[..colon]);
                        let listed = listed(&self.names, trim(raw));
                        Some((listed != self.not, std::mem::take(raw), &bytes[colon..]))
                    }
                    None => {
                        raw.extend_from_slice(bytes);
                        *first_line_done |= bytes.ends_with(b"\n");
                        None
                    }
                }
            }
        };
        if let Some((include, held, rest)) = decision {
            let last = rest.last().or(held.last()).copied().unwrap_or(b'\n');
            if include {
                out.extend_from_slice(&held);
                out.extend_from_slice(rest);
            }
            self.field = Some(FieldState::Decided { include, last });
        }
    }

    /// The current field ended (a new field, the empty line or the end of the block).
    fn end_field(&mut self, out: &mut Vec<u8>) {
        let (include, last) = match self.field.take() {
            None => return,
            Some(FieldState::Decided { include, last }) => (include, last),
            Some(FieldState::Undecided { raw, .. }) => {
                // No colon on its first line: its whole content is its name.
                let include = listed(&self.names, trim(&raw)) != self.not;
                if include {
                    out.extend_from_slice(&raw);
                }
                (include, raw.last().copied().unwrap_or(b'\n'))
            }
        };
        if include && last != b'\n' {
            // The last field of a header without an empty line: terminate it so that
            // the output stays a well-formed header.
            out.extend_from_slice(b"\r\n");
        }
    }
}

fn listed(names: &[Vec<u8>], name: &[u8]) -> bool {
    names.iter().any(|listed| listed.eq_ignore_ascii_case(name))
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

    /// The whole-buffer algorithm the streaming filter replaced: the oracle.
    fn reference_header_fields(header_block: &[u8], names: &[String], not: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for field in fields(header_block) {
            let listed = names.iter().any(|name| name.as_bytes().eq_ignore_ascii_case(field.name));
            if listed != not {
                out.extend_from_slice(field.raw);
                if !field.raw.ends_with(b"\n") {
                    out.extend_from_slice(b"\r\n");
                }
            }
        }
        let ends_with_empty_line = header_len(header_block) == header_block.len()
            && (header_block == b"\n"
                || header_block == b"\r\n"
                || header_block.ends_with(b"\n\n")
                || header_block.ends_with(b"\n\r\n"));
        if ends_with_empty_line {
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    fn filtered_in_pieces(block: &[u8], names: &[String], not: bool, cuts: &[usize]) -> Vec<u8> {
        let mut filter = HeaderFieldsFilter::new(names, not);
        let mut out = Vec::new();
        let mut rest = block;
        for &cut in cuts {
            let (piece, after) = rest.split_at(cut.min(rest.len()));
            filter.feed(piece, &mut out);
            rest = after;
        }
        filter.feed(rest, &mut out);
        filter.finish(&mut out);
        out
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 2000, ..Default::default() })]
        #[test]
        fn the_filter_in_pieces_equals_the_whole_buffer_algorithm(
            lines in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::string::string_regex("(Subject|To|x-a|From ) ?: ?[a-z :]{0,6}").unwrap(),
                    proptest::string::string_regex("[ \t][a-z:]{0,5}").unwrap(),
                    proptest::string::string_regex("[a-zA-Z \r]{0,6}").unwrap(),
                    proptest::string::string_regex("\r?").unwrap(),
                ],
                0..12,
            ),
            breaks in proptest::collection::vec(proptest::prop_oneof!["\r\n", "\n", ""], 12),
            cuts in proptest::collection::vec(0usize..9, 0..8),
            not: bool,
        ) {
            let mut block = Vec::new();
            for (line, line_break) in lines.iter().zip(&breaks) {
                block.extend_from_slice(line.as_bytes());
                block.extend_from_slice(line_break.as_bytes());
            }
            let names = vec!["subject".to_string(), "TO".to_string(), "From".to_string(), String::new()];
            let expected = reference_header_fields(&block, &names, not);
            proptest::prop_assert_eq!(&header_fields(&block, &names, not), &expected);
            proptest::prop_assert_eq!(filtered_in_pieces(&block, &names, not, &cuts), expected);
        }
    }

    #[test]
    fn a_long_name_holds_nothing_and_is_not_listed() {
        let mut block = b"Subject: a\r\n".to_vec();
        block.extend(std::iter::repeat_n(b'X', 10 * HEADER_FIELD_NAME_BYTES_MAX));
        block.extend_from_slice(b": long\r\nTo: b\r\n\r\n");
        let long: String = "X".repeat(10 * HEADER_FIELD_NAME_BYTES_MAX);
        let names = vec!["subject".to_string(), long];
        assert_eq!(header_fields(&block, &names, false), b"Subject: a\r\n\r\n");
        let kept = header_fields(&block, &names, true);
        assert!(kept.starts_with(b"XXX") && kept.ends_with(b": long\r\nTo: b\r\n\r\n"));
        // Fed a byte at a time, the filter never holds more than the limit.
        let mut filter = HeaderFieldsFilter::new(&names, true);
        let mut out = Vec::new();
        for byte in &block {
            filter.feed(std::slice::from_ref(byte), &mut out);
            if let Some(FieldState::Undecided { raw, .. }) = &filter.field {
                assert!(raw.len() <= HEADER_FIELD_NAME_BYTES_MAX);
            }
        }
        filter.finish(&mut out);
        assert_eq!(out, kept);
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
