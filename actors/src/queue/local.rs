//! Destinations whose domain is ours: each recipient's account gets the queued file
//! through its account actor (a hard link, as every delivery), with the queued prefix.
//! DSNs to local senders, mail for a local domain, and local retries: a recipient
//! pinned to an account (`QueuedRecipient::account`, an account that failed
//! temporarily at reception) goes to that account alone, to `\Junk` when the message
//! was quarantined, and is not looked up again.
//!
//! An inline message (kept in the queue's database) is first written to a spool file,
//! which the accounts link as they link any delivery, then removed: rare, as mail for a
//! local domain is stored at reception, and local retries and DSNs of large originals
//! come with their file.

use std::path::{Path, PathBuf};

use moxide_storage::queue::{Destination, QueuedContent, QueuedMessage};
use moxide_storage::{Flags, MailboxTarget, NewMessage, SpecialUse};

use super::local_reply;
use super::schedule::RecipientOutcome;
use crate::directory::Lookup;
use crate::node::Node;

pub(super) async fn deliver(
    node: &Node,
    spool_dir: &Path,
    message: &QueuedMessage,
    destination: &Destination,
    content: &QueuedContent,
    now_ms: i64,
) -> Vec<RecipientOutcome> {
    let bytes = match content {
        QueuedContent::File(path) => {
            return deliver_file(node, message, destination, path.clone(), now_ms).await;
        }
        QueuedContent::Inline(bytes) => std::sync::Arc::clone(bytes),
    };
    let spool = spool_dir.join(crate::smtp::spool_name(node.core().index));
    let written = moxide_runtime::offload({
        let spool = spool.clone();
        move || super::dsn::write_spool(&spool, &bytes)
    })
    .await;
    if let Err(error) = written.map_err(|panic| std::io::Error::other(panic.to_string())).and_then(|r| r) {
        tracing::error!(path = %spool.display(), %error, "cannot write an inline message for local delivery");
        let reply = local_reply(451, (4, 3, 0), "local delivery: cannot write the message");
        return destination.recipients.iter().map(|_| RecipientOutcome::Retry(reply.clone())).collect();
    }
    let outcomes = deliver_file(node, message, destination, spool.clone(), now_ms).await;
    if let Err(error) = moxide_runtime::fs::remove_file(spool.clone()).await {
        tracing::warn!(path = %spool.display(), %error, "could not remove spool file");
    }
    outcomes
}

async fn deliver_file(
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
