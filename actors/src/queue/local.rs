//! Destinations whose domain is ours: each recipient's account gets the queued file
//! through its account actor (a hard link, as every delivery), with the queued prefix.
//! Mostly DSNs to local senders; also any queued mail for a local domain.

use std::path::PathBuf;

use moxide_storage::queue::{Destination, QueuedMessage};
use moxide_storage::{Flags, MailboxTarget, NewMessage};

use super::local_reply;
use super::schedule::RecipientOutcome;
use crate::directory::Lookup;
use crate::node::Node;

pub(super) async fn deliver(
    node: &Node,
    message: &QueuedMessage,
    destination: &Destination,
    path: PathBuf,
    now_ms: i64,
) -> Vec<RecipientOutcome> {
    let directory = node.directory();
    let mut outcomes = Vec::with_capacity(destination.recipients.len());
    for recipient in &destination.recipients {
        let (localpart, domain) = recipient.address.rsplit_once('@').unwrap_or((&recipient.address, ""));
        let accounts: Vec<std::sync::Arc<str>> = match directory.lookup(localpart, domain) {
            Lookup::Account(account) => vec![account],
            Lookup::Alias(members) => members.to_vec(),
            Lookup::UnknownUser => {
                outcomes.push(RecipientOutcome::Failed(local_reply(550, (5, 1, 1), "no such user here")));
                continue;
            }
            Lookup::NotLocal => {
                outcomes.push(RecipientOutcome::Retry(local_reply(
                    451,
                    (4, 3, 0),
                    "domain is no longer local",
                )));
                continue;
            }
        };
        // An alias whose delivery fails for one member is retried for all: a member
        // that got it may get it again (at least once, never lost).
        let mut outcome = RecipientOutcome::Delivered;
        for account in accounts {
            let new = NewMessage {
                spool_path: path.clone(),
                size: message.size_bytes,
                prefix: message.prefix.clone(),
                mailbox: MailboxTarget::Inbox,
                received_ms: now_ms,
                flags: Flags::empty(),
                keywords: Vec::new(),
                summary: None,
                saved_ms: None,
            };
            if let Err(error) = node.deliver(&account, new).await {
                outcome =
                    RecipientOutcome::Retry(local_reply(451, (4, 3, 0), &format!("local delivery: {error}")));
            }
        }
        outcomes.push(outcome);
    }
    outcomes
}
