//! Newtypes for the numbers of the store: message ids (ours), mailbox ids (ours), and the
//! IMAP numbers UID, MODSEQ and UIDVALIDITY (RFC 9051 §2.3.1.1, RFC 7162 §3.1).
//!
//! Fixed-width integers inside, never `usize`: they are written to disk and the wire.

use std::fmt;

macro_rules! number_newtype {
    ($(#[$doc:meta])* $name:ident($inner:ty)) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
        pub struct $name(pub $inner);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

number_newtype!(
    /// An account-wide message id, allocated in increasing order from 1 and never reused.
    /// It names the message file (`msg/<id >> 12>/<id>`).
    MessageId(u64)
);
number_newtype!(
    /// An account-wide mailbox id, allocated in increasing order from 1, never reused.
    MailboxId(u32)
);
number_newtype!(
    /// An IMAP UID: per mailbox, strictly ascending from 1 (RFC 9051 §2.3.1.1).
    Uid(u32)
);
number_newtype!(
    /// A CONDSTORE mod-sequence (RFC 7162 §3.1): one counter per account, starting at 1.
    ModSeq(u64)
);
number_newtype!(
    /// A mailbox's UIDVALIDITY (RFC 9051 §2.3.1.1); differs for every mailbox ever created
    /// in the account.
    UidValidity(u32)
);

impl MessageId {
    /// Directory level of the message file: 4096 files per directory at most.
    pub const fn dir_index(self) -> u64 {
        self.0 >> MESSAGE_DIR_SHIFT
    }
}

/// `msg/<id >> MESSAGE_DIR_SHIFT>/<id>`: 2^12 = 4096 files per directory keeps directory
/// scans and ext4 htree lookups cheap while a million messages still fit in 245 dirs.
pub(crate) const MESSAGE_DIR_SHIFT: u32 = 12;
