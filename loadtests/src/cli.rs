//! The command line (the contract scripts/bench-compare and .ci/run rely on) and its
//! validation into [`Settings`]: targets resolved and checked for loopback, limits
//! applied, scenario defaults filled in.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::target::{self, TargetError};

/// Most connections the thread-per-connection scenarios (smtp, imap) open: each is an OS
/// thread, and far fewer already saturate a server on the same machine.
pub(crate) const THREAD_CONNECTIONS_MAX: u32 = 2000;

/// Most connections the idle scenario opens (its event loop holds them; 1M exceeds any
/// port space from a few hundred source addresses).
pub(crate) const IDLE_CONNECTIONS_MAX: u32 = 1_000_000;

/// Longest run: one day. Every run is bounded in time as well as in count.
pub(crate) const DURATION_SECS_MAX: f64 = 86_400.0;

/// Most messages or operations one run may ask for.
pub(crate) const COUNT_MAX: u64 = 100_000_000;

/// Most probe deliveries in an idle run.
pub(crate) const PROBES_MAX: u64 = 10_000;

/// Longest socket timeout.
pub(crate) const IO_TIMEOUT_SECS_MAX: f64 = 3600.0;

/// The default operation weights of the imap scenario.
pub(crate) const MIX_DEFAULT: &str =
    "select=1,fetch_flags=4,fetch_envelope=2,fetch_body=2,store=2,search=1,append=1,expunge=1,idle=1";

/// Message size when `--size` is not given: a short plain-text mail with its headers.
pub(crate) const SIZE_DEFAULT: usize = 4096;

/// Load generator for SMTP and IMAP servers (moxide, Postfix, Dovecot, ...).
#[derive(Debug, Parser)]
#[command(name = "moxide-load", version, about)]
pub(crate) struct Cli {
    /// What to run.
    #[command(subcommand)]
    pub(crate) scenario: ScenarioArgs,
}

/// The scenarios.
#[derive(Debug, Subcommand)]
pub(crate) enum ScenarioArgs {
    /// Deliver messages over SMTP and time each transaction.
    Smtp(SmtpArgs),
    /// A mix of IMAP operations on one mailbox.
    Imap(ImapArgs),
    /// Hold many IDLE connections; measure server memory and EXISTS notification latency.
    Idle(IdleArgs),
    /// Fill a mailbox to --messages, then time whole-mailbox operations.
    Bigbox(BigboxArgs),
    /// Check IMAP conformance under concurrency: clients over shared mailboxes, every
    /// protocol violation reported by kind.
    Stress(StressArgs),
}

/// Options every scenario takes.
#[derive(Debug, Clone, Args)]
pub(crate) struct CommonArgs {
    /// SMTP server.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:1025")]
    pub(crate) smtp: String,
    /// IMAP server.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:1143")]
    pub(crate) imap: String,
    /// IMAP login name.
    #[arg(long, default_value = "mox@localhost")]
    pub(crate) user: String,
    /// IMAP password.
    #[arg(long, default_value = "moxmoxmox")]
    pub(crate) password: String,
    /// SMTP recipient; must be delivered to --user's mailbox.
    #[arg(long, value_name = "ADDRESS", default_value = "mox@localhost")]
    pub(crate) rcpt: String,
    /// SMTP sender.
    #[arg(long, value_name = "ADDRESS", default_value = "load@example.org")]
    pub(crate) from: String,
    /// Concurrent connections (default: smtp 10, imap 10, idle 1000, bigbox 1, stress 20).
    #[arg(long, value_name = "N")]
    pub(crate) connections: Option<u32>,
    /// Stop after this many seconds (default: smtp/imap/stress 60, idle 300, bigbox 600).
    #[arg(long, value_name = "SECS")]
    pub(crate) duration: Option<f64>,
    /// Print one JSON object instead of the table.
    #[arg(long)]
    pub(crate) json: bool,
    /// Allow targets (and sources) that are not loopback addresses.
    #[arg(long)]
    pub(crate) allow_remote: bool,
    /// Server process(es) to measure, with their descendants (repeatable or comma list).
    #[arg(long, value_name = "PID", value_delimiter = ',')]
    pub(crate) server_pid: Vec<u32>,
    /// IMAP mailbox.
    #[arg(long, value_name = "NAME", default_value = "INBOX")]
    pub(crate) mailbox: String,
    /// Local addresses to connect from, round-robin: `A.B.C.D-E.F.G.H` ranges and
    /// addresses, comma-separated.
    #[arg(long, value_name = "RANGE")]
    pub(crate) sources: Option<String>,
    /// Socket read/write timeout, seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub(crate) timeout: f64,
    /// Seed for the pseudo-random choices (message content, operations, targets).
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
}

/// `smtp` options.
#[derive(Debug, Clone, Args)]
pub(crate) struct SmtpArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Messages to deliver in total.
    #[arg(long, value_name = "M", default_value_t = 1000)]
    pub(crate) messages: u64,
    /// Size of each generated message, bytes.
    #[arg(long, value_name = "BYTES", conflicts_with = "size_corpus")]
    pub(crate) size: Option<usize>,
    /// Send files from this directory (picked at random) instead of generated messages.
    #[arg(long, value_name = "DIR")]
    pub(crate) size_corpus: Option<PathBuf>,
    /// Pipeline MAIL/RCPT/DATA when the server offers PIPELINING.
    #[arg(long)]
    pub(crate) pipelining: bool,
    /// Use BDAT when the server offers CHUNKING.
    #[arg(long)]
    pub(crate) chunking: bool,
    /// Afterwards check over IMAP that every accepted message arrived exactly once.
    #[arg(long)]
    pub(crate) verify_imap: bool,
    /// Recipient accounts: `{n}` in --rcpt (and in --user, for --verify-imap) is
    /// replaced by 1..=M, message k going to account k % M + 1.
    #[arg(long, value_name = "M", default_value_t = 1)]
    pub(crate) accounts: u32,
    /// Messages per connection before QUIT and a new connection (0: no limit); 1 is
    /// one message per connection, as most senders on the internet do.
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub(crate) messages_per_connection: u64,
    /// AUTH PLAIN as --user/--password after EHLO on each connection (submission to
    /// a server that relays for authenticated users).
    #[arg(long)]
    pub(crate) auth: bool,
}

/// Most accounts `smtp --verify-imap` checks: one IMAP connection each.
pub(crate) const VERIFY_ACCOUNTS_MAX: u32 = 1000;

/// Checks the smtp options that are not common: the account count and its `{n}`.
pub(crate) fn check_smtp(args: &SmtpArgs) -> Result<(), UsageError> {
    let invalid = |option, reason: String| UsageError::Invalid { option, reason };
    if args.accounts == 0 || args.accounts > ACCOUNTS_MAX {
        return Err(invalid("--accounts", format!("must be 1..={ACCOUNTS_MAX}")));
    }
    if args.accounts > 1 && !args.common.rcpt.contains("{n}") {
        return Err(invalid(
            "--rcpt",
            format!("must contain {{n}} (replaced by the account number) for --accounts {}", args.accounts),
        ));
    }
    if args.auth && args.common.user.contains("{n}") {
        return Err(invalid("--user", "--auth logs in as one user: no {n}".to_owned()));
    }
    if args.accounts > 1 && args.verify_imap {
        if !args.common.user.contains("{n}") {
            return Err(invalid("--user", "must contain {n} to verify several accounts".to_owned()));
        }
        if args.accounts > VERIFY_ACCOUNTS_MAX {
            return Err(invalid("--accounts", format!("at most {VERIFY_ACCOUNTS_MAX} with --verify-imap")));
        }
    }
    Ok(())
}

/// `imap` options.
#[derive(Debug, Clone, Args)]
pub(crate) struct ImapArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Operations in total.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub(crate) ops: u64,
    /// Operation weights; operations not named get weight 0.
    #[arg(long, default_value = MIX_DEFAULT)]
    pub(crate) mix: String,
    /// Each operation is connect + LOGIN + SELECT + LOGOUT.
    #[arg(long)]
    pub(crate) login_churn: bool,
    /// Size of appended messages, bytes.
    #[arg(long, value_name = "BYTES")]
    pub(crate) size: Option<usize>,
    /// Accounts: `{n}` in --user is replaced by 1..=M; each is filled before the run.
    #[arg(long, value_name = "M", default_value_t = 1)]
    pub(crate) accounts: u32,
    /// With several accounts, operations per session before the connection logs out
    /// and logs in to another account (the next one `--connections` further on).
    #[arg(long, value_name = "OPS", default_value_t = 100)]
    pub(crate) switch_after: u64,
}

/// Checks the imap options that are not common: the account count and its `{n}`.
pub(crate) fn check_imap(args: &ImapArgs) -> Result<(), UsageError> {
    let invalid = |option, reason: String| UsageError::Invalid { option, reason };
    if args.accounts == 0 || args.accounts > ACCOUNTS_MAX {
        return Err(invalid("--accounts", format!("must be 1..={ACCOUNTS_MAX}")));
    }
    if args.accounts > 1 && !args.common.user.contains("{n}") {
        return Err(invalid(
            "--user",
            format!("must contain {{n}} (replaced by the account number) for --accounts {}", args.accounts),
        ));
    }
    if args.switch_after == 0 {
        return Err(invalid("--switch-after", "must be at least 1".to_owned()));
    }
    Ok(())
}

/// `idle` options.
#[derive(Debug, Clone, Args)]
pub(crate) struct IdleArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Messages to deliver over SMTP while idling, timing SMTP 250 -> `* n EXISTS`.
    #[arg(long, value_name = "K", default_value_t = 3)]
    pub(crate) probes: u64,
}

/// `bigbox` options.
#[derive(Debug, Clone, Args)]
pub(crate) struct BigboxArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Fill the mailbox to this many messages (APPEND) if it has fewer.
    #[arg(long, value_name = "K", default_value_t = 10_000)]
    pub(crate) messages: u64,
    /// Size of appended messages, bytes.
    #[arg(long, value_name = "BYTES")]
    pub(crate) size: Option<usize>,
    /// Times the sequence of timed operations runs.
    #[arg(long, value_name = "R", default_value_t = 3)]
    pub(crate) rounds: u64,
    /// Messages per timed full-body FETCH (the whole mailbox when it holds fewer).
    #[arg(long, value_name = "N", default_value_t = crate::scenario::bigbox::BODY_RANGE_DEFAULT)]
    pub(crate) fetch_bodies: u32,
}

/// `stress` options.
#[derive(Debug, Clone, Args)]
pub(crate) struct StressArgs {
    #[command(flatten)]
    pub(crate) common: CommonArgs,
    /// Accounts: `{n}` in --user is replaced by 1..=M (e.g. --user 'load{n}@localhost').
    #[arg(long, value_name = "M", default_value_t = 100)]
    pub(crate) accounts: u32,
    /// Keywords in the pool STORE and APPEND pick from.
    #[arg(long, value_name = "K", default_value_t = 40)]
    pub(crate) keywords: u32,
    /// Operations per session between SELECT and LOGOUT.
    #[arg(long, value_name = "OPS", default_value_t = 8)]
    pub(crate) session_ops: u32,
    /// Append files from this directory (picked at random) instead of generated MIME mail.
    #[arg(long, value_name = "DIR")]
    pub(crate) corpus: Option<PathBuf>,
    /// Never ENABLE IMAP4rev2 (by default every other session does when it is offered).
    #[arg(long)]
    pub(crate) no_rev2: bool,
}

/// Most accounts the stress scenario spreads over.
pub(crate) const ACCOUNTS_MAX: u32 = 100_000;

/// Most keywords in the stress scenario's pool: each may end up in every mailbox's FLAGS
/// list, and servers cap keywords per mailbox (often at a few hundred).
pub(crate) const KEYWORDS_MAX: u32 = 200;

/// Most operations per stress session.
pub(crate) const SESSION_OPS_MAX: u32 = 10_000;

/// Checks the stress options that are not common: the account count and its `{n}`.
pub(crate) fn check_stress(args: &StressArgs) -> Result<(), UsageError> {
    let invalid = |option, reason: String| UsageError::Invalid { option, reason };
    if args.accounts == 0 || args.accounts > ACCOUNTS_MAX {
        return Err(invalid("--accounts", format!("must be 1..={ACCOUNTS_MAX}")));
    }
    if args.accounts > 1 && !args.common.user.contains("{n}") {
        return Err(invalid(
            "--user",
            format!(
                "must contain {{n}} (replaced by the account number) for --accounts {}, e.g. \
                 'load{{n}}@localhost'; or pass --accounts 1",
                args.accounts
            ),
        ));
    }
    if args.keywords > KEYWORDS_MAX {
        return Err(invalid("--keywords", format!("at most {KEYWORDS_MAX}")));
    }
    if args.session_ops > SESSION_OPS_MAX {
        return Err(invalid("--session-ops", format!("at most {SESSION_OPS_MAX}")));
    }
    Ok(())
}

/// An IMAP operation of the imap scenario's mix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Op {
    /// SELECT the mailbox again.
    Select,
    /// FETCH FLAGS of a window of messages.
    FetchFlags,
    /// FETCH ENVELOPE (and UID, size, flags) of a window.
    FetchEnvelope,
    /// FETCH BODY.PEEK[] of one message.
    FetchBody,
    /// STORE a flag on one message.
    Store,
    /// SEARCH by a flag and a header word.
    Search,
    /// APPEND a generated message.
    Append,
    /// Expunge a message this connection appended.
    Expunge,
    /// IDLE, then DONE at once.
    Idle,
    /// LIST every mailbox (`LIST "" "*"`).
    List,
    /// STATUS of the mailbox (MESSAGES UIDNEXT UNSEEN), as clients poll other mailboxes.
    Status,
    /// STORE a keyword (one of five `$label` keywords) on one message.
    StoreKeyword,
}

impl Op {
    /// Every operation, in `--mix` order.
    pub(crate) const ALL: [Op; 12] = [
        Op::Select,
        Op::FetchFlags,
        Op::FetchEnvelope,
        Op::FetchBody,
        Op::Store,
        Op::Search,
        Op::Append,
        Op::Expunge,
        Op::Idle,
        Op::List,
        Op::Status,
        Op::StoreKeyword,
    ];

    /// The `--mix` name, also the latency kind in the report.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Op::Select => "select",
            Op::FetchFlags => "fetch_flags",
            Op::FetchEnvelope => "fetch_envelope",
            Op::FetchBody => "fetch_body",
            Op::Store => "store",
            Op::Search => "search",
            Op::Append => "append",
            Op::Expunge => "expunge",
            Op::Idle => "idle",
            Op::List => "list",
            Op::Status => "status",
            Op::StoreKeyword => "store_keyword",
        }
    }
}

/// Weighted operations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mix {
    /// Operations with weight > 0.
    pub(crate) weights: Vec<(Op, u32)>,
}

impl Mix {
    /// Parses `name=weight,...`.
    pub(crate) fn parse(text: &str) -> Result<Mix, UsageError> {
        let invalid = |reason: String| UsageError::Invalid { option: "--mix", reason };
        let mut weights: BTreeMap<Op, u32> = BTreeMap::new();
        for item in text.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            let (name, weight) =
                item.split_once('=').ok_or_else(|| invalid(format!("{item:?} is not name=weight")))?;
            let op = Op::ALL
                .into_iter()
                .find(|op| op.name() == name.trim())
                .ok_or_else(|| invalid(format!("unknown operation {name:?}")))?;
            let weight: u32 =
                weight.trim().parse().map_err(|_| invalid(format!("bad weight in {item:?}")))?;
            if weight > 1000 {
                return Err(invalid(format!("weight {weight} above 1000")));
            }
            if weights.insert(op, weight).is_some() {
                return Err(invalid(format!("{name} given twice")));
            }
        }
        let weights: Vec<(Op, u32)> = weights.into_iter().filter(|(_, weight)| *weight > 0).collect();
        if weights.is_empty() {
            return Err(invalid("no operation has a weight above 0".to_string()));
        }
        Ok(Mix { weights })
    }

    /// The operation for `roll` in `0..total()`.
    pub(crate) fn pick(&self, mut roll: u64) -> Op {
        for (op, weight) in &self.weights {
            if roll < u64::from(*weight) {
                return *op;
            }
            roll -= u64::from(*weight);
        }
        self.weights.last().map_or(Op::Select, |(op, _)| *op)
    }

    /// Sum of weights.
    pub(crate) fn total(&self) -> u64 {
        self.weights.iter().map(|(_, weight)| u64::from(*weight)).sum()
    }
}

/// A command line that cannot be run.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UsageError {
    /// A target or source address was refused.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// An option value is out of range or malformed.
    #[error("{option}: {reason}")]
    Invalid {
        /// The option.
        option: &'static str,
        /// Why.
        reason: String,
    },
}

/// The validated settings every scenario uses.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// SMTP server, if the scenario talks SMTP.
    pub(crate) smtp: Option<SocketAddr>,
    /// IMAP server, if the scenario talks IMAP.
    pub(crate) imap: Option<SocketAddr>,
    /// IMAP login.
    pub(crate) user: String,
    /// IMAP password.
    pub(crate) password: String,
    /// SMTP recipient.
    pub(crate) rcpt: String,
    /// SMTP sender.
    pub(crate) from: String,
    /// Mailbox.
    pub(crate) mailbox: String,
    /// Concurrent connections.
    pub(crate) connections: u32,
    /// Time bound.
    pub(crate) duration: Duration,
    /// JSON output.
    pub(crate) json: bool,
    /// Server PIDs to watch.
    pub(crate) server_pids: Vec<u32>,
    /// Source addresses (empty: the kernel's choice).
    pub(crate) sources: Vec<IpAddr>,
    /// Socket timeout.
    pub(crate) io_timeout: Duration,
    /// Random seed.
    pub(crate) seed: u64,
}

impl Settings {
    /// The source address for connection number `index` (round-robin), if any.
    pub(crate) fn source(&self, index: usize) -> Option<IpAddr> {
        (!self.sources.is_empty()).then(|| self.sources[index % self.sources.len()])
    }

    /// The SMTP target; only called by scenarios that asked for it in validation.
    pub(crate) fn smtp_target(&self) -> SocketAddr {
        self.smtp.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 1025)))
    }

    /// The IMAP target; only called by scenarios that asked for it in validation.
    pub(crate) fn imap_target(&self) -> SocketAddr {
        self.imap.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 1143)))
    }
}

/// Scenario-specific defaults and needs for [`validate_common`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Needs {
    /// Talks SMTP.
    pub(crate) smtp: bool,
    /// Talks IMAP.
    pub(crate) imap: bool,
    /// Default for `--connections`.
    pub(crate) connections_default: u32,
    /// Upper limit for `--connections`.
    pub(crate) connections_max: u32,
    /// Default for `--duration`, seconds.
    pub(crate) duration_default: f64,
}

/// Validates the common options.
pub(crate) fn validate_common(args: &CommonArgs, needs: Needs) -> Result<Settings, UsageError> {
    let invalid = |option, reason: &str| UsageError::Invalid { option, reason: reason.to_string() };
    let smtp = if needs.smtp { Some(target::resolve(&args.smtp, args.allow_remote)?) } else { None };
    let imap = if needs.imap { Some(target::resolve(&args.imap, args.allow_remote)?) } else { None };
    let connections = args.connections.unwrap_or(needs.connections_default);
    if connections == 0 || connections > needs.connections_max {
        return Err(UsageError::Invalid {
            option: "--connections",
            reason: format!("must be 1..={}", needs.connections_max),
        });
    }
    let duration = args.duration.unwrap_or(needs.duration_default);
    if !(duration > 0.0 && duration <= DURATION_SECS_MAX) {
        return Err(invalid("--duration", "must be above 0 and at most 86400 seconds"));
    }
    if !(args.timeout > 0.0 && args.timeout <= IO_TIMEOUT_SECS_MAX) {
        return Err(invalid("--timeout", "must be above 0 and at most 3600 seconds"));
    }
    if needs.imap {
        if crate::imap::login_arguments(&args.user, &args.password).is_none() {
            return Err(invalid(
                "--user/--password",
                "must be printable ASCII without CR/LF (IMAP quoted strings)",
            ));
        }
        if crate::imap::quote(&args.mailbox).is_none() {
            return Err(invalid("--mailbox", "must be printable ASCII (no modified UTF-7 encoding here)"));
        }
    }
    for (option, address) in [("--rcpt", &args.rcpt), ("--from", &args.from)] {
        if address.is_empty() || address.bytes().any(|b| b <= b' ' || b == b'<' || b == b'>' || b >= 0x7f) {
            return Err(invalid(option, "must be a plain address without spaces or angle brackets"));
        }
    }
    let sources = match &args.sources {
        Some(text) => target::parse_sources(text, args.allow_remote)?,
        None => Vec::new(),
    };
    Ok(Settings {
        smtp,
        imap,
        user: args.user.clone(),
        password: args.password.clone(),
        rcpt: args.rcpt.clone(),
        from: args.from.clone(),
        mailbox: args.mailbox.clone(),
        connections,
        duration: Duration::from_secs_f64(duration),
        json: args.json,
        server_pids: args.server_pid.clone(),
        sources,
        io_timeout: Duration::from_secs_f64(args.timeout),
        seed: args.seed,
    })
}

/// Checks a count option against 1..=[`COUNT_MAX`] (0 allowed when `zero_ok`).
pub(crate) fn check_count(option: &'static str, value: u64, zero_ok: bool) -> Result<u64, UsageError> {
    if (value == 0 && !zero_ok) || value > COUNT_MAX {
        return Err(UsageError::Invalid { option, reason: format!("must be 1..={COUNT_MAX}") });
    }
    Ok(value)
}

/// Checks a message size.
pub(crate) fn check_size(value: Option<usize>) -> Result<usize, UsageError> {
    let size = value.unwrap_or(SIZE_DEFAULT);
    if size == 0 || size > crate::message::MESSAGE_BYTES_MAX {
        return Err(UsageError::Invalid { option: "--size", reason: "must be 1 byte to 64 MiB".to_string() });
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("moxide-load").chain(args.iter().copied()))
    }

    fn common(cli: &Cli) -> &CommonArgs {
        match &cli.scenario {
            ScenarioArgs::Smtp(a) => &a.common,
            ScenarioArgs::Imap(a) => &a.common,
            ScenarioArgs::Idle(a) => &a.common,
            ScenarioArgs::Bigbox(a) => &a.common,
            ScenarioArgs::Stress(a) => &a.common,
        }
    }

    const NEEDS: Needs = Needs {
        smtp: true,
        imap: true,
        connections_default: 10,
        connections_max: 100,
        duration_default: 60.0,
    };

    #[test]
    fn defaults_match_the_contract() {
        let cli = parse(&["smtp"]).unwrap();
        let settings = validate_common(common(&cli), NEEDS).unwrap();
        assert_eq!(settings.smtp, Some("127.0.0.1:1025".parse().unwrap()));
        assert_eq!(settings.imap, Some("127.0.0.1:1143".parse().unwrap()));
        assert_eq!((settings.user.as_str(), settings.password.as_str()), ("mox@localhost", "moxmoxmox"));
        assert_eq!((settings.rcpt.as_str(), settings.from.as_str()), ("mox@localhost", "load@example.org"));
        assert_eq!(settings.mailbox, "INBOX");
        assert_eq!(settings.connections, 10);
        assert_eq!(settings.duration, Duration::from_secs(60));
        assert!(!settings.json && settings.server_pids.is_empty() && settings.sources.is_empty());
        let ScenarioArgs::Smtp(smtp) = cli.scenario else { panic!() };
        assert_eq!(smtp.messages, 1000);
        assert!(!smtp.pipelining && !smtp.chunking && !smtp.verify_imap);
    }

    #[test]
    fn every_contract_option_parses() {
        let cli = parse(&[
            "smtp",
            "--smtp",
            "127.0.0.1:25",
            "--imap",
            "localhost:143",
            "--user",
            "u",
            "--password",
            "p",
            "--rcpt",
            "r@x",
            "--from",
            "f@y",
            "--connections",
            "4",
            "--duration",
            "0.5",
            "--json",
            "--server-pid",
            "1,2",
            "--server-pid",
            "3",
            "--mailbox",
            "Archive",
            "--messages",
            "10",
            "--size",
            "2000",
            "--pipelining",
            "--chunking",
            "--verify-imap",
            "--allow-remote",
        ])
        .unwrap();
        let settings = validate_common(common(&cli), NEEDS).unwrap();
        assert_eq!(settings.server_pids, vec![1, 2, 3]);
        assert_eq!(settings.duration, Duration::from_millis(500));
        assert!(settings.json);
        parse(&["imap", "--ops", "5", "--mix", "select=1", "--login-churn"]).unwrap();
        parse(&["idle", "--connections", "50000", "--sources", "127.0.0.2-127.0.0.200", "--probes", "2"])
            .unwrap();
        parse(&["bigbox", "--messages", "100", "--rounds", "1"]).unwrap();
        parse(&["stress", "--accounts", "3", "--keywords", "5", "--session-ops", "2", "--no-rev2"]).unwrap();
        parse(&["stress", "--corpus", "/tmp"]).unwrap();
        assert!(parse(&["smtp", "--size", "5", "--size-corpus", "/tmp"]).is_err());
        assert!(parse(&["nonsense"]).is_err());
    }

    #[test]
    fn non_loopback_targets_are_refused() {
        let cli = parse(&["smtp", "--smtp", "192.0.2.1:25"]).unwrap();
        let error = validate_common(common(&cli), NEEDS).unwrap_err();
        assert!(matches!(error, UsageError::Target(TargetError::NotLoopback { .. })), "{error}");
        let cli = parse(&["smtp", "--smtp", "192.0.2.1:25", "--allow-remote"]).unwrap();
        validate_common(common(&cli), NEEDS).unwrap();
        // A target the scenario does not use is not checked.
        let cli = parse(&["smtp", "--imap", "192.0.2.1:143"]).unwrap();
        validate_common(common(&cli), Needs { imap: false, ..NEEDS }).unwrap();
        let cli = parse(&["idle", "--sources", "10.1.1.1"]).unwrap();
        assert!(validate_common(common(&cli), NEEDS).is_err());
    }

    #[test]
    fn out_of_range_values_are_refused() {
        for args in [
            &["smtp", "--connections", "0"][..],
            &["smtp", "--connections", "101"],
            &["smtp", "--duration", "0"],
            &["smtp", "--duration=-1"],
            &["smtp", "--duration", "100000"],
            &["smtp", "--timeout", "0"],
            &["smtp", "--password", "a\"b\r"],
            &["smtp", "--mailbox", "Entwürfe"],
            &["smtp", "--rcpt", "a b@c"],
            &["smtp", "--from", "<x@y>"],
        ] {
            let cli = parse(args).unwrap();
            assert!(validate_common(common(&cli), NEEDS).is_err(), "{args:?}");
        }
        assert!(check_count("--messages", 0, false).is_err());
        assert!(check_count("--probes", 0, true).is_ok());
        assert!(check_count("--messages", COUNT_MAX + 1, false).is_err());
        assert!(check_size(Some(0)).is_err());
        assert_eq!(check_size(None).unwrap(), SIZE_DEFAULT);
    }

    #[test]
    fn stress_accounts_need_a_numbered_user() {
        let stress = |args: &[&str]| match parse(args).unwrap().scenario {
            ScenarioArgs::Stress(stress) => stress,
            _ => panic!(),
        };
        let defaults = stress(&["stress"]);
        assert_eq!((defaults.accounts, defaults.keywords, defaults.session_ops), (100, 40, 8));
        let error = check_stress(&defaults).unwrap_err();
        assert!(error.to_string().contains("{n}"), "{error}");
        check_stress(&stress(&["stress", "--user", "load{n}@localhost"])).unwrap();
        check_stress(&stress(&["stress", "--accounts", "1"])).unwrap();
        for bad in [&["stress", "--accounts", "0"][..], &["stress", "--accounts", "1", "--keywords", "201"]] {
            assert!(check_stress(&stress(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn mix_parsing_and_picking() {
        let mix = Mix::parse(MIX_DEFAULT).unwrap();
        assert_eq!(mix.weights.len(), 9);
        assert_eq!(mix.total(), 15);
        assert_eq!(mix.pick(0), Op::Select);
        assert_eq!(mix.pick(1), Op::FetchFlags);
        assert_eq!(mix.pick(4), Op::FetchFlags);
        assert_eq!(mix.pick(5), Op::FetchEnvelope);
        assert_eq!(mix.pick(14), Op::Idle);
        let mix = Mix::parse("store=3, idle=0").unwrap();
        assert_eq!(mix.weights, vec![(Op::Store, 3)]);
        for bad in ["", "select", "select=x", "nope=1", "select=0", "select=1,select=2", "select=5000"] {
            assert!(Mix::parse(bad).is_err(), "{bad:?}");
        }
    }
}
