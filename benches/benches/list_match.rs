//! `list_match`: LIST pattern matching (RFC 9051 §6.3.9) with `protocols::imap::wildcard`,
//! on 1 000 mailbox names of up to 255 bytes and the patterns of issue 10 ("Bounded by
//! design": 60 000 `%`) beside ordinary ones. See the crate doc of `moxide-benches`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use moxide_protocols::imap::wildcard::Pattern;

fn names() -> Vec<String> {
    (0..1000)
        .map(|n| match n % 4 {
            0 => format!("Folder {n}"),
            1 => format!("Archive/{}/Month {n}", 2000 + n % 25),
            2 => format!("{n}{}", "/level".repeat(30)),
            _ => format!("{n}{}", "x".repeat(250)),
        })
        .collect()
}

fn list_match(c: &mut Criterion) {
    let names = names();
    let patterns = [
        ("star", "*".to_string()),
        ("archive", "Archive/%/Month 1*".to_string()),
        ("percent_60k", "%".repeat(60_000)),
        ("a_percent", "x%".repeat(120)),
    ];
    let mut group = c.benchmark_group("list_match");
    group.throughput(Throughput::Elements(names.len() as u64));
    for (label, pattern) in &patterns {
        group.bench_function(*label, |b| {
            b.iter(|| {
                let compiled = Pattern::new(black_box(pattern), b'/');
                names.iter().filter(|name| compiled.matches(name)).count()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, list_match);
criterion_main!(benches);
