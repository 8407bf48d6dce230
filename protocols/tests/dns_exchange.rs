//! The DNS codec and the stub resolver's exchange, driven with hand-made server replies:
//! retries, timeouts, several servers, spoofed datagrams, TCP on truncation, EDNS
//! fallback, the AD bit, CNAME chains and negative TTLs (RFC 2308 §5).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use moxide_protocols::dns::exchange::{ATTEMPT_TIMEOUT_MS_DEFAULT, ResolveError, Step, Transport};
use moxide_protocols::dns::message::build::{self, Entry};
use moxide_protocols::dns::message::{DecodeError, decode_response, encode_query};
use moxide_protocols::dns::{
    DomainName, Exchange, ExchangeConfig, NameServer, Question, RecordData, RecordType,
};

fn name(text: &str) -> DomainName {
    DomainName::parse(text).unwrap()
}

fn server(address: &str, trust_ad: bool) -> NameServer {
    NameServer { address: address.parse().unwrap(), trust_ad }
}

fn txt_entry(owner: &str, text: &str) -> Entry {
    Entry { name: name(owner), ttl_secs: 600, data: RecordData::Txt(vec![text.as_bytes().into()]) }
}

fn expect_send(step: Step) -> moxide_protocols::dns::Transmit {
    match step {
        Step::Send(transmit) => transmit,
        other => panic!("expected a send, got {other:?}"),
    }
}

#[test]
fn query_has_edns_with_do_and_answer_decodes() {
    let question = Question::new(name("Example.COM"), RecordType::Txt);
    let query = encode_query(0x1234, &question, true);
    let (id, qname, qtype, edns) = build::question_of(&query).unwrap();
    assert_eq!((id, qname.as_str(), qtype, edns), (0x1234, "example.com.", 16, true));
    let reply = build::response(&query, false, &[txt_entry("example.com", "v=spf1 -all")], None, true, false)
        .unwrap();
    let response = decode_response(&reply, 0x1234, &question).unwrap();
    assert_eq!(response.answer.records, vec![RecordData::Txt(vec![b"v=spf1 -all".to_vec().into()])]);
    assert_eq!(response.answer.ttl_secs, 600);
    assert!(response.authentic_data);
    assert_eq!(decode_response(&reply, 0x1235, &question), Err(DecodeError::Mismatch));
    let other = Question::new(name("example.org"), RecordType::Txt);
    assert_eq!(decode_response(&reply, 0x1234, &other), Err(DecodeError::Mismatch));
    assert_eq!(decode_response(b"\x12\x34junk", 0x1234, &question), Err(DecodeError::Malformed));
}

#[test]
fn cname_chain_and_negative_ttl() {
    let question = Question::new(name("www.example.com"), RecordType::A);
    let query = encode_query(7, &question, true);
    let answers = [
        Entry {
            name: name("www.example.com"),
            ttl_secs: 100,
            data: RecordData::Cname(name("web.example.net")),
        },
        Entry {
            name: name("web.example.net"),
            ttl_secs: 50,
            data: RecordData::A("192.0.2.7".parse().unwrap()),
        },
    ];
    let reply = build::response(&query, false, &answers, None, false, false).unwrap();
    let answer = decode_response(&reply, 7, &question).unwrap().answer;
    assert_eq!(answer.records, vec![RecordData::A("192.0.2.7".parse().unwrap())]);
    assert_eq!(answer.ttl_secs, 50);
    assert_eq!(answer.canonical_name, Some(name("web.example.net")));

    let reply = build::response(&query, true, &[], Some(30), false, false).unwrap();
    let answer = decode_response(&reply, 7, &question).unwrap().answer;
    assert!(answer.nxdomain && answer.records.is_empty());
    assert_eq!(answer.ttl_secs, 30);
    // No SOA: not to be cached.
    let reply = build::response(&query, false, &[], None, false, false).unwrap();
    let answer = decode_response(&reply, 7, &question).unwrap().answer;
    assert!(!answer.nxdomain && answer.ttl_secs == 0);
}

#[test]
fn cname_loop_ends() {
    let question = Question::new(name("a.example"), RecordType::A);
    let query = encode_query(9, &question, true);
    let answers = [
        Entry { name: name("a.example"), ttl_secs: 60, data: RecordData::Cname(name("b.example")) },
        Entry { name: name("b.example"), ttl_secs: 60, data: RecordData::Cname(name("a.example")) },
    ];
    let reply = build::response(&query, false, &answers, None, false, false).unwrap();
    let answer = decode_response(&reply, 9, &question).unwrap().answer;
    assert!(answer.records.is_empty());
}

#[test]
fn spoofed_datagrams_are_ignored_and_the_real_answer_counts() {
    let config = Arc::new(ExchangeConfig::new(vec![server("127.0.0.1:53", true)]));
    let question = Question::new(name("example.com"), RecordType::Txt);
    let mut exchange = Exchange::new(question.clone(), config);
    let transmit = expect_send(exchange.poll(1000, 42));
    assert_eq!(transmit.transport, Transport::Udp);
    assert_eq!(transmit.deadline_ms, 1000 + ATTEMPT_TIMEOUT_MS_DEFAULT);
    let good =
        build::response(&transmit.bytes, false, &[txt_entry("example.com", "x")], None, true, false).unwrap();
    // Wrong source, wrong id: ignored.
    exchange.handle_udp("127.0.0.2:53".parse().unwrap(), &good);
    let mut wrong_id = good.clone();
    wrong_id[1] ^= 1;
    exchange.handle_udp("127.0.0.1:53".parse().unwrap(), &wrong_id);
    assert!(matches!(exchange.poll(1001, 43), Step::Wait { .. }));
    exchange.handle_udp("127.0.0.1:53".parse().unwrap(), &good);
    let Step::Done(Ok(answer)) = exchange.poll(1002, 44) else { panic!() };
    assert!(answer.authentic, "AD from a trusted server is believed");
    assert_eq!(answer.records.len(), 1);
}

#[test]
fn ad_bit_from_an_untrusted_server_is_ignored() {
    let config = Arc::new(ExchangeConfig::new(vec![server("192.0.2.53:53", false)]));
    let mut exchange = Exchange::new(Question::new(name("example.com"), RecordType::A), config);
    let transmit = expect_send(exchange.poll(0, 1));
    let reply = build::response(&transmit.bytes, false, &[], Some(60), true, false).unwrap();
    exchange.handle_udp(transmit.server, &reply);
    let Step::Done(Ok(answer)) = exchange.poll(1, 2) else { panic!() };
    assert!(!answer.authentic);
}

#[test]
fn timeouts_rotate_over_servers_then_give_up() {
    let config = ExchangeConfig { attempts: 2, attempt_timeout_ms: 100, ..ExchangeConfig::new(vec![]) };
    let config = Arc::new(ExchangeConfig {
        servers: vec![server("127.0.0.1:5301", false), server("127.0.0.1:5302", false)],
        ..config
    });
    let mut exchange = Exchange::new(Question::new(name("example.com"), RecordType::Mx), config);
    let mut now = 0;
    let mut asked: Vec<SocketAddr> = Vec::new();
    loop {
        match exchange.poll(now, asked.len() as u16) {
            Step::Send(t) => asked.push(t.server),
            Step::Wait { deadline_ms } => now = deadline_ms,
            Step::Done(result) => {
                assert_eq!(result, Err(ResolveError::Timeout));
                break;
            }
        }
    }
    let ports: Vec<u16> = asked.iter().map(SocketAddr::port).collect();
    assert_eq!(ports, vec![5301, 5302, 5301, 5302]);
    assert_eq!(now, 400);
}

#[test]
fn servfail_moves_on_and_truncation_goes_to_tcp() {
    let config =
        Arc::new(ExchangeConfig::new(vec![server("127.0.0.1:5301", false), server("127.0.0.1:5302", false)]));
    let question = Question::new(name("big.example"), RecordType::Txt);
    let mut exchange = Exchange::new(question, config);
    let first = expect_send(exchange.poll(0, 1));
    exchange.handle_udp(first.server, &build::failure(&first.bytes, 2).unwrap());
    let second = expect_send(exchange.poll(1, 2));
    assert_eq!(second.server.port(), 5302);
    let truncated = build::response(&second.bytes, false, &[], None, false, true).unwrap();
    exchange.handle_udp(second.server, &truncated);
    let tcp = expect_send(exchange.poll(2, 3));
    assert_eq!((tcp.transport, tcp.server.port()), (Transport::Tcp, 5302));
    let length = u16::from_be_bytes([tcp.bytes[0], tcp.bytes[1]]) as usize;
    assert_eq!(length, tcp.bytes.len() - 2);
    let strings: Vec<Box<[u8]>> = (0..8).map(|_| vec![b'x'; 250].into()).collect();
    let big = Entry { name: name("big.example"), ttl_secs: 60, data: RecordData::Txt(strings) };
    let full = build::response(&tcp.bytes[2..], false, &[big], None, false, false).unwrap();
    exchange.handle_tcp(Some(&full));
    let Step::Done(Ok(answer)) = exchange.poll(3, 4) else { panic!() };
    assert_eq!(answer.records[0].txt_joined().len(), 2000);
}

#[test]
fn formerr_retries_without_edns_and_tcp_failure_counts() {
    let config =
        Arc::new(ExchangeConfig { attempts: 1, ..ExchangeConfig::new(vec![server("127.0.0.1:53", false)]) });
    let mut exchange = Exchange::new(Question::new(name("old.example"), RecordType::A), config);
    let first = expect_send(exchange.poll(0, 1));
    assert!(build::question_of(&first.bytes).unwrap().3);
    exchange.handle_udp(first.server, &build::failure(&first.bytes, 1).unwrap());
    let second = expect_send(exchange.poll(1, 2));
    assert!(!build::question_of(&second.bytes).unwrap().3, "second try has no OPT record");
    exchange
        .handle_udp(second.server, &build::response(&second.bytes, false, &[], None, false, true).unwrap());
    let _tcp = expect_send(exchange.poll(2, 3));
    exchange.handle_tcp(None);
    assert_eq!(exchange.poll(3, 4), Step::Done(Err(ResolveError::Connection)));
}

#[test]
fn no_servers_is_an_error() {
    let mut exchange = Exchange::new(
        Question::new(name("example.com"), RecordType::A),
        Arc::new(ExchangeConfig::new(vec![])),
    );
    assert_eq!(exchange.poll(0, 0), Step::Done(Err(ResolveError::NoServers)));
}
