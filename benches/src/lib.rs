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
//! helper-thread offload) is the load tests' business. The IMAP benches run the real
//! server session (`moxide_protocols::imap::server`): FETCH with the in-memory storage
//! side answering its requests, SEARCH with the program the session makes, run over a
//! real store in the two phases the actors' glue runs (a loop of a few lines around
//! `for_each_message`, the only part written here again).
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
//! - **`fetch_write`** — FETCH through the real server session
//!   ([`moxide_protocols::imap::server::Session`], with the in-memory storage side
//!   answering its requests, [`imap::FetchBench`]): `flags_uid_size_1000` is `FETCH
//!   1:1000 (UID FLAGS RFC822.SIZE)`, the mailbox-sync FETCH every client sends on
//!   SELECT, from parsing the command to the last response byte. Target ~0.3-1 µs per
//!   message, under 1 ms per 1000 (a 100k mailbox's first sync then costs well under a
//!   second of CPU, next to ~6 MB of output). `envelope_structure`: `FETCH 1 (UID
//!   ENVELOPE BODYSTRUCTURE)` of one message, the per-message path of a header-list
//!   FETCH (the stored summary's decoding is `mime_summarize`'s `decode`; ~2-5 µs).
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
//! - **`search_10k`** — SEARCH over a store of 10,000 messages (filled once per run,
//!   ~10 commits of 1000), with the program the real session makes
//!   ([`store::search_program`]) run in the glue's two phases. `flag_unseen`: the index
//!   pass ([`moxide_storage::ReadView::for_each_message`] reading each archived record
//!   in place, `SEARCH UNSEEN` judged on it), ~76 ns per record (CRATE-NOTES) plus the
//!   judging → ~1-3 ms per 10k. `header_in_memory`:
//!   [`moxide_protocols::mime::header_matches`] on 10k stored header blocks (delivery
//!   prefix + the message's header) already in memory: the matching cost alone, ~1-3 µs
//!   per message. `header_from_files`: `SEARCH HEADER Subject invoice` whole (records and
//!   summaries in one read transaction, then each file read and its header judged): the
//!   open+read per file (~5-10 µs warm) should dominate, ~100 ms per 10k.
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
//! | `fetch_write/flags_uid_size_1000` | 234 µs | 0.23 µs per message, the whole session (*) |
//! | `fetch_write/envelope_structure_text_4k` | 2.8 µs | the whole session (*) |
//! | `fetch_write/envelope_structure_multipart_200k` | 2.9 µs | the whole session (*) |
//! | `mime_summarize/summarize_text_4k` | 3.7 µs | |
//! | `mime_summarize/summarize_multipart_200k` | 10.6 µs | boundary scan, 18 GiB/s |
//! | `mime_summarize/encode_*` | 0.17 / 0.32 µs | |
//! | `mime_summarize/decode_*` | 0.59 / 1.9 µs | |
//! | `commit_path/deliver_batch_1` | 0.62 ms | 620 µs per message |
//! | `commit_path/deliver_batch_10` | 1.2 ms | 120 µs per message |
//! | `commit_path/deliver_batch_100` | 3.9 ms | 39 µs per message |
//! | `search_10k/flag_unseen` | 4.2 ms | 0.42 µs per record (*) |
//! | `search_10k/header_in_memory` | 9.6 ms | 0.96 µs per message |
//! | `search_10k/header_from_files` | 125 ms | 12.5 µs per message (*) |
//! | `auth/spf/include_chain` | 4.7 µs | 4 records parsed, 3 includes |
//! | `auth/dkim/verify_rsa2048` | 50 µs | 4 KiB message: intake, body hash, one RSA verify |
//! | `auth/dkim/verify_ed25519` | 91 µs | Ed25519 verification is the slower one |
//! | `auth/dns_cache/hit` | 38 ns | |
//! | `auth/dns_cache/insert_full` | 0.54 µs | with an eviction |
//!
//! (*) Measured again (load ~2) when `fetch_write` and `search_10k` moved from copies of
//! the session's code to the real session: the FETCH numbers now include parsing the
//! command, the session's bookkeeping and the in-memory storage side (before: the item
//! writers alone, 150 µs and 1.4/2.4 µs); `flag_unseen` includes judging each record with
//! the session's program.
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
