//! The first file of a zip archive (PKWARE APPNOTE 4.3): what DMARC reporters that zip
//! send is one XML file, stored or deflated. The central directory gives the entry; its
//! local header gives where the data starts; the data is inflated within the document
//! limit. Encrypted entries, zip64 and other methods are refused.

use super::{ReportError, bounded};

const END_OF_CENTRAL_DIRECTORY: u32 = 0x0605_4b50;
const CENTRAL_DIRECTORY_ENTRY: u32 = 0x0201_4b50;
const LOCAL_FILE_HEADER: u32 = 0x0403_4b50;
/// End-of-central-directory record without comment.
const END_RECORD_BYTES: usize = 22;
/// A comment after it can be up to 65535 bytes.
const COMMENT_BYTES_MAX: usize = 65_535;

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes([*bytes.get(at)?, *bytes.get(at + 1)?]))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let slice = bytes.get(at..at + 4)?;
    Some(u32::from_le_bytes([slice[0], slice[1], slice[2], slice[3]]))
}

fn invalid(what: &str) -> ReportError {
    ReportError::Compression(format!("zip: {what}"))
}

/// The decompressed first file of `archive`.
pub(super) fn first_file(archive: &[u8]) -> Result<Vec<u8>, ReportError> {
    let lowest = archive.len().saturating_sub(END_RECORD_BYTES + COMMENT_BYTES_MAX);
    let end = (lowest..=archive.len().saturating_sub(END_RECORD_BYTES))
        .rev()
        .find(|&at| u32_at(archive, at) == Some(END_OF_CENTRAL_DIRECTORY))
        .ok_or_else(|| invalid("no end of central directory"))?;
    let directory = u32_at(archive, end + 16).ok_or_else(|| invalid("truncated"))? as usize;
    if u32_at(archive, directory) != Some(CENTRAL_DIRECTORY_ENTRY) {
        return Err(invalid("no central directory entry"));
    }
    let flags = u16_at(archive, directory + 8).ok_or_else(|| invalid("truncated"))?;
    let method = u16_at(archive, directory + 10).ok_or_else(|| invalid("truncated"))?;
    let compressed = u32_at(archive, directory + 20).ok_or_else(|| invalid("truncated"))? as usize;
    let local = u32_at(archive, directory + 42).ok_or_else(|| invalid("truncated"))? as usize;
    if flags & 1 != 0 {
        return Err(invalid("encrypted entry"));
    }
    if compressed == 0xffff_ffff || local == 0xffff_ffff {
        return Err(invalid("zip64 not supported"));
    }
    if u32_at(archive, local) != Some(LOCAL_FILE_HEADER) {
        return Err(invalid("no local file header"));
    }
    let name_length = u16_at(archive, local + 26).ok_or_else(|| invalid("truncated"))? as usize;
    let extra_length = u16_at(archive, local + 28).ok_or_else(|| invalid("truncated"))? as usize;
    let start = local + 30 + name_length + extra_length;
    let data = archive.get(start..start + compressed).ok_or_else(|| invalid("entry beyond the archive"))?;
    match method {
        0 => bounded(data),
        8 => bounded(flate2::read::DeflateDecoder::new(data)),
        other => Err(invalid(&format!("compression method {other}"))),
    }
}
