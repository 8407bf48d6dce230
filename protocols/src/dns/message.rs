//! The DNS message codec on hickory-proto's wire format: one question out, one response
//! in, reduced to what the callers use ([`Answer`]).
//!
//! Queries ask for recursion (RFC 1035 §4.1.1 RD), carry an EDNS0 OPT record (RFC 6891)
//! with the DO bit (RFC 3225 §3) and a 1232-octet UDP payload, and set AD (RFC 6840 §5.7:
//! the stub understands the AD bit, so a validating resolver reports it). A response is
//! accepted only if it answers exactly our question (RFC 5452 §9.1: id, name, type and
//! class all match); records are taken from the answer section along the CNAME chain
//! starting at the question name (RFC 1034 §3.6.2), and a negative answer's cache time is
//! the SOA's (RFC 2308 §5).

use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType as WireType};

use super::name::DomainName;

/// UDP payload size we advertise: 1232 octets, the value agreed on for DNS Flag Day 2020,
/// which avoids IP fragmentation on common paths. Larger answers come back truncated and
/// are asked again over TCP.
pub const EDNS_PAYLOAD_BYTES_MAX: u16 = 1232;

/// Longest CNAME chain followed inside one response. Resolvers stop at about 8–16; a
/// longer chain is almost certainly a loop.
pub const CNAME_CHAIN_MAX: usize = 8;

/// Record types the server asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum RecordType {
    /// IPv4 address.
    A,
    /// IPv6 address.
    Aaaa,
    /// Mail exchanger.
    Mx,
    /// Text (SPF, DKIM keys, DMARC policies, MTA-STS, TLSRPT).
    Txt,
    /// Reverse name.
    Ptr,
    /// Alias (asked for directly only when the alias itself matters).
    Cname,
    /// DANE certificate association (RFC 6698).
    Tlsa,
}

impl RecordType {
    fn wire(self) -> WireType {
        match self {
            RecordType::A => WireType::A,
            RecordType::Aaaa => WireType::AAAA,
            RecordType::Mx => WireType::MX,
            RecordType::Txt => WireType::TXT,
            RecordType::Ptr => WireType::PTR,
            RecordType::Cname => WireType::CNAME,
            RecordType::Tlsa => WireType::TLSA,
        }
    }

    /// The mnemonic (`TXT`), for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            RecordType::A => "A",
            RecordType::Aaaa => "AAAA",
            RecordType::Mx => "MX",
            RecordType::Txt => "TXT",
            RecordType::Ptr => "PTR",
            RecordType::Cname => "CNAME",
            RecordType::Tlsa => "TLSA",
        }
    }
}

/// One question: a name and a type, class IN.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Question {
    /// The name asked about.
    pub name: DomainName,
    /// The type asked for.
    pub record_type: RecordType,
}

impl Question {
    /// A question for `name` and `record_type`.
    pub fn new(name: DomainName, record_type: RecordType) -> Question {
        Question { name, record_type }
    }
}

/// A DANE TLSA record (RFC 6698 §2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tlsa {
    /// Certificate usage (0–3).
    pub usage: u8,
    /// Selector: full certificate (0) or public key (1).
    pub selector: u8,
    /// Matching type: exact (0), SHA-256 (1), SHA-512 (2).
    pub matching: u8,
    /// The association data.
    pub data: Vec<u8>,
}

/// The data of one record of the asked type.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordData {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// A mail exchanger and its preference.
    Mx {
        /// Lower is tried first.
        preference: u16,
        /// The exchanger's name (`None` for the null MX of RFC 7505, the root).
        exchange: Option<DomainName>,
    },
    /// The character-strings of one TXT record, in order (RFC 7208 §3.3 and RFC 6376
    /// §3.6.2.2 join them without separators).
    Txt(Vec<Box<[u8]>>),
    /// A reverse-lookup name.
    Ptr(DomainName),
    /// An alias target.
    Cname(DomainName),
    /// A TLSA record.
    Tlsa(Tlsa),
}

impl RecordData {
    /// The TXT record's strings joined (empty for other types).
    pub fn txt_joined(&self) -> Vec<u8> {
        match self {
            RecordData::Txt(strings) => strings.concat(),
            _ => Vec::new(),
        }
    }
}

/// The outcome of a question that the DNS answered (positively or negatively).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Records of the asked type at the end of the CNAME chain; empty for a negative answer.
    pub records: Vec<RecordData>,
    /// The name does not exist (NXDOMAIN, RFC 2308 §2.1) as opposed to having no records
    /// of this type (NODATA, §2.2).
    pub nxdomain: bool,
    /// A validating resolver we trust vouched for the data (AD bit, RFC 4035 §3.2.3).
    pub authentic: bool,
    /// How long the answer may be cached, in seconds: the smallest TTL of the records and
    /// CNAMEs used, or for a negative answer min(SOA TTL, SOA MINIMUM); 0 when no SOA came
    /// with a negative answer (RFC 2308 §5: then it is not cached).
    pub ttl_secs: u32,
    /// Where the CNAME chain ended, when the question name was an alias.
    pub canonical_name: Option<DomainName>,
}

impl Answer {
    /// A negative answer: NXDOMAIN when `nxdomain`, else NODATA.
    pub fn negative(nxdomain: bool, ttl_secs: u32) -> Answer {
        Answer { records: Vec::new(), nxdomain, authentic: false, ttl_secs, canonical_name: None }
    }

    /// A positive answer with these records.
    pub fn with_records(records: Vec<RecordData>, ttl_secs: u32) -> Answer {
        Answer { records, nxdomain: false, authentic: false, ttl_secs, canonical_name: None }
    }

    /// NXDOMAIN or NODATA: what RFC 7208 §4.6.4 calls a void lookup.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
}

/// The response code of a response, reduced to what the resolver acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    /// NOERROR: an answer, possibly NODATA.
    NoError,
    /// NXDOMAIN: the name does not exist.
    NxDomain,
    /// FORMERR: the server did not understand the query (old servers say so for EDNS).
    FormErr,
    /// SERVFAIL, REFUSED, NOTIMP or anything else: ask another server.
    Failure(u16),
}

/// A decoded response to our question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The message id.
    pub id: u16,
    /// TC: the answer did not fit; ask again over TCP.
    pub truncated: bool,
    /// AD as the server set it (trusted only from a configured validating resolver).
    pub authentic_data: bool,
    /// The response code.
    pub rcode: Rcode,
    /// The answer (meaningful for NoError and NxDomain).
    pub answer: Answer,
}

/// Why bytes are not a response to our question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not a DNS message.
    #[error("malformed DNS message")]
    Malformed,
    /// A DNS message, but not a response to this question (id, name, type or class
    /// differ): ignored, as a spoofing attempt would be.
    #[error("response does not match the question")]
    Mismatch,
}

/// Encodes `question` as a query with message id `id`; `edns` adds the OPT record with DO.
pub fn encode_query(id: u16, question: &Question, edns: bool) -> Vec<u8> {
    let mut message = Message::new(id, MessageType::Query, OpCode::Query);
    message.metadata.recursion_desired = true;
    message.metadata.authentic_data = true;
    let mut query = Query::query(wire_name(&question.name), question.record_type.wire());
    query.set_query_class(DNSClass::IN);
    message.add_query(query);
    if edns {
        let mut opt = Edns::new();
        opt.set_max_payload(EDNS_PAYLOAD_BYTES_MAX).set_version(0).set_dnssec_ok(true);
        message.set_edns(opt);
    }
    // A validated name of one question always encodes; an empty message is refused by
    // every server, which the exchange reports as a failure like any other.
    message.to_vec().unwrap_or_default()
}

fn wire_name(name: &DomainName) -> Name {
    let mut wire = Name::from_ascii(name.as_str()).unwrap_or_else(|_| Name::root());
    wire.set_fqdn(true);
    wire
}

/// The message id of a datagram, if it has a header.
pub fn message_id(bytes: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]))
}

/// Decodes `bytes` as the response to `question` with id `id`.
pub fn decode_response(bytes: &[u8], id: u16, question: &Question) -> Result<Response, DecodeError> {
    let message = Message::from_vec(bytes).map_err(|_| DecodeError::Malformed)?;
    let meta = &message.metadata;
    if meta.id != id || meta.message_type != MessageType::Response || meta.op_code != OpCode::Query {
        return Err(DecodeError::Mismatch);
    }
    let [query] = message.queries.as_slice() else { return Err(DecodeError::Mismatch) };
    if query.query_type() != question.record_type.wire()
        || query.query_class() != DNSClass::IN
        || !same_name(query.name(), &question.name)
    {
        return Err(DecodeError::Mismatch);
    }
    let rcode = match meta.response_code {
        ResponseCode::NoError => Rcode::NoError,
        ResponseCode::NXDomain => Rcode::NxDomain,
        ResponseCode::FormErr => Rcode::FormErr,
        other => Rcode::Failure(u16::from(other)),
    };
    let answer = match rcode {
        Rcode::NoError | Rcode::NxDomain => answer_of(&message, question, rcode == Rcode::NxDomain),
        _ => Answer::negative(false, 0),
    };
    Ok(Response { id, truncated: meta.truncation, authentic_data: meta.authentic_data, rcode, answer })
}

fn same_name(wire: &Name, name: &DomainName) -> bool {
    let text = wire.to_ascii();
    text.strip_suffix('.').unwrap_or(&text).eq_ignore_ascii_case(name.as_str())
}

fn answer_of(message: &Message, question: &Question, nxdomain: bool) -> Answer {
    let wanted = question.record_type.wire();
    let mut current = question.name.clone();
    let mut ttl = u32::MAX;
    let mut canonical = None;
    for _ in 0..=CNAME_CHAIN_MAX {
        let at_name = |r: &&Record| same_name(&r.name, &current) && r.dns_class == DNSClass::IN;
        let records: Vec<&Record> =
            message.answers.iter().filter(at_name).filter(|r| r.record_type() == wanted).collect();
        if !records.is_empty() {
            let data: Vec<RecordData> = records.iter().filter_map(|r| record_data(&r.data)).collect();
            ttl = records.iter().map(|r| r.ttl).fold(ttl, u32::min);
            return Answer {
                records: data,
                nxdomain: false,
                authentic: false,
                ttl_secs: ttl,
                canonical_name: canonical,
            };
        }
        let alias = message.answers.iter().filter(at_name).find_map(|r| match &r.data {
            RData::CNAME(target) => Some((r.ttl, target.0.clone())),
            _ => None,
        });
        let Some((alias_ttl, target)) = alias else { break };
        let Ok(target) = DomainName::parse(&target.to_ascii()) else { break };
        ttl = ttl.min(alias_ttl);
        canonical = Some(target.clone());
        current = target;
    }
    let mut negative = Answer::negative(nxdomain, negative_ttl(message));
    if canonical.is_some() {
        // The chain's own TTLs bound how long the (negative) result at its end holds.
        negative.ttl_secs = negative.ttl_secs.min(ttl);
        negative.canonical_name = canonical;
        // NXDOMAIN after a CNAME speaks of the target; the question name exists.
    }
    negative
}

/// RFC 2308 §5: a negative answer is cached for the minimum of the SOA record's TTL and
/// its MINIMUM field; without an SOA it should not be cached at all.
fn negative_ttl(message: &Message) -> u32 {
    message
        .authorities
        .iter()
        .find_map(|r| match &r.data {
            RData::SOA(soa) => Some(r.ttl.min(soa.minimum)),
            _ => None,
        })
        .unwrap_or(0)
}

fn record_data(data: &RData) -> Option<RecordData> {
    Some(match data {
        RData::A(a) => RecordData::A(a.0),
        RData::AAAA(aaaa) => RecordData::Aaaa(aaaa.0),
        RData::MX(mx) => {
            let exchange = if mx.exchange.is_root() { None } else { Some(parse_name(&mx.exchange)?) };
            RecordData::Mx { preference: mx.preference, exchange }
        }
        RData::TXT(txt) => RecordData::Txt(txt.txt_data.to_vec()),
        RData::PTR(ptr) => RecordData::Ptr(parse_name(&ptr.0)?),
        RData::CNAME(cname) => RecordData::Cname(parse_name(&cname.0)?),
        RData::TLSA(tlsa) => RecordData::Tlsa(Tlsa {
            usage: u8::from(tlsa.cert_usage),
            selector: u8::from(tlsa.selector),
            matching: u8::from(tlsa.matching),
            data: tlsa.cert_data.clone(),
        }),
        _ => return None,
    })
}

fn parse_name(name: &Name) -> Option<DomainName> {
    DomainName::parse(&name.to_ascii()).ok()
}

/// Builds a response to `query` (a query as [`encode_query`] makes it) from records given
/// as text-free data; for test servers and fuzzing seeds, not used by the resolver.
pub mod build {
    use super::*;
    use hickory_proto::rr::rdata;

    /// One record to put in a response.
    #[derive(Debug, Clone)]
    pub struct Entry {
        /// Owner name.
        pub name: DomainName,
        /// Time to live.
        pub ttl_secs: u32,
        /// The data.
        pub data: RecordData,
    }

    /// A response with id and question from `query`, `rcode`, these answers, and an SOA
    /// with `negative_ttl_secs` in the authority section when given.
    pub fn response(
        query: &[u8],
        rcode_nxdomain: bool,
        answers: &[Entry],
        negative_ttl_secs: Option<u32>,
        authentic: bool,
        truncated: bool,
    ) -> Option<Vec<u8>> {
        let request = Message::from_vec(query).ok()?;
        let mut message = Message::new(request.metadata.id, MessageType::Response, OpCode::Query);
        message.metadata.recursion_desired = true;
        message.metadata.recursion_available = true;
        message.metadata.authentic_data = authentic;
        message.metadata.truncation = truncated;
        message.metadata.response_code =
            if rcode_nxdomain { ResponseCode::NXDomain } else { ResponseCode::NoError };
        message.add_queries(request.queries.clone());
        if !truncated {
            for entry in answers {
                message.add_answer(Record::from_rdata(
                    wire_name(&entry.name),
                    entry.ttl_secs,
                    wire_rdata(&entry.data),
                ));
            }
        }
        if let (Some(ttl), Some(query)) = (negative_ttl_secs, request.queries.first()) {
            let soa = rdata::SOA::new(Name::root(), Name::root(), 1, 3600, 600, 86400, ttl);
            message.add_authority(Record::from_rdata(query.name().clone(), ttl, RData::SOA(soa)));
        }
        message.to_vec().ok()
    }

    /// A SERVFAIL (or other failure `rcode`) response to `query`.
    pub fn failure(query: &[u8], rcode: u16) -> Option<Vec<u8>> {
        let request = Message::from_vec(query).ok()?;
        let mut message = Message::new(request.metadata.id, MessageType::Response, OpCode::Query);
        message.metadata.response_code = ResponseCode::from(0, rcode as u8);
        message.add_queries(request.queries.clone());
        message.to_vec().ok()
    }

    /// The question of a query built by [`encode_query`], and whether it had EDNS.
    pub fn question_of(query: &[u8]) -> Option<(u16, String, u16, bool)> {
        let request = Message::from_vec(query).ok()?;
        let q = request.queries.first()?;
        let name = q.name().to_ascii();
        Some((request.metadata.id, name, u16::from(q.query_type()), request.edns.is_some()))
    }

    fn wire_rdata(data: &RecordData) -> RData {
        match data {
            RecordData::A(a) => RData::A(rdata::A(*a)),
            RecordData::Aaaa(a) => RData::AAAA(rdata::AAAA(*a)),
            RecordData::Mx { preference, exchange } => RData::MX(rdata::MX::new(
                *preference,
                exchange.as_ref().map(wire_name).unwrap_or_else(Name::root),
            )),
            RecordData::Txt(strings) => {
                RData::TXT(rdata::TXT::from_bytes(strings.iter().map(|s| &s[..]).collect()))
            }
            RecordData::Ptr(name) => RData::PTR(rdata::PTR(wire_name(name))),
            RecordData::Cname(name) => RData::CNAME(rdata::CNAME(wire_name(name))),
            RecordData::Tlsa(t) => RData::TLSA(rdata::TLSA::new(
                t.usage.into(),
                t.selector.into(),
                t.matching.into(),
                t.data.clone(),
            )),
        }
    }
}
