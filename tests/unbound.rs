//! Through a real recursive resolver: unbound (installed by .ci/run) with
//! the root stubbed to our lab on loopback, so it never reaches out to the
//! Internet. This is how prebounce runs in production: against a recursive
//! resolver, not an authoritative server.

use crate::util::*;

/// Starts unbound with the root stubbed to `root_stub`.
fn start_unbound(root_stub: std::net::SocketAddr) -> Daemon {
    let dir = Dir::new();
    let port = free_port();
    let conf = format!(
        "server:\n  interface: 127.0.0.1\n  port: {port}\n  username: \"\"\n  chroot: \"\"\n  directory: \"{d}\"\n  pidfile: \"{d}/unbound.pid\"\n\
         \x20 do-daemonize: no\n  use-syslog: no\n  verbosity: 0\n  num-threads: 1\n  do-ip6: no\n  do-not-query-localhost: no\n\
         \x20 module-config: \"iterator\"\n  qname-minimisation: no\n  access-control: 127.0.0.0/8 allow\n\
         \x20 outgoing-interface: 127.0.0.1\n\
         stub-zone:\n  name: \".\"\n  stub-addr: {ip}@{stub_port}\n",
        d = dir.tmp.path().display(),
        ip = root_stub.ip(),
        stub_port = root_stub.port(),
    );
    let conf_path = dir.write("unbound.conf", conf);
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    Daemon::start(
        &["/usr/sbin/unbound", "/usr/bin/unbound"],
        &["-d".as_ref(), "-c".as_ref(), conf_path.as_os_str()],
        addr,
        dir,
    )
}

/// The demo world through unbound gives the same verdicts as asking the
/// lab directly: recursion changes the path, not the evidence. Faults the
/// lab injects (SERVFAIL, REFUSED, lame) come back from unbound as
/// failures too, and stay `retry`.
#[test]
fn recursive_resolver_gives_the_same_verdicts() {
    let demo = root().join("examples/demo.zone");
    let lab = LabProcess::start(&[&demo], &[]);
    let unbound = start_unbound(lab.addr);
    let input = std::fs::read_to_string(root().join("examples/addresses.txt")).unwrap();
    let check = |resolver: String| {
        by_address(&jsonl(&run_ok(
            &[
                "check",
                "--format",
                "jsonl",
                "--resolver",
                &resolver,
                "--dns-timeout",
                "5s",
            ],
            Some(input.as_bytes()),
        )))
    };
    let direct = check(lab.resolver());
    let recursive = check(unbound.addr.to_string());
    assert_eq!(direct.len(), 29);
    for (address, d) in &direct {
        let r = &recursive[address];
        for field in ["reason", "action", "status", "warnings"] {
            assert_eq!(
                d[field], r[field],
                "{address}: {field}\ndirect    {d}\nrecursive {r}"
            );
        }
    }
    assert!(
        lab.queries()
            .iter()
            .any(|(_, t, n)| t == "MX" && n == "northwind-mail.com."),
        "unbound asked the lab"
    );
}
