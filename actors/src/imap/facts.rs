//! Store records to the session's storage-neutral facts, and the session's requests to
//! store types. System flag bits are the same on both sides (checked below).

use moxide_protocols::imap::server::{CommandError, FlagFact, MailboxFacts, MessageFacts, SystemFlags};
use moxide_protocols::imap::types::StoreMode;
use moxide_protocols::imap::{MetadataCode, ResponseCode};
use moxide_storage::{
    ArchivedMessageRecord, FlagOp, Flags, FlagsChanged, MailboxInfo, MessageInfo, StorageError,
};

use crate::account::AccountError;

// The session's flag bits are the store's.
const _: () = assert!(Flags::SEEN.0 == SystemFlags::SEEN.0 as u32);
const _: () = assert!(Flags::ANSWERED.0 == SystemFlags::ANSWERED.0 as u32);
const _: () = assert!(Flags::FLAGGED.0 == SystemFlags::FLAGGED.0 as u32);
const _: () = assert!(Flags::DELETED.0 == SystemFlags::DELETED.0 as u32);
const _: () = assert!(Flags::DRAFT.0 == SystemFlags::DRAFT.0 as u32);
const _: () = assert!(Flags::ALL.0 == SystemFlags::ALL.0 as u32);

pub(crate) fn system_flags(flags: Flags) -> SystemFlags {
    // Only the five flag bits exist (the store refuses others).
    SystemFlags((flags.0 & Flags::ALL.0) as u8)
}

pub(crate) fn store_flags(flags: SystemFlags) -> Flags {
    Flags(u32::from(flags.0))
}

pub(crate) fn flag_op(mode: StoreMode) -> FlagOp {
    match mode {
        StoreMode::Replace => FlagOp::Set,
        StoreMode::Add => FlagOp::Add,
        StoreMode::Remove => FlagOp::Remove,
    }
}

/// The facts of an archived record; `keywords` holds its keywords for the facts' life.
pub(crate) fn record_facts<'a>(
    record: &'a ArchivedMessageRecord,
    keywords: &'a [&'a str],
) -> MessageFacts<'a> {
    MessageFacts {
        uid: record.uid().0,
        modseq: record.modseq().0,
        flags: system_flags(record.flags()),
        keywords,
        internal_date_ms: record.received_ms(),
        save_date_ms: record.saved_ms(),
        file_bytes: record.size(),
        prefix: record.prefix(),
        email_id: record.id().0,
    }
}

/// The facts of an owned record.
pub(crate) fn info_facts<'a>(info: &'a MessageInfo, keywords: &'a [&'a str]) -> MessageFacts<'a> {
    MessageFacts {
        uid: info.uid.0,
        modseq: info.modseq.0,
        flags: system_flags(info.flags),
        keywords,
        internal_date_ms: info.received_ms,
        save_date_ms: info.saved_ms,
        file_bytes: info.size,
        prefix: &info.prefix,
        email_id: info.id.0,
    }
}

pub(crate) fn flag_fact(info: &MessageInfo) -> FlagFact {
    FlagFact {
        uid: info.uid.0,
        modseq: info.modseq.0,
        flags: system_flags(info.flags),
        keywords: info.keywords.clone(),
    }
}

pub(crate) fn changed_fact(change: FlagsChanged) -> FlagFact {
    FlagFact {
        uid: change.uid.0,
        modseq: change.modseq.0,
        flags: system_flags(change.flags),
        keywords: change.keywords,
    }
}

/// The key of a mailbox's MAILBOXID (RFC 8474 §4): its UIDVALIDITY and the store's id,
/// both from account-wide counters that never go back.
pub(crate) fn mailbox_key(info: &MailboxInfo) -> u64 {
    moxide_protocols::imap::server::objectid::mailbox_key(info.uidvalidity.0, info.id.0)
}

pub(crate) fn mailbox_facts(info: &MailboxInfo, recent: u32) -> MailboxFacts {
    MailboxFacts {
        name: info.name.clone(),
        special_use: info.special_use.map(|special| special.attribute()),
        messages: info.messages,
        recent,
        unseen: info.unseen,
        deleted: info.deleted,
        uidnext: info.uidnext.0,
        uidvalidity: info.uidvalidity.0,
        highest_modseq: info.highest_modseq.0,
        size: info.size_bytes,
        deleted_bytes: 0,
        mailbox_key: mailbox_key(info),
    }
}

/// The protocol error for a storage refusal; failures of ours are logged here and
/// become `NO [SERVERBUG]`.
pub(crate) fn storage_error(error: StorageError) -> CommandError {
    match error {
        StorageError::NoSuchMailbox => CommandError::no(ResponseCode::NonExistent, "no such mailbox"),
        StorageError::MailboxExists => {
            CommandError::no(ResponseCode::AlreadyExists, "mailbox already exists")
        }
        StorageError::HasChildren => {
            CommandError::no(ResponseCode::HasChildren, "mailbox has children; delete them first")
        }
        StorageError::CannotDeleteInbox => CommandError::no(ResponseCode::Cannot, "INBOX cannot be deleted"),
        StorageError::InvalidMailboxName { name } => {
            CommandError::no(ResponseCode::Cannot, format!("invalid mailbox name {name:?}"))
        }
        StorageError::InvalidKeyword { keyword } => CommandError::bad(format!("invalid keyword {keyword:?}")),
        StorageError::TooManyKeywords { max, .. } => {
            CommandError::no(ResponseCode::Limit, format!("at most {max} keywords per message"))
        }
        error @ StorageError::MailboxLimit { .. } => CommandError::no(ResponseCode::Limit, error.to_string()),
        // RFC 5464 §4.3: too many entries, or too many bytes of them, is TOOMANY (MAXSIZE
        // names the limit of one value, which the session checked already).
        StorageError::MetadataLimit { .. } => CommandError::no(
            ResponseCode::Metadata(MetadataCode::TooMany),
            "too many metadata entries or bytes in this account",
        ),
        StorageError::InvalidMetadata { name } => CommandError::bad(format!("invalid entry {name:?}")),
        // RFC 5530 §3 OVERQUOTA: a full disk is reported as a quota (as Dovecot does); the
        // client may retry once space is freed.
        other if other.is_no_space() => no_space(),
        other => {
            tracing::error!(error = %other, "imap command failed in storage");
            CommandError::Internal
        }
    }
}

/// `NO [OVERQUOTA]` for a full disk or quota (RFC 5530 §3).
fn no_space() -> CommandError {
    CommandError::no(ResponseCode::OverQuota, "not enough disk space")
}

/// A failed file operation of a command (`what` names it for the log): `NO [OVERQUOTA]`
/// for a full disk, otherwise our failure.
pub(crate) fn io_failure(what: &str, error: &std::io::Error) -> CommandError {
    match error.kind() {
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => no_space(),
        _ => {
            tracing::error!(%error, "imap: {what}");
            CommandError::Internal
        }
    }
}

/// The protocol error for an account actor failure.
pub(crate) fn account_error(error: AccountError) -> CommandError {
    match error {
        error if error.is_no_space() => no_space(),
        AccountError::OverQuota { .. } => {
            CommandError::no(ResponseCode::OverQuota, "the account is over its quota")
        }
        AccountError::Storage(storage) => match std::sync::Arc::try_unwrap(storage) {
            Ok(storage) => storage_error(storage),
            Err(shared) => {
                tracing::error!(error = %shared, "imap command failed in storage");
                CommandError::Internal
            }
        },
        other => {
            tracing::error!(error = %other, "imap command failed at the account actor");
            CommandError::Internal
        }
    }
}
