//! Streaming decoder for the DATA body (RFC 5321 §4.1.1.4, §4.5.2).
//!
//! It removes dot-stuffing, finds the end of the message, and flags bare CR and bare LF.
//! Invariants, which hold across arbitrary chunk boundaries because all state lives in
//! [`DataDecoder`] and never in the caller's buffer:
//! - the message ends *only* at `CRLF "." CRLF` (the CRLF before the dot may be the one
//!   ending the DATA command line); `LF "." LF`, `CRLF "." LF`, `LF "." CRLF` and
//!   `CR "." CR` are not terminators. Accepting them is the SMTP smuggling bug: a server
//!   that disagrees with the relay in front of it about where a message ends executes the
//!   rest as commands (RFC 5321 §2.3.8 forbids bare CR and LF in the first place);
//! - any CR not followed by LF, and any LF not preceded by CR, sets
//!   [`DataDecoder::saw_bare_cr_or_lf`]; the session then rejects the message;
//! - output is the message with CRLF line ends and leading dots unstuffed, never more
//!   than the caller's room; at most one CR is held in state between calls.
//!
//! The inner loop finds CR and LF with memchr and copies the runs between them.

use memchr::memchr2;

/// Where in the line structure the decoder is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line, i.e. right after CRLF.
    LineStart,
    /// After CRLF ".": either dot-stuffing or the first byte of the terminator.
    Dot,
    /// After CRLF "." CR: an LF now ends the message.
    DotCr,
    /// Inside a line.
    Middle,
    /// After a CR inside a line (not yet emitted): LF makes it a line end.
    Cr,
    /// The terminator was seen; nothing more is read.
    Ended,
}

/// The decoder. Create one per DATA command, after the 354 reply.
#[derive(Debug, Clone)]
pub(crate) struct DataDecoder {
    state: State,
    saw_bare_cr_or_lf: bool,
}

/// The result of one [`DataDecoder::decode`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Decoded {
    /// Input bytes consumed.
    pub(crate) used: usize,
    /// True when the terminator was consumed; `used` includes it.
    pub(crate) ended: bool,
}

impl DataDecoder {
    /// A decoder positioned right after the DATA command's CRLF.
    pub(crate) fn new() -> Self {
        Self { state: State::LineStart, saw_bare_cr_or_lf: false }
    }

    /// True once any bare CR or bare LF was consumed.
    pub(crate) fn saw_bare_cr_or_lf(&self) -> bool {
        self.saw_bare_cr_or_lf
    }

    /// Decodes from `input` and appends message bytes to `out` while `out` is shorter
    /// than `out_max`. Stops at the end of the message, of the input, or of the room.
    /// Makes progress whenever `input` is non-empty and `out` has room for 2 bytes.
    pub(crate) fn decode(&mut self, input: &[u8], out: &mut Vec<u8>, out_max: usize) -> Decoded {
        let mut used = 0;
        while used < input.len() {
            let byte = input[used];
            match self.state {
                State::Ended => break,
                State::Middle => {
                    let room = out_max.saturating_sub(out.len());
                    let (taken, stopped) = self.copy_run(&input[used..], out, room);
                    used += taken;
                    if stopped {
                        break;
                    }
                }
                State::Cr if byte == b'\n' => {
                    if out_max.saturating_sub(out.len()) < 2 {
                        break;
                    }
                    out.extend_from_slice(b"\r\n");
                    used += 1;
                    self.state = State::LineStart;
                }
                State::LineStart if byte == b'.' => {
                    used += 1;
                    self.state = State::Dot;
                }
                State::Dot if byte == b'\r' => {
                    used += 1;
                    self.state = State::DotCr;
                }
                State::DotCr if byte == b'\n' => {
                    used += 1;
                    self.state = State::Ended;
                    return Decoded { used, ended: true };
                }
                // A CR (after a line or after CRLF ".") not followed by LF is bare; the
                // byte is looked at again inside the line. After CRLF "." anything else
                // is dot-stuffing: the dot was dropped, the byte belongs to the line.
                State::Cr | State::DotCr => {
                    self.saw_bare_cr_or_lf = true;
                    self.state = State::Middle;
                }
                State::LineStart | State::Dot => self.state = State::Middle,
            }
        }
        Decoded { used, ended: false }
    }

    /// Copies a run of line bytes up to the next CR or LF and consumes that CR or LF.
    /// Returns the bytes consumed and whether decoding must stop (no room left).
    fn copy_run(&mut self, input: &[u8], out: &mut Vec<u8>, room: usize) -> (usize, bool) {
        let run = memchr2(b'\r', b'\n', input).unwrap_or(input.len());
        let take = run.min(room);
        out.extend_from_slice(&input[..take]);
        if take < run || take == input.len() {
            return (take, take < run);
        }
        if input[take] == b'\r' {
            self.state = State::Cr;
        } else {
            // A bare LF: dropped, and the line goes on, so that "\n.\n" or "\n.\r\n"
            // can never look like a line start followed by the terminator.
            self.saw_bare_cr_or_lf = true;
        }
        (take + 1, false)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use proptest::prelude::*;

    /// Decodes all of `input` fed in pieces of `step` bytes, with output room `room`;
    /// returns (message, bytes used, ended, bare).
    fn run(input: &[u8], step: usize, room: usize) -> (Vec<u8>, usize, bool, bool) {
        let mut decoder = DataDecoder::new();
        let mut message = Vec::new();
        let mut used = 0;
        let mut available = 0;
        loop {
            available = (available + step).min(input.len());
            let mut out = Vec::new();
            let got = decoder.decode(&input[used..available], &mut out, room);
            assert!(out.len() <= room);
            message.extend_from_slice(&out);
            used += got.used;
            if got.ended {
                return (message, used, true, decoder.saw_bare_cr_or_lf());
            }
            if available == input.len() && got.used == 0 {
                return (message, used, false, decoder.saw_bare_cr_or_lf());
            }
        }
    }

    #[test]
    fn plain_message_ends_at_crlf_dot_crlf() {
        let input = b"Subject: x\r\n\r\nhello\r\n.\r\nQUIT\r\n";
        let (message, used, ended, bare) = run(input, input.len(), 1 << 20);
        assert_eq!(message, b"Subject: x\r\n\r\nhello\r\n");
        assert_eq!(&input[used..], b"QUIT\r\n");
        assert!(ended);
        assert!(!bare);
    }

    #[test]
    fn empty_message() {
        let (message, used, ended, _) = run(b".\r\nX", 64, 64);
        assert_eq!((message.as_slice(), used, ended), (&b""[..], 3, true));
    }

    #[test]
    fn dot_unstuffing() {
        let input = b"..leading\r\n.x\r\n...\r\na.b\r\n.\r\n";
        let (message, _, ended, bare) = run(input, input.len(), 1 << 20);
        assert_eq!(message, b".leading\r\nx\r\n..\r\na.b\r\n");
        assert!(ended);
        assert!(!bare);
    }

    #[test]
    fn terminator_split_at_every_position() {
        let input = b"line one\r\nline two\r\n.\r\nNOOP\r\n";
        for step in 1..=input.len() {
            for room in [2, 3, 5, 64] {
                let (message, used, ended, bare) = run(input, step, room);
                assert_eq!(message, b"line one\r\nline two\r\n", "step {step} room {room}");
                assert_eq!(used, input.len() - 6, "step {step} room {room}");
                assert!(ended);
                assert!(!bare);
            }
        }
    }

    #[test]
    fn smuggling_variants_do_not_end_the_message() {
        for fake in [&b"\n.\n"[..], b"\r\n.\n", b"\n.\r\n", b"\r.\r", b"\r.\r\n", b"x\rMAIL", b"x\nMAIL"] {
            let mut input = b"a\r\n".to_vec();
            input.extend_from_slice(fake);
            input.extend_from_slice(b"MAIL FROM:<x@y>\r\n");
            for step in 1..=input.len() {
                let (_, used, ended, bare) = run(&input, step, 64);
                assert!(!ended, "{fake:?} ended the message (step {step})");
                assert_eq!(used, input.len(), "{fake:?}");
                assert!(bare, "{fake:?} not flagged");
            }
            input.extend_from_slice(b"\r\n.\r\nNEXT");
            let (_, used, ended, bare) = run(&input, input.len(), 64);
            assert!(ended && bare, "{fake:?}");
            assert_eq!(&input[used..], b"NEXT");
        }
    }

    #[test]
    fn room_is_respected_and_nothing_is_lost() {
        let input = b"abcdefgh\r\n..ijkl\r\n\r\n.\r\n";
        for room in 2..12 {
            let (message, _, ended, _) = run(input, input.len(), room);
            assert_eq!(message, b"abcdefgh\r\n.ijkl\r\n\r\n", "room {room}");
            assert!(ended);
        }
    }

    #[test]
    fn no_input_after_end_is_read() {
        let mut decoder = DataDecoder::new();
        let mut out = Vec::new();
        assert!(decoder.decode(b".\r\n", &mut out, 8).ended);
        assert_eq!(decoder.decode(b"more", &mut out, 8), Decoded { used: 0, ended: false });
    }

    proptest! {
        #[test]
        fn chunking_does_not_change_the_result(
            input in proptest::collection::vec(
                prop_oneof![Just(b'\r'), Just(b'\n'), Just(b'.'), Just(b'a')], 0..64),
            step in 1usize..8,
            room in 2usize..8,
        ) {
            let whole = run(&input, input.len().max(1), 1 << 20);
            prop_assert_eq!(run(&input, step, room), whole);
        }
    }
}
