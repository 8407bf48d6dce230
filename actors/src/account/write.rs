//! The blocking half of the account actor: one batch of requests applied to the store on
//! a helper thread, each turned into its response and the changes to publish.
//!
//! All `Deliver` requests of a batch go into one `deliver` call (one transaction, one
//! round of fsyncs); the other writes follow in request order, each its own transaction.
//! Each step's outcome goes into the [`Ledger`] as soon as its storage call returns, so
//! a panic later in the batch cannot turn a committed write into a reported failure.
//! Kept free of actor state so nothing `!Send` crosses into the helper thread.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use moxide_runtime::offload::panic_text;
use moxide_storage::{
    AccountStore, Copied, Delivered, Expunged, FlagsStored, MailboxId, MailboxInfo, NewMessage, StorageError,
};

use super::{AccountError, AccountRequest, AccountResponse};
use crate::change::Change;

/// What kind of response a request expects (to answer it even when the batch panicked).
#[derive(Debug, Clone, Copy)]
pub(super) enum RequestKind {
    Deliver,
    Append,
    StoreFlags,
    Expunge,
    Copy,
    Move,
    CreateMailbox,
    DeleteMailbox,
    RenameMailbox,
    SetSubscribed,
    SetMetadata,
    UrlAuthKey,
    ResetUrlAuthKeys,
    Subscribe,
    Unsubscribe,
}

impl RequestKind {
    pub(super) fn of(request: &AccountRequest) -> RequestKind {
        match request {
            AccountRequest::Deliver(_) => RequestKind::Deliver,
            AccountRequest::Append(_) => RequestKind::Append,
            AccountRequest::StoreFlags { .. } => RequestKind::StoreFlags,
            AccountRequest::Expunge { .. } => RequestKind::Expunge,
            AccountRequest::Copy { .. } => RequestKind::Copy,
            AccountRequest::Move { .. } => RequestKind::Move,
            AccountRequest::CreateMailbox { .. } => RequestKind::CreateMailbox,
            AccountRequest::DeleteMailbox { .. } => RequestKind::DeleteMailbox,
            AccountRequest::RenameMailbox { .. } => RequestKind::RenameMailbox,
            AccountRequest::SetSubscribed { .. } => RequestKind::SetSubscribed,
            AccountRequest::SetMetadata { .. } => RequestKind::SetMetadata,
            AccountRequest::UrlAuthKey { .. } => RequestKind::UrlAuthKey,
            AccountRequest::ResetUrlAuthKeys { .. } => RequestKind::ResetUrlAuthKeys,
            AccountRequest::Subscribe { .. } => RequestKind::Subscribe,
            AccountRequest::Unsubscribe { .. } => RequestKind::Unsubscribe,
        }
    }

    pub(super) fn failed(self, error: AccountError) -> AccountResponse {
        match self {
            RequestKind::Deliver => AccountResponse::Delivered(Err(error)),
            RequestKind::Append => AccountResponse::Appended(Err(error)),
            RequestKind::StoreFlags => AccountResponse::FlagsStored(Err(error)),
            RequestKind::Expunge => AccountResponse::Expunged(Err(error)),
            RequestKind::Copy => AccountResponse::Copied(Err(error)),
            RequestKind::Move => AccountResponse::Moved(Err(error)),
            RequestKind::CreateMailbox => AccountResponse::MailboxCreated(Err(error)),
            RequestKind::DeleteMailbox => AccountResponse::MailboxDeleted(Err(error)),
            RequestKind::RenameMailbox => AccountResponse::MailboxRenamed(Err(error)),
            RequestKind::SetSubscribed => AccountResponse::SubscriptionSet(Err(error)),
            RequestKind::SetMetadata => AccountResponse::MetadataSet(Err(error)),
            RequestKind::UrlAuthKey => AccountResponse::UrlAuthKey(Err(error)),
            RequestKind::ResetUrlAuthKeys => AccountResponse::UrlAuthKeysReset(Err(error)),
            RequestKind::Subscribe => AccountResponse::Subscribed,
            RequestKind::Unsubscribe => AccountResponse::Unsubscribed,
        }
    }
}

pub(super) fn failed_response(request: &AccountRequest, error: AccountError) -> AccountResponse {
    RequestKind::of(request).failed(error)
}

fn storage(error: StorageError) -> AccountError {
    AccountError::Storage(Arc::new(error))
}

/// One request's outcome: its response and the changes to publish.
pub(super) type Outcome = (AccountResponse, Vec<Change>);

/// Where each request's outcome is written as soon as it is known, shared with the
/// actor: a panic later in the batch (in another request, or in this glue) cannot take
/// back what was committed before it. A slot left empty means the request's storage
/// call never returned, and storage never fails or panics after a commit (its checks
/// run inside the transaction), so nothing of that request was committed.
pub(super) type Ledger = std::sync::Mutex<Vec<Option<Outcome>>>;

fn record(ledger: &Ledger, slot: usize, outcome: Outcome) {
    let mut slots = ledger.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(entry) = slots.get_mut(slot) {
        *entry = Some(outcome);
    }
}

/// Applies a batch, writing one outcome per request (by position) into `ledger`: all
/// deliveries first in one transaction, then the other requests in order, each alone.
/// A panic in one step fails only that step (its transaction was aborted by the unwind);
/// the steps before it keep their outcomes and the steps after it still run.
pub(super) fn commit_batch(
    store: &AccountStore,
    requests: Vec<AccountRequest>,
    now_ms: i64,
    ledger: &Ledger,
) {
    let mut deliveries = Vec::new();
    let mut delivery_slots = Vec::new();
    let mut others = Vec::new();
    for (slot, request) in requests.into_iter().enumerate() {
        match request {
            AccountRequest::Deliver(message) => {
                deliveries.push(message);
                delivery_slots.push(slot);
            }
            other => others.push((slot, other)),
        }
    }
    if !deliveries.is_empty() {
        match catch_unwind(AssertUnwindSafe(|| deliver(store, &deliveries))) {
            Ok(outcomes) => {
                for (&slot, outcome) in delivery_slots.iter().zip(outcomes) {
                    record(ledger, slot, outcome);
                }
            }
            Err(panic) => {
                let error = AccountError::Panicked(panic_text(panic.as_ref()));
                tracing::error!(account = store.account(), %error, "delivery panicked before its commit");
                for &slot in &delivery_slots {
                    record(ledger, slot, (AccountResponse::Delivered(Err(error.clone())), vec![]));
                }
            }
        }
    }
    for (slot, request) in others {
        let kind = RequestKind::of(&request);
        let outcome = match catch_unwind(AssertUnwindSafe(|| apply(store, request, now_ms))) {
            Ok(outcome) => outcome,
            Err(panic) => {
                let error = AccountError::Panicked(panic_text(panic.as_ref()));
                tracing::error!(account = store.account(), %error, "write panicked before its commit");
                (kind.failed(error), vec![])
            }
        };
        record(ledger, slot, outcome);
    }
}

/// One outcome per message, in order (a missing result, which storage never gives, is
/// answered as a failure of that message alone).
fn deliver(store: &AccountStore, messages: &[NewMessage]) -> Vec<Outcome> {
    match store.deliver(messages) {
        Ok(results) => {
            let mut results = results.into_iter();
            messages
                .iter()
                .map(|message| match results.next() {
                    Some(Ok(done)) => {
                        let change = added(&done, message);
                        (AccountResponse::Delivered(Ok(done)), vec![change])
                    }
                    Some(Err(error)) => {
                        (AccountResponse::Delivered(Err(AccountError::Delivery(Arc::new(error)))), vec![])
                    }
                    None => (AccountResponse::Delivered(Err(AccountError::UnexpectedReply)), vec![]),
                })
                .collect()
        }
        Err(error) => {
            let error = storage(error);
            messages.iter().map(|_| (AccountResponse::Delivered(Err(error.clone())), vec![])).collect()
        }
    }
}

fn added(done: &Delivered, message: &NewMessage) -> Change {
    Change::Added {
        mailbox: done.mailbox,
        uid: done.uid,
        modseq: done.modseq,
        id: done.id,
        size: done.size + message.prefix.len() as u64,
    }
}

fn apply(store: &AccountStore, request: AccountRequest, now_ms: i64) -> Outcome {
    match request {
        AccountRequest::Append(messages) => append(store, &messages),
        AccountRequest::StoreFlags { mailbox, uids, op, flags, keywords, unchanged_since } => {
            match store.store_flags_conditional(mailbox, &uids, op, flags, &keywords, unchanged_since) {
                Ok(stored) => {
                    let changes = flag_changes(mailbox, &stored);
                    (AccountResponse::FlagsStored(Ok(stored)), changes)
                }
                Err(error) => (AccountResponse::FlagsStored(Err(storage(error))), vec![]),
            }
        }
        AccountRequest::Expunge { mailbox, uids } => match store.expunge(mailbox, &uids) {
            Ok(expunged) => {
                let changes = expunge_changes(mailbox, &expunged);
                (AccountResponse::Expunged(Ok(expunged)), changes)
            }
            Err(error) => (AccountResponse::Expunged(Err(storage(error))), vec![]),
        },
        AccountRequest::Copy { from, uids, to } => match store.copy_messages(from, &uids, to, now_ms) {
            Ok(copied) => {
                let changes = copy_changes(to, &copied);
                (AccountResponse::Copied(Ok(copied)), changes)
            }
            Err(error) => (AccountResponse::Copied(Err(storage(error))), vec![]),
        },
        AccountRequest::Move { from, uids, to } => match store.move_messages(from, &uids, to, now_ms) {
            Ok((copied, expunged)) => {
                let mut changes = copy_changes(to, &copied);
                changes.extend(expunge_changes(from, &expunged));
                (AccountResponse::Moved(Ok((copied, expunged))), changes)
            }
            Err(error) => (AccountResponse::Moved(Err(storage(error))), vec![]),
        },
        AccountRequest::CreateMailbox { name, special_use } => {
            let result = store.create_mailbox(&name, special_use).map_err(storage);
            let changes = match &result {
                Ok(info) => vec![Change::MailboxName { from: None, to: Some(info.name.clone()) }],
                Err(_) => vec![],
            };
            (AccountResponse::MailboxCreated(result), changes)
        }
        AccountRequest::DeleteMailbox { name } => {
            let result = store.delete_mailbox(&name).map_err(storage);
            let changes = match &result {
                Ok(_) => vec![Change::MailboxName { from: Some(name), to: None }],
                Err(_) => vec![],
            };
            (AccountResponse::MailboxDeleted(result), changes)
        }
        AccountRequest::RenameMailbox { from, to } => {
            match store.rename_mailbox_moving(&from, &to) {
                Ok(renamed) => {
                    let mut changes = rename_changes(&from, &to, &renamed.mailboxes);
                    // RENAME INBOX is a MOVE of every message (RFC 9051 §6.3.6): the same
                    // changes, after the new mailbox's MailboxName event.
                    if let Some(moved) = &renamed.moved {
                        changes.extend(copy_changes(moved.to, &moved.copied));
                        changes.extend(expunge_changes(moved.inbox, &moved.expunged));
                    }
                    (AccountResponse::MailboxRenamed(Ok(renamed.mailboxes)), changes)
                }
                Err(error) => (AccountResponse::MailboxRenamed(Err(storage(error))), vec![]),
            }
        }
        AccountRequest::SetSubscribed { name, subscribed } => {
            let result = store.set_subscribed(&name, subscribed).map_err(storage);
            let changes = match &result {
                Ok(()) => vec![Change::Subscription { name, subscribed }],
                Err(_) => vec![],
            };
            (AccountResponse::SubscriptionSet(result), changes)
        }
        AccountRequest::SetMetadata { mailbox, entries } => {
            match store.set_metadata(mailbox.as_deref(), &entries) {
                Ok(id) => {
                    let entries = entries.into_iter().map(|(name, _)| name).collect();
                    let change = match id {
                        Some(mailbox) => Change::MailboxMetadata { mailbox, entries },
                        None => Change::ServerMetadata { entries },
                    };
                    (AccountResponse::MetadataSet(Ok(())), vec![change])
                }
                Err(error) => (AccountResponse::MetadataSet(Err(storage(error))), vec![]),
            }
        }
        AccountRequest::UrlAuthKey { mailbox, fresh } => {
            let result = store.urlauth_key_or_insert(&mailbox, fresh).map(|(_, key)| key).map_err(storage);
            (AccountResponse::UrlAuthKey(result), vec![])
        }
        AccountRequest::ResetUrlAuthKeys { mailbox } => {
            let result = store.remove_urlauth_keys(mailbox.as_deref()).map_err(storage);
            (AccountResponse::UrlAuthKeysReset(result), vec![])
        }
        AccountRequest::Deliver(_)
        | AccountRequest::Subscribe { .. }
        | AccountRequest::Unsubscribe { .. } => {
            unreachable!("handled before the batch is applied")
        }
    }
}

/// All or nothing in one transaction (RFC 3502 §6.3.11): a refused message fails the
/// whole command and nothing is stored, also across a crash.
fn append(store: &AccountStore, messages: &[NewMessage]) -> Outcome {
    match store.deliver_all(messages) {
        Ok(done) => {
            let changes = done.iter().zip(messages).map(|(d, m)| added(d, m)).collect();
            (AccountResponse::Appended(Ok(done)), changes)
        }
        Err(StorageError::MessageRefused { source, .. }) => {
            (AccountResponse::Appended(Err(AccountError::Delivery(Arc::from(source)))), vec![])
        }
        Err(error) => (AccountResponse::Appended(Err(storage(error))), vec![]),
    }
}

/// NOTIFY's MailboxName events of a RENAME (RFC 5465 §5.4): the storage returns the
/// mailboxes it created (ancestors of the new name; for INBOX also the new name), then
/// the renamed ones, the new name first and its children after it.
fn rename_changes(from: &str, to: &str, infos: &[MailboxInfo]) -> Vec<Change> {
    let created = |info: &MailboxInfo| Change::MailboxName { from: None, to: Some(info.name.clone()) };
    let renamed = infos.iter().position(|info| info.name == to || info.name.eq_ignore_ascii_case(to));
    let Some(renamed) = renamed.filter(|_| from != "INBOX") else {
        return infos.iter().map(created).collect();
    };
    let to = infos[renamed].name.as_str();
    let mut changes: Vec<Change> = infos[..renamed].iter().map(created).collect();
    for info in &infos[renamed..] {
        if let Some(rest) = info.name.strip_prefix(to) {
            changes.push(Change::MailboxName {
                from: Some(format!("{from}{rest}")),
                to: Some(info.name.clone()),
            });
        }
    }
    changes
}

fn flag_changes(mailbox: MailboxId, stored: &FlagsStored) -> Vec<Change> {
    stored
        .changed
        .iter()
        .map(|c| Change::Flags {
            mailbox,
            uid: c.uid,
            modseq: c.modseq,
            flags: c.flags,
            keywords: c.keywords.clone(),
        })
        .collect()
}

fn expunge_changes(mailbox: MailboxId, expunged: &[Expunged]) -> Vec<Change> {
    match expunged.iter().map(|e| e.modseq).max() {
        Some(modseq) => {
            vec![Change::Expunged { mailbox, uids: expunged.iter().map(|e| e.uid).collect(), modseq }]
        }
        None => vec![],
    }
}

fn copy_changes(to: MailboxId, copied: &Copied) -> Vec<Change> {
    copied
        .created
        .iter()
        .map(|d| Change::Added { mailbox: to, uid: d.uid, modseq: d.modseq, id: d.id, size: d.size })
        .collect()
}
