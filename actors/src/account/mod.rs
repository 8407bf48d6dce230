//! The account actor: the only writer of one account's store.
//!
//! It lives on the account's home core ([`crate::kernel::home_core`]) and is started on
//! demand by that core's [`crate::node::Node`]. Requests queue in its bounded inbox. The
//! actor takes everything queued, runs it as one batch on a helper thread (all deliveries
//! of the batch in ONE LMDB write transaction, so one round of fsyncs), replies to every
//! requester, then publishes the batch's changes to the cores that subscribed. Requests
//! arriving while a batch commits wait in the inbox and form the next batch: this is the
//! group commit that makes many concurrent deliveries cost one fsync round.
//!
//! Invariants: no reply before the commit it depends on returned; no change published
//! before its reply (a session never sees an event for a write it has not been told of);
//! the actor never holds a write transaction across an `.await` (the whole batch runs inside
//! one blocking closure).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use moxide_runtime::offload;
use moxide_runtime::time::timeout;
use moxide_storage::{
    AccountStore, Delivered, DeliveryError, Expunged, FlagOp, Flags, FlagsChanged, MailboxId, NewMessage,
    StorageError, Uid,
};

use crate::change::Change;
use crate::kernel::{mailbox, oneshot};
use crate::node::Node;

/// Requests one batch (one write transaction) takes at most. Bounds the time one commit
/// holds the inbox and the size of one transaction; at ~1 ms per fsync round this is far
/// beyond what one account receives per commit in practice.
pub const ACCOUNT_BATCH_MAX: usize = 256;

/// Requests queued in an account's inbox before senders wait. Backpressure on a flood to
/// one account instead of unbounded memory.
pub const ACCOUNT_INBOX_MAX: usize = 4096;

/// A request to an account actor: the actor's whole API.
#[derive(Debug)]
pub enum AccountRequest {
    /// Store a spooled message (the spool file stays; the caller removes it).
    Deliver(NewMessage),
    /// Change flags of messages in a mailbox.
    StoreFlags {
        /// The mailbox.
        mailbox: MailboxId,
        /// The messages.
        uids: Vec<Uid>,
        /// Set, add or remove.
        op: FlagOp,
        /// System flags.
        flags: Flags,
        /// Keywords.
        keywords: Vec<String>,
    },
    /// Expunge messages from a mailbox.
    Expunge {
        /// The mailbox.
        mailbox: MailboxId,
        /// The messages.
        uids: Vec<Uid>,
    },
    /// Core `core` has sessions that want this account's changes (counted: one per
    /// first local subscriber on that core).
    Subscribe {
        /// The subscribing core.
        core: usize,
    },
    /// Core `core`'s last local subscriber left.
    Unsubscribe {
        /// The unsubscribing core.
        core: usize,
    },
}

/// The reply to an [`AccountRequest`], variant for variant.
#[derive(Debug)]
pub enum AccountResponse {
    /// Reply to `Deliver`.
    Delivered(Result<Delivered, AccountError>),
    /// Reply to `StoreFlags`.
    FlagsStored(Result<Vec<FlagsChanged>, AccountError>),
    /// Reply to `Expunge`.
    Expunged(Result<Vec<Expunged>, AccountError>),
    /// Reply to `Subscribe`.
    Subscribed,
    /// Reply to `Unsubscribe`.
    Unsubscribed,
}

/// Why an account request failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// The store failed (the whole batch it was in was not committed).
    #[error("storage: {0}")]
    Storage(Arc<StorageError>),
    /// This one delivery was refused (bad spool file); others in the batch went on.
    #[error("delivery: {0}")]
    Delivery(Arc<DeliveryError>),
    /// The helper thread running the commit panicked; nothing was committed.
    #[error("commit panicked: {0}")]
    Panicked(String),
    /// The actor could not be reached (its core is gone or it stopped mid-request).
    #[error("account actor unavailable")]
    Unavailable,
    /// The reply did not match the request (a bug; logged).
    #[error("unexpected reply from account actor")]
    UnexpectedReply,
}

pub(crate) struct Envelope {
    pub(crate) request: AccountRequest,
    pub(crate) reply: oneshot::Sender<AccountResponse>,
}

/// Writes other than deliveries, carried into the commit closure.
enum WriteOp {
    StoreFlags { mailbox: MailboxId, uids: Vec<Uid>, op: FlagOp, flags: Flags, keywords: Vec<String> },
    Expunge { mailbox: MailboxId, uids: Vec<Uid> },
}

#[derive(Clone, Copy)]
enum WriteKind {
    Flags,
    Expunge,
}

enum WriteResult {
    Flags(MailboxId, Result<Vec<FlagsChanged>, StorageError>),
    Expunged(MailboxId, Result<Vec<Expunged>, StorageError>),
}

type DeliverResults = Result<Vec<Result<Delivered, DeliveryError>>, StorageError>;

pub(crate) struct AccountActor {
    name: Arc<str>,
    generation: u64,
    node: Node,
    inbox: mailbox::Receiver<Envelope>,
    subscribed_cores: BTreeMap<usize, u32>,
    idle: Duration,
}

impl AccountActor {
    pub(crate) fn new(
        name: Arc<str>,
        generation: u64,
        node: Node,
        inbox: mailbox::Receiver<Envelope>,
        idle: Duration,
    ) -> Self {
        AccountActor { name, generation, node, inbox, subscribed_cores: BTreeMap::new(), idle }
    }

    /// Opens the store, then serves batches until idle with no subscribers.
    pub(crate) async fn run(mut self) {
        let stores = Arc::clone(self.node.stores());
        let name = self.name.to_string();
        let store = match offload(move || stores.get(&name)).await {
            Ok(Ok(store)) => store,
            Ok(Err(error)) => return self.fail_all(AccountError::Storage(Arc::new(error))).await,
            Err(panic) => return self.fail_all(AccountError::Panicked(panic.0)).await,
        };
        tracing::debug!(account = %self.name, "account actor started");
        loop {
            let first = match timeout(self.idle, self.inbox.recv()).await {
                Ok(Some(envelope)) => envelope,
                Ok(None) => break,
                Err(_) if self.subscribed_cores.is_empty() && self.inbox.is_empty() => break,
                Err(_) => continue,
            };
            let mut batch = vec![first];
            self.inbox.drain_into(&mut batch, ACCOUNT_BATCH_MAX - 1);
            self.serve_batch(&store, batch).await;
        }
        // No await between the emptiness check above and this removal: nothing can be
        // queued to a stopping actor.
        self.node.actor_stopped(&self.name, self.generation);
        tracing::debug!(account = %self.name, "account actor stopped (idle)");
    }

    async fn fail_all(self, error: AccountError) {
        tracing::error!(account = %self.name, %error, "account store could not be opened");
        self.node.actor_stopped(&self.name, self.generation);
        let mut batch = Vec::new();
        self.inbox.drain_into(&mut batch, usize::MAX);
        for envelope in batch {
            envelope.reply.send(failed_response(&envelope.request, error.clone()));
        }
    }

    async fn serve_batch(&mut self, store: &Arc<AccountStore>, batch: Vec<Envelope>) {
        assert!(!batch.is_empty());
        assert!(batch.len() <= ACCOUNT_BATCH_MAX);
        let mut deliveries = Vec::new();
        let mut delivery_replies = Vec::new();
        let mut writes = Vec::new();
        let mut write_replies = Vec::new();
        for Envelope { request, reply } in batch {
            match request {
                AccountRequest::Deliver(message) => {
                    deliveries.push(message);
                    delivery_replies.push(reply);
                }
                AccountRequest::StoreFlags { mailbox, uids, op, flags, keywords } => {
                    writes.push(WriteOp::StoreFlags { mailbox, uids, op, flags, keywords });
                    write_replies.push((WriteKind::Flags, reply));
                }
                AccountRequest::Expunge { mailbox, uids } => {
                    writes.push(WriteOp::Expunge { mailbox, uids });
                    write_replies.push((WriteKind::Expunge, reply));
                }
                AccountRequest::Subscribe { core } => {
                    *self.subscribed_cores.entry(core).or_insert(0) += 1;
                    reply.send(AccountResponse::Subscribed);
                }
                AccountRequest::Unsubscribe { core } => {
                    if let Some(count) = self.subscribed_cores.get_mut(&core) {
                        *count -= 1;
                        if *count == 0 {
                            self.subscribed_cores.remove(&core);
                        }
                    }
                    reply.send(AccountResponse::Unsubscribed);
                }
            }
        }
        if deliveries.is_empty() && writes.is_empty() {
            return;
        }
        self.node.count_commit(deliveries.len() + writes.len());
        let prefix_lengths: Vec<u64> = deliveries.iter().map(|m| m.prefix.len() as u64).collect();
        let store = Arc::clone(store);
        let committed = offload(move || commit(&store, &deliveries, writes)).await;
        let mut changes = Vec::new();
        match committed {
            Ok((delivered, written)) => {
                reply_deliveries(delivery_replies, delivered, &prefix_lengths, &mut changes);
                reply_writes(write_replies, written, &mut changes);
            }
            Err(panic) => {
                tracing::error!(account = %self.name, panic = %panic.0, "commit panicked");
                let error = AccountError::Panicked(panic.0);
                for reply in delivery_replies {
                    reply.send(AccountResponse::Delivered(Err(error.clone())));
                }
                for (kind, reply) in write_replies {
                    reply.send(match kind {
                        WriteKind::Flags => AccountResponse::FlagsStored(Err(error.clone())),
                        WriteKind::Expunge => AccountResponse::Expunged(Err(error.clone())),
                    });
                }
            }
        }
        if !changes.is_empty() {
            self.node.publish(&self.name, self.subscribed_cores.keys().copied(), changes).await;
        }
    }
}

/// Runs on a helper thread: the batch's deliveries in one transaction, then the other
/// writes. Kept free of actor state so nothing `!Send` crosses.
fn commit(
    store: &AccountStore,
    deliveries: &[NewMessage],
    writes: Vec<WriteOp>,
) -> (DeliverResults, Vec<WriteResult>) {
    let delivered = if deliveries.is_empty() { Ok(Vec::new()) } else { store.deliver(deliveries) };
    let written = writes
        .into_iter()
        .map(|op| match op {
            WriteOp::StoreFlags { mailbox, uids, op, flags, keywords } => {
                WriteResult::Flags(mailbox, store.store_flags(mailbox, &uids, op, flags, &keywords))
            }
            WriteOp::Expunge { mailbox, uids } => {
                WriteResult::Expunged(mailbox, store.expunge(mailbox, &uids))
            }
        })
        .collect();
    (delivered, written)
}

fn reply_deliveries(
    replies: Vec<oneshot::Sender<AccountResponse>>,
    delivered: DeliverResults,
    prefix_lengths: &[u64],
    changes: &mut Vec<Change>,
) {
    match delivered {
        Ok(results) => {
            assert_eq!(results.len(), replies.len(), "one delivery result per request");
            for ((reply, result), prefix_length) in replies.into_iter().zip(results).zip(prefix_lengths) {
                if let Ok(done) = &result {
                    changes.push(Change::Added {
                        mailbox: done.mailbox,
                        uid: done.uid,
                        modseq: done.modseq,
                        id: done.id,
                        size: done.size + prefix_length,
                    });
                }
                reply.send(AccountResponse::Delivered(
                    result.map_err(|e| AccountError::Delivery(Arc::new(e))),
                ));
            }
        }
        Err(error) => {
            let error = AccountError::Storage(Arc::new(error));
            for reply in replies {
                reply.send(AccountResponse::Delivered(Err(error.clone())));
            }
        }
    }
}

fn reply_writes(
    replies: Vec<(WriteKind, oneshot::Sender<AccountResponse>)>,
    written: Vec<WriteResult>,
    changes: &mut Vec<Change>,
) {
    assert_eq!(written.len(), replies.len(), "one write result per request");
    for ((_, reply), result) in replies.into_iter().zip(written) {
        let response = match result {
            WriteResult::Flags(mailbox, result) => {
                if let Ok(changed) = &result {
                    changes.extend(changed.iter().map(|c| Change::Flags {
                        mailbox,
                        uid: c.uid,
                        modseq: c.modseq,
                        flags: c.flags,
                        keywords: c.keywords.clone(),
                    }));
                }
                AccountResponse::FlagsStored(result.map_err(|e| AccountError::Storage(Arc::new(e))))
            }
            WriteResult::Expunged(mailbox, result) => {
                if let Ok(expunged) = &result
                    && let Some(modseq) = expunged.iter().map(|e| e.modseq).max()
                {
                    let uids = expunged.iter().map(|e| e.uid).collect();
                    changes.push(Change::Expunged { mailbox, uids, modseq });
                }
                AccountResponse::Expunged(result.map_err(|e| AccountError::Storage(Arc::new(e))))
            }
        };
        reply.send(response);
    }
}

pub(crate) fn failed_response(request: &AccountRequest, error: AccountError) -> AccountResponse {
    match request {
        AccountRequest::Deliver(_) => AccountResponse::Delivered(Err(error)),
        AccountRequest::StoreFlags { .. } => AccountResponse::FlagsStored(Err(error)),
        AccountRequest::Expunge { .. } => AccountResponse::Expunged(Err(error)),
        AccountRequest::Subscribe { .. } => AccountResponse::Subscribed,
        AccountRequest::Unsubscribe { .. } => AccountResponse::Unsubscribed,
    }
}
