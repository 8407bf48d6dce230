//! Fuzz target: the MTA-STS TXT record and policy parsers and the HTTP response reader
//! (RFC 8461). Input: the first byte picks the piece size, the rest is an HTTP response
//! whose body is a policy, also read as a TXT record.
//!
//! Checks: no panic; a parsed policy stays within its limits and matches what its own
//! patterns name; a body the reader yields is within the policy limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moxide_protocols::mtasts::http::ResponseReader;
use moxide_protocols::mtasts::{POLICY_BYTES_MAX, POLICY_MAX_AGE_SECS_MAX, POLICY_MX_MAX, parse_policy, parse_record};

fuzz_target!(|data: &[u8]| {
    let Some((&piece, response)) = data.split_first() else { return };
    let _ = parse_record(response);
    let mut reader = ResponseReader::new();
    let fed = response.chunks(usize::from(piece).max(1)).try_for_each(|chunk| reader.feed(chunk));
    let body = match fed.and_then(|()| reader.finish()) {
        Ok(body) => body,
        Err(_) => response.to_vec(),
    };
    assert!(body.len() <= POLICY_BYTES_MAX || body == response);
    if let Ok(policy) = parse_policy(&body) {
        assert!(policy.mx.len() <= POLICY_MX_MAX);
        assert!(policy.max_age_secs <= POLICY_MAX_AGE_SECS_MAX);
        for pattern in &policy.mx {
            let host = pattern.replace("*.", "x.");
            assert!(policy.matches(&host), "{pattern} must match {host}");
        }
    }
});
