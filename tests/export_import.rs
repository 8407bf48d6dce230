//! Mailbox export and import (issue 15, "Admin HTTP JSON API, live configuration,
//! Prometheus metrics and the CLI over them") against the real binary: messages with
//! flags and keywords APPENDed over IMAP are exported as mbox and Maildir in zip and
//! tar.gz and read back with Python's zipfile, tarfile and mailbox modules; the archives
//! are imported into another account and IMAP shows the same mailboxes, messages and
//! flags (and a watching session sees EXISTS); a Maildir made by Python's mailbox module
//! imports; the CLI exports through the control socket and offline; exporting a 50 MB
//! message does not grow the server's RSS by more than 16 MiB; a download paused past
//! the HTTP idle timeout still completes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::Server;

fn python(args: &[&str]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/export_import.py");
    let output = Command::new("python3").arg(script).args(args).output().expect("python3 is installed");
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "export_import.py {args:?} failed:\n{text}");
    text
}

/// localserve on kernel-chosen ports, loopback exempt from the per-IP limits.
fn start(dir: &Path) -> Server {
    let dir_arg = dir.display().to_string();
    let mut args = vec!["localserve", "--dir", &dir_arg, "--cores", "2", "--ratelimit-exempt", "127.0.0.1"];
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
    Server::start_args(dir, &args, &[])
}

/// `moxide export` into a file, checked by Python.
fn cli_export(config: &str, dir: &Path, format: &str, archive: &str) {
    let path = dir.join(format!("cli-{format}.{archive}"));
    let output = Command::new(env!("CARGO_BIN_EXE_moxide"))
        .args(["export", "--config", config, "--format", format, "--archive", archive, "mox"])
        .output()
        .unwrap();
    assert!(output.status.success(), "moxide export: {}", String::from_utf8_lossy(&output.stderr));
    std::fs::write(&path, &output.stdout).unwrap();
    python(&["checkarchive", &path.display().to_string(), format, archive]);
}

#[test]
fn export_and_import_round_trip_over_http_imap_and_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path());
    let http = server.listener("http").to_string();
    let imap = server.listener("imap").to_string();
    python(&["roundtrip", &http, &imap]);
    let config = dir.path().join("config/moxide.toml").display().to_string();
    cli_export(&config, dir.path(), "maildir", "tgz");
    cli_export(&config, dir.path(), "mbox", "zip");
    // `moxide import` through the control socket: the 5 messages of the CLI's Maildir export.
    let archive = dir.path().join("cli-maildir.tgz").display().to_string();
    let imported = Command::new(env!("CARGO_BIN_EXE_moxide"))
        .args(["import", "--config", &config, "pycopy", &archive])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&imported.stdout);
    assert!(imported.status.success(), "moxide import: {said}{}", String::from_utf8_lossy(&imported.stderr));
    assert!(said.contains("done; 5 messages stored"), "{said}");
    let refused = Command::new(env!("CARGO_BIN_EXE_moxide"))
        .args(["export", "--config", &config, "nobody"])
        .output()
        .unwrap();
    assert!(!refused.status.success(), "exporting an unknown account fails");
    server.terminate(std::time::Duration::from_secs(30));
    // Offline, under the data directory's lock.
    cli_export(&config, dir.path(), "mbox", "tgz");
    cli_export(&config, dir.path(), "maildir", "zip");
    let offline = Command::new(env!("CARGO_BIN_EXE_moxide"))
        .args(["import", "--config", &config, "pycopy", &archive])
        .output()
        .unwrap();
    assert!(!offline.status.success(), "import without a server is refused");
    let (clean, report) = common::verifydata(dir.path());
    assert!(clean, "{report}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("data/tmp"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("import-"))
        .collect();
    assert!(leftovers.is_empty(), "import files left in tmp/: {leftovers:?}");
}

#[test]
fn exporting_a_50_mb_message_keeps_the_server_small() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let http = server.listener("http").to_string();
    let imap = server.listener("imap").to_string();
    let out = python(&["rss", &http, &imap, &server.pid().to_string()]);
    eprintln!("{out}");
}

/// A download paused for longer than the HTTP idle timeout (60 s) completes: the idle
/// read timeout must not end a response that is being written.
#[test]
fn a_paused_download_outlives_the_idle_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path());
    let http = server.listener("http").to_string();
    let imap = server.listener("imap").to_string();
    python(&["slow", &http, &imap]);
}

/// `limits.import_bytes_max`: a body of exactly the limit is taken, one byte more gets
/// 413 (through `moxide import` on the control socket), and nothing stays in `tmp/`.
#[test]
fn import_bodies_are_held_to_the_configured_limit() {
    const DOMAINS: &str = r#"
postmaster_account = "alice"
[domains."example.org"]
[accounts.alice]
addresses = ["alice@example.org"]
"#;
    let dir = tempfile::tempdir().unwrap();
    let config =
        common::write_serve_config(dir.path(), "import_bytes_max = 100000\n", &[("smtp", "")], DOMAINS);
    let config = config.display().to_string();
    let _server = Server::start_args(dir.path(), &["serve", "--config", &config], &[]);
    let import = |bytes: usize| {
        let path = dir.path().join(format!("body-{bytes}"));
        let mut mbox = b"From x Thu Jan  1 00:00:00 1970\nSubject: limit\n\n".to_vec();
        mbox.resize(bytes, b'a');
        std::fs::write(&path, mbox).unwrap();
        let path = path.display().to_string();
        Command::new(env!("CARGO_BIN_EXE_moxide"))
            .args(["import", "--config", &config, "alice", &path])
            .output()
            .unwrap()
    };
    let taken = import(100_000);
    let said = String::from_utf8_lossy(&taken.stdout);
    assert!(taken.status.success(), "{said}{}", String::from_utf8_lossy(&taken.stderr));
    assert!(said.contains("done; 1 messages stored"), "{said}");
    let refused = import(100_001);
    assert!(!refused.status.success());
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(error.contains("over 100000 bytes"), "{error}");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("data/tmp"))
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("import-"))
        .collect();
    assert!(leftovers.is_empty(), "import files left in tmp/: {leftovers:?}");
}
