//! APPEND and MULTIAPPEND (RFC 9051 §6.3.12, RFC 3502): the reader streams each message;
//! the session asks the caller to accept it (a spool file), hands the bytes on, and at
//! the command's end asks for all of the command's messages to be stored at once, all or
//! nothing. The tagged OK (with APPENDUID, RFC 4315 §3) comes only after they are stored.

use super::error::{CommandError, Done};
use super::flags::split;
use super::{Answer, Event, Job, Session};
use crate::imap::datetime::DateTime;
use crate::imap::response::{ResponseCode, Status};
use crate::imap::types::{Flag, Tag, format_uid_set};

/// An APPEND in progress.
#[derive(Debug)]
pub(crate) struct AppendJob {
    mailbox: String,
    /// Why the command fails (a message was refused); its messages are then discarded.
    failed: Option<CommandError>,
    phase: AppendPhase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AppendPhase {
    /// Waiting for the caller to accept a message.
    Message,
    /// Streaming, or between messages.
    Data,
    /// Waiting for the caller to store or discard.
    End,
}

impl Session {
    pub(crate) fn append_message(
        &mut self,
        tag: Tag,
        sent: &str,
        flags: &[Flag],
        date: Option<DateTime>,
        size: u64,
        index: u32,
    ) {
        if index == 0 {
            // RFC 9051 §6.3.12: the message goes where the command says; a change to the
            // selected mailbox shows at the command's end.
            self.begin(tag, "append", true, true);
            let failed = (!self.authenticated).then(|| CommandError::bad("log in first"));
            let mailbox = self.mailbox_name(sent);
            self.set_job(Job::Append(AppendJob { mailbox, failed, phase: AppendPhase::Data }));
        }
        let Some(Job::Append(job)) = self.running.as_mut().map(|running| &mut running.job) else {
            self.reader.append_reject();
            return;
        };
        if job.failed.is_some() {
            self.reader.append_reject();
            return;
        }
        let (flags, keywords) = match split(flags) {
            Ok(split) => split,
            Err(text) => {
                job.failed = Some(CommandError::Bad(text));
                self.reader.append_reject();
                return;
            }
        };
        job.phase = AppendPhase::Message;
        let event = Event::AppendMessage {
            mailbox: job.mailbox.clone(),
            flags,
            keywords,
            date_ms: date.map(|date| date.unix_secs.saturating_mul(1000)),
            size,
            index,
        };
        self.request(event, true);
    }

    /// The APPEND command ended (`rejected`: the reader skipped a refused message).
    pub(crate) fn append_end(&mut self, tag: Tag, rejected: bool) {
        let Some(Job::Append(job)) = self.running.as_mut().map(|running| &mut running.job) else {
            self.write_tagged_for(&tag, Status::Bad, "APPEND refused");
            self.count_bad();
            return;
        };
        let store = !rejected && job.failed.is_none();
        job.phase = AppendPhase::End;
        self.request(Event::AppendEnd { store }, true);
    }

    /// A read error ended the APPEND: its messages are discarded.
    pub(crate) fn append_failed(&mut self, error: CommandError) {
        if let Some(Job::Append(job)) = self.running.as_mut().map(|running| &mut running.job) {
            job.failed.get_or_insert(error);
            job.phase = AppendPhase::End;
            self.request(Event::AppendEnd { store: false }, true);
        }
    }

    pub(crate) fn append_answered(&mut self, mut job: AppendJob, answer: Answer) {
        match (job.phase, answer) {
            (AppendPhase::Message, Answer::Accepted) => {
                job.phase = AppendPhase::Data;
                self.set_job(Job::Append(job));
                self.reader.append_accept();
            }
            (AppendPhase::Message, Answer::Failed(error)) => {
                job.failed = Some(super::messages::try_create(error));
                job.phase = AppendPhase::Data;
                self.set_job(Job::Append(job));
                self.reader.append_reject();
            }
            (AppendPhase::End, Answer::Appended(outcome)) => {
                let mut uids = outcome.uids;
                uids.sort_unstable();
                let code =
                    ResponseCode::AppendUid { uidvalidity: outcome.uidvalidity, uids: format_uid_set(&uids) };
                self.finish(Ok(Done::with(code, "APPEND completed")));
            }
            (AppendPhase::End, Answer::Done) => {
                let error = job.failed.unwrap_or_else(|| CommandError::No(None, "APPEND refused".into()));
                self.finish(Err(error));
            }
            (_, Answer::Failed(error)) => self.finish(Err(super::messages::try_create(error))),
            _ => self.finish(Err(CommandError::Internal)),
        }
    }
}
