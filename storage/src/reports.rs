//! Reports received from other mail systems (DMARC aggregate, SMTP TLS), kept for the
//! admin API: one file per report document under `<data>/reports/<kind>/`, named by the
//! caller from the reporter, period and report id, so the same report delivered twice is
//! stored once. Each file is written under a temporary name, fsynced, renamed into place
//! and its directory fsynced: a crash leaves a whole report or none (at worst a `.tmp`
//! file, removed when the next report with that name is stored).

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

use crate::datadir::DataDir;
use crate::error::StorageError;
use crate::files::{ensure_dir, sync_dir};

/// Most report files kept per kind: a domain gets a few reports a day from each large
/// provider, so 100,000 is decades for one domain and years for hundreds. Past it new
/// reports are refused (logged by the caller) rather than filling the disk.
pub const REPORT_FILES_MAX: usize = 100_000;

/// Longest file name kept (the caller's name is cut), far below NAME_MAX (255).
const NAME_BYTES_MAX: usize = 160;

/// The directory of received reports.
#[derive(Debug, Clone)]
pub struct ReportStore {
    root: PathBuf,
}

impl ReportStore {
    /// The report directory of a data directory (created on first write).
    pub fn new(data: &DataDir) -> ReportStore {
        ReportStore { root: data.root().join("reports") }
    }

    /// Stores a report document of `kind` (`dmarc`, `tlsrpt`) as `name`; `Ok(false)` when a
    /// report of that name is already stored. Blocking: call from a helper thread.
    pub fn put(&self, kind: &str, name: &str, bytes: &[u8]) -> Result<bool, StorageError> {
        let dir = self.root.join(clean_name(kind));
        ensure_dir(&self.root)?;
        if ensure_dir(&dir)? {
            sync_dir(&self.root)?;
        }
        let path = dir.join(clean_name(name));
        if path.exists() {
            return Ok(false);
        }
        if self.list(kind)?.len() >= REPORT_FILES_MAX {
            return Err(StorageError::io(&dir, std::io::Error::other("report store full")));
        }
        let temporary = path.with_extension("tmp");
        let write = || -> std::io::Result<()> {
            let mut file = OpenOptions::new().write(true).create(true).truncate(true).open(&temporary)?;
            file.write_all(bytes)?;
            file.sync_data()?;
            fs::rename(&temporary, &path)
        };
        write().map_err(|error| StorageError::io(&path, error))?;
        sync_dir(&dir)?;
        Ok(true)
    }

    /// Names of the stored reports of `kind`, sorted.
    pub fn list(&self, kind: &str) -> Result<Vec<String>, StorageError> {
        let dir = self.root.join(clean_name(kind));
        let entries = match fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(error) => return Err(StorageError::io(&dir, error)),
        };
        let mut names: Vec<String> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| entry.file_name().into_string().ok())
            .filter(|name| !name.ends_with(".tmp"))
            .collect();
        names.sort();
        Ok(names)
    }

    /// A stored report's size in bytes.
    pub fn size(&self, kind: &str, name: &str) -> Result<u64, StorageError> {
        let path = self.root.join(clean_name(kind)).join(clean_name(name));
        fs::metadata(&path).map(|m| m.len()).map_err(|error| StorageError::io(&path, error))
    }

    /// A stored report's bytes.
    pub fn read(&self, kind: &str, name: &str) -> Result<Vec<u8>, StorageError> {
        let path = self.root.join(clean_name(kind)).join(clean_name(name));
        let mut bytes = Vec::new();
        File::open(&path)
            .and_then(|mut file| std::io::Read::read_to_end(&mut file, &mut bytes))
            .map_err(|error| StorageError::io(&path, error))?;
        Ok(bytes)
    }
}

/// A file name from reporter-supplied text: `[A-Za-z0-9._-]` kept, anything else `_`,
/// no leading dot, cut to a fixed length.
fn clean_name(text: &str) -> String {
    let mut name: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' })
        .take(NAME_BYTES_MAX)
        .collect();
    if name.is_empty() || name.starts_with('.') {
        name.insert(0, '_');
    }
    name
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn stores_once_lists_and_reads() {
        let dir = tempfile::tempdir().unwrap();
        let data = DataDir::open(dir.path()).unwrap();
        let store = ReportStore::new(&data);
        assert!(store.list("dmarc").unwrap().is_empty());
        assert!(store.put("dmarc", "google.com!example.org!1700000000!123.xml", b"<feedback/>").unwrap());
        assert!(!store.put("dmarc", "google.com!example.org!1700000000!123.xml", b"<feedback/>").unwrap());
        assert!(store.put("dmarc", "../../escape", b"x").unwrap());
        let names = store.list("dmarc").unwrap();
        assert_eq!(
            names,
            vec!["_.._.._escape".to_string(), "google.com_example.org_1700000000_123.xml".to_string()]
        );
        assert_eq!(store.read("dmarc", &names[1]).unwrap(), b"<feedback/>");
        assert!(dir.path().join("reports/dmarc/_.._.._escape").exists());
    }
}
