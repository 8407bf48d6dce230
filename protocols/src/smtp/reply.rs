//! SMTP replies and their wire form (RFC 5321 §4.2), with enhanced status codes
//! (RFC 2034, RFC 3463).
//!
//! Invariant: whatever text a [`Reply`] carries, [`Reply::write_to`] emits well-formed
//! reply lines only: a three-digit code, `-` on all but the last line, printable ASCII
//! text (RFC 5321 §4.2 `textstring`), CRLF, and at most
//! [`REPLY_LINE_BYTES_MAX`] octets per line. Caller
//! text with control characters or non-ASCII cannot break the framing.

use std::fmt;

use super::limits::REPLY_LINE_BYTES_MAX;

/// An enhanced status code `class.subject.detail` (RFC 3463 §2), e.g. `5.1.1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnhancedCode(pub u8, pub u16, pub u16);

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// One SMTP reply: a code, an optional enhanced code and text. Text containing `\n`
/// becomes a multi-line reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The basic reply code, 200..=599 (RFC 5321 §4.2.1).
    pub code: u16,
    /// The enhanced status code; `None` only for the greeting, HELO/EHLO and 354.
    pub enhanced: Option<EnhancedCode>,
    /// Human-readable text; each `\n` starts a new reply line.
    pub text: String,
}

impl Reply {
    /// Builds a reply.
    pub fn new(code: u16, enhanced: Option<EnhancedCode>, text: impl Into<String>) -> Self {
        Self { code, enhanced, text: text.into() }
    }

    /// True for 2yz (completion) and 3yz (intermediate) replies (RFC 5321 §4.2.1).
    pub fn is_positive(&self) -> bool {
        (200..400).contains(&self.code)
    }

    /// Appends the reply in wire form: `"250-a\r\n250 b\r\n"` for text `"a\nb"`.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        debug_assert!((200..=599).contains(&self.code), "reply code out of range");
        // A code outside 200..=599 would not parse at the client; 451 is the
        // least harmful stand-in (temporary, retry later).
        let code = if (200..=599).contains(&self.code) { self.code } else { 451 };
        let text = self.text.strip_suffix('\n').unwrap_or(&self.text);
        let mut lines = text.split('\n').peekable();
        while let Some(line) = lines.next() {
            let separator = if lines.peek().is_some() { b'-' } else { b' ' };
            let start = out.len();
            out.extend_from_slice(code.to_string().as_bytes());
            out.push(separator);
            if let Some(enhanced) = self.enhanced {
                out.extend_from_slice(enhanced.to_string().as_bytes());
                out.push(b' ');
            }
            let room = REPLY_LINE_BYTES_MAX.saturating_sub(out.len() - start + 2);
            let line = line.strip_suffix('\r').unwrap_or(line);
            out.extend(line.chars().take(room).map(printable_or_question_mark));
            // Drop a trailing space left by an empty text: "250 " -> "250".
            if out.last() == Some(&b' ') && line.is_empty() {
                out.pop();
            }
            out.extend_from_slice(b"\r\n");
        }
    }
}

/// RFC 5321 §4.2 `textstring` allows HT and printable ASCII only.
fn printable_or_question_mark(c: char) -> u8 {
    match u8::try_from(c) {
        Ok(b) if b == b'\t' || (0x20..0x7f).contains(&b) => b,
        _ => b'?',
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn wire(reply: &Reply) -> String {
        let mut out = Vec::new();
        reply.write_to(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn single_line_with_enhanced_code() {
        let reply = Reply::new(250, Some(EnhancedCode(2, 1, 0)), "ok");
        assert_eq!(wire(&reply), "250 2.1.0 ok\r\n");
    }

    #[test]
    fn multi_line_without_enhanced_code() {
        let reply = Reply::new(250, None, "mx.example\nPIPELINING\nSIZE 10");
        assert_eq!(wire(&reply), "250-mx.example\r\n250-PIPELINING\r\n250 SIZE 10\r\n");
    }

    #[test]
    fn multi_line_carries_enhanced_code_on_each_line() {
        let reply = Reply::new(214, Some(EnhancedCode(2, 0, 0)), "a\r\nb\n");
        assert_eq!(wire(&reply), "214-2.0.0 a\r\n214 2.0.0 b\r\n");
    }

    #[test]
    fn empty_text() {
        assert_eq!(wire(&Reply::new(250, None, "")), "250\r\n");
        let reply = Reply::new(250, Some(EnhancedCode(2, 0, 0)), "");
        assert_eq!(wire(&reply), "250 2.0.0\r\n");
    }

    #[test]
    fn control_and_non_ascii_characters_are_replaced() {
        let reply = Reply::new(550, Some(EnhancedCode(5, 0, 0)), "a\rb\0c\u{a7}d");
        assert_eq!(wire(&reply), "550 5.0.0 a?b?c?d\r\n");
    }

    #[test]
    fn long_lines_are_cut_to_the_rfc_limit() {
        let reply = Reply::new(550, Some(EnhancedCode(5, 0, 0)), "x".repeat(2000));
        let text = wire(&reply);
        assert_eq!(text.len(), REPLY_LINE_BYTES_MAX);
        assert!(text.ends_with("xx\r\n"));
    }

    #[test]
    fn positive_codes() {
        assert!(Reply::new(250, None, "").is_positive());
        assert!(Reply::new(354, None, "").is_positive());
        assert!(!Reply::new(421, None, "").is_positive());
        assert!(!Reply::new(550, None, "").is_positive());
    }
}
