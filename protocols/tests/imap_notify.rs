//! Transcript tests of NOTIFY (RFC 5465): the command's checks (BAD, `NO [BADEVENT]`),
//! STATUS at NOTIFY SET STATUS, the notices of other mailboxes' changes as the storage
//! side gives them, SELECTED / SELECTED-DELAYED / no selected filter against another
//! session's changes to the selected mailbox (without a command from the client), and
//! the overflow.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod imap_session_common;

use imap_session_common::{Client, account, assert_lines, check, message};
use moxide_protocols::imap::server::{
    MailboxFacts, MessageChanges, NOTIFY_OUTPUT_BYTES_MAX, Notice, SystemFlags,
};
use moxide_protocols::imap::types::StoreMode;

const SUPPORTED: &str = "BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange)";

#[test]
fn notify_checks_events_and_combinations() {
    let badevent = format!("S: a2 NO [{SUPPORTED}] unsupported events: AnnotationChange");
    check(
        "C: a1 NOTIFY NONE\r\n\
         C: a2 NOTIFY SET (PERSONAL (MessageNew MessageExpunge AnnotationChange))\r\n\
         C: a3 NOTIFY SET (PERSONAL (MessageNew))\r\n\
         C: a4 NOTIFY SET (PERSONAL (FlagChange))\r\n\
         C: a5 NOTIFY SET (SELECTED (MessageNew MessageExpunge)) (SELECTED-DELAYED (MessageNew MessageExpunge))\r\n\
         C: a6 NOTIFY SET (SELECTED (MailboxName))\r\n\
         C: a7 NOTIFY SET (SELECTED (MessageNew (BODY[]) MessageExpunge))\r\n\
         C: a8 NOTIFY SET (SELECTED (MessageNew (UID BODY.PEEK[HEADER]) MessageExpunge)) (INBOXES NONE)\r\n\
         C: a9 NOTIFY GET\r\n",
        &[
            "S: a1 OK NOTIFY completed",
            &badevent,
            "S: a3 BAD MessageNew and MessageExpunge go together",
            "S: a4 BAD FlagChange needs MessageNew and MessageExpunge",
            "S: a5 BAD SELECTED or SELECTED-DELAYED may appear once",
            "S: a6 BAD SELECTED takes message events only",
            "S: a7 BAD MessageNew's FETCH attributes must not set \\Seen",
            "S: a8 OK NOTIFY completed",
            "S: a9 BAD NOTIFY: expected SET or NONE",
        ],
    );
}

#[test]
fn notify_set_status_lists_the_mailboxes_message_events_are_on_for() {
    let setup = || {
        let account = account();
        account.borrow_mut().create("Lists/rust", None);
        account.borrow_mut().create("Archive", None);
        account
    };
    imap_session_common::check_with(
        setup,
        "C: a1 ENABLE CONDSTORE\r\n\
         C: a2 NOTIFY SET STATUS (SUBTREE Lists (MessageNew MessageExpunge)) (INBOXES (MessageNew MessageExpunge FlagChange))\r\n\
         C: a3 SELECT INBOX\r\n\
         C: a4 NOTIFY SET STATUS (SELECTED (MessageNew MessageExpunge)) (PERSONAL (MailboxName))\r\n",
        &[
            "S: * ENABLED CONDSTORE",
            "S: a1 OK ENABLE completed",
            "S: * STATUS INBOX (MESSAGES 3 UIDNEXT 4 UIDVALIDITY 1001 UNSEEN 2 HIGHESTMODSEQ 4)",
            "S: * STATUS Lists/rust (MESSAGES 0 UIDNEXT 1 UIDVALIDITY ...",
            "S: a2 OK NOTIFY completed",
            "S: * FLAGS ...",
            "S: * OK [PERMANENTFLAGS ...",
            "S: * 3 EXISTS",
            "S: * 3 RECENT",
            "S: * OK [UNSEEN 1] first unseen",
            "S: * OK [UIDVALIDITY 1001] UIDs valid",
            "S: * OK [UIDNEXT 4] predicted next UID",
            "S: * OK [HIGHESTMODSEQ 4] highest",
            "S: * OK [MAILBOXID (F...",
            "S: a3 OK [READ-WRITE] SELECT completed",
            "S: a4 OK NOTIFY completed",
        ],
    );
}

fn facts(name: &str) -> MailboxFacts {
    MailboxFacts {
        name: name.to_owned(),
        messages: 5,
        unseen: 2,
        uidnext: 9,
        uidvalidity: 77,
        highest_modseq: 30,
        ..MailboxFacts::default()
    }
}

fn new_message(name: &str, subscribed: bool) -> Notice {
    let changes = MessageChanges { new: true, ..MessageChanges::default() };
    Notice::Messages { facts: facts(name), subscribed, changes }
}

#[test]
fn notices_are_written_when_a_filter_asks_for_them() {
    let account = account();
    let mut a = Client::logged_in(&account);
    a.send("a1 NOTIFY SET (INBOXES (MessageNew MessageExpunge)) (SUBSCRIBED (MessageNew MessageExpunge FlagChange SubscriptionChange)) (SUBTREE Work (MailboxName MailboxMetadataChange)) (MAILBOXES Quiet NONE) (PERSONAL (ServerMetadataChange MailboxName))\r\n");
    let flags = MessageChanges { flags: true, ..MessageChanges::default() };
    let notices = [
        new_message("INBOX", false),
        Notice::Messages { facts: facts("INBOX"), subscribed: false, changes: flags },
        new_message("Sub", true),
        new_message("Other", false),
        Notice::MailboxName { from: None, to: Some("Work/new".into()), subscribed: false },
        Notice::MailboxName { from: Some("Work/old".into()), to: None, subscribed: false },
        Notice::MailboxName { from: Some("Work/a".into()), to: Some("Work/b".into()), subscribed: true },
        Notice::MailboxName { from: None, to: Some("Quiet".into()), subscribed: false },
        Notice::MailboxName { from: None, to: Some("Elsewhere".into()), subscribed: false },
        Notice::Subscription { name: "Sub".into(), subscribed: true },
        Notice::Subscription { name: "Gone".into(), subscribed: false },
        Notice::MailboxMetadata {
            mailbox: "Work".into(),
            subscribed: false,
            entries: vec!["/private/comment".into()],
        },
        Notice::ServerMetadata { entries: vec!["/shared/comment".into()] },
    ];
    for notice in notices {
        a.session.notice(notice);
    }
    assert_lines(
        &a.take_output(),
        &[
            "S: * STATUS INBOX (MESSAGES 5 UIDNEXT 9 UIDVALIDITY 77 UNSEEN 2)",
            "S: * STATUS Sub (MESSAGES 5 UIDNEXT 9 UIDVALIDITY 77 UNSEEN 2)",
            "S: * LIST () \"/\" Work/new",
            "S: * LIST (\\NonExistent) \"/\" Work/old",
            "S: * LIST (\\Subscribed) \"/\" Work/b (\"OLDNAME\" (\"Work/a\"))",
            "S: * LIST () \"/\" Elsewhere",
            "S: * LIST (\\Subscribed) \"/\" Sub",
            "S: * METADATA Work /private/comment",
            "S: * METADATA \"\" /shared/comment",
        ],
    );
    // NOTIFY NONE: nothing more.
    a.send("a2 NOTIFY NONE\r\n");
    a.session.notice(new_message("INBOX", false));
    assert_lines(&a.take_output(), &[]);
}

#[test]
fn an_overflow_is_said_once_and_stops_notifications() {
    let account = account();
    let mut a = Client::logged_in(&account);
    a.send("a1 NOTIFY SET (PERSONAL (MessageNew MessageExpunge))\r\n");
    a.session.notice(Notice::Overflowed);
    a.session.notice(new_message("INBOX", false));
    assert_lines(
        &a.take_output(),
        &["S: * OK [NOTIFICATIONOVERFLOW] too many notifications waiting, NOTIFY is off"],
    );
    // A new NOTIFY starts over; a client that does not read overflows the bound.
    a.send("a2 NOTIFY SET (PERSONAL (MessageNew MessageExpunge))\r\n");
    let line_bytes = "* STATUS INBOX (MESSAGES 5 UIDNEXT 9 UIDVALIDITY 77 UNSEEN 2)\r\n".len();
    let fits = NOTIFY_OUTPUT_BYTES_MAX / line_bytes + 1;
    for _ in 0..fits + 10 {
        a.session.notice(new_message("INBOX", false));
    }
    let got = a.take_output();
    assert_eq!(got.len(), fits + 1, "the bound, then the overflow");
    assert_eq!(got[fits], "S: * OK [NOTIFICATIONOVERFLOW] too many notifications waiting, NOTIFY is off");
}

/// Client A selects INBOX with a NOTIFY setting; B changes INBOX; what A gets with no
/// command of its own, then at NOOP.
fn selected_run(notify: &str, unprompted: &[&str], at_noop: &[&str]) {
    let account = account();
    let mut a = Client::logged_in(&account);
    a.send("a1 ENABLE IMAP4rev2\r\na2 SELECT INBOX\r\n");
    let got = a.send(&format!("a3 {notify}\r\n"));
    assert_lines(&got, &["S: a3 OK NOTIFY completed"]);
    account.borrow_mut().deliver("INBOX", &message(4), SystemFlags::default(), &[]);
    account.borrow_mut().store("INBOX", &[1], StoreMode::Add, SystemFlags::FLAGGED, &[]);
    account.borrow_mut().expunge("INBOX", &[2]);
    // No input: the storage side tells the session, as the glue does between commands.
    a.run(0);
    assert_lines(&a.take_output(), unprompted);
    assert_lines(&a.send("a4 NOOP\r\n"), at_noop);
}

#[test]
fn selected_sends_updates_between_commands() {
    selected_run(
        "NOTIFY SET (SELECTED (MessageNew MessageExpunge FlagChange))",
        &["S: * 2 EXPUNGE", "S: * 3 EXISTS", "S: * 1 FETCH (UID 1 FLAGS (\\Flagged))"],
        &["S: a4 OK done"],
    );
}

#[test]
fn selected_delayed_keeps_expunges_for_a_command_that_allows_them() {
    selected_run(
        "NOTIFY SET (SELECTED-DELAYED (MessageNew MessageExpunge FlagChange))",
        &["S: * 4 EXISTS"],
        // The new message's flags come with the flag changes the view held back.
        &[
            "S: * 2 EXPUNGE",
            "S: * 1 FETCH (UID 1 FLAGS (\\Flagged))",
            "S: * 3 FETCH (UID 4 FLAGS ())",
            "S: a4 OK done",
        ],
    );
}

#[test]
fn without_a_selected_filter_the_selected_mailbox_gets_no_updates() {
    selected_run("NOTIFY SET (PERSONAL (MessageNew MessageExpunge))", &[], &["S: a4 OK done"]);
    selected_run("NOTIFY NONE", &[], &["S: a4 OK done"]);
}

/// MessageNew's FETCH attributes (RFC 5465 §5.2): after EXISTS, a FETCH of each new
/// message, between commands and in IDLE, without setting `\Seen`.
#[test]
fn message_new_fetches_the_attributes_asked_for() {
    let account = account();
    let mut a = Client::logged_in(&account);
    a.send("a1 ENABLE IMAP4rev2\r\na2 SELECT INBOX\r\n");
    let got = a.send(
        "a3 NOTIFY SET (SELECTED (MessageNew (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)]) MessageExpunge))\r\n",
    );
    assert_lines(&got, &["S: a3 OK NOTIFY completed"]);
    account.borrow_mut().deliver("INBOX", &message(4), SystemFlags::default(), &[]);
    a.run(0);
    assert_lines(
        &a.take_output(),
        &[
            "S: * 4 EXISTS",
            "S: * 4 FETCH (UID 4 FLAGS () BODY[HEADER.FIELDS (SUBJECT)] {22}",
            "S: Subject: message 4",
            "S: ",
            "S: )",
        ],
    );
    assert_lines(&a.send("a4 IDLE\r\n"), &["S: + idling"]);
    account.borrow_mut().deliver("INBOX", &message(5), SystemFlags::default(), &[]);
    account.borrow_mut().deliver("INBOX", &message(6), SystemFlags::default(), &[]);
    a.run(0);
    assert_lines(
        &a.take_output(),
        &[
            "S: * 6 EXISTS",
            "S: * 5 FETCH (UID 5 FLAGS () BODY[HEADER.FIELDS (SUBJECT)] {22}",
            "S: Subject: message 5",
            "S: ",
            "S: )",
            "S: * 6 FETCH (UID 6 FLAGS () BODY[HEADER.FIELDS (SUBJECT)] {22}",
            "S: Subject: message 6",
            "S: ",
            "S: )",
        ],
    );
    assert_lines(&a.send("DONE\r\n"), &["S: a4 OK IDLE terminated"]);
    // Nothing was marked \Seen.
    assert_lines(
        &a.send("a5 FETCH 4:6 FLAGS\r\n"),
        &[
            "S: * 4 FETCH (FLAGS ())",
            "S: * 5 FETCH (FLAGS ())",
            "S: * 6 FETCH (FLAGS ())",
            "S: a5 OK FETCH completed",
        ],
    );
}

/// A message that arrives while a command runs is fetched at the command's end, before
/// its tagged response.
#[test]
fn message_new_fetch_goes_before_the_tagged_response() {
    let account = account();
    let mut a = Client::logged_in(&account);
    a.send("a1 ENABLE IMAP4rev2\r\na2 SELECT INBOX\r\n");
    a.send("a3 NOTIFY SET (SELECTED-DELAYED (MessageNew (UID) MessageExpunge))\r\n");
    // APPEND by this session: its final sync finds the new message.
    let got = a.send("a4 APPEND INBOX {5+}\r\nhello\r\n");
    assert_lines(
        &got,
        &["S: * 4 EXISTS", "S: * 4 FETCH (UID 4)", "S: a4 OK [APPENDUID 1001 4] APPEND completed"],
    );
}

#[test]
fn selected_without_flag_change_hides_other_sessions_flag_changes() {
    selected_run(
        "NOTIFY SET (SELECTED (MessageNew MessageExpunge))",
        &["S: * 2 EXPUNGE", "S: * 3 EXISTS"],
        &["S: a4 OK done"],
    );
}
