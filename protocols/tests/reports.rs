//! Report extraction from whole messages: a DMARC aggregate report gzip-compressed and
//! zipped (RFC 7489 §7.2.1.1), a TLS report as `application/tlsrpt+gzip` (RFC 8460 §5.3),
//! and a compression bomb that stops at the document limit.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;

use base64::Engine as _;
use flate2::Compression;
use flate2::write::{DeflateEncoder, GzEncoder};
use moxide_protocols::reports::{DOCUMENT_BYTES_MAX, ReportError, ReportKind, dmarc, extract, tlsrpt};

const XML: &str = r#"<?xml version="1.0"?><feedback><report_metadata><org_name>google.com</org_name>
<email>noreply-dmarc-support@google.com</email><report_id>123</report_id>
<date_range><begin>1700000000</begin><end>1700086399</end></date_range></report_metadata>
<policy_published><domain>example.org</domain><p>none</p></policy_published>
<record><row><source_ip>192.0.2.1</source_ip><count>2</count><policy_evaluated><disposition>none</disposition>
<dkim>pass</dkim><spf>pass</spf></policy_evaluated></row><identifiers><header_from>example.org</header_from></identifiers></record>
</feedback>"#;

const JSON: &str = r#"{"organization-name":"Company-X","report-id":"r1",
"date-range":{"start-datetime":"2016-04-01T00:00:00Z","end-datetime":"2016-04-01T23:59:59Z"},
"policies":[{"policy":{"policy-type":"sts","policy-domain":"example.org"},
"summary":{"total-successful-session-count":10,"total-failure-session-count":1}}]}"#;

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// A one-file zip archive (deflate), as reporters send.
fn zip(name: &str, bytes: &[u8]) -> Vec<u8> {
    let mut encoder = DeflateEncoder::new(Vec::new(), Compression::default());
    encoder.write_all(bytes).unwrap();
    let data = encoder.finish().unwrap();
    let crc = 0u32; // not checked by the reader
    let mut archive = Vec::new();
    let local = |archive: &mut Vec<u8>| {
        archive.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        archive.extend_from_slice(&[20, 0, 0, 0, 8, 0, 0, 0, 0, 0]);
        archive.extend_from_slice(&crc.to_le_bytes());
        archive.extend_from_slice(&(data.len() as u32).to_le_bytes());
        archive.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
        archive.extend_from_slice(&(name.len() as u16).to_le_bytes());
        archive.extend_from_slice(&0u16.to_le_bytes());
        archive.extend_from_slice(name.as_bytes());
    };
    local(&mut archive);
    archive.extend_from_slice(&data);
    let directory = archive.len() as u32;
    archive.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
    archive.extend_from_slice(&[20, 0, 20, 0, 0, 0, 8, 0, 0, 0, 0, 0]);
    archive.extend_from_slice(&crc.to_le_bytes());
    archive.extend_from_slice(&(data.len() as u32).to_le_bytes());
    archive.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    archive.extend_from_slice(&(name.len() as u16).to_le_bytes());
    archive.extend_from_slice(&[0; 12]);
    archive.extend_from_slice(&0u32.to_le_bytes()); // local header at offset 0
    archive.extend_from_slice(name.as_bytes());
    let directory_size = archive.len() as u32 - directory;
    archive.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    archive.extend_from_slice(&[0, 0, 0, 0, 1, 0, 1, 0]);
    archive.extend_from_slice(&directory_size.to_le_bytes());
    archive.extend_from_slice(&directory.to_le_bytes());
    archive.extend_from_slice(&0u16.to_le_bytes());
    archive
}

fn message(media: &str, name: &str, attachment: &[u8]) -> Vec<u8> {
    let encoded = base64::engine::general_purpose::STANDARD.encode(attachment);
    let lines: Vec<&str> = encoded.as_bytes().chunks(76).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!(
        "From: reports@receiver.example\r\nTo: dmarc@example.org\r\nSubject: Report\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nA report.\r\n\
         --b\r\nContent-Type: {media}; name=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n\
         Content-Disposition: attachment; filename=\"{name}\"\r\n\r\n{}\r\n--b--\r\n",
        lines.join("\r\n")
    )
    .into_bytes()
}

#[test]
fn dmarc_reports_gzip_and_zip() {
    for message in [
        message(
            "application/gzip",
            "receiver!example.org!1700000000!1700086399.xml.gz",
            &gzip(XML.as_bytes()),
        ),
        message(
            "application/zip",
            "receiver!example.org!1700000000!1700086399.zip",
            &zip("report.xml", XML.as_bytes()),
        ),
    ] {
        let documents = extract(&message).unwrap();
        assert_eq!(documents.len(), 1);
        assert_eq!(documents[0].kind, ReportKind::Dmarc);
        let report = dmarc::parse(&documents[0].bytes).unwrap();
        assert_eq!(
            (report.org_name.as_str(), report.domain.as_str(), report.messages()),
            ("google.com", "example.org", 2)
        );
    }
}

#[test]
fn tls_report_gzip() {
    let documents =
        extract(&message("application/tlsrpt+gzip", "report.json.gz", &gzip(JSON.as_bytes()))).unwrap();
    assert_eq!(documents[0].kind, ReportKind::TlsRpt);
    let report = tlsrpt::parse(&documents[0].bytes).unwrap();
    assert_eq!(report.policies[0].failed, 1);
}

#[test]
fn compression_bomb_stops_at_the_limit() {
    let zeros = vec![0u8; DOCUMENT_BYTES_MAX + 1024];
    let bomb = message("application/gzip", "bomb.xml.gz", &gzip(&zeros));
    assert!(bomb.len() < 200_000, "the bomb is small on the wire");
    assert_eq!(extract(&bomb), Err(ReportError::TooLarge));
    let junk = message("application/zip", "junk.zip", b"not a zip");
    assert!(matches!(extract(&junk), Err(ReportError::Compression(_))));
}
