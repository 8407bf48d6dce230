//! `localserve` from any working directory: a relative, absolute, symlinked or spaced
//! `--dir`, and none at all, each started twice (first start and restart), each receiving
//! a message; and the reference config it writes is valid for `serve --config` from
//! elsewhere. Ports are kernel-chosen here; tests/readme.rs runs the defaults as a new user
//! would.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{Client, Server, message_for, stored_messages};

/// Every localserve port flag, set to 0.
const PORTS_ANY: [&str; 12] = [
    "--smtp-port",
    "0",
    "--submission-port",
    "0",
    "--submissions-port",
    "0",
    "--imap-port",
    "0",
    "--imaps-port",
    "0",
    "--http-port",
    "0",
];

/// Starts localserve in `cwd` with `dir_arg` (or no `--dir`), delivers one message tagged
/// `id`, stops it.
fn run_once(cwd: &Path, log_dir: &Path, dir_arg: Option<&str>, id: &str) {
    let mut args = vec!["localserve", "--cores", "1"];
    if let Some(dir) = dir_arg {
        args.extend(["--dir", dir]);
    }
    args.extend(PORTS_ANY);
    let mut server = Server::start_args_in(Some(cwd), log_dir, &args, &[]);
    let mut client = Client::connect(server.smtp).unwrap();
    client.hello().unwrap();
    let reply = client.deliver("a@example.org", &["mox@localhost"], &message_for(id, 500)).unwrap();
    assert_eq!(reply.code, 250, "{reply:?}\n{}", server.log());
    server.kill();
}

/// Starts twice, then checks both messages are stored under `data_root` (the directory
/// holding `data/` and `config/`).
fn check_twice(cwd: &Path, log_dir: &Path, dir_arg: Option<&str>, data_root: &Path) {
    run_once(cwd, log_dir, dir_arg, "first");
    run_once(cwd, log_dir, dir_arg, "second");
    let ids: Vec<_> =
        stored_messages(data_root, "mox").iter().filter_map(|m| common::message_id_of(&m.file)).collect();
    assert_eq!(ids, ["first", "second"], "dir {dir_arg:?} from {}", cwd.display());
    let reference = std::fs::read_to_string(data_root.join("config/moxide.toml")).unwrap();
    assert!(
        !reference.contains(&*data_root.to_string_lossy()),
        "reference config has absolute paths:\n{reference}"
    );
}

#[test]
fn no_dir_flag_uses_moxide_localserve_in_the_working_directory() {
    let tmp = tempfile::tempdir().unwrap();
    check_twice(tmp.path(), tmp.path(), None, &tmp.path().join("moxide-localserve"));
}

#[test]
fn relative_dir_with_subdirectories() {
    let tmp = tempfile::tempdir().unwrap();
    check_twice(tmp.path(), tmp.path(), Some("a/b/local"), &tmp.path().join("a/b/local"));
}

#[test]
fn relative_dir_with_dot_dot() {
    let tmp = tempfile::tempdir().unwrap();
    let cwd = tmp.path().join("work");
    std::fs::create_dir(&cwd).unwrap();
    check_twice(&cwd, tmp.path(), Some("../elsewhere"), &tmp.path().join("elsewhere"));
}

#[test]
fn absolute_dir_from_another_working_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("abs");
    check_twice(Path::new("/"), tmp.path(), Some(dir.to_str().unwrap()), &dir);
}

#[test]
fn dir_through_a_symlink() {
    let tmp = tempfile::tempdir().unwrap();
    let real = tmp.path().join("real");
    std::fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink(&real, tmp.path().join("link")).unwrap();
    check_twice(tmp.path(), tmp.path(), Some("link"), &real);
}

#[test]
fn dir_with_spaces() {
    let tmp = tempfile::tempdir().unwrap();
    check_twice(tmp.path(), tmp.path(), Some("my mail/local serve"), &tmp.path().join("my mail/local serve"));
}

#[test]
fn reference_config_serves_from_any_directory() {
    let tmp = tempfile::tempdir().unwrap();
    run_once(tmp.path(), tmp.path(), Some("ls"), "from-localserve");
    let config_dir = tmp.path().join("ls/config");

    // `config check` with a relative path from inside, and an absolute one from `/`.
    let check = |cwd: &Path, config: &str| {
        let output = Command::new(env!("CARGO_BIN_EXE_moxide"))
            .args(["config", "check", "--config", config])
            .current_dir(cwd)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    };
    check(&tmp.path().join("ls"), "config/moxide.toml");
    check(Path::new("/"), config_dir.join("moxide.toml").to_str().unwrap());

    // `serve` from a third directory with a relative path to the file.
    let other = tmp.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let mut server = Server::start_args_in(
        Some(&other),
        tmp.path(),
        &["serve", "--config", "../ls/config/moxide.toml"],
        &[],
    );
    let mut client = Client::connect(server.smtp).unwrap();
    client.hello().unwrap();
    let reply = client.deliver("a@example.org", &["mox@localhost"], &message_for("from-serve", 500)).unwrap();
    assert_eq!(reply.code, 250, "{reply:?}\n{}", server.log());
    server.kill();

    // Moved as a whole, the directory still serves.
    std::fs::rename(tmp.path().join("ls"), tmp.path().join("moved")).unwrap();
    check(Path::new("/"), tmp.path().join("moved/config/moxide.toml").to_str().unwrap());
    let ids: Vec<_> = stored_messages(&tmp.path().join("moved"), "mox")
        .iter()
        .filter_map(|m| common::message_id_of(&m.file))
        .collect();
    assert_eq!(ids, ["from-localserve", "from-serve"]);
}
