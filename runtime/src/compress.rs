//! IMAP COMPRESS=DEFLATE (RFC 4978): raw DEFLATE (RFC 1951, no zlib or gzip wrapper) in
//! both directions of a connection, above TLS when TLS is on (what we send is deflated,
//! then encrypted; what we receive is decrypted, then inflated).
//!
//! Two sans-IO halves, [`Deflater`] and [`Inflater`] (bytes in, bytes out, no socket),
//! and [`CompressedStream`], which runs them over a [`Stream`] as `AsyncRead` +
//! `AsyncWrite`. The stream buffers what it deflates until the output buffer is full or
//! the caller flushes; a flush is a DEFLATE sync flush (an empty stored block that ends
//! on a byte boundary), so the client can decode everything written so far. Callers
//! flush when they are about to wait for the peer, as they do on any stream.
//!
//! The inflate side returns every byte as soon as its DEFLATE symbols have arrived: it
//! never waits for a block to end or for a sync marker. Clients that end their writes
//! with a partial flush (a non-aligned empty block) must still be answered at once; a
//! reader that waits for block ends stalls them (the reason mox stopped offering
//! COMPRESS=DEFLATE, see docs/architecture.md). The unit tests feed partial flushes a
//! byte at a time.
//!
//! Memory per compressed connection (miniz_oxide, the pure-Rust DEFLATE flate2 uses
//! here, has a fixed 32 KiB window and cannot be made smaller): the deflate state is
//! about 330 KiB (32 KiB window, hash chains 2 × 64 KiB, symbol buffer 64 KiB, output
//! staging 85 KiB), the inflate state about 45 KiB (32 KiB window and Huffman tables),
//! plus [`DEFLATE_OUTPUT_BYTES_MAX`] and [`INFLATE_INPUT_BYTES_MAX`]: about 400 KiB,
//! fixed, whatever the client sends or the messages weigh. A session about to wait long
//! (IDLE) frees the deflate half ([`CompressedStream::release_deflate_state`]) and
//! keeps only the inflate state, whose window the client's next bytes may refer to.
//!
//! Inflated bytes come out only as fast as the caller asks (at most its buffer per
//! read), so a small input that inflates to gigabytes (a "decompression bomb") costs
//! CPU time in pieces, never memory: the session's reader applies its line and literal
//! limits to those pieces as it would to plain input.

use std::fs::File;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use futures_lite::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _};

use crate::stream::Stream;
use crate::tls::TlsInfo;

/// Compressed bytes held before they go to the socket: a flush or a full buffer writes
/// them. 16 KiB is one TLS record's worth of plaintext, so a TLS connection below
/// encrypts full records; more would only wait in memory.
pub const DEFLATE_OUTPUT_BYTES_MAX: usize = 16 * 1024;

/// Compressed bytes read from the socket at a time. Small, because what they inflate to
/// is bounded by the caller's read buffer, not by this; 8 KiB still takes a full TLS
/// record's worth in two reads.
pub const INFLATE_INPUT_BYTES_MAX: usize = 8 * 1024;

/// File bytes read per helper-thread trip when a message file goes through the
/// compressor (sendfile cannot be used: the bytes must pass the deflate state). As
/// [`crate::tls::TLS_FILE_CHUNK_BYTES_MAX`]: bigger only waits in memory, smaller costs
/// more offload trips. Transient: freed after each step.
pub const COMPRESS_FILE_CHUNK_BYTES_MAX: usize = 64 * 1024;

/// Inflated bytes handed out before a read yields to the executor once. DEFLATE expands
/// up to about 1032:1, so 8 KiB of input may hold 8 MiB: without a turn limit a bomb
/// would hold the core for as long as the session's reader keeps asking. 1 MiB is a
/// millisecond or two of inflating and skipping; the session goes on at its next turn.
pub const INFLATE_BYTES_PER_TURN_MAX: usize = 1024 * 1024;

/// DEFLATE level (0–9). 1 is the fastest that still finds matches: a core serves many
/// connections, and on mail text level 1 gets most of level 6's reduction at a fraction
/// of its CPU time (the level is the sender's choice; the peer decodes any).
pub const DEFLATE_LEVEL: u32 = 1;

const _: () = assert!(DEFLATE_OUTPUT_BYTES_MAX >= 64); // room for a sync marker and more
const _: () = assert!(INFLATE_INPUT_BYTES_MAX >= 64);
const _: () = assert!(DEFLATE_LEVEL >= 1 && DEFLATE_LEVEL <= 9);

fn invalid(error: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("deflate: {error}"))
}

/// The sending half: bytes in, raw DEFLATE out, through a bounded output buffer.
pub struct Deflater {
    state: Compress,
    out: Box<[u8]>,
    start: usize,
    end: usize,
    /// Bytes were taken since the last completed sync flush.
    unsynced: bool,
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater").field("pending", &(self.end - self.start)).finish_non_exhaustive()
    }
}

impl Default for Deflater {
    fn default() -> Self {
        Self::new()
    }
}

impl Deflater {
    /// A raw DEFLATE compressor at [`DEFLATE_LEVEL`].
    pub fn new() -> Deflater {
        Deflater {
            state: Compress::new(Compression::new(DEFLATE_LEVEL), false),
            out: vec![0; DEFLATE_OUTPUT_BYTES_MAX].into_boxed_slice(),
            start: 0,
            end: 0,
            unsynced: false,
        }
    }

    /// Compressed bytes waiting for the socket.
    pub fn pending_output(&self) -> &[u8] {
        &self.out[self.start..self.end]
    }

    /// The socket took `n` bytes of [`Self::pending_output`].
    pub fn advance_output(&mut self, n: usize) {
        assert!(n <= self.end - self.start);
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Whether the output buffer has no room left: write it out before going on.
    pub fn output_full(&self) -> bool {
        self.end == self.out.len()
    }

    /// Takes bytes of `input` into the compressor; returns (taken, produced): both 0
    /// only when the output buffer is full.
    pub fn write(&mut self, input: &[u8]) -> io::Result<(usize, usize)> {
        let (taken, produced) = self.run(input, FlushCompress::None)?;
        if taken > 0 {
            self.unsynced = true;
        }
        Ok((taken, produced))
    }

    /// Whether a sync flush is owed (bytes were taken since the last one).
    pub fn needs_sync(&self) -> bool {
        self.unsynced
    }

    /// Runs a sync flush into the output buffer; true when it is complete (else write
    /// the output out and call again). Afterwards the peer can decode every byte taken.
    pub fn sync(&mut self) -> io::Result<bool> {
        if !self.unsynced {
            return Ok(true);
        }
        let room = self.out.len() - self.end;
        let (_, produced) = self.run(&[], FlushCompress::Sync)?;
        // miniz_oxide stops only when the output is full; with room left it is done.
        let complete = produced < room;
        if complete {
            self.unsynced = false;
        }
        Ok(complete)
    }

    fn run(&mut self, input: &[u8], flush: FlushCompress) -> io::Result<(usize, usize)> {
        if self.end == self.out.len() {
            return Ok((0, 0));
        }
        let (in_before, out_before) = (self.state.total_in(), self.state.total_out());
        self.state.compress(input, &mut self.out[self.end..], flush).map_err(invalid)?;
        let taken = usize::try_from(self.state.total_in() - in_before).map_err(invalid)?;
        let produced = usize::try_from(self.state.total_out() - out_before).map_err(invalid)?;
        self.end += produced;
        assert!(self.end <= self.out.len());
        Ok((taken, produced))
    }
}

/// The receiving half: raw DEFLATE in (from the socket, into [`Self::input_space`]),
/// bytes out as soon as they are decoded.
pub struct Inflater {
    state: Decompress,
    input: Vec<u8>,
    start: usize,
    end: usize,
    /// The peer ended its DEFLATE stream (a final block): nothing more can follow.
    ended: bool,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater").field("buffered", &(self.end - self.start)).finish_non_exhaustive()
    }
}

impl Inflater {
    /// A raw DEFLATE decompressor; `buffered`: compressed bytes already read from the
    /// socket (a client may send them right after its COMPRESS command).
    pub fn new(buffered: &[u8]) -> Inflater {
        let mut input = vec![0; INFLATE_INPUT_BYTES_MAX.max(buffered.len())];
        input[..buffered.len()].copy_from_slice(buffered);
        Inflater { state: Decompress::new(false), input, start: 0, end: buffered.len(), ended: false }
    }

    /// Whether the peer ended its stream.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Where to read compressed bytes from the socket (then call [`Self::filled`]);
    /// empty only when the buffer holds bytes that cannot be decoded yet, which a
    /// valid stream never needs.
    pub fn input_space(&mut self) -> &mut [u8] {
        self.input.copy_within(self.start..self.end, 0);
        self.end -= self.start;
        self.start = 0;
        if self.end == 0 && self.input.len() > INFLATE_INPUT_BYTES_MAX {
            // The bytes handed over at the start are used up: back to the usual size.
            self.input = vec![0; INFLATE_INPUT_BYTES_MAX];
        }
        &mut self.input[self.end..]
    }

    /// `n` bytes were read into [`Self::input_space`].
    pub fn filled(&mut self, n: usize) {
        assert!(self.end + n <= self.input.len());
        self.end += n;
    }

    /// Decodes into `out`; returns (bytes written, compressed bytes used). (0, 0) means
    /// more input is needed (or the stream ended).
    pub fn read(&mut self, out: &mut [u8]) -> io::Result<(usize, usize)> {
        if self.ended || out.is_empty() {
            return Ok((0, 0));
        }
        let (in_before, out_before) = (self.state.total_in(), self.state.total_out());
        let status = self
            .state
            .decompress(&self.input[self.start..self.end], out, FlushDecompress::None)
            .map_err(invalid)?;
        let used = usize::try_from(self.state.total_in() - in_before).map_err(invalid)?;
        let written = usize::try_from(self.state.total_out() - out_before).map_err(invalid)?;
        self.start += used;
        assert!(self.start <= self.end);
        if status == Status::StreamEnd {
            self.ended = true;
        }
        Ok((written, used))
    }
}

/// A [`Stream`] with COMPRESS=DEFLATE on: reads inflate, writes deflate (see the module
/// doc). Flush to make written bytes reach the peer.
#[derive(Debug)]
pub struct CompressedStream {
    inner: Stream,
    /// `None` while released ([`Self::release_deflate_state`]); made again on the next
    /// write.
    deflater: Option<Box<Deflater>>,
    inflater: Box<Inflater>,
    /// A write or flush of `inner` failed: the deflate state may be mid-block, so
    /// nothing more is written (closing skips the final flush).
    broken: bool,
    /// Inflated bytes handed out since the last read that waited for the socket or
    /// yielded ([`INFLATE_BYTES_PER_TURN_MAX`]).
    inflated_this_turn: usize,
}

impl CompressedStream {
    /// Turns compression on over `inner`; `buffered` are bytes already read from it
    /// after the COMPRESS command (compressed ones).
    pub fn new(inner: Stream, buffered: &[u8]) -> CompressedStream {
        CompressedStream {
            inner,
            deflater: Some(Box::new(Deflater::new())),
            inflater: Box::new(Inflater::new(buffered)),
            broken: false,
            inflated_this_turn: 0,
        }
    }

    /// Frees the deflate state (about 330 KiB) if everything written was flushed: a
    /// session about to wait long (IDLE) holds only the inflate state meanwhile. The next
    /// write starts a fresh compressor, which the peer's decoder reads on as one stream:
    /// after a sync flush the output is byte aligned and complete, and a fresh compressor
    /// refers to nothing before it. Returns whether it was freed (or already was).
    pub fn release_deflate_state(&mut self) -> bool {
        let idle = self.deflater.as_ref().is_none_or(|d| d.pending_output().is_empty() && !d.needs_sync());
        if idle {
            self.deflater = None;
        }
        idle
    }

    fn deflater(&mut self) -> &mut Deflater {
        self.deflater.get_or_insert_with(|| Box::new(Deflater::new()))
    }

    /// The connection under compression.
    pub fn inner(&self) -> &Stream {
        &self.inner
    }

    /// Whether TLS lies under the compression.
    pub fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }

    /// What TLS negotiated, if TLS lies under the compression.
    pub fn tls_info(&self) -> Option<TlsInfo> {
        self.inner.tls_info()
    }

    /// The client's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.inner.peer_addr()
    }

    /// Sends up to `length` bytes of `file` from `offset` through the compressor, at most
    /// [`COMPRESS_FILE_CHUNK_BYTES_MAX`] per call, read on a helper thread; waits at most
    /// `step` for the socket and returns the bytes taken (0 when it stayed full).
    pub async fn send_file_step(
        &mut self,
        file: &Arc<File>,
        offset: u64,
        length: u64,
        step: Duration,
    ) -> io::Result<u64> {
        let chunk_bytes = usize::try_from(length).unwrap_or(usize::MAX).min(COMPRESS_FILE_CHUNK_BYTES_MAX);
        if chunk_bytes == 0 {
            return Ok(0);
        }
        let deadline = Instant::now() + step;
        let file = Arc::clone(file);
        let chunk = crate::offload(move || read_chunk(&file, offset, chunk_bytes))
            .await
            .map_err(|panic| io::Error::other(panic.to_string()))??;
        let mut written = 0;
        while written < chunk.len() {
            // A zero budget still tries once: `timeout` polls the write before the timer.
            // Cancelling a write loses nothing: `poll_write` takes bytes only when it
            // returns them as written.
            let budget = deadline.saturating_duration_since(Instant::now());
            match crate::time::timeout(budget, self.write(&chunk[written..])).await {
                Err(crate::time::Elapsed) => break,
                Ok(Ok(0)) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(Ok(n)) => written += n,
                Ok(Err(error)) => return Err(error),
            }
        }
        Ok(written as u64)
    }

    /// Writes the pending compressed output to the socket.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(deflater) = self.deflater.as_mut() else { return Poll::Ready(Ok(())) };
        while !deflater.pending_output().is_empty() {
            let polled = Pin::new(&mut self.inner).poll_write(cx, deflater.pending_output());
            match ready!(polled) {
                Ok(0) => {
                    self.broken = true;
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                Ok(n) => deflater.advance_output(n),
                Err(error) => {
                    self.broken = true;
                    return Poll::Ready(Err(error));
                }
            }
        }
        Poll::Ready(Ok(()))
    }

    fn broken_error() -> io::Error {
        io::Error::new(io::ErrorKind::BrokenPipe, "compressed stream failed earlier")
    }
}

/// Reads exactly `bytes` bytes at `offset` (a file shorter than promised is an error, as
/// with sendfile).
fn read_chunk(file: &File, offset: u64, bytes: usize) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt as _;
    let mut chunk = vec![0u8; bytes];
    file.read_exact_at(&mut chunk, offset)?;
    Ok(chunk)
}

impl AsyncRead for CompressedStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if this.inflated_this_turn >= INFLATE_BYTES_PER_TURN_MAX {
            // Let the core's other tasks run; nothing is lost, the bytes wait in the
            // inflater.
            this.inflated_this_turn = 0;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        loop {
            let (written, used) = this.inflater.read(buf)?;
            if written > 0 {
                this.inflated_this_turn += written;
                return Poll::Ready(Ok(written));
            }
            if this.inflater.ended() {
                return Poll::Ready(Ok(0));
            }
            if used > 0 {
                continue; // a block header or sync marker: decode on
            }
            let space = this.inflater.input_space();
            if space.is_empty() {
                return Poll::Ready(Err(invalid("undecodable input fills the buffer")));
            }
            // Nothing was decoded from these bytes yet; a pending read keeps them.
            let polled = Pin::new(&mut this.inner).poll_read(cx, space);
            if polled.is_pending() {
                this.inflated_this_turn = 0;
            }
            let read = ready!(polled)?;
            if read == 0 {
                return Poll::Ready(Ok(0));
            }
            this.inflater.filled(read);
        }
    }
}

impl AsyncWrite for CompressedStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if this.broken {
            return Poll::Ready(Err(Self::broken_error()));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        loop {
            if this.deflater().output_full() {
                // Pending here has taken nothing from `buf`.
                ready!(this.poll_drain(cx))?;
            }
            let (taken, produced) = this.deflater().write(buf)?;
            if taken > 0 {
                return Poll::Ready(Ok(taken));
            }
            if produced == 0 && !this.deflater().output_full() {
                return Poll::Ready(Err(invalid("compressor made no progress")));
            }
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.broken {
            return Poll::Ready(Err(Self::broken_error()));
        }
        loop {
            ready!(this.poll_drain(cx))?;
            let Some(deflater) = this.deflater.as_mut() else { break };
            if !deflater.needs_sync() {
                break;
            }
            deflater.sync()?;
        }
        let flushed = ready!(Pin::new(&mut this.inner).poll_flush(cx));
        if flushed.is_err() {
            this.broken = true;
        }
        Poll::Ready(flushed)
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.broken {
            // The stream is not finished with a final block: RFC 4978 does not ask for
            // one, and the connection ends here anyway.
            ready!(Pin::new(&mut *this).poll_flush(cx))?;
        }
        Pin::new(&mut this.inner).poll_close(cx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    /// Deflates `input` with the deflater, syncing at the end, and returns the bytes.
    fn deflate_all(deflater: &mut Deflater, mut input: &[u8]) -> Vec<u8> {
        let mut wire = Vec::new();
        while !input.is_empty() {
            let (taken, _) = deflater.write(input).unwrap();
            input = &input[taken..];
            wire.extend_from_slice(deflater.pending_output());
            let n = deflater.pending_output().len();
            deflater.advance_output(n);
        }
        loop {
            let done = deflater.sync().unwrap();
            wire.extend_from_slice(deflater.pending_output());
            let n = deflater.pending_output().len();
            deflater.advance_output(n);
            if done {
                return wire;
            }
        }
    }

    /// Feeds `wire` to the inflater `piece` bytes at a time, reading with a buffer of
    /// `out_bytes`, and returns what came out.
    fn inflate_in_pieces(inflater: &mut Inflater, wire: &[u8], piece: usize, out_bytes: usize) -> Vec<u8> {
        let mut plain = Vec::new();
        let mut out = vec![0; out_bytes];
        for chunk in wire.chunks(piece) {
            let space = inflater.input_space();
            space[..chunk.len()].copy_from_slice(chunk);
            inflater.filled(chunk.len());
            loop {
                let (written, used) = inflater.read(&mut out).unwrap();
                plain.extend_from_slice(&out[..written]);
                if written == 0 && used == 0 {
                    break;
                }
            }
        }
        plain
    }

    #[test]
    fn round_trip_with_python_compatible_raw_deflate() {
        let text: Vec<u8> =
            (0..200_000u32).flat_map(|i| format!("* {i} FETCH (FLAGS (\\Seen))\r\n").into_bytes()).collect();
        let mut deflater = Deflater::new();
        let wire = deflate_all(&mut deflater, &text);
        assert!(wire.len() < text.len() / 10, "{} of {}", wire.len(), text.len());
        // A sync flush ends with the empty stored block: 00 00 ff ff.
        assert_eq!(&wire[wire.len() - 4..], &[0, 0, 0xff, 0xff]);
        let mut inflater = Inflater::new(&[]);
        assert_eq!(inflate_in_pieces(&mut inflater, &wire, 4096, 2048), text);
        // Raw deflate: no zlib header (0x78 ..), so a zlib reader would fail.
        assert_ne!(wire[0], 0x78);
    }

    #[test]
    fn each_response_decodes_before_the_next_is_written() {
        let mut deflater = Deflater::new();
        let mut inflater = Inflater::new(&[]);
        for i in 0..50 {
            let line = format!("a{i} OK done\r\n");
            let wire = deflate_all(&mut deflater, line.as_bytes());
            // Fed a byte at a time, the line is complete once its sync marker is in.
            assert_eq!(inflate_in_pieces(&mut inflater, &wire, 1, 7), line.as_bytes());
        }
        assert!(!deflater.needs_sync());
    }

    /// Raw DEFLATE of `parts`, each ended with a partial flush: one fixed-Huffman empty
    /// block, not byte aligned and with no sync marker, as some clients write. Built with
    /// the fixed code by hand (RFC 1951 §3.2.6): literals only, so the test needs no
    /// other encoder.
    fn partial_flush_stream(parts: &[&[u8]]) -> Vec<Vec<u8>> {
        struct Bits {
            bytes: Vec<u8>,
            bit: u32,
        }
        impl Bits {
            fn put(&mut self, value: u32, count: u32) {
                for i in 0..count {
                    if self.bit == 0 {
                        self.bytes.push(0);
                    }
                    let last = self.bytes.len() - 1;
                    self.bytes[last] |= (((value >> i) & 1) as u8) << self.bit;
                    self.bit = (self.bit + 1) % 8;
                }
            }
            /// A Huffman code, most significant bit first.
            fn code(&mut self, code: u32, length: u32) {
                for i in (0..length).rev() {
                    self.put((code >> i) & 1, 1);
                }
            }
            fn literal(&mut self, byte: u8) {
                if byte < 144 {
                    self.code(0x30 + u32::from(byte), 8);
                } else {
                    self.code(0x190 + u32::from(byte) - 144, 9);
                }
            }
        }
        let mut bits = Bits { bytes: Vec::new(), bit: 0 };
        let mut cuts = Vec::new();
        for part in parts {
            bits.put(0, 1); // not final
            bits.put(1, 2); // fixed Huffman
            for &byte in *part {
                bits.literal(byte);
            }
            bits.code(0, 7); // end of block
            // The partial flush: an empty fixed block, then whatever bits are complete go out.
            bits.put(0, 1);
            bits.put(1, 2);
            bits.code(0, 7);
            cuts.push(bits.bytes.len() - usize::from(bits.bit != 0));
        }
        let mut pieces = Vec::new();
        let mut from = 0;
        for cut in cuts {
            pieces.push(bits.bytes[from..cut].to_vec());
            from = cut;
        }
        pieces
    }

    #[test]
    fn partial_flushes_are_decoded_without_waiting_for_more() {
        let commands: [&[u8]; 3] = [b"a NOOP\r\n", b"b SELECT INBOX\r\n", b"c IDLE\r\n"];
        let pieces = partial_flush_stream(&commands);
        let mut inflater = Inflater::new(&[]);
        let mut seen = Vec::new();
        for (piece, command) in pieces.iter().zip(commands) {
            // Everything of the command arrived (the bits after the cut belong to the
            // flush marker): it must come out now, not when the next block arrives.
            seen.extend(inflate_in_pieces(&mut inflater, piece, 1, 3));
            assert!(seen.ends_with(command), "{:?}", String::from_utf8_lossy(&seen));
        }
    }

    #[test]
    fn a_bomb_comes_out_a_buffer_at_a_time() {
        let zeros = vec![0u8; 8 * 1024 * 1024];
        let mut deflater = Deflater::new();
        let wire = deflate_all(&mut deflater, &zeros);
        assert!(wire.len() < 64 * 1024, "{}", wire.len());
        let mut inflater = Inflater::new(&wire[..wire.len().min(INFLATE_INPUT_BYTES_MAX)]);
        let mut out = [0u8; 4096];
        let (written, _) = inflater.read(&mut out).unwrap();
        // One read gives at most the caller's buffer, however much the input holds.
        assert!(written > 0 && written <= out.len());
        assert!(inflater.input.len() <= INFLATE_INPUT_BYTES_MAX);
    }

    #[test]
    fn a_fresh_compressor_after_a_sync_flush_continues_the_stream() {
        let mut inflater = Inflater::new(&[]);
        let mut plain = Vec::new();
        for i in 0..3 {
            // A new deflate state per burst, as after IDLE released the last one.
            let mut deflater = Deflater::new();
            let text = format!("* {i} EXISTS\r\n* {i} EXISTS\r\n* {i} EXISTS\r\n");
            let wire = deflate_all(&mut deflater, text.as_bytes());
            plain.extend(inflate_in_pieces(&mut inflater, &wire, 3, 16));
            assert!(plain.ends_with(text.as_bytes()));
        }
        assert!(!inflater.ended());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let mut inflater = Inflater::new(&[0xff; 64]);
        let mut out = [0u8; 64];
        assert!(inflater.read(&mut out).is_err());
    }

    #[test]
    fn bytes_sent_right_after_the_command_are_kept() {
        let mut deflater = Deflater::new();
        let wire = deflate_all(&mut deflater, b"a NOOP\r\n");
        let mut inflater = Inflater::new(&wire);
        let mut out = [0u8; 64];
        let (written, _) = inflater.read(&mut out).unwrap();
        assert_eq!(&out[..written], b"a NOOP\r\n");
    }
}
