//! Writing IMAP responses (RFC 9051 §7, RFC 3501 §7): status responses with response
//! codes (RFC 9051 §7.1, RFC 4315 §3 APPENDUID/COPYUID, RFC 7162 §3.1.2 and §3.2.10
//! HIGHESTMODSEQ/MODIFIED/NOMODSEQ), continuation requests, and the pieces the session
//! assembles data responses from: strings, mailbox names, flags, dates, and small
//! writers for EXISTS, EXPUNGE, VANISHED (RFC 7162 §3.2.10), CAPABILITY, ENABLED
//! (RFC 5161), LIST/LSUB (RFC 5258 extended items), STATUS, SEARCH, ESEARCH (RFC 4731),
//! ID (RFC 2971), NAMESPACE (RFC 2342), FLAGS, RECENT (RFC 3501 §7.3.2) and FETCH items
//! (RFC 9051 §7.5.2). Every byte the server session sends is written here.
//!
//! Invariant: nothing a caller passes can break the framing. Human-readable text has
//! CR, LF and NUL replaced by spaces; strings are written as atoms, quoted strings or
//! literals, whichever represents them exactly (a literal `{n}` carries any bytes).

use std::fmt::Write as _;

use super::datetime::DateTime;
use super::types::{Flag, PartialRange, Section, SectionText, StatusAttr, Tag, is_atom_char};
use super::utf7;

/// The status of a status response (RFC 9051 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    /// `OK`.
    Ok,
    /// `NO`.
    No,
    /// `BAD`.
    Bad,
    /// `PREAUTH` (greeting only).
    PreAuth,
    /// `BYE`.
    Bye,
}

impl Status {
    fn keyword(self) -> &'static str {
        match self {
            Self::Ok => "OK",
            Self::No => "NO",
            Self::Bad => "BAD",
            Self::PreAuth => "PREAUTH",
            Self::Bye => "BYE",
        }
    }

    /// Text used when the caller gives none: rev1 clients require text.
    fn default_text(self) -> &'static str {
        match self {
            Self::Ok => "done",
            Self::No => "failed",
            Self::Bad => "error",
            Self::PreAuth => "logged in",
            Self::Bye => "closing",
        }
    }
}

/// A response code (RFC 9051 §7.1 and the extensions).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ResponseCode {
    /// `ALERT`.
    Alert,
    /// `ALREADYEXISTS`.
    AlreadyExists,
    /// `APPENDUID uidvalidity uid-set` (RFC 4315 §3).
    AppendUid {
        /// The destination's UIDVALIDITY.
        uidvalidity: u32,
        /// The new UIDs, as a set (see [`super::format_uid_set`]).
        uids: String,
    },
    /// `AUTHENTICATIONFAILED`.
    AuthenticationFailed,
    /// `AUTHORIZATIONFAILED`.
    AuthorizationFailed,
    /// `BADCHARSET (charsets)`.
    BadCharset(Vec<String>),
    /// `BADEVENT (events)` (RFC 5465 §3.1): NOTIFY named an event the server does not
    /// support; the list names those it does.
    BadEvent(Vec<String>),
    /// `BADURL url` (RFC 4469 §5 as corrected by erratum 4046: the URL bare, without
    /// `]` or control characters, which are left out).
    BadUrl(String),
    /// `CANNOT`.
    Cannot,
    /// `CAPABILITY caps`.
    Capability(Vec<String>),
    /// `CLIENTBUG`.
    ClientBug,
    /// `CLOSED` (RFC 7162 §3.2.11).
    Closed,
    /// `COMPRESSIONACTIVE` (RFC 4978 §3): COMPRESS when compression is on already.
    CompressionActive,
    /// `CONTACTADMIN`.
    ContactAdmin,
    /// `COPYUID uidvalidity source-set destination-set` (RFC 4315 §3).
    CopyUid {
        /// The destination's UIDVALIDITY.
        uidvalidity: u32,
        /// Source UIDs, as a set.
        source: String,
        /// Destination UIDs, in the same order.
        destination: String,
    },
    /// `CORRUPTION`.
    Corruption,
    /// `EXPIRED`.
    Expired,
    /// `EXPUNGEISSUED`.
    ExpungeIssued,
    /// `HASCHILDREN`.
    HasChildren,
    /// `HIGHESTMODSEQ n` (RFC 7162 §3.1.2.1).
    HighestModSeq(u64),
    /// `INUSE`.
    InUse,
    /// `MAILBOXID (objectid)` (RFC 8474 §4); the id is sanitized to object id characters.
    MailboxId(String),
    /// `LIMIT`.
    Limit,
    /// `INPROGRESS ("tag" done total)` (RFC 9585): a long command's progress.
    InProgress {
        /// The command's tag.
        tag: String,
        /// Units of work done.
        done: u64,
        /// Units of work in all.
        total: u64,
    },
    /// `METADATA ...` (RFC 5464 §4.2.1, §4.3).
    Metadata(MetadataCode),
    /// `MODIFIED set` (RFC 7162 §3.1.3).
    Modified(String),
    /// `NOUPDATE "tag"` (RFC 5267 §4.2): the SEARCH of that tag got no UPDATE context.
    NoUpdate(String),
    /// `NOTIFICATIONOVERFLOW` (RFC 5465 §5.8): notifications stopped.
    NotificationOverflow,
    /// `NOMODSEQ` (RFC 7162 §3.1.2.2).
    NoModSeq,
    /// `NONEXISTENT`.
    NonExistent,
    /// `NOPERM`.
    NoPerm,
    /// `OVERQUOTA`.
    OverQuota,
    /// `PARSE`.
    Parse,
    /// `PERMANENTFLAGS (flags)`; use `Flag::Extension("\\*")` for `\*`.
    PermanentFlags(Vec<Flag>),
    /// `PRIVACYREQUIRED`.
    PrivacyRequired,
    /// `READ-ONLY`.
    ReadOnly,
    /// `READ-WRITE`.
    ReadWrite,
    /// `SERVERBUG`.
    ServerBug,
    /// `TOOBIG` (RFC 7889 for APPEND).
    TooBig,
    /// `TRYCREATE`.
    TryCreate,
    /// `UIDREQUIRED` (RFC 9586 §3.2): a command with message sequence numbers after
    /// ENABLE UIDONLY.
    UidRequired,
    /// `UIDNEXT n`.
    UidNext(u32),
    /// `UIDNOTSTICKY` (RFC 4315 §3).
    UidNotSticky,
    /// `UIDVALIDITY n`.
    UidValidity(u32),
    /// `UNAVAILABLE`.
    Unavailable,
    /// `UNKNOWN-CTE` (RFC 3516).
    UnknownCte,
    /// `UNSEEN n` (IMAP4rev1).
    Unseen(u32),
}

/// The `METADATA` response codes (RFC 5464 §4.2.1, §4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetadataCode {
    /// `LONGENTRIES n`: MAXSIZE left out values; the longest was n octets.
    LongEntries(u64),
    /// `MAXSIZE n`: a value is over the server's limit of n octets.
    MaxSize(u64),
    /// `TOOMANY`: the entry cannot be added, too many entries.
    TooMany,
    /// `NOPRIVATE`: private entries are not supported.
    NoPrivate,
}

impl ResponseCode {
    /// The keyword for codes without arguments.
    fn simple_keyword(&self) -> Option<&'static str> {
        let keyword = match self {
            Self::Alert => "ALERT",
            Self::AlreadyExists => "ALREADYEXISTS",
            Self::AuthenticationFailed => "AUTHENTICATIONFAILED",
            Self::AuthorizationFailed => "AUTHORIZATIONFAILED",
            Self::Cannot => "CANNOT",
            Self::ClientBug => "CLIENTBUG",
            Self::Closed => "CLOSED",
            Self::CompressionActive => "COMPRESSIONACTIVE",
            Self::ContactAdmin => "CONTACTADMIN",
            Self::Corruption => "CORRUPTION",
            Self::Expired => "EXPIRED",
            Self::ExpungeIssued => "EXPUNGEISSUED",
            Self::HasChildren => "HASCHILDREN",
            Self::InUse => "INUSE",
            Self::Limit => "LIMIT",
            Self::NoModSeq => "NOMODSEQ",
            Self::NotificationOverflow => "NOTIFICATIONOVERFLOW",
            Self::NonExistent => "NONEXISTENT",
            Self::NoPerm => "NOPERM",
            Self::OverQuota => "OVERQUOTA",
            Self::Parse => "PARSE",
            Self::PrivacyRequired => "PRIVACYREQUIRED",
            Self::ReadOnly => "READ-ONLY",
            Self::ReadWrite => "READ-WRITE",
            Self::ServerBug => "SERVERBUG",
            Self::TooBig => "TOOBIG",
            Self::TryCreate => "TRYCREATE",
            Self::UidNotSticky => "UIDNOTSTICKY",
            Self::UidRequired => "UIDREQUIRED",
            Self::Unavailable => "UNAVAILABLE",
            Self::UnknownCte => "UNKNOWN-CTE",
            _ => return None,
        };
        Some(keyword)
    }

    /// Appends the code without brackets, e.g. `COPYUID 7 1:3 10:12`. Set arguments
    /// are sanitized to set characters, charset names and capabilities to atom
    /// characters, so a caller's string cannot close the bracket early.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        if let Some(keyword) = self.simple_keyword() {
            out.extend_from_slice(keyword.as_bytes());
            return;
        }
        match self {
            Self::AppendUid { uidvalidity, uids } => {
                fmt_to(out, format_args!("APPENDUID {uidvalidity} "));
                write_set_text(out, uids);
            }
            Self::BadCharset(charsets) => {
                out.extend_from_slice(b"BADCHARSET");
                if !charsets.is_empty() {
                    out.extend_from_slice(b" (");
                    for (i, charset) in charsets.iter().enumerate() {
                        if i > 0 {
                            out.push(b' ');
                        }
                        write_atom_text(out, charset);
                    }
                    out.push(b')');
                }
            }
            Self::BadEvent(events) => {
                out.extend_from_slice(b"BADEVENT (");
                for (i, event) in events.iter().enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    write_atom_text(out, event);
                }
                out.push(b')');
            }
            Self::Capability(capabilities) => {
                out.extend_from_slice(b"CAPABILITY");
                for capability in capabilities {
                    out.push(b' ');
                    write_atom_text(out, capability);
                }
            }
            Self::CopyUid { uidvalidity, source, destination } => {
                fmt_to(out, format_args!("COPYUID {uidvalidity} "));
                write_set_text(out, source);
                out.push(b' ');
                write_set_text(out, destination);
            }
            Self::HighestModSeq(modseq) => fmt_to(out, format_args!("HIGHESTMODSEQ {modseq}")),
            Self::MailboxId(id) => {
                out.extend_from_slice(b"MAILBOXID (");
                write_objectid(out, id);
                out.push(b')');
            }
            Self::Modified(set) => {
                out.extend_from_slice(b"MODIFIED ");
                write_set_text(out, set);
            }
            Self::PermanentFlags(flags) => {
                out.extend_from_slice(b"PERMANENTFLAGS ");
                write_flags(out, flags);
            }
            Self::UidNext(n) => fmt_to(out, format_args!("UIDNEXT {n}")),
            Self::UidValidity(n) => fmt_to(out, format_args!("UIDVALIDITY {n}")),
            Self::Unseen(n) => fmt_to(out, format_args!("UNSEEN {n}")),
            Self::InProgress { tag, done, total } => {
                out.extend_from_slice(b"INPROGRESS (");
                write_string(out, tag.as_bytes());
                fmt_to(out, format_args!(" {done} {total})"));
            }
            Self::Metadata(code) => match code {
                MetadataCode::LongEntries(n) => fmt_to(out, format_args!("METADATA LONGENTRIES {n}")),
                MetadataCode::MaxSize(n) => fmt_to(out, format_args!("METADATA MAXSIZE {n}")),
                MetadataCode::TooMany => out.extend_from_slice(b"METADATA TOOMANY"),
                MetadataCode::NoPrivate => out.extend_from_slice(b"METADATA NOPRIVATE"),
            },
            Self::NoUpdate(tag) => {
                out.extend_from_slice(b"NOUPDATE ");
                write_string(out, tag.as_bytes());
            }
            Self::BadUrl(url) => {
                out.extend_from_slice(b"BADURL ");
                let text = url.bytes().filter(|&b| b != b']' && !b.is_ascii_control());
                out.extend(text);
            }
            _ => {}
        }
    }
}

/// Writes a sequence-set string, dropping anything but digits, `:`, `,` and `*`.
fn write_set_text(out: &mut Vec<u8>, set: &str) {
    out.extend(set.bytes().filter(|b| b.is_ascii_digit() || matches!(b, b':' | b',' | b'*')));
}

/// Writes an atom-like word (capability, charset name), dropping non-atom characters.
fn write_atom_text(out: &mut Vec<u8>, word: &str) {
    out.extend(word.bytes().filter(|&b| is_atom_char(b)));
}

/// Writes human-readable text with CR, LF and NUL replaced by spaces.
fn write_text(out: &mut Vec<u8>, text: &str) {
    out.extend(text.bytes().map(|b| if matches!(b, b'\r' | b'\n' | 0) { b' ' } else { b }));
}

fn write_status_rest(out: &mut Vec<u8>, status: Status, code: Option<&ResponseCode>, text: &str) {
    out.extend_from_slice(status.keyword().as_bytes());
    out.push(b' ');
    if let Some(code) = code {
        out.push(b'[');
        code.write_to(out);
        out.extend_from_slice(b"] ");
    }
    let text = if text.is_empty() { status.default_text() } else { text };
    write_text(out, text);
    out.extend_from_slice(b"\r\n");
}

/// `tag SP status SP ["[" code "]" SP] text CRLF`. Empty text is replaced by a short
/// default (IMAP4rev1 requires text).
pub fn write_tagged(out: &mut Vec<u8>, tag: &Tag, status: Status, code: Option<&ResponseCode>, text: &str) {
    write_text(out, &tag.0);
    out.push(b' ');
    write_status_rest(out, status, code, text);
}

/// `* status SP ["[" code "]" SP] text CRLF`, e.g. `* OK [UIDNEXT 5] predicted`.
pub fn write_untagged_status(out: &mut Vec<u8>, status: Status, code: Option<&ResponseCode>, text: &str) {
    out.extend_from_slice(b"* ");
    write_status_rest(out, status, code, text);
}

/// `+ text CRLF`: a continuation request (text may be a base64 SASL challenge).
pub fn write_continuation(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(b"+ ");
    write_text(out, text);
    out.extend_from_slice(b"\r\n");
}

/// `* ` + content + CRLF: an untagged data response assembled by the caller with the
/// writers below. The content is written as given (it may hold literals).
pub fn write_untagged(out: &mut Vec<u8>, content: &[u8]) {
    out.extend_from_slice(b"* ");
    out.extend_from_slice(content);
    out.extend_from_slice(b"\r\n");
}

/// Whether `bytes` can be a quoted string: no CR, LF or NUL, and 7-bit unless `utf8`.
fn quotable(bytes: &[u8], utf8: bool) -> bool {
    bytes.iter().all(|&b| !matches!(b, b'\r' | b'\n' | 0) && (utf8 || b < 0x80))
}

fn write_quoted(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for &b in bytes {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
}

fn write_literal(out: &mut Vec<u8>, bytes: &[u8]) {
    write_literal_header(out, bytes.len() as u64, false);
    out.extend_from_slice(bytes);
}

/// Whether `s` can be sent as an astring atom: ASTRING-CHARs, and not `NIL` (which a
/// client could take for the nil value where an nstring may appear).
fn is_astring_atom(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| is_atom_char(b) || b == b']') && !s.eq_ignore_ascii_case("NIL")
}

/// An astring: an atom if possible, else a quoted string (7-bit), else a literal.
pub fn write_astring(out: &mut Vec<u8>, s: &str) {
    if is_astring_atom(s) {
        out.extend_from_slice(s.as_bytes());
    } else {
        write_string(out, s.as_bytes());
    }
}

/// A string: quoted if 7-bit without CR/LF/NUL, else a literal `{n}` (which IMAP4rev1
/// clients accept for 8-bit text too).
pub fn write_string(out: &mut Vec<u8>, s: &[u8]) {
    if quotable(s, false) {
        write_quoted(out, s);
    } else {
        write_literal(out, s);
    }
}

/// An nstring: `NIL` for `None`, else [`write_string`].
pub fn write_nstring(out: &mut Vec<u8>, s: Option<&[u8]>) {
    match s {
        Some(s) => write_string(out, s),
        None => out.extend_from_slice(b"NIL"),
    }
}

/// A mailbox name: modified UTF-7 (RFC 3501 §5.1.3) unless the session is in UTF-8 mode
/// (IMAP4rev2 or UTF8=ACCEPT, RFC 6855 §3), where UTF-8 may be quoted.
pub fn write_mailbox(out: &mut Vec<u8>, name: &str, utf8: bool) {
    if !utf8 {
        write_astring(out, &utf7::encode(name));
    } else if is_astring_atom(name) {
        out.extend_from_slice(name.as_bytes());
    } else if quotable(name.as_bytes(), true) {
        write_quoted(out, name.as_bytes());
    } else {
        write_literal(out, name.as_bytes());
    }
}

/// `* METADATA mailbox (entry value *(SP entry value))` (RFC 5464 §4.4.1): a value is
/// `NIL`, a string, or a literal8 when it holds NUL (RFC 5464 §5).
pub fn write_metadata(out: &mut Vec<u8>, mailbox: &str, utf8: bool, entries: &[(&str, Option<&[u8]>)]) {
    out.extend_from_slice(b"* METADATA ");
    write_mailbox(out, mailbox, utf8);
    out.extend_from_slice(b" (");
    for (i, (name, value)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        write_astring(out, name);
        out.push(b' ');
        match value {
            Some(value) if value.contains(&0) => {
                write_literal_header(out, value.len() as u64, true);
                out.extend_from_slice(value);
            }
            value => write_nstring(out, *value),
        }
    }
    out.extend_from_slice(b")\r\n");
}

/// `{n}\r\n` or, for literal8 (RFC 3516 §4.3), `~{n}\r\n`; the caller writes the n
/// octets next.
pub fn write_literal_header(out: &mut Vec<u8>, length: u64, binary: bool) {
    if binary {
        out.push(b'~');
    }
    fmt_to(out, format_args!("{{{length}}}\r\n"));
}

/// `(\Seen $Junk)`; flags that would not survive as atoms are left out.
pub fn write_flags(out: &mut Vec<u8>, flags: &[Flag]) {
    write_flag_names(out, flags.iter().map(Flag::as_str));
}

/// `(\Seen $Junk)` from flag texts, without building [`Flag`]s (FETCH writes one list
/// per message); texts that would not survive as atoms are left out.
pub fn write_flag_names<'a>(out: &mut Vec<u8>, names: impl IntoIterator<Item = &'a str>) {
    out.push(b'(');
    let mut first = true;
    for text in names {
        let body = text.strip_prefix('\\').unwrap_or(text);
        let valid = body == "*" || (!body.is_empty() && body.bytes().all(is_atom_char));
        if !valid {
            continue;
        }
        if !first {
            out.push(b' ');
        }
        first = false;
        out.extend_from_slice(text.as_bytes());
    }
    out.push(b')');
}

/// A quoted date-time: `"17-Jul-1996 02:44:25 -0700"`.
pub fn write_datetime(out: &mut Vec<u8>, dt: &DateTime) {
    out.push(b'"');
    out.extend_from_slice(dt.to_string().as_bytes());
    out.push(b'"');
}

/// `* n EXISTS`.
pub fn write_exists(out: &mut Vec<u8>, n: u32) {
    fmt_to(out, format_args!("* {n} EXISTS\r\n"));
}

/// `* seq EXPUNGE`.
pub fn write_expunge(out: &mut Vec<u8>, seq: u32) {
    fmt_to(out, format_args!("* {seq} EXPUNGE\r\n"));
}

/// `* VANISHED [(EARLIER) ]uid-set` (RFC 7162 §3.2.10). `uid_set` from
/// [`super::format_uid_set`].
pub fn write_vanished(out: &mut Vec<u8>, earlier: bool, uid_set: &str) {
    out.extend_from_slice(b"* VANISHED ");
    if earlier {
        out.extend_from_slice(b"(EARLIER) ");
    }
    write_set_text(out, uid_set);
    out.extend_from_slice(b"\r\n");
}

/// `* CAPABILITY cap ...`.
pub fn write_capability(out: &mut Vec<u8>, caps: &[&str]) {
    out.extend_from_slice(b"* CAPABILITY");
    for cap in caps {
        out.push(b' ');
        write_atom_text(out, cap);
    }
    out.extend_from_slice(b"\r\n");
}

/// `* ENABLED cap ...` (RFC 5161 §3.2); sent even when empty.
pub fn write_enabled(out: &mut Vec<u8>, caps: &[&str]) {
    out.extend_from_slice(b"* ENABLED");
    for cap in caps {
        out.push(b' ');
        write_atom_text(out, cap);
    }
    out.extend_from_slice(b"\r\n");
}

/// An extended data item of a LIST response (RFC 5258 §6 `mbox-list-extended`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ListExtendedItem<'a> {
    /// `("CHILDINFO" ("SUBSCRIBED"))`: a child matches the selection (RECURSIVEMATCH,
    /// RFC 5258 §3.5).
    ChildInfoSubscribed,
    /// `("OLDNAME" ("name"))` (RFC 9051 §6.3.9.7): the name before a RENAME, or in the
    /// other encoding.
    OldName(&'a str),
}

/// `* LIST (attributes) delimiter name [(extended items)]`. Attributes are written as
/// given (e.g. `\HasNoChildren`, `\Sent`), with non-atom characters dropped; the
/// delimiter is a quoted character or `NIL`.
pub fn write_list(
    out: &mut Vec<u8>,
    attributes: &[&str],
    delimiter: Option<char>,
    name: &str,
    utf8: bool,
    extended: &[ListExtendedItem<'_>],
) {
    write_list_line(out, "LIST", attributes, delimiter, name, utf8);
    if !extended.is_empty() {
        out.extend_from_slice(b" (");
        for (i, item) in extended.iter().enumerate() {
            if i > 0 {
                out.push(b' ');
            }
            match item {
                ListExtendedItem::ChildInfoSubscribed => {
                    out.extend_from_slice(b"\"CHILDINFO\" (\"SUBSCRIBED\")")
                }
                ListExtendedItem::OldName(old) => {
                    out.extend_from_slice(b"\"OLDNAME\" (");
                    write_mailbox_string(out, old, utf8);
                    out.push(b')');
                }
            }
        }
        out.push(b')');
    }
    out.extend_from_slice(b"\r\n");
}

/// `* LSUB (attributes) delimiter name` (IMAP4rev1).
pub fn write_lsub(out: &mut Vec<u8>, attributes: &[&str], delimiter: Option<char>, name: &str, utf8: bool) {
    write_list_line(out, "LSUB", attributes, delimiter, name, utf8);
    out.extend_from_slice(b"\r\n");
}

fn write_list_line(
    out: &mut Vec<u8>,
    verb: &str,
    attributes: &[&str],
    delimiter: Option<char>,
    name: &str,
    utf8: bool,
) {
    out.extend_from_slice(b"* ");
    out.extend_from_slice(verb.as_bytes());
    out.extend_from_slice(b" (");
    for (i, attribute) in attributes.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        if let Some(rest) = attribute.strip_prefix('\\') {
            out.push(b'\\');
            write_atom_text(out, rest);
        } else {
            write_atom_text(out, attribute);
        }
    }
    out.extend_from_slice(b") ");
    match delimiter {
        Some(c) if c.is_ascii() && !c.is_ascii_control() => {
            let mut buf = [0u8; 1];
            write_quoted(out, c.encode_utf8(&mut buf).as_bytes());
        }
        _ => out.extend_from_slice(b"NIL"),
    }
    out.push(b' ');
    write_mailbox(out, name, utf8);
}

/// `* STATUS name (ITEM n ...)` (RFC 9051 §7.4).
pub fn write_status(out: &mut Vec<u8>, name: &str, utf8: bool, items: &[(StatusAttr, u64)]) {
    out.extend_from_slice(b"* STATUS ");
    write_mailbox(out, name, utf8);
    out.extend_from_slice(b" (");
    for (i, (attr, value)) in items.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        if *attr == StatusAttr::MailboxId {
            // RFC 8474 §4.3: the value is `(objectid)`, made from the mailbox key.
            out.extend_from_slice(b"MAILBOXID (");
            write_objectid(out, &super::server::objectid::mailbox_id(*value));
            out.push(b')');
        } else {
            fmt_to(out, format_args!("{} {value}", attr.name()));
        }
    }
    out.extend_from_slice(b")\r\n");
}

/// `* SEARCH n ... [(MODSEQ m)]` (RFC 7162 §3.1.5 adds the MODSEQ part).
pub fn write_search(out: &mut Vec<u8>, numbers: &[u32], modseq: Option<u64>) {
    write_search_open(out);
    for &n in numbers {
        write_search_number(out, n);
    }
    write_search_close(out, modseq);
}

/// The start of a `* SEARCH` response written in pieces (see [`write_search`]).
pub fn write_search_open(out: &mut Vec<u8>) {
    out.extend_from_slice(b"* SEARCH");
}

/// One number of a `* SEARCH` response.
pub fn write_search_number(out: &mut Vec<u8>, n: u32) {
    fmt_to(out, format_args!(" {n}"));
}

/// The end of a `* SEARCH` response: CONDSTORE's highest modseq (RFC 7162 §3.1.5), CRLF.
pub fn write_search_close(out: &mut Vec<u8>, modseq: Option<u64>) {
    if let Some(modseq) = modseq {
        fmt_to(out, format_args!(" (MODSEQ {modseq})"));
    }
    out.extend_from_slice(b"\r\n");
}

/// `* SORT n...` (RFC 5256 §4), with `(MODSEQ n)` when the search used MODSEQ (RFC 7162
/// §3.1.5).
pub fn write_sort(out: &mut Vec<u8>, numbers: &[u32], modseq: Option<u64>) {
    out.extend_from_slice(b"* SORT");
    for n in numbers {
        fmt_to(out, format_args!(" {n}"));
    }
    if let Some(modseq) = modseq {
        fmt_to(out, format_args!(" (MODSEQ {modseq})"));
    }
    out.extend_from_slice(b"\r\n");
}

/// The data of an ESEARCH response (RFC 4731 §3.1); absent items are left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct EsearchResponse<'a> {
    /// The command's tag, written as `(TAG "...")`.
    pub tag: Option<&'a Tag>,
    /// The numbers are UIDs (`UID` marker).
    pub uid: bool,
    /// `MIN n`.
    pub min: Option<u32>,
    /// `MAX n`.
    pub max: Option<u32>,
    /// `ALL set` (from [`super::format_uid_set`]; empty sets are not written).
    pub all: Option<&'a str>,
    /// `COUNT n`.
    pub count: Option<u32>,
    /// `MODSEQ n` (RFC 7162 §3.1.5).
    pub modseq: Option<u64>,
    /// `PARTIAL (range set)` (RFC 9394 §3.1): the range as asked and the set in it
    /// (empty: `NIL`).
    pub partial: Option<(PartialRange, &'a str)>,
    /// MULTISEARCH's correlators after the tag (RFC 7377 §2.1).
    pub mailbox: Option<MailboxCorrelator<'a>>,
}

/// The `MAILBOX` and `UIDVALIDITY` correlators of an ESEARCH response to MULTISEARCH
/// (RFC 7377 §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MailboxCorrelator<'a> {
    /// The mailbox's stored name.
    pub name: &'a str,
    /// Names go out in UTF-8 (else modified UTF-7).
    pub utf8: bool,
    /// Its UIDVALIDITY.
    pub uidvalidity: u32,
}

/// `* ESEARCH [(TAG "t")] [UID] [MIN n] [MAX n] [ALL set] [COUNT n] [MODSEQ n]`.
pub fn write_esearch(out: &mut Vec<u8>, response: &EsearchResponse<'_>) {
    out.extend_from_slice(b"* ESEARCH");
    if let Some(tag) = response.tag {
        out.extend_from_slice(b" (TAG ");
        write_string(out, tag.0.as_bytes());
        if let Some(mailbox) = response.mailbox {
            out.extend_from_slice(b" MAILBOX ");
            write_mailbox(out, mailbox.name, mailbox.utf8);
            fmt_to(out, format_args!(" UIDVALIDITY {}", mailbox.uidvalidity));
        }
        out.push(b')');
    }
    if response.uid {
        out.extend_from_slice(b" UID");
    }
    if let Some(min) = response.min {
        fmt_to(out, format_args!(" MIN {min}"));
    }
    if let Some(max) = response.max {
        fmt_to(out, format_args!(" MAX {max}"));
    }
    if let Some(all) = response.all.filter(|all| !all.is_empty()) {
        out.extend_from_slice(b" ALL ");
        write_set_text(out, all);
    }
    if let Some(count) = response.count {
        fmt_to(out, format_args!(" COUNT {count}"));
    }
    if let Some(modseq) = response.modseq {
        fmt_to(out, format_args!(" MODSEQ {modseq}"));
    }
    if let Some((range, set)) = response.partial {
        fmt_to(out, format_args!(" PARTIAL ({range} "));
        if set.is_empty() {
            out.extend_from_slice(b"NIL");
        } else {
            write_set_text(out, set);
        }
        out.push(b')');
    }
    out.extend_from_slice(b"\r\n");
}

/// One pair of an ADDTO or REMOVEFROM (RFC 5267 §4.3.3, §4.3.4): a context position
/// (0 for an unsorted SEARCH context) and a set in the context's order (from
/// [`super::format_uid_set`]).
pub type ContextPair = (u32, String);

/// `* ESEARCH (TAG "t") [UID] [REMOVEFROM (p set ...)] [ADDTO (p set ...)]` (RFC 5267
/// §4.3): how an UPDATE context's result changed; the client applies the pairs in
/// order, removals first. Empty lists are left out.
pub fn write_esearch_update(
    out: &mut Vec<u8>,
    tag: &str,
    uid: bool,
    removed: &[ContextPair],
    added: &[ContextPair],
) {
    out.extend_from_slice(b"* ESEARCH (TAG ");
    write_string(out, tag.as_bytes());
    out.push(b')');
    if uid {
        out.extend_from_slice(b" UID");
    }
    for (name, pairs) in [("REMOVEFROM", removed), ("ADDTO", added)] {
        let mut pairs = pairs.iter().filter(|(_, set)| !set.is_empty()).peekable();
        if pairs.peek().is_none() {
            continue;
        }
        fmt_to(out, format_args!(" {name} ("));
        for (n, (position, set)) in pairs.enumerate() {
            if n > 0 {
                out.push(b' ');
            }
            fmt_to(out, format_args!("{position} "));
            write_set_text(out, set);
        }
        out.push(b')');
    }
    out.extend_from_slice(b"\r\n");
}

/// `* ID ("name" "value" ...)` or `* ID NIL` (RFC 2971 §3.2).
pub fn write_id(out: &mut Vec<u8>, fields: Option<&[(&str, &str)]>) {
    out.extend_from_slice(b"* ID ");
    match fields {
        Some(fields) if !fields.is_empty() => {
            out.push(b'(');
            for (i, (name, value)) in fields.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_string(out, name.as_bytes());
                out.push(b' ');
                write_string(out, value.as_bytes());
            }
            out.push(b')');
        }
        _ => out.extend_from_slice(b"NIL"),
    }
    out.extend_from_slice(b"\r\n");
}

/// One namespace: prefix and hierarchy delimiter (RFC 2342 §5).
pub type Namespace<'a> = (&'a str, Option<char>);

/// `* NAMESPACE personal other shared`, each `NIL` when empty or a list of
/// `("prefix" "delimiter")`.
pub fn write_namespace(
    out: &mut Vec<u8>,
    personal: &[Namespace<'_>],
    other: &[Namespace<'_>],
    shared: &[Namespace<'_>],
    utf8: bool,
) {
    out.extend_from_slice(b"* NAMESPACE");
    for group in [personal, other, shared] {
        out.push(b' ');
        if group.is_empty() {
            out.extend_from_slice(b"NIL");
            continue;
        }
        out.push(b'(');
        for (prefix, delimiter) in group {
            out.push(b'(');
            write_mailbox_string(out, prefix, utf8);
            out.push(b' ');
            match delimiter {
                Some(c) if c.is_ascii() && !c.is_ascii_control() => {
                    let mut buf = [0u8; 1];
                    write_quoted(out, c.encode_utf8(&mut buf).as_bytes());
                }
                _ => out.extend_from_slice(b"NIL"),
            }
            out.push(b')');
        }
        out.push(b')');
    }
    out.extend_from_slice(b"\r\n");
}

/// A mailbox name where the grammar wants a `string` (not an astring): quoted or literal.
fn write_mailbox_string(out: &mut Vec<u8>, name: &str, utf8: bool) {
    let encoded;
    let name = if utf8 {
        name
    } else {
        encoded = utf7::encode(name);
        &encoded
    };
    if quotable(name.as_bytes(), utf8) {
        write_quoted(out, name.as_bytes());
    } else {
        write_literal(out, name.as_bytes());
    }
}

/// `* FLAGS (flags)` (RFC 9051 §7.3.5).
pub fn write_flags_response(out: &mut Vec<u8>, flags: &[Flag]) {
    out.extend_from_slice(b"* FLAGS ");
    write_flags(out, flags);
    out.extend_from_slice(b"\r\n");
}

/// `* n RECENT` (RFC 3501 §7.3.2, IMAP4rev1 only).
pub fn write_recent(out: &mut Vec<u8>, n: u32) {
    fmt_to(out, format_args!("* {n} RECENT\r\n"));
}

/// `* seq FETCH (`: the start of a FETCH response (RFC 9051 §7.5.2). Items follow,
/// separated by a space, each written by a `write_fetch_*` function (or, for message
/// data, a literal header then the data); [`write_fetch_close`] ends it.
pub fn write_fetch_open(out: &mut Vec<u8>, seq: u32) {
    fmt_to(out, format_args!("* {seq} FETCH ("));
}

/// `* uid UIDFETCH (`: a FETCH response after ENABLE UIDONLY (RFC 9586 §3.3), which
/// names the message by its UID; continued like [`write_fetch_open`]'s.
pub fn write_uidfetch_open(out: &mut Vec<u8>, uid: u32) {
    fmt_to(out, format_args!("* {uid} UIDFETCH ("));
}

/// The space between two FETCH items.
pub fn write_fetch_separator(out: &mut Vec<u8>) {
    out.push(b' ');
}

/// `ENVELOPE (...)` (RFC 9051 §7.5.2), the structure written by
/// [`crate::mime::write_envelope`].
pub fn write_fetch_envelope(out: &mut Vec<u8>, envelope: &crate::mime::Envelope) {
    out.extend_from_slice(b"ENVELOPE ");
    crate::mime::write_envelope(out, envelope);
}

/// `BODYSTRUCTURE (...)` or, without extension data, `BODY (...)` (RFC 9051 §7.5.2),
/// written by [`crate::mime::write_body_structure`].
pub fn write_fetch_body_structure(out: &mut Vec<u8>, root: &crate::mime::Part, extension_data: bool) {
    out.extend_from_slice(if extension_data { b"BODYSTRUCTURE " } else { b"BODY " });
    crate::mime::write_body_structure(out, root, extension_data);
}

/// `)` CRLF: the end of a FETCH response.
pub fn write_fetch_close(out: &mut Vec<u8>) {
    out.extend_from_slice(b")\r\n");
}

/// `UID n`.
pub fn write_fetch_uid(out: &mut Vec<u8>, uid: u32) {
    fmt_to(out, format_args!("UID {uid}"));
}

/// `FLAGS (...)`.
pub fn write_fetch_flags(out: &mut Vec<u8>, flags: &[Flag]) {
    write_fetch_flag_names(out, flags.iter().map(Flag::as_str));
}

/// `FLAGS (...)` from flag texts (see [`write_flag_names`]).
pub fn write_fetch_flag_names<'a>(out: &mut Vec<u8>, names: impl IntoIterator<Item = &'a str>) {
    out.extend_from_slice(b"FLAGS ");
    write_flag_names(out, names);
}

/// `MODSEQ (n)` (RFC 7162 §3.1.4.1).
pub fn write_fetch_modseq(out: &mut Vec<u8>, modseq: u64) {
    fmt_to(out, format_args!("MODSEQ ({modseq})"));
}

/// A number item: `RFC822.SIZE n`, `BINARY.SIZE[1] n`.
pub fn write_fetch_number(out: &mut Vec<u8>, name: &[u8], n: u64) {
    out.extend_from_slice(name);
    fmt_to(out, format_args!(" {n}"));
}

/// An object id item (RFC 8474 §5.3): `EMAILID (M1)`, `THREADID (T...)`, or
/// `THREADID NIL` for `None`; the id is sanitized to object id characters.
pub fn write_fetch_objectid(out: &mut Vec<u8>, name: &[u8], id: Option<&str>) {
    out.extend_from_slice(name);
    match id {
        Some(id) => {
            out.extend_from_slice(b" (");
            write_objectid(out, id);
            out.push(b')');
        }
        None => out.extend_from_slice(b" NIL"),
    }
}

/// `PREVIEW "text"` or `PREVIEW NIL` (RFC 8970): the text is UTF-8 (a literal when it
/// is not plain ASCII or holds quotes).
pub fn write_fetch_preview(out: &mut Vec<u8>, text: Option<&str>) {
    out.extend_from_slice(b"PREVIEW ");
    write_nstring(out, text.map(str::as_bytes));
}

/// An object id (RFC 8474 §7), dropping characters it may not hold.
fn write_objectid(out: &mut Vec<u8>, id: &str) {
    out.extend(id.bytes().filter(|&b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'));
}

/// A date item: `INTERNALDATE "..."`, `SAVEDATE "..."`.
pub fn write_fetch_date(out: &mut Vec<u8>, name: &[u8], date: &DateTime) {
    out.extend_from_slice(name);
    out.push(b' ');
    write_datetime(out, date);
}

/// The name of an item and the header of its literal: `BODY[1] {n}` CRLF, or for
/// literal8 (RFC 3516 §4.3, data with NUL) `BINARY[1] ~{n}` CRLF. The caller writes the
/// `length` octets next. Message data always goes as a literal, even when empty
/// (`BODY[1] {0}`): some clients cannot parse a quoted string there.
pub fn write_fetch_literal_header(out: &mut Vec<u8>, name: &[u8], length: u64, binary: bool) {
    out.extend_from_slice(name);
    out.push(b' ');
    write_literal_header(out, length, binary);
}

/// A section item's name as echoed in the response (RFC 9051 §7.5.2): `BODY[1.2.TEXT]`,
/// `BODY[HEADER.FIELDS (From To)]<0>`, `BINARY[1]`, `BINARY.SIZE[]`. `origin` is the
/// partial's offset (the length is not echoed).
pub fn write_section_name(out: &mut Vec<u8>, item: &str, section: &Section, origin: Option<u32>) {
    out.extend_from_slice(item.as_bytes());
    out.push(b'[');
    let write_part = |out: &mut Vec<u8>, part: &[u32]| {
        for (i, number) in part.iter().enumerate() {
            if i > 0 {
                out.push(b'.');
            }
            out.extend_from_slice(number.to_string().as_bytes());
        }
    };
    let write_text = |out: &mut Vec<u8>, text: &SectionText| match text {
        SectionText::Header => out.extend_from_slice(b"HEADER"),
        SectionText::Text => out.extend_from_slice(b"TEXT"),
        SectionText::Mime => out.extend_from_slice(b"MIME"),
        SectionText::HeaderFields(names) | SectionText::HeaderFieldsNot(names) => {
            let not = matches!(text, SectionText::HeaderFieldsNot(_));
            out.extend_from_slice(if not { b"HEADER.FIELDS.NOT (" } else { b"HEADER.FIELDS (" });
            for (i, name) in names.iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                write_astring(out, name);
            }
            out.push(b')');
        }
    };
    match section {
        Section::Full => {}
        Section::Text(text) => write_text(out, text),
        Section::Part(part, None) => write_part(out, part),
        Section::Part(part, Some(text)) => {
            write_part(out, part);
            out.push(b'.');
            write_text(out, text);
        }
    }
    out.push(b']');
    if let Some(origin) = origin {
        fmt_to(out, format_args!("<{origin}>"));
    }
}

/// Formats into the output without an intermediate string (FETCH writes numbers for
/// every message). Writing to a `Vec` cannot fail.
fn fmt_to(out: &mut Vec<u8>, args: std::fmt::Arguments<'_>) {
    struct Bytes<'o>(&'o mut Vec<u8>);
    impl std::fmt::Write for Bytes<'_> {
        fn write_str(&mut self, text: &str) -> std::fmt::Result {
            self.0.extend_from_slice(text.as_bytes());
            Ok(())
        }
    }
    let _ = Bytes(out).write_fmt(args);
}
