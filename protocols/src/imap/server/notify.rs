//! NOTIFY (RFC 5465): which events the client wants about which mailboxes, and the
//! untagged responses that tell it.
//!
//! Once a client sent NOTIFY, the account's changes reach it as they happen, between
//! commands as well as in IDLE (RFC 5465 §5: unsolicited responses at any time):
//! - for mailboxes other than the selected one, the caller turns the account's change
//!   events into [`Notice`]s (a mailbox's STATUS counts are counters its record keeps, so
//!   a notice costs the same whatever the mailbox's size), and [`Session::notice`] writes
//!   `* STATUS`, `* LIST` or `* METADATA` when a filter asks for the event;
//! - for the selected mailbox, SELECTED makes the session sync the view between
//!   commands as IDLE does (EXISTS, EXPUNGE or VANISHED, FETCH FLAGS); SELECTED-DELAYED
//!   does the same but keeps expunges (and flag changes, which must not pass them, see
//!   `selected`) until a command that allows them (RFC 5465 §6); with neither, the
//!   selected mailbox gets no updates about other sessions' changes at all, not even
//!   at NOOP (RFC 5465 §3: the client asked for none). MessageNew's FETCH attributes
//!   for the selected mailbox are sent after EXISTS for the new messages.
//!
//! Spec question: whether a NOTIFY without SELECTED (or NOTIFY NONE) also silences the
//! updates RFC 9051 §7.5.1 would send at command ends. We read RFC 5465 §3 as yes (mox
//! does the same); the session's own commands still report their own results.
//!
//! Invariants: the notifications a session has not written out are bounded
//! ([`NOTIFY_OUTPUT_BYTES_MAX`]; the caller's subscription bounds the change batches
//! waiting for it); past the bound, or when the caller's subscription overflowed, the
//! session says `* OK [NOTIFICATIONOVERFLOW]` once and then behaves as after `NOTIFY
//! NONE` (RFC 5465 §5.8) until the next NOTIFY.

use super::error::{CommandError, Done};
use super::facts::{MailboxFacts, MailboxList};
use super::fetch::FetchPlan;
use super::list::DELIMITER;
use super::{Answer, Event, Job, Session};
use crate::imap::parser::{MailboxFilter, NotifyEvent, NotifySet};
use crate::imap::response::{
    ListExtendedItem, ResponseCode, Status, write_list, write_mailbox, write_status, write_untagged_status,
};
use crate::imap::types::{FetchAttr, StatusAttr};
use std::sync::Arc;

/// Most notification bytes a session holds unwritten before it gives up notifying
/// (`* OK [NOTIFICATIONOVERFLOW]`, RFC 5465 §5.8). The caller writes the output out
/// after each notice, so only a client that stops reading gets here; 256 KiB is
/// thousands of STATUS lines, and with the caller's subscription backlog
/// (`SUBSCRIPTION_BACKLOG_MAX` batches in `moxide-actors`) it is all a silent client
/// makes the server hold for NOTIFY.
pub const NOTIFY_OUTPUT_BYTES_MAX: usize = 256 * 1024;

/// The events NOTIFY supports, for `NO [BADEVENT (...)]` (RFC 5465 §3.1).
pub const NOTIFY_EVENTS_SUPPORTED: &[&str] = &[
    "MessageNew",
    "MessageExpunge",
    "FlagChange",
    "MailboxName",
    "SubscriptionChange",
    "MailboxMetadataChange",
    "ServerMetadataChange",
];

/// Event bits of a group.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Events(u8);

impl Events {
    pub(crate) const NEW: Events = Events(1);
    pub(crate) const EXPUNGE: Events = Events(2);
    pub(crate) const FLAGS: Events = Events(4);
    pub(crate) const MAILBOX_NAME: Events = Events(8);
    pub(crate) const SUBSCRIPTION: Events = Events(16);
    pub(crate) const MAILBOX_METADATA: Events = Events(32);
    pub(crate) const SERVER_METADATA: Events = Events(64);
    const MESSAGE: Events = Events(1 | 2 | 4);

    fn has(self, other: Events) -> bool {
        self.0 & other.0 != 0
    }
}

/// Which messages of a mailbox changed, for a [`Notice::Messages`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MessageChanges {
    /// Messages arrived (MessageNew).
    pub new: bool,
    /// Messages were expunged (MessageExpunge).
    pub expunged: bool,
    /// Flags changed (FlagChange).
    pub flags: bool,
}

/// A change elsewhere in the account, as the caller tells it to a session that uses
/// NOTIFY (see [`Session::notify_wants_changes`]).
#[derive(Debug, Clone)]
pub enum Notice {
    /// Messages of a mailbox that is not the selected one changed; `facts` are the
    /// mailbox's counts after the change.
    Messages {
        /// The mailbox's counts now (name, MESSAGES, UIDNEXT, UIDVALIDITY, UNSEEN,
        /// HIGHESTMODSEQ).
        facts: MailboxFacts,
        /// The mailbox is subscribed (for the SUBSCRIBED filter).
        subscribed: bool,
        /// What changed.
        changes: MessageChanges,
    },
    /// A mailbox was created (`from` None), deleted (`to` None) or renamed.
    MailboxName {
        /// The old name.
        from: Option<String>,
        /// The new name.
        to: Option<String>,
        /// The (new) name is subscribed.
        subscribed: bool,
    },
    /// A name was subscribed or unsubscribed.
    Subscription {
        /// The name.
        name: String,
        /// Subscribed now.
        subscribed: bool,
    },
    /// METADATA entries of a mailbox changed.
    MailboxMetadata {
        /// The mailbox.
        mailbox: String,
        /// The mailbox is subscribed.
        subscribed: bool,
        /// The entries set or removed.
        entries: Vec<String>,
    },
    /// The server's METADATA entries changed.
    ServerMetadata {
        /// The entries set or removed.
        entries: Vec<String>,
    },
    /// The caller's subscription lost changes: notifications stop (RFC 5465 §5.8).
    Overflowed,
}

/// A group's mailbox filter, names as stored.
#[derive(Debug, Clone)]
enum Filter {
    Selected { delayed: bool },
    Inboxes,
    Personal,
    Subscribed,
    Subtree(Vec<String>),
    Mailboxes(Vec<String>),
}

#[derive(Debug, Clone)]
struct Group {
    filter: Filter,
    events: Events,
}

/// The session's NOTIFY state: `groups` empty after `NOTIFY NONE` or an overflow.
#[derive(Debug, Clone, Default)]
pub(crate) struct Notify {
    groups: Vec<Group>,
    /// MessageNew's FETCH attributes for the selected mailbox, as a plan.
    pub(crate) fetch: Option<Arc<FetchPlan>>,
}

/// How the selected mailbox learns of other sessions' changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SelectedUpdates {
    /// No NOTIFY: at the points RFC 9051 §7.5.1 allows, and in IDLE.
    Standard,
    /// SELECTED: also between commands, expunges included.
    Immediate,
    /// SELECTED-DELAYED: also between commands, expunges at commands that allow them.
    Delayed,
    /// NOTIFY without a selected filter: none.
    Off,
}

impl Notify {
    /// Whether a change of `kind` to the non-selected mailbox `name` is to be told.
    /// Groups are tried in order; a matching group with NONE ends the search.
    fn wants(&self, name: &str, subscribed: bool, kind: Events) -> bool {
        for group in &self.groups {
            let matched = match &group.filter {
                Filter::Selected { .. } => false,
                Filter::Inboxes => name == "INBOX",
                Filter::Personal => true,
                Filter::Subscribed => subscribed,
                Filter::Subtree(roots) => roots.iter().any(|root| in_subtree(root, name)),
                Filter::Mailboxes(names) => names.iter().any(|n| n == name),
            };
            if !matched {
                continue;
            }
            if group.events == Events::default() {
                return false;
            }
            if group.events.has(kind) {
                return true;
            }
        }
        false
    }

    /// The SELECTED filter leaves out FlagChange: other sessions' flag changes to the
    /// selected mailbox are not told.
    pub(crate) fn hides_flag_changes(&self) -> bool {
        self.groups
            .iter()
            .find(|group| matches!(group.filter, Filter::Selected { .. }))
            .is_some_and(|group| !group.events.has(Events::FLAGS))
    }

    fn selected(&self) -> SelectedUpdates {
        for group in &self.groups {
            if let Filter::Selected { delayed } = group.filter {
                if !group.events.has(Events::MESSAGE) {
                    return SelectedUpdates::Off;
                }
                return if delayed { SelectedUpdates::Delayed } else { SelectedUpdates::Immediate };
            }
        }
        SelectedUpdates::Off
    }
}

fn in_subtree(root: &str, name: &str) -> bool {
    name == root
        || (name.len() > root.len()
            && name.starts_with(root)
            && name.as_bytes()[root.len()] == DELIMITER as u8)
}

impl Session {
    /// Whether the caller should turn the account's changes into [`Notice`]s: NOTIFY is
    /// on with an event for some mailbox other than the selected one.
    pub fn notify_wants_changes(&self) -> bool {
        self.notify.as_ref().is_some_and(|notify| {
            notify.groups.iter().any(|group| {
                !matches!(group.filter, Filter::Selected { .. }) && group.events != Events::default()
            })
        })
    }

    /// Whether a [`Notice`] needs to say whether its mailbox is subscribed (a
    /// SUBSCRIBED filter is on).
    pub fn notify_needs_subscriptions(&self) -> bool {
        self.notify.as_ref().is_some_and(|notify| {
            notify.groups.iter().any(|group| matches!(group.filter, Filter::Subscribed))
        })
    }

    /// Whether changes to the selected mailbox go out between commands (NOTIFY's
    /// SELECTED or SELECTED-DELAYED): the caller then calls
    /// [`Session::mailbox_changed`] as the changes come, not only in IDLE.
    pub fn wants_updates_between_commands(&self) -> bool {
        self.selected.is_some()
            && matches!(self.selected_updates(), SelectedUpdates::Immediate | SelectedUpdates::Delayed)
    }

    pub(crate) fn selected_updates(&self) -> SelectedUpdates {
        self.notify.as_ref().map_or(SelectedUpdates::Standard, Notify::selected)
    }

    /// A change elsewhere in the account (see [`Notice`]): writes what NOTIFY asks for.
    /// Not while [`Session::response_open`].
    pub fn notice(&mut self, notice: Notice) {
        let Some(notify) = &self.notify else { return };
        if self.closing || notify.groups.is_empty() {
            return;
        }
        if matches!(notice, Notice::Overflowed) || self.out.queued_bytes() > NOTIFY_OUTPUT_BYTES_MAX {
            return self.notify_overflowed();
        }
        let utf8 = self.utf8();
        let condstore = self.enabled.condstore;
        let out = self.out.buf();
        match notice {
            Notice::Messages { facts, subscribed, changes } => {
                let kinds = [
                    (changes.new, Events::NEW),
                    (changes.expunged, Events::EXPUNGE),
                    (changes.flags, Events::FLAGS),
                ];
                if kinds.iter().any(|&(changed, kind)| changed && notify.wants(&facts.name, subscribed, kind))
                {
                    write_notify_status(out, &facts, utf8, condstore);
                }
            }
            Notice::MailboxName { from, to, subscribed } => {
                let name = to.as_deref().or(from.as_deref()).unwrap_or_default();
                if !notify.wants(name, subscribed, Events::MAILBOX_NAME) {
                    return;
                }
                write_mailbox_name(out, from.as_deref(), to.as_deref(), subscribed, utf8);
            }
            Notice::Subscription { name, subscribed } => {
                if notify.wants(&name, subscribed, Events::SUBSCRIPTION) {
                    let attributes: &[&str] = if subscribed { &["\\Subscribed"] } else { &[] };
                    write_list(out, attributes, Some(DELIMITER), &name, utf8, &[]);
                }
            }
            Notice::MailboxMetadata { mailbox, subscribed, entries } => {
                if notify.wants(&mailbox, subscribed, Events::MAILBOX_METADATA) {
                    write_metadata_names(out, &mailbox, &entries, utf8);
                }
            }
            Notice::ServerMetadata { entries } => {
                let wanted = notify.groups.iter().any(|group| {
                    !matches!(group.filter, Filter::Selected { .. })
                        && group.events.has(Events::SERVER_METADATA)
                });
                if wanted {
                    write_metadata_names(out, "", &entries, utf8);
                }
            }
            Notice::Overflowed => {}
        }
    }

    /// RFC 5465 §5.8: say so once, then send nothing more until the next NOTIFY.
    fn notify_overflowed(&mut self) {
        self.notify = Some(Notify::default());
        write_untagged_status(
            self.out.buf(),
            Status::Ok,
            Some(&ResponseCode::NotificationOverflow),
            "too many notifications waiting, NOTIFY is off",
        );
    }

    /// `NOTIFY NONE` or `NOTIFY SET ...` (RFC 5465 §3).
    pub(crate) fn notify_command(&mut self, set: Option<NotifySet>) {
        let Some(set) = set else {
            self.notify = Some(Notify::default());
            return self.finish(Ok(Done::ok("NOTIFY completed")));
        };
        let (notify, status) = match self.plan_notify(set) {
            Ok(planned) => planned,
            Err(error) => return self.finish(Err(error)),
        };
        self.notify = Some(notify);
        if !status || !self.notify_wants_changes() {
            return self.finish(Ok(Done::ok("NOTIFY completed")));
        }
        // RFC 5465 §3: with STATUS, the current state of every mailbox the message events
        // apply to goes out before the OK.
        self.set_job(Job::Notify);
        self.request(Event::List { recent: false, status: true, deleted_bytes: false }, true);
    }

    /// STATUS for each mailbox that message events are on for (not the selected one).
    pub(crate) fn notify_listed(&mut self, answer: Answer) {
        let list: MailboxList = match answer {
            Answer::Mailboxes(list) => list,
            Answer::Failed(error) => return self.finish(Err(error)),
            _ => return self.finish(Err(CommandError::Internal)),
        };
        let utf8 = self.utf8();
        let condstore = self.enabled.condstore;
        let selected = self.selected.as_ref().map(|selected| selected.name.clone());
        if let Some(notify) = &self.notify {
            for facts in &list.mailboxes {
                let subscribed = list.subscriptions.contains(&facts.name);
                if Some(&facts.name) != selected.as_ref()
                    && notify.wants(&facts.name, subscribed, Events::MESSAGE)
                {
                    write_notify_status(self.out.buf(), facts, utf8, condstore);
                }
            }
        }
        self.finish(Ok(Done::ok("NOTIFY completed")));
    }

    /// Checks a NOTIFY SET (RFC 5465 §3.1, §5, §6) and makes the session's state.
    fn plan_notify(&self, set: NotifySet) -> Result<(Notify, bool), CommandError> {
        let unsupported: Vec<&str> = set
            .groups
            .iter()
            .flat_map(|group| &group.events)
            .filter(|event| matches!(event, NotifyEvent::AnnotationChange | NotifyEvent::Other(_)))
            .map(NotifyEvent::name)
            .collect();
        if !unsupported.is_empty() {
            let supported = NOTIFY_EVENTS_SUPPORTED.iter().map(|&name| name.to_owned()).collect();
            return Err(CommandError::No(
                Some(ResponseCode::BadEvent(supported)),
                format!("unsupported events: {}", unsupported.join(" ")),
            ));
        }
        let mut notify = Notify::default();
        for group in set.groups {
            let (events, fetch) = group_events(&group.events)?;
            let filter = match group.filter {
                MailboxFilter::Selected | MailboxFilter::SelectedDelayed => {
                    if notify.groups.iter().any(|g| matches!(g.filter, Filter::Selected { .. })) {
                        return Err(CommandError::bad("SELECTED or SELECTED-DELAYED may appear once"));
                    }
                    if events.0 & !Events::MESSAGE.0 != 0 {
                        return Err(CommandError::bad("SELECTED takes message events only"));
                    }
                    if !fetch.is_empty() {
                        let mut fetch = fetch;
                        if !fetch.contains(&FetchAttr::Uid) {
                            fetch.insert(0, FetchAttr::Uid);
                        }
                        notify.fetch = Some(Arc::new(FetchPlan::new(fetch, None, true)));
                    }
                    Filter::Selected { delayed: group.filter == MailboxFilter::SelectedDelayed }
                }
                MailboxFilter::Inboxes => Filter::Inboxes,
                MailboxFilter::Personal => Filter::Personal,
                MailboxFilter::Subscribed => Filter::Subscribed,
                MailboxFilter::Subtree(names) => Filter::Subtree(self.stored_names(names)),
                MailboxFilter::Mailboxes(names) => Filter::Mailboxes(self.stored_names(names)),
            };
            notify.groups.push(Group { filter, events });
        }
        Ok((notify, set.status))
    }

    /// After a sync added messages above UID `above`: MessageNew's FETCH of them (RFC
    /// 5465 §5.2), when the SELECTED filter asked for attributes. True when it started;
    /// its events follow, and [`Session::notify_fetch_done`] runs at its end.
    pub(crate) fn start_notify_fetch(&mut self, above: u32) -> bool {
        let Some(plan) = self.notify.as_ref().and_then(|notify| notify.fetch.clone()) else { return false };
        if matches!(self.selected_updates(), SelectedUpdates::Off | SelectedUpdates::Standard) {
            return false;
        }
        let Some(last) = self.selected.as_ref().and_then(|selected| selected.uids.last()) else {
            return false;
        };
        if last <= above {
            return false;
        }
        self.next_fetch_chunk(super::messages::FetchJob::notification(plan, above + 1..=last));
        true
    }

    /// NOTIFY's FETCH ended; a command whose final sync started it gets its tagged
    /// response now (after its SEARCH contexts' updates).
    pub(crate) fn notify_fetch_done(&mut self) {
        if self.running.as_ref().is_none_or(|running| running.result.is_none()) {
            return;
        }
        if self.refresh_contexts() {
            return;
        }
        if let Some(result) = self.running.as_mut().and_then(|running| running.result.take()) {
            self.write_tagged(result);
        }
    }

    fn stored_names(&self, names: Vec<String>) -> Vec<String> {
        names.iter().map(|name| self.mailbox_name(name)).collect()
    }
}

/// A group's events as bits, and MessageNew's FETCH attributes; BAD for the
/// combinations RFC 5465 §5 forbids: MessageNew without MessageExpunge or the other way
/// round, FlagChange without both, and FETCH attributes that would set `\Seen`.
fn group_events(events: &[NotifyEvent]) -> Result<(Events, Vec<FetchAttr>), CommandError> {
    let mut bits = Events::default();
    let mut fetch = Vec::new();
    for event in events {
        let bit = match event {
            NotifyEvent::MessageNew(attrs) => {
                if attrs.iter().any(sets_seen) {
                    return Err(CommandError::bad("MessageNew's FETCH attributes must not set \\Seen"));
                }
                fetch.extend(attrs.iter().cloned());
                Events::NEW
            }
            NotifyEvent::MessageExpunge => Events::EXPUNGE,
            NotifyEvent::FlagChange => Events::FLAGS,
            NotifyEvent::MailboxName => Events::MAILBOX_NAME,
            NotifyEvent::SubscriptionChange => Events::SUBSCRIPTION,
            NotifyEvent::MailboxMetadataChange => Events::MAILBOX_METADATA,
            NotifyEvent::ServerMetadataChange => Events::SERVER_METADATA,
            NotifyEvent::AnnotationChange | NotifyEvent::Other(_) => Events::default(),
        };
        bits = Events(bits.0 | bit.0);
    }
    if bits.has(Events::NEW) != bits.has(Events::EXPUNGE) {
        return Err(CommandError::bad("MessageNew and MessageExpunge go together"));
    }
    if bits.has(Events::FLAGS) && !bits.has(Events::NEW) {
        return Err(CommandError::bad("FlagChange needs MessageNew and MessageExpunge"));
    }
    Ok((bits, fetch))
}

/// FETCH items that would change the message (RFC 5465 §5.2: a notification must not
/// change state; the client can ask for the `.PEEK` forms).
fn sets_seen(attr: &FetchAttr) -> bool {
    matches!(
        attr,
        FetchAttr::Rfc822
            | FetchAttr::Rfc822Text
            | FetchAttr::BodySection { peek: false, .. }
            | FetchAttr::Binary { peek: false, .. }
    )
}

/// `* STATUS name (MESSAGES n UIDNEXT n UIDVALIDITY n UNSEEN n [HIGHESTMODSEQ n])`: what
/// RFC 5465 §5.1-§5.3 ask for FlagChange, MessageNew and MessageExpunge in a mailbox
/// that is not selected, in one response.
fn write_notify_status(out: &mut Vec<u8>, facts: &MailboxFacts, utf8: bool, condstore: bool) {
    let mut items = vec![
        (StatusAttr::Messages, u64::from(facts.messages)),
        (StatusAttr::UidNext, u64::from(facts.uidnext)),
        (StatusAttr::UidValidity, u64::from(facts.uidvalidity)),
        (StatusAttr::Unseen, u64::from(facts.unseen)),
    ];
    if condstore {
        items.push((StatusAttr::HighestModSeq, facts.highest_modseq));
    }
    write_status(out, &facts.name, utf8, &items);
}

/// RFC 5465 §5.4: `* LIST` for a new name, `\NonExistent` for a deleted one, and the new
/// name with `OLDNAME` after a rename.
fn write_mailbox_name(out: &mut Vec<u8>, from: Option<&str>, to: Option<&str>, subscribed: bool, utf8: bool) {
    let subscribed_attribute: &[&str] = if subscribed { &["\\Subscribed"] } else { &[] };
    match (from, to) {
        (_, None) => {
            if let Some(from) = from {
                write_list(out, &["\\NonExistent"], Some(DELIMITER), from, utf8, &[]);
            }
        }
        (None, Some(to)) => write_list(out, subscribed_attribute, Some(DELIMITER), to, utf8, &[]),
        (Some(from), Some(to)) => {
            let extended = [ListExtendedItem::OldName(from)];
            write_list(out, subscribed_attribute, Some(DELIMITER), to, utf8, &extended);
        }
    }
}

/// `* METADATA mailbox entry *(SP entry)` (RFC 5464 §4.4.2, unsolicited: names without
/// values, RFC 5465 §5.6, §5.7).
fn write_metadata_names(out: &mut Vec<u8>, mailbox: &str, entries: &[String], utf8: bool) {
    if entries.is_empty() {
        return;
    }
    out.extend_from_slice(b"* METADATA ");
    write_mailbox(out, mailbox, utf8);
    for entry in entries {
        out.push(b' ');
        crate::imap::response::write_astring(out, entry);
    }
    out.extend_from_slice(b"\r\n");
}
