//! Message summaries for IMAP FETCH and SEARCH: the MIME structure, ENVELOPE and
//! BODYSTRUCTURE of a message, computed once at delivery or APPEND, stored beside the
//! message record, and later used to answer FETCH ENVELOPE/BODYSTRUCTURE/BODY[section]
//! and SEARCH without reparsing the message file.
//!
//! Specs: RFC 9051 §7.5.2 (ENVELOPE, BODY, BODYSTRUCTURE), RFC 9051 §6.4.5 (section
//! specs), RFC 3516 (BINARY), RFC 2045/2046 (MIME structure and transfer encodings),
//! RFC 2047 (encoded words, decoded only for SEARCH), RFC 2231 (parameter
//! continuations), RFC 5322 (header fields, addresses, groups), RFC 8970 (the PREVIEW
//! text, made while the message streams in: `preview`).
//!
//! # Design overview
//!
//! ```text
//!   message bytes ──> summarize() ──> MessageSummary ──encode()──> bytes in the record
//!                                        │   ^
//!                                        │   └──decode()── bytes from the record
//!                                        ├──> write_envelope / write_body_structure (FETCH)
//!                                        ├──> section_range -> byte range of the file (BODY[..])
//!                                        ├──> section_part + decode_body (BINARY)
//!                                        └──> *_matches (SEARCH)
//! ```
//!
//! Napkin math (release build, this 2-core VM, a 52 KiB message with 12 Received fields,
//! multipart/alternative and a 40 KiB base64 PDF): `summarize` ≈ 10 µs (no body is
//! decoded; boundaries are found with `memmem`), `encode` ≈ 0.3 µs giving ≈ 600 bytes,
//! `decode` ≈ 1.3 µs, ENVELOPE + BODYSTRUCTURE writing ≈ 1 µs. So 1,000 deliveries/s cost
//! ≈ 10 ms of CPU per second, and a FETCH of 10,000 BODYSTRUCTUREs ≈ 25 ms.
//!
//! The MIME structure is found by our own scanner (header blocks and boundary lines, with
//! exact RFC 2046 §5.1.1 offsets: the line break before a boundary belongs to the
//! boundary), not by `mail-parser`'s full parse, which decodes every body and keeps no
//! raw header values. `mail-parser` supplies what it does well: charset conversion,
//! RFC 2047 decoding, date parsing and HTML-to-text for SEARCH.
//!
//! Invariants:
//! - every range in a summary lies within the bytes given to [`summarize`], and a part's
//!   header range ends where its body range starts;
//! - nesting is at most [`PART_DEPTH_MAX`] deep and a summary has at most [`PARTS_MAX`]
//!   parts; nothing here recurses deeper than that, and nothing panics on any input
//!   (peer bytes for [`summarize`], disk bytes for [`MessageSummary::decode`]);
//! - no IO and no clock.

mod address;
mod body_search;
mod codec;
mod envelope;
mod error;
mod header;
mod params;
mod preview;
#[cfg(any(test, fuzzing))]
#[doc(hidden)]
pub mod reference;
mod search;
mod section;
mod structure;
mod subject;
mod summarizer;
mod text_signature;
mod transfer;
mod write;

use std::ops::Range;

pub use body_search::{
    ContentSearch, PartMatcher, PartText, SEARCH_BUFFERED_BYTES_MAX, SEARCH_PIECE_BYTES_MAX, SearchScope,
    TextMatcher, TextSink,
};
pub use codec::{Glance, StoredEnvelope};
pub use envelope::sent_day;
pub use error::{DecodeError, SummaryError};
pub use header::{HEADER_FIELD_NAME_BYTES_MAX, HeaderFieldsFilter, header_fields};
pub use preview::{PREVIEW_CHARS_MAX, PREVIEW_SOURCE_BYTES_MAX, preview_part, preview_source, preview_text};
pub use search::{address_matches, body_matches, header_matches, text_matches, value_matches};
pub use section::{SectionKind, section_part, section_range};
pub use structure::summarize;
pub use subject::{BaseSubject, decode_phrase, fold_for_sort};
pub use summarizer::Summarizer;
pub use text_signature::{
    SIGNATURE_SOURCE_BYTES_MAX, SIGNATURE_VERSION, SignatureBuilder, SignatureProbe, signature_of,
};
pub use transfer::{
    DecodeProgress, DecodedSize, PartialDecoder, QUOTED_PRINTABLE_SPACE_BYTES_MAX, TransferDecoder,
    TransferEncoding, decode_body,
};
pub use write::{write_body_structure, write_envelope};

/// Deepest MIME nesting summarized. Each multipart and each message/rfc822 adds a level;
/// the top-level message is level 0. Real mail rarely nests beyond 5 (forwards of
/// forwards); 64 keeps the stack depth of recursive walkers (drop, writers, decode) small
/// while leaving room for generated mail. A container part at this depth is summarized
/// as a text/plain leaf: its contents stay reachable as one body, unparsed.
pub const PART_DEPTH_MAX: usize = 64;

/// Most parts in one summary, counting the root and every embedded message's root. At
/// roughly 200 bytes per encoded part this bounds a summary near 2 MiB. When a multipart
/// has more children than the budget left, the last allowed child spans the rest (its
/// body then contains the remaining boundary lines); a container with no budget left is
/// summarized as a text/plain leaf.
pub const PARTS_MAX: usize = 10_000;

/// Header fields considered per header block when looking for ENVELOPE and MIME fields.
/// Mail that crossed many relays carries a few hundred trace and signature fields; a
/// header with more fields than this is abuse, and fields after the limit are ignored
/// (they are still part of the header's byte range and of HEADER fetches).
pub const HEADER_FIELDS_MAX: usize = 1_000;

/// Parameters considered per Content-Type or Content-Disposition field, before RFC 2231
/// continuations are joined. Real fields carry fewer than 10; the joiner's work is
/// quadratic in this number.
pub const PARAMS_MAX: usize = 64;

/// Addresses (group members included) kept per address field of an envelope. Mailing
/// list mail with a few hundred visible recipients exists; beyond this, ENVELOPE is for
/// display and the rest is dropped, which bounds memory per summary (each address costs
/// about 100 bytes plus its strings).
pub const ADDRESSES_MAX: usize = 1_000;

/// Bytes of one header block whose fields are considered for the summary (ENVELOPE, MIME
/// fields). Postfix keeps 100 KiB of a message header (`header_size_limit`) and discards
/// the rest; real headers, DKIM and ARC seals and long recipient lists included, stay well
/// below that. Fields past the limit are ignored as those past [`HEADER_FIELDS_MAX`] are (a
/// line crossing it is left out whole); the header keeps its byte range. This is the most
/// a [`Summarizer`] buffers of a header.
pub const HEADER_BYTES_MAX: usize = 128 * 1024;

/// Header bytes considered over all header blocks of one message (its own, each MIME
/// part's, each embedded message's), in document order; a header block gets what is left
/// of this, up to [`HEADER_BYTES_MAX`]. It bounds the summary, whose strings all come from
/// considered bytes, whatever the number of parts: a digest of 200 forwarded messages with
/// 4 KiB headers each fits. Past it, later parts are summarized with their defaults
/// (text/plain, or message/rfc822 in a digest).
pub const SUMMARY_HEADER_BYTES_MAX: usize = 1024 * 1024;

const _: () = assert!(PART_DEPTH_MAX >= 8); // real forwards nest several levels
const _: () = assert!(HEADER_BYTES_MAX <= SUMMARY_HEADER_BYTES_MAX);
const _: () = assert!(HEADER_BYTES_MAX >= 100 * 1024); // all Postfix keeps of a header
const _: () = assert!(PARTS_MAX > PART_DEPTH_MAX); // a maximal chain must fit
const _: () = assert!(PARAMS_MAX >= 8);

/// MIME parameters as (name, value) pairs in message order (Content-Type,
/// Content-Disposition).
pub type Params = Vec<(Vec<u8>, Vec<u8>)>;

/// Everything FETCH and SEARCH need, computed once by [`summarize`]. Offsets are byte
/// offsets into the exact bytes given to `summarize`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageSummary {
    /// The top-level message's envelope (RFC 9051 §7.5.2).
    pub envelope: Envelope,
    /// The top-level part: its header is the message header, its body the message body.
    pub root: Part,
    /// The parsed Date: header in seconds since the Unix epoch (SEARCH SENT*); `None`
    /// when absent or invalid.
    pub date_unix_secs: Option<i64>,
    /// The top-level References: value, unfolded, at most its last
    /// [`REFERENCES_BYTES_MAX`] bytes (THREAD=REFERENCES, RFC 5256 §2.2).
    pub references: Option<Vec<u8>>,
    /// The PREVIEW text (RFC 8970, [`preview_text`]): at most [`PREVIEW_CHARS_MAX`]
    /// characters, empty when the message has no text part; `None` in a summary stored
    /// before previews were kept (format 2 and older), when it must be made from the file.
    pub preview: Option<String>,
}

/// Most bytes of a References: value kept in a summary: its tail, from a `<`. RFC 5322
/// §3.6.4 lets References grow with a thread; threading needs the nearest ancestors
/// (the last ids), and 8 KiB holds about 100 of them, while a hostile header could
/// otherwise make every stored summary 128 KiB.
pub const REFERENCES_BYTES_MAX: usize = 8 * 1024;

/// ENVELOPE fields of one message (top-level or embedded), raw as in the header:
/// unfolded and trimmed, RFC 2047 encoded words not decoded (IMAP returns them raw).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// Date: value.
    pub date: Option<Vec<u8>>,
    /// Subject: value.
    pub subject: Option<Vec<u8>>,
    /// From: addresses.
    pub from: Vec<Address>,
    /// Sender: addresses; empty when absent or empty (the writer then uses From).
    pub sender: Vec<Address>,
    /// Reply-To: addresses; empty when absent or empty (the writer then uses From).
    pub reply_to: Vec<Address>,
    /// To: addresses.
    pub to: Vec<Address>,
    /// Cc: addresses.
    pub cc: Vec<Address>,
    /// Bcc: addresses.
    pub bcc: Vec<Address>,
    /// In-Reply-To: value.
    pub in_reply_to: Option<Vec<u8>>,
    /// Message-ID: value.
    pub message_id: Option<Vec<u8>>,
}

/// One address of an ENVELOPE address list (RFC 9051 §7.5.2, RFC 5322 §3.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A mailbox: display name, source route, local part and domain, each with RFC 5322
    /// quoting removed. `summarize` always sets `mailbox` and `host` (empty when missing
    /// from the header), because a NIL host means group syntax on the wire.
    Mailbox {
        /// Display name (the phrase), or the comment when there is no phrase.
        name: Option<Vec<u8>>,
        /// Obsolete source route (`@a,@b`).
        adl: Option<Vec<u8>>,
        /// Local part.
        mailbox: Option<Vec<u8>>,
        /// Domain.
        host: Option<Vec<u8>>,
    },
    /// A group: written as a start marker (NIL NIL "name" NIL), the members, and an end
    /// marker (NIL NIL NIL NIL). Groups do not nest in RFC 5322; nested groups given here
    /// are written and encoded flattened.
    Group {
        /// The group's display name.
        name: Vec<u8>,
        /// The members, normally all [`Address::Mailbox`].
        members: Vec<Address>,
    },
}

/// One MIME part (RFC 2045) with what BODYSTRUCTURE and section fetches need.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Part {
    /// This part's header block, including the blank line that ends it (when present).
    pub header: Range<u64>,
    /// Its body; for a multipart, everything between the header's end and the part's end
    /// (preamble, children, boundary lines, epilogue).
    pub body: Range<u64>,
    /// Media type as written in the message (case kept); TEXT by default (MESSAGE in a
    /// multipart/digest).
    pub media_type: Vec<u8>,
    /// Media subtype as written; PLAIN by default (RFC822 in a multipart/digest).
    pub media_subtype: Vec<u8>,
    /// Content-Type parameters in order; RFC 2231 continuations joined (an encoded value
    /// keeps its encoding and its name ends in `*`).
    pub params: Params,
    /// Content-ID value.
    pub id: Option<Vec<u8>>,
    /// Content-Description value (raw).
    pub description: Option<Vec<u8>>,
    /// Content-Transfer-Encoding as written, "7BIT" by default.
    pub encoding: Vec<u8>,
    /// Body size in octets (the length of `body`).
    pub size: u64,
    /// Body lines, for text/* and message/rfc822 parts (0 for others): line feeds, plus
    /// one for a last line without one.
    pub lines: u64,
    /// Content-MD5 value.
    pub md5: Option<Vec<u8>>,
    /// Content-Disposition type and parameters.
    pub disposition: Option<(Vec<u8>, Params)>,
    /// Content-Language tags.
    pub language: Vec<Vec<u8>>,
    /// Content-Location value.
    pub location: Option<Vec<u8>>,
    /// Children of a multipart, in order.
    pub children: Vec<Part>,
    /// The embedded message of a message/rfc822 (or message/global) part whose body is not
    /// transfer-encoded: its envelope and its root part.
    pub message: Option<Box<(Envelope, Part)>>,
}

impl Part {
    /// True for multipart/* (by media type, whatever the number of children).
    #[must_use]
    pub fn is_multipart(&self) -> bool {
        self.media_type.eq_ignore_ascii_case(b"multipart")
    }

    /// True for text/*.
    #[must_use]
    pub fn is_text(&self) -> bool {
        self.media_type.eq_ignore_ascii_case(b"text")
    }

    /// The value of the first parameter called `name` (ASCII case-insensitive).
    #[must_use]
    pub fn param(&self, name: &[u8]) -> Option<&[u8]> {
        self.params.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_slice())
    }
}
