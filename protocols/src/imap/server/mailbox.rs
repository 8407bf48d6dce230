//! Mailbox commands: SELECT/EXAMINE (RFC 9051 §6.3.2, with CONDSTORE and QRESYNC,
//! RFC 7162 §3.1.8 and §3.2.5), CLOSE/UNSELECT (RFC 3691), CREATE (CREATE-SPECIAL-USE,
//! RFC 6154), DELETE, RENAME, SUBSCRIBE/UNSUBSCRIBE, LIST, LSUB and STATUS.

use super::error::{CommandError, Done};
use super::facts::{MailboxFacts, MailboxSnapshot};
use super::list::{DELIMITER, write_list_responses, write_lsub_responses, write_status_response};
use super::selected::Selected;
use super::{Answer, Event, Job, RecentMode, Session};
use crate::imap::response::{
    ResponseCode, Status, write_exists, write_list, write_recent, write_untagged_status,
};
use crate::imap::types::{ListCommand, SelectParams, StatusAttr, format_uid_set};

/// A SELECT/EXAMINE waiting for its mailbox.
#[derive(Debug)]
pub(crate) struct SelectJob {
    read_only: bool,
    /// The client's QRESYNC UIDVALIDITY, when it sent QRESYNC parameters.
    qresync_uidvalidity: Option<u32>,
}

/// A LIST or LSUB waiting for the mailboxes.
#[derive(Debug)]
pub(crate) enum ListJob {
    List { list: ListCommand, patterns: Vec<String> },
    Lsub { pattern: String },
}

impl Session {
    /// Leaves the selected mailbox (the caller unsubscribes on [`Event::Deselected`]).
    /// Returns whether one was selected.
    pub(crate) fn deselect(&mut self) -> bool {
        if self.selected.take().is_some() {
            self.queued_deselect();
            true
        } else {
            false
        }
    }

    fn queued_deselect(&mut self) {
        // Deselected needs no answer; the command's own event follows once it is polled.
        self.pending_deselect = true;
    }

    pub(crate) fn select(&mut self, sent: &str, params: SelectParams, read_only: bool) {
        let name = self.mailbox_name(sent);
        if params.qresync.is_some() && !self.enabled.qresync {
            self.finish(Err(CommandError::bad("enable QRESYNC first (RFC 7162 §3.2.5)")));
            return;
        }
        if self.deselect() {
            // RFC 9051 §6.3.2 / RFC 7162 §3.2.11: the previous mailbox is closed.
            write_untagged_status(
                self.out.buf(),
                Status::Ok,
                Some(&ResponseCode::Closed),
                "previous mailbox closed",
            );
        }
        if params.condstore {
            self.enable_condstore();
        }
        let recent = match (self.enabled.rev2, read_only) {
            (true, _) => RecentMode::None,
            (false, true) => RecentMode::Peek,
            (false, false) => RecentMode::Claim,
        };
        let qresync_uidvalidity = params.qresync.as_ref().map(|q| q.uidvalidity);
        let qresync = params.qresync.map(|q| (q.uidvalidity, q.modseq, q.known_uids));
        self.set_job(Job::Select(SelectJob { read_only, qresync_uidvalidity }));
        self.request(Event::Select { mailbox: name, read_only, recent, qresync }, true);
    }

    pub(crate) fn select_answered(&mut self, job: SelectJob, answer: Answer) {
        let snapshot = match answer {
            Answer::Selected(snapshot) => snapshot,
            Answer::Failed(error) => return self.finish(Err(error)),
            _ => return self.finish(Err(CommandError::Internal)),
        };
        let MailboxSnapshot {
            name,
            mailbox_key,
            uidvalidity,
            uidnext,
            highest_modseq,
            uids,
            first_unseen,
            recent,
            qresync,
        } = snapshot;
        let mut selected = Selected::new(name, job.read_only, uids, highest_modseq);
        selected.add_recent(recent);
        let out = self.out.buf();
        selected.announced.write(out, job.read_only);
        write_exists(out, selected.count());
        if !self.enabled.rev2 {
            // IMAP4rev1 only (RFC 3501 §6.3.1): RECENT and the first unseen.
            write_recent(out, selected.recent.len());
            if let Some(seq) = first_unseen.and_then(|uid| selected.seq_of(uid)) {
                write_untagged_status(out, Status::Ok, Some(&ResponseCode::Unseen(seq)), "first unseen");
            }
        }
        write_untagged_status(out, Status::Ok, Some(&ResponseCode::UidValidity(uidvalidity)), "UIDs valid");
        write_untagged_status(out, Status::Ok, Some(&ResponseCode::UidNext(uidnext)), "predicted next UID");
        write_untagged_status(out, Status::Ok, Some(&ResponseCode::HighestModSeq(highest_modseq)), "highest");
        let mailbox_id = ResponseCode::MailboxId(super::objectid::mailbox_id(mailbox_key));
        write_untagged_status(out, Status::Ok, Some(&mailbox_id), "object id");
        if self.enabled.rev2 {
            write_list(out, &[], Some(DELIMITER), &selected.name, true, &[]);
        }
        if let Some(facts) = qresync.filter(|_| job.qresync_uidvalidity == Some(uidvalidity)) {
            // RFC 7162 §3.2.5.2: what changed since the client's modseq.
            let mut vanished = facts.vanished;
            vanished.sort_unstable();
            vanished.dedup();
            if !vanished.is_empty() {
                crate::imap::response::write_vanished(self.out.buf(), true, &format_uid_set(&vanished));
            }
            let mut changed = facts.changed;
            changed.sort_unstable_by_key(|fact| fact.uid);
            let updates = self.updates(true);
            let updates = super::selected::Updates { condstore: true, ..updates };
            selected.queue_flags(&mut self.out, changed, true, updates);
        }
        self.selected = Some(selected);
        let (code, text) = if job.read_only {
            (ResponseCode::ReadOnly, "EXAMINE completed")
        } else {
            (ResponseCode::ReadWrite, "SELECT completed")
        };
        self.finish(Ok(Done::with(code, text)));
    }

    /// CLOSE (expunge silently, RFC 9051 §6.4.1) or UNSELECT (RFC 3691).
    pub(crate) fn close(&mut self, expunge: bool) {
        let writable = self.selected.as_ref().is_some_and(|selected| !selected.read_only);
        if expunge && writable {
            let within: Vec<_> =
                self.selected.as_ref().map(|selected| selected.uids.ranges().collect()).unwrap_or_default();
            self.set_job(Job::Close);
            self.request(Event::Expunge { within }, true);
            return;
        }
        self.deselect();
        self.finish(Ok(Done::ok(if expunge { "CLOSE completed" } else { "UNSELECT completed" })));
    }

    pub(crate) fn close_answered(&mut self, answer: Answer) {
        match answer {
            Answer::Expunged(..) => {
                // No EXPUNGE responses: the client leaves the mailbox (RFC 9051 §6.4.1).
                self.deselect();
                self.finish(Ok(Done::ok("CLOSE completed")));
            }
            Answer::Failed(error) => self.finish(Err(error)),
            _ => self.finish(Err(CommandError::Internal)),
        }
    }

    pub(crate) fn create(&mut self, sent: &str, special_use: Vec<String>) {
        let name = self.mailbox_name(sent).trim_end_matches(DELIMITER).to_owned();
        if name.eq_ignore_ascii_case("INBOX") {
            self.finish(Err(CommandError::no(ResponseCode::AlreadyExists, "INBOX always exists")));
            return;
        }
        let special_use = match special_use.as_slice() {
            [] => None,
            [one] => Some(one.clone()),
            _ => {
                self.finish(Err(CommandError::no(ResponseCode::Cannot, "one special-use per mailbox")));
                return;
            }
        };
        self.set_job(Job::Simple("CREATE completed"));
        self.request(Event::Create { mailbox: name, special_use }, true);
    }

    pub(crate) fn delete(&mut self, sent: &str) {
        let name = self.mailbox_name(sent);
        self.set_job(Job::Delete(name.clone()));
        self.request(Event::Delete { mailbox: name }, true);
    }

    pub(crate) fn delete_answered(&mut self, mailbox: &str, answer: Answer) {
        match answer {
            Answer::Done => {
                if self.selected.as_ref().is_some_and(|selected| selected.name == mailbox) {
                    self.deselect();
                }
                self.finish(Ok(Done::ok("DELETE completed")));
            }
            Answer::Failed(error) => self.finish(Err(error)),
            _ => self.finish(Err(CommandError::Internal)),
        }
    }

    pub(crate) fn rename(&mut self, from: &str, to: &str) {
        let (from, to) = (self.mailbox_name(from), self.mailbox_name(to));
        if let Some(selected) = self.selected.as_mut() {
            if from == "INBOX" {
                // RFC 9051 §6.3.6: INBOX stays and its messages move to `to`; a session
                // showing INBOX reports their expunges with this command's response.
                if selected.name == from
                    && let Some(running) = self.running.as_mut()
                {
                    running.force_sync = true;
                }
            } else if selected.name == from {
                selected.name.clone_from(&to);
            } else if let Some(rest) = selected.name.strip_prefix(&from).filter(|rest| rest.starts_with('/'))
            {
                // A child of the renamed mailbox is renamed with it.
                selected.name = format!("{to}{rest}");
            }
        }
        self.set_job(Job::Simple("RENAME completed"));
        self.request(Event::Rename { from, to }, true);
    }

    pub(crate) fn subscribe(&mut self, sent: &str, subscribed: bool) {
        let name = self.mailbox_name(sent);
        let text = if subscribed { "SUBSCRIBE completed" } else { "UNSUBSCRIBE completed" };
        self.set_job(Job::Simple(text));
        self.request(Event::Subscribe { mailbox: name, subscribed }, true);
    }

    pub(crate) fn list(&mut self, list: ListCommand) {
        if list.patterns.len() == 1 && list.patterns[0].is_empty() && !list.select_subscribed {
            // RFC 9051 §6.3.9: an empty pattern asks for the delimiter and root.
            write_list(self.out.buf(), &["\\Noselect"], Some(DELIMITER), "", true, &[]);
            self.finish(Ok(Done::ok("LIST completed")));
            return;
        }
        let patterns: Vec<String> = list
            .patterns
            .iter()
            .map(|pattern| self.mailbox_name(&format!("{}{pattern}", list.reference)))
            .collect();
        let recent = list.return_status.as_ref().is_some_and(|attrs| attrs.contains(&StatusAttr::Recent));
        let status = list.return_status.is_some();
        let deleted_bytes =
            list.return_status.as_ref().is_some_and(|attrs| attrs.contains(&StatusAttr::DeletedStorage));
        self.set_job(Job::List(ListJob::List { list, patterns }));
        self.request(Event::List { recent, status, deleted_bytes }, true);
    }

    pub(crate) fn lsub(&mut self, reference: &str, pattern: &str) {
        let pattern = self.mailbox_name(&format!("{reference}{pattern}"));
        self.set_job(Job::List(ListJob::Lsub { pattern }));
        self.request(Event::List { recent: false, status: false, deleted_bytes: false }, true);
    }

    pub(crate) fn list_answered(&mut self, job: ListJob, answer: Answer) {
        let facts = match answer {
            Answer::Mailboxes(facts) => facts,
            Answer::Failed(error) => return self.finish(Err(error)),
            _ => return self.finish(Err(CommandError::Internal)),
        };
        let utf8 = self.utf8();
        let append_limit = self.config.reader.append_bytes_max;
        match job {
            ListJob::List { list, patterns } => {
                let listed =
                    write_list_responses(self.out.buf(), &list, &patterns, &facts, utf8, append_limit);
                match list.return_metadata {
                    Some(entries) => self.list_metadata(listed, entries),
                    None => self.finish(Ok(Done::ok("LIST completed"))),
                }
            }
            ListJob::Lsub { pattern } => {
                write_lsub_responses(self.out.buf(), &pattern, &facts, utf8);
                self.finish(Ok(Done::ok("LSUB completed")));
            }
        }
    }

    pub(crate) fn status(&mut self, sent: &str, attrs: Vec<StatusAttr>) {
        let name = self.mailbox_name(sent);
        let recent = attrs.contains(&StatusAttr::Recent);
        let deleted_bytes = attrs.contains(&StatusAttr::DeletedStorage);
        self.set_job(Job::Status(attrs));
        self.request(Event::Status { mailbox: name, recent, deleted_bytes }, true);
    }

    pub(crate) fn status_answered(&mut self, attrs: &[StatusAttr], answer: Answer) {
        let facts: MailboxFacts = match answer {
            Answer::Status(facts) => facts,
            Answer::Failed(error) => return self.finish(Err(error)),
            _ => return self.finish(Err(CommandError::Internal)),
        };
        let (utf8, limit) = (self.utf8(), self.config.reader.append_bytes_max);
        write_status_response(self.out.buf(), &facts, attrs, utf8, limit);
        self.finish(Ok(Done::ok("STATUS completed")));
    }
}
