//! The two DNS engines: same verdicts, loss tolerance, and rejection of
//! replies that do not answer the question.

use std::net::UdpSocket;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
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

const FAULT_LIST: &str = "a@ok.zz\na@mx-servfail.zz\na@mx-refused.zz\na@mx-timeout.zz\na@mx-lame.zz\na@mx-malformed.zz\na@mx-formerr.zz\na@big-answer.zz\na@nodata.zz\na@nxdomain.zz\na@implicit-ok.zz\na@implicit-slow.zz\na@target-timeout.zz\na@target-servfail.zz\na@target-mixed.zz\na@trusted.zz\na@v6-loopback.zz\na@v4-mapped.zz\na@zero-mx.zz\na@doc-mx.zz\na@null-mx-ten.zz\na@numeric-pair.zz\na@cname-domain.zz\na@alias-nx.zz\na@chase.zz\na@mx-to-sub.zz\n";

#[test]
fn both_engines_give_identical_output() {
    let lab = LabProcess::start(&[&fixture("faults.zone"), &fixture("other.zone")], &[]);
    let demo = std::fs::read_to_string(root().join("examples/addresses.txt")).unwrap();
    let demo_lab = LabProcess::start(&[&root().join("examples/demo.zone")], &[]);
    for (lab, input) in [(&lab, FAULT_LIST), (&demo_lab, demo.as_str())] {
        let (bulk, _) = engine_rows("bulk", &lab.resolver(), input, &[]);
        let (stub, _) = engine_rows("stub", &lab.resolver(), input, &[]);
        let (hickory, _) = engine_rows("hickory", &lab.resolver(), input, &[]);
        assert!(bulk.len() >= 26);
        assert_eq!(bulk.len(), stub.len());
        assert_eq!(bulk.len(), hickory.len());
        for (b, s) in bulk.iter().zip(&stub) {
            assert_eq!(b, s, "the engines disagree");
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
        .and_then(|n| n.parse().ok())
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
