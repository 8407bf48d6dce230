//! Property tests of the SMTP server session: arbitrary input never panics, the output
//! is always well-formed reply lines (RFC 5321 §4.2), and how the input is cut into
//! reads never changes replies or events, with or without TLS and AUTH. STARTTLS is the
//! one command whose outcome depends on the cuts (input behind it refuses the upgrade,
//! RFC 3207); for it the property is that nothing is ever used after a refusal.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Start, config, drive, drive_from, tls_config};
use moxide_protocols::smtp::ServerConfig;
use proptest::prelude::*;

/// Pieces of client traffic that reach every state: valid commands, bodies, BDAT
/// chunks, smuggling attempts and junk.
fn token() -> impl Strategy<Value = Vec<u8>> {
    let fixed: Vec<&'static [u8]> = vec![
        b"EHLO client.example\r\n",
        b"HELO client.example\r\n",
        b"MAIL FROM:<a@b.example>\r\n",
        b"MAIL FROM:<spammer@b.example>\r\n",
        b"MAIL FROM:<nodata@b.example>\r\n",
        b"MAIL FROM:<> SIZE=100 BODY=8BITMIME\r\n",
        b"MAIL FROM:<a@b.example> BODY=BINARYMIME SMTPUTF8\r\n",
        b"RCPT TO:<c@d.example>\r\n",
        b"RCPT TO:<unknown@d.example>\r\n",
        b"RCPT TO:<Postmaster>\r\n",
        b"RCPT TO:<j\xc3\xb6@d.example>\r\n",
        b"DATA\r\n",
        b"BDAT 5\r\nhello",
        b"BDAT 3 LAST\r\nend",
        b"BDAT 0 LAST\r\n",
        b"BDAT 2000\r\n",
        b"RSET\r\n",
        b"NOOP\r\n",
        b"VRFY x\r\n",
        b"line of text\r\n",
        b"..stuffed\r\n",
        b".\r\n",
        b"\r\n",
        b"\n.\n",
        b"\r\n.\n",
        b"\r.\r",
        b"\r",
        b"\n",
        b"REJECTME\r\n",
        b"\0\xff garbage",
        b"AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n",
        b"AUTH PLAIN AGJvYgB3cm9uZw==\r\n",
        b"AUTH PLAIN\r\n",
        b"AUTH LOGIN\r\n",
        b"AUTH CRAM-MD5\r\n",
        b"AUTH PLAIN AGJvYgBzZWNyZXQ\r\n",
        b"Ym9i\r\n",
        b"c2VjcmV0\r\n",
        b"*\r\n",
        b"MAIL FROM:<a@b.example> REQUIRETLS AUTH=<>\r\n",
    ];
    prop_oneof![
        40 => proptest::sample::select(fixed).prop_map(<[u8]>::to_vec),
        10 => proptest::collection::vec(any::<u8>(), 0..40),
        1 => Just(b"QUIT\r\n".to_vec()),
    ]
}

/// A mail transaction: MAIL, one to three RCPTs, then a DATA body or BDAT chunks built
/// from tokens, so that sessions reach message ends and not just errors.
fn transaction() -> impl Strategy<Value = Vec<u8>> {
    let mail = proptest::sample::select(vec![
        &b"MAIL FROM:<a@b.example>\r\n"[..],
        b"MAIL FROM:<> BODY=8BITMIME SIZE=50\r\n",
        b"MAIL FROM:<a@b.example> BODY=BINARYMIME\r\n",
        b"MAIL FROM:<nodata@b.example>\r\n",
        b"MAIL FROM:<j\xc3\xb6@b.example> SMTPUTF8\r\n",
    ]);
    let rcpt = proptest::sample::select(vec![
        &b"RCPT TO:<c@d.example>\r\n"[..],
        b"RCPT TO:<unknown@d.example>\r\n",
        b"RCPT TO:<Postmaster>\r\n",
    ]);
    let body = proptest::collection::vec(token(), 0..6).prop_map(|t| t.concat());
    let chunks =
        proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..20), any::<bool>()), 1..4);
    (mail, proptest::collection::vec(rcpt, 1..4), body, chunks, any::<bool>()).prop_map(
        |(mail, rcpts, body, chunks, use_bdat)| {
            let mut bytes = mail.to_vec();
            bytes.extend(rcpts.concat());
            if use_bdat {
                for (data, last) in chunks {
                    let marker = if last { " LAST" } else { "" };
                    bytes.extend(format!("BDAT {}{marker}\r\n", data.len()).into_bytes());
                    bytes.extend(data);
                }
            } else {
                bytes.extend_from_slice(b"DATA\r\n");
                bytes.extend(body);
                bytes.extend_from_slice(b"\r\n.\r\n");
            }
            bytes
        },
    )
}

fn traffic() -> impl Strategy<Value = Vec<u8>> {
    let segment = prop_oneof![2 => transaction(), 3 => token()];
    (any::<bool>(), proptest::collection::vec(segment, 0..20)).prop_map(|(greet, segments)| {
        let mut bytes = if greet { b"EHLO client.example\r\n".to_vec() } else { Vec::new() };
        bytes.extend(segments.concat());
        bytes
    })
}

/// Cut points: sorted positions within `len`, ending at `len`.
fn cuts_for(len: usize, raw: &[usize]) -> Vec<usize> {
    let mut cuts: Vec<usize> = raw.iter().map(|c| c % (len + 1)).collect();
    cuts.push(len);
    cuts.sort_unstable();
    cuts.dedup();
    cuts
}

/// Traffic with STARTTLS commands mixed in.
fn traffic_with_starttls() -> impl Strategy<Value = Vec<u8>> {
    let segment = prop_oneof![
        2 => transaction(),
        3 => token(),
        1 => Just(b"STARTTLS\r\n".to_vec()),
    ];
    proptest::collection::vec(segment, 0..20).prop_map(|segments| segments.concat())
}

fn small_limits() -> ServerConfig {
    ServerConfig {
        message_bytes_max: 64,
        recipients_max: 2,
        command_line_bytes_max: 512,
        errors_max: 30,
        commands_without_mail_max: 30,
        ..config()
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic_and_replies_are_well_formed(
        input in proptest::collection::vec(any::<u8>(), 0..2000),
        raw_cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        // `drive` asserts well-formed output itself.
        let whole = drive(&config(), &input, &[input.len()]);
        let pieces = drive(&config(), &input, &cuts_for(input.len(), &raw_cuts));
        prop_assert_eq!(pieces, whole);
    }

    #[test]
    fn tls_and_auth_traffic_is_independent_of_read_boundaries(
        input in traffic(),
        raw_cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        let submission = ServerConfig { submission: true, errors_max: 30, ..tls_config() };
        let runs = [
            (tls_config(), Start::ImplicitTls),
            (submission.clone(), Start::ImplicitTls),
            (ServerConfig { auth_requires_tls: false, ..submission }, Start::Plain),
        ];
        for (config, start) in runs {
            let whole = drive_from(&config, start, &input, &[input.len()]);
            let pieces = drive_from(&config, start, &input, &cuts_for(input.len(), &raw_cuts));
            prop_assert_eq!(&pieces, &whole);
        }
    }

    #[test]
    fn nothing_is_used_after_a_refused_starttls(
        input in traffic_with_starttls(),
        raw_cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        // `drive` itself asserts that a handshake only starts with no plaintext buffered.
        let t = drive(&tls_config(), &input, &cuts_for(input.len(), &raw_cuts));
        if let Some(at) = t.events.iter().position(|e| e == "starttls pipelined") {
            prop_assert_eq!(at, t.events.len() - 1);
            prop_assert!(t.closed);
            prop_assert!(!t.tls);
            prop_assert!(!t.leftover.is_empty());
        }
    }

    #[test]
    fn client_traffic_is_independent_of_read_boundaries(
        input in traffic(),
        raw_cuts in proptest::collection::vec(any::<usize>(), 0..12),
    ) {
        for config in [config(), small_limits()] {
            let whole = drive(&config, &input, &[input.len()]);
            let pieces = drive(&config, &input, &cuts_for(input.len(), &raw_cuts));
            prop_assert_eq!(&pieces, &whole);
            let bytes = drive(&config, &input, &common::steps(input.len(), 1));
            prop_assert_eq!(&bytes, &whole);
        }
    }
}
