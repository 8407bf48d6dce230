//! Delivering a spooled message to its recipients' accounts.
//!
//! The spool file is already durable (fdatasync'd). Each distinct recipient account gets a
//! `Deliver` request, all in parallel, each with its own `Received:` header (RFC 5321
//! §4.4) naming that account's recipient when there is exactly one. `250` is answered only
//! when every account replied that the message is durable. If any account failed, the
//! copies already stored elsewhere are expunged again and the client gets `451` (`452
//! 4.3.1` when the disk is full): it will retry the whole message, and no account ends up
//! with a copy the client was told failed (no partial delivery, no duplicate on retry).
//! Recipients in other domains (submission) are queued after the local deliveries
//! succeeded, in one queue transaction whose commit is durable before `250`; if queueing
//! fails, the local copies are taken back the same way.
//! An account over its quota fails the message the same way, with `452 4.2.2` (RFC 3463
//! mailbox full): temporary, so nothing is lost while its owner makes room.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use moxide_protocols::smtp::{
    BodyType, EnhancedCode, ForwardPath, MailFrom, ReceivedTrace, Reply, ReversePath, Verdict,
    received_header,
};
use moxide_storage::queue::{NewQueued, QueueId, QueuedBody, QueuedMessage, QueuedRecipient};
use moxide_storage::{Flags, MailboxTarget, NewMessage, SpecialUse};

use super::SmtpSettings;
use super::session::local_failure;
use crate::account::AccountError;
use crate::kernel::join_all;
use crate::node::Node;

/// One accepted recipient and the account it maps to.
#[derive(Debug, Clone)]
pub struct Recipient {
    /// The path as the client gave it.
    pub path: ForwardPath,
    /// The account that receives it.
    pub account: Arc<str>,
}

/// The transaction's envelope.
pub struct Envelope {
    /// The client's address.
    pub peer: SocketAddr,
    /// The name the client gave in HELO/EHLO.
    pub helo: Option<String>,
    /// EHLO (not HELO) was used (RFC 3848 "with" keyword ESMTP vs SMTP).
    pub esmtp: bool,
    /// TLS details, when the message came over TLS.
    pub tls: Option<moxide_runtime::tls::TlsInfo>,
    /// The client authenticated (submission).
    pub authenticated: bool,
    /// MAIL FROM.
    pub mail_from: Option<MailFrom>,
    /// Accepted recipients, in RCPT order.
    pub recipients: Vec<Recipient>,
    /// Accepted recipients in other domains (submission), for the outbound queue.
    pub remote: Vec<String>,
}

/// What the inbound checks add to a delivery (see `inbound`).
#[derive(Debug, Clone, Default)]
pub struct Annotations {
    /// Header fields stored before Received (Authentication-Results, Received-SPF).
    pub prefix: String,
    /// Deliver to each account's `\Junk` mailbox (DMARC quarantine).
    pub junk: bool,
}

/// Stores the spooled message in every recipient account; the verdict for the client.
/// `summary` is the message's encoded MIME summary, computed while it streamed into the
/// spool (`None` if that failed: the store then computes it when first needed).
pub(crate) async fn deliver_spooled(
    node: &Node,
    settings: &SmtpSettings,
    envelope: &Envelope,
    spool: &Path,
    size: u64,
    summary: Option<Vec<u8>>,
    annotations: &Annotations,
) -> Verdict {
    let received_ms = crate::clock::now_unix_ms();
    let message_id = spool.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let accounts = distinct_accounts(&envelope.recipients);
    let tls_version = envelope.tls.as_ref().map(|t| t.version.to_string());
    // Made once for all accounts while the message streamed in; stored beside each copy
    // so IMAP never reparses it.
    let requests = accounts
        .iter()
        .map(|(account, only_recipient)| {
            let trace = ReceivedTrace {
                helo_name: envelope.helo.as_deref().unwrap_or("unknown"),
                peer_ip: envelope.peer.ip(),
                peer_host: None,
                by_host: &settings.protocol.hostname,
                esmtp: envelope.esmtp,
                smtputf8: envelope.mail_from.as_ref().is_some_and(|m| m.smtputf8),
                tls: envelope.tls.is_some(),
                authenticated: envelope.authenticated,
                tls_version: tls_version.as_deref(),
                tls_cipher: envelope.tls.as_ref().map(|t| t.cipher.as_str()),
                id: Some(&message_id),
                for_path: only_recipient.as_ref(),
                unix_secs: received_ms.div_euclid(1000),
            };
            // RFC 7208 §9.1 and RFC 8601 §5: our authentication fields above our Received.
            let prefix = format!("{}{}", annotations.prefix, received_header(&trace)).into_bytes();
            let mailbox = if annotations.junk {
                MailboxTarget::SpecialUse(SpecialUse::Junk)
            } else {
                MailboxTarget::Inbox
            };
            let message = NewMessage {
                spool_path: spool.to_path_buf(),
                size,
                prefix,
                mailbox,
                received_ms,
                flags: Flags::empty(),
                keywords: Vec::new(),
                summary: summary.clone(),
                saved_ms: None,
            };
            node.deliver(account, message)
        })
        .collect();
    let results = join_all(requests).await;
    let mut queued = Ok(());
    if results.iter().all(Result::is_ok) {
        queued = queue_remote(settings, envelope, spool, size, received_ms, &message_id).await;
        if queued.is_ok() {
            tracing::info!(id = %message_id, size, accounts = accounts.len(), remote = envelope.remote.len(), peer = %envelope.peer, "message delivered");
            return Verdict::AcceptWith(format!("message accepted as {message_id}"));
        }
    }
    let no_space = results.iter().any(|result| result.as_ref().is_err_and(AccountError::is_no_space))
        || queued.as_ref().is_err_and(|failed| failed.no_space);
    let over_quota = results.iter().any(|result| matches!(result, Err(AccountError::OverQuota { .. })));
    for ((account, _), result) in accounts.iter().zip(results) {
        match result {
            Ok(delivered) => {
                // Take back the copy: the client is told to retry the whole message.
                if let Err(error) = node.expunge(account, delivered.mailbox, vec![delivered.uid]).await {
                    tracing::error!(%account, %error, id = %message_id, "could not take back a partial delivery");
                }
            }
            Err(error @ AccountError::OverQuota { .. }) => {
                tracing::info!(%account, %error, id = %message_id, "delivery refused");
            }
            Err(error) => tracing::error!(%account, %error, id = %message_id, "delivery failed"),
        }
    }
    if over_quota && !no_space {
        return Verdict::Reject(match settings.over_quota_permanent {
            true => Reply::new(552, Some(EnhancedCode(5, 2, 2)), "mailbox full"),
            false => Reply::new(452, Some(EnhancedCode(4, 2, 2)), "mailbox full; try again later"),
        });
    }
    Verdict::Reject(local_failure(no_space))
}

/// Queueing for remote recipients failed (logged where it happened).
struct QueueingFailed {
    no_space: bool,
}

/// Queues the message for `envelope.remote` (nothing to do without remote recipients):
/// one transaction, durable when it returns.
async fn queue_remote(
    settings: &SmtpSettings,
    envelope: &Envelope,
    spool: &Path,
    size: u64,
    received_ms: i64,
    message_id: &str,
) -> Result<(), QueueingFailed> {
    let Some(queue) = settings.queue.as_ref().filter(|_| !envelope.remote.is_empty()) else {
        return Ok(());
    };
    let Some(mail_from) = &envelope.mail_from else { return Ok(()) };
    let tls_version = envelope.tls.as_ref().map(|t| t.version.to_string());
    let trace = ReceivedTrace {
        helo_name: envelope.helo.as_deref().unwrap_or("unknown"),
        peer_ip: envelope.peer.ip(),
        peer_host: None,
        by_host: &settings.protocol.hostname,
        esmtp: envelope.esmtp,
        smtputf8: mail_from.smtputf8,
        tls: envelope.tls.is_some(),
        authenticated: envelope.authenticated,
        tls_version: tls_version.as_deref(),
        tls_cipher: envelope.tls.as_ref().map(|t| t.cipher.as_str()),
        id: Some(message_id),
        for_path: None,
        unix_secs: received_ms.div_euclid(1000),
    };
    let mut prefix = Vec::new();
    if let (Some(keys), ReversePath::Mailbox(mailbox)) = (&settings.dkim, &mail_from.path) {
        let domain = mailbox.domain.to_string();
        let now_secs = received_ms.div_euclid(1000);
        prefix =
            crate::queue::sign::sign_spool(Arc::clone(keys), domain, spool.to_path_buf(), now_secs).await;
    }
    prefix.extend_from_slice(received_header(&trace).as_bytes());
    let new = NewQueued {
        spool: spool.to_path_buf(),
        message: QueuedMessage {
            id: QueueId(0),
            queued_ms: received_ms,
            sender_account: String::new(),
            mail_from: match &mail_from.path {
                ReversePath::Null => String::new(),
                ReversePath::Mailbox(mailbox) => mailbox.to_string(),
            },
            size_bytes: size,
            prefix,
            smtputf8: mail_from.smtputf8,
            body: match mail_from.body {
                BodyType::SevenBit => QueuedBody::SevenBit,
                BodyType::EightBitMime => QueuedBody::EightBit,
                BodyType::BinaryMime => QueuedBody::Binary,
            },
            requiretls: mail_from.requiretls,
            envid: None,
            return_headers_only: false,
        },
        recipients: envelope
            .remote
            .iter()
            .map(|address| QueuedRecipient {
                address: address.clone(),
                notify: None,
                original: None,
                last_result: None,
            })
            .collect(),
        first_attempt_ms: received_ms,
        held: false,
    };
    let queue = Arc::clone(queue);
    let result = moxide_runtime::offload(move || queue.enqueue(&[new])).await;
    match result {
        Ok(Ok(ids)) => {
            tracing::info!(id = %message_id, queued = ?ids, recipients = envelope.remote.len(), "message queued");
            Ok(())
        }
        Ok(Err(error)) => {
            tracing::error!(id = %message_id, %error, "queueing failed");
            Err(QueueingFailed { no_space: error.is_no_space() })
        }
        Err(panic) => {
            tracing::error!(id = %message_id, panic = %panic.0, "queueing panicked");
            Err(QueueingFailed { no_space: false })
        }
    }
}

/// Each account once, in first-recipient order, with its recipient when it has only one.
fn distinct_accounts(recipients: &[Recipient]) -> Vec<(Arc<str>, Option<ForwardPath>)> {
    let mut accounts: Vec<(Arc<str>, Option<ForwardPath>, usize)> = Vec::new();
    for recipient in recipients {
        match accounts.iter_mut().find(|(account, _, _)| *account == recipient.account) {
            Some(entry) => entry.2 += 1,
            None => accounts.push((Arc::clone(&recipient.account), Some(recipient.path.clone()), 1)),
        }
    }
    accounts
        .into_iter()
        .map(|(account, path, count)| (account, if count == 1 { path } else { None }))
        .collect()
}
