//! DKIM verification (RFC 6376 §6): per signature, the key lookup, the key's constraints,
//! the header hash over the fields `h=` names (bottom-most instance first, §5.4.2), the
//! body hash from the intake, and the signature check.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::auth::header::HeaderBlock;
use crate::auth::intake::{BodyKey, Collected};
use crate::dns::{DomainName, Question, RecordData, RecordType, ResolveError, Resolver};

use super::canon::{Canonicalization, header_field};
use super::crypto::{self, CryptoError};
use super::key::{KeyError, KeyRecord};
use super::signature::{Algorithm, Signature, without_signature_value};

/// A DKIM result (RFC 8601 §2.7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DkimStatus {
    /// No signature.
    None,
    /// The signature verified.
    Pass,
    /// The signature did not verify (body changed, signature wrong, expired).
    Fail,
    /// Verified, but not acceptable here (key flags).
    Policy,
    /// The signature could not be processed (syntax errors).
    Neutral,
    /// A DNS error fetching the key; may work later.
    TempError,
    /// No usable key, or another error that will not go away.
    PermError,
}

impl DkimStatus {
    /// The result keyword for Authentication-Results.
    pub fn as_str(self) -> &'static str {
        match self {
            DkimStatus::None => "none",
            DkimStatus::Pass => "pass",
            DkimStatus::Fail => "fail",
            DkimStatus::Policy => "policy",
            DkimStatus::Neutral => "neutral",
            DkimStatus::TempError => "temperror",
            DkimStatus::PermError => "permerror",
        }
    }
}

/// The result for one signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimResult {
    /// The result.
    pub status: DkimStatus,
    /// `d=`, when the signature parsed that far.
    pub domain: Option<DomainName>,
    /// `s=`.
    pub selector: Option<String>,
    /// `i=`.
    pub identity: Option<String>,
    /// `a=`.
    pub algorithm: Option<Algorithm>,
    /// The first characters of `b=` (RFC 6008 `header.b`), to tell signatures apart.
    pub signature_prefix: Option<String>,
    /// Why it did not pass.
    pub reason: Option<String>,
    /// The key says the domain is testing (`t=y`).
    pub testing: bool,
}

impl DkimResult {
    fn failed(status: DkimStatus, reason: impl Into<String>) -> DkimResult {
        DkimResult {
            status,
            domain: None,
            selector: None,
            identity: None,
            algorithm: None,
            signature_prefix: None,
            reason: Some(reason.into()),
            testing: false,
        }
    }
}

/// Length of `header.b` (RFC 6008 §4 suggests at least 8 characters).
const SIGNATURE_PREFIX_CHARS: usize = 8;

/// Verifies every collected DKIM signature, top to bottom. `now_secs` judges `x=`.
pub async fn verify<R: Resolver>(resolver: &R, collected: &Collected, now_secs: u64) -> Vec<DkimResult> {
    let mut results = Vec::with_capacity(collected.dkim.len());
    for found in &collected.dkim {
        let result = match &found.parsed {
            // RFC 8601 §2.7.1: a signature with syntax errors is "neutral".
            Err(error) => DkimResult::failed(DkimStatus::Neutral, error.to_string()),
            Ok(signature) => {
                let raw = collected
                    .headers
                    .fields()
                    .get(found.field)
                    .map(|f| collected.headers.raw(f))
                    .unwrap_or(&[]);
                let body_hash = collected.body_hash(&BodyKey::of(signature));
                verify_one(resolver, &collected.headers, raw, signature, body_hash, now_secs).await
            }
        };
        results.push(result);
    }
    results
}

/// Verifies one signature whose header field is `raw` (DKIM-Signature or
/// ARC-Message-Signature), given the body hash computed for its parameters.
pub async fn verify_one<R: Resolver>(
    resolver: &R,
    headers: &HeaderBlock,
    raw: &[u8],
    signature: &Signature,
    body_hash: Option<&[u8]>,
    now_secs: u64,
) -> DkimResult {
    let mut result = DkimResult {
        status: DkimStatus::Pass,
        domain: Some(signature.domain.clone()),
        selector: Some(signature.selector.clone()),
        identity: Some(signature.identity.clone()),
        algorithm: Some(signature.algorithm),
        signature_prefix: Some(
            STANDARD.encode(&signature.signature).chars().take(SIGNATURE_PREFIX_CHARS).collect(),
        ),
        reason: None,
        testing: false,
    };
    let (status, reason) =
        match check(resolver, headers, raw, signature, body_hash, now_secs, &mut result).await {
            Ok(()) => (DkimStatus::Pass, None),
            Err((status, reason)) => (status, Some(reason)),
        };
    result.status = status;
    result.reason = reason;
    result
}

type Failure = (DkimStatus, String);

async fn check<R: Resolver>(
    resolver: &R,
    headers: &HeaderBlock,
    raw: &[u8],
    signature: &Signature,
    body_hash: Option<&[u8]>,
    now_secs: u64,
    result: &mut DkimResult,
) -> Result<(), Failure> {
    if signature.expiration.is_some_and(|x| x < now_secs) {
        return Err((DkimStatus::Fail, "signature expired".into()));
    }
    let key = fetch_key(resolver, signature).await?;
    result.testing = key.testing;
    key.allows(signature.algorithm).map_err(|e| (DkimStatus::PermError, e.to_string()))?;
    if key.strict_identity && !identity_domain_is(&signature.identity, &signature.domain) {
        return Err((DkimStatus::Policy, "key requires i= domain to equal d=".into()));
    }
    // RFC 6376 §6.1.3: the body hash first; a mismatch means the body changed.
    match body_hash {
        None => return Err((DkimStatus::Fail, "body shorter than l=".into())),
        Some(hash) if hash != signature.body_hash.as_slice() => {
            return Err((DkimStatus::Fail, "body hash did not verify".into()));
        }
        Some(_) => {}
    }
    let data = header_hash_input(headers, raw, signature);
    crypto::verify(signature.algorithm, &key.public_key, &data, &signature.signature).map_err(|error| {
        match error {
            CryptoError::Key => (DkimStatus::PermError, "unusable public key".to_string()),
            CryptoError::Mismatch => (DkimStatus::Fail, "signature did not verify".to_string()),
        }
    })
}

fn identity_domain_is(identity: &str, domain: &DomainName) -> bool {
    identity.rsplit_once('@').is_some_and(|(_, d)| d.eq_ignore_ascii_case(domain.as_str()))
}

/// The key at `<s>._domainkey.<d>` (RFC 6376 §3.6.2.1): the first TXT record that parses.
async fn fetch_key<R: Resolver>(resolver: &R, signature: &Signature) -> Result<KeyRecord, Failure> {
    let name = DomainName::parse(&format!("{}._domainkey.{}", signature.selector, signature.domain))
        .map_err(|_| (DkimStatus::PermError, "invalid key name".to_string()))?;
    let answer =
        resolver.lookup(&Question::new(name, RecordType::Txt)).await.map_err(|error| match error {
            ResolveError::InvalidName => (DkimStatus::PermError, error.to_string()),
            _ => (DkimStatus::TempError, format!("key lookup: {error}")),
        })?;
    let mut last_error = KeyError::MissingKey;
    for record in &answer.records {
        if let RecordData::Txt(_) = record {
            match KeyRecord::parse(&record.txt_joined()) {
                Ok(key) => return Ok(key),
                Err(error) => last_error = error,
            }
        }
    }
    let reason = if answer.records.is_empty() { "no key record".to_string() } else { last_error.to_string() };
    Err((DkimStatus::PermError, reason))
}

/// The data the signature covers (RFC 6376 §3.7): the `h=` fields, each the bottom-most
/// instance not yet used (a name listed more often than it occurs adds nothing), then the
/// signature's own field with `b=` emptied and no final CRLF.
pub fn header_hash_input(headers: &HeaderBlock, raw: &[u8], signature: &Signature) -> Vec<u8> {
    let canonicalization = signature.header_canonicalization;
    let mut data = Vec::with_capacity(1024);
    let mut used = vec![false; headers.fields().len()];
    for name in &signature.signed_headers {
        let bottom_most_unused = headers
            .fields()
            .iter()
            .enumerate()
            .rev()
            .find(|(i, field)| !used[*i] && headers.name(field).eq_ignore_ascii_case(name.as_bytes()));
        if let Some((index, field)) = bottom_most_unused {
            used[index] = true;
            header_field(headers.raw(field), canonicalization, &mut data);
        }
    }
    let mut own = Vec::with_capacity(raw.len());
    header_field(&without_signature_value(raw), canonicalization, &mut own);
    let own = crate::auth::header::trim_line_end(&own);
    data.extend_from_slice(own);
    if canonicalization == Canonicalization::Relaxed {
        // The relaxed form ends in CRLF only because header_field adds it.
        debug_assert!(!data.ends_with(b"\r\n") || own.ends_with(b"\r\n"));
    }
    data
}
