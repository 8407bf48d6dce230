//! Parser tests: every IMAP command and its variants (RFC 9051 §6, RFC 3501 §6 and the
//! extensions: UID forms, `$` of RFC 5182, LIST-EXTENDED RFC 5258, QRESYNC RFC 7162,
//! SEARCH keys, FETCH sections and modifiers, STORE UNCHANGEDSINCE, SASL-IR RFC 4959,
//! ID RFC 2971, ENABLE RFC 5161, CREATE USE RFC 6154), good and bad.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use moxide_protocols::imap::{
    CommandBody, Date, DateTime, FetchAttr, FetchModifier, Flag, ListCommand, NESTING_MAX, Partial,
    QresyncParams, ReadErrorKind, SearchCommand, SearchKey, SearchReturn, Section, SectionText, SelectParams,
    SeqNumber, SeqRange, SequenceSet, StatusAttr, StoreMode, Tag, parse_command,
};

/// Parses `line` (literals in canonical `{n}\r\n` form) and returns the body; the tag
/// must be `a1`.
fn parse(line: &str) -> CommandBody {
    let command = parse_command(line.as_bytes(), NESTING_MAX).unwrap_or_else(|e| panic!("{line:?}: {e:?}"));
    assert_eq!(command.tag, Tag("a1".to_owned()));
    command.body
}

/// Asserts `line` is refused as a syntax error with tag `a1`; returns the detail.
fn bad(line: &str) -> String {
    let error = parse_command(line.as_bytes(), NESTING_MAX).expect_err(line);
    assert_eq!(error.tag, Some(Tag("a1".to_owned())), "{line:?}");
    assert_eq!(error.kind, ReadErrorKind::Syntax, "{line:?}: {}", error.detail);
    error.detail
}

/// Like [`bad`] for input that is not UTF-8.
fn bad_bytes(line: &[u8]) {
    let error = parse_command(line, NESTING_MAX).expect_err("must fail");
    assert_eq!(error.tag, Some(Tag("a1".to_owned())));
    assert_eq!(error.kind, ReadErrorKind::Syntax);
}

fn set(ranges: &[(u32, u32)]) -> SequenceSet {
    SequenceSet::Ranges(
        ranges
            .iter()
            .map(|&(a, b)| SeqRange {
                first: if a == 0 { SeqNumber::Star } else { SeqNumber::Value(a) },
                last: if b == 0 { SeqNumber::Star } else { SeqNumber::Value(b) },
            })
            .collect(),
    )
}

fn date(year: u16, month: u8, day: u8) -> Date {
    Date { year, month, day }
}

// ----- tags and command names -----

#[test]
fn tags() {
    let command = parse_command(b"A.1-x]y NOOP", NESTING_MAX).unwrap();
    assert_eq!(command.tag.0, "A.1-x]y");
    // A lone word is taken as a tag without a command.
    let error = parse_command(b"NOOP", NESTING_MAX).unwrap_err();
    assert_eq!((error.tag, error.kind), (Some(Tag("NOOP".to_owned())), ReadErrorKind::Syntax));
    for line in ["", " a1 NOOP", "a+1 NOOP", "a{1 NOOP", "a*1 NOOP", "a%1 NOOP", "a\"1 NOOP", "a(1 NOOP"] {
        let error = parse_command(line.as_bytes(), NESTING_MAX).unwrap_err();
        assert_eq!(error.tag, None, "{line}");
        assert_eq!(error.kind, ReadErrorKind::Syntax);
    }
    let long = format!("{} NOOP", "t".repeat(65));
    assert_eq!(parse_command(long.as_bytes(), NESTING_MAX).unwrap_err().tag, None);
    let ok = format!("{} NOOP", "t".repeat(64));
    assert!(parse_command(ok.as_bytes(), NESTING_MAX).is_ok());
}

#[test]
fn simple_commands_in_any_case() {
    let cases = [
        ("a1 CAPABILITY", CommandBody::Capability),
        ("a1 noop", CommandBody::Noop),
        ("a1 Logout", CommandBody::Logout),
        ("a1 STARTTLS", CommandBody::StartTls),
        ("a1 NAMESPACE", CommandBody::Namespace),
        ("a1 idle", CommandBody::Idle),
        ("a1 CHECK", CommandBody::Check),
        ("a1 CLOSE", CommandBody::Close),
        ("a1 UNSELECT", CommandBody::Unselect),
        ("a1 EXPUNGE", CommandBody::Expunge),
    ];
    for (line, body) in cases {
        assert_eq!(parse(line), body, "{line}");
    }
    assert!(bad("a1 NOOP x").contains("NOOP"));
    bad("a1 NOOP ");
    assert!(bad("a1 FROB").contains("unknown command"));
    bad("a1 ");
    bad("a1");
}

// ----- authentication -----

#[test]
fn login_with_atoms_quoted_strings_and_literals() {
    let login = |u: &str, p: &str| CommandBody::Login { username: u.to_owned(), password: p.to_owned() };
    assert_eq!(parse("a1 LOGIN alice secret"), login("alice", "secret"));
    assert_eq!(parse("a1 login \"al ice\" \"se\\\"c\\\\ret\""), login("al ice", "se\"c\\ret"));
    assert_eq!(parse("a1 LOGIN {5}\r\nalice {6+}\r\nsecret"), login("alice", "secret"));
    assert_eq!(parse("a1 LOGIN \"\" \"\""), login("", ""));
    assert_eq!(parse("a1 LOGIN \"j\u{f6}rg\" pw"), login("j\u{f6}rg", "pw"));
    bad("a1 LOGIN alice");
    bad("a1 LOGIN alice  secret");
    bad("a1 LOGIN \"alice secret");
    bad("a1 LOGIN \"a\\x\" b");
    bad("a1 LOGIN {5}\r\nali");
    bad("a1 LOGIN {3}\r\na\0c pw");
    bad("a1 LOGIN ~{5}\r\nalice pw");
    let error = parse_command(b"a1 LOGIN \xff\xfe pw", NESTING_MAX).unwrap_err();
    assert_eq!(error.kind, ReadErrorKind::Syntax);
}

#[test]
fn authenticate_with_and_without_initial_response() {
    let auth = |m: &str, ir: Option<&[u8]>| CommandBody::Authenticate {
        mechanism: m.to_owned(),
        initial_response: ir.map(<[u8]>::to_vec),
    };
    assert_eq!(parse("a1 AUTHENTICATE PLAIN"), auth("PLAIN", None));
    assert_eq!(parse("a1 AUTHENTICATE PLAIN AGFsaWNlAHNlY3JldA=="), auth("PLAIN", Some(b"\0alice\0secret")));
    assert_eq!(parse("a1 authenticate SCRAM-SHA-256 ="), auth("SCRAM-SHA-256", Some(b"")));
    let error = parse_command(b"a1 AUTHENTICATE PLAIN AGFsaWNl=AHN", NESTING_MAX).unwrap_err();
    assert_eq!(error.kind, ReadErrorKind::BadBase64);
    assert_eq!(error.tag, Some(Tag("a1".to_owned())));
    bad("a1 AUTHENTICATE");
    bad("a1 AUTHENTICATE PLAIN ");
    bad("a1 AUTHENTICATE PLAIN AAAA b");
}

#[test]
fn enable_and_id() {
    assert_eq!(
        parse("a1 ENABLE CONDSTORE utf8=accept"),
        CommandBody::Enable(vec!["CONDSTORE".to_owned(), "utf8=accept".to_owned()])
    );
    bad("a1 ENABLE");
    bad("a1 ENABLE (x)");
    assert_eq!(parse("a1 ID NIL"), CommandBody::Id(None));
    assert_eq!(parse("a1 ID ()"), CommandBody::Id(None));
    assert_eq!(
        parse("a1 ID (\"name\" \"Thunderbird\" \"version\" NIL \"os\" {5}\r\nLinux)"),
        CommandBody::Id(Some(vec![
            ("name".to_owned(), Some("Thunderbird".to_owned())),
            ("version".to_owned(), None),
            ("os".to_owned(), Some("Linux".to_owned())),
        ]))
    );
    bad("a1 ID");
    bad("a1 ID (\"name\")");
    bad("a1 ID (name \"x\")");
    let thirty: String = (0..30).map(|i| format!("\"f{i}\" NIL")).collect::<Vec<_>>().join(" ");
    assert!(matches!(parse(&format!("a1 ID ({thirty})")), CommandBody::Id(Some(f)) if f.len() == 30));
    bad(&format!("a1 ID ({thirty} \"f30\" NIL)"));
}

// ----- mailboxes -----

#[test]
fn select_and_examine_with_condstore_and_qresync() {
    let select =
        |mailbox: &str, params: SelectParams| CommandBody::Select { mailbox: mailbox.to_owned(), params };
    assert_eq!(parse("a1 SELECT INBOX"), select("INBOX", SelectParams::default()));
    assert_eq!(parse("a1 SELECT inBox"), select("INBOX", SelectParams::default()));
    assert_eq!(parse("a1 SELECT \"Inbox/Sub\""), select("Inbox/Sub", SelectParams::default()));
    assert_eq!(parse("a1 SELECT &AOQ-"), select("&AOQ-", SelectParams::default()), "mUTF-7 is not decoded");
    assert_eq!(
        parse("a1 EXAMINE Archive (CONDSTORE)"),
        CommandBody::Examine {
            mailbox: "Archive".to_owned(),
            params: SelectParams { condstore: true, qresync: None }
        }
    );
    let qresync = |known_uids, seq_match| SelectParams {
        condstore: false,
        qresync: Some(QresyncParams {
            uidvalidity: 67890007,
            modseq: 20050715194045000,
            known_uids,
            seq_match,
        }),
    };
    assert_eq!(
        parse("a1 SELECT INBOX (QRESYNC (67890007 20050715194045000))"),
        select("INBOX", qresync(None, None))
    );
    assert_eq!(
        parse("a1 SELECT INBOX (QRESYNC (67890007 20050715194045000 41,43:211,214:541))"),
        select("INBOX", qresync(Some(set(&[(41, 41), (43, 211), (214, 541)])), None))
    );
    assert_eq!(
        parse("a1 SELECT INBOX (QRESYNC (67890007 20050715194045000 1:100 (1,5:6 4,10:11)))"),
        select(
            "INBOX",
            qresync(Some(set(&[(1, 100)])), Some((set(&[(1, 1), (5, 6)]), set(&[(4, 4), (10, 11)]))))
        )
    );
    assert_eq!(
        parse("a1 SELECT INBOX (QRESYNC (67890007 20050715194045000 (1 4)) CONDSTORE)"),
        select(
            "INBOX",
            SelectParams { condstore: true, ..qresync(None, Some((set(&[(1, 1)]), set(&[(4, 4)])))) }
        )
    );
    bad("a1 SELECT");
    bad("a1 SELECT INBOX ()");
    bad("a1 SELECT INBOX (CONDSTORE CONDSTORE)");
    bad("a1 SELECT INBOX (FOO)");
    bad("a1 SELECT INBOX (QRESYNC (0 5))");
    bad("a1 SELECT INBOX (QRESYNC (1 0))");
    bad("a1 SELECT INBOX (QRESYNC (1 5 1:*))");
    bad("a1 SELECT INBOX (QRESYNC (1 5 $))");
    bad("a1 SELECT INBOX (QRESYNC (1 5)");
    bad_bytes(b"a1 SELECT {3}\r\n\xff\x01x");
}

#[test]
fn create_delete_rename_subscribe() {
    assert_eq!(
        parse("a1 CREATE foo/bar"),
        CommandBody::Create { mailbox: "foo/bar".to_owned(), special_use: vec![] }
    );
    assert_eq!(
        parse("a1 CREATE MySent (USE (\\Sent \\Archive))"),
        CommandBody::Create {
            mailbox: "MySent".to_owned(),
            special_use: vec!["\\Sent".to_owned(), "\\Archive".to_owned()]
        }
    );
    assert_eq!(
        parse("a1 CREATE x (USE ())"),
        CommandBody::Create { mailbox: "x".to_owned(), special_use: vec![] }
    );
    bad("a1 CREATE x (USE)");
    bad("a1 CREATE x (USE (Sent))");
    bad("a1 CREATE x (FOO (\\Sent))");
    bad("a1 CREATE");
    assert_eq!(parse("a1 DELETE \"a b\""), CommandBody::Delete { mailbox: "a b".to_owned() });
    assert_eq!(parse("a1 SUBSCRIBE x"), CommandBody::Subscribe { mailbox: "x".to_owned() });
    assert_eq!(parse("a1 UNSUBSCRIBE x"), CommandBody::Unsubscribe { mailbox: "x".to_owned() });
    assert_eq!(
        parse("a1 RENAME a {1}\r\nb"),
        CommandBody::Rename { from: "a".to_owned(), to: "b".to_owned() }
    );
    bad("a1 RENAME a");
    bad("a1 DELETE a b");
}

#[test]
fn list_basic_and_lsub() {
    let basic = |reference: &str, pattern: &str| {
        CommandBody::List(ListCommand {
            reference: reference.to_owned(),
            patterns: vec![pattern.to_owned()],
            ..ListCommand::default()
        })
    };
    assert_eq!(parse("a1 LIST \"\" *"), basic("", "*"));
    assert_eq!(parse("a1 LIST \"\" \"%\""), basic("", "%"));
    assert_eq!(parse("a1 LIST ~/Mail/ %/x]*"), basic("~/Mail/", "%/x]*"));
    assert_eq!(parse("a1 LIST \"\" {3}\r\na b"), basic("", "a b"));
    assert_eq!(
        parse("a1 LSUB \"#news.\" \"comp.mail.*\""),
        CommandBody::Lsub { reference: "#news.".to_owned(), pattern: "comp.mail.*".to_owned() }
    );
    bad("a1 LIST \"\"");
    bad("a1 LIST \"\" * x");
    bad("a1 LSUB \"\"");
}

#[test]
fn list_extended_syntax() {
    let CommandBody::List(list) = parse(
        "a1 LIST (SUBSCRIBED RECURSIVEMATCH remote) \"\" (\"INBOX\" \"Sent*\") RETURN (CHILDREN SPECIAL-USE SUBSCRIBED STATUS (MESSAGES UNSEEN SIZE) METADATA (/Shared/Comment \"/private/color\"))",
    ) else {
        panic!("not LIST");
    };
    assert_eq!(
        list,
        ListCommand {
            reference: String::new(),
            patterns: vec!["INBOX".to_owned(), "Sent*".to_owned()],
            select_subscribed: true,
            select_special_use: false,
            select_recursive_match: true,
            select_remote: true,
            return_subscribed: true,
            return_children: true,
            return_special_use: true,
            return_status: Some(vec![StatusAttr::Messages, StatusAttr::Unseen, StatusAttr::Size]),
            return_metadata: Some(vec!["/shared/comment".to_owned(), "/private/color".to_owned()]),
            extended: true,
        }
    );
    let CommandBody::List(list) = parse("a1 LIST (SPECIAL-USE) \"\" *") else { panic!() };
    assert!(list.select_special_use && list.extended);
    let CommandBody::List(list) = parse("a1 LIST () \"\" *") else { panic!() };
    assert!(list.extended);
    let CommandBody::List(list) = parse("a1 LIST \"\" * RETURN ()") else { panic!() };
    assert!(list.extended && list.return_status.is_none());
    let CommandBody::List(list) = parse("a1 LIST \"\" (*)") else { panic!() };
    assert!(list.extended);
    // RFC 5258 §3.1: RECURSIVEMATCH alone, or only with REMOTE, is an error.
    bad("a1 LIST (RECURSIVEMATCH) \"\" *");
    bad("a1 LIST (RECURSIVEMATCH REMOTE) \"\" *");
    bad("a1 LIST (FOO) \"\" *");
    bad("a1 LIST \"\" * RETURN (FOO)");
    bad("a1 LIST \"\" * RETURN (STATUS ())");
    bad("a1 LIST \"\" * RETURN (STATUS (MESSAGES) STATUS (UNSEEN))");
    bad("a1 LIST \"\" * FOO ()");
    bad("a1 LIST \"\" ()");
}

#[test]
fn status() {
    assert_eq!(
        parse(
            "a1 STATUS blurdybloop (UIDNEXT MESSAGES uidvalidity UNSEEN DELETED SIZE HIGHESTMODSEQ RECENT)"
        ),
        CommandBody::Status {
            mailbox: "blurdybloop".to_owned(),
            attrs: vec![
                StatusAttr::UidNext,
                StatusAttr::Messages,
                StatusAttr::UidValidity,
                StatusAttr::Unseen,
                StatusAttr::Deleted,
                StatusAttr::Size,
                StatusAttr::HighestModSeq,
                StatusAttr::Recent,
            ],
        }
    );
    bad("a1 STATUS x ()");
    bad("a1 STATUS x (FOO)");
    bad("a1 STATUS x MESSAGES");
    bad("a1 STATUS (MESSAGES)");
}

// ----- sequence sets, COPY, MOVE, EXPUNGE -----

#[test]
fn sequence_sets_and_copy_move() {
    let copy = |uid, set, mailbox: &str| CommandBody::Copy { uid, set, mailbox: mailbox.to_owned() };
    assert_eq!(parse("a1 COPY 2:4 MEETING"), copy(false, set(&[(2, 4)]), "MEETING"));
    assert_eq!(parse("a1 UID COPY 1,3:*,*:7 Trash"), copy(true, set(&[(1, 1), (3, 0), (0, 7)]), "Trash"));
    assert_eq!(parse("a1 uid copy $ Trash"), copy(true, SequenceSet::Saved, "Trash"));
    assert_eq!(
        parse("a1 MOVE * Archive"),
        CommandBody::Move { uid: false, set: set(&[(0, 0)]), mailbox: "Archive".to_owned() }
    );
    assert_eq!(
        parse("a1 UID MOVE 4294967295 x"),
        CommandBody::Move { uid: true, set: set(&[(u32::MAX, u32::MAX)]), mailbox: "x".to_owned() }
    );
    assert_eq!(parse("a1 UID EXPUNGE 3000:3002"), CommandBody::UidExpunge(set(&[(3000, 3002)])));
    for line in [
        "a1 COPY 0 x",
        "a1 COPY 1:0 x",
        "a1 COPY 4294967296 x",
        "a1 COPY 1, x",
        "a1 COPY ,1 x",
        "a1 COPY 1:: x",
        "a1 COPY $,1 x",
        "a1 COPY -1 x",
        "a1 COPY 1",
        "a1 UID EXPUNGE",
        "a1 UID FOO 1",
        "a1 UID",
    ] {
        bad(line);
    }
}

#[test]
fn sequence_set_resolution() {
    let ranges = |s: &SequenceSet, star| {
        s.resolve(star).into_iter().map(|r| (*r.start(), *r.end())).collect::<Vec<_>>()
    };
    let s = set(&[(5, 3), (1, 1), (4, 9), (20, 0), (11, 11)]);
    assert_eq!(ranges(&s, 30), vec![(1, 1), (3, 9), (11, 11), (20, 30)]);
    assert_eq!(ranges(&s, 15), vec![(1, 1), (3, 9), (11, 11), (15, 20)]);
    assert_eq!(ranges(&set(&[(1, 2), (3, 4)]), 10), vec![(1, 4)], "adjacent ranges merge");
    assert_eq!(ranges(&set(&[(1, 0)]), 0), vec![(0, 1)]);
    assert_eq!(ranges(&SequenceSet::Saved, 10), vec![]);
    assert!(s.contains(7, 30) && s.contains(25, 30) && !s.contains(10, 30) && !s.contains(2, 30));
    assert!(s.contains(18, 15), "20:* with * = 15 is 15:20");
    assert!(!SequenceSet::Saved.contains(1, 1));
    assert_eq!(s.to_string(), "5:3,1,4:9,20:*,11");
}

// ----- SEARCH -----

fn search(line: &str) -> (bool, SearchCommand) {
    match parse(line) {
        CommandBody::Search { uid, search } => (uid, search),
        other => panic!("not SEARCH: {other:?}"),
    }
}

fn key(line: &str) -> SearchKey {
    search(&format!("a1 SEARCH {line}")).1.key
}

#[test]
fn search_every_simple_key() {
    let s = |v: &str| v.to_owned();
    let cases = [
        ("ALL", SearchKey::All),
        ("answered", SearchKey::Answered),
        ("DELETED", SearchKey::Deleted),
        ("DRAFT", SearchKey::Draft),
        ("FLAGGED", SearchKey::Flagged),
        ("SEEN", SearchKey::Seen),
        ("NEW", SearchKey::New),
        ("OLD", SearchKey::Old),
        ("RECENT", SearchKey::Recent),
        ("UNANSWERED", SearchKey::Unanswered),
        ("UNDELETED", SearchKey::Undeleted),
        ("UNDRAFT", SearchKey::Undraft),
        ("UNFLAGGED", SearchKey::Unflagged),
        ("UNSEEN", SearchKey::Unseen),
        ("KEYWORD $Junk", SearchKey::Keyword(s("$Junk"))),
        ("UNKEYWORD NonJunk", SearchKey::Unkeyword(s("NonJunk"))),
        ("BCC a@b", SearchKey::Bcc(s("a@b"))),
        ("CC \"x y\"", SearchKey::Cc(s("x y"))),
        ("FROM {4}\r\nSm\u{e9}", SearchKey::From(s("Sm\u{e9}"))),
        ("SUBJECT hello", SearchKey::Subject(s("hello"))),
        ("TO bob", SearchKey::To(s("bob"))),
        ("BODY \"\"", SearchKey::Body(s(""))),
        ("TEXT x", SearchKey::Text(s("x"))),
        ("HEADER Message-ID \"<a@b>\"", SearchKey::Header(s("Message-ID"), s("<a@b>"))),
        ("HEADER X-Spam \"\"", SearchKey::Header(s("X-Spam"), s(""))),
        ("BEFORE 1-Feb-1994", SearchKey::Before(date(1994, 2, 1))),
        ("ON \"14-Mar-2026\"", SearchKey::On(date(2026, 3, 14))),
        ("SINCE 01-jan-2000", SearchKey::Since(date(2000, 1, 1))),
        ("SENTBEFORE 1-Feb-1994", SearchKey::SentBefore(date(1994, 2, 1))),
        ("SENTON 1-Feb-1994", SearchKey::SentOn(date(1994, 2, 1))),
        ("SENTSINCE 1-Feb-1994", SearchKey::SentSince(date(1994, 2, 1))),
        ("SAVEDBEFORE 1-Feb-1994", SearchKey::SavedBefore(date(1994, 2, 1))),
        ("SAVEDON 1-Feb-1994", SearchKey::SavedOn(date(1994, 2, 1))),
        ("SAVEDSINCE 1-Feb-1994", SearchKey::SavedSince(date(1994, 2, 1))),
        ("SAVEDATESUPPORTED", SearchKey::SaveDateSupported),
        ("LARGER 10000", SearchKey::Larger(10000)),
        ("SMALLER 0", SearchKey::Smaller(0)),
        ("YOUNGER 3600", SearchKey::Younger(3600)),
        ("OLDER 86400", SearchKey::Older(86400)),
        ("UID 1:*", SearchKey::Uid(set(&[(1, 0)]))),
        ("UID $", SearchKey::Uid(SequenceSet::Saved)),
        ("2,4:7", SearchKey::Seq(set(&[(2, 2), (4, 7)]))),
        ("*", SearchKey::Seq(set(&[(0, 0)]))),
        ("$", SearchKey::Seq(SequenceSet::Saved)),
        ("MODSEQ 620162338", SearchKey::ModSeq { entry: None, modseq: 620162338 }),
        ("MODSEQ 0", SearchKey::ModSeq { entry: None, modseq: 0 }),
        (
            "MODSEQ \"/flags/\\\\draft\" all 620162338",
            SearchKey::ModSeq { entry: Some((s("/flags/\\draft"), s("all"))), modseq: 620162338 },
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(key(text), expected, "{text}");
    }
}

#[test]
fn search_bad_keys() {
    for text in [
        "",
        "FOO",
        "KEYWORD",
        "KEYWORD \"x\"",
        "FROM",
        "HEADER Subject",
        "BEFORE 30-Feb-2020",
        "BEFORE 1-Feb-94",
        "BEFORE \"1-Feb-1994",
        "LARGER -1",
        "LARGER x",
        "YOUNGER 0",
        "UID",
        "UID 0",
        "MODSEQ",
        "MODSEQ \"/flags/\\\\draft\" own 5",
        "ALL  SEEN",
        "ALL ",
        "()",
        "(ALL",
        "ALL)",
        "NOT",
        "OR SEEN",
        "OR SEEN  DRAFT",
        "FROM \"a\"b",
    ] {
        bad(&format!("a1 SEARCH {text}"));
    }
    bad("a1 SEARCH");
    bad_bytes(b"a1 SEARCH FROM \xff");
}

#[test]
fn search_nesting_and_combinations() {
    use SearchKey::*;
    let b = Box::new;
    assert_eq!(key("SEEN FLAGGED"), And(vec![Seen, Flagged]));
    assert_eq!(key("NOT SEEN"), Not(b(Seen)));
    assert_eq!(key("OR SEEN FLAGGED"), Or(b(Seen), b(Flagged)));
    assert_eq!(key("(SEEN)"), And(vec![Seen]));
    assert_eq!(
        key("OR (SEEN FROM a) NOT OR DRAFT 1:3 UNSEEN"),
        And(vec![
            Or(b(And(vec![Seen, From("a".to_owned())])), b(Not(b(Or(b(Draft), b(Seq(set(&[(1, 3)])))))))),
            Unseen
        ])
    );
    let inner = And(vec![Not(b(And(vec![All])))]);
    assert_eq!(key("NOT NOT (NOT (ALL))"), Not(b(Not(b(inner)))));
    assert_eq!(
        key("OR OR SEEN DRAFT OR FLAGGED DELETED"),
        Or(b(Or(b(Seen), b(Draft))), b(Or(b(Flagged), b(Deleted))))
    );
    assert_eq!(key("((SEEN) (DRAFT))"), And(vec![And(vec![Seen]), And(vec![Draft])]));
}

#[test]
fn search_nesting_limit_is_exact() {
    let nested = |depth: usize| format!("a1 SEARCH {}ALL{}", "(".repeat(depth), ")".repeat(depth));
    assert!(parse_command(nested(NESTING_MAX).as_bytes(), NESTING_MAX).is_ok());
    let error = parse_command(nested(NESTING_MAX + 1).as_bytes(), NESTING_MAX).unwrap_err();
    assert_eq!(error.kind, ReadErrorKind::TooDeep);
    assert_eq!(error.tag, Some(Tag("a1".to_owned())));
    let nots = |depth: usize| format!("a1 SEARCH {}ALL", "NOT ".repeat(depth));
    assert!(parse_command(nots(3).as_bytes(), 3).is_ok());
    assert_eq!(parse_command(nots(4).as_bytes(), 3).unwrap_err().kind, ReadErrorKind::TooDeep);
    // A very deep input is refused without recursion (no stack overflow).
    let deep = format!("a1 SEARCH {}ALL", "(".repeat(100_000));
    assert_eq!(parse_command(deep.as_bytes(), NESTING_MAX).unwrap_err().kind, ReadErrorKind::TooDeep);
    let deep = format!("a1 SEARCH {}ALL", "OR ALL ".repeat(100_000));
    assert_eq!(parse_command(deep.as_bytes(), NESTING_MAX).unwrap_err().kind, ReadErrorKind::TooDeep);
}

#[test]
fn search_charset_return_and_uid() {
    let (uid, s) = search("a1 UID SEARCH CHARSET UTF-8 SUBJECT {5}\r\nf\u{fc}\u{df}");
    assert!(uid);
    assert_eq!(s.charset.as_deref(), Some("UTF-8"));
    assert_eq!(s.return_opts, None);
    assert_eq!(s.key, SearchKey::Subject("f\u{fc}\u{df}".to_owned()));
    let (_, s) = search("a1 SEARCH CHARSET \"ISO-8859-1\" SUBJECT {3}\r\nf\u{fc}");
    assert_eq!(s.charset.as_deref(), Some("ISO-8859-1"));
    assert!(matches!(s.key, SearchKey::Subject(_)), "strings in other charsets decode lossily");
    let (_, s) = search("a1 SEARCH RETURN (MIN MAX COUNT ALL SAVE) UNSEEN");
    assert_eq!(
        s.return_opts,
        Some(vec![
            SearchReturn::Min,
            SearchReturn::Max,
            SearchReturn::Count,
            SearchReturn::All,
            SearchReturn::Save
        ])
    );
    let (_, s) = search("a1 SEARCH RETURN () CHARSET UTF-8 ALL");
    assert_eq!(s.return_opts, Some(vec![]));
    assert_eq!(s.charset.as_deref(), Some("UTF-8"));
    let (_, s) = search("a1 SEARCH RETURN (COUNT COUNT) ALL");
    assert_eq!(s.return_opts, Some(vec![SearchReturn::Count]));
    bad("a1 SEARCH RETURN (FOO) ALL");
    bad("a1 SEARCH RETURN ALL");
    bad("a1 SEARCH CHARSET");
    bad("a1 SEARCH CHARSET UTF-8");
    bad_bytes(b"a1 SEARCH CHARSET UTF-8 SUBJECT {2}\r\n\xc3(");
}

// ----- FETCH -----

fn fetch(line: &str) -> (bool, SequenceSet, Vec<FetchAttr>, Vec<FetchModifier>) {
    match parse(line) {
        CommandBody::Fetch { uid, set, attrs, modifiers } => (uid, set, attrs, modifiers),
        other => panic!("not FETCH: {other:?}"),
    }
}

fn attrs(items: &str) -> Vec<FetchAttr> {
    fetch(&format!("a1 FETCH 1 {items}")).2
}

fn body(peek: bool, section: Section, partial: Option<(u32, u32)>) -> FetchAttr {
    FetchAttr::BodySection {
        peek,
        section,
        partial: partial.map(|(offset, length)| Partial { offset, length }),
    }
}

#[test]
fn fetch_macros_and_simple_items() {
    use FetchAttr::*;
    assert_eq!(attrs("FAST"), vec![Flags, InternalDate, Rfc822Size]);
    assert_eq!(attrs("all"), vec![Flags, InternalDate, Rfc822Size, Envelope]);
    assert_eq!(attrs("FULL"), vec![Flags, InternalDate, Rfc822Size, Envelope, Body]);
    assert_eq!(
        attrs(
            "(ENVELOPE FLAGS INTERNALDATE RFC822 RFC822.HEADER RFC822.SIZE RFC822.TEXT BODY BODYSTRUCTURE UID MODSEQ SAVEDATE)"
        ),
        vec![
            Envelope,
            Flags,
            InternalDate,
            Rfc822,
            Rfc822Header,
            Rfc822Size,
            Rfc822Text,
            Body,
            BodyStructure,
            Uid,
            ModSeq,
            SaveDate
        ]
    );
    assert_eq!(attrs("uid"), vec![Uid]);
    for items in [
        "(ALL)",
        "(FAST FLAGS)",
        "()",
        "FOO",
        "(FLAGS",
        "(FLAGS )",
        "FLAGS)",
        "BODY.PEEK",
        "UID[]",
        "ENVELOPE<0.1>",
    ] {
        bad(&format!("a1 FETCH 1 {items}"));
    }
    bad("a1 FETCH 1");
    bad("a1 FETCH FLAGS");
}

#[test]
fn fetch_sections_and_partials() {
    use SectionText::*;
    let fields = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>();
    let cases = [
        ("BODY[]", body(false, Section::Full, None)),
        ("BODY.PEEK[]<0.2048>", body(true, Section::Full, Some((0, 2048)))),
        ("BODY[HEADER]", body(false, Section::Text(Header), None)),
        ("body.peek[text]", body(true, Section::Text(Text), None)),
        ("BODY[1]", body(false, Section::Part(vec![1], None), None)),
        ("BODY[1.2.3]<10.5>", body(false, Section::Part(vec![1, 2, 3], None), Some((10, 5)))),
        ("BODY[1.2.HEADER]", body(false, Section::Part(vec![1, 2], Some(Header)), None)),
        ("BODY[3.TEXT]", body(false, Section::Part(vec![3], Some(Text)), None)),
        ("BODY[4.MIME]", body(false, Section::Part(vec![4], Some(Mime)), None)),
        (
            "BODY.PEEK[HEADER.FIELDS (From To Subject Message-ID \"X-Odd\" {4}\r\nDate)]",
            body(
                true,
                Section::Text(HeaderFields(fields(&[
                    "From",
                    "To",
                    "Subject",
                    "Message-ID",
                    "X-Odd",
                    "Date",
                ]))),
                None,
            ),
        ),
        (
            "BODY[HEADER.FIELDS.NOT (Received)]",
            body(false, Section::Text(HeaderFieldsNot(fields(&["Received"]))), None),
        ),
        (
            "BODY[2.HEADER.FIELDS (subject)]<0.100>",
            body(false, Section::Part(vec![2], Some(HeaderFields(fields(&["subject"])))), Some((0, 100))),
        ),
        ("BINARY[]", FetchAttr::Binary { peek: false, part: vec![], partial: None }),
        (
            "BINARY.PEEK[1.2]<5.10>",
            FetchAttr::Binary {
                peek: true,
                part: vec![1, 2],
                partial: Some(Partial { offset: 5, length: 10 }),
            },
        ),
        ("BINARY.SIZE[3]", FetchAttr::BinarySize { part: vec![3] }),
        ("BINARY.SIZE[]", FetchAttr::BinarySize { part: vec![] }),
    ];
    for (items, expected) in cases {
        assert_eq!(attrs(items), vec![expected], "{items}");
    }
    for items in [
        "BODY[MIME]",
        "BODY[0]",
        "BODY[1.0]",
        "BODY[1.]",
        "BODY[FOO]",
        "BODY[HEADER.FIELDS]",
        "BODY[HEADER.FIELDS ()]",
        "BODY[HEADER.FIELDS (a]",
        "BODY[HEADER.FIELDS.NOT x]",
        "BODY[]<0>",
        "BODY[]<0.0>",
        "BODY[]<x.1>",
        "BODY[]<0.1",
        "BODY[",
        "BODY[1",
        "BINARY[TEXT]",
        "BINARY[1.MIME]",
        "BINARY.SIZE[1]<0.1>",
        "BINARY",
        "BODY[]<4294967296.1>",
    ] {
        bad(&format!("a1 FETCH 1 {items}"));
    }
}

#[test]
fn fetch_modifiers_and_uid_fetch() {
    let (uid, s, a, m) = fetch("a1 UID FETCH 300:500 (FLAGS) (CHANGEDSINCE 12345 VANISHED)");
    assert!(uid);
    assert_eq!(s, set(&[(300, 500)]));
    assert_eq!(a, vec![FetchAttr::Flags]);
    assert_eq!(m, vec![FetchModifier::ChangedSince(12345), FetchModifier::Vanished]);
    let (uid, s, _, m) = fetch("a1 FETCH $ FLAGS (changedsince 1)");
    assert!(!uid);
    assert_eq!(s, SequenceSet::Saved);
    assert_eq!(m, vec![FetchModifier::ChangedSince(1)]);
    let (_, _, a, _) = fetch(
        "a1 UID FETCH 1:* (UID RFC822.SIZE FLAGS BODY.PEEK[HEADER.FIELDS (From To Cc Bcc Subject Date Message-ID Priority X-Priority References Newsgroups In-Reply-To Content-Type Reply-To)])",
    );
    assert_eq!(a.len(), 4);
    bad("a1 FETCH 1 FLAGS (VANISHED CHANGEDSINCE 1)");
    bad("a1 UID FETCH 1 FLAGS (VANISHED)");
    bad("a1 UID FETCH 1 FLAGS (CHANGEDSINCE 0)");
    bad("a1 UID FETCH 1 FLAGS (CHANGEDSINCE 1 CHANGEDSINCE 2)");
    bad("a1 UID FETCH 1 FLAGS (FOO)");
    bad("a1 UID FETCH 1 FLAGS ()");
    bad("a1 UID FETCH 1 FLAGS (CHANGEDSINCE 9223372036854775808)");
    assert!(matches!(
        fetch("a1 UID FETCH 1 FLAGS (CHANGEDSINCE 9223372036854775807)").3[..],
        [FetchModifier::ChangedSince(9_223_372_036_854_775_807)]
    ));
}

// ----- STORE -----

#[test]
fn store_forms() {
    let store = |line: &str| match parse(line) {
        CommandBody::Store { uid, set, mode, silent, flags, unchanged_since } => {
            (uid, set, mode, silent, flags, unchanged_since)
        }
        other => panic!("not STORE: {other:?}"),
    };
    assert_eq!(
        store("a1 STORE 2:4 +FLAGS (\\Deleted)"),
        (false, set(&[(2, 4)]), StoreMode::Add, false, vec![Flag::Deleted], None)
    );
    assert_eq!(
        store("a1 UID STORE 1 -flags.silent \\Seen $Junk \\Foo"),
        (
            true,
            set(&[(1, 1)]),
            StoreMode::Remove,
            true,
            vec![Flag::Seen, Flag::Keyword("$Junk".to_owned()), Flag::Extension("\\Foo".to_owned())],
            None
        )
    );
    assert_eq!(
        store("a1 STORE * FLAGS ()"),
        (false, set(&[(0, 0)]), StoreMode::Replace, false, vec![], None)
    );
    assert_eq!(
        store(
            "a1 UID STORE $ (UNCHANGEDSINCE 320162338) +FLAGS.SILENT (\\answered \\FLAGGED \\draft \\recent)"
        ),
        (
            true,
            SequenceSet::Saved,
            StoreMode::Add,
            true,
            vec![Flag::Answered, Flag::Flagged, Flag::Draft, Flag::Recent],
            Some(320162338)
        )
    );
    assert_eq!(store("a1 STORE 1 (UNCHANGEDSINCE 0) FLAGS ()").5, Some(0));
    for line in [
        "a1 STORE 1 FLAGS",
        "a1 STORE 1 FLAGS (\\Seen",
        "a1 STORE 1 +FLAGS (\\*)",
        "a1 STORE 1 *FLAGS (\\Seen)",
        "a1 STORE 1 FLAGS.LOUD (\\Seen)",
        "a1 STORE 1 (UNCHANGEDSINCE) FLAGS ()",
        "a1 STORE 1 (FOO 1) FLAGS ()",
        "a1 STORE 1 FLAGS (\\)",
        "a1 STORE 1 FLAGS (\"x\")",
        "a1 STORE FLAGS (\\Seen)",
    ] {
        bad(line);
    }
}

#[test]
fn flags_parse_and_print() {
    for (text, flag) in [
        ("\\Seen", Flag::Seen),
        ("\\ANSWERED", Flag::Answered),
        ("\\flagged", Flag::Flagged),
        ("\\Deleted", Flag::Deleted),
        ("\\Draft", Flag::Draft),
        ("\\Recent", Flag::Recent),
        ("$Forwarded", Flag::Keyword("$Forwarded".to_owned())),
        ("\\X-Ext", Flag::Extension("\\X-Ext".to_owned())),
    ] {
        assert_eq!(Flag::parse(text), Some(flag.clone()), "{text}");
    }
    assert_eq!(Flag::Seen.to_string(), "\\Seen");
    assert_eq!(Flag::parse("\\SEEN").unwrap().to_string(), "\\Seen");
    assert_eq!(Flag::Keyword("$Junk".to_owned()).to_string(), "$Junk");
    for text in ["", "\\", "a b", "a(", "\\*", "\u{e9}", "a]", "\\\\x"] {
        assert_eq!(Flag::parse(text), None, "{text:?}");
    }
}

#[test]
fn append_alone_is_refused_by_the_parser() {
    // The reader streams APPEND; without a message literal it is a syntax error.
    assert!(bad("a1 APPEND INBOX").contains("message literal"));
    assert!(DateTime::parse("17-Jul-1996 02:44:25 -0700").is_some());
}
