//! The session's output: response bytes, ranges of message files that the caller sends
//! itself (sendfile on plaintext, bounded reads through TLS), and data the session makes
//! from a file range as the caller reads it to it ([`super::transform`]: BINARY
//! decoding, HEADER.FIELDS filtering), in one ordered queue.
//!
//! Invariants: segments leave in the order they were queued; a file segment is never
//! empty; once the queued bytes reach [`OUTPUT_BUDGET_BYTES`] or a file or transform
//! segment waits, the session produces no more FETCH output until the caller has written
//! it (the per-session output budget: a FETCH of any size holds about this much, not its
//! whole response).

use std::collections::VecDeque;

use super::lines::Lines;
use super::transform::Transform;

/// Response bytes a session queues before the caller must write them out: 64 KiB, four
/// TLS records, enough that a FETCH of small items goes out in few writes, small enough
/// that 10,000 sessions fetching at once hold 640 MiB at most. Only FETCH pauses at the
/// budget; responses about many messages (STORE's FETCH FLAGS, EXPUNGE, a sync's
/// updates) are made a piece at a time as they are written ([`super::lines`]); other
/// responses are bounded by their own limits (mailbox count).
pub const OUTPUT_BUDGET_BYTES: usize = 64 * 1024;

/// Capacity of an empty byte buffer kept between responses; a larger one is released,
/// so an idle session holds little (STYLE.md: 16 KiB per idle IMAP connection).
const IDLE_OUTPUT_CAPACITY_BYTES_MAX: usize = 4096;
const _: () = assert!(IDLE_OUTPUT_CAPACITY_BYTES_MAX <= OUTPUT_BUDGET_BYTES);

/// What the caller should write next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output<'a> {
    /// Response bytes.
    Bytes(&'a [u8]),
    /// `length` bytes of the message file the caller named `file` (see
    /// [`super::FetchMessage::file`]), from `offset`.
    File {
        /// The caller's name for the file.
        file: u64,
        /// Where to start.
        offset: u64,
        /// How many bytes (never 0).
        length: u64,
    },
    /// Not for the socket: the session needs up to `length` bytes of the message file
    /// `file` from `offset` to make its next output (a BINARY part it decodes, a header
    /// it filters). Read them and give them to [`super::Session::file_read`]: fewer at
    /// the end of the file, none past it.
    Read {
        /// The caller's name for the file.
        file: u64,
        /// Where to start.
        offset: u64,
        /// At most this many bytes (0 when the session only needs to hear that the
        /// range is empty: give it no bytes).
        length: u64,
    },
}

#[derive(Debug)]
enum Segment {
    /// Bytes, and how many of them were already written.
    Bytes(Vec<u8>, usize),
    File {
        file: u64,
        offset: u64,
        length: u64,
    },
    Transform(Box<Transform>),
    /// Untagged responses about many messages, made a piece at a time.
    Lines(Box<Lines>),
}

/// The queue.
#[derive(Debug, Default)]
pub(crate) struct OutputQueue {
    segments: VecDeque<Segment>,
    /// Unwritten response bytes in the queue.
    queued_bytes: usize,
    /// A drained buffer kept for reuse.
    spare: Vec<u8>,
}

impl OutputQueue {
    /// The byte buffer new responses go to (the last segment, or a new one).
    pub(crate) fn buf(&mut self) -> &mut Vec<u8> {
        if !matches!(self.segments.back(), Some(Segment::Bytes(..))) {
            self.segments.push_back(Segment::Bytes(std::mem::take(&mut self.spare), 0));
        }
        match self.segments.back_mut() {
            Some(Segment::Bytes(bytes, _)) => bytes,
            // Just pushed when it was not a byte segment.
            _ => &mut self.spare,
        }
    }

    /// Counts bytes appended through [`OutputQueue::buf`] since the last call.
    fn recount(&mut self) {
        self.queued_bytes = self.queued_bytes();
    }

    /// Unwritten response bytes queued (file ranges not counted).
    pub(crate) fn queued_bytes(&self) -> usize {
        self.segments
            .iter()
            .map(|segment| match segment {
                Segment::Bytes(bytes, written) => bytes.len() - written,
                Segment::File { .. } => 0,
                Segment::Transform(transform) => transform.ready().len(),
                Segment::Lines(lines) => lines.ready().len(),
            })
            .sum()
    }

    /// Queues a file range; empty ranges are dropped.
    pub(crate) fn file(&mut self, file: u64, offset: u64, length: u64) {
        if length > 0 {
            self.segments.push_back(Segment::File { file, offset, length });
        }
    }

    /// Queues a transform (see [`super::transform`]).
    pub(crate) fn transform(&mut self, transform: Transform) {
        if !transform.is_finished() {
            self.segments.push_back(Segment::Transform(Box::new(transform)));
        }
    }

    /// Queues responses made as they are written (see [`super::lines`]).
    pub(crate) fn lines(&mut self, lines: Lines) {
        if !lines.is_finished() {
            self.segments.push_back(Segment::Lines(Box::new(lines)));
        }
    }

    /// The bytes a [`Output::Read`] asked for.
    pub(crate) fn provide(&mut self, bytes: &[u8]) {
        let front = self.segments.iter_mut().find(|segment| match segment {
            Segment::Bytes(bytes, written) => bytes.len() > *written,
            _ => true,
        });
        if let Some(Segment::Transform(transform)) = front {
            transform.provide(bytes);
            if transform.is_finished() {
                self.drop_finished_front();
            }
        }
    }

    /// Removes drained byte segments and finished transforms from the front.
    fn drop_finished_front(&mut self) {
        while let Some(front) = self.segments.front() {
            let finished = match front {
                Segment::Bytes(bytes, written) => bytes.len() == *written,
                Segment::Transform(transform) => transform.is_finished(),
                Segment::Lines(lines) => lines.is_finished(),
                Segment::File { .. } => false,
            };
            if !finished {
                return;
            }
            if let Some(Segment::Bytes(mut bytes, _)) = self.segments.pop_front() {
                bytes.clear();
                if bytes.capacity() <= IDLE_OUTPUT_CAPACITY_BYTES_MAX {
                    self.spare = bytes;
                }
            }
        }
    }

    /// Moves everything queued in `other` to the end of this queue; bytes join the
    /// last byte segment, so the caller still writes large pieces.
    pub(crate) fn append(&mut self, other: OutputQueue) {
        for segment in other.segments {
            match segment {
                Segment::Bytes(bytes, written) => self.buf().extend_from_slice(&bytes[written..]),
                file => self.segments.push_back(file),
            }
        }
    }

    /// True when the caller must write before the session produces more FETCH output.
    pub(crate) fn over_budget(&mut self) -> bool {
        self.recount();
        self.queued_bytes >= OUTPUT_BUDGET_BYTES
            || self.segments.iter().any(|segment| !matches!(segment, Segment::Bytes(..)))
    }

    /// File and transform segments queued (tests).
    #[cfg(test)]
    pub(crate) fn segments_waiting(&self) -> usize {
        self.segments.iter().filter(|segment| !matches!(segment, Segment::Bytes(..))).count()
    }

    /// True when nothing waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.segments.iter().all(|segment| match segment {
            Segment::Bytes(bytes, written) => bytes.len() == *written,
            Segment::File { .. } | Segment::Transform(_) | Segment::Lines(_) => false,
        })
    }

    /// The next thing to write, if any.
    pub(crate) fn pending(&self) -> Option<Output<'_>> {
        self.segments.iter().find_map(|segment| match segment {
            Segment::Bytes(bytes, written) if bytes.len() > *written => {
                Some(Output::Bytes(&bytes[*written..]))
            }
            Segment::Bytes(..) => None,
            Segment::File { file, offset, length } => {
                Some(Output::File { file: *file, offset: *offset, length: *length })
            }
            Segment::Transform(transform) => match transform.wanted() {
                None => Some(Output::Bytes(transform.ready())),
                Some((offset, length)) => Some(Output::Read { file: transform.file, offset, length }),
            },
            Segment::Lines(lines) => Some(Output::Bytes(lines.ready())),
        })
    }

    /// The caller wrote `n` bytes of [`OutputQueue::pending`].
    pub(crate) fn advance(&mut self, mut n: u64) {
        while let Some(front) = self.segments.front_mut() {
            match front {
                Segment::Bytes(bytes, written) => {
                    let left = bytes.len() - *written;
                    let step = usize::try_from(n).unwrap_or(usize::MAX).min(left);
                    *written += step;
                    n -= step as u64;
                    if *written < bytes.len() {
                        return;
                    }
                }
                Segment::File { offset, length, .. } => {
                    if n == 0 {
                        return;
                    }
                    let step = n.min(*length);
                    *offset += step;
                    *length -= step;
                    n -= step;
                    if *length > 0 {
                        return;
                    }
                    self.segments.pop_front();
                    continue;
                }
                Segment::Transform(transform) => {
                    n -= transform.advance(n);
                    if !transform.is_finished() {
                        return;
                    }
                }
                Segment::Lines(lines) => {
                    n -= lines.advance(n);
                    if !lines.is_finished() {
                        return;
                    }
                }
            }
            self.drop_finished_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_leave_in_order_and_partially() {
        let mut queue = OutputQueue::default();
        assert!(queue.is_empty());
        queue.buf().extend_from_slice(b"abc");
        queue.file(7, 10, 5);
        queue.file(7, 0, 0);
        queue.buf().extend_from_slice(b"de");
        assert!(queue.over_budget(), "a file segment waits");
        assert_eq!(queue.pending(), Some(Output::Bytes(b"abc")));
        queue.advance(2);
        assert_eq!(queue.pending(), Some(Output::Bytes(b"c")));
        queue.advance(1);
        assert_eq!(queue.pending(), Some(Output::File { file: 7, offset: 10, length: 5 }));
        queue.advance(3);
        assert_eq!(queue.pending(), Some(Output::File { file: 7, offset: 13, length: 2 }));
        queue.advance(2);
        assert_eq!(queue.pending(), Some(Output::Bytes(b"de")));
        assert!(!queue.over_budget());
        queue.advance(2);
        assert!(queue.is_empty());
        assert_eq!(queue.pending(), None);
    }

    #[test]
    fn the_budget_counts_unwritten_bytes() {
        let mut queue = OutputQueue::default();
        queue.buf().resize(OUTPUT_BUDGET_BYTES - 1, b'x');
        assert!(!queue.over_budget());
        queue.buf().push(b'y');
        assert!(queue.over_budget());
        queue.advance(1);
        assert!(!queue.over_budget());
    }
}
