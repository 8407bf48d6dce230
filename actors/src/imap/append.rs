//! APPEND and MULTIAPPEND (RFC 9051 §6.3.12, RFC 3502), streamed: each message goes to a
//! spool file as it arrives (never into memory), is fdatasynced, summarized, and all of a
//! command's messages are stored in one request to the account actor, all or nothing. The
//! tagged OK (with APPENDUID, RFC 4315) is sent only after they are durable.

use std::path::PathBuf;
use std::sync::Arc;

use moxide_protocols::imap::{DateTime, Flag, ResponseCode, Tag, format_uid_set};
use moxide_runtime::fs::SpoolFile;
use moxide_storage::{Flags, MailboxId, MailboxTarget, NewMessage};

use super::flags;
use super::session::{CommandError, Done, Session, io_failure};

struct Spooled {
    path: PathBuf,
    size: u64,
    flags: Flags,
    keywords: Vec<String>,
    received_ms: i64,
}

/// An APPEND command in progress.
pub(crate) struct Append {
    mailbox: MailboxId,
    uidvalidity: u32,
    current: Option<(SpoolFile, Flags, Vec<String>, i64)>,
    done: Vec<Spooled>,
    failed: Option<CommandError>,
}

/// Appends message bytes to the current spool file (takes the field, not the session,
/// because the bytes may borrow the session's read buffer).
pub(crate) async fn write_data(append: &mut Option<Append>, bytes: &[u8]) {
    let Some(append) = append.as_mut() else { return };
    if append.failed.is_some() {
        return;
    }
    if let Some((spool, ..)) = append.current.as_mut()
        && let Err(error) = spool.append(bytes).await
    {
        append.failed = Some(io_failure("spool write failed", &error));
    }
}

impl Session {
    /// An APPEND message begins: true to accept it (the reader then sends the
    /// continuation or takes the data), false to refuse (the reader skips it).
    #[expect(clippy::too_many_arguments, reason = "the parts of an APPEND message header, one to one")]
    pub(crate) async fn append_begin(
        &mut self,
        _tag: Tag,
        mailbox: String,
        flag_list: Vec<Flag>,
        date: Option<DateTime>,
        _size: u64,
        _binary: bool,
        index: u32,
    ) -> bool {
        if index == 0 {
            self.abandon_append().await;
            self.append = Some(match self.append_target(&mailbox) {
                Ok((mailbox, uidvalidity)) => {
                    Append { mailbox, uidvalidity, current: None, done: Vec::new(), failed: None }
                }
                Err(error) => Append {
                    mailbox: MailboxId(0),
                    uidvalidity: 0,
                    current: None,
                    done: Vec::new(),
                    failed: Some(error),
                },
            });
        }
        let Some(append) = self.append.as_mut() else { return false };
        if append.failed.is_some() {
            return false;
        }
        let (system, keywords) = match flags::split(&flag_list) {
            Ok(split) => split,
            Err(text) => {
                append.failed = Some(CommandError::Bad(text));
                return false;
            }
        };
        let received_ms = date.map_or_else(crate::clock::now_unix_ms, |d| d.unix_secs.saturating_mul(1000));
        let path = self.settings.spool_dir.join(crate::smtp::spool_name(self.node.core().index));
        match SpoolFile::create(&path).await {
            Ok(spool) => {
                append.current = Some((spool, system, keywords, received_ms));
                true
            }
            Err(error) => {
                append.failed = Some(io_failure("cannot create spool file", &error));
                false
            }
        }
    }

    fn append_target(&self, sent: &str) -> Result<(MailboxId, u32), CommandError> {
        let login = self.login_ref()?;
        let name = self.mailbox_name(sent)?;
        let info = login.store.read(|view| view.mailbox_by_name(&name))?.ok_or_else(|| {
            // RFC 9051 §6.3.12: TRYCREATE tells the client it may CREATE and retry.
            CommandError::No(Some(ResponseCode::TryCreate), format!("no mailbox {name:?}"))
        })?;
        Ok((info.id, info.uidvalidity.0))
    }

    pub(crate) async fn append_message_end(&mut self) {
        let Some(append) = self.append.as_mut() else { return };
        let Some((spool, flags, keywords, received_ms)) = append.current.take() else { return };
        let path = spool.path().to_path_buf();
        if append.failed.is_some() {
            let _ = spool.discard().await;
            return;
        }
        match spool.finish().await {
            Ok(size) => append.done.push(Spooled { path, size, flags, keywords, received_ms }),
            Err(error) => {
                let _ = moxide_runtime::fs::remove_file(path).await;
                append.failed = Some(io_failure("spool sync failed", &error));
            }
        }
    }

    pub(crate) async fn append_end(&mut self, tag: Tag, rejected: bool) {
        let Some(append) = self.append.take() else {
            let result = Err(CommandError::Bad("APPEND refused".into()));
            self.finish(&tag, result);
            return;
        };
        let result = match (append.failed, rejected) {
            (Some(error), _) => Err(error),
            (None, true) => Err(CommandError::No(None, "APPEND refused".into())),
            (None, false) => self.store_appended(append.mailbox, append.uidvalidity, &append.done).await,
        };
        for spooled in append.done {
            let _ = moxide_runtime::fs::remove_file(spooled.path).await;
        }
        if let Err(error) = self.sync_selected(true) {
            tracing::error!(peer = %self.peer, %error, "reading mailbox changes failed");
        }
        self.finish(&tag, result);
    }

    async fn store_appended(
        &mut self,
        mailbox: MailboxId,
        uidvalidity: u32,
        spooled: &[Spooled],
    ) -> Result<Done, CommandError> {
        if spooled.is_empty() {
            return Err(CommandError::Bad("APPEND without a message".into()));
        }
        let mut messages = Vec::with_capacity(spooled.len());
        for message in spooled {
            messages.push(NewMessage {
                spool_path: message.path.clone(),
                size: message.size,
                prefix: Vec::new(),
                mailbox: MailboxTarget::Id(mailbox),
                received_ms: message.received_ms,
                flags: message.flags,
                keywords: message.keywords.clone(),
                summary: crate::summary::summarize_spool(message.path.clone()).await,
                saved_ms: None,
            });
        }
        let account = Arc::clone(&self.login_ref()?.account);
        let delivered = self.node.append(&account, messages).await?;
        if let Some(selected) = self.selected.as_mut()
            && selected.mailbox == mailbox
        {
            selected.mark_dirty();
        }
        let mut uids: Vec<u32> = delivered.iter().map(|d| d.uid.0).collect();
        uids.sort_unstable();
        let code = ResponseCode::AppendUid { uidvalidity, uids: format_uid_set(&uids) };
        Ok(Done::with(code, "APPEND completed"))
    }

    /// Drops an APPEND the connection abandoned, with its spool files.
    pub(crate) async fn abandon_append(&mut self) {
        let Some(append) = self.append.take() else { return };
        if let Some((spool, ..)) = append.current {
            let _ = spool.discard().await;
        }
        for spooled in append.done {
            let _ = moxide_runtime::fs::remove_file(spooled.path).await;
        }
    }
}
