//! OBJECTID (RFC 8474): the MAILBOXID, EMAILID and THREADID strings, made from numbers
//! the storage side already keeps, so no identifier needs a table of its own.
//!
//! - MAILBOXID is `F` and 16 hex digits of the mailbox's key: its UIDVALIDITY in the
//!   high 32 bits, the store's mailbox id in the low ones. The store allocates both from
//!   account-wide counters that never go back, and RENAME keeps the record, so the id
//!   survives RENAME (RFC 8474 §4.1) and a mailbox deleted and created again gets a new
//!   one. UIDVALIDITY's counter starts at a time-based seed, so an account removed and
//!   added again does not hand out the old ids either.
//! - EMAILID is `M` and the hex of the store's message id: allocated once per stored
//!   message, never reused, and kept by MOVE, whose record only changes mailbox and UID
//!   (RFC 8474 §5.1 asks that MOVE keep it). COPY makes a new message (its own id, a
//!   hard link to the same file), so the copy gets a new EMAILID: RFC 8474 §5.1 allows
//!   either for COPY, and the new one keeps "one EMAILID, one record" true, which
//!   SEARCH EMAILID relies on.
//! - THREADID is `T` and 24 hex digits of SHA-256 over the thread's root Message-ID:
//!   the first id of References, else of In-Reply-To, else the message's own
//!   Message-ID. A reply and every message that carries the same first reference get
//!   the same id, and it is computed from the stored summary, never stored. A message
//!   with none of those fields is a thread of its own: `Tm` and its EMAILID's digits.
//!   Limits: the stored References keeps its last 8 KiB
//!   ([`crate::mime::REFERENCES_BYTES_MAX`]); a thread longer than about 100 messages
//!   can lose its root there, and its later messages then start a new THREADID.
//!
//! What the ids show (RFC 8474 §11): how many messages and mailboxes the account has
//! stored over time, to the account's own user, who sees UIDs and UIDVALIDITY anyway;
//! THREADID is a digest so it does not echo a header into another context.

use sha2::{Digest as _, Sha256};

use super::thread::message_ids;
use crate::mime::Envelope;

/// Longest object id (RFC 8474 §7: `objectid = 1*255(ALPHA / DIGIT / "_" / "-")`).
pub const OBJECTID_BYTES_MAX: usize = 255;

/// Hex digits of the thread root's digest in a THREADID: 96 bits, so two roots in one
/// account collide with probability about n² / 2^97 (n = 10^6 threads: 10^-17).
const THREAD_DIGEST_HEX_BYTES: usize = 24;

/// The key of a mailbox from which its MAILBOXID is made (module docs).
#[must_use]
pub fn mailbox_key(uidvalidity: u32, mailbox_id: u32) -> u64 {
    (u64::from(uidvalidity) << 32) | u64::from(mailbox_id)
}

/// The MAILBOXID of the mailbox with `key` ([`mailbox_key`]).
#[must_use]
pub fn mailbox_id(key: u64) -> String {
    format!("F{key:016x}")
}

/// The EMAILID of the message with the store's id `id`.
#[must_use]
pub fn email_id(id: u64) -> String {
    format!("M{id:x}")
}

/// The store's message id an EMAILID names, `None` when it is not one of ours.
#[must_use]
pub fn parse_email_id(text: &str) -> Option<u64> {
    let digits = text.strip_prefix('M')?;
    // Only the form `email_id` writes: lower-case hex without leading zeros.
    let canonical = !digits.is_empty()
        && digits.len() <= 16
        && !digits.starts_with('0')
        && digits.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !canonical {
        return None;
    }
    u64::from_str_radix(digits, 16).ok()
}

/// The THREADID of a message (module docs): from its envelope and References value,
/// or from its own id (`email`) when it names no Message-ID at all.
#[must_use]
pub fn thread_id(envelope: &Envelope, references: Option<&[u8]>, email: u64) -> String {
    let first = |value: Option<&[u8]>| value.and_then(|value| message_ids(value).into_iter().next());
    let root = first(references)
        .or_else(|| first(envelope.in_reply_to.as_deref()))
        .or_else(|| first(envelope.message_id.as_deref()));
    match root {
        Some(root) => {
            let digest = Sha256::digest(root.as_bytes());
            let mut id = String::with_capacity(1 + THREAD_DIGEST_HEX_BYTES);
            id.push('T');
            for byte in &digest[..THREAD_DIGEST_HEX_BYTES / 2] {
                id.push_str(&format!("{byte:02x}"));
            }
            id
        }
        None => format!("Tm{email:x}"),
    }
}

/// Whether `text` has the object id syntax (RFC 8474 §7).
#[must_use]
pub fn is_objectid(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= OBJECTID_BYTES_MAX
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn ids_have_the_syntax_and_read_back() {
        let mailbox = mailbox_id(mailbox_key(u32::MAX, 7));
        assert_eq!(mailbox, "Fffffffff00000007");
        assert!(is_objectid(&mailbox));
        for id in [1, 255, u64::MAX] {
            let text = email_id(id);
            assert!(is_objectid(&text));
            assert_eq!(parse_email_id(&text), Some(id));
        }
        for other in ["", "M", "M0", "M01", "MA", "m1", "X1", "M1g", "M10000000000000000"] {
            assert_eq!(parse_email_id(other), None, "{other}");
        }
    }

    #[test]
    fn a_reply_shares_its_parents_thread() {
        let parent = Envelope { message_id: Some(b"<root@example.org>".to_vec()), ..Envelope::default() };
        let reply = Envelope {
            message_id: Some(b"<reply@example.org>".to_vec()),
            in_reply_to: Some(b"<root@example.org>".to_vec()),
            ..Envelope::default()
        };
        let deeper = Envelope { message_id: Some(b"<deeper@example.org>".to_vec()), ..Envelope::default() };
        let root = thread_id(&parent, None, 1);
        assert_eq!(thread_id(&reply, None, 2), root);
        assert_eq!(thread_id(&deeper, Some(b"<root@example.org> <reply@example.org>"), 3), root);
        assert_ne!(thread_id(&reply, Some(b"<other@example.org>"), 2), root);
        assert!(is_objectid(&root) && root.len() == 25);
        let alone = thread_id(&Envelope::default(), None, 10);
        assert_eq!(alone, "Tma");
        assert!(is_objectid(&alone));
    }
}
