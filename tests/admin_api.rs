//! The admin plane against the real binary with real clients (issue 15, "Admin HTTP JSON
//! API, live configuration, Prometheus metrics and the CLI over them"): Python's urllib
//! creates a domain and an account, sets passwords, and smtplib/imaplib see each change at
//! once without a restart; every admin endpoint refuses without a token and with an
//! account's; failed API logins are rate-limited; curl speaks HTTP/1.1 and HTTP/2; the CLI
//! verbs go through the control socket while the server runs and work offline when it
//! does not; the domains file is reloaded on `moxide config reload` and SIGHUP, and an
//! invalid one changes nothing; schemathesis runs the served OpenAPI document; account
//! settings, suppression lists and hold rules are managed over the API and the CLI.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::Server;

fn python(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/admin_api.py");
    let output = Command::new("python3").arg(script).args(args).output().expect("python3 is installed");
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "admin_api.py {args:?} failed:\n{text}");
    text
}

fn http(server: &Server) -> String {
    server.listener("http").to_string()
}

/// localserve on kernel-chosen ports; `exempt`: loopback exempt from the per-IP limits.
fn start(dir: &Path, exempt: bool) -> Server {
    let dir_arg = dir.display().to_string();
    let mut args = vec!["localserve", "--dir", &dir_arg, "--cores", "2"];
    for port in [
        "--smtp-port",
        "--submission-port",
        "--submissions-port",
        "--imap-port",
        "--imaps-port",
        "--http-port",
    ] {
        args.extend([port, "0"]);
    }
    if exempt {
        args.extend(["--ratelimit-exempt", "127.0.0.1"]);
    }
    Server::start_args(dir, &args, &[])
}

fn moxide(args: &[&str], input: Option<&str>) -> Output {
    common::moxide_cli(args, input)
}

/// The next line starting with `tag` (untagged responses skipped).
fn tagged(client: &mut common::Client, tag: &str) -> String {
    loop {
        let line = client.line().unwrap();
        if line.starts_with(tag) {
            return line;
        }
    }
}

fn ok(output: &Output) -> String {
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

#[test]
fn accounts_change_live_over_the_api() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), true);
    let smtp = server.smtp.to_string();
    let imap = server.imap.unwrap().to_string();
    python(&["live", &http(&server), &smtp, &imap]);

    // curl: the document over HTTP/1.1, the API over HTTP/2 with prior knowledge.
    let document = Command::new("curl")
        .args(["-sS", "--fail", &format!("http://{}/api/v0/openapi.json", http(&server))])
        .output()
        .unwrap();
    let document: serde_json::Value = serde_json::from_slice(&document.stdout).unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));
    let h2 = Command::new("curl")
        .args(["-sS", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_version} %{http_code}"])
        .arg(format!("http://{}/api/v0/admin/domains", http(&server)))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&h2.stdout), "2 401");

    // An open keep-alive connection does not hold up the shutdown.
    let idle = std::net::TcpStream::connect(server.listener("http")).unwrap();
    let (status, took) = server.terminate(Duration::from_secs(20));
    assert!(status.is_some_and(|s| s.success()), "exit {status:?}\n{}", server.log());
    assert!(took < Duration::from_secs(10), "{took:?}");
    drop(idle);
    let mode = std::fs::metadata(dir.path().join("data/admin.json")).unwrap();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777, 0o600);
    assert!(!server.log().contains("first-password"), "a password reached the log");
}

#[test]
fn admin_endpoints_refuse_without_an_admin_token() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), true);
    python(&["auth", &http(&server)]);
}

/// Received DMARC and TLS reports through the admin API: paged lists, parsed reports,
/// unknown names and kinds refused, accounts refused.
#[test]
fn reports_are_listed_and_read() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), true);
    python(&["reports", &http(&server), &dir.path().join("data").display().to_string()]);
}

#[test]
fn failed_api_logins_are_rate_limited() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), false);
    python(&["ratelimit", &http(&server)]);
}

/// The CLI verbs beside a running server (through the control socket, owner only), the
/// domains file edited by hand and reloaded, an invalid file refused, SIGHUP; then the
/// same verbs with the server stopped (under the data directory's lock).
#[test]
fn cli_and_reload() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), true);
    let config = dir.path().join("config/moxide.toml").display().to_string();
    let config = config.as_str();
    let added = ok(&moxide(&["domain", "add", "--config", config, "example.com"], None));
    assert!(added.contains("MX 10 localhost."), "{added}");
    assert!(added.contains("e._domainkey.example.com. TXT \"v=DKIM1; k=ed25519;"), "{added}");
    assert!(added.contains("r._domainkey.example.com. TXT \"v=DKIM1; k=rsa; h=sha256; p="), "{added}");
    let key_dir = dir.path().join("data/dkim/example.com");
    assert_eq!(std::fs::read_dir(&key_dir).unwrap().count(), 2, "two keys in {}", key_dir.display());
    let socket = std::fs::metadata(dir.path().join("data/ctl.sock")).unwrap();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&socket.permissions()) & 0o777, 0o600);
    ok(&moxide(&["account", "add", "--config", config, "bob", "bob@example.com"], None));
    ok(&moxide(&["setaccountpassword", "--config", config, "bob"], Some("bob-password\n")));
    ok(&moxide(&["address", "add", "--config", config, "robert@example.com", "bob"], None));
    let refused = moxide(&["address", "add", "--config", config, "mox@localhost", "bob"], None);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("configured twice"), "{refused:?}");
    let listed = ok(&moxide(&["account", "list", "--config", config], None));
    assert!(listed.contains("bob\tbob@example.com robert@example.com"), "{listed}");
    ok(&moxide(
        &["alias", "set", "--config", config, "team@example.com", "bob@example.com", "mox@localhost"],
        None,
    ));
    let listed = ok(&moxide(&["alias", "list", "--config", config], None));
    assert!(listed.contains("team@example.com\tbob@example.com mox@localhost\n"), "{listed}");
    ok(&moxide(
        &[
            "alias",
            "set",
            "--config",
            config,
            "team@example.com",
            "bob@example.com",
            "mox@localhost",
            "--public",
        ],
        None,
    ));
    let listed = ok(&moxide(&["alias", "list", "--config", config], None));
    assert!(listed.contains("team@example.com\tbob@example.com mox@localhost (anyone may post)"), "{listed}");
    ok(&moxide(&["account", "quota", "--config", config, "bob", "1000000"], None));
    let domains_text = std::fs::read_to_string(dir.path().join("config/domains.toml")).unwrap();
    assert!(domains_text.contains("quota_bytes = 1000000"), "{domains_text}");
    let mut imap = common::Client::connect(server.imap.unwrap()).unwrap();
    assert!(imap.line().unwrap().starts_with("* OK"));
    imap.send(b"a LOGIN robert@example.com bob-password\r\n").unwrap();
    assert!(tagged(&mut imap, "a ").starts_with("a OK"));

    // Edited by hand, then reloaded.
    let domains_file = dir.path().join("config/domains.toml");
    let text = std::fs::read_to_string(&domains_file).unwrap();
    std::fs::write(&domains_file, format!("{text}\n[domains.\"hand.example\"]\n")).unwrap();
    let reloaded = ok(&moxide(&["config", "reload", "--config", config], None));
    assert!(reloaded.contains("3 domains"), "{reloaded}");
    // An invalid file changes nothing and says why.
    let good = std::fs::read_to_string(&domains_file).unwrap();
    std::fs::write(&domains_file, format!("{good}\n[accounts.eve]\naddresses = [\"eve@nowhere.example\"]\n"))
        .unwrap();
    let invalid = moxide(&["config", "reload", "--config", config], None);
    assert!(!invalid.status.success());
    assert!(String::from_utf8_lossy(&invalid.stderr).contains("not configured"), "{invalid:?}");
    let domains = python(&["domains", &http(&server)]);
    assert!(domains.contains("hand.example") && domains.contains("example.com"), "{domains}");
    // SIGHUP reloads too.
    std::fs::write(&domains_file, format!("{good}\n[domains.\"hup.example\"]\n")).unwrap();
    server.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !python(&["domains", &http(&server)]).contains("hup.example") {
        assert!(Instant::now() < deadline, "SIGHUP did not reload\n{}", server.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    ok(&moxide(&["alias", "rm", "--config", config, "team@example.com"], None));
    ok(&moxide(&["address", "rm", "--config", config, "robert@example.com"], None));
    ok(&moxide(&["account", "rm", "--config", config, "bob"], None));
    ok(&moxide(&["domain", "rm", "--config", config, "example.com"], None));
    let (status, _) = server.terminate(Duration::from_secs(20));
    assert!(status.is_some_and(|s| s.success()));
    assert!(!dir.path().join("data/ctl.sock").exists(), "the socket is removed at exit");

    // No server: the same verbs work under the lock.
    let added = ok(&moxide(&["domain", "add", "--config", config, "offline.example"], None));
    assert!(added.contains("e._domainkey.offline.example. TXT"), "{added}");
    ok(&moxide(&["account", "add", "--config", config, "carol", "carol@offline.example"], None));
    ok(&moxide(&["setaccountpassword", "--config", config, "carol"], Some("carol-password\n")));
    let server = start(dir.path(), true);
    let mut imap = common::Client::connect(server.imap.unwrap()).unwrap();
    assert!(imap.line().unwrap().starts_with("* OK"));
    imap.send(b"a LOGIN carol@offline.example carol-password\r\n").unwrap();
    assert!(tagged(&mut imap, "a ").starts_with("a OK"));
    let domains = python(&["domains", &http(&server)]);
    assert!(!domains.contains("example.com\n") && domains.contains("offline.example"), "{domains}");
}

/// schemathesis (PyPI) generates requests from the served OpenAPI document: no response
/// is a 5xx and every response matches the document.
#[test]
fn schemathesis_finds_no_server_errors() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), true);
    let http = http(&server);
    let login = Command::new("curl")
        .args(["-sS", "--fail", "-X", "POST", "-d", r#"{"username":"admin","password":"moxadmin"}"#])
        .arg(format!("http://{http}/api/v0/login"))
        .output()
        .unwrap();
    let token: serde_json::Value = serde_json::from_slice(&login.stdout).unwrap();
    let token = token["token"].as_str().unwrap();
    // Through the module, not the `schemathesis` script: pip puts scripts in
    // /usr/local/bin, which a fresh machine's PATH may lack.
    let output = Command::new("python3")
        .args(["-m", "schemathesis.cli"])
        .args(["run", &format!("http://{http}/api/v0/openapi.json")])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--max-examples", "15", "--phases", "examples,fuzzing", "--exclude-path", "/api/v0/logout"])
        .args(["--exclude-path", "/api/v0/admin/password", "--exclude-path", "/api/v0/admin/tokens/{id}"])
        .env("SCHEMATHESIS_HOOKS", "")
        // It keeps a cache in its working directory: the test's, not the repository.
        .current_dir(dir.path())
        .output()
        .expect("schemathesis is installed (scripts/test installs it from PyPI)");
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "schemathesis:\n{text}\n{}", server.log());
}

/// Account settings, suppression lists and hold rules over the API against `serve` (which
/// has a queue), then the CLI: `account set` and `queue suppress|holdrules` through the
/// control socket while the server runs (the server makes and logs the change), and under
/// the data directory's lock when it does not.
#[test]
fn account_settings_suppressions_and_hold_rules() {
    let dir = tempfile::tempdir().unwrap();
    let domains = "postmaster_account = \"alice\"\n[domains.\"example.org\"]\n\
        [accounts.alice]\naddresses = [\"alice@example.org\"]\n\
        [accounts.bob]\naddresses = [\"bob@example.org\"]\n";
    let listeners = [("smtp", ""), ("submission", ""), ("imap", ""), ("http", "")];
    let config = common::write_serve_config(dir.path(), "", &listeners, domains);
    common::set_password(&config, "alice", "alice secret");
    let config_arg = config.display().to_string();
    ok(&moxide(&["setadminpassword", "--config", &config_arg], Some("admin secret\n")));
    let mut server = Server::start_args(dir.path(), &["serve", "--config", &config_arg], &[]);
    let domains_file = dir.path().join("domains.toml").display().to_string();
    let (submission, imap) = (server.listener("submission").to_string(), server.listener("imap").to_string());
    python(&["policy", &http(&server), &submission, &imap, &domains_file]);

    // The CLI beside the running server goes through its API: the server logs each change.
    let queue = |args: &[&str]| ok(&moxide(&[&["queue", "--config", &config_arg], args].concat(), None));
    queue(&["suppress", "add", "bob", "Through@Socket.example", "--reason", "cli"]);
    let listed = queue(&["suppress", "list", "--account", "bob"]);
    assert!(listed.contains("bob through@socket.example") && listed.contains("reason cli"), "{listed}");
    assert!(server.log().contains("through@socket.example"), "the server made the change:\n{}", server.log());
    let added = queue(&["holdrules", "add", "--sender-domain", "example.org"]);
    let id = added.trim().strip_prefix("added ").unwrap().to_string();
    assert!(queue(&["holdrules", "list"]).contains("sender-domain example.org"));
    let failed = moxide(&["queue", "--config", &config_arg, "holdrules", "remove", "999"], None);
    assert!(!failed.status.success() && String::from_utf8_lossy(&failed.stderr).contains("no hold rule 999"));
    ok(&moxide(
        &[
            "account",
            "set",
            "--config",
            &config_arg,
            "bob",
            "--quota-messages",
            "9",
            "--hide-imap-capabilities",
            "SORT,THREAD",
        ],
        None,
    ));
    let text = std::fs::read_to_string(&domains_file).unwrap();
    assert!(text.contains("quota_messages = 9") && text.contains("\"SORT\""), "{text}");
    let refused =
        moxide(&["account", "set", "--config", &config_arg, "bob", "--hide-imap-capabilities", "A B"], None);
    assert!(!refused.status.success(), "an invalid setting is refused");

    // Offline: under the lock, on the store and the file themselves.
    let (status, _) = server.terminate(Duration::from_secs(20));
    assert!(status.is_some_and(|s| s.success()), "{}", server.log());
    assert!(queue(&["suppress", "list"]).contains("bob through@socket.example"));
    assert_eq!(queue(&["suppress", "remove", "bob", "through@socket.example"]).trim(), "removed");
    assert!(!queue(&["suppress", "list"]).contains("through@socket.example"));
    assert_eq!(queue(&["holdrules", "remove", &id]).trim(), "removed");
    ok(&moxide(
        &[
            "account",
            "set",
            "--config",
            &config_arg,
            "bob",
            "--quota-messages",
            "0",
            "--messages-per-day",
            "3",
        ],
        None,
    ));
    let text = std::fs::read_to_string(&domains_file).unwrap();
    assert!(
        !text.contains("quota_messages = 9") && text.contains("outgoing_messages_per_day_max = 3"),
        "{text}"
    );
}
