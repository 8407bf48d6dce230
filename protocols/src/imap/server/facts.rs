//! What the storage side tells the session, and what it gets asked to do: plain values
//! with no storage type in them (UIDs, flags as bits, keywords, sizes, dates, summaries),
//! so the session stays sans-IO and the caller converts from its own records.

use std::ops::RangeInclusive;

use super::uids::UidList;
use crate::imap::types::Flag;
use crate::mime::MessageSummary;

/// IMAP system flags as bits (RFC 9051 §2.3.2), the same bits the store uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SystemFlags(pub u8);

impl SystemFlags {
    /// `\Seen`.
    pub const SEEN: SystemFlags = SystemFlags(1);
    /// `\Answered`.
    pub const ANSWERED: SystemFlags = SystemFlags(1 << 1);
    /// `\Flagged`.
    pub const FLAGGED: SystemFlags = SystemFlags(1 << 2);
    /// `\Deleted`.
    pub const DELETED: SystemFlags = SystemFlags(1 << 3);
    /// `\Draft`.
    pub const DRAFT: SystemFlags = SystemFlags(1 << 4);
    /// Every system flag.
    pub const ALL: SystemFlags = SystemFlags(0b1_1111);

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: SystemFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Flags in either.
    #[must_use]
    pub fn union(self, other: SystemFlags) -> SystemFlags {
        SystemFlags(self.0 | other.0)
    }

    /// The flags with their IMAP names, in the order they are listed.
    pub(crate) fn named() -> [(SystemFlags, Flag); 5] {
        [
            (SystemFlags::SEEN, Flag::Seen),
            (SystemFlags::ANSWERED, Flag::Answered),
            (SystemFlags::FLAGGED, Flag::Flagged),
            (SystemFlags::DELETED, Flag::Deleted),
            (SystemFlags::DRAFT, Flag::Draft),
        ]
    }
}

/// One message as the index knows it.
#[derive(Debug, Clone, Copy)]
pub struct MessageFacts<'a> {
    /// Its UID.
    pub uid: u32,
    /// Its mod-sequence (RFC 7162).
    pub modseq: u64,
    /// System flags.
    pub flags: SystemFlags,
    /// Keywords, as stored.
    pub keywords: &'a [&'a str],
    /// INTERNALDATE, Unix milliseconds.
    pub internal_date_ms: i64,
    /// SAVEDATE (RFC 8514), Unix milliseconds.
    pub save_date_ms: i64,
    /// Length of the message file.
    pub file_bytes: u64,
    /// Header lines added at delivery, served before the file.
    pub prefix: &'a [u8],
    /// The store's id of the message, from which its EMAILID is made (RFC 8474 §5.1,
    /// [`super::objectid::email_id`]).
    pub email_id: u64,
}

impl MessageFacts<'_> {
    /// RFC822.SIZE: the prefix and the file.
    pub fn served_size(&self) -> u64 {
        self.file_bytes.saturating_add(self.prefix.len() as u64)
    }
}

/// A message for FETCH: its facts, its summary when the plan needs one, and the parts of
/// its file the caller loaded into memory (see [`super::FetchPlan::reads`]).
#[derive(Debug, Clone, Copy)]
pub struct FetchMessage<'a> {
    /// The index facts.
    pub facts: MessageFacts<'a>,
    /// The MIME summary (ENVELOPE, BODYSTRUCTURE, section ranges).
    pub summary: Option<&'a MessageSummary>,
    /// Loaded pieces of the file: (offset, bytes), in any order.
    pub loaded: &'a [(u64, &'a [u8])],
    /// The caller's name for the message's file, echoed in [`super::Output::File`]
    /// segments so the caller knows what to send.
    pub file: u64,
}

/// A message's flags after a change (STORE, or one seen in storage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagFact {
    /// The message.
    pub uid: u32,
    /// Its mod-sequence now.
    pub modseq: u64,
    /// System flags now.
    pub flags: SystemFlags,
    /// Keywords now.
    pub keywords: Vec<String>,
}

/// What SELECT/EXAMINE found (the answer to [`super::Event::Select`]).
#[derive(Debug, Clone, Default)]
pub struct MailboxSnapshot {
    /// The mailbox's name as stored (for the LIST response IMAP4rev2 wants).
    pub name: String,
    /// The key of its MAILBOXID ([`super::objectid::mailbox_key`], RFC 8474 §4).
    pub mailbox_key: u64,
    /// UIDVALIDITY.
    pub uidvalidity: u32,
    /// UIDNEXT.
    pub uidnext: u32,
    /// The mailbox's highest mod-sequence, as of the same read as `uids`.
    pub highest_modseq: u64,
    /// Its UIDs, ascending.
    pub uids: UidList,
    /// UID of the first message without `\Seen`, for IMAP4rev1's `[UNSEEN n]`.
    pub first_unseen: Option<u32>,
    /// UIDs this session claimed as `\Recent` (IMAP4rev1, read-write only).
    pub recent: Option<RangeInclusive<u32>>,
    /// For QRESYNC (RFC 7162 §3.2.5): UIDs expunged since the client's modseq, and
    /// messages changed since then.
    pub qresync: Option<QresyncFacts>,
}

/// Changes since a QRESYNC client's modseq.
#[derive(Debug, Clone, Default)]
pub struct QresyncFacts {
    /// UIDs expunged after the modseq.
    pub vanished: Vec<u32>,
    /// Messages changed after the modseq, with their flags.
    pub changed: Vec<FlagFact>,
}

/// What changed in the selected mailbox since the view's modseq (the answer to
/// [`super::Event::Sync`]).
#[derive(Debug, Clone, Default)]
pub struct MailboxChanges {
    /// The mailbox's highest mod-sequence, as of the same read.
    pub highest_modseq: u64,
    /// UIDs above the view's highest, ascending.
    pub added: Vec<u32>,
    /// UIDs of `added` this session claimed as `\Recent`.
    pub recent: Option<RangeInclusive<u32>>,
    /// UIDs expunged since (empty when expunges were not asked for).
    pub expunged: Vec<u32>,
    /// Messages whose flags changed since (empty when expunges were not asked for: flag
    /// updates and expunges are reported at the same points).
    pub changed: Vec<FlagFact>,
}

/// One mailbox for LIST and STATUS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MailboxFacts {
    /// The name as stored (UTF-8, `/`-delimited, INBOX upper case).
    pub name: String,
    /// Its special-use attribute (RFC 6154), e.g. `\Sent`.
    pub special_use: Option<&'static str>,
    /// MESSAGES.
    pub messages: u32,
    /// `\Recent` messages (only when asked for).
    pub recent: u32,
    /// UNSEEN.
    pub unseen: u32,
    /// DELETED (RFC 9051).
    pub deleted: u32,
    /// UIDNEXT.
    pub uidnext: u32,
    /// UIDVALIDITY.
    pub uidvalidity: u32,
    /// HIGHESTMODSEQ.
    pub highest_modseq: u64,
    /// SIZE (RFC 8438).
    pub size: u64,
    /// Bytes of the `\Deleted` messages (DELETED-STORAGE, RFC 9208 §4.4); filled only
    /// when asked for.
    pub deleted_bytes: u64,
    /// The key of its MAILBOXID ([`super::objectid::mailbox_key`], RFC 8474 §4).
    pub mailbox_key: u64,
}

/// The mailboxes and subscriptions of the account (the answer to
/// [`super::Event::List`]).
#[derive(Debug, Clone, Default)]
pub struct MailboxList {
    /// Every mailbox.
    pub mailboxes: Vec<MailboxFacts>,
    /// Subscribed names (they need not exist).
    pub subscriptions: Vec<String>,
}

/// What a STORE (or the implicit `\Seen` of a FETCH) did.
#[derive(Debug, Clone, Default)]
pub struct StoreOutcome {
    /// Messages that changed, with their new flags and modseq.
    pub changed: Vec<FlagFact>,
    /// UIDs that failed UNCHANGEDSINCE (RFC 7162 §3.1.3).
    pub failed: Vec<u32>,
    /// Messages that passed without changing, with their current flags (only when the
    /// request asked for them).
    pub unchanged: Vec<FlagFact>,
}

/// What COPY or MOVE did.
#[derive(Debug, Clone, Default)]
pub struct CopyOutcome {
    /// The destination's UIDVALIDITY.
    pub uidvalidity: u32,
    /// (source UID, destination UID), in source order.
    pub pairs: Vec<(u32, u32)>,
    /// MOVE: the source UIDs now gone.
    pub expunged: Vec<u32>,
}

/// What APPEND stored.
#[derive(Debug, Clone, Default)]
pub struct AppendOutcome {
    /// The mailbox's UIDVALIDITY.
    pub uidvalidity: u32,
    /// The new UIDs, in message order.
    pub uids: Vec<u32>,
}

/// Why authentication failed (the caller's authenticator decides).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthFailure {
    /// Wrong user or password: `NO [AUTHENTICATIONFAILED]`.
    BadCredentials,
    /// Too many failures from the client's network: `NO [UNAVAILABLE]`.
    RateLimited,
    /// The mechanism is not allowed on this connection: `NO [PRIVACYREQUIRED]`.
    MechanismUnavailable,
    /// The exchange was malformed: `BAD`.
    Malformed,
    /// A temporary failure on our side: `NO [UNAVAILABLE]`.
    Temporary,
}

/// One SEARCH match: the UID and its modseq (for RFC 7162 §3.1.5's MODSEQ).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SearchHit {
    /// The message.
    pub uid: u32,
    /// Its mod-sequence.
    pub modseq: u64,
}
