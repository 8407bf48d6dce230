//! PREVIEW text (RFC 8970): a short plain-text excerpt of a message for a message list,
//! made once from the message's first text part and kept in its stored summary.
//!
//! The part is the first text/plain leaf that is not an attachment, else the first
//! text/html one, in document order, outside embedded messages (a forwarded message's
//! text is not the message's own). Only the first [`PREVIEW_SOURCE_BYTES_MAX`] bytes of
//! its body are looked at: transfer encoding removed, charset converted, HTML reduced
//! to its text (as SEARCH does), then quoted lines (`>`) dropped, everything from a
//! signature separator (`-- `) on dropped, white space runs collapsed to one space, and
//! the result cut to [`PREVIEW_CHARS_MAX`] characters. A message with no such part, or
//! with nothing left, has the empty preview (RFC 8970 lets the server return an
//! empty string when it has no preview).
//!
//! [`super::Summarizer`] keeps those source bytes while the message streams in (one
//! buffer of at most [`PREVIEW_SOURCE_BYTES_MAX`] per message) and makes the text at
//! `finish`; for a summary stored before previews were kept, [`preview_source`] names
//! the range of the file to read and [`preview_text`] makes the same text from it.

use std::ops::Range;

use super::search::part_text;
use super::{MessageSummary, Part};

/// Most characters of a preview: RFC 8970 says the text is at most 256 characters.
pub const PREVIEW_CHARS_MAX: usize = 256;

/// Bytes of the chosen part's body (still transfer-encoded) looked at for its preview.
/// 256 characters of text need a few hundred bytes of plain text, but an HTML part can
/// open with kilobytes of `<style>` and markup, and base64 adds a third: 32 KiB finds the
/// text of ordinary newsletters and is what a message in flight holds for it, whatever
/// the message's size. A preview made from a cut-off part is just shorter.
pub const PREVIEW_SOURCE_BYTES_MAX: usize = 32 * 1024;

const _: () = assert!(PREVIEW_SOURCE_BYTES_MAX >= 4 * PREVIEW_CHARS_MAX); // UTF-8 up to 4 bytes a character

/// How a part takes part in the choice of the preview's source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Candidate {
    /// text/plain: chosen, and the search ends.
    Plain,
    /// text/html: chosen unless a text/plain part comes later.
    Html,
    /// Anything else.
    No,
}

/// Whether `part` (a leaf, not inside an embedded message) can give the preview.
pub(crate) fn candidate(part: &Part) -> Candidate {
    let attachment = part
        .disposition
        .as_ref()
        .is_some_and(|(kind, _)| kind.trim_ascii().eq_ignore_ascii_case(b"attachment"));
    if attachment || !part.is_text() || !part.children.is_empty() || part.message.is_some() {
        return Candidate::No;
    }
    if part.media_subtype.eq_ignore_ascii_case(b"plain") {
        Candidate::Plain
    } else if part.media_subtype.eq_ignore_ascii_case(b"html") {
        Candidate::Html
    } else {
        Candidate::No
    }
}

/// The part a preview is made from (module docs), if any.
#[must_use]
pub fn preview_part(summary: &MessageSummary) -> Option<&Part> {
    let mut html = None;
    // Document order without recursion: a stack of parts still to visit, last first.
    // Embedded messages (`part.message`) are not entered.
    let mut stack = vec![&summary.root];
    while let Some(part) = stack.pop() {
        match candidate(part) {
            Candidate::Plain => return Some(part),
            Candidate::Html if html.is_none() => html = Some(part),
            _ => {}
        }
        stack.extend(part.children.iter().rev());
    }
    html
}

/// The range of the message file a preview is made from: the start of the chosen
/// part's body, at most [`PREVIEW_SOURCE_BYTES_MAX`] long; `None` when no part gives
/// one (the preview is then empty).
#[must_use]
pub fn preview_source(summary: &MessageSummary) -> Option<Range<u64>> {
    let body = &preview_part(summary)?.body;
    let length = (body.end.saturating_sub(body.start)).min(PREVIEW_SOURCE_BYTES_MAX as u64);
    Some(body.start..body.start + length)
}

/// The preview of a message whose summary is `summary`, made from `source`, the bytes
/// of [`preview_source`]'s range (empty when it named none).
#[must_use]
pub fn preview_text(summary: &MessageSummary, source: &[u8]) -> String {
    match preview_part(summary) {
        Some(part) => preview_of_part(part, source),
        None => String::new(),
    }
}

/// The preview made from `source`, the first bytes of `part`'s body.
pub(crate) fn preview_of_part(part: &Part, source: &[u8]) -> String {
    let source = &source[..source.len().min(PREVIEW_SOURCE_BYTES_MAX)];
    // Interop: 8-bit text labelled US-ASCII (or the MIME default) is UTF-8 in practice;
    // SEARCH's conversion would read it as Latin-1.
    let ascii = part.param(b"charset").is_none_or(|charset| {
        let charset = charset.trim_ascii();
        charset.eq_ignore_ascii_case(b"us-ascii") || charset.eq_ignore_ascii_case(b"ascii")
    });
    if ascii {
        let mut plain = part.clone();
        plain.params.retain(|(name, _)| !name.eq_ignore_ascii_case(b"charset"));
        plain.children.clear();
        return normalize(&part_text(&plain, source));
    }
    normalize(&part_text(part, source))
}

/// Quoted lines and the signature dropped, white space collapsed, cut to
/// [`PREVIEW_CHARS_MAX`] characters (module docs).
fn normalize(text: &str) -> String {
    let mut out = String::new();
    let mut chars = 0;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        // The usual signature separator, "-- " alone on a line (or its trimmed form).
        if line == "-- " || line == "--" {
            break;
        }
        if line.trim_start().starts_with('>') {
            continue;
        }
        let mut space_pending = !out.is_empty();
        for character in line.chars() {
            if character.is_whitespace() || character.is_control() {
                space_pending = !out.is_empty();
                continue;
            }
            let needed = 1 + usize::from(space_pending);
            if chars + needed > PREVIEW_CHARS_MAX {
                return out;
            }
            if space_pending {
                out.push(' ');
                space_pending = false;
            }
            out.push(character);
            chars += needed;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::mime::summarize;

    fn preview(message: &[u8]) -> String {
        let summary = summarize(message);
        let whole = preview_source(&summary)
            .map(|range| preview_text(&summary, &message[range.start as usize..range.end as usize]))
            .unwrap_or_default();
        assert_eq!(summary.preview.as_deref(), Some(whole.as_str()), "streamed and whole differ");
        whole
    }

    #[test]
    fn plain_text_is_collapsed() {
        let message = b"Subject: x\r\n\r\nHello   there,\r\n\r\n\tsecond\tline.\r\n";
        assert_eq!(preview(message), "Hello there, second line.");
    }

    #[test]
    fn quoted_printable_and_charset_are_decoded() {
        let message = b"Content-Type: text/plain; charset=iso-8859-1\r\n\
            Content-Transfer-Encoding: quoted-printable\r\n\r\n\
            Gr=FC=DFe aus K=F6ln, sehr =\r\nlang.\r\n";
        assert_eq!(preview(message), "Gr\u{fc}\u{df}e aus K\u{f6}ln, sehr lang.");
    }

    #[test]
    fn base64_is_decoded() {
        let message = b"Content-Type: text/plain; charset=utf-8\r\n\
            Content-Transfer-Encoding: base64\r\n\r\nSGVsbG8sIHfDtnJsZCE=\r\n";
        assert_eq!(preview(message), "Hello, w\u{f6}rld!");
    }

    #[test]
    fn html_is_reduced_to_text() {
        let message = b"Content-Type: text/html\r\n\r\n<html><head><style>p{color:red}</style></head>\
            <body><p>Hi <b>you</b> &amp; them</p></body></html>\r\n";
        assert_eq!(preview(message), "Hi you & them");
    }

    #[test]
    fn plain_is_preferred_in_alternatives_and_attachments_are_skipped() {
        let message = b"Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n\
            Content-Type: text/plain\r\nContent-Disposition: attachment\r\n\r\nnot this\r\n--o\r\n\
            Content-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\n\
            Content-Type: text/html\r\n\r\n<p>html text</p>\r\n--a\r\n\
            Content-Type: text/plain\r\n\r\nplain text\r\n--a--\r\n--o--\r\n";
        assert_eq!(preview(message), "plain text");
        let html_only = b"Content-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\n\
            Content-Type: text/html\r\n\r\n<p>html text</p>\r\n--a--\r\n";
        assert_eq!(preview(html_only), "html text");
    }

    #[test]
    fn forwarded_messages_are_not_entered() {
        let message = b"Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n\
            Content-Type: image/png\r\n\r\nxx\r\n--o\r\n\
            Content-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner text\r\n--o--\r\n";
        assert_eq!(preview(message), "");
    }

    #[test]
    fn quotes_and_signatures_are_dropped() {
        let message = b"\r\nMy answer.\r\n> their question\r\n>> older\r\nMore.\r\n-- \r\nSig line\r\n";
        assert_eq!(preview(message), "My answer. More.");
    }

    #[test]
    fn empty_and_long_bodies() {
        assert_eq!(preview(b"Subject: empty\r\n\r\n"), "");
        assert_eq!(preview(b"Subject: no body"), "");
        let mut long = b"Subject: long\r\n\r\n".to_vec();
        for _ in 0..10_000 {
            long.extend_from_slice("\u{e9}t\u{e9} ".as_bytes());
        }
        let text = preview(&long);
        // 63 words of 4 characters: the next would need a space and pass the limit.
        assert_eq!(text.chars().count(), PREVIEW_CHARS_MAX - 1);
        assert!(text.starts_with("\u{e9}t\u{e9} \u{e9}t\u{e9}"), "{text}");
        assert!(!text.ends_with(' '));
    }

    #[test]
    fn streamed_in_pieces_gives_the_same_preview() {
        let message = b"Content-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\n\
            Content-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n\
            line one=\r\n continues\r\n--a--\r\n";
        let whole = summarize(message);
        for size in [1, 2, 3, 7, 13] {
            let mut summarizer = crate::mime::Summarizer::new();
            for piece in message.chunks(size) {
                summarizer.feed(piece);
            }
            assert_eq!(summarizer.finish(), whole, "pieces of {size}");
        }
        assert_eq!(whole.preview.as_deref(), Some("line one continues"));
    }
}
