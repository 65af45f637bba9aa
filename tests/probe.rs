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

/// A loopback listener that plays a broken SMTP host: `serve` gets each
/// accepted connection.
struct RawHost {
    _listener: std::sync::Arc<std::net::TcpListener>,
}

impl RawHost {
    fn start(addr: SocketAddr, serve: fn(std::net::TcpStream)) -> RawHost {
        let listener = std::sync::Arc::new(
            std::net::TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}")),
        );
        let l = listener.clone();
        std::thread::spawn(move || {
            for stream in l.incoming() {
                let Ok(stream) = stream else { return };
                std::thread::spawn(move || serve(stream));
            }
        });
        RawHost {
            _listener: listener,
        }
    }
}

/// `220-` continuation lines, as fast as the reader takes them, forever.
fn endless_continuation(mut s: std::net::TcpStream) {
    use std::io::Write;
    while s.write_all(b"220-still greeting you\r\n").is_ok() {}
}

/// `220-` continuation lines, one every 100 ms, forever.
fn slow_continuation(mut s: std::net::TcpStream) {
    use std::io::Write;
    while s.write_all(b"220-still greeting you\r\n").is_ok() {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A 100 KB greeting line, then the close.
fn huge_line(mut s: std::net::TcpStream) {
    use std::io::Write;
    let mut line = b"220 ".to_vec();
    line.extend(std::iter::repeat_n(b'x', 100_000));
    line.extend(b"\r\n");
    let _ = s.write_all(&line);
    std::thread::sleep(Duration::from_secs(5));
}

/// A proper multi-line greeting, then EHLO and QUIT.
fn multiline(mut s: std::net::TcpStream) {
    use std::io::{BufRead, Write};
    let _ = s.write_all(b"220-mx.multi ESMTP\r\n220-no UCE\r\n220 ready\r\n");
    let reader = std::io::BufReader::new(s.try_clone().unwrap());
    for l in reader.lines().map_while(Result::ok) {
        let reply: &[u8] = if l.to_ascii_uppercase().starts_with("QUIT") {
            b"221 bye\r\n"
        } else {
            b"250 ok\r\n"
        };
        if s.write_all(reply).is_err() || reply.starts_with(b"221") {
            return;
        }
    }
}

#[test]
fn only_a_complete_220_within_the_limits_is_an_answer() {
    let port = free_port();
    let _endless = RawHost::start(at("127.0.7.1", port), endless_continuation);
    let _huge = RawHost::start(at("127.0.7.2", port), huge_line);
    let _slow = RawHost::start(at("127.0.7.3", port), slow_continuation);
    let _multi = RawHost::start(at("127.0.7.4", port), multiline);
    let canary = SmtpHost::start(at("127.0.7.250", port), Smtp::Greet("220 canary"));
    let dir = Dir::new();
    let z = dir.write(
        "greeting.zone",
        zone(&[
            ("endless", &["127.0.7.1"]),
            ("huge", &["127.0.7.2"]),
            ("slow", &["127.0.7.3"]),
            ("multi", &["127.0.7.4"]),
        ]),
    );
    let started = Instant::now();
    let (rows, _) = probe_check(
        &z,
        "a@endless.zz\na@huge.zz\na@slow.zz\na@multi.zz\n",
        &[
            "--greeting-timeout",
            "1500ms",
            "--trusted-net",
            "127.0.7.0/24",
            "--smtp-port",
            &port.to_string(),
            "--probe-canary",
            &canary.addr.to_string(),
        ],
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    let by = by_address(&rows);
    for (a, outcome, why) in [
        ("a@endless.zz", "bad_greeting", "endless continuation"),
        ("a@huge.zz", "bad_greeting", "greeting too long"),
        ("a@slow.zz", "timeout", "no greeting in time"),
    ] {
        let row = &by[a];
        assert_eq!(row["reason"], "no_answer", "{row}");
        assert_eq!(row["probe"]["status"], "no_answer", "{row}");
        assert_eq!(row["probe"]["hosts"][0]["outcome"], outcome, "{row}");
        assert!(row["detail"].as_str().unwrap().contains(why), "{row}");
        assert!(row["probe"]["greeting"].is_null(), "{row}");
    }
    assert!(by["a@endless.zz"]["probe"]["hosts"][0]["error"]
        .as_str()
        .unwrap()
        .contains("over 4096 bytes"));
    assert!(by["a@huge.zz"]["probe"]["hosts"][0]["error"]
        .as_str()
        .unwrap()
        .contains("over 512 bytes"));
    assert_eq!(by["a@slow.zz"]["probe"]["hosts"][0]["stage"], "greeting");
    // Continuation lines then a final `220 ` line: an answer.
    assert_eq!(
        by["a@multi.zz"]["reason"], "deliverable",
        "{}",
        by["a@multi.zz"]
    );
    assert_eq!(by["a@multi.zz"]["probe"]["greeting"], "220 ready");
}

/// A private network namespace with only a loopback interface (up): a
/// connection to anything but loopback fails at once with ENETUNREACH, and
/// no packet leaves the machine. Needs root (CAP_SYS_ADMIN).
struct Netns {
    fd: std::os::fd::OwnedFd,
}

impl Netns {
    fn new() -> Netns {
        let made = std::thread::spawn(|| -> std::io::Result<std::os::fd::OwnedFd> {
            // SAFETY: plain system calls on this thread only.
            unsafe {
                if libc::unshare(libc::CLONE_NEWNET) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM, 0);
                if s < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let mut ifr: libc::ifreq = std::mem::zeroed();
                for (i, b) in b"lo\0".iter().enumerate() {
                    ifr.ifr_name[i] = *b as libc::c_char;
                }
                let ok = libc::ioctl(s, libc::SIOCGIFFLAGS, &mut ifr) == 0 && {
                    ifr.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
                    libc::ioctl(s, libc::SIOCSIFFLAGS, &ifr) == 0
                };
                let err = std::io::Error::last_os_error();
                libc::close(s);
                if !ok {
                    return Err(err);
                }
            }
            Ok(std::fs::File::open("/proc/thread-self/ns/net")?.into())
        })
        .join()
        .unwrap();
        match made {
            Ok(fd) => Netns { fd },
            Err(e) => panic!(
                "cannot make a network namespace ({e}): these tests run as root, as .ci/run does"
            ),
        }
    }

    fn raw(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.fd.as_raw_fd()
    }

    /// Runs `f` on a thread inside the namespace: sockets it opens (test
    /// listeners) live there.
    fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        let fd = self.raw();
        std::thread::scope(|s| {
            s.spawn(move || {
                // SAFETY: setns on this thread only.
                assert_eq!(unsafe { libc::setns(fd, libc::CLONE_NEWNET) }, 0);
                f()
            })
            .join()
            .unwrap()
        })
    }

    /// Runs the binary inside the namespace; insists on exit 0.
    fn run_ok(&self, args: &[&str], stdin: &[u8]) -> std::process::Output {
        self.run_ok_env(args, stdin, &[])
    }

    /// The same, with environment variables.
    fn run_ok_env(
        &self,
        args: &[&str],
        stdin: &[u8],
        env: &[(&str, &str)],
    ) -> std::process::Output {
        use std::io::Write;
        use std::os::unix::process::CommandExt;
        let fd = self.raw();
        let mut cmd = bin();
        cmd.envs(env.iter().copied());
        // SAFETY: setns is async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                if libc::setns(fd, libc::CLONE_NEWNET) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        let mut child = cmd
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "prebounce {args:?}: {:?}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }
}

const SOA: &str = "$ORIGIN zz.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n";

#[test]
fn our_missing_ipv6_route_is_never_the_domains_fault() {
    let ns = Netns::new();
    let port = free_port();
    let (_good, _canary) = ns.enter(|| {
        (
            SmtpHost::start(at("127.0.8.1", port), Smtp::Greet("220 v4 here")),
            SmtpHost::start(at("127.0.8.250", port), Smtp::Greet("220 canary")),
        )
    });
    // 127.0.8.2 refuses. 2001:db8::/32 and 192.0.2.0/24 are trusted, so
    // they are usable MX addresses; in the namespace they have no route.
    let z = format!(
        "{SOA}\
         v6only MX 10 mx.v6only\nmx.v6only AAAA 2001:db8::25\n\
         mixedok MX 10 mx6.mixedok\nmixedok MX 20 mx4.mixedok\n\
         mx6.mixedok AAAA 2001:db8::26\nmx4.mixedok A 127.0.8.1\n\
         mixedfail MX 10 mx6.mixedfail\nmixedfail MX 20 mx4.mixedfail\n\
         mx6.mixedfail AAAA 2001:db8::27\nmx4.mixedfail A 127.0.8.2\n\
         dual MX 10 mx.dual\nmx.dual A 127.0.8.2\nmx.dual AAAA 2001:db8::28\n\
         v4noroute MX 10 mx.v4noroute\nmx.v4noroute A 192.0.2.25\n"
    );
    let dir = Dir::new();
    let zp = dir.write("families.zone", z);
    let port_s = port.to_string();
    let out = ns.run_ok(
        &[
            "check",
            "--zone",
            zp.to_str().unwrap(),
            "--format",
            "jsonl",
            "--probe",
            "--connect-timeout",
            "5s",
            "--greeting-timeout",
            "10s",
            "--trusted-net",
            "127.0.8.0/24",
            "--trusted-net",
            "2001:db8::/32",
            "--trusted-net",
            "192.0.2.0/24",
            "--smtp-port",
            &port_s,
            "--probe-canary",
            &format!("127.0.8.250:{port}"),
            "--probe-canary",
            &format!("[2001:db8::1]:{port}"),
        ],
        b"a@v6only.zz\na@mixedok.zz\na@mixedfail.zz\na@dual.zz\na@v4noroute.zz\n",
    );
    let rows = jsonl(&out);
    let by = by_address(&rows);
    let hosts = |a: &str| -> Vec<(String, String)> {
        by[a]["probe"]["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| {
                (
                    h["address"].as_str().unwrap().to_string(),
                    h["outcome"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    // Every address in the unavailable family: the DNS verdict, warned.
    let row = &by["a@v6only.zz"];
    assert_eq!(row["reason"], "deliverable", "{row}");
    assert_eq!(warnings(row), ["probe_unavailable"], "{row}");
    assert_eq!(row["probe"]["status"], "unavailable", "{row}");
    assert_eq!(
        hosts("a@v6only.zz"),
        [(format!("[2001:db8::25]:{port}"), "unavailable".into())]
    );
    assert_eq!(row["probe"]["canary"]["ipv6"]["status"], "failed", "{row}");
    assert!(
        row["probe"]["canary"]["ipv6"]["error"]
            .as_str()
            .unwrap()
            .contains("IPv6 outbound port 25 unavailable here"),
        "{row}"
    );
    // The other family answered: deliverable.
    let row = &by["a@mixedok.zz"];
    assert_eq!(row["reason"], "deliverable", "{row}");
    assert_eq!(row["probe"]["status"], "answered", "{row}");
    assert_eq!(
        row["probe"]["canary"]["ipv4"]["status"], "answered",
        "{row}"
    );
    assert_eq!(
        row["probe"]["canary"]["ipv4"]["address"],
        format!("127.0.8.250:{port}")
    );
    // The other family really failed: no_answer, on those alone.
    for a in ["a@mixedfail.zz", "a@dual.zz"] {
        let row = &by[a];
        assert_eq!(row["reason"], "no_answer", "{row}");
        let h = hosts(a);
        assert!(
            h.contains(&(format!("127.0.8.2:{port}"), "refused".into())),
            "{row}"
        );
        assert!(
            h.iter()
                .all(|(addr, o)| !addr.starts_with('[') || o == "unavailable"),
            "{row}"
        );
        assert!(row["detail"].as_str().unwrap().contains("refused"), "{row}");
    }
    // No route to an IPv4 address although the IPv4 canary answered: ours.
    let row = &by["a@v4noroute.zz"];
    assert_eq!(row["reason"], "deliverable", "{row}");
    assert_eq!(warnings(row), ["probe_unavailable"], "{row}");
    assert_eq!(
        hosts("a@v4noroute.zz"),
        [(format!("192.0.2.25:{port}"), "unavailable".into())]
    );
    assert!(
        row["probe"]["hosts"][0]["error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("unreachable"),
        "{row}"
    );
    for row in &rows {
        assert_ne!(row["reason"], "dead_domain", "{row}");
    }
}

#[test]
fn the_canary_is_never_resolved_through_the_run_resolver() {
    // The run's resolver (the lab) says gmail-smtp-in.l.google.com is
    // 127.0.0.25, where something greets on port 25. With the default
    // canary, prebounce must ask the system resolver instead, which in an
    // empty namespace cannot answer: no connection to 127.0.0.25, no
    // domain blamed.
    let ns = Netns::new();
    let port = free_port();
    let (trap, _mx) = ns.enter(|| {
        (
            SmtpHost::start(at("127.0.0.25", 25), Smtp::Greet("220 not google")),
            SmtpHost::start(at("127.0.9.1", port), Smtp::Silent),
        )
    });
    let dir = Dir::new();
    let zp = dir.write(
        "spoof.zone",
        "$ORIGIN .\n$TTL 300\n. SOA ns. hostmaster. 1 3600 600 86400 300\n\
         gmail-smtp-in.l.google.com. A 127.0.0.25\n\
         silent.zz. MX 10 mx.silent.zz.\nmx.silent.zz. A 127.0.9.1\n",
    );
    let out = ns.run_ok(
        &[
            "check",
            "--zone",
            zp.to_str().unwrap(),
            "--format",
            "jsonl",
            "--probe",
            "--connect-timeout",
            "2s",
            "--greeting-timeout",
            "2s",
            "--trusted-net",
            "127.0.0.0/8",
            "--smtp-port",
            &port.to_string(),
        ],
        b"a@silent.zz\n",
    );
    let rows = jsonl(&out);
    assert_eq!(trap.accepted(), 0, "connected to the spoofed canary");
    let row = &rows[0];
    assert_eq!(row["reason"], "deliverable", "{row}");
    assert_eq!(warnings(row), ["probe_unavailable"], "{row}");
    let why = row["probe"]["canary"]["ipv4"]["error"].as_str().unwrap();
    assert!(why.contains("gmail-smtp-in.l.google.com:25"), "{why}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("OUTBOUND PORT 25 SEEMS BLOCKED"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_canary_name_that_resolves_to_loopback_is_refused_unless_trusted() {
    // `localhost` comes from /etc/hosts; inside the namespace nothing can
    // leave in case it does not.
    let ns = Netns::new();
    let port = free_port();
    let (canary, _mx) = ns.enter(|| {
        (
            SmtpHost::start(at("127.0.0.1", port), Smtp::Greet("220 canary")),
            SmtpHost::start(at("127.0.10.1", port), Smtp::Greet("220 mx")),
        )
    });
    let dir = Dir::new();
    let zp = dir.write(
        "lo.zone",
        format!("{SOA}lo MX 10 mx.lo\nmx.lo A 127.0.10.1\n"),
    );
    let run = |trusted: &str| {
        let out = ns.run_ok(
            &[
                "check",
                "--zone",
                zp.to_str().unwrap(),
                "--format",
                "jsonl",
                "--probe",
                "--trusted-net",
                trusted,
                "--smtp-port",
                &port.to_string(),
                "--probe-canary",
                &format!("localhost:{port}"),
            ],
            b"a@lo.zz\n",
        );
        jsonl(&out).remove(0)
    };
    let row = run("127.0.10.0/24");
    assert_eq!(warnings(&row), ["probe_unavailable"], "{row}");
    let why = row["probe"]["canary"]["ipv4"]["error"].as_str().unwrap();
    assert!(why.contains("refused as a canary"), "{why}");
    assert_eq!(canary.accepted(), 0);
    let row = run("127.0.0.0/8");
    assert_eq!(row["probe"]["status"], "answered", "{row}");
    assert_eq!(
        row["probe"]["canary"]["ipv4"]["status"], "answered",
        "{row}"
    );
    assert_eq!(canary.accepted(), 1);
}

#[test]
fn a_domain_behind_our_missing_ipv6_route_never_dies() {
    // Day after day, in a namespace without IPv6 routes: the IPv6-only
    // domain stays deliverable (warned); the control, whose IPv4 MX really
    // refuses, goes no_answer and then dead_domain.
    let ns = Netns::new();
    let port = free_port();
    let _canary = ns.enter(|| SmtpHost::start(at("127.0.12.250", port), Smtp::Greet("220 canary")));
    let dir = Dir::new();
    let zp = dir.write(
        "days.zone",
        format!(
            "{SOA}v6only MX 10 mx.v6only\nmx.v6only AAAA 2001:db8::25\n\
             refuses MX 10 mx.refuses\nmx.refuses A 127.0.12.2\n"
        ),
    );
    let db = dir.path("history.sqlite");
    let port_s = port.to_string();
    let canary4 = format!("127.0.12.250:{port}");
    let canary6 = format!("[2001:db8::1]:{port}");
    let mut last = None;
    for day in ["02", "04", "06", "08"] {
        let when = format!("2026-11-{day}T09:00:00Z");
        let out = ns.run_ok_env(
            &[
                "check",
                "--zone",
                zp.to_str().unwrap(),
                "--db",
                db.to_str().unwrap(),
                "--format",
                "jsonl",
                "--probe",
                "--trusted-net",
                "127.0.12.0/24",
                "--trusted-net",
                "2001:db8::/32",
                "--smtp-port",
                &port_s,
                "--probe-canary",
                &canary4,
                "--probe-canary",
                &canary6,
            ],
            b"a@v6only.zz\na@refuses.zz\n",
            &[("PREBOUNCE_NOW", &when)],
        );
        let by = by_address(&jsonl(&out));
        let row = &by["a@v6only.zz"];
        assert_eq!(row["reason"], "deliverable", "{when}: {row}");
        assert_eq!(warnings(row), ["probe_unavailable"], "{when}: {row}");
        last = Some(by["a@refuses.zz"]["reason"].as_str().unwrap().to_string());
        if day == "02" {
            assert_eq!(last.as_deref(), Some("no_answer"));
        }
    }
    assert_eq!(last.as_deref(), Some("dead_domain"));
    let out = run_ok(
        &["history", "v6only.zz", "--db", db.to_str().unwrap()],
        None,
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.matches("deliverable").count(), 4, "{text}");
    assert!(!text.contains("no_answer"), "{text}");
}
