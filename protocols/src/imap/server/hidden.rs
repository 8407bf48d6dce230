//! The account's hidden capabilities (`Session::hide_capabilities`), as far as commands
//! go: a hidden extension is absent, so its commands are refused as unknown and ENABLE
//! does not turn it on.
//!
//! Why refuse rather than serve quietly: RFC 9051 §7.2.2 has a client learn what the
//! server supports from CAPABILITY, and a server answers BAD to a command it does not
//! support; a session that lists LIST-METADATA without METADATA, or answers GETMETADATA
//! while not listing METADATA, tells the client two different things. A client that
//! trusts CAPABILITY (every one the setting is for) sees no difference.
//!
//! What stays usable, by decision: extensions that only add options, keys or response
//! data to commands that exist anyway (SORT=DISPLAY's keys, ESORT and PARTIAL return
//! options, CONTEXT's UPDATE, CONDSTORE's modifiers, WITHIN, SAVEDATE, OBJECTID, PREVIEW,
//! BINARY, LITERAL+, UTF8=ACCEPT's names, APPENDLIMIT, MULTIAPPEND, REPLACE, CATENATE, which the
//! reader handles before the session sees a command). A client that was not told of them
//! does not send them, and refusing each would put the setting into every parser path;
//! RFC 9051 does not require a server to refuse what it did not list.

use super::Session;
use crate::imap::command::CommandBody;
use crate::imap::types::ThreadAlgorithm;

/// Extensions that mean nothing without another (extension, base): hiding the base
/// hides them too. LIST-METADATA returns METADATA's entries (RFC 9590 §1); ESORT and
/// CONTEXT=SORT extend SORT (RFC 5267 §3, §4); CONTEXT=SEARCH, PARTIAL and MULTISEARCH
/// answer with ESEARCH (RFC 5267 §4, RFC 9394 §3, RFC 7377 §2.1); QRESYNC needs
/// CONDSTORE (RFC 7162 §3.2).
pub(crate) const BUILDS_ON: &[(&str, &str)] = &[
    ("LIST-METADATA", "METADATA"),
    ("ESORT", "SORT"),
    ("CONTEXT=SORT", "SORT"),
    ("CONTEXT=SORT", "ESEARCH"),
    ("CONTEXT=SEARCH", "ESEARCH"),
    ("PARTIAL", "ESEARCH"),
    ("MULTISEARCH", "ESEARCH"),
    ("QRESYNC", "CONDSTORE"),
];

impl Session {
    /// Whether `body` is a command of an extension the account hides.
    pub(crate) fn hides_command(&self, body: &CommandBody) -> bool {
        use CommandBody as C;
        if self.hidden_capabilities.is_empty() {
            return false;
        }
        let needs: &[&str] = match body {
            C::GetMetadata { .. } | C::SetMetadata { .. } => &["METADATA"],
            C::List(list) if list.return_metadata.is_some() => &["LIST-METADATA"],
            C::GetQuota { .. } | C::GetQuotaRoot { .. } | C::SetQuota { .. } => &["QUOTA"],
            C::Sort { .. } => &["SORT"],
            C::Thread { algorithm, .. } => match algorithm {
                ThreadAlgorithm::OrderedSubject => &["THREAD=ORDEREDSUBJECT"],
                ThreadAlgorithm::References => &["THREAD=REFERENCES"],
                ThreadAlgorithm::Refs => &["THREAD=REFS"],
            },
            C::Esearch { .. } => &["MULTISEARCH"],
            C::Notify(_) => &["NOTIFY"],
            C::GenUrlAuth(_) | C::ResetKey { .. } | C::UrlFetch(_) => &["URLAUTH"],
            C::Compress { .. } => &["COMPRESS=DEFLATE"],
            // CANCELUPDATE serves both kinds of context.
            C::CancelUpdate(_) => return self.is_hidden("CONTEXT=SEARCH") && self.is_hidden("CONTEXT=SORT"),
            C::Idle => &["IDLE"],
            C::Unselect => &["UNSELECT"],
            C::Move { .. } => &["MOVE"],
            C::UidExpunge(_) => &["UIDPLUS"],
            C::Namespace => &["NAMESPACE"],
            C::Enable(_) => &["ENABLE"],
            _ => &[],
        };
        needs.iter().any(|cap| self.is_hidden(cap))
    }
}
