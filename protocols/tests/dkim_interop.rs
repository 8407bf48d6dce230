//! DKIM verification against signatures we did not make: `dkimpy` (PyPI) signs messages
//! with fresh keys in every algorithm and canonicalization pair we verify (rsa-sha256 with
//! 2048- and 1024-bit keys, a key published as a bare RSAPublicKey, rsa-sha1, ed25519-sha256;
//! simple and relaxed for header and body; with and without `l=`), through
//! `tests/dkim/dkimpy_sign.py`. Every one must pass when fed whole and in small chunks;
//! tampered copies must fail (a changed body, a changed signed header), except that text
//! appended past `l=` still passes, as RFC 6376 §3.5 intends. `scripts/test` installs
//! dkimpy and pynacl.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use base64::Engine as _;
use moxide_protocols::auth::dkim::{self, DkimStatus};
use moxide_protocols::auth::intake::Intake;
use moxide_protocols::dns::memory::MemoryResolver;

struct Signed {
    name: String,
    length: bool,
    message: Vec<u8>,
}

fn dkimpy_messages() -> (MemoryResolver, Vec<Signed>) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/dkim/dkimpy_sign.py");
    let output = Command::new("python3").arg(script).output().expect("python3 runs");
    assert!(
        output.status.success(),
        "dkimpy_sign.py failed (scripts/test installs dkimpy and pynacl from PyPI): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let mut zone = MemoryResolver::new();
    for (name, record) in json["keys"].as_object().unwrap() {
        zone.add_txt(name, record.as_str().unwrap());
    }
    let messages = json["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| Signed {
            name: m["name"].as_str().unwrap().to_string(),
            length: m["length"].as_bool().unwrap(),
            message: base64::engine::general_purpose::STANDARD
                .decode(m["message"].as_str().unwrap())
                .unwrap(),
        })
        .collect();
    (zone, messages)
}

fn verify(zone: &MemoryResolver, message: &[u8], chunk: usize) -> Vec<dkim::DkimResult> {
    let mut intake = Intake::new();
    for piece in message.chunks(chunk) {
        intake.update(piece);
    }
    let collected = intake.finish();
    futures_lite::future::block_on(dkim::verify(zone, &collected, 1_700_000_000))
}

fn status(zone: &MemoryResolver, message: &[u8], chunk: usize) -> (DkimStatus, Option<String>) {
    let results = verify(zone, message, chunk);
    assert_eq!(results.len(), 1);
    (results[0].status, results[0].reason.clone())
}

/// `message` with a byte added at the start of the body.
fn with_changed_body(message: &[u8]) -> Vec<u8> {
    let mut changed = message.to_vec();
    let body_start = changed.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    changed.insert(body_start, b'X');
    changed
}

fn with_changed_subject(message: &[u8]) -> Vec<u8> {
    let text = String::from_utf8(message.to_vec()).unwrap();
    text.replacen("Subject: ", "Subject: Re: ", 1).into_bytes()
}

#[test]
fn dkimpy_signatures_verify_and_tampering_fails() {
    let (zone, messages) = dkimpy_messages();
    assert_eq!(messages.len(), 160);
    let mut failures = Vec::new();
    for signed in &messages {
        for chunk in [signed.message.len(), 1, 7, 4096] {
            let (got, reason) = status(&zone, &signed.message, chunk);
            if got != DkimStatus::Pass {
                failures.push(format!("{} (chunks of {chunk}): {got:?} {reason:?}", signed.name));
            }
        }
        let (got, _) = status(&zone, &with_changed_subject(&signed.message), 64);
        if got != DkimStatus::Fail {
            failures.push(format!("{}: changed Subject gave {got:?}", signed.name));
        }
        // An empty body under relaxed canonicalization with l= signs zero octets: any body
        // passes (the risk RFC 6376 §8.2 describes). Everything else must fail.
        let signs_nothing =
            signed.length && signed.name.starts_with("empty-body") && signed.name.contains("/relaxed");
        let changed = with_changed_body(&signed.message);
        let (got, _) = status(&zone, &changed, 64);
        let expected = if signs_nothing { DkimStatus::Pass } else { DkimStatus::Fail };
        if got != expected {
            failures.push(format!("{}: changed body gave {got:?}", signed.name));
        }
        // Text appended past l= is not covered, unless the signed body was the CRLF that
        // simple canonicalization makes of an empty body (then the new text replaces it).
        if signed.length && (signs_nothing || !signed.name.starts_with("empty-body")) {
            let mut appended = signed.message.clone();
            appended.extend_from_slice(b"appended past l=\r\n");
            let (got, _) = status(&zone, &appended, 64);
            if got != DkimStatus::Pass {
                failures.push(format!("{}: text after l= gave {got:?}", signed.name));
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
