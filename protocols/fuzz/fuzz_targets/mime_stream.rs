//! Fuzz target: the streaming summarizer (RFC 2045/2046 structure found while the message
//! streams in) against the whole-buffer reference it replaced. The first byte chooses the
//! piece sizes the message is fed in; the summaries must be equal (the message has fewer
//! parts than `PARTS_MAX`, where the two agree by design), and equal for every cut.
#![no_main]

use libfuzzer_sys::fuzz_target;
use moxide_protocols::mime::{Summarizer, reference, summarize};

fuzz_target!(|data: &[u8]| {
    let Some((&seed, message)) = data.split_first() else {
        return;
    };
    let sizes = [1 + usize::from(seed & 7), 1 + usize::from(seed >> 3)];
    let mut summarizer = Summarizer::new();
    let mut rest = message;
    for size in sizes.iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let size = (*size).min(rest.len());
        summarizer.feed(&rest[..size]);
        rest = &rest[size..];
    }
    let streamed = summarizer.finish();
    assert_eq!(streamed, reference::summarize(message));
    assert_eq!(streamed, summarize(message));
});
