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

/// Hierarchy delimiter (RFC 9051 §5.1.1).
pub(crate) const DELIMITER: char = '/';

/// INBOX first, then by name.
fn sort_key(name: &str) -> (bool, &str) {
    (name != "INBOX", name)
}

fn is_child(name: &str, parent: &str) -> bool {
    name.len() > parent.len() + 1 && name.starts_with(parent) && name[parent.len()..].starts_with(DELIMITER)
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
/// delimiter; INBOX matches case-insensitively.
pub(crate) fn matches(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    let inbox_case = name.len() >= 5 && name[..5].iter().collect::<String>() == "INBOX";
    let equal = |p: char, n: char, at: usize| p == n || (inbox_case && at < 5 && p.eq_ignore_ascii_case(&n));
    // Dynamic programming over (pattern index, name index), no backtracking: bounded by
    // |pattern|·|name|.
    let mut reachable = vec![false; name.len() + 1];
    reachable[0] = true;
    for &p in &pattern {
        let mut next = vec![false; name.len() + 1];
        match p {
            '*' => {
                let mut any = false;
                for i in 0..=name.len() {
                    any |= reachable[i];
                    next[i] = any;
                }
            }
            '%' => {
                for i in 0..=name.len() {
                    if reachable[i] {
                        next[i] = true;
                        let mut j = i;
                        while j < name.len() && name[j] != DELIMITER {
                            j += 1;
                            next[j] = true;
                        }
                    }
                }
            }
            _ => {
                for i in 0..name.len() {
                    if reachable[i] && equal(p, name[i], i) {
                        next[i + 1] = true;
                    }
                }
            }
        }
        reachable = next;
    }
    reachable[name.len()]
}

/// One listed name.
struct Entry<'a> {
    facts: Option<&'a MailboxFacts>,
    subscribed: bool,
    child_info: bool,
}

/// Writes the LIST responses for `list` (patterns already joined with the reference and
/// converted to stored names), with STATUS lines for RETURN (STATUS ...).
pub(crate) fn write_list_responses(
    out: &mut Vec<u8>,
    list: &ListCommand,
    patterns: &[String],
    facts: &MailboxList,
    utf8: bool,
    append_limit: u64,
) {
    let matched = |name: &str| patterns.iter().any(|pattern| matches(pattern, name));
    let mailboxes: BTreeMap<&str, &MailboxFacts> =
        facts.mailboxes.iter().map(|m| (m.name.as_str(), m)).collect();
    let subscribed: BTreeSet<&str> = facts.subscriptions.iter().map(String::as_str).collect();
    let meets = |name: &str| {
        (!list.select_subscribed || subscribed.contains(name))
            && (!list.select_special_use || mailboxes.get(name).is_some_and(|m| m.special_use.is_some()))
    };
    // Every name that could be listed: mailboxes, subscriptions, and their ancestors.
    let mut names: BTreeSet<&str> = mailboxes.keys().copied().collect();
    names.extend(subscribed.iter().copied());
    let with_ancestors: Vec<&str> = names.iter().flat_map(|name| ancestors(name)).collect();
    names.extend(with_ancestors);
    let mut entries: Vec<(&str, Entry<'_>)> = Vec::new();
    for &name in &names {
        if !matched(name) {
            continue;
        }
        let facts = mailboxes.get(name).copied();
        let selected = meets(name) && (facts.is_some() || list.select_subscribed);
        let child_info = list.select_recursive_match
            && names.iter().any(|&below| is_child(below, name) && meets(below) && !matched(below));
        // RFC 9051 §6.3.9: a plain LIST shows a parent that does not exist when `%` stops
        // at it and it has children (as \NonExistent here).
        let bare_parent = !list.select_subscribed
            && !list.select_special_use
            && facts.is_none()
            && mailboxes.keys().any(|below| is_child(below, name));
        if selected || child_info || bare_parent {
            entries.push((name, Entry { facts, subscribed: subscribed.contains(name), child_info }));
        }
    }
    entries.sort_by(|a, b| sort_key(a.0).cmp(&sort_key(b.0)));
    let show_subscribed = list.return_subscribed || list.select_subscribed;
    for (name, entry) in entries {
        let mut attributes: Vec<&str> = Vec::new();
        match entry.facts {
            None => attributes.push("\\NonExistent"),
            Some(facts) => {
                // RFC 3348 / RFC 5258 §4: children attributes on every LIST.
                let children = mailboxes.keys().any(|below| is_child(below, name));
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
}

/// Writes the LSUB responses for one pattern (see the module doc).
pub(crate) fn write_lsub_responses(out: &mut Vec<u8>, pattern: &str, facts: &MailboxList, utf8: bool) {
    let exists = |name: &str| facts.mailboxes.iter().any(|m| m.name == name);
    let subscribed: BTreeSet<&str> = facts.subscriptions.iter().map(String::as_str).collect();
    let mut listed: BTreeMap<&str, bool> = BTreeMap::new();
    for &name in &subscribed {
        if matches(pattern, name) {
            listed.insert(name, !exists(name));
            continue;
        }
        for parent in ancestors(name) {
            if matches(pattern, parent) && !subscribed.contains(parent) {
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
