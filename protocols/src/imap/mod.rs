//! IMAP server side, sans-IO: the command reader, the parser behind it, the values
//! commands carry, the response writer and modified UTF-7.
//!
//! IMAP4rev2 (RFC 9051) and IMAP4rev1 (RFC 3501) grammar, with LITERAL+ (RFC 7888),
//! BINARY (RFC 3516), SASL-IR (RFC 4959), ENABLE (RFC 5161), ID (RFC 2971),
//! LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819), SPECIAL-USE and CREATE-SPECIAL-USE
//! (RFC 6154), ESEARCH (RFC 4731), SEARCHRES (RFC 5182), MOVE (RFC 6851), UIDPLUS
//! (RFC 4315), CONDSTORE/QRESYNC (RFC 7162), STATUS=SIZE (RFC 8438), SAVEDATE
//! (RFC 8514), WITHIN (RFC 5032), SORT and THREAD (RFC 5256), SORT=DISPLAY (RFC 5957), MULTIAPPEND (RFC 3502), APPENDLIMIT (RFC 7889),
//! UTF8=ACCEPT (RFC 6855), IDLE (RFC 2177), UNSELECT (RFC 3691), NAMESPACE (RFC 2342).
//!
//! - [`reader`]: [`CommandReader`], bytes in, [`ReadEvent`]s out (commands, literal
//!   continuations, APPEND messages streamed, IDLE's DONE, SASL responses);
//! - [`parser`]: one complete command to a [`Command`], pure functions;
//! - [`command`] and [`types`]: what commands carry;
//! - [`response`]: status responses, response codes and data response pieces;
//! - [`utf7`]: modified UTF-7 mailbox names; [`datetime`]: IMAP dates;
//! - [`error`]: [`ReadError`] and its mapping to `BAD` / `NO [TOOBIG]`;
//! - [`limits`]: every limit with its reason;
//! - [`wildcard`]: LIST patterns, matched without backtracking;
//! - [`url`]: IMAP URLs naming messages and sections (RFC 5092), for CATENATE.
//!
//! The session (in `moxide-actors`) owns the connection state (authenticated,
//! selected, UTF-8 mode) and decides what each command means; nothing here does IO.

pub mod command;
pub mod datetime;
pub mod error;
pub mod limits;
pub mod parser;
pub mod reader;
pub mod response;
pub mod server;
pub mod types;
pub mod url;
pub mod utf7;
pub mod wildcard;

pub use command::{Command, CommandBody};
pub use datetime::{Date, DateTime};
pub use error::{ReadError, ReadErrorKind};
pub use limits::*;
pub use parser::parse_command;
pub use reader::{CommandReader, ReadEvent, ReadMode, ReaderConfig};
pub use response::{
    EsearchResponse, ListExtendedItem, MailboxCorrelator, MetadataCode, Namespace, ResponseCode, Status,
    write_astring, write_capability, write_continuation, write_datetime, write_enabled, write_esearch,
    write_exists, write_expunge, write_flags, write_id, write_list, write_literal_header, write_lsub,
    write_mailbox, write_metadata, write_namespace, write_nstring, write_search, write_sort, write_status,
    write_string, write_tagged, write_untagged, write_untagged_status, write_vanished,
};
pub use types::{
    FetchAttr, FetchModifier, Flag, ListCommand, MailboxFilter, MetadataDepth, Partial, PartialRange,
    QresyncParams, SearchCommand, SearchKey, SearchReturn, Section, SectionText, SelectParams, SeqNumber,
    SeqRange, SequenceSet, SortCommand, SortCriterion, SortKey, StatusAttr, StoreMode, Tag, ThreadAlgorithm,
    format_uid_set,
};
pub use utf7::Utf7Error;
