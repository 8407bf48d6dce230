//! Import of mailboxes into an account: an mbox file, or a zip or tar.gz of mbox files
//! and Maildir folders (what the export writes, and what Dovecot, mutt or Python's
//! `mailbox` module make).
//!
//! The request body is streamed to a temporary file in the data directory's `tmp/`
//! (at most `limits.import_bytes_max`), then the POST answers `202` with an import id
//! and the import runs in the background: a helper thread reads the archive and writes
//! each message to a spool file (line ends made CRLF, summary computed as the bytes
//! pass, fdatasynced), handing them over a bounded channel to a task on the core that
//! stores them through the account actor's ordinary APPEND path
//! ([`moxide_actors::Node::append`]: quota checked, group-committed, durable, IMAP
//! sessions told). `GET .../import/{id}` shows the progress.
//!
//! Bounded: [`IMPORT_BATCH_MESSAGES_MAX`] messages in flight; each message at most the
//! server's message size limit; all messages together at most
//! [`IMPORT_EXPANSION_MAX`] × the import limit (a zip or gzip bomb stops there); at
//! most [`ZIP_ENTRIES_MAX`] zip entries; progress records of the last
//! [`IMPORTS_KEPT_MAX`] imports. Archive names only name mailboxes (never files), and
//! names with `..` are skipped.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use moxide_actors::{AccountError, Node, SummaryFeed};
use moxide_storage::{Flags, MailboxTarget, NewMessage};

use crate::archive::{
    EntryKind, MboxLine, MboxLines, classify_entry, maildir_flags, mbox_read_flags, parse_dovecot_keywords,
};

/// Default of `limits.import_bytes_max`: the largest import request body, 1 GiB (a
/// mailbox archive of a typical account; the body goes to disk, never to memory).
pub const IMPORT_BYTES_MAX_DEFAULT: u64 = 1024 * 1024 * 1024;

/// Messages spooled ahead of the account actor, and the most stored in one APPEND
/// request: 64 amortizes the commit's fsync (about 1 ms) over many messages while the
/// spool files waiting stay few.
pub const IMPORT_BATCH_MESSAGES_MAX: usize = 64;

/// All messages of an import may expand to this multiple of the import's size (mail
/// compresses 3–10×); past it the import stops: a zip or gzip bomb fills no disk.
pub const IMPORT_EXPANSION_MAX: u64 = 16;

/// Most entries a zip may have: the zip reader keeps the central directory in memory
/// (about 100 bytes an entry, so about 20 MiB here).
pub const ZIP_ENTRIES_MAX: usize = 200_000;

/// Progress records kept (running and finished imports); the oldest finished goes first.
pub const IMPORTS_KEPT_MAX: usize = 32;

/// Imports running at once in the server: each holds a helper thread and its archive on
/// disk.
pub const IMPORTS_RUNNING_MAX: usize = 2;

/// Error texts kept per import (the count goes on).
pub const IMPORT_ERRORS_KEPT_MAX: usize = 20;

/// Messages of one mailbox whose identity an import keeps to skip duplicates (16 bytes
/// each: 16 MiB at most). Past it the mailbox's remaining messages are not checked, and
/// an import run again may store those twice; the log says so.
pub const IMPORT_KNOWN_MESSAGES_MAX: usize = 1_000_000;

/// Largest `dovecot-keywords` file read (26 keywords fit in a few KiB).
const KEYWORDS_FILE_BYTES_MAX: u64 = 64 * 1024;

/// Bytes of an mbox line handled at once (longer lines pass in pieces).
const LINE_PIECE_BYTES_MAX: u64 = 64 * 1024;

/// The state of one import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportState {
    /// Still storing messages.
    Running,
    /// Every message was read (some may have failed, see the errors).
    Done,
    /// Stopped before the end (over quota, unreadable archive, server error).
    Failed(String),
}

/// What an import has done so far.
#[derive(Debug, Clone)]
pub struct ImportProgress {
    /// The import's id.
    pub id: String,
    /// The account imported into.
    pub account: String,
    /// Running, done or failed.
    pub state: ImportState,
    /// Messages stored.
    pub messages: u64,
    /// Messages already in their mailbox, not stored again.
    pub skipped: u64,
    /// Mailboxes created.
    pub mailboxes_created: u32,
    /// Messages (or archive entries) that failed.
    pub errors: u64,
    /// The first [`IMPORT_ERRORS_KEPT_MAX`] failures, for people.
    pub error_messages: Vec<String>,
}

impl ImportProgress {
    fn error(&mut self, count: u64, message: String) {
        self.errors += count;
        if self.error_messages.len() < IMPORT_ERRORS_KEPT_MAX {
            self.error_messages.push(message);
        }
    }
}

/// The server's imports, shared by all cores.
#[derive(Debug, Default)]
pub struct Imports {
    records: Mutex<VecDeque<Arc<Mutex<ImportProgress>>>>,
}

impl Imports {
    /// Registers a new import, unless [`IMPORTS_RUNNING_MAX`] are running.
    pub fn start(&self, id: String, account: &str) -> Option<Arc<Mutex<ImportProgress>>> {
        let mut records = self.records.lock().ok()?;
        let running =
            records.iter().filter(|r| r.lock().is_ok_and(|r| r.state == ImportState::Running)).count();
        if running >= IMPORTS_RUNNING_MAX {
            return None;
        }
        while records.len() >= IMPORTS_KEPT_MAX {
            let finished =
                records.iter().position(|r| r.lock().is_ok_and(|r| r.state != ImportState::Running));
            match finished {
                Some(index) => drop(records.remove(index)),
                None => return None,
            }
        }
        let progress = Arc::new(Mutex::new(ImportProgress {
            id,
            account: account.to_string(),
            state: ImportState::Running,
            messages: 0,
            skipped: 0,
            mailboxes_created: 0,
            errors: 0,
            error_messages: Vec::new(),
        }));
        records.push_back(Arc::clone(&progress));
        Some(progress)
    }

    /// The progress of import `id` (of `account`, when given: accounts see only theirs).
    pub fn get(&self, id: &str, account: Option<&str>) -> Option<ImportProgress> {
        let records = self.records.lock().ok()?;
        records
            .iter()
            .filter_map(|r| r.lock().ok().map(|r| r.clone()))
            .find(|r| r.id == id && account.is_none_or(|account| r.account == account))
    }
}

/// Limits of one import.
#[derive(Debug, Clone, Copy)]
pub struct ImportLimits {
    /// Largest message, bytes.
    pub message_bytes_max: u64,
    /// All messages together, bytes.
    pub expanded_bytes_max: u64,
}

/// A message spooled by the reader thread.
struct Spooled {
    mailbox: String,
    path: PathBuf,
    size: u64,
    flags: Flags,
    keywords: Vec<String>,
    received_ms: i64,
    summary: Vec<u8>,
}

/// What the reader thread hands over.
enum Item {
    Message(Spooled),
    /// An entry or message that could not be read (the import goes on).
    Error(String),
}

/// Runs an import of the archive at `archive` into `account` (on the calling core) and
/// removes the archive at the end. `mailbox`: where a bare mbox file goes.
pub async fn run(
    node: Node,
    account: Arc<str>,
    archive: PathBuf,
    mailbox: String,
    spool_dir: PathBuf,
    limits: ImportLimits,
    progress: Arc<Mutex<ImportProgress>>,
) {
    let (sender, receiver) = flume::bounded::<Item>(IMPORT_BATCH_MESSAGES_MAX);
    let reader_archive = archive.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let reader_stop = Arc::clone(&stop);
    // Spool names start with the archive's (`import-<id>`): concurrent imports never
    // share a name.
    let spool_prefix =
        archive.file_stem().map_or_else(|| "import".into(), |s| s.to_string_lossy().into_owned());
    let reader = std::thread::Builder::new().name("import".into()).spawn(move || {
        let mut reader = Reader {
            sender,
            spool_dir,
            spool_prefix,
            stop: reader_stop,
            limits,
            expanded_bytes: 0,
            sequence: 0,
            keywords: HashMap::new(),
        };
        let result = reader.read_archive(&reader_archive, &mailbox);
        let _ = std::fs::remove_file(&reader_archive);
        result
    });
    let reader = match reader {
        Ok(reader) => reader,
        Err(error) => {
            let _ = std::fs::remove_file(&archive);
            set_state(&progress, ImportState::Failed(format!("cannot start the import: {error}")));
            return;
        }
    };
    let mut store = Storing { node, account, mailboxes: HashMap::new(), progress: Arc::clone(&progress) };

    let stopped = store.receive_all(&receiver).await;
    if stopped.is_some() {
        // Tell the reader to stop, and remove what it spooled meanwhile until it is gone.
        stop.store(true, Ordering::Relaxed);
        while let Ok(item) = receiver.recv_async().await {
            if let Item::Message(message) = item {
                let _ = moxide_runtime::fs::remove_file(message.path).await;
            }
        }
    }
    drop(receiver);
    let read = moxide_runtime::offload(move || reader.join()).await;
    let state = match (stopped, read) {
        (Some(reason), _) => ImportState::Failed(reason),
        (None, Ok(Ok(Ok(())))) => ImportState::Done,
        (None, Ok(Ok(Err(reason)))) => ImportState::Failed(reason),
        (None, _) => ImportState::Failed("the archive reader failed".into()),
    };
    set_state(&progress, state);
}

fn set_state(progress: &Mutex<ImportProgress>, state: ImportState) {
    if let Ok(mut progress) = progress.lock() {
        progress.state = state;
    }
}

/// The storing side, on the core.
struct Storing {
    node: Node,
    account: Arc<str>,
    /// Mailbox ids by name (at most the account's mailbox limit of them), and the
    /// identities of the messages each holds (see [`MessageKey`]).
    mailboxes: HashMap<String, (moxide_storage::MailboxId, HashSet<MessageKey>)>,
    progress: Arc<Mutex<ImportProgress>>,
}

impl Storing {
    /// Stores what the reader sends, a batch per mailbox at a time; `Some(reason)` when
    /// the import must stop (over quota, server error).
    async fn receive_all(&mut self, receiver: &flume::Receiver<Item>) -> Option<String> {
        let mut batch: Vec<Spooled> = Vec::new();
        let mut ended = false;
        while !ended {
            match receiver.recv_async().await {
                Ok(item) => self.add(item, &mut batch),
                Err(_) => ended = true,
            }
            while batch.len() < IMPORT_BATCH_MESSAGES_MAX {
                match receiver.try_recv() {
                    Ok(item)
                        if batch.first().is_some_and(
                            |first| matches!(&item, Item::Message(m) if m.mailbox != first.mailbox),
                        ) =>
                    {
                        if let Some(reason) = self.store(&mut batch).await {
                            return Some(reason);
                        }
                        self.add(item, &mut batch);
                    }
                    Ok(item) => self.add(item, &mut batch),
                    Err(flume::TryRecvError::Empty) => break,
                    Err(flume::TryRecvError::Disconnected) => {
                        ended = true;
                        break;
                    }
                }
            }
            if let Some(reason) = self.store(&mut batch).await {
                return Some(reason);
            }
        }
        None
    }

    fn add(&mut self, item: Item, batch: &mut Vec<Spooled>) {
        match item {
            Item::Message(message) => batch.push(message),
            Item::Error(error) => {
                if let Ok(mut progress) = self.progress.lock() {
                    progress.error(1, error);
                }
            }
        }
    }

    /// Stores `batch` (all one mailbox), skipping messages the mailbox already holds,
    /// and removes its spool files either way.
    async fn store(&mut self, batch: &mut Vec<Spooled>) -> Option<String> {
        let first = batch.first()?;
        let name = first.mailbox.clone();
        let paths: Vec<PathBuf> = batch.iter().map(|m| m.path.clone()).collect();
        let result = match self.mailbox(&name).await {
            Ok(id) => {
                let (fresh, keys, skipped) = self.new_ones(&name, batch);
                if let Ok(mut progress) = self.progress.lock() {
                    progress.skipped += skipped;
                }
                let count = fresh.len() as u64;
                let messages: Vec<NewMessage> = fresh.into_iter().map(|m| new_message(m, id)).collect();
                let stored = if messages.is_empty() {
                    Ok(())
                } else {
                    self.node.append(&self.account, messages).await.map(|_| ())
                };
                if stored.is_ok()
                    && let Some((_, known)) = self.mailboxes.get_mut(&name)
                {
                    known
                        .extend(keys.into_iter().take(IMPORT_KNOWN_MESSAGES_MAX.saturating_sub(known.len())));
                }
                stored.map(|()| count).map_err(|error| (error, count))
            }
            Err(error) => Err((error, batch.len() as u64)),
        };
        batch.clear();
        for path in paths {
            let _ = moxide_runtime::fs::remove_file(path).await;
        }
        let Ok(mut progress) = self.progress.lock() else { return Some("progress lost".into()) };
        match result {
            Ok(count) => {
                progress.messages += count;
                None
            }
            Err((
                error @ (AccountError::OverQuota { .. }
                | AccountError::Storage(_)
                | AccountError::Panicked(_)),
                count,
            )) => {
                progress.error(count, format!("{name}: {error}"));
                Some(format!("stopped: {error}"))
            }
            Err((error, count)) => {
                progress.error(count, format!("{name}: {error}"));
                None
            }
        }
    }

    /// Takes the messages of `batch` that mailbox `name` does not hold yet (nor the
    /// batch before them); returns them, their keys, and how many were skipped.
    fn new_ones(&self, name: &str, batch: &mut Vec<Spooled>) -> (Vec<Spooled>, Vec<MessageKey>, u64) {
        let known = self.mailboxes.get(name).map(|(_, known)| known);
        let mut fresh = Vec::with_capacity(batch.len());
        let mut keys: Vec<MessageKey> = Vec::with_capacity(batch.len());
        let mut skipped = 0;
        for message in batch.drain(..) {
            let key = MessageKey::of(message.size, message.received_ms, &message.summary);
            if known.is_some_and(|known| known.contains(&key)) || keys.contains(&key) {
                skipped += 1;
            } else {
                keys.push(key);
                fresh.push(message);
            }
        }
        (fresh, keys, skipped)
    }

    /// The id of mailbox `name`, created if needed; an existing mailbox's messages are
    /// read first (on a helper thread) for the keys that skip duplicates.
    async fn mailbox(&mut self, name: &str) -> Result<moxide_storage::MailboxId, AccountError> {
        if let Some((id, _)) = self.mailboxes.get(name) {
            return Ok(*id);
        }
        let stores = Arc::clone(self.node.stores());
        let (account, wanted) = (Arc::clone(&self.account), name.to_string());
        let found = moxide_runtime::offload(move || -> Result<_, moxide_storage::StorageError> {
            let store = stores.get(&account)?;
            let Some(info) = store.read(|view| view.mailbox_by_name(&wanted))? else { return Ok(None) };
            Ok(Some((info.id, known_messages(&store, &info)?)))
        })
        .await
        .map_err(|panic| AccountError::Panicked(panic.to_string()))?
        .map_err(|error| AccountError::Storage(Arc::new(error)))?;
        let (id, known) = match found {
            Some(found) => found,
            None => {
                let info = self.node.create_mailbox(&self.account, name.to_string(), None).await?;
                if let Ok(mut progress) = self.progress.lock() {
                    progress.mailboxes_created += 1;
                }
                (info.id, HashSet::new())
            }
        };
        self.mailboxes.insert(name.to_string(), (id, known));
        Ok(id)
    }
}

/// A message's identity for skipping duplicates: SHA-256 (cut to 128 bits) of its size,
/// its received time and its Message-ID. An import computes the same size (line ends
/// made CRLF) and time (the `From ` line, the Maildir name, the zip entry) for the same
/// archive every time, so a message an interrupted import stored is recognized when
/// the archive is imported again. Messages without a Message-ID are told apart by size
/// and time alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct MessageKey(u128);

impl MessageKey {
    fn of(size: u64, received_ms: i64, summary: &[u8]) -> MessageKey {
        use sha2::Digest as _;
        let mut hash = sha2::Sha256::new();
        hash.update(size.to_be_bytes());
        hash.update(received_ms.to_be_bytes());
        if let Some(id) = moxide_actors::summary_message_id(summary) {
            hash.update(&id);
        }
        let digest = hash.finalize();
        let mut first = [0u8; 16];
        first.copy_from_slice(&digest[..16]);
        MessageKey(u128::from_be_bytes(first))
    }
}

/// Blocking: the keys of the messages of a mailbox, a batch of records at a time, at most
/// [`IMPORT_KNOWN_MESSAGES_MAX`].
fn known_messages(
    store: &moxide_storage::AccountStore,
    mailbox: &moxide_storage::MailboxInfo,
) -> Result<HashSet<MessageKey>, moxide_storage::StorageError> {
    let mut known = HashSet::new();
    let last = moxide_storage::Uid(mailbox.uidnext.0.saturating_sub(1));
    let walked = crate::export::for_each_record(store, mailbox.id, last, |info| {
        if known.len() >= IMPORT_KNOWN_MESSAGES_MAX {
            return Err(io::Error::other("mailbox too large to check every message"));
        }
        let summary =
            store.read(|view| Ok(view.summary(info.id)?.map(<[u8]>::to_vec))).map_err(io::Error::other)?;
        known.insert(MessageKey::of(info.size, info.received_ms, summary.as_deref().unwrap_or_default()));
        Ok(())
    });
    if let Err(error) = walked {
        tracing::warn!(mailbox = %mailbox.name, %error, "import: not every message checked for duplicates");
    }
    Ok(known)
}

fn new_message(message: Spooled, mailbox: moxide_storage::MailboxId) -> NewMessage {
    NewMessage {
        spool_path: message.path,
        size: message.size,
        prefix: Vec::new(),
        mailbox: MailboxTarget::Id(mailbox),
        received_ms: message.received_ms,
        flags: message.flags,
        keywords: message.keywords,
        summary: Some(message.summary),
        saved_ms: None,
    }
}

/// The reading side, on its own thread.
struct Reader {
    sender: flume::Sender<Item>,
    spool_dir: PathBuf,
    /// Spool file names begin with this (the import's own).
    spool_prefix: String,
    /// Set by the storing side when it stopped the import.
    stop: Arc<AtomicBool>,
    limits: ImportLimits,
    expanded_bytes: u64,
    sequence: u64,
    /// Keyword letters of each Maildir folder (from its `dovecot-keywords`).
    keywords: HashMap<String, Vec<(usize, String)>>,
}

/// Why reading stops early.
enum Stop {
    /// The storing side hung up (it stopped the import).
    Hangup,
    /// The archive cannot be read further, or a limit was reached.
    Failed(String),
}

impl From<io::Error> for Stop {
    fn from(error: io::Error) -> Stop {
        Stop::Failed(error.to_string())
    }
}

impl Reader {
    fn read_archive(&mut self, path: &Path, mailbox: &str) -> Result<(), String> {
        let result = (|| -> Result<(), Stop> {
            let mut file = File::open(path)?;
            let mut magic = [0u8; 4];
            let read = file.read(&mut magic)?;
            drop(file);
            match &magic[..read] {
                [b'P', b'K', 3, 4] | [b'P', b'K', 5, 6] => self.read_zip(path),
                [0x1f, 0x8b, ..] => self.read_tgz(path),
                _ => self.read_mbox(BufReader::new(File::open(path)?), mailbox),
            }
        })();
        match result {
            Ok(()) | Err(Stop::Hangup) => Ok(()),
            Err(Stop::Failed(reason)) => Err(reason),
        }
    }

    fn read_zip(&mut self, path: &Path) -> Result<(), Stop> {
        let mut zip =
            zip::ZipArchive::new(File::open(path)?).map_err(|e| Stop::Failed(format!("zip: {e}")))?;
        if zip.len() > ZIP_ENTRIES_MAX {
            return Err(Stop::Failed(format!("the zip has over {ZIP_ENTRIES_MAX} entries")));
        }
        // Keywords files first: a zip's order is the writer's.
        for index in 0..zip.len() {
            let mut entry = zip.by_index(index).map_err(|e| Stop::Failed(format!("zip: {e}")))?;
            if let EntryKind::MaildirKeywords { mailbox } = classify_entry(&entry.name().unwrap_or_default())
            {
                self.read_keywords(&mut entry, mailbox)?;
            }
        }
        for index in 0..zip.len() {
            let mut entry = match zip.by_index(index) {
                Ok(entry) => entry,
                Err(error) => {
                    self.send(Item::Error(format!("zip entry {index}: {error}")))?;
                    continue;
                }
            };
            if entry.is_dir() {
                continue;
            }
            let name = entry.name().unwrap_or_default().into_owned();
            let mtime = entry.last_modified().and_then(|t| zip_time_ms(&t));
            self.read_entry(&name, &mut entry, mtime, true)?;
        }
        Ok(())
    }

    fn read_tgz(&mut self, path: &Path) -> Result<(), Stop> {
        let gzip = flate2::read::GzDecoder::new(BufReader::new(File::open(path)?));
        let mut tar = tar::Archive::new(gzip);
        for entry in tar.entries()? {
            let mut entry = entry?;
            if !entry.header().entry_type().is_file() {
                continue;
            }
            let name = entry.path()?.to_string_lossy().into_owned();
            let mtime = entry.header().mtime().ok().and_then(|s| i64::try_from(s).ok()).map(|s| s * 1000);
            self.read_entry(&name, &mut entry, mtime, false)?;
        }
        Ok(())
    }

    /// One archive file: a Maildir message, a keywords file, or an mbox file.
    fn read_entry(
        &mut self,
        name: &str,
        entry: &mut impl Read,
        mtime_ms: Option<i64>,
        keywords_read: bool,
    ) -> Result<(), Stop> {
        match classify_entry(name) {
            EntryKind::MaildirMessage { mailbox, file_name } => {
                let (flags, letters) = maildir_flags(&file_name);
                let known = self.keywords.get(&mailbox);
                let keywords = letters
                    .iter()
                    .filter_map(|letter| {
                        known?.iter().find(|(index, _)| index == letter).map(|(_, k)| k.clone())
                    })
                    .collect();
                let received_ms = maildir_time_ms(&file_name).or(mtime_ms);
                self.spool(entry, mailbox, flags, keywords, received_ms)
            }
            EntryKind::MaildirKeywords { mailbox } if !keywords_read => self.read_keywords(entry, mailbox),
            EntryKind::Mbox { mailbox } => self.read_mbox(BufReader::new(entry), &mailbox),
            EntryKind::MaildirKeywords { .. } | EntryKind::Skip => Ok(()),
        }
    }

    fn read_keywords(&mut self, entry: &mut impl Read, mailbox: String) -> Result<(), Stop> {
        let mut text = String::new();
        if entry.take(KEYWORDS_FILE_BYTES_MAX).read_to_string(&mut text).is_err() {
            return self.send(Item::Error(format!("{mailbox}: dovecot-keywords is not UTF-8")));
        }
        self.keywords.insert(mailbox, parse_dovecot_keywords(&text));
        Ok(())
    }

    /// An mbox file: each message spooled as its lines pass.
    fn read_mbox(&mut self, mut input: impl BufRead, mailbox: &str) -> Result<(), Stop> {
        let mut lines = MboxLines::default();
        let mut current: Option<SpoolWriter> = None;
        let mut line = Vec::new();
        let mut at_line_start = true;
        // In the current message's header, where its flag fields are (`Status:` ...).
        let mut in_header = false;
        // Leaving the current header field out (an mbox metadata field).
        let mut dropping = false;
        loop {
            line.clear();
            let read = input.by_ref().take(LINE_PIECE_BYTES_MAX).read_until(b'\n', &mut line)?;
            if read == 0 {
                break;
            }
            match lines.line(&line, at_line_start) {
                MboxLine::Separator => {
                    if let Some(writer) = current.take() {
                        self.finish(writer)?;
                    }
                    let received_ms = mbox_time_ms(&line);
                    current = Some(self.begin(mailbox.to_string(), Flags(0), Vec::new(), received_ms)?);
                    in_header = true;
                    dropping = false;
                }
                MboxLine::Body(bytes) => {
                    if let Some(writer) = current.as_mut() {
                        if in_header && at_line_start {
                            if line == b"\n" || line == b"\r\n" {
                                in_header = false;
                            } else if line.starts_with(b" ") || line.starts_with(b"\t") {
                                // A continuation line goes with its field.
                            } else {
                                let keywords_max = moxide_storage::KEYWORDS_PER_MESSAGE_MAX;
                                let (flags, keywords) = (&mut writer.flags, &mut writer.keywords);
                                dropping = mbox_read_flags(&line, flags, keywords, keywords_max);
                            }
                        }
                        if !(in_header && dropping) {
                            writer.write(&bytes, &mut self.expanded_bytes, self.limits)?;
                        }
                    }
                }
                MboxLine::Outside => {}
            }
            at_line_start = line.ends_with(b"\n");
        }
        if let Some(writer) = current.take() {
            self.finish(writer)?;
        }
        Ok(())
    }

    /// One message from `input`.
    fn spool(
        &mut self,
        input: &mut impl Read,
        mailbox: String,
        flags: Flags,
        keywords: Vec<String>,
        received_ms: Option<i64>,
    ) -> Result<(), Stop> {
        let mut writer = self.begin(mailbox, flags, keywords, received_ms)?;
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let read = match input.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(error) => {
                    let text = format!("{}: {error}", writer.mailbox);
                    writer.discard();
                    return self.send(Item::Error(text));
                }
            };
            writer.write(&buffer[..read], &mut self.expanded_bytes, self.limits)?;
        }
        self.finish(writer)
    }

    fn begin(
        &mut self,
        mailbox: String,
        flags: Flags,
        keywords: Vec<String>,
        received_ms: Option<i64>,
    ) -> Result<SpoolWriter, Stop> {
        if self.stop.load(Ordering::Relaxed) {
            return Err(Stop::Hangup);
        }
        self.sequence += 1;
        let path = self.spool_dir.join(format!("{}-{}", self.spool_prefix, self.sequence));
        let file = File::create(&path)?;
        Ok(SpoolWriter {
            file: io::BufWriter::with_capacity(64 * 1024, file),
            path,
            mailbox,
            flags,
            keywords,
            received_ms: received_ms.unwrap_or_else(moxide_actors::clock::now_unix_ms),
            size: 0,
            summary: SummaryFeed::new(),
            last_carriage_return: false,
            too_large: false,
            scratch: Vec::new(),
        })
    }

    /// Syncs a spooled message and hands it over (or reports why not).
    fn finish(&mut self, writer: SpoolWriter) -> Result<(), Stop> {
        if writer.too_large {
            let text = format!(
                "{}: a message over {} bytes was skipped",
                writer.mailbox, self.limits.message_bytes_max
            );
            writer.discard();
            return self.send(Item::Error(text));
        }
        let SpoolWriter { file, path, mailbox, flags, keywords, received_ms, size, summary, .. } = writer;
        let file = file.into_inner().map_err(|e| Stop::Failed(e.to_string()))?;
        file.sync_data()?;
        let message = Spooled {
            mailbox,
            path: path.clone(),
            size,
            flags,
            keywords,
            received_ms,
            summary: summary.finish(),
        };
        if self.sender.send(Item::Message(message)).is_err() {
            let _ = std::fs::remove_file(path);
            return Err(Stop::Hangup);
        }
        Ok(())
    }

    fn send(&self, item: Item) -> Result<(), Stop> {
        self.sender.send(item).map_err(|_| Stop::Hangup)
    }
}

/// A message being spooled: line ends made CRLF (RFC 5322 §2.1), summarized as it passes.
struct SpoolWriter {
    file: io::BufWriter<File>,
    path: PathBuf,
    mailbox: String,
    flags: Flags,
    keywords: Vec<String>,
    received_ms: i64,
    size: u64,
    summary: SummaryFeed,
    last_carriage_return: bool,
    too_large: bool,
    scratch: Vec<u8>,
}

impl SpoolWriter {
    fn write(&mut self, bytes: &[u8], expanded_bytes: &mut u64, limits: ImportLimits) -> Result<(), Stop> {
        if self.too_large {
            return Ok(());
        }
        self.scratch.clear();
        for &byte in bytes {
            if byte == b'\n' && !self.last_carriage_return {
                self.scratch.push(b'\r');
            }
            self.scratch.push(byte);
            self.last_carriage_return = byte == b'\r';
        }
        self.size += self.scratch.len() as u64;
        *expanded_bytes += self.scratch.len() as u64;
        if *expanded_bytes > limits.expanded_bytes_max {
            return Err(Stop::Failed(format!(
                "the messages exceed {} bytes ({IMPORT_EXPANSION_MAX} times the import limit)",
                limits.expanded_bytes_max
            )));
        }
        if self.size > limits.message_bytes_max {
            self.too_large = true;
            return Ok(());
        }
        self.summary.feed(&self.scratch);
        self.file.write_all(&self.scratch)?;
        Ok(())
    }

    fn discard(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A Maildir name's leading Unix seconds (`1700000000.M1P2.host:2,S`).
fn maildir_time_ms(file_name: &str) -> Option<i64> {
    let digits: String = file_name.chars().take_while(char::is_ascii_digit).collect();
    let seconds: i64 = digits.parse().ok()?;
    (seconds > 0 && digits.len() <= 11).then_some(seconds * 1000)
}

/// The date of an mbox `From ` line (`From sender Thu Jan  1 00:00:00 1970`).
fn mbox_time_ms(line: &[u8]) -> Option<i64> {
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let text = std::str::from_utf8(line).ok()?;
    let words: Vec<&str> = text.split_whitespace().collect();
    let index = words.iter().position(|w| MONTHS.contains(w))?;
    let month = MONTHS.iter().position(|m| *m == words[index])? as i64 + 1;
    let day: i64 = words.get(index + 1)?.parse().ok()?;
    let mut clock = words.get(index + 2)?.split(':').map(|p| p.parse::<i64>().ok());
    let (hour, minute, second) = (clock.next()??, clock.next()??, clock.next().flatten().unwrap_or(0));
    let year: i64 = words.get(index + 3)?.parse().ok()?;
    let days = days_from_civil(year, month, day);
    Some(((days * 86_400) + hour * 3600 + minute * 60 + second) * 1000)
}

fn zip_time_ms(time: &zip::DateTime) -> Option<i64> {
    let days = days_from_civil(i64::from(time.year()), i64::from(time.month()), i64::from(time.day()));
    let seconds = i64::from(time.hour()) * 3600 + i64::from(time.minute()) * 60 + i64::from(time.second());
    Some((days * 86_400 + seconds) * 1000)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn dates_of_from_lines_and_maildir_names() {
        assert_eq!(mbox_time_ms(b"From MAILER-DAEMON Tue Nov 14 22:13:20 2023\n"), Some(1_700_000_000_000));
        assert_eq!(mbox_time_ms(b"From someone\n"), None);
        assert_eq!(maildir_time_ms("1700000000.M1P2.host:2,S"), Some(1_700_000_000_000));
        assert_eq!(maildir_time_ms("abc"), None);
    }
}
