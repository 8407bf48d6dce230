//! Errors of the IMAP command reader and how each maps to the wire (RFC 9051 §7.1):
//! the session answers with [`ReadError::write_response`], the one place that decides
//! status and response code.

use super::response::{ResponseCode, Status, write_tagged, write_untagged_status};
use super::types::Tag;

/// What was wrong with a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReadErrorKind {
    /// Not valid IMAP syntax (also: a NUL byte, a binary literal outside APPEND, invalid
    /// UTF-8 where text is required). BAD.
    Syntax,
    /// The command's text is over the line limit, or it has more literals than allowed.
    /// BAD.
    LineTooLong,
    /// A literal over the literal limit. `NO [TOOBIG]`.
    LiteralTooBig,
    /// An APPEND message over APPENDLIMIT (RFC 7889), or too many messages in one
    /// MULTIAPPEND. `NO [TOOBIG]`.
    AppendTooBig,
    /// Parentheses nested deeper than allowed. BAD.
    TooDeep,
    /// Invalid base64 in a SASL response or initial response. BAD.
    BadBase64,
}

/// A command the reader refused. The reader has already skipped the rest of it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct ReadError {
    /// The command's tag, if it could be read.
    pub tag: Option<Tag>,
    /// The class of error, which decides the answer.
    pub kind: ReadErrorKind,
    /// Text for the client: what was expected, never internals.
    pub detail: String,
}

impl ReadError {
    pub(crate) fn new(tag: Option<Tag>, kind: ReadErrorKind, detail: impl Into<String>) -> Self {
        Self { tag, kind, detail: detail.into() }
    }

    /// The answer for this error: `BAD` for syntax and protocol errors, `NO [TOOBIG]`
    /// for size limits (RFC 9051 §7.1 TOOBIG, RFC 7889 §4). Without a tag (the line had
    /// none, or it was a SASL or IDLE continuation line) the answer is untagged
    /// (`* BAD ...`); a session inside AUTHENTICATE or IDLE answers with that command's
    /// tag instead.
    pub fn status(&self) -> (Status, Option<ResponseCode>) {
        match self.kind {
            ReadErrorKind::LiteralTooBig | ReadErrorKind::AppendTooBig => {
                (Status::No, Some(ResponseCode::TooBig))
            }
            ReadErrorKind::Syntax
            | ReadErrorKind::LineTooLong
            | ReadErrorKind::TooDeep
            | ReadErrorKind::BadBase64 => (Status::Bad, None),
        }
    }

    /// Appends the answer for this error (see [`ReadError::status`]).
    pub fn write_response(&self, out: &mut Vec<u8>) {
        let (status, code) = self.status();
        match &self.tag {
            Some(tag) => write_tagged(out, tag, status, code.as_ref(), &self.detail),
            None => write_untagged_status(out, status, code.as_ref(), &self.detail),
        }
    }
}

/// A parse failure inside the parser, before the tag is attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ParseError {
    pub(crate) kind: ReadErrorKind,
    pub(crate) detail: &'static str,
}

impl ParseError {
    pub(crate) fn syntax(detail: &'static str) -> Self {
        Self { kind: ReadErrorKind::Syntax, detail }
    }
}

/// Result of a grammar piece.
pub(crate) type ParseResult<T> = Result<T, ParseError>;
