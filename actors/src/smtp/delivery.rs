//! Delivering a spooled message to its recipients' accounts.
//!
//! The spool file is written but not synced: each store that links it (an account, the
//! queue) makes its data durable before indexing it. Each distinct recipient account gets a
//! `Deliver` request, all in parallel, each with its own `Received:` header (RFC 5321
//! §4.4) naming that account's recipient when there is exactly one. `250` is answered only
//! when every recipient is durably taken care of: stored by its account, or in the
//! outbound queue.
//!
//! An account that fails temporarily (an I/O error, a full disk, its quota) while
//! others stored their copy does not fail the transaction: that account's delivery is
//! queued for a local retry (`queue::local`, pinned to that account, with the same
//! header prefix and mailbox), and the copies already stored stay. Recipients in other
//! domains (submission) are queued in the same queue transaction, whose commit is durable
//! before `250` (RFC 5321 §6.1: once accepted, the message is our responsibility).
//!
//! When nothing could be stored (every account failed and no recipient is remote), the
//! client gets `451` (`452 4.3.1` when the disk is full, `452 4.2.2` when an account is
//! over its quota) and retries the whole message: nothing was stored, so nothing is
//! duplicated. When the queue itself cannot take the message (no queue, as in
//! localserve, or its commit failed), the copies stored are expunged again and the
//! client gets the same `4xx`: no account keeps a copy the client was told failed.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use moxide_protocols::smtp::{
    BodyType, EnhancedCode, ForwardPath, MailFrom, ReceivedTrace, Reply, ReversePath, Verdict,
    received_header,
};
use moxide_storage::queue::{
    NewQueued, QueueId, QueuedBody, QueuedContent, QueuedMessage, QueuedRecipient, SendQuota,
};
use moxide_storage::{Flags, MailboxTarget, NewMessage, SpecialUse, StorageError};

use super::SmtpSettings;
use super::session::{local_failure, send_limit_reply};
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
    /// The account it authenticated as (submission): the queue's sender account.
    pub account: Option<Arc<str>>,
    /// FUTURERELEASE (RFC 4865): when queued mail may first be attempted, Unix ms.
    pub release_ms: Option<i64>,
    /// Submission: the domain of the message's `From:` author, the DKIM signing domain.
    pub author_domain: Option<String>,
    /// Submission: the message has `TLS-Required: No` (RFC 8689 §5).
    pub tls_required_no: bool,
    /// MAIL FROM.
    pub mail_from: Option<MailFrom>,
    /// Accepted recipients, in RCPT order.
    pub recipients: Vec<Recipient>,
    /// Accepted recipients in other domains (submission), for the outbound queue.
    pub remote: Vec<String>,
    /// Submission: the account's send limits, checked again when the message is queued.
    pub send_quota: Option<SendQuota>,
}

/// What the inbound checks add to a delivery (see `inbound`).
#[derive(Debug, Clone, Default)]
pub struct Annotations {
    /// Header fields stored before Received (Authentication-Results, Received-SPF).
    pub prefix: String,
    /// Deliver to each account's `\Junk` mailbox (DMARC quarantine).
    pub junk: bool,
}

/// How long a local retry waits before its first attempt: the queue's first retry
/// interval (7.5 min), as if the delivery at reception was the queue's first attempt.
pub const LOCAL_RETRY_DELAY_MS: i64 = crate::queue::schedule::RETRY_INTERVAL_FIRST_MS;

/// One account's copy: the request sent to its actor (kept to queue a retry).
struct AccountCopy {
    account: Arc<str>,
    /// The recipient as the client gave it (the first one naming this account).
    address: String,
    message: NewMessage,
}

/// A received message in its spool file (or, small and only for the queue, in memory).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spooled<'a> {
    /// The spool file's path; its name is the message's id in logs and traces.
    pub(crate) path: &'a Path,
    pub(crate) size: u64,
    /// The whole message, when it is still in memory (a small one): signing it then
    /// reads no file, and the queue stores it inline. Without a local recipient it may
    /// be the only copy: the session then wrote no file (`SpoolFile::finish_in_memory`).
    pub(crate) bytes: Option<&'a [u8]>,
}

/// Stores the spooled message in every recipient account; the verdict for the client.
/// `summary` is the message's encoded MIME summary, computed while it streamed into the
/// spool (`None` if that failed: the store then computes it when first needed).
pub(crate) async fn deliver_spooled(
    node: &Node,
    settings: &SmtpSettings,
    envelope: &Envelope,
    spooled: Spooled<'_>,
    summary: Option<Vec<u8>>,
    annotations: &Annotations,
) -> Verdict {
    let Spooled { path: spool, size, .. } = spooled;
    let received_ms = crate::clock::now_unix_ms();
    let message_id = spool.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let copies =
        account_copies(settings, envelope, spool, size, summary, annotations, received_ms, &message_id);
    if let (Some(release_ms), Some(_)) = (envelope.release_ms, &settings.queue) {
        // FUTURERELEASE (RFC 4865): local recipients wait in the queue too.
        let held: Vec<&AccountCopy> = copies.iter().collect();
        let queued =
            Queueing { spooled, received_ms, message_id: &message_id, annotations, retry_at_ms: release_ms };
        return match queue_message(settings, envelope, &queued, &held).await {
            Ok(()) => Verdict::AcceptWith(format!("message accepted as {message_id}, held for release")),
            Err(QueueingFailed { send_limit: Some(reply), .. }) => Verdict::Reject(reply),
            Err(failed) => Verdict::Reject(local_failure(failed.no_space)),
        };
    }
    let results =
        join_all(copies.iter().map(|copy| node.deliver(&copy.account, copy.message.clone())).collect()).await;
    let stored = results.iter().filter(|r| r.is_ok()).count();
    let failed: Vec<&AccountCopy> =
        copies.iter().zip(&results).filter(|(_, r)| r.is_err()).map(|(copy, _)| copy).collect();
    // Something is durably ours (a stored copy, or remote recipients to queue): failed
    // accounts are retried from the queue. Otherwise the client retries the whole message.
    let queue_failed = !failed.is_empty() && (stored > 0 || !envelope.remote.is_empty());
    let mut queued = Ok(());
    if failed.is_empty() || queue_failed {
        let retries: Vec<&AccountCopy> = if queue_failed { failed.clone() } else { Vec::new() };
        let queueing = Queueing {
            spooled,
            received_ms,
            message_id: &message_id,
            annotations,
            retry_at_ms: received_ms + LOCAL_RETRY_DELAY_MS,
        };
        queued = queue_message(settings, envelope, &queueing, &retries).await;
        if queued.is_ok() {
            for (copy, result) in copies.iter().zip(&results) {
                if let Err(error) = result {
                    tracing::warn!(account = %copy.account, %error, id = %message_id, "delivery failed; queued for a local retry");
                }
            }
            tracing::info!(id = %message_id, size, accounts = copies.len(), retries = failed.len(), remote = envelope.remote.len(), peer = %envelope.peer, "message delivered");
            return Verdict::AcceptWith(format!("message accepted as {message_id}"));
        }
    }
    let no_space = results.iter().any(|result| result.as_ref().is_err_and(AccountError::is_no_space))
        || queued.as_ref().is_err_and(|failed| failed.no_space);
    let over_quota = results.iter().any(|result| matches!(result, Err(AccountError::OverQuota { .. })));
    for (copy, result) in copies.iter().zip(results) {
        let account = &copy.account;
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
    if let Err(QueueingFailed { send_limit: Some(reply), .. }) = queued {
        return Verdict::Reject(reply);
    }
    if over_quota && !no_space {
        return Verdict::Reject(match settings.over_quota_permanent {
            true => Reply::new(552, Some(EnhancedCode(5, 2, 2)), "mailbox full"),
            false => Reply::new(452, Some(EnhancedCode(4, 2, 2)), "mailbox full; try again later"),
        });
    }
    Verdict::Reject(local_failure(no_space))
}

/// The request for each distinct recipient account, with its trace header.
#[expect(clippy::too_many_arguments, reason = "the pieces of one received message")]
fn account_copies(
    settings: &SmtpSettings,
    envelope: &Envelope,
    spool: &Path,
    size: u64,
    summary: Option<Vec<u8>>,
    annotations: &Annotations,
    received_ms: i64,
    message_id: &str,
) -> Vec<AccountCopy> {
    let tls_version = envelope.tls.as_ref().map(|t| t.version.to_string());
    distinct_accounts(&envelope.recipients)
        .into_iter()
        .map(|(account, first, only_recipient)| {
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
                id: Some(message_id),
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
            // Made once for all accounts while the message streamed in; stored beside
            // each copy so IMAP never reparses it.
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
            let address = match &first {
                ForwardPath::Mailbox(mailbox) => mailbox.to_string(),
                // RFC 5321 §4.1.1.3: the bare postmaster is ours; name it in our domain.
                ForwardPath::Postmaster => format!("postmaster@{}", settings.protocol.hostname),
            };
            AccountCopy { account, address, message }
        })
        .collect()
}

/// Queueing failed (logged where it happened).
struct QueueingFailed {
    no_space: bool,
    /// The submission would pass a send limit: its `451 4.7.1`, not a local failure.
    send_limit: Option<Reply>,
}

/// What queueing needs of the received message.
struct Queueing<'a> {
    spooled: Spooled<'a>,
    received_ms: i64,
    message_id: &'a str,
    annotations: &'a Annotations,
    /// When local copies are first attempted.
    retry_at_ms: i64,
}

/// Queues what this transaction leaves to the queue, in one transaction durable when it
/// returns: the message for `envelope.remote` (submission) and one local copy per
/// account in `locals`. Nothing to queue: `Ok`. Local copies without a queue: `Err`.
async fn queue_message(
    settings: &SmtpSettings,
    envelope: &Envelope,
    queueing: &Queueing<'_>,
    locals: &[&AccountCopy],
) -> Result<(), QueueingFailed> {
    let Queueing { spooled, received_ms, message_id, .. } = *queueing;
    let mut batch = Vec::new();
    batch.extend(remote_queued(settings, envelope, spooled, received_ms, message_id).await);
    for copy in locals {
        batch.push(local_retry(envelope, queueing, copy));
    }
    if batch.is_empty() {
        return Ok(());
    }
    let Some(queue) = settings.queue.as_ref() else {
        tracing::error!(id = %message_id, "no queue for a local retry");
        return Err(QueueingFailed { no_space: false, send_limit: None });
    };
    match crate::queue::apply(queue, &[], &batch, &[]).await {
        Ok(ids) => {
            tracing::info!(id = %message_id, queued = ?ids, remote = envelope.remote.len(), locals = locals.len(), "message queued");
            Ok(())
        }
        Err(StorageError::SendLimit { kind, max }) => {
            tracing::warn!(id = %message_id, account = ?envelope.account, ?kind, max, "submission refused at queueing: send limit");
            Err(QueueingFailed { no_space: false, send_limit: Some(send_limit_reply(kind, max)) })
        }
        Err(error) => {
            tracing::error!(id = %message_id, %error, "queueing failed");
            Err(QueueingFailed { no_space: error.is_no_space(), send_limit: None })
        }
    }
}

/// The envelope fields every queued copy of this message shares.
fn queued_message(envelope: &Envelope, size: u64, received_ms: i64, prefix: Vec<u8>) -> QueuedMessage {
    let mail_from = envelope.mail_from.as_ref();
    QueuedMessage {
        id: QueueId(0),
        queued_ms: received_ms,
        sender_account: envelope.account.as_deref().unwrap_or_default().to_owned(),
        mail_from: match mail_from.map(|m| &m.path) {
            None | Some(ReversePath::Null) => String::new(),
            Some(ReversePath::Mailbox(mailbox)) => mailbox.to_string(),
        },
        size_bytes: size,
        prefix,
        smtputf8: mail_from.is_some_and(|m| m.smtputf8),
        body: match mail_from.map(|m| m.body) {
            None | Some(BodyType::SevenBit) => QueuedBody::SevenBit,
            Some(BodyType::EightBitMime) => QueuedBody::EightBit,
            Some(BodyType::BinaryMime) => QueuedBody::Binary,
        },
        requiretls: false,
        envid: None,
        return_headers_only: false,
        to_junk: false,
        // RFC 8689 §5: REQUIRETLS, when given, wins over the header field.
        tls_optional: envelope.tls_required_no && !mail_from.is_some_and(|m| m.requiretls),
        tls_report: false,
    }
}

/// A local copy for the queue (a retry, or a held FUTURERELEASE): the same prefix and
/// mailbox, the account pinned.
fn local_retry(envelope: &Envelope, queueing: &Queueing<'_>, copy: &AccountCopy) -> NewQueued {
    let mut message =
        queued_message(envelope, queueing.spooled.size, queueing.received_ms, copy.message.prefix.clone());
    message.to_junk = queueing.annotations.junk;
    NewQueued {
        content: QueuedContent::File(queueing.spooled.path.to_path_buf()),
        message,
        recipients: vec![QueuedRecipient {
            address: copy.address.clone(),
            notify: None,
            original: None,
            last_result: None,
            account: Some(copy.account.to_string()),
        }],
        first_attempt_ms: queueing.retry_at_ms,
        held: false,
        send_quota: None,
    }
}

/// The message for `envelope.remote` (submission), signed; `None` without remote
/// recipients or a queue.
async fn remote_queued(
    settings: &SmtpSettings,
    envelope: &Envelope,
    spooled: Spooled<'_>,
    received_ms: i64,
    message_id: &str,
) -> Option<NewQueued> {
    let Spooled { path: spool, size, bytes, .. } = spooled;
    settings.queue.as_ref().filter(|_| !envelope.remote.is_empty())?;
    let mail_from = envelope.mail_from.as_ref()?;
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
    let signing_domain = envelope.author_domain.clone().or_else(|| match &mail_from.path {
        ReversePath::Mailbox(mailbox) => Some(mailbox.domain.to_string()),
        ReversePath::Null => None,
    });
    if let (Some(keys), Some(domain)) = (&settings.dkim, signing_domain) {
        let now_secs = received_ms.div_euclid(1000);
        prefix = match bytes {
            Some(bytes) => crate::queue::sign::sign_bytes(keys, &domain, bytes, now_secs),
            None => {
                crate::queue::sign::sign_spool(Arc::clone(keys), domain, spool.to_path_buf(), now_secs).await
            }
        };
    }
    prefix.extend_from_slice(received_header(&trace).as_bytes());
    let mut message = queued_message(envelope, size, received_ms, prefix);
    message.requiretls = mail_from.requiretls;
    // A small message goes into the queue's database (its first attempt sends it from
    // the copy the store keeps in memory); a larger one's spool file is linked.
    let content = match bytes {
        Some(bytes) => QueuedContent::Inline(Arc::from(bytes)),
        None => QueuedContent::File(spool.to_path_buf()),
    };
    Some(NewQueued {
        content,
        message,
        recipients: envelope
            .remote
            .iter()
            .map(|address| QueuedRecipient {
                address: address.clone(),
                notify: None,
                original: None,
                last_result: None,
                account: None,
            })
            .collect(),
        first_attempt_ms: envelope.release_ms.unwrap_or(received_ms),
        held: false,
        send_quota: envelope.send_quota,
    })
}

/// Each account once, in first-recipient order, with its first recipient, and that
/// recipient again when it is the account's only one (for `Received: for`).
fn distinct_accounts(recipients: &[Recipient]) -> Vec<(Arc<str>, ForwardPath, Option<ForwardPath>)> {
    let mut accounts: Vec<(Arc<str>, ForwardPath, usize)> = Vec::new();
    for recipient in recipients {
        match accounts.iter_mut().find(|(account, _, _)| *account == recipient.account) {
            Some(entry) => entry.2 += 1,
            None => accounts.push((Arc::clone(&recipient.account), recipient.path.clone(), 1)),
        }
    }
    accounts
        .into_iter()
        .map(|(account, path, count)| {
            let only = (count == 1).then(|| path.clone());
            (account, path, only)
        })
        .collect()
}
