//! Request deadlines and graceful shutdown of the SMTP server session, on a simulated
//! clock: a command line, a SASL response, a DATA body or a BDAT chunk must arrive
//! within a time that grows with its size at the minimum input rate, however the bytes
//! are spread out (a client trickling one byte a second is closed in every phase); and
//! `drain` lets the request under way finish before `421 4.3.2`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use moxide_protocols::smtp::{COMMAND_LINE_BYTES_MAX, Event, ServerConfig, ServerSession, Verdict};

/// 10 s for a line, 20 s for message bytes, 100 bytes per second (10 ms per byte).
fn timed_config() -> ServerConfig {
    ServerConfig {
        hostname: "mx.example".to_owned(),
        command_timeout_ms: 10_000,
        data_timeout_ms: 20_000,
        input_rate_bytes_per_second_min: 100,
        message_bytes_max: 10_000_000,
        auth_mechanisms: vec!["PLAIN".to_owned()],
        auth_requires_tls: false,
        ..ServerConfig::default()
    }
}

const TIMEOUT: &str = "421 4.4.2 mx.example timeout";
const SHUTTING_DOWN: &str = "421 4.3.2 mx.example shutting down";

/// A session driven the way the session glue drives it: the caller holds unused input,
/// passes its clock, accepts everything, and records replies and events.
struct Client {
    session: ServerSession,
    buffer: Vec<u8>,
    replies: Vec<String>,
    events: Vec<String>,
}

impl Client {
    fn new(config: ServerConfig) -> Client {
        let mut client = Client {
            session: ServerSession::new(Arc::new(config)),
            buffer: Vec::new(),
            replies: Vec::new(),
            events: Vec::new(),
        };
        client.collect();
        client
    }

    /// Bytes arrive at `now_ms`; runs the session until it needs more input.
    fn send(&mut self, bytes: &[u8], now_ms: u64) {
        self.buffer.extend_from_slice(bytes);
        self.pump(now_ms);
    }

    /// Runs the session at `now_ms` with what is buffered (the glue's wake-up at a
    /// deadline is this with nothing new).
    fn pump(&mut self, now_ms: u64) {
        loop {
            let used = self.session.handle_input(&self.buffer, now_ms);
            self.buffer.drain(..used);
            let mut progressed = used > 0;
            while let Some(event) = self.session.poll_event() {
                progressed = true;
                let (name, answer) = match event {
                    Event::Helo { .. } => ("helo".to_owned(), false),
                    Event::MailFrom(_) => ("mail".to_owned(), true),
                    Event::RcptTo(_) => ("rcpt".to_owned(), true),
                    Event::MessageStart => ("start".to_owned(), true),
                    Event::Body(bytes) => (format!("body {}", bytes.len()), false),
                    Event::MessageEnd => ("end".to_owned(), true),
                    Event::MessageAborted(reason) => (format!("aborted {reason:?}"), false),
                    Event::Auth { .. } => {
                        self.events.push("auth".to_owned());
                        self.session.auth_challenge(b"");
                        continue;
                    }
                    other => (format!("{other:?}"), false),
                };
                self.events.push(name);
                if answer {
                    self.session.answer(Verdict::Accept);
                }
            }
            progressed |= self.collect();
            if !progressed || self.session.wants_close() {
                return;
            }
        }
    }

    fn collect(&mut self) -> bool {
        let output = self.session.pending_output();
        if output.is_empty() {
            return false;
        }
        let text = String::from_utf8(output.to_vec()).unwrap();
        self.replies.extend(text.split_terminator("\r\n").map(str::to_owned));
        let n = output.len();
        self.session.advance_output(n);
        true
    }

    fn last_reply(&self) -> &str {
        self.replies.last().map_or("", String::as_str)
    }

    /// Sends `bytes` one at a time, `interval_ms` apart from `start_ms`, until the session
    /// closes; returns when it closed (at a byte or at a deadline wake-up in between).
    fn trickle(&mut self, bytes: &[u8], start_ms: u64, interval_ms: u64) -> u64 {
        let mut now = start_ms;
        for &byte in bytes.iter().cycle().take(100_000) {
            if let Some(deadline) = self.session.deadline_ms()
                && deadline <= now
            {
                self.pump(deadline);
                assert!(self.session.wants_close(), "deadline {deadline} passed without closing");
                return deadline;
            }
            self.send(&[byte], now);
            if self.session.wants_close() {
                return now;
            }
            now += interval_ms;
        }
        panic!("still open after 100000 bytes");
    }
}

#[test]
fn an_idle_client_is_closed_at_the_command_deadline() {
    let mut client = Client::new(timed_config());
    client.pump(0);
    assert_eq!(client.session.deadline_ms(), Some(10_000));
    client.pump(9_999);
    assert!(!client.session.wants_close());
    client.pump(10_000);
    assert!(client.session.wants_close());
    assert_eq!(client.last_reply(), TIMEOUT);
    assert_eq!(client.session.deadline_ms(), None, "no deadline once closing");
}

#[test]
fn a_trickled_command_line_runs_out_of_time() {
    // One byte a second: the old idle timeout (restarted by each byte) never fired.
    let mut client = Client::new(timed_config());
    client.pump(0);
    let closed = client.trickle(b"NOOP", 0, 1_000);
    // 10 s plus 10 ms of credit for each of the ~10 bytes that arrived.
    assert!((10_000..=10_200).contains(&closed), "closed at {closed}");
    assert_eq!(client.last_reply(), TIMEOUT);
}

#[test]
fn a_trickled_overlong_line_runs_out_of_time() {
    let config = ServerConfig { command_timeout_ms: 100_000, ..timed_config() };
    let mut client = Client::new(config);
    client.pump(0);
    // Past the line limit the session skips the rest of the line; skipping is the same
    // request, so its deadline keeps running. The burst earns nothing: the deadline is
    // already the command timeout ahead.
    let long = vec![b'x'; COMMAND_LINE_BYTES_MAX + 10];
    client.send(&long, 0);
    assert!(!client.session.wants_close());
    let closed = client.trickle(b"y", 1_000, 1_000);
    let credit = (COMMAND_LINE_BYTES_MAX as u64 + 10) * 10;
    assert!(closed <= 100_000 + credit + 2_000, "closed at {closed}");
    assert_eq!(client.last_reply(), TIMEOUT);
}

#[test]
fn a_trickled_data_body_runs_out_of_time() {
    let mut client = Client::new(timed_config());
    client.send(b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n", 0);
    assert_eq!(client.last_reply(), "354 start mail input; end with <CRLF>.<CRLF>");
    let closed = client.trickle(b"slow body line\r\n", 0, 1_000);
    // 20 s of data timeout, then 10 ms per byte while losing 1 s per byte.
    assert!((20_000..=20_300).contains(&closed), "closed at {closed}");
    assert_eq!(client.last_reply(), TIMEOUT);
    assert!(client.events.contains(&"aborted Closed".to_owned()), "{:?}", client.events);
}

#[test]
fn a_trickled_bdat_chunk_runs_out_of_time() {
    let mut client = Client::new(timed_config());
    client.send(b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nBDAT 1000 LAST\r\n", 0);
    let closed = client.trickle(b"z", 0, 1_000);
    assert!((20_000..=20_300).contains(&closed), "closed at {closed}");
    assert_eq!(client.last_reply(), TIMEOUT);
    assert!(client.events.contains(&"aborted Closed".to_owned()), "{:?}", client.events);
}

#[test]
fn a_trickled_sasl_response_runs_out_of_time() {
    let mut client = Client::new(timed_config());
    client.send(b"EHLO c\r\nAUTH PLAIN\r\n", 0);
    assert_eq!(client.last_reply(), "334 ");
    let closed = client.trickle(b"AGJvYgBzZWNyZXQ=", 0, 1_000);
    assert!((10_000..=10_200).contains(&closed), "closed at {closed}");
    assert_eq!(client.last_reply(), TIMEOUT);
}

#[test]
fn a_message_sent_at_the_minimum_rate_is_never_cut_off() {
    // 100 bytes every 500 ms is 200 B/s, twice the minimum: each read adds 1 s for half
    // a second spent. A 60 KB message takes 5 minutes, fifteen data timeouts.
    let mut client = Client::new(timed_config());
    client.send(b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n", 0);
    let line = [b"x".repeat(98), b"\r\n".to_vec()].concat();
    let mut now = 0;
    for _ in 0..600 {
        now += 500;
        client.send(&line, now);
        assert!(!client.session.wants_close(), "cut off at {now}");
        // Credit never reaches further ahead than the data timeout.
        assert!(client.session.deadline_ms().unwrap() <= now + 20_000);
    }
    client.send(b".\r\n", now + 500);
    assert_eq!(client.last_reply(), "250 2.0.0 ok");
    assert_eq!(client.events.last().map(String::as_str), Some("end"));
}

#[test]
fn credit_cannot_be_saved_for_a_later_stall() {
    let mut client = Client::new(timed_config());
    client.send(b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n", 0);
    // 1 MB at once would be 10 000 s of credit; the deadline stays 20 s ahead.
    client.send(&b"y".repeat(1_000_000), 1_000);
    assert_eq!(client.session.deadline_ms(), Some(21_000));
    client.pump(20_999);
    assert!(!client.session.wants_close());
    client.pump(21_000);
    assert_eq!(client.last_reply(), TIMEOUT);
}

#[test]
fn no_deadline_runs_while_the_server_owes_an_answer() {
    let mut session = ServerSession::new(Arc::new(timed_config()));
    session.handle_input(b"EHLO c\r\n", 0);
    assert!(session.poll_event().is_some());
    assert_eq!(session.handle_input(b"MAIL FROM:<a@b.example>\r\n", 0), 25);
    assert!(matches!(session.poll_event(), Some(Event::MailFrom(_))));
    assert_eq!(session.deadline_ms(), None);
    // A slow directory lookup: the client waits for us, not we for it.
    assert_eq!(session.handle_input(b"", 1_000_000), 0);
    assert!(!session.wants_close());
    session.answer(Verdict::Accept);
    session.handle_input(b"", 1_000_001);
    assert_eq!(session.deadline_ms(), Some(1_010_001), "the next command's deadline starts now");
}

// ----- draining -----

#[test]
fn draining_closes_an_idle_session_at_once() {
    let mut client = Client::new(timed_config());
    client.send(b"EHLO c\r\nMAIL FROM:<a@b.example>\r\n", 0);
    client.session.drain(5, 3_000);
    client.pump(5);
    assert!(client.session.wants_close());
    assert_eq!(client.last_reply(), SHUTTING_DOWN);
}

#[test]
fn draining_lets_a_partial_command_finish_then_answers_421() {
    let mut client = Client::new(timed_config());
    client.send(b"EHLO c\r\nMAIL FR", 0);
    client.session.drain(10, 3_000);
    client.pump(10);
    assert!(!client.session.wants_close(), "the line under way may finish");
    assert_eq!(client.session.deadline_ms(), Some(3_010), "within the grace");
    client.send(b"OM:<a@b.example>\r\n", 20);
    assert!(client.session.wants_close());
    assert_eq!(client.last_reply(), SHUTTING_DOWN);
    assert!(!client.events.contains(&"mail".to_owned()), "a command after the drain is not run");
}

#[test]
fn draining_lets_a_message_finish_and_be_acknowledged() {
    let mut client = Client::new(timed_config());
    client.send(b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\npart", 0);
    client.session.drain(100, 3_000);
    client.pump(100);
    assert!(!client.session.wants_close());
    // The client pipelines its next transaction behind the message: not run.
    client.send(b" two\r\n.\r\nMAIL FROM:<a@b.example>\r\n", 200);
    assert_eq!(client.replies[client.replies.len() - 2..], ["250 2.0.0 ok", SHUTTING_DOWN]);
    assert_eq!(client.events.iter().filter(|e| *e == "mail").count(), 1);
    assert!(client.events.contains(&"end".to_owned()));
}

#[test]
fn draining_ends_with_421_when_the_grace_runs_out() {
    let mut client = Client::new(timed_config());
    client.send(b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\npart", 0);
    client.session.drain(100, 3_000);
    client.pump(100);
    assert_eq!(client.session.deadline_ms(), Some(3_100), "the grace is sooner than the data deadline");
    client.send(b"more", 3_000);
    assert!(!client.session.wants_close());
    client.pump(3_100);
    assert!(client.session.wants_close());
    assert_eq!(client.last_reply(), SHUTTING_DOWN);
    assert_eq!(client.events.last().map(String::as_str), Some("aborted Closed"));
    // A second drain never extends the grace.
    let mut other = Client::new(timed_config());
    other.send(b"NO", 0);
    other.session.drain(0, 1_000);
    other.session.drain(500, 10_000);
    other.pump(500);
    assert_eq!(other.session.deadline_ms(), Some(1_000));
}

#[test]
fn draining_after_the_last_bdat_chunk_waits_for_the_answer() {
    let mut session = ServerSession::new(Arc::new(timed_config()));
    let input = b"EHLO c\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nBDAT 3 LAST\r\nabc";
    let mut used = 0;
    loop {
        used += session.handle_input(&input[used..], 0);
        match session.poll_event() {
            Some(Event::MessageEnd) => break,
            Some(Event::Helo { .. } | Event::Body(_)) => {}
            Some(_) => session.answer(Verdict::Accept),
            None => panic!("stalled"),
        }
    }
    session.advance_output(session.pending_output().len());
    session.drain(0, 1_000);
    // The commit takes longer than the grace: the answer still comes, then the 421.
    session.handle_input(b"", 5_000);
    assert!(!session.wants_close());
    session.answer(Verdict::Accept);
    session.handle_input(b"", 5_001);
    assert_eq!(session.pending_output(), b"250 2.0.0 ok\r\n421 4.3.2 mx.example shutting down\r\n");
    assert!(session.wants_close());
    assert_eq!(session.poll_event(), None);
}
