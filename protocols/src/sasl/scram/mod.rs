//! SCRAM server (RFC 5802; SHA-256 per RFC 7677) with channel binding for the -PLUS
//! variants (RFC 5802 §6; `tls-unique` RFC 5929 §3, `tls-exporter` RFC 9266 §2).
//!
//! Flow: client-first → we ask the caller for secrets → server-first `r=,s=,i=` (in that
//! order) → client-final → we check `c=`, the nonce and the proof → server-final `v=`.
//!
//! Channel binding rules (RFC 5802 §6): a -PLUS mechanism requires `p=` with the
//! connection's binding type; a non-PLUS one refuses `p=`, and refuses `y` when we
//! advertise -PLUS (someone removed it from our list: a downgrade). `c=` must decode to
//! the gs2 header as sent plus, with `p=`, the binding data.
//!
//! Unknown users: the exchange goes on with a decoy salt, the default iteration count
//! and keys that match nothing, and fails with `BadCredentials` at the client-final
//! message, exactly where a wrong proof fails. The decoy salt is an HMAC of the user name
//! under a key: stable per user when the caller sets a persistent key
//! ([`ServerExchange::with_decoy_key`](crate::sasl::ServerExchange::with_decoy_key)),
//! else derived from the exchange nonce (then a prober comparing two attempts sees the
//! salt change, so production callers set the key).
//!
//! The client side (`client`, for SMTP AUTH to a smarthost) shares the hash, HMAC and
//! PBKDF2 primitives of `secrets` and the saslname encoding of `message`.
//!
//! Invariants: every comparison of secret-derived bytes is constant-time; the
//! AuthMessage is built from the messages exactly as sent and received.

pub(crate) mod client;
mod message;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use subtle::ConstantTimeEq;

use super::error::SaslError;
use super::exchange::Step;
use super::limits::{DECOY_SALT_BYTES, SCRAM_ITERATIONS_DEFAULT};
use super::precis::prepare_username;
use super::secrets::{ScramHash, ScramSecrets, Secrets};
use super::{ChannelBinding, Mechanism};
use message::{CbindFlag, ClientFirst, parse_client_final, parse_client_first};

/// Printable ASCII without `,`: the characters a SCRAM nonce may hold (RFC 5802 §7).
const NONCE_ALPHABET: &[u8] =
    b"!\"#$%&'()*+-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";
const _: () = assert!(NONCE_ALPHABET.len() == 93);

/// The server nonce: one alphabet character per random byte (`byte % 93`; the slight
/// bias leaves about 6.5 bits per character).
fn server_nonce(nonce: &[u8]) -> String {
    nonce.iter().map(|&b| char::from(NONCE_ALPHABET[usize::from(b) % NONCE_ALPHABET.len()])).collect()
}

/// How the exchange behaves around channel binding and unknown users. No `Debug`: it
/// holds the decoy key.
pub(crate) struct ScramConfig {
    pub(crate) mechanism: Mechanism,
    pub(crate) binding: Option<ChannelBinding>,
    /// Whether the caller advertises -PLUS mechanisms on this connection; decides `y`.
    pub(crate) plus_advertised: bool,
    /// Key for the decoy salt of unknown users.
    pub(crate) decoy_key: Vec<u8>,
}

/// The account side of a server-first message: real secrets, or a decoy.
struct Account {
    /// `None` for the decoy: the exchange can only fail.
    authcid: Option<String>,
    secrets: ScramSecrets,
}

/// Where a SCRAM exchange stands.
enum Phase {
    /// Empty challenge sent, waiting for client-first.
    ClientFirst,
    /// Waiting for the caller's secrets.
    Secrets { first: ClientFirst, authcid: String },
    /// Server-first sent, waiting for client-final.
    ClientFinal { first: ClientFirst, server_first: String, account: Account },
    /// Nothing more to do (the exchange records the end).
    Over,
}

/// Server side of one SCRAM exchange.
pub(crate) struct Scram {
    hash: ScramHash,
    config: ScramConfig,
    server_nonce: String,
    phase: Phase,
}

impl Scram {
    pub(crate) fn new(hash: ScramHash, config: ScramConfig, nonce: &[u8]) -> Scram {
        Scram { hash, config, server_nonce: server_nonce(nonce), phase: Phase::ClientFirst }
    }

    pub(crate) fn set_plus_advertised(&mut self, advertised: bool) {
        self.config.plus_advertised = advertised;
    }

    pub(crate) fn set_decoy_key(&mut self, key: &[u8]) {
        self.config.decoy_key = key.to_vec();
    }

    pub(crate) fn start(&mut self, initial: Option<&[u8]>) -> Step {
        if self.config.mechanism.needs_channel_binding() && self.config.binding.is_none() {
            return Step::Failure(SaslError::ChannelBindingUnsupported);
        }
        match initial {
            None => Step::Challenge(Vec::new()),
            Some(message) => self.respond(message),
        }
    }

    pub(crate) fn respond(&mut self, message: &[u8]) -> Step {
        match std::mem::replace(&mut self.phase, Phase::Over) {
            Phase::ClientFirst => self.client_first(message),
            Phase::ClientFinal { first, server_first, account } => {
                match self.client_final(message, &first, &server_first, account) {
                    Ok(step) | Err(step) => step,
                }
            }
            Phase::Secrets { .. } | Phase::Over => Step::Failure(SaslError::OutOfSequence),
        }
    }

    fn client_first(&mut self, message: &[u8]) -> Step {
        let first = match parse_client_first(message) {
            Ok(first) => first,
            Err(error) => return Step::Failure(error),
        };
        if let Err(error) = self.check_flag(&first.flag) {
            return Step::Failure(error);
        }
        let authcid = match prepare_username(&first.username) {
            Ok(authcid) => authcid,
            Err(SaslError::TooLong) => return Step::Failure(SaslError::TooLong),
            // A name PRECIS refuses cannot be a user: go on as for an unknown one.
            Err(_) => return self.server_first(first, None),
        };
        // RFC 5802 §5.1: the authzid is the identity to act as; the caller authorizes it
        // (the client proof covers it, as part of the gs2 header).
        let authzid = match &first.authzid {
            None => None,
            Some(wanted) => match prepare_username(wanted) {
                Ok(prepared) => Some(prepared),
                Err(_) => return Step::Failure(SaslError::AuthzidMismatch),
            },
        };
        self.phase = Phase::Secrets { first, authcid: authcid.clone() };
        Step::NeedSecrets { authcid, authzid }
    }

    /// RFC 5802 §6 decisions on the gs2 flag, before any user lookup.
    fn check_flag(&self, flag: &CbindFlag) -> Result<(), SaslError> {
        let plus = self.config.mechanism.needs_channel_binding();
        match flag {
            CbindFlag::Bound(name) if plus => match &self.config.binding {
                Some(binding) if binding.kind.name() == name => Ok(()),
                _ => Err(SaslError::ChannelBindingUnsupported),
            },
            CbindFlag::Bound(_) => Err(SaslError::ChannelBindingUnsupported),
            CbindFlag::Unsupported | CbindFlag::ClientOnly if plus => Err(SaslError::ChannelBindingRequired),
            CbindFlag::ClientOnly if self.config.plus_advertised => Err(SaslError::ChannelBindingDowngrade),
            CbindFlag::ClientOnly | CbindFlag::Unsupported => Ok(()),
        }
    }

    pub(crate) fn with_secrets(&mut self, secrets: Option<Secrets<'_>>) -> Step {
        let Phase::Secrets { first, authcid } = std::mem::replace(&mut self.phase, Phase::Over) else {
            return Step::Failure(SaslError::OutOfSequence);
        };
        let stored = secrets.and_then(|s| match self.hash {
            ScramHash::Sha1 => s.scram_sha1,
            ScramHash::Sha256 => s.scram_sha256,
        });
        let Some(stored) = stored else {
            return self.server_first(first, None);
        };
        if let Err(error) = self.hash.validate(stored) {
            return Step::Failure(error);
        }
        let account = Account { authcid: Some(authcid), secrets: stored.clone() };
        self.server_first(first, Some(account))
    }

    /// Sends `r=c-nonce s-nonce,s=salt,i=count` for the account or a decoy.
    fn server_first(&mut self, first: ClientFirst, account: Option<Account>) -> Step {
        let account = account.unwrap_or_else(|| self.decoy(&first.username));
        let server_first = format!(
            "r={}{},s={},i={}",
            first.client_nonce,
            self.server_nonce,
            STANDARD.encode(&account.secrets.salt),
            account.secrets.iterations
        );
        let challenge = server_first.clone().into_bytes();
        self.phase = Phase::ClientFinal { first, server_first, account };
        Step::Challenge(challenge)
    }

    /// Decoy secrets for an unknown user: a salt stable under a persistent decoy key,
    /// keys of the right length that no proof matches (the account has no authcid).
    fn decoy(&self, username: &str) -> Account {
        let label = self.config.mechanism.name().as_bytes();
        let mac = ScramHash::Sha256
            .hmac(&self.config.decoy_key, &[b"decoy salt\0", label, b"\0", username.as_bytes()]);
        let salt = mac[..DECOY_SALT_BYTES].to_vec();
        let keys = vec![0u8; self.hash.output_bytes()];
        let secrets = ScramSecrets {
            salt,
            iterations: SCRAM_ITERATIONS_DEFAULT,
            stored_key: keys.clone(),
            server_key: keys,
        };
        Account { authcid: None, secrets }
    }

    /// Checks client-final against what was agreed; `Err` carries the failure step.
    fn client_final(
        &self,
        message: &[u8],
        first: &ClientFirst,
        server_first: &str,
        account: Account,
    ) -> Result<Step, Step> {
        let last = parse_client_final(message).map_err(Step::Failure)?;
        let mut expected_binding = first.gs2_header.as_bytes().to_vec();
        if let (CbindFlag::Bound(_), Some(binding)) = (&first.flag, &self.config.binding) {
            expected_binding.extend_from_slice(&binding.data);
        }
        if !bool::from(last.channel_binding.ct_eq(&expected_binding)) {
            return Err(Step::Failure(SaslError::ChannelBindingMismatch));
        }
        let nonce_expected = format!("{}{}", first.client_nonce, self.server_nonce);
        if last.nonce != nonce_expected {
            return Err(Step::Failure(SaslError::Malformed(
                "SCRAM nonce differs from the server-first nonce",
            )));
        }
        if last.proof.len() != self.hash.output_bytes() {
            return Err(Step::Failure(SaslError::Malformed("SCRAM proof has the wrong length")));
        }
        let auth_message =
            [first.bare.as_bytes(), b",", server_first.as_bytes(), b",", last.without_proof.as_bytes()];
        let secrets = &account.secrets;
        let client_signature = self.hash.hmac(&secrets.stored_key, &auth_message);
        let client_key: Vec<u8> = last.proof.iter().zip(&client_signature).map(|(p, s)| p ^ s).collect();
        let proof_ok = bool::from(self.hash.digest(&client_key).ct_eq(&secrets.stored_key));
        let authcid = match account.authcid {
            Some(authcid) if proof_ok => authcid,
            _ => return Err(Step::Failure(SaslError::BadCredentials)),
        };
        let server_signature = self.hash.hmac(&secrets.server_key, &auth_message);
        let final_message = format!("v={}", STANDARD.encode(server_signature)).into_bytes();
        Ok(Step::Success { authcid, final_message: Some(final_message) })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn server_nonce_maps_bytes_into_the_alphabet() {
        assert_eq!(server_nonce(&[0, 1, 11, 92, 93, 255]), "!\"-~!g");
        assert!(!NONCE_ALPHABET.contains(&b','));
        assert!(NONCE_ALPHABET.iter().all(|b| (0x21..=0x7e).contains(b)));
        assert_eq!(message::encode_saslname("x"), "x");
    }
}
