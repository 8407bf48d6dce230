//! New messages reported straight from the change event that announced them, without
//! asking the storage side what changed (issue 16, IDLE fan-out: one delivery wakes every
//! session idling on the mailbox, and a storage read each made that fan-out cost ~30 µs
//! per session).
//!
//! The event is enough only when the view is current: nothing else changed in the
//! mailbox between the view's modseq and the event's, which the caller guarantees by
//! handing over every change event of the mailbox in commit order (an overflowed
//! subscription, an expunge or a flag change goes through [`Session::mailbox_changed`],
//! which marks the view dirty), and the session checks here: no change is waiting
//! (`dirty`), the new UIDs are above the view's and their modseq above its modseq. Then
//! applying the event writes what a sync read at that commit would have written (EXISTS,
//! RECENT, NOTIFY's MessageNew FETCH, CONTEXT=SEARCH updates), through the same code.
//!
//! Only in IDLE: between commands and during them the existing points that allow updates
//! (RFC 9051 §7.5.1) keep reading from storage.

use std::ops::RangeInclusive;

use super::facts::MailboxChanges;
use super::selected::Selected;
use super::{RecentMode, Session};

/// What to do with a change event saying messages were added to the selected mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddedEvent {
    /// The view already shows them (a sync read them before the event was handled).
    Known,
    /// Report them from the event: claim `\Recent` as the mode says, then call
    /// [`Session::apply_added`].
    Apply(RecentMode),
    /// The view may be behind: call [`Session::mailbox_changed`] (a storage read).
    Sync,
}

impl Session {
    /// Whether an event "UIDs `first..=last` were added to the selected mailbox, the
    /// last at `modseq`" can be reported without a storage read (see the module doc).
    pub fn messages_added(&self, first: u32, last: u32, modseq: u64) -> AddedEvent {
        let Some(selected) = &self.selected else { return AddedEvent::Known };
        if last <= selected.max_uid() && modseq <= selected.last_modseq {
            return AddedEvent::Known;
        }
        let allow_expunge = self.running.as_ref().is_some_and(|running| running.allow_expunge);
        // RFC 5465 §3: after NOTIFY without SELECTED no updates go out at all.
        let updates_on = self.selected_updates() != super::notify::SelectedUpdates::Off;
        if !selected.dirty
            && !self.closing
            && updates_on
            && self.is_idling()
            && allow_expunge
            && first <= last
            && first > selected.max_uid()
            && modseq > selected.last_modseq
        {
            return AddedEvent::Apply(self.recent_mode());
        }
        AddedEvent::Sync
    }

    /// Reports `uids` (ascending, all above the view's highest), added up to `modseq`,
    /// with `recent` the UIDs this session claimed as `\Recent`: what the answer to a
    /// sync in IDLE would do. Call only after [`Session::messages_added`] said `Apply`.
    pub fn apply_added(&mut self, uids: Vec<u32>, modseq: u64, recent: Option<RangeInclusive<u32>>) {
        let above = self.selected.as_ref().map_or(0, Selected::max_uid);
        if uids.first().is_none_or(|&first| first <= above) {
            // Not what messages_added allowed: the storage read sorts it out.
            return self.mailbox_changed();
        }
        let changes =
            MailboxChanges { highest_modseq: modseq, added: uids, recent, ..MailboxChanges::default() };
        self.apply_idle_changes(changes);
    }
}
