//! IMAP fixtures: typical client commands for the reader benches, a reader driver that
//! acts like the session (accepting APPEND messages), and the FETCH response building
//! of the IMAP session for the items answered from the index and the stored summary
//! (RFC 9051 §7.5.2: UID, FLAGS, RFC822.SIZE, ENVELOPE, BODYSTRUCTURE).
//!
//! The session's own FETCH code is private to `moxide-actors` (and needs the runtime);
//! [`write_fetch_flags`] and [`write_fetch_structure`] put together the same public
//! writers in the same order, so they cost what the session's per-message path costs
//! short of the store read.

use moxide_protocols::imap::{CommandReader, Flag, ReadError, ReadEvent, ReaderConfig, write_flags};
use moxide_protocols::mime::{self, MessageSummary, SummaryError};
use moxide_storage::{Flags, MailboxId, MessageId, MessageInfo, ModSeq, Uid};

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

/// The IMAP flag list of a message, system flags first, as the session builds it.
pub fn flag_list(flags: Flags, keywords: &[String]) -> Vec<Flag> {
    let mut list = Vec::with_capacity(5 + keywords.len());
    for (bit, flag) in [
        (Flags::SEEN, Flag::Seen),
        (Flags::ANSWERED, Flag::Answered),
        (Flags::FLAGGED, Flag::Flagged),
        (Flags::DELETED, Flag::Deleted),
        (Flags::DRAFT, Flag::Draft),
    ] {
        if flags.contains(bit) {
            list.push(flag);
        }
    }
    list.extend(keywords.iter().map(|keyword| Flag::Keyword(keyword.clone())));
    list
}

/// `* seq FETCH (UID u FLAGS (...) RFC822.SIZE n)` CRLF: a UID FETCH of flags and size,
/// each item built as the session builds it.
pub fn write_fetch_flags(out: &mut Vec<u8>, seq: u32, info: &MessageInfo) {
    out.extend_from_slice(format!("* {seq} FETCH (").as_bytes());
    out.extend_from_slice(format!("UID {}", info.uid.0).as_bytes());
    out.extend_from_slice(b" FLAGS ");
    write_flags(out, &flag_list(info.flags, &info.keywords));
    let served_size = info.prefix.len() as u64 + info.size;
    out.extend_from_slice(format!(" RFC822.SIZE {served_size}").as_bytes());
    out.extend_from_slice(b")\r\n");
}

/// `* seq FETCH (UID u ENVELOPE (...) BODYSTRUCTURE (...))` CRLF from a stored (encoded)
/// summary: decode, then write, as the session does per message.
pub fn write_fetch_structure(
    out: &mut Vec<u8>,
    seq: u32,
    uid: u32,
    stored: &[u8],
) -> Result<(), SummaryError> {
    let summary = MessageSummary::decode(stored)?;
    out.extend_from_slice(format!("* {seq} FETCH (UID {uid} ENVELOPE ").as_bytes());
    mime::write_envelope(out, &summary.envelope);
    out.extend_from_slice(b" BODYSTRUCTURE ");
    mime::write_body_structure(out, &summary.root, true);
    out.extend_from_slice(b")\r\n");
    Ok(())
}

/// `count` index records as a mailbox of ordinary mail has them: most read, some
/// answered or flagged, a few with keywords; sizes of 2-60 KiB plus a delivery prefix.
pub fn mailbox_infos(count: u32) -> Vec<MessageInfo> {
    (1..=count)
        .map(|n| {
            let mut flags = Flags::empty();
            if n % 10 != 0 {
                flags = flags.union(Flags::SEEN);
            }
            if n % 7 == 0 {
                flags = flags.union(Flags::ANSWERED);
            }
            if n % 23 == 0 {
                flags = flags.union(Flags::FLAGGED);
            }
            let keywords = match n % 50 {
                0 => vec!["$Forwarded".to_owned()],
                1 => vec!["$NotJunk".to_owned(), "project-x".to_owned()],
                _ => Vec::new(),
            };
            MessageInfo {
                id: MessageId(u64::from(n)),
                mailbox: MailboxId(1),
                uid: Uid(n + 1000),
                modseq: ModSeq(u64::from(n) + 1),
                received_ms: 1_760_433_163_000 + i64::from(n) * 60_000,
                saved_ms: 1_760_433_163_000 + i64::from(n) * 60_000,
                size: 2_048 + u64::from(n % 29) * 2_048,
                flags,
                keywords,
                prefix: vec![b'x'; 600],
            }
        })
        .collect()
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
    fn fetch_flags_line_matches_the_imap_syntax() {
        let infos = mailbox_infos(50);
        let mut out = Vec::new();
        write_fetch_flags(&mut out, 49, &infos[48]);
        assert_eq!(out, b"* 49 FETCH (UID 1049 FLAGS (\\Seen \\Answered) RFC822.SIZE 43608)\r\n");
        out.clear();
        write_fetch_flags(&mut out, 50, &infos[49]);
        assert_eq!(out, b"* 50 FETCH (UID 1050 FLAGS ($Forwarded) RFC822.SIZE 45656)\r\n");
    }

    #[test]
    fn fetch_structure_writes_envelope_and_bodystructure() {
        for message in [text_message(3, TEXT_MESSAGE_BYTES), multipart_message()] {
            let stored = mime::summarize(&message).encode();
            let mut out = Vec::new();
            write_fetch_structure(&mut out, 1, 7, &stored).unwrap();
            let text = String::from_utf8(out).unwrap();
            assert!(text.starts_with("* 1 FETCH (UID 7 ENVELOPE (\"Tue, "), "{text}");
            assert!(text.contains(" BODYSTRUCTURE ("), "{text}");
            assert!(text.ends_with(")\r\n"));
        }
        let multipart = mime::summarize(&multipart_message()).encode();
        let mut out = Vec::new();
        write_fetch_structure(&mut out, 1, 7, &multipart).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("\"mixed\""), "{text}");
        assert!(text.contains("\"application\" \"pdf\""), "{text}");
        assert!(write_fetch_structure(&mut Vec::new(), 1, 7, b"\xff").is_err());
    }
}
