//! Named limits of the SMTP server session, each with the reason for its number.
//!
//! Config fields in [`ServerConfig`](super::ServerConfig) default to these; the session
//! enforces the config values. The compile-time asserts below pin the relations that the
//! RFCs require (RFC 5321 §4.5.3.1 gives the floors a server must accept).

/// Largest message accepted, in octets, advertised as `SIZE` (RFC 1870). 100 MiB: larger
/// than what most providers accept (25–50 MiB), small enough that one rejected upload
/// costs little. A message past it gets `552 5.3.4` and the session goes on.
pub const MESSAGE_BYTES_MAX: u64 = 100 * 1024 * 1024;

/// Most recipients per transaction, advertised as `LIMITS RCPTMAX` (RFC 9422). RFC 5321
/// §4.5.3.1.8 requires at least 100; 1000 serves mailing lists without letting one
/// transaction fan out unboundedly. Past it: `452 4.5.3` (RFC 5321 §4.5.3.1.10).
pub const RECIPIENTS_MAX: u32 = 1000;
const _: () = assert!(RECIPIENTS_MAX >= 100);

/// Longest command line, CRLF included. RFC 5321 §4.5.3.1.4 sets 512 octets and lets
/// extensions raise it; MAIL/RCPT parameters (SIZE, BODY, SMTPUTF8, later DSN and AUTH)
/// pass 512 in practice. Longer lines get `500 5.5.2` and are skipped, never buffered.
pub const COMMAND_LINE_BYTES_MAX: usize = 4096;

/// Floor for a configured command line limit: RFC 5321 §4.5.3.1.4 requires 512 octets,
/// and a smaller limit could never take a line at all. Lower config values are raised.
pub const COMMAND_LINE_BYTES_MIN: usize = 512;
const _: () = assert!(COMMAND_LINE_BYTES_MAX >= COMMAND_LINE_BYTES_MIN);

/// Error replies allowed per session before `421 4.7.0` and close. Twenty is far above
/// what a working client produces and low enough to end address harvesting and
/// scripted junk early (RFC 5321 §7.8 lets a server limit such abuse).
pub const ERRORS_MAX: u32 = 20;

/// Commands that move no mail (HELO, EHLO, NOOP, RSET, VRFY, EXPN, HELP) allowed since
/// the last accepted MAIL, before `421 4.7.0` and close. A client delivering mail needs
/// a handful; a hundred only wastes a connection slot.
pub const COMMANDS_WITHOUT_MAIL_MAX: u32 = 100;

/// Time a command line may take to arrive, in milliseconds, counted from when the
/// session is ready for it (the idle time before it included), before byte credit at
/// [`INPUT_RATE_BYTES_PER_SECOND_MIN`]. RFC 5321 §4.5.3.2.7 asks servers to wait at least
/// 5 minutes for a command; a whole line rather than each byte must arrive in that time,
/// so a client trickling one byte a second is closed after about 5 minutes too.
pub const COMMAND_TIMEOUT_MS: u64 = 300_000;

/// Time a DATA body or BDAT chunk may take before byte credit, and the longest silence
/// while message bytes arrive, in milliseconds. RFC 5321 §4.5.3.2.6 gives clients 3
/// minutes per data block; the server waits 5 (§4.5.3.2.7) so it never gives up before
/// the client does.
pub const DATA_TIMEOUT_MS: u64 = 300_000;

/// Slowest input the session waits for, in bytes per second: every byte of a request
/// adds 2 ms to its deadline, never more than the phase's timeout ahead of now. 500 is
/// Postfix's `smtpd_min_data_rate`: 4 kbit/s, slower than any link that carries mail
/// today, so only a client stalling on purpose falls below it. At this rate a 100 MiB
/// message may take up to 58 hours, which is the most one message can hold a connection.
pub const INPUT_RATE_BYTES_PER_SECOND_MIN: u64 = 500;
const _: () = assert!(INPUT_RATE_BYTES_PER_SECOND_MIN > 0);

/// Most message bytes handed out in one [`Event::Body`](super::Event::Body): 64 KiB,
/// a good size for one spool-file write, and the bound on the session's body buffer.
pub const BODY_CHUNK_BYTES_MAX: usize = 64 * 1024;
const _: () = assert!(BODY_CHUNK_BYTES_MAX >= 2); // the DATA decoder emits CRLF as a pair

/// Reply bytes the session lets pile up before it stops reading input until the caller
/// flushes. Bounds memory when a client pipelines thousands of commands and never reads:
/// 16 KiB is about 300 typical replies, far more than any pipelined batch needs.
pub const OUTPUT_BYTES_MAX: usize = 16 * 1024;

/// Longest reply line, CRLF included: RFC 5321 §4.5.3.1.5. Longer caller-supplied text
/// is cut.
pub const REPLY_LINE_BYTES_MAX: usize = 512;

/// Longest domain (or HELO/EHLO argument): RFC 5321 §4.5.3.1.2, the DNS limit of 255
/// octets. A longer name cannot exist, and it would overflow trace header lines.
pub const DOMAIN_BYTES_MAX: usize = 255;

/// Longest DNS label in an ASCII domain: 63 octets (RFC 1035 §2.3.4).
pub const DOMAIN_LABEL_BYTES_MAX: usize = 63;

/// Most digits in a `SIZE=` value or `BDAT` chunk size: RFC 1870 §3 allows 20 digits,
/// which is also the most a `u64` holds.
pub const SIZE_DIGITS_MAX: usize = 20;

/// Longest SASL response line during AUTH, CRLF included, and longest AUTH command line
/// when AUTH is offered (its initial response can be as long as a response). RFC 4954 §4
/// names 12288 octets of base64 as enough for deployed mechanisms; SCRAM messages with
/// long nonces and channel binding data, and OAuth bearer tokens, fit. A longer response
/// line gets `500 5.5.6` and ends the exchange; the rest of the line is skipped, never
/// buffered. The caller's read buffer must hold at least this many bytes.
pub const SASL_LINE_BYTES_MAX: usize = 12_288 + 2;
const _: () = assert!(SASL_LINE_BYTES_MAX >= COMMAND_LINE_BYTES_MAX);

/// Longest `From:` field kept while a submitted message streams in (unfolded, in
/// octets): its one mailbox is checked against the authenticated account. RFC 5322 §2.1.1
/// limits a line to 998 octets, and folding lets a field run longer; 8 KiB covers a long
/// display name with encoded words many times over. A longer field is refused, never
/// buffered further.
pub const FROM_FIELD_BYTES_MAX: usize = 8 * 1024;

/// Longest local part of a path, in octets as written: RFC 5321 §4.5.3.1.1. Longer ones
/// get `501` (RFC 5321 §4.5.3.1.10 names 501 for a path too long).
pub const LOCALPART_BYTES_MAX: usize = 64;
