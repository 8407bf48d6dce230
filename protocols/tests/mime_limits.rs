//! The named limits of the `mime` module, each at N and N+1: nesting depth
//! (`PART_DEPTH_MAX`), parts per message (`PARTS_MAX`), header fields considered
//! (`HEADER_FIELDS_MAX`), and the same bounds when decoding a stored summary.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use moxide_protocols::mime::{
    HEADER_FIELDS_MAX, MessageSummary, PART_DEPTH_MAX, PARTS_MAX, Part, SectionKind, SummaryError,
    section_range, summarize, write_body_structure,
};

/// `levels` multiparts nested in each other (boundaries b1, b2, ...), the innermost
/// holding one application/x-leaf part. The top-level multipart is level 1.
fn nested_multiparts(levels: usize) -> Vec<u8> {
    let mut message = Vec::new();
    for level in 1..=levels {
        if level > 1 {
            message.extend_from_slice(format!("--b{}\r\n", level - 1).as_bytes());
        }
        message.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=b{level}\r\n\r\n").as_bytes(),
        );
    }
    message.extend_from_slice(
        format!("--b{levels}\r\nContent-Type: application/x-leaf\r\n\r\nleaf\r\n").as_bytes(),
    );
    for level in (1..=levels).rev() {
        message.extend_from_slice(format!("--b{level}--\r\n").as_bytes());
    }
    message
}

/// `levels` message/rfc822 parts nested in each other, the innermost message a leaf.
fn nested_messages(levels: usize) -> Vec<u8> {
    let mut message = Vec::new();
    for _ in 0..levels {
        message.extend_from_slice(b"Subject: wrapper\r\nContent-Type: message/rfc822\r\n\r\n");
    }
    message.extend_from_slice(b"Subject: innermost\r\nContent-Type: application/x-leaf\r\n\r\nleaf");
    message
}

/// The deepest part (following the last child or the embedded message) and its depth.
fn deepest(summary: &MessageSummary) -> (&Part, usize) {
    let mut part = &summary.root;
    let mut depth = 0;
    loop {
        let next = match (&part.message, part.children.last()) {
            (Some(embedded), _) => &embedded.1,
            (None, Some(child)) => child,
            (None, None) => return (part, depth),
        };
        part = next;
        depth += 1;
    }
}

fn media(part: &Part) -> String {
    format!("{}/{}", String::from_utf8_lossy(&part.media_type), String::from_utf8_lossy(&part.media_subtype))
}

fn round_trip(summary: &MessageSummary) {
    assert_eq!(&MessageSummary::decode(&summary.encode()).unwrap(), summary);
}

#[test]
fn multipart_depth_at_the_limit_is_parsed() {
    let summary = summarize(&nested_multiparts(PART_DEPTH_MAX));
    let (leaf, depth) = deepest(&summary);
    assert_eq!(depth, PART_DEPTH_MAX);
    assert_eq!(media(leaf), "application/x-leaf");
    round_trip(&summary);
    let mut out = Vec::new();
    write_body_structure(&mut out, &summary.root, true);
    assert!(String::from_utf8(out).unwrap().contains("\"application\" \"x-leaf\""));
}

#[test]
fn multipart_depth_over_the_limit_becomes_a_text_leaf() {
    let message = nested_multiparts(PART_DEPTH_MAX + 1);
    let summary = summarize(&message);
    let (leaf, depth) = deepest(&summary);
    assert_eq!(depth, PART_DEPTH_MAX);
    assert_eq!(media(leaf), "text/plain");
    let body = &message[leaf.body.start as usize..leaf.body.end as usize];
    assert!(body.starts_with(format!("--b{}\r\n", PART_DEPTH_MAX + 1).as_bytes()));
    round_trip(&summary);
}

#[test]
fn message_depth_at_and_over_the_limit() {
    let summary = summarize(&nested_messages(PART_DEPTH_MAX));
    let (leaf, depth) = deepest(&summary);
    assert_eq!((depth, media(leaf)), (PART_DEPTH_MAX, "application/x-leaf".to_string()));
    round_trip(&summary);

    let summary = summarize(&nested_messages(PART_DEPTH_MAX + 1));
    let (leaf, depth) = deepest(&summary);
    assert_eq!((depth, media(leaf)), (PART_DEPTH_MAX, "text/plain".to_string()));
    round_trip(&summary);
}

fn many_children(children: usize) -> Vec<u8> {
    let mut message = b"Content-Type: multipart/mixed; boundary=p\r\n\r\n".to_vec();
    for index in 0..children {
        message.extend_from_slice(format!("--p\r\n\r\nchild {index}\r\n").as_bytes());
    }
    message.extend_from_slice(b"--p--\r\n");
    message
}

#[test]
fn parts_at_the_limit_are_all_kept() {
    // The root plus PARTS_MAX - 1 children is PARTS_MAX parts.
    let message = many_children(PARTS_MAX - 1);
    let summary = summarize(&message);
    assert_eq!(summary.root.children.len(), PARTS_MAX - 1);
    let last = section_range(&summary, &[u32::try_from(PARTS_MAX - 1).unwrap()], SectionKind::Full).unwrap();
    assert_eq!(
        &message[last.start as usize..last.end as usize],
        format!("child {}", PARTS_MAX - 2).as_bytes()
    );
    round_trip(&summary);
}

#[test]
fn parts_over_the_limit_fold_into_the_last() {
    let message = many_children(PARTS_MAX);
    let summary = summarize(&message);
    assert_eq!(summary.root.children.len(), PARTS_MAX - 1);
    let last = section_range(&summary, &[u32::try_from(PARTS_MAX - 1).unwrap()], SectionKind::Full).unwrap();
    let expected = format!("child {}\r\n--p\r\n\r\nchild {}", PARTS_MAX - 2, PARTS_MAX - 1);
    assert_eq!(&message[last.start as usize..last.end as usize], expected.as_bytes());
    round_trip(&summary);
}

#[test]
fn header_fields_past_the_limit_are_not_considered() {
    let mut message = Vec::new();
    for _ in 0..HEADER_FIELDS_MAX - 1 {
        message.extend_from_slice(b"Received: from somewhere\r\n");
    }
    message.extend_from_slice(b"Subject: the last one considered\r\nFrom: ignored@example.com\r\n\r\nbody");
    let summary = summarize(&message);
    assert_eq!(summary.envelope.subject.as_deref(), Some(&b"the last one considered"[..]));
    assert!(summary.envelope.from.is_empty());
    assert_eq!(&message[summary.root.body.start as usize..], b"body");
}

/// A stored summary whose parts nest `depth` levels below the root (hand-made bytes: the
/// encoder itself never writes deeper than the limit).
fn encoded_chain(depth: usize) -> Vec<u8> {
    // header range, body range, type, subtype, params, id, description, encoding, size,
    // lines, md5, disposition, languages, location; then the children count.
    let fields = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut bytes = vec![1u8, 0]; // version, no date
    bytes.extend_from_slice(&[0; 10]); // an empty envelope
    for _ in 0..depth {
        bytes.extend_from_slice(&fields);
        bytes.push(1); // one child
    }
    bytes.extend_from_slice(&fields);
    bytes.push(0); // the leaf: no children
    bytes.extend(std::iter::repeat_n(0u8, depth + 1)); // no embedded message, each level
    bytes
}

#[test]
fn decode_enforces_the_depth_limit() {
    let summary = MessageSummary::decode(&encoded_chain(PART_DEPTH_MAX)).unwrap();
    assert_eq!(deepest(&summary).1, PART_DEPTH_MAX);
    assert_eq!(MessageSummary::decode(&encoded_chain(PART_DEPTH_MAX + 1)), Err(SummaryError::TooManyParts));
}

#[test]
fn encode_cuts_hand_built_trees_at_the_depth_limit() {
    let mut root = Part::default();
    for _ in 0..PART_DEPTH_MAX + 5 {
        root = Part { media_type: b"multipart".to_vec(), children: vec![root], ..Part::default() };
    }
    let summary = MessageSummary { root, ..MessageSummary::default() };
    let decoded = MessageSummary::decode(&summary.encode()).unwrap();
    assert_eq!(deepest(&decoded).1, PART_DEPTH_MAX);
    let mut out = Vec::new();
    write_body_structure(&mut out, &summary.root, true); // deep parts written as empty ones
    assert!(out.ends_with(b"NIL NIL NIL)"));
}

#[test]
fn container_without_budget_left_becomes_a_text_leaf() {
    // The root, PARTS_MAX - 2 leaves and one multipart use the whole budget: the
    // multipart cannot have children of its own.
    let mut message = b"Content-Type: multipart/mixed; boundary=p\r\n\r\n".to_vec();
    for index in 0..PARTS_MAX - 2 {
        message.extend_from_slice(format!("--p\r\n\r\nchild {index}\r\n").as_bytes());
    }
    message.extend_from_slice(
        b"--p\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\n\r\ninner\r\n--q--\r\n--p--\r\n",
    );
    let summary = summarize(&message);
    assert_eq!(summary.root.children.len(), PARTS_MAX - 1);
    let last = summary.root.children.last().unwrap();
    assert_eq!(media(last), "text/plain");
    assert!(last.children.is_empty());
    let body = &message[last.body.start as usize..last.body.end as usize];
    assert_eq!(body, b"--q\r\n\r\ninner\r\n--q--");
    round_trip(&summary);
}
