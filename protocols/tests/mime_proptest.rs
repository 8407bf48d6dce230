//! Property tests: `summarize` never panics and its summaries keep their invariants
//! (ranges nested and inside the message, limits held, stored form round-trips, IMAP
//! output balanced), on random bytes and on soups of MIME fragments; `decode` never
//! panics on garbage or on damaged stored summaries; the SEARCH helpers never panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use moxide_protocols::mime::{
    MessageSummary, PART_DEPTH_MAX, PARTS_MAX, Part, SectionKind, address_matches, body_matches, decode_body,
    header_matches, section_range, summarize, text_matches, write_body_structure, write_envelope,
};
use proptest::prelude::*;

/// Pieces of MIME that, shuffled, make structures a random byte string would not.
const FRAGMENTS: &[&str] = &[
    "Content-Type: multipart/mixed; boundary=a\r\n",
    "Content-Type: multipart/digest; boundary=b\n",
    "Content-Type: message/rfc822\r\n",
    "Content-Type: text/html; charset=iso-8859-1\r\n",
    "Content-Type: text/plain; charset*0*=utf-8''%E2; charset*1*=%82%AC\r\n",
    "Content-Transfer-Encoding: base64\r\n",
    "Content-Transfer-Encoding: quoted-printable\r\n",
    "Content-Disposition: attachment; filename=\"x\\\"y\"\r\n",
    "Content-Language: en, fr\r\n",
    "From: \"A (b)\" <a@b>, G: c@d, e@f;\r\n",
    "To: =?utf-8?q?=C3=A9?= <x@y>\r\n",
    "Subject: =?iso-8859-1?q?caf=E9?=\r\n \r\n",
    "Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n",
    "\r\n",
    "\n",
    "--a\r\n",
    "--a--\r\n",
    "--b\n",
    "--b--",
    " folded\r\n",
    "text =E9 aGVsbG8=\r\n",
    "(comment",
    "\"quote",
    "<",
    ":;,@",
    ")]",
    "Cc: [x] (y) <z> ; a:b@c ,",
];

fn fragment_soup() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => (0..FRAGMENTS.len()).prop_map(|index| FRAGMENTS[index].as_bytes().to_vec()),
        1 => prop::collection::vec(any::<u8>(), 0..12),
    ];
    prop::collection::vec(piece, 0..60).prop_map(|pieces| pieces.concat())
}

/// Every part with its depth, without recursion.
fn all_parts(summary: &MessageSummary) -> Vec<(&Part, usize)> {
    let mut out = Vec::new();
    let mut stack = vec![(&summary.root, 0usize)];
    while let Some((part, depth)) = stack.pop() {
        out.push((part, depth));
        stack.extend(part.children.iter().map(|child| (child, depth + 1)));
        if let Some(embedded) = &part.message {
            stack.push((&embedded.1, depth + 1));
        }
    }
    out
}

fn check_ranges(message: &[u8], summary: &MessageSummary) {
    let length = message.len() as u64;
    assert_eq!(summary.root.header.start, 0);
    assert_eq!(summary.root.body.end, length);
    let parts = all_parts(summary);
    assert!(parts.len() <= PARTS_MAX);
    for (part, depth) in parts {
        assert!(depth <= PART_DEPTH_MAX);
        assert!(part.header.start <= part.header.end);
        assert_eq!(part.header.end, part.body.start);
        assert!(part.body.start <= part.body.end && part.body.end <= length);
        assert_eq!(part.size, part.body.end - part.body.start);
        let mut previous_end = part.body.start;
        for child in &part.children {
            assert!(child.header.start >= previous_end);
            assert!(child.body.end <= part.body.end);
            previous_end = child.body.end;
        }
        if let Some(embedded) = &part.message {
            assert_eq!(embedded.1.header.start, part.body.start);
            assert_eq!(embedded.1.body.end, part.body.end);
        }
    }
}

/// Parentheses balance outside quoted strings and literals, and every literal is whole.
fn check_imap_syntax(bytes: &[u8]) {
    let mut depth = 0i64;
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'"' => {
                index += 1;
                while bytes[index] != b'"' {
                    assert!(bytes[index] != b'\r' && bytes[index] != b'\n' && bytes[index] < 0x80);
                    index += if bytes[index] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' => {
                let close = index + bytes[index..].iter().position(|&byte| byte == b'}').unwrap();
                let length: usize = std::str::from_utf8(&bytes[index + 1..close]).unwrap().parse().unwrap();
                assert_eq!(&bytes[close + 1..close + 3], b"\r\n");
                assert!(!bytes[close + 3..close + 3 + length].contains(&0));
                index = close + 2 + length;
            }
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                assert!(depth >= 0);
            }
            byte => assert!(byte != b'\r' && byte != b'\n'),
        }
        index += 1;
    }
    assert_eq!(depth, 0);
}

fn check_summary(message: &[u8]) {
    let summary = summarize(message);
    check_ranges(message, &summary);
    assert_eq!(MessageSummary::decode(&summary.encode()).unwrap(), summary);
    for extension_data in [false, true] {
        let mut out = Vec::new();
        write_body_structure(&mut out, &summary.root, extension_data);
        check_imap_syntax(&out);
    }
    let mut out = Vec::new();
    write_envelope(&mut out, &summary.envelope);
    check_imap_syntax(&out);
    for path in [&[][..], &[1], &[1, 1], &[2], &[1, 2, 1], &[3, 1, 1, 1]] {
        for kind in [SectionKind::Full, SectionKind::Header, SectionKind::Text, SectionKind::Mime] {
            if let Some(range) = section_range(&summary, path, kind) {
                assert!(range.start <= range.end && range.end <= message.len() as u64);
            }
        }
    }
}

proptest! {
    #[test]
    fn summarize_random_bytes(message in prop::collection::vec(any::<u8>(), 0..2048)) {
        check_summary(&message);
    }

    #[test]
    fn summarize_mime_soup(message in fragment_soup()) {
        check_summary(&message);
    }

    #[test]
    fn decode_random_bytes(mut bytes in prop::collection::vec(any::<u8>(), 0..512), versioned in any::<bool>()) {
        if versioned && !bytes.is_empty() {
            bytes[0] = 1;
        }
        let _ = MessageSummary::decode(&bytes);
    }

    #[test]
    fn decode_damaged_summaries(
        message in fragment_soup(),
        cut in any::<prop::sample::Index>(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
    ) {
        let encoded = summarize(&message).encode();
        let truncated = &encoded[..cut.index(encoded.len() + 1).min(encoded.len())];
        if truncated.len() < encoded.len() {
            prop_assert!(MessageSummary::decode(truncated).is_err());
        }
        let mut damaged = encoded.clone();
        for (position, value) in flips {
            let index = position.index(damaged.len());
            damaged[index] = value;
        }
        if let Ok(summary) = MessageSummary::decode(&damaged) {
            let mut out = Vec::new();
            write_body_structure(&mut out, &summary.root, true);
            write_envelope(&mut out, &summary.envelope);
        }
    }

    #[test]
    fn search_helpers_never_panic(message in fragment_soup(), needle in "\\PC{0,6}") {
        let summary = summarize(&message);
        let header = &message[..summary.root.header.end as usize];
        let _ = header_matches(header, "subject", &needle);
        let _ = address_matches(header, "from", &needle);
        let _ = body_matches(&message, &summary, &needle);
        let _ = text_matches(&message, &summary, &needle);
        for encoding in [&b"base64"[..], b"quoted-printable", b"7bit"] {
            let _ = decode_body(&message, encoding);
        }
    }
}
