//! Named limits of the IMAP command reader and parser, each with the reason for its
//! number.
//!
//! [`ReaderConfig`](super::ReaderConfig) fields default to these; the reader enforces
//! the config values. Every limit is tested at N and N+1 in `tests/imap_reader.rs`.

/// Most non-literal bytes in one command (all its lines together, line ends included):
/// 64 KiB. RFC 9051 §4 sets no line limit but RFC 7162 §4 asks servers to take lines of
/// at least 8192 octets; long UID sets from QRESYNC clients and LIST patterns need room,
/// and anything larger belongs in a literal. A longer line is skipped to its LF, never
/// buffered, and answered with BAD.
pub const LINE_BYTES_MAX: usize = 64 * 1024;

const _: () = assert!(LINE_BYTES_MAX >= 8192); // RFC 7162 §4's floor

/// Largest literal accepted outside APPEND (mailbox names, passwords, search strings):
/// 64 KiB. Such literals are buffered with the command, so their size is memory held per
/// connection; no legitimate argument comes near it.
pub const LITERAL_BYTES_MAX: usize = 64 * 1024;

/// Largest message accepted by APPEND, advertised as `APPENDLIMIT` (RFC 7889): 100 MiB,
/// the same as the SMTP `SIZE` limit, so that whatever arrives by mail can be copied in.
/// Message bytes are streamed to the caller, never buffered.
pub const APPEND_BYTES_MAX: u64 = 100 * 1024 * 1024;

/// Deepest nesting of parenthesized lists (SEARCH keys with `(`, `NOT`, `OR`). Real
/// clients nest two or three levels; 32 leaves room for generated searches while keeping
/// the parser's explicit stack small. Deeper input gets BAD.
pub const NESTING_MAX: usize = 32;

/// Most literals in one command, APPEND messages not counted. Clients send literals for
/// non-ASCII search strings and odd mailbox names, a handful per command; 32 covers a
/// generated SEARCH and bounds what one command can make a connection hold to
/// 32 × [`LITERAL_BYTES_MAX`] + [`LINE_BYTES_MAX`] (about 2 MiB).
pub const COMMAND_LITERALS_MAX: usize = 32;

/// Most messages in one MULTIAPPEND command (RFC 3502). The session keeps every
/// accepted message until the command ends (MULTIAPPEND is all or nothing), so the count
/// is bounded; 1000 is more than any client uploads at once.
pub const APPEND_MESSAGES_MAX: u32 = 1000;

/// Most parts (TEXT and URL) in one CATENATE message (RFC 4469). Each part costs a
/// decision and, for a URL, a lookup of the referenced message; the total size is
/// bounded by APPENDLIMIT, but empty parts are not, so the count is. Composing a message
/// from a draft takes a handful of parts; 256 leaves room for a message of many
/// forwarded attachments.
pub const CATENATE_PARTS_MAX: usize = 256;

/// Largest piece of message data handed out in one
/// [`ReadEvent::AppendData`](super::ReadEvent::AppendData): 64 KiB, a good size for one
/// spool-file write.
pub const APPEND_CHUNK_BYTES_MAX: usize = 64 * 1024;

/// Longest tag accepted: tags are client-chosen identifiers echoed in the answer; no
/// client uses more than a few characters, and a long tag inflates every error reply.
pub const TAG_BYTES_MAX: usize = 64;

/// Most decimal digits in a number. `number64` (RFC 9051 §9) is at most 2^63-1, which has
/// 19 digits; leading zeros beyond that are refused rather than counted.
pub const NUMBER_DIGITS_MAX: usize = 19;

/// Buffer capacity kept between commands; a larger buffer (after a big command) is
/// released. Keeps an idle connection within its memory budget (STYLE.md: 16 KiB per
/// idle IMAP connection).
pub const IDLE_BUFFER_BYTES_MAX: usize = 4096;
const _: () = assert!(IDLE_BUFFER_BYTES_MAX <= 16 * 1024);

/// Most field/value pairs in an ID command: RFC 2971 §3.3 says clients MUST NOT send
/// more than 30.
pub const ID_FIELDS_MAX: usize = 30;

/// Most criteria in one SORT: RFC 5256 §3 has nine keys (RFC 5957 adds two), each useful
/// once; 16 leaves room for repeats and keeps a sort's per-message key small.
pub const SORT_CRITERIA_MAX: usize = 16;

/// Longest METADATA entry name (RFC 5464 §3.2), in bytes: 256. The RFC sets none; the
/// registered names are a few dozen bytes, vendor names a few more, and the store keys
/// an entry by its name (LMDB keys are at most 511 bytes). Longer names get BAD.
pub const METADATA_ENTRY_NAME_BYTES_MAX: usize = 256;

/// Most entries named in one GETMETADATA, SETMETADATA or LIST RETURN (METADATA ...):
/// 100, the number one mailbox may hold (the store's `METADATA_ENTRIES_PER_MAILBOX_MAX`);
/// bounds what parsing one command holds beside the literal limits. More get BAD.
pub const METADATA_COMMAND_ENTRIES_MAX: usize = 100;
