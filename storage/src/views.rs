//! [`Views`]: what the live views of an account's mailboxes (IMAP sessions with a mailbox
//! selected, on any core) hold on to, kept in memory beside the open store.
//!
//! - **Pins** (deferred removal). A session may refer to a message another session
//!   expunged until it has told its client (RFC 9051 §7.5.1 forbids EXPUNGE responses in
//!   the middle of FETCH, STORE and SEARCH), and must still serve it meanwhile. Each view
//!   pins the modseq up to which it has reported expunges; expunged messages with a
//!   larger expunge modseq keep their record, summary and file (the `expunged` database,
//!   see `expunged.rs`) until every view has moved past them. [`Views::purge_bound`] is
//!   the smallest pin.
//! - **\Recent claims** (RFC 3501 §2.3.2, IMAP4rev1 only): a new message is recent in
//!   exactly one session, the first to be told about it. Per mailbox the registry keeps
//!   the highest UID ever claimed (the mark) and the UID ranges claimed by live views; a
//!   new process starts each mailbox's mark at the messages saved before the store
//!   opened, so a restart does not make a whole mailbox recent.
//!
//! Invariants: a view's pin only moves forward; dropping a view removes its pin and its
//! claims; the registry holds no storage handle (it is plain bookkeeping under a mutex,
//! held for a few map operations, or once per mailbox for the caller's mark lookup).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::ids::{MailboxId, ModSeq, Uid};

/// The live views of one account's mailboxes. Shared by the store and its [`View`]s.
#[derive(Debug, Default)]
pub struct Views {
    inner: Mutex<Inner>,
    /// When the store opened, Unix milliseconds: messages saved before are old (not
    /// `\Recent`) in this process.
    opened_ms: i64,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    /// View id → the modseq up to which it reported expunges.
    pins: BTreeMap<u64, u64>,
    recent: HashMap<MailboxId, Recent>,
}

/// \Recent bookkeeping of one mailbox.
#[derive(Debug)]
struct Recent {
    /// The highest UID that was ever made recent (or was old when the store opened).
    mark: u32,
    /// (view id, first UID, last UID) claimed by live views.
    held: Vec<(u64, u32, u32)>,
}

/// One live view: a pin, and the \Recent claims it holds. Dropping it releases both.
#[derive(Debug)]
pub struct View {
    views: Arc<Views>,
    id: u64,
}

impl Views {
    /// The views of a store opened at `opened_ms` (Unix milliseconds).
    pub(crate) fn new(opened_ms: i64) -> Views {
        Views { inner: Mutex::default(), opened_ms }
    }

    /// When the store opened: messages saved before count as old for `\Recent`.
    pub fn opened_ms(&self) -> i64 {
        self.opened_ms
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every mutation below is a single map operation: a panic cannot leave a half
        // update behind, so a poisoned lock is still consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A new view pinned at `modseq`: expunges after it are kept for the view.
    pub(crate) fn open(self: &Arc<Self>, modseq: ModSeq) -> View {
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        inner.pins.insert(id, modseq.0);
        View { views: Arc::clone(self), id }
    }

    /// The smallest pin: expunged messages whose expunge modseq is at most this are
    /// referenced by no view. `u64::MAX` when no view is open.
    pub fn purge_bound(&self) -> ModSeq {
        ModSeq(self.lock().pins.values().copied().min().unwrap_or(u64::MAX))
    }

    /// UID ranges of `mailbox` whose messages are recent in some session or would be
    /// for the next one (above the mark): what STATUS RECENT counts. `None` when no
    /// session looked at the mailbox since the store opened: then the messages saved
    /// since [`Views::opened_ms`] are the recent ones.
    pub fn recent_ranges(&self, mailbox: MailboxId) -> Option<Vec<(Uid, Uid)>> {
        let inner = self.lock();
        let recent = inner.recent.get(&mailbox)?;
        let mut ranges: Vec<(Uid, Uid)> =
            recent.held.iter().map(|&(_, first, last)| (Uid(first), Uid(last))).collect();
        if recent.mark < u32::MAX {
            ranges.push((Uid(recent.mark + 1), Uid(u32::MAX)));
        }
        Some(ranges)
    }
}

impl View {
    /// The view reported every expunge up to `modseq`. Pins never move back.
    pub fn advance(&self, modseq: ModSeq) {
        let mut inner = self.views.lock();
        if let Some(pin) = inner.pins.get_mut(&self.id) {
            *pin = (*pin).max(modseq.0);
        }
    }

    /// Claims \Recent for this view on the messages of `mailbox` up to `highest` that no
    /// session claimed before: returns the claimed range, if any. `mark_at_open` gives
    /// the highest UID that counts as old when the mailbox is first claimed in this
    /// process (the last message saved before the store opened); it runs at most once
    /// per mailbox, under the registry's lock.
    pub fn claim_recent(
        &self,
        mailbox: MailboxId,
        highest: Uid,
        mark_at_open: impl FnOnce() -> Uid,
    ) -> Option<(Uid, Uid)> {
        let mut inner = self.views.lock();
        let recent = inner
            .recent
            .entry(mailbox)
            .or_insert_with(|| Recent { mark: mark_at_open().0, held: Vec::new() });
        if highest.0 <= recent.mark {
            return None;
        }
        let claimed = (recent.mark + 1, highest.0);
        recent.mark = highest.0;
        // A session that keeps claiming new mail (IDLE on INBOX for weeks) extends its
        // last range instead of adding one per delivery.
        match recent.held.last_mut() {
            Some((id, _, last)) if *id == self.id && last.checked_add(1) == Some(claimed.0) => {
                *last = claimed.1;
            }
            _ => recent.held.push((self.id, claimed.0, claimed.1)),
        }
        Some((Uid(claimed.0), Uid(claimed.1)))
    }

    /// This view no longer shows `mailbox` (UNSELECT, CLOSE, another SELECT): its
    /// claims there end (RFC 3501 §2.3.2: \Recent lasts for the session's view).
    pub fn release_recent(&self, mailbox: MailboxId) {
        let mut inner = self.views.lock();
        if let Some(recent) = inner.recent.get_mut(&mailbox) {
            recent.held.retain(|&(id, ..)| id != self.id);
        }
    }
}

impl Drop for View {
    fn drop(&mut self) {
        let mut inner = self.views.lock();
        inner.pins.remove(&self.id);
        for recent in inner.recent.values_mut() {
            recent.held.retain(|&(id, ..)| id != self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bound_is_the_smallest_pin_and_views_release_it() {
        let views = Arc::new(Views::default());
        assert_eq!(views.purge_bound(), ModSeq(u64::MAX));
        let a = views.open(ModSeq(10));
        let b = views.open(ModSeq(7));
        assert_eq!(views.purge_bound(), ModSeq(7));
        b.advance(ModSeq(12));
        b.advance(ModSeq(3));
        assert_eq!(views.purge_bound(), ModSeq(10));
        drop(a);
        assert_eq!(views.purge_bound(), ModSeq(12));
        drop(b);
        assert_eq!(views.purge_bound(), ModSeq(u64::MAX));
    }

    #[test]
    fn a_message_is_recent_in_one_view_only() {
        let views = Arc::new(Views::default());
        let inbox = MailboxId(1);
        let a = views.open(ModSeq(1));
        let b = views.open(ModSeq(1));
        assert_eq!(views.recent_ranges(inbox), None);
        assert_eq!(a.claim_recent(inbox, Uid(5), || Uid(3)), Some((Uid(4), Uid(5))));
        assert_eq!(b.claim_recent(inbox, Uid(5), || unreachable!("mark set once")), None);
        assert_eq!(b.claim_recent(inbox, Uid(7), || Uid(0)), Some((Uid(6), Uid(7))));
        assert_eq!(
            views.recent_ranges(inbox),
            Some(vec![(Uid(4), Uid(5)), (Uid(6), Uid(7)), (Uid(8), Uid(u32::MAX))])
        );
        a.release_recent(inbox);
        drop(b);
        assert_eq!(views.recent_ranges(inbox), Some(vec![(Uid(8), Uid(u32::MAX))]));
    }

    #[test]
    fn one_view_claiming_delivery_after_delivery_holds_one_range() {
        let views = Arc::new(Views::default());
        let inbox = MailboxId(1);
        let idler = views.open(ModSeq(1));
        for uid in 1..=1000 {
            assert_eq!(idler.claim_recent(inbox, Uid(uid), || Uid(0)), Some((Uid(uid), Uid(uid))));
        }
        assert_eq!(views.recent_ranges(inbox), Some(vec![(Uid(1), Uid(1000)), (Uid(1001), Uid(u32::MAX))]));
        let other = views.open(ModSeq(1));
        assert_eq!(other.claim_recent(inbox, Uid(1001), || Uid(0)), Some((Uid(1001), Uid(1001))));
        assert_eq!(idler.claim_recent(inbox, Uid(1002), || Uid(0)), Some((Uid(1002), Uid(1002))));
        assert_eq!(
            views.recent_ranges(inbox).map(|r| r.len()),
            Some(4),
            "another's claim between: a new range"
        );
    }
}
