//! Transcript tests of METADATA (RFC 5464) and LIST-METADATA (RFC 9590): set, get with
//! MAXSIZE and DEPTH, removal with NIL, entry-name syntax, the value limit, the storage
//! side's TOOMANY, the read-only `/shared/admin`, RENAME and DELETE of an annotated
//! mailbox, and LIST RETURN (METADATA).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod imap_session_common;

use imap_session_common::{PASSWORD, USER, check_with};
use moxide_protocols::imap::server::METADATA_VALUE_BYTES_MAX;
use moxide_protocols::imap::server::memory::{Account, SharedAccount};

fn account() -> SharedAccount {
    let mut account = Account::new(USER, PASSWORD);
    account.admin_uri = Some("mailto:postmaster@example.org".to_owned());
    account.metadata_entries_max = 3;
    account.shared()
}

#[test]
fn set_get_and_remove() {
    check_with(
        account,
        "C: a1 SETMETADATA INBOX (/private/comment \"my inbox\" /shared/comment {5+}\r\nC: hello)\r\n\
         C: a2 GETMETADATA INBOX /private/comment\r\n\
         C: a3 GETMETADATA inbox (/shared/comment /private/comment /shared/none)\r\n\
         C: a4 GETMETADATA INBOX /shared/none\r\n\
         C: a5 SETMETADATA INBOX (/private/comment NIL)\r\n\
         C: a6 GETMETADATA INBOX (/private/comment /shared/comment)\r\n\
         C: a7 GETMETADATA nosuch /shared/comment\r\n\
         C: a8 SETMETADATA nosuch (/shared/comment \"x\")\r\n\
         C: a9 GETMETADATA INBOX /Shared/COMMENT\r\n",
        &[
            "S: a1 OK SETMETADATA completed",
            "S: * METADATA INBOX (/private/comment \"my inbox\")",
            "S: a2 OK GETMETADATA completed",
            "S: * METADATA INBOX (/private/comment \"my inbox\" /shared/comment \"hello\")",
            "S: a3 OK GETMETADATA completed",
            "S: a4 OK GETMETADATA completed",
            "S: a5 OK SETMETADATA completed",
            "S: * METADATA INBOX (/shared/comment \"hello\")",
            "S: a6 OK GETMETADATA completed",
            "S: a7 NO [NONEXISTENT] no mailbox \"nosuch\"",
            "S: a8 NO [NONEXISTENT] no mailbox \"nosuch\"",
            "S: * METADATA INBOX (/shared/comment \"hello\")",
            "S: a9 OK GETMETADATA completed",
        ],
    );
}

#[test]
fn maxsize_and_depth() {
    check_with(
        account,
        "C: a1 SETMETADATA \"\" (/shared/comment \"0123456789\" /private/vendor/x/a \"1\")\r\n\
         C: a2 GETMETADATA (MAXSIZE 5) \"\" /shared/comment\r\n\
         C: a3 GETMETADATA \"\" (MAXSIZE 5 DEPTH infinity) /\r\n\
         C: a4 GETMETADATA (DEPTH 1) \"\" (/shared /private)\r\n\
         C: a5 GETMETADATA (DEPTH infinity) \"\" /private\r\n\
         C: a6 GETMETADATA (DEPTH 2) \"\" /private\r\n\
         C: a7 GETMETADATA (MAXSIZE 1 MAXSIZE 2) \"\" /private\r\n",
        &[
            "S: a1 OK SETMETADATA completed",
            "S: a2 OK [METADATA LONGENTRIES 10] GETMETADATA completed",
            // The longest left out: /shared/admin's 29 octets.
            "S: * METADATA \"\" (/private/vendor/x/a \"1\")",
            "S: a3 OK [METADATA LONGENTRIES 29] GETMETADATA completed",
            "S: * METADATA \"\" (/shared/admin \"mailto:postmaster@example.org\" /shared/comment \"0123456789\")",
            "S: a4 OK GETMETADATA completed",
            "S: * METADATA \"\" (/private/vendor/x/a \"1\")",
            "S: a5 OK GETMETADATA completed",
            "S: a6 BAD ...",
            "S: a7 BAD ...",
        ],
    );
}

#[test]
fn entry_names_are_checked() {
    check_with(
        account,
        "C: a1 GETMETADATA INBOX /shared//comment\r\n\
         C: a2 GETMETADATA INBOX /shared/comment/\r\n\
         C: a3 GETMETADATA INBOX /shared/*\r\n\
         C: a4 GETMETADATA INBOX shared/comment\r\n\
         C: a5 GETMETADATA INBOX \"/shared/com\tment\"\r\n\
         C: a6 SETMETADATA INBOX (/other/comment \"x\")\r\n\
         C: a7 SETMETADATA INBOX (/shared/vendor/x \"x\")\r\n\
         C: a8 GETMETADATA INBOX {3+}\r\nC: /\u{e9}\r\n\
         C: a9 SETMETADATA INBOX (/shared \"x\")\r\n",
        &[
            "S: a1 BAD ...",
            "S: a2 BAD ...",
            "S: a3 BAD ...",
            "S: a4 BAD ...",
            "S: a5 BAD ...",
            "S: a6 BAD ...",
            "S: a7 BAD ...",
            "S: a8 BAD ...",
            "S: a9 BAD ...",
        ],
    );
    let long = format!("/shared/{}", "x".repeat(248));
    check_with(
        account,
        &format!("C: a1 GETMETADATA INBOX {long}\r\nC: a2 GETMETADATA INBOX {long}x\r\n"),
        &["S: a1 OK GETMETADATA completed", "S: a2 BAD ..."],
    );
}

#[test]
fn limits_and_the_admin_entry() {
    let value = "v".repeat(METADATA_VALUE_BYTES_MAX as usize);
    let n = value.len();
    check_with(
        account,
        &format!(
            "C: a1 SETMETADATA INBOX (/shared/a {{{n}+}}\r\nC: {value})\r\n\
             C: a2 SETMETADATA INBOX (/shared/b {{{}+}}\r\nC: {value}v)\r\n\
             C: a3 SETMETADATA INBOX (/shared/c \"1\" /shared/d \"2\" /shared/e \"3\")\r\n\
             C: a4 SETMETADATA INBOX (/shared/c \"1\" /shared/d \"2\")\r\n\
             C: a5 SETMETADATA \"\" (/shared/admin \"mailto:me@example.org\")\r\n\
             C: a6 SETMETADATA INBOX (/shared/admin \"x\" /shared/a NIL)\r\n",
            n + 1
        ),
        &[
            "S: a1 OK SETMETADATA completed",
            "S: a2 NO [METADATA MAXSIZE 32768] value too large",
            "S: a3 NO [METADATA TOOMANY] too many entries",
            "S: a4 OK SETMETADATA completed",
            "S: a5 NO [NOPERM] /shared/admin is set by the administrator",
            "S: a6 OK SETMETADATA completed",
        ],
    );
}

#[test]
fn binary_values_go_back_as_literal8() {
    check_with(
        account,
        "C: a1 SETMETADATA INBOX (/private/vendor/x/bin ~{3+}\r\nC: a\0b /shared/comment {3+}\r\nC: \u{e9}t)\r\n\
         C: a2 GETMETADATA INBOX (/private/vendor/x/bin /shared/comment)\r\n",
        &[
            "S: a1 OK SETMETADATA completed",
            "S: * METADATA INBOX (/private/vendor/x/bin ~{3}",
            "S: a\0b /shared/comment {3}",
            "S: \u{e9}t)",
            "S: a2 OK GETMETADATA completed",
        ],
    );
}

#[test]
fn entries_follow_rename_and_go_with_delete() {
    check_with(
        account,
        "C: a1 CREATE Work\r\nC: a2 SETMETADATA Work (/shared/comment \"w\")\r\n\
         C: a3 RENAME Work Job\r\nC: a4 GETMETADATA Job /shared/comment\r\n\
         C: a5 DELETE Job\r\nC: a6 CREATE Job\r\nC: a7 GETMETADATA Job /shared/comment\r\n",
        &[
            "S: a1 OK [MAILBOXID (F000003ef00000007)] CREATE completed",
            "S: a2 OK SETMETADATA completed",
            "S: a3 OK RENAME completed",
            "S: * METADATA Job (/shared/comment \"w\")",
            "S: a4 OK GETMETADATA completed",
            "S: a5 OK DELETE completed",
            "S: a6 OK [MAILBOXID (F000003f000000008)] CREATE completed",
            "S: a7 OK GETMETADATA completed",
        ],
    );
}

#[test]
fn list_returns_metadata() {
    check_with(
        account,
        "C: a1 SETMETADATA Sent (/private/comment \"sent\" /shared/color \"red\")\r\n\
         C: a2 LIST \"\" \"S*\" RETURN (METADATA (/private/comment /shared/color))\r\n\
         C: a3 LIST \"\" \"Nothing*\" RETURN (METADATA (/private/comment))\r\n\
         C: a4 LIST \"\" \"S*\" RETURN (METADATA (/private//comment))\r\n",
        &[
            "S: a1 OK SETMETADATA completed",
            "S: * LIST (\\HasNoChildren \\Sent) \"/\" Sent",
            "S: * METADATA Sent (/private/comment \"sent\" /shared/color \"red\")",
            "S: a2 OK LIST completed",
            "S: a3 OK LIST completed",
            "S: a4 BAD ...",
        ],
    );
}
