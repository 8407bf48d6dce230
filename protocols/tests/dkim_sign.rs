//! DKIM signing (RFC 6376 §5, RFC 8463) checked by our own verifier: ed25519-sha256 and
//! rsa-sha256 (a 2048-bit key made by openssl), the message fed whole, in 7-byte pieces
//! and bytewise; relaxed canonicalization survives refolding; a changed body, a changed
//! From and an added Subject (oversigned) all fail; several keys in one pass give each
//! key's own field.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use base64::Engine as _;
use moxide_protocols::auth::dkim::sign::{Signer, SigningKey};
use moxide_protocols::auth::dkim::{self, DkimStatus};
use moxide_protocols::auth::intake::Intake;
use moxide_protocols::dns::memory::MemoryResolver;
use ring::signature::KeyPair as _;

const MESSAGE: &[u8] = b"From: Alice <alice@example.org>\r\nTo: bob@remote.example\r\nSubject: signed\r\n\tand folded\r\nDate: Sun, 6 Dec 2026 12:00:00 +0000\r\nMessage-ID: <1@example.org>\r\n\r\n.dot\r\nbody  with   spaces \r\n\r\n\r\n";

fn verify(message: &[u8], zone: &MemoryResolver) -> DkimStatus {
    let mut intake = Intake::new();
    intake.update(message);
    let results = futures_lite::future::block_on(dkim::verify(zone, &intake.finish(), 1_800_000_100));
    assert_eq!(results.len(), 1, "{results:?}");
    results[0].status
}

fn signed(key: &SigningKey, message: &[u8], piece: usize) -> Vec<u8> {
    let mut signer = Signer::new("Example.org", "sel", key);
    for chunk in message.chunks(piece) {
        signer.feed(chunk);
    }
    let field = signer.finish(1_800_000_000).unwrap();
    assert!(field.lines().all(|line| line.len() <= 998));
    [field.as_bytes(), message].concat()
}

fn check(key: &SigningKey, record: &str) {
    let mut zone = MemoryResolver::new();
    zone.add_txt("sel._domainkey.example.org", record);
    let whole = signed(key, MESSAGE, usize::MAX);
    for piece in [7, 1] {
        assert_eq!(
            signed(key, MESSAGE, piece)[..400],
            whole[..400],
            "same signature fields, pieces of {piece}"
        );
    }
    let text = String::from_utf8_lossy(&whole).to_string();
    assert!(text.contains("h=From:From:To:To:Subject:Subject:Date:Message-ID;"), "{text}");
    assert_eq!(verify(&whole, &zone), DkimStatus::Pass, "{text}");
    let refolded = text.replace("Subject: signed\r\n\tand folded", "Subject:   signed and\r\n folded");
    assert_eq!(verify(refolded.as_bytes(), &zone), DkimStatus::Pass, "relaxed header canonicalization");
    let changed = text.replace("body  with", "body without");
    assert_eq!(verify(changed.as_bytes(), &zone), DkimStatus::Fail);
    let forged = text.replace("From: Alice <alice@", "From: Mallory <alice@");
    assert_eq!(verify(forged.as_bytes(), &zone), DkimStatus::Fail);
    let added = text.replace("\r\n\r\n.dot", "\r\nSubject: another\r\n\r\n.dot");
    assert_eq!(verify(added.as_bytes(), &zone), DkimStatus::Fail, "Subject is oversigned");
}

#[test]
fn ed25519_signatures_verify() {
    let document = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let key = SigningKey::from_pkcs8(document.as_ref()).unwrap();
    let SigningKey::Ed25519(pair) = &key else { panic!("ed25519") };
    let public = base64::engine::general_purpose::STANDARD.encode(pair.public_key().as_ref());
    check(&key, &format!("v=DKIM1; k=ed25519; p={public}"));
}

#[test]
fn rsa_signatures_verify() {
    let dir = std::env::temp_dir().join(format!("moxide-dkim-sign-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pem = dir.join("key.pem");
    let made = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out"])
        .arg(&pem)
        .output()
        .unwrap();
    assert!(made.status.success());
    let der = std::process::Command::new("openssl")
        .args(["pkcs8", "-topk8", "-nocrypt", "-outform", "DER", "-in"])
        .arg(&pem)
        .output()
        .unwrap()
        .stdout;
    let public = std::process::Command::new("openssl")
        .args(["pkey", "-pubout", "-outform", "DER", "-in"])
        .arg(&pem)
        .output()
        .unwrap()
        .stdout;
    std::fs::remove_dir_all(&dir).unwrap();
    let key = SigningKey::from_pkcs8(&der).expect("RSA PKCS#8");
    assert!(matches!(key, SigningKey::Rsa(_)));
    let public = base64::engine::general_purpose::STANDARD.encode(public);
    check(&key, &format!("v=DKIM1; k=rsa; p={public}"));
}

#[test]
fn a_message_without_a_body_is_signed_too() {
    let document = ring::signature::Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new()).unwrap();
    let key = SigningKey::from_pkcs8(document.as_ref()).unwrap();
    let mut signer = Signer::new("example.org", "sel", &key);
    signer.feed(b"From: a@example.org\r\nSubject: x");
    let field = signer.finish(0).unwrap();
    assert!(
        field.starts_with("DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed; d=example.org; s=sel;")
    );
}

/// Several keys of one domain share one pass over the message: each field is the one
/// that key alone gives.
#[test]
fn a_signer_with_several_keys_gives_each_keys_own_field() {
    let random = ring::rand::SystemRandom::new();
    let keys: Vec<SigningKey> = (0..2)
        .map(|_| {
            let document = ring::signature::Ed25519KeyPair::generate_pkcs8(&random).unwrap();
            SigningKey::from_pkcs8(document.as_ref()).unwrap()
        })
        .collect();
    let mut both = Signer::with_keys("example.org", [("one", &keys[0]), ("two", &keys[1])]);
    for chunk in MESSAGE.chunks(5) {
        both.feed(chunk);
    }
    let fields = both.finish_each(1_800_000_000);
    assert_eq!(fields.len(), 2);
    for ((selector, key), field) in ["one", "two"].into_iter().zip(&keys).zip(fields) {
        let mut alone = Signer::new("example.org", selector, key);
        alone.feed(MESSAGE);
        assert_eq!(field.unwrap(), alone.finish(1_800_000_000).unwrap(), "{selector}");
    }
}
