//! Message authentication for incoming mail, sans-IO: SPF (RFC 7208). DNS answers come
//! through the [`Resolver`](crate::dns::Resolver) trait; nothing here opens a socket or
//! reads a clock.

pub mod spf;
