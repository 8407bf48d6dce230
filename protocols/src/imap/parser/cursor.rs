//! The parser's cursor and the grammar's building blocks (RFC 9051 §9, RFC 3501 §9):
//! atoms, strings (quoted and literal), numbers, sequence sets, flags, dates, mailbox
//! names.
//!
//! The input is one complete command as the reader assembled it: lines joined with
//! CRLF, each literal's bytes right after its `{n}` announcement and CRLF, no final
//! CRLF. Invariant: every method either advances past what it matched and returns it,
//! or returns an error; none indexes past the input or panics on any bytes.

use super::super::datetime::{Date, DateTime, parse_date, parse_date_time};
use super::super::error::{ParseError, ParseResult};
use super::super::limits::NUMBER_DIGITS_MAX;
use super::super::types::{Flag, SeqNumber, SeqRange, SequenceSet, is_atom_char};

/// ASTRING-CHAR (RFC 9051 §9): ATOM-CHAR or `]`. Interop: 8-bit bytes are allowed too,
/// as some clients send UTF-8 mailbox names unquoted; the UTF-8 check comes later.
fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']' || b >= 0x80
}

/// list-char (RFC 9051 §9): ATOM-CHAR, the wildcards `%` `*`, or `]` (and 8-bit, as for
/// astrings).
fn is_list_char(b: u8) -> bool {
    is_astring_char(b) || b == b'%' || b == b'*'
}

/// Position in one command.
pub(crate) struct Cursor<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(input: &'a [u8]) -> Self {
        Self { input, pos: 0 }
    }

    pub(crate) fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    /// Whether the input continues with `text` (ASCII, any case), without consuming it.
    pub(crate) fn looking_at(&self, text: &str) -> bool {
        self.input
            .get(self.pos..self.pos + text.len())
            .is_some_and(|next| next.eq_ignore_ascii_case(text.as_bytes()))
    }

    pub(crate) fn at_end(&self) -> bool {
        self.pos >= self.input.len()
    }

    /// Fails unless the whole input was used.
    pub(crate) fn end(&self) -> ParseResult<()> {
        if self.at_end() { Ok(()) } else { Err(ParseError::syntax("unexpected text at end of command")) }
    }

    pub(crate) fn byte(&mut self, b: u8, detail: &'static str) -> ParseResult<()> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            Err(ParseError::syntax(detail))
        }
    }

    pub(crate) fn sp(&mut self) -> ParseResult<()> {
        self.byte(b' ', "expected a space")
    }

    /// Consumes `b` if it is next.
    pub(crate) fn take(&mut self, b: u8) -> bool {
        let found = self.peek() == Some(b);
        if found {
            self.pos += 1;
        }
        found
    }

    /// Consumes `word` (ASCII, any case) if it is next and not followed by more atom
    /// characters.
    pub(crate) fn keyword(&mut self, word: &str) -> bool {
        let end = self.pos + word.len();
        let Some(candidate) = self.input.get(self.pos..end) else {
            return false;
        };
        if !candidate.eq_ignore_ascii_case(word.as_bytes()) {
            return false;
        }
        if self.input.get(end).is_some_and(|&b| is_atom_char(b)) {
            return false;
        }
        self.pos = end;
        true
    }

    /// Consumes bytes while `accept` holds; may be empty.
    pub(crate) fn take_while(&mut self, accept: impl Fn(u8) -> bool) -> &'a [u8] {
        let start = self.pos;
        while self.peek().is_some_and(&accept) {
            self.pos += 1;
        }
        &self.input[start..self.pos]
    }

    /// `atom` (1*ATOM-CHAR), as ASCII text.
    pub(crate) fn atom(&mut self) -> ParseResult<&'a str> {
        let bytes = self.take_while(is_atom_char);
        if bytes.is_empty() {
            return Err(ParseError::syntax("expected an atom"));
        }
        std::str::from_utf8(bytes).map_err(|_| ParseError::syntax("expected an atom"))
    }

    /// `astring`: an atom of ASTRING-CHARs, a quoted string or a literal.
    pub(crate) fn astring(&mut self) -> ParseResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            Some(b'~') if self.at_literal8() => self.literal(),
            _ => {
                let bytes = self.take_while(is_astring_char);
                if bytes.is_empty() {
                    return Err(ParseError::syntax("expected a string or atom"));
                }
                Ok(bytes.to_vec())
            }
        }
    }

    /// `astring` that must be UTF-8.
    pub(crate) fn astring_utf8(&mut self) -> ParseResult<String> {
        utf8(self.astring()?)
    }

    /// `string`: quoted or literal.
    pub(crate) fn string(&mut self) -> ParseResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            Some(b'{') => self.literal(),
            Some(b'~') if self.at_literal8() => self.literal(),
            _ => Err(ParseError::syntax("expected a string")),
        }
    }

    /// Whether a literal8 announcement `~{` is next (`~` alone is an atom character).
    fn at_literal8(&self) -> bool {
        self.input.get(self.pos..self.pos + 2) == Some(b"~{")
    }

    /// What is left of the input (for a look ahead with a second cursor).
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.input.get(self.pos..).unwrap_or_default()
    }

    /// `nstring / literal8` (RFC 5464 §5's metadata value): as [`Cursor::nstring`], and
    /// a `~{n}` literal, which may hold NUL (RFC 3516 §4.3).
    pub(crate) fn nstring_or_literal8(&mut self) -> ParseResult<Option<Vec<u8>>> {
        if !self.at_literal8() {
            return self.nstring();
        }
        self.pos += 1;
        self.byte(b'{', "expected a literal")?;
        let length = self.number64()?;
        self.take(b'+');
        self.byte(b'}', "bad literal announcement")?;
        self.byte(b'\r', "expected CRLF after literal announcement")?;
        self.byte(b'\n', "expected CRLF after literal announcement")?;
        let length = usize::try_from(length).map_err(|_| ParseError::syntax("literal too long"))?;
        let end = self.pos.checked_add(length).ok_or(ParseError::syntax("literal too long"))?;
        let bytes = self.input.get(self.pos..end).ok_or(ParseError::syntax("literal data missing"))?;
        self.pos = end;
        Ok(Some(bytes.to_vec()))
    }

    /// `nstring`: `NIL` or a string.
    pub(crate) fn nstring(&mut self) -> ParseResult<Option<Vec<u8>>> {
        if self.keyword("NIL") { Ok(None) } else { self.string().map(Some) }
    }

    /// `quoted` (RFC 9051 §9): `"` chars `"`, with `\"` and `\\` escapes, no CR/LF/NUL.
    /// 8-bit bytes are kept (UTF-8 in quoted strings: RFC 9051, RFC 6855 §3).
    fn quoted(&mut self) -> ParseResult<Vec<u8>> {
        self.byte(b'"', "expected a quoted string")?;
        let mut out = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return Err(ParseError::syntax("unterminated quoted string"));
            };
            self.pos += 1;
            match b {
                b'"' => return Ok(out),
                b'\\' => match self.peek() {
                    Some(escaped @ (b'"' | b'\\')) => {
                        self.pos += 1;
                        out.push(escaped);
                    }
                    _ => return Err(ParseError::syntax("bad escape in quoted string")),
                },
                b'\r' | b'\n' | 0 => return Err(ParseError::syntax("control character in quoted string")),
                _ => out.push(b),
            }
        }
    }

    /// `literal`: `{n}` or `{n+}`, CRLF, n bytes. A binary literal `~{n}` is refused
    /// (RFC 3516 allows it in APPEND only, which the reader handles).
    fn literal(&mut self) -> ParseResult<Vec<u8>> {
        if self.peek() == Some(b'~') {
            return Err(ParseError::syntax("binary literal not allowed here"));
        }
        self.byte(b'{', "expected a literal")?;
        let length = self.number64()?;
        self.take(b'+');
        self.byte(b'}', "bad literal announcement")?;
        self.byte(b'\r', "expected CRLF after literal announcement")?;
        self.byte(b'\n', "expected CRLF after literal announcement")?;
        let length = usize::try_from(length).map_err(|_| ParseError::syntax("literal too long"))?;
        let end = self.pos.checked_add(length).ok_or(ParseError::syntax("literal too long"))?;
        let bytes = self.input.get(self.pos..end).ok_or(ParseError::syntax("literal data missing"))?;
        // RFC 9051 §9: a literal is CHAR8 (%x01-ff); NUL only in literal8.
        if bytes.contains(&0) {
            return Err(ParseError::syntax("NUL in literal"));
        }
        self.pos = end;
        Ok(bytes.to_vec())
    }

    /// Decimal digits as a u64: 1 to [`NUMBER_DIGITS_MAX`] digits, at most 2^63-1
    /// (`number64`).
    pub(crate) fn number64(&mut self) -> ParseResult<u64> {
        let digits = self.take_while(|b| b.is_ascii_digit());
        if digits.is_empty() {
            return Err(ParseError::syntax("expected a number"));
        }
        if digits.len() > NUMBER_DIGITS_MAX {
            return Err(ParseError::syntax("number too large"));
        }
        let value = digits.iter().fold(0u64, |acc, &d| acc * 10 + u64::from(d - b'0'));
        if value > i64::MAX as u64 {
            return Err(ParseError::syntax("number too large"));
        }
        Ok(value)
    }

    /// `number` (32 bits).
    pub(crate) fn number(&mut self) -> ParseResult<u32> {
        u32::try_from(self.number64()?).map_err(|_| ParseError::syntax("number too large"))
    }

    /// `nz-number` (32 bits, not 0).
    pub(crate) fn nz_number(&mut self) -> ParseResult<u32> {
        match self.number()? {
            0 => Err(ParseError::syntax("number must not be 0")),
            n => Ok(n),
        }
    }

    /// `mod-sequence-value`: 1 to 2^63-1 (RFC 7162 §7).
    pub(crate) fn modseq(&mut self) -> ParseResult<u64> {
        match self.number64()? {
            0 => Err(ParseError::syntax("mod-sequence must not be 0")),
            n => Ok(n),
        }
    }

    /// `sequence-set`, or `$` when `allow_saved` (RFC 5182 §2.1).
    pub(crate) fn sequence_set(&mut self, allow_saved: bool) -> ParseResult<SequenceSet> {
        if self.peek() == Some(b'$') {
            if !allow_saved {
                return Err(ParseError::syntax("$ not allowed here"));
            }
            self.pos += 1;
            return Ok(SequenceSet::Saved);
        }
        let mut ranges = Vec::new();
        loop {
            let first = self.seq_number()?;
            let last = if self.take(b':') { self.seq_number()? } else { first };
            ranges.push(SeqRange { first, last });
            if !self.take(b',') {
                return Ok(SequenceSet::Ranges(ranges));
            }
        }
    }

    fn seq_number(&mut self) -> ParseResult<SeqNumber> {
        if self.take(b'*') {
            return Ok(SeqNumber::Star);
        }
        self.nz_number().map(SeqNumber::Value)
    }

    /// `flag`: a system flag, `\ext` or a keyword atom.
    pub(crate) fn flag(&mut self) -> ParseResult<Flag> {
        let start = self.pos;
        self.take(b'\\');
        self.take_while(is_atom_char);
        let text = std::str::from_utf8(&self.input[start..self.pos]).unwrap_or_default();
        Flag::parse(text).ok_or(ParseError::syntax("expected a flag"))
    }

    /// `flag-list`: `(` [flag *(SP flag)] `)`.
    pub(crate) fn flag_list(&mut self) -> ParseResult<Vec<Flag>> {
        self.byte(b'(', "expected a flag list")?;
        let mut flags = Vec::new();
        if self.take(b')') {
            return Ok(flags);
        }
        loop {
            flags.push(self.flag()?);
            if self.take(b')') {
                return Ok(flags);
            }
            self.sp()?;
        }
    }

    /// `date`: date-text, optionally in double quotes.
    pub(crate) fn date(&mut self) -> ParseResult<Date> {
        let quoted = self.take(b'"');
        let text = self.take_while(|b| b.is_ascii_alphanumeric() || b == b'-');
        let date = parse_date(text).ok_or(ParseError::syntax("invalid date"))?;
        if quoted {
            self.byte(b'"', "invalid date")?;
        }
        Ok(date)
    }

    /// `date-time`: a quoted `dd-Mon-yyyy hh:mm:ss +zzzz`.
    pub(crate) fn date_time(&mut self) -> ParseResult<DateTime> {
        self.byte(b'"', "expected a date-time")?;
        let text = self.take_while(|b| b != b'"' && b != b'\r' && b != b'\n');
        let date_time = parse_date_time(text).ok_or(ParseError::syntax("invalid date-time"))?;
        self.byte(b'"', "invalid date-time")?;
        Ok(date_time)
    }

    /// `mailbox`: an astring that must be UTF-8; `INBOX` in any case becomes `INBOX`
    /// (RFC 9051 §5.1).
    pub(crate) fn mailbox(&mut self) -> ParseResult<String> {
        let name = self.astring()?;
        mailbox_name(name)
    }

    /// `list-mailbox`: list-chars or a string.
    pub(crate) fn list_mailbox(&mut self) -> ParseResult<String> {
        let at_string = match self.peek() {
            Some(b'"' | b'{') => true,
            Some(b'~') => self.at_literal8(),
            _ => false,
        };
        let bytes = if at_string {
            self.string()?
        } else {
            let bytes = self.take_while(is_list_char);
            if bytes.is_empty() {
                return Err(ParseError::syntax("expected a mailbox pattern"));
            }
            bytes.to_vec()
        };
        utf8(bytes)
    }
}

/// Checks a mailbox name and normalizes INBOX.
pub(crate) fn mailbox_name(name: Vec<u8>) -> ParseResult<String> {
    let name = String::from_utf8(name).map_err(|_| ParseError::syntax("mailbox name is not UTF-8"))?;
    if name.eq_ignore_ascii_case("INBOX") { Ok("INBOX".to_owned()) } else { Ok(name) }
}

pub(crate) fn utf8(bytes: Vec<u8>) -> ParseResult<String> {
    String::from_utf8(bytes).map_err(|_| ParseError::syntax("string is not UTF-8"))
}
