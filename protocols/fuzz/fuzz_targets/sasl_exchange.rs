//! Fuzz target: whole SASL server exchanges (RFC 4422) for every mechanism, driven the way
//! a session drives them. Input: one control byte, then client messages separated by
//! 0xFF (a byte UTF-8 never contains, so text seeds stay readable).
//!
//! Control byte: bits 0–2 pick the mechanism from `Mechanism::ALL`; bit 3: the connection
//! has a channel binding (32 × 0x42); bit 4 flips whether -PLUS is advertised; bit 5: the
//! binding is `tls-unique` instead of `tls-exporter`; bit 6: the first message is the
//! initial response; bit 7: the user exists (secrets for password "pencil"), else the
//! unknown-user path. PLAIN/LOGIN passwords are "verified" against "pencil" and EXTERNAL
//! maps to the account "user".
//!
//! Checks: no panic; `Success` only for the mechanisms that can give it, with a
//! non-empty authcid and a server-final message exactly for SCRAM; once over, every call
//! returns `Failure(Aborted)`.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use moxide_protocols::sasl::{
    ChannelBinding, ChannelBindingKind, CramMd5Secrets, Mechanism, SaslError, ScramSecrets, Secrets,
    ServerExchange, Step, derive_cram_md5, derive_scram_sha1, derive_scram_sha256,
};

/// Fixed so seeds can hold complete, valid exchanges.
const NONCE: [u8; 18] = *b"fuzzing-nonce-1234";
const PASSWORD: &str = "pencil";
const SALT: &[u8] = b"fuzzing salt 16b";
/// Bounds the drive loop: each round consumes a message or ends the exchange.
const ROUNDS_MAX: usize = 16;

static SHA1: LazyLock<ScramSecrets> =
    LazyLock::new(|| derive_scram_sha1(PASSWORD, SALT, 4096).expect("valid"));
static SHA256: LazyLock<ScramSecrets> =
    LazyLock::new(|| derive_scram_sha256(PASSWORD, SALT, 4096).expect("valid"));
static CRAM: LazyLock<CramMd5Secrets> = LazyLock::new(|| derive_cram_md5(PASSWORD).expect("valid"));

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else {
        return;
    };
    let mechanism = Mechanism::ALL[usize::from(control & 7)];
    let tls = control & 8 != 0;
    let kind =
        if control & 32 != 0 { ChannelBindingKind::TlsUnique } else { ChannelBindingKind::TlsExporter };
    let binding = tls.then(|| ChannelBinding { kind, data: vec![0x42; 32] });
    let plus_advertised = tls != (control & 16 != 0);
    let known = control & 128 != 0;
    let mut exchange =
        ServerExchange::new(mechanism, &NONCE, "mx.example", binding).with_plus_advertised(plus_advertised);
    let mut messages = rest.split(|&b| b == 0xff);
    let mut step = if control & 64 != 0 { exchange.start(messages.next()) } else { exchange.start(None) };
    for _ in 0..ROUNDS_MAX {
        step = match step {
            Step::Challenge(_) => match messages.next() {
                Some(message) => exchange.respond(message),
                None => break,
            },
            Step::NeedSecrets { authcid, authzid } => {
                assert!(!authcid.is_empty());
                assert!(authzid.is_none_or(|a| a == authcid));
                let secrets =
                    Secrets { scram_sha1: Some(&SHA1), scram_sha256: Some(&SHA256), cram_md5: Some(&CRAM) };
                exchange.with_secrets(known.then_some(secrets))
            }
            Step::VerifyPassword { authcid, authzid, password } => {
                assert!(mechanism.sends_password());
                assert!(authzid.is_none_or(|a| a == authcid));
                exchange.password_verified(known && password == PASSWORD)
            }
            Step::VerifyExternal { .. } => {
                assert_eq!(mechanism, Mechanism::External);
                exchange.external_verified(known.then(|| "user".to_owned()))
            }
            Step::Success { authcid, final_message } => {
                assert!(!authcid.is_empty());
                let scram = !matches!(
                    mechanism,
                    Mechanism::CramMd5 | Mechanism::Plain | Mechanism::Login | Mechanism::External
                );
                assert_eq!(final_message.is_some(), scram);
                assert!(known);
                break;
            }
            Step::Failure(_) => break,
        };
    }
    if exchange.is_over() {
        assert_eq!(exchange.respond(b"again"), Step::Failure(SaslError::Aborted));
        assert_eq!(exchange.start(None), Step::Failure(SaslError::Aborted));
    }
});
