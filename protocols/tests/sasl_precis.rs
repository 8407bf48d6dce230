//! RFC 8265 §4.2 OpaqueString preparation: the RFC 8265 §4.3 examples, fullwidth
//! characters kept (not folded as SASLprep's NFKC did), space mapping, NFC, refused
//! controls and other disallowed code points, and that derivation uses the prepared form.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use moxide_protocols::sasl::{
    PASSWORD_BYTES_MAX, SaslError, derive_cram_md5, derive_scram_sha256, prepare_password,
};

#[test]
fn rfc_8265_examples() {
    assert_eq!(prepare_password("correct horse battery staple").unwrap(), "correct horse battery staple");
    assert_eq!(prepare_password("Correct Horse Battery Staple").unwrap(), "Correct Horse Battery Staple");
    assert_eq!(prepare_password("\u{3C0}\u{DF}\u{E5}").unwrap(), "\u{3C0}\u{DF}\u{E5}");
    assert_eq!(prepare_password("Jack of \u{2666}s").unwrap(), "Jack of \u{2666}s");
    assert_eq!(prepare_password("foo\u{1680}bar").unwrap(), "foo bar");
    assert_eq!(prepare_password(""), Err(SaslError::Precis("empty string")));
    assert_eq!(prepare_password("my cat is a \u{9}by"), Err(SaslError::Precis("control character")));
}

#[test]
fn fullwidth_is_kept_not_folded() {
    let fullwidth = "\u{FF30}\u{FF41}\u{FF53}\u{FF53}"; // "Ｐａｓｓ"
    assert_eq!(prepare_password(fullwidth).unwrap(), fullwidth);
    assert_ne!(prepare_password(fullwidth).unwrap(), "Pass");
    // Halfwidth katakana stays halfwidth too.
    assert_eq!(prepare_password("\u{FF76}\u{FF80}").unwrap(), "\u{FF76}\u{FF80}");
}

#[test]
fn spaces_map_to_ascii_space() {
    for space in
        ['\u{A0}', '\u{1680}', '\u{2000}', '\u{2007}', '\u{200A}', '\u{202F}', '\u{205F}', '\u{3000}']
    {
        assert_eq!(prepare_password(&format!("a{space}b")).unwrap(), "a b", "U+{:04X}", u32::from(space));
    }
    assert_eq!(prepare_password(" ").unwrap(), " ");
}

#[test]
fn nfc_is_applied() {
    assert_eq!(prepare_password("e\u{301}").unwrap(), "\u{E9}");
    assert_eq!(prepare_password("\u{212B}").unwrap(), "\u{C5}"); // ANGSTROM SIGN
    // Compatibility characters are not NFKC-folded.
    assert_eq!(prepare_password("\u{FB01}").unwrap(), "\u{FB01}");
}

#[test]
fn controls_and_other_disallowed_code_points_are_refused() {
    for refused in [
        "tab\there",
        "nl\n",
        "del\u{7F}",
        "c1\u{85}",
        "nul\0",
        "soft\u{AD}hyphen",
        "zero\u{200B}width",
        "bom\u{FEFF}",
        "rtl\u{202E}",
        "line\u{2028}sep",
        "private\u{E000}",
        "nonchar\u{FFFE}",
        "variation\u{FE0F}",
        "tag\u{E0061}",
        "jamo\u{1100}",
        "format\u{600}",
    ] {
        assert!(matches!(prepare_password(refused), Err(SaslError::Precis(_))), "{refused:?}");
    }
}

#[test]
fn length_limit() {
    assert!(prepare_password(&"a".repeat(PASSWORD_BYTES_MAX)).is_ok());
    assert_eq!(prepare_password(&"a".repeat(PASSWORD_BYTES_MAX + 1)), Err(SaslError::TooLong));
}

#[test]
fn derivation_uses_the_prepared_password() {
    let salt = [9u8; 16];
    let spaced = derive_scram_sha256("foo\u{1680}bar", &salt, 4096).unwrap();
    assert_eq!(spaced, derive_scram_sha256("foo bar", &salt, 4096).unwrap());
    assert_eq!(derive_cram_md5("e\u{301}").unwrap(), derive_cram_md5("\u{E9}").unwrap());
    assert_eq!(derive_cram_md5("a\u{7}"), Err(SaslError::Precis("control character")));
}
