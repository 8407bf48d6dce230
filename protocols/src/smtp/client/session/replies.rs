//! What each server reply does to the client session, by the command it answers.

use super::super::*;

impl ClientSession {
    pub(super) fn take_reply(&mut self, reply: Reply, now_ms: u64) {
        let Some(expected) = self.expected.pop_front() else {
            let cause =
                if reply.code == 421 { FailureCause::Reply(reply) } else { FailureCause::Unexpected(reply) };
            self.fail(cause);
            return;
        };
        // RFC 5321 §3.8: 421 may answer any command; the server closes after it.
        if reply.code == 421 && expected.what != Awaiting::Quit {
            self.expected.push_front(expected);
            self.fail(FailureCause::Reply(reply));
            return;
        }
        let positive = reply.code / 100 == 2;
        match expected.what {
            Awaiting::Greeting => self.on_greeting(reply, now_ms),
            Awaiting::Ehlo if positive => {
                self.caps = Capabilities::from_ehlo(&reply.text);
                self.events.push_back(Event::Ready);
            }
            // RFC 5321 §4.1.4: a server that refuses EHLO may still take HELO.
            Awaiting::Ehlo => {
                let line = format!("HELO {}", self.config.hostname);
                self.command(&line, Awaiting::Helo, now_ms + MAIL_TIMEOUT_MS);
            }
            Awaiting::Helo if positive => {
                self.caps = Capabilities::default();
                self.events.push_back(Event::Ready);
            }
            Awaiting::Helo => self.fail_with(Awaiting::Helo, reply),
            Awaiting::StartTls if reply.code == 220 => {
                self.phase = Phase::TlsHandshake;
                self.events.push_back(Event::TlsReady);
            }
            Awaiting::StartTls => self.events.push_back(Event::StartTlsRefused(reply)),
            Awaiting::Auth => self.on_auth(reply, now_ms),
            Awaiting::Mail => self.on_mail(reply, now_ms),
            Awaiting::Rcpt(index) => self.on_rcpt(index, reply, now_ms),
            Awaiting::Data => self.on_data(reply, now_ms),
            Awaiting::Bdat { last } => self.on_bdat(last, reply),
            Awaiting::DataEnd => {
                if let Some(transaction) = self.transaction.as_mut() {
                    transaction.data.get_or_insert(reply);
                }
                self.finish_transaction();
            }
            Awaiting::Rset => self.finish_transaction(),
            Awaiting::Reset if positive => self.events.push_back(Event::Ready),
            Awaiting::Reset => self.fail_with(Awaiting::Reset, reply),
            Awaiting::ResetInGroup if positive => {}
            Awaiting::ResetInGroup => self.fail_with(Awaiting::ResetInGroup, reply),
            Awaiting::Quit => {
                self.phase = Phase::Closed;
                self.events.push_back(Event::Closed);
            }
        }
    }

    /// A reply during AUTH, by where the exchange stands (RFC 4954 §4).
    fn on_auth(&mut self, reply: Reply, now_ms: u64) {
        let state = self.auth.take();
        match (state, reply.code) {
            (Some(AuthState::Cancelled(reason)), _) => self.events.push_back(Event::AuthRefused(reason)),
            (Some(AuthState::Plain | AuthState::ScramVerified), 235) => {
                self.events.push_back(Event::Authenticated);
            }
            (Some(AuthState::ScramFirst(mut client)), 334) => {
                match decode_challenge(&reply).and_then(|first| client.server_first(&first)) {
                    Ok(derivation) => {
                        self.auth = Some(AuthState::ScramDerive(client));
                        self.events.push_back(Event::AuthDerive(derivation));
                    }
                    Err(error) => self.cancel_auth(&error.to_string(), now_ms),
                }
            }
            (Some(AuthState::ScramFinal(mut client)), 334) => {
                match decode_challenge(&reply).and_then(|last| client.server_final(&last)) {
                    Ok(()) => {
                        self.command("", Awaiting::Auth, now_ms + MAIL_TIMEOUT_MS);
                        self.auth = Some(AuthState::ScramVerified);
                    }
                    Err(error) => self.cancel_auth(&error.to_string(), now_ms),
                }
            }
            (_, 334) => self.cancel_auth("unexpected challenge", now_ms),
            (Some(AuthState::ScramFinal(_)), 235) => {
                // Success without the server's signature: it never proved it knows the
                // password's keys (RFC 5802 §3: the client verifies ServerSignature).
                let text = "authentication cancelled: the server did not prove its identity (no SCRAM v=)";
                let reason = Reply::new(454, Some(EnhancedCode(4, 7, 0)), text);
                self.events.push_back(Event::AuthRefused(reason));
            }
            _ => self.events.push_back(Event::AuthRefused(reply)),
        }
    }

    fn on_greeting(&mut self, reply: Reply, now_ms: u64) {
        if reply.code == 220 {
            self.ehlo(now_ms);
        } else {
            self.fail_with(Awaiting::Greeting, reply);
        }
    }

    fn fail_with(&mut self, what: Awaiting, reply: Reply) {
        self.expected.push_front(Expected { what, deadline_ms: 0 });
        self.fail(FailureCause::Reply(reply));
    }

    fn on_mail(&mut self, reply: Reply, now_ms: u64) {
        let Some(transaction) = self.transaction.as_mut() else { return };
        let accepted = reply.code / 100 == 2;
        transaction.mail = Some(reply);
        if accepted {
            self.send_unsent(now_ms);
        } else if !self.caps.pipelining {
            // Nothing else was sent; no transaction started, so no RSET is needed.
            transaction.unsent.clear();
            self.finish_transaction();
        }
        // With PIPELINING the RCPTs and DATA were sent already; their replies follow.
    }

    fn on_rcpt(&mut self, index: usize, reply: Reply, now_ms: u64) {
        let Some(transaction) = self.transaction.as_mut() else { return };
        if reply.code / 100 == 2 {
            transaction.rcpt_accepted += 1;
        }
        if let Some(slot) = transaction.rcpt.get_mut(index) {
            *slot = Some(reply);
        }
        let last = index + 1 == transaction.rcpt.len();
        if !last {
            self.send_unsent(now_ms);
            return;
        }
        let mail_failed = transaction.mail.as_ref().is_some_and(|m| m.code / 100 != 2);
        let nobody = transaction.rcpt_accepted == 0 || mail_failed;
        if transaction.chunking && nobody {
            // No recipient: no BDAT; RSET ends the transaction (RFC 5321 §4.1.1.5).
            self.command("RSET", Awaiting::Rset, now_ms + MAIL_TIMEOUT_MS);
        } else if transaction.chunking {
            transaction.body.progress_ms = now_ms;
            self.phase = Phase::Body;
            self.events.push_back(Event::SendBody);
        } else if nobody && !self.caps.pipelining {
            // No recipient: DATA is not sent; RSET ends the transaction.
            transaction.unsent.clear();
            self.command("RSET", Awaiting::Rset, now_ms + MAIL_TIMEOUT_MS);
        } else {
            // DATA: sent already with PIPELINING, or now.
            self.send_unsent(now_ms);
        }
    }

    fn on_data(&mut self, reply: Reply, now_ms: u64) {
        let Some(transaction) = self.transaction.as_mut() else { return };
        let mail_failed = transaction.mail.as_ref().is_some_and(|m| m.code / 100 != 2);
        if reply.code != 354 {
            transaction.data = Some(reply);
            self.finish_transaction();
        } else if transaction.rcpt_accepted == 0 || mail_failed {
            // RFC 2920 §3.1: DATA accepted although no recipient was: end the empty
            // message at once; its reply is not a delivery.
            transaction.data = Some(Reply::new(554, Some(EnhancedCode(5, 5, 1)), "no valid recipients"));
            self.out.extend_from_slice(b".\r\n");
            self.expect(Awaiting::DataEnd, now_ms + DATA_TERMINATION_TIMEOUT_MS);
        } else {
            transaction.body.progress_ms = now_ms;
            self.phase = Phase::Body;
            self.events.push_back(Event::SendBody);
        }
    }

    fn on_bdat(&mut self, last: bool, reply: Reply) {
        let Some(transaction) = self.transaction.as_mut() else { return };
        if !last {
            transaction.body.bdat_in_flight = transaction.body.bdat_in_flight.saturating_sub(1);
        }
        if reply.code / 100 != 2 && transaction.body.refused.is_none() {
            transaction.body.refused = Some(reply.clone());
            transaction.data = Some(reply.clone());
        }
        if last {
            transaction.data.get_or_insert(reply);
            self.finish_transaction();
        }
    }

    /// Gives every recipient its result and reports the transaction (RFC 5321 §3.3:
    /// MAIL's failure is everyone's; a refused RCPT is that recipient's; the reply to
    /// the message is the rest's).
    fn finish_transaction(&mut self) {
        let Some(transaction) = self.transaction.take() else { return };
        let missing = || Reply::new(451, Some(EnhancedCode(4, 4, 0)), "no reply for the message");
        let mail = transaction.mail.unwrap_or_else(missing);
        let mail_failed = mail.code / 100 != 2;
        let data = transaction.data.unwrap_or_else(missing);
        let recipients = transaction
            .rcpt
            .into_iter()
            .map(|rcpt| match rcpt {
                _ if mail_failed => mail.clone(),
                Some(rcpt) if rcpt.code / 100 != 2 => rcpt,
                Some(_) => data.clone(),
                None => missing(),
            })
            .collect();
        self.events.push_back(Event::TransactionDone(TransactionResult { mail, recipients }));
    }
}

/// The base64 data of a `334` challenge (RFC 4954 §4: the text after the code).
fn decode_challenge(reply: &Reply) -> Result<Vec<u8>, crate::sasl::SaslError> {
    STANDARD
        .decode(reply.text.trim())
        .map_err(|_| crate::sasl::SaslError::Malformed("AUTH challenge is not base64"))
}
