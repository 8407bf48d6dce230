//! Transcript tests of MULTISEARCH (RFC 7377): `ESEARCH IN (sources) ...` over the
//! in-memory account, in the authenticated and the selected state: one `* ESEARCH (TAG
//! .. MAILBOX .. UIDVALIDITY ..) UID ...` per mailbox with matches, none for the others;
//! the sources' rules (selected needs a selected mailbox, SAVE and `$` only with it
//! alone, UPDATE refused).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod imap_session_common;

use imap_session_common::{PASSWORD, USER, check_with, message};
use moxide_protocols::imap::server::SystemFlags;
use moxide_protocols::imap::server::memory::{Account, SharedAccount};

/// INBOX (UIDVALIDITY 1001): 1 2 3 (2 seen); Archive (1004, the account's own): 1
/// (seen); Archive/2023 (1007, subscribed): 1 2 (unseen); Archive/2023/Q1 (1008): 1
/// (unseen); Lists (1009, subscribed): none. Sent, Drafts, Trash, Junk are empty.
fn accounts() -> SharedAccount {
    let mut account = Account::new(USER, PASSWORD);
    for n in 1..=3 {
        let flags = if n == 2 { SystemFlags::SEEN } else { SystemFlags::default() };
        account.deliver("INBOX", &message(n), flags, &[]);
    }
    for (name, subscribed) in [("Archive/2023", true), ("Archive/2023/Q1", false), ("Lists", true)] {
        assert!(account.add_mailbox(name, subscribed));
    }
    account.deliver("Archive", &message(4), SystemFlags::SEEN, &[]);
    account.deliver("Archive/2023", &message(5), SystemFlags::default(), &[]);
    account.deliver("Archive/2023", &message(6), SystemFlags::default(), &[]);
    account.deliver("Archive/2023/Q1", &message(7), SystemFlags::default(), &[]);
    account.shared()
}

#[test]
fn esearch_in_the_authenticated_state() {
    check_with(
        accounts,
        "C: a1 ESEARCH IN (personal) UNSEEN\r\n\
         C: a2 ESEARCH UNSEEN\r\n\
         C: a3 ESEARCH IN (subtree Archive) RETURN (COUNT MIN) ALL\r\n\
         C: a4 ESEARCH IN (subtree-one \"Archive\" inboxes) RETURN (MAX) SUBJECT \"message\"\r\n\
         C: a5 ESEARCH IN (mailboxes (Lists Nope) subscribed) RETURN (COUNT) ALL\r\n\
         C: a6 ESEARCH IN (selected personal) ALL\r\n\
         C: a7 ESEARCH IN (personal) RETURN (SAVE) ALL\r\n\
         C: a8 ESEARCH IN (personal) UID $\r\n\
         C: a9 ESEARCH IN (personal) RETURN (UPDATE) ALL\r\n\
         C: b1 ESEARCH IN (personal (depth 1)) ALL\r\n\
         C: b2 ESEARCH IN (inboxes) CHARSET ISO-8859-1 ALL\r\n",
        &[
            "S: * ESEARCH (TAG \"a1\" MAILBOX INBOX UIDVALIDITY 1001) UID ALL 1,3",
            "S: * ESEARCH (TAG \"a1\" MAILBOX Archive/2023 UIDVALIDITY 1007) UID ALL 1:2",
            "S: * ESEARCH (TAG \"a1\" MAILBOX Archive/2023/Q1 UIDVALIDITY 1008) UID ALL 1",
            "S: a1 OK ESEARCH completed",
            "S: a2 BAD select a mailbox first",
            "S: * ESEARCH (TAG \"a3\" MAILBOX Archive UIDVALIDITY 1004) UID MIN 1 COUNT 1",
            "S: * ESEARCH (TAG \"a3\" MAILBOX Archive/2023 UIDVALIDITY 1007) UID MIN 1 COUNT 2",
            "S: * ESEARCH (TAG \"a3\" MAILBOX Archive/2023/Q1 UIDVALIDITY 1008) UID MIN 1 COUNT 1",
            "S: a3 OK ESEARCH completed",
            // subtree-one: Archive and Archive/2023, not Q1.
            "S: * ESEARCH (TAG \"a4\" MAILBOX INBOX UIDVALIDITY 1001) UID MAX 3",
            "S: * ESEARCH (TAG \"a4\" MAILBOX Archive UIDVALIDITY 1004) UID MAX 1",
            "S: * ESEARCH (TAG \"a4\" MAILBOX Archive/2023 UIDVALIDITY 1007) UID MAX 2",
            "S: a4 OK ESEARCH completed",
            // Lists has no messages, Nope does not exist: only Archive/2023 answers.
            "S: * ESEARCH (TAG \"a5\" MAILBOX Archive/2023 UIDVALIDITY 1007) UID COUNT 2",
            "S: a5 OK ESEARCH completed",
            "S: a6 BAD select a mailbox first",
            "S: a7 BAD SAVE only with the selected mailbox as the sole source",
            "S: a8 BAD $ only with the selected mailbox as the sole source",
            "S: a9 BAD UPDATE needs a selected mailbox",
            "S: b1 BAD ESEARCH: unknown scope option",
            "S: b2 NO [BADCHARSET (UTF-8)] only UTF-8 searches are supported",
        ],
    );
}

#[test]
fn esearch_in_the_selected_state() {
    check_with(
        accounts,
        "C: a1 SELECT Archive/2023\r\n\
         C: a2 STORE 2 +FLAGS (\\Seen)\r\n\
         C: a3 ESEARCH UNSEEN\r\n\
         C: a4 ESEARCH RETURN (SAVE) SEEN\r\n\
         C: a5 ESEARCH IN (selected) RETURN (COUNT) UID $\r\n\
         C: a6 ESEARCH IN (selected subtree Archive/2023 mailboxes INBOX) RETURN (UPDATE COUNT) 1\r\n",
        &[
            "S: * FLAGS ...",
            "S: * OK [PERMANENTFLAGS ...",
            "S: * 2 EXISTS",
            "S: * 2 RECENT",
            "S: * OK [UNSEEN 1] ...",
            "S: * OK [UIDVALIDITY 1007] ...",
            "S: * OK [UIDNEXT 3] ...",
            "S: * OK [HIGHESTMODSEQ ...",
            "S: * OK [MAILBOXID ...",
            "S: a1 OK [READ-WRITE] SELECT completed",
            "S: * 2 FETCH (FLAGS (\\Seen \\Recent))",
            "S: a2 OK STORE completed",
            "S: * ESEARCH (TAG \"a3\" MAILBOX Archive/2023 UIDVALIDITY 1007) UID ALL 1",
            "S: a3 OK ESEARCH completed",
            // SAVE alone: no response, `$` is UID 2.
            "S: a4 OK ESEARCH completed",
            "S: * ESEARCH (TAG \"a5\" MAILBOX Archive/2023 UIDVALIDITY 1007) UID COUNT 1",
            "S: a5 OK ESEARCH completed",
            // The selected mailbox once; sequence number 1 in each mailbox.
            "S: * NO [NOUPDATE \"a6\"] no UPDATE for ESEARCH",
            "S: * ESEARCH (TAG \"a6\" MAILBOX INBOX UIDVALIDITY 1001) UID COUNT 1",
            "S: * ESEARCH (TAG \"a6\" MAILBOX Archive/2023 UIDVALIDITY 1007) UID COUNT 1",
            "S: * ESEARCH (TAG \"a6\" MAILBOX Archive/2023/Q1 UIDVALIDITY 1008) UID COUNT 1",
            "S: a6 OK ESEARCH completed",
        ],
    );
}
