//! ARC verification (RFC 8617 §5.2): the chain of ARC sets on an incoming message is
//! checked (structure, `cv=` values, the newest ARC-Message-Signature like a DKIM
//! signature, every ARC-Seal over the sets up to its own). Only the verdict is recorded;
//! nothing is decided on it yet.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::dns::{DomainName, Question, RecordData, RecordType, Resolver};

use super::dkim::canon::{Canonicalization, header_field};
use super::dkim::crypto;
use super::dkim::key::KeyRecord;
use super::dkim::signature::{Algorithm, without_signature_value};
use super::dkim::verify::{DkimStatus, verify_one};
use super::header::{HeaderBlock, trim_line_end};
use super::intake::{BodyKey, Collected};
use super::tags;

/// Highest ARC instance: RFC 8617 §4.2.1 limits a chain to 50 sets; more is a fail.
pub const INSTANCES_MAX: u32 = 50;

/// An ARC chain verdict (RFC 8617 §4.4, RFC 8601 §2.7 `arc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArcResult {
    /// No ARC sets.
    None,
    /// The chain validates.
    Pass,
    /// The chain is broken.
    Fail,
}

impl ArcResult {
    /// The result keyword.
    pub fn as_str(self) -> &'static str {
        match self {
            ArcResult::None => "none",
            ArcResult::Pass => "pass",
            ArcResult::Fail => "fail",
        }
    }
}

/// The verdict with the newest instance and why it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArcOutcome {
    /// The result.
    pub result: ArcResult,
    /// Highest instance seen.
    pub instance: u32,
    /// Why the chain failed.
    pub reason: Option<String>,
}

struct Set {
    seal: Option<usize>,
    message_signature: Option<usize>,
    results: Option<usize>,
}

/// The instance of an ARC header field: `i=N` as its first tag (ARC-Authentication-Results
/// starts `i=N; authserv-id; ...`, so only the part before the first `;` is read).
fn instance_of(value: &[u8]) -> Option<u32> {
    let text = String::from_utf8_lossy(value);
    let first = text.split(';').next()?.trim();
    let (name, number) = first.split_once('=')?;
    if name.trim() != "i" {
        // ARC-Seal and ARC-Message-Signature may list i= anywhere.
        let tags = tags::parse(value).ok()?;
        return tags::get(&tags, "i")?.trim().parse().ok();
    }
    number.trim().parse().ok()
}

/// Verifies the ARC chain of a collected message.
pub async fn verify<R: Resolver>(resolver: &R, collected: &Collected, now_secs: u64) -> ArcOutcome {
    let headers = &collected.headers;
    let fail = |instance, reason: &str| ArcOutcome {
        result: ArcResult::Fail,
        instance,
        reason: Some(reason.to_string()),
    };
    let sets = match collect_sets(headers) {
        Ok(sets) if sets.is_empty() => {
            return ArcOutcome { result: ArcResult::None, instance: 0, reason: None };
        }
        Ok(sets) => sets,
        Err(reason) => return fail(0, reason),
    };
    let newest = sets.len() as u32;
    // RFC 8617 §5.2 step 3: each AS's cv= must be "none" for i=1 and "pass" after.
    for (index, set) in sets.iter().enumerate() {
        let Some(seal) = set.seal else { return fail(newest, "missing ARC-Seal") };
        let seal_tags = tags::parse(headers.value(&headers.fields()[seal])).unwrap_or_default();
        let cv = tags::get(&seal_tags, "cv").map(|v| v.trim().to_ascii_lowercase());
        let expected = if index == 0 { "none" } else { "pass" };
        if cv.as_deref() != Some(expected) {
            return fail(newest, "chain validation value");
        }
    }
    // Step 4: the newest ARC-Message-Signature, verified like DKIM.
    let Some((field, signature)) = &collected.arc_message_signature else {
        return fail(newest, "no usable AMS");
    };
    if signature.instance != newest {
        return fail(newest, "newest AMS missing");
    }
    let raw = headers.raw(&headers.fields()[*field]);
    let body_hash = collected.body_hash(&BodyKey::of(signature));
    let ams = verify_one(resolver, headers, raw, signature, body_hash, now_secs).await;
    if ams.status != DkimStatus::Pass {
        return fail(newest, &format!("AMS: {}", ams.reason.unwrap_or_default()));
    }
    // Step 5: every seal, newest first.
    for instance in (1..=newest).rev() {
        if let Err(reason) = verify_seal(resolver, headers, &sets, instance).await {
            return fail(newest, &format!("seal {instance}: {reason}"));
        }
    }
    ArcOutcome { result: ArcResult::Pass, instance: newest, reason: None }
}

/// The ARC sets by instance (index 0 is i=1); errors for duplicates, gaps, or too many.
fn collect_sets(headers: &HeaderBlock) -> Result<Vec<Set>, &'static str> {
    let mut sets: Vec<Set> = Vec::new();
    for (index, field) in headers.fields().iter().enumerate() {
        let name = headers.name(field);
        let kind = if name.eq_ignore_ascii_case(b"ARC-Seal") {
            0
        } else if name.eq_ignore_ascii_case(b"ARC-Message-Signature") {
            1
        } else if name.eq_ignore_ascii_case(b"ARC-Authentication-Results") {
            2
        } else {
            continue;
        };
        let instance = instance_of(headers.value(field)).ok_or("ARC header without instance")?;
        if instance == 0 || instance > INSTANCES_MAX {
            return Err("ARC instance out of range");
        }
        while sets.len() < instance as usize {
            sets.push(Set { seal: None, message_signature: None, results: None });
        }
        let set = &mut sets[instance as usize - 1];
        let slot = match kind {
            0 => &mut set.seal,
            1 => &mut set.message_signature,
            _ => &mut set.results,
        };
        if slot.replace(index).is_some() {
            return Err("duplicate ARC header");
        }
    }
    if sets.iter().any(|s| s.seal.is_none() || s.message_signature.is_none() || s.results.is_none()) {
        return Err("incomplete ARC set");
    }
    Ok(sets)
}

/// Verifies the ARC-Seal of `instance` (RFC 8617 §5.1.2): relaxed canonicalization of
/// AAR, AMS and AS of every set up to it, in order, the seal itself last with `b=` emptied.
async fn verify_seal<R: Resolver>(
    resolver: &R,
    headers: &HeaderBlock,
    sets: &[Set],
    instance: u32,
) -> Result<(), String> {
    let set = &sets[instance as usize - 1];
    let seal_field = set.seal.ok_or("no seal")?;
    let seal_tags = tags::parse(headers.value(&headers.fields()[seal_field])).map_err(|e| e.to_string())?;
    if tags::get(&seal_tags, "h").is_some() {
        return Err("h= in a seal".into());
    }
    let required = |name| tags::get(&seal_tags, name).ok_or_else(|| format!("missing {name}="));
    let algorithm = match required("a")?.trim().to_ascii_lowercase().as_str() {
        "rsa-sha256" => Algorithm::RsaSha256,
        "ed25519-sha256" => Algorithm::Ed25519Sha256,
        _ => return Err("unknown algorithm".into()),
    };
    let signature = STANDARD.decode(tags::without_whitespace(required("b")?)).map_err(|_| "invalid b=")?;
    let domain = DomainName::parse(required("d")?.trim()).map_err(|_| "invalid d=")?;
    let selector = required("s")?.trim().to_ascii_lowercase();
    let mut data = Vec::with_capacity(4096);
    for (index, earlier) in sets.iter().take(instance as usize).enumerate() {
        let order = [earlier.results, earlier.message_signature, earlier.seal];
        for field in order.into_iter().flatten() {
            let raw = headers.raw(&headers.fields()[field]);
            if index + 1 == instance as usize && Some(field) == earlier.seal {
                let mut own = Vec::new();
                header_field(&without_signature_value(raw), Canonicalization::Relaxed, &mut own);
                data.extend_from_slice(trim_line_end(&own));
            } else {
                header_field(raw, Canonicalization::Relaxed, &mut data);
            }
        }
    }
    let name =
        DomainName::parse(&format!("{selector}._domainkey.{domain}")).map_err(|_| "invalid key name")?;
    let answer = resolver.lookup(&Question::new(name, RecordType::Txt)).await.map_err(|e| e.to_string())?;
    let key = answer
        .records
        .iter()
        .filter(|r| matches!(r, RecordData::Txt(_)))
        .find_map(|r| KeyRecord::parse(&r.txt_joined()).ok())
        .ok_or("no key record")?;
    key.allows(algorithm).map_err(|e| e.to_string())?;
    crypto::verify(algorithm, &key.public_key, &data, &signature).map_err(|e| e.to_string())
}
