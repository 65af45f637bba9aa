//! The lab's sockets: UDP and TCP on one port.

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

use crate::zone::{Lab, Response};

/// A hook that sees every query: `(transport, name, type)`.
pub type QueryLog = Arc<dyn Fn(&str, &str, &str) + Send + Sync>;

/// A running lab server. Dropping it stops it.
pub struct LabServer {
    addr: SocketAddr,
    queries: Arc<AtomicU64>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for LabServer {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl LabServer {
    /// Binds UDP and TCP on `addr` (port 0: the same ephemeral port for
    /// both) and serves `lab` until dropped.
    pub async fn start(lab: Lab, addr: SocketAddr, log: Option<QueryLog>) -> io::Result<LabServer> {
        let (udp, tcp) = bind_pair(addr).await?;
        let addr = udp.local_addr()?;
        let lab = Arc::new(lab);
        let queries = Arc::new(AtomicU64::new(0));
        let udp_task = tokio::spawn(serve_udp(udp, lab.clone(), queries.clone(), log.clone()));
        let tcp_task = tokio::spawn(serve_tcp(tcp, lab, queries.clone(), log));
        Ok(LabServer {
            addr,
            queries,
            tasks: vec![udp_task, tcp_task],
        })
    }

    /// Where it listens (UDP and TCP).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// How many queries it has received.
    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::Relaxed)
    }
}

/// A UDP socket with a large receive buffer, so bursts from a bulk client
/// are not dropped by the kernel (the lab drops only what it is told to).
fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let domain = if addr.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    let _ = socket.set_recv_buffer_size(8 << 20);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

async fn bind_pair(addr: SocketAddr) -> io::Result<(UdpSocket, TcpListener)> {
    if addr.port() != 0 {
        return Ok((bind_udp(addr)?, TcpListener::bind(addr).await?));
    }
    let mut last = None;
    for _ in 0..20 {
        let udp = bind_udp(addr)?;
        let port = udp.local_addr()?.port();
        match TcpListener::bind(SocketAddr::new(addr.ip(), port)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free port")))
}

fn note(log: &Option<QueryLog>, transport: &str, request: &Message) {
    if let (Some(log), Some(q)) = (log, request.queries.first()) {
        log(transport, &q.name().to_ascii(), &q.query_type().to_string());
    }
}

impl Lab {
    /// The reply the lab's server sends to `query` (the bytes of one DNS
    /// message) received over UDP (`udp` true) or TCP, or `None` when it
    /// sends nothing (a `timeout` fault, a UDP message that is not a
    /// query, bytes too short to carry an id). Faults apply; the drop rate
    /// does not (see [`Lab::drop_rate`]). For clients that talk to the lab
    /// without sockets; the server uses the same code.
    pub fn reply_bytes(&self, query: &[u8], udp: bool) -> Option<Vec<u8>> {
        match Message::from_vec(query) {
            Ok(request) if udp && request.metadata.message_type != MessageType::Query => None,
            Ok(request) => self.reply_to(&request, udp),
            Err(_) => formerr(query),
        }
    }

    /// The reply to a parsed request: over UDP cut to the request's EDNS
    /// payload (512 bytes without EDNS, at most 1232) with TC set when the
    /// answer does not fit; over TCP whole.
    fn reply_to(&self, request: &Message, udp: bool) -> Option<Vec<u8>> {
        let max = if udp {
            request
                .edns
                .as_ref()
                .map(|e| e.max_payload().clamp(512, 1232) as usize)
                .unwrap_or(512)
        } else {
            u16::MAX as usize
        };
        encode(self, request, udp, max)
    }
}

fn encode(lab: &Lab, request: &Message, udp: bool, max: usize) -> Option<Vec<u8>> {
    match lab.respond(request, udp) {
        Response::Drop => None,
        Response::Raw(bytes) => Some(bytes),
        Response::Message(mut m) => {
            let bytes = m.to_vec().ok()?;
            if bytes.len() <= max {
                return Some(bytes);
            }
            // Too large for UDP: send the header and question with TC set.
            m.answers.clear();
            m.authorities.clear();
            m.additionals.clear();
            m.metadata.truncation = true;
            m.to_vec().ok()
        }
    }
}

fn formerr(buf: &[u8]) -> Option<Vec<u8>> {
    if buf.len() < 12 {
        return None;
    }
    let id = u16::from_be_bytes([buf[0], buf[1]]);
    let mut m = Message::new(id, MessageType::Response, hickory_proto::op::OpCode::Query);
    m.metadata.response_code = ResponseCode::FormErr;
    m.to_vec().ok()
}

async fn serve_udp(
    socket: UdpSocket,
    lab: Arc<Lab>,
    queries: Arc<AtomicU64>,
    log: Option<QueryLog>,
) {
    let mut buf = vec![0u8; 65_535];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        queries.fetch_add(1, Ordering::Relaxed);
        let reply = match Message::from_vec(&buf[..n]) {
            Ok(request) if request.metadata.message_type == MessageType::Query => {
                note(&log, "udp", &request);
                lab.reply_to(&request, true)
            }
            Ok(_) => None,
            Err(_) => formerr(&buf[..n]),
        };
        if lab.drop_rate() > 0.0 && rand::random::<f64>() < lab.drop_rate() {
            continue; // a lost reply
        }
        if let Some(bytes) = reply {
            let _ = socket.send_to(&bytes, peer).await;
        }
    }
}

async fn serve_tcp(
    listener: TcpListener,
    lab: Arc<Lab>,
    queries: Arc<AtomicU64>,
    log: Option<QueryLog>,
) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(serve_connection(
            stream,
            lab.clone(),
            queries.clone(),
            log.clone(),
        ));
    }
}

async fn serve_connection(
    mut stream: TcpStream,
    lab: Arc<Lab>,
    queries: Arc<AtomicU64>,
    log: Option<QueryLog>,
) {
    loop {
        let mut len = [0u8; 2];
        if stream.read_exact(&mut len).await.is_err() {
            return;
        }
        let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
        if stream.read_exact(&mut buf).await.is_err() {
            return;
        }
        queries.fetch_add(1, Ordering::Relaxed);
        let reply = match Message::from_vec(&buf) {
            Ok(request) => {
                note(&log, "tcp", &request);
                lab.reply_to(&request, false)
            }
            Err(_) => formerr(&buf),
        };
        match reply {
            // A timeout fault: say nothing to this query, and go on
            // answering the next ones on the connection (a client may send
            // several on one, as hickory does).
            None => continue,
            Some(bytes) => {
                let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
                framed.extend_from_slice(&bytes);
                if stream.write_all(&framed).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::Zone;
    use hickory_proto::op::{Edns, OpCode, Query};
    use hickory_proto::rr::{Name, RecordType};

    fn lab() -> Lab {
        let mut text = String::from(
            "$ORIGIN big.zz.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n@ NS ns\nns A 127.0.0.1\n;! fault gone timeout\n",
        );
        for i in 0..40 {
            text.push_str(&format!("many A 192.0.2.{i}\n"));
        }
        let (zone, faults) = Zone::parse(&text, None).unwrap();
        let mut lab = Lab::new();
        lab.add_zone(zone, faults).unwrap();
        lab
    }

    fn query(name: &str, edns: bool) -> Message {
        let mut q = Message::new(4242, MessageType::Query, OpCode::Query);
        q.add_query(Query::query(Name::from_ascii(name).unwrap(), RecordType::A));
        if edns {
            let mut e = Edns::new();
            e.set_max_payload(1232);
            q.set_edns(e);
        }
        q
    }

    fn reply(lab: &Lab, q: &Message, udp: bool) -> Option<Message> {
        lab.reply_bytes(&q.to_vec().unwrap(), udp)
            .map(|b| Message::from_vec(&b).unwrap())
    }

    #[test]
    fn reply_bytes_answers_like_the_server() {
        let lab = lab();
        // 40 A records do not fit 512 bytes: TC over UDP without EDNS ...
        let small = reply(&lab, &query("many.big.zz.", false), true).unwrap();
        assert_eq!(small.metadata.id, 4242);
        assert!(small.metadata.truncation);
        assert!(small.answers.is_empty());
        // ... they fit the EDNS payload, and TCP carries them whole.
        let edns = reply(&lab, &query("many.big.zz.", true), true).unwrap();
        assert!(!edns.metadata.truncation);
        assert_eq!(edns.answers.len(), 40);
        let tcp = reply(&lab, &query("many.big.zz.", false), false).unwrap();
        assert_eq!(tcp.answers.len(), 40);
        // A timeout fault sends nothing, over either transport.
        assert!(reply(&lab, &query("gone.big.zz.", true), true).is_none());
        assert!(reply(&lab, &query("gone.big.zz.", true), false).is_none());
        // Junk with an id is FORMERR; junk without one is ignored.
        let junk = lab.reply_bytes(&[0x12, 0x34, 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 1], true);
        let junk = Message::from_vec(&junk.unwrap()).unwrap();
        assert_eq!(junk.metadata.id, 0x1234);
        assert_eq!(junk.metadata.response_code, ResponseCode::FormErr);
        assert!(lab.reply_bytes(&[1, 2, 3], true).is_none());
        // A response sent to the server over UDP is not answered.
        let mut response = query("many.big.zz.", true);
        response.metadata.message_type = MessageType::Response;
        assert!(lab.reply_bytes(&response.to_vec().unwrap(), true).is_none());
    }
}
