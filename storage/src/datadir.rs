//! The data directory: `accounts/<account>/` per account, `global/` for the global store
//! ([`crate::GlobalStore`], created when it first opens) and `tmp/` for the spool.
//!
//! Invariant: `tmp/` and `accounts/` are on one filesystem (both under the root), so a
//! spool file can be hard-linked into an account; account names are checked before they
//! become path components.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::StorageError;
use crate::files::ensure_dir;
use crate::names::check_account_name;

/// Directory under the root holding one directory per account.
const ACCOUNTS_DIR: &str = "accounts";
/// Directory under the root holding the global store's environment. Beside
/// `accounts/`, so it never looks like an account.
const GLOBAL_DIR: &str = "global";
/// Directory under the root holding spool files.
const SPOOL_DIR: &str = "tmp";

/// The root of moxide's data. Cheap to clone; every path derives from the root.
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// Creates root, root/accounts, root/tmp if missing (mode 0700) and returns the
    /// data dir with its root made absolute.
    pub fn open(root: impl Into<PathBuf>) -> Result<DataDir, StorageError> {
        let root = root.into();
        fs::create_dir_all(&root).map_err(|error| StorageError::io(&root, error))?;
        let root = root.canonicalize().map_err(|error| StorageError::io(&root, error))?;
        ensure_dir(&root.join(ACCOUNTS_DIR))?;
        ensure_dir(&root.join(SPOOL_DIR))?;
        Ok(DataDir { root })
    }

    /// The absolute root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// root/tmp: where spool files are written before delivery.
    pub fn spool_dir(&self) -> PathBuf {
        self.root.join(SPOOL_DIR)
    }

    /// root/accounts.
    pub(crate) fn accounts_dir(&self) -> PathBuf {
        self.root.join(ACCOUNTS_DIR)
    }

    /// root/global.
    pub(crate) fn global_dir(&self) -> PathBuf {
        self.root.join(GLOBAL_DIR)
    }

    /// `root/accounts/<account>`, after checking the name: non-empty, at most
    /// [`crate::ACCOUNT_NAME_BYTES_MAX`] bytes of `[A-Za-z0-9._-]`, not starting with `.`.
    pub fn account_dir(&self, account: &str) -> Result<PathBuf, StorageError> {
        check_account_name(account)?;
        Ok(self.accounts_dir().join(account))
    }

    /// Removes files left in the spool (a crash left them; none was acknowledged, since
    /// the caller removes a spool file once every delivery of it is done) and returns
    /// (path, length) of each for the caller to log. Call it at startup, before any
    /// delivery. Subdirectories are left alone.
    pub fn clean_spool(&self) -> Result<Vec<(PathBuf, u64)>, StorageError> {
        let spool = self.spool_dir();
        let entries = fs::read_dir(&spool).map_err(|error| StorageError::io(&spool, error))?;
        let mut removed = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|error| StorageError::io(&spool, error))?;
            let path = entry.path();
            let metadata = entry.metadata().map_err(|error| StorageError::io(&path, error))?;
            if metadata.is_dir() {
                continue;
            }
            fs::remove_file(&path).map_err(|error| StorageError::io(&path, error))?;
            removed.push((path, metadata.len()));
        }
        removed.sort();
        Ok(removed)
    }

    /// Names of the account directories (valid names only), sorted.
    pub fn account_names(&self) -> Result<Vec<String>, StorageError> {
        let accounts = self.accounts_dir();
        let entries = fs::read_dir(&accounts).map_err(|error| StorageError::io(&accounts, error))?;
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|error| StorageError::io(&accounts, error))?;
            let is_dir = entry.file_type().map_err(|error| StorageError::io(entry.path(), error))?.is_dir();
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if is_dir && check_account_name(&name).is_ok() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }
}
