//! PLAIN (RFC 4616), LOGIN, CRAM-MD5 (RFC 2195 example) and EXTERNAL (RFC 4422
//! Appendix A) exchanges, mechanism names, and the rules every exchange shares: single
//! use, calls out of sequence, message length limits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sasl_common;

use moxide_protocols::sasl::{
    MESSAGE_BYTES_MAX, Mechanism, SaslError, Secrets, ServerExchange, Step, derive_cram_md5,
};
use sasl_common::{CRAM, hmac_md5, nonce};

fn exchange(mechanism: Mechanism) -> ServerExchange {
    ServerExchange::new(mechanism, &nonce(), "mx.example", None)
}

fn verify(authcid: &str, authzid: Option<&str>, password: &str) -> Step {
    Step::VerifyPassword {
        authcid: authcid.to_owned(),
        authzid: authzid.map(str::to_owned),
        password: password.to_owned(),
    }
}

fn success(authcid: &str) -> Step {
    Step::Success { authcid: authcid.to_owned(), final_message: None }
}

#[test]
fn mechanism_names() {
    let names: Vec<&str> = Mechanism::ALL.iter().map(|m| m.name()).collect();
    assert_eq!(
        names,
        [
            "SCRAM-SHA-256-PLUS",
            "SCRAM-SHA-256",
            "SCRAM-SHA-1-PLUS",
            "SCRAM-SHA-1",
            "CRAM-MD5",
            "PLAIN",
            "LOGIN",
            "EXTERNAL"
        ]
    );
    for mechanism in Mechanism::ALL {
        assert_eq!(Mechanism::from_name(&mechanism.name().to_lowercase()), Some(mechanism));
        assert_eq!(mechanism.to_string(), mechanism.name());
    }
    assert_eq!(Mechanism::from_name("scram-sha-512"), None);
    assert_eq!(Mechanism::from_name(""), None);
    let plus: Vec<_> = Mechanism::ALL.into_iter().filter(|m| m.needs_channel_binding()).collect();
    assert_eq!(plus, [Mechanism::ScramSha256Plus, Mechanism::ScramSha1Plus]);
    let clear: Vec<_> = Mechanism::ALL.into_iter().filter(|m| m.sends_password()).collect();
    assert_eq!(clear, [Mechanism::Plain, Mechanism::Login]);
}

#[test]
fn plain_authzid_empty_equal_or_different() {
    let mut e = exchange(Mechanism::Plain);
    assert_eq!(e.start(Some(b"\0tim\0tanstaaf")), verify("tim", None, "tanstaaf"));
    assert_eq!(e.password_verified(true), success("tim"));
    assert_eq!(e.password_verified(true), Step::Failure(SaslError::Aborted));

    let mut e = exchange(Mechanism::Plain);
    assert_eq!(e.start(Some(b"tim\0tim\0tanstaaf")), verify("tim", Some("tim"), "tanstaaf"));
    assert_eq!(e.password_verified(false), Step::Failure(SaslError::BadCredentials));

    // Another authzid is handed on: the caller decides whether tim may act as admin.
    let mut e = exchange(Mechanism::Plain);
    assert_eq!(e.start(Some(b"admin\0tim\0tanstaaf")), verify("tim", Some("admin"), "tanstaaf"));
    assert_eq!(e.password_verified(true), success("tim"));

    // One that PRECIS refuses can be nobody.
    let mut e = exchange(Mechanism::Plain);
    assert_eq!(e.start(Some(b"ad\x07min\0tim\0tanstaaf")), Step::Failure(SaslError::AuthzidMismatch));
    assert!(e.is_over());
}

#[test]
fn plain_without_initial_response_and_utf8() {
    let mut e = exchange(Mechanism::Plain);
    assert_eq!(e.start(None), Step::Challenge(Vec::new()));
    // NFC and space mapping apply to both name and password.
    let message = "\0Ame\u{301}lie\0pass\u{A0}word\u{2000}\u{1F511}".as_bytes();
    assert_eq!(e.respond(message), verify("Am\u{E9}lie", None, "pass word \u{1F511}"));
    assert_eq!(e.password_verified(true), success("Am\u{E9}lie"));
}

#[test]
fn plain_malformed_messages() {
    for message in [
        &b""[..],
        b"tim",
        b"tim\0tanstaaf",
        b"\0tim\0tanstaaf\0",
        b"\0\0tanstaaf",
        b"\0tim\0",
        b"\0t\xffm\0tanstaaf",
        b"\0\0",
    ] {
        let step = exchange(Mechanism::Plain).start(Some(message));
        assert!(matches!(step, Step::Failure(SaslError::Malformed(_))), "{message:?}: {step:?}");
    }
    // A password PRECIS refuses cannot be anyone's: a refusal, no verification.
    let step = exchange(Mechanism::Plain).start(Some(b"\0tim\0tab\there"));
    assert_eq!(step, Step::Failure(SaslError::BadCredentials));
    let step = exchange(Mechanism::Plain).start(Some(format!("\0tim\0{}", "p".repeat(1025)).as_bytes()));
    assert_eq!(step, Step::Failure(SaslError::TooLong));
    let step = exchange(Mechanism::Plain).start(Some(&vec![b'a'; MESSAGE_BYTES_MAX + 1]));
    assert_eq!(step, Step::Failure(SaslError::TooLong));
}

#[test]
fn login_flow() {
    let mut e = exchange(Mechanism::Login);
    assert_eq!(e.start(None), Step::Challenge(b"Username:".to_vec()));
    assert_eq!(e.respond(b"tim"), Step::Challenge(b"Password:".to_vec()));
    assert_eq!(e.respond(b"tanstaaf"), verify("tim", None, "tanstaaf"));
    assert_eq!(e.respond(b"again"), Step::Failure(SaslError::OutOfSequence));
    assert_eq!(e.password_verified(true), Step::Failure(SaslError::Aborted));

    // The initial response is the user name.
    let mut e = exchange(Mechanism::Login);
    assert_eq!(e.start(Some(b"tim")), Step::Challenge(b"Password:".to_vec()));
    assert_eq!(e.respond(b"tanstaaf"), verify("tim", None, "tanstaaf"));
    assert_eq!(e.password_verified(true), success("tim"));

    // An invalid name still gets the password challenge, then fails.
    let mut e = exchange(Mechanism::Login);
    assert_eq!(e.start(Some(b"t\x01m")), Step::Challenge(b"Password:".to_vec()));
    assert_eq!(e.respond(b"tanstaaf"), Step::Failure(SaslError::BadCredentials));

    let mut e = exchange(Mechanism::Login);
    assert!(matches!(e.start(Some(b"")), Step::Failure(SaslError::Malformed(_))));
    let mut e = exchange(Mechanism::Login);
    e.start(None);
    e.respond(b"tim");
    assert_eq!(e.respond(b""), Step::Failure(SaslError::BadCredentials));
}

#[test]
fn cram_md5_rfc_2195_example() {
    let secrets = derive_cram_md5("tanstaaftanstaaf").unwrap();
    let digest = secrets.hmac(b"<1896.697170952@postoffice.reston.mci.net>");
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(hex, "b913a602c7eda7a495b4e6e7334d3890");
}

#[test]
fn cram_md5_states_match_hmac_md5() {
    for password in ["tanstaaftanstaaf", "x", &"long password ".repeat(10)] {
        let secrets = derive_cram_md5(password).unwrap();
        for message in [&b""[..], b"<1.2@h>", &[b'm'; 200]] {
            assert_eq!(secrets.hmac(message).to_vec(), hmac_md5(password.as_bytes(), message));
        }
    }
}

fn cram_response(e: &mut ServerExchange, user: &str, password: &str) -> Step {
    let Step::Challenge(challenge) = e.start(None) else { panic!("no challenge") };
    let text = String::from_utf8(challenge.clone()).unwrap();
    assert!(text.starts_with('<') && text.ends_with("@mx.example>"), "{text}");
    let secrets = derive_cram_md5(password).unwrap();
    let hex: String = secrets.hmac(&challenge).iter().map(|b| format!("{b:02x}")).collect();
    e.respond(format!("{user} {hex}").as_bytes())
}

#[test]
fn cram_md5_exchange() {
    let found = Secrets { cram_md5: Some(&CRAM), ..Secrets::default() };
    let mut e = exchange(Mechanism::CramMd5);
    let need = Step::NeedSecrets { authcid: "user".to_owned(), authzid: None };
    assert_eq!(cram_response(&mut e, "user", "pencil"), need);
    assert_eq!(e.with_secrets(Some(found)), success("user"));

    let mut e = exchange(Mechanism::CramMd5);
    cram_response(&mut e, "user", "pencil2");
    assert_eq!(e.with_secrets(Some(found)), Step::Failure(SaslError::BadCredentials));

    // Unknown user: the client's only message is answered with the same failure.
    let mut e = exchange(Mechanism::CramMd5);
    cram_response(&mut e, "nobody", "pencil");
    assert_eq!(e.with_secrets(None), Step::Failure(SaslError::BadCredentials));

    // A user name with a space: the last space separates.
    let mut e = exchange(Mechanism::CramMd5);
    let need = Step::NeedSecrets { authcid: "the user".to_owned(), authzid: None };
    assert_eq!(cram_response(&mut e, "the user", "pencil"), need);
    assert_eq!(e.with_secrets(Some(found)), success("the user"));
}

#[test]
fn cram_md5_refusals() {
    let mut e = exchange(Mechanism::CramMd5);
    assert!(matches!(e.start(Some(b"")), Step::Failure(SaslError::Malformed(_))));
    for response in [&b"user"[..], b"user 1234", b"user b913a602c7eda7a495b4e6e7334d389g", b" ", b"\xff x"] {
        let mut e = exchange(Mechanism::CramMd5);
        e.start(None);
        assert!(matches!(e.respond(response), Step::Failure(SaslError::Malformed(_))), "{response:?}");
    }
    // Upper-case hex is accepted (compared after lower-casing); a control in the name fails.
    let mut e = exchange(Mechanism::CramMd5);
    e.start(None);
    assert!(matches!(e.respond(b"user B913A602C7EDA7A495B4E6E7334D3890"), Step::NeedSecrets { .. }));
    let mut e = exchange(Mechanism::CramMd5);
    e.start(None);
    assert_eq!(
        e.respond(b"us\x07er b913a602c7eda7a495b4e6e7334d3890"),
        Step::Failure(SaslError::BadCredentials)
    );
}

#[test]
fn cram_md5_challenge_comes_from_the_nonce() {
    let challenge =
        |nonce: &[u8]| ServerExchange::new(Mechanism::CramMd5, nonce, "mx.example", None).start(None);
    let one = challenge(&[1; 18]);
    assert_eq!(one, Step::Challenge(b"<010101010101010101.010101010101010101@mx.example>".to_vec()));
    assert_eq!(one, challenge(&[1; 18]));
    assert_ne!(one, challenge(&[2; 18]));
}

#[test]
fn external_flows() {
    let mut e = exchange(Mechanism::External);
    assert_eq!(e.start(Some(b"")), Step::VerifyExternal { authzid: String::new() });
    assert_eq!(e.external_verified(Some("tim".to_owned())), success("tim"));

    let mut e = exchange(Mechanism::External);
    assert_eq!(e.start(None), Step::Challenge(Vec::new()));
    assert_eq!(e.respond(b"tim"), Step::VerifyExternal { authzid: "tim".to_owned() });
    assert_eq!(e.external_verified(Some("tim".to_owned())), success("tim"));

    let mut e = exchange(Mechanism::External);
    e.start(Some(b"admin"));
    assert_eq!(e.external_verified(Some("tim".to_owned())), Step::Failure(SaslError::AuthzidMismatch));

    let mut e = exchange(Mechanism::External);
    e.start(Some(b""));
    assert_eq!(e.external_verified(None), Step::Failure(SaslError::BadCredentials));
    assert_eq!(e.external_verified(None), Step::Failure(SaslError::Aborted));

    let mut e = exchange(Mechanism::External);
    assert!(matches!(e.start(Some(b"a\0b")), Step::Failure(SaslError::Malformed(_))));
    let mut e = exchange(Mechanism::External);
    e.start(Some(b"tim"));
    assert_eq!(e.password_verified(true), Step::Failure(SaslError::OutOfSequence));
}

#[test]
fn wrong_answers_end_exchanges() {
    let mut e = exchange(Mechanism::Plain);
    e.start(None);
    assert_eq!(e.with_secrets(None), Step::Failure(SaslError::OutOfSequence));
    let mut e = exchange(Mechanism::Plain);
    e.start(Some(b"\0tim\0pw"));
    assert_eq!(e.external_verified(Some("tim".to_owned())), Step::Failure(SaslError::OutOfSequence));
    let mut e = exchange(Mechanism::Login);
    assert_eq!(e.password_verified(true), Step::Failure(SaslError::OutOfSequence));
    let mut e = exchange(Mechanism::CramMd5);
    e.start(None);
    assert_eq!(e.with_secrets(None), Step::Failure(SaslError::OutOfSequence));
}

#[test]
fn debug_output_hides_passwords() {
    let step = verify("tim", None, "tanstaaf");
    assert!(!format!("{step:?}").contains("tanstaaf"));
    let mut e = exchange(Mechanism::Plain);
    e.start(Some(b"\0tim\0tanstaaf"));
    assert!(!format!("{e:?}").contains("tanstaaf"));
    assert!(!format!("{:?}", *CRAM).contains('['));
}

#[test]
fn error_classes() {
    assert!(SaslError::Malformed("x").is_client_syntax());
    assert!(SaslError::TooLong.is_client_syntax());
    assert!(!SaslError::BadCredentials.is_client_syntax());
    assert_eq!(SaslError::BadCredentials.to_string(), "invalid credentials");
}
