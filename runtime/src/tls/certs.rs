//! Server certificates: PEM files loaded into a set that picks a certificate by SNI
//! (RFC 6066 §3), and the file stamps that tell when the files changed.
//!
//! Invariants: a [`CertificateSet`] always has a default certificate, and every
//! certificate in it has a key that matches its end-entity certificate (checked at load,
//! so a half-renewed pair never goes live). The resolver swaps whole sets; a handshake
//! sees either the old set or the new one, never a mix.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::SystemTime;

use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use super::{CertificateFiles, TlsError};

/// Largest certificate chain or key file we read. A chain of a leaf and two
/// intermediates with 4096-bit RSA keys is under 8 KiB of PEM; anything near this size is
/// a wrong path (a log file, a bundle of all CAs), refused before it is read into memory.
pub const CERTIFICATE_FILE_BYTES_MAX: u64 = 1 << 20;

/// One loaded certificate with the names (from its SAN DNS entries) it answers for.
#[derive(Debug)]
struct LoadedCertificate {
    key: Arc<CertifiedKey>,
    names: Vec<String>,
}

/// The certificates of one listener, indexed for SNI lookups.
#[derive(Debug)]
pub(super) struct CertificateSet {
    default: Arc<CertifiedKey>,
    /// Exact lowercase host names.
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// Wildcard certificates by the parent domain: "*.example.org" is stored as
    /// "example.org".
    wildcard: HashMap<String, Arc<CertifiedKey>>,
}

impl CertificateSet {
    /// Loads every file pair; the first is the default. When two certificates claim the
    /// same name the earlier one wins, so the order in the configuration decides.
    pub(super) fn load(files: &[CertificateFiles], provider: &CryptoProvider) -> Result<Self, TlsError> {
        let mut loaded = Vec::with_capacity(files.len());
        for pair in files {
            loaded.push(load_certificate(pair, provider)?);
        }
        let Some(first) = loaded.first() else {
            return Err(TlsError::NoCertificate);
        };
        let default = Arc::clone(&first.key);
        let mut exact = HashMap::new();
        let mut wildcard = HashMap::new();
        for certificate in &loaded {
            for name in &certificate.names {
                let key = Arc::clone(&certificate.key);
                match name.strip_prefix("*.") {
                    Some(parent) => wildcard.entry(parent.to_string()).or_insert(key),
                    None => exact.entry(name.clone()).or_insert(key),
                };
            }
        }
        Ok(CertificateSet { default, exact, wildcard })
    }

    /// The certificate for `server_name`: an exact name, else a wildcard one level up,
    /// else the default. An unknown or absent name gets the default rather than a failed
    /// handshake: mail clients often connect by IP address or an old host name, and SMTP
    /// clients mostly do not check the name (RFC 3207 §4.1 makes that a local matter).
    pub(super) fn select(&self, server_name: Option<&str>) -> Arc<CertifiedKey> {
        let Some(name) = server_name else {
            return Arc::clone(&self.default);
        };
        let name = normalize_name(name);
        if let Some(key) = self.exact.get(&name) {
            return Arc::clone(key);
        }
        let parent = name.split_once('.').map(|(_, parent)| parent);
        if let Some(key) = parent.and_then(|parent| self.wildcard.get(parent)) {
            return Arc::clone(key);
        }
        Arc::clone(&self.default)
    }
}

/// DNS names compare case-insensitively and without the root's trailing dot.
fn normalize_name(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

fn load_certificate(
    pair: &CertificateFiles,
    provider: &CryptoProvider,
) -> Result<LoadedCertificate, TlsError> {
    let chain_pem = read_bounded(&pair.chain)
        .map_err(|error| TlsError::Pem { path: pair.chain.clone(), message: error.to_string() })?;
    let chain = CertificateDer::pem_slice_iter(&chain_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsError::Pem { path: pair.chain.clone(), message: error.to_string() })?;
    let Some(leaf) = chain.first() else {
        return Err(TlsError::Pem { path: pair.chain.clone(), message: "no CERTIFICATE block".to_string() });
    };
    let names =
        certificate_names(leaf).map_err(|message| TlsError::Pem { path: pair.chain.clone(), message })?;
    let key_pem = read_bounded(&pair.key)
        .map_err(|error| TlsError::Key { path: pair.key.clone(), message: error.to_string() })?;
    // PrivateKeyDer's PEM reader takes the first of PKCS#8, PKCS#1 (RSA) and SEC1 (EC).
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|error| TlsError::Key { path: pair.key.clone(), message: error.to_string() })?;
    let key = CertifiedKey::from_der(chain, key, provider)
        .map_err(|error| TlsError::Key { path: pair.key.clone(), message: error.to_string() })?;
    Ok(LoadedCertificate { key: Arc::new(key), names })
}

fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    let length = std::fs::metadata(path)?.len();
    if length > CERTIFICATE_FILE_BYTES_MAX {
        return Err(std::io::Error::other(format!(
            "{length} bytes, more than the {CERTIFICATE_FILE_BYTES_MAX} a certificate or key file may have"
        )));
    }
    std::fs::read(path)
}

/// The DNS names in the certificate's subjectAltName (RFC 5280 §4.2.1.6), lowercased.
/// Only a certificate without SAN DNS names falls back to its subject CN: CAs always fill
/// the SAN, but a hand-made `openssl req -subj /CN=...` certificate may lack one.
fn certificate_names(der: &CertificateDer<'_>) -> Result<Vec<String>, String> {
    let (_, certificate) = x509_parser::parse_x509_certificate(der.as_ref()).map_err(|e| e.to_string())?;
    let alternative = certificate.subject_alternative_name().map_err(|e| e.to_string())?;
    let names: Vec<String> = alternative
        .iter()
        .flat_map(|extension| extension.value.general_names.iter())
        .filter_map(|general| match general {
            x509_parser::extensions::GeneralName::DNSName(name) => Some(normalize_name(name)),
            _ => None,
        })
        .collect();
    if !names.is_empty() {
        return Ok(names);
    }
    let common_names =
        certificate.subject().iter_common_name().filter_map(|name| name.as_str().ok()).map(normalize_name);
    Ok(common_names.collect())
}

/// Identifies one version of a file: a replaced file (new inode after a rename, or new
/// size or mtime after an in-place write) gets a different stamp. A missing file is
/// `None`, which differs from any stamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FileStamp {
    device: u64,
    inode: u64,
    length: u64,
    modified: Option<SystemTime>,
}

impl FileStamp {
    /// The stamp of the file `path` points to now (symlinks followed, so a certbot-style
    /// `live/` link that moves to a new file counts as a change).
    pub(super) fn of(path: &Path) -> Option<FileStamp> {
        use std::os::unix::fs::MetadataExt as _;
        let metadata = std::fs::metadata(path).ok()?;
        Some(FileStamp {
            device: metadata.dev(),
            inode: metadata.ino(),
            length: metadata.len(),
            modified: metadata.modified().ok(),
        })
    }
}

/// Stamps of every chain and key file, in configuration order.
pub(super) fn stamps(files: &[CertificateFiles]) -> Vec<Option<FileStamp>> {
    files.iter().flat_map(|pair| [FileStamp::of(&pair.chain), FileStamp::of(&pair.key)]).collect()
}

/// rustls's certificate hook: reads the current set on every full handshake. Shared by
/// all cores; a reload replaces the set under the write lock, which handshakes hold only
/// long enough to clone an `Arc`.
#[derive(Debug)]
pub(super) struct CertificateResolver {
    current: RwLock<Arc<CertificateSet>>,
}

impl CertificateResolver {
    pub(super) fn new(set: CertificateSet) -> Self {
        CertificateResolver { current: RwLock::new(Arc::new(set)) }
    }

    pub(super) fn replace(&self, set: CertificateSet) {
        // A panic while holding this lock can only come from Arc::clone or an assignment;
        // the data is a single Arc either way, never half-written, so poison is ignored.
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(set);
    }

    fn current(&self) -> Arc<CertificateSet> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }
}

impl ResolvesServerCert for CertificateResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current().select(client_hello.server_name()))
    }
}
