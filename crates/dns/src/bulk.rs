//! The bulk engine: a small pool of UDP sockets shared by every query.
//!
//! - Queries go round a pool of sockets (16 by default), each bound to a
//!   random port by the kernel. A socket takes a limited number of new
//!   queries (100) or is used for a limited time (10 s), then it is retired
//!   and a fresh socket, on a fresh random port, takes its place; a retired
//!   socket stays open until its last query ends, then closes. So a run
//!   spreads its queries over many ports (a 100,000-domain run uses well
//!   over 1,000) while never holding more than `max_open_sockets` open.
//! - Each socket has one receiver task; replies are matched in an in-flight
//!   table keyed by (socket, id) and accepted only when the server and the
//!   question match too, the question's case included (DNS 0x20, see
//!   [`crate::guard`]): stray, mismatched and spoofed replies are dropped
//!   and counted. With a single server the sockets are connected to it, so
//!   the kernel routes each datagram without a lookup and drops datagrams
//!   from any other address before we see them (those are not counted).
//! - One timer task drives retransmission for all queries (a wheel of 5 ms
//!   slots, no task or timer per query): the retransmission timeout starts at four
//!   times the server's smoothed round-trip time (at least `min_rto`; 500 ms
//!   before any was measured) and doubles up to `timeout`; retransmissions
//!   go round the servers. A query gives up after `timeout x attempts`, as
//!   the stub engine does. The rules are [`crate::rto::RetryPolicy`]'s; round
//!   trips are measured only on queries sent once whose reply passed the
//!   0x20 check.
//! - SERVFAIL, REFUSED or a malformed reply moves on to a server not yet
//!   asked, when there is one; a truncated reply, one larger than the
//!   EDNS payload we advertised, and one whose question has the wrong case
//!   are asked again over TCP.
//! - An optional `qps` ceiling paces first transmissions.
//!
//! Verdicts are the same as with [`crate::StubTransport`]; only the speed
//! differs.

use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

// The table's maps are asked several times per query: hashbrown's default
// hasher (foldhash, seeded per process), not SipHash, whose cost was about
// 1,300 instructions per query. Their keys are ours (socket serials and
// random ids), never chosen by whoever sends us datagrams.
use hashbrown::{HashMap, HashSet};
use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::unix::{AsyncFd, AsyncFdReadyGuard};
use tokio::io::Interest;
use tokio::sync::oneshot;
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::Instant;

use crate::guard::{
    restore_question, wire_echo, wire_echo_plain, CaseCheck, CaseVerdict, MAX_DATAGRAM,
};
use crate::rto::{Retransmission, RetryPolicy, SmoothedRtt, Step};
use crate::transport::{
    encode_query, exchange_tcp, question_len, Reply, ReplyFuture, Transport, TransportStats,
    EDNS_PAYLOAD,
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
    /// How many UDP sockets take new queries at once.
    pub sockets: usize,
    /// A socket takes this many new queries, then it is retired and a
    /// socket on a fresh random port takes its place.
    pub queries_per_socket: u32,
    /// A socket is also retired when it has been taking queries this long.
    pub socket_lifetime: Duration,
    /// At most this many sockets open at once, retired ones still waiting
    /// for replies included; at the ceiling, sockets are not rotated.
    pub max_open_sockets: usize,
    /// Randomize the case of query names (DNS 0x20), with the automatic
    /// fallback of [`crate::guard`] for servers that do not echo it.
    pub case_randomization: bool,
    /// The shortest retransmission timeout.
    pub min_rto: Duration,
    /// At most this many first transmissions per second (all servers).
    pub qps: Option<u32>,
}

impl BulkConfig {
    /// Defaults for `servers`: 3 s timeout, 2 attempts, a pool of 16
    /// sockets each retired after 100 queries or 10 s, at most 512 open,
    /// 0x20 on, 100 ms minimum retransmission timeout, no rate ceiling.
    pub fn new(servers: Vec<SocketAddr>) -> BulkConfig {
        BulkConfig {
            servers,
            timeout: Duration::from_secs(3),
            attempts: 2,
            sockets: 16,
            queries_per_socket: 100,
            socket_lifetime: Duration::from_secs(10),
            max_open_sockets: 512,
            case_randomization: true,
            min_rto: Duration::from_millis(100),
            qps: None,
        }
    }
}

struct Entry {
    /// The query as sent (the id included); its question is what a reply
    /// must echo.
    bytes: Vec<u8>,
    rtype: RecordType,
    server: usize,
    tried: u64,
    sent_at: Instant,
    retransmitted: bool,
    retry: Retransmission,
    /// The token of its current timer (a timer with another token belongs
    /// to a superseded schedule, or to an earlier query with the same key).
    generation: u32,
    last_failure: Option<Reply>,
    tx: oneshot::Sender<Reply>,
}

/// (socket serial, DNS id).
type Key = (usize, u16);

/// A retransmission timer: when, the query's key, and its token (see
/// `Entry::generation`).
type Timer = (Instant, usize, u16, u32);

/// Timer wheel slots of [`TICK`] each: 2,048 of 5 ms cover 10.24 s, more
/// than any first deadline (the timeout is at most a few seconds).
const SLOTS: usize = 2048;
/// The timer task's period, and the wheel's resolution.
const TICK: Duration = Duration::from_millis(5);

/// Every query's timers, in slots of [`TICK`]: a push and an expiry cost
/// O(1), where a heap cost a logarithm (and most timers belong to queries
/// answered long before they fire). A timer fires on the first tick at or
/// after its instant, never before; one beyond the wheel's reach waits in a
/// heap.
struct Wheel {
    slots: Vec<Vec<Timer>>,
    origin: Instant,
    /// The first tick not yet expired.
    next: u64,
    far: BinaryHeap<Reverse<Timer>>,
}

impl Default for Wheel {
    fn default() -> Wheel {
        Wheel {
            slots: (0..SLOTS).map(|_| Vec::new()).collect(),
            origin: Instant::now(),
            next: 0,
            far: BinaryHeap::new(),
        }
    }
}

impl Wheel {
    /// The tick at or after `at` (rounded up: a timer never fires early).
    fn tick_of(&self, at: Instant) -> u64 {
        let nanos = at.saturating_duration_since(self.origin).as_nanos();
        let tick = TICK.as_nanos();
        nanos.div_ceil(tick).min(u128::from(u64::MAX)) as u64
    }

    fn push(&mut self, timer: Timer) {
        let tick = self.tick_of(timer.0).max(self.next);
        if tick - self.next >= SLOTS as u64 {
            self.far.push(Reverse(timer));
        } else {
            self.slots[(tick % SLOTS as u64) as usize].push(timer);
        }
    }

    /// Moves every timer due at `now` into `out`.
    fn expire(&mut self, now: Instant, out: &mut Vec<Timer>) {
        // The last tick at or before `now` (rounded down).
        let now_tick =
            (now.saturating_duration_since(self.origin).as_nanos() / TICK.as_nanos()) as u64;
        while self.next <= now_tick {
            let slot = &mut self.slots[(self.next % SLOTS as u64) as usize];
            out.append(slot);
            self.next += 1;
            if self.next + (SLOTS as u64) <= now_tick {
                // A long stall (a suspended process): every slot is due.
                for slot in &mut self.slots {
                    out.append(slot);
                }
                self.next = now_tick + 1;
            }
        }
        while let Some(Reverse(t)) = self.far.peek() {
            if t.0 > now {
                break;
            }
            out.push(self.far.pop().expect("peeked").0);
        }
    }
}

/// One socket of the pool.
struct Port {
    serial: usize,
    /// Registered for reading only. A socket registered for writing too (as
    /// Tokio's `UdpSocket` is) has the kernel report it writable after every
    /// datagram sent, waking the reactor for nothing.
    socket: AsyncFd<std::net::UdpSocket>,
    /// Connected to the only server: sent to without an address, so the
    /// kernel routes it once, not per datagram (and drops datagrams from
    /// anyone else).
    connected: bool,
}

impl Port {
    /// Sends without waiting: with a full send buffer the datagram is lost,
    /// and retransmitted by the timer like any lost one. (The buffer holds
    /// far more than the questions in flight.)
    fn send(&self, bytes: &[u8], to: SocketAddr) -> io::Result<usize> {
        let socket = self.socket.get_ref();
        if self.connected {
            socket.send(bytes)
        } else {
            socket.send_to(bytes, to)
        }
    }
}

/// The bookkeeping of one open socket.
struct PortState {
    port: Arc<Port>,
    /// Queries in the table sent from it.
    in_flight: usize,
    /// First transmissions it took.
    used: u32,
    opened: Instant,
    /// Takes no new queries; closes when `in_flight` reaches 0.
    retired: bool,
    receiver: AbortHandle,
}

#[derive(Default)]
struct Table {
    entries: HashMap<Key, Entry>,
    timers: Wheel,
    /// Every open socket by serial.
    ports: HashMap<usize, PortState>,
    /// The serials taking new queries.
    active: Vec<usize>,
    next_active: usize,
    next_serial: usize,
    /// Local ports used so far.
    seen_ports: HashSet<u16>,
    /// Timer tokens handed out.
    tokens: u32,
}

impl Table {
    /// Removes a finished query; a retired socket with no query left
    /// closes (its receiver task is stopped, which drops the socket).
    fn finish(&mut self, key: Key) -> Option<Entry> {
        let entry = self.entries.remove(&key)?;
        if let Some(p) = self.ports.get_mut(&key.0) {
            p.in_flight -= 1;
            if p.retired && p.in_flight == 0 {
                let p = self.ports.remove(&key.0).expect("present");
                p.receiver.abort();
            }
        }
        Some(entry)
    }

    /// A fresh timer token.
    fn token(&mut self) -> u32 {
        self.tokens = self.tokens.wrapping_add(1);
        self.tokens
    }

    fn socket(&self, serial: usize) -> Option<Arc<Port>> {
        self.ports.get(&serial).map(|p| p.port.clone())
    }
}

struct Shared {
    config: BulkConfig,
    v6: bool,
    table: Mutex<Table>,
    cases: Vec<CaseCheck>,
    policy: RetryPolicy,
    srtt: Vec<SmoothedRtt>,
    next_server: AtomicUsize,
    pacer: Mutex<Instant>,
    sent: AtomicU64,
    retransmits: AtomicU64,
    unmatched: AtomicU64,
    tcp: AtomicU64,
    case_mismatches: AtomicU64,
    oversize: AtomicU64,
    case_fallbacks: AtomicU64,
}

/// The bulk transport; dropping it stops its tasks and closes its sockets.
pub struct BulkTransport {
    shared: Arc<Shared>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for BulkTransport {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
        let mut table = self.shared.table.lock().unwrap_or_else(|p| p.into_inner());
        for (_, p) in table.ports.drain() {
            p.receiver.abort();
        }
    }
}

/// Receive buffer asked of the kernel for each socket.
const RCVBUF: usize = 8 << 20;

fn bind_socket(v6: bool, connect: Option<SocketAddr>) -> io::Result<AsyncFd<std::net::UdpSocket>> {
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
    // Port 0: the kernel picks a random port of its ephemeral range.
    let any: SocketAddr = if v6 {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    };
    socket.bind(&any.into())?;
    if let Some(server) = connect {
        socket.connect(&server.into())?;
    }
    let socket: std::net::UdpSocket = socket.into();
    // SAFETY: the socket owns its descriptor, which stays open and the same
    // for as long as the AsyncFd holds it (the socket is never replaced,
    // and closed only when the AsyncFd drops it).
    unsafe { AsyncFd::register_with_interest(socket, Interest::READABLE) }.map_err(|e| e.into())
}

/// Opens a socket, starts its receiver and registers it; returns its serial.
fn open_port(shared: &Arc<Shared>, table: &mut Table) -> io::Result<usize> {
    // With one server, every datagram of the socket goes to it.
    let only = match shared.config.servers.as_slice() {
        [server] => Some(*server),
        _ => None,
    };
    let socket = bind_socket(shared.v6, only)?;
    let local = socket.get_ref().local_addr()?.port();
    let serial = table.next_serial;
    table.next_serial += 1;
    let port = Arc::new(Port {
        serial,
        socket,
        connected: only.is_some(),
    });
    let receiver = tokio::spawn(receive(shared.clone(), port.clone())).abort_handle();
    table.seen_ports.insert(local);
    table.ports.insert(
        serial,
        PortState {
            port,
            in_flight: 0,
            used: 0,
            opened: Instant::now(),
            retired: false,
            receiver,
        },
    );
    Ok(serial)
}

/// The socket for a new query: the next one of the pool, which is retired
/// (and replaced by a fresh one) when it has had its share.
fn pick_port(shared: &Arc<Shared>, table: &mut Table, now: Instant) -> usize {
    let slot = table.next_active % table.active.len();
    table.next_active = table.next_active.wrapping_add(1);
    let serial = table.active[slot];
    let state = table
        .ports
        .get_mut(&serial)
        .expect("active sockets are open");
    state.used += 1;
    let spent = state.used >= shared.config.queries_per_socket.max(1)
        || now.duration_since(state.opened) >= shared.config.socket_lifetime;
    if spent && table.ports.len() < shared.config.max_open_sockets {
        // Out of sockets (EMFILE and the like): keep this one a while longer.
        if let Ok(fresh) = open_port(shared, table) {
            table.active[slot] = fresh;
            // Not idle: the caller puts this query on it.
            table.ports.get_mut(&serial).expect("open").retired = true;
        }
    }
    serial
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
        let pool = config.sockets.clamp(1, 1024);
        let shared = Arc::new(Shared {
            srtt: config
                .servers
                .iter()
                .map(|_| SmoothedRtt::default())
                .collect(),
            policy: RetryPolicy::new(config.timeout, config.attempts, config.min_rto),
            cases: config
                .servers
                .iter()
                .map(|_| CaseCheck::new(config.case_randomization))
                .collect(),
            config: BulkConfig {
                attempts: config.attempts.max(1),
                max_open_sockets: config.max_open_sockets.max(pool),
                ..config
            },
            v6,
            table: Mutex::new(Table::default()),
            next_server: AtomicUsize::new(0),
            pacer: Mutex::new(Instant::now()),
            sent: AtomicU64::new(0),
            retransmits: AtomicU64::new(0),
            unmatched: AtomicU64::new(0),
            tcp: AtomicU64::new(0),
            case_mismatches: AtomicU64::new(0),
            oversize: AtomicU64::new(0),
            case_fallbacks: AtomicU64::new(0),
        });
        {
            let mut table = shared.table.lock().unwrap_or_else(|p| p.into_inner());
            for _ in 0..pool {
                let serial = open_port(&shared, &mut table)?;
                table.active.push(serial);
            }
        }
        let tasks = vec![tokio::spawn(timers(Arc::downgrade(&shared)))];
        Ok(BulkTransport { shared, tasks })
    }

    /// Sockets open now: the pool, and retired ones still waiting for
    /// replies.
    pub fn open_sockets(&self) -> usize {
        let table = self.shared.table.lock().unwrap_or_else(|p| p.into_inner());
        table.ports.len()
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
        let server = s.next_server.fetch_add(1, Ordering::Relaxed) % s.config.servers.len();
        // Encoded once, outside the lock; the id is written in below.
        let mut bytes = encode_query(name, rtype, 0, s.cases[server].on());
        let now = Instant::now();
        let retry = s.policy.start(now, s.srtt[server].get());
        let port = {
            let mut table = s.table.lock().unwrap_or_else(|p| p.into_inner());
            let serial = pick_port(s, &mut table, now);
            let mut id: u16 = rand::random();
            while table.entries.contains_key(&(serial, id)) {
                id = rand::random();
            }
            bytes[..2].copy_from_slice(&id.to_be_bytes());
            let generation = table.token();
            table
                .timers
                .push((retry.timer_after(now), serial, id, generation));
            table.entries.insert(
                (serial, id),
                Entry {
                    bytes: bytes.clone(),
                    rtype,
                    server,
                    tried: 1 << server,
                    sent_at: now,
                    retransmitted: false,
                    retry,
                    generation,
                    last_failure: None,
                    tx,
                },
            );
            let state = table.ports.get_mut(&serial).expect("open");
            state.in_flight += 1;
            state.port.clone()
        };
        s.sent.fetch_add(1, Ordering::Relaxed);
        // A failed send is a lost datagram: the timer retransmits.
        let _ = port.send(&bytes, s.config.servers[server]);
        drop(port);
        let mut reply = rx
            .await
            .unwrap_or_else(|_| Reply::Malformed("the DNS engine stopped".into()));
        if let Reply::Message(m) = &mut reply {
            restore_question(m, name);
        }
        reply
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
        let ports = {
            let table = s.table.lock().unwrap_or_else(|p| p.into_inner());
            table.seen_ports.len() as u64
        };
        TransportStats {
            sent: s.sent.load(Ordering::Relaxed),
            retransmits: s.retransmits.load(Ordering::Relaxed),
            unmatched: s.unmatched.load(Ordering::Relaxed),
            tcp: s.tcp.load(Ordering::Relaxed),
            ports,
            case_mismatches: s.case_mismatches.load(Ordering::Relaxed),
            oversize: s.oversize.load(Ordering::Relaxed),
            case_randomization: s.config.case_randomization,
            case_fallbacks: s.case_fallbacks.load(Ordering::Relaxed),
        }
    }
}

/// What the receiver decided for one reply, done after the lock is dropped.
enum Action {
    Nothing,
    Send(Arc<Port>, Vec<u8>, SocketAddr),
    Tcp(SocketAddr, Vec<u8>, oneshot::Sender<Reply>),
}

/// Reads datagrams waiting on `port` and judges each, collecting what must
/// be done after (anything but [`Action::Nothing`]) in `out`; `false` when
/// the socket had nothing more to read.
#[cfg(not(target_os = "linux"))]
fn read_waiting(
    shared: &Shared,
    port: &Port,
    ready: &mut AsyncFdReadyGuard<'_, std::net::UdpSocket>,
    out: &mut Vec<Action>,
) -> bool {
    thread_local! {
        /// The receive buffer of every socket served on this thread: room
        /// for the largest datagram. A buffer per socket cost 64 KiB each
        /// for the thousands of sockets a run opens.
        static DATAGRAM: RefCell<Vec<u8>> = RefCell::new(vec![0; MAX_DATAGRAM]);
    }
    DATAGRAM.with_borrow_mut(|buf| {
        // A WouldBlock clears the socket's readiness, so the next wait
        // sleeps until a datagram arrives.
        match ready.try_io(|socket| socket.get_ref().recv_from(buf)) {
            Ok(Ok((n, from))) => {
                match handle_reply(shared, port.serial, &buf[..n], from) {
                    Action::Nothing => {}
                    action => out.push(action),
                }
                true
            }
            Err(_would_block) => false,
            // Another error (an ICMP report on some systems): the datagram
            // is gone, the socket is still usable.
            Ok(Err(_)) => true,
        }
    })
}

/// Datagrams read per system call (`recvmmsg`).
#[cfg(target_os = "linux")]
const BATCH: usize = 16;

/// The receive buffers of every socket served on one thread: [`BATCH`]
/// slots, each with room for the largest datagram. Never zeroed: the
/// kernel writes a datagram's bytes before they are read, so only the
/// pages datagrams reach become resident (a slot's first page, for the
/// replies of a run).
#[cfg(target_os = "linux")]
struct Batch {
    bufs: Vec<u8>,
    names: [libc::sockaddr_storage; BATCH],
    iovs: [libc::iovec; BATCH],
    msgs: [libc::mmsghdr; BATCH],
}

#[cfg(target_os = "linux")]
impl Batch {
    fn new() -> Batch {
        // SAFETY: all four are plain C structs (integers and pointers), for
        // which all-zero bytes are a valid value; the pointers are set
        // before each use.
        unsafe {
            Batch {
                bufs: Vec::with_capacity(BATCH * MAX_DATAGRAM),
                names: std::mem::zeroed(),
                iovs: std::mem::zeroed(),
                msgs: std::mem::zeroed(),
            }
        }
    }

    /// Reads up to [`BATCH`] datagrams waiting on `fd`, without waiting:
    /// how many, or the error of the first (`WouldBlock` when none).
    fn receive(&mut self, fd: std::os::fd::RawFd) -> io::Result<usize> {
        let base = self.bufs.as_mut_ptr();
        for i in 0..BATCH {
            self.iovs[i] = libc::iovec {
                // SAFETY: within the buffer's capacity (BATCH slots).
                iov_base: unsafe { base.add(i * MAX_DATAGRAM) }.cast(),
                iov_len: MAX_DATAGRAM,
            };
            let hdr = &mut self.msgs[i].msg_hdr;
            hdr.msg_name = std::ptr::from_mut(&mut self.names[i]).cast();
            hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            hdr.msg_iov = &mut self.iovs[i];
            hdr.msg_iovlen = 1;
            hdr.msg_control = std::ptr::null_mut();
            hdr.msg_controllen = 0;
            hdr.msg_flags = 0;
            self.msgs[i].msg_len = 0;
        }
        // SAFETY: every header points at its own name, iovec and slot, all
        // alive and unaliased for the call; the kernel writes at most the
        // lengths given.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.msgs.as_mut_ptr(),
                BATCH as libc::c_uint,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }

    /// Datagram `i` of the last [`Batch::receive`], and its sender.
    fn datagram(&self, i: usize) -> (&[u8], Option<SocketAddr>) {
        let len = (self.msgs[i].msg_len as usize).min(MAX_DATAGRAM);
        // SAFETY: the kernel wrote `len` bytes at the start of slot `i`.
        let bytes =
            unsafe { std::slice::from_raw_parts(self.bufs.as_ptr().add(i * MAX_DATAGRAM), len) };
        (bytes, sender(&self.names[i]))
    }
}

/// A datagram's source address as the kernel gave it (the flow label and
/// scope included, as the standard library's sockets give them).
#[cfg(target_os = "linux")]
fn sender(name: &libc::sockaddr_storage) -> Option<SocketAddr> {
    use std::net::{SocketAddrV4, SocketAddrV6};
    match i32::from(name.ss_family) {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in, and
            // sockaddr_storage is large and aligned enough for it.
            let a = unsafe { &*std::ptr::from_ref(name).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: as above, for sockaddr_in6.
            let a = unsafe { &*std::ptr::from_ref(name).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(target_os = "linux")]
fn read_waiting(
    shared: &Shared,
    port: &Port,
    ready: &mut AsyncFdReadyGuard<'_, std::net::UdpSocket>,
    out: &mut Vec<Action>,
) -> bool {
    use std::os::fd::AsRawFd;
    thread_local! {
        /// One per thread, shared by every socket it serves: buffers per
        /// socket cost a megabyte each for the thousands of sockets a run
        /// opens.
        static BATCH_BUFFERS: RefCell<Batch> = RefCell::new(Batch::new());
    }
    BATCH_BUFFERS.with_borrow_mut(|batch| {
        // A WouldBlock clears the socket's readiness, so the next wait
        // sleeps until a datagram arrives.
        match ready.try_io(|socket| batch.receive(socket.as_raw_fd())) {
            Ok(Ok(n)) => {
                for i in 0..n {
                    let (datagram, from) = batch.datagram(i);
                    let action = match from {
                        Some(from) => handle_reply(shared, port.serial, datagram, from),
                        None => {
                            shared.unmatched.fetch_add(1, Ordering::Relaxed);
                            Action::Nothing
                        }
                    };
                    if !matches!(action, Action::Nothing) {
                        out.push(action);
                    }
                }
                if n < BATCH {
                    // Fewer than asked for: the socket was emptied. Waiting
                    // now saves the call that would say so; a datagram that
                    // arrived since has made it ready again (Tokio clears
                    // only the readiness this guard saw).
                    ready.clear_ready();
                    return false;
                }
                true
            }
            Err(_would_block) => false,
            // Another error (an ICMP report on some systems): the datagram
            // is gone, the socket is still usable.
            Ok(Err(_)) => true,
        }
    })
}

async fn receive(shared: Arc<Shared>, port: Arc<Port>) {
    let mut actions = Vec::new();
    loop {
        let Ok(mut ready) = port.socket.readable().await else {
            continue;
        };
        // Every datagram waiting is read before the next wait; the buffers
        // are borrowed only between awaits.
        loop {
            let more = read_waiting(&shared, &port, &mut ready, &mut actions);
            for action in actions.drain(..) {
                match action {
                    Action::Nothing => {}
                    Action::Send(socket, bytes, to) => {
                        shared.sent.fetch_add(1, Ordering::Relaxed);
                        let _ = socket.send(&bytes, to);
                    }
                    Action::Tcp(server, query, tx) => {
                        shared.tcp.fetch_add(1, Ordering::Relaxed);
                        let timeout = shared.config.timeout;
                        tokio::spawn(async move {
                            // The same query (id and case included), as a
                            // message for the TCP exchange.
                            let reply = match Message::from_vec(&query) {
                                Ok(request) => exchange_tcp(server, &request, timeout).await,
                                Err(e) => {
                                    Reply::Malformed(format!("could not re-read our query: {e}"))
                                }
                            };
                            let _ = tx.send(reply);
                        });
                    }
                }
            }
            if !more {
                break;
            }
        }
    }
}

/// Judges one datagram received on socket `serial`. Cheap checks first
/// (source, id in flight), so that a flood of forgeries costs little; the
/// message is parsed only when they pass.
fn handle_reply(shared: &Shared, serial: usize, datagram: &[u8], from: SocketAddr) -> Action {
    let dropped = || {
        shared.unmatched.fetch_add(1, Ordering::Relaxed);
        Action::Nothing
    };
    let servers = &shared.config.servers;
    let Some(from_index) = servers.iter().position(|s| *s == from) else {
        return dropped();
    };
    if datagram.len() < 12 {
        return dropped();
    }
    let id = u16::from_be_bytes([datagram[0], datagram[1]]);
    let key = (serial, id);
    let rtype = {
        let table = shared.table.lock().unwrap_or_else(|p| p.into_inner());
        match table.entries.get(&key) {
            Some(entry) if entry.tried & (1 << from_index) != 0 => entry.rtype,
            _ => return dropped(),
        }
    };
    // Read outside the lock: the lean reader when the reply has a plain
    // shape (almost always), else the full decoder.
    let lean = crate::wire::read_reply(datagram, rtype);
    let full = lean.is_none().then(|| Message::from_vec(datagram));
    let mut table = shared.table.lock().unwrap_or_else(|p| p.into_inner());
    // Looked up again: it may have ended while the lock was released.
    let Some(entry) = table.entries.get_mut(&key) else {
        return dropped();
    };
    // Our question, echoed (the id matched through the key).
    let qname = &entry.bytes[12..12 + question_len(&entry.bytes) - 4];
    let (reply, echo, truncated, failed) = match (lean, full) {
        (Some(read), _) => {
            let echo = if read.response && read.qtype == u16::from(rtype) {
                wire_echo_plain(qname, &datagram[read.qname.clone()])
            } else {
                None
            };
            let Some(echo) = echo else {
                return dropped(); // not an answer to our question
            };
            // SERVFAIL and REFUSED.
            let failed = matches!(read.rcode, 2 | 5);
            (
                Reply::Read(Box::new(read.interpretation)),
                echo,
                read.truncated,
                failed,
            )
        }
        (None, Some(Ok(m))) if m.metadata.message_type == MessageType::Response => {
            let echo = match m.queries.as_slice() {
                [q] if q.query_type() == rtype => wire_echo(qname, q.name()),
                _ => None,
            };
            let Some(echo) = echo else {
                return dropped(); // not an answer to our question
            };
            let truncated = m.metadata.truncation;
            let failed = matches!(
                m.metadata.response_code,
                ResponseCode::ServFail | ResponseCode::Refused
            );
            (Reply::Message(Box::new(m)), echo, truncated, failed)
        }
        (None, Some(Ok(_)) | None) => return dropped(),
        (None, Some(Err(e))) => {
            let failure = Reply::Malformed(format!("unparseable reply from {from}: {e}"));
            return retry_elsewhere(shared, &mut table, key, failure);
        }
    };
    let (verdict, fell_back) = shared.cases[from_index].judge(echo);
    if fell_back {
        shared.case_fallbacks.fetch_add(1, Ordering::Relaxed);
    }
    let tcp = if verdict == CaseVerdict::Tcp {
        // A forgery, or a server that does not echo the case: not
        // believed over UDP.
        shared.case_mismatches.fetch_add(1, Ordering::Relaxed);
        true
    } else if datagram.len() > usize::from(EDNS_PAYLOAD) {
        // Larger than we advertised: see `crate::transport::EDNS_PAYLOAD`.
        shared.oversize.fetch_add(1, Ordering::Relaxed);
        true
    } else {
        truncated
    };
    if !entry.retransmitted && verdict == CaseVerdict::Accept {
        shared.srtt[from_index].sample(entry.sent_at.elapsed());
    }
    if tcp {
        let entry = table.finish(key).expect("present");
        return Action::Tcp(from, entry.bytes, entry.tx);
    }
    if failed {
        return retry_elsewhere(shared, &mut table, key, reply);
    }
    let entry = table.finish(key).expect("present");
    let _ = entry.tx.send(reply);
    Action::Nothing
}

/// A failure from one server: ask a server not asked yet, if any and time
/// remains; else the failure is the answer.
fn retry_elsewhere(shared: &Shared, table: &mut Table, key: Key, failure: Reply) -> Action {
    let (socket, id) = key;
    let now = Instant::now();
    let generation = table.token();
    let entry = table.entries.get_mut(&(socket, id)).expect("present");
    match (shared.next_server(entry, true), entry.retry.on_failure(now)) {
        (Some(server), Some(at)) => {
            entry.server = server;
            entry.tried |= 1 << server;
            entry.retransmitted = true;
            entry.generation = generation;
            entry.last_failure = Some(failure);
            let bytes = entry.bytes.clone();
            table.timers.push((at, socket, id, generation));
            match table.socket(socket) {
                Some(port) => Action::Send(port, bytes, shared.config.servers[server]),
                None => Action::Nothing,
            }
        }
        _ => {
            let entry = table.finish(key).expect("present");
            let _ = entry.tx.send(failure);
            Action::Nothing
        }
    }
}

/// Drives every query's retransmissions and deadlines.
async fn timers(shared: std::sync::Weak<Shared>) {
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut due = Vec::new();
    let mut expired = Vec::new();
    loop {
        tick.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let now = Instant::now();
        {
            let mut guard = shared.table.lock().unwrap_or_else(|p| p.into_inner());
            let table = &mut *guard;
            table.timers.expire(now, &mut expired);
            for (_, socket, id, generation) in expired.drain(..) {
                let Some(entry) = table.entries.get_mut(&(socket, id)) else {
                    continue; // answered
                };
                if entry.generation != generation {
                    continue; // superseded by a later schedule
                }
                let Step::Retransmit { next } = entry.retry.on_timer(now) else {
                    let entry = table.finish((socket, id)).expect("present");
                    let _ = entry.tx.send(entry.last_failure.unwrap_or(Reply::Timeout));
                    continue;
                };
                let server = shared.next_server(entry, false).unwrap_or(entry.server);
                entry.server = server;
                entry.tried |= 1 << server;
                entry.retransmitted = true;
                // `table.token()`, spelled out: `entry` borrows the table.
                table.tokens = table.tokens.wrapping_add(1);
                entry.generation = table.tokens;
                table.timers.push((next, socket, id, entry.generation));
                let bytes = entry.bytes.clone();
                if let Some(port) = table.socket(socket) {
                    due.push((port, bytes, shared.config.servers[server]));
                }
            }
        }
        for (socket, bytes, to) in due.drain(..) {
            shared.sent.fetch_add(1, Ordering::Relaxed);
            shared.retransmits.fetch_add(1, Ordering::Relaxed);
            // Best effort: a full send buffer is one more lost datagram.
            let _ = socket.send(&bytes, to);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::UdpSocket;

    /// A loopback server that answers the first `answered` queries (by
    /// echoing them as replies, case included) and then stays silent; it
    /// returns its address and the arrival instants of every datagram.
    async fn server(answered: usize) -> (SocketAddr, Arc<Mutex<Vec<Instant>>>) {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        let addr = socket.local_addr().expect("addr");
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let log = arrivals.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; MAX_DATAGRAM];
            let mut left = answered;
            loop {
                let Ok((n, from)) = socket.recv_from(&mut buf).await else {
                    continue;
                };
                log.lock().unwrap().push(Instant::now());
                if left > 0 && n >= 12 {
                    left -= 1;
                    buf[2] |= 0x80; // QR: a response, NOERROR, no records
                    let _ = socket.send_to(&buf[..n], from).await;
                }
            }
        });
        (addr, arrivals)
    }

    fn config(server: SocketAddr, timeout_ms: u64, attempts: u32, min_rto_ms: u64) -> BulkConfig {
        BulkConfig {
            timeout: Duration::from_millis(timeout_ms),
            attempts,
            min_rto: Duration::from_millis(min_rto_ms),
            ..BulkConfig::new(vec![server])
        }
    }

    /// Asks one unanswered question; returns the copies' arrival times and
    /// when the query gave up, in ms after it was asked.
    async fn unanswered(t: &BulkTransport, arrivals: &Mutex<Vec<Instant>>) -> (Vec<u64>, u64) {
        let before = arrivals.lock().unwrap().len();
        let name = Name::from_ascii("silent.example.").expect("name");
        let t0 = Instant::now();
        let reply = t.query(&name, RecordType::MX).await;
        let gave_up = (Instant::now() - t0).as_millis() as u64;
        assert!(matches!(reply, Reply::Timeout), "{reply:?}");
        // Let the last copy land.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let copies = arrivals.lock().unwrap()[before..]
            .iter()
            .map(|at| (*at - t0).as_millis() as u64)
            .collect();
        (copies, gave_up)
    }

    /// Each measured instant is at or after the schedule's (timers never
    /// fire early), and not much later (a loaded machine runs late).
    fn assert_schedule(got: &[u64], want: &[u64]) {
        assert_eq!(got.len(), want.len(), "copies at {got:?}, want {want:?}");
        for (g, w) in got.iter().zip(want) {
            assert!(
                *g >= *w && *g <= w + 400,
                "copies at {got:?}, want {want:?}"
            );
        }
    }

    /// `recvmmsg` over real loopback sockets: batches of at most
    /// [`BATCH`], every datagram's bytes (a large one included) and its
    /// sender, then `WouldBlock`; on IPv4 and IPv6.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_batch_reads_every_waiting_datagram_with_its_sender() {
        use std::os::fd::AsRawFd;
        for local in ["127.0.0.1:0", "[::1]:0"] {
            let rx = std::net::UdpSocket::bind(local).expect("bind");
            rx.set_nonblocking(true).expect("nonblocking");
            let tx = std::net::UdpSocket::bind(local).expect("bind");
            let sizes: Vec<usize> = (0..BATCH + 4).map(|i| 12 + i * 7).chain([60_000]).collect();
            for (i, &n) in sizes.iter().enumerate() {
                let bytes: Vec<u8> = (0..n).map(|k| (i * 31 + k) as u8).collect();
                tx.send_to(&bytes, rx.local_addr().unwrap()).expect("send");
            }
            let mut batch = Batch::new();
            let mut got = Vec::new();
            loop {
                match batch.receive(rx.as_raw_fd()) {
                    Ok(n) => {
                        assert!((1..=BATCH).contains(&n), "{n}");
                        for i in 0..n {
                            let (bytes, from) = batch.datagram(i);
                            assert_eq!(from, Some(tx.local_addr().unwrap()), "{local}");
                            got.push(bytes.to_vec());
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => panic!("{e}"),
                }
            }
            assert_eq!(got.len(), sizes.len(), "{local}");
            for (i, (bytes, &n)) in got.iter().zip(&sizes).enumerate() {
                let want: Vec<u8> = (0..n).map(|k| (i * 31 + k) as u8).collect();
                assert!(*bytes == want, "{local}: datagram {i}");
            }
        }
    }

    #[test]
    fn the_wheel_fires_timers_on_the_first_tick_at_or_after_them() {
        let mut w = Wheel::default();
        let t0 = w.origin;
        let ms = |n: u64| t0 + Duration::from_millis(n);
        // Pushed out of order; one beyond the wheel's reach (15 s), one
        // already past.
        for (i, at) in [12, 3, 5, 700, 15_000, 0].into_iter().enumerate() {
            w.push((ms(at), i, 0, i as u32));
        }
        let mut out = Vec::new();
        let mut fired = |w: &mut Wheel, now: u64| {
            out.clear();
            w.expire(ms(now), &mut out);
            let mut ids: Vec<usize> = out.iter().map(|t| t.1).collect();
            ids.sort();
            // Never early.
            assert!(out.iter().all(|t| t.0 <= ms(now)), "{now}: {out:?}");
            ids
        };
        assert_eq!(fired(&mut w, 2), vec![5]);
        assert!(fired(&mut w, 4).is_empty());
        assert_eq!(fired(&mut w, 5), vec![1, 2]);
        // 12 ms is due on the 15 ms tick, not before.
        assert!(fired(&mut w, 14).is_empty());
        assert_eq!(fired(&mut w, 15), vec![0]);
        assert!(fired(&mut w, 699).is_empty());
        assert_eq!(fired(&mut w, 701), vec![3]);
        // A stall longer than the wheel: everything due fires at once.
        w.push((ms(20_000), 6, 0, 6));
        w.push((ms(800), 7, 0, 7));
        assert_eq!(fired(&mut w, 14_999), vec![7]);
        assert_eq!(fired(&mut w, 30_000), vec![4, 6]);
        // Pushed in the past after that: fires on the next tick.
        w.push((ms(10), 8, 0, 8));
        assert!(fired(&mut w, 30_000).is_empty());
        assert_eq!(fired(&mut w, 30_005), vec![8]);
        assert!(w.far.is_empty() && w.slots.iter().all(Vec::is_empty));
    }

    #[tokio::test]
    async fn an_unmeasured_server_gets_the_retry_policy_schedule() {
        // RTO 500 ms (never measured), doubling to the 1 s timeout: copies
        // at 0, 0.5 s and 1.5 s; the 2 s deadline (1 s x 2) ends it.
        let (addr, arrivals) = server(0).await;
        let t = BulkTransport::new(config(addr, 1000, 2, 100)).expect("bulk");
        let (copies, gave_up) = unanswered(&t, &arrivals).await;
        assert_schedule(&copies, &[0, 500, 1500]);
        assert_schedule(&[gave_up], &[2000]);
        let stats = t.stats();
        assert_eq!((stats.sent, stats.retransmits), (3, 2), "{stats:?}");
    }

    #[tokio::test]
    async fn a_measured_server_starts_at_four_round_trips_at_least_min_rto() {
        // One answered question measures a loopback round trip (well under
        // 50 ms), so the next question's RTO is min_rto, 200 ms: copies at
        // 0, 0.2, 0.6 and 1.4 s (the RTO capped at the 800 ms timeout), then
        // the 1.6 s deadline.
        let (addr, arrivals) = server(1).await;
        let t = BulkTransport::new(config(addr, 800, 2, 200)).expect("bulk");
        let name = Name::from_ascii("answered.example.").expect("name");
        let reply = t.query(&name, RecordType::MX).await;
        // An echo of the query: a plain shape, read by the lean reader.
        assert!(matches!(reply, Reply::Read(_)), "{reply:?}");
        let srtt = t.shared.srtt[0].get().expect("a round trip was measured");
        assert!(srtt < Duration::from_millis(50), "{srtt:?}");
        let (copies, gave_up) = unanswered(&t, &arrivals).await;
        assert_schedule(&copies, &[0, 200, 600, 1400]);
        assert_schedule(&[gave_up], &[1600]);
        assert_eq!(t.stats().retransmits, 3);
    }
}
