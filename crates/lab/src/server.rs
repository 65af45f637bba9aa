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
                let max = request
                    .edns
                    .as_ref()
                    .map(|e| e.max_payload().clamp(512, 1232) as usize)
                    .unwrap_or(512);
                encode(&lab, &request, true, max)
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
                encode(&lab, &request, false, u16::MAX as usize)
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
