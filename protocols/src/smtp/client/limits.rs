//! Named limits of the SMTP client session, each with the reason for its number, and
//! the reply timeouts of RFC 5321 §4.5.3.2.

/// Longest reply line taken from a server, CRLF included. RFC 5321 §4.5.3.1.5 sets 512
/// octets, but deployed servers send longer texts (long EHLO keyword lists, URLs in
/// rejection texts); 2048 takes them, and a longer line is a protocol error that ends
/// the connection rather than a buffer that grows.
pub const CLIENT_REPLY_LINE_BYTES_MAX: usize = 2048;
const _: () = assert!(CLIENT_REPLY_LINE_BYTES_MAX >= 512);

/// Most lines in one multi-line reply. An EHLO reply lists one extension per line; the
/// busiest servers send about 15. 100 is far beyond that and keeps one reply's text
/// under 200 KiB in the worst case.
pub const CLIENT_REPLY_LINES_MAX: usize = 100;

/// Most recipients the client puts in one transaction, whatever the server's `LIMITS
/// RCPTMAX` (RFC 9422) says. RFC 5321 §4.5.3.1.8 makes servers take at least 100;
/// 1000 matches the server side's limit. The session holds one reply per recipient.
pub const CLIENT_RECIPIENTS_MAX: u32 = 1000;
const _: () = assert!(CLIENT_RECIPIENTS_MAX >= 100);

/// Command and body bytes the session lets pile up before `body_data` takes no more
/// until the caller flushes: 64 KiB, one good socket write. Commands of a pipelined
/// envelope may pass it (they are bounded by the recipient count).
pub const CLIENT_OUTPUT_BYTES_MAX: usize = 64 * 1024;

/// Largest BDAT chunk (RFC 3030 §2) the session writes: the same 64 KiB as one flush.
pub const BDAT_CHUNK_BYTES_MAX: usize = 64 * 1024;
const _: () = assert!(BDAT_CHUNK_BYTES_MAX <= CLIENT_OUTPUT_BYTES_MAX);

/// BDAT chunks sent without their reply when the server offers PIPELINING (RFC 3030
/// §4.2 allows pipelining them): 16 × 64 KiB is 1 MiB in flight, enough to fill a
/// long fat pipe, and the replies waiting in the socket stay a few hundred bytes.
pub const BDAT_IN_FLIGHT_MAX: usize = 16;

/// Waiting for the greeting: RFC 5321 §4.5.3.2.1, 5 minutes.
pub const GREETING_TIMEOUT_MS: u64 = 5 * 60 * 1000;
/// Waiting for the reply to MAIL: RFC 5321 §4.5.3.2.2, 5 minutes. Also used for EHLO,
/// HELO, STARTTLS, AUTH, RSET and QUIT, for which the RFC names no time.
pub const MAIL_TIMEOUT_MS: u64 = 5 * 60 * 1000;
/// Waiting for the reply to RCPT: RFC 5321 §4.5.3.2.3, 5 minutes.
pub const RCPT_TIMEOUT_MS: u64 = 5 * 60 * 1000;
/// Waiting for the `354` to DATA: RFC 5321 §4.5.3.2.4, 2 minutes.
pub const DATA_INITIATION_TIMEOUT_MS: u64 = 2 * 60 * 1000;
/// Longest time one write of message data may take: RFC 5321 §4.5.3.2.5, 3 minutes.
/// Also the wait for the reply to a BDAT chunk that is not the last.
pub const DATA_BLOCK_TIMEOUT_MS: u64 = 3 * 60 * 1000;
/// Waiting for the reply after the end of data (or the last BDAT): RFC 5321
/// §4.5.3.2.6, 10 minutes, since the server may be delivering synchronously.
pub const DATA_TERMINATION_TIMEOUT_MS: u64 = 10 * 60 * 1000;
