//! NOTIFY (RFC 5465 §8): `NOTIFY NONE` and `NOTIFY SET [STATUS] event-group...`, each
//! group a mailbox filter and its events (or `NONE`). The parser keeps every event name
//! it reads, known or not: which ones the server supports and which combinations are
//! allowed is the session's decision (`NO [BADEVENT]` or BAD, RFC 5465 §3.1).

use super::super::command::CommandBody;
use super::super::error::{ParseError, ParseResult};
use super::super::types::FetchAttr;
use super::Cursor;

/// Most event groups in one NOTIFY SET. A filter kind is useful once (two groups with
/// the same filter add nothing); the seven kinds with a few SUBTREE and MAILBOXES
/// groups stay far below 16. Bounds the session's matching work per change event.
pub const NOTIFY_GROUPS_MAX: usize = 16;

/// Most mailbox names in all SUBTREE and MAILBOXES filters of one NOTIFY SET. Each
/// change event is matched against them by name: 256 keeps that a few microseconds,
/// and a client that wants more mailboxes than that asks for PERSONAL or SUBTREE.
pub const NOTIFY_MAILBOXES_MAX: usize = 256;

/// Most events in one group. RFC 5465 §8 defines eight; 16 leaves room for repeats and
/// unknown extensions, which are refused with BADEVENT anyway.
pub const NOTIFY_EVENTS_MAX: usize = 16;

/// A parsed `NOTIFY SET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifySet {
    /// The STATUS indicator: send STATUS for the matching mailboxes now.
    pub status: bool,
    /// The event groups, in the order sent (the first match decides, RFC 5465 §6).
    pub groups: Vec<EventGroup>,
}

/// One `"(" filter-mailboxes SP events ")"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventGroup {
    /// Which mailboxes.
    pub filter: MailboxFilter,
    /// Which events; empty for `NONE`.
    pub events: Vec<NotifyEvent>,
}

/// `filter-mailboxes` (RFC 5465 §6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MailboxFilter {
    /// `SELECTED`.
    Selected,
    /// `SELECTED-DELAYED`.
    SelectedDelayed,
    /// `INBOXES`.
    Inboxes,
    /// `PERSONAL`.
    Personal,
    /// `SUBSCRIBED`.
    Subscribed,
    /// `SUBTREE` and its mailboxes, as sent.
    Subtree(Vec<String>),
    /// `MAILBOXES` and its mailboxes, as sent.
    Mailboxes(Vec<String>),
}

/// An `event` (RFC 5465 §5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyEvent {
    /// `MessageNew`, with the FETCH attributes to send for the selected mailbox.
    MessageNew(Vec<FetchAttr>),
    /// `MessageExpunge`.
    MessageExpunge,
    /// `FlagChange`.
    FlagChange,
    /// `AnnotationChange`.
    AnnotationChange,
    /// `MailboxName`.
    MailboxName,
    /// `SubscriptionChange`.
    SubscriptionChange,
    /// `MailboxMetadataChange`.
    MailboxMetadataChange,
    /// `ServerMetadataChange`.
    ServerMetadataChange,
    /// An event this parser does not know (`event-ext`), as sent.
    Other(String),
}

impl NotifyEvent {
    /// The event's name as RFC 5465 §8 spells it.
    pub fn name(&self) -> &str {
        match self {
            NotifyEvent::MessageNew(_) => "MessageNew",
            NotifyEvent::MessageExpunge => "MessageExpunge",
            NotifyEvent::FlagChange => "FlagChange",
            NotifyEvent::AnnotationChange => "AnnotationChange",
            NotifyEvent::MailboxName => "MailboxName",
            NotifyEvent::SubscriptionChange => "SubscriptionChange",
            NotifyEvent::MailboxMetadataChange => "MailboxMetadataChange",
            NotifyEvent::ServerMetadataChange => "ServerMetadataChange",
            NotifyEvent::Other(name) => name,
        }
    }
}

/// `NOTIFY SP (notify-set / notify-none)`; `None` is `NOTIFY NONE`.
pub(super) fn parse_notify(c: &mut Cursor<'_>) -> ParseResult<CommandBody> {
    c.sp()?;
    if c.keyword("NONE") {
        return Ok(CommandBody::Notify(None));
    }
    if !c.keyword("SET") {
        return Err(ParseError::syntax("expected SET or NONE"));
    }
    c.sp()?;
    let status = c.keyword("STATUS");
    if status {
        c.sp()?;
    }
    let mut groups = Vec::new();
    let mut names = 0;
    loop {
        if groups.len() >= NOTIFY_GROUPS_MAX {
            return Err(ParseError::syntax("too many event groups"));
        }
        let group = parse_group(c)?;
        names += match &group.filter {
            MailboxFilter::Subtree(list) | MailboxFilter::Mailboxes(list) => list.len(),
            _ => 0,
        };
        if names > NOTIFY_MAILBOXES_MAX {
            return Err(ParseError::syntax("too many mailboxes"));
        }
        groups.push(group);
        if !c.take(b' ') {
            break;
        }
    }
    Ok(CommandBody::Notify(Some(NotifySet { status, groups })))
}

/// `"(" filter-mailboxes SP events ")"`.
fn parse_group(c: &mut Cursor<'_>) -> ParseResult<EventGroup> {
    c.byte(b'(', "expected ( before an event group")?;
    let filter = parse_filter(c)?;
    c.sp()?;
    let mut events = Vec::new();
    if !c.keyword("NONE") {
        c.byte(b'(', "expected ( before the events")?;
        loop {
            if events.len() >= NOTIFY_EVENTS_MAX {
                return Err(ParseError::syntax("too many events"));
            }
            events.push(parse_event(c)?);
            if c.take(b')') {
                break;
            }
            c.sp()?;
        }
    }
    c.byte(b')', "expected ) after the events")?;
    Ok(EventGroup { filter, events })
}

fn parse_filter(c: &mut Cursor<'_>) -> ParseResult<MailboxFilter> {
    let name = c.atom()?.to_ascii_uppercase();
    Ok(match name.as_str() {
        "SELECTED" => MailboxFilter::Selected,
        "SELECTED-DELAYED" => MailboxFilter::SelectedDelayed,
        "INBOXES" => MailboxFilter::Inboxes,
        "PERSONAL" => MailboxFilter::Personal,
        "SUBSCRIBED" => MailboxFilter::Subscribed,
        "SUBTREE" => MailboxFilter::Subtree(parse_mailboxes(c)?),
        "MAILBOXES" => MailboxFilter::Mailboxes(parse_mailboxes(c)?),
        _ => return Err(ParseError::syntax("unknown mailbox filter")),
    })
}

/// `SP one-or-more-mailbox`: a mailbox, or a parenthesized list of them.
fn parse_mailboxes(c: &mut Cursor<'_>) -> ParseResult<Vec<String>> {
    c.sp()?;
    if !c.take(b'(') {
        return Ok(vec![c.mailbox()?]);
    }
    let mut names = Vec::new();
    loop {
        if names.len() >= NOTIFY_MAILBOXES_MAX {
            return Err(ParseError::syntax("too many mailboxes"));
        }
        names.push(c.mailbox()?);
        if c.take(b')') {
            return Ok(names);
        }
        c.sp()?;
    }
}

fn parse_event(c: &mut Cursor<'_>) -> ParseResult<NotifyEvent> {
    let name = c.atom()?;
    Ok(match name.to_ascii_uppercase().as_str() {
        "MESSAGENEW" => {
            let mut attrs = Vec::new();
            if c.looking_at(" (") {
                c.sp()?;
                attrs = super::fetch::parse_fetch_attrs(c)?;
            }
            NotifyEvent::MessageNew(attrs)
        }
        "MESSAGEEXPUNGE" => NotifyEvent::MessageExpunge,
        "FLAGCHANGE" => NotifyEvent::FlagChange,
        "ANNOTATIONCHANGE" => NotifyEvent::AnnotationChange,
        "MAILBOXNAME" => NotifyEvent::MailboxName,
        "SUBSCRIPTIONCHANGE" => NotifyEvent::SubscriptionChange,
        "MAILBOXMETADATACHANGE" => NotifyEvent::MailboxMetadataChange,
        "SERVERMETADATACHANGE" => NotifyEvent::ServerMetadataChange,
        _ => NotifyEvent::Other(name.to_owned()),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::imap::parse_command;

    fn body(line: &str) -> CommandBody {
        parse_command(line.as_bytes(), 8).unwrap().body
    }

    #[test]
    fn notify_set_with_every_filter_and_event() {
        let CommandBody::Notify(Some(set)) = body(
            "a NOTIFY SET STATUS (SELECTED (MessageNew (UID BODY.PEEK[HEADER]) MessageExpunge)) \
             (subtree (Lists \"Work\") (MailboxName SubscriptionChange)) (INBOXES NONE) \
             (mailboxes Archive (ServerMetadataChange MailboxMetadataChange FlagChange Foo))",
        ) else {
            panic!("not a NOTIFY SET");
        };
        assert!(set.status);
        assert_eq!(set.groups.len(), 4);
        let NotifyEvent::MessageNew(attrs) = &set.groups[0].events[0] else { panic!("MessageNew") };
        assert_eq!(attrs.len(), 2);
        assert_eq!(set.groups[1].filter, MailboxFilter::Subtree(vec!["Lists".into(), "Work".into()]));
        assert!(set.groups[2].events.is_empty());
        assert_eq!(set.groups[3].filter, MailboxFilter::Mailboxes(vec!["Archive".into()]));
        assert_eq!(set.groups[3].events[3], NotifyEvent::Other("Foo".into()));
    }

    #[test]
    fn notify_none_and_errors() {
        assert_eq!(body("a NOTIFY NONE"), CommandBody::Notify(None));
        for bad in [
            "a NOTIFY",
            "a NOTIFY SET",
            "a NOTIFY SET (SELECTED)",
            "a NOTIFY SET (ELSEWHERE (MessageNew))",
            "a NOTIFY SET (SUBTREE (MessageNew))x",
            "a NOTIFY SET (PERSONAL ())",
        ] {
            assert!(parse_command(bad.as_bytes(), 8).is_err(), "{bad}");
        }
    }

    #[test]
    fn notify_limits_at_n_and_n_plus_one() {
        let groups = |n: usize| format!("a NOTIFY SET{}", " (PERSONAL NONE)".repeat(n));
        assert!(parse_command(groups(NOTIFY_GROUPS_MAX).as_bytes(), 8).is_ok());
        assert!(parse_command(groups(NOTIFY_GROUPS_MAX + 1).as_bytes(), 8).is_err());
        let names = |n: usize| {
            let list: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
            format!("a NOTIFY SET (MAILBOXES ({}) (MailboxName))", list.join(" "))
        };
        assert!(parse_command(names(NOTIFY_MAILBOXES_MAX).as_bytes(), 8).is_ok());
        assert!(parse_command(names(NOTIFY_MAILBOXES_MAX + 1).as_bytes(), 8).is_err());
        let events = |n: usize| format!("a NOTIFY SET (PERSONAL ({}))", vec!["MailboxName"; n].join(" "));
        assert!(parse_command(events(NOTIFY_EVENTS_MAX).as_bytes(), 8).is_ok());
        assert!(parse_command(events(NOTIFY_EVENTS_MAX + 1).as_bytes(), 8).is_err());
    }
}
