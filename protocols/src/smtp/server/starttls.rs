//! STARTTLS (RFC 3207) and implicit TLS (RFC 8314 §3) in the server session.
//!
//! The caller runs the handshake; the session decides when one may start and what is
//! forgotten after it. Invariants:
//! - STARTTLS is accepted only with nothing behind it in the input. Plaintext pipelined
//!   after STARTTLS would, after the handshake, be taken as if the client had sent it
//!   over TLS (CVE-2011-0411): an attacker in the path appends commands to the client's
//!   STARTTLS. RFC 2920 §3.1 already makes commands that change state end a group, so a
//!   conforming client never does this; the session refuses with `554 5.5.1` and closes
//!   instead of sending `220`, so no handshake can follow the injected bytes.
//! - while the handshake runs (from the `220` to `tls_started`/`tls_failed`) no input
//!   is read;
//! - after `tls_started` the session is as after the greeting (RFC 3207 §4.2): no
//!   HELO/EHLO name, no authentication, no transaction. Abuse counters (errors,
//!   commands without mail) are kept: they bound the connection, not the protocol state.

use std::sync::Arc;

use super::{Awaiting, Queued, ServerConfig, ServerSession, code};
use crate::smtp::reply::Reply;

impl ServerSession {
    /// A session on an implicit-TLS connection (RFC 8314 §3, e.g. port 465): the
    /// handshake is done before the greeting. Queues the same greeting as [`Self::new`].
    pub fn new_tls(config: Arc<ServerConfig>) -> Self {
        let mut session = Self::new(config);
        session.tls = true;
        session
    }

    /// The handshake after [`super::Event::StartTls`] succeeded. The session forgets what
    /// the client said before (RFC 3207 §4.2): the client must send EHLO again. No new
    /// greeting is sent.
    pub fn tls_started(&mut self) {
        if !self.tls_handshake_due() {
            return;
        }
        // STARTTLS is refused inside a transaction, so there is none to end here.
        assert!(self.transaction.is_none(), "transaction open across STARTTLS");
        assert!(!self.message_open, "message open across STARTTLS");
        self.awaiting = None;
        self.tls = true;
        self.helo_name = None;
        self.esmtp = false;
        self.authenticated = None;
    }

    /// The handshake after [`super::Event::StartTls`] failed: the session closes without
    /// a reply (nothing could be written in plaintext or in TLS that the client reads).
    pub fn tls_failed(&mut self) {
        if !self.tls_handshake_due() {
            return;
        }
        self.awaiting = None;
        self.closing = true;
    }

    /// The caller holds plaintext that arrived after the STARTTLS line and that the
    /// session never saw (see [`super::Event::StartTls`]): refuses the upgrade with
    /// `554 5.5.1` and closes. Call it instead of starting the handshake, and drop the
    /// buffered bytes. Ignored when the session already refused by itself.
    pub fn tls_refused_injection(&mut self) {
        if !self.tls_handshake_due() {
            return;
        }
        self.close_with(injection_refused());
    }

    /// STARTTLS, with `input_follows` telling whether bytes came behind its line.
    pub(super) fn cmd_starttls(&mut self, input_follows: bool) {
        let refusal = if self.tls {
            Some(Reply::new(503, code(5, 5, 1), "TLS already active"))
        } else if !self.config.starttls {
            // RFC 5321 §4.2.4: 502 for a command we know but do not offer here.
            Some(Reply::new(502, code(5, 5, 1), "STARTTLS not available"))
        } else if self.transaction.is_some() {
            Some(Reply::new(503, code(5, 5, 1), "STARTTLS not allowed during a mail transaction"))
        } else {
            None
        };
        if let Some(reply) = refusal {
            self.reply_error(reply);
        } else if self.count_command_without_mail() {
            if input_follows {
                self.push(Queued::StartTls { pipelined: true });
                self.close_with(injection_refused());
            } else {
                self.write(Reply::new(220, code(2, 0, 0), "ready to start TLS"));
                self.push(Queued::StartTls { pipelined: false });
                self.awaiting = Some(Awaiting::Tls);
            }
        }
    }

    /// STARTTLS is advertised and accepted: configured, and TLS not active yet.
    pub(super) fn starttls_offered(&self) -> bool {
        self.config.starttls && !self.tls
    }

    /// REQUIRETLS is advertised and its MAIL parameter accepted (RFC 8689): only once
    /// TLS is active, since the message must have arrived over TLS itself.
    pub(super) fn requiretls_offered(&self) -> bool {
        self.config.requiretls && self.tls
    }

    /// True when a handshake outcome is expected; otherwise a caller bug unless the
    /// session is already closing (it may have refused the upgrade itself).
    fn tls_handshake_due(&self) -> bool {
        let due = matches!(self.awaiting, Some(Awaiting::Tls));
        debug_assert!(due || self.closing, "TLS outcome reported without a StartTls event");
        due
    }
}

fn injection_refused() -> Reply {
    Reply::new(554, code(5, 5, 1), "pipelined commands after STARTTLS are not allowed")
}
