//! TLS and authentication against the real `moxide localserve` binary, with real clients:
//! Python's smtplib and imaplib (STARTTLS, implicit TLS, login, client certificates, the
//! STARTTLS injection attempt, a brute-force run), swaks with each AUTH type it knows,
//! curl with --ssl-reqd, openssl s_client for protocol versions, and a rustls client for
//! SCRAM-SHA-256-PLUS with right and wrong channel bindings. Passwords never reach the log.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use common::Server;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

fn python(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/tls_clients.py");
    let output = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .expect("python3 is installed (scripts/test installs it)");
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "tls_clients.py {args:?} failed:\n{text}");
    text
}

fn port(server: &Server, name: &str) -> String {
    server.listener(name).port().to_string()
}

fn ca(dir: &Path) -> String {
    dir.join("config/tls/chain.pem").display().to_string()
}

#[test]
fn smtp_and_imap_over_tls_with_python() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), 2);
    let ca = ca(dir.path());
    python(&[
        "smtp",
        &port(&server, "submission"),
        &port(&server, "submissions"),
        &port(&server, "smtp"),
        &ca,
    ]);
    python(&["imap", &port(&server, "imap"), &port(&server, "imaps"), &ca]);
    python(&["injection", &port(&server, "smtp"), &port(&server, "imap")]);
    server.kill();
    let stored = common::stored_messages(dir.path(), "mox");
    assert_eq!(
        stored.len(),
        3,
        "two submissions (delivered locally, as mox's localserve) and one port-25 message"
    );
    let submitted = String::from_utf8_lossy(&stored[0].info.prefix).to_string();
    assert!(submitted.contains("ESMTPSA"), "{submitted}");
    assert!(submitted.contains("TLSv1.3") && submitted.contains("cipher="), "{submitted}");
    assert!(!server.log().contains("moxmoxmox"), "a password reached the log");
}

fn swaks(port: &str, tls: &str, auth: &str, ca: &str) -> String {
    let output = Command::new("swaks")
        .args(["--server", "127.0.0.1", "--port", port, tls, "--tls-ca-path", ca, "--auth", auth])
        .args(["--auth-user", "mox@localhost", "--auth-password", "moxmoxmox"])
        .args(["--from", "mox@localhost", "--to", "someone@example.com", "--helo", "swaks.example"])
        .output()
        .expect("swaks is installed (scripts/test installs it)");
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "swaks {tls} --auth {auth} failed:\n{text}");
    text
}

#[test]
fn swaks_curl_and_openssl() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 2);
    let ca = ca(dir.path());
    for auth in ["PLAIN", "LOGIN", "CRAM-MD5"] {
        let text = swaks(&port(&server, "submission"), "--tls", auth, &ca);
        assert!(text.contains("235 2.7.0"), "{text}");
        swaks(&port(&server, "submissions"), "--tlsc", auth, &ca);
    }

    let curl = |args: &[&str]| {
        let output = Command::new("curl")
            .args(["-sS", "--max-time", "30", "--ssl-reqd", "--cacert", &ca])
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "curl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        output.stdout
    };
    let message = dir.path().join("curl.eml");
    std::fs::write(&message, "From: mox@localhost\r\nTo: x@example.com\r\nSubject: curl\r\n\r\nvia curl\r\n")
        .unwrap();
    curl(&[
        "--user",
        "mox@localhost:moxmoxmox",
        "--mail-from",
        "mox@localhost",
        "--mail-rcpt",
        "x@example.com",
        "--upload-file",
        &message.display().to_string(),
        &format!("smtp://localhost:{}", port(&server, "submission")),
    ]);
    let listing =
        curl(&["--user", "mox@localhost:moxmoxmox", &format!("imap://localhost:{}/", port(&server, "imap"))]);
    assert!(String::from_utf8_lossy(&listing).contains("INBOX"));
    let fetched = curl(&[
        "--user",
        "mox@localhost:moxmoxmox",
        &format!("imaps://localhost:{}/INBOX;UID=7", port(&server, "imaps")),
    ]);
    assert!(fetched.ends_with(b"via curl\r\n"), "{}", String::from_utf8_lossy(&fetched));

    // openssl s_client: TLS 1.1 refused, 1.2 and 1.3 accepted. OPENSSL_CONF=/dev/null and
    // security level 0 so the client really offers 1.1 (Debian's default config forbids it).
    let handshake = |version: &str| {
        let mut child = Command::new("openssl")
            .env("OPENSSL_CONF", "/dev/null")
            .args(["s_client", "-connect", &format!("127.0.0.1:{}", port(&server, "imaps")), version])
            .args(["-cipher", "DEFAULT:@SECLEVEL=0", "-CAfile", &ca, "-servername", "localhost"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("openssl is installed");
        child.stdin.take().unwrap().write_all(b"a LOGOUT\r\n").unwrap();
        let output = child.wait_with_output().unwrap();
        String::from_utf8_lossy(&output.stdout).to_string() + &String::from_utf8_lossy(&output.stderr)
    };
    // s_client prints "New, TLSv1.x, Cipher is ..." right after a completed handshake
    // (and may exit before the greeting arrives, so that is what we look for).
    let old = handshake("-tls1_1");
    assert!(!old.contains("New, TLSv"), "TLS 1.1 must be refused:\n{old}");
    for (version, name) in [("-tls1_2", "New, TLSv1.2"), ("-tls1_3", "New, TLSv1.3")] {
        let text = handshake(version);
        assert!(text.contains(name), "{version} must work:\n{text}");
    }
}

/// A client certificate registered for the account logs in without a password: PREAUTH
/// at connect, or SASL EXTERNAL when the registration asks for it. One key is registered
/// while the server is stopped (`tlspubkey add` takes the data directory's lock), the
/// other while it runs (the command goes through the server's control socket, and the
/// key works at once, without a restart); `rm` beside the running server removes it.
#[test]
fn client_certificate_logins() {
    let dir = tempfile::tempdir().unwrap();
    // The first start writes config/moxide.toml and the certificate.
    Server::start(dir.path(), 2).kill();
    let ca = ca(dir.path());
    let make_cert = |name: &str| -> PathBuf {
        let certs = dir.path().join(name);
        moxide_runtime::tls::ensure_self_signed(&certs, &[format!("{name}.client.example")]).unwrap();
        certs
    };
    let register = |certs: &Path, extra: &[&str]| {
        let config = dir.path().join("config/moxide.toml");
        let output = Command::new(env!("CARGO_BIN_EXE_moxide"))
            .args(["config", "tlspubkey", "add", "--config"])
            .arg(&config)
            .arg("mox")
            .arg(certs.join("chain.pem"))
            .args(extra)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    };
    let phone = make_cert("phone");
    register(&phone, &["--name", "phone"]);
    let server = Server::start(dir.path(), 2);
    let laptop = make_cert("laptop");
    register(&laptop, &["--name", "laptop", "--no-imap-preauth"]);
    let imaps = port(&server, "imaps");
    let submissions = port(&server, "submissions");
    let args = |certs: &Path, mode: &'static str| {
        vec![
            "clientcert".to_string(),
            imaps.clone(),
            submissions.clone(),
            ca.clone(),
            certs.join("chain.pem").display().to_string(),
            certs.join("key.pem").display().to_string(),
            mode.to_string(),
        ]
    };
    let run = |args: Vec<String>| python(&args.iter().map(String::as_str).collect::<Vec<_>>());
    run(args(&phone, "preauth"));
    run(args(&laptop, "external"));

    let list = Command::new(env!("CARGO_BIN_EXE_moxide"))
        .args(["config", "tlspubkey", "list", "--config"])
        .arg(dir.path().join("config/moxide.toml"))
        .output()
        .unwrap();
    let list = String::from_utf8_lossy(&list.stdout);
    assert!(list.contains("name=\"phone\"") && list.contains("imap_preauth=false"), "{list}");

    // Removed beside the running server: gone from the list.
    let laptop_line = list.lines().find(|l| l.contains("name=\"laptop\"")).unwrap();
    let fingerprint = laptop_line.split_whitespace().next().unwrap();
    let removed = Command::new(env!("CARGO_BIN_EXE_moxide"))
        .args(["config", "tlspubkey", "rm", "--config"])
        .arg(dir.path().join("config/moxide.toml"))
        .args(["mox", fingerprint])
        .output()
        .unwrap();
    assert!(removed.status.success(), "{}", String::from_utf8_lossy(&removed.stderr));
    let list = Command::new(env!("CARGO_BIN_EXE_moxide"))
        .args(["config", "tlspubkey", "list", "--config"])
        .arg(dir.path().join("config/moxide.toml"))
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&list.stdout).contains("laptop"));
}

#[test]
fn brute_force_is_rate_limited_per_network() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with(dir.path(), 2, &[("RUST_LOG", "trace")]);
    let text = python(&["bruteforce", &port(&server, "imap")]);
    eprintln!("{}", text.trim());
    let log = server.log();
    assert!(!log.contains("moxmoxmox") && !log.contains("guess3"), "a password reached the trace log");
}

/// A configuration whose plaintext IMAP listener does not allow passwords before TLS
/// (what every non-loopback listener gets by default).
#[test]
fn logindisabled_before_starttls() {
    let dir = tempfile::tempdir().unwrap();
    let mut first = Server::start(dir.path(), 1);
    first.kill();
    let config = dir.path().join("config/moxide.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace("plaintext_auth = true", "plaintext_auth = false");
    let custom = dir.path().join("config/strict.toml");
    std::fs::write(
        &custom,
        text.replace(":1025\"", ":0\"")
            .replace(":1587\"", ":0\"")
            .replace(":1465\"", ":0\"")
            .replace(":1143\"", ":0\"")
            .replace(":1993\"", ":0\""),
    )
    .unwrap();
    let server = Server::start_args(dir.path(), &["serve", "--config", &custom.display().to_string()], &[]);
    python(&["logindisabled", &port(&server, "imap"), &ca(dir.path())]);
}

// --- SCRAM-SHA-256(-PLUS) with a rustls client -----------------------------------------

type HmacSha256 = Hmac<Sha256>;

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).unwrap();
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn b64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(data)
}

fn unb64(data: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD.decode(data.trim()).unwrap()
}

/// Runs AUTHENTICATE SCRAM-SHA-256[-PLUS] on an IMAP connection; `binding` is the
/// channel-binding data to claim (None: the non-PLUS mechanism). Returns the tagged reply.
fn scram<S: Read + Write>(stream: S, binding: Option<&[u8]>) -> String {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("* OK"), "{line}");
    let gs2 = if binding.is_some() { "p=tls-exporter,," } else { "n,," };
    let client_first_bare = "n=mox@localhost,r=clientnonce0123456789";
    let mechanism = if binding.is_some() { "SCRAM-SHA-256-PLUS" } else { "SCRAM-SHA-256" };
    let first =
        format!("a AUTHENTICATE {mechanism} {}\r\n", b64(format!("{gs2}{client_first_bare}").as_bytes()));
    reader.get_mut().write_all(first.as_bytes()).unwrap();
    line.clear();
    reader.read_line(&mut line).unwrap();
    let server_first =
        String::from_utf8(unb64(line.strip_prefix("+ ").unwrap_or_else(|| panic!("{line}")))).unwrap();
    let fields: std::collections::HashMap<&str, &str> =
        server_first.split(',').filter_map(|f| f.split_once('=')).collect();
    let (nonce, salt, iterations) = (fields["r"], unb64(fields["s"]), fields["i"].parse::<u32>().unwrap());
    let mut cbind = gs2.as_bytes().to_vec();
    if let Some(binding) = binding {
        cbind.extend_from_slice(binding);
    }
    let without_proof = format!("c={},r={nonce}", b64(&cbind));
    let mut salted = [0u8; 32];
    pbkdf2::pbkdf2::<HmacSha256>(b"moxmoxmox", &salt, iterations, &mut salted).unwrap();
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha256::digest(&client_key);
    let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
    let signature = hmac(&stored_key, auth_message.as_bytes());
    let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
    let final_message = format!("{without_proof},p={}\r\n", b64(&proof));
    reader
        .get_mut()
        .write_all(format!("{}\r\n", b64(final_message.trim_end().as_bytes())).as_bytes())
        .unwrap();
    line.clear();
    reader.read_line(&mut line).unwrap();
    if let Some(server_final) = line.strip_prefix("+ ") {
        let server_final = String::from_utf8(unb64(server_final)).unwrap();
        let server_key = hmac(&salted, b"Server Key");
        let expected = b64(&hmac(&server_key, auth_message.as_bytes()));
        assert_eq!(server_final, format!("v={expected}"), "server signature");
        reader.get_mut().write_all(b"\r\n").unwrap();
        line.clear();
        reader.read_line(&mut line).unwrap();
    }
    line
}

fn tls_client(dir: &Path, port: u16) -> rustls::StreamOwned<rustls::ClientConnection, TcpStream> {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(dir.join("config/tls/chain.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connection =
        rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap();
    let socket = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut stream = rustls::StreamOwned::new(connection, socket);
    while stream.conn.is_handshaking() {
        stream.conn.complete_io(&mut stream.sock).unwrap();
    }
    stream
}

#[test]
fn scram_plus_checks_the_channel_binding() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 1);
    let imaps = server.listener("imaps").port();

    let stream = tls_client(dir.path(), imaps);
    let mut binding = [0u8; 32];
    stream.conn.export_keying_material(&mut binding, b"EXPORTER-Channel-Binding", None).unwrap();
    let reply = scram(stream, Some(&binding));
    assert!(reply.starts_with("a OK"), "right binding must log in: {reply}");

    let stream = tls_client(dir.path(), imaps);
    let mut wrong = [0u8; 32];
    stream.conn.export_keying_material(&mut wrong, b"EXPORTER-Channel-Binding", None).unwrap();
    wrong[0] ^= 1;
    let reply = scram(stream, Some(&wrong));
    assert!(reply.starts_with("a NO"), "a mismatched binding (a man in the middle) must fail: {reply}");

    // SCRAM without PLUS over plaintext IMAP: the password never crosses the wire.
    let plain = TcpStream::connect(server.listener("imap")).unwrap();
    let reply = scram(plain, None);
    assert!(reply.starts_with("a OK"), "{reply}");
}
