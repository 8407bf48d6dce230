//! Section specs (RFC 9051 §6.4.5): which byte range of the message file answers
//! BODY[path], BODY[path.HEADER], BODY[path.TEXT] and BODY[path.MIME].
//!
//! Part numbering: the parts of a multipart are numbered from 1; the body of a
//! message/rfc822 part is numbered like a message (its children if it is multipart, else
//! its single part 1); a message that is not multipart has only a part 1, which is its
//! body. Like Dovecot, we also let a leaf part answer to `.1` as itself, so `4.1.1` of
//! the RFC's example is the IMAGE/GIF part `4.1` (clients that compute part numbers
//! loosely get the body rather than nothing). HEADER and TEXT need a part that is a
//! message/rfc822 (or the whole message); MIME needs a part number.

use std::ops::Range;

use super::{MessageSummary, Part};

/// The text part of a section spec (HEADER.FIELDS[.NOT] is HEADER followed by
/// [`super::header_fields`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SectionKind {
    /// BODY[] or BODY[path]: the whole message, or the body of the part.
    Full,
    /// BODY[HEADER] or BODY[path.HEADER]: a message's header, empty line included.
    Header,
    /// BODY[TEXT] or BODY[path.TEXT]: a message's body.
    Text,
    /// BODY[path.MIME]: the part's own MIME header, empty line included.
    Mime,
}

/// The byte range answering a section: `path` is the part number list (`[]` is the
/// whole message). `None` when the part does not exist, or the kind does not apply to it
/// (HEADER/TEXT of a part that is not a message, MIME without a part number).
#[must_use]
pub fn section_range(summary: &MessageSummary, path: &[u32], kind: SectionKind) -> Option<Range<u64>> {
    let Some((&first, rest)) = path.split_first() else {
        let root = &summary.root;
        return match kind {
            SectionKind::Full => Some(root.header.start..root.body.end),
            SectionKind::Header => Some(root.header.clone()),
            SectionKind::Text => Some(root.body.clone()),
            SectionKind::Mime => None,
        };
    };
    let part = resolve(&summary.root, first, rest)?;
    match kind {
        SectionKind::Full => Some(part.body.clone()),
        SectionKind::Mime => Some(part.header.clone()),
        SectionKind::Header => part.message.as_ref().map(|embedded| embedded.1.header.clone()),
        SectionKind::Text => part.message.as_ref().map(|embedded| embedded.1.body.clone()),
    }
}

/// The part a non-empty section path names, with the numbering of [`section_range`]
/// (for BINARY, which needs the part's encoding as well as its body). `None` for `[]`
/// (the message is not a part) and for parts that do not exist.
#[must_use]
pub fn section_part<'a>(summary: &'a MessageSummary, path: &[u32]) -> Option<&'a Part> {
    let (&first, rest) = path.split_first()?;
    resolve(&summary.root, first, rest)
}

fn resolve<'a>(root: &'a Part, first: u32, rest: &[u32]) -> Option<&'a Part> {
    let mut part = message_part(root, first)?;
    for &number in rest {
        part = subpart(part, number)?;
    }
    Some(part)
}

/// Part `number` of a message whose root part is `root`.
fn message_part(root: &Part, number: u32) -> Option<&Part> {
    if root.is_multipart() { child(root, number) } else { (number == 1).then_some(root) }
}

/// Part `number` below `part`.
fn subpart(part: &Part, number: u32) -> Option<&Part> {
    if part.is_multipart() {
        child(part, number)
    } else if let Some(embedded) = &part.message {
        message_part(&embedded.1, number)
    } else {
        (number == 1).then_some(part)
    }
}

fn child(part: &Part, number: u32) -> Option<&Part> {
    let index = usize::try_from(number.checked_sub(1)?).ok()?;
    part.children.get(index)
}
