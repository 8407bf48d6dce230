//! METADATA (RFC 5464) and LIST-METADATA (RFC 9590), the storage side: the stored
//! entries of the server and of mailboxes, read in a read transaction (the account holds
//! at most `METADATA_ENTRIES_PER_ACCOUNT_MAX` entries of `METADATA_ACCOUNT_BYTES_MAX`
//! bytes, so the read is bounded; a LIST over many mailboxes reads on a helper thread),
//! SETMETADATA through the account actor, and the server's read-only `/shared/admin`
//! from the configuration.

use moxide_protocols::imap::server::{Answer, MetadataEntries, SERVER_ADMIN_ENTRY};
use moxide_storage::StorageError;

use super::facts::account_error;
use super::mailboxes::read_off_core;
use super::session::Conn;

// The session refuses larger values with `NO [METADATA MAXSIZE n]` before the store
// would refuse them as invalid: the two limits must be one.
const _: () = assert!(
    moxide_protocols::imap::server::METADATA_VALUE_BYTES_MAX as usize
        == moxide_storage::METADATA_VALUE_BYTES_MAX
);
const _: () = assert!(
    moxide_protocols::imap::METADATA_ENTRY_NAME_BYTES_MAX == moxide_storage::METADATA_ENTRY_NAME_BYTES_MAX
);

/// Mailboxes read on the session's core; a LIST RETURN (METADATA) over more reads on a
/// helper thread (one prefix read each, a few µs, so 64 stay well under a millisecond).
const METADATA_CORE_MAILBOXES_MAX: usize = 64;

impl Conn {
    pub(crate) async fn get_metadata(&self, mailboxes: Vec<String>) -> Answer {
        let (_, store) = match self.account_store() {
            Ok(pair) => pair,
            Err(error) => return Answer::Failed(error),
        };
        let admin = self.admin_uri();
        let heavy = mailboxes.len() > METADATA_CORE_MAILBOXES_MAX;
        let read = read_off_core(heavy, move || {
            store.read(|view| {
                let mut scopes = Vec::with_capacity(mailboxes.len());
                for name in &mailboxes {
                    if name.is_empty() {
                        let mut entries = view.metadata(None)?;
                        if let Some(uri) = &admin {
                            entries.push((SERVER_ADMIN_ENTRY.to_owned(), uri.clone().into_bytes()));
                            entries.sort();
                        }
                        scopes.push(Some(entries));
                        continue;
                    }
                    let entries: Option<MetadataEntries> = match view.mailbox_by_name(name)? {
                        Some(info) => Some(view.metadata(Some(info.id))?),
                        None => None,
                    };
                    scopes.push(entries);
                }
                Ok::<_, StorageError>(scopes)
            })
        })
        .await;
        match read {
            Ok(scopes) => Answer::Metadata(scopes),
            Err(error) => Answer::Failed(error),
        }
    }

    pub(crate) async fn set_metadata(
        &self,
        mailbox: String,
        entries: Vec<(String, Option<Vec<u8>>)>,
    ) -> Answer {
        let (account, _) = match self.account_store() {
            Ok(pair) => pair,
            Err(error) => return Answer::Failed(error),
        };
        let mailbox = (!mailbox.is_empty()).then_some(mailbox);
        match self.node.set_metadata(&account, mailbox, entries).await {
            Ok(()) => Answer::Done,
            Err(error) => Answer::Failed(account_error(error)),
        }
    }

    /// `/shared/admin` (RFC 5464 §3.2.1.1): a `mailto:` URI of the postmaster at the
    /// longest local domain our host name is in (postmaster at any local domain reaches
    /// the postmaster account); none when the host name is in no local domain.
    fn admin_uri(&self) -> Option<String> {
        let directory = self.node.directory();
        let hostname = self.settings.hostname.to_ascii_lowercase();
        let mut candidate = hostname.as_str();
        loop {
            if directory.is_local_domain(candidate) {
                return Some(format!("mailto:postmaster@{candidate}"));
            }
            candidate = candidate.split_once('.')?.1;
        }
    }
}
