//! Fuzz target: the SPF record parser (RFC 7208 §12) and macro expansion. Input: a TXT
//! record's text.
//!
//! Checks: no panic; a parsed record has at most one `all`, which is last; every
//! macro-string in it expands within the expansion limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moxide_protocols::auth::spf::macros::{EXPANSION_BYTES_MAX, MacroContext};
use moxide_protocols::auth::spf::record::{Mechanism, Record};

fuzz_target!(|data: &[u8]| {
    let Ok(record) = Record::parse(data) else { return };
    let alls = record.directives.iter().filter(|d| d.mechanism == Mechanism::All).count();
    assert!(alls <= 1);
    if alls == 1 {
        assert_eq!(record.directives.last().map(|d| &d.mechanism), Some(&Mechanism::All));
    }
    let context = MacroContext {
        sender: "user@example.com",
        local: "user",
        sender_domain: "example.com",
        domain: "example.com",
        ip: [192, 0, 2, 1].into(),
        helo: "mx.example.com",
        receiver: "mx.example.net",
        now_secs: 0,
        validated_name: None,
    };
    for spec in record.redirect.iter().chain(record.explanation.iter()) {
        assert!(spec.expand(&context).len() <= EXPANSION_BYTES_MAX);
        assert!(spec.expand_domain(&context).len() <= EXPANSION_BYTES_MAX);
    }
});
