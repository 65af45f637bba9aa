//! The bulk engine: a few long-lived UDP sockets shared by every query.
//!
//! - Each socket has one receiver task; replies are matched in an in-flight
//!   table keyed by (socket, id) and accepted only when the question and the
//!   server match too (stray, mismatched and spoofed replies are dropped).
//! - One timer task drives retransmission for all queries (a deadline heap,
//!   no task or timer per query): the retransmission timeout starts at four
//!   times the server's smoothed round-trip time (at least `min_rto`; 500 ms
//!   before any was measured) and doubles up to `timeout`; retransmissions
//!   go round the servers. A query gives up after `timeout x attempts`, as
//!   the stub engine does. The rules are [`crate::rto::RetryPolicy`]'s.
//! - SERVFAIL, REFUSED or a malformed reply moves on to a server not yet
//!   asked, when there is one; a truncated reply is asked again over TCP.
//! - An optional `qps` ceiling paces first transmissions.
//!
//! Verdicts are the same as with [`crate::StubTransport`]; only the speed
//! differs.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::rto::{Retransmission, RetryPolicy, SmoothedRtt, Step};
use crate::transport::{
    build_query, exchange_tcp, matches_request, Reply, ReplyFuture, Transport, TransportStats,
};

/// Settings of the bulk engine.
#[derive(Clone, Debug)]
pub struct BulkConfig {
    /// The servers; queries start round-robin and retransmissions move on.
    pub servers: Vec<SocketAddr>,
    /// The longest retransmission timeout.
    pub timeout: Duration,
    /// A query gives up after `timeout x attempts`.
    pub attempts: u32,
    /// How many UDP sockets to spread queries over.
    pub sockets: usize,
    /// The shortest retransmission timeout.
    pub min_rto: Duration,
    /// At most this many first transmissions per second (all servers).
    pub qps: Option<u32>,
}

impl BulkConfig {
    /// Defaults for `servers`: 3 s timeout, 2 attempts, 4 sockets, 100 ms
    /// minimum retransmission timeout, no rate ceiling.
    pub fn new(servers: Vec<SocketAddr>) -> BulkConfig {
        BulkConfig {
            servers,
            timeout: Duration::from_secs(3),
            attempts: 2,
            sockets: 4,
            min_rto: Duration::from_millis(100),
            qps: None,
        }
    }
}

struct Entry {
    bytes: Vec<u8>,
    request: Message,
    server: usize,
    tried: u64,
    sent_at: Instant,
    retransmitted: bool,
    retry: Retransmission,
    generation: u32,
    last_failure: Option<Reply>,
    tx: oneshot::Sender<Reply>,
}

type Key = (usize, u16);

#[derive(Default)]
struct Table {
    entries: HashMap<Key, Entry>,
    timers: BinaryHeap<Reverse<(Instant, usize, u16, u32)>>,
}

struct Shared {
    config: BulkConfig,
    sockets: Vec<Arc<UdpSocket>>,
    table: Mutex<Table>,
    policy: RetryPolicy,
    srtt: Vec<SmoothedRtt>,
    next_server: AtomicUsize,
    next_socket: AtomicUsize,
    pacer: Mutex<Instant>,
    sent: AtomicU64,
    retransmits: AtomicU64,
    unmatched: AtomicU64,
    tcp: AtomicU64,
}

/// The bulk transport; dropping it stops its tasks.
pub struct BulkTransport {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for BulkTransport {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Receive buffer asked of the kernel for each socket.
const RCVBUF: usize = 8 << 20;

fn bind_socket(v6: bool) -> io::Result<UdpSocket> {
    let domain = if v6 {
        socket2::Domain::IPV6
    } else {
        socket2::Domain::IPV4
    };
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    // Best effort: the kernel caps it at net.core.rmem_max.
    let _ = socket.set_recv_buffer_size(RCVBUF);
    let _ = socket.set_send_buffer_size(RCVBUF / 4);
    socket.set_nonblocking(true)?;
    let any: SocketAddr = if v6 {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    };
    socket.bind(&any.into())?;
    UdpSocket::from_std(socket.into())
}

impl BulkTransport {
    /// Opens the sockets and starts the receiver and timer tasks (needs a
    /// Tokio runtime).
    pub fn new(config: BulkConfig) -> io::Result<BulkTransport> {
        if config.servers.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no DNS server configured",
            ));
        }
        if config.servers.len() > 64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "at most 64 DNS servers",
            ));
        }
        let v6 = config
            .servers
            .iter()
            .any(|s| matches!(s.ip(), IpAddr::V6(_)));
        let v4 = config
            .servers
            .iter()
            .any(|s| matches!(s.ip(), IpAddr::V4(_)));
        if v6 && v4 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the bulk engine takes IPv4 or IPv6 resolvers, not both; use --dns-engine stub",
            ));
        }
        let sockets = (0..config.sockets.clamp(1, 64))
            .map(|_| bind_socket(v6).map(Arc::new))
            .collect::<io::Result<Vec<_>>>()?;
        let shared = Arc::new(Shared {
            srtt: config
                .servers
                .iter()
                .map(|_| SmoothedRtt::default())
                .collect(),
            policy: RetryPolicy::new(config.timeout, config.attempts, config.min_rto),
            config: BulkConfig {
                attempts: config.attempts.max(1),
                ..config
            },
            sockets,
            table: Mutex::new(Table::default()),
            next_server: AtomicUsize::new(0),
            next_socket: AtomicUsize::new(0),
            pacer: Mutex::new(Instant::now()),
            sent: AtomicU64::new(0),
            retransmits: AtomicU64::new(0),
            unmatched: AtomicU64::new(0),
            tcp: AtomicU64::new(0),
        });
        let mut tasks: Vec<JoinHandle<()>> = (0..shared.sockets.len())
            .map(|i| tokio::spawn(receive(shared.clone(), i)))
            .collect();
        tasks.push(tokio::spawn(timers(Arc::downgrade(&shared))));
        Ok(BulkTransport { shared, tasks })
    }

    async fn ask(&self, name: &Name, rtype: RecordType) -> Reply {
        let s = &self.shared;
        if let Some(qps) = s.config.qps {
            let slot = {
                let mut next = s.pacer.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                let slot = (*next).max(now);
                *next = slot + Duration::from_secs_f64(1.0 / f64::from(qps.max(1)));
                slot
            };
            tokio::time::sleep_until(slot).await;
        }
        let (tx, rx) = oneshot::channel();
        let socket = s.next_socket.fetch_add(1, Ordering::Relaxed) % s.sockets.len();
        let server = s.next_server.fetch_add(1, Ordering::Relaxed) % s.config.servers.len();
        let now = Instant::now();
        let retry = s.policy.start(now, s.srtt[server].get());
        let mut request = build_query(name, rtype);
        let bytes = {
            let mut table = s.table.lock().unwrap_or_else(|p| p.into_inner());
            let mut id: u16 = rand::random();
            while table.entries.contains_key(&(socket, id)) {
                id = rand::random();
            }
            request.metadata.id = id;
            let Ok(bytes) = request.to_vec() else {
                return Reply::Malformed("could not encode the query".into());
            };
            table
                .timers
                .push(Reverse((retry.timer_after(now), socket, id, 0)));
            table.entries.insert(
                (socket, id),
                Entry {
                    bytes: bytes.clone(),
                    request,
                    server,
                    tried: 1 << server,
                    sent_at: now,
                    retransmitted: false,
                    retry,
                    generation: 0,
                    last_failure: None,
                    tx,
                },
            );
            bytes
        };
        s.sent.fetch_add(1, Ordering::Relaxed);
        // A failed send is a lost datagram: the timer retransmits.
        let _ = s.sockets[socket]
            .send_to(&bytes, s.config.servers[server])
            .await;
        rx.await
            .unwrap_or_else(|_| Reply::Malformed("the DNS engine stopped".into()))
    }
}

impl Shared {
    /// Picks the next server for a retransmission: one not tried yet when
    /// `untried_only`, else simply the next one round.
    fn next_server(&self, e: &Entry, untried_only: bool) -> Option<usize> {
        let n = self.config.servers.len();
        (1..=n)
            .map(|k| (e.server + k) % n)
            .find(|s| !untried_only || e.tried & (1 << s) == 0)
    }
}

impl Transport for BulkTransport {
    fn query<'a>(&'a self, name: &'a Name, rtype: RecordType) -> ReplyFuture<'a> {
        Box::pin(self.ask(name, rtype))
    }

    fn stats(&self) -> TransportStats {
        let s = &self.shared;
        TransportStats {
            sent: s.sent.load(Ordering::Relaxed),
            retransmits: s.retransmits.load(Ordering::Relaxed),
            unmatched: s.unmatched.load(Ordering::Relaxed),
            tcp: s.tcp.load(Ordering::Relaxed),
        }
    }
}

/// What the receiver decided for one reply, done after the lock is dropped.
enum Action {
    Nothing,
    Send(usize, Vec<u8>, SocketAddr),
    Tcp(SocketAddr, Message, oneshot::Sender<Reply>),
}

async fn receive(shared: Arc<Shared>, index: usize) {
    let socket = shared.sockets[index].clone();
    let mut buf = vec![0u8; 65_535];
    loop {
        let Ok((n, from)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        if n < 12 {
            shared.unmatched.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let id = u16::from_be_bytes([buf[0], buf[1]]);
        let parsed = Message::from_vec(&buf[..n]);
        let action = handle_reply(&shared, index, id, from, parsed);
        match action {
            Action::Nothing => {}
            Action::Send(socket, bytes, to) => {
                shared.sent.fetch_add(1, Ordering::Relaxed);
                let _ = shared.sockets[socket].send_to(&bytes, to).await;
            }
            Action::Tcp(server, request, tx) => {
                shared.tcp.fetch_add(1, Ordering::Relaxed);
                let timeout = shared.config.timeout;
                tokio::spawn(async move {
                    let _ = tx.send(exchange_tcp(server, &request, timeout).await);
                });
            }
        }
    }
}

fn handle_reply(
    shared: &Shared,
    socket: usize,
    id: u16,
    from: SocketAddr,
    parsed: Result<Message, hickory_proto::serialize::binary::DecodeError>,
) -> Action {
    let servers = &shared.config.servers;
    let Some(from_index) = servers.iter().position(|s| *s == from) else {
        shared.unmatched.fetch_add(1, Ordering::Relaxed);
        return Action::Nothing;
    };
    let mut table = shared.table.lock().unwrap_or_else(|p| p.into_inner());
    let Some(entry) = table.entries.get_mut(&(socket, id)) else {
        shared.unmatched.fetch_add(1, Ordering::Relaxed);
        return Action::Nothing;
    };
    if entry.tried & (1 << from_index) == 0 {
        shared.unmatched.fetch_add(1, Ordering::Relaxed);
        return Action::Nothing;
    }
    let reply = match parsed {
        Ok(m) if m.metadata.message_type == MessageType::Response => {
            if !matches_request(&entry.request, &m) {
                shared.unmatched.fetch_add(1, Ordering::Relaxed);
                return Action::Nothing; // not an answer to our question
            }
            m
        }
        Ok(_) => {
            shared.unmatched.fetch_add(1, Ordering::Relaxed);
            return Action::Nothing;
        }
        Err(e) => {
            let failure = Reply::Malformed(format!("unparseable reply from {from}: {e}"));
            return retry_elsewhere(shared, &mut table, socket, id, failure);
        }
    };
    if !entry.retransmitted {
        shared.srtt[from_index].sample(entry.sent_at.elapsed());
    }
    if reply.metadata.truncation {
        let entry = table.entries.remove(&(socket, id)).expect("present");
        return Action::Tcp(from, entry.request, entry.tx);
    }
    if matches!(
        reply.metadata.response_code,
        ResponseCode::ServFail | ResponseCode::Refused
    ) {
        return retry_elsewhere(
            shared,
            &mut table,
            socket,
            id,
            Reply::Message(Box::new(reply)),
        );
    }
    let entry = table.entries.remove(&(socket, id)).expect("present");
    let _ = entry.tx.send(Reply::Message(Box::new(reply)));
    Action::Nothing
}

/// A failure from one server: ask a server not asked yet, if any and time
/// remains; else the failure is the answer.
fn retry_elsewhere(
    shared: &Shared,
    table: &mut Table,
    socket: usize,
    id: u16,
    failure: Reply,
) -> Action {
    let now = Instant::now();
    let entry = table.entries.get_mut(&(socket, id)).expect("present");
    match (shared.next_server(entry, true), entry.retry.on_failure(now)) {
        (Some(server), Some(at)) => {
            entry.server = server;
            entry.tried |= 1 << server;
            entry.retransmitted = true;
            entry.generation += 1;
            entry.last_failure = Some(failure);
            let generation = entry.generation;
            let bytes = entry.bytes.clone();
            table.timers.push(Reverse((at, socket, id, generation)));
            Action::Send(socket, bytes, shared.config.servers[server])
        }
        _ => {
            let entry = table.entries.remove(&(socket, id)).expect("present");
            let _ = entry.tx.send(failure);
            Action::Nothing
        }
    }
}

/// Drives every query's retransmissions and deadlines.
async fn timers(shared: std::sync::Weak<Shared>) {
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut due = Vec::new();
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let now = Instant::now();
        {
            let mut guard = shared.table.lock().unwrap_or_else(|p| p.into_inner());
            let table = &mut *guard;
            while let Some(Reverse((at, socket, id, generation))) = table.timers.peek().copied() {
                if at > now {
                    break;
                }
                table.timers.pop();
                let Some(entry) = table.entries.get_mut(&(socket, id)) else {
                    continue; // answered
                };
                if entry.generation != generation {
                    continue; // superseded by a later schedule
                }
                let Step::Retransmit { next } = entry.retry.on_timer(now) else {
                    let entry = table.entries.remove(&(socket, id)).expect("present");
                    let _ = entry.tx.send(entry.last_failure.unwrap_or(Reply::Timeout));
                    continue;
                };
                let server = shared.next_server(entry, false).unwrap_or(entry.server);
                entry.server = server;
                entry.tried |= 1 << server;
                entry.retransmitted = true;
                entry.generation += 1;
                table
                    .timers
                    .push(Reverse((next, socket, id, entry.generation)));
                due.push((socket, entry.bytes.clone(), shared.config.servers[server]));
            }
        }
        for (socket, bytes, to) in due.drain(..) {
            shared.sent.fetch_add(1, Ordering::Relaxed);
            shared.retransmits.fetch_add(1, Ordering::Relaxed);
            // Best effort: a full send buffer is one more lost datagram.
            let _ = shared.sockets[socket].try_send_to(&bytes, to);
        }
    }
}
