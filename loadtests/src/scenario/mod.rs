//! The five scenarios and what they share: logging in over IMAP, watching the server's
//! processes, per-worker seeds, filling a mailbox.

pub(crate) mod bigbox;
pub(crate) mod idle;
pub(crate) mod imap;
pub(crate) mod smtp;
pub(crate) mod stress;

use std::time::Instant;

use crate::cli::Settings;
use crate::imap::{ImapConnection, ImapError};
use crate::message::{self, Envelope, Rng, RunId};
use crate::procstat::ServerWatch;
use crate::stats::Recorder;

/// The name we greet SMTP servers with (RFC 5321 §4.1.1.1 wants our domain; a load
/// generator has none, and `localhost` is what local tools send).
pub(crate) const HELO_NAME: &str = "localhost";

/// Messages per MULTIAPPEND command when filling a mailbox: large enough to amortize the
/// round trip, small enough that one command stays under a few MB.
pub(crate) const APPEND_BATCH_MAX: usize = 100;

/// Starts watching `--server-pid` processes, if any were named.
pub(crate) fn watch_server(settings: &Settings) -> Result<Option<ServerWatch>, String> {
    if settings.server_pids.is_empty() {
        return Ok(None);
    }
    ServerWatch::start(&settings.server_pids).map(Some).map_err(|e| e.to_string())
}

/// A seed for worker `index`, distinct per worker and reproducible from `--seed`.
pub(crate) fn worker_rng(settings: &Settings, index: usize) -> Rng {
    Rng::new(settings.seed ^ (index as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03))
}

/// Connects to the IMAP server (from source `index`) and logs in.
pub(crate) fn imap_login(settings: &Settings, index: usize) -> Result<ImapConnection, ImapError> {
    imap_login_as(settings, index, &settings.user)
}

/// [`imap_login`] as `user`.
pub(crate) fn imap_login_as(
    settings: &Settings,
    index: usize,
    user: &str,
) -> Result<ImapConnection, ImapError> {
    let mut connection =
        ImapConnection::connect(settings.imap_target(), settings.source(index), settings.io_timeout)?;
    connection.login(user, &settings.password)?;
    Ok(connection)
}

/// The envelope of generated messages.
pub(crate) fn envelope(settings: &Settings) -> Envelope {
    Envelope { from: settings.from.clone(), to: settings.rcpt.clone() }
}

/// Appends generated messages to the selected mailbox until it holds `target` messages,
/// or `deadline` passes; batches with MULTIAPPEND when offered. Each command is timed as
/// `append`, and `on_appended` is told how many messages each batch added.
#[expect(clippy::too_many_arguments, reason = "one call site per scenario; a struct would only rename them")]
pub(crate) fn fill_mailbox(
    connection: &mut ImapConnection,
    settings: &Settings,
    run: &RunId,
    size: usize,
    target: u64,
    deadline: Instant,
    recorder: &mut Recorder,
    on_appended: &mut dyn FnMut(u64),
) -> Result<u64, ImapError> {
    let multi = connection.has("MULTIAPPEND");
    let batch_max = if multi { APPEND_BATCH_MAX } else { 1 };
    let envelope = envelope(settings);
    let mut rng = worker_rng(settings, usize::MAX / 2);
    let mut have = u64::from(connection.exists);
    let mut appended = 0u64;
    while have < target && Instant::now() < deadline {
        let batch = (target - have).min(batch_max as u64);
        let messages: Vec<Vec<u8>> =
            (0..batch).map(|i| message::generate(run, appended + i, size, &envelope, &mut rng)).collect();
        let slices: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();
        let started = Instant::now();
        match connection.append(&settings.mailbox, &slices, multi) {
            Ok(_) => recorder.record("append", started.elapsed()),
            Err(error) => {
                recorder.error("append", &error);
                return Err(error);
            }
        }
        appended += batch;
        have += batch;
        on_appended(batch);
    }
    Ok(appended)
}
