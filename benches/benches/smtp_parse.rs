//! `smtp_parse`: the SMTP server session (RFC 5321, PIPELINING RFC 2920) on a pipelined
//! transaction, and DATA streaming of a 100 KiB dot-stuffed message. See the crate doc
//! of `moxide-benches` for what the numbers should be.

#![allow(clippy::expect_used, reason = "bench setup: a broken fixture must stop the run loudly")]

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use moxide_benches::corpus::{TEXT_MESSAGE_BYTES, dot_stuff, text_message};
use moxide_benches::smtp::{drive, server_config, session_in_data, transaction_input};
use moxide_protocols::smtp::ServerSession;

/// Recipients of the pipelined transaction: a small mailing-list fan-out.
const RECIPIENTS: u32 = 10;

/// Size of the streamed DATA message.
const DATA_MESSAGE_BYTES: usize = 100 * 1024;

fn transaction(c: &mut Criterion) {
    let message = text_message(7, TEXT_MESSAGE_BYTES);
    let input = transaction_input(RECIPIENTS, &message);
    let config = server_config();
    let mut group = c.benchmark_group("smtp_parse");
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.bench_function("transaction", |b| {
        b.iter(|| {
            let mut session = ServerSession::new(config.clone());
            let outcome = drive(&mut session, black_box(&input)).expect("the transaction is accepted");
            debug_assert_eq!(outcome.messages, 1); // debug only: inside the measured loop
            outcome
        });
    });
    let wire = dot_stuff(&text_message(1, DATA_MESSAGE_BYTES));
    group.throughput(Throughput::Bytes(wire.len() as u64));
    group.bench_function("data_100k", |b| {
        b.iter_batched_ref(
            || session_in_data().expect("the session reaches DATA"),
            |session| {
                let outcome = drive(session, black_box(&wire)).expect("the message is accepted");
                debug_assert_eq!(outcome.body_bytes, DATA_MESSAGE_BYTES as u64);
                outcome
            },
            BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, transaction);
criterion_main!(benches);
