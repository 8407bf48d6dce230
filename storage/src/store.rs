//! [`AccountStore`]: one account's environment and message files, opened (and set up
//! when new) by [`AccountStore::open`]. The write operations live in `deliver`, `change`,
//! `mailbox`, `password` and `credentials`; reads go through [`AccountStore::read`].
//!
//! Invariant: one `AccountStore` per account per process (heed refuses a second open of
//! the same environment: [`StorageError::AlreadyOpen`]); share it as `Arc<AccountStore>`.

use std::collections::BTreeSet;
use std::fmt;
use std::fs::File;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::datadir::DataDir;
use crate::error::StorageError;
use crate::files::{DirHandle, DurableDirs, ensure_dir, remove_if_exists, sync_dir};
use crate::ids::{MessageId, ModSeq};
use crate::lmdb::Lmdb;
use crate::lmdb::WriterGuard;
use crate::mailbox::MailboxLimits;
use crate::schema::{Databases, open_databases};
use crate::view::{ReadView, meta_u64};
use crate::views::{View, Views};
use crate::{expunged, keys};

/// Directory of the LMDB environment inside an account directory.
const INDEX_DIR: &str = "index";
/// Directory of the message files inside an account directory.
const MESSAGE_DIR: &str = "msg";

/// Tuning of an account environment. LMDB options not here are fixed in `lmdb.rs`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoreOptions {
    /// Map size when the environment opens (rounded up to 64 KiB, at least
    /// [`crate::MAP_SIZE_MIN_BYTES`]). Default 16 MiB: an account of a few thousand
    /// messages never grows, and address space is reserved, not memory.
    pub map_size_initial_bytes: usize,
    /// The map doubles on demand up to this (rounded down to 64 KiB). Default 64 GiB:
    /// about 200 million messages' records; address space is only taken as it grows.
    pub map_size_max_bytes: usize,
    /// LMDB reader slots (concurrent read transactions, across processes). Default 1024:
    /// every IMAP session may hold one for the length of a command.
    pub readers_max: u32,
    /// Mailboxes per account and levels per name that CREATE and RENAME may reach.
    pub mailbox_limits: MailboxLimits,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            map_size_initial_bytes: 16 << 20,
            map_size_max_bytes: 64 << 30,
            readers_max: 1024,
            mailbox_limits: MailboxLimits::default(),
        }
    }
}

/// The wall clock in Unix milliseconds (0 before 1970, which only a broken clock gives).
fn now_unix_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX))
}

/// Largest message [`AccountStore::read_message_file`] reads into memory; larger ones are
/// read in ranges from [`AccountStore::open_message_file`].
pub const READ_WHOLE_BYTES_MAX: u64 = 1024 * 1024;

/// One account's store. `Send + Sync`: share it as `Arc<AccountStore>`. Writes are
/// serialized internally (the account actor is the one writer by design); reads run
/// concurrently from any thread.
pub struct AccountStore {
    pub(crate) account: String,
    pub(crate) account_dir: PathBuf,
    /// The directories whose entries must be durable before a commit relies on them,
    /// innermost first: `msg/`, `index/`, the account's, `accounts/`, the data root.
    durable_dirs: DurableDirs,
    pub(crate) message_dir: PathBuf,
    /// `message_dir` held open: message files are opened relative to it.
    message_dir_handle: DirHandle,
    pub(crate) lmdb: Lmdb,
    pub(crate) dbs: Databases,
    /// Set when a `msg/<hi>` directory was created and `msg/` not fsynced since.
    pub(crate) message_dir_dirty: AtomicBool,
    /// What CREATE and RENAME may reach.
    pub(crate) mailbox_limits: MailboxLimits,
    /// The live mailbox views of this account (deferred removal, \Recent).
    pub(crate) views: Arc<Views>,
    /// The smallest expunge modseq in `expunged` (`u64::MAX`: none), so that
    /// [`AccountStore::purge_expunged`] costs nothing when there is nothing to purge.
    pub(crate) oldest_expunged: AtomicU64,
}

impl fmt::Debug for AccountStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccountStore")
            .field("account", &self.account)
            .field("account_dir", &self.account_dir)
            .finish_non_exhaustive()
    }
}

impl AccountStore {
    /// Opens the account's store, creating what is missing: directories (0700), the
    /// environment, schema version, counters and the default mailboxes (INBOX and
    /// [`crate::DEFAULT_MAILBOXES`] with their special use). An environment with a newer
    /// schema is refused ([`StorageError::SchemaTooNew`]) and one older than
    /// [`crate::SCHEMA_VERSION_OLDEST`] too ([`StorageError::SchemaTooOld`]), both
    /// untouched; older migratable ones are migrated in one transaction. Blocking: may
    /// create files and fsync.
    pub fn open(data: &DataDir, account: &str, options: &StoreOptions) -> Result<AccountStore, StorageError> {
        let account_dir = data.account_dir(account)?;
        let index_dir = account_dir.join(INDEX_DIR);
        let message_dir = account_dir.join(MESSAGE_DIR);
        for dir in [&account_dir, &index_dir, &message_dir] {
            ensure_dir(dir)?;
        }
        let message_dir_handle =
            DirHandle::open(&message_dir).map_err(|error| StorageError::io(&message_dir, error))?;
        let lmdb = Lmdb::open(
            &index_dir,
            account,
            options.map_size_initial_bytes,
            options.map_size_max_bytes,
            options.readers_max,
        )?;
        let (dbs, set_up) = open_databases(&lmdb)?;
        if set_up {
            tracing::info!(account, "account store set up");
        }
        let oldest_expunged = {
            let read = lmdb.read_txn(None)?;
            expunged::oldest(read.txn(), &dbs)?
        };
        Ok(AccountStore {
            account: account.to_string(),
            durable_dirs: DurableDirs::new(vec![
                message_dir.clone(),
                index_dir,
                account_dir.clone(),
                data.accounts_dir(),
                data.root().to_path_buf(),
            ]),
            account_dir,
            message_dir,
            message_dir_handle,
            lmdb,
            dbs,
            message_dir_dirty: AtomicBool::new(false),
            mailbox_limits: options.mailbox_limits,
            views: Arc::new(Views::new(now_unix_ms())),
            oldest_expunged: AtomicU64::new(oldest_expunged),
        })
    }

    /// Opens a view of this account's mailboxes for a session (see [`Views`]): pinned at
    /// the account's current highest modseq, so every message the session reads from
    /// now on stays readable after an expunge until the view advances past it. Open it
    /// before reading what the session will show.
    pub fn open_view(&self) -> Result<View, StorageError> {
        let read = self.lmdb.read_txn(None)?;
        let modseq = meta_u64(read.txn(), &self.dbs, keys::META_HIGHEST_MODSEQ)?;
        drop(read);
        Ok(self.views.open(ModSeq(modseq)))
    }

    /// The live views of this account.
    pub fn views(&self) -> &Views {
        &self.views
    }

    /// Becomes the one writer. The first time in this process, fsyncs the directories
    /// whose entries the commit will rely on (`data.mdb`'s name, `msg/`'s): they may
    /// have been created by a run that died before syncing them. Once per open store,
    /// and only for stores that write.
    pub(crate) fn begin_write(&self) -> Result<WriterGuard<'_>, StorageError> {
        let writer = self.lmdb.lock_writer();
        self.durable_dirs.sync_once()?;
        Ok(writer)
    }

    /// Creates the `msg/<hi>` directory of a message file path if missing, and notes that
    /// `msg/` then needs an fsync ([`AccountStore::sync_message_dirs`]).
    pub(crate) fn ensure_message_dir(&self, path: &Path) -> Result<(), StorageError> {
        if let Some(dir) = path.parent()
            && ensure_dir(dir)?
        {
            self.message_dir_dirty.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Makes new message file names durable: fsyncs each `msg/<hi>` holding one of
    /// `paths` once, and `msg/` when a `<hi>` was created and `msg/` not synced since
    /// (also after an earlier batch failed). Before the commit that indexes them.
    pub(crate) fn sync_message_dirs<'p>(
        &self,
        paths: impl Iterator<Item = &'p Path>,
    ) -> Result<(), StorageError> {
        let dirs: BTreeSet<&Path> = paths.filter_map(Path::parent).collect();
        for dir in dirs {
            sync_dir(dir)?;
        }
        if self.message_dir_dirty.load(Ordering::Acquire) {
            sync_dir(&self.message_dir)?;
            self.message_dir_dirty.store(false, Ordering::Release);
        }
        Ok(())
    }

    /// Removes the files of messages whose records a committed transaction removed
    /// (a purge of expunged messages, mailbox delete). Best effort: a file left behind is an orphan, which
    /// [`AccountStore::check_consistency`] reports.
    pub(crate) fn remove_message_files(&self, ids: impl Iterator<Item = MessageId>) {
        for id in ids {
            let path = self.message_path(id);
            if let Err(error) = remove_if_exists(&path) {
                tracing::warn!(path = %path.display(), %error, "cannot remove message file");
            }
        }
    }

    /// The account name.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// The current LMDB map size (it grows on demand), for metrics.
    pub fn map_size_bytes(&self) -> usize {
        self.lmdb.map_size_bytes()
    }

    /// Runs `f` inside one read transaction (MDB_NOTLS, so any thread, many per thread);
    /// the view and what it lends cannot escape the closure. Keep `f` short: a live read
    /// transaction delays map growth and pins old pages. Do not call write methods of
    /// this store, nor `read` again, from inside `f`.
    pub fn read<R>(
        &self,
        f: impl FnOnce(&ReadView<'_>) -> Result<R, StorageError>,
    ) -> Result<R, StorageError> {
        let txn = self.lmdb.read_txn(None)?;
        let view = ReadView::new(txn.txn(), &self.dbs);
        f(&view)
    }

    /// Bytes of all messages in all mailboxes (what a quota counts): one read of the
    /// mailbox records, whose sizes the writes keep current.
    pub fn usage_bytes(&self) -> Result<u64, StorageError> {
        self.usage().map(|(bytes, _)| bytes)
    }

    /// The account's usage as quotas count it: the bytes and the number of the messages
    /// of all its mailboxes, from the mailbox records (no walk over messages).
    pub fn usage(&self) -> Result<(u64, u64), StorageError> {
        self.read(|view| {
            let mailboxes = view.mailboxes()?;
            let bytes = mailboxes.iter().map(|mailbox| mailbox.size_bytes).sum();
            let messages = mailboxes.iter().map(|mailbox| u64::from(mailbox.messages)).sum();
            Ok((bytes, messages))
        })
    }

    /// Where message `id`'s file is: `msg/<id >> 12>/<id>`.
    pub fn message_path(&self, id: MessageId) -> PathBuf {
        self.message_dir.join(id.dir_index().to_string()).join(id.0.to_string())
    }

    /// Opens message `id`'s file for reading and checks that its length is `size` (the
    /// record's): a shorter or longer file is [`StorageError::MessageFileMismatch`] and a
    /// missing one [`StorageError::MessageFileMissing`], to be reported, never served.
    pub fn open_message_file(&self, id: MessageId, size: u64) -> Result<File, StorageError> {
        let file = self.open_message_file_unchecked(id)?;
        let found = file.metadata().map_err(|error| StorageError::io(self.message_path(id), error))?.len();
        self.check_message_length(id, size, found)?;
        Ok(file)
    }

    /// Opens message `id`'s file and reads all of it (`size` bytes, the record's), with
    /// the checks of [`AccountStore::open_message_file`] but without its `fstat`: one
    /// read asks for a byte more than `size`, and a regular file's read returns fewer
    /// bytes than asked only at its end, so getting exactly `size` proves the length.
    /// For small messages: the whole file is in memory, so a `size` above
    /// [`READ_WHOLE_BYTES_MAX`] is refused (an I/O error of kind `InvalidInput`).
    pub fn read_message_file(&self, id: MessageId, size: u64) -> Result<(File, Vec<u8>), StorageError> {
        use std::os::unix::fs::FileExt;
        let io_error = |error| StorageError::io(self.message_path(id), error);
        let wanted =
            usize::try_from(size).ok().filter(|&size| size as u64 <= READ_WHOLE_BYTES_MAX).ok_or_else(
                || io_error(std::io::Error::new(ErrorKind::InvalidInput, "message too large to read whole")),
            )?;
        let file = self.open_message_file_unchecked(id)?;
        let mut bytes = vec![0u8; wanted + 1];
        let mut got = 0;
        loop {
            let read = match file.read_at(&mut bytes[got..], got as u64) {
                Ok(read) => read,
                Err(error) if error.kind() == ErrorKind::Interrupted => continue,
                Err(error) => return Err(io_error(error)),
            };
            got += read;
            // Exactly `size` is the end (a short read of a regular file); otherwise
            // read on until the end or the byte past `size`.
            if read == 0 || got >= wanted {
                break;
            }
        }
        if got != wanted {
            let found = if got > wanted { file.metadata().map_err(io_error)?.len() } else { got as u64 };
            self.check_message_length(id, size, found)?;
        }
        bytes.truncate(wanted);
        Ok((file, bytes))
    }

    fn check_message_length(&self, id: MessageId, size: u64, found: u64) -> Result<(), StorageError> {
        if found != size {
            let path = self.message_path(id);
            tracing::error!(path = %path.display(), expected = size, found, "message file size mismatch");
            return Err(StorageError::MessageFileMismatch { path, expected: size, found });
        }
        Ok(())
    }

    /// Opens message `id`'s file relative to the held `msg/` directory.
    fn open_message_file_unchecked(&self, id: MessageId) -> Result<File, StorageError> {
        // `<hi>/<id>\0`: two u64 in decimal fit in 42 bytes.
        let mut name = [0u8; 48];
        let mut cursor = std::io::Cursor::new(&mut name[..]);
        let relative = std::io::Write::write_fmt(&mut cursor, format_args!("{}/{}\0", id.dir_index(), id.0))
            .ok()
            .and_then(|()| std::ffi::CStr::from_bytes_until_nul(&name).ok());
        let opened = match relative {
            Some(relative) => self.message_dir_handle.open_read(relative),
            None => File::open(self.message_path(id)),
        };
        match opened {
            Ok(file) => Ok(file),
            Err(error) if error.kind() == ErrorKind::NotFound => {
                Err(StorageError::MessageFileMissing { path: self.message_path(id) })
            }
            Err(error) => Err(StorageError::io(self.message_path(id), error)),
        }
    }
}
