//! APPEND and MULTIAPPEND, the storage side: each message is streamed to a spool file
//! as it arrives (never into memory) and summarized from the same bytes as they pass (a
//! `Summarizer`, as SMTP does: the spool is never read back), synced by the store when
//! it links it; a command's messages are stored in one request to the account actor, all or nothing,
//! and the spool files are removed either way.

use std::path::PathBuf;

use moxide_protocols::imap::server::{Answer, AppendOutcome, CommandError, SystemFlags};
use moxide_protocols::mime::Summarizer;
use moxide_runtime::fs::SpoolFile;
use moxide_storage::{MailboxId, MailboxTarget, NewMessage};

use super::facts::{account_error, io_failure, storage_error, store_flags};
use super::session::Conn;

/// A spooled message.
struct Spooled {
    path: PathBuf,
    size: u64,
    flags: SystemFlags,
    keywords: Vec<String>,
    received_ms: i64,
    /// The encoded summary.
    summary: Vec<u8>,
}

/// The message being received.
struct Receiving {
    spool: SpoolFile,
    summarizer: Summarizer,
    flags: SystemFlags,
    keywords: Vec<String>,
    received_ms: i64,
}

/// The APPEND command in progress: its target, the message being written, the ones
/// done, and a failure that makes the command fail.
#[derive(Default)]
pub(crate) struct Appending {
    target: Option<(MailboxId, u32)>,
    /// Boxed: a summarizer and a spool file are large, and every idle connection holds
    /// an `Appending`.
    current: Option<Box<Receiving>>,
    done: Vec<Spooled>,
    /// Why the command fails (a spool file could not be written: a full disk is
    /// `NO [OVERQUOTA]`).
    failed: Option<CommandError>,
}

impl Appending {
    /// Appends message bytes to the current spool file.
    pub(crate) async fn write(&mut self, bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        if let Some(current) = self.current.as_mut() {
            current.summarizer.feed(bytes);
            if let Err(error) = current.spool.append(bytes).await {
                self.failed = Some(io_failure("append: spool write failed", &error));
            }
        }
    }

    /// Why the command fails, if a write failed (the failure stays for the end).
    pub(crate) fn failure(&self) -> Option<CommandError> {
        self.failed.clone()
    }

    /// The current message is complete: make it durable.
    pub(crate) async fn message_end(&mut self) {
        let Some(receiving) = self.current.take() else {
            return;
        };
        let Receiving { spool, summarizer, flags, keywords, received_ms } = *receiving;
        let path = spool.path().to_path_buf();
        if self.failed.is_some() {
            let _ = spool.discard().await;
            return;
        }
        let summary = summarizer.finish().encode();
        match spool.finish().await {
            Ok(size) => self.done.push(Spooled { path, size, flags, keywords, received_ms, summary }),
            Err(error) => {
                let _ = moxide_runtime::fs::remove_file(path).await;
                self.failed = Some(io_failure("append: spool sync failed", &error));
            }
        }
    }

    /// Whether anything is spooled that [`Appending::abandon`] would remove.
    pub(crate) fn holds_files(&self) -> bool {
        self.current.is_some() || !self.done.is_empty()
    }

    /// Drops everything spooled (an APPEND that failed, or a connection that ended).
    pub(crate) async fn abandon(&mut self) {
        if let Some(current) = self.current.take() {
            let _ = current.spool.discard().await;
        }
        for spooled in std::mem::take(&mut self.done) {
            let _ = moxide_runtime::fs::remove_file(spooled.path).await;
        }
        *self = Appending::default();
    }
}

impl Conn {
    /// An APPEND message begins: a spool file for it (the first message also looks up the
    /// target mailbox; RFC 9051 §6.3.12: TRYCREATE when it does not exist).
    pub(crate) async fn append_message(
        &mut self,
        name: &str,
        flags: SystemFlags,
        keywords: Vec<String>,
        date_ms: Option<i64>,
    ) -> Answer {
        if self.append.target.is_none() {
            let (_, store) = match self.account_store() {
                Ok(pair) => pair,
                Err(error) => return Answer::Failed(error),
            };
            match store.read(|view| view.mailbox_by_name(name)) {
                Ok(Some(info)) => self.append.target = Some((info.id, info.uidvalidity.0)),
                Ok(None) => return Answer::Failed(CommandError::no_such_mailbox(name)),
                Err(error) => return Answer::Failed(storage_error(error)),
            }
        }
        let received_ms = date_ms.unwrap_or_else(crate::clock::now_unix_ms);
        let path = self.settings.spool_dir.join(crate::smtp::spool_name(self.node.core().index));
        match SpoolFile::create(&path).await {
            Ok(spool) => {
                let summarizer = Summarizer::new();
                self.append.current =
                    Some(Box::new(Receiving { spool, summarizer, flags, keywords, received_ms }));
                Answer::Accepted
            }
            Err(error) => Answer::Failed(io_failure("append: cannot create spool file", &error)),
        }
    }

    /// The APPEND ended: store its messages (all or nothing), or drop them.
    pub(crate) async fn append_end(&mut self, store: bool) -> Answer {
        let answer = if !store {
            Answer::Done
        } else if let Some(failed) = self.append.failed.take() {
            Answer::Failed(failed)
        } else {
            self.store_appended().await
        };
        self.append.abandon().await;
        answer
    }

    async fn store_appended(&mut self) -> Answer {
        let (Some((mailbox, uidvalidity)), Ok((account, _))) = (self.append.target, self.account_store())
        else {
            return Answer::Failed(CommandError::Internal);
        };
        if self.append.done.is_empty() {
            return Answer::Failed(CommandError::bad("APPEND without a message"));
        }
        let messages = self
            .append
            .done
            .iter_mut()
            .map(|message| NewMessage {
                spool_path: message.path.clone(),
                size: message.size,
                prefix: Vec::new(),
                mailbox: MailboxTarget::Id(mailbox),
                received_ms: message.received_ms,
                flags: store_flags(message.flags),
                keywords: message.keywords.clone(),
                summary: Some(std::mem::take(&mut message.summary)),
                saved_ms: None,
            })
            .collect();
        match self.node.append(&account, messages).await {
            Ok(delivered) => Answer::Appended(AppendOutcome {
                uidvalidity,
                uids: delivered.iter().map(|message| message.uid.0).collect(),
            }),
            Err(error) => Answer::Failed(account_error(error)),
        }
    }
}
