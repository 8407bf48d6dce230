//! The queue actor on the real runtime against scripted SMTP peers on loopback, with a
//! simulated clock (`run_due(now)`; nothing sleeps for a retry): a peer answering 4xx
//! then 2xx, one dropping the connection after DATA, a permanent refusal turned into a
//! DSN delivered to the local sender, and the delay and failure DSNs of a destination
//! that never answers well, two messages to one domain over one connection, and a
//! direct transport that leaves IPv4 out; an opportunistic smarthost carries mail but
//! not a REQUIRETLS message.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use moxide_actors::queue::QUEUE_CONNECTIONS_PER_DOMAIN_DEFAULT;
use moxide_actors::queue::schedule::{ATTEMPTS_MAX, retry_delay_ms};
use moxide_actors::queue::transport::{Route, Routing, Smarthost, SmarthostTls, Transport};
use moxide_actors::queue::{Host, HostSource, QueueRunner, QueueSettings, StaticRoutes};
use moxide_actors::{AccountSpec, Directory, DirectorySpec, DomainSpec, Node, NodeServices, node_seeds};
use moxide_runtime::{RuntimeConfig, run};
use moxide_storage::queue::{
    NewQueued, QUEUE_INLINE_BYTES_MAX, QueueId, QueueStore, QueuedBody, QueuedContent, QueuedMessage,
    QueuedRecipient,
};
use moxide_storage::{DataDir, StoreCache, StoreOptions, Uid};

/// How a scripted peer handles one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    Accept,
    TempRcpt,
    PermRcpt,
    DropAfterData,
    /// Accepts, but at most two recipients per transaction (LIMITS RCPTMAX=2).
    TwoPerTransaction,
    /// Accepts one message, then closes the connection without a word.
    CloseAfterMessage,
    /// Greets, then reads commands without answering until the test lets it go (a
    /// tarpit: RFC 5321 4.5.3.2 gives each reply minutes).
    Stall,
    /// Greets, then reads commands and never answers, until the client goes away.
    Silent,
}

/// Set when a [`Peer::Stall`] peer may close its connections.
static STALL_RELEASED: AtomicBool = AtomicBool::new(false);

/// The messages a peer received, in order.
type Received = Arc<Mutex<Vec<Vec<u8>>>>;

/// A peer on 127.0.0.1 that handles its connections as `script` says (the last entry
/// repeats) and records each message it accepted or read.
fn scripted_peer(script: Vec<Peer>) -> (SocketAddr, Received) {
    let (address, received, _connections) = counting_peer(script);
    (address, received)
}

/// [`scripted_peer`], also counting the connections it accepted.
fn counting_peer(script: Vec<Peer>) -> (SocketAddr, Received, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let received = Arc::new(Mutex::new(Vec::new()));
    let record = Arc::clone(&received);
    let connections = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&connections);
    std::thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            count.fetch_add(1, Ordering::SeqCst);
            let behavior = *script.get(n).or(script.last()).unwrap();
            let Ok(stream) = stream else { return };
            let _ = serve(stream, behavior, &record);
        }
    });
    (address, received, connections)
}

fn serve(stream: std::net::TcpStream, behavior: Peer, record: &Mutex<Vec<Vec<u8>>>) -> std::io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    writer.write_all(b"220 peer.example ESMTP\r\n")?;
    let mut line = String::new();
    let mut accepted = 0;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        if behavior == Peer::Silent {
            continue;
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        if behavior == Peer::Stall && verb != "EHLO" {
            while !STALL_RELEASED.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(20));
            }
            return Ok(());
        }
        let reply: &[u8] = match verb.as_str() {
            "EHLO" if behavior == Peer::TwoPerTransaction => {
                b"250-peer.example\r\n250-PIPELINING\r\n250-LIMITS RCPTMAX=2\r\n250 8BITMIME\r\n"
            }
            "EHLO" => b"250-peer.example\r\n250-PIPELINING\r\n250 8BITMIME\r\n",
            "MAIL" => b"250 2.1.0 ok\r\n",
            "RCPT" if behavior == Peer::TempRcpt => b"451 4.7.1 greylisted, try again\r\n",
            "RCPT" if behavior == Peer::PermRcpt => b"550 5.1.1 no such user\r\n",
            "RCPT" => {
                accepted += 1;
                b"250 2.1.5 ok\r\n"
            }
            "DATA" if accepted == 0 => b"554 5.5.1 no valid recipients\r\n",
            "DATA" => {
                writer.write_all(b"354 go ahead\r\n")?;
                let mut message = Vec::new();
                loop {
                    let mut data = Vec::new();
                    if reader.read_until(b'\n', &mut data)? == 0 {
                        return Ok(());
                    }
                    if data == b".\r\n" {
                        break;
                    }
                    message.extend_from_slice(data.strip_prefix(b".").unwrap_or(&data));
                }
                record.lock().unwrap().push(message);
                accepted = 0;
                if behavior == Peer::DropAfterData {
                    return Ok(());
                }
                if behavior == Peer::CloseAfterMessage {
                    writer.write_all(b"250 2.0.0 queued\r\n")?;
                    return Ok(());
                }
                b"250 2.0.0 queued\r\n"
            }
            "RSET" => {
                accepted = 0;
                b"250 2.0.0 ok\r\n"
            }
            "QUIT" => {
                writer.write_all(b"221 2.0.0 bye\r\n")?;
                return Ok(());
            }
            _ => b"500 5.5.1 what\r\n",
        };
        writer.write_all(reply)?;
    }
}

fn directory(routes: Vec<Route>) -> Arc<Directory> {
    let spec = DirectorySpec {
        domains: vec![DomainSpec { name: "local.example".into(), ..Default::default() }],
        accounts: vec![AccountSpec {
            name: "alice".into(),
            addresses: vec!["alice@local.example".into()],
            ..Default::default()
        }],
        aliases: vec![],
        postmaster_account: "alice".into(),
        routes,
    };
    Arc::new(Directory::new(&spec).unwrap())
}

/// Runs `test` on a one-core runtime with a node and a queue over `data`, routing
/// `remote.example` to `peer`.
fn with_queue<F, Fut>(data: &Path, peer: SocketAddr, test: F)
where
    F: Fn(Node, QueueRunner) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    with_queue_routed(data, peer, (Routing::default(), Vec::new()), test);
}

/// [`with_queue`] with transports and (global) routes, the routes in the directory.
fn with_queue_routed<F, Fut>(data: &Path, peer: SocketAddr, routing: (Routing, Vec<Route>), test: F)
where
    F: Fn(Node, QueueRunner) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    with_queue_peers(data, vec![("remote.example", peer)], routing, test);
}

/// [`with_queue_routed`] with a peer for each of several domains.
fn with_queue_peers<F, Fut>(
    data: &Path,
    peers: Vec<(&'static str, SocketAddr)>,
    (routing, routes): (Routing, Vec<Route>),
    test: F,
) where
    F: Fn(Node, QueueRunner) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let data = DataDir::open(data).unwrap();
    let queue = Arc::new(QueueStore::open(&data, &StoreOptions::default()).unwrap());
    let services = NodeServices {
        stores: Arc::new(StoreCache::new(data.clone(), StoreOptions::default(), 10)),
        directory: directory(routes),
        account_idle: Duration::from_secs(60),
    };
    let done = Arc::new(AtomicBool::new(false));
    let test = Arc::new(test);
    let config = RuntimeConfig { pin_to_cpus: false, ..RuntimeConfig::default() };
    run(&config, node_seeds(1), move |core, seed| {
        let services = services.clone();
        let queue = Arc::clone(&queue);
        let spool_dir = data.spool_dir();
        let test = Arc::clone(&test);
        let done = Arc::clone(&done);
        let routing = routing.clone();
        let peers = peers.clone();
        async move {
            let node = Node::start(core, seed, services).await;
            let routes = StaticRoutes::new(peers.into_iter().map(|(domain, peer)| {
                let host =
                    Host { name: "peer.example".into(), addresses: vec![peer], source: HostSource::Route };
                (domain.to_owned(), host)
            }));
            let settings = QueueSettings {
                hostname: "mx.local.example".into(),
                tls: None,
                policies: None,
                spool_dir,
                retry_jitter_permille_max: 0,
                tls_reports: None,
                dmarc_reports: None,
                routing,
                verified_tls: None,
                connections_per_domain: QUEUE_CONNECTIONS_PER_DOMAIN_DEFAULT,
            };
            let runner = QueueRunner::new(queue, node.clone(), settings, Rc::new(routes));
            test(node, runner).await;
            done.store(true, Ordering::SeqCst);
        }
    })
    .unwrap();
}

const BODY: &[u8] =
    b"From: alice@local.example\r\nTo: bob@remote.example\r\nSubject: hi\r\n\r\n.dot line\r\nhello\r\n";

fn enqueue(data: &Path, store: &QueueStore, recipients: &[&str], now_ms: i64) -> QueueId {
    enqueue_with(data, store, recipients, now_ms, false)
}

fn enqueue_with(
    data: &Path,
    store: &QueueStore,
    recipients: &[&str],
    now_ms: i64,
    requiretls: bool,
) -> QueueId {
    let spool = data.join("tmp").join(format!("spool-{now_ms}-{}", recipients.len()));
    std::fs::write(&spool, BODY).unwrap();
    let new = new_queued(QueuedContent::File(spool.clone()), BODY.len(), recipients, now_ms, requiretls);
    let id = store.enqueue(&[new]).unwrap()[0];
    std::fs::remove_file(spool).unwrap();
    id
}

/// Queues `body` inline (in the queue's database, as a session does for a small
/// submitted message).
fn enqueue_inline(store: &QueueStore, recipients: &[&str], now_ms: i64, body: &[u8]) -> QueueId {
    store.enqueue(&[inline(recipients, now_ms, body)]).unwrap()[0]
}

fn inline(recipients: &[&str], now_ms: i64, body: &[u8]) -> NewQueued {
    new_queued(QueuedContent::Inline(Arc::from(body)), body.len(), recipients, now_ms, false)
}

fn new_queued(
    content: QueuedContent,
    size: usize,
    recipients: &[&str],
    now_ms: i64,
    requiretls: bool,
) -> NewQueued {
    NewQueued {
        content,
        message: QueuedMessage {
            id: QueueId(0),
            queued_ms: now_ms,
            sender_account: "alice".into(),
            mail_from: "alice@local.example".into(),
            size_bytes: size as u64,
            prefix: b"Received: from test\r\n".to_vec(),
            smtputf8: false,
            body: QueuedBody::SevenBit,
            requiretls,
            envid: None,
            return_headers_only: false,
            to_junk: false,
            tls_optional: false,
            tls_report: false,
        },
        recipients: recipients
            .iter()
            .map(|r| QueuedRecipient {
                address: (*r).into(),
                notify: None,
                original: None,
                last_result: None,
                account: None,
            })
            .collect(),
        first_attempt_ms: now_ms,
        held: false,
        send_quota: None,
    }
}

/// Messages in alice's inbox, as bytes.
fn inbox(node: &Node) -> Vec<Vec<u8>> {
    let store = node.stores().get("alice").unwrap();
    let infos = store
        .read(|view| {
            let inbox = view.mailbox_by_name("INBOX")?.unwrap();
            view.messages(inbox.id, Uid(1), Uid(u32::MAX))
        })
        .unwrap();
    infos.iter().map(|info| std::fs::read(store.message_path(info.id)).unwrap()).collect()
}

const T0: i64 = 1_800_000_000_000;

#[test]
fn a_temporary_refusal_is_retried_on_schedule_then_delivered() {
    let temp = tempfile::tempdir().unwrap();
    let (peer, received) = scripted_peer(vec![Peer::TempRcpt, Peer::Accept]);
    let data = temp.path().to_path_buf();
    with_queue(temp.path(), peer, move |_node, queue| {
        let data = data.clone();
        let received = Arc::clone(&received);
        async move {
            let id = enqueue(&data, queue.store(), &["bob@remote.example"], T0);
            assert_eq!(queue.run_due(T0).await.unwrap(), 1);
            let destination = queue.store().destinations(id).unwrap().remove(0);
            assert_eq!(destination.attempts, 1);
            assert_eq!(destination.next_attempt_ms, T0 + retry_delay_ms(1));
            assert_eq!(destination.recipients[0].last_result.as_ref().unwrap().code, 451);
            assert_eq!(queue.run_due(T0 + retry_delay_ms(1) - 1).await.unwrap(), 0, "not due yet");
            assert_eq!(queue.run_due(T0 + retry_delay_ms(1)).await.unwrap(), 1);
            assert_eq!(queue.store().message(id).unwrap(), None, "delivered and removed");
            let path = queue.store().message_path(id);
            eventually("the delivered message's file removed", || !path.exists()).await;
            let received = received.lock().unwrap();
            assert_eq!(received.len(), 1);
            assert_eq!(received[0], [b"Received: from test\r\n".as_slice(), BODY].concat());
        }
    });
}

/// Waits (up to 10 s) until `check` holds: a [`counting_peer`] reached, or what the queue
/// store does just after a commit's results are out (removing files and kept bytes of
/// messages that left).
async fn eventually(what: &str, check: impl Fn() -> bool) {
    for _ in 0..1000 {
        if check() {
            return;
        }
        moxide_runtime::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("not within 10 s: {what}");
}

/// The run loop does not hold every domain's mail behind a slow one: a message queued
/// while another domain's receiver stalls mid-transaction goes out at the next look.
#[test]
fn a_stalled_domain_does_not_hold_up_another() {
    let temp = tempfile::tempdir().unwrap();
    let (slow, _, slow_connections) = counting_peer(vec![Peer::Stall]);
    let (fast, received, _) = counting_peer(vec![Peer::Accept]);
    let data = temp.path().to_path_buf();
    let peers = vec![("slow.example", slow), ("remote.example", fast)];
    with_queue_peers(temp.path(), peers, (Routing::default(), Vec::new()), move |_node, queue| {
        let data = data.clone();
        let received = Arc::clone(&received);
        let slow_connections = Arc::clone(&slow_connections);
        async move {
            let now = moxide_actors::clock::now_unix_ms;
            let stalled = enqueue(&data, queue.store(), &["bob@slow.example"], now());
            let store = Arc::clone(queue.store());
            let runner = moxide_runtime::spawn(queue.run());
            eventually("the slow peer reached", || slow_connections.load(Ordering::SeqCst) > 0).await;
            let prompt = enqueue(&data, &store, &["carol@remote.example"], now() + 1);
            let mut ticks = 0;
            while received.lock().unwrap().is_empty() {
                ticks += 1;
                assert!(ticks < 250, "the other domain's message waited for the stalled one");
                moxide_runtime::time::sleep(Duration::from_millis(20)).await;
            }
            // The peer has the message; the queue records the result just after.
            eventually("delivered and recorded", || store.message(prompt).unwrap().is_none()).await;
            assert!(store.message(stalled).unwrap().is_some(), "still under way");
            STALL_RELEASED.store(true, Ordering::SeqCst);
            moxide_runtime::shutdown::notice().begin(Duration::from_secs(10));
            runner.await;
            let destinations = store.destinations(stalled).unwrap();
            assert_eq!(destinations.len(), 1, "the stalled message stays queued, to be retried");
            assert_eq!(destinations[0].attempts, 1);
        }
    });
}

/// At shutdown the queue waits for the attempts under way only until the grace ends: a
/// receiver that never answers does not hold the process, and its message stays queued
/// as it was (the unfinished attempt is not recorded), to be attempted again.
#[test]
fn an_attempt_past_the_grace_is_left_and_its_message_stays_queued() {
    let temp = tempfile::tempdir().unwrap();
    let (silent, _, connections) = counting_peer(vec![Peer::Silent]);
    let data = temp.path().to_path_buf();
    with_queue(temp.path(), silent, move |_node, queue| {
        let data = data.clone();
        let connections = Arc::clone(&connections);
        async move {
            let id =
                enqueue(&data, queue.store(), &["bob@remote.example"], moxide_actors::clock::now_unix_ms());
            let store = Arc::clone(queue.store());
            let runner = moxide_runtime::spawn(queue.run());
            eventually("the silent peer reached", || connections.load(Ordering::SeqCst) > 0).await;
            let grace = Duration::from_millis(300);
            let began = std::time::Instant::now();
            moxide_runtime::shutdown::notice().begin(grace);
            runner.await;
            let waited = began.elapsed();
            assert!(waited >= grace, "{waited:?}: the queue stopped before the grace ended");
            assert!(waited < Duration::from_secs(10), "{waited:?}: the silent receiver held the shutdown");
            let destinations = store.destinations(id).unwrap();
            assert_eq!(destinations.len(), 1, "the message stays queued");
            assert_eq!(destinations[0].attempts, 0, "the unfinished attempt is not recorded");
        }
    });
}

#[test]
fn messages_to_one_domain_share_connections() {
    let temp = tempfile::tempdir().unwrap();
    let (peer, received, connections) = counting_peer(vec![Peer::Accept]);
    let data = temp.path().to_path_buf();
    with_queue(temp.path(), peer, move |_node, queue| {
        let data = data.clone();
        let received = Arc::clone(&received);
        let connections = Arc::clone(&connections);
        async move {
            // One more message than connections: one connection carries two, RSET between.
            let lanes = QUEUE_CONNECTIONS_PER_DOMAIN_DEFAULT;
            let first = enqueue(&data, queue.store(), &["bob@remote.example"], T0);
            let second = enqueue(&data, queue.store(), &["carol@remote.example", "dave@remote.example"], T0);
            for n in 2..=lanes {
                enqueue(&data, queue.store(), &[&format!("r{n}@remote.example")], T0);
            }
            assert_eq!(queue.run_due(T0).await.unwrap(), lanes + 1);
            assert_eq!(queue.store().message(first).unwrap(), None, "delivered");
            assert_eq!(queue.store().message(second).unwrap(), None, "delivered");
            assert_eq!(received.lock().unwrap().len(), lanes + 1);
            assert_eq!(connections.load(Ordering::SeqCst), lanes, "one connection reused");
            // The next run opens a new one (the kept connections ended with the run).
            enqueue(&data, queue.store(), &["erin@remote.example"], T0 + 1);
            assert_eq!(queue.run_due(T0 + 1).await.unwrap(), 1);
            assert_eq!(received.lock().unwrap().len(), lanes + 2);
            assert_eq!(connections.load(Ordering::SeqCst), lanes + 1);
        }
    });
}

#[test]
fn a_kept_connection_the_peer_closed_is_replaced_at_once() {
    let temp = tempfile::tempdir().unwrap();
    let (peer, received, connections) = counting_peer(vec![Peer::CloseAfterMessage, Peer::Accept]);
    let data = temp.path().to_path_buf();
    with_queue(temp.path(), peer, move |_node, queue| {
        let data = data.clone();
        let received = Arc::clone(&received);
        let connections = Arc::clone(&connections);
        async move {
            let first = enqueue(&data, queue.store(), &["bob@remote.example"], T0);
            let second = enqueue(&data, queue.store(), &["carol@remote.example", "dave@remote.example"], T0);
            assert_eq!(queue.run_due(T0).await.unwrap(), 2);
            assert_eq!(queue.store().message(first).unwrap(), None, "delivered");
            assert_eq!(
                queue.store().message(second).unwrap(),
                None,
                "delivered on a new connection, not retried later"
            );
            assert_eq!(received.lock().unwrap().len(), 2, "each message once");
            assert_eq!(connections.load(Ordering::SeqCst), 2);
        }
    });
}

#[test]
fn a_direct_transport_without_ipv4_leaves_ipv4_hosts_alone() {
    let temp = tempfile::tempdir().unwrap();
    let (peer, received) = scripted_peer(vec![Peer::Accept]);
    let data = temp.path().to_path_buf();
    let transports = HashMap::from([("v6".to_owned(), Transport::Direct { ipv4: false, ipv6: true })]);
    let route =
        Route { transport: "v6".into(), to_domains: vec!["remote.example".into()], ..Route::default() };
    let routing = (Routing::new(transports), vec![route]);
    with_queue_routed(temp.path(), peer, routing, move |_node, queue| {
        let data = data.clone();
        let received = Arc::clone(&received);
        async move {
            let id = enqueue(&data, queue.store(), &["bob@remote.example"], T0);
            assert_eq!(queue.run_due(T0).await.unwrap(), 1);
            let destination = queue.store().destinations(id).unwrap().remove(0);
            let result = destination.recipients[0].last_result.clone().unwrap();
            assert_eq!(result.code, 451, "retried");
            assert!(result.text.contains("allowed family"), "{}", result.text);
            assert!(received.lock().unwrap().is_empty(), "the IPv4 peer was not used");
        }
    });
}

#[test]
fn a_connection_dropped_after_data_is_retried_not_lost() {
    let temp = tempfile::tempdir().unwrap();
    let (peer, received) = scripted_peer(vec![Peer::DropAfterData, Peer::Accept]);
    let data = temp.path().to_path_buf();
    with_queue(temp.path(), peer, move |_node, queue| {
        let data = data.clone();
        let received = Arc::clone(&received);
        async move {
            let id = enqueue(&data, queue.store(), &["bob@remote.example"], T0);
            assert_eq!(queue.run_due(T0).await.unwrap(), 1);
            assert!(queue.store().message(id).unwrap().is_some(), "kept for a retry");
            assert_eq!(queue.run_due(T0 + retry_delay_ms(1)).await.unwrap(), 1);
            assert_eq!(queue.store().message(id).unwrap(), None);
            // At least once: the peer read it twice (it never confirmed the first).
            assert_eq!(received.lock().unwrap().len(), 2);
        }
    });
}

/// An inline message (no file) is sent from the copy the store keeps in memory, or from
/// the queue's database once that copy was evicted; the copy goes once it is delivered,
/// and no file is ever made in the queue.
#[test]
fn inline_messages_are_sent_from_memory_or_from_the_database() {
    let temp = tempfile::tempdir().unwrap();
    let (peer, received) = scripted_peer(vec![Peer::Accept]);
    let data = temp.path().to_path_buf();
    with_queue(temp.path(), peer, move |_node, queue| {
        let data = data.clone();
        let received = Arc::clone(&received);
        async move {
            let store = queue.store();
            let evicted = enqueue_inline(store, &["bob@remote.example"], T0, BODY);
            // Later messages, due later, past the bound of the kept copies (16 MiB).
            let large = vec![b'x'; QUEUE_INLINE_BYTES_MAX];
            let later: Vec<NewQueued> =
                (0..257).map(|_| inline(&["x@later.example"], T0 + 3_600_000, &large)).collect();
            store.enqueue(&later).unwrap();
            assert!(store.remembered(evicted).is_none(), "the oldest copy went first");
            let kept = enqueue_inline(store, &["carol@remote.example"], T0 + 1, BODY);
            assert!(store.remembered(kept).is_some());
            assert_eq!(queue.run_due(T0 + 1).await.unwrap(), 2);
            assert_eq!(store.message(evicted).unwrap(), None, "delivered");
            assert_eq!(store.message(kept).unwrap(), None, "delivered");
            eventually("the kept bytes dropped once delivered", || store.remembered(kept).is_none()).await;
            let received = received.lock().unwrap();
            assert_eq!(received.len(), 2);
            for message in received.iter() {
                assert_eq!(
                    message.as_slice(),
                    [&b"Received: from test\r\n"[..], BODY].concat(),
                    "prefix and bytes as queued"
                );
            }
            let files = std::fs::read_dir(data.join("queue/msg")).unwrap().count();
            assert_eq!(files, 0, "no message directory, no file");
        }
    });
}

#[test]
fn a_permanent_refusal_sends_a_dsn_to_the_local_sender() {
    let temp = tempfile::tempdir().unwrap();
    let (peer, _received) = scripted_peer(vec![Peer::PermRcpt]);
    let data = temp.path().to_path_buf();
    with_queue(temp.path(), peer, move |node, queue| {
        let data = data.clone();
        async move {
            let id = enqueue(&data, queue.store(), &["bob@remote.example"], T0);
            assert_eq!(queue.run_due(T0).await.unwrap(), 1);
            assert_eq!(queue.store().message(id).unwrap(), None);
            // The DSN was queued with the result; delivering it is the next run.
            let listed = queue.store().list().unwrap();
            assert_eq!(listed.len(), 1);
            assert_eq!(listed[0].0.mail_from, "", "DSNs come from the null path");
            assert_eq!(queue.run_due(T0).await.unwrap(), 1);
            assert!(queue.store().list().unwrap().is_empty());
            let inbox = inbox(&node);
            assert_eq!(inbox.len(), 1);
            let dsn = String::from_utf8(inbox[0].clone()).unwrap();
            assert!(dsn.contains("report-type=delivery-status"), "{dsn}");
            assert!(
                dsn.contains("Final-Recipient: rfc822; bob@remote.example\r\nAction: failed\r\n"),
                "{dsn}"
            );
            assert!(dsn.contains("Diagnostic-Code: smtp; 550 5.1.1 no such user"), "{dsn}");
            assert!(dsn.contains("Remote-MTA: dns; peer.example"), "{dsn}");
            assert!(dsn.contains("Subject: hi\r\n"), "the original header is returned: {dsn}");
        }
    });
}

#[test]
fn a_destination_that_keeps_failing_gets_a_delay_dsn_then_a_failure_dsn() {
    let temp = tempfile::tempdir().unwrap();
    let (peer, _received) = scripted_peer(vec![Peer::TempRcpt]);
    let data = temp.path().to_path_buf();
    with_queue(temp.path(), peer, move |node, queue| {
        let data = data.clone();
        async move {
            let id = enqueue(&data, queue.store(), &["bob@remote.example"], T0);
            let mut now = T0;
            for attempt in 1..=ATTEMPTS_MAX {
                // Each run also delivers any DSN queued by the previous one (local).
                assert!(queue.run_due(now).await.unwrap() >= 1, "attempt {attempt}");
                now += retry_delay_ms(attempt);
            }
            assert_eq!(queue.store().message(id).unwrap(), None, "given up after {ATTEMPTS_MAX} attempts");
            while queue.run_due(now).await.unwrap() > 0 {}
            let inbox: Vec<String> =
                inbox(&node).into_iter().map(|m| String::from_utf8(m).unwrap()).collect();
            assert_eq!(inbox.len(), 2, "one delay DSN, one failure DSN");
            assert!(inbox[0].contains("Action: delayed\r\n") && inbox[0].contains("Will-Retry-Until: "));
            assert!(inbox[1].contains("Action: failed\r\nStatus: 4.7.1\r\n"), "{}", inbox[1]);
        }
    });
}

#[test]
fn requiretls_is_failed_not_sent_without_verified_tls() {
    let temp = tempfile::tempdir().unwrap();
    let (peer, received) = scripted_peer(vec![Peer::Accept]);
    let data = temp.path().to_path_buf();
    with_queue(temp.path(), peer, move |node, queue| {
        let data = data.clone();
        let received = Arc::clone(&received);
        async move {
            enqueue_with(&data, queue.store(), &["bob@remote.example"], T0, true);
            while queue.run_due(T0).await.unwrap() > 0 {}
            assert!(received.lock().unwrap().is_empty(), "never sent");
            let inbox = inbox(&node);
            assert_eq!(inbox.len(), 1);
            assert!(String::from_utf8_lossy(&inbox[0]).contains("Status: 5.7.30"));
        }
    });
}

/// Everything through an opportunistic `smtp` smarthost at `peer` (by IP address).
fn through_relay(peer: SocketAddr) -> (Routing, Vec<Route>) {
    let relay = Smarthost {
        host: peer.ip().to_string(),
        port: peer.port(),
        tls: SmarthostTls::StartTlsOpportunistic,
        auth: None,
    };
    let transports = HashMap::from([("relay".to_owned(), Transport::Smarthost(relay))]);
    let route = Route { transport: "relay".into(), ..Route::default() };
    (Routing::new(transports), vec![route])
}

#[test]
fn an_unverified_smarthost_carries_mail_but_not_requiretls() {
    let temp = tempfile::tempdir().unwrap();
    let (relay, received) = scripted_peer(vec![Peer::Accept]);
    // The fixed route's peer refuses everything: only the relay can deliver.
    let (refusing, _) = scripted_peer(vec![Peer::PermRcpt]);
    let data = temp.path().to_path_buf();
    with_queue_routed(temp.path(), refusing, through_relay(relay), move |node, queue| {
        let data = data.clone();
        let received = Arc::clone(&received);
        async move {
            let plain = enqueue(&data, queue.store(), &["bob@remote.example"], T0);
            enqueue_with(&data, queue.store(), &["carol@remote.example"], T0 + 1, true);
            while queue.run_due(T0 + 1).await.unwrap() > 0 {}
            assert_eq!(queue.store().message(plain).unwrap(), None, "delivered through the relay");
            assert_eq!(received.lock().unwrap().len(), 1, "the REQUIRETLS message never went out");
            let inbox = inbox(&node);
            assert_eq!(inbox.len(), 1, "one DSN");
            let dsn = String::from_utf8_lossy(&inbox[0]).to_string();
            assert!(dsn.contains("Status: 5.7.30"), "{dsn}");
            assert!(dsn.contains(&format!("Remote-MTA: dns; {}", relay.ip())), "{dsn}");
        }
    });
}

#[test]
fn recipients_past_the_peer_s_rcptmax_go_in_a_second_transaction() {
    let temp = tempfile::tempdir().unwrap();
    let (peer, received) = scripted_peer(vec![Peer::TwoPerTransaction]);
    let data = temp.path().to_path_buf();
    with_queue(temp.path(), peer, move |_node, queue| {
        let data = data.clone();
        let received = Arc::clone(&received);
        async move {
            let recipients = ["a@remote.example", "b@remote.example", "c@remote.example"];
            let id = enqueue(&data, queue.store(), &recipients, T0);
            assert_eq!(queue.run_due(T0).await.unwrap(), 1);
            assert_eq!(queue.store().message(id).unwrap(), None, "all three delivered");
            assert_eq!(received.lock().unwrap().len(), 2, "two transactions: 2 + 1 recipients");
        }
    });
}
