//! BURL (RFC 4468) in the server session: a third way to give the message, beside DATA
//! and BDAT. `BURL <url> [LAST]` names message content on our IMAP store by a URLAUTH
//! URL (RFC 4467); the caller resolves it and appends its bytes to the message exactly
//! as a BDAT chunk's (raw, no dot-unstuffing), and BURL and BDAT may alternate until one
//! of them says `LAST` (RFC 4468 §3.2).
//!
//! The session decides what it can alone; the caller holds the keys and the messages:
//! - BURL is offered (`BURL imap`, RFC 4468 §3.1/§3.3) only where the configuration says
//!   (submission listeners) and taken only from an authenticated client, during a
//!   transaction with at least one recipient (`554 5.5.0` otherwise, RFC 4468 §6);
//! - only URLAUTH URLs for our own host are resolved: anything else, another host or
//!   another scheme, is `554 5.7.8` (RFC 4468 §5-6: it would need a trust relationship
//!   with another server, and we have none). Nothing is ever fetched from the network;
//! - a URL is resolved by the caller ([`super::Event::Burl`], answered with
//!   [`ServerSession::burl_done`]): every way it can fail (MAC, expiry, access, a
//!   missing message) is the one reply `554 5.6.6`, so a client never learns which check
//!   it failed (the rule of URLFETCH's `NIL`, RFC 4467 §6);
//! - a failed BURL fails the whole transaction (RFC 4468 §3.2), as a failed BDAT does;
//!   the session stays usable for the next MAIL;
//! - the content counts against `message_bytes_max` with the BDAT chunks before it: the
//!   event says how much room is left, and content beyond it is `554 5.3.4` (RFC 4468
//!   §6) before any of it is appended.

use super::{AbortReason, Awaiting, Queued, ServerSession, code};
use crate::imap::url::{AuthUrl, parse_auth_url};
use crate::smtp::command::CommandError;
use crate::smtp::reply::Reply;

/// The caller's outcome for a [`super::Event::Burl`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BurlOutcome {
    /// The URL's content, this many octets (at most the event's `room_bytes`), was
    /// appended to the message.
    Appended(u64),
    /// The content is larger than the event's `room_bytes`; nothing was appended.
    TooLarge,
    /// The URL names nothing this client may send (any failed check, one answer).
    Unresolved,
    /// Our own failure (storage, a full disk): this reply, 4xx.
    Failed(Reply),
}

impl ServerSession {
    /// `BURL SP absolute-URI [SP LAST]` (RFC 4468 §3.5).
    pub(super) fn cmd_burl(&mut self, url: String, last: bool) {
        if !self.config.burl {
            // Not offered here (RFC 4468 §3.1: never on a relay's port 25).
            self.reply_error(CommandError::UnknownCommand.reply());
            return;
        }
        if self.authenticated.is_none() {
            self.reply_error(Reply::new(530, code(5, 7, 0), "authentication required"));
            return;
        }
        let Some(transaction) = &self.transaction else {
            self.reply_error(Reply::new(503, code(5, 5, 1), "MAIL first"));
            return;
        };
        if transaction.recipients.is_empty() {
            // RFC 4468 §3.2: without a valid recipient BURL simply fails, and the URL is
            // not resolved.
            self.reply_error(Reply::new(554, code(5, 5, 0), "no valid recipients"));
            return;
        }
        let url = match self.own_auth_url(&url) {
            Ok(url) => url,
            Err(reply) => return self.fail_burl(reply),
        };
        if self.message_open {
            self.push(Queued::Burl { url, last });
            self.awaiting = Some(Awaiting::Burl { last });
        } else {
            self.message_open = true;
            self.message_bytes = 0;
            self.push(Queued::MessageStart);
            self.awaiting = Some(Awaiting::BurlStart { url, last });
        }
    }

    /// The caller opened the message for a first BURL: on to resolving its URL.
    pub(super) fn answer_burl_start(&mut self, url: AuthUrl, last: bool, verdict: super::Verdict) {
        match verdict.accepted_text("") {
            Ok(_) => {
                self.push(Queued::Burl { url, last });
                self.awaiting = Some(Awaiting::Burl { last });
            }
            Err(reply) => {
                self.message_open = false;
                self.transaction = None;
                self.reply_error(reply);
            }
        }
    }

    /// The caller's answer to [`super::Event::Burl`]. Without that event outstanding
    /// this is a programmer error (debug assertion), except once the session is closing.
    pub fn burl_done(&mut self, outcome: BurlOutcome) {
        let Some(Awaiting::Burl { last }) = self.awaiting else {
            debug_assert!(self.closing, "burl_done() without a Burl event outstanding");
            return;
        };
        self.awaiting = None;
        match outcome {
            BurlOutcome::Appended(bytes) => {
                assert!(bytes <= self.burl_room_bytes(), "BURL content beyond the room given");
                self.message_bytes = self.message_bytes.saturating_add(bytes);
                if last {
                    self.message_open = false;
                    self.push(Queued::MessageEnd);
                    self.awaiting = Some(Awaiting::MessageEnd);
                } else {
                    let text = "waiting for additional BURL or BDAT commands";
                    self.write(Reply::new(250, code(2, 5, 0), text));
                }
            }
            BurlOutcome::TooLarge => {
                self.abort_message(AbortReason::TooLarge);
                self.reply_error(Reply::new(554, code(5, 3, 4), "message too big for system"));
            }
            BurlOutcome::Unresolved => {
                self.abort_message(AbortReason::BurlFailed);
                self.reply_error(unresolved());
            }
            BurlOutcome::Failed(reply) => {
                self.abort_message(AbortReason::BurlFailed);
                self.reply_error(reply);
            }
        }
    }

    /// Octets the message may still grow by.
    pub(super) fn burl_room_bytes(&self) -> u64 {
        self.config.message_bytes_max.saturating_sub(self.message_bytes)
    }

    /// A URLAUTH URL naming our host (see the module doc); else the reply.
    fn own_auth_url(&self, text: &str) -> Result<AuthUrl, Reply> {
        let is_imap = text.get(..7).is_some_and(|scheme| scheme.eq_ignore_ascii_case("imap://"));
        let has_urlauth = text.to_ascii_lowercase().contains(";urlauth=");
        match parse_auth_url(text) {
            Ok(url) if url.message.host.as_deref().is_some_and(|host| self.is_own_host(host)) => Ok(url),
            Ok(_) => Err(trust_required()),
            // A URLAUTH URL of ours that does not parse can name nothing.
            Err(_) if is_imap && has_urlauth => Err(unresolved()),
            // Another scheme, or a plain IMAP URL: only a trust relationship with the
            // server holding it would let us fetch it (RFC 4468 §3.3).
            Err(_) => Err(trust_required()),
        }
    }

    fn is_own_host(&self, host: &str) -> bool {
        host.eq_ignore_ascii_case(&self.config.hostname)
    }

    /// A BURL that failed before resolution: the transaction fails (RFC 4468 §3.2).
    fn fail_burl(&mut self, reply: Reply) {
        self.end_transaction(AbortReason::BurlFailed);
        self.reply_error(reply);
    }
}

/// RFC 4468 §6: the URL could not be resolved; one reply for every reason.
fn unresolved() -> Reply {
    Reply::new(554, code(5, 6, 6), "IMAP URL resolution failed")
}

/// RFC 4468 §5-6 X.7.8: content on a server we have no trust relationship with.
fn trust_required() -> Reply {
    Reply::new(554, code(5, 7, 8), "URL resolution requires trust relationship")
}
