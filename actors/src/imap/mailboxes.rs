//! Mailbox commands: SELECT/EXAMINE (with CONDSTORE/QRESYNC), CLOSE/UNSELECT, EXPUNGE,
//! CREATE, DELETE, RENAME, SUBSCRIBE/UNSUBSCRIBE, LIST (LIST-EXTENDED, LIST-STATUS,
//! SPECIAL-USE, CHILDREN), LSUB and STATUS (STATUS=SIZE, CONDSTORE).

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::sync::Arc;

use moxide_protocols::imap::{
    ListCommand, ResponseCode, SelectParams, SequenceSet, Status, StatusAttr, format_uid_set, write_flags,
    write_mailbox, write_untagged_status,
};
use moxide_storage::{Flags, MailboxInfo, ModSeq, SpecialUse, Uid};

use super::flags;
use super::selected::Selected;
use super::session::{CommandError, CommandResult, Done, Session};

/// Hierarchy delimiter (RFC 9051 §5.1.1).
const DELIMITER: char = '/';

impl Session {
    pub(crate) async fn select(
        &mut self,
        sent: &str,
        params: SelectParams,
        read_only: bool,
    ) -> CommandResult {
        let name = self.mailbox_name(sent)?;
        if params.qresync.is_some() && !self.enabled.qresync {
            return Err(CommandError::Bad("enable QRESYNC first (RFC 7162 §3.2.5)".into()));
        }
        if self.selected.take().is_some() {
            // RFC 9051 §6.3.2 / RFC 7162 §3.2.11: the previous mailbox is closed.
            write_untagged_status(
                self.out.buf(),
                Status::Ok,
                Some(&ResponseCode::Closed),
                "previous mailbox closed",
            );
        }
        if params.condstore {
            self.enabled.condstore = true;
        }
        let login = self.login_ref()?;
        let (account, store) = (Arc::clone(&login.account), Arc::clone(&login.store));
        let info = store.read(|view| view.mailbox_by_name(&name))?.ok_or_else(|| {
            CommandError::No(Some(ResponseCode::NonExistent), format!("no mailbox {name:?}"))
        })?;
        let subscription = self.node.subscribe(&account).await?;
        let selected = Selected::open(&store, &info, subscription, read_only)?;
        let out = self.out.buf();
        out.extend_from_slice(b"* FLAGS ");
        write_flags(out, &flags::defined());
        out.extend_from_slice(b"\r\n");
        let permanent = if read_only {
            ResponseCode::PermanentFlags(vec![])
        } else {
            ResponseCode::PermanentFlags(flags::permanent())
        };
        write_untagged_status(out, Status::Ok, Some(&permanent), "flags permitted");
        out.extend_from_slice(format!("* {} EXISTS\r\n", selected.count()).as_bytes());
        if !self.enabled.rev2 {
            // IMAP4rev1 only (RFC 3501 §6.3.1): RECENT (we keep no \Recent) and UNSEEN.
            out.extend_from_slice(b"* 0 RECENT\r\n");
            if info.unseen > 0
                && let Some(seq) = first_unseen(&store, &selected)?
            {
                write_untagged_status(
                    self.out.buf(),
                    Status::Ok,
                    Some(&ResponseCode::Unseen(seq)),
                    "first unseen",
                );
            }
        }
        let out = self.out.buf();
        write_untagged_status(
            out,
            Status::Ok,
            Some(&ResponseCode::UidValidity(info.uidvalidity.0)),
            "UIDs valid",
        );
        write_untagged_status(
            out,
            Status::Ok,
            Some(&ResponseCode::UidNext(info.uidnext.0)),
            "predicted next UID",
        );
        write_untagged_status(
            out,
            Status::Ok,
            Some(&ResponseCode::HighestModSeq(selected.last_modseq())),
            "highest",
        );
        if self.enabled.rev2 {
            out.extend_from_slice(b"* LIST () \"/\" ");
            write_mailbox(out, &info.name, true);
            out.extend_from_slice(b"\r\n");
        }
        if let Some(qresync) = &params.qresync
            && qresync.uidvalidity == info.uidvalidity.0
        {
            self.qresync_resync(&store, &selected, qresync.modseq, qresync.known_uids.as_ref())?;
        }
        self.selected = Some(selected);
        let code = if read_only { ResponseCode::ReadOnly } else { ResponseCode::ReadWrite };
        Ok(Done::with(code, if read_only { "EXAMINE completed" } else { "SELECT completed" }))
    }

    /// RFC 7162 §3.2.5.2: what changed since the client's modseq: VANISHED (EARLIER) for
    /// expunged UIDs it may know, FETCH for changed messages.
    fn qresync_resync(
        &mut self,
        store: &moxide_storage::AccountStore,
        selected: &Selected,
        modseq: u64,
        known: Option<&SequenceSet>,
    ) -> Result<(), CommandError> {
        let mailbox = selected.mailbox;
        let max_uid = selected.max_uid();
        let (vanished, changed) = store.read(|view| {
            let mut vanished: Vec<u32> = view
                .expunged_since(mailbox, ModSeq(modseq))?
                .into_iter()
                .map(|(uid, _)| uid.0)
                .filter(|uid| known.is_none_or(|set| set.contains(*uid, max_uid.max(*uid))))
                .collect();
            vanished.sort_unstable();
            let mut changed = Vec::new();
            for (uid, m) in view.changed_since(mailbox, ModSeq(modseq))? {
                if let Some(info) = view.message_by_uid(mailbox, uid)? {
                    changed.push((uid.0, m.0, flags::join(info.flags, info.keywords)));
                }
            }
            Ok((vanished, changed))
        })?;
        let out = self.out.buf();
        if !vanished.is_empty() {
            moxide_protocols::imap::write_vanished(out, true, &format_uid_set(&vanished));
        }
        let mut changed = changed;
        changed.sort_unstable_by_key(|c| c.0);
        for (uid, m, flags) in changed {
            let Some(seq) = selected.seq_of(uid) else { continue };
            out.extend_from_slice(format!("* {seq} FETCH (UID {uid} FLAGS ").as_bytes());
            write_flags(out, &flags);
            out.extend_from_slice(format!(" MODSEQ ({m}))\r\n").as_bytes());
        }
        Ok(())
    }

    pub(crate) async fn close(&mut self, expunge: bool) -> CommandResult {
        let Some(selected) = self.selected.take() else {
            return Err(CommandError::Bad("no mailbox selected".into()));
        };
        if expunge && !selected.read_only {
            let login = self.login_ref()?;
            let deleted = deleted_uids(&login.store, &selected, None)?;
            if !deleted.is_empty() {
                let account = Arc::clone(&login.account);
                self.node.expunge(&account, selected.mailbox, deleted).await?;
            }
        }
        Ok(Done::ok(if expunge { "CLOSE completed" } else { "UNSELECT completed" }))
    }

    pub(crate) async fn expunge(&mut self, set: Option<SequenceSet>) -> CommandResult {
        let login = self.login_ref()?;
        let (account, store) = (Arc::clone(&login.account), Arc::clone(&login.store));
        let Some(selected) = self.selected.as_ref() else {
            return Err(CommandError::Bad("no mailbox selected".into()));
        };
        if selected.read_only {
            return Err(CommandError::No(Some(ResponseCode::ReadOnly), "mailbox is read-only".into()));
        }
        let mailbox = selected.mailbox;
        let restrict: Option<Vec<u32>> =
            set.map(|set| selected.resolve_uids(&set).into_iter().map(|(_, uid)| uid).collect());
        let deleted = deleted_uids(&store, selected, restrict.as_deref())?;
        if deleted.is_empty() {
            return Ok(Done::ok("EXPUNGE completed"));
        }
        let expunged = self.node.expunge(&account, mailbox, deleted).await?;
        let uids: Vec<u32> = expunged.iter().map(|e| e.uid.0).collect();
        let qresync = self.enabled.qresync;
        let highest = expunged.iter().map(|e| e.modseq.0).max().unwrap_or(0);
        let Session { selected, out, .. } = self;
        if let Some(selected) = selected.as_mut() {
            selected.remove_own(&uids, out.buf(), qresync);
        }
        if self.enabled.condstore {
            return Ok(Done::with(ResponseCode::HighestModSeq(highest), "EXPUNGE completed"));
        }
        Ok(Done::ok("EXPUNGE completed"))
    }

    pub(crate) async fn create(&mut self, sent: &str, special_use: &[String]) -> CommandResult {
        let name = self.mailbox_name(sent)?;
        let name = name.trim_end_matches(DELIMITER).to_string();
        if name.eq_ignore_ascii_case("INBOX") {
            return Err(CommandError::No(Some(ResponseCode::AlreadyExists), "INBOX always exists".into()));
        }
        let special = match special_use {
            [] => None,
            [one] => Some(SpecialUse::from_attribute(one).ok_or_else(|| {
                CommandError::No(Some(ResponseCode::Cannot), format!("special-use {one} is not supported"))
            })?),
            _ => {
                return Err(CommandError::No(
                    Some(ResponseCode::Cannot),
                    "one special-use per mailbox".into(),
                ));
            }
        };
        let account = Arc::clone(&self.login_ref()?.account);
        self.node.create_mailbox(&account, name, special).await?;
        Ok(Done::ok("CREATE completed"))
    }

    pub(crate) async fn delete(&mut self, sent: &str) -> CommandResult {
        let name = self.mailbox_name(sent)?;
        let account = Arc::clone(&self.login_ref()?.account);
        let deleted = self.node.delete_mailbox(&account, name).await?;
        if self.selected.as_ref().is_some_and(|s| s.mailbox == deleted.id) {
            self.selected = None;
        }
        Ok(Done::ok("DELETE completed"))
    }

    pub(crate) async fn rename(&mut self, from: &str, to: &str) -> CommandResult {
        let from = self.mailbox_name(from)?;
        let to = self.mailbox_name(to)?;
        let account = Arc::clone(&self.login_ref()?.account);
        self.node.rename_mailbox(&account, from, to).await?;
        Ok(Done::ok("RENAME completed"))
    }

    pub(crate) async fn subscribe(&mut self, sent: &str, subscribed: bool) -> CommandResult {
        let name = self.mailbox_name(sent)?;
        let account = Arc::clone(&self.login_ref()?.account);
        self.node.set_subscribed(&account, name, subscribed).await?;
        Ok(Done::ok(if subscribed { "SUBSCRIBE completed" } else { "UNSUBSCRIBE completed" }))
    }

    pub(crate) fn list(&mut self, list: &ListCommand) -> CommandResult {
        let utf8 = self.enabled.utf8 || self.enabled.rev2;
        if list.patterns.len() == 1 && list.patterns[0].is_empty() && !list.select_subscribed {
            // RFC 9051 §6.3.9: an empty pattern asks for the delimiter and root.
            self.out.buf().extend_from_slice(b"* LIST (\\Noselect) \"/\" \"\"\r\n");
            return Ok(Done::ok("LIST completed"));
        }
        let patterns: Vec<String> = list
            .patterns
            .iter()
            .map(|p| self.mailbox_name(&format!("{}{p}", list.reference)))
            .collect::<Result<_, _>>()?;
        let store = Arc::clone(&self.login_ref()?.store);
        let (mailboxes, subscriptions) = store.read(|view| Ok((view.mailboxes()?, view.subscriptions()?)))?;
        let subscribed: BTreeSet<&str> = subscriptions.iter().map(String::as_str).collect();
        let names: BTreeSet<&str> = mailboxes.iter().map(|m| m.name.as_str()).collect();
        let show_subscribed = list.return_subscribed || list.select_subscribed;
        let mut lines = Vec::new();
        for entry in list_entries(&mailboxes, &subscribed, &patterns, list) {
            let mut attributes: Vec<&str> = Vec::new();
            match entry.info {
                None => attributes.push("\\NonExistent"),
                Some(info) => {
                    // RFC 3348 / RFC 5258 §4: children attributes on every LIST.
                    let children = names.iter().any(|n| is_child(n, &info.name));
                    attributes.push(if children { "\\HasChildren" } else { "\\HasNoChildren" });
                    if let Some(special) = info.special_use {
                        attributes.push(special.attribute());
                    }
                }
            }
            if show_subscribed && subscribed.contains(entry.name.as_str()) {
                attributes.push("\\Subscribed");
            }
            let out = &mut lines;
            out.extend_from_slice(format!("* LIST ({}) \"/\" ", attributes.join(" ")).as_bytes());
            write_mailbox(out, &entry.name, utf8);
            if entry.child_subscribed {
                out.extend_from_slice(b" (\"CHILDINFO\" (\"SUBSCRIBED\"))");
            }
            out.extend_from_slice(b"\r\n");
            if let (Some(attrs), Some(info)) = (&list.return_status, entry.info) {
                write_status(out, info, attrs, utf8);
            }
        }
        self.out.buf().extend_from_slice(&lines);
        Ok(Done::ok("LIST completed"))
    }

    pub(crate) fn lsub(&mut self, reference: &str, pattern: &str) -> CommandResult {
        let utf8 = self.enabled.utf8 || self.enabled.rev2;
        let pattern = self.mailbox_name(&format!("{reference}{pattern}"))?;
        let store = Arc::clone(&self.login_ref()?.store);
        let (mailboxes, subscriptions) = store.read(|view| Ok((view.mailboxes()?, view.subscriptions()?)))?;
        let mut out = Vec::new();
        for name in subscriptions.iter().filter(|n| matches(&pattern, n)) {
            let exists = mailboxes.iter().any(|m| &m.name == name);
            out.extend_from_slice(if exists { b"* LSUB () \"/\" " } else { b"* LSUB (\\Noselect) \"/\" " });
            write_mailbox(&mut out, name, utf8);
            out.extend_from_slice(b"\r\n");
        }
        self.out.buf().extend_from_slice(&out);
        Ok(Done::ok("LSUB completed"))
    }

    pub(crate) fn status(&mut self, sent: &str, attrs: &[StatusAttr]) -> CommandResult {
        let utf8 = self.enabled.utf8 || self.enabled.rev2;
        let name = self.mailbox_name(sent)?;
        let store = Arc::clone(&self.login_ref()?.store);
        let info = store.read(|view| view.mailbox_by_name(&name))?.ok_or_else(|| {
            CommandError::No(Some(ResponseCode::NonExistent), format!("no mailbox {name:?}"))
        })?;
        write_status(self.out.buf(), &info, attrs, utf8);
        Ok(Done::ok("STATUS completed"))
    }
}

/// `* STATUS name (...)` (RFC 9051 §7.3.1).
fn write_status(out: &mut Vec<u8>, info: &MailboxInfo, attrs: &[StatusAttr], utf8: bool) {
    out.extend_from_slice(b"* STATUS ");
    write_mailbox(out, &info.name, utf8);
    out.extend_from_slice(b" (");
    let items: Vec<String> = attrs
        .iter()
        .map(|attr| {
            let value = match attr {
                StatusAttr::Messages => u64::from(info.messages),
                StatusAttr::Recent => 0,
                StatusAttr::UidNext => u64::from(info.uidnext.0),
                StatusAttr::UidValidity => u64::from(info.uidvalidity.0),
                StatusAttr::Unseen => u64::from(info.unseen),
                StatusAttr::Deleted => u64::from(info.deleted),
                StatusAttr::Size => info.size_bytes,
                StatusAttr::HighestModSeq => info.highest_modseq.0,
            };
            format!("{} {value}", attr.name())
        })
        .collect();
    out.extend_from_slice(items.join(" ").as_bytes());
    out.extend_from_slice(b")\r\n");
}

struct ListEntry<'a> {
    name: String,
    info: Option<&'a MailboxInfo>,
    child_subscribed: bool,
}

/// The LIST response entries, in name order (RFC 5258 §3: selection, then matching).
fn list_entries<'a>(
    mailboxes: &'a [MailboxInfo],
    subscribed: &BTreeSet<&str>,
    patterns: &[String],
    list: &ListCommand,
) -> Vec<ListEntry<'a>> {
    let matched = |name: &str| patterns.iter().any(|p| matches(p, name));
    let mut entries = Vec::new();
    if list.select_subscribed {
        for name in subscribed.iter().filter(|n| matched(n)) {
            let info = mailboxes.iter().find(|m| m.name == *name);
            if list.select_special_use && info.and_then(|i| i.special_use).is_none() {
                continue;
            }
            entries.push(ListEntry { name: (*name).to_string(), info, child_subscribed: false });
        }
        if list.select_recursive_match {
            // RFC 5258 §3.5: a matching parent that is not itself selected but has a
            // selected descendant is listed with CHILDINFO.
            for info in mailboxes.iter().filter(|m| matched(&m.name) && !subscribed.contains(m.name.as_str()))
            {
                if subscribed.iter().any(|s| is_child(s, &info.name)) {
                    entries.push(ListEntry {
                        name: info.name.clone(),
                        info: Some(info),
                        child_subscribed: true,
                    });
                }
            }
        }
    } else {
        let mut listed: BTreeSet<String> = BTreeSet::new();
        for info in mailboxes.iter().filter(|m| matched(&m.name)) {
            if list.select_special_use && info.special_use.is_none() {
                continue;
            }
            listed.insert(info.name.clone());
            entries.push(ListEntry { name: info.name.clone(), info: Some(info), child_subscribed: false });
        }
        // Parents that do not exist but have children that match further down (RFC 9051
        // §6.3.9: "%" must still show them, as \NonExistent here).
        for info in mailboxes {
            let mut parent = info.name.as_str();
            while let Some((up, _)) = parent.rsplit_once(DELIMITER) {
                parent = up;
                if !listed.contains(parent) && matched(parent) && !mailboxes.iter().any(|m| m.name == parent)
                {
                    listed.insert(parent.to_string());
                    entries.push(ListEntry { name: parent.to_string(), info: None, child_subscribed: false });
                }
            }
        }
    }
    entries.sort_by(|a, b| sort_key(&a.name).cmp(&sort_key(&b.name)));
    entries
}

/// INBOX first, then by name.
fn sort_key(name: &str) -> (bool, &str) {
    (name != "INBOX", name)
}

fn is_child(name: &str, parent: &str) -> bool {
    name.len() > parent.len() + 1 && name.starts_with(parent) && name[parent.len()..].starts_with(DELIMITER)
}

/// LIST pattern matching (RFC 9051 §6.3.9): `*` matches anything, `%` anything but the
/// delimiter; INBOX matches case-insensitively.
pub(crate) fn matches(pattern: &str, name: &str) -> bool {
    moxide_protocols::imap::wildcard::matches(pattern, name, DELIMITER as u8)
}

/// UIDs of \Deleted messages in the view (optionally only those in `restrict`).
fn deleted_uids(
    store: &moxide_storage::AccountStore,
    selected: &Selected,
    restrict: Option<&[u32]>,
) -> Result<Vec<Uid>, CommandError> {
    let mut deleted = Vec::new();
    store.read(|view| {
        view.for_each_message(selected.mailbox, Uid(1), Uid(u32::MAX), |record| {
            let uid = record.uid().0;
            let wanted = restrict.is_none_or(|r| r.binary_search(&uid).is_ok());
            if wanted && record.flags().contains(Flags::DELETED) && selected.seq_of(uid).is_some() {
                deleted.push(Uid(uid));
            }
            ControlFlow::Continue(())
        })
    })?;
    Ok(deleted)
}

fn first_unseen(
    store: &moxide_storage::AccountStore,
    selected: &Selected,
) -> Result<Option<u32>, CommandError> {
    let mut first = None;
    store.read(|view| {
        view.for_each_message(selected.mailbox, Uid(1), Uid(u32::MAX), |record| {
            if !record.flags().contains(Flags::SEEN) {
                first = selected.seq_of(record.uid().0);
                return ControlFlow::Break(());
            }
            ControlFlow::Continue(())
        })
    })?;
    Ok(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_patterns() {
        assert!(matches("*", "a/b/c"));
        assert!(matches("%", "Sent"));
        assert!(!matches("%", "a/b"));
        assert!(matches("a/%", "a/b"));
        assert!(!matches("a/%", "a/b/c"));
        assert!(matches("a/*", "a/b/c"));
        assert!(matches("inbox", "INBOX"));
        assert!(matches("InBoX/%", "INBOX/x"));
        assert!(!matches("sent", "Sent"), "only INBOX is case-insensitive");
        assert!(matches("S%t", "Sent"));
        assert!(!matches("S%t", "Sx/t"));
        assert!(matches("", ""));
        assert!(!matches("", "a"));
    }
}
