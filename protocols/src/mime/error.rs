//! Error types of the `mime` module: decoding a stored summary, and removing a
//! Content-Transfer-Encoding for BINARY fetches (RFC 3516).

/// Why [`super::MessageSummary::decode`] refused its bytes. The bytes come from our own
/// record, so any of these means corruption or a version this build does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SummaryError {
    /// No bytes at all.
    #[error("empty summary")]
    Empty,
    /// The first byte names a format version this build cannot read.
    #[error("unsupported summary format version {version}")]
    UnsupportedVersion {
        /// The version byte found.
        version: u8,
    },
    /// The bytes end in the middle of a value.
    #[error("summary truncated")]
    Truncated,
    /// A tag, number or range is not valid where it appears.
    #[error("invalid summary: {what}")]
    Invalid {
        /// What was being read.
        what: &'static str,
    },
    /// Parts nest deeper than [`super::PART_DEPTH_MAX`] or number more than
    /// [`super::PARTS_MAX`].
    #[error("summary exceeds the part limits")]
    TooManyParts,
    /// Bytes remain after the summary.
    #[error("trailing bytes after summary")]
    TrailingBytes,
}

/// Why [`super::decode_body`] could not remove a transfer encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The Content-Transfer-Encoding is not one of 7bit, 8bit, binary, base64,
    /// quoted-printable (IMAP: `NO [UNKNOWN-CTE]`, RFC 3516 §4.3).
    #[error("unknown content-transfer-encoding")]
    UnknownEncoding,
}
