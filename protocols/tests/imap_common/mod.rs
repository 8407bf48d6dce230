//! Test driver for the IMAP command reader: feeds client bytes through a
//! [`CommandReader`] the way a session would (answering APPEND messages, switching to
//! IDLE and SASL modes), and records the events as short strings.
//!
//! `check` runs the input whole, one byte at a time and in 7-byte pieces and requires
//! identical events and leftover input: how TCP cut the stream must not matter.
#![allow(dead_code, reason = "shared by several test crates, each using a part of it")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use moxide_protocols::imap::{
    APPEND_CHUNK_BYTES_MAX, CommandBody, CommandReader, ReadEvent, ReadMode, ReaderConfig,
};

/// Bounds the drive loop; each round uses input, emits an event, or reads more.
const ROUNDS_MAX: usize = 10_000_000;

/// What a run produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Run {
    /// Events as strings; consecutive message data merged into one `data ...`.
    pub(crate) events: Vec<String>,
    /// Input the reader did not use.
    pub(crate) leftover: Vec<u8>,
}

/// Printable form of bytes: ASCII as is, CR/LF as `\r`/`\n`, others as `\xNN`.
pub(crate) fn escape(bytes: &[u8]) -> String {
    bytes.iter().flat_map(|&b| std::ascii::escape_default(b)).map(char::from).collect()
}

/// The emulated session's APPEND decision: mailbox `Reject` refuses every message,
/// `RejectN` refuses message N; all others are accepted.
fn accepts(mailbox: &str, index: u32) -> bool {
    match mailbox.strip_prefix("Reject") {
        Some("") => false,
        Some(n) => n.parse::<u32>().ok() != Some(index),
        None => true,
    }
}

struct Recorder {
    events: Vec<String>,
    data: Vec<u8>,
}

impl Recorder {
    fn push(&mut self, event: String) {
        if !self.data.is_empty() {
            let data = std::mem::take(&mut self.data);
            self.events.push(format!("data {}", escape(&data)));
        }
        self.events.push(event);
    }

    /// Records one event and acts on it like a session.
    fn record(&mut self, reader: &mut CommandReader, event: ReadEvent<'_>) {
        if let ReadEvent::AppendData(data) = event {
            assert!(!data.is_empty() && data.len() <= APPEND_CHUNK_BYTES_MAX);
            self.data.extend_from_slice(data);
            return;
        }
        let line = match event {
            ReadEvent::AppendData(data) => format!("data {}", escape(data)),
            ReadEvent::Command(command) => {
                match &command.body {
                    CommandBody::Idle => reader.set_mode(ReadMode::IdleDone),
                    CommandBody::Authenticate { initial_response: None, .. } => {
                        reader.set_mode(ReadMode::SaslResponse)
                    }
                    _ => {}
                }
                format!("{} {:?}", command.tag, command.body)
            }
            ReadEvent::Continue => "+".to_owned(),
            ReadEvent::AppendMessage { tag, mailbox, flags, date, size, binary, index, catenate, .. } => {
                let accept = accepts(&mailbox, index);
                if accept {
                    reader.append_accept();
                } else {
                    reader.append_reject();
                }
                let flags: Vec<String> = flags.iter().map(ToString::to_string).collect();
                let date = date.map(|d| d.to_string()).unwrap_or_else(|| "-".to_owned());
                let verdict = if accept { "accept" } else { "reject" };
                format!(
                    "append {tag} {mailbox} {flags:?} {date} {size}{}{} #{index} {verdict}",
                    if binary { " binary" } else { "" },
                    if catenate { " catenate" } else { "" }
                )
            }
            ReadEvent::CatenateUrl(url) => {
                // A URL with "bad" in it is refused, as a session does a BADURL.
                let accept = !url.contains("bad");
                if accept {
                    reader.append_accept();
                } else {
                    reader.append_reject();
                }
                format!("url {url} {}", if accept { "accept" } else { "reject" })
            }
            ReadEvent::CatenateText { size, binary } => {
                reader.append_accept();
                format!("text {size}{}", if binary { " binary" } else { "" })
            }
            ReadEvent::AppendMessageEnd => "message end".to_owned(),
            ReadEvent::AppendEnd { tag, rejected } => {
                format!("append end {tag}{}", if rejected { " rejected" } else { "" })
            }
            ReadEvent::IdleDone => "idle done".to_owned(),
            ReadEvent::SaslResponse(response) => {
                // "more" keeps the exchange going; anything else ends it.
                if response != b"more" {
                    reader.set_mode(ReadMode::Command);
                }
                format!("sasl {}", escape(&response))
            }
            ReadEvent::SaslCancel => "sasl cancel".to_owned(),
            ReadEvent::Error(error) => {
                let tag = error.tag.as_ref().map_or("*".to_owned(), ToString::to_string);
                format!("error {tag} {:?}: {}", error.kind, error.detail)
            }
        };
        self.push(line);
    }
}

/// Feeds `input` to a fresh reader, delivering it in reads of `piece` bytes.
pub(crate) fn drive(config: &ReaderConfig, input: &[u8], piece: usize) -> Run {
    let mut reader = CommandReader::new(config.clone());
    let mut recorder = Recorder { events: Vec::new(), data: Vec::new() };
    let mut buffer: Vec<u8> = Vec::new();
    let mut rest = input;
    for _ in 0..ROUNDS_MAX {
        let (used, event) = reader.feed(&buffer);
        assert!(used <= buffer.len());
        let got_event = event.is_some();
        if let Some(event) = event {
            recorder.record(&mut reader, event);
        }
        buffer.drain(..used);
        if !got_event && used == 0 {
            if rest.is_empty() {
                break;
            }
            let n = piece.max(1).min(rest.len());
            buffer.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
        }
    }
    assert!(rest.is_empty(), "drive loop did not finish");
    recorder.push(String::new());
    recorder.events.pop();
    Run { events: recorder.events, leftover: buffer }
}

/// Runs `input` whole, byte by byte and in 7-byte pieces; all must agree.
pub(crate) fn check_with(config: &ReaderConfig, input: &[u8]) -> Run {
    let whole = drive(config, input, input.len());
    for piece in [1, 7] {
        let cut = drive(config, input, piece);
        assert_eq!(whole, cut, "feeding in {piece}-byte pieces changed the result");
    }
    whole
}

/// [`check_with`] with the default limits; returns the events.
pub(crate) fn check(input: &[u8]) -> Vec<String> {
    let run = check_with(&ReaderConfig::default(), input);
    assert!(run.leftover.is_empty(), "leftover: {}", escape(&run.leftover));
    run.events
}
