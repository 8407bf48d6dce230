//! `mime_summarize`: computing a message's MIME summary (RFC 2045/2046 structure, RFC
//! 5322 envelope) at delivery, and encoding/decoding its stored form. See the crate doc
//! of `moxide-benches`.

#![allow(clippy::expect_used, reason = "bench setup: a broken fixture must stop the run loudly")]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use moxide_benches::corpus::{TEXT_MESSAGE_BYTES, multipart_message, text_message};
use moxide_protocols::mime::{MessageSummary, summarize};

fn summaries(c: &mut Criterion) {
    let messages =
        [("text_4k", text_message(3, TEXT_MESSAGE_BYTES)), ("multipart_200k", multipart_message())];
    let mut group = c.benchmark_group("mime_summarize");
    for (name, message) in &messages {
        group.throughput(Throughput::Bytes(message.len() as u64));
        group.bench_function(format!("summarize_{name}"), |b| b.iter(|| summarize(black_box(message))));
        let summary = summarize(message);
        let encoded = summary.encode();
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("encode_{name}"), |b| b.iter(|| black_box(&summary).encode()));
        group.bench_function(format!("decode_{name}"), |b| {
            b.iter(|| MessageSummary::decode(black_box(&encoded)).expect("the summary decodes"))
        });
    }
    group.finish();
}

criterion_group!(benches, summaries);
criterion_main!(benches);
