//! IMAP system flags as bits (RFC 9051 §2.3.2: \Seen \Answered \Flagged \Deleted \Draft)
//! and special-use mailbox attributes (RFC 6154 §2).
//!
//! Keywords are not bits: they are stored per message as strings (see
//! [`crate::KEYWORDS_PER_MESSAGE_MAX`]). \Recent is gone in IMAP4rev2 and not stored.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

/// A set of IMAP system flags. Bits outside [`Flags::ALL`] are refused by the store.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default)]
pub struct Flags(pub u32);

/// Flag bits with their IMAP names, in the order IMAP servers usually list them.
const FLAG_NAMES: [(Flags, &str); 5] = [
    (Flags::SEEN, "\\Seen"),
    (Flags::ANSWERED, "\\Answered"),
    (Flags::FLAGGED, "\\Flagged"),
    (Flags::DELETED, "\\Deleted"),
    (Flags::DRAFT, "\\Draft"),
];

impl Flags {
    /// `\Seen`: the message has been read.
    pub const SEEN: Flags = Flags(1);
    /// `\Answered`: the message has been answered.
    pub const ANSWERED: Flags = Flags(1 << 1);
    /// `\Flagged`: marked urgent or special.
    pub const FLAGGED: Flags = Flags(1 << 2);
    /// `\Deleted`: to be removed by a later EXPUNGE.
    pub const DELETED: Flags = Flags(1 << 3);
    /// `\Draft`: not completed composition.
    pub const DRAFT: Flags = Flags(1 << 4);
    /// Every system flag.
    pub const ALL: Flags = Flags(0b1_1111);

    /// No flag.
    pub const fn empty() -> Self {
        Flags(0)
    }

    /// True when no bit is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// True when every flag of `other` is in `self`.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Flags in either set.
    pub const fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// Flags of `self` that are not in `other`.
    pub const fn difference(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }

    /// Flags in both sets.
    pub const fn intersection(self, other: Flags) -> Flags {
        Flags(self.0 & other.0)
    }

    /// True when only system flag bits are set.
    pub const fn is_valid(self) -> bool {
        self.difference(Flags::ALL).is_empty()
    }

    /// The IMAP names of the flags set, e.g. `\Seen`.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        FLAG_NAMES.into_iter().filter(move |(flag, _)| self.contains(*flag)).map(|(_, name)| name)
    }

    /// The flag with this IMAP name, compared case-insensitively (RFC 9051 §2.3.2);
    /// `None` for keywords and unknown system flags.
    pub fn from_name(name: &str) -> Option<Flags> {
        FLAG_NAMES.into_iter().find(|(_, known)| known.eq_ignore_ascii_case(name)).map(|(flag, _)| flag)
    }
}

impl BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        self.union(rhs)
    }
}

impl BitOrAssign for Flags {
    fn bitor_assign(&mut self, rhs: Flags) {
        *self = self.union(rhs);
    }
}

impl fmt::Display for Flags {
    /// Space-separated IMAP names, as in a FLAGS response list.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, name) in self.names().enumerate() {
            if index > 0 {
                f.write_str(" ")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

/// A special-use mailbox attribute (RFC 6154 §2). More (`\All`, `\Flagged`, `\Important`)
/// may come, hence non-exhaustive.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
#[non_exhaustive]
pub enum SpecialUse {
    /// `\Sent`: copies of messages sent.
    Sent,
    /// `\Drafts`: messages being composed.
    Drafts,
    /// `\Archive`: archived messages.
    Archive,
    /// `\Trash`: messages the user deleted.
    Trash,
    /// `\Junk`: messages judged spam.
    Junk,
}

impl SpecialUse {
    /// The IMAP attribute, e.g. `\Sent`.
    pub const fn attribute(self) -> &'static str {
        match self {
            SpecialUse::Sent => "\\Sent",
            SpecialUse::Drafts => "\\Drafts",
            SpecialUse::Archive => "\\Archive",
            SpecialUse::Trash => "\\Trash",
            SpecialUse::Junk => "\\Junk",
        }
    }

    /// The use named by an IMAP attribute, compared case-insensitively.
    pub fn from_attribute(attribute: &str) -> Option<SpecialUse> {
        SPECIAL_USES.into_iter().find(|known| known.attribute().eq_ignore_ascii_case(attribute))
    }

    /// The byte stored in mailbox records (0 means none). Part of the schema: never renumber.
    pub(crate) const fn code(self) -> u8 {
        match self {
            SpecialUse::Sent => 1,
            SpecialUse::Drafts => 2,
            SpecialUse::Archive => 3,
            SpecialUse::Trash => 4,
            SpecialUse::Junk => 5,
        }
    }

    /// Inverse of [`SpecialUse::code`]; `Ok(None)` for 0, `Err` for an unknown code.
    pub(crate) fn from_code(code: u8) -> Result<Option<SpecialUse>, u8> {
        if code == 0 {
            return Ok(None);
        }
        SPECIAL_USES.into_iter().find(|known| known.code() == code).map(Some).ok_or(code)
    }
}

/// Every special use, for lookups.
const SPECIAL_USES: [SpecialUse; 5] =
    [SpecialUse::Sent, SpecialUse::Drafts, SpecialUse::Archive, SpecialUse::Trash, SpecialUse::Junk];
