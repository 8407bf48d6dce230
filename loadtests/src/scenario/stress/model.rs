//! The client's model of one IMAP session for the `stress` scenario, and the rules it
//! checks the server's responses against. No IO and no clock: the session feeds it the
//! commands it sends and the responses it reads, and it returns [`Finding`]s.
//!
//! What it tracks (RFC 9051 §2.3, §5.2, §7; RFC 3501 §2.3, §5.2, §7): the connection state
//! (not authenticated, authenticated, selected, logout), whether IMAP4rev2 is enabled,
//! the command in progress, the selected mailbox's messages in sequence-number order with
//! each one's UID and flags when known, and the mailbox's `FLAGS` and `PERMANENTFLAGS`
//! lists. `EXISTS` appends messages, `EXPUNGE` removes one and renumbers those after it,
//! `FETCH` updates what is known of one.
//!
//! What is a violation ([`Kind`]): only what the RFCs forbid and a client cannot recover
//! from, checked so that legitimate differences between servers pass: unsolicited
//! `FETCH`, `EXISTS` and `FLAGS` at any time in the selected state (RFC 9051 §5.3; only
//! `EXPUNGE` is restricted), `RECENT` and `\Recent` from IMAP4rev1 sessions, data of a
//! message another session expunged (served or `NIL`), a `STORE` that changed nothing
//! sending no `FETCH`, several `FETCH` responses for one message.
//!
//! Findings about flags and expunges carry an [`Excuse`]: the same outcome is legitimate
//! when another session of the run changed that message at the same time. The model
//! cannot know that; the scenario's journal of concurrent changes decides.

use std::collections::BTreeSet;

use crate::imap::parse::{Condition, Fetch, Status, Untagged, Value};

/// Most messages one session's view may hold: the model keeps a few words per message,
/// and a stress mailbox holds tens. A server announcing more is refused, not followed.
pub(crate) const VIEW_MESSAGES_MAX: usize = 100_000;

/// A kind of protocol violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Kind {
    /// A `FETCH` for sequence number 0 or above the messages in view (RFC 9051 §7.5.2).
    SeqOutOfRange,
    /// An `EXPUNGE` of sequence number 0 or above the messages in view (RFC 9051 §7.5.1).
    ExpungeOutOfRange,
    /// An `EXISTS` below the messages in view: only `EXPUNGE` may shrink the mailbox
    /// (RFC 9051 §7.4.1, RFC 3501 §5.2).
    ExistsDecreased,
    /// A UID that changed for a message, or UIDs not ascending with sequence numbers
    /// (RFC 9051 §2.3.1.1).
    UidMismatch,
    /// `FETCH FLAGS` naming a keyword the mailbox's `FLAGS` response did not announce
    /// (RFC 3501 §7.2.6, RFC 9051 §7.3.5).
    UnannouncedKeyword,
    /// A `FETCH` of messages in view completed with `NO` or `BAD` (RFC 9051 §6.4.5).
    FetchFailed,
    /// A `FETCH` completed with `OK` but without an asked-for item of a message in view.
    FetchIncomplete,
    /// After `STORE`, the message's flags do not show the change, or no `FETCH` came for
    /// a change (RFC 9051 §6.4.6).
    StoreWrongFlags,
    /// After `EXPUNGE`/`UID EXPUNGE` completed, a message it removed is still in view
    /// (RFC 9051 §6.4.3, RFC 4315 §2.1).
    ExpungeNotReported,
    /// `SELECT` completed without `FLAGS`, `EXISTS` or `UIDVALIDITY` (RFC 9051 §6.3.2).
    SelectIncomplete,
    /// After the client's `LOGOUT`, a response other than `BYE` and the tagged `OK`
    /// (RFC 9051 §3.4, §6.1.3).
    AfterLogout,
    /// `LOGOUT` completed without a `BYE` first (RFC 9051 §6.1.3).
    LogoutWithoutBye,
    /// An untagged response the state or the command in progress does not allow:
    /// mailbox data outside the selected state, `EXPUNGE` during `FETCH`/`STORE` or with
    /// no command in progress (RFC 9051 §5.3, §7.5.1), `RECENT` to an IMAP4rev2 session,
    /// data no command asked for (a stray continuation request too).
    UntaggedNotAllowed,
    /// A response that does not follow the grammar (RFC 9051 §9), or an item of the wrong
    /// type, or a completion for a tag not in progress.
    Malformed,
}

impl Kind {
    /// Every kind, in report order.
    pub(crate) const ALL: [Kind; 14] = [
        Kind::SeqOutOfRange,
        Kind::ExpungeOutOfRange,
        Kind::ExistsDecreased,
        Kind::UidMismatch,
        Kind::UnannouncedKeyword,
        Kind::FetchFailed,
        Kind::FetchIncomplete,
        Kind::StoreWrongFlags,
        Kind::ExpungeNotReported,
        Kind::SelectIncomplete,
        Kind::AfterLogout,
        Kind::LogoutWithoutBye,
        Kind::UntaggedNotAllowed,
        Kind::Malformed,
    ];

    /// The name in the report.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::SeqOutOfRange => "seq_out_of_range",
            Kind::ExpungeOutOfRange => "expunge_out_of_range",
            Kind::ExistsDecreased => "exists_decreased",
            Kind::UidMismatch => "uid_mismatch",
            Kind::UnannouncedKeyword => "unannounced_keyword",
            Kind::FetchFailed => "fetch_failed",
            Kind::FetchIncomplete => "fetch_incomplete",
            Kind::StoreWrongFlags => "store_wrong_flags",
            Kind::ExpungeNotReported => "expunge_not_reported",
            Kind::SelectIncomplete => "select_incomplete",
            Kind::AfterLogout => "after_logout",
            Kind::LogoutWithoutBye => "logout_without_bye",
            Kind::UntaggedNotAllowed => "untagged_not_allowed",
            Kind::Malformed => "malformed",
        }
    }

    /// Whether the model no longer matches the server's view after this: sequence
    /// numbers or UIDs may be off, so later findings would be echoes of this one.
    pub(crate) fn desyncs(self) -> bool {
        matches!(
            self,
            Kind::SeqOutOfRange
                | Kind::ExpungeOutOfRange
                | Kind::ExistsDecreased
                | Kind::UidMismatch
                | Kind::Malformed
        )
    }
}

/// When a finding is not a violation: another session of the run changed one of `flags`
/// (lower case; empty: any) of the message with `uid` while this command ran, replaced its
/// flags, or expunged it at any time (its data may then be gone on the server while the
/// message is still in this session's view).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Excuse {
    /// The message.
    pub(crate) uid: u32,
    /// The flags concerned, lower case.
    pub(crate) flags: Vec<String>,
}

/// One rule broken (unless excused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    /// Which rule.
    pub(crate) kind: Kind,
    /// What exactly, for the sample.
    pub(crate) detail: String,
    /// When it is legitimate after all.
    pub(crate) excuse: Option<Excuse>,
}

/// Flag names, lower case (flags and keywords are compared without regard to case).
pub(crate) type Flags = BTreeSet<String>;

/// A STORE's change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FlagChange {
    /// `+FLAGS`.
    Add(Flags),
    /// `-FLAGS`.
    Remove(Flags),
    /// `FLAGS`.
    Replace(Flags),
}

impl FlagChange {
    /// `flags` after this change (`\Recent` kept: STORE cannot change it).
    pub(crate) fn apply(&self, flags: &Flags) -> Flags {
        match self {
            FlagChange::Add(add) => flags.union(add).cloned().collect(),
            FlagChange::Remove(remove) => flags.difference(remove).cloned().collect(),
            FlagChange::Replace(new) => {
                let mut out = new.clone();
                out.extend(flags.iter().filter(|f| *f == RECENT).cloned());
                out
            }
        }
    }
}

/// `\Recent`, lower case: set by the server only, and only for IMAP4rev1 sessions.
const RECENT: &str = "\\recent";

/// A command, as the model needs to know it. Messages are named by `keys`: sequence
/// numbers for FETCH and STORE (stable while they run, since no EXPUNGE may be sent
/// then), UIDs for their UID forms and for EXPUNGE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    /// LOGIN.
    Login,
    /// CAPABILITY.
    Capability,
    /// ENABLE (RFC 5161).
    Enable,
    /// SELECT.
    Select,
    /// FETCH or UID FETCH; `items` are the response item names each message must get.
    Fetch {
        /// UID FETCH.
        by_uid: bool,
        /// Sequence numbers or UIDs.
        keys: Vec<u32>,
        /// Response item names, upper case (`BODY[1]` for `BODY.PEEK[1]`).
        items: Vec<&'static str>,
    },
    /// STORE or UID STORE.
    Store {
        /// UID STORE.
        by_uid: bool,
        /// Sequence numbers or UIDs.
        keys: Vec<u32>,
        /// `.SILENT`.
        silent: bool,
        /// The change.
        change: FlagChange,
    },
    /// EXPUNGE or UID EXPUNGE; `uids` are the messages it must remove from view.
    Expunge {
        /// UIDs of messages this session marked `\Deleted` to be expunged.
        uids: Vec<u32>,
    },
    /// APPEND.
    Append,
    /// NOOP.
    Noop,
    /// LOGOUT.
    Logout,
}

/// The connection's state (RFC 9051 §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// Before LOGIN.
    NotAuthenticated,
    /// Logged in, no mailbox.
    Authenticated,
    /// A mailbox selected.
    Selected,
    /// LOGOUT completed.
    Logout,
}

/// What the client knows of one message in view.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Message {
    /// Its UID, once a FETCH said.
    pub(crate) uid: Option<u32>,
    /// Its flags, once a FETCH said (lower case).
    pub(crate) flags: Option<Flags>,
}

/// What a response means for the session beyond findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Go on.
    Continue,
    /// The server said BYE outside LOGOUT: it is closing the connection.
    Bye(String),
    /// The server announced more messages than [`VIEW_MESSAGES_MAX`].
    TooLarge(u32),
}

/// What arrived while the current command ran, for the checks at its completion.
#[derive(Debug, Clone, Default)]
struct Seen {
    /// SELECT: FLAGS, EXISTS, UIDVALIDITY.
    flags: bool,
    exists: bool,
    uidvalidity: bool,
    /// LOGOUT: BYE.
    bye: bool,
    /// FETCH: per key, the asked-for items that arrived (bit i for item i).
    items: Vec<(u32, u32)>,
    /// STORE: per key, the flags its last FETCH showed, and the flags known before.
    stored: Vec<(u32, Option<Flags>)>,
    before: Vec<(u32, Option<Flags>)>,
}

/// The model of one session.
#[derive(Debug, Clone)]
pub(crate) struct Model {
    state: State,
    rev2: bool,
    command: Option<Command>,
    seen: Seen,
    messages: Vec<Message>,
    /// The last FLAGS response, lower case.
    mailbox_flags: Flags,
    /// The last PERMANENTFLAGS code (lower case), and whether it held `\*`; `None` when
    /// the server sent none (then every flag is permanent, RFC 9051 §7.1).
    permanent: Option<(Flags, bool)>,
    desynced: bool,
}

impl Model {
    /// A session after a greeting: `preauth` for `* PREAUTH`.
    pub(crate) fn new(preauth: bool) -> Model {
        Model {
            state: if preauth { State::Authenticated } else { State::NotAuthenticated },
            rev2: false,
            command: None,
            seen: Seen::default(),
            messages: Vec::new(),
            mailbox_flags: Flags::new(),
            permanent: None,
            desynced: false,
        }
    }

    /// The connection state.
    #[cfg(test)]
    pub(crate) fn state(&self) -> State {
        self.state
    }

    /// Whether ENABLE IMAP4rev2 succeeded.
    pub(crate) fn rev2(&self) -> bool {
        self.rev2
    }

    /// Messages in view.
    pub(crate) fn count(&self) -> u32 {
        // Lossless: the view is capped at VIEW_MESSAGES_MAX.
        self.messages.len() as u32
    }

    /// The messages in view, by sequence number - 1.
    pub(crate) fn messages(&self) -> &[Message] {
        &self.messages
    }

    /// Whether a finding showed that sequence numbers or UIDs may no longer match the
    /// server's: the session should end rather than report echoes.
    pub(crate) fn desynced(&self) -> bool {
        self.desynced
    }

    /// Whether `flag` (lower case) can be set permanently (RFC 9051 §7.1 PERMANENTFLAGS).
    pub(crate) fn permanent(&self, flag: &str) -> bool {
        match &self.permanent {
            None => true,
            Some((flags, any)) => flags.contains(flag) || (*any && !flag.starts_with('\\')),
        }
    }

    /// The sequence number (1-based) of the message with `uid`.
    pub(crate) fn seq_of_uid(&self, uid: u32) -> Option<u32> {
        // Lossless: the view is capped at VIEW_MESSAGES_MAX.
        self.messages.iter().position(|m| m.uid == Some(uid)).map(|i| i as u32 + 1)
    }

    /// A command was sent.
    pub(crate) fn begin(&mut self, command: Command) {
        self.seen = Seen::default();
        match &command {
            Command::Select => {
                self.messages.clear();
                self.mailbox_flags.clear();
                self.permanent = None;
            }
            Command::Store { keys, .. } => {
                self.seen.before = keys.iter().map(|&key| (key, self.flags_of(key, &command))).collect();
            }
            _ => {}
        }
        self.command = Some(command);
    }

    fn flags_of(&self, key: u32, command: &Command) -> Option<Flags> {
        self.index_of(key, command).and_then(|index| self.messages[index].flags.clone())
    }

    /// The index in view of a command's key, if the message is (still) in view.
    fn index_of(&self, key: u32, command: &Command) -> Option<usize> {
        let by_uid = match command {
            Command::Fetch { by_uid, .. } | Command::Store { by_uid, .. } => *by_uid,
            Command::Expunge { .. } => true,
            _ => return None,
        };
        if by_uid {
            self.messages.iter().position(|m| m.uid == Some(key))
        } else {
            let index = (key as usize).checked_sub(1)?;
            (index < self.messages.len()).then_some(index)
        }
    }

    fn mailbox_open(&self) -> bool {
        self.state == State::Selected || self.command == Some(Command::Select)
    }

    fn push(&mut self, out: &mut Vec<Finding>, kind: Kind, detail: String, excuse: Option<Excuse>) {
        if kind.desyncs() {
            self.desynced = true;
        }
        out.push(Finding { kind, detail, excuse });
    }

    /// An untagged response arrived (with the command from [`Model::begin`] in progress,
    /// or none after [`Model::complete`]).
    pub(crate) fn untagged(&mut self, response: &Untagged, out: &mut Vec<Finding>) -> Flow {
        if self.state == State::Logout || self.command == Some(Command::Logout) {
            return self.during_logout(response, out);
        }
        match response {
            Untagged::State { condition: Condition::Bye, text, .. } => return Flow::Bye(text.clone()),
            Untagged::State { condition: Condition::Preauth, .. } => {
                self.not_allowed(out, "PREAUTH after the greeting");
            }
            Untagged::State { code: Some(code), .. } => self.response_code(code, out),
            Untagged::State { .. } | Untagged::Capability(_) => {}
            Untagged::Exists(n) => return self.exists(*n, out),
            Untagged::Recent(n) => self.recent(*n, out),
            Untagged::Expunge(n) => self.expunge(*n, out),
            Untagged::Fetch(fetch) => self.fetch(fetch, out),
            Untagged::Search(_) | Untagged::Esearch(_) | Untagged::Status { .. } => {
                self.not_allowed(out, "SEARCH/ESEARCH/STATUS data no command asked for");
            }
            Untagged::Other { keyword, rest } => self.other(keyword, rest, out),
        }
        Flow::Continue
    }

    fn during_logout(&mut self, response: &Untagged, out: &mut Vec<Finding>) -> Flow {
        let bye = matches!(response, Untagged::State { condition: Condition::Bye, .. });
        if bye && self.state != State::Logout && !self.seen.bye {
            self.seen.bye = true;
        } else {
            let what = if self.state == State::Logout { "after LOGOUT completed" } else { "during LOGOUT" };
            self.push(out, Kind::AfterLogout, format!("{} {what}", describe(response)), None);
        }
        Flow::Continue
    }

    fn not_allowed(&mut self, out: &mut Vec<Finding>, what: &str) {
        let context = match &self.command {
            Some(command) => format!("during {}", command_name(command)),
            None => "with no command in progress".to_string(),
        };
        let detail = format!("{what} {context} in state {:?}", self.state);
        self.push(out, Kind::UntaggedNotAllowed, detail, None);
    }

    fn response_code(&mut self, code: &str, out: &mut Vec<Finding>) {
        let (name, rest) = code.split_once(' ').unwrap_or((code, ""));
        match name.to_ascii_uppercase().as_str() {
            "PERMANENTFLAGS" => match parse_flag_text(rest) {
                Some(flags) => {
                    let any = flags.contains("\\*");
                    self.permanent = Some((flags, any));
                }
                None => self.push(out, Kind::Malformed, format!("PERMANENTFLAGS {rest}"), None),
            },
            "UIDVALIDITY" if self.command == Some(Command::Select) => self.seen.uidvalidity = true,
            _ => {}
        }
    }

    fn exists(&mut self, n: u32, out: &mut Vec<Finding>) -> Flow {
        if !self.mailbox_open() {
            self.not_allowed(out, &format!("* {n} EXISTS"));
            return Flow::Continue;
        }
        self.seen.exists |= self.command == Some(Command::Select);
        let count = self.count();
        if n < count {
            let detail = format!("* {n} EXISTS with {count} messages in view");
            self.push(out, Kind::ExistsDecreased, detail, None);
            self.messages.truncate(n as usize);
        } else if n as usize > VIEW_MESSAGES_MAX {
            return Flow::TooLarge(n);
        } else {
            self.messages.resize(n as usize, Message::default());
        }
        Flow::Continue
    }

    fn recent(&mut self, n: u32, out: &mut Vec<Finding>) {
        if !self.mailbox_open() {
            self.not_allowed(out, &format!("* {n} RECENT"));
        } else if self.rev2 {
            // RFC 9051 has no RECENT response; it is IMAP4rev1's (RFC 3501 §7.3.2).
            self.not_allowed(out, &format!("* {n} RECENT to an IMAP4rev2 session"));
        }
    }

    fn expunge(&mut self, n: u32, out: &mut Vec<Finding>) {
        if !self.mailbox_open() {
            self.not_allowed(out, &format!("* {n} EXPUNGE"));
            return;
        }
        let forbidden = match &self.command {
            None => true,
            Some(Command::Fetch { by_uid, .. } | Command::Store { by_uid, .. }) => !by_uid,
            Some(_) => false,
        };
        if forbidden {
            self.not_allowed(out, &format!("* {n} EXPUNGE"));
        }
        let count = self.count();
        if n == 0 || n > count {
            let detail = format!("* {n} EXPUNGE with {count} messages in view");
            self.push(out, Kind::ExpungeOutOfRange, detail, None);
            return;
        }
        self.messages.remove(n as usize - 1);
    }

    fn other(&mut self, keyword: &str, rest: &str, out: &mut Vec<Finding>) {
        match keyword {
            "FLAGS" if self.mailbox_open() => match parse_flag_text(rest) {
                Some(flags) => {
                    self.seen.flags |= self.command == Some(Command::Select);
                    self.mailbox_flags = flags;
                }
                None => self.push(out, Kind::Malformed, format!("* FLAGS {rest}"), None),
            },
            "ENABLED" if self.command == Some(Command::Enable) => {
                self.rev2 |= rest.split_ascii_whitespace().any(|c| c.eq_ignore_ascii_case("IMAP4rev2"));
            }
            // RFC 9051 §6.3.2: SELECT returns the mailbox's LIST response.
            "LIST" if self.command == Some(Command::Select) => {}
            _ => self.not_allowed(out, &format!("* {keyword}")),
        }
    }

    fn fetch(&mut self, fetch: &Fetch, out: &mut Vec<Finding>) {
        let seq = fetch.seq;
        if !self.mailbox_open() {
            self.not_allowed(out, &format!("* {seq} FETCH"));
            return;
        }
        let count = self.count();
        if seq == 0 || seq > count {
            let detail = format!("* {seq} FETCH with {count} messages in view");
            self.push(out, Kind::SeqOutOfRange, detail, None);
            return;
        }
        let index = seq as usize - 1;
        if let Some(value) = fetch.get("UID") {
            match value.number().and_then(|n| u32::try_from(n).ok()).filter(|&n| n > 0) {
                Some(uid) => self.fetched_uid(index, uid, out),
                None => self.push(out, Kind::Malformed, format!("* {seq} FETCH UID {value:?}"), None),
            }
        }
        if let Some(value) = fetch.get("FLAGS") {
            match flag_list(value) {
                Some(flags) => self.fetched_flags(index, flags, out),
                None => self.push(out, Kind::Malformed, format!("* {seq} FETCH FLAGS {value:?}"), None),
            }
        }
        for (name, value) in &fetch.items {
            if name != "UID" && name != "FLAGS" && !item_type_ok(name, value) {
                let detail = format!("* {seq} FETCH {name} is {}", type_name(value));
                self.push(out, Kind::Malformed, detail, None);
            }
        }
        self.note_fetch(index, fetch);
    }

    fn fetched_uid(&mut self, index: usize, uid: u32, out: &mut Vec<Finding>) {
        let seq = index + 1;
        if let Some(known) = self.messages[index].uid
            && known != uid
        {
            let detail = format!("message {seq} had UID {known}, now UID {uid}");
            self.push(out, Kind::UidMismatch, detail, None);
        }
        let before = index.checked_sub(1).and_then(|i| self.messages[i].uid);
        let after = self.messages.get(index + 1).and_then(|m| m.uid);
        if before.is_some_and(|b| b >= uid) || after.is_some_and(|a| a <= uid) {
            let detail = format!("UID {uid} for message {seq} between UIDs {before:?} and {after:?}");
            self.push(out, Kind::UidMismatch, detail, None);
        }
        self.messages[index].uid = Some(uid);
    }

    fn fetched_flags(&mut self, index: usize, flags: Flags, out: &mut Vec<Finding>) {
        for keyword in flags.iter().filter(|f| !f.starts_with('\\')) {
            if !self.mailbox_flags.contains(keyword) {
                let detail = format!("message {} has keyword {keyword}, not in FLAGS", index + 1);
                self.push(out, Kind::UnannouncedKeyword, detail, None);
            }
        }
        self.messages[index].flags = Some(flags);
    }

    /// Records, for the command in progress, what this FETCH response brought.
    fn note_fetch(&mut self, index: usize, fetch: &Fetch) {
        let Some(command) = &self.command else { return };
        let by_uid = match command {
            Command::Fetch { by_uid, .. } | Command::Store { by_uid, .. } => *by_uid,
            _ => return,
        };
        let key = if by_uid {
            match self.messages[index].uid {
                Some(uid) => uid,
                None => return,
            }
        } else {
            // Lossless: the view is capped at VIEW_MESSAGES_MAX.
            index as u32 + 1
        };
        match command {
            Command::Fetch { keys, items, .. } if keys.contains(&key) => {
                let mut bits = 0u32;
                for (bit, item) in items.iter().enumerate() {
                    if fetch.get(item).is_some() {
                        bits |= 1 << bit;
                    }
                }
                match self.seen.items.iter_mut().find(|(k, _)| *k == key) {
                    Some((_, seen)) => *seen |= bits,
                    None => self.seen.items.push((key, bits)),
                }
            }
            Command::Store { keys, .. } if keys.contains(&key) && fetch.get("FLAGS").is_some() => {
                let flags = self.messages[index].flags.clone();
                self.seen.stored.retain(|(k, _)| *k != key);
                self.seen.stored.push((key, flags));
            }
            _ => {}
        }
    }

    /// The command in progress completed with `status`.
    pub(crate) fn complete(&mut self, status: Status, text: &str, out: &mut Vec<Finding>) {
        let Some(command) = self.command.take() else { return };
        match (&command, status) {
            (Command::Login, Status::Ok) => self.state = State::Authenticated,
            (Command::Select, Status::Ok) => self.selected(out),
            (Command::Select, _) => {
                self.state = State::Authenticated;
                self.messages.clear();
            }
            (Command::Fetch { .. }, _) => self.fetch_completed(&command, status, text, out),
            (Command::Store { .. }, Status::Ok) => self.store_completed(&command, out),
            (Command::Expunge { uids }, Status::Ok) => {
                for &uid in uids {
                    if let Some(seq) = self.seq_of_uid(uid) {
                        let detail =
                            format!("UID {uid} (message {seq}) still in view after EXPUNGE completed");
                        let excuse = Excuse { uid, flags: vec!["\\deleted".to_string()] };
                        self.push(out, Kind::ExpungeNotReported, detail, Some(excuse));
                    }
                }
            }
            (Command::Logout, Status::Ok) => {
                if !self.seen.bye {
                    self.push(out, Kind::LogoutWithoutBye, "tagged OK without * BYE".to_string(), None);
                }
                self.state = State::Logout;
            }
            _ => {}
        }
    }

    fn selected(&mut self, out: &mut Vec<Finding>) {
        self.state = State::Selected;
        let missing: Vec<&str> = [
            (self.seen.flags, "FLAGS"),
            (self.seen.exists, "EXISTS"),
            (self.seen.uidvalidity, "OK [UIDVALIDITY]"),
        ]
        .into_iter()
        .filter_map(|(seen, name)| (!seen).then_some(name))
        .collect();
        if !missing.is_empty() {
            self.push(out, Kind::SelectIncomplete, format!("no {}", missing.join(", ")), None);
        }
    }

    fn fetch_completed(&mut self, command: &Command, status: Status, text: &str, out: &mut Vec<Finding>) {
        let Command::Fetch { keys, items, .. } = command else { return };
        let in_view: Vec<u32> =
            keys.iter().copied().filter(|&k| self.index_of(k, command).is_some()).collect();
        if status != Status::Ok {
            if !in_view.is_empty() {
                let detail =
                    format!("{} {status} {text} for messages in view {in_view:?}", command_name(command));
                self.push(out, Kind::FetchFailed, detail, None);
            }
            return;
        }
        for key in in_view {
            let seen = self.seen.items.iter().find(|(k, _)| *k == key).map_or(0, |(_, bits)| *bits);
            let missing: Vec<&str> = items
                .iter()
                .enumerate()
                .filter(|(bit, _)| seen & (1 << bit) == 0)
                .map(|(_, item)| *item)
                .collect();
            if !missing.is_empty() {
                let detail = format!("{} {key}: no {}", command_name(command), missing.join(", "));
                self.push(out, Kind::FetchIncomplete, detail, None);
            }
        }
    }

    fn store_completed(&mut self, command: &Command, out: &mut Vec<Finding>) {
        let Command::Store { keys, silent, change, .. } = command else { return };
        for &key in keys {
            let Some(index) = self.index_of(key, command) else { continue };
            let Some(uid) = self.messages[index].uid else { continue };
            let stored = self.seen.stored.iter().find(|(k, _)| *k == key).map(|(_, flags)| flags.clone());
            let before = self.seen.before.iter().find(|(k, _)| *k == key).and_then(|(_, f)| f.clone());
            match stored {
                Some(Some(flags)) if !silent => {
                    let wrong = self.wrong_flags(change, &flags);
                    if !wrong.is_empty() {
                        let detail = format!(
                            "message {} (UID {uid}) has FLAGS ({}) after {}",
                            index + 1,
                            join(&flags),
                            store_text(change)
                        );
                        self.push(out, Kind::StoreWrongFlags, detail, Some(Excuse { uid, flags: wrong }));
                    }
                }
                Some(_) => {}
                None if !silent => {
                    let Some(before) = before else { continue };
                    let changed = self.changed_flags(change, &before);
                    if !changed.is_empty() {
                        let detail = format!(
                            "no FETCH FLAGS for message {} (UID {uid}) after {} changed ({})",
                            index + 1,
                            store_text(change),
                            changed.join(" ")
                        );
                        self.push(out, Kind::StoreWrongFlags, detail, Some(Excuse { uid, flags: changed }));
                    }
                }
                None => {
                    if let Some(before) = before {
                        self.messages[index].flags = Some(change.apply(&before));
                    }
                }
            }
        }
    }

    /// Flags in `shown` that contradict `change` (those it could keep permanently).
    fn wrong_flags(&self, change: &FlagChange, shown: &Flags) -> Vec<String> {
        let shown: Flags = shown.iter().filter(|f| *f != RECENT).cloned().collect();
        let wrong: Vec<String> = match change {
            FlagChange::Add(add) => add.difference(&shown).cloned().collect(),
            FlagChange::Remove(remove) => remove.intersection(&shown).cloned().collect(),
            FlagChange::Replace(new) => new.symmetric_difference(&shown).cloned().collect(),
        };
        wrong.into_iter().filter(|flag| self.permanent(flag)).collect()
    }

    /// Flags `change` alters relative to `before` (those it could keep permanently).
    fn changed_flags(&self, change: &FlagChange, before: &Flags) -> Vec<String> {
        let after = change.apply(before);
        before.symmetric_difference(&after).filter(|flag| self.permanent(flag)).cloned().collect()
    }

    /// A response after LOGOUT completed (the server should have closed).
    pub(crate) fn after_close(&mut self, what: String, out: &mut Vec<Finding>) {
        self.push(out, Kind::AfterLogout, format!("{what} after LOGOUT completed"), None);
    }

    /// A continuation request no literal waits for.
    pub(crate) fn stray_continuation(&mut self, out: &mut Vec<Finding>) {
        self.not_allowed(out, "continuation request");
    }

    /// A completion for a tag that is not in progress.
    pub(crate) fn stray_completion(&mut self, tag: &str, out: &mut Vec<Finding>) {
        let detail = format!("completion for tag {tag}, which is not in progress");
        self.push(out, Kind::Malformed, detail, None);
    }

    /// A response that did not parse.
    pub(crate) fn unparsable(&mut self, error: &str, out: &mut Vec<Finding>) {
        self.push(out, Kind::Malformed, error.to_string(), None);
    }
}

/// A short name of a command for details.
fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Login => "LOGIN",
        Command::Capability => "CAPABILITY",
        Command::Enable => "ENABLE",
        Command::Select => "SELECT",
        Command::Fetch { by_uid: false, .. } => "FETCH",
        Command::Fetch { by_uid: true, .. } => "UID FETCH",
        Command::Store { by_uid: false, .. } => "STORE",
        Command::Store { by_uid: true, .. } => "UID STORE",
        Command::Expunge { .. } => "EXPUNGE",
        Command::Append => "APPEND",
        Command::Noop => "NOOP",
        Command::Logout => "LOGOUT",
    }
}

fn store_text(change: &FlagChange) -> String {
    let (sign, flags) = match change {
        FlagChange::Add(flags) => ("+", flags),
        FlagChange::Remove(flags) => ("-", flags),
        FlagChange::Replace(flags) => ("", flags),
    };
    format!("STORE {sign}FLAGS ({})", join(flags))
}

fn join(flags: &Flags) -> String {
    flags.iter().map(String::as_str).collect::<Vec<_>>().join(" ")
}

/// A one-line description of an untagged response for details.
fn describe(response: &Untagged) -> String {
    match response {
        Untagged::State { condition, code, .. } => {
            format!("* {condition:?} [{}]", code.as_deref().unwrap_or(""))
        }
        Untagged::Capability(_) => "* CAPABILITY".to_string(),
        Untagged::Exists(n) => format!("* {n} EXISTS"),
        Untagged::Recent(n) => format!("* {n} RECENT"),
        Untagged::Expunge(n) => format!("* {n} EXPUNGE"),
        Untagged::Fetch(fetch) => format!("* {} FETCH", fetch.seq),
        Untagged::Search(_) => "* SEARCH".to_string(),
        Untagged::Esearch(_) => "* ESEARCH".to_string(),
        Untagged::Status { .. } => "* STATUS".to_string(),
        Untagged::Other { keyword, .. } => format!("* {keyword}"),
    }
}

/// A FETCH FLAGS value: a list of atoms (lower-cased).
fn flag_list(value: &Value) -> Option<Flags> {
    let Value::List(items) = value else { return None };
    items
        .iter()
        .map(|item| match item {
            Value::Atom(atom) => Some(atom.to_ascii_lowercase()),
            _ => None,
        })
        .collect()
}

/// A flag list as text, `(\Seen $Junk \*)` (FLAGS response, PERMANENTFLAGS code).
fn parse_flag_text(text: &str) -> Option<Flags> {
    let inner = text.trim().strip_prefix('(')?.strip_suffix(')')?;
    let flags: Flags = inner.split_ascii_whitespace().map(str::to_ascii_lowercase).collect();
    let atom_chars = |f: &String| !f.bytes().any(|b| matches!(b, b'(' | b')' | b'{' | b'"' | b'%' | b']'));
    flags.iter().all(atom_chars).then_some(flags)
}

/// Whether a FETCH item has the type RFC 9051 §7.5.2 gives it.
fn item_type_ok(name: &str, value: &Value) -> bool {
    match name {
        "UID" | "RFC822.SIZE" => matches!(value, Value::Number(_)),
        "FLAGS" | "BODYSTRUCTURE" | "BODY" => matches!(value, Value::List(_)),
        "ENVELOPE" => matches!(value, Value::List(items) if items.len() == 10),
        "INTERNALDATE" => matches!(value, Value::String(_)),
        _ if name.starts_with("BODY[") || name.starts_with("BINARY[") => {
            matches!(value, Value::String(_) | Value::Nil)
        }
        _ => true,
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Atom(_) => "an atom",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::List(_) => "a list",
        Value::Nil => "NIL",
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::imap::parse::{Response, parse_response, response_length};

    /// Feeds server lines (each a complete response) to the model; returns the findings.
    fn feed(model: &mut Model, input: &str) -> Vec<Finding> {
        let mut out = Vec::new();
        let mut rest = input.as_bytes();
        while !rest.is_empty() {
            let length = response_length(rest).unwrap().expect("complete response");
            match parse_response(&rest[..length]).unwrap() {
                Response::Untagged(untagged) => {
                    let flow = model.untagged(&untagged, &mut out);
                    assert_eq!(flow, Flow::Continue, "{untagged:?}");
                }
                Response::Tagged { status, text, .. } => model.complete(status, &text, &mut out),
                Response::Continuation(_) => model.stray_continuation(&mut out),
            }
            rest = &rest[length..];
        }
        out
    }

    fn kinds(findings: &[Finding]) -> Vec<Kind> {
        findings.iter().map(|f| f.kind).collect()
    }

    fn flags(names: &[&str]) -> Flags {
        names.iter().map(|n| n.to_ascii_lowercase()).collect()
    }

    /// A session logged in with INBOX selected: 3 messages, UIDs 10, 11, 12, keyword
    /// `work` announced, flags known after FETCH 1:3 (UID FLAGS).
    fn selected() -> Model {
        let mut model = Model::new(false);
        model.begin(Command::Login);
        assert!(feed(&mut model, "a1 OK [CAPABILITY IMAP4rev1] done\r\n").is_empty());
        model.begin(Command::Select);
        let select = "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft work)\r\n\
            * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft work \\*)] ok\r\n\
            * 3 EXISTS\r\n* 1 RECENT\r\n* OK [UIDVALIDITY 7] v\r\n* OK [UIDNEXT 13] n\r\n\
            a2 OK [READ-WRITE] done\r\n";
        assert!(feed(&mut model, select).is_empty());
        model.begin(Command::Fetch { by_uid: false, keys: vec![1, 2, 3], items: vec!["UID", "FLAGS"] });
        let fetch = "* 1 FETCH (UID 10 FLAGS (\\Seen))\r\n* 2 FETCH (UID 11 FLAGS ())\r\n\
            * 3 FETCH (FLAGS (\\Recent work) UID 12)\r\na3 OK done\r\n";
        assert!(feed(&mut model, fetch).is_empty());
        assert_eq!(model.state(), State::Selected);
        model
    }

    #[test]
    fn a_dovecot_like_session_passes() {
        let mut model = selected();
        assert_eq!(model.count(), 3);
        assert_eq!(model.messages()[2], Message { uid: Some(12), flags: Some(flags(&["\\Recent", "work"])) });
        // Another session's new keyword: FLAGS first, then the FETCH naming it, unsolicited.
        model.begin(Command::Noop);
        let noop = "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft work todo)\r\n\
            * OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft work todo \\*)] ok\r\n\
            * 2 FETCH (FLAGS (todo))\r\n* 4 EXISTS\r\n* 2 RECENT\r\na4 OK done\r\n";
        assert!(feed(&mut model, noop).is_empty());
        assert_eq!(model.count(), 4);
        // Our STORE: the FETCH shows it; a second FETCH of the same message is fine too.
        model.begin(Command::Store {
            by_uid: false,
            keys: vec![2],
            silent: false,
            change: FlagChange::Add(flags(&["\\Flagged"])),
        });
        let store = "* 2 FETCH (FLAGS (todo))\r\n* 2 FETCH (FLAGS (\\Flagged todo))\r\na5 OK done\r\n";
        assert!(feed(&mut model, store).is_empty());
        // A STORE that changes nothing may send no FETCH.
        model.begin(Command::Store {
            by_uid: false,
            keys: vec![2],
            silent: false,
            change: FlagChange::Add(flags(&["\\Flagged"])),
        });
        assert!(feed(&mut model, "a6 OK done\r\n").is_empty());
        // UID FETCH may carry EXPUNGE; a message another session expunged is served as NIL.
        model.begin(Command::Fetch { by_uid: true, keys: vec![10, 11], items: vec!["UID", "BODY[1]"] });
        let uid_fetch = "* 1 FETCH (UID 10 BODY[1] NIL)\r\n* 1 EXPUNGE\r\n\
            * 1 FETCH (UID 11 BODY[1] {2}\r\nhi)\r\na7 OK [EXPUNGEISSUED] some expunged\r\n";
        assert!(feed(&mut model, uid_fetch).is_empty());
        assert_eq!(model.seq_of_uid(11), Some(1));
        // EXPUNGE of the message we marked.
        model.begin(Command::Expunge { uids: vec![12] });
        assert!(feed(&mut model, "* 2 EXPUNGE\r\na8 OK done\r\n").is_empty());
        assert_eq!(model.count(), 2);
        model.begin(Command::Logout);
        assert!(feed(&mut model, "* BYE bye\r\na9 OK done\r\n").is_empty());
        assert_eq!(model.state(), State::Logout);
    }

    #[test]
    fn unannounced_keyword() {
        let mut model = selected();
        model.begin(Command::Noop);
        let findings = feed(&mut model, "* 1 FETCH (FLAGS (\\Seen Todo))\r\na4 OK done\r\n");
        assert_eq!(kinds(&findings), vec![Kind::UnannouncedKeyword]);
        assert!(findings[0].detail.contains("todo"), "{findings:?}");
        // System flags need no announcement; keywords compare without case.
        model.begin(Command::Noop);
        assert!(feed(&mut model, "* 1 FETCH (FLAGS (\\Seen \\Recent WORK))\r\na5 OK done\r\n").is_empty());
    }

    #[test]
    fn sequence_numbers_are_checked() {
        let mut model = selected();
        model.begin(Command::Noop);
        let findings = feed(&mut model, "* 4 FETCH (FLAGS ())\r\n* 0 FETCH (FLAGS ())\r\na4 OK done\r\n");
        assert_eq!(kinds(&findings), vec![Kind::SeqOutOfRange, Kind::SeqOutOfRange]);
        assert!(model.desynced());

        let mut model = selected();
        model.begin(Command::Noop);
        let findings = feed(&mut model, "* 3 EXPUNGE\r\n* 3 EXPUNGE\r\n* 1 EXISTS\r\na4 OK done\r\n");
        assert_eq!(kinds(&findings), vec![Kind::ExpungeOutOfRange, Kind::ExistsDecreased]);
        assert_eq!(model.count(), 1);
    }

    #[test]
    fn uids_must_stay_and_ascend() {
        let mut model = selected();
        model.begin(Command::Noop);
        let findings = feed(&mut model, "* 2 FETCH (UID 12)\r\na4 OK done\r\n");
        assert_eq!(kinds(&findings), vec![Kind::UidMismatch, Kind::UidMismatch]);
        let mut model = selected();
        model.begin(Command::Noop);
        // A new message must get a UID above the last one.
        let findings = feed(&mut model, "* 4 EXISTS\r\n* 4 FETCH (UID 9 FLAGS ())\r\na4 OK done\r\n");
        assert_eq!(kinds(&findings), vec![Kind::UidMismatch]);
    }

    #[test]
    fn expunge_is_forbidden_during_fetch_and_store_and_idle() {
        let mut model = selected();
        model.begin(Command::Fetch { by_uid: false, keys: vec![1], items: vec!["FLAGS"] });
        let findings = feed(&mut model, "* 3 EXPUNGE\r\n* 1 FETCH (FLAGS ())\r\na4 OK done\r\n");
        assert_eq!(kinds(&findings), vec![Kind::UntaggedNotAllowed]);
        // With no command in progress.
        let findings = feed(&mut model, "* 1 EXPUNGE\r\n");
        assert_eq!(kinds(&findings), vec![Kind::UntaggedNotAllowed]);
        // EXISTS and FETCH are allowed then.
        assert!(feed(&mut model, "* 2 EXISTS\r\n* 1 FETCH (FLAGS (\\Seen))\r\n").is_empty());
    }

    #[test]
    fn mailbox_data_outside_the_selected_state() {
        let mut model = Model::new(false);
        model.begin(Command::Login);
        let findings = feed(&mut model, "* 1 EXISTS\r\n* 1 FETCH (FLAGS ())\r\n* FLAGS ()\r\na1 OK done\r\n");
        assert_eq!(kinds(&findings), vec![Kind::UntaggedNotAllowed; 3]);
        model.begin(Command::Noop);
        let findings = feed(&mut model, "* LIST () \"/\" INBOX\r\n* ENABLED IMAP4rev2\r\na2 OK done\r\n");
        assert_eq!(kinds(&findings), vec![Kind::UntaggedNotAllowed; 2]);
    }

    #[test]
    fn rev2_sessions_get_no_recent_but_a_list_in_select() {
        let mut model = Model::new(true);
        model.begin(Command::Enable);
        assert!(feed(&mut model, "* ENABLED IMAP4rev2\r\na1 OK done\r\n").is_empty());
        assert!(model.rev2());
        model.begin(Command::Select);
        let select = "* 2 EXISTS\r\n* FLAGS (\\Seen)\r\n* LIST () \"/\" INBOX\r\n\
            * OK [UIDVALIDITY 1] v\r\n* 0 RECENT\r\na2 OK done\r\n";
        assert_eq!(kinds(&feed(&mut model, select)), vec![Kind::UntaggedNotAllowed]);
    }

    #[test]
    fn select_needs_flags_exists_and_uidvalidity() {
        let mut model = Model::new(true);
        model.begin(Command::Select);
        let findings = feed(&mut model, "* 0 EXISTS\r\na1 OK done\r\n");
        assert_eq!(kinds(&findings), vec![Kind::SelectIncomplete]);
        assert!(findings[0].detail.contains("FLAGS") && findings[0].detail.contains("UIDVALIDITY"));
        assert_eq!(model.state(), State::Selected);
    }

    #[test]
    fn fetch_failures_and_missing_items() {
        let mut model = selected();
        model.begin(Command::Fetch { by_uid: false, keys: vec![1, 2], items: vec!["FLAGS", "BODY[1]"] });
        let findings = feed(&mut model, "a4 NO [SERVERBUG] message file is missing\r\n");
        assert_eq!(kinds(&findings), vec![Kind::FetchFailed]);
        model.begin(Command::Fetch { by_uid: false, keys: vec![1, 2], items: vec!["FLAGS", "BODY[1]"] });
        let input = "* 1 FETCH (FLAGS () BODY[1] {0}\r\n)\r\n* 2 FETCH (FLAGS ())\r\n* 2 FETCH (BODY[1] NIL)\r\n\
            * 3 FETCH (FLAGS ())\r\na5 OK done\r\n";
        assert!(feed(&mut model, input).is_empty());
        model.begin(Command::Fetch { by_uid: false, keys: vec![1, 2], items: vec!["FLAGS", "BODY[1]"] });
        let findings = feed(&mut model, "* 1 FETCH (FLAGS ())\r\na6 OK done\r\n");
        assert_eq!(kinds(&findings), vec![Kind::FetchIncomplete, Kind::FetchIncomplete]);
        assert!(findings[0].detail.contains("no BODY[1]"), "{findings:?}");
        // A UID FETCH of a message expunged meanwhile (and said so) owes nothing.
        model.begin(Command::Fetch { by_uid: true, keys: vec![10], items: vec!["UID", "FLAGS"] });
        assert!(feed(&mut model, "* 1 EXPUNGE\r\na7 OK done\r\n").is_empty());
        // Wrong item types.
        model.begin(Command::Noop);
        let findings = feed(&mut model, "* 1 FETCH (UID 0 FLAGS \\Seen ENVELOPE (NIL))\r\na8 OK done\r\n");
        assert_eq!(kinds(&findings), vec![Kind::Malformed, Kind::Malformed, Kind::Malformed]);
    }

    #[test]
    fn store_results_are_checked() {
        let store = |keys: Vec<u32>, silent, change| Command::Store { by_uid: false, keys, silent, change };
        let mut model = selected();
        model.begin(store(vec![1], false, FlagChange::Add(flags(&["work", "\\Flagged"]))));
        let findings = feed(&mut model, "* 1 FETCH (FLAGS (\\Seen work))\r\na4 OK done\r\n");
        assert_eq!(kinds(&findings), vec![Kind::StoreWrongFlags]);
        assert_eq!(findings[0].excuse, Some(Excuse { uid: 10, flags: vec!["\\flagged".to_string()] }));
        // No FETCH although the change alters the flags known before.
        model.begin(store(vec![2], false, FlagChange::Replace(flags(&["\\Seen"]))));
        let findings = feed(&mut model, "a5 OK done\r\n");
        assert_eq!(kinds(&findings), vec![Kind::StoreWrongFlags]);
        assert_eq!(findings[0].excuse.as_ref().map(|e| e.uid), Some(11));
        // FLAGS replaces; \Recent stays and is not compared.
        model.begin(store(vec![3], false, FlagChange::Replace(flags(&["\\Seen"]))));
        assert!(feed(&mut model, "* 3 FETCH (FLAGS (\\Seen \\Recent))\r\na6 OK done\r\n").is_empty());
        model.begin(store(vec![3], false, FlagChange::Remove(flags(&["\\Seen"]))));
        let findings = feed(&mut model, "* 3 FETCH (FLAGS (\\Seen \\Recent))\r\na7 OK done\r\n");
        assert_eq!(kinds(&findings), vec![Kind::StoreWrongFlags]);
        // .SILENT: the model applies the change itself.
        model.begin(store(vec![1], true, FlagChange::Add(flags(&["\\Deleted"]))));
        assert!(feed(&mut model, "a8 OK done\r\n").is_empty());
        assert_eq!(model.messages()[0].flags, Some(flags(&["\\Seen", "work", "\\Deleted"])));
    }

    #[test]
    fn store_of_a_flag_that_cannot_be_kept_is_not_judged() {
        let mut model = Model::new(true);
        model.begin(Command::Select);
        let select = "* FLAGS (\\Seen)\r\n* OK [PERMANENTFLAGS (\\Seen)] p\r\n* 1 EXISTS\r\n\
            * OK [UIDVALIDITY 1] v\r\na1 OK done\r\n";
        assert!(feed(&mut model, select).is_empty());
        model.begin(Command::Fetch { by_uid: false, keys: vec![1], items: vec!["UID"] });
        assert!(feed(&mut model, "* 1 FETCH (UID 4 FLAGS ())\r\na2 OK done\r\n").is_empty());
        model.begin(Command::Store {
            by_uid: true,
            keys: vec![4],
            silent: false,
            change: FlagChange::Add(flags(&["newword", "\\Seen"])),
        });
        assert!(feed(&mut model, "* 1 FETCH (UID 4 FLAGS (\\Seen))\r\na3 OK done\r\n").is_empty());
    }

    #[test]
    fn expunge_must_remove_what_it_expunged() {
        let mut model = selected();
        model.begin(Command::Expunge { uids: vec![11] });
        let findings = feed(&mut model, "* 1 EXPUNGE\r\na4 OK done\r\n");
        assert_eq!(kinds(&findings), vec![Kind::ExpungeNotReported]);
        assert_eq!(findings[0].excuse, Some(Excuse { uid: 11, flags: vec!["\\deleted".to_string()] }));
    }

    #[test]
    fn only_bye_and_ok_after_logout() {
        let mut model = selected();
        model.begin(Command::Logout);
        let findings = feed(&mut model, "* 1 FETCH (FLAGS ())\r\n* 2 EXPUNGE\r\n* BYE bye\r\na4 OK done\r\n");
        assert_eq!(kinds(&findings), vec![Kind::AfterLogout, Kind::AfterLogout]);
        assert_eq!(kinds(&feed(&mut model, "* 1 EXISTS\r\n")), vec![Kind::AfterLogout]);
        let mut model = selected();
        model.begin(Command::Logout);
        assert_eq!(kinds(&feed(&mut model, "a4 OK done\r\n")), vec![Kind::LogoutWithoutBye]);
    }

    #[test]
    fn bye_outside_logout_ends_the_session() {
        let mut model = selected();
        let mut out = Vec::new();
        let bye = Untagged::State { condition: Condition::Bye, code: None, text: "shutting down".into() };
        assert_eq!(model.untagged(&bye, &mut out), Flow::Bye("shutting down".into()));
        let huge = Untagged::Exists(u32::MAX);
        assert_eq!(model.untagged(&huge, &mut out), Flow::TooLarge(u32::MAX));
        assert!(out.is_empty());
    }

    #[test]
    fn every_kind_has_a_distinct_name() {
        let names: BTreeSet<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), Kind::ALL.len());
    }
}
