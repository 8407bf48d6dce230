//! The queue's sending policy, kept in the queue environment beside the messages so a
//! policy decision and the enqueue it governs commit in one transaction:
//!
//! - the **suppression list**: per account, recipient addresses that gave a hard bounce
//!   (or that an operator added); submission to them is refused;
//! - the **send record**: per account, what it queued for other domains in the last 24
//!   hours (recipients, and how many of them were first-time recipients) and every
//!   address it ever sent to, for the per-account send limits;
//! - **hold rules**: messages matching one (by sender account, sender domain, recipient
//!   domain) are queued held, until an operator releases them.
//!
//! Keys: `suppressions` and `known_recipients` are `account NUL address` (address lower
//! case); `sent` is `account NUL minute-ms(u64 BE)` per minute of submissions, with the
//! account's totals at `account NUL` (see [`encode_sent_totals`]); `hold_rules` is the rule id
//! (u64 BE). Values are a record-version byte and an rkyv archive, as the other records.

use rkyv::rancor::BoxedError;
use rkyv::{Archive, Deserialize, Serialize};

use super::records::QUEUE_ADDRESS_BYTES_MAX;
use crate::error::StorageError;
use crate::records::{archive_bytes, encode};

/// The window the send limits count over: 24 hours, sliding (mox's).
pub const SEND_WINDOW_MS: i64 = 24 * 3600 * 1000;

/// Most entries one listing of the suppression list or the hold rules returns (an
/// operator's listing; the lists have no other bound than the disk).
pub const POLICY_LIST_MAX: usize = 10_000;

/// Most entries on one page of the suppression list or the hold rules (the admin API's
/// pages): a page is built in one read transaction and answered whole.
pub const POLICY_PAGE_MAX: usize = 500;

/// Longest reason kept with a suppression: the bounce's reply text, cut.
pub const SUPPRESSION_REASON_BYTES_MAX: usize = 512;

const SUPPRESSION_RECORD_VERSION: u8 = 1;
const HOLD_RULE_RECORD_VERSION: u8 = 1;

/// One suppressed address of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppression {
    /// The account whose submissions to `address` are refused.
    pub account: String,
    /// The address, lower case.
    pub address: String,
    /// When it was added, Unix ms.
    pub added_ms: i64,
    /// Why: the bounce's reply, or an operator's note.
    pub reason: String,
}

/// A hold rule: a queued message matching every field given is held on entry.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HoldRule {
    /// Its id (assigned when added).
    pub id: u64,
    /// Only messages submitted by this account.
    pub account: Option<String>,
    /// Only messages whose MAIL FROM is in this domain (lower case).
    pub sender_domain: Option<String>,
    /// Only destinations in this domain (lower case).
    pub recipient_domain: Option<String>,
}

impl HoldRule {
    /// Whether a destination in `recipient_domain` of a message from `mail_from`,
    /// submitted by `account` (empty for DSNs and local retries), is held by this rule.
    /// A rule with no field matches everything.
    pub fn matches(&self, account: &str, mail_from: &str, recipient_domain: &str) -> bool {
        let sender_domain = mail_from.rsplit_once('@').map_or("", |(_, d)| d);
        self.account.as_deref().is_none_or(|a| a == account)
            && self.sender_domain.as_deref().is_none_or(|d| d.eq_ignore_ascii_case(sender_domain))
            && self.recipient_domain.as_deref().is_none_or(|d| d.eq_ignore_ascii_case(recipient_domain))
    }
}

/// An account's send limits, checked again inside the enqueue's transaction so that
/// two submissions at the limit cannot both pass (the session's early check reads
/// before either is recorded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendQuota {
    /// Recipients in other domains per window (each recipient counts as a message).
    pub messages_max: u32,
    /// Recipients the account never sent to before, per window.
    pub first_time_max: u32,
}

/// Which send limit a submission would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendLimitKind {
    /// [`SendQuota::messages_max`].
    Messages,
    /// [`SendQuota::first_time_max`].
    FirstTimeRecipients,
}

/// What an account queued in the send window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SendCounts {
    /// Recipients in other domains queued in the window.
    pub recipients: u64,
    /// Of those, recipients the account had never sent to before.
    pub first_time: u64,
}

#[derive(Archive, Serialize, Deserialize)]
struct SuppressionRecordV1 {
    added_ms: i64,
    reason: String,
}

#[derive(Archive, Serialize, Deserialize)]
struct HoldRuleRecordV1 {
    account: Option<String>,
    sender_domain: Option<String>,
    recipient_domain: Option<String>,
}

fn check_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= QUEUE_ADDRESS_BYTES_MAX && !name.chars().any(char::is_control)
}

/// `account NUL address`: the key of the suppression list and of the known recipients.
pub(crate) fn account_address_key(account: &str, address: &str) -> Result<Vec<u8>, StorageError> {
    if !check_name(account) || !check_name(address) || account.contains('\0') {
        return Err(StorageError::corrupt("account or address empty, too long or with control characters"));
    }
    let mut key = Vec::with_capacity(account.len() + 1 + address.len());
    key.extend_from_slice(account.as_bytes());
    key.push(0);
    key.extend_from_slice(address.to_lowercase().as_bytes());
    Ok(key)
}

/// `account NUL`: the prefix of an account's entries.
pub(crate) fn account_prefix(account: &str) -> Vec<u8> {
    let mut key = account.as_bytes().to_vec();
    key.push(0);
    key
}

/// The span of one entry of the send record: an account's submissions of one minute
/// share an entry, so an account keeps at most a day's minutes of them (1,441) however
/// much it sends, and the window slides by whole minutes.
pub(crate) const SENT_BUCKET_MS: i64 = 60_000;

/// `account NUL minute-ms`: the send record's entry for the minute holding `at_ms`.
pub(crate) fn sent_bucket_key(account: &str, at_ms: i64) -> Vec<u8> {
    let minute = at_ms.max(0) - at_ms.max(0) % SENT_BUCKET_MS;
    let mut key = account_prefix(account);
    key.extend_from_slice(&u64::try_from(minute).unwrap_or(0).to_be_bytes());
    key
}

/// The first instant at which the `sent` entry `key` (after an account prefix of
/// `prefix_len`) no longer counts: the end of its minute, or for a per-message entry
/// (`account NUL ms queue-id`, schema 2 before minute entries; they leave within a day)
/// just after its own time. An entry counts while this is after the window's start, so
/// a minute counts whole until all of it has left (the limits err on the strict side).
pub(crate) fn sent_entry_end(key: &[u8], prefix_len: usize) -> Result<i64, StorageError> {
    let span = match key.len().checked_sub(prefix_len) {
        Some(8) => SENT_BUCKET_MS,
        Some(16) => 1,
        _ => return Err(StorageError::corrupt("queue send record key of the wrong length")),
    };
    let bytes = key
        .get(prefix_len..prefix_len + 8)
        .and_then(|b| <[u8; 8]>::try_from(b).ok())
        .ok_or_else(|| StorageError::corrupt("queue send record key of the wrong length"))?;
    Ok(i64::try_from(u64::from_be_bytes(bytes)).unwrap_or(i64::MAX).saturating_add(span))
}

/// A `sent` entry's value: recipients and first-time recipients.
pub(crate) fn encode_sent(counts: SendCounts) -> [u8; 8] {
    let narrow = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    let mut out = [0; 8];
    out[..4].copy_from_slice(&narrow(counts.recipients).to_be_bytes());
    out[4..].copy_from_slice(&narrow(counts.first_time).to_be_bytes());
    out
}

pub(crate) fn decode_sent(value: &[u8]) -> Result<SendCounts, StorageError> {
    let bytes = <[u8; 8]>::try_from(value).map_err(|_| StorageError::corrupt("queue send record value"))?;
    let [a, b, c, d, e, f, g, h] = bytes;
    Ok(SendCounts {
        recipients: u64::from(u32::from_be_bytes([a, b, c, d])),
        first_time: u64::from(u32::from_be_bytes([e, f, g, h])),
    })
}

/// The `sent` totals record (key `account NUL`, sorting before the account's entries):
/// the sums of every entry the account has stored, kept by each enqueue, so a limit
/// check reads it and the few entries that left the window instead of the whole day.
pub(crate) fn encode_sent_totals(totals: SendCounts) -> [u8; 16] {
    let mut out = [0; 16];
    out[..8].copy_from_slice(&totals.recipients.to_be_bytes());
    out[8..].copy_from_slice(&totals.first_time.to_be_bytes());
    out
}

pub(crate) fn decode_sent_totals(value: &[u8]) -> Result<SendCounts, StorageError> {
    let bytes = <[u8; 16]>::try_from(value).map_err(|_| StorageError::corrupt("queue send totals value"))?;
    let (recipients, first_time) = bytes.split_at(8);
    let word = |b: &[u8]| <[u8; 8]>::try_from(b).map(u64::from_be_bytes).unwrap_or(0);
    Ok(SendCounts { recipients: word(recipients), first_time: word(first_time) })
}

impl SendCounts {
    pub(crate) fn plus(self, other: SendCounts) -> SendCounts {
        SendCounts {
            recipients: self.recipients.saturating_add(other.recipients),
            first_time: self.first_time.saturating_add(other.first_time),
        }
    }

    pub(crate) fn minus(self, other: SendCounts) -> SendCounts {
        SendCounts {
            recipients: self.recipients.saturating_sub(other.recipients),
            first_time: self.first_time.saturating_sub(other.first_time),
        }
    }
}

pub(crate) fn encode_suppression(added_ms: i64, reason: &str) -> Result<Vec<u8>, StorageError> {
    let mut reason = reason.replace(|c: char| c.is_control(), " ");
    if reason.len() > SUPPRESSION_REASON_BYTES_MAX {
        let mut end = SUPPRESSION_REASON_BYTES_MAX;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
    }
    encode(SUPPRESSION_RECORD_VERSION, &SuppressionRecordV1 { added_ms, reason })
}

pub(crate) fn decode_suppression(key: &[u8], value: &[u8]) -> Result<Suppression, StorageError> {
    let corrupt = |error: BoxedError| StorageError::corrupt(format!("suppression: {error}"));
    let (account, address) = split_account_key(key)?;
    let archive = archive_bytes(value, SUPPRESSION_RECORD_VERSION, "suppression")?;
    let archived = rkyv::access::<ArchivedSuppressionRecordV1, BoxedError>(archive).map_err(corrupt)?;
    let record = rkyv::deserialize::<SuppressionRecordV1, BoxedError>(archived).map_err(corrupt)?;
    Ok(Suppression { account, address, added_ms: record.added_ms, reason: record.reason })
}

fn split_account_key(key: &[u8]) -> Result<(String, String), StorageError> {
    let text = std::str::from_utf8(key).map_err(|_| StorageError::corrupt("policy key is not UTF-8"))?;
    let (account, address) =
        text.split_once('\0').ok_or_else(|| StorageError::corrupt("policy key without account"))?;
    Ok((account.to_owned(), address.to_owned()))
}

pub(crate) fn check_hold_rule(rule: &HoldRule) -> Result<(), StorageError> {
    for name in [&rule.account, &rule.sender_domain, &rule.recipient_domain].into_iter().flatten() {
        if !check_name(name) {
            return Err(StorageError::corrupt("hold rule field empty, too long or with control characters"));
        }
    }
    Ok(())
}

pub(crate) fn encode_hold_rule(rule: &HoldRule) -> Result<Vec<u8>, StorageError> {
    check_hold_rule(rule)?;
    let lower = |d: &Option<String>| d.as_ref().map(|d| d.to_lowercase());
    let record = HoldRuleRecordV1 {
        account: rule.account.clone(),
        sender_domain: lower(&rule.sender_domain),
        recipient_domain: lower(&rule.recipient_domain),
    };
    encode(HOLD_RULE_RECORD_VERSION, &record)
}

pub(crate) fn decode_hold_rule(id: u64, value: &[u8]) -> Result<HoldRule, StorageError> {
    let corrupt = |error: BoxedError| StorageError::corrupt(format!("hold rule {id}: {error}"));
    let archive = archive_bytes(value, HOLD_RULE_RECORD_VERSION, "hold rule")?;
    let archived = rkyv::access::<ArchivedHoldRuleRecordV1, BoxedError>(archive).map_err(corrupt)?;
    let record = rkyv::deserialize::<HoldRuleRecordV1, BoxedError>(archived).map_err(corrupt)?;
    let rule = HoldRule {
        id,
        account: record.account,
        sender_domain: record.sender_domain,
        recipient_domain: record.recipient_domain,
    };
    check_hold_rule(&rule)?;
    Ok(rule)
}
