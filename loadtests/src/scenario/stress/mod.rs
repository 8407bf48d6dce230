//! The `stress` scenario: a state-tracking IMAP conformance check under concurrency.
//! `--connections` clients (threads) over `--accounts` accounts each loop: connect,
//! LOGIN, (every other session) ENABLE IMAP4rev2 when offered, SELECT, then
//! `--session-ops` random operations (FETCH of flags, envelopes and body parts, UID
//! FETCH, STORE of system flags and keywords from a pool of `--keywords`, EXPUNGE of a
//! message, APPEND of a MIME message with flags, NOOP), then LOGOUT.
//!
//! Sessions share mailboxes on purpose: half of them pick one of the first
//! [`HOT_ACCOUNTS_MAX`] accounts, so several clients work in the same mailbox at once and
//! see each other's changes as unsolicited responses. Each session keeps a [`model`] of
//! its view and reports every protocol violation by kind, with the first transcript
//! excerpt of each kind. A [`journal`] of what every session is changing excuses the
//! outcomes that concurrency makes legitimate (two sessions storing opposite flags on one
//! message, data of a message another session expunged).
//!
//! Mailboxes stay small (their size steers APPEND against EXPUNGE between
//! [`MAILBOX_LOW`] and [`MAILBOX_HIGH`] messages), so the run measures protocol state
//! handling, not mailbox size.

pub(crate) mod journal;
mod mail;
pub(crate) mod model;
mod session;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use self::journal::{Journal, Touch};
use self::model::{Command, Finding, FlagChange, Flags, Kind};
use self::session::{Completion, Session, SessionError};
use crate::cli::Settings;
use crate::imap::parse::Status;
use crate::message::{Corpus, Rng, RunId};
use crate::progress::{self, Progress};
use crate::report::{Report, StressDetails};
use crate::stats::Recorder;

/// Accounts that half of the sessions crowd into, so mailboxes are shared: with the
/// default 20 clients, about two sessions work in each of these at any time.
pub(crate) const HOT_ACCOUNTS_MAX: u32 = 5;

/// Below this many messages a session appends more often than it expunges.
pub(crate) const MAILBOX_LOW: u32 = 8;

/// Above this many messages a session expunges more often than it appends.
pub(crate) const MAILBOX_HIGH: u32 = 40;

/// Most messages one FETCH or STORE names: a screenful of a message list.
pub(crate) const WINDOW_MAX: u32 = 5;

/// Keywords that real clients set, first in the pool; `load-N` names fill the rest.
const KEYWORDS_COMMON: [&str; 8] =
    ["$Forwarded", "$MDNSent", "$Junk", "$NotJunk", "$label1", "$label2", "Work", "ToDo"];

/// System flags STORE and APPEND use (`\Deleted` only marks messages to expunge, and
/// `\Recent` cannot be stored).
const SYSTEM_FLAGS: [&str; 4] = ["\\Seen", "\\Flagged", "\\Answered", "\\Draft"];

/// What to run.
#[derive(Debug)]
pub(crate) struct StressPlan {
    /// Accounts: `{n}` in `--user` runs over 1..=accounts.
    pub(crate) accounts: u32,
    /// The keyword pool.
    pub(crate) keywords: Vec<String>,
    /// Operations per session between SELECT and LOGOUT.
    pub(crate) session_ops: u32,
    /// Messages to append instead of generated ones.
    pub(crate) corpus: Option<Corpus>,
    /// ENABLE IMAP4rev2 in every other session when offered.
    pub(crate) rev2: bool,
}

/// The keyword pool of `size` names.
pub(crate) fn keyword_pool(size: u32) -> Vec<String> {
    let common = KEYWORDS_COMMON.iter().map(|k| (*k).to_string());
    common.chain((1..).map(|n| format!("load-{n}"))).take(size as usize).collect()
}

/// The login name of account `index` (0-based).
pub(crate) fn user_of(settings: &Settings, index: u32) -> String {
    settings.user.replace("{n}", &(index + 1).to_string())
}

struct Shared<'a> {
    settings: &'a Settings,
    plan: &'a StressPlan,
    run: RunId,
    journal: Journal,
    deadline: Instant,
    progress: Arc<Progress>,
    sessions: AtomicU64,
    appended: AtomicU64,
}

/// What one worker counted.
#[derive(Debug, Default)]
struct Tally {
    recorder: Recorder,
    sessions: u64,
    rev2_sessions: u64,
    commands: u64,
    appended: u64,
    expunged: u64,
    violations: BTreeMap<Kind, u64>,
    samples: BTreeMap<Kind, String>,
    excused: BTreeMap<String, u64>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.recorder.merge(other.recorder);
        self.sessions += other.sessions;
        self.rev2_sessions += other.rev2_sessions;
        self.commands += other.commands;
        self.appended += other.appended;
        self.expunged += other.expunged;
        for (kind, count) in other.violations {
            *self.violations.entry(kind).or_default() += count;
        }
        for (kind, sample) in other.samples {
            self.samples.entry(kind).or_insert(sample);
        }
        for (reason, count) in other.excused {
            *self.excused.entry(reason).or_default() += count;
        }
    }
}

/// Runs the scenario.
pub(crate) fn run(settings: &Settings, plan: &StressPlan) -> Report {
    if let Err(error) = check_logins(settings, plan) {
        return Report::fatal("stress", error);
    }
    let watch = match super::watch_server(settings) {
        Ok(watch) => watch,
        Err(error) => return Report::fatal("stress", error),
    };
    let progress = Arc::new(Progress::default());
    progress.phase("running");
    let ticker = progress::start("stress", &progress);
    let started = Instant::now();
    let shared = Shared {
        settings,
        plan,
        run: RunId::new(),
        journal: Journal::new(plan.accounts as usize),
        deadline: started + settings.duration,
        progress,
        sessions: AtomicU64::new(0),
        appended: AtomicU64::new(0),
    };
    let shared = &shared;
    let mut tally = Tally::default();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..settings.connections as usize)
            .map(|index| scope.spawn(move || worker(index, shared)))
            .collect();
        for handle in handles {
            match handle.join() {
                Ok(worker) => tally.merge(worker),
                Err(_) => tally.recorder.error("worker", "panicked"),
            }
        }
    });
    let seconds = started.elapsed().as_secs_f64();
    drop(ticker);
    let mut report = Report::new("stress", &tally.recorder, seconds, u64::from(settings.connections));
    report.server = watch.map(|watch| watch.finish());
    let details = details(plan, &tally);
    let clean = details.violations == 0;
    report.stress = Some(details);
    report.finish(tally.sessions, clean)
}

fn details(plan: &StressPlan, tally: &Tally) -> StressDetails {
    let by_kind: BTreeMap<String, u64> = Kind::ALL
        .iter()
        .map(|kind| (kind.name().to_string(), tally.violations.get(kind).copied().unwrap_or(0)))
        .collect();
    StressDetails {
        accounts: plan.accounts,
        keywords: plan.keywords.len() as u64,
        session_ops: plan.session_ops,
        sessions: tally.sessions,
        rev2_sessions: tally.rev2_sessions,
        commands: tally.commands,
        appended: tally.appended,
        expunged: tally.expunged,
        violations: by_kind.values().sum(),
        violations_by_kind: by_kind,
        samples: tally
            .samples
            .iter()
            .map(|(kind, sample)| (kind.name().to_string(), sample.clone()))
            .collect(),
        excused: tally.excused.clone(),
    }
}

/// Logs in to the first and the last account, so a wrong `--user`, password or account
/// count stops the run at once instead of failing every session.
fn check_logins(settings: &Settings, plan: &StressPlan) -> Result<(), String> {
    let mut indexes = vec![0];
    if plan.accounts > 1 {
        indexes.push(plan.accounts - 1);
    }
    for index in indexes {
        let user = user_of(settings, index);
        let mut connection = super::imap_login(&Settings { user: user.clone(), ..settings.clone() }, 0)
            .map_err(|e| format!("login as {user}: {e}"))?;
        connection.select(&settings.mailbox, false).map_err(|e| format!("select as {user}: {e}"))?;
        let _ = connection.logout();
    }
    Ok(())
}

/// One client: sessions until the deadline.
fn worker(index: usize, shared: &Shared<'_>) -> Tally {
    let mut tally = Tally::default();
    let mut rng = super::worker_rng(shared.settings, index);
    let mut failed_connects = 0;
    while Instant::now() < shared.deadline {
        let id = shared.sessions.fetch_add(1, Ordering::Relaxed);
        let account = pick_account(&mut rng, shared.plan.accounts);
        let started = Instant::now();
        let mut context = Context { shared, tally: &mut tally, rng: &mut rng, account, id, since: started };
        let result = context.session(index);
        match result {
            Ok(()) => {
                tally.recorder.record("session", started.elapsed());
                tally.sessions += 1;
                shared.progress.ok();
                failed_connects = 0;
            }
            // Already counted as a violation.
            Err(SessionError::Malformed(_)) => {}
            Err(error) => {
                let connect = matches!(error, SessionError::Io(_) | SessionError::Greeting(_));
                tally.recorder.error("session", &error);
                shared.progress.error();
                failed_connects = if connect { failed_connects + 1 } else { 0 };
                if failed_connects >= super::smtp::CONNECT_ATTEMPTS_MAX {
                    break;
                }
            }
        }
    }
    tally
}

/// Half the time one of the hot accounts, else any (0-based).
fn pick_account(rng: &mut Rng, accounts: u32) -> usize {
    let hot = HOT_ACCOUNTS_MAX.min(accounts);
    let pool = if rng.below(2) == 0 { hot } else { accounts };
    rng.below(u64::from(pool)) as usize
}

/// An operation between SELECT and LOGOUT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    FetchFlags,
    FetchEnvelope,
    FetchBody,
    UidFetch,
    Store,
    Expunge,
    Append,
    Noop,
}

/// An operation for a view of `count` messages: reads and stores weigh most; appends
/// and expunges steer the mailbox size between [`MAILBOX_LOW`] and [`MAILBOX_HIGH`].
fn pick_op(rng: &mut Rng, count: u32) -> Op {
    let (append, expunge) = match count {
        0 => (8, 0),
        c if c < MAILBOX_LOW => (8, 1),
        c if c > MAILBOX_HIGH => (0, 8),
        _ => (2, 2),
    };
    let reads = if count == 0 { 0 } else { 1 };
    let weights = [
        (Op::FetchFlags, 3 * reads),
        (Op::FetchEnvelope, 2 * reads),
        (Op::FetchBody, 2 * reads),
        (Op::UidFetch, reads),
        (Op::Store, 4 * reads),
        (Op::Expunge, expunge),
        (Op::Append, append),
        (Op::Noop, 1),
    ];
    let total: u64 = weights.iter().map(|(_, w)| *w).sum();
    let mut roll = rng.below(total);
    for (op, weight) in weights {
        if roll < weight {
            return op;
        }
        roll -= weight;
    }
    Op::Noop
}

/// One session's context.
struct Context<'a, 's> {
    shared: &'a Shared<'s>,
    tally: &'a mut Tally,
    rng: &'a mut Rng,
    account: usize,
    id: u64,
    /// When the current operation started (for the journal's excuses).
    since: Instant,
}

impl Context<'_, '_> {
    /// A whole session: connect, LOGIN, ENABLE, SELECT, operations, LOGOUT.
    fn session(&mut self, index: usize) -> Result<(), SessionError> {
        let settings = self.shared.settings;
        let started = Instant::now();
        let mut session =
            Session::connect(settings.imap_target(), settings.source(index), settings.io_timeout)?;
        self.tally.recorder.record("connect", started.elapsed());
        let result = self.logged_in(&mut session);
        self.absorb(&mut session);
        result
    }

    fn logged_in(&mut self, session: &mut Session) -> Result<(), SessionError> {
        let settings = self.shared.settings;
        let user = user_of(settings, self.account as u32);
        let login = crate::imap::login_arguments(&user, &settings.password).unwrap_or_default();
        let completion = self.command(session, "login", Command::Login, &format!("LOGIN {login}"), None)?;
        if !completion.ok() {
            return Err(SessionError::Refused(format!("LOGIN as {user}: {completion}")));
        }
        // Capabilities change with LOGIN; servers often send the new list in its OK.
        if !completion.text.starts_with("[CAPABILITY ") {
            self.command(session, "capability", Command::Capability, "CAPABILITY", None)?;
        }
        if self.shared.plan.rev2 && self.id % 2 == 1 && session.has("IMAP4REV2") && session.has("ENABLE") {
            self.command(session, "enable", Command::Enable, "ENABLE IMAP4rev2", None)?;
            self.tally.rev2_sessions += u64::from(session.model.rev2());
        }
        let mailbox = crate::imap::quote(&settings.mailbox).unwrap_or_default();
        let completion =
            self.command(session, "select", Command::Select, &format!("SELECT {mailbox}"), None)?;
        if !completion.ok() {
            return Err(SessionError::Refused(format!("SELECT as {user}: {completion}")));
        }
        for _ in 0..self.shared.plan.session_ops {
            if Instant::now() >= self.shared.deadline || session.model.desynced() {
                break;
            }
            self.since = Instant::now();
            self.refresh(session)?;
            let op = pick_op(self.rng, session.model.count());
            self.perform(session, op)?;
        }
        self.since = Instant::now();
        let started = Instant::now();
        let completion = session.logout()?;
        self.tally.commands += 1;
        self.tally.recorder.record("logout", started.elapsed());
        self.check("logout", &completion);
        Ok(())
    }

    /// Runs one command: timed under `kind`, its findings judged. A NO or BAD is
    /// returned, not an error: the caller decides what it means.
    fn command(
        &mut self,
        session: &mut Session,
        kind: &'static str,
        command: Command,
        text: &str,
        literal: Option<&[u8]>,
    ) -> Result<Completion, SessionError> {
        let started = Instant::now();
        let result = session.execute(command, text, literal);
        self.tally.commands += 1;
        self.absorb(session);
        let completion = result?;
        self.tally.recorder.record(kind, started.elapsed());
        Ok(completion)
    }

    /// Counts a NO or BAD completion as an error of `kind`.
    fn check(&mut self, kind: &'static str, completion: &Completion) {
        if completion.status != Status::Ok {
            self.tally.recorder.error(kind, completion.to_string());
            self.shared.progress.error();
        }
    }

    /// Judges the session's new findings: excused by the journal, or violations.
    fn absorb(&mut self, session: &mut Session) {
        for finding in session.take_findings() {
            let excused = finding
                .excuse
                .as_ref()
                .is_some_and(|excuse| self.shared.journal.excuses(self.account, self.id, excuse, self.since));
            if excused {
                *self.tally.excused.entry(finding.kind.name().to_string()).or_default() += 1;
                continue;
            }
            self.violation(session, &finding);
        }
    }

    fn violation(&mut self, session: &Session, finding: &Finding) {
        *self.tally.violations.entry(finding.kind).or_default() += 1;
        self.shared.progress.error();
        if self.tally.samples.contains_key(&finding.kind) {
            return;
        }
        let user = user_of(self.shared.settings, self.account as u32);
        let rev = if session.model.rev2() { "IMAP4rev2" } else { "IMAP4rev1" };
        let sample = format!(
            "session {} as {user} ({rev}):\n{}!! {}: {}\n",
            self.id,
            session.transcript.text(),
            finding.kind.name(),
            finding.detail
        );
        self.tally.samples.insert(finding.kind, sample);
    }

    /// Fetches UID and FLAGS of the messages in view whose UID or flags are unknown
    /// (new since the last look), so operations can name them.
    fn refresh(&mut self, session: &mut Session) -> Result<(), SessionError> {
        let messages = session.model.messages();
        let unknown = |m: &model::Message| m.uid.is_none() || m.flags.is_none();
        let (Some(first), Some(last)) =
            (messages.iter().position(unknown), messages.iter().rposition(unknown))
        else {
            return Ok(());
        };
        // Lossless: the view is capped at VIEW_MESSAGES_MAX.
        let (first, last) = (first as u32 + 1, last as u32 + 1);
        let command =
            Command::Fetch { by_uid: false, keys: (first..=last).collect(), items: vec!["UID", "FLAGS"] };
        self.command(session, "fetch", command, &format!("FETCH {first}:{last} (UID FLAGS)"), None)?;
        Ok(())
    }

    fn perform(&mut self, session: &mut Session, op: Op) -> Result<(), SessionError> {
        let count = session.model.count();
        match op {
            Op::FetchFlags | Op::FetchEnvelope => {
                let (first, last) = self.window(count);
                let (items, text): (Vec<&'static str>, &str) = if op == Op::FetchFlags {
                    (vec!["FLAGS"], "FLAGS")
                } else {
                    (
                        vec!["UID", "RFC822.SIZE", "INTERNALDATE", "FLAGS", "ENVELOPE"],
                        "UID RFC822.SIZE INTERNALDATE FLAGS ENVELOPE",
                    )
                };
                let command = Command::Fetch { by_uid: false, keys: (first..=last).collect(), items };
                self.command(session, "fetch", command, &format!("FETCH {first}:{last} ({text})"), None)?;
            }
            Op::FetchBody => {
                let seq = 1 + self.rng.below(u64::from(count)) as u32;
                let items = vec!["BODYSTRUCTURE", "BODY[HEADER]", "BODY[1]", "BODY[TEXT]<0>"];
                let text = format!(
                    "FETCH {seq} (BODYSTRUCTURE BODY.PEEK[HEADER] BODY.PEEK[1] BODY.PEEK[TEXT]<0.200>)"
                );
                self.command(
                    session,
                    "fetch_body",
                    Command::Fetch { by_uid: false, keys: vec![seq], items },
                    &text,
                    None,
                )?;
            }
            Op::UidFetch => {
                let uids = self.some_uids(session, 3);
                if !uids.is_empty() {
                    let set = join_numbers(&uids);
                    let command = Command::Fetch { by_uid: true, keys: uids, items: vec!["UID", "FLAGS"] };
                    self.command(session, "fetch", command, &format!("UID FETCH {set} (FLAGS)"), None)?;
                }
            }
            Op::Store => self.store(session, count)?,
            Op::Expunge => self.expunge(session)?,
            Op::Append => self.append(session)?,
            Op::Noop => {
                let completion = self.command(session, "noop", Command::Noop, "NOOP", None)?;
                self.check("noop", &completion);
            }
        }
        Ok(())
    }

    /// A range `first..=last` of up to [`WINDOW_MAX`] messages of `count` (> 0).
    fn window(&mut self, count: u32) -> (u32, u32) {
        let first = 1 + self.rng.below(u64::from(count)) as u32;
        let size = 1 + self.rng.below(u64::from(WINDOW_MAX.min(count - first + 1))) as u32;
        (first, first + size - 1)
    }

    /// Up to `most` distinct known UIDs in view, ascending.
    fn some_uids(&mut self, session: &Session, most: u64) -> Vec<u32> {
        let messages = session.model.messages();
        if messages.is_empty() {
            return Vec::new();
        }
        let mut uids: Vec<u32> = (0..1 + self.rng.below(most))
            .filter_map(|_| messages[self.rng.below(messages.len() as u64) as usize].uid)
            .collect();
        uids.sort_unstable();
        uids.dedup();
        uids
    }

    /// Some system flags and keywords (original case), at least `least`.
    fn random_flags(&mut self, least: usize) -> Vec<String> {
        let keywords = &self.shared.plan.keywords;
        let mut flags = Vec::new();
        while flags.len() < least || (flags.len() < 4 && self.rng.below(2) == 0) {
            let flag = if keywords.is_empty() || self.rng.below(2) == 0 {
                SYSTEM_FLAGS[self.rng.below(SYSTEM_FLAGS.len() as u64) as usize].to_string()
            } else {
                keywords[self.rng.below(keywords.len() as u64) as usize].clone()
            };
            if !flags.contains(&flag) {
                flags.push(flag);
            }
        }
        flags
    }

    fn store(&mut self, session: &mut Session, count: u32) -> Result<(), SessionError> {
        let (first, last) = self.window(count);
        let uids: Vec<u32> =
            (first..=last).filter_map(|seq| session.model.messages()[seq as usize - 1].uid).collect();
        let by_uid = self.rng.below(3) == 0;
        let silent = self.rng.below(4) == 0;
        let mode = self.rng.below(5);
        let flags = self.random_flags(if mode == 4 { 0 } else { 1 });
        let lower: Flags = flags.iter().map(|f| f.to_ascii_lowercase()).collect();
        let (sign, change, touch) = match mode {
            0 | 1 => ("+", FlagChange::Add(lower.clone()), Touch::Flags(lower.into_iter().collect())),
            2 | 3 => ("-", FlagChange::Remove(lower.clone()), Touch::Flags(lower.into_iter().collect())),
            _ => ("", FlagChange::Replace(lower), Touch::AllFlags),
        };
        let (set, keys) = if by_uid {
            (join_numbers(&uids), uids.clone())
        } else {
            (format!("{first}:{last}"), (first..=last).collect())
        };
        if keys.is_empty() {
            return Ok(());
        }
        let text = format!(
            "{}STORE {set} {sign}FLAGS{} ({})",
            if by_uid { "UID " } else { "" },
            if silent { ".SILENT" } else { "" },
            flags.join(" ")
        );
        let ticket = self.shared.journal.begin(self.account, self.id, &uids, &touch);
        let result =
            self.command(session, "store", Command::Store { by_uid, keys, silent, change }, &text, None);
        self.shared.journal.end(ticket);
        self.store_refused(&result?, &uids);
        Ok(())
    }

    /// A STORE NO is an error unless another session expunged one of its messages (a
    /// server may refuse to change a message that is gone).
    fn store_refused(&mut self, completion: &Completion, uids: &[u32]) {
        if completion.status == Status::Ok {
            return;
        }
        let journal = &self.shared.journal;
        if completion.status == Status::No
            && uids.iter().any(|&uid| journal.expunged_by_other(self.account, self.id, uid))
        {
            *self.tally.excused.entry("store_refused".to_string()).or_default() += 1;
        } else {
            self.check("store", completion);
        }
    }

    /// Marks one message `\Deleted` and expunges it (UID EXPUNGE with UIDPLUS).
    fn expunge(&mut self, session: &mut Session) -> Result<(), SessionError> {
        let Some(&uid) = self.some_uids(session, 1).first() else { return Ok(()) };
        let ticket = self.shared.journal.begin(self.account, self.id, &[uid], &Touch::Expunge);
        let result = self.mark_and_expunge(session, uid);
        self.shared.journal.end(ticket);
        result
    }

    fn mark_and_expunge(&mut self, session: &mut Session, uid: u32) -> Result<(), SessionError> {
        let deleted: Flags = ["\\deleted".to_string()].into_iter().collect();
        let mark =
            Command::Store { by_uid: true, keys: vec![uid], silent: true, change: FlagChange::Add(deleted) };
        let completion = self.command(
            session,
            "store",
            mark,
            &format!("UID STORE {uid} +FLAGS.SILENT (\\Deleted)"),
            None,
        )?;
        if completion.status != Status::Ok {
            self.store_refused(&completion, &[uid]);
            return Ok(());
        }
        let text = if session.has("UIDPLUS") { format!("UID EXPUNGE {uid}") } else { "EXPUNGE".to_string() };
        let completion =
            self.command(session, "expunge", Command::Expunge { uids: vec![uid] }, &text, None)?;
        self.check("expunge", &completion);
        self.tally.expunged += u64::from(session.model.seq_of_uid(uid).is_none());
        Ok(())
    }

    fn append(&mut self, session: &mut Session) -> Result<(), SessionError> {
        let n = self.shared.appended.fetch_add(1, Ordering::Relaxed);
        let message = match &self.shared.plan.corpus {
            Some(corpus) => corpus.pick(&self.shared.run, n, self.rng),
            None => mail::generate(&self.shared.run, n, self.rng),
        };
        let flags = if self.rng.below(2) == 0 { Vec::new() } else { self.random_flags(1) };
        let mailbox = crate::imap::quote(&self.shared.settings.mailbox).unwrap_or_default();
        let text = if flags.is_empty() {
            format!("APPEND {mailbox}")
        } else {
            format!("APPEND {mailbox} ({})", flags.join(" "))
        };
        let completion = self.command(session, "append", Command::Append, &text, Some(&message))?;
        self.check("append", &completion);
        self.tally.appended += u64::from(completion.status == Status::Ok);
        Ok(())
    }
}

impl Completion {
    /// Whether it is OK.
    fn ok(&self) -> bool {
        self.status == Status::Ok
    }
}

/// `1,5,9`.
fn join_numbers(numbers: &[u32]) -> String {
    numbers.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn keyword_pool_starts_with_common_keywords() {
        let pool = keyword_pool(10);
        assert_eq!(pool.len(), 10);
        assert_eq!(pool[0], "$Forwarded");
        assert_eq!(pool[8], "load-1");
        assert_eq!(keyword_pool(3).len(), 3);
        assert!(keyword_pool(0).is_empty());
    }

    #[test]
    fn details_list_every_kind_and_merge_workers() {
        let mut one = Tally { sessions: 2, commands: 9, ..Tally::default() };
        one.violations.insert(Kind::AfterLogout, 3);
        one.samples.insert(Kind::AfterLogout, "first".into());
        let mut two = Tally { sessions: 1, commands: 4, ..Tally::default() };
        two.violations.insert(Kind::AfterLogout, 1);
        two.samples.insert(Kind::AfterLogout, "second".into());
        two.excused.insert("store_wrong_flags".into(), 5);
        one.merge(two);
        let plan =
            StressPlan { accounts: 3, keywords: keyword_pool(4), session_ops: 2, corpus: None, rev2: true };
        let details = details(&plan, &one);
        assert_eq!((details.sessions, details.commands, details.violations), (3, 13, 4));
        assert_eq!(details.violations_by_kind.len(), Kind::ALL.len());
        assert_eq!(details.violations_by_kind["after_logout"], 4);
        assert_eq!(details.violations_by_kind["malformed"], 0);
        assert_eq!(details.samples["after_logout"], "first");
        assert_eq!(details.excused["store_wrong_flags"], 5);
    }

    #[test]
    fn sessions_crowd_into_hot_accounts() {
        let mut rng = Rng::new(3);
        let picks: Vec<usize> = (0..10_000).map(|_| pick_account(&mut rng, 100)).collect();
        let hot = picks.iter().filter(|&&a| a < HOT_ACCOUNTS_MAX as usize).count();
        assert!((5_000..5_600).contains(&hot), "{hot}");
        assert!(picks.iter().all(|&a| a < 100));
        assert!(picks.contains(&99));
        assert!((0..100).all(|_| pick_account(&mut rng, 1) == 0));
    }

    #[test]
    fn operations_steer_the_mailbox_size() {
        let mut rng = Rng::new(9);
        let ops = |rng: &mut Rng, count| (0..2000).map(|_| pick_op(rng, count)).collect::<Vec<_>>();
        let empty = ops(&mut rng, 0);
        assert!(empty.iter().all(|op| matches!(op, Op::Append | Op::Noop)));
        let full = ops(&mut rng, MAILBOX_HIGH + 1);
        assert!(!full.contains(&Op::Append) && full.contains(&Op::Expunge));
        let middle = ops(&mut rng, 20);
        for op in [
            Op::FetchFlags,
            Op::FetchEnvelope,
            Op::FetchBody,
            Op::UidFetch,
            Op::Store,
            Op::Expunge,
            Op::Append,
        ] {
            assert!(middle.contains(&op), "{op:?}");
        }
    }
}
