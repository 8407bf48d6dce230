//! Transcript tests of STARTTLS (RFC 3207), implicit TLS (RFC 8314), AUTH (RFC 4954),
//! submission (RFC 6409) and REQUIRETLS (RFC 8689) in the SMTP server session.
//!
//! The driver in `common` plays the caller: it "completes" a handshake at once and runs
//! a toy SASL (password `secret`). Scripts in flights model a client that waits for a
//! reply before sending more, as after STARTTLS; everything else is checked whole, byte
//! by byte and in pieces, as in `smtp_transcripts`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use common::{EHLO, EHLO_TLS, Start, check_flights, check_with, config, drive, drive_from, tls_config};
use moxide_protocols::smtp::{Event, SASL_LINE_BYTES_MAX, ServerConfig, ServerSession};

const READY: &str = "S: 220 2.0.0 ready to start TLS";
const INJECTION: &str = "S: 554 5.5.1 pipelined commands after STARTTLS are not allowed";
const AUTH_OK: &str = "S: 235 2.7.0 authentication successful";
const BAD_CREDENTIALS: &str = "S: 535 5.7.8 authentication credentials invalid";
const MAIL_OK: &str = "S: 250 2.1.0 ok";
const OK: &str = "S: 250 2.0.0 ok";

/// `AUTH PLAIN` with the initial response for bob / secret (RFC 4616 message).
const PLAIN_BOB: &str = "C: AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n";
/// The same with the wrong password.
const PLAIN_WRONG: &str = "C: AUTH PLAIN AGJvYgB3cm9uZw==\r\n";

/// The capability lines every EHLO reply of [`config`] starts with.
const BASE_CAPABILITIES: [&str; 9] = [
    "S: 250-mx.example",
    "S: 250-PIPELINING",
    "S: 250-SIZE 1000",
    "S: 250-8BITMIME",
    "S: 250-SMTPUTF8",
    "S: 250-ENHANCEDSTATUSCODES",
    "S: 250-CHUNKING",
    "S: 250-BINARYMIME",
    "S: 250-LIMITS RCPTMAX=5",
];

/// Runs `script` in one flight on an implicit-TLS session with `config`.
fn check_tls(config: &ServerConfig, script: &str, expected: &[&str]) -> common::Transcript {
    check_flights(config, Start::ImplicitTls, &[script.as_bytes()], expected)
}

/// Runs `flights` on a plain session with `config`.
fn check_plain_flights(config: &ServerConfig, flights: &[&str], expected: &[&str]) -> common::Transcript {
    let flights: Vec<&[u8]> = flights.iter().map(|flight| flight.as_bytes()).collect();
    check_flights(config, Start::Plain, &flights, expected)
}

fn with(base: &[&'static str], more: &[&'static str]) -> Vec<&'static str> {
    base.iter().chain(more).copied().collect()
}

// ----- STARTTLS: what is offered -----

#[test]
fn starttls_is_offered_only_on_plain_connections_with_a_certificate() {
    let t = check_with(&config(), "C: EHLO c\r\n", &[EHLO]);
    assert!(!t.replies.iter().any(|line| line.contains("STARTTLS") || line.contains("AUTH")));
    // A certificate: STARTTLS, and no AUTH before TLS (auth_requires_tls by default).
    let lines = with(&BASE_CAPABILITIES, &["S: 250 STARTTLS"]);
    check_with(&tls_config(), "C: EHLO c\r\n", &lines);
}

#[test]
fn ehlo_after_tls_lists_requiretls_and_auth_but_not_starttls() {
    let after_tls = with(&BASE_CAPABILITIES, &["S: 250-REQUIRETLS", "S: 250 AUTH PLAIN LOGIN"]);
    let mut expected = vec![EHLO, READY];
    expected.extend(&after_tls);
    let t = check_plain_flights(&tls_config(), &["C: EHLO c\r\nC: STARTTLS\r\n", "C: EHLO c\r\n"], &expected);
    assert_eq!(t.events, ["helo EHLO c", "starttls", "helo EHLO c"]);
    assert!(t.tls);
    // Implicit TLS gives the same list from the start.
    check_tls(&tls_config(), "C: EHLO c\r\n", &after_tls);
}

// ----- STARTTLS: the upgrade -----

#[test]
fn after_starttls_the_client_must_ehlo_again() {
    let t = check_plain_flights(
        &tls_config(),
        &[
            "C: EHLO c\r\nC: STARTTLS\r\n",
            "C: MAIL FROM:<a@b.example>\r\nC: EHLO c\r\nC: MAIL FROM:<a@b.example>\r\n",
        ],
        &[EHLO, READY, "S: 503 5.5.1 send HELO or EHLO first", EHLO_TLS, MAIL_OK],
    );
    assert!(t.tls);
    assert!(!t.closed);
    // STARTTLS needs no EHLO before it, and no new greeting follows the handshake.
    check_plain_flights(&tls_config(), &["C: STARTTLS\r\n", "C: EHLO c\r\n"], &[READY, EHLO_TLS]);
}

#[test]
fn starttls_forgets_authentication_from_before_tls() {
    let config = ServerConfig { auth_requires_tls: false, ..tls_config() };
    let t = check_plain_flights(
        &config,
        &[&format!("C: EHLO c\r\n{PLAIN_BOB}C: STARTTLS\r\n"), "C: EHLO c\r\n"],
        &[EHLO, AUTH_OK, READY, EHLO_TLS],
    );
    assert!(t.replies.iter().any(|line| line == "S: 250 AUTH PLAIN LOGIN"), "AUTH offered in plain");
    assert_eq!(t.authenticated, None);
    assert!(t.tls);
}

#[test]
fn pipelined_commands_after_starttls_are_refused_and_never_executed() {
    let input = b"EHLO c\r\nSTARTTLS\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n";
    let starttls_end = b"EHLO c\r\nSTARTTLS\r\n".len();
    let whole = drive(&tls_config(), input, &[input.len()]);
    assert_eq!(whole.replies.last().map(String::as_str), Some(INJECTION));
    assert!(!whole.replies.contains(&READY.to_owned()), "220 sent before refusing");
    assert_eq!(whole.events, ["helo EHLO c", "starttls pipelined"]);
    assert!(whole.closed);
    assert!(!whole.tls);
    assert_eq!(whole.leftover, &input[starttls_end..]);
    // However the reads cut the stream: whenever bytes of the injection were there with
    // the STARTTLS line, the upgrade is refused. Only a read ending right after the line
    // is a client waiting for 220; then what follows comes over TLS (a real handshake
    // would fail on it) and needs a new EHLO.
    for cut in 0..=input.len() {
        let t = drive(&tls_config(), input, &[cut, input.len()]);
        if cut == starttls_end {
            assert!(t.tls, "cut {cut}");
            assert_eq!(
                t.replies[t.replies.len() - 3..],
                [READY, "S: 503 5.5.1 send HELO or EHLO first", "S: 503 5.5.1 MAIL first"]
            );
        } else {
            assert_eq!(t, whole, "cut {cut}");
        }
    }
}

#[test]
fn plaintext_held_by_the_caller_refuses_the_upgrade() {
    let mut session = ServerSession::new(Arc::new(tls_config()));
    assert_eq!(session.handle_input(b"STARTTLS\r\n", 0), 10);
    assert_eq!(session.poll_event(), Some(Event::StartTls { pipelined: false }));
    session.advance_output(session.pending_output().len());
    // Nothing is read while the handshake is due.
    assert_eq!(session.handle_input(b"NOOP\r\n", 0), 0);
    session.tls_refused_injection();
    assert_eq!(session.pending_output(), b"554 5.5.1 pipelined commands after STARTTLS are not allowed\r\n");
    assert!(session.wants_close());
    assert_eq!(session.handle_input(b"MAIL FROM:<a@b.example>\r\n", 0), 0);
    // A late handshake report changes nothing.
    session.tls_started();
    assert!(!session.tls());
    assert_eq!(session.poll_event(), None);
}

#[test]
fn failed_handshake_closes_without_a_reply() {
    let mut session = ServerSession::new(Arc::new(tls_config()));
    session.handle_input(b"STARTTLS\r\n", 0);
    assert_eq!(session.poll_event(), Some(Event::StartTls { pipelined: false }));
    assert!(session.pending_output().ends_with(b"220 2.0.0 ready to start TLS\r\n"));
    session.advance_output(session.pending_output().len());
    session.tls_failed();
    assert!(session.wants_close());
    assert!(session.pending_output().is_empty());
    assert!(!session.tls());
    assert_eq!(session.handle_input(b"EHLO c\r\n", 0), 0);
}

#[test]
fn starttls_with_arguments_twice_or_not_offered() {
    check_with(&tls_config(), "C: STARTTLS now\r\n", &["S: 501 5.5.4 STARTTLS takes no arguments"]);
    check_plain_flights(
        &tls_config(),
        &["C: STARTTLS\r\n", "C: STARTTLS\r\n"],
        &[READY, "S: 503 5.5.1 TLS already active"],
    );
    check_tls(&tls_config(), "C: STARTTLS\r\n", &["S: 503 5.5.1 TLS already active"]);
    check_with(&config(), "C: STARTTLS\r\n", &["S: 502 5.5.1 STARTTLS not available"]);
}

#[test]
fn starttls_inside_a_transaction_is_refused() {
    let t = check_with(
        &tls_config(),
        "C: EHLO c\r\nC: MAIL FROM:<a@b.example>\r\nC: STARTTLS\r\nC: RSET\r\nC: STARTTLS\r\n",
        &[EHLO, MAIL_OK, "S: 503 5.5.1 STARTTLS not allowed during a mail transaction", OK, READY],
    );
    assert!(t.tls);
}

#[test]
fn requiretls_is_taken_only_where_advertised() {
    let script = "C: EHLO c\r\nC: MAIL FROM:<a@b.example> REQUIRETLS\r\n";
    let unsupported = "S: 555 5.5.4 unsupported parameter";
    check_with(&tls_config(), script, &[EHLO, unsupported]);
    let t = check_tls(&tls_config(), script, &[EHLO_TLS, MAIL_OK]);
    assert_eq!(t.events[1], "mail <a@b.example> body=SevenBit requiretls");
    let without = ServerConfig { requiretls: false, ..tls_config() };
    check_tls(&without, script, &[EHLO_TLS, unsupported]);
}

#[test]
fn mail_auth_parameter_is_accepted_and_ignored() {
    let t =
        check_tls(&tls_config(), "C: EHLO c\r\nC: MAIL FROM:<a@b.example> AUTH=<>\r\n", &[EHLO_TLS, MAIL_OK]);
    assert_eq!(t.events[1], "mail <a@b.example> body=SevenBit");
}

// ----- AUTH -----

#[test]
fn auth_plain_with_initial_response_succeeds() {
    let t = check_tls(
        &tls_config(),
        &format!("C: EHLO c\r\n{PLAIN_BOB}C: MAIL FROM:<bob@mx.example>\r\n"),
        &[EHLO_TLS, AUTH_OK, MAIL_OK],
    );
    assert_eq!(t.events[1], r"auth PLAIN \x00bob\x00secret");
    assert_eq!(t.authenticated.as_deref(), Some("bob"));
}

#[test]
fn auth_plain_failures_then_success() {
    let t = check_tls(
        &tls_config(),
        &format!("C: EHLO c\r\n{PLAIN_WRONG}C: AUTH PLAIN AHRlbXBmYWlsAHNlY3JldA==\r\n{PLAIN_BOB}"),
        &[EHLO_TLS, BAD_CREDENTIALS, "S: 454 4.7.0 temporary authentication failure", AUTH_OK],
    );
    assert_eq!(t.authenticated.as_deref(), Some("bob"));
}

#[test]
fn auth_plain_without_initial_response_gets_an_empty_challenge() {
    let t = check_tls(
        &tls_config(),
        "C: EHLO c\r\nC: AUTH PLAIN\r\nC: AGJvYgBzZWNyZXQ=\r\n",
        &[EHLO_TLS, "S: 334 ", AUTH_OK],
    );
    assert_eq!(t.events[1..], ["auth PLAIN -", r"auth-response \x00bob\x00secret"]);
    // "=" is an empty initial response, not an absent one.
    let t = check_tls(
        &tls_config(),
        "C: EHLO c\r\nC: AUTH PLAIN =\r\n",
        &[EHLO_TLS, "S: 501 5.5.2 malformed PLAIN message"],
    );
    assert_eq!(t.events[1], "auth PLAIN ");
}

#[test]
fn auth_login_in_two_steps() {
    let t = check_tls(
        &tls_config(),
        "C: EHLO c\r\nC: auth login\r\nC: Ym9i\r\nC: c2VjcmV0\r\n",
        &[EHLO_TLS, "S: 334 VXNlcm5hbWU6", "S: 334 UGFzc3dvcmQ6", AUTH_OK],
    );
    assert_eq!(t.events[1..], ["auth LOGIN -", "auth-response bob", "auth-response secret"]);
    assert_eq!(t.authenticated.as_deref(), Some("bob"));
}

#[test]
fn lines_during_an_exchange_are_responses_not_commands() {
    // "QUIT" is valid base64: it is the user name here, not a command.
    let t = check_tls(
        &tls_config(),
        "C: EHLO c\r\nC: AUTH LOGIN\r\nC: QUIT\r\nC: *\r\nC: NOOP\r\n",
        &[
            EHLO_TLS,
            "S: 334 VXNlcm5hbWU6",
            "S: 334 UGFzc3dvcmQ6",
            "S: 501 5.0.0 authentication cancelled",
            OK,
        ],
    );
    assert_eq!(t.events[1..], ["auth LOGIN -", r"auth-response AB\x13", "auth-cancel"]);
    assert!(!t.closed);
}

#[test]
fn cancel_then_a_new_exchange() {
    let t = check_tls(
        &tls_config(),
        &format!("C: EHLO c\r\nC: AUTH LOGIN\r\nC: *\r\n{PLAIN_BOB}"),
        &[EHLO_TLS, "S: 334 VXNlcm5hbWU6", "S: 501 5.0.0 authentication cancelled", AUTH_OK],
    );
    assert_eq!(t.events[1..], ["auth LOGIN -", "auth-cancel", r"auth PLAIN \x00bob\x00secret"]);
}

#[test]
fn bad_base64_is_refused() {
    // In the initial response: no exchange starts.
    let t = check_tls(
        &tls_config(),
        "C: EHLO c\r\nC: AUTH PLAIN AGJvYgBzZWNyZXQ\r\nC: NOOP\r\n",
        &[EHLO_TLS, "S: 501 5.5.2 invalid base64", OK],
    );
    assert_eq!(t.events, ["helo EHLO c"]);
    // In a response, or a response line ending in a bare LF: the exchange ends.
    let t = check_tls(
        &tls_config(),
        "C: EHLO c\r\nC: AUTH LOGIN\r\nC: Ym9i!\r\nC: AUTH LOGIN\r\nC: Ym9i\nC: NOOP\r\n",
        &[
            EHLO_TLS,
            "S: 334 VXNlcm5hbWU6",
            "S: 501 5.5.2 invalid base64",
            "S: 334 VXNlcm5hbWU6",
            "S: 501 5.5.2 response line must end with CRLF",
            OK,
        ],
    );
    assert_eq!(t.events[1..], ["auth LOGIN -", "auth-cancel", "auth LOGIN -", "auth-cancel"]);
}

#[test]
fn auth_not_offered_here_is_refused() {
    // Plain connection, AUTH only over TLS.
    let t = check_with(
        &tls_config(),
        format!("C: EHLO c\r\n{PLAIN_BOB}"),
        &[EHLO, "S: 538 5.7.11 encryption required for authentication"],
    );
    assert_eq!(t.events, ["helo EHLO c"]);
    // No mechanisms at all.
    let none = ServerConfig { auth_mechanisms: Vec::new(), ..tls_config() };
    check_tls(
        &none,
        &format!("C: EHLO c\r\n{PLAIN_BOB}"),
        &[EHLO_TLS, "S: 503 5.5.1 authentication not available"],
    );
    // Before EHLO, after HELO, or a mechanism not offered.
    check_tls(
        &tls_config(),
        &format!("{PLAIN_BOB}C: HELO c\r\n{PLAIN_BOB}C: EHLO c\r\nC: AUTH CRAM-MD5\r\n"),
        &[
            "S: 503 5.5.1 send EHLO first",
            "S: 250 mx.example",
            "S: 503 5.5.1 send EHLO first",
            EHLO_TLS,
            "S: 504 5.5.4 authentication mechanism not supported",
        ],
    );
}

#[test]
fn auth_after_auth_and_inside_a_transaction_are_refused() {
    let t = check_tls(
        &tls_config(),
        &format!("C: EHLO c\r\nC: MAIL FROM:<a@b.example>\r\n{PLAIN_BOB}C: RSET\r\n{PLAIN_BOB}{PLAIN_BOB}"),
        &[
            EHLO_TLS,
            MAIL_OK,
            "S: 503 5.5.1 AUTH not allowed during a mail transaction",
            OK,
            AUTH_OK,
            "S: 503 5.5.1 already authenticated",
        ],
    );
    assert_eq!(t.authenticated.as_deref(), Some("bob"));
}

#[test]
fn failed_and_cancelled_auth_count_towards_errors_max() {
    let config = ServerConfig { errors_max: 2, ..tls_config() };
    let t = check_tls(
        &config,
        &format!("C: EHLO c\r\n{PLAIN_WRONG}C: AUTH LOGIN\r\nC: *\r\n{PLAIN_WRONG}C: NOOP\r\n"),
        &[
            EHLO_TLS,
            BAD_CREDENTIALS,
            "S: 334 VXNlcm5hbWU6",
            "S: 501 5.0.0 authentication cancelled",
            "S: 421 4.7.0 mx.example too many errors",
        ],
    );
    assert!(t.closed);
    assert_eq!(t.leftover, b"NOOP\r\n");
    // At the limit (two failures) the session goes on.
    check_tls(
        &config,
        &format!("C: EHLO c\r\n{PLAIN_WRONG}{PLAIN_WRONG}C: NOOP\r\n"),
        &[EHLO_TLS, BAD_CREDENTIALS, BAD_CREDENTIALS, OK],
    );
}

// ----- AUTH line limits -----

#[test]
fn sasl_response_line_at_n_and_n_plus_one() {
    // 12288 base64 characters plus CRLF is exactly the limit; 9216 bytes decoded.
    let user = "u".repeat((SASL_LINE_BYTES_MAX - 2) / 4 * 3);
    let encoded = STANDARD.encode(&user);
    assert_eq!(encoded.len() + 2, SASL_LINE_BYTES_MAX);
    let t = check_tls(
        &tls_config(),
        &format!("C: EHLO c\r\nC: AUTH LOGIN\r\nC: {encoded}\r\nC: c2VjcmV0\r\n"),
        &[EHLO_TLS, "S: 334 VXNlcm5hbWU6", "S: 334 UGFzc3dvcmQ6", AUTH_OK],
    );
    assert_eq!(t.authenticated.as_deref(), Some(user.as_str()));
    let t = check_tls(
        &tls_config(),
        &format!("C: EHLO c\r\nC: AUTH LOGIN\r\nC: {encoded}A\r\nC: NOOP\r\n"),
        &[EHLO_TLS, "S: 334 VXNlcm5hbWU6", "S: 500 5.5.6 authentication exchange line too long", OK],
    );
    assert_eq!(t.events[1..], ["auth LOGIN -", "auth-cancel"]);
}

#[test]
fn a_200_kb_response_line_is_skipped_not_buffered() {
    let mut session = ServerSession::new_tls(Arc::new(tls_config()));
    session.handle_input(b"EHLO c\r\n", 0);
    session.poll_event();
    session.handle_input(b"AUTH LOGIN\r\n", 0);
    assert!(matches!(session.poll_event(), Some(Event::Auth { .. })));
    session.auth_challenge(b"Username:");
    let junk = vec![b'A'; 200 * 1024];
    // Each call takes what it can decide about; no call waits on more than a line's worth.
    let mut used = 0;
    while used < junk.len() {
        let step = session.handle_input(&junk[used..], 0);
        assert!(step > 0, "stuck at {used}");
        used += step;
    }
    assert_eq!(session.handle_input(b"\r\nNOOP\r\n", 0), 2);
    assert_eq!(session.poll_event(), Some(Event::AuthCancel));
    assert!(session.pending_output().ends_with(b"500 5.5.6 authentication exchange line too long\r\n"));
}

#[test]
fn auth_lines_with_long_initial_responses_where_auth_is_offered() {
    // RFC 4954 §4: an initial response may make the AUTH line longer than other commands.
    // At the SASL limit (a trailing space fills the line to exactly N bytes) and past it.
    let message = format!("\0bob\0{}", "x".repeat(9200));
    let encoded = STANDARD.encode(&message);
    assert_eq!(encoded.len(), 12_276);
    let at_limit = format!("AUTH PLAIN {encoded} \r\n");
    assert_eq!(at_limit.len(), SASL_LINE_BYTES_MAX);
    let over_limit = format!("AUTH PLAIN {encoded}  \r\n");
    check_tls(
        &tls_config(),
        &format!("C: EHLO c\r\nC: {at_limit}C: {over_limit}C: NOOP\r\n"),
        &[EHLO_TLS, BAD_CREDENTIALS, "S: 500 5.5.2 line too long", OK],
    );
    // Where AUTH is not offered, AUTH lines have the ordinary command line limit.
    check_with(
        &tls_config(),
        format!("C: EHLO c\r\nC: {at_limit}C: NOOP\r\n"),
        &[EHLO, "S: 500 5.5.2 line too long", OK],
    );
}

// ----- submission -----

#[test]
fn submission_requires_auth_before_mail() {
    let config = ServerConfig { submission: true, ..tls_config() };
    let t = check_tls(
        &config,
        &format!(
            "C: EHLO c\r\nC: MAIL FROM:<bob@mx.example>\r\n{PLAIN_BOB}\
             C: MAIL FROM:<bob@mx.example>\r\nC: RCPT TO:<anyone@elsewhere.example>\r\n"
        ),
        &[EHLO_TLS, "S: 530 5.7.0 authentication required", AUTH_OK, MAIL_OK, "S: 250 2.1.5 ok"],
    );
    assert_eq!(t.authenticated.as_deref(), Some("bob"));
    // On a plain submission connection AUTH waits for TLS, and so does MAIL.
    check_with(
        &config,
        format!("C: EHLO c\r\n{PLAIN_BOB}C: MAIL FROM:<bob@mx.example>\r\n"),
        &[
            EHLO,
            "S: 538 5.7.11 encryption required for authentication",
            "S: 530 5.7.0 authentication required",
        ],
    );
}

#[test]
fn the_caller_sees_who_authenticated_at_mail() {
    let config = ServerConfig { submission: true, ..tls_config() };
    let mut session = ServerSession::new_tls(Arc::new(config));
    session.handle_input(b"EHLO c\r\n", 0);
    session.poll_event();
    session.handle_input(b"AUTH PLAIN\r\n", 0);
    assert_eq!(session.poll_event(), Some(Event::Auth { mechanism: "PLAIN".to_owned(), initial: None }));
    session.auth_challenge(b"");
    session.handle_input(b"AGJvYgBzZWNyZXQ=\r\n", 0);
    assert_eq!(session.poll_event(), Some(Event::AuthResponse(b"\0bob\0secret".to_vec())));
    session.auth_success("bob@mx.example");
    session.handle_input(b"MAIL FROM:<bob@mx.example>\r\n", 0);
    assert!(matches!(session.poll_event(), Some(Event::MailFrom(_))));
    assert_eq!(session.authenticated(), Some("bob@mx.example"));
}

#[test]
fn timeout_during_an_exchange_closes() {
    let mut session = ServerSession::new_tls(Arc::new(tls_config()));
    session.handle_input(b"EHLO c\r\n", 0);
    session.poll_event();
    session.handle_input(b"AUTH LOGIN\r\n", 0);
    assert!(matches!(session.poll_event(), Some(Event::Auth { .. })));
    session.auth_challenge(b"Username:");
    session.advance_output(session.pending_output().len());
    session.timed_out();
    assert_eq!(session.pending_output(), b"421 4.4.2 mx.example timeout\r\n");
    assert!(session.wants_close());
    // A late step from the caller's SASL code is ignored.
    session.auth_success("bob");
    assert_eq!(session.authenticated(), None);
}

#[test]
fn same_results_however_the_reads_are_cut() {
    let input = b"EHLO c\r\nAUTH LOGIN\r\nYm9i\r\nc2VjcmV0\r\nMAIL FROM:<bob@mx.example> REQUIRETLS\r\n\
                  RCPT TO:<c@d.example>\r\nDATA\r\nhi\r\n.\r\nAUTH PLAIN =\r\nQUIT\r\n";
    let whole = drive_from(&tls_config(), Start::ImplicitTls, input, &[input.len()]);
    assert_eq!(whole.replies.last().map(String::as_str), Some("S: 221 2.0.0 mx.example closing connection"));
    for cut in 0..=input.len() {
        let t = drive_from(&tls_config(), Start::ImplicitTls, input, &[cut, input.len()]);
        assert_eq!(t, whole, "cut {cut}");
    }
}
