//! Error types of the storage API: [`StorageError`] for a whole call, [`DeliveryError`]
//! for one message of a delivery batch (the others go on).
//!
//! heed's error type stays inside: LMDB failures become [`StorageError::Lmdb`] with the
//! message, except those a caller acts on (MDB_MAP_FULL at the maximum map size, an
//! environment already open in this process).

use std::io;
use std::path::PathBuf;

use crate::ids::MailboxId;

/// What went wrong in a storage call. Nothing was changed unless the variant says so.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A file or directory operation failed.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// LMDB failed (message from LMDB); the transaction was aborted.
    #[error("LMDB error: {message}")]
    Lmdb {
        /// LMDB's description of the failure.
        message: String,
    },
    /// The filesystem is full (ENOSPC) or the user's disk quota is used up (EDQUOT);
    /// nothing was changed. Freeing space is enough to go on.
    #[error("no space left: {what}")]
    NoSpace {
        /// The operation or path that failed, for the log.
        what: String,
    },
    /// An LMDB commit failed after it started writing: the transaction may or may not be
    /// durable (LMDB may have written its meta page and failed on the fsync after it).
    /// Files the transaction may refer to were left in place; any that the index does
    /// not reference are orphans for the sweep ([`crate::AccountStore::sweep_orphans`]).
    /// Report a temporary failure: never claim success, never undo.
    #[error("commit outcome unknown: {source}")]
    CommitUnknown {
        /// The error the commit returned.
        #[source]
        source: Box<StorageError>,
    },
    /// A submission would pass its account's send limit
    /// ([`crate::queue::NewQueued::send_quota`]); nothing of it was queued.
    #[error("send limit reached: {max} {kind:?} per day")]
    SendLimit {
        /// Which limit.
        kind: crate::queue::SendLimitKind,
        /// Its value.
        max: u32,
    },
    /// One message of an all-or-nothing batch ([`crate::AccountStore::deliver_all`]) was
    /// refused; nothing of the batch was stored.
    #[error("message {index} of the batch refused: {source}")]
    MessageRefused {
        /// Its position in the batch.
        index: usize,
        /// Why.
        #[source]
        source: Box<DeliveryError>,
    },
    /// The map reached [`crate::StoreOptions::map_size_max_bytes`]; the transaction was
    /// aborted.
    #[error("LMDB map is full at its maximum size")]
    MapFull,
    /// Stored data failed validation (an rkyv check, a bad key or length, a record that
    /// contradicts its key).
    #[error("corrupt store: {what}")]
    Corrupt {
        /// What was found, for the log.
        what: String,
    },
    /// A record could not be serialized (a bug, or memory exhaustion).
    #[error("cannot encode record: {message}")]
    Encoding {
        /// rkyv's description.
        message: String,
    },
    /// The environment (an account's or the global one) was written by a newer moxide;
    /// it is left untouched.
    #[error("schema version {found} is newer than this build supports ({supported})")]
    SchemaTooNew {
        /// Version in the environment.
        found: u32,
        /// [`crate::SCHEMA_VERSION`], or [`crate::GLOBAL_SCHEMA_VERSION`] for the global
        /// store.
        supported: u32,
    },
    /// The environment (an account's or the global one) predates the oldest version we
    /// can migrate; it is left untouched.
    #[error("schema version {found} is older than the oldest migratable version ({oldest})")]
    SchemaTooOld {
        /// Version in the environment.
        found: u32,
        /// [`crate::SCHEMA_VERSION_OLDEST`], or [`crate::GLOBAL_SCHEMA_VERSION_OLDEST`]
        /// for the global store.
        oldest: u32,
    },
    /// Another process holds the data directory's lock ([`crate::DataDirLock`]): a
    /// server runs on it, or a command that writes it. Nothing was changed.
    #[error("data directory {} is in use by another moxide process{}; stop that process first",
        dir.display(), holder_pid.map(|pid| format!(" (pid {pid})")).unwrap_or_default())]
    DataDirInUse {
        /// The data directory.
        dir: PathBuf,
        /// The process id its holder recorded, if it had written it yet.
        holder_pid: Option<u32>,
    },
    /// The account name is not a safe path component (see [`crate::DataDir::account_dir`]).
    #[error("invalid account name {0:?}")]
    InvalidAccountName(String),
    /// The account's environment is already open in this process (use one
    /// [`crate::StoreCache`] per process).
    #[error("account {account:?} is already open in this process")]
    AlreadyOpen {
        /// The account.
        account: String,
    },
    /// The global store is already open in this process (open one
    /// [`crate::GlobalStore`] per process and share it).
    #[error("the global store is already open in this process")]
    GlobalStoreAlreadyOpen,
    /// A message file's length differs from its record: reported, never served.
    #[error("message file {} has {found} bytes, record says {expected}", path.display())]
    MessageFileMismatch {
        /// The message file.
        path: PathBuf,
        /// Size in the record.
        expected: u64,
        /// Size on disk.
        found: u64,
    },
    /// A message file that the index refers to does not exist: reported, never served.
    #[error("message file {} is missing", path.display())]
    MessageFileMissing {
        /// The message file.
        path: PathBuf,
    },
    /// No mailbox with that id.
    #[error("no such mailbox")]
    NoSuchMailbox,
    /// A mailbox with that name exists already (RFC 9051 §6.3.4 CREATE, §6.3.6 RENAME:
    /// the target or one of the renamed children's new names).
    #[error("mailbox exists")]
    MailboxExists,
    /// The mailbox name is empty, too long, has control characters or empty levels; or
    /// a RENAME would move a mailbox below itself, or make a child's name too long.
    #[error("invalid mailbox name {name:?}")]
    InvalidMailboxName {
        /// The name as given (or the child name that would be too long).
        name: String,
    },
    /// CREATE or RENAME would pass one of the account's [`crate::MailboxLimits`]; nothing
    /// was changed (IMAP `NO [LIMIT]`, RFC 9051 §7.1).
    #[error("{} limit reached: at most {max}", match limit { MailboxLimit::Count => "mailbox count", MailboxLimit::Depth => "mailbox hierarchy depth" })]
    MailboxLimit {
        /// Which limit.
        limit: MailboxLimit,
        /// Its value.
        max: u32,
    },
    /// A METADATA entry name the IMAP parser would refuse, or a value over
    /// [`crate::METADATA_VALUE_BYTES_MAX`] (RFC 5464 §3.2); nothing was changed.
    #[error("invalid metadata entry {name:?}")]
    InvalidMetadata {
        /// The entry name.
        name: String,
    },
    /// SETMETADATA would pass a METADATA limit; nothing was changed (IMAP
    /// `NO [METADATA TOOMANY]`, RFC 5464 §4.3).
    #[error("metadata limit reached: {limit:?}")]
    MetadataLimit {
        /// Which limit.
        limit: MetadataLimit,
    },
    /// INBOX cannot be deleted (RFC 9051 §6.3.5).
    #[error("INBOX cannot be deleted")]
    CannotDeleteInbox,
    /// The mailbox has children and is not deleted (RFC 9051 §6.3.5, response code
    /// HASCHILDREN, RFC 9051 §7.1).
    #[error("mailbox has children")]
    HasChildren,
    /// Flag bits other than the system flags of [`crate::Flags`].
    #[error("unknown flag bits {bits:#x}")]
    InvalidFlags {
        /// The bits as given.
        bits: u32,
    },
    /// A keyword that is not an IMAP atom (RFC 9051 §9 `flag-keyword`) or is too long.
    #[error("invalid keyword {keyword:?}")]
    InvalidKeyword {
        /// The keyword as given.
        keyword: String,
    },
    /// More keywords on one message than [`crate::KEYWORDS_PER_MESSAGE_MAX`].
    #[error("{count} keywords on one message, at most {max}")]
    TooManyKeywords {
        /// Keywords the message would have.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A delivery batch longer than [`crate::DELIVERY_BATCH_MAX`].
    #[error("delivery batch of {count} messages, at most {max}")]
    BatchTooLarge {
        /// Messages in the batch.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The mailbox used UID 2^32-1; it needs a new UIDVALIDITY (RFC 9051 §2.3.1.1).
    #[error("mailbox {mailbox} has used all UIDs")]
    UidsExhausted {
        /// The mailbox.
        mailbox: MailboxId,
    },
    /// A password longer than [`crate::PASSWORD_BYTES_MAX`].
    #[error("password longer than {max} bytes")]
    PasswordTooLong {
        /// The limit.
        max: usize,
    },
    /// argon2 failed, or the stored hash is not an argon2id PHC string it can read.
    #[error("password hash: {message}")]
    PasswordHash {
        /// argon2's description.
        message: String,
    },
    /// Credentials given to [`crate::AccountStore::set_credentials`] break a rule of
    /// [`crate::StoredCredentials`] (a SCRAM key of the wrong length, no salt, zero
    /// iterations, an over-long hash). Nothing was stored.
    #[error("invalid credentials: {reason}")]
    InvalidCredentials {
        /// The rule broken.
        reason: &'static str,
    },
    /// A TLS public key given to [`crate::GlobalStore::add_tls_public_key`] breaks a
    /// rule of [`crate::TlsPublicKey`] (bad account name, empty or over-long fields,
    /// control characters). Nothing was stored.
    #[error("invalid TLS public key: {reason}")]
    InvalidTlsPublicKey {
        /// The rule broken.
        reason: &'static str,
    },
    /// The fingerprint is registered already (to this or another account); the stored
    /// key is unchanged.
    #[error("a TLS public key with this fingerprint is registered already")]
    KeyExists,
    /// The account has [`crate::TLS_PUBLIC_KEYS_PER_ACCOUNT_MAX`] keys already.
    #[error("account has {max} TLS public keys already")]
    TooManyTlsPublicKeys {
        /// The limit.
        max: usize,
    },
}

impl DeliveryError {
    /// True when the spool side failed for a full disk or quota.
    pub fn is_no_space(&self) -> bool {
        match self {
            DeliveryError::Io(error) => is_no_space(error),
            DeliveryError::InvalidFlags(error) => error.is_no_space(),
            _ => false,
        }
    }
}

/// Which of [`crate::MailboxLimits`] a CREATE or RENAME would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MailboxLimit {
    /// Mailboxes per account ([`crate::MailboxLimits::mailboxes_max`]).
    Count,
    /// Levels per name ([`crate::MailboxLimits::depth_max`]).
    Depth,
}

/// Which METADATA limit a SETMETADATA would pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MetadataLimit {
    /// [`crate::METADATA_ENTRIES_PER_MAILBOX_MAX`].
    EntriesPerMailbox,
    /// [`crate::METADATA_ENTRIES_PER_ACCOUNT_MAX`].
    EntriesPerAccount,
    /// [`crate::METADATA_ACCOUNT_BYTES_MAX`].
    AccountBytes,
}

/// Why one message of a delivery batch was not delivered; the rest of the batch was.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeliveryError {
    /// The spool file does not exist.
    #[error("spool file missing")]
    SpoolMissing,
    /// The spool file's length is not the announced size (truncated or overwritten).
    #[error("spool file has {found} bytes, expected {expected}")]
    SpoolMismatch {
        /// [`crate::NewMessage::size`].
        expected: u64,
        /// Length found.
        found: u64,
    },
    /// The target mailbox does not exist.
    #[error("no such mailbox")]
    NoSuchMailbox,
    /// Reading the spool file failed.
    #[error("spool file: {0}")]
    Io(#[source] io::Error),
    /// The prefix is longer than [`crate::PREFIX_BYTES_MAX`].
    #[error("header prefix of {size} bytes, at most {max}")]
    PrefixTooLarge {
        /// Prefix length.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The prefix does not end in CRLF (each added header line must).
    #[error("header prefix does not end with CRLF")]
    PrefixNotCrlf,
    /// Unknown flag bits, or a keyword that is invalid or one too many.
    #[error("invalid flags: {0}")]
    InvalidFlags(#[source] Box<StorageError>),
    /// No outcome was decided for the message (a bug; never expected).
    #[error("delivery outcome undecided")]
    Undecided,
}

impl From<heed::Error> for StorageError {
    fn from(error: heed::Error) -> Self {
        match error {
            heed::Error::Mdb(heed::MdbError::MapFull) => StorageError::MapFull,
            heed::Error::Io(error) if is_no_space(&error) => {
                StorageError::NoSpace { what: format!("LMDB: {error}") }
            }
            other => StorageError::Lmdb { message: other.to_string() },
        }
    }
}

/// ENOSPC or EDQUOT: the disk (or the quota) is full.
fn is_no_space(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

impl StorageError {
    /// Wraps an I/O error with the path it concerns ([`StorageError::NoSpace`] for a
    /// full disk or quota, so callers can tell the client to retry later).
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        if is_no_space(&source) {
            return StorageError::NoSpace { what: format!("{}: {source}", path.display()) };
        }
        StorageError::Io { path, source }
    }

    /// True when the failure is a full disk or quota (possibly behind an unknown
    /// commit outcome or a refused message): SMTP `452 4.3.1`, IMAP `NO [OVERQUOTA]`.
    pub fn is_no_space(&self) -> bool {
        match self {
            StorageError::NoSpace { .. } => true,
            StorageError::CommitUnknown { source } => source.is_no_space(),
            StorageError::MessageRefused { source, .. } => source.is_no_space(),
            StorageError::Io { source, .. } => is_no_space(source),
            _ => false,
        }
    }

    /// A validation failure of stored data.
    pub(crate) fn corrupt(what: impl Into<String>) -> Self {
        StorageError::Corrupt { what: what.into() }
    }
}
