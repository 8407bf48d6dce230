//! The DNS client of one core: a cache ([`cache`]) in front of the stub resolver, which
//! drives `moxide_protocols::dns::Exchange` over the runtime's UDP sockets and TCP
//! exchange ([`driver`]). Implements the protocols' `Resolver` trait, so the
//! authentication checks run against it directly.
//!
//! ```text
//!  check (SPF, DKIM, ...) --lookup--> Dns (this core)
//!      hit:  answer from Cache                       (no await point beyond the call)
//!      miss: question already in flight? --> wait for that exchange's answer
//!            else spawn one exchange task --> UDP (random id, fresh socket), TCP if truncated
//!                 --> Cache.insert --> every waiter gets the answer
//! ```
//!
//! One instance per core (`Rc`, no locks); cores do not share answers, which costs a few
//! duplicate queries and saves every cross-core hop on the hot path. The exchange runs in
//! its own task, so a session that gives up does not cancel the answer others wait for.

pub mod cache;
mod driver;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::rc::Rc;
use std::sync::Arc;

use moxide_protocols::dns::{ExchangeConfig, Lookup, Question, ResolveError, Resolver};

use crate::clock::now_monotonic_ms;
use crate::kernel::oneshot;

pub use cache::{CacheStats, ENTRIES_MAX_DEFAULT};

/// Distinct questions in flight at once per core. Each holds a socket and a task; 1,024 is
/// far above what a core's sessions ask at once (a few per message), and past it lookups
/// fail at once with `Overloaded` (the checks report temperror) instead of piling up.
pub const INFLIGHT_QUESTIONS_MAX: usize = 1024;

/// What the client needs.
#[derive(Debug, Clone)]
pub struct DnsSettings {
    /// Servers, attempts, timeouts.
    pub exchange: Arc<ExchangeConfig>,
    /// Cache entries per core.
    pub cache_entries_max: usize,
}

/// Counters of one core's DNS client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DnsStats {
    /// The cache's counters (hits, misses, evictions, size).
    pub cache: CacheStats,
    /// Lookups that joined an exchange already in flight.
    pub joined: u64,
    /// Exchanges run (queries that went to a server).
    pub exchanges: u64,
    /// Lookups refused because too many were in flight.
    pub overloaded: u64,
}

struct Inner {
    settings: DnsSettings,
    cache: RefCell<cache::Cache>,
    inflight: RefCell<HashMap<Question, Vec<oneshot::Sender<Lookup>>>>,
    joined: Cell<u64>,
    exchanges: Cell<u64>,
    overloaded: Cell<u64>,
}

/// One core's DNS client; cheap to clone (all clones share the cache).
#[derive(Clone)]
pub struct Dns {
    inner: Rc<Inner>,
}

impl Dns {
    /// A client with an empty cache. Must be used on the core that made it.
    pub fn new(settings: DnsSettings) -> Dns {
        let cache = cache::Cache::new(settings.cache_entries_max);
        Dns {
            inner: Rc::new(Inner {
                settings,
                cache: RefCell::new(cache),
                inflight: RefCell::new(HashMap::new()),
                joined: Cell::new(0),
                exchanges: Cell::new(0),
                overloaded: Cell::new(0),
            }),
        }
    }

    /// The counters.
    pub fn stats(&self) -> DnsStats {
        DnsStats {
            cache: self.inner.cache.borrow().stats(),
            joined: self.inner.joined.get(),
            exchanges: self.inner.exchanges.get(),
            overloaded: self.inner.overloaded.get(),
        }
    }

    async fn resolve(&self, question: Question) -> Lookup {
        if let Some(cached) = self.inner.cache.borrow_mut().get(&question, now_monotonic_ms()) {
            return cached;
        }
        let (sender, receiver) = oneshot::channel();
        let start = {
            let mut inflight = self.inner.inflight.borrow_mut();
            if let Some(waiters) = inflight.get_mut(&question) {
                waiters.push(sender);
                self.inner.joined.set(self.inner.joined.get() + 1);
                false
            } else if inflight.len() >= INFLIGHT_QUESTIONS_MAX {
                self.inner.overloaded.set(self.inner.overloaded.get() + 1);
                return Err(ResolveError::Overloaded);
            } else {
                inflight.insert(question.clone(), vec![sender]);
                self.inner.exchanges.set(self.inner.exchanges.get() + 1);
                true
            }
        };
        // Spawned with no borrow held: the executor may poll the new task at once.
        if start {
            moxide_runtime::spawn_detached(run_exchange(self.clone(), question));
        }
        // The exchange task always answers; a canceled slot means it panicked.
        receiver.await.unwrap_or(Err(ResolveError::Timeout))
    }
}

/// Runs one exchange, caches its outcome and answers everyone waiting for it.
async fn run_exchange(dns: Dns, question: Question) {
    let lookup = driver::exchange(question.clone(), Arc::clone(&dns.inner.settings.exchange)).await;
    tracing::trace!(name = %question.name, kind = question.record_type.as_str(), ok = lookup.is_ok(), "dns exchange");
    dns.inner.cache.borrow_mut().insert(question.clone(), &lookup, now_monotonic_ms());
    let waiters = dns.inner.inflight.borrow_mut().remove(&question).unwrap_or_default();
    for waiter in waiters {
        waiter.send(lookup.clone());
    }
}

impl Resolver for Dns {
    fn lookup(&self, question: &Question) -> impl Future<Output = Lookup> {
        self.resolve(question.clone())
    }
}
