//! `imap_parse`: typical client commands through the IMAP command reader (RFC 9051
//! grammar; APPEND with a synchronizing literal, RFC 9051 §6.3.12). One reader serves all
//! iterations, as one serves a connection. See the crate doc of `moxide-benches`.

#![allow(clippy::expect_used, reason = "bench setup: a broken fixture must stop the run loudly")]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use moxide_benches::imap::{
    append_command, read_all, reader, search_command, store_command, uid_fetch_command,
};

fn commands(c: &mut Criterion) {
    let mut group = c.benchmark_group("imap_parse");
    let inputs = [
        ("uid_fetch_header_fields", uid_fetch_command()),
        ("search_or_not", search_command()),
        ("uid_store", store_command()),
        ("append_10k", append_command()),
    ];
    for (name, input) in &inputs {
        let mut reader = reader();
        // Checked once outside the measurement: the command must be read, not refused.
        let outcome = read_all(&mut reader, input).expect("the command is read");
        assert_eq!(outcome.commands, 1, "{name}");
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function(*name, |b| {
            b.iter(|| read_all(&mut reader, black_box(input)).expect("the command is read"));
        });
    }
    group.finish();
}

criterion_group!(benches, commands);
criterion_main!(benches);
