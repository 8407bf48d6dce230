//! Modified UTF-7 (RFC 3501 §5.1.3): the RFC's examples, round trips, and the
//! non-canonical and malformed forms that must be refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use moxide_protocols::imap::Utf7Error;
use moxide_protocols::imap::utf7::{decode, encode};

#[test]
fn rfc_3501_example() {
    // RFC 3501 §5.1.3: "~peter/mail/台北/日本語".
    let name = "~peter/mail/\u{53f0}\u{5317}/\u{65e5}\u{672c}\u{8a9e}";
    assert_eq!(encode(name), "~peter/mail/&U,BTFw-/&ZeVnLIqe-");
    assert_eq!(decode("~peter/mail/&U,BTFw-/&ZeVnLIqe-").unwrap(), name);
}

#[test]
fn common_names() {
    let cases = [
        ("INBOX", "INBOX"),
        ("", ""),
        ("&", "&-"),
        ("A&B", "A&-B"),
        ("&&", "&-&-"),
        ("Entw\u{fc}rfe", "Entw&APw-rfe"),
        ("Gel\u{f6}schte Elemente", "Gel&APY-schte Elemente"),
        ("\u{417}\u{430}\u{43c}\u{435}\u{442}\u{43a}\u{438}", "&BBcEMAQ8BDUEQgQ6BDg-"),
        ("\u{1f4e7} mail", "&2D3c5w- mail"),
        ("tab\there", "tab&AAk-here"),
        ("\u{e9}&\u{e9}", "&AOk-&-&AOk-"),
    ];
    for (utf8, utf7) in cases {
        assert_eq!(encode(utf8), utf7, "{utf8:?}");
        assert_eq!(decode(utf7).as_deref(), Ok(utf8), "{utf7:?}");
    }
}

#[test]
fn round_trips_over_many_characters() {
    let mut name = String::new();
    for c in (0x20u32..0x3000).step_by(7).chain([0x1_0000, 0x1_f600, 0x10_ffff]).filter_map(char::from_u32) {
        name.push(c);
        let encoded = encode(&name);
        assert!(encoded.bytes().all(|b| (0x20..0x7f).contains(&b)), "{encoded:?}");
        assert_eq!(decode(&encoded).unwrap(), name);
    }
}

#[test]
fn non_canonical_and_malformed_forms_are_refused() {
    let cases = [
        ("&AGE-", Utf7Error::NotCanonical),      // "a" encoded
        ("&ACY-", Utf7Error::NotCanonical),      // "&" encoded instead of "&-"
        ("&AOQ-&AOQ-", Utf7Error::NotCanonical), // two shifts in a row
        ("&AOQ", Utf7Error::Unterminated),
        ("a&", Utf7Error::Unterminated),
        ("&AO-", Utf7Error::BadBase64),   // 12 bits: not a whole code unit
        ("&AOR-", Utf7Error::BadBase64),  // trailing bits not zero
        ("&AOQA-", Utf7Error::BadBase64), // an extra character
        ("&AO/k-", Utf7Error::BadBase64), // "/" is not in the modified alphabet
        ("&AOQ=-", Utf7Error::BadBase64), // no padding
        ("&2D0-", Utf7Error::BadUtf16),   // lone high surrogate
        ("&3sc-", Utf7Error::BadUtf16),   // lone low surrogate
        ("gr\u{fc}n", Utf7Error::NotPrintableAscii),
        ("a\tb", Utf7Error::NotPrintableAscii),
        ("a\0", Utf7Error::NotPrintableAscii),
    ];
    for (input, error) in cases {
        assert_eq!(decode(input), Err(error), "{input:?}");
    }
    // A shift after a plain "&-" is fine: "&-" is not a shift.
    assert_eq!(decode("&-&AOQ-").unwrap(), "&\u{e4}");
    assert_eq!(decode("&AOQ-x&AOQ-").unwrap(), "\u{e4}x\u{e4}");
}
