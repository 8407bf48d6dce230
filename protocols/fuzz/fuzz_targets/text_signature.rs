//! Fuzz target: text signatures never rule out a message that SEARCH BODY or TEXT
//! matches. The first byte picks a needle from the message itself (an offset and a
//! length, read as lossy UTF-8), so needles often occur; the signature made from the
//! message must let every matching needle through. Any bytes read as a signature (the
//! message itself here) must not panic the probe.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moxide_protocols::mime::{SignatureProbe, body_matches, signature_of, summarize, text_matches};

fuzz_target!(|data: &[u8]| {
    let Some((&seed, message)) = data.split_first() else {
        return;
    };
    let length = 1 + usize::from(seed & 15);
    let start = (usize::from(seed >> 4) * message.len() / 16).min(message.len());
    let end = (start + length).min(message.len());
    let needle = String::from_utf8_lossy(&message[start..end]).into_owned();
    let probe = SignatureProbe::new(&needle);
    let _ = probe.may_match(message);
    let summary = summarize(message);
    let Some(signature) = signature_of(message, &summary) else {
        return;
    };
    if body_matches(message, &summary, &needle) || text_matches(message, &summary, &needle) {
        assert!(probe.may_match(&signature), "{needle:?} ruled out");
    }
});
