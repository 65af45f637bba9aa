//! The engines against the in-process lab on loopback: source ports spread
//! and random, DNS 0x20 on the wire, and its fallback for a server that
//! does not echo the case.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use hickory_proto::op::ResponseCode;
use hickory_proto::rr::{Name, RData, RecordType};
use prebounce_core::evidence::QueryStatus;
use prebounce_dns::guard::FALLBACK_STREAK;
use prebounce_dns::{BulkConfig, BulkTransport, Reply, StubConfig, StubTransport, Transport};
use prebounce_lab::{Lab, LabServer, QueryLog, Zone};

/// Every name below zz. has an MX (a wildcard).
const ZONE: &str = "$ORIGIN zz.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n@ NS ns\nns A 127.0.0.1\n*.zz. MX 10 mx.shared.zz.\nmx.shared A 93.184.215.14\n";

async fn lab(lowercase: bool, log: Option<QueryLog>) -> LabServer {
    let (zone, faults) = Zone::parse(ZONE, None).unwrap();
    let mut lab = Lab::new();
    lab.add_zone(zone, faults).unwrap();
    lab.set_lowercase_questions(lowercase);
    LabServer::start(lab, "127.0.0.1:0".parse().unwrap(), log)
        .await
        .unwrap()
}

/// Asks MX of `d0.zz` .. `d{n-1}.zz`, `parallel` at a time; returns how
/// many came back with the wildcard's MX.
async fn ask_many(t: &dyn Transport, n: usize, parallel: usize) -> usize {
    let names: Vec<Name> = (0..n)
        .map(|i| Name::from_ascii(format!("d{i}.zz.")).unwrap())
        .collect();
    stream::iter(names.iter())
        .map(|name| t.query(name, RecordType::MX))
        .buffer_unordered(parallel)
        .filter(|reply| {
            let ok = match reply {
                Reply::Message(m) => {
                    m.metadata.response_code == ResponseCode::NoError
                        && matches!(m.answers.first().map(|r| &r.data), Some(RData::MX(_)))
                        // The question comes back as asked, lowercase.
                        && m.queries[0].name().to_ascii() == m.queries[0].name().to_lowercase().to_ascii()
                }
                // Read by the bulk engine's lean reader: no question kept.
                Reply::Read(i) => {
                    i.status == QueryStatus::Answer
                        && matches!(i.records.first(), Some(RData::MX(_)))
                }
                _ => false,
            };
            std::future::ready(ok)
        })
        .count()
        .await
}

fn spread(ports: &[u16]) -> u16 {
    ports.iter().max().unwrap() - ports.iter().min().unwrap()
}

fn bulk(server: SocketAddr) -> BulkTransport {
    BulkTransport::new(BulkConfig {
        timeout: Duration::from_secs(2),
        ..BulkConfig::new(vec![server])
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_engine_spreads_a_larger_run_over_many_ports_and_closes_them() {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let sink = asked.clone();
    let log: QueryLog = Arc::new(move |_t: &str, name: &str, _ty: &str| {
        sink.lock().unwrap().push(name.to_string());
    });
    let lab = lab(false, Some(log)).await;
    let t = bulk(lab.local_addr());
    let config = BulkConfig::new(vec![]);
    assert_eq!(t.open_sockets(), config.sockets);
    let n = 20_000;
    assert_eq!(ask_many(&t, n, 256).await, n);
    let stats = t.stats();
    // 100 queries per socket: 200 sockets, less the few port numbers the
    // kernel happened to hand out twice.
    let want = (n / config.queries_per_socket as usize) as u64;
    assert!(
        stats.ports >= want * 9 / 10,
        "{} distinct ports for {n} queries: {stats:?}",
        stats.ports
    );
    // Late replies to retransmitted queries are the only strays.
    assert!(stats.unmatched <= stats.retransmits, "{stats:?}");
    assert_eq!(stats.case_mismatches, 0, "{stats:?}");
    assert_eq!(stats.case_fallbacks, 0, "{stats:?}");
    assert!(stats.case_randomization);
    // Retired sockets closed once their queries were answered.
    assert_eq!(t.open_sockets(), config.sockets);
    // The names went out in random case: 3 letters (d, z, z), so 7 in 8
    // have an uppercase one.
    let asked = asked.lock().unwrap();
    let mixed = asked
        .iter()
        .filter(|n| n.chars().any(|c| c.is_ascii_uppercase()))
        .count();
    assert!(
        mixed > n * 8 / 10 && mixed < n * 95 / 100,
        "{mixed} of {} names in mixed case",
        asked.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_engine_rotates_sockets() {
    let lab = lab(false, None).await;
    let t = BulkTransport::new(BulkConfig {
        queries_per_socket: 1,
        sockets: 1,
        ..BulkConfig::new(vec![lab.local_addr()])
    })
    .unwrap();
    for i in 0..64 {
        let name = Name::from_ascii(format!("d{i}.zz.")).unwrap();
        assert!(matches!(
            t.query(&name, RecordType::MX).await,
            Reply::Read(i) if i.status == QueryStatus::Answer
        ));
        assert_eq!(t.open_sockets(), 1, "the retired socket closed");
    }
    // One query per socket: a fresh port every time.
    assert!(t.stats().ports >= 60, "{:?}", t.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_engine_holds_at_most_max_open_sockets() {
    // A server that never answers: retired sockets wait for their queries.
    let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let t = Arc::new(
        BulkTransport::new(BulkConfig {
            queries_per_socket: 1,
            sockets: 2,
            max_open_sockets: 8,
            timeout: Duration::from_millis(300),
            attempts: 1,
            ..BulkConfig::new(vec![silent.local_addr().unwrap()])
        })
        .unwrap(),
    );
    let names: Vec<Name> = (0..100)
        .map(|i| Name::from_ascii(format!("d{i}.zz.")).unwrap())
        .collect();
    let watch = {
        let t = t.clone();
        tokio::spawn(async move {
            let mut most = 0;
            for _ in 0..20 {
                most = most.max(t.open_sockets());
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            most
        })
    };
    let timeouts = stream::iter(names.iter())
        .map(|name| t.query(name, RecordType::MX))
        .buffer_unordered(100)
        .filter(|r| std::future::ready(matches!(r, Reply::Timeout)))
        .count()
        .await;
    assert_eq!(timeouts, 100);
    let most = watch.await.unwrap();
    assert!((2..=8).contains(&most), "{most} sockets open at once");
    assert_eq!(t.open_sockets(), 2, "the retired sockets closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stub_engine_uses_a_random_port_per_question() {
    let lab = lab(false, None).await;
    let t = StubTransport::new(StubConfig {
        servers: vec![lab.local_addr()],
        timeout: Duration::from_secs(2),
        attempts: 2,
    })
    .unwrap();
    assert_eq!(ask_many(&t, 300, 16).await, 300);
    let stats = t.stats();
    assert!(stats.ports >= 280, "{stats:?}");
    assert!(stats.case_randomization);
    assert_eq!(stats.case_mismatches, 0, "{stats:?}");
}

/// The kernel's choice of port is random, not the next free one: the ports
/// of a few sockets opened one after another are spread over the range.
#[test]
fn kernel_ports_are_random() {
    let sockets: Vec<std::net::UdpSocket> = (0..32)
        .map(|_| std::net::UdpSocket::bind("127.0.0.1:0").unwrap())
        .collect();
    let ports: Vec<u16> = sockets
        .iter()
        .map(|s| s.local_addr().unwrap().port())
        .collect();
    assert!(spread(&ports) > 2_000, "sequential ports? {ports:?}");
    let steps = ports
        .windows(2)
        .filter(|w| w[1].abs_diff(w[0]) <= 2)
        .count();
    assert!(steps < 4, "sequential ports? {ports:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_does_not_echo_the_case_gets_0x20_turned_off() {
    let lab = lab(true, None).await;
    let t = bulk(lab.local_addr());
    let n = 300;
    assert_eq!(ask_many(&t, n, 64).await, n, "every answer right");
    let stats = t.stats();
    assert_eq!(stats.case_fallbacks, 1, "{stats:?}");
    assert_eq!(
        stats.case_mismatches,
        u64::from(FALLBACK_STREAK),
        "{stats:?}"
    );
    assert_eq!(stats.tcp, u64::from(FALLBACK_STREAK), "{stats:?}");
    assert!(
        stats.defences().contains("0x20 TURNED OFF"),
        "{}",
        stats.defences()
    );

    let stub = StubTransport::new(StubConfig {
        servers: vec![lab.local_addr()],
        timeout: Duration::from_secs(2),
        attempts: 2,
    })
    .unwrap();
    // One at a time, so the count is exact.
    assert_eq!(ask_many(&stub, 40, 1).await, 40, "every answer right");
    let stats = stub.stats();
    assert_eq!(stats.case_fallbacks, 1, "{stats:?}");
    assert_eq!(
        stats.case_mismatches,
        u64::from(FALLBACK_STREAK),
        "{stats:?}"
    );
    assert_eq!(stats.tcp, u64::from(FALLBACK_STREAK), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_echoes_the_case_keeps_0x20() {
    let lab = lab(false, None).await;
    let t = bulk(lab.local_addr());
    assert_eq!(ask_many(&t, 300, 64).await, 300);
    let stats = t.stats();
    assert_eq!(stats.case_fallbacks, 0, "{stats:?}");
    assert_eq!(stats.tcp, 0, "{stats:?}");
    assert!(stats.defences().contains("0x20 on"), "{}", stats.defences());
}

/// A server that answers every query with an echo of it (QR set): first a
/// perfect forgery from another socket, then the true reply from its own.
async fn echo_with_forgery() -> SocketAddr {
    let server = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let forger = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        loop {
            let Ok((n, from)) = server.recv_from(&mut buf).await else {
                continue;
            };
            buf[2] |= 0x80;
            let _ = forger.send_to(&buf[..n], from).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            let _ = server.send_to(&buf[..n], from).await;
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_from_the_wrong_address_is_never_believed() {
    let name = Name::from_ascii("d1.zz.").unwrap();
    // One server: the sockets are connected to it, and the kernel drops
    // the forgery before the engine sees it.
    let one = echo_with_forgery().await;
    let t = bulk(one);
    for _ in 0..4 {
        assert!(matches!(
            t.query(&name, RecordType::MX).await,
            Reply::Read(_)
        ));
    }
    assert_eq!(t.stats().unmatched, 0, "{:?}", t.stats());
    // Two servers: the sockets are not connected (a retransmission may go
    // to the other server); the engine drops the forgery itself, by its
    // source, and counts it.
    let other = echo_with_forgery().await;
    let t = BulkTransport::new(BulkConfig {
        timeout: Duration::from_secs(2),
        ..BulkConfig::new(vec![one, other])
    })
    .unwrap();
    for _ in 0..4 {
        assert!(matches!(
            t.query(&name, RecordType::MX).await,
            Reply::Read(_)
        ));
    }
    assert_eq!(t.stats().unmatched, 4, "{:?}", t.stats());
}
