//! SMTP paths and mailboxes (RFC 5321 §4.1.2), with UTF-8 addresses (RFC 6531 §3.3).
//!
//! What is accepted:
//! - local parts as Dot-string or Quoted-string; the stored local part is unquoted
//!   (quoted-pairs resolved) and [`Mailbox`]'s `Display` re-quotes it when needed;
//! - domains as names (LDH labels, or labels with UTF-8 as RFC 6531 §3.3 allows) or
//!   address literals `[192.0.2.1]` and `[IPv6:2001:db8::1]`; General-address-literal
//!   tags are refused (nothing could deliver to them);
//! - source routes `<@a,@b:user@c>` are parsed and ignored (RFC 5321 §4.1.1.3, appendix C);
//! - `<>` as a reverse path, bare `<Postmaster>` (any case) as a forward path (§4.5.1).
//!
//! Non-ASCII is parsed here but *permitted* only by the session, which knows whether the
//! transaction uses SMTPUTF8 (RFC 6531 §3.4); see [`Mailbox::is_ascii`].
//! The parser is a single forward scan without recursion; input is bounded by the command
//! line limit, local parts by [`LOCALPART_BYTES_MAX`] and domains by
//! [`DOMAIN_BYTES_MAX`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::limits::{DOMAIN_BYTES_MAX, DOMAIN_LABEL_BYTES_MAX, LOCALPART_BYTES_MAX};

/// Why an address did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AddressError {
    /// The path is not enclosed in `<` and `>`.
    #[error("path must be enclosed in <>")]
    MissingAngleBrackets,
    /// `<>` where a mailbox is required (forward paths).
    #[error("null path not allowed here")]
    NullPathNotAllowed,
    /// The local part is empty or contains characters not allowed unquoted.
    #[error("invalid local part")]
    InvalidLocalpart,
    /// The local part is longer than RFC 5321 §4.5.3.1.1 allows.
    #[error("local part longer than 64 octets")]
    LocalpartTooLong,
    /// No `@domain` after the local part.
    #[error("missing @domain")]
    MissingDomain,
    /// The domain is not a valid name.
    #[error("invalid domain")]
    InvalidDomain,
    /// The domain is longer than DNS allows.
    #[error("domain too long")]
    DomainTooLong,
    /// The address literal is not an IPv4 or IPv6 address.
    #[error("invalid address literal")]
    InvalidAddressLiteral,
    /// The source route (`@a,@b:`) is malformed.
    #[error("invalid source route")]
    InvalidSourceRoute,
    /// Characters follow where the address should have ended.
    #[error("unexpected characters after address")]
    TrailingCharacters,
}

/// A domain as the client wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Domain {
    /// A domain name, case as given (compare case-insensitively).
    Name(String),
    /// An address literal, `[192.0.2.1]` or `[IPv6:2001:db8::1]`.
    Literal(IpAddr),
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Name(name) => f.write_str(name),
            Self::Literal(IpAddr::V4(ip)) => write!(f, "[{ip}]"),
            Self::Literal(IpAddr::V6(ip)) => write!(f, "[IPv6:{ip}]"),
        }
    }
}

/// A mailbox `localpart@domain` (RFC 5321 §4.1.2 `Mailbox`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mailbox {
    /// The local part, unquoted: `"a b"@x` is stored as `a b`. Case as given.
    pub localpart: String,
    /// The domain.
    pub domain: Domain,
}

impl Mailbox {
    /// Parses a bare mailbox (no angle brackets), e.g. `user@example.org`.
    pub fn parse(text: &str) -> Result<Self, AddressError> {
        let mut cursor = Cursor::new(text);
        let mailbox = parse_mailbox(&mut cursor)?;
        if !cursor.at_end() {
            return Err(AddressError::TrailingCharacters);
        }
        Ok(mailbox)
    }

    /// True when local part and domain are ASCII; otherwise the address needs SMTPUTF8
    /// (RFC 6531 §3.4).
    pub fn is_ascii(&self) -> bool {
        self.localpart.is_ascii()
            && match &self.domain {
                Domain::Name(name) => name.is_ascii(),
                Domain::Literal(_) => true,
            }
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if is_dot_string(&self.localpart) {
            f.write_str(&self.localpart)?;
        } else {
            f.write_str("\"")?;
            for c in self.localpart.chars() {
                if c == '"' || c == '\\' {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str("\"")?;
        }
        write!(f, "@{}", self.domain)
    }
}

/// The argument of MAIL FROM (RFC 5321 §4.1.1.2 `Reverse-path`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReversePath {
    /// `<>`: bounces and other mail that must not cause a bounce (RFC 5321 §4.5.5).
    Null,
    /// A sender mailbox.
    Mailbox(Mailbox),
}

impl fmt::Display for ReversePath {
    /// The address without angle brackets; empty for the null path.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => Ok(()),
            Self::Mailbox(mailbox) => mailbox.fmt(f),
        }
    }
}

/// The argument of RCPT TO (RFC 5321 §4.1.1.3 `Forward-path`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ForwardPath {
    /// Bare `<Postmaster>`, which every server must accept (RFC 5321 §4.5.1).
    Postmaster,
    /// A recipient mailbox.
    Mailbox(Mailbox),
}

impl ForwardPath {
    /// True unless the mailbox needs SMTPUTF8 (RFC 6531 §3.4).
    pub fn is_ascii(&self) -> bool {
        match self {
            Self::Postmaster => true,
            Self::Mailbox(mailbox) => mailbox.is_ascii(),
        }
    }
}

impl fmt::Display for ForwardPath {
    /// The address without angle brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Postmaster => f.write_str("Postmaster"),
            Self::Mailbox(mailbox) => mailbox.fmt(f),
        }
    }
}

/// Parses `<...>` at the start of `text` as a reverse path; returns it and the rest.
pub(crate) fn parse_reverse_path(text: &str) -> Result<(ReversePath, &str), AddressError> {
    if let Some(rest) = text.strip_prefix("<>") {
        return Ok((ReversePath::Null, rest));
    }
    let (mailbox, rest) = parse_bracketed(text)?;
    Ok((ReversePath::Mailbox(mailbox), rest))
}

/// Parses `<...>` at the start of `text` as a forward path; returns it and the rest.
pub(crate) fn parse_forward_path(text: &str) -> Result<(ForwardPath, &str), AddressError> {
    if text.starts_with("<>") {
        return Err(AddressError::NullPathNotAllowed);
    }
    // RFC 5321 §4.5.1: "Postmaster" without a domain, matched without regard to case.
    if let Some(inner) = text.get(..12)
        && inner.eq_ignore_ascii_case("<postmaster>")
    {
        return Ok((ForwardPath::Postmaster, &text[12..]));
    }
    let (mailbox, rest) = parse_bracketed(text)?;
    Ok((ForwardPath::Mailbox(mailbox), rest))
}

/// `"<" [ A-d-l ":" ] Mailbox ">"`, returning the rest after `>`.
fn parse_bracketed(text: &str) -> Result<(Mailbox, &str), AddressError> {
    let mut cursor = Cursor::new(text);
    if !cursor.eat(b'<') {
        return Err(AddressError::MissingAngleBrackets);
    }
    if cursor.peek() == Some(b'@') {
        skip_source_route(&mut cursor)?;
    }
    let mailbox = parse_mailbox(&mut cursor)?;
    if !cursor.eat(b'>') {
        return Err(if cursor.at_end() {
            AddressError::MissingAngleBrackets
        } else {
            AddressError::TrailingCharacters
        });
    }
    Ok((mailbox, cursor.rest()))
}

/// RFC 5321 §4.1.2 `A-d-l = At-domain *( "," At-domain )` then `":"`. The route is
/// checked for syntax and dropped: §4.1.1.3 says servers SHOULD ignore it.
fn skip_source_route(cursor: &mut Cursor<'_>) -> Result<(), AddressError> {
    loop {
        if !cursor.eat(b'@') {
            return Err(AddressError::InvalidSourceRoute);
        }
        parse_domain_name(cursor).map_err(|_| AddressError::InvalidSourceRoute)?;
        if cursor.eat(b':') {
            return Ok(());
        }
        if !cursor.eat(b',') {
            return Err(AddressError::InvalidSourceRoute);
        }
    }
}

/// `Mailbox = Local-part "@" ( Domain / address-literal )`.
fn parse_mailbox(cursor: &mut Cursor<'_>) -> Result<Mailbox, AddressError> {
    let start = cursor.pos;
    let localpart =
        if cursor.peek() == Some(b'"') { parse_quoted_string(cursor)? } else { parse_dot_string(cursor)? };
    // RFC 5321 §4.5.3.1.1: at most 64 octets, counted as sent (quotes included).
    if cursor.pos - start > LOCALPART_BYTES_MAX {
        return Err(AddressError::LocalpartTooLong);
    }
    if !cursor.eat(b'@') {
        return Err(if cursor.at_end() || cursor.peek() == Some(b'>') {
            AddressError::MissingDomain
        } else {
            AddressError::InvalidLocalpart
        });
    }
    let domain = if cursor.peek() == Some(b'[') {
        Domain::Literal(parse_address_literal(cursor)?)
    } else {
        Domain::Name(parse_domain_name(cursor)?)
    };
    Ok(Mailbox { localpart, domain })
}

/// `Dot-string = Atom *("." Atom)`, atext extended with UTF-8 (RFC 6531 §3.3).
fn parse_dot_string(cursor: &mut Cursor<'_>) -> Result<String, AddressError> {
    let start = cursor.pos;
    cursor.skip_while(|b| is_atext(b) || b == b'.');
    let text = &cursor.text[start..cursor.pos];
    if !is_dot_string(text) {
        return Err(AddressError::InvalidLocalpart);
    }
    Ok(text.to_owned())
}

/// `Quoted-string = DQUOTE *QcontentSMTP DQUOTE`; returns the content unquoted.
fn parse_quoted_string(cursor: &mut Cursor<'_>) -> Result<String, AddressError> {
    let mut content = String::new();
    if !cursor.eat(b'"') {
        return Err(AddressError::InvalidLocalpart);
    }
    loop {
        let start = cursor.pos;
        cursor.skip_while(is_qtext);
        content.push_str(&cursor.text[start..cursor.pos]);
        match cursor.next_byte() {
            Some(b'"') => return Ok(content),
            // quoted-pairSMTP = %d92 %d32-126
            Some(b'\\') => match cursor.next_byte() {
                Some(b) if (32..=126).contains(&b) => content.push(char::from(b)),
                _ => return Err(AddressError::InvalidLocalpart),
            },
            _ => return Err(AddressError::InvalidLocalpart),
        }
    }
}

/// `Domain = sub-domain *("." sub-domain)`; labels are LDH (RFC 5321 §4.1.2) or contain
/// UTF-8 (U-labels, RFC 6531 §3.3; their IDNA validity is not checked here).
fn parse_domain_name(cursor: &mut Cursor<'_>) -> Result<String, AddressError> {
    let start = cursor.pos;
    cursor.skip_while(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b >= 0x80);
    let name = &cursor.text[start..cursor.pos];
    if name.len() > DOMAIN_BYTES_MAX {
        return Err(AddressError::DomainTooLong);
    }
    if name.split('.').all(is_valid_label) { Ok(name.to_owned()) } else { Err(AddressError::InvalidDomain) }
}

/// `sub-domain = Let-dig [Ldh-str]`: no empty label, no hyphen at either end.
fn is_valid_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if *first == b'-' || *last == b'-' {
        return false;
    }
    // An A-label's length is unknown for a U-label without IDNA; only ASCII is checked.
    !label.is_ascii() || label.len() <= DOMAIN_LABEL_BYTES_MAX
}

/// `address-literal = "[" ( IPv4-address-literal / IPv6-address-literal ) "]"`.
fn parse_address_literal(cursor: &mut Cursor<'_>) -> Result<IpAddr, AddressError> {
    if !cursor.eat(b'[') {
        return Err(AddressError::InvalidAddressLiteral);
    }
    let start = cursor.pos;
    cursor.skip_while(|b| b != b']' && b != b'>');
    let inner = &cursor.text[start..cursor.pos];
    if !cursor.eat(b']') {
        return Err(AddressError::InvalidAddressLiteral);
    }
    parse_literal_address(inner).ok_or(AddressError::InvalidAddressLiteral)
}

/// The inside of an address literal: dotted IPv4 or `IPv6:` followed by an IPv6 address
/// (RFC 5321 §4.1.3; ABNF strings like "IPv6:" match without regard to case).
pub(crate) fn parse_literal_address(inner: &str) -> Option<IpAddr> {
    match inner.get(..5) {
        Some(tag) if tag.eq_ignore_ascii_case("IPv6:") => inner[5..].parse::<Ipv6Addr>().ok().map(IpAddr::V6),
        _ => inner.parse::<Ipv4Addr>().ok().map(IpAddr::V4),
    }
}

/// RFC 5322 §3.2.3 atext, plus UTF-8 bytes (RFC 6531 §3.3 `UTF8-non-ascii`).
fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b) || b >= 0x80
}

/// RFC 5321 §4.1.2 `qtextSMTP = %d32-33 / %d35-91 / %d93-126`, plus UTF-8 (RFC 6531).
fn is_qtext(b: u8) -> bool {
    matches!(b, 32..=33 | 35..=91 | 93..=126) || b >= 0x80
}

/// True when `text` is a valid Dot-string and so needs no quotes.
fn is_dot_string(text: &str) -> bool {
    !text.is_empty() && text.split('.').all(|atom| !atom.is_empty() && atom.bytes().all(is_atext))
}

/// A byte position in a `&str`. It only stops at ASCII bytes, so every slice it takes
/// lies on UTF-8 character boundaries.
struct Cursor<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(text: &'a str) -> Self {
        Self { text, pos: 0 }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn next_byte(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.pos += 1;
        Some(b)
    }

    fn eat(&mut self, wanted: u8) -> bool {
        debug_assert!(wanted.is_ascii());
        if self.peek() == Some(wanted) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Skips bytes matching `keep`; `keep` must accept either all or none of the bytes
    /// >= 0x80 so the cursor never stops inside a UTF-8 sequence.
    fn skip_while(&mut self, keep: impl Fn(u8) -> bool) {
        let bytes = self.text.as_bytes();
        while self.pos < bytes.len() && keep(bytes[self.pos]) {
            self.pos += 1;
        }
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn mailbox(local: &str, domain: &str) -> Mailbox {
        Mailbox { localpart: local.to_owned(), domain: Domain::Name(domain.to_owned()) }
    }

    #[test]
    fn plain_mailbox() {
        let (path, rest) = parse_forward_path("<User.Name+tag@Example.ORG> SIZE=1").unwrap();
        assert_eq!(path, ForwardPath::Mailbox(mailbox("User.Name+tag", "Example.ORG")));
        assert_eq!(rest, " SIZE=1");
        assert_eq!(path.to_string(), "User.Name+tag@Example.ORG");
    }

    #[test]
    fn null_reverse_path_and_not_forward() {
        assert_eq!(parse_reverse_path("<>").unwrap(), (ReversePath::Null, ""));
        assert_eq!(ReversePath::Null.to_string(), "");
        assert_eq!(parse_forward_path("<>"), Err(AddressError::NullPathNotAllowed));
    }

    #[test]
    fn postmaster_any_case() {
        for text in ["<Postmaster>", "<postmaster>", "<POSTMASTER>"] {
            assert_eq!(parse_forward_path(text).unwrap().0, ForwardPath::Postmaster);
        }
        // With a domain it is an ordinary mailbox.
        let (path, _) = parse_forward_path("<postmaster@example.org>").unwrap();
        assert_eq!(path, ForwardPath::Mailbox(mailbox("postmaster", "example.org")));
        // Not as a reverse path.
        assert!(parse_reverse_path("<Postmaster>").is_err());
    }

    #[test]
    fn quoted_localpart_is_unquoted_and_requoted() {
        let (path, _) = parse_reverse_path(r#"<"john \"q\" doe"@example.org>"#).unwrap();
        let ReversePath::Mailbox(m) = &path else { panic!("expected mailbox") };
        assert_eq!(m.localpart, r#"john "q" doe"#);
        assert_eq!(path.to_string(), r#""john \"q\" doe"@example.org"#);
        // Quoting that was not needed is dropped.
        let (path, _) = parse_forward_path(r#"<"plain"@example.org>"#).unwrap();
        assert_eq!(path.to_string(), "plain@example.org");
        // A quoted '>' does not end the path.
        let (path, rest) = parse_forward_path(r#"<"a>b"@x.example> X"#).unwrap();
        assert_eq!(path.to_string(), r#""a>b"@x.example"#);
        assert_eq!(rest, " X");
        // Empty quoted local part.
        let (path, _) = parse_forward_path(r#"<""@x.example>"#).unwrap();
        assert_eq!(path.to_string(), r#"""@x.example"#);
    }

    #[test]
    fn address_literals() {
        let (path, _) = parse_forward_path("<a@[192.0.2.1]>").unwrap();
        assert_eq!(path.to_string(), "a@[192.0.2.1]");
        let (path, _) = parse_forward_path("<a@[ipv6:2001:DB8::1]>").unwrap();
        assert_eq!(path.to_string(), "a@[IPv6:2001:db8::1]");
        for bad in
            ["<a@[192.0.2]>", "<a@[300.0.2.1]>", "<a@[2001:db8::1]>", "<a@[x-tag:foo]>", "<a@[192.0.2.1>"]
        {
            assert_eq!(parse_forward_path(bad), Err(AddressError::InvalidAddressLiteral), "{bad}");
        }
    }

    #[test]
    fn source_route_is_ignored() {
        let (path, _) = parse_forward_path("<@a.example,@b.example:u@c.example>").unwrap();
        assert_eq!(path, ForwardPath::Mailbox(mailbox("u", "c.example")));
        for bad in ["<@a.example u@c.example>", "<@:u@c>", "<@a,b:u@c>"] {
            assert_eq!(parse_forward_path(bad), Err(AddressError::InvalidSourceRoute), "{bad}");
        }
    }

    #[test]
    fn utf8_parses_and_is_flagged() {
        let (path, _) = parse_forward_path("<jöran@bücher.example>").unwrap();
        assert!(!path.is_ascii());
        assert_eq!(path.to_string(), "jöran@bücher.example");
        let (path, _) = parse_forward_path("<a@b.example>").unwrap();
        assert!(path.is_ascii());
    }

    #[test]
    fn syntax_errors() {
        let cases = [
            ("a@b", AddressError::MissingAngleBrackets),
            ("<a@b", AddressError::MissingAngleBrackets),
            ("<a@b c>", AddressError::TrailingCharacters),
            ("<user>", AddressError::MissingDomain),
            ("<@>", AddressError::InvalidSourceRoute),
            ("<.a@b>", AddressError::InvalidLocalpart),
            ("<a.@b>", AddressError::InvalidLocalpart),
            ("<a..b@c>", AddressError::InvalidLocalpart),
            ("<a b@c>", AddressError::InvalidLocalpart),
            ("<\"a@b>", AddressError::InvalidLocalpart),
            ("<\"a\\\u{1}\"@b>", AddressError::InvalidLocalpart),
            ("<a@-b.example>", AddressError::InvalidDomain),
            ("<a@b-.example>", AddressError::InvalidDomain),
            ("<a@b..example>", AddressError::InvalidDomain),
            ("<a@example.>", AddressError::InvalidDomain),
            ("<a@>", AddressError::InvalidDomain),
            ("<a@b_c.example>", AddressError::TrailingCharacters),
        ];
        for (text, want) in cases {
            assert_eq!(parse_forward_path(text), Err(want), "{text}");
        }
    }

    #[test]
    fn domain_limits_at_n_and_n_plus_one() {
        let label = "a".repeat(DOMAIN_LABEL_BYTES_MAX);
        assert!(Mailbox::parse(&format!("u@{label}.example")).is_ok());
        assert_eq!(Mailbox::parse(&format!("u@{label}a.example")), Err(AddressError::InvalidDomain));
        // 255 octets: four 63-octet labels and dots make 255.
        let name = [label.as_str(); 4].join(".");
        assert_eq!(name.len(), DOMAIN_BYTES_MAX);
        assert!(Mailbox::parse(&format!("u@{name}")).is_ok());
        assert_eq!(Mailbox::parse(&format!("u@a{name}")), Err(AddressError::DomainTooLong));
    }

    #[test]
    fn localpart_limit_at_n_and_n_plus_one() {
        let local = "a".repeat(LOCALPART_BYTES_MAX);
        assert!(Mailbox::parse(&format!("{local}@b.example")).is_ok());
        assert_eq!(Mailbox::parse(&format!("{local}a@b.example")), Err(AddressError::LocalpartTooLong));
        // Counted as sent: the quotes of a quoted local part count too.
        let quoted = format!("\"{}\"", "a".repeat(LOCALPART_BYTES_MAX - 2));
        assert!(Mailbox::parse(&format!("{quoted}@b.example")).is_ok());
        let quoted = format!("\"{}\"", "a".repeat(LOCALPART_BYTES_MAX - 1));
        assert_eq!(Mailbox::parse(&format!("{quoted}@b.example")), Err(AddressError::LocalpartTooLong));
        assert_eq!(parse_forward_path(&format!("<{local}a@b.example>")), Err(AddressError::LocalpartTooLong));
    }

    #[test]
    fn mailbox_parse_rejects_trailing_text() {
        assert!(Mailbox::parse("a@b.example").is_ok());
        assert_eq!(Mailbox::parse("a@b.example>"), Err(AddressError::TrailingCharacters));
    }
}
