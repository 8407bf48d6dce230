//! `moxide queue ...`: the outbound queue for an operator (`bounce` fails destinations
//! with a DSN, composed here as the queue would). Runs beside a running server
//! (the queue's LMDB environment is shared through its lock file; the server's runner
//! looks for due work every 250 ms, so `retry` and `release` take effect at once).
//! `suppress` manages the accounts' suppression lists and `holdrules` the hold rules
//! (both in the queue's environment; the server reads them at each submission and
//! enqueue).

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use moxide_actors::queue::dsn::make_blocking;
use moxide_protocols::smtp::rfc5322_date;
use moxide_storage::queue::{
    Destination, HoldRule, QueueFilter, QueueId, QueueStore, QueueUpdate, QueuedMessage, QueuedRecipient,
    StoredReply, Suppression,
};
use moxide_storage::{DataDir, StoreOptions};

use crate::config::Config;

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

impl Selection {
    fn filter(&self) -> QueueFilter {
        QueueFilter { message: self.id.map(QueueId), domain: self.domain.clone() }
    }
}

/// The queue commands.
#[derive(Subcommand)]
pub(crate) enum QueueCommand {
    /// Lists queued messages and their destinations.
    List,
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

pub(crate) fn run(config: &Path, command: QueueCommand) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let config = Config::load(config)?;
    let data = DataDir::open(&config.static_config.data_dir)?;
    let store = QueueStore::open_shared(&data, &StoreOptions::default())?;
    let now_ms = moxide_actors::clock::now_unix_ms();
    match command {
        QueueCommand::List => {
            for (message, destinations) in store.list()? {
                print_message(&message, &destinations, false);
            }
        }
        QueueCommand::Show { id } => match store.message(QueueId(id))? {
            Some(message) => print_message(&message, &store.destinations(QueueId(id))?, true),
            None => return Err(format!("no queued message {id}").into()),
        },
        QueueCommand::Hold(selection) => println!("held {}", store.set_held(&selection.filter(), true)?),
        QueueCommand::Release(selection) => {
            println!("released {}", store.set_held(&selection.filter(), false)?)
        }
        QueueCommand::Retry(selection) => {
            println!("due now {}", store.retry_now(&selection.filter(), now_ms)?)
        }
        QueueCommand::Drop(selection) => println!("dropped {}", store.remove(&selection.filter())?),
        QueueCommand::Bounce(selection) => {
            println!("bounced {}", bounce(&config, &data, &store, &selection.filter(), now_ms)?);
        }
        QueueCommand::Suppress(command) => suppress(&store, command, now_ms)?,
        QueueCommand::Holdrules(command) => hold_rules(&store, command)?,
    }
    Ok(ExitCode::SUCCESS)
}

fn suppress(
    store: &QueueStore,
    command: SuppressCommand,
    now_ms: i64,
) -> Result<(), Box<dyn std::error::Error>> {
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

fn hold_rules(store: &QueueStore, command: HoldRulesCommand) -> Result<(), Box<dyn std::error::Error>> {
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

/// Removes each matching destination and queues a failure DSN for its recipients, in
/// one transaction per destination.
fn bounce(
    config: &Config,
    data: &DataDir,
    store: &QueueStore,
    filter: &QueueFilter,
    now_ms: i64,
) -> Result<usize, Box<dyn std::error::Error>> {
    let cancelled = StoredReply {
        code: 550,
        enhanced: Some((5, 3, 0)),
        text: "delivery cancelled by the postmaster".into(),
        remote_host: String::new(),
    };
    let mut bounced = 0;
    for (message, destinations) in store.list()? {
        for destination in destinations.into_iter().filter(|d| filter.matches(d)) {
            let recipients: Vec<QueuedRecipient> = destination
                .recipients
                .iter()
                .map(|r| QueuedRecipient { last_result: Some(cancelled.clone()), ..r.clone() })
                .collect();
            let dsn = make_blocking(
                &config.static_config.hostname,
                &data.spool_dir(),
                &message,
                &store.message_path(message.id),
                &recipients,
                false,
                now_ms,
            );
            let result = store.apply(&[QueueUpdate::Remove(destination.key)], dsn.as_slice());
            if let Some(dsn) = &dsn {
                let _ = std::fs::remove_file(&dsn.spool);
            }
            result?;
            bounced += 1;
        }
    }
    Ok(bounced)
}

fn print_message(message: &QueuedMessage, destinations: &[Destination], details: bool) {
    let from = if message.mail_from.is_empty() { "<>" } else { message.mail_from.as_str() };
    println!(
        "{} from {from} size {} queued {}",
        message.id,
        message.size_bytes,
        rfc5322_date(message.queued_ms.div_euclid(1000))
    );
    for destination in destinations {
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
