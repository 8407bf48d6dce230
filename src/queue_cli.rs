//! `moxide queue ...`: the outbound queue for an operator. While a server holds the data
//! directory the commands go through its admin API on the control socket (the server
//! makes the change, and its queue runner sees it within its 250 ms poll); with no
//! server they take the data directory's lock and work on the queue store themselves,
//! through the same functions the API runs (`moxide_web::queue`). `suppress` (the
//! accounts' suppression lists) and `holdrules` (the hold rules) work on the queue store
//! itself, shared with a running server through LMDB's lock file.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use moxide_protocols::smtp::rfc5322_date;
use moxide_storage::queue::{HoldRule, QueueStore, Suppression};
use moxide_storage::{DataDir, StoreOptions};
use moxide_web::queue::{BounceContext, QueueAction, QueueQuery};
use moxide_web::types::{QueueListing, QueueMessage, QueueSelection};

use crate::Error;
use crate::config::Config;
use crate::control::{self, Target};

/// Which destinations a command applies to.
#[derive(clap::Args)]
pub(crate) struct Selection {
    /// Only this queued message (its id, as `list` prints it).
    #[arg(long)]
    id: Option<u64>,
    /// Only destinations of this recipient domain.
    #[arg(long)]
    domain: Option<String>,
}

/// What `list` shows.
#[derive(clap::Args)]
pub(crate) struct ListFilter {
    /// Only messages with a destination of this recipient domain.
    #[arg(long)]
    domain: Option<String>,
    /// Only messages from this MAIL FROM address.
    #[arg(long)]
    from: Option<String>,
    /// Only messages with a held destination.
    #[arg(long)]
    held: bool,
}

/// The queue commands.
#[derive(Subcommand)]
pub(crate) enum QueueCommand {
    /// Lists queued messages and their destinations.
    List(ListFilter),
    /// Shows one message's envelope and each recipient's last result.
    Show {
        /// The message id.
        id: u64,
    },
    /// Holds destinations: no attempt until released.
    Hold(Selection),
    /// Releases held destinations.
    Release(Selection),
    /// Makes destinations due now (and releases them).
    Retry(Selection),
    /// Removes destinations without sending a DSN.
    Drop(Selection),
    /// Fails destinations now: removed, with a failure DSN to the sender.
    Bounce(Selection),
    /// The accounts' suppression lists (addresses that bounced hard).
    #[command(subcommand)]
    Suppress(SuppressCommand),
    /// Hold rules: matching messages are queued held.
    #[command(subcommand)]
    Holdrules(HoldRulesCommand),
}

/// `moxide queue suppress ...`.
#[derive(Subcommand)]
pub(crate) enum SuppressCommand {
    /// Lists suppressed addresses (of one account, or all).
    List {
        /// Only this account's list.
        #[arg(long)]
        account: Option<String>,
    },
    /// Suppresses an address for an account: its submissions to it are refused.
    Add {
        /// The account.
        account: String,
        /// The recipient address.
        address: String,
        /// Why (kept with the entry).
        #[arg(long, default_value = "added by the postmaster")]
        reason: String,
    },
    /// Removes an address from an account's list.
    Remove {
        /// The account.
        account: String,
        /// The recipient address.
        address: String,
    },
}

/// `moxide queue holdrules ...`.
#[derive(Subcommand)]
pub(crate) enum HoldRulesCommand {
    /// Lists the hold rules.
    List,
    /// Adds a rule; messages queued from now on that match every field given are held.
    Add {
        /// Only messages submitted by this account.
        #[arg(long)]
        account: Option<String>,
        /// Only messages from this sender domain.
        #[arg(long)]
        sender_domain: Option<String>,
        /// Only destinations in this recipient domain.
        #[arg(long)]
        recipient_domain: Option<String>,
    },
    /// Removes a rule by its id (as `list` prints it).
    Remove {
        /// The rule's id.
        id: u64,
    },
}

/// Where the commands run: the server's API, or the store under the lock.
enum Queue {
    Server(std::path::PathBuf),
    Offline {
        store: Box<QueueStore>,
        hostname: String,
        spool_dir: std::path::PathBuf,
        _lock: moxide_storage::DataDirLock,
    },
}

pub(crate) fn run(config: &Path, command: QueueCommand) -> Result<ExitCode, Error> {
    let config = Config::load(config)?;
    let queue = match control::target(&config.static_config.data_dir)? {
        Target::Server(socket) => Queue::Server(socket),
        Target::Offline(lock) => {
            let data = DataDir::open(&config.static_config.data_dir)?;
            let store = Box::new(QueueStore::open_shared(&data, &StoreOptions::default())?);
            let hostname = config.static_config.hostname.clone();
            Queue::Offline { store, hostname, spool_dir: data.spool_dir(), _lock: lock }
        }
    };
    match command {
        QueueCommand::List(filter) => {
            let mut query = QueueQuery {
                domain: filter.domain,
                from: filter.from,
                held: filter.held.then_some(true),
                ..QueueQuery::default()
            };
            loop {
                let page = queue.list(&query)?;
                for message in &page.messages {
                    print_message(message, false);
                }
                match page.next_after {
                    Some(after) => query.after = Some(after),
                    None => break,
                }
            }
        }
        QueueCommand::Show { id } => print_message(&queue.show(id)?, true),
        QueueCommand::Hold(s) => println!("held {}", queue.act(QueueAction::Hold, s)?),
        QueueCommand::Release(s) => println!("released {}", queue.act(QueueAction::Release, s)?),
        QueueCommand::Retry(s) => println!("due now {}", queue.act(QueueAction::Retry, s)?),
        QueueCommand::Drop(s) => println!("dropped {}", queue.act(QueueAction::Drop, s)?),
        QueueCommand::Bounce(s) => println!("bounced {}", queue.act(QueueAction::Bounce, s)?),
        QueueCommand::Suppress(command) => queue.with_store(&config, |store| suppress(store, command))?,
        QueueCommand::Holdrules(command) => queue.with_store(&config, |store| hold_rules(store, command))?,
    }
    Ok(ExitCode::SUCCESS)
}

impl Queue {
    /// Runs `work` on the queue store: the one opened under the lock, or, beside a
    /// running server, the store opened shared (LMDB's lock file orders the writers; the
    /// server reads suppressions and hold rules at each submission and enqueue, so
    /// there is nothing to tell it). The admin API has no endpoints for these yet.
    fn with_store(
        &self,
        config: &Config,
        work: impl FnOnce(&QueueStore) -> Result<(), Error>,
    ) -> Result<(), Error> {
        match self {
            Queue::Offline { store, .. } => work(store),
            Queue::Server(_) => {
                let data = DataDir::open(&config.static_config.data_dir)?;
                work(&QueueStore::open_shared(&data, &StoreOptions::default())?)
            }
        }
    }

    fn list(&self, query: &QueueQuery) -> Result<QueueListing, Error> {
        match self {
            Queue::Server(socket) => {
                let mut pairs = Vec::new();
                if let Some(after) = query.after {
                    pairs.push(format!("after={after}"));
                }
                if let Some(domain) = &query.domain {
                    pairs.push(format!("domain={}", crate::admin::segment(domain)));
                }
                if let Some(from) = &query.from {
                    pairs.push(format!("from={}", crate::admin::segment(from)));
                }
                if let Some(held) = query.held {
                    pairs.push(format!("held={held}"));
                }
                pairs.push(format!("limit={}", moxide_storage::queue::QUEUE_PAGE_MAX));
                let path = format!("/api/v0/admin/queue?{}", pairs.join("&"));
                Ok(serde_json::from_value(control::call(socket, "GET", &path, None)?)?)
            }
            Queue::Offline { store, .. } => {
                let query =
                    QueueQuery { limit: Some(moxide_storage::queue::QUEUE_PAGE_MAX), ..query.clone() };
                Ok(moxide_web::queue::list(store, &query)?)
            }
        }
    }

    fn show(&self, id: u64) -> Result<QueueMessage, Error> {
        match self {
            Queue::Server(socket) => Ok(serde_json::from_value(control::call(
                socket,
                "GET",
                &format!("/api/v0/admin/queue/{id}"),
                None,
            )?)?),
            Queue::Offline { store, .. } => {
                moxide_web::queue::show(store, id)?.ok_or_else(|| format!("no queued message {id}").into())
            }
        }
    }

    fn act(&self, action: QueueAction, selection: Selection) -> Result<usize, Error> {
        let selection = QueueSelection { id: selection.id, domain: selection.domain };
        match self {
            Queue::Server(socket) => {
                let path = format!("/api/v0/admin/queue/{}", action.name());
                let answer = control::call(socket, "POST", &path, Some(&serde_json::to_value(&selection)?))?;
                Ok(answer["destinations"].as_u64().and_then(|n| usize::try_from(n).ok()).unwrap_or(0))
            }
            Queue::Offline { store, hostname, spool_dir, .. } => {
                let context = BounceContext { hostname, spool_dir };
                let now_ms = moxide_actors::clock::now_unix_ms();
                Ok(moxide_web::queue::act(store, action, &selection, &context, now_ms)?)
            }
        }
    }
}

fn print_message(message: &QueueMessage, details: bool) {
    let from = if message.mail_from.is_empty() { "<>" } else { message.mail_from.as_str() };
    println!(
        "{} from {from} size {} queued {}",
        message.id,
        message.size_bytes,
        rfc5322_date(message.queued_ms.div_euclid(1000))
    );
    for destination in &message.destinations {
        let state = if destination.held {
            "held".to_owned()
        } else {
            format!("next {}", rfc5322_date(destination.next_attempt_ms.div_euclid(1000)))
        };
        println!(
            "  {} recipients {} attempts {} {state}",
            destination.domain,
            destination.recipients.len(),
            destination.attempts
        );
        if details {
            for recipient in &destination.recipients {
                match &recipient.last_result {
                    Some(r) => {
                        println!("    {} last: {} {} ({})", recipient.address, r.code, r.text, r.remote_host)
                    }
                    None => println!("    {}", recipient.address),
                }
            }
        }
    }
}

fn suppress(store: &QueueStore, command: SuppressCommand) -> Result<(), Error> {
    let now_ms = moxide_actors::clock::now_unix_ms();
    match command {
        SuppressCommand::List { account } => {
            for entry in store.suppressions(account.as_deref())? {
                println!(
                    "{} {} added {} reason {}",
                    entry.account,
                    entry.address,
                    rfc5322_date(entry.added_ms.div_euclid(1000)),
                    entry.reason
                );
            }
        }
        SuppressCommand::Add { account, address, reason } => {
            store.suppress(&[Suppression {
                account,
                address: address.to_lowercase(),
                added_ms: now_ms,
                reason,
            }])?;
            println!("suppressed");
        }
        SuppressCommand::Remove { account, address } => {
            if !store.unsuppress(&account, &address)? {
                return Err(format!("{address} is not on {account}'s suppression list").into());
            }
            println!("removed");
        }
    }
    Ok(())
}

fn hold_rules(store: &QueueStore, command: HoldRulesCommand) -> Result<(), Error> {
    match command {
        HoldRulesCommand::List => {
            for rule in store.hold_rules()? {
                let any = || "any".to_owned();
                println!(
                    "{} account {} sender-domain {} recipient-domain {}",
                    rule.id,
                    rule.account.clone().unwrap_or_else(any),
                    rule.sender_domain.clone().unwrap_or_else(any),
                    rule.recipient_domain.clone().unwrap_or_else(any)
                );
            }
        }
        HoldRulesCommand::Add { account, sender_domain, recipient_domain } => {
            let id = store.add_hold_rule(&HoldRule { id: 0, account, sender_domain, recipient_domain })?;
            println!("added {id}");
        }
        HoldRulesCommand::Remove { id } => {
            if !store.remove_hold_rule(id)? {
                return Err(format!("no hold rule {id}").into());
            }
            println!("removed");
        }
    }
    Ok(())
}
