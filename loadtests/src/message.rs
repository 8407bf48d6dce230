//! Test messages (RFC 5322): generated at a fixed size, or taken from a corpus directory,
//! each with a unique `Message-ID: <load-RUNID-N@moxide-load>` so a run can find exactly
//! its own messages in a mailbox afterwards.
//!
//! Generated bodies are lines of words from a small vocabulary, and every tenth message
//! on average carries [`SEARCH_WORD`], so `SEARCH BODY` has something to find. Some lines
//! start with a dot, which exercises dot-stuffing end to end (RFC 5321 §4.5.2).
//!
//! Randomness is a seeded xorshift generator: the load is reproducible from the seed and
//! needs no entropy source.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Most files read from `--size-corpus`, so a mistaken directory (say `/`) cannot take
/// all memory; 10k files is a large corpus for load testing.
pub(crate) const CORPUS_FILES_MAX: usize = 10_000;

/// Largest corpus file used; larger ones are skipped (servers refuse them anyway).
pub(crate) const CORPUS_FILE_BYTES_MAX: u64 = 64 << 20;

/// Largest `--size` accepted (the same reasoning as [`CORPUS_FILE_BYTES_MAX`]).
pub(crate) const MESSAGE_BYTES_MAX: usize = 64 << 20;

/// Longest generated body line, CRLF excluded (RFC 5322 §2.1.1 recommends 78).
const LINE_BYTES_MAX: usize = 76;

/// The word `SEARCH BODY` looks for; about one message in ten contains it.
pub(crate) const SEARCH_WORD: &str = "quetzalcoatl";

/// Words bodies are made of.
const WORDS: [&str; 32] = [
    "alpha",
    "bravo",
    "charlie",
    "delta",
    "echo",
    "foxtrot",
    "golf",
    "hotel",
    "india",
    "juliett",
    "kilo",
    "lima",
    "mike",
    "november",
    "oscar",
    "papa",
    "quebec",
    "romeo",
    "sierra",
    "tango",
    "uniform",
    "victor",
    "whiskey",
    "xray",
    "yankee",
    "zulu",
    "mailbox",
    "server",
    "message",
    "latency",
    "throughput",
    "queue",
];

/// A small, fast, seeded pseudo-random generator (xorshift64*). Not for anything secret.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    /// A generator from `seed` (0 is replaced: xorshift never leaves zero).
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed.max(1).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next value.
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..bound` (`bound` > 0).
    pub(crate) fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0);
        self.next_u64() % bound
    }
}

/// Identifies one run's messages: 12 hex digits from the clock and the process id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RunId(pub(crate) String);

impl RunId {
    /// A new id for this process and moment.
    pub(crate) fn new() -> RunId {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        let mixed = Rng::new(nanos ^ (u64::from(std::process::id()) << 32)).next_u64();
        RunId(format!("{:012x}", mixed >> 16))
    }

    /// The Message-ID of message `n` of this run, with angle brackets.
    pub(crate) fn message_id(&self, n: u64) -> String {
        format!("<load-{}-{n}@moxide-load>", self.0)
    }

    /// `n` if `value` (a Message-ID header value or a whole header field) names message
    /// `n` of this run.
    pub(crate) fn parse_message_id(&self, value: &str) -> Option<u64> {
        let prefix = format!("<load-{}-", self.0);
        let start = value.find(&prefix)? + prefix.len();
        let rest = &value[start..];
        let end = rest.find("@moxide-load>")?;
        rest[..end].parse().ok()
    }
}

/// The current time as an RFC 5322 §3.3 date (UTC).
pub(crate) fn rfc5322_now() -> String {
    let seconds = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    rfc5322_date(seconds)
}

/// `seconds` since the Unix epoch as an RFC 5322 date in UTC.
pub(crate) fn rfc5322_date(seconds: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = seconds / 86_400;
    let (year, month, day) = civil_from_days(days);
    let time = seconds % 86_400;
    format!(
        "{}, {day} {} {year} {:02}:{:02}:{:02} +0000",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        time / 3600,
        time / 60 % 60,
        time % 60
    )
}

/// Gregorian (year, month 1-12, day 1-31) of a day count since 1970-01-01, by counting in
/// 400-year eras of 146097 days that start on March 1st (leap day last in the year).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153; // 0 = March
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 { month_index + 3 } else { month_index - 9 };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

/// Who a generated message is from and to.
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    /// From address.
    pub(crate) from: String,
    /// To address.
    pub(crate) to: String,
}

/// Generates message `n` of `run`: headers and a body of words, `size` bytes in total
/// (never less than the headers need).
pub(crate) fn generate(run: &RunId, n: u64, size: usize, envelope: &Envelope, rng: &mut Rng) -> Vec<u8> {
    let topic = if rng.below(10) == 0 { SEARCH_WORD } else { WORDS[rng.below(WORDS.len() as u64) as usize] };
    let mut out = format!(
        "From: <{}>\r\nTo: <{}>\r\nSubject: load {n} {topic}\r\nDate: {}\r\nMessage-ID: {}\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n",
        envelope.from,
        envelope.to,
        rfc5322_now(),
        run.message_id(n)
    )
    .into_bytes();
    out.reserve(size.saturating_sub(out.len()));
    let mut body_line = 0u64;
    let mut line = Vec::with_capacity(LINE_BYTES_MAX + 16);
    while out.len() + 2 < size {
        let room = (size - out.len() - 2).min(LINE_BYTES_MAX);
        line.clear();
        if body_line % 16 == 5 {
            line.push(b'.'); // a line that must be dot-stuffed
        }
        if body_line == 2 {
            line.extend_from_slice(topic.as_bytes());
        }
        while line.len() < room {
            if line.last().is_some_and(|&b| b != b'.') {
                line.push(b' ');
            }
            line.extend_from_slice(WORDS[rng.below(WORDS.len() as u64) as usize].as_bytes());
        }
        line.truncate(room);
        out.extend_from_slice(&line);
        out.extend_from_slice(b"\r\n");
        body_line += 1;
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// Messages read from a directory, line ends normalized to CRLF.
#[derive(Debug)]
pub(crate) struct Corpus {
    messages: Vec<Vec<u8>>,
}

/// Why a corpus could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CorpusError {
    /// The directory could not be read.
    #[error("reading corpus {path}: {source}")]
    Read {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// No usable files in it.
    #[error("corpus {0} has no files of 1 byte to 64 MiB")]
    Empty(String),
}

impl Corpus {
    /// Reads up to [`CORPUS_FILES_MAX`] regular files of 1 byte to
    /// [`CORPUS_FILE_BYTES_MAX`] from `directory` (not recursive), in name order.
    pub(crate) fn load(directory: &Path) -> Result<Corpus, CorpusError> {
        let read_error = |source| CorpusError::Read { path: directory.display().to_string(), source };
        let mut paths = Vec::new();
        for entry in std::fs::read_dir(directory).map_err(read_error)? {
            let entry = entry.map_err(read_error)?;
            let metadata = entry.metadata().map_err(read_error)?;
            if metadata.is_file() && metadata.len() > 0 && metadata.len() <= CORPUS_FILE_BYTES_MAX {
                paths.push(entry.path());
            }
        }
        paths.sort();
        paths.truncate(CORPUS_FILES_MAX);
        let mut messages = Vec::with_capacity(paths.len());
        for path in paths {
            let bytes = std::fs::read(&path).map_err(read_error)?;
            messages.push(to_crlf(&bytes));
        }
        if messages.is_empty() {
            return Err(CorpusError::Empty(directory.display().to_string()));
        }
        Ok(Corpus { messages })
    }

    /// A random corpus message as message `n` of `run` (its Message-ID replaced).
    pub(crate) fn pick(&self, run: &RunId, n: u64, rng: &mut Rng) -> Vec<u8> {
        let index = rng.below(self.messages.len() as u64) as usize;
        with_message_id(&self.messages[index], &run.message_id(n))
    }

    /// How many messages it holds.
    pub(crate) fn len(&self) -> usize {
        self.messages.len()
    }
}

/// `bytes` with every line end CRLF (bare LF and bare CR become CRLF).
pub(crate) fn to_crlf(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 32);
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'\r' => {
                out.extend_from_slice(b"\r\n");
                if bytes.get(index + 1) == Some(&b'\n') {
                    index += 1;
                }
            }
            b'\n' => out.extend_from_slice(b"\r\n"),
            byte => out.push(byte),
        }
        index += 1;
    }
    out
}

/// `message` (CRLF line ends) with its Message-ID header fields (and their folded
/// continuation lines) removed and `Message-ID: id` put first.
pub(crate) fn with_message_id(message: &[u8], id: &str) -> Vec<u8> {
    let mut out = format!("Message-ID: {id}\r\n").into_bytes();
    out.reserve(message.len());
    let mut rest = message;
    let mut skipping = false;
    while !rest.is_empty() {
        let end = memchr::memmem::find(rest, b"\r\n").map_or(rest.len(), |i| i + 2);
        let line = &rest[..end];
        rest = &rest[end..];
        if line == b"\r\n" {
            out.extend_from_slice(line);
            out.extend_from_slice(rest);
            return out;
        }
        let continuation = line.first().is_some_and(|b| *b == b' ' || *b == b'\t');
        if !continuation {
            skipping = line.len() >= 11 && line[..11].eq_ignore_ascii_case(b"message-id:");
        }
        if !skipping {
            out.extend_from_slice(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn envelope() -> Envelope {
        Envelope { from: "load@example.org".into(), to: "mox@localhost".into() }
    }

    #[test]
    fn generated_messages_have_the_asked_size_and_id() {
        let run = RunId("0123456789ab".into());
        let mut rng = Rng::new(7);
        for size in [500usize, 1000, 4096, 65_537] {
            let message = generate(&run, 42, size, &envelope(), &mut rng);
            assert_eq!(message.len(), size, "size {size}");
            let text = String::from_utf8(message).unwrap();
            assert!(text.contains("\r\nMessage-ID: <load-0123456789ab-42@moxide-load>\r\n"));
            assert!(text.ends_with("\r\n"));
            assert!(text.split("\r\n").all(|line| line.len() <= 998));
            assert!(!text.replace("\r\n", "").contains(['\r', '\n']));
        }
        let tiny = generate(&run, 1, 10, &envelope(), &mut rng);
        assert!(tiny.len() > 10 && tiny.ends_with(b"\r\n\r\n"));
    }

    #[test]
    fn search_word_appears_in_some_messages() {
        let run = RunId("r".into());
        let mut rng = Rng::new(1);
        let hits = (0..1000)
            .filter(|&n| {
                let message = generate(&run, n, 2000, &envelope(), &mut rng);
                let body_start = memchr::memmem::find(&message, b"\r\n\r\n").unwrap();
                memchr::memmem::find(&message[body_start..], SEARCH_WORD.as_bytes()).is_some()
            })
            .count();
        assert!((50..200).contains(&hits), "{hits}");
    }

    #[test]
    fn message_ids_round_trip() {
        let run = RunId("abc".into());
        assert_eq!(run.parse_message_id(&run.message_id(17)), Some(17));
        assert_eq!(run.parse_message_id("Message-ID: <load-abc-3@moxide-load>\r\n"), Some(3));
        assert_eq!(run.parse_message_id("<load-abd-3@moxide-load>"), None);
        assert_eq!(run.parse_message_id("<load-abc-x@moxide-load>"), None);
        assert_ne!(RunId::new(), RunId::new());
    }

    #[test]
    fn dates() {
        assert_eq!(rfc5322_date(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc5322_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(rfc5322_date(1_735_689_599), "Tue, 31 Dec 2024 23:59:59 +0000");
    }

    #[test]
    fn corpus_messages_get_our_message_id() {
        let message = to_crlf(b"Subject: x\nMessage-Id: <old@x>\n  folded\nFrom: a@b\n\nMessage-ID: body\n");
        let replaced = with_message_id(&message, "<new@y>");
        assert_eq!(
            String::from_utf8(replaced).unwrap(),
            "Message-ID: <new@y>\r\nSubject: x\r\nFrom: a@b\r\n\r\nMessage-ID: body\r\n"
        );
        assert_eq!(to_crlf(b"a\rb\r\nc\n"), b"a\r\nb\r\nc\r\n");
    }

    #[test]
    fn corpus_loads_and_picks() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.eml"), "Subject: a\n\nbody a\n").unwrap();
        std::fs::write(dir.path().join("empty"), "").unwrap();
        let corpus = Corpus::load(dir.path()).unwrap();
        assert_eq!(corpus.len(), 1);
        let run = RunId("c".into());
        let picked = corpus.pick(&run, 5, &mut Rng::new(3));
        assert!(picked.starts_with(b"Message-ID: <load-c-5@moxide-load>\r\nSubject: a\r\n"));
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(Corpus::load(empty.path()), Err(CorpusError::Empty(_))));
    }
}
