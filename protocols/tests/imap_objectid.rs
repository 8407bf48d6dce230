//! Transcript tests of OBJECTID (RFC 8474) and PREVIEW (RFC 8970) with the in-memory
//! storage side: MAILBOXID on SELECT, STATUS and CREATE, kept by RENAME and new after
//! DELETE and CREATE; EMAILID and THREADID in FETCH and SEARCH, EMAILID kept by MOVE and
//! new for a COPY; PREVIEW and PREVIEW (LAZY), and their syntax.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod imap_session_common;

use imap_session_common::{PASSWORD, USER, check, check_with};
use moxide_protocols::imap::server::SystemFlags;
use moxide_protocols::imap::server::memory::{Account, SharedAccount};

#[test]
fn mailboxid_survives_rename_and_is_new_after_delete() {
    check(
        "C: a1 EXAMINE INBOX\r\n\
         C: a2 STATUS INBOX (MAILBOXID MESSAGES)\r\n\
         C: a3 CREATE Projects\r\n\
         C: a4 STATUS Projects (MAILBOXID)\r\n\
         C: a5 RENAME Projects Other\r\n\
         C: a6 STATUS Other (MAILBOXID)\r\n\
         C: a7 DELETE Other\r\n\
         C: a8 CREATE Projects\r\n\
         C: a9 CREATE Other\r\n\
         C: b1 LIST \"\" Projects RETURN (STATUS (MAILBOXID))\r\n",
        &[
            "S: * FLAGS (...",
            "S: * OK [PERMANENTFLAGS ...",
            "S: * 3 EXISTS",
            "S: * 3 RECENT",
            "S: * OK [UNSEEN 1] first unseen",
            "S: * OK [UIDVALIDITY 1001] UIDs valid",
            "S: * OK [UIDNEXT 4] predicted next UID",
            "S: * OK [HIGHESTMODSEQ 4] highest",
            "S: * OK [MAILBOXID (F000003e900000001)] object id",
            "S: a1 OK [READ-ONLY] EXAMINE completed",
            "S: * STATUS INBOX (MAILBOXID (F000003e900000001) MESSAGES 3)",
            "S: a2 OK STATUS completed",
            // UIDVALIDITY 1007 (after the six made with the account), mailbox id 7.
            "S: a3 OK [MAILBOXID (F000003ef00000007)] CREATE completed",
            "S: * STATUS Projects (MAILBOXID (F000003ef00000007))",
            "S: a4 OK STATUS completed",
            "S: a5 OK RENAME completed",
            "S: * STATUS Other (MAILBOXID (F000003ef00000007))",
            "S: a6 OK STATUS completed",
            "S: a7 OK DELETE completed",
            // The same name again is a new mailbox; so is the renamed one's old name.
            "S: a8 OK [MAILBOXID (F000003f000000008)] CREATE completed",
            "S: a9 OK [MAILBOXID (F000003f100000009)] CREATE completed",
            "S: * LIST (...",
            "S: * STATUS Projects (MAILBOXID (F000003f000000008))",
            "S: b1 OK LIST completed",
        ],
    );
}

/// INBOX: a parent, its reply, and an unrelated message.
fn thread_account() -> SharedAccount {
    let mut account = Account::new(USER, PASSWORD);
    let messages: [&[u8]; 3] = [
        b"Subject: question\r\nMessage-ID: <q@example.org>\r\n\r\nThe question?\r\n",
        b"Subject: Re: question\r\nMessage-ID: <a@example.org>\r\nIn-Reply-To: <q@example.org>\r\n\
          References: <q@example.org>\r\n\r\nThe answer.\r\n> The question?\r\n",
        b"Subject: other\r\n\r\n",
    ];
    for message in messages {
        account.deliver("INBOX", message, SystemFlags::default(), &[]);
    }
    account.shared()
}

#[test]
fn emailid_and_threadid_in_fetch_and_search() {
    check_with(
        thread_account,
        "C: a1 SELECT INBOX\r\n\
         C: a2 FETCH 1:3 (EMAILID THREADID)\r\n\
         C: a3 SEARCH EMAILID M3\r\n\
         C: a4 SEARCH THREADID T80e0eb8c4120305e1aa3c2e5\r\n\
         C: a5 SEARCH OR EMAILID M2 EMAILID Mffff\r\n\
         C: a6 COPY 1 Archive\r\n\
         C: a7 MOVE 2 Trash\r\n\
         C: a8 SELECT Archive\r\n\
         C: a9 FETCH 1 (EMAILID)\r\n\
         C: b1 SELECT Trash\r\n\
         C: b2 FETCH 1 (EMAILID THREADID)\r\n\
         C: b3 SEARCH EMAILID M3\r\n\
         C: b4 SEARCH EMAILID m3\r\n\
         C: b5 SEARCH EMAILID \"M 3\"\r\n",
        &[
            "S: * FLAGS (...",
            "S: * OK [PERMANENTFLAGS ...",
            "S: * 3 EXISTS",
            "S: * 3 RECENT",
            "S: * OK [UNSEEN 1] first unseen",
            "S: * OK [UIDVALIDITY 1001] UIDs valid",
            "S: * OK [UIDNEXT 4] predicted next UID",
            "S: * OK [HIGHESTMODSEQ 4] highest",
            "S: * OK [MAILBOXID (F000003e900000001)] object id",
            "S: a1 OK [READ-WRITE] SELECT completed",
            // The reply's References name the question: one thread; the third message
            // names no Message-ID and is a thread of its own.
            "S: * 1 FETCH (EMAILID (M2) THREADID (T80e0eb8c4120305e1aa3c2e5))",
            "S: * 2 FETCH (EMAILID (M3) THREADID (T80e0eb8c4120305e1aa3c2e5))",
            "S: * 3 FETCH (EMAILID (M4) THREADID (Tm4))",
            "S: a2 OK FETCH completed",
            "S: * SEARCH 2",
            "S: a3 OK SEARCH completed",
            "S: * SEARCH 1 2",
            "S: a4 OK SEARCH completed",
            "S: * SEARCH 1",
            "S: a5 OK SEARCH completed",
            "S: a6 OK [COPYUID 1004 1 1] COPY completed",
            "S: * OK [COPYUID 1005 2 1] moved",
            "S: * 2 EXPUNGE",
            "S: a7 OK MOVE completed",
            "S: * OK [CLOSED] previous mailbox closed",
            "S: * FLAGS (...",
            "S: * OK [PERMANENTFLAGS ...",
            "S: * 1 EXISTS",
            "S: * 1 RECENT",
            "S: * OK [UNSEEN 1] first unseen",
            "S: * OK [UIDVALIDITY 1004] UIDs valid",
            "S: * OK [UIDNEXT 2] predicted next UID",
            "S: * OK [HIGHESTMODSEQ 5] highest",
            "S: * OK [MAILBOXID (F000003ec00000004)] object id",
            "S: a8 OK [READ-WRITE] SELECT completed",
            // A copy is a new message: a new EMAILID.
            "S: * 1 FETCH (EMAILID (M5))",
            "S: a9 OK FETCH completed",
            "S: * OK [CLOSED] previous mailbox closed",
            "S: * FLAGS (...",
            "S: * OK [PERMANENTFLAGS ...",
            "S: * 1 EXISTS",
            "S: * 1 RECENT",
            "S: * OK [UNSEEN 1] first unseen",
            "S: * OK [UIDVALIDITY 1005] UIDs valid",
            "S: * OK [UIDNEXT 2] predicted next UID",
            "S: * OK [HIGHESTMODSEQ 6] highest",
            "S: * OK [MAILBOXID (F000003ed00000005)] object id",
            "S: b1 OK [READ-WRITE] SELECT completed",
            // A moved message keeps its EMAILID, and its THREADID.
            "S: * 1 FETCH (EMAILID (M3) THREADID (T80e0eb8c4120305e1aa3c2e5))",
            "S: b2 OK FETCH completed",
            "S: * SEARCH 1",
            "S: b3 OK SEARCH completed",
            "S: * SEARCH",
            "S: b4 OK SEARCH completed",
            "S: b5 BAD SEARCH: expected an atom",
        ],
    );
}

#[test]
fn preview_and_its_syntax() {
    check(
        "C: a1 SELECT INBOX\r\n\
         C: a2 FETCH 1:2 (PREVIEW)\r\n\
         C: a3 FETCH 3 (UID PREVIEW (LAZY) FLAGS)\r\n\
         C: a4 FETCH 3 PREVIEW (LAZY)\r\n\
         C: a5 FETCH 1 PREVIEW (CHANGEDSINCE 1)\r\n\
         C: a6 FETCH 1 (PREVIEW (SOON))\r\n\
         C: a7 FETCH 1 (PREVIEW ())\r\n",
        &[
            "S: * FLAGS (...",
            "S: * OK [PERMANENTFLAGS ...",
            "S: * 3 EXISTS",
            "S: * 3 RECENT",
            "S: * OK [UNSEEN 1] first unseen",
            "S: * OK [UIDVALIDITY 1001] UIDs valid",
            "S: * OK [UIDNEXT 4] predicted next UID",
            "S: * OK [HIGHESTMODSEQ 4] highest",
            "S: * OK [MAILBOXID (F000003e900000001)] object id",
            "S: a1 OK [READ-WRITE] SELECT completed",
            "S: * 1 FETCH (PREVIEW \"body 1\")",
            "S: * 2 FETCH (PREVIEW \"body 2\")",
            "S: a2 OK FETCH completed",
            "S: * 3 FETCH (UID 3 PREVIEW \"body 3\" FLAGS (\\Recent))",
            "S: a3 OK FETCH completed",
            "S: * 3 FETCH (PREVIEW \"body 3\")",
            "S: a4 OK FETCH completed",
            // After a lone PREVIEW, a list that is not LAZY is the FETCH modifiers.
            "S: * 1 FETCH (PREVIEW \"body 1\" MODSEQ (2))",
            "S: a5 OK [HIGHESTMODSEQ 4] FETCH completed",
            "S: a6 BAD FETCH: unknown fetch item",
            "S: a7 BAD FETCH: unknown fetch item",
        ],
    );
}
