//! Section ranges (RFC 9051 §6.4.5) on the RFC's own example structure, HEADER.FIELDS
//! subsets, and BINARY decoding (RFC 3516).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use moxide_protocols::mime::{
    DecodeError, MessageSummary, SectionKind, decode_body, header_fields, section_part, section_range,
    summarize,
};

/// RFC 9051 §6.4.5's example: HEADER/TEXT of the message (MULTIPART/MIXED), 1 TEXT/PLAIN,
/// 2 APPLICATION/OCTET-STREAM, 3 MESSAGE/RFC822 (3.1 TEXT/PLAIN, 3.2
/// APPLICATION/OCTET-STREAM), 4 MULTIPART/MIXED (4.1 IMAGE/GIF, 4.2 MESSAGE/RFC822 with
/// 4.2.1 TEXT/PLAIN and 4.2.2 MULTIPART/ALTERNATIVE of 4.2.2.1 TEXT/PLAIN and 4.2.2.2
/// TEXT/RICHTEXT).
const RFC_EXAMPLE: &str = "Subject: top\r\n\
Content-Type: multipart/mixed; boundary=A\r\n\
\r\n\
--A\r\n\
Content-Type: text/plain\r\n\
\r\n\
part 1\r\n\
--A\r\n\
Content-Type: application/octet-stream\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
cGFydCAy\r\n\
--A\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
Subject: part 3\r\n\
Content-Type: multipart/mixed; boundary=B\r\n\
\r\n\
--B\r\n\
Content-Type: text/plain\r\n\
\r\n\
part 3.1\r\n\
--B\r\n\
Content-Type: application/octet-stream\r\n\
\r\n\
part 3.2\r\n\
--B--\r\n\
--A\r\n\
Content-Type: multipart/mixed; boundary=C\r\n\
\r\n\
--C\r\n\
Content-Type: image/gif\r\n\
\r\n\
part 4.1\r\n\
--C\r\n\
Content-Type: message/rfc822\r\n\
\r\n\
Subject: part 4.2\r\n\
Content-Type: multipart/mixed; boundary=D\r\n\
\r\n\
--D\r\n\
Content-Type: text/plain\r\n\
\r\n\
part 4.2.1\r\n\
--D\r\n\
Content-Type: multipart/alternative; boundary=E\r\n\
\r\n\
--E\r\n\
Content-Type: text/plain\r\n\
\r\n\
part 4.2.2.1\r\n\
--E\r\n\
Content-Type: text/richtext\r\n\
\r\n\
part 4.2.2.2\r\n\
--E--\r\n\
--D--\r\n\
--C--\r\n\
--A--\r\n";

fn fetch(summary: &MessageSummary, message: &str, path: &[u32], kind: SectionKind) -> Option<String> {
    let range = section_range(summary, path, kind)?;
    Some(message[range.start as usize..range.end as usize].to_string())
}

fn check(message: &str, path: &[u32], kind: SectionKind, expected: Option<&str>) {
    let summary = summarize(message.as_bytes());
    let got = fetch(&summary, message, path, kind);
    assert_eq!(got.as_deref(), expected, "section {path:?} {kind:?}");
}

/// The text between two markers of the example, `start` included, `end` excluded.
fn between(start: &str, end: &str) -> String {
    let from = RFC_EXAMPLE.find(start).unwrap();
    let to = from + RFC_EXAMPLE[from..].find(end).unwrap();
    RFC_EXAMPLE[from..to].to_string()
}

#[test]
fn rfc_example_whole_message() {
    use SectionKind::{Full, Header, Mime, Text};
    check(RFC_EXAMPLE, &[], Full, Some(RFC_EXAMPLE));
    check(
        RFC_EXAMPLE,
        &[],
        Header,
        Some("Subject: top\r\nContent-Type: multipart/mixed; boundary=A\r\n\r\n"),
    );
    check(RFC_EXAMPLE, &[], Text, Some(&RFC_EXAMPLE[between("Subject: top", "--A\r\n").len()..]));
    check(RFC_EXAMPLE, &[], Mime, None);
}

#[test]
fn rfc_example_leaf_parts() {
    use SectionKind::{Full, Header, Mime, Text};
    check(RFC_EXAMPLE, &[1], Full, Some("part 1"));
    check(RFC_EXAMPLE, &[1], Mime, Some("Content-Type: text/plain\r\n\r\n"));
    check(RFC_EXAMPLE, &[1], Header, None);
    check(RFC_EXAMPLE, &[1], Text, None);
    check(RFC_EXAMPLE, &[2], Full, Some("cGFydCAy"));
    check(RFC_EXAMPLE, &[4, 1], Full, Some("part 4.1"));
    check(RFC_EXAMPLE, &[4, 1], Mime, Some("Content-Type: image/gif\r\n\r\n"));
    // A leaf answers to `.1` as itself (Dovecot does the same).
    check(RFC_EXAMPLE, &[4, 1, 1], Full, Some("part 4.1"));
    check(RFC_EXAMPLE, &[4, 1, 2], Full, None);
}

#[test]
fn rfc_example_message_rfc822_parts() {
    use SectionKind::{Full, Header, Mime, Text};
    check(RFC_EXAMPLE, &[3], Full, Some(&between("Subject: part 3", "\r\n--A\r\n")));
    check(
        RFC_EXAMPLE,
        &[3],
        Header,
        Some("Subject: part 3\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\n"),
    );
    check(RFC_EXAMPLE, &[3], Text, Some(&between("--B\r\n", "\r\n--A\r\n")));
    check(RFC_EXAMPLE, &[3], Mime, Some("Content-Type: message/rfc822\r\n\r\n"));
    check(RFC_EXAMPLE, &[3, 1], Full, Some("part 3.1"));
    check(RFC_EXAMPLE, &[3, 1], Mime, Some("Content-Type: text/plain\r\n\r\n"));
    check(RFC_EXAMPLE, &[3, 2], Full, Some("part 3.2"));
    check(RFC_EXAMPLE, &[3, 3], Full, None);
    check(
        RFC_EXAMPLE,
        &[4, 2],
        Header,
        Some("Subject: part 4.2\r\nContent-Type: multipart/mixed; boundary=D\r\n\r\n"),
    );
    check(RFC_EXAMPLE, &[4, 2], Text, Some(&between("--D\r\n", "\r\n--C--")));
    check(RFC_EXAMPLE, &[4, 2], Full, Some(&between("Subject: part 4.2", "\r\n--C--")));
}

#[test]
fn rfc_example_nested_multiparts() {
    use SectionKind::{Full, Header, Mime, Text};
    check(RFC_EXAMPLE, &[4], Full, Some(&between("--C\r\n", "\r\n--A--")));
    check(RFC_EXAMPLE, &[4], Mime, Some("Content-Type: multipart/mixed; boundary=C\r\n\r\n"));
    check(RFC_EXAMPLE, &[4], Header, None);
    check(RFC_EXAMPLE, &[4, 2, 1], Full, Some("part 4.2.1"));
    check(RFC_EXAMPLE, &[4, 2, 2], Full, Some(&between("--E\r\n", "\r\n--D--")));
    check(RFC_EXAMPLE, &[4, 2, 2], Mime, Some("Content-Type: multipart/alternative; boundary=E\r\n\r\n"));
    check(RFC_EXAMPLE, &[4, 2, 2, 1], Full, Some("part 4.2.2.1"));
    check(RFC_EXAMPLE, &[4, 2, 2, 2], Full, Some("part 4.2.2.2"));
    check(RFC_EXAMPLE, &[4, 2, 2, 2], Mime, Some("Content-Type: text/richtext\r\n\r\n"));
    check(RFC_EXAMPLE, &[4, 2, 2, 2], Text, None);
}

#[test]
fn rfc_example_missing_parts() {
    use SectionKind::Full;
    for path in [&[0][..], &[5], &[4, 3], &[4, 2, 3], &[4, 2, 2, 3], &[1, 2], &[u32::MAX]] {
        check(RFC_EXAMPLE, path, Full, None);
    }
}

#[test]
fn rfc_example_structure_and_binary() {
    let summary = summarize(RFC_EXAMPLE.as_bytes());
    let types: Vec<String> = summary
        .root
        .children
        .iter()
        .map(|part| {
            format!(
                "{}/{}",
                String::from_utf8_lossy(&part.media_type),
                String::from_utf8_lossy(&part.media_subtype)
            )
        })
        .collect();
    assert_eq!(types, ["text/plain", "application/octet-stream", "message/rfc822", "multipart/mixed"]);
    let attachment = section_part(&summary, &[2]).unwrap();
    assert_eq!(attachment, &summary.root.children[1]);
    assert_eq!(section_part(&summary, &[4, 2, 2, 2]).unwrap().media_subtype, b"richtext");
    assert_eq!(
        section_part(&summary, &[3, 1]).unwrap(),
        &summary.root.children[2].message.as_ref().unwrap().1.children[0]
    );
    assert!(section_part(&summary, &[]).is_none());
    assert!(section_part(&summary, &[4, 3]).is_none());
    let range = section_range(&summary, &[2], SectionKind::Full).unwrap();
    let body = &RFC_EXAMPLE.as_bytes()[range.start as usize..range.end as usize];
    assert_eq!(decode_body(body, &attachment.encoding).unwrap(), b"part 2");
}

#[test]
fn non_multipart_message_has_only_part_one() {
    use SectionKind::{Full, Header, Mime, Text};
    let message = "Subject: s\r\n\r\nbody\r\n";
    check(message, &[1], Full, Some("body\r\n"));
    check(message, &[1], Mime, Some("Subject: s\r\n\r\n"));
    check(message, &[1], Header, None);
    check(message, &[2], Full, None);
    check(message, &[], Text, Some("body\r\n"));
}

#[test]
fn top_level_message_rfc822() {
    use SectionKind::{Full, Header, Text};
    let message = "Content-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\ninner body";
    check(message, &[1], Full, Some("Subject: in\r\n\r\ninner body"));
    check(message, &[1], Header, Some("Subject: in\r\n\r\n"));
    check(message, &[1], Text, Some("inner body"));
    check(message, &[1, 1], Full, Some("inner body"));
}

#[test]
fn header_fields_keep_folding() {
    let block = b"Subject: a\r\n b\r\nFrom: x@y\r\nTo: z@w\r\n\tcontinued\r\nX-Other: 1\r\n\r\n";
    let names = vec!["subject".to_string(), "TO".to_string()];
    assert_eq!(header_fields(block, &names, false), b"Subject: a\r\n b\r\nTo: z@w\r\n\tcontinued\r\n\r\n");
    assert_eq!(header_fields(block, &names, true), b"From: x@y\r\nX-Other: 1\r\n\r\n");
    assert_eq!(header_fields(block, &["Nope".to_string()], false), b"\r\n");
    assert_eq!(header_fields(block, &[], true), block);
}

#[test]
fn header_fields_of_a_section() {
    let summary = summarize(RFC_EXAMPLE.as_bytes());
    let range = section_range(&summary, &[4, 2], SectionKind::Header).unwrap();
    let block = &RFC_EXAMPLE.as_bytes()[range.start as usize..range.end as usize];
    assert_eq!(header_fields(block, &["subject".to_string()], false), b"Subject: part 4.2\r\n\r\n");
}

#[test]
fn decode_body_per_encoding() {
    assert_eq!(decode_body(b"aGVsbG8gd29y\r\nbGQ=\r\n", b"base64").unwrap(), b"hello world");
    assert_eq!(decode_body(b"aGVsbG8=", b" BASE64 ").unwrap(), b"hello");
    assert_eq!(decode_body(b"a=3D1=\r\nb\r\n", b"Quoted-Printable").unwrap(), b"a=1b\r\n");
    let utf8_qp = decode_body(b"Gr=C3=BC=C3=9Fe", b"quoted-printable").unwrap();
    assert_eq!(String::from_utf8(utf8_qp).unwrap(), "Grüße");
    for identity in [&b"7bit"[..], b"8BIT", b"binary", b""] {
        assert_eq!(decode_body(b"as\xffis\r\n", identity).unwrap(), b"as\xffis\r\n");
    }
    assert_eq!(decode_body(b"begin 644 x", b"x-uuencode"), Err(DecodeError::UnknownEncoding));
}
