//! `moxide queue ...`: the outbound queue for an operator. While a server holds the data
//! directory the commands go through its admin API on the control socket (the server
//! makes the change, and its queue runner sees it within its 250 ms poll); with no
//! server they take the data directory's lock and work on the queue store themselves,
//! through the same functions the API runs (`moxide_web::queue`).

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use moxide_protocols::smtp::rfc5322_date;
use moxide_storage::queue::QueueStore;
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
