//! `search_10k`: SEARCH (RFC 9051 §6.4.4) over a mailbox of 10,000 messages, filled once
//! per run. `flag_unseen` is the index pass (records read in place, `\Seen` checked);
//! `header_in_memory` matches a Subject needle on header blocks already in memory;
//! `header_from_files` is the whole content pass (records + summaries from one read
//! transaction, then every file read and its header matched). The IMAP session's search
//! code is private to `moxide-actors`; these run the same public building blocks in the
//! same order. See the crate doc of `moxide-benches`.

#![allow(clippy::expect_used, reason = "bench setup: a broken fixture must stop the run loudly")]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use moxide_benches::corpus::{INVOICE_EVERY, INVOICE_WORD};
use moxide_benches::store::{
    BenchStore, header_blocks, match_headers, search_header_in_files, search_unseen,
};

/// Messages in the searched mailbox.
const MESSAGES: u32 = 10_000;

fn search(c: &mut Criterion) {
    let bench = BenchStore::create("alice").expect("a bench store opens");
    let report = bench.fill(MESSAGES).expect("the store fills");
    eprintln!(
        "search_10k: filled {} messages ({} KiB) in {:.2?}",
        report.messages,
        report.bytes / 1024,
        report.elapsed
    );
    let (store, inbox) = (&bench.store, bench.inbox);
    // Checked once outside the measurement: the searches find what the corpus holds.
    let unseen = search_unseen(store, inbox).expect("the index pass runs");
    assert_eq!(unseen.len(), (MESSAGES / 10) as usize);
    let blocks = header_blocks(store, inbox).expect("the header blocks load");
    let invoices = (MESSAGES / INVOICE_EVERY) as usize;
    assert_eq!(match_headers(&blocks, "Subject", INVOICE_WORD).len(), invoices);

    let mut group = c.benchmark_group("search_10k");
    group.throughput(Throughput::Elements(u64::from(MESSAGES)));
    group.bench_function("flag_unseen", |b| {
        b.iter(|| search_unseen(store, black_box(inbox)).expect("the index pass runs"));
    });
    group.bench_function("header_in_memory", |b| {
        b.iter(|| match_headers(black_box(&blocks), "Subject", INVOICE_WORD));
    });
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    group.bench_function("header_from_files", |b| {
        b.iter(|| {
            let found = search_header_in_files(store, inbox, "Subject", black_box(INVOICE_WORD));
            found.expect("the content pass runs")
        });
    });
    group.finish();
}

criterion_group!(benches, search);
criterion_main!(benches);
