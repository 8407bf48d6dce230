//! Mailboxes, the storage side: SELECT's snapshot (after subscribing to the account's
//! changes and opening a view, so nothing committed after the read is missed or purged),
//! the syncs of the selected mailbox, LIST, STATUS, and CREATE/DELETE/RENAME/SUBSCRIBE
//! through the account actor.

use std::ops::ControlFlow;
use std::sync::Arc;

use moxide_protocols::imap::ResponseCode;
use moxide_protocols::imap::server::{
    Answer, CommandError, Event, MailboxChanges, MailboxList, MailboxSnapshot, QresyncFacts, RecentMode,
    UidList,
};
use moxide_protocols::imap::types::SequenceSet;
use moxide_storage::{AccountStore, MailboxId, ModSeq, ReadView, SpecialUse, StorageError, Uid, View};

use super::facts::{account_error, flag_fact, mailbox_facts, storage_error};
use super::session::{Conn, SelectedMailbox};

impl Conn {
    pub(crate) fn account_store(&self) -> Result<(Arc<str>, Arc<AccountStore>), CommandError> {
        let login = self.login.as_ref().ok_or(CommandError::Internal)?;
        Ok((Arc::clone(&login.account), Arc::clone(&login.store)))
    }

    pub(crate) async fn select(
        &mut self,
        name: &str,
        recent: RecentMode,
        qresync: Option<(u32, u64, Option<SequenceSet>)>,
    ) -> Answer {
        self.selected = None;
        let (account, store) = match self.account_store() {
            Ok(pair) => pair,
            Err(error) => return Answer::Failed(error),
        };
        let info = match store.read(|view| view.mailbox_by_name(name)) {
            Ok(Some(info)) => info,
            Ok(None) => return Answer::Failed(CommandError::no_such_mailbox(name)),
            Err(error) => return Answer::Failed(storage_error(error)),
        };
        // Subscribe and pin first: every change after the snapshot's read is then seen,
        // and every message in it stays readable until the session reported its expunge.
        let subscription = match self.node.subscribe(&account).await {
            Ok(subscription) => subscription,
            Err(error) => return Answer::Failed(account_error(error)),
        };
        let view = match store.open_view() {
            Ok(view) => view,
            Err(error) => return Answer::Failed(storage_error(error)),
        };
        // The snapshot walks up to every record of the mailbox (UIDs, the first unseen,
        // `\Recent`, QRESYNC's changes): on a helper thread, so a 100k-message mailbox
        // does not hold this core; a small one without QRESYNC is read here.
        let mailbox = info.id;
        let (snapshot, view) = if info.messages <= SELECT_HERE_MESSAGES_MAX && qresync.is_none() {
            (store.read(|read| snapshot(read, &store, &view, mailbox, recent, None)), view)
        } else {
            let read_store = Arc::clone(&store);
            let read = moxide_runtime::offload(move || {
                let snapshot = read_store
                    .read(|read| snapshot(read, &read_store, &view, mailbox, recent, qresync.as_ref()));
                (snapshot, view)
            })
            .await;
            match read {
                Ok(read) => read,
                Err(panic) => {
                    tracing::error!(%panic, "reading a mailbox snapshot panicked");
                    return Answer::Failed(CommandError::Internal);
                }
            }
        };
        match snapshot {
            Ok(snapshot) => {
                view.advance(ModSeq(snapshot.highest_modseq));
                self.selected = Some(SelectedMailbox { mailbox: info.id, subscription, view });
                Answer::Selected(snapshot)
            }
            Err(StorageError::NoSuchMailbox) => Answer::Failed(CommandError::no_such_mailbox(name)),
            Err(error) => Answer::Failed(storage_error(error)),
        }
    }

    /// What changed in the selected mailbox (see [`Event::Sync`]). The mailbox record,
    /// read on this core, tells whether anything did; what changed is read here when it
    /// is small (at most [`SYNC_INLINE_ENTRIES_MAX`] of each kind), else (up to every
    /// message of the mailbox after a large delivery or expunge elsewhere) on a helper
    /// thread.
    pub(crate) async fn sync(&self, event: &Event<'static>) -> Answer {
        let &Event::Sync { since_modseq, above_uid, expunges, recent } = event else {
            return Answer::Failed(CommandError::Internal);
        };
        let (Ok((_, store)), Some(selected)) = (self.account_store(), self.selected.as_ref()) else {
            return Answer::Changes(MailboxChanges::default());
        };
        let mailbox = selected.mailbox;
        let unchanged = MailboxChanges { highest_modseq: since_modseq, ..MailboxChanges::default() };
        let record = store.read(|view| view.mailbox(mailbox));
        match record {
            // Every delivery, flag change and expunge raises the mailbox's highest modseq.
            Ok(Some(info)) if info.highest_modseq.0 > since_modseq => {}
            Ok(_) => return Answer::Changes(unchanged),
            Err(error) => {
                tracing::error!(peer = %self.peer, %error, "reading mailbox changes failed");
                return Answer::Changes(unchanged);
            }
        }
        // A small change (a session's own STORE, a delivery: the common syncs) is read
        // here; past the budget the read goes to a helper thread.
        let since = (since_modseq, above_uid);
        let small = store.read(|view| changes(view, mailbox, since, expunges, SYNC_INLINE_ENTRIES_MAX));
        let read = match small {
            Ok(Some(changes)) => Ok(Ok(Some(changes))),
            Ok(None) => {
                let read_store = Arc::clone(&store);
                moxide_runtime::offload(move || {
                    read_store.read(|view| changes(view, mailbox, since, expunges, usize::MAX))
                })
                .await
            }
            Err(error) => Ok(Err(error)),
        };
        let mut changes = match read {
            Ok(Ok(Some(changes))) => changes,
            Ok(Ok(None)) => return Answer::Changes(unchanged),
            Ok(Err(error)) => {
                tracing::error!(peer = %self.peer, %error, "reading mailbox changes failed");
                return Answer::Changes(unchanged);
            }
            Err(panic) => {
                tracing::error!(peer = %self.peer, %panic, "reading mailbox changes panicked");
                return Answer::Changes(unchanged);
            }
        };
        if let (RecentMode::Claim, Some(&last)) = (recent, changes.added.last()) {
            changes.recent = selected
                .view
                .claim_recent(mailbox, Uid(last), || recent_mark_at_open(&store, mailbox))
                .map(|(a, b)| a.0..=b.0);
        }
        Answer::Changes(changes)
    }

    /// LIST's mailboxes (at most `limits.mailboxes_max`, read from their records on this
    /// core); with `\Recent` counts, which walk messages, on a helper thread; with
    /// DELETED-STORAGE sums (RFC 9208 §5.2) on a helper thread too.
    pub(crate) async fn list(&self, recent: bool, _status: bool, deleted_bytes: bool) -> Answer {
        let (_, store) = match self.account_store() {
            Ok(pair) => pair,
            Err(error) => return Answer::Failed(error),
        };
        let reader = Arc::clone(&store);
        let read = move || {
            reader.read(|view| {
                let mut mailboxes = Vec::new();
                for info in view.mailboxes()? {
                    let count = if recent { recent_count(view, &reader, info.id)? } else { 0 };
                    mailboxes.push(mailbox_facts(&info, count));
                }
                Ok(MailboxList { mailboxes, subscriptions: view.subscriptions()? })
            })
        };
        match read_off_core(recent, read).await {
            Ok(mut list) => {
                if deleted_bytes
                    && let Err(error) = super::quota::fill_deleted_bytes(store, &mut list.mailboxes).await
                {
                    return Answer::Failed(error);
                }
                Answer::Mailboxes(list)
            }
            Err(error) => Answer::Failed(error),
        }
    }

    /// STATUS: the mailbox record's counters on this core; a `\Recent` count, which
    /// walks messages, and DELETED-STORAGE on a helper thread.
    pub(crate) async fn status(&self, name: &str, recent: bool, deleted_bytes: bool) -> Answer {
        let (_, store) = match self.account_store() {
            Ok(pair) => pair,
            Err(error) => return Answer::Failed(error),
        };
        let reader = Arc::clone(&store);
        let name_owned = name.to_string();
        let read = move || {
            reader.read(|view| {
                let Some(info) = view.mailbox_by_name(&name_owned)? else { return Ok(None) };
                let count = if recent { recent_count(view, &reader, info.id)? } else { 0 };
                Ok(Some(mailbox_facts(&info, count)))
            })
        };
        match read_off_core(recent, read).await {
            Ok(Some(mut facts)) => {
                if deleted_bytes
                    && let Err(error) =
                        super::quota::fill_deleted_bytes(store, std::slice::from_mut(&mut facts)).await
                {
                    return Answer::Failed(error);
                }
                Answer::Status(facts)
            }
            Ok(None) => Answer::Failed(CommandError::no_such_mailbox(name)),
            Err(error) => Answer::Failed(error),
        }
    }

    pub(crate) async fn create(&mut self, name: String, special_use: Option<&str>) -> Answer {
        let special = match special_use.map(SpecialUse::from_attribute) {
            None => None,
            Some(Some(special)) => Some(special),
            Some(None) => {
                return Answer::Failed(CommandError::no(
                    ResponseCode::Cannot,
                    "this special-use is not supported",
                ));
            }
        };
        let Ok((account, _)) = self.account_store() else { return Answer::Failed(CommandError::Internal) };
        match self.node.create_mailbox(&account, name, special).await {
            Ok(info) => Answer::Created(super::facts::mailbox_key(&info)),
            Err(error) => Answer::Failed(account_error(error)),
        }
    }

    pub(crate) async fn delete(&mut self, name: String) -> Answer {
        let Ok((account, _)) = self.account_store() else { return Answer::Failed(CommandError::Internal) };
        match self.node.delete_mailbox(&account, name).await {
            Ok(_) => Answer::Done,
            Err(error) => Answer::Failed(account_error(error)),
        }
    }

    pub(crate) async fn rename(&mut self, from: String, to: String) -> Answer {
        let Ok((account, _)) = self.account_store() else { return Answer::Failed(CommandError::Internal) };
        match self.node.rename_mailbox(&account, from, to).await {
            Ok(_) => Answer::Done,
            Err(error) => Answer::Failed(account_error(error)),
        }
    }

    pub(crate) async fn subscribe(&mut self, name: String, subscribed: bool) -> Answer {
        let Ok((account, _)) = self.account_store() else { return Answer::Failed(CommandError::Internal) };
        match self.node.set_subscribed(&account, name, subscribed).await {
            Ok(()) => Answer::Done,
            Err(error) => Answer::Failed(account_error(error)),
        }
    }
}

/// Runs `read` on a helper thread when `heavy` (work that grows with a mailbox's size),
/// else here.
pub(crate) async fn read_off_core<R: Send + 'static>(
    heavy: bool,
    read: impl FnOnce() -> Result<R, StorageError> + Send + 'static,
) -> Result<R, CommandError> {
    if !heavy {
        return read().map_err(storage_error);
    }
    match moxide_runtime::offload(read).await {
        Ok(result) => result.map_err(storage_error),
        Err(panic) => {
            tracing::error!(%panic, "a mailbox read panicked");
            Err(CommandError::Internal)
        }
    }
}

/// SELECT's read: UIDs, counters, the first unseen, `\Recent`, QRESYNC's changes.
fn snapshot(
    read: &ReadView<'_>,
    store: &AccountStore,
    view: &View,
    mailbox: MailboxId,
    recent: RecentMode,
    qresync: Option<&(u32, u64, Option<SequenceSet>)>,
) -> Result<MailboxSnapshot, StorageError> {
    let info = read.mailbox(mailbox)?.ok_or(StorageError::NoSuchMailbox)?;
    let uids = read.uids(mailbox)?;
    let highest = uids.last().copied();
    let mut first_unseen = None;
    if info.unseen > 0 {
        read.for_each_message(mailbox, Uid(1), Uid(u32::MAX), |record| {
            if record.flags().contains(moxide_storage::Flags::SEEN) {
                return ControlFlow::Continue(());
            }
            first_unseen = Some(record.uid().0);
            ControlFlow::Break(())
        })?;
    }
    let recent = match (recent, highest) {
        (RecentMode::Claim, Some(highest)) => view
            .claim_recent(mailbox, highest, || old_mark(read, store, mailbox, &uids))
            .map(|(a, b)| a.0..=b.0),
        (RecentMode::Peek, Some(highest)) => {
            let first = match store.views().recent_ranges(mailbox) {
                Some(ranges) => ranges.first().map(|range| range.0.0),
                None => Some(old_mark(read, store, mailbox, &uids).0.saturating_add(1)),
            };
            first.filter(|&first| first <= highest.0).map(|first| first..=highest.0)
        }
        _ => None,
    };
    let qresync = match qresync {
        Some((uidvalidity, modseq, known)) if *uidvalidity == info.uidvalidity.0 => {
            Some(qresync_facts(read, mailbox, *modseq, known.as_ref(), highest.map_or(0, |uid| uid.0))?)
        }
        _ => None,
    };
    Ok(MailboxSnapshot {
        mailbox_key: super::facts::mailbox_key(&info),
        name: info.name,
        uidvalidity: info.uidvalidity.0,
        uidnext: info.uidnext.0,
        highest_modseq: info.highest_modseq.0,
        uids: UidList::from_sorted(uids.iter().map(|uid| uid.0)),
        first_unseen,
        recent,
        qresync,
    })
}

/// [`old_mark`] in a read of its own: where `\Recent` claims of `mailbox` start, read
/// once per mailbox, at its first claim.
pub(crate) fn recent_mark_at_open(store: &AccountStore, mailbox: MailboxId) -> Uid {
    store
        .read(|read| {
            let uids = read.uids(mailbox)?;
            Ok(old_mark(read, store, mailbox, &uids))
        })
        .unwrap_or(Uid(0))
}

/// The highest UID of `mailbox` saved before the store opened: the messages above it
/// are the ones that arrived in this process (see `moxide_storage::Views`).
fn old_mark(read: &ReadView<'_>, store: &AccountStore, mailbox: MailboxId, uids: &[Uid]) -> Uid {
    let opened = store.views().opened_ms();
    for &uid in uids.iter().rev() {
        match read.message_by_uid(mailbox, uid) {
            Ok(Some(info)) if info.saved_ms >= opened => continue,
            _ => return uid,
        }
    }
    Uid(0)
}

/// How many messages of `mailbox` are `\Recent` in some session or unclaimed.
fn recent_count(read: &ReadView<'_>, store: &AccountStore, mailbox: MailboxId) -> Result<u32, StorageError> {
    let ranges = match store.views().recent_ranges(mailbox) {
        Some(ranges) => ranges,
        None => {
            let uids = read.uids(mailbox)?;
            let mark = old_mark(read, store, mailbox, &uids);
            vec![(Uid(mark.0.saturating_add(1)), Uid(u32::MAX))]
        }
    };
    let mut count = 0;
    for (first, last) in ranges {
        read.for_each_message(mailbox, first, last, |_| {
            count += 1;
            ControlFlow::Continue(())
        })?;
    }
    Ok(count)
}

/// RFC 7162 §3.2.5.2: UIDs expunged since the client's modseq (among those it knows) and
/// messages changed since.
fn qresync_facts(
    read: &ReadView<'_>,
    mailbox: MailboxId,
    modseq: u64,
    known: Option<&SequenceSet>,
    max_uid: u32,
) -> Result<QresyncFacts, StorageError> {
    let vanished = read
        .expunged_since(mailbox, ModSeq(modseq))?
        .into_iter()
        .map(|(uid, _)| uid.0)
        .filter(|&uid| known.is_none_or(|set| set.contains(uid, max_uid.max(uid))))
        .collect();
    let mut changed = Vec::new();
    for (uid, _) in read.changed_since(mailbox, ModSeq(modseq))? {
        if let Some(info) = read.message_by_uid(mailbox, uid)? {
            changed.push(flag_fact(&info));
        }
    }
    Ok(QresyncFacts { vanished, changed })
}

/// Messages (as the mailbox record counted them just before) of a mailbox whose SELECT
/// snapshot is read on the session's core: walking 2,000 archived records in place took
/// about 20 µs in a profile (release build, this project's 2-core machine), so 4,096
/// stay well under a tenth of a millisecond, less than handing the read to a helper
/// thread and back (two futex calls and more executor wake-ups: a SELECT of 2,000
/// messages cost a median 0.22 ms of server CPU that way, 0.16 ms on the core).
const SELECT_HERE_MESSAGES_MAX: u32 = 4_096;

/// New messages, expunges and flag changes a sync reads on the session's core, each: a
/// sync after the session's own STORE or EXPUNGE, or after a delivery, has a few; up to
/// 3 × 64 index entries and 64 record lookups cost tens of microseconds, less than
/// handing the read to a helper thread and back.
const SYNC_INLINE_ENTRIES_MAX: usize = 64;

/// What changed in the selected mailbox since `since` (new UIDs above `above`, and with
/// `expunges` the expunges and flag changes); `None` when there are more than `max`
/// new, expunged or changed messages (each kind counted on its own).
fn changes(
    read: &ReadView<'_>,
    mailbox: MailboxId,
    (since, above): (u64, u32),
    expunges: bool,
    max: usize,
) -> Result<Option<MailboxChanges>, StorageError> {
    let highest_modseq = read.mailbox(mailbox)?.map_or(since, |info| info.highest_modseq.0);
    let mut added = Vec::new();
    let mut over = false;
    read.for_each_message(mailbox, Uid(above.saturating_add(1)), Uid(u32::MAX), |record| {
        if added.len() == max {
            over = true;
            return ControlFlow::Break(());
        }
        added.push(record.uid().0);
        ControlFlow::Continue(())
    })?;
    if over {
        return Ok(None);
    }
    let (mut expunged, mut changed) = (Vec::new(), Vec::new());
    if expunges && highest_modseq > since {
        let Some(gone) = read.expunged_since_at_most(mailbox, ModSeq(since), max)? else {
            return Ok(None);
        };
        let Some(flagged) = read.changed_since_at_most(mailbox, ModSeq(since), max)? else {
            return Ok(None);
        };
        expunged = gone.into_iter().map(|(uid, _)| uid.0).collect();
        for (uid, _) in flagged {
            if uid.0 <= above
                && let Some(info) = read.message_by_uid(mailbox, uid)?
            {
                changed.push(flag_fact(&info));
            }
        }
    }
    Ok(Some(MailboxChanges { highest_modseq, added, recent: None, expunged, changed }))
}
