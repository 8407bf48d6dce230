//! Domain names as the DNS code and the authentication checks use them: ASCII, lower
//! case, no trailing dot, lengths checked (RFC 1035 §2.3.4). Names with non-ASCII
//! characters are converted with UTS 46 (non-transitional, the IDNA2008 compatible
//! processing that RFC 5891 §5 leaves to the application), so `bücher.example` and
//! `xn--bcher-kva.example` are the same name.

use std::fmt;
use std::net::IpAddr;

use idna::uts46::{AsciiDenyList, DnsLength, Hyphens, Uts46};

/// Longest label: 63 octets (RFC 1035 §2.3.4).
pub const LABEL_BYTES_MAX: usize = 63;

/// Longest name in text form without the trailing dot: 253 octets. RFC 1035 §2.3.4 allows
/// 255 octets on the wire, which are the length octets plus the labels: 253 characters of
/// text with dots.
pub const NAME_BYTES_MAX: usize = 253;

/// A validated domain name: ASCII, lower case, labels of 1–63 octets, at most 253 octets.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DomainName(Box<str>);

/// Why text is not a domain name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// Nothing but a dot, or nothing at all.
    #[error("empty domain name")]
    Empty,
    /// Two dots in a row, or a leading dot.
    #[error("empty label in domain name")]
    EmptyLabel,
    /// A label over 63 octets.
    #[error("label longer than 63 octets")]
    LabelTooLong,
    /// The whole name over 253 octets.
    #[error("domain name longer than 253 octets")]
    TooLong,
    /// A space, control character or other byte that cannot be in a host name we query.
    #[error("invalid character in domain name")]
    InvalidCharacter,
    /// UTS 46 processing refused the name (invalid Punycode, disallowed code point).
    #[error("internationalized name refused by UTS 46")]
    Idna,
}

impl DomainName {
    /// Parses a name given as text, with or without a trailing dot; non-ASCII labels are
    /// converted to A-labels with UTS 46.
    pub fn parse(text: &str) -> Result<DomainName, NameError> {
        let text = text.strip_suffix('.').unwrap_or(text);
        if text.is_empty() {
            return Err(NameError::Empty);
        }
        if text.is_ascii() {
            return Self::from_ascii(text.to_ascii_lowercase());
        }
        let ascii = Uts46::new()
            .to_ascii(text.as_bytes(), AsciiDenyList::EMPTY, Hyphens::Allow, DnsLength::Ignore)
            .map_err(|_| NameError::Idna)?;
        Self::from_ascii(ascii.to_ascii_lowercase())
    }

    /// Parses raw bytes (from a DNS record or a header): must be UTF-8.
    pub fn parse_bytes(bytes: &[u8]) -> Result<DomainName, NameError> {
        let text = std::str::from_utf8(bytes).map_err(|_| NameError::InvalidCharacter)?;
        Self::parse(text)
    }

    fn from_ascii(lower: String) -> Result<DomainName, NameError> {
        if lower.len() > NAME_BYTES_MAX {
            return Err(NameError::TooLong);
        }
        for label in lower.split('.') {
            if label.is_empty() {
                return Err(NameError::EmptyLabel);
            }
            if label.len() > LABEL_BYTES_MAX {
                return Err(NameError::LabelTooLong);
            }
            // Printable ASCII and space only. SPF macros can build names with spaces and
            // `%` (RFC 7208 §7.3 `%_`, `%-`), which DNS allows in labels (RFC 2181 §11);
            // control characters never pass. Writers quote names that are not tokens.
            if !label.bytes().all(|b| b == b' ' || b.is_ascii_graphic()) {
                return Err(NameError::InvalidCharacter);
            }
        }
        Ok(DomainName(lower.into_boxed_str()))
    }

    /// The name in text form, without a trailing dot.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Labels from the left (`mail`, `example`, `com`).
    pub fn labels(&self) -> impl DoubleEndedIterator<Item = &str> {
        self.0.split('.')
    }

    /// How many labels the name has.
    pub fn label_count(&self) -> usize {
        self.0.split('.').count()
    }

    /// The name without its leftmost label; `None` for a single-label name.
    pub fn parent(&self) -> Option<DomainName> {
        let (_, rest) = self.0.split_once('.')?;
        Some(DomainName(rest.into()))
    }

    /// `self` equals `other` or lies below it.
    pub fn is_within(&self, other: &DomainName) -> bool {
        let (own, theirs) = (self.as_str(), other.as_str());
        own == theirs
            || (own.len() > theirs.len() && own.ends_with(theirs) && {
                let boundary = own.len() - theirs.len() - 1;
                own.as_bytes()[boundary] == b'.'
            })
    }

    /// `label.self`, checked.
    pub fn prepend(&self, label: &str) -> Result<DomainName, NameError> {
        Self::parse(&format!("{label}.{}", self.0))
    }

    /// The reverse-lookup name of an address (RFC 1035 §3.5 `in-addr.arpa`, RFC 3596 §2.5
    /// `ip6.arpa`).
    pub fn reverse(ip: IpAddr) -> DomainName {
        use std::fmt::Write as _;
        let mut text = String::with_capacity(72);
        match ip {
            IpAddr::V4(v4) => {
                let [a, b, c, d] = v4.octets();
                let _ = write!(text, "{d}.{c}.{b}.{a}.in-addr.arpa");
            }
            IpAddr::V6(v6) => {
                for byte in v6.octets().iter().rev() {
                    let _ = write!(text, "{:x}.{:x}.", byte & 0xf, byte >> 4);
                }
                text.push_str("ip6.arpa");
            }
        }
        // Built from digits and fixed labels: always valid, 72 octets at most.
        DomainName(text.into_boxed_str())
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DomainName({})", self.0)
    }
}

impl std::str::FromStr for DomainName {
    type Err = NameError;
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn ascii_names_are_lowercased_and_checked() {
        assert_eq!(DomainName::parse("Mail.Example.COM.").unwrap().as_str(), "mail.example.com");
        assert_eq!(DomainName::parse("_dmarc.example.com").unwrap().as_str(), "_dmarc.example.com");
        assert_eq!(DomainName::parse(""), Err(NameError::Empty));
        assert_eq!(DomainName::parse("."), Err(NameError::Empty));
        assert_eq!(DomainName::parse("a..b"), Err(NameError::EmptyLabel));
        assert_eq!(DomainName::parse("a\tb.example"), Err(NameError::InvalidCharacter));
        assert!(DomainName::parse("a b%20.example").is_ok());
        let label63 = "a".repeat(63);
        assert!(DomainName::parse(&format!("{label63}.example")).is_ok());
        assert_eq!(DomainName::parse(&format!("a{label63}.example")), Err(NameError::LabelTooLong));
        let long = vec!["abcdefghi"; 26].join(".");
        assert_eq!(long.len(), 259);
        assert_eq!(DomainName::parse(&long), Err(NameError::TooLong));
    }

    #[test]
    fn unicode_names_become_a_labels() {
        let name = DomainName::parse("Bücher.Example").unwrap();
        assert_eq!(name.as_str(), "xn--bcher-kva.example");
        assert_eq!(name, DomainName::parse("xn--bcher-kva.example").unwrap());
        // UTS 46 maps full-width characters and the ideographic full stop.
        assert_eq!(DomainName::parse("ｅｘａｍｐｌｅ。com").unwrap().as_str(), "example.com");
        assert_eq!(DomainName::parse("bad\u{FFFF}.example"), Err(NameError::Idna));
    }

    #[test]
    fn relations_and_reverse_names() {
        let name = DomainName::parse("mail.example.com").unwrap();
        let parent = name.parent().unwrap();
        assert_eq!(parent.as_str(), "example.com");
        assert!(name.is_within(&parent));
        assert!(name.is_within(&name));
        assert!(!DomainName::parse("badexample.com").unwrap().is_within(&parent));
        assert_eq!(name.label_count(), 3);
        assert_eq!(DomainName::reverse("192.0.2.1".parse().unwrap()).as_str(), "1.2.0.192.in-addr.arpa");
        let v6 = DomainName::reverse("2001:db8::1".parse().unwrap());
        assert!(v6.as_str().starts_with("1.0.0.0.0.0.0.0"));
        assert!(v6.as_str().ends_with("8.b.d.0.1.0.0.2.ip6.arpa"));
    }
}
