//! The imap scenario: `--connections` threads, each logged in with the mailbox selected,
//! run `--ops` operations in total, picked by `--mix` weight and each timed under its
//! name. With `--login-churn` every operation is a whole session instead (connect, LOGIN,
//! SELECT, LOGOUT), timed as `login_session`.
//!
//! Before the run the mailbox is filled to [`MAILBOX_MESSAGES_MIN`] so fetches have
//! something to read. Fetch, store and search target only the messages that were there
//! before the run (sequence numbers 1..=base): messages appended during the run may be
//! expunged by other workers at any time, the base ones never are. Expunge removes only a
//! message this worker appended itself (it appends one first if it has none).
//! Every fetch checks that the server returned as many messages as were asked for.
//!
//! With `--accounts M` (`{n}` in `--user`) every account's mailbox is filled first, and
//! worker w starts on account w % M + 1; after `--switch-after` operations it cleans up,
//! logs out and logs in to the account `--connections` further on, so that 20 clients
//! visit 100 accounts as a hosting server's clients do.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crate::cli::{Mix, Op, Settings};
use crate::imap::client::append_uids;
use crate::imap::{ImapConnection, ImapError, Untagged};
use crate::message::{self, Rng, RunId};
use crate::progress::{self, Progress};
use crate::report::{ImapDetails, Report};
use crate::stats::Recorder;

/// Messages the mailbox is filled to before the run, so that fetch windows are full.
pub(crate) const MAILBOX_MESSAGES_MIN: u64 = 100;

/// Messages per FETCH window (a client showing a screenful of a list).
pub(crate) const FETCH_WINDOW_MAX: u32 = 20;

/// What to run.
#[derive(Debug)]
pub(crate) struct ImapPlan {
    /// Operations in total.
    pub(crate) ops: u64,
    /// Weights.
    pub(crate) mix: Mix,
    /// Whole sessions instead of operations.
    pub(crate) login_churn: bool,
    /// Size of appended messages.
    pub(crate) size: usize,
    /// Accounts (`{n}` in the user).
    pub(crate) accounts: u32,
    /// Operations per session with several accounts.
    pub(crate) switch_after: u64,
}

/// `--user` for account `account` (0-based).
fn user_of(settings: &Settings, account: u32) -> String {
    settings.user.replace("{n}", &(account + 1).to_string())
}

/// Shared, read-only state of a run.
struct Shared<'a> {
    settings: &'a Settings,
    plan: &'a ImapPlan,
    run: RunId,
    /// Messages before the run: targets of fetch, store and search.
    base: u32,
    next: AtomicU64,
    /// Message numbers for appended messages, unique across workers.
    appended: AtomicU64,
    deadline: Instant,
    progress: Arc<Progress>,
}

/// Runs the scenario.
pub(crate) fn run(settings: &Settings, plan: &ImapPlan) -> Report {
    let run = RunId::new();
    let mut setup_recorder = Recorder::default();
    let base = match prepare(settings, plan, &run, &mut setup_recorder) {
        Ok(base) => base,
        Err(error) => return Report::fatal("imap", error),
    };
    let watch = match super::watch_server(settings) {
        Ok(watch) => watch,
        Err(error) => return Report::fatal("imap", error),
    };
    let progress = Arc::new(Progress::default());
    progress.phase("running");
    let ticker = progress::start("imap", &progress);
    let started = Instant::now();
    let shared = Shared {
        settings,
        plan,
        run,
        base,
        next: AtomicU64::new(0),
        appended: AtomicU64::new(1_000_000),
        deadline: started + settings.duration,
        progress,
    };
    let shared = &shared;
    let results: Vec<(Recorder, u64)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..settings.connections as usize)
            .map(|index| scope.spawn(move || worker(index, shared)))
            .collect();
        handles
            .into_iter()
            .map(|handle| {
                handle.join().unwrap_or_else(|_| {
                    let mut recorder = Recorder::default();
                    recorder.error("worker", "panicked");
                    (recorder, 0)
                })
            })
            .collect()
    });
    let seconds = started.elapsed().as_secs_f64();
    drop(ticker);
    let mut recorder = Recorder::default();
    let mut ok = 0;
    for (worker_recorder, worker_ok) in results {
        recorder.merge(worker_recorder);
        ok += worker_ok;
    }
    let mut report = Report::new("imap", &recorder, seconds, u64::from(settings.connections));
    report.server = watch.map(|watch| watch.finish());
    report.imap = Some(ImapDetails {
        ops_requested: plan.ops,
        mix: plan.mix.weights.iter().map(|(op, weight)| (op.name().to_string(), *weight)).collect(),
        login_churn: plan.login_churn,
        mailbox_messages: base,
        accounts: plan.accounts,
        switch_after: plan.switch_after,
    });
    report.finish(ok, true)
}

/// Fills every account's mailbox to the minimum; returns the smallest message count.
fn prepare(
    settings: &Settings,
    plan: &ImapPlan,
    run: &RunId,
    recorder: &mut Recorder,
) -> Result<u32, String> {
    let mut base = u32::MAX;
    for account in 0..plan.accounts {
        let user = user_of(settings, account);
        let exists = prepare_account(settings, plan, run, recorder, &user, account == 0)
            .map_err(|error| format!("{user}: {error}"))?;
        base = base.min(exists);
    }
    Ok(base)
}

/// Fills one account's mailbox to the minimum; returns its message count. Checks that
/// IDLE is offered if the mix uses it (`check_idle`).
fn prepare_account(
    settings: &Settings,
    plan: &ImapPlan,
    run: &RunId,
    recorder: &mut Recorder,
    user: &str,
    check_idle: bool,
) -> Result<u32, String> {
    let mut connection = super::imap_login_as(settings, 0, user).map_err(|e| format!("login: {e}"))?;
    if check_idle
        && plan.mix.weights.iter().any(|(op, _)| *op == Op::Idle)
        && !plan.login_churn
        && !connection.has("IDLE")
    {
        return Err("the server does not offer IDLE; leave idle out of --mix".to_string());
    }
    connection.select(&settings.mailbox, false).map_err(|e| format!("select: {e}"))?;
    let deadline = Instant::now() + settings.duration;
    let size = plan.size;
    super::fill_mailbox(
        &mut connection,
        settings,
        run,
        size,
        MAILBOX_MESSAGES_MIN,
        deadline,
        recorder,
        &mut |_| {},
    )
    .map_err(|e| format!("filling the mailbox: {e}"))?;
    let selected = connection.select(&settings.mailbox, false).map_err(|e| format!("select: {e}"))?;
    let _ = connection.logout();
    if u64::from(selected.exists) < MAILBOX_MESSAGES_MIN {
        return Err(format!(
            "mailbox has {} messages after filling; wanted {MAILBOX_MESSAGES_MIN}",
            selected.exists
        ));
    }
    Ok(selected.exists)
}

/// A message this worker appended: its UID if the server said (UIDPLUS), else its number.
#[derive(Debug, Clone, Copy)]
enum Own {
    Uid(u32),
    Number(u64),
}

/// One connection's loop; returns its latencies and how many operations succeeded
/// (an append done to have something to expunge is timed but not counted).
fn worker(index: usize, shared: &Shared<'_>) -> (Recorder, u64) {
    let mut recorder = Recorder::default();
    let mut ok = 0;
    let mut rng = super::worker_rng(shared.settings, index);
    let accounts = shared.plan.accounts.max(1);
    let step = shared.settings.connections.max(1) % accounts;
    let mut account = index as u32 % accounts;
    if shared.plan.login_churn {
        while take_op(shared) {
            let started = Instant::now();
            let user = user_of(shared.settings, account);
            account = (account + step.max(1)) % accounts;
            match login_session(shared.settings, index, &user) {
                Ok(()) => {
                    recorder.record("login_session", started.elapsed());
                    shared.progress.ok();
                    ok += 1;
                }
                Err(error) => {
                    recorder.error("login_session", &error);
                    shared.progress.error();
                }
            }
        }
        return (recorder, ok);
    }
    let mut connection: Option<ImapConnection> = None;
    let mut own: Vec<Own> = Vec::new();
    let mut failed_connects = 0;
    let mut session_ops = 0u64;
    while Instant::now() < shared.deadline {
        if accounts > 1
            && session_ops >= shared.plan.switch_after
            && let Some(mut open) = connection.take()
        {
            clean_up(&mut open, &own);
            own.clear();
            let _ = open.logout();
            account = (account + step.max(1)) % accounts;
        }
        let Some(open) = connection.as_mut() else {
            let started = Instant::now();
            match open_session(shared.settings, index, &user_of(shared.settings, account)) {
                Ok(open) => {
                    recorder.record("session_setup", started.elapsed());
                    connection = Some(open);
                    failed_connects = 0;
                    session_ops = 0;
                }
                Err(error) => {
                    recorder.error("session_setup", &error);
                    shared.progress.error();
                    failed_connects += 1;
                    if failed_connects >= super::smtp::CONNECT_ATTEMPTS_MAX {
                        break;
                    }
                }
            }
            continue;
        };
        if !take_op(shared) {
            break;
        }
        let op = shared.plan.mix.pick(rng.below(shared.plan.mix.total()));
        session_ops += 1;
        let started = Instant::now();
        match perform(op, open, shared, &mut rng, &mut own, &mut recorder) {
            Ok(()) => {
                recorder.record(op.name(), started.elapsed());
                shared.progress.ok();
                ok += 1;
            }
            Err(error) => {
                recorder.error(op.name(), &error);
                shared.progress.error();
                if !error.connection_usable() {
                    connection = None;
                }
            }
        }
    }
    if let Some(mut open) = connection {
        clean_up(&mut open, &own);
        let _ = open.logout();
    }
    (recorder, ok)
}

/// Claims one operation of the total; false when the count or the time is up.
fn take_op(shared: &Shared<'_>) -> bool {
    Instant::now() < shared.deadline && shared.next.fetch_add(1, Ordering::Relaxed) < shared.plan.ops
}

fn open_session(settings: &Settings, index: usize, user: &str) -> Result<ImapConnection, ImapError> {
    let mut connection = super::imap_login_as(settings, index, user)?;
    connection.select(&settings.mailbox, false)?;
    Ok(connection)
}

fn login_session(settings: &Settings, index: usize, user: &str) -> Result<(), ImapError> {
    open_session(settings, index, user)?.logout()
}

/// A window `a:b` of at most [`FETCH_WINDOW_MAX`] base messages; (set, message count).
fn window(shared: &Shared<'_>, rng: &mut Rng) -> (String, u32) {
    let size = FETCH_WINDOW_MAX.min(shared.base);
    let start = 1 + rng.below(u64::from(shared.base - size + 1)) as u32;
    (format!("{start}:{}", start + size - 1), size)
}

/// Runs `command` and checks that it returned `expected` FETCH responses carrying `item`
/// (non-empty for `BODY[]`). Other FETCH responses are the server's unsolicited news of
/// flag changes by other sessions (RFC 9051 §7.5.2) and are not counted.
fn fetch_counted(
    connection: &mut ImapConnection,
    command: &str,
    expected: u32,
    item: &str,
) -> Result<(), ImapError> {
    let mut seen = std::collections::HashSet::new();
    let mut empty_body = false;
    connection.run(command, |untagged| {
        if let Untagged::Fetch(fetch) = untagged
            && let Some(value) = fetch.get(item)
        {
            seen.insert(fetch.seq);
            if item == "BODY[]" && value.bytes().is_none_or(<[u8]>::is_empty) {
                empty_body = true;
            }
        }
    })?;
    let got = seen.len();
    if got < expected as usize || empty_body {
        return Err(ImapError::Incomplete(format!("{command:?}: {got} of {expected} messages returned")));
    }
    Ok(())
}

fn perform(
    op: Op,
    connection: &mut ImapConnection,
    shared: &Shared<'_>,
    rng: &mut Rng,
    own: &mut Vec<Own>,
    recorder: &mut Recorder,
) -> Result<(), ImapError> {
    match op {
        Op::Select => connection.select(&shared.settings.mailbox, false).map(drop),
        Op::FetchFlags => {
            let (set, count) = window(shared, rng);
            fetch_counted(connection, &format!("FETCH {set} (FLAGS)"), count, "FLAGS")
        }
        Op::FetchEnvelope => {
            let (set, count) = window(shared, rng);
            fetch_counted(
                connection,
                &format!("FETCH {set} (UID RFC822.SIZE FLAGS ENVELOPE)"),
                count,
                "ENVELOPE",
            )
        }
        Op::FetchBody => {
            let seq = 1 + rng.below(u64::from(shared.base));
            fetch_counted(connection, &format!("FETCH {seq} (BODY.PEEK[])"), 1, "BODY[]")
        }
        Op::Store => {
            let seq = 1 + rng.below(u64::from(shared.base));
            let sign = if rng.below(2) == 0 { '+' } else { '-' };
            connection.run(&format!("STORE {seq} {sign}FLAGS.SILENT (\\Flagged)"), |_| {})
        }
        Op::Search => {
            let word = ["alpha", "echo", "mike", "tango", message::SEARCH_WORD][rng.below(5) as usize];
            connection.run(&format!("SEARCH UNSEEN SUBJECT \"{word}\""), |_| {})
        }
        Op::Append => append_own(connection, shared, rng, own),
        Op::Expunge => {
            if own.is_empty() {
                let started = Instant::now();
                append_own(connection, shared, rng, own)?;
                recorder.record(Op::Append.name(), started.elapsed());
            }
            let Some(target) = own.pop() else { return Ok(()) };
            expunge_own(connection, &shared.run, target)
        }
        Op::Idle => {
            let tag = connection.idle_start()?;
            connection.idle_done(&tag)
        }
        Op::List => connection.run("LIST \"\" \"*\"", |_| {}),
        Op::Status => {
            let mailbox = &shared.settings.mailbox;
            connection.run(&format!("STATUS \"{mailbox}\" (MESSAGES UIDNEXT UNSEEN)"), |_| {})
        }
        Op::StoreKeyword => {
            let seq = 1 + rng.below(u64::from(shared.base));
            let sign = if rng.below(2) == 0 { '+' } else { '-' };
            let keyword = rng.below(5) + 1;
            connection.run(&format!("STORE {seq} {sign}FLAGS.SILENT ($label{keyword})"), |_| {})
        }
    }
}

fn append_own(
    connection: &mut ImapConnection,
    shared: &Shared<'_>,
    rng: &mut Rng,
    own: &mut Vec<Own>,
) -> Result<(), ImapError> {
    let n = shared.appended.fetch_add(1, Ordering::Relaxed);
    let envelope = super::envelope(shared.settings);
    let message = message::generate(&shared.run, n, shared.plan.size, &envelope, rng);
    let ok = connection.append(&shared.settings.mailbox, &[&message], false)?;
    own.push(match append_uids(&ok).first() {
        Some(&uid) => Own::Uid(uid),
        None => Own::Number(n),
    });
    Ok(())
}

/// Deletes and expunges one of our messages: by UID with UIDPLUS (RFC 4315 §2.1),
/// otherwise marks it and expunges everything marked.
fn expunge_own(connection: &mut ImapConnection, run: &RunId, target: Own) -> Result<(), ImapError> {
    let uid = match target {
        Own::Uid(uid) => uid,
        Own::Number(n) => {
            let mut found = None;
            let id = run.message_id(n);
            connection.run(&format!("UID SEARCH HEADER Message-ID \"{id}\""), |untagged| {
                if let Untagged::Search(uids) = untagged {
                    found = found.or(uids.first().copied());
                }
            })?;
            found.ok_or_else(|| ImapError::Incomplete(format!("appended message {id} not found")))?
        }
    };
    connection.run(&format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"), |_| {})?;
    if connection.has("UIDPLUS") {
        connection.run(&format!("UID EXPUNGE {uid}"), |_| {})
    } else {
        connection.run("EXPUNGE", |_| {})
    }
}

/// Removes what this worker appended and did not expunge (untimed), so repeated runs
/// keep the mailbox size stable. Only with UIDPLUS, where it touches nothing else.
fn clean_up(connection: &mut ImapConnection, own: &[Own]) {
    if !connection.has("UIDPLUS") {
        return;
    }
    let uids: Vec<String> =
        own.iter().filter_map(|o| if let Own::Uid(uid) = o { Some(uid.to_string()) } else { None }).collect();
    if uids.is_empty() {
        return;
    }
    let set = uids.join(",");
    if connection.run(&format!("UID STORE {set} +FLAGS.SILENT (\\Deleted)"), |_| {}).is_ok() {
        let _ = connection.run(&format!("UID EXPUNGE {set}"), |_| {});
    }
}
