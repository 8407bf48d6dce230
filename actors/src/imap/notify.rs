//! NOTIFY's storage side (RFC 5465): an account-wide subscription while the session
//! wants changes to mailboxes other than the selected one, and the account's change
//! batches turned into the session's [`Notice`]s.
//!
//! A batch costs one read transaction on this core and one mailbox record read per
//! mailbox it touched (the record keeps MESSAGES, UIDNEXT, UNSEEN and HIGHESTMODSEQ as
//! counters), plus the subscription names when a SUBSCRIBED filter is on or a mailbox
//! was created or renamed: never a walk over a mailbox's messages, whatever its size.

use moxide_protocols::imap::server::{MessageChanges, Notice, Session};
use moxide_storage::{MailboxId, ReadView, StorageError};

use super::facts::mailbox_facts;
use super::session::Conn;
use crate::change::{Change, ChangeBatch, Notification};

impl Conn {
    /// Subscribes to the account's changes when the session starts wanting them (NOTIFY
    /// SET), and drops the subscription when it stops (NOTIFY NONE, an overflow).
    pub(crate) async fn follow_notify(&mut self, session: &Session) {
        let wanted = session.notify_wants_changes();
        if !wanted {
            self.notify = None;
            return;
        }
        if self.notify.is_some() {
            return;
        }
        let Some(login) = &self.login else { return };
        let account = login.account.clone();
        match self.node.subscribe(&account).await {
            Ok(subscription) => self.notify = Some(subscription),
            Err(error) => tracing::warn!(peer = %self.peer, %error, "NOTIFY could not subscribe"),
        }
    }

    /// Tells the session what a notification of the account-wide subscription says.
    pub(crate) fn notify_changes(&self, session: &mut Session, notification: Notification) {
        let batch = match notification {
            Notification::Overflowed => return session.notice(Notice::Overflowed),
            Notification::Changes(batch) => batch,
        };
        let Some(login) = &self.login else { return };
        let selected = self.selected.as_ref().map(|selected| selected.mailbox);
        // A new or renamed name's LIST says `\Subscribed` when it is (mailbox-list
        // changes are rare; message changes read the names only for SUBSCRIBED).
        let subscriptions = session.notify_needs_subscriptions()
            || batch.changes.iter().any(|change| matches!(change, Change::MailboxName { .. }));
        let read = login.store.read(|view| notices(view, &batch, selected, subscriptions));
        match read {
            Ok(notices) => notices.into_iter().for_each(|notice| session.notice(notice)),
            Err(error) => {
                tracing::error!(peer = %self.peer, %error, "reading NOTIFY facts failed");
                session.notice(Notice::Overflowed);
            }
        }
    }
}

/// The notices of one batch: per mailbox touched by message changes one STATUS notice
/// (in the order first touched), then the mailbox-list, subscription and METADATA
/// events in commit order. The selected mailbox's message changes go through its
/// view's sync instead.
fn notices(
    view: &ReadView<'_>,
    batch: &ChangeBatch,
    selected: Option<MailboxId>,
    with_subscriptions: bool,
) -> Result<Vec<Notice>, StorageError> {
    let subscriptions = if with_subscriptions { view.subscriptions()? } else { Vec::new() };
    let subscribed = |name: &str| subscriptions.iter().any(|s| s == name);
    let mut touched: Vec<(MailboxId, MessageChanges)> = Vec::new();
    let mut others = Vec::new();
    for change in batch.changes.iter() {
        if let Some(mailbox) = change.mailbox() {
            if Some(mailbox) == selected {
                continue;
            }
            let at = match touched.iter().position(|(id, _)| *id == mailbox) {
                Some(at) => at,
                None => {
                    touched.push((mailbox, MessageChanges::default()));
                    touched.len() - 1
                }
            };
            let kinds = &mut touched[at].1;
            match change {
                Change::Added { .. } => kinds.new = true,
                Change::Expunged { .. } => kinds.expunged = true,
                _ => kinds.flags = true,
            }
            continue;
        }
        let notice = match change {
            Change::MailboxName { from, to } => {
                let name = to.as_deref().or(from.as_deref()).unwrap_or_default();
                Notice::MailboxName { from: from.clone(), to: to.clone(), subscribed: subscribed(name) }
            }
            Change::Subscription { name, subscribed } => {
                Notice::Subscription { name: name.clone(), subscribed: *subscribed }
            }
            Change::MailboxMetadata { mailbox, entries } => {
                let Some(info) = view.mailbox(*mailbox)? else { continue };
                let subscribed = subscribed(&info.name);
                Notice::MailboxMetadata { mailbox: info.name, subscribed, entries: entries.clone() }
            }
            Change::ServerMetadata { entries } => Notice::ServerMetadata { entries: entries.clone() },
            _ => continue,
        };
        others.push(notice);
    }
    let mut out = Vec::with_capacity(touched.len() + others.len());
    for (mailbox, changes) in touched {
        // A mailbox deleted since the commit has nothing to report.
        let Some(info) = view.mailbox(mailbox)? else { continue };
        let subscribed = subscribed(&info.name);
        out.push(Notice::Messages { facts: mailbox_facts(&info, 0), subscribed, changes });
    }
    out.extend(others);
    Ok(out)
}
