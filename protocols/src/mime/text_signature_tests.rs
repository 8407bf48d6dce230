//! Text signatures never rule out a message that SEARCH BODY or TEXT matches: on the
//! mail-parser crate's `.eml` corpus and on the proptest soups of the streaming search
//! tests, with needles taken from the messages; and they do rule out most needles that
//! are nowhere.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

use super::*;
use crate::mime::body_search::tests::FRAGMENTS;
use crate::mime::{body_matches, summarize, text_matches};

/// A match is never ruled out.
fn check(message: &[u8], needle: &str) {
    let summary = summarize(message);
    let Some(signature) = signature_of(message, &summary) else { return };
    let probe = SignatureProbe::new(needle);
    if body_matches(message, &summary, needle) || text_matches(message, &summary, needle) {
        assert!(
            probe.may_match(&signature),
            "{needle:?} ruled out of {:?}",
            String::from_utf8_lossy(message)
        );
    }
}

#[test]
fn matches_are_never_ruled_out() {
    let messages: &[&[u8]] = &[
        b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n\r\nplain WORDS here\r\n",
        b"Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 au=\r\n lait\r\n",
        b"Content-Type: text/html; charset=utf-8\r\n\r\n<p>Hello&nbsp;<b>wor</b>ld &amp; more</p>\r\n",
        b"Content-Type: text/plain; charset=utf-16le\r\nContent-Transfer-Encoding: base64\r\n\r\nSABlAGwAbABvACAAdwBvAHIAbABkAA==\r\n",
    ];
    for message in messages {
        for needle in [
            "grüße",
            "GRÜSSE",
            "subject: grü",
            "plain words",
            "café au lait",
            "hello world",
            "wor ld",
            "& more",
            "hello",
            "ab",
            "",
        ] {
            check(message, needle);
        }
    }
}

#[test]
fn absent_needles_are_ruled_out() {
    let message = b"Subject: hello\r\n\r\nA short plain text body about nothing in particular.\r\n";
    let summary = summarize(message);
    let signature = signature_of(message, &summary).unwrap();
    assert_eq!(signature[0], SIGNATURE_VERSION);
    assert_eq!(signature.len(), 2 + (1usize << signature[1]) / 8);
    for present in ["PLAIN TEXT", "subject: hello", "nothing in"] {
        assert!(SignatureProbe::new(present).may_match(&signature), "{present}");
    }
    assert!(!SignatureProbe::new("quetzalcoatl").may_match(&signature));
    // Fewer than three folded bytes: no trigram to test, nothing ruled out.
    assert!(SignatureProbe::new("ab").may_match(&signature));
    assert!(SignatureProbe::new("").may_match(&signature));
}

#[test]
fn damaged_signatures_rule_nothing_out() {
    let probe = SignatureProbe::new("quetzalcoatl");
    for signature in [
        &[][..],
        &[SIGNATURE_VERSION],
        &[SIGNATURE_VERSION, 6, 0],
        &[9, 6, 0, 0, 0, 0, 0, 0, 0, 0],
        &[SIGNATURE_VERSION, 30],
    ] {
        assert!(probe.may_match(signature), "{signature:?}");
    }
    let empty = [&[SIGNATURE_VERSION, 6][..], &[0u8; 8]].concat();
    assert!(!probe.may_match(&empty));
}

#[test]
fn large_texts_get_none_and_sizes_stay_bounded() {
    let mut message = b"Subject: big\r\n\r\n".to_vec();
    let line: Vec<u8> = (0..1000u32).flat_map(|n| format!("w{n:x} ").into_bytes()).collect();
    while (message.len() as u64) < SIGNATURE_SOURCE_BYTES_MAX / 2 {
        message.extend_from_slice(&line);
        message.extend_from_slice(b"\r\n");
    }
    let summary = summarize(&message);
    let signature = signature_of(&message, &summary).unwrap();
    assert!(signature.len() <= 2 + 8192);
    while (message.len() as u64) <= SIGNATURE_SOURCE_BYTES_MAX {
        message.extend_from_slice(&line);
    }
    let summary = summarize(&message);
    assert_eq!(signature_of(&message, &summary), None);
}

#[test]
fn corpus_matches_are_never_ruled_out() {
    let mut ruled_out = 0;
    let mut files = 0;
    for file in crate::mime::summarizer::tests::corpus_files() {
        let message = std::fs::read(&file).unwrap();
        let text = String::from_utf8_lossy(&message);
        let words: Vec<&str> =
            text.split_whitespace().filter(|word| word.len() > 3).step_by(31).take(12).collect();
        for needle in words {
            check(&message, needle);
        }
        let summary = summarize(&message);
        if let Some(signature) = signature_of(&message, &summary) {
            files += 1;
            ruled_out += usize::from(!SignatureProbe::new("no-such-needle-here").may_match(&signature));
        }
    }
    assert!(ruled_out * 10 >= files * 9, "{ruled_out} of {files}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn soup_matches_are_never_ruled_out(
        pieces in prop::collection::vec(0..FRAGMENTS.len(), 0..40),
        needle in prop::sample::select(vec!["needle", "café", "dle &", "nee dle", "σσσ", "caf", "eedl", "subject: caf"]),
    ) {
        let message: String = pieces.into_iter().map(|index| FRAGMENTS[index]).collect();
        check(message.as_bytes(), needle);
    }
}
