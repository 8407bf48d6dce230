//! The per-core DNS client on the real runtime against fake DNS servers on loopback
//! (threads with std sockets answering with the protocols crate's response builder):
//! cache hits, negative caching, TTL expiry, in-flight de-duplication, a silent server
//! followed by a working one, truncation answered over TCP, and the authentication
//! checks resolving through it.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moxide_actors::dns::{Dns, DnsSettings};
use moxide_protocols::dns::message::build::{self, Entry};
use moxide_protocols::dns::{
    DomainName, ExchangeConfig, NameServer, Question, RecordData, RecordType, Resolver,
};
use moxide_runtime::{RuntimeConfig, run};

/// How the fake server answers.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Answers with the zone.
    Answer,
    /// Never answers.
    Silent,
    /// Sets TC over UDP; answers over TCP.
    Truncate,
}

struct FakeServer {
    address: SocketAddr,
    udp_queries: Arc<AtomicU32>,
    tcp_queries: Arc<AtomicU32>,
}

/// Zone: TXT at `*.example` with TTL 1 for names starting with `short`, 300 otherwise;
/// `nx.example` does not exist (SOA minimum 60).
fn respond(query: &[u8], truncated: bool) -> Option<Vec<u8>> {
    let (_, name, _, _) = build::question_of(query)?;
    let name = name.trim_end_matches('.').to_string();
    if name.starts_with("nx.") {
        return build::response(query, true, &[], Some(60), false, false);
    }
    let ttl = if name.starts_with("short") { 1 } else { 300 };
    let entry = Entry {
        name: DomainName::parse(&name).ok()?,
        ttl_secs: ttl,
        data: RecordData::Txt(vec![format!("text for {name}").into_bytes().into()]),
    };
    build::response(query, false, &[entry], None, false, truncated)
}

fn fake_server(mode: Mode, delay: Duration) -> FakeServer {
    // DNS over TCP uses the UDP server's port; the kernel picked that port for UDP only,
    // so another test may hold it for TCP: try again with a new port then.
    let (socket, listener) = (0..100)
        .find_map(|_| {
            let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
            let listener = TcpListener::bind(socket.local_addr().unwrap()).ok()?;
            Some((socket, listener))
        })
        .expect("a port free for both UDP and TCP");
    let address = socket.local_addr().unwrap();
    let udp_queries = Arc::new(AtomicU32::new(0));
    let tcp_queries = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&udp_queries);
    std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while let Ok((n, from)) = socket.recv_from(&mut buf) {
            counter.fetch_add(1, Ordering::SeqCst);
            if mode == Mode::Silent {
                continue;
            }
            std::thread::sleep(delay);
            if let Some(reply) = respond(&buf[..n], mode == Mode::Truncate) {
                let _ = socket.send_to(&reply, from);
            }
        }
    });
    let counter = Arc::clone(&tcp_queries);
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            counter.fetch_add(1, Ordering::SeqCst);
            let mut prefix = [0u8; 2];
            if stream.read_exact(&mut prefix).is_err() {
                continue;
            }
            let mut query = vec![0u8; usize::from(u16::from_be_bytes(prefix))];
            if stream.read_exact(&mut query).is_err() {
                continue;
            }
            if let Some(reply) = respond(&query, false) {
                let _ = stream.write_all(&(reply.len() as u16).to_be_bytes());
                let _ = stream.write_all(&reply);
            }
        }
    });
    FakeServer { address, udp_queries, tcp_queries }
}

fn settings(servers: &[SocketAddr], attempt_timeout_ms: u64) -> DnsSettings {
    let servers = servers.iter().map(|&address| NameServer { address, trust_ad: false }).collect();
    DnsSettings {
        exchange: Arc::new(ExchangeConfig { servers, attempts: 2, attempt_timeout_ms }),
        cache_entries_max: 100,
    }
}

fn on_runtime<F, Fut>(test: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let config = RuntimeConfig { pin_to_cpus: false, ..RuntimeConfig::default() };
    let test = Mutex::new(Some(test));
    run(&config, vec![()], move |_, ()| {
        let test = test.lock().unwrap().take().unwrap();
        test()
    })
    .unwrap();
}

fn txt(name: &str) -> Question {
    Question::new(DomainName::parse(name).unwrap(), RecordType::Txt)
}

#[test]
fn cache_hits_negative_answers_and_expiry() {
    let server = fake_server(Mode::Answer, Duration::ZERO);
    let queries = Arc::clone(&server.udp_queries);
    let address = server.address;
    on_runtime(move || async move {
        let dns = Dns::new(settings(&[address], 2000));
        let answer = dns.lookup(&txt("a.example")).await.unwrap();
        assert_eq!(answer.records[0].txt_joined(), b"text for a.example");
        dns.lookup(&txt("a.example")).await.unwrap();
        assert_eq!(queries.load(Ordering::SeqCst), 1, "second lookup from the cache");
        let negative = dns.lookup(&txt("nx.example")).await.unwrap();
        assert!(negative.nxdomain);
        dns.lookup(&txt("nx.example")).await.unwrap();
        assert_eq!(queries.load(Ordering::SeqCst), 2, "negative answer cached (RFC 2308)");
        dns.lookup(&txt("short.example")).await.unwrap();
        moxide_runtime::time::sleep(Duration::from_millis(1100)).await;
        dns.lookup(&txt("short.example")).await.unwrap();
        assert_eq!(queries.load(Ordering::SeqCst), 4, "expired after its 1 s TTL");
        let stats = dns.stats();
        assert_eq!((stats.cache.hits, stats.exchanges), (2, 4));
    });
}

#[test]
fn concurrent_lookups_share_one_query() {
    let server = fake_server(Mode::Answer, Duration::from_millis(100));
    let queries = Arc::clone(&server.udp_queries);
    let address = server.address;
    on_runtime(move || async move {
        let dns = Dns::new(settings(&[address], 2000));
        let question = txt("shared.example");
        let lookups = (0..5).map(|_| dns.lookup(&question));
        let results = moxide_actors::kernel::join_all(lookups.collect::<Vec<_>>()).await;
        assert!(results.iter().all(|r| r.is_ok()));
        assert_eq!(queries.load(Ordering::SeqCst), 1);
        assert_eq!(dns.stats().joined, 4);
    });
}

#[test]
fn silent_server_then_working_one_and_tcp_after_truncation() {
    let silent = fake_server(Mode::Silent, Duration::ZERO);
    let truncating = fake_server(Mode::Truncate, Duration::ZERO);
    let silent_queries = Arc::clone(&silent.udp_queries);
    let tcp_queries = Arc::clone(&truncating.tcp_queries);
    let addresses = [silent.address, truncating.address];
    on_runtime(move || async move {
        let dns = Dns::new(settings(&addresses, 200));
        let started = std::time::Instant::now();
        let answer = dns.lookup(&txt("big.example")).await.unwrap();
        assert_eq!(answer.records[0].txt_joined(), b"text for big.example");
        // Deadlines are kept in whole milliseconds of the monotonic clock, so the wait
        // may end up to a millisecond or so before 200 ms of `Instant` have passed.
        assert!(started.elapsed() >= Duration::from_millis(190), "waited for the silent server");
        assert_eq!(silent_queries.load(Ordering::SeqCst), 1);
        assert_eq!(tcp_queries.load(Ordering::SeqCst), 1, "asked again over TCP");
    });
}

#[test]
fn no_answer_at_all_is_a_timeout() {
    let silent = fake_server(Mode::Silent, Duration::ZERO);
    let queries = Arc::clone(&silent.udp_queries);
    let address = silent.address;
    on_runtime(move || async move {
        let dns = Dns::new(settings(&[address], 100));
        let result = dns.lookup(&txt("lost.example")).await;
        assert_eq!(result.unwrap_err(), moxide_protocols::dns::ResolveError::Timeout);
        assert_eq!(queries.load(Ordering::SeqCst), 2, "two attempts");
        // The failure is remembered briefly: no new queries.
        let _ = dns.lookup(&txt("lost.example")).await;
        assert_eq!(queries.load(Ordering::SeqCst), 2);
    });
}
