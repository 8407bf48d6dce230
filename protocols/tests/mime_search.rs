//! SEARCH helpers (RFC 9051 §6.4.4): encoded words (RFC 2047), charsets, transfer
//! encodings, case folding, and which parts BODY and TEXT look at.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use moxide_protocols::mime::{
    MessageSummary, address_matches, body_matches, header_matches, summarize, text_matches,
};

fn header_block(message: &str) -> &[u8] {
    let summary = summarize(message.as_bytes());
    &message.as_bytes()[..summary.root.header.end as usize]
}

const HEADERS: &str = "From: =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <joerg@example.de>\r\n\
To: Team: \"Doe, Jane\" <jane@example.org>, bob@example.net;\r\n\
Cc: =?ISO-8859-1?B?SvZyZw==?= <j2@example.com>\r\n\
Subject: =?ISO-8859-1?Q?Caf=E9?= and\r\n\
\x20=?utf-8?b?Q3LDqG1l?= tonight\r\n\
X-Plain: ΣΟΦΌΣ\r\n\
\r\n\
body\r\n";

#[test]
fn header_values_are_decoded_and_unfolded() {
    let block = header_block(HEADERS);
    assert!(header_matches(block, "subject", "café"));
    assert!(header_matches(block, "Subject", "CAFÉ AND CRÈME"));
    assert!(header_matches(block, "SUBJECT", "crème tonight"));
    assert!(!header_matches(block, "Subject", "=?ISO"));
    assert!(!header_matches(block, "Subject", "cafe"));
    assert!(header_matches(block, "x-plain", "σοφός"));
    assert!(header_matches(block, "X-Plain", ""));
    assert!(!header_matches(block, "X-Missing", ""));
    assert!(!header_matches(block, "X-Missing", "x"));
}

#[test]
fn addresses_match_names_and_addresses() {
    let block = header_block(HEADERS);
    assert!(address_matches(block, "From", "jörg"));
    assert!(address_matches(block, "From", "MÜLLER"));
    assert!(address_matches(block, "from", "joerg@EXAMPLE"));
    assert!(address_matches(block, "From", "müller <joerg"));
    assert!(!address_matches(block, "From", "jane"));
    assert!(address_matches(block, "To", "doe, jane"));
    assert!(address_matches(block, "To", "bob@example.net"));
    assert!(address_matches(block, "To", "team"));
    assert!(address_matches(block, "Cc", "jörg"));
    assert!(!address_matches(block, "Bcc", ""));
    assert!(address_matches(block, "Cc", ""));
}

const MULTIPART: &str = "Subject: bodies\r\n\
Content-Type: multipart/mixed; boundary=x\r\n\
\r\n\
preamble with needle-in-preamble\r\n\
--x\r\n\
Content-Type: text/plain; charset=iso-8859-1\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Voil=E0 un caf=E9\r\n\
--x\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
X-Part-Marker: in a part header\r\n\
\r\n\
=CE=A3=CE=9F=CE=A6=CE=8C=CE=A3 soft=\r\n\
break\r\n\
--x\r\n\
Content-Type: text/html; charset=utf-8\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
PHA+SGVsbG8gPGI+d29ybGQ8L2I+PC9wPg==\r\n\
--x\r\n\
Content-Type: application/octet-stream\r\n\
\r\n\
secret-binary-words\r\n\
--x\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
Subject: embedded subject\r\n\
\r\n\
embedded body text\r\n\
--x--\r\n";

fn summary() -> MessageSummary {
    summarize(MULTIPART.as_bytes())
}

#[test]
fn body_search_decodes_transfer_encoding_and_charset() {
    let message = MULTIPART.as_bytes();
    let summary = summary();
    assert!(body_matches(message, &summary, "voilà un café"));
    assert!(body_matches(message, &summary, "VOILÀ"));
    assert!(body_matches(message, &summary, "σοφόσ"));
    assert!(body_matches(message, &summary, "softbreak"));
    assert!(!body_matches(message, &summary, "=E9"));
    assert!(body_matches(message, &summary, ""));
}

#[test]
fn body_search_reads_html_as_text_and_skips_binary_parts() {
    let message = MULTIPART.as_bytes();
    let summary = summary();
    assert!(body_matches(message, &summary, "hello world"));
    assert!(!body_matches(message, &summary, "<b>"));
    assert!(!body_matches(message, &summary, "secret-binary-words"));
    assert!(!body_matches(message, &summary, "needle-in-preamble"));
}

#[test]
fn body_search_includes_embedded_messages() {
    let message = MULTIPART.as_bytes();
    let summary = summary();
    assert!(body_matches(message, &summary, "embedded body text"));
    assert!(!body_matches(message, &summary, "embedded subject"));
    assert!(!body_matches(message, &summary, "x-part-marker"));
}

#[test]
fn text_search_covers_all_headers_and_bodies() {
    let message = MULTIPART.as_bytes();
    let summary = summary();
    assert!(text_matches(message, &summary, "subject: bodies"));
    assert!(text_matches(message, &summary, "embedded subject"));
    assert!(text_matches(message, &summary, "X-PART-MARKER: IN A PART"));
    assert!(text_matches(message, &summary, "café"));
    assert!(!text_matches(message, &summary, "secret-binary-words"));
    assert!(!text_matches(message, &summary, "nowhere to be found"));
}

#[test]
fn text_search_decodes_encoded_words_in_headers() {
    let message = HEADERS.as_bytes();
    let summary = summarize(message);
    assert!(text_matches(message, &summary, "jörg müller"));
    assert!(text_matches(message, &summary, "café and crème"));
    assert!(text_matches(message, &summary, "BODY"));
}

#[test]
fn search_survives_summaries_of_other_bytes() {
    // A summary applied to the wrong (shorter) bytes must not panic: ranges are checked.
    let summary = summary();
    assert!(!body_matches(b"short", &summary, "x"));
    assert!(!text_matches(b"", &summary, "x"));
}
