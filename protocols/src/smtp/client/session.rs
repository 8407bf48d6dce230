//! The client session's state machine: the caller's verbs, and what each reply does.

use std::collections::VecDeque;

use memchr::memchr;

use super::*;

impl ClientSession {
    /// A session on a new connection, waiting for the greeting from `now_ms`.
    pub fn new(config: ClientConfig, now_ms: u64) -> Self {
        let mut session = Self {
            config,
            reader: ReplyReader::new(),
            expected: VecDeque::new(),
            phase: Phase::Running,
            caps: Capabilities::default(),
            tls: false,
            transaction: None,
            auth: None,
            events: VecDeque::new(),
            out: Vec::new(),
            out_sent: 0,
            reset_pending: false,
        };
        session.expect(Awaiting::Greeting, now_ms + GREETING_TIMEOUT_MS);
        session
    }

    /// A session on a connection that is TLS from the start (RFC 8314, smarthosts on
    /// port 465).
    pub fn new_tls(config: ClientConfig, now_ms: u64) -> Self {
        let mut session = Self::new(config, now_ms);
        session.tls = true;
        session
    }

    /// The server's extensions, from its last EHLO reply.
    pub fn capabilities(&self) -> &Capabilities {
        &self.caps
    }

    /// True once TLS is established on the connection.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Most recipients [`Self::send`] takes in one transaction with this server.
    pub fn recipients_max(&self) -> u32 {
        self.caps.transaction_recipients_max()
    }

    /// True when the caller may start something (after [`Event::Ready`] and the end of
    /// each exchange).
    pub fn is_ready(&self) -> bool {
        self.phase == Phase::Running
            && self.expected.is_empty()
            && self.transaction.is_none()
            && self.auth.is_none()
    }

    /// True when the session waits for server bytes.
    pub fn wants_input(&self) -> bool {
        matches!(self.phase, Phase::Running | Phase::Body) && !self.expected.is_empty()
    }

    /// True when `body_data` would take bytes now.
    pub fn wants_body(&self) -> bool {
        self.phase == Phase::Body && self.body_room() > 0
    }

    /// True once the session failed or was closed.
    pub fn is_done(&self) -> bool {
        matches!(self.phase, Phase::Closed | Phase::Failed)
    }

    /// Where the session is, for logs and failures.
    pub fn stage(&self) -> Stage {
        match (self.phase, self.expected.front()) {
            (Phase::Body, _) => Stage::Body,
            (Phase::TlsHandshake, _) => Stage::StartTls,
            (_, Some(expected)) => expected.what.stage(),
            _ => Stage::Idle,
        }
    }

    /// The time by which the server must answer (or, while the body is sent, the next
    /// write must happen), in the caller's milliseconds; `None` when nothing is awaited.
    pub fn deadline_ms(&self) -> Option<u64> {
        let reply = self.expected.front().map(|e| e.deadline_ms);
        let body = match (&self.transaction, self.phase) {
            (Some(transaction), Phase::Body) => Some(transaction.body.progress_ms + DATA_BLOCK_TIMEOUT_MS),
            _ => None,
        };
        match (reply, body) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fails the session with [`FailureCause::Timeout`] if its deadline has passed.
    pub fn handle_timeout(&mut self, now_ms: u64) {
        if self.deadline_ms().is_some_and(|deadline| now_ms >= deadline) && !self.is_done() {
            self.fail(FailureCause::Timeout);
        }
    }

    /// The server closed the connection (or it broke).
    pub fn peer_closed(&mut self) {
        if !self.is_done() {
            self.fail(FailureCause::Closed);
        }
    }

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Bytes to write to the server.
    pub fn pending_output(&self) -> &[u8] {
        &self.out[self.out_sent..]
    }

    /// The caller wrote `n` bytes of [`Self::pending_output`].
    pub fn advance_output(&mut self, n: usize) {
        assert!(n <= self.out.len() - self.out_sent, "advanced past the pending output");
        self.out_sent += n;
        if self.out_sent == self.out.len() {
            self.out.clear();
            self.out_sent = 0;
        }
    }

    /// Uses server bytes; returns how many. Stops after a reply that hands the
    /// connection to the caller (the `220` to STARTTLS), and after a failure.
    pub fn handle_input(&mut self, input: &[u8], now_ms: u64) -> usize {
        let mut used = 0;
        while used < input.len() && matches!(self.phase, Phase::Running | Phase::Body) {
            match self.reader.feed(&input[used..]) {
                Ok((n, reply)) => {
                    used += n;
                    if let Some(reply) = reply {
                        self.take_reply(reply, now_ms);
                    }
                }
                Err(error) => {
                    self.fail(FailureCause::Malformed(error));
                    break;
                }
            }
        }
        if self.phase == Phase::TlsHandshake && (used < input.len() || self.reader.is_mid_reply()) {
            self.fail(FailureCause::InputAfterStartTls);
        }
        used
    }

    /// Asks for TLS (RFC 3207). Only when ready and the server offers STARTTLS.
    pub fn start_tls(&mut self, now_ms: u64) -> bool {
        if !self.is_ready() || self.tls || !self.caps.starttls {
            return false;
        }
        self.command("STARTTLS", Awaiting::StartTls, now_ms + MAIL_TIMEOUT_MS);
        true
    }

    /// The TLS handshake after [`Event::TlsReady`] succeeded: everything learned before
    /// is forgotten and EHLO is sent again (RFC 3207 §4.2). False (and nothing
    /// happens) when no handshake is due, e.g. the session failed meanwhile.
    pub fn tls_established(&mut self, now_ms: u64) -> bool {
        if self.phase != Phase::TlsHandshake {
            return false;
        }
        self.phase = Phase::Running;
        self.tls = true;
        self.caps = Capabilities::default();
        self.reader = ReplyReader::new();
        self.ehlo(now_ms);
        true
    }

    /// AUTH PLAIN with an initial response (RFC 4954 §4, RFC 4616). Only when ready,
    /// over TLS, and offered; credentials must not contain NUL.
    pub fn authenticate_plain(&mut self, username: &str, password: &str, now_ms: u64) -> bool {
        let usable = self.is_ready() && self.tls && self.caps.offers_auth("PLAIN");
        if !usable || username.contains('\0') || password.contains('\0') {
            return false;
        }
        let message = format!("\0{username}\0{password}");
        let line = format!("AUTH PLAIN {}", STANDARD.encode(message));
        self.command(&line, Awaiting::Auth, now_ms + MAIL_TIMEOUT_MS);
        self.auth = Some(AuthState::Plain);
        true
    }

    /// Starts AUTH (RFC 4954) with the strongest mechanism [`choose_mechanism`] finds;
    /// `None` (and nothing sent) when there is none, or the session is not ready.
    /// SCRAM goes with an initial response (client-first); the exchange then asks the
    /// caller for the salted password ([`Event::AuthDerive`]) and ends in
    /// [`Event::Authenticated`] or [`Event::AuthRefused`].
    pub fn authenticate(&mut self, request: &AuthRequest<'_>, now_ms: u64) -> Option<Mechanism> {
        if !self.is_ready() {
            return None;
        }
        let binding = request.channel_binding.as_ref().filter(|_| self.tls);
        let mechanism =
            choose_mechanism(&self.caps.auth_mechanisms, request.allowed, self.tls, binding.is_some())?;
        if mechanism == Mechanism::Plain {
            return self.authenticate_plain(request.username, request.password, now_ms).then_some(mechanism);
        }
        // RFC 5802 §6: gs2 flag `y` (we could bind) only when the server did not offer
        // the -PLUS variant; when it did and the configuration chose the plain one, `n`,
        // or the server would take it for a downgrade.
        let plus_offered = |name: &str| self.caps.auth_mechanisms.iter().any(|m| m == name);
        let binding = match mechanism {
            Mechanism::ScramSha256 if plus_offered("SCRAM-SHA-256-PLUS") => None,
            Mechanism::ScramSha1 if plus_offered("SCRAM-SHA-1-PLUS") => None,
            _ => binding,
        };
        let nonce = crate::sasl::client_nonce(request.nonce);
        let client = ScramClient::new(mechanism, request.username, &nonce, binding).ok()?;
        let line = format!("AUTH {} {}", mechanism.name(), STANDARD.encode(client.client_first()));
        self.command(&line, Awaiting::Auth, now_ms + MAIL_TIMEOUT_MS);
        self.auth = Some(AuthState::ScramFirst(Box::new(client)));
        Some(mechanism)
    }

    /// The salted password the [`Event::AuthDerive`] asked for (or the derivation's
    /// error: the exchange is cancelled). False when no derivation is due.
    pub fn auth_derived(&mut self, salted: Result<Vec<u8>, crate::sasl::SaslError>, now_ms: u64) -> bool {
        let Some(AuthState::ScramDerive(mut client)) = self.auth.take() else {
            return false;
        };
        if self.phase != Phase::Running {
            return false;
        }
        match salted.and_then(|salted| client.client_final(&salted)) {
            Ok(last) => {
                self.command(&STANDARD.encode(last), Awaiting::Auth, now_ms + MAIL_TIMEOUT_MS);
                self.auth = Some(AuthState::ScramFinal(client));
            }
            Err(error) => self.cancel_auth(&error.to_string(), now_ms),
        }
        true
    }

    /// Cancels the exchange under way with `*` (RFC 4954 §4); `why` is reported.
    pub(super) fn cancel_auth(&mut self, why: &str, now_ms: u64) {
        self.command("*", Awaiting::Auth, now_ms + MAIL_TIMEOUT_MS);
        let reason = Reply::new(454, Some(EnhancedCode(4, 7, 0)), format!("authentication cancelled: {why}"));
        self.auth = Some(AuthState::Cancelled(reason));
    }

    /// RSET between transactions on a connection kept open for the next message: its
    /// `250` is [`Event::Ready`] (the connection still works), anything else fails the
    /// session. With PIPELINING the RSET leads the next [`ClientSession::send`]'s group
    /// instead (RFC 2920 §3.1 lets it stand anywhere in one) and [`Event::Ready`] comes
    /// at once: a round trip less per message, and a refusal or a connection closed
    /// meanwhile still fails the session before any message byte goes out. Only when
    /// ready.
    pub fn reset(&mut self, now_ms: u64) -> bool {
        if !self.is_ready() {
            return false;
        }
        if self.caps.pipelining {
            self.reset_pending = true;
            self.events.push_back(Event::Ready);
        } else {
            self.command("RSET", Awaiting::Reset, now_ms + MAIL_TIMEOUT_MS);
        }
        true
    }

    /// Ends the session politely (a pending RSET is dropped: QUIT needs none). Only
    /// when ready.
    pub fn quit(&mut self, now_ms: u64) -> bool {
        if !self.is_ready() {
            return false;
        }
        self.reset_pending = false;
        self.command("QUIT", Awaiting::Quit, now_ms + MAIL_TIMEOUT_MS);
        true
    }

    /// Starts a transaction. With PIPELINING the whole envelope (and DATA) goes out at
    /// once; otherwise one command per reply. Refused before anything is written when
    /// the message cannot go to this server.
    pub fn send(&mut self, envelope: &Envelope, now_ms: u64) -> Result<(), Unsendable> {
        if !self.is_ready() {
            return Err(Unsendable::NotReady);
        }
        let lines = envelope::command_lines(envelope, &self.caps, self.tls, self.recipients_max())?;
        // BINARYMIME needs BDAT (RFC 3030 §3); otherwise BDAT only saves dot-stuffing.
        let chunking = self.caps.chunking;
        let mut unsent: VecDeque<(String, Awaiting)> = lines
            .into_iter()
            .enumerate()
            .map(|(i, line)| (line, if i == 0 { Awaiting::Mail } else { Awaiting::Rcpt(i - 1) }))
            .collect();
        if !chunking {
            unsent.push_back(("DATA".to_owned(), Awaiting::Data));
        }
        let recipients = envelope.recipients.len();
        self.transaction = Some(Transaction {
            chunking,
            unsent,
            mail: None,
            rcpt: vec![None; recipients],
            rcpt_accepted: 0,
            data: None,
            body: BodyState { at_line_start: true, ..BodyState::default() },
        });
        if std::mem::take(&mut self.reset_pending) {
            self.command("RSET", Awaiting::ResetInGroup, now_ms + MAIL_TIMEOUT_MS);
        }
        self.send_unsent(now_ms);
        Ok(())
    }

    /// Writes the transaction's next command, or all of them with PIPELINING (the
    /// group ends at DATA, RFC 2920 §3.1).
    fn send_unsent(&mut self, now_ms: u64) {
        loop {
            let Some((line, what)) = self.transaction.as_mut().and_then(|t| t.unsent.pop_front()) else {
                return;
            };
            let timeout_ms = match what {
                Awaiting::Rcpt(_) => RCPT_TIMEOUT_MS,
                Awaiting::Data => DATA_INITIATION_TIMEOUT_MS,
                _ => MAIL_TIMEOUT_MS,
            };
            self.command(&line, what, now_ms + timeout_ms);
            if !self.caps.pipelining {
                return;
            }
        }
    }

    /// Message bytes, in order; returns how many were taken (0 when the output is full:
    /// flush, or read the replies to pipelined BDAT chunks, then call again).
    pub fn body_data(&mut self, data: &[u8], now_ms: u64) -> usize {
        let room = self.body_room();
        let Some(transaction) = self.transaction.as_mut().filter(|_| self.phase == Phase::Body) else {
            return 0;
        };
        transaction.body.progress_ms = now_ms;
        if transaction.body.refused.is_some() {
            return data.len();
        }
        if room == 0 || data.is_empty() {
            return 0;
        }
        let taken = if transaction.chunking {
            let chunk = &data[..data.len().min(room).min(BDAT_CHUNK_BYTES_MAX)];
            self.out.extend_from_slice(format!("BDAT {}\r\n", chunk.len()).as_bytes());
            self.out.extend_from_slice(chunk);
            transaction.body.bdat_in_flight += 1;
            let deadline_ms = now_ms + DATA_BLOCK_TIMEOUT_MS;
            self.expected.push_back(Expected { what: Awaiting::Bdat { last: false }, deadline_ms });
            chunk.len()
        } else {
            stuff(&mut transaction.body, data, room, &mut self.out)
        };
        note_tail(&mut transaction.body, &data[..taken]);
        taken
    }

    /// The whole message was given to `body_data`. Does nothing outside the body (the
    /// session failed meanwhile).
    pub fn body_end(&mut self, now_ms: u64) {
        if self.phase != Phase::Body {
            return;
        }
        self.phase = Phase::Running;
        let Some(transaction) = self.transaction.as_mut() else {
            return;
        };
        let deadline_ms = now_ms + DATA_TERMINATION_TIMEOUT_MS;
        if transaction.body.refused.is_some() {
            self.command("RSET", Awaiting::Rset, now_ms + MAIL_TIMEOUT_MS);
        } else if transaction.chunking {
            self.out.extend_from_slice(b"BDAT 0 LAST\r\n");
            self.expected.push_back(Expected { what: Awaiting::Bdat { last: true }, deadline_ms });
        } else {
            // RFC 5321 §4.1.1.4: the end of data is CRLF "." CRLF; a message not ending
            // in CRLF gets one.
            if transaction.body.bytes > 0 && transaction.body.tail != *b"\r\n" {
                self.out.extend_from_slice(b"\r\n");
            }
            self.out.extend_from_slice(b".\r\n");
            self.expected.push_back(Expected { what: Awaiting::DataEnd, deadline_ms });
        }
    }

    fn body_room(&self) -> usize {
        let Some(transaction) = &self.transaction else {
            return 0;
        };
        let in_flight_max = if self.caps.pipelining { BDAT_IN_FLIGHT_MAX } else { 1 };
        if transaction.chunking && transaction.body.bdat_in_flight >= in_flight_max {
            return 0;
        }
        CLIENT_OUTPUT_BYTES_MAX.saturating_sub(self.pending_output().len())
    }

    fn command(&mut self, line: &str, what: Awaiting, deadline_ms: u64) {
        debug_assert!(!line.contains('\r') && !line.contains('\n'), "command line with a line break");
        self.out.extend_from_slice(line.as_bytes());
        self.out.extend_from_slice(b"\r\n");
        self.expect(what, deadline_ms);
    }

    fn expect(&mut self, what: Awaiting, deadline_ms: u64) {
        self.expected.push_back(Expected { what, deadline_ms });
    }

    fn ehlo(&mut self, now_ms: u64) {
        let line = format!("EHLO {}", self.config.hostname);
        self.command(&line, Awaiting::Ehlo, now_ms + MAIL_TIMEOUT_MS);
    }

    fn fail(&mut self, cause: FailureCause) {
        let stage = self.stage();
        let polite = matches!(&cause, FailureCause::Reply(reply) if reply.code != 421);
        self.phase = Phase::Failed;
        self.expected.clear();
        self.transaction = None;
        self.auth = None;
        if polite {
            // RFC 5321 §3.1: after a refused greeting the client should still QUIT.
            self.out.extend_from_slice(b"QUIT\r\n");
        }
        self.events.push_back(Event::Failed(Failure { stage, cause }));
    }
}

/// Dot-stuffs `data` into `out` (RFC 5321 §4.5.2) while `out` has room; returns the
/// bytes of `data` taken. A line-start dot may take `out` one byte past `room`.
fn stuff(body: &mut BodyState, data: &[u8], room: usize, out: &mut Vec<u8>) -> usize {
    let limit = out.len() + room;
    let mut used = 0;
    while used < data.len() && out.len() < limit {
        if body.at_line_start && data[used] == b'.' {
            out.push(b'.');
        }
        let rest = &data[used..data.len().min(used + (limit - out.len()).max(1))];
        let end = memchr(b'\n', rest).map_or(rest.len(), |i| i + 1);
        out.extend_from_slice(&rest[..end]);
        used += end;
        body.at_line_start = rest[end - 1] == b'\n';
    }
    used
}

fn note_tail(body: &mut BodyState, taken: &[u8]) {
    body.bytes += taken.len() as u64;
    match taken {
        [] => {}
        [only] => body.tail = [body.tail[1], *only],
        [.., a, b] => body.tail = [*a, *b],
    }
}

mod replies;
