//! Fixtures for the `auth` benchmarks: messages with DKIM signatures made here (RSA-2048
//! and Ed25519, relaxed/relaxed) and the in-memory zone that verifies them, an SPF zone
//! with an include chain. Signing uses ring with a fixed RSA key generated for these
//! benchmarks only (no real domain trusts it) and an Ed25519 key generated per run.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ring::signature::{Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};

use moxide_protocols::auth::dkim::canon::{BodyHasher, Canonicalization, HashAlgorithm};
use moxide_protocols::auth::dkim::signature::{Flavor, Signature};
use moxide_protocols::auth::dkim::verify::header_hash_input;
use moxide_protocols::auth::header::HeaderBlock;
use moxide_protocols::dns::memory::MemoryResolver;

use crate::corpus::text_message;

/// A 2048-bit RSA key (PKCS#8), made with openssl for these benchmarks only.
const BENCH_RSA_PKCS8: &str = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCrkC0f0YhZNGLQEplQlG/NZvGDhrUz8U8iSME8LDg294P1vJzIHVjAMizqO+TrbPkgJfpznmrPXTik3WfqVFVV1l1AccNs1WP1ar0WQGBc4k3bE7JDZFGCwTfmTtmqPH4RYR5B67JBf+FCUWZY8J1jL60LDnLVNT5grA/xPZdR3o1C8y8+s+petvne47VDj3dp2I2MSJgUzlTeFaMojwLki7CkWIyu5N5mcbUMSOjWB6PxjSInybhBbieQxvIPTJC6xyiy9fynMXXXN+aundR3VXjhIcLoK3/SCfzHWA3zvM7APmmZnwAJVvd0+KpQ7rbDcBFTuAIpoSOCgqVckAvnAgMBAAECgf8JapdoTtA+/02BkFz7AMlakCNXF+c/BUlNVRL4fSisdWeb+hPlQ5ak904eeKRmiHBTRDpBYgDAmVUjt17uSGDf9xL1IZFJtdtaZ78VUQU3vHFpEJm0SpU2esAa7MKEldGfmysf9kxFrK0tnAfYFn9WpRnCsptcI7OZg3bOFX3SFfEmRH9oAxPSsODwoUXX43ieqLbGtc1BA+zSrZNFZcy/yqEdQ5Dcs5WCM/3BkKwdV6MlmFDqoOmvR+CI7SThA2Ey9cYRHtQLHh7yzHe95LAYgkrNDz989O0dCn19u25+gCJPgrFOli3aoUPEPf5Q0spb8RqKoNJ2U9QHGJrnM3ECgYEA5MpOz4keMhoOCuINODwx2q2cHsuTkNy2G1HeLTz0VnqP/isZdScrs1FjYcx7kyYbh4CVIX4aDPD6jAmrmjibimO05amvFj8JTb/MiENGbYb2aPsvqdzCXre9clndfS46hPHmND8mJUrXFsEHNcNjd7qGfAmUR3POuCfpykIwrPECgYEAv/eMApLtP5pQtkVbbsJfr+6wni8BE9FyvqO8EAfnOn1su3EgoXFV17nyrDqCTD0k57ydtNcdKJSsLTqVQoqSg6PFsIodROSPxNBVQYy9kXMYx0u5V5FBG06LEqNy1oenrfDT0j0EQ0TtVu53Xxh/cvgoZakq7oqXsvSIDm/xplcCgYEAvY0jeGxY+Rd/FOMuIq40e8GkfBsb+kPyGHZehcpfgRpwHBtnLxmx6hH/LbK1mzdSTZRpeeM5AAnS+py0cMR/kUuEP1azOdImCiVi9m4OdoX/twCM/8VnwAOo0InFqIXZc/XaTOUY3ILB6xcnuxJTYYnHDBL/p6c52HcxCiKGo3ECgYEAixfU7PCE0zb/EHLEw0Y3iwSKGLO6Nh/m4ldFJuBzHKBQrqhTmmbCamMjgMOMMa2EFh1GsAfF6ud+se7mw6Ygbx21WitY9dgei97gR3Swzrj01UL68oYfBKgugLzJssPsLU54TLdFZXCGAB0dhVv8zNMegjrHDryBGnuwMbXPBFUCgYEA2nLQpLhsXGtZPMVY+njE0LjVEyxgBWvtO8WJqnbNvJZRFHLCzYMRYuFCcT8/ngppJbUdCHqNV29yAmKSDVKOYmEJYwkYHMlWwng7ikXJM2NJFSo2N5SJEIPLUJz6fkX6SsD1RGs8ze2LDjgxuMIc4J/KJFW6D8kWYDcIwz30kE8=";

/// The signing domain of the fixtures.
pub const DOMAIN: &str = "bench.example";

/// Which key signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// RSA-2048 with SHA-256.
    Rsa2048,
    /// Ed25519 with SHA-256.
    Ed25519,
}

/// Why a fixture could not be made.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    /// A key did not load or a signature could not be made.
    #[error("signing: {0}")]
    Signing(String),
}

/// A signed message and the zone holding its key.
pub struct SignedMessage {
    /// The whole message, DKIM-Signature first.
    pub message: Vec<u8>,
    /// Key records (and nothing else).
    pub zone: MemoryResolver,
}

/// Signs a text message of about `body_bytes` with `key` (relaxed/relaxed, five header
/// fields signed).
pub fn signed_message(key: Key, body_bytes: usize) -> Result<SignedMessage, FixtureError> {
    let corpus = text_message(3, body_bytes);
    let split = corpus.windows(4).position(|w| w == b"\r\n\r\n").map_or(0, |i| i + 2);
    // The corpus message carries a list's DKIM-Signature: dropped, so one signature is
    // measured.
    let corpus_headers = HeaderBlock::parse(corpus[..split].to_vec());
    let mut header = Vec::with_capacity(split);
    for field in corpus_headers.fields() {
        if !corpus_headers.name(field).eq_ignore_ascii_case(b"DKIM-Signature") {
            header.extend_from_slice(corpus_headers.raw(field));
        }
    }
    let body = &corpus[split + 2..];
    let mut unsigned = header.clone();
    unsigned.extend_from_slice(b"\r\n");
    unsigned.extend_from_slice(body);
    let mut hasher = BodyHasher::new(Canonicalization::Relaxed, HashAlgorithm::Sha256, None);
    hasher.update(body);
    let body_hash = STANDARD.encode(hasher.finish().unwrap_or_default());
    let (algorithm, selector) = match key {
        Key::Rsa2048 => ("rsa-sha256", "rsa"),
        Key::Ed25519 => ("ed25519-sha256", "ed"),
    };
    let field = format!(
        "DKIM-Signature: v=1; a={algorithm}; c=relaxed/relaxed; d={DOMAIN}; s={selector};\r\n         \th=from:to:subject:date:message-id; bh={body_hash};\r\n\tb="
    );
    let placeholder = Signature::parse(format!("{}AAAA", &field[15..]).as_bytes(), Flavor::Dkim)
        .map_err(|e| FixtureError::Signing(e.to_string()))?;
    let headers = HeaderBlock::parse(header);
    let data = header_hash_input(&headers, format!("{field}\r\n").as_bytes(), &placeholder);
    let mut zone = MemoryResolver::new();
    let signature = match key {
        Key::Rsa2048 => {
            let der = STANDARD.decode(BENCH_RSA_PKCS8).map_err(|e| FixtureError::Signing(e.to_string()))?;
            let pair = RsaKeyPair::from_pkcs8(&der).map_err(|e| FixtureError::Signing(e.to_string()))?;
            let mut signature = vec![0u8; pair.public().modulus_len()];
            let rng = ring::rand::SystemRandom::new();
            pair.sign(&RSA_PKCS1_SHA256, &rng, &data, &mut signature)
                .map_err(|e| FixtureError::Signing(e.to_string()))?;
            let public = STANDARD.encode(pair.public().as_ref());
            zone.add_txt(&format!("rsa._domainkey.{DOMAIN}"), &format!("v=DKIM1; k=rsa; p={public}"));
            signature
        }
        Key::Ed25519 => {
            let rng = ring::rand::SystemRandom::new();
            let pkcs8 =
                Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| FixtureError::Signing(e.to_string()))?;
            let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
                .map_err(|e| FixtureError::Signing(e.to_string()))?;
            let hash = ring::digest::digest(&ring::digest::SHA256, &data);
            let public = STANDARD.encode(pair.public_key().as_ref());
            zone.add_txt(&format!("ed._domainkey.{DOMAIN}"), &format!("v=DKIM1; k=ed25519; p={public}"));
            pair.sign(hash.as_ref()).as_ref().to_vec()
        }
    };
    let mut message = format!("{field}{}\r\n", STANDARD.encode(signature)).into_bytes();
    message.extend_from_slice(&unsigned);
    Ok(SignedMessage { message, zone })
}

/// An SPF zone like a domain that sends through a provider: the domain's record has an
/// ip4 range and an include, the provider's record two more includes; the client matches
/// in the last one (4 lookups).
pub fn spf_zone() -> MemoryResolver {
    let mut zone = MemoryResolver::new();
    zone.add_txt(DOMAIN, "v=spf1 ip4:198.51.100.0/24 include:_spf.provider.example ~all");
    zone.add_txt(
        "_spf.provider.example",
        "v=spf1 include:_a.provider.example include:_b.provider.example -all",
    );
    zone.add_txt("_a.provider.example", "v=spf1 ip4:203.0.113.0/25 ip6:2001:db8:1::/48 -all");
    zone.add_txt("_b.provider.example", "v=spf1 ip4:192.0.2.0/24 ip4:203.0.113.128/25 -all");
    zone
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use moxide_protocols::auth::dkim::{self, DkimStatus};
    use moxide_protocols::auth::intake::Intake;
    use moxide_protocols::auth::spf::{SpfCheck, SpfResult, check_host};

    #[test]
    fn fixtures_verify() {
        for key in [Key::Rsa2048, Key::Ed25519] {
            let signed = signed_message(key, 4096).unwrap();
            let mut intake = Intake::new();
            intake.update(&signed.message);
            let results = futures_lite::future::block_on(dkim::verify(&signed.zone, &intake.finish(), 0));
            assert_eq!(results.len(), 1);
            assert_eq!(results[0].status, DkimStatus::Pass, "{key:?}: {:?}", results[0].reason);
        }
        let zone = spf_zone();
        let check = SpfCheck {
            ip: "192.0.2.10".parse().unwrap(),
            local: "user",
            domain: DOMAIN,
            helo: "mx.bench.example",
            receiver: "mx.example.org",
            now_secs: 0,
        };
        let outcome = futures_lite::future::block_on(check_host(&zone, &check));
        assert_eq!((outcome.result, outcome.lookups), (SpfResult::Pass, 3));
    }
}
