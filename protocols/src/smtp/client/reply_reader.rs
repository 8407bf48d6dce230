//! Reading server replies (RFC 5321 §4.2) with enhanced status codes (RFC 2034,
//! RFC 3463) from bytes that arrive in pieces of any size.
//!
//! Invariants: at most one reply line ([`CLIENT_REPLY_LINE_BYTES_MAX`]) is buffered
//! while incomplete, and at most [`CLIENT_REPLY_LINES_MAX`] lines make one reply; any
//! byte not forming a well-formed reply line is a [`ReplyError`], never a panic. The
//! reader stops after each complete reply, so bytes after it (a STARTTLS handshake,
//! the next pipelined reply) stay with the caller.
//!
//! Leniencies, as deployed servers need them: a bare LF ends a line like CRLF, a line
//! may be just the code (`250`), and text may hold any byte but CR and LF (it is
//! decoded lossily). Not lenient: the three digits (2–5, 0–5, 0–9), the separator, and
//! every line of a reply carrying the same code (RFC 5321 §4.2.1).

use memchr::memchr;

use super::limits::{CLIENT_REPLY_LINE_BYTES_MAX, CLIENT_REPLY_LINES_MAX};
use crate::smtp::reply::{EnhancedCode, Reply};

/// Why server bytes are not a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReplyError {
    /// A line does not start with a valid three-digit reply code.
    #[error("reply line without a valid code")]
    InvalidCode,
    /// The code is not followed by a space, `-` or the end of the line.
    #[error("reply code not followed by space or hyphen")]
    InvalidSeparator,
    /// A continuation line carries another code than the first line.
    #[error("multi-line reply with differing codes")]
    CodeMismatch,
    /// A line is longer than [`CLIENT_REPLY_LINE_BYTES_MAX`].
    #[error("reply line too long")]
    LineTooLong,
    /// A reply has more than [`CLIENT_REPLY_LINES_MAX`] lines.
    #[error("reply has too many lines")]
    TooManyLines,
}

/// Reads replies from the byte stream. Feed it with [`ReplyReader::feed`].
#[derive(Debug, Default)]
pub struct ReplyReader {
    /// The incomplete line so far (no line end).
    line: Vec<u8>,
    /// Lines of the reply under way: the code, and each line's text.
    code: Option<u16>,
    lines: Vec<String>,
}

impl ReplyReader {
    /// A reader at the start of a reply.
    pub fn new() -> Self {
        Self::default()
    }

    /// True while part of a reply has been read (a line, or lines of a multi-line
    /// reply).
    pub fn is_mid_reply(&self) -> bool {
        !self.line.is_empty() || self.code.is_some()
    }

    /// Uses bytes of `input` up to the end of the first complete reply. Returns how
    /// many bytes were used and the reply if one completed; `(input.len(), None)` when
    /// more bytes are needed.
    pub fn feed(&mut self, input: &[u8]) -> Result<(usize, Option<Reply>), ReplyError> {
        let mut used = 0;
        while used < input.len() {
            let rest = &input[used..];
            let Some(end) = memchr(b'\n', rest) else {
                self.take_partial(rest)?;
                return Ok((input.len(), None));
            };
            self.take_partial(&rest[..end])?;
            used += end + 1;
            let line = std::mem::take(&mut self.line);
            if let Some(reply) = self.take_line(&line)? {
                return Ok((used, Some(reply)));
            }
        }
        Ok((used, None))
    }

    fn take_partial(&mut self, bytes: &[u8]) -> Result<(), ReplyError> {
        // The line end's LF is not kept: the line may hold one byte less than the limit.
        if self.line.len() + bytes.len() >= CLIENT_REPLY_LINE_BYTES_MAX {
            return Err(ReplyError::LineTooLong);
        }
        self.line.extend_from_slice(bytes);
        Ok(())
    }

    /// One whole line (line end removed); a reply when it was the last line.
    fn take_line(&mut self, line: &[u8]) -> Result<Option<Reply>, ReplyError> {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let code = parse_code(line)?;
        let last = match line.get(3) {
            None | Some(b' ') => true,
            Some(b'-') => false,
            Some(_) => return Err(ReplyError::InvalidSeparator),
        };
        if self.code.is_some_and(|first| first != code) {
            return Err(ReplyError::CodeMismatch);
        }
        if self.lines.len() >= CLIENT_REPLY_LINES_MAX {
            return Err(ReplyError::TooManyLines);
        }
        self.code = Some(code);
        let text = line.get(4..).unwrap_or_default();
        self.lines.push(String::from_utf8_lossy(text).into_owned());
        if !last {
            return Ok(None);
        }
        self.code = None;
        let lines = std::mem::take(&mut self.lines);
        Ok(Some(assemble(code, lines)))
    }
}

/// The three digits of a reply line: 2–5, 0–5, 0–9 (RFC 5321 §4.2.1; 1yz is not used).
fn parse_code(line: &[u8]) -> Result<u16, ReplyError> {
    let digits = line.get(..3).ok_or(ReplyError::InvalidCode)?;
    let valid =
        matches!(digits[0], b'2'..=b'5') && matches!(digits[1], b'0'..=b'5') && digits[2].is_ascii_digit();
    if !valid {
        return Err(ReplyError::InvalidCode);
    }
    Ok(digits.iter().fold(0u16, |code, d| code * 10 + u16::from(d - b'0')))
}

/// The reply: the enhanced code of the first line, when it has one whose class matches
/// the reply code (RFC 3463 §2, RFC 2034 §4), taken off every line that repeats it.
fn assemble(code: u16, mut lines: Vec<String>) -> Reply {
    let enhanced = lines.first().and_then(|first| parse_enhanced(code, first));
    if let Some((enhanced, _)) = enhanced {
        let prefix = enhanced.to_string();
        for line in &mut lines {
            if let Some(rest) = line.strip_prefix(prefix.as_str()) {
                *line = rest.trim_start_matches(' ').to_owned();
            }
        }
    }
    Reply::new(code, enhanced.map(|(e, _)| e), lines.join("\n"))
}

/// `class.subject.detail` at the start of `text`, class equal to the reply code's first
/// digit; subject and detail at most three digits each (RFC 3463 §2).
fn parse_enhanced(code: u16, text: &str) -> Option<(EnhancedCode, usize)> {
    let word = text.split(' ').next()?;
    let mut parts = word.split('.');
    let class: u8 = parse_digits(parts.next()?, 1)?.try_into().ok()?;
    let subject = parse_digits(parts.next()?, 3)?;
    let detail = parse_digits(parts.next()?, 3)?;
    if parts.next().is_some() || u16::from(class) != code / 100 {
        return None;
    }
    Some((EnhancedCode(class, subject, detail), word.len()))
}

fn parse_digits(text: &str, digits_max: usize) -> Option<u16> {
    if text.is_empty() || text.len() > digits_max || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn read_all(input: &[u8]) -> Result<Vec<Reply>, ReplyError> {
        let mut reader = ReplyReader::new();
        let mut replies = Vec::new();
        let mut at = 0;
        while at < input.len() {
            let (used, reply) = reader.feed(&input[at..])?;
            at += used;
            replies.extend(reply);
        }
        Ok(replies)
    }

    #[test]
    fn single_and_multi_line() {
        let replies =
            read_all(b"220 mx.example ESMTP\r\n250-mx.example\r\n250-PIPELINING\r\n250 SIZE 10\r\n").unwrap();
        assert_eq!(replies[0], Reply::new(220, None, "mx.example ESMTP"));
        assert_eq!(replies[1], Reply::new(250, None, "mx.example\nPIPELINING\nSIZE 10"));
    }

    #[test]
    fn enhanced_codes_are_taken_off_each_line() {
        let replies = read_all(b"550-5.1.1 no such user\r\n550 5.1.1 see the docs\r\n").unwrap();
        assert_eq!(replies[0], Reply::new(550, Some(EnhancedCode(5, 1, 1)), "no such user\nsee the docs"));
        // A class that differs from the code is text, not an enhanced code.
        let replies = read_all(b"250 5.1.1 odd\n").unwrap();
        assert_eq!(replies[0], Reply::new(250, None, "5.1.1 odd"));
    }

    #[test]
    fn bare_code_and_bare_lf() {
        assert_eq!(read_all(b"250\n").unwrap(), [Reply::new(250, None, "")]);
    }

    #[test]
    fn stops_after_each_reply() {
        let mut reader = ReplyReader::new();
        let (used, reply) = reader.feed(b"220 go ahead\r\n\x16\x03\x01").unwrap();
        assert_eq!(used, 14);
        assert_eq!(reply.unwrap().code, 220);
    }

    #[test]
    fn malformed_lines() {
        assert_eq!(read_all(b"hello\r\n"), Err(ReplyError::InvalidCode));
        assert_eq!(read_all(b"150 x\r\n"), Err(ReplyError::InvalidCode));
        assert_eq!(read_all(b"260 x\r\n"), Err(ReplyError::InvalidCode));
        assert_eq!(read_all(b"25\r\n"), Err(ReplyError::InvalidCode));
        assert_eq!(read_all(b"250x\r\n"), Err(ReplyError::InvalidSeparator));
        assert_eq!(read_all(b"250-a\r\n251 b\r\n"), Err(ReplyError::CodeMismatch));
    }

    #[test]
    fn limits() {
        let long = format!("250 {}\r\n", "x".repeat(CLIENT_REPLY_LINE_BYTES_MAX));
        assert_eq!(read_all(long.as_bytes()), Err(ReplyError::LineTooLong));
        let fits = format!("250 {}\r\n", "x".repeat(CLIENT_REPLY_LINE_BYTES_MAX - 6));
        assert!(read_all(fits.as_bytes()).is_ok());
        let many = "250-x\r\n".repeat(CLIENT_REPLY_LINES_MAX) + "250 x\r\n";
        assert_eq!(read_all(many.as_bytes()), Err(ReplyError::TooManyLines));
        let most = "250-x\r\n".repeat(CLIENT_REPLY_LINES_MAX - 1) + "250 x\r\n";
        assert!(read_all(most.as_bytes()).is_ok());
    }
}
