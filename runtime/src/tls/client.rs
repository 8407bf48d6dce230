//! Client-side TLS for the outbound queue: STARTTLS to other mail servers (RFC 3207)
//! and implicit TLS to smarthosts (RFC 8314), with rustls 0.23 and the ring provider.
//!
//! Three modes: [`TlsConnector::opportunistic_unverified`] encrypts, but the server's
//! certificate is not checked against any authority or name, so an active attacker can
//! still intercept it (RFC 7435's opportunistic security: better than plaintext, never
//! reported as authenticated), which is what SMTP between servers does without MTA-STS
//! (RFC 8461) or DANE (RFC 7672); [`TlsConnector::webpki`] verifies the chain and the
//! host name against trusted roots (MTA-STS); [`TlsConnector::dane`] verifies against
//! TLSA records (`verify`). In every mode the handshake signature is checked against
//! the certificate's key, and TLS 1.2 and 1.3 only are offered.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_lite::io::{AsyncRead, AsyncWrite};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{
    CryptoProvider, WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature,
};
use rustls::{ClientConfig, DigitallySignedStruct, ProtocolVersion, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use super::verify::{CertificateFailure, DaneVerifier, TlsaRecord, TrustRoots};
use super::{HANDSHAKE_TIMEOUT_DEFAULT, TlsError, TlsVersion};
use crate::net::TcpStream;

/// Client TLS settings, shared by all connections (an `Arc` inside).
#[derive(Clone)]
pub struct TlsConnector {
    inner: futures_rustls::TlsConnector,
    handshake_timeout: Duration,
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConnector").finish_non_exhaustive()
    }
}

impl TlsConnector {
    /// Encrypts without verifying the server's certificate (see the module doc). The
    /// name says it: nothing learned over such a connection is authenticated.
    pub fn opportunistic_unverified() -> Result<TlsConnector, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = AcceptAnyServerCertificate { algorithms: provider.signature_verification_algorithms };
        TlsConnector::with_verifier(provider, Arc::new(verifier))
    }

    /// Verifies the server's chain to one of `roots` and its certificate against the
    /// name given to [`TlsConnector::connect`] (MTA-STS, RFC 8461 §4.2; HTTPS).
    pub fn webpki(roots: &TrustRoots) -> Result<TlsConnector, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = super::verify::webpki_verifier(roots, &provider)?;
        TlsConnector::with_verifier(provider, verifier)
    }

    /// Verifies the server against `records`, the MX host's TLSA records (RFC 7672;
    /// unusable records are dropped; the module `verify` says how each usage checks).
    pub fn dane(records: Vec<TlsaRecord>) -> Result<TlsConnector, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = DaneVerifier::new(records, Arc::clone(&provider));
        TlsConnector::with_verifier(provider, Arc::new(verifier))
    }

    fn with_verifier(
        provider: Arc<CryptoProvider>,
        verifier: Arc<dyn ServerCertVerifier>,
    ) -> Result<TlsConnector, TlsError> {
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|error| TlsError::Config(error.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        // No 0-RTT: replayable early data is never harmless for SMTP.
        config.enable_early_data = false;
        config.enable_sni = true;
        Ok(TlsConnector {
            inner: futures_rustls::TlsConnector::from(Arc::new(config)),
            handshake_timeout: HANDSHAKE_TIMEOUT_DEFAULT,
        })
    }

    /// Runs the client handshake on `stream`, naming `server_name` (SNI; an IP address
    /// when no name is known).
    pub async fn connect(&self, server_name: &str, stream: TcpStream) -> Result<ClientTlsStream, TlsError> {
        let name = ServerName::try_from(server_name.to_owned())
            .map_err(|error| TlsError::Config(format!("server name {server_name:?}: {error}")))?;
        let handshake = self.inner.connect(name, stream);
        match crate::time::timeout(self.handshake_timeout, handshake).await {
            Err(crate::time::Elapsed) => Err(TlsError::Timeout),
            Ok(Err(error)) => {
                let failure = error
                    .get_ref()
                    .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                    .and_then(CertificateFailure::from_rustls);
                Err(failure.map_or_else(|| TlsError::from_handshake(error), TlsError::Certificate))
            }
            Ok(Ok(inner)) => {
                let connection = inner.get_ref().1;
                let version = match connection.protocol_version() {
                    Some(ProtocolVersion::TLSv1_3) => TlsVersion::Tls13,
                    Some(ProtocolVersion::TLSv1_2) => TlsVersion::Tls12,
                    other => {
                        return Err(TlsError::Handshake(format!("unexpected protocol version {other:?}")));
                    }
                };
                let cipher = connection
                    .negotiated_cipher_suite()
                    .map(|suite| {
                        suite.suite().as_str().map_or_else(|| format!("{:?}", suite.suite()), str::to_string)
                    })
                    .unwrap_or_default();
                Ok(ClientTlsStream { inner: Box::new(inner), version, cipher })
            }
        }
    }
}

/// An established client-side TLS connection: `AsyncRead` + `AsyncWrite` of plaintext.
#[derive(Debug)]
pub struct ClientTlsStream {
    inner: Box<futures_rustls::client::TlsStream<TcpStream>>,
    version: TlsVersion,
    cipher: String,
}

impl ClientTlsStream {
    /// The negotiated version.
    pub fn version(&self) -> TlsVersion {
        self.version
    }

    /// The negotiated cipher suite's IANA name.
    pub fn cipher(&self) -> &str {
        &self.cipher
    }

    /// The server's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.get_ref().0.peer_addr()
    }

    /// RFC 9266 tls-exporter channel binding (SCRAM -PLUS to a smarthost), TLS 1.3
    /// only, for the reasons `TlsStream::channel_binding` gives on the server side.
    pub fn channel_binding(&self) -> Option<Vec<u8>> {
        if self.version != TlsVersion::Tls13 {
            return None;
        }
        let connection = self.inner.get_ref().1;
        connection
            .export_keying_material(
                vec![0u8; super::CHANNEL_BINDING_BYTES],
                super::CHANNEL_BINDING_LABEL,
                None,
            )
            .ok()
    }
}

impl AsyncRead for ClientTlsStream {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for ClientTlsStream {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut *self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.inner).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *self.inner).poll_close(cx)
    }
}

/// Accepts any server certificate; verifies only the handshake signature against its
/// key. Opportunistic TLS (module doc): the alternative for a server with a certificate
/// we cannot verify is plaintext, which is worse.
#[derive(Debug)]
struct AcceptAnyServerCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptAnyServerCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
