//! TLS tests over real loopback sockets: our acceptor inside the runtime, and on a plain
//! thread either a blocking rustls client (which pins the test certificates instead of
//! trusting a CA) or `openssl s_client`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt as _, AsyncWriteExt as _};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{WebPkiSupportedAlgorithms, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, HandshakeKind, SignatureScheme,
    StreamOwned, SupportedProtocolVersion,
};
use rustls_pki_types::pem::PemObject;

use super::*;
use crate::net::{TcpListener, bind_per_core};
use crate::{RuntimeConfig, Stream, run};

const TLS13: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
const TLS12: &[&SupportedProtocolVersion] = &[&rustls::version::TLS12];

/// Client sockets give up after this, so a dead server fails the test instead of hanging it.
const CLIENT_IO_TIMEOUT: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------- fixtures

#[derive(Clone)]
struct TestCertificate {
    files: CertificateFiles,
    der: CertificateDer<'static>,
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

/// A fresh self-signed certificate for `names` in `dir/label/`.
fn certificate(dir: &Path, label: &str, names: &[&str]) -> TestCertificate {
    let names: Vec<String> = names.iter().map(|name| name.to_string()).collect();
    let files = ensure_self_signed(&dir.join(label), &names).unwrap();
    let der = CertificateDer::from_pem_file(&files.chain).unwrap();
    TestCertificate { files, der }
}

fn settings(certificates: &[&TestCertificate]) -> TlsSettings {
    TlsSettings::new(certificates.iter().map(|certificate| certificate.files.clone()).collect())
}

/// Trusts exactly the given certificates (by their DER bytes), still checking the
/// handshake signatures: a pinning verifier, as a client of a self-signed server uses.
#[derive(Debug)]
struct TrustPinned {
    pinned: Vec<CertificateDer<'static>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for TrustPinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.pinned.iter().any(|pinned| pinned.as_ref() == end_entity.as_ref()) {
            true => Ok(ServerCertVerified::assertion()),
            false => Err(rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)),
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

/// A client identity: certificate chain and key.
type ClientIdentity = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn client_config(
    pinned: &[&TestCertificate],
    versions: &[&'static SupportedProtocolVersion],
    identity: Option<ClientIdentity>,
    alpn: &[&[u8]],
) -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = TrustPinned {
        pinned: pinned.iter().map(|certificate| certificate.der.clone()).collect(),
        algorithms: provider.signature_verification_algorithms,
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier));
    let mut config = match identity {
        Some((chain, key)) => builder.with_client_auth_cert(chain, key).unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|name| name.to_vec()).collect();
    Arc::new(config)
}

fn connect(address: SocketAddr) -> std::net::TcpStream {
    let socket = std::net::TcpStream::connect(address).unwrap();
    socket.set_read_timeout(Some(CLIENT_IO_TIMEOUT)).unwrap();
    socket.set_write_timeout(Some(CLIENT_IO_TIMEOUT)).unwrap();
    socket
}

type ClientTls = StreamOwned<ClientConnection, std::net::TcpStream>;

/// Runs the client handshake on `socket` to completion.
fn client_handshake(
    socket: std::net::TcpStream,
    config: &Arc<ClientConfig>,
    server_name: &str,
) -> Result<ClientTls, std::io::Error> {
    let name = ServerName::try_from(server_name.to_string()).unwrap();
    let connection = ClientConnection::new(Arc::clone(config), name).unwrap();
    let mut tls = StreamOwned::new(connection, socket);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    Ok(tls)
}

fn read_line(reader: &mut impl Read) -> Vec<u8> {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.last() != Some(&b'\n') {
        assert_eq!(reader.read(&mut byte).unwrap(), 1, "connection closed mid-line");
        line.push(byte[0]);
    }
    line
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// What the client saw on one connection of the echo protocol.
struct ClientView {
    server_certificate: Vec<u8>,
    kind: Option<HandshakeKind>,
    channel_binding_ours: Option<Vec<u8>>,
    channel_binding_server: String,
    alpn: Option<Vec<u8>>,
}

/// One connection of the echo protocol: handshake, read the server's channel binding
/// line, send "hello", expect "HELLO".
fn echo_client(address: SocketAddr, config: &Arc<ClientConfig>, server_name: &str) -> ClientView {
    let mut tls = client_handshake(connect(address), config, server_name).unwrap();
    let line = read_line(&mut tls);
    tls.write_all(b"hello").unwrap();
    let mut reply = [0u8; 5];
    tls.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"HELLO");
    let channel_binding_ours = (tls.conn.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3))
        .then(|| tls.conn.export_keying_material(vec![0u8; 32], b"EXPORTER-Channel-Binding", None).unwrap());
    ClientView {
        server_certificate: tls.conn.peer_certificates().unwrap()[0].to_vec(),
        kind: tls.conn.handshake_kind(),
        channel_binding_ours,
        channel_binding_server: String::from_utf8(line).unwrap().trim_end().to_string(),
        alpn: tls.conn.alpn_protocol().map(<[u8]>::to_vec),
    }
}

/// Runs `server` with a one-core runtime on a fresh loopback listener and `client` on a
/// thread; returns the client's result once both are done. A client that panics ends the
/// server too (it would otherwise wait for connections that never come), and the panic
/// fails the test.
fn with_server<C, R, S, F>(client: C, server: S) -> R
where
    C: FnOnce(SocketAddr) -> R + Send + 'static,
    R: Send + 'static,
    S: FnOnce(TcpListener) -> F + Send + 'static,
    F: std::future::Future<Output = ()> + 'static,
{
    use std::sync::atomic::{AtomicBool, Ordering};
    let (address, mut sockets) = bind_per_core("127.0.0.1:0".parse().unwrap(), 1).unwrap();
    let socket = sockets.pop().unwrap();
    let client_failed = Arc::new(AtomicBool::new(false));
    let failed = Arc::clone(&client_failed);
    let client = std::thread::spawn(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| client(address)));
        failed.store(result.is_err(), Ordering::SeqCst);
        result
    });
    let config = RuntimeConfig { pin_to_cpus: false, ..RuntimeConfig::default() };
    run(&config, vec![(socket, server, client_failed)], |_, (socket, server, client_failed)| async move {
        let client_gone = async move {
            while !client_failed.load(Ordering::SeqCst) {
                crate::time::sleep(Duration::from_millis(20)).await;
            }
        };
        futures_lite::future::or(server(socket.into_listener().unwrap()), client_gone).await;
    })
    .unwrap();
    match client.join().unwrap() {
        Ok(result) => result,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// Result of one server-side connection of the echo protocol.
type Served = Result<TlsInfo, TlsError>;

/// Serves `connections` connections of the echo protocol, in order, recording each
/// handshake's outcome.
fn echo_server(
    acceptor: TlsAcceptor,
    connections: usize,
    served: Arc<Mutex<Vec<Served>>>,
) -> impl FnOnce(TcpListener) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>> + Send {
    move |listener| {
        Box::pin(async move {
            for _ in 0..connections {
                let tcp = listener.accept().await.unwrap();
                match acceptor.accept(tcp).await {
                    Ok(mut tls) => {
                        served.lock().unwrap().push(Ok(tls.info()));
                        echo(&mut tls).await;
                    }
                    Err(error) => served.lock().unwrap().push(Err(error)),
                }
            }
        })
    }
}

async fn echo(tls: &mut TlsStream) {
    let binding = tls.channel_binding().map_or_else(|| "-".to_string(), |binding| hex(&binding));
    tls.write_all(format!("{binding}\n").as_bytes()).await.unwrap();
    tls.flush().await.unwrap();
    let mut request = [0u8; 5];
    tls.read_exact(&mut request).await.unwrap();
    tls.write_all(&request.to_ascii_uppercase()).await.unwrap();
    tls.close().await.unwrap();
}

/// Runs the echo protocol: `clients` is the client side, getting the address.
fn echo_run<C, R>(acceptor: TlsAcceptor, connections: usize, clients: C) -> (R, Vec<Served>)
where
    C: FnOnce(SocketAddr) -> R + Send + 'static,
    R: Send + 'static,
{
    let served = Arc::new(Mutex::new(Vec::new()));
    let result = with_server(clients, echo_server(acceptor, connections, Arc::clone(&served)));
    let served = std::mem::take(&mut *served.lock().unwrap());
    assert_eq!(served.len(), connections);
    (result, served)
}

// ---------------------------------------------------------------- handshakes

#[test]
fn tls13_and_tls12_handshakes_carry_data_both_ways() {
    let dir = temp_dir();
    let server_certificate = certificate(dir.path(), "a", &["mail.example"]);
    let acceptor = TlsAcceptor::new(settings(&[&server_certificate])).unwrap();
    let tls13 = client_config(&[&server_certificate], TLS13, None, &[]);
    let tls12 = client_config(&[&server_certificate], TLS12, None, &[]);
    let (views, served) = echo_run(acceptor, 2, move |address| {
        [echo_client(address, &tls13, "mail.example"), echo_client(address, &tls12, "mail.example")]
    });
    let infos: Vec<TlsInfo> = served.into_iter().map(Result::unwrap).collect();
    assert_eq!(infos[0].version, TlsVersion::Tls13);
    assert!(infos[0].cipher.starts_with("TLS13_"), "{}", infos[0].cipher);
    assert_eq!(infos[1].version, TlsVersion::Tls12);
    assert!(infos[1].cipher.starts_with("TLS_ECDHE_"), "{}", infos[1].cipher);
    for (view, info) in views.iter().zip(&infos) {
        assert_eq!(view.server_certificate, server_certificate.der.to_vec());
        assert_eq!(info.server_name.as_deref(), Some("mail.example"));
        assert_eq!(info.alpn, None);
        assert_eq!(info.client_spki_sha256, None);
        assert_eq!(info.client_spki, None);
    }
}

/// RFC 9266: the server's tls-exporter value equals the client's on TLS 1.3; TLS 1.2
/// gives none.
#[test]
fn channel_binding_matches_the_client_on_tls13_only() {
    let dir = temp_dir();
    let server_certificate = certificate(dir.path(), "a", &["mail.example"]);
    let acceptor = TlsAcceptor::new(settings(&[&server_certificate])).unwrap();
    let tls13 = client_config(&[&server_certificate], TLS13, None, &[]);
    let tls12 = client_config(&[&server_certificate], TLS12, None, &[]);
    let (views, _) = echo_run(acceptor, 3, move |address| {
        [
            echo_client(address, &tls13, "mail.example"),
            echo_client(address, &tls13, "mail.example"),
            echo_client(address, &tls12, "mail.example"),
        ]
    });
    let first = views[0].channel_binding_ours.clone().unwrap();
    assert_eq!(first.len(), 32);
    assert_eq!(views[0].channel_binding_server, hex(&first));
    let second = views[1].channel_binding_ours.clone().unwrap();
    assert_eq!(views[1].channel_binding_server, hex(&second));
    assert_ne!(first, second, "each connection binds to its own keys");
    assert_eq!(views[2].channel_binding_ours, None);
    assert_eq!(views[2].channel_binding_server, "-");
}

/// Tickets are on: a second connection with the same client config resumes, on both
/// versions.
#[test]
fn sessions_resume() {
    let dir = temp_dir();
    let server_certificate = certificate(dir.path(), "a", &["mail.example"]);
    let acceptor = TlsAcceptor::new(settings(&[&server_certificate])).unwrap();
    let tls13 = client_config(&[&server_certificate], TLS13, None, &[]);
    let tls12 = client_config(&[&server_certificate], TLS12, None, &[]);
    let (kinds, _) = echo_run(acceptor, 4, move |address| {
        [&tls13, &tls13, &tls12, &tls12].map(|config| echo_client(address, config, "mail.example").kind)
    });
    assert_eq!(kinds.to_vec(), [Some(HandshakeKind::Full), Some(HandshakeKind::Resumed)].repeat(2));
}

#[test]
fn alpn_is_negotiated_and_a_foreign_protocol_refused() {
    let dir = temp_dir();
    let server_certificate = certificate(dir.path(), "a", &["mail.example"]);
    let mut imap = settings(&[&server_certificate]);
    imap.alpn = vec![b"imap".to_vec()];
    let acceptor = TlsAcceptor::new(imap).unwrap();
    let offers_imap = client_config(&[&server_certificate], TLS13, None, &[b"h2", b"imap"]);
    let offers_h2 = client_config(&[&server_certificate], TLS13, None, &[b"h2"]);
    let silent = client_config(&[&server_certificate], TLS13, None, &[]);
    let (views, served) = echo_run(acceptor, 3, move |address| {
        let imap = echo_client(address, &offers_imap, "mail.example").alpn;
        let refused = client_handshake(connect(address), &offers_h2, "mail.example").is_err();
        let silent = echo_client(address, &silent, "mail.example").alpn;
        (imap, refused, silent)
    });
    assert_eq!(views, (Some(b"imap".to_vec()), true, None));
    assert_eq!(served[0].as_ref().unwrap().alpn.as_deref(), Some(&b"imap"[..]));
    assert!(matches!(served[1], Err(TlsError::Handshake(_))), "{:?}", served[1]);
    assert_eq!(served[2].as_ref().unwrap().alpn, None);
}

#[test]
fn silent_client_hits_the_handshake_timeout() {
    let dir = temp_dir();
    let server_certificate = certificate(dir.path(), "a", &["mail.example"]);
    let mut quick = settings(&[&server_certificate]);
    quick.handshake_timeout = Duration::from_millis(200);
    let acceptor = TlsAcceptor::new(quick).unwrap();
    let outcome = Arc::new(Mutex::new(None));
    let outcome_in = Arc::clone(&outcome);
    let closed = with_server(
        |address| {
            let mut socket = connect(address);
            let mut byte = [0u8; 1];
            // Says nothing; the server must give up and close.
            socket.read(&mut byte).map_or(true, |n| n == 0)
        },
        move |listener| async move {
            let tcp = listener.accept().await.unwrap();
            let start = Instant::now();
            let result = acceptor.accept(tcp).await;
            *outcome_in.lock().unwrap() = Some((result.map(|_| ()), start.elapsed()));
        },
    );
    assert!(closed);
    let (result, elapsed) = outcome.lock().unwrap().take().unwrap();
    assert!(matches!(result, Err(TlsError::Timeout)), "{result:?}");
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[test]
fn plaintext_instead_of_a_client_hello_fails_the_handshake() {
    let dir = temp_dir();
    let server_certificate = certificate(dir.path(), "a", &["mail.example"]);
    let acceptor = TlsAcceptor::new(settings(&[&server_certificate])).unwrap();
    let (_, served) = echo_run(acceptor, 1, |address| {
        let mut socket = connect(address);
        socket.write_all(b"EHLO client.example\r\n").unwrap();
        let mut rest = Vec::new();
        let _ = socket.read_to_end(&mut rest);
    });
    assert!(matches!(served[0], Err(TlsError::Handshake(_))), "{:?}", served[0]);
}

// ---------------------------------------------------------------- certificates

#[test]
fn sni_picks_the_certificate_for_the_name() {
    let dir = temp_dir();
    let first = certificate(dir.path(), "a", &["a.example"]);
    let second = certificate(dir.path(), "b", &["b.example", "*.wild.example"]);
    let acceptor = TlsAcceptor::new(settings(&[&first, &second])).unwrap();
    let config = client_config(&[&first, &second], TLS13, None, &[]);
    let names = [
        "a.example",
        "b.example",
        "B.Example",
        "x.wild.example",
        "y.x.wild.example",
        "wild.example",
        "c.example",
    ];
    let (seen, served) =
        echo_run(acceptor, names.len(), move |address| names.map(|name| echo_client(address, &config, name)));
    let expected = [&first, &second, &second, &second, &first, &first, &first];
    for ((view, name), certificate) in seen.iter().zip(names).zip(expected) {
        assert_eq!(view.server_certificate, certificate.der.to_vec(), "certificate for {name}");
    }
    let sni: Vec<Option<String>> = served.into_iter().map(|info| info.unwrap().server_name).collect();
    assert_eq!(sni[2].as_deref(), Some("b.example"));
    assert_eq!(sni[3].as_deref(), Some("x.wild.example"));
}

/// Replaces `target`'s files with `source`'s the way certificate tools do: write a new
/// file, rename it over the old one.
fn install(source: &CertificateFiles, target: &CertificateFiles) {
    for (from, to) in [(&source.key, &target.key), (&source.chain, &target.chain)] {
        let temporary = to.with_extension("new");
        std::fs::copy(from, &temporary).unwrap();
        std::fs::rename(&temporary, to).unwrap();
    }
}

#[test]
fn reload_swaps_certificates_and_keeps_them_when_files_break() {
    let dir = temp_dir();
    let old = certificate(dir.path(), "live", &["mail.example"]);
    let new = certificate(dir.path(), "next", &["mail.example", "imap.mail.example"]);
    let acceptor = TlsAcceptor::new(settings(&[&old])).unwrap();
    let reloader = acceptor.clone();
    let (old_in, new_in) = (old.clone(), new.clone());
    let (seen, _) = echo_run(acceptor, 3, move |address| {
        // A fresh client each time: a resumed session would show no certificate choice.
        let fresh = || client_config(&[&old_in, &new_in], TLS13, None, &[]);
        let mut seen = vec![echo_client(address, &fresh(), "mail.example").server_certificate];
        assert!(!reloader.reload_if_changed().unwrap(), "nothing changed yet");
        install(&new_in.files, &old_in.files);
        assert!(reloader.reload_if_changed().unwrap());
        assert!(!reloader.reload_if_changed().unwrap());
        seen.push(echo_client(address, &fresh(), "mail.example").server_certificate);
        std::fs::write(
            &old_in.files.chain,
            "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(matches!(reloader.reload_if_changed(), Err(TlsError::Pem { .. })));
        assert!(!reloader.reload_if_changed().unwrap(), "a broken file is reported once");
        seen.push(echo_client(address, &fresh(), "mail.example").server_certificate);
        seen
    });
    assert_eq!(seen, vec![old.der.to_vec(), new.der.to_vec(), new.der.to_vec()]);
}

#[test]
fn certificate_selection_rules() {
    let dir = temp_dir();
    let first = certificate(dir.path(), "a", &["a.example", "shared.example"]);
    let second = certificate(dir.path(), "b", &["shared.example", "*.b.example", "b.example"]);
    let files = [first.files.clone(), second.files.clone()];
    let set = certs::CertificateSet::load(&files, &rustls::crypto::ring::default_provider()).unwrap();
    let leaf = |name: Option<&str>| set.select(name).cert[0].to_vec();
    let (first, second) = (first.der.to_vec(), second.der.to_vec());
    assert_eq!(leaf(None), first, "no SNI: the default");
    assert_eq!(leaf(Some("a.example")), first);
    assert_eq!(leaf(Some("A.EXAMPLE.")), first, "case and the root dot don't matter");
    assert_eq!(leaf(Some("shared.example")), first, "the earlier certificate wins a shared name");
    assert_eq!(leaf(Some("b.example")), second);
    assert_eq!(leaf(Some("x.b.example")), second, "wildcard");
    assert_eq!(leaf(Some("y.x.b.example")), first, "a wildcard covers one label only");
    assert_eq!(leaf(Some("other.example")), first, "unknown name: the default");
}

#[test]
fn bad_certificate_files_are_refused() {
    let dir = temp_dir();
    let a = certificate(dir.path(), "a", &["a.example"]);
    let b = certificate(dir.path(), "b", &["b.example"]);
    let missing = dir.path().join("missing.pem");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not pem at all\n").unwrap();
    let huge = dir.path().join("huge.pem");
    std::fs::write(&huge, vec![b'#'; CERTIFICATE_FILE_BYTES_MAX as usize + 1]).unwrap();
    let load = |chain: &Path, key: &Path| {
        let files = CertificateFiles { chain: chain.to_path_buf(), key: key.to_path_buf() };
        TlsAcceptor::new(TlsSettings::new(vec![files])).map(|_| ())
    };
    assert!(matches!(TlsAcceptor::new(TlsSettings::new(Vec::new())), Err(TlsError::NoCertificate)));
    assert!(matches!(load(&missing, &a.files.key), Err(TlsError::Pem { .. })));
    assert!(matches!(load(&garbage, &a.files.key), Err(TlsError::Pem { .. })));
    assert!(matches!(load(&huge, &a.files.key), Err(TlsError::Pem { .. })));
    assert!(matches!(load(&a.files.chain, &missing), Err(TlsError::Key { .. })));
    assert!(matches!(load(&a.files.chain, &garbage), Err(TlsError::Key { .. })));
    let mismatch = load(&a.files.chain, &b.files.key);
    assert!(matches!(mismatch, Err(TlsError::Key { .. })), "key of another certificate: {mismatch:?}");
    let mut bad_alpn = TlsSettings::new(vec![a.files.clone()]);
    bad_alpn.alpn = vec![Vec::new()];
    assert!(matches!(TlsAcceptor::new(bad_alpn), Err(TlsError::Config(_))));
}

fn openssl(arguments: &[&str]) {
    let status =
        std::process::Command::new("openssl").args(arguments).env("OPENSSL_CONF", "/dev/null").status();
    assert!(status.unwrap().success(), "openssl {arguments:?}");
}

/// Keys as other tools write them: PKCS#1 (RSA), SEC1 (EC), PKCS#8 (rcgen's).
#[test]
fn pkcs1_sec1_and_pkcs8_keys_load() {
    let dir = temp_dir();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    openssl(&["genrsa", "-traditional", "-out", &path("rsa.key"), "2048"]);
    openssl(&["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &path("ec.key")]);
    for (key, head) in
        [("rsa.key", "-----BEGIN RSA PRIVATE KEY-----"), ("ec.key", "-----BEGIN EC PRIVATE KEY-----")]
    {
        assert!(
            std::fs::read_to_string(path(key)).unwrap().starts_with(head),
            "{key} is not in the old format"
        );
        let chain = path(&format!("{key}.crt"));
        openssl_certificate(&path(key), "old.example", "subjectAltName=DNS:old.example", &chain);
        let files = CertificateFiles { chain: chain.into(), key: path(key).into() };
        TlsAcceptor::new(TlsSettings::new(vec![files])).unwrap();
    }
    let pkcs8 = certificate(dir.path(), "p8", &["new.example"]);
    assert!(std::fs::read_to_string(&pkcs8.files.key).unwrap().starts_with("-----BEGIN PRIVATE KEY-----"));
    TlsAcceptor::new(settings(&[&pkcs8])).unwrap();
}

/// `openssl req -x509` with `key`, a subject CN and one extension, written to `out`.
fn openssl_certificate(key: &str, common_name: &str, extension: &str, out: &str) {
    let subject = format!("/CN={common_name}");
    openssl(&["req", "-x509", "-key", key, "-subj", &subject, "-addext", extension, "-out", out]);
}

/// A hand-made certificate without SAN answers for its CN; one with SAN only for those.
#[test]
fn common_name_counts_only_without_subject_alt_names() {
    let dir = temp_dir();
    let default = certificate(dir.path(), "default", &["default.example"]);
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    openssl(&["ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", &path("ec.key")]);
    // Some extension other than SAN, or openssl makes a v1 certificate (webpki refuses v1).
    openssl_certificate(&path("ec.key"), "cn.example", "basicConstraints=critical,CA:FALSE", &path("cn.crt"));
    openssl_certificate(
        &path("ec.key"),
        "ignored.example",
        "subjectAltName=DNS:san.example",
        &path("san.crt"),
    );
    let files = [
        default.files.clone(),
        CertificateFiles { chain: path("cn.crt").into(), key: path("ec.key").into() },
        CertificateFiles { chain: path("san.crt").into(), key: path("ec.key").into() },
    ];
    let set = certs::CertificateSet::load(&files, &rustls::crypto::ring::default_provider()).unwrap();
    let leaf = |name: &str| set.select(Some(name)).cert[0].to_vec();
    let pem_leaf = |file: &str| CertificateDer::from_pem_file(path(file)).unwrap().to_vec();
    assert_eq!(leaf("cn.example"), pem_leaf("cn.crt"));
    assert_eq!(leaf("san.example"), pem_leaf("san.crt"));
    assert_eq!(leaf("ignored.example"), default.der.to_vec());
}

#[test]
fn self_signed_is_made_once_with_a_private_key() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = temp_dir();
    let target = dir.path().join("tls");
    let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
    let files = ensure_self_signed(&target, &names).unwrap();
    assert_eq!(files.chain, target.join(SELF_SIGNED_CHAIN_FILE));
    assert_eq!(files.key, target.join(SELF_SIGNED_KEY_FILE));
    assert_eq!(std::fs::metadata(&files.key).unwrap().permissions().mode() & 0o777, 0o600);
    let chain = std::fs::read(&files.chain).unwrap();
    let again = ensure_self_signed(&target, &["other.example".to_string()]).unwrap();
    assert_eq!(again, files);
    assert_eq!(std::fs::read(&files.chain).unwrap(), chain, "an existing pair is kept");
    let der = CertificateDer::from_pem_file(&files.chain).unwrap();
    let (_, parsed) = x509_parser::parse_x509_certificate(der.as_ref()).unwrap();
    let common_name = parsed.subject().iter_common_name().next().unwrap().as_str().unwrap().to_string();
    assert_eq!(common_name, "localhost");
    let san = parsed.subject_alternative_name().unwrap().unwrap().value.general_names.len();
    assert_eq!(san, 2, "a DNS name and an IP address");
    assert!(std::fs::read_dir(&target).unwrap().count() == 2, "no temporary files left");
    assert!(matches!(ensure_self_signed(&dir.path().join("none"), &[]), Err(TlsError::SelfSigned(_))));
}

#[test]
fn version_names() {
    assert_eq!(TlsVersion::Tls12.to_string(), "TLSv1.2");
    assert_eq!(TlsVersion::Tls13.to_string(), "TLSv1.3");
}

// ---------------------------------------------------------------- client certificates

/// A client identity from a fresh rcgen key; also returns the key's SPKI (DER).
fn client_identity() -> (ClientIdentity, Vec<u8>) {
    use rcgen::PublicKeyData as _;
    let key = rcgen::KeyPair::generate().unwrap();
    let certificate =
        rcgen::CertificateParams::new(vec!["alice.example".to_string()]).unwrap().self_signed(&key).unwrap();
    let private = PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    ((vec![certificate.der().clone()], private), key.subject_public_key_info())
}

#[test]
fn client_certificate_is_identified_by_its_public_key() {
    let dir = temp_dir();
    let server_certificate = certificate(dir.path(), "a", &["mail.example"]);
    let mut asking = settings(&[&server_certificate]);
    asking.request_client_certificate = true;
    let acceptor = TlsAcceptor::new(asking).unwrap();
    let (identity, spki) = client_identity();
    let with13 = client_config(&[&server_certificate], TLS13, Some(identity.clone_key()), &[]);
    let with12 = client_config(&[&server_certificate], TLS12, Some(identity), &[]);
    let without = client_config(&[&server_certificate], TLS13, None, &[]);
    let (_, served) = echo_run(acceptor, 3, move |address| {
        for config in [&with13, &with12, &without] {
            echo_client(address, config, "mail.example");
        }
    });
    let infos: Vec<TlsInfo> = served.into_iter().map(Result::unwrap).collect();
    let fingerprint: [u8; 32] = {
        use sha2::Digest as _;
        sha2::Sha256::digest(&spki).into()
    };
    for info in &infos[..2] {
        assert_eq!(info.client_spki.as_deref(), Some(&spki[..]));
        assert_eq!(info.client_spki_sha256, Some(fingerprint));
    }
    assert_eq!(infos[2].client_spki, None);
    assert_eq!(infos[2].client_spki_sha256, None);
}

trait CloneKey {
    fn clone_key(&self) -> Self;
}

impl CloneKey for ClientIdentity {
    fn clone_key(&self) -> Self {
        (self.0.clone(), self.1.clone_key())
    }
}

/// Presents one fixed certificate and key, matching or not (rustls's own client config
/// refuses a mismatched pair, which is what this test needs to send).
#[derive(Debug)]
struct PresentAnyway(Arc<rustls::sign::CertifiedKey>);

impl rustls::client::ResolvesClientCert for PresentAnyway {
    fn resolve(
        &self,
        _hints: &[&[u8]],
        _schemes: &[SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Any certificate is accepted, but only with proof of its private key: a client that
/// sends someone else's certificate (signing with its own key) fails the handshake.
#[test]
fn client_certificate_without_its_key_is_refused() {
    let dir = temp_dir();
    let server_certificate = certificate(dir.path(), "a", &["mail.example"]);
    let mut asking = settings(&[&server_certificate]);
    asking.request_client_certificate = true;
    let acceptor = TlsAcceptor::new(asking).unwrap();
    let ((victim_chain, _), _) = client_identity();
    let ((_, thief_key), _) = client_identity();
    let provider = rustls::crypto::ring::default_provider();
    let thief_key = provider.key_provider.load_private_key(thief_key).unwrap();
    let stolen = rustls::sign::CertifiedKey::new(victim_chain, thief_key);
    let configs = [TLS13, TLS12].map(|versions| {
        let mut config = (*client_config(&[&server_certificate], versions, None, &[])).clone();
        config.client_auth_cert_resolver = Arc::new(PresentAnyway(Arc::new(stolen.clone())));
        Arc::new(config)
    });
    let (_, served) = echo_run(acceptor, 2, move |address| {
        for config in &configs {
            // TLS 1.3 clients finish before the server judges them; the failure then
            // shows on the first read.
            if let Ok(mut tls) = client_handshake(connect(address), config, "mail.example") {
                let mut byte = [0u8; 1];
                assert!(tls.read(&mut byte).is_err(), "server must not talk to a client that failed");
            }
        }
    });
    for outcome in &served {
        assert!(matches!(outcome, Err(TlsError::Handshake(_))), "{outcome:?}");
    }
}

// ---------------------------------------------------------------- openssl s_client

/// Runs `openssl s_client` against `address` with extra arguments; returns (success,
/// stdout). The system openssl.cnf is ignored and the security level lowered so that the
/// client really offers old versions and our server is the one refusing them.
fn s_client(address: SocketAddr, arguments: &[&str]) -> (bool, String) {
    let output = std::process::Command::new("openssl")
        .arg("s_client")
        .args([
            "-connect",
            &address.to_string(),
            "-servername",
            "mail.example",
            "-cipher",
            "DEFAULT@SECLEVEL=0",
        ])
        .args(arguments)
        .env("OPENSSL_CONF", "/dev/null")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    (output.status.success(), String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn openssl_refuses_tls11_and_gets_tls12_tls13_and_alpn() {
    let dir = temp_dir();
    let server_certificate = certificate(dir.path(), "a", &["mail.example"]);
    let mut imap = settings(&[&server_certificate]);
    imap.alpn = vec![b"imap".to_vec()];
    let acceptor = TlsAcceptor::new(imap).unwrap();
    let served = Arc::new(Mutex::new(Vec::new()));
    let served_in = Arc::clone(&served);
    let clients = with_server(
        |address| {
            [["-tls1_1", "-alpn", "imap"], ["-tls1_2", "-alpn", "imap"], ["-tls1_3", "-alpn", "imap"]]
                .map(|arguments| s_client(address, &arguments))
        },
        move |listener| async move {
            for _ in 0..3 {
                let tcp = listener.accept().await.unwrap();
                match acceptor.accept(tcp).await {
                    Ok(mut tls) => {
                        served_in.lock().unwrap().push(Ok(tls.info()));
                        // The client may already be gone: its stdin is empty.
                        let _ = tls.write_all(b"* OK ready\r\n").await;
                        let _ = tls.close().await;
                    }
                    Err(error) => served_in.lock().unwrap().push(Err(error)),
                }
            }
        },
    );
    let served = std::mem::take(&mut *served.lock().unwrap());
    assert!(!clients[0].0, "TLS 1.1 must fail: {}", clients[0].1);
    // rustls refuses a TLS 1.1 hello as incompatible (no TLS 1.2/1.3 offer, no
    // signature_algorithms extension, which TLS 1.1 doesn't have).
    assert!(
        matches!(&served[0], Err(TlsError::Handshake(message)) if message.contains("incompatible")),
        "{:?}",
        served[0]
    );
    for (index, version) in [(1, TlsVersion::Tls12), (2, TlsVersion::Tls13)] {
        let (success, stdout) = &clients[index];
        assert!(success, "{version}: {stdout}");
        assert!(stdout.contains("ALPN protocol: imap"), "{version}: {stdout}");
        // Printed right after the handshake (the later session block may be cut short
        // when s_client reads end-of-file on its empty stdin first).
        assert!(stdout.contains(&format!("New, {version}, Cipher is ")), "{version}: {stdout}");
        let info = served[index].as_ref().unwrap();
        assert_eq!((info.version, info.alpn.as_deref()), (version, Some(&b"imap"[..])));
    }
}

// ---------------------------------------------------------------- Stream: STARTTLS, sendfile

/// Server side of a STARTTLS exchange on `tcp`: greeting, read exactly the command
/// (nothing more, as a careful session would), reply, upgrade.
async fn starttls_server(tcp: crate::net::TcpStream, acceptor: &TlsAcceptor) -> Result<Stream, TlsError> {
    let mut stream = Stream::from(tcp);
    assert!(!stream.is_tls());
    assert_eq!(stream.tls_info(), None);
    assert_eq!(stream.channel_binding(), None);
    stream.write_all(b"220 ready\r\n").await.unwrap();
    let mut command = [0u8; 10];
    stream.read_exact(&mut command).await.unwrap();
    assert_eq!(&command, b"STARTTLS\r\n");
    stream.write_all(b"220 go ahead\r\n").await.unwrap();
    stream.start_tls(acceptor).await
}

#[test]
fn start_tls_upgrades_a_plain_connection() {
    let dir = temp_dir();
    let server_certificate = certificate(dir.path(), "a", &["mail.example"]);
    let acceptor = TlsAcceptor::new(settings(&[&server_certificate])).unwrap();
    let config = client_config(&[&server_certificate], TLS13, None, &[]);
    with_server(
        move |address| {
            let mut socket = connect(address);
            assert_eq!(read_line(&mut socket), b"220 ready\r\n");
            socket.write_all(b"STARTTLS\r\n").unwrap();
            assert_eq!(read_line(&mut socket), b"220 go ahead\r\n");
            let mut tls = client_handshake(socket, &config, "mail.example").unwrap();
            tls.write_all(b"hello").unwrap();
            let mut reply = [0u8; 5];
            tls.read_exact(&mut reply).unwrap();
            assert_eq!(&reply, b"HELLO");
            let binding =
                tls.conn.export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", None).unwrap();
            assert_eq!(read_line(&mut tls), format!("{}\n", hex(&binding)).as_bytes());
        },
        move |listener| async move {
            let tcp = listener.accept().await.unwrap();
            let mut stream = starttls_server(tcp, &acceptor).await.unwrap();
            assert!(stream.is_tls());
            assert_eq!(stream.tls_info().unwrap().version, TlsVersion::Tls13);
            assert!(stream.peer_addr().unwrap().ip().is_loopback());
            stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            stream.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut request = [0u8; 5];
            stream.read_exact(&mut request).await.unwrap();
            stream.write_all(&request.to_ascii_uppercase()).await.unwrap();
            let binding = stream.channel_binding().unwrap();
            stream.write_all(format!("{}\n", hex(&binding)).as_bytes()).await.unwrap();
            stream.flush().await.unwrap();
            assert!(matches!(stream.start_tls(&acceptor).await, Err(TlsError::AlreadyTls)));
        },
    );
}

/// STARTTLS injection: plaintext a client pipelines behind STARTTLS is never read as if
/// it came over TLS; it lands in the handshake and breaks it.
#[test]
fn plaintext_pipelined_after_starttls_never_counts_as_tls() {
    let dir = temp_dir();
    let server_certificate = certificate(dir.path(), "a", &["mail.example"]);
    let acceptor = TlsAcceptor::new(settings(&[&server_certificate])).unwrap();
    let config = client_config(&[&server_certificate], TLS13, None, &[]);
    let outcome = Arc::new(Mutex::new(None));
    let outcome_in = Arc::clone(&outcome);
    let client_failed = with_server(
        move |address| {
            let mut socket = connect(address);
            assert_eq!(read_line(&mut socket), b"220 ready\r\n");
            socket.write_all(b"STARTTLS\r\nMAIL FROM:<attacker@example.org>\r\n").unwrap();
            assert_eq!(read_line(&mut socket), b"220 go ahead\r\n");
            client_handshake(socket, &config, "mail.example").is_err()
        },
        move |listener| async move {
            let tcp = listener.accept().await.unwrap();
            let upgraded = starttls_server(tcp, &acceptor).await;
            *outcome_in.lock().unwrap() = Some(upgraded.map(|_| ()));
        },
    );
    assert!(client_failed);
    let outcome = outcome.lock().unwrap().take().unwrap();
    assert!(matches!(outcome, Err(TlsError::Handshake(_))), "{outcome:?}");
}

/// Sends `range` of `path` through `stream` in steps, then closes it; returns how many
/// steps sent nothing.
async fn send_range(mut stream: Stream, path: &Path, range: std::ops::Range<u64>) -> usize {
    let file = Arc::new(std::fs::File::open(path).unwrap());
    let (mut offset, mut empty_steps) = (range.start, 0);
    while offset < range.end {
        let sent = stream
            .send_file_step(&file, offset, range.end - offset, Duration::from_millis(20))
            .await
            .unwrap();
        empty_steps += usize::from(sent == 0);
        offset += sent;
    }
    assert_eq!(offset, range.end);
    stream.close().await.unwrap();
    empty_steps
}

#[test]
fn send_file_step_through_tls_gives_the_plain_bytes() {
    let dir = temp_dir();
    let server_certificate = certificate(dir.path(), "a", &["mail.example"]);
    let acceptor = TlsAcceptor::new(settings(&[&server_certificate])).unwrap();
    let config = client_config(&[&server_certificate], TLS13, None, &[]);
    let path = dir.path().join("message");
    let content: Vec<u8> = (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    std::fs::write(&path, &content).unwrap();
    let range = 1_000..2_801_000u64;
    let server_range = range.clone();
    let (plain, tls) = with_server(
        move |address| {
            let mut plain = Vec::new();
            connect(address).read_to_end(&mut plain).unwrap();
            let mut tls = client_handshake(connect(address), &config, "mail.example").unwrap();
            std::thread::sleep(Duration::from_millis(300)); // let the server meet a full window
            let mut decrypted = Vec::new();
            tls.read_to_end(&mut decrypted).unwrap();
            (plain, decrypted)
        },
        move |listener| async move {
            let tcp = listener.accept().await.unwrap();
            send_range(Stream::from(tcp), &path, server_range.clone()).await;
            let tcp = listener.accept().await.unwrap();
            let mut stream = Stream::from(acceptor.accept(tcp).await.unwrap());
            let file = Arc::new(std::fs::File::open(&path).unwrap());
            let beyond = stream.send_file_step(&file, 2_999_990, 100, Duration::from_millis(20)).await;
            assert_eq!(beyond.unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
            send_range(stream, &path, server_range).await;
        },
    );
    let expected = &content[range.start as usize..range.end as usize];
    assert!(plain == expected, "plain: {} bytes", plain.len());
    assert!(tls == expected, "tls: {} bytes", tls.len());
}
