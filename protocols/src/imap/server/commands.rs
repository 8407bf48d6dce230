//! Command dispatch by state (RFC 9051 §3: not authenticated, authenticated, selected,
//! logout) and the commands that need no storage: CAPABILITY, NOOP, CHECK, LOGOUT, ID,
//! ENABLE (RFC 5161; UIDONLY, RFC 9586), NAMESPACE (RFC 2342), IDLE (RFC 2177).

use super::error::{CommandError, Done};
use super::{Job, Session};
use crate::imap::command::{Command, CommandBody};
use crate::imap::reader::{ReadEvent, ReadMode};
use crate::imap::response::{
    Status, write_capability, write_continuation, write_enabled, write_id, write_namespace, write_tagged,
    write_untagged_status,
};
use crate::imap::types::{SearchKey, Tag};

impl Session {
    /// A complete command from the reader. `pipelined`: input followed it in the same
    /// read (matters for STARTTLS).
    pub(crate) fn command(&mut self, command: Command, pipelined: bool) {
        let Command { tag, body } = command;
        // RFC 9051 §7.5.1: no EXPUNGE during FETCH, STORE or SEARCH (their UID forms
        // allow it).
        let allow_expunge = !matches!(
            body,
            CommandBody::Fetch { uid: false, .. }
                | CommandBody::Store { uid: false, .. }
                | CommandBody::Search { uid: false, .. }
                | CommandBody::Sort { uid: false, .. }
                | CommandBody::Thread { uid: false, .. }
        );
        let force_sync = matches!(
            body,
            CommandBody::Noop
                | CommandBody::Check
                | CommandBody::Copy { .. }
                | CommandBody::Move { .. }
                | CommandBody::Expunge
                | CommandBody::UidExpunge(_)
        );
        let name = body.name();
        self.begin(tag, name, allow_expunge, force_sync);
        match body {
            CommandBody::Capability => {
                let caps = self.capabilities();
                let caps: Vec<&str> = caps.iter().map(String::as_str).collect();
                write_capability(self.out.buf(), &caps);
                self.finish(Ok(Done::ok("capabilities listed")));
            }
            CommandBody::Noop | CommandBody::Check => self.finish(Ok(Done::ok("done"))),
            CommandBody::Logout => self.logout(),
            CommandBody::Id(_) => {
                let fields = [("name", "moxide"), ("version", self.config.version.as_str())];
                write_id(self.out.buf(), Some(&fields));
                self.finish(Ok(Done::ok("ID completed")));
            }
            CommandBody::StartTls => self.starttls(pipelined),
            CommandBody::Login { username, password } => self.login(username, password),
            CommandBody::Authenticate { mechanism, initial_response } => {
                self.authenticate(mechanism, initial_response);
            }
            body if !self.authenticated => {
                drop(body);
                self.finish(Err(CommandError::bad("log in first")));
            }
            body => self.authenticated_command(body),
        }
    }

    fn authenticated_command(&mut self, body: CommandBody) {
        use CommandBody as C;
        if self.hides_command(&body) {
            return self.finish(Err(CommandError::bad("unknown command")));
        }
        match body {
            C::Enable(names) => self.enable(&names),
            C::Compress { mechanism } => self.compress(&mechanism),
            C::Namespace => {
                let utf8 = self.utf8();
                write_namespace(self.out.buf(), &[("", Some('/'))], &[], &[], utf8);
                self.finish(Ok(Done::ok("NAMESPACE completed")));
            }
            C::Idle => self.idle(),
            C::Select { mailbox, params } => self.select(&mailbox, params, false),
            C::Examine { mailbox, params } => self.select(&mailbox, params, true),
            C::Create { mailbox, special_use } => self.create(&mailbox, special_use),
            C::Delete { mailbox } => self.delete(&mailbox),
            C::Rename { from, to } => self.rename(&from, &to),
            C::Subscribe { mailbox } => self.subscribe(&mailbox, true),
            C::Unsubscribe { mailbox } => self.subscribe(&mailbox, false),
            C::List(list) => self.list(list),
            C::Lsub { reference, pattern } => self.lsub(&reference, &pattern),
            C::Status { mailbox, attrs } => self.status(&mailbox, attrs),
            C::GetQuota { root } => self.get_quota(&root),
            C::GetQuotaRoot { mailbox } => self.get_quota_root(&mailbox),
            C::SetQuota { .. } => self.set_quota(),
            C::GetMetadata { mailbox, entries, max_size, depth } => {
                self.get_metadata(&mailbox, entries, max_size, depth);
            }
            C::SetMetadata { mailbox, entries } => self.set_metadata(&mailbox, entries),
            C::Notify(set) => self.notify_command(set),
            C::Esearch { sources, search } => self.esearch(sources, search),
            C::GenUrlAuth(urls) => self.genurlauth(urls),
            C::ResetKey { mailbox, mechanisms } => self.resetkey(mailbox, &mechanisms),
            C::UrlFetch(urls) => self.urlfetch(urls),
            body if self.selected.is_none() => {
                drop(body);
                self.finish(Err(CommandError::bad("select a mailbox first")));
            }
            // RFC 9586 §3.2: after ENABLE UIDONLY, sequence numbers are refused.
            body if self.enabled.uidonly && uses_sequence_numbers(&body) => {
                drop(body);
                self.finish(Err(CommandError::uid_required()));
            }
            C::Close => self.close(true),
            C::Unselect => self.close(false),
            C::Expunge => self.expunge(None),
            C::UidExpunge(set) => self.expunge(Some(set)),
            C::Search { uid, search } => self.search(uid, search),
            C::CancelUpdate(tags) => self.cancel_update(&tags),
            C::Sort { uid, sort } => self.sort(uid, sort),
            C::Thread { uid, algorithm, search } => self.thread(uid, algorithm, &search),
            C::Fetch { uid, set, attrs, modifiers } => self.fetch(uid, &set, attrs, &modifiers),
            C::Store { uid, set, mode, silent, flags, unchanged_since } => {
                self.store(uid, &set, mode, silent, &flags, unchanged_since);
            }
            C::Copy { uid, set, mailbox } => self.copy(uid, &set, &mailbox, false),
            C::Move { uid, set, mailbox } => self.copy(uid, &set, &mailbox, true),
            _ => self.finish(Err(CommandError::bad("command not valid in this state"))),
        }
    }

    /// LOGOUT (RFC 9051 §6.1.3): `* BYE`, the tagged OK, and nothing else: no pending
    /// update reaches a client that has no mailbox any more.
    fn logout(&mut self) {
        write_untagged_status(self.out.buf(), Status::Bye, None, "logging out");
        self.closing = true;
        self.write_tagged_now(Ok(Done::ok("logged out")));
    }

    /// Writes the tagged response without a final sync.
    fn write_tagged_now(&mut self, result: Result<Done, CommandError>) {
        if let Some(running) = self.running.as_mut() {
            running.force_sync = false;
        }
        if let Some(selected) = self.selected.as_mut() {
            selected.dirty = false;
        }
        self.finish(result);
    }

    /// ENABLE (RFC 5161 §3.1); QRESYNC implies CONDSTORE (RFC 7162 §3.2.3).
    fn enable(&mut self, names: &[String]) {
        let mut enabled = Vec::new();
        for name in names {
            let upper = name.to_ascii_uppercase();
            let newly = match upper.as_str() {
                // What the account hides is not supported as far as its clients know.
                hidden if self.is_hidden(hidden) => false,
                "CONDSTORE" => !std::mem::replace(&mut self.enabled.condstore, true),
                "QRESYNC" => {
                    self.enabled.condstore = true;
                    !std::mem::replace(&mut self.enabled.qresync, true)
                }
                "UTF8=ACCEPT" => !std::mem::replace(&mut self.enabled.utf8, true),
                "IMAP4REV2" => !std::mem::replace(&mut self.enabled.rev2, true),
                "UIDONLY" => !std::mem::replace(&mut self.enabled.uidonly, true),
                _ => false,
            };
            if newly {
                enabled.push(upper);
            }
        }
        let names: Vec<&str> = enabled.iter().map(String::as_str).collect();
        write_enabled(self.out.buf(), &names);
        self.finish(Ok(Done::ok("ENABLE completed")));
    }

    /// IDLE (RFC 2177): updates flow as they come until DONE.
    fn idle(&mut self) {
        write_continuation(self.out.buf(), "idling");
        self.reader.set_mode(ReadMode::IdleDone);
        self.set_job(Job::Idle);
        if self.selected.as_ref().is_some_and(|selected| selected.dirty || selected.contexts_stale) {
            self.mailbox_changed();
        }
    }

    /// A reader event other than a command.
    pub(crate) fn read_event(&mut self, event: ReadEvent<'_>) {
        match event {
            ReadEvent::Continue => write_continuation(self.out.buf(), "go ahead"),
            ReadEvent::IdleDone => {
                if matches!(self.running.as_ref().map(|running| &running.job), Some(Job::Idle)) {
                    self.finish(Ok(Done::ok("IDLE terminated")));
                }
            }
            ReadEvent::SaslResponse(response) => self.sasl_response(Some(response)),
            ReadEvent::SaslCancel => self.sasl_response(None),
            ReadEvent::AppendMessage { tag, mailbox, flags, date, size, index, replace, .. } => {
                let start = super::append::MessageStart { tag, mailbox, flags, date, size, index, replace };
                self.append_message(start);
            }
            ReadEvent::CatenateUrl(url) => self.catenate_url(url),
            ReadEvent::CatenateText { size, binary: _ } => self.catenate_text(size),
            ReadEvent::AppendMessageEnd => self.request(super::Event::AppendMessageEnd, false),
            ReadEvent::AppendEnd { tag, rejected } => self.append_end(tag, rejected),
            ReadEvent::Error(error) => self.read_error(error),
            ReadEvent::Command(_) | ReadEvent::AppendData(_) => {}
        }
    }

    /// A command the reader refused. Inside IDLE, AUTHENTICATE or APPEND it ends that
    /// command (with its tag).
    fn read_error(&mut self, error: crate::imap::error::ReadError) {
        if self.running.is_some() {
            let (status, code) = error.status();
            let failure = match status {
                Status::Bad => CommandError::Bad(error.detail.clone()),
                _ => CommandError::No(code, error.detail.clone()),
            };
            match self.running.as_ref().map(|running| &running.job) {
                Some(Job::Authenticate(_)) => {
                    self.reader.set_mode(ReadMode::Command);
                    self.request(super::Event::AuthCancelled, false);
                    self.finish(Err(failure));
                }
                Some(Job::Append(_)) => self.append_failed(failure),
                _ => self.finish(Err(failure)),
            }
            return;
        }
        error.write_response(self.out.buf());
        if error.status().0 == Status::Bad {
            self.count_bad();
        }
    }

    /// The tag of the running command (for responses written outside `finish`).
    pub(crate) fn tag(&self) -> Option<&Tag> {
        self.running.as_ref().map(|running| &running.tag)
    }

    /// Writes a tagged response for `tag` that is not the running command (an APPEND
    /// refused before it started).
    pub(crate) fn write_tagged_for(&mut self, tag: &Tag, status: Status, text: &str) {
        write_tagged(self.out.buf(), tag, status, None, text);
    }
}

/// Whether a command names messages by sequence number (RFC 9586 §3.2): the non-UID
/// forms of FETCH, STORE, COPY, MOVE, SEARCH, SORT and THREAD, and any search with a
/// sequence-set key.
fn uses_sequence_numbers(body: &CommandBody) -> bool {
    use CommandBody as C;
    match body {
        C::Fetch { uid, .. } | C::Store { uid, .. } | C::Copy { uid, .. } | C::Move { uid, .. } => !uid,
        C::Search { uid, search } => !uid || search_has_sequence_numbers(&search.key),
        C::Sort { uid, sort } => !uid || search_has_sequence_numbers(&sort.search.key),
        C::Thread { uid, search, .. } => !uid || search_has_sequence_numbers(&search.key),
        _ => false,
    }
}

/// Whether a search program has a sequence-set key, walked with an explicit stack (the
/// parser bounded its nesting).
pub(crate) fn search_has_sequence_numbers(key: &SearchKey) -> bool {
    let mut stack = vec![key];
    while let Some(key) = stack.pop() {
        match key {
            SearchKey::Seq(_) => return true,
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
