//! `search_10k`: SEARCH (RFC 9051 §6.4.4) over a mailbox of 10,000 messages, filled once
//! per run, with the program the real IMAP session makes. `flag_unseen` is the index
//! pass (records read in place, `SEARCH UNSEEN` judged on each); `header_in_memory`
//! matches a Subject needle on header blocks already in memory; `header_from_files` is
//! the whole two-phase search `SEARCH HEADER Subject invoice` (the index pass leaves
//! every message undecided, then every file is read and its header judged). See the
//! crate doc of `moxide-benches`.

#![allow(clippy::expect_used, reason = "bench setup: a broken fixture must stop the run loudly")]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use moxide_benches::corpus::{INVOICE_EVERY, INVOICE_WORD};
use moxide_benches::store::{
    BenchStore, header_blocks, match_headers, search_headers, search_index, search_program,
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
    let unseen = search_program("UNSEEN", MESSAGES).expect("UNSEEN parses");
    let headers = search_program(&format!("HEADER Subject {INVOICE_WORD}"), MESSAGES).expect("HEADER parses");
    // Checked once outside the measurement: the searches find what the corpus holds.
    let (found, undecided) = search_index(store, inbox, &unseen).expect("the index pass runs");
    assert_eq!((found.len(), undecided.len()), ((MESSAGES / 10) as usize, 0));
    let blocks = header_blocks(store, inbox).expect("the header blocks load");
    let invoices = (MESSAGES / INVOICE_EVERY) as usize;
    assert_eq!(match_headers(&blocks, "Subject", INVOICE_WORD).len(), invoices);
    assert_eq!(search_headers(store, inbox, &headers).expect("the search runs").len(), invoices);

    let mut group = c.benchmark_group("search_10k");
    group.throughput(Throughput::Elements(u64::from(MESSAGES)));
    group.bench_function("flag_unseen", |b| {
        b.iter(|| search_index(store, black_box(inbox), &unseen).expect("the index pass runs"));
    });
    group.bench_function("header_in_memory", |b| {
        b.iter(|| match_headers(black_box(&blocks), "Subject", INVOICE_WORD));
    });
    group.sample_size(10).measurement_time(Duration::from_secs(10));
    group.bench_function("header_from_files", |b| {
        b.iter(|| search_headers(store, inbox, black_box(&headers)).expect("the search runs"));
    });
    group.finish();
}

criterion_group!(benches, search);
criterion_main!(benches);
