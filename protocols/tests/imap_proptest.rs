//! Property tests of the IMAP reader, parser and writer: garbage never panics, how the
//! input is cut never changes the events, what the writer produces parses back to the
//! same value (RFC 9051 §4.3 strings, RFC 3501 §5.1.3 mailbox names), and modified UTF-7
//! round-trips; URLAUTH URLs (RFC 4467) never panic the parser and their MACs verify.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod imap_common;

use imap_common::drive;
use moxide_protocols::imap::utf7;
use moxide_protocols::imap::{
    CommandBody, NESTING_MAX, ReaderConfig, SequenceSet, format_uid_set, parse_command, write_astring,
    write_mailbox,
};
use proptest::prelude::*;

/// Pieces of client traffic that reach every reader state.
fn token() -> impl Strategy<Value = Vec<u8>> {
    let fixed: Vec<&'static [u8]> = vec![
        b"a1 NOOP\r\n",
        b"a2 LOGIN {5}\r\nalice {6+}\r\nsecret\r\n",
        b"a3 SELECT INBOX (QRESYNC (1 2 1:5))\r\n",
        b"a4 UID FETCH 1:* (FLAGS BODY.PEEK[HEADER.FIELDS (From To)]) (CHANGEDSINCE 5 VANISHED)\r\n",
        b"a5 SEARCH RETURN (MIN COUNT) OR (SEEN FROM {3+}\r\nbob) NOT 1:3\r\n",
        b"a6 APPEND INBOX (\\Seen) {5}\r\nhello\r\n",
        b"a7 APPEND Reject1 {3+}\r\none {3+}\r\ntwo\r\n",
        b"a8 APPEND INBOX UTF8 (~{3}\r\na\0b)\r\n",
        b"a9 IDLE\r\n",
        b"DONE\r\n",
        b"b1 AUTHENTICATE PLAIN\r\n",
        b"AGFsaWNlAHNlY3JldA==\r\n",
        b"*\r\n",
        b"b2 LIST (SUBSCRIBED RECURSIVEMATCH) \"\" (* %) RETURN (STATUS (MESSAGES))\r\n",
        b"b3 STORE 1 (UNCHANGEDSINCE 3) +FLAGS.SILENT (\\Seen $Junk)\r\n",
        b"{5}\r\n",
        b"{3+}\r\n",
        b"~{2+}\r\n",
        b"{99999}\r\n",
        b"((((((",
        b"\r\n",
        b"\n",
        b"\r",
        b"\0\xff",
        b" ",
    ];
    prop_oneof![
        30 => proptest::sample::select(fixed).prop_map(<[u8]>::to_vec),
        10 => proptest::collection::vec(any::<u8>(), 0..30),
    ]
}

fn traffic() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(token(), 0..20).prop_map(|tokens| tokens.concat())
}

fn small() -> ReaderConfig {
    ReaderConfig {
        line_bytes_max: 80,
        literal_bytes_max: 8,
        append_bytes_max: 16,
        nesting_max: 4,
        command_literals_max: 3,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn cutting_never_changes_events(input in traffic(), piece in 1usize..12) {
        for config in [ReaderConfig::default(), small()] {
            let whole = drive(&config, &input, input.len());
            let cut = drive(&config, &input, piece);
            prop_assert_eq!(whole, cut);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..2000), piece in 1usize..64) {
        drive(&small(), &input, piece);
        drive(&ReaderConfig::default(), &input, piece);
        let _ = parse_command(&input, NESTING_MAX);
    }

    #[test]
    fn astrings_parse_back(s in "\\PC*") {
        let mut line = b"a1 LOGIN ".to_vec();
        write_astring(&mut line, &s);
        line.extend_from_slice(b" x");
        let command = parse_command(&line, NESTING_MAX).unwrap();
        prop_assert_eq!(command.body, CommandBody::Login { username: s, password: "x".to_owned() });
    }

    #[test]
    fn mailbox_names_parse_back(name in "\\PC*", utf8 in any::<bool>()) {
        let mut line = b"a1 DELETE ".to_vec();
        write_mailbox(&mut line, &name, utf8);
        let command = parse_command(&line, NESTING_MAX).unwrap();
        let CommandBody::Delete { mailbox } = command.body else { panic!("not DELETE") };
        let decoded = if utf8 { mailbox } else { utf7::decode(&mailbox).unwrap() };
        let expected = if name.eq_ignore_ascii_case("INBOX") { "INBOX".to_owned() } else { name };
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn utf7_round_trips(s in "\\PC*") {
        let encoded = utf7::encode(&s);
        prop_assert_eq!(utf7::decode(&encoded).unwrap(), s);
    }

    #[test]
    fn utf7_decode_accepts_only_canonical_forms(s in "[ -~]{0,24}") {
        if let Ok(decoded) = utf7::decode(&s) {
            prop_assert_eq!(utf7::encode(&decoded), s);
        }
    }

    #[test]
    fn uid_sets_parse_back(mut uids in proptest::collection::vec(1u32.., 1..40)) {
        uids.sort_unstable();
        uids.dedup();
        let text = format_uid_set(&uids);
        let command = parse_command(format!("a1 UID EXPUNGE {text}").as_bytes(), NESTING_MAX).unwrap();
        let CommandBody::UidExpunge(set) = command.body else { panic!("not UID EXPUNGE") };
        prop_assert!(matches!(set, SequenceSet::Ranges(_)));
        let listed: Vec<u32> = set.resolve(u32::MAX).into_iter().flatten().collect();
        prop_assert_eq!(listed, uids);
    }
}

/// Pieces of URLAUTH URLs (RFC 4467 §3), valid and not.
fn url_piece() -> impl Strategy<Value = String> {
    let fixed = vec![
        "imap://",
        "mox%40localhost",
        "@",
        "mx.example",
        ":143",
        "/",
        "INBOX",
        ";UIDVALIDITY=7",
        "/;UID=",
        "1",
        "0",
        "/;SECTION=1.2.MIME",
        "/;PARTIAL=3.4",
        ";EXPIRE=2030-01-01T00:00:00Z",
        ";URLAUTH=",
        "authuser",
        "user+bob",
        "submit+",
        "anonymous",
        ":INTERNAL:",
        "00112233445566778899aabbccddeeff",
        "%",
        ";",
        ":",
        "\u{e9}",
    ];
    prop_oneof![
        20 => proptest::sample::select(fixed).prop_map(str::to_owned),
        5 => "[ -~]{0,8}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any text parses or is refused without a panic; what parses as a rump signs and
    /// verifies, and any other MAC fails.
    #[test]
    fn urlauth_urls_never_panic_and_macs_verify(pieces in proptest::collection::vec(url_piece(), 0..16)) {
        use moxide_protocols::imap::url::{parse_auth_url, urlauth_mac, urlauth_verify};
        let url = pieces.concat();
        if let Ok(parsed) = parse_auth_url(&url) {
            let mac = urlauth_mac(b"key", &parsed.rump);
            prop_assert!(urlauth_verify(b"key", &parsed.rump, &mac));
            prop_assert!(!urlauth_verify(b"yek", &parsed.rump, &mac));
            let signed = format!("{}:INTERNAL:{mac}", parsed.rump);
            let again = parse_auth_url(&signed);
            if parsed.mac.is_none() {
                let again = again.unwrap();
                prop_assert_eq!(&again.rump, &parsed.rump);
                prop_assert!(urlauth_verify(b"key", &again.rump, &again.mac.unwrap().1));
            }
        }
    }
}
