//! moxide-runtime: the thread-per-core runtime every other moxide crate runs on.
//!
//! # Design overview
//!
//! One executor per core, each pinned to a CPU, runs connection and actor tasks that never
//! move between threads (`Rc`, `RefCell` and `!Send` futures are fine inside a core). The
//! executor is this crate's own: a run queue of `async-task` tasks ([`scheduler`]) and an
//! epoll reactor with the core's timers ([`reactor`]); nothing of either appears in the
//! public API.
//!
//! - [`executor`]: starts the executors ([`run`]) and says which core a task is on.
//! - `scheduler`: one core's loop: run queue, remote wakes from other threads, parking.
//! - `reactor`: epoll (edge-triggered, registered once per socket), the eventfd other
//!   threads wake a parked core with, and the core's timers.
//! - `channel`: the bounded cross-thread channel under the mesh.
//! - [`net`]: listeners bound once per core with `SO_REUSEPORT` (the kernel spreads
//!   accepts), TCP streams with `TCP_NODELAY` set, a connection limit.
//! - [`mesh`]: a typed cross-core channel mesh (send a value to core N).
//! - [`offload`]: blocking work (fsync, LMDB commits, password hashing) on helper threads
//!   so no executor ever blocks.
//! - [`fs`]: spool files being received.
//! - [`tls`]: server TLS (rustls, ring provider): certificates by SNI with reload,
//!   ALPN, client certificates by public key, channel binding, self-signed certificates.
//! - [`stream`]: [`Stream`], a connection that is plain or TLS, with the STARTTLS upgrade
//!   and COMPRESS=DEFLATE on top ([`compress`]: bounded deflate/inflate halves).
//! - [`time`]: timers and timeouts.
//! - [`task`]: spawning tasks on the current core.
//! - [`shutdown`]: SIGTERM/SIGINT caught once and told to every core, which stops in
//!   stages (draining, then closing), with a forced exit as the bound.
//! - [`hangup`]: SIGHUP as a stream of reload notices on one core.
//! - [`unix`]: the owner-only control socket the admin CLI talks to.
//! - [`stats`]: executor busy time per core, for metrics.
//! - [`udp`]: UDP sockets (the DNS stub resolver's queries).
//! - [`exchange`]: one length-prefixed request/reply over TCP (DNS over TCP).
//!
//! Architecture invariant: every function that can block for longer than a memory access
//! goes through [`offload`] (spool writes into the page cache excepted, see [`fs`]);
//! nothing here calls `fsync`, `sendfile` or a lock that another core holds for long on an
//! executor thread.

mod channel;
pub mod compress;
pub mod exchange;
pub mod executor;
pub mod fs;
pub mod hangup;
pub mod memory;
pub mod mesh;
pub mod net;
pub mod offload;
pub mod random;
mod reactor;
mod scheduler;
pub mod shutdown;
pub mod stats;
pub mod stream;
pub mod task;
pub mod terminal;
pub mod time;
pub mod tls;
pub mod udp;
pub mod unix;

pub use executor::{CoreContext, RuntimeConfig, RuntimeError, current_core, online_cpus, run};
pub use offload::{OffloadPanic, offload, offload_detached};
pub use stream::Stream;
pub use task::{JoinHandle, spawn, spawn_detached, yield_now};
