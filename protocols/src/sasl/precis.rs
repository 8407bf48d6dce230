//! PRECIS OpaqueString (RFC 8265 §4.2) for passwords, and for user names when they are
//! compared or handed to the caller (the contract applies the same profile to both).
//!
//! Enforcement follows RFC 8264 §7's order:
//! 1. width mapping: none; RFC 8265 §4.2.2 says fullwidth and halfwidth code points
//!    MUST NOT be mapped (unlike SASLprep, RFC 4013, whose NFKC folded them);
//! 2. additional mapping: every non-ASCII space (general category Zs) becomes U+0020;
//! 3. case mapping: none; 4. normalization: NFC; 5. directionality: none;
//! 6. then every code point must be allowed by the FreeformClass (RFC 8264 §4.3), and
//!    the result must not be empty.
//!
//! What we decide with tables and what without: unassigned and private-use code points
//! are refused with `unicode-normalization`'s `is_public_assigned` table (its Unicode
//! version), controls with `char::is_control` (exactly category Cc). The other
//! disallowed sets are small and written out here: Default_Ignorable_Code_Point and
//! noncharacters (RFC 8264 §9.13), Old Hangul Jamo (§9.9), format characters (Cf) that
//! are not default-ignorable, the line and paragraph separators, and the RFC 5892 §2.6
//! exceptions. Join controls (CONTEXTJ, RFC 5892 Appendix A.1/A.2) are allowed only after
//! a virama; the Joining_Type part of the ZWNJ rule needs a table we do not have, so such
//! ZWNJ are refused (conservative: refusal when a password is set, never a false
//! match). A code point added to those written-out sets by a later Unicode version is
//! accepted until the list here is updated.
//!
//! Invariant: the output is NFC, non-empty, and made only of code points checked above;
//! preparing it again returns it unchanged.

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::{canonical_combining_class, is_public_assigned};

use super::error::SaslError;
use super::limits::{PASSWORD_BYTES_MAX, USERNAME_BYTES_MAX};

/// RFC 8265 OpaqueString preparation (enforcement) of a password: Zs spaces mapped to
/// U+0020, NFC, then FreeformClass checks (see the module doc for what is decided from
/// tables and what from written-out lists). Fullwidth characters are kept, not folded.
/// Every derivation and every PLAIN/LOGIN password goes through this, so the stored
/// argon2id hash must be made from this function's output too.
pub fn prepare_password(password: &str) -> Result<String, SaslError> {
    if password.len() > PASSWORD_BYTES_MAX {
        return Err(SaslError::TooLong);
    }
    opaque_string(password)
}

/// The same profile for a user name (authcid or authzid), with the user name limit.
pub(crate) fn prepare_username(name: &str) -> Result<String, SaslError> {
    if name.len() > USERNAME_BYTES_MAX {
        return Err(SaslError::TooLong);
    }
    opaque_string(name)
}

fn opaque_string(input: &str) -> Result<String, SaslError> {
    let spaced = input.chars().map(|c| if is_non_ascii_space(c) { ' ' } else { c });
    let normalized: String = spaced.nfc().collect();
    if normalized.is_empty() {
        return Err(SaslError::Precis("empty string"));
    }
    check_freeform(&normalized)?;
    Ok(normalized)
}

/// General category Zs other than U+0020 (a stable set: Unicode does not add spaces).
fn is_non_ascii_space(c: char) -> bool {
    matches!(c, '\u{A0}' | '\u{1680}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}')
}

/// RFC 8264 §8's derivation in its order, reduced to what can refuse a code point.
fn check_freeform(text: &str) -> Result<(), SaslError> {
    // Bounded by the length checks of the callers; context rules need both neighbours.
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let previous = i.checked_sub(1).and_then(|p| chars.get(p)).copied();
        let next = chars.get(i + 1).copied();
        if is_exception(c) {
            match exception_refusal(c, previous, next, &chars) {
                Some(reason) => return Err(SaslError::Precis(reason)),
                None => continue,
            }
        }
        if !is_public_assigned(c) {
            return Err(SaslError::Precis("unassigned or private-use code point"));
        }
        if c == '\u{200C}' || c == '\u{200D}' {
            // RFC 5892 Appendix A.1/A.2: a join control must follow a virama.
            if previous.is_none_or(|p| canonical_combining_class(p) != VIRAMA_COMBINING_CLASS) {
                return Err(SaslError::Precis("join control outside its context"));
            }
        } else if let Some(reason) = disallowed_reason(c) {
            return Err(SaslError::Precis(reason));
        }
    }
    Ok(())
}

/// Canonical_Combining_Class value of virama characters (RFC 5892 Appendix A.1).
const VIRAMA_COMBINING_CLASS: u8 = 9;

/// Sets RFC 8264 §8 maps to DISALLOWED before the valid categories are reached.
fn disallowed_reason(c: char) -> Option<&'static str> {
    if c.is_control() {
        Some("control character")
    } else if is_default_ignorable(c) {
        Some("default-ignorable code point")
    } else if is_old_hangul_jamo(c) {
        Some("old Hangul jamo")
    } else if is_other_format(c) || matches!(c, '\u{2028}' | '\u{2029}') {
        Some("format or separator character")
    } else {
        None
    }
}

/// Default_Ignorable_Code_Point (DerivedCoreProperties.txt), join controls excluded
/// because RFC 8264 §8 classifies them as CONTEXTJ first. Noncharacters, the other half
/// of PrecisIgnorableProperties, are unassigned and refused before this.
fn is_default_ignorable(c: char) -> bool {
    matches!(
        c,
        '\u{AD}'
            | '\u{34F}'
            | '\u{61C}'
            | '\u{115F}'..='\u{1160}'
            | '\u{17B4}'..='\u{17B5}'
            | '\u{180B}'..='\u{180F}'
            | '\u{200B}'
            | '\u{200E}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFF8}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0000}'..='\u{E0FFF}'
    )
}

/// Hangul_Syllable_Type L, V or T (RFC 8264 §9.9, OldHangulJamo).
fn is_old_hangul_jamo(c: char) -> bool {
    matches!(c, '\u{1100}'..='\u{11FF}' | '\u{A960}'..='\u{A97F}' | '\u{D7B0}'..='\u{D7FF}')
}

/// General category Cf code points that are not default-ignorable: no FreeformClass
/// category takes them, so RFC 8264 §8 ends in DISALLOWED.
fn is_other_format(c: char) -> bool {
    matches!(
        c,
        '\u{600}'..='\u{605}'
            | '\u{6DD}'
            | '\u{70F}'
            | '\u{890}'..='\u{891}'
            | '\u{8E2}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
    )
}

/// Code points with an RFC 5892 §2.6 exception value (RFC 8264 §9.6 includes them).
fn is_exception(c: char) -> bool {
    matches!(
        c,
        '\u{DF}'
            | '\u{3C2}'
            | '\u{6FD}'
            | '\u{6FE}'
            | '\u{F0B}'
            | '\u{3007}'
            | '\u{B7}'
            | '\u{375}'
            | '\u{5F3}'
            | '\u{5F4}'
            | '\u{30FB}'
            | '\u{660}'..='\u{669}'
            | '\u{6F0}'..='\u{6F9}'
            | '\u{640}'
            | '\u{7FA}'
            | '\u{302E}'
            | '\u{302F}'
            | '\u{3031}'..='\u{3035}'
            | '\u{303B}'
    )
}

/// The RFC 5892 §2.6 DISALLOWED exceptions and the CONTEXTO rules of RFC 5892
/// Appendix A.3–A.9 (some look at the neighbours, some at the whole string); `None` when
/// the exception code point `c` is allowed here.
fn exception_refusal(
    c: char,
    previous: Option<char>,
    next: Option<char>,
    all: &[char],
) -> Option<&'static str> {
    match c {
        '\u{640}' | '\u{7FA}' | '\u{302E}' | '\u{302F}' | '\u{3031}'..='\u{3035}' | '\u{303B}' => {
            Some("code point disallowed by exception")
        }
        // Middle dot only between two `l` (Catalan "l·l").
        '\u{B7}' => (previous != Some('l') || next != Some('l')).then_some("middle dot outside l·l"),
        '\u{375}' => next.is_none_or(|n| !is_greek(n)).then_some("keraia not before Greek"),
        '\u{5F3}' | '\u{5F4}' => {
            previous.is_none_or(|p| !is_hebrew(p)).then_some("geresh or gershayim not after Hebrew")
        }
        '\u{30FB}' => {
            (!all.iter().copied().any(is_japanese)).then_some("katakana middle dot without Japanese")
        }
        '\u{660}'..='\u{669}' => {
            all.iter().any(|d| ('\u{6F0}'..='\u{6F9}').contains(d)).then_some("mixed Arabic-Indic digit sets")
        }
        '\u{6F0}'..='\u{6F9}' => {
            all.iter().any(|d| ('\u{660}'..='\u{669}').contains(d)).then_some("mixed Arabic-Indic digit sets")
        }
        _ => None,
    }
}

/// Greek script, for RFC 5892 Appendix A.4 (the Greek and Greek Extended blocks).
fn is_greek(c: char) -> bool {
    matches!(c, '\u{370}'..='\u{3FF}' | '\u{1F00}'..='\u{1FFF}')
}

/// Hebrew script, for RFC 5892 Appendix A.5/A.6 (the Hebrew block and presentation forms).
fn is_hebrew(c: char) -> bool {
    matches!(c, '\u{591}'..='\u{5FF}' | '\u{FB1D}'..='\u{FB4F}')
}

/// Hiragana, Katakana or Han, for RFC 5892 Appendix A.7 (the katakana middle dot itself
/// excluded, since it is in the Katakana block).
fn is_japanese(c: char) -> bool {
    c != '\u{30FB}'
        && matches!(
            c,
            '\u{3040}'..='\u{30FF}'
                | '\u{31F0}'..='\u{31FF}'
                | '\u{3400}'..='\u{4DBF}'
                | '\u{4E00}'..='\u{9FFF}'
                | '\u{F900}'..='\u{FAFF}'
                | '\u{20000}'..='\u{3FFFF}'
        )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn exceptions_follow_their_context_rules() {
        assert_eq!(prepare_password("col·lega").unwrap(), "col·lega");
        assert!(prepare_password("co·lega").is_err());
        assert!(prepare_password("·l").is_err());
        assert!(prepare_password("l·ll·l").is_ok());
        assert!(prepare_password("l·l·x").is_err());
        assert!(prepare_password("a\u{640}b").is_err());
        assert!(prepare_password("\u{5D0}\u{5F3}").is_ok());
        assert!(prepare_password("a\u{5F3}").is_err());
        assert!(prepare_password("\u{375}\u{3B1}").is_ok());
        assert!(prepare_password("\u{375}a").is_err());
        assert!(prepare_password("\u{30AB}\u{30FB}").is_ok());
        assert!(prepare_password("a\u{30FB}").is_err());
        assert!(prepare_password("\u{660}\u{661}").is_ok());
        assert!(prepare_password("\u{660}\u{6F1}").is_err());
        assert_eq!(prepare_password("stra\u{DF}e").unwrap(), "stra\u{DF}e");
    }

    #[test]
    fn join_controls_need_a_virama() {
        // Devanagari KA, VIRAMA, ZWJ, SSA: the ZWJ follows a virama.
        assert!(prepare_password("\u{915}\u{94D}\u{200D}\u{937}").is_ok());
        assert!(prepare_password("a\u{200D}b").is_err());
        assert!(prepare_password("a\u{200C}b").is_err());
    }

    #[test]
    fn written_out_sets_are_refused() {
        for s in ["a\u{AD}b", "a\u{200B}", "\u{FEFF}x", "x\u{1100}", "x\u{600}", "x\u{2028}", "x\u{E0041}"] {
            assert!(prepare_password(s).is_err(), "{s:?}");
        }
        for s in ["\u{E000}", "\u{FDD0}", "\u{FFFF}", "\u{10FFFD}", "\u{50000}"] {
            assert_eq!(prepare_password(s), Err(SaslError::Precis("unassigned or private-use code point")));
        }
    }

    #[test]
    fn output_is_stable() {
        for s in ["e\u{301}t\u{E9}", "a\u{3000}b", "ＡＢＣ", "Jack of ♦s"] {
            let once = prepare_password(s).unwrap();
            assert_eq!(prepare_password(&once).unwrap(), once);
        }
    }
}
