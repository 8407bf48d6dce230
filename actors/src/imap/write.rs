//! Commands that change messages: STORE (RFC 9051 §6.4.6, CONDSTORE's UNCHANGEDSINCE,
//! RFC 7162 §3.1.3), COPY (§6.4.7, COPYUID of RFC 4315) and MOVE (RFC 6851). Every change
//! goes to the account actor; this session reports its own results directly.

use std::sync::Arc;

use moxide_protocols::imap::{
    Flag, ResponseCode, SequenceSet, Status, StoreMode, format_uid_set, write_flags, write_untagged_status,
};
use moxide_storage::{FlagOp, ModSeq, Uid};

use super::flags;
use super::session::{CommandError, CommandResult, Done, Session};

impl Session {
    pub(crate) async fn store(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        mode: StoreMode,
        silent: bool,
        flag_list: &[Flag],
        unchanged_since: Option<u64>,
    ) -> CommandResult {
        let (system, keywords) = flags::split(flag_list).map_err(CommandError::Bad)?;
        if unchanged_since.is_some() {
            self.enabled.condstore = true;
        }
        let (account, store) = {
            let login = self.login_ref()?;
            (Arc::clone(&login.account), Arc::clone(&login.store))
        };
        let Some(selected) = self.selected.as_ref() else {
            return Err(CommandError::Bad("no mailbox selected".into()));
        };
        if selected.read_only {
            return Err(CommandError::No(Some(ResponseCode::ReadOnly), "mailbox is read-only".into()));
        }
        let targets = if uid { selected.resolve_uids(set) } else { selected.resolve_seqs(set) };
        if targets.is_empty() {
            return Ok(Done::ok("STORE completed"));
        }
        let mailbox = selected.mailbox;
        let op = match mode {
            StoreMode::Replace => FlagOp::Set,
            StoreMode::Add => FlagOp::Add,
            StoreMode::Remove => FlagOp::Remove,
        };
        let uids: Vec<Uid> = targets.iter().map(|&(_, u)| Uid(u)).collect();
        let stored = self
            .node
            .store_flags(&account, mailbox, uids, op, system, keywords, unchanged_since.map(ModSeq))
            .await?;
        let condstore = self.enabled.condstore;
        // Messages that passed but did not change are reported with their current flags.
        let unchanged: Vec<u32> = targets
            .iter()
            .map(|&(_, u)| u)
            .filter(|u| {
                !stored.changed.iter().any(|c| c.uid.0 == *u) && !stored.failed.iter().any(|f| f.0 == *u)
            })
            .collect();
        let current = if silent || unchanged.is_empty() {
            Vec::new()
        } else {
            store.read(|view| {
                let mut current = Vec::new();
                for &u in &unchanged {
                    if let Some(info) = view.message_by_uid(mailbox, Uid(u))? {
                        current.push((u, info.modseq.0, flags::join(info.flags, info.keywords)));
                    }
                }
                Ok(current)
            })?
        };
        let Session { selected, out, .. } = self;
        let Some(selected) = selected.as_mut() else { return Ok(Done::ok("STORE completed")) };
        let mut reports: Vec<(u32, u64, Option<Vec<Flag>>)> = Vec::new();
        for change in &stored.changed {
            selected.note_reported(change.uid.0, change.modseq.0);
            let flags = (!silent).then(|| flags::join(change.flags, change.keywords.iter().cloned()));
            reports.push((change.uid.0, change.modseq.0, flags));
        }
        reports.extend(current.into_iter().map(|(u, m, f)| (u, m, Some(f))));
        reports.sort_unstable_by_key(|r| r.0);
        let buf = out.buf();
        for (u, modseq, flags) in reports {
            // RFC 7162 §3.1.3: with CONDSTORE the MODSEQ is reported even for .SILENT.
            if flags.is_none() && !condstore {
                continue;
            }
            let Some(seq) = selected.seq_of(u) else { continue };
            let mut items = Vec::new();
            if let Some(flags) = &flags {
                items.extend_from_slice(b"FLAGS ");
                write_flags(&mut items, flags);
            }
            if uid {
                items.extend_from_slice(
                    format!("{}UID {u}", if items.is_empty() { "" } else { " " }).as_bytes(),
                );
            }
            if condstore {
                items.extend_from_slice(
                    format!("{}MODSEQ ({modseq})", if items.is_empty() { "" } else { " " }).as_bytes(),
                );
            }
            buf.extend_from_slice(format!("* {seq} FETCH (").as_bytes());
            buf.extend_from_slice(&items);
            buf.extend_from_slice(b")\r\n");
        }
        if !stored.failed.is_empty() {
            let mut failed: Vec<u32> = stored
                .failed
                .iter()
                .filter_map(|f| if uid { Some(f.0) } else { selected.seq_of(f.0) })
                .collect();
            failed.sort_unstable();
            return Ok(Done::with(
                ResponseCode::Modified(format_uid_set(&failed)),
                "conditional STORE failed for some messages",
            ));
        }
        Ok(Done::ok("STORE completed"))
    }

    pub(crate) async fn copy_or_move(
        &mut self,
        uid: bool,
        set: &SequenceSet,
        sent: &str,
        is_move: bool,
    ) -> CommandResult {
        let name = self.mailbox_name(sent)?;
        let (account, store) = {
            let login = self.login_ref()?;
            (Arc::clone(&login.account), Arc::clone(&login.store))
        };
        let Some(selected) = self.selected.as_ref() else {
            return Err(CommandError::Bad("no mailbox selected".into()));
        };
        if is_move && selected.read_only {
            return Err(CommandError::No(Some(ResponseCode::ReadOnly), "mailbox is read-only".into()));
        }
        let target = store.read(|view| view.mailbox_by_name(&name))?.ok_or_else(|| {
            // RFC 9051 §6.4.7: TRYCREATE when the destination does not exist.
            CommandError::No(Some(ResponseCode::TryCreate), format!("no mailbox {name:?}"))
        })?;
        let from = selected.mailbox;
        let targets = if uid { selected.resolve_uids(set) } else { selected.resolve_seqs(set) };
        let verb = if is_move { "MOVE completed" } else { "COPY completed" };
        if targets.is_empty() {
            return Ok(Done::ok(verb));
        }
        let uids: Vec<Uid> = targets.iter().map(|&(_, u)| Uid(u)).collect();
        let (copied, expunged) = if is_move {
            let (copied, expunged) = self.node.move_messages(&account, from, uids, target.id).await?;
            (copied, expunged)
        } else {
            (self.node.copy(&account, from, uids, target.id).await?, Vec::new())
        };
        let mut pairs = copied.pairs.clone();
        pairs.sort_unstable_by_key(|p| p.0);
        let source: Vec<u32> = pairs.iter().map(|p| p.0.0).collect();
        let destination: Vec<u32> = pairs.iter().map(|p| p.1.0).collect();
        let code = ResponseCode::CopyUid {
            uidvalidity: copied.uidvalidity.0,
            source: format_uid_set(&source),
            destination: format_uid_set(&destination),
        };
        let qresync = self.enabled.qresync;
        let Session { selected, out, .. } = self;
        if let Some(selected) = selected.as_mut() {
            if target.id == selected.mailbox {
                selected.mark_dirty();
            }
            if is_move {
                // RFC 6851 §4.3: COPYUID in an untagged OK before the expunges.
                if !pairs.is_empty() {
                    write_untagged_status(out.buf(), Status::Ok, Some(&code), "moved");
                }
                let gone: Vec<u32> = expunged.iter().map(|e| e.uid.0).collect();
                selected.remove_own(&gone, out.buf(), qresync);
                return Ok(Done::ok(verb));
            }
        }
        if pairs.is_empty() {
            return Ok(Done::ok(verb));
        }
        Ok(Done::with(code, verb))
    }
}
