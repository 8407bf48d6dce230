//! IMAP flags (RFC 9051 §2.3.2) to and from the store's system-flag bits and keywords.

use moxide_protocols::imap::Flag;
use moxide_storage::Flags;

/// Keywords we list in FLAGS as known even when no message carries them: the ones mail
/// clients use for junk training and forwarding state (RFC 5788 registry).
pub(crate) const WELL_KNOWN_KEYWORDS: &[&str] = &["$Forwarded", "$Junk", "$NotJunk", "$Phishing", "$MDNSent"];

/// System flags and keywords from a STORE/APPEND flag list. `\Recent` cannot be set by
/// clients (RFC 3501 §2.3.2) and is ignored; other backslash flags are refused.
pub(crate) fn split(flags: &[Flag]) -> Result<(Flags, Vec<String>), String> {
    let mut system = Flags::empty();
    let mut keywords: Vec<String> = Vec::new();
    for flag in flags {
        match flag {
            Flag::Seen => system = system.union(Flags::SEEN),
            Flag::Answered => system = system.union(Flags::ANSWERED),
            Flag::Flagged => system = system.union(Flags::FLAGGED),
            Flag::Deleted => system = system.union(Flags::DELETED),
            Flag::Draft => system = system.union(Flags::DRAFT),
            Flag::Recent => {}
            Flag::Keyword(keyword) => {
                if !keywords.iter().any(|k| k.eq_ignore_ascii_case(keyword)) {
                    keywords.push(keyword.clone());
                }
            }
            Flag::Extension(name) => return Err(format!("flag {name} cannot be set")),
        }
    }
    Ok((system, keywords))
}

/// The flag list for a message.
pub(crate) fn join(system: Flags, keywords: impl IntoIterator<Item = impl Into<String>>) -> Vec<Flag> {
    let mut flags = Vec::new();
    for (bit, flag) in [
        (Flags::SEEN, Flag::Seen),
        (Flags::ANSWERED, Flag::Answered),
        (Flags::FLAGGED, Flag::Flagged),
        (Flags::DELETED, Flag::Deleted),
        (Flags::DRAFT, Flag::Draft),
    ] {
        if system.contains(bit) {
            flags.push(flag);
        }
    }
    flags.extend(keywords.into_iter().map(|k| Flag::Keyword(k.into())));
    flags
}

/// The FLAGS response list (RFC 9051 §7.3.5).
pub(crate) fn defined() -> Vec<Flag> {
    let mut flags = join(Flags::ALL, WELL_KNOWN_KEYWORDS.iter().copied());
    flags.retain(|f| !matches!(f, Flag::Recent));
    flags
}

/// The PERMANENTFLAGS list: everything above, plus `\*` (clients may create keywords).
pub(crate) fn permanent() -> Vec<Flag> {
    let mut flags = defined();
    flags.push(Flag::Extension("\\*".to_string()));
    flags
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn split_and_join_round_trip() {
        let (system, keywords) =
            split(&[Flag::Seen, Flag::Keyword("$Junk".into()), Flag::Keyword("$junk".into()), Flag::Recent])
                .unwrap();
        assert_eq!(system, Flags::SEEN);
        assert_eq!(keywords, vec!["$Junk".to_string()]);
        assert_eq!(join(system, keywords), vec![Flag::Seen, Flag::Keyword("$Junk".into())]);
        assert!(split(&[Flag::Extension("\\Foo".into())]).is_err());
    }
}
