//! The DNS engines: same verdicts (oversize and malformed replies
//! included), loss tolerance, rejection of replies that do not answer the
//! question, blind spoofing floods, and servers that do not echo DNS 0x20.

use std::collections::HashSet;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, MX, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use crate::util::*;

fn engine_rows(
    engine: &str,
    resolver: &str,
    input: &str,
    extra: &[&str],
) -> (Vec<serde_json::Value>, String) {
    let mut args = vec![
        "check",
        "--dns-engine",
        engine,
        "--resolver",
        resolver,
        "--format",
        "jsonl",
        "--no-history",
    ];
    if !extra.contains(&"--dns-timeout") {
        args.extend(["--dns-timeout", "300ms"]);
    }
    args.extend(extra);
    let out = run_ok(&args, Some(input.as_bytes()));
    (jsonl(&out), String::from_utf8(out.stderr).unwrap())
}

const FAULT_LIST: &str = "a@ok.zz\na@mx-servfail.zz\na@mx-refused.zz\na@mx-timeout.zz\na@mx-lame.zz\na@mx-malformed.zz\na@mx-formerr.zz\na@big-answer.zz\na@nodata.zz\na@nxdomain.zz\na@implicit-ok.zz\na@implicit-slow.zz\na@target-timeout.zz\na@target-servfail.zz\na@target-mixed.zz\na@trusted.zz\na@v6-loopback.zz\na@v4-mapped.zz\na@zero-mx.zz\na@doc-mx.zz\na@null-mx-ten.zz\na@numeric-pair.zz\na@cname-domain.zz\na@alias-nx.zz\na@chase.zz\na@mx-to-sub.zz\na@mx-oversize.zz\na@target-oversize.zz\n";

#[test]
fn both_engines_give_identical_output() {
    let lab = LabProcess::start(&[&fixture("faults.zone"), &fixture("other.zone")], &[]);
    let demo = std::fs::read_to_string(root().join("examples/addresses.txt")).unwrap();
    let demo_lab = LabProcess::start(&[&root().join("examples/demo.zone")], &[]);
    for (lab, input) in [(&lab, FAULT_LIST), (&demo_lab, demo.as_str())] {
        let (bulk, bulk_summary) = engine_rows("bulk", &lab.resolver(), input, &[]);
        let (stub, stub_summary) = engine_rows("stub", &lab.resolver(), input, &[]);
        let (hickory, _) = engine_rows("hickory", &lab.resolver(), input, &[]);
        assert!(bulk.len() >= 28);
        assert_eq!(bulk.len(), stub.len());
        assert_eq!(bulk.len(), hickory.len());
        for (b, s) in bulk.iter().zip(&stub) {
            assert_eq!(b, s, "the engines disagree");
        }
        // A UDP reply larger than the EDNS payload we advertise (1232), TC
        // not set, is not believed by any engine: each asks again over TCP
        // and delivers on the TCP answer (see prebounce_dns::EDNS_PAYLOAD).
        if input == FAULT_LIST {
            let rows = by_address(&bulk);
            for a in ["a@mx-oversize.zz", "a@target-oversize.zz"] {
                assert_eq!(rows[a]["reason"], "deliverable", "{}", rows[a]);
            }
            let tcp = |name: &str, rtype: &str| {
                lab.queries()
                    .iter()
                    .filter(|(t, ty, n)| t == "tcp" && ty == rtype && n == name)
                    .count()
            };
            assert_eq!(tcp("mx-oversize.zz.", "MX"), 3, "one TCP query per engine");
            assert_eq!(tcp("big-host.zz.", "A"), 3, "one TCP query per engine");
            for summary in [&bulk_summary, &stub_summary] {
                assert_eq!(
                    count_before(summary, " oversize UDP replies asked again over TCP"),
                    2,
                    "{summary}"
                );
            }
        }
        // hickory-resolver keeps less evidence (no CNAME chain before an
        // NXDOMAIN, a malformed reply waited out as a timeout): the
        // verdicts and the MX evidence must still match.
        for (b, h) in bulk.iter().zip(&hickory) {
            for f in [
                "address",
                "reason",
                "action",
                "status",
                "warnings",
                "mx",
                "suggestion",
            ] {
                assert_eq!(
                    b[f], h[f],
                    "{}: {f}\nbulk    {b}\nhickory {h}",
                    b["address"]
                );
            }
        }
    }
}

/// A world of a few hundred domains in every shape, as zone text, and a
/// list with each domain twice.
fn mixed_world(n: usize) -> (String, String) {
    let mut zone = String::from("$ORIGIN zz.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\nmx.shared A 93.184.215.14\nmx.shared AAAA 2606:2800:21f:cb07::25\n");
    let mut list = String::new();
    for i in 0..n {
        match i % 7 {
            0 | 1 => zone.push_str(&format!("d{i} MX 10 mx.shared\n")),
            2 => zone.push_str(&format!(
                "d{i} MX 10 mail.d{i}\nmail.d{i} A 93.184.{}.{}\n",
                i / 250,
                i % 250
            )),
            3 => zone.push_str(&format!("d{i} MX 0 .\n")),
            4 => zone.push_str(&format!("d{i} TXT \"no mail\"\n")),
            5 => zone.push_str(&format!("d{i} MX 10 gone.d{i}\nd{i} A 93.184.215.99\n")),
            _ => {} // NXDOMAIN
        }
        list.push_str(&format!("a@d{i}.zz\nb@d{i}.zz\n"));
    }
    (zone, list)
}

#[test]
fn five_percent_udp_loss_changes_no_verdict() {
    let dir = Dir::new();
    let (zone, list) = mixed_world(700);
    let zone = dir.write("mixed.zone", zone);
    let clean = LabProcess::start(&[&zone], &[]);
    let lossy = LabProcess::start(&[&zone], &["--drop-rate", "0.05"]);
    let (want, _) = engine_rows("bulk", &clean.resolver(), &list, &["--dns-timeout", "2s"]);
    let (got, summary) = engine_rows("bulk", &lossy.resolver(), &list, &["--dns-timeout", "2s"]);
    assert_eq!(want.len(), 1400);
    assert!(
        want.iter().all(|r| r["reason"] != "dns_failure"),
        "the clean run has no failures"
    );
    for (w, g) in want.iter().zip(&got) {
        assert_eq!(w, g, "loss changed a verdict");
    }
    let retransmitted: u64 = summary
        .split(" retransmitted")
        .next()
        .and_then(|s| s.rsplit(' ').next())
        .and_then(|n| n.replace(',', "").parse().ok())
        .unwrap_or_else(|| panic!("no retransmission count in {summary}"));
    assert!(
        retransmitted > 0,
        "replies were dropped, so some were retransmitted: {summary}"
    );
}

/// A resolver that, for every question, first sends a reply with another
/// id, then one with the right id but another question, both NXDOMAIN, and
/// only then the true answer.
fn spoofing_resolver() -> std::net::SocketAddr {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = socket.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        loop {
            let Ok((n, peer)) = socket.recv_from(&mut buf) else {
                return;
            };
            let Ok(query) = Message::from_vec(&buf[..n]) else {
                continue;
            };
            let q = query.queries[0].clone();
            let reply = |id: u16, name: &Name, code: ResponseCode| {
                let mut m = Message::new(id, MessageType::Response, query.metadata.op_code);
                m.metadata.response_code = code;
                m.add_query(hickory_proto::op::Query::query(
                    name.clone(),
                    q.query_type(),
                ));
                m
            };
            let other = Name::from_ascii("elsewhere.zz.").unwrap();
            let wrong_id = reply(
                query.metadata.id.wrapping_add(1),
                q.name(),
                ResponseCode::NXDomain,
            );
            let wrong_q = reply(query.metadata.id, &other, ResponseCode::NXDomain);
            let mut right = reply(query.metadata.id, q.name(), ResponseCode::NoError);
            let soa = RData::SOA(SOA::new(other.clone(), other.clone(), 1, 60, 60, 60, 60));
            match q.query_type() {
                RecordType::MX => right.add_answer(Record::from_rdata(
                    q.name().clone(),
                    60,
                    RData::MX(MX::new(10, Name::from_ascii("mx.spoof.zz.").unwrap())),
                )),
                RecordType::A => right.add_answer(Record::from_rdata(
                    q.name().clone(),
                    60,
                    RData::A(A::new(93, 184, 215, 14)),
                )),
                _ => right.add_authority(Record::from_rdata(
                    Name::from_ascii("zz.").unwrap(),
                    60,
                    soa,
                )),
            };
            for m in [wrong_id, wrong_q, right] {
                let _ = socket.send_to(&m.to_vec().unwrap(), peer);
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    });
    addr
}

#[test]
fn replies_that_do_not_match_the_question_are_ignored() {
    let resolver = spoofing_resolver().to_string();
    for engine in ["bulk", "stub"] {
        let (rows, _) = engine_rows(engine, &resolver, "a@spoof.zz\n", &[]);
        assert_eq!(rows[0]["reason"], "deliverable", "{engine}: {}", rows[0]);
        assert_eq!(rows[0]["dns"]["mx"], "answer");
    }
}

/// The number written just before `what` in `summary` (with thousands
/// separators), 0 when absent.
fn count_before(summary: &str, what: &str) -> u64 {
    summary
        .split(what)
        .next()
        .filter(|head| head.len() < summary.len())
        .and_then(|head| head.rsplit([' ', '\n']).next())
        .and_then(|n| n.replace(',', "").parse().ok())
        .unwrap_or(0)
}

/// A resolver that never answers, and an attacker beside it who learns
/// the source port of every query (not its id, nor the case of its name)
/// and floods that port with forged NXDOMAIN replies for `name` MX in
/// lowercase, with every id from 0 to 65535: first from another socket
/// (the wrong source), then from the resolver's own address and port, pass
/// after pass until `stop` is set (on a loaded machine the engine may read
/// too slowly and the kernel drop the one forgery with the right id).
/// Stronger than a blind attacker, who must also guess the port. Returns
/// the resolver's address and the count of forgeries sent.
fn silent_resolver_with_attacker(
    name: &str,
    stop: Arc<AtomicBool>,
) -> (SocketAddr, Arc<AtomicU64>) {
    use hickory_proto::rr::rdata::SOA;
    let zz = Name::from_ascii("zz.").unwrap();
    let mut m = Message::new(0, MessageType::Response, OpCode::Query);
    m.metadata.response_code = ResponseCode::NXDomain;
    m.metadata.authoritative = true;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(
        Name::from_ascii(name).unwrap(),
        RecordType::MX,
    ));
    m.add_authority(Record::from_rdata(
        zz.clone(),
        300,
        RData::SOA(SOA::new(zz.clone(), zz, 1, 60, 60, 60, 60)),
    ));
    let mut forged = m.to_vec().unwrap();
    let server = UdpSocket::bind("127.0.0.1:0").unwrap();
    let elsewhere = UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = server.local_addr().unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let count = sent.clone();
    std::thread::spawn(move || {
        let mut flooded = HashSet::new();
        let mut buf = [0u8; 4096];
        loop {
            let Ok((_, peer)) = server.recv_from(&mut buf) else {
                return;
            };
            // Once per port: a retransmission comes from the same one.
            if !flooded.insert(peer.port()) {
                continue;
            }
            // The wrong source once, then the right one until the run ends
            // (at most 8 passes).
            let passes = std::iter::once(&elsewhere).chain(std::iter::repeat_n(&server, 8));
            for from in passes {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                // A runt first (shorter than a header): always dropped, so
                // a pass always leaves something counted.
                let _ = from.send_to(&[0u8; 4], peer);
                for id in 0..=u16::MAX {
                    forged[..2].copy_from_slice(&id.to_be_bytes());
                    let _ = from.send_to(&forged, peer);
                    count.fetch_add(1, Ordering::Relaxed);
                    if id % 512 == 511 {
                        // Paced (a pass takes about half a second), so the
                        // kernel's receive buffer does not overflow when the
                        // engine keeps up.
                        std::thread::sleep(Duration::from_millis(3));
                    }
                }
            }
        }
    });
    (addr, sent)
}

#[test]
fn a_flood_of_forged_nxdomain_replies_is_never_believed() {
    let name = "never-answers-this-question.zz.";
    let address = format!("a@{}\n", name.trim_end_matches('.'));
    for engine in ["bulk", "stub", "hickory"] {
        let stop = Arc::new(AtomicBool::new(false));
        let (resolver, sent) = silent_resolver_with_attacker(name, stop.clone());
        let (rows, summary) = engine_rows(
            engine,
            &resolver.to_string(),
            &address,
            // Generous: a hit ends the run at once (TCP is refused), and
            // each attempt gives the attacker several passes of ids even on
            // a loaded machine (a pass takes about a second when idle).
            &["--dns-timeout", "8s", "--dns-attempts", "2"],
        );
        stop.store(true, Ordering::Relaxed);
        assert_eq!(rows.len(), 1, "{summary}");
        assert_eq!(
            (rows[0]["action"].as_str(), rows[0]["reason"].as_str()),
            (Some("retry"), Some("dns_failure")),
            "{engine}: a forged NXDOMAIN was believed: {}\n{summary}",
            rows[0]
        );
        // The wrong-source pass was over before the right-source one began.
        let sent = sent.load(Ordering::Relaxed);
        assert!(sent > 65_536, "{engine}: only {sent} forgeries sent");
        if engine == "hickory" {
            continue; // hickory counts nothing
        }
        // Some forgeries had the right source, port and id and matched
        // the question but for its random case: not believed, the question
        // went to TCP (where nothing listens: a temporary failure).
        let wrong_case = count_before(&summary, " replies with the wrong case");
        assert!(wrong_case >= 1, "{engine}: no forgery hit\n{summary}");
        assert!(summary.contains("0x20 on"), "{engine}: {summary}");
        if engine == "bulk" {
            // The rest were dropped for their id (or size). Both engines'
            // sockets are connected to the one resolver, so the kernel drops
            // the wrong-source pass unseen; the right-source pass up to the
            // hit is counted: its runt, and every id before the one in
            // flight.
            let dropped = count_before(&summary, " stray or forged replies dropped");
            assert!(dropped >= 1, "{engine}: {summary}");
        }
    }
}

#[test]
fn a_resolver_that_does_not_echo_the_case_gives_the_same_verdicts() {
    let (faults, other) = (fixture("faults.zone"), fixture("other.zone"));
    let zones = [faults.as_path(), other.as_path()];
    let echoing = LabProcess::start(&zones, &[]);
    let lowercasing = LabProcess::start(&zones, &["--no-case-echo"]);
    for engine in ["bulk", "stub", "hickory"] {
        let (want, _) = engine_rows(engine, &echoing.resolver(), FAULT_LIST, &[]);
        let (got, summary) = engine_rows(engine, &lowercasing.resolver(), FAULT_LIST, &[]);
        assert_eq!(want.len(), got.len());
        for (w, g) in want.iter().zip(&got) {
            if engine == "hickory" {
                // Over TCP hickory sees the malformed reply it waits out
                // over UDP: the evidence differs, not the verdict.
                for f in ["reason", "action", "status", "warnings", "mx"] {
                    assert_eq!(w[f], g[f], "{engine}: a lost case changed a verdict");
                }
            } else {
                assert_eq!(w, g, "{engine}: a lost case changed a verdict");
            }
        }
        if engine != "hickory" {
            assert!(
                summary
                    .contains("0x20 TURNED OFF for 1 server(s) that do not echo the query's case"),
                "{engine}: {summary}"
            );
            assert_eq!(
                count_before(&summary, " replies with the wrong case"),
                u64::from(prebounce::dns::guard::FALLBACK_STREAK),
                "{engine}: {summary}"
            );
        }
    }
}

#[test]
fn every_engine_advertises_the_same_edns_buffer_and_randomizes_the_case() {
    for engine in ["bulk", "stub", "hickory"] {
        // A resolver that notes each query's EDNS buffer and name, and
        // answers REFUSED.
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(3)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok((n, peer)) = socket.recv_from(&mut buf) {
                let Ok(query) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                let payload = query.edns.as_ref().map(|e| e.max_payload());
                sink.lock()
                    .unwrap()
                    .push((payload, query.queries[0].name().to_ascii()));
                let mut reply = query.clone();
                reply.metadata.message_type = MessageType::Response;
                reply.metadata.response_code = ResponseCode::Refused;
                let _ = socket.send_to(&reply.to_vec().unwrap(), peer);
            }
        });
        let (rows, _) = engine_rows(
            engine,
            &addr.to_string(),
            "a@mail-service-provider.zz\n",
            &[],
        );
        assert_eq!(rows[0]["reason"], "dns_failure", "{engine}: {}", rows[0]);
        let seen = seen.lock().unwrap();
        assert!(!seen.is_empty(), "{engine}: no query");
        for (payload, name) in seen.iter() {
            assert_eq!(*payload, Some(1232), "{engine}: {name}");
            assert_eq!(name.to_lowercase(), "mail-service-provider.zz.");
        }
        // 0x20: 21 letters, each query its own random case.
        assert!(
            seen.iter()
                .all(|(_, n)| n.chars().any(|c| c.is_ascii_uppercase())
                    && n.chars().any(|c| c.is_ascii_lowercase())),
            "{engine}: {seen:?}"
        );
    }
}

/// `--dns-in-flight` bounds the questions out at once, and its default is
/// three quarters of `--concurrency`: a server that never answers sees
/// exactly that many distinct questions before the first retransmission
/// (500 ms after a question is sent, before any round trip was measured).
#[test]
fn questions_in_flight_are_bounded() {
    use std::io::Write as _;
    use std::process::Stdio;
    use std::time::Instant;
    let input: String = (0..40).map(|i| format!("a@d{i}.zz\n")).collect();
    for (extra, expected) in [
        (&["--dns-in-flight", "5"][..], 5),
        (&["--concurrency", "8"][..], 6),
        (&["--concurrency", "8", "--dns-in-flight", "8"][..], 8),
    ] {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let resolver = socket.local_addr().unwrap().to_string();
        let mut child = bin()
            .args(["check", "--dns-engine", "bulk", "--resolver", &resolver])
            .args(["--no-history", "--dns-timeout", "5s", "--dns-attempts", "1"])
            .args(["-o", "/dev/null"])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let mut questions = HashSet::new();
        let mut datagrams = 0;
        let mut first = None;
        let limit = Instant::now() + Duration::from_secs(30);
        let mut buf = [0u8; 512];
        // From the first question, 350 ms: every question the ceiling lets
        // out is sent at once, and none is sent again yet.
        while first.is_none_or(|t: Instant| t.elapsed() < Duration::from_millis(350))
            && Instant::now() < limit
        {
            let Ok((n, _)) = socket.recv_from(&mut buf) else {
                continue;
            };
            first.get_or_insert_with(Instant::now);
            datagrams += 1;
            let query = Message::from_vec(&buf[..n]).unwrap();
            let q = &query.queries[0];
            questions.insert((q.name().to_lowercase().to_ascii(), q.query_type()));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(questions.len(), expected, "{extra:?}: {questions:?}");
        assert_eq!(datagrams, expected, "{extra:?}: sent again too early");
    }
}
