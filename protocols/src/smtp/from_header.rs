//! The message's author (`From:`, RFC 5322 §3.6.2) found while the message streams in,
//! for a submission server that must check it against the authenticated account (RFC
//! 6409 §6.3: a message inconsistent with the user's permissions is refused after the
//! data, `550 5.7.1`).
//!
//! [`FromScanner`] takes the message bytes in order, in pieces of any size, and keeps
//! only the `From:` field (unfolded, at most [`FROM_FIELD_BYTES_MAX`] bytes): the rest
//! of the header section and the body pass through without being stored. Field names
//! compare without case and may have white space before the colon (RFC 5322 §4.5.3's
//! obsolete form), so a field a mail reader shows as the author cannot hide from the
//! check by its spelling. The header section ends at the first empty line.
//!
//! It also notes a `TLS-Required: No` field (RFC 8689 §5): the author asks that the
//! recipient domains' TLS policies (MTA-STS, DANE) not stop delivery.
//!
//! Exactly one `From:` with exactly one mailbox is accepted (RFC 5322 §3.6 allows one
//! field; a list of authors would need `Sender:` and would still not say who sent it);
//! anything else is [`FromField::Invalid`], which a submission server refuses.

use super::limits::FROM_FIELD_BYTES_MAX;

/// Longest field name looked at: enough for `From` with obsolete white space before its
/// colon; longer names are not `From` and are skipped without being stored.
const FIELD_NAME_BYTES_MAX: usize = 16;

/// What the scanner found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromField {
    /// Exactly one `From:` field holding exactly one mailbox.
    Mailbox {
        /// The local part as written (quotes removed by the parser).
        localpart: String,
        /// The domain as written.
        domain: String,
    },
    /// No `From:` field, more than one, one longer than [`FROM_FIELD_BYTES_MAX`], or
    /// one that is not a single mailbox; the reason is for the log.
    Invalid(&'static str),
}

/// Where the scanner is in the header section.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line.
    LineStart,
    /// Reading a field name; `len` bytes of it are in `name`.
    Name { len: usize },
    /// In the value of the first `From:` field (its first line or a continuation).
    FromValue,
    /// In the value of a `TLS-Required:` field.
    TlsRequiredValue,
    /// In a field that is not the first `From:`, or a name too long to be one.
    OtherField,
    /// The header section has ended.
    Done,
}

/// Streams over a message, keeping only its `From:` field. See the module docs.
#[derive(Debug, Clone)]
pub struct FromScanner {
    state: State,
    name: [u8; FIELD_NAME_BYTES_MAX],
    /// The unfolded value of the first `From:` field (line breaks dropped).
    value: Vec<u8>,
    from_fields: u32,
    /// Continuation lines belong to the first `From:` field (it is the latest field).
    in_from: bool,
    too_long: bool,
    /// The previous byte was a CR (line ends are LF or CRLF).
    after_cr: bool,
    /// The value of the last `TLS-Required:` field, at most [`TLS_REQUIRED_BYTES_MAX`].
    tls_required: Vec<u8>,
    tls_required_fields: u32,
}

/// Longest `TLS-Required:` value kept: the only value defined is `No`; white space
/// around it fits, anything longer is not `No`.
const TLS_REQUIRED_BYTES_MAX: usize = 16;

impl Default for FromScanner {
    fn default() -> Self {
        Self::new()
    }
}

impl FromScanner {
    /// A scanner at the start of a message.
    pub fn new() -> Self {
        FromScanner {
            state: State::LineStart,
            name: [0; FIELD_NAME_BYTES_MAX],
            value: Vec::new(),
            from_fields: 0,
            in_from: false,
            too_long: false,
            after_cr: false,
            tls_required: Vec::new(),
            tls_required_fields: 0,
        }
    }

    /// The next bytes of the message.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if self.state == State::Done {
                return;
            }
            self.step(byte);
        }
    }

    /// True once the header section has ended: later bytes change nothing.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// The verdict on the header section seen (a message without an empty line is all
    /// header section).
    pub fn finish(&self) -> FromField {
        if self.from_fields == 0 {
            return FromField::Invalid("no From field");
        }
        if self.from_fields > 1 {
            return FromField::Invalid("more than one From field");
        }
        if self.too_long {
            return FromField::Invalid("From field too long");
        }
        single_mailbox(&self.value)
    }

    /// The header section has exactly one `TLS-Required:` field and it says `No`
    /// (RFC 8689 §5; case does not matter).
    pub fn tls_required_no(&self) -> bool {
        self.tls_required_fields == 1 && self.tls_required.trim_ascii().eq_ignore_ascii_case(b"no")
    }

    fn step(&mut self, byte: u8) {
        let after_cr = std::mem::replace(&mut self.after_cr, byte == b'\r');
        match self.state {
            State::LineStart => self.line_start(byte),
            State::Name { len } => self.name_byte(byte, len),
            State::FromValue => match byte {
                b'\n' => self.state = State::LineStart,
                b'\r' => {}
                _ => {
                    if after_cr {
                        // A CR inside a line is kept as it was (it is not a line end).
                        self.push_value(b'\r');
                    }
                    self.push_value(byte);
                }
            },
            State::TlsRequiredValue => match byte {
                b'\n' => self.state = State::LineStart,
                _ if self.tls_required.len() < TLS_REQUIRED_BYTES_MAX => self.tls_required.push(byte),
                // Longer than any `No`: keep it long so that it does not match.
                _ => {}
            },
            State::OtherField => {
                if byte == b'\n' {
                    self.state = State::LineStart;
                }
            }
            State::Done => {}
        }
    }

    fn line_start(&mut self, byte: u8) {
        match byte {
            b'\r' => {} // an empty line if LF follows
            b'\n' => self.state = State::Done,
            // RFC 5322 §2.2.3: a line starting with white space continues the field.
            b' ' | b'\t' if self.in_from => {
                self.push_value(byte);
                self.state = State::FromValue;
            }
            b' ' | b'\t' => self.state = State::OtherField,
            _ => {
                self.in_from = false;
                self.name[0] = byte;
                self.state = State::Name { len: 1 };
            }
        }
    }

    fn name_byte(&mut self, byte: u8, len: usize) {
        match byte {
            b':' => {
                let name = self.name[..len].trim_ascii_end();
                if name.eq_ignore_ascii_case(b"tls-required") {
                    self.tls_required_fields = self.tls_required_fields.saturating_add(1);
                    self.tls_required.clear();
                    self.state = State::TlsRequiredValue;
                    return;
                }
                if !name.eq_ignore_ascii_case(b"from") {
                    self.state = State::OtherField;
                    return;
                }
                self.from_fields = self.from_fields.saturating_add(1);
                self.in_from = self.from_fields == 1;
                self.state = if self.in_from { State::FromValue } else { State::OtherField };
            }
            // A line without a colon is no field; what follows is read as usual.
            b'\n' => self.state = State::LineStart,
            _ if len < FIELD_NAME_BYTES_MAX => {
                self.name[len] = byte;
                self.state = State::Name { len: len + 1 };
            }
            _ => self.state = State::OtherField,
        }
    }

    fn push_value(&mut self, byte: u8) {
        if self.value.len() < FROM_FIELD_BYTES_MAX {
            self.value.push(byte);
        } else {
            self.too_long = true;
        }
    }
}

/// The one mailbox of a `From:` value (RFC 5322 §3.4 syntax, comments and display
/// names allowed; parsed by mail-parser).
fn single_mailbox(value: &[u8]) -> FromField {
    let mut line = value.to_vec();
    line.push(b'\n'); // mail-parser reads a field up to its line end
    let parsed = mail_parser::parsers::MessageStream::new(&line).parse_address();
    let mail_parser::HeaderValue::Address(mail_parser::Address::List(list)) = parsed else {
        return FromField::Invalid("From is not a mailbox");
    };
    let [author] = list.as_slice() else {
        return FromField::Invalid("From is not exactly one mailbox");
    };
    let Some((localpart, domain)) = author.address.as_deref().and_then(|a| a.rsplit_once('@')) else {
        return FromField::Invalid("From address has no domain");
    };
    if localpart.is_empty() || domain.is_empty() {
        return FromField::Invalid("From address is incomplete");
    }
    FromField::Mailbox { localpart: localpart.to_owned(), domain: domain.to_owned() }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn scan(message: &[u8]) -> FromField {
        // Whole, and byte by byte: the split must not matter.
        let mut whole = FromScanner::new();
        whole.feed(message);
        let mut bytes = FromScanner::new();
        for byte in message {
            bytes.feed(std::slice::from_ref(byte));
        }
        assert_eq!(whole.finish(), bytes.finish());
        whole.finish()
    }

    fn mailbox(localpart: &str, domain: &str) -> FromField {
        FromField::Mailbox { localpart: localpart.to_owned(), domain: domain.to_owned() }
    }

    #[test]
    fn notes_tls_required_no() {
        let no = |message: &[u8]| {
            let mut scanner = FromScanner::new();
            for byte in message {
                scanner.feed(std::slice::from_ref(byte));
            }
            scanner.tls_required_no()
        };
        assert!(no(b"From: a@b.example\r\nTLS-Required: No\r\n\r\nbody"));
        assert!(no(b"tls-required :  no \r\nFrom: a@b.example\r\n\r\n"));
        assert!(!no(b"From: a@b.example\r\nTLS-Required: Yes\r\n\r\n"));
        assert!(!no(b"From: a@b.example\r\nTLS-Required: No way, this is much too long\r\n\r\n"));
        assert!(!no(b"TLS-Required: No\r\nTLS-Required: No\r\n\r\n"), "one field only");
        assert!(!no(b"From: a@b.example\r\n\r\nTLS-Required: No\r\n"), "body lines are no fields");
        assert_eq!(scan(b"TLS-Required: No\r\nFrom: a@b.example\r\n\r\n"), mailbox("a", "b.example"));
    }

    #[test]
    fn finds_the_author_in_its_forms() {
        assert_eq!(scan(b"From: a@b.example\r\n\r\nbody"), mailbox("a", "b.example"));
        assert_eq!(
            scan(b"Subject: x\r\nfrom:Alice <alice@b.example>\r\n\r\n"),
            mailbox("alice", "b.example")
        );
        assert_eq!(
            scan(b"FROM: \"Alice, the (first)\" (comment)\r\n <alice@b.example>\r\nTo: x@y\r\n\r\n"),
            mailbox("alice", "b.example"),
            "folded, quoted display name with a comma, comments"
        );
        assert_eq!(scan(b"From : old@b.example\r\n\r\n"), mailbox("old", "b.example"), "obsolete form");
        assert_eq!(scan(b"From: a@b.example\n\nbody"), mailbox("a", "b.example"), "bare LF lines (BDAT)");
    }

    #[test]
    fn refuses_what_is_not_exactly_one_mailbox() {
        assert!(
            matches!(scan(b"To: a@b\r\n\r\nFrom: a@b.example\r\n"), FromField::Invalid(_)),
            "in the body"
        );
        assert!(matches!(scan(b"From: a@b.example\r\nFrom: c@d.example\r\n\r\n"), FromField::Invalid(_)));
        assert!(matches!(scan(b"From: a@b.example\r\nfrom : c@d.example\r\n\r\n"), FromField::Invalid(_)));
        assert!(matches!(scan(b"From: a@b.example, c@d.example\r\n\r\n"), FromField::Invalid(_)));
        assert!(matches!(scan(b"From: Team: a@b.example;\r\n\r\n"), FromField::Invalid(_)));
        assert!(matches!(scan(b"From: nobody\r\n\r\n"), FromField::Invalid(_)));
        assert!(matches!(scan(b"From:\r\n\r\n"), FromField::Invalid(_)));
        assert!(matches!(scan(b"Subject: no author\r\n\r\n"), FromField::Invalid(_)));
        let long =
            [b"From: ".to_vec(), vec![b'a'; FROM_FIELD_BYTES_MAX], b"@b.example\r\n\r\n".to_vec()].concat();
        assert_eq!(scan(&long), FromField::Invalid("From field too long"));
    }

    #[test]
    fn stops_at_the_end_of_the_header_section() {
        let mut scanner = FromScanner::new();
        scanner.feed(b"From: a@b.example\r\n\r\n");
        assert!(scanner.is_done());
        scanner.feed(b"From: c@d.example\r\n");
        assert_eq!(scanner.finish(), mailbox("a", "b.example"));
        // Field names that merely start like From, or are long, are other fields.
        assert_eq!(
            scan(b"From-X: z@z\r\nX-Very-Long-Field-Name: q\r\nFrom: a@b.example\r\n\r\n"),
            mailbox("a", "b.example")
        );
    }
}
