//! Helpers for the SASL tests: a small SCRAM client written from RFC 5802 §3 directly
//! on the hash crates (independent of the server code), nonce bytes that reproduce the
//! RFC examples' server nonces, and fixed secrets.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::expect_used)]

use std::sync::LazyLock;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use moxide_protocols::sasl::{
    CramMd5Secrets, ScramSecrets, derive_cram_md5, derive_scram_sha1, derive_scram_sha256,
};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Printable ASCII without `,`, in order: the server maps nonce byte `b` to
/// `ALPHABET[b % 93]`, so a character's index is the byte that produces it.
const ALPHABET: &[u8] =
    b"!\"#$%&'()*+-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";

/// Nonce bytes that make the server choose `server_nonce`.
pub fn nonce_for(server_nonce: &str) -> Vec<u8> {
    server_nonce.bytes().map(|c| ALPHABET.iter().position(|&a| a == c).expect("printable") as u8).collect()
}

/// A nonce of the minimum length.
pub fn nonce() -> Vec<u8> {
    (0u8..18).map(|i| i.wrapping_mul(37).wrapping_add(5)).collect()
}

pub fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    STANDARD.decode(text).unwrap()
}

pub const PASSWORD: &str = "pencil";
pub const SALT: &[u8] = b"0123456789abcdef";

pub static SHA1: LazyLock<ScramSecrets> = LazyLock::new(|| derive_scram_sha1(PASSWORD, SALT, 4096).unwrap());
pub static SHA256: LazyLock<ScramSecrets> =
    LazyLock::new(|| derive_scram_sha256(PASSWORD, SALT, 4096).unwrap());
pub static CRAM: LazyLock<CramMd5Secrets> = LazyLock::new(|| derive_cram_md5(PASSWORD).unwrap());

#[derive(Clone, Copy, Debug)]
pub enum Hash {
    Sha1,
    Sha256,
}

fn hmac(hash: Hash, key: &[u8], data: &[u8]) -> Vec<u8> {
    match hash {
        Hash::Sha1 => {
            let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(key).unwrap();
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
        Hash::Sha256 => {
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap();
            mac.update(data);
            mac.finalize().into_bytes().to_vec()
        }
    }
}

fn digest(hash: Hash, data: &[u8]) -> Vec<u8> {
    match hash {
        Hash::Sha1 => Sha1::digest(data).to_vec(),
        Hash::Sha256 => Sha256::digest(data).to_vec(),
    }
}

/// HMAC-MD5 straight from RFC 2104 §2 on the md-5 hash, to check the precomputed states.
pub fn hmac_md5(key: &[u8], message: &[u8]) -> Vec<u8> {
    use md5::Digest;
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..16].copy_from_slice(&md5::Md5::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let inner_pad: Vec<u8> = block.iter().map(|b| b ^ 0x36).chain(message.iter().copied()).collect();
    let inner = md5::Md5::digest(&inner_pad);
    let outer_pad: Vec<u8> = block.iter().map(|b| b ^ 0x5c).chain(inner.iter().copied()).collect();
    md5::Md5::digest(&outer_pad).to_vec()
}

/// The client side of one SCRAM exchange after client-first.
pub struct ScramClient {
    pub hash: Hash,
    pub password: String,
    pub gs2_header: String,
    pub cb_data: Vec<u8>,
    pub bare: String,
}

impl ScramClient {
    pub fn new(hash: Hash, password: &str, gs2_header: &str, user: &str, client_nonce: &str) -> ScramClient {
        ScramClient {
            hash,
            password: password.to_owned(),
            gs2_header: gs2_header.to_owned(),
            cb_data: Vec::new(),
            bare: format!("n={user},r={client_nonce}"),
        }
    }

    pub fn first(&self) -> Vec<u8> {
        format!("{}{}", self.gs2_header, self.bare).into_bytes()
    }

    /// Client-final for `server_first`, and the server signature to expect.
    pub fn last(&self, server_first: &[u8]) -> (Vec<u8>, Vec<u8>) {
        let server_first = std::str::from_utf8(server_first).unwrap();
        let mut nonce = "";
        let mut salt = Vec::new();
        let mut iterations = 0u32;
        for field in server_first.split(',') {
            match field.split_at(2) {
                ("r=", v) => nonce = v,
                ("s=", v) => salt = unb64(v),
                ("i=", v) => iterations = v.parse().unwrap(),
                _ => {}
            }
        }
        let mut cbind = self.gs2_header.as_bytes().to_vec();
        cbind.extend_from_slice(&self.cb_data);
        let without_proof = format!("c={},r={nonce}", b64(&cbind));
        let auth_message = format!("{},{server_first},{without_proof}", self.bare);
        let mut salted = vec![0u8; digest(self.hash, b"").len()];
        match self.hash {
            Hash::Sha1 => {
                pbkdf2::pbkdf2_hmac::<Sha1>(self.password.as_bytes(), &salt, iterations, &mut salted)
            }
            Hash::Sha256 => {
                pbkdf2::pbkdf2_hmac::<Sha256>(self.password.as_bytes(), &salt, iterations, &mut salted)
            }
        }
        let client_key = hmac(self.hash, &salted, b"Client Key");
        let stored_key = digest(self.hash, &client_key);
        let signature = hmac(self.hash, &stored_key, auth_message.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(k, s)| k ^ s).collect();
        let server_key = hmac(self.hash, &salted, b"Server Key");
        let server_signature = hmac(self.hash, &server_key, auth_message.as_bytes());
        let last = format!("{without_proof},p={}", b64(&proof)).into_bytes();
        (last, format!("v={}", b64(&server_signature)).into_bytes())
    }
}
