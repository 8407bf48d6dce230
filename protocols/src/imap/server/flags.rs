//! Flags (RFC 9051 §2.3.2): a client's flag list to system bits and keywords, a message's
//! flags to the list FETCH writes, and the keywords a session has announced with FLAGS
//! and PERMANENTFLAGS (RFC 3501 §7.2.6, RFC 9051 §7.3.5: a client learns the mailbox's
//! flags from FLAGS, so a keyword must be announced before a FETCH shows it).

use super::facts::SystemFlags;
use crate::imap::response::{ResponseCode, Status, write_flags_response, write_untagged_status};
use crate::imap::types::Flag;

/// Keywords listed in FLAGS even when no message carries them: the ones mail clients use
/// for junk training and forwarding state (RFC 5788 registry).
pub const WELL_KNOWN_KEYWORDS: &[&str] = &["$Forwarded", "$Junk", "$NotJunk", "$Phishing", "$MDNSent"];

/// Keywords one session announces in FLAGS beyond the well-known ones. Each new keyword
/// rewrites the whole FLAGS list, so the output for n keywords grows with n²; 256 covers
/// any real user's tags (Thunderbird's tag palette is a handful) while bounding a
/// mailbox made of generated keywords. Past it, keywords still show in FETCH but are not
/// added to FLAGS (`\*` in PERMANENTFLAGS tells the client any keyword may appear).
pub const ANNOUNCED_KEYWORDS_MAX: usize = 256;

/// System flags and keywords from a STORE/APPEND flag list. `\Recent` cannot be set by
/// clients (RFC 3501 §2.3.2) and is ignored; other backslash flags are refused.
pub(crate) fn split(flags: &[Flag]) -> Result<(SystemFlags, Vec<String>), String> {
    let mut system = SystemFlags::default();
    let mut keywords: Vec<String> = Vec::new();
    for flag in flags {
        match flag {
            Flag::Recent => {}
            Flag::Keyword(keyword) => {
                if !keywords.iter().any(|k| k.eq_ignore_ascii_case(keyword)) {
                    keywords.push(keyword.clone());
                }
            }
            Flag::Extension(name) => return Err(format!("flag {name} cannot be set")),
            system_flag => {
                if let Some((bit, _)) = SystemFlags::named().into_iter().find(|(_, f)| f == system_flag) {
                    system = system.union(bit);
                }
            }
        }
    }
    Ok((system, keywords))
}

/// A message's flag list as FETCH writes it: system flags, `\Recent` (IMAP4rev1 sessions
/// that hold the message as recent), keywords.
pub(crate) fn join<'k>(
    system: SystemFlags,
    recent: bool,
    keywords: impl IntoIterator<Item = &'k str>,
) -> Vec<Flag> {
    let mut flags: Vec<Flag> = SystemFlags::named()
        .into_iter()
        .filter(|(bit, _)| system.contains(*bit))
        .map(|(_, flag)| flag)
        .collect();
    if recent {
        flags.push(Flag::Recent);
    }
    flags.extend(keywords.into_iter().map(|k| Flag::Keyword(k.to_owned())));
    flags
}

/// The keywords a session told its client about, for the selected mailbox.
#[derive(Debug, Clone, Default)]
pub(crate) struct Announced {
    keywords: Vec<String>,
}

impl Announced {
    fn known(&self, keyword: &str) -> bool {
        WELL_KNOWN_KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(keyword))
            || self.keywords.iter().any(|k| k.eq_ignore_ascii_case(keyword))
    }

    /// Writes FLAGS and `OK [PERMANENTFLAGS]` (SELECT, and whenever the list grows).
    pub(crate) fn write(&self, out: &mut Vec<u8>, read_only: bool) {
        let mut flags = join(SystemFlags::ALL, false, WELL_KNOWN_KEYWORDS.iter().copied());
        flags.extend(self.keywords.iter().map(|k| Flag::Keyword(k.clone())));
        write_flags_response(out, &flags);
        let permanent = if read_only {
            // RFC 9051 §7.1: no flag can be changed permanently in a read-only mailbox.
            ResponseCode::PermanentFlags(Vec::new())
        } else {
            flags.push(Flag::Extension("\\*".to_owned()));
            ResponseCode::PermanentFlags(flags)
        };
        write_untagged_status(out, Status::Ok, Some(&permanent), "flags permitted");
    }

    /// Adds the keywords of a message about to be shown; when any is new, writes the
    /// grown FLAGS list first (RFC 3501 §7.2.6).
    pub(crate) fn announce<'k>(
        &mut self,
        out: &mut Vec<u8>,
        read_only: bool,
        keywords: impl IntoIterator<Item = &'k str>,
    ) {
        let mut grew = false;
        for keyword in keywords {
            if !self.known(keyword) && self.keywords.len() < ANNOUNCED_KEYWORDS_MAX {
                self.keywords.push(keyword.to_owned());
                grew = true;
            }
        }
        if grew {
            self.write(out, read_only);
        }
    }
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
        assert_eq!(system, SystemFlags::SEEN);
        assert_eq!(keywords, vec!["$Junk".to_string()]);
        assert_eq!(
            join(system, false, keywords.iter().map(String::as_str)),
            vec![Flag::Seen, Flag::Keyword("$Junk".into())]
        );
        assert_eq!(join(SystemFlags::DELETED, true, []), vec![Flag::Deleted, Flag::Recent]);
        assert!(split(&[Flag::Extension("\\Foo".into())]).is_err());
    }

    #[test]
    fn new_keywords_are_announced_once() {
        let mut announced = Announced::default();
        let mut out = Vec::new();
        announced.announce(&mut out, false, ["$Junk", "$junk"]);
        assert!(out.is_empty(), "well-known keywords are in the first FLAGS");
        announced.announce(&mut out, false, ["Work", "work"]);
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(text.starts_with("* FLAGS (\\Seen "), "{text}");
        assert!(text.contains(" Work)\r\n* OK [PERMANENTFLAGS ("), "{text}");
        assert!(text.ends_with(" Work \\*)] flags permitted\r\n"), "{text}");
        out.clear();
        announced.announce(&mut out, false, ["WORK"]);
        assert!(out.is_empty());
    }
}
