//! Writing a session's output: response bytes, and message-file ranges that go to the
//! socket with `sendfile(2)` on plaintext and in bounded reads through TLS (DESIGN:
//! zero-copy FETCH on plaintext).

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
                let Some((_, handle)) = files.iter().find(|(id, _)| *id == file) else {
                    // The session names only files the chunk opened: a bug, not the peer's.
                    tracing::error!(file, "imap output names a message file that is not open");
                    return Err(std::io::Error::other("message file not open"));
                };
                let handle = Arc::clone(handle);
                send_file(stream, &handle, offset, length).await?;
                session.advance_output(length);
            }
        }
    }
    Ok(())
}

async fn send_file(
    stream: &mut Stream,
    file: &Arc<File>,
    mut offset: u64,
    mut length: u64,
) -> std::io::Result<()> {
    stream.flush().await?;
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
