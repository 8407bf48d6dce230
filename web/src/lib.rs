//! moxide-web: the HTTP plane. The admin JSON API (`/api/v0/admin/...`), the account API
//! (`/api/v0/account/...`), login sessions, the OpenAPI 3.1 document generated from the
//! API's types, and Prometheus metrics (`/metrics`), served by hyper 1.x on the
//! runtime's streams (TCP, TLS, the control socket).
//!
//! # Design overview
//!
//! ```text
//!  TCP/TLS (accept loop, limits) --+
//!                                  +--> hyper (HTTP/1.1, HTTP/2) --> api::handle --> handlers
//!  control socket (owner only) ----+                                    |
//!                                        live::apply --(offload: validate, write domains file)
//!                                              --> Node::publish_directory (every core swaps)
//! ```
//!
//! - [`io`]: hyper's IO and executor traits over the runtime (no tokio reactor).
//! - [`server`]: connections, limits, graceful drain.
//! - [`api`]: routing and handlers; [`types`]: the JSON types; [`openapi`]: the document.
//! - [`auth`]: admin password, API tokens, login sessions.
//! - [`live`]: live configuration (the directory changed, persisted, swapped in).
//! - [`queue`]: the outbound queue for the operator (list, show, hold, release, retry,
//!   drop, bounce); [`policy`]: the suppression lists and hold rules; [`reports`]:
//!   received DMARC and TLS reports.
//! - [`export`], [`import`], [`archive`]: mailbox export (streamed zip/tar.gz of mbox or
//!   Maildir) and import (stored to `tmp/`, then read on a helper thread and stored
//!   through the account actor), with progress.
//!
//! Architecture invariants: no executor internals and no `unsafe` here (`#![forbid(unsafe_code)]`);
//! serde types live only in this crate (actor messages stay plain); every blocking step
//! (argon2, LMDB writes, the domains file) runs on a helper thread; no request makes the
//! server hold more than `API_BODY_BYTES_MAX` of its body.

#![forbid(unsafe_code)]

pub mod api;
pub mod archive;
pub mod auth;
pub mod dkim;
pub mod error;
pub mod export;
pub mod import;
pub mod io;
pub mod live;
pub mod openapi;
pub mod policy;
pub mod queue;
pub mod reports;
pub mod server;
mod transfer;
pub mod types;

use std::net::IpAddr;
use std::sync::Arc;

use moxide_actors::auth::AuthServices;
use moxide_actors::ratelimit::Limiter;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

pub use auth::{AdminStore, Sessions};
pub use live::{DomainsFile, LiveConfig};

/// Everything the HTTP plane shares across cores.
pub struct WebServices {
    /// Authentication state shared with SMTP and IMAP (failure limiter, key store).
    pub auth: Arc<AuthServices>,
    /// The live directory configuration.
    pub live: Arc<LiveConfig>,
    /// Admin password and API tokens.
    pub admin: AdminStore,
    /// Login sessions.
    pub sessions: Sessions,
    /// Requests per client network.
    pub requests: Limiter,
    /// Addresses exempt from the request limiter.
    pub exempt: Vec<IpAddr>,
    /// The server's host name (for DNS records).
    pub hostname: String,
    /// The data directory (DKIM keys live in `dkim/`).
    pub data_dir: std::path::PathBuf,
    /// Metrics to render at `/metrics`.
    pub registry: Registry,
    /// Mailbox imports running and finished.
    pub imports: import::Imports,
    /// Largest import request body (`limits.import_bytes_max`).
    pub import_bytes_max: u64,
    /// Largest message an import stores (`limits.message_bytes_max`).
    pub message_bytes_max: u64,
    /// The outbound queue (`None` in localserve, which has none: the queue endpoints
    /// then show an empty queue).
    pub queue: Option<Arc<moxide_storage::queue::QueueStore>>,
    /// Received DMARC and TLS reports.
    pub reports: moxide_storage::ReportStore,
    /// The queue's transports (static; shown by `GET /api/v0/admin/routes`).
    pub transports: moxide_actors::queue::transport::Routing,
}

/// The metrics registry: every series of `moxide_actors::metrics` plus the store cache.
pub fn registry(stores: Arc<moxide_storage::StoreCache>) -> Registry {
    let mut registry = moxide_actors::metrics::registry();
    registry.register_collector(Box::new(StoreCacheCollector { stores }));
    registry
}

/// Reads the store cache's counters at each scrape.
#[derive(Debug)]
struct StoreCacheCollector {
    stores: Arc<moxide_storage::StoreCache>,
}

impl Collector for StoreCacheCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let (hits, misses) = self.stores.hits_and_misses();
        let hits = ConstCounter::new(hits);
        hits.encode(encoder.encode_descriptor(
            "store_cache_hits",
            "Account store lookups answered by an open store",
            None,
            hits.metric_type(),
        )?)?;
        let misses = ConstCounter::new(misses);
        misses.encode(encoder.encode_descriptor(
            "store_cache_misses",
            "Account store lookups that opened the store",
            None,
            misses.metric_type(),
        )?)?;
        let open = ConstGauge::new(i64::try_from(self.stores.open_count()).unwrap_or(i64::MAX));
        open.encode(encoder.encode_descriptor(
            "stores_open",
            "Account stores open",
            None,
            open.metric_type(),
        )?)?;
        Ok(())
    }
}
