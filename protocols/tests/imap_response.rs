//! Response writer tests (RFC 9051 §7): status responses and codes, quoting versus
//! literal decisions, CR/LF never leaking into text, mailbox names in modified UTF-7
//! (RFC 3501 §5.1.3) or UTF-8 (RFC 6855), UID set formatting (RFC 4315 §3), and the
//! small data response writers.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use moxide_protocols::imap::{
    DateTime, EsearchResponse, Flag, ListExtendedItem, MailboxCorrelator, ResponseCode, Status, StatusAttr,
    Tag, format_uid_set, write_astring, write_capability, write_continuation, write_datetime, write_enabled,
    write_esearch, write_exists, write_expunge, write_flags, write_id, write_list, write_literal_header,
    write_lsub, write_mailbox, write_namespace, write_nstring, write_search, write_status, write_string,
    write_tagged, write_untagged, write_untagged_status, write_vanished,
};

fn out(f: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut buf = Vec::new();
    f(&mut buf);
    String::from_utf8(buf).unwrap()
}

fn tag() -> Tag {
    Tag("a1".to_owned())
}

#[test]
fn tagged_and_untagged_status_responses() {
    assert_eq!(
        out(|o| write_tagged(o, &tag(), Status::Ok, None, "LOGIN completed")),
        "a1 OK LOGIN completed\r\n"
    );
    assert_eq!(
        out(|o| write_tagged(o, &tag(), Status::No, Some(&ResponseCode::TryCreate), "no such mailbox")),
        "a1 NO [TRYCREATE] no such mailbox\r\n"
    );
    assert_eq!(out(|o| write_tagged(o, &tag(), Status::Bad, None, "")), "a1 BAD error\r\n");
    assert_eq!(
        out(|o| write_untagged_status(
            o,
            Status::Ok,
            Some(&ResponseCode::UidNext(4392)),
            "Predicted next UID"
        )),
        "* OK [UIDNEXT 4392] Predicted next UID\r\n"
    );
    assert_eq!(out(|o| write_untagged_status(o, Status::Bye, None, "")), "* BYE closing\r\n");
    assert_eq!(out(|o| write_untagged_status(o, Status::PreAuth, None, "hi")), "* PREAUTH hi\r\n");
    assert_eq!(out(|o| write_continuation(o, "go ahead")), "+ go ahead\r\n");
    assert_eq!(out(|o| write_continuation(o, "")), "+ \r\n");
    assert_eq!(out(|o| write_untagged(o, b"3 FETCH (FLAGS ())")), "* 3 FETCH (FLAGS ())\r\n");
}

#[test]
fn cr_lf_and_nul_never_leak_into_text() {
    let evil = "ok\r\na2 OK injected\0\n";
    for line in [
        out(|o| write_tagged(o, &tag(), Status::Ok, None, evil)),
        out(|o| write_tagged(o, &Tag("x\r\ny".to_owned()), Status::Ok, None, "t")),
        out(|o| write_untagged_status(o, Status::No, Some(&ResponseCode::Alert), evil)),
        out(|o| write_continuation(o, evil)),
    ] {
        assert!(line.ends_with("\r\n"));
        let body = &line[..line.len() - 2];
        assert!(!body.contains(['\r', '\n', '\0']), "{line:?}");
    }
    // Codes with caller strings cannot close the bracket or break the line either.
    let code = ResponseCode::CopyUid {
        uidvalidity: 1,
        source: "1:2] x\r\n".to_owned(),
        destination: "3,4".to_owned(),
    };
    assert_eq!(
        out(|o| write_untagged_status(o, Status::Ok, Some(&code), "t")),
        "* OK [COPYUID 1 1:2 3,4] t\r\n"
    );
    let code = ResponseCode::Capability(vec!["IMAP4rev2".to_owned(), "X]\r\n".to_owned()]);
    assert_eq!(
        out(|o| write_untagged_status(o, Status::Ok, Some(&code), "t")),
        "* OK [CAPABILITY IMAP4rev2 X] t\r\n"
    );
}

#[test]
fn every_response_code() {
    let cases: Vec<(ResponseCode, &str)> = vec![
        (ResponseCode::Alert, "ALERT"),
        (ResponseCode::AlreadyExists, "ALREADYEXISTS"),
        (ResponseCode::AppendUid { uidvalidity: 38505, uids: "3955".to_owned() }, "APPENDUID 38505 3955"),
        (ResponseCode::AuthenticationFailed, "AUTHENTICATIONFAILED"),
        (ResponseCode::AuthorizationFailed, "AUTHORIZATIONFAILED"),
        (ResponseCode::BadCharset(vec![]), "BADCHARSET"),
        (
            ResponseCode::BadCharset(vec!["UTF-8".to_owned(), "US-ASCII".to_owned()]),
            "BADCHARSET (UTF-8 US-ASCII)",
        ),
        (ResponseCode::Cannot, "CANNOT"),
        (
            ResponseCode::Capability(vec!["IMAP4rev2".to_owned(), "IDLE".to_owned()]),
            "CAPABILITY IMAP4rev2 IDLE",
        ),
        (ResponseCode::ClientBug, "CLIENTBUG"),
        (ResponseCode::Closed, "CLOSED"),
        (ResponseCode::ContactAdmin, "CONTACTADMIN"),
        (
            ResponseCode::CopyUid {
                uidvalidity: 38505,
                source: "304,319:320".to_owned(),
                destination: "3956:3958".to_owned(),
            },
            "COPYUID 38505 304,319:320 3956:3958",
        ),
        (ResponseCode::Corruption, "CORRUPTION"),
        (ResponseCode::Expired, "EXPIRED"),
        (ResponseCode::ExpungeIssued, "EXPUNGEISSUED"),
        (ResponseCode::HasChildren, "HASCHILDREN"),
        (ResponseCode::HighestModSeq(715194045007), "HIGHESTMODSEQ 715194045007"),
        (ResponseCode::InUse, "INUSE"),
        (ResponseCode::Limit, "LIMIT"),
        (ResponseCode::Modified("7,9".to_owned()), "MODIFIED 7,9"),
        (ResponseCode::NoModSeq, "NOMODSEQ"),
        (ResponseCode::NonExistent, "NONEXISTENT"),
        (ResponseCode::NoPerm, "NOPERM"),
        (ResponseCode::OverQuota, "OVERQUOTA"),
        (ResponseCode::Parse, "PARSE"),
        (
            ResponseCode::PermanentFlags(vec![Flag::Deleted, Flag::Seen, Flag::Extension("\\*".to_owned())]),
            "PERMANENTFLAGS (\\Deleted \\Seen \\*)",
        ),
        (ResponseCode::PrivacyRequired, "PRIVACYREQUIRED"),
        (ResponseCode::ReadOnly, "READ-ONLY"),
        (ResponseCode::ReadWrite, "READ-WRITE"),
        (ResponseCode::ServerBug, "SERVERBUG"),
        (ResponseCode::TooBig, "TOOBIG"),
        (ResponseCode::TryCreate, "TRYCREATE"),
        (ResponseCode::UidNext(4392), "UIDNEXT 4392"),
        (ResponseCode::UidNotSticky, "UIDNOTSTICKY"),
        (ResponseCode::UidValidity(3857529045), "UIDVALIDITY 3857529045"),
        (ResponseCode::Unavailable, "UNAVAILABLE"),
        (ResponseCode::UnknownCte, "UNKNOWN-CTE"),
        (ResponseCode::Unseen(12), "UNSEEN 12"),
    ];
    for (code, text) in cases {
        assert_eq!(out(|o| code.write_to(o)), text);
    }
}

#[test]
fn astring_atom_quoted_or_literal() {
    assert_eq!(out(|o| write_astring(o, "INBOX")), "INBOX");
    assert_eq!(out(|o| write_astring(o, "a]b")), "a]b");
    assert_eq!(out(|o| write_astring(o, "")), "\"\"");
    assert_eq!(out(|o| write_astring(o, "a b")), "\"a b\"");
    assert_eq!(out(|o| write_astring(o, "nil")), "\"nil\"", "NIL is never an atom");
    assert_eq!(out(|o| write_astring(o, "a\"b\\c")), "\"a\\\"b\\\\c\"");
    assert_eq!(out(|o| write_astring(o, "a*%(){")), "\"a*%(){\"");
    assert_eq!(out(|o| write_astring(o, "line\r\nbreak")), "{11}\r\nline\r\nbreak");
    assert_eq!(out(|o| write_astring(o, "gr\u{fc}n")), "{5}\r\ngr\u{fc}n", "8-bit goes in a literal");
}

#[test]
fn strings_and_nstrings() {
    assert_eq!(out(|o| write_string(o, b"hello")), "\"hello\"");
    assert_eq!(out(|o| write_string(o, b"")), "\"\"");
    assert_eq!(out(|o| write_string(o, b"NIL")), "\"NIL\"");
    assert_eq!(out(|o| write_string(o, b"a\nb")), "{3}\r\na\nb");
    assert_eq!(out(|o| write_string(o, b"a\rb")), "{3}\r\na\rb");
    assert_eq!(out(|o| write_nstring(o, None)), "NIL");
    assert_eq!(out(|o| write_nstring(o, Some(b"x y"))), "\"x y\"");
    let mut buf = Vec::new();
    write_string(&mut buf, b"\xff\x01");
    assert_eq!(buf, b"{2}\r\n\xff\x01");
    assert_eq!(out(|o| write_literal_header(o, 42, false)), "{42}\r\n");
    assert_eq!(out(|o| write_literal_header(o, 0, true)), "~{0}\r\n");
}

#[test]
fn mailbox_names_per_mode() {
    assert_eq!(out(|o| write_mailbox(o, "INBOX", false)), "INBOX");
    assert_eq!(out(|o| write_mailbox(o, "Entw\u{fc}rfe", false)), "Entw&APw-rfe");
    assert_eq!(out(|o| write_mailbox(o, "Entw\u{fc}rfe", true)), "\"Entw\u{fc}rfe\"");
    assert_eq!(out(|o| write_mailbox(o, "A & B", false)), "\"A &- B\"");
    assert_eq!(out(|o| write_mailbox(o, "A & B", true)), "\"A & B\"");
    assert_eq!(out(|o| write_mailbox(o, "Sent", true)), "Sent");
    assert_eq!(out(|o| write_mailbox(o, "x\ny", true)), "{3}\r\nx\ny");
    assert_eq!(out(|o| write_mailbox(o, "x\ny", false)), "x&AAo-y");
}

#[test]
fn flags_and_dates() {
    let flags = [
        Flag::Seen,
        Flag::Answered,
        Flag::Flagged,
        Flag::Deleted,
        Flag::Draft,
        Flag::Recent,
        Flag::Keyword("$Junk".to_owned()),
        Flag::Keyword("bad keyword".to_owned()),
        Flag::Extension("\\Ext".to_owned()),
    ];
    assert_eq!(
        out(|o| write_flags(o, &flags)),
        "(\\Seen \\Answered \\Flagged \\Deleted \\Draft \\Recent $Junk \\Ext)",
        "flags that are not atoms are left out"
    );
    assert_eq!(out(|o| write_flags(o, &[])), "()");
    let dt = DateTime { unix_secs: 837_596_665, offset_minutes: -420 };
    assert_eq!(out(|o| write_datetime(o, &dt)), "\"17-Jul-1996 02:44:25 -0700\"");
    let dt = DateTime { unix_secs: 0, offset_minutes: 90 };
    assert_eq!(out(|o| write_datetime(o, &dt)), "\"01-Jan-1970 01:30:00 +0130\"");
}

#[test]
fn uid_sets() {
    assert_eq!(format_uid_set(&[]), "");
    assert_eq!(format_uid_set(&[7]), "7");
    assert_eq!(format_uid_set(&[1, 2, 3, 5]), "1:3,5");
    assert_eq!(format_uid_set(&[1, 3, 4, 5, 6, 9, 10]), "1,3:6,9:10");
    assert_eq!(format_uid_set(&[1, 1, 2, 2]), "1:2");
    assert_eq!(format_uid_set(&[u32::MAX - 1, u32::MAX]), "4294967294:4294967295");
    assert_eq!(format_uid_set(&[5, 1]), "5,1");
}

#[test]
fn small_data_responses() {
    assert_eq!(out(|o| write_exists(o, 23)), "* 23 EXISTS\r\n");
    assert_eq!(out(|o| write_expunge(o, 3)), "* 3 EXPUNGE\r\n");
    assert_eq!(out(|o| write_vanished(o, true, "300:310,405")), "* VANISHED (EARLIER) 300:310,405\r\n");
    assert_eq!(out(|o| write_vanished(o, false, "7")), "* VANISHED 7\r\n");
    assert_eq!(
        out(|o| write_capability(o, &["IMAP4rev2", "IMAP4rev1", "LITERAL+", "AUTH=PLAIN"])),
        "* CAPABILITY IMAP4rev2 IMAP4rev1 LITERAL+ AUTH=PLAIN\r\n"
    );
    assert_eq!(out(|o| write_enabled(o, &[])), "* ENABLED\r\n");
    assert_eq!(out(|o| write_enabled(o, &["CONDSTORE"])), "* ENABLED CONDSTORE\r\n");
    assert_eq!(out(|o| write_search(o, &[2, 84, 882], None)), "* SEARCH 2 84 882\r\n");
    assert_eq!(out(|o| write_search(o, &[], Some(5))), "* SEARCH (MODSEQ 5)\r\n");
    assert_eq!(out(|o| write_id(o, None)), "* ID NIL\r\n");
    assert_eq!(
        out(|o| write_id(o, Some(&[("name", "moxide"), ("version", "0.1")]))),
        "* ID (\"name\" \"moxide\" \"version\" \"0.1\")\r\n"
    );
    assert_eq!(
        out(|o| write_namespace(o, &[("", Some('/'))], &[], &[], false)),
        "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\n"
    );
    assert_eq!(
        out(|o| write_namespace(o, &[("", Some('\\'))], &[("~\u{e9}", None)], &[], false)),
        "* NAMESPACE ((\"\" \"\\\\\")) ((\"~&AOk-\" NIL)) NIL\r\n"
    );
}

#[test]
fn esearch() {
    let t = tag();
    let all = EsearchResponse {
        tag: Some(&t),
        uid: true,
        min: Some(2),
        max: Some(11),
        all: Some("2,10:11"),
        count: Some(3),
        modseq: Some(9),
        partial: None,
        mailbox: None,
    };
    assert_eq!(
        out(|o| write_esearch(o, &all)),
        "* ESEARCH (TAG \"a1\") UID MIN 2 MAX 11 ALL 2,10:11 COUNT 3 MODSEQ 9\r\n"
    );
    let empty =
        EsearchResponse { tag: Some(&t), count: Some(0), all: Some(""), ..EsearchResponse::default() };
    assert_eq!(out(|o| write_esearch(o, &empty)), "* ESEARCH (TAG \"a1\") COUNT 0\r\n");
    // MULTISEARCH's correlators (RFC 7377 §2.1); a name in modified UTF-7 unless UTF-8.
    let mailbox = MailboxCorrelator { name: "Entwürfe", utf8: false, uidvalidity: 7 };
    let found = EsearchResponse { tag: Some(&t), uid: true, all: Some("1"), mailbox: Some(mailbox), ..empty };
    assert_eq!(
        out(|o| write_esearch(o, &found)),
        "* ESEARCH (TAG \"a1\" MAILBOX Entw&APw-rfe UIDVALIDITY 7) UID ALL 1 COUNT 0\r\n"
    );
}

#[test]
fn list_lsub_and_status() {
    assert_eq!(
        out(|o| write_list(o, &["\\HasNoChildren", "\\Sent"], Some('/'), "Sent", false, &[])),
        "* LIST (\\HasNoChildren \\Sent) \"/\" Sent\r\n"
    );
    assert_eq!(out(|o| write_list(o, &[], None, "", false, &[])), "* LIST () NIL \"\"\r\n");
    assert_eq!(
        out(|o| write_list(o, &["\\Noselect"], Some('\\'), "a\"b", false, &[])),
        "* LIST (\\Noselect) \"\\\\\" \"a\\\"b\"\r\n"
    );
    assert_eq!(
        out(|o| write_list(
            o,
            &[],
            Some('/'),
            "Fu\u{df}",
            true,
            &[ListExtendedItem::ChildInfoSubscribed, ListExtendedItem::OldName("Fu&AN8-")]
        )),
        "* LIST () \"/\" \"Fu\u{df}\" (\"CHILDINFO\" (\"SUBSCRIBED\") \"OLDNAME\" (\"Fu&AN8-\"))\r\n"
    );
    assert_eq!(out(|o| write_list(o, &["\\X)\r\n"], Some('/'), "a", false, &[])), "* LIST (\\X) \"/\" a\r\n");
    assert_eq!(out(|o| write_lsub(o, &[], Some('.'), "news.comp", false)), "* LSUB () \".\" news.comp\r\n");
    assert_eq!(
        out(|o| write_status(
            o,
            "blurdybloop",
            false,
            &[(StatusAttr::Messages, 231), (StatusAttr::UidNext, 44292), (StatusAttr::Size, 1 << 40)]
        )),
        "* STATUS blurdybloop (MESSAGES 231 UIDNEXT 44292 SIZE 1099511627776)\r\n"
    );
    let names: Vec<&str> = [
        StatusAttr::Messages,
        StatusAttr::Recent,
        StatusAttr::UidNext,
        StatusAttr::UidValidity,
        StatusAttr::Unseen,
        StatusAttr::Deleted,
        StatusAttr::Size,
        StatusAttr::HighestModSeq,
    ]
    .iter()
    .map(|a| a.name())
    .collect();
    assert_eq!(
        names,
        ["MESSAGES", "RECENT", "UIDNEXT", "UIDVALIDITY", "UNSEEN", "DELETED", "SIZE", "HIGHESTMODSEQ"]
    );
}
