//! Transcript tests of the IMAP server session (RFC 9051, RFC 3501 and extensions): client
//! lines in, server lines out, with the in-memory storage side. Each `check` also feeds
//! the input one byte at a time and in 7-byte pieces and requires the same result.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod imap_session_common;

use imap_session_common::check;

#[test]
fn noop_and_logout() {
    check(
        "C: a1 NOOP\r\nC: a2 LOGOUT\r\n",
        &["S: a1 OK done", "S: * BYE logging out", "S: a2 OK logged out"],
    );
}
