//! Port-25 probes end to end: real TCP listeners on loopback addresses,
//! MX records pointing at them, and the real binary.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::util::*;

fn at(ip: &str, port: u16) -> SocketAddr {
    format!("{ip}:{port}").parse().unwrap()
}

/// Zone text for domains whose MX hosts have the given addresses.
fn zone(domains: &[(&str, &[&str])]) -> String {
    let mut z = String::from("$ORIGIN zz.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n");
    for (d, ips) in domains {
        if ips.is_empty() {
            continue;
        }
        for (i, ip) in ips.iter().enumerate() {
            z.push_str(&format!(
                "{d} MX {} mx{i}.{d}\nmx{i}.{d} A {ip}\n",
                (i + 1) * 10
            ));
        }
    }
    z
}

fn probe_check(
    zone_path: &std::path::Path,
    input: &str,
    extra: &[&str],
) -> (Vec<serde_json::Value>, String) {
    let mut args = vec![
        "check",
        "--zone",
        zone_path.to_str().unwrap(),
        "--format",
        "jsonl",
        "--probe",
    ];
    // Short timeouts where a test waits for them on purpose; generous ones
    // elsewhere, so a loaded machine does not turn a slow greeting into a
    // failure.
    for (flag, default) in [("--connect-timeout", "5s"), ("--greeting-timeout", "10s")] {
        if !extra.contains(&flag) {
            args.extend([flag, default]);
        }
    }
    args.extend(extra);
    let out = run_ok(&args, Some(input.as_bytes()));
    (jsonl(&out), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn probe_outcomes_and_verdicts() {
    let port = free_port();
    let good = SmtpHost::start(
        at("127.0.1.1", port),
        Smtp::Greet("220 mx.good ESMTP ready"),
    );
    let _reject = SmtpHost::start(
        at("127.0.1.3", port),
        Smtp::Greet("554 no SMTP service here"),
    );
    let _busy = SmtpHost::start(at("127.0.1.4", port), Smtp::Greet("421 try later"));
    let _silent = SmtpHost::start(at("127.0.1.5", port), Smtp::Silent);
    let _hole = Blackhole::start(at("127.0.1.6", port));
    let canary = SmtpHost::start(at("127.0.1.250", port), Smtp::Greet("220 canary"));
    // 127.0.1.2 has no listener: refused.
    let dir = Dir::new();
    let z = dir.write(
        "probe.zone",
        zone(&[
            ("answers", &["127.0.1.1"]),
            ("refuses", &["127.0.1.2"]),
            ("rejects", &["127.0.1.3"]),
            ("busy", &["127.0.1.4"]),
            ("silent", &["127.0.1.5"]),
            ("blackhole", &["127.0.1.6"]),
            ("second", &["127.0.1.2", "127.0.1.1"]),
            ("allfail", &["127.0.1.2", "127.0.1.3", "127.0.1.5"]),
        ]),
    );
    let input = "a@answers.zz\na@refuses.zz\na@rejects.zz\na@busy.zz\na@silent.zz\na@blackhole.zz\na@second.zz\na@allfail.zz\na@nxdomain.zz\n";
    let started = Instant::now();
    let (rows, summary) = probe_check(
        &z,
        input,
        &[
            "--connect-timeout",
            "2s",
            "--greeting-timeout",
            "2s",
            "--trusted-net",
            "127.0.1.0/24",
            "--smtp-port",
            &port.to_string(),
            "--probe-canary",
            &canary.addr.to_string(),
        ],
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let by = by_address(&rows);
    let outcome = |a: &str, i: usize| {
        by[a]["probe"]["hosts"][i]["outcome"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(by["a@answers.zz"]["reason"], "deliverable");
    assert_eq!(by["a@answers.zz"]["probe"]["status"], "answered");
    assert_eq!(
        by["a@answers.zz"]["probe"]["greeting"],
        "220 mx.good ESMTP ready"
    );
    assert_eq!(by["a@answers.zz"]["probe"]["hosts"][0]["starttls"], true);
    for (a, want, stage) in [
        ("a@refuses.zz", "refused", None),
        ("a@rejects.zz", "rejected", None),
        ("a@busy.zz", "rejected", None),
        ("a@silent.zz", "timeout", Some("greeting")),
        ("a@blackhole.zz", "timeout", Some("connect")),
    ] {
        let row = &by[a];
        assert_eq!(row["reason"], "no_answer", "{row}");
        assert_eq!(row["action"], "retry", "{row}");
        assert_eq!(row["status"], "4.4.1", "{row}");
        assert_eq!(outcome(a, 0), want, "{row}");
        assert_eq!(row["probe"]["hosts"][0]["stage"].as_str(), stage, "{row}");
    }
    assert_eq!(by["a@rejects.zz"]["probe"]["hosts"][0]["code"], 554);
    assert_eq!(by["a@busy.zz"]["probe"]["hosts"][0]["code"], 421);
    // The first MX refuses, the second answers: deliverable.
    assert_eq!(by["a@second.zz"]["reason"], "deliverable");
    assert_eq!(outcome("a@second.zz", 0), "refused");
    assert_eq!(outcome("a@second.zz", 1), "answered");
    // All fail: each host's failure is in the evidence.
    assert_eq!(by["a@allfail.zz"]["reason"], "no_answer");
    assert_eq!(
        by["a@allfail.zz"]["probe"]["hosts"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // DNS failures are not probed.
    assert_eq!(by["a@nxdomain.zz"]["reason"], "nxdomain");
    assert!(by["a@nxdomain.zz"]["probe"].is_null());
    // 127.0.1.1 serves two domains but was connected to once (plus none
    // for the canary, which is another address).
    assert_eq!(good.accepted(), 1);
    assert!(summary.contains("addresses probed on port"), "{summary}");
    assert!(
        summary.contains("1 answered") || summary.contains("answered"),
        "{summary}"
    );
}

#[test]
fn a_blocked_port_25_blames_no_domain() {
    let port = free_port();
    let _dead = SmtpHost::start(at("127.0.2.1", port), Smtp::Silent);
    let dir = Dir::new();
    let z = dir.write(
        "blocked.zone",
        zone(&[("one", &["127.0.2.1"]), ("two", &["127.0.2.2"])]),
    );
    // The canary is a port where nothing listens.
    let (rows, summary) = probe_check(
        &z,
        "a@one.zz\na@two.zz\na@nxdomain.zz\n",
        &[
            "--trusted-net",
            "127.0.2.0/24",
            "--smtp-port",
            &port.to_string(),
            "--probe-canary",
            &format!("127.0.2.200:{port}"),
        ],
    );
    for row in &rows {
        assert_ne!(row["reason"], "no_answer", "{row}");
    }
    let by = by_address(&rows);
    for a in ["a@one.zz", "a@two.zz"] {
        assert_eq!(by[a]["reason"], "deliverable", "{}", by[a]);
        assert_eq!(warnings(&by[a]), ["probe_unavailable"]);
        assert_eq!(by[a]["probe"]["status"], "unavailable");
    }
    assert!(
        summary.contains("OUTBOUND PORT 25 SEEMS BLOCKED"),
        "{summary}"
    );
}

#[test]
fn each_shared_mx_address_is_connected_to_once() {
    let port = free_port();
    let mut hosts = Vec::new();
    for i in 1..=10 {
        hosts.push(SmtpHost::start(
            at(&format!("127.0.3.{i}"), port),
            Smtp::Greet("220 shared"),
        ));
    }
    let canary = SmtpHost::start(at("127.0.3.250", port), Smtp::Greet("220 canary"));
    let mut z = String::from("$ORIGIN zz.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n");
    for i in 1..=10 {
        z.push_str(&format!("mx{i}.shared A 127.0.3.{i}\n"));
    }
    let mut list = String::new();
    for d in 0..2000 {
        z.push_str(&format!("d{d} MX 10 mx{}.shared\n", d % 10 + 1));
        list.push_str(&format!("a@d{d}.zz\n"));
    }
    let dir = Dir::new();
    let zp = dir.write("shared.zone", z);
    let (rows, summary) = probe_check(
        &zp,
        &list,
        &[
            "--trusted-net",
            "127.0.3.0/24",
            "--smtp-port",
            &port.to_string(),
            "--probe-canary",
            &canary.addr.to_string(),
        ],
    );
    assert_eq!(rows.len(), 2000);
    assert!(rows
        .iter()
        .all(|r| r["reason"] == "deliverable" && r["probe"]["status"] == "answered"));
    let connections: usize = hosts.iter().map(SmtpHost::accepted).sum();
    assert_eq!(
        connections, 10,
        "2000 domains on 10 MX hosts: 10 connections"
    );
    assert_eq!(canary.accepted(), 1);
    assert!(summary.contains("10 addresses probed"), "{summary}");
}

#[test]
fn implicit_mx_probe_policy() {
    let port = free_port();
    let _web = SmtpHost::start(at("127.0.4.1", port), Smtp::Greet("220 web"));
    let canary = SmtpHost::start(at("127.0.4.250", port), Smtp::Greet("220 canary"));
    let dir = Dir::new();
    let z = dir.write(
        "implicit.zone",
        "$ORIGIN zz.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\nweb A 127.0.4.1\ndead A 127.0.4.2\n",
    );
    let args = [
        "check",
        "--zone",
        z.to_str().unwrap(),
        "--format",
        "jsonl",
        "--implicit-mx",
        "probe",
        "--trusted-net",
        "127.0.4.0/24",
        "--smtp-port",
        &port.to_string(),
        "--probe-canary",
        &canary.addr.to_string(),
        "--connect-timeout",
        "1s",
    ];
    let rows = by_address(&jsonl(&run_ok(&args, Some(b"a@web.zz\na@dead.zz\n"))));
    assert_eq!(
        rows["a@web.zz"]["reason"], "implicit_mx",
        "{}",
        rows["a@web.zz"]
    );
    assert_eq!(rows["a@web.zz"]["action"], "deliver");
    assert_eq!(
        rows["a@dead.zz"]["reason"], "no_mx",
        "{}",
        rows["a@dead.zz"]
    );
}

/// aiosmtpd (from PyPI, installed by scripts/test.sh) as an SMTP server we
/// did not write.
#[test]
fn a_real_smtp_server_answers() {
    let port = free_port();
    let addr = at("127.0.5.1", port);
    let mut server = std::process::Command::new("python3")
        .args(["-m", "aiosmtpd", "-n", "-l", &addr.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3");
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(addr).is_err() {
        if let Ok(Some(status)) = server.try_wait() {
            panic!("aiosmtpd did not start ({status}); run scripts/test.sh, which installs it with pip");
        }
        assert!(
            Instant::now() < deadline,
            "aiosmtpd did not listen on {addr}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let dir = Dir::new();
    let z = dir.write("real.zone", zone(&[("real", &["127.0.5.1"])]));
    let (rows, _) = probe_check(
        &z,
        "a@real.zz\n",
        &[
            "--trusted-net",
            "127.0.5.0/24",
            "--smtp-port",
            &port.to_string(),
            "--probe-canary",
            &addr.to_string(),
        ],
    );
    let _ = server.kill();
    let _ = server.wait();
    assert_eq!(rows[0]["reason"], "deliverable", "{}", rows[0]);
    assert_eq!(rows[0]["probe"]["status"], "answered");
    let greeting = rows[0]["probe"]["greeting"].as_str().unwrap();
    assert!(greeting.starts_with("220 "), "{greeting}");
}

#[test]
fn domain_explains_the_probe() {
    let port = free_port();
    let _good = SmtpHost::start(at("127.0.6.1", port), Smtp::Greet("220 explain"));
    let dir = Dir::new();
    let z = dir.write(
        "explain.zone",
        zone(&[("explain", &["127.0.6.2", "127.0.6.1"])]),
    );
    let out = run_ok(
        &[
            "domain",
            "explain.zz",
            "--zone",
            z.to_str().unwrap(),
            "--probe",
            "--trusted-net",
            "127.0.6.0/24",
            "--smtp-port",
            &port.to_string(),
            "--probe-canary",
            &format!("127.0.6.1:{port}"),
        ],
        None,
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("port 25   answered"), "{text}");
    assert!(text.contains("refused"), "{text}");
    assert!(text.contains("greeting: 220 explain"), "{text}");
}
