//! `fetch_write`: FETCH through the real IMAP server session (RFC 9051 §7.5.2), from the
//! command line to the last response byte, with the in-memory storage side answering its
//! requests: UID FLAGS RFC822.SIZE for 1000 messages (the sync every client sends after
//! SELECT), and ENVELOPE + BODYSTRUCTURE of one message (the per-message path of a
//! header-list FETCH). See the crate doc of `moxide-benches`.

#![allow(clippy::expect_used, reason = "bench setup: a broken fixture must stop the run loudly")]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use moxide_benches::corpus::{TEXT_MESSAGE_BYTES, multipart_message, text_message};
use moxide_benches::imap::FetchBench;

/// Messages per FETCH in the flags bench: a mailbox page a client syncs at once.
const FETCH_MESSAGES: u32 = 1000;

fn flags(c: &mut Criterion) {
    let mut bench = FetchBench::new((0..FETCH_MESSAGES).map(|n| text_message(n, TEXT_MESSAGE_BYTES)));
    let command = format!("a1 FETCH 1:{FETCH_MESSAGES} (UID FLAGS RFC822.SIZE)\r\n").into_bytes();
    assert!(bench.run(&command).ends_with(b"a1 OK FETCH completed\r\n"), "the bench FETCH works");
    let mut group = c.benchmark_group("fetch_write");
    group.throughput(Throughput::Elements(u64::from(FETCH_MESSAGES)));
    group.bench_function("flags_uid_size_1000", |b| b.iter(|| bench.run(black_box(&command)).len()));
    group.throughput(Throughput::Elements(1));
    let messages = [
        ("envelope_structure_text_4k", text_message(3, TEXT_MESSAGE_BYTES)),
        ("envelope_structure_multipart_200k", multipart_message()),
    ];
    for (name, message) in messages {
        let mut bench = FetchBench::new([message]);
        let command = b"a2 FETCH 1 (UID ENVELOPE BODYSTRUCTURE)\r\n";
        assert!(bench.run(command).ends_with(b"a2 OK FETCH completed\r\n"), "the bench FETCH works");
        group.bench_function(name, |b| b.iter(|| bench.run(black_box(command)).len()));
    }
    group.finish();
}

criterion_group!(benches, flags);
criterion_main!(benches);
