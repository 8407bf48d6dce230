//! Verified client TLS for the outbound queue: WebPKI (MTA-STS, RFC 8461 §4.2: a chain
//! to a trusted root and the MX host's name) and DANE (RFC 7672: the server's
//! certificates against the MX host's TLSA records).
//!
//! DANE, as RFC 7672 §3.1 has it for SMTP: a DANE-EE(3) record that matches the end
//! entity certificate (its full DER with selector 0, its SubjectPublicKeyInfo with
//! selector 1; exact, SHA-256 or SHA-512 with matching types 0, 1, 2) authenticates the
//! server with no check of names or dates (RFC 7672 §3.1.1); a DANE-TA(2) record that
//! matches a certificate the server sent makes that certificate the only trust anchor,
//! and the chain is then verified as WebPKI does, names and dates included (RFC 7672
//! §3.1.2, §3.2.2), against the name the caller connects to (the MX host). Other usages
//! (PKIX-TA, PKIX-EE) are unusable for SMTP (RFC 7672 §3.1.3) and the caller drops
//! them. A trust anchor must be in the chain the server sends (RFC 7671 §5.2.2 asks
//! servers to send it); a key published only in DNS is not used.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest as _, Sha256, Sha512};

use super::TlsError;

/// Trust anchors for WebPKI verification: the system's bundle and any extra roots the
/// configuration names (a private CA in tests or closed networks).
#[derive(Clone)]
pub struct TrustRoots {
    pub(crate) store: Arc<RootCertStore>,
}

impl std::fmt::Debug for TrustRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustRoots").field("roots", &self.store.len()).finish()
    }
}

impl TrustRoots {
    /// Roots from PEM bundles (e.g. `/etc/ssl/certs/ca-certificates.crt`). A file that
    /// cannot be read is an error; certificates in it that cannot be parsed are skipped
    /// (system bundles hold some that webpki refuses). No root at all is an error.
    pub fn load(files: &[PathBuf]) -> Result<TrustRoots, TlsError> {
        let mut store = RootCertStore::empty();
        for path in files {
            let certificates = CertificateDer::pem_file_iter(path)
                .map_err(|error| TlsError::Pem { path: path.clone(), message: error.to_string() })?
                .filter_map(Result::ok);
            store.add_parsable_certificates(certificates);
        }
        if store.is_empty() {
            return Err(TlsError::Config("no trusted root certificates".into()));
        }
        Ok(TrustRoots { store: Arc::new(store) })
    }

    /// How many roots there are.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// Whether there are none (never, for a loaded set).
    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }
}

/// One TLSA record (RFC 6698 §2.1): certificate usage, selector, matching type, data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsaRecord {
    /// 2 (DANE-TA) or 3 (DANE-EE); others never match.
    pub usage: u8,
    /// 0: the whole certificate; 1: its SubjectPublicKeyInfo.
    pub selector: u8,
    /// 0: exact; 1: SHA-256; 2: SHA-512.
    pub matching: u8,
    /// What the selected bytes (or their digest) must equal.
    pub data: Vec<u8>,
}

impl TlsaRecord {
    /// Whether this record can be used for SMTP (RFC 7672 §3.1): DANE-TA or DANE-EE,
    /// a known selector and matching type.
    pub fn is_usable(&self) -> bool {
        matches!(self.usage, 2 | 3) && self.selector <= 1 && self.matching <= 2
    }

    /// Whether `certificate` (DER) matches this record's selector, matching type and data.
    pub fn matches(&self, certificate: &[u8]) -> bool {
        let selected = match self.selector {
            0 => certificate.to_vec(),
            1 => match x509_parser::parse_x509_certificate(certificate) {
                Ok((_, parsed)) => parsed.tbs_certificate.subject_pki.raw.to_vec(),
                Err(_) => return false,
            },
            _ => return false,
        };
        match self.matching {
            0 => selected == self.data,
            1 => Sha256::digest(&selected).as_slice() == self.data.as_slice(),
            2 => Sha512::digest(&selected).as_slice() == self.data.as_slice(),
            _ => false,
        }
    }
}

/// Why a certificate was not accepted, in the terms TLS reports use (RFC 8460 §4.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificateFailure {
    /// No TLSA record matched (DANE).
    TlsaMismatch,
    /// The certificate is not valid for the host's name.
    HostMismatch,
    /// The certificate has expired (or is not yet valid).
    Expired,
    /// No chain to a trusted root (self-signed included).
    NotTrusted,
    /// Anything else about the certificate.
    Other(String),
}

impl CertificateFailure {
    /// Sorts rustls's verdict.
    pub(crate) fn from_rustls(error: &rustls::Error) -> Option<CertificateFailure> {
        let rustls::Error::InvalidCertificate(error) = error else { return None };
        Some(match error {
            CertificateError::ApplicationVerificationFailure => CertificateFailure::TlsaMismatch,
            CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
                CertificateFailure::HostMismatch
            }
            CertificateError::Expired
            | CertificateError::ExpiredContext { .. }
            | CertificateError::NotValidYet
            | CertificateError::NotValidYetContext { .. } => CertificateFailure::Expired,
            CertificateError::UnknownIssuer | CertificateError::BadSignature => {
                CertificateFailure::NotTrusted
            }
            other => CertificateFailure::Other(format!("{other:?}")),
        })
    }
}

/// WebPKI verification against `roots`, with `provider`'s algorithms.
pub(crate) fn webpki_verifier(
    roots: &TrustRoots,
    provider: &Arc<CryptoProvider>,
) -> Result<Arc<dyn ServerCertVerifier>, TlsError> {
    let verifier =
        WebPkiServerVerifier::builder_with_provider(Arc::clone(&roots.store), Arc::clone(provider))
            .build()
            .map_err(|error| TlsError::Config(error.to_string()))?;
    Ok(verifier)
}

/// Verifies a server against TLSA records (module doc).
#[derive(Debug)]
pub(crate) struct DaneVerifier {
    records: Vec<TlsaRecord>,
    provider: Arc<CryptoProvider>,
}

impl DaneVerifier {
    pub(crate) fn new(records: Vec<TlsaRecord>, provider: Arc<CryptoProvider>) -> DaneVerifier {
        DaneVerifier { records: records.into_iter().filter(TlsaRecord::is_usable).collect(), provider }
    }

    /// The DANE-TA path: a record matching a certificate of the chain makes it the
    /// anchor; the chain must then verify to it for `server_name`.
    fn verify_by_anchor(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<(), rustls::Error> {
        let mut last = rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure);
        for record in self.records.iter().filter(|record| record.usage == 2) {
            for anchor in intermediates.iter().filter(|c| record.matches(c)) {
                let mut store = RootCertStore::empty();
                if store.add(anchor.clone()).is_err() {
                    continue;
                }
                let verifier =
                    WebPkiServerVerifier::builder_with_provider(Arc::new(store), Arc::clone(&self.provider))
                        .build()
                        .map_err(|error| rustls::Error::General(error.to_string()))?;
                match verifier.verify_server_cert(end_entity, intermediates, server_name, &[], now) {
                    Ok(_) => return Ok(()),
                    Err(error) => last = error,
                }
            }
        }
        Err(last)
    }
}

impl ServerCertVerifier for DaneVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // RFC 7672 §3.1.1: DANE-EE ignores names, dates and chains.
        if self.records.iter().any(|record| record.usage == 3 && record.matches(end_entity)) {
            return Ok(ServerCertVerified::assertion());
        }
        self.verify_by_anchor(end_entity, intermediates, server_name, now)
            .map(|()| ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A private CA and a server certificate it issued for `name`.
    struct Chain {
        ca: CertificateDer<'static>,
        ca_pem: String,
        server: CertificateDer<'static>,
    }

    fn chain(name: &str) -> Chain {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(rcgen::DnType::CommonName, "test CA");
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let server =
            rcgen::CertificateParams::new(vec![name.to_string()]).unwrap().signed_by(&key, &issuer).unwrap();
        Chain { ca: ca.der().clone(), ca_pem: ca.pem(), server: server.der().clone() }
    }

    fn spki_sha256(certificate: &[u8]) -> Vec<u8> {
        let (_, parsed) = x509_parser::parse_x509_certificate(certificate).unwrap();
        Sha256::digest(parsed.tbs_certificate.subject_pki.raw).to_vec()
    }

    fn verify(
        records: Vec<TlsaRecord>,
        chain: &Chain,
        name: &str,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verifier = DaneVerifier::new(records, Arc::new(rustls::crypto::ring::default_provider()));
        let name = ServerName::try_from(name.to_string()).unwrap();
        verifier.verify_server_cert(
            &chain.server,
            std::slice::from_ref(&chain.ca),
            &name,
            &[],
            UnixTime::now(),
        )
    }

    fn failure(result: Result<ServerCertVerified, rustls::Error>) -> CertificateFailure {
        CertificateFailure::from_rustls(&result.err().unwrap()).unwrap()
    }

    #[test]
    fn dane_ee_matches_the_key_or_the_certificate_whatever_the_name() {
        let chain = chain("mx.example");
        let by_key = TlsaRecord { usage: 3, selector: 1, matching: 1, data: spki_sha256(&chain.server) };
        // RFC 7672 §3.1.1: no name check for DANE-EE.
        assert!(verify(vec![by_key], &chain, "other.example").is_ok());
        let whole = TlsaRecord { usage: 3, selector: 0, matching: 0, data: chain.server.to_vec() };
        assert!(verify(vec![whole], &chain, "mx.example").is_ok());
        let sha512 =
            TlsaRecord { usage: 3, selector: 0, matching: 2, data: Sha512::digest(&chain.server).to_vec() };
        assert!(verify(vec![sha512], &chain, "mx.example").is_ok());
        let wrong = TlsaRecord { usage: 3, selector: 1, matching: 1, data: vec![0; 32] };
        assert_eq!(failure(verify(vec![wrong], &chain, "mx.example")), CertificateFailure::TlsaMismatch);
    }

    #[test]
    fn dane_ta_anchors_the_chain_and_checks_the_name() {
        let chain = chain("mx.example");
        let anchor = TlsaRecord { usage: 2, selector: 1, matching: 1, data: spki_sha256(&chain.ca) };
        assert!(verify(vec![anchor.clone()], &chain, "mx.example").is_ok());
        assert_eq!(failure(verify(vec![anchor], &chain, "other.example")), CertificateFailure::HostMismatch);
        // The server's own certificate is no anchor for itself.
        let not_a_ca = TlsaRecord { usage: 2, selector: 1, matching: 1, data: spki_sha256(&chain.server) };
        assert!(verify(vec![not_a_ca], &chain, "mx.example").is_err());
        // PKIX usages are dropped for SMTP (RFC 7672 §3.1.3).
        let pkix = TlsaRecord { usage: 1, selector: 1, matching: 1, data: spki_sha256(&chain.server) };
        assert!(!pkix.is_usable());
        assert!(verify(vec![pkix], &chain, "mx.example").is_err());
    }

    #[test]
    fn webpki_needs_a_trusted_root_and_the_name() {
        let chain = chain("mx.example");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, &chain.ca_pem).unwrap();
        let roots = TrustRoots::load(&[path]).unwrap();
        assert_eq!(roots.len(), 1);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = webpki_verifier(&roots, &provider).unwrap();
        let check = |name: &str| {
            let name = ServerName::try_from(name.to_string()).unwrap();
            verifier.verify_server_cert(&chain.server, &[], &name, &[], UnixTime::now())
        };
        assert!(check("mx.example").is_ok());
        assert_eq!(failure(check("other.example")), CertificateFailure::HostMismatch);
        let stranger = self::chain("mx.example");
        let name = ServerName::try_from("mx.example".to_string()).unwrap();
        let foreign = verifier.verify_server_cert(&stranger.server, &[], &name, &[], UnixTime::now());
        assert_eq!(failure(foreign), CertificateFailure::NotTrusted);
        assert!(TrustRoots::load(&[]).is_err());
    }
}
