//! Injected storage faults through the real binary and real protocol sessions (issue 10,
//! "Faults: the reported outcome is the true one").
//!
//! Test builds of `moxide` carry storage's fault-injection seam (the `fault-injection`
//! feature, on through dev-dependencies only; see `storage/src/fault.rs`). The server is
//! started with `MOXIDE_FAULT_FILE`; each case writes one fault into that file (a chosen
//! fsync, hard link, rename or LMDB commit fails, fails after doing its work, finds the
//! disk full, or panics), sends one SMTP message or one IMAP (MULTI)APPEND, checks the
//! reply and that the fault fired (the server removes the file when it does). At the end
//! the server is restarted (its orphan sweep runs) and the store must hold exactly the
//! acknowledged messages, once each and byte-identical, with `verifydata` clean: the
//! answer each client got matches what is durable.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Client, Server, message_for, message_id_of, stored_messages};

/// One SMTP case: the fault, and the reply code the client must get.
const SMTP_CASES: &[(&str, u16)] = &[
    // An fsync before the commit fails: nothing indexed, links removed. The first is the
    // linked message file's data sync, the next a directory's.
    ("fsync fail", 451),
    ("fsync fail-after", 451),
    ("fsync fail 1", 451),
    ("fsync fail-after 1", 451),
    ("link fail", 451),
    ("link nospace", 452),
    // The commit fails with its outcome unknown (not visible): 451, file kept as orphan.
    ("commit fail", 451),
    // The commit's fsync fails after the transaction landed; a second sync succeeds:
    // it is committed and must be answered so (a 451 would make the sender duplicate it).
    ("commit fail-after", 250),
    ("commit nospace", 452),
    // A panic in the commit path aborts the transaction: answered as the failure it is.
    ("commit panic", 451),
];

struct Faults {
    file: PathBuf,
}

impl Faults {
    fn arm(&self, fault: &str) {
        std::fs::write(&self.file, fault).unwrap();
    }

    /// The server removes the file when the fault fires.
    fn assert_fired(&self, fault: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.file.exists() {
            assert!(Instant::now() < deadline, "fault {fault:?} never fired");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn imap_login(server: &Server) -> Client {
    let mut imap = Client::connect(server.imap.expect("imap listener")).unwrap();
    imap.line().unwrap();
    imap.send(b"a LOGIN mox@localhost moxmoxmox\r\n").unwrap();
    assert!(imap.line().unwrap().starts_with("a OK"));
    imap
}

/// One APPEND of `messages` (MULTIAPPEND when more than one, RFC 3502) with
/// synchronizing literals; returns the tagged reply.
fn imap_append(imap: &mut Client, messages: &[Vec<u8>]) -> String {
    imap.send(b"b APPEND INBOX").unwrap();
    for message in messages {
        imap.send(format!(" {{{}}}\r\n", message.len()).as_bytes()).unwrap();
        let line = imap.line().unwrap();
        if !line.starts_with('+') {
            return line;
        }
        imap.send(message).unwrap();
    }
    imap.send(b"\r\n").unwrap();
    loop {
        let line = imap.line().unwrap();
        if line.starts_with("b ") {
            return line;
        }
    }
}

#[test]
fn every_injected_fault_answers_what_is_durable() {
    let dir = tempfile::tempdir().unwrap();
    let faults = Faults { file: dir.path().join("fault") };
    let fault_env = faults.file.display().to_string();
    let env = [("MOXIDE_FAULT_FILE", fault_env.as_str())];
    let mut server = Server::start_with(dir.path(), 1, &env);
    let mut sent: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut acknowledged = BTreeSet::new();
    let mut smtp = Client::connect(server.smtp).unwrap();
    smtp.hello().unwrap();
    let mut deliver = |smtp: &mut Client, id: String| -> u16 {
        let message = message_for(&id, 2000);
        sent.insert(id.clone(), message.clone());
        let reply = smtp.deliver("faults@example.org", &["mox@localhost"], &message).unwrap();
        if reply.code == 250 {
            acknowledged.insert(id);
        }
        reply.code
    };
    // Opens the store (its first commits), so the faults below hit deliveries only.
    assert_eq!(deliver(&mut smtp, "warm-up".into()), 250);
    for (n, (fault, code)) in SMTP_CASES.iter().enumerate() {
        faults.arm(fault);
        let got = deliver(&mut smtp, format!("smtp-{n}"));
        assert_eq!(got, *code, "fault {fault:?}");
        faults.assert_fired(fault);
        // The server works again right after.
        assert_eq!(deliver(&mut smtp, format!("smtp-{n}-after")), 250, "after fault {fault:?}");
    }
    imap_cases(&server, &faults, &mut sent, &mut acknowledged);
    // Leaves three orphans (a MULTIAPPEND whose commit outcome is unknown keeps its
    // files); the next delivery would reuse the first id and replace its file.
    let mut imap = imap_login(&server);
    faults.arm("commit fail");
    let ids: Vec<String> = (0..3).map(|m| format!("orphan-{m}")).collect();
    let messages: Vec<Vec<u8>> = ids.iter().map(|id| message_for(id, 700)).collect();
    for (id, message) in ids.iter().zip(&messages) {
        sent.insert(id.clone(), message.clone());
    }
    let reply = imap_append(&mut imap, &messages);
    assert!(reply.starts_with("b NO [SERVERBUG]"), "{reply}");
    faults.assert_fired("commit fail");
    server.kill();

    // A restart sweeps orphans (files of failed or unknown commits); make the first
    // rename fail: the sweep gives up, logs, and the server serves anyway.
    faults.arm("rename fail");
    let mut restarted = Server::start_with(dir.path(), 1, &env);
    faults.assert_fired("rename fail");
    let mut smtp = Client::connect(restarted.smtp).unwrap();
    smtp.hello().unwrap();
    let message = message_for("after-restart", 500);
    sent.insert("after-restart".into(), message.clone());
    assert_eq!(smtp.deliver("faults@example.org", &["mox@localhost"], &message).unwrap().code, 250);
    acknowledged.insert("after-restart".into());
    restarted.kill();
    // Without faults the startup sweep moves the two orphans left aside.
    let mut clean = Server::start(dir.path(), 1);
    let orphans = dir.path().join("data/accounts/mox/orphans");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_dir(&orphans).map_or(0, Iterator::count) < 2 {
        assert!(Instant::now() < deadline, "the startup sweep did not move the orphans: {}", clean.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    clean.kill();

    check_store(dir.path(), &sent, &acknowledged);
}

/// IMAP APPEND under faults: MULTIAPPEND is all or nothing; OVERQUOTA for a full disk.
fn imap_cases(
    server: &Server,
    faults: &Faults,
    sent: &mut BTreeMap<String, Vec<u8>>,
    acknowledged: &mut BTreeSet<String>,
) {
    let mut imap = imap_login(server);
    let cases: &[(&str, &str)] = &[
        // The third message's link fails: none of the three may be stored.
        ("link fail 2", "b NO [SERVERBUG]"),
        ("link nospace 1", "b NO [OVERQUOTA]"),
        ("commit fail", "b NO [SERVERBUG]"),
        ("commit fail-after", "b OK [APPENDUID"),
    ];
    for (n, (fault, expected)) in cases.iter().enumerate() {
        faults.arm(fault);
        let ids: Vec<String> = (0..3).map(|m| format!("imap-{n}-{m}")).collect();
        let messages: Vec<Vec<u8>> = ids.iter().map(|id| message_for(id, 1500)).collect();
        for (id, message) in ids.iter().zip(&messages) {
            sent.insert(id.clone(), message.clone());
        }
        let reply = imap_append(&mut imap, &messages);
        assert!(reply.starts_with(expected), "fault {fault:?}: {reply}");
        faults.assert_fired(fault);
        if reply.starts_with("b OK") {
            acknowledged.extend(ids);
        }
    }
}

fn check_store(dir: &Path, sent: &BTreeMap<String, Vec<u8>>, acknowledged: &BTreeSet<String>) {
    let stored = stored_messages(dir, "mox");
    let mut seen = BTreeSet::new();
    for message in &stored {
        let id = message_id_of(&message.file).expect("stored message without a test id");
        assert!(seen.insert(id.clone()), "{id} stored twice");
        let bytes = sent.get(&id).unwrap_or_else(|| panic!("{id} stored but never sent"));
        assert!(message.file.ends_with(bytes), "{id}: stored bytes differ");
        assert!(acknowledged.contains(&id), "{id} is stored but its client was told it failed");
    }
    for id in acknowledged {
        assert!(seen.contains(id), "{id} was acknowledged but is not stored");
    }
    let (ok, report) = common::verifydata(dir);
    assert!(ok, "verifydata: {report}");
    assert!(!report.contains("orphan file"), "the startup sweep left orphans: {report}");
}

/// `verifydata --fix` moves orphan files aside (after checking the index) and leaves
/// indexed messages alone.
#[test]
fn verifydata_fix_moves_orphans_aside() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), 1);
    let mut smtp = Client::connect(server.smtp).unwrap();
    smtp.hello().unwrap();
    let message = message_for("kept", 800);
    assert_eq!(smtp.deliver("fix@example.org", &["mox@localhost"], &message).unwrap().code, 250);
    server.kill();
    // id 999999 lives in msg/244 (id >> 12); the index has no record for it.
    let orphan_dir = dir.path().join("data/accounts/mox/msg/244");
    std::fs::create_dir_all(&orphan_dir).unwrap();
    std::fs::write(orphan_dir.join("999999"), b"left by a crash").unwrap();
    let (ok, report) = common::verifydata(dir.path());
    assert!(ok && report.contains("orphan file"), "{report}");
    let data = dir.path().join("data");
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_moxide"))
        .args(["verifydata", "--fix"])
        .arg(&data)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success() && text.contains("moved orphan"), "{text}");
    let moved = data.join("accounts/mox/orphans/999999-0");
    assert_eq!(std::fs::read(moved).unwrap(), b"left by a crash");
    let (ok, report) = common::verifydata(dir.path());
    assert!(ok && !report.contains("orphan file"), "{report}");
    let stored = stored_messages(dir.path(), "mox");
    assert_eq!(stored.len(), 1);
    assert!(stored[0].file.ends_with(&message));
}
