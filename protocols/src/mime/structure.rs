//! [`summarize`] and what every way of building a summary shares: how a header block
//! describes its part (RFC 2045 §5, §6; RFC 2046 §5.1.5 digests), which parts are
//! containers, which header bytes are considered ([`HEADER_BYTES_MAX`],
//! [`SUMMARY_HEADER_BYTES_MAX`]), and the arena of parts folded into the tree at the end.
//!
//! The MIME tree itself (RFC 2045, RFC 2046 §5) is found by [`Summarizer`] while the
//! message streams in. Each entity (the message, a multipart child, an embedded message)
//! is a byte range: its header runs to the first empty line, its body is the rest. A
//! multipart body is split at delimiter lines `--boundary` (RFC 2046 §5.1.1): the
//! delimiter must start a line and be followed only by white space (or `--` for the close
//! delimiter); the line break before a delimiter belongs to the delimiter, so a child ends
//! before it. A missing close delimiter ends the last child at the end of the multipart.
//! An enclosing multipart's delimiter ends every part inside it.

use super::envelope::HeaderInfo;
use super::header::unfold;
use super::{Envelope, MessageSummary, Part, Summarizer, params};

/// Summarizes a message held in memory: its envelope, its MIME tree with byte ranges, its
/// Date. The same as feeding the bytes to a [`Summarizer`] in any pieces. Never panics;
/// malformed input gives a best-effort summary (an empty or header-less message is a
/// text/plain part).
#[must_use]
pub fn summarize(message: &[u8]) -> MessageSummary {
    let mut summarizer = Summarizer::new();
    summarizer.feed(message);
    summarizer.finish()
}

/// How a part hangs off its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link {
    /// The top-level message.
    Root,
    /// A child of a multipart.
    Child,
    /// The embedded message of a message/rfc822 part.
    Embedded,
}

/// A summarized part waiting to be attached to its parent.
#[derive(Debug, Default)]
pub(crate) struct Node {
    pub(crate) part: Part,
    pub(crate) parent: usize,
    /// For an embedded message's root: that message's envelope.
    pub(crate) envelope: Option<Box<Envelope>>,
}

/// The header bytes [`HeaderInfo`] looks at: a header's fields (the header block without
/// its ending empty line) are `fields_length` bytes long and `fields` holds at least the
/// first `min(fields_length, allowance)` of them. Fields that fit the allowance are all
/// considered; otherwise the allowance is cut back to its last line break, so a line
/// crossing the limit is left out rather than read truncated.
pub(crate) fn considered(fields: &[u8], fields_length: usize, allowance: usize) -> &[u8] {
    if fields_length <= allowance {
        return fields.get(..fields_length).unwrap_or(fields);
    }
    let window = fields.get(..allowance).unwrap_or(fields);
    memchr::memrchr(b'\n', window).map_or(&[][..], |newline| &window[..=newline])
}

/// The part as its header describes it, ranges and sizes left for the caller.
pub(crate) fn describe(info: &HeaderInfo<'_>, in_digest: bool) -> Part {
    let content_type = info.content_type.map(unfold).and_then(|value| params::content_type(&value));
    let (media_type, media_subtype, params) = match content_type {
        Some(found) => found,
        // RFC 2046 §5.1.5: in a digest, the default is message/rfc822.
        None if in_digest => (b"message".to_vec(), b"rfc822".to_vec(), Vec::new()),
        // RFC 2045 §5.2: the default, also for a Content-Type that does not parse.
        None => (b"text".to_vec(), b"plain".to_vec(), vec![(b"charset".to_vec(), b"us-ascii".to_vec())]),
    };
    let encoding = info
        .transfer_encoding
        .map(|value| params::first_token(&unfold(value)).to_vec())
        .filter(|token| !token.is_empty())
        .unwrap_or_else(|| b"7BIT".to_vec()); // RFC 2045 §6.1 default
    let text = |value: Option<&[u8]>| value.map(unfold).filter(|value| !value.is_empty());
    let language = info
        .language
        .map(|value| {
            unfold(value)
                .split(|&byte| byte == b',')
                .map(|tag| params::first_token(tag).to_vec())
                .filter(|tag| !tag.is_empty())
                .collect()
        })
        .unwrap_or_default();
    Part {
        media_type,
        media_subtype,
        params,
        id: text(info.content_id),
        description: text(info.description),
        encoding,
        md5: text(info.md5),
        disposition: info.disposition.map(unfold).and_then(|value| params::disposition(&value)),
        language,
        // RFC 2557 lets a long URI be folded anywhere: white space in it came from folding.
        location: text(info.location)
            .map(|value| value.into_iter().filter(|&byte| byte != b' ' && byte != b'\t').collect()),
        ..Part::default()
    }
}

/// message/rfc822 or message/global (RFC 6532 §3.7).
pub(crate) fn is_message_type(part: &Part) -> bool {
    part.media_type.eq_ignore_ascii_case(b"message")
        && (part.media_subtype.eq_ignore_ascii_case(b"rfc822")
            || part.media_subtype.eq_ignore_ascii_case(b"global"))
}

/// A message part whose body is the embedded message's bytes as they are. RFC 2046
/// §5.2.1 forbids other transfer encodings; a base64 one is kept as an opaque leaf since
/// its inner offsets would not be offsets into the file.
pub(crate) fn is_embedded_message(part: &Part) -> bool {
    let identity = [&b"7bit"[..], b"8bit", b"binary"];
    is_message_type(part) && identity.iter().any(|name| part.encoding.eq_ignore_ascii_case(name))
}

/// A container we may not open (depth or part limit): one text/plain body.
pub(crate) fn make_text_leaf(part: &mut Part) {
    part.media_type = b"text".to_vec();
    part.media_subtype = b"plain".to_vec();
    part.params.clear();
}

/// True when the part's `lines` is counted (RFC 9051 §7.5.2: text/* and message/rfc822).
pub(crate) fn counts_lines(part: &Part) -> bool {
    part.is_text() || is_message_type(part)
}

pub(crate) fn to_u64(value: usize) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

/// Folds the arena into the tree. Children have larger indices than their parents, so
/// walking backwards attaches every part before its parent is moved.
pub(crate) fn assemble(mut nodes: Vec<Node>) -> Part {
    for index in (1..nodes.len()).rev() {
        let node = std::mem::take(&mut nodes[index]);
        let mut part = node.part;
        part.children.reverse(); // attached last-first
        let Some(parent) = nodes.get_mut(node.parent) else {
            continue;
        };
        match node.envelope {
            Some(envelope) => parent.part.message = Some(Box::new((*envelope, part))),
            None => parent.part.children.push(part),
        }
    }
    let mut root = nodes.into_iter().next().map(|node| node.part).unwrap_or_default();
    root.children.reverse();
    root
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn considered_cuts_at_a_line_break() {
        let fields = b"A: 1\r\nB: 2\r\nC: 3";
        assert_eq!(considered(fields, fields.len(), 100), &fields[..]);
        assert_eq!(considered(fields, fields.len(), fields.len()), &fields[..]);
        assert_eq!(considered(fields, fields.len(), 13), b"A: 1\r\nB: 2\r\n");
        assert_eq!(considered(fields, fields.len(), 12), b"A: 1\r\nB: 2\r\n");
        assert_eq!(considered(fields, fields.len(), 11), b"A: 1\r\n");
        assert_eq!(considered(fields, fields.len(), 3), b"");
        // Only a prefix held: the length decides, not what is held.
        assert_eq!(considered(&fields[..5], fields.len(), 5), b"");
        assert_eq!(considered(&fields[..4], 4, 5), b"A: 1");
    }
}
