//! Change events an account actor publishes after each commit, and the subscriptions
//! through which sessions on any core receive them (IMAP IDLE and untagged updates).
//!
//! A subscription's backlog is bounded ([`SUBSCRIPTION_BACKLOG_MAX`]): a session that stops
//! reading does not make the server hold every change for it. When the backlog is full the
//! subscription drops what it holds and reports [`Notification::Overflowed`]; the session
//! then re-reads its state from storage (it is behind, not wrong).

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};

use moxide_storage::{Flags, MailboxId, MessageId, ModSeq, Uid};

/// Change batches a subscriber may have queued before it is told it overflowed. An IDLE
/// client that is not reading for a while gets at most this many batches buffered
/// (each usually one change); 256 is a few KiB per slow session.
pub const SUBSCRIPTION_BACKLOG_MAX: usize = 256;

/// One committed change to an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A message was added to a mailbox.
    Added {
        /// Mailbox it went into.
        mailbox: MailboxId,
        /// Its UID there.
        uid: Uid,
        /// The modseq of the addition.
        modseq: ModSeq,
        /// Account-wide message id.
        id: MessageId,
        /// Message size (file bytes plus stored prefix).
        size: u64,
    },
    /// Flags or keywords of a message changed.
    Flags {
        /// Its mailbox.
        mailbox: MailboxId,
        /// Its UID.
        uid: Uid,
        /// The new modseq.
        modseq: ModSeq,
        /// System flags now set.
        flags: Flags,
        /// Keywords now set.
        keywords: Vec<String>,
    },
    /// A mailbox was created (`from` is None), deleted (`to` is None) or renamed (NOTIFY's
    /// MailboxName event, RFC 5465 §5.4). A RENAME publishes one per mailbox it renamed
    /// or created.
    MailboxName {
        /// The name before, as stored.
        from: Option<String>,
        /// The name after, as stored.
        to: Option<String>,
    },
    /// A name was subscribed or unsubscribed (NOTIFY's SubscriptionChange, RFC 5465 §5.5).
    Subscription {
        /// The name, as stored (it need not exist).
        name: String,
        /// Subscribed now.
        subscribed: bool,
    },
    /// METADATA entries of a mailbox changed (RFC 5464; what NOTIFY's
    /// MailboxMetadataChange event reports).
    MailboxMetadata {
        /// The mailbox.
        mailbox: MailboxId,
        /// The entry names set or removed.
        entries: Vec<String>,
    },
    /// The server's METADATA entries changed (NOTIFY's ServerMetadataChange event).
    ServerMetadata {
        /// The entry names set or removed.
        entries: Vec<String>,
    },
    /// Messages were expunged from a mailbox.
    Expunged {
        /// Their mailbox.
        mailbox: MailboxId,
        /// Their UIDs.
        uids: Vec<Uid>,
        /// The modseq of the expunge.
        modseq: ModSeq,
    },
}

/// What a commit changed in one account, shared by every subscriber on every core.
#[derive(Debug, Clone)]
pub struct ChangeBatch {
    /// The account.
    pub account: Arc<str>,
    /// The changes, in commit order.
    pub changes: Arc<[Change]>,
}

/// What a subscriber receives.
#[derive(Debug, Clone)]
pub enum Notification {
    /// Changes committed since the previous notification.
    Changes(ChangeBatch),
    /// The backlog overflowed and was dropped: re-read state from storage.
    Overflowed,
}

/// A subscriber's queue, shared by the subscription and its core's node.
pub(crate) type SharedSlot = Rc<RefCell<Slot>>;

/// Unsubscribes; given the leaving subscription's slot.
pub(crate) type OnDrop = Box<dyn FnOnce(&SharedSlot)>;

pub(crate) struct Slot {
    queue: VecDeque<ChangeBatch>,
    overflowed: bool,
    waker: Option<Waker>,
}

/// A session's subscription to one account's changes. Dropping it unsubscribes.
pub struct Subscription {
    pub(crate) slot: Rc<RefCell<Slot>>,
    /// Runs when the subscription is dropped, given its own slot (still alive then).
    pub(crate) on_drop: Option<OnDrop>,
}

impl Change {
    /// The mailbox whose messages the change is about (None for mailbox-list,
    /// subscription and METADATA changes, which change no message view).
    pub fn mailbox(&self) -> Option<MailboxId> {
        match self {
            Change::Added { mailbox, .. }
            | Change::Flags { mailbox, .. }
            | Change::Expunged { mailbox, .. } => Some(*mailbox),
            Change::MailboxName { .. }
            | Change::Subscription { .. }
            | Change::MailboxMetadata { .. }
            | Change::ServerMetadata { .. } => None,
        }
    }
}

impl Slot {
    pub(crate) fn new_shared() -> Rc<RefCell<Slot>> {
        Rc::new(RefCell::new(Slot { queue: VecDeque::new(), overflowed: false, waker: None }))
    }

    pub(crate) fn push(&mut self, batch: &ChangeBatch) {
        if self.overflowed {
            return;
        }
        if self.queue.len() >= SUBSCRIPTION_BACKLOG_MAX {
            self.queue.clear();
            self.overflowed = true;
        } else {
            self.queue.push_back(batch.clone());
        }
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }
}

impl Subscription {
    /// Waits for the next notification.
    pub async fn next(&self) -> Notification {
        poll_fn(|cx| match self.try_next() {
            Some(notification) => Poll::Ready(notification),
            None => {
                self.slot.borrow_mut().waker = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }

    /// The next notification if one is queued.
    pub fn try_next(&self) -> Option<Notification> {
        let mut slot = self.slot.borrow_mut();
        if slot.overflowed {
            slot.overflowed = false;
            return Some(Notification::Overflowed);
        }
        slot.queue.pop_front().map(Notification::Changes)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if let Some(on_drop) = self.on_drop.take() {
            on_drop(&self.slot);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn batch(n: u32) -> ChangeBatch {
        ChangeBatch {
            account: Arc::from("a"),
            changes: Arc::from(vec![Change::Expunged {
                mailbox: MailboxId(1),
                uids: vec![Uid(n)],
                modseq: ModSeq(1),
            }]),
        }
    }

    #[test]
    fn backlog_overflow_is_reported_once_then_flow_resumes() {
        let subscription = Subscription { slot: Slot::new_shared(), on_drop: None };
        for n in 0..=SUBSCRIPTION_BACKLOG_MAX as u32 {
            subscription.slot.borrow_mut().push(&batch(n));
        }
        assert!(matches!(subscription.try_next(), Some(Notification::Overflowed)));
        assert!(subscription.try_next().is_none());
        subscription.slot.borrow_mut().push(&batch(7));
        assert!(matches!(subscription.try_next(), Some(Notification::Changes(_))));
    }

    #[test]
    fn drop_runs_unsubscribe() {
        let ran = Rc::new(std::cell::Cell::new(false));
        let ran_in = Rc::clone(&ran);
        drop(Subscription { slot: Slot::new_shared(), on_drop: Some(Box::new(move |_| ran_in.set(true))) });
        assert!(ran.get());
    }
}
