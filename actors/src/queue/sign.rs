//! DKIM signing of submitted mail before it is queued: the keys of each local domain
//! (loaded at start by the binary), and the signing of a message by
//! `moxide_protocols::auth::dkim::sign::Signer`, one per key (an Ed25519 and an RSA key
//! sign side by side, as mox does). A message still wholly in the session's memory (at
//! most `moxide_runtime::fs::SPOOL_WRITE_BYTES_MAX`, 64 KiB) is signed right there on
//! the executor ([`sign_bytes`]): bounded work (hashing that much and two signatures,
//! about 0.35 ms with RSA-2048), cheaper than the round trip to a helper thread it
//! replaces (docs/benchmarks-analysis.md). A larger one is read from its spool file in
//! 64 KiB pieces on a helper thread ([`sign_spool`]).
//! The signing domain (`d=`) is the domain of the message's `From:` header (RFC 6376
//! §3.5 lets any domain sign; DMARC, RFC 7489 §3.1.1, aligns `d=` with the `From:`
//! domain, not the envelope's), falling back to the MAIL FROM domain when the author was
//! not read (localserve). Submission already made sure the author is an address of the
//! authenticated account.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::PathBuf;
use std::sync::Arc;

use moxide_protocols::auth::dkim::sign::{Signer, SigningKey};

/// Bytes read from the spool per helper-thread step while signing.
const SIGN_READ_BYTES: usize = 64 * 1024;

/// The signing keys of the local domains.
#[derive(Debug, Default)]
pub struct DkimKeys {
    domains: HashMap<String, Vec<(String, SigningKey)>>,
}

impl DkimKeys {
    /// No keys.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `key`, published for `domain` under `selector`.
    pub fn add(&mut self, domain: &str, selector: &str, key: SigningKey) {
        self.domains.entry(domain.to_ascii_lowercase()).or_default().push((selector.to_owned(), key));
    }

    /// How many keys `domain` has.
    pub fn count(&self, domain: &str) -> usize {
        self.domains.get(&domain.to_ascii_lowercase()).map_or(0, Vec::len)
    }
}

/// The DKIM-Signature fields for `message`, signed by every key of `domain`; empty when
/// the domain has none. On the calling thread: for small messages only (module doc).
pub(crate) fn sign_bytes(keys: &DkimKeys, domain: &str, message: &[u8], now_secs: i64) -> Vec<u8> {
    let Some(list) = keys.domains.get(&domain.to_ascii_lowercase()) else { return Vec::new() };
    let mut signer = Signer::with_keys(domain, list.iter().map(|(selector, key)| (selector.as_str(), key)));
    signer.feed(message);
    fields(signer, now_secs)
}

/// Each key's signature field, one after the other; a key that fails is logged and left
/// out (the message goes out with the others, or unsigned).
fn fields(signer: Signer<'_>, now_secs: i64) -> Vec<u8> {
    let mut fields = Vec::new();
    for signed in signer.finish_each(now_secs) {
        match signed {
            Ok(field) => fields.extend_from_slice(field.as_bytes()),
            Err(error) => tracing::warn!(%error, "message not DKIM-signed"),
        }
    }
    fields
}

/// The DKIM-Signature fields for the message in `spool`, signed by every key of
/// `domain`; empty when the domain has none or the file cannot be read (logged: the
/// message goes unsigned rather than not at all).
pub(crate) async fn sign_spool(
    keys: Arc<DkimKeys>,
    domain: String,
    spool: PathBuf,
    now_secs: i64,
) -> Vec<u8> {
    if keys.count(&domain) == 0 {
        return Vec::new();
    }
    let result = moxide_runtime::offload(move || -> std::io::Result<Vec<u8>> {
        let Some(list) = keys.domains.get(&domain.to_ascii_lowercase()) else { return Ok(Vec::new()) };
        let mut signer =
            Signer::with_keys(&domain, list.iter().map(|(selector, key)| (selector.as_str(), key)));
        let mut file = std::fs::File::open(&spool)?;
        let mut buffer = vec![0; SIGN_READ_BYTES];
        loop {
            let read = file.read(&mut buffer)?;
            if read == 0 {
                break;
            }
            signer.feed(&buffer[..read]);
        }
        Ok(fields(signer, now_secs))
    })
    .await;
    match result {
        Ok(Ok(fields)) => fields,
        Ok(Err(error)) => {
            tracing::error!(%error, "reading the message to sign it failed; sent unsigned");
            Vec::new()
        }
        Err(panic) => {
            tracing::error!(panic = %panic.0, "signing panicked; sent unsigned");
            Vec::new()
        }
    }
}
