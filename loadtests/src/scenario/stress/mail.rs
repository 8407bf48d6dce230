//! Messages the `stress` scenario appends: shaped like real mail (RFC 5322 headers with
//! display names, several recipients, encoded words per RFC 2047, replies; MIME bodies
//! per RFC 2045 and RFC 2046: plain text, multipart/alternative with HTML,
//! multipart/mixed with a base64 attachment, a forwarded message/rfc822), so FETCH of
//! ENVELOPE, BODYSTRUCTURE and body parts has real structure to parse. Each carries the
//! run's `Message-ID: <load-RUNID-N@moxide-load>`.

use crate::message::{Rng, RunId, rfc5322_now};

/// Largest attachment generated: keeps appended messages in the few-KiB to tens-of-KiB
/// range of everyday mail, so the run stresses protocol state rather than bandwidth.
pub(crate) const ATTACHMENT_BYTES_MAX: u64 = 24 * 1024;

const NAMES: [(&str, &str); 8] = [
    ("Alice Example", "alice@example.org"),
    ("Bob Müller", "bob@example.net"),
    ("Carol O'Neil", "carol@example.com"),
    ("Dave", "dave@example.org"),
    ("Erin \"the admin\" Smith", "erin@example.net"),
    ("Frank", "frank@example.com"),
    ("Grace Hopper", "grace@example.org"),
    ("Heidi", "heidi@example.net"),
];

const SUBJECTS: [&str; 8] = [
    "Quarterly report",
    "Lunch on Friday?",
    "Re: build is broken again",
    "Invoice 2024-117",
    "Grüße aus Köln",
    "Meeting notes (draft)",
    "Fwd: travel plans",
    "[list] weekly digest",
];

const SENTENCES: [&str; 8] = [
    "Thanks for the quick reply, see the details below.",
    "I have attached the document we talked about yesterday.",
    "Could you check whether the numbers in the second table add up?",
    "The server was restarted at noon and everything looks fine since.",
    "Let me know if Tuesday works for you, otherwise Thursday.",
    "Please find the summary of the discussion in this message.",
    "We should move the deadline by a week to be safe.",
    "Nothing urgent, just keeping you in the loop.",
];

/// A header value for `text`: as is when ASCII, else an RFC 2047 `Q` encoded word.
fn header_text(text: &str) -> String {
    if text.is_ascii() {
        return text.to_string();
    }
    let mut out = String::from("=?UTF-8?Q?");
    for byte in text.bytes() {
        match byte {
            b' ' => out.push('_'),
            // The characters RFC 2047 §5 allows in an encoded word within a phrase.
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'!' | b'*' | b'+' | b'-' | b'/' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("={byte:02X}")),
        }
    }
    out.push_str("?=");
    out
}

/// A mailbox (RFC 5322 §3.4) with a display name, quoted when it needs to be.
fn mailbox(index: usize) -> String {
    let (name, address) = NAMES[index % NAMES.len()];
    if !name.is_ascii() {
        return format!("{} <{address}>", header_text(name));
    }
    if name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ') {
        return format!("{name} <{address}>");
    }
    format!("\"{}\" <{address}>", name.replace('\\', "\\\\").replace('"', "\\\""))
}

fn body_text(rng: &mut Rng, sentences: u64) -> String {
    let mut out = String::new();
    for i in 0..sentences {
        out.push_str(SENTENCES[rng.below(SENTENCES.len() as u64) as usize]);
        out.push_str(if i % 3 == 2 { "\r\n\r\n" } else { "\r\n" });
    }
    out
}

fn headers(run: &RunId, n: u64, rng: &mut Rng, extra: &str) -> String {
    let from = mailbox(rng.below(8) as usize);
    let to: Vec<String> = (0..1 + rng.below(3)).map(|_| mailbox(rng.below(8) as usize)).collect();
    let subject = header_text(SUBJECTS[rng.below(SUBJECTS.len() as u64) as usize]);
    let mut out = format!(
        "From: {from}\r\nTo: {}\r\nSubject: {subject}\r\nDate: {}\r\nMessage-ID: {}\r\n",
        to.join(",\r\n "),
        rfc5322_now(),
        run.message_id(n)
    );
    if rng.below(3) == 0 {
        out.push_str(&format!("Cc: {}\r\n", mailbox(rng.below(8) as usize)));
    }
    if rng.below(3) == 0 {
        out.push_str(&format!("In-Reply-To: <thread-{}@example.org>\r\n", rng.below(50)));
    }
    out.push_str("MIME-Version: 1.0\r\n");
    out.push_str(extra);
    out
}

/// Base64 (RFC 2045 §6.8) in lines of 76 characters.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + bytes.len() / 38 + 4);
    let mut line = 0;
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
        line += 4;
        if line == 76 {
            out.push_str("\r\n");
            line = 0;
        }
    }
    if line > 0 {
        out.push_str("\r\n");
    }
    out
}

/// Message `n` of `run`, of a randomly chosen shape.
pub(crate) fn generate(run: &RunId, n: u64, rng: &mut Rng) -> Vec<u8> {
    let boundary = format!("=_b{n}_{}", rng.next_u64() % 1_000_000);
    let sentences = 2 + rng.below(12);
    let text = body_text(rng, sentences);
    let message = match rng.below(4) {
        0 => {
            let head = headers(run, n, rng, "Content-Type: text/plain; charset=utf-8\r\n");
            format!("{head}\r\n{text}")
        }
        1 => {
            let content = format!("Content-Type: multipart/alternative; boundary=\"{boundary}\"\r\n");
            let head = headers(run, n, rng, &content);
            let html = text.replace("\r\n\r\n", "</p><p>").replace("\r\n", "<br>\r\n");
            format!(
                "{head}\r\nThis is a MIME message.\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n\
                 {text}\r\n--{boundary}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>{html}</p></body></html>\r\n\
                 --{boundary}--\r\n"
            )
        }
        2 => {
            let content = format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n");
            let head = headers(run, n, rng, &content);
            let size = 512 + rng.below(ATTACHMENT_BYTES_MAX - 512);
            let data: Vec<u8> = (0..size).map(|_| rng.next_u64() as u8).collect();
            format!(
                "{head}\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text}\r\n\
                 --{boundary}\r\nContent-Type: application/pdf; name=\"report-{n}.pdf\"\r\n\
                 Content-Disposition: attachment; filename=\"report-{n}.pdf\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n{}--{boundary}--\r\n",
                base64(&data)
            )
        }
        _ => {
            let content = format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n");
            let head = headers(run, n, rng, &content);
            let inner_head =
                headers(run, n + (1 << 40), rng, "Content-Type: text/plain; charset=us-ascii\r\n");
            let inner_text = body_text(rng, 3);
            format!(
                "{head}\r\n--{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nForwarded below.\r\n\
                 --{boundary}\r\nContent-Type: message/rfc822\r\n\r\n{inner_head}\r\n{inner_text}\r\n\
                 --{boundary}--\r\n"
            )
        }
    };
    message.into_bytes()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn every_shape_is_crlf_ascii_mail_with_our_id() {
        let run = RunId("r1".into());
        let mut rng = Rng::new(5);
        let mut shapes = std::collections::BTreeSet::new();
        for n in 0..64 {
            let message = String::from_utf8(generate(&run, n, &mut rng)).unwrap();
            assert!(message.is_ascii(), "{message}");
            assert!(!message.replace("\r\n", "").contains(['\r', '\n']));
            assert!(message.split("\r\n").all(|line| line.len() <= 998));
            assert!(message.contains(&format!("Message-ID: {}\r\n", run.message_id(n))));
            let (head, _) = message.split_once("\r\n\r\n").unwrap();
            let shape = ["message/rfc822", "application/pdf", "multipart/alternative", "text/plain"]
                .into_iter()
                .find(|s| message.contains(s))
                .unwrap();
            shapes.insert(shape);
            assert!(head.contains("MIME-Version: 1.0"));
        }
        assert_eq!(shapes.len(), 4, "{shapes:?}");
    }

    #[test]
    fn encodings() {
        assert_eq!(base64(b"Man"), "TWFu\r\n");
        assert_eq!(base64(b"Ma"), "TWE=\r\n");
        assert_eq!(base64(b"M"), "TQ==\r\n");
        assert_eq!(base64(&[0u8; 57]).lines().next().unwrap().len(), 76);
        assert_eq!(header_text("Grüße"), "=?UTF-8?Q?Gr=C3=BC=C3=9Fe?=");
        assert_eq!(mailbox(4), "\"Erin \\\"the admin\\\" Smith\" <erin@example.net>");
        assert_eq!(mailbox(1), "=?UTF-8?Q?Bob_M=C3=BCller?= <bob@example.net>");
    }
}
