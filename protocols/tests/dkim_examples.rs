//! The published DKIM example signatures: RFC 8463 Appendix A signs RFC 6376 Appendix A.1's
//! example message twice, with ed25519-sha256 (selector `brisbane`, the key of Appendix
//! A.2) and with rsa-sha256 (selector `test`, 1024 bits). Both must verify, and must fail
//! once the message changes.

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
