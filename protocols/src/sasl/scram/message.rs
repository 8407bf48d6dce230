//! SCRAM client messages (RFC 5802 §7 grammar): client-first and client-final, parsed
//! into owned parts that keep the exact bytes the AuthMessage is computed over.
//!
//! Attributes are split on `,`, which the grammar never lets appear inside a value
//! (saslname encodes it as `=2C`, nonces and base64 exclude it). Order is fixed: gs2
//! header, optional `m=` (refused: we support no mandatory extension, RFC 5802 §5.1),
//! `n=`, `r=`, optional extensions; then `c=`, `r=`, optional extensions, `p=` last.
//!
//! Invariant: `ClientFirst::gs2_header` + `ClientFirst::bare` is the whole message and
//! `ClientFinal::without_proof` is the final message up to its last `,p=`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::sasl::error::SaslError;

/// The gs2 channel binding flag (RFC 5802 §7 `gs2-cbind-flag`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CbindFlag {
    /// `n`: the client does not support channel binding.
    Unsupported,
    /// `y`: the client supports it but thinks the server does not.
    ClientOnly,
    /// `p=name`: the client uses channel binding of this type.
    Bound(String),
}

/// A parsed client-first message.
#[derive(Debug, Clone)]
pub(crate) struct ClientFirst {
    /// `gs2-header` with its trailing comma, exactly as sent (it goes into `c=`).
    pub(crate) gs2_header: String,
    pub(crate) flag: CbindFlag,
    /// Decoded `a=`, if present.
    pub(crate) authzid: Option<String>,
    /// Decoded `n=`.
    pub(crate) username: String,
    pub(crate) client_nonce: String,
    /// `client-first-message-bare`, exactly as sent (it goes into the AuthMessage).
    pub(crate) bare: String,
}

/// A parsed client-final message.
#[derive(Debug, Clone)]
pub(crate) struct ClientFinal {
    /// Decoded `c=`: gs2 header plus channel binding data, as the client saw them.
    pub(crate) channel_binding: Vec<u8>,
    /// `r=`: client nonce followed by server nonce.
    pub(crate) nonce: String,
    /// `client-final-message-without-proof`, exactly as sent.
    pub(crate) without_proof: String,
    /// Decoded `p=`.
    pub(crate) proof: Vec<u8>,
}

/// Parses `gs2-header client-first-message-bare`.
pub(crate) fn parse_client_first(message: &[u8]) -> Result<ClientFirst, SaslError> {
    let text =
        std::str::from_utf8(message).map_err(|_| SaslError::Malformed("SCRAM message is not UTF-8"))?;
    let mut parts = text.splitn(3, ',');
    let (Some(flag_text), Some(authzid_text), Some(bare)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(SaslError::Malformed("SCRAM gs2 header incomplete"));
    };
    let flag = match flag_text {
        "n" => CbindFlag::Unsupported,
        "y" => CbindFlag::ClientOnly,
        _ => match flag_text.strip_prefix("p=") {
            Some(name) if is_cb_name(name) => CbindFlag::Bound(name.to_owned()),
            _ => return Err(SaslError::Malformed("SCRAM gs2 channel binding flag invalid")),
        },
    };
    let authzid = match authzid_text {
        "" => None,
        _ => match authzid_text.strip_prefix("a=") {
            Some(name) => Some(decode_saslname(name)?),
            None => return Err(SaslError::Malformed("SCRAM gs2 authzid without a=")),
        },
    };
    let gs2_header_len = flag_text.len() + authzid_text.len() + 2;
    let mut fields = bare.split(',');
    let mut field = fields.next().unwrap_or("");
    if field.starts_with("m=") {
        return Err(SaslError::Malformed("SCRAM mandatory extension not supported"));
    }
    let username = match field.strip_prefix("n=") {
        Some(name) => decode_saslname(name)?,
        None => return Err(SaslError::Malformed("SCRAM client-first without n=")),
    };
    field = fields.next().unwrap_or("");
    let client_nonce = match field.strip_prefix("r=") {
        Some(nonce) if is_nonce(nonce) => nonce.to_owned(),
        _ => return Err(SaslError::Malformed("SCRAM client-first without a valid r=")),
    };
    if !fields.all(is_extension) {
        return Err(SaslError::Malformed("SCRAM client-first extension invalid"));
    }
    Ok(ClientFirst {
        gs2_header: text[..gs2_header_len].to_owned(),
        flag,
        authzid,
        username,
        client_nonce,
        bare: bare.to_owned(),
    })
}

/// Parses `channel-binding "," nonce ["," extensions] "," proof`.
pub(crate) fn parse_client_final(message: &[u8]) -> Result<ClientFinal, SaslError> {
    let text =
        std::str::from_utf8(message).map_err(|_| SaslError::Malformed("SCRAM message is not UTF-8"))?;
    let Some((without_proof, proof_field)) = text.rsplit_once(',') else {
        return Err(SaslError::Malformed("SCRAM client-final incomplete"));
    };
    let proof = match proof_field.strip_prefix("p=") {
        Some(encoded) => decode_base64(encoded)?,
        None => return Err(SaslError::Malformed("SCRAM client-final does not end with p=")),
    };
    let mut fields = without_proof.split(',');
    let channel_binding = match fields.next().and_then(|f| f.strip_prefix("c=")) {
        Some(encoded) => decode_base64(encoded)?,
        None => return Err(SaslError::Malformed("SCRAM client-final without c=")),
    };
    let nonce = match fields.next().and_then(|f| f.strip_prefix("r=")) {
        Some(nonce) if is_nonce(nonce) => nonce.to_owned(),
        _ => return Err(SaslError::Malformed("SCRAM client-final without a valid r=")),
    };
    if !fields.all(is_extension) {
        return Err(SaslError::Malformed("SCRAM client-final extension invalid"));
    }
    Ok(ClientFinal { channel_binding, nonce, without_proof: without_proof.to_owned(), proof })
}

/// `saslname`: non-empty, no NUL, `,` never raw, `=` only as `=2C` or `=3D`.
fn decode_saslname(encoded: &str) -> Result<String, SaslError> {
    if encoded.is_empty() || encoded.contains('\0') {
        return Err(SaslError::Malformed("SCRAM saslname empty or with NUL"));
    }
    let mut decoded = String::with_capacity(encoded.len());
    let mut rest = encoded;
    while let Some(at) = rest.find('=') {
        decoded.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3);
        match escape {
            Some("=2C") => decoded.push(','),
            Some("=3D") => decoded.push('='),
            _ => return Err(SaslError::Malformed("SCRAM saslname with a bad = escape")),
        }
        rest = &rest[at + 3..];
    }
    decoded.push_str(rest);
    Ok(decoded)
}

/// `saslname` encoding (the client's `n=`): `,` and `=` escaped.
pub(crate) fn encode_saslname(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// `cb-name = 1*(ALPHA / DIGIT / "." / "-")`.
fn is_cb_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
}

/// `1*printable`, printable ASCII except `,` (RFC 5802 §7, with the errata's repetition).
fn is_nonce(nonce: &str) -> bool {
    !nonce.is_empty() && nonce.bytes().all(|b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// `attr-val = ALPHA "=" 1*value-char`; value-char is any UTF-8 but NUL and `,`.
fn is_extension(field: &str) -> bool {
    let bytes = field.as_bytes();
    bytes.len() >= 3 && bytes[0].is_ascii_alphabetic() && bytes[1] == b'=' && !field.contains('\0')
}

fn decode_base64(encoded: &str) -> Result<Vec<u8>, SaslError> {
    STANDARD.decode(encoded).map_err(|_| SaslError::Malformed("SCRAM attribute is not valid base64"))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    #[test]
    fn client_first_keeps_exact_parts() {
        let first = parse_client_first(b"p=tls-exporter,a=a=3Db,n=a=3Db=2Cc,r=abc,x=1").unwrap();
        assert_eq!(first.gs2_header, "p=tls-exporter,a=a=3Db,");
        assert_eq!(first.flag, CbindFlag::Bound("tls-exporter".to_owned()));
        assert_eq!(first.authzid.as_deref(), Some("a=b"));
        assert_eq!(first.username, "a=b,c");
        assert_eq!(first.client_nonce, "abc");
        assert_eq!(first.bare, "n=a=3Db=2Cc,r=abc,x=1");
        assert_eq!(encode_saslname("a=b,c"), "a=3Db=2Cc");
    }

    #[test]
    fn client_first_refusals() {
        for bad in [
            &b"n,,m=x,n=user,r=abc"[..],
            b"n,,r=abc,n=user",
            b"n,,n=user",
            b"n,,n=,r=abc",
            b"n,,n=us=2er,r=abc",
            b"n,,n=user,r=a b",
            b"n,,n=user,r=abc,=x",
            b"x,,n=user,r=abc",
            b"p=,,n=user,r=abc",
            b"n,b=x,n=user,r=abc",
            b"n,",
            b"\xff,,n=user,r=abc",
        ] {
            assert!(
                matches!(parse_client_first(bad), Err(SaslError::Malformed(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn client_final_parts() {
        let last = parse_client_final(b"c=biws,r=abcdef,x=yz,p=AAEC").unwrap();
        assert_eq!(last.channel_binding, b"n,,");
        assert_eq!(last.nonce, "abcdef");
        assert_eq!(last.without_proof, "c=biws,r=abcdef,x=yz");
        assert_eq!(last.proof, [0, 1, 2]);
        for bad in
            [&b"c=biws,r=abc"[..], b"r=abc,c=biws,p=AAEC", b"c=b!ws,r=abc,p=AAEC", b"c=biws,p=AAEC", b""]
        {
            assert!(parse_client_final(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
