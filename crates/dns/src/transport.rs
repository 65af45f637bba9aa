//! Transports: how one question reaches a DNS server and what comes back.
//!
//! [`Transport`] is the seam between the evidence layer and the wire: the
//! [`StubTransport`] here (UDP with TCP on truncation, one socket per query)
//! is the default engine; a bulk engine with long-lived sockets plugs in
//! behind the same trait.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::{timeout_at, Instant};

/// What one exchange with the DNS produced.
#[derive(Clone, Debug)]
pub enum Reply {
    /// A well-formed response to our question.
    Message(Box<Message>),
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
    /// Questions asked again over TCP after a truncated reply.
    pub tcp: u64,
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

/// A stub resolver transport: asks recursive (or, in the lab,
/// authoritative) servers with RD set, over UDP, and again over TCP when
/// the UDP answer is truncated.
///
/// Replies are accepted only from the server asked, with the query's id
/// and question; anything else is ignored (spoofing, stray packets).
/// SERVFAIL, REFUSED and malformed replies are tried once more at the next
/// server when there is one; timeouts are retried up to `attempts`.
#[derive(Debug)]
pub struct StubTransport {
    config: StubConfig,
    next: AtomicUsize,
    sent: AtomicU64,
    retransmits: AtomicU64,
    tcp: AtomicU64,
}

/// The EDNS(0) UDP payload we advertise (the DNS Flag Day 2020 value).
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
            config: StubConfig {
                attempts: config.attempts.max(1),
                ..config
            },
            next: AtomicUsize::new(0),
            sent: AtomicU64::new(0),
            retransmits: AtomicU64::new(0),
            tcp: AtomicU64::new(0),
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
            let server = servers[(start + attempt as usize) % servers.len()];
            if attempt > 0 {
                self.retransmits.fetch_add(1, Ordering::Relaxed);
            }
            attempt += 1;
            let request = build_query(name, rtype);
            self.sent.fetch_add(1, Ordering::Relaxed);
            let reply = match exchange_udp(server, &request, self.config.timeout).await {
                Reply::Message(m) if m.metadata.truncation => {
                    self.tcp.fetch_add(1, Ordering::Relaxed);
                    exchange_tcp(server, &request, self.config.timeout).await
                }
                other => other,
            };
            match &reply {
                Reply::Message(m)
                    if matches!(
                        m.metadata.response_code,
                        ResponseCode::ServFail | ResponseCode::Refused
                    ) && servers.len() > 1 =>
                {
                    last = reply;
                }
                Reply::Message(_) => return reply,
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
}

impl Transport for StubTransport {
    fn query<'a>(&'a self, name: &'a Name, rtype: RecordType) -> ReplyFuture<'a> {
        Box::pin(self.ask(name, rtype))
    }

    fn stats(&self) -> TransportStats {
        TransportStats {
            sent: self.sent.load(Ordering::Relaxed),
            retransmits: self.retransmits.load(Ordering::Relaxed),
            unmatched: 0,
            tcp: self.tcp.load(Ordering::Relaxed),
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

async fn exchange_udp(server: SocketAddr, request: &Message, timeout: Duration) -> Reply {
    let deadline = Instant::now() + timeout;
    let Ok(bytes) = request.to_vec() else {
        return Reply::Malformed("could not encode the query".into());
    };
    let socket = match UdpSocket::bind(unspecified_for(server)).await {
        Ok(s) => s,
        Err(e) => return Reply::Malformed(format!("cannot open a UDP socket: {e}")),
    };
    if socket.connect(server).await.is_err() || socket.send(&bytes).await.is_err() {
        // Nothing could be sent: to the caller, a server that did not answer.
        return Reply::Timeout;
    }
    // We advertise a 1232-byte EDNS payload; a larger datagram is cut here
    // and reads as malformed.
    let mut buf = [0u8; 4096];
    loop {
        let n = match timeout_at(deadline, socket.recv(&mut buf)).await {
            Err(_) => return Reply::Timeout,
            // ICMP port unreachable and the like: no answer will come.
            Ok(Err(_)) => return Reply::Timeout,
            Ok(Ok(n)) => n,
        };
        match Message::from_vec(&buf[..n]) {
            Ok(reply) if matches_request(request, &reply) => {
                return Reply::Message(Box::new(reply))
            }
            Ok(_) => continue,
            Err(e) => {
                if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == request.metadata.id {
                    return Reply::Malformed(format!("unparseable reply from {server}: {e}"));
                }
            }
        }
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
