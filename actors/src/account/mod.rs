//! The account actor: the only writer of one account's store.
//!
//! It lives on the account's home core ([`crate::kernel::home_core`]) and is started on
//! demand by that core's [`crate::node::Node`]. Requests queue in its bounded inbox. The
//! actor takes everything queued, runs it as one batch on a helper thread (all deliveries
//! of the batch in ONE LMDB write transaction, so one round of fsyncs, then the other
//! writes), replies to every requester, then publishes the batch's changes to the cores
//! that subscribed. Requests arriving while a batch commits wait in the inbox and form the
//! next batch: this is the group commit that makes many concurrent deliveries cost one
//! fsync round.
//!
//! Invariants: no reply before the commit it depends on returned; every write that
//! committed is answered as committed and its changes are published, even when a later
//! write of the same batch panics or fails (each outcome is recorded as soon as its
//! storage call returns, [`write::Ledger`]); no change published
//! before its reply (a session never sees an event for a write it has not been told of);
//! the actor never holds a write transaction across an `.await` (the whole batch runs inside
//! one blocking closure, [`write::commit_batch`]).

mod write;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use moxide_runtime::offload;
use moxide_runtime::time::timeout;
use moxide_storage::{
    AccountStore, Copied, Delivered, DeliveryError, Expunged, FlagOp, Flags, FlagsStored, MailboxId,
    MailboxInfo, ModSeq, NewMessage, SpecialUse, StorageError, Uid,
};

use crate::kernel::{mailbox, oneshot};
use crate::node::Node;

/// Requests one batch takes at most. Bounds the time one commit holds the inbox and the
/// size of one transaction; at ~1 ms per fsync round this is far beyond what one account
/// receives per commit in practice.
pub const ACCOUNT_BATCH_MAX: usize = 256;
const _: () = assert!(ACCOUNT_BATCH_MAX <= moxide_storage::DELIVERY_BATCH_MAX);

/// Requests queued in an account's inbox before senders wait. Backpressure on a flood to
/// one account instead of unbounded memory.
pub const ACCOUNT_INBOX_MAX: usize = 4096;

/// A request to an account actor: the actor's whole API.
#[derive(Debug)]
pub enum AccountRequest {
    /// Store a spooled message (the spool file stays; the caller removes it). Deliveries
    /// of one batch share one transaction.
    Deliver(NewMessage),
    /// Store several spooled messages all or nothing (IMAP APPEND / MULTIAPPEND).
    Append(Vec<NewMessage>),
    /// Change flags of messages in a mailbox.
    StoreFlags {
        /// The mailbox.
        mailbox: MailboxId,
        /// The messages.
        uids: Vec<Uid>,
        /// Replace, add or remove.
        op: FlagOp,
        /// System flags.
        flags: Flags,
        /// Keywords.
        keywords: Vec<String>,
        /// CONDSTORE: only messages whose modseq is at most this (RFC 7162 §3.1.3).
        unchanged_since: Option<ModSeq>,
    },
    /// Expunge messages from a mailbox.
    Expunge {
        /// The mailbox.
        mailbox: MailboxId,
        /// The messages.
        uids: Vec<Uid>,
    },
    /// Copy messages to another (or the same) mailbox.
    Copy {
        /// Source mailbox.
        from: MailboxId,
        /// Source messages.
        uids: Vec<Uid>,
        /// Destination mailbox.
        to: MailboxId,
    },
    /// Move messages to another mailbox (copy and expunge in one transaction).
    Move {
        /// Source mailbox.
        from: MailboxId,
        /// Source messages.
        uids: Vec<Uid>,
        /// Destination mailbox.
        to: MailboxId,
    },
    /// Create a mailbox (and missing parents).
    CreateMailbox {
        /// Its name.
        name: String,
        /// Its special-use attribute.
        special_use: Option<SpecialUse>,
    },
    /// Delete a mailbox and its messages.
    DeleteMailbox {
        /// Its name.
        name: String,
    },
    /// Rename a mailbox and its children.
    RenameMailbox {
        /// Current name.
        from: String,
        /// New name.
        to: String,
    },
    /// Add or remove a subscription.
    SetSubscribed {
        /// Mailbox name (need not exist).
        name: String,
        /// Subscribe (true) or unsubscribe.
        subscribed: bool,
    },
    /// SETMETADATA (RFC 5464 §4.3): set or (for `None`) remove entries of a mailbox, or
    /// of the server (`mailbox: None`), in one transaction.
    SetMetadata {
        /// The mailbox's name; `None`: the server's entries.
        mailbox: Option<String>,
        /// Entry names (checked by the IMAP parser) and values.
        entries: Vec<(String, Option<Vec<u8>>)>,
    },
    /// GENURLAUTH (RFC 4467 §5): the mailbox's URLAUTH access key, storing `fresh` (drawn
    /// from the system random source by the caller) when it has none.
    UrlAuthKey {
        /// The mailbox's name.
        mailbox: String,
        /// The key to store when the mailbox has none.
        fresh: [u8; moxide_storage::URLAUTH_KEY_BYTES],
    },
    /// RESETKEY (RFC 4467 §4): remove the access key of a mailbox or (`None`) of all.
    ResetUrlAuthKeys {
        /// The mailbox's name; `None`: every mailbox.
        mailbox: Option<String>,
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
    /// Reply to `Append`.
    Appended(Result<Vec<Delivered>, AccountError>),
    /// Reply to `StoreFlags`.
    FlagsStored(Result<FlagsStored, AccountError>),
    /// Reply to `Expunge`.
    Expunged(Result<Vec<Expunged>, AccountError>),
    /// Reply to `Copy`.
    Copied(Result<Copied, AccountError>),
    /// Reply to `Move`.
    Moved(Result<(Copied, Vec<Expunged>), AccountError>),
    /// Reply to `CreateMailbox`.
    MailboxCreated(Result<MailboxInfo, AccountError>),
    /// Reply to `DeleteMailbox`.
    MailboxDeleted(Result<MailboxInfo, AccountError>),
    /// Reply to `RenameMailbox`.
    MailboxRenamed(Result<Vec<MailboxInfo>, AccountError>),
    /// Reply to `SetSubscribed`.
    SubscriptionSet(Result<(), AccountError>),
    /// Reply to `SetMetadata`.
    MetadataSet(Result<(), AccountError>),
    /// Reply to `UrlAuthKey`: the mailbox's key.
    UrlAuthKey(Result<[u8; moxide_storage::URLAUTH_KEY_BYTES], AccountError>),
    /// Reply to `ResetUrlAuthKeys`.
    UrlAuthKeysReset(Result<(), AccountError>),
    /// Reply to `Subscribe`.
    Subscribed,
    /// Reply to `Unsubscribe`.
    Unsubscribed,
}

/// Why an account request failed.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// The store refused or failed (for a batch failure: nothing of the batch committed).
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
    /// The account's messages would exceed its quota; nothing was stored.
    #[error("the account is over its quota of {limit} {resource}")]
    OverQuota {
        /// What the quota counts: `bytes` or `messages` (RFC 9208 STORAGE, MESSAGE).
        resource: &'static str,
        /// The quota.
        limit: u64,
    },
}

impl AccountError {
    /// True when the write failed because the disk (or quota) is full: the client
    /// should retry later (SMTP `452 4.3.1`, IMAP `NO [OVERQUOTA]`).
    pub fn is_no_space(&self) -> bool {
        match self {
            AccountError::Storage(error) => error.is_no_space(),
            AccountError::Delivery(error) => error.is_no_space(),
            _ => false,
        }
    }

    /// The storage error behind this one, if any (to map refusals such as "mailbox
    /// exists" to protocol replies).
    pub fn storage(&self) -> Option<&StorageError> {
        match self {
            AccountError::Storage(error) => Some(error),
            _ => None,
        }
    }
}

pub(crate) struct Envelope {
    pub(crate) request: AccountRequest,
    pub(crate) reply: oneshot::Sender<AccountResponse>,
}

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
            Ok(Err(error)) => return self.fail_all(AccountError::Storage(Arc::new(error))),
            Err(panic) => return self.fail_all(AccountError::Panicked(panic.0)),
        };
        tracing::debug!(account = %self.name, "account actor started");
        self.purge_expunged(&store).await;
        loop {
            let first = match timeout(self.idle, self.inbox.recv()).await {
                Ok(Some(envelope)) => envelope,
                Ok(None) => break,
                Err(_) => {
                    // Idle: expunged messages no session shows any more go now, before
                    // the actor may stop (the check below follows the last await).
                    self.purge_expunged(&store).await;
                    if self.subscribed_cores.is_empty() && self.inbox.is_empty() {
                        break;
                    }
                    continue;
                }
            };
            let mut batch = vec![first];
            self.inbox.drain_into(&mut batch, ACCOUNT_BATCH_MAX - 1);
            self.serve_batch(&store, batch).await;
            self.purge_expunged(&store).await;
        }
        // No await between the emptiness check above and this removal: nothing can be
        // queued to a stopping actor.
        self.node.actor_stopped(&self.name, self.generation);
        tracing::debug!(account = %self.name, "account actor stopped (idle)");
    }

    /// Removes expunged messages that no session can show any more (the store keeps
    /// them for the sessions not yet told, `moxide_storage::Views`). After each batch and
    /// when idle, so a session that caught up frees them within one idle period.
    async fn purge_expunged(&self, store: &Arc<AccountStore>) {
        if !store.purge_pending() {
            return;
        }
        let store = Arc::clone(store);
        match offload(move || store.purge_expunged()).await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => {
                tracing::error!(account = %self.name, %error, "purging expunged messages failed")
            }
            Err(panic) => {
                tracing::error!(account = %self.name, panic = %panic.0, "purging expunged messages panicked")
            }
        }
    }

    fn fail_all(self, error: AccountError) {
        tracing::error!(account = %self.name, %error, "account store could not be opened");
        self.node.actor_stopped(&self.name, self.generation);
        let mut batch = Vec::new();
        self.inbox.drain_into(&mut batch, usize::MAX);
        for envelope in batch {
            envelope.reply.send(write::failed_response(&envelope.request, error.clone()));
        }
    }

    async fn serve_batch(&mut self, store: &Arc<AccountStore>, batch: Vec<Envelope>) {
        assert!(!batch.is_empty());
        assert!(batch.len() <= ACCOUNT_BATCH_MAX);
        let mut requests = Vec::with_capacity(batch.len());
        let mut replies = Vec::with_capacity(batch.len());
        for Envelope { request, reply } in batch {
            match request {
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
                request => {
                    requests.push(request);
                    replies.push(reply);
                }
            }
        }
        if requests.is_empty() {
            return;
        }
        self.node.count_commit(requests.len());
        let kinds: Vec<write::RequestKind> = requests.iter().map(write::RequestKind::of).collect();
        let ledger: Arc<write::Ledger> =
            Arc::new(std::sync::Mutex::new(requests.iter().map(|_| None).collect()));
        let store = Arc::clone(store);
        let now_ms = crate::clock::now_unix_ms();
        let batch_ledger = Arc::clone(&ledger);
        let started = std::time::Instant::now();
        let ran = offload(move || write::commit_batch(&store, requests, now_ms, &batch_ledger)).await;
        crate::metrics::metrics().commit_seconds.observe(started.elapsed().as_secs_f64());
        let mut failure = None;
        if let Err(panic) = ran {
            tracing::error!(account = %self.name, panic = %panic.0, "commit batch panicked");
            failure = Some(AccountError::Panicked(panic.0));
        }
        // Committed means answered as committed: every outcome the batch recorded is
        // replied and published, whatever happened after it.
        let outcomes = std::mem::take(&mut *ledger.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let mut outcomes = outcomes.into_iter();
        let mut changes = Vec::new();
        for (reply, kind) in replies.into_iter().zip(kinds) {
            match outcomes.next().flatten() {
                Some((response, mut changed)) => {
                    changes.append(&mut changed);
                    reply.send(response);
                }
                None => {
                    let error =
                        failure.clone().unwrap_or(AccountError::Panicked("no outcome recorded".into()));
                    reply.send(kind.failed(error));
                }
            }
        }
        if !changes.is_empty() {
            self.node.publish(&self.name, self.subscribed_cores.keys().copied(), changes).await;
        }
    }
}
