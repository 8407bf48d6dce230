//! Reader tests: command framing, literals `{n}` / `{n+}` / `~{n}` (RFC 9051 §4.3,
//! RFC 7888, RFC 3516), limits at N and N+1, recovery after bad input, APPEND and
//! MULTIAPPEND streaming with accept and reject (RFC 3502, RFC 7889), IDLE's DONE
//! (RFC 2177) and SASL responses (RFC 9051 §6.2.2).
//!
//! Every input runs whole, byte by byte and in 7-byte pieces (see `imap_common`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod imap_common;

use imap_common::{check, check_with, drive};
use moxide_protocols::imap::{
    APPEND_MESSAGES_MAX, CommandReader, ReadError, ReadErrorKind, ReadEvent, ReadMode, ReaderConfig,
    ResponseCode, Status, Tag,
};

fn strings(lines: &[&str]) -> Vec<String> {
    lines.iter().map(|l| (*l).to_owned()).collect()
}

/// Small limits that tests reach quickly.
fn small() -> ReaderConfig {
    ReaderConfig {
        line_bytes_max: 64,
        literal_bytes_max: 10,
        append_bytes_max: 20,
        nesting_max: 3,
        command_literals_max: 2,
    }
}

fn login(tag: &str, user: &str, password: &str) -> String {
    format!("{tag} Login {{ username: {user:?}, password: {password:?} }}")
}

// ----- framing -----

#[test]
fn pipelined_commands_come_one_per_call() {
    assert_eq!(
        check(b"a1 NOOP\r\na2 CAPABILITY\r\na3 LOGOUT\r\n"),
        strings(&["a1 Noop", "a2 Capability", "a3 Logout"])
    );
    let mut reader = CommandReader::new(ReaderConfig::default());
    let input = b"a1 NOOP\r\na2 IDLE\r\nDONE\r\n";
    let (used, event) = reader.feed(input);
    assert_eq!(used, 9, "the reader stops at the end of a command");
    assert!(matches!(event, Some(ReadEvent::Command(_))));
    let (used, _) = reader.feed(&input[9..]);
    assert_eq!(used, 9);
    assert!(reader.is_idle());
    assert_eq!(reader.feed(b""), (0, None));
    assert_eq!(reader.feed(b"a4 NO").0, 5);
    assert!(!reader.is_idle());
}

#[test]
fn bare_lf_ends_a_line_and_partial_lines_wait() {
    assert_eq!(check(b"a1 NOOP\na2 NOOP\r\n"), strings(&["a1 Noop", "a2 Noop"]));
    let run = check_with(&ReaderConfig::default(), b"a1 NOOP\r\na2 NOO");
    assert_eq!(run.events, strings(&["a1 Noop"]));
}

#[test]
fn bad_lines_are_errors_and_the_reader_recovers() {
    assert_eq!(
        check(b"a1 FROB\r\n\r\na2 LOGIN x\r\n+ NOOP\r\na3 NO\0OP\r\na4 NOOP\rx\r\na5 NOOP\r\n"),
        strings(&[
            "error a1 Syntax: FROB: unknown command",
            "error * Syntax: empty command line",
            "error a2 Syntax: LOGIN: expected a space",
            "error * Syntax: invalid or missing tag",
            "error a3 Syntax: NUL byte in command",
            "error a4 Syntax: NOOP: unexpected text at end of command",
            "a5 Noop",
        ])
    );
}

// ----- literals -----

#[test]
fn synchronizing_literals_ask_for_continuation() {
    assert_eq!(
        check(b"a1 LOGIN {5}\r\nalice {6}\r\nsecret\r\na2 NOOP\r\n"),
        strings(&["+", "+", &login("a1", "alice", "secret"), "a2 Noop"])
    );
}

#[test]
fn non_synchronizing_literals_do_not() {
    assert_eq!(check(b"a1 LOGIN {5+}\r\nalice {6+}\r\nsecret\r\n"), vec![login("a1", "alice", "secret")]);
    // Literal bytes may hold CRLF, NOOP lines and braces: they are data.
    assert_eq!(
        check(b"a1 LOGIN {11+}\r\na\r\nb NOOP\r\n {3}\r\n{1}\r\n"),
        vec!["+".to_owned(), login("a1", "a\r\nb NOOP\r\n", "{1}")]
    );
    assert_eq!(check(b"a1 LOGIN {0}\r\n {0+}\r\n\r\n"), vec!["+".to_owned(), login("a1", "", "")]);
}

#[test]
fn binary_literals_are_refused_outside_append() {
    assert_eq!(
        check(b"a1 LOGIN ~{5}\r\na2 LOGIN ~{6+}\r\nNOOP\r\n x\r\na3 NOOP\r\n"),
        strings(&[
            "error a1 Syntax: binary literal outside APPEND",
            "error a2 Syntax: binary literal outside APPEND",
            "a3 Noop",
        ])
    );
}

#[test]
fn literal_limit_at_n_and_n_plus_one() {
    let run = check_with(&small(), b"a1 LOGIN {10}\r\n0123456789 x\r\na2 LOGIN {11}\r\na3 NOOP\r\n");
    assert_eq!(
        run.events,
        vec![
            "+".to_owned(),
            login("a1", "0123456789", "x"),
            "error a2 LiteralTooBig: literal too big".to_owned(),
            "a3 Noop".to_owned(),
        ]
    );
    // A non-synchronizing literal over the limit is skipped with the rest of its
    // command, even when the rest announces more literals.
    let run = check_with(&small(), b"a1 LOGIN {11+}\r\na2 NOOP\r\nx {3+}\r\nabc\r\na3 NOOP\r\n");
    assert_eq!(run.events, strings(&["error a1 LiteralTooBig: literal too big", "a3 Noop"]));
}

#[test]
fn literal_count_limit_at_n_and_n_plus_one() {
    let run = check_with(
        &small(),
        b"a1 LOGIN {1+}\r\na {1+}\r\nb\r\na2 ID ({1+}\r\na {1+}\r\nb {1+}\r\nc NIL)\r\na3 NOOP\r\n",
    );
    assert_eq!(
        run.events,
        vec![
            login("a1", "a", "b"),
            "error a2 LineTooLong: too many literals in one command".to_owned(),
            "a3 Noop".to_owned()
        ]
    );
}

#[test]
fn line_limit_at_n_and_n_plus_one() {
    let config = small();
    // 64 bytes with CRLF: accepted. 65: refused, skipped to the LF, not buffered.
    let exact = format!("a1 LOGIN {} x\r\n", "u".repeat(64 - 13));
    assert_eq!(exact.len(), 64);
    let over = format!("a2 LOGIN {} x\r\n", "u".repeat(65 - 13));
    let input = format!("{exact}{over}a3 NOOP\r\n");
    let run = check_with(&config, input.as_bytes());
    assert_eq!(
        run.events,
        vec![
            login("a1", &"u".repeat(51), "x"),
            "error a2 LineTooLong: command line too long".to_owned(),
            "a3 Noop".to_owned()
        ]
    );
    // The limit counts all lines of a command, not literals.
    let two_lines = format!("a1 LOGIN {{3+}}\r\nabc {}\r\n", "p".repeat(46));
    assert_eq!(two_lines.len() - 3, 64);
    assert_eq!(check_with(&config, two_lines.as_bytes()).events.len(), 1);
    assert!(!check_with(&config, two_lines.as_bytes()).events[0].starts_with("error"));
    let two_lines = format!("a1 LOGIN {{3+}}\r\nabc {}\r\n", "p".repeat(47));
    assert_eq!(
        check_with(&config, two_lines.as_bytes()).events,
        strings(&["error a1 LineTooLong: command line too long"])
    );
}

#[test]
fn overlong_line_ending_in_a_literal_skips_the_literal() {
    let long = format!("a1 LOGIN {} {{4+}}\r\nNOOP\r\na2 NOOP\r\n", "u".repeat(100));
    assert_eq!(
        check_with(&small(), long.as_bytes()).events,
        strings(&["error a1 LineTooLong: command line too long", "a2 Noop"])
    );
    // A synchronizing one was never sent: the next line is a command.
    let long = format!("a1 LOGIN {} {{4}}\r\na2 NOOP\r\n", "u".repeat(100));
    assert_eq!(
        check_with(&small(), long.as_bytes()).events,
        strings(&["error a1 LineTooLong: command line too long", "a2 Noop"])
    );
    // A tag that is itself too long gives an untagged error.
    let long = format!("{}\r\na2 NOOP\r\n", "t".repeat(200));
    assert_eq!(
        check_with(&small(), long.as_bytes()).events,
        strings(&["error * LineTooLong: command line too long", "a2 Noop"])
    );
}

#[test]
fn nesting_limit_at_n_and_n_plus_one() {
    let run = check_with(&small(), b"a1 SEARCH (((ALL)))\r\na2 SEARCH ((((ALL))))\r\na3 NOOP\r\n");
    assert_eq!(run.events.len(), 3);
    assert!(run.events[0].starts_with("a1 Search"));
    assert_eq!(run.events[1], "error a2 TooDeep: SEARCH: search keys nested too deeply");
    assert_eq!(run.events[2], "a3 Noop");
}

// ----- APPEND -----

#[test]
fn append_synchronizing_accepted() {
    assert_eq!(
        check(b"a1 APPEND saved-messages (\\Seen) \"17-Jul-1996 02:44:25 -0700\" {12}\r\nHello\r\nWorld\r\na2 NOOP\r\n"),
        strings(&[
            "append a1 saved-messages [\"\\\\Seen\"] 17-Jul-1996 02:44:25 -0700 12 #0 accept",
            "+",
            "data Hello\\r\\nWorld",
            "message end",
            "append end a1",
            "a2 Noop",
        ])
    );
}

#[test]
fn append_non_synchronizing_and_empty() {
    assert_eq!(
        check(b"a1 APPEND INBOX {5+}\r\nhello\r\na2 APPEND inbox () {0+}\r\n\r\n"),
        strings(&[
            "append a1 INBOX [] - 5 #0 accept",
            "data hello",
            "message end",
            "append end a1",
            "append a2 INBOX [] - 0 #0 accept",
            "message end",
            "append end a2",
        ])
    );
}

#[test]
fn append_mailbox_as_literal_and_binary_message() {
    assert_eq!(
        check(b"a1 APPEND {5}\r\nDraft (\\Draft $X) ~{4}\r\na\0\xffb\r\n"),
        strings(&[
            "+",
            "append a1 Draft [\"\\\\Draft\", \"$X\"] - 4 binary #0 accept",
            "+",
            "data a\\x00\\xffb",
            "message end",
            "append end a1",
        ])
    );
    // RFC 6855 §4: UTF8 (~{n}) wraps the message.
    assert_eq!(
        check(b"a1 APPEND INBOX UTF8 (~{3+}\r\nabc)\r\n"),
        strings(&["append a1 INBOX [] - 3 binary #0 accept", "data abc", "message end", "append end a1"])
    );
    assert_eq!(
        check(b"a1 APPEND INBOX UTF8 (~{3+}\r\nabc\r\na2 NOOP\r\n"),
        strings(&[
            "append a1 INBOX [] - 3 binary #0 accept",
            "data abc",
            "message end",
            "error a1 Syntax: APPEND: expected ) after UTF8 message",
            "a2 Noop",
        ])
    );
}

#[test]
fn append_rejected() {
    // Synchronizing: the client sends nothing more, the next line is a new command.
    assert_eq!(
        check(b"a1 APPEND Reject {5}\r\na2 NOOP\r\n"),
        strings(&["append a1 Reject [] - 5 #0 reject", "append end a1 rejected", "a2 Noop"])
    );
    // Non-synchronizing: the bytes come anyway and are skipped.
    assert_eq!(
        check(b"a1 APPEND Reject {9+}\r\na3 NOOP\r\n\r\na2 NOOP\r\n"),
        strings(&["append a1 Reject [] - 9 #0 reject", "append end a1 rejected", "a2 Noop"])
    );
}

#[test]
fn multiappend_streams_each_message() {
    assert_eq!(
        check(b"a1 APPEND INBOX (\\Seen) {3}\r\none (\\Flagged) \" 1-Jan-2000 00:00:00 +0000\" {3+}\r\ntwo {5}\r\nthree\r\n"),
        strings(&[
            "append a1 INBOX [\"\\\\Seen\"] - 3 #0 accept",
            "+",
            "data one",
            "message end",
            "append a1 INBOX [\"\\\\Flagged\"] 01-Jan-2000 00:00:00 +0000 3 #1 accept",
            "data two",
            "message end",
            "append a1 INBOX [] - 5 #2 accept",
            "+",
            "data three",
            "message end",
            "append end a1",
        ])
    );
}

#[test]
fn multiappend_reject_skips_the_rest() {
    // Message 1 rejected (non-synchronizing): its bytes and message 2 are skipped.
    assert_eq!(
        check(b"a1 APPEND Reject1 {3+}\r\none {3+}\r\ntwo {5+}\r\nthree\r\na2 NOOP\r\n"),
        strings(&[
            "append a1 Reject1 [] - 3 #0 accept",
            "data one",
            "message end",
            "append a1 Reject1 [] - 3 #1 reject",
            "append end a1 rejected",
            "a2 Noop",
        ])
    );
    // Synchronizing: the client stops at the refused literal.
    assert_eq!(
        check(b"a1 APPEND Reject1 {3}\r\none {3}\r\na2 NOOP\r\n"),
        strings(&[
            "append a1 Reject1 [] - 3 #0 accept",
            "+",
            "data one",
            "message end",
            "append a1 Reject1 [] - 3 #1 reject",
            "append end a1 rejected",
            "a2 Noop",
        ])
    );
}

#[test]
fn append_limit_at_n_and_n_plus_one() {
    let config = small();
    let run = check_with(&config, b"a1 APPEND INBOX {20+}\r\n01234567890123456789\r\na2 APPEND INBOX {21}\r\na3 APPEND INBOX {21+}\r\n012345678901234567890\r\na4 NOOP\r\n");
    assert_eq!(
        run.events,
        strings(&[
            "append a1 INBOX [] - 20 #0 accept",
            "data 01234567890123456789",
            "message end",
            "append end a1",
            "error a2 AppendTooBig: message larger than APPENDLIMIT",
            "error a3 AppendTooBig: message larger than APPENDLIMIT",
            "a4 Noop",
        ])
    );
    // A later MULTIAPPEND message over the limit ends the whole command.
    let run = check_with(&config, b"a1 APPEND INBOX {1+}\r\nx {21+}\r\n012345678901234567890\r\na2 NOOP\r\n");
    assert_eq!(
        run.events,
        strings(&[
            "append a1 INBOX [] - 1 #0 accept",
            "data x",
            "message end",
            "error a1 AppendTooBig: message larger than APPENDLIMIT",
            "a2 Noop",
        ])
    );
}

#[test]
fn multiappend_message_count_limit() {
    let messages = APPEND_MESSAGES_MAX as usize;
    let mut input = b"a1 APPEND INBOX".to_vec();
    input.extend(std::iter::repeat_n(&b" {0+}\r\n"[..], messages).flatten());
    input.extend_from_slice(b"\r\n");
    let run = drive(&ReaderConfig::default(), &input, input.len());
    assert_eq!(run.events.len(), messages * 2 + 1);
    assert_eq!(run.events.last().unwrap(), "append end a1");
    input.truncate(input.len() - 2);
    input.extend_from_slice(b" {0+}\r\n\r\na2 NOOP\r\n");
    let run = drive(&ReaderConfig::default(), &input, input.len());
    assert_eq!(run.events[run.events.len() - 2], "error a1 AppendTooBig: too many messages in one APPEND");
    assert_eq!(run.events[run.events.len() - 1], "a2 Noop");
}

#[test]
fn append_syntax_errors() {
    assert_eq!(
        check(b"a1 APPEND INBOX (\\Seen {3+}\r\nabc\r\na2 APPEND INBOX \"31-Feb-2020 00:00:00 +0000\" {3}\r\na3 APPEND INBOX\r\na4 APPEND INBOX {2+}\r\nab x\r\na5 APPEND INBOX {1+}\r\na{1}\r\na6 NOOP\r\n"),
        strings(&[
            "error a1 Syntax: APPEND: expected a flag",
            "error a2 Syntax: APPEND: invalid date-time",
            "error a3 Syntax: APPEND: expected a message literal",
            "append a4 INBOX [] - 2 #0 accept",
            "data ab",
            "message end",
            "error a4 Syntax: APPEND: unexpected text at end of command",
            "append a5 INBOX [] - 1 #0 accept",
            "data a",
            "message end",
            "error a5 Syntax: APPEND: expected a space",
            "a6 Noop",
        ])
    );
}

#[test]
fn feeding_while_an_append_waits_uses_nothing() {
    let mut reader = CommandReader::new(ReaderConfig::default());
    let input = b"a1 APPEND INBOX {3}\r\nabc\r\n";
    let (used, event) = reader.feed(input);
    assert_eq!(used, 21);
    assert!(matches!(event, Some(ReadEvent::AppendMessage { size: 3, index: 0, .. })));
    assert_eq!(reader.feed(&input[used..]), (0, None));
    assert_eq!(reader.feed(&input[used..]), (0, None));
    reader.append_accept();
    reader.append_accept(); // a second answer is ignored
    assert_eq!(reader.feed(&input[used..]), (0, Some(ReadEvent::Continue)));
    assert_eq!(reader.feed(&input[used..]), (3, Some(ReadEvent::AppendData(b"abc"))));
    reader.append_reject(); // not waiting: ignored
    assert_eq!(reader.feed(b"\r\n"), (0, Some(ReadEvent::AppendMessageEnd)));
    assert_eq!(
        reader.feed(b"\r\n"),
        (2, Some(ReadEvent::AppendEnd { tag: Tag("a1".to_owned()), rejected: false }))
    );
}

#[test]
fn large_append_data_comes_in_bounded_chunks() {
    let size = 200_000;
    let mut input = format!("a1 APPEND INBOX {{{size}+}}\r\n").into_bytes();
    input.extend(std::iter::repeat_n(b'x', size));
    input.extend_from_slice(b"\r\n");
    let mut reader = CommandReader::new(ReaderConfig::default());
    let (mut offset, event) = reader.feed(&input);
    assert!(matches!(event, Some(ReadEvent::AppendMessage { .. })));
    reader.append_accept();
    let mut total = 0;
    loop {
        let (used, event) = reader.feed(&input[offset..]);
        offset += used;
        match event {
            Some(ReadEvent::AppendData(data)) => {
                assert!(data.len() <= 64 * 1024);
                total += data.len();
            }
            Some(ReadEvent::AppendMessageEnd) => break,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(total, size);
}

// ----- IDLE and SASL -----

#[test]
fn idle_done() {
    assert_eq!(
        check(b"a1 IDLE\r\ndone\r\na2 IDLE\r\nDONE \r\na3 NOOP\r\n"),
        strings(&["a1 Idle", "idle done", "a2 Idle", "error * Syntax: expected DONE", "a3 Noop"])
    );
}

#[test]
fn sasl_responses() {
    assert_eq!(
        check(b"a1 AUTHENTICATE PLAIN\r\nAGFsaWNlAHNlY3JldA==\r\na2 AUTHENTICATE X\r\nbW9yZQ==\r\n\r\na3 AUTHENTICATE X\r\n*\r\na4 AUTHENTICATE X\r\n!!\r\na5 NOOP\r\n"),
        strings(&[
            "a1 Authenticate { mechanism: \"PLAIN\", initial_response: None }",
            "sasl \\x00alice\\x00secret",
            "a2 Authenticate { mechanism: \"X\", initial_response: None }",
            "sasl more",
            "sasl ",
            "a3 Authenticate { mechanism: \"X\", initial_response: None }",
            "sasl cancel",
            "a4 Authenticate { mechanism: \"X\", initial_response: None }",
            "error * BadBase64: invalid base64 in SASL response",
            "a5 Noop",
        ])
    );
}

#[test]
fn overlong_lines_in_idle_and_sasl_mode() {
    let input = format!("a1 IDLE\r\n{}\r\na2 NOOP\r\n", "x".repeat(100));
    assert_eq!(
        check_with(&small(), input.as_bytes()).events,
        strings(&["a1 Idle", "error * LineTooLong: command line too long", "a2 Noop"])
    );
    // A SASL line that looks like a literal announcement is not one.
    let input = format!("a1 AUTHENTICATE X\r\n{} {{5+}}\r\na2 NOOP\r\n", "x".repeat(100));
    assert_eq!(
        check_with(&small(), input.as_bytes()).events,
        strings(&[
            "a1 Authenticate { mechanism: \"X\", initial_response: None }",
            "error * LineTooLong: command line too long",
            "a2 Noop"
        ])
    );
}

#[test]
fn mode_is_visible_and_settable() {
    let mut reader = CommandReader::new(ReaderConfig::default());
    assert_eq!(reader.mode(), ReadMode::Command);
    reader.set_mode(ReadMode::IdleDone);
    assert_eq!(reader.feed(b"DONE\r\n"), (6, Some(ReadEvent::IdleDone)));
    assert_eq!(reader.mode(), ReadMode::Command);
}

// ----- real client traffic -----

#[test]
fn fuzz_corpus_transcripts() {
    // The fuzz seeds are what Thunderbird, mbsync and imaplib send; they must read
    // without errors, and the malformed seed must produce only errors and recover.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/imap_reader");
    for name in ["thunderbird_session", "mbsync_sync", "imaplib_script", "qresync_extensions"] {
        let input = std::fs::read(dir.join(name)).unwrap();
        let events = check(&input);
        assert!(events.iter().all(|e| !e.starts_with("error")), "{name}: {events:#?}");
        assert!(events.len() >= 10, "{name}");
    }
    let events = check(&std::fs::read(dir.join("malformed")).unwrap());
    assert_eq!(events.iter().filter(|e| e.starts_with("error")).count(), 7, "{events:#?}");
    assert_eq!(events.last().unwrap(), "a7 Noop");
}

// ----- errors to the wire -----

#[test]
fn errors_map_to_bad_or_no_toobig() {
    let error = |tag: Option<&str>, kind| ReadError {
        tag: tag.map(|t| Tag(t.to_owned())),
        kind,
        detail: "x\r\ny".to_owned(),
    };
    let wire = |e: ReadError| {
        let mut out = Vec::new();
        e.write_response(&mut out);
        String::from_utf8(out).unwrap()
    };
    assert_eq!(wire(error(Some("a1"), ReadErrorKind::Syntax)), "a1 BAD x  y\r\n");
    assert_eq!(wire(error(None, ReadErrorKind::LineTooLong)), "* BAD x  y\r\n");
    assert_eq!(wire(error(Some("a1"), ReadErrorKind::LiteralTooBig)), "a1 NO [TOOBIG] x  y\r\n");
    assert_eq!(wire(error(Some("a1"), ReadErrorKind::AppendTooBig)), "a1 NO [TOOBIG] x  y\r\n");
    assert_eq!(error(None, ReadErrorKind::TooDeep).status(), (Status::Bad, None));
    assert_eq!(error(None, ReadErrorKind::BadBase64).status(), (Status::Bad, None));
    assert_eq!(error(None, ReadErrorKind::AppendTooBig).status(), (Status::No, Some(ResponseCode::TooBig)));
}

// ----- CATENATE (RFC 4469) -----

#[test]
fn catenate_parts_in_order() {
    assert_eq!(
        check(
            b"a1 APPEND Drafts (\\Seen) CATENATE (URL \"/INBOX;UIDVALIDITY=7/;UID=3\" TEXT {5+}\r\n\
              hello URL /INBOX/;UID=4/;SECTION=1 TEXT ~{2}\r\nxy)\r\na2 NOOP\r\n"
        ),
        strings(&[
            "append a1 Drafts [\"\\\\Seen\"] - 0 catenate #0 accept",
            "url /INBOX;UIDVALIDITY=7/;UID=3 accept",
            "text 5",
            "data hello",
            "url /INBOX/;UID=4/;SECTION=1 accept",
            "text 2 binary",
            "+",
            "data xy",
            "message end",
            "append end a1",
            "a2 Noop",
        ])
    );
}

#[test]
fn catenate_of_urls_only_needs_no_literal() {
    assert_eq!(
        check(b"a1 APPEND INBOX CATENATE (URL \"/INBOX/;UID=1\" URL \"/INBOX/;UID=2\")\r\na2 NOOP\r\n"),
        strings(&[
            "append a1 INBOX [] - 0 catenate #0 accept",
            "url /INBOX/;UID=1 accept",
            "url /INBOX/;UID=2 accept",
            "message end",
            "append end a1",
            "a2 Noop",
        ])
    );
}

#[test]
fn multiappend_mixes_catenate_and_literals() {
    assert_eq!(
        check(b"a1 APPEND INBOX {2+}\r\nab CATENATE (TEXT {1+}\r\nc) (\\Flagged) CATENATE (URL /INBOX/;UID=1)\r\n"),
        strings(&[
            "append a1 INBOX [] - 2 #0 accept",
            "data ab",
            "message end",
            "append a1 INBOX [] - 0 catenate #1 accept",
            "text 1",
            "data c",
            "message end",
            "append a1 INBOX [\"\\\\Flagged\"] - 0 catenate #2 accept",
            "url /INBOX/;UID=1 accept",
            "message end",
            "append end a1",
        ])
    );
}

/// RFC 4469 §5: after a BADURL the client may still send its non-synchronizing
/// literals; they are dropped, and the next command is read as a command.
#[test]
fn refused_url_skips_the_rest_of_the_command() {
    assert_eq!(
        check(
            b"a1 APPEND INBOX CATENATE (URL /bad/;UID=1 TEXT {9+}\r\na2 DELETE TEXT {4+}\r\nx\r\n) {3+}\r\nabc\r\na3 NOOP\r\n"
        ),
        strings(&[
            "append a1 INBOX [] - 0 catenate #0 accept",
            "url /bad/;UID=1 reject",
            "append end a1 rejected",
            "a3 Noop",
        ])
    );
    // With a synchronizing literal the client waits for a continuation that never
    // comes: the command ends at once.
    assert_eq!(
        check(b"a1 APPEND INBOX CATENATE (URL /bad/;UID=1 TEXT {9}\r\na3 NOOP\r\n"),
        strings(&[
            "append a1 INBOX [] - 0 catenate #0 accept",
            "url /bad/;UID=1 reject",
            "append end a1 rejected",
            "a3 Noop",
        ])
    );
}

#[test]
fn catenate_syntax_errors() {
    assert_eq!(
        check(
            b"a1 APPEND INBOX CATENATE ()\r\na2 APPEND INBOX CATENATE (URL x\r\na3 APPEND INBOX CATENATE (FOO x)\r\n\
              a4 APPEND INBOX CATENATE (URL {3+}\r\nabc)\r\na5 APPEND INBOX CATENATE (TEXT {1+}\r\nx URL y\r\na6 NOOP\r\n"
        ),
        strings(&[
            "error a1 Syntax: APPEND: expected TEXT or URL",
            "error a2 Syntax: APPEND: expected a space",
            "error a3 Syntax: APPEND: expected TEXT or URL",
            "error a4 Syntax: APPEND: expected a string or atom",
            "append a5 INBOX [] - 0 catenate #0 accept",
            "text 1",
            "data x",
            "error a5 Syntax: APPEND: expected a space",
            "a6 Noop",
        ])
    );
}

#[test]
fn catenate_part_count_limit() {
    let mut input = b"a1 APPEND INBOX CATENATE (".to_vec();
    for _ in 0..=moxide_protocols::imap::CATENATE_PARTS_MAX {
        input.extend_from_slice(b"TEXT {0+}\r\n ");
    }
    input.extend_from_slice(b"TEXT {0+}\r\n)\r\na2 NOOP\r\n");
    let run = drive(&ReaderConfig::default(), &input, input.len());
    let tail = &run.events[run.events.len() - 2..];
    assert_eq!(tail, ["error a1 AppendTooBig: too many CATENATE parts", "a2 Noop"]);
}

#[test]
fn catenate_after_a_mailbox_literal() {
    assert_eq!(
        check(b"a1 APPEND {6+}\r\nDrafts CATENATE (URL /INBOX/;UID=1)\r\na2 APPEND {6}\r\nDrafts CATENATE (TEXT {1+}\r\nx)\r\n"),
        strings(&[
            "append a1 Drafts [] - 0 catenate #0 accept",
            "url /INBOX/;UID=1 accept",
            "message end",
            "append end a1",
            "+",
            "append a2 Drafts [] - 0 catenate #0 accept",
            "text 1",
            "data x",
            "message end",
            "append end a2",
        ])
    );
}
