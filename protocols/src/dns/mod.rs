//! DNS for the server, sans-IO: names, the query/answer codec (on hickory-proto's wire
//! format), the stub resolver's exchange state machine, resolv.conf, and the [`Resolver`]
//! trait through which the authentication checks ask their questions.
//!
//! - [`name`]: [`DomainName`] (ASCII, lower case, UTS 46 for internationalized names);
//! - [`message`]: [`encode_query`](message::encode_query) /
//!   [`decode_response`](message::decode_response), [`Answer`] (CNAME chain followed,
//!   negative TTLs per RFC 2308);
//! - [`exchange`]: [`Exchange`], one question against the configured servers (retries,
//!   per-try timeouts, TCP on truncation, EDNS0 with DO, AD trusted only from configured
//!   servers); the caller supplies time, random ids and sockets;
//! - [`resolv_conf`]: `/etc/resolv.conf`'s text;
//! - [`memory`]: a [`Resolver`] over records held in memory (tests, benchmarks).
//!
//! The per-core cache and the socket driver live in `moxide-actors` (`actors::dns`) and
//! `moxide-runtime` (UDP, TCP).

use std::future::Future;
use std::sync::Arc;

pub mod exchange;
pub mod memory;
pub mod message;
pub mod name;
pub mod resolv_conf;

pub use exchange::{Exchange, ExchangeConfig, NameServer, ResolveError, Step, Transmit, Transport};
pub use message::{Answer, Question, RecordData, RecordType};
pub use name::{DomainName, NameError};
pub use resolv_conf::ResolvConf;

/// The outcome of a lookup: an answer (possibly negative) or why there is none.
pub type Lookup = Result<Arc<Answer>, ResolveError>;

/// Where the authentication checks get DNS answers. The checks never do IO themselves;
/// the server implements this with its per-core cache and stub resolver, the tests with
/// records in memory. Futures need not be `Send` (they run on one core).
pub trait Resolver {
    /// Answers one question.
    fn lookup(&self, question: &Question) -> impl Future<Output = Lookup>;
}

impl<R: Resolver> Resolver for &R {
    fn lookup(&self, question: &Question) -> impl Future<Output = Lookup> {
        (**self).lookup(question)
    }
}
