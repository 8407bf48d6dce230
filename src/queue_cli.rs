//! `moxide queue ...`: the outbound queue for an operator (`bounce` fails destinations
//! with a DSN, composed here as the queue would). Runs beside a running server
//! (the queue's LMDB environment is shared through its lock file; the server's runner
//! looks for due work every 250 ms, so `retry` and `release` take effect at once).

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use moxide_actors::queue::dsn::make_blocking;
use moxide_protocols::smtp::rfc5322_date;
use moxide_storage::queue::{
    Destination, QueueFilter, QueueId, QueueStore, QueueUpdate, QueuedMessage, QueuedRecipient, StoredReply,
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
    }
    Ok(ExitCode::SUCCESS)
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
