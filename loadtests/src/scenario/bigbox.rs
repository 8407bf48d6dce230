//! The bigbox scenario: one connection fills the mailbox to `--messages` by APPEND
//! (MULTIAPPEND batches when offered, RFC 3502) if it holds fewer, then runs `--rounds`
//! rounds of whole-mailbox operations, each timed under its name:
//!
//! - `select`: SELECT of the big mailbox;
//! - `fetch_all_flags`: `FETCH 1:* (FLAGS UID RFC822.SIZE)`, checked to return every message;
//! - `fetch_bodies`: `FETCH a:b (BODY.PEEK[])` of `--fetch-bodies` messages (default
//!   [`BODY_RANGE_DEFAULT`]; the whole mailbox when it holds no more);
//! - `search_body`: `SEARCH BODY <word>` (a word about a tenth of generated messages hold);
//! - `search_text`: `SEARCH TEXT <word>`, the same word in headers and body;
//! - `store`: `STORE` of [`STORE_MESSAGES`] random messages' `\Flagged` (CONDSTORE only,
//!   so that CHANGEDSINCE has something to return);
//! - `fetch_changedsince`: `UID FETCH 1:* (FLAGS) (CHANGEDSINCE m)` with m the
//!   HIGHESTMODSEQ of the round's SELECT (RFC 7162 §3.1.4), only if CONDSTORE is offered;
//! - `sort_date`, `sort_subject`: `UID SORT (REVERSE DATE)` and `UID SORT (SUBJECT)` of
//!   the whole mailbox (RFC 5256), what a client's message list asks, only if SORT is
//!   offered; checked to return every message;
//! - `thread`: `UID THREAD REFERENCES` of the whole mailbox, only if
//!   THREAD=REFERENCES is offered; checked to name every message once.
//!
//! The first round's SORT and THREAD are the first ever on the mailbox (a server that
//! builds sort or thread indexes builds them then): compare `max` for first runs, `p50`
//! over several rounds for repeated ones.

use std::sync::Arc;
use std::time::Instant;

use crate::cli::Settings;
use crate::imap::{ImapConnection, ImapError, Untagged, Value};
use crate::message::{self, Rng, RunId};
use crate::progress::{self, Progress};
use crate::report::{BigboxDetails, Report};
use crate::stats::{Recorder, round3};

/// Messages per full-body FETCH unless `--fetch-bodies` says otherwise: a client
/// downloading a page of messages for offline use.
pub(crate) const BODY_RANGE_DEFAULT: u32 = 100;

/// Messages whose flags each round changes before CHANGEDSINCE.
pub(crate) const STORE_MESSAGES: u32 = 10;

/// What to run.
#[derive(Debug)]
pub(crate) struct BigboxPlan {
    /// Mailbox size to reach.
    pub(crate) messages: u64,
    /// Size of appended messages.
    pub(crate) size: usize,
    /// Rounds of timed operations.
    pub(crate) rounds: u64,
    /// Messages per full-body FETCH.
    pub(crate) fetch_bodies: u32,
}

/// Runs the scenario.
pub(crate) fn run(settings: &Settings, plan: &BigboxPlan) -> Report {
    let mut connection = match super::imap_login(settings, 0) {
        Ok(connection) => connection,
        Err(error) => return Report::fatal("bigbox", format!("login: {error}")),
    };
    let condstore = match connection.enable_condstore() {
        Ok(condstore) => condstore,
        Err(error) => return Report::fatal("bigbox", format!("ENABLE CONDSTORE: {error}")),
    };
    if let Err(error) = connection.select(&settings.mailbox, false) {
        return Report::fatal("bigbox", format!("select: {error}"));
    }
    let watch = match super::watch_server(settings) {
        Ok(watch) => watch,
        Err(error) => return Report::fatal("bigbox", error),
    };
    let progress = Arc::new(Progress::default());
    let ticker = progress::start("bigbox", &progress);
    let deadline = Instant::now() + settings.duration;
    let mut recorder = Recorder::default();
    let mut details = BigboxDetails {
        messages_requested: plan.messages,
        multiappend: connection.has("MULTIAPPEND"),
        condstore,
        ..BigboxDetails::default()
    };

    let fill_seconds =
        match fill(&mut connection, settings, plan, deadline, &mut recorder, &mut details, &progress) {
            Ok(seconds) => seconds,
            Err(error) => return Report::fatal("bigbox", format!("filling the mailbox: {error}")),
        };

    progress.phase("measuring");
    let mut rounds = Rounds {
        rng: super::worker_rng(settings, 0),
        flagged: Vec::new(),
        condstore,
        fetch_bodies: plan.fetch_bodies,
    };
    let started = Instant::now();
    while details.rounds < plan.rounds && Instant::now() < deadline {
        match round(&mut connection, settings, &mut rounds, &mut recorder, &mut details, &progress) {
            Ok(()) => details.rounds += 1,
            Err(error) if error.connection_usable() => details.rounds += 1,
            Err(error) => {
                recorder.note_error(format!("connection lost: {error}"));
                break;
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    drop(ticker);
    let _ = connection.logout();
    let complete = details.messages_in_mailbox >= plan.messages;
    if !complete {
        recorder.error(
            "fill",
            format!("mailbox has {} of {} messages", details.messages_in_mailbox, plan.messages),
        );
    }
    let ok: u64 = [
        "select",
        "fetch_all_flags",
        "fetch_bodies",
        "search_body",
        "search_text",
        "store",
        "fetch_changedsince",
    ]
    .iter()
    .map(|kind| recorder.count(kind))
    .sum();
    let mut report = Report::new("bigbox", &recorder, seconds, 1);
    // Appends ran during filling, not during the measured rounds: rate over the fill time.
    if let Some(append) = report.latency_ms.get_mut("append") {
        append.rate_per_sec =
            if fill_seconds > 0.0 { round3(append.count as f64 / fill_seconds) } else { 0.0 };
    }
    report.server = watch.map(|watch| watch.finish());
    report.bigbox = Some(details);
    report.finish(ok, complete)
}

/// Fills the mailbox to `plan.messages`; returns the seconds it took. A refused APPEND
/// stops filling (recorded); a broken connection is returned as an error.
fn fill(
    connection: &mut ImapConnection,
    settings: &Settings,
    plan: &BigboxPlan,
    deadline: Instant,
    recorder: &mut Recorder,
    details: &mut BigboxDetails,
    progress: &Progress,
) -> Result<f64, ImapError> {
    progress.phase("filling");
    let initial = u64::from(connection.exists);
    let started = Instant::now();
    let run = RunId::new();
    let filled = super::fill_mailbox(
        connection,
        settings,
        &run,
        plan.size,
        plan.messages,
        deadline,
        recorder,
        &mut |n| {
            progress.ok_n(n);
        },
    );
    let seconds = started.elapsed().as_secs_f64();
    details.appended = *filled.as_ref().unwrap_or(&0);
    details.messages_in_mailbox = u64::from(connection.exists).max(initial + details.appended);
    details.fill_seconds = round3(seconds);
    details.fill_rate_per_sec = if seconds > 0.0 { round3(details.appended as f64 / seconds) } else { 0.0 };
    match filled {
        Err(error) if !error.connection_usable() => Err(error),
        _ => Ok(seconds),
    }
}

/// Times `operation` as `kind`; errors are recorded and returned.
fn timed<T>(
    recorder: &mut Recorder,
    progress: &Progress,
    kind: &'static str,
    operation: impl FnOnce() -> Result<T, ImapError>,
) -> Result<T, ImapError> {
    let started = Instant::now();
    let result = operation();
    match &result {
        Ok(_) => {
            recorder.record(kind, started.elapsed());
            progress.ok();
        }
        Err(error) => {
            recorder.error(kind, error);
            progress.error();
        }
    }
    result
}

/// Runs `command` and counts its FETCH responses.
fn count_fetches(connection: &mut ImapConnection, command: &str) -> Result<u64, ImapError> {
    let mut count = 0;
    connection.run(command, |untagged| {
        if let Untagged::Fetch(fetch) = untagged {
            // A body fetch must carry a body; flag fetches carry FLAGS.
            if fetch.get("BODY[]").and_then(Value::bytes).is_some() || fetch.get("FLAGS").is_some() {
                count += 1;
            }
        }
    })?;
    Ok(count)
}

/// State carried from round to round.
struct Rounds {
    rng: Rng,
    /// Messages the previous round flagged; the next round unflags them, so every STORE
    /// changes flags (and modseqs) and CHANGEDSINCE always has results.
    flagged: Vec<u32>,
    condstore: bool,
    fetch_bodies: u32,
}

fn round(
    connection: &mut ImapConnection,
    settings: &Settings,
    rounds: &mut Rounds,
    recorder: &mut Recorder,
    details: &mut BigboxDetails,
    progress: &Progress,
) -> Result<(), ImapError> {
    let selected = timed(recorder, progress, "select", || connection.select(&settings.mailbox, false))?;
    let exists = selected.exists;
    details.messages_in_mailbox = u64::from(exists);
    if exists == 0 {
        return Ok(());
    }
    let all = timed(recorder, progress, "fetch_all_flags", || {
        let got = count_fetches(connection, "FETCH 1:* (FLAGS UID RFC822.SIZE)")?;
        check_count("FETCH 1:*", got, u64::from(exists))
    });
    let range = rounds.fetch_bodies.min(exists);
    let start = 1 + rounds.rng.below(u64::from(exists - range + 1)) as u32;
    let bodies = timed(recorder, progress, "fetch_bodies", || {
        let got = count_fetches(connection, &format!("FETCH {start}:{} (BODY.PEEK[])", start + range - 1))?;
        check_count("FETCH BODY[]", got, u64::from(range))
    });
    let search = timed(recorder, progress, "search_body", || search_count(connection, "BODY"));
    if let Ok(matches) = search {
        details.search_matches = matches;
    }
    let search_text = timed(recorder, progress, "search_text", || search_count(connection, "TEXT"));
    if let Ok(matches) = search_text {
        details.search_text_matches = matches;
    }
    if rounds.condstore {
        let since = selected.highest_modseq.unwrap_or(0);
        let (sign, set) = if rounds.flagged.is_empty() {
            let rng = &mut rounds.rng;
            rounds.flagged =
                (0..STORE_MESSAGES.min(exists)).map(|_| 1 + rng.below(u64::from(exists)) as u32).collect();
            ('+', rounds.flagged.clone())
        } else {
            ('-', std::mem::take(&mut rounds.flagged))
        };
        let set: Vec<String> = set.iter().filter(|&&seq| seq <= exists).map(u32::to_string).collect();
        if set.is_empty() {
            return Ok(()); // the mailbox shrank under us; the next round picks anew
        }
        let store = timed(recorder, progress, "store", || {
            connection.run(&format!("STORE {} {sign}FLAGS.SILENT (\\Flagged)", set.join(",")), |_| {})
        });
        let changed = timed(recorder, progress, "fetch_changedsince", || {
            count_fetches(connection, &format!("UID FETCH 1:* (FLAGS) (CHANGEDSINCE {since})"))
        });
        if let Ok(changed) = changed {
            details.changedsince_results = changed;
        }
        store?;
    }
    ordering(connection, exists, recorder, progress)?;
    all?;
    bodies?;
    Ok(())
}

/// The round's SORT and THREAD commands, those the server offers.
fn ordering(
    connection: &mut ImapConnection,
    exists: u32,
    recorder: &mut Recorder,
    progress: &Progress,
) -> Result<(), ImapError> {
    if connection.has("SORT") {
        for (kind, criteria) in [("sort_date", "(REVERSE DATE)"), ("sort_subject", "(SUBJECT)")] {
            timed(recorder, progress, kind, || {
                let got = count_numbers(connection, &format!("UID SORT {criteria} UTF-8 ALL"), "SORT")?;
                check_count("SORT", got, u64::from(exists))
            })?;
        }
    }
    if connection.has("THREAD=REFERENCES") {
        timed(recorder, progress, "thread", || {
            let got = count_numbers(connection, "UID THREAD REFERENCES UTF-8 ALL", "THREAD")?;
            check_count("THREAD", got, u64::from(exists))
        })?;
    }
    Ok(())
}

/// `SEARCH <key> <word>`: the number of messages it matched.
fn search_count(connection: &mut ImapConnection, key: &str) -> Result<u64, ImapError> {
    let mut matches = 0u64;
    connection.run(&format!("SEARCH {key} {}", message::SEARCH_WORD), |untagged| {
        if let Untagged::Search(found) = untagged {
            matches += found.len() as u64;
        }
    })?;
    Ok(matches)
}

/// Runs `command` and counts the numbers in its `* keyword ...` responses (a SORT's
/// UIDs, or a THREAD's, whatever the parentheses around them).
fn count_numbers(connection: &mut ImapConnection, command: &str, keyword: &str) -> Result<u64, ImapError> {
    let mut count = 0u64;
    connection.run(command, |untagged| {
        if let Untagged::Other { keyword: got, rest } = untagged
            && got.eq_ignore_ascii_case(keyword)
        {
            count +=
                rest.split(|c: char| !c.is_ascii_digit()).filter(|token| !token.is_empty()).count() as u64;
        }
    })?;
    Ok(count)
}

fn check_count(what: &str, got: u64, expected: u64) -> Result<(), ImapError> {
    if got < expected {
        return Err(ImapError::Incomplete(format!("{what}: {got} of {expected} messages returned")));
    }
    Ok(())
}
