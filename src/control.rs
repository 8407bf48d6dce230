//! The CLI's way to a running server: HTTP/1.1 requests to the admin API over the control
//! socket in the data directory (`data/ctl.sock`, mode 0600: only the server's own user,
//! or root, can connect; that is the authentication).
//!
//! A command that changes something first tries the data directory's lock: taken, no
//! server runs and the command does the work itself under it; held by a server, the
//! command asks that server through the socket, so the change is made by the one process
//! that owns the data and applies at once.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::Duration;

use moxide_storage::{DataDirLock, StorageError};

use crate::Error;
use crate::server::CONTROL_SOCKET;

/// Most bytes of a control-socket answer the CLI reads (the longest is a listing).
const ANSWER_BYTES_MAX: u64 = 64 * 1024 * 1024;

/// How long the CLI waits for the server (a password change hashes on the server).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// How long the CLI waits for the socket of a server that holds the lock but is still
/// starting (it listens once its first core runs).
const CONNECT_WAIT: Duration = Duration::from_secs(15);

/// Where a command is carried out.
pub(crate) enum Target {
    /// No server runs: do it here, holding the lock.
    Offline(DataDirLock),
    /// A server holds the data directory: ask it through this socket.
    Server(PathBuf),
}

/// Takes the lock, or finds the running server's socket.
pub(crate) fn target(data_dir: &Path) -> Result<Target, Error> {
    std::fs::create_dir_all(data_dir).map_err(|e| format!("creating {}: {e}", data_dir.display()))?;
    match DataDirLock::acquire(data_dir) {
        Ok(lock) => Ok(Target::Offline(lock)),
        Err(StorageError::DataDirInUse { .. }) => Ok(Target::Server(data_dir.join(CONTROL_SOCKET))),
        Err(error) => Err(error.into()),
    }
}

/// Sends one request; returns the JSON answer (`Null` for 204), or the server's error
/// message.
pub(crate) fn call(
    socket: &Path,
    method: &str,
    path: &str,
    body: Option<&serde_json::Value>,
) -> Result<serde_json::Value, Error> {
    let body = body.map(serde_json::Value::to_string).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: moxide\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let started = std::time::Instant::now();
    loop {
        let mut stream = connect(socket)?;
        let sent = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body.as_bytes()));
        match sent {
            Ok(()) => return read_answer(stream),
            // Closed before it took the whole request (a server still starting or one
            // at its connection limit): nothing was acted on, so sending again is safe.
            Err(error)
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
                ) && started.elapsed() < CONNECT_WAIT =>
            {
                tracing::debug!(%error, "control socket closed the request; sending it again");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// Reads a JSON answer to its end: the value (`Null` for none), or the server's message.
pub(crate) fn read_answer(stream: UnixStream) -> Result<serde_json::Value, Error> {
    let mut answer = Vec::new();
    stream.take(ANSWER_BYTES_MAX).read_to_end(&mut answer)?;
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n").ok_or("malformed answer from the server")?;
    let status: u16 = String::from_utf8_lossy(&answer[..split])
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or("malformed status line from the server")?;
    let content = &answer[split + 4..];
    let value = if content.is_empty() { serde_json::Value::Null } else { serde_json::from_slice(content)? };
    if status >= 400 {
        let message = value["message"].as_str().unwrap_or("request refused").to_string();
        return Err(message.into());
    }
    Ok(value)
}

/// Connects to the control socket, waiting a while for a server that is still starting.
pub(crate) fn connect(socket: &Path) -> Result<UnixStream, Error> {
    let started = std::time::Instant::now();
    let stream = loop {
        match UnixStream::connect(socket) {
            Ok(stream) if listened_by_live_server(socket, &stream) => break stream,
            Ok(_) if started.elapsed() < CONNECT_WAIT => {
                tracing::debug!("control socket is a stopped server's; waiting for the new one");
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(_) => {
                return Err(format!(
                    "the control socket {} is not the running server's (a server still starting?)",
                    socket.display()
                )
                .into());
            }
            Err(error) if started.elapsed() < CONNECT_WAIT => {
                tracing::debug!(%error, "control socket not ready yet");
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(error) => {
                return Err(format!(
                    "a server holds the data directory but its control socket {} refused: {error}",
                    socket.display()
                )
                .into());
            }
        }
    };
    stream.set_read_timeout(Some(ANSWER_TIMEOUT))?;
    Ok(stream)
}

/// Whether the socket `stream` reached belongs to a live server: one killed with `kill -9`
/// can leave its listener accepting for a moment after it is gone (see
/// [`moxide_runtime::unix::peer_pid`]), and a request sent there is reset unanswered.
/// The listener is the lock holder's, or at least a process that still exists (a server
/// in another pid namespace shows as 0 or under another id: trusted).
fn listened_by_live_server(socket: &Path, stream: &UnixStream) -> bool {
    let Ok(listener) = moxide_runtime::unix::peer_pid(stream) else { return true };
    let holder = socket.parent().and_then(DataDirLock::holder_pid);
    listener == 0 || holder == Some(listener) || Path::new(&format!("/proc/{listener}")).exists()
}
