//! SCRAM client (RFC 5802; SHA-256 per RFC 7677) with channel binding for the -PLUS
//! variants (RFC 5802 §6, `tls-exporter` RFC 9266), for SMTP AUTH to a smarthost.
//!
//! Flow: [`ScramClient::client_first`] → the server-first message goes to
//! [`ScramClient::server_first`], which checks it and says what to derive
//! ([`Derivation`]: salt and iteration count; PBKDF2 is slow, so the caller runs
//! [`Derivation::salted_password`] off its executor) → [`ScramClient::client_final`]
//! with the salted password → the server-final message goes to
//! [`ScramClient::server_final`], which verifies the server's signature: a server that
//! cannot prove it knows the password's keys is not trusted with the mail.
//!
//! Invariants: the AuthMessage is built from the messages exactly as sent and received;
//! the server's signature is compared in constant time; an iteration count outside
//! `SCRAM_ITERATIONS_MIN..=SCRAM_ITERATIONS_MAX` is refused before any work (a hostile
//! server could otherwise make us spend seconds per attempt, or weaken the proof).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use subtle::ConstantTimeEq;

use super::message::encode_saslname;
use crate::sasl::error::SaslError;
use crate::sasl::limits::{SALT_BYTES_MAX, SCRAM_ITERATIONS_MAX, SCRAM_ITERATIONS_MIN};
use crate::sasl::precis::{prepare_password, prepare_username};
use crate::sasl::secrets::ScramHash;
use crate::sasl::{ChannelBinding, Mechanism};

/// A client nonce from the caller's random bytes: one printable character per byte,
/// the alphabet the server's nonces use (18 bytes or more give over 110 bits).
pub fn client_nonce(random: &[u8]) -> String {
    super::server_nonce(random)
}

/// What the caller derives between server-first and client-final: PBKDF2 of the
/// password with the server's salt and iteration count (RFC 5802 §3 `Hi`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Derivation {
    hash: ScramHash,
    /// The server's salt, decoded.
    pub salt: Vec<u8>,
    /// The server's iteration count, within bounds.
    pub iterations: u32,
}

impl Derivation {
    /// `SaltedPassword := Hi(Normalize(password), salt, i)`. Slow by design: run it off
    /// the executor.
    pub fn salted_password(&self, password: &str) -> Result<Vec<u8>, SaslError> {
        let prepared = prepare_password(password)?;
        Ok(self.hash.salted_password(prepared.as_bytes(), &self.salt, self.iterations))
    }
}

#[derive(Debug)]
enum Phase {
    /// client-first sent; waiting for server-first.
    ServerFirst,
    /// server-first taken; waiting for the caller's salted password.
    Derive { server_first: String, nonce: String },
    /// client-final sent; waiting for server-final, with the signature it must carry.
    ServerFinal { expected_signature: Vec<u8> },
    /// Verified, or failed.
    Over,
}

/// Client side of one SCRAM exchange. No `Debug` of secrets: it holds none but the
/// expected server signature, which is not logged.
pub struct ScramClient {
    hash: ScramHash,
    gs2_header: String,
    /// `c=` data: the gs2 header plus, with `p=`, the binding data.
    channel_binding: Vec<u8>,
    client_nonce: String,
    client_first_bare: String,
    phase: Phase,
}

impl std::fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScramClient").field("gs2_header", &self.gs2_header).finish_non_exhaustive()
    }
}

impl ScramClient {
    /// A client for `mechanism` (a SCRAM one) as `username`, with `client_nonce`
    /// (printable ASCII without `,`, from the caller's random source). `binding`: the
    /// connection's channel binding, required by -PLUS; for plain SCRAM its presence
    /// makes the gs2 flag `y` (we could bind, the server did not offer it: RFC 5802 §6
    /// lets a server detect a stripped -PLUS), its absence `n`.
    pub fn new(
        mechanism: Mechanism,
        username: &str,
        client_nonce: &str,
        binding: Option<&ChannelBinding>,
    ) -> Result<ScramClient, SaslError> {
        let hash = match mechanism {
            Mechanism::ScramSha256 | Mechanism::ScramSha256Plus => ScramHash::Sha256,
            Mechanism::ScramSha1 | Mechanism::ScramSha1Plus => ScramHash::Sha1,
            _ => return Err(SaslError::InvalidParameter("not a SCRAM mechanism")),
        };
        if client_nonce.is_empty() || !client_nonce.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',') {
            return Err(SaslError::InvalidParameter("SCRAM client nonce not printable"));
        }
        let (gs2_header, bound) = match (mechanism.needs_channel_binding(), binding) {
            (true, Some(binding)) => (format!("p={},,", binding.kind.name()), Some(binding)),
            (true, None) => return Err(SaslError::ChannelBindingUnsupported),
            (false, Some(_)) => ("y,,".to_owned(), None),
            (false, None) => ("n,,".to_owned(), None),
        };
        let mut channel_binding = gs2_header.clone().into_bytes();
        if let Some(binding) = bound {
            channel_binding.extend_from_slice(&binding.data);
        }
        let name = encode_saslname(&prepare_username(username)?);
        let client_first_bare = format!("n={name},r={client_nonce}");
        Ok(ScramClient {
            hash,
            gs2_header,
            channel_binding,
            client_nonce: client_nonce.to_owned(),
            client_first_bare,
            phase: Phase::ServerFirst,
        })
    }

    /// The client-first message (the initial response of AUTH).
    pub fn client_first(&self) -> Vec<u8> {
        format!("{}{}", self.gs2_header, self.client_first_bare).into_bytes()
    }

    /// Takes the server-first message: `r=` must extend our nonce, `s=` a salt of at
    /// most `SALT_BYTES_MAX`, `i=` within bounds. Returns what to derive.
    pub fn server_first(&mut self, message: &[u8]) -> Result<Derivation, SaslError> {
        if !matches!(self.phase, Phase::ServerFirst) {
            return Err(SaslError::OutOfSequence);
        }
        self.phase = Phase::Over;
        let text =
            std::str::from_utf8(message).map_err(|_| SaslError::Malformed("SCRAM message is not UTF-8"))?;
        if text.starts_with("m=") {
            return Err(SaslError::Malformed("SCRAM mandatory extension not supported"));
        }
        let mut fields = text.split(',');
        let nonce = fields.next().and_then(|f| f.strip_prefix("r=")).unwrap_or("");
        let salt = fields.next().and_then(|f| f.strip_prefix("s=")).unwrap_or("");
        let iterations = fields.next().and_then(|f| f.strip_prefix("i=")).unwrap_or("");
        let extends = nonce.len() > self.client_nonce.len() && nonce.starts_with(&self.client_nonce);
        if !extends || nonce.contains(|c: char| !c.is_ascii_graphic()) {
            return Err(SaslError::Malformed("SCRAM server nonce does not extend the client nonce"));
        }
        let salt = STANDARD.decode(salt).map_err(|_| SaslError::Malformed("SCRAM salt is not base64"))?;
        if salt.is_empty() || salt.len() > SALT_BYTES_MAX {
            return Err(SaslError::InvalidParameter("SCRAM salt length out of bounds"));
        }
        let iterations: u32 =
            iterations.parse().map_err(|_| SaslError::Malformed("SCRAM iteration count is not a number"))?;
        if !(SCRAM_ITERATIONS_MIN..=SCRAM_ITERATIONS_MAX).contains(&iterations) {
            return Err(SaslError::InvalidParameter("SCRAM iteration count out of bounds"));
        }
        self.phase = Phase::Derive { server_first: text.to_owned(), nonce: nonce.to_owned() };
        Ok(Derivation { hash: self.hash, salt, iterations })
    }

    /// The client-final message, from the salted password of [`Derivation`].
    pub fn client_final(&mut self, salted_password: &[u8]) -> Result<Vec<u8>, SaslError> {
        let Phase::Derive { server_first, nonce } = std::mem::replace(&mut self.phase, Phase::Over) else {
            return Err(SaslError::OutOfSequence);
        };
        if salted_password.len() != self.hash.output_bytes() {
            return Err(SaslError::InvalidParameter("salted password has the wrong length"));
        }
        let without_proof = format!("c={},r={nonce}", STANDARD.encode(&self.channel_binding));
        let auth_message = [
            self.client_first_bare.as_bytes(),
            b",",
            server_first.as_bytes(),
            b",",
            without_proof.as_bytes(),
        ];
        let client_key = self.hash.hmac(salted_password, &[b"Client Key"]);
        let stored_key = self.hash.digest(&client_key);
        let client_signature = self.hash.hmac(&stored_key, &auth_message);
        let proof: Vec<u8> = client_key.iter().zip(&client_signature).map(|(k, s)| k ^ s).collect();
        let server_key = self.hash.hmac(salted_password, &[b"Server Key"]);
        let expected_signature = self.hash.hmac(&server_key, &auth_message);
        self.phase = Phase::ServerFinal { expected_signature };
        Ok(format!("{without_proof},p={}", STANDARD.encode(proof)).into_bytes())
    }

    /// Verifies the server-final message (`v=` our expected server signature; `e=` is
    /// the server's refusal).
    pub fn server_final(&mut self, message: &[u8]) -> Result<(), SaslError> {
        let Phase::ServerFinal { expected_signature } = std::mem::replace(&mut self.phase, Phase::Over)
        else {
            return Err(SaslError::OutOfSequence);
        };
        let text =
            std::str::from_utf8(message).map_err(|_| SaslError::Malformed("SCRAM message is not UTF-8"))?;
        let first = text.split(',').next().unwrap_or("");
        if first.starts_with("e=") {
            return Err(SaslError::BadCredentials);
        }
        let Some(encoded) = first.strip_prefix("v=") else {
            return Err(SaslError::Malformed("SCRAM server-final without v="));
        };
        let signature =
            STANDARD.decode(encoded).map_err(|_| SaslError::Malformed("SCRAM v= is not base64"))?;
        if bool::from(signature.ct_eq(&expected_signature)) {
            Ok(())
        } else {
            Err(SaslError::ServerNotVerified)
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use crate::sasl::ChannelBindingKind;

    /// Runs one exchange against the messages of an RFC test vector.
    fn run(mechanism: Mechanism, nonce: &str, server_first: &str, client_final: &str, server_final: &str) {
        let mut client = ScramClient::new(mechanism, "user", nonce, None).unwrap();
        assert_eq!(client.client_first(), format!("n,,n=user,r={nonce}").into_bytes());
        let derivation = client.server_first(server_first.as_bytes()).unwrap();
        assert_eq!(derivation.iterations, 4096);
        let salted = derivation.salted_password("pencil").unwrap();
        let last = client.client_final(&salted).unwrap();
        assert_eq!(String::from_utf8(last).unwrap(), client_final);
        client.server_final(server_final.as_bytes()).unwrap();
    }

    #[test]
    fn rfc_7677_sha256_test_vector() {
        // RFC 7677 §3.
        run(
            Mechanism::ScramSha256,
            "rOprNGfwEbeRWgbNEkqO",
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
        );
    }

    #[test]
    fn rfc_5802_sha1_test_vector() {
        // RFC 5802 §5.
        run(
            Mechanism::ScramSha1,
            "fyko+d2lbbFgONRv9qkxdawL",
            "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
            "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
            "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
        );
    }

    #[test]
    fn a_wrong_server_signature_and_hostile_parameters_are_refused() {
        let first = "r=abcdefXYZ,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let mut client = ScramClient::new(Mechanism::ScramSha256, "user", "abcdef", None).unwrap();
        let derivation = client.server_first(first.as_bytes()).unwrap();
        let salted = derivation.salted_password("pencil").unwrap();
        client.client_final(&salted).unwrap();
        let forged = format!("v={}", STANDARD.encode([0u8; 32]));
        assert_eq!(client.server_final(forged.as_bytes()), Err(SaslError::ServerNotVerified));
        for bad in [
            "r=zzzzzz1,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",    // not our nonce
            "r=abcdef,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",     // nothing added
            "r=abcdefX,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095",    // too few iterations
            "r=abcdefX,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=9999999", // too many
            "r=abcdefX,s=,i=4096",
            "m=x,r=abcdefX,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        ] {
            let mut client = ScramClient::new(Mechanism::ScramSha256, "user", "abcdef", None).unwrap();
            assert!(client.server_first(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn channel_binding_goes_into_the_gs2_header_and_c() {
        let binding = ChannelBinding { kind: ChannelBindingKind::TlsExporter, data: vec![7; 32] };
        let mut client =
            ScramClient::new(Mechanism::ScramSha256Plus, "u,x", "abcdef", Some(&binding)).unwrap();
        assert_eq!(client.client_first(), b"p=tls-exporter,,n=u=2Cx,r=abcdef");
        let derivation = client.server_first(b"r=abcdefX,s=AAAAAAAAAAA=,i=4096").unwrap();
        let last = String::from_utf8(client.client_final(&[1; 32]).unwrap()).unwrap();
        let c = last.split(',').next().unwrap().strip_prefix("c=").unwrap();
        let mut expected = b"p=tls-exporter,,".to_vec();
        expected.extend_from_slice(&[7; 32]);
        assert_eq!(STANDARD.decode(c).unwrap(), expected);
        assert_eq!(derivation.salt.len(), 8);
        // Binding available but the plain mechanism chosen: `y`.
        let client = ScramClient::new(Mechanism::ScramSha256, "u", "abcdef", Some(&binding)).unwrap();
        assert!(client.client_first().starts_with(b"y,,"));
        assert!(ScramClient::new(Mechanism::ScramSha1Plus, "u", "abc", None).is_err());
        assert!(ScramClient::new(Mechanism::Plain, "u", "abc", None).is_err());
    }
}
