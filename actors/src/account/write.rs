//! The blocking half of the account actor: one batch of requests applied to the store on
//! a helper thread, each turned into its response and the changes to publish.
//!
//! All `Deliver` requests of a batch go into one `deliver` call (one transaction, one
//! round of fsyncs); the other writes follow in request order, each its own transaction.
//! Kept free of actor state so nothing `!Send` crosses into the helper thread.

use std::sync::Arc;

use moxide_storage::{
    AccountStore, Copied, Delivered, Expunged, FlagsStored, MailboxId, NewMessage, StorageError,
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

/// Applies a batch; one (response, changes) per request, in order.
pub(super) fn commit_batch(
    store: &AccountStore,
    requests: Vec<AccountRequest>,
    now_ms: i64,
) -> Vec<(AccountResponse, Vec<Change>)> {
    let mut results: Vec<Option<(AccountResponse, Vec<Change>)>> = requests.iter().map(|_| None).collect();
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
        for (slot, result) in delivery_slots.into_iter().zip(deliver(store, &deliveries)) {
            results[slot] = Some(result);
        }
    }
    for (slot, request) in others {
        results[slot] = Some(apply(store, request, now_ms));
    }
    results
        .into_iter()
        .map(|result| result.unwrap_or_else(|| unreachable!("every request of the batch got a result")))
        .collect()
}

fn deliver(store: &AccountStore, messages: &[NewMessage]) -> Vec<(AccountResponse, Vec<Change>)> {
    match store.deliver(messages) {
        Ok(results) => {
            assert_eq!(results.len(), messages.len(), "one delivery result per message");
            results
                .into_iter()
                .zip(messages)
                .map(|(result, message)| match result {
                    Ok(done) => {
                        let change = added(&done, message);
                        (AccountResponse::Delivered(Ok(done)), vec![change])
                    }
                    Err(error) => {
                        (AccountResponse::Delivered(Err(AccountError::Delivery(Arc::new(error)))), vec![])
                    }
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

fn apply(store: &AccountStore, request: AccountRequest, now_ms: i64) -> (AccountResponse, Vec<Change>) {
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
            (AccountResponse::MailboxCreated(result), vec![Change::Mailboxes])
        }
        AccountRequest::DeleteMailbox { name } => {
            let result = store.delete_mailbox(&name).map_err(storage);
            (AccountResponse::MailboxDeleted(result), vec![Change::Mailboxes])
        }
        AccountRequest::RenameMailbox { from, to } => {
            let result = store.rename_mailbox(&from, &to).map_err(storage);
            (AccountResponse::MailboxRenamed(result), vec![Change::Mailboxes])
        }
        AccountRequest::SetSubscribed { name, subscribed } => {
            let result = store.set_subscribed(&name, subscribed).map_err(storage);
            (AccountResponse::SubscriptionSet(result), vec![])
        }
        AccountRequest::Deliver(_)
        | AccountRequest::Subscribe { .. }
        | AccountRequest::Unsubscribe { .. } => {
            unreachable!("handled before the batch is applied")
        }
    }
}

/// All or nothing: if any message fails, the ones stored are expunged again.
fn append(store: &AccountStore, messages: &[NewMessage]) -> (AccountResponse, Vec<Change>) {
    let results = match store.deliver(messages) {
        Ok(results) => results,
        Err(error) => return (AccountResponse::Appended(Err(storage(error))), vec![]),
    };
    let mut done = Vec::new();
    let mut failure = None;
    for result in results {
        match result {
            Ok(delivered) => done.push(delivered),
            Err(error) => failure = failure.or(Some(AccountError::Delivery(Arc::new(error)))),
        }
    }
    if let Some(error) = failure {
        for delivered in &done {
            if let Err(undo) = store.expunge(delivered.mailbox, &[delivered.uid]) {
                tracing::error!(%undo, "could not take back a partial append");
            }
        }
        return (AccountResponse::Appended(Err(error)), vec![]);
    }
    let changes = done.iter().zip(messages).map(|(d, m)| added(d, m)).collect();
    (AccountResponse::Appended(Ok(done)), changes)
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
