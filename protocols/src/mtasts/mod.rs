//! MTA-STS (RFC 8461), sans-IO: the `_mta-sts` TXT record, the policy file served at
//! `https://mta-sts.<domain>/.well-known/mta-sts.txt`, and the matching of MX host
//! names against the policy's patterns; [`http`] is the minimal HTTP/1.1 exchange that
//! fetches the policy (request bytes out, a bounded response read in).
//!
//! The queue (`moxide-actors`' `queue::tls_policy`) does the lookups, the HTTPS fetch
//! with a WebPKI-verified certificate, the caching and the enforcement; nothing here
//! does IO or reads a clock.
//!
//! Invariants: a policy is at most [`POLICY_BYTES_MAX`] bytes and [`POLICY_MX_MAX`]
//! patterns; `max_age` is clamped to [`POLICY_MAX_AGE_SECS_MAX`]; every parse error is
//! a typed value, never a panic.

pub mod http;

/// Largest policy body read: RFC 8461 §3.3 lets senders limit the body to 64 KiB, as
/// mox and Postfix's resolver do; real policies are a few hundred bytes.
pub const POLICY_BYTES_MAX: usize = 64 * 1024;

/// Most `mx` patterns kept from one policy: real policies name a handful; a policy with
/// more is refused rather than matched against an unbounded list.
pub const POLICY_MX_MAX: usize = 64;

/// Longest `max_age` honoured: RFC 8461 §3.2 caps it at 31557600 seconds (about a year).
pub const POLICY_MAX_AGE_SECS_MAX: u64 = 31_557_600;

/// Longest policy id: RFC 8461 §3.1 allows 1 to 32 letters and digits.
pub const RECORD_ID_BYTES_MAX: usize = 32;

/// The `_mta-sts` TXT record's one field we use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StsRecord {
    /// The policy's id: a new id means the policy changed (RFC 8461 §3.1).
    pub id: String,
}

/// Why a TXT record or a policy is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StsError {
    /// The record does not start with `v=STSv1`.
    #[error("not an MTA-STS record")]
    NotSts,
    /// Several records start with `v=STSv1` (RFC 8461 §3.1: then there is no policy).
    #[error("more than one MTA-STS record")]
    Multiple,
    /// A field is malformed.
    #[error("malformed {0}")]
    Malformed(&'static str),
    /// A required field is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// The policy is larger than [`POLICY_BYTES_MAX`] or names more than
    /// [`POLICY_MX_MAX`] patterns.
    #[error("policy too large")]
    TooLarge,
}

/// What a policy asks of senders (RFC 8461 §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Deliver only to matching MX hosts over WebPKI-verified TLS.
    Enforce,
    /// Deliver as without a policy, and report (TLSRPT) what would have failed.
    Testing,
    /// The domain withdrew its policy.
    None,
}

/// A parsed policy (RFC 8461 §3.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// enforce, testing or none.
    pub mode: Mode,
    /// How long the policy may be cached, seconds (clamped to
    /// [`POLICY_MAX_AGE_SECS_MAX`]).
    pub max_age_secs: u64,
    /// MX patterns, lower case, without a trailing dot: `mx.example.com` or
    /// `*.example.com`.
    pub mx: Vec<String>,
}

/// Parses the TXT records found at `_mta-sts.<domain>` (each already joined from its
/// strings). Records not starting with `v=STSv1` are ignored; not exactly one left is
/// no policy (RFC 8461 §3.1).
pub fn parse_records<'a>(records: impl IntoIterator<Item = &'a [u8]>) -> Result<StsRecord, StsError> {
    let mut found = None;
    for record in records {
        match parse_record(record) {
            Err(StsError::NotSts) => {}
            parsed => {
                if found.is_some() {
                    return Err(StsError::Multiple);
                }
                found = Some(parsed);
            }
        }
    }
    found.unwrap_or(Err(StsError::NotSts))
}

/// Parses one TXT record: `v=STSv1; id=...;` with optional extension fields.
pub fn parse_record(text: &[u8]) -> Result<StsRecord, StsError> {
    let text = std::str::from_utf8(text).map_err(|_| StsError::NotSts)?;
    let mut fields = text.split(';').map(str::trim);
    if fields.next() != Some("v=STSv1") {
        return Err(StsError::NotSts);
    }
    let mut id = None;
    for field in fields.filter(|field| !field.is_empty()) {
        let (key, value) = field.split_once('=').ok_or(StsError::Malformed("record field"))?;
        if key.trim() == "id" {
            let value = value.trim();
            let valid = !value.is_empty()
                && value.len() <= RECORD_ID_BYTES_MAX
                && value.bytes().all(|b| b.is_ascii_alphanumeric());
            if !valid || id.is_some() {
                return Err(StsError::Malformed("id"));
            }
            id = Some(value.to_owned());
        }
    }
    id.map(|id| StsRecord { id }).ok_or(StsError::Missing("id"))
}

/// Parses a policy body (RFC 8461 §3.2): `key: value` lines ending in CRLF or LF;
/// unknown keys are ignored; `version`, `mode` and `max_age` are required, and `mx`
/// unless the mode is `none`.
pub fn parse_policy(body: &[u8]) -> Result<Policy, StsError> {
    if body.len() > POLICY_BYTES_MAX {
        return Err(StsError::TooLarge);
    }
    let text = std::str::from_utf8(body).map_err(|_| StsError::Malformed("policy encoding"))?;
    let (mut version, mut mode, mut max_age) = (false, None, None);
    let mut mx = Vec::new();
    for line in text.split('\n').map(|line| line.strip_suffix('\r').unwrap_or(line)) {
        if line.trim().is_empty() {
            continue;
        }
        let (key, value) = line.split_once(':').ok_or(StsError::Malformed("policy line"))?;
        let value = value.trim();
        match key.trim() {
            "version" if value == "STSv1" => version = true,
            "version" => return Err(StsError::Malformed("version")),
            "mode" => mode = Some(parse_mode(value)?),
            "max_age" => max_age = Some(parse_max_age(value)?),
            "mx" => {
                if mx.len() >= POLICY_MX_MAX {
                    return Err(StsError::TooLarge);
                }
                mx.push(parse_pattern(value)?);
            }
            _ => {}
        }
    }
    if !version {
        return Err(StsError::Missing("version"));
    }
    let mode = mode.ok_or(StsError::Missing("mode"))?;
    let max_age_secs = max_age.ok_or(StsError::Missing("max_age"))?;
    if mx.is_empty() && mode != Mode::None {
        return Err(StsError::Missing("mx"));
    }
    Ok(Policy { mode, max_age_secs, mx })
}

fn parse_mode(value: &str) -> Result<Mode, StsError> {
    match value {
        "enforce" => Ok(Mode::Enforce),
        "testing" => Ok(Mode::Testing),
        "none" => Ok(Mode::None),
        _ => Err(StsError::Malformed("mode")),
    }
}

fn parse_max_age(value: &str) -> Result<u64, StsError> {
    // RFC 8461 §3.2: 1 to 10 digits; larger values than the cap are clamped.
    if value.is_empty() || value.len() > 10 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(StsError::Malformed("max_age"));
    }
    let secs: u64 = value.parse().map_err(|_| StsError::Malformed("max_age"))?;
    Ok(secs.min(POLICY_MAX_AGE_SECS_MAX))
}

fn parse_pattern(value: &str) -> Result<String, StsError> {
    let pattern = value.strip_suffix('.').unwrap_or(value).to_ascii_lowercase();
    let name = pattern.strip_prefix("*.").unwrap_or(&pattern);
    let valid = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if valid { Ok(pattern) } else { Err(StsError::Malformed("mx")) }
}

impl Policy {
    /// Whether `host` (an MX host name) matches one of the policy's patterns: exactly,
    /// or a `*.` pattern matching one leftmost label (RFC 8461 §4.1), case-insensitive.
    pub fn matches(&self, host: &str) -> bool {
        let host = host.strip_suffix('.').unwrap_or(host).to_ascii_lowercase();
        self.mx.iter().any(|pattern| match pattern.strip_prefix("*.") {
            Some(parent) => {
                host.split_once('.').is_some_and(|(label, rest)| !label.is_empty() && rest == parent)
            }
            None => *pattern == host,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn records_need_one_stsv1_with_an_id() {
        let record = parse_record(b"v=STSv1; id=20160831085700Z;").unwrap();
        assert_eq!(record.id, "20160831085700Z");
        assert_eq!(parse_record(b"v=STSv1;id=abc").unwrap().id, "abc");
        assert_eq!(parse_record(b"v=STSv1; id=abc; ext=1").unwrap().id, "abc");
        assert_eq!(parse_record(b"v=spf1 -all"), Err(StsError::NotSts));
        assert_eq!(parse_record(b"v=STSv1;"), Err(StsError::Missing("id")));
        assert_eq!(parse_record(b"v=STSv1; id=a-b"), Err(StsError::Malformed("id")));
        let long = format!("v=STSv1; id={}", "a".repeat(RECORD_ID_BYTES_MAX + 1));
        assert_eq!(parse_record(long.as_bytes()), Err(StsError::Malformed("id")));
        let records: [&[u8]; 2] = [b"v=spf1 -all", b"v=STSv1; id=x1"];
        assert_eq!(parse_records(records).unwrap().id, "x1");
        let records: [&[u8]; 2] = [b"v=STSv1; id=x1", b"v=STSv1; id=x2"];
        assert_eq!(parse_records(records), Err(StsError::Multiple));
        assert_eq!(parse_records(std::iter::empty()), Err(StsError::NotSts));
    }

    #[test]
    fn a_policy_parses_and_matches_its_patterns() {
        let body = b"version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.Example.NET.\r\nmax_age: 86400\r\nfoo: bar\r\n";
        let policy = parse_policy(body).unwrap();
        assert_eq!(policy.mode, Mode::Enforce);
        assert_eq!(policy.max_age_secs, 86400);
        assert!(policy.matches("mail.example.com"));
        assert!(policy.matches("MAIL.example.com."));
        assert!(policy.matches("mx1.example.net"));
        assert!(!policy.matches("example.net"), "the wildcard needs one label");
        assert!(!policy.matches("a.b.example.net"), "the wildcard matches only one label");
        assert!(!policy.matches("other.example.com"));
        let lf = b"version: STSv1\nmode: testing\nmx: mx.example\nmax_age: 99999999999\n";
        assert_eq!(parse_policy(lf), Err(StsError::Malformed("max_age")));
        let clamped = parse_policy(b"version: STSv1\nmode: testing\nmx: mx.example\nmax_age: 9999999999\n");
        assert_eq!(clamped.unwrap().max_age_secs, POLICY_MAX_AGE_SECS_MAX);
    }

    #[test]
    fn invalid_policies_are_refused() {
        let missing_mx = b"version: STSv1\nmode: enforce\nmax_age: 10\n";
        assert_eq!(parse_policy(missing_mx), Err(StsError::Missing("mx")));
        assert!(parse_policy(b"version: STSv1\nmode: none\nmax_age: 10\n").is_ok());
        assert_eq!(parse_policy(b"mode: enforce\nmx: a\nmax_age: 1\n"), Err(StsError::Missing("version")));
        assert_eq!(
            parse_policy(b"version: STSv1\nmode: strict\nmx: a\nmax_age: 1\n"),
            Err(StsError::Malformed("mode"))
        );
        assert_eq!(
            parse_policy(b"version: STSv1\nmode: enforce\nmx: a..b\nmax_age: 1\n"),
            Err(StsError::Malformed("mx"))
        );
        let mut many = String::from("version: STSv1\nmode: enforce\nmax_age: 1\n");
        for i in 0..=POLICY_MX_MAX {
            many.push_str(&format!("mx: mx{i}.example\n"));
        }
        assert_eq!(parse_policy(many.as_bytes()), Err(StsError::TooLarge));
        assert_eq!(parse_policy(&vec![b'\n'; POLICY_BYTES_MAX + 1]), Err(StsError::TooLarge));
    }
}
