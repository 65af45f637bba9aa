//! Transports: how one question reaches a DNS server and what comes back.
//!
//! [`Transport`] is the seam between the evidence layer and the wire: the
//! [`StubTransport`] here (UDP with TCP on truncation, one socket per query),
//! the bulk engine ([`crate::bulk`]) and hickory ([`crate::hickory`]) plug
//! in behind the same trait. The defences against spoofing they share are
//! in [`crate::guard`].

use std::collections::HashSet;
use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{timeout_at, Instant};

use crate::guard::{echo, randomize_case, restore_question, CaseCheck, CaseVerdict, MAX_DATAGRAM};

/// What one exchange with the DNS produced.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A well-formed response to our question.
    Message(Box<Message>),
    /// A well-formed response to our question, already read by the engine
    /// into what [`crate::interpret::interpret`] makes of it (the bulk
    /// engine's lean reader, [`crate::wire`], which builds no message).
    Read(Box<crate::interpret::Interpretation>),
    /// No response within the timeout, or the server unreachable
    /// (connection refused, no route), after every attempt.
    Timeout,
    /// A response that carried our id but could not be parsed, or a TCP
    /// stream that broke mid-message.
    Malformed(String),
}

/// The future a [`Transport`] returns.
pub type ReplyFuture<'a> = Pin<Box<dyn Future<Output = Reply> + Send + 'a>>;

/// Counters of a transport.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TransportStats {
    /// UDP datagrams sent, retransmissions included.
    pub sent: u64,
    /// Datagrams sent again after a timeout.
    pub retransmits: u64,
    /// Replies dropped because nothing in flight matched them.
    pub unmatched: u64,
    /// Questions asked again over TCP: after a truncated reply, an
    /// oversize one, or one whose question had the wrong case.
    pub tcp: u64,
    /// Distinct local UDP ports queries were sent from.
    pub ports: u64,
    /// Replies that matched server, port, id and question but not the
    /// question's random case (DNS 0x20): not believed, the question went
    /// to TCP. Forgeries, or a server that does not echo the case.
    pub case_mismatches: u64,
    /// UDP replies larger than the EDNS payload we advertised (asked again
    /// over TCP, see [`EDNS_PAYLOAD`]).
    pub oversize: u64,
    /// Whether the engine randomizes the case of query names (DNS 0x20).
    pub case_randomization: bool,
    /// Servers for which 0x20 was turned off because they do not echo the
    /// query's case (see [`crate::guard`]).
    pub case_fallbacks: u64,
}

impl TransportStats {
    /// The spoofing defences in a few words, for a run's summary: source
    /// ports, replies dropped, 0x20.
    pub fn defences(&self) -> String {
        if self.sent == 0 && self.ports > 0 {
            // hickory: it checks replies itself and counts nothing.
            return format!("{} source ports, 0x20 on", self.ports);
        }
        let case = if !self.case_randomization {
            "0x20 off".to_string()
        } else if self.case_fallbacks > 0 {
            format!(
                "0x20 TURNED OFF for {} server(s) that do not echo the query's case",
                self.case_fallbacks
            )
        } else {
            "0x20 on".to_string()
        };
        let mut s = format!(
            "{} source ports, {} stray or forged replies dropped, {case}",
            self.ports, self.unmatched
        );
        if self.case_mismatches > 0 {
            s.push_str(&format!(
                ", {} replies with the wrong case asked again over TCP",
                self.case_mismatches
            ));
        }
        if self.oversize > 0 {
            s.push_str(&format!(
                ", {} oversize UDP replies asked again over TCP",
                self.oversize
            ));
        }
        s
    }
}

/// Sends one question and waits for the answer (retries included).
pub trait Transport: Send + Sync + 'static {
    /// Asks `rtype` records of `name` (a fully qualified name).
    fn query<'a>(&'a self, name: &'a Name, rtype: RecordType) -> ReplyFuture<'a>;

    /// The counters so far.
    fn stats(&self) -> TransportStats;
}

/// Timeouts and retries of the stub engine.
#[derive(Clone, Debug)]
pub struct StubConfig {
    /// The servers, tried in turn (round-robin start, then the next on failure).
    pub servers: Vec<SocketAddr>,
    /// How long to wait for each attempt.
    pub timeout: Duration,
    /// How many attempts per question in all (at least 1).
    pub attempts: u32,
}

impl StubConfig {
    /// Whether the stub engine randomizes the case of query names (DNS
    /// 0x20): always, with the fallback of [`crate::guard`].
    pub const CASE_RANDOMIZATION: bool = true;
}

/// A stub resolver transport: asks recursive (or, in the lab,
/// authoritative) servers with RD set, over UDP, and again over TCP when
/// the UDP answer is truncated.
///
/// Replies are accepted only from the server asked, with the query's id
/// and question; anything else is ignored (spoofing, stray packets).
/// SERVFAIL, REFUSED and malformed replies are tried once more at the next
/// server when there is one; timeouts are retried up to `attempts`.
///
/// Each question gets its own socket on a random port (chosen by the
/// kernel) and, with `case_randomization`, a random case (DNS 0x20, see
/// [`crate::guard`]).
#[derive(Debug)]
pub struct StubTransport {
    config: StubConfig,
    next: AtomicUsize,
    sent: AtomicU64,
    retransmits: AtomicU64,
    tcp: AtomicU64,
    unmatched: AtomicU64,
    case_mismatches: AtomicU64,
    oversize: AtomicU64,
    case_fallbacks: AtomicU64,
    cases: Vec<CaseCheck>,
    ports: Mutex<HashSet<u16>>,
}

/// How one UDP exchange ended.
enum Udp {
    Reply(Reply),
    /// Not believed over UDP (truncated, oversize, wrong case): ask over TCP.
    Tcp,
}

/// The EDNS(0) UDP payload every engine advertises (the DNS Flag Day 2020
/// value), bulk, stub and hickory alike.
///
/// A UDP reply larger than this, without the TC bit, breaks the protocol
/// (RFC 6891 §6.2.5: a responder must not send more than the requestor's
/// payload size). On the Internet it arrives in IP fragments, and a later
/// fragment carries neither the port nor the id nor the question: it can
/// be forged by a blind attacker, which is why 1232 was chosen. So such a
/// reply is never believed, however well it parses: it is treated as
/// truncated and the question is asked again over TCP, which gives the
/// true answer or, if TCP fails, a temporary failure (`dns_failure`,
/// retry), never a suppression. The bulk and stub engines read whole
/// datagrams (up to [`crate::guard::MAX_DATAGRAM`]) to tell an oversize
/// reply from a malformed one; the hickory engine reads through a socket
/// that does the same ([`crate::hickory`]). An oversize reply that does not
/// parse is malformed, as any other.
pub const EDNS_PAYLOAD: u16 = 1232;

impl StubTransport {
    /// A transport over `config`; at least one server is required.
    pub fn new(config: StubConfig) -> io::Result<Self> {
        if config.servers.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no DNS server configured",
            ));
        }
        Ok(StubTransport {
            cases: config
                .servers
                .iter()
                .map(|_| CaseCheck::new(StubConfig::CASE_RANDOMIZATION))
                .collect(),
            config: StubConfig {
                attempts: config.attempts.max(1),
                ..config
            },
            next: AtomicUsize::new(0),
            sent: AtomicU64::new(0),
            retransmits: AtomicU64::new(0),
            tcp: AtomicU64::new(0),
            unmatched: AtomicU64::new(0),
            case_mismatches: AtomicU64::new(0),
            oversize: AtomicU64::new(0),
            case_fallbacks: AtomicU64::new(0),
            ports: Mutex::new(HashSet::new()),
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &StubConfig {
        &self.config
    }

    async fn ask(&self, name: &Name, rtype: RecordType) -> Reply {
        let servers = &self.config.servers;
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let mut last = Reply::Timeout;
        let mut attempt = 0;
        while attempt < self.config.attempts {
            let index = (start + attempt as usize) % servers.len();
            let server = servers[index];
            if attempt > 0 {
                self.retransmits.fetch_add(1, Ordering::Relaxed);
            }
            attempt += 1;
            let request = if self.cases[index].on() {
                build_query(&randomize_case(name), rtype)
            } else {
                build_query(name, rtype)
            };
            self.sent.fetch_add(1, Ordering::Relaxed);
            let mut reply = match self.exchange_udp(index, &request).await {
                Udp::Tcp => {
                    self.tcp.fetch_add(1, Ordering::Relaxed);
                    exchange_tcp(server, &request, self.config.timeout).await
                }
                Udp::Reply(reply) => reply,
            };
            if let Reply::Message(m) = &mut reply {
                restore_question(m, name);
            }
            match &reply {
                Reply::Message(m)
                    if matches!(
                        m.metadata.response_code,
                        ResponseCode::ServFail | ResponseCode::Refused
                    ) && servers.len() > 1 =>
                {
                    last = reply;
                }
                // (This engine never reads a reply itself: no `Read`.)
                Reply::Message(_) | Reply::Read(_) => return reply,
                Reply::Timeout => last = reply,
                Reply::Malformed(_) => last = reply,
            }
            // With several servers a failure moves on to the next one; with
            // one, only timeouts are worth repeating at once.
            if servers.len() == 1 && !matches!(last, Reply::Timeout) {
                return last;
            }
        }
        last
    }

    /// One UDP exchange with server `index`, on a fresh socket (a random
    /// port); only replies from that server (the socket is connected),
    /// with the id and question (case included) of `request` are believed.
    async fn exchange_udp(&self, index: usize, request: &Message) -> Udp {
        let server = self.config.servers[index];
        let deadline = Instant::now() + self.config.timeout;
        let Ok(bytes) = request.to_vec() else {
            return Udp::Reply(Reply::Malformed("could not encode the query".into()));
        };
        let socket = match UdpSocket::bind(unspecified_for(server)).await {
            Ok(s) => s,
            Err(e) => {
                return Udp::Reply(Reply::Malformed(format!("cannot open a UDP socket: {e}")))
            }
        };
        if let Ok(local) = socket.local_addr() {
            self.ports
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(local.port());
        }
        if socket.connect(server).await.is_err() || socket.send(&bytes).await.is_err() {
            // Nothing could be sent: to the caller, a server that did not answer.
            return Udp::Reply(Reply::Timeout);
        }
        // Whole datagrams, to tell an oversize reply from a cut one.
        // Not zeroed: recv_buf writes into the spare capacity.
        let mut buf: Vec<u8> = Vec::with_capacity(MAX_DATAGRAM);
        loop {
            buf.clear();
            let n = match timeout_at(deadline, socket.recv_buf(&mut buf)).await {
                Err(_) => return Udp::Reply(Reply::Timeout),
                // ICMP port unreachable and the like: no answer will come.
                Ok(Err(_)) => return Udp::Reply(Reply::Timeout),
                Ok(Ok(n)) => n,
            };
            if n < 2 || u16::from_be_bytes([buf[0], buf[1]]) != request.metadata.id {
                // Not our id: dropped unparsed, so a flood costs little.
                self.unmatched.fetch_add(1, Ordering::Relaxed);
                continue;
            }
            match Message::from_vec(&buf[..n]) {
                Ok(reply) if matches_request(request, &reply) => {
                    let (verdict, fell_back) = self.cases[index].judge(echo(request, &reply));
                    if fell_back {
                        self.case_fallbacks.fetch_add(1, Ordering::Relaxed);
                    }
                    if verdict == CaseVerdict::Tcp {
                        self.case_mismatches.fetch_add(1, Ordering::Relaxed);
                        return Udp::Tcp;
                    }
                    if n > usize::from(EDNS_PAYLOAD) {
                        self.oversize.fetch_add(1, Ordering::Relaxed);
                        return Udp::Tcp;
                    }
                    if reply.metadata.truncation {
                        return Udp::Tcp;
                    }
                    return Udp::Reply(Reply::Message(Box::new(reply)));
                }
                Ok(_) => {
                    self.unmatched.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    return Udp::Reply(Reply::Malformed(format!(
                        "unparseable reply from {server}: {e}"
                    )));
                }
            }
        }
    }
}

impl Transport for StubTransport {
    fn query<'a>(&'a self, name: &'a Name, rtype: RecordType) -> ReplyFuture<'a> {
        Box::pin(self.ask(name, rtype))
    }

    fn stats(&self) -> TransportStats {
        TransportStats {
            sent: self.sent.load(Ordering::Relaxed),
            retransmits: self.retransmits.load(Ordering::Relaxed),
            unmatched: self.unmatched.load(Ordering::Relaxed),
            tcp: self.tcp.load(Ordering::Relaxed),
            ports: self.ports.lock().unwrap_or_else(|p| p.into_inner()).len() as u64,
            case_mismatches: self.case_mismatches.load(Ordering::Relaxed),
            oversize: self.oversize.load(Ordering::Relaxed),
            case_randomization: StubConfig::CASE_RANDOMIZATION,
            case_fallbacks: self.case_fallbacks.load(Ordering::Relaxed),
        }
    }
}

/// A recursive query for `rtype` of `name`, with a fresh random id and EDNS(0).
pub fn build_query(name: &Name, rtype: RecordType) -> Message {
    let mut msg = Message::new(rand::random(), MessageType::Query, OpCode::Query);
    msg.metadata.recursion_desired = true;
    msg.add_query(Query::query(name.clone(), rtype));
    let mut edns = Edns::new();
    edns.set_max_payload(EDNS_PAYLOAD);
    msg.set_edns(edns);
    msg
}

/// The wire form of [`build_query`]'s message with id `id`, written
/// directly (no [`Message`] built and encoded per query): the header (RD
/// set, one question, one additional record), the question, and the EDNS(0)
/// OPT record advertising [`EDNS_PAYLOAD`]. With `randomize`, the letters
/// of the name get a random case (DNS 0x20, see [`crate::guard`]). The
/// question is `bytes[12..12 + question_len]`, see [`question_len`].
pub fn encode_query(name: &Name, rtype: RecordType, id: u16, randomize: bool) -> Vec<u8> {
    // Header, the name's wire form, type and class, the OPT record.
    let name_len: usize = name.iter().map(|label| label.len() + 1).sum::<usize>() + 1;
    let mut bytes = Vec::with_capacity(12 + name_len + 4 + 11);
    bytes.extend_from_slice(&id.to_be_bytes());
    // Flags: a standard query with RD; QDCOUNT 1, ANCOUNT 0, NSCOUNT 0,
    // ARCOUNT 1.
    bytes.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 1]);
    crate::guard::push_wire_name(&mut bytes, name);
    if randomize {
        crate::guard::randomize_wire_case(&mut bytes[12..]);
    }
    bytes.extend_from_slice(&u16::from(rtype).to_be_bytes());
    // Class IN, then the OPT record (RFC 6891 §6.1.2): root owner, type
    // 41, the payload size as class, extended rcode, version and flags 0,
    // no options.
    bytes.extend_from_slice(&[0, 1]);
    bytes.push(0);
    bytes.extend_from_slice(&[0, 41]);
    bytes.extend_from_slice(&EDNS_PAYLOAD.to_be_bytes());
    bytes.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    bytes
}

/// The length of the question (name, type and class) that starts at byte
/// 12 of a query written by [`encode_query`].
pub fn question_len(query: &[u8]) -> usize {
    let mut at = 12;
    while let Some(&len) = query.get(at) {
        at += 1 + usize::from(len);
        if len == 0 {
            break;
        }
    }
    at + 4 - 12
}

/// Whether `reply` answers `request`: same id, a response, same question.
pub fn matches_request(request: &Message, reply: &Message) -> bool {
    reply.metadata.id == request.metadata.id
        && reply.metadata.message_type == MessageType::Response
        && reply.queries.len() == 1
        && request.queries.len() == 1
        && reply.queries[0].query_type() == request.queries[0].query_type()
        && reply.queries[0]
            .name()
            .eq_ignore_root(request.queries[0].name())
}

fn unspecified_for(server: SocketAddr) -> SocketAddr {
    match server.ip() {
        IpAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        IpAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    }
}

pub(crate) async fn exchange_tcp(
    server: SocketAddr,
    request: &Message,
    timeout: Duration,
) -> Reply {
    let deadline = Instant::now() + timeout;
    let Ok(bytes) = request.to_vec() else {
        return Reply::Malformed("could not encode the query".into());
    };
    let work = async {
        let mut stream = TcpStream::connect(server).await?;
        let mut framed = Vec::with_capacity(bytes.len() + 2);
        framed.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
        framed.extend_from_slice(&bytes);
        stream.write_all(&framed).await?;
        let mut len = [0u8; 2];
        stream.read_exact(&mut len).await?;
        let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
        stream.read_exact(&mut buf).await?;
        Ok::<_, io::Error>(buf)
    };
    match timeout_at(deadline, work).await {
        Err(_) => Reply::Timeout,
        Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => {
            Reply::Malformed(format!("TCP stream from {server} ended mid-message"))
        }
        Ok(Err(_)) => Reply::Timeout,
        Ok(Ok(buf)) => match Message::from_vec(&buf) {
            Ok(reply) if matches_request(request, &reply) => Reply::Message(Box::new(reply)),
            Ok(_) => Reply::Malformed(format!("TCP reply from {server} does not match the query")),
            Err(e) => Reply::Malformed(format!("unparseable TCP reply from {server}: {e}")),
        },
    }
}

/// The resolver settings found in a `resolv.conf` file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SystemConfig {
    /// `nameserver` lines, on port 53.
    pub servers: Vec<SocketAddr>,
    /// `options timeout:N`.
    pub timeout: Option<Duration>,
    /// `options attempts:N`.
    pub attempts: Option<u32>,
}

impl SystemConfig {
    /// Reads `/etc/resolv.conf`.
    pub fn load() -> io::Result<SystemConfig> {
        Ok(Self::parse(&std::fs::read_to_string("/etc/resolv.conf")?))
    }

    /// Parses resolv.conf text (resolv.conf(5)); unknown lines are ignored.
    pub fn parse(text: &str) -> SystemConfig {
        let mut config = SystemConfig::default();
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or_default();
            let mut words = line.split_whitespace();
            match words.next() {
                Some("nameserver") => {
                    if let Some(ip) = words
                        .next()
                        .and_then(|w| w.split('%').next())
                        .and_then(|w| w.parse::<IpAddr>().ok())
                    {
                        config.servers.push(SocketAddr::new(ip, 53));
                    }
                }
                Some("options") => {
                    for opt in words {
                        if let Some(n) = opt.strip_prefix("timeout:").and_then(|n| n.parse().ok()) {
                            config.timeout = Some(Duration::from_secs(n));
                        } else if let Some(n) =
                            opt.strip_prefix("attempts:").and_then(|n| n.parse().ok())
                        {
                            config.attempts = Some(n);
                        }
                    }
                }
                _ => {}
            }
        }
        config
    }
}

/// Parses `IP`, `IP:PORT`, `[IPv6]:PORT` or bare IPv6; the port defaults to 53.
pub fn parse_server(text: &str) -> Result<SocketAddr, String> {
    let text = text.trim();
    if let Ok(sa) = text.parse::<SocketAddr>() {
        return Ok(sa);
    }
    if let Ok(ip) = text.trim_matches(['[', ']']).parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, 53));
    }
    Err(format!(
        "'{text}' is not a resolver address (expected IP or IP:PORT, e.g. 127.0.0.1:5353 or [::1]:53)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolv_conf() {
        let c = SystemConfig::parse(
            "# comment\nsearch example.org\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\nnameserver ::1 # trailing\noptions edns0 timeout:3 attempts:4\nnameserver bogus\n",
        );
        assert_eq!(
            c.servers,
            vec![
                "127.0.0.53:53".parse().unwrap(),
                "[fe80::1]:53".parse().unwrap(),
                "[::1]:53".parse().unwrap()
            ]
        );
        assert_eq!(c.timeout, Some(Duration::from_secs(3)));
        assert_eq!(c.attempts, Some(4));
    }

    #[test]
    fn server_addresses() {
        assert_eq!(
            parse_server("127.0.0.1").unwrap(),
            "127.0.0.1:53".parse().unwrap()
        );
        assert_eq!(
            parse_server("127.0.0.1:5353").unwrap(),
            "127.0.0.1:5353".parse().unwrap()
        );
        assert_eq!(parse_server("::1").unwrap(), "[::1]:53".parse().unwrap());
        assert_eq!(
            parse_server("[::1]:54").unwrap(),
            "[::1]:54".parse().unwrap()
        );
        assert!(parse_server("dns.google")
            .unwrap_err()
            .contains("not a resolver address"));
    }

    #[test]
    fn the_wire_query_is_hickorys_encoding() {
        // Byte for byte what encoding build_query's message gives, for
        // every shape of name: the root, one label, escapes, 63-byte
        // labels, a 253-character name.
        let long = format!(
            "{}.{}.{}.{}.",
            "a".repeat(63),
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(61)
        );
        for text in [
            ".",
            "zz.",
            "mail.example.com.",
            "x\\.y.example.",
            "xn--bcher-kva.example.",
            long.as_str(),
        ] {
            let name = Name::from_ascii(text).unwrap();
            for rtype in [
                RecordType::MX,
                RecordType::A,
                RecordType::AAAA,
                RecordType::CNAME,
            ] {
                let mut msg = build_query(&name, rtype);
                msg.metadata.id = 0xbeef;
                let ours = encode_query(&name, rtype, 0xbeef, false);
                assert_eq!(ours, msg.to_vec().unwrap(), "{text} {rtype}");
                let back = Message::from_vec(&ours).unwrap();
                assert_eq!(back.queries[0].name().to_ascii(), name.to_ascii());
                assert_eq!(back.edns.as_ref().unwrap().max_payload(), EDNS_PAYLOAD);
                // Name, type and class: the name's wire length plus 4.
                let name_len = name.iter().map(|l| l.len() + 1).sum::<usize>() + 1;
                assert_eq!(question_len(&ours), name_len + 4);
            }
        }
        // Randomized: only the case of letters moves, and it does move.
        let name = Name::from_ascii("mail-1.shop.example.net.").unwrap();
        let plain = encode_query(&name, RecordType::MX, 7, false);
        let spellings: std::collections::HashSet<_> = (0..50)
            .map(|_| {
                let r = encode_query(&name, RecordType::MX, 7, true);
                assert_eq!(r.len(), plain.len());
                assert!(r.eq_ignore_ascii_case(&plain));
                assert_eq!(r[..12], plain[..12]);
                assert_eq!(r[r.len() - 15..], plain[plain.len() - 15..]);
                r
            })
            .collect();
        assert!(spellings.len() > 40);
    }

    #[test]
    fn replies_must_match_the_question() {
        let name = Name::from_ascii("a.test.").unwrap();
        let q = build_query(&name, RecordType::MX);
        let mut r = q.clone();
        r.metadata.message_type = MessageType::Response;
        assert!(matches_request(&q, &r));
        let mut wrong_id = r.clone();
        wrong_id.metadata.id = q.metadata.id.wrapping_add(1);
        assert!(!matches_request(&q, &wrong_id));
        let mut wrong_type = r.clone();
        wrong_type.queries = vec![Query::query(name.clone(), RecordType::A)];
        assert!(!matches_request(&q, &wrong_type));
        let mut not_response = r.clone();
        not_response.metadata.message_type = MessageType::Query;
        assert!(!matches_request(&q, &not_response));
        let mut upper = r;
        upper.queries = vec![Query::query(
            Name::from_ascii("A.TEST.").unwrap(),
            RecordType::MX,
        )];
        assert!(matches_request(&q, &upper));
    }
}
