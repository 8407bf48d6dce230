//! Memory per message in flight: a [`Summarizer`] fed a message in 32 KiB pieces (as the
//! SMTP session feeds it) holds at most `SUMMARIZER_PEAK_BYTES_MAX` of heap, whatever the
//! message's size and shape: a 64 MiB message with a base64 attachment, a 64 MiB header,
//! 64 MiB of one line, 10 000 parts with long headers, the deepest nesting with long
//! boundaries, and address lists that expand most per header byte. Measured with a
//! counting global allocator (this test binary only: the one `unsafe` outside `runtime`
//! and `storage`, forwarding to the system allocator).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use moxide_protocols::mime::{HEADER_BYTES_MAX, PART_DEPTH_MAX, PARTS_MAX, Summarizer};

/// Heap a summarizer may hold at its peak, summary included, whatever the message's size.
/// The arithmetic: one header buffer (`HEADER_BYTES_MAX`, 128 KiB) and one line prefix (a
/// boundary, at most that too), a stack of 65 open parts; and the summary: `PARTS_MAX`
/// parts of about 350 bytes, doubled by vector growth and by folding the arena into the
/// tree (about 16 MiB, measured), or strings from at most `SUMMARY_HEADER_BYTES_MAX` (1 MiB)
/// of considered header bytes, which one-letter address lists expand about 20 times (18
/// MiB, measured). Ordinary mail stays in the kilobytes.
const SUMMARIZER_PEAK_BYTES_MAX: usize = 32 << 20;

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call forwards to the system allocator with the caller's arguments; the
// counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: the caller's layout is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const PIECE_BYTES: usize = 32 * 1024;

/// Feeds pieces produced by `write` (called until it returns false) and returns the
/// summarizer's peak heap above what was live before, and the summary's part count.
fn peak_of(mut write: impl FnMut(&mut Vec<u8>) -> bool) -> (usize, usize) {
    let mut piece = Vec::with_capacity(PIECE_BYTES * 2);
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let mut summarizer = Summarizer::new();
    loop {
        piece.clear();
        let more = write(&mut piece);
        summarizer.feed(&piece);
        if !more {
            break;
        }
    }
    let summary = summarizer.finish();
    let peak = PEAK.load(Ordering::Relaxed) - before;
    let mut parts = 0;
    let mut stack = vec![&summary.root];
    while let Some(part) = stack.pop() {
        parts += 1;
        stack.extend(part.children.iter());
        stack.extend(part.message.as_deref().map(|embedded| &embedded.1));
    }
    (peak, parts)
}

/// `header`, then `total` bytes of `filler` lines, then `footer`.
fn generated(
    header: Vec<u8>,
    filler: &'static [u8],
    total: usize,
    footer: &'static [u8],
) -> impl FnMut(&mut Vec<u8>) -> bool {
    let mut header = Some(header);
    let mut written = 0;
    let mut footer = Some(footer);
    move |piece| {
        if let Some(header) = header.take() {
            piece.extend_from_slice(&header);
            return true;
        }
        while written < total && piece.len() + filler.len() <= PIECE_BYTES {
            piece.extend_from_slice(filler);
            written += filler.len();
        }
        if written < total {
            return true;
        }
        piece.extend_from_slice(footer.take().unwrap_or_default());
        false
    }
}

fn assert_bounded(name: &str, (peak, parts): (usize, usize)) {
    println!("{name}: peak {peak} bytes, {parts} parts");
    assert!(peak <= SUMMARIZER_PEAK_BYTES_MAX, "{name}: peak {peak} bytes");
}

const MESSAGE_BYTES: usize = 64 << 20;

#[test]
fn summarizer_memory_is_bounded() {
    let header = b"From: a@example.org\r\nSubject: big\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n\
        --b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: application/pdf\r\n\
        Content-Transfer-Encoding: base64\r\n\r\n"
        .to_vec();
    let line = b"QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n";
    assert_bounded("64 MiB attachment", peak_of(generated(header, line, MESSAGE_BYTES, b"\r\n--b--\r\n")));

    let header = b"Subject: endless header\r\n".to_vec();
    let field = b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n";
    assert_bounded("64 MiB header", peak_of(generated(header, field, MESSAGE_BYTES, b"\r\nbody")));

    let header = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nSubject: ".to_vec();
    assert_bounded("64 MiB line", peak_of(generated(header, b"--b x", MESSAGE_BYTES, b"")));

    // More parts than allowed, each with a header as long as the limit lets it be.
    let mut child = b"--b\r\nContent-Type: text/plain; name=\"".to_vec();
    child.extend(std::iter::repeat_n(b'n', 2000));
    child.extend_from_slice(b"\"\r\n\r\nx\r\n");
    let child: &'static [u8] = child.leak();
    let header = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n".to_vec();
    let result = peak_of(generated(header, child, child.len() * (PARTS_MAX + 10), b"--b--\r\n"));
    assert_eq!(result.1, PARTS_MAX);
    assert_bounded("parts over the limit", result);

    // Digest of embedded messages whose address lists expand most per header byte.
    let mut entry = b"--d\r\n\r\nTo: ".to_vec();
    for _ in 0..1500 {
        entry.extend_from_slice(b"a,");
    }
    entry.extend_from_slice(b"\r\nCc: ");
    for _ in 0..1500 {
        entry.extend_from_slice(b"<>,");
    }
    entry.extend_from_slice(b"\r\n\r\nx\r\n");
    let entry: &'static [u8] = entry.leak();
    let header = b"Content-Type: multipart/digest; boundary=d\r\n\r\n".to_vec();
    assert_bounded("address lists", peak_of(generated(header, entry, entry.len() * 2000, b"--d--\r\n")));

    // The deepest nesting, each level with a boundary as long as a header allows.
    let mut header = Vec::new();
    for level in 0..=PART_DEPTH_MAX {
        let boundary = format!("{level:04}{}", "q".repeat(HEADER_BYTES_MAX / (PART_DEPTH_MAX + 2)));
        header.extend_from_slice(
            format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n").as_bytes(),
        );
        header.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
    }
    let result = peak_of(generated(header, b"--0001 not quite\r\n", MESSAGE_BYTES / 16, b""));
    assert_eq!(result.1, PART_DEPTH_MAX + 1);
    assert_bounded("deep nesting", result);
}
