//! SPF macro-strings (RFC 7208 §7): parsing `%{letter transformers delimiters}`, `%%`,
//! `%_` and `%-`, and expanding them for a check.

use std::fmt::Write as _;
use std::net::IpAddr;

/// Largest digit transformer kept: a domain has at most 127 labels, so any larger count
/// means "all parts" (RFC 7208 §7.3), and the cap keeps the number in range.
pub const TRANSFORMER_PARTS_MAX: u32 = 128;

/// Longest expansion of one macro-string, in octets: domain-specs are cut to 253 octets
/// anyway (RFC 7208 §7.3) and explanation texts go into a reply line (RFC 5321
/// §4.5.3.1.5 allows 512). Bounds what a record full of `%{s}` can make us build.
pub const EXPANSION_BYTES_MAX: usize = 2048;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(String),
    Macro { letter: u8, url_escape: bool, keep: Option<u32>, reverse: bool, delimiters: String },
}

/// A macro-string that does not follow RFC 7208 §7.1's grammar (a permerror).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("invalid SPF macro-string")]
pub struct MacroError;

/// A parsed macro-string.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MacroString {
    tokens: Vec<Token>,
}

/// The values macros expand to (RFC 7208 §7.2).
#[derive(Debug, Clone)]
pub struct MacroContext<'a> {
    /// `s`: the sender, `local@domain`.
    pub sender: &'a str,
    /// `l`: the sender's local part.
    pub local: &'a str,
    /// `o`: the sender's domain.
    pub sender_domain: &'a str,
    /// `d`: the domain of the record being evaluated.
    pub domain: &'a str,
    /// `i`, `c`, `v`: the client's address.
    pub ip: IpAddr,
    /// `h`: the HELO/EHLO name.
    pub helo: &'a str,
    /// `r`: the receiving host's name (explanations only).
    pub receiver: &'a str,
    /// `t`: now, in seconds since the epoch (explanations only).
    pub now_secs: u64,
    /// `p`: the client's validated host name, `unknown` when there is none.
    pub validated_name: Option<&'a str>,
}

impl MacroString {
    /// Parses `text`; `explanation` allows the letters `c`, `r` and `t`, which RFC 7208
    /// §7.2 reserves for explanation strings. `Err` is a permerror.
    pub fn parse(text: &str, explanation: bool) -> Result<MacroString, MacroError> {
        let mut tokens = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(index) = rest.find('%') {
            literal.push_str(&rest[..index]);
            let after = &rest[index + 1..];
            match after.as_bytes().first() {
                Some(b'%') => literal.push('%'),
                Some(b'_') => literal.push(' '),
                Some(b'-') => literal.push_str("%20"),
                Some(b'{') => {
                    let end = after.find('}').ok_or(MacroError)?;
                    if !literal.is_empty() {
                        tokens.push(Token::Literal(std::mem::take(&mut literal)));
                    }
                    tokens.push(parse_macro(&after[1..end], explanation)?);
                    rest = &after[end + 1..];
                    continue;
                }
                _ => return Err(MacroError),
            }
            rest = &after[1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            tokens.push(Token::Literal(literal));
        }
        Ok(MacroString { tokens })
    }

    /// Whether the string ends in a macro expansion (a valid `domain-end`, RFC 7208 §7.1).
    pub fn ends_with_macro(&self) -> bool {
        matches!(self.tokens.last(), Some(Token::Macro { .. }))
    }

    /// Whether it uses the letter (lower case), e.g. `p`, which costs lookups.
    pub fn uses(&self, letter: u8) -> bool {
        self.tokens.iter().any(|t| matches!(t, Token::Macro { letter: l, .. } if *l == letter))
    }

    /// Expands the string; cut at [`EXPANSION_BYTES_MAX`].
    pub fn expand(&self, context: &MacroContext<'_>) -> String {
        let mut out = String::new();
        for token in &self.tokens {
            match token {
                Token::Literal(text) => out.push_str(text),
                Token::Macro { letter, url_escape, keep, reverse, delimiters } => {
                    let value = letter_value(*letter, context);
                    let transformed = transform(&value, delimiters, *reverse, *keep);
                    if *url_escape {
                        escape_into(&transformed, &mut out);
                    } else {
                        out.push_str(&transformed);
                    }
                }
            }
            if out.len() > EXPANSION_BYTES_MAX {
                let mut cut = EXPANSION_BYTES_MAX;
                while !out.is_char_boundary(cut) {
                    cut -= 1;
                }
                out.truncate(cut);
                break;
            }
        }
        out
    }

    /// Expands a domain-spec and cuts labels from the left until it fits 253 octets
    /// (RFC 7208 §7.3); a trailing dot is dropped.
    pub fn expand_domain(&self, context: &MacroContext<'_>) -> String {
        let expanded = self.expand(context);
        let mut name = expanded.strip_suffix('.').unwrap_or(&expanded);
        while name.len() > crate::dns::name::NAME_BYTES_MAX {
            match name.split_once('.') {
                Some((_, rest)) => name = rest,
                None => break,
            }
        }
        name.to_string()
    }
}

fn parse_macro(body: &str, explanation: bool) -> Result<Token, MacroError> {
    let mut chars = body.bytes();
    let first = chars.next().ok_or(MacroError)?;
    let letter = first.to_ascii_lowercase();
    let allowed: &[u8] = if explanation { b"slodiphvcrt" } else { b"slodiphv" };
    if !allowed.contains(&letter) {
        return Err(MacroError);
    }
    let rest = &body[1..];
    let digits_end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let keep = match &rest[..digits_end] {
        "" => None,
        digits => {
            // RFC 7208 §7.3: a DIGIT transformer must be nonzero.
            let value: u64 = digits.parse().map_err(|_| MacroError)?;
            if value == 0 {
                return Err(MacroError);
            }
            Some(value.min(u64::from(TRANSFORMER_PARTS_MAX)) as u32)
        }
    };
    let mut rest = &rest[digits_end..];
    let reverse = rest.starts_with(['r', 'R']);
    if reverse {
        rest = &rest[1..];
    }
    if !rest.bytes().all(|b| b".-+,/_=".contains(&b)) {
        return Err(MacroError);
    }
    Ok(Token::Macro {
        letter,
        url_escape: first.is_ascii_uppercase(),
        keep,
        reverse,
        delimiters: rest.to_string(),
    })
}

fn letter_value(letter: u8, context: &MacroContext<'_>) -> String {
    match letter {
        b's' => context.sender.to_string(),
        b'l' => context.local.to_string(),
        b'o' => context.sender_domain.to_string(),
        b'd' => context.domain.to_string(),
        b'i' => dotted_ip(context.ip),
        b'p' => context.validated_name.unwrap_or("unknown").to_string(),
        b'v' => if context.ip.is_ipv4() { "in-addr" } else { "ip6" }.to_string(),
        b'h' => context.helo.to_string(),
        b'c' => context.ip.to_string(),
        b'r' => context.receiver.to_string(),
        b't' => context.now_secs.to_string(),
        _ => String::new(),
    }
}

/// `i`: dotted quad for IPv4, 32 dot-separated nibbles for IPv6 (RFC 7208 §7.3).
fn dotted_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let mut text = String::with_capacity(63);
            for byte in v6.octets() {
                let _ = write!(text, "{:x}.{:x}.", byte >> 4, byte & 0xf);
            }
            text.pop();
            text
        }
    }
}

fn transform(value: &str, delimiters: &str, reverse: bool, keep: Option<u32>) -> String {
    if delimiters.is_empty() && !reverse && keep.is_none() {
        return value.to_string();
    }
    let delimiters = if delimiters.is_empty() { "." } else { delimiters };
    let mut parts: Vec<&str> = value.split(|c| delimiters.contains(c)).collect();
    if reverse {
        parts.reverse();
    }
    if let Some(keep) = keep {
        let keep = keep as usize;
        if parts.len() > keep {
            parts.drain(..parts.len() - keep);
        }
    }
    parts.join(".")
}

/// RFC 7208 §7.3: upper-case macros are URL-escaped (RFC 3986 unreserved kept).
fn escape_into(value: &str, out: &mut String) {
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn context() -> MacroContext<'static> {
        MacroContext {
            sender: "strong-bad@email.example.com",
            local: "strong-bad",
            sender_domain: "email.example.com",
            domain: "email.example.com",
            ip: "192.0.2.3".parse().unwrap(),
            helo: "mx.example.org",
            receiver: "mx.example.net",
            now_secs: 1_700_000_000,
            validated_name: None,
        }
    }

    fn expand(text: &str) -> String {
        MacroString::parse(text, true).unwrap().expand(&context())
    }

    #[test]
    fn rfc7208_section_7_4_examples() {
        assert_eq!(expand("%{s}"), "strong-bad@email.example.com");
        assert_eq!(expand("%{o}"), "email.example.com");
        assert_eq!(expand("%{d}"), "email.example.com");
        assert_eq!(expand("%{d4}"), "email.example.com");
        assert_eq!(expand("%{d3}"), "email.example.com");
        assert_eq!(expand("%{d2}"), "example.com");
        assert_eq!(expand("%{d1}"), "com");
        assert_eq!(expand("%{dr}"), "com.example.email");
        assert_eq!(expand("%{d2r}"), "example.email");
        assert_eq!(expand("%{l}"), "strong-bad");
        assert_eq!(expand("%{l-}"), "strong.bad");
        assert_eq!(expand("%{lr}"), "strong-bad");
        assert_eq!(expand("%{lr-}"), "bad.strong");
        assert_eq!(expand("%{l1r-}"), "strong");
        assert_eq!(expand("%{ir}.%{v}._spf.%{d2}"), "3.2.0.192.in-addr._spf.example.com");
        assert_eq!(expand("%{lr-}.lp._spf.%{d2}"), "bad.strong.lp._spf.example.com");
        assert_eq!(
            expand("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}"),
            "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"
        );
        assert_eq!(
            expand("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}"),
            "3.2.0.192.in-addr.strong.lp._spf.example.com"
        );
        assert_eq!(expand("%{d2}.trusted-domains.example.net"), "example.com.trusted-domains.example.net");
        assert_eq!(expand("%{S}"), "strong-bad%40email.example.com");
        assert_eq!(expand("%%%_%-"), "% %20");
        let mut v6 = context();
        v6.ip = "2001:db8::cb01".parse().unwrap();
        assert_eq!(
            MacroString::parse("%{ir}.%{v}._spf.%{d2}", false).unwrap().expand(&v6),
            "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com"
        );
    }

    #[test]
    fn refuses_bad_macros() {
        assert!(MacroString::parse("%{x}", false).is_err());
        assert!(MacroString::parse("%{c}", false).is_err());
        assert!(MacroString::parse("%{c}", true).is_ok());
        assert!(MacroString::parse("%{d0}", false).is_err());
        assert!(MacroString::parse("%{d", false).is_err());
        assert!(MacroString::parse("100%", false).is_err());
        assert!(MacroString::parse("%{d2r+}", false).is_ok());
        assert!(MacroString::parse("%{d2r:}", false).is_err());
    }
}
