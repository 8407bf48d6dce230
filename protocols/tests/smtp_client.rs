//! Transcript tests of the SMTP client session (RFC 5321 client side, RFC 2920, 3030,
//! 3207, 4954, 6152, 6531, 9422): server replies in, client command lines out.
//!
//! Each `check` runs the script three ways: each server reply fed whole, fed in 7-byte
//! pieces, and fed one byte at a time (with the message body given in pieces of the
//! same size), and requires the same client bytes and events every time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use moxide_protocols::sasl::Mechanism;
use moxide_protocols::smtp::BodyType;
use moxide_protocols::smtp::client::limits::{
    DATA_INITIATION_TIMEOUT_MS, DATA_TERMINATION_TIMEOUT_MS, GREETING_TIMEOUT_MS,
};
use moxide_protocols::smtp::client::{
    AuthRequest, ClientConfig, ClientSession, DsnEnvelope, Envelope, Event, FailureCause, Recipient, Stage,
    Unsendable, choose_mechanism,
};

/// What the test does when the session is ready.
#[derive(Clone)]
enum Action {
    StartTls,
    Send(Envelope, &'static [u8]),
    Auth(&'static str, &'static str),
    /// `authenticate` as user with password, allowed mechanisms, nonce characters.
    Sasl(&'static str, &'static str, &'static [Mechanism], &'static str),
    Quit,
}

struct Outcome {
    client: String,
    events: Vec<String>,
}

fn envelope(recipients: &[&str], body: &[u8]) -> Envelope {
    Envelope {
        mail_from: "alice@client.example".into(),
        recipients: recipients.iter().map(|r| Recipient::new(*r)).collect(),
        size_bytes: body.len() as u64,
        body: BodyType::SevenBit,
        smtputf8: false,
        requiretls: false,
        dsn: DsnEnvelope::default(),
    }
}

/// Server replies of `script` (its `S:` lines; a blank line separates replies that
/// must not be fed together), grouped into replies.
fn server_replies(script: &str) -> Vec<String> {
    let mut replies = Vec::new();
    let mut current = String::new();
    for line in script.split_inclusive('\n') {
        let Some(text) = line.strip_prefix("S: ") else { continue };
        current.push_str(text);
        // A reply ends at a line whose code is followed by a space or nothing.
        if text.as_bytes().get(3) != Some(&b'-') {
            replies.push(std::mem::take(&mut current));
        }
    }
    replies
}

fn drain(session: &mut ClientSession, client: &mut String) {
    client.push_str(std::str::from_utf8(session.pending_output()).unwrap());
    let n = session.pending_output().len();
    session.advance_output(n);
}

fn render(event: &Event) -> String {
    match event {
        Event::Ready => "ready".into(),
        Event::TlsReady => "tls".into(),
        Event::StartTlsRefused(r) => format!("starttls refused {}", r.code),
        Event::Authenticated => "authenticated".into(),
        Event::AuthRefused(r) => format!("auth refused {}", r.code),
        Event::AuthDerive(d) => format!("derive {}", d.iterations),
        Event::SendBody => "body".into(),
        Event::TransactionDone(result) => {
            let codes: Vec<String> = result.recipients.iter().map(|r| r.code.to_string()).collect();
            format!("done {}", codes.join(","))
        }
        Event::Closed => "closed".into(),
        Event::Failed(failure) => format!("failed {:?} {}", failure.stage, cause(&failure.cause)),
    }
}

fn cause(cause: &FailureCause) -> String {
    match cause {
        FailureCause::Reply(r) => r.code.to_string(),
        other => format!("{other:?}"),
    }
}

fn run(script: &str, actions: &[Action], piece: usize) -> Outcome {
    let mut session = ClientSession::new(ClientConfig { hostname: "client.example".into() }, 0);
    let mut actions = actions.iter().cloned();
    let mut client = String::new();
    let mut events = Vec::new();
    let mut pending_body: Option<&[u8]> = None;
    for reply in server_replies(script) {
        let bytes = reply.as_bytes();
        let mut at = 0;
        while at < bytes.len() && !session.is_done() {
            let end = (at + piece).min(bytes.len());
            at += session.handle_input(&bytes[at..end], 1);
            react(&mut session, &mut actions, &mut pending_body, &mut client, &mut events, piece);
            if at < end && !session.is_done() {
                // Stopped for the TLS handshake: the rest of the piece is a test bug.
                panic!("input left after a handshake request");
            }
        }
    }
    drain(&mut session, &mut client);
    Outcome { client, events }
}

fn react(
    session: &mut ClientSession,
    actions: &mut impl Iterator<Item = Action>,
    body: &mut Option<&'static [u8]>,
    client: &mut String,
    events: &mut Vec<String>,
    piece: usize,
) {
    while let Some(event) = session.poll_event() {
        events.push(render(&event));
        match event {
            Event::TlsReady => {
                drain(session, client);
                assert!(session.tls_established(2));
            }
            Event::SendBody => stream_body(session, body.take().unwrap_or_default(), piece, client),
            Event::AuthDerive(derivation) => {
                // The password of the test's SCRAM action (the RFC vectors' "pencil").
                assert!(session.auth_derived(derivation.salted_password("pencil"), 1));
            }
            _ => {}
        }
    }
    // A refused send leaves the session ready for the next action.
    while session.is_ready() {
        match actions.next() {
            Some(Action::StartTls) => assert!(session.start_tls(1)),
            Some(Action::Send(envelope, message)) => match session.send(&envelope, 1) {
                Ok(()) => *body = Some(message),
                Err(refused) => {
                    events.push(format!("unsendable {}", refused.reply().code));
                    continue;
                }
            },
            Some(Action::Auth(user, password)) => assert!(session.authenticate_plain(user, password, 1)),
            Some(Action::Sasl(user, password, allowed, nonce)) => {
                let nonce = nonce_bytes(nonce);
                let request =
                    AuthRequest { username: user, password, allowed, channel_binding: None, nonce: &nonce };
                let chosen = session.authenticate(&request, 1);
                events.push(format!("auth {}", chosen.map_or("none", |m| m.name())));
                if chosen.is_none() {
                    continue;
                }
            }
            Some(Action::Quit) => assert!(session.quit(1)),
            None => {}
        }
        break;
    }
    drain(session, client);
}

fn stream_body(session: &mut ClientSession, mut body: &[u8], piece: usize, client: &mut String) {
    while !body.is_empty() {
        let end = piece.min(body.len());
        let taken = session.body_data(&body[..end], 1);
        if taken == 0 {
            assert!(!session.pending_output().is_empty(), "no room, nothing to flush");
            drain(session, client);
        }
        body = &body[taken..];
    }
    session.body_end(1);
}

/// Runs the script whole, in 7-byte pieces and bytewise; the client's lines must be
/// the script's `C:` lines, and the events `events`.
fn check(script: &str, actions: &[Action], events: &[&str]) {
    let expected: String = script.split_inclusive('\n').filter_map(|l| l.strip_prefix("C: ")).collect();
    for piece in [usize::MAX, 7, 1] {
        let outcome = run(script, actions, piece);
        assert_eq!(outcome.client, expected, "client bytes, pieces of {piece}");
        assert_eq!(outcome.events, events, "events, pieces of {piece}");
    }
}

#[test]
fn pipelined_delivery_with_one_recipient_refused() {
    let body: &[u8] = b"Subject: hi\r\n\r\n.hidden dot\r\nbye\r\n";
    let script = concat!(
        "S: 220 mx.example ESMTP\r\n",
        "C: EHLO client.example\r\n",
        "S: 250-mx.example\r\nS: 250-PIPELINING\r\nS: 250-SIZE 1000000\r\nS: 250-8BITMIME\r\nS: 250-STARTTLS\r\nS: 250 ENHANCEDSTATUSCODES\r\n",
        "C: MAIL FROM:<alice@client.example> SIZE=33\r\n",
        "C: RCPT TO:<bob@mx.example>\r\n",
        "C: RCPT TO:<nobody@mx.example>\r\n",
        "C: RCPT TO:<carol@mx.example>\r\n",
        "C: DATA\r\n",
        "S: 250 2.1.0 ok\r\n",
        "S: 250 2.1.5 ok\r\n",
        "S: 550 5.1.1 no such user\r\n",
        "S: 250 2.1.5 ok\r\n",
        "S: 354 go ahead\r\n",
        "C: Subject: hi\r\nC: \r\nC: ..hidden dot\r\nC: bye\r\nC: .\r\n",
        "S: 250 2.0.0 queued\r\n",
        "C: QUIT\r\n",
        "S: 221 2.0.0 bye\r\n",
    );
    let env = envelope(&["bob@mx.example", "nobody@mx.example", "carol@mx.example"], body);
    check(script, &[Action::Send(env, body), Action::Quit], &["ready", "body", "done 250,550,250", "closed"]);
}

#[test]
fn one_command_at_a_time_without_pipelining() {
    let body: &[u8] = b"no final line break";
    let script = concat!(
        "S: 220 mx.example\r\n",
        "C: EHLO client.example\r\n",
        "S: 250-mx.example\r\nS: 250 8BITMIME\r\n",
        "C: MAIL FROM:<alice@client.example>\r\n",
        "S: 250 ok\r\n",
        "C: RCPT TO:<bob@mx.example>\r\n",
        "S: 452 4.2.2 mailbox full\r\n",
        "C: RCPT TO:<carol@mx.example>\r\n",
        "S: 250 ok\r\n",
        "C: DATA\r\n",
        "S: 354 go\r\n",
        "C: no final line break\r\nC: .\r\n",
        "S: 250 ok\r\n",
    );
    let env = envelope(&["bob@mx.example", "carol@mx.example"], body);
    check(script, &[Action::Send(env, body)], &["ready", "body", "done 452,250"]);
}

#[test]
fn no_recipient_accepted_means_rset_not_data() {
    let script = concat!(
        "S: 220 mx.example\r\n",
        "C: EHLO client.example\r\n",
        "S: 250 mx.example\r\n",
        "C: MAIL FROM:<alice@client.example>\r\n",
        "S: 250 ok\r\n",
        "C: RCPT TO:<bob@mx.example>\r\n",
        "S: 550 5.1.1 no\r\n",
        "C: RSET\r\n",
        "S: 250 ok\r\n",
    );
    check(script, &[Action::Send(envelope(&["bob@mx.example"], b"x"), b"x")], &["ready", "done 550"]);
}

#[test]
fn pipelined_data_accepted_without_recipients_gets_an_empty_message() {
    let script = concat!(
        "S: 220 mx.example\r\n",
        "C: EHLO client.example\r\n",
        "S: 250-mx.example\r\nS: 250 PIPELINING\r\n",
        "C: MAIL FROM:<alice@client.example>\r\nC: RCPT TO:<bob@mx.example>\r\nC: DATA\r\n",
        "S: 250 ok\r\n",
        "S: 550 no\r\n",
        "S: 354 go\r\n",
        "C: .\r\n",
        "S: 554 no valid recipients\r\n",
    );
    check(script, &[Action::Send(envelope(&["bob@mx.example"], b"x"), b"x")], &["ready", "done 550"]);
}

#[test]
fn mail_refused_is_every_recipients_result() {
    let script = concat!(
        "S: 220 mx.example\r\n",
        "C: EHLO client.example\r\n",
        "S: 250-mx.example\r\nS: 250 PIPELINING\r\n",
        "C: MAIL FROM:<alice@client.example>\r\nC: RCPT TO:<a@mx.example>\r\nC: RCPT TO:<b@mx.example>\r\nC: DATA\r\n",
        "S: 451 4.7.1 greylisted\r\n",
        "S: 503 5.5.1 MAIL first\r\n",
        "S: 503 5.5.1 MAIL first\r\n",
        "S: 503 5.5.1 MAIL first\r\n",
    );
    check(
        script,
        &[Action::Send(envelope(&["a@mx.example", "b@mx.example"], b"x"), b"x")],
        &["ready", "done 451,451"],
    );
}

#[test]
fn helo_when_ehlo_is_refused_and_no_8bit_without_8bitmime() {
    let mut env = envelope(&["bob@mx.example"], b"caf\xc3\xa9");
    env.body = BodyType::EightBitMime;
    let script = concat!(
        "S: 220 mx.example\r\n",
        "C: EHLO client.example\r\n",
        "S: 502 5.5.1 what\r\n",
        "C: HELO client.example\r\n",
        "S: 250 mx.example\r\n",
        "C: QUIT\r\n",
        "S: 221 bye\r\n",
    );
    check(script, &[Action::Send(env, b""), Action::Quit], &["ready", "unsendable 554", "closed"]);
}

#[test]
fn smtputf8_fails_cleanly_without_the_extension() {
    let mut env = envelope(&["jörg@mx.example"], b"x");
    env.smtputf8 = true;
    let script = concat!(
        "S: 220 mx.example\r\n",
        "C: EHLO client.example\r\n",
        "S: 250-mx.example\r\nS: 250 8BITMIME\r\n"
    );
    check(script, &[Action::Send(env, b"x")], &["ready", "unsendable 553"]);
}

#[test]
fn smtputf8_and_8bitmime_parameters_when_offered() {
    let mut env = envelope(&["jörg@mx.example"], b"x");
    env.smtputf8 = true;
    env.body = BodyType::EightBitMime;
    let script = concat!(
        "S: 220 mx.example\r\n",
        "C: EHLO client.example\r\n",
        "S: 250-mx.example\r\nS: 250-SMTPUTF8\r\nS: 250 8BITMIME\r\n",
        "C: MAIL FROM:<alice@client.example> BODY=8BITMIME SMTPUTF8\r\n",
        "S: 250 ok\r\n",
        "C: RCPT TO:<jörg@mx.example>\r\n",
        "S: 250 ok\r\n",
        "C: DATA\r\n",
        "S: 354 go\r\n",
        "C: x\r\nC: .\r\n",
        "S: 250 ok\r\n",
    );
    check(script, &[Action::Send(env, b"x")], &["ready", "body", "done 250"]);
}

#[test]
fn starttls_then_ehlo_again_then_auth_plain() {
    let script = concat!(
        "S: 220 smarthost.example\r\n",
        "C: EHLO client.example\r\n",
        "S: 250-smarthost.example\r\nS: 250-STARTTLS\r\nS: 250 AUTH PLAIN\r\n",
        "C: STARTTLS\r\n",
        "S: 220 2.0.0 go ahead\r\n",
        "C: EHLO client.example\r\n",
        "S: 250-smarthost.example\r\nS: 250 AUTH PLAIN SCRAM-SHA-256\r\n",
        "C: AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n",
        "S: 235 2.7.0 ok\r\n",
        "C: QUIT\r\n",
        "S: 221 bye\r\n",
    );
    check(
        script,
        &[Action::StartTls, Action::Auth("alice", "secret"), Action::Quit],
        &["ready", "tls", "ready", "authenticated", "closed"],
    );
}

/// The SCRAM nonce alphabet (RFC 5802 printable without `,`), in the order the
/// session maps random bytes to it.
const NONCE_ALPHABET: &str =
    "!\"#$%&'()*+-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~";

/// The random bytes that make the session's nonce exactly `nonce`.
fn nonce_bytes(nonce: &str) -> Vec<u8> {
    nonce.chars().map(|c| NONCE_ALPHABET.find(c).unwrap() as u8).collect()
}

fn b64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn auth_scram_sha256_follows_the_rfc_7677_test_vector() {
    // RFC 7677 §3: user "user", password "pencil".
    let nonce = "rOprNGfwEbeRWgbNEkqO";
    let server_first =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    let client_final = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    let server_final = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
    let script = format!(
        "S: 220 smarthost.example\r\n\
         C: EHLO client.example\r\n\
         S: 250-smarthost.example\r\nS: 250 AUTH PLAIN SCRAM-SHA-1 SCRAM-SHA-256\r\n\
         C: AUTH SCRAM-SHA-256 {}\r\n\
         S: 334 {}\r\n\
         C: {}\r\n\
         S: 334 {}\r\n\
         C: \r\n\
         S: 235 2.7.0 ok\r\n\
         C: QUIT\r\n\
         S: 221 bye\r\n",
        b64(&format!("n,,n=user,r={nonce}")),
        b64(server_first),
        b64(client_final),
        b64(server_final),
    );
    check(
        &script,
        &[Action::Sasl("user", "pencil", &[], "rOprNGfwEbeRWgbNEkqO"), Action::Quit],
        &["ready", "auth SCRAM-SHA-256", "derive 4096", "authenticated", "closed"],
    );
}

#[test]
fn auth_cancels_when_the_server_signature_is_wrong_and_reports_535() {
    let nonce = "rOprNGfwEbeRWgbNEkqO";
    let server_first =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    let client_final = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    let forged = "v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let script = format!(
        "S: 220 smarthost.example\r\n\
         C: EHLO client.example\r\n\
         S: 250-smarthost.example\r\nS: 250 AUTH SCRAM-SHA-256\r\n\
         C: AUTH SCRAM-SHA-256 {}\r\n\
         S: 334 {}\r\n\
         C: {}\r\n\
         S: 334 {}\r\n\
         C: *\r\n\
         S: 501 5.0.0 cancelled\r\n\
         C: AUTH SCRAM-SHA-256 {}\r\n\
         S: 535 5.7.8 bad credentials\r\n\
         C: QUIT\r\n\
         S: 221 bye\r\n",
        b64(&format!("n,,n=user,r={nonce}")),
        b64(server_first),
        b64(client_final),
        b64(forged),
        b64(&format!("n,,n=user,r={nonce}")),
    );
    check(
        &script,
        &[
            Action::Sasl("user", "pencil", &[], nonce),
            Action::Sasl("user", "pencil", &[], nonce),
            Action::Quit,
        ],
        &[
            "ready",
            "auth SCRAM-SHA-256",
            "derive 4096",
            "auth refused 454",
            "auth SCRAM-SHA-256",
            "auth refused 535",
            "closed",
        ],
    );
}

#[test]
fn mechanisms_are_chosen_strongest_first_within_what_is_allowed() {
    let offered: Vec<String> =
        ["PLAIN", "SCRAM-SHA-1", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-256-PLUS"]
            .map(String::from)
            .into();
    assert_eq!(choose_mechanism(&offered, &[], true, true), Some(Mechanism::ScramSha256Plus));
    assert_eq!(choose_mechanism(&offered, &[], true, false), Some(Mechanism::ScramSha256));
    assert_eq!(choose_mechanism(&offered, &[Mechanism::ScramSha1], true, true), Some(Mechanism::ScramSha1));
    assert_eq!(choose_mechanism(&offered, &[Mechanism::Plain], true, true), Some(Mechanism::Plain));
    // PLAIN never without TLS, whatever is allowed.
    assert_eq!(choose_mechanism(&offered, &[Mechanism::Plain], false, false), None);
    assert_eq!(choose_mechanism(&["PLAIN".into(), "LOGIN".into()], &[], false, false), None);
    assert_eq!(choose_mechanism(&["CRAM-MD5".into()], &[], true, false), None);
}

#[test]
fn no_auth_in_plaintext() {
    let mut session = ClientSession::new(ClientConfig { hostname: "c.example".into() }, 0);
    session.handle_input(b"220 x\r\n", 0);
    session.handle_input(b"250-x\r\n250 AUTH PLAIN\r\n", 0);
    assert_eq!(session.poll_event(), Some(Event::Ready));
    assert!(!session.authenticate_plain("alice", "secret", 0));
    assert!(!session.start_tls(0), "STARTTLS not offered");
}

#[test]
fn bytes_after_the_starttls_go_ahead_fail_the_session() {
    let mut session = ClientSession::new(ClientConfig { hostname: "c.example".into() }, 0);
    session.handle_input(b"220 x\r\n250-x\r\n250 STARTTLS\r\n", 0);
    assert_eq!(session.poll_event(), Some(Event::Ready));
    assert!(session.start_tls(0));
    let input = b"220 go ahead\r\n250 injected\r\n";
    let used = session.handle_input(input, 0);
    assert_eq!(used, 14, "nothing after the 220 is used");
    assert_eq!(session.poll_event(), Some(Event::TlsReady));
    match session.poll_event() {
        Some(Event::Failed(failure)) => assert_eq!(failure.cause, FailureCause::InputAfterStartTls),
        other => panic!("expected failure, got {other:?}"),
    }
    assert!(session.is_done());
}

#[test]
fn chunking_sends_bdat_without_dot_stuffing() {
    let body: &[u8] = b".a\r\n";
    let script = concat!(
        "S: 220 mx.example\r\n",
        "C: EHLO client.example\r\n",
        "S: 250-mx.example\r\nS: 250-PIPELINING\r\nS: 250 CHUNKING\r\n",
        "C: MAIL FROM:<alice@client.example>\r\nC: RCPT TO:<bob@mx.example>\r\n",
        "S: 250 ok\r\n",
        "S: 250 ok\r\n",
    );
    // The chunk count depends on the piece size, so this one is checked per piece.
    let env = envelope(&["bob@mx.example"], body);
    let outcome = run(script, &[Action::Send(env.clone(), body)], usize::MAX);
    assert!(outcome.client.ends_with("BDAT 4\r\n.a\r\nBDAT 0 LAST\r\n"), "{}", outcome.client);
    assert_eq!(outcome.events, ["ready", "body"]);

    let mut session = ClientSession::new(ClientConfig { hostname: "c.example".into() }, 0);
    session.handle_input(b"220 x\r\n250-x\r\n250-PIPELINING\r\n250 CHUNKING\r\n", 0);
    assert_eq!(session.poll_event(), Some(Event::Ready));
    session.send(&env, 0).unwrap();
    session.handle_input(b"250 ok\r\n250 ok\r\n", 0);
    assert_eq!(session.poll_event(), Some(Event::SendBody));
    assert_eq!(session.body_data(b".a\r\n", 0), 4);
    assert_eq!(session.body_data(b"b", 0), 1);
    session.body_end(0);
    session.handle_input(b"250 chunk\r\n250 chunk\r\n250 2.0.0 done\r\n", 0);
    match session.poll_event() {
        Some(Event::TransactionDone(result)) => assert_eq!(result.recipients[0].text, "done"),
        other => panic!("{other:?}"),
    }
    assert!(session.is_ready());
}

#[test]
fn refused_bdat_chunk_ends_with_rset() {
    let mut session = ClientSession::new(ClientConfig { hostname: "c.example".into() }, 0);
    session.handle_input(b"220 x\r\n250-x\r\n250 CHUNKING\r\n", 0);
    assert_eq!(session.poll_event(), Some(Event::Ready));
    session.send(&envelope(&["bob@mx.example"], b"abc"), 0).unwrap();
    session.handle_input(b"250 ok\r\n", 0);
    session.handle_input(b"250 ok\r\n", 0);
    assert_eq!(session.poll_event(), Some(Event::SendBody));
    assert_eq!(session.body_data(b"ab", 0), 2);
    assert_eq!(session.body_data(b"c", 0), 0, "one chunk in flight without PIPELINING");
    session.handle_input(b"552 5.3.4 too big\r\n", 0);
    assert_eq!(session.body_data(b"c", 0), 1, "the rest is dropped");
    session.body_end(0);
    let out = String::from_utf8(session.pending_output().to_vec()).unwrap();
    assert!(out.ends_with("BDAT 2\r\nabRSET\r\n"), "{out}");
    session.handle_input(b"250 ok\r\n", 0);
    match session.poll_event() {
        Some(Event::TransactionDone(result)) => assert_eq!(result.recipients[0].code, 552),
        other => panic!("{other:?}"),
    }
}

#[test]
fn limits_rcptmax_bounds_a_transaction() {
    let mut session = ClientSession::new(ClientConfig { hostname: "c.example".into() }, 0);
    session.handle_input(b"220 x\r\n250-x\r\n250 LIMITS RCPTMAX=2\r\n", 0);
    assert_eq!(session.poll_event(), Some(Event::Ready));
    assert_eq!(session.recipients_max(), 2);
    let env = envelope(&["a@x.example", "b@x.example", "c@x.example"], b"x");
    assert_eq!(session.send(&env, 0), Err(Unsendable::TooManyRecipients { max: 2 }));
    assert!(session.pending_output().starts_with(b"EHLO"), "nothing written for the refused send");
    assert!(session.is_ready());
}

#[test]
fn refused_greeting_quits() {
    let script = concat!("S: 554 5.7.1 go away\r\n", "C: QUIT\r\n");
    check(script, &[], &["failed Greeting 554"]);
}

#[test]
fn service_closing_mid_transaction_fails_the_session() {
    let script = concat!(
        "S: 220 mx.example\r\n",
        "C: EHLO client.example\r\n",
        "S: 250 mx.example\r\n",
        "C: MAIL FROM:<alice@client.example>\r\n",
        "S: 421 4.3.2 shutting down\r\n",
    );
    check(script, &[Action::Send(envelope(&["b@mx.example"], b"x"), b"x")], &["ready", "failed Mail 421"]);
}

#[test]
fn malformed_and_unexpected_replies_fail_the_session() {
    check(
        "S: 220 x\r\nC: EHLO client.example\r\nS: hello there\r\n",
        &[],
        &["failed Ehlo Malformed(InvalidCode)"],
    );
    let mut session = ClientSession::new(ClientConfig { hostname: "c.example".into() }, 0);
    session.handle_input(b"220 x\r\n250 x\r\n", 0);
    assert_eq!(session.poll_event(), Some(Event::Ready));
    session.handle_input(b"250 unasked\r\n", 0);
    assert!(
        matches!(session.poll_event(), Some(Event::Failed(f)) if matches!(f.cause, FailureCause::Unexpected(_)))
    );
    assert_eq!(session.handle_input(b"250 more\r\n", 0), 0, "no input after a failure");
}

#[test]
fn deadlines_follow_rfc_5321_timeouts() {
    let mut session = ClientSession::new(ClientConfig { hostname: "c.example".into() }, 1000);
    assert_eq!(session.deadline_ms(), Some(1000 + GREETING_TIMEOUT_MS));
    session.handle_input(b"220 x\r\n250 x\r\n", 2000);
    assert_eq!(session.poll_event(), Some(Event::Ready));
    assert_eq!(session.deadline_ms(), None);
    assert!(!session.wants_input());
    let mut env = envelope(&["b@mx.example"], b"x");
    env.recipients[0].notify = Some("NEVER".into());
    session.send(&env, 3000).unwrap();
    session.handle_input(b"250 ok\r\n250 ok\r\n", 4000);
    assert_eq!(session.stage(), Stage::Data);
    assert_eq!(session.deadline_ms(), Some(4000 + DATA_INITIATION_TIMEOUT_MS));
    session.handle_input(b"354 go\r\n", 5000);
    assert_eq!(session.poll_event(), Some(Event::SendBody));
    session.body_data(b"x\r\n", 6000);
    session.body_end(7000);
    assert_eq!(session.deadline_ms(), Some(7000 + DATA_TERMINATION_TIMEOUT_MS));
    session.handle_timeout(7000 + DATA_TERMINATION_TIMEOUT_MS - 1);
    assert!(!session.is_done());
    session.handle_timeout(7000 + DATA_TERMINATION_TIMEOUT_MS);
    match session.poll_event() {
        Some(Event::Failed(failure)) => {
            assert_eq!(failure.stage, Stage::DataEnd);
            assert_eq!(failure.cause, FailureCause::Timeout);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn dot_stuffing_holds_across_piece_boundaries_and_output_is_bounded() {
    let mut session = ClientSession::new(ClientConfig { hostname: "c.example".into() }, 0);
    session.handle_input(b"220 x\r\n250 x\r\n", 0);
    session.poll_event();
    session.send(&envelope(&["b@mx.example"], b""), 0).unwrap();
    session.handle_input(b"250 ok\r\n250 ok\r\n354 go\r\n", 0);
    let skip = session.pending_output().len();
    session.advance_output(skip);
    assert_eq!(session.poll_event(), Some(Event::SendBody));
    for byte in b".a\r\n.\r\n..\r\nb." {
        assert_eq!(session.body_data(std::slice::from_ref(byte), 0), 1);
    }
    session.body_end(0);
    assert_eq!(session.pending_output(), b"..a\r\n..\r\n...\r\nb.\r\n.\r\n");
    let n = session.pending_output().len();
    session.advance_output(n);
    session.handle_input(b"250 ok\r\n", 0);
    session.poll_event();

    // A large body is taken only as far as the output has room.
    session.send(&envelope(&["b@mx.example"], b""), 0).unwrap();
    session.handle_input(b"250 ok\r\n250 ok\r\n354 go\r\n", 0);
    let skip = session.pending_output().len();
    session.advance_output(skip);
    let big = vec![b'x'; 200 * 1024];
    let taken = session.body_data(&big, 0);
    assert!(taken <= 64 * 1024 && taken > 0);
    assert_eq!(session.body_data(&big[taken..], 0), 0);
    assert!(!session.wants_body());
}

/// The gs2 header of the AUTH line a TLS session with channel binding sends when the
/// server's EHLO offers `offered` and the caller allows `allowed`.
fn gs2_header_sent(offered: &str, allowed: &[Mechanism]) -> (String, String) {
    use base64::Engine as _;
    use moxide_protocols::sasl::{ChannelBinding, ChannelBindingKind};
    let mut session = ClientSession::new_tls(ClientConfig { hostname: "c.example".into() }, 0);
    session.handle_input(b"220 x\r\n", 0);
    let _ = session.pending_output().len();
    session.advance_output(session.pending_output().len());
    session.handle_input(format!("250-x\r\n250 AUTH {offered}\r\n").as_bytes(), 0);
    assert_eq!(session.poll_event(), Some(Event::Ready));
    let binding = ChannelBinding { kind: ChannelBindingKind::TlsExporter, data: vec![9; 32] };
    let nonce = [1u8; 24];
    let request =
        AuthRequest { username: "u", password: "p", allowed, channel_binding: Some(binding), nonce: &nonce };
    let mechanism = session.authenticate(&request, 0).unwrap();
    let line = String::from_utf8(session.pending_output().to_vec()).unwrap();
    let encoded = line.trim_end().rsplit(' ').next().unwrap();
    let first =
        String::from_utf8(base64::engine::general_purpose::STANDARD.decode(encoded).unwrap()).unwrap();
    (mechanism.name().to_owned(), first.split(",n=").next().unwrap().to_owned())
}

#[test]
fn channel_binding_flag_follows_rfc_5802_section_6() {
    let both = "SCRAM-SHA-256 SCRAM-SHA-256-PLUS";
    // Binding available and offered: -PLUS, bound.
    assert_eq!(gs2_header_sent(both, &[]), ("SCRAM-SHA-256-PLUS".into(), "p=tls-exporter,".into()));
    // -PLUS offered but not allowed here: `n` (not `y`, which the server would take for
    // a downgrade).
    assert_eq!(gs2_header_sent(both, &[Mechanism::ScramSha256]), ("SCRAM-SHA-256".into(), "n,".into()));
    // -PLUS not offered although we could bind: `y`.
    assert_eq!(gs2_header_sent("SCRAM-SHA-256", &[]), ("SCRAM-SHA-256".into(), "y,".into()));
}

#[test]
fn reset_before_reuse_makes_the_session_ready_or_failed() {
    let mut session = ClientSession::new(ClientConfig { hostname: "c.example".into() }, 0);
    session.handle_input(b"220 x\r\n250 x\r\n", 0);
    assert_eq!(session.poll_event(), Some(Event::Ready));
    session.advance_output(session.pending_output().len());
    assert!(session.reset(1));
    assert_eq!(session.pending_output(), b"RSET\r\n");
    assert!(!session.reset(1), "not ready while RSET is answered");
    session.handle_input(b"250 2.0.0 ok\r\n", 2);
    assert_eq!(session.poll_event(), Some(Event::Ready));
    session.advance_output(session.pending_output().len());
    assert!(session.reset(3));
    session.handle_input(b"451 4.3.0 no\r\n", 4);
    assert!(matches!(session.poll_event(), Some(Event::Failed(f)) if f.stage == Stage::Rset));
}

/// With PIPELINING the RSET before reuse is not a round trip of its own: `Ready` comes at
/// once and the RSET leads the next transaction's group (RFC 2920 §3.1); a refused RSET
/// fails the session before any message byte goes out; QUIT drops a pending RSET.
#[test]
fn pipelined_reset_leads_the_next_envelope() {
    let ready = || {
        let mut session = ClientSession::new(ClientConfig { hostname: "c.example".into() }, 0);
        session.handle_input(b"220 x\r\n250-x\r\n250 PIPELINING\r\n", 0);
        assert_eq!(session.poll_event(), Some(Event::Ready));
        session.advance_output(session.pending_output().len());
        assert!(session.reset(1));
        assert_eq!(session.poll_event(), Some(Event::Ready), "ready at once");
        assert!(session.pending_output().is_empty(), "nothing written yet");
        session
    };
    let mut session = ready();
    session.send(&envelope(&["b@y.example"], b"hi\r\n"), 2).unwrap();
    let group = String::from_utf8(session.pending_output().to_vec()).unwrap();
    assert!(group.starts_with("RSET\r\nMAIL FROM:<alice@client.example>"), "{group}");
    assert!(group.ends_with("\r\nRCPT TO:<b@y.example>\r\nDATA\r\n"), "{group}");
    session.advance_output(session.pending_output().len());
    session.handle_input(b"250 2.0.0 ok\r\n250 ok\r\n250 ok\r\n354 go\r\n", 3);
    assert_eq!(session.poll_event(), Some(Event::SendBody));

    let mut session = ready();
    session.send(&envelope(&["b@y.example"], b"hi\r\n"), 2).unwrap();
    session.advance_output(session.pending_output().len());
    session.handle_input(b"451 4.3.0 no\r\n503 bad sequence\r\n", 3);
    assert!(matches!(session.poll_event(), Some(Event::Failed(f)) if f.stage == Stage::Rset));

    let mut session = ready();
    assert!(session.quit(2));
    assert_eq!(session.pending_output(), b"QUIT\r\n");
}
