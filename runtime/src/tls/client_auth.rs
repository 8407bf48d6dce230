//! Client certificates for SASL EXTERNAL (RFC 4422 Appendix A): the account is identified
//! by the certificate's public key, not by a CA's word about its names.
//!
//! Invariant: a connection reports a client public key only after the client proved in the
//! handshake that it holds the matching private key (RFC 8446 §4.4.3 CertificateVerify,
//! RFC 5246 §7.4.8); rustls runs that check through [`AcceptAnyClientCertificate`].

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};
use sha2::{Digest as _, Sha256};

/// Accepts any well-formed client certificate without checking who issued it, while the
/// handshake signature is still verified against the certificate's public key.
///
/// Why no chain verification: moxide (like mox) binds a client certificate to an account
/// by the SHA-256 of its SubjectPublicKeyInfo, which the account owner registers. Trust
/// then comes from that registration, not from a CA: a self-signed certificate is the
/// normal case, names and validity dates say nothing the registration doesn't, and a CA
/// list would only reject certificates users actually have. What must still hold is
/// possession of the private key, and rustls checks that through
/// [`verify_tls12_signature`]/[`verify_tls13_signature`] below. A certificate whose key
/// is not registered authenticates nobody; the SASL layer decides that, not TLS.
///
/// The certificate is requested, never required (`client_auth_mandatory` is false): most
/// clients have none and log in with a password.
#[derive(Debug)]
pub(super) struct AcceptAnyClientCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl AcceptAnyClientCertificate {
    /// Verifies handshake signatures with `algorithms` (the crypto provider's set).
    pub(super) fn new(algorithms: WebPkiSupportedAlgorithms) -> Self {
        AcceptAnyClientCertificate { algorithms }
    }
}

impl ClientCertVerifier for AcceptAnyClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // RFC 8446 §4.2.4: an empty certificate_authorities list lets the client send any
        // certificate it has.
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        // Only well-formedness: the public key must be readable, or the account could
        // never be found and the signature check below could not run.
        match client_spki(end_entity) {
            Some(_) => Ok(ClientCertVerified::assertion()),
            None => Err(rustls::Error::InvalidCertificate(CertificateError::BadEncoding)),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, certificate, signature, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, certificate, signature, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) of `certificate`, `None` when the
/// certificate does not parse.
pub(super) fn client_spki(certificate: &CertificateDer<'_>) -> Option<Vec<u8>> {
    let (_, parsed) = x509_parser::parse_x509_certificate(certificate.as_ref()).ok()?;
    Some(parsed.tbs_certificate.subject_pki.raw.to_vec())
}

/// SHA-256 of a SubjectPublicKeyInfo: the fingerprint accounts register.
pub(crate) fn spki_sha256(spki: &[u8]) -> [u8; 32] {
    Sha256::digest(spki).into()
}

/// The public key of a certificate (PEM, first certificate in the file, or DER) as the
/// DER SubjectPublicKeyInfo and its SHA-256: what an account registers for TLS client
/// certificate login (`moxide config tlspubkey add`).
pub fn certificate_public_key(certificate: &[u8]) -> Result<(Vec<u8>, [u8; 32]), super::TlsError> {
    use rustls_pki_types::pem::PemObject as _;
    let der = if certificate.starts_with(b"-----") {
        CertificateDer::pem_slice_iter(certificate)
            .next()
            .ok_or_else(|| super::TlsError::Config("no certificate in the PEM data".into()))?
            .map_err(|e| super::TlsError::Config(format!("bad PEM: {e}")))?
    } else {
        CertificateDer::from(certificate.to_vec())
    };
    let spki = client_spki(&der).ok_or_else(|| super::TlsError::Config("not an X.509 certificate".into()))?;
    let fingerprint = spki_sha256(&spki);
    Ok((spki, fingerprint))
}
