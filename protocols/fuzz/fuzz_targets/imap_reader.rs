//! Fuzz target: the IMAP command reader and parser (RFC 9051, with LITERAL+ RFC 7888,
//! BINARY RFC 3516, MULTIAPPEND RFC 3502, CATENATE RFC 4469) on arbitrary client bytes. The input is fed in
//! reads whose size the first byte picks (it stays part of the traffic, so real
//! transcripts work as seeds); APPEND messages are accepted or rejected by a pattern from
//! the same byte; IDLE and AUTHENTICATE switch modes as a session would. Checks: no
//! panic, never more used than given, progress on every call that reports none, APPEND
//! data in bounded non-empty chunks adding up to the announced size, and error answers
//! that are single well-formed lines.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moxide_protocols::imap::{
    APPEND_CHUNK_BYTES_MAX, CommandBody, CommandReader, ReadEvent, ReadMode, ReaderConfig, parse_command,
};

/// Bounds the drive loop; each round uses input, emits an event, or reads more.
const ROUNDS_MAX: usize = 1_000_000;

fuzz_target!(|data: &[u8]| {
    let Some(&first) = data.first() else {
        return;
    };
    let _ = parse_command(data, 8);
    let piece = usize::from(first % 16) + 1;
    let config = ReaderConfig {
        line_bytes_max: 512,
        literal_bytes_max: 64,
        append_bytes_max: 256,
        nesting_max: 8,
        command_literals_max: 8,
    };
    let mut reader = CommandReader::new(config);
    let mut buffer: Vec<u8> = Vec::new();
    let mut rest = data;
    let mut answers = 0u32;
    // Bytes still expected for the current accepted APPEND message.
    let mut expected: Option<u64> = None;
    // The current message is a CATENATE: its data comes in TEXT parts.
    let mut catenate = false;
    for _ in 0..ROUNDS_MAX {
        let (used, event) = reader.feed(&buffer);
        assert!(used <= buffer.len());
        let got_event = event.is_some();
        match event {
            Some(ReadEvent::AppendData(bytes)) => {
                assert!(!bytes.is_empty() && bytes.len() <= APPEND_CHUNK_BYTES_MAX);
                assert_eq!(bytes.len(), used);
                let left = expected.expect("data only for an accepted message");
                expected = Some(left - bytes.len() as u64);
            }
            Some(ReadEvent::AppendMessageEnd) => {
                let left = if catenate { expected.take().unwrap_or(0) } else { expected.take().unwrap_or(1) };
                assert_eq!(left, 0, "message data adds up to its size");
            }
            Some(ReadEvent::AppendMessage { size, catenate: parts, .. }) => {
                assert!(size <= 256);
                assert!(!parts || size == 0);
                catenate = parts;
                answers = answers.wrapping_add(1);
                if u32::from(first).wrapping_add(answers) % 5 == 0 {
                    reader.append_reject();
                } else {
                    reader.append_accept();
                    expected = (!parts).then_some(size);
                }
            }
            Some(ReadEvent::CatenateText { size, .. }) => {
                assert!(catenate && size <= 256);
                assert_eq!(expected.unwrap_or(0), 0, "the previous part is complete");
                answers = answers.wrapping_add(1);
                if u32::from(first).wrapping_add(answers) % 7 == 0 {
                    reader.append_reject();
                } else {
                    reader.append_accept();
                    expected = Some(size);
                }
            }
            Some(ReadEvent::CatenateUrl(url)) => {
                assert!(catenate && !url.contains('\n'));
                answers = answers.wrapping_add(1);
                if u32::from(first).wrapping_add(answers) % 7 == 0 {
                    reader.append_reject();
                } else {
                    reader.append_accept();
                }
            }
            Some(ReadEvent::Command(command)) => match command.body {
                CommandBody::Idle => reader.set_mode(ReadMode::IdleDone),
                CommandBody::Authenticate { initial_response: None, .. } => reader.set_mode(ReadMode::SaslResponse),
                _ => {}
            },
            Some(ReadEvent::SaslResponse(response)) => {
                if response.len() % 2 == 0 {
                    reader.set_mode(ReadMode::Command);
                }
            }
            Some(ReadEvent::Error(error)) => {
                expected = None;
                let mut out = Vec::new();
                error.write_response(&mut out);
                assert!(out.ends_with(b"\r\n"));
                assert!(!out[..out.len() - 2].contains(&b'\n') && !out[..out.len() - 2].contains(&b'\r'));
            }
            Some(ReadEvent::AppendEnd { .. }) => expected = None,
            Some(ReadEvent::Continue | ReadEvent::IdleDone | ReadEvent::SaslCancel) | None => {}
        }
        buffer.drain(..used);
        if !got_event && used == 0 {
            if rest.is_empty() {
                break;
            }
            let n = piece.min(rest.len());
            buffer.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
        }
    }
    assert!(rest.is_empty(), "the reader stalled");
});
