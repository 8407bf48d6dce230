//! Self-signed certificates for `localserve` and tests, made with rcgen, so the binary
//! needs no TLS knowledge of its own.
//!
//! Invariant: `chain.pem` and `key.pem` in the directory are either both ours from one
//! generation or left alone; the key file is never readable by others (mode 0600), and
//! each file appears under its final name only once it is complete (write, sync, rename).

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair};

use super::{CertificateFiles, TlsError};

/// File name of the certificate chain `ensure_self_signed` writes.
pub const SELF_SIGNED_CHAIN_FILE: &str = "chain.pem";
/// File name of the private key `ensure_self_signed` writes.
pub const SELF_SIGNED_KEY_FILE: &str = "key.pem";

/// A self-signed certificate for `names` (the first is also the subject CN; names that
/// parse as IP addresses become IP SANs), written as `chain.pem` + `key.pem` in `dir`
/// unless both already exist, in which case they are returned untouched (so a restarted
/// `localserve` keeps the certificate a client may have pinned). The key is ECDSA P-256.
///
/// Blocking (file IO): call it before the executors start, or through `offload`.
pub fn ensure_self_signed(dir: &Path, names: &[String]) -> Result<CertificateFiles, TlsError> {
    let files =
        CertificateFiles { chain: dir.join(SELF_SIGNED_CHAIN_FILE), key: dir.join(SELF_SIGNED_KEY_FILE) };
    if files.chain.exists() && files.key.exists() {
        return Ok(files);
    }
    let Some(common_name) = names.first() else {
        return Err(TlsError::SelfSigned("no name for the certificate".to_string()));
    };
    let (chain_pem, key_pem) = generate(common_name, names)?;
    std::fs::create_dir_all(dir)?;
    // Key first: a crash between the two renames leaves only a key, and the next start
    // sees the pair incomplete and generates both again.
    write_new(&files.key, key_pem.as_bytes(), 0o600)?;
    write_new(&files.chain, chain_pem.as_bytes(), 0o644)?;
    Ok(files)
}

/// PEM of a self-signed certificate and its PKCS#8 key.
fn generate(common_name: &str, names: &[String]) -> Result<(String, String), TlsError> {
    let error = |e: rcgen::Error| TlsError::SelfSigned(e.to_string());
    let mut params = CertificateParams::new(names.to_vec()).map_err(error)?;
    let mut subject = DistinguishedName::new();
    subject.push(DnType::CommonName, common_name);
    params.distinguished_name = subject;
    // Validity stays at rcgen's defaults (1975 to 4096): a self-signed certificate is
    // trusted by pinning, and an expiry would only break a long-running localserve.
    let key = KeyPair::generate().map_err(error)?;
    let certificate = params.self_signed(&key).map_err(error)?;
    Ok((certificate.pem(), key.serialize_pem()))
}

/// Writes `bytes` to a temporary name beside `path`, syncs, then renames into place.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    let mut temporary_name = path.as_os_str().to_owned();
    temporary_name.push(".tmp");
    let temporary = Path::new(&temporary_name);
    // A leftover from a crash may have other permissions; create_new below then sets ours.
    match std::fs::remove_file(temporary) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => return Err(error),
        _ => {}
    }
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(temporary)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(temporary, path)
}
