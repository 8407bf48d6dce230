//! `commit_path`: the account store's group commit, [`AccountStore::deliver`] with
//! batches of 1, 10 and 100 messages, each a spool file hard-linked into the store.
//!
//! Fsync-bound by design: every batch makes its links durable (a directory fsync) and
//! commits one LMDB write transaction (its fsyncs), however many messages it holds, so
//! the time per batch is nearly flat and the time per message (criterion's throughput,
//! elements = messages) falls with the batch size. Each iteration really syncs the disk,
//! hence the small sample size; the store grows by one batch per iteration, as a live
//! account does. Set `MOXIDE_BENCH_DIR` to measure another filesystem.
//!
//! [`AccountStore::deliver`]: moxide_storage::AccountStore::deliver

#![allow(clippy::expect_used, reason = "bench setup: a broken fixture must stop the run loudly")]

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use moxide_benches::corpus::{TEXT_MESSAGE_BYTES, text_message};
use moxide_benches::store::{BenchStore, new_message};
use moxide_protocols::mime;
use moxide_storage::Flags;

/// Batch sizes: one message alone, a small burst, a busy account's batch.
const BATCH_SIZES: [u32; 3] = [1, 10, 100];

fn commit(c: &mut Criterion) {
    let mut group = c.benchmark_group("commit_path");
    group.sample_size(10).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5));
    for size in BATCH_SIZES {
        let bench = BenchStore::create("alice").expect("a bench store opens");
        let batch: Vec<_> = (0..size)
            .map(|n| {
                let message = text_message(n, TEXT_MESSAGE_BYTES);
                let path = bench.write_spool(&format!("spool-{n}"), &message).expect("the spool is written");
                let summary = mime::summarize(&message).encode();
                new_message(path, n, &message, Flags::empty(), Some(summary))
            })
            .collect();
        group.throughput(Throughput::Elements(u64::from(size)));
        group.bench_function(format!("deliver_batch_{size}"), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    bench.deliver(&batch).expect("the batch is delivered");
                }
                start.elapsed()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, commit);
criterion_main!(benches);
