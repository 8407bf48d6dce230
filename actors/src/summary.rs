//! Message summaries (`moxide_protocols::mime`): computed once when a message enters the
//! store (SMTP and IMAP APPEND feed a `Summarizer` the bytes as they arrive), so FETCH
//! and SEARCH rarely touch the message file again. A message stored without one (older
//! than schema 2) is summarized from its file when first needed, read in pieces; one
//! stored without a preview (summary format 2 and older) has its PREVIEW made from a
//! bounded read of the file when a FETCH asks for it (`fill_preview`).

use std::fs::File;
use std::os::unix::fs::FileExt as _;

use moxide_protocols::mime::{MessageSummary, SignatureBuilder, Summarizer, preview_source, preview_text};

/// Bytes read from a message file at a time when summarizing it: the summarizer holds no
/// more of the message than this buffer (plus its bounded header buffer).
const FILE_READ_BYTES: usize = 64 * 1024;

/// The summary of a message file, read in [`FILE_READ_BYTES`] pieces: memory stays
/// bounded whatever the message's size. Blocking: call it on a helper thread.
pub(crate) fn summarize_file(file: &File) -> std::io::Result<MessageSummary> {
    let mut buffer = vec![0u8; FILE_READ_BYTES];
    let mut summarizer = Summarizer::new();
    let mut offset = 0u64;
    loop {
        match file.read_at(&mut buffer, offset) {
            Ok(0) => return Ok(summarizer.finish()),
            Ok(read) => {
                summarizer.feed(&buffer[..read]);
                offset += read as u64;
            }
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}

/// The text signature of a message about to be stored (`mime::SignatureBuilder`), from
/// its encoded summary and its file, read [`FILE_READ_BYTES`] at a time: the store's
/// deriver (`moxide_storage::set_text_signature_deriver`). `None` when the summary does
/// not decode, the file is shorter than the summary says, or the text is too large.
/// Blocking: the store calls it on the delivering helper thread.
pub fn text_signature_of_file(summary: &[u8], file: &File) -> Option<Vec<u8>> {
    let summary = MessageSummary::decode(summary).ok()?;
    let mut builder = SignatureBuilder::new(&summary);
    // Grown to the longest range read, at most FILE_READ_BYTES: a small message's text
    // does not pay for zeroing 64 KiB.
    let mut buffer = Vec::new();
    while let Some(range) = builder.next_range() {
        let length = usize::try_from(range.end - range.start).unwrap_or(usize::MAX).min(FILE_READ_BYTES);
        if buffer.len() < length {
            buffer.resize(length, 0);
        }
        let read = loop {
            match file.read_at(&mut buffer[..length], range.start) {
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                other => break other.ok()?,
            }
        };
        if read == 0 {
            return None;
        }
        builder.feed(&buffer[..read]);
    }
    builder.finish()
}

/// A message summary computed from bytes as they pass, for code outside this crate that
/// stores messages (mailbox import): the encoded form is what `NewMessage::summary`
/// takes. It holds no more of the message than the summarizer's bounded header buffer.
#[derive(Default)]
pub struct SummaryFeed(Summarizer);

impl SummaryFeed {
    /// A summary of nothing yet.
    pub fn new() -> SummaryFeed {
        SummaryFeed(Summarizer::new())
    }

    /// The message's next bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        self.0.feed(bytes);
    }

    /// The encoded summary of everything fed.
    pub fn finish(self) -> Vec<u8> {
        self.0.finish().encode()
    }
}

/// The Message-ID of an encoded summary (as `NewMessage::summary` and the store keep
/// it), `None` when the message has none or the summary does not decode.
pub fn summary_message_id(encoded: &[u8]) -> Option<Vec<u8>> {
    MessageSummary::decode_envelope(encoded).ok()?.envelope.message_id
}

impl std::fmt::Debug for SummaryFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SummaryFeed").finish_non_exhaustive()
    }
}

/// The summary of a stored message: the stored one, or computed from its file when none
/// was stored or it does not decode. Blocking: call it on a helper thread.
pub(crate) fn summary_or_file(stored: Option<&[u8]>, file: &File) -> std::io::Result<MessageSummary> {
    if let Some(bytes) = stored
        && let Ok(summary) = MessageSummary::decode(bytes)
    {
        return Ok(summary);
    }
    summarize_file(file)
}

/// Makes the PREVIEW text (RFC 8970) of a summary stored without one (before summary
/// format 3) from its file: one read of at most `mime::PREVIEW_SOURCE_BYTES_MAX` of the
/// chosen part's body. Blocking: call it on a helper thread.
pub(crate) fn fill_preview(summary: &mut MessageSummary, file: &File) -> std::io::Result<()> {
    if summary.preview.is_some() {
        return Ok(());
    }
    let mut source = Vec::new();
    if let Some(range) = preview_source(summary) {
        let length = usize::try_from(range.end - range.start).unwrap_or(0);
        source.resize(length, 0);
        let mut filled = 0;
        while filled < length {
            match file.read_at(&mut source[filled..], range.start + filled as u64) {
                Ok(0) => break,
                Ok(read) => filled += read,
                Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
                Err(error) => return Err(error),
            }
        }
        source.truncate(filled);
    }
    summary.preview = Some(preview_text(summary, &source));
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use moxide_protocols::mime::summarize;

    use super::*;

    #[test]
    fn a_file_read_in_pieces_is_summarized_as_a_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("message");
        let mut message =
            b"Subject: big\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n".to_vec();
        while message.len() < 3 * FILE_READ_BYTES {
            message.extend_from_slice(b"a line of text, long enough to cross the read buffer\r\n");
        }
        message.extend_from_slice(b"--b--\r\n");
        std::fs::write(&path, &message).unwrap();
        let file = File::open(&path).unwrap();
        assert_eq!(summarize_file(&file).unwrap(), summarize(&message));
        let stored = summarize(b"Subject: stored\r\n\r\n").encode();
        assert_eq!(summary_or_file(Some(&stored), &file).unwrap().envelope.subject.unwrap(), b"stored");
        assert_eq!(summary_or_file(Some(b"junk"), &file).unwrap(), summarize(&message));
    }

    /// The deriver the store calls: the file read in pieces gives the signature of the
    /// whole message; a file shorter than its summary says, or a summary that does not
    /// decode, gives none.
    #[test]
    fn text_signatures_from_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("message");
        let mut message = b"Subject: big\r\nContent-Type: text/plain; charset=iso-8859-1\r\n\r\n".to_vec();
        while message.len() < 3 * FILE_READ_BYTES {
            message.extend_from_slice(b"a line of caf\xe9 text, long enough to cross the read buffer\r\n");
        }
        std::fs::write(&path, &message).unwrap();
        let summary = summarize(&message);
        let expected = moxide_protocols::mime::signature_of(&message, &summary).unwrap();
        let encoded = summary.encode();
        let file = File::open(&path).unwrap();
        assert_eq!(text_signature_of_file(&encoded, &file), Some(expected));
        assert_eq!(text_signature_of_file(b"junk", &file), None);
        std::fs::write(&path, &message[..message.len() / 2]).unwrap();
        let short = File::open(&path).unwrap();
        assert_eq!(text_signature_of_file(&encoded, &short), None);
    }

    #[test]
    fn a_summary_stored_without_a_preview_gets_it_from_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("message");
        let message =
            b"Subject: old\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nOld =\r\nmail.\r\n";
        std::fs::write(&path, message).unwrap();
        let file = File::open(&path).unwrap();
        let mut old = summarize(message);
        let expected = old.preview.take();
        assert_eq!(expected.as_deref(), Some("Old mail."));
        fill_preview(&mut old, &file).unwrap();
        assert_eq!(old.preview, expected);
    }
}
