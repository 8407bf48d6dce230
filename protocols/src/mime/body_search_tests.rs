//! Streaming SEARCH BODY/TEXT against the whole-buffer matchers (`body_matches`,
//! `text_matches`): equal verdicts on the mail-parser crate's `.eml` corpus and on
//! proptest soups, with needles taken from the messages themselves, for any cut of the
//! input; needles across piece boundaries; UTF-8 sequences cut between pieces.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

use super::*;
use crate::mime::{body_matches, summarize, text_matches};

fn streamed(
    message: &[u8],
    summary: &MessageSummary,
    scope: SearchScope,
    needle: &str,
    piece: usize,
) -> bool {
    let mut search = ContentSearch::new(summary, scope, needle);
    while let Some(range) = search.next_range() {
        let bytes = &message[range.start as usize..range.end as usize];
        for chunk in bytes.chunks(piece.max(1)) {
            search.feed(chunk);
        }
    }
    search.matched()
}

fn check(message: &[u8], needle: &str, piece: usize) {
    let summary = summarize(message);
    assert_eq!(
        streamed(message, &summary, SearchScope::Body, needle, piece),
        body_matches(message, &summary, needle),
        "BODY {needle:?} in pieces of {piece}"
    );
    assert_eq!(
        streamed(message, &summary, SearchScope::Text, needle, piece),
        text_matches(message, &summary, needle),
        "TEXT {needle:?} in pieces of {piece}"
    );
}

#[test]
fn needles_across_pieces() {
    let mut matcher = TextMatcher::new("ΣΟΦΌΣ straße");
    for piece in ["xx σο", "φός", " STRA", "ẞE", " straße"] {
        matcher.feed(piece);
    }
    assert!(matcher.found());
    let mut matcher = TextMatcher::new("needle");
    for piece in ["nee", "dl", "x needl"] {
        matcher.feed(piece);
    }
    assert!(!matcher.found());
    assert!(TextMatcher::new("").found());
}

#[test]
fn utf8_cut_between_pieces() {
    let text = "Grüße, 日本語, 🎉 and \u{fffd}".as_bytes();
    for cut in 0..text.len() {
        assert!(utf8_complete(&text[..cut]) <= cut);
    }
    let message =
        [b"Content-Type: text/plain; charset=utf-8\r\n\r\n".as_slice(), text, b"\xe2\x82\xff\xf0\x9f"]
            .concat();
    for piece in 1..8 {
        for needle in ["日本語", "🎉", "GRÜSSE", "grüße", "\u{fffd}\u{fffd}"] {
            check(&message, needle, piece);
        }
    }
}

#[test]
fn charsets_encodings_and_html() {
    let messages: &[&[u8]] = &[
        b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 au=\r\n lait\r\n",
        b"Content-Type: text/plain; charset=shift_jis\r\nContent-Transfer-Encoding: base64\r\n\r\ngrGC8YLJgr+CzQ==\r\n",
        b"Content-Type: text/html; charset=utf-8\r\n\r\n<html><head><style>p{}</style></head><body><p>Hello&nbsp;<b>wor</b>ld &amp; more</p></body></html>\r\n",
        b"Content-Type: text/plain; charset=utf-16le\r\nContent-Transfer-Encoding: base64\r\n\r\nSABlAGwAbABvACAAdwBvAHIAbABkAA==\r\n",
        b"Content-Type: multipart/alternative; boundary=b\r\nSubject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nplain words\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--b--\r\n",
    ];
    for message in messages {
        for needle in [
            "café",
            "au lait",
            "こんにちは",
            "hello world",
            "wor ld",
            "& more",
            "style",
            "hello",
            "plain words",
            "inner body",
            "grüße",
            "subject: inner",
            "zzz",
        ] {
            for piece in [1, 3, 64] {
                check(message, needle, piece);
            }
        }
    }
}

#[test]
fn corpus_verdicts_are_equal() {
    for file in crate::mime::summarizer::tests::corpus_files() {
        let message = std::fs::read(&file).unwrap();
        let summary = summarize(&message);
        // Needles: words of the message itself (some in bodies, some in headers), and one
        // that is nowhere.
        let text = String::from_utf8_lossy(&message);
        let words: Vec<&str> =
            text.split_whitespace().filter(|word| word.len() > 3).step_by(97).take(6).collect();
        for needle in words.into_iter().chain(["no-such-needle-here"]) {
            for piece in [7, 4096] {
                for scope in [SearchScope::Body, SearchScope::Text] {
                    let expected = match scope {
                        SearchScope::Body => body_matches(&message, &summary, needle),
                        SearchScope::Text => text_matches(&message, &summary, needle),
                    };
                    assert_eq!(
                        streamed(&message, &summary, scope, needle, piece),
                        expected,
                        "{} {needle:?} {scope:?}",
                        file.display()
                    );
                }
            }
        }
    }
}

pub(crate) const FRAGMENTS: &[&str] = &[
    "Content-Type: multipart/mixed; boundary=a\r\n",
    "Content-Type: text/html; charset=iso-8859-1\r\n",
    "Content-Type: text/plain; charset=utf-8\r\n",
    "Content-Type: message/rfc822\r\n",
    "Content-Transfer-Encoding: base64\r\n",
    "Content-Transfer-Encoding: quoted-printable\r\n",
    "Subject: =?iso-8859-1?q?caf=E9?= x\r\n",
    "\r\n",
    "--a\r\n",
    "--a--\r\n",
    "caf=E9 needle ",
    "bmVlZGxl",
    "<p>nee</p>dle &amp; ",
    "NEEDLE\r\n",
    "é",
    "\u{3a3}",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn soups_get_equal_verdicts(
        pieces in prop::collection::vec(0..FRAGMENTS.len(), 0..40),
        piece in 1usize..20,
        needle in prop::sample::select(vec!["needle", "café", "e", "dle &", "nee dle", "σ", "x", ""]),
    ) {
        let message: String = pieces.into_iter().map(|index| FRAGMENTS[index]).collect();
        check(message.as_bytes(), needle, piece);
    }
}

/// The ASCII shortcut applies to the ASCII-compatible charsets mail uses, so their
/// all-ASCII lines skip the decoder; the verdicts stay those of the decoder (above).
#[test]
fn ascii_compatible_charsets_take_the_ascii_shortcut() {
    for charset in [
        "iso-8859-1",
        "iso-8859-2",
        "iso-8859-15",
        "windows-1252",
        "windows-1251",
        "koi8-r",
        "shift_jis",
        "euc-jp",
        "gbk",
        "big5",
    ] {
        let decoder = mail_parser::decoders::charsets::map::charset_decoder(charset.as_bytes())
            .unwrap_or_else(|| panic!("{charset} is known"));
        assert!(maps_ascii_to_itself(decoder), "{charset}");
    }
    let lines = b"Content-Type: text/plain; charset=windows-1252\r\n\r\nplain line\r\ncaf\xe9 line\r\nlast";
    for needle in ["plain line", "café line", "last", "LINE\r\ncaf"] {
        for piece in [1, 5, 64] {
            check(lines, needle, piece);
        }
    }
}
