//! Starting the server from a loaded configuration: data directory, stores, listeners,
//! executors, nodes. Shared by `serve` and `localserve`.

use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use moxide_actors::imap::{ImapSettings, listener as imap_listener};
use moxide_actors::node::ACCOUNT_IDLE_DEFAULT;
use moxide_actors::smtp::{SmtpSettings, listener};
use moxide_actors::{Node, NodeSeed, NodeServices, node_seeds};
use moxide_runtime::net::{ConnectionLimiter, ListenerSocket, bind_per_core};
use moxide_runtime::{RuntimeConfig, online_cpus, spawn_detached};
use moxide_storage::{DataDir, StoreCache, StoreOptions};

use crate::config::{Config, ListenerProtocol};

/// Account stores kept open at once; each costs 3 descriptors and its map's address
/// space (CRATE-NOTES: ~6k fit a 20k descriptor limit), so stay well below.
pub(crate) const OPEN_STORES_MAX: usize = 1000;

/// A store nobody used for this long is closed (its descriptors and mappings freed);
/// the next request reopens it in about a millisecond.
pub(crate) const STORE_IDLE: Duration = Duration::from_secs(300);

/// How often core 0 looks for idle stores.
pub(crate) const STORE_SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Why the server did not start or stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ServerError {
    /// The data directory could not be opened or cleaned.
    #[error("data directory: {0}")]
    Storage(#[from] moxide_storage::StorageError),
    /// A listener could not be bound.
    #[error("listening on {address} ({protocol}): {source}")]
    Bind {
        /// Address.
        address: std::net::SocketAddr,
        /// Protocol.
        protocol: &'static str,
        /// Cause.
        source: std::io::Error,
    },
    /// The runtime failed.
    #[error(transparent)]
    Runtime(#[from] moxide_runtime::RuntimeError),
}

/// What each core receives before it starts.
struct CoreSeed {
    node: NodeSeed,
    listeners: Vec<(ListenerProtocol, ListenerSocket)>,
}

/// Prepared server: listeners bound, ready to run.
pub(crate) struct Server {
    runtime: RuntimeConfig,
    seeds: Vec<CoreSeed>,
    services: NodeServices,
    limiters: Vec<ConnectionLimiter>,
    smtp: Arc<moxide_protocols::smtp::ServerConfig>,
    data: DataDir,
    /// Addresses actually bound, in listener order.
    pub(crate) bound: Vec<(ListenerProtocol, std::net::SocketAddr)>,
}

impl Server {
    /// Opens the data directory, clears the spool of a previous run, binds every listener.
    pub(crate) fn prepare(config: &Config, pin_cores: bool) -> Result<Server, ServerError> {
        let static_config = &config.static_config;
        let cores = match static_config.cores {
            0 => online_cpus(),
            n => n,
        };
        let data = DataDir::open(&static_config.data_dir)?;
        for (path, length) in data.clean_spool()? {
            // A crash left it; its client never got 250, so it will retry. Not trusted.
            tracing::warn!(path = %path.display(), length, "removed unacknowledged spool file from a previous run");
        }
        let stores = Arc::new(StoreCache::new(data.clone(), StoreOptions::default(), OPEN_STORES_MAX));
        let mut seeds: Vec<CoreSeed> =
            node_seeds(cores).into_iter().map(|node| CoreSeed { node, listeners: Vec::new() }).collect();
        let mut bound = Vec::new();
        let mut limiters = Vec::new();
        for listener in &static_config.listeners {
            let (address, sockets) = bind_per_core(listener.address, cores).map_err(|source| {
                ServerError::Bind { address: listener.address, protocol: listener.protocol.name(), source }
            })?;
            for (seed, socket) in seeds.iter_mut().zip(sockets) {
                seed.listeners.push((listener.protocol, socket));
            }
            bound.push((listener.protocol, address));
            limiters.push(ConnectionLimiter::new(static_config.limits.connections_max));
        }
        let services = NodeServices {
            stores,
            directory: Arc::new(config.directory.clone()),
            account_idle: ACCOUNT_IDLE_DEFAULT,
        };
        let runtime = RuntimeConfig { pin_to_cpus: pin_cores, ..RuntimeConfig::default() };
        Ok(Server { runtime, seeds, services, limiters, smtp: Arc::new(config.smtp_protocol()), data, bound })
    }

    /// Runs until the process ends.
    pub(crate) fn run(self) -> Result<(), ServerError> {
        let Server { runtime, seeds, services, limiters, smtp, data, bound: _ } = self;
        let spool_dir = data.spool_dir();
        moxide_runtime::run(&runtime, seeds, move |core, seed| {
            let services = services.clone();
            let limiters = limiters.clone();
            let smtp = Arc::clone(&smtp);
            let spool_dir = spool_dir.clone();
            async move {
                let node = Node::start(core, seed.node, services).await;
                if core.index == 0 {
                    spawn_detached(close_idle_stores(node.clone()));
                }
                let settings = Rc::new(SmtpSettings::new(Arc::clone(&smtp), spool_dir.clone()));
                let imap = Rc::new(ImapSettings::new(smtp.hostname.clone(), spool_dir));
                for ((protocol, socket), limiter) in seed.listeners.into_iter().zip(limiters) {
                    let listener = socket.into_listener();
                    match protocol {
                        ListenerProtocol::Smtp => {
                            spawn_detached(listener::serve(
                                node.clone(),
                                Rc::clone(&settings),
                                listener,
                                limiter,
                            ));
                        }
                        ListenerProtocol::Imap => {
                            spawn_detached(imap_listener::serve(
                                node.clone(),
                                Rc::clone(&imap),
                                listener,
                                limiter,
                            ));
                        }
                    }
                }
                std::future::pending::<()>().await;
            }
        })?;
        Ok(())
    }
}

/// Closes account stores idle for [`STORE_IDLE`] (the LRU bounds the count; this frees
/// the rest over time). Runs on core 0; the closing itself is blocking, so offloaded.
async fn close_idle_stores(node: Node) {
    loop {
        moxide_runtime::time::sleep(STORE_SWEEP_INTERVAL).await;
        let stores = Arc::clone(node.stores());
        match moxide_runtime::offload(move || stores.close_idle(STORE_IDLE)).await {
            Ok(0) => {}
            Ok(closed) => tracing::debug!(closed, "closed idle account stores"),
            Err(panic) => tracing::error!(%panic, "closing idle stores panicked"),
        }
    }
}
