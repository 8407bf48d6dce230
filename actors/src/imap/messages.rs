//! STORE, COPY/MOVE and EXPUNGE, the storage side: each is one request to the account
//! actor (which commits on a helper thread), STORE one per [`STORE_BATCH_MAX`] messages; STORE reads the current flags of the
//! messages that did not change when the session reports them, and EXPUNGE finds the
//! `\Deleted` ones, on a helper thread too: both grow with the command's set.

use std::collections::HashSet;
use std::ops::{ControlFlow, RangeInclusive};
use std::sync::Arc;

use moxide_protocols::imap::server::{Answer, CommandError, CopyOutcome, StoreOutcome, SystemFlags};
use moxide_protocols::imap::types::StoreMode;
use moxide_storage::{Flags, ModSeq, Uid};

use super::facts::{account_error, changed_fact, flag_fact, flag_op, storage_error, store_flags};
use super::session::Conn;

/// Messages one STORE transaction changes. The account's write transaction holds every
/// page it changed until its commit, so one transaction per STORE grows with the set;
/// 4096 records are about 2 MiB of pages, and a STORE of 100k messages commits 25 times
/// (one fsync each). Measured (debug build): a keyword added to 30,000 messages peaked
/// at +16 MiB of RSS in one transaction, +11.6 MiB in batches (the rest is the
/// per-message facts). RFC 9051 §6.4.6 asks no atomicity of STORE across messages:
/// after a failure the batches before it stay stored, the client hears `NO`, and the
/// next sync shows it their flags.
const STORE_BATCH_MAX: usize = 4096;

impl Conn {
    pub(crate) async fn store(
        &mut self,
        uids: Vec<u32>,
        mode: StoreMode,
        flags: SystemFlags,
        keywords: Vec<String>,
        unchanged_since: Option<u64>,
        report_unchanged: bool,
    ) -> Answer {
        let (Ok((account, store)), Some(selected)) = (self.account_store(), self.selected.as_ref()) else {
            return Answer::Failed(CommandError::Internal);
        };
        let mailbox = selected.mailbox;
        let (mut failed, mut changed) = (Vec::new(), Vec::new());
        for batch in uids.chunks(STORE_BATCH_MAX) {
            let asked: Vec<Uid> = batch.iter().map(|&uid| Uid(uid)).collect();
            let stored = match self
                .node
                .store_flags(
                    &account,
                    mailbox,
                    asked,
                    flag_op(mode),
                    store_flags(flags),
                    keywords.clone(),
                    unchanged_since.map(ModSeq),
                )
                .await
            {
                Ok(stored) => stored,
                Err(error) => return Answer::Failed(account_error(error)),
            };
            failed.extend(stored.failed.iter().map(|uid| uid.0));
            changed.extend(stored.changed.into_iter().map(changed_fact));
        }
        let mut unchanged = Vec::new();
        if report_unchanged {
            let mut passed: HashSet<u32> = uids.into_iter().collect();
            for uid in changed.iter().map(|c| c.uid).chain(failed.iter().copied()) {
                passed.remove(&uid);
            }
            // As many reads as the command named messages: on a helper thread.
            let read = moxide_runtime::offload(move || {
                store.read(|view| {
                    let mut current = Vec::new();
                    for uid in passed {
                        if let Some(info) = view.message_by_uid(mailbox, Uid(uid))? {
                            current.push(flag_fact(&info));
                        }
                    }
                    Ok(current)
                })
            })
            .await;
            match read {
                Ok(Ok(mut current)) => {
                    current.sort_unstable_by_key(|fact| fact.uid);
                    unchanged = current;
                }
                Ok(Err(error)) => return Answer::Failed(storage_error(error)),
                Err(panic) => {
                    tracing::error!(%panic, "reading unchanged flags panicked");
                    return Answer::Failed(CommandError::Internal);
                }
            }
        }
        Answer::Stored(StoreOutcome { changed, failed, unchanged })
    }

    pub(crate) async fn copy(&mut self, uids: Vec<u32>, name: &str, is_move: bool) -> Answer {
        let (Ok((account, store)), Some(selected)) = (self.account_store(), self.selected.as_ref()) else {
            return Answer::Failed(CommandError::Internal);
        };
        let from = selected.mailbox;
        let target = match store.read(|view| view.mailbox_by_name(name)) {
            Ok(Some(target)) => target,
            Ok(None) => return Answer::Failed(CommandError::no_such_mailbox(name)),
            Err(error) => return Answer::Failed(storage_error(error)),
        };
        let uids: Vec<Uid> = uids.into_iter().map(Uid).collect();
        let result = if is_move {
            self.node.move_messages(&account, from, uids, target.id).await
        } else {
            self.node.copy(&account, from, uids, target.id).await.map(|copied| (copied, Vec::new()))
        };
        match result {
            Ok((copied, expunged)) => Answer::Copied(CopyOutcome {
                uidvalidity: copied.uidvalidity.0,
                pairs: copied.pairs.iter().map(|(source, target)| (source.0, target.0)).collect(),
                expunged: expunged.iter().map(|gone| gone.uid.0).collect(),
            }),
            Err(error) => Answer::Failed(account_error(error)),
        }
    }

    /// EXPUNGE of the `\Deleted` messages with UIDs in `within`.
    pub(crate) async fn expunge(&mut self, within: &[RangeInclusive<u32>]) -> Answer {
        let (Ok((account, store)), Some(selected)) = (self.account_store(), self.selected.as_ref()) else {
            return Answer::Failed(CommandError::Internal);
        };
        let mailbox = selected.mailbox;
        // The mailbox counts \Deleted messages: with none (the common EXPUNGE, sent by
        // clients after every move), one record read answers, on the executor.
        // (A mailbox deleted meanwhile has nothing to expunge, as before this check.)
        let counted = match store.read(|view| view.mailbox(mailbox)) {
            Ok(info) => info.map_or((0, 0), |info| (info.deleted, info.highest_modseq.0)),
            Err(error) => return Answer::Failed(storage_error(error)),
        };
        if counted.0 == 0 {
            return Answer::Expunged(Vec::new(), counted.1);
        }
        // A walk over up to every record of the mailbox, stopping once every \Deleted
        // message is found: on a helper thread.
        let (read_store, within) = (Arc::clone(&store), within.to_vec());
        let read = moxide_runtime::offload(move || {
            read_store.read(|view| {
                let info = view.mailbox(mailbox)?;
                let (total, highest) =
                    info.map_or((0, 0), |info| (info.deleted as usize, info.highest_modseq.0));
                let mut deleted = Vec::new();
                for range in within {
                    view.for_each_message(mailbox, Uid(*range.start()), Uid(*range.end()), |record| {
                        if record.flags().contains(Flags::DELETED) {
                            deleted.push(record.uid());
                            if deleted.len() >= total {
                                return ControlFlow::Break(());
                            }
                        }
                        ControlFlow::Continue(())
                    })?;
                    if deleted.len() >= total {
                        break;
                    }
                }
                Ok((deleted, highest))
            })
        })
        .await;
        let (deleted, highest) = match read {
            Ok(Ok(read)) => read,
            Ok(Err(error)) => return Answer::Failed(storage_error(error)),
            Err(panic) => {
                tracing::error!(%panic, "finding deleted messages panicked");
                return Answer::Failed(CommandError::Internal);
            }
        };
        if deleted.is_empty() {
            return Answer::Expunged(Vec::new(), highest);
        }
        match self.node.expunge(&account, mailbox, deleted).await {
            Ok(expunged) => {
                let highest = expunged.iter().map(|gone| gone.modseq.0).max().unwrap_or(highest);
                Answer::Expunged(expunged.iter().map(|gone| gone.uid.0).collect(), highest)
            }
            Err(error) => Answer::Failed(account_error(error)),
        }
    }
}
