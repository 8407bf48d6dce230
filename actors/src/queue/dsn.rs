//! Making a DSN (RFC 3464) for recipients that failed or are delayed: the report is
//! composed by `moxide_protocols::smtp::dsn` and handed back as a message to queue (to
//! the original sender, from `<>`), inline when it fits the queue's limit for that
//! (it does, unless a prefix is huge) or else in a spool file, which the caller stores
//! in the same transaction as the results that caused it. No DSN for a message from
//! `<>` (RFC 5321 §4.5.5: that would loop), and none a recipient's NOTIFY declined.
//!
//! [`make_blocking`] does it all on the calling thread (reads the original header,
//! writes a spool file if one is needed); the queue runs it on a helper thread, the
//! `moxide queue bounce` command directly.

use std::io::{Read as _, Write as _};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use moxide_protocols::smtp::dsn::{DSN_HEADER_BYTES_MAX, DsnAction, DsnRecipient, DsnReport, compose};
use moxide_protocols::smtp::{EnhancedCode, Reply, rfc5322_date};
use moxide_storage::queue::{
    NewQueued, QUEUE_INLINE_BYTES_MAX, QueueId, QueuedBody, QueuedContent, QueuedMessage, QueuedRecipient,
};

use super::QueueSettings;
use super::schedule::{last_attempt_ms, wants_dsn};

pub(super) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The DSN to queue for `recipients` of `message`, if one is due (on a helper thread).
pub(super) async fn make(
    settings: &QueueSettings,
    message: &QueuedMessage,
    content: QueuedContent,
    recipients: &[QueuedRecipient],
    delay: bool,
    now_ms: i64,
) -> Option<NewQueued> {
    let hostname = settings.hostname.clone();
    let spool_dir = settings.spool_dir.clone();
    let message = message.clone();
    let recipients = recipients.to_vec();
    moxide_runtime::offload(move || {
        make_blocking(&hostname, &spool_dir, &message, &content, &recipients, delay, now_ms)
    })
    .await
    .ok()
    .flatten()
}

/// Blocking: the DSN for `recipients` of `message` (whose bytes are `content`), as a
/// message to queue, inline or written to a new spool file in `spool_dir`; `None` when
/// none is due or it cannot be written (logged). The caller removes the spool file, if
/// any ([`spool_of`]), after queueing it.
pub fn make_blocking(
    hostname: &str,
    spool_dir: &Path,
    message: &QueuedMessage,
    content: &QueuedContent,
    recipients: &[QueuedRecipient],
    delay: bool,
    now_ms: i64,
) -> Option<NewQueued> {
    if message.mail_from.is_empty() {
        return None;
    }
    let wanted: Vec<&QueuedRecipient> = recipients.iter().filter(|r| wants_dsn(r, delay)).collect();
    if wanted.is_empty() {
        return None;
    }
    let mut random = [0u8; 24];
    moxide_runtime::random::fill(&mut random);
    let id = hex(&random[..12]);
    let header = read_header(message, content);
    let report_recipients: Vec<DsnRecipient> = wanted.iter().map(|r| report_recipient(r)).collect();
    let date = rfc5322_date(now_ms.div_euclid(1000));
    let arrival = rfc5322_date(message.queued_ms.div_euclid(1000));
    // Queued at its first attempt (FUTURERELEASE aside): the schedule ends from there.
    let until = rfc5322_date(last_attempt_ms(message.queued_ms).div_euclid(1000));
    let message_id = format!("{id}@{hostname}");
    let boundary = format!("dsn-{}", hex(&random[12..]));
    let report = DsnReport {
        reporting_mta: hostname,
        to: &message.mail_from,
        action: if delay { DsnAction::Delayed } else { DsnAction::Failed },
        recipients: &report_recipients,
        envid: message.envid.as_deref(),
        arrival_date: &arrival,
        date: &date,
        retry_until: delay.then_some(until.as_str()),
        message_id: &message_id,
        boundary: &boundary,
        original_header: &header,
    };
    let bytes = compose(&report);
    let content = if bytes.len() <= QUEUE_INLINE_BYTES_MAX {
        QueuedContent::Inline(std::sync::Arc::from(bytes.as_slice()))
    } else {
        let spool = spool_dir.join(format!("dsn-{id}"));
        if let Err(error) = write_spool(&spool, &bytes) {
            tracing::error!(path = %spool.display(), %error, "cannot write a DSN; it is not sent");
            return None;
        }
        QueuedContent::File(spool)
    };
    Some(NewQueued {
        content,
        message: QueuedMessage {
            id: QueueId(0),
            queued_ms: now_ms,
            sender_account: String::new(),
            mail_from: String::new(),
            size_bytes: bytes.len() as u64,
            prefix: Vec::new(),
            smtputf8: !message.mail_from.is_ascii(),
            body: if bytes.is_ascii() { QueuedBody::SevenBit } else { QueuedBody::EightBit },
            requiretls: false,
            envid: None,
            return_headers_only: true,
            to_junk: false,
            tls_optional: false,
            tls_report: false,
        },
        recipients: vec![QueuedRecipient {
            address: message.mail_from.clone(),
            notify: None,
            original: None,
            last_result: None,
            account: None,
        }],
        first_attempt_ms: now_ms,
        held: false,
        send_quota: None,
    })
}

fn report_recipient(recipient: &QueuedRecipient) -> DsnRecipient {
    let last = recipient.last_result.as_ref();
    DsnRecipient {
        address: recipient.address.clone(),
        original: recipient.original.clone(),
        reply: last.map_or_else(
            || Reply::new(451, Some(EnhancedCode(4, 0, 0)), "no result"),
            |l| Reply::new(l.code, l.enhanced.map(|(a, b, c)| EnhancedCode(a, b, c)), l.text.clone()),
        ),
        remote_mta: last.map(|l| l.remote_host.clone()).filter(|h| !h.is_empty()),
    }
}

/// Writes a new spool file (mode 0600) without a sync: whichever store links it (the
/// queue, an account) syncs what it links before its commit, as for the SMTP session's
/// spools.
pub(super) fn write_spool(spool: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(spool)?;
    file.write_all(bytes)
}

/// The original header: the queued prefix, then the message's bytes up to the limit.
fn read_header(message: &QueuedMessage, content: &QueuedContent) -> Vec<u8> {
    let mut header = message.prefix.clone();
    let room = DSN_HEADER_BYTES_MAX.saturating_sub(header.len());
    match content {
        QueuedContent::Inline(bytes) => header.extend_from_slice(&bytes[..room.min(bytes.len())]),
        QueuedContent::File(path) => {
            let mut bytes = Vec::new();
            let read =
                std::fs::File::open(path).and_then(|file| file.take(room as u64).read_to_end(&mut bytes));
            if read.is_ok() {
                header.extend_from_slice(&bytes);
            }
        }
    }
    header
}

/// The spool file a DSN or report to queue was written to, which its maker removes once
/// it is queued (or not); `None` for one queued inline.
pub fn spool_of(new: &NewQueued) -> Option<PathBuf> {
    match &new.content {
        QueuedContent::File(path) => Some(path.clone()),
        QueuedContent::Inline(_) => None,
    }
}
