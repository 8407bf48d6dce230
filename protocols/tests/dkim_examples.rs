//! The published DKIM example signatures: RFC 6376 Appendix A.2's rsa-sha256 signature
//! (selector `brisbane` of `example.com`, Appendix C's key), and RFC 8463 Appendix A, which
//! signs RFC 6376 Appendix A.1's example message twice, with ed25519-sha256 (selector
//! `brisbane`, the key of Appendix A.2) and with rsa-sha256 (selector `test`, 1024 bits).
//! All must verify, and must fail once the message changes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use moxide_protocols::auth::dkim::{self, Algorithm, DkimStatus};
use moxide_protocols::auth::intake::Intake;
use moxide_protocols::dns::memory::MemoryResolver;

const SIGNED: &[u8] = b"DKIM-Signature: v=1; a=ed25519-sha256; c=simple/simple; \r\n d=football.example.com; i=@football.example.com; \r\n q=dns/txt; s=brisbane; t=1518460054; h=from : to : \r\n subject : date : message-id : from : subject : date; \r\n bh=4bLNXImK9drULnmePzZNEBleUanJCX5PIsDIFoH4KTQ=; \r\n b=9/dsDChY0YMTtD5Eyw3wx7x22BlSJP7M5ECbJ7GWrR45nXlTCGb8l0YB\r\n o0wBLR++X5LqmsxXaOYLLJe46l10AQ==\r\nDKIM-Signature: v=1; a=rsa-sha256; c=simple/simple; \r\n d=football.example.com; i=@football.example.com; \r\n q=dns/txt; s=test; t=1527915362; h=from : to : subject : \r\n date : message-id : from : subject : date; \r\n bh=4bLNXImK9drULnmePzZNEBleUanJCX5PIsDIFoH4KTQ=; \r\n b=icKcLSEZYXJ95flvWE8FT6hl5iqd8MC/LEKYH0QjsqYy6MO/4pgVNCZH\r\n l/RAXAuADxE/40Fg7uTlxwwD1hjN2Ple6J//cJfslBdDOq6zTVbne1dqtl\r\n NOat7iamJ1AfRqyG+ja7a2AZsrpUuJ7VA6O+0zRYPqpwMEkEFIzI9i/Xk=\r\nFrom: Joe SixPack <joe@football.example.com>\r\nTo: Suzie Q <suzie@shopping.example.net>\r\nSubject: Is dinner ready?\r\nDate: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\nMessage-ID: <20030712040037.46341.5F8J@football.example.com>\r\n\r\nHi.\r\n\r\nWe lost the game.  Are you hungry yet?\r\n\r\nJoe.\r\n\r\n";

fn zone() -> MemoryResolver {
    let mut zone = MemoryResolver::new();
    zone.add_txt(
        "brisbane._domainkey.football.example.com",
        "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
    );
    zone.add_txt(
        "test._domainkey.football.example.com",
        "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB",
    );
    zone
}

fn verify(message: &[u8]) -> Vec<dkim::DkimResult> {
    let mut intake = Intake::new();
    for chunk in message.chunks(13) {
        intake.update(chunk);
    }
    futures_lite::future::block_on(dkim::verify(&zone(), &intake.finish(), 1_600_000_000))
}

#[test]
fn rfc8463_example_signatures_verify() {
    let results = verify(SIGNED);
    assert_eq!(results.len(), 2);
    assert_eq!(results[0].algorithm, Some(Algorithm::Ed25519Sha256));
    assert_eq!(results[0].status, DkimStatus::Pass, "{:?}", results[0].reason);
    assert_eq!(results[1].algorithm, Some(Algorithm::RsaSha256));
    assert_eq!(results[1].status, DkimStatus::Pass, "{:?}", results[1].reason);
    assert_eq!(results[0].domain.as_ref().map(|d| d.as_str()), Some("football.example.com"));
    assert_eq!(results[0].signature_prefix.as_deref(), Some("9/dsDChY"));
}

#[test]
fn rfc8463_example_fails_when_changed() {
    let text = String::from_utf8(SIGNED.to_vec()).unwrap();
    for changed in [text.replace("hungry", "thirsty"), text.replace("Is dinner ready?", "Is lunch ready?")] {
        let results = verify(changed.as_bytes());
        assert!(results.iter().all(|r| r.status == DkimStatus::Fail), "{results:?}");
    }
    // Without the keys: permerror, not a pass.
    let mut intake = Intake::new();
    intake.update(SIGNED);
    let results = futures_lite::future::block_on(dkim::verify(&MemoryResolver::new(), &intake.finish(), 0));
    assert!(results.iter().all(|r| r.status == DkimStatus::PermError));
}

/// RFC 6376 Appendix C's public key (`brisbane._domainkey.example.com`).
const RFC6376_KEY: &str = "v=DKIM1; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDwIRP/UC3SBsEmGqZ9ZJW3/DkMoGeLnQg1fWn7/zYtIxN2SnFCjxOCKG9v3b4jYfcTNh5ijSsq631uBItLa7od+v/RtdC2UzJ1lWT947qR+Rcac2gbto/NMqJ0fzfVjH4OuKhitdY9tf6mcwGjaNBcWToIMmPSPDdQPNUYckcQ2QIDAQAB";

/// RFC 6376 Appendix A.2's signed message, laid out as the RFC prints it (continuation
/// lines indented six spaces, the `b=` value's eight). With simple header
/// canonicalization the folding whitespace is signed, so the layout must be exact, except
/// inside `b=`, whose value is left out of the hash.
const RFC6376_SIGNED: &str = "DKIM-Signature: v=1; a=rsa-sha256; s=brisbane; d=example.com;\r\n      \
c=simple/simple; q=dns/txt; i=joe@football.example.com;\r\n      \
h=Received : From : To : Subject : Date : Message-ID;\r\n      \
bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n      \
b=AuUoFEfDxTDkHlLXSZEpZj79LICEps6eda7W3deTVFOk4yAUoqOB\r\n        \
4nujc7YopdG5dWLSdNg6xNAZpOPr+kHxt1IrE+NahM6L/LbvaHut\r\n        \
KVdkLLkpVaVVQPzeRDI009SO2Il5Lu7rDNH6mZckBdrIx0orEtZV\r\n        \
4bmp/YzhwvcubU4=;\r\n\
Received: from client1.football.example.com  [192.0.2.1]\r\n      \
by submitserver.example.com with SUBMISSION;\r\n      \
Fri, 11 Jul 2003 21:01:54 -0700 (PDT)\r\n\
From: Joe SixPack <joe@football.example.com>\r\n\
To: Suzie Q <suzie@shopping.example.net>\r\n\
Subject: Is dinner ready?\r\n\
Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n\
Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n\
\r\n\
Hi.\r\n\
\r\n\
We lost the game. Are you hungry yet?\r\n\
\r\n\
Joe.\r\n";

fn verify_rfc6376(message: &str) -> dkim::DkimResult {
    let mut zone = MemoryResolver::new();
    zone.add_txt("brisbane._domainkey.example.com", RFC6376_KEY);
    let mut intake = Intake::new();
    for chunk in message.as_bytes().chunks(5) {
        intake.update(chunk);
    }
    let mut results = futures_lite::future::block_on(dkim::verify(&zone, &intake.finish(), 1_600_000_000));
    assert_eq!(results.len(), 1);
    results.remove(0)
}

#[test]
fn rfc6376_example_signature_verifies() {
    let result = verify_rfc6376(RFC6376_SIGNED);
    assert_eq!(result.status, DkimStatus::Pass, "{:?}", result.reason);
    assert_eq!(result.algorithm, Some(Algorithm::RsaSha256));
    assert_eq!(result.domain.as_ref().map(|d| d.as_str()), Some("example.com"));
    // Simple canonicalization: a changed body, header or folding fails.
    for changed in [
        RFC6376_SIGNED.replace("lost the game", "won the game"),
        RFC6376_SIGNED.replace("Suzie Q", "Suzy Q"),
        RFC6376_SIGNED.replace("\r\n      c=simple", "\r\n  c=simple"),
    ] {
        assert_eq!(verify_rfc6376(&changed).status, DkimStatus::Fail);
    }
}
