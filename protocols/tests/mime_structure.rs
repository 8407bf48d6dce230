//! ENVELOPE, BODY and BODYSTRUCTURE (RFC 9051 §7.5.2) of hand-written messages, compared
//! with expected IMAP strings written out by hand; the same summaries also go through
//! encode/decode and must come back equal.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use moxide_protocols::mime::{MessageSummary, decode_body, summarize, write_body_structure, write_envelope};

/// Summarizes, checks the stored form round-trips, and returns the summary.
fn summary(message: &str) -> MessageSummary {
    let summary = summarize(message.as_bytes());
    let decoded = MessageSummary::decode(&summary.encode()).unwrap();
    assert_eq!(decoded, summary);
    summary
}

fn bodystructure(message: &str) -> String {
    let mut out = Vec::new();
    write_body_structure(&mut out, &summary(message).root, true);
    String::from_utf8(out).unwrap()
}

fn body(message: &str) -> String {
    let mut out = Vec::new();
    write_body_structure(&mut out, &summary(message).root, false);
    String::from_utf8(out).unwrap()
}

fn envelope(message: &str) -> String {
    let mut out = Vec::new();
    write_envelope(&mut out, &summary(message).envelope);
    String::from_utf8(out).unwrap()
}

fn lf(message: &str) -> String {
    message.replace("\r\n", "\n")
}

const SIMPLE: &str = "From: Alice <alice@example.com>\r\n\
To: Bob <bob@example.org>\r\n\
Subject: Hello\r\n\
Date: Mon, 7 Feb 1994 21:52:25 -0800\r\n\
Message-ID: <B27397-0100000@example.com>\r\n\
\r\n\
Hi Bob,\r\n\
bye\r\n";

#[test]
fn simple_text_message() {
    assert_eq!(
        bodystructure(SIMPLE),
        r#"("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 14 2 NIL NIL NIL NIL)"#
    );
    assert_eq!(body(SIMPLE), r#"("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 14 2)"#);
    assert_eq!(
        envelope(SIMPLE),
        concat!(
            r#"("Mon, 7 Feb 1994 21:52:25 -0800" "Hello" "#,
            r#"(("Alice" NIL "alice" "example.com")) (("Alice" NIL "alice" "example.com")) "#,
            r#"(("Alice" NIL "alice" "example.com")) (("Bob" NIL "bob" "example.org")) NIL NIL NIL "#,
            r#""<B27397-0100000@example.com>")"#
        )
    );
    // 1994-02-08T05:52:25Z
    assert_eq!(summary(SIMPLE).date_unix_secs, Some(760_686_745));
}

#[test]
fn eight_bit_headers_and_body_are_literals() {
    let message = "From: =?utf-8?q?J=C3=B6rg?= <j@example.de>\r\n\
Subject: Grüße\r\n\
Content-Type: text/plain; charset=utf-8\r\n\
Content-Transfer-Encoding: 8bit\r\n\
\r\n\
Grüße\r\n";
    let jorg = r#"(("=?utf-8?q?J=C3=B6rg?=" NIL "j" "example.de"))"#;
    assert_eq!(envelope(message), format!("(NIL {{7}}\r\nGrüße {jorg} {jorg} {jorg} NIL NIL NIL NIL NIL)"));
    assert_eq!(
        bodystructure(message),
        r#"("text" "plain" ("charset" "utf-8") NIL NIL "8bit" 9 1 NIL NIL NIL NIL)"#
    );
}

#[test]
fn quoted_printable_body() {
    let message = "Content-Type: text/plain; charset=\"iso-8859-1\"\r\n\
Content-Transfer-Encoding: quoted-printable\r\n\
\r\n\
Caf=E9 au lait=\r\n\
\x20tr=E8s bon\r\n";
    assert_eq!(
        bodystructure(message),
        r#"("text" "plain" ("charset" "iso-8859-1") NIL NIL "quoted-printable" 30 2 NIL NIL NIL NIL)"#
    );
    let summary = summary(message);
    let range = summary.root.body.start as usize..summary.root.body.end as usize;
    let decoded = decode_body(&message.as_bytes()[range], &summary.root.encoding).unwrap();
    assert_eq!(decoded, b"Caf\xe9 au lait tr\xe8s bon\r\n");
}

const MIXED: &str = "From: a@example.com\r\n\
Subject: report\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed; boundary=\"outer\"\r\n\
\r\n\
This is a multi-part message in MIME format.\r\n\
--outer\r\n\
Content-Type: multipart/alternative; boundary=inner\r\n\
\r\n\
--inner\r\n\
Content-Type: text/plain; charset=us-ascii\r\n\
\r\n\
plain text\r\n\
--inner\r\n\
Content-Type: text/html; charset=us-ascii\r\n\
\r\n\
<p>html text</p>\r\n\
--inner--\r\n\
--outer\r\n\
Content-Type: application/pdf; name=\"report.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
Content-Disposition: attachment; filename=\"report.pdf\"\r\n\
Content-ID: <part3@example.com>\r\n\
Content-Description: The report\r\n\
\r\n\
JVBERi0xLjQK\r\n\
--outer--\r\n\
epilogue\r\n";

const MIXED_BODYSTRUCTURE: &str = concat!(
    r#"((("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 10 1 NIL NIL NIL NIL)"#,
    r#"("text" "html" ("charset" "us-ascii") NIL NIL "7BIT" 16 1 NIL NIL NIL NIL)"#,
    r#" "alternative" ("boundary" "inner") NIL NIL NIL)"#,
    r#"("application" "pdf" ("name" "report.pdf") "<part3@example.com>" "The report" "base64" 12 NIL"#,
    r#" ("attachment" ("filename" "report.pdf")) NIL NIL)"#,
    r#" "mixed" ("boundary" "outer") NIL NIL NIL)"#
);

#[test]
fn alternative_inside_mixed_with_base64_attachment() {
    assert_eq!(bodystructure(MIXED), MIXED_BODYSTRUCTURE);
    assert_eq!(
        body(MIXED),
        concat!(
            r#"((("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 10 1)"#,
            r#"("text" "html" ("charset" "us-ascii") NIL NIL "7BIT" 16 1) "alternative")"#,
            r#"("application" "pdf" ("name" "report.pdf") "<part3@example.com>" "The report" "base64" 12) "mixed")"#
        )
    );
    let summary = summary(MIXED);
    let attachment = &summary.root.children[1];
    let range = attachment.body.start as usize..attachment.body.end as usize;
    assert_eq!(decode_body(&MIXED.as_bytes()[range], &attachment.encoding).unwrap(), b"%PDF-1.4\n");
}

#[test]
fn bare_lf_message_has_the_same_structure() {
    let crlf = summary(MIXED);
    let bare = summary(&lf(MIXED));
    assert_eq!(bodystructure(&lf(MIXED)), MIXED_BODYSTRUCTURE);
    assert_eq!(bare.envelope, crlf.envelope);
    let text = |message: &str, range: &std::ops::Range<u64>| {
        message[range.start as usize..range.end as usize].to_string()
    };
    let html_crlf = &crlf.root.children[0].children[1];
    let html_bare = &bare.root.children[0].children[1];
    assert_eq!(text(MIXED, &html_crlf.header), "Content-Type: text/html; charset=us-ascii\r\n\r\n");
    assert_eq!(text(&lf(MIXED), &html_bare.header), "Content-Type: text/html; charset=us-ascii\n\n");
    assert_eq!(text(&lf(MIXED), &html_bare.body), "<p>html text</p>");
}

#[test]
fn embedded_message_with_its_own_multipart() {
    let inner = "From: Inner <inner@example.net>\r\n\
Subject: inner\r\n\
Content-Type: multipart/alternative; boundary=b2\r\n\
\r\n\
--b2\r\n\
Content-Type: text/plain\r\n\
\r\n\
one\r\n\
--b2\r\n\
Content-Type: text/enriched\r\n\
\r\n\
<bold>two</bold>\r\n\
--b2--";
    let message = format!(
        "From: Fwd <fwd@example.com>\r\nSubject: Fwd: inner\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n\
--b1\r\n\r\nsee attached\r\n--b1\r\nContent-Type: message/rfc822\r\n\r\n{inner}\r\n--b1--\r\n"
    );
    let inner_from = r#"(("Inner" NIL "inner" "example.net"))"#;
    let expected = format!(
        "((\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 12 1 NIL NIL NIL NIL)\
(\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" {size} \
(NIL \"inner\" {inner_from} {inner_from} {inner_from} NIL NIL NIL NIL NIL) \
((\"text\" \"plain\" NIL NIL NIL \"7BIT\" 3 1 NIL NIL NIL NIL)\
(\"text\" \"enriched\" NIL NIL NIL \"7BIT\" 16 1 NIL NIL NIL NIL) \"alternative\" (\"boundary\" \"b2\") NIL NIL NIL) \
13 NIL NIL NIL NIL) \"mixed\" (\"boundary\" \"b1\") NIL NIL NIL)",
        size = inner.len()
    );
    assert_eq!(bodystructure(&message), expected);
}

#[test]
fn digest_parts_default_to_message_rfc822() {
    let message = "Content-Type: multipart/digest; boundary=d\r\n\
\r\n\
--d\r\n\
\r\n\
From: x@y\r\n\
Subject: first\r\n\
\r\n\
body1\r\n\
--d\r\n\
Content-Type: text/plain\r\n\
\r\n\
not a message\r\n\
--d--\r\n";
    let x = r#"((NIL NIL "x" "y"))"#;
    let expected = format!(
        "((\"message\" \"rfc822\" NIL NIL NIL \"7BIT\" 34 (NIL \"first\" {x} {x} {x} NIL NIL NIL NIL NIL) \
(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7BIT\" 5 1 NIL NIL NIL NIL) 4 NIL NIL NIL NIL)\
(\"text\" \"plain\" NIL NIL NIL \"7BIT\" 13 1 NIL NIL NIL NIL) \"digest\" (\"boundary\" \"d\") NIL NIL NIL)"
    );
    assert_eq!(bodystructure(message), expected);
}

#[test]
fn groups_encoded_words_and_defaults() {
    let message = "From: =?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?= <keld@example.dk>\r\n\
To: A Group: Ed Jones <c@a.test>, joe@where.test, John <jdoe@one.test>;\r\n\
Cc: Undisclosed recipients:;\r\n\
Sender: \"Doe, John\" <john@example.com>\r\n\
Reply-To: <reply@example.com>, (Comment Name) other@example.com\r\n\
Subject: =?utf-8?B?SGVsbG8gV29ybGQ=?=\r\n\
In-Reply-To: <parent@example.com>\r\n\
\r\n";
    assert_eq!(
        envelope(message),
        concat!(
            r#"(NIL "=?utf-8?B?SGVsbG8gV29ybGQ=?=" (("=?ISO-8859-1?Q?Keld_J=F8rn_Simonsen?=" NIL "keld" "example.dk")) "#,
            r#"(("Doe, John" NIL "john" "example.com")) "#,
            r#"((NIL NIL "reply" "example.com")("Comment Name" NIL "other" "example.com")) "#,
            r#"((NIL NIL "A Group" NIL)("Ed Jones" NIL "c" "a.test")(NIL NIL "joe" "where.test")"#,
            r#"("John" NIL "jdoe" "one.test")(NIL NIL NIL NIL)) "#,
            r#"((NIL NIL "Undisclosed recipients" NIL)(NIL NIL NIL NIL)) NIL "<parent@example.com>" NIL)"#
        )
    );
    assert_eq!(
        bodystructure(message),
        r#"("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 0 0 NIL NIL NIL NIL)"#
    );
}

#[test]
fn missing_headers_are_nil() {
    let nils = "(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)";
    assert_eq!(envelope("\r\nbody only\r\n"), nils);
    assert_eq!(envelope(""), nils);
    assert_eq!(envelope("Subject:\r\nFrom:\r\n\r\n"), r#"(NIL "" NIL NIL NIL NIL NIL NIL NIL NIL)"#);
    assert_eq!(
        bodystructure(""),
        r#"("text" "plain" ("charset" "us-ascii") NIL NIL "7BIT" 0 0 NIL NIL NIL NIL)"#
    );
    assert_eq!(summary("Date: not a date\r\n\r\n").date_unix_secs, None);
}

#[test]
fn rfc2231_params_disposition_language_location_md5() {
    let message = "Content-Type: application/x-stuff;\r\n \
title*0*=us-ascii'en'This%20is%20even%20more%20;\r\n \
title*1*=%2A%2A%2Afun%2A%2A%2A%20;\r\n \
title*2=\"isn't it!\"\r\n\
Content-Disposition: inline; filename*=utf-8''%E2%82%AC%20rates.txt; size=42\r\n\
Content-Language: en, de-CH (Swiss German)\r\n\
Content-Location: http://www.example.com/\r\n files/stuff\r\n\
Content-MD5: Q2hlY2sgSW50ZWdyaXR5IQ==\r\n\
Content-Transfer-Encoding: BINARY\r\n\
\r\n\
xyz";
    assert_eq!(
        bodystructure(message),
        concat!(
            r#"("application" "x-stuff" ("title*" "us-ascii'en'This%20is%20even%20more%20%2A%2A%2Afun%2A%2A%2A%20isn%27t%20it!")"#,
            r#" NIL NIL "BINARY" 3 "Q2hlY2sgSW50ZWdyaXR5IQ==" ("inline" ("filename*" "utf-8''%E2%82%AC%20rates.txt" "size" "42"))"#,
            r#" ("en" "de-CH") "http://www.example.com/files/stuff")"#
        )
    );
}

#[test]
fn one_language_is_a_string_and_odd_values_are_literals() {
    let message = "Content-Type: text/plain; name=\"a\\\"b\"\r\nContent-Language: fr\r\n\
Content-Description: caf\u{e9}\r\n\r\nx";
    assert_eq!(
        bodystructure(message),
        "(\"text\" \"plain\" (\"name\" \"a\\\"b\") NIL {5}\r\ncaf\u{e9} \"7BIT\" 1 1 NIL NIL \"fr\" NIL)"
    );
}

#[test]
fn multipart_without_parts_gets_an_empty_text_part() {
    let message = "Content-Type: multipart/mixed; boundary=zz\r\n\r\nno boundary here\r\n";
    assert_eq!(
        bodystructure(message),
        concat!(
            r#"(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL)"#,
            r#" "mixed" ("boundary" "zz") NIL NIL NIL)"#
        )
    );
    assert_eq!(
        body("Content-Type: multipart/mixed\r\n\r\n"),
        r#"(("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0) "mixed")"#
    );
}

#[test]
fn base64_message_rfc822_is_an_opaque_part() {
    let message =
        "Content-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogeA0KDQp5\r\n";
    assert_eq!(bodystructure(message), r#"("message" "rfc822" NIL NIL NIL "base64" 22 NIL NIL NIL NIL)"#);
}

#[test]
fn sender_and_reply_to_are_written_as_given_when_present() {
    let message = "From: a@x\r\nSender: s@x\r\nReply-To: r@x\r\n\r\n";
    assert_eq!(
        envelope(message),
        r#"(NIL NIL ((NIL NIL "a" "x")) ((NIL NIL "s" "x")) ((NIL NIL "r" "x")) NIL NIL NIL NIL NIL)"#
    );
}
