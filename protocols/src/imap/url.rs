//! IMAP URLs naming a message or a part of one (RFC 5092), as CATENATE's URL parts use
//! them (RFC 4469 §3): `imap://user@host/mailbox;UIDVALIDITY=v/;UID=u/;SECTION=s/;PARTIAL=o.l`,
//! or the same from `/mailbox` on, relative to the session's own server and user.
//!
//! Only the message-part forms are accepted (a mailbox, a UID, maybe a section and a
//! partial range). [`parse_message_url`] recognizes the URLAUTH suffix (RFC 5092 §3.2)
//! and refuses it clearly rather than misreading it; [`parse_auth_url`] takes it, for
//! GENURLAUTH and URLFETCH (RFC 4467 §3): `;EXPIRE=date-time`, `;URLAUTH=access` and,
//! once authorized, `:INTERNAL:` and the MAC. [`urlauth_mac`] and [`urlauth_verify`]
//! make and check the MAC (HMAC-SHA256 over the URL up to the access identifier, keyed
//! with the mailbox's access key; RFC 4467 §7 leaves the algorithm to the server).
//! Pure functions, no IO.

use hmac::{Hmac, Mac as _};
use sha2::Sha256;

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

/// Who may fetch a URLAUTH URL (RFC 4467 §3 `access`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UrlAccess {
    /// `submit+user`: the submission server, sending for this user.
    Submit(String),
    /// `user+user`: an IMAP session logged in as this user.
    User(String),
    /// `authuser`: any logged-in IMAP session.
    AuthUser,
    /// `anonymous`: anyone (this server refuses to authorize it).
    Anonymous,
}

/// The only URLAUTH mechanism this server has (RFC 4467 §3: `INTERNAL` is the one every
/// server must support; its MAC is ours to define).
pub const URLAUTH_MECHANISM: &str = "INTERNAL";

/// A URLAUTH URL (RFC 4467 §3): a message URL with an access identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUrl {
    /// The message (always absolute: a URLAUTH URL names its user and server).
    pub message: MessageUrl,
    /// `;EXPIRE=`, Unix seconds.
    pub expire_secs: Option<i64>,
    /// `;URLAUTH=access`.
    pub access: UrlAccess,
    /// The URL up to and including the access identifier (RFC 4467 §2.4's "rump"): what
    /// the MAC covers, and what GENURLAUTH extends.
    pub rump: String,
    /// `:mechanism:mac` after the access identifier (URLFETCH's form): the mechanism,
    /// upper case, and the MAC as sent; `None` for GENURLAUTH's input.
    pub mac: Option<(String, String)>,
}

/// Parses a URLAUTH URL (see [`AuthUrl`]).
pub fn parse_auth_url(url: &str) -> Result<AuthUrl, UrlError> {
    if url.len() > URL_BYTES_MAX {
        return Err(UrlError::TooLong);
    }
    let (before, auth) = rsplit_keyword(url, ";URLAUTH=").ok_or(UrlError::Syntax("URL without ;URLAUTH="))?;
    let (access_text, mac) = match auth.split_once(':') {
        Some((access, rest)) => {
            let (mechanism, mac) = rest.split_once(':').ok_or(UrlError::Syntax("URLAUTH without a MAC"))?;
            let mechanism_ok = !mechanism.is_empty()
                && mechanism.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            let mac_ok = mac.len() >= 32 && mac.bytes().all(|b| b.is_ascii_hexdigit());
            if !mechanism_ok || !mac_ok {
                return Err(UrlError::Syntax("invalid URLAUTH mechanism or MAC"));
            }
            (access, Some((mechanism.to_ascii_uppercase(), mac.to_owned())))
        }
        None => (auth, None),
    };
    let access = parse_access(access_text)?;
    let rump = url[..before.len() + ";URLAUTH=".len() + access_text.len()].to_owned();
    let (message_text, expire_secs) = match rsplit_keyword(before, ";EXPIRE=") {
        Some((message, expire)) => {
            let secs = crate::smtp::release::parse_holduntil(expire)
                .ok_or(UrlError::Syntax("invalid ;EXPIRE= date-time"))?;
            (message, Some(secs))
        }
        None => (before, None),
    };
    let message = parse_message_url(message_text)?;
    if message.user.is_none() || message.host.is_none() {
        return Err(UrlError::Syntax("a URLAUTH URL names its user and server"));
    }
    Ok(AuthUrl { message, expire_secs, access, rump, mac })
}

/// RFC 4467 §3 `access`.
fn parse_access(text: &str) -> Result<UrlAccess, UrlError> {
    let user = |rest: &str| -> Result<String, UrlError> {
        if rest.is_empty() {
            return Err(UrlError::Syntax("access identifier without a user"));
        }
        percent_decode(rest)
    };
    if let Some(rest) = strip_prefix_ignore_case(text, "submit+") {
        return Ok(UrlAccess::Submit(user(rest)?));
    }
    if let Some(rest) = strip_prefix_ignore_case(text, "user+") {
        return Ok(UrlAccess::User(user(rest)?));
    }
    if text.eq_ignore_ascii_case("authuser") {
        return Ok(UrlAccess::AuthUser);
    }
    if text.eq_ignore_ascii_case("anonymous") {
        return Ok(UrlAccess::Anonymous);
    }
    Err(UrlError::Syntax("unknown URLAUTH access identifier"))
}

/// The MAC of a URLAUTH URL's rump: HMAC-SHA256 keyed with the mailbox's access key, in
/// lower-case hex (64 digits, above RFC 4467 §3's minimum of 32).
pub fn urlauth_mac(key: &[u8], rump: &str) -> String {
    let bytes = mac_of(key, rump).finalize().into_bytes();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `mac` (hex, any case) is the MAC of `rump` under `key`, compared in constant
/// time (the HMAC crate's `verify_slice`): a client must not learn a MAC byte by byte
/// from response timing.
pub fn urlauth_verify(key: &[u8], rump: &str, mac: &str) -> bool {
    if mac.len() != 64 {
        return false;
    }
    let mut sent = [0u8; 32];
    for (at, pair) in mac.as_bytes().chunks(2).enumerate() {
        let Some(byte) = std::str::from_utf8(pair).ok().and_then(|hex| u8::from_str_radix(hex, 16).ok())
        else {
            return false;
        };
        sent[at] = byte;
    }
    mac_of(key, rump).verify_slice(&sent).is_ok()
}

/// Who asks for a URLAUTH URL's content.
#[derive(Clone, Copy)]
pub enum UrlFetcher<'a> {
    /// An IMAP session (URLFETCH); the function says whether a user name names its
    /// logged-in account.
    Imap(&'a dyn Fn(&str) -> bool),
    /// The submission server (BURL, RFC 4468) sending for an account; the function says
    /// whether a user name names it.
    Submit(&'a dyn Fn(&str) -> bool),
}

/// Whether `fetcher` may have the content of `url` at `now_secs`, with `key` the access
/// key of the URL's mailbox (RFC 4467 §6-7): the URL carries our mechanism and a MAC that
/// verifies (in constant time), it has not expired, and its access identifier names the
/// fetcher: `authuser` any IMAP user, `user+name` the IMAP user `name`, `submit+name`
/// only the submission server sending for `name`, `anonymous` nobody (never issued).
pub fn urlauth_allows(url: &AuthUrl, key: &[u8], now_secs: i64, fetcher: UrlFetcher<'_>) -> bool {
    let Some((mechanism, mac)) = &url.mac else { return false };
    if mechanism != URLAUTH_MECHANISM || !urlauth_verify(key, &url.rump, mac) {
        return false;
    }
    if url.expire_secs.is_some_and(|expire| expire <= now_secs) {
        return false;
    }
    match (&url.access, fetcher) {
        (UrlAccess::AuthUser, UrlFetcher::Imap(_)) => true,
        (UrlAccess::User(name), UrlFetcher::Imap(is_user)) => is_user(name),
        (UrlAccess::Submit(name), UrlFetcher::Submit(is_user)) => is_user(name),
        _ => false,
    }
}

fn mac_of(key: &[u8], rump: &str) -> Hmac<Sha256> {
    // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
    let mut mac = <Hmac<Sha256> as hmac::Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(rump.as_bytes());
    mac
}

/// Splits at the last `keyword` (ASCII case-insensitive): before it, and after it.
fn rsplit_keyword<'a>(text: &'a str, keyword: &str) -> Option<(&'a str, &'a str)> {
    let upper = text.to_ascii_uppercase();
    let at = upper.rfind(keyword)?;
    Some((&text[..at], &text[at + keyword.len()..]))
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

    #[test]
    fn urlauth_urls() {
        let url = parse_auth_url(
            "imap://joe@example.com/INBOX;UIDVALIDITY=9/;UID=20/;SECTION=1.2;EXPIRE=2026-12-31T23:59:59Z;URLAUTH=submit+fred%40example.com",
        )
        .unwrap();
        assert_eq!(url.message.uid, 20);
        assert_eq!(url.message.section, Some(Section::Part(vec![1, 2], None)));
        assert_eq!(url.expire_secs, Some(1_798_761_599));
        assert_eq!(url.access, UrlAccess::Submit("fred@example.com".to_owned()));
        assert!(url.rump.ends_with(";URLAUTH=submit+fred%40example.com"));
        assert_eq!(url.mac, None);
        let mac = urlauth_mac(b"key", &url.rump);
        assert_eq!(mac.len(), 64);
        let full = format!("{}:internal:{mac}", url.rump);
        let fetched = parse_auth_url(&full).unwrap();
        assert_eq!(fetched.rump, url.rump);
        assert_eq!(fetched.mac, Some(("INTERNAL".to_owned(), mac.clone())));
        assert!(urlauth_verify(b"key", &fetched.rump, &mac));
        assert!(urlauth_verify(b"key", &fetched.rump, &mac.to_ascii_uppercase()));
        assert!(!urlauth_verify(b"other", &fetched.rump, &mac));
        let mut tampered = mac.clone().into_bytes();
        tampered[10] = if tampered[10] == b'0' { b'1' } else { b'0' };
        assert!(!urlauth_verify(b"key", &fetched.rump, std::str::from_utf8(&tampered).unwrap()));
        assert!(!urlauth_verify(b"key", &fetched.rump, &mac[..62]));
        let fred = |name: &str| name == "fred@example.com";
        let before = 1_798_761_599 - 1;
        assert!(urlauth_allows(&fetched, b"key", before, UrlFetcher::Submit(&fred)));
        assert!(!urlauth_allows(&fetched, b"key", before + 1, UrlFetcher::Submit(&fred)));
        assert!(!urlauth_allows(&fetched, b"key", before, UrlFetcher::Imap(&fred)));
        assert!(!urlauth_allows(&fetched, b"other", before, UrlFetcher::Submit(&fred)));
        assert!(!urlauth_allows(&url, b"key", before, UrlFetcher::Submit(&fred)));
        let url = parse_auth_url("imap://joe@h/INBOX/;UID=1;URLAUTH=AUTHUSER").unwrap();
        assert_eq!((url.access, url.expire_secs), (UrlAccess::AuthUser, None));
        let url = parse_auth_url("imap://joe@h/INBOX/;UID=1;URLAUTH=user+joe").unwrap();
        assert_eq!(url.access, UrlAccess::User("joe".to_owned()));
    }

    #[test]
    fn bad_urlauth_urls() {
        for bad in [
            "imap://joe@h/INBOX/;UID=1",
            "/INBOX/;UID=1;URLAUTH=authuser",
            "imap://h/INBOX/;UID=1;URLAUTH=authuser",
            "imap://joe@h/INBOX/;UID=1;URLAUTH=someone",
            "imap://joe@h/INBOX/;UID=1;URLAUTH=user+",
            "imap://joe@h/INBOX/;UID=1;URLAUTH=authuser:INTERNAL",
            "imap://joe@h/INBOX/;UID=1;URLAUTH=authuser:INTERNAL:abc",
            "imap://joe@h/INBOX/;UID=1;URLAUTH=authuser:INTERNAL:zz000000000000000000000000000000",
            "imap://joe@h/INBOX/;UID=1;EXPIRE=tomorrow;URLAUTH=authuser",
        ] {
            assert!(parse_auth_url(bad).is_err(), "{bad:?}");
        }
    }
}
