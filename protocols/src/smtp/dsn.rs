//! Delivery status notifications (RFC 3464) as the outbound queue sends them: a
//! `multipart/report; report-type=delivery-status` message (RFC 6522) with a readable
//! explanation, the machine-readable `message/delivery-status` part, and the original
//! message's header as `text/rfc822-headers`. Sans-IO: the caller passes the date, the
//! Message-ID, the MIME boundary and the original header; nothing here reads a clock.
//!
//! DSNs go to the original MAIL FROM with the null reverse path (RFC 5321 §4.5.5), so a
//! DSN never causes another; the caller never makes one for a message from `<>`.
//! Invariants: every line ends in CRLF and is at most [`DSN_LINE_BYTES_MAX`] octets
//! (texts from remote servers are cut and cleaned of control characters, so they cannot
//! inject header fields or MIME boundaries); the original header is included only up to
//! [`DSN_HEADER_BYTES_MAX`].

use super::reply::{EnhancedCode, Reply};

/// Longest line written (RFC 5322 §2.1.1 allows 998 octets plus CRLF; 78 is advised,
/// but diagnostic texts are kept readable rather than folded).
pub const DSN_LINE_BYTES_MAX: usize = 998;

/// Most bytes of the original message's header quoted: 64 KiB, enough for any normal
/// header; the rest is cut at a line end.
pub const DSN_HEADER_BYTES_MAX: usize = 64 * 1024;

/// What the report says happened to its recipients (RFC 3464 §2.3.3 `Action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DsnAction {
    /// Delivery failed for good.
    Failed,
    /// Delivery is delayed; still being tried.
    Delayed,
}

/// One recipient in the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DsnRecipient {
    /// The recipient address as used in RCPT TO.
    pub address: String,
    /// ORCPT (RFC 3461 §4.2), if the submitter gave one.
    pub original: Option<String>,
    /// The last reply for it (from the remote server, or one standing for a local
    /// problem).
    pub reply: Reply,
    /// The server that gave the reply, if one was reached.
    pub remote_mta: Option<String>,
}

/// Everything a report needs.
#[derive(Debug, Clone)]
pub struct DsnReport<'a> {
    /// Our host name (Reporting-MTA, and the From address's domain).
    pub reporting_mta: &'a str,
    /// The original sender, to whom the report goes.
    pub to: &'a str,
    /// Failed or delayed.
    pub action: DsnAction,
    /// The recipients concerned.
    pub recipients: &'a [DsnRecipient],
    /// ENVID of the original transaction (RFC 3461 §4.4).
    pub envid: Option<&'a str>,
    /// When the original message arrived, in RFC 5322 date form.
    pub arrival_date: &'a str,
    /// Now, in RFC 5322 date form.
    pub date: &'a str,
    /// For a delay: until when delivery will be tried, RFC 5322 date form.
    pub retry_until: Option<&'a str>,
    /// The report's Message-ID, without `<>`.
    pub message_id: &'a str,
    /// The MIME boundary; must not occur in the content (the caller makes it random).
    pub boundary: &'a str,
    /// The original message's header section.
    pub original_header: &'a [u8],
}

/// Writes the report message (RFC 5322 header and body, CRLF line ends).
pub fn compose(report: &DsnReport<'_>) -> Vec<u8> {
    let mut out = String::new();
    let (subject, verb) = match report.action {
        DsnAction::Failed => ("Delivery failed", "could not be delivered"),
        DsnAction::Delayed => ("Delivery delayed", "has not been delivered yet"),
    };
    line(&mut out, &format!("From: Mail Delivery Subsystem <postmaster@{}>", clean(report.reporting_mta)));
    line(&mut out, &format!("To: <{}>", clean(report.to)));
    line(&mut out, &format!("Subject: {subject}: {}", recipient_list(report.recipients)));
    line(&mut out, &format!("Date: {}", clean(report.date)));
    line(&mut out, &format!("Message-ID: <{}>", clean(report.message_id)));
    // RFC 3834 §5: automatic replies must not be answered automatically.
    line(&mut out, "Auto-Submitted: auto-replied");
    line(&mut out, "MIME-Version: 1.0");
    line(
        &mut out,
        &format!(
            "Content-Type: multipart/report; report-type=delivery-status; boundary=\"{}\"",
            report.boundary
        ),
    );
    line(&mut out, "");
    line(&mut out, &format!("--{}", report.boundary));
    line(&mut out, "Content-Type: text/plain; charset=utf-8");
    line(&mut out, "");
    line(&mut out, &format!("Your message {verb} to these recipients:"));
    line(&mut out, "");
    for recipient in report.recipients {
        line(&mut out, &format!("  {}", clean(&recipient.address)));
        for text in reply_lines(&recipient.reply) {
            line(&mut out, &format!("    {text}"));
        }
    }
    if let Some(until) = report.retry_until {
        line(&mut out, "");
        line(&mut out, &format!("Delivery will be tried until {}.", clean(until)));
    }
    line(&mut out, "");
    line(&mut out, &format!("--{}", report.boundary));
    line(&mut out, "Content-Type: message/delivery-status");
    line(&mut out, "");
    status_fields(&mut out, report);
    line(&mut out, &format!("--{}", report.boundary));
    line(&mut out, "Content-Type: text/rfc822-headers");
    line(&mut out, "");
    let mut bytes = out.into_bytes();
    original_header(report.original_header, &mut bytes);
    bytes.extend_from_slice(format!("\r\n--{}--\r\n", report.boundary).as_bytes());
    bytes
}

/// RFC 3464 §2.2 per-message and §2.3 per-recipient fields.
fn status_fields(out: &mut String, report: &DsnReport<'_>) {
    line(out, &format!("Reporting-MTA: dns; {}", clean(report.reporting_mta)));
    if let Some(envid) = report.envid {
        line(out, &format!("Original-Envelope-Id: {}", clean(envid)));
    }
    line(out, &format!("Arrival-Date: {}", clean(report.arrival_date)));
    for recipient in report.recipients {
        line(out, "");
        if let Some(original) = &recipient.original {
            line(out, &format!("Original-Recipient: rfc822; {}", clean(original)));
        }
        line(out, &format!("Final-Recipient: rfc822; {}", clean(&recipient.address)));
        let action = match report.action {
            DsnAction::Failed => "failed",
            DsnAction::Delayed => "delayed",
        };
        line(out, &format!("Action: {action}"));
        line(out, &format!("Status: {}", status_code(report.action, &recipient.reply)));
        if let Some(mta) = &recipient.remote_mta {
            line(out, &format!("Remote-MTA: dns; {}", clean(mta)));
        }
        line(out, &format!("Diagnostic-Code: smtp; {}", diagnostic(&recipient.reply)));
        line(out, &format!("Last-Attempt-Date: {}", clean(report.date)));
        if let Some(until) = report.retry_until {
            line(out, &format!("Will-Retry-Until: {}", clean(until)));
        }
    }
    line(out, "");
}

/// RFC 3464 §2.3.4: the enhanced code of the reply; without one, the class of the
/// action with an unspecified detail (RFC 3463 §3.1 "other or undefined").
fn status_code(action: DsnAction, reply: &Reply) -> EnhancedCode {
    reply.enhanced.unwrap_or(match action {
        DsnAction::Failed => EnhancedCode(5, 0, 0),
        DsnAction::Delayed => EnhancedCode(4, 0, 0),
    })
}

fn reply_lines(reply: &Reply) -> Vec<String> {
    reply
        .text
        .split('\n')
        .map(|text| {
            let code = reply.enhanced.map(|e| format!("{e} ")).unwrap_or_default();
            format!("{} {code}{}", reply.code, clean(text))
        })
        .collect()
}

/// RFC 3464 §2.3.6: the reply as one line, e.g. `550 5.1.1 no such user`.
fn diagnostic(reply: &Reply) -> String {
    let code = reply.enhanced.map(|e| format!(" {e}")).unwrap_or_default();
    let texts: Vec<String> = reply.text.split('\n').map(|t| clean(t).trim().to_owned()).collect();
    format!("{}{code} {}", reply.code, texts.join(" "))
}

fn recipient_list(recipients: &[DsnRecipient]) -> String {
    let names: Vec<String> = recipients.iter().take(3).map(|r| clean(&r.address)).collect();
    let more = recipients.len().saturating_sub(3);
    if more > 0 { format!("{} and {more} more", names.join(", ")) } else { names.join(", ") }
}

/// Keeps a text on one line: control characters become spaces, length is bounded.
fn clean(text: &str) -> String {
    let cleaned: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    let mut end = cleaned.len().min(DSN_LINE_BYTES_MAX - 200);
    while !cleaned.is_char_boundary(end) {
        end -= 1;
    }
    cleaned[..end].to_owned()
}

fn line(out: &mut String, text: &str) {
    out.push_str(text);
    out.push_str("\r\n");
}

/// The original header up to its blank line and [`DSN_HEADER_BYTES_MAX`], cut at a line
/// end, with bare LF made CRLF and lines starting with `--` (a possible boundary) indented.
fn original_header(header: &[u8], out: &mut Vec<u8>) {
    let mut taken = 0;
    for raw in header.split_inclusive(|&b| b == b'\n') {
        let text = raw.strip_suffix(b"\n").unwrap_or(raw);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.is_empty() || taken + raw.len() > DSN_HEADER_BYTES_MAX || !raw.ends_with(b"\n") {
            break;
        }
        taken += raw.len();
        if text.starts_with(b"--") {
            out.push(b' ');
        }
        out.extend_from_slice(&text[..text.len().min(DSN_LINE_BYTES_MAX)]);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn report<'a>(recipients: &'a [DsnRecipient], header: &'a [u8]) -> DsnReport<'a> {
        DsnReport {
            reporting_mta: "mail.example",
            to: "alice@example",
            action: DsnAction::Failed,
            recipients,
            envid: Some("env1"),
            arrival_date: "Sun, 6 Dec 2026 10:00:00 +0000",
            date: "Sun, 6 Dec 2026 11:00:00 +0000",
            retry_until: None,
            message_id: "dsn1@mail.example",
            boundary: "b0undary",
            original_header: header,
        }
    }

    #[test]
    fn failure_report_has_the_three_parts() {
        let recipients = [DsnRecipient {
            address: "bob@remote.example".into(),
            original: Some("bob@remote.example".into()),
            reply: Reply::new(550, Some(EnhancedCode(5, 1, 1)), "no such user\r\nInjected: yes"),
            remote_mta: Some("mx.remote.example".into()),
        }];
        let message = compose(&report(&recipients, b"Subject: hi\r\n--b0undary\r\n\r\nbody"));
        let text = String::from_utf8(message).unwrap();
        assert!(text.contains(
            "Content-Type: multipart/report; report-type=delivery-status; boundary=\"b0undary\"\r\n"
        ));
        assert!(text.contains(
            "\r\nFinal-Recipient: rfc822; bob@remote.example\r\nAction: failed\r\nStatus: 5.1.1\r\n"
        ));
        assert!(text.contains("Diagnostic-Code: smtp; 550 5.1.1 no such user Injected: yes\r\n"));
        assert!(text.contains("Original-Envelope-Id: env1\r\n"));
        assert!(text.contains(
            "Content-Type: text/rfc822-headers\r\n\r\nSubject: hi\r\n --b0undary\r\n\r\n--b0undary--\r\n"
        ));
        assert!(!text.contains("\r\nInjected"), "reply text cannot start a header line");
        assert!(!text.contains("body"), "only the header is returned");
        assert!(text.split("\r\n").all(|l| !l.contains('\n') && l.len() <= DSN_LINE_BYTES_MAX));
    }

    #[test]
    fn delay_report_says_until_when() {
        let recipients = [DsnRecipient {
            address: "bob@remote.example".into(),
            original: None,
            reply: Reply::new(451, None, "try later"),
            remote_mta: None,
        }];
        let mut r = report(&recipients, b"Subject: hi\r\n\r\n");
        r.action = DsnAction::Delayed;
        r.retry_until = Some("Mon, 7 Dec 2026 03:00:00 +0000");
        let text = String::from_utf8(compose(&r)).unwrap();
        assert!(text.contains("Action: delayed\r\nStatus: 4.0.0\r\n"));
        assert!(text.contains("Will-Retry-Until: Mon, 7 Dec 2026 03:00:00 +0000\r\n"));
        assert!(text.starts_with("From: Mail Delivery Subsystem <postmaster@mail.example>\r\n"));
    }
}
