//! A storage side in memory: an account with mailboxes, messages and subscriptions that
//! answers every [`Event`] the way the server's glue does with the real store and
//! account actor. The transcript tests, the fuzz target and the benches drive the real
//! session with it, so the protocol is tested without sockets, files or a runtime.
//!
//! It follows the real store's rules where the protocol can see them: one modseq
//! counter per account (every change takes the next), UIDs never reused, expunged
//! messages kept readable for the sessions not told yet, `\Recent` claimed by the first
//! session to see a message. Several sessions may share one account
//! ([`SharedAccount`]); [`Connection::drive`] tells a session when another one changed
//! its mailbox.
//!
//! Limits: it keeps everything (expunged messages too) for its life; it is meant for
//! small test data, not for load.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::ops::RangeInclusive;
use std::rc::Rc;

use super::facts::{
    AppendOutcome, AuthFailure, CopyOutcome, FetchMessage, FlagFact, MailboxChanges, MailboxFacts,
    MailboxList, MailboxSnapshot, MessageFacts, QresyncFacts, SearchHit, StoreOutcome, SystemFlags,
};
use super::ordering_keys;
use super::search::{SearchContent, Verdict};
use super::uids::UidList;
use super::{Answer, CommandError, Event, Output, RecentMode, Session};
use crate::imap::response::ResponseCode;
use crate::imap::types::StoreMode;
use crate::mime::{self, MessageSummary};

/// Special-use attributes the account accepts (RFC 6154 §2).
const SPECIAL_USES: &[&str] = &["\\Archive", "\\Drafts", "\\Junk", "\\Sent", "\\Trash"];

/// One message.
#[derive(Debug, Clone)]
struct Message {
    id: u64,
    modseq: u64,
    flags: SystemFlags,
    keywords: Vec<String>,
    internal_ms: i64,
    saved_ms: i64,
    bytes: Rc<Vec<u8>>,
    summary: Rc<MessageSummary>,
}

/// One mailbox.
#[derive(Debug, Clone, Default)]
struct Mailbox {
    /// Account-wide, never reused (the store's mailbox id).
    id: u32,
    name: String,
    special_use: Option<&'static str>,
    uidvalidity: u32,
    uidnext: u32,
    highest_modseq: u64,
    messages: BTreeMap<u32, Message>,
    /// Expunged: uid → expunge modseq.
    tombstones: BTreeMap<u32, u64>,
    /// Expunged messages, kept for sessions that still show them.
    kept: BTreeMap<u32, Message>,
    /// The highest UID ever made `\Recent`.
    recent_mark: u32,
    /// METADATA entries (RFC 5464): they follow RENAME and go with DELETE.
    metadata: BTreeMap<String, Vec<u8>>,
    /// The URLAUTH access key (RFC 4467 §7), made by GENURLAUTH, removed by RESETKEY.
    urlauth_key: Option<Vec<u8>>,
}

/// An account in memory.
#[derive(Debug, Clone)]
pub struct Account {
    user: String,
    password: String,
    mailboxes: Vec<Mailbox>,
    subscriptions: BTreeSet<String>,
    modseq: u64,
    next_id: u64,
    next_uidvalidity: u32,
    next_mailbox_id: u32,
    /// Bumped on every change, so connections notice other sessions' changes.
    version: u64,
    /// The clock for INTERNALDATE and SAVEDATE, Unix milliseconds.
    pub now_ms: i64,
    /// The account's quota (RFC 9208 STORAGE), `None` for none. Reported, not enforced.
    pub quota_bytes: Option<u64>,
    /// The account's message-count limit (RFC 9208 MESSAGE), `None` for none. Reported,
    /// not enforced.
    pub quota_messages: Option<u64>,
    /// The server's METADATA entries (RFC 5464 §3.2.1).
    server_metadata: BTreeMap<String, Vec<u8>>,
    /// The value of `/shared/admin`, from the configuration.
    pub admin_uri: Option<String>,
    /// Most METADATA entries per mailbox (and for the server): SETMETADATA past it is
    /// `NO [METADATA TOOMANY]`.
    pub metadata_entries_max: usize,
    /// URLAUTH keys made so far: the next key is this count in every byte (the real
    /// glue draws keys from the system random source).
    urlauth_keys_made: u8,
}

/// An account shared by several connections (sessions on one account).
pub type SharedAccount = Rc<RefCell<Account>>;

impl Account {
    /// An account with INBOX, Sent, Drafts, Archive, Trash and Junk, for `user` with
    /// `password`.
    pub fn new(user: &str, password: &str) -> Account {
        let mut account = Account {
            user: user.to_owned(),
            password: password.to_owned(),
            mailboxes: Vec::new(),
            subscriptions: BTreeSet::new(),
            modseq: 1,
            next_id: 1,
            next_uidvalidity: 1000,
            next_mailbox_id: 0,
            version: 0,
            now_ms: 1_700_000_000_000,
            quota_bytes: None,
            quota_messages: None,
            server_metadata: BTreeMap::new(),
            admin_uri: None,
            metadata_entries_max: 100,
            urlauth_keys_made: 0,
        };
        account.create("INBOX", None);
        for (name, special) in [
            ("Sent", "\\Sent"),
            ("Drafts", "\\Drafts"),
            ("Archive", "\\Archive"),
            ("Trash", "\\Trash"),
            ("Junk", "\\Junk"),
        ] {
            account.create(name, Some(special));
        }
        account
    }

    /// The account, shared.
    pub fn shared(self) -> SharedAccount {
        Rc::new(RefCell::new(self))
    }

    /// The modseq of the account's latest change (what a change event carries).
    pub fn highest_modseq(&self) -> u64 {
        self.modseq
    }

    fn next_modseq(&mut self) -> u64 {
        self.modseq += 1;
        self.version += 1;
        self.modseq
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.mailboxes.iter().position(|mailbox| mailbox.name == name)
    }

    /// Creates mailbox `name` (and subscribes to it when `subscribed`); false when it
    /// exists.
    pub fn add_mailbox(&mut self, name: &str, subscribed: bool) -> bool {
        if subscribed {
            self.subscriptions.insert(name.to_owned());
        }
        self.create(name, None)
    }

    /// Creates a mailbox as another session would; false when it exists.
    pub fn create(&mut self, name: &str, special_use: Option<&'static str>) -> bool {
        if self.index(name).is_some() {
            return false;
        }
        self.next_uidvalidity += 1;
        self.next_mailbox_id += 1;
        self.mailboxes.push(Mailbox {
            id: self.next_mailbox_id,
            name: name.to_owned(),
            special_use,
            uidvalidity: self.next_uidvalidity,
            uidnext: 1,
            highest_modseq: self.modseq,
            ..Mailbox::default()
        });
        self.version += 1;
        true
    }

    /// Delivers `bytes` into `mailbox` with `flags` and `keywords`; returns the UID.
    pub fn deliver(
        &mut self,
        mailbox: &str,
        bytes: &[u8],
        flags: SystemFlags,
        keywords: &[&str],
    ) -> Option<u32> {
        let index = self.index(mailbox)?;
        let modseq = self.next_modseq();
        self.next_id += 1;
        let message = Message {
            id: self.next_id,
            modseq,
            flags,
            keywords: keywords.iter().map(|k| (*k).to_owned()).collect(),
            internal_ms: self.now_ms,
            saved_ms: self.now_ms,
            bytes: Rc::new(bytes.to_vec()),
            summary: Rc::new(mime::summarize(bytes)),
        };
        Some(self.insert(index, message))
    }

    fn insert(&mut self, index: usize, mut message: Message) -> u32 {
        let mailbox = &mut self.mailboxes[index];
        let uid = mailbox.uidnext;
        mailbox.uidnext += 1;
        mailbox.highest_modseq = message.modseq;
        message.saved_ms = self.now_ms;
        mailbox.messages.insert(uid, message);
        uid
    }

    /// Expunges `uids` of `mailbox` as another session would; returns the expunged UIDs.
    pub fn expunge(&mut self, mailbox: &str, uids: &[u32]) -> Vec<u32> {
        let Some(index) = self.index(mailbox) else { return Vec::new() };
        let mut gone = Vec::new();
        for &uid in uids {
            if !self.mailboxes[index].messages.contains_key(&uid) {
                continue;
            }
            let modseq = self.next_modseq();
            let mailbox = &mut self.mailboxes[index];
            if let Some(message) = mailbox.messages.remove(&uid) {
                mailbox.kept.insert(uid, message);
                mailbox.tombstones.insert(uid, modseq);
                mailbox.highest_modseq = modseq;
                gone.push(uid);
            }
        }
        gone
    }

    /// Changes the flags of `uids` of `mailbox` as another session would.
    pub fn store(
        &mut self,
        mailbox: &str,
        uids: &[u32],
        mode: StoreMode,
        flags: SystemFlags,
        keywords: &[&str],
    ) {
        let Some(index) = self.index(mailbox) else { return };
        let keywords: Vec<String> = keywords.iter().map(|k| (*k).to_owned()).collect();
        self.store_in(index, uids, (mode, flags, &keywords), None);
    }

    fn store_in(
        &mut self,
        index: usize,
        uids: &[u32],
        (mode, flags, keywords): (StoreMode, SystemFlags, &[String]),
        unchanged_since: Option<u64>,
    ) -> (Vec<FlagFact>, Vec<u32>, Vec<u32>) {
        let (mut changed, mut failed, mut unchanged) = (Vec::new(), Vec::new(), Vec::new());
        for &uid in uids {
            let Some(message) = self.mailboxes[index].messages.get(&uid) else { continue };
            if unchanged_since.is_some_and(|limit| message.modseq > limit) {
                failed.push(uid);
                continue;
            }
            let (new_flags, new_keywords) =
                apply(mode, (message.flags, &message.keywords), (flags, keywords));
            if new_flags == message.flags && new_keywords == message.keywords {
                unchanged.push(uid);
                continue;
            }
            let modseq = self.next_modseq();
            let mailbox = &mut self.mailboxes[index];
            mailbox.highest_modseq = modseq;
            if let Some(message) = mailbox.messages.get_mut(&uid) {
                message.flags = new_flags;
                message.keywords = new_keywords;
                message.modseq = modseq;
                changed.push(fact(uid, message));
            }
        }
        (changed, failed, unchanged)
    }
}

fn apply(
    mode: StoreMode,
    current: (SystemFlags, &[String]),
    given: (SystemFlags, &[String]),
) -> (SystemFlags, Vec<String>) {
    let has = |list: &[String], k: &str| list.iter().any(|have| have.eq_ignore_ascii_case(k));
    match mode {
        StoreMode::Replace => (given.0, given.1.to_vec()),
        StoreMode::Add => {
            let mut keywords = current.1.to_vec();
            keywords.extend(given.1.iter().filter(|k| !has(current.1, k)).cloned());
            (current.0.union(given.0), keywords)
        }
        StoreMode::Remove => {
            let keywords = current.1.iter().filter(|k| !has(given.1, k)).cloned().collect();
            (SystemFlags(current.0.0 & !given.0.0), keywords)
        }
    }
}

fn fact(uid: u32, message: &Message) -> FlagFact {
    FlagFact { uid, modseq: message.modseq, flags: message.flags, keywords: message.keywords.clone() }
}

fn in_ranges(ranges: &[RangeInclusive<u32>], uid: u32) -> bool {
    ranges.iter().any(|range| range.contains(&uid))
}

/// An APPEND message: bytes, flags, keywords, INTERNALDATE.
type Appended = (Vec<u8>, SystemFlags, Vec<String>, Option<i64>);

/// One connection's storage side: the account, the selected mailbox, the APPEND in
/// progress, and what the connection wrote so far.
#[derive(Debug)]
pub struct Connection {
    /// The account.
    pub account: SharedAccount,
    selected: Option<usize>,
    /// The account version the session last saw.
    seen_version: u64,
    append: Vec<Appended>,
    append_current: Option<Appended>,
    append_target: Option<String>,
    /// Everything the session wrote.
    pub written: Vec<u8>,
}

impl Connection {
    /// A connection on `account`.
    pub fn new(account: SharedAccount) -> Connection {
        Connection {
            account,
            selected: None,
            seen_version: 0,
            append: Vec::new(),
            append_current: None,
            append_target: None,
            written: Vec::new(),
        }
    }

    /// The caller told the session about the account's changes itself, as the server's
    /// change events do ([`Session::messages_added`]): [`Connection::drive`] does not
    /// tell it again.
    pub fn seen_changes(&mut self) {
        self.seen_version = self.account.borrow().version;
    }

    /// Claims `\Recent` for the selected mailbox's messages up to `last`, as a sync
    /// with [`RecentMode::Claim`] does: the UIDs no session claimed before.
    pub fn claim_recent(&mut self, last: u32) -> Option<RangeInclusive<u32>> {
        let index = self.selected?;
        let mut account = self.account.borrow_mut();
        let mailbox = &mut account.mailboxes[index];
        if last <= mailbox.recent_mark {
            return None;
        }
        let claimed = mailbox.recent_mark + 1..=last;
        mailbox.recent_mark = last;
        Some(claimed)
    }

    /// Answers every event the session has, tells it about other sessions' changes,
    /// and collects its output, until it waits for input.
    pub fn drive(&mut self, session: &mut Session) {
        loop {
            let version = self.account.borrow().version;
            if self.selected.is_some() && version != self.seen_version {
                self.seen_version = version;
                session.mailbox_changed();
            }
            let event = match session.poll_event() {
                None => {
                    self.write_out(session);
                    return;
                }
                Some(Event::AppendData(bytes)) => {
                    if let Some(current) = self.append_current.as_mut() {
                        current.0.extend_from_slice(bytes);
                    }
                    continue;
                }
                Some(event) => event.detach(),
            };
            let Some(event) = event else { continue };
            let answer = self.handle(session, event);
            self.seen_version = self.account.borrow().version;
            if let Some(answer) = answer {
                session.answer(answer);
            }
        }
    }

    /// Collects the output (file segments from the message bytes; file reads answered
    /// from them too).
    pub fn write_out(&mut self, session: &mut Session) {
        while let Some(output) = session.pending_output() {
            let n = match output {
                Output::Read { file, offset, length } => {
                    let bytes = self.file_bytes(file);
                    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
                    let end =
                        usize::try_from(offset.saturating_add(length)).unwrap_or(usize::MAX).min(bytes.len());
                    session.file_read(&bytes[start..end]);
                    continue;
                }
                Output::Bytes(bytes) => {
                    self.written.extend_from_slice(bytes);
                    bytes.len() as u64
                }
                Output::File { file, offset, length } => {
                    let bytes = self.file_bytes(file);
                    let start = usize::try_from(offset).unwrap_or(usize::MAX).min(bytes.len());
                    let end =
                        usize::try_from(offset.saturating_add(length)).unwrap_or(usize::MAX).min(bytes.len());
                    self.written.extend_from_slice(&bytes[start..end]);
                    length
                }
            };
            session.advance_output(n);
        }
    }

    fn file_bytes(&self, id: u64) -> Rc<Vec<u8>> {
        let account = self.account.borrow();
        account
            .mailboxes
            .iter()
            .flat_map(|mailbox| mailbox.messages.values().chain(mailbox.kept.values()))
            .find(|message| message.id == id)
            .map(|message| Rc::clone(&message.bytes))
            .unwrap_or_default()
    }

    fn handle(&mut self, session: &mut Session, event: Event<'static>) -> Option<Answer> {
        match event {
            Event::StartTls => {
                session.tls_started(vec!["PLAIN".to_owned()]);
                None
            }
            Event::Compress => {
                // The bytes stay as they are: transcripts read the protocol, not DEFLATE.
                session.compression_started();
                None
            }
            Event::Login { username, password } => Some(self.login(&username, &password)),
            Event::Authenticate { mechanism, initial } => Some(self.authenticate(&mechanism, initial)),
            Event::AuthResponse(response) => Some(self.authenticate("PLAIN", Some(response))),
            Event::AuthCancelled | Event::AppendMessageEnd | Event::AppendData(_) | Event::Deselected => {
                self.no_answer(event);
                None
            }
            Event::Select { mailbox, read_only, recent, qresync } => {
                Some(self.select(&mailbox, read_only, recent, qresync))
            }
            Event::Sync { since_modseq, above_uid, expunges, recent } => {
                Some(Answer::Changes(self.changes(since_modseq, above_uid, expunges, recent)))
            }
            Event::Create { mailbox, special_use } => Some(self.create(&mailbox, special_use.as_deref())),
            Event::Delete { mailbox } => Some(self.delete(&mailbox)),
            Event::Rename { from, to } => Some(self.rename(&from, &to)),
            Event::Subscribe { mailbox, subscribed } => {
                let mut account = self.account.borrow_mut();
                if subscribed {
                    account.subscriptions.insert(mailbox);
                } else {
                    account.subscriptions.remove(&mailbox);
                }
                Some(Answer::Done)
            }
            Event::List { .. } => Some(Answer::Mailboxes(self.list())),
            Event::Status { mailbox, .. } => Some(self.status(&mailbox)),
            Event::FetchSeen(uids) => Some(self.fetch_seen(&uids)),
            Event::FetchChunk { plan, uids } => {
                self.fetch_chunk(session, &plan, &uids);
                Some(Answer::ChunkDone)
            }
            Event::ExpungedSince { since } => Some(Answer::Uids(self.expunged_since(since))),
            Event::ChangedSince { since, max } => Some(Answer::ChangedUids(self.changed_since(since, max))),
            Event::Search(program) => Some(Answer::Searched(self.search(&program))),
            Event::SearchMailbox { mailbox, program, view_given } => {
                Some(self.search_mailbox(&mailbox, &program, view_given))
            }
            Event::Sort { search, sort } => Some(Answer::Sorted(self.sort(&search, &sort))),
            Event::Thread { search, thread } => Some(Answer::Threaded(self.thread(&search, thread))),
            Event::Quota { mailbox } => Some(self.quota(mailbox.as_deref())),
            Event::GetMetadata { mailboxes } => Some(self.get_metadata(&mailboxes)),
            Event::SetMetadata { mailbox, entries } => Some(self.set_metadata(&mailbox, entries)),
            Event::Store { uids, mode, flags, keywords, unchanged_since, report_unchanged } => {
                Some(self.store(&uids, (mode, flags, &keywords), unchanged_since, report_unchanged))
            }
            Event::Copy { uids, mailbox, is_move } => Some(self.copy(&uids, &mailbox, is_move)),
            Event::Expunge { within } => Some(self.expunge(&within)),
            Event::AppendMessage { mailbox, flags, keywords, date_ms, .. } => {
                if self.account.borrow().index(&mailbox).is_none() {
                    return Some(Answer::Failed(CommandError::no_such_mailbox(&mailbox)));
                }
                self.append_target = Some(mailbox);
                self.append_current = Some((Vec::new(), flags, keywords, date_ms));
                Some(Answer::Accepted)
            }
            Event::CatenateUrl { url, mailbox, uidvalidity, uid, section, partial, user, bytes_max } => {
                let target = super::CatenateTarget { mailbox, uidvalidity, uid, section, partial, user };
                Some(self.catenate_url(&url, target, bytes_max))
            }
            Event::AppendEnd { store } => Some(self.append_end(store)),
            Event::UrlAuthKey { user, mailbox } => Some(self.urlauth_key(&user, &mailbox)),
            Event::ResetUrlAuthKeys { mailbox } => {
                let mut account = self.account.borrow_mut();
                match mailbox {
                    Some(name) => match account.index(&name) {
                        Some(index) => account.mailboxes[index].urlauth_key = None,
                        None => return Some(Answer::Failed(CommandError::no_such_mailbox(&name))),
                    },
                    None => account.mailboxes.iter_mut().for_each(|mailbox| mailbox.urlauth_key = None),
                }
                Some(Answer::Done)
            }
            Event::UrlFetch(url) => Some(Answer::UrlFetched(self.urlfetch(&url))),
        }
    }

    /// GENURLAUTH's key (RFC 4467 §5), as the real glue keeps it.
    fn urlauth_key(&mut self, user: &str, mailbox: &str) -> Answer {
        let mut account = self.account.borrow_mut();
        if user != account.user {
            return Answer::Failed(CommandError::no(ResponseCode::NoPerm, "URL names another user"));
        }
        let Some(index) = account.index(mailbox) else {
            return Answer::Failed(CommandError::no_such_mailbox(mailbox));
        };
        if let Some(key) = &account.mailboxes[index].urlauth_key {
            return Answer::UrlAuthKey(key.clone());
        }
        account.urlauth_keys_made = account.urlauth_keys_made.wrapping_add(1);
        let key = vec![account.urlauth_keys_made; 32];
        account.mailboxes[index].urlauth_key = Some(key.clone());
        Answer::UrlAuthKey(key)
    }

    /// URLFETCH of one URL (RFC 4467 §6): its pieces, or `None` for `NIL`.
    fn urlfetch(&self, url: &crate::imap::url::AuthUrl) -> Option<super::UrlContent> {
        use crate::imap::url::{UrlFetcher, urlauth_allows};
        let account = self.account.borrow();
        if url.message.user.as_deref() != Some(account.user.as_str()) {
            return None;
        }
        let mailbox = &account.mailboxes[account.index(&url.message.mailbox)?];
        let key = mailbox.urlauth_key.as_ref()?;
        let is_user = |name: &str| name == account.user;
        if !urlauth_allows(url, key, account.now_ms / 1000, UrlFetcher::Imap(&is_user)) {
            return None;
        }
        if url.message.uidvalidity.is_some_and(|uidvalidity| uidvalidity != mailbox.uidvalidity) {
            return None;
        }
        let message = mailbox.messages.get(&url.message.uid)?;
        let pieces = super::url_pieces(
            &[],
            message.bytes.len() as u64,
            Some(&message.summary),
            url.message.section.as_ref(),
            url.message.partial,
        );
        Some(super::UrlContent { file: message.id, pieces: pieces.ok()?? })
    }

    /// CATENATE's URL part (RFC 4469 §3): the named bytes, as the real glue finds them.
    fn catenate_url(&mut self, url: &str, target: super::CatenateTarget, bytes_max: u64) -> Answer {
        let account = self.account.borrow();
        if target.user.as_ref().is_some_and(|user| *user != account.user) {
            return Answer::Failed(CommandError::bad_url(url, "URL names another user"));
        }
        let Some(mailbox) = account.index(&target.mailbox).map(|index| &account.mailboxes[index]) else {
            return Answer::Failed(CommandError::bad_url(url, "no such mailbox"));
        };
        if target.uidvalidity.is_some_and(|uidvalidity| uidvalidity != mailbox.uidvalidity) {
            return Answer::Failed(CommandError::bad_url(url, "UIDVALIDITY differs"));
        }
        let Some(message) = mailbox.messages.get(&target.uid) else {
            return Answer::Failed(CommandError::bad_url(url, "no such message"));
        };
        let pieces = super::url_pieces(
            &[],
            message.bytes.len() as u64,
            Some(&message.summary),
            target.section.as_ref(),
            target.partial,
        );
        let pieces = match pieces {
            Ok(Some(pieces)) => pieces,
            Ok(None) => return Answer::Failed(CommandError::bad_url(url, "no such part")),
            Err(error) => return Answer::Failed(error),
        };
        let mut bytes = Vec::new();
        for piece in pieces {
            match piece {
                super::UrlPiece::Bytes(data) => bytes.extend_from_slice(&data),
                super::UrlPiece::File(range) => {
                    let start = usize::try_from(range.start).unwrap_or(usize::MAX).min(message.bytes.len());
                    let end = usize::try_from(range.end).unwrap_or(usize::MAX).min(message.bytes.len());
                    bytes.extend_from_slice(&message.bytes[start..end]);
                }
            }
        }
        if bytes.len() as u64 > bytes_max {
            return Answer::Failed(CommandError::no(ResponseCode::TooBig, "message larger than APPENDLIMIT"));
        }
        drop(account);
        let added = bytes.len() as u64;
        if let Some(current) = self.append_current.as_mut() {
            current.0.extend_from_slice(&bytes);
        }
        Answer::Catenated(added)
    }

    fn no_answer(&mut self, event: Event<'_>) {
        match event {
            Event::AppendMessageEnd => self.append.extend(self.append_current.take()),
            Event::Deselected => self.selected = None,
            _ => {}
        }
    }

    fn login(&self, user: &str, password: &str) -> Answer {
        let account = self.account.borrow();
        if user == account.user && password == account.password {
            Answer::LoggedIn
        } else {
            Answer::AuthFailed(AuthFailure::BadCredentials)
        }
    }

    /// PLAIN only (RFC 4616): `authzid NUL authcid NUL password`.
    fn authenticate(&self, mechanism: &str, response: Option<Vec<u8>>) -> Answer {
        if !mechanism.eq_ignore_ascii_case("PLAIN") {
            return Answer::Failed(CommandError::no(ResponseCode::Cannot, "unsupported mechanism"));
        }
        let Some(response) = response else { return Answer::AuthChallenge(Vec::new()) };
        let parts: Vec<&[u8]> = response.split(|&b| b == 0).collect();
        match parts.as_slice() {
            [_, user, password] => {
                self.login(&String::from_utf8_lossy(user), &String::from_utf8_lossy(password))
            }
            _ => Answer::AuthFailed(AuthFailure::Malformed),
        }
    }

    fn select(
        &mut self,
        name: &str,
        _read_only: bool,
        recent: RecentMode,
        qresync: Option<(u32, u64, Option<crate::imap::types::SequenceSet>)>,
    ) -> Answer {
        let mut account = self.account.borrow_mut();
        let Some(index) = account.index(name) else {
            return Answer::Failed(CommandError::no_such_mailbox(name));
        };
        self.selected = Some(index);
        let mailbox = &mut account.mailboxes[index];
        let highest = mailbox.messages.keys().last().copied().unwrap_or(0);
        let recent_range = match recent {
            RecentMode::None => None,
            RecentMode::Peek => (highest > mailbox.recent_mark).then(|| mailbox.recent_mark + 1..=highest),
            RecentMode::Claim => {
                let range = (highest > mailbox.recent_mark).then(|| mailbox.recent_mark + 1..=highest);
                mailbox.recent_mark = mailbox.recent_mark.max(highest);
                range
            }
        };
        let qresync = qresync.filter(|(uidvalidity, ..)| *uidvalidity == mailbox.uidvalidity).map(
            |(_, modseq, known)| QresyncFacts {
                vanished: mailbox
                    .tombstones
                    .iter()
                    .filter(|&(&uid, &when)| {
                        when > modseq && known.as_ref().is_none_or(|set| set.contains(uid, uid))
                    })
                    .map(|(&uid, _)| uid)
                    .collect(),
                changed: mailbox
                    .messages
                    .iter()
                    .filter(|(_, m)| m.modseq > modseq)
                    .map(|(&uid, m)| fact(uid, m))
                    .collect(),
            },
        );
        Answer::Selected(MailboxSnapshot {
            name: mailbox.name.clone(),
            mailbox_key: key_of(mailbox),
            uidvalidity: mailbox.uidvalidity,
            uidnext: mailbox.uidnext,
            highest_modseq: mailbox.highest_modseq,
            uids: UidList::from_sorted(mailbox.messages.keys().copied()),
            first_unseen: mailbox
                .messages
                .iter()
                .find(|(_, m)| !m.flags.contains(SystemFlags::SEEN))
                .map(|(&uid, _)| uid),
            recent: recent_range,
            qresync,
        })
    }

    fn changes(&mut self, since: u64, above: u32, expunges: bool, recent: RecentMode) -> MailboxChanges {
        let Some(index) = self.selected else { return MailboxChanges::default() };
        let mut account = self.account.borrow_mut();
        let mailbox = &mut account.mailboxes[index];
        let added: Vec<u32> =
            mailbox.messages.range(above.saturating_add(1)..).map(|(&uid, _)| uid).collect();
        let mut recent_range = None;
        if recent == RecentMode::Claim
            && let Some(&last) = added.last()
            && last > mailbox.recent_mark
        {
            recent_range = Some(mailbox.recent_mark + 1..=last);
            mailbox.recent_mark = last;
        }
        let (mut expunged, mut changed) = (Vec::new(), Vec::new());
        if expunges {
            expunged =
                mailbox.tombstones.iter().filter(|&(_, &when)| when > since).map(|(&uid, _)| uid).collect();
            changed = mailbox
                .messages
                .iter()
                .filter(|(_, m)| m.modseq > since)
                .map(|(&uid, m)| fact(uid, m))
                .collect();
        }
        MailboxChanges {
            highest_modseq: mailbox.highest_modseq,
            added,
            recent: recent_range,
            expunged,
            changed,
        }
    }

    fn create(&mut self, name: &str, special_use: Option<&str>) -> Answer {
        let special = match special_use {
            None => None,
            Some(asked) => match SPECIAL_USES.iter().find(|known| known.eq_ignore_ascii_case(asked)) {
                Some(known) => Some(*known),
                None => {
                    return Answer::Failed(CommandError::no(
                        ResponseCode::Cannot,
                        "special-use not supported",
                    ));
                }
            },
        };
        let mut account = self.account.borrow_mut();
        // CREATE makes missing parents, as the real store does.
        let mut parent = String::new();
        for (i, part) in name.split('/').enumerate() {
            if i > 0 {
                parent.push('/');
            }
            parent.push_str(part);
            if parent != name {
                account.create(&parent, None);
            }
        }
        if account.create(name, special)
            && let Some(index) = account.index(name)
        {
            Answer::Created(key_of(&account.mailboxes[index]))
        } else {
            Answer::Failed(CommandError::no(ResponseCode::AlreadyExists, "mailbox already exists"))
        }
    }

    fn delete(&mut self, name: &str) -> Answer {
        let mut account = self.account.borrow_mut();
        if name == "INBOX" {
            return Answer::Failed(CommandError::no(ResponseCode::Cannot, "INBOX cannot be deleted"));
        }
        let Some(index) = account.index(name) else {
            return Answer::Failed(CommandError::no_such_mailbox(name));
        };
        account.mailboxes.remove(index);
        account.version += 1;
        self.selected = self.selected.and_then(|selected| match selected.cmp(&index) {
            std::cmp::Ordering::Less => Some(selected),
            std::cmp::Ordering::Equal => None,
            std::cmp::Ordering::Greater => Some(selected - 1),
        });
        Answer::Done
    }

    fn rename(&mut self, from: &str, to: &str) -> Answer {
        let mut account = self.account.borrow_mut();
        if account.index(to).is_some() {
            return Answer::Failed(CommandError::no(ResponseCode::AlreadyExists, "mailbox already exists"));
        }
        let Some(index) = account.index(from) else {
            return Answer::Failed(CommandError::no_such_mailbox(from));
        };
        account.mailboxes[index].name = to.to_owned();
        account.version += 1;
        Answer::Done
    }

    fn get_metadata(&self, mailboxes: &[String]) -> Answer {
        let account = self.account.borrow();
        let scopes = mailboxes
            .iter()
            .map(|name| {
                if name.is_empty() {
                    let mut entries: Vec<(String, Vec<u8>)> =
                        account.server_metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                    if let Some(uri) = &account.admin_uri {
                        entries.push((super::SERVER_ADMIN_ENTRY.to_owned(), uri.clone().into_bytes()));
                        entries.sort();
                    }
                    return Some(entries);
                }
                let index = account.index(name)?;
                Some(account.mailboxes[index].metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
            })
            .collect();
        Answer::Metadata(scopes)
    }

    fn set_metadata(&mut self, mailbox: &str, entries: Vec<(String, Option<Vec<u8>>)>) -> Answer {
        let mut account = self.account.borrow_mut();
        let max = account.metadata_entries_max;
        let mut scope = if mailbox.is_empty() {
            account.server_metadata.clone()
        } else {
            match account.index(mailbox) {
                Some(index) => account.mailboxes[index].metadata.clone(),
                None => return Answer::Failed(CommandError::no_such_mailbox(mailbox)),
            }
        };
        for (name, value) in entries {
            match value {
                Some(value) => scope.insert(name, value),
                None => scope.remove(&name),
            };
        }
        if scope.len() > max {
            let code = ResponseCode::Metadata(crate::imap::response::MetadataCode::TooMany);
            return Answer::Failed(CommandError::no(code, "too many entries"));
        }
        match account.index(mailbox) {
            Some(index) => account.mailboxes[index].metadata = scope,
            None => account.server_metadata = scope,
        }
        account.version += 1;
        Answer::Done
    }

    fn facts(mailbox: &Mailbox) -> MailboxFacts {
        let count = |flag: SystemFlags, set: bool| {
            mailbox.messages.values().filter(|m| m.flags.contains(flag) == set).count() as u32
        };
        MailboxFacts {
            name: mailbox.name.clone(),
            special_use: mailbox.special_use,
            messages: mailbox.messages.len() as u32,
            recent: mailbox.messages.keys().filter(|&&uid| uid > mailbox.recent_mark).count() as u32,
            unseen: count(SystemFlags::SEEN, false),
            deleted: count(SystemFlags::DELETED, true),
            uidnext: mailbox.uidnext,
            uidvalidity: mailbox.uidvalidity,
            highest_modseq: mailbox.highest_modseq,
            size: mailbox.messages.values().map(|m| m.bytes.len() as u64).sum(),
            deleted_bytes: mailbox
                .messages
                .values()
                .filter(|m| m.flags.contains(SystemFlags::DELETED))
                .map(|m| m.bytes.len() as u64)
                .sum(),
            mailbox_key: key_of(mailbox),
        }
    }

    fn list(&self) -> MailboxList {
        let account = self.account.borrow();
        MailboxList {
            mailboxes: account.mailboxes.iter().map(Self::facts).collect(),
            subscriptions: account.subscriptions.iter().cloned().collect(),
        }
    }

    fn status(&self, name: &str) -> Answer {
        let account = self.account.borrow();
        match account.index(name) {
            Some(index) => Answer::Status(Self::facts(&account.mailboxes[index])),
            None => Answer::Failed(CommandError::no_such_mailbox(name)),
        }
    }

    fn fetch_seen(&mut self, uids: &[u32]) -> Answer {
        let Some(index) = self.selected else { return Answer::Failed(CommandError::Internal) };
        let mut account = self.account.borrow_mut();
        let (changed, ..) = account.store_in(index, uids, (StoreMode::Add, SystemFlags::SEEN, &[]), None);
        Answer::Stored(StoreOutcome { changed, ..StoreOutcome::default() })
    }

    fn fetch_chunk(&mut self, session: &mut Session, plan: &super::FetchPlan, uids: &[u32]) {
        let Some(index) = self.selected else { return };
        let account = Rc::clone(&self.account);
        let account = account.borrow();
        let mailbox = &account.mailboxes[index];
        for &uid in uids {
            let Some(message) = mailbox.messages.get(&uid).or_else(|| mailbox.kept.get(&uid)) else {
                continue;
            };
            let keywords: Vec<&str> = message.keywords.iter().map(String::as_str).collect();
            let summary = plan.needs_summary().then_some(message.summary.as_ref());
            let reads = plan.reads(message.bytes.len() as u64, summary);
            let loaded: Vec<(u64, &[u8])> = reads
                .iter()
                .filter_map(|range| {
                    let from = usize::try_from(range.start).ok()?;
                    let to = usize::try_from(range.end).ok()?;
                    Some((range.start, message.bytes.get(from..to)?))
                })
                .collect();
            let fetched = FetchMessage {
                facts: facts_of(uid, message, &keywords),
                summary,
                loaded: &loaded,
                file: message.id,
            };
            session.fetch_message(&fetched);
            if session.output_blocked() {
                self.write_out(session);
            }
        }
    }

    fn expunged_since(&self, since: u64) -> Vec<u32> {
        let Some(index) = self.selected else { return Vec::new() };
        let account = self.account.borrow();
        account.mailboxes[index]
            .tombstones
            .iter()
            .filter(|&(_, &when)| when > since)
            .map(|(&uid, _)| uid)
            .collect()
    }

    fn changed_since(&self, since: u64, max: usize) -> Option<Vec<u32>> {
        let Some(index) = self.selected else { return Some(Vec::new()) };
        let account = self.account.borrow();
        let mailbox = &account.mailboxes[index];
        let changed = mailbox.messages.iter().filter(|(_, m)| m.modseq > since).map(|(&uid, _)| uid);
        let gone = mailbox.tombstones.iter().filter(|&(_, &when)| when > since).map(|(&uid, _)| uid);
        let mut uids: Vec<u32> = changed.chain(gone).collect();
        uids.sort_unstable();
        uids.dedup();
        (uids.len() <= max).then_some(uids)
    }

    fn search(&self, program: &super::SearchProgram) -> Vec<SearchHit> {
        let Some(index) = self.selected else { return Vec::new() };
        self.search_in(index, program)
    }

    /// MULTISEARCH's search of one mailbox (RFC 7377).
    fn search_mailbox(&self, name: &str, program: &super::SearchProgram, view_given: bool) -> Answer {
        let Some(index) = self.account.borrow().index(name) else {
            return Answer::Failed(super::CommandError::no_such_mailbox(name));
        };
        let (uidvalidity, view) = {
            let account = self.account.borrow();
            let mailbox = &account.mailboxes[index];
            (mailbox.uidvalidity, super::UidList::from_sorted(mailbox.messages.keys().copied()))
        };
        let hits = if view_given {
            self.search_in(index, program)
        } else {
            self.search_in(index, &program.with_view(view))
        };
        Answer::MailboxSearched { uidvalidity, hits }
    }

    fn search_in(&self, index: usize, program: &super::SearchProgram) -> Vec<SearchHit> {
        let account = self.account.borrow();
        let mut hits = Vec::new();
        for (&uid, message) in &account.mailboxes[index].messages {
            let keywords: Vec<&str> = message.keywords.iter().map(String::as_str).collect();
            let facts = facts_of(uid, message, &keywords);
            let mut verdict = program.judge(&facts, None);
            if verdict == Verdict::NeedsContent {
                let header_end =
                    usize::try_from(message.summary.root.header.end).unwrap_or(0).min(message.bytes.len());
                let content = SearchContent {
                    date: message.summary.envelope.date.as_deref(),
                    subject: message.summary.envelope.subject.as_deref(),
                    header: &message.bytes[..header_end],
                    texts: &program.text_verdicts(&message.bytes, &message.summary),
                    thread_id: Some(&super::objectid::thread_id(
                        &message.summary.envelope,
                        message.summary.references.as_deref(),
                        message.id,
                    )),
                };
                verdict = program.judge(&facts, Some(&content));
            }
            if verdict == Verdict::Yes {
                hits.push(SearchHit { uid, modseq: message.modseq });
            }
        }
        hits
    }

    fn sort(&self, search: &super::SearchProgram, sort: &super::SortProgram) -> Vec<SearchHit> {
        let hits = self.search(search);
        let Some(index) = self.selected else { return Vec::new() };
        let account = self.account.borrow();
        let messages = &account.mailboxes[index].messages;
        let keyed: Vec<(SearchHit, &Message, Vec<u8>)> = hits
            .iter()
            .filter_map(|hit| {
                let message = messages.get(&hit.uid)?;
                let summary = &message.summary;
                let keys = ordering_keys::encode(
                    summary.date_unix_secs,
                    &summary.envelope,
                    summary.references.as_deref(),
                );
                Some((*hit, message, keys))
            })
            .collect();
        let records = keyed
            .iter()
            .filter_map(|(hit, message, keys)| {
                let keywords: Vec<&str> = message.keywords.iter().map(String::as_str).collect();
                let facts = facts_of(hit.uid, message, &keywords);
                let keys = ordering_keys::OrderingKeys::parse(keys)?;
                Some(sort.record(*hit, facts.internal_date_ms, facts.served_size(), keys))
            })
            .collect();
        sort.order(records)
    }

    fn quota(&self, mailbox: Option<&str>) -> Answer {
        let account = self.account.borrow();
        if let Some(name) = mailbox
            && account.index(name).is_none()
        {
            return Answer::Failed(CommandError::no_such_mailbox(name));
        }
        let messages = || account.mailboxes.iter().flat_map(|mailbox| mailbox.messages.values());
        let used_bytes = messages().map(|message| message.bytes.len() as u64).sum();
        Answer::Quota(super::QuotaFacts {
            used_bytes,
            limit_bytes: account.quota_bytes,
            used_messages: messages().count() as u64,
            limit_messages: account.quota_messages,
        })
    }

    fn thread(&self, search: &super::SearchProgram, thread: super::ThreadProgram) -> super::Threads {
        let hits = self.search(search);
        let Some(index) = self.selected else { return super::Threads::default() };
        let account = self.account.borrow();
        let messages = &account.mailboxes[index].messages;
        let keyed: Vec<(u32, i64, Vec<u8>)> = hits
            .iter()
            .filter_map(|hit| {
                let message = messages.get(&hit.uid)?;
                let facts = facts_of(hit.uid, message, &[]);
                let summary = &message.summary;
                let keys = ordering_keys::encode(
                    summary.date_unix_secs,
                    &summary.envelope,
                    summary.references.as_deref(),
                );
                Some((hit.uid, facts.internal_date_ms, keys))
            })
            .collect();
        let facts = keyed
            .iter()
            .filter_map(|(uid, date, keys)| {
                Some(thread.facts(*uid, *date, ordering_keys::OrderingKeys::parse(keys)?))
            })
            .collect();
        thread.thread(facts)
    }

    fn store(
        &mut self,
        uids: &[u32],
        change: (StoreMode, SystemFlags, &[String]),
        unchanged_since: Option<u64>,
        report_unchanged: bool,
    ) -> Answer {
        let Some(index) = self.selected else { return Answer::Failed(CommandError::Internal) };
        let mut account = self.account.borrow_mut();
        let (changed, failed, unchanged) = account.store_in(index, uids, change, unchanged_since);
        let unchanged = if report_unchanged {
            let mailbox = &account.mailboxes[index];
            unchanged.iter().filter_map(|uid| mailbox.messages.get(uid).map(|m| fact(*uid, m))).collect()
        } else {
            Vec::new()
        };
        Answer::Stored(StoreOutcome { changed, failed, unchanged })
    }

    fn copy(&mut self, uids: &[u32], target: &str, is_move: bool) -> Answer {
        let Some(from) = self.selected else { return Answer::Failed(CommandError::Internal) };
        let mut account = self.account.borrow_mut();
        let Some(to) = account.index(target) else {
            return Answer::Failed(CommandError::no_such_mailbox(target));
        };
        let mut outcome =
            CopyOutcome { uidvalidity: account.mailboxes[to].uidvalidity, ..CopyOutcome::default() };
        for &uid in uids {
            let Some(mut message) = account.mailboxes[from].messages.get(&uid).cloned() else { continue };
            message.modseq = account.next_modseq();
            if !is_move {
                account.next_id += 1;
                message.id = account.next_id;
            }
            let new_uid = account.insert(to, message);
            outcome.pairs.push((uid, new_uid));
            if is_move {
                let source = account.mailboxes[from].name.clone();
                outcome.expunged.extend(account.expunge(&source, &[uid]));
            }
        }
        Answer::Copied(outcome)
    }

    fn expunge(&mut self, within: &[RangeInclusive<u32>]) -> Answer {
        let Some(index) = self.selected else { return Answer::Failed(CommandError::Internal) };
        let mut account = self.account.borrow_mut();
        let mailbox = &account.mailboxes[index];
        let doomed: Vec<u32> = mailbox
            .messages
            .iter()
            .filter(|&(&uid, m)| in_ranges(within, uid) && m.flags.contains(SystemFlags::DELETED))
            .map(|(&uid, _)| uid)
            .collect();
        let name = mailbox.name.clone();
        let gone = account.expunge(&name, &doomed);
        let highest = account.mailboxes[index].highest_modseq;
        Answer::Expunged(gone, highest)
    }

    fn append_end(&mut self, store: bool) -> Answer {
        let messages = std::mem::take(&mut self.append);
        self.append_current = None;
        let target = self.append_target.take();
        if !store {
            return Answer::Done;
        }
        let mut account = self.account.borrow_mut();
        let Some(index) = target.and_then(|name| account.index(&name)) else {
            return Answer::Failed(CommandError::no(ResponseCode::NonExistent, "no such mailbox"));
        };
        let mut outcome =
            AppendOutcome { uidvalidity: account.mailboxes[index].uidvalidity, uids: Vec::new() };
        for (bytes, flags, keywords, date_ms) in messages {
            let modseq = account.next_modseq();
            account.next_id += 1;
            let message = Message {
                id: account.next_id,
                modseq,
                flags,
                keywords,
                internal_ms: date_ms.unwrap_or(account.now_ms),
                saved_ms: account.now_ms,
                summary: Rc::new(mime::summarize(&bytes)),
                bytes: Rc::new(bytes),
            };
            outcome.uids.push(account.insert(index, message));
        }
        Answer::Appended(outcome)
    }
}

/// The MAILBOXID key of a mailbox (RFC 8474 §4).
fn key_of(mailbox: &Mailbox) -> u64 {
    super::objectid::mailbox_key(mailbox.uidvalidity, mailbox.id)
}

fn facts_of<'a>(uid: u32, message: &'a Message, keywords: &'a [&'a str]) -> MessageFacts<'a> {
    MessageFacts {
        uid,
        modseq: message.modseq,
        flags: message.flags,
        keywords,
        internal_date_ms: message.internal_ms,
        save_date_ms: message.saved_ms,
        file_bytes: message.bytes.len() as u64,
        prefix: &[],
        email_id: message.id,
    }
}
