//! A core's node: everything one executor needs to reach accounts on any core.
//!
//! Each core runs one [`Node`]. It owns:
//! - the core's end of the runtime mesh, with request/reply on top (correlation ids and a
//!   table of pending replies; one channel per core pair, never one per request);
//! - the account actors homed on this core (started on first request, stopped when idle);
//! - the local subscribers to account changes, grouped per account, so an actor sends one
//!   message per subscribed core, not one per session;
//! - the core's snapshot of the directory, and the process-wide store cache.
//!
//! A request to an account homed here goes straight into its actor's inbox; one homed
//! elsewhere crosses the mesh once each way.

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::future::poll_fn;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::task::{Poll, Waker};
use std::time::Duration;

use moxide_runtime::CoreContext;
use moxide_runtime::mesh::{self, Mesh, MeshSeed};
use moxide_runtime::spawn_detached;
use moxide_storage::{
    Copied, Delivered, Expunged, FlagOp, Flags, FlagsStored, MailboxId, MailboxInfo, ModSeq, NewMessage,
    SpecialUse, StoreCache, Uid,
};

use crate::account::{
    ACCOUNT_INBOX_MAX, AccountActor, AccountError, AccountRequest, AccountResponse, Envelope,
};
use crate::change::{Change, ChangeBatch, Slot, Subscription};
use crate::directory::Directory;
use crate::kernel::{home_core, mailbox, oneshot};

/// An account actor with no requests and no subscribers for this long stops (its store
/// stays in the cache until the LRU closes it).
pub const ACCOUNT_IDLE_DEFAULT: Duration = Duration::from_secs(60);

/// Subscribers a fan-out wakes before it lets the core's reactor and other tasks run
/// (issue 16): one delivery to a mailbox with N idling sessions wakes N tasks, each
/// ~10 µs of work (the EXISTS and its `send`), and waking all at once put the
/// delivering SMTP session's next step, and every socket on the core, behind all N.
/// With 64, anything else waits for at most ~1 ms of the fan-out.
pub const FANOUT_WAKES_PER_TURN_MAX: usize = 64;

/// Batches the fan-out task may have queued before it stops yielding and delivers them
/// all at once (the way without the task): deliveries faster than the sessions can be
/// woken then cost each subscription its own bounded backlog, not a growing queue here.
pub const FANOUT_BATCHES_MAX: usize = 64;

/// What crosses the mesh between nodes. Opaque outside this crate.
pub struct CoreMessage(Message);

enum Message {
    Call {
        id: u64,
        account: Arc<str>,
        request: AccountRequest,
    },
    Reply {
        id: u64,
        response: Result<AccountResponse, AccountError>,
    },
    Changes(ChangeBatch),
    /// A new directory snapshot; answered with `DirectorySet { id }` once swapped in.
    SetDirectory {
        id: u64,
        generation: u64,
        directory: Arc<Directory>,
    },
    DirectorySet {
        id: u64,
    },
}

/// One core's unconnected mesh ends; `Send`, made before the executors start.
pub struct NodeSeed(MeshSeed<CoreMessage>);

/// Seeds for `cores` nodes (element N for core N).
pub fn node_seeds(cores: usize) -> Vec<NodeSeed> {
    mesh::mesh(cores).into_iter().map(NodeSeed).collect()
}

/// Shared services a node is started with.
#[derive(Clone)]
pub struct NodeServices {
    /// The process-wide cache of open account stores.
    pub stores: Arc<StoreCache>,
    /// The directory (each node keeps its own snapshot of it).
    pub directory: Arc<Directory>,
    /// Idle time after which an account actor stops.
    pub account_idle: Duration,
}

/// This core's node; cheap to clone.
#[derive(Clone)]
pub struct Node {
    inner: Rc<Inner>,
}

struct Inner {
    core: CoreContext,
    mesh: RefCell<Option<Mesh<CoreMessage>>>,
    next_call_id: Cell<u64>,
    pending: RefCell<HashMap<u64, oneshot::Sender<Result<AccountResponse, AccountError>>>>,
    /// Running actors homed here.
    actors: RefCell<HashMap<Arc<str>, ActorEntry>>,
    next_actor_generation: Cell<u64>,
    subscribers: RefCell<HashMap<Arc<str>, LocalSubscribers>>,
    directory: RefCell<Rc<Directory>>,
    /// Generation of `directory`: a snapshot older than the one in place is ignored, so
    /// two changes published from different cores end in the newer one everywhere.
    directory_generation: Cell<u64>,
    /// Cores yet to confirm a directory swap, by correlation id.
    directory_pending: RefCell<HashMap<u64, oneshot::Sender<()>>>,
    stores: Arc<StoreCache>,
    account_idle: Duration,
    stats: Cell<NodeStats>,
    /// Change batches waiting for the fan-out task, in commit order (see
    /// [`FANOUT_WAKES_PER_TURN_MAX`]; about [`FANOUT_BATCHES_MAX`] at most).
    fanout: RefCell<VecDeque<ChangeBatch>>,
    /// The fan-out task is running.
    fanout_running: Cell<bool>,
}

/// Counters of the account actors on one core (for metrics and tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// Batches committed (one write transaction each).
    pub commits: u64,
    /// Write requests those batches carried.
    pub writes: u64,
}

/// A running actor: a generation number (so a stopping actor removes only its own
/// entry) and its inbox.
type ActorEntry = (u64, mailbox::Sender<Envelope>);

/// The sessions on this core subscribed to one account.
struct LocalSubscribers {
    slots: Vec<Weak<RefCell<Slot>>>,
    /// Set once the home actor acknowledged this core's subscription.
    ready: Rc<Latch>,
}

impl Node {
    /// Connects this core to the mesh (waits for every other core) and returns its node.
    pub async fn start(core: CoreContext, seed: NodeSeed, services: NodeServices) -> Node {
        let inner = Rc::new(Inner {
            core,
            mesh: RefCell::new(None),
            next_call_id: Cell::new(1),
            pending: RefCell::new(HashMap::new()),
            actors: RefCell::new(HashMap::new()),
            next_actor_generation: Cell::new(1),
            subscribers: RefCell::new(HashMap::new()),
            directory: RefCell::new(Rc::new(Directory::clone(&services.directory))),
            directory_generation: Cell::new(0),
            directory_pending: RefCell::new(HashMap::new()),
            stores: services.stores,
            account_idle: services.account_idle,
            stats: Cell::new(NodeStats::default()),
            fanout: RefCell::new(VecDeque::new()),
            fanout_running: Cell::new(false),
        });
        let node = Node { inner };
        let handler_node = node.clone();
        let mesh = seed
            .0
            .connect(move |mesh, from, CoreMessage(message)| handler_node.on_message(mesh, from, message))
            .await;
        *node.inner.mesh.borrow_mut() = Some(mesh);
        node
    }

    /// Where this node runs.
    pub fn core(&self) -> CoreContext {
        self.inner.core
    }

    /// This core's directory snapshot.
    pub fn directory(&self) -> Rc<Directory> {
        Rc::clone(&self.inner.directory.borrow())
    }

    /// Swaps `directory` in on every core (each core takes its own copy, in one step) and
    /// returns once all have it: from then on every new lookup on any core sees it.
    /// Sessions keep the snapshot they hold until they next ask; connections stay up.
    /// `generation` orders changes: a core never goes back to an older one.
    pub async fn publish_directory(
        &self,
        generation: u64,
        directory: Arc<Directory>,
    ) -> Result<(), AccountError> {
        let mut waits = Vec::new();
        for core in (0..self.inner.core.count).filter(|core| *core != self.inner.core.index) {
            let id = self.next_id();
            let (done, wait) = oneshot::channel();
            self.inner.directory_pending.borrow_mut().insert(id, done);
            let message = Message::SetDirectory { id, generation, directory: Arc::clone(&directory) };
            if self.mesh().send(core, CoreMessage(message)).await.is_err() {
                self.inner.directory_pending.borrow_mut().remove(&id);
                return Err(AccountError::Unavailable);
            }
            waits.push(wait);
        }
        self.set_directory(generation, &directory);
        for wait in waits {
            wait.await.map_err(|_| AccountError::Unavailable)?;
        }
        Ok(())
    }

    fn set_directory(&self, generation: u64, directory: &Directory) {
        if generation > self.inner.directory_generation.get() {
            self.inner.directory_generation.set(generation);
            *self.inner.directory.borrow_mut() = Rc::new(directory.clone());
        }
    }

    fn next_id(&self) -> u64 {
        let id = self.inner.next_call_id.get();
        self.inner.next_call_id.set(id + 1);
        id
    }

    /// The process-wide store cache (reads go straight to it, on this core).
    pub fn stores(&self) -> &Arc<StoreCache> {
        &self.inner.stores
    }

    /// Asks `account`'s actor to store a spooled message; returns once it is durable.
    pub async fn deliver(&self, account: &Arc<str>, message: NewMessage) -> Result<Delivered, AccountError> {
        let started = std::time::Instant::now();
        let result = match self.check_quota(account, message.size + message.prefix.len() as u64, 1).await {
            Err(error) => Err(error),
            Ok(()) => match self.call(account, AccountRequest::Deliver(message)).await {
                Ok(AccountResponse::Delivered(result)) => result,
                Ok(_) => Err(AccountError::UnexpectedReply),
                Err(error) => Err(error),
            },
        };
        let metrics = crate::metrics::metrics();
        metrics.delivery_seconds.observe(started.elapsed().as_secs_f64());
        let outcome = if result.is_ok() { "delivered" } else { "failed" };
        metrics.deliveries.get_or_create(&crate::metrics::ResultLabels { result: outcome }).inc();
        result
    }

    /// Stores several spooled messages, all or nothing (IMAP APPEND).
    pub async fn append(
        &self,
        account: &Arc<str>,
        messages: Vec<NewMessage>,
    ) -> Result<Vec<Delivered>, AccountError> {
        let size = messages.iter().map(|message| message.size + message.prefix.len() as u64).sum();
        self.check_quota(account, size, messages.len() as u64).await?;
        match self.call(account, AccountRequest::Append(messages)).await? {
            AccountResponse::Appended(result) => result,
            _ => Err(AccountError::UnexpectedReply),
        }
    }

    /// Changes flags through `account`'s actor (CONDSTORE's UNCHANGEDSINCE optional).
    #[expect(clippy::too_many_arguments, reason = "mirrors the STORE command's parts one to one")]
    pub async fn store_flags(
        &self,
        account: &Arc<str>,
        mailbox: MailboxId,
        uids: Vec<Uid>,
        op: FlagOp,
        flags: Flags,
        keywords: Vec<String>,
        unchanged_since: Option<ModSeq>,
    ) -> Result<FlagsStored, AccountError> {
        let request = AccountRequest::StoreFlags { mailbox, uids, op, flags, keywords, unchanged_since };
        match self.call(account, request).await? {
            AccountResponse::FlagsStored(result) => result,
            _ => Err(AccountError::UnexpectedReply),
        }
    }

    /// Expunges messages through `account`'s actor.
    pub async fn expunge(
        &self,
        account: &Arc<str>,
        mailbox: MailboxId,
        uids: Vec<Uid>,
    ) -> Result<Vec<Expunged>, AccountError> {
        match self.call(account, AccountRequest::Expunge { mailbox, uids }).await? {
            AccountResponse::Expunged(result) => result,
            _ => Err(AccountError::UnexpectedReply),
        }
    }

    /// Refuses `adding` more bytes and `adding_messages` more messages to an account
    /// with a quota (bytes, RFC 9208 STORAGE; messages, MESSAGE) they would exceed.
    /// The usage is read here, not by the account's actor: deliveries in flight at the
    /// same moment may each pass, so the quota is soft by at most those messages (as
    /// other servers' quotas are); the next one is refused.
    pub async fn check_quota(
        &self,
        account: &Arc<str>,
        adding: u64,
        adding_messages: u64,
    ) -> Result<(), AccountError> {
        let directory = self.directory();
        let (quota_bytes, quota_messages) = (directory.quota(account), directory.quota_messages(account));
        if quota_bytes.is_none() && quota_messages.is_none() {
            return Ok(());
        }
        let stores = Arc::clone(self.stores());
        let name = Arc::clone(account);
        let (used, used_messages) = moxide_runtime::offload(move || stores.get(&name)?.usage())
            .await
            .map_err(|panic| AccountError::Panicked(panic.to_string()))?
            .map_err(|error| AccountError::Storage(Arc::new(error)))?;
        if let Some(quota_bytes) = quota_bytes
            && used.saturating_add(adding) > quota_bytes
        {
            tracing::info!(%account, used, adding, quota_bytes, "refused: over quota");
            return Err(AccountError::OverQuota { resource: "bytes", limit: quota_bytes });
        }
        if let Some(quota_messages) = quota_messages
            && used_messages.saturating_add(adding_messages) > quota_messages
        {
            tracing::info!(%account, used_messages, adding_messages, quota_messages, "refused: over message quota");
            return Err(AccountError::OverQuota { resource: "messages", limit: quota_messages });
        }
        Ok(())
    }

    /// Copies messages between mailboxes.
    pub async fn copy(
        &self,
        account: &Arc<str>,
        from: MailboxId,
        uids: Vec<Uid>,
        to: MailboxId,
    ) -> Result<Copied, AccountError> {
        // The copies' size is known only to the actor: a copy is refused once the account
        // is at its quota, so it overshoots by at most one COPY. Their number is known.
        self.check_quota(account, 1, uids.len() as u64).await?;
        match self.call(account, AccountRequest::Copy { from, uids, to }).await? {
            AccountResponse::Copied(result) => result,
            _ => Err(AccountError::UnexpectedReply),
        }
    }

    /// Moves messages between mailboxes.
    pub async fn move_messages(
        &self,
        account: &Arc<str>,
        from: MailboxId,
        uids: Vec<Uid>,
        to: MailboxId,
    ) -> Result<(Copied, Vec<Expunged>), AccountError> {
        match self.call(account, AccountRequest::Move { from, uids, to }).await? {
            AccountResponse::Moved(result) => result,
            _ => Err(AccountError::UnexpectedReply),
        }
    }

    /// Creates a mailbox.
    pub async fn create_mailbox(
        &self,
        account: &Arc<str>,
        name: String,
        special_use: Option<SpecialUse>,
    ) -> Result<MailboxInfo, AccountError> {
        match self.call(account, AccountRequest::CreateMailbox { name, special_use }).await? {
            AccountResponse::MailboxCreated(result) => result,
            _ => Err(AccountError::UnexpectedReply),
        }
    }

    /// Deletes a mailbox.
    pub async fn delete_mailbox(
        &self,
        account: &Arc<str>,
        name: String,
    ) -> Result<MailboxInfo, AccountError> {
        match self.call(account, AccountRequest::DeleteMailbox { name }).await? {
            AccountResponse::MailboxDeleted(result) => result,
            _ => Err(AccountError::UnexpectedReply),
        }
    }

    /// Renames a mailbox (and its children).
    pub async fn rename_mailbox(
        &self,
        account: &Arc<str>,
        from: String,
        to: String,
    ) -> Result<Vec<MailboxInfo>, AccountError> {
        match self.call(account, AccountRequest::RenameMailbox { from, to }).await? {
            AccountResponse::MailboxRenamed(result) => result,
            _ => Err(AccountError::UnexpectedReply),
        }
    }

    /// Subscribes or unsubscribes a mailbox name.
    pub async fn set_subscribed(
        &self,
        account: &Arc<str>,
        name: String,
        subscribed: bool,
    ) -> Result<(), AccountError> {
        match self.call(account, AccountRequest::SetSubscribed { name, subscribed }).await? {
            AccountResponse::SubscriptionSet(result) => result,
            _ => Err(AccountError::UnexpectedReply),
        }
    }

    /// Sets or removes METADATA entries (RFC 5464 §4.3) of a mailbox or (`None`) the
    /// server, all or nothing.
    pub async fn set_metadata(
        &self,
        account: &Arc<str>,
        mailbox: Option<String>,
        entries: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<(), AccountError> {
        match self.call(account, AccountRequest::SetMetadata { mailbox, entries }).await? {
            AccountResponse::MetadataSet(result) => result,
            _ => Err(AccountError::UnexpectedReply),
        }
    }

    /// The URLAUTH access key of `mailbox` (RFC 4467 §7), storing `fresh` when it has none.
    pub async fn urlauth_key(
        &self,
        account: &Arc<str>,
        mailbox: String,
        fresh: [u8; moxide_storage::URLAUTH_KEY_BYTES],
    ) -> Result<[u8; moxide_storage::URLAUTH_KEY_BYTES], AccountError> {
        match self.call(account, AccountRequest::UrlAuthKey { mailbox, fresh }).await? {
            AccountResponse::UrlAuthKey(result) => result,
            _ => Err(AccountError::UnexpectedReply),
        }
    }

    /// RESETKEY (RFC 4467 §4): removes the URLAUTH access key of `mailbox`, or of all.
    pub async fn reset_urlauth_keys(
        &self,
        account: &Arc<str>,
        mailbox: Option<String>,
    ) -> Result<(), AccountError> {
        match self.call(account, AccountRequest::ResetUrlAuthKeys { mailbox }).await? {
            AccountResponse::UrlAuthKeysReset(result) => result,
            _ => Err(AccountError::UnexpectedReply),
        }
    }

    /// Subscribes to `account`'s changes. Returns once the subscription is in place:
    /// every change committed after this returns will be delivered to it.
    pub async fn subscribe(&self, account: &Arc<str>) -> Result<Subscription, AccountError> {
        let slot = Slot::new_shared();
        let (ready, first) = {
            let mut subscribers = self.inner.subscribers.borrow_mut();
            let local = subscribers
                .entry(Arc::clone(account))
                .or_insert_with(|| LocalSubscribers { slots: Vec::new(), ready: Rc::new(Latch::default()) });
            local.slots.push(Rc::downgrade(&slot));
            (Rc::clone(&local.ready), local.slots.len() == 1)
        };
        let weak_node = Rc::downgrade(&self.inner);
        let account_for_drop = Arc::clone(account);
        let subscription = Subscription {
            slot,
            on_drop: Some(Box::new(move |slot| {
                if let Some(inner) = weak_node.upgrade() {
                    Node { inner }.unsubscribe_one(account_for_drop, slot);
                }
            })),
        };
        if first {
            let core = self.inner.core.index;
            let result = self.call(account, AccountRequest::Subscribe { core }).await;
            ready.set(result.is_ok());
            result?;
        } else if !ready.wait().await {
            return Err(AccountError::Unavailable);
        }
        Ok(subscription)
    }

    fn unsubscribe_one(&self, account: Arc<str>, leaving: &Rc<RefCell<Slot>>) {
        let leaving = Rc::downgrade(leaving);
        let now_empty = {
            let mut subscribers = self.inner.subscribers.borrow_mut();
            let Some(local) = subscribers.get_mut(&account) else { return };
            local.slots.retain(|slot| slot.strong_count() > 0 && !slot.ptr_eq(&leaving));
            let empty = local.slots.is_empty();
            if empty {
                subscribers.remove(&account);
            }
            empty
        };
        if now_empty {
            let node = self.clone();
            let core = self.inner.core.index;
            spawn_detached(async move {
                // The home actor counts subscriptions per core, so this may arrive after a
                // newer Subscribe from this core without losing it.
                let _ = node.call(&account, AccountRequest::Unsubscribe { core }).await;
            });
        }
    }

    /// Sends a request to `account`'s actor, wherever it lives, and awaits the reply.
    async fn call(
        &self,
        account: &Arc<str>,
        request: AccountRequest,
    ) -> Result<AccountResponse, AccountError> {
        let home = home_core(account, self.inner.core.count);
        if home == self.inner.core.index {
            return self.call_local(account, request).await;
        }
        let id = self.next_id();
        let (reply, response) = oneshot::channel();
        self.inner.pending.borrow_mut().insert(id, reply);
        let message = CoreMessage(Message::Call { id, account: Arc::clone(account), request });
        if self.mesh().send(home, message).await.is_err() {
            self.inner.pending.borrow_mut().remove(&id);
            return Err(AccountError::Unavailable);
        }
        response.await.map_err(|_| AccountError::Unavailable)?
    }

    async fn call_local(
        &self,
        account: &Arc<str>,
        request: AccountRequest,
    ) -> Result<AccountResponse, AccountError> {
        let (reply, response) = oneshot::channel();
        let mut envelope = Envelope { request, reply };
        // A second round covers the actor that stopped (idle) between lookup and send.
        for _ in 0..2 {
            let inbox = self.actor_inbox(account);
            match inbox.send(envelope).await {
                Ok(()) => return response.await.map_err(|_| AccountError::Unavailable),
                Err(mailbox::Closed(returned)) => {
                    self.forget_actor(account);
                    envelope = returned;
                }
            }
        }
        Err(AccountError::Unavailable)
    }

    fn actor_inbox(&self, account: &Arc<str>) -> mailbox::Sender<Envelope> {
        if let Some((_, inbox)) = self.inner.actors.borrow().get(account) {
            return inbox.clone();
        }
        let generation = self.inner.next_actor_generation.get();
        self.inner.next_actor_generation.set(generation + 1);
        let (inbox, receiver) = mailbox::channel(ACCOUNT_INBOX_MAX);
        self.inner.actors.borrow_mut().insert(Arc::clone(account), (generation, inbox.clone()));
        let actor = AccountActor::new(
            Arc::clone(account),
            generation,
            self.clone(),
            receiver,
            self.inner.account_idle,
        );
        spawn_detached(actor.run());
        inbox
    }

    /// Drops a registry entry whose actor is gone (its inbox closed).
    fn forget_actor(&self, account: &Arc<str>) {
        let mut actors = self.inner.actors.borrow_mut();
        if actors.get(account).is_some_and(|(_, inbox)| !inbox.is_open()) {
            actors.remove(account);
        }
    }

    /// A stopping actor removes its own entry (and only its own: a newer actor of the same
    /// account may have been registered if this one stopped after a failure).
    pub(crate) fn actor_stopped(&self, account: &Arc<str>, generation: u64) {
        let mut actors = self.inner.actors.borrow_mut();
        if actors.get(account).is_some_and(|(current, _)| *current == generation) {
            actors.remove(account);
        }
    }

    /// Counters of this core's account actors.
    pub fn stats(&self) -> NodeStats {
        self.inner.stats.get()
    }

    pub(crate) fn count_commit(&self, writes: usize) {
        crate::metrics::metrics().commit_batch_writes.observe(writes as f64);
        let mut stats = self.inner.stats.get();
        stats.commits += 1;
        stats.writes += writes as u64;
        self.inner.stats.set(stats);
    }

    /// Number of account actors running on this core.
    pub fn actor_count(&self) -> usize {
        self.inner.actors.borrow().len()
    }

    /// Sends a commit's changes to every subscribed core (in order, one message per core).
    pub(crate) async fn publish(
        &self,
        account: &Arc<str>,
        cores: impl Iterator<Item = usize>,
        changes: Vec<Change>,
    ) {
        let batch = ChangeBatch { account: Arc::clone(account), changes: Arc::from(changes) };
        for core in cores {
            if core == self.inner.core.index {
                self.dispatch_local(&batch);
            } else if self.mesh().send(core, CoreMessage(Message::Changes(batch.clone()))).await.is_err() {
                tracing::warn!(core, account = %account, "could not publish changes to core");
            }
        }
    }

    /// Hands a batch to this core's subscribers of its account: at once when they are
    /// few, else through the fan-out task, which wakes [`FANOUT_WAKES_PER_TURN_MAX`] at
    /// a time and lets the reactor run in between. Once that task runs, every batch
    /// goes through it, so each subscriber still gets the batches in commit order.
    fn dispatch_local(&self, batch: &ChangeBatch) {
        if !self.inner.fanout_running.get() {
            let subscribers = self.inner.subscribers.borrow();
            let Some(local) = subscribers.get(&batch.account) else { return };
            if local.slots.len() <= FANOUT_WAKES_PER_TURN_MAX {
                for slot in local.slots.iter().filter_map(Weak::upgrade) {
                    slot.borrow_mut().push(batch);
                }
                return;
            }
        }
        self.inner.fanout.borrow_mut().push_back(batch.clone());
        if !self.inner.fanout_running.replace(true) {
            spawn_detached(self.clone().fan_out());
        }
    }

    /// The fan-out task: delivers the queued batches in order, waking at most
    /// [`FANOUT_WAKES_PER_TURN_MAX`] subscribers per turn of the core. A session that
    /// subscribes meanwhile may get a batch committed just before (it then finds that
    /// change already in its view); one that leaves is skipped.
    async fn fan_out(self) {
        loop {
            let Some(batch) = self.inner.fanout.borrow_mut().pop_front() else { break };
            let slots = match self.inner.subscribers.borrow().get(&batch.account) {
                Some(local) => local.slots.clone(),
                None => continue,
            };
            for (turn, chunk) in slots.chunks(FANOUT_WAKES_PER_TURN_MAX).enumerate() {
                if turn > 0 {
                    self.fan_out_pause().await;
                }
                for slot in chunk.iter().filter_map(Weak::upgrade) {
                    slot.borrow_mut().push(&batch);
                }
            }
            self.fan_out_pause().await;
        }
        self.inner.fanout_running.set(false);
    }

    /// Lets the reactor and the woken sessions run, unless the queue is over
    /// [`FANOUT_BATCHES_MAX`].
    async fn fan_out_pause(&self) {
        if self.inner.fanout.borrow().len() < FANOUT_BATCHES_MAX {
            moxide_runtime::task::yield_to_reactor().await;
        }
    }

    fn mesh(&self) -> Mesh<CoreMessage> {
        // Set in `start` before the node is returned; only mesh handlers run earlier, and
        // they get the mesh as an argument.
        self.inner.mesh.borrow().clone().unwrap_or_else(|| unreachable!("node used before start returned"))
    }

    fn on_message(&self, mesh: &Mesh<CoreMessage>, from: usize, message: Message) {
        match message {
            Message::Call { id, account, request } => {
                let node = self.clone();
                let mesh = mesh.clone();
                spawn_detached(async move {
                    let response = node.call_local(&account, request).await;
                    if let Err(error) = &response {
                        tracing::warn!(%account, %error, "call from core {from} failed");
                    }
                    if mesh.send(from, CoreMessage(Message::Reply { id, response })).await.is_err() {
                        tracing::warn!(%account, "core {from} is gone; reply dropped");
                    }
                });
            }
            Message::Reply { id, response } => {
                if let Some(reply) = self.inner.pending.borrow_mut().remove(&id) {
                    reply.send(response);
                }
            }
            Message::Changes(batch) => self.dispatch_local(&batch),
            Message::SetDirectory { id, generation, directory } => {
                self.set_directory(generation, &directory);
                let mesh = mesh.clone();
                spawn_detached(async move {
                    if mesh.send(from, CoreMessage(Message::DirectorySet { id })).await.is_err() {
                        tracing::warn!("core {from} is gone; directory confirmation dropped");
                    }
                });
            }
            Message::DirectorySet { id } => {
                if let Some(done) = self.inner.directory_pending.borrow_mut().remove(&id) {
                    done.send(());
                }
            }
        }
    }
}

/// A result set once that tasks on this core can wait for.
#[derive(Default)]
struct Latch {
    outcome: Cell<Option<bool>>,
    waiters: RefCell<Vec<Waker>>,
}

impl Latch {
    fn set(&self, ok: bool) {
        self.outcome.set(Some(ok));
        for waker in self.waiters.borrow_mut().drain(..) {
            waker.wake();
        }
    }

    async fn wait(&self) -> bool {
        poll_fn(|cx| match self.outcome.get() {
            Some(ok) => Poll::Ready(ok),
            None => {
                self.waiters.borrow_mut().push(cx.waker().clone());
                Poll::Pending
            }
        })
        .await
    }
}
