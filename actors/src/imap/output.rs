//! Responses waiting to be written: bytes, and message-file segments that go to the socket
//! with `sendfile(2)` instead of through a buffer (DESIGN: zero-copy FETCH on plaintext).

use std::collections::VecDeque;
use std::fs::File;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::AsyncWriteExt;
use moxide_runtime::Stream;

/// Longest a single sendfile step may wait for socket space before returning to the
/// executor (it then retries); bounds how long a slow reader holds a helper thread.
const SEND_FILE_STEP: Duration = Duration::from_millis(200);

/// Bytes queued before the session writes them out even in the middle of a command
/// (large FETCH responses): bounds a session's buffer.
pub(crate) const OUTPUT_FLUSH_BYTES: usize = 64 * 1024;

enum Chunk {
    Bytes(Vec<u8>),
    File { file: Arc<File>, offset: u64, length: u64 },
}

/// Queued output of one session.
#[derive(Default)]
pub(crate) struct Output {
    chunks: VecDeque<Chunk>,
}

impl Output {
    /// The byte buffer to append responses to.
    pub(crate) fn buf(&mut self) -> &mut Vec<u8> {
        if !matches!(self.chunks.back(), Some(Chunk::Bytes(_))) {
            self.chunks.push_back(Chunk::Bytes(Vec::new()));
        }
        match self.chunks.back_mut() {
            Some(Chunk::Bytes(bytes)) => bytes,
            _ => unreachable!("a byte chunk was just pushed"),
        }
    }

    /// Queues `length` bytes of `file` from `offset`.
    pub(crate) fn file(&mut self, file: Arc<File>, offset: u64, length: u64) {
        if length > 0 {
            self.chunks.push_back(Chunk::File { file, offset, length });
        }
    }

    /// Whether enough is queued that it should be written now.
    pub(crate) fn wants_flush(&self) -> bool {
        let queued: usize =
            self.chunks.iter().map(|c| if let Chunk::Bytes(b) = c { b.len() } else { 0 }).sum();
        queued >= OUTPUT_FLUSH_BYTES || self.chunks.iter().any(|c| matches!(c, Chunk::File { .. }))
    }

    /// Writes everything queued. A write that makes no progress for `timeout` fails.
    pub(crate) async fn flush(&mut self, stream: &mut Stream, timeout: Duration) -> std::io::Result<()> {
        while let Some(chunk) = self.chunks.pop_front() {
            match chunk {
                Chunk::Bytes(bytes) => stream.write_all(&bytes).await?,
                Chunk::File { file, mut offset, mut length } => {
                    stream.flush().await?;
                    let mut last_progress = Instant::now();
                    while length > 0 {
                        let sent = stream.send_file_step(&file, offset, length, SEND_FILE_STEP).await?;
                        if sent == 0 {
                            if last_progress.elapsed() > timeout {
                                return Err(std::io::ErrorKind::TimedOut.into());
                            }
                            continue;
                        }
                        last_progress = Instant::now();
                        offset += sent;
                        length -= sent;
                    }
                }
            }
        }
        stream.flush().await
    }
}
