//! The streaming transfer decoders against the whole-buffer ones they replaced (kept here
//! as the reference): equal output for any cut of the input, windows equal to slices of
//! the whole output, sizes equal to its length, and the quoted-printable white-space
//! limit at N and N+1.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;

use super::*;

/// The whole-buffer base64 decoder that the stream replaced.
fn reference_base64(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut accumulator = 0u32;
    let mut count = 0u8;
    for &byte in input {
        if byte == b'=' {
            break;
        }
        let Some(value) = base64_value(byte) else {
            continue;
        };
        accumulator = (accumulator << 6) | value;
        count += 1;
        if count == 4 {
            out.extend_from_slice(&accumulator.to_be_bytes()[1..]);
            accumulator = 0;
            count = 0;
        }
    }
    match count {
        2 => out.push((accumulator >> 4).to_be_bytes()[3]),
        3 => out.extend_from_slice(&(accumulator >> 2).to_be_bytes()[2..]),
        _ => {}
    }
    out
}

/// The whole-buffer quoted-printable decoder that the stream replaced.
fn reference_quoted_printable(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in input.split_inclusive(|&byte| byte == b'\n') {
        let content_length = if line.ends_with(b"\r\n") {
            line.len() - 2
        } else if line.ends_with(b"\n") {
            line.len() - 1
        } else {
            line.len()
        };
        let (content, line_break) = line.split_at(content_length);
        let end = content.iter().rposition(|&byte| byte != b' ' && byte != b'\t').map_or(0, |last| last + 1);
        let content = &content[..end];
        let (content, soft) = match content.strip_suffix(b"=") {
            Some(content) => (content, true),
            None => (content, false),
        };
        let mut index = 0;
        while let Some(&byte) = content.get(index) {
            if byte == b'='
                && let (Some(high), Some(low)) = (
                    content.get(index + 1).and_then(|&h| hex_value(h)),
                    content.get(index + 2).and_then(|&l| hex_value(l)),
                )
            {
                out.push(high << 4 | low);
                index += 3;
                continue;
            }
            out.push(byte);
            index += 1;
        }
        if !soft {
            out.extend_from_slice(line_break);
        }
    }
    out
}

fn reference(input: &[u8], encoding: TransferEncoding) -> Vec<u8> {
    match encoding {
        TransferEncoding::Identity => input.to_vec(),
        TransferEncoding::Base64 => reference_base64(input),
        TransferEncoding::QuotedPrintable => reference_quoted_printable(input),
    }
}

fn pieces_of<'a>(input: &'a [u8], sizes: &[usize]) -> Vec<&'a [u8]> {
    let mut pieces = Vec::new();
    let mut rest = input;
    let mut sizes = sizes.iter().cycle();
    while !rest.is_empty() {
        let size = sizes.next().copied().unwrap_or(rest.len()).clamp(1, rest.len());
        pieces.push(&rest[..size]);
        rest = &rest[size..];
    }
    pieces
}

fn streamed(input: &[u8], encoding: TransferEncoding, sizes: &[usize]) -> Vec<u8> {
    let mut decoder = TransferDecoder::new(encoding);
    let mut out = Vec::new();
    for piece in pieces_of(input, sizes) {
        decoder.decode(piece, &mut out);
    }
    decoder.finish(&mut out);
    out
}

fn window(
    input: &[u8],
    encoding: TransferEncoding,
    sizes: &[usize],
    offset: u64,
    length: Option<u64>,
) -> Vec<u8> {
    let mut decoder = PartialDecoder::new(encoding, offset, length);
    let mut out = Vec::new();
    for piece in pieces_of(input, sizes) {
        if decoder.decode(piece, &mut out) == DecodeProgress::Done {
            return out;
        }
    }
    decoder.finish(&mut out);
    out
}

fn size(input: &[u8], encoding: TransferEncoding, sizes: &[usize]) -> u64 {
    let mut counter = DecodedSize::new(encoding);
    for piece in pieces_of(input, sizes) {
        counter.feed(piece);
    }
    counter.finish()
}

const ENCODINGS: [TransferEncoding; 3] =
    [TransferEncoding::Identity, TransferEncoding::Base64, TransferEncoding::QuotedPrintable];

#[test]
fn base64_variants() {
    let b64 = |input: &[u8]| decode_body(input, b"base64").unwrap();
    assert_eq!(b64(b"aGVsbG8="), b"hello");
    assert_eq!(b64(b"aGVs\r\nbG8h"), b"hello!");
    assert_eq!(b64(b"aGVsbA=="), b"hell");
    assert_eq!(b64(b"a GV*sbG8"), b"hello");
    assert_eq!(b64(b"aGVsbG8=garbage"), b"hello");
    assert_eq!(b64(b"a"), b"");
    assert_eq!(b64(b""), b"");
}

#[test]
fn quoted_printable_variants() {
    let qp = |input: &[u8]| decode_body(input, b"quoted-printable").unwrap();
    assert_eq!(qp(b"a=3Db=\r\nc  \r\nd=e9=\n"), b"a=bc\r\nd\xe9");
    assert_eq!(qp(b"=ZZ =4"), b"=ZZ =4");
    assert_eq!(qp(b"x=  \r\ny"), b"xy");
    assert_eq!(qp(b"end="), b"end");
    assert_eq!(qp(b"==41=4=\r\n"), b"=A=4");
    assert_eq!(qp(b"a \r b\r\r\n=\rX= \r\n"), b"a \r b\r\r\n=\rX");
}

#[test]
fn names() {
    assert_eq!(TransferEncoding::from_name(b" BASE64 "), Ok(TransferEncoding::Base64));
    assert_eq!(TransferEncoding::from_name(b"Quoted-Printable"), Ok(TransferEncoding::QuotedPrintable));
    for identity in [&b""[..], b"7bit", b"8BIT", b"binary"] {
        assert_eq!(TransferEncoding::from_name(identity), Ok(TransferEncoding::Identity));
    }
    assert_eq!(TransferEncoding::from_name(b"x-uuencode"), Err(DecodeError::UnknownEncoding));
}

#[test]
fn white_space_runs_at_the_limit() {
    // At the limit a run before a line break is deleted, as RFC 2045 §6.7 rule 3 says.
    let mut input = b"a".to_vec();
    input.extend(std::iter::repeat_n(b' ', QUOTED_PRINTABLE_SPACE_BYTES_MAX));
    input.extend_from_slice(b"\r\nb");
    assert_eq!(streamed(&input, TransferEncoding::QuotedPrintable, &[1]), b"a\r\nb");
    assert_eq!(streamed(&input, TransferEncoding::QuotedPrintable, &[usize::MAX]), b"a\r\nb");
    // One more: no encoder wrote it, and it is kept rather than held.
    let mut input = b"a=".to_vec();
    input.extend(std::iter::repeat_n(b'\t', QUOTED_PRINTABLE_SPACE_BYTES_MAX + 1));
    input.extend_from_slice(b"\r\nb");
    let mut expected = b"a=".to_vec();
    expected.extend(std::iter::repeat_n(b'\t', QUOTED_PRINTABLE_SPACE_BYTES_MAX + 1));
    expected.extend_from_slice(b"\r\nb");
    for sizes in [&[1][..], &[7], &[usize::MAX]] {
        assert_eq!(streamed(&input, TransferEncoding::QuotedPrintable, sizes), expected);
    }
}

#[test]
fn windows_stop_early() {
    // A 3 MB base64 body: the window at its start is done after the first piece.
    let body = b"QUJD".repeat(1_000_000);
    let mut decoder = PartialDecoder::new(TransferEncoding::Base64, 3, Some(4));
    let mut out = Vec::new();
    assert_eq!(decoder.decode(&body[..64 * 1024], &mut out), DecodeProgress::Done);
    assert_eq!(out, b"ABCA");
    assert_eq!(size(&body, TransferEncoding::Base64, &[65_536]), 3_000_000);
    let tail = window(&body, TransferEncoding::Base64, &[65_536], 2_999_998, None);
    assert_eq!(tail, b"BC");
    // Padding ends base64 data: nothing after it is read.
    let mut decoder = PartialDecoder::new(TransferEncoding::Base64, 0, None);
    assert_eq!(decoder.decode(b"QUI=QUJD", &mut out), DecodeProgress::Done);
}

fn encoded_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => prop::sample::select(vec![
            &b"="[..], b"=4", b"=41", b"=e9", b"=ZZ", b"= ", b"\t", b" ", b"\r", b"\n", b"\r\n", b"QUJD",
            b"aGVsbG8", b"==", b"abc", b"\xff", b"=\r\n", b"=  \n",
        ])
        .prop_map(<[u8]>::to_vec),
        1 => prop::collection::vec(any::<u8>(), 0..6),
    ];
    prop::collection::vec(piece, 0..60).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn streams_equal_the_whole_buffer_decoders(
        input in encoded_bytes(),
        sizes in prop::collection::vec(1usize..9, 1..5),
    ) {
        for encoding in ENCODINGS {
            let expected = reference(&input, encoding);
            prop_assert_eq!(&streamed(&input, encoding, &sizes), &expected);
            prop_assert_eq!(size(&input, encoding, &sizes), expected.len() as u64);
        }
    }

    #[test]
    fn windows_are_slices_of_the_output(
        input in encoded_bytes(),
        sizes in prop::collection::vec(1usize..9, 1..5),
        offset in 0u64..120,
        length in prop::option::of(0u64..50),
    ) {
        for encoding in ENCODINGS {
            let whole = reference(&input, encoding);
            let start = usize::try_from(offset).unwrap().min(whole.len());
            let end = length.map_or(whole.len(), |length| (start + usize::try_from(length).unwrap()).min(whole.len()));
            prop_assert_eq!(&window(&input, encoding, &sizes, offset, length), &whole[start..end]);
        }
    }
}
