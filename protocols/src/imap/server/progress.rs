//! INPROGRESS (RFC 9585): untagged `* OK [INPROGRESS ("tag" done total)]` responses
//! that tell a client a long command is still working, so it does not give up on a
//! silent connection. The storage side reports how far it is ([`Session::progress`]);
//! the session decides whether a response goes out, on the caller's clock.

use super::Session;
use crate::imap::response::{ResponseCode, Status, write_untagged_status};

/// How long a command runs before its first progress response: 1 s. RFC 9585 asks
/// servers not to send them for commands that end quickly; most searches end well
/// within a second, so they never see one.
pub const INPROGRESS_DELAY_MS_MIN: u64 = 1000;

/// Least time between two progress responses of one command: 1 s, often enough for a
/// client's progress display or its timeout, rare enough to cost nothing on the wire.
pub const INPROGRESS_INTERVAL_MS_MIN: u64 = 1000;

impl Session {
    /// The running command has done `done` of `total` units of work (messages), at
    /// `now_ms` on the caller's monotonic clock. Writes a progress response when the
    /// command has run for [`INPROGRESS_DELAY_MS_MIN`] and the last one is
    /// [`INPROGRESS_INTERVAL_MS_MIN`] old; returns whether it did (the caller then
    /// writes the output out). `done` is capped at `total`.
    pub fn progress(&mut self, now_ms: u64, done: u64, total: u64) -> bool {
        let Some(running) = self.running.as_mut() else { return false };
        if now_ms.saturating_sub(running.started_ms) < INPROGRESS_DELAY_MS_MIN {
            return false;
        }
        if running.progress_ms.is_some_and(|last| now_ms.saturating_sub(last) < INPROGRESS_INTERVAL_MS_MIN) {
            return false;
        }
        running.progress_ms = Some(now_ms);
        // MULTISEARCH (RFC 7377): the storage side counts one mailbox's messages; the
        // command's progress counts all of them.
        let (done, total) = match &running.job {
            super::Job::MultiSearch(job) => (job.messages_done.saturating_add(done), job.messages_total),
            _ => (done, total),
        };
        let code = ResponseCode::InProgress { tag: running.tag.0.clone(), done: done.min(total), total };
        write_untagged_status(self.out.buf(), Status::Ok, Some(&code), "still working");
        true
    }
}
