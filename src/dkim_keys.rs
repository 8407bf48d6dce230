//! The DKIM keys the queue signs with: a domain's configured selectors
//! (`dkim_selectors` in the domains file), else every key file found in
//! `data/dkim/<domain>/`; a domain with neither gets an Ed25519 and an RSA-2048 key made
//! at start (`moxide_web::dkim::generate_all`), so signing works with no extra step. `moxide dns
//! records DOMAIN` prints the records to publish for them.

use std::path::Path;
use std::process::ExitCode;

use base64::Engine as _;
use moxide_actors::queue::sign::DkimKeys;
use moxide_protocols::auth::dkim::sign::SigningKey;

use crate::config::Config;

/// A domain's selectors: configured, else the key files present (sorted).
pub(crate) fn selectors(data_dir: &Path, domain: &str, configured: &[String]) -> Vec<String> {
    if !configured.is_empty() {
        return configured.to_vec();
    }
    let dir = data_dir.join("dkim").join(domain);
    let mut found: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| {
                    e.file_name().to_str().and_then(|n| n.strip_suffix(".pem")).map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// Makes the missing keys, then loads every domain's keys. A key file that cannot be
/// read is logged and skipped (that domain's mail goes out with the other keys, or
/// unsigned).
pub(crate) fn ensure_and_load(config: &Config, now_secs: i64) -> DkimKeys {
    let data_dir = &config.static_config.data_dir;
    let mut keys = DkimKeys::new();
    for (domain, entry) in &config.domains.domains {
        let mut names = selectors(data_dir, domain, &entry.dkim_selectors);
        if names.is_empty() {
            match moxide_web::dkim::generate_all(data_dir, domain, now_secs) {
                Ok(made) => {
                    tracing::info!(%domain, selectors = ?made, "made DKIM keys; publish them: moxide dns records {domain}");
                    names = made;
                }
                Err(error) => tracing::error!(%domain, %error, "cannot make DKIM keys; mail goes unsigned"),
            }
        }
        for selector in names {
            match load(data_dir, domain, &selector) {
                Some(key) => keys.add(domain, &selector, key),
                None => tracing::error!(%domain, %selector, "DKIM key unreadable; not used"),
            }
        }
    }
    keys
}

fn load(data_dir: &Path, domain: &str, selector: &str) -> Option<SigningKey> {
    let text = std::fs::read_to_string(moxide_web::dkim::key_path(data_dir, domain, selector)).ok()?;
    let start = text.find("-----BEGIN PRIVATE KEY-----")? + "-----BEGIN PRIVATE KEY-----".len();
    let end = start + text[start..].find("-----END PRIVATE KEY-----")?;
    let body: String = text[start..end].chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body).ok()?;
    SigningKey::from_pkcs8(&der)
}

/// `moxide dns records DOMAIN`: every record to publish for a local domain.
pub(crate) fn print_records(
    config_path: &Path,
    domain: &str,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let config = Config::load(config_path)?;
    let wanted = domain.trim_end_matches('.').to_lowercase();
    let spec = crate::config::directory_spec(&config.domains)
        .domains
        .into_iter()
        .find(|d| d.name == wanted)
        .ok_or_else(|| format!("{domain} is not a local domain"))?;
    let data_dir = &config.static_config.data_dir;
    let spec = moxide_actors::DomainSpec {
        dkim_selectors: selectors(data_dir, &spec.name, &spec.dkim_selectors),
        ..spec
    };
    for record in moxide_web::api::dns_records(data_dir, &spec, &config.static_config.hostname) {
        println!("{} {} {}\n    ; {}", record.name, record.record_type, record.value, record.purpose);
    }
    Ok(ExitCode::SUCCESS)
}
