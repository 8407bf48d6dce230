//! TLS for listeners (implicit TLS, RFC 8314) and STARTTLS upgrades (RFC 3207, RFC 9051
//! §6.2.1), and as a client for the outbound queue (`client`: opportunistic, WebPKI-verified or DANE-verified, `verify`): rustls 0.23 with the ring provider, TLS 1.2 (RFC 5246) and 1.3 (RFC 8446)
//! only, certificates chosen by SNI (RFC 6066 §3) and reloaded when their files change,
//! ALPN (RFC 7301), client certificates identified by public key, and RFC 9266
//! tls-exporter channel binding.
//!
//! A [`TlsAcceptor`] is built once per listener and shared by all cores (an `Arc` inside);
//! [`TlsAcceptor::accept`] runs the server handshake on a [`TcpStream`] and yields a
//! [`TlsStream`].
//!
//! Invariants:
//! - Exactly one crypto provider (ring) is named explicitly; the process-wide default
//!   provider is never consulted, so another crate enabling aws-lc-rs changes nothing here.
//! - Every rustls server option that affects security is set explicitly in
//!   `server_config`, not left to the library's defaults.
//! - A handshake never waits longer than [`TlsSettings::handshake_timeout`].
//! - A reload replaces the whole certificate set or nothing: broken files keep the old
//!   set serving.

mod certs;
mod client;
mod client_auth;
mod connection;
mod self_signed;
#[cfg(test)]
mod tests;
mod verify;

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::ServerSessionMemoryCache;

use crate::net::TcpStream;
use certs::{CertificateResolver, CertificateSet, FileStamp};
use client_auth::AcceptAnyClientCertificate;

pub use certs::CERTIFICATE_FILE_BYTES_MAX;
pub use client::{ClientTlsStream, TlsConnector};
pub use client_auth::certificate_public_key;
pub use connection::{TLS_FILE_CHUNK_BYTES_MAX, TlsStream};
pub use self_signed::{SELF_SIGNED_CHAIN_FILE, SELF_SIGNED_KEY_FILE, ensure_self_signed};
pub use verify::{CertificateFailure, TlsaRecord, TrustRoots};

/// How long a client gets to complete the handshake when the settings don't say. A
/// silent client otherwise holds a connection slot forever; 30 s covers a handshake over
/// a slow mobile link with room to spare (a handful of round trips).
pub const HANDSHAKE_TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);

/// TLS 1.2 sessions remembered by id for resumption by clients that don't take tickets.
/// Shared by all cores; an entry is a few hundred bytes (plus a client certificate when
/// one was sent), so 1024 entries cost well under a MiB. Older entries are evicted.
pub const TLS12_SESSION_CACHE_MAX: usize = 1024;

/// TLS 1.3 session tickets sent after each full handshake (RFC 8446 §4.6.1). Tickets are
/// single-use at clients that follow RFC 8446 Appendix C.4, and mail clients open several
/// connections at once, so one ticket is too few; more only costs bytes.
pub const TLS13_TICKETS_PER_HANDSHAKE: usize = 2;

/// Longest ALPN protocol name: RFC 7301 §3.1 encodes each in one length byte and forbids
/// empty ones.
pub const ALPN_PROTOCOL_BYTES_MAX: usize = 255;

/// RFC 9266 §2: the exporter label for the tls-exporter channel binding type.
const CHANNEL_BINDING_LABEL: &[u8] = b"EXPORTER-Channel-Binding";

/// RFC 9266 §2: tls-exporter channel bindings are 32 bytes long.
const CHANNEL_BINDING_BYTES: usize = 32;

/// The certificate chain and private key of one certificate, as PEM files.
///
/// The chain file holds the end-entity certificate first, then any intermediates. The key
/// file holds one private key in PKCS#8, PKCS#1 (RSA) or SEC1 (EC) form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateFiles {
    /// PEM file with the certificate chain, leaf first.
    pub chain: PathBuf,
    /// PEM file with the private key.
    pub key: PathBuf,
}

/// Certificates and options for one listener.
///
/// The first certificate is the default; the others are chosen by SNI: the client's
/// requested host name is compared with each certificate's SAN DNS names, exactly or
/// against a "*.example.org" wildcard one label deep. A name no certificate covers, or no
/// SNI at all, gets the default.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    /// Certificate files; the first is the default. Must not be empty.
    pub certificates: Vec<CertificateFiles>,
    /// ALPN protocol names to accept, most preferred first, e.g. `[b"imap"]` or
    /// `[b"smtp"]`; empty turns ALPN off. A client that offers ALPN but none of these is
    /// refused with a `no_application_protocol` alert, as RFC 7301 §3.2 requires.
    pub alpn: Vec<Vec<u8>>,
    /// Ask for a client certificate (for SASL EXTERNAL); it is never required.
    pub request_client_certificate: bool,
    /// A handshake that takes longer fails with [`TlsError::Timeout`].
    pub handshake_timeout: Duration,
}

impl TlsSettings {
    /// Settings for `certificates` with no ALPN, no client certificates and the default
    /// handshake timeout.
    pub fn new(certificates: Vec<CertificateFiles>) -> TlsSettings {
        TlsSettings {
            certificates,
            alpn: Vec::new(),
            request_client_certificate: false,
            handshake_timeout: HANDSHAKE_TIMEOUT_DEFAULT,
        }
    }
}

/// The negotiated protocol version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsVersion {
    /// TLS 1.2, RFC 5246.
    Tls12,
    /// TLS 1.3, RFC 8446.
    Tls13,
}

impl fmt::Display for TlsVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TlsVersion::Tls12 => "TLSv1.2",
            TlsVersion::Tls13 => "TLSv1.3",
        })
    }
}

/// What the handshake negotiated, for logs, Received headers and SASL EXTERNAL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsInfo {
    /// Protocol version.
    pub version: TlsVersion,
    /// Cipher suite name as IANA lists it, e.g. `TLS13_AES_128_GCM_SHA256`.
    pub cipher: String,
    /// The ALPN protocol both sides agreed on.
    pub alpn: Option<Vec<u8>>,
    /// The host name the client asked for (SNI), lowercase.
    pub server_name: Option<String>,
    /// SHA-256 of the client certificate's DER SubjectPublicKeyInfo: what an account
    /// registers for SASL EXTERNAL. `None` without a client certificate.
    pub client_spki_sha256: Option<[u8; 32]>,
    /// The client certificate's DER SubjectPublicKeyInfo.
    pub client_spki: Option<Vec<u8>>,
}

/// Why TLS setup, a handshake or a certificate operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The connection failed underneath TLS (reset, closed mid-handshake), or a file
    /// operation failed.
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    /// The handshake failed at the TLS level (the peer's mistake or an incompatible peer:
    /// old protocol version, no common cipher or ALPN protocol, not TLS at all).
    #[error("handshake: {0}")]
    Handshake(String),
    /// The client did not complete the handshake within the handshake timeout.
    #[error("handshake timed out")]
    Timeout,
    /// A certificate chain file could not be read or parsed.
    #[error("certificate file {}: {message}", path.display())]
    Pem {
        /// The chain file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// No certificate was configured.
    #[error("no certificate configured")]
    NoCertificate,
    /// A private key file could not be read or parsed, or does not match its certificate.
    #[error("private key file {}: {message}", path.display())]
    Key {
        /// The key file.
        path: PathBuf,
        /// What was wrong.
        message: String,
    },
    /// STARTTLS on a connection that already is TLS (the session should have refused it).
    #[error("connection is already TLS")]
    AlreadyTls,
    /// The settings are unusable (e.g. an empty or too long ALPN name).
    #[error("tls settings: {0}")]
    Config(String),
    /// The server's certificate was refused by a verifying connector (WebPKI or DANE).
    #[error("certificate: {0:?}")]
    Certificate(CertificateFailure),
    /// rcgen could not make a self-signed certificate.
    #[error("self-signed certificate: {0}")]
    SelfSigned(String),
}

impl TlsError {
    /// Sorts an error from the handshake: rustls's own errors (carried inside the
    /// io::Error) are handshake failures; anything else is the connection's.
    fn from_handshake(error: io::Error) -> TlsError {
        match error.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
            Some(tls) => TlsError::Handshake(tls.to_string()),
            None => TlsError::Io(error),
        }
    }
}

/// Server-side TLS for one listener: certificates (reloadable), ALPN, client certificate
/// policy and handshake timeout. `Send + Sync + Clone`: built once, cloned into every core.
#[derive(Clone)]
pub struct TlsAcceptor {
    shared: Arc<AcceptorShared>,
}

struct AcceptorShared {
    acceptor: futures_rustls::TlsAcceptor,
    resolver: Arc<CertificateResolver>,
    provider: Arc<CryptoProvider>,
    files: Vec<CertificateFiles>,
    /// Stamps of `files` when they were last loaded (or last failed to load). The mutex
    /// also keeps two reloads from running at once.
    stamps: Mutex<Vec<Option<FileStamp>>>,
    handshake_timeout: Duration,
}

impl fmt::Debug for TlsAcceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsAcceptor")
            .field("files", &self.shared.files)
            .field("handshake_timeout", &self.shared.handshake_timeout)
            .finish_non_exhaustive()
    }
}

impl TlsAcceptor {
    /// Loads the certificates and builds the server configuration. Blocking (file IO):
    /// call it before the executors start or through `offload`.
    pub fn new(settings: TlsSettings) -> Result<TlsAcceptor, TlsError> {
        check_alpn(&settings.alpn)?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // Stamps before loading: a file replaced while we read it shows up as a change
        // at the next check instead of being missed.
        let stamps = certs::stamps(&settings.certificates);
        let set = CertificateSet::load(&settings.certificates, &provider)?;
        let resolver = Arc::new(CertificateResolver::new(set));
        let config = server_config(&settings, &provider, Arc::clone(&resolver))?;
        let shared = AcceptorShared {
            acceptor: futures_rustls::TlsAcceptor::from(Arc::new(config)),
            resolver,
            provider,
            files: settings.certificates,
            stamps: Mutex::new(stamps),
            handshake_timeout: settings.handshake_timeout,
        };
        Ok(TlsAcceptor { shared: Arc::new(shared) })
    }

    /// Re-reads the certificate files if any of them changed (size, mtime or inode since
    /// the last load); `Ok(true)` when the new set replaced the old one. Broken new files
    /// leave the old set serving: the error is logged and returned once, and the files
    /// are not read again until they change again. Handshakes already running finish
    /// with the certificate they chose.
    ///
    /// Blocking (file IO): the server calls it periodically from a helper thread.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let shared = &self.shared;
        // The stamps are plain data, consistent after any panic: poison is ignored.
        let mut recorded = shared.stamps.lock().unwrap_or_else(PoisonError::into_inner);
        let current = certs::stamps(&shared.files);
        if current == *recorded {
            return Ok(false);
        }
        *recorded = current;
        match CertificateSet::load(&shared.files, &shared.provider) {
            Ok(set) => {
                shared.resolver.replace(set);
                tracing::info!(files = ?shared.files, "reloaded TLS certificates");
                Ok(true)
            }
            Err(error) => {
                tracing::error!(%error, "TLS certificate files changed but do not load; keeping the previous ones");
                Err(error)
            }
        }
    }

    /// Runs the server handshake on `stream` (TLS 1.2 or 1.3) and returns the encrypted
    /// stream. Fails with [`TlsError::Timeout`] when the client takes longer than the
    /// handshake timeout; the connection is closed on any failure.
    pub async fn accept(&self, stream: TcpStream) -> Result<TlsStream, TlsError> {
        let handshake = self.shared.acceptor.accept(stream);
        match crate::time::timeout(self.shared.handshake_timeout, handshake).await {
            Err(crate::time::Elapsed) => Err(TlsError::Timeout),
            Ok(Err(error)) => Err(TlsError::from_handshake(error)),
            Ok(Ok(inner)) => TlsStream::new(inner),
        }
    }
}

/// RFC 7301 §3.1: protocol names are 1 to 255 bytes.
fn check_alpn(alpn: &[Vec<u8>]) -> Result<(), TlsError> {
    match alpn.iter().find(|name| name.is_empty() || name.len() > ALPN_PROTOCOL_BYTES_MAX) {
        Some(name) => Err(TlsError::Config(format!("ALPN protocol name of {} bytes", name.len()))),
        None => Ok(()),
    }
}

fn server_config(
    settings: &TlsSettings,
    provider: &Arc<CryptoProvider>,
    resolver: Arc<CertificateResolver>,
) -> Result<ServerConfig, TlsError> {
    let builder = ServerConfig::builder_with_provider(Arc::clone(provider))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|error| TlsError::Config(error.to_string()))?;
    let builder = if settings.request_client_certificate {
        let verifier = AcceptAnyClientCertificate::new(provider.signature_verification_algorithms);
        builder.with_client_cert_verifier(Arc::new(verifier))
    } else {
        builder.with_no_client_auth()
    };
    let mut config = builder.with_cert_resolver(resolver);
    config.alpn_protocols.clone_from(&settings.alpn);
    // The client's preference among our suites wins: a client without AES hardware
    // prefers ChaCha20, and every suite the provider offers is strong.
    config.ignore_client_order = false;
    // No 0-RTT: early data can be replayed (RFC 8446 §8), and a replayed SMTP or IMAP
    // command is never harmless.
    config.max_early_data_size = 0;
    config.send_half_rtt_data = false;
    config.session_storage = ServerSessionMemoryCache::new(TLS12_SESSION_CACHE_MAX);
    config.ticketer =
        rustls::crypto::ring::Ticketer::new().map_err(|error| TlsError::Config(error.to_string()))?;
    config.send_tls13_tickets = TLS13_TICKETS_PER_HANDSHAKE;
    // Old TLS 1.2 mail clients and servers often lack extended master secret (RFC 7627);
    // refusing them would push them to plaintext. Channel binding is TLS 1.3 only, so
    // nothing here relies on EMS.
    config.require_ems = false;
    config.enable_secret_extraction = false;
    Ok(config)
}
