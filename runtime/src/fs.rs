//! Spool files: the bytes of a message being received. They are created and written with
//! plain system calls on the executor: at most [`SPOOL_WRITE_BYTES_MAX`] per write, copied
//! into the page cache. ext4 offers no non-blocking buffered write to try first, and
//! doing the create, the writes and the close on helper threads cost 10% more server CPU
//! per SMTP message with no gain in rate, measured (docs/benchmarks-analysis.md, "The
//! runtime's own executor"), although each of those calls takes a journal handle, which
//! can wait while a journal commit closes. The other wait such a write can meet is the
//! kernel's dirty-page throttling when writeback lags far behind; that stalls the core as
//! it stalls any process writing files. Spools are not synced here: the store makes a
//! spool's data durable when it links the file (with the other files of its group
//! commit, before the directory fsyncs and the commit that index it; the delivery write
//! order in docs/architecture.md). A spool nothing linked is removed, or swept at the
//! next start. A deferred spool (the SMTP session's) is created at its first write, so a
//! small message that only the queue takes, stored in its database, makes no file.

use std::io;
use std::path::{Path, PathBuf};

use std::fs::{File, OpenOptions};
use std::os::unix::fs::{FileExt, OpenOptionsExt};

/// Bytes gathered in memory before a write is issued. Most mail is smaller, so a typical
/// message is one write; larger ones stream in 64 KiB writes.
pub const SPOOL_WRITE_BYTES_MAX: usize = 64 * 1024;

/// A spool file being written.
pub struct SpoolFile {
    /// `None` until the first write of a deferred spool ([`SpoolFile::deferred`]).
    file: Option<File>,
    path: PathBuf,
    buffer: Vec<u8>,
    written: u64,
}

/// How [`SpoolFile::finish_in_memory`] left a message.
#[derive(Debug, PartialEq, Eq)]
pub enum Finished {
    /// In its file, of this many bytes.
    File(u64),
    /// Never written: the whole message, and no file exists.
    Memory(Vec<u8>),
}

impl SpoolFile {
    /// Creates `path` (which must not exist), mode 0600.
    pub async fn create(path: &Path) -> io::Result<SpoolFile> {
        let file = create_new(path)?;
        Ok(SpoolFile { file: Some(file), path: path.to_path_buf(), buffer: Vec::new(), written: 0 })
    }

    /// A spool whose file is created (as by [`SpoolFile::create`]) only when it is first
    /// written: a message that ends within [`SPOOL_WRITE_BYTES_MAX`] and that no store
    /// needs as a file ([`SpoolFile::finish_in_memory`]) never touches the disk.
    pub fn deferred(path: &Path) -> SpoolFile {
        SpoolFile { file: None, path: path.to_path_buf(), buffer: Vec::new(), written: 0 }
    }

    /// The file's path (where it is or will be).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes appended so far.
    pub fn len(&self) -> u64 {
        self.written + self.buffer.len() as u64
    }

    /// Whether nothing was appended yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends `data`.
    pub async fn append(&mut self, data: &[u8]) -> io::Result<()> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= SPOOL_WRITE_BYTES_MAX {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> io::Result<()> {
        self.flush_keeping().await?;
        self.buffer.clear();
        Ok(())
    }

    /// Writes what is buffered and closes the file; returns its length. Not synced: the
    /// store syncs what it links (see the module doc).
    pub async fn finish(mut self) -> io::Result<u64> {
        self.flush().await?;
        Ok(self.written)
    }

    /// [`SpoolFile::finish`], also giving back the whole file's bytes when they never
    /// left memory (fewer than [`SPOOL_WRITE_BYTES_MAX`]: written in this one write), so
    /// a reader of a small message needs no read of the file.
    pub async fn finish_with_bytes(mut self) -> io::Result<(u64, Option<Vec<u8>>)> {
        if self.written > 0 {
            return self.finish().await.map(|size| (size, None));
        }
        self.flush_keeping().await?;
        Ok((self.written, Some(std::mem::take(&mut self.buffer))))
    }

    /// Ends the message without writing it when it never left memory: then no file
    /// exists (a deferred spool) and the bytes come back; otherwise as
    /// [`SpoolFile::finish`]. For a message that goes only where bytes suffice (the
    /// queue's inline store).
    pub async fn finish_in_memory(mut self) -> io::Result<Finished> {
        if self.file.is_none() {
            return Ok(Finished::Memory(std::mem::take(&mut self.buffer)));
        }
        self.finish().await.map(Finished::File)
    }

    async fn flush_keeping(&mut self) -> io::Result<()> {
        let file = match &mut self.file {
            Some(file) => file,
            None => self.file.insert(create_new(&self.path)?),
        };
        file.write_all_at(&self.buffer, self.written)?;
        self.written += self.buffer.len() as u64;
        Ok(())
    }

    /// Closes and removes the file (the message was refused or the client went away);
    /// a deferred spool never written has none.
    pub async fn discard(self) -> io::Result<()> {
        let SpoolFile { file, path, .. } = self;
        match file {
            Some(file) => {
                drop(file);
                remove_file(path).await
            }
            None => Ok(()),
        }
    }
}

fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)
}

/// Removes a file without blocking the executor.
pub async fn remove_file(path: PathBuf) -> io::Result<()> {
    crate::offload(move || std::fs::remove_file(path))
        .await
        .map_err(|panic| io::Error::other(panic.to_string()))?
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::{RuntimeConfig, run};
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn write_sync_and_discard() {
        let dir = std::env::temp_dir().join(format!("moxide-spool-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let dir_in = dir.clone();
        let config = RuntimeConfig { pin_to_cpus: false, ..RuntimeConfig::default() };
        run(&config, vec![()], move |_, ()| {
            let dir = dir_in.clone();
            async move {
                let path = dir.join("a");
                let mut spool = SpoolFile::create(&path).await.unwrap();
                let chunk: Vec<u8> = (0..=255u8).cycle().take(100_000).collect();
                for _ in 0..3 {
                    spool.append(&chunk).await.unwrap();
                }
                assert_eq!(spool.len(), 300_000);
                assert_eq!(spool.finish().await.unwrap(), 300_000);
                let on_disk = std::fs::read(&path).unwrap();
                assert_eq!(on_disk.len(), 300_000);
                assert_eq!(&on_disk[100_000..200_000], &chunk[..]);
                let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600);
                assert!(SpoolFile::create(&path).await.is_err(), "create must not clobber");

                let other = dir.join("b");
                let mut spool = SpoolFile::create(&other).await.unwrap();
                spool.append(b"partial").await.unwrap();
                spool.discard().await.unwrap();
                assert!(!other.exists());

                // A message that never left memory comes back with its size; one that
                // reached the write size does not.
                let small = dir.join("c");
                let mut spool = SpoolFile::create(&small).await.unwrap();
                spool.append(b"small ").await.unwrap();
                spool.append(b"message").await.unwrap();
                assert_eq!(spool.finish_with_bytes().await.unwrap(), (13, Some(b"small message".to_vec())));
                assert_eq!(std::fs::read(&small).unwrap(), b"small message");
                let large = dir.join("d");
                let mut spool = SpoolFile::create(&large).await.unwrap();
                spool.append(&chunk).await.unwrap();
                spool.append(b"tail").await.unwrap();
                assert_eq!(spool.finish_with_bytes().await.unwrap(), (100_004, None));
                assert_eq!(std::fs::read(&large).unwrap().len(), 100_004);

                // A deferred spool: no file until a write; a small message can end
                // without one; a large one, or a finish that wants the file, has it.
                let deferred = dir.join("e");
                let mut spool = SpoolFile::deferred(&deferred);
                spool.append(b"in memory").await.unwrap();
                assert!(!deferred.exists());
                assert_eq!(spool.finish_in_memory().await.unwrap(), Finished::Memory(b"in memory".to_vec()));
                assert!(!deferred.exists());
                let mut spool = SpoolFile::deferred(&deferred);
                spool.append(&chunk).await.unwrap();
                assert!(deferred.exists(), "a full buffer is written");
                spool.append(b"!").await.unwrap();
                assert_eq!(spool.finish_in_memory().await.unwrap(), Finished::File(100_001));
                assert_eq!(std::fs::read(&deferred).unwrap().len(), 100_001);
                let mut spool = SpoolFile::deferred(&deferred);
                spool.append(b"x").await.unwrap();
                assert!(spool.finish().await.is_err(), "the deferred create must not clobber either");
                std::fs::remove_file(&deferred).unwrap();
                let mut spool = SpoolFile::deferred(&deferred);
                spool.append(b"small").await.unwrap();
                assert_eq!(spool.finish_with_bytes().await.unwrap(), (5, Some(b"small".to_vec())));
                assert_eq!(std::fs::read(&deferred).unwrap(), b"small");
                let never = dir.join("f");
                let mut spool = SpoolFile::deferred(&never);
                spool.append(b"gone").await.unwrap();
                spool.discard().await.unwrap();
                assert!(!never.exists());
            }
        })
        .unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
