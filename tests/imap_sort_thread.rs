//! SORT, ESORT and THREAD (RFC 5256, RFC 5957, RFC 5267) through the real `moxide localserve` binary with
//! Python's imaplib (`tests/clients/sort_thread.py`: APPENDs a small corpus with
//! INTERNALDATEs, then sorts and threads it). The expected answers are Dovecot 2.3.19's
//! on the same script (run against `loadtests/private-dovecot`), which agree with the
//! hand-worked transcripts of `protocols/tests/imap_sort.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::Server;
use moxide_storage::{AccountStore, DataDir, Flags, MailboxId, MailboxTarget, NewMessage, StoreOptions, Uid};

/// Dovecot 2.3.19.1's answers (Debian bookworm's dovecot-imapd), line for line.
const DOVECOT_ANSWERS: &str = "\
SORT (ARRIVAL) UTF-8 ALL => OK 1 3 2 4
SORT (CC) UTF-8 ALL => OK 2 3 4 1
SORT (DATE) UTF-8 ALL => OK 3 2 4 1
SORT (DISPLAYFROM) UTF-8 ALL => OK 2 4 3 1
SORT (DISPLAYTO) UTF-8 ALL => OK 3 2 1 4
SORT (FROM) UTF-8 ALL => OK 2 4 3 1
SORT (REVERSE SIZE) UTF-8 NOT FROM zed => OK 2 4 3
SORT (SIZE) UTF-8 ALL => OK 3 1 4 2
SORT (SUBJECT DATE) UTF-8 ALL => OK 3 1 2 4
SORT (SUBJECT REVERSE DATE) UTF-8 ALL => OK 1 3 2 4
SORT (SUBJECT) UTF-8 ALL => OK 1 3 2 4
SORT (TO) US-ASCII ALL => OK 3 2 1 4
SORT RETURN (ALL) (SUBJECT) UTF-8 SUBJECT nothing => OK
SORT RETURN (COUNT ALL) (SIZE) UTF-8 ALL => OK ALL 3,1,4,2 COUNT 4
SORT RETURN (MIN MAX COUNT) (DATE) UTF-8 ALL => OK MIN 3 MAX 1 COUNT 4
THREAD ORDEREDSUBJECT UTF-8 ALL => OK (5 8)(1 (2)(4)(3)(9))(6 7)
THREAD REFERENCES US-ASCII NOT 9 => OK (5 8)(1 (2 3)(4))((6)(7))
THREAD REFERENCES UTF-8 ALL => OK (5 8)((1 (2 3)(4))(9))((6)(7))
THREAD REFS UTF-8 ALL => OK (5)(1 (2 3)(4))((6)(7))(8)(9)
UID SORT RETURN () (REVERSE ARRIVAL) UTF-8 ALL => OK UID ALL 4,2:3,1
";

#[test]
fn sort_and_thread_answer_as_dovecot_does() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), 2);
    assert_eq!(common::run_imap_client_script(&server, "sort_thread.py"), DOVECOT_ANSWERS);
}

/// Stores the corpora's messages in mailboxes `<prefix>sort` and `<prefix>thread` from
/// this process, which registers no key deriver: they get no stored ordering keys, as
/// messages stored before schema 7. `how`: "all" or "half" of each corpus (in order).
fn store_without_keys(dir: &Path, corpus: &Path, prefix: &str, how: &str) {
    let data = DataDir::open(dir.join("data")).unwrap();
    let store = AccountStore::open(&data, "mox", &StoreOptions::default()).unwrap();
    for kind in ["sort", "thread"] {
        let mailbox = format!("{prefix}{kind}");
        let target = MailboxTarget::Id(store.create_mailbox(&mailbox, None).unwrap().id);
        let mut files: Vec<(usize, i64, std::path::PathBuf)> = std::fs::read_dir(corpus)
            .unwrap()
            .map(|entry| entry.unwrap().path())
            .filter_map(|path| {
                let name = path.file_stem()?.to_str()?.to_string();
                let mut parts = name.split('-');
                (parts.next()? == kind).then_some(())?;
                let n = parts.next()?.parse().ok()?;
                let when: i64 = parts.next()?.parse().ok()?;
                Some((n, when, path))
            })
            .collect();
        files.sort();
        let keep = if how == "all" { files.len() } else { files.len() / 2 };
        for (n, when, path) in &files[..keep] {
            let bytes = std::fs::read(path).unwrap();
            // Its own spool file: delivery links it as the message file.
            let spool = data.spool_dir().join(format!("{prefix}{kind}-{n}"));
            std::fs::write(&spool, &bytes).unwrap();
            let message = NewMessage {
                spool_path: spool,
                size: bytes.len() as u64,
                prefix: Vec::new(),
                mailbox: target,
                received_ms: when * 1000,
                flags: Flags::empty(),
                keywords: Vec::new(),
                summary: Some(moxide_protocols::mime::summarize(&bytes).encode()),
                saved_ms: None,
            };
            for result in store.deliver(&[message]).unwrap() {
                result.unwrap();
            }
        }
        let id = store.read(|view| view.mailbox_by_name(&mailbox)).unwrap().unwrap().id;
        assert_eq!(stored_keys(&store, id), 0, "{mailbox}: no keys without a deriver");
    }
}

/// How many messages of `mailbox` have stored ordering keys.
fn stored_keys(store: &AccountStore, mailbox: MailboxId) -> usize {
    let mut count = 0;
    store
        .read(|view| {
            view.for_each_sort_keys(mailbox, Uid(1), Uid(u32::MAX), |_| {
                count += 1;
                std::ops::ControlFlow::Continue(())
            })
        })
        .unwrap();
    count
}

/// Runs sort_thread.py on the mailboxes `<prefix>sort` and `<prefix>thread`.
fn run_on(server: &Server, prefix: &str, how: &str) -> String {
    let port = server.imap.unwrap().port().to_string();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/sort_thread.py");
    let output = Command::new("python3")
        .arg(script)
        .args(["127.0.0.1", &port, "mox@localhost", "moxmoxmox", prefix, how])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Messages stored before the ordering keys were kept (none stored), and a mailbox of
/// both kinds, order exactly as messages with keys do; COPY, MOVE and EXPUNGE keep the
/// keys with their messages, and verifydata stays clean.
#[test]
fn messages_without_stored_keys_order_as_those_with_them() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = dir.path().join("corpus");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/sort_thread.py");
    let status = Command::new("python3").arg(script).arg("corpus").arg(&corpus).status().unwrap();
    assert!(status.success());
    let mut server = Server::start(dir.path(), 1);
    server.kill();
    store_without_keys(dir.path(), &corpus, "old", "all");
    store_without_keys(dir.path(), &corpus, "mixed", "half");
    let mut server = Server::start(dir.path(), 2);
    assert_eq!(run_on(&server, "old", "all"), DOVECOT_ANSWERS, "messages without keys");
    assert_eq!(run_on(&server, "mixed", "half"), DOVECOT_ANSWERS, "a mailbox of both kinds");

    // COPY, MOVE and EXPUNGE of messages with keys (the APPENDed half of "mixed").
    let port = server.imap.unwrap().port().to_string();
    let moves = r#"
import imaplib, sys
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1])); m.login("mox@localhost", "moxmoxmox")
m.create("moved"); m.select("mixedthread")
assert m.uid("COPY", "5:9", "moved")[0] == "OK"
assert m.uid("MOVE", "8:9", "moved")[0] == "OK"
m.select("moved")
m.uid("STORE", "1", "+FLAGS.SILENT", "(\\Deleted)"); m.expunge()
print(m.uid("THREAD", "REFERENCES", "UTF-8", "ALL")[1][0].decode())
"#;
    let output = Command::new("python3").args(["-c", moves, &port]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let threads = String::from_utf8_lossy(&output.stdout);
    assert!(!threads.trim().is_empty());
    server.kill();
    let (ok, report) = common::verifydata(dir.path());
    assert!(ok, "verifydata: {report}");
    let data = DataDir::open(dir.path().join("data")).unwrap();
    let store = AccountStore::open(&data, "mox", &StoreOptions::default()).unwrap();
    let id = |name: &str| store.read(|view| view.mailbox_by_name(name)).unwrap().unwrap().id;
    // mixedthread: 4 stored here without keys, 5 APPENDed with them; 2 of those moved out.
    assert_eq!(stored_keys(&store, id("mixedthread")), 3);
    // moved: 5 copies (all with keys) less the expunged first, plus the 2 moved in.
    assert_eq!(stored_keys(&store, id("moved")), 6);
    assert_eq!(stored_keys(&store, id("oldthread")), 0);
}
