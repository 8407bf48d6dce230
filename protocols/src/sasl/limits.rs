//! Named limits of the SASL exchanges and of secret derivation, each with its reason.
//!
//! The compile-time asserts pin the relations between them: a PLAIN message holding the
//! longest names and password must fit in one client message, and the default SCRAM
//! iteration count must lie inside the accepted bounds.

/// Longest client message taken in one step, in octets after base64 decoding. The largest
/// legitimate one is PLAIN with an authzid, an authcid and a password at their maxima
/// (2 × 320 + 1024 + 2 NULs = 1666 octets); SCRAM messages are a few hundred octets even
/// with a channel binding. 4096 leaves room for SCRAM extensions without letting a client
/// make us buffer and parse arbitrary amounts. Longer messages fail with `TooLong`.
pub const MESSAGE_BYTES_MAX: usize = 4096;

/// Longest user name (authcid or authzid), in octets after SCRAM `=2C`/`=3D` decoding.
/// Login names are email addresses: RFC 5321 §4.5.3.1.1 allows a 64-octet local part
/// and RFC 5321 §4.5.3.1.2 a 255-octet domain, so 64 + 1 + 255 = 320.
pub const USERNAME_BYTES_MAX: usize = 320;

/// Longest password, in octets. Long passphrases fit easily; the bound keeps the slow
/// argon2id verification and PBKDF2 derivation from being fed megabytes.
pub const PASSWORD_BYTES_MAX: usize = 1024;

const _: () = assert!(2 * USERNAME_BYTES_MAX + PASSWORD_BYTES_MAX + 2 <= MESSAGE_BYTES_MAX);

/// Fewest random bytes the caller must pass as the exchange nonce. The SCRAM server nonce
/// uses one printable character per byte at about 6.5 bits each, so 18 bytes give more
/// than 110 bits, beyond guessing; the CRAM-MD5 challenge uses all of them in hex.
pub const NONCE_BYTES_MIN: usize = 18;

/// Most nonce bytes used: a longer nonce adds no security, only message length. Bytes
/// past this are ignored.
pub const NONCE_BYTES_MAX: usize = 64;
const _: () = assert!(NONCE_BYTES_MIN <= NONCE_BYTES_MAX);

/// Shortest salt accepted for SCRAM derivation. RFC 5802 §5.1 gives no number; 8 octets
/// (64 bits) is the PBKDF2 floor RFC 8018 §4.1 recommends, and the RFC 5802 §5 example's
/// 12-octet salt passes it.
pub const SALT_BYTES_MIN: usize = 8;

/// Longest salt accepted for SCRAM derivation: more randomness than 64 octets is useless,
/// and the salt goes to every client in the server-first message.
pub const SALT_BYTES_MAX: usize = 64;
const _: () = assert!(SALT_BYTES_MIN <= SALT_BYTES_MAX);

/// Salt length of the decoy answer to an unknown SCRAM user. Real salts should be made
/// with the same length (16 octets, as in the RFC 7677 §3 example), or the `s=` length
/// tells a prober which users exist.
pub const DECOY_SALT_BYTES: usize = 16;
const _: () = assert!(DECOY_SALT_BYTES >= SALT_BYTES_MIN && DECOY_SALT_BYTES <= SALT_BYTES_MAX);

/// Fewest PBKDF2 iterations accepted for SCRAM derivation: RFC 5802 §9 and RFC 7677 §4
/// both ask for at least 4096.
pub const SCRAM_ITERATIONS_MIN: u32 = 4096;

/// Most PBKDF2 iterations accepted for SCRAM derivation. Every client that does not
/// cache its salted password pays this on each login, and so do we when the password is
/// set; a million HMAC-SHA-256 rounds is about a second on a small phone.
pub const SCRAM_ITERATIONS_MAX: u32 = 1_000_000;

/// Iteration count used when deriving SCRAM secrets and for decoy answers to unknown
/// users. 4096 is the floor of RFC 5802 §9 and RFC 7677 §4 and what other servers use,
/// so clients with fixed expectations interoperate; the password itself is protected at
/// rest by argon2id, not by this count. Stored secrets made with another count make
/// unknown users recognisable by `i=` unless the decoy uses the same count.
pub const SCRAM_ITERATIONS_DEFAULT: u32 = 4096;
const _: () = assert!(SCRAM_ITERATIONS_MIN <= SCRAM_ITERATIONS_DEFAULT);
const _: () = assert!(SCRAM_ITERATIONS_DEFAULT <= SCRAM_ITERATIONS_MAX);
