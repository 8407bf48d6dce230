//! Message authentication for incoming mail, sans-IO: SPF (RFC 7208), DKIM (RFC 6376,
//! RFC 8463). DNS answers come through the [`Resolver`](crate::dns::Resolver) trait;
//! nothing here opens a socket or reads a clock.
//!
//! - [`intake`]: the message fed in chunks once, collected for all checks (header block,
//!   body hashes);
//! - [`header`], [`tags`]: header fields and tag-lists;
//! - [`spf`], [`dkim`]: the checks.

pub mod dkim;
pub mod header;
pub mod intake;
pub mod spf;
pub mod tags;
