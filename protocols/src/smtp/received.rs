//! The `Received:` trace header (RFC 5321 §4.4) and RFC 5322 §3.3 dates.
//!
//! With TLS, the protocol name gets RFC 3848's `S` suffix and the TLS version and
//! cipher suite follow the `with` clause as a comment, as RFC 8314 §7 suggests:
//! `with ESMTPS (version=TLSv1.3 cipher=TLS13_AES_128_GCM_SHA256)`.
//!
//! Pure functions: the caller passes the time and the peer's details. Invariants of the
//! header produced: it is one header field ending in CRLF, folded (RFC 5322 §2.2.3) so
//! that lines stay within 78 characters where a clause allows it, and it contains no
//! CR, LF or control character from its inputs: names are reduced to domain characters,
//! so a hostile HELO name cannot inject header lines or comment syntax.

use std::fmt::Write as _;
use std::net::IpAddr;

use super::address::ForwardPath;
use super::limits::DOMAIN_BYTES_MAX;

/// Preferred header line length (RFC 5322 §2.1.1: SHOULD be at most 78 characters).
const HEADER_LINE_CHARS_MAX: usize = 78;

/// Longest TLS version or cipher suite name kept in the header. IANA cipher suite names
/// are under 50 characters; the bound only stops a broken caller from making the
/// comment unfoldable.
const TLS_NAME_CHARS_MAX: usize = 64;

/// What goes into a `Received:` header.
#[derive(Debug, Clone, Copy)]
pub struct ReceivedTrace<'a> {
    /// The HELO/EHLO name the client gave.
    pub helo_name: &'a str,
    /// The client's IP address.
    pub peer_ip: IpAddr,
    /// The client's verified reverse DNS name, if any.
    pub peer_host: Option<&'a str>,
    /// Our host name.
    pub by_host: &'a str,
    /// EHLO rather than HELO.
    pub esmtp: bool,
    /// The transaction used SMTPUTF8 (RFC 6531 §3.7.3 protocol names).
    pub smtputf8: bool,
    /// The session used TLS (RFC 3848 `S` suffix).
    pub tls: bool,
    /// The client authenticated (RFC 3848 `A` suffix).
    pub authenticated: bool,
    /// The TLS version, e.g. `TLSv1.3`; shown only when `tls` is set.
    pub tls_version: Option<&'a str>,
    /// The TLS cipher suite, e.g. `TLS13_AES_128_GCM_SHA256`; shown only when `tls` is set.
    pub tls_cipher: Option<&'a str>,
    /// Our id for the message or session (an Atom), if any.
    pub id: Option<&'a str>,
    /// The recipient, given only when there is exactly one (RFC 5321 §7.6: naming
    /// several would disclose Bcc recipients to each other).
    pub for_path: Option<&'a ForwardPath>,
    /// The time of receipt, seconds since the Unix epoch.
    pub unix_secs: i64,
}

/// Formats a complete `Received:` header field, CRLF included.
pub fn received_header(trace: &ReceivedTrace<'_>) -> String {
    let ip = match trace.peer_ip {
        IpAddr::V4(ip) => format!("[{ip}]"),
        IpAddr::V6(ip) => format!("[IPv6:{ip}]"),
    };
    // RFC 5321 §4.4: TCP-info = address-literal / ( Domain FWS address-literal ).
    let tcp_info = match trace.peer_host {
        Some(host) => format!("({} {ip})", domain_chars(host)),
        None => format!("({ip})"),
    };
    let mut clauses = vec![
        format!("from {} {tcp_info}", domain_chars(trace.helo_name)),
        format!("by {}", domain_chars(trace.by_host)),
        format!("with {}", protocol(trace)),
    ];
    if let Some(comment) = tls_comment(trace) {
        clauses.push(comment);
    }
    if let Some(id) = trace.id {
        clauses.push(format!("id {}", atom_chars(id)));
    }
    if let Some(path) = trace.for_path {
        clauses.push(format!("for <{path}>"));
    }
    if let Some(last) = clauses.last_mut() {
        last.push(';');
    }
    clauses.push(rfc5322_date(trace.unix_secs));
    fold("Received:", &clauses)
}

/// RFC 5321 §4.4 `Protocol`, with the RFC 3848 and RFC 6531 §3.7.3 variants.
fn protocol(trace: &ReceivedTrace<'_>) -> String {
    if !trace.esmtp {
        return "SMTP".to_owned();
    }
    let base = if trace.smtputf8 { "UTF8SMTP" } else { "ESMTP" };
    let tls = if trace.tls { "S" } else { "" };
    let auth = if trace.authenticated { "A" } else { "" };
    format!("{base}{tls}{auth}")
}

/// `(version=... cipher=...)` with what the caller knows, or `None` without TLS details.
fn tls_comment(trace: &ReceivedTrace<'_>) -> Option<String> {
    if !trace.tls {
        return None;
    }
    let parts: Vec<String> = [("version", trace.tls_version), ("cipher", trace.tls_cipher)]
        .into_iter()
        .filter_map(|(name, value)| value.map(|value| format!("{name}={}", tls_name_chars(value))))
        .collect();
    (!parts.is_empty()).then(|| format!("({})", parts.join(" ")))
}

/// Keeps the characters TLS version and IANA cipher suite names use, so that the
/// comment cannot be closed early, nested or broken into lines.
fn tls_name_chars(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .take(TLS_NAME_CHARS_MAX)
        .map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '?' })
        .collect();
    if cleaned.is_empty() { "unknown".to_owned() } else { cleaned }
}

/// Joins clauses with a space, folding before a clause that would pass the line limit.
fn fold(name: &str, clauses: &[String]) -> String {
    let mut header = String::from(name);
    let mut line_chars = name.chars().count();
    for clause in clauses {
        let clause_chars = clause.chars().count();
        if line_chars + 1 + clause_chars > HEADER_LINE_CHARS_MAX {
            header.push_str("\r\n\t");
            line_chars = 1 + clause_chars;
        } else {
            header.push(' ');
            line_chars += 1 + clause_chars;
        }
        header.push_str(clause);
    }
    header.push_str("\r\n");
    header
}

/// Keeps characters that may appear in a domain or address literal (UTF-8 included,
/// RFC 6532) and replaces anything else; cut to the domain limit.
fn domain_chars(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .take(DOMAIN_BYTES_MAX)
        .map(|c| if c.is_ascii_alphanumeric() || "-._:[]".contains(c) || !c.is_ascii() { c } else { '?' })
        .collect();
    if cleaned.is_empty() { "unknown".to_owned() } else { cleaned }
}

/// Keeps RFC 5322 atext characters; the id must be an Atom.
fn atom_chars(text: &str) -> String {
    text.chars()
        .take(DOMAIN_BYTES_MAX)
        .filter(|&c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c))
        .collect()
}

/// Formats `unix_secs` as an RFC 5322 §3.3 date-time in UTC, e.g.
/// `Thu, 01 Jan 1970 00:00:00 +0000`. Works for any `i64` without panicking; years
/// outside 0..=9999 have no RFC 5322 form and are printed as numbers anyway.
pub fn rfc5322_date(unix_secs: i64) -> String {
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = unix_secs.div_euclid(86_400);
    let secs_of_day = unix_secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    // 1970-01-01 was a Thursday.
    let weekday = usize::try_from((days.rem_euclid(7) + 4) % 7).unwrap_or(0);
    let month_index = usize::try_from(month - 1).unwrap_or(0);
    let mut date = String::with_capacity(31);
    let _ = write!(
        date,
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} +0000",
        DAYS[weekday % 7],
        day,
        MONTHS[month_index % 12],
        year,
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60,
    );
    date
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31) in the proleptic Gregorian
/// calendar. Counts in 400-year eras of 146097 days, with years starting on March 1 so
/// that the leap day falls at the end of the year.
pub(crate) fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097); // 0..=146096
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153; // 0 = March .. 11 = February
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 { month_from_march + 3 } else { month_from_march - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::smtp::address::Mailbox;

    #[test]
    fn dates_against_known_values() {
        // Values checked with `date -u -d @N`.
        let cases = [
            (0, "Thu, 01 Jan 1970 00:00:00 +0000"),
            (-1, "Wed, 31 Dec 1969 23:59:59 +0000"),
            (951_782_400, "Tue, 29 Feb 2000 00:00:00 +0000"), // 400-year leap
            (1_709_251_199, "Thu, 29 Feb 2024 23:59:59 +0000"), // ordinary leap
            (4_107_542_400, "Mon, 01 Mar 2100 00:00:00 +0000"), // 2100 is not leap
            (-2_203_891_200, "Thu, 01 Mar 1900 00:00:00 +0000"), // 1900 is not leap
            (1_795_305_599, "Sat, 21 Nov 2026 23:59:59 +0000"),
            (253_402_300_799, "Fri, 31 Dec 9999 23:59:59 +0000"),
        ];
        for (secs, want) in cases {
            assert_eq!(rfc5322_date(secs), want, "{secs}");
        }
    }

    #[test]
    fn every_day_roundtrips_month_lengths() {
        // Walk 800 years day by day: days advance by one, months by the calendar.
        let mut previous = civil_from_days(-200 * 365);
        for days in (-200 * 365 + 1)..(600 * 365) {
            let (year, month, day) = civil_from_days(days);
            if day == 1 {
                let (py, pm, pd) = previous;
                let leap = (py % 4 == 0 && py % 100 != 0) || py % 400 == 0;
                let length = match pm {
                    2 if leap => 29,
                    2 => 28,
                    4 | 6 | 9 | 11 => 30,
                    _ => 31,
                };
                assert_eq!(pd, length, "{py}-{pm}");
                assert_eq!((year, month), if pm == 12 { (py + 1, 1) } else { (py, pm + 1) });
            } else {
                assert_eq!((year, month, day), (previous.0, previous.1, previous.2 + 1));
            }
            previous = (year, month, day);
        }
    }

    #[test]
    fn extreme_times_do_not_panic() {
        for secs in [i64::MIN, i64::MIN + 1, i64::MAX, i64::MAX - 1] {
            assert!(rfc5322_date(secs).ends_with("+0000"));
        }
    }

    fn trace() -> ReceivedTrace<'static> {
        ReceivedTrace {
            helo_name: "client.example",
            peer_ip: "192.0.2.1".parse().unwrap(),
            peer_host: Some("host.client.example"),
            by_host: "mx.example",
            esmtp: true,
            smtputf8: false,
            tls: false,
            authenticated: false,
            tls_version: None,
            tls_cipher: None,
            id: Some("abc123"),
            for_path: None,
            unix_secs: 0,
        }
    }

    #[test]
    fn header_format_and_folding() {
        let header = received_header(&trace());
        assert_eq!(
            header,
            "Received: from client.example (host.client.example [192.0.2.1]) by mx.example\r\n\
             \twith ESMTP id abc123; Thu, 01 Jan 1970 00:00:00 +0000\r\n"
        );
        for line in header.split("\r\n") {
            assert!(line.chars().count() <= HEADER_LINE_CHARS_MAX, "{line}");
        }
    }

    #[test]
    fn header_with_recipient_ipv6_and_protocols() {
        let path = ForwardPath::Mailbox(Mailbox::parse("rcpt@mx.example").unwrap());
        let header = received_header(&ReceivedTrace {
            peer_ip: "2001:db8::1".parse().unwrap(),
            peer_host: None,
            tls: true,
            authenticated: true,
            smtputf8: true,
            id: None,
            for_path: Some(&path),
            ..trace()
        });
        assert_eq!(
            header,
            "Received: from client.example ([IPv6:2001:db8::1]) by mx.example\r\n\
             \twith UTF8SMTPSA for <rcpt@mx.example>; Thu, 01 Jan 1970 00:00:00 +0000\r\n"
        );
        let plain = received_header(&ReceivedTrace { esmtp: false, tls: true, ..trace() });
        assert!(plain.contains("with SMTP id"), "{plain}");
        let tls = received_header(&ReceivedTrace { tls: true, ..trace() });
        assert!(tls.contains("with ESMTPS id"), "{tls}");
    }

    #[test]
    fn tls_version_and_cipher_follow_the_with_clause() {
        let header = received_header(&ReceivedTrace {
            tls: true,
            authenticated: true,
            tls_version: Some("TLSv1.3"),
            tls_cipher: Some("TLS13_AES_128_GCM_SHA256"),
            ..trace()
        });
        assert_eq!(
            header,
            "Received: from client.example (host.client.example [192.0.2.1]) by mx.example\r\n\
             \twith ESMTPSA (version=TLSv1.3 cipher=TLS13_AES_128_GCM_SHA256) id abc123;\r\n\
             \tThu, 01 Jan 1970 00:00:00 +0000\r\n"
        );
        let only_version =
            received_header(&ReceivedTrace { tls: true, tls_version: Some("TLSv1.2"), ..trace() });
        assert!(only_version.contains("with ESMTPS (version=TLSv1.2) id abc123"), "{only_version}");
        // Without TLS the details are not shown, whatever the caller passed.
        let plain = received_header(&ReceivedTrace { tls_version: Some("TLSv1.3"), ..trace() });
        assert!(!plain.contains("version="), "{plain}");
        let no_details = received_header(&ReceivedTrace { tls: true, ..trace() });
        assert!(no_details.contains("with ESMTPS id abc123"), "{no_details}");
    }

    #[test]
    fn hostile_tls_names_cannot_inject() {
        let header = received_header(&ReceivedTrace {
            tls: true,
            tls_version: Some("TLS) (x\r\nX-Injected: 1"),
            tls_cipher: Some(""),
            ..trace()
        });
        assert_eq!(header.matches("\r\n").count(), header.matches("\r\n\t").count() + 1);
        assert!(header.contains("(version=TLS???x??X-Injected??1 cipher=unknown)"), "{header}");
        let long = "A".repeat(1000);
        let header = received_header(&ReceivedTrace { tls: true, tls_cipher: Some(&long), ..trace() });
        assert!(header.contains(&format!("cipher={})", "A".repeat(TLS_NAME_CHARS_MAX))), "{header}");
    }

    #[test]
    fn hostile_names_cannot_inject() {
        let header = received_header(&ReceivedTrace {
            helo_name: "evil\r\nX-Injected: 1 (comment",
            peer_host: Some(""),
            id: Some("a b;c"),
            ..trace()
        });
        // Every line break is a fold, except the final CRLF.
        assert_eq!(header.matches("\r\n").count(), header.matches("\r\n\t").count() + 1);
        assert!(header.contains("from evil??X-Injected:?1??comment (unknown"), "{header}");
        assert!(header.contains("id abc;"), "{header}");
    }
}
