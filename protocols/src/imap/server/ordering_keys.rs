//! The keys SORT and THREAD order by, computed once per message (at delivery, kept by
//! the store beside the message's index entry) so that ordering a large mailbox reads
//! small values and parses no header: the sent date, the base subject (RFC 5256 §2.1)
//! with its reply/forward mark, the addr-mailbox of the first From/To/Cc (RFC 5256 §3),
//! the display names of From and To (RFC 5957 §3), the Message-ID and the References
//! chain (RFC 5256 §2.2 step 1, In-Reply-To's first id when there is no References).
//! Strings are stored whole and already folded, so comparing the stored bytes is the
//! RFC's ordering exactly (no prefix, no tie-break read).
//!
//! Layout, version 1 (all integers little-endian):
//!
//! ```text
//! keys    = version(=1) flags date(i64) 8*end(u32) body
//! flags   = bit 0: date present, bit 1: the subject had a reply/forward marker
//! end[i]  = end offset in body of field i: subject, from, to, cc, display-from,
//!           display-to, message-id (empty: none), references
//! references = *(length(u16) id)
//! ```
//!
//! [`OrderingKeys::parse`] checks the version, the header and that the offsets stay in
//! the bytes, so every later field access is in bounds; the references list is walked
//! with checked lengths.

use crate::mime::{Address, BaseSubject, Envelope, MessageSummary, decode_phrase, fold_for_sort};

use super::thread::message_ids;

/// The version byte of the layout written by [`encode`].
const VERSION: u8 = 1;

/// Fields in the body, in order.
const FIELDS: usize = 8;

/// Bytes before the body: version, flags, date, the field ends.
const HEADER_BYTES: usize = 2 + 8 + 4 * FIELDS;

const FLAG_DATE: u8 = 1;
const FLAG_REPLY: u8 = 2;

/// Indexes of the fields.
#[derive(Debug, Clone, Copy)]
enum Field {
    Subject = 0,
    From,
    To,
    Cc,
    DisplayFrom,
    DisplayTo,
    MessageId,
    References,
}

/// The keys of a message with this envelope, sent date and References value.
#[must_use]
pub fn encode(date_unix_secs: Option<i64>, envelope: &Envelope, references: Option<&[u8]>) -> Vec<u8> {
    let subject = envelope.subject.as_deref().map(BaseSubject::of).unwrap_or_default();
    let mut ids = references.map(message_ids).unwrap_or_default();
    if ids.is_empty()
        && let Some(first) =
            envelope.in_reply_to.as_deref().and_then(|value| message_ids(value).into_iter().next())
    {
        ids.push(first);
    }
    let message_id = envelope.message_id.as_deref().and_then(|value| message_ids(value).into_iter().next());
    let mut flags = 0;
    if date_unix_secs.is_some() {
        flags |= FLAG_DATE;
    }
    if subject.reply_or_forward {
        flags |= FLAG_REPLY;
    }
    let mut body: Vec<u8> = Vec::with_capacity(128);
    let mut ends = [0u32; FIELDS];
    let mut put = |body: &mut Vec<u8>, field: Field, bytes: &[u8]| {
        body.extend_from_slice(bytes);
        ends[field as usize] = u32::try_from(body.len()).unwrap_or(u32::MAX);
    };
    put(&mut body, Field::Subject, subject.text.as_bytes());
    put(&mut body, Field::From, first_mailbox(&envelope.from).as_bytes());
    put(&mut body, Field::To, first_mailbox(&envelope.to).as_bytes());
    put(&mut body, Field::Cc, first_mailbox(&envelope.cc).as_bytes());
    put(&mut body, Field::DisplayFrom, display(&envelope.from).as_bytes());
    put(&mut body, Field::DisplayTo, display(&envelope.to).as_bytes());
    put(&mut body, Field::MessageId, message_id.as_deref().unwrap_or_default().as_bytes());
    let mut list = Vec::new();
    for id in &ids {
        // An id longer than a u16 cannot be a real Message-ID: left out of the chain.
        if let Ok(length) = u16::try_from(id.len()) {
            list.extend_from_slice(&length.to_le_bytes());
            list.extend_from_slice(id.as_bytes());
        }
    }
    put(&mut body, Field::References, &list);
    let mut out = Vec::with_capacity(HEADER_BYTES + body.len());
    out.push(VERSION);
    out.push(flags);
    out.extend_from_slice(&date_unix_secs.unwrap_or(0).to_le_bytes());
    for end in ends {
        out.extend_from_slice(&end.to_le_bytes());
    }
    out.extend_from_slice(&body);
    out
}

/// The keys of a stored summary ([`MessageSummary::encode`]); `None` when it does not
/// read, or predates References (format 1: its message may have one all the same).
#[must_use]
pub fn of_summary(bytes: &[u8]) -> Option<Vec<u8>> {
    let stored = MessageSummary::decode_envelope(bytes).ok()?;
    if !stored.references_known {
        return None;
    }
    Some(encode(stored.date_unix_secs, &stored.envelope, stored.references.as_deref()))
}

/// Keys made by [`encode`], checked, read in place.
#[derive(Debug, Clone, Copy)]
pub struct OrderingKeys<'a> {
    bytes: &'a [u8],
}

impl<'a> OrderingKeys<'a> {
    /// Checks `bytes`; `None` when they are not keys of a known version.
    #[must_use]
    pub fn parse(bytes: &'a [u8]) -> Option<OrderingKeys<'a>> {
        if bytes.len() < HEADER_BYTES || bytes[0] != VERSION {
            return None;
        }
        let body = bytes.len() - HEADER_BYTES;
        let keys = OrderingKeys { bytes };
        let mut previous = 0;
        for index in 0..FIELDS {
            let end = keys.end(index);
            if end < previous || end > body {
                return None;
            }
            previous = end;
        }
        (previous == body).then_some(keys)
    }

    fn end(&self, index: usize) -> usize {
        let at = 10 + 4 * index;
        let bytes = <[u8; 4]>::try_from(&self.bytes[at..at + 4]).unwrap_or_default();
        u32::from_le_bytes(bytes) as usize
    }

    fn field(&self, field: Field) -> &'a [u8] {
        let index = field as usize;
        let start = if index == 0 { 0 } else { self.end(index - 1) };
        &self.bytes[HEADER_BYTES + start..HEADER_BYTES + self.end(index)]
    }

    /// The Date: header's time, Unix seconds.
    #[must_use]
    pub fn date_unix_secs(&self) -> Option<i64> {
        (self.bytes[1] & FLAG_DATE != 0)
            .then(|| i64::from_le_bytes(<[u8; 8]>::try_from(&self.bytes[2..10]).unwrap_or_default()))
    }

    /// The base subject, folded (RFC 5256 §2.1).
    #[must_use]
    pub fn subject(&self) -> &'a [u8] {
        self.field(Field::Subject)
    }

    /// Whether the subject had a reply or forward marker.
    #[must_use]
    pub fn reply_or_forward(&self) -> bool {
        self.bytes[1] & FLAG_REPLY != 0
    }

    /// SORT FROM, TO, CC: the first address's addr-mailbox, folded.
    pub(crate) fn from(&self) -> &'a [u8] {
        self.field(Field::From)
    }
    pub(crate) fn to(&self) -> &'a [u8] {
        self.field(Field::To)
    }
    pub(crate) fn cc(&self) -> &'a [u8] {
        self.field(Field::Cc)
    }
    /// SORT DISPLAYFROM, DISPLAYTO (RFC 5957 §3), folded.
    pub(crate) fn display_from(&self) -> &'a [u8] {
        self.field(Field::DisplayFrom)
    }
    pub(crate) fn display_to(&self) -> &'a [u8] {
        self.field(Field::DisplayTo)
    }

    /// The first id of Message-ID, brackets and white space removed.
    #[must_use]
    pub fn message_id(&self) -> Option<&'a [u8]> {
        Some(self.field(Field::MessageId)).filter(|id| !id.is_empty())
    }

    /// The References chain (or In-Reply-To's first id), oldest first.
    pub fn references(&self) -> impl Iterator<Item = &'a [u8]> + use<'a> {
        let mut rest = self.field(Field::References);
        std::iter::from_fn(move || {
            let (length, after) = rest.split_first_chunk::<2>()?;
            let length = usize::from(u16::from_le_bytes(*length));
            let (id, after) = after.split_at_checked(length)?;
            rest = after;
            Some(id)
        })
    }
}

/// RFC 5256 §3: the addr-mailbox (local part) of the first address, folded.
fn first_mailbox(list: &[Address]) -> String {
    match first_address(list) {
        Some(Address::Mailbox { mailbox: Some(mailbox), .. }) => {
            fold_for_sort(&String::from_utf8_lossy(mailbox))
        }
        _ => String::new(),
    }
}

/// The first mailbox of a list, group members included.
fn first_address(list: &[Address]) -> Option<&Address> {
    list.iter()
        .flat_map(|address| match address {
            Address::Mailbox { .. } => std::slice::from_ref(address),
            Address::Group { members, .. } => members.as_slice(),
        })
        .find(|address| matches!(address, Address::Mailbox { .. }))
}

/// RFC 5957 §3: the decoded display name of the first address when it has a non-empty
/// one, otherwise its address (`mailbox@host`), folded.
fn display(list: &[Address]) -> String {
    let Some(Address::Mailbox { name, mailbox, host, .. }) = first_address(list) else {
        return String::new();
    };
    let name = name.as_deref().map(decode_phrase).unwrap_or_default();
    if !name.trim().is_empty() {
        return fold_for_sort(name.trim());
    }
    let mut address = String::from_utf8_lossy(mailbox.as_deref().unwrap_or_default()).into_owned();
    if let Some(host) = host.as_deref().filter(|host| !host.is_empty()) {
        address.push('@');
        address.push_str(&String::from_utf8_lossy(host));
    }
    fold_for_sort(&address)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn keys_read_back_what_was_encoded() {
        let envelope = Envelope {
            subject: Some(b"Re: [list] Hello".to_vec()),
            message_id: Some(b"<m1@x>".to_vec()),
            in_reply_to: Some(b"<p@x>".to_vec()),
            ..Envelope::default()
        };
        let bytes = encode(Some(-5), &envelope, Some(b"<a@x> <b @x>"));
        let keys = OrderingKeys::parse(&bytes).unwrap();
        assert_eq!(keys.date_unix_secs(), Some(-5));
        assert_eq!(keys.subject(), BaseSubject::of(b"Re: [list] Hello").text.as_bytes());
        assert!(keys.reply_or_forward());
        assert_eq!(keys.message_id(), Some(&b"m1@x"[..]));
        assert_eq!(keys.references().collect::<Vec<_>>(), vec![&b"a@x"[..], &b"b@x"[..]]);
        assert_eq!(keys.from(), b"");
        // No References: In-Reply-To's first id.
        let bytes = encode(None, &envelope, None);
        let keys = OrderingKeys::parse(&bytes).unwrap();
        assert_eq!(keys.date_unix_secs(), None);
        assert_eq!(keys.references().collect::<Vec<_>>(), vec![&b"p@x"[..]]);
    }

    #[test]
    fn damaged_keys_are_refused() {
        let bytes = encode(Some(1), &Envelope::default(), None);
        assert!(OrderingKeys::parse(&bytes).is_some());
        assert!(OrderingKeys::parse(&bytes[..bytes.len() - 1]).is_none() || bytes.len() == HEADER_BYTES);
        assert!(OrderingKeys::parse(&bytes[..HEADER_BYTES - 1]).is_none());
        let mut wrong = bytes.clone();
        wrong[0] = 9;
        assert!(OrderingKeys::parse(&wrong).is_none());
        let mut long = bytes;
        long[10] = 200; // subject end past the body
        assert!(OrderingKeys::parse(&long).is_none());
    }
}
