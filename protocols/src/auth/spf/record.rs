//! SPF record syntax (RFC 7208 §4.5, §4.6, §12): selecting the record among a name's TXT
//! records, and parsing it into directives and modifiers with their macro-strings.
//! Syntax errors are permanent errors (RFC 7208 §4.6); nothing here does IO.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::macros::MacroString;

/// Longest record text parsed, in octets. A TXT record cannot exceed a DNS message
/// (64 KiB); real SPF records stay under 512 octets (RFC 7208 §3.4). 16 KiB bounds the
/// parse while leaving room for generous ip4 lists.
pub const RECORD_BYTES_MAX: usize = 16 * 1024;

/// Most terms in one record. Each term is at least two octets plus a space, so the byte
/// limit alone would allow about 5,000; 1,000 is far beyond any published record and caps
/// the directive list an evaluation walks.
pub const TERMS_MAX: usize = 1_000;

/// The result a directive produces when it matches (RFC 7208 §4.6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qualifier {
    /// `+` (or none): pass.
    Pass,
    /// `-`: fail.
    Fail,
    /// `~`: softfail.
    SoftFail,
    /// `?`: neutral.
    Neutral,
}

/// A mechanism (RFC 7208 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mechanism {
    /// `all`.
    All,
    /// `include:<domain-spec>`.
    Include(MacroString),
    /// `a[:<domain-spec>][/<ip4-cidr>][//<ip6-cidr>]`.
    A {
        /// Target; the current domain when absent.
        domain: Option<MacroString>,
        /// IPv4 prefix length (32 when absent).
        prefix4: u8,
        /// IPv6 prefix length (128 when absent).
        prefix6: u8,
    },
    /// `mx[:<domain-spec>][/<ip4-cidr>][//<ip6-cidr>]`.
    Mx {
        /// Target; the current domain when absent.
        domain: Option<MacroString>,
        /// IPv4 prefix length.
        prefix4: u8,
        /// IPv6 prefix length.
        prefix6: u8,
    },
    /// `ptr[:<domain-spec>]`.
    Ptr(Option<MacroString>),
    /// `ip4:<network>[/<prefix>]`.
    Ip4 {
        /// Network address.
        network: Ipv4Addr,
        /// Prefix length.
        prefix: u8,
    },
    /// `ip6:<network>[/<prefix>]`.
    Ip6 {
        /// Network address.
        network: Ipv6Addr,
        /// Prefix length.
        prefix: u8,
    },
    /// `exists:<domain-spec>`.
    Exists(MacroString),
}

impl Mechanism {
    /// The mechanism's name, for `Received-SPF` and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Mechanism::All => "all",
            Mechanism::Include(_) => "include",
            Mechanism::A { .. } => "a",
            Mechanism::Mx { .. } => "mx",
            Mechanism::Ptr(_) => "ptr",
            Mechanism::Ip4 { .. } => "ip4",
            Mechanism::Ip6 { .. } => "ip6",
            Mechanism::Exists(_) => "exists",
        }
    }

    /// Whether evaluating it asks the DNS, counting towards the 10-lookup limit
    /// (RFC 7208 §4.6.4).
    pub fn counts_lookup(&self) -> bool {
        matches!(
            self,
            Mechanism::Include(_)
                | Mechanism::A { .. }
                | Mechanism::Mx { .. }
                | Mechanism::Ptr(_)
                | Mechanism::Exists(_)
        )
    }
}

/// A qualifier and a mechanism.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// What a match means.
    pub qualifier: Qualifier,
    /// What is matched.
    pub mechanism: Mechanism,
}

/// A parsed SPF record.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// Directives in order, up to and including the first `all` (later ones are never
    /// evaluated, RFC 7208 §5.1).
    pub directives: Vec<Directive>,
    /// `redirect=`, unless an `all` is present (RFC 7208 §6.1).
    pub redirect: Option<MacroString>,
    /// `exp=`.
    pub explanation: Option<MacroString>,
}

/// Why a record is not valid SPF; every variant is a permerror.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// Does not start with `v=spf1`.
    #[error("not an SPF version 1 record")]
    NotSpf,
    /// Longer than [`RECORD_BYTES_MAX`] or more than [`TERMS_MAX`] terms.
    #[error("SPF record too long")]
    TooLong,
    /// A byte outside printable ASCII and space.
    #[error("invalid character in SPF record")]
    InvalidCharacter,
    /// A term that is neither a known mechanism nor a modifier.
    #[error("unknown mechanism {0:?}")]
    UnknownMechanism(String),
    /// A malformed term.
    #[error("invalid term {0:?}")]
    InvalidTerm(String),
    /// `redirect=` or `exp=` given twice (RFC 7208 §6).
    #[error("duplicate modifier {0:?}")]
    DuplicateModifier(&'static str),
}

/// Whether a TXT record's text is an SPF version 1 record: `v=spf1` followed by a space or
/// the end (RFC 7208 §4.5), compared without regard to case.
pub fn is_spf_record(text: &[u8]) -> bool {
    let version = b"v=spf1";
    text.len() >= version.len()
        && text[..version.len()].eq_ignore_ascii_case(version)
        && (text.len() == version.len() || text[version.len()] == b' ')
}

impl Record {
    /// Parses a record's text (the TXT strings already joined).
    pub fn parse(text: &[u8]) -> Result<Record, RecordError> {
        if !is_spf_record(text) {
            return Err(RecordError::NotSpf);
        }
        if text.len() > RECORD_BYTES_MAX {
            return Err(RecordError::TooLong);
        }
        if !text.iter().all(|&b| b == b' ' || b.is_ascii_graphic()) {
            return Err(RecordError::InvalidCharacter);
        }
        // Checked above: printable ASCII.
        let text = std::str::from_utf8(&text[6..]).map_err(|_| RecordError::InvalidCharacter)?;
        let mut record = Record::default();
        let mut has_all = false;
        let mut redirect = None;
        for (count, term) in text.split(' ').filter(|t| !t.is_empty()).enumerate() {
            if count >= TERMS_MAX {
                return Err(RecordError::TooLong);
            }
            match parse_term(term)? {
                Term::Directive(directive) => {
                    if has_all {
                        continue;
                    }
                    has_all = directive.mechanism == Mechanism::All;
                    record.directives.push(directive);
                }
                Term::Redirect(target) => set_once(&mut redirect, target, "redirect")?,
                Term::Explanation(target) => set_once(&mut record.explanation, target, "exp")?,
                Term::Unknown => {}
            }
        }
        if !has_all {
            record.redirect = redirect;
        }
        Ok(record)
    }
}

fn set_once(
    slot: &mut Option<MacroString>,
    value: MacroString,
    name: &'static str,
) -> Result<(), RecordError> {
    if slot.is_some() {
        return Err(RecordError::DuplicateModifier(name));
    }
    *slot = Some(value);
    Ok(())
}

enum Term {
    Directive(Directive),
    Redirect(MacroString),
    Explanation(MacroString),
    Unknown,
}

fn parse_term(term: &str) -> Result<Term, RecordError> {
    let invalid = || RecordError::InvalidTerm(term.to_string());
    // name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ) "=" : a modifier.
    let name_end = term.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')));
    if let Some(end) = name_end
        && term.as_bytes()[end] == b'='
    {
        let name = &term[..end];
        if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
            return Err(invalid());
        }
        let value = &term[end + 1..];
        return match name.to_ascii_lowercase().as_str() {
            "redirect" => Ok(Term::Redirect(domain_spec(value).ok_or_else(invalid)?)),
            "exp" => Ok(Term::Explanation(domain_spec(value).ok_or_else(invalid)?)),
            _ => MacroString::parse(value, false).map(|_| Term::Unknown).map_err(|_| invalid()),
        };
    }
    let (qualifier, rest) = match term.as_bytes()[0] {
        b'+' => (Qualifier::Pass, &term[1..]),
        b'-' => (Qualifier::Fail, &term[1..]),
        b'~' => (Qualifier::SoftFail, &term[1..]),
        b'?' => (Qualifier::Neutral, &term[1..]),
        _ => (Qualifier::Pass, term),
    };
    let mechanism = parse_mechanism(rest).map_err(|unknown| {
        if unknown { RecordError::UnknownMechanism(term.to_string()) } else { invalid() }
    })?;
    Ok(Term::Directive(Directive { qualifier, mechanism }))
}

/// Parses a mechanism; `Err(true)` for an unknown name, `Err(false)` for bad syntax.
fn parse_mechanism(text: &str) -> Result<Mechanism, bool> {
    let name_end = text.find([':', '/']).unwrap_or(text.len());
    let (name, rest) = text.split_at(name_end);
    match name.to_ascii_lowercase().as_str() {
        "all" if rest.is_empty() => Ok(Mechanism::All),
        "include" => Ok(Mechanism::Include(required_spec(rest)?)),
        "exists" => Ok(Mechanism::Exists(required_spec(rest)?)),
        "a" | "mx" => {
            let (spec, prefix4, prefix6) = split_dual_cidr(rest).ok_or(false)?;
            let domain = optional_spec(spec)?;
            Ok(if name.eq_ignore_ascii_case("a") {
                Mechanism::A { domain, prefix4, prefix6 }
            } else {
                Mechanism::Mx { domain, prefix4, prefix6 }
            })
        }
        "ptr" => Ok(Mechanism::Ptr(optional_spec(rest)?)),
        "ip4" => {
            let value = rest.strip_prefix(':').ok_or(false)?;
            let (address, prefix) = split_prefix(value, 32)?;
            Ok(Mechanism::Ip4 { network: address.parse().map_err(|_| false)?, prefix })
        }
        "ip6" => {
            let value = rest.strip_prefix(':').ok_or(false)?;
            let (address, prefix) = split_prefix(value, 128)?;
            Ok(Mechanism::Ip6 { network: address.parse().map_err(|_| false)?, prefix })
        }
        "all" => Err(false),
        _ => Err(true),
    }
}

fn required_spec(rest: &str) -> Result<MacroString, bool> {
    domain_spec(rest.strip_prefix(':').ok_or(false)?).ok_or(false)
}

fn optional_spec(rest: &str) -> Result<Option<MacroString>, bool> {
    if rest.is_empty() {
        return Ok(None);
    }
    required_spec(rest).map(Some)
}

/// `network[/prefix]` with the prefix in range and without leading zeros (RFC 7208 §12).
fn split_prefix(value: &str, max: u8) -> Result<(&str, u8), bool> {
    match value.split_once('/') {
        None => Ok((value, max)),
        Some((address, digits)) => Ok((address, cidr_length(digits, max).ok_or(false)?)),
    }
}

fn cidr_length(digits: &str, max: u8) -> Option<u8> {
    let valid = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'))
        && digits.len() <= 3;
    let value: u8 = if valid { digits.parse().ok()? } else { return None };
    (value <= max).then_some(value)
}

/// Splits `[:domain-spec][/n][//m]` into the domain part and the two prefix lengths.
fn split_dual_cidr(rest: &str) -> Option<(&str, u8, u8)> {
    let (mut spec, mut prefix4, mut prefix6) = (rest, 32, 128);
    if let Some(index) = spec.rfind("//") {
        prefix6 = cidr_length(&spec[index + 2..], 128)?;
        spec = &spec[..index];
    }
    if let Some(index) = spec.rfind('/') {
        let digits = &spec[index + 1..];
        if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            prefix4 = cidr_length(digits, 32)?;
            spec = &spec[..index];
        }
    }
    Some((spec, prefix4, prefix6))
}

/// `domain-spec = macro-string domain-end` (RFC 7208 §7.1): a macro-string that ends in a
/// macro or in `.toplabel` (optionally with a trailing dot), where a toplabel is not all
/// digits.
fn domain_spec(text: &str) -> Option<MacroString> {
    let spec = MacroString::parse(text, false).ok()?;
    if spec.ends_with_macro() {
        return Some(spec);
    }
    let literal = text.strip_suffix('.').unwrap_or(text);
    let (_, top) = literal.rsplit_once('.')?;
    let valid_top = !top.is_empty()
        && top.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !top.starts_with('-')
        && !top.ends_with('-')
        && top.bytes().any(|b| b.is_ascii_alphabetic());
    valid_top.then_some(spec)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn parses_directives_and_modifiers() {
        let record = Record::parse(
            b"v=spf1 +a mx/24//64 -ip4:192.0.2.0/24 ~ip6:2001:db8::/32 ?include:_spf.example.com \
                            exists:%{i}.bl.example ptr redirect=other.example exp=exp.%{d}",
        )
        .unwrap();
        assert_eq!(record.directives.len(), 7);
        assert_eq!(record.directives[1].mechanism, Mechanism::Mx { domain: None, prefix4: 24, prefix6: 64 });
        assert_eq!(record.directives[2].qualifier, Qualifier::Fail);
        assert!(record.redirect.is_some() && record.explanation.is_some());
        // `all` anywhere disables redirect and ends the directives.
        let record = Record::parse(b"v=spf1 -all a redirect=x.example").unwrap();
        assert_eq!(record.directives.len(), 1);
        assert!(record.redirect.is_none());
    }

    #[test]
    fn refuses_bad_syntax() {
        assert_eq!(Record::parse(b"v=spf10 -all"), Err(RecordError::NotSpf));
        assert!(matches!(Record::parse(b"v=spf1 moo"), Err(RecordError::UnknownMechanism(_))));
        assert!(matches!(Record::parse(b"v=spf1 ip4:192.0.2.0/33"), Err(RecordError::InvalidTerm(_))));
        assert!(matches!(Record::parse(b"v=spf1 a:example.123"), Err(RecordError::InvalidTerm(_))));
        assert!(matches!(Record::parse(b"v=spf1 include"), Err(RecordError::InvalidTerm(_))));
        assert!(matches!(Record::parse(b"v=spf1 a:foo%"), Err(RecordError::InvalidTerm(_))));
        assert_eq!(
            Record::parse(b"v=spf1 exp=a.example exp=b.example"),
            Err(RecordError::DuplicateModifier("exp"))
        );
        assert_eq!(Record::parse(b"v=spf1 a:ex\x0dample.com"), Err(RecordError::InvalidCharacter));
        assert!(Record::parse(b"v=spf1 unknown-mod=anything -all").is_ok());
        assert!(is_spf_record(b"V=SPF1"));
        assert!(!is_spf_record(b"v=spf1-all"));
    }
}
