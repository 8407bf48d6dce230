//! APPEND and MULTIAPPEND (RFC 9051 §6.3.12, RFC 3502): the reader streams each message;
//! the session asks the caller to accept it (a spool file), hands the bytes on, and at
//! the command's end asks for all of the command's messages to be stored at once, all or
//! nothing. The tagged OK (with APPENDUID, RFC 4315 §3) comes only after they are stored.
//!
//! REPLACE and UID REPLACE (RFC 8508) are an APPEND of one message followed, once it is
//! stored, by what `UID STORE n +FLAGS.SILENT (\Deleted)` and `UID EXPUNGE n` do (§3.3):
//! the same requests, so the new message is durable before the old one goes. A failed
//! append expunges nothing; a crash between the two leaves both messages, never
//! neither. The APPENDUID goes in an untagged OK (§3.3), the expunge as EXPUNGE or
//! VANISHED.
//!
//! CATENATE (RFC 4469) makes a message of TEXT literals and URL parts: the session
//! parses each URL ([`crate::imap::url`]), checks that it names this server, and asks
//! the caller to add the referenced bytes to the message being written
//! ([`Event::CatenateUrl`]); it counts every part against APPENDLIMIT (`NO [TOOBIG]`).
//! A URL that cannot be used fails the command with `NO [BADURL url]` (§5), and the
//! reader drops what the client still sends of it.

use super::error::{CommandError, Done};
use super::facts::SystemFlags;
use super::flags::split;
use super::{Answer, Event, Job, Session};
use crate::imap::datetime::DateTime;
use crate::imap::parser::ReplaceTarget;
use crate::imap::response::{ResponseCode, Status, write_untagged_status};
use crate::imap::types::{Flag, StoreMode, Tag, format_uid_set};
use crate::imap::url::parse_message_url;

/// An APPEND in progress.
#[derive(Debug)]
pub(crate) struct AppendJob {
    mailbox: String,
    /// Why the command fails (a message was refused); its messages are then discarded.
    failed: Option<CommandError>,
    phase: AppendPhase,
    /// REPLACE: the UID of the message the new one replaces, in the selected mailbox.
    replace: Option<u32>,
    /// Octets of the current CATENATE message so far (RFC 4469: APPENDLIMIT applies
    /// to the whole).
    catenated: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AppendPhase {
    /// Waiting for the caller to accept a message.
    Message,
    /// Waiting for the caller to add a CATENATE URL's bytes.
    Url,
    /// Streaming, or between messages.
    Data,
    /// Waiting for the caller to store or discard.
    End,
    /// REPLACE: the new message is stored; waiting for `\Deleted` on the old one.
    ReplaceStore,
    /// REPLACE: waiting for the old message's expunge.
    ReplaceExpunge,
}

/// A message of an APPEND (or REPLACE) begins: what the reader's `AppendMessage` said.
#[derive(Debug)]
pub(crate) struct MessageStart {
    pub(crate) tag: Tag,
    /// The target mailbox as sent.
    pub(crate) mailbox: String,
    pub(crate) flags: Vec<Flag>,
    pub(crate) date: Option<DateTime>,
    pub(crate) size: u64,
    pub(crate) index: u32,
    pub(crate) replace: Option<ReplaceTarget>,
}

impl Session {
    pub(crate) fn append_message(&mut self, start: MessageStart) {
        let MessageStart { tag, mailbox: sent, flags, date, size, index, replace } = start;
        let sent = sent.as_str();
        if index == 0 {
            // RFC 9051 §6.3.12: the message goes where the command says; a change to the
            // selected mailbox shows at the command's end.
            self.begin(tag, if replace.is_some() { "replace" } else { "append" }, true, true);
            let (replace, refusal) = match replace {
                Some(target) => match self.replaced_uid(target) {
                    Ok(uid) => (Some(uid), None),
                    Err(error) => (None, Some(error)),
                },
                None => (None, None),
            };
            let failed = if self.authenticated { refusal } else { Some(CommandError::bad("log in first")) };
            let mailbox = self.mailbox_name(sent);
            let phase = AppendPhase::Data;
            self.set_job(Job::Append(AppendJob { mailbox, failed, phase, replace, catenated: 0 }));
        }
        let Some(Job::Append(job)) = self.running.as_mut().map(|running| &mut running.job) else {
            self.reader.append_reject();
            return;
        };
        if job.failed.is_some() {
            self.reader.append_reject();
            return;
        }
        let (flags, keywords) = match split(&flags) {
            Ok(split) => split,
            Err(text) => {
                job.failed = Some(CommandError::Bad(text));
                self.reader.append_reject();
                return;
            }
        };
        job.phase = AppendPhase::Message;
        job.catenated = 0;
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

    /// A CATENATE TEXT part of `size` octets: within APPENDLIMIT with what came before,
    /// its bytes follow as message data.
    pub(crate) fn catenate_text(&mut self, size: u64) {
        let limit = self.config.reader.append_bytes_max;
        let Some(job) = self.append_job() else { return self.reader.append_reject() };
        if job.failed.is_some() {
            return self.reader.append_reject();
        }
        match job.catenated.checked_add(size).filter(|&total| total <= limit) {
            Some(total) => {
                job.catenated = total;
                self.reader.append_accept();
            }
            None => {
                job.failed = Some(too_big());
                self.reader.append_reject();
            }
        }
    }

    /// A CATENATE URL part: parsed and checked here, its bytes added by the caller.
    pub(crate) fn catenate_url(&mut self, url: String) {
        let hostname = self.config.hostname.clone();
        let limit = self.config.reader.append_bytes_max;
        let Some(job) = self.append_job() else { return self.reader.append_reject() };
        if job.failed.is_some() {
            return self.reader.append_reject();
        }
        let parsed = match parse_message_url(&url) {
            Ok(parsed) => parsed,
            Err(error) => {
                job.failed = Some(bad_url(&url, error.text()));
                return self.reader.append_reject();
            }
        };
        // RFC 4469 §3: only this server's messages can be catenated.
        if parsed.host.as_deref().is_some_and(|host| !host.eq_ignore_ascii_case(&hostname)) {
            job.failed = Some(bad_url(&url, "URL names another server"));
            return self.reader.append_reject();
        }
        job.phase = AppendPhase::Url;
        let event = Event::CatenateUrl {
            mailbox: canonical_inbox(parsed.mailbox),
            uidvalidity: parsed.uidvalidity,
            uid: parsed.uid,
            section: parsed.section,
            partial: parsed.partial,
            user: parsed.user,
            bytes_max: limit.saturating_sub(job.catenated),
            url,
        };
        self.request(event, true);
    }

    fn append_job(&mut self) -> Option<&mut AppendJob> {
        match self.running.as_mut().map(|running| &mut running.job) {
            Some(Job::Append(job)) => Some(job),
            _ => None,
        }
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
            (AppendPhase::Url, Answer::Catenated(bytes)) => {
                job.catenated = job.catenated.saturating_add(bytes);
                job.phase = AppendPhase::Data;
                // The caller was told the room left; past it the message is refused
                // all the same.
                let over = job.catenated > self.config.reader.append_bytes_max;
                if over {
                    job.failed = Some(too_big());
                }
                self.set_job(Job::Append(job));
                if over { self.reader.append_reject() } else { self.reader.append_accept() }
            }
            (AppendPhase::Message | AppendPhase::Url, Answer::Failed(error)) => {
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
                match job.replace {
                    Some(uid) => self.replace_appended(job, uid, &code),
                    None => self.finish(Ok(Done::with(code, "APPEND completed"))),
                }
            }
            (AppendPhase::ReplaceStore | AppendPhase::ReplaceExpunge, answer) => {
                self.replace_answered(job, answer)
            }
            (AppendPhase::End, Answer::Done) => {
                let error = job.failed.unwrap_or_else(|| CommandError::No(None, "APPEND refused".into()));
                self.finish(Err(error));
            }
            (_, Answer::Failed(error)) => self.finish(Err(super::messages::try_create(error))),
            _ => self.finish(Err(CommandError::Internal)),
        }
    }

    /// REPLACE's target as a UID of the view (RFC 8508 §3.2, §3.3): the command needs
    /// a writable selected mailbox and a message that is in it.
    fn replaced_uid(&self, target: ReplaceTarget) -> Result<u32, CommandError> {
        let Some(selected) = &self.selected else {
            return Err(CommandError::bad("select a mailbox first"));
        };
        if !target.uid && self.enabled.uidonly {
            return Err(CommandError::uid_required());
        }
        if selected.read_only {
            return Err(CommandError::no(ResponseCode::ReadOnly, "mailbox is read-only"));
        }
        if target.uid {
            return if selected.uids.contains(target.number) {
                Ok(target.number)
            } else {
                Err(CommandError::No(None, "no message with that UID".into()))
            };
        }
        selected.uids.uid_at(target.number).ok_or_else(|| CommandError::bad("no such message"))
    }

    /// The new message is stored: its APPENDUID goes out now, then the old message is
    /// marked `\Deleted` (RFC 8508 §3.3).
    fn replace_appended(&mut self, mut job: AppendJob, uid: u32, code: &ResponseCode) {
        write_untagged_status(self.out.buf(), Status::Ok, Some(code), "replacement message added");
        job.phase = AppendPhase::ReplaceStore;
        self.set_job(Job::Append(job));
        let event = Event::Store {
            uids: vec![uid],
            mode: StoreMode::Add,
            flags: SystemFlags::DELETED,
            keywords: Vec::new(),
            unchanged_since: None,
            report_unchanged: false,
        };
        self.request(event, true);
    }

    /// The old message's `\Deleted` was set, then it was expunged (reported as
    /// EXPUNGE or VANISHED like UID EXPUNGE's).
    fn replace_answered(&mut self, mut job: AppendJob, answer: Answer) {
        let Some(uid) = job.replace else { return self.finish(Err(CommandError::Internal)) };
        match (job.phase, answer) {
            (AppendPhase::ReplaceStore, Answer::Stored(outcome)) => {
                if let Some(selected) = self.selected.as_mut() {
                    for change in &outcome.changed {
                        selected.note_reported(change.uid, change.modseq);
                    }
                }
                job.phase = AppendPhase::ReplaceExpunge;
                self.set_job(Job::Append(job));
                self.request(Event::Expunge { within: vec![uid..=uid] }, true);
            }
            (AppendPhase::ReplaceExpunge, Answer::Expunged(uids, _)) => {
                let qresync = self.enabled.qresync || self.enabled.uidonly;
                if let Some(selected) = self.selected.as_mut() {
                    selected.remove_own(&uids, &mut self.out, qresync);
                }
                self.finish(Ok(Done::ok("REPLACE completed")));
            }
            (_, Answer::Failed(error)) => self.finish(Err(error)),
            _ => self.finish(Err(CommandError::Internal)),
        }
    }
}

/// What a CATENATE URL names, as [`Event::CatenateUrl`] gives it (a convenience for
/// callers that pass it on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatenateTarget {
    /// The mailbox, as stored names go.
    pub mailbox: String,
    /// The mailbox's UIDVALIDITY, when the URL gives one.
    pub uidvalidity: Option<u32>,
    /// The message.
    pub uid: u32,
    /// The section; `None` for the whole message.
    pub section: Option<crate::imap::types::Section>,
    /// The partial range.
    pub partial: Option<crate::imap::types::Partial>,
    /// The user an absolute URL names.
    pub user: Option<String>,
}

/// `NO [BADURL url]` (RFC 4469 §5).
pub(crate) fn bad_url(url: &str, why: &str) -> CommandError {
    CommandError::no(ResponseCode::BadUrl(url.to_owned()), format!("CATENATE: {why}"))
}

/// `NO [TOOBIG]`: the parts together pass APPENDLIMIT (RFC 4469 §5, RFC 7889).
fn too_big() -> CommandError {
    CommandError::no(ResponseCode::TooBig, "CATENATE: message larger than APPENDLIMIT")
}

/// A URL's mailbox as names are stored: INBOX in any case is INBOX (RFC 9051 §5.1).
pub(crate) fn canonical_inbox(name: String) -> String {
    if name.eq_ignore_ascii_case("INBOX") {
        return "INBOX".to_owned();
    }
    match name.get(..6) {
        Some(prefix) if prefix.eq_ignore_ascii_case("INBOX/") => format!("INBOX/{}", &name[6..]),
        _ => name,
    }
}
