//! Transcript tests of QUOTA (RFC 9208) with the STORAGE and MESSAGE resources: one
//! quota root, `""`, when the account has a limit; SETQUOTA refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod imap_session_common;

use imap_session_common::{PASSWORD, USER, check_with, message};
use moxide_protocols::imap::server::SystemFlags;
use moxide_protocols::imap::server::memory::{Account, SharedAccount};

/// Three small messages (under 1 KiB together) and `quota_bytes`.
fn account_with(quota_bytes: Option<u64>) -> SharedAccount {
    let mut account = Account::new(USER, PASSWORD);
    for n in 1..=3 {
        account.deliver("INBOX", &message(n), SystemFlags::default(), &[]);
    }
    let used: usize = (1..=3).map(|n| message(n).len()).sum();
    assert!(used < 1024, "the expected usage below is 1 KiB");
    account.quota_bytes = quota_bytes;
    account.shared()
}

#[test]
fn quota_root_usage_and_limit() {
    check_with(
        || account_with(Some(10 * 1024 + 1000)),
        "C: a1 GETQUOTAROOT INBOX\r\nC: a2 GETQUOTA \"\"\r\nC: a3 GETQUOTA other\r\nC: a4 GETQUOTAROOT nosuch\r\n\
         C: a5 SETQUOTA \"\" (STORAGE 100)\r\nC: a6 SETQUOTA \"\" (STORAGE x)\r\nC: a7 GETQUOTA\r\n\
         C: a8 GETQUOTAROOT Sent\r\n",
        &[
            "S: * QUOTAROOT INBOX \"\"",
            // Usage rounds up to 1 KiB, the limit down to 10 KiB.
            "S: * QUOTA \"\" (STORAGE 1 10)",
            "S: a1 OK GETQUOTAROOT completed",
            "S: * QUOTA \"\" (STORAGE 1 10)",
            "S: a2 OK GETQUOTA completed",
            "S: a3 NO [NONEXISTENT] no such quota root",
            "S: a4 NO [NONEXISTENT] no mailbox \"nosuch\"",
            "S: a5 NO [NOPERM] quotas are set by the administrator",
            "S: a6 BAD ...",
            "S: a7 BAD ...",
            "S: * QUOTAROOT Sent \"\"",
            "S: * QUOTA \"\" (STORAGE 1 10)",
            "S: a8 OK GETQUOTAROOT completed",
        ],
    );
}

#[test]
fn message_limits_are_reported_beside_storage() {
    let with = |bytes: Option<u64>, messages: Option<u64>| {
        move || {
            let account = account_with(bytes);
            account.borrow_mut().quota_messages = messages;
            account
        }
    };
    check_with(
        with(None, Some(5)),
        "C: a1 GETQUOTAROOT INBOX\r\nC: a2 GETQUOTA \"\"\r\n",
        &[
            "S: * QUOTAROOT INBOX \"\"",
            "S: * QUOTA \"\" (MESSAGE 3 5)",
            "S: a1 OK GETQUOTAROOT completed",
            "S: * QUOTA \"\" (MESSAGE 3 5)",
            "S: a2 OK GETQUOTA completed",
        ],
    );
    check_with(
        with(Some(2048), Some(3)),
        "C: a1 GETQUOTA \"\"\r\n",
        &["S: * QUOTA \"\" (STORAGE 1 2 MESSAGE 3 3)", "S: a1 OK GETQUOTA completed"],
    );
}

#[test]
fn an_account_without_a_limit_has_no_quota_root() {
    check_with(
        || account_with(None),
        "C: a1 GETQUOTAROOT INBOX\r\nC: a2 GETQUOTA \"\"\r\n",
        &[
            "S: * QUOTAROOT INBOX",
            "S: a1 OK GETQUOTAROOT completed",
            "S: a2 NO [NONEXISTENT] this account has no quota",
        ],
    );
}

#[test]
fn quota_commands_need_a_login() {
    use imap_session_common::{Client, assert_lines, config};
    let account = account_with(Some(1024));
    let mut client = Client::connect(&account, &std::sync::Arc::new(config()));
    client.take_output();
    let got = client.send("a1 GETQUOTAROOT INBOX\r\n");
    assert_lines(&got, &["S: a1 BAD log in first"]);
}

#[test]
fn status_deleted_storage_counts_what_expunge_would_free() {
    check_with(
        || account_with(Some(10 * 1024)),
        "C: a1 STATUS INBOX (DELETED DELETED-STORAGE)\r\nC: a2 SELECT INBOX\r\nC: a3 STORE 1:2 +FLAGS.SILENT (\\Deleted)\r\n\
         C: a4 STATUS INBOX (DELETED-STORAGE DELETED MESSAGES)\r\nC: a5 LIST \"\" INBOX RETURN (STATUS (DELETED-STORAGE))\r\n",
        &[
            "S: * STATUS INBOX (DELETED 0 DELETED-STORAGE 0)",
            "S: a1 OK STATUS completed",
            "S: * FLAGS ...",
            "S: * OK [PERMANENTFLAGS ...",
            "S: * 3 EXISTS",
            "S: * 3 RECENT",
            "S: * OK [UNSEEN 1] first unseen",
            "S: * OK [UIDVALIDITY ...",
            "S: * OK [UIDNEXT 4] predicted next UID",
            "S: * OK [HIGHESTMODSEQ ...",
            "S: * OK [MAILBOXID (F...",
            "S: a2 OK [READ-WRITE] SELECT completed",
            "S: a3 OK STORE completed",
            // Two messages of about 170 bytes: one KiB, rounded up.
            "S: * STATUS INBOX (DELETED-STORAGE 1 DELETED 2 MESSAGES 3)",
            "S: a4 OK STATUS completed",
            "S: * LIST (\\HasNoChildren) \"/\" INBOX",
            "S: * STATUS INBOX (DELETED-STORAGE 1)",
            "S: a5 OK LIST completed",
        ],
    );
}
