//! The selected mailbox as this session sees it, and the rules for telling the client about
//! changes made elsewhere (RFC 9051 §5.2, §7.4.1, §7.5.1; RFC 7162 §3.2.10 VANISHED).
//!
//! The session keeps the UIDs of its view in sequence-number order. Change events from the
//! account actor only mark the view dirty; at the points where the protocol allows
//! untagged updates, [`Selected::sync`] reads what changed from storage by modseq (new
//! UIDs above the view's highest, tombstones and flag changes above the view's modseq) and
//! writes EXPUNGE/VANISHED, EXISTS and FETCH responses. Reading by modseq makes a lost or
//! overflowed event harmless: the next sync finds every change anyway.
//!
//! Invariants: `uids` is strictly increasing (a run-length [`UidList`], so an idle session
//! costs bytes, not 4 bytes per message); `last_modseq` only advances once expunges up to
//! it were reported (expunges may be withheld during FETCH/STORE/SEARCH, RFC 9051 §7.5.1).

use std::collections::HashMap;
use std::ops::ControlFlow;

use moxide_protocols::imap::{
    SequenceSet, format_uid_set, write_exists, write_expunge, write_flags, write_vanished,
};
use moxide_storage::{AccountStore, MailboxId, MailboxInfo, ModSeq, StorageError, Uid};

use super::flags;
use super::uids::UidList;
use crate::change::{Notification, Subscription};

/// What the session has enabled that changes how updates are written.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Updates {
    /// EXPUNGE responses may be sent now.
    pub(crate) allow_expunge: bool,
    /// QRESYNC is enabled: VANISHED instead of EXPUNGE.
    pub(crate) qresync: bool,
    /// CONDSTORE is enabled: MODSEQ in unsolicited FETCH responses.
    pub(crate) condstore: bool,
}

pub(crate) struct Selected {
    pub(crate) mailbox: MailboxId,
    pub(crate) read_only: bool,
    uids: UidList,
    last_modseq: u64,
    subscription: Subscription,
    dirty: bool,
    /// Flag changes this session's own STORE already reported: uid -> modseq.
    reported: HashMap<u32, u64>,
    /// SEARCHRES saved result (RFC 5182), as UIDs.
    pub(crate) saved: Vec<u32>,
}

impl Selected {
    /// A view of `info` as it is now. The subscription must have been made before, so no
    /// change after this read is missed.
    pub(crate) fn open(
        store: &AccountStore,
        info: &MailboxInfo,
        subscription: Subscription,
        read_only: bool,
    ) -> Result<Selected, StorageError> {
        let (uids, modseq) = store.read(|view| {
            let uids = UidList::from_sorted(view.uids(info.id)?.into_iter().map(|u| u.0));
            let modseq = view.mailbox(info.id)?.map_or(info.highest_modseq.0, |m| m.highest_modseq.0);
            Ok((uids, modseq))
        })?;
        Ok(Selected {
            mailbox: info.id,
            read_only,
            uids,
            last_modseq: modseq,
            subscription,
            dirty: false,
            reported: HashMap::new(),
            saved: Vec::new(),
        })
    }

    pub(crate) fn count(&self) -> u32 {
        self.uids.len()
    }

    pub(crate) fn max_uid(&self) -> u32 {
        self.uids.last().unwrap_or(0)
    }

    pub(crate) fn last_modseq(&self) -> u64 {
        self.last_modseq
    }

    pub(crate) fn seq_of(&self, uid: u32) -> Option<u32> {
        self.uids.seq_of(uid)
    }

    /// (seq, uid) of the messages a sequence set names, in sequence order. Numbers past the
    /// end are ignored (a client racing an expunge gets what still exists).
    pub(crate) fn resolve_seqs(&self, set: &SequenceSet) -> Vec<(u32, u32)> {
        if let SequenceSet::Saved = set {
            return self.saved.iter().filter_map(|&uid| self.seq_of(uid).map(|seq| (seq, uid))).collect();
        }
        let mut out = Vec::new();
        for range in set.resolve(self.count()) {
            out.extend(self.uids.by_seq(range));
        }
        out
    }

    /// (seq, uid) of the existing messages a UID set names, in UID order.
    pub(crate) fn resolve_uids(&self, set: &SequenceSet) -> Vec<(u32, u32)> {
        if let SequenceSet::Saved = set {
            return self.saved.iter().filter_map(|&uid| self.seq_of(uid).map(|seq| (seq, uid))).collect();
        }
        let mut out = Vec::new();
        for range in set.resolve(self.max_uid()) {
            out.extend(self.uids.by_uid(range));
        }
        out
    }

    /// Messages this session expunged itself: reports and removes them now (the command's
    /// own result, allowed whatever the command).
    pub(crate) fn remove_own(&mut self, expunged: &[u32], out: &mut Vec<u8>, qresync: bool) {
        let mut gone: Vec<u32> = expunged.iter().copied().filter(|&u| self.seq_of(u).is_some()).collect();
        gone.sort_unstable();
        self.report_expunged(&gone, out, qresync);
    }

    fn report_expunged(&mut self, gone: &[u32], out: &mut Vec<u8>, qresync: bool) {
        if gone.is_empty() {
            return;
        }
        if qresync {
            write_vanished(out, false, &format_uid_set(gone));
        } else {
            // Highest first, so each number is right when the client reads it: removing a
            // higher message does not renumber a lower one.
            for &uid in gone.iter().rev() {
                if let Some(seq) = self.seq_of(uid) {
                    write_expunge(out, seq);
                }
            }
        }
        self.uids.remove(gone);
        self.saved.retain(|u| gone.binary_search(u).is_err());
    }

    /// This session changed the mailbox (APPEND, COPY into it): look at storage at the
    /// next sync even if the change event has not arrived yet.
    pub(crate) fn mark_dirty(&mut self) {
        self.dirty = true;
    }

    /// Looks at storage for changes (one lookup): a poll does not wait for the change
    /// event, which may still be travelling from the account's core.
    pub(crate) fn poll(&mut self, store: &AccountStore) -> Result<(), StorageError> {
        let mailbox = self.mailbox;
        let highest = store.read(|view| Ok(view.mailbox(mailbox)?.map(|m| m.highest_modseq.0)))?;
        if highest != Some(self.last_modseq) {
            self.dirty = true;
        }
        Ok(())
    }

    /// This session's STORE reported `uid` at `modseq`; don't report it again.
    pub(crate) fn note_reported(&mut self, uid: u32, modseq: u64) {
        self.reported.insert(uid, modseq);
    }

    /// Takes queued change notifications; marks the view dirty when any concerns it.
    fn absorb_notifications(&mut self) {
        while let Some(notification) = self.subscription.try_next() {
            self.absorb(notification);
        }
    }

    /// Waits until a change notification arrives (IDLE) and takes it into account.
    pub(crate) async fn changed(&mut self) {
        let notification = self.subscription.next().await;
        self.absorb(notification);
    }

    fn absorb(&mut self, notification: Notification) {
        match notification {
            Notification::Overflowed => self.dirty = true,
            Notification::Changes(batch) => {
                if batch.changes.iter().any(|c| c.mailbox() == Some(self.mailbox)) {
                    self.dirty = true;
                }
            }
        }
    }

    /// Tells the client what changed since the last sync, as far as `updates` allows.
    pub(crate) fn sync(
        &mut self,
        store: &AccountStore,
        out: &mut Vec<u8>,
        updates: Updates,
    ) -> Result<(), StorageError> {
        self.absorb_notifications();
        if !self.dirty {
            return Ok(());
        }
        let mailbox = self.mailbox;
        let since = ModSeq(self.last_modseq);
        let max_uid = self.max_uid();
        let known = &self.uids;
        let (added, expunged, changed, highest) = store.read(|view| {
            let highest = view.mailbox(mailbox)?.map_or(self.last_modseq, |m| m.highest_modseq.0);
            let mut added = Vec::new();
            view.for_each_message(mailbox, Uid(max_uid.saturating_add(1)), Uid(u32::MAX), |record| {
                added.push(record.uid().0);
                ControlFlow::Continue(())
            })?;
            let mut expunged: Vec<u32> = Vec::new();
            let mut changed = Vec::new();
            if updates.allow_expunge {
                expunged = view
                    .expunged_since(mailbox, since)?
                    .into_iter()
                    .map(|(uid, _)| uid.0)
                    .filter(|uid| known.seq_of(*uid).is_some())
                    .collect();
                expunged.sort_unstable();
                for (uid, modseq) in view.changed_since(mailbox, since)? {
                    if known.seq_of(uid.0).is_none() {
                        continue;
                    }
                    if let Some(info) = view.message_by_uid(mailbox, uid)? {
                        changed.push((uid.0, modseq.0, flags::join(info.flags, info.keywords)));
                    }
                }
            }
            Ok((added, expunged, changed, highest))
        })?;
        if updates.allow_expunge {
            self.report_expunged(&expunged, out, updates.qresync);
        }
        if !added.is_empty() {
            self.uids.extend(added);
            write_exists(out, self.count());
        }
        if updates.allow_expunge {
            for (uid, modseq, flags) in changed {
                if self.reported.get(&uid) == Some(&modseq) {
                    continue;
                }
                let Some(seq) = self.seq_of(uid) else { continue };
                out.extend_from_slice(format!("* {seq} FETCH (UID {uid} FLAGS ").as_bytes());
                write_flags(out, &flags);
                if updates.condstore {
                    out.extend_from_slice(format!(" MODSEQ ({modseq})").as_bytes());
                }
                out.extend_from_slice(b")\r\n");
            }
            self.reported.clear();
            self.last_modseq = highest;
            self.dirty = false;
        }
        Ok(())
    }
}
