//! `mime_summarize`: computing a message's MIME summary (RFC 2045/2046 structure, RFC
//! 5322 envelope) at delivery, whole and streamed in 32 KiB pieces as the SMTP session
//! feeds it, and encoding/decoding its stored form; streaming BINARY decoding (RFC 3516)
//! of the multipart fixture's body; the text signature SEARCH BODY/TEXT filter with. See
//! the crate doc of `moxide-benches`.

#![allow(clippy::expect_used, reason = "bench setup: a broken fixture must stop the run loudly")]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use moxide_benches::corpus::{TEXT_MESSAGE_BYTES, multipart_message, text_message};
use moxide_protocols::mime::{
    DecodedSize, MessageSummary, SignatureProbe, Summarizer, TransferDecoder, TransferEncoding, signature_of,
    summarize,
};

fn summaries(c: &mut Criterion) {
    let messages =
        [("text_4k", text_message(3, TEXT_MESSAGE_BYTES)), ("multipart_200k", multipart_message())];
    let mut group = c.benchmark_group("mime_summarize");
    for (name, message) in &messages {
        group.throughput(Throughput::Bytes(message.len() as u64));
        group.bench_function(format!("summarize_{name}"), |b| b.iter(|| summarize(black_box(message))));
        group.bench_function(format!("summarize_streamed_{name}"), |b| {
            b.iter(|| {
                let mut summarizer = Summarizer::new();
                for piece in black_box(message).chunks(32 * 1024) {
                    summarizer.feed(piece);
                }
                summarizer.finish()
            })
        });
        for (encoding, label) in
            [(TransferEncoding::Base64, "base64"), (TransferEncoding::QuotedPrintable, "qp")]
        {
            group.bench_function(format!("decode_{label}_{name}"), |b| {
                let mut out = Vec::with_capacity(64 * 1024);
                b.iter(|| {
                    let mut decoder = TransferDecoder::new(encoding);
                    for piece in black_box(message).chunks(64 * 1024) {
                        out.clear();
                        decoder.decode(piece, &mut out);
                    }
                    decoder.finish(&mut out);
                })
            });
            group.bench_function(format!("decoded_size_{label}_{name}"), |b| {
                b.iter(|| {
                    let mut size = DecodedSize::new(encoding);
                    size.feed(black_box(message));
                    size.finish()
                })
            });
        }
        let summary = summarize(message);
        let encoded = summary.encode();
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("encode_{name}"), |b| b.iter(|| black_box(&summary).encode()));
        group.bench_function(format!("decode_{name}"), |b| {
            b.iter(|| MessageSummary::decode(black_box(&encoded)).expect("the summary decodes"))
        });
        // The text signature made at delivery (issue 16), and one SEARCH BODY probe of it.
        group.bench_function(format!("text_signature_{name}"), |b| {
            b.iter(|| signature_of(black_box(message), &summary))
        });
        let signature = signature_of(message, &summary).expect("the fixture gets a signature");
        let probe = SignatureProbe::new("quetzalcoatl");
        group.bench_function(format!("signature_probe_{name}"), |b| {
            b.iter(|| black_box(&probe).may_match(black_box(&signature)))
        });
    }
    group.finish();
}

criterion_group!(benches, summaries);
criterion_main!(benches);
