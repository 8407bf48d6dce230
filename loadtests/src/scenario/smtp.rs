//! The smtp scenario: `--connections` threads deliver `--messages` messages in total over
//! SMTP, each transaction (MAIL through the final 250) timed as `transaction`, each new
//! connection (TCP, greeting, EHLO) as `connect`. With `--verify-imap`, afterwards every
//! accepted message must be in the mailbox exactly once (matched by Message-ID), and the
//! end-to-end time runs until the last one is visible over IMAP.
//!
//! Verification only looks at messages with UIDs from the mailbox's UIDNEXT before the run
//! (RFC 9051 §2.3.1.1: UIDs only grow), so old mail never confuses it.
//!
//! With `--accounts M` message k goes to `--rcpt` with `{n}` = k % M + 1, and
//! verification logs into each account (`--user` with the same `{n}`); with
//! `--auth` each connection logs in (AUTH PLAIN) after EHLO, as a submission client
//! does; with `--messages-per-connection K` each connection sends K messages, then QUITs and the
//! worker connects again (each connect timed as `connect`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::cli::Settings;
use crate::imap::{ImapConnection, ImapError, Untagged, Value};
use crate::message::{self, Corpus, RunId};
use crate::progress::{self, Progress};
use crate::report::{Report, SmtpDetails, VerifyDetails};
use crate::smtp::{SendMode, SmtpConnection, dot_stuff};
use crate::stats::{Recorder, round3};

/// Consecutive failed connects after which a worker gives up: the server is down or
/// refusing us, and hammering it further only adds noise.
pub(crate) const CONNECT_ATTEMPTS_MAX: u32 = 5;

/// Pause between failed connects.
const CONNECT_RETRY_DELAY: Duration = Duration::from_millis(200);

/// How long verification waits for accepted messages to become visible after sending
/// ended: an MTA that queues (Postfix → LMTP) delivers within seconds when healthy.
pub(crate) const VERIFY_WAIT_MAX: Duration = Duration::from_secs(60);

/// Pause between verification polls.
const VERIFY_POLL_INTERVAL: Duration = Duration::from_millis(50);

/// What to send.
#[derive(Debug)]
pub(crate) struct SmtpPlan {
    /// Messages in total.
    pub(crate) messages: u64,
    /// Size of generated messages.
    pub(crate) size: usize,
    /// Files to send instead of generated messages.
    pub(crate) corpus: Option<Corpus>,
    /// Pipelining / chunking as asked.
    pub(crate) mode: SendMode,
    /// Verify over IMAP afterwards.
    pub(crate) verify: bool,
    /// Recipient accounts (`{n}` in the recipient and user).
    pub(crate) accounts: u32,
    /// Messages per connection; 0: no limit.
    pub(crate) per_connection: u64,
    /// AUTH PLAIN after EHLO.
    pub(crate) auth: bool,
}

impl SmtpPlan {
    /// The account number (1-based) message `n` goes to.
    fn account_of(&self, n: u64) -> u64 {
        n % u64::from(self.accounts.max(1)) + 1
    }
}

/// `template` with `{n}` replaced by `account`.
fn for_account(template: &str, account: u64) -> String {
    template.replace("{n}", &account.to_string())
}

/// What one worker did.
#[derive(Debug, Default)]
struct WorkerResult {
    recorder: Recorder,
    accepted: Vec<u64>,
    bytes: u64,
    mode_used: SendMode,
}

/// Runs the scenario.
pub(crate) fn run(settings: &Settings, plan: &SmtpPlan) -> Report {
    let run_id = RunId::new();
    let verifiers = match plan.verify.then(|| start_verifiers(settings, plan)).transpose() {
        Ok(verifiers) => verifiers,
        Err(error) => return Report::fatal("smtp", format!("--verify-imap: {error}")),
    };
    let watch = match super::watch_server(settings) {
        Ok(watch) => watch,
        Err(error) => return Report::fatal("smtp", error),
    };
    let progress = Arc::new(Progress::default());
    progress.phase("sending");
    let ticker = progress::start("smtp", &progress);
    let started = Instant::now();
    let deadline = started + settings.duration;
    let next = AtomicU64::new(0);
    let results: Vec<WorkerResult> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..settings.connections as usize)
            .map(|index| {
                let (next, progress, run_id) = (&next, &progress, &run_id);
                scope.spawn(move || worker(index, settings, plan, run_id, next, deadline, progress))
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle.join().unwrap_or_else(|_| {
                    let mut result = WorkerResult::default();
                    result.recorder.error("worker", "panicked");
                    result
                })
            })
            .collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    drop(ticker);
    let mut recorder = Recorder::default();
    let mut details = SmtpDetails {
        messages_requested: plan.messages,
        corpus_files: plan.corpus.as_ref().map(|corpus| corpus.len() as u64),
        accounts: plan.accounts,
        messages_per_connection: plan.per_connection,
        ..SmtpDetails::default()
    };
    let mut accepted = Vec::new();
    for result in results {
        recorder.merge(result.recorder);
        accepted.extend(result.accepted);
        details.bytes_accepted += result.bytes;
        details.pipelining |= result.mode_used.pipelining;
        details.chunking |= result.mode_used.chunking;
    }
    if let Some(verifiers) = verifiers {
        let verify_deadline = Instant::now().max(deadline) + VERIFY_WAIT_MAX;
        details.verify =
            Some(verify_all(verifiers, plan, &run_id, &accepted, started, verify_deadline, &mut recorder));
    }
    let verified = details.verify.as_ref().is_none_or(|verify| verify.passed);
    let mut report = Report::new("smtp", &recorder, seconds, u64::from(settings.connections));
    report.server = watch.map(|watch| watch.finish());
    report.smtp = Some(details);
    report.finish(accepted.len() as u64, verified)
}

fn worker(
    index: usize,
    settings: &Settings,
    plan: &SmtpPlan,
    run_id: &RunId,
    next: &AtomicU64,
    deadline: Instant,
    progress: &Progress,
) -> WorkerResult {
    let mut result = WorkerResult::default();
    let mut rng = super::worker_rng(settings, index);
    let envelope = super::envelope(settings);
    let mut connection: Option<SmtpConnection> = None;
    let mut failed_connects = 0u32;
    let mut stuffed = Vec::new();
    let mut sent_here = 0u64;
    // The next message's number, taken before connecting so that no connection is
    // opened once every message is taken.
    let mut reserved: Option<u64> = None;
    while Instant::now() < deadline {
        if reserved.is_none() {
            let n = next.fetch_add(1, Ordering::Relaxed);
            if n >= plan.messages {
                break;
            }
            reserved = Some(n);
        }
        if plan.per_connection > 0
            && sent_here >= plan.per_connection
            && let Some(open) = connection.take()
        {
            open.quit();
        }
        let Some(open) = connection.as_mut() else {
            let connect_started = Instant::now();
            let connected = SmtpConnection::connect(
                settings.smtp_target(),
                settings.source(index),
                settings.io_timeout,
                super::HELO_NAME,
            )
            .and_then(|mut open| {
                if plan.auth {
                    open.auth_plain(&settings.user, &settings.password)?;
                }
                Ok(open)
            });
            match connected {
                Ok(open) => {
                    result.recorder.record("connect", connect_started.elapsed());
                    failed_connects = 0;
                    sent_here = 0;
                    connection = Some(open);
                }
                Err(error) => {
                    result.recorder.error("connect", &error);
                    progress.error();
                    failed_connects += 1;
                    if failed_connects >= CONNECT_ATTEMPTS_MAX {
                        break;
                    }
                    std::thread::sleep(CONNECT_RETRY_DELAY);
                }
            }
            continue;
        };
        let Some(n) = reserved.take() else { continue };
        let rcpt = for_account(&settings.rcpt, plan.account_of(n));
        let message = match &plan.corpus {
            Some(corpus) => corpus.pick(run_id, n, &mut rng),
            None => {
                let envelope = message::Envelope { to: rcpt.clone(), ..envelope.clone() };
                message::generate(run_id, n, plan.size, &envelope, &mut rng)
            }
        };
        sent_here += 1;
        let chunking = plan.mode.chunking && open.extensions.chunking;
        result.mode_used.chunking |= chunking;
        result.mode_used.pipelining |= plan.mode.pipelining && open.extensions.pipelining;
        stuffed.clear();
        if !chunking {
            dot_stuff(&message, &mut stuffed);
        }
        let transaction_started = Instant::now();
        match open.send_mail(&settings.from, &rcpt, &message, &stuffed, plan.mode) {
            Ok(()) => {
                result.recorder.record("transaction", transaction_started.elapsed());
                result.accepted.push(n);
                result.bytes += message.len() as u64;
                progress.ok();
            }
            Err(error) => {
                result.recorder.error("transaction", &error);
                progress.error();
                if !error.connection_usable() || open.reset().is_err() {
                    connection = None;
                }
            }
        }
    }
    if let Some(open) = connection {
        open.quit();
    }
    result
}

/// The IMAP side of `--verify-imap`: logged in before sending starts.
struct Verifier {
    connection: ImapConnection,
    /// UIDNEXT before the run: our messages get UIDs from here on.
    uid_first: u32,
}

/// One verifier per account, logged in before sending starts.
fn start_verifiers(settings: &Settings, plan: &SmtpPlan) -> Result<Vec<Verifier>, ImapError> {
    (1..=u64::from(plan.accounts))
        .map(|account| Verifier::start(settings, &for_account(&settings.user, account)))
        .collect()
}

/// Verifies every account's share of `accepted` and adds the results up; the end-to-end
/// time is the last account's.
fn verify_all(
    verifiers: Vec<Verifier>,
    plan: &SmtpPlan,
    run: &RunId,
    accepted: &[u64],
    started: Instant,
    deadline: Instant,
    recorder: &mut Recorder,
) -> VerifyDetails {
    let mut total = VerifyDetails { passed: true, ..VerifyDetails::default() };
    let mut last_seconds = 0.0f64;
    for (index, verifier) in verifiers.into_iter().enumerate() {
        let account = index as u64 + 1;
        let share: Vec<u64> = accepted.iter().copied().filter(|&n| plan.account_of(n) == account).collect();
        let details = verifier.verify(run, &share, started, deadline, recorder);
        total.passed &= details.passed;
        total.expected += details.expected;
        total.found += details.found;
        total.missing += details.missing;
        total.duplicates += details.duplicates;
        total.unexpected += details.unexpected;
        last_seconds = last_seconds.max(details.e2e_seconds);
    }
    total.e2e_seconds = round3(last_seconds);
    total.e2e_rate_per_sec =
        if last_seconds > 0.0 { round3(total.expected as f64 / last_seconds) } else { 0.0 };
    total
}

impl Verifier {
    fn start(settings: &Settings, user: &str) -> Result<Verifier, ImapError> {
        let mut connection = super::imap_login_as(settings, 0, user)?;
        let (uid_next, _) = connection.status(&settings.mailbox)?;
        connection.select(&settings.mailbox, true)?;
        Ok(Verifier { connection, uid_first: uid_next })
    }

    /// UIDs ≥ `uid_first` in the mailbox now.
    fn new_uids(&mut self) -> Result<Vec<u32>, ImapError> {
        let mut uids = Vec::new();
        let first = self.uid_first;
        self.connection.run(&format!("UID SEARCH UID {first}:*"), |untagged| {
            if let Untagged::Search(found) = untagged {
                uids.extend(found.iter().copied().filter(|&uid| uid >= first));
            }
        })?;
        Ok(uids)
    }

    /// Message number → how often it is in the mailbox, for this run's messages.
    fn count_ids(&mut self, run: &RunId) -> Result<HashMap<u64, u32>, ImapError> {
        let mut counts = HashMap::new();
        let first = self.uid_first;
        let command = format!("UID FETCH {first}:* (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])");
        self.connection.run(&command, |untagged| {
            let Untagged::Fetch(fetch) = untagged else { return };
            if fetch.uid().is_none_or(|uid| uid < first) {
                return;
            }
            let header = fetch.get_prefixed("BODY[HEADER.FIELDS").and_then(Value::bytes).unwrap_or_default();
            if let Some(n) = run.parse_message_id(&String::from_utf8_lossy(header)) {
                *counts.entry(n).or_insert(0) += 1;
            }
        })?;
        Ok(counts)
    }

    fn verify(
        mut self,
        run: &RunId,
        accepted: &[u64],
        started: Instant,
        deadline: Instant,
        recorder: &mut Recorder,
    ) -> VerifyDetails {
        let expected = accepted.len() as u64;
        let mut details = VerifyDetails { expected, ..VerifyDetails::default() };
        let outcome = loop {
            match self.new_uids() {
                Err(error) => break Err(error),
                Ok(uids) if (uids.len() as u64) < expected && Instant::now() < deadline => {
                    std::thread::sleep(VERIFY_POLL_INTERVAL);
                    continue;
                }
                Ok(_) => {}
            }
            let visible_at = started.elapsed();
            match self.count_ids(run) {
                Err(error) => break Err(error),
                Ok(counts) => {
                    let complete = accepted.iter().all(|n| counts.contains_key(n));
                    if complete || Instant::now() >= deadline {
                        break Ok((counts, visible_at));
                    }
                    std::thread::sleep(VERIFY_POLL_INTERVAL);
                }
            }
        };
        let _ = self.connection.logout();
        let (counts, visible_at) = match outcome {
            Ok(outcome) => outcome,
            Err(error) => {
                details.missing = expected;
                recorder.error("verify", &error);
                return details;
            }
        };
        for n in accepted {
            match counts.get(n).copied().unwrap_or(0) {
                0 => details.missing += 1,
                1 => details.found += 1,
                _ => details.duplicates += 1,
            }
        }
        let accepted_set: std::collections::HashSet<u64> = accepted.iter().copied().collect();
        details.unexpected = counts.keys().filter(|n| !accepted_set.contains(n)).count() as u64;
        details.passed = details.missing == 0 && details.duplicates == 0;
        let seconds = visible_at.as_secs_f64();
        details.e2e_seconds = round3(seconds);
        details.e2e_rate_per_sec = if seconds > 0.0 { round3(expected as f64 / seconds) } else { 0.0 };
        details
    }
}
