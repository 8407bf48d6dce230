//! moxide-load: a load generator for any SMTP/IMAP server (moxide, Postfix, Dovecot, ...)
//! by host:port and credentials. It measures throughput, latency percentiles (HDR
//! histograms), errors and, given `--server-pid`, the server's memory and CPU.
//!
//! # Design overview
//!
//! - [`cli`]: the command line (a contract: scripts/bench-compare and .ci/run call it) and
//!   its validation; non-loopback targets are refused without `--allow-remote`.
//! - [`smtp`], [`imap`]: our own minimal, strict clients. Reply and response parsing is
//!   sans-IO and unit-tested on byte transcripts; the blocking connections on top are used
//!   by the thread-per-connection scenarios.
//! - [`scenario`]: `smtp`, `imap`, `bigbox` and `stress` run one OS thread per connection
//!   (tens of connections; blocking IO keeps the timing simple and exact); `idle` holds up
//!   to hundreds of thousands of connections on one thread with an epoll loop ([`poller`],
//!   on rustix's safe epoll API), because it must bind chosen source addresses
//!   (`--sources`), which our runtime's connect cannot, and because a load generator
//!   should not share the executor it measures. `stress` is a conformance check more than
//!   a load: a sans-IO model of each session's view (`scenario/stress/model.rs`, tested on
//!   transcripts) judges every response, and a journal of the sessions' concurrent
//!   changes excuses what concurrency makes legitimate.
//! - [`stats`] (histograms per operation kind, merged once per run), [`procstat`] (server
//!   RSS/CPU from `/proc`, descendants included), [`report`] (table and JSON),
//!   [`progress`] (stderr line, terminals only), [`message`] (test messages with
//!   `Message-ID: <load-RUNID-N@moxide-load>`), [`target`] (resolving, sources, sockets),
//!   [`input`] (the clients' read buffer).
//!
//! Invariants: every run is bounded in count and in time (`--duration`), every socket
//! operation by `--timeout`; the exit status is 0 exactly when the report's `passed` is
//! true (no errors, verification passed, no protocol violations), 1 otherwise, 2 for a
//! command line that cannot run.
//!
//! # Scenarios
//!
//! | scenario | `ok` counts | latency kinds |
//! |---|---|---|
//! | smtp | accepted messages | `transaction` (MAIL → final 250), `connect` (TCP, greeting, EHLO), `verify` (errors only) |
//! | imap | operations of the mix (or sessions with `--login-churn`) | one per mix name, `session_setup`, `login_session` |
//! | idle | connections that reached IDLE (`seconds` = setup time) | `idle_setup` (connect → `+ idling`), `probe_smtp`, `exists` (SMTP 250 → `* n EXISTS`), `idle` (errors only) |
//! | bigbox | timed operations | `select`, `fetch_all_flags`, `fetch_bodies`, `search_body`, `search_text`, `store`, `fetch_changedsince`, `append` (filling, per command) |
//! | stress | sessions from connect to the server's close without an error | `session`, `connect`, `login`, `capability`, `enable`, `select`, `fetch`, `fetch_body`, `store`, `expunge`, `append`, `noop`, `logout` (per command) |
//!
//! # JSON output (`--json`)
//!
//! One object on one line:
//!
//! ```text
//! {
//!   "scenario": "smtp" | "imap" | "idle" | "bigbox" | "stress",
//!   "passed": bool,              // no errors, verification (if any) passed, no violations
//!   "ok": u64, "errors": u64,    // see the table above
//!   "seconds": f64,              // measured phase, wall clock
//!   "rate_per_sec": f64,         // ok / seconds
//!   "connections": u64,
//!   "latency_ms": { "<kind>": { "count": u64, "errors": u64, "rate_per_sec": f64,
//!                               "p50": f64, "p90": f64, "p99": f64, "max": f64, "mean": f64 } },
//!   "server": null | { "pids": [u32], "processes": u64, "rss_start_kib": u64,
//!                      "rss_end_kib": u64, "rss_peak_kib": u64,
//!                      "pss_end_kib": u64 | null, "cpu_seconds": f64 },
//!   "error_messages": { "<kind>: <message>": u64 },
//!   "fatal": "<why the run could not start>",          // only when it could not
//!   "smtp":   { "messages_requested", "bytes_accepted", "corpus_files", "pipelining", "chunking",
//!               "accounts", "messages_per_connection",
//!               "verify": null | { "passed", "expected", "found", "missing", "duplicates",
//!                                  "unexpected", "e2e_seconds", "e2e_rate_per_sec" } },
//!   "imap":   { "ops_requested", "mix": { "<op>": weight }, "login_churn", "mailbox_messages",
//!               "accounts", "switch_after" },
//!   "idle":   { "connections_requested", "connections_idle", "fd_limit", "setup_seconds",
//!               "probes_requested", "probes_delivered", "notifications_expected",
//!               "notifications_received", "notifications_before_ack", "rss_before_kib", "rss_idle_kib",
//!               "memory_per_connection_bytes" },      // the last three null without --server-pid
//!   "bigbox": { "messages_requested", "messages_in_mailbox", "appended", "fill_seconds",
//!               "fill_rate_per_sec", "multiappend", "condstore", "rounds",
//!               "search_matches", "changedsince_results" },
//!   "stress": { "accounts", "keywords", "session_ops", "sessions", "rev2_sessions", "commands",
//!               "appended", "expunged",
//!               "violations": u64,                         // 0 for the run to pass
//!               "violations_by_kind": { "<kind>": u64 },   // every kind, 0 included
//!               "samples": { "<kind>": "<transcript>" },   // first of each kind seen
//!               "excused": { "<kind>": u64 } }             // legitimate under concurrency
//! }
//! ```
//!
//! `stress` kinds: `seq_out_of_range`, `expunge_out_of_range`, `exists_decreased`,
//! `uid_mismatch`, `unannounced_keyword`, `fetch_failed`, `fetch_incomplete`,
//! `store_wrong_flags`, `expunge_not_reported`, `select_incomplete`, `after_logout`,
//! `logout_without_bye`, `untagged_not_allowed`, `malformed` (each defined in
//! `scenario/stress/model.rs`). A sample is the session's last lines (`C:` client, `S:`
//! server, literal data as `<n bytes>`), then `!! <kind>: <detail>`. `excused` also counts
//! `store_refused`: a STORE refused for a message another session expunged.
//!
//! Only the object of the scenario that ran is present. `server.cpu_seconds` and the RSS
//! figures cover the named processes and all their descendants (Postfix and Dovecot fork).

#![forbid(unsafe_code)]

mod cli;
mod imap;
mod input;
mod message;
mod poller;
mod procstat;
mod progress;
mod report;
mod scenario;
mod smtp;
mod stats;
mod target;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, IDLE_CONNECTIONS_MAX, Mix, Needs, ScenarioArgs, THREAD_CONNECTIONS_MAX, UsageError};
use crate::report::Report;
use crate::smtp::SendMode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (report, json) = match run(cli.scenario) {
        Ok(outcome) => outcome,
        Err(error) => {
            eprintln!("moxide-load: {error}");
            return ExitCode::from(2);
        }
    };
    if json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_table());
    }
    if report.passed { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// Validates the scenario's options and runs it; returns the report and whether to print
/// it as JSON.
fn run(scenario: ScenarioArgs) -> Result<(Report, bool), UsageError> {
    let threads = |smtp, imap, connections_default, duration_default| Needs {
        smtp,
        imap,
        connections_default,
        connections_max: THREAD_CONNECTIONS_MAX,
        duration_default,
    };
    match scenario {
        ScenarioArgs::Smtp(args) => {
            cli::check_smtp(&args)?;
            let settings = cli::validate_common(&args.common, threads(true, args.verify_imap, 10, 60.0))?;
            let corpus =
                match &args.size_corpus {
                    Some(directory) => Some(message::Corpus::load(directory).map_err(|e| {
                        UsageError::Invalid { option: "--size-corpus", reason: e.to_string() }
                    })?),
                    None => None,
                };
            let plan = scenario::smtp::SmtpPlan {
                messages: cli::check_count("--messages", args.messages, false)?,
                size: cli::check_size(args.size)?,
                corpus,
                mode: SendMode { pipelining: args.pipelining, chunking: args.chunking },
                verify: args.verify_imap,
                accounts: args.accounts,
                per_connection: args.messages_per_connection,
                auth: args.auth,
            };
            Ok((scenario::smtp::run(&settings, &plan), settings.json))
        }
        ScenarioArgs::Imap(args) => {
            cli::check_imap(&args)?;
            let settings = cli::validate_common(&args.common, threads(false, true, 10, 60.0))?;
            let plan = scenario::imap::ImapPlan {
                ops: cli::check_count("--ops", args.ops, false)?,
                mix: Mix::parse(&args.mix)?,
                login_churn: args.login_churn,
                size: cli::check_size(args.size)?,
                accounts: args.accounts,
                switch_after: args.switch_after,
            };
            Ok((scenario::imap::run(&settings, &plan), settings.json))
        }
        ScenarioArgs::Idle(args) => {
            let needs = Needs {
                smtp: args.probes > 0,
                imap: true,
                connections_default: 1000,
                connections_max: IDLE_CONNECTIONS_MAX,
                duration_default: 300.0,
            };
            let settings = cli::validate_common(&args.common, needs)?;
            let probes = cli::check_count("--probes", args.probes, true)?;
            if probes > cli::PROBES_MAX {
                return Err(UsageError::Invalid {
                    option: "--probes",
                    reason: format!("at most {}", cli::PROBES_MAX),
                });
            }
            let plan = scenario::idle::IdlePlan { probes };
            Ok((scenario::idle::run(&settings, &plan), settings.json))
        }
        ScenarioArgs::Bigbox(args) => {
            let mut needs = threads(false, true, 1, 600.0);
            needs.connections_max = 1;
            let settings = cli::validate_common(&args.common, needs)?;
            let plan = scenario::bigbox::BigboxPlan {
                messages: cli::check_count("--messages", args.messages, false)?,
                size: cli::check_size(args.size)?,
                rounds: cli::check_count("--rounds", args.rounds, false)?,
                fetch_bodies: {
                    cli::check_count("--fetch-bodies", u64::from(args.fetch_bodies), false)?;
                    args.fetch_bodies
                },
            };
            Ok((scenario::bigbox::run(&settings, &plan), settings.json))
        }
        ScenarioArgs::Stress(args) => {
            cli::check_stress(&args)?;
            let settings = cli::validate_common(&args.common, threads(false, true, 20, 60.0))?;
            let corpus = match &args.corpus {
                Some(directory) => Some(
                    message::Corpus::load(directory)
                        .map_err(|e| UsageError::Invalid { option: "--corpus", reason: e.to_string() })?,
                ),
                None => None,
            };
            let plan = scenario::stress::StressPlan {
                accounts: args.accounts,
                keywords: scenario::stress::keyword_pool(args.keywords),
                session_ops: args.session_ops,
                corpus,
                rev2: !args.no_rev2,
            };
            Ok((scenario::stress::run(&settings, &plan), settings.json))
        }
    }
}
