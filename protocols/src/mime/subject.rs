//! The base subject of RFC 5256 §2.1, which SORT SUBJECT and both THREAD algorithms
//! compare: RFC 2047 words decoded, white space collapsed, then reply and forward
//! markers (`Re:`, `Fwd:`, `[list]` blobs, a trailing `(fwd)`, a `[fwd: ...]` wrapper)
//! stripped until none is left; and the folding SORT's strings compare under.
//!
//! Comparison: RFC 5256 §1 asks for the collation of I18NLEVEL=1, i;unicode-casemap
//! (RFC 5051 §2): each character to its titlecase, then compatibility decomposition
//! (NFKD), then octet order. We map with Rust's uppercase where it is one character
//! (titlecase differs only for a few digraphs such as `ǆ`, and uppercase keeps those as
//! they are), then NFKD.
//!
//! Invariant: each strip step removes at least one character or stops, so the loops end
//! after at most as many rounds as the subject has characters.

use unicode_normalization::UnicodeNormalization as _;

use super::search::decode_text_field;

/// A subject reduced to its base (RFC 5256 §2.1), folded for comparison.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BaseSubject {
    /// The base subject, case-folded.
    pub text: String,
    /// Whether a reply or forward marker was removed (THREAD=REFERENCES step 5 prefers
    /// an original message over a reply as a thread's subject holder).
    pub reply_or_forward: bool,
}

impl BaseSubject {
    /// The base subject of a raw Subject value (as stored in the envelope).
    #[must_use]
    pub fn of(raw: &[u8]) -> BaseSubject {
        // Step 1: decode, tabs and continuations to spaces, runs of spaces to one. Most
        // subjects have no encoded word: they skip the decoder (a SORT of 100k messages
        // computes 100k base subjects).
        let decoded = if memchr::memmem::find(raw, b"=?").is_none() {
            String::from_utf8_lossy(raw).into_owned()
        } else {
            decode_text_field(raw)
        };
        let mut collapsed = String::with_capacity(decoded.len());
        for character in decoded.chars() {
            let character = if character.is_whitespace() { ' ' } else { character };
            if !(character == ' ' && collapsed.ends_with(' ')) {
                collapsed.push(character);
            }
        }
        let (base, reply_or_forward) = strip(&collapsed);
        BaseSubject { text: fold_for_sort(base), reply_or_forward }
    }
}

/// Steps 2 to 6 of RFC 5256 §2.1 on a collapsed subject.
fn strip(mut subject: &str) -> (&str, bool) {
    let mut marked = false;
    loop {
        // Step 2: trailers, `(fwd)` or white space, repeatedly.
        loop {
            let trimmed = subject.trim_end_matches(' ');
            if trimmed.len() < subject.len() {
                subject = trimmed;
            } else if let Some(rest) = strip_suffix_ignore_case(subject, "(fwd)") {
                subject = rest;
                marked = true;
            } else {
                break;
            }
        }
        // Steps 3 to 5: leaders and blobs, until neither matches.
        loop {
            let trimmed = subject.trim_start_matches(' ');
            if let Some(rest) = strip_leader(trimmed) {
                subject = rest;
                marked = true;
            } else if let Some(rest) = strip_blob(trimmed).filter(|rest| rest.contains(|c| c != ' ')) {
                subject = rest;
            } else if trimmed.len() < subject.len() {
                subject = trimmed;
            } else {
                break;
            }
        }
        // Step 6: a `[fwd: ...]` wrapper, then back to step 2.
        match strip_prefix_ignore_case(subject, "[fwd:").and_then(|rest| rest.strip_suffix(']')) {
            Some(inner) => {
                subject = inner;
                marked = true;
            }
            None => return (subject, marked),
        }
    }
}

/// `subj-leader = (*subj-blob subj-refwd) / WSP`; white space is handled by the caller.
/// `subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"`.
fn strip_leader(subject: &str) -> Option<&str> {
    let mut rest = subject;
    while let Some(after) = strip_blob(rest) {
        rest = after;
    }
    rest = strip_prefix_ignore_case(rest, "re")
        .or_else(|| strip_prefix_ignore_case(rest, "fwd"))
        .or_else(|| strip_prefix_ignore_case(rest, "fw"))?;
    rest = rest.trim_start_matches(' ');
    if let Some(after) = strip_blob(rest) {
        rest = after;
    }
    rest.strip_prefix(':')
}

/// `subj-blob = "[" *BLOBCHAR "]" *WSP`, BLOBCHAR being any CHAR but `[` and `]`.
fn strip_blob(subject: &str) -> Option<&str> {
    let inner = subject.strip_prefix('[')?;
    let end = inner.find(['[', ']'])?;
    inner[end..].strip_prefix(']').map(|rest| rest.trim_start_matches(' '))
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then(|| &text[prefix.len()..])
}

fn strip_suffix_ignore_case<'a>(text: &'a str, suffix: &str) -> Option<&'a str> {
    let start = text.len().checked_sub(suffix.len())?;
    let tail = text.get(start..)?;
    tail.eq_ignore_ascii_case(suffix).then(|| &text[..start])
}

/// A display name or other phrase as a person reads it: RFC 2047 words decoded, white
/// space collapsed (SORT DISPLAYFROM/DISPLAYTO, RFC 5957 §3).
#[must_use]
pub fn decode_phrase(raw: &[u8]) -> String {
    decode_text_field(raw)
}

/// A string folded the way SORT compares strings (module docs).
#[must_use]
pub fn fold_for_sort(text: &str) -> String {
    if text.is_ascii() {
        return text.to_ascii_uppercase(); // NFKD leaves ASCII as it is
    }
    text.chars().map(titlecase).nfkd().collect()
}

fn titlecase(character: char) -> char {
    if character.is_ascii() {
        return character.to_ascii_uppercase();
    }
    let mut upper = character.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(single), None) => single,
        _ => character, // `ß` and others map to several: their titlecase is themselves or close
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn base(raw: &str) -> (String, bool) {
        let subject = BaseSubject::of(raw.as_bytes());
        (subject.text, subject.reply_or_forward)
    }

    #[test]
    fn markers_and_blobs_are_stripped() {
        assert_eq!(base("Hello"), ("HELLO".into(), false));
        assert_eq!(base("Re: Hello"), ("HELLO".into(), true));
        assert_eq!(base("RE: re:  Fwd: hello  "), ("HELLO".into(), true));
        assert_eq!(base("Re[2]: hello"), ("HELLO".into(), true));
        assert_eq!(base("[list] Re: hello (fwd)"), ("HELLO".into(), true));
        assert_eq!(base("[list] hello"), ("HELLO".into(), false));
        assert_eq!(base("[Fwd: Re: hello]"), ("HELLO".into(), true));
        assert_eq!(base("Fw: [Fwd: hello (fwd)]"), ("HELLO".into(), true));
        assert_eq!(base("\tHello \t  world"), ("HELLO WORLD".into(), false));
    }

    #[test]
    fn edge_cases_keep_what_is_not_a_marker() {
        // A blob that is all there is stays: removing it would leave nothing.
        assert_eq!(base("[list]"), ("[LIST]".into(), false));
        assert_eq!(base("Re:"), (String::new(), true));
        assert_eq!(base("Reply to all"), ("REPLY TO ALL".into(), false));
        assert_eq!(base("Fwd hello"), ("FWD HELLO".into(), false));
        assert_eq!(base(""), (String::new(), false));
        assert_eq!(base("[a[b]: x"), ("[A[B]: X".into(), false));
        assert_eq!(base("=?utf-8?q?R=C3=A9sum=C3=A9?="), ("RE\u{301}SUME\u{301}".into(), false));
        assert_eq!(base("Re: =?utf-8?q?=C3=84rger?="), ("A\u{308}RGER".into(), true));
    }
}
