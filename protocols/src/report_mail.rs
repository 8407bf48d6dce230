//! The mail that carries a report we send (TLS reports, RFC 8460 §5.3; DMARC aggregate
//! reports, RFC 7489 §7.2.1.1): the header fields both name, a short text part and the
//! gzip'ed document as a base64 attachment. [`crate::tlsrpt`] and [`crate::dmarcrpt`]
//! say what differs (content types, subject, extra fields).

use std::io::Write as _;

/// What the mail carrying one report says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportMessage<'a> {
    /// `From:`: our reporting address, in the submitter domain (its DKIM keys sign).
    pub from: &'a str,
    /// `To:`: the `rua` address.
    pub to: &'a str,
    /// The policy domain the report is about.
    pub policy_domain: &'a str,
    /// Our domain (the file name's sender and `From:`'s domain).
    pub submitter: &'a str,
    /// The report's id (letters and digits), as in the document and the file name.
    pub report_id: &'a str,
    /// `Date:` (RFC 5322 date-time).
    pub date: &'a str,
    /// `Message-ID:` without the angle brackets.
    pub message_id: &'a str,
    /// The MIME boundary (letters, digits, `-`).
    pub boundary: &'a str,
    /// The attachment's file name.
    pub file_name: &'a str,
    /// The gzip'ed document.
    pub gzip: &'a [u8],
}

/// What a kind of report puts in its mail besides the shared fields.
pub(crate) struct Layout<'a> {
    /// The subject's `Report-ID:` value, angle brackets included.
    pub(crate) subject_report_id: &'a str,
    /// Header fields after `Message-ID:` (without line ends).
    pub(crate) extra_fields: &'a [String],
    /// The top-level content type, before `; boundary=`.
    pub(crate) multipart: &'a str,
    /// The text part's one line.
    pub(crate) text: &'a str,
    /// The attachment's content type.
    pub(crate) attachment_type: &'a str,
}

/// Base64 line length in the attachment: RFC 2045 §6.8 allows at most 76 characters.
const BASE64_LINE_CHARS_MAX: usize = 76;

/// Header values without control characters (no line breaks can be injected).
pub(crate) fn clean(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).collect()
}

/// The mail, CRLF line ends; the caller signs it with DKIM.
pub(crate) fn compose(message: &ReportMessage<'_>, layout: &Layout<'_>) -> Vec<u8> {
    use base64::Engine as _;
    let policy_domain = clean(message.policy_domain);
    let submitter = clean(message.submitter);
    let boundary = clean(message.boundary);
    let mut out = String::new();
    let mut line = |text: &str| {
        out.push_str(text);
        out.push_str("\r\n");
    };
    line(&format!("From: <{}>", clean(message.from)));
    line(&format!("To: <{}>", clean(message.to)));
    line(&format!(
        "Subject: Report Domain: {policy_domain} Submitter: {submitter} Report-ID: {}",
        clean(layout.subject_report_id)
    ));
    line(&format!("Date: {}", clean(message.date)));
    line(&format!("Message-ID: <{}>", clean(message.message_id)));
    for field in layout.extra_fields {
        line(&clean(field));
    }
    // RFC 3834 §5: generated automatically; no automatic answer wanted.
    line("Auto-Submitted: auto-generated");
    line("MIME-Version: 1.0");
    line(&format!("Content-Type: {}; boundary=\"{boundary}\"", layout.multipart));
    line("");
    line(&format!("--{boundary}"));
    line("Content-Type: text/plain; charset=us-ascii");
    line("");
    line(&clean(layout.text));
    line("");
    line(&format!("--{boundary}"));
    line(&format!("Content-Type: {}", layout.attachment_type));
    line("Content-Transfer-Encoding: base64");
    line(&format!("Content-Disposition: attachment; filename=\"{}\"", clean(message.file_name)));
    line("");
    let encoded = base64::engine::general_purpose::STANDARD.encode(message.gzip);
    for chunk in encoded.as_bytes().chunks(BASE64_LINE_CHARS_MAX) {
        // Base64 output is ASCII.
        line(std::str::from_utf8(chunk).unwrap_or_default());
    }
    line(&format!("--{boundary}--"));
    out.into_bytes()
}

/// `bytes` gzip'ed (writing to a Vec cannot fail).
pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(bytes).and_then(|()| encoder.finish()).unwrap_or_default()
}
