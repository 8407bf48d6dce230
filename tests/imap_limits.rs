//! Mailbox limits (issue 10, "Bounded by design") through the real binary: `moxide serve`
//! with `limits.mailboxes_max = 12` and `limits.mailbox_depth_max = 4`, driven by Python's
//! imaplib: CREATE past the depth or the count (parents included) and RENAME that would
//! make parents get `NO [LIMIT]` and change nothing; LIST with 60 000 `%` answers at once
//! while another session's NOOPs go on.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};

use common::Server;

const DOMAINS: &str = r#"
postmaster_account = "alice"
[domains."example.org"]
[accounts.alice]
addresses = ["alice@example.org"]
"#;

const PASSWORD: &str = "limits-password";

fn write_config(dir: &Path) -> String {
    std::fs::write(dir.join("domains.toml"), DOMAINS).unwrap();
    let path = dir.join("moxide.toml");
    let text = "hostname = \"mx.example.org\"\ndata_dir = \"data\"\ndomains_file = \"domains.toml\"\n\
        cores = 2\npin_cores = false\n[limits]\nmailboxes_max = 12\nmailbox_depth_max = 4\n\
        [[listeners]]\nprotocol = \"smtp\"\naddress = \"127.0.0.1:0\"\n\
        [[listeners]]\nprotocol = \"imap\"\naddress = \"127.0.0.1:0\"\n";
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn set_password(config: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_moxide"))
        .args(["setaccountpassword", "--config", config, "alice"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn mailbox_limits_and_long_list_patterns() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path());
    set_password(&config);
    let server = Server::start_args(dir.path(), &["serve", "--config", &config], &[]);
    let port = server.imap.expect("imap listener printed").port().to_string();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/imap_limits.py");
    let output = Command::new("python3")
        .arg(script)
        .args([port.as_str(), "alice@example.org", PASSWORD])
        .output()
        .expect("python3 is installed (scripts/test installs it)");
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "imap_limits.py failed:\n{text}\nserver log:\n{}", server.log());
    eprintln!("{}", text.trim());
}
