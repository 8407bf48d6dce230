//! SEARCH helpers (RFC 9051 §6.4.4): HEADER/SUBJECT, FROM/TO/CC/BCC, BODY and TEXT keys
//! as case-insensitive substring matches on decoded text.
//!
//! Header values are unfolded and their RFC 2047 encoded words decoded (mail-parser);
//! bodies of text/* parts have their transfer encoding removed and their charset
//! converted to UTF-8 (mail-parser's charset tables), text/html is reduced to its text.
//! Both sides are then compared after simple case folding: the one-character lower-case
//! mapping plus the few characters whose folding differs from lower-casing (final sigma,
//! micro sign, long s, Greek symbol variants, ...), so `STRASSE` does not match `straße`
//! (that would need full folding) but `ΣΟΦΌΣ` matches `σοφός`.

use mail_parser::HeaderValue;
use mail_parser::parsers::MessageStream;

use super::header::{self, Field};
use super::{MessageSummary, Part, decode_body};

/// True if a field called `name` (ASCII case-insensitive) in `header_block` contains
/// `needle` in its decoded value. An empty needle matches any such field.
#[must_use]
pub fn header_matches(header_block: &[u8], name: &str, needle: &str) -> bool {
    let needle = fold(needle);
    named_fields(header_block, name)
        .any(|field| needle.is_empty() || fold(&decode_text_field(field.value)).contains(&needle))
}

/// True if a raw (unfolded) field value contains `needle` once its encoded words are
/// decoded, as [`header_matches`] does for each field it finds; SUBJECT uses it on the
/// stored envelope's Subject without reading the message.
#[must_use]
pub fn value_matches(raw_value: &[u8], needle: &str) -> bool {
    if let Some(plain) = plain_ascii(raw_value)
        && needle.is_ascii()
    {
        return contains_ignore_ascii_case(plain, needle.as_bytes());
    }
    let needle = fold(needle);
    needle.is_empty() || fold(&decode_text_field(raw_value)).contains(&needle)
}

/// The decoded text of a field value that decoding would not change beyond trimming its
/// ends: printable ASCII, no encoded word, no run of spaces. Most subjects are; matching
/// them needs no allocation (SEARCH SUBJECT judges every message of a mailbox). For ASCII
/// text, simple case folding is ASCII lower-casing.
fn plain_ascii(value: &[u8]) -> Option<&[u8]> {
    let printable = value.iter().all(|&byte| (b' '..=b'~').contains(&byte));
    let plain = printable && !value.windows(2).any(|pair| pair == b"=?" || pair == b"  ");
    plain.then(|| value.trim_ascii())
}

fn contains_ignore_ascii_case(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|window| window.eq_ignore_ascii_case(needle))
}

/// FROM/TO/CC/BCC: true if a field called `field` contains `needle` in an address's
/// decoded display name, in its address, or anywhere in the decoded field text (so a
/// needle spanning name and address, or a group name, matches too).
#[must_use]
pub fn address_matches(header_block: &[u8], field: &str, needle: &str) -> bool {
    let needle = fold(needle);
    named_fields(header_block, field).any(|field| {
        if needle.is_empty() || fold(&decode_text_field(field.value)).contains(&needle) {
            return true;
        }
        let buffer = line(field.value);
        let HeaderValue::Address(addresses) = MessageStream::new(&buffer).parse_address() else {
            return false;
        };
        let group_names =
            addresses.as_group().unwrap_or_default().iter().filter_map(|group| group.name.as_deref());
        let texts = addresses
            .iter()
            .flat_map(|address| [address.name.as_deref(), address.address.as_deref()])
            .flatten();
        group_names.chain(texts).any(|text| fold(text).contains(&needle))
    })
}

/// BODY: true if the decoded text of a text/* part of the message (embedded messages'
/// parts included) contains `needle`. `message` is the bytes the summary was made from.
#[must_use]
pub fn body_matches(message: &[u8], summary: &MessageSummary, needle: &str) -> bool {
    body_contains(message, summary, &fold(needle))
}

/// TEXT: true if `needle` is in any header of the message (the message's own, each MIME
/// part's, each embedded message's; field name and decoded value, as `name: value`) or
/// in its body as for [`body_matches`].
#[must_use]
pub fn text_matches(message: &[u8], summary: &MessageSummary, needle: &str) -> bool {
    let needle = fold(needle);
    let headers_contain = parts(summary).any(|part| {
        let Some(block) = slice(message, &part.header) else {
            return false;
        };
        header::fields(block).any(|field| {
            let mut text = String::from_utf8_lossy(field.name).into_owned();
            text.push_str(": ");
            text.push_str(&decode_text_field(field.value));
            fold(&text).contains(&needle)
        })
    });
    headers_contain || body_contains(message, summary, &needle)
}

fn body_contains(message: &[u8], summary: &MessageSummary, folded_needle: &str) -> bool {
    parts(summary).filter(|part| part.is_text()).any(|part| {
        slice(message, &part.body).is_some_and(|body| fold(&part_text(part, body)).contains(folded_needle))
    })
}

/// Every part of the summary, embedded messages' parts included, without recursion.
fn parts(summary: &MessageSummary) -> impl Iterator<Item = &Part> {
    let mut stack = vec![&summary.root];
    std::iter::from_fn(move || {
        let part = stack.pop()?;
        stack.extend(part.children.iter().rev());
        if let Some(embedded) = &part.message {
            stack.push(&embedded.1);
        }
        Some(part)
    })
}

fn named_fields<'a>(header_block: &'a [u8], name: &'a str) -> impl Iterator<Item = Field<'a>> {
    header::fields(header_block).filter(move |field| field.name.eq_ignore_ascii_case(name.as_bytes()))
}

fn slice<'a>(message: &'a [u8], range: &std::ops::Range<u64>) -> Option<&'a [u8]> {
    let start = usize::try_from(range.start).ok()?;
    let end = usize::try_from(range.end).ok()?;
    message.get(start..end)
}

/// A field value as mail-parser wants it: ending in a line feed.
fn line(value: &[u8]) -> Vec<u8> {
    let mut buffer = Vec::with_capacity(value.len() + 1);
    buffer.extend_from_slice(value);
    buffer.push(b'\n');
    buffer
}

/// A field value unfolded, RFC 2047 words decoded, white space runs collapsed.
pub(crate) fn decode_text_field(value: &[u8]) -> String {
    let buffer = line(value);
    match MessageStream::new(&buffer).parse_unstructured() {
        HeaderValue::Text(text) => text.into_owned(),
        _ => String::new(),
    }
}

/// The text of a text/* part body: transfer encoding removed (left as is when unknown),
/// charset converted, HTML reduced to text.
pub(crate) fn part_text(part: &Part, body: &[u8]) -> String {
    let decoded = decode_body(body, &part.encoding).unwrap_or_else(|_| body.to_vec());
    let decoder = part.param(b"charset").and_then(mail_parser::decoders::charsets::map::charset_decoder);
    let text = match decoder {
        Some(decoder) => decoder(&decoded),
        None => String::from_utf8(decoded)
            .unwrap_or_else(|error| String::from_utf8_lossy(error.as_bytes()).into_owned()),
    };
    if part.media_subtype.eq_ignore_ascii_case(b"html") {
        mail_parser::decoders::html::html_to_text(&text)
    } else {
        text
    }
}

/// Simple case folding (module docs).
pub(crate) fn fold(text: &str) -> String {
    text.chars().map(fold_char).collect()
}

pub(crate) fn fold_char(character: char) -> char {
    if character.is_ascii() {
        return character.to_ascii_lowercase();
    }
    match character {
        '\u{b5}' => 'μ',
        'ſ' => 's',
        '\u{345}' | '\u{1fbe}' => 'ι',
        'ς' => 'σ',
        'ϐ' => 'β',
        'ϑ' => 'θ',
        'ϕ' => 'φ',
        'ϖ' => 'π',
        'ϰ' => 'κ',
        'ϱ' => 'ρ',
        'ϵ' => 'ε',
        '\u{1c80}' => 'в',
        '\u{1c81}' => 'д',
        '\u{1c82}' => 'о',
        '\u{1c83}' => 'с',
        '\u{1c84}' | '\u{1c85}' => 'т',
        '\u{1c86}' => 'ъ',
        '\u{1c87}' => 'ѣ',
        '\u{1c88}' => '\u{a64b}',
        '\u{1e9b}' => '\u{1e61}',
        '\u{fb05}' => '\u{fb06}',
        '\u{1fd3}' => '\u{390}',
        '\u{1fe3}' => '\u{3b0}',
        _ => {
            let mut lower = character.to_lowercase();
            match (lower.next(), lower.next()) {
                (Some(single), None) => single,
                _ => character, // no one-character mapping: simple folding keeps it
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    proptest::proptest! {
        /// The allocation-free path for plain ASCII values answers as decoding and folding
        /// do, whatever the value (spaces, `=?`, control and non-ASCII bytes) and needle.
        #[test]
        fn plain_values_match_as_decoded_ones(
            value in proptest::collection::vec(proptest::sample::select(
                b" \t\r\n=?aAbBzZ09.-_:~\x7f\xc3\xa9".to_vec()), 0..24),
            needle in "[ aAbBzZ09.=?é\u{212a}ſK-]{0,5}",
        ) {
            let slow = {
                let folded = fold(&needle);
                folded.is_empty() || fold(&decode_text_field(&value)).contains(&folded)
            };
            proptest::prop_assert_eq!(value_matches(&value, &needle), slow);
        }
    }

    #[test]
    fn folding() {
        assert_eq!(fold("HeLLo ΣΟΦΌΣ σοφός Straße µ ſ İ K"), "hello σοφόσ σοφόσ straße μ s İ k");
    }

    #[test]
    fn decoded_fields() {
        assert_eq!(decode_text_field(b" =?ISO-8859-1?Q?Caf=E9?=\r\n  au lait"), "Café au lait");
        assert_eq!(decode_text_field(b""), "");
    }
}
