//! GETQUOTA and GETQUOTAROOT (RFC 9208), the storage side: the account's limit from the
//! directory (the `quota_bytes` and `quota_messages` that delivery, APPEND and COPY
//! enforce) and its usage as
//! the store counts it for those checks (the mailbox records' sizes, read on a helper
//! thread as the quota check does); and STATUS DELETED-STORAGE's sums.

use std::ops::ControlFlow;
use std::sync::Arc;

use moxide_protocols::imap::server::{Answer, CommandError, MailboxFacts, QuotaFacts, SystemFlags};
use moxide_storage::{AccountStore, StorageError, Uid};

use super::facts::{record_facts, storage_error};
use super::session::Conn;

impl Conn {
    pub(crate) async fn quota(&mut self, mailbox: Option<&str>) -> Answer {
        let (account, store) = match self.account_store() {
            Ok(pair) => pair,
            Err(error) => return Answer::Failed(error),
        };
        if let Some(name) = mailbox {
            match store.read(|view| view.mailbox_by_name(name)) {
                Ok(Some(_)) => {}
                Ok(None) => return Answer::Failed(CommandError::no_such_mailbox(name)),
                Err(error) => return Answer::Failed(storage_error(error)),
            }
        }
        let limit_bytes = self.node.directory().quota(&account);
        let limit_messages = self.node.directory().quota_messages(&account);
        match moxide_runtime::offload(move || store.usage()).await {
            Ok(Ok((used_bytes, used_messages))) => {
                Answer::Quota(QuotaFacts { used_bytes, limit_bytes, used_messages, limit_messages })
            }
            Ok(Err(error)) => Answer::Failed(storage_error(error)),
            Err(panic) => {
                tracing::error!(%panic, "quota usage panicked");
                Answer::Failed(CommandError::Internal)
            }
        }
    }
}

/// Fills [`MailboxFacts::deleted_bytes`] (STATUS DELETED-STORAGE, RFC 9208 §4.4) of the
/// mailboxes that have `\Deleted` messages: their records are walked on a helper thread,
/// since the walk grows with the mailbox.
pub(crate) async fn fill_deleted_bytes(
    store: Arc<AccountStore>,
    mailboxes: &mut [MailboxFacts],
) -> Result<(), CommandError> {
    let names: Vec<String> =
        mailboxes.iter().filter(|mailbox| mailbox.deleted > 0).map(|mailbox| mailbox.name.clone()).collect();
    if names.is_empty() {
        return Ok(());
    }
    let sums = moxide_runtime::offload(move || deleted_bytes(&store, names)).await.map_err(|panic| {
        tracing::error!(%panic, "deleted-storage panicked");
        CommandError::Internal
    })?;
    for (name, bytes) in sums.map_err(storage_error)? {
        if let Some(mailbox) = mailboxes.iter_mut().find(|mailbox| mailbox.name == name) {
            mailbox.deleted_bytes = bytes;
        }
    }
    Ok(())
}

fn deleted_bytes(store: &AccountStore, names: Vec<String>) -> Result<Vec<(String, u64)>, StorageError> {
    store.read(|view| {
        let mut sums = Vec::with_capacity(names.len());
        for name in names {
            let Some(info) = view.mailbox_by_name(&name)? else { continue };
            let mut sum = 0u64;
            view.for_each_message(info.id, Uid(1), Uid(u32::MAX), |record| {
                let facts = record_facts(record, &[]);
                if facts.flags.contains(SystemFlags::DELETED) {
                    sum = sum.saturating_add(facts.served_size());
                }
                ControlFlow::Continue(())
            })?;
            sums.push((name, sum));
        }
        Ok(sums)
    })
}
