//! Validation of names that reach the disk: account names (path components), mailbox
//! names (LMDB keys), keywords (RFC 9051 §9 `flag-keyword` atoms).
//!
//! Invariant: every name stored in an environment or used in a path passed these checks.

use std::borrow::Cow;

use crate::error::StorageError;

/// Longest account name. It is a path component under `accounts/`; 64 bytes is plenty
/// for login-like names and keeps paths far below PATH_MAX (4096).
pub const ACCOUNT_NAME_BYTES_MAX: usize = 64;

/// Longest mailbox name in bytes (UTF-8, full hierarchy path). It is an LMDB key, and
/// LMDB keys are at most 511 bytes; real clients stay far below 255.
pub const MAILBOX_NAME_BYTES_MAX: usize = 255;

/// LMDB's default largest key size (MDB_MAXKEYSIZE).
const LMDB_KEY_BYTES_MAX: usize = 511;
const _: () = assert!(MAILBOX_NAME_BYTES_MAX <= LMDB_KEY_BYTES_MAX);

/// Longest keyword. RFC 9051 sets no limit; 255 covers every client keyword seen in the
/// wild (`$Forwarded`, `$MDNSent`, `$Junk`, tags of Thunderbird and Apple Mail).
pub const KEYWORD_BYTES_MAX: usize = 255;

/// Most keywords on one message. Bounds record size (and STORE cost); clients use a
/// handful, tag-heavy users a few dozen.
pub const KEYWORDS_PER_MESSAGE_MAX: usize = 128;

/// The IMAP hierarchy delimiter we use, as mox does.
pub(crate) const HIERARCHY_DELIMITER: char = '/';

/// The name under which INBOX is stored; lookups of any case variant map to it
/// (RFC 9051 §5.1: INBOX is case-insensitive, other names are not).
pub(crate) const INBOX: &str = "INBOX";

/// True when `account` is a valid account name: non-empty, at most
/// [`ACCOUNT_NAME_BYTES_MAX`] bytes of `[A-Za-z0-9._-]`, not starting with `.`. Lets the
/// configuration refuse names the store would refuse.
pub fn is_valid_account_name(account: &str) -> bool {
    check_account_name(account).is_ok()
}

/// Checks an account name: non-empty, at most [`ACCOUNT_NAME_BYTES_MAX`] bytes of
/// `[A-Za-z0-9._-]`, not starting with `.` (so never `.`, `..` or a hidden file).
pub(crate) fn check_account_name(account: &str) -> Result<(), StorageError> {
    let valid = !account.is_empty()
        && account.len() <= ACCOUNT_NAME_BYTES_MAX
        && !account.starts_with('.')
        && account.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-'));
    if valid { Ok(()) } else { Err(StorageError::InvalidAccountName(account.to_string())) }
}

/// Returns the stored form of a mailbox name: `INBOX` for any case of it, and `INBOX/`
/// for any case of that prefix (so `inbox/a` and `INBOX/a` are one mailbox, as INBOX is
/// one mailbox, RFC 9051 §5.1); other names as given. Refuses empty names, names longer
/// than [`MAILBOX_NAME_BYTES_MAX`], control characters, and empty hierarchy levels
/// (`a//b`, `/a`, `a/`).
pub(crate) fn canonical_mailbox_name(name: &str) -> Result<Cow<'_, str>, StorageError> {
    let invalid = || StorageError::InvalidMailboxName { name: name.to_string() };
    if name.is_empty() || name.len() > MAILBOX_NAME_BYTES_MAX {
        return Err(invalid());
    }
    if name.chars().any(char::is_control) {
        return Err(invalid());
    }
    if name.split(HIERARCHY_DELIMITER).any(str::is_empty) {
        return Err(invalid());
    }
    let first_level = name.split(HIERARCHY_DELIMITER).next().unwrap_or(name);
    if first_level.eq_ignore_ascii_case(INBOX) && first_level != INBOX {
        return Ok(Cow::Owned(format!("{INBOX}{}", &name[first_level.len()..])));
    }
    Ok(Cow::Borrowed(name))
}

/// The names above `name` in the hierarchy, outermost first: `a/b/c` gives `a`, `a/b`.
pub(crate) fn ancestors(name: &str) -> impl Iterator<Item = &str> {
    name.match_indices(HIERARCHY_DELIMITER).map(move |(at, _)| &name[..at])
}

/// What the names of `name`'s children (and their children) start with: `name/`.
pub(crate) fn children_prefix(name: &str) -> String {
    format!("{name}{HIERARCHY_DELIMITER}")
}

/// True for bytes allowed in an IMAP atom (RFC 9051 §9 `ATOM-CHAR`: any CHAR except
/// atom-specials `(){ SP CTL % * " \ ]`).
fn is_atom_byte(byte: u8) -> bool {
    (0x21..=0x7e).contains(&byte) && !b"(){%*\"\\]".contains(&byte)
}

/// Checks one keyword: a non-empty atom of at most [`KEYWORD_BYTES_MAX`] bytes. A `\`
/// prefix (system flag syntax) is not an atom, so `\Seen` is refused here.
pub(crate) fn check_keyword(keyword: &str) -> Result<(), StorageError> {
    let valid =
        !keyword.is_empty() && keyword.len() <= KEYWORD_BYTES_MAX && keyword.bytes().all(is_atom_byte);
    if valid { Ok(()) } else { Err(StorageError::InvalidKeyword { keyword: keyword.to_string() }) }
}

/// Sorts and deduplicates keywords case-insensitively (keywords compare without case,
/// as flags do in RFC 9051 §2.3.2); the first spelling seen is kept.
fn normalize(mut keywords: Vec<String>) -> Result<Vec<String>, StorageError> {
    keywords.sort_by_cached_key(|keyword| keyword.to_ascii_lowercase());
    keywords.dedup_by(|later, earlier| later.eq_ignore_ascii_case(earlier));
    if keywords.len() > KEYWORDS_PER_MESSAGE_MAX {
        return Err(StorageError::TooManyKeywords { count: keywords.len(), max: KEYWORDS_PER_MESSAGE_MAX });
    }
    Ok(keywords)
}

/// Validates keywords and returns them normalized (see [`normalize`]). More than
/// [`KEYWORDS_PER_MESSAGE_MAX`] given is refused even if some are duplicates.
pub(crate) fn checked_keywords(keywords: &[String]) -> Result<Vec<String>, StorageError> {
    if keywords.len() > KEYWORDS_PER_MESSAGE_MAX {
        return Err(StorageError::TooManyKeywords { count: keywords.len(), max: KEYWORDS_PER_MESSAGE_MAX });
    }
    for keyword in keywords {
        check_keyword(keyword)?;
    }
    normalize(keywords.to_vec())
}

/// `existing` with every keyword of `added` (already checked) that it lacks.
pub(crate) fn keywords_added(existing: &[String], added: &[String]) -> Result<Vec<String>, StorageError> {
    let mut all = existing.to_vec();
    all.extend(added.iter().cloned());
    normalize(all)
}

/// `existing` without the keywords of `removed`, compared case-insensitively.
pub(crate) fn keywords_removed(existing: &[String], removed: &[String]) -> Vec<String> {
    existing
        .iter()
        .filter(|keyword| !removed.iter().any(|gone| gone.eq_ignore_ascii_case(keyword)))
        .cloned()
        .collect()
}
