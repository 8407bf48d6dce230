//! IMAP fixtures: typical client commands for the reader benches, a reader driver that
//! acts like the session (accepting APPEND messages), and [`FetchBench`]: the real
//! server session (`moxide_protocols::imap::server::Session`) with a mailbox selected
//! on the in-memory storage side, for FETCH (RFC 9051 §7.5.2).

use std::sync::Arc;

use moxide_protocols::imap::server::memory::{Account, Connection};
use moxide_protocols::imap::server::{ServerConfig, Session, SystemFlags};
use moxide_protocols::imap::{CommandReader, ReadError, ReadEvent, ReaderConfig};

use crate::corpus::text_message;

/// Size of the APPEND bench's message literal.
pub const APPEND_MESSAGE_BYTES: usize = 10 * 1024;

/// Bound on reader rounds per input: each round uses input or yields an event.
const ROUNDS_MAX: usize = 1_000_000;

/// Header fields a desktop client (Thunderbird's default list) asks for when it lists a
/// mailbox: the request behind most FETCH traffic.
pub const LISTING_FIELDS: &[&str] = &[
    "From",
    "To",
    "Cc",
    "Bcc",
    "Subject",
    "Date",
    "Message-ID",
    "Priority",
    "X-Priority",
    "References",
    "Newsgroups",
    "In-Reply-To",
    "Content-Type",
    "Reply-To",
];

/// A mailbox listing: UID FETCH with flags, size and the listing header fields.
pub fn uid_fetch_command() -> Vec<u8> {
    format!(
        "a101 UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS ({})])\r\n",
        LISTING_FIELDS.join(" ")
    )
    .into_bytes()
}

/// A search with OR, NOT, a date and a UID range, as a client's quick filter sends.
pub fn search_command() -> Vec<u8> {
    b"a102 UID SEARCH CHARSET UTF-8 OR (UNSEEN FROM \"bob@example.com\") \
      (FLAGGED SUBJECT \"weekly report\") NOT DELETED NOT (SINCE 1-Oct-2025 KEYWORD $Junk) \
      UID 1:40000\r\n"
        .to_vec()
}

/// Marking a range read and tagged, silently.
pub fn store_command() -> Vec<u8> {
    b"a103 UID STORE 1200:1250,1300,1302:1310 +FLAGS.SILENT (\\Seen $Forwarded)\r\n".to_vec()
}

/// APPEND of a [`APPEND_MESSAGE_BYTES`] message to Sent with a synchronizing literal,
/// as sent once the server's `+` came (the bench feeds it in one piece).
pub fn append_command() -> Vec<u8> {
    let message = text_message(5, APPEND_MESSAGE_BYTES);
    let mut input =
        format!("a104 APPEND Sent (\\Seen) \"14-Oct-2025 09:12:43 +0000\" {{{}}}\r\n", message.len())
            .into_bytes();
    input.extend_from_slice(&message);
    input.extend_from_slice(b"\r\n");
    input
}

/// A reader with the default limits, as a session has.
pub fn reader() -> CommandReader {
    CommandReader::new(ReaderConfig::default())
}

/// What reading an input produced.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadOutcome {
    /// Complete commands (APPEND counts at its end).
    pub commands: u32,
    /// `+` continuations the session would send.
    pub continuations: u32,
    /// APPEND message bytes streamed.
    pub append_bytes: u64,
}

/// Why reading stopped short.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadFailure {
    /// The reader refused a command.
    #[error("reader refused a command: {0}")]
    Refused(ReadError),
    /// Input ended inside a command.
    #[error("reader stuck after {used} of {len} input bytes")]
    Stuck {
        /// Bytes used.
        used: usize,
        /// Bytes given.
        len: usize,
    },
}

/// Feeds `input` to `reader` until it is used up, accepting every APPEND message.
pub fn read_all(reader: &mut CommandReader, input: &[u8]) -> Result<ReadOutcome, ReadFailure> {
    let mut outcome = ReadOutcome::default();
    let mut used = 0;
    for _ in 0..ROUNDS_MAX {
        let (step, event) = reader.feed(&input[used..]);
        used += step;
        match event {
            Some(ReadEvent::Command(_) | ReadEvent::AppendEnd { rejected: false, .. }) => {
                outcome.commands += 1
            }
            Some(ReadEvent::Continue) => outcome.continuations += 1,
            Some(ReadEvent::AppendMessage { .. }) => reader.append_accept(),
            Some(ReadEvent::AppendData(bytes)) => outcome.append_bytes += bytes.len() as u64,
            Some(ReadEvent::Error(error)) => return Err(ReadFailure::Refused(error)),
            Some(_) => {}
            None if used == input.len() => return Ok(outcome),
            None => return Err(ReadFailure::Stuck { used, len: input.len() }),
        }
    }
    Err(ReadFailure::Stuck { used, len: input.len() })
}

/// A session with a mailbox selected, on the in-memory storage side
/// (`moxide_protocols::imap::server::memory`): FETCH benches feed it commands and time
/// the real session, from parsing the command to the last response byte.
pub struct FetchBench {
    session: Session,
    connection: Connection,
}

impl FetchBench {
    /// A logged-in IMAP4rev2 session with INBOX selected, INBOX holding `messages` in order, with
    /// the flags and keywords of ordinary mail ([`mail_state`]).
    pub fn new(messages: impl IntoIterator<Item = Vec<u8>>) -> FetchBench {
        let mut account = Account::new("bench@example.org", "bench");
        for (n, message) in (1..).zip(messages) {
            let (flags, keywords) = mail_state(n);
            account.deliver("INBOX", &message, flags, &keywords);
        }
        let config = ServerConfig { plaintext_auth: true, ..ServerConfig::default() };
        let mut session = Session::new(Arc::new(config), false, Vec::new());
        session.start(true);
        let mut bench = FetchBench { session, connection: Connection::new(account.shared()) };
        // An IMAP4rev2 client: no \\Recent in the flags.
        bench.run(b"s0 ENABLE IMAP4rev2\r\ns1 SELECT INBOX\r\n");
        bench
    }

    /// Feeds `command`, answers every event, and returns the output it produced.
    pub fn run(&mut self, command: &[u8]) -> Vec<u8> {
        let mut input = command;
        for _ in 0..ROUNDS_MAX {
            self.connection.drive(&mut self.session);
            let used = self.session.handle_input(input, 0);
            input = &input[used..];
            if used == 0 && !self.session.has_work() {
                break;
            }
        }
        self.connection.write_out(&mut self.session);
        std::mem::take(&mut self.connection.written)
    }
}

/// System flags and keywords of message `n` of a mailbox of ordinary mail: most read,
/// some answered or flagged, a few with keywords.
pub fn mail_state(n: u32) -> (SystemFlags, Vec<&'static str>) {
    let mut flags = SystemFlags::default();
    if !n.is_multiple_of(10) {
        flags = flags.union(SystemFlags::SEEN);
    }
    if n.is_multiple_of(7) {
        flags = flags.union(SystemFlags::ANSWERED);
    }
    if n.is_multiple_of(23) {
        flags = flags.union(SystemFlags::FLAGGED);
    }
    let keywords = match n % 50 {
        0 => vec!["$Forwarded"],
        1 => vec!["$NotJunk", "project-x"],
        _ => Vec::new(),
    };
    (flags, keywords)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::corpus::{TEXT_MESSAGE_BYTES, multipart_message};

    #[test]
    fn every_bench_command_reads_as_one_command() {
        let mut reader = reader();
        for input in [uid_fetch_command(), search_command(), store_command()] {
            let outcome = read_all(&mut reader, &input).unwrap();
            assert_eq!(outcome, ReadOutcome { commands: 1, continuations: 0, append_bytes: 0 });
        }
        let outcome = read_all(&mut reader, &append_command()).unwrap();
        assert_eq!(
            outcome,
            ReadOutcome { commands: 1, continuations: 1, append_bytes: APPEND_MESSAGE_BYTES as u64 }
        );
        // The same reader goes on: nothing was left half-read.
        assert_eq!(read_all(&mut reader, &store_command()).unwrap().commands, 1);
    }

    #[test]
    fn a_bad_command_is_reported() {
        let error = read_all(&mut reader(), b"a1 FETCH (\r\n").unwrap_err();
        assert!(matches!(error, ReadFailure::Refused(_)), "{error:?}");
    }

    #[test]
    fn fetch_flags_lines_come_from_the_session() {
        let mut bench = FetchBench::new((0..50).map(|n| text_message(n, TEXT_MESSAGE_BYTES)));
        let out = String::from_utf8(bench.run(b"a1 FETCH 49:50 (UID FLAGS RFC822.SIZE)\r\n")).unwrap();
        assert_eq!(
            out,
            "* 49 FETCH (UID 49 FLAGS (\\Seen \\Answered) RFC822.SIZE 4096)\r\n\
             * 50 FETCH (UID 50 FLAGS ($Forwarded) RFC822.SIZE 4096)\r\n\
             a1 OK FETCH completed\r\n"
        );
    }

    #[test]
    fn fetch_structure_writes_envelope_and_bodystructure() {
        let mut bench = FetchBench::new([text_message(3, TEXT_MESSAGE_BYTES), multipart_message()]);
        let out = String::from_utf8(bench.run(b"a1 FETCH 1:2 (UID ENVELOPE BODYSTRUCTURE)\r\n")).unwrap();
        assert!(out.starts_with("* 1 FETCH (UID 1 ENVELOPE (\"Tue, "), "{out}");
        assert!(out.contains(" BODYSTRUCTURE ("), "{out}");
        assert!(out.contains("\"mixed\""), "{out}");
        assert!(out.contains("\"application\" \"pdf\""), "{out}");
        assert!(out.ends_with("a1 OK FETCH completed\r\n"), "{out}");
    }
}
