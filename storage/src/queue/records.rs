//! The outbound queue's records: a queued message (its envelope and the bytes added in
//! front of its file), and one destination (a recipient domain of the message, with its
//! recipients, attempt count, schedule and last results). Values are a record-version
//! byte then an rkyv archive of a private on-disk type, so the API types can change
//! without changing the bytes on disk.
//!
//! Rules checked before a put and after every get (STYLE rule 8): addresses and domains
//! are 1 to [`QUEUE_ADDRESS_BYTES_MAX`] bytes without control characters; a destination
//! has 1 to [`QUEUE_DESTINATION_RECIPIENTS_MAX`] recipients; reply texts at most
//! [`QUEUE_REPLY_TEXT_BYTES_MAX`] bytes.

use rkyv::rancor::BoxedError;
use rkyv::{Archive, Deserialize, Serialize};

use crate::error::StorageError;
use crate::records::{archive_bytes, encode};

/// Longest address or domain kept: RFC 5321 §4.5.3.1.3 limits a path to 256 octets; the
/// local part (64) and domain (255) limits allow 320 written out.
pub const QUEUE_ADDRESS_BYTES_MAX: usize = 320;

/// Most recipients in one destination: the SMTP server's recipients per transaction
/// (1000), since one submitted transaction makes one queued message.
pub const QUEUE_DESTINATION_RECIPIENTS_MAX: usize = 1000;

/// Longest reply text kept per recipient: a reply line is at most 512 octets (RFC 5321
/// §4.5.3.1.5); 2 KiB holds a few lines of a multi-line reply, which is what a DSN quotes.
pub const QUEUE_REPLY_TEXT_BYTES_MAX: usize = 2048;

/// Longest `prefix` (header fields added in front of the message file: Received,
/// DKIM-Signature): 64 KiB, far more than a few trace and signature fields.
pub const QUEUE_PREFIX_BYTES_MAX: usize = 64 * 1024;

/// Version 2 added `to_junk` (a local retry for a message DMARC quarantined), version 3
/// `tls_optional` (`TLS-Required: No`, TLS reports), version 4 `tls_report`; older
/// records still read, the newer fields `false`.
pub(crate) const MESSAGE_RECORD_VERSION: u8 = 4;
const MESSAGE_RECORD_VERSION_V3: u8 = 3;
const MESSAGE_RECORD_VERSION_V2: u8 = 2;
const MESSAGE_RECORD_VERSION_V1: u8 = 1;
/// Version 2 added each recipient's `account` (a local retry pinned to one account);
/// version-1 records still read, as `None`.
pub(crate) const DESTINATION_RECORD_VERSION: u8 = 2;
const DESTINATION_RECORD_VERSION_V1: u8 = 1;

/// Identifies a queued message; also its file name under `queue/msg/`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct QueueId(pub u64);

impl std::fmt::Display for QueueId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A destination: the message and the index of its recipient domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DestinationKey {
    /// The message.
    pub message: QueueId,
    /// Which of its destinations (in the order first seen among its recipients).
    pub index: u32,
}

/// The body type of a queued message, for the MAIL BODY parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueuedBody {
    /// 7-bit.
    #[default]
    SevenBit,
    /// 8BITMIME.
    EightBit,
    /// BINARYMIME.
    Binary,
}

/// A queued message: everything but its recipients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedMessage {
    /// Its id.
    pub id: QueueId,
    /// When it was queued, Unix ms.
    pub queued_ms: i64,
    /// The account that submitted it (DSNs go back to it); empty for DSNs and forwards.
    pub sender_account: String,
    /// MAIL FROM, without `<>`; empty for the null path.
    pub mail_from: String,
    /// Octets of the message file.
    pub size_bytes: u64,
    /// Header fields sent before the file's bytes (Received, DKIM-Signature).
    pub prefix: Vec<u8>,
    /// Needs SMTPUTF8.
    pub smtputf8: bool,
    /// Body type.
    pub body: QueuedBody,
    /// REQUIRETLS (RFC 8689).
    pub requiretls: bool,
    /// DSN ENVID (RFC 3461 §4.4), if given.
    pub envid: Option<String>,
    /// DSN RET=HDRS (else the whole message is returned).
    pub return_headers_only: bool,
    /// A local retry of a message the inbound checks sent to `\Junk` (DMARC quarantine):
    /// delivered there, not to the Inbox.
    pub to_junk: bool,
    /// The recipient domains' TLS policies (MTA-STS, DANE, the STARTTLS memory) may not
    /// stop delivery: verified TLS is tried, then unverified, then plaintext. Set for a
    /// submitted message with `TLS-Required: No` (RFC 8689 §5) and for TLS reports
    /// (RFC 8460 §3), which must reach a domain whose TLS is broken.
    pub tls_optional: bool,
    /// A TLS report (RFC 8460): the TLS results of its delivery are not counted in the
    /// next reports (RFC 8460 §3), so a domain whose TLS fails is not sent reports
    /// about the failed sessions of the reports about its failures.
    pub tls_report: bool,
}

/// A recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRecipient {
    /// `localpart@domain`.
    pub address: String,
    /// DSN NOTIFY, if given.
    pub notify: Option<String>,
    /// DSN ORCPT address, if given.
    pub original: Option<String>,
    /// The last reply for this recipient (or what stood for one), if any attempt ran.
    pub last_result: Option<StoredReply>,
    /// The local account this recipient was resolved to when the message was received
    /// (a local retry after a temporary failure): delivered to that account alone, not
    /// looked up again, so the other members of an alias do not get a second copy.
    pub account: Option<String>,
}

/// A reply as kept in the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredReply {
    /// Reply code.
    pub code: u16,
    /// Enhanced code (class, subject, detail).
    pub enhanced: Option<(u8, u16, u16)>,
    /// Text, cut to [`QUEUE_REPLY_TEXT_BYTES_MAX`].
    pub text: String,
    /// The host that gave it (or empty when none was reached).
    pub remote_host: String,
}

/// One destination of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// Which.
    pub key: DestinationKey,
    /// The recipient domain (lower case).
    pub domain: String,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due, Unix ms.
    pub next_attempt_ms: i64,
    /// When the last attempt ran.
    pub last_attempt_ms: Option<i64>,
    /// Held: no attempt until released.
    pub held: bool,
    /// A delay DSN was sent for it.
    pub delay_dsn_sent: bool,
    /// The recipients still to deliver.
    pub recipients: Vec<QueuedRecipient>,
}

#[derive(Archive, Serialize, Deserialize)]
pub(crate) struct MessageRecordV1 {
    queued_ms: i64,
    sender_account: String,
    mail_from: String,
    size_bytes: u64,
    prefix: Vec<u8>,
    smtputf8: bool,
    body: u8,
    requiretls: bool,
    envid: Option<String>,
    return_headers_only: bool,
}

#[derive(Archive, Serialize, Deserialize)]
pub(crate) struct MessageRecordV2 {
    v1: MessageRecordV1,
    to_junk: bool,
}

#[derive(Archive, Serialize, Deserialize)]
pub(crate) struct MessageRecordV3 {
    v2: MessageRecordV2,
    tls_optional: bool,
}

#[derive(Archive, Serialize, Deserialize)]
pub(crate) struct MessageRecordV4 {
    v3: MessageRecordV3,
    tls_report: bool,
}

#[derive(Archive, Serialize, Deserialize)]
pub(crate) struct ReplyRecordV1 {
    code: u16,
    enhanced: Option<(u8, u16, u16)>,
    text: String,
    remote_host: String,
}

#[derive(Archive, Serialize, Deserialize)]
pub(crate) struct RecipientRecordV1 {
    address: String,
    notify: Option<String>,
    original: Option<String>,
    last_result: Option<ReplyRecordV1>,
}

#[derive(Archive, Serialize, Deserialize)]
pub(crate) struct RecipientRecordV2 {
    v1: RecipientRecordV1,
    account: Option<String>,
}

#[derive(Archive, Serialize, Deserialize)]
pub(crate) struct DestinationRecordV1 {
    domain: String,
    attempts: u32,
    next_attempt_ms: i64,
    last_attempt_ms: Option<i64>,
    held: bool,
    delay_dsn_sent: bool,
    recipients: Vec<RecipientRecordV1>,
}

#[derive(Archive, Serialize, Deserialize)]
pub(crate) struct DestinationRecordV2 {
    domain: String,
    attempts: u32,
    next_attempt_ms: i64,
    last_attempt_ms: Option<i64>,
    held: bool,
    delay_dsn_sent: bool,
    recipients: Vec<RecipientRecordV2>,
}

fn check_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= QUEUE_ADDRESS_BYTES_MAX && !name.chars().any(char::is_control)
}

pub(crate) fn check_message(message: &QueuedMessage) -> Result<(), &'static str> {
    if !message.mail_from.is_empty() && !check_name(&message.mail_from) {
        return Err("MAIL FROM too long or with control characters");
    }
    if message.prefix.len() > QUEUE_PREFIX_BYTES_MAX {
        return Err("prefix too long");
    }
    if message.sender_account.len() > QUEUE_ADDRESS_BYTES_MAX {
        return Err("sender account too long");
    }
    Ok(())
}

pub(crate) fn check_destination(destination: &Destination) -> Result<(), &'static str> {
    if !check_name(&destination.domain) {
        return Err("domain empty, too long or with control characters");
    }
    let count = destination.recipients.len();
    if count == 0 || count > QUEUE_DESTINATION_RECIPIENTS_MAX {
        return Err("no recipients, or too many");
    }
    for recipient in &destination.recipients {
        if !check_name(&recipient.address) {
            return Err("recipient empty, too long or with control characters");
        }
        if recipient.last_result.as_ref().is_some_and(|r| r.text.len() > QUEUE_REPLY_TEXT_BYTES_MAX) {
            return Err("reply text too long");
        }
        if recipient.account.as_deref().is_some_and(|a| !check_name(a)) {
            return Err("recipient account empty, too long or with control characters");
        }
    }
    Ok(())
}

pub(crate) fn encode_message(message: &QueuedMessage) -> Result<Vec<u8>, StorageError> {
    let v1 = MessageRecordV1 {
        queued_ms: message.queued_ms,
        sender_account: message.sender_account.clone(),
        mail_from: message.mail_from.clone(),
        size_bytes: message.size_bytes,
        prefix: message.prefix.clone(),
        smtputf8: message.smtputf8,
        body: match message.body {
            QueuedBody::SevenBit => 0,
            QueuedBody::EightBit => 1,
            QueuedBody::Binary => 2,
        },
        requiretls: message.requiretls,
        envid: message.envid.clone(),
        return_headers_only: message.return_headers_only,
    };
    let v2 = MessageRecordV2 { v1, to_junk: message.to_junk };
    let v3 = MessageRecordV3 { v2, tls_optional: message.tls_optional };
    encode(MESSAGE_RECORD_VERSION, &MessageRecordV4 { v3, tls_report: message.tls_report })
}

pub(crate) fn decode_message(id: QueueId, value: &[u8]) -> Result<QueuedMessage, StorageError> {
    let what = format!("queued message {id}");
    let corrupt = |error: BoxedError| StorageError::corrupt(format!("{what}: {error}"));
    let (record, to_junk, tls_optional, tls_report) = if value.first() == Some(&MESSAGE_RECORD_VERSION_V1) {
        let archive = archive_bytes(value, MESSAGE_RECORD_VERSION_V1, &what)?;
        let archived = rkyv::access::<ArchivedMessageRecordV1, BoxedError>(archive).map_err(corrupt)?;
        (rkyv::deserialize::<MessageRecordV1, BoxedError>(archived).map_err(corrupt)?, false, false, false)
    } else if value.first() == Some(&MESSAGE_RECORD_VERSION_V2) {
        let archive = archive_bytes(value, MESSAGE_RECORD_VERSION_V2, &what)?;
        let archived = rkyv::access::<ArchivedMessageRecordV2, BoxedError>(archive).map_err(corrupt)?;
        let record = rkyv::deserialize::<MessageRecordV2, BoxedError>(archived).map_err(corrupt)?;
        (record.v1, record.to_junk, false, false)
    } else if value.first() == Some(&MESSAGE_RECORD_VERSION_V3) {
        let archive = archive_bytes(value, MESSAGE_RECORD_VERSION_V3, &what)?;
        let archived = rkyv::access::<ArchivedMessageRecordV3, BoxedError>(archive).map_err(corrupt)?;
        let record = rkyv::deserialize::<MessageRecordV3, BoxedError>(archived).map_err(corrupt)?;
        (record.v2.v1, record.v2.to_junk, record.tls_optional, false)
    } else {
        let archive = archive_bytes(value, MESSAGE_RECORD_VERSION, &what)?;
        let archived = rkyv::access::<ArchivedMessageRecordV4, BoxedError>(archive).map_err(corrupt)?;
        let record = rkyv::deserialize::<MessageRecordV4, BoxedError>(archived).map_err(corrupt)?;
        let v3 = record.v3;
        (v3.v2.v1, v3.v2.to_junk, v3.tls_optional, record.tls_report)
    };
    let body = match record.body {
        0 => QueuedBody::SevenBit,
        1 => QueuedBody::EightBit,
        2 => QueuedBody::Binary,
        other => return Err(StorageError::corrupt(format!("{what}: body type {other}"))),
    };
    let message = QueuedMessage {
        id,
        queued_ms: record.queued_ms,
        sender_account: record.sender_account,
        mail_from: record.mail_from,
        size_bytes: record.size_bytes,
        prefix: record.prefix,
        smtputf8: record.smtputf8,
        body,
        requiretls: record.requiretls,
        envid: record.envid,
        return_headers_only: record.return_headers_only,
        to_junk,
        tls_optional,
        tls_report,
    };
    check_message(&message).map_err(|reason| StorageError::corrupt(format!("{what}: {reason}")))?;
    Ok(message)
}

pub(crate) fn encode_destination(destination: &Destination) -> Result<Vec<u8>, StorageError> {
    let recipients = destination
        .recipients
        .iter()
        .map(|r| RecipientRecordV2 {
            v1: RecipientRecordV1 {
                address: r.address.clone(),
                notify: r.notify.clone(),
                original: r.original.clone(),
                last_result: r.last_result.as_ref().map(|reply| ReplyRecordV1 {
                    code: reply.code,
                    enhanced: reply.enhanced,
                    text: reply.text.clone(),
                    remote_host: reply.remote_host.clone(),
                }),
            },
            account: r.account.clone(),
        })
        .collect();
    let record = DestinationRecordV2 {
        domain: destination.domain.clone(),
        attempts: destination.attempts,
        next_attempt_ms: destination.next_attempt_ms,
        last_attempt_ms: destination.last_attempt_ms,
        held: destination.held,
        delay_dsn_sent: destination.delay_dsn_sent,
        recipients,
    };
    encode(DESTINATION_RECORD_VERSION, &record)
}

pub(crate) fn decode_destination(key: DestinationKey, value: &[u8]) -> Result<Destination, StorageError> {
    let what = format!("queue destination {}/{}", key.message, key.index);
    let corrupt = |error: BoxedError| StorageError::corrupt(format!("{what}: {error}"));
    let record = if value.first() == Some(&DESTINATION_RECORD_VERSION_V1) {
        let archive = archive_bytes(value, DESTINATION_RECORD_VERSION_V1, &what)?;
        let archived = rkyv::access::<ArchivedDestinationRecordV1, BoxedError>(archive).map_err(corrupt)?;
        let old = rkyv::deserialize::<DestinationRecordV1, BoxedError>(archived).map_err(corrupt)?;
        DestinationRecordV2 {
            domain: old.domain,
            attempts: old.attempts,
            next_attempt_ms: old.next_attempt_ms,
            last_attempt_ms: old.last_attempt_ms,
            held: old.held,
            delay_dsn_sent: old.delay_dsn_sent,
            recipients: old
                .recipients
                .into_iter()
                .map(|v1| RecipientRecordV2 { v1, account: None })
                .collect(),
        }
    } else {
        let archive = archive_bytes(value, DESTINATION_RECORD_VERSION, &what)?;
        let archived = rkyv::access::<ArchivedDestinationRecordV2, BoxedError>(archive).map_err(corrupt)?;
        rkyv::deserialize::<DestinationRecordV2, BoxedError>(archived).map_err(corrupt)?
    };
    let recipients = record
        .recipients
        .into_iter()
        .map(|RecipientRecordV2 { v1: r, account }| QueuedRecipient {
            address: r.address,
            notify: r.notify,
            original: r.original,
            last_result: r.last_result.map(|reply| StoredReply {
                code: reply.code,
                enhanced: reply.enhanced,
                text: reply.text,
                remote_host: reply.remote_host,
            }),
            account,
        })
        .collect();
    let destination = Destination {
        key,
        domain: record.domain,
        attempts: record.attempts,
        next_attempt_ms: record.next_attempt_ms,
        last_attempt_ms: record.last_attempt_ms,
        held: record.held,
        delay_dsn_sent: record.delay_dsn_sent,
        recipients,
    };
    check_destination(&destination).map_err(|reason| StorageError::corrupt(format!("{what}: {reason}")))?;
    Ok(destination)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn version_1_records_still_read() {
        let message = MessageRecordV1 {
            queued_ms: 7,
            sender_account: "alice".into(),
            mail_from: "alice@x.example".into(),
            size_bytes: 3,
            prefix: b"P".to_vec(),
            smtputf8: false,
            body: 1,
            requiretls: false,
            envid: None,
            return_headers_only: false,
        };
        let value = encode(MESSAGE_RECORD_VERSION_V1, &message).unwrap();
        let decoded = decode_message(QueueId(4), &value).unwrap();
        assert_eq!((decoded.queued_ms, decoded.body, decoded.to_junk), (7, QueuedBody::EightBit, false));
        let v2 = MessageRecordV2 { v1: message, to_junk: true };
        let value = encode(MESSAGE_RECORD_VERSION_V2, &v2).unwrap();
        let decoded = decode_message(QueueId(4), &value).unwrap();
        assert_eq!((decoded.queued_ms, decoded.to_junk, decoded.tls_optional), (7, true, false));
        let reencoded = decode_message(QueueId(4), &encode_message(&decoded).unwrap()).unwrap();
        assert_eq!(reencoded, decoded);
        // Version 3 (before `tls_report`) reads with it false; version 4 keeps it.
        let value = encode(MESSAGE_RECORD_VERSION_V3, &MessageRecordV3 { v2, tls_optional: true }).unwrap();
        let decoded = decode_message(QueueId(4), &value).unwrap();
        assert_eq!((decoded.to_junk, decoded.tls_optional, decoded.tls_report), (true, true, false));
        let report = QueuedMessage { tls_report: true, ..decoded };
        let reencoded = decode_message(QueueId(4), &encode_message(&report).unwrap()).unwrap();
        assert_eq!(reencoded, report);
        let recipient = RecipientRecordV1 {
            address: "a@y.example".into(),
            notify: Some("FAILURE".into()),
            original: None,
            last_result: None,
        };
        let destination = DestinationRecordV1 {
            domain: "y.example".into(),
            attempts: 2,
            next_attempt_ms: 9,
            last_attempt_ms: Some(8),
            held: true,
            delay_dsn_sent: false,
            recipients: vec![recipient],
        };
        let value = encode(DESTINATION_RECORD_VERSION_V1, &destination).unwrap();
        let key = DestinationKey { message: QueueId(4), index: 0 };
        let decoded = decode_destination(key, &value).unwrap();
        assert_eq!((decoded.attempts, decoded.held), (2, true));
        assert_eq!(decoded.recipients[0].notify.as_deref(), Some("FAILURE"));
        assert_eq!(decoded.recipients[0].account, None);
        // Written back, it is a version-2 record that reads the same.
        let again = decode_destination(key, &encode_destination(&decoded).unwrap()).unwrap();
        assert_eq!(again, decoded);
    }
}
