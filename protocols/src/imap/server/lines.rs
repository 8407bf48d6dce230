//! Untagged responses about many messages (`* n EXPUNGE` of an EXPUNGE, MOVE or sync;
//! `* n FETCH (FLAGS ...)` of a STORE or sync; the numbers of a plain `* SEARCH`), made
//! a piece at a time as the caller
//! writes the output, so a command over 100,000 messages holds one piece of response
//! bytes, not all of them (RFC 9051 §7.5.1 EXPUNGE, §7.5.2 FETCH).
//!
//! Invariants: a piece is at most [`LINES_PIECE_BYTES`] plus one line; the responses
//! leave in the order they were given; the session decided every response (sequence
//! number, flags) when it queued them: making a piece consults no session state.

use std::ops::RangeInclusive;

use super::facts::FlagFact;
use super::flags::join;
use crate::imap::response::{
    write_expunge, write_fetch_close, write_fetch_flags, write_fetch_modseq, write_fetch_open,
    write_fetch_separator, write_fetch_uid, write_search_close, write_search_number, write_search_open,
    write_uidfetch_open,
};

/// Response bytes made at a time: 16 KiB, a quarter of the output budget, about 1,000
/// EXPUNGE or 400 FETCH FLAGS responses, so a piece costs the core well under a
/// millisecond and the writes stay large.
pub(crate) const LINES_PIECE_BYTES: usize = 16 * 1024;
const _: () = assert!(LINES_PIECE_BYTES <= super::output::OUTPUT_BUDGET_BYTES);

/// One flags response, decided.
#[derive(Debug)]
pub(crate) struct FlagLine {
    pub(crate) seq: u32,
    pub(crate) fact: FlagFact,
    /// Show `\Recent` (IMAP4rev1).
    pub(crate) recent: bool,
}

#[derive(Debug)]
enum Kind {
    /// Sequence numbers to expunge, ascending disjoint ranges: written from the highest,
    /// so each number is right when the client reads it.
    Expunges(Vec<RangeInclusive<u32>>),
    /// Flags responses, written from `next`.
    Flags { lines: Vec<FlagLine>, next: usize, form: FlagForm, modseq: bool },
    /// One `* SEARCH` response of these numbers, written from `next` (RFC 9051 §7.3.4;
    /// RFC 7162 §3.1.5's MODSEQ at its end).
    Search { numbers: Vec<u32>, next: usize, modseq: Option<u64>, started: bool, ended: bool },
}

/// Responses still to be made, and the piece made last.
#[derive(Debug)]
pub(crate) struct Lines {
    kind: Kind,
    ready: Vec<u8>,
    written: usize,
}

impl Lines {
    /// `* n EXPUNGE` for every number in `seqs` (ascending disjoint ranges), highest
    /// first.
    pub(crate) fn expunges(seqs: Vec<RangeInclusive<u32>>) -> Lines {
        Lines::new(Kind::Expunges(seqs))
    }

    /// `* seq FETCH ([UID u ]FLAGS (...)[ MODSEQ (m)])` for each line, in order.
    pub(crate) fn flags(lines: Vec<FlagLine>, form: FlagForm, modseq: bool) -> Lines {
        Lines::new(Kind::Flags { lines, next: 0, form, modseq })
    }

    /// `* SEARCH n n ...[ (MODSEQ m)]`.
    pub(crate) fn search(numbers: Vec<u32>, modseq: Option<u64>) -> Lines {
        Lines::new(Kind::Search { numbers, next: 0, modseq, started: false, ended: false })
    }

    fn new(kind: Kind) -> Lines {
        let mut lines = Lines { kind, ready: Vec::new(), written: 0 };
        lines.fill();
        lines
    }

    /// Makes the next piece (empty when all were made).
    fn fill(&mut self) {
        self.ready.clear();
        self.written = 0;
        let out = &mut self.ready;
        match &mut self.kind {
            Kind::Expunges(seqs) => {
                while out.len() < LINES_PIECE_BYTES {
                    let Some(range) = seqs.last_mut() else { break };
                    let (first, last) = (*range.start(), *range.end());
                    write_expunge(out, last);
                    if last == first {
                        seqs.pop();
                    } else {
                        *range = first..=last - 1;
                    }
                }
                if seqs.is_empty() {
                    *seqs = Vec::new();
                }
            }
            Kind::Flags { lines, next, form, modseq } => {
                while out.len() < LINES_PIECE_BYTES {
                    let Some(line) = lines.get(*next) else { break };
                    *next += 1;
                    write_flag_line(out, line, *form, *modseq);
                }
                if *next == lines.len() {
                    *lines = Vec::new();
                    *next = 0;
                }
            }
            Kind::Search { numbers, next, modseq, started, ended } => {
                if *ended {
                    return;
                }
                if !std::mem::replace(started, true) {
                    write_search_open(out);
                }
                while out.len() < LINES_PIECE_BYTES {
                    let Some(number) = numbers.get(*next) else { break };
                    *next += 1;
                    write_search_number(out, *number);
                }
                if *next == numbers.len() {
                    write_search_close(out, *modseq);
                    *numbers = Vec::new();
                    *ended = true;
                }
            }
        }
    }

    /// The piece not yet written.
    pub(crate) fn ready(&self) -> &[u8] {
        &self.ready[self.written..]
    }

    /// True when every response was written.
    pub(crate) fn is_finished(&self) -> bool {
        self.written == self.ready.len()
    }

    /// The caller wrote up to `n` bytes of [`Lines::ready`]; returns how many it took.
    pub(crate) fn advance(&mut self, n: u64) -> u64 {
        let left = self.ready.len() - self.written;
        let step = usize::try_from(n).unwrap_or(usize::MAX).min(left);
        self.written += step;
        if self.written == self.ready.len() {
            self.fill();
        }
        step as u64
    }
}

/// How a flags line names its message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlagForm {
    /// `* seq FETCH (FLAGS ...)`.
    Fetch,
    /// `* seq FETCH (UID u FLAGS ...)` (UID STORE, RFC 9051 §6.4.9).
    FetchWithUid,
    /// `* uid UIDFETCH (FLAGS ...)` after ENABLE UIDONLY (RFC 9586 §3.3).
    UidFetch,
}

fn write_flag_line(out: &mut Vec<u8>, line: &FlagLine, form: FlagForm, modseq: bool) {
    let fact = &line.fact;
    if form == FlagForm::UidFetch {
        write_uidfetch_open(out, fact.uid);
    } else {
        write_fetch_open(out, line.seq);
    }
    if form == FlagForm::FetchWithUid {
        write_fetch_uid(out, fact.uid);
        write_fetch_separator(out);
    }
    write_fetch_flags(out, &join(fact.flags, line.recent, fact.keywords.iter().map(String::as_str)));
    if modseq {
        write_fetch_separator(out);
        write_fetch_modseq(out, fact.modseq);
    }
    write_fetch_close(out);
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::imap::server::SystemFlags;

    fn drain(mut lines: Lines) -> (String, usize) {
        let (mut all, mut pieces) = (Vec::new(), 0);
        while !lines.is_finished() {
            let piece = lines.ready().to_vec();
            assert!(piece.len() < LINES_PIECE_BYTES + 200);
            // Written in two steps, as a socket may take it.
            let half = piece.len() / 2;
            assert_eq!(lines.advance(half as u64), half as u64);
            all.extend_from_slice(&piece);
            lines.advance(u64::MAX);
            pieces += 1;
        }
        (String::from_utf8(all).unwrap(), pieces)
    }

    #[test]
    fn expunges_go_highest_first_in_pieces() {
        let (text, pieces) = drain(Lines::expunges(vec![1..=2, 5..=5, 7..=20_000]));
        let numbers: Vec<u32> = text
            .lines()
            .map(|line| line.strip_prefix("* ").unwrap().strip_suffix(" EXPUNGE").unwrap().parse().unwrap())
            .collect();
        let expected: Vec<u32> = (7..=20_000).rev().chain([5, 2, 1]).collect();
        assert_eq!(numbers, expected);
        assert!(pieces > 10, "{pieces} pieces");
        assert!(Lines::expunges(Vec::new()).is_finished());
    }

    #[test]
    fn a_search_line_is_made_in_pieces() {
        let numbers: Vec<u32> = (1..=30_000).collect();
        let (text, pieces) = drain(Lines::search(numbers.clone(), Some(9)));
        let mut expected = String::from("* SEARCH");
        for n in numbers {
            expected.push_str(&format!(" {n}"));
        }
        expected.push_str(" (MODSEQ 9)\r\n");
        assert_eq!(text, expected);
        assert!(pieces > 5, "{pieces} pieces");
        assert_eq!(drain(Lines::search(Vec::new(), None)).0, "* SEARCH\r\n");
    }

    #[test]
    fn flags_go_in_order() {
        let lines: Vec<FlagLine> = (1..=3)
            .map(|seq| FlagLine {
                seq,
                fact: FlagFact {
                    uid: seq + 10,
                    modseq: 7,
                    flags: SystemFlags::default(),
                    keywords: vec!["x".into()],
                },
                recent: seq == 2,
            })
            .collect();
        let (text, _) = drain(Lines::flags(lines, FlagForm::FetchWithUid, true));
        assert_eq!(
            text,
            "* 1 FETCH (UID 11 FLAGS (x) MODSEQ (7))\r\n* 2 FETCH (UID 12 FLAGS (\\Recent x) MODSEQ (7))\r\n\
             * 3 FETCH (UID 13 FLAGS (x) MODSEQ (7))\r\n"
        );
    }
}
