//! The IMAP server session (RFC 9051 IMAP4rev2, RFC 3501 IMAP4rev1 and the extensions in
//! [`CAPABILITIES`]): client bytes and storage-neutral facts in, response bytes and
//! requests for the storage side out. No IO, no clock (times come in as arguments), no
//! storage type.
//!
//! The caller owns the socket, the account's store and its actor. It feeds bytes to
//! [`Session::handle_input`], drains [`Session::poll_event`], performs what an event asks
//! (a read of the store, a write through the account actor, a spool file for APPEND, a
//! SASL step) and gives the result to [`Session::answer`], writes
//! [`Session::pending_output`] (bytes, or a range of a message file to send itself) and
//! reports progress with [`Session::advance_output`], or, when the output asks to read a
//! file ([`Output::Read`]: decoded BINARY data, filtered headers), reads it and hands the
//! bytes to [`Session::file_read`]. It tells the session when the
//! selected mailbox changed ([`Session::mailbox_changed`]), what changed elsewhere in
//! the account when NOTIFY asks for it ([`Session::notice`]), when TLS started
//! ([`Session::tls_started`]), and when the client stayed silent too long
//! ([`Session::timed_out`], see [`Session::deadline_ms`]).
//!
//! ```text
//!   bytes ─> handle_input ─> poll_event ─> Event::Select / Fetch* / Store / Sync ... ─┐
//!                                                                                    │ caller
//!   socket <─ pending_output (bytes | file range) <─ responses <─ answer(Answer) <───┘
//! ```
//!
//! Invariants:
//! - one command at a time, answers in command order: while an event waits to be polled
//!   or answered, no input is read (pipelined commands wait in the caller's buffer);
//! - untagged updates about the selected mailbox go out only where RFC 9051 §7.5.1 allows
//!   (never an EXPUNGE during FETCH, STORE or SEARCH), always before the tagged response
//!   of the command whose end they follow, and never after LOGOUT (only `* BYE` and the
//!   tagged OK, RFC 9051 §6.1.3);
//! - a keyword is announced with FLAGS before any FETCH shows it (RFC 3501 §7.2.6);
//! - every byte on the wire is written by [`crate::imap::response`];
//! - memory is bounded: the reader's limits, one command's state, and for FETCH one
//!   chunk of messages and the output budget ([`OUTPUT_BUDGET_BYTES`]); untagged
//!   responses about many messages (EXPUNGE, FETCH FLAGS, `* SEARCH`) are made a piece
//!   at a time as they are written (`lines`); nothing grows with a message's size: BINARY of an encoded part and HEADER.FIELDS of a large
//!   header are made as the caller reads the file to the session ([`Output::Read`]);
//! - work per call is bounded too: what an answer or a read brings in (a FETCH chunk, a
//!   64 KiB piece of a file), so the caller's core is never held by one command;
//! - never panics on peer bytes or on an answer that does not fit (that is a
//!   `NO [SERVERBUG]`).

mod added;
mod append;
mod auth;
mod commands;
mod compress;
mod context;
mod error;
mod facts;
mod fetch;
mod flags;
mod hidden;
mod lines;
mod list;
mod mailbox;
pub mod memory;
mod messages;
mod metadata;
mod multisearch;
mod notify;
pub mod objectid;
pub mod ordering_keys;
mod output;
mod progress;
mod quota;
mod search;
mod selected;
mod sort;
mod thread;
mod transform;
mod uids;
mod urlauth;

use std::sync::Arc;

pub use added::AddedEvent;
pub use auth::HIDDEN_CAPABILITIES_MAX;
pub use context::{SEARCH_CONTEXTS_MAX, SORT_CONTEXT_MESSAGES_MAX};
pub use error::{CommandError, Completed, Outcome};
pub use facts::{
    AppendOutcome, AuthFailure, CopyOutcome, FetchMessage, FlagFact, MailboxChanges, MailboxFacts,
    MailboxList, MailboxSnapshot, MessageFacts, QresyncFacts, SearchHit, StoreOutcome, SystemFlags,
};
pub use fetch::{
    CHANGED_SINCE_UIDS_MAX, CHANGED_SINCE_WALK_MAX, FETCH_CHUNK_MAX, FETCH_INDEX_CHUNK_MAX,
    FETCH_INLINE_BYTES_MAX, FetchPlan, MESSAGE_WORK_BYTES_MAX, UrlPiece, url_pieces,
};
pub use flags::{ANNOUNCED_KEYWORDS_MAX, WELL_KNOWN_KEYWORDS};
pub use metadata::{METADATA_VALUE_BYTES_MAX, MetadataEntries, SERVER_ADMIN_ENTRY};
pub use notify::{MessageChanges, NOTIFY_EVENTS_SUPPORTED, NOTIFY_OUTPUT_BYTES_MAX, Notice};
pub use output::{OUTPUT_BUDGET_BYTES, Output};
pub use progress::{INPROGRESS_DELAY_MS_MIN, INPROGRESS_INTERVAL_MS_MIN};
pub use quota::{QUOTA_ROOT, QuotaFacts};
pub use search::{SearchContent, SearchNeed, SearchProgram, TextSearch, Verdict};
pub use sort::{SortNeeds, SortProgram, SortRecord};
pub use thread::{ThreadFacts, ThreadProgram, Threads};
pub use transform::TRANSFORM_READ_BYTES_MAX;
pub use uids::UidList;
pub use urlauth::{URLAUTH_URLS_MAX, UrlContent};

pub use append::CatenateTarget;

use self::error::{CommandResult, Done};
use self::output::OutputQueue;
use self::selected::{Selected, Updates};
use super::reader::{CommandReader, ReadEvent, ReaderConfig};
use super::response::{ResponseCode, Status, write_tagged, write_untagged_status};
use super::types::{Partial, Section, SequenceSet, StoreMode, Tag};

/// What we advertise in every state (RFC 9051 §7.2.2); APPENDLIMIT, STARTTLS,
/// LOGINDISABLED, SASL-IR and the AUTH= mechanisms are added per connection and state.
/// Every one of them works fully.
pub const CAPABILITIES: &[&str] = &[
    "IMAP4rev2",
    "IMAP4rev1",
    "ENABLE",
    "LITERAL+",
    "IDLE",
    "BINARY",
    "UNSELECT",
    "UIDPLUS",
    "ESEARCH",
    "SEARCHRES",
    "MOVE",
    "UTF8=ACCEPT",
    "LIST-EXTENDED",
    "SPECIAL-USE",
    "CREATE-SPECIAL-USE",
    "LIST-STATUS",
    "ID",
    "NAMESPACE",
    "CONDSTORE",
    "QRESYNC",
    "STATUS=SIZE",
    "MULTIAPPEND",
    "SAVEDATE",
    "WITHIN",
    "CHILDREN",
    "SORT",
    "SORT=DISPLAY",
    "ESORT",
    "PARTIAL",
    "CONTEXT=SEARCH",
    "CONTEXT=SORT",
    "THREAD=ORDEREDSUBJECT",
    "THREAD=REFERENCES",
    "THREAD=REFS",
    "QUOTA",
    "QUOTA=RES-STORAGE",
    "QUOTA=RES-MESSAGE",
    "REPLACE",
    "UIDONLY",
    "OBJECTID",
    "PREVIEW",
    "METADATA",
    "LIST-METADATA",
    "INPROGRESS",
    "NOTIFY",
    "CATENATE",
    "MULTISEARCH",
    "URLAUTH",
];

/// Commands answered BAD in a row before the session says BYE: 20, as Dovecot allows. A
/// client that sends garbage is cut off; a buggy one that errs now and then is not.
pub const BAD_COMMANDS_MAX: u32 = 20;

/// Before login, a command must arrive whole within this much time, plus
/// [`COMMAND_RATE_BYTES_PER_SECOND_MIN`] for its size: a client sending a byte now and
/// then cannot hold a connection forever (the idle timeout restarts with every byte).
/// 30 s is far more than a login line needs on any link.
pub const COMMAND_DURATION_MS_MIN: u64 = 30_000;

/// The slowest transfer rate a command before login may arrive at, once past
/// [`COMMAND_DURATION_MS_MIN`]: 1 KiB/s, slower than any working link.
pub const COMMAND_RATE_BYTES_PER_SECOND_MIN: u64 = 1024;

/// Capacity of the APPEND data buffer kept after a command (see [`Event::AppendData`]):
/// an idle session holds little (STYLE.md: 16 KiB per idle IMAP connection).
const IDLE_APPEND_CHUNK_BYTES_MAX: usize = 4096;

/// How a session behaves. Limits default to the consts of this module and of
/// [`super::limits`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Our host name (greeting).
    pub hostname: String,
    /// The software version for ID (RFC 2971).
    pub version: String,
    /// Command reader limits (line, literal, APPENDLIMIT, nesting).
    pub reader: ReaderConfig,
    /// Consecutive BAD answers before `* BYE` ([`BAD_COMMANDS_MAX`]).
    pub bad_commands_max: u32,
    /// STARTTLS is offered (a certificate is configured and TLS is not implicit).
    pub starttls: bool,
    /// LOGIN and password mechanisms allowed without TLS (otherwise LOGINDISABLED until
    /// STARTTLS, RFC 9051 §6.2.3).
    pub plaintext_auth: bool,
    /// See [`COMMAND_DURATION_MS_MIN`].
    pub command_duration_ms_min: u64,
    /// See [`COMMAND_RATE_BYTES_PER_SECOND_MIN`].
    pub command_rate_bytes_per_second_min: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            hostname: "localhost".to_owned(),
            version: String::new(),
            reader: ReaderConfig::default(),
            bad_commands_max: BAD_COMMANDS_MAX,
            starttls: false,
            plaintext_auth: false,
            command_duration_ms_min: COMMAND_DURATION_MS_MIN,
            command_rate_bytes_per_second_min: COMMAND_RATE_BYTES_PER_SECOND_MIN,
        }
    }
}

/// Whether a SELECT or sync claims `\Recent` (RFC 3501 §2.3.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecentMode {
    /// No `\Recent` (IMAP4rev2 has none).
    None,
    /// Report the messages no session claimed yet, without claiming them (EXAMINE).
    Peek,
    /// Claim new messages for this session (SELECT by an IMAP4rev1 client).
    Claim,
}

/// What the session asks of its caller. Events marked "answer" wait for
/// [`Session::answer`] before the session goes on; the others need no answer.
#[derive(Debug)]
pub enum Event<'a> {
    /// STARTTLS accepted and its OK queued: write out all output, run the TLS handshake,
    /// then call [`Session::tls_started`] (or drop the connection on failure). Any
    /// plaintext the caller still holds must be dropped.
    StartTls,
    /// COMPRESS DEFLATE accepted and its OK queued (RFC 4978 §3): write out all output
    /// uncompressed, then compress every byte after it in both directions (input the
    /// caller holds after the command is compressed already), then call
    /// [`Session::compression_started`].
    Compress,
    /// LOGIN (RFC 9051 §6.2.3). Answer `LoggedIn` or `AuthFailed`.
    Login {
        /// The user name as sent.
        username: String,
        /// The password.
        password: String,
    },
    /// AUTHENTICATE (RFC 9051 §6.2.2, SASL-IR RFC 4959). Answer `AuthChallenge`,
    /// `AuthSucceeded`, `AuthFailed` or `Failed`.
    Authenticate {
        /// The mechanism name as sent.
        mechanism: String,
        /// The decoded initial response.
        initial: Option<Vec<u8>>,
    },
    /// The client's answer to the last challenge. Answer as for `Authenticate`.
    AuthResponse(Vec<u8>),
    /// The client cancelled the exchange (the session answered); drop the SASL state.
    AuthCancelled,
    /// SELECT or EXAMINE: subscribe to the account's changes and read the mailbox.
    /// Answer `Selected` or `Failed` (`no_such_mailbox`).
    Select {
        /// The mailbox, as stored names go.
        mailbox: String,
        /// EXAMINE.
        read_only: bool,
        /// `\Recent` handling for this session.
        recent: RecentMode,
        /// QRESYNC (RFC 7162 §3.2.5): the client's UIDVALIDITY and modseq, and known
        /// UIDs. Fill [`MailboxSnapshot::qresync`] when the UIDVALIDITY matches.
        qresync: Option<(u32, u64, Option<SequenceSet>)>,
    },
    /// The selected mailbox may have changed: read what changed. Answer `Changes`.
    Sync {
        /// Report changes after this modseq.
        since_modseq: u64,
        /// Report UIDs above this one as added.
        above_uid: u32,
        /// Read expunges and flag changes too (else only new messages).
        expunges: bool,
        /// `\Recent` for the added messages.
        recent: RecentMode,
    },
    /// GETQUOTA / GETQUOTAROOT (RFC 9208): the account's storage use and limit; with a
    /// mailbox, only when it exists. Answer `Quota` or `Failed` (`no_such_mailbox`).
    Quota {
        /// GETQUOTAROOT's mailbox, as stored names go.
        mailbox: Option<String>,
    },
    /// GETMETADATA, and LIST RETURN (METADATA) (RFC 5464 §4.2, RFC 9590 §3): every
    /// stored entry of each mailbox (`""`: the server's entries, with
    /// [`SERVER_ADMIN_ENTRY`] from the configuration). Answer `Metadata`, one item per
    /// mailbox in order, `None` for a mailbox that does not exist.
    GetMetadata {
        /// Mailboxes, as stored names go; `""` is the server.
        mailboxes: Vec<String>,
    },
    /// SETMETADATA (RFC 5464 §4.3): set (or, for `None`, remove) the entries of the
    /// mailbox (`""`: the server), all or nothing. Answer `Done` or `Failed`
    /// (`no_such_mailbox`, `NO [METADATA TOOMANY]`).
    SetMetadata {
        /// The mailbox, as stored names go; `""` is the server.
        mailbox: String,
        /// Entry names (checked, lower case) and values.
        entries: Vec<(String, Option<Vec<u8>>)>,
    },
    /// CREATE (RFC 9051 §6.3.4, CREATE-SPECIAL-USE RFC 6154 §3). Answer `Done`/`Failed`.
    Create {
        /// The mailbox.
        mailbox: String,
        /// A special-use attribute to give it, e.g. `\Sent`.
        special_use: Option<String>,
    },
    /// DELETE. Answer `Done` or `Failed`.
    Delete {
        /// The mailbox.
        mailbox: String,
    },
    /// RENAME. Answer `Done` or `Failed`.
    Rename {
        /// The mailbox.
        from: String,
        /// Its new name.
        to: String,
    },
    /// SUBSCRIBE / UNSUBSCRIBE. Answer `Done` or `Failed`.
    Subscribe {
        /// The name (need not exist).
        mailbox: String,
        /// Subscribe (true) or unsubscribe.
        subscribed: bool,
    },
    /// LIST or LSUB: the account's mailboxes and subscriptions. Answer `Mailboxes`.
    List {
        /// Fill [`MailboxFacts::recent`] (RETURN (STATUS (RECENT))).
        recent: bool,
        /// Fill the counts of [`MailboxFacts`] (RETURN (STATUS ...)).
        status: bool,
        /// Fill [`MailboxFacts::deleted_bytes`] (RETURN (STATUS (DELETED-STORAGE))).
        deleted_bytes: bool,
    },
    /// STATUS of a mailbox. Answer `Status` or `Failed`.
    Status {
        /// The mailbox.
        mailbox: String,
        /// Fill [`MailboxFacts::recent`].
        recent: bool,
        /// Fill [`MailboxFacts::deleted_bytes`].
        deleted_bytes: bool,
    },
    /// FETCH that sets `\Seen` (RFC 9051 §6.4.5): add `\Seen` to these messages of the
    /// selected mailbox. Answer `Stored`.
    FetchSeen(Vec<u32>),
    /// FETCH: read these messages of the selected mailbox (in UID order) and call
    /// [`Session::fetch_message`] for each found (the plan says what each needs), writing
    /// out the output whenever [`Session::output_blocked`]; then answer `ChunkDone`.
    FetchChunk {
        /// What to load per message.
        plan: Arc<FetchPlan>,
        /// The UIDs, ascending.
        uids: Vec<u32>,
    },
    /// UIDs of the selected mailbox expunged after `since` (VANISHED (EARLIER), RFC 7162
    /// §3.2.6). Answer `Uids`.
    ExpungedSince {
        /// The modseq.
        since: u64,
    },
    /// The UIDs a CHANGEDSINCE FETCH can report: the selected mailbox's messages changed
    /// or expunged after `since` (RFC 7162 §3.1.4), at most `max`. Answer `ChangedUids`.
    ChangedSince {
        /// The modseq.
        since: u64,
        /// Most UIDs wanted; more: the answer is `ChangedUids(None)`.
        max: usize,
    },
    /// SEARCH: run the program over the selected mailbox. Answer `Searched`.
    Search(Arc<SearchProgram>),
    /// ESEARCH (MULTISEARCH, RFC 7377): run the program over the account's mailbox
    /// `mailbox` (any, selected or not). With `view_given` the program's view is the
    /// session's (the selected mailbox); otherwise give it every message of the mailbox
    /// with [`SearchProgram::with_view`]. Answer `MailboxSearched`, or `Failed`
    /// (`no_such_mailbox`: the session skips the mailbox).
    SearchMailbox {
        /// The mailbox, as stored names go.
        mailbox: String,
        /// What to look for.
        program: Arc<SearchProgram>,
        /// The program's view is the session's.
        view_given: bool,
    },
    /// SORT (RFC 5256): run the search, then order its matches with the sort program
    /// (see [`SortProgram`]). Answer `Sorted`.
    Sort {
        /// Which messages.
        search: Arc<SearchProgram>,
        /// In which order.
        sort: Arc<SortProgram>,
    },
    /// THREAD (RFC 5256): run the search, then thread its matches (see
    /// [`ThreadProgram`]). Answer `Threaded`.
    Thread {
        /// Which messages.
        search: Arc<SearchProgram>,
        /// Which algorithm.
        thread: ThreadProgram,
    },
    /// STORE on the selected mailbox (CONDSTORE's UNCHANGEDSINCE, RFC 7162 §3.1.3).
    /// Answer `Stored` or `Failed`.
    Store {
        /// The messages.
        uids: Vec<u32>,
        /// Replace, add or remove.
        mode: StoreMode,
        /// System flags.
        flags: SystemFlags,
        /// Keywords.
        keywords: Vec<String>,
        /// Only messages whose modseq is at most this.
        unchanged_since: Option<u64>,
        /// Fill [`StoreOutcome::unchanged`] (not .SILENT).
        report_unchanged: bool,
    },
    /// COPY or MOVE (RFC 6851) from the selected mailbox. Answer `Copied` or `Failed`
    /// (`NO [TRYCREATE]` when the destination does not exist).
    Copy {
        /// The messages.
        uids: Vec<u32>,
        /// The destination.
        mailbox: String,
        /// MOVE.
        is_move: bool,
    },
    /// EXPUNGE the `\Deleted` messages of the selected mailbox with UIDs in these ranges
    /// (the view, or its intersection with UID EXPUNGE's set). Answer `Expunged`.
    Expunge {
        /// The UID ranges, ascending.
        within: Vec<std::ops::RangeInclusive<u32>>,
    },
    /// The session left the selected mailbox (UNSELECT, CLOSE, SELECT, DELETE):
    /// unsubscribe and forget it. No answer.
    Deselected,
    /// APPEND: a message begins (RFC 9051 §6.3.12, MULTIAPPEND RFC 3502). Answer
    /// `Accepted` (a spool file is ready) or `Failed`.
    AppendMessage {
        /// The target mailbox.
        mailbox: String,
        /// System flags to set.
        flags: SystemFlags,
        /// Keywords to set.
        keywords: Vec<String>,
        /// INTERNALDATE to set, Unix milliseconds.
        date_ms: Option<i64>,
        /// Size in octets.
        size: u64,
        /// 0 for the first message of the command.
        index: u32,
    },
    /// CATENATE (RFC 4469 §3): add the bytes of the message (or its section, or the
    /// partial range of either) this URL names to the message being written, without
    /// setting `\Seen` on it. Check that `user`, when given, is the logged-in user and
    /// that the UIDVALIDITY matches; resolve the section with [`url_pieces`]. Answer
    /// `Catenated` with the octets added, or `Failed`: `NO [BADURL url]`
    /// ([`CommandError::bad_url`]) or, over `bytes_max`, `NO [TOOBIG]`.
    CatenateUrl {
        /// The URL as sent (for BADURL).
        url: String,
        /// The mailbox, as stored names go.
        mailbox: String,
        /// The mailbox's UIDVALIDITY, when the URL gives one.
        uidvalidity: Option<u32>,
        /// The message.
        uid: u32,
        /// The section; `None` for the whole message.
        section: Option<Section>,
        /// A range of the message or section (`length` `u32::MAX`: to the end).
        partial: Option<Partial>,
        /// The user an absolute URL names.
        user: Option<String>,
        /// Octets the message may still grow by (APPENDLIMIT).
        bytes_max: u64,
    },
    /// GENURLAUTH (RFC 4467 §5): the URLAUTH access key of the mailbox, made (at least
    /// 128 random bits) when it has none. Check that `user` is the logged-in user (any
    /// of its login names). Answer `UrlAuthKey` or `Failed`.
    UrlAuthKey {
        /// The user the URL names.
        user: String,
        /// The mailbox, as stored names go.
        mailbox: String,
    },
    /// RESETKEY (RFC 4467 §4): remove the access key of the mailbox, or of every one.
    /// Answer `Done` or `Failed` (`no_such_mailbox`).
    ResetUrlAuthKeys {
        /// The mailbox, as stored names go; `None`: all.
        mailbox: Option<String>,
    },
    /// URLFETCH (RFC 4467 §6) of one URL, whose syntax, host and mechanism the session
    /// checked: find the account of its user, the mailbox's key, verify the MAC in
    /// constant time, the expiry, and that its access identifier lets the logged-in user
    /// fetch it (`authuser`, or `user+` one of its names; never `submit+`), then resolve
    /// the message (UIDVALIDITY, UID) and its section with [`url_pieces`]. Answer
    /// `UrlFetched(None)` when any of that fails, else with the pieces and the open file
    /// (kept open until the session's output is written).
    UrlFetch(Box<crate::imap::url::AuthUrl>),
    /// Message bytes, in order. No answer.
    AppendData(&'a [u8]),
    /// The current message is complete. No answer.
    AppendMessageEnd,
    /// The APPEND command ended. With `store`, store every message of the command all
    /// or nothing and answer `Appended` or `Failed`; without, discard them and answer
    /// `Done`.
    AppendEnd {
        /// Store the messages.
        store: bool,
    },
}

impl Event<'_> {
    /// The event as an owned value, so the caller can call the session while handling
    /// it; `None` for [`Event::AppendData`], whose bytes the session lends.
    pub fn detach(self) -> Option<Event<'static>> {
        Some(match self {
            Event::AppendData(_) => return None,
            Event::StartTls => Event::StartTls,
            Event::Compress => Event::Compress,
            Event::Login { username, password } => Event::Login { username, password },
            Event::Authenticate { mechanism, initial } => Event::Authenticate { mechanism, initial },
            Event::AuthResponse(response) => Event::AuthResponse(response),
            Event::AuthCancelled => Event::AuthCancelled,
            Event::Select { mailbox, read_only, recent, qresync } => {
                Event::Select { mailbox, read_only, recent, qresync }
            }
            Event::Sync { since_modseq, above_uid, expunges, recent } => {
                Event::Sync { since_modseq, above_uid, expunges, recent }
            }
            Event::Create { mailbox, special_use } => Event::Create { mailbox, special_use },
            Event::Delete { mailbox } => Event::Delete { mailbox },
            Event::Rename { from, to } => Event::Rename { from, to },
            Event::Subscribe { mailbox, subscribed } => Event::Subscribe { mailbox, subscribed },
            Event::List { recent, status, deleted_bytes } => Event::List { recent, status, deleted_bytes },
            Event::Status { mailbox, recent, deleted_bytes } => {
                Event::Status { mailbox, recent, deleted_bytes }
            }
            Event::FetchSeen(uids) => Event::FetchSeen(uids),
            Event::FetchChunk { plan, uids } => Event::FetchChunk { plan, uids },
            Event::ExpungedSince { since } => Event::ExpungedSince { since },
            Event::ChangedSince { since, max } => Event::ChangedSince { since, max },
            Event::Search(program) => Event::Search(program),
            Event::SearchMailbox { mailbox, program, view_given } => {
                Event::SearchMailbox { mailbox, program, view_given }
            }
            Event::Sort { search, sort } => Event::Sort { search, sort },
            Event::Thread { search, thread } => Event::Thread { search, thread },
            Event::Quota { mailbox } => Event::Quota { mailbox },
            Event::GetMetadata { mailboxes } => Event::GetMetadata { mailboxes },
            Event::SetMetadata { mailbox, entries } => Event::SetMetadata { mailbox, entries },
            Event::Store { uids, mode, flags, keywords, unchanged_since, report_unchanged } => {
                Event::Store { uids, mode, flags, keywords, unchanged_since, report_unchanged }
            }
            Event::Copy { uids, mailbox, is_move } => Event::Copy { uids, mailbox, is_move },
            Event::Expunge { within } => Event::Expunge { within },
            Event::Deselected => Event::Deselected,
            Event::AppendMessage { mailbox, flags, keywords, date_ms, size, index } => {
                Event::AppendMessage { mailbox, flags, keywords, date_ms, size, index }
            }
            Event::CatenateUrl { url, mailbox, uidvalidity, uid, section, partial, user, bytes_max } => {
                Event::CatenateUrl { url, mailbox, uidvalidity, uid, section, partial, user, bytes_max }
            }
            Event::UrlAuthKey { user, mailbox } => Event::UrlAuthKey { user, mailbox },
            Event::ResetUrlAuthKeys { mailbox } => Event::ResetUrlAuthKeys { mailbox },
            Event::UrlFetch(url) => Event::UrlFetch(url),
            Event::AppendMessageEnd => Event::AppendMessageEnd,
            Event::AppendEnd { store } => Event::AppendEnd { store },
        })
    }
}

/// The caller's result for the event that waits for one.
#[derive(Debug)]
pub enum Answer {
    /// Done (CREATE, DELETE, RENAME, SUBSCRIBE, a discarded APPEND).
    Done,
    /// CREATE made the mailbox with this key ([`objectid::mailbox_key`]): the tagged OK
    /// carries its MAILBOXID (RFC 8474 §4.1).
    Created(u64),
    /// The request failed.
    Failed(CommandError),
    /// LOGIN or AUTHENTICATE succeeded.
    LoggedIn,
    /// AUTHENTICATE: send this challenge.
    AuthChallenge(Vec<u8>),
    /// AUTHENTICATE succeeded; with data, the server's last message (the client then
    /// answers with an empty response).
    AuthSucceeded(Option<Vec<u8>>),
    /// Authentication failed.
    AuthFailed(AuthFailure),
    /// SELECT/EXAMINE's mailbox.
    Selected(MailboxSnapshot),
    /// What changed.
    Changes(MailboxChanges),
    /// LIST/LSUB's mailboxes.
    Mailboxes(MailboxList),
    /// STATUS's mailbox.
    Status(MailboxFacts),
    /// STORE's (or the implicit `\Seen`'s) outcome.
    Stored(StoreOutcome),
    /// COPY/MOVE's outcome.
    Copied(CopyOutcome),
    /// EXPUNGE's UIDs and the mailbox's highest modseq after it.
    Expunged(Vec<u32>, u64),
    /// UIDs (ExpungedSince).
    Uids(Vec<u32>),
    /// ChangedSince's UIDs, sorted; `None`: more than it asked for.
    ChangedUids(Option<Vec<u32>>),
    /// SEARCH's matches.
    Searched(Vec<SearchHit>),
    /// SORT's matches, in order.
    Sorted(Vec<SearchHit>),
    /// SearchMailbox's matches, and the mailbox's UIDVALIDITY.
    MailboxSearched {
        /// The mailbox's UIDVALIDITY.
        uidvalidity: u32,
        /// The matches.
        hits: Vec<SearchHit>,
    },
    /// THREAD's threads.
    Threaded(Threads),
    /// GETQUOTA/GETQUOTAROOT's quota.
    Quota(QuotaFacts),
    /// GetMetadata's entries, per asked mailbox (`None`: no such mailbox).
    Metadata(Vec<Option<MetadataEntries>>),
    /// A FETCH chunk was fed.
    ChunkDone,
    /// An APPEND message's spool is ready.
    Accepted,
    /// A CATENATE URL's bytes were added: this many octets.
    Catenated(u64),
    /// APPEND stored its messages.
    Appended(AppendOutcome),
    /// A mailbox's URLAUTH access key.
    UrlAuthKey(Vec<u8>),
    /// A URLFETCH URL's content; `None`: `NIL` (invalid, expired, not for this user).
    UrlFetched(Option<UrlContent>),
}

/// Extensions the client enabled (RFC 5161) or turned on by use.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Enabled {
    pub(crate) utf8: bool,
    pub(crate) condstore: bool,
    pub(crate) qresync: bool,
    pub(crate) rev2: bool,
    /// UIDONLY (RFC 9586): no sequence numbers in either direction.
    pub(crate) uidonly: bool,
}

/// What the running command waits for.
#[derive(Debug)]
pub(crate) enum Job {
    /// Done/Failed, then finish (CREATE, DELETE, RENAME, SUBSCRIBE).
    Simple(&'static str),
    /// DELETE of `mailbox`: deselect it when it is the selected one.
    Delete(String),
    Login,
    Authenticate(auth::SaslJob),
    Select(mailbox::SelectJob),
    List(mailbox::ListJob),
    Status(Vec<super::types::StatusAttr>),
    Fetch(messages::FetchJob),
    Search(messages::SearchJob),
    Sort(sort::SortJob),
    MultiSearch(multisearch::MultiSearchJob),
    Thread(thread::ThreadJob),
    Quota(quota::QuotaJob),
    Metadata(metadata::MetadataJob),
    Store(messages::StoreJob),
    Copy(messages::CopyJob),
    Expunge,
    /// CLOSE: expunge silently, then deselect.
    Close,
    Append(append::AppendJob),
    /// GENURLAUTH or URLFETCH (RFC 4467).
    UrlAuth(urlauth::UrlAuthJob),
    /// NOTIFY SET STATUS: the mailboxes to send STATUS for (RFC 5465 §3).
    Notify,
    /// IDLE: updates flow until DONE.
    Idle,
    /// Waiting for the TLS handshake.
    StartTls,
}

/// The command being executed.
#[derive(Debug)]
pub(crate) struct Running {
    pub(crate) tag: Tag,
    /// The command's name ([`CommandBody::name`](crate::imap::command::CommandBody::name)).
    pub(crate) name: &'static str,
    /// The caller's clock when the command was read.
    pub(crate) started_ms: u64,
    pub(crate) job: Job,
    /// Expunges may be reported at the command's end (RFC 9051 §7.5.1).
    pub(crate) allow_expunge: bool,
    /// Look for changes at the end even when no event said so (NOOP, writes).
    pub(crate) force_sync: bool,
    /// This command enabled CONDSTORE (RFC 7162 §3.1): its OK carries HIGHESTMODSEQ.
    pub(crate) condstore_enabled: bool,
    /// When its last INPROGRESS response went out (RFC 9585, `progress`).
    pub(crate) progress_ms: Option<u64>,
    /// The result, while the final sync runs.
    pub(crate) result: Option<CommandResult>,
}

/// One IMAP connection's protocol state; see the module doc.
#[derive(Debug)]
pub struct Session {
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) reader: CommandReader,
    pub(crate) out: OutputQueue,
    pub(crate) tls: bool,
    /// SASL mechanisms offered on this connection now.
    pub(crate) mechanisms: Vec<String>,
    pub(crate) authenticated: bool,
    pub(crate) enabled: Enabled,
    pub(crate) selected: Option<Selected>,
    pub(crate) bad_in_a_row: u32,
    pub(crate) closing: bool,
    pub(crate) running: Option<Running>,
    /// The event to hand out next.
    pub(crate) queued: Option<Event<'static>>,
    /// An `AppendData` event waits, its bytes in `append_chunk`.
    pub(crate) append_data: bool,
    pub(crate) append_chunk: Vec<u8>,
    /// The queued event needs an answer, which has not come yet.
    pub(crate) awaiting: bool,
    /// A [`Event::Deselected`] waits (it goes out before the queued event).
    pub(crate) pending_deselect: bool,
    /// The last time handle_input was called (SEARCH YOUNGER/OLDER).
    pub(crate) now_ms: u64,
    /// When the command being read started, and its bytes so far (before login).
    pub(crate) command_started_ms: Option<u64>,
    pub(crate) command_bytes: u64,
    /// The last command that ended, until the caller takes it (for its metrics).
    pub(crate) completed: Option<Completed>,
    /// The SEARCH context whose search runs again (RFC 5267 §4), see [`context`].
    pub(crate) refreshing: Option<usize>,
    /// Capabilities the logged-in account keeps out of CAPABILITY lists.
    pub(crate) hidden_capabilities: Vec<String>,
    /// COMPRESS=DEFLATE is on (RFC 4978).
    pub(crate) compressed: bool,
    /// NOTIFY's state (RFC 5465); `None` until the client sends NOTIFY.
    pub(crate) notify: Option<notify::Notify>,
    /// A sync asked for between commands (NOTIFY SELECTED) waits; whether it may
    /// report expunges.
    pub(crate) unsolicited: Option<bool>,
    /// NOTIFY's FETCH of new messages while its event is out (RFC 5465 §5.2).
    pub(crate) notify_fetch: Option<messages::FetchJob>,
}

impl Session {
    /// A session for a new connection; `tls` when the connection is already encrypted
    /// (implicit TLS), `mechanisms` the SASL mechanisms offered on it. Call
    /// [`Session::start`] to queue the greeting.
    pub fn new(config: Arc<ServerConfig>, tls: bool, mechanisms: Vec<String>) -> Session {
        Session {
            reader: CommandReader::new(config.reader.clone()),
            config,
            out: OutputQueue::default(),
            tls,
            mechanisms,
            authenticated: false,
            enabled: Enabled::default(),
            selected: None,
            bad_in_a_row: 0,
            closing: false,
            running: None,
            queued: None,
            append_data: false,
            append_chunk: Vec::new(),
            awaiting: false,
            pending_deselect: false,
            now_ms: 0,
            command_started_ms: None,
            command_bytes: 0,
            completed: None,
            refreshing: None,
            hidden_capabilities: Vec::new(),
            compressed: false,
            notify: None,
            unsolicited: None,
            notify_fetch: None,
        }
    }

    /// Queues the greeting: `* OK`, or `* PREAUTH` when the caller authenticated the
    /// client already (a registered TLS client key, RFC 9051 §7.1.4).
    pub fn start(&mut self, preauthenticated: bool) {
        self.authenticated = preauthenticated;
        let code = ResponseCode::Capability(self.capabilities());
        let (status, text) = if preauthenticated {
            (
                Status::PreAuth,
                format!("{} moxide IMAP ready, logged in by TLS client certificate", self.config.hostname),
            )
        } else {
            (Status::Ok, format!("{} moxide IMAP ready", self.config.hostname))
        };
        write_untagged_status(self.out.buf(), status, Some(&code), &text);
    }

    /// The last command that ended since the previous call: its name, how it ended
    /// and when it started (the caller's clock), for the caller's metrics. Call after
    /// each [`Session::handle_input`] and [`Session::answer`]: a later command replaces an
    /// untaken one.
    pub fn take_completed(&mut self) -> Option<Completed> {
        self.completed.take()
    }

    /// Whether the client is logged in.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// Whether a mailbox is selected.
    pub fn is_selected(&self) -> bool {
        self.selected.is_some()
    }

    /// Whether the session is in IDLE: the caller should wake it on changes too.
    pub fn is_idling(&self) -> bool {
        matches!(self.running, Some(Running { job: Job::Idle, result: None, .. }))
            && !self.awaiting
            && self.queued.is_none()
    }

    /// The modseq up to which the view reported expunges (the caller's pin for deferred
    /// removal; see [`Event::Sync`]).
    pub fn view_modseq(&self) -> Option<u64> {
        self.selected.as_ref().map(|selected| selected.last_modseq)
    }

    /// Whether the session is done: close once the output is written.
    pub fn wants_close(&self) -> bool {
        self.closing && self.out.is_empty()
    }

    /// Whether an event waits to be polled or output to be written: the caller acts on
    /// it before reading more input.
    pub fn has_work(&self) -> bool {
        self.queued.is_some() || self.append_data || self.pending_deselect || !self.out.is_empty()
    }

    /// What to write next, if anything.
    pub fn pending_output(&self) -> Option<Output<'_>> {
        self.out.pending()
    }

    /// The caller wrote `n` bytes of [`Session::pending_output`].
    pub fn advance_output(&mut self, n: u64) {
        self.out.advance(n);
    }

    /// The bytes an [`Output::Read`] asked for (fewer at the end of the file; none past
    /// it, or when the file cannot be read and the caller goes on).
    pub fn file_read(&mut self, bytes: &[u8]) {
        self.out.provide(bytes);
    }

    /// True when the output must be written before the session goes on (FETCH's budget).
    pub fn output_blocked(&mut self) -> bool {
        self.out.over_budget()
    }

    /// When the command being read must be complete (before login only, see
    /// [`COMMAND_DURATION_MS_MIN`]); `None` when no command is being read.
    pub fn deadline_ms(&self) -> Option<u64> {
        let started = self.command_started_ms?;
        let allowance = self.config.command_duration_ms_min.saturating_add(
            self.command_bytes.saturating_mul(1000) / self.config.command_rate_bytes_per_second_min.max(1),
        );
        Some(started.saturating_add(allowance))
    }

    /// The client was silent too long (the caller's idle timeout or [`Self::deadline_ms`]):
    /// says BYE and closes.
    pub fn timed_out(&mut self) {
        if !self.closing {
            write_untagged_status(self.out.buf(), Status::Bye, None, "autologout: idle for too long");
            self.closing = true;
        }
    }

    /// Whether the session is between commands: nothing of a command read yet, none
    /// running (IDLE counts as between), no event or output waiting. A graceful shutdown
    /// ends such a session at once; one in the middle of a command may finish it first.
    pub fn is_between_commands(&self) -> bool {
        let running_idle = match &self.running {
            None => true,
            Some(_) => self.is_idling(),
        };
        running_idle && self.reader.is_idle() && !self.has_work() && !self.awaiting
    }

    /// The server is shutting down: says BYE and closes.
    pub fn shutdown(&mut self) {
        if !self.closing {
            write_untagged_status(self.out.buf(), Status::Bye, None, "server shutting down");
            self.closing = true;
        }
    }

    /// The selected mailbox changed (a change event for it arrived): the next point
    /// that allows updates reads what changed; in IDLE that is now.
    pub fn mailbox_changed(&mut self) {
        let updates = self.selected_updates();
        if updates == notify::SelectedUpdates::Off {
            return; // RFC 5465 §3: NOTIFY without SELECTED wants none
        }
        if let Some(selected) = self.selected.as_mut() {
            selected.dirty = true;
        }
        if self.is_idling() {
            self.queue_sync(true);
        } else if self.running.is_none() && !self.awaiting && self.queued.is_none() && !self.closing {
            // RFC 5465 §6: SELECTED sends updates at once; SELECTED-DELAYED keeps
            // expunges for a command that allows them.
            match updates {
                notify::SelectedUpdates::Immediate => self.queue_unsolicited_sync(true),
                notify::SelectedUpdates::Delayed => self.queue_unsolicited_sync(false),
                _ => {}
            }
        }
    }

    fn queue_unsolicited_sync(&mut self, allow_expunge: bool) {
        if self.selected.is_some() && self.reader.is_idle() {
            self.unsolicited = Some(allow_expunge);
            self.queue_sync(allow_expunge);
        }
    }

    /// The answer to a sync asked for between commands.
    fn unsolicited_answered(&mut self, answer: Answer, allow_expunge: bool) {
        let updates = self.updates(allow_expunge);
        let above = self.selected.as_ref().map_or(0, Selected::max_uid);
        if let (Some(selected), Answer::Changes(changes)) = (self.selected.as_mut(), answer) {
            selected.apply(changes, &mut self.out, updates);
        }
        self.start_notify_fetch(above);
    }

    /// The TLS handshake after STARTTLS succeeded; `mechanisms` are those offered now.
    /// Everything learned before it is forgotten (RFC 9051 §6.2.1).
    pub fn tls_started(&mut self, mechanisms: Vec<String>) {
        self.tls = true;
        self.mechanisms = mechanisms;
        self.reader = CommandReader::new(self.config.reader.clone());
        self.enabled = Enabled::default();
        if matches!(self.running, Some(Running { job: Job::StartTls, .. })) {
            self.running = None;
            self.awaiting = false;
        }
    }

    /// Uses bytes of `input` and returns how many (0 while an event waits). `now_ms`:
    /// the caller's clock, for deadlines and SEARCH YOUNGER/OLDER.
    pub fn handle_input(&mut self, input: &[u8], now_ms: u64) -> usize {
        self.now_ms = now_ms;
        if self.closing || self.awaiting || self.queued.is_some() || self.append_data || self.pending_deselect
        {
            return 0;
        }
        let mut used = 0;
        loop {
            let (n, event) = self.reader.feed(input.get(used..).unwrap_or_default());
            used += n;
            self.track_deadline(n, event.is_some(), now_ms);
            let Some(event) = event else { return used };
            let rest = input.len() - used;
            match event {
                ReadEvent::AppendData(bytes) => {
                    self.append_chunk.clear();
                    self.append_chunk.extend_from_slice(bytes);
                    self.append_data = true;
                }
                ReadEvent::Command(command) => self.command(command, rest > 0),
                other => self.read_event(other),
            }
            // An event the session decided alone (a CATENATE TEXT part accepted, a
            // refused part) leaves nothing for the caller: read on, or the caller
            // would wait for input the client already sent.
            if self.closing || self.awaiting || self.has_work() || self.running.is_none() {
                return used;
            }
        }
    }

    fn track_deadline(&mut self, used: usize, event: bool, now_ms: u64) {
        if self.authenticated || event || self.reader.is_idle() {
            self.command_started_ms = None;
            self.command_bytes = 0;
        } else if used > 0 {
            self.command_started_ms.get_or_insert(now_ms);
            self.command_bytes += used as u64;
        }
    }

    /// The next event, if one waits.
    pub fn poll_event(&mut self) -> Option<Event<'_>> {
        if std::mem::take(&mut self.pending_deselect) {
            return Some(Event::Deselected);
        }
        if std::mem::take(&mut self.append_data) {
            return Some(Event::AppendData(&self.append_chunk));
        }
        self.queued.take()
    }

    /// Queues an event; `answer`: the session waits for [`Session::answer`].
    pub(crate) fn request(&mut self, event: Event<'static>, answer: bool) {
        self.queued = Some(event);
        self.awaiting = answer;
    }

    /// The caller's answer to the event waiting for one.
    pub fn answer(&mut self, answer: Answer) {
        if !self.awaiting {
            return;
        }
        self.awaiting = false;
        if let Some(job) = self.notify_fetch.take() {
            return self.fetch_answered(job, answer);
        }
        if let Some(allow_expunge) = self.unsolicited.take() {
            return self.unsolicited_answered(answer, allow_expunge);
        }
        if let Some(index) = self.refreshing.take() {
            return self.context_searched(index, answer);
        }
        let Some(running) = self.running.as_mut() else { return };
        if running.result.is_some() {
            // The final sync of a command.
            let above = self.selected.as_ref().map_or(0, Selected::max_uid);
            match answer {
                Answer::Changes(changes) => self.apply_changes(changes),
                _ => self.apply_changes(MailboxChanges::default()),
            }
            if self.start_notify_fetch(above) {
                return; // the tagged response waits for NOTIFY's FETCH
            }
            if self.refresh_contexts() {
                return; // the tagged response waits for the contexts' updates
            }
            if let Some(result) = self.running.as_mut().and_then(|running| running.result.take()) {
                self.write_tagged(result);
            }
            return;
        }
        match (&running.job, answer) {
            // IDLE: updates as they come; the command goes on.
            (Job::Idle, Answer::Changes(changes)) => self.apply_idle_changes(changes),
            (_, answer) => self.continue_job(answer),
        }
    }

    /// IDLE's updates: what changed, then NOTIFY's MessageNew FETCH of the new
    /// messages, or else the SEARCH contexts' updates.
    pub(crate) fn apply_idle_changes(&mut self, changes: MailboxChanges) {
        let above = self.selected.as_ref().map_or(0, Selected::max_uid);
        self.apply_changes(changes);
        if !self.start_notify_fetch(above) {
            self.refresh_contexts();
        }
    }

    /// Routes an answer to its command.
    fn continue_job(&mut self, answer: Answer) {
        let Some(running) = self.running.as_mut() else { return };
        // Each handler sets the job it waits for next, or finishes.
        let job = std::mem::replace(&mut running.job, Job::Simple("done"));
        match job {
            Job::Simple(text) => self.finish(answer_done(answer, text)),
            Job::Delete(mailbox) => self.delete_answered(&mailbox, answer),
            Job::Login => self.login_answered(answer),
            Job::Authenticate(sasl) => self.auth_answered(sasl, answer),
            Job::Select(select) => self.select_answered(select, answer),
            Job::List(list) => self.list_answered(list, answer),
            Job::Status(attrs) => self.status_answered(&attrs, answer),
            Job::Fetch(fetch) => self.fetch_answered(fetch, answer),
            Job::Search(search) => self.search_answered(search, answer),
            Job::Sort(sort) => self.sort_answered(sort, answer),
            Job::MultiSearch(search) => self.multisearch_answered(search, answer),
            Job::Thread(thread) => self.thread_answered(thread, answer),
            Job::Quota(quota) => self.quota_answered(quota, answer),
            Job::Metadata(metadata) => self.metadata_answered(metadata, answer),
            Job::Store(store) => self.store_answered(store, answer),
            Job::Copy(copy) => self.copy_answered(copy, answer),
            Job::Expunge => self.expunge_answered(answer),
            Job::Close => self.close_answered(answer),
            Job::Append(append) => self.append_answered(append, answer),
            Job::Notify => self.notify_listed(answer),
            Job::UrlAuth(job) => self.urlauth_answered(job, answer),
            Job::Idle | Job::StartTls => self.finish(Err(CommandError::Internal)),
        }
    }

    /// Sets the running command's job.
    pub(crate) fn set_job(&mut self, job: Job) {
        if let Some(running) = self.running.as_mut() {
            running.job = job;
        }
    }

    /// Updates allowed now.
    pub(crate) fn updates(&self, allow_expunge: bool) -> Updates {
        Updates {
            allow_expunge,
            qresync: self.enabled.qresync || self.enabled.uidonly,
            condstore: self.enabled.condstore,
            uidonly: self.enabled.uidonly,
            rev1: !self.enabled.rev2,
            hide_flag_changes: self.notify.as_ref().is_some_and(notify::Notify::hides_flag_changes),
        }
    }

    /// `\Recent` handling for syncs of the selected mailbox.
    pub(crate) fn recent_mode(&self) -> RecentMode {
        match &self.selected {
            Some(selected) if !self.enabled.rev2 && !selected.read_only => RecentMode::Claim,
            _ => RecentMode::None,
        }
    }

    fn queue_sync(&mut self, allow_expunge: bool) {
        let Some(selected) = &self.selected else { return };
        let event = Event::Sync {
            since_modseq: selected.last_modseq,
            above_uid: selected.max_uid(),
            expunges: allow_expunge,
            recent: self.recent_mode(),
        };
        self.request(event, true);
    }

    fn apply_changes(&mut self, changes: MailboxChanges) {
        let allow_expunge = self.running.as_ref().is_none_or(|running| running.allow_expunge);
        let updates = self.updates(allow_expunge);
        if let Some(selected) = self.selected.as_mut() {
            selected.apply(changes, &mut self.out, updates);
        }
    }

    /// Ends the running command: syncs first when the view may be behind, then writes
    /// the tagged response.
    pub(crate) fn finish(&mut self, result: CommandResult) {
        // RFC 5465 §3: after NOTIFY without SELECTED the client wants no updates.
        let updates_on = self.selected_updates() != notify::SelectedUpdates::Off;
        let Some(running) = self.running.as_mut() else { return };
        // Stale contexts (RFC 5267 §4) are brought up to date where updates may go out.
        let dirty = self
            .selected
            .as_ref()
            .is_some_and(|selected| selected.dirty || (selected.contexts_stale && running.allow_expunge));
        if self.selected.is_some() && (dirty || running.force_sync) && !self.closing && updates_on {
            running.result = Some(result);
            let allow_expunge = running.allow_expunge;
            self.queue_sync(allow_expunge);
            return;
        }
        self.write_tagged(result);
    }

    /// Writes the tagged response of the running command and ends it.
    fn write_tagged(&mut self, result: CommandResult) {
        let Some(running) = self.running.take() else { return };
        self.awaiting = false;
        if self.append_chunk.capacity() > IDLE_APPEND_CHUNK_BYTES_MAX {
            // An APPEND is over: an idle session keeps no 64 KiB buffer.
            self.append_chunk = Vec::new();
        }
        let tag = running.tag;
        self.completed = Some(Completed {
            command: running.name,
            outcome: Outcome::of(&result),
            started_ms: running.started_ms,
        });
        match result {
            Ok(done) => {
                self.bad_in_a_row = 0;
                let mut code = done.code;
                if running.condstore_enabled
                    && let Some(selected) = &self.selected
                {
                    // RFC 7162 §3.1: the command that enabled CONDSTORE reports the
                    // mailbox's highest modseq.
                    let highest = ResponseCode::HighestModSeq(selected.highest_seen);
                    if code.is_none() {
                        code = Some(highest);
                    } else {
                        write_untagged_status(self.out.buf(), Status::Ok, Some(&highest), "highest");
                    }
                }
                write_tagged(self.out.buf(), &tag, Status::Ok, code.as_ref(), &done.text);
            }
            Err(CommandError::Bad(text)) => {
                write_tagged(self.out.buf(), &tag, Status::Bad, None, &text);
                self.count_bad();
            }
            Err(CommandError::BadCode(code, text)) => {
                write_tagged(self.out.buf(), &tag, Status::Bad, Some(&code), &text);
                self.count_bad();
            }
            Err(CommandError::No(code, text)) => {
                self.bad_in_a_row = 0;
                write_tagged(self.out.buf(), &tag, Status::No, code.as_ref(), &text);
            }
            Err(CommandError::Internal) => {
                write_tagged(
                    self.out.buf(),
                    &tag,
                    Status::No,
                    Some(&ResponseCode::ServerBug),
                    "internal error",
                );
            }
        }
    }

    pub(crate) fn count_bad(&mut self) {
        self.bad_in_a_row += 1;
        if self.bad_in_a_row > self.config.bad_commands_max {
            write_untagged_status(self.out.buf(), Status::Bye, None, "too many protocol errors");
            self.closing = true;
        }
    }

    /// Starts command `name` with `tag`.
    pub(crate) fn begin(&mut self, tag: Tag, name: &'static str, allow_expunge: bool, force_sync: bool) {
        self.running = Some(Running {
            tag,
            name,
            started_ms: self.now_ms,
            job: Job::Simple("done"),
            allow_expunge,
            force_sync,
            condstore_enabled: false,
            progress_ms: None,
            result: None,
        });
    }

    /// Turns CONDSTORE on by use (RFC 7162 §3.1); remembers that this command did.
    pub(crate) fn enable_condstore(&mut self) {
        if !self.enabled.condstore {
            self.enabled.condstore = true;
            if let Some(running) = self.running.as_mut() {
                running.condstore_enabled = true;
            }
        }
    }

    /// Mailbox names in UTF-8 on the wire (IMAP4rev2 or UTF8=ACCEPT, RFC 6855 §3).
    pub(crate) fn utf8(&self) -> bool {
        self.enabled.utf8 || self.enabled.rev2
    }

    /// The mailbox name a client sent, as names are stored (RFC 9051 §5.1: modified
    /// UTF-7 unless UTF-8 is enabled; INBOX in any case is INBOX). Interop: a name that
    /// is not valid modified UTF-7 is taken as it is: every ASTRING-CHAR may appear in a
    /// name (`&` among them), and the client then gets the name back in canonical form.
    pub(crate) fn mailbox_name(&self, sent: &str) -> String {
        let name = if self.utf8() || !sent.contains('&') {
            sent.to_owned()
        } else {
            super::utf7::decode(sent).unwrap_or_else(|_| sent.to_owned())
        };
        if name.eq_ignore_ascii_case("INBOX") {
            return "INBOX".to_owned();
        }
        match name.get(..6) {
            Some(prefix) if prefix.eq_ignore_ascii_case("INBOX/") => format!("INBOX/{}", &name[6..]),
            _ => name,
        }
    }
}

/// Done or the failure, for commands that end with `Done`.
fn answer_done(answer: Answer, text: &str) -> CommandResult {
    match answer {
        Answer::Done => Ok(Done::ok(text)),
        Answer::Created(key) => Ok(Done::with(ResponseCode::MailboxId(objectid::mailbox_id(key)), text)),
        Answer::Failed(error) => Err(error),
        _ => Err(CommandError::Internal),
    }
}
