//! LIST (RFC 9051 §6.3.9, LIST-EXTENDED RFC 5258, LIST-STATUS RFC 5819, SPECIAL-USE
//! RFC 6154, CHILDREN RFC 3348), LSUB (RFC 3501 §6.3.9) and STATUS (RFC 9051 §6.3.11,
//! RFC 8438 SIZE, RFC 7889 APPENDLIMIT): which mailboxes to list with which attributes,
//! given the account's mailboxes and subscriptions.
//!
//! Selection follows RFC 5258 §3: a name is listed when it matches a pattern and the
//! selection criteria (SUBSCRIBED, SPECIAL-USE), or, with RECURSIVEMATCH, when it matches
//! a pattern and has a descendant that meets the criteria but matches no pattern of the
//! command (RFC 5258 §3.5 and the examples of §5: CHILDINFO says why a name that does not
//! meet the criteria is listed, so a descendant listed in its own right does not count).
//! LSUB lists, for `%`, an unsubscribed parent of a subscribed mailbox that only the
//! parent's name matches, as `\Noselect` (RFC 3501 §6.3.9).
//!
//! Invariants: output is in name order with INBOX first; each name at most once.

use std::collections::{BTreeMap, BTreeSet};

use super::facts::{MailboxFacts, MailboxList};
use crate::imap::response::{ListExtendedItem, write_list, write_lsub, write_status};
use crate::imap::types::{ListCommand, StatusAttr};
use crate::imap::wildcard::Pattern;

/// Hierarchy delimiter (RFC 9051 §5.1.1).
pub(crate) const DELIMITER: char = '/';

/// INBOX first, then by name.
fn sort_key(name: &str) -> (bool, &str) {
    (name != "INBOX", name)
}

/// The ancestors of a name, nearest first.
fn ancestors(name: &str) -> impl Iterator<Item = &str> {
    let mut rest = name;
    std::iter::from_fn(move || {
        let (up, _) = rest.rsplit_once(DELIMITER)?;
        rest = up;
        Some(up)
    })
}

/// LIST pattern matching (RFC 9051 §6.3.9): `*` matches anything, `%` anything but the
/// delimiter; INBOX matches case-insensitively. Linear in the name, no backtracking
/// (`imap::wildcard`); compiles the pattern each call, so loops over many names use
/// [`Patterns`].
#[cfg(test)]
pub(crate) fn matches(pattern: &str, name: &str) -> bool {
    Pattern::new(pattern, DELIMITER as u8).matches(name)
}

/// A command's patterns, compiled once for all the account's names.
struct Patterns(Vec<Pattern>);

impl Patterns {
    fn new<'a>(patterns: impl IntoIterator<Item = &'a str>) -> Patterns {
        Patterns(patterns.into_iter().map(|pattern| Pattern::new(pattern, DELIMITER as u8)).collect())
    }

    fn matches(&self, name: &str) -> bool {
        self.0.iter().any(|pattern| pattern.matches(name))
    }
}

/// The names of `set` below `parent` at any depth: one range of the ordered set (they
/// all start with `parent/`, and `0` follows `/`), so a LIST over N mailboxes costs
/// N log N plus the descendants it looks at, not N².
fn descendants<'a, V>(set: &'a BTreeMap<&str, V>, parent: &str) -> impl Iterator<Item = &'a str> {
    const _: () = assert!(DELIMITER as u32 + 1 == '0' as u32);
    let start = format!("{parent}{DELIMITER}");
    let end = format!("{parent}0");
    set.range::<str, _>((std::ops::Bound::Excluded(start.as_str()), std::ops::Bound::Excluded(end.as_str())))
        .map(|(name, _)| *name)
}

/// One listed name.
struct Entry<'a> {
    facts: Option<&'a MailboxFacts>,
    subscribed: bool,
    child_info: bool,
}

/// Writes the LIST responses for `list` (patterns already joined with the reference and
/// converted to stored names), with STATUS lines for RETURN (STATUS ...). Returns the
/// listed names that exist (for RETURN (METADATA ...)).
pub(crate) fn write_list_responses(
    out: &mut Vec<u8>,
    list: &ListCommand,
    patterns: &[String],
    facts: &MailboxList,
    utf8: bool,
    append_limit: u64,
) -> Vec<String> {
    let compiled = Patterns::new(patterns.iter().map(String::as_str));
    let mailboxes: BTreeMap<&str, &MailboxFacts> =
        facts.mailboxes.iter().map(|m| (m.name.as_str(), m)).collect();
    let subscribed: BTreeSet<&str> = facts.subscriptions.iter().map(String::as_str).collect();
    let meets = |name: &str| {
        (!list.select_subscribed || subscribed.contains(name))
            && (!list.select_special_use || mailboxes.get(name).is_some_and(|m| m.special_use.is_some()))
    };
    // Every name that could be listed: mailboxes, subscriptions, and their ancestors;
    // each with whether a pattern matches it (computed once per name).
    let mut candidates: BTreeSet<&str> = mailboxes.keys().copied().collect();
    candidates.extend(subscribed.iter().copied());
    let with_ancestors: Vec<&str> = candidates.iter().flat_map(|name| ancestors(name)).collect();
    candidates.extend(with_ancestors);
    let names: BTreeMap<&str, bool> =
        candidates.into_iter().map(|name| (name, compiled.matches(name))).collect();
    let mut entries: Vec<(&str, Entry<'_>)> = Vec::new();
    for (&name, &matched) in &names {
        if !matched {
            continue;
        }
        let facts = mailboxes.get(name).copied();
        let selected = meets(name) && (facts.is_some() || list.select_subscribed);
        let child_info = list.select_recursive_match
            && descendants(&names, name)
                .any(|below| meets(below) && !names.get(below).copied().unwrap_or(false));
        // RFC 9051 §6.3.9: a plain LIST shows a parent that does not exist when `%` stops
        // at it and it has children (as \NonExistent here).
        let bare_parent = !list.select_subscribed
            && !list.select_special_use
            && facts.is_none()
            && descendants(&mailboxes, name).next().is_some();
        if selected || child_info || bare_parent {
            entries.push((name, Entry { facts, subscribed: subscribed.contains(name), child_info }));
        }
    }
    entries.sort_by(|a, b| sort_key(a.0).cmp(&sort_key(b.0)));
    let show_subscribed = list.return_subscribed || list.select_subscribed;
    let mut listed = Vec::new();
    for (name, entry) in entries {
        if entry.facts.is_some() && list.return_metadata.is_some() {
            listed.push(name.to_owned());
        }
        let mut attributes: Vec<&str> = Vec::new();
        match entry.facts {
            None => attributes.push("\\NonExistent"),
            Some(facts) => {
                // RFC 3348 / RFC 5258 §4: children attributes on every LIST.
                let children = descendants(&mailboxes, name).next().is_some();
                attributes.push(if children { "\\HasChildren" } else { "\\HasNoChildren" });
                attributes.extend(facts.special_use);
            }
        }
        if show_subscribed && entry.subscribed {
            attributes.push("\\Subscribed");
        }
        let extended: &[ListExtendedItem<'_>] =
            if entry.child_info { &[ListExtendedItem::ChildInfoSubscribed] } else { &[] };
        write_list(out, &attributes, Some(DELIMITER), name, utf8, extended);
        if let (Some(attrs), Some(facts)) = (&list.return_status, entry.facts) {
            write_status_response(out, facts, attrs, utf8, append_limit);
        }
    }
    listed
}

/// Writes the LSUB responses for one pattern (see the module doc).
pub(crate) fn write_lsub_responses(out: &mut Vec<u8>, pattern: &str, facts: &MailboxList, utf8: bool) {
    let exists: BTreeSet<&str> = facts.mailboxes.iter().map(|m| m.name.as_str()).collect();
    let subscribed: BTreeSet<&str> = facts.subscriptions.iter().map(String::as_str).collect();
    let compiled = Patterns::new([pattern]);
    let mut listed: BTreeMap<&str, bool> = BTreeMap::new();
    for &name in &subscribed {
        if compiled.matches(name) {
            listed.insert(name, !exists.contains(name));
            continue;
        }
        for parent in ancestors(name) {
            if compiled.matches(parent) && !subscribed.contains(parent) {
                listed.insert(parent, true);
            }
        }
    }
    let mut names: Vec<(&str, bool)> = listed.into_iter().collect();
    names.sort_by(|a, b| sort_key(a.0).cmp(&sort_key(b.0)));
    for (name, noselect) in names {
        let attributes: &[&str] = if noselect { &["\\Noselect"] } else { &[] };
        write_lsub(out, attributes, Some(DELIMITER), name, utf8);
    }
}

/// `* STATUS name (...)` for the items asked (RFC 9051 §7.3.1).
pub(crate) fn write_status_response(
    out: &mut Vec<u8>,
    facts: &MailboxFacts,
    attrs: &[StatusAttr],
    utf8: bool,
    append_limit: u64,
) {
    let items: Vec<(StatusAttr, u64)> = attrs
        .iter()
        .map(|&attr| {
            let value = match attr {
                StatusAttr::Messages => u64::from(facts.messages),
                StatusAttr::Recent => u64::from(facts.recent),
                StatusAttr::UidNext => u64::from(facts.uidnext),
                StatusAttr::UidValidity => u64::from(facts.uidvalidity),
                StatusAttr::Unseen => u64::from(facts.unseen),
                StatusAttr::Deleted => u64::from(facts.deleted),
                StatusAttr::Size => facts.size,
                StatusAttr::HighestModSeq => facts.highest_modseq,
                StatusAttr::AppendLimit => append_limit,
                // RFC 9208 §4.4: units of 1024 octets, like the STORAGE resource.
                StatusAttr::DeletedStorage => facts.deleted_bytes.div_ceil(1024),
                StatusAttr::MailboxId => facts.mailbox_key,
            };
            (attr, value)
        })
        .collect();
    write_status(out, &facts.name, utf8, &items);
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

    #[test]
    fn ancestors_nearest_first() {
        assert_eq!(ancestors("a/b/c").collect::<Vec<_>>(), vec!["a/b", "a"]);
        assert_eq!(ancestors("a").count(), 0);
    }
}
