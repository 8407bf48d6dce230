//! IMAP server responses, parsed from bytes (RFC 9051 §7, RFC 3501 §7): no IO.
//!
//! [`response_length`] frames one complete response in a buffer (a line, or a line that
//! ends in `{n}` followed by n literal bytes and the rest of the response, RFC 9051 §4.3);
//! [`parse_response`] turns a framed response into a [`Response`]. Framing skips over
//! literals by length without scanning them, so a buffer that grows while a large
//! `BODY[]` arrives is rescanned only over its short lines.
//!
//! Invariants: a response is never longer than [`RESPONSE_BYTES_MAX`], a line never longer
//! than [`RESPONSE_LINE_BYTES_MAX`], a literal never longer than [`LITERAL_BYTES_MAX`];
//! anything larger is an error, never an allocation. Lines must end in CRLF (strict: a
//! server that sends bare LF is reported, not tolerated).

use memchr::memchr;

/// Longest line (between literals) we buffer. An untagged `SEARCH` over a 1M-message
/// mailbox lists up to ~7 MB of numbers on one line; 16 MiB leaves room for that.
pub(crate) const RESPONSE_LINE_BYTES_MAX: usize = 16 << 20;

/// Largest literal we accept: a message body in `FETCH BODY[]`. Servers commonly cap
/// messages at 50–100 MB; 256 MiB is above any of them.
pub(crate) const LITERAL_BYTES_MAX: usize = 256 << 20;

/// Largest complete response (lines and literals together), so a server that streams an
/// endless chain of literals cannot make us buffer without bound.
pub(crate) const RESPONSE_BYTES_MAX: usize = 512 << 20;

/// Deepest parenthesized nesting we follow (BODYSTRUCTURE of multipart messages nests;
/// 64 is far beyond real messages and keeps recursion bounded).
pub(crate) const NESTING_DEPTH_MAX: usize = 64;

const _: () = assert!(LITERAL_BYTES_MAX < RESPONSE_BYTES_MAX);
const _: () = assert!(RESPONSE_LINE_BYTES_MAX < RESPONSE_BYTES_MAX);

/// Why a server response could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ParseError {
    /// A line longer than [`RESPONSE_LINE_BYTES_MAX`].
    #[error("response line longer than {RESPONSE_LINE_BYTES_MAX} bytes")]
    LineTooLong,
    /// A literal longer than [`LITERAL_BYTES_MAX`], or a response over [`RESPONSE_BYTES_MAX`].
    #[error("literal or response too large ({0} bytes)")]
    TooLarge(u64),
    /// A line ended in LF without CR.
    #[error("line ends in bare LF")]
    BareLf,
    /// The response does not follow the grammar.
    #[error("malformed response ({reason}): {excerpt}")]
    Malformed {
        /// What was wrong.
        reason: &'static str,
        /// The start of the offending response, for the error report.
        excerpt: String,
    },
}

/// A parsed value from a response's data (RFC 9051 §4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// An atom (including flags like `\Seen` and fetch item names like `BODY[TEXT]`).
    Atom(String),
    /// A number.
    Number(u64),
    /// A quoted string or a literal, unescaped.
    String(Vec<u8>),
    /// A parenthesized list.
    List(Vec<Value>),
    /// `NIL`.
    Nil,
}

impl Value {
    /// The number, if this is one.
    pub(crate) fn number(&self) -> Option<u64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }

    /// The bytes of a string, `None` for anything else (`NIL` included).
    pub(crate) fn bytes(&self) -> Option<&[u8]> {
        match self {
            Value::String(bytes) => Some(bytes),
            _ => None,
        }
    }

    /// The items of a list.
    #[cfg(test)]
    pub(crate) fn list(&self) -> Option<&[Value]> {
        match self {
            Value::List(items) => Some(items),
            _ => None,
        }
    }
}

/// A tagged response's status (RFC 9051 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    /// Success.
    Ok,
    /// Operational failure.
    No,
    /// Protocol error.
    Bad,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Ok => "OK",
            Status::No => "NO",
            Status::Bad => "BAD",
        })
    }
}

/// The condition of an untagged status response (RFC 9051 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Condition {
    /// `* OK`.
    Ok,
    /// `* NO`.
    No,
    /// `* BAD`.
    Bad,
    /// `* BYE`: the server is closing the connection.
    Bye,
    /// `* PREAUTH`: greeting of an already authenticated connection.
    Preauth,
}

/// One message's data from an untagged FETCH (RFC 9051 §7.5.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fetch {
    /// Message sequence number.
    pub(crate) seq: u32,
    /// Item name (upper-cased) and value, in the server's order.
    pub(crate) items: Vec<(String, Value)>,
}

impl Fetch {
    /// The value of the first item named `name` (upper case; for `BODY[...]` items the
    /// full name as the server wrote it, upper-cased).
    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.items.iter().find(|(key, _)| key == name).map(|(_, value)| value)
    }

    /// The value of the first item whose name starts with `prefix` (for `BODY[` items,
    /// whose section text servers echo in their own spelling).
    pub(crate) fn get_prefixed(&self, prefix: &str) -> Option<&Value> {
        self.items.iter().find(|(key, _)| key.starts_with(prefix)).map(|(_, value)| value)
    }

    /// The UID item, if present.
    pub(crate) fn uid(&self) -> Option<u32> {
        self.get("UID").and_then(Value::number).and_then(|n| u32::try_from(n).ok())
    }
}

/// An untagged response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Untagged {
    /// `* OK/NO/BAD/BYE/PREAUTH [code] text`.
    State {
        /// Which one.
        condition: Condition,
        /// The response code inside `[...]`, without the brackets.
        code: Option<String>,
        /// The human-readable text.
        text: String,
    },
    /// `* CAPABILITY ...`, capabilities upper-cased.
    Capability(Vec<String>),
    /// `* n EXISTS`.
    Exists(u32),
    /// `* n RECENT` (IMAP4rev1 only).
    Recent(u32),
    /// `* n EXPUNGE`.
    Expunge(u32),
    /// `* n FETCH (...)`.
    Fetch(Fetch),
    /// `* SEARCH n n ...` (a CONDSTORE `(MODSEQ n)` suffix is dropped).
    Search(Vec<u32>),
    /// `* ESEARCH ...` (RFC 4731), its data values after the keyword.
    Esearch(Vec<Value>),
    /// `* STATUS mailbox (name value ...)`.
    Status {
        /// The mailbox name as sent.
        mailbox: Vec<u8>,
        /// Attribute names (upper-cased) and numbers.
        attributes: Vec<(String, u64)>,
    },
    /// Anything else (FLAGS, LIST, ENABLED, VANISHED, ...): keyword and the rest of the
    /// first line, unparsed.
    Other {
        /// The keyword, upper-cased.
        keyword: String,
        /// The rest of the line.
        rest: String,
    },
}

/// A server response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Response {
    /// `+ text`: the server waits for a literal or for `DONE` (RFC 9051 §7.5).
    Continuation(String),
    /// `tag OK/NO/BAD [code] text`.
    Tagged {
        /// The command's tag.
        tag: String,
        /// Its outcome.
        status: Status,
        /// The response code inside `[...]`, if any.
        code: Option<String>,
        /// The text.
        text: String,
    },
    /// `* ...`.
    Untagged(Untagged),
}

/// The length of the first complete response in `buffer`, `None` if it is not complete
/// yet. Errors when limits are exceeded or a line ends in bare LF.
pub(crate) fn response_length(buffer: &[u8]) -> Result<Option<usize>, ParseError> {
    let mut position = 0usize;
    loop {
        let Some(offset) = memchr(b'\n', &buffer[position..]) else {
            if buffer.len() - position > RESPONSE_LINE_BYTES_MAX {
                return Err(ParseError::LineTooLong);
            }
            return Ok(None);
        };
        if offset > RESPONSE_LINE_BYTES_MAX {
            return Err(ParseError::LineTooLong);
        }
        let newline = position + offset;
        if newline == position || buffer[newline - 1] != b'\r' {
            return Err(ParseError::BareLf);
        }
        let line = &buffer[position..newline - 1];
        let end = newline + 1;
        match literal_announcement(line)? {
            None => return Ok(Some(end)),
            Some(size) => {
                if size > LITERAL_BYTES_MAX as u64 {
                    return Err(ParseError::TooLarge(size));
                }
                // Lossless: size ≤ LITERAL_BYTES_MAX, which fits in usize.
                let after = end + size as usize;
                if after > RESPONSE_BYTES_MAX {
                    return Err(ParseError::TooLarge(after as u64));
                }
                if after > buffer.len() {
                    return Ok(None);
                }
                position = after;
            }
        }
    }
}

/// `Some(n)` if the line ends in a literal announcement `{n}` (RFC 9051 §4.3; servers
/// never send the non-synchronizing `{n+}` form, so it is refused).
pub(crate) fn literal_announcement(line: &[u8]) -> Result<Option<u64>, ParseError> {
    let Some(body) = line.strip_suffix(b"}") else { return Ok(None) };
    let Some(open) = body.iter().rposition(|&b| b == b'{') else { return Ok(None) };
    let digits = &body[open + 1..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return Ok(None);
    }
    if digits.len() > 19 {
        return Err(ParseError::TooLarge(u64::MAX));
    }
    let size = digits.iter().fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
    Ok(Some(size))
}

/// Parses one complete response, as framed by [`response_length`].
pub(crate) fn parse_response(bytes: &[u8]) -> Result<Response, ParseError> {
    let mut cursor = Cursor { bytes, position: 0 };
    if bytes.starts_with(b"+") {
        cursor.position = 1;
        cursor.skip_space();
        return Ok(Response::Continuation(cursor.rest_of_line()?));
    }
    if bytes.starts_with(b"* ") {
        cursor.position = 2;
        return parse_untagged(&mut cursor).map(Response::Untagged);
    }
    let tag = cursor.atom()?;
    cursor.expect_space()?;
    let status = match cursor.atom()?.to_ascii_uppercase().as_str() {
        "OK" => Status::Ok,
        "NO" => Status::No,
        "BAD" => Status::Bad,
        _ => return Err(cursor.malformed("tagged status is not OK, NO or BAD")),
    };
    let (code, text) = cursor.response_text()?;
    Ok(Response::Tagged { tag, status, code, text })
}

fn parse_untagged(cursor: &mut Cursor<'_>) -> Result<Untagged, ParseError> {
    let first = cursor.atom()?;
    if let Ok(number) = first.parse::<u32>() {
        cursor.expect_space()?;
        let keyword = cursor.atom()?.to_ascii_uppercase();
        return match keyword.as_str() {
            "EXISTS" => Ok(Untagged::Exists(number)),
            "RECENT" => Ok(Untagged::Recent(number)),
            "EXPUNGE" => Ok(Untagged::Expunge(number)),
            "FETCH" => {
                cursor.expect_space()?;
                parse_fetch(cursor, number).map(Untagged::Fetch)
            }
            _ => Ok(Untagged::Other { keyword, rest: cursor.rest_of_line()? }),
        };
    }
    let keyword = first.to_ascii_uppercase();
    let condition = match keyword.as_str() {
        "OK" => Some(Condition::Ok),
        "NO" => Some(Condition::No),
        "BAD" => Some(Condition::Bad),
        "BYE" => Some(Condition::Bye),
        "PREAUTH" => Some(Condition::Preauth),
        _ => None,
    };
    if let Some(condition) = condition {
        let (code, text) = cursor.response_text()?;
        return Ok(Untagged::State { condition, code, text });
    }
    match keyword.as_str() {
        "CAPABILITY" => {
            let rest = cursor.rest_of_line()?;
            Ok(Untagged::Capability(capabilities(&rest)))
        }
        "SEARCH" => parse_search(cursor),
        "ESEARCH" => {
            let mut values = Vec::new();
            while cursor.skip_space() {
                values.push(cursor.value(0)?);
            }
            Ok(Untagged::Esearch(values))
        }
        "STATUS" => parse_status(cursor),
        _ => Ok(Untagged::Other { keyword, rest: cursor.rest_of_line()? }),
    }
}

/// Splits a capability list into upper-cased names.
pub(crate) fn capabilities(text: &str) -> Vec<String> {
    text.split_ascii_whitespace().map(str::to_ascii_uppercase).collect()
}

fn parse_fetch(cursor: &mut Cursor<'_>, seq: u32) -> Result<Fetch, ParseError> {
    let Value::List(values) = cursor.value(0)? else {
        return Err(cursor.malformed("FETCH data is not a list"));
    };
    if values.len() % 2 != 0 {
        return Err(cursor.malformed("FETCH item without value"));
    }
    let mut items = Vec::with_capacity(values.len() / 2);
    let mut values = values.into_iter();
    while let (Some(name), Some(value)) = (values.next(), values.next()) {
        let Value::Atom(name) = name else {
            return Err(cursor.malformed("FETCH item name is not an atom"));
        };
        items.push((name.to_ascii_uppercase(), value));
    }
    cursor.expect_end()?;
    Ok(Fetch { seq, items })
}

fn parse_search(cursor: &mut Cursor<'_>) -> Result<Untagged, ParseError> {
    let mut numbers = Vec::new();
    while cursor.skip_space() {
        match cursor.value(0)? {
            Value::Number(n) => {
                numbers.push(u32::try_from(n).map_err(|_| cursor.malformed("SEARCH number out of range"))?)
            }
            // RFC 7162 §3.1.5: `(MODSEQ n)` after the numbers.
            Value::List(_) => {}
            _ => return Err(cursor.malformed("SEARCH result is not a number")),
        }
    }
    cursor.expect_end()?;
    Ok(Untagged::Search(numbers))
}

fn parse_status(cursor: &mut Cursor<'_>) -> Result<Untagged, ParseError> {
    cursor.expect_space()?;
    let mailbox = match cursor.value(0)? {
        Value::String(bytes) => bytes,
        Value::Atom(atom) => atom.into_bytes(),
        Value::Number(n) => n.to_string().into_bytes(),
        _ => return Err(cursor.malformed("STATUS mailbox name")),
    };
    cursor.expect_space()?;
    let Value::List(values) = cursor.value(0)? else {
        return Err(cursor.malformed("STATUS attributes are not a list"));
    };
    let mut attributes = Vec::new();
    for pair in values.chunks(2) {
        match pair {
            [Value::Atom(name), Value::Number(n)] => attributes.push((name.to_ascii_uppercase(), *n)),
            _ => return Err(cursor.malformed("STATUS attribute is not name and number")),
        }
    }
    Ok(Untagged::Status { mailbox, attributes })
}

/// A position in one framed response.
struct Cursor<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.position).copied()
    }

    fn malformed(&self, reason: &'static str) -> ParseError {
        let end = self.bytes.len().min(120);
        ParseError::Malformed { reason, excerpt: String::from_utf8_lossy(&self.bytes[..end]).into_owned() }
    }

    /// Skips one space; false if there is none.
    fn skip_space(&mut self) -> bool {
        if self.peek() == Some(b' ') {
            self.position += 1;
            true
        } else {
            false
        }
    }

    fn expect_space(&mut self) -> Result<(), ParseError> {
        if self.skip_space() { Ok(()) } else { Err(self.malformed("expected a space")) }
    }

    /// Checks that only the CRLF is left.
    fn expect_end(&mut self) -> Result<(), ParseError> {
        if &self.bytes[self.position..] == b"\r\n" { Ok(()) } else { Err(self.malformed("trailing data")) }
    }

    /// The rest of the current line as text, consuming it and its CRLF.
    fn rest_of_line(&mut self) -> Result<String, ParseError> {
        let rest = &self.bytes[self.position..];
        let Some(end) = memchr(b'\r', rest) else { return Err(self.malformed("line without CRLF")) };
        self.position += end + 2;
        Ok(String::from_utf8_lossy(&rest[..end]).into_owned())
    }

    /// `[code] text` after a status word (RFC 9051 §7.1 resp-text).
    fn response_text(&mut self) -> Result<(Option<String>, String), ParseError> {
        self.skip_space();
        let text = self.rest_of_line()?;
        if let Some(after) = text.strip_prefix('[') {
            if let Some(close) = after.find(']') {
                let code = after[..close].to_string();
                let text = after[close + 1..].trim_start().to_string();
                return Ok((Some(code), text));
            }
            return Err(self.malformed("response code without ]"));
        }
        Ok((None, text))
    }

    /// An atom; `[...]` sections (which may hold spaces and parentheses, as in
    /// `BODY[HEADER.FIELDS (MESSAGE-ID)]`) and a `<n>` partial suffix are part of it.
    fn atom(&mut self) -> Result<String, ParseError> {
        let start = self.position;
        let mut depth = 0usize;
        while let Some(byte) = self.peek() {
            match byte {
                b'[' => depth += 1,
                b']' if depth > 0 => depth -= 1,
                b'\r' | b'\n' => break,
                b' ' | b'(' | b')' | b'{' | b'"' if depth == 0 => break,
                _ => {}
            }
            self.position += 1;
        }
        if self.position == start || depth != 0 {
            return Err(self.malformed("expected an atom"));
        }
        Ok(String::from_utf8_lossy(&self.bytes[start..self.position]).into_owned())
    }

    fn value(&mut self, depth: usize) -> Result<Value, ParseError> {
        if depth > NESTING_DEPTH_MAX {
            return Err(self.malformed("lists nested too deeply"));
        }
        match self.peek() {
            Some(b'(') => self.list(depth),
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            Some(_) => {
                let atom = self.atom()?;
                if atom.eq_ignore_ascii_case("NIL") {
                    Ok(Value::Nil)
                } else if !atom.is_empty() && atom.bytes().all(|b| b.is_ascii_digit()) {
                    atom.parse().map(Value::Number).map_err(|_| self.malformed("number out of range"))
                } else {
                    Ok(Value::Atom(atom))
                }
            }
            None => Err(self.malformed("unexpected end")),
        }
    }

    fn list(&mut self, depth: usize) -> Result<Value, ParseError> {
        self.position += 1; // '('
        let mut items = Vec::new();
        loop {
            match self.peek() {
                Some(b')') => {
                    self.position += 1;
                    return Ok(Value::List(items));
                }
                Some(b' ') if !items.is_empty() => self.position += 1,
                Some(_) => items.push(self.value(depth + 1)?),
                None => return Err(self.malformed("unterminated list")),
            }
        }
    }

    fn quoted(&mut self) -> Result<Value, ParseError> {
        self.position += 1; // opening quote
        let mut out = Vec::new();
        loop {
            match self.peek() {
                Some(b'"') => {
                    self.position += 1;
                    return Ok(Value::String(out));
                }
                Some(b'\\') => {
                    let escaped = self.bytes.get(self.position + 1).copied();
                    match escaped {
                        Some(byte @ (b'"' | b'\\')) => out.push(byte),
                        _ => return Err(self.malformed("bad escape in quoted string")),
                    }
                    self.position += 2;
                }
                Some(b'\r' | b'\n') | None => return Err(self.malformed("unterminated quoted string")),
                Some(byte) => {
                    out.push(byte);
                    self.position += 1;
                }
            }
        }
    }

    fn literal(&mut self) -> Result<Value, ParseError> {
        let rest = &self.bytes[self.position..];
        let Some(close) = memchr(b'}', rest) else { return Err(self.malformed("literal without }")) };
        let digits = &rest[1..close];
        let size: usize = std::str::from_utf8(digits)
            .ok()
            .and_then(|text| text.parse().ok())
            .ok_or_else(|| self.malformed("literal size"))?;
        if rest.get(close + 1..close + 3) != Some(b"\r\n") {
            return Err(self.malformed("literal announcement not at end of line"));
        }
        let start = self.position + close + 3;
        let Some(data) = self.bytes.get(start..start + size) else {
            return Err(self.malformed("literal shorter than announced"));
        };
        self.position = start + size;
        Ok(Value::String(data.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    /// Frames and parses every response in `input`, checking that framing consumed all of it.
    fn parse_all(input: &[u8]) -> Vec<Response> {
        let mut out = Vec::new();
        let mut rest = input;
        while !rest.is_empty() {
            let length = response_length(rest).unwrap().expect("complete response");
            out.push(parse_response(&rest[..length]).unwrap());
            rest = &rest[length..];
        }
        out
    }

    #[test]
    fn tagged_and_untagged_states() {
        let responses = parse_all(
            b"* OK [CAPABILITY IMAP4rev1 IDLE] ready\r\na1 OK [READ-WRITE] SELECT completed\r\n\
              a2 NO [TRYCREATE] no such mailbox\r\na3 bad what\r\n* BYE shutting down\r\n",
        );
        assert_eq!(
            responses[0],
            Response::Untagged(Untagged::State {
                condition: Condition::Ok,
                code: Some("CAPABILITY IMAP4rev1 IDLE".into()),
                text: "ready".into()
            })
        );
        assert_eq!(
            responses[1],
            Response::Tagged {
                tag: "a1".into(),
                status: Status::Ok,
                code: Some("READ-WRITE".into()),
                text: "SELECT completed".into()
            }
        );
        assert!(
            matches!(&responses[2], Response::Tagged { status: Status::No, code: Some(c), .. } if c == "TRYCREATE")
        );
        assert!(matches!(&responses[3], Response::Tagged { status: Status::Bad, code: None, .. }));
        assert!(matches!(
            &responses[4],
            Response::Untagged(Untagged::State { condition: Condition::Bye, .. })
        ));
    }

    #[test]
    fn counts_capabilities_search_and_continuation() {
        let responses = parse_all(
            b"* 23 EXISTS\r\n* 3 RECENT\r\n* 7 EXPUNGE\r\n* CAPABILITY IMAP4rev1 literal+ IDLE\r\n\
              * SEARCH 2 4 9\r\n* SEARCH\r\n* SEARCH 1 3 (MODSEQ 917)\r\n+ idling\r\n+\r\n",
        );
        assert_eq!(responses[0], Response::Untagged(Untagged::Exists(23)));
        assert_eq!(responses[1], Response::Untagged(Untagged::Recent(3)));
        assert_eq!(responses[2], Response::Untagged(Untagged::Expunge(7)));
        assert_eq!(
            responses[3],
            Response::Untagged(Untagged::Capability(vec![
                "IMAP4REV1".into(),
                "LITERAL+".into(),
                "IDLE".into()
            ]))
        );
        assert_eq!(responses[4], Response::Untagged(Untagged::Search(vec![2, 4, 9])));
        assert_eq!(responses[5], Response::Untagged(Untagged::Search(vec![])));
        assert_eq!(responses[6], Response::Untagged(Untagged::Search(vec![1, 3])));
        assert_eq!(responses[7], Response::Continuation("idling".into()));
        assert_eq!(responses[8], Response::Continuation(String::new()));
    }

    #[test]
    fn fetch_with_literal_body_and_section_names() {
        let body = b"Subject: hi\r\n\r\nline ) with { and } and \"quotes\"\r\n* 9 EXISTS\r\n";
        let mut input =
            format!("* 12 FETCH (UID 512 FLAGS (\\Seen $Junk) BODY[] {{{}}}\r\n", body.len()).into_bytes();
        input.extend_from_slice(body);
        input.extend_from_slice(
            b" RFC822.SIZE 61)\r\n* 1 FETCH (BODY[HEADER.FIELDS (MESSAGE-ID)] {4}\r\nab\r\n)\r\n",
        );
        let responses = parse_all(&input);
        let Response::Untagged(Untagged::Fetch(fetch)) = &responses[0] else { panic!("{responses:?}") };
        assert_eq!(fetch.seq, 12);
        assert_eq!(fetch.uid(), Some(512));
        assert_eq!(
            fetch.get("FLAGS"),
            Some(&Value::List(vec![Value::Atom("\\Seen".into()), Value::Atom("$Junk".into())]))
        );
        assert_eq!(fetch.get("BODY[]").and_then(Value::bytes), Some(&body[..]));
        assert_eq!(fetch.get("RFC822.SIZE").and_then(Value::number), Some(61));
        let Response::Untagged(Untagged::Fetch(fetch)) = &responses[1] else { panic!("{responses:?}") };
        assert_eq!(fetch.get_prefixed("BODY[HEADER.FIELDS").and_then(Value::bytes), Some(&b"ab\r\n"[..]));
        assert_eq!(responses.len(), 2);
    }

    #[test]
    fn fetch_envelope_nested_lists_quotes_and_nil() {
        let input = b"* 3 FETCH (ENVELOPE (\"Mon, 1 Jan 2024 00:00:00 +0000\" \"a \\\"quoted\\\" subject\" \
            ((\"Load\" NIL \"load\" \"example.org\")) NIL NIL NIL NIL NIL NIL \"<id@x>\") MODSEQ (42))\r\n";
        let responses = parse_all(input);
        let Response::Untagged(Untagged::Fetch(fetch)) = &responses[0] else { panic!("{responses:?}") };
        let envelope = fetch.get("ENVELOPE").and_then(Value::list).unwrap();
        assert_eq!(envelope.len(), 10);
        assert_eq!(envelope[1].bytes(), Some(&b"a \"quoted\" subject"[..]));
        let from = envelope[2].list().unwrap()[0].list().unwrap();
        assert_eq!(from[1], Value::Nil);
        assert_eq!(from[3].bytes(), Some(&b"example.org"[..]));
        assert_eq!(fetch.get("MODSEQ"), Some(&Value::List(vec![Value::Number(42)])));
    }

    #[test]
    fn status_and_esearch() {
        let responses = parse_all(
            b"* STATUS \"Sent Items\" (MESSAGES 4 UIDNEXT 90)\r\n* STATUS INBOX ()\r\n\
              * ESEARCH (TAG \"a5\") UID COUNT 3 ALL 4:6\r\n* FLAGS (\\Seen \\*)\r\n",
        );
        assert_eq!(
            responses[0],
            Response::Untagged(Untagged::Status {
                mailbox: b"Sent Items".to_vec(),
                attributes: vec![("MESSAGES".into(), 4), ("UIDNEXT".into(), 90)]
            })
        );
        assert!(
            matches!(&responses[1], Response::Untagged(Untagged::Status { attributes, .. }) if attributes.is_empty())
        );
        let Response::Untagged(Untagged::Esearch(values)) = &responses[2] else { panic!() };
        assert_eq!(values[3], Value::Number(3));
        assert_eq!(values[5], Value::Atom("4:6".into()));
        assert!(
            matches!(&responses[3], Response::Untagged(Untagged::Other { keyword, .. }) if keyword == "FLAGS")
        );
    }

    #[test]
    fn incomplete_responses_wait_for_more() {
        assert_eq!(response_length(b"* 1 EXI").unwrap(), None);
        assert_eq!(response_length(b"* 1 FETCH (BODY[] {10}\r\n12345").unwrap(), None);
        // The literal is complete but the line after it is not.
        assert_eq!(response_length(b"* 1 FETCH (BODY[] {3}\r\nabc").unwrap(), None);
        assert_eq!(response_length(b"* 1 FETCH (BODY[] {3}\r\nabc)\r\nrest").unwrap(), Some(29));
        assert_eq!(response_length(b"").unwrap(), None);
    }

    #[test]
    fn limits_and_strictness() {
        assert_eq!(response_length(b"* 1 EXISTS\n"), Err(ParseError::BareLf));
        let huge = format!("* 1 FETCH (BODY[] {{{}}}\r\n", LITERAL_BYTES_MAX + 1);
        assert!(matches!(response_length(huge.as_bytes()), Err(ParseError::TooLarge(_))));
        let endless = format!("* 1 FETCH (BODY[] {{{}}}\r\n", "9".repeat(30));
        assert!(matches!(response_length(endless.as_bytes()), Err(ParseError::TooLarge(_))));
        assert!(matches!(parse_response(b"a1 MAYBE fine\r\n"), Err(ParseError::Malformed { .. })));
        assert!(matches!(parse_response(b"* 1 FETCH (UID)\r\n"), Err(ParseError::Malformed { .. })));
        assert!(matches!(parse_response(b"* 1 FETCH (UID 1\r\n"), Err(ParseError::Malformed { .. })));
        assert!(matches!(parse_response(b"* SEARCH 1 x\r\n"), Err(ParseError::Malformed { .. })));
        let deep = format!("* 1 FETCH (X {}{})\r\n", "(".repeat(100), ")".repeat(100));
        assert!(matches!(parse_response(deep.as_bytes()), Err(ParseError::Malformed { .. })));
    }

    #[test]
    fn long_line_is_refused_before_it_is_complete() {
        let line = vec![b'x'; RESPONSE_LINE_BYTES_MAX + 1];
        assert_eq!(response_length(&line), Err(ParseError::LineTooLong));
    }
}
