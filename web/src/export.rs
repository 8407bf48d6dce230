//! Export of an account's mailboxes as mbox files or Maildir folders, packed as zip or
//! tar.gz, produced piece by piece: [`Exporter::step`] (blocking; run it on a helper
//! thread) yields the next [`EXPORT_CHUNK_BYTES`] or so of the archive, so the HTTP
//! response body ([`ExportBody`]) is made as it is sent and the CLI writes it to stdout
//! the same way.
//!
//! Bounded: message records are read [`RECORDS_PER_READ_MAX`] at a time, each in its
//! own short read transaction; message files are read [`FILE_READ_BYTES`] at a time.
//! The zip central directory grows by an entry per file (about 100 bytes: name and
//! offsets), which the zip format needs at its end.
//!
//! A tar header needs the entry's size first. An mbox file's size (quoting changes it)
//! is found by a first pass over its messages; messages expunged between the passes
//! leave the file short, so it is padded with empty lines (which mbox readers skip),
//! and messages delivered between the passes are beyond the first pass's last UID and
//! left out. Flags changed between the passes change a message's flag fields: a file
//! that grew fails the export (it is retried), one that shrank is padded.
//!
//! Flags travel with the messages: in Maildir as the file name's info (`:2,FRS...`,
//! keywords as letters of the folder's `dovecot-keywords`), in mbox as `Status:`,
//! `X-Status:` and `X-Keywords:` fields after the `From ` line (mox's and mutt's
//! convention; the message's own such fields are dropped so they cannot contradict).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, Write};
use std::ops::ControlFlow;
use std::os::unix::fs::FileExt as _;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use flate2::Compression;
use flate2::write::GzEncoder;
use hyper::body::{Body, Frame};
use moxide_storage::{AccountStore, MailboxId, MailboxInfo, MessageInfo, StorageError, Uid};
use zip::write::{SimpleFileOptions, StreamWriter, ZipWriter};

use crate::archive::{
    MAILDIR_KEYWORDS_MAX, MboxQuoter, dovecot_keywords, maildir_name, mbox_flag_headers, mbox_from_line,
};

/// About how many archive bytes one step yields: large enough that the hop to a helper
/// thread per piece costs little (about 0.1 ms per 64 KiB), small enough to keep memory
/// flat; a step may overshoot by one file read.
pub const EXPORT_CHUNK_BYTES: usize = 64 * 1024;

/// Bytes read from a message file at once.
const FILE_READ_BYTES: usize = 64 * 1024;

/// Message records read in one read transaction: a few hundred KiB at most (records
/// carry their keywords and delivery header prefix), and the transaction stays short.
pub const RECORDS_PER_READ_MAX: usize = 64;

/// The mailbox file layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailFormat {
    /// One mboxrd file per mailbox (`<mailbox>.mbox`).
    Mbox,
    /// One Maildir folder per mailbox (`<mailbox>/cur/...`).
    Maildir,
}

/// The archive around the files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    /// zip with deflate, written without seeking (data descriptors).
    Zip,
    /// tar, gzip-compressed.
    Tgz,
}

impl ArchiveKind {
    /// The response's content type.
    pub fn content_type(self) -> &'static str {
        match self {
            ArchiveKind::Zip => "application/zip",
            ArchiveKind::Tgz => "application/gzip",
        }
    }

    /// The file name ending.
    pub fn extension(self) -> &'static str {
        match self {
            ArchiveKind::Zip => "zip",
            ArchiveKind::Tgz => "tgz",
        }
    }
}

/// Parses `format=mbox|maildir&archive=zip|tgz` (defaults: mbox, zip).
pub fn parse_query(query: &str) -> Result<(MailFormat, ArchiveKind), String> {
    let mut format = MailFormat::Mbox;
    let mut archive = ArchiveKind::Zip;
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        match pair.split_once('=').unwrap_or((pair, "")) {
            ("format", "mbox") => format = MailFormat::Mbox,
            ("format", "maildir") => format = MailFormat::Maildir,
            ("archive", "zip") => archive = ArchiveKind::Zip,
            ("archive", "tgz" | "tar.gz") => archive = ArchiveKind::Tgz,
            ("format", other) => return Err(format!("format {other:?}: mbox or maildir")),
            ("archive", other) => return Err(format!("archive {other:?}: zip or tgz")),
            _ => {}
        }
    }
    Ok((format, archive))
}

/// Where the archive writers put their bytes; drained after each step.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Sink {
    fn len(&self) -> usize {
        self.0.lock().map_or(0, |bytes| bytes.len())
    }

    fn take(&self) -> Vec<u8> {
        self.0.lock().map(|mut bytes| std::mem::take(&mut *bytes)).unwrap_or_default()
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut bytes = self.0.lock().map_err(|_| io::Error::other("export sink poisoned"))?;
        bytes.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An archive being written entry by entry.
enum Packer {
    Zip(Box<ZipWriter<StreamWriter<Sink>>>),
    Tgz { gzip: GzEncoder<Sink>, entry_bytes: u64 },
}

/// tar's block size: headers and data are padded to it.
const TAR_BLOCK_BYTES: u64 = 512;

impl Packer {
    fn new(kind: ArchiveKind, sink: Sink) -> Packer {
        match kind {
            ArchiveKind::Zip => Packer::Zip(Box::new(ZipWriter::new_stream(sink))),
            ArchiveKind::Tgz => {
                Packer::Tgz { gzip: GzEncoder::new(sink, Compression::fast()), entry_bytes: 0 }
            }
        }
    }

    fn directory(&mut self, name: &str, mtime_s: i64) -> io::Result<()> {
        match self {
            Packer::Zip(zip) => {
                zip.add_directory(name, SimpleFileOptions::default()).map_err(io::Error::other)
            }
            Packer::Tgz { gzip, .. } => tar_header(gzip, name, 0, mtime_s, tar::EntryType::Directory),
        }
    }

    /// Begins a file entry of `size` bytes (tar needs it; zip learns it at the end, and
    /// an entry of unknown size gets zip64 fields in case it passes 4 GiB).
    fn file(&mut self, name: &str, size: Option<u64>, mtime_s: i64) -> io::Result<()> {
        match self {
            Packer::Zip(zip) => {
                let options = SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated)
                    .large_file(size.is_none_or(|size| size >= u64::from(u32::MAX)));
                zip.start_file(name, options).map_err(io::Error::other)
            }
            Packer::Tgz { gzip, entry_bytes } => {
                *entry_bytes = 0;
                let size = size.ok_or_else(|| io::Error::other("a tar entry needs its size first"))?;
                tar_header(gzip, name, size, mtime_s, tar::EntryType::Regular)
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Packer::Zip(zip) => zip.write_all(bytes),
            Packer::Tgz { gzip, entry_bytes } => {
                *entry_bytes += bytes.len() as u64;
                gzip.write_all(bytes)
            }
        }
    }

    /// Ends a file entry (tar: pads it to a block).
    fn end_file(&mut self) -> io::Result<()> {
        if let Packer::Tgz { gzip, entry_bytes } = self {
            let padding = (TAR_BLOCK_BYTES - *entry_bytes % TAR_BLOCK_BYTES) % TAR_BLOCK_BYTES;
            gzip.write_all(&[0u8; 512][..usize::try_from(padding).unwrap_or(0)])?;
        }
        Ok(())
    }

    fn finish(self) -> io::Result<()> {
        match self {
            Packer::Zip(zip) => zip.finish().map(drop).map_err(io::Error::other),
            Packer::Tgz { mut gzip, .. } => {
                gzip.write_all(&[0u8; 1024])?;
                gzip.finish().map(drop)
            }
        }
    }
}

/// Writes a tar header (GNU form; a name over 100 bytes goes first in a `././@LongLink`
/// entry, as GNU tar does).
fn tar_header(
    out: &mut impl Write,
    name: &str,
    size: u64,
    mtime_s: i64,
    kind: tar::EntryType,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    if header.set_path(name).is_err() || name.len() > 100 {
        let mut long = tar::Header::new_gnu();
        long.as_mut_bytes()[..13].copy_from_slice(b"././@LongLink");
        long.set_mode(0o644);
        long.set_entry_type(tar::EntryType::GNULongName);
        long.set_size(name.len() as u64 + 1);
        long.set_cksum();
        out.write_all(long.as_bytes())?;
        let mut bytes = name.as_bytes().to_vec();
        bytes.push(0);
        let padded = bytes.len().div_ceil(512) * 512;
        bytes.resize(padded, 0);
        out.write_all(&bytes)?;
        let short: String = name.chars().take(90).collect();
        header.set_path(short.trim_start_matches('/')).map_err(io::Error::other)?;
    }
    header.set_size(size);
    header.set_mode(if kind == tar::EntryType::Directory { 0o755 } else { 0o644 });
    header.set_mtime(u64::try_from(mtime_s).unwrap_or(0));
    header.set_entry_type(kind);
    header.set_cksum();
    out.write_all(header.as_bytes())
}

/// The message being copied into the archive.
struct OpenMessage {
    file: File,
    offset: u64,
    size: u64,
    quoter: Option<MboxQuoter>,
}

/// The mailbox being exported.
struct MailboxCursor {
    id: MailboxId,
    /// The next UID to read records from.
    next_uid: Uid,
    /// The last UID exported (tar mbox: the first pass's last UID).
    last_uid: Uid,
    batch: VecDeque<MessageInfo>,
    /// Maildir: the keywords with letters, in letter order.
    keywords: Vec<String>,
    /// Bytes written of this mailbox's mbox file, and the size announced (tar).
    written: u64,
    announced: Option<u64>,
    folder: String,
}

/// The export in progress; each [`Exporter::step`] yields the next piece.
pub struct Exporter {
    store: Arc<AccountStore>,
    format: MailFormat,
    mailboxes: VecDeque<MailboxInfo>,
    cursor: Option<MailboxCursor>,
    message: Option<OpenMessage>,
    packer: Option<Packer>,
    kind: ArchiveKind,
    sink: Sink,
    buffer: Vec<u8>,
    scratch: Vec<u8>,
}

impl Exporter {
    /// An export of every mailbox of `store`'s account (reads the mailbox list).
    /// Blocking.
    pub fn new(
        store: Arc<AccountStore>,
        format: MailFormat,
        kind: ArchiveKind,
    ) -> Result<Exporter, StorageError> {
        let mut mailboxes = store.read(|view| view.mailboxes())?;
        mailboxes.sort_by(|a, b| a.name.cmp(&b.name));
        let sink = Sink::default();
        Ok(Exporter {
            store,
            format,
            mailboxes: mailboxes.into(),
            cursor: None,
            message: None,
            packer: Some(Packer::new(kind, sink.clone())),
            kind,
            sink,
            buffer: vec![0; FILE_READ_BYTES],
            scratch: Vec::new(),
        })
    }

    /// The next piece of the archive, `None` at its end. Blocking: reads the store and
    /// message files.
    pub fn step(&mut self) -> io::Result<Option<Bytes>> {
        while self.sink.len() < EXPORT_CHUNK_BYTES {
            if !self.advance()? {
                break;
            }
        }
        let bytes = self.sink.take();
        if bytes.is_empty() && self.packer.is_none() { Ok(None) } else { Ok(Some(Bytes::from(bytes))) }
    }

    /// Does one bounded piece of work; `false` when the archive is complete.
    fn advance(&mut self) -> io::Result<bool> {
        let Some(packer) = self.packer.as_mut() else { return Ok(false) };
        if let Some(message) = self.message.as_mut() {
            let done = copy_piece(message, packer, &mut self.buffer, &mut self.scratch)?;
            if let Some(cursor) = self.cursor.as_mut() {
                cursor.written += self.scratch.len() as u64;
            }
            if done {
                self.message = None;
                if self.format == MailFormat::Maildir {
                    packer.end_file()?;
                }
            }
            return Ok(true);
        }
        if self.cursor.is_some() {
            self.next_message()?;
            return Ok(true);
        }
        match self.mailboxes.pop_front() {
            Some(mailbox) => self.begin_mailbox(&mailbox)?,
            None => {
                if let Some(packer) = self.packer.take() {
                    packer.finish()?;
                }
            }
        }
        Ok(true)
    }

    /// Starts a mailbox: the mbox file entry, or the Maildir folders and keywords file.
    fn begin_mailbox(&mut self, mailbox: &MailboxInfo) -> io::Result<()> {
        let store = Arc::clone(&self.store);
        let last_uid = Uid(mailbox.uidnext.0.saturating_sub(1));
        let mut cursor = MailboxCursor {
            id: mailbox.id,
            next_uid: Uid(1),
            last_uid,
            batch: VecDeque::new(),
            keywords: Vec::new(),
            written: 0,
            announced: None,
            folder: mailbox.name.clone(),
        };
        let now_s = moxide_actors::clock::now_unix_ms() / 1000;
        let packer = self.packer.as_mut().ok_or_else(|| io::Error::other("archive finished"))?;
        match self.format {
            MailFormat::Mbox => {
                let size = match self.kind {
                    ArchiveKind::Tgz => {
                        let size =
                            mbox_size(&store, mailbox.id, last_uid, &mut self.buffer, &mut self.scratch)?;
                        cursor.announced = Some(size);
                        Some(size)
                    }
                    ArchiveKind::Zip => None,
                };
                packer.file(&format!("{}.mbox", mailbox.name), size, now_s)?;
            }
            MailFormat::Maildir => {
                cursor.keywords = mailbox_keywords(&store, mailbox.id, last_uid)?;
                for sub in ["", "cur/", "new/", "tmp/"] {
                    packer.directory(&format!("{}/{sub}", mailbox.name), now_s)?;
                }
                let keywords = dovecot_keywords(&cursor.keywords);
                packer.file(
                    &format!("{}/dovecot-keywords", mailbox.name),
                    Some(keywords.len() as u64),
                    now_s,
                )?;
                packer.write(keywords.as_bytes())?;
                packer.end_file()?;
            }
        }
        self.cursor = Some(cursor);
        Ok(())
    }

    /// Opens the mailbox's next message, or ends the mailbox.
    fn next_message(&mut self) -> io::Result<()> {
        let Some(cursor) = self.cursor.as_mut() else { return Ok(()) };
        if cursor.batch.is_empty() && cursor.next_uid <= cursor.last_uid {
            cursor.batch = read_batch(&self.store, cursor.id, cursor.next_uid, cursor.last_uid)?.into();
            cursor.next_uid = cursor
                .batch
                .back()
                .map_or(Uid(cursor.last_uid.0.saturating_add(1)), |m| Uid(m.uid.0.saturating_add(1)));
        }
        let packer = self.packer.as_mut().ok_or_else(|| io::Error::other("archive finished"))?;
        let Some(info) = cursor.batch.pop_front() else {
            return self.end_mailbox();
        };
        let file = match self.store.open_message_file(info.id, info.size) {
            Ok(file) => file,
            Err(StorageError::MessageFileMissing { .. }) => return Ok(()),
            Err(error) => return Err(io::Error::other(error)),
        };
        let received_s = info.received_ms.div_euclid(1000);
        let mut quoter = None;
        match self.format {
            MailFormat::Mbox => {
                self.scratch.clear();
                let q = mbox_message_start(&info, &mut self.scratch);
                packer.write(&self.scratch)?;
                cursor.written += self.scratch.len() as u64;
                quoter = Some(q);
            }
            MailFormat::Maildir => {
                let indexes: Vec<usize> = info
                    .keywords
                    .iter()
                    .filter_map(|k| cursor.keywords.iter().position(|known| known.eq_ignore_ascii_case(k)))
                    .collect();
                let unique = format!("{received_s}.M{}P{}.moxide", info.id.0, info.uid.0);
                let name = format!("{}/cur/{}", cursor.folder, maildir_name(&unique, info.flags, &indexes));
                packer.file(&name, Some(info.prefix.len() as u64 + info.size), received_s)?;
                packer.write(&info.prefix)?;
            }
        }
        self.message = Some(OpenMessage { file, offset: 0, size: info.size, quoter });
        Ok(())
    }

    /// Ends the current mailbox (tar mbox: pads the file to the size announced).
    fn end_mailbox(&mut self) -> io::Result<()> {
        let Some(cursor) = self.cursor.take() else { return Ok(()) };
        let packer = self.packer.as_mut().ok_or_else(|| io::Error::other("archive finished"))?;
        if self.format == MailFormat::Mbox {
            if let Some(announced) = cursor.announced {
                if cursor.written > announced {
                    return Err(io::Error::other("mailbox grew between the export's two passes"));
                }
                let mut missing = announced - cursor.written;
                while missing > 0 {
                    let piece = missing.min(FILE_READ_BYTES as u64);
                    packer.write(&vec![b'\n'; usize::try_from(piece).unwrap_or(0)])?;
                    missing -= piece;
                }
            }
            packer.end_file()?;
        }
        Ok(())
    }
}

/// Copies the next piece of a message into the archive; `true` when the message is done.
/// `scratch` holds what was written (for the mbox size count).
fn copy_piece(
    message: &mut OpenMessage,
    packer: &mut Packer,
    buffer: &mut [u8],
    scratch: &mut Vec<u8>,
) -> io::Result<bool> {
    scratch.clear();
    let wanted = usize::try_from((message.size - message.offset).min(buffer.len() as u64)).unwrap_or(0);
    let read = if wanted == 0 { 0 } else { read_at(&message.file, &mut buffer[..wanted], message.offset)? };
    message.offset += read as u64;
    let done = read == 0 || message.offset >= message.size;
    match message.quoter.as_mut() {
        Some(quoter) => {
            quoter.feed(&buffer[..read], scratch);
            if done && let Some(quoter) = message.quoter.take() {
                quoter.finish(scratch);
            }
            packer.write(scratch)?;
        }
        None => {
            packer.write(&buffer[..read])?;
            scratch.clear();
        }
    }
    Ok(done)
}

fn read_at(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
    loop {
        match file.read_at(buffer, offset) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

/// Up to [`RECORDS_PER_READ_MAX`] records of `mailbox` from `first` to `last`, in one
/// short read transaction.
fn read_batch(
    store: &AccountStore,
    mailbox: MailboxId,
    first: Uid,
    last: Uid,
) -> io::Result<Vec<MessageInfo>> {
    store
        .read(|view| {
            let mut batch = Vec::with_capacity(RECORDS_PER_READ_MAX);
            view.for_each_message(mailbox, first, last, |record| {
                batch.push(record.to_info());
                if batch.len() >= RECORDS_PER_READ_MAX {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })?;
            Ok(batch)
        })
        .map_err(io::Error::other)
}

/// Visits every record of `mailbox` up to `last`, a batch at a time.
pub(crate) fn for_each_record(
    store: &AccountStore,
    mailbox: MailboxId,
    last: Uid,
    mut f: impl FnMut(&MessageInfo) -> io::Result<()>,
) -> io::Result<()> {
    let mut next = Uid(1);
    while next <= last {
        let batch = read_batch(store, mailbox, next, last)?;
        let Some(tail) = batch.last() else { break };
        next = Uid(tail.uid.0.saturating_add(1));
        for info in &batch {
            f(info)?;
        }
        if tail.uid >= last {
            break;
        }
    }
    Ok(())
}

/// The first [`MAILDIR_KEYWORDS_MAX`] distinct keywords of a mailbox's messages.
fn mailbox_keywords(store: &AccountStore, mailbox: MailboxId, last: Uid) -> io::Result<Vec<String>> {
    let mut keywords: Vec<String> = Vec::new();
    for_each_record(store, mailbox, last, |info| {
        for keyword in &info.keywords {
            if keywords.len() < MAILDIR_KEYWORDS_MAX
                && !keywords.iter().any(|k| k.eq_ignore_ascii_case(keyword))
            {
                keywords.push(keyword.clone());
            }
        }
        Ok(())
    })?;
    Ok(keywords)
}

/// Starts a message of an mbox file in `out`: its `From ` line, its flags as header
/// fields (the message's own flag fields are dropped by the quoter), and its delivery
/// prefix quoted; returns the quoter for the rest.
fn mbox_message_start(info: &MessageInfo, out: &mut Vec<u8>) -> MboxQuoter {
    out.extend_from_slice(mbox_from_line(info.received_ms).as_bytes());
    out.extend_from_slice(mbox_flag_headers(info.flags, &info.keywords).as_bytes());
    let mut quoter = MboxQuoter::new();
    quoter.feed(&info.prefix, out);
    quoter
}

/// The size of a mailbox's mbox file: its messages quoted, counted, not kept.
fn mbox_size(
    store: &AccountStore,
    mailbox: MailboxId,
    last: Uid,
    buffer: &mut [u8],
    scratch: &mut Vec<u8>,
) -> io::Result<u64> {
    let mut total = 0u64;
    for_each_record(store, mailbox, last, |info| {
        let file = match store.open_message_file(info.id, info.size) {
            Ok(file) => file,
            Err(StorageError::MessageFileMissing { .. }) => return Ok(()),
            Err(error) => return Err(io::Error::other(error)),
        };
        scratch.clear();
        let quoter = mbox_message_start(info, scratch);
        let mut message = OpenMessage { file, offset: 0, size: info.size, quoter: Some(quoter) };
        total += scratch.len() as u64;
        loop {
            scratch.clear();
            let wanted =
                usize::try_from((message.size - message.offset).min(buffer.len() as u64)).unwrap_or(0);
            let read =
                if wanted == 0 { 0 } else { read_at(&message.file, &mut buffer[..wanted], message.offset)? };
            message.offset += read as u64;
            if let Some(quoter) = message.quoter.as_mut() {
                quoter.feed(&buffer[..read], scratch);
            }
            if read == 0 || message.offset >= message.size {
                if let Some(quoter) = message.quoter.take() {
                    quoter.finish(scratch);
                }
                total += scratch.len() as u64;
                return Ok(());
            }
            total += scratch.len() as u64;
        }
    })?;
    Ok(total)
}

type StepResult = Result<(Exporter, io::Result<Option<Bytes>>), moxide_runtime::OffloadPanic>;

/// The HTTP response body of an export: each frame is one [`Exporter::step`] on a helper
/// thread, asked for only when hyper wants the next frame (so a slow client slows the
/// export, and memory stays at one piece). An error ends the body abruptly (no final
/// chunk), so the client sees a failed transfer, never a short archive that looks whole.
pub struct ExportBody {
    exporter: Option<Exporter>,
    pending: Option<Pin<Box<dyn std::future::Future<Output = StepResult>>>>,
}

impl ExportBody {
    /// A body that runs `exporter` to its end.
    pub fn new(exporter: Exporter) -> ExportBody {
        ExportBody { exporter: Some(exporter), pending: None }
    }
}

impl Body for ExportBody {
    type Data = Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.pending.is_none() {
            let Some(mut exporter) = this.exporter.take() else { return Poll::Ready(None) };
            this.pending = Some(Box::pin(moxide_runtime::offload(move || {
                let result = exporter.step();
                (exporter, result)
            })));
        }
        let Some(pending) = this.pending.as_mut() else { return Poll::Ready(None) };
        let result = std::task::ready!(pending.as_mut().poll(cx));
        this.pending = None;
        match result {
            Ok((exporter, Ok(Some(bytes)))) => {
                this.exporter = Some(exporter);
                Poll::Ready(Some(Ok(Frame::data(bytes))))
            }
            Ok((_, Ok(None))) => Poll::Ready(None),
            Ok((_, Err(error))) => {
                tracing::error!(%error, "export failed");
                Poll::Ready(Some(Err(Box::new(error))))
            }
            Err(panic) => {
                tracing::error!(%panic, "export panicked");
                Poll::Ready(Some(Err(Box::new(io::Error::other("export failed")))))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use std::io::Read as _;

    use super::*;

    /// Names over tar's 100 bytes go in a GNU long-name entry; sizes and padding add up.
    #[test]
    fn tar_entries_with_long_names_read_back() {
        let sink = Sink::default();
        let mut packer = Packer::new(ArchiveKind::Tgz, sink.clone());
        let long = format!("{}/cur/1.M1P1.moxide:2,S", "deep/".repeat(40));
        packer.directory("INBOX/", 0).unwrap();
        packer.file(&long, Some(5), 0).unwrap();
        packer.write(b"hello").unwrap();
        packer.end_file().unwrap();
        packer.file("INBOX.mbox", Some(3), 0).unwrap();
        packer.write(b"abc").unwrap();
        packer.end_file().unwrap();
        packer.finish().unwrap();
        let bytes = sink.take();
        let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]));
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let mut content = String::new();
            entry.read_to_string(&mut content).unwrap();
            seen.push((entry.path().unwrap().display().to_string(), content));
        }
        assert_eq!(
            seen,
            vec![
                ("INBOX/".into(), String::new()),
                (long, "hello".into()),
                ("INBOX.mbox".into(), "abc".into())
            ]
        );
    }

    #[test]
    fn the_query_picks_format_and_archive() {
        assert_eq!(parse_query(""), Ok((MailFormat::Mbox, ArchiveKind::Zip)));
        assert_eq!(parse_query("format=maildir&archive=tgz"), Ok((MailFormat::Maildir, ArchiveKind::Tgz)));
        assert!(parse_query("format=pst").is_err());
    }
}
