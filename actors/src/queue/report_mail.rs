//! Queueing the report messages the server writes itself (TLS reports, RFC 8460 §5.3;
//! DMARC aggregate reports, RFC 7489 §7.2.1.1): each composed message is spooled,
//! DKIM-signed by the reporting domain's keys when it has any, and queued from the null
//! reverse path with its one recipient, all of a report's messages in one transaction.

use std::path::PathBuf;
use std::sync::Arc;

use moxide_storage::queue::{NewQueued, QueueId, QueuedBody, QueuedContent, QueuedMessage, QueuedRecipient};

use super::QueueRunner;
use super::dsn::{hex, write_spool};
use super::sign::DkimKeys;

/// Who signs a report's messages.
pub(super) struct Signer<'a> {
    /// The reporting domain (DKIM `d=`).
    pub domain: &'a str,
    /// The local domains' keys; `None`: unsigned.
    pub keys: Option<&'a Arc<DkimKeys>>,
}

impl QueueRunner {
    /// Spools, signs and queues `messages` (recipient, bytes) in one transaction;
    /// `kind` names the spool files; `tls_report`: TLS reports, which TLS policies may
    /// not stop and whose sessions are not counted in the next TLS reports (RFC 8460 §3:
    /// reports are delivered despite TLS failures, and their sessions not reported).
    /// Returns how many were queued.
    pub(super) async fn queue_report_messages(
        &self,
        kind: &str,
        tls_report: bool,
        signer: Signer<'_>,
        messages: Vec<(String, Vec<u8>)>,
        now_ms: i64,
    ) -> Result<usize, String> {
        let mut batch = Vec::new();
        let mut spools = Vec::new();
        let mut failure = None;
        for (address, bytes) in messages {
            let spool = self.settings.spool_dir.join(format!("{kind}-{}", random_hex(12)));
            let written = {
                let (spool, bytes) = (spool.clone(), bytes.clone());
                moxide_runtime::offload(move || write_spool(&spool, &bytes)).await
            };
            match written {
                Ok(Ok(())) => spools.push(spool.clone()),
                Ok(Err(error)) => failure = Some(format!("spool: {error}")),
                Err(panic) => failure = Some(format!("spool: {}", panic.0)),
            }
            if failure.is_some() {
                break;
            }
            let prefix = match signer.keys {
                Some(keys) => {
                    super::sign::sign_spool(
                        Arc::clone(keys),
                        signer.domain.to_owned(),
                        spool.clone(),
                        now_ms.div_euclid(1000),
                    )
                    .await
                }
                None => Vec::new(),
            };
            let mut new = new_queued(spool, &bytes, prefix, &address, now_ms);
            new.message.tls_optional = tls_report;
            new.message.tls_report = tls_report;
            batch.push(new);
        }
        let count = batch.len();
        let enqueued = match failure {
            Some(error) => Err(error),
            None => match super::apply(self.store(), &[], &batch, &[]).await {
                Ok(_) => Ok(count),
                Err(error) => Err(error.to_string()),
            },
        };
        for spool in spools {
            let _ = moxide_runtime::offload(move || std::fs::remove_file(spool)).await;
        }
        enqueued
    }
}

/// A report message to queue from the null reverse path (like a DSN: a report that
/// cannot be delivered causes no bounce, RFC 5321 §4.5.5's reasoning for automatic mail).
fn new_queued(spool: PathBuf, bytes: &[u8], prefix: Vec<u8>, address: &str, now_ms: i64) -> NewQueued {
    NewQueued {
        content: QueuedContent::File(spool),
        message: QueuedMessage {
            id: QueueId(0),
            queued_ms: now_ms,
            sender_account: String::new(),
            mail_from: String::new(),
            size_bytes: bytes.len() as u64,
            prefix,
            smtputf8: !address.is_ascii(),
            body: QueuedBody::SevenBit,
            requiretls: false,
            envid: None,
            return_headers_only: true,
            to_junk: false,
            tls_optional: false,
            tls_report: false,
        },
        recipients: vec![QueuedRecipient {
            address: address.to_owned(),
            notify: None,
            original: None,
            last_result: None,
            account: None,
        }],
        first_attempt_ms: now_ms,
        held: false,
        send_quota: None,
    }
}

/// `bytes` random bytes as lower-case hex: report ids, Message-IDs, boundaries.
pub(super) fn random_hex(bytes: usize) -> String {
    let mut random = vec![0u8; bytes];
    moxide_runtime::random::fill(&mut random);
    hex(&random)
}

/// When the next daily report run is due after `now_ms`: the end of the UTC day plus a
/// random delay of up to `delay_ms_max`, so that report receivers do not get every
/// sender's reports at 00:00.
pub(super) fn next_daily_run_ms(now_ms: i64, delay_ms_max: i64) -> i64 {
    const DAY_MS: i64 = 86_400_000;
    let mut draw = [0u8; 4];
    moxide_runtime::random::fill(&mut draw);
    let delay = i64::from(u32::from_be_bytes(draw)) % (delay_ms_max + 1);
    (now_ms.div_euclid(DAY_MS) + 1) * DAY_MS + delay
}

/// Whether the test hook's trigger file appeared (it is removed).
pub(super) async fn triggered(trigger: Option<&PathBuf>) -> bool {
    let Some(trigger) = trigger.cloned() else { return false };
    moxide_runtime::offload(move || std::fs::remove_file(trigger).is_ok()).await.unwrap_or(false)
}
