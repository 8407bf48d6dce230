//! SPF (RFC 7208): is the client allowed to send for the MAIL FROM (or HELO) domain?
//!
//! - [`record`]: record selection and syntax (§4.5, §12);
//! - [`macros`]: macro-strings (§7);
//! - [`eval`]: `check_host()` (§4) with the lookup limits (§4.6.4), `exp=` (§6.2) and
//!   `redirect=` (§6.1);
//! - here: the result type, the identities (§2.3, §2.4) and the `Received-SPF` header
//!   (§9.1).

pub mod eval;
pub mod macros;
pub mod record;

use std::fmt::Write as _;
use std::net::IpAddr;

pub use eval::{SpfCheck, check_host};

use crate::dns::Resolver;

/// An SPF result (RFC 7208 §2.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpfResult {
    /// No record, or no checkable domain.
    None,
    /// The domain makes no assertion about this client.
    Neutral,
    /// The client is authorized.
    Pass,
    /// The client is not authorized.
    Fail,
    /// Probably not authorized.
    SoftFail,
    /// A DNS error; try later.
    TempError,
    /// The domain's records are broken.
    PermError,
}

impl SpfResult {
    /// The result's name as RFC 7208 §2.6 and RFC 8601 §2.7.2 write it.
    pub fn as_str(self) -> &'static str {
        match self {
            SpfResult::None => "none",
            SpfResult::Neutral => "neutral",
            SpfResult::Pass => "pass",
            SpfResult::Fail => "fail",
            SpfResult::SoftFail => "softfail",
            SpfResult::TempError => "temperror",
            SpfResult::PermError => "permerror",
        }
    }
}

/// The outcome of one `check_host()`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfOutcome {
    /// The result.
    pub result: SpfResult,
    /// The expanded `exp=` text of a fail, when the domain publishes one.
    pub explanation: Option<String>,
    /// What went wrong, for temperror and permerror (for `Received-SPF`'s `problem`).
    pub problem: Option<String>,
    /// DNS-querying terms evaluated.
    pub lookups: u32,
}

impl SpfOutcome {
    /// An outcome with just a result.
    pub fn new(result: SpfResult) -> SpfOutcome {
        SpfOutcome { result, explanation: None, problem: None, lookups: 0 }
    }
}

/// Which identity a result is about (RFC 7208 §2.3, §2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity {
    /// The HELO/EHLO name.
    Helo,
    /// The MAIL FROM address (or `postmaster@` the HELO name for a null sender).
    MailFrom,
}

/// The SPF verdicts for one transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpfVerdict {
    /// The MAIL FROM identity's outcome (for a null reverse-path, the HELO identity's).
    pub outcome: SpfOutcome,
    /// Which identity `outcome` is about.
    pub identity: Identity,
    /// The domain checked.
    pub domain: String,
    /// The address checked (`local@domain`).
    pub sender: String,
}

/// Checks the MAIL FROM identity, or for a null reverse-path the HELO identity
/// (`postmaster@helo`, RFC 7208 §2.4). `mail_from` is `(local part, domain)`.
pub async fn verify<R: Resolver>(
    resolver: &R,
    ip: IpAddr,
    helo: &str,
    mail_from: Option<(&str, &str)>,
    receiver: &str,
    now_secs: u64,
) -> SpfVerdict {
    let (identity, local, domain) = match mail_from {
        Some((local, domain)) => (Identity::MailFrom, local, domain),
        None => (Identity::Helo, "postmaster", helo),
    };
    let check = SpfCheck { ip, local, domain, helo, receiver, now_secs };
    let outcome = check_host(resolver, &check).await;
    let local = if local.is_empty() { "postmaster" } else { local };
    SpfVerdict { outcome, identity, domain: domain.to_string(), sender: format!("{local}@{domain}") }
}

/// The `Received-SPF` header field (RFC 7208 §9.1), folded, ending in CRLF.
pub fn received_spf(verdict: &SpfVerdict, ip: IpAddr, helo: &str, receiver: &str) -> String {
    let result = verdict.outcome.result;
    let comment = match result {
        SpfResult::Pass => format!("domain of {} designates {ip} as permitted sender", verdict.domain),
        SpfResult::Fail | SpfResult::SoftFail => {
            format!("domain of {} does not designate {ip} as permitted sender", verdict.domain)
        }
        SpfResult::Neutral => format!("{ip} is neither permitted nor denied by {}", verdict.domain),
        SpfResult::None => format!("domain of {} does not publish SPF", verdict.domain),
        SpfResult::TempError => "temporary DNS error".to_string(),
        SpfResult::PermError => "permanent error in SPF record".to_string(),
    };
    let mut header = format!(
        "Received-SPF: {} ({}: {})\r\n",
        result.as_str(),
        clean_comment(receiver),
        clean_comment(&comment)
    );
    let identity = match verdict.identity {
        Identity::Helo => "helo",
        Identity::MailFrom => "mailfrom",
    };
    let mut pairs = vec![
        ("receiver", receiver.to_string()),
        ("client-ip", ip.to_string()),
        ("envelope-from", verdict.sender.clone()),
        ("helo", helo.to_string()),
        ("identity", identity.to_string()),
    ];
    if let Some(problem) = &verdict.outcome.problem {
        pairs.push(("problem", problem.clone()));
    }
    let count = pairs.len();
    for (i, (key, value)) in pairs.into_iter().enumerate() {
        let separator = if i + 1 < count { ";" } else { "" };
        let _ = write!(header, "\t{key}={}{separator}\r\n", dot_atom_or_quoted(&value));
    }
    header
}

/// A value as RFC 7208 §9.1 wants it: a dot-atom (RFC 5322 §3.2.3) as is, anything else
/// as a quoted-string with `"` and `\` escaped and control characters dropped.
fn dot_atom_or_quoted(value: &str) -> String {
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    let dot_atom =
        !value.is_empty() && value.split('.').all(|part| !part.is_empty() && part.chars().all(atext));
    if dot_atom {
        return value.to_string();
    }
    let mut quoted = String::with_capacity(value.len() + 2);
    quoted.push('"');
    for c in value.chars().filter(|c| !c.is_control()) {
        if c == '"' || c == '\\' {
            quoted.push('\\');
        }
        quoted.push(c);
    }
    quoted.push('"');
    quoted
}

/// Comment text without parentheses, backslashes or control characters (so the comment
/// cannot end early or break the header).
fn clean_comment(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() || matches!(c, '(' | ')' | '\\') { ' ' } else { c })
        .take(200)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn received_spf_header() {
        let verdict = SpfVerdict {
            outcome: SpfOutcome::new(SpfResult::Pass),
            identity: Identity::MailFrom,
            domain: "example.com".into(),
            sender: "myname@example.com".into(),
        };
        let header =
            received_spf(&verdict, "192.0.2.1".parse().unwrap(), "foo.example.com", "mybox.example.org");
        assert_eq!(
            header,
            "Received-SPF: pass (mybox.example.org: domain of example.com designates 192.0.2.1 as permitted sender)\r\n\
             \treceiver=mybox.example.org;\r\n\tclient-ip=192.0.2.1;\r\n\tenvelope-from=\"myname@example.com\";\r\n\
             \thelo=foo.example.com;\r\n\tidentity=mailfrom\r\n"
        );
    }
}
