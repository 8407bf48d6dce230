//! `fetch_write`: building FETCH responses (RFC 9051 §7.5.2). FLAGS/UID/RFC822.SIZE for
//! 1000 messages with the IMAP response writers, and ENVELOPE + BODYSTRUCTURE from a
//! stored (encoded) MIME summary: decode, then write, the per-message path of a
//! header-list FETCH. See the crate doc of `moxide-benches`.

#![allow(clippy::expect_used, reason = "bench setup: a broken fixture must stop the run loudly")]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use moxide_benches::corpus::{TEXT_MESSAGE_BYTES, multipart_message, text_message};
use moxide_benches::imap::{mailbox_infos, write_fetch_flags, write_fetch_structure};
use moxide_protocols::mime;

/// Messages per FETCH in the flags bench: a mailbox page a client syncs at once.
const FETCH_MESSAGES: u32 = 1000;

fn flags(c: &mut Criterion) {
    let infos = mailbox_infos(FETCH_MESSAGES);
    let mut group = c.benchmark_group("fetch_write");
    group.throughput(Throughput::Elements(u64::from(FETCH_MESSAGES)));
    let mut out = Vec::with_capacity(64 * 1024);
    group.bench_function("flags_uid_size_1000", |b| {
        b.iter(|| {
            out.clear();
            for (seq, info) in (1..).zip(black_box(&infos)) {
                write_fetch_flags(&mut out, seq, info);
            }
            out.len()
        });
    });
    let messages = [
        ("envelope_structure_text_4k", text_message(3, TEXT_MESSAGE_BYTES)),
        ("envelope_structure_multipart_200k", multipart_message()),
    ];
    group.throughput(Throughput::Elements(1));
    for (name, message) in &messages {
        let stored = mime::summarize(message).encode();
        group.bench_function(*name, |b| {
            b.iter(|| {
                out.clear();
                write_fetch_structure(&mut out, 1, 1001, black_box(&stored)).expect("the summary decodes");
                out.len()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, flags);
criterion_main!(benches);
