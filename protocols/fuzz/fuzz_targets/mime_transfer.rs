//! Fuzz target: streaming Content-Transfer-Encoding removal (RFC 2045 §6.7, §6.8) for
//! BINARY (RFC 3516). The first bytes choose the encoding, the piece size, and a window
//! `<offset.length>`; the streamed output must equal `decode_body` of the whole input,
//! the window must be that output's slice, and BINARY.SIZE its length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moxide_protocols::mime::{
    DecodeProgress, DecodedSize, PartialDecoder, TransferDecoder, TransferEncoding, decode_body,
};

fuzz_target!(|data: &[u8]| {
    let [choice, piece, offset, length, input @ ..] = data else {
        return;
    };
    let (encoding, name) = match choice % 3 {
        0 => (TransferEncoding::Identity, &b"8bit"[..]),
        1 => (TransferEncoding::Base64, &b"base64"[..]),
        _ => (TransferEncoding::QuotedPrintable, &b"quoted-printable"[..]),
    };
    let whole = decode_body(input, name).expect("a known encoding");
    let piece = 1 + usize::from(*piece);
    let mut decoder = TransferDecoder::new(encoding);
    let mut streamed = Vec::new();
    let mut size = DecodedSize::new(encoding);
    for chunk in input.chunks(piece) {
        decoder.decode(chunk, &mut streamed);
        size.feed(chunk);
    }
    decoder.finish(&mut streamed);
    assert_eq!(streamed, whole);
    assert_eq!(size.finish(), whole.len() as u64);
    let (offset, length) = (u64::from(*offset), u64::from(*length));
    let mut window = PartialDecoder::new(encoding, offset, Some(length));
    let mut out = Vec::new();
    let mut done = false;
    for chunk in input.chunks(piece) {
        if window.decode(chunk, &mut out) == DecodeProgress::Done {
            done = true;
            break;
        }
    }
    if !done {
        window.finish(&mut out);
    }
    let start = (offset as usize).min(whole.len());
    let end = (start + length as usize).min(whole.len());
    assert_eq!(out, &whole[start..end]);
});
