//! Fuzz target: DKIM-Signature (and ARC-Message-Signature) parsing, key records, the
//! `b=` stripping used for the header hash, and the authserv-id reader. Input: a header
//! field value.
//!
//! Checks: no panic; a parsed signature signs From and names at most `SIGNED_HEADERS_MAX`
//! fields; stripping `b=` never grows the field.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moxide_protocols::auth::dkim::key::KeyRecord;
use moxide_protocols::auth::dkim::signature::{Flavor, SIGNED_HEADERS_MAX, Signature, without_signature_value};
use moxide_protocols::auth::results::authserv_id;

fuzz_target!(|data: &[u8]| {
    for flavor in [Flavor::Dkim, Flavor::ArcMessage] {
        if let Ok(signature) = Signature::parse(data, flavor) {
            assert!(signature.signed_headers.iter().any(|h| h == "from"));
            assert!(signature.signed_headers.len() <= SIGNED_HEADERS_MAX);
        }
    }
    let _ = KeyRecord::parse(data);
    let _ = authserv_id(data);
    let mut field = b"DKIM-Signature:".to_vec();
    field.extend_from_slice(data);
    assert!(without_signature_value(&field).len() <= field.len() + 2);
});
