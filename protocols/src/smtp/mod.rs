//! SMTP, sans-IO: the server session, the client session, and what they are made of.
//!
//! - [`server`]: [`ServerSession`], bytes in, [`Event`]s and reply bytes out;
//! - [`command`]: one command line to a command (RFC 5321 §4.1, RFC 1870, RFC 6152,
//!   RFC 6531, RFC 3030);
//! - [`address`]: paths and mailboxes (RFC 5321 §4.1.2, RFC 6531 §3.3);
//! - `data`: the DATA body decoder with the smuggling rules (RFC 5321 §4.5.2, §2.3.8);
//! - [`reply`]: replies and their wire form (RFC 5321 §4.2, RFC 2034, RFC 3463);
//! - [`received`]: the `Received:` trace header (RFC 5321 §4.4) and RFC 5322 dates;
//! - [`from_header`]: the message's `From:` found while it streams in, for submission's
//!   author check (RFC 6409 §6.3);
//! - [`limits`]: every limit with its reason;
//! - [`dsn`]: delivery status notifications (RFC 3464) the queue sends;
//! - [`client`]: the client session for the outbound queue: server replies in, commands
//!   and the dot-stuffed or chunked message out.
//!
//! STARTTLS (RFC 3207) and AUTH (RFC 4954) are part of the session: the caller runs the
//! TLS handshake and the SASL exchange and reports the outcome; the session decides
//! what is offered, when, and what is forgotten after TLS starts. A submission listener
//! (RFC 6409) requires AUTH before MAIL.

pub mod address;
pub mod client;
pub mod command;
mod data;
pub mod dsn;
pub mod from_header;
pub mod limits;
pub mod received;
pub mod release;
pub mod reply;
pub mod server;
pub mod transparency;

pub use address::{AddressError, Domain, ForwardPath, Mailbox, ReversePath};
pub use command::{BodyType, MailFrom};
pub use from_header::{FromField, FromScanner};
pub use limits::*;
pub use received::{ReceivedTrace, received_header, rfc5322_date};
pub use release::{FutureRelease, Release};
pub use reply::{EnhancedCode, Reply};
pub use server::{AbortReason, BurlOutcome, Event, ServerConfig, ServerSession, Transaction, Verdict};
pub use transparency::dot_stuff;
