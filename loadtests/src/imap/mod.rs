//! A minimal, strict IMAP client (RFC 9051, RFC 3501) for load generation: the response
//! parser ([`parse`]), command text helpers here, and a blocking connection
//! ([`client`]) used by the smtp verification, imap and bigbox scenarios. The idle
//! scenario drives the same parser from its own event loop.

pub(crate) mod client;
pub(crate) mod parse;

pub(crate) use client::{ImapConnection, ImapError};
pub(crate) use parse::{Untagged, Value};

/// Longest string we send as a quoted string; longer ones would need literals, which the
/// commands we send never do (mailbox names and credentials are short).
pub(crate) const QUOTED_BYTES_MAX: usize = 1000;

/// A string for a command as an IMAP quoted string (RFC 9051 §4.3), `None` if it cannot be
/// one: CR, LF and NUL are not allowed in quoted strings, nor (without UTF8=ACCEPT) 8-bit
/// bytes, and long strings should be literals.
pub(crate) fn quote(text: &str) -> Option<String> {
    if text.len() > QUOTED_BYTES_MAX
        || !text.bytes().all(|b| (0x01..0x80).contains(&b) && b != b'\r' && b != b'\n')
    {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    Some(out)
}

/// The LOGIN command arguments (`"user" "password"`), `None` if either cannot be quoted.
pub(crate) fn login_arguments(user: &str, password: &str) -> Option<String> {
    Some(format!("{} {}", quote(user)?, quote(password)?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn quoting_escapes_and_refuses() {
        assert_eq!(quote("INBOX").unwrap(), "\"INBOX\"");
        assert_eq!(quote(r#"a"b\c"#).unwrap(), r#""a\"b\\c""#);
        assert_eq!(quote("").unwrap(), "\"\"");
        assert!(quote("a\r\nb").is_none());
        assert!(quote("Entwürfe").is_none());
        assert!(quote(&"x".repeat(QUOTED_BYTES_MAX + 1)).is_none());
        assert_eq!(login_arguments("mox@localhost", "p w").unwrap(), "\"mox@localhost\" \"p w\"");
    }
}
