//! The selected mailbox as this session shows it, and the rules for telling the client
//! about changes made elsewhere (RFC 9051 §5.2, §7.4.1, §7.5.1; RFC 7162 §3.2.10
//! VANISHED; RFC 3501 §2.3.2 \Recent).
//!
//! The view keeps the UIDs in sequence-number order. Change events only mark it dirty; at
//! the points where the protocol allows untagged updates the session asks the storage
//! side what changed since the view's modseq (new UIDs above the view's highest, expunges
//! and flag changes after its modseq) and [`Selected::apply`] writes EXPUNGE/VANISHED,
//! EXISTS (with RECENT for IMAP4rev1) and FETCH responses. Asking by modseq makes a lost
//! or overflowed event harmless: the next sync finds every change anyway.
//!
//! Invariants: `uids` is strictly increasing (a run-length [`UidList`], so an idle
//! session costs bytes, not 4 bytes per message); `recent` and `saved` are subsets of
//! `uids`; `last_modseq` only advances once expunges up to it were reported (expunges are
//! withheld during FETCH, STORE and SEARCH, RFC 9051 §7.5.1), which is what lets the
//! storage side keep an expunged message readable until then.

use std::collections::HashMap;
use std::ops::RangeInclusive;

use super::context::{SearchContext, remove_expunged};
use super::facts::{FlagFact, MailboxChanges};
use super::flags::Announced;
use super::lines::{FlagForm, FlagLine, Lines};
use super::output::OutputQueue;
use super::uids::UidList;
use crate::imap::response::{write_exists, write_recent, write_vanished};
use crate::imap::types::{SequenceSet, format_uid_set};

/// What the session has enabled that changes how updates are written.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Updates {
    /// EXPUNGE responses (and flag updates) may be sent now.
    pub(crate) allow_expunge: bool,
    /// QRESYNC or UIDONLY is enabled: VANISHED instead of EXPUNGE.
    pub(crate) qresync: bool,
    /// CONDSTORE is enabled: MODSEQ in unsolicited FETCH responses.
    pub(crate) condstore: bool,
    /// UIDONLY is enabled (RFC 9586 §3.3): UIDFETCH instead of FETCH.
    pub(crate) uidonly: bool,
    /// An IMAP4rev1 session: RECENT responses and the `\Recent` flag.
    pub(crate) rev1: bool,
    /// Other sessions' flag changes are not reported (NOTIFY's SELECTED filter without
    /// FlagChange, RFC 5465 §5.1).
    pub(crate) hide_flag_changes: bool,
}

/// The selected mailbox.
#[derive(Debug)]
pub(crate) struct Selected {
    pub(crate) name: String,
    pub(crate) read_only: bool,
    pub(crate) uids: UidList,
    /// UIDs that are `\Recent` in this session (IMAP4rev1).
    pub(crate) recent: UidList,
    pub(crate) last_modseq: u64,
    /// The highest modseq this session has seen (reported or shown): what HIGHESTMODSEQ
    /// tells a client that just enabled CONDSTORE.
    pub(crate) highest_seen: u64,
    /// A change may be waiting in storage.
    pub(crate) dirty: bool,
    /// Flag changes this session's own STORE already reported: uid → modseq.
    reported: HashMap<u32, u64>,
    /// SEARCHRES saved result (RFC 5182), as UIDs.
    pub(crate) saved: UidList,
    pub(crate) announced: Announced,
    /// SEARCH contexts with UPDATE (RFC 5267 §4), see [`super::context`].
    pub(crate) contexts: Vec<SearchContext>,
    /// Messages arrived or changed since the contexts' results were made.
    pub(crate) contexts_stale: bool,
}

impl Selected {
    pub(crate) fn new(name: String, read_only: bool, uids: UidList, modseq: u64) -> Selected {
        Selected {
            name,
            read_only,
            uids,
            recent: UidList::default(),
            last_modseq: modseq,
            highest_seen: modseq,
            dirty: false,
            reported: HashMap::new(),
            saved: UidList::default(),
            announced: Announced::default(),
            contexts: Vec::new(),
            contexts_stale: false,
        }
    }

    pub(crate) fn count(&self) -> u32 {
        self.uids.len()
    }

    pub(crate) fn max_uid(&self) -> u32 {
        self.uids.last().unwrap_or(0)
    }

    pub(crate) fn seq_of(&self, uid: u32) -> Option<u32> {
        self.uids.seq_of(uid)
    }

    /// Marks UIDs as `\Recent` in this session.
    pub(crate) fn add_recent(&mut self, range: Option<RangeInclusive<u32>>) {
        if let Some(range) = range {
            let held: Vec<u32> = self.uids.by_uid(range).map(|(_, uid)| uid).collect();
            self.recent.extend(held);
        }
    }

    /// (seq, uid) of the messages a set names, in ascending order, each once. Sequence
    /// numbers past the end are ignored (a client racing an expunge gets what still
    /// exists); `$` is the saved result (RFC 5182).
    pub(crate) fn resolve(&self, set: &SequenceSet, uid_mode: bool) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        if let SequenceSet::Saved = set {
            out.extend(self.saved.iter().filter_map(|uid| self.seq_of(uid).map(|seq| (seq, uid))));
            return out;
        }
        if uid_mode {
            for range in set.resolve(self.max_uid()) {
                out.extend(self.uids.by_uid(range));
            }
        } else {
            for range in set.resolve(self.count()) {
                out.extend(self.uids.by_seq(range));
            }
        }
        out
    }

    /// Messages this session expunged itself: reports and removes them now (the
    /// command's own result, allowed whatever the command).
    pub(crate) fn remove_own(&mut self, expunged: &[u32], out: &mut OutputQueue, qresync: bool) {
        let mut gone: Vec<u32> = expunged.iter().copied().filter(|&u| self.uids.contains(u)).collect();
        gone.sort_unstable();
        gone.dedup();
        self.report_expunged(&gone, out, qresync);
    }

    /// Reports `gone` (sorted, in the view): one VANISHED, or an EXPUNGE each, made as
    /// they are written ([`Lines`]), then removes them from the view.
    fn report_expunged(&mut self, gone: &[u32], out: &mut OutputQueue, qresync: bool) {
        if gone.is_empty() {
            return;
        }
        // RFC 5267 §4.3: a context's REMOVEFROM goes before the EXPUNGE that removes
        // the message, so its numbers are those the client still has.
        remove_expunged(self, gone, out.buf());
        if qresync {
            write_vanished(out.buf(), false, &format_uid_set(gone));
        } else {
            // The sequence numbers before any removal, as runs: the responses go out
            // highest first, so each number is right when the client reads it.
            let mut seqs: Vec<RangeInclusive<u32>> = Vec::new();
            for seq in gone.iter().filter_map(|&uid| self.seq_of(uid)) {
                match seqs.last_mut() {
                    Some(run) if *run.end() + 1 == seq => *run = *run.start()..=seq,
                    _ => seqs.push(seq..=seq),
                }
            }
            out.lines(Lines::expunges(seqs));
        }
        self.uids.remove(gone);
        self.recent.remove(gone);
        self.saved.remove(gone);
    }

    /// This session's STORE reported `uid` at `modseq`; a later sync must not repeat it.
    pub(crate) fn note_reported(&mut self, uid: u32, modseq: u64) {
        self.reported.insert(uid, modseq);
        self.saw_modseq(modseq);
    }

    /// The session showed a message at `modseq`.
    pub(crate) fn saw_modseq(&mut self, modseq: u64) {
        self.highest_seen = self.highest_seen.max(modseq);
    }

    /// Queues flags FETCH responses, unsolicited or STORE's: `* seq FETCH ([UID u ]FLAGS
    /// (..)[ MODSEQ (m)])` for each fact in order (those not in the view are skipped),
    /// made as they are written ([`Lines`]); new keywords are announced first.
    pub(crate) fn queue_flags(
        &mut self,
        out: &mut OutputQueue,
        facts: impl IntoIterator<Item = FlagFact>,
        uid_item: bool,
        updates: Updates,
    ) {
        let mut lines = Vec::new();
        for fact in facts {
            let Some(seq) = self.seq_of(fact.uid) else { continue };
            self.announced.announce(out.buf(), self.read_only, fact.keywords.iter().map(String::as_str));
            let recent = updates.rev1 && self.recent.contains(fact.uid);
            lines.push(FlagLine { seq, fact, recent });
        }
        if !lines.is_empty() {
            let form = if updates.uidonly {
                FlagForm::UidFetch
            } else if uid_item {
                FlagForm::FetchWithUid
            } else {
                FlagForm::Fetch
            };
            out.lines(Lines::flags(lines, form, updates.condstore));
        }
    }

    /// Tells the client what changed, as far as `updates` allows (see the module doc).
    pub(crate) fn apply(&mut self, changes: MailboxChanges, out: &mut OutputQueue, updates: Updates) {
        let MailboxChanges { highest_modseq, added, recent, expunged, changed } = changes;
        if updates.allow_expunge {
            let mut gone: Vec<u32> = expunged.into_iter().filter(|&uid| self.uids.contains(uid)).collect();
            gone.sort_unstable();
            gone.dedup();
            self.report_expunged(&gone, out, updates.qresync);
        }
        let before = self.count();
        let known_max = self.max_uid();
        self.uids.extend(added);
        if self.count() != before {
            self.contexts_stale |= !self.contexts.is_empty();
            self.add_recent(recent);
            write_exists(out.buf(), self.count());
            if updates.rev1 {
                write_recent(out.buf(), self.recent.len());
            }
        }
        if !updates.allow_expunge {
            // Flag updates wait with the expunges: the view's modseq must not pass an
            // unreported expunge.
            return;
        }
        let mut changed = changed;
        self.contexts_stale |= !self.contexts.is_empty() && !changed.is_empty();
        changed.sort_unstable_by_key(|fact| fact.uid);
        // A message new in this sync is announced by EXISTS; its flags are fetched.
        let reported = std::mem::take(&mut self.reported);
        changed.retain(|fact| fact.uid <= known_max && reported.get(&fact.uid) != Some(&fact.modseq));
        if updates.hide_flag_changes {
            changed.clear();
        }
        self.queue_flags(out, changed, true, updates);
        self.last_modseq = self.last_modseq.max(highest_modseq);
        self.saw_modseq(self.last_modseq);
        self.dirty = false;
    }
}
