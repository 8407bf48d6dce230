//! The whole-buffer summarizer that [`super::Summarizer`] replaced, kept as the reference
//! the streaming one is tested against (unit tests, fuzz target `mime_stream`). It finds
//! the MIME tree of a message (RFC 2045, RFC 2046 §5) with every body in memory: each
//! multipart body is searched for its delimiter lines with `memmem`, children are pushed on
//! an explicit stack (no recursion), nodes go to a flat arena folded into the tree at the
//! end. Header bytes are considered under the same limits as the streaming summarizer.
//!
//! The two agree on every message with fewer than [`PARTS_MAX`] parts. At the limit they
//! differ by design: this one reserves parts for siblings waiting later in the message,
//! which a single pass cannot know of (see [`super::Summarizer`] for the streaming rule).

use std::ops::Range;

use memchr::memmem;

use super::envelope::HeaderInfo;
use super::header;
use super::structure::{
    Link, Node, assemble, considered, counts_lines, describe, is_embedded_message, make_text_leaf, to_u64,
};
use super::summarizer::HeaderLimits;
use super::{MessageSummary, PART_DEPTH_MAX, PARTS_MAX};

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

/// Summarizes a message held in memory, with the default header limits.
#[must_use]
pub fn summarize(message: &[u8]) -> MessageSummary {
    summarize_with(message, HeaderLimits::default())
}

/// Summarizes a message held in memory under the given header limits.
#[must_use]
pub(crate) fn summarize_with(message: &[u8], limits: HeaderLimits) -> MessageSummary {
    let mut builder = Builder {
        message,
        nodes: Vec::new(),
        stack: Vec::new(),
        summary: MessageSummary::default(),
        limits,
        budget_left: limits.summary_header_bytes_max,
    };
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
    // The preview from the whole message's bytes, as a stored summary's is made again.
    let source = super::preview_source(&summary).map_or(&[][..], |range| {
        let start = usize::try_from(range.start).unwrap_or(usize::MAX).min(message.len());
        let end = usize::try_from(range.end).unwrap_or(usize::MAX).min(message.len());
        &message[start..end]
    });
    summary.preview = Some(super::preview_text(&summary, source));
    summary
}

struct Builder<'a> {
    message: &'a [u8],
    nodes: Vec<Node>,
    stack: Vec<Work>,
    summary: MessageSummary,
    limits: HeaderLimits,
    /// Header bytes that later parts may still have considered.
    budget_left: usize,
}

impl Builder<'_> {
    fn process(&mut self, work: Work) {
        let entity = self.message.get(work.range.clone()).unwrap_or_default();
        let (fields_length, header_length) = header::header_extent(entity);
        let body_start = work.range.start + header_length;
        let body = &entity[header_length..];
        let allowance = self.limits.header_bytes_max.min(self.budget_left);
        let fields = considered(&entity[..fields_length], fields_length, allowance);
        self.budget_left -= fields.len();
        let info = HeaderInfo::collect(fields);
        let envelope = match work.link {
            Link::Root => {
                self.summary.envelope = info.envelope();
                self.summary.date_unix_secs = info.date_unix_secs();
                self.summary.references = info.references();
                None
            }
            Link::Embedded => Some(Box::new(info.envelope())),
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
        if counts_lines(&part) {
            part.lines = count_lines(body);
        }
        self.nodes.push(Node { part, parent: work.parent, envelope });
    }
}

/// Lines of a body: line feeds, plus one for a last line without its line feed.
fn count_lines(body: &[u8]) -> u64 {
    let feeds = to_u64(memchr::memchr_iter(b'\n', body).count());
    let unterminated = u64::from(body.last().is_some_and(|&byte| byte != b'\n'));
    feeds + unterminated
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
