//! Message authentication for incoming mail, sans-IO: SPF (RFC 7208), DKIM (RFC 6376,
//! RFC 8463), DMARC (RFC 7489), iprev (RFC 8601 §3), ARC verification (RFC 8617), and the
//! Authentication-Results header (RFC 8601). DNS answers come through the
//! [`Resolver`](crate::dns::Resolver) trait; nothing here opens a socket or reads a clock
//! (the caller passes the time and the random draw for DMARC's `pct`).
//!
//! - [`intake`]: the message fed in chunks once, collected for all checks (header block,
//!   body hashes);
//! - [`header`], [`tags`]: header fields and tag-lists;
//! - [`spf`], [`dkim`], [`dmarc`], [`iprev`], [`arc`]: the checks;
//! - [`results`]: the Authentication-Results writer and the authserv-id reader;
//! - [`check`](mod@check): all of it for one message, and the header fields to store.

pub mod arc;
pub mod check;
pub mod dkim;
pub mod dmarc;
pub mod header;
pub mod intake;
pub mod iprev;
pub mod results;
pub mod spf;
pub mod tags;

pub use check::{Transaction, Verdict, check};
