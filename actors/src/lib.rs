//! moxide-actors: the actor kernel, the account actor, the directory, and the session
//! actors that glue protocols to accounts.
//!
//! # Design overview
//!
//! Every core runs a [`node::Node`]. Connection tasks (SMTP sessions today) run on the
//! core that accepted them; they read the directory snapshot and the account stores on
//! their own core, and send every write as a typed request to the account's actor, which
//! lives on the account's home core (`hash(account) % cores`, see [`kernel::home_core`]).
//! The actor is its account's only writer; it group-commits (one LMDB transaction and
//! one round of fsyncs for everything queued while the previous commit ran), replies, then
//! publishes [`change::Change`]s to every core with subscribed sessions.
//!
//! ```text
//!  SmtpSession (core 0) --Deliver--> Node(core 0) --mesh--> Node(core 1) --> AccountActor "alice"
//!        ^                                                                     |  offload: link files,
//!        +----------------------- reply (durable) <----------------------------+  fsync dirs, 1 txn
//!                                                      Change events --> subscribed cores --> sessions
//! ```
//!
//! Architecture invariants: no executor internals here (only `moxide-runtime`'s public API);
//! no executor thread blocks (commits, opens and removes go through `offload`); an
//! acknowledged delivery is durable; an actor's request enum is its whole API.

#![forbid(unsafe_code)]

pub mod account;
pub mod auth;
pub mod change;
pub mod clock;
pub mod directory;
pub mod dns;
pub mod imap;
pub mod kernel;
pub mod listen;
pub mod metrics;
pub mod node;
pub mod queue;
pub mod ratelimit;
pub mod reports;
pub mod smtp;
mod summary;
pub mod urlauth;

pub use account::{AccountError, AccountRequest, AccountResponse};
pub use change::{Change, ChangeBatch, Notification, Subscription};
pub use directory::{
    ALIAS_MEMBERS_MAX, AccountSpec, AccountUpdate, AliasSpec, Directory, DirectoryChange, DirectoryError,
    DirectorySpec, DomainSpec, Lookup, Poster,
};
pub use node::{
    FANOUT_BATCHES_MAX, FANOUT_WAKES_PER_TURN_MAX, Node, NodeSeed, NodeServices, NodeStats, node_seeds,
};
pub use summary::{SummaryFeed, summary_message_id, text_signature_of_file};
