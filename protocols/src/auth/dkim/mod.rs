//! DKIM verification and signing (RFC 6376, RFC 8463): signatures parsed from the header block, body
//! hashes computed while the message streams in (see [`intake`](crate::auth::intake)),
//! keys fetched through the resolver, signatures checked with ring.
//!
//! - [`signature`]: DKIM-Signature (and ARC-Message-Signature) tags;
//! - [`key`]: key records;
//! - [`canon`]: header and streaming body canonicalization, `l=`;
//! - [`crypto`]: rsa-sha256, rsa-sha1 (verification only) and ed25519-sha256;
//! - [`sign`]: signing outgoing mail (relaxed/relaxed, oversigned From/To/Subject);
//! - [`verify`](mod@verify): the result for each signature.

pub mod canon;
pub mod crypto;
pub mod key;
pub mod sign;
pub mod signature;
pub mod verify;

pub use signature::{Algorithm, Signature};
pub use verify::{DkimResult, DkimStatus, verify};
