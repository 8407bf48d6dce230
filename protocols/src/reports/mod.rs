//! Reports that other mail systems send to our report addresses, parsed so they can be
//! stored and shown: DMARC aggregate reports (RFC 7489 §7.2, Appendix C: XML, usually
//! gzip- or zip-compressed) and SMTP TLS reports (RFC 8460 §4: JSON, usually gzip).
//!
//! - [`extract`] finds the report documents in a message (MIME parts by media type or
//!   file name, transfer encoding removed by mail-parser), decompressed within
//!   [`DOCUMENT_BYTES_MAX`] (a compressed "bomb" stops there);
//! - [`dmarc`] and [`tlsrpt`] read a document into a summary.

pub mod dmarc;
pub mod tlsrpt;
mod zip;

use std::io::Read;

use mail_parser::{MessageParser, MimeHeaders};

/// Largest decompressed report document, in octets. A busy domain's daily DMARC report
/// from a large provider is a few MiB of XML; 32 MiB leaves room and stops a compression
/// bomb (gzip reaches 1000:1) long before it costs real memory.
pub const DOCUMENT_BYTES_MAX: usize = 32 * 1024 * 1024;

/// Most report documents taken from one message: providers send one; a few more covers
/// a bundle without letting one message make us parse hundreds.
pub const DOCUMENTS_MAX: usize = 8;

/// What a document holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportKind {
    /// DMARC aggregate report (XML).
    Dmarc,
    /// SMTP TLS report (JSON).
    TlsRpt,
}

/// A decompressed report document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// Its kind, from the media type or file name.
    pub kind: ReportKind,
    /// The XML or JSON.
    pub bytes: Vec<u8>,
}

/// Why a message or document gave no report.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReportError {
    /// The message is not MIME we can read.
    #[error("message does not parse")]
    Message,
    /// Decompressed, the document passes [`DOCUMENT_BYTES_MAX`].
    #[error("report larger than {DOCUMENT_BYTES_MAX} bytes")]
    TooLarge,
    /// Compressed data or a zip archive that does not decode.
    #[error("compressed report does not decode: {0}")]
    Compression(String),
    /// The XML or JSON is not a report.
    #[error("invalid report: {0}")]
    Invalid(String),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Packing {
    Plain,
    Gzip,
    Zip,
}

/// The report documents in a message.
pub fn extract(message: &[u8]) -> Result<Vec<Document>, ReportError> {
    let parsed = MessageParser::default().parse(message).ok_or(ReportError::Message)?;
    let mut documents = Vec::new();
    for part in &parsed.parts {
        if documents.len() >= DOCUMENTS_MAX {
            break;
        }
        let Some((kind, packing)) = classify(part) else { continue };
        let contents = part.contents();
        let bytes = match packing {
            Packing::Plain if contents.len() > DOCUMENT_BYTES_MAX => return Err(ReportError::TooLarge),
            Packing::Plain => contents.to_vec(),
            Packing::Gzip => bounded(flate2::read::GzDecoder::new(contents))?,
            Packing::Zip => zip::first_file(contents)?,
        };
        documents.push(Document { kind, bytes });
    }
    Ok(documents)
}

/// Decides from the media type (RFC 7489 §7.2.1.1, RFC 8460 §5.3) and, as senders vary,
/// the file name.
fn classify(part: &mail_parser::MessagePart<'_>) -> Option<(ReportKind, Packing)> {
    let media = part
        .content_type()
        .map(|t| format!("{}/{}", t.ctype(), t.subtype().unwrap_or("")).to_ascii_lowercase())
        .unwrap_or_default();
    let name = part.attachment_name().unwrap_or("").to_ascii_lowercase();
    let packing = if media.contains("gzip") || name.ends_with(".gz") {
        Packing::Gzip
    } else if media.contains("zip") || name.ends_with(".zip") {
        Packing::Zip
    } else if media.ends_with("/xml")
        || media.ends_with("+json")
        || name.ends_with(".xml")
        || name.ends_with(".json")
    {
        Packing::Plain
    } else {
        return None;
    };
    let tlsrpt =
        media.starts_with("application/tlsrpt") || name.ends_with(".json") || name.ends_with(".json.gz");
    Some((if tlsrpt { ReportKind::TlsRpt } else { ReportKind::Dmarc }, packing))
}

/// Reads a decoder to the end, refusing more than [`DOCUMENT_BYTES_MAX`].
fn bounded(reader: impl Read) -> Result<Vec<u8>, ReportError> {
    let mut bytes = Vec::new();
    reader
        .take(DOCUMENT_BYTES_MAX as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| ReportError::Compression(error.to_string()))?;
    if bytes.len() > DOCUMENT_BYTES_MAX {
        return Err(ReportError::TooLarge);
    }
    Ok(bytes)
}
