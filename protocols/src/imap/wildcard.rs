//! LIST and LSUB mailbox patterns (RFC 9051 §6.3.9): `*` matches any characters, `%` any
//! characters but the hierarchy delimiter, everything else itself; INBOX (RFC 9051 §5.1)
//! matches case-insensitively.
//!
//! Matching never backtracks. A run of wildcards is one wildcard (`*` if it holds one,
//! else `%`), and the pattern becomes a small automaton whose state set is a bit vector
//! over pattern positions (the Shift-And method): each character of the name costs one
//! pass over `pattern positions / 64` words, so a name of `n` bytes costs at most
//! `n × (2n + 2) / 64` word operations, because a pattern with more literal characters
//! than the name has bytes is refused before any work. `LIST "" "%%%…%"` with 60 000 `%`
//! is one `%`; a pattern with more than [`PATTERN_LITERAL_BYTES_MAX`] literal bytes matches
//! nothing and costs nothing to compile.

/// Literal (non-wildcard) bytes a pattern may have and still match something. No mailbox
/// name is longer than this (the store keeps at most 255 bytes, and the IMAP reader's
/// line limits come long before), so a longer pattern matches no name; refusing it up
/// front bounds the automaton to `2 × 1024 + 1` positions (33 words of state).
pub const PATTERN_LITERAL_BYTES_MAX: usize = 1024;

/// One element of a pattern after wildcard runs are collapsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Element {
    Literal(u8),
    /// `*`: any bytes.
    Star,
    /// `%`: any bytes but the delimiter.
    Percent,
}

/// A compiled pattern: build it once per command, match it against every name.
#[derive(Debug, Clone)]
pub struct Pattern {
    delimiter: u8,
    /// Positions, one per element plus the accepting one: words per state set.
    words: usize,
    /// Literal bytes: a name shorter than this cannot match.
    literal_bytes: usize,
    /// Too many literal bytes: matches nothing.
    hopeless: bool,
    /// Bit `j`: element `j` is `*` / `%`; bit `m`: the accepting position.
    star: Vec<u64>,
    percent: Vec<u64>,
    accept: (usize, u64),
    /// `row[byte]`: which row of `literal_masks` has the positions whose element is that
    /// literal byte; row 0 is empty.
    row: [u16; 256],
    literal_masks: Vec<u64>,
}

impl Pattern {
    /// Compiles `pattern` for names whose levels are separated by `delimiter` (ASCII).
    #[must_use]
    pub fn new(pattern: &str, delimiter: u8) -> Pattern {
        let elements = collapse(pattern.as_bytes());
        let literal_bytes = elements.iter().filter(|element| matches!(element, Element::Literal(_))).count();
        let hopeless = literal_bytes > PATTERN_LITERAL_BYTES_MAX;
        let positions = if hopeless { 1 } else { elements.len() + 1 };
        let words = positions.div_ceil(64);
        let mut compiled = Pattern {
            delimiter,
            words,
            literal_bytes,
            hopeless,
            star: vec![0; words],
            percent: vec![0; words],
            accept: (0, 0),
            row: [0; 256],
            literal_masks: vec![0; words], // row 0: no position
        };
        if hopeless {
            return compiled;
        }
        for (position, element) in elements.iter().enumerate() {
            let (word, bit) = (position / 64, 1u64 << (position % 64));
            match *element {
                Element::Star => compiled.star[word] |= bit,
                Element::Percent => compiled.percent[word] |= bit,
                Element::Literal(byte) => {
                    let row = compiled.row_of(byte);
                    compiled.literal_masks[row * words + word] |= bit;
                }
            }
        }
        let last = elements.len();
        compiled.accept = (last / 64, 1u64 << (last % 64));
        compiled
    }

    /// The row of masks for `byte`, made on first use.
    fn row_of(&mut self, byte: u8) -> usize {
        let index = usize::from(byte);
        if self.row[index] == 0 {
            self.literal_masks.extend(std::iter::repeat_n(0, self.words));
            // At most 256 rows besides row 0: fits u16.
            self.row[index] = u16::try_from(self.literal_masks.len() / self.words - 1).unwrap_or(u16::MAX);
        }
        usize::from(self.row[index])
    }

    /// True when `name` matches the whole pattern.
    #[must_use]
    pub fn matches(&self, name: &str) -> bool {
        let name = name.as_bytes();
        if self.hopeless || self.literal_bytes > name.len() {
            return false;
        }
        // RFC 9051 §5.1: INBOX is case-insensitive; so is the INBOX level of its children.
        let inbox_levels = name.len() >= 5
            && name[..5].eq_ignore_ascii_case(b"INBOX")
            && (name.len() == 5 || name[5] == self.delimiter);
        let mut state = vec![0u64; self.words];
        let mut next = vec![0u64; self.words];
        state[0] = 1;
        self.close(&mut state);
        for (index, &byte) in name.iter().enumerate() {
            let other_case = if inbox_levels && index < 5 { Some(byte ^ 0x20) } else { None };
            self.step(&state, &mut next, byte, other_case);
            self.close(&mut next);
            std::mem::swap(&mut state, &mut next);
            if state.iter().all(|&word| word == 0) {
                return false;
            }
        }
        state[self.accept.0] & self.accept.1 != 0
    }

    fn literal_mask(&self, byte: u8) -> &[u64] {
        let row = usize::from(self.row[usize::from(byte)]);
        &self.literal_masks[row * self.words..(row + 1) * self.words]
    }

    /// Consumes one name byte: literals that equal it advance, `*` stays, `%` stays unless
    /// the byte is the delimiter.
    fn step(&self, state: &[u64], next: &mut [u64], byte: u8, other_case: Option<u8>) {
        let literal = self.literal_mask(byte);
        let other = other_case.map(|other| self.literal_mask(other));
        let keeps_percent = byte != self.delimiter;
        let mut carry = 0u64;
        for word in 0..self.words {
            let mut equal = literal[word];
            if let Some(other) = other {
                equal |= other[word];
            }
            let advanced = state[word] & equal;
            let mut stays = state[word] & self.star[word];
            if keeps_percent {
                stays |= state[word] & self.percent[word];
            }
            next[word] = (advanced << 1) | carry | stays;
            carry = advanced >> 63;
        }
    }

    /// A wildcard also matches nothing: from its position, the next is reachable too.
    /// Runs were collapsed, so one shift reaches every such position.
    fn close(&self, state: &mut [u64]) {
        let mut carry = 0u64;
        let wildcards = self.star.iter().zip(&self.percent);
        for (word, (star, percent)) in state.iter_mut().zip(wildcards) {
            let skipping = *word & (star | percent);
            *word |= (skipping << 1) | carry;
            carry = skipping >> 63;
        }
    }
}

/// The pattern's elements with each run of wildcards made one.
fn collapse(pattern: &[u8]) -> Vec<Element> {
    let mut elements: Vec<Element> = Vec::with_capacity(pattern.len().min(2 * PATTERN_LITERAL_BYTES_MAX + 1));
    for &byte in pattern {
        let element = match byte {
            b'*' => Element::Star,
            b'%' => Element::Percent,
            _ => Element::Literal(byte),
        };
        match (elements.last_mut(), element) {
            (Some(last @ (Element::Star | Element::Percent)), Element::Star) => *last = Element::Star,
            (Some(Element::Star | Element::Percent), Element::Percent) => {}
            _ => elements.push(element),
        }
    }
    elements
}

/// True when `name` matches `pattern` (compiles it each time: for many names, keep a
/// [`Pattern`]).
#[must_use]
pub fn matches(pattern: &str, name: &str, delimiter: u8) -> bool {
    Pattern::new(pattern, delimiter).matches(name)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use proptest::prelude::*;

    use super::*;

    /// Backtracking over characters, exponential at worst: the obvious reading of RFC
    /// 9051 §6.3.9, for small inputs.
    fn naive(pattern: &[char], name: &[char], inbox: bool, at: usize) -> bool {
        match pattern.split_first() {
            None => name.is_empty(),
            Some(('*', rest)) => (0..=name.len()).any(|skip| naive(rest, &name[skip..], inbox, at + skip)),
            Some(('%', rest)) => {
                let stop = name.iter().position(|&c| c == '/').unwrap_or(name.len());
                (0..=stop).any(|skip| naive(rest, &name[skip..], inbox, at + skip))
            }
            Some((&p, rest)) => name.first().is_some_and(|&n| {
                (p == n || (inbox && at < 5 && p.eq_ignore_ascii_case(&n)))
                    && naive(rest, &name[1..], inbox, at + 1)
            }),
        }
    }

    fn naive_matches(pattern: &str, name: &str) -> bool {
        let inbox = name == "INBOX" || name.starts_with("INBOX/");
        let pattern: Vec<char> = pattern.chars().collect();
        let name: Vec<char> = name.chars().collect();
        naive(&pattern, &name, inbox, 0)
    }

    #[test]
    fn list_patterns() {
        let m = |pattern: &str, name: &str| matches(pattern, name, b'/');
        assert!(m("*", "a/b/c"));
        assert!(m("*", ""));
        assert!(m("%", "Sent"));
        assert!(!m("%", "a/b"));
        assert!(m("a/%", "a/b"));
        assert!(!m("a/%", "a/b/c"));
        assert!(m("a/*", "a/b/c"));
        assert!(m("a%/%c", "ab/bc"));
        assert!(m("inbox", "INBOX"));
        assert!(m("InBoX/%", "INBOX/x"));
        assert!(!m("inbox/X", "INBOX/x"));
        assert!(!m("inboxes", "INBOXES"), "only the INBOX level is case-insensitive");
        assert!(!m("sent", "Sent"));
        assert!(m("Entw%rfe", "Entwürfe"));
        assert!(m("*ü*", "Entwürfe"));
        assert!(!m("a", ""));
        assert!(m("", ""));
        assert!(!m("", "a"));
    }

    #[test]
    fn long_patterns_cross_words() {
        let name = "x".repeat(200);
        assert!(matches(&"x%".repeat(200), &name, b'/'));
        assert!(matches(&format!("{}*", "x".repeat(130)), &name, b'/'));
        assert!(!matches(&format!("{}y*", "x".repeat(130)), &name, b'/'));
        assert!(!matches(&"x".repeat(PATTERN_LITERAL_BYTES_MAX + 1), &name, b'/'));
    }

    #[test]
    fn pathological_patterns_are_fast() {
        // Ten 255-byte names, as in the report that took 12 s: 60 000 `%`, then patterns
        // that keep the automaton as large as the names allow.
        let names: Vec<String> = (0..10)
            .map(|n| format!("{n}{}", "/a".repeat(127)))
            .chain((0..10).map(|n| format!("{n}{}", "a".repeat(254))))
            .collect();
        let patterns =
            ["%".repeat(60_000), "*%".repeat(30_000), "a%".repeat(127), "%a".repeat(254), "*a".repeat(500)];
        let started = std::time::Instant::now();
        for pattern in &patterns {
            let compiled = Pattern::new(pattern, b'/');
            for _ in 0..100 {
                for name in &names {
                    let _ = compiled.matches(name);
                }
            }
        }
        // 100 LISTs of 20 names each, for each pattern, well under a second even in a
        // debug build; the backtracking matcher needed seconds for one.
        assert!(started.elapsed() < std::time::Duration::from_secs(2), "{:?}", started.elapsed());
        assert!(Pattern::new(&patterns[0], b'/').matches("0"));
        assert!(!Pattern::new(&patterns[0], b'/').matches(&names[0]));
    }

    fn small_text() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(vec!['a', 'b', '/', 'I', 'n', 'ü']), 0..8)
            .prop_map(|chars| chars.into_iter().collect())
    }

    fn small_pattern() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(vec!['a', 'b', '/', '*', '%', 'i', 'N', 'ü']), 0..8)
            .prop_map(|chars| chars.into_iter().collect())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 5000, ..ProptestConfig::default() })]

        #[test]
        fn agrees_with_backtracking(pattern in small_pattern(), name in small_text()) {
            prop_assert_eq!(matches(&pattern, &name, b'/'), naive_matches(&pattern, &name));
        }

        #[test]
        fn agrees_on_inbox_names(pattern in small_pattern(), rest in small_text(), case in any::<u8>()) {
            let inbox: String = "INBOX"
                .chars()
                .enumerate()
                .map(|(index, c)| if case >> index & 1 == 1 { c.to_ascii_lowercase() } else { c })
                .collect();
            let pattern = format!("{inbox}{pattern}");
            for name in ["INBOX".to_string(), format!("INBOX/{rest}"), format!("INBOX{rest}")] {
                prop_assert_eq!(matches(&pattern, &name, b'/'), naive_matches(&pattern, &name));
            }
        }
    }
}
