//! The input side of the blocking clients: bytes read from the socket and not yet
//! parsed. Both clients parse complete replies/responses out of the front and read more
//! only when the front holds none.

use std::io::{self, Read};

/// Bytes read but not yet consumed.
#[derive(Debug)]
pub(crate) struct Input {
    bytes: Vec<u8>,
    /// Start of the unconsumed bytes.
    start: usize,
    /// Bytes read from the socket at a time.
    chunk: usize,
}

impl Input {
    /// An empty buffer that reads `chunk` bytes at a time.
    pub(crate) fn new(chunk: usize) -> Input {
        Input { bytes: Vec::with_capacity(chunk), start: 0, chunk }
    }

    /// What was read and not consumed yet.
    pub(crate) fn unconsumed(&self) -> &[u8] {
        &self.bytes[self.start..]
    }

    /// Marks the first `length` unconsumed bytes as parsed.
    pub(crate) fn consume(&mut self, length: usize) {
        self.start = (self.start + length).min(self.bytes.len());
        if self.start == self.bytes.len() {
            self.bytes.clear();
            self.start = 0;
        }
    }

    /// Reads once from `stream` behind the unconsumed bytes; the count read, 0 at the
    /// end of the stream.
    pub(crate) fn fill(&mut self, stream: &mut impl Read) -> io::Result<usize> {
        if self.start > 0 {
            self.bytes.drain(..self.start);
            self.start = 0;
        }
        let filled = self.bytes.len();
        self.bytes.resize(filled + self.chunk, 0);
        let read = stream.read(&mut self.bytes[filled..]);
        self.bytes.truncate(filled + *read.as_ref().unwrap_or(&0));
        read
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn consumes_from_the_front_and_reads_behind() {
        let mut input = Input::new(4);
        let mut source: &[u8] = b"abcdefg";
        assert_eq!(input.fill(&mut source).unwrap(), 4);
        assert_eq!(input.unconsumed(), b"abcd");
        input.consume(3);
        assert_eq!(input.fill(&mut source).unwrap(), 3);
        assert_eq!(input.unconsumed(), b"defg");
        input.consume(4);
        assert_eq!(input.unconsumed(), b"");
        assert_eq!(input.fill(&mut source).unwrap(), 0);
    }
}
