//! Submission and address rules against the real `moxide serve` binary, with Python's
//! smtplib and swaks: AUTH PLAIN with an authzid that is another address of the same
//! account (accepted) or of another account (refused); the message's `From:` must be an
//! address of the authenticated account (`550 5.7.1`, found while the message streams
//! in), with a null reverse path too; a local part over 64 octets gets `501`. Only the
//! messages the rules allow are stored.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{PASSWORD, Server, set_password, stored_messages, write_serve_config};

const DOMAINS: &str = r#"
postmaster_account = "alice"
[domains."example.org"]
[accounts.alice]
addresses = ["alice@example.org", "al@example.org"]
[accounts.bob]
addresses = ["bob@example.org"]
"#;

#[test]
fn submission_checks_the_author_and_authzid_and_paths_their_length() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_serve_config(dir.path(), "", &[("submission", ""), ("smtp", "")], DOMAINS);
    set_password(&config, "alice", PASSWORD);
    let config_arg = config.display().to_string();
    let mut server = Server::start_args(dir.path(), &["serve", "--config", &config_arg], &[]);
    let submission = server.listener("submission").port().to_string();
    let smtp = server.smtp.port().to_string();

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/submission.py");
    let output = Command::new("python3").arg(script).args([&submission, &smtp, PASSWORD]).output().unwrap();
    let transcript =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "submission.py failed:\n{transcript}\nlog:\n{}", server.log());

    // swaks, authenticated as alice, with bob's address as the author: refused.
    let output = Command::new("swaks")
        .args(["--server", "127.0.0.1", "--port", &submission, "--auth", "PLAIN"])
        .args(["--auth-user", "alice@example.org", "--auth-password", PASSWORD])
        .args(["--from", "alice@example.org", "--to", "bob@example.org", "--helo", "swaks.example"])
        .args(["--header", "From: Bob <bob@example.org>", "--header", "Message-ID: <swaks-forged@test>"])
        .output()
        .expect("swaks is installed (scripts/test installs it)");
    let transcript = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(!output.status.success(), "swaks forged From accepted:\n{transcript}");
    assert!(transcript.contains("<** 550 5.7.1"), "{transcript}");

    let (status, _) = server.terminate(Duration::from_secs(30));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let stored: Vec<String> =
        stored_messages(dir.path(), "bob").iter().filter_map(|m| common::message_id_of(&m.file)).collect();
    assert_eq!(stored, ["own", "own-null"], "only the messages from alice's own addresses");
    let (ok, report) = common::verifydata(dir.path());
    assert!(ok, "{report}");
}
