//! moxide's criterion micro-benchmarks, and the fixtures they share.
//!
//! `cargo bench -p moxide-benches` runs them all (release profile); `cargo bench -p
//! moxide-benches -- --test` runs each routine once, as a smoke test; `cargo bench -p
//! moxide-benches --bench commit_path` runs one target. The fixtures (this library) have
//! unit tests of their own: a benchmark whose input is refused measures nothing, so the
//! tests check that every input does what its bench claims.
//!
//! # Design overview
//!
//! Inputs are built in code ([`corpus`]) and driven through the public, sans-IO APIs of
//! `moxide-protocols` the way the session actors drive them ([`smtp`], [`imap`]), and
//! through `moxide-storage` on a temporary data directory ([`store`]). Nothing here
//! needs the runtime: what the actors add on top (socket reads, executor hops, the
//! helper-thread offload) is the load tests' business. Where the measured code is private
//! to the actors crate (FETCH item building, SEARCH evaluation), the fixtures assemble
//! the same public building blocks in the same order, and their docs say so.
//!
//! # The benchmarks
//!
//! Napkin math first (STYLE rule 16): what each number should be, and what it is for.
//!
//! - **`smtp_parse`** — `transaction`: one pipelined EHLO, MAIL, 10 RCPT, DATA with a
//!   4 KiB message, QUIT through [`moxide_protocols::smtp::ServerSession`], every
//!   event answered `Accept`. ~15 command lines at ~0.3-0.5 µs each plus 4 KiB of
//!   DATA decoding should stay under ~10 µs: 100k transactions/s per core, far above
//!   what the network and the commit path allow. `data_100k`: streaming a 100 KiB
//!   message with dot-stuffed lines (RFC 5321 §4.5.2) into `Body` events; throughput in
//!   bytes. The DATA decoder must run near memory speed (≥ 1 GiB/s): at 1 Gbit/s of
//!   incoming mail (~120 MB/s) it should cost under ~10% of a core.
//! - **`imap_parse`** — typical client commands through
//!   [`moxide_protocols::imap::CommandReader`]: a mailbox-listing UID FETCH with
//!   `BODY.PEEK[HEADER.FIELDS (...)]`, a SEARCH with OR/NOT/dates, a UID STORE, and an
//!   APPEND with a 10 KiB literal (message bytes are streamed, not copied). Each command
//!   should parse in a few µs: a busy client sends tens of commands per second, so
//!   parsing is noise next to the work they ask for; a regression here shows up as
//!   latency on every command of every session.
//! - **`fetch_write`** — `flags_uid_size_1000`: `* n FETCH (UID FLAGS RFC822.SIZE)` for
//!   1000 messages with the IMAP response writers: the mailbox-sync FETCH every client
//!   sends on SELECT. Target ~0.3 µs per message, 0.3 ms per 1000 (a 100k mailbox's
//!   first sync then costs ~30 ms of CPU, next to ~6 MB of output). `envelope_structure`:
//!   decode a stored summary and write ENVELOPE + BODYSTRUCTURE, the real per-message
//!   path of a header-list FETCH (~1-3 µs; 10k messages ≈ 25 ms).
//! - **`mime_summarize`** — `summarize` of a 4 KiB text mail and a 200 KiB
//!   multipart/mixed with a base64 PDF, and `encode`/`decode` of the summary. Runs once
//!   per delivery: at 1000 deliveries/s and ~10 µs each it is ~1% of a core; bodies are
//!   not decoded, so the 200 KiB message should cost about as much as its boundary scan
//!   (memmem, GB/s), not 50× the small one. `decode` runs per message on every
//!   ENVELOPE/BODYSTRUCTURE FETCH, so it must stay ~1 µs.
//! - **`commit_path`** — [`moxide_storage::AccountStore::deliver`] with batches of 1, 10
//!   and 100 messages (one spool file linked per message), time per batch and
//!   throughput per message. This is fsync-bound: one batch costs one LMDB commit (two
//!   fsyncs, ~0.5-5 ms on this VM's disk) plus a directory fsync, whatever its length, so
//!   per-message time should fall ~10× from batch 1 to batch 10 and again towards
//!   batch 100, until the per-message work (link, record, ~20-50 µs) dominates. This is
//!   the number that justifies group commit in the account actor. Runs with few
//!   samples: each iteration really syncs the disk.
//! - **`search_10k`** — SEARCH building blocks over a store of 10,000 messages (filled
//!   once per run, ~10 commits of 1000). `flag_unseen`: the index pass
//!   ([`moxide_storage::ReadView::for_each_message`] reading each archived record in
//!   place and checking `\Seen`), ~76 ns per record (CRATE-NOTES) → ~1 ms per 10k.
//!   `header_in_memory`: [`moxide_protocols::mime::header_matches`] on 10k stored header
//!   blocks (delivery prefix + the message's header) already in memory: the matching
//!   cost alone, ~1-3 µs per message. `header_from_files`: the whole content pass as the
//!   session runs it (records and summaries in one read transaction, then each file
//!   read and its header matched): the open+read per file (~5-10 µs warm) should
//!   dominate, ~100 ms per 10k. The IMAP session's search code is private to the actors
//!   crate; these run the same public building blocks in the same order.
//! - **`auth`** — the checks of incoming mail with every DNS answer in memory (a warm
//!   cache). `spf/include_chain`: `check_host` through three includes, parsing four
//!   records: a few µs. `dkim/verify_rsa2048`: a 4 KiB message through the intake plus
//!   one RSA-2048 verification (~30-60 µs on this CPU class, the public-key operation
//!   dominates); `dkim/verify_ed25519`: the same with Ed25519 (~50-70 µs: verification is
//!   slower than RSA's with e=65537). Against an SMTP rate of ~1,000 messages/s per core
//!   that is 5-10% of a core for one signature per message. `dns_cache/hit`: one hash
//!   lookup and an `Arc` clone (~50-100 ns); `dns_cache/insert_full`: an insert that
//!   evicts the entry expiring soonest (B-tree pop, two map updates, ~0.5 µs).
//!
//! # First measurements
//!
//! Release build, 2-core VM, one run while other builds ran (load ~3): criterion's
//! median, rounded. They are a baseline to compare against, not a promise. (The `auth`
//! rows were measured later, with `--measurement-time 3`, on the same machine kind.)
//!
//! | bench | time | per unit |
//! |---|---|---|
//! | `smtp_parse/transaction` (10 RCPT, 4 KiB) | 9.0 µs | 480 MiB/s |
//! | `smtp_parse/data_100k` | 46 µs | 2.1 GiB/s |
//! | `imap_parse/uid_fetch_header_fields` | 0.79 µs | |
//! | `imap_parse/search_or_not` | 0.81 µs | |
//! | `imap_parse/uid_store` | 0.37 µs | |
//! | `imap_parse/append_10k` | 0.46 µs | message bytes are lent, not copied |
//! | `fetch_write/flags_uid_size_1000` | 150 µs | 0.15 µs per message |
//! | `fetch_write/envelope_structure_text_4k` | 1.4 µs | |
//! | `fetch_write/envelope_structure_multipart_200k` | 2.4 µs | |
//! | `mime_summarize/summarize_text_4k` | 3.7 µs | |
//! | `mime_summarize/summarize_multipart_200k` | 10.6 µs | boundary scan, 18 GiB/s |
//! | `mime_summarize/encode_*` | 0.17 / 0.32 µs | |
//! | `mime_summarize/decode_*` | 0.59 / 1.9 µs | |
//! | `commit_path/deliver_batch_1` | 0.62 ms | 620 µs per message |
//! | `commit_path/deliver_batch_10` | 1.2 ms | 120 µs per message |
//! | `commit_path/deliver_batch_100` | 3.9 ms | 39 µs per message |
//! | `search_10k/flag_unseen` | 3.0 ms | 0.30 µs per record |
//! | `search_10k/header_in_memory` | 9.6 ms | 0.96 µs per message |
//! | `search_10k/header_from_files` | 130 ms | 13 µs per message |
//! | `auth/spf/include_chain` | 4.7 µs | 4 records parsed, 3 includes |
//! | `auth/dkim/verify_rsa2048` | 50 µs | 4 KiB message: intake, body hash, one RSA verify |
//! | `auth/dkim/verify_ed25519` | 91 µs | Ed25519 verification is the slower one |
//! | `auth/dns_cache/hit` | 38 ns | |
//! | `auth/dns_cache/insert_full` | 0.54 µs | with an eviction |
//!
//! What they say: group commit works as designed (per-message cost falls 16× from batch
//! 1 to batch 100; at 100 the per-message work, ~30 µs of links, records and summaries,
//! outweighs the syncs); commit times swing 2-3× with other disk traffic on the VM, so
//! compare them only between runs on a quiet machine. The index pass costs ~300 ns per
//! record, not the ~76 ns CRATE-NOTES measured for a bare iteration, because
//! `for_each_message` walks the uid index and looks each record up in `messages` (a
//! second B-tree descent) before validating it: 30 ms for a 100k-message flag search.
//! A content search is dominated by reading the files (13 µs per message, warm cache),
//! which is why the session decides every key it can from the index first.

#![forbid(unsafe_code)]

pub mod auth;
pub mod corpus;
pub mod imap;
pub mod smtp;
pub mod store;
