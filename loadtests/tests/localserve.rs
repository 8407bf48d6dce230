//! End-to-end: every scenario against a real `moxide localserve` on kernel-chosen ports,
//! with small counts, asserting zero errors, exact counts where the scenario has them
//! (smtp --verify-imap), and the exit status contract (0 passed, 1 failed, 2 usage). The
//! stress scenario's violations are asserted by kind: 0 of every kind but those listed in
//! [`MOXIDE_KNOWN_STRESS_VIOLATIONS`] (empty since issue 11).
//!
//! The moxide binary comes from `MOXIDE_BIN`, else from this target directory (where
//! `cargo test --workspace` builds it), else it is built here with `cargo build -p moxide`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// How long a debug-build server may take to print "ready" on a loaded 2-core machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The moxide binary, built if needed (once per test process).
fn moxide_binary() -> PathBuf {
    static BINARY: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BINARY.get_or_init(locate_or_build).clone()
}

fn locate_or_build() -> PathBuf {
    if let Some(path) = std::env::var_os("MOXIDE_BIN") {
        return PathBuf::from(path);
    }
    // target/<profile>/deps/<test binary> → target/<profile>/moxide
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap().to_path_buf();
    let binary = profile_dir.join("moxide");
    if binary.exists() {
        return binary;
    }
    let target_dir = profile_dir.parent().unwrap();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let mut command = Command::new(cargo);
    command.args(["build", "-p", "moxide"]).env("CARGO_TARGET_DIR", target_dir);
    // What cargo sets for this test process describes moxide-load; build scripts (ring)
    // rerun when it changes, which would rebuild them here and again in the next build.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        let ours = ["CARGO_PKG_", "CARGO_MANIFEST_", "CARGO_BIN_", "CARGO_CRATE_", "CARGO_PRIMARY_PACKAGE"]
            .iter()
            .any(|prefix| key.starts_with(prefix));
        if ours || key == "OUT_DIR" || key == "CARGO_TARGET_TMPDIR" || key == "CARGO_RUSTC_CURRENT_DIR" {
            command.env_remove(key.as_ref());
        }
    }
    if profile_dir.file_name().is_some_and(|name| name == "release") {
        command.arg("--release");
    }
    let status = command.status().expect("run cargo build -p moxide");
    assert!(status.success(), "cargo build -p moxide failed");
    assert!(binary.exists(), "{} missing after the build", binary.display());
    binary
}

/// A running `moxide localserve`, killed on drop.
struct Server {
    child: Child,
    smtp: String,
    submission: String,
    imap: String,
    /// The data and config directory (`None` once [`Server::stop`] took it).
    dir: Option<tempfile::TempDir>,
}

impl Server {
    fn start() -> Server {
        Server::start_with_accounts(0)
    }

    /// A server with `accounts` more accounts, `load1@localhost` .. `loadN@localhost`, all
    /// with password `moxmoxmox`. They go into `config/domains.toml` before the first start;
    /// their passwords are set with `moxide setaccountpassword` (which needs the server
    /// stopped) after a first start has written `config/moxide.toml`.
    fn start_with_accounts(accounts: u32) -> Server {
        let dir = tempfile::tempdir().unwrap();
        if accounts == 0 {
            return Server::spawn(dir);
        }
        let config = dir.path().join("config");
        std::fs::create_dir_all(&config).unwrap();
        let mut domains = String::from(
            "postmaster_account = \"mox\"\n[domains.localhost]\nlocalpart_separators = [\"+\"]\n\
             [accounts.mox]\naddresses = [\"mox@localhost\", \"@localhost\"]\n",
        );
        for n in 1..=accounts {
            domains.push_str(&format!("[accounts.load{n}]\naddresses = [\"load{n}@localhost\"]\n"));
        }
        std::fs::write(config.join("domains.toml"), domains).unwrap();
        let first = Server::spawn(dir);
        let dir = first.stop();
        for n in 1..=accounts {
            let mut child = Command::new(moxide_binary())
                .args(["setaccountpassword", "--config"])
                .arg(dir.path().join("config/moxide.toml"))
                .arg(format!("load{n}"))
                .env("RUST_LOG", "warn")
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .spawn()
                .unwrap();
            std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"moxmoxmox\n").unwrap();
            assert!(child.wait().unwrap().success(), "setaccountpassword load{n}");
        }
        Server::spawn(dir)
    }

    /// Starts `moxide localserve` on `dir` and waits until it is ready.
    fn spawn(dir: tempfile::TempDir) -> Server {
        let log =
            std::fs::File::options().create(true).append(true).open(dir.path().join("server.log")).unwrap();
        let mut command = Command::new(moxide_binary());
        command.args(["localserve", "--dir"]).arg(dir.path()).args(["--cores", "1"]);
        for port in [
            "--smtp-port",
            "--submission-port",
            "--submissions-port",
            "--imap-port",
            "--imaps-port",
            "--http-port",
        ] {
            command.args([port, "0"]);
        }
        // The per-IP limits would otherwise refuse a load generator on loopback.
        command.args(["--ratelimit-exempt", "127.0.0.1"]);
        let mut child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(log).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (lines, receiver) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if lines.send(line).is_err() {
                    break;
                }
            }
        });
        let (mut smtp, mut imap, mut submission) = (None, None, None);
        loop {
            let line = match receiver.recv_timeout(START_TIMEOUT) {
                Ok(line) => line,
                Err(_) => {
                    let _ = child.kill();
                    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
                    panic!("moxide localserve did not become ready; log:\n{log}");
                }
            };
            if let Some(address) = line.strip_prefix("moxide: listening smtp ") {
                smtp = Some(address.to_string());
            }
            if let Some(address) = line.strip_prefix("moxide: listening submission ") {
                submission = Some(address.to_string());
            }
            if let Some(address) = line.strip_prefix("moxide: listening imap ") {
                imap = Some(address.to_string());
            }
            if line == "moxide: ready" {
                break;
            }
        }
        Server {
            child,
            smtp: smtp.unwrap(),
            submission: submission.unwrap(),
            imap: imap.unwrap(),
            dir: Some(dir),
        }
    }

    /// Stops the server (it releases its data directory lock when it exits) and returns
    /// the directory.
    fn stop(mut self) -> tempfile::TempDir {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.dir.take().unwrap()
    }

    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Runs moxide-load with `args` plus this server's addresses.
    fn load(&self, args: &[&str]) -> Output {
        self.load_to(&self.smtp, args)
    }

    /// [`Server::load`] with SMTP at `smtp`.
    fn load_to(&self, smtp: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_moxide-load"))
            .args(args)
            .args(["--smtp", smtp, "--imap", &self.imap])
            .output()
            .unwrap()
    }

    /// Runs moxide-load with `--json`, checks it passed, returns the report.
    fn load_json(&self, args: &[&str]) -> Value {
        self.load_json_to(&self.smtp, args)
    }

    /// [`Server::load_json`] with SMTP at `smtp`.
    fn load_json_to(&self, smtp: &str, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.push("--json");
        let output = self.load_to(smtp, &all);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let report: Value = serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&output.stderr)));
        assert_eq!(report["errors"], 0, "{args:?}: {report:#}");
        assert_eq!(report["passed"], true, "{args:?}: {report:#}");
        assert!(output.status.success(), "{args:?}: {report:#}");
        report
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn smtp_deliveries_are_verified_exactly() {
    let server = Server::start();
    let pid = server.pid();
    let report = server.load_json(&[
        "smtp",
        "--messages",
        "60",
        "--connections",
        "3",
        "--duration",
        "60",
        "--verify-imap",
        "--server-pid",
        &pid,
    ]);
    assert_eq!(report["ok"], 60);
    assert_eq!(report["latency_ms"]["transaction"]["count"], 60);
    let verify = &report["smtp"]["verify"];
    assert_eq!((verify["expected"].as_u64(), verify["found"].as_u64()), (Some(60), Some(60)));
    assert_eq!((verify["missing"].as_u64(), verify["duplicates"].as_u64()), (Some(0), Some(0)));
    assert!(verify["e2e_seconds"].as_f64().unwrap() > 0.0);
    assert!(report["server"]["rss_peak_kib"].as_u64().unwrap() > 1000);
    assert!(report["server"]["cpu_seconds"].as_f64().unwrap() > 0.0);

    // Pipelining and BDAT, when the server offers them (moxide does).
    let report = server.load_json(&[
        "smtp",
        "--messages",
        "30",
        "--connections",
        "2",
        "--pipelining",
        "--chunking",
        "--verify-imap",
        "--size",
        "20000",
    ]);
    assert_eq!(report["smtp"]["pipelining"], true);
    assert_eq!(report["smtp"]["chunking"], true);
    assert_eq!(report["smtp"]["verify"]["found"], 30);
    assert_eq!(report["smtp"]["bytes_accepted"], 30 * 20000);

    // A corpus with bare-LF files and dot-lines; each message sent exactly once.
    let corpus = tempfile::tempdir().unwrap();
    std::fs::write(corpus.path().join("1.eml"), "Subject: one\nMessage-ID: <x@y>\n\n.dot line\nbody\n")
        .unwrap();
    std::fs::write(corpus.path().join("2.eml"), "Subject: two\r\n\r\n..\r\n.\r\nend\r\n").unwrap();
    let corpus_path = corpus.path().to_str().unwrap();
    let report =
        server.load_json(&["smtp", "--messages", "12", "--size-corpus", corpus_path, "--verify-imap"]);
    assert_eq!(report["smtp"]["verify"]["found"], 12);
    assert_eq!(report["smtp"]["corpus_files"], 2);

    // Submission with AUTH PLAIN, as the relay benchmark submits.
    let submission = server.submission.clone();
    let report = server.load_json_to(
        &submission,
        &["smtp", "--messages", "10", "--auth", "--from", "mox@localhost", "--verify-imap"],
    );
    assert_eq!(report["smtp"]["verify"]["found"], 10, "{report:#}");
}

#[test]
fn smtp_one_message_per_connection_over_several_accounts() {
    let server = Server::start_with_accounts(3);
    let report = server.load_json(&[
        "smtp",
        "--messages",
        "30",
        "--connections",
        "2",
        "--accounts",
        "3",
        "--rcpt",
        "load{n}@localhost",
        "--user",
        "load{n}@localhost",
        "--messages-per-connection",
        "1",
        "--verify-imap",
    ]);
    assert_eq!(report["ok"], 30, "{report:#}");
    // One connection per message: every transaction had its own connect.
    assert_eq!(report["latency_ms"]["connect"]["count"], 30, "{report:#}");
    assert_eq!(
        (report["smtp"]["accounts"].as_u64(), report["smtp"]["messages_per_connection"].as_u64()),
        (Some(3), Some(1))
    );
    let verify = &report["smtp"]["verify"];
    assert_eq!((verify["expected"].as_u64(), verify["found"].as_u64()), (Some(30), Some(30)), "{report:#}");
    assert_eq!(verify["passed"], true);
}

#[test]
fn imap_mix_and_login_churn_run_clean() {
    let server = Server::start();
    let report = server.load_json(&["imap", "--ops", "150", "--connections", "3", "--duration", "60"]);
    assert_eq!(report["ok"], 150);
    assert!(report["imap"]["mailbox_messages"].as_u64().unwrap() >= 100);
    let latency = report["latency_ms"].as_object().unwrap();
    for op in
        ["select", "fetch_flags", "fetch_envelope", "fetch_body", "store", "search", "append", "expunge"]
    {
        assert!(latency.contains_key(op), "{op} never ran: {report:#}");
    }

    let report = server.load_json(&["imap", "--ops", "20", "--connections", "2", "--login-churn"]);
    assert_eq!(report["ok"], 20);
    assert_eq!(report["latency_ms"]["login_session"]["count"], 20);

    // The table form, for people.
    let output = server.load(&["imap", "--ops", "10", "--mix", "fetch_flags=1,idle=1"]);
    let table = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{table}");
    assert!(table.starts_with("moxide-load imap: 10 ok, 0 errors"), "{table}");
    assert!(table.contains("p99 ms"), "{table}");
}

#[test]
fn imap_mix_over_several_accounts_switches_sessions() {
    let server = Server::start_with_accounts(3);
    let mix = "list=2,status=2,select=1,fetch_flags=2,fetch_envelope=2,store_keyword=2,expunge=1,append=1";
    let report = server.load_json(&[
        "imap",
        "--user",
        "load{n}@localhost",
        "--accounts",
        "3",
        "--switch-after",
        "5",
        "--ops",
        "120",
        "--connections",
        "2",
        "--mix",
        mix,
    ]);
    assert_eq!(report["ok"], 120, "{report:#}");
    assert_eq!(
        (report["imap"]["accounts"].as_u64(), report["imap"]["switch_after"].as_u64()),
        (Some(3), Some(5))
    );
    assert!(report["imap"]["mailbox_messages"].as_u64().unwrap() >= 100, "every account filled: {report:#}");
    // 120 operations in sessions of 5: about 24 sessions, each set up once.
    let sessions = report["latency_ms"]["session_setup"]["count"].as_u64().unwrap();
    assert!((24..=26).contains(&sessions), "{sessions} sessions: {report:#}");
    let latency = report["latency_ms"].as_object().unwrap();
    for op in ["list", "status", "store_keyword"] {
        assert!(latency.contains_key(op), "{op} never ran: {report:#}");
    }
}

#[test]
fn idle_connections_see_every_probe() {
    let server = Server::start();
    let pid = server.pid();
    let report = server.load_json(&[
        "idle",
        "--connections",
        "25",
        "--sources",
        "127.0.0.1",
        "--probes",
        "2",
        "--server-pid",
        &pid,
        "--duration",
        "60",
    ]);
    assert_eq!(report["ok"], 25);
    let idle = &report["idle"];
    assert_eq!(idle["connections_idle"], 25);
    assert_eq!(idle["probes_delivered"], 2);
    assert_eq!(idle["notifications_expected"], 50);
    assert_eq!(idle["notifications_received"], 50);
    assert_eq!(report["latency_ms"]["exists"]["count"], 50);
    assert!(idle["memory_per_connection_bytes"].is_u64(), "{report:#}");
    assert!(idle["rss_idle_kib"].as_u64().unwrap() >= idle["rss_before_kib"].as_u64().unwrap() / 2);
}

#[test]
fn bigbox_fills_then_times_whole_mailbox_operations() {
    let server = Server::start();
    let report = server.load_json(&["bigbox", "--messages", "300", "--rounds", "2", "--duration", "120"]);
    let bigbox = &report["bigbox"];
    assert_eq!(bigbox["appended"], 300);
    assert_eq!(bigbox["messages_in_mailbox"], 300);
    assert_eq!(bigbox["rounds"], 2);
    assert_eq!(bigbox["multiappend"], true);
    assert_eq!(bigbox["condstore"], true);
    assert!(bigbox["search_matches"].as_u64().unwrap() > 0, "{report:#}");
    assert!(bigbox["changedsince_results"].as_u64().unwrap() > 0, "{report:#}");
    // TEXT looks at headers too: it finds at least what BODY finds.
    assert!(bigbox["search_text_matches"].as_u64().unwrap() >= bigbox["search_matches"].as_u64().unwrap());
    for kind in [
        "select",
        "fetch_all_flags",
        "fetch_bodies",
        "search_body",
        "search_text",
        "store",
        "fetch_changedsince",
    ] {
        assert_eq!(report["latency_ms"][kind]["count"], 2, "{kind}: {report:#}");
    }
    // A second run finds the mailbox full and appends nothing; its body FETCH asks for
    // more than the mailbox holds, so it fetches (and checks it got) all 300.
    let report =
        server.load_json(&["bigbox", "--messages", "300", "--rounds", "1", "--fetch-bodies", "1000"]);
    assert_eq!(report["bigbox"]["appended"], 0);
    assert_eq!(report["latency_ms"]["fetch_bodies"]["count"], 1, "{report:#}");
    assert_eq!(report["errors"], 0, "{report:#}");
}

/// Kinds of `stress` violations moxide is known to produce, tolerated by the test below;
/// every other kind must be 0. Issue 11 ("IMAP as a sans-IO session, and Dovecot-level
/// conformance under concurrency") fixed the four it once held (unannounced keywords,
/// failed or incomplete FETCH of a message another session expunged, updates after
/// LOGOUT). With the list empty the test demands a clean run (0 violations, exit status 0).
const MOXIDE_KNOWN_STRESS_VIOLATIONS: &[&str] = &[];

#[test]
fn stress_finds_no_violations_but_the_known_ones() {
    let server = Server::start_with_accounts(4);
    let output = server.load(&[
        "stress",
        "--user",
        "load{n}@localhost",
        "--password",
        "moxmoxmox",
        "--accounts",
        "4",
        "--connections",
        "6",
        "--duration",
        "8",
        "--json",
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{e}: {stdout}\n{}", String::from_utf8_lossy(&output.stderr)));
    assert_eq!(report["scenario"], "stress");
    assert_eq!(report["errors"], 0, "{report:#}");
    let stress = &report["stress"];
    let sessions = stress["sessions"].as_u64().unwrap();
    assert!(sessions > 0 && report["ok"].as_u64() == Some(sessions), "{report:#}");
    assert!(stress["commands"].as_u64().unwrap() > sessions * 3, "{report:#}");
    assert!(
        stress["appended"].as_u64().unwrap() > 0 && stress["expunged"].as_u64().unwrap() > 0,
        "{report:#}"
    );
    // moxide offers IMAP4rev2: every other session enables it.
    assert!(stress["rev2_sessions"].as_u64().unwrap() > 0, "{report:#}");
    let by_kind = stress["violations_by_kind"].as_object().unwrap();
    for kind in
        MOXIDE_KNOWN_STRESS_VIOLATIONS.iter().chain(&["seq_out_of_range", "store_wrong_flags", "malformed"])
    {
        assert!(by_kind.contains_key(*kind), "{kind} missing from {by_kind:?}");
    }
    let total: u64 = by_kind.values().map(|count| count.as_u64().unwrap()).sum();
    assert_eq!(stress["violations"].as_u64(), Some(total));
    let samples = stress["samples"].as_object().unwrap();
    for (kind, count) in by_kind {
        let count = count.as_u64().unwrap();
        let sample = samples.get(kind).and_then(Value::as_str);
        if count == 0 {
            assert!(sample.is_none(), "{kind}: sample without violations");
            continue;
        }
        let sample = sample.unwrap_or_else(|| panic!("{kind}: {count} violations, no sample"));
        assert!(sample.contains(&format!("!! {kind}: ")) && sample.contains("S: "), "{sample}");
        assert!(
            MOXIDE_KNOWN_STRESS_VIOLATIONS.contains(&kind.as_str()),
            "{count} {kind} violations (not a known bug); first:\n{sample}"
        );
    }
    assert_eq!(report["passed"], total == 0, "{report:#}");
    assert_eq!(output.status.code(), Some(if total == 0 { 0 } else { 1 }), "{report:#}");
    if MOXIDE_KNOWN_STRESS_VIOLATIONS.is_empty() {
        assert_eq!(report["passed"], true, "{report:#}");
    }
}

#[test]
fn exit_status_follows_the_outcome() {
    let server = Server::start();
    // A wrong password: the run cannot start; status 1 and a fatal message in the JSON.
    let output = server.load(&["imap", "--ops", "5", "--password", "wrong", "--json"]);
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["passed"], false);
    assert!(report["fatal"].as_str().unwrap().contains("login"), "{report:#}");
    // Mail to an address the server refuses: errors counted, status 1.
    let output = server.load(&["smtp", "--messages", "3", "--rcpt", "nobody@elsewhere.example", "--json"]);
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["errors"], 3, "{report:#}");
    assert_eq!(report["ok"], 0);
}

#[test]
fn remote_targets_are_refused_without_allow_remote() {
    let output = Command::new(env!("CARGO_BIN_EXE_moxide-load"))
        .args(["smtp", "--smtp", "192.0.2.1:25", "--messages", "1"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--allow-remote") && stderr.contains("192.0.2.1"), "{stderr}");
    assert!(output.stdout.is_empty());
    // Several accounts need a numbered login name.
    let output = Command::new(env!("CARGO_BIN_EXE_moxide-load"))
        .args(["stress", "--accounts", "5", "--user", "mox@localhost"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("{n}"));
}
