//! End to end against a DNS server we did not write: Knot DNS (installed by
//! .ci/run), authoritative for the root zone on a loopback port, so the
//! whole namespace is local and nothing leaves the machine.

use std::collections::BTreeMap;
use std::path::Path;

use crate::util::*;

/// Starts knotd serving `root_zone` as "." and, for each extra
/// `(zone, text)`, that zone (a text that fails to load makes knot answer
/// SERVFAIL for it).
fn start_knot(root_zone: &Path, extra: &[(&str, &str)]) -> Daemon {
    let dir = Dir::new();
    for sub in ["run", "db", "zones"] {
        std::fs::create_dir_all(dir.path(sub)).unwrap();
    }
    std::fs::copy(root_zone, dir.path("zones/root.zone")).unwrap();
    let mut zones = String::from("  - domain: .\n    file: root.zone\n");
    for (name, text) in extra {
        let file = format!("{}.zone", name.trim_end_matches('.'));
        std::fs::write(dir.path(&format!("zones/{file}")), text).unwrap();
        zones.push_str(&format!("  - domain: {name}\n    file: {file}\n"));
    }
    let port = free_port();
    let conf = format!(
        "server:\n  rundir: \"{run}\"\n  listen: 127.0.0.1@{port}\n  udp-workers: 1\n  tcp-workers: 1\n  background-workers: 1\n\
         log:\n  - target: stderr\n    any: warning\n\
         database:\n  storage: \"{db}\"\n\
         template:\n  - id: default\n    storage: \"{zonedir}\"\n    zonefile-sync: -1\n    zonefile-load: whole\n    journal-content: none\n    semantic-checks: off\n\
         zone:\n{zones}",
        run = dir.path("run").display(),
        db = dir.path("db").display(),
        zonedir = dir.path("zones").display(),
    );
    let conf_path = dir.write("knot.conf", conf);
    let addr = format!("127.0.0.1:{port}").parse().unwrap();
    Daemon::start(
        &["/usr/sbin/knotd", "/usr/bin/knotd"],
        &["-c".as_ref(), conf_path.as_os_str()],
        addr,
        dir,
    )
}

fn rows(
    resolver: Option<&str>,
    zone: Option<&Path>,
    input: &str,
) -> BTreeMap<String, serde_json::Value> {
    let mut args = vec!["check", "--format", "jsonl", "--dns-timeout", "1s"];
    let zone_s;
    if let Some(r) = resolver {
        args.extend(["--resolver", r]);
    }
    if let Some(z) = zone {
        zone_s = z.display().to_string();
        args.extend(["--zone", zone_s.as_str()]);
    }
    by_address(&jsonl(&run_ok(&args, Some(input.as_bytes()))))
}

/// The demo world served by knot gives the same verdicts as our lab, but
/// for the names where the lab injects faults, and a zone knot cannot load
/// answers SERVFAIL.
#[test]
fn knot_agrees_with_the_lab() {
    let demo = root().join("examples/demo.zone");
    let knot = start_knot(
        &demo,
        &[(
            "broken-zone.net.",
            "$TTL 300\n@ SOA ns.lab. hostmaster.lab. 1 3600 600 86400 300\nwww A 999.1.1.1\n",
        )],
    );
    let mut input = std::fs::read_to_string(root().join("examples/addresses.txt")).unwrap();
    input.push_str("zed@broken-zone.net\n");
    let from_knot = rows(Some(&knot.addr.to_string()), None, &input);
    let from_lab = rows(None, Some(&demo), &input);
    assert_eq!(from_knot.len(), 30);
    let faulted = [
        "trent@servfail-dns.net",
        "uma@refusing-dns.org",
        "victor@lame-dns.com",
        "walter@target-down.net",
    ];
    for (address, k) in &from_knot {
        let l = &from_lab[address];
        if faulted.contains(&address.as_str()) {
            assert_eq!(
                k["reason"], "deliverable",
                "knot serves {address} without faults: {k}"
            );
            assert_eq!(l["reason"], "dns_failure");
        } else if address == "zed@broken-zone.net" {
            assert_eq!(k["reason"], "dns_failure", "{k}");
            assert_eq!(k["dns"]["mx"], "servfail", "{k}");
            // The lab, authoritative for the root, knows nothing of it.
            assert_eq!(l["reason"], "nxdomain");
        } else {
            for field in ["reason", "action", "status", "warnings", "mx"] {
                assert_eq!(
                    k[field], l[field],
                    "{address}: {field} differs\nknot {k}\nlab  {l}"
                );
            }
        }
    }
}
