//! METADATA (RFC 5464) and LIST-METADATA (RFC 9590): GETMETADATA with MAXSIZE and
//! DEPTH, SETMETADATA, and the `* METADATA` lines of `LIST ... RETURN (METADATA (...))`.
//!
//! The storage side answers [`Event::GetMetadata`] with every stored entry of each
//! asked scope (bounded by the store's per-mailbox and per-account limits); this module
//! picks what the command asked for. Entry names are checked by the parser (BAD); a
//! value over [`METADATA_VALUE_BYTES_MAX`] is refused here with `NO [METADATA MAXSIZE
//! n]` before anything is written, the store refuses too many entries or bytes with
//! `NO [METADATA TOOMANY]`. `/private` and `/shared` entries are both kept per account:
//! with no shared mailboxes and no ACLs, the account is the only reader of either, so
//! `NO [METADATA NOPRIVATE]` never applies. The server entry [`SERVER_ADMIN_ENTRY`]
//! comes from the configuration and cannot be set.

use super::error::{CommandError, Done};
use super::{Answer, Event, Job, Session};
use crate::imap::response::{MetadataCode, ResponseCode, write_metadata};
use crate::imap::types::MetadataDepth;

/// Largest value of one entry: 32 KiB. RFC 5464 §4.3 lets a server refuse larger ones
/// with `NO [METADATA MAXSIZE n]`. Comments, colours and client settings are a few bytes
/// to a few KiB (Dovecot's default limit on a value is 64 KiB); half the reader's
/// literal limit keeps the refusal reachable with a normal literal, and the
/// account-wide byte limit of the store bounds the sum.
pub const METADATA_VALUE_BYTES_MAX: u64 = 32 * 1024;
const _: () = assert!(METADATA_VALUE_BYTES_MAX <= crate::imap::limits::LITERAL_BYTES_MAX as u64);

/// The server entry naming how to reach the administrator (RFC 5464 §3.2.1.1): read
/// only, from the configuration.
pub const SERVER_ADMIN_ENTRY: &str = "/shared/admin";

/// The stored entries of one scope (a mailbox, or the server's), sorted by name.
pub type MetadataEntries = Vec<(String, Vec<u8>)>;

/// The running GETMETADATA, or the METADATA step of a LIST.
#[derive(Debug)]
pub(crate) enum MetadataJob {
    Get { mailbox: String, entries: Vec<String>, max_size: Option<u64>, depth: MetadataDepth },
    List { mailboxes: Vec<String>, entries: Vec<String> },
}

impl Session {
    /// GETMETADATA (RFC 5464 §4.2). The empty mailbox name is the server.
    pub(crate) fn get_metadata(
        &mut self,
        sent: &str,
        entries: Vec<String>,
        max_size: Option<u64>,
        depth: MetadataDepth,
    ) {
        let mailbox = if sent.is_empty() { String::new() } else { self.mailbox_name(sent) };
        self.set_job(Job::Metadata(MetadataJob::Get { mailbox: mailbox.clone(), entries, max_size, depth }));
        self.request(Event::GetMetadata { mailboxes: vec![mailbox] }, true);
    }

    /// SETMETADATA (RFC 5464 §4.3): all entries or none.
    pub(crate) fn set_metadata(&mut self, sent: &str, entries: Vec<(String, Option<Vec<u8>>)>) {
        let mailbox = if sent.is_empty() { String::new() } else { self.mailbox_name(sent) };
        if mailbox.is_empty() && entries.iter().any(|(name, _)| name == SERVER_ADMIN_ENTRY) {
            let error = CommandError::no(ResponseCode::NoPerm, "/shared/admin is set by the administrator");
            return self.finish(Err(error));
        }
        let too_long = entries.iter().any(|(_, value)| {
            value.as_ref().is_some_and(|value| value.len() as u64 > METADATA_VALUE_BYTES_MAX)
        });
        if too_long {
            let code = ResponseCode::Metadata(MetadataCode::MaxSize(METADATA_VALUE_BYTES_MAX));
            return self.finish(Err(CommandError::no(code, "value too large")));
        }
        self.set_job(Job::Simple("SETMETADATA completed"));
        self.request(Event::SetMetadata { mailbox, entries }, true);
    }

    /// After LIST's lines (RFC 9590 §3): asks for the listed mailboxes' entries.
    pub(crate) fn list_metadata(&mut self, mailboxes: Vec<String>, entries: Vec<String>) {
        if mailboxes.is_empty() {
            return self.finish(Ok(Done::ok("LIST completed")));
        }
        self.set_job(Job::Metadata(MetadataJob::List { mailboxes: mailboxes.clone(), entries }));
        self.request(Event::GetMetadata { mailboxes }, true);
    }

    pub(crate) fn metadata_answered(&mut self, job: MetadataJob, answer: Answer) {
        let scopes = match answer {
            Answer::Metadata(scopes) => scopes,
            Answer::Failed(error) => return self.finish(Err(error)),
            _ => return self.finish(Err(CommandError::Internal)),
        };
        match job {
            MetadataJob::Get { mailbox, entries, max_size, depth } => {
                let Some(Some(stored)) = scopes.into_iter().next() else {
                    return self.finish(Err(CommandError::no_such_mailbox(&mailbox)));
                };
                let longest = self.write_get(&mailbox, &stored, &entries, max_size, depth);
                let done = match longest {
                    Some(n) => Done::with(
                        ResponseCode::Metadata(MetadataCode::LongEntries(n)),
                        "GETMETADATA completed",
                    ),
                    None => Done::ok("GETMETADATA completed"),
                };
                self.finish(Ok(done));
            }
            MetadataJob::List { mailboxes, entries } => {
                let utf8 = self.utf8();
                for (mailbox, stored) in mailboxes.iter().zip(scopes) {
                    // A mailbox deleted since the LIST lines were made is left out.
                    let Some(stored) = stored else { continue };
                    let values: Vec<(&str, Option<&[u8]>)> =
                        entries.iter().map(|entry| (entry.as_str(), lookup(&stored, entry))).collect();
                    write_metadata(self.out.buf(), mailbox, utf8, &values);
                }
                self.finish(Ok(Done::ok("LIST completed")));
            }
        }
    }

    /// Writes GETMETADATA's one `* METADATA` line (none when nothing matched, RFC 5464
    /// §4.2); returns the longest value MAXSIZE left out.
    fn write_get(
        &mut self,
        mailbox: &str,
        stored: &MetadataEntries,
        entries: &[String],
        max_size: Option<u64>,
        depth: MetadataDepth,
    ) -> Option<u64> {
        let mut longest: Option<u64> = None;
        let mut values: Vec<(&str, Option<&[u8]>)> = Vec::new();
        for (name, value) in stored {
            if !entries.iter().any(|entry| within(entry, name, depth)) {
                continue;
            }
            let length = value.len() as u64;
            if max_size.is_some_and(|max| length > max) {
                longest = Some(longest.map_or(length, |n| n.max(length)));
            } else {
                values.push((name, Some(value)));
            }
        }
        if !values.is_empty() {
            let utf8 = self.utf8();
            write_metadata(self.out.buf(), mailbox, utf8, &values);
        }
        longest
    }
}

/// The value of `entry` in sorted `stored`.
fn lookup<'a>(stored: &'a MetadataEntries, entry: &str) -> Option<&'a [u8]> {
    stored
        .binary_search_by(|(name, _)| name.as_str().cmp(entry))
        .ok()
        .and_then(|index| stored.get(index))
        .map(|(_, value)| value.as_slice())
}

/// Whether stored `name` answers the asked `entry` at `depth` (RFC 5464 §4.2.2).
pub(crate) fn within(entry: &str, name: &str, depth: MetadataDepth) -> bool {
    if entry == name {
        return true;
    }
    let below = if entry == "/" {
        name.strip_prefix('/')
    } else {
        name.strip_prefix(entry).and_then(|rest| rest.strip_prefix('/'))
    };
    match (below, depth) {
        (None, _) | (_, MetadataDepth::Zero) => false,
        (Some(rest), MetadataDepth::One) => !rest.contains('/'),
        (Some(_), MetadataDepth::Infinity) => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_selects_children() {
        assert!(within("/shared/comment", "/shared/comment", MetadataDepth::Zero));
        assert!(!within("/shared", "/shared/comment", MetadataDepth::Zero));
        assert!(within("/shared", "/shared/comment", MetadataDepth::One));
        assert!(!within("/shared", "/shared/vendor/x/y", MetadataDepth::One));
        assert!(within("/shared", "/shared/vendor/x/y", MetadataDepth::Infinity));
        assert!(!within("/shared/comment", "/shared/commentary", MetadataDepth::Infinity));
        assert!(within("/", "/private/comment", MetadataDepth::Infinity));
        assert!(!within("/", "/private/comment", MetadataDepth::One));
        assert!(within("/", "/private", MetadataDepth::One));
    }
}
