//! MULTISEARCH (RFC 7377): `ESEARCH [IN (sources)] [RETURN (...)] criteria` searches the
//! mailboxes the sources name, in the authenticated or selected state, and answers one
//! `* ESEARCH (TAG "t" MAILBOX "m" UIDVALIDITY n) UID ...` per mailbox with matches
//! (none for a mailbox without, RFC 7377 §2.1), always with UIDs.
//!
//! The session resolves the sources against the account's mailbox list
//! ([`Event::List`], pure: [`resolve_sources`]), then asks for one mailbox at a time
//! ([`Event::SearchMailbox`]) and writes its response before asking for the next: the
//! results are streamed, so memory holds one mailbox's matches, and the caller's core
//! is given back between mailboxes. INPROGRESS (RFC 9585) counts messages over all the
//! mailboxes ([`super::progress`]).
//!
//! Rules (RFC 7377 §2.2): without sources, the selected mailbox (BAD when none is
//! selected); the selected mailbox is searched in the session's view (messages it was
//! told about), others whole; SAVE only when the selected mailbox is the sole source
//! (else BAD), and so `$` too; UPDATE is BAD without a selected mailbox and otherwise
//! refused with NOUPDATE (RFC 5267 §4.3.1); a mailbox named twice is searched once; a
//! mailbox that does not exist, or is gone by its turn, is skipped.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use super::error::{CommandError, Done};
use super::facts::{MailboxList, SearchHit};
use super::search::{SearchProgram, uses_modseq, write_answer};
use super::uids::UidList;
use super::{Answer, Event, Job, Session};
use crate::imap::response::{MailboxCorrelator, ResponseCode, Status, write_untagged_status};
use crate::imap::types::{MailboxFilter, SearchCommand, SearchKey, SearchReturn, SequenceSet};

/// A running ESEARCH.
#[derive(Debug)]
pub(crate) struct MultiSearchJob {
    search: SearchCommand,
    sources: Vec<MailboxFilter>,
    /// SAVE was asked (the selected mailbox is the sole source).
    save: bool,
    /// Mailboxes still to search (stored names) and their message counts.
    queue: VecDeque<(String, u64)>,
    /// The mailbox being searched, and its message count.
    current: Option<(String, u64)>,
    /// Messages in the mailboxes searched so far, and in all of them (for INPROGRESS).
    pub(crate) messages_done: u64,
    pub(crate) messages_total: u64,
}

impl Session {
    /// ESEARCH (RFC 7377 §2).
    pub(crate) fn esearch(&mut self, sources: Vec<MailboxFilter>, mut search: SearchCommand) {
        if let Some(charset) = &search.charset
            && !charset.eq_ignore_ascii_case("UTF-8")
            && !charset.eq_ignore_ascii_case("US-ASCII")
        {
            let code = ResponseCode::BadCharset(vec!["UTF-8".into()]);
            return self.finish(Err(CommandError::no(code, "only UTF-8 searches are supported")));
        }
        let selected_only = sources.iter().all(|filter| *filter == MailboxFilter::Selected);
        if let Err(error) = self.check_esearch(&sources, &mut search, selected_only) {
            return self.finish(Err(error));
        }
        if uses_modseq(&search.key) {
            self.enable_condstore();
        }
        // RFC 7377 §2.1: a source option without a result option means ALL.
        search.return_opts.get_or_insert_with(Vec::new);
        let save = search.return_opts.as_ref().is_some_and(|opts| opts.contains(&SearchReturn::Save));
        let mut job = MultiSearchJob {
            search,
            sources,
            save,
            queue: VecDeque::new(),
            current: None,
            messages_done: 0,
            messages_total: 0,
        };
        if selected_only {
            let Some(selected) = &self.selected else { return self.finish(Err(CommandError::Internal)) };
            let count = u64::from(selected.count());
            job.queue.push_back((selected.name.clone(), count));
            job.messages_total = count;
            return self.search_next_mailbox(job);
        }
        self.set_job(Job::MultiSearch(job));
        self.request(Event::List { recent: false, status: false, deleted_bytes: false }, true);
    }

    /// The command's rules that depend on the state (RFC 7377 §2.2); strips a refused
    /// UPDATE.
    fn check_esearch(
        &mut self,
        sources: &[MailboxFilter],
        search: &mut SearchCommand,
        selected_only: bool,
    ) -> Result<(), CommandError> {
        let wants_selected = sources.is_empty() || sources.contains(&MailboxFilter::Selected);
        if wants_selected && self.selected.is_none() {
            return Err(CommandError::bad("select a mailbox first"));
        }
        let options = search.return_opts.clone().unwrap_or_default();
        if options.contains(&SearchReturn::Save) && !selected_only {
            return Err(CommandError::bad("SAVE only with the selected mailbox as the sole source"));
        }
        if uses_saved(&search.key) && !selected_only {
            return Err(CommandError::bad("$ only with the selected mailbox as the sole source"));
        }
        if self.enabled.uidonly && super::commands::search_has_sequence_numbers(&search.key) {
            return Err(CommandError::uid_required());
        }
        if options.contains(&SearchReturn::Update) {
            if self.selected.is_none() {
                return Err(CommandError::bad("UPDATE needs a selected mailbox"));
            }
            let tag = self.tag().map(|tag| tag.0.clone()).unwrap_or_default();
            let code = ResponseCode::NoUpdate(tag);
            write_untagged_status(self.out.buf(), Status::No, Some(&code), "no UPDATE for ESEARCH");
            if let Some(opts) = search.return_opts.as_mut() {
                opts.retain(|option| *option != SearchReturn::Update);
            }
        }
        Ok(())
    }

    pub(crate) fn multisearch_answered(&mut self, mut job: MultiSearchJob, answer: Answer) {
        match answer {
            Answer::Mailboxes(list) => {
                let selected = self.selected.as_ref().map(|selected| selected.name.as_str());
                let names: Vec<String> =
                    resolve_sources(&job.sources, &list, selected, |name| self.mailbox_name(name));
                for name in names {
                    let count =
                        list.mailboxes.iter().find(|facts| facts.name == name).map_or(0, |f| f.messages);
                    job.messages_total += u64::from(count);
                    job.queue.push_back((name, u64::from(count)));
                }
                self.search_next_mailbox(job);
            }
            Answer::MailboxSearched { uidvalidity, hits } => {
                if let Some((name, count)) = job.current.take() {
                    self.write_mailbox_result(&job, &name, uidvalidity, hits);
                    job.messages_done += count;
                }
                self.search_next_mailbox(job);
            }
            // Deleted since the list was read: nothing to report for it.
            Answer::Failed(CommandError::No(Some(ResponseCode::NonExistent), _)) => {
                job.current = None;
                self.search_next_mailbox(job);
            }
            Answer::Failed(error) => self.finish(Err(error)),
            _ => self.finish(Err(CommandError::Internal)),
        }
    }

    /// Asks for the next mailbox's search, or ends the command.
    fn search_next_mailbox(&mut self, mut job: MultiSearchJob) {
        let Some((name, count)) = job.queue.pop_front() else {
            return self.finish(Ok(Done::ok("ESEARCH completed")));
        };
        let now_ms = i64::try_from(self.now_ms).unwrap_or(i64::MAX);
        let key = job.search.key.clone();
        let (program, view_given) = match &self.selected {
            Some(selected) if selected.name == name => (
                SearchProgram::new(
                    key,
                    selected.uids.clone(),
                    selected.recent.clone(),
                    selected.saved.clone(),
                    now_ms,
                ),
                true,
            ),
            _ => (
                SearchProgram::new(key, UidList::default(), UidList::default(), UidList::default(), now_ms),
                false,
            ),
        };
        job.current = Some((name.clone(), count));
        self.set_job(Job::MultiSearch(job));
        self.request(Event::SearchMailbox { mailbox: name, program: Arc::new(program), view_given }, true);
    }

    /// One mailbox's `* ESEARCH (TAG .. MAILBOX .. UIDVALIDITY ..) UID ...`, when it has
    /// matches; SAVE keeps them as `$`.
    fn write_mailbox_result(
        &mut self,
        job: &MultiSearchJob,
        name: &str,
        uidvalidity: u32,
        mut hits: Vec<SearchHit>,
    ) {
        let utf8 = self.utf8();
        let Some(tag) = self.tag().cloned() else { return };
        let selected = self.selected.as_mut().filter(|selected| selected.name == name);
        if let Some(selected) = &selected {
            hits.retain(|hit| selected.uids.contains(hit.uid));
        }
        hits.sort_unstable();
        hits.dedup_by_key(|hit| hit.uid);
        if hits.is_empty() {
            if let (true, Some(selected)) = (job.save, selected) {
                selected.saved = UidList::default();
            }
            return;
        }
        let numbered: Vec<(u32, SearchHit)> = hits.into_iter().map(|hit| (hit.uid, hit)).collect();
        let correlator = MailboxCorrelator { name, utf8, uidvalidity };
        let answer = write_answer(&mut self.out, &tag, &job.search, true, true, &numbered, Some(correlator));
        if let (Some(mut saved), Some(selected)) = (answer.saved, self.selected.as_mut()) {
            saved.sort_unstable();
            selected.saved = UidList::from_sorted(saved);
        }
    }
}

/// Whether the key refers to the saved result `$` (RFC 5182).
fn uses_saved(key: &SearchKey) -> bool {
    let mut stack = vec![key];
    while let Some(key) = stack.pop() {
        match key {
            SearchKey::Seq(SequenceSet::Saved) | SearchKey::Uid(SequenceSet::Saved) => return true,
            SearchKey::Not(inner) => stack.push(inner),
            SearchKey::Or(left, right) => {
                stack.push(left);
                stack.push(right);
            }
            SearchKey::And(keys) => stack.extend(keys.iter()),
            _ => {}
        }
    }
    false
}

/// The mailboxes the sources name (stored names), each once, in the account's order
/// (`list`'s): `selected` the selected mailbox, `inboxes` INBOX (the only mailbox we
/// deliver to), `personal` all, `subscribed` the subscribed ones that exist, `subtree`
/// the named ones and all below them, `subtree-one` the named ones and their children,
/// `mailboxes` the named ones. Names that do not exist name nothing. `decode` turns a
/// name as sent into a stored one (modified UTF-7, INBOX).
///
/// RFC 7377 §2.2 asks to defend `subtree` against loops: names form a tree by their
/// `/`-separated prefixes, which has none.
pub(crate) fn resolve_sources(
    sources: &[MailboxFilter],
    list: &MailboxList,
    selected: Option<&str>,
    decode: impl Fn(&str) -> String,
) -> Vec<String> {
    let decoded = |names: &[String]| -> Vec<String> { names.iter().map(|name| decode(name)).collect() };
    let mut wanted: HashSet<&str> = HashSet::new();
    let mut subtrees: Vec<(String, bool)> = Vec::new();
    let mut named: Vec<String> = Vec::new();
    let subscribed: HashSet<&str> = list.subscriptions.iter().map(String::as_str).collect();
    let mut all = false;
    let mut with_subscribed = false;
    for source in sources {
        match source {
            MailboxFilter::Selected => wanted.extend(selected),
            MailboxFilter::Inboxes => {
                wanted.insert("INBOX");
            }
            MailboxFilter::Personal => all = true,
            MailboxFilter::Subscribed => with_subscribed = true,
            MailboxFilter::Subtree(names) => {
                subtrees.extend(decoded(names).into_iter().map(|name| (name, false)))
            }
            MailboxFilter::SubtreeOne(names) => {
                subtrees.extend(decoded(names).into_iter().map(|name| (name, true)))
            }
            MailboxFilter::Mailboxes(names) => named.extend(decoded(names)),
        }
    }
    list.mailboxes
        .iter()
        .map(|facts| facts.name.as_str())
        .filter(|name| {
            all || wanted.contains(name)
                || named.iter().any(|n| n == name)
                || (with_subscribed && subscribed.contains(name))
                || subtrees.iter().any(|(root, one)| in_subtree(name, root, *one))
        })
        .map(str::to_owned)
        .collect()
}

/// Whether `name` is `root` or below it (`one`: at most one level below).
fn in_subtree(name: &str, root: &str, one: bool) -> bool {
    if name == root {
        return true;
    }
    let Some(rest) = name.strip_prefix(root).and_then(|rest| rest.strip_prefix('/')) else { return false };
    !one || !rest.contains('/')
}
