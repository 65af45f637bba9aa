//! `prebounce policy` end to end: the real binary as a Postfix policy
//! service, DNS from the loopback lab, clients on loopback (our own
//! protocol client, and a real Postfix in `policy_rejects_rcpt_in_a_real_postfix`).

use std::io::{Read, Write};
use std::process::{Child, ExitStatus};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::mta::{smtp_rcpt, Postfix};
use crate::util::*;

/// The lab world: a deliverable domain, a null MX, a SERVFAIL, a domain
/// whose MX question is never answered; anything else under zz. is
/// NXDOMAIN.
const WORLD: &str = ";! fault sf servfail
;! fault slow timeout MX
$ORIGIN zz.
$TTL 300
@ SOA ns hostmaster 1 3600 600 86400 300
ok MX 10 mx.ok
mx.ok A 93.184.215.14
nullmx MX 0 .
sf MX 10 mx.ok
slow MX 10 mx.ok
";

fn world(dir: &Dir) -> LabProcess {
    let zone = dir.write("world.zone", WORLD);
    LabProcess::start(&[&zone], &[])
}

/// A running `prebounce policy`, killed on drop.
struct Policy {
    child: Child,
    /// What it printed first: `IP:PORT` or `unix:PATH`.
    listen: String,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Policy {
    fn start(lab: &LabProcess, extra: &[&str]) -> Policy {
        Policy::start_env(lab, extra, &[])
    }

    fn start_env(lab: &LabProcess, extra: &[&str], env: &[(&str, &str)]) -> Policy {
        let mut cmd = bin();
        cmd.args(["policy", "--resolver", &lab.resolver()]);
        if !extra.contains(&"--listen") {
            cmd.args(["--listen", "127.0.0.1:0"]);
        }
        cmd.args(extra).envs(env.iter().copied());
        let policy = spawn_server(&mut cmd, "policy");
        if policy.listen.is_empty() {
            policy.did_not_start("policy")
        }
        Policy {
            child: policy.child,
            listen: policy.listen,
            stderr: policy.log,
        }
    }

    fn connect(&self) -> Client<std::net::TcpStream> {
        let s = std::net::TcpStream::connect(&self.listen).expect("connect to policy");
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Client::new(s)
    }

    fn port(&self) -> u16 {
        self.listen.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// SIGTERM, then the exit status (within `limit`).
    fn terminate(&mut self, limit: Duration) -> ExitStatus {
        let pid = self.child.id() as i32;
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        self.wait(limit)
    }

    fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "policy did not exit within {limit:?}; stderr:\n{}",
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }
}

impl Drop for Policy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A policy protocol client (what Postfix's smtpd sends).
struct Client<S: Read + Write> {
    stream: S,
    buf: Vec<u8>,
}

impl<S: Read + Write> Client<S> {
    fn new(stream: S) -> Client<S> {
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    /// Sends raw bytes.
    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send");
    }

    /// Reads one reply; returns the action, or `None` when the service
    /// closed the connection.
    fn reply(&mut self) -> Option<String> {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let reply: Vec<u8> = self.buf.drain(..end + 2).collect();
                let text = String::from_utf8(reply).expect("ASCII reply");
                let line = text.trim_end_matches('\n');
                assert!(!line.contains('\n'), "one line per reply: {text:?}");
                let action = line.strip_prefix("action=").expect("action=...");
                return Some(action.to_string());
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Sends a request of these attributes and reads the reply.
    fn ask(&mut self, attrs: &[(&str, &str)]) -> Option<String> {
        let mut req = String::new();
        for (n, v) in attrs {
            req.push_str(&format!("{n}={v}\n"));
        }
        req.push('\n');
        self.send(req.as_bytes());
        self.reply()
    }

    /// A request as Postfix sends it at RCPT.
    fn rcpt(&mut self, recipient: &str) -> Option<String> {
        self.ask(&rcpt_attrs(recipient))
    }
}

fn rcpt_attrs(recipient: &str) -> Vec<(&str, &str)> {
    vec![
        ("request", "smtpd_access_policy"),
        ("protocol_state", "RCPT"),
        ("protocol_name", "ESMTP"),
        ("client_address", "127.0.0.1"),
        ("client_name", "localhost"),
        ("helo_name", "client.test"),
        ("sender", "sender@client.test"),
        ("recipient", recipient),
        ("recipient_count", "0"),
        ("queue_id", ""),
        ("instance", "1a2b.3c4d.0"),
        ("size", "0"),
    ]
}

const NULL_MX_REJECT: &str = "550 5.1.10 prebounce: null_mx: nullmx.zz accepts no mail (RFC 7505)";

#[test]
fn policy_answers_many_requests_on_one_connection() {
    let dir = Dir::new();
    let lab = world(&dir);
    let policy = Policy::start(&lab, &["--no-history"]);
    let mut c = policy.connect();
    assert_eq!(c.rcpt("ann@nullmx.zz").as_deref(), Some(NULL_MX_REJECT));
    assert_eq!(c.rcpt("bob@ok.zz").as_deref(), Some("DUNNO"));
    assert_eq!(
        c.rcpt("cy@gone.zz").as_deref(),
        Some("550 5.1.2 prebounce: nxdomain: gone.zz does not exist (NXDOMAIN)")
    );
    // SERVFAIL is temporary: never a rejection.
    assert_eq!(c.rcpt("dee@sf.zz").as_deref(), Some("DUNNO"));
    // The domain's case and a second ask of a cached domain.
    assert_eq!(c.rcpt("Eve@NULLMX.zz").as_deref(), Some(NULL_MX_REJECT));
    // Other states and requests without a recipient pass.
    let mut mail = rcpt_attrs("ann@nullmx.zz");
    mail[1] = ("protocol_state", "MAIL");
    assert_eq!(c.ask(&mail).as_deref(), Some("DUNNO"));
    let mut data = rcpt_attrs("ann@nullmx.zz");
    data[1] = ("protocol_state", "END-OF-MESSAGE");
    assert_eq!(c.ask(&data).as_deref(), Some("DUNNO"));
    let no_rcpt: Vec<_> = rcpt_attrs("x")
        .into_iter()
        .filter(|(n, _)| *n != "recipient")
        .collect();
    assert_eq!(c.ask(&no_rcpt).as_deref(), Some("DUNNO"));
    // An address Postfix accepted but our syntax rules refuse: DUNNO.
    assert_eq!(c.rcpt("a..b@nullmx.zz").as_deref(), Some("DUNNO"));
    // The connection is still good.
    assert_eq!(c.rcpt("fay@nullmx.zz").as_deref(), Some(NULL_MX_REJECT));
}

#[test]
fn policy_on_retry_defer_defers_a_servfail_domain() {
    let dir = Dir::new();
    let lab = world(&dir);
    let policy = Policy::start(&lab, &["--no-history", "--on-retry", "defer"]);
    let mut c = policy.connect();
    assert_eq!(
        c.rcpt("dee@sf.zz").as_deref(),
        Some(
            "DEFER_IF_PERMIT 4.4.3 prebounce: dns_failure: sf.zz could not be looked up (temporary DNS failure)"
        )
    );
    assert_eq!(c.rcpt("ann@nullmx.zz").as_deref(), Some(NULL_MX_REJECT));
    assert_eq!(c.rcpt("bob@ok.zz").as_deref(), Some("DUNNO"));
}

#[test]
fn policy_lookup_slower_than_policy_timeout_is_dunno() {
    let dir = Dir::new();
    let lab = world(&dir);
    // The MX question of slow.zz is never answered: the lookup takes 2 x
    // 3 s; the service answers after 400 ms.
    let policy = Policy::start(
        &lab,
        &[
            "--no-history",
            "--on-retry",
            "defer",
            "--policy-timeout",
            "400ms",
            "--dns-timeout",
            "3s",
            "--dns-attempts",
            "2",
        ],
    );
    let mut c = policy.connect();
    let t = Instant::now();
    assert_eq!(c.rcpt("ann@slow.zz").as_deref(), Some("DUNNO"));
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(350) && took < Duration::from_millis(2500),
        "answered after {took:?}"
    );
    // The connection goes on, and other domains are answered at once.
    assert_eq!(c.rcpt("bob@nullmx.zz").as_deref(), Some(NULL_MX_REJECT));
    assert!(policy
        .stderr()
        .contains("DUNNO for <ann@slow.zz>: no verdict within 400ms"));
}

#[test]
fn policy_malformed_and_oversized_input_never_crash_the_service() {
    let dir = Dir::new();
    let lab = world(&dir);
    let policy = Policy::start(&lab, &["--no-history"]);
    let mut c = policy.connect();
    // A line without '=', inside a request that would otherwise reject.
    c.send(b"request=smtpd_access_policy\nprotocol_state=RCPT\nthis is not an attribute\nrecipient=a@nullmx.zz\n\n");
    assert_eq!(c.reply().as_deref(), Some("DUNNO"));
    // Bytes that are not UTF-8, a lone empty line, CRLF line ends.
    c.send(b"\xff\xfe=\x00\x01\n\n");
    assert_eq!(c.reply().as_deref(), Some("DUNNO"));
    c.send(b"\n");
    assert_eq!(c.reply().as_deref(), Some("DUNNO"));
    c.send(b"request=smtpd_access_policy\r\nprotocol_state=RCPT\r\nrecipient=a@nullmx.zz\r\n\r\n");
    assert_eq!(c.reply().as_deref(), Some(NULL_MX_REJECT));
    // Too many attributes: DUNNO, no lookup.
    let mut many =
        String::from("request=smtpd_access_policy\nprotocol_state=RCPT\nrecipient=a@nullmx.zz\n");
    for i in 0..300 {
        many.push_str(&format!("x{i}=y\n"));
    }
    many.push('\n');
    c.send(many.as_bytes());
    assert_eq!(c.reply().as_deref(), Some("DUNNO"));
    // Still in step.
    assert_eq!(c.rcpt("b@nullmx.zz").as_deref(), Some(NULL_MX_REJECT));

    // A line of 100 KB without a newline: the connection is closed.
    let mut long = policy.connect();
    let blob = vec![b'a'; 100_000];
    let _ = long.stream.write_all(&blob);
    assert_eq!(long.reply(), None, "closed");
    // A request of many long lines (over 64 KiB in all): closed too.
    let mut big = policy.connect();
    let line = format!("x={}\n", "y".repeat(8000));
    for _ in 0..10 {
        let _ = big.stream.write_all(line.as_bytes());
    }
    assert_eq!(big.reply(), None, "closed");
    // A peer that goes away in the middle of a request.
    {
        let mut gone = policy.connect();
        gone.send(b"request=smtpd_access_policy\nprotocol_st");
    }
    // The service lives on.
    let mut again = policy.connect();
    assert_eq!(again.rcpt("c@nullmx.zz").as_deref(), Some(NULL_MX_REJECT));
    assert_eq!(c.rcpt("d@ok.zz").as_deref(), Some("DUNNO"));
}

#[test]
fn policy_serves_concurrent_connections_from_one_cache() {
    let dir = Dir::new();
    let lab = world(&dir);
    let policy = Arc::new(Policy::start(&lab, &["--no-history"]));
    let threads: Vec<_> = (0..16)
        .map(|i| {
            let policy = policy.clone();
            std::thread::spawn(move || {
                let mut c = policy.connect();
                for j in 0..5 {
                    let (rcpt, want) = match (i + j) % 3 {
                        0 => (format!("u{i}.{j}@nullmx.zz"), NULL_MX_REJECT),
                        1 => (format!("u{i}.{j}@ok.zz"), "DUNNO"),
                        _ => (format!("u{i}.{j}@sf.zz"), "DUNNO"),
                    };
                    assert_eq!(c.rcpt(&rcpt).as_deref(), Some(want), "{rcpt}");
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a client thread failed");
    }
    // One cache: each domain was asked once over UDP, whatever the number
    // of connections.
    let nullmx_asks = lab
        .queries()
        .iter()
        .filter(|(_, ty, name)| ty == "MX" && name.trim_end_matches('.') == "nullmx.zz")
        .count();
    assert_eq!(nullmx_asks, 1, "{:?}", lab.queries());
}

#[test]
fn policy_listens_on_a_unix_socket() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let dir = Dir::new();
    let lab = world(&dir);
    let path = dir.path("policy.sock");
    let listen = format!("unix:{}", path.display());
    // A stale socket file from an earlier run is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let mut policy = Policy::start(&lab, &["--no-history", "--listen", &listen]);
    assert_eq!(policy.listen, listen);
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o666);
    let s = std::os::unix::net::UnixStream::connect(&path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut c = Client::new(s);
    assert_eq!(c.rcpt("ann@nullmx.zz").as_deref(), Some(NULL_MX_REJECT));
    assert_eq!(c.rcpt("bob@ok.zz").as_deref(), Some("DUNNO"));
    drop(c);
    // A second service on the same path is refused.
    let out = run(
        &[
            "policy",
            "--resolver",
            &lab.resolver(),
            "--no-history",
            "--listen",
            &listen,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("another service is listening there"));
    assert!(policy.terminate(Duration::from_secs(10)).success());
    assert!(!path.exists(), "the socket file is removed on exit");
}

#[test]
fn policy_closes_connections_over_max_connections() {
    let dir = Dir::new();
    let lab = world(&dir);
    let policy = Policy::start(&lab, &["--no-history", "--max-connections", "2"]);
    let mut a = policy.connect();
    let mut b = policy.connect();
    assert_eq!(a.rcpt("x@ok.zz").as_deref(), Some("DUNNO"));
    assert_eq!(b.rcpt("x@ok.zz").as_deref(), Some("DUNNO"));
    let mut third = policy.connect();
    assert_eq!(third.rcpt("x@nullmx.zz"), None, "closed at once");
    drop(a);
    // A slot is free again once a connection is gone.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = policy.connect();
        if let Some(r) = c.rcpt("y@nullmx.zz") {
            assert_eq!(r, NULL_MX_REJECT);
            break;
        }
        assert!(Instant::now() < deadline, "no slot freed");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(policy
        .stderr()
        .contains("2 connections already: closed a new one"));
}

#[test]
fn policy_sigterm_answers_the_request_in_flight_and_exits_0() {
    let dir = Dir::new();
    let lab = world(&dir);
    // slow.zz's lookup ends in a timeout after 1.5 s (dns_failure); the
    // policy timeout is longer, so the reply is the deferral.
    let mut policy = Policy::start(
        &lab,
        &[
            "--no-history",
            "--on-retry",
            "defer",
            "--policy-timeout",
            "10s",
            "--dns-timeout",
            "1500ms",
            "--dns-attempts",
            "1",
        ],
    );
    let mut idle = policy.connect();
    assert_eq!(idle.rcpt("a@ok.zz").as_deref(), Some("DUNNO"));
    let mut busy = policy.connect();
    let t = Instant::now();
    let req: String = rcpt_attrs("ann@slow.zz")
        .iter()
        .map(|(n, v)| format!("{n}={v}\n"))
        .collect::<String>()
        + "\n";
    busy.send(req.as_bytes());
    std::thread::sleep(Duration::from_millis(300));
    let pid = policy.child.id() as i32;
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let reply = busy.reply();
    assert_eq!(
        reply.as_deref(),
        Some("DEFER_IF_PERMIT 4.4.3 prebounce: dns_failure: slow.zz could not be looked up (temporary DNS failure)"),
        "stderr: {}",
        policy.stderr()
    );
    assert!(
        t.elapsed() >= Duration::from_millis(1000),
        "{:?}",
        t.elapsed()
    );
    // After its reply, and for the idle connection at once, the service
    // closes; no new connection is accepted.
    assert_eq!(busy.reply(), None);
    assert_eq!(idle.reply(), None);
    let status = policy.wait(Duration::from_secs(10));
    assert_eq!(status.code(), Some(0), "stderr: {}", policy.stderr());
    assert!(std::net::TcpStream::connect(&policy.listen).is_err());
    assert!(policy
        .stderr()
        .contains("prebounce policy: stopped; 2 connections"));
}

#[test]
fn policy_records_history_that_history_shows_afterwards() {
    let dir = Dir::new();
    let lab = world(&dir);
    let db = dir.path("history.sqlite");
    let db_arg = db.to_str().unwrap();
    let mut policy = Policy::start(&lab, &["--db", db_arg]);
    let mut c = policy.connect();
    assert_eq!(c.rcpt("ann@nullmx.zz").as_deref(), Some(NULL_MX_REJECT));
    assert_eq!(c.rcpt("bob@ok.zz").as_deref(), Some("DUNNO"));
    assert_eq!(c.rcpt("dee@sf.zz").as_deref(), Some("DUNNO"));
    drop(c);
    assert_eq!(policy.terminate(Duration::from_secs(10)).code(), Some(0));
    for (domain, reading) in [
        ("nullmx.zz", "null_mx"),
        ("ok.zz", "deliverable"),
        ("sf.zz", "dns_failure"),
    ] {
        let out = run_ok(
            &["history", domain, "--db", db_arg, "--format", "json"],
            None,
        );
        let h: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let obs = h["observations"].as_array().unwrap();
        assert_eq!(obs.len(), 1, "{domain}: {h}");
        assert_eq!(obs[0]["reading"], reading, "{domain}: {h}");
    }
    let out = run_ok(&["suppressions", "--db", db_arg, "--format", "jsonl"], None);
    let rows = jsonl(&out);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["domain"], "nullmx.zz");
}

#[test]
fn policy_bad_listen_address_is_a_usage_error() {
    let out = run(&["policy", "--listen", "localhost"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("'localhost' is not IP:PORT (e.g. 127.0.0.1:10040) or unix:PATH"),
        "{err}"
    );
}

#[test]
fn policy_rejects_rcpt_in_a_real_postfix() {
    let dir = Dir::new();
    let lab = world(&dir);
    let policy = Policy::start(&lab, &["--no-history"]);
    let postfix = Postfix::start(
        &format!(
            "check_policy_service inet:127.0.0.1:{}, permit",
            policy.port()
        ),
        &["smtpd_policy_service_default_action=DUNNO"],
    );
    let replies = smtp_rcpt(
        postfix.smtp_port,
        "sender@client.test",
        &["ann@nullmx.zz", "bob@ok.zz", "dee@sf.zz"],
    );
    // Postfix maps a recipient rejection's 5.1.10 into 5.1.0.
    assert_eq!(
        replies[0],
        (
            550,
            "5.1.0 <ann@nullmx.zz>: Recipient address rejected: prebounce: null_mx: nullmx.zz accepts no mail (RFC 7505)".to_string()
        ),
        "{replies:?}"
    );
    assert_eq!(replies[1].0, 250, "deliverable: accepted: {replies:?}");
    assert_eq!(replies[2].0, 250, "SERVFAIL: not rejected: {replies:?}");
    let log = postfix.wait_for_log("NOQUEUE: reject: RCPT");
    assert!(
        log.contains("mapping DSN status 5.1.10 into Recipient address status 5.1.0"),
        "the policy reply carried 5.1.10: {log}"
    );
    assert!(
        log.contains("550 5.1.0 <ann@nullmx.zz>: Recipient address rejected: prebounce: null_mx")
    );
    assert!(policy
        .stderr()
        .contains(&format!("<ann@nullmx.zz> {NULL_MX_REJECT}")));
}

#[test]
fn policy_over_a_unix_socket_serves_a_real_postfix() {
    use std::os::unix::fs::PermissionsExt;
    let dir = Dir::new();
    let lab = world(&dir);
    // Postfix's smtpd runs as the postfix user: it walks to the socket
    // through this directory and connects to the socket (mode 0666).
    std::fs::set_permissions(dir.tmp.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path("policy.sock");
    let listen = format!("unix:{}", path.display());
    let policy = Policy::start(&lab, &["--no-history", "--listen", &listen]);
    let postfix = Postfix::start(&format!("check_policy_service {listen}, permit"), &[]);
    let replies = smtp_rcpt(
        postfix.smtp_port,
        "sender@client.test",
        &["ann@nullmx.zz", "bob@ok.zz", "cy@gone.zz"],
    );
    assert_eq!(replies[0].0, 550, "{replies:?}");
    assert!(
        replies[0]
            .1
            .ends_with("prebounce: null_mx: nullmx.zz accepts no mail (RFC 7505)"),
        "{replies:?}"
    );
    assert_eq!(replies[1].0, 250, "{replies:?}");
    assert_eq!(replies[2].0, 550, "{replies:?}");
    assert!(
        replies[2]
            .1
            .ends_with("prebounce: nxdomain: gone.zz does not exist (NXDOMAIN)"),
        "{replies:?}"
    );
    assert!(policy.stderr().contains("<cy@gone.zz> 550 5.1.2"));
}

#[test]
fn policy_does_not_start_on_a_resolver_that_fails_its_health_check() {
    let dir = Dir::new();
    let lab = world(&dir);
    // A canary that answers SERVFAIL: the service never listens.
    let out = run(
        &[
            "policy",
            "--resolver",
            &lab.resolver(),
            "--no-history",
            "--listen",
            "127.0.0.1:0",
            "--dns-canary",
            "sf.zz",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty(), "never listened");
    assert!(String::from_utf8_lossy(&out.stderr).contains("the resolver failed its health check"));
    // A canary with a usable MX: it starts and serves.
    let policy = Policy::start(&lab, &["--no-history", "--dns-canary", "ok.zz"]);
    assert_eq!(
        policy.connect().rcpt("a@nullmx.zz").as_deref(),
        Some(NULL_MX_REJECT)
    );
}

#[test]
fn policy_asks_dns_again_once_a_verdict_is_older_than_the_cache_ttl() {
    let dir = Dir::new();
    let lab = world(&dir);
    let policy = Policy::start(&lab, &["--no-history", "--cache-ttl", "1s"]);
    let mx_asks = || {
        lab.queries()
            .iter()
            .filter(|(_, ty, name)| ty == "MX" && name.trim_end_matches('.') == "nullmx.zz")
            .count()
    };
    let mut c = policy.connect();
    assert_eq!(c.rcpt("a@nullmx.zz").as_deref(), Some(NULL_MX_REJECT));
    assert_eq!(c.rcpt("b@nullmx.zz").as_deref(), Some(NULL_MX_REJECT));
    assert_eq!(mx_asks(), 1, "cached within the lifetime");
    std::thread::sleep(Duration::from_millis(1300));
    assert_eq!(c.rcpt("c@nullmx.zz").as_deref(), Some(NULL_MX_REJECT));
    assert_eq!(mx_asks(), 2, "asked again after it");
}

#[test]
fn policy_closes_a_connection_idle_for_idle_timeout() {
    let dir = Dir::new();
    let lab = world(&dir);
    let policy = Policy::start(&lab, &["--no-history", "--idle-timeout", "1s"]);
    let mut c = policy.connect();
    assert_eq!(c.rcpt("a@ok.zz").as_deref(), Some("DUNNO"));
    let t = Instant::now();
    assert_eq!(c.reply(), None, "closed");
    let idle = t.elapsed();
    assert!(
        idle >= Duration::from_millis(900) && idle < Duration::from_secs(5),
        "closed after {idle:?}"
    );
    // A connection that keeps talking stays open.
    let mut busy = policy.connect();
    for _ in 0..4 {
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(busy.rcpt("b@nullmx.zz").as_deref(), Some(NULL_MX_REJECT));
    }
}
