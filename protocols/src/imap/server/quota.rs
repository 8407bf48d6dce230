//! QUOTA (RFC 9208) with the STORAGE and MESSAGE resources: one quota root, `""`, per
//! account, its limits the account's `quota_bytes` and `quota_messages` from the domains
//! file (the same limits delivery, APPEND and COPY enforce), its usage the bytes and the
//! number of all the account's messages. An account without a limit has no quota root;
//! the QUOTA response lists the resources that have one. SETQUOTA is for the
//! administrator: `NO`.

use super::error::{CommandError, Done};
use super::{Answer, Event, Job, Session};
use crate::imap::response::{ResponseCode, write_mailbox, write_string};

/// The name of each account's one quota root.
pub const QUOTA_ROOT: &str = "";

/// The account's storage quota, as the storage side reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QuotaFacts {
    /// Bytes of all messages in all mailboxes.
    pub used_bytes: u64,
    /// The limit; `None`: the account has no storage quota.
    pub limit_bytes: Option<u64>,
    /// Messages in all mailboxes.
    pub used_messages: u64,
    /// The message-count limit; `None`: none.
    pub limit_messages: Option<u64>,
}

/// The running GETQUOTA / GETQUOTAROOT.
#[derive(Debug)]
pub(crate) struct QuotaJob {
    /// GETQUOTAROOT's mailbox (as stored) and how the client named it.
    mailbox: Option<String>,
}

impl Session {
    /// GETQUOTA (RFC 9208 §4.2).
    pub(crate) fn get_quota(&mut self, root: &str) {
        if root != QUOTA_ROOT {
            return self.finish(Err(CommandError::no(ResponseCode::NonExistent, "no such quota root")));
        }
        self.set_job(Job::Quota(QuotaJob { mailbox: None }));
        self.request(Event::Quota { mailbox: None }, true);
    }

    /// GETQUOTAROOT (RFC 9208 §4.3).
    pub(crate) fn get_quota_root(&mut self, mailbox: &str) {
        let name = self.mailbox_name(mailbox);
        self.set_job(Job::Quota(QuotaJob { mailbox: Some(name.clone()) }));
        self.request(Event::Quota { mailbox: Some(name) }, true);
    }

    /// SETQUOTA (RFC 9208 §4.1): limits come from the administrator's configuration.
    pub(crate) fn set_quota(&mut self) {
        self.finish(Err(CommandError::no(ResponseCode::NoPerm, "quotas are set by the administrator")));
    }

    pub(crate) fn quota_answered(&mut self, job: QuotaJob, answer: Answer) {
        let facts = match answer {
            Answer::Quota(facts) => facts,
            Answer::Failed(error) => return self.finish(Err(error)),
            _ => return self.finish(Err(CommandError::Internal)),
        };
        let utf8 = self.utf8();
        let out = self.out.buf();
        if let Some(mailbox) = &job.mailbox {
            out.extend_from_slice(b"* QUOTAROOT ");
            write_mailbox(out, mailbox, utf8);
            if facts.limit_bytes.is_some() || facts.limit_messages.is_some() {
                out.push(b' ');
                write_string(out, QUOTA_ROOT.as_bytes());
            }
            out.extend_from_slice(b"\r\n");
        }
        if facts.limit_bytes.is_none() && facts.limit_messages.is_none() {
            return match job.mailbox {
                Some(_) => self.finish(Ok(Done::ok("GETQUOTAROOT completed"))),
                None => {
                    self.finish(Err(CommandError::no(ResponseCode::NonExistent, "this account has no quota")))
                }
            };
        }
        out.extend_from_slice(b"* QUOTA ");
        write_string(out, QUOTA_ROOT.as_bytes());
        let mut resources = Vec::new();
        if let Some(limit_bytes) = facts.limit_bytes {
            // RFC 9208 §5.1: STORAGE counts units of 1024 octets; usage rounds up, so a
            // client never sees room that is not there.
            resources.push(format!("STORAGE {} {}", facts.used_bytes.div_ceil(1024), limit_bytes / 1024));
        }
        if let Some(limit_messages) = facts.limit_messages {
            // RFC 9208 §5.2: MESSAGE counts the messages of all mailboxes under the root.
            resources.push(format!("MESSAGE {} {limit_messages}", facts.used_messages));
        }
        out.extend_from_slice(format!(" ({})\r\n", resources.join(" ")).as_bytes());
        let text = if job.mailbox.is_some() { "GETQUOTAROOT completed" } else { "GETQUOTA completed" };
        self.finish(Ok(Done::ok(text)));
    }
}
