//! INPROGRESS (RFC 9585): progress responses of a long SEARCH go out only after the
//! command ran for a second, at most once a second, with the command's tag, and never
//! after its tagged response.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod imap_session_common;

use imap_session_common::{Client, account, assert_lines, lines};
use moxide_protocols::imap::server::{Answer, Event, INPROGRESS_DELAY_MS_MIN, INPROGRESS_INTERVAL_MS_MIN};

#[test]
fn a_long_search_reports_its_progress() {
    let account = account();
    let mut client = Client::logged_in(&account);
    client.feed(b"s1 SELECT INBOX\r\n", 0, 10_000);
    client.take_output();
    // The search arrives at 20 s on the caller's clock; the storage side takes its time.
    let used = client.session.handle_input(b"s2 SEARCH ALL\r\n", 20_000);
    assert_eq!(used, 15);
    let Some(Event::Search(_)) = client.session.poll_event().and_then(Event::detach) else {
        panic!("expected the search event")
    };
    let start = 20_000;
    assert!(!client.session.progress(start + INPROGRESS_DELAY_MS_MIN - 1, 1, 10), "too early");
    assert!(client.session.progress(start + INPROGRESS_DELAY_MS_MIN, 4, 10));
    let next = start + INPROGRESS_DELAY_MS_MIN + INPROGRESS_INTERVAL_MS_MIN;
    assert!(!client.session.progress(next - 1, 5, 10), "too soon after the last");
    assert!(client.session.progress(next, 12, 10), "done is capped at total");
    client.connection.write_out(&mut client.session);
    client.session.answer(Answer::Searched(Vec::new()));
    client.connection.drive(&mut client.session);
    assert!(!client.session.progress(next + 10_000, 10, 10), "the command is over");
    let got = lines(&std::mem::take(&mut client.connection.written));
    assert_lines(
        &got,
        &[
            "S: * OK [INPROGRESS (\"s2\" 4 10)] still working",
            "S: * OK [INPROGRESS (\"s2\" 10 10)] still working",
            "S: * SEARCH",
            "S: s2 OK SEARCH completed",
        ],
    );
}
