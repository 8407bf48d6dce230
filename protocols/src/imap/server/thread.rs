//! THREAD and UID THREAD (RFC 5256 §3): the session's half, the algorithms
//! (ORDEREDSUBJECT, RFC 5256 §2.1 base subjects then dates; REFERENCES, §2.2's
//! Message-ID linking with subject merging; REFS, from the draft
//! draft-ietf-morg-inthread as Dovecot has it: REFERENCES without the subject merging,
//! threads ordered by their most recent message) and the writer of `* THREAD`.
//!
//! The storage side answers [`Event::Thread`] like SORT: the search runs, then, off the
//! executor, one [`ThreadFacts`] per match comes from the record and the stored summary
//! (Message-ID and In-Reply-To from the envelope, References kept beside it, the base
//! subject and the sent date) and [`ThreadProgram::thread`] builds the [`Threads`].
//!
//! Invariants: nothing recurses (a thread may be a chain as long as the mailbox): trees
//! are walked with explicit stacks; linking never makes a cycle (RFC 5256 §2.2 step 1);
//! dummy containers survive only at the root, with at least two children.

use std::collections::HashMap;
use std::sync::Arc;

use super::error::{CommandError, Done};
use super::ordering_keys::OrderingKeys;
use super::{Answer, Event, Job, Session};
use crate::imap::types::{SearchCommand, ThreadAlgorithm};

/// The hasher of the id and subject tables: foldhash, seeded at random per table (so
/// ids chosen by a sender cannot aim at collisions), several times faster than the
/// std SipHash on short ids, which was a fifth of a 100k-message THREAD.
type IdHasher = foldhash::fast::RandomState;

/// A THREAD's algorithm, ready for the storage side.
#[derive(Debug, Clone, Copy)]
pub struct ThreadProgram {
    algorithm: ThreadAlgorithm,
}

/// What threading needs of one matching message, borrowed from its ordering keys
/// ([`super::ordering_keys`]).
#[derive(Debug, Clone, Copy)]
pub struct ThreadFacts<'a> {
    uid: u32,
    /// The Date: header, or INTERNALDATE when it has none (RFC 5256 §2.2 "sent date").
    sent_ms: i64,
    /// References, or the first id of In-Reply-To when it has none (§2.2 step 1.A),
    /// with the subject and Message-ID.
    keys: OrderingKeys<'a>,
}

impl<'a> ThreadFacts<'a> {
    fn subject(&self) -> &'a [u8] {
        self.keys.subject()
    }
}

/// Threads: a forest of UIDs; `0` marks a dummy (a message referred to, not present).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Threads {
    /// Per node: its UID (or 0) and its children, in order.
    nodes: Vec<(u32, Vec<usize>)>,
    /// The thread roots, in order.
    roots: Vec<usize>,
}

impl ThreadProgram {
    /// A program for `algorithm`.
    pub fn new(algorithm: ThreadAlgorithm) -> ThreadProgram {
        ThreadProgram { algorithm }
    }

    /// Whether the facts need References (REFERENCES does; ORDEREDSUBJECT needs only
    /// subjects and dates).
    pub fn needs_references(&self) -> bool {
        self.algorithm != ThreadAlgorithm::OrderedSubject
    }

    /// A match's facts: its UID, INTERNALDATE and ordering keys.
    pub fn facts<'a>(&self, uid: u32, internal_date_ms: i64, keys: OrderingKeys<'a>) -> ThreadFacts<'a> {
        let sent_ms = keys.date_unix_secs().map_or(internal_date_ms, |secs| secs.saturating_mul(1000));
        ThreadFacts { uid, sent_ms, keys }
    }

    /// The threads of `messages` (in any order).
    pub fn thread(&self, mut messages: Vec<ThreadFacts<'_>>) -> Threads {
        messages.sort_unstable_by_key(|message| message.uid);
        match self.algorithm {
            ThreadAlgorithm::OrderedSubject => ordered_subject(messages),
            ThreadAlgorithm::References => references(messages, Variant::References),
            ThreadAlgorithm::Refs => references(messages, Variant::Refs),
        }
    }
}

/// The ids (`<...>` with the brackets removed, white space dropped) of a Message-ID,
/// In-Reply-To or References value, in order; empty ones are skipped.
pub(crate) fn message_ids(value: &[u8]) -> Vec<Box<str>> {
    let mut ids = Vec::new();
    let mut rest = value;
    while let Some(open) = memchr::memchr(b'<', rest) {
        let after = &rest[open + 1..];
        let Some(close) = memchr::memchr2(b'>', b'<', after) else { break };
        if after[close] == b'>' {
            let id: Vec<u8> = after[..close].iter().copied().filter(|b| !b.is_ascii_whitespace()).collect();
            if !id.is_empty() {
                ids.push(String::from_utf8_lossy(&id).into());
            }
            rest = &after[close + 1..];
        } else {
            rest = &after[close..];
        }
    }
    ids
}

/// ORDEREDSUBJECT (RFC 5256 §3): sorted by base subject then sent date; each run of one
/// base subject is a thread whose first message is the parent of all the others; threads
/// in the order of their first messages' sent dates.
fn ordered_subject(mut messages: Vec<ThreadFacts<'_>>) -> Threads {
    messages.sort_unstable_by(|a, b| (a.subject(), a.sent_ms, a.uid).cmp(&(b.subject(), b.sent_ms, b.uid)));
    let mut threads = Threads::default();
    let mut keys: Vec<(i64, u32)> = Vec::new();
    let mut current: Option<(usize, usize)> = None; // (root node, index of its first message)
    for (index, message) in messages.iter().enumerate() {
        let node = threads.nodes.len();
        threads.nodes.push((message.uid, Vec::new()));
        match current {
            Some((root, first)) if messages[first].subject() == message.subject() => {
                threads.nodes[root].1.push(node);
            }
            _ => {
                current = Some((node, index));
                threads.roots.push(node);
                keys.push((message.sent_ms, message.uid));
            }
        }
    }
    let mut order: Vec<usize> = (0..threads.roots.len()).collect();
    order.sort_by_key(|&i| keys[i]);
    threads.roots = order.into_iter().map(|i| threads.roots[i]).collect();
    threads
}

/// A container of RFC 5256 §2.2 (a message, or a dummy for an id only referred to).
#[derive(Debug, Default)]
struct Container {
    /// The message's index in the input, for a non-dummy.
    message: Option<usize>,
    parent: Option<usize>,
    children: Vec<usize>,
}

/// The containers of step 1, with the id table.
struct Linker<'a> {
    containers: Vec<Container>,
    by_id: HashMap<&'a [u8], usize, IdHasher>,
}

impl<'a> Linker<'a> {
    fn container(&mut self, id: &'a [u8]) -> usize {
        let next = self.containers.len();
        let index = *self.by_id.entry(id).or_insert(next);
        if index == next {
            self.containers.push(Container::default());
        }
        index
    }

    /// Whether `ancestor` is `node` or one of its ancestors.
    fn is_ancestor(&self, ancestor: usize, mut node: usize) -> bool {
        loop {
            if node == ancestor {
                return true;
            }
            match self.containers[node].parent {
                Some(parent) => node = parent,
                None => return false,
            }
        }
    }

    fn unlink(&mut self, child: usize) {
        if let Some(parent) = self.containers[child].parent.take() {
            self.containers[parent].children.retain(|&c| c != child);
        }
    }

    /// Links `child` under `parent` unless that makes a cycle. A child without children
    /// (a new message, the usual case) can only be its own ancestor: no walk, so a
    /// mailbox that is one long chain links in linear time.
    fn link(&mut self, parent: usize, child: usize) {
        let may_cycle = !self.containers[child].children.is_empty();
        if parent == child || (may_cycle && self.is_ancestor(child, parent)) {
            return;
        }
        self.containers[child].parent = Some(parent);
        self.containers[parent].children.push(child);
    }

    /// Step 1 for one message.
    fn add(&mut self, index: usize, message: &ThreadFacts<'a>) {
        // 1.A: the references chain, each linked to the next unless already parented.
        let mut previous: Option<usize> = None;
        for id in message.keys.references() {
            let container = self.container(id);
            if let Some(parent) = previous
                && self.containers[container].parent.is_none()
            {
                self.link(parent, container);
            }
            previous = Some(container);
        }
        // 1.B: the message's own container; a duplicate or missing id gets a fresh one.
        let own = match message.keys.message_id() {
            Some(id) if self.by_id.get(id).is_none_or(|&c| self.containers[c].message.is_none()) => {
                self.container(id)
            }
            _ => {
                self.containers.push(Container::default());
                self.containers.len() - 1
            }
        };
        self.containers[own].message = Some(index);
        // 1.C: its parent is the last reference, replacing a link 1.A may have guessed.
        self.unlink(own);
        if let Some(parent) = previous {
            self.link(parent, own);
        }
    }
}

/// REFERENCES or REFS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// RFC 5256 §2.2 as written.
    References,
    /// Step 5 skipped; threads by their most recent message (Dovecot's THREAD=REFS:
    /// a reply brings its thread to the end, where a client shows the newest).
    Refs,
}

/// REFERENCES (RFC 5256 §2.2 steps 1 to 6) and REFS.
fn references(messages: Vec<ThreadFacts<'_>>, variant: Variant) -> Threads {
    let by_id = HashMap::with_capacity_and_hasher(messages.len(), IdHasher::default());
    let mut linker = Linker { containers: Vec::with_capacity(messages.len()), by_id };
    for (index, message) in messages.iter().enumerate() {
        linker.add(index, message);
    }
    let containers = linker.containers;
    // Steps 2 to 4: the root set, dummies pruned.
    let mut forest = prune(&containers);
    // Step 5: roots with one base subject gathered.
    if variant == Variant::References {
        merge_subjects(&mut forest, &messages);
    }
    // Step 6: siblings by sent date, at every level.
    sort_by_date(&mut forest, &messages, variant);
    forest.into_threads(&messages)
}

/// The tree after pruning: nodes are (message index or None for a dummy, children).
struct Forest {
    nodes: Vec<(Option<usize>, Vec<usize>)>,
    roots: Vec<usize>,
}

impl Forest {
    fn into_threads(self, messages: &[ThreadFacts<'_>]) -> Threads {
        let nodes = self
            .nodes
            .into_iter()
            .map(|(message, children)| (message.map_or(0, |m| messages[m].uid), children))
            .collect();
        Threads { nodes, roots: self.roots }
    }

    /// The message whose subject stands for a node: itself, or a dummy's first child.
    fn subject_holder(&self, node: usize) -> Option<usize> {
        match self.nodes[node] {
            (Some(message), _) => Some(message),
            (None, ref children) => children.first().and_then(|&child| self.nodes[child].0),
        }
    }
}

/// Step 4: a dummy without children goes; one with children gives them to its parent's
/// level, except at the root, where it stays when it has more than one.
fn prune(containers: &[Container]) -> Forest {
    // Post-order without recursion: each container's kept children, dummies spliced.
    let mut kept: Vec<Vec<usize>> = vec![Vec::new(); containers.len()];
    let roots: Vec<usize> = (0..containers.len()).filter(|&c| containers[c].parent.is_none()).collect();
    let mut stack: Vec<(usize, bool)> = roots.iter().map(|&root| (root, false)).collect();
    while let Some((node, expanded)) = stack.pop() {
        if !expanded {
            stack.push((node, true));
            stack.extend(containers[node].children.iter().map(|&child| (child, false)));
            continue;
        }
        let mut list = Vec::new();
        for &child in &containers[node].children {
            if containers[child].message.is_some() {
                list.push(child);
            } else {
                list.extend(std::mem::take(&mut kept[child]));
            }
        }
        kept[node] = list;
    }
    let mut forest = Forest { nodes: Vec::new(), roots: Vec::new() };
    // Per container, its forest node once copied (a vector: containers are numbered).
    let mut index_of: Vec<Option<usize>> = vec![None; containers.len()];
    let mut root_nodes = Vec::new();
    for root in roots {
        match (containers[root].message, kept[root].len()) {
            (None, 0) => {}
            (None, 1) => root_nodes.push(kept[root][0]),
            _ => root_nodes.push(root),
        }
    }
    // Copy the kept tree into the forest, top-down.
    let mut stack: Vec<usize> = root_nodes.clone();
    while let Some(container) = stack.pop() {
        let node = match index_of[container] {
            Some(node) => node,
            None => {
                forest.nodes.push((containers[container].message, Vec::new()));
                index_of[container] = Some(forest.nodes.len() - 1);
                forest.nodes.len() - 1
            }
        };
        for &child in &kept[container] {
            forest.nodes.push((containers[child].message, Vec::new()));
            let child_node = forest.nodes.len() - 1;
            index_of[child] = Some(child_node);
            forest.nodes[node].1.push(child_node);
            stack.push(child);
        }
    }
    forest.roots = root_nodes.iter().filter_map(|&container| index_of[container]).collect();
    forest
}

/// Step 5: roots that share a base subject become one thread.
fn merge_subjects(forest: &mut Forest, messages: &[ThreadFacts<'_>]) {
    let subject_of = |forest: &Forest, node: usize| forest.subject_holder(node).map(|m| &messages[m]);
    let is_dummy = |forest: &Forest, node: usize| forest.nodes[node].0.is_none();
    // 5.A and 5.B: per subject, the root that holds it (a dummy, else an original).
    let mut table: HashMap<&[u8], usize, IdHasher> = HashMap::default();
    for &root in &forest.roots {
        let Some(subject) = subject_of(forest, root).filter(|subject| !subject.subject().is_empty()) else {
            continue;
        };
        match table.get(subject.subject()) {
            None => {
                table.insert(subject.subject(), root);
            }
            Some(&old) => {
                // A dummy is never replaced, so it never ends up a child in 5.C.
                let old_reply = subject_of(forest, old).is_some_and(|s| s.keys.reply_or_forward());
                let old_dummy = is_dummy(forest, old);
                if (is_dummy(forest, root) && !old_dummy)
                    || (!old_dummy && old_reply && !subject.keys.reply_or_forward())
                {
                    table.insert(subject.subject(), root);
                }
            }
        }
    }
    // 5.C: merge each other root into the table's.
    let mut roots: Vec<Option<usize>> = forest.roots.iter().copied().map(Some).collect();
    // Per node, its slot in `roots`; each merge below adds at most one dummy node.
    let mut slot_of: Vec<Option<usize>> = vec![None; forest.nodes.len() + roots.len()];
    for (slot, &root) in forest.roots.iter().enumerate() {
        slot_of[root] = Some(slot);
    }
    for slot in 0..roots.len() {
        let Some(root) = roots[slot] else { continue };
        let Some(subject) = subject_of(forest, root).filter(|subject| !subject.subject().is_empty()) else {
            continue;
        };
        let Some(&held) = table.get(subject.subject()) else { continue };
        if held == root {
            continue;
        }
        let reply = subject.keys.reply_or_forward();
        let held_reply = subject_of(forest, held).is_some_and(|s| s.keys.reply_or_forward());
        match (is_dummy(forest, held), is_dummy(forest, root)) {
            (true, true) => {
                let children = std::mem::take(&mut forest.nodes[root].1);
                forest.nodes[held].1.extend(children);
            }
            (true, false) => forest.nodes[held].1.push(root),
            (false, _) if reply && !held_reply => forest.nodes[held].1.push(root),
            _ => {
                forest.nodes.push((None, vec![held, root]));
                let dummy = forest.nodes.len() - 1;
                table.insert(subject.subject(), dummy);
                if let Some(held_slot) = slot_of.get_mut(held).and_then(Option::take) {
                    roots[held_slot] = Some(dummy);
                    if let Some(entry) = slot_of.get_mut(dummy) {
                        *entry = Some(held_slot);
                    }
                }
            }
        }
        roots[slot] = None;
    }
    forest.roots = roots.into_iter().flatten().collect();
}

/// Step 6: children and roots by sent date (then mailbox order); a dummy sorts as its
/// first child after its own children are sorted. REFS orders the roots by the most
/// recent sent date in each thread instead.
fn sort_by_date(forest: &mut Forest, messages: &[ThreadFacts<'_>], variant: Variant) {
    let mut key: Vec<(i64, u32)> = vec![(i64::MAX, u32::MAX); forest.nodes.len()];
    let mut latest: Vec<(i64, u32)> = vec![(i64::MIN, 0); forest.nodes.len()];
    let mut stack: Vec<(usize, bool)> = forest.roots.iter().map(|&root| (root, false)).collect();
    while let Some((node, expanded)) = stack.pop() {
        if !expanded {
            stack.push((node, true));
            stack.extend(forest.nodes[node].1.iter().map(|&child| (child, false)));
            continue;
        }
        let mut children = std::mem::take(&mut forest.nodes[node].1);
        children.sort_by_key(|&child| key[child]);
        key[node] = match forest.nodes[node].0 {
            Some(message) => (messages[message].sent_ms, messages[message].uid),
            None => children.first().map_or((i64::MAX, u32::MAX), |&first| key[first]),
        };
        let own = forest.nodes[node].0.map_or((i64::MIN, 0), |m| (messages[m].sent_ms, messages[m].uid));
        latest[node] = children.iter().map(|&child| latest[child]).fold(own, Ord::max);
        forest.nodes[node].1 = children;
    }
    match variant {
        Variant::References => forest.roots.sort_by_key(|&root| key[root]),
        Variant::Refs => forest.roots.sort_by_key(|&root| (latest[root], key[root])),
    }
}

impl Threads {
    /// Writes `* THREAD` with each UID turned into the number the client sees.
    pub(crate) fn write(&self, out: &mut Vec<u8>, number: impl Fn(u32) -> u32) {
        out.extend_from_slice(b"* THREAD ");
        for &root in &self.roots {
            let (uid, children) = &self.nodes[root];
            if *uid == 0 {
                // A dummy root: "(" thread-nested ")", each child its own list.
                out.push(b'(');
                for &child in children {
                    self.write_list(out, child, &number);
                }
                out.push(b')');
            } else {
                self.write_list(out, root, &number);
            }
        }
        if self.roots.is_empty() {
            out.pop();
        }
        out.extend_from_slice(b"\r\n");
    }

    /// `"(" start's subtree ")"`: a chain of single children as `a b c`, several
    /// children as `(...)(...)` (RFC 5256 §4 thread-list), without recursion.
    fn write_list(&self, out: &mut Vec<u8>, start: usize, number: &impl Fn(u32) -> u32) {
        use std::fmt::Write as _;
        let mut text = String::new();
        // Per open group of siblings: the next sibling to write.
        let mut groups: Vec<std::slice::Iter<'_, usize>> = Vec::new();
        let mut node = start;
        text.push('(');
        'chain: loop {
            let _ = write!(text, "{}", number(self.nodes[node].0));
            loop {
                let children = &self.nodes[node].1;
                match children.as_slice() {
                    [] => break,
                    [only] => {
                        node = *only;
                        let _ = write!(text, " {}", number(self.nodes[node].0));
                    }
                    [first, rest @ ..] => {
                        groups.push(rest.iter());
                        text.push_str(" (");
                        node = *first;
                        continue 'chain;
                    }
                }
            }
            // A leaf: close lists until a group has a sibling left.
            loop {
                text.push(')');
                let Some(group) = groups.last_mut() else { break 'chain };
                if let Some(&next) = group.next() {
                    text.push('(');
                    node = next;
                    continue 'chain;
                }
                groups.pop();
            }
        }
        out.extend_from_slice(text.as_bytes());
    }
}

/// The running THREAD.
#[derive(Debug)]
pub(crate) struct ThreadJob {
    uid: bool,
}

impl Session {
    /// THREAD / UID THREAD.
    pub(crate) fn thread(&mut self, uid: bool, algorithm: ThreadAlgorithm, search: &SearchCommand) {
        let program = match self.ordering_program(search) {
            Ok(program) => program,
            Err(error) => return self.finish(Err(error)),
        };
        self.set_job(Job::Thread(ThreadJob { uid }));
        let event = Event::Thread { search: Arc::new(program), thread: ThreadProgram::new(algorithm) };
        self.request(event, true);
    }

    pub(crate) fn thread_answered(&mut self, job: ThreadJob, answer: Answer) {
        let threads = match answer {
            Answer::Threaded(threads) => threads,
            Answer::Failed(error) => return self.finish(Err(error)),
            _ => return self.finish(Err(CommandError::Internal)),
        };
        let Some(selected) = self.selected.as_ref() else { return self.finish(Err(CommandError::Internal)) };
        // Every match is in the view (the search judged only those).
        let number = |uid: u32| if job.uid { uid } else { selected.seq_of(uid).unwrap_or(uid) };
        let mut out = Vec::new();
        threads.write(&mut out, number);
        self.out.buf().extend_from_slice(&out);
        self.finish(Ok(Done::ok("THREAD completed")));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn keys(id: &str, references: &[&str], subject: &str) -> Vec<u8> {
        let list: String = references.iter().map(|r| format!("<{r}> ")).collect();
        let envelope = crate::mime::Envelope {
            subject: Some(subject.as_bytes().to_vec()),
            message_id: Some(format!("<{id}>").into_bytes()),
            ..Default::default()
        };
        super::super::ordering_keys::encode(None, &envelope, Some(list.as_bytes()))
    }

    fn facts(uid: u32, keys: &[u8]) -> ThreadFacts<'_> {
        let keys = OrderingKeys::parse(keys).unwrap();
        ThreadProgram::new(ThreadAlgorithm::References).facts(uid, i64::from(uid), keys)
    }

    #[test]
    fn message_ids_are_read_leniently() {
        let ids = message_ids(b"<a@x> junk <b @x>\t<> <c@x <d@x>");
        assert_eq!(ids, vec!["a@x".into(), "b@x".into(), "d@x".into()] as Vec<Box<str>>);
    }

    #[test]
    fn a_chain_as_long_as_a_mailbox_needs_no_recursion() {
        const LENGTH: u32 = 50_000;
        let all: Vec<Vec<u8>> = (1..=LENGTH)
            .map(|uid| {
                let parent = format!("{}@x", uid - 1);
                let references: Vec<&str> = if uid == 1 { Vec::new() } else { vec![parent.as_str()] };
                keys(&format!("{uid}@x"), &references, "Re: long")
            })
            .collect();
        let messages: Vec<ThreadFacts<'_>> =
            (1..=LENGTH).zip(&all).map(|(uid, keys)| facts(uid, keys)).collect();
        let threads = ThreadProgram::new(ThreadAlgorithm::References).thread(messages);
        let mut out = Vec::new();
        threads.write(&mut out, |uid| uid);
        let expected: Vec<String> = (1..=LENGTH).map(|uid| uid.to_string()).collect();
        assert_eq!(out, format!("* THREAD ({})\r\n", expected.join(" ")).into_bytes());
    }

    #[test]
    fn nested_groups_are_written_as_rfc_5256_lists() {
        // 1 has children 2 and 5; 2 has children 3 and 4.
        let all = [
            keys("1", &[], "s"),
            keys("2", &["1"], "s"),
            keys("3", &["1", "2"], "s"),
            keys("4", &["2"], "s"),
            keys("5", &["1"], "s"),
        ];
        let messages: Vec<ThreadFacts<'_>> = (1..).zip(&all).map(|(uid, keys)| facts(uid, keys)).collect();
        let threads = ThreadProgram::new(ThreadAlgorithm::References).thread(messages);
        let mut out = Vec::new();
        threads.write(&mut out, |uid| uid);
        assert_eq!(out, b"* THREAD (1 (2 (3)(4))(5))\r\n");
    }
}
