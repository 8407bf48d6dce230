//! Fuzz target: the DNS response decoder and the stub resolver's exchange fed arbitrary
//! datagrams. Input: bytes taken as a response to a fixed TXT question; the id is taken
//! from the input's first two bytes so both the mismatch and the full decode paths run.
//!
//! Checks: no panic; a decoded answer has only records of the asked type; the exchange
//! either keeps waiting or finishes, and never sends to another server.
#![no_main]

use std::sync::Arc;

use libfuzzer_sys::fuzz_target;
use moxide_protocols::dns::message::decode_response;
use moxide_protocols::dns::{DomainName, Exchange, ExchangeConfig, NameServer, Question, RecordData, RecordType, Step};

fuzz_target!(|data: &[u8]| {
    let Ok(name) = DomainName::parse("example.com") else { return };
    let question = Question::new(name, RecordType::Txt);
    let id = data.get(..2).map_or(0, |b| u16::from_be_bytes([b[0], b[1]]));
    if let Ok(response) = decode_response(data, id, &question) {
        assert!(response.answer.records.iter().all(|r| matches!(r, RecordData::Txt(_))));
    }
    let server = NameServer { address: ([127, 0, 0, 1], 53).into(), trust_ad: true };
    let mut exchange = Exchange::new(question, Arc::new(ExchangeConfig::new(vec![server])));
    let Step::Send(first) = exchange.poll(0, id) else { panic!("first poll sends") };
    assert_eq!(first.server, server.address);
    exchange.handle_udp(server.address, data);
    match exchange.poll(1, id.wrapping_add(1)) {
        Step::Send(next) => assert_eq!(next.server, server.address),
        Step::Wait { .. } | Step::Done(_) => {}
    }
});
