//! IMAP URLs naming a message or a part of one (RFC 5092), as CATENATE's URL parts use
//! them (RFC 4469 §3): `imap://user@host/mailbox;UIDVALIDITY=v/;UID=u/;SECTION=s/;PARTIAL=o.l`,
//! or the same from `/mailbox` on, relative to the session's own server and user.
//!
//! Only the message-part forms are accepted (a mailbox, a UID, maybe a section and a
//! partial range); the URLAUTH suffix (RFC 5092 §3.2) is recognized so that such a URL
//! is refused clearly rather than misread. Pure functions, no IO.

use super::parser::parse_url_section;
use super::types::{Partial, Section};

/// Longest URL taken from a client: RFC 5092 sets no limit; a URL names a mailbox (at
/// most a command line long), a UID, a section and a range, so 2,000 octets is ample,
/// and a longer one is refused before any decoding work.
pub const URL_BYTES_MAX: usize = 2000;

/// A URL naming a message or one of its sections (RFC 5092 `imessagepart`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageUrl {
    /// The user named in an absolute URL (`imap://user@host/`), decoded; `None` for a
    /// URL relative to the session.
    pub user: Option<String>,
    /// The host of an absolute URL, lower case; `None` for a relative one.
    pub host: Option<String>,
    /// The mailbox, decoded from %-escaped UTF-8.
    pub mailbox: String,
    /// `;UIDVALIDITY=`: must match the mailbox's when given.
    pub uidvalidity: Option<u32>,
    /// `;UID=`.
    pub uid: u32,
    /// `/;SECTION=`: `None` for the whole message.
    pub section: Option<Section>,
    /// `/;PARTIAL=offset[.length]`; a missing length runs to the end.
    pub partial: Option<Partial>,
}

/// Why a URL is refused (all of them answer `NO [BADURL]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlError {
    /// Longer than [`URL_BYTES_MAX`].
    TooLong,
    /// Not the syntax of RFC 5092 `imessagepart`.
    Syntax(&'static str),
    /// A form this server does not take from clients here (URLAUTH, a relative path).
    Unsupported(&'static str),
}

impl UrlError {
    /// The text for the client.
    pub fn text(&self) -> &'static str {
        match self {
            UrlError::TooLong => "URL too long",
            UrlError::Syntax(text) | UrlError::Unsupported(text) => text,
        }
    }
}

/// Parses a message URL (see the module doc).
pub fn parse_message_url(url: &str) -> Result<MessageUrl, UrlError> {
    if url.len() > URL_BYTES_MAX {
        return Err(UrlError::TooLong);
    }
    let (user, host, path) = match strip_prefix_ignore_case(url, "imap://") {
        Some(rest) => {
            let slash = rest.find('/').ok_or(UrlError::Syntax("URL without a path"))?;
            let (user, host) = parse_server(&rest[..slash])?;
            (user, Some(host), &rest[slash..])
        }
        None => (None, None, url),
    };
    let path = path.strip_prefix('/').ok_or(UrlError::Unsupported("relative URLs need a mailbox"))?;
    let (mailbox_ref, rest) = split_keyword(path, "/;UID=").ok_or(UrlError::Syntax("URL without ;UID="))?;
    let (mailbox, uidvalidity) = match split_keyword(mailbox_ref, ";UIDVALIDITY=") {
        Some((mailbox, number)) => (mailbox, Some(nz_number(number)?)),
        None => (mailbox_ref, None),
    };
    if mailbox.is_empty() {
        return Err(UrlError::Syntax("URL without a mailbox"));
    }
    let mailbox = percent_decode(mailbox)?;
    let (uid, rest) = take_number(rest);
    let uid = nz_number(uid)?;
    let (section, rest) = match strip_prefix_ignore_case(rest, "/;SECTION=") {
        Some(after) => {
            let end = after.find(['/', ';']).unwrap_or(after.len());
            let text = percent_decode(&after[..end])?;
            let section =
                parse_url_section(text.as_bytes()).map_err(|_| UrlError::Syntax("invalid ;SECTION="))?;
            (Some(section), &after[end..])
        }
        None => (None, rest),
    };
    let (partial, rest) = match strip_prefix_ignore_case(rest, "/;PARTIAL=") {
        Some(after) => parse_partial(after)?,
        None => (None, rest),
    };
    if starts_with_ignore_case(rest, ";EXPIRE=") || starts_with_ignore_case(rest, ";URLAUTH=") {
        return Err(UrlError::Unsupported("URLAUTH URLs are not taken here"));
    }
    if !rest.is_empty() {
        return Err(UrlError::Syntax("unexpected text after the URL"));
    }
    Ok(MessageUrl { user, host, mailbox, uidvalidity, uid, section, partial })
}

/// `[iuserinfo "@"] host [":" port]`: the user (without `;AUTH=`) and the host.
fn parse_server(server: &str) -> Result<(Option<String>, String), UrlError> {
    let (userinfo, hostport) = match server.rfind('@') {
        Some(at) => (Some(&server[..at]), &server[at + 1..]),
        None => (None, server),
    };
    // An IPv6 literal is bracketed and has colons of its own.
    let split_at = match hostport.rfind(']') {
        Some(close) if hostport.starts_with('[') => close + 1,
        _ => hostport.rfind(':').unwrap_or(hostport.len()),
    };
    let (host, port) = hostport.split_at(split_at);
    if let Some(port) = port.strip_prefix(':') {
        if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
            return Err(UrlError::Syntax("invalid port"));
        }
    } else if !port.is_empty() {
        return Err(UrlError::Syntax("invalid host"));
    }
    if host.is_empty() {
        return Err(UrlError::Syntax("URL without a host"));
    }
    let user = match userinfo {
        Some(info) => {
            let user = match split_keyword(info, ";AUTH=") {
                Some((user, _)) => user,
                None => info,
            };
            (!user.is_empty()).then(|| percent_decode(user)).transpose()?
        }
        None => None,
    };
    Ok((user, host.to_ascii_lowercase()))
}

/// `;PARTIAL=offset[.length]` and what follows it.
fn parse_partial(text: &str) -> Result<(Option<Partial>, &str), UrlError> {
    let (offset, rest) = take_number(text);
    let offset = number(offset)?;
    let (length, rest) = match rest.strip_prefix('.') {
        Some(after) => {
            let (length, rest) = take_number(after);
            (nz_number(length)?, rest)
        }
        None => (u32::MAX, rest),
    };
    Ok((Some(Partial { offset, length }), rest))
}

/// The leading digits of `text` and the rest.
fn take_number(text: &str) -> (&str, &str) {
    let end = text.bytes().position(|b| !b.is_ascii_digit()).unwrap_or(text.len());
    text.split_at(end)
}

fn number(digits: &str) -> Result<u32, UrlError> {
    if digits.is_empty() || digits.len() > 10 {
        return Err(UrlError::Syntax("invalid number"));
    }
    digits.parse().map_err(|_| UrlError::Syntax("invalid number"))
}

fn nz_number(digits: &str) -> Result<u32, UrlError> {
    if digits.starts_with('0') {
        return Err(UrlError::Syntax("number must not be 0 or start with 0"));
    }
    number(digits)
}

/// Splits at the first `keyword` (ASCII case-insensitive): before it, and after it.
fn split_keyword<'a>(text: &'a str, keyword: &str) -> Option<(&'a str, &'a str)> {
    let upper = text.to_ascii_uppercase();
    let at = upper.find(keyword)?;
    Some((&text[..at], &text[at + keyword.len()..]))
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.len() >= prefix.len() && text.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    starts_with_ignore_case(text, prefix).then(|| &text[prefix.len()..])
}

/// `%XX` escapes (RFC 5092 §4: mailbox names and users are %-escaped UTF-8).
fn percent_decode(text: &str) -> Result<String, UrlError> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(UrlError::Syntax("truncated % escape"))?;
            let hex = std::str::from_utf8(hex).map_err(|_| UrlError::Syntax("invalid % escape"))?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| UrlError::Syntax("invalid % escape"))?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    let decoded = String::from_utf8(out).map_err(|_| UrlError::Syntax("escaped bytes are not UTF-8"))?;
    if decoded.chars().any(char::is_control) {
        return Err(UrlError::Syntax("control character in URL"));
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::imap::types::SectionText;

    #[test]
    fn relative_message_urls() {
        let url = parse_message_url("/INBOX;UIDVALIDITY=385759045/;UID=20").unwrap();
        assert_eq!(url.mailbox, "INBOX");
        assert_eq!((url.uidvalidity, url.uid, url.user, url.host), (Some(385759045), 20, None, None));
        let url = parse_message_url("/Drafts/2026%20%C3%A9t%C3%A9/;uid=7/;section=1.2.MIME/;partial=10.20")
            .unwrap();
        assert_eq!(url.mailbox, "Drafts/2026 été");
        assert_eq!(url.section, Some(Section::Part(vec![1, 2], Some(SectionText::Mime))));
        assert_eq!(url.partial, Some(Partial { offset: 10, length: 20 }));
        let url = parse_message_url("/INBOX/;UID=3/;SECTION=HEADER/;PARTIAL=5").unwrap();
        assert_eq!(url.section, Some(Section::Text(SectionText::Header)));
        assert_eq!(url.partial, Some(Partial { offset: 5, length: u32::MAX }));
    }

    #[test]
    fn absolute_message_urls() {
        let url =
            parse_message_url("imap://fred%40example.org;AUTH=*@Mail.Example.org:143/INBOX/;UID=4").unwrap();
        assert_eq!(url.user.as_deref(), Some("fred@example.org"));
        assert_eq!(url.host.as_deref(), Some("mail.example.org"));
        assert_eq!(url.uid, 4);
        let url = parse_message_url("IMAP://[::1]/INBOX/;UID=4").unwrap();
        assert_eq!((url.user, url.host.as_deref()), (None, Some("[::1]")));
    }

    #[test]
    fn bad_urls() {
        for bad in [
            "",
            "INBOX/;UID=1",
            ";UID=1",
            "/;UID=1",
            "/INBOX",
            "/INBOX/;UID=0",
            "/INBOX/;UID=x",
            "/INBOX;UIDVALIDITY=0/;UID=1",
            "/INBOX/;UID=1/;SECTION=1.FOO",
            "/INBOX/;UID=1/;PARTIAL=1.0",
            "/INBOX/;UID=1;URLAUTH=anonymous",
            "/INBOX/;UID=1 trailing",
            "/IN%ZZBOX/;UID=1",
            "/IN%0ABOX/;UID=1",
            "imap://host",
            "imap://user@:143/INBOX/;UID=1",
            "/INBOX/;UID=99999999999",
        ] {
            assert!(parse_message_url(bad).is_err(), "{bad:?}");
        }
        assert_eq!(parse_message_url(&"/x".repeat(1001)), Err(UrlError::TooLong));
    }
}
