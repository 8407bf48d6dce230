//! The message corpus of the benchmarks: deterministic, realistic mail in RFC 5322 /
//! MIME (RFC 2045, RFC 2046) form, built in code so the benches need no fixture files.
//!
//! - [`text_message`]: a newsletter-style text/plain mail of an exact size, with the
//!   header a real one carries (Received chain, DKIM-Signature, list headers); its
//!   Subject varies with the message number so that header searches have a known hit
//!   rate ([`is_invoice`]), and some subjects are RFC 2047 encoded words;
//! - [`multipart_message`]: multipart/mixed holding multipart/alternative (text and
//!   HTML) and a base64 PDF attachment, the shape of most business mail with a file;
//! - [`dot_stuff`]: a message as it travels after SMTP DATA (RFC 5321 §4.5.2).
//!
//! Invariants: every line ends in CRLF and is at most 78 octets before it (RFC 5322
//! §2.1.1's recommendation, so no parser takes a long-line slow path); the same
//! arguments always give the same bytes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Size of the "typical text mail" of the benches: most person-to-person and
/// notification mail is 2-8 KiB with its header.
pub const TEXT_MESSAGE_BYTES: usize = 4 * 1024;

/// Size of the "mail with an attachment" of the benches.
pub const MULTIPART_MESSAGE_BYTES: usize = 200 * 1024;

/// Longest line we write, CRLF excluded (RFC 5322 §2.1.1 recommends 78).
pub const LINE_BYTES_MAX: usize = 78;

/// One message in 100 is an invoice: the hit rate of the header search benchmark.
pub const INVOICE_EVERY: u32 = 100;

/// Subject word of the invoice messages, the needle of the header search benchmark.
pub const INVOICE_WORD: &str = "invoice";

/// Body prose, cycled. Some lines start with a dot, as quoted text and ellipses do, so
/// DATA needs dot-stuffing; one is quoted-printable 8-bit text.
const PROSE: &[&str] = &[
    "Hello Alice,",
    "",
    "here is the summary of this week's builds and the issues still open.",
    "The nightly pipeline passed 412 of 415 jobs; the three failures were the",
    "flaky network tests on the arm64 runners, which we are moving to a new pool.",
    "...and the release branch is frozen from Thursday on.",
    "> Can we get the storage migration into this release?",
    ".gitignore changes are still waiting for review, see the tracker.",
    "Caf=C3=A9 meeting moved to 15:00 on Friday (room B2, second floor).",
    "Median build time went from 11m40s to 9m55s after the cache change.",
    "Open issues: 37 (-5), of which 4 are marked as blockers for 2.3.",
    ". (this line starts with a dot on purpose)",
    "Thanks to everybody who helped with the triage day last Tuesday!",
    "",
];

/// True when message `n` of the corpus has an invoice subject.
pub fn is_invoice(n: u32) -> bool {
    n.is_multiple_of(INVOICE_EVERY)
}

/// The Subject field value of message `n`: an invoice (see [`INVOICE_EVERY`]), an RFC
/// 2047 encoded German subject (every 7th), or a weekly report.
fn subject(n: u32) -> String {
    if is_invoice(n) {
        format!("Invoice {n} for October: payment due in 14 days")
    } else if n % 7 == 3 {
        format!("=?utf-8?q?Wochenbericht_{n}=3A_Zeiten_=C3=BCberarbeitet?=")
    } else {
        format!("Weekly report #{n}: build times and open issues")
    }
}

/// The header of message `n`, ending with the empty line, and `content` fields last.
fn header(n: u32, subject: &str, content: &str) -> String {
    let day = 1 + n % 28;
    let second = n % 60;
    format!(
        "Return-Path: <reports-bounces+{n}@lists.example.org>\r\n\
         Received: from mail-out.lists.example.org (mail-out.lists.example.org\r\n \
         [192.0.2.25]) by mx.example.com (moxide) with ESMTPS id {n:08x}\r\n \
         for <alice@example.com>; Tue, {day} Oct 2025 09:12:{second:02} +0000\r\n\
         Received: from app03.internal.example.org (app03.internal.example.org\r\n \
         [10.1.2.3]) by mail-out.lists.example.org (Postfix) with ESMTP id\r\n \
         8C1F{n:06X}; Tue, {day} Oct 2025 09:12:{second:02} +0000 (UTC)\r\n\
         DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=lists.example.org;\r\n \
         s=sel2025; t=1760433163; h=from:to:cc:subject:date:message-id:\r\n \
         mime-version:content-type; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n \
         b=kfI1Pq9wL7yYxNvRRfFh3zM0oJ2pHc8vT4sXe6GdQb5aUiWmK1nCjYtRrLoSgEhBfDpVqAwZ\r\n \
         xM3cN8bT2vH6kJ9gF1dS5aQ7wE4rY0uI3oP6lK8jH2gF5dS9aZ1xC4vB7nM0qW3eR6tY9u\r\n\
         From: \"Team Reports\" <reports@lists.example.org>\r\n\
         To: Alice Example <alice@example.com>\r\n\
         Cc: \"Bob B.\" <bob@example.com>, carol@example.net\r\n\
         Subject: {subject}\r\n\
         Date: Tue, {day} Oct 2025 09:12:{second:02} +0000\r\n\
         Message-ID: <{n}.20251014091243.reports@lists.example.org>\r\n\
         List-Id: Reports <reports.lists.example.org>\r\n\
         List-Unsubscribe: <mailto:unsubscribe@lists.example.org?subject=unsubscribe>\r\n\
         MIME-Version: 1.0\r\n\
         {content}\
         \r\n"
    )
}

/// Appends prose lines to `out` until it is exactly `size` bytes long; the last line is
/// cut (at least 4 characters remain) so the size is exact.
fn fill_prose(out: &mut Vec<u8>, size: usize) {
    // A prose line is at most 76 bytes with its CRLF; stopping 80 short of the end leaves
    // 6..80 bytes, one last line of 4..78 characters.
    const MARGIN_BYTES: usize = 80;
    let mut lines = PROSE.iter().cycle();
    while out.len() + MARGIN_BYTES <= size {
        if let Some(line) = lines.next() {
            out.extend_from_slice(line.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }
    let rest = size.saturating_sub(out.len());
    if rest >= 2 {
        out.extend(std::iter::repeat_n(b'-', rest - 2));
        out.extend_from_slice(b"\r\n");
    }
}

/// Message `n` of the corpus: text/plain, quoted-printable, exactly `size` bytes when
/// `size` is above the header's ~1.4 KiB (else just the header).
pub fn text_message(n: u32, size: usize) -> Vec<u8> {
    let content = "Content-Type: text/plain; charset=\"utf-8\"; format=flowed\r\n\
                   Content-Transfer-Encoding: quoted-printable\r\n";
    let mut message = header(n, &subject(n), content).into_bytes();
    fill_prose(&mut message, size);
    message
}

/// A 200 KiB ([`MULTIPART_MESSAGE_BYTES`], within one base64 line) multipart/mixed
/// message: multipart/alternative with text/plain and text/html, then an
/// application/pdf attachment in base64 (RFC 2045 §6.8, 76-character lines).
pub fn multipart_message() -> Vec<u8> {
    let content = "Content-Type: multipart/mixed; boundary=\"=_mixed_7d1c\"\r\n";
    let mut message = header(42, "Q3 contract draft (signed PDF attached)", content).into_bytes();
    message.extend_from_slice(
        b"This is a multi-part message in MIME format.\r\n\
          \r\n--=_mixed_7d1c\r\n\
          Content-Type: multipart/alternative; boundary=\"=_alt_42b9\"\r\n\
          \r\n--=_alt_42b9\r\n\
          Content-Type: text/plain; charset=utf-8\r\n\
          Content-Transfer-Encoding: quoted-printable\r\n\r\n",
    );
    let text_end = message.len() + 2 * 1024;
    fill_prose(&mut message, text_end);
    message.extend_from_slice(
        b"\r\n--=_alt_42b9\r\n\
          Content-Type: text/html; charset=utf-8\r\n\
          Content-Transfer-Encoding: quoted-printable\r\n\r\n\
          <html><head><meta charset=3D\"utf-8\"></head><body>\r\n",
    );
    for line in PROSE.iter().cycle().take(60) {
        message.extend_from_slice(format!("<p>\r\n{line}\r\n</p>\r\n").as_bytes());
    }
    message.extend_from_slice(b"</body></html>\r\n--=_alt_42b9--\r\n");
    message.extend_from_slice(
        b"\r\n--=_mixed_7d1c\r\n\
          Content-Type: application/pdf; name=\"contract-q3.pdf\"\r\n\
          Content-Disposition: attachment; filename=\"contract-q3.pdf\"\r\n\
          Content-Transfer-Encoding: base64\r\n\r\n",
    );
    let closing: &[u8] = b"\r\n--=_mixed_7d1c--\r\n";
    // 57 octets encode to one 76-character line, 78 bytes with CRLF.
    let lines = MULTIPART_MESSAGE_BYTES.saturating_sub(message.len() + closing.len()) / 78;
    let pdf = pseudo_random_bytes(lines * 57);
    for chunk in pdf.chunks(57) {
        message.extend_from_slice(STANDARD.encode(chunk).as_bytes());
        message.extend_from_slice(b"\r\n");
    }
    // The last attachment line's CRLF belongs to the boundary (RFC 2046 §5.1.1).
    message.truncate(message.len() - 2);
    message.extend_from_slice(closing);
    message
}

/// `count` bytes of a xorshift sequence: incompressible-looking attachment content.
fn pseudo_random_bytes(count: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut bytes = Vec::with_capacity(count + 8);
    while bytes.len() < count {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.extend_from_slice(&state.to_le_bytes());
    }
    bytes.truncate(count);
    bytes
}

/// `message` as sent after DATA (RFC 5321 §4.5.2), by the protocol crate's client half.
pub fn dot_stuff(message: &[u8]) -> Vec<u8> {
    let mut wire = Vec::with_capacity(message.len() + message.len() / 64 + 5);
    moxide_protocols::smtp::dot_stuff(message, &mut wire);
    wire
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn lines(message: &[u8]) -> impl Iterator<Item = &[u8]> {
        message.split_inclusive(|&b| b == b'\n')
    }

    #[test]
    fn text_messages_have_the_exact_size_and_short_crlf_lines() {
        for n in [0, 1, 3, 99, 100, 9_999] {
            for size in [TEXT_MESSAGE_BYTES, 10 * 1024, 100 * 1024] {
                let message = text_message(n, size);
                assert_eq!(message.len(), size, "message {n} of {size}");
                for line in lines(&message) {
                    assert!(line.ends_with(b"\r\n"), "{:?}", String::from_utf8_lossy(line));
                    assert!(line.len() - 2 <= LINE_BYTES_MAX, "{:?}", String::from_utf8_lossy(line));
                }
            }
        }
    }

    #[test]
    fn subjects_follow_the_invoice_rate() {
        let invoices = (0..10_000).filter(|&n| is_invoice(n)).count();
        assert_eq!(invoices, 100);
        let message = text_message(300, TEXT_MESSAGE_BYTES);
        let text = String::from_utf8(message).unwrap();
        assert!(text.contains("\r\nSubject: Invoice 300 for October"));
        let encoded = String::from_utf8(text_message(3, TEXT_MESSAGE_BYTES)).unwrap();
        assert!(encoded.contains("\r\nSubject: =?utf-8?q?Wochenbericht"));
    }

    #[test]
    fn multipart_message_is_about_200_kib_with_short_lines() {
        let message = multipart_message();
        assert!(message.len() <= MULTIPART_MESSAGE_BYTES);
        assert!(message.len() + 100 > MULTIPART_MESSAGE_BYTES, "{}", message.len());
        for line in lines(&message) {
            assert!(line.len() - 2 <= LINE_BYTES_MAX, "{:?}", String::from_utf8_lossy(line));
        }
        assert!(message.ends_with(b"\r\n--=_mixed_7d1c--\r\n"));
    }

    #[test]
    fn dot_stuffing_doubles_leading_dots_only() {
        let wire = dot_stuff(b"a.b\r\n.x\r\n..\r\n");
        assert_eq!(wire, b"a.b\r\n..x\r\n...\r\n.\r\n");
        let message = text_message(1, 100 * 1024);
        let stuffed = dot_stuff(&message);
        let dotted = lines(&message).filter(|line| line.starts_with(b".")).count();
        assert!(dotted > 100, "the corpus needs dot-stuffing: {dotted} lines");
        assert_eq!(stuffed.len(), message.len() + dotted + 3);
    }
}
