//! The stored form of a [`MessageSummary`]: compact, versioned, length-prefixed, cheap to
//! decode on the FETCH path (no compression, one pass, no copies beyond the owned
//! strings).
//!
//! Format version 3, all integers LEB128 varints (signed ones zigzag-encoded); version 2,
//! written before PREVIEW, lacks `preview`, and version 1, written before
//! THREAD=REFERENCES, lacks `references` too; both are still read (with `None` for what
//! they lack):
//!
//! ```text
//! summary  = version(=3) date references preview envelope part
//! references = nbytes(References value)
//! preview  = nbytes(preview text, UTF-8)
//! date     = 0 / 1 zigzag-varint
//! envelope = nbytes(date) nbytes(subject) 6*addresses nbytes(in-reply-to) nbytes(message-id)
//! addresses= count *(0 mailbox / 1 bytes(group-name) count *mailbox)
//! mailbox  = nbytes(name) nbytes(adl) nbytes(mailbox) nbytes(host)
//! part     = header-start header-length body-start body-length bytes(type) bytes(subtype)
//!            params nbytes(id) nbytes(description) bytes(encoding) size lines nbytes(md5)
//!            (0 / 1 bytes(disposition) params) count *bytes(language) nbytes(location)
//!            count *part (0 / 1 envelope part)
//! params   = count *(bytes(name) bytes(value))
//! bytes    = length octets          nbytes = 0 / 1 bytes
//! ```
//!
//! Decoding trusts nothing: every length and count is checked against the bytes left
//! before anything is allocated, nesting is bounded by [`PART_DEPTH_MAX`] and the part
//! count by [`PARTS_MAX`], and bytes left over are an error.

use super::{Address, Envelope, MessageSummary, PART_DEPTH_MAX, PARTS_MAX, Params, Part, SummaryError};

/// The format written by [`MessageSummary::encode`].
const FORMAT_VERSION: u8 = 3;

/// The format before the preview was kept: still read, with `preview: None`.
const FORMAT_VERSION_WITHOUT_PREVIEW: u8 = 2;

/// The format before References was kept: still read, with `references: None`.
const FORMAT_VERSION_WITHOUT_REFERENCES: u8 = 1;

/// Longest LEB128 encoding of a u64.
const VARINT_BYTES_MAX: usize = 10;

impl MessageSummary {
    /// The stored form: first byte the format version, then the fields (module docs).
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        out.push(FORMAT_VERSION);
        match self.date_unix_secs {
            Some(secs) => {
                out.push(1);
                put_varint(&mut out, zigzag(secs));
            }
            None => out.push(0),
        }
        put_optional(&mut out, self.references.as_deref());
        put_optional(&mut out, self.preview.as_deref().map(str::as_bytes));
        put_envelope(&mut out, &self.envelope);
        put_part(&mut out, &self.root, 0);
        out
    }

    /// Reads a summary written by [`MessageSummary::encode`]. Never panics.
    ///
    /// # Errors
    /// [`SummaryError`] when the bytes are not a complete summary of a known version.
    pub fn decode(bytes: &[u8]) -> Result<MessageSummary, SummaryError> {
        let (mut reader, start) = Reader::start(bytes)?;
        let envelope = reader.envelope()?;
        let root = reader.part(0)?;
        if !reader.bytes.is_empty() {
            return Err(SummaryError::TrailingBytes);
        }
        let references = start.references.map(<[u8]>::to_vec);
        let preview = match start.preview {
            Some(text) => Some(
                std::str::from_utf8(text).map_err(|_| SummaryError::Invalid { what: "preview" })?.to_owned(),
            ),
            None => None,
        };
        Ok(MessageSummary { envelope, root, date_unix_secs: start.date_unix_secs, references, preview })
    }

    /// Only the Date: header's time of a stored summary (SORT by DATE): the fields
    /// before the envelope are read, nothing after them.
    ///
    /// # Errors
    /// [`SummaryError`] when the leading fields are not well-formed.
    pub fn decode_date(bytes: &[u8]) -> Result<Option<i64>, SummaryError> {
        Reader::start(bytes).map(|(_, start)| start.date_unix_secs)
    }

    /// Reads only the leading fields of a stored summary, up to the envelope (SORT and
    /// THREAD need no MIME structure); the parts after them are not checked.
    ///
    /// # Errors
    /// [`SummaryError`] when the leading fields are not well-formed.
    pub fn decode_envelope(bytes: &[u8]) -> Result<StoredEnvelope, SummaryError> {
        let (mut reader, start) = Reader::start(bytes)?;
        Ok(StoredEnvelope {
            date_unix_secs: start.date_unix_secs,
            references: start.references.map(<[u8]>::to_vec),
            references_known: start.references_known,
            envelope: reader.envelope()?,
        })
    }
}

/// The leading fields of a stored summary ([`MessageSummary::decode_envelope`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoredEnvelope {
    /// As [`MessageSummary::date_unix_secs`].
    pub date_unix_secs: Option<i64>,
    /// As [`MessageSummary::references`].
    pub references: Option<Vec<u8>>,
    /// False for a summary written before References was kept (format version 1): the
    /// message may have one all the same.
    pub references_known: bool,
    /// The envelope.
    pub envelope: Envelope,
}

/// What [`Reader::start`] reads: the fields before the envelope.
struct Start<'a> {
    date_unix_secs: Option<i64>,
    references: Option<&'a [u8]>,
    references_known: bool,
    /// Checked to be UTF-8 only by a full decode: the readers of the leading fields
    /// (SEARCH's glance, SORT's date) never look at it, and checking it cost SEARCH
    /// SUBJECT a tenth of its time.
    preview: Option<&'a [u8]>,
}

/// What SEARCH SUBJECT and SENT* need of a stored summary, borrowed from its bytes
/// without decoding the rest (a SEARCH over a large mailbox reads one per message).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Glance<'a> {
    /// As [`MessageSummary::date_unix_secs`].
    pub date_unix_secs: Option<i64>,
    /// The envelope's raw Date value (SENT* compares its day as written, see
    /// [`super::sent_day`]).
    pub date: Option<&'a [u8]>,
    /// The envelope's raw Subject value.
    pub subject: Option<&'a [u8]>,
}

impl<'a> Glance<'a> {
    /// Reads the leading fields of a summary written by [`MessageSummary::encode`]; the
    /// rest is not checked (a full [`MessageSummary::decode`] does that).
    ///
    /// # Errors
    /// [`SummaryError`] when the leading fields are not well-formed.
    pub fn of(bytes: &'a [u8]) -> Result<Glance<'a>, SummaryError> {
        let (mut reader, start) = Reader::start(bytes)?;
        let date = reader.optional_slice()?;
        let subject = reader.optional_slice()?;
        Ok(Glance { date_unix_secs: start.date_unix_secs, date, subject })
    }

    /// The same fields of a decoded summary.
    #[must_use]
    pub fn of_summary(summary: &'a MessageSummary) -> Glance<'a> {
        Glance {
            date_unix_secs: summary.date_unix_secs,
            date: summary.envelope.date.as_deref(),
            subject: summary.envelope.subject.as_deref(),
        }
    }
}

fn zigzag(value: i64) -> u64 {
    ((value << 1) ^ (value >> 63)).cast_unsigned()
}

fn unzigzag(value: u64) -> i64 {
    (value >> 1).cast_signed() ^ -(value & 1).cast_signed()
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value & 0x7f) as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_len(out: &mut Vec<u8>, length: usize) {
    put_varint(out, u64::try_from(length).unwrap_or(u64::MAX));
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_len(out, bytes.len());
    out.extend_from_slice(bytes);
}

fn put_optional(out: &mut Vec<u8>, bytes: Option<&[u8]>) {
    match bytes {
        Some(bytes) => {
            out.push(1);
            put_bytes(out, bytes);
        }
        None => out.push(0),
    }
}

fn put_params(out: &mut Vec<u8>, params: &Params) {
    put_len(out, params.len());
    for (name, value) in params {
        put_bytes(out, name);
        put_bytes(out, value);
    }
}

fn put_envelope(out: &mut Vec<u8>, envelope: &Envelope) {
    put_optional(out, envelope.date.as_deref());
    put_optional(out, envelope.subject.as_deref());
    for list in
        [&envelope.from, &envelope.sender, &envelope.reply_to, &envelope.to, &envelope.cc, &envelope.bcc]
    {
        put_addresses(out, list);
    }
    put_optional(out, envelope.in_reply_to.as_deref());
    put_optional(out, envelope.message_id.as_deref());
}

fn put_addresses(out: &mut Vec<u8>, list: &[Address]) {
    put_len(out, list.len());
    for address in list {
        match address {
            Address::Mailbox { .. } => {
                out.push(0);
                put_mailbox(out, address);
            }
            Address::Group { name, members } => {
                out.push(1);
                put_bytes(out, name);
                // Nested groups are not RFC 5322; their mailboxes are stored flattened.
                let mailboxes: Vec<&Address> = members
                    .iter()
                    .flat_map(|member| match member {
                        Address::Mailbox { .. } => std::slice::from_ref(member).iter(),
                        Address::Group { members, .. } => members.iter(),
                    })
                    .filter(|member| matches!(member, Address::Mailbox { .. }))
                    .collect();
                put_len(out, mailboxes.len());
                for member in mailboxes {
                    put_mailbox(out, member);
                }
            }
        }
    }
}

fn put_mailbox(out: &mut Vec<u8>, address: &Address) {
    if let Address::Mailbox { name, adl, mailbox, host } = address {
        for field in [name, adl, mailbox, host] {
            put_optional(out, field.as_deref());
        }
    }
}

fn put_part(out: &mut Vec<u8>, part: &Part, depth: usize) {
    for value in [part.header.start, part.header.end.saturating_sub(part.header.start)] {
        put_varint(out, value);
    }
    for value in [part.body.start, part.body.end.saturating_sub(part.body.start)] {
        put_varint(out, value);
    }
    put_bytes(out, &part.media_type);
    put_bytes(out, &part.media_subtype);
    put_params(out, &part.params);
    put_optional(out, part.id.as_deref());
    put_optional(out, part.description.as_deref());
    put_bytes(out, &part.encoding);
    put_varint(out, part.size);
    put_varint(out, part.lines);
    put_optional(out, part.md5.as_deref());
    match &part.disposition {
        Some((kind, params)) => {
            out.push(1);
            put_bytes(out, kind);
            put_params(out, params);
        }
        None => out.push(0),
    }
    put_len(out, part.language.len());
    for tag in &part.language {
        put_bytes(out, tag);
    }
    put_optional(out, part.location.as_deref());
    // Deeper than the limit (a hand-built tree): stored without its subtree, which
    // decode would refuse.
    let nested = depth < PART_DEPTH_MAX;
    let children: &[Part] = if nested { &part.children } else { &[] };
    put_len(out, children.len());
    for child in children {
        put_part(out, child, depth + 1);
    }
    match part.message.as_deref().filter(|_| nested) {
        Some((envelope, root)) => {
            out.push(1);
            put_envelope(out, envelope);
            put_part(out, root, depth + 1);
        }
        None => out.push(0),
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
    /// Parts decoded so far, against [`PARTS_MAX`].
    parts: usize,
}

impl<'a> Reader<'a> {
    /// Checks the version and reads the fields before the envelope.
    fn start(bytes: &'a [u8]) -> Result<(Reader<'a>, Start<'a>), SummaryError> {
        let (&version, rest) = bytes.split_first().ok_or(SummaryError::Empty)?;
        let known = [FORMAT_VERSION, FORMAT_VERSION_WITHOUT_PREVIEW, FORMAT_VERSION_WITHOUT_REFERENCES];
        if !known.contains(&version) {
            return Err(SummaryError::UnsupportedVersion { version });
        }
        let mut reader = Reader { bytes: rest, parts: 0 };
        let date_unix_secs = match reader.byte()? {
            0 => None,
            1 => Some(unzigzag(reader.varint()?)),
            _ => return Err(SummaryError::Invalid { what: "date flag" }),
        };
        let references_known = version >= FORMAT_VERSION_WITHOUT_PREVIEW;
        let references = if references_known { reader.optional_slice()? } else { None };
        let preview = match version {
            FORMAT_VERSION => reader.optional_slice()?,
            _ => None,
        };
        Ok((reader, Start { date_unix_secs, references, references_known, preview }))
    }

    fn byte(&mut self) -> Result<u8, SummaryError> {
        let (&byte, rest) = self.bytes.split_first().ok_or(SummaryError::Truncated)?;
        self.bytes = rest;
        Ok(byte)
    }

    fn flag(&mut self, what: &'static str) -> Result<bool, SummaryError> {
        match self.byte()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(SummaryError::Invalid { what }),
        }
    }

    fn varint(&mut self) -> Result<u64, SummaryError> {
        let mut value = 0u64;
        for index in 0..VARINT_BYTES_MAX {
            let byte = self.byte()?;
            let bits = u64::from(byte & 0x7f);
            let shift = 7 * u32::try_from(index).unwrap_or(u32::MAX);
            if index == VARINT_BYTES_MAX - 1 && bits > 1 {
                return Err(SummaryError::Invalid { what: "varint overflow" });
            }
            value |= bits << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(SummaryError::Invalid { what: "varint too long" })
    }

    /// A length or count, at most the bytes left (every element takes at least a byte).
    fn count(&mut self) -> Result<usize, SummaryError> {
        let value = self.varint()?;
        match usize::try_from(value) {
            Ok(count) if count <= self.bytes.len() => Ok(count),
            _ => Err(SummaryError::Truncated),
        }
    }

    fn bytes(&mut self) -> Result<Vec<u8>, SummaryError> {
        self.slice().map(<[u8]>::to_vec)
    }

    fn slice(&mut self) -> Result<&'a [u8], SummaryError> {
        let length = self.count()?;
        let (taken, rest) = self.bytes.split_at(length);
        self.bytes = rest;
        Ok(taken)
    }

    fn optional_slice(&mut self) -> Result<Option<&'a [u8]>, SummaryError> {
        if self.flag("optional flag")? { self.slice().map(Some) } else { Ok(None) }
    }

    fn optional(&mut self) -> Result<Option<Vec<u8>>, SummaryError> {
        if self.flag("optional flag")? { self.bytes().map(Some) } else { Ok(None) }
    }

    fn params(&mut self) -> Result<Params, SummaryError> {
        let count = self.count()?;
        let mut params = Vec::with_capacity(count);
        for _ in 0..count {
            params.push((self.bytes()?, self.bytes()?));
        }
        Ok(params)
    }

    fn range(&mut self) -> Result<std::ops::Range<u64>, SummaryError> {
        let start = self.varint()?;
        let length = self.varint()?;
        let end = start.checked_add(length).ok_or(SummaryError::Invalid { what: "range" })?;
        Ok(start..end)
    }

    fn envelope(&mut self) -> Result<Envelope, SummaryError> {
        let date = self.optional()?;
        let subject = self.optional()?;
        let from = self.addresses()?;
        let sender = self.addresses()?;
        let reply_to = self.addresses()?;
        let to = self.addresses()?;
        let cc = self.addresses()?;
        let bcc = self.addresses()?;
        let in_reply_to = self.optional()?;
        let message_id = self.optional()?;
        Ok(Envelope { date, subject, from, sender, reply_to, to, cc, bcc, in_reply_to, message_id })
    }

    fn addresses(&mut self) -> Result<Vec<Address>, SummaryError> {
        let count = self.count()?;
        let mut list = Vec::with_capacity(count);
        for _ in 0..count {
            if self.flag("address tag")? {
                let name = self.bytes()?;
                let members_count = self.count()?;
                let mut members = Vec::with_capacity(members_count);
                for _ in 0..members_count {
                    members.push(self.mailbox()?);
                }
                list.push(Address::Group { name, members });
            } else {
                list.push(self.mailbox()?);
            }
        }
        Ok(list)
    }

    fn mailbox(&mut self) -> Result<Address, SummaryError> {
        Ok(Address::Mailbox {
            name: self.optional()?,
            adl: self.optional()?,
            mailbox: self.optional()?,
            host: self.optional()?,
        })
    }

    fn part(&mut self, depth: usize) -> Result<Part, SummaryError> {
        self.parts += 1;
        if depth > PART_DEPTH_MAX || self.parts > PARTS_MAX {
            return Err(SummaryError::TooManyParts);
        }
        let mut part = Part {
            header: self.range()?,
            body: self.range()?,
            media_type: self.bytes()?,
            media_subtype: self.bytes()?,
            params: self.params()?,
            id: self.optional()?,
            description: self.optional()?,
            encoding: self.bytes()?,
            size: self.varint()?,
            lines: self.varint()?,
            md5: self.optional()?,
            ..Part::default()
        };
        if self.flag("disposition flag")? {
            part.disposition = Some((self.bytes()?, self.params()?));
        }
        let languages = self.count()?;
        part.language = Vec::with_capacity(languages);
        for _ in 0..languages {
            part.language.push(self.bytes()?);
        }
        part.location = self.optional()?;
        let children = self.count()?;
        part.children = Vec::with_capacity(children);
        for _ in 0..children {
            part.children.push(self.part(depth + 1)?);
        }
        if self.flag("message flag")? {
            let envelope = self.envelope()?;
            let root = self.part(depth + 1)?;
            part.message = Some(Box::new((envelope, root)));
        }
        Ok(part)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn varints_round_trip() {
        for value in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, value);
            let mut reader = Reader { bytes: &out, parts: 0 };
            assert_eq!(reader.varint().unwrap(), value);
            assert!(reader.bytes.is_empty());
        }
        for value in [0, 1, -1, i64::MIN, i64::MAX, 1_700_000_000] {
            assert_eq!(unzigzag(zigzag(value)), value);
        }
    }

    #[test]
    fn overlong_varints_are_refused() {
        let mut reader = Reader { bytes: &[0xff; 11], parts: 0 };
        assert!(reader.varint().is_err());
        let mut reader =
            Reader { bytes: &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02], parts: 0 };
        assert!(reader.varint().is_err());
    }

    #[test]
    fn glance_reads_date_and_subject_in_place() {
        let mut summary = MessageSummary { date_unix_secs: Some(-5), ..MessageSummary::default() };
        summary.envelope.subject = Some(b"=?utf-8?q?Gr=C3=BC=C3=9Fe?=".to_vec());
        summary.envelope.date = Some(b"Mon, 1 Jan 2024 00:00:00 +0000".to_vec());
        let bytes = summary.encode();
        assert_eq!(Glance::of(&bytes).unwrap(), Glance::of_summary(&summary));
        assert_eq!(Glance::of(&MessageSummary::default().encode()).unwrap(), Glance::default());
        assert_eq!(Glance::of(&bytes[..4]), Err(SummaryError::Truncated));
        assert_eq!(Glance::of(&[]), Err(SummaryError::Empty));
    }

    #[test]
    fn version_and_emptiness() {
        assert_eq!(MessageSummary::decode(&[]), Err(SummaryError::Empty));
        assert_eq!(MessageSummary::decode(&[4]), Err(SummaryError::UnsupportedVersion { version: 4 }));
        assert_eq!(MessageSummary::decode(&[1]), Err(SummaryError::Truncated));
        let mut encoded = MessageSummary::default().encode();
        assert!(MessageSummary::decode(&encoded).is_ok());
        encoded.push(0);
        assert_eq!(MessageSummary::decode(&encoded), Err(SummaryError::TrailingBytes));
    }

    #[test]
    fn references_round_trip_and_version_1_still_reads() {
        let mut summary = MessageSummary { references: Some(b"<a@x> <b@x>".to_vec()), ..Default::default() };
        summary.envelope.message_id = Some(b"<c@x>".to_vec());
        let encoded = summary.encode();
        assert_eq!(MessageSummary::decode(&encoded).unwrap(), summary);
        let stored = MessageSummary::decode_envelope(&encoded).unwrap();
        assert_eq!(
            (stored.references.as_deref(), stored.references_known),
            (Some(&b"<a@x> <b@x>"[..]), true)
        );
        assert_eq!(stored.envelope, summary.envelope);
        // Version 1: no references field after the date (nor a preview).
        summary.references = None;
        let mut version_1 = summary.encode();
        assert_eq!(version_1.remove(2), 0);
        assert_eq!(version_1.remove(2), 0);
        version_1[0] = 1;
        assert_eq!(MessageSummary::decode(&version_1).unwrap(), summary);
        let stored = MessageSummary::decode_envelope(&version_1).unwrap();
        assert_eq!((stored.references, stored.references_known), (None, false));
    }

    #[test]
    fn preview_round_trips_and_version_2_reads_without_it() {
        let mut summary = MessageSummary { preview: Some("Hi \u{e9}".to_owned()), ..Default::default() };
        summary.references = Some(b"<a@x>".to_vec());
        let encoded = summary.encode();
        assert_eq!(encoded[0], 3);
        assert_eq!(MessageSummary::decode(&encoded).unwrap(), summary);
        assert_eq!(Glance::of(&encoded).unwrap(), Glance::of_summary(&summary));
        // Version 2: the same without the preview field after References.
        summary.preview = None;
        let mut version_2 = summary.encode();
        let preview_flag = 1 + 1 + 1 + 1 + 5; // version, date flag, references flag, length, value
        assert_eq!(version_2.remove(preview_flag), 0);
        version_2[0] = 2;
        assert_eq!(MessageSummary::decode(&version_2).unwrap(), summary);
        assert!(MessageSummary::decode_envelope(&version_2).unwrap().references_known);
        // A preview that is not UTF-8 is refused, not passed on.
        let mut bad = MessageSummary { preview: Some("ab".to_owned()), ..Default::default() }.encode();
        let at = bad.iter().position(|&b| b == b'a').unwrap();
        bad[at] = 0xff;
        assert!(MessageSummary::decode(&bad).is_err());
    }
}
