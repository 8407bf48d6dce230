//! Transcript tests of the IMAP server session (RFC 9051, RFC 3501 and the extensions it
//! announces): client lines in, server lines out, with the in-memory storage side. Each
//! `check` also feeds the input one byte at a time and in 7-byte pieces and requires the
//! same result. Tests with two sessions on one account are in `imap_concurrency.rs`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod imap_session_common;

use std::sync::Arc;

use imap_session_common::{
    Client, PASSWORD, USER, account, assert_lines, check, check_with, config, message,
};
use moxide_protocols::imap::server::memory::Account;
use moxide_protocols::imap::server::{ServerConfig, SystemFlags};

/// FLAGS and PERMANENTFLAGS as SELECT writes them before any keyword is announced.
const FLAGS: &str =
    "S: * FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $Forwarded $Junk $NotJunk $Phishing $MDNSent)";
const PERMANENT: &str = "S: * OK [PERMANENTFLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $Forwarded $Junk $NotJunk $Phishing $MDNSent \\*)] flags permitted";

/// SELECT INBOX of the default account by an IMAP4rev1 client (three new messages).
fn select_inbox() -> Vec<&'static str> {
    vec![
        FLAGS,
        PERMANENT,
        "S: * 3 EXISTS",
        "S: * 3 RECENT",
        "S: * OK [UNSEEN 1] first unseen",
        "S: * OK [UIDVALIDITY 1001] UIDs valid",
        "S: * OK [UIDNEXT 4] predicted next UID",
        "S: * OK [HIGHESTMODSEQ 4] highest",
        "S: * OK [MAILBOXID (F...",
        "S: a1 OK [READ-WRITE] SELECT completed",
    ]
}

/// `select_inbox` followed by `more`.
fn selected(more: &[&'static str]) -> Vec<&'static str> {
    let mut lines = select_inbox();
    lines.extend_from_slice(more);
    lines
}

// ----- not authenticated -----

#[test]
fn each_command_reports_its_name_result_and_start() {
    use moxide_protocols::imap::server::Outcome;
    let account = account();
    let mut client = Client::connect(&account, &Arc::new(config()));
    client.take_output();
    let steps = [
        (format!("a1 LOGIN {USER} wrong\r\n"), "login", Outcome::No),
        (format!("a2 LOGIN {USER} {PASSWORD}\r\n"), "login", Outcome::Ok),
        ("a3 UID FETCH 1 FLAGS\r\n".to_owned(), "uid fetch", Outcome::Bad),
        ("a4 SELECT INBOX\r\n".to_owned(), "select", Outcome::Ok),
        ("a5 UID FETCH 1:* FLAGS\r\n".to_owned(), "uid fetch", Outcome::Ok),
    ];
    for (at, (line, command, outcome)) in (100u64..).zip(steps) {
        client.feed(line.as_bytes(), 0, at);
        let completed = client.session.take_completed().expect("a completed command");
        assert_eq!((completed.command, completed.outcome, completed.started_ms), (command, outcome, at));
        assert_eq!(client.session.take_completed(), None, "taken once");
    }
}

#[test]
fn greeting_capability_and_commands_before_login() {
    let account = account();
    let mut client = Client::connect(&account, &Arc::new(config()));
    assert_lines(&client.take_output(), &["S: * OK [CAPABILITY IMAP4rev2 IMAP4rev1 ..."]);
    let got = client.send("a1 CAPABILITY\r\na2 SELECT INBOX\r\na3 NOOP\r\n");
    assert_lines(
        &got,
        &[
            "S: * CAPABILITY IMAP4rev2 IMAP4rev1 ENABLE LITERAL+ IDLE BINARY UNSELECT UIDPLUS ESEARCH SEARCHRES MOVE UTF8=ACCEPT LIST-EXTENDED SPECIAL-USE CREATE-SPECIAL-USE LIST-STATUS ID NAMESPACE CONDSTORE QRESYNC STATUS=SIZE MULTIAPPEND SAVEDATE WITHIN CHILDREN SORT SORT=DISPLAY ESORT PARTIAL CONTEXT=SEARCH CONTEXT=SORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES THREAD=REFS QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE REPLACE UIDONLY OBJECTID PREVIEW METADATA LIST-METADATA INPROGRESS NOTIFY CATENATE MULTISEARCH URLAUTH APPENDLIMIT=10000 SASL-IR AUTH=PLAIN",
            "S: a1 OK capabilities listed",
            "S: a2 BAD log in first",
            "S: a3 OK done",
        ],
    );
}

#[test]
fn login_checks_the_password_and_logs_in_once() {
    let account = account();
    let mut client = Client::connect(&account, &Arc::new(config()));
    client.take_output();
    let got = client.send(&format!(
        "a1 LOGIN {USER} wrong\r\na2 LOGIN {USER} {PASSWORD}\r\na3 LOGIN {USER} {PASSWORD}\r\n"
    ));
    assert_lines(
        &got,
        &[
            "S: a1 NO [AUTHENTICATIONFAILED] invalid user name or password",
            "S: a2 OK [CAPABILITY IMAP4rev2 IMAP4rev1 ...",
            "S: a3 BAD already logged in",
        ],
    );
    assert!(client.session.is_authenticated());
}

#[test]
fn login_without_tls_is_disabled_unless_allowed() {
    let account = account();
    let strict = Arc::new(ServerConfig { plaintext_auth: false, starttls: true, ..config() });
    let mut client = Client::connect(&account, &strict);
    let greeting = client.take_output();
    assert!(
        greeting[0].ends_with(" STARTTLS LOGINDISABLED SASL-IR AUTH=PLAIN] mx.example moxide IMAP ready"),
        "{greeting:?}"
    );
    let got = client.send(&format!("a1 LOGIN {USER} {PASSWORD}\r\n"));
    assert_lines(&got, &["S: a1 NO [PRIVACYREQUIRED] LOGIN only over TLS (STARTTLS first)"]);
    // STARTTLS: OK, then the handshake (the storage side "succeeds" at once).
    let got = client.send("a2 STARTTLS\r\n");
    assert_lines(&got, &["S: a2 OK begin TLS negotiation now"]);
    let got = client.send(&format!("a3 CAPABILITY\r\na4 LOGIN {USER} {PASSWORD}\r\na5 STARTTLS\r\n"));
    assert_lines(
        &got,
        &[
            "S: * CAPABILITY IMAP4rev2 IMAP4rev1 ENABLE LITERAL+ IDLE BINARY UNSELECT UIDPLUS ESEARCH SEARCHRES MOVE UTF8=ACCEPT LIST-EXTENDED SPECIAL-USE CREATE-SPECIAL-USE LIST-STATUS ID NAMESPACE CONDSTORE QRESYNC STATUS=SIZE MULTIAPPEND SAVEDATE WITHIN CHILDREN SORT SORT=DISPLAY ESORT PARTIAL CONTEXT=SEARCH CONTEXT=SORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES THREAD=REFS QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE REPLACE UIDONLY OBJECTID PREVIEW METADATA LIST-METADATA INPROGRESS NOTIFY CATENATE MULTISEARCH URLAUTH APPENDLIMIT=10000 SASL-IR AUTH=PLAIN",
            "S: a3 OK capabilities listed",
            "S: a4 OK [CAPABILITY ...",
            "S: a5 BAD STARTTLS only before login",
        ],
    );
}

#[test]
fn starttls_with_pipelined_commands_is_refused_and_closes() {
    let account = account();
    let tls = Arc::new(ServerConfig { starttls: true, ..config() });
    let mut client = Client::connect(&account, &tls);
    client.take_output();
    let got = client.send("a1 STARTTLS\r\na2 NOOP\r\n");
    assert_lines(&got, &["S: a1 BAD no commands may follow STARTTLS before the handshake"]);
    assert!(client.session.wants_close());
    assert_eq!(client.leftover(), b"a2 NOOP\r\n", "nothing after STARTTLS is read");
    let mut plain = Client::connect(&account, &Arc::new(config()));
    plain.take_output();
    assert_lines(&plain.send("a1 STARTTLS\r\n"), &["S: a1 BAD STARTTLS is not available on this listener"]);
}

#[test]
fn authenticate_plain_with_and_without_initial_response() {
    // "\0mox@localhost\0moxmoxmox" in base64.
    let plain = "AG1veEBsb2NhbGhvc3QAbW94bW94bW94";
    let account = account();
    let mut client = Client::connect(&account, &Arc::new(config()));
    client.take_output();
    let got = client.send(&format!(
        "a1 AUTHENTICATE PLAIN\r\n*\r\na2 AUTHENTICATE CRAM-MD5\r\na3 AUTHENTICATE PLAIN\r\n{plain}\r\n"
    ));
    assert_lines(
        &got,
        &[
            "S: + ",
            "S: a1 BAD authentication cancelled",
            "S: a2 NO [CANNOT] unsupported mechanism",
            "S: + ",
            "S: a3 OK [CAPABILITY ...",
        ],
    );
    let mut second = Client::connect(&account, &Arc::new(config()));
    second.take_output();
    let got = second.send(&format!("a1 AUTHENTICATE PLAIN {plain}\r\n"));
    assert_lines(&got, &["S: a1 OK [CAPABILITY ..."]);
    let mut third = Client::connect(&account, &Arc::new(config()));
    third.take_output();
    let got =
        third.send("a1 AUTHENTICATE PLAIN AG1veEBsb2NhbGhvc3QAd3Jvbmc=\r\na2 AUTHENTICATE PLAIN\r\n!!!\r\n");
    assert_lines(
        &got,
        &[
            "S: a1 NO [AUTHENTICATIONFAILED] invalid user name or password",
            "S: + ",
            "S: a2 BAD invalid base64 in SASL response",
        ],
    );
}

#[test]
fn a_command_before_login_must_arrive_in_time() {
    let account = account();
    let mut client = Client::connect(&account, &Arc::new(config()));
    client.take_output();
    assert_eq!(client.session.deadline_ms(), None, "no command is being read");
    client.feed(b"a1 LOG", 0, 1_000);
    let deadline = client.session.deadline_ms().unwrap();
    assert_eq!(deadline, 1_000 + 30_000 + 6 * 1000 / 1024);
    // A byte now and then does not move the deadline much.
    client.feed(b"I", 0, 20_000);
    assert!(client.session.deadline_ms().unwrap() < deadline + 10);
    client.session.timed_out();
    assert_lines(&client.take_output(), &["S: * BYE autologout: idle for too long"]);
    assert!(client.session.wants_close());
    // After login there is no command deadline (the autologout applies).
    let mut logged_in = Client::logged_in(&account);
    logged_in.feed(b"a1 NO", 0, 5);
    assert_eq!(logged_in.session.deadline_ms(), None);
}

// ----- authenticated state -----

#[test]
fn enable_namespace_and_id() {
    check(
        "C: a1 ENABLE CONDSTORE X-UNKNOWN QRESYNC\r\nC: a2 ENABLE CONDSTORE\r\nC: a3 NAMESPACE\r\nC: a4 ID (\"name\" \"test\")\r\nC: a5 ENABLE\r\n",
        &[
            "S: * ENABLED CONDSTORE QRESYNC",
            "S: a1 OK ENABLE completed",
            "S: * ENABLED",
            "S: a2 OK ENABLE completed",
            "S: * NAMESPACE ((\"\" \"/\")) NIL NIL",
            "S: a3 OK NAMESPACE completed",
            "S: * ID (\"name\" \"moxide\" \"version\" \"0.1.0\")",
            "S: a4 OK ID completed",
            "S: a5 BAD ENABLE: expected capability names",
        ],
    );
}

#[test]
fn selected_state_commands_need_a_mailbox() {
    check(
        "C: a1 FETCH 1 FLAGS\r\nC: a2 CLOSE\r\nC: a3 EXPUNGE\r\n",
        &[
            "S: a1 BAD select a mailbox first",
            "S: a2 BAD select a mailbox first",
            "S: a3 BAD select a mailbox first",
        ],
    );
}

#[test]
fn create_delete_rename_and_subscribe() {
    check(
        "C: a1 CREATE Work/Projects\r\nC: a2 CREATE Work\r\nC: a3 CREATE inbox\r\nC: a4 RENAME Work/Projects Work/Done\r\n\
         C: a5 DELETE Nothing\r\nC: a6 SUBSCRIBE Work/Done\r\nC: a7 UNSUBSCRIBE Work/Done\r\nC: a8 DELETE Work/Done\r\n\
         C: a9 CREATE Sent2 (USE (\\Sent))\r\nC: b1 CREATE Other (USE (\\Important))\r\nC: b2 DELETE INBOX\r\n",
        &[
            "S: a1 OK [MAILBOXID (F...",
            "S: a2 NO [ALREADYEXISTS] mailbox already exists",
            "S: a3 NO [ALREADYEXISTS] INBOX always exists",
            "S: a4 OK RENAME completed",
            "S: a5 NO [NONEXISTENT] no mailbox \"Nothing\"",
            "S: a6 OK SUBSCRIBE completed",
            "S: a7 OK UNSUBSCRIBE completed",
            "S: a8 OK DELETE completed",
            "S: a9 OK [MAILBOXID (F...",
            "S: b1 NO [CANNOT] special-use not supported",
            "S: b2 NO [CANNOT] INBOX cannot be deleted",
        ],
    );
}

#[test]
fn mailbox_names_may_hold_every_astring_char() {
    // RFC 9051 §9: ASTRING-CHAR; `&` not followed by valid modified UTF-7 is taken as it is.
    let name = "!#$&'+,-.0123456789:;<=>?@^_`|}~";
    check(
        &format!(
            "C: a1 CREATE {name}\r\nC: a2 SELECT {name}\r\nC: a3 STATUS {name} (MESSAGES)\r\nC: a4 SELECT {name}x\r\n"
        ),
        &[
            "S: a1 OK [MAILBOXID (F...",
            FLAGS,
            "S: * OK [PERMANENTFLAGS ...",
            "S: * 0 EXISTS",
            "S: * 0 RECENT",
            "S: * OK [UIDVALIDITY 1007] UIDs valid",
            "S: * OK [UIDNEXT 1] predicted next UID",
            "S: * OK [HIGHESTMODSEQ 4] highest",
            "S: * OK [MAILBOXID (F...",
            "S: a2 OK [READ-WRITE] SELECT completed",
            "S: * STATUS !#$&-'+,-.0123456789:;<=>?@^_`|}~ (MESSAGES 0)",
            "S: a3 OK STATUS completed",
            "S: * OK [CLOSED] previous mailbox closed",
            "S: a4 NO [NONEXISTENT] no mailbox \"!#$&'+,-.0123456789:;<=>?@^_`|}~x\"",
        ],
    );
}

#[test]
fn list_patterns_and_return_options() {
    check(
        "C: a1 CREATE Work/Projects\r\nC: a2 LIST \"\" \"\"\r\nC: a3 LIST \"\" %\r\nC: a4 LIST \"Work/\" *\r\n\
         C: a5 LIST (SPECIAL-USE) \"\" * RETURN (STATUS (MESSAGES UNSEEN))\r\nC: a6 SUBSCRIBE Work\r\n\
         C: a7 LIST \"\" W* RETURN (SUBSCRIBED CHILDREN)\r\nC: a8 LIST \"\" inbox RETURN (STATUS (MESSAGES APPENDLIMIT))\r\n",
        &[
            "S: a1 OK [MAILBOXID (F...",
            "S: * LIST (\\Noselect) \"/\" \"\"",
            "S: a2 OK LIST completed",
            "S: * LIST (\\HasNoChildren) \"/\" INBOX",
            "S: * LIST (\\HasNoChildren \\Archive) \"/\" Archive",
            "S: * LIST (\\HasNoChildren \\Drafts) \"/\" Drafts",
            "S: * LIST (\\HasNoChildren \\Junk) \"/\" Junk",
            "S: * LIST (\\HasNoChildren \\Sent) \"/\" Sent",
            "S: * LIST (\\HasNoChildren \\Trash) \"/\" Trash",
            "S: * LIST (\\HasChildren) \"/\" Work",
            "S: a3 OK LIST completed",
            "S: * LIST (\\HasNoChildren) \"/\" Work/Projects",
            "S: a4 OK LIST completed",
            "S: * LIST (\\HasNoChildren \\Archive) \"/\" Archive",
            "S: * STATUS Archive (MESSAGES 0 UNSEEN 0)",
            "S: * LIST (\\HasNoChildren \\Drafts) \"/\" Drafts",
            "S: * STATUS Drafts (MESSAGES 0 UNSEEN 0)",
            "S: * LIST (\\HasNoChildren \\Junk) \"/\" Junk",
            "S: * STATUS Junk (MESSAGES 0 UNSEEN 0)",
            "S: * LIST (\\HasNoChildren \\Sent) \"/\" Sent",
            "S: * STATUS Sent (MESSAGES 0 UNSEEN 0)",
            "S: * LIST (\\HasNoChildren \\Trash) \"/\" Trash",
            "S: * STATUS Trash (MESSAGES 0 UNSEEN 0)",
            "S: a5 OK LIST completed",
            "S: a6 OK SUBSCRIBE completed",
            "S: * LIST (\\HasChildren \\Subscribed) \"/\" Work",
            "S: * LIST (\\HasNoChildren) \"/\" Work/Projects",
            "S: a7 OK LIST completed",
            "S: * LIST (\\HasNoChildren) \"/\" INBOX",
            "S: * STATUS INBOX (MESSAGES 3 APPENDLIMIT 10000)",
            "S: a8 OK LIST completed",
        ],
    );
}

/// The account of RFC 5258 §5's examples for subscriptions: `Foo/Bar/Baz` subscribed
/// below unsubscribed parents, `Fruit` and `Fruit/Apple` both subscribed, `Tofu` a
/// subscription without a mailbox.
fn subscriptions_account() -> moxide_protocols::imap::server::memory::SharedAccount {
    let account = account();
    let mut client = Client::logged_in(&account);
    client.send(
        "x1 CREATE Foo/Bar/Baz\r\nx2 SUBSCRIBE Foo/Bar/Baz\r\nx3 CREATE Fruit/Apple\r\nx4 SUBSCRIBE Fruit\r\n\
                 x5 SUBSCRIBE Fruit/Apple\r\nx6 SUBSCRIBE Tofu\r\n",
    );
    account
}

#[test]
fn lsub_lists_an_unsubscribed_parent_as_noselect() {
    // RFC 3501 §6.3.9: `%` must return foo, not foo/bar, flagged \Noselect.
    check_with(
        subscriptions_account,
        "C: a1 LSUB \"\" %\r\nC: a2 LSUB \"\" Foo/%\r\nC: a3 LSUB \"\" *\r\n",
        &[
            "S: * LSUB (\\Noselect) \"/\" Foo",
            "S: * LSUB () \"/\" Fruit",
            "S: * LSUB (\\Noselect) \"/\" Tofu",
            "S: a1 OK LSUB completed",
            "S: * LSUB (\\Noselect) \"/\" Foo/Bar",
            "S: a2 OK LSUB completed",
            "S: * LSUB () \"/\" Foo/Bar/Baz",
            "S: * LSUB () \"/\" Fruit",
            "S: * LSUB () \"/\" Fruit/Apple",
            "S: * LSUB (\\Noselect) \"/\" Tofu",
            "S: a3 OK LSUB completed",
        ],
    );
}

#[test]
fn list_subscribed_with_recursivematch_follows_rfc_5258() {
    // RFC 5258 §3.5: CHILDINFO for a parent listed only because a descendant matching no
    // pattern of the command meets the selection; a descendant listed in its own right
    // (matched by another pattern) does not make the parent listed.
    check_with(
        subscriptions_account,
        "C: a1 LIST (SUBSCRIBED) \"\" *\r\nC: a2 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %\r\n\
         C: a3 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (% Foo/*)\r\nC: a4 LIST (RECURSIVEMATCH) \"\" %\r\n",
        &[
            "S: * LIST (\\HasNoChildren \\Subscribed) \"/\" Foo/Bar/Baz",
            "S: * LIST (\\HasChildren \\Subscribed) \"/\" Fruit",
            "S: * LIST (\\HasNoChildren \\Subscribed) \"/\" Fruit/Apple",
            "S: * LIST (\\NonExistent \\Subscribed) \"/\" Tofu",
            "S: a1 OK LIST completed",
            "S: * LIST (\\HasChildren) \"/\" Foo (\"CHILDINFO\" (\"SUBSCRIBED\"))",
            "S: * LIST (\\HasChildren \\Subscribed) \"/\" Fruit (\"CHILDINFO\" (\"SUBSCRIBED\"))",
            "S: * LIST (\\NonExistent \\Subscribed) \"/\" Tofu",
            "S: a2 OK LIST completed",
            "S: * LIST (\\HasNoChildren \\Subscribed) \"/\" Foo/Bar/Baz",
            "S: * LIST (\\HasChildren \\Subscribed) \"/\" Fruit (\"CHILDINFO\" (\"SUBSCRIBED\"))",
            "S: * LIST (\\NonExistent \\Subscribed) \"/\" Tofu",
            "S: a3 OK LIST completed",
            "S: a4 BAD LIST: RECURSIVEMATCH needs another selection option",
        ],
    );
}

#[test]
fn status_items_including_appendlimit() {
    check(
        "C: a1 STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE HIGHESTMODSEQ APPENDLIMIT)\r\n\
         C: a2 STATUS Nothing (MESSAGES)\r\nC: a3 STATUS INBOX (RECENT)\r\n",
        &[
            "S: * STATUS INBOX (MESSAGES 3 UIDNEXT 4 UIDVALIDITY 1001 UNSEEN 2 DELETED 0 SIZE 456 HIGHESTMODSEQ 4 APPENDLIMIT 10000)",
            "S: a1 OK STATUS completed",
            "S: a2 NO [NONEXISTENT] no mailbox \"Nothing\"",
            "S: * STATUS INBOX (RECENT 3)",
            "S: a3 OK STATUS completed",
        ],
    );
}

#[test]
fn select_examine_and_unselect() {
    check(
        "C: a1 SELECT INBOX\r\nC: a2 EXAMINE INBOX\r\nC: a3 UNSELECT\r\nC: a4 SELECT Nothing\r\nC: a5 FETCH 1 UID\r\n",
        &selected(&[
            "S: * OK [CLOSED] previous mailbox closed",
            FLAGS,
            "S: * OK [PERMANENTFLAGS ()] flags permitted",
            "S: * 3 EXISTS",
            "S: * 0 RECENT",
            "S: * OK [UNSEEN 1] first unseen",
            "S: * OK [UIDVALIDITY 1001] UIDs valid",
            "S: * OK [UIDNEXT 4] predicted next UID",
            "S: * OK [HIGHESTMODSEQ 4] highest",
            "S: * OK [MAILBOXID (F...",
            "S: a2 OK [READ-ONLY] EXAMINE completed",
            "S: a3 OK UNSELECT completed",
            "S: a4 NO [NONEXISTENT] no mailbox \"Nothing\"",
            "S: a5 BAD select a mailbox first",
        ]),
    );
}

#[test]
fn examine_shows_recent_without_claiming_it() {
    // RFC 3501 §2.3.2: a read-only session does not take \Recent from later sessions.
    check(
        "C: a0 EXAMINE INBOX\r\nC: a1 SELECT INBOX\r\n",
        &[
            FLAGS,
            "S: * OK [PERMANENTFLAGS ()] flags permitted",
            "S: * 3 EXISTS",
            "S: * 3 RECENT",
            "S: * OK [UNSEEN 1] first unseen",
            "S: * OK [UIDVALIDITY 1001] UIDs valid",
            "S: * OK [UIDNEXT 4] predicted next UID",
            "S: * OK [HIGHESTMODSEQ 4] highest",
            "S: * OK [MAILBOXID (F...",
            "S: a0 OK [READ-ONLY] EXAMINE completed",
            "S: * OK [CLOSED] previous mailbox closed",
            FLAGS,
            PERMANENT,
            "S: * 3 EXISTS",
            "S: * 3 RECENT",
            "S: * OK [UNSEEN 1] first unseen",
            "S: * OK [UIDVALIDITY 1001] UIDs valid",
            "S: * OK [UIDNEXT 4] predicted next UID",
            "S: * OK [HIGHESTMODSEQ 4] highest",
            "S: * OK [MAILBOXID (F...",
            "S: a1 OK [READ-WRITE] SELECT completed",
        ],
    );
}

#[test]
fn imap4rev2_sessions_get_no_recent_and_esearch() {
    check(
        "C: a0 ENABLE IMAP4rev2\r\nC: a1 SELECT INBOX\r\nC: a2 SEARCH UNSEEN\r\nC: a3 FETCH 1 FLAGS\r\n",
        &[
            "S: * ENABLED IMAP4REV2",
            "S: a0 OK ENABLE completed",
            FLAGS,
            PERMANENT,
            "S: * 3 EXISTS",
            "S: * OK [UIDVALIDITY 1001] UIDs valid",
            "S: * OK [UIDNEXT 4] predicted next UID",
            "S: * OK [HIGHESTMODSEQ 4] highest",
            "S: * OK [MAILBOXID (F...",
            "S: * LIST () \"/\" INBOX",
            "S: a1 OK [READ-WRITE] SELECT completed",
            "S: * ESEARCH (TAG \"a2\") ALL 1,3",
            "S: a2 OK SEARCH completed",
            "S: * 1 FETCH (FLAGS ())",
            "S: a3 OK FETCH completed",
        ],
    );
}

// ----- APPEND -----

#[test]
fn append_and_multiappend() {
    let one = message(7);
    let two = message(8);
    check(
        &format!(
            "C: a1 APPEND Archive (\\Seen $Junk) \"14-Oct-2025 09:12:43 +0000\" {{{}+}}\r\n{}\r\n\
             C: a2 APPEND Archive {{{}+}}\r\n{} {{{}+}}\r\n{}\r\n\
             C: a3 STATUS Archive (MESSAGES UNSEEN)\r\n",
            one.len(),
            String::from_utf8(one.clone()).unwrap(),
            one.len(),
            String::from_utf8(one.clone()).unwrap(),
            two.len(),
            String::from_utf8(two).unwrap()
        ),
        &[
            "S: a1 OK [APPENDUID 1004 1] APPEND completed",
            "S: a2 OK [APPENDUID 1004 2:3] APPEND completed",
            "S: * STATUS Archive (MESSAGES 3 UNSEEN 2)",
            "S: a3 OK STATUS completed",
        ],
    );
}

#[test]
fn append_refusals() {
    check(
        "C: a1 APPEND Nothing {5+}\r\nC: hello\r\nC: a2 APPEND INBOX (\\Bogus) {5+}\r\nC: hello\r\n\
         C: a3 APPEND INBOX {20000}\r\nC: a4 APPEND INBOX {5}\r\nC: hello\r\nC: a5 NOOP\r\n",
        &[
            "S: a1 NO [TRYCREATE] no mailbox \"Nothing\"",
            "S: a2 BAD flag \\Bogus cannot be set",
            "S: a3 NO [TOOBIG] message larger than APPENDLIMIT",
            "S: + go ahead",
            "S: a4 OK [APPENDUID 1001 4] APPEND completed",
            "S: a5 OK done",
        ],
    );
}

#[test]
fn append_to_the_selected_mailbox_shows_the_message() {
    check(
        "C: a1 SELECT INBOX\r\nC: a2 APPEND INBOX {5+}\r\nC: hello\r\nC: a3 FETCH 4 (FLAGS RFC822.SIZE)\r\n",
        &selected(&[
            "S: * 4 EXISTS",
            "S: * 4 RECENT",
            "S: a2 OK [APPENDUID 1001 4] APPEND completed",
            "S: * 4 FETCH (FLAGS (\\Recent) RFC822.SIZE 5)",
            "S: a3 OK FETCH completed",
        ]),
    );
}

// ----- FETCH -----

#[test]
fn fetch_index_items_and_uid_fetch() {
    check(
        "C: a1 SELECT INBOX\r\nC: a2 FETCH 1:* (FLAGS RFC822.SIZE INTERNALDATE)\r\nC: a3 UID FETCH 2:9 (FLAGS)\r\n\
         C: a4 FETCH 7 FLAGS\r\nC: a5 FETCH 2 (UID MODSEQ SAVEDATE)\r\n",
        &selected(&[
            "S: * 1 FETCH (FLAGS (\\Recent) RFC822.SIZE 152 INTERNALDATE \"14-Nov-2023 22:13:20 +0000\")",
            "S: * 2 FETCH (FLAGS (\\Seen \\Flagged \\Recent) RFC822.SIZE 152 INTERNALDATE \"14-Nov-2023 22:13:20 +0000\")",
            "S: * 3 FETCH (FLAGS (\\Recent) RFC822.SIZE 152 INTERNALDATE \"14-Nov-2023 22:13:20 +0000\")",
            "S: a2 OK FETCH completed",
            "S: * 2 FETCH (UID 2 FLAGS (\\Seen \\Flagged \\Recent))",
            "S: * 3 FETCH (UID 3 FLAGS (\\Recent))",
            "S: a3 OK FETCH completed",
            "S: a4 OK FETCH completed",
            "S: * 2 FETCH (UID 2 MODSEQ (3) SAVEDATE \"14-Nov-2023 22:13:20 +0000\")",
            "S: a5 OK [HIGHESTMODSEQ 4] FETCH completed",
        ]),
    );
}

#[test]
fn fetch_envelope_and_body_structure() {
    check(
        "C: a1 SELECT INBOX\r\nC: a2 FETCH 1 (ENVELOPE BODY BODYSTRUCTURE)\r\n",
        &selected(&[
            "S: * 1 FETCH (ENVELOPE (\"Mon, 02 Jan 2023 10:00:00 +0100\" \"message 1\" ((\"Alice\" NIL \"alice\" \"example.org\")) ((\"Alice\" NIL \"alice\" \"example.org\")) ((\"Alice\" NIL \"alice\" \"example.org\")) ((NIL NIL \"bob\" \"example.org\")) NIL NIL NIL \"<1@example.org>\") BODY (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 8 1) BODYSTRUCTURE (\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 8 1 NIL NIL NIL NIL))",
            "S: a2 OK FETCH completed",
        ]),
    );
}

#[test]
fn fetch_sections_are_literals_even_when_empty() {
    check(
        "C: a1 SELECT INBOX\r\nC: a2 FETCH 2 (BODY.PEEK[HEADER.FIELDS (Subject TO)] BODY.PEEK[TEXT] BODY.PEEK[1] BODY.PEEK[5] BODY.PEEK[1.MIME]<0.10> BODY.PEEK[]<4.10>)\r\n\
         C: a3 FETCH 2 (RFC822.HEADER BODY.PEEK[HEADER.FIELDS.NOT (From Date Message-ID Subject)])\r\n",
        &selected(&[
            "S: * 2 FETCH (BODY[HEADER.FIELDS (Subject TO)] {43}",
            "S: To: bob@example.org",
            "S: Subject: message 2",
            "S: ",
            "S:  BODY[TEXT] {8}",
            "S: body 2",
            "S:  BODY[1] {8}",
            "S: body 2",
            "S:  BODY[5] {0}",
            "S:  BODY[1.MIME]<0> {10}",
            "S: From: Alic BODY[]<4> {10}",
            "S: : Alice <a)",
            "S: a2 OK FETCH completed",
            "S: * 2 FETCH (RFC822.HEADER {144}",
            "S: From: Alice <alice@example.org>",
            "S: To: bob@example.org",
            "S: Subject: message 2",
            "S: Date: Mon, 02 Jan 2023 10:00:00 +0100",
            "S: Message-ID: <2@example.org>",
            "S: ",
            "S:  BODY[HEADER.FIELDS.NOT (From Date Message-ID Subject)] {23}",
            "S: To: bob@example.org",
            "S: ",
            "S: )",
            "S: a3 OK FETCH completed",
        ]),
    );
}

#[test]
fn binary_with_and_without_a_section() {
    let encoded = b"From: a@b.example\r\nSubject: b64\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\
                    Content-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ=\r\n";
    let setup = || {
        let mut account = Account::new(USER, PASSWORD);
        account.deliver("INBOX", encoded, SystemFlags::SEEN, &[]);
        account.shared()
    };
    check_with(
        setup,
        "C: a1 EXAMINE INBOX\r\nC: a2 FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[1]<6.100> BINARY.SIZE[])\r\n\
         C: a3 FETCH 1 (BINARY.PEEK[])\r\nC: a4 FETCH 1 (BINARY.PEEK[2])\r\n",
        &[
            FLAGS,
            "S: * OK [PERMANENTFLAGS ()] flags permitted",
            "S: * 1 EXISTS",
            "S: * 1 RECENT",
            "S: * OK [UIDVALIDITY 1001] UIDs valid",
            "S: * OK [UIDNEXT 2] predicted next UID",
            "S: * OK [HIGHESTMODSEQ 2] highest",
            "S: * OK [MAILBOXID (F...",
            "S: a1 OK [READ-ONLY] EXAMINE completed",
            "S: * 1 FETCH (BINARY[1] {11}",
            "S: hello world BINARY.SIZE[1] 11 BINARY[1]<6> {5}",
            "S: world BINARY.SIZE[] 133)",
            "S: a2 OK FETCH completed",
            "S: * 1 FETCH (BINARY[] {133}",
            "S: From: a@b.example",
            "S: Subject: b64",
            "S: MIME-Version: 1.0",
            "S: Content-Type: text/plain",
            "S: Content-Transfer-Encoding: base64",
            "S: ",
            "S: aGVsbG8gd29ybGQ=",
            "S: )",
            "S: a3 OK FETCH completed",
            "S: a4 BAD no such part",
        ],
    );
}

/// issue 10: a message too large to load: BINARY decodes and HEADER.FIELDS filters as
/// the storage side reads the file to the session, with the same answers as for a small
/// message.
#[test]
fn binary_and_header_fields_of_a_large_message_stream() {
    let mut message = b"From: a@b.example\r\nSubject: big\r\n".to_vec();
    // A header block larger than what a FETCH loads (64 KiB), within what the summary
    // considers (1,000 fields).
    for i in 0..900 {
        let filler =
            format!("X-Filler-{i}: some header text to make it long, and longer, and longer still\r\n");
        message.extend_from_slice(filler.as_bytes());
    }
    message.extend_from_slice(
        b"MIME-Version: 1.0\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n",
    );
    for _ in 0..3_000 {
        message
            .extend_from_slice(b"aGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVsbG8gd29ybGQgaGVs\r\n");
    }
    let decoded = b"hello world hello world hello world hello world hel".repeat(3_000);
    assert!(message.len() > 200_000);
    let mut account = Account::new(USER, PASSWORD);
    account.deliver("INBOX", &message, SystemFlags::SEEN, &[]);
    let account = account.shared();
    for piece in [0, 7] {
        let mut client = imap_session_common::Client::logged_in(&account);
        client.send("a1 EXAMINE INBOX\r\n");
        let script = b"a2 FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1]<3.9> BODY.PEEK[HEADER.FIELDS (SUBJECT mime-version)] BINARY.PEEK[1])\r\n";
        client.feed(script, piece, 0);
        client.connection.drive(&mut client.session);
        let written = std::mem::take(&mut client.connection.written);
        let mut expected = format!(
            "* 1 FETCH (BINARY.SIZE[1] {} BINARY[1]<3> {{9}}\r\nlo world  BODY[HEADER.FIELDS (SUBJECT mime-version)] {{35}}\r\nSubject: big\r\nMIME-Version: 1.0\r\n\r\n BINARY[1] {{{}}}\r\n",
            decoded.len(),
            decoded.len()
        )
        .into_bytes();
        expected.extend_from_slice(&decoded);
        expected.extend_from_slice(b")\r\na2 OK FETCH completed\r\n");
        assert!(written == expected, "{}", String::from_utf8_lossy(&written[..400.min(written.len())]));
    }
}

#[test]
fn fetch_that_reads_a_body_sets_seen_and_says_so() {
    // RFC 3501 §6.4.5 / RFC 9051 §6.4.5: the implicit \Seen shows in the same response.
    check(
        "C: a1 SELECT INBOX\r\nC: a2 FETCH 1 (BODY[TEXT])\r\nC: a3 FETCH 1 (BODY[TEXT])\r\nC: a4 FETCH 3 (FLAGS RFC822.TEXT)\r\n\
         C: a5 FETCH 2 (BODY[TEXT])\r\nC: a6 EXAMINE INBOX\r\n",
        &selected(&[
            "S: * 1 FETCH (FLAGS (\\Seen \\Recent) BODY[TEXT] {8}",
            "S: body 1",
            "S: )",
            "S: a2 OK FETCH completed",
            "S: * 1 FETCH (BODY[TEXT] {8}",
            "S: body 1",
            "S: )",
            "S: a3 OK FETCH completed",
            "S: * 3 FETCH (FLAGS (\\Seen \\Recent) RFC822.TEXT {8}",
            "S: body 3",
            "S: )",
            "S: a4 OK FETCH completed",
            "S: * 2 FETCH (BODY[TEXT] {8}",
            "S: body 2",
            "S: )",
            "S: a5 OK FETCH completed",
            "S: * OK [CLOSED] previous mailbox closed",
            FLAGS,
            "S: * OK [PERMANENTFLAGS ()] flags permitted",
            "S: * 3 EXISTS",
            "S: * 0 RECENT",
            "S: * OK [UIDVALIDITY 1001] UIDs valid",
            "S: * OK [UIDNEXT 4] predicted next UID",
            "S: * OK [HIGHESTMODSEQ 6] highest",
            "S: * OK [MAILBOXID (F...",
            "S: a6 OK [READ-ONLY] EXAMINE completed",
        ]),
    );
}

#[test]
fn fetch_modseq_enables_condstore() {
    // RFC 7162 §3.1: FETCH MODSEQ enables CONDSTORE; that command's OK carries the
    // highest modseq, and from then on STORE's FETCH responses carry MODSEQ.
    check(
        "C: a1 SELECT INBOX\r\nC: a2 STORE 1 +FLAGS (\\Answered)\r\nC: a3 FETCH 1 (MODSEQ)\r\n\
         C: a4 STORE 1 +FLAGS (\\Flagged)\r\nC: a5 FETCH 1 (MODSEQ)\r\n",
        &selected(&[
            "S: * 1 FETCH (FLAGS (\\Answered \\Recent))",
            "S: a2 OK STORE completed",
            "S: * 1 FETCH (MODSEQ (5))",
            "S: a3 OK [HIGHESTMODSEQ 5] FETCH completed",
            "S: * 1 FETCH (FLAGS (\\Answered \\Flagged \\Recent) MODSEQ (6))",
            "S: a4 OK STORE completed",
            "S: * 1 FETCH (MODSEQ (6))",
            "S: a5 OK FETCH completed",
        ]),
    );
}

#[test]
fn changedsince_and_unchangedsince_enable_condstore_too() {
    check(
        "C: a1 SELECT INBOX\r\nC: a2 FETCH 1:* (FLAGS) (CHANGEDSINCE 3)\r\n",
        &selected(&[
            "S: * 3 FETCH (FLAGS (\\Recent) MODSEQ (4))",
            "S: a2 OK [HIGHESTMODSEQ 4] FETCH completed",
        ]),
    );
    check(
        "C: a1 SELECT INBOX\r\nC: a2 STORE 1:2 (UNCHANGEDSINCE 2) +FLAGS (\\Deleted)\r\n",
        &selected(&[
            "S: * 1 FETCH (FLAGS (\\Deleted \\Recent) MODSEQ (5))",
            "S: * OK [HIGHESTMODSEQ 5] highest",
            "S: a2 OK [MODIFIED 2] conditional STORE failed for some messages",
        ]),
    );
}

// ----- STORE -----

#[test]
fn store_modes_silent_and_keywords() {
    check(
        "C: a1 SELECT INBOX\r\nC: a2 STORE 1 FLAGS (\\Seen)\r\nC: a3 STORE 1:2 -FLAGS (\\Seen)\r\nC: a4 STORE 3 +FLAGS.SILENT (\\Draft)\r\n\
         C: a5 UID STORE 3 +FLAGS (Work $Junk)\r\nC: a6 STORE 1 +FLAGS (\\Bogus)\r\n",
        &selected(&[
            "S: * 1 FETCH (FLAGS (\\Seen \\Recent))",
            "S: a2 OK STORE completed",
            "S: * 1 FETCH (FLAGS (\\Recent))",
            "S: * 2 FETCH (FLAGS (\\Flagged \\Recent))",
            "S: a3 OK STORE completed",
            "S: a4 OK STORE completed",
            "S: * FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $Forwarded $Junk $NotJunk $Phishing $MDNSent Work)",
            "S: * OK [PERMANENTFLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft $Forwarded $Junk $NotJunk $Phishing $MDNSent Work \\*)] flags permitted",
            "S: * 3 FETCH (UID 3 FLAGS (\\Draft \\Recent Work $Junk))",
            "S: a5 OK STORE completed",
            "S: a6 BAD flag \\Bogus cannot be set",
        ]),
    );
}

#[test]
fn store_silent_with_condstore_reports_only_new_modseqs() {
    // RFC 7162 §3.1.3: .SILENT sends no flags; with CONDSTORE the new modseq of each
    // message that changed is still reported, and nothing for one that did not.
    check(
        "C: a0 ENABLE CONDSTORE\r\nC: a1 SELECT INBOX\r\nC: a2 STORE 1:2 +FLAGS.SILENT (\\Flagged)\r\nC: a3 UID STORE 1 -FLAGS.SILENT (\\Flagged)\r\n\
         C: a4 STORE 3 (UNCHANGEDSINCE 1) +FLAGS.SILENT (\\Seen)\r\n",
        &[
            "S: * ENABLED CONDSTORE",
            "S: a0 OK ENABLE completed",
            FLAGS,
            PERMANENT,
            "S: * 3 EXISTS",
            "S: * 3 RECENT",
            "S: * OK [UNSEEN 1] first unseen",
            "S: * OK [UIDVALIDITY 1001] UIDs valid",
            "S: * OK [UIDNEXT 4] predicted next UID",
            "S: * OK [HIGHESTMODSEQ 4] highest",
            "S: * OK [MAILBOXID (F...",
            "S: a1 OK [READ-WRITE] SELECT completed",
            "S: * 1 FETCH (MODSEQ (5))",
            "S: a2 OK STORE completed",
            "S: * 1 FETCH (UID 1 MODSEQ (6))",
            "S: a3 OK STORE completed",
            "S: a4 OK [MODIFIED 3] conditional STORE failed for some messages",
        ],
    );
}

#[test]
fn store_in_a_read_only_mailbox_is_refused() {
    check(
        "C: a1 EXAMINE INBOX\r\nC: a2 STORE 1 +FLAGS (\\Seen)\r\nC: a3 EXPUNGE\r\nC: a4 MOVE 1 Trash\r\n",
        &[
            FLAGS,
            "S: * OK [PERMANENTFLAGS ()] flags permitted",
            "S: * 3 EXISTS",
            "S: * 3 RECENT",
            "S: * OK [UNSEEN 1] first unseen",
            "S: * OK [UIDVALIDITY 1001] UIDs valid",
            "S: * OK [UIDNEXT 4] predicted next UID",
            "S: * OK [HIGHESTMODSEQ 4] highest",
            "S: * OK [MAILBOXID (F...",
            "S: a1 OK [READ-ONLY] EXAMINE completed",
            "S: a2 NO [READ-ONLY] mailbox is read-only",
            "S: a3 NO [READ-ONLY] mailbox is read-only",
            "S: a4 NO [READ-ONLY] mailbox is read-only",
        ],
    );
}

// ----- SEARCH -----

#[test]
fn search_keys_and_return_options() {
    check(
        "C: a1 SELECT INBOX\r\nC: a2 SEARCH FLAGGED\r\nC: a3 UID SEARCH NOT SEEN\r\nC: a4 SEARCH SUBJECT \"message 3\"\r\n\
         C: a5 SEARCH FROM alice BODY \"body 2\"\r\nC: a6 SEARCH RETURN (MIN MAX COUNT) ALL\r\nC: a7 SEARCH CHARSET KOI8-R ALL\r\n\
         C: a8 SEARCH RETURN (SAVE) UNSEEN\r\nC: a9 FETCH $ (UID)\r\nC: b1 SEARCH OR 1 3 HEADER Message-ID <3@\r\n",
        &selected(&[
            "S: * SEARCH 2",
            "S: a2 OK SEARCH completed",
            "S: * SEARCH 1 3",
            "S: a3 OK SEARCH completed",
            "S: * SEARCH 3",
            "S: a4 OK SEARCH completed",
            "S: * SEARCH 2",
            "S: a5 OK SEARCH completed",
            "S: * ESEARCH (TAG \"a6\") MIN 1 MAX 3 COUNT 3",
            "S: a6 OK SEARCH completed",
            "S: a7 NO [BADCHARSET (UTF-8)] only UTF-8 searches are supported",
            "S: a8 OK SEARCH completed",
            "S: * 1 FETCH (UID 1)",
            "S: * 3 FETCH (UID 3)",
            "S: a9 OK FETCH completed",
            "S: * SEARCH 3",
            "S: b1 OK SEARCH completed",
        ]),
    );
}

#[test]
fn sent_dates_compare_the_date_as_written() {
    // RFC 3501 §6.4.4: "disregarding time and timezone": 25 Mar 01:00 +0200 is the 25th,
    // though it is still the 24th in UTC.
    let setup = || {
        let mut account = Account::new(USER, PASSWORD);
        let dated =
            b"From: a@b.example\r\nDate: Sun, 25 Mar 2007 01:00:00 +0200\r\nSubject: x\r\n\r\nbody\r\n";
        account.deliver("INBOX", dated, SystemFlags::SEEN, &[]);
        account.shared()
    };
    check_with(
        setup,
        "C: a1 EXAMINE INBOX\r\nC: a2 SEARCH SENTON 25-Mar-2007\r\nC: a3 SEARCH SENTON 24-Mar-2007\r\n\
         C: a4 SEARCH SENTBEFORE 25-Mar-2007\r\nC: a5 SEARCH SENTSINCE 25-Mar-2007\r\n",
        &[
            FLAGS,
            "S: * OK [PERMANENTFLAGS ()] flags permitted",
            "S: * 1 EXISTS",
            "S: * 1 RECENT",
            "S: * OK [UIDVALIDITY 1001] UIDs valid",
            "S: * OK [UIDNEXT 2] predicted next UID",
            "S: * OK [HIGHESTMODSEQ 2] highest",
            "S: * OK [MAILBOXID (F...",
            "S: a1 OK [READ-ONLY] EXAMINE completed",
            "S: * SEARCH 1",
            "S: a2 OK SEARCH completed",
            "S: * SEARCH",
            "S: a3 OK SEARCH completed",
            "S: * SEARCH",
            "S: a4 OK SEARCH completed",
            "S: * SEARCH 1",
            "S: a5 OK SEARCH completed",
        ],
    );
}

#[test]
fn search_recent_new_and_old() {
    check(
        "C: a1 SELECT INBOX\r\nC: a2 SEARCH RECENT\r\nC: a3 SEARCH NEW\r\nC: a4 SEARCH OLD\r\nC: a5 SEARCH MODSEQ 3\r\n",
        &selected(&[
            "S: * SEARCH 1 2 3",
            "S: a2 OK SEARCH completed",
            "S: * SEARCH 1 3",
            "S: a3 OK SEARCH completed",
            "S: * SEARCH",
            "S: a4 OK SEARCH completed",
            "S: * SEARCH 2 3 (MODSEQ 4)",
            "S: a5 OK [HIGHESTMODSEQ 4] SEARCH completed",
        ]),
    );
}

// ----- COPY, MOVE, EXPUNGE, CLOSE -----

#[test]
fn copy_and_move() {
    check(
        "C: a1 SELECT INBOX\r\nC: a2 COPY 1:2 Archive\r\nC: a3 UID MOVE 2 Trash\r\nC: a4 MOVE 1 Nothing\r\nC: a5 COPY 9 Archive\r\n\
         C: a6 STATUS Trash (MESSAGES)\r\n",
        &selected(&[
            "S: a2 OK [COPYUID 1004 1:2 1:2] COPY completed",
            "S: * OK [COPYUID 1005 2 1] moved",
            "S: * 2 EXPUNGE",
            "S: a3 OK MOVE completed",
            "S: a4 NO [TRYCREATE] no mailbox \"Nothing\"",
            "S: a5 OK COPY completed",
            "S: * STATUS Trash (MESSAGES 1)",
            "S: a6 OK STATUS completed",
        ]),
    );
}

#[test]
fn expunge_uid_expunge_and_close() {
    check(
        "C: a1 SELECT INBOX\r\nC: a2 STORE 1:3 +FLAGS.SILENT (\\Deleted)\r\nC: a3 UID EXPUNGE 3\r\nC: a4 EXPUNGE\r\n\
         C: a5 APPEND INBOX (\\Deleted) {5+}\r\nC: hello\r\nC: a6 CLOSE\r\nC: a7 STATUS INBOX (MESSAGES)\r\n",
        &selected(&[
            "S: a2 OK STORE completed",
            "S: * 3 EXPUNGE",
            "S: a3 OK EXPUNGE completed",
            "S: * 2 EXPUNGE",
            "S: * 1 EXPUNGE",
            "S: a4 OK EXPUNGE completed",
            "S: * 1 EXISTS",
            "S: * 1 RECENT",
            "S: a5 OK [APPENDUID 1001 4] APPEND completed",
            "S: a6 OK CLOSE completed",
            "S: * STATUS INBOX (MESSAGES 0)",
            "S: a7 OK STATUS completed",
        ]),
    );
}

// ----- IDLE, errors, LOGOUT -----

#[test]
fn idle_until_done() {
    check(
        "C: a1 SELECT INBOX\r\nC: a2 IDLE\r\nC: DONE\r\nC: a3 IDLE\r\nC: NOT DONE\r\nC: a4 NOOP\r\n",
        &selected(&[
            "S: + idling",
            "S: a2 OK IDLE terminated",
            "S: + idling",
            "S: a3 BAD expected DONE",
            "S: a4 OK done",
        ]),
    );
}

#[test]
fn twenty_bad_commands_in_a_row_are_tolerated() {
    let mut script = String::new();
    let mut expected: Vec<String> = Vec::new();
    for n in 0..20 {
        script.push_str(&format!("C: b{n} BOGUS\r\n"));
        expected.push(format!("S: b{n} BAD BOGUS: unknown command"));
    }
    script.push_str("C: a1 NOOP\r\n");
    expected.push("S: a1 OK done".to_owned());
    for n in 0..21 {
        script.push_str(&format!("C: c{n} BOGUS\r\n"));
        expected.push(format!("S: c{n} BAD BOGUS: unknown command"));
    }
    expected.push("S: * BYE too many protocol errors".to_owned());
    let expected: Vec<&str> = expected.iter().map(String::as_str).collect();
    let client = check(&script, &expected);
    assert!(client.session.wants_close());
}

#[test]
fn logout_sends_only_bye() {
    let client = check(
        "C: a1 SELECT INBOX\r\nC: a2 LOGOUT\r\nC: a3 NOOP\r\n",
        &selected(&["S: * BYE logging out", "S: a2 OK logged out"]),
    );
    assert!(client.session.wants_close());
    assert_eq!(client.leftover(), b"a3 NOOP\r\n");
}

#[test]
fn qresync_select_and_vanished() {
    let setup = || {
        let account = account();
        account.borrow_mut().expunge("INBOX", &[2]);
        account
    };
    check_with(
        setup,
        "C: a0 ENABLE QRESYNC\r\nC: a1 SELECT INBOX (QRESYNC (1001 3 1:3))\r\nC: a2 UID FETCH 1:* (FLAGS) (CHANGEDSINCE 3 VANISHED)\r\n\
         C: a3 FETCH 1 (FLAGS) (CHANGEDSINCE 1 VANISHED)\r\n",
        &[
            "S: * ENABLED QRESYNC",
            "S: a0 OK ENABLE completed",
            FLAGS,
            PERMANENT,
            "S: * 2 EXISTS",
            "S: * 2 RECENT",
            "S: * OK [UNSEEN 1] first unseen",
            "S: * OK [UIDVALIDITY 1001] UIDs valid",
            "S: * OK [UIDNEXT 4] predicted next UID",
            "S: * OK [HIGHESTMODSEQ 5] highest",
            "S: * OK [MAILBOXID (F...",
            "S: * VANISHED (EARLIER) 2",
            "S: * 2 FETCH (UID 3 FLAGS (\\Recent) MODSEQ (4))",
            "S: a1 OK [READ-WRITE] SELECT completed",
            "S: * VANISHED (EARLIER) 2",
            "S: * 2 FETCH (UID 3 FLAGS (\\Recent) MODSEQ (4))",
            "S: a2 OK FETCH completed",
            "S: a3 BAD FETCH: VANISHED needs UID FETCH with CHANGEDSINCE",
        ],
    );
}

#[test]
fn utf8_names_after_enable() {
    check(
        "C: a1 CREATE &AOQ-rger\r\nC: a2 LIST \"\" &AOQ-*\r\nC: a3 ENABLE UTF8=ACCEPT\r\nC: a4 LIST \"\" \u{e4}*\r\n",
        &[
            "S: a1 OK [MAILBOXID (F...",
            "S: * LIST (\\HasNoChildren) \"/\" &AOQ-rger",
            "S: a2 OK LIST completed",
            "S: * ENABLED UTF8=ACCEPT",
            "S: a3 OK ENABLE completed",
            "S: * LIST (\\HasNoChildren) \"/\" \"\u{e4}rger\"",
            "S: a4 OK LIST completed",
        ],
    );
}

#[test]
fn envelope_address_lists_with_groups() {
    // RFC 3501 §7.4.2: a group is a start marker (NIL NIL name NIL), its members and an
    // end marker; an empty group is the two markers; an empty addr-spec is no address.
    let setup = || {
        let mut account = Account::new(USER, PASSWORD);
        let message = b"From: a@b.example\r\nTo: undisclosed-recipients:;\r\n\
                        Cc: G: x@y.example, <>, \"Name\" <>;\r\nBcc: <>\r\nSubject: groups\r\n\r\nbody\r\n";
        account.deliver("INBOX", message, SystemFlags::SEEN, &[]);
        account.shared()
    };
    check_with(
        setup,
        "C: a1 EXAMINE INBOX\r\nC: a2 FETCH 1 ENVELOPE\r\n",
        &[
            FLAGS,
            "S: * OK [PERMANENTFLAGS ()] flags permitted",
            "S: * 1 EXISTS",
            "S: * 1 RECENT",
            "S: * OK [UIDVALIDITY 1001] UIDs valid",
            "S: * OK [UIDNEXT 2] predicted next UID",
            "S: * OK [HIGHESTMODSEQ 2] highest",
            "S: * OK [MAILBOXID (F...",
            "S: a1 OK [READ-ONLY] EXAMINE completed",
            "S: * 1 FETCH (ENVELOPE (NIL \"groups\" ((NIL NIL \"a\" \"b.example\")) ((NIL NIL \"a\" \"b.example\")) \
             ((NIL NIL \"a\" \"b.example\")) ((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL)) \
             ((NIL NIL \"G\" NIL)(NIL NIL \"x\" \"y.example\")(NIL NIL NIL NIL)) NIL NIL NIL))",
            "S: a2 OK FETCH completed",
        ],
    );
}

#[test]
fn an_account_may_hide_capabilities_from_its_clients() {
    let account = account();
    let mut client = Client::logged_in(&account);
    client.session.hide_capabilities(&[
        "thread".to_owned(),
        "QUOTA=RES-MESSAGE".to_owned(),
        "SORT".to_owned(),
        "list-metadata".to_owned(),
    ]);
    client.feed(
        b"a1 CAPABILITY\r\na2 SELECT INBOX\r\na3 THREAD REFS UTF-8 ALL\r\na4 UID SORT (DATE) UTF-8 ALL\r\n\
          a5 GETQUOTAROOT INBOX\r\n",
        0,
        0,
    );
    let lines = client.take_output();
    // `thread` hides every THREAD=, SORT hides SORT=DISPLAY, ESORT and CONTEXT=SORT too.
    assert_eq!(
        lines[0],
        "S: * CAPABILITY IMAP4rev2 IMAP4rev1 ENABLE LITERAL+ IDLE BINARY UNSELECT UIDPLUS ESEARCH SEARCHRES MOVE UTF8=ACCEPT LIST-EXTENDED SPECIAL-USE CREATE-SPECIAL-USE LIST-STATUS ID NAMESPACE CONDSTORE QRESYNC STATUS=SIZE MULTIAPPEND SAVEDATE WITHIN CHILDREN PARTIAL CONTEXT=SEARCH QUOTA QUOTA=RES-STORAGE REPLACE UIDONLY OBJECTID PREVIEW METADATA INPROGRESS NOTIFY CATENATE MULTISEARCH URLAUTH APPENDLIMIT=10000 COMPRESS=DEFLATE"
    );
    // Their commands are unknown now; QUOTA's are not (only a resource is hidden).
    assert!(lines.iter().any(|line| line == "S: a3 BAD unknown command"), "{lines:?}");
    assert!(lines.iter().any(|line| line == "S: a4 BAD unknown command"), "{lines:?}");
    assert!(lines.iter().any(|line| line.starts_with("S: a5 OK")), "{lines:?}");
}

/// Hiding METADATA hides LIST-METADATA with it, and every way in: GETMETADATA,
/// SETMETADATA, LIST RETURN (METADATA). ENABLE leaves a hidden extension off.
#[test]
fn hidden_metadata_is_absent_throughout() {
    let account = account();
    let mut client = Client::logged_in(&account);
    client.session.hide_capabilities(&["METADATA".to_owned(), "condstore".to_owned()]);
    client.feed(
        b"a1 CAPABILITY\r\na2 GETMETADATA \"\" /shared/comment\r\n\
          a3 SETMETADATA INBOX (/private/comment \"x\")\r\na4 LIST \"\" INBOX RETURN (METADATA (/private/comment))\r\n\
          a5 ENABLE CONDSTORE QRESYNC UTF8=ACCEPT\r\na6 LIST \"\" INBOX\r\n",
        0,
        0,
    );
    let lines = client.take_output();
    assert!(!lines[0].contains("METADATA"), "{lines:?}");
    assert!(!lines[0].contains("CONDSTORE") && !lines[0].contains("QRESYNC"), "{lines:?}");
    assert_lines(
        &lines[1..],
        &[
            "S: a1 OK capabilities listed",
            "S: a2 BAD unknown command",
            "S: a3 BAD unknown command",
            "S: a4 BAD unknown command",
            "S: * ENABLED UTF8=ACCEPT",
            "S: a5 OK ENABLE completed",
            "S: * LIST (\\HasNoChildren) \"/\" INBOX",
            "S: a6 OK ...",
        ],
    );
}
