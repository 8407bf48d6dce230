//! Address lists for ENVELOPE (RFC 5322 §3.4, RFC 9051 §7.5.2): mailboxes
//! `phrase <route:local@domain>` or `local@domain (comment)`, and groups
//! `name: member, member;`. Values stay raw: RFC 2047 encoded words are not decoded,
//! quoting is removed as RFC 9051's addr-name and addr-mailbox require.
//!
//! The input is tokenized first (atoms, quoted strings, comments, domain literals,
//! specials), then split at top-level commas; a token stream that is not valid RFC 5322
//! still yields a best-effort address. Bytes of 8 bits are atom text (RFC 6532).
//! Comments nest with a counter, never by recursion.

use super::{ADDRESSES_MAX, Address};

/// One lexical token of an address field.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// Atom text (also dots-free words, encoded words, 8-bit text).
    Atom(Vec<u8>),
    /// Quoted-string content, escapes removed.
    Quoted(Vec<u8>),
    /// Comment content, outer parentheses and escapes removed.
    Comment(Vec<u8>),
    /// `[...]` kept whole.
    DomainLiteral(Vec<u8>),
    /// One of `<>@,:;.`.
    Special(u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Token {
    kind: Kind,
    /// White space (or a comment) came before this token.
    spaced: bool,
}

fn tokenize(value: &[u8]) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut position = 0;
    let mut spaced = false;
    while let Some(&byte) = value.get(position) {
        let kind = match byte {
            b' ' | b'\t' | b'\r' | b'\n' => {
                spaced = true;
                position += 1;
                continue;
            }
            b'"' => Kind::Quoted(delimited(value, &mut position, b'"')),
            b'(' => Kind::Comment(comment(value, &mut position)),
            b'[' => {
                let start = position;
                delimited(value, &mut position, b']');
                Kind::DomainLiteral(value[start..position].to_vec())
            }
            b'<' | b'>' | b'@' | b',' | b':' | b';' | b'.' => {
                position += 1;
                Kind::Special(byte)
            }
            b')' | b']' => {
                // A stray closing bracket: not an address character, dropped.
                position += 1;
                continue;
            }
            _ => {
                let start = position;
                position += 1; // `is_atom_byte(byte)` holds for every byte not matched above
                while value.get(position).is_some_and(|&byte| is_atom_byte(byte)) {
                    position += 1;
                }
                Kind::Atom(value[start..position].to_vec())
            }
        };
        let is_comment = matches!(kind, Kind::Comment(_));
        tokens.push(Token { kind, spaced });
        spaced = is_comment;
    }
    tokens
}

fn is_atom_byte(byte: u8) -> bool {
    !matches!(byte, b' ' | b'\t' | b'\r' | b'\n' | b'"' | b'(' | b')' | b'[' | b']')
        && !matches!(byte, b'<' | b'>' | b'@' | b',' | b':' | b';' | b'.')
}

/// Reads from the opening byte at `position` to the unescaped `close` (or the end);
/// returns the content with backslash escapes removed and leaves `position` after it.
fn delimited(value: &[u8], position: &mut usize, close: u8) -> Vec<u8> {
    let mut out = Vec::new();
    *position += 1;
    while let Some(&byte) = value.get(*position) {
        *position += 1;
        if byte == close {
            break;
        }
        if byte == b'\\' {
            if let Some(&escaped) = value.get(*position) {
                out.push(escaped);
                *position += 1;
            }
        } else {
            out.push(byte);
        }
    }
    out
}

/// A comment from `(` at `position`: nested parentheses kept in the content.
fn comment(value: &[u8], position: &mut usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut depth = 0usize;
    while let Some(&byte) = value.get(*position) {
        *position += 1;
        match byte {
            b'\\' => {
                if let Some(&escaped) = value.get(*position) {
                    out.push(escaped);
                    *position += 1;
                }
                continue;
            }
            b'(' => {
                depth += 1;
                if depth == 1 {
                    continue;
                }
            }
            b')' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    break;
                }
            }
            _ => {}
        }
        out.push(byte);
    }
    out
}

/// Parses an unfolded address field value into at most [`ADDRESSES_MAX`] addresses
/// (group members count).
pub(crate) fn parse_addresses(value: &[u8]) -> Vec<Address> {
    let mut out = Vec::new();
    let mut kept = 0usize;
    let mut group: Option<(Vec<u8>, Vec<Address>)> = None;
    let mut current: Vec<Token> = Vec::new();
    let mut in_angle = false;
    for token in tokenize(value) {
        match token.kind {
            Kind::Special(b'<') => in_angle = true,
            Kind::Special(b'>') => in_angle = false,
            _ => {}
        }
        let top = !in_angle;
        match token.kind {
            Kind::Special(b',') if top => {
                flush(&mut current, &mut group, &mut out, &mut kept);
            }
            Kind::Special(b':') if top && group.is_none() && !has_at(&current) => {
                group = Some((phrase(&current).unwrap_or_default(), Vec::new()));
                current.clear();
            }
            Kind::Special(b';') if top && group.is_some() => {
                flush(&mut current, &mut group, &mut out, &mut kept);
                if let Some((name, members)) = group.take() {
                    out.push(Address::Group { name, members });
                }
            }
            _ => current.push(token),
        }
    }
    flush(&mut current, &mut group, &mut out, &mut kept);
    if let Some((name, members)) = group.take() {
        out.push(Address::Group { name, members });
    }
    out
}

fn has_at(tokens: &[Token]) -> bool {
    tokens.iter().any(|token| token.kind == Kind::Special(b'@'))
}

/// Turns the tokens of one mailbox into an address, into the open group if any.
fn flush(
    current: &mut Vec<Token>,
    group: &mut Option<(Vec<u8>, Vec<Address>)>,
    out: &mut Vec<Address>,
    kept: &mut usize,
) {
    let tokens = std::mem::take(current);
    let Some(address) = mailbox(&tokens) else {
        return;
    };
    if *kept >= ADDRESSES_MAX {
        return;
    }
    *kept += 1;
    match group {
        Some((_, members)) => members.push(address),
        None => out.push(address),
    }
}

/// One mailbox: `[phrase] "<" [route ":"] addr-spec ">"` or `addr-spec [comment]`.
fn mailbox(tokens: &[Token]) -> Option<Address> {
    let open = tokens.iter().position(|token| token.kind == Kind::Special(b'<'));
    let (name, spec, adl) = match open {
        Some(open) => {
            let inside = &tokens[open + 1..];
            let close =
                inside.iter().position(|token| token.kind == Kind::Special(b'>')).unwrap_or(inside.len());
            let inside = &inside[..close];
            let (adl, spec) = split_route(inside);
            (phrase(&tokens[..open]), spec, adl)
        }
        None => (None, tokens, None),
    };
    let name = name.or_else(|| first_comment(tokens));
    let at = spec.iter().rposition(|token| token.kind == Kind::Special(b'@'));
    let (local, domain) = match at {
        Some(at) => (&spec[..at], &spec[at + 1..]),
        None => (spec, &spec[spec.len()..]),
    };
    let mailbox = join(local, true);
    let host = join(domain, false);
    // An empty addr-spec (`<>`, `"Name" <>`) is no address: writing one would add an
    // address to the list, or inside a group a member, that the header does not have.
    if mailbox.is_empty() && host.is_empty() {
        return None;
    }
    Some(Address::Mailbox { name, adl, mailbox: Some(mailbox), host: Some(host) })
}

/// Splits an obsolete source route `@a,@b:` off the front of an angle address.
fn split_route(inside: &[Token]) -> (Option<Vec<u8>>, &[Token]) {
    if inside.first().is_some_and(|token| token.kind == Kind::Special(b'@'))
        && let Some(colon) = inside.iter().position(|token| token.kind == Kind::Special(b':'))
    {
        let route = join(&inside[..colon], false);
        return (Some(route), &inside[colon + 1..]);
    }
    (None, inside)
}

/// The display phrase: words joined by single spaces, quoting removed, comments dropped.
fn phrase(tokens: &[Token]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for token in tokens {
        let text: &[u8] = match &token.kind {
            Kind::Atom(text) | Kind::Quoted(text) | Kind::DomainLiteral(text) => text,
            Kind::Special(byte) => std::slice::from_ref(byte),
            Kind::Comment(_) => continue,
        };
        if token.spaced && !out.is_empty() {
            out.push(b' ');
        }
        out.extend_from_slice(text);
    }
    (!out.is_empty()).then_some(out)
}

fn first_comment(tokens: &[Token]) -> Option<Vec<u8>> {
    tokens.iter().find_map(|token| match &token.kind {
        Kind::Comment(text) => {
            let text = super::header::trim(text);
            (!text.is_empty()).then(|| text.to_vec())
        }
        _ => None,
    })
}

/// Local part or domain text: tokens concatenated, comments dropped; in a local part,
/// white space between words is kept as one space (broken addresses stay readable).
fn join(tokens: &[Token], keep_spaces: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for token in tokens {
        let text: &[u8] = match &token.kind {
            Kind::Atom(text) | Kind::Quoted(text) | Kind::DomainLiteral(text) => text,
            Kind::Special(byte @ (b'.' | b'@' | b',')) => std::slice::from_ref(byte),
            Kind::Special(_) | Kind::Comment(_) => continue,
        };
        if keep_spaces && token.spaced && !out.is_empty() && !matches!(token.kind, Kind::Special(_)) {
            out.push(b' ');
        }
        out.extend_from_slice(text);
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn mailbox_of(name: Option<&str>, adl: Option<&str>, local: &str, host: &str) -> Address {
        Address::Mailbox {
            name: name.map(|text| text.as_bytes().to_vec()),
            adl: adl.map(|text| text.as_bytes().to_vec()),
            mailbox: Some(local.as_bytes().to_vec()),
            host: Some(host.as_bytes().to_vec()),
        }
    }

    #[test]
    fn common_forms() {
        let got = parse_addresses(
            b"\"Doe, John\" <john.doe@example.com>, jane@example.org (Jane Roe), =?utf-8?q?J=C3=B6rg?= <j@x.de>",
        );
        assert_eq!(
            got,
            vec![
                mailbox_of(Some("Doe, John"), None, "john.doe", "example.com"),
                mailbox_of(Some("Jane Roe"), None, "jane", "example.org"),
                mailbox_of(Some("=?utf-8?q?J=C3=B6rg?="), None, "j", "x.de"),
            ]
        );
    }

    #[test]
    fn groups_routes_and_quoted_local_parts() {
        let got = parse_addresses(b"Team: a@x, \"b c\"@y;, undisclosed-recipients:;, <@r1,@r2:d@z>");
        assert_eq!(
            got,
            vec![
                Address::Group {
                    name: b"Team".to_vec(),
                    members: vec![mailbox_of(None, None, "a", "x"), mailbox_of(None, None, "b c", "y")],
                },
                Address::Group { name: b"undisclosed-recipients".to_vec(), members: vec![] },
                mailbox_of(None, Some("@r1,@r2"), "d", "z"),
            ]
        );
    }

    #[test]
    fn broken_forms_are_best_effort() {
        assert_eq!(parse_addresses(b"just a name"), vec![mailbox_of(None, None, "just a name", "")]);
        assert_eq!(parse_addresses(b"<>"), vec![]);
        assert_eq!(parse_addresses(b",, ,"), vec![]);
        assert_eq!(parse_addresses(b"A <a@b"), vec![mailbox_of(Some("A"), None, "a", "b")]);
        assert_eq!(
            parse_addresses(b"J. Q. Public <p@[1.2.3.4]>"),
            vec![mailbox_of(Some("J. Q. Public"), None, "p", "[1.2.3.4]")]
        );
        assert_eq!(
            parse_addresses(b"a@b (x (nested) y)"),
            vec![mailbox_of(Some("x (nested) y"), None, "a", "b")]
        );
        assert_eq!(parse_addresses(b"a)b]@c"), vec![mailbox_of(None, None, "ab", "c")]);
        assert_eq!(
            parse_addresses(b"G: a@b"),
            vec![Address::Group { name: b"G".to_vec(), members: vec![mailbox_of(None, None, "a", "b")] }]
        );
    }

    #[test]
    fn addresses_are_bounded() {
        let mut value = Vec::new();
        for index in 0..ADDRESSES_MAX + 3 {
            value.extend_from_slice(format!("u{index}@x, ").as_bytes());
        }
        assert_eq!(parse_addresses(&value).len(), ADDRESSES_MAX);
    }
}
