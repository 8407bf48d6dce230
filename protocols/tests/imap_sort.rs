//! Transcript tests of SORT (RFC 5256 §3, SORT=DISPLAY RFC 5957) and THREAD (RFC 5256
//! §3) with the in-memory storage side, on a small corpus whose expected orders are
//! worked out by hand in the comments (base subjects, first addresses, dates).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod imap_session_common;

use imap_session_common::{PASSWORD, USER, check_with};
use moxide_protocols::imap::server::SystemFlags;
use moxide_protocols::imap::server::memory::{Account, SharedAccount};

const DAY_MS: i64 = 86_400_000;
/// 2023-01-01T00:00:00Z.
const JAN_1_MS: i64 = 1_672_531_200_000;

/// A message with these header lines and a body padded to `pad` bytes.
fn message(headers: &str, pad: usize) -> Vec<u8> {
    format!("{headers}\r\n\r\n{}\r\n", "x".repeat(pad)).into_bytes()
}

/// Four messages (UID = sequence number):
///
/// | # | From (display)       | To (display)     | Cc   | base subject | Date     | arrival  | size    |
/// |---|----------------------|------------------|------|--------------|----------|----------|---------|
/// | 1 | zed (zed)            | carol (carol@x)  | dave | apple        | Jan 3    | Dec 28   | 2nd     |
/// | 2 | alice (alice@a)      | bob (Bob)        | -    | banana       | Jan 1    | Dec 30   | largest |
/// | 3 | mike (Mike)          | amy (amy@x)      | -    | apple        | (Dec 29) | Dec 29   | least   |
/// | 4 | emile (Émile)        | zoe (zoe@x)      | bob  | cherry       | Jan 2    | Dec 31   | 3rd     |
fn corpus() -> SharedAccount {
    let mut account = Account::new(USER, PASSWORD);
    let messages = [
        (
            "From: \"Zed\" <zed@b.example>\r\nTo: carol@x.example\r\nCc: dave@x.example\r\nSubject: Re: Apple\r\n\
             Date: Tue, 03 Jan 2023 10:00:00 +0000\r\nMessage-ID: <1@x>",
            1000,
            -4,
        ),
        (
            "From: alice@a.example\r\nTo: Bob <bob@x.example>\r\nSubject: banana\r\n\
             Date: Sun, 01 Jan 2023 10:00:00 +0000\r\nMessage-ID: <2@x>",
            3000,
            -2,
        ),
        (
            "From: Mike <mike@c.example>\r\nTo: amy@x.example\r\nSubject: [list] apple\r\nMessage-ID: <3@x>",
            0,
            -3,
        ),
        (
            "From: =?utf-8?q?=C3=89mile?= <emile@d.example>\r\nTo: zoe@x.example\r\nCc: bob@x.example\r\n\
             Subject: Fwd: Cherry\r\nDate: Mon, 02 Jan 2023 10:00:00 +0000\r\nMessage-ID: <4@x>",
            2000,
            -1,
        ),
    ];
    for (headers, pad, arrival_days) in messages {
        account.now_ms = JAN_1_MS + arrival_days * DAY_MS;
        account.deliver("INBOX", &message(headers, pad), SystemFlags::default(), &[]);
    }
    account.shared()
}

/// SELECT INBOX of [`corpus`] by an IMAP4rev2 client, then `more`.
fn selected(more: &[&'static str]) -> Vec<&'static str> {
    let mut lines = vec![
        "S: * ENABLED IMAP4REV2",
        "S: a0 OK ENABLE completed",
        "S: * FLAGS ...",
        "S: * OK [PERMANENTFLAGS ...",
        "S: * 4 EXISTS",
        "S: * OK [UIDVALIDITY ...",
        "S: * OK [UIDNEXT 5] predicted next UID",
        "S: * OK [HIGHESTMODSEQ ...",
        "S: * OK [MAILBOXID (F...",
        "S: * LIST () \"/\" INBOX",
        "S: a1 OK [READ-WRITE] SELECT completed",
    ];
    lines.extend_from_slice(more);
    lines
}

fn script(commands: &str) -> String {
    format!("C: a0 ENABLE IMAP4rev2\r\nC: a1 SELECT INBOX\r\n{commands}")
}

#[test]
fn every_sort_key() {
    check_with(
        corpus,
        &script(
            "C: b1 SORT (ARRIVAL) UTF-8 ALL\r\nC: b2 SORT (DATE) UTF-8 ALL\r\nC: b3 SORT (FROM) UTF-8 ALL\r\n\
             C: b4 SORT (TO) US-ASCII ALL\r\nC: b5 SORT (CC) utf-8 ALL\r\nC: b6 SORT (SUBJECT) UTF-8 ALL\r\n\
             C: b7 SORT (SIZE) UTF-8 ALL\r\nC: b8 SORT (DISPLAYFROM) UTF-8 ALL\r\nC: b9 SORT (DISPLAYTO) UTF-8 ALL\r\n",
        ),
        &selected(&[
            "S: * SORT 1 3 2 4",
            "S: b1 OK SORT completed",
            // Message 3 has no Date: its arrival (Dec 29) stands in.
            "S: * SORT 3 2 4 1",
            "S: b2 OK SORT completed",
            "S: * SORT 2 4 3 1",
            "S: b3 OK SORT completed",
            "S: * SORT 3 2 1 4",
            "S: b4 OK SORT completed",
            // No Cc sorts as the empty string, first; ties keep mailbox order.
            "S: * SORT 2 3 4 1",
            "S: b5 OK SORT completed",
            "S: * SORT 1 3 2 4",
            "S: b6 OK SORT completed",
            "S: * SORT 3 1 4 2",
            "S: b7 OK SORT completed",
            // "alice@a.example" < "E\u{301}mile" < "Mike" < "Zed" after folding.
            "S: * SORT 2 4 3 1",
            "S: b8 OK SORT completed",
            // "amy@x.example" < "Bob" < "carol@x.example" < "zoe@x.example".
            "S: * SORT 3 2 1 4",
            "S: b9 OK SORT completed",
        ]),
    );
}

#[test]
fn reverse_several_keys_uid_and_search() {
    check_with(
        corpus,
        &script(
            "C: b1 SORT (SUBJECT DATE) UTF-8 ALL\r\nC: b2 SORT (SUBJECT REVERSE DATE) UTF-8 ALL\r\n\
             C: b3 UID SORT (REVERSE ARRIVAL) UTF-8 ALL\r\nC: b4 SORT (REVERSE SIZE) UTF-8 NOT FROM zed\r\n\
             C: b5 SORT (FROM) UTF-8 SUBJECT nothing\r\nC: b6 SORT (SUBJECT) UTF-8 2:3 UNSEEN\r\n",
        ),
        &selected(&[
            "S: * SORT 3 1 2 4",
            "S: b1 OK SORT completed",
            "S: * SORT 1 3 2 4",
            "S: b2 OK SORT completed",
            "S: * SORT 4 2 3 1",
            "S: b3 OK SORT completed",
            "S: * SORT 2 4 3",
            "S: b4 OK SORT completed",
            "S: * SORT",
            "S: b5 OK SORT completed",
            "S: * SORT 3 2",
            "S: b6 OK SORT completed",
        ]),
    );
}

#[test]
fn sort_errors() {
    check_with(
        corpus,
        &script(
            "C: b1 SORT (DATE) KOI8-R ALL\r\nC: b2 SORT (FOO) UTF-8 ALL\r\nC: b3 SORT DATE UTF-8 ALL\r\n\
             C: b4 SORT (DATE) ALL\r\nC: b5 SORT () UTF-8 ALL\r\nC: b6 SORT (REVERSE) UTF-8 ALL\r\n\
             C: b7 SORT (DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE DATE) UTF-8 ALL\r\n\
             C: b8 UNSELECT\r\nC: b9 SORT (DATE) UTF-8 ALL\r\n",
        ),
        &selected(&[
            "S: b1 NO [BADCHARSET (UTF-8 US-ASCII)] only UTF-8 and US-ASCII are supported",
            "S: b2 BAD ...",
            "S: b3 BAD ...",
            "S: b4 BAD ...",
            "S: b5 BAD ...",
            "S: b6 BAD ...",
            "S: b7 BAD SORT: too many sort criteria",
            "S: b8 OK ...",
            "S: b9 BAD select a mailbox first",
        ]),
    );
}

/// Nine messages for THREAD (UID = sequence number; arrival in UID order):
///
/// | # | Message-ID | refers to (References / In-Reply-To) | Subject    | Date        |
/// |---|------------|--------------------------------------|------------|-------------|
/// | 1 | a          |                                      | Party      | Jan 1 10:00 |
/// | 2 | b          | a (In-Reply-To)                      | Re: Party  | Jan 1 11:00 |
/// | 3 | c          | a b                                  | Re: Party  | Jan 1 12:00 |
/// | 4 | d          | a                                    | Re: Party  | Jan 1 11:30 |
/// | 5 | e          |                                      | Other      | Jan 1 09:00 |
/// | 6 | f          | missing                              | Lost       | Jan 2       |
/// | 7 | g          | missing                              | Re: Lost   | Jan 3       |
/// | 8 | h          |                                      | Re: Other  | Jan 4       |
/// | 9 | -          |                                      | Party      | Jan 5       |
fn thread_corpus() -> SharedAccount {
    let mut account = Account::new(USER, PASSWORD);
    let messages = [
        "Message-ID: <a@x>\r\nSubject: Party\r\nDate: Sun, 01 Jan 2023 10:00:00 +0000",
        "Message-ID: <b@x>\r\nIn-Reply-To: <a@x>\r\nSubject: Re: Party\r\nDate: Sun, 01 Jan 2023 11:00:00 +0000",
        "Message-ID: <c@x>\r\nReferences: <a@x>\r\n <b@x>\r\nSubject: Re: Party\r\nDate: Sun, 01 Jan 2023 12:00:00 +0000",
        "Message-ID: <d@x>\r\nReferences: <a@x>\r\nSubject: Re: Party\r\nDate: Sun, 01 Jan 2023 11:30:00 +0000",
        "Message-ID: <e@x>\r\nSubject: Other\r\nDate: Sun, 01 Jan 2023 09:00:00 +0000",
        "Message-ID: <f@x>\r\nReferences: <missing@x>\r\nSubject: Lost\r\nDate: Mon, 02 Jan 2023 10:00:00 +0000",
        "Message-ID: <g@x>\r\nReferences: <missing@x>\r\nSubject: Re: Lost\r\nDate: Tue, 03 Jan 2023 10:00:00 +0000",
        "Message-ID: <h@x>\r\nSubject: Re: Other\r\nDate: Wed, 04 Jan 2023 10:00:00 +0000",
        "Subject: Party\r\nDate: Thu, 05 Jan 2023 10:00:00 +0000",
    ];
    for (n, headers) in (1i64..).zip(messages) {
        account.now_ms = JAN_1_MS + n * DAY_MS;
        account.deliver("INBOX", &message(headers, 10), SystemFlags::default(), &[]);
    }
    account.shared()
}

/// [`selected`] for a mailbox of `exists` messages.
fn selected_with(exists: &'static str, uidnext: &'static str, more: &[&'static str]) -> Vec<&'static str> {
    let mut lines = selected(more);
    lines[4] = exists;
    lines[6] = uidnext;
    lines
}

#[test]
fn thread_references_and_ordered_subject() {
    check_with(
        thread_corpus,
        &script(
            "C: b1 THREAD REFERENCES UTF-8 ALL\r\nC: b2 THREAD ORDEREDSUBJECT UTF-8 ALL\r\n\
             C: b3 UID THREAD REFERENCES US-ASCII NOT 9\r\nC: b4 THREAD ORDEREDSUBJECT UTF-8 SUBJECT nothing\r\n\
             C: b5 THREAD REFS UTF-8 ALL\r\nC: b6 THREAD REFERENCES KOI8-R ALL\r\nC: b7 THREAD REFERENCES ALL\r\n",
        ),
        &selected_with(
            "S: * 9 EXISTS",
            "S: * OK [UIDNEXT 10] predicted next UID",
            &[
                // 1-4 by references; 9 shares 1's subject, both originals: a dummy holds
                // both; 8 is a reply to 5's subject, so 5's child; 6 and 7 under a dummy
                // for the missing message; threads by their first message's date.
                "S: * THREAD (5 8)((1 (2 3)(4))(9))((6)(7))",
                "S: b1 OK THREAD completed",
                "S: * THREAD (5 8)(1 (2)(4)(3)(9))(6 7)",
                "S: b2 OK THREAD completed",
                "S: * THREAD (5 8)(1 (2 3)(4))((6)(7))",
                "S: b3 OK THREAD completed",
                "S: * THREAD",
                "S: b4 OK THREAD completed",
                // REFS: no subject merging.
                "S: * THREAD (5)(1 (2 3)(4))((6)(7))(8)(9)",
                "S: b5 OK THREAD completed",
                "S: b6 NO [BADCHARSET (UTF-8 US-ASCII)] only UTF-8 and US-ASCII are supported",
                "S: b7 BAD ...",
            ],
        ),
    );
}

/// [`thread_corpus`] and a tenth message, a reply to 5 dated after all others.
fn late_reply_corpus() -> SharedAccount {
    let account = thread_corpus();
    let reply = "Message-ID: <j@x>\r\nIn-Reply-To: <e@x>\r\nSubject: Re: Other\r\nDate: Fri, 06 Jan 2023 10:00:00 +0000";
    account.borrow_mut().deliver("INBOX", &message(reply, 10), SystemFlags::default(), &[]);
    account
}

#[test]
fn thread_refs_orders_threads_by_their_latest_message() {
    check_with(
        late_reply_corpus,
        &script(
            "C: b1 THREAD REFS UTF-8 ALL\r\nC: b2 THREAD REFERENCES UTF-8 ALL\r\nC: b3 THREAD XYZ UTF-8 ALL\r\n",
        ),
        &selected_with(
            "S: * 10 EXISTS",
            "S: * OK [UIDNEXT 11] predicted next UID",
            &[
                // The reply to 5 (Jan 6) makes 5's thread the most recent: last, as in
                // Dovecot; REFERENCES keeps it first (its first message is the oldest).
                "S: * THREAD (1 (2 3)(4))((6)(7))(8)(9)(5 10)",
                "S: b1 OK THREAD completed",
                "S: * THREAD (5 (8)(10))((1 (2 3)(4))(9))((6)(7))",
                "S: b2 OK THREAD completed",
                "S: b3 BAD THREAD: unknown threading algorithm",
            ],
        ),
    );
}

/// Two messages that name each other as parent: the second link would close a cycle
/// and is not made (RFC 5256 §2.2 step 1); a message with no id or subject stands alone.
fn cycle_corpus() -> SharedAccount {
    let mut account = Account::new(USER, PASSWORD);
    let messages = [
        "Message-ID: <x@x>\r\nReferences: <y@x>\r\nSubject: one\r\nDate: Sun, 01 Jan 2023 10:00:00 +0000",
        "Message-ID: <y@x>\r\nReferences: <x@x>\r\nSubject: two\r\nDate: Sun, 01 Jan 2023 11:00:00 +0000",
        "Message-ID: <x@x>\r\nDate: Sun, 01 Jan 2023 09:00:00 +0000",
    ];
    for (n, headers) in (1i64..).zip(messages) {
        account.now_ms = JAN_1_MS + n * DAY_MS;
        account.deliver("INBOX", &message(headers, 10), SystemFlags::default(), &[]);
    }
    account.shared()
}

#[test]
fn thread_never_links_a_cycle() {
    check_with(
        cycle_corpus,
        &script("C: b1 THREAD REFERENCES UTF-8 ALL\r\n"),
        &selected_with(
            "S: * 3 EXISTS",
            "S: * OK [UIDNEXT 4] predicted next UID",
            // The third repeats <x@x>: a duplicate id gets a container of its own.
            &["S: * THREAD (3)(2 1)", "S: b1 OK THREAD completed"],
        ),
    );
}

#[test]
fn esort_return_options() {
    check_with(
        corpus,
        &script(
            "C: b1 SORT RETURN (MIN MAX COUNT) (DATE) UTF-8 ALL\r\nC: b2 UID SORT RETURN () (REVERSE ARRIVAL) UTF-8 ALL\r\n\
             C: b3 SORT RETURN (ALL) (SUBJECT) UTF-8 SUBJECT nothing\r\nC: b4 SORT RETURN (SAVE) (DATE) UTF-8 ALL\r\n\
             C: b5 SORT RETURN (COUNT ALL) (SIZE) UTF-8 ALL\r\nC: b6 SORT RETURN (MIN) DATE UTF-8 ALL\r\n",
        ),
        &selected(&[
            // RFC 5267 §3.2: MIN and MAX are the first and last in sort order (3 2 4 1).
            "S: * ESEARCH (TAG \"b1\") MIN 3 MAX 1 COUNT 4",
            "S: b1 OK SORT completed",
            // ALL keeps the sort order (4 2 3 1); only ascending runs become ranges.
            "S: * ESEARCH (TAG \"b2\") UID ALL 4,2:3,1",
            "S: b2 OK SORT completed",
            "S: * ESEARCH (TAG \"b3\")",
            "S: b3 OK SORT completed",
            "S: b4 BAD SORT: SAVE is not supported with SORT",
            "S: * ESEARCH (TAG \"b5\") ALL 3,1,4,2 COUNT 4",
            "S: b5 OK SORT completed",
            "S: b6 BAD ...",
        ]),
    );
}

/// What a SORT reads from the stored summary: nothing for ARRIVAL/SIZE, the date for
/// DATE, the envelope as soon as one key needs it.
#[test]
fn a_sort_reads_only_what_its_keys_need() {
    use moxide_protocols::imap::server::{SortNeeds, SortProgram};
    use moxide_protocols::imap::types::{SortCriterion, SortKey};
    let program = |keys: &[SortKey]| {
        SortProgram::new(keys.iter().map(|&key| SortCriterion { reverse: false, key }).collect()).needs()
    };
    assert_eq!(program(&[SortKey::Arrival, SortKey::Size]), SortNeeds::Nothing);
    assert_eq!(program(&[SortKey::Size, SortKey::Date]), SortNeeds::Date);
    assert_eq!(program(&[SortKey::Date, SortKey::Subject]), SortNeeds::Envelope);
    assert_eq!(program(&[SortKey::DisplayTo]), SortNeeds::Envelope);
}
