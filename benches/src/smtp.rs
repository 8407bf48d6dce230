//! Driving [`ServerSession`] the way the SMTP session actor does, minus the socket: feed
//! input in read-buffer-sized pieces, poll every event, answer the ones that ask with
//! `Accept`, and drain the reply bytes as if the socket took them all.
//!
//! The client side is RFC 5321 with PIPELINING (RFC 2920): the whole transaction arrives
//! at once, so the session's per-command work is measured, not round trips.

use std::sync::Arc;

use moxide_protocols::smtp::{Event, ServerConfig, ServerSession, Verdict};

/// Bytes handed to the session per call: the SMTP session actor's read buffer (32 KiB).
pub const READ_BYTES: usize = 32 * 1024;

/// Bound on driver rounds per input: each round uses input or handles an event, and no
/// bench input needs more than a few thousand.
const ROUNDS_MAX: usize = 1_000_000;

/// What a drive saw.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Events polled.
    pub events: u32,
    /// Events answered `Accept`.
    pub answers: u32,
    /// Message bytes delivered by `Body` events (dot-unstuffed for DATA).
    pub body_bytes: u64,
    /// Messages completed (`MessageEnd`).
    pub messages: u32,
    /// Reply bytes drained.
    pub reply_bytes: u64,
}

/// Why a drive stopped short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DriveError {
    /// The session used no input and had no event: the input ends inside a line.
    #[error("session stuck after {used} of {len} input bytes")]
    Stuck {
        /// Bytes used.
        used: usize,
        /// Bytes given.
        len: usize,
    },
    /// The session dropped a message the bench expected to be accepted.
    #[error("message aborted: {0}")]
    Aborted(String),
}

/// The configuration of the bench sessions: the defaults (limits of
/// `moxide_protocols::smtp::limits`), plain connection, no AUTH.
pub fn server_config() -> Arc<ServerConfig> {
    Arc::new(ServerConfig { hostname: "mx.example.com".to_owned(), ..ServerConfig::default() })
}

/// The client's side of a pipelined transaction: EHLO, MAIL FROM with SIZE and BODY,
/// `recipients` RCPT TO, DATA, the dot-stuffed `message` and its terminator, then QUIT.
pub fn transaction_input(recipients: u32, message: &[u8]) -> Vec<u8> {
    let mut input = format!(
        "EHLO mail-out.lists.example.org\r\n\
         MAIL FROM:<reports-bounces@lists.example.org> SIZE={} BODY=8BITMIME\r\n",
        message.len()
    )
    .into_bytes();
    for n in 0..recipients {
        input.extend_from_slice(format!("RCPT TO:<user{n}@example.com>\r\n").as_bytes());
    }
    input.extend_from_slice(b"DATA\r\n");
    input.extend_from_slice(&crate::corpus::dot_stuff(message));
    input.extend_from_slice(b"QUIT\r\n");
    input
}

/// Feeds all of `input` to `session` in [`READ_BYTES`] pieces, handling every event as
/// described in the module doc. Stops early only on an error.
pub fn drive(session: &mut ServerSession, input: &[u8]) -> Result<Outcome, DriveError> {
    let mut outcome = Outcome::default();
    let mut used = 0;
    for _ in 0..ROUNDS_MAX {
        let handled = handle_events(session, &mut outcome)?;
        let output = session.pending_output().len();
        outcome.reply_bytes += output as u64;
        session.advance_output(output);
        if used == input.len() || session.wants_close() {
            return Ok(outcome);
        }
        let window = &input[used..input.len().min(used + READ_BYTES)];
        let step = session.handle_input(window, 0);
        used += step;
        if step == 0 && !handled {
            return Err(DriveError::Stuck { used, len: input.len() });
        }
    }
    Err(DriveError::Stuck { used, len: input.len() })
}

/// Polls every queued event, answering those that need it; true if there was one.
fn handle_events(session: &mut ServerSession, outcome: &mut Outcome) -> Result<bool, DriveError> {
    let mut any = false;
    while let Some(event) = session.poll_event() {
        any = true;
        outcome.events += 1;
        let needs_answer = match event {
            Event::MailFrom(_) | Event::RcptTo(_) | Event::MessageStart => true,
            Event::MessageEnd => {
                outcome.messages += 1;
                true
            }
            Event::Body(bytes) => {
                outcome.body_bytes += bytes.len() as u64;
                false
            }
            Event::MessageAborted(reason) => return Err(DriveError::Aborted(format!("{reason:?}"))),
            _ => false,
        };
        if needs_answer {
            outcome.answers += 1;
            session.answer(Verdict::Accept);
        }
    }
    Ok(any)
}

/// A session that has accepted EHLO, MAIL, one RCPT and DATA (`354` sent): the next
/// input is message bytes.
pub fn session_in_data() -> Result<ServerSession, DriveError> {
    let mut session = ServerSession::new(server_config());
    let setup = b"EHLO mail-out.lists.example.org\r\n\
                  MAIL FROM:<reports-bounces@lists.example.org> BODY=8BITMIME\r\n\
                  RCPT TO:<alice@example.com>\r\n\
                  DATA\r\n";
    let outcome = drive(&mut session, setup)?;
    if outcome.answers != 3 {
        return Err(DriveError::Aborted(format!("setup answered {} of 3 events", outcome.answers)));
    }
    Ok(session)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::corpus::{TEXT_MESSAGE_BYTES, dot_stuff, text_message};

    #[test]
    fn pipelined_transaction_delivers_the_unstuffed_message() {
        let message = text_message(7, TEXT_MESSAGE_BYTES);
        let input = transaction_input(10, &message);
        let mut session = ServerSession::new(server_config());
        let outcome = drive(&mut session, &input).unwrap();
        // MAIL + 10 RCPT + DATA start + message end.
        assert_eq!(outcome.answers, 13);
        assert_eq!(outcome.messages, 1);
        assert_eq!(outcome.body_bytes, message.len() as u64);
        assert!(session.wants_close(), "QUIT was read");
    }

    #[test]
    fn data_streaming_from_a_prepared_session() {
        let message = text_message(1, 100 * 1024);
        let mut session = session_in_data().unwrap();
        let outcome = drive(&mut session, &dot_stuff(&message)).unwrap();
        assert_eq!(outcome.messages, 1);
        assert_eq!(outcome.body_bytes, message.len() as u64);
    }

    #[test]
    fn truncated_input_is_reported_as_stuck() {
        let mut session = ServerSession::new(server_config());
        let error = drive(&mut session, b"EHLO a.example\r\nMAIL FROM:<a@b").unwrap_err();
        assert!(matches!(error, DriveError::Stuck { used: 16, len: 30 }), "{error:?}");
    }
}
