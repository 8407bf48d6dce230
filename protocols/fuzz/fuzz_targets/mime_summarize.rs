//! Fuzz target: message summaries (RFC 9051 §7.5.2 structures over RFC 2045/2046 MIME)
//! on arbitrary message bytes. Checks: no panic; every range of the summary lies inside
//! the message with headers ending where bodies start; the stored form decodes back to
//! the same summary; ENVELOPE/BODYSTRUCTURE output has balanced parentheses outside its
//! strings and literals; section ranges stay inside the message; the PREVIEW text (RFC
//! 8970) is at most 256 characters without control characters or runs of white space,
//! and the same when made again from the file range `preview_source` names (as for a
//! summary stored without one); the input, read as a stored summary, decodes or fails
//! cleanly.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moxide_protocols::mime::{
    MessageSummary, PREVIEW_CHARS_MAX, Part, SectionKind, header_fields, preview_source, preview_text,
    section_range, summarize, write_body_structure, write_envelope,
};

fuzz_target!(|data: &[u8]| {
    let summary = summarize(data);
    check_ranges(data, &summary);
    let decoded = MessageSummary::decode(&summary.encode()).expect("own encoding decodes");
    assert_eq!(decoded, summary);
    let mut out = Vec::new();
    write_body_structure(&mut out, &summary.root, true);
    check_balanced(&out);
    out.clear();
    write_body_structure(&mut out, &summary.root, false);
    check_balanced(&out);
    out.clear();
    write_envelope(&mut out, &summary.envelope);
    check_balanced(&out);
    for path in [&[][..], &[1], &[1, 1], &[2], &[2, 1], &[1, 2, 1]] {
        for kind in [SectionKind::Full, SectionKind::Header, SectionKind::Text, SectionKind::Mime] {
            if let Some(range) = section_range(&summary, path, kind) {
                assert!(range.start <= range.end && range.end <= data.len() as u64);
            }
        }
    }
    check_preview(data, &summary);
    let header = &data[..summary.root.header.end as usize];
    let _ = header_fields(header, &["subject".to_owned(), "from".to_owned()], false);
    if let Ok(stored) = MessageSummary::decode(data) {
        out.clear();
        write_body_structure(&mut out, &stored.root, true);
        write_envelope(&mut out, &stored.envelope);
    }
});

fn check_preview(data: &[u8], summary: &MessageSummary) {
    let preview = summary.preview.as_deref().expect("a new summary has a preview");
    assert!(preview.chars().count() <= PREVIEW_CHARS_MAX);
    assert!(!preview.chars().any(|c| c.is_control()));
    assert!(!preview.starts_with(' ') && !preview.ends_with(' ') && !preview.contains("  "));
    let source = preview_source(summary).map_or(&[][..], |range| &data[range.start as usize..range.end as usize]);
    assert_eq!(preview_text(summary, source), preview);
}

fn check_ranges(data: &[u8], summary: &MessageSummary) {
    let length = data.len() as u64;
    assert_eq!(summary.root.body.end, length);
    let mut stack: Vec<&Part> = vec![&summary.root];
    while let Some(part) = stack.pop() {
        assert!(part.header.start <= part.header.end);
        assert_eq!(part.header.end, part.body.start);
        assert!(part.body.start <= part.body.end && part.body.end <= length);
        for child in &part.children {
            assert!(part.body.start <= child.header.start && child.body.end <= part.body.end);
            stack.push(child);
        }
        if let Some(embedded) = &part.message {
            assert_eq!((embedded.1.header.start, embedded.1.body.end), (part.body.start, part.body.end));
            stack.push(&embedded.1);
        }
    }
}

/// Parentheses balance outside quoted strings and `{n}` literals; no bare CR/LF.
fn check_balanced(bytes: &[u8]) {
    let mut depth = 0i64;
    let mut index = 0;
    while index < bytes.len() {
        match bytes[index] {
            b'"' => {
                index += 1;
                while bytes[index] != b'"' {
                    index += if bytes[index] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' => {
                let close = index + bytes[index..].iter().position(|&byte| byte == b'}').expect("literal");
                let digits = std::str::from_utf8(&bytes[index + 1..close]).expect("digits");
                let length: usize = digits.parse().expect("length");
                assert_eq!(&bytes[close + 1..close + 3], b"\r\n");
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
