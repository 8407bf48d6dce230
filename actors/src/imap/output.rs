//! Writing a session's output: response bytes, and message-file ranges that go to the
//! socket with `sendfile(2)` on plaintext and in bounded reads through TLS or
//! COMPRESS=DEFLATE (DESIGN: zero-copy FETCH on plaintext; compressed bytes must pass
//! the compressor, 64 KiB at a time); and the file reads the session asks for to make its
//! output (BINARY decoding, HEADER.FIELDS filtering), one bounded piece at a time on a
//! helper thread.

use std::fs::File;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::AsyncWriteExt;
use moxide_protocols::imap::server::{Output, Session};
use moxide_runtime::Stream;

/// A write making no progress for this long ends the connection.
pub(crate) const WRITE_TIMEOUT: Duration = Duration::from_secs(300);

/// Longest a single sendfile step may wait for socket space before returning to the
/// executor (it then retries); bounds how long a slow reader holds a helper thread.
const SEND_FILE_STEP: Duration = Duration::from_millis(200);

/// Writes everything the session queued. A file the output names must be in `files`
/// (the FETCH chunk opened it); a write that makes no progress for [`WRITE_TIMEOUT`]
/// fails.
pub(crate) async fn write_all(
    stream: &mut Stream,
    session: &mut Session,
    files: &[(u64, Arc<File>)],
) -> std::io::Result<()> {
    while let Some(output) = session.pending_output() {
        match output {
            Output::Bytes(bytes) => {
                let n = bytes.len();
                stream.write_all(bytes).await?;
                session.advance_output(n as u64);
            }
            Output::File { file, offset, length } => {
                let handle = open_file(files, file)?;
                send_file(stream, &handle, offset, length).await?;
                session.advance_output(length);
            }
            Output::Read { file, offset, length } => {
                let handle = open_file(files, file)?;
                let bytes = read_piece(handle, offset, length).await?;
                session.file_read(&bytes);
            }
        }
    }
    Ok(())
}

/// A file the output names; the session names only files the chunk opened, so a
/// missing one is a bug, not the peer's.
fn open_file(files: &[(u64, Arc<File>)], file: u64) -> std::io::Result<Arc<File>> {
    match files.iter().find(|(id, _)| *id == file) {
        Some((_, handle)) => Ok(Arc::clone(handle)),
        None => {
            tracing::error!(file, "imap output names a message file that is not open");
            Err(std::io::Error::other("message file not open"))
        }
    }
}

/// Up to `length` bytes of `file` from `offset` (at most
/// `moxide_protocols::imap::server::TRANSFORM_READ_BYTES_MAX`), read on a helper thread;
/// fewer at the end of the file.
async fn read_piece(file: Arc<File>, offset: u64, length: u64) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt as _;
    let length = length.min(moxide_protocols::imap::server::TRANSFORM_READ_BYTES_MAX);
    let read = moxide_runtime::offload(move || {
        let mut bytes = vec![0u8; usize::try_from(length).unwrap_or(0)];
        let mut filled = 0;
        while filled < bytes.len() {
            match file.read_at(&mut bytes[filled..], offset + filled as u64) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        bytes.truncate(filled);
        Ok(bytes)
    })
    .await;
    read.map_err(|panic| std::io::Error::other(panic.to_string()))?
}

async fn send_file(
    stream: &mut Stream,
    file: &Arc<File>,
    mut offset: u64,
    mut length: u64,
) -> std::io::Result<()> {
    if !stream.is_compressed() {
        // sendfile bypasses what the stream buffers; compressed file bytes do not.
        stream.flush().await?;
    }
    let mut last_progress = Instant::now();
    while length > 0 {
        let sent = stream.send_file_step(file, offset, length, SEND_FILE_STEP).await?;
        if sent == 0 {
            if last_progress.elapsed() > WRITE_TIMEOUT {
                return Err(std::io::ErrorKind::TimedOut.into());
            }
            continue;
        }
        last_progress = Instant::now();
        offset += sent;
        length -= sent;
    }
    Ok(())
}
