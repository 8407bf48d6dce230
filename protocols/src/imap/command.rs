//! A parsed IMAP command (RFC 9051 §6, RFC 3501 §6 and the extensions listed in
//! [`super`]). APPEND is not here: its messages are streamed through
//! [`ReadEvent`](super::ReadEvent)s instead of being buffered into a command.
//!
//! Invariant: mailbox names are UTF-8 strings exactly as the client sent them (only
//! `INBOX` is normalized, RFC 9051 §5.1: it is case-insensitive); modified UTF-7 is not
//! decoded here, because whether it applies depends on the session's UTF-8 mode.

use super::types::{
    FetchAttr, FetchModifier, Flag, ListCommand, MailboxFilter, MetadataDepth, SearchCommand, SelectParams,
    SequenceSet, SortCommand, StatusAttr, StoreMode, Tag, ThreadAlgorithm,
};

/// One command with its tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    /// The client's tag, echoed in the tagged answer.
    pub tag: Tag,
    /// What the command asks for.
    pub body: CommandBody,
}

/// The commands the reader produces (APPEND excepted; see [`super::ReadEvent`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandBody {
    /// `CAPABILITY`.
    Capability,
    /// `NOOP`.
    Noop,
    /// `LOGOUT`.
    Logout,
    /// `ID (...)` or `ID NIL` (RFC 2971): field/value pairs; `None` for NIL.
    Id(Option<Vec<(String, Option<String>)>>),
    /// `STARTTLS`. The session must discard input buffered after this command before the
    /// TLS handshake (command injection, `docs/security.md`).
    StartTls,
    /// `AUTHENTICATE mechanism [initial-response]` (RFC 9051 §6.2.2, SASL-IR RFC 4959).
    Authenticate {
        /// The SASL mechanism name as sent (compare without case).
        mechanism: String,
        /// The base64-decoded initial response; `=` gives `Some(empty)`.
        initial_response: Option<Vec<u8>>,
    },
    /// `LOGIN user password`.
    Login {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// `COMPRESS mechanism` (RFC 4978 §3); only `DEFLATE` exists.
    Compress {
        /// The mechanism name as sent (compare without case).
        mechanism: String,
    },
    /// `ENABLE cap ...` (RFC 5161), capability names as sent.
    Enable(Vec<String>),
    /// `SELECT mailbox [(params)]`.
    Select {
        /// The mailbox.
        mailbox: String,
        /// CONDSTORE / QRESYNC parameters (RFC 7162).
        params: SelectParams,
    },
    /// `EXAMINE mailbox [(params)]`.
    Examine {
        /// The mailbox.
        mailbox: String,
        /// CONDSTORE / QRESYNC parameters (RFC 7162).
        params: SelectParams,
    },
    /// `CREATE mailbox [(USE (\Sent ...))]` (RFC 6154 §3).
    Create {
        /// The mailbox.
        mailbox: String,
        /// Special-use attributes requested, e.g. `\Sent`, as sent.
        special_use: Vec<String>,
    },
    /// `DELETE mailbox`.
    Delete {
        /// The mailbox.
        mailbox: String,
    },
    /// `RENAME from to`.
    Rename {
        /// The existing mailbox.
        from: String,
        /// The new name.
        to: String,
    },
    /// `SUBSCRIBE mailbox`.
    Subscribe {
        /// The mailbox.
        mailbox: String,
    },
    /// `UNSUBSCRIBE mailbox`.
    Unsubscribe {
        /// The mailbox.
        mailbox: String,
    },
    /// `LIST ...` with LIST-EXTENDED options (RFC 5258).
    List(ListCommand),
    /// `LSUB reference pattern` (IMAP4rev1).
    Lsub {
        /// The reference name.
        reference: String,
        /// The pattern.
        pattern: String,
    },
    /// `NAMESPACE` (RFC 2342).
    Namespace,
    /// `STATUS mailbox (attrs)`.
    Status {
        /// The mailbox.
        mailbox: String,
        /// Requested items, in order, never empty.
        attrs: Vec<StatusAttr>,
    },
    /// `IDLE` (RFC 2177): the session answers `+ idling` and switches the reader to
    /// [`ReadMode::IdleDone`](super::ReadMode::IdleDone).
    Idle,
    /// `CHECK` (IMAP4rev1).
    Check,
    /// `CLOSE`.
    Close,
    /// `UNSELECT` (RFC 3691).
    Unselect,
    /// `EXPUNGE`.
    Expunge,
    /// `UID EXPUNGE set` (RFC 4315 §2.1).
    UidExpunge(SequenceSet),
    /// `SEARCH` or `UID SEARCH`.
    Search {
        /// `UID SEARCH`.
        uid: bool,
        /// Charset, return options and keys.
        search: SearchCommand,
    },
    /// `SORT` or `UID SORT` (RFC 5256 §3).
    Sort {
        /// `UID SORT`.
        uid: bool,
        /// Criteria, charset and keys.
        sort: SortCommand,
    },
    /// `THREAD` or `UID THREAD` (RFC 5256 §3).
    Thread {
        /// `UID THREAD`.
        uid: bool,
        /// The algorithm.
        algorithm: ThreadAlgorithm,
        /// Charset and keys.
        search: SearchCommand,
    },
    /// `GETQUOTA root` (RFC 9208 §4.2).
    GetQuota {
        /// The quota root's name.
        root: String,
    },
    /// `GETQUOTAROOT mailbox` (RFC 9208 §4.3).
    GetQuotaRoot {
        /// The mailbox, as sent.
        mailbox: String,
    },
    /// `GENURLAUTH 1*(SP url SP mechanism)` (RFC 4467 §5): URLs and mechanisms as sent.
    GenUrlAuth(Vec<(String, String)>),
    /// `RESETKEY [SP mailbox *(SP mechanism)]` (RFC 4467 §4).
    ResetKey {
        /// The mailbox, as sent; `None`: every mailbox.
        mailbox: Option<String>,
        /// Mechanisms, as sent.
        mechanisms: Vec<String>,
    },
    /// `URLFETCH 1*(SP url)` (RFC 4467 §6).
    UrlFetch(Vec<String>),
    /// `CANCELUPDATE tag *(SP tag)` (RFC 5267 §4.3): end these SEARCH contexts.
    CancelUpdate(Vec<String>),
    /// `NOTIFY SET ...` (RFC 5465 §3); `None` for `NOTIFY NONE`.
    Notify(Option<super::parser::NotifySet>),
    /// `ESEARCH [IN (sources)] ...` (RFC 7377 §2): a UID search of the mailboxes the
    /// sources name.
    Esearch {
        /// The mailbox filters; empty: the selected mailbox (RFC 7377 §2.2).
        sources: Vec<MailboxFilter>,
        /// Charset, return options and keys.
        search: SearchCommand,
    },
    /// `SETQUOTA root (resource limit ...)` (RFC 9208 §4.1).
    SetQuota {
        /// The quota root's name.
        root: String,
        /// Resource names (upper case) and limits.
        resources: Vec<(String, u64)>,
    },
    /// `GETMETADATA [options] mailbox entries` (RFC 5464 §4.2); the mailbox `""` names
    /// the server's entries.
    GetMetadata {
        /// The mailbox, as sent.
        mailbox: String,
        /// Entry names, lower case, checked by `metadata_entry_name`.
        entries: Vec<String>,
        /// MAXSIZE: leave out values longer than this (RFC 5464 §4.2.1).
        max_size: Option<u64>,
        /// DEPTH (RFC 5464 §4.2.2).
        depth: MetadataDepth,
    },
    /// `SETMETADATA mailbox (entry value ...)` (RFC 5464 §4.3); `NIL` removes.
    SetMetadata {
        /// The mailbox, as sent (`""`: the server).
        mailbox: String,
        /// Entry names (lower case) and values.
        entries: Vec<(String, Option<Vec<u8>>)>,
    },
    /// `FETCH` or `UID FETCH`.
    Fetch {
        /// `UID FETCH` (the answer then includes UID, RFC 9051 §6.4.9).
        uid: bool,
        /// The messages.
        set: SequenceSet,
        /// Data items, macros expanded, in the order sent.
        attrs: Vec<FetchAttr>,
        /// `(CHANGEDSINCE n VANISHED)` (RFC 7162).
        modifiers: Vec<FetchModifier>,
    },
    /// `STORE` or `UID STORE`.
    Store {
        /// `UID STORE`.
        uid: bool,
        /// The messages.
        set: SequenceSet,
        /// `FLAGS`, `+FLAGS` or `-FLAGS`.
        mode: StoreMode,
        /// `.SILENT`.
        silent: bool,
        /// The flags (possibly empty: `FLAGS ()` clears all).
        flags: Vec<Flag>,
        /// `(UNCHANGEDSINCE n)` (RFC 7162 §3.1.3).
        unchanged_since: Option<u64>,
    },
    /// `COPY` or `UID COPY`.
    Copy {
        /// `UID COPY`.
        uid: bool,
        /// The messages.
        set: SequenceSet,
        /// The destination.
        mailbox: String,
    },
    /// `MOVE` or `UID MOVE` (RFC 6851).
    Move {
        /// `UID MOVE`.
        uid: bool,
        /// The messages.
        set: SequenceSet,
        /// The destination.
        mailbox: String,
    },
}

impl CommandBody {
    /// The command's name in lower case (`uid fetch` for the UID form): a closed set of
    /// static names, so callers may use it as a metric label.
    pub fn name(&self) -> &'static str {
        use CommandBody as C;
        match self {
            C::Capability => "capability",
            C::Noop => "noop",
            C::Logout => "logout",
            C::Id(_) => "id",
            C::StartTls => "starttls",
            C::Authenticate { .. } => "authenticate",
            C::Login { .. } => "login",
            C::Compress { .. } => "compress",
            C::Enable(_) => "enable",
            C::Select { .. } => "select",
            C::Examine { .. } => "examine",
            C::Create { .. } => "create",
            C::Delete { .. } => "delete",
            C::Rename { .. } => "rename",
            C::Subscribe { .. } => "subscribe",
            C::Unsubscribe { .. } => "unsubscribe",
            C::List(_) => "list",
            C::Lsub { .. } => "lsub",
            C::Namespace => "namespace",
            C::Status { .. } => "status",
            C::Idle => "idle",
            C::Check => "check",
            C::Close => "close",
            C::Unselect => "unselect",
            C::Expunge => "expunge",
            C::UidExpunge(_) => "uid expunge",
            C::Search { uid: true, .. } => "uid search",
            C::Search { .. } => "search",
            C::Sort { uid: true, .. } => "uid sort",
            C::Sort { .. } => "sort",
            C::Thread { uid: true, .. } => "uid thread",
            C::Thread { .. } => "thread",
            C::GetQuota { .. } => "getquota",
            C::GetQuotaRoot { .. } => "getquotaroot",
            C::SetQuota { .. } => "setquota",
            C::GetMetadata { .. } => "getmetadata",
            C::SetMetadata { .. } => "setmetadata",
            C::CancelUpdate(_) => "cancelupdate",
            C::GenUrlAuth(_) => "genurlauth",
            C::ResetKey { .. } => "resetkey",
            C::UrlFetch(_) => "urlfetch",
            C::Notify(_) => "notify",
            C::Esearch { .. } => "esearch",
            C::Fetch { uid: true, .. } => "uid fetch",
            C::Fetch { .. } => "fetch",
            C::Store { uid: true, .. } => "uid store",
            C::Store { .. } => "store",
            C::Copy { uid: true, .. } => "uid copy",
            C::Copy { .. } => "copy",
            C::Move { uid: true, .. } => "uid move",
            C::Move { .. } => "move",
        }
    }
}
