//! INPROGRESS (RFC 9585): progress responses of a long SEARCH go out only after the
//! command ran for a second, at most once a second, with the command's tag, and never
//! after its tagged response.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod imap_session_common;

use imap_session_common::{Client, account, assert_lines, lines};
use moxide_protocols::imap::server::{
    Answer, Event, INPROGRESS_DELAY_MS_MIN, INPROGRESS_INTERVAL_MS_MIN, MailboxFacts, MailboxList,
};

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

/// MULTISEARCH (RFC 7377): the storage side counts one mailbox's messages; the progress
/// response counts the messages of every mailbox the command searches (as the list
/// answered: INBOX 3, Archive 2, the others none).
#[test]
fn a_multisearch_counts_progress_over_all_its_mailboxes() {
    let account = account();
    let mut client = Client::logged_in(&account);
    let used = client.session.handle_input(b"m1 ESEARCH IN (personal) ALL\r\n", 20_000);
    assert_eq!(used, 30);
    let Some(Event::List { .. }) = client.session.poll_event().and_then(Event::detach) else {
        panic!("expected the list event")
    };
    let counts = [("INBOX", 3), ("Sent", 0), ("Drafts", 0), ("Archive", 2), ("Trash", 0), ("Junk", 0)];
    let mailboxes = counts
        .iter()
        .map(|&(name, messages)| MailboxFacts { name: name.to_owned(), messages, ..MailboxFacts::default() })
        .collect();
    let list = Answer::Mailboxes(MailboxList { mailboxes, subscriptions: Vec::new() });
    client.session.answer(list);
    // INBOX first: 2 of its 3 messages judged.
    let Some(Event::SearchMailbox { mailbox, .. }) = client.session.poll_event().and_then(Event::detach)
    else {
        panic!("expected INBOX's search")
    };
    assert_eq!(mailbox, "INBOX");
    assert!(client.session.progress(20_000 + INPROGRESS_DELAY_MS_MIN, 2, 3));
    client.session.answer(Answer::MailboxSearched { uidvalidity: 1001, hits: Vec::new() });
    // Then the others in turn; in Archive (after INBOX's 3), 1 of its 2.
    loop {
        let Some(Event::SearchMailbox { mailbox, .. }) = client.session.poll_event().and_then(Event::detach)
        else {
            panic!("expected a mailbox's search")
        };
        if mailbox == "Archive" {
            let later = 20_000 + INPROGRESS_DELAY_MS_MIN + INPROGRESS_INTERVAL_MS_MIN;
            assert!(client.session.progress(later, 1, 2));
            break;
        }
        client.session.answer(Answer::MailboxSearched { uidvalidity: 1, hits: Vec::new() });
    }
    client.connection.write_out(&mut client.session);
    let got = lines(&std::mem::take(&mut client.connection.written));
    assert_lines(
        &got,
        &[
            "S: * OK [INPROGRESS (\"m1\" 2 5)] still working",
            "S: * OK [INPROGRESS (\"m1\" 4 5)] still working",
        ],
    );
}
