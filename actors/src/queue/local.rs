//! Destinations whose domain is ours: each recipient's account gets the queued file
//! through its account actor (a hard link, as every delivery), with the queued prefix.
//! DSNs to local senders, mail for a local domain, and local retries: a recipient
//! pinned to an account (`QueuedRecipient::account`, an account that failed
//! temporarily at reception) goes to that account alone, to `\Junk` when the message
//! was quarantined, and is not looked up again.

use std::path::PathBuf;

use moxide_storage::queue::{Destination, QueuedMessage};
use moxide_storage::{Flags, MailboxTarget, NewMessage, SpecialUse};

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
        let lookup = match &recipient.account {
            Some(account) => Lookup::Account(std::sync::Arc::from(account.as_str())),
            None => directory.lookup(localpart, domain),
        };
        let accounts: Vec<std::sync::Arc<str>> = match lookup {
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
                mailbox: if message.to_junk {
                    MailboxTarget::SpecialUse(SpecialUse::Junk)
                } else {
                    MailboxTarget::Inbox
                },
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
