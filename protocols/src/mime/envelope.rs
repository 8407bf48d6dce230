//! One pass over a header block picks the fields ENVELOPE (RFC 9051 §7.5.2) and
//! BODYSTRUCTURE (RFC 2045 §5, §6, §7, §8; RFC 2183; RFC 3282; RFC 2557; RFC 1864) need;
//! then the envelope is built from them.
//!
//! RFC 5322 §3.6 allows each of these fields once; when a message repeats one, the first
//! occurrence wins, as in most servers. At most [`HEADER_FIELDS_MAX`] fields are looked at.

use super::header::{self, unfold};
use super::{Envelope, HEADER_FIELDS_MAX, REFERENCES_BYTES_MAX, address};

/// Raw values (after the colon, still folded) of the fields we use from one header.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct HeaderInfo<'a> {
    pub(crate) date: Option<&'a [u8]>,
    pub(crate) subject: Option<&'a [u8]>,
    pub(crate) from: Option<&'a [u8]>,
    pub(crate) sender: Option<&'a [u8]>,
    pub(crate) reply_to: Option<&'a [u8]>,
    pub(crate) to: Option<&'a [u8]>,
    pub(crate) cc: Option<&'a [u8]>,
    pub(crate) bcc: Option<&'a [u8]>,
    pub(crate) in_reply_to: Option<&'a [u8]>,
    pub(crate) message_id: Option<&'a [u8]>,
    pub(crate) references: Option<&'a [u8]>,
    pub(crate) content_type: Option<&'a [u8]>,
    pub(crate) transfer_encoding: Option<&'a [u8]>,
    pub(crate) content_id: Option<&'a [u8]>,
    pub(crate) description: Option<&'a [u8]>,
    pub(crate) md5: Option<&'a [u8]>,
    pub(crate) disposition: Option<&'a [u8]>,
    pub(crate) language: Option<&'a [u8]>,
    pub(crate) location: Option<&'a [u8]>,
}

impl<'a> HeaderInfo<'a> {
    /// Collects the fields of `header_block`.
    pub(crate) fn collect(header_block: &'a [u8]) -> Self {
        let mut info = HeaderInfo::default();
        for field in header::fields(header_block).take(HEADER_FIELDS_MAX) {
            if let Some(slot) = info.slot(field.name) {
                slot.get_or_insert(field.value);
            }
        }
        info
    }

    fn slot(&mut self, name: &[u8]) -> Option<&mut Option<&'a [u8]>> {
        // Lower-case into a small buffer: names we want are short, longer ones are not ours.
        let mut buffer = [0u8; 26];
        let lower = buffer.get_mut(..name.len())?;
        for (to, from) in lower.iter_mut().zip(name) {
            *to = from.to_ascii_lowercase();
        }
        let slot = match &*lower {
            b"date" => &mut self.date,
            b"subject" => &mut self.subject,
            b"from" => &mut self.from,
            b"sender" => &mut self.sender,
            b"reply-to" => &mut self.reply_to,
            b"to" => &mut self.to,
            b"cc" => &mut self.cc,
            b"bcc" => &mut self.bcc,
            b"in-reply-to" => &mut self.in_reply_to,
            b"message-id" => &mut self.message_id,
            b"references" => &mut self.references,
            b"content-type" => &mut self.content_type,
            b"content-transfer-encoding" => &mut self.transfer_encoding,
            b"content-id" => &mut self.content_id,
            b"content-description" => &mut self.description,
            b"content-md5" => &mut self.md5,
            b"content-disposition" => &mut self.disposition,
            b"content-language" => &mut self.language,
            b"content-location" => &mut self.location,
            _ => return None,
        };
        Some(slot)
    }

    /// The envelope of the message whose header this is.
    pub(crate) fn envelope(&self) -> Envelope {
        let addresses = |value: Option<&[u8]>| value.map(|value| address::parse_addresses(&unfold(value)));
        Envelope {
            date: self.date.map(unfold),
            subject: self.subject.map(unfold),
            from: addresses(self.from).unwrap_or_default(),
            sender: addresses(self.sender).unwrap_or_default(),
            reply_to: addresses(self.reply_to).unwrap_or_default(),
            to: addresses(self.to).unwrap_or_default(),
            cc: addresses(self.cc).unwrap_or_default(),
            bcc: addresses(self.bcc).unwrap_or_default(),
            in_reply_to: self.in_reply_to.map(unfold),
            message_id: self.message_id.map(unfold),
        }
    }

    /// The References: value, unfolded, its tail cut to [`REFERENCES_BYTES_MAX`] bytes
    /// starting at a `<` (an id is never cut in half).
    pub(crate) fn references(&self) -> Option<Vec<u8>> {
        let value = unfold(self.references?);
        if value.len() <= REFERENCES_BYTES_MAX {
            return Some(value);
        }
        let tail = &value[value.len() - REFERENCES_BYTES_MAX..];
        let start = memchr::memchr(b'<', tail)?;
        Some(tail[start..].to_vec())
    }

    /// The Date: field in seconds since the Unix epoch, when it parses (RFC 5322 §3.3,
    /// parsed by mail-parser, which also accepts the obsolete forms).
    pub(crate) fn date_unix_secs(&self) -> Option<i64> {
        let mut value = unfold(self.date?);
        value.push(b'\n'); // mail-parser reads a field up to its line end
        match mail_parser::parsers::MessageStream::new(&value).parse_date() {
            mail_parser::HeaderValue::DateTime(date) if date.is_valid() => Some(date.to_timestamp()),
            _ => None,
        }
    }
}

/// The day a Date: field names, as written: its own year, month and day in days since
/// 1970-01-01, whatever its time and zone (RFC 3501 §6.4.4 SENTBEFORE/SENTON/SENTSINCE
/// compare the date "disregarding time and timezone"). `raw` is the field's value;
/// `None` when it does not parse.
#[must_use]
pub fn sent_day(raw: &[u8]) -> Option<i64> {
    let mut value = unfold(raw);
    value.push(b'\n');
    match mail_parser::parsers::MessageStream::new(&value).parse_date() {
        mail_parser::HeaderValue::DateTime(date) if date.is_valid() => {
            Some(crate::imap::datetime::days_from_civil(i64::from(date.year), date.month, date.day))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn the_sent_day_is_the_date_as_written() {
        // 2007-03-25 01:00 +0200 is still 24 March in UTC; SENTON judges by 25 March.
        let day = sent_day(b" Sun, 25 Mar 2007 01:00:00 +0200").unwrap();
        assert_eq!(day, crate::imap::datetime::days_from_civil(2007, 3, 25));
        assert_eq!(sent_day(b"not a date"), None);
    }

    #[test]
    fn first_occurrence_wins_and_names_are_case_insensitive() {
        let block = b"SUBJECT: one\r\nsubject: two\r\nX-Very-Long-Header-Name-Indeed: x\r\n\r\n";
        let info = HeaderInfo::collect(block);
        assert_eq!(info.subject, Some(&b" one"[..]));
    }

    #[test]
    fn fields_past_the_limit_are_ignored() {
        let mut block = Vec::new();
        for _ in 0..HEADER_FIELDS_MAX - 1 {
            block.extend_from_slice(b"Received: x\r\n");
        }
        block.extend_from_slice(b"Subject: last considered\r\nFrom: a@b\r\n\r\n");
        let info = HeaderInfo::collect(&block);
        assert_eq!(info.subject, Some(&b" last considered"[..]));
        assert_eq!(info.from, None);
    }

    #[test]
    fn dates() {
        let info = HeaderInfo { date: Some(b" Tue, 1 Jul 2003 10:52:37 +0200\r\n"), ..HeaderInfo::default() };
        assert_eq!(info.date_unix_secs(), Some(1_057_049_557));
        let info = HeaderInfo { date: Some(b" yesterday"), ..HeaderInfo::default() };
        assert_eq!(info.date_unix_secs(), None);
    }
}
