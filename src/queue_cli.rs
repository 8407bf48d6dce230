//! `moxide queue ...`: the outbound queue for an operator. While a server holds the data
//! directory the commands go through its admin API on the control socket (the server
//! makes the change, and its queue runner sees it within its 250 ms poll); with no
//! server they take the data directory's lock and work on the queue store themselves,
//! through the same functions the API runs (`moxide_web::queue`, and `moxide_web::policy`
//! for `suppress`, the accounts' suppression lists, and `holdrules`, the hold rules). No
//! verb writes the queue store beside a running server.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use moxide_protocols::smtp::rfc5322_date;
use moxide_storage::queue::{POLICY_PAGE_MAX, QueueStore, Suppression};
use moxide_storage::{DataDir, StoreOptions};
use moxide_web::policy::PolicyQuery;
use moxide_web::queue::{BounceContext, QueueAction, QueueQuery};
use moxide_web::types::{
    HoldRuleAdd, HoldRuleListing, QueueListing, QueueMessage, QueueSelection, SuppressionAdd,
    SuppressionListing,
};

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
        /// The accounts, as the domains file names them.
        directory: Box<moxide_actors::Directory>,
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
            let directory = Box::new(config.directory.clone());
            Queue::Offline { store, hostname, spool_dir: data.spool_dir(), directory, _lock: lock }
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
        QueueCommand::Suppress(command) => suppress(&queue, command)?,
        QueueCommand::Holdrules(command) => hold_rules(&queue, command)?,
    }
    Ok(ExitCode::SUCCESS)
}

impl Queue {
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

fn suppress(queue: &Queue, command: SuppressCommand) -> Result<(), Error> {
    match command {
        SuppressCommand::List { account } => {
            let mut query = PolicyQuery { account, limit: Some(POLICY_PAGE_MAX), ..PolicyQuery::default() };
            loop {
                let page: SuppressionListing = match queue {
                    Queue::Server(socket) => {
                        let mut pairs = vec![format!("limit={POLICY_PAGE_MAX}")];
                        if let Some(account) = &query.account {
                            pairs.push(format!("account={}", crate::admin::segment(account)));
                        }
                        if let Some(after) = &query.after {
                            pairs.push(format!("after={}", crate::admin::segment(after)));
                        }
                        let path = format!("/api/v0/admin/suppressions?{}", pairs.join("&"));
                        serde_json::from_value(control::call(socket, "GET", &path, None)?)?
                    }
                    Queue::Offline { store, .. } => {
                        moxide_web::policy::list_suppressions(store, query.account.as_deref(), &query)?
                    }
                };
                for entry in &page.suppressions {
                    println!(
                        "{} {} added {} reason {}",
                        entry.account,
                        entry.address,
                        rfc5322_date(entry.added_ms.div_euclid(1000)),
                        entry.reason
                    );
                }
                match page.next_after {
                    Some(after) => query.after = Some(after),
                    None => break,
                }
            }
        }
        SuppressCommand::Add { account, address, reason } => {
            match queue {
                Queue::Server(socket) => {
                    let body = SuppressionAdd { account: Some(account), address, reason: Some(reason) };
                    control::call(
                        socket,
                        "POST",
                        "/api/v0/admin/suppressions",
                        Some(&serde_json::to_value(&body)?),
                    )?;
                }
                Queue::Offline { store, directory, .. } => {
                    if !directory.has_account(&account) {
                        return Err(format!("no account {account:?}").into());
                    }
                    let address = moxide_web::policy::check_address(&address)?;
                    let now_ms = moxide_actors::clock::now_unix_ms();
                    store.suppress(&[Suppression { account, address, added_ms: now_ms, reason }])?;
                }
            }
            println!("suppressed");
        }
        SuppressCommand::Remove { account, address } => {
            let removed = match queue {
                Queue::Server(socket) => {
                    let path = format!(
                        "/api/v0/admin/suppressions/{}/{}",
                        crate::admin::segment(&account),
                        crate::admin::segment(&address)
                    );
                    // The server's refusal says why (not on the list).
                    control::call(socket, "DELETE", &path, None).map(|_| true)?
                }
                Queue::Offline { store, .. } => store.unsuppress(&account, &address)?,
            };
            if !removed {
                return Err(format!("{address} is not on {account}'s suppression list").into());
            }
            println!("removed");
        }
    }
    Ok(())
}

fn hold_rules(queue: &Queue, command: HoldRulesCommand) -> Result<(), Error> {
    match command {
        HoldRulesCommand::List => {
            let mut query = PolicyQuery { limit: Some(POLICY_PAGE_MAX), ..PolicyQuery::default() };
            loop {
                let page: HoldRuleListing = match queue {
                    Queue::Server(socket) => {
                        let mut path = format!("/api/v0/admin/holdrules?limit={POLICY_PAGE_MAX}");
                        if let Some(after) = &query.after {
                            path.push_str(&format!("&after={after}"));
                        }
                        serde_json::from_value(control::call(socket, "GET", &path, None)?)?
                    }
                    Queue::Offline { store, .. } => moxide_web::policy::list_hold_rules(store, &query)?,
                };
                for rule in &page.rules {
                    let any = || "any".to_owned();
                    println!(
                        "{} account {} sender-domain {} recipient-domain {}",
                        rule.id,
                        rule.account.clone().unwrap_or_else(any),
                        rule.sender_domain.clone().unwrap_or_else(any),
                        rule.recipient_domain.clone().unwrap_or_else(any)
                    );
                }
                match page.next_after {
                    Some(after) => query.after = Some(after.to_string()),
                    None => break,
                }
            }
        }
        HoldRulesCommand::Add { account, sender_domain, recipient_domain } => {
            let add = HoldRuleAdd { account, sender_domain, recipient_domain };
            let id = match queue {
                Queue::Server(socket) => {
                    let body = serde_json::to_value(&add)?;
                    let rule = control::call(socket, "POST", "/api/v0/admin/holdrules", Some(&body))?;
                    rule["id"].as_u64().ok_or("no rule id in the server's answer")?
                }
                Queue::Offline { store, .. } => {
                    store.add_hold_rule(&moxide_web::policy::hold_rule_of(add)?)?
                }
            };
            println!("added {id}");
        }
        HoldRulesCommand::Remove { id } => {
            let removed = match queue {
                Queue::Server(socket) => {
                    control::call(socket, "DELETE", &format!("/api/v0/admin/holdrules/{id}"), None)
                        .map(|_| true)?
                }
                Queue::Offline { store, .. } => store.remove_hold_rule(id)?,
            };
            if !removed {
                return Err(format!("no hold rule {id}").into());
            }
            println!("removed");
        }
    }
    Ok(())
}
