//! Property tests of the SASL exchanges: garbage, truncated and reordered client traffic
//! never panics, never succeeds without the password, and an exchange stays over once
//! over; PRECIS preparation is idempotent; CRAM-MD5 states agree with HMAC-MD5; PLAIN
//! hands back what the client sent.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod sasl_common;

use moxide_protocols::sasl::{
    ChannelBinding, ChannelBindingKind, Mechanism, SaslError, Secrets, ServerExchange, Step, derive_cram_md5,
    prepare_password,
};
use proptest::prelude::*;
use sasl_common::{CRAM, Hash, SHA1, SHA256, ScramClient, hmac_md5};

/// One call on an exchange.
#[derive(Debug, Clone)]
enum Call {
    Start(Option<Vec<u8>>),
    Respond(Vec<u8>),
    Secrets(bool),
    Password(bool),
    External(Option<String>),
    Abort,
}

/// Client messages near the grammars, and their pieces, so parsers get deep.
fn message() -> impl Strategy<Value = Vec<u8>> {
    let fixed: Vec<&'static [u8]> = vec![
        b"n,,n=user,r=abc",
        b"y,,n=user,r=abc",
        b"p=tls-exporter,,n=user,r=abc",
        b"p=tls-unique,a=user,n=user,r=abc,x=y",
        b"n,a=a=3D,n=u=2Cv,r=!~",
        b"c=biws,r=abc,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        b"c=cD10bHMtZXhwb3J0ZXIsLA==,r=abc!\"#,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        b"\0user\0pencil",
        b"user\0user\0pencil",
        b"user b913a602c7eda7a495b4e6e7334d3890",
        b"user",
        b"",
        b"=",
        b",",
        b"=2C",
        b"\xff\xfe",
    ];
    prop_oneof![
        3 => proptest::sample::select(fixed).prop_map(<[u8]>::to_vec),
        2 => proptest::collection::vec(any::<u8>(), 0..64),
        2 => proptest::collection::vec(proptest::sample::select(b",=npyrcsia0\0 AZ+/".to_vec()), 0..48),
        1 => proptest::collection::vec(any::<u8>(), 4090..4100),
    ]
}

fn call() -> impl Strategy<Value = Call> {
    prop_oneof![
        2 => proptest::option::of(message()).prop_map(Call::Start),
        4 => message().prop_map(Call::Respond),
        2 => any::<bool>().prop_map(Call::Secrets),
        1 => any::<bool>().prop_map(Call::Password),
        1 => proptest::option::of("[a-z]{0,6}").prop_map(Call::External),
        1 => Just(Call::Abort),
    ]
}

fn apply(exchange: &mut ServerExchange, call: &Call) -> Step {
    let secrets = Secrets { scram_sha1: Some(&SHA1), scram_sha256: Some(&SHA256), cram_md5: Some(&CRAM) };
    match call {
        Call::Start(initial) => exchange.start(initial.as_deref()),
        Call::Respond(response) => exchange.respond(response),
        Call::Secrets(found) => exchange.with_secrets(found.then_some(secrets)),
        Call::Password(ok) => exchange.password_verified(*ok),
        Call::External(authcid) => exchange.external_verified(authcid.clone()),
        Call::Abort => exchange.abort(),
    }
}

fn binding() -> Option<ChannelBinding> {
    Some(ChannelBinding { kind: ChannelBindingKind::TlsExporter, data: vec![3; 32] })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_calls_never_panic_and_over_stays_over(
        index in 0usize..8,
        tls in any::<bool>(),
        calls in proptest::collection::vec(call(), 0..8),
    ) {
        let mechanism = Mechanism::ALL[index];
        let mut exchange = ServerExchange::new(mechanism, &sasl_common::nonce(), "mx", tls.then(binding).flatten());
        let mut over = false;
        for call in &calls {
            let step = apply(&mut exchange, call);
            if over {
                prop_assert_eq!(&step, &Step::Failure(SaslError::Aborted));
            }
            if let Step::Success { .. } = &step {
                // Only the mechanisms that let the caller decide can succeed on garbage.
                prop_assert!(mechanism.sends_password() || mechanism == Mechanism::External, "{step:?}");
            }
            over |= matches!(step, Step::Success { .. } | Step::Failure(_));
            prop_assert_eq!(exchange.is_over(), over);
        }
    }

    #[test]
    fn truncated_scram_messages_never_succeed(cut_first in 0usize..40, cut_last in 0usize..120, plus in any::<bool>()) {
        let (mechanism, gs2) = if plus {
            (Mechanism::ScramSha256Plus, "p=tls-exporter,,")
        } else {
            (Mechanism::ScramSha256, "n,,")
        };
        let mut client = ScramClient::new(Hash::Sha256, "pencil", gs2, "user", "abcdef");
        client.cb_data = vec![3; 32];
        let first = client.first();
        let mut exchange = ServerExchange::new(mechanism, &sasl_common::nonce(), "mx", binding());
        let first_cut = &first[..cut_first.min(first.len())];
        let step = exchange.start(Some(first_cut));
        if first_cut.len() < first.len() {
            // Shorter nonces are still valid messages; anything else fails.
            prop_assert!(matches!(step, Step::Failure(_) | Step::NeedSecrets { .. }), "{step:?}");
            return Ok(());
        }
        prop_assert!(matches!(step, Step::NeedSecrets { .. }), "{step:?}");
        let Step::Challenge(server_first) = exchange.with_secrets(Some(Secrets { scram_sha256: Some(&SHA256), ..Secrets::default() })) else {
            return Err(TestCaseError::fail("no server-first"));
        };
        let (last, _) = client.last(&server_first);
        let step = exchange.respond(&last[..cut_last.min(last.len())]);
        if cut_last >= last.len() {
            prop_assert!(matches!(step, Step::Success { .. }), "{step:?}");
        } else {
            prop_assert!(matches!(step, Step::Failure(_)), "{step:?}");
        }
    }

    #[test]
    fn prepared_passwords_are_stable(text in "\\PC{0,12}|[\\x00-\\x7f]{0,12}|.{0,8}") {
        if let Ok(prepared) = prepare_password(&text) {
            prop_assert!(!prepared.is_empty());
            prop_assert!(!prepared.chars().any(char::is_control));
            prop_assert_eq!(prepare_password(&prepared), Ok(prepared.clone()));
        }
    }

    #[test]
    fn cram_md5_states_agree_with_hmac_md5(password in "[ -~]{1,100}", message in proptest::collection::vec(any::<u8>(), 0..150)) {
        let secrets = derive_cram_md5(&password).unwrap();
        prop_assert_eq!(secrets.hmac(&message).to_vec(), hmac_md5(password.as_bytes(), &message));
    }

    #[test]
    fn plain_hands_back_what_was_sent(user in "[a-z0-9@.]{1,30}", password in "[ -~]{1,40}", with_authzid in any::<bool>()) {
        let authzid = if with_authzid { user.as_str() } else { "" };
        let message = format!("{authzid}\0{user}\0{password}");
        let mut exchange = ServerExchange::new(Mechanism::Plain, &sasl_common::nonce(), "mx", None);
        let expected = Step::VerifyPassword {
            authcid: user.clone(),
            authzid: with_authzid.then(|| user.clone()),
            password: password.clone(),
        };
        prop_assert_eq!(exchange.start(Some(message.as_bytes())), expected);
    }
}
