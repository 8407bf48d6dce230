//! DKIM keys for local domains (RFC 6376): made when a domain is added (or at start for a
//! domain that has none), kept in the data directory, and published as DNS records; the
//! outbound queue signs with every key a domain has.
//!
//! Each domain gets two keys, as mox makes them: Ed25519 (RFC 8463), made with ring (the
//! TLS provider), short and fast; and RSA-2048 (RFC 8301 §3.2: at least 1024 bits, 2048
//! recommended), for receivers that do not verify Ed25519 yet, made with AWS-LC, which
//! signs with it (ring cannot make RSA keys, and signs RSA at half AWS-LC's speed). An RSA key an operator places in a domain's key directory (PKCS#8 PEM) signs
//! too, and its record is printed the same way.
//!
//! Layout: `data/dkim/<domain>/<selector>.pem`, PKCS#8, mode 0600, in a 0700 directory.
//! The selector names the day the key was made and its kind (`20261206e` for Ed25519,
//! `20261206r` for RSA), so a later key for the same domain gets a new selector and both
//! can be published during a rotation.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use ring::signature::{Ed25519KeyPair, KeyPair as _, RsaKeyPair};

/// Why a key could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    /// Writing or reading the key file failed.
    #[error("DKIM key {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The key file is not an Ed25519 or RSA PKCS#8 PEM, or the random source failed.
    #[error("DKIM key {0}: not a usable Ed25519 or RSA key")]
    Key(PathBuf),
}

/// Where `domain`'s key of `selector` is.
pub fn key_path(data_dir: &Path, domain: &str, selector: &str) -> PathBuf {
    data_dir.join("dkim").join(domain).join(format!("{selector}.pem"))
}

/// RSA modulus size of a generated key (RFC 8301 §3.2 recommends 2048 bits; 4096-bit
/// records do not fit in many DNS providers' forms, and verifiers cap key sizes).
pub const RSA_KEY_BITS: usize = 2048;

/// The kind of key a generated selector holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// Ed25519 (RFC 8463), selector suffix `e`.
    Ed25519,
    /// RSA of [`RSA_KEY_BITS`], selector suffix `r`.
    Rsa,
}

/// The selector for a key of `kind` made at `unix_secs`: `YYYYMMDDe` or `YYYYMMDDr`.
pub fn selector_for(unix_secs: i64, kind: KeyKind) -> String {
    let (year, month, day) = civil_from_days(unix_secs.div_euclid(86_400));
    let suffix = match kind {
        KeyKind::Ed25519 => 'e',
        KeyKind::Rsa => 'r',
    };
    format!("{year:04}{month:02}{day:02}{suffix}")
}

/// The selectors of the keys [`generate_all`] makes at `unix_secs`: Ed25519 and RSA.
pub fn selectors_for(unix_secs: i64) -> Vec<String> {
    [KeyKind::Ed25519, KeyKind::Rsa].into_iter().map(|kind| selector_for(unix_secs, kind)).collect()
}

/// Blocking (an RSA key takes up to a second or so): makes a domain's Ed25519 and RSA keys
/// under [`selectors_for`]`(unix_secs)` and returns those selectors.
pub fn generate_all(data_dir: &Path, domain: &str, unix_secs: i64) -> Result<Vec<String>, DkimError> {
    let mut made = Vec::new();
    for kind in [KeyKind::Ed25519, KeyKind::Rsa] {
        let selector = selector_for(unix_secs, kind);
        generate(data_dir, domain, &selector, kind)?;
        made.push(selector);
    }
    Ok(made)
}

/// Blocking: makes a key of `kind` for `domain` and stores it under `selector`
/// (replacing an older file of that name, which only a second key on the same day has).
pub fn generate(data_dir: &Path, domain: &str, selector: &str, kind: KeyKind) -> Result<(), DkimError> {
    let path = key_path(data_dir, domain, selector);
    let io = |source| DkimError::Io { path: path.clone(), source };
    let document = match kind {
        KeyKind::Ed25519 => Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
            .map_err(|_| DkimError::Key(path.clone()))?
            .as_ref()
            .to_vec(),
        KeyKind::Rsa => rsa_pkcs8().ok_or_else(|| DkimError::Key(path.clone()))?,
    };
    let dir = path.parent().unwrap_or(data_dir);
    std::fs::create_dir_all(dir).map_err(io)?;
    // Private keys: neither the directory of all domains' keys nor a domain's is
    // readable by others.
    for private in [dir, dir.parent().unwrap_or(dir)] {
        std::fs::set_permissions(private, std::os::unix::fs::PermissionsExt::from_mode(0o700)).map_err(io)?;
    }
    let pem = pem_encode("PRIVATE KEY", &document);
    crate::auth::write_atomically(&path, pem.as_bytes(), 0o600).map_err(io)
}

/// A new RSA key as PKCS#8 DER, made by AWS-LC (which signs with it) and checked by
/// loading it the way the signer will.
fn rsa_pkcs8() -> Option<Vec<u8>> {
    use aws_lc_rs::encoding::{AsDer as _, Pkcs8V1Der};
    let size = match RSA_KEY_BITS {
        2048 => aws_lc_rs::rsa::KeySize::Rsa2048,
        _ => return None,
    };
    let pair = aws_lc_rs::rsa::KeyPair::generate(size).ok()?;
    let der: Pkcs8V1Der<'static> = pair.as_der().ok()?;
    let der = der.as_ref().to_vec();
    aws_lc_rs::signature::RsaKeyPair::from_pkcs8(&der).ok()?;
    Some(der)
}

/// Blocking: the DKIM TXT record's value for the stored key (RFC 6376 §3.6.1): for
/// Ed25519 (RFC 8463 §4) `k=ed25519` and the raw 32-byte public key; for an RSA key an
/// operator placed in the key directory, `k=rsa` and the SubjectPublicKeyInfo DER (what
/// `openssl rsa -pubout` writes and every verifier reads), in strings of at most 255
/// characters (a TXT string's limit, RFC 1035 §3.3).
pub fn record_value(data_dir: &Path, domain: &str, selector: &str) -> Result<String, DkimError> {
    let path = key_path(data_dir, domain, selector);
    let text =
        std::fs::read_to_string(&path).map_err(|source| DkimError::Io { path: path.clone(), source })?;
    let der = pem_decode(&text, "PRIVATE KEY").ok_or_else(|| DkimError::Key(path.clone()))?;
    let encode = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der) {
        let public = encode(pair.public_key().as_ref());
        return Ok(format!("\"v=DKIM1; k=ed25519; h=sha256; p={public}\""));
    }
    let pair = RsaKeyPair::from_pkcs8(&der).map_err(|_| DkimError::Key(path.clone()))?;
    let value = format!("v=DKIM1; k=rsa; h=sha256; p={}", encode(&rsa_spki(pair.public_key().as_ref())));
    let strings: Vec<String> =
        value.as_bytes().chunks(255).map(|chunk| format!("\"{}\"", String::from_utf8_lossy(chunk))).collect();
    Ok(strings.join(" "))
}

/// SubjectPublicKeyInfo (RFC 5280 §4.1) around a PKCS#1 RSAPublicKey (ring's form):
/// algorithm rsaEncryption with NULL parameters, the key as a BIT STRING.
fn rsa_spki(rsa_public_key: &[u8]) -> Vec<u8> {
    const RSA_ALGORITHM: [u8; 15] =
        [0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00];
    let mut bit_string = vec![0u8];
    bit_string.extend_from_slice(rsa_public_key);
    let mut body = RSA_ALGORITHM.to_vec();
    der_element(&mut body, 0x03, &bit_string);
    let mut out = Vec::new();
    der_element(&mut out, 0x30, &body);
    out
}

/// Appends a DER element: tag, definite length (short or long form), contents.
fn der_element(out: &mut Vec<u8>, tag: u8, contents: &[u8]) {
    out.push(tag);
    let length = contents.len();
    if length < 0x80 {
        out.push(length as u8);
    } else {
        let bytes: Vec<u8> = length.to_be_bytes().into_iter().skip_while(|&b| b == 0).collect();
        out.push(0x80 | bytes.len() as u8);
        out.extend_from_slice(&bytes);
    }
    out.extend_from_slice(contents);
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

fn pem_decode(text: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let stop = start + text[start..].find(&end)?;
    let body: String = text[start..stop].chars().filter(|c| !c.is_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(body).ok()
}

/// (year, month, day) of a day count since 1970-01-01 in the proleptic Gregorian
/// calendar: shift to years starting in March (the leap day last), split into 400-year
/// eras of 146 097 days, then years of 365 days plus leap days.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = u32::try_from(day_of_year - (153 * month_index + 2) / 5 + 1).unwrap_or(1);
    let month = u32::try_from(if month_index < 10 { month_index + 3 } else { month_index - 9 }).unwrap_or(1);
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn selectors_name_the_day() {
        assert_eq!(selector_for(0, KeyKind::Ed25519), "19700101e");
        assert_eq!(selector_for(951_782_400, KeyKind::Ed25519), "20000229e");
        assert_eq!(selector_for(1_798_761_599, KeyKind::Rsa), "20261231r");
        assert_eq!(selectors_for(1_798_761_600), ["20270101e", "20270101r"]);
    }

    #[test]
    fn a_generated_key_gives_its_record_and_stays_private() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), "example.org", "20261206e", KeyKind::Ed25519).unwrap();
        let value = record_value(dir.path(), "example.org", "20261206e").unwrap();
        let public =
            value.strip_prefix("\"v=DKIM1; k=ed25519; h=sha256; p=").unwrap().strip_suffix('"').unwrap();
        assert_eq!(base64::engine::general_purpose::STANDARD.decode(public).unwrap().len(), 32);
        let path = key_path(dir.path(), "example.org", "20261206e");
        let mode = |p: &Path| {
            std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(p).unwrap().permissions()) & 0o777
        };
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(mode(&dir.path().join("dkim")), 0o700);
        std::fs::write(&path, "not a key").unwrap();
        assert!(matches!(record_value(dir.path(), "example.org", "20261206e"), Err(DkimError::Key(_))));
    }

    #[test]
    fn an_rsa_key_gives_the_public_key_openssl_gives() {
        let dir = tempfile::tempdir().unwrap();
        let path = key_path(dir.path(), "example.org", "rsa2048");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        let openssl = |args: &[&str]| {
            let output = std::process::Command::new("openssl").args(args).output().expect("openssl runs");
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
            output.stdout
        };
        let key = path.to_str().unwrap();
        openssl(&["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key]);
        let spki = openssl(&["pkey", "-in", key, "-pubout", "-outform", "DER"]);
        let value = record_value(dir.path(), "example.org", "rsa2048").unwrap();
        let joined: String = value.split('"').filter(|s| !s.trim().is_empty()).collect();
        let public = joined.strip_prefix("v=DKIM1; k=rsa; h=sha256; p=").unwrap();
        assert_eq!(base64::engine::general_purpose::STANDARD.decode(public).unwrap(), spki);
        assert!(value.split("\" \"").all(|s| s.trim_matches('"').len() <= 255), "{value}");
    }

    /// A made RSA key is 2048 bits, private like the Ed25519 one, readable by openssl as
    /// PKCS#8, and its record carries the public key openssl derives from it.
    #[test]
    fn a_generated_rsa_key_is_2048_bits_and_openssl_agrees() {
        let dir = tempfile::tempdir().unwrap();
        let made = generate_all(dir.path(), "example.org", 1_798_761_600).unwrap();
        assert_eq!(made, ["20270101e", "20270101r"]);
        let path = key_path(dir.path(), "example.org", "20270101r");
        let key = path.to_str().unwrap();
        let openssl = |args: &[&str]| {
            let output = std::process::Command::new("openssl").args(args).output().expect("openssl runs");
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
            output.stdout
        };
        let text = String::from_utf8(openssl(&["pkey", "-in", key, "-noout", "-text"])).unwrap();
        assert!(text.contains("Private-Key: (2048 bit, 2 primes)"), "{text}");
        let spki = openssl(&["pkey", "-in", key, "-pubout", "-outform", "DER"]);
        let value = record_value(dir.path(), "example.org", "20270101r").unwrap();
        let joined: String = value.split('"').filter(|s| !s.trim().is_empty()).collect();
        let public = joined.strip_prefix("v=DKIM1; k=rsa; h=sha256; p=").unwrap();
        assert_eq!(base64::engine::general_purpose::STANDARD.decode(public).unwrap(), spki);
        let mode = std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
        assert_eq!(mode & 0o777, 0o600);
    }
}
