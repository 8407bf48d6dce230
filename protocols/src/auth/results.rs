//! The Authentication-Results header field (RFC 8601): written for every incoming message
//! with our host name as authserv-id, and recognized on incoming messages so fields that
//! claim our authserv-id can be removed (RFC 8601 §5: a forged one would be believed by
//! our own users' clients).

use std::fmt::Write as _;
use std::net::IpAddr;

use super::arc::ArcOutcome;
use super::dkim::DkimResult;
use super::dmarc::{DmarcOutcome, DmarcResult};
use super::iprev::IprevOutcome;
use super::spf::{Identity, SpfVerdict};

/// Longest line we write before folding (RFC 5322 §2.1.1 recommends 78 characters).
const LINE_CHARS_MAX: usize = 78;

/// Everything the header reports.
#[derive(Debug, Clone)]
pub struct AuthResults<'a> {
    /// Our host name (the authserv-id).
    pub authserv_id: &'a str,
    /// The client's address (for iprev's `policy.iprev`).
    pub client_ip: IpAddr,
    /// iprev, when checked.
    pub iprev: Option<&'a IprevOutcome>,
    /// SPF, when checked.
    pub spf: Option<&'a SpfVerdict>,
    /// One result per DKIM signature; empty writes `dkim=none`.
    pub dkim: &'a [DkimResult],
    /// DMARC, when checked.
    pub dmarc: Option<&'a DmarcOutcome>,
    /// ARC, when checked.
    pub arc: Option<&'a ArcOutcome>,
}

/// A value as RFC 8601 §2.2 allows it: a MIME token (RFC 2045 §5.1) as is, anything else
/// as a quoted-string.
pub fn value(text: &str) -> String {
    let token =
        !text.is_empty() && text.bytes().all(|b| b.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?=".contains(&b));
    if token { text.to_string() } else { quoted(text) }
}

/// A property value that may be `local-part@domain` (RFC 8601 §2.2 `pvalue`): an address
/// whose local part is a dot-atom is written as is.
fn address_value(text: &str) -> String {
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    match text.rsplit_once('@') {
        Some((local, domain))
            if (local.is_empty() || local.split('.').all(|p| !p.is_empty() && p.chars().all(atext)))
                && !domain.is_empty()
                && domain.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') =>
        {
            text.to_string()
        }
        _ => value(text),
    }
}

fn quoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars().filter(|c| !c.is_control()).take(200) {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Comment text: no parentheses, backslashes or control characters.
fn comment(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() || matches!(c, '(' | ')' | '\\') { ' ' } else { c })
        .take(200)
        .collect()
}

/// The header field, folded, ending in CRLF.
pub fn authentication_results(results: &AuthResults<'_>) -> String {
    let mut methods: Vec<String> = Vec::new();
    if let Some(iprev) = results.iprev {
        let mut text =
            format!("iprev={} policy.iprev={}", iprev.result.as_str(), value(&results.client_ip.to_string()));
        if let Some(name) = &iprev.name {
            let _ = write!(text, " ({})", comment(name.as_str()));
        }
        methods.push(text);
    }
    if let Some(spf) = results.spf {
        methods.push(spf_method(spf));
    }
    if results.dkim.is_empty() {
        methods.push("dkim=none".to_string());
    }
    methods.extend(results.dkim.iter().map(dkim_method));
    if let Some(dmarc) = results.dmarc {
        methods.push(dmarc_method(dmarc));
    }
    if let Some(arc) = results.arc {
        let mut text = format!("arc={}", arc.result.as_str());
        if let Some(reason) = &arc.reason {
            let _ = write!(text, " ({})", comment(reason));
        } else if arc.instance > 0 {
            let _ = write!(text, " (i={})", arc.instance);
        }
        methods.push(text);
    }
    fold(results.authserv_id, &methods)
}

fn spf_method(spf: &SpfVerdict) -> String {
    let mut text = format!("spf={}", spf.outcome.result.as_str());
    if let Some(problem) = &spf.outcome.problem {
        let _ = write!(text, " reason={}", quoted(problem));
    }
    match spf.identity {
        Identity::MailFrom => {
            let _ = write!(text, " smtp.mailfrom={}", address_value(&spf.sender));
        }
        Identity::Helo => {
            let _ = write!(text, " smtp.helo={}", value(&spf.domain));
        }
    }
    text
}

fn dkim_method(dkim: &DkimResult) -> String {
    let mut text = format!("dkim={}", dkim.status.as_str());
    if dkim.testing {
        text.push_str(" (test mode)");
    }
    if let Some(reason) = &dkim.reason {
        let _ = write!(text, " reason={}", quoted(reason));
    }
    if let Some(domain) = &dkim.domain {
        let _ = write!(text, " header.d={}", value(domain.as_str()));
    }
    if let Some(identity) = &dkim.identity {
        let _ = write!(text, " header.i={}", address_value(identity));
    }
    if let Some(selector) = &dkim.selector {
        let _ = write!(text, " header.s={}", value(selector));
    }
    if let Some(algorithm) = dkim.algorithm {
        let _ = write!(text, " header.a={}", algorithm.as_str());
    }
    if let Some(prefix) = &dkim.signature_prefix {
        let _ = write!(text, " header.b={}", value(prefix));
    }
    text
}

fn dmarc_method(dmarc: &DmarcOutcome) -> String {
    let mut text = format!("dmarc={}", dmarc.result.as_str());
    if dmarc.result == DmarcResult::Fail
        && let Some(requested) = dmarc.requested
    {
        let _ = write!(text, " (p={} dis={})", requested.as_str(), dmarc.disposition.as_str());
    }
    if let Some(reason) = &dmarc.reason {
        let _ = write!(text, " reason={}", quoted(reason));
    }
    if let Some(domain) = &dmarc.from_domain {
        let _ = write!(text, " header.from={}", value(domain.as_str()));
    }
    text
}

/// `Authentication-Results: id;` then each method on its own line, long ones folded at
/// spaces.
fn fold(authserv_id: &str, methods: &[String]) -> String {
    let mut header = format!("Authentication-Results: {}", value(authserv_id));
    if methods.is_empty() {
        header.push_str("; none\r\n");
        return header;
    }
    header.push(';');
    for (index, method) in methods.iter().enumerate() {
        header.push_str("\r\n\t");
        let mut line = 1;
        for (word_index, word) in words(method).enumerate() {
            if word_index > 0 {
                if line + 1 + word.len() > LINE_CHARS_MAX {
                    header.push_str("\r\n\t");
                    line = 1;
                } else {
                    header.push(' ');
                    line += 1;
                }
            }
            header.push_str(word);
            line += word.len();
        }
        if index + 1 < methods.len() {
            header.push(';');
        }
    }
    header.push_str("\r\n");
    header
}

/// Words separated by spaces, a quoted-string counting as one word (never folded inside).
fn words(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut in_quotes = false;
        let mut escaped = false;
        let end = rest
            .char_indices()
            .find(|&(_, c)| {
                let boundary = c == ' ' && !in_quotes;
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    in_quotes = !in_quotes;
                }
                boundary
            })
            .map_or(rest.len(), |(i, _)| i);
        let word = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or("");
        Some(word)
    })
}

/// The authserv-id of an Authentication-Results value (RFC 8601 §2.2): a token or
/// quoted-string after optional comments and whitespace. `None` if there is none.
pub fn authserv_id(value_bytes: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(value_bytes);
    let mut chars = text.chars().peekable();
    skip_cfws(&mut chars);
    if chars.peek() == Some(&'"') {
        chars.next();
        let mut id = String::new();
        while let Some(c) = chars.next() {
            match c {
                '"' => return Some(id),
                '\\' => id.extend(chars.next()),
                '\r' | '\n' => {}
                c => id.push(c),
            }
        }
        return None;
    }
    let id: String = chars
        .take_while(|&c| c.is_ascii_graphic() && !"()<>@,;:\\\"/[]?=".contains(c) || c == '@' || c == '/')
        .collect();
    (!id.is_empty()).then_some(id)
}

/// Skips whitespace and (nested, bounded) comments.
fn skip_cfws(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    const COMMENT_DEPTH_MAX: u32 = 16;
    let mut depth = 0u32;
    while let Some(&c) = chars.peek() {
        match c {
            '(' if depth < COMMENT_DEPTH_MAX => depth += 1,
            ')' if depth > 0 => depth -= 1,
            '\\' if depth > 0 => {
                chars.next();
            }
            c if depth > 0 || c.is_whitespace() => {}
            _ => return,
        }
        chars.next();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::auth::dkim::{Algorithm, DkimStatus};
    use crate::auth::iprev::IprevResult;
    use crate::auth::spf::{SpfOutcome, SpfResult};
    use crate::dns::DomainName;

    #[test]
    fn writes_every_method() {
        let iprev = IprevOutcome {
            result: IprevResult::Pass,
            name: Some(DomainName::parse("mail.example.com").unwrap()),
        };
        let spf = SpfVerdict {
            outcome: SpfOutcome::new(SpfResult::Pass),
            identity: Identity::MailFrom,
            domain: "example.com".into(),
            sender: "joe@example.com".into(),
        };
        let dkim = [DkimResult {
            status: DkimStatus::Fail,
            domain: Some(DomainName::parse("example.com").unwrap()),
            selector: Some("sel".into()),
            identity: Some("@example.com".into()),
            algorithm: Some(Algorithm::RsaSha256),
            signature_prefix: Some("abcd/EFG".into()),
            reason: Some("body hash did not verify".into()),
            testing: false,
        }];
        let results = AuthResults {
            authserv_id: "mx.moxide.example",
            client_ip: "192.0.2.1".parse().unwrap(),
            iprev: Some(&iprev),
            spf: Some(&spf),
            dkim: &dkim,
            dmarc: None,
            arc: None,
        };
        let header = authentication_results(&results);
        assert_eq!(
            header,
            "Authentication-Results: mx.moxide.example;\r\n\tiprev=pass policy.iprev=192.0.2.1 (mail.example.com);\r\n\
             \tspf=pass smtp.mailfrom=joe@example.com;\r\n\tdkim=fail reason=\"body hash did not verify\" header.d=example.com\r\n\
             \theader.i=@example.com header.s=sel header.a=rsa-sha256 header.b=\"abcd/EFG\"\r\n"
        );
        assert!(header.lines().all(|l| l.len() <= LINE_CHARS_MAX));
        assert_eq!(
            authserv_id(header.split_once(':').unwrap().1.as_bytes()).as_deref(),
            Some("mx.moxide.example")
        );
    }

    #[test]
    fn authserv_ids() {
        assert_eq!(
            authserv_id(b" (comment (nested)) mx.example.org 1; spf=pass").as_deref(),
            Some("mx.example.org")
        );
        assert_eq!(authserv_id(b" \"quoted id\"; none").as_deref(), Some("quoted id"));
        assert_eq!(authserv_id(b"  ; none"), None);
        assert_eq!(value("a b"), "\"a b\"");
        assert_eq!(value("pass"), "pass");
    }
}
