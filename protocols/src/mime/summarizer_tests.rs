//! The streaming [`Summarizer`] against the whole-buffer reference it replaced
//! (`reference.rs`): equal summaries on a corpus of real and malformed mail (the `.eml`
//! files that ship with the mail-parser crate, found through `cargo metadata`, plus any
//! directory named in `MOXIDE_MIME_CORPUS`), on hand-made edge cases of RFC 2046 §5.1.1
//! delimiter placement, and on proptest soups of MIME fragments, each fed whole, byte by
//! byte and in random pieces; and under small header limits, so that the limit paths are
//! compared too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

use super::HeaderLimits;
use crate::mime::reference;
use crate::mime::{MessageSummary, Summarizer};

fn streamed(message: &[u8], pieces: &[usize], limits: HeaderLimits) -> MessageSummary {
    let mut summarizer = Summarizer::with_limits(limits);
    let mut rest = message;
    let mut sizes = pieces.iter().cycle();
    while !rest.is_empty() {
        let size = sizes.next().copied().unwrap_or(rest.len()).clamp(1, rest.len());
        summarizer.feed(&rest[..size]);
        summarizer.feed(&[]);
        rest = &rest[size..];
    }
    summarizer.finish()
}

/// Whole, byte by byte, and in pieces of 2, 3 and 7 bytes (which put every byte at every
/// position of a CRLF and of a short delimiter).
fn check_equal(message: &[u8], limits: HeaderLimits) {
    let expected = reference::summarize_with(message, limits);
    for pieces in [&[usize::MAX][..], &[1], &[2], &[3], &[7, 1, 13]] {
        let got = streamed(message, pieces, limits);
        assert_eq!(got, expected, "pieces {pieces:?} of {:?}", String::from_utf8_lossy(message));
    }
}

fn check(message: &[u8]) {
    check_equal(message, HeaderLimits::default());
}

#[test]
fn delimiter_edge_cases() {
    let cases: &[&[u8]] = &[
        b"",
        b"\r\n",
        b"\n",
        b"Subject: x",
        b"Subject: x\r\n",
        b"Subject: x\r\n\r",
        b"Subject: x\r\n\r\n",
        b"Subject: x\r\n\r\nbody",
        b"Subject: x\r\r\n\r\nbody\r",
        // The delimiter right after the multipart's empty line, and preamble, epilogue.
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b--\r\n",
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\npre\r\n--b\r\nA: 1\r\n\r\none\r\n--b--\r\nepi\r\n--b\r\n",
        // A child whose header the next delimiter ends, with and without the empty line.
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nX: y\r\n\r\n--b\r\nX: y\r\n--b\r\nX: y--b--",
        b"Content-Type: multipart/mixed; boundary=b\n\n--b\nX: y\n\n--b\nX: y\r\r\n--b--\n",
        // Consecutive delimiters (empty children), delimiters with trailing white space.
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n--b \t\r\n--b\r\r\n\r\nx\r\n--b--",
        // An inner delimiter line right before the outer one: the inner child is empty.
        b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/mixed; \
          boundary=q\r\n\r\n--q\r\n\r\ninner\r\n--q\r\n--a\r\n\r\nlast\r\n--a--\r\n",
        // An inner multipart whose header the outer delimiter ends.
        b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/mixed; \
          boundary=q\r\n\r\n--a--",
        // A message/rfc822 child ended by the delimiter, with and without its body.
        b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: message/rfc822\r\n\r\n\
          Subject: inner\r\n\r\ntext\r\n--a\r\nContent-Type: message/rfc822\r\n\r\n--a\r\n\
          Content-Type: message/rfc822\r\n--a--",
        b"Content-Type: message/rfc822",
        b"Content-Type: message/rfc822\r\n\r\n",
        b"Content-Type: message/rfc822\r\n\r\nContent-Type: message/rfc822\r\n\r\nX: 1\r\n\r\nend",
        // Same boundary inside, longer and shorter boundaries, a digest.
        b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/mixed; \
          boundary=a\r\n\r\n--a\r\n\r\nx\r\n--a--\r\n",
        b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/alternative; \
          boundary=ab\r\n\r\n--ab\r\n\r\nx\r\n--ab--\r\n--a\r\n\r\ny\r\n--a--",
        b"Content-Type: multipart/digest; boundary=d\r\n\r\n--d\r\n\r\nSubject: one\r\n\r\n1\r\n--d\r\n\
          Content-Type: text/plain\r\n\r\n2\r\n--d--",
        // No boundary parameter, an empty one, an unterminated last line that is a delimiter.
        b"Content-Type: multipart/mixed\r\n\r\n--\r\nx",
        b"Content-Type: multipart/mixed; boundary=\"\"\r\n\r\n--\r\n\r\nx",
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b  ",
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b",
        b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b-",
    ];
    for case in cases {
        check(case);
    }
}

/// The `.eml` files of the mail-parser crate's source (real mail from many clients, RFC
/// examples, malformed mail), and any directory in `MOXIDE_MIME_CORPUS`.
pub(crate) fn corpus_files() -> Vec<std::path::PathBuf> {
    let mut roots = Vec::new();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    let metadata = String::from_utf8_lossy(&output.stdout);
    for piece in metadata.split("\"manifest_path\":\"").skip(1) {
        let path = piece.split('"').next().unwrap_or_default();
        if path.contains("/mail-parser-") {
            roots.push(std::path::Path::new(path).with_file_name("resources"));
        }
    }
    if let Ok(extra) = std::env::var("MOXIDE_MIME_CORPUS") {
        roots.extend(extra.split(':').map(std::path::PathBuf::from));
    }
    let mut files = Vec::new();
    while let Some(dir) = roots.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                roots.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn corpus_summaries_are_equal() {
    let files = corpus_files();
    assert!(files.len() >= 100, "the mail-parser corpus was not found: {} files", files.len());
    for file in files {
        let message = std::fs::read(&file).unwrap();
        let expected = reference::summarize_with(&message, HeaderLimits::default());
        for pieces in [&[usize::MAX][..], &[1], &[3], &[4096, 17]] {
            assert_eq!(streamed(&message, pieces, HeaderLimits::default()), expected, "{}", file.display());
        }
    }
}

#[test]
fn header_limits_on_the_corpus() {
    let limits = HeaderLimits { header_bytes_max: 300, summary_header_bytes_max: 1000 };
    for file in corpus_files() {
        let message = std::fs::read(&file).unwrap();
        let expected = reference::summarize_with(&message, limits);
        assert_eq!(streamed(&message, &[1, 5, 64], limits), expected, "{}", file.display());
    }
}

/// Pieces of MIME that, shuffled, make structures a random byte string would not: nested
/// multiparts with related boundaries, digests, embedded messages, every line ending.
const FRAGMENTS: &[&str] = &[
    "Content-Type: multipart/mixed; boundary=a\r\n",
    "Content-Type: multipart/mixed; boundary=ab\n",
    "Content-Type: multipart/digest; boundary=b\n",
    "Content-Type: message/rfc822\r\n",
    "Content-Type: message/global\n",
    "Content-Type: text/html; charset=iso-8859-1\r\n",
    "Content-Transfer-Encoding: base64\r\n",
    "Content-Transfer-Encoding: 8bit\r\n",
    "From: \"A (b)\" <a@b>, G: c@d, e@f;\r\n",
    "Subject: x\r\n folded\r\n",
    "Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n",
    "\r\n",
    "\n",
    "\r",
    "\r\r\n",
    "--a\r\n",
    "--a--\r\n",
    "--a \t\r\n",
    "--ab\r\n",
    "--ab--",
    "--b\n",
    "--b--",
    "--",
    "-",
    " ",
    "text\r\n",
    "line",
];

fn fragment_soup() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        6 => (0..FRAGMENTS.len()).prop_map(|index| FRAGMENTS[index].as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..8),
    ];
    prop::collection::vec(piece, 0..80).prop_map(|pieces| pieces.concat())
}

fn pieces() -> impl Strategy<Value = Vec<usize>> {
    prop::collection::vec(1usize..40, 1..8)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn soups_are_summarized_alike(message in fragment_soup(), pieces in pieces()) {
        let expected = reference::summarize_with(&message, HeaderLimits::default());
        prop_assert_eq!(streamed(&message, &pieces, HeaderLimits::default()), expected);
    }

    #[test]
    fn random_bytes_are_summarized_alike(message in prop::collection::vec(any::<u8>(), 0..600), pieces in pieces()) {
        let expected = reference::summarize_with(&message, HeaderLimits::default());
        prop_assert_eq!(streamed(&message, &pieces, HeaderLimits::default()), expected);
    }

    #[test]
    fn header_limits_apply_alike(
        message in fragment_soup(),
        pieces in pieces(),
        header_bytes_max in 0usize..120,
        extra in 0usize..300,
    ) {
        let limits = HeaderLimits { header_bytes_max, summary_header_bytes_max: header_bytes_max + extra };
        let expected = reference::summarize_with(&message, limits);
        prop_assert_eq!(streamed(&message, &pieces, limits), expected);
    }
}
