//! [`summarize`]: the MIME tree of a message (RFC 2045, RFC 2046 §5) with exact byte
//! ranges, built without recursion.
//!
//! Each entity (the message, a multipart child, an embedded message) is a byte range: its
//! header runs to the first empty line, its body is the rest. A multipart body is split
//! at delimiter lines `--boundary` (RFC 2046 §5.1.1): the delimiter must start a line and
//! be followed only by white space (or `--` for the close delimiter); the line break
//! before a delimiter belongs to the delimiter, so a child ends before it. A missing close
//! delimiter ends the last child at the end of the multipart; an outer delimiter inside an
//! inner part cannot occur in valid MIME and is not looked for.
//!
//! Work items wait on an explicit stack, children pushed in reverse so parts are numbered
//! in document order; nodes go to a flat arena (parents before children) that is folded
//! into the tree at the end. [`PART_DEPTH_MAX`] and [`PARTS_MAX`] bound both.

use std::ops::Range;

use memchr::memmem;

use super::envelope::HeaderInfo;
use super::header::{self, unfold};
use super::{Envelope, MessageSummary, PART_DEPTH_MAX, PARTS_MAX, Part, params};

/// How a work item hangs off its parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// The top-level message.
    Root,
    /// A child of a multipart.
    Child,
    /// The embedded message of a message/rfc822 part.
    Embedded,
}

/// An entity waiting to be summarized.
#[derive(Debug)]
struct Work {
    range: Range<usize>,
    depth: usize,
    parent: usize,
    link: Link,
    /// The parent is a multipart/digest: the default type is message/rfc822 (RFC 2046 §5.1.5).
    in_digest: bool,
}

/// A summarized part waiting to be attached to its parent.
#[derive(Debug, Default)]
struct Node {
    part: Part,
    parent: usize,
    /// For an embedded message's root: that message's envelope.
    envelope: Option<Envelope>,
}

/// Summarizes a message: its envelope, its MIME tree with byte ranges, its Date. Never
/// panics; malformed input gives a best-effort summary (an empty or header-less message
/// is a text/plain part).
#[must_use]
pub fn summarize(message: &[u8]) -> MessageSummary {
    let mut builder =
        Builder { message, nodes: Vec::new(), stack: Vec::new(), summary: MessageSummary::default() };
    builder.stack.push(Work {
        range: 0..message.len(),
        depth: 0,
        parent: 0,
        link: Link::Root,
        in_digest: false,
    });
    while let Some(work) = builder.stack.pop() {
        builder.process(work);
    }
    let mut summary = std::mem::take(&mut builder.summary);
    summary.root = assemble(builder.nodes);
    summary
}

struct Builder<'a> {
    message: &'a [u8],
    nodes: Vec<Node>,
    stack: Vec<Work>,
    summary: MessageSummary,
}

impl Builder<'_> {
    fn process(&mut self, work: Work) {
        let entity = self.message.get(work.range.clone()).unwrap_or_default();
        let header_length = header::header_len(entity);
        let body_start = work.range.start + header_length;
        let body = &entity[header_length..];
        let info = HeaderInfo::collect(&entity[..header_length]);
        let envelope = match work.link {
            Link::Root => {
                self.summary.envelope = info.envelope();
                self.summary.date_unix_secs = info.date_unix_secs();
                None
            }
            Link::Embedded => Some(info.envelope()),
            Link::Child => None,
        };
        let mut part = describe(&info, work.in_digest);
        part.header = to_u64(work.range.start)..to_u64(body_start);
        part.body = to_u64(body_start)..to_u64(work.range.end);
        part.size = to_u64(body.len());
        let index = self.nodes.len();
        // Parts still allowed after this one, minus those already promised to waiting work.
        let available = PARTS_MAX.saturating_sub(index + 1 + self.stack.len());
        let can_nest = work.depth < PART_DEPTH_MAX && available > 0;
        if part.is_multipart() {
            if can_nest {
                let in_digest = part.media_subtype.eq_ignore_ascii_case(b"digest");
                let children = part.param(b"boundary").map(|boundary| split_multipart(body, boundary));
                let children = fold_excess(children.unwrap_or_default(), available);
                for child in children.into_iter().rev() {
                    let range = body_start + child.start..body_start + child.end;
                    let link = Link::Child;
                    self.stack.push(Work { range, depth: work.depth + 1, parent: index, link, in_digest });
                }
            } else {
                make_text_leaf(&mut part);
            }
        } else if is_embedded_message(&part) {
            if can_nest {
                let range = body_start..work.range.end;
                let link = Link::Embedded;
                self.stack.push(Work { range, depth: work.depth + 1, parent: index, link, in_digest: false });
            } else {
                make_text_leaf(&mut part);
            }
        }
        if part.is_text() || is_message_type(&part) {
            part.lines = count_lines(body);
        }
        self.nodes.push(Node { part, parent: work.parent, envelope });
    }
}

/// The part as its header describes it, ranges and sizes left for the caller.
fn describe(info: &HeaderInfo<'_>, in_digest: bool) -> Part {
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
fn is_message_type(part: &Part) -> bool {
    part.media_type.eq_ignore_ascii_case(b"message")
        && (part.media_subtype.eq_ignore_ascii_case(b"rfc822")
            || part.media_subtype.eq_ignore_ascii_case(b"global"))
}

/// A message part whose body is the embedded message's bytes as they are. RFC 2046
/// §5.2.1 forbids other transfer encodings; a base64 one is kept as an opaque leaf since
/// its inner offsets would not be offsets into the file.
fn is_embedded_message(part: &Part) -> bool {
    let identity = [&b"7bit"[..], b"8bit", b"binary"];
    is_message_type(part) && identity.iter().any(|name| part.encoding.eq_ignore_ascii_case(name))
}

/// A container we may not open (depth or part limit): one text/plain body.
fn make_text_leaf(part: &mut Part) {
    part.media_type = b"text".to_vec();
    part.media_subtype = b"plain".to_vec();
    part.params.clear();
}

/// Lines of a body: line feeds, plus one for a last line without its line feed.
pub(crate) fn count_lines(body: &[u8]) -> u64 {
    let feeds = to_u64(memchr::memchr_iter(b'\n', body).count());
    let unterminated = u64::from(body.last().is_some_and(|&byte| byte != b'\n'));
    feeds + unterminated
}

fn to_u64(value: usize) -> u64 {
    u64::try_from(value).unwrap_or(u64::MAX)
}

/// The children of a multipart body, as ranges relative to `body`.
fn split_multipart(body: &[u8], boundary: &[u8]) -> Vec<Range<usize>> {
    let mut children = Vec::new();
    if boundary.is_empty() {
        return children;
    }
    let mut needle = b"\n--".to_vec();
    needle.extend_from_slice(boundary);
    let at_start = body.starts_with(&needle[1..]).then_some(0);
    let line_starts = at_start.into_iter().chain(memmem::find_iter(body, &needle).map(|found| found + 1));
    let mut open: Option<usize> = None;
    for line_start in line_starts {
        let after = line_start + needle.len() - 1;
        let rest = &body[after..];
        let closing = rest.starts_with(b"--");
        let line_end = memchr::memchr(b'\n', rest).map_or(body.len(), |newline| after + newline + 1);
        if !closing && !header::trim(&body[after..line_end]).is_empty() {
            continue; // `--boundary-more`: another boundary, not ours
        }
        if let Some(start) = open {
            children.push(start..end_before_line_break(body, start, line_start));
        }
        if closing {
            return children;
        }
        open = Some(line_end);
    }
    if let Some(start) = open {
        children.push(start..body.len());
    }
    children
}

/// The end of a child that a delimiter line at `line_start` follows: the line break just
/// before the delimiter belongs to it (RFC 2046 §5.1.1), unless that break is not part
/// of the child (an empty child).
fn end_before_line_break(body: &[u8], start: usize, line_start: usize) -> usize {
    let mut end = line_start;
    if end > start && body[end - 1] == b'\n' {
        end -= 1;
        if end > start && body[end - 1] == b'\r' {
            end -= 1;
        }
    }
    end
}

/// Keeps at most `available` children; the last kept one spans the rest.
fn fold_excess(mut children: Vec<Range<usize>>, available: usize) -> Vec<Range<usize>> {
    if children.len() > available
        && let Some(last_end) = children.last().map(|last| last.end)
    {
        children.truncate(available);
        if let Some(last) = children.last_mut() {
            last.end = last_end;
        }
    }
    children
}

/// Folds the arena into the tree. Children have larger indices than their parents, so
/// walking backwards attaches every part before its parent is moved.
fn assemble(mut nodes: Vec<Node>) -> Part {
    for index in (1..nodes.len()).rev() {
        let node = std::mem::take(&mut nodes[index]);
        let mut part = node.part;
        part.children.reverse(); // attached last-first
        let Some(parent) = nodes.get_mut(node.parent) else {
            continue;
        };
        match node.envelope {
            Some(envelope) => parent.part.message = Some(Box::new((envelope, part))),
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

    fn texts<'a>(body: &'a [u8], ranges: &[Range<usize>]) -> Vec<&'a str> {
        ranges.iter().map(|range| std::str::from_utf8(&body[range.clone()]).unwrap()).collect()
    }

    #[test]
    fn split_follows_rfc2046() {
        let body =
            b"preamble\r\n--b\r\nA: 1\r\n\r\none\r\n--b  \r\n\r\ntwo\r\n\r\n--b--\r\nepilogue\r\n--b\r\nno";
        let children = split_multipart(body, b"b");
        assert_eq!(texts(body, &children), vec!["A: 1\r\n\r\none", "\r\ntwo\r\n"]);
    }

    #[test]
    fn split_edge_cases() {
        let body = b"--b\n--b\nx\n--bc\ny\n--b";
        assert_eq!(texts(body, &split_multipart(body, b"b")), vec!["", "x\n--bc\ny", ""]);
        let body = b"--b\r\nunclosed\r\n";
        assert_eq!(texts(body, &split_multipart(body, b"b")), vec!["unclosed\r\n"]);
        assert!(split_multipart(b"no delimiters", b"b").is_empty());
        assert!(split_multipart(b"--\r\n", b"").is_empty());
    }

    #[test]
    fn fold_keeps_the_span() {
        assert_eq!(fold_excess(vec![0..1, 2..3, 4..5], 2), vec![0..1, 2..5]);
        assert_eq!(fold_excess(vec![0..1, 2..3], 2), vec![0..1, 2..3]);
    }

    #[test]
    fn lines() {
        assert_eq!(count_lines(b""), 0);
        assert_eq!(count_lines(b"a"), 1);
        assert_eq!(count_lines(b"a\r\n"), 1);
        assert_eq!(count_lines(b"a\r\nb"), 2);
        assert_eq!(count_lines(b"\n\n"), 2);
    }
}
