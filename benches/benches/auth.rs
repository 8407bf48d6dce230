//! `auth`: the checks of incoming mail and the DNS cache they read. `spf/include_chain`:
//! `check_host()` through an include chain of three lookups, answers from memory (what a
//! warm cache gives). `dkim/verify_rsa2048`, `dkim/verify_ed25519`: a 4 KiB message
//! through the intake (header kept, body hashed) and one signature verified, the key from
//! memory. `dns_cache/hit`, `dns_cache/insert_full`: the per-core cache's lookup and an
//! insert that evicts (the cache full at 10,000 entries). See the crate doc for the
//! numbers they should show.

#![allow(clippy::expect_used, reason = "bench setup: a broken fixture must stop the run loudly")]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use futures_lite::future::block_on;
use moxide_actors::dns::cache::Cache;
use moxide_benches::auth::{DOMAIN, Key, signed_message, spf_zone};
use moxide_protocols::auth::dkim;
use moxide_protocols::auth::intake::Intake;
use moxide_protocols::auth::spf::{SpfCheck, check_host};
use moxide_protocols::dns::{Answer, DomainName, Question, RecordData, RecordType};

/// Message size for the DKIM benchmarks: a typical text message.
const MESSAGE_BYTES: usize = 4096;

/// Entries in the cache benchmarks: the default per-core bound.
const CACHE_ENTRIES: usize = 10_000;

fn spf(c: &mut Criterion) {
    let zone = spf_zone();
    let check = SpfCheck {
        ip: "192.0.2.10".parse().expect("address"),
        local: "user",
        domain: DOMAIN,
        helo: "mx.bench.example",
        receiver: "mx.example.org",
        now_secs: 0,
    };
    c.bench_function("spf/include_chain", |b| b.iter(|| block_on(check_host(&zone, black_box(&check)))));
}

fn dkim_verify(c: &mut Criterion) {
    let mut group = c.benchmark_group("dkim");
    for (name, key) in [("verify_rsa2048", Key::Rsa2048), ("verify_ed25519", Key::Ed25519)] {
        let signed = signed_message(key, MESSAGE_BYTES).expect("fixture signs");
        group.throughput(Throughput::Bytes(signed.message.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let mut intake = Intake::new();
                intake.update(black_box(&signed.message));
                let results = block_on(dkim::verify(&signed.zone, &intake.finish(), 0));
                debug_assert_eq!(results[0].status, dkim::DkimStatus::Pass); // debug only
                results
            });
        });
    }
    group.finish();
}

fn question(i: usize) -> Question {
    Question::new(DomainName::parse(&format!("name{i}.example")).expect("valid name"), RecordType::Txt)
}

fn dns_cache(c: &mut Criterion) {
    let answer =
        Ok(Arc::new(Answer::with_records(vec![RecordData::Txt(vec![b"v=spf1 -all".to_vec().into()])], 300)));
    let mut cache = Cache::new(CACHE_ENTRIES);
    for i in 0..CACHE_ENTRIES {
        cache.insert(question(i), &answer, 0);
    }
    let hot = question(CACHE_ENTRIES / 2);
    c.bench_function("dns_cache/hit", |b| b.iter(|| cache.get(black_box(&hot), 1)));
    let mut next = CACHE_ENTRIES;
    c.bench_function("dns_cache/insert_full", |b| {
        b.iter(|| {
            next += 1;
            cache.insert(question(next), &answer, next as u64);
        });
    });
}

criterion_group!(benches, spf, dkim_verify, dns_cache);
criterion_main!(benches);
