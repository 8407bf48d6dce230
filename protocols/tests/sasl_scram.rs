//! SCRAM server tests: the RFC 5802 §5 (SHA-1) and RFC 7677 §3 (SHA-256) examples byte
//! for byte, channel binding (RFC 5802 §6, RFC 9266) with right and wrong data, the `y`
//! downgrade, `p=` on a non-PLUS mechanism, unknown users failing only at the end with a
//! stable decoy salt, wrong proofs, authzid rules and single use.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sasl_common;

use moxide_protocols::sasl::{
    ChannelBinding, ChannelBindingKind, DECOY_SALT_BYTES, Mechanism, SCRAM_ITERATIONS_DEFAULT, SaslError,
    ScramSecrets, Secrets, ServerExchange, Step, derive_scram_sha1, derive_scram_sha256,
};
use sasl_common::{Hash, SHA1, SHA256, ScramClient, b64, nonce, nonce_for, unb64};

fn secrets() -> Secrets<'static> {
    Secrets { scram_sha1: Some(&SHA1), scram_sha256: Some(&SHA256), cram_md5: None }
}

fn exporter(data: &[u8]) -> Option<ChannelBinding> {
    Some(ChannelBinding { kind: ChannelBindingKind::TlsExporter, data: data.to_vec() })
}

fn challenge(step: Step) -> Vec<u8> {
    match step {
        Step::Challenge(data) => data,
        other => panic!("expected a challenge, got {other:?}"),
    }
}

#[test]
fn rfc_5802_example_sha1() {
    let secrets = derive_scram_sha1("pencil", &unb64("QSXCR+Q6sek8bf92"), 4096).unwrap();
    let mut exchange =
        ServerExchange::new(Mechanism::ScramSha1, &nonce_for("3rfcNHYJY1ZVvWVs7j"), "mx", None);
    let step = exchange.start(Some(b"n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"));
    assert_eq!(step, Step::NeedSecrets { authcid: "user".to_owned(), authzid: None });
    let step = exchange.with_secrets(Some(Secrets { scram_sha1: Some(&secrets), ..Secrets::default() }));
    assert_eq!(challenge(step), b"r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096");
    let step = exchange
        .respond(b"c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=");
    assert_eq!(
        step,
        Step::Success {
            authcid: "user".to_owned(),
            final_message: Some(b"v=rmF9pqV8S7suAoZWja4dJRkFsKQ=".to_vec())
        }
    );
    assert!(exchange.is_over());
    assert_eq!(exchange.respond(b"c=biws"), Step::Failure(SaslError::Aborted));
}

#[test]
fn rfc_7677_example_sha256_with_empty_first_challenge() {
    let secrets = derive_scram_sha256("pencil", &unb64("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096).unwrap();
    let server_nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    let mut exchange = ServerExchange::new(Mechanism::ScramSha256, &nonce_for(server_nonce), "mx", None);
    assert_eq!(exchange.start(None), Step::Challenge(Vec::new()));
    let step = exchange.respond(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    assert_eq!(step, Step::NeedSecrets { authcid: "user".to_owned(), authzid: None });
    let step = exchange.with_secrets(Some(Secrets { scram_sha256: Some(&secrets), ..Secrets::default() }));
    assert_eq!(
        challenge(step),
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    );
    let step = exchange.respond(
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    );
    assert_eq!(
        step,
        Step::Success {
            authcid: "user".to_owned(),
            final_message: Some(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=".to_vec())
        }
    );
}

/// Runs a full exchange with the test client; returns the last step.
fn run(
    mechanism: Mechanism,
    client: &ScramClient,
    binding: Option<ChannelBinding>,
    found: Option<Secrets>,
) -> Step {
    let mut exchange = ServerExchange::new(mechanism, &nonce(), "mx", binding);
    match exchange.start(Some(&client.first())) {
        Step::NeedSecrets { .. } => {}
        other => return other,
    }
    let server_first = challenge(exchange.with_secrets(found));
    let (last, _) = client.last(&server_first);
    exchange.respond(&last)
}

#[test]
fn plus_with_the_right_binding_succeeds_and_signs() {
    for (mechanism, hash) in
        [(Mechanism::ScramSha256Plus, Hash::Sha256), (Mechanism::ScramSha1Plus, Hash::Sha1)]
    {
        let mut client = ScramClient::new(hash, "pencil", "p=tls-exporter,,", "user", "abc");
        client.cb_data = vec![7; 32];
        let mut exchange = ServerExchange::new(mechanism, &nonce(), "mx", exporter(&[7; 32]));
        assert!(matches!(exchange.start(Some(&client.first())), Step::NeedSecrets { .. }));
        let server_first = challenge(exchange.with_secrets(Some(secrets())));
        let (last, signature) = client.last(&server_first);
        let step = exchange.respond(&last);
        assert_eq!(step, Step::Success { authcid: "user".to_owned(), final_message: Some(signature) });
    }
}

#[test]
fn tls_unique_binding_works_too() {
    let mut client = ScramClient::new(Hash::Sha256, "pencil", "p=tls-unique,,", "user", "abc");
    client.cb_data = vec![1; 12];
    let binding = Some(ChannelBinding { kind: ChannelBindingKind::TlsUnique, data: vec![1; 12] });
    let step = run(Mechanism::ScramSha256Plus, &client, binding, Some(secrets()));
    assert!(matches!(step, Step::Success { .. }), "{step:?}");
}

#[test]
fn plus_with_wrong_binding_data_is_a_mismatch() {
    let mut client = ScramClient::new(Hash::Sha256, "pencil", "p=tls-exporter,,", "user", "abc");
    client.cb_data = vec![8; 32];
    let step = run(Mechanism::ScramSha256Plus, &client, exporter(&[7; 32]), Some(secrets()));
    assert_eq!(step, Step::Failure(SaslError::ChannelBindingMismatch));
    // A c= that claims `n` in a -PLUS exchange is a mismatch as well.
    let mut exchange = ServerExchange::new(Mechanism::ScramSha256Plus, &nonce(), "mx", exporter(&[7; 32]));
    exchange.start(Some(b"p=tls-exporter,,n=user,r=abc"));
    let server_first = challenge(exchange.with_secrets(Some(secrets())));
    let client = ScramClient::new(Hash::Sha256, "pencil", "n,,", "user", "abc");
    let (last, _) = client.last(&server_first);
    assert_eq!(exchange.respond(&last), Step::Failure(SaslError::ChannelBindingMismatch));
}

#[test]
fn plus_refuses_missing_or_foreign_binding() {
    let binding = exporter(&[7; 32]);
    for (first, error) in [
        (&b"n,,n=user,r=abc"[..], SaslError::ChannelBindingRequired),
        (b"y,,n=user,r=abc", SaslError::ChannelBindingRequired),
        (b"p=tls-unique,,n=user,r=abc", SaslError::ChannelBindingUnsupported),
    ] {
        let mut exchange = ServerExchange::new(Mechanism::ScramSha256Plus, &nonce(), "mx", binding.clone());
        assert_eq!(exchange.start(Some(first)), Step::Failure(error));
    }
    // -PLUS on a connection without binding data fails at once.
    let mut exchange = ServerExchange::new(Mechanism::ScramSha1Plus, &nonce(), "mx", None);
    assert_eq!(exchange.start(None), Step::Failure(SaslError::ChannelBindingUnsupported));
}

#[test]
fn y_flag_is_a_downgrade_only_when_plus_is_advertised() {
    let client = ScramClient::new(Hash::Sha256, "pencil", "y,,", "user", "abc");
    let mut exchange = ServerExchange::new(Mechanism::ScramSha256, &nonce(), "mx", exporter(&[7; 32]));
    assert_eq!(exchange.start(Some(&client.first())), Step::Failure(SaslError::ChannelBindingDowngrade));
    // No binding: we cannot have advertised -PLUS, `y` is fine.
    let step = run(Mechanism::ScramSha256, &client, None, Some(secrets()));
    assert!(matches!(step, Step::Success { .. }), "{step:?}");
    // The caller can say -PLUS is not offered on this TLS connection.
    let mut exchange = ServerExchange::new(Mechanism::ScramSha256, &nonce(), "mx", exporter(&[7; 32]))
        .with_plus_advertised(false);
    assert!(matches!(exchange.start(Some(&client.first())), Step::NeedSecrets { .. }));
    // And the other way: advertised without binding data at hand.
    let mut exchange =
        ServerExchange::new(Mechanism::ScramSha1, &nonce(), "mx", None).with_plus_advertised(true);
    assert_eq!(exchange.start(Some(b"y,,n=user,r=abc")), Step::Failure(SaslError::ChannelBindingDowngrade));
}

#[test]
fn p_flag_on_non_plus_is_refused() {
    for binding in [None, exporter(&[7; 32])] {
        let mut exchange = ServerExchange::new(Mechanism::ScramSha256, &nonce(), "mx", binding);
        let step = exchange.start(Some(b"p=tls-exporter,,n=user,r=abc"));
        assert_eq!(step, Step::Failure(SaslError::ChannelBindingUnsupported));
    }
}

#[test]
fn n_flag_on_tls_without_plus_succeeds() {
    let client = ScramClient::new(Hash::Sha1, "pencil", "n,,", "user", "abc");
    let step = run(Mechanism::ScramSha1, &client, exporter(&[7; 32]), Some(secrets()));
    assert!(matches!(step, Step::Success { .. }), "{step:?}");
}

fn salt_of(server_first: &[u8]) -> Vec<u8> {
    let text = std::str::from_utf8(server_first).unwrap();
    let s = text.split(',').find_map(|f| f.strip_prefix("s=")).unwrap();
    unb64(s)
}

#[test]
fn unknown_user_fails_only_after_the_full_exchange() {
    let client = ScramClient::new(Hash::Sha256, "pencil", "n,,", "nobody", "abc");
    for found in [None, Some(Secrets { scram_sha1: Some(&SHA1), ..Secrets::default() })] {
        let mut exchange = ServerExchange::new(Mechanism::ScramSha256, &nonce(), "mx", None);
        assert!(matches!(exchange.start(Some(&client.first())), Step::NeedSecrets { .. }));
        let server_first = challenge(exchange.with_secrets(found));
        let text = String::from_utf8(server_first.clone()).unwrap();
        assert!(text.starts_with("r=abc"), "{text}");
        assert!(text.ends_with(&format!(",i={SCRAM_ITERATIONS_DEFAULT}")), "{text}");
        assert_eq!(salt_of(&server_first).len(), DECOY_SALT_BYTES);
        let (last, _) = client.last(&server_first);
        assert_eq!(exchange.respond(&last), Step::Failure(SaslError::BadCredentials));
    }
}

#[test]
fn decoy_salt_is_stable_with_a_decoy_key() {
    let salt = |nonce: &[u8], name: &str| {
        let mut exchange = ServerExchange::new(Mechanism::ScramSha256, nonce, "mx", None)
            .with_decoy_key(b"installation secret");
        let first = format!("n,,n={name},r=abc");
        assert!(matches!(exchange.start(Some(first.as_bytes())), Step::NeedSecrets { .. }));
        salt_of(&challenge(exchange.with_secrets(None)))
    };
    let other_nonce: Vec<u8> = nonce().iter().map(|b| b ^ 0xff).collect();
    assert_eq!(salt("nonce bytes for one exchange".as_bytes(), "nobody"), salt(&other_nonce, "nobody"));
    assert_ne!(salt(&other_nonce, "nobody"), salt(&other_nonce, "somebody"));
}

#[test]
fn wrong_password_is_bad_credentials() {
    let client = ScramClient::new(Hash::Sha256, "pencil2", "n,,", "user", "abc");
    assert_eq!(
        run(Mechanism::ScramSha256, &client, None, Some(secrets())),
        Step::Failure(SaslError::BadCredentials)
    );
    let client = ScramClient::new(Hash::Sha1, "Pencil", "n,,", "user", "abc");
    assert_eq!(
        run(Mechanism::ScramSha1, &client, None, Some(secrets())),
        Step::Failure(SaslError::BadCredentials)
    );
}

#[test]
fn tampered_final_messages_fail() {
    let client = ScramClient::new(Hash::Sha256, "pencil", "n,,", "user", "abc");
    let attempt = |edit: &dyn Fn(String) -> String| {
        let mut exchange = ServerExchange::new(Mechanism::ScramSha256, &nonce(), "mx", None);
        exchange.start(Some(&client.first()));
        let server_first = challenge(exchange.with_secrets(Some(secrets())));
        let (last, _) = client.last(&server_first);
        exchange.respond(edit(String::from_utf8(last).unwrap()).as_bytes())
    };
    assert!(matches!(attempt(&|s| s), Step::Success { .. }));
    // Another nonce.
    let step = attempt(&|s| s.replacen(",r=abc", ",r=abd", 1));
    assert_eq!(step, Step::Failure(SaslError::Malformed("SCRAM nonce differs from the server-first nonce")));
    // A proof of the wrong length.
    let step = attempt(&|s| format!("{},p={}", s.rsplit_once(',').unwrap().0, b64(&[0; 20])));
    assert_eq!(step, Step::Failure(SaslError::Malformed("SCRAM proof has the wrong length")));
    // An extension inserted changes the AuthMessage, so the proof no longer fits.
    let step = attempt(&|s| {
        let (head, proof) = s.rsplit_once(',').unwrap();
        format!("{head},x=1,{proof}")
    });
    assert_eq!(step, Step::Failure(SaslError::BadCredentials));
}

#[test]
fn authzid_is_handed_to_the_caller() {
    let mut exchange = ServerExchange::new(Mechanism::ScramSha256, &nonce(), "mx", None);
    let step = exchange.start(Some(b"n,a=user,n=user,r=abc"));
    assert_eq!(step, Step::NeedSecrets { authcid: "user".to_owned(), authzid: Some("user".to_owned()) });
    let client = ScramClient::new(Hash::Sha256, "pencil", "n,a=user,", "user", "abc");
    assert!(matches!(run(Mechanism::ScramSha256, &client, None, Some(secrets())), Step::Success { .. }));
    let mut exchange = ServerExchange::new(Mechanism::ScramSha256, &nonce(), "mx", None);
    let step = exchange.start(Some(b"n,a=admin,n=user,r=abc"));
    assert_eq!(step, Step::NeedSecrets { authcid: "user".to_owned(), authzid: Some("admin".to_owned()) });
}

#[test]
fn escaped_names_and_preparation() {
    let mut exchange = ServerExchange::new(Mechanism::ScramSha256, &nonce(), "mx", None);
    let step = exchange.start(Some("n,,n=a=2Cb=3Dc\u{3000}d,r=abc".as_bytes()));
    assert_eq!(step, Step::NeedSecrets { authcid: "a,b=c d".to_owned(), authzid: None });
    // A name PRECIS refuses is an unknown user: no lookup, decoy, failure at the end.
    let client = ScramClient::new(Hash::Sha256, "pencil", "n,,", "bad\u{7}name", "abc");
    let mut exchange = ServerExchange::new(Mechanism::ScramSha256, &nonce(), "mx", None);
    let server_first = challenge(exchange.start(Some(&client.first())));
    let (last, _) = client.last(&server_first);
    assert_eq!(exchange.respond(&last), Step::Failure(SaslError::BadCredentials));
}

#[test]
fn invalid_stored_secrets_are_reported() {
    let broken = ScramSecrets {
        salt: vec![1; 16],
        iterations: 4096,
        stored_key: vec![0; 20],
        server_key: vec![0; 32],
    };
    let mut exchange = ServerExchange::new(Mechanism::ScramSha256, &nonce(), "mx", None);
    exchange.start(Some(b"n,,n=user,r=abc"));
    let step = exchange.with_secrets(Some(Secrets { scram_sha256: Some(&broken), ..Secrets::default() }));
    assert_eq!(step, Step::Failure(SaslError::SecretsInvalid));
}

#[test]
fn calls_out_of_sequence_end_the_exchange() {
    let mut exchange = ServerExchange::new(Mechanism::ScramSha256, &nonce(), "mx", None);
    assert_eq!(exchange.respond(b"n,,n=user,r=abc"), Step::Failure(SaslError::OutOfSequence));
    assert_eq!(exchange.start(None), Step::Failure(SaslError::Aborted));

    let mut exchange = ServerExchange::new(Mechanism::ScramSha256, &nonce(), "mx", None);
    exchange.start(Some(b"n,,n=user,r=abc"));
    assert_eq!(exchange.respond(b"c=biws,r=abc,p=AAAA"), Step::Failure(SaslError::OutOfSequence));
    assert_eq!(exchange.with_secrets(None), Step::Failure(SaslError::Aborted));

    let mut exchange = ServerExchange::new(Mechanism::ScramSha1, &nonce(), "mx", None);
    exchange.start(None);
    assert_eq!(exchange.password_verified(true), Step::Failure(SaslError::OutOfSequence));
    assert!(exchange.is_over());

    let mut exchange = ServerExchange::new(Mechanism::ScramSha1, &nonce(), "mx", None);
    exchange.start(None);
    assert_eq!(exchange.abort(), Step::Failure(SaslError::Aborted));
    assert_eq!(exchange.respond(b"n,,n=user,r=abc"), Step::Failure(SaslError::Aborted));
}

#[test]
fn malformed_first_messages() {
    for first in [&b"n,,m=ext,n=user,r=abc"[..], b"n,,n=user", b"", b"n,,n=user,r=abc,", b"biws"] {
        let mut exchange = ServerExchange::new(Mechanism::ScramSha256, &nonce(), "mx", None);
        let step = exchange.start(Some(first));
        assert!(matches!(step, Step::Failure(SaslError::Malformed(_))), "{step:?}");
    }
    let mut exchange = ServerExchange::new(Mechanism::ScramSha256, &nonce(), "mx", None);
    let long = format!("n,,n={},r=abc", "u".repeat(321));
    assert_eq!(exchange.start(Some(long.as_bytes())), Step::Failure(SaslError::TooLong));
    let mut exchange = ServerExchange::new(Mechanism::ScramSha256, &nonce(), "mx", None);
    assert_eq!(exchange.start(Some(&[b'a'; 4097])), Step::Failure(SaslError::TooLong));
}
