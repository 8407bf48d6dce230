//! DKIM verification against signatures we did not make: `dkimpy` (PyPI) signs messages
//! with fresh keys in every algorithm and canonicalization pair we verify (rsa-sha256 with
//! 2048- and 1024-bit keys, a key published as a bare RSAPublicKey, rsa-sha1, ed25519-sha256;
//! simple and relaxed for header and body; with and without `l=`), through
//! `tests/dkim/dkimpy_sign.py`. Every one must pass when fed whole and in small chunks;
//! tampered copies must fail (a changed body, a changed signed header), except that text
//! appended past `l=` still passes, as RFC 6376 §3.5 intends. dkimpy also seals a message
//! with ARC over one and two hops: our chain verification (RFC 8617 §5.2) must pass both
//! and fail them once changed. `scripts/test` installs dkimpy, pynacl and authres.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

use base64::Engine as _;
use moxide_protocols::auth::arc::{self, ArcResult};
use moxide_protocols::auth::dkim::{self, DkimStatus};
use moxide_protocols::auth::intake::Intake;
use moxide_protocols::dns::memory::MemoryResolver;

struct Interop {
    zone: MemoryResolver,
    signed: Vec<Signed>,
    arc: Vec<Vec<u8>>,
}

struct Signed {
    name: String,
    length: bool,
    message: Vec<u8>,
}

fn dkimpy_messages() -> Interop {
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
    let arc = json["arc"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| base64::engine::general_purpose::STANDARD.decode(m.as_str().unwrap()).unwrap())
        .collect();
    Interop { zone, signed: messages, arc }
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
    let Interop { zone, signed: messages, .. } = dkimpy_messages();
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

fn arc_result(zone: &MemoryResolver, message: &[u8]) -> arc::ArcOutcome {
    let mut intake = Intake::new();
    for piece in message.chunks(100) {
        intake.update(piece);
    }
    futures_lite::future::block_on(arc::verify(zone, &intake.finish(), 1_700_000_000))
}

#[test]
fn dkimpy_arc_chains_verify_and_tampering_fails() {
    let Interop { zone, arc, .. } = dkimpy_messages();
    assert_eq!(arc.len(), 2);
    for (hops, message) in arc.iter().enumerate() {
        let outcome = arc_result(&zone, message);
        assert_eq!(outcome.result, ArcResult::Pass, "{} hop(s): {:?}", hops + 1, outcome.reason);
        assert_eq!(outcome.instance as usize, hops + 1);
        let changed_body = with_changed_body(message);
        assert_eq!(arc_result(&zone, &changed_body).result, ArcResult::Fail);
        let text = String::from_utf8(message.clone()).unwrap();
        let changed_results = text.replacen("spf=pass smtp.mailfrom", "spf=fail smtp.mailfrom", 1);
        assert_eq!(arc_result(&zone, changed_results.as_bytes()).result, ArcResult::Fail, "AAR is sealed");
    }
    // No ARC headers: none.
    assert_eq!(arc_result(&zone, b"From: a@b.example\r\n\r\nbody\r\n").result, ArcResult::None);
    // Instance 2 without instance 1: fail.
    let second = String::from_utf8(arc[1].clone()).unwrap();
    let without_first: String = second
        .split_inclusive("\r\n")
        .scan(false, |skipping, line| {
            if line.starts_with("ARC-") {
                *skipping = line.contains("i=1;");
            } else if !line.starts_with(' ') && !line.starts_with('\t') {
                *skipping = false;
            }
            Some(if *skipping { "" } else { line })
        })
        .collect();
    assert_eq!(arc_result(&zone, without_first.as_bytes()).result, ArcResult::Fail);
}

#[test]
fn all_checks_together_write_the_header() {
    let Interop { mut zone, signed, .. } = dkimpy_messages();
    zone.add_txt("dkimpy.example", "v=spf1 ip4:192.0.2.0/24 -all");
    zone.add_txt("_dmarc.dkimpy.example", "v=DMARC1; p=reject");
    let message =
        &signed.iter().find(|s| s.name == "plain rsa-sha256 rsa2048 relaxed/relaxed").unwrap().message;
    let run = |message: &[u8], ip: &str| {
        let mut intake = Intake::new();
        intake.update(message);
        let collected = intake.finish();
        let transaction = moxide_protocols::auth::Transaction {
            ip: ip.parse().unwrap(),
            helo: "mail.dkimpy.example",
            mail_from: Some(("alice", "dkimpy.example")),
            receiver: "mx.moxide.example",
            now_secs: 1_700_000_000,
            pct_draw: 0,
        };
        let verdict =
            futures_lite::future::block_on(moxide_protocols::auth::check(&zone, &transaction, &collected));
        (verdict.dmarc_disposition(), verdict.header_fields(&transaction))
    };
    let (disposition, header) = run(message, "192.0.2.1");
    assert_eq!(disposition, moxide_protocols::auth::dmarc::Policy::None);
    for expected in [
        "Authentication-Results: mx.moxide.example;",
        "iprev=fail",
        "spf=pass smtp.mailfrom=alice@dkimpy.example",
        "dkim=pass",
        "header.d=dkimpy.example",
        "dmarc=pass header.from=dkimpy.example",
        "arc=none",
        "Received-SPF: pass",
    ] {
        assert!(header.contains(expected), "{expected:?} missing in\n{header}");
    }
    let (disposition, header) = run(&with_changed_body(message), "198.51.100.1");
    assert_eq!(disposition, moxide_protocols::auth::dmarc::Policy::Reject);
    assert!(
        header.contains("spf=fail")
            && header.contains("dkim=fail")
            && header.contains("dmarc=fail (p=reject dis=reject)"),
        "{header}"
    );
}
