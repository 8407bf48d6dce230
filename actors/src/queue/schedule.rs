//! The retry schedule and what one attempt's results do to a destination: pure
//! functions of the stored destination, the per-recipient outcomes and the time.
//!
//! The schedule is mox's: the first attempt right away, then retries after 7.5 min,
//! 15 min, 30 min, 1 h, 2 h, 4 h and 8 h (each wait twice the one before), 8 attempts
//! in all; a recipient still failing temporarily after the 8th attempt fails for good,
//! about 15 h 52 min after the first. A delay DSN goes out once, after the 5th attempt
//! (about 1 h 52 min). Each wait is lengthened by a random part of up to
//! [`RETRY_JITTER_PERMILLE_MAX`] of itself (mox adds jitter too), so messages that failed
//! together (a destination down) do not all come back in the same second; the give-up
//! point moves by at most that share, to about 17 h 28 min.

use moxide_storage::queue::{
    Destination, QueueUpdate, QueuedMessage, QueuedRecipient, StoredReply, Suppression,
};

/// Wait after the first failed attempt: 7.5 minutes (RFC 5321 §4.5.4.1 asks for at
/// least 30 minutes between retries to one destination in general, but allows
/// shorter first retries, which greylisting makes worthwhile).
pub const RETRY_INTERVAL_FIRST_MS: i64 = 450_000;

/// Attempts before a temporary failure becomes permanent (mox's default).
pub const ATTEMPTS_MAX: u32 = 8;

/// After this many failed attempts the sender gets a delay DSN (once).
pub const DELAY_DSN_AFTER_ATTEMPTS: u32 = 5;
const _: () = assert!(DELAY_DSN_AFTER_ATTEMPTS < ATTEMPTS_MAX);

/// Most jitter added to a retry wait, in thousandths of the wait: 10 %.
pub const RETRY_JITTER_PERMILLE_MAX: u16 = 100;

/// What one attempt did for one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecipientOutcome {
    /// Accepted by the next hop (or stored locally).
    Delivered,
    /// Refused for good (5xx, or no way to deliver).
    Failed(StoredReply),
    /// Failed for now (4xx, no connection, a dropped connection); retried.
    Retry(StoredReply),
}

/// The wait after `attempts` failed attempts (1-based): 7.5 min × 2^(attempts-1).
pub fn retry_delay_ms(attempts: u32) -> i64 {
    RETRY_INTERVAL_FIRST_MS << attempts.saturating_sub(1).min(ATTEMPTS_MAX)
}

/// When a destination first tried at `first_attempt_ms` will have had its last try:
/// the sum of the waits before attempts 2 to [`ATTEMPTS_MAX`].
pub fn last_attempt_ms(first_attempt_ms: i64) -> i64 {
    first_attempt_ms + (1..ATTEMPTS_MAX).map(retry_delay_ms).sum::<i64>()
}

/// The result of planning one attempt's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    /// What to store for the destination.
    pub update: QueueUpdate,
    /// Recipients that failed for good in this attempt, for a failure DSN.
    pub failed: Vec<QueuedRecipient>,
    /// Recipients still queued, for a delay DSN; empty unless one is due now.
    pub delayed: Vec<QueuedRecipient>,
}

/// Applies `outcomes` (one per recipient, in order) of an attempt at `now_ms`, with no
/// jitter.
pub fn plan(destination: &Destination, outcomes: &[RecipientOutcome], now_ms: i64) -> Planned {
    plan_with_jitter(destination, outcomes, now_ms, 0)
}

/// [`plan`], the next wait lengthened by `jitter_permille` thousandths (capped at
/// [`RETRY_JITTER_PERMILLE_MAX`]; the caller draws it at random).
pub fn plan_with_jitter(
    destination: &Destination,
    outcomes: &[RecipientOutcome],
    now_ms: i64,
    jitter_permille: u16,
) -> Planned {
    assert_eq!(destination.recipients.len(), outcomes.len(), "one outcome per recipient");
    let attempts = destination.attempts.saturating_add(1);
    let give_up = attempts >= ATTEMPTS_MAX;
    let mut remaining = Vec::new();
    let mut failed = Vec::new();
    for (recipient, outcome) in destination.recipients.iter().zip(outcomes) {
        let with =
            |reply: &StoredReply| QueuedRecipient { last_result: Some(reply.clone()), ..recipient.clone() };
        match outcome {
            RecipientOutcome::Delivered => {}
            RecipientOutcome::Failed(reply) => failed.push(with(reply)),
            RecipientOutcome::Retry(reply) if give_up => failed.push(with(reply)),
            RecipientOutcome::Retry(reply) => remaining.push(with(reply)),
        }
    }
    if remaining.is_empty() {
        return Planned { update: QueueUpdate::Remove(destination.key), failed, delayed: Vec::new() };
    }
    let delay_due = attempts >= DELAY_DSN_AFTER_ATTEMPTS && !destination.delay_dsn_sent;
    let delayed = if delay_due { remaining.clone() } else { Vec::new() };
    let updated = Destination {
        attempts,
        next_attempt_ms: now_ms + with_jitter(retry_delay_ms(attempts), jitter_permille),
        last_attempt_ms: Some(now_ms),
        delay_dsn_sent: destination.delay_dsn_sent || delay_due,
        recipients: remaining,
        ..destination.clone()
    };
    Planned { update: QueueUpdate::Put(updated), failed, delayed }
}

/// `wait_ms` lengthened by `permille` thousandths of itself (at most the cap).
pub fn with_jitter(wait_ms: i64, permille: u16) -> i64 {
    wait_ms + wait_ms * i64::from(permille.min(RETRY_JITTER_PERMILLE_MAX)) / 1000
}

/// Whether a reply is a hard bounce, one that puts its recipient on the submitting
/// account's suppression list: a permanent failure given by a remote server about the
/// address itself (RFC 3463 class 5, subject 1: addressing status, e.g. 5.1.1 bad
/// mailbox, 5.1.2 bad domain), or a 550/551/553 without an enhanced code. Policy or
/// content refusals (5.7.x) and our own failures (no remote host) do not count: they
/// say nothing about whether the address exists.
pub fn is_hard_bounce(reply: &StoredReply) -> bool {
    if reply.remote_host.is_empty() || !(500..600).contains(&reply.code) {
        return false;
    }
    match reply.enhanced {
        Some((class, subject, _)) => class == 5 && subject == 1,
        None => matches!(reply.code, 550 | 551 | 553),
    }
}

/// The suppressions an attempt's permanent failures add (only for mail an account
/// submitted; DSNs and forwards have no account).
pub fn hard_bounces(message: &QueuedMessage, failed: &[QueuedRecipient], now_ms: i64) -> Vec<Suppression> {
    if message.sender_account.is_empty() {
        return Vec::new();
    }
    failed
        .iter()
        .filter(|r| r.account.is_none())
        .filter_map(|r| {
            let reply = r.last_result.as_ref().filter(|reply| is_hard_bounce(reply))?;
            Some(Suppression {
                account: message.sender_account.clone(),
                address: r.address.to_lowercase(),
                added_ms: now_ms,
                reason: format!("{} {}", reply.code, reply.text),
            })
        })
        .collect()
}

/// Whether a recipient's NOTIFY (RFC 3461 §4.1) asks for a DSN of this kind; without
/// NOTIFY, failures are reported and delays too (RFC 3461 §4.1 leaves delays to the MTA,
/// and mox reports them).
pub fn wants_dsn(recipient: &QueuedRecipient, delay: bool) -> bool {
    let Some(notify) = &recipient.notify else { return true };
    let word = if delay { "DELAY" } else { "FAILURE" };
    notify.split(',').any(|w| w.eq_ignore_ascii_case(word))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use moxide_storage::queue::{DestinationKey, QueueId};

    use super::*;

    fn destination(attempts: u32, addresses: &[&str]) -> Destination {
        Destination {
            key: DestinationKey { message: QueueId(1), index: 0 },
            domain: "x.example".into(),
            attempts,
            next_attempt_ms: 0,
            last_attempt_ms: None,
            held: false,
            delay_dsn_sent: false,
            recipients: addresses
                .iter()
                .map(|a| QueuedRecipient {
                    address: (*a).into(),
                    notify: None,
                    original: None,
                    last_result: None,
                    account: None,
                })
                .collect(),
        }
    }

    fn reply(code: u16) -> StoredReply {
        StoredReply { code, enhanced: None, text: "x".into(), remote_host: String::new() }
    }

    #[test]
    fn the_schedule_is_mox_s() {
        let waits: Vec<i64> = (1..ATTEMPTS_MAX).map(|a| retry_delay_ms(a) / 1000).collect();
        assert_eq!(waits, [450, 900, 1800, 3600, 7200, 14_400, 28_800]);
        assert_eq!(last_attempt_ms(0), 57_150_000, "15 h 52.5 min");
    }

    #[test]
    fn mixed_outcomes() {
        let d = destination(0, &["a@x.example", "b@x.example", "c@x.example"]);
        let outcomes = [
            RecipientOutcome::Delivered,
            RecipientOutcome::Failed(reply(550)),
            RecipientOutcome::Retry(reply(451)),
        ];
        let planned = plan(&d, &outcomes, 1000);
        assert_eq!(planned.failed.len(), 1);
        assert_eq!(planned.failed[0].address, "b@x.example");
        assert!(planned.delayed.is_empty());
        let QueueUpdate::Put(updated) = planned.update else { panic!("still queued") };
        assert_eq!(updated.attempts, 1);
        assert_eq!(updated.next_attempt_ms, 1000 + 450_000);
        assert_eq!(updated.recipients.len(), 1);
        assert_eq!(updated.recipients[0].last_result.as_ref().unwrap().code, 451);
    }

    #[test]
    fn delay_dsn_once_after_the_fifth_then_give_up_after_the_eighth() {
        let d = destination(4, &["a@x.example"]);
        let planned = plan(&d, &[RecipientOutcome::Retry(reply(451))], 0);
        assert_eq!(planned.delayed.len(), 1);
        let QueueUpdate::Put(after_fifth) = planned.update else { panic!() };
        assert!(after_fifth.delay_dsn_sent);
        let planned = plan(&after_fifth, &[RecipientOutcome::Retry(reply(451))], 0);
        assert!(planned.delayed.is_empty(), "only once");
        let planned = plan(&destination(7, &["a@x.example"]), &[RecipientOutcome::Retry(reply(451))], 0);
        assert_eq!(planned.update, QueueUpdate::Remove(DestinationKey { message: QueueId(1), index: 0 }));
        assert_eq!(planned.failed.len(), 1);
    }

    #[test]
    fn jitter_lengthens_the_wait_by_at_most_a_tenth() {
        let d = destination(0, &["a@x.example"]);
        let planned = plan_with_jitter(&d, &[RecipientOutcome::Retry(reply(451))], 0, 50);
        let QueueUpdate::Put(updated) = planned.update else { panic!("still queued") };
        assert_eq!(updated.next_attempt_ms, 450_000 + 22_500);
        assert_eq!(with_jitter(450_000, u16::MAX), 495_000, "capped at 10 %");
        assert_eq!(with_jitter(450_000, 0), 450_000);
    }

    #[test]
    fn only_remote_address_failures_are_hard_bounces() {
        let remote = |code, enhanced| StoredReply {
            code,
            enhanced,
            text: "x".into(),
            remote_host: "mx.x.example".into(),
        };
        assert!(is_hard_bounce(&remote(550, Some((5, 1, 1)))));
        assert!(is_hard_bounce(&remote(550, None)));
        assert!(!is_hard_bounce(&remote(550, Some((5, 7, 1)))), "policy");
        assert!(!is_hard_bounce(&remote(451, Some((4, 1, 1)))), "temporary");
        assert!(!is_hard_bounce(&reply(550)), "ours, not the remote host's");
    }

    #[test]
    fn notify_decides_which_dsns() {
        let mut r = destination(0, &["a@x.example"]).recipients.remove(0);
        assert!(wants_dsn(&r, false) && wants_dsn(&r, true));
        r.notify = Some("NEVER".into());
        assert!(!wants_dsn(&r, false) && !wants_dsn(&r, true));
        r.notify = Some("failure".into());
        assert!(wants_dsn(&r, false) && !wants_dsn(&r, true));
    }
}
