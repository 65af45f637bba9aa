//! Address classes end to end (issue 10, item 4): MX hosts whose only
//! address is an IPv6 form of a loopback or non-global address (NAT64,
//! 6to4, IPv4-compatible), or a special-purpose block the registries call
//! not globally reachable, are suppressed, never probed, and usable only
//! under `--trusted-net`. Zones served by the lab in-process (`--zone`),
//! probes against listeners on loopback.

use std::net::SocketAddr;

use serde_json::Value;

use crate::util::*;

/// (label, address, expected reason, a word of the range name in the note)
const FORMS: &[(&str, &str, &str, &str)] = &[
    ("nat64-lo", "64:ff9b::7f00:1", "mx_localhost", "NAT64"),
    ("sixtofour-lo", "2002:7f00:1::1", "mx_localhost", "6to4"),
    (
        "compat-lo",
        "::127.0.0.1",
        "mx_localhost",
        "IPv4-compatible",
    ),
    ("nat64-private", "64:ff9b::a00:1", "mx_unroutable", "NAT64"),
    ("site-local", "fec0::1", "mx_unroutable", "site-local"),
    ("bench", "2001:2::1", "mx_unroutable", "benchmarking"),
    ("doc3fff", "3fff::1", "mx_unroutable", "documentation"),
    ("nat64-local", "64:ff9b:1::1", "mx_unroutable", "local-use"),
    ("srv6", "5f00::1", "mx_unroutable", "SRv6"),
    ("teredo", "2001::1", "mx_unroutable", "Teredo"),
    ("orchid2", "2001:20::1", "mx_unroutable", "ORCHIDv2"),
    ("relay6to4", "192.88.99.1", "mx_unroutable", "6to4 relay"),
];

/// The SOA of a test zone.
const HEAD: &str = "$ORIGIN zz.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n";

fn record(ip: &str) -> &'static str {
    if ip.contains(':') {
        "AAAA"
    } else {
        "A"
    }
}

/// A domain `<label>.zz` per form, its one MX host with that one address;
/// `global-nat64.zz`, the control, on a NAT64 form of a global address.
fn forms_zone() -> String {
    let mut z = String::from(HEAD);
    for (label, ip, _, _) in FORMS {
        z.push_str(&format!(
            "{label} MX 10 mx.{label}\nmx.{label} {} {ip}\n",
            record(ip)
        ));
    }
    z.push_str("global-nat64 MX 10 mx.global-nat64\nmx.global-nat64 AAAA 64:ff9b::808:808\n");
    z
}

fn forms_input() -> String {
    FORMS
        .iter()
        .map(|(label, ..)| format!("a@{label}.zz\n"))
        .chain(["a@global-nat64.zz\n".to_string()])
        .collect()
}

fn check(zone: &std::path::Path, input: &str, extra: &[&str]) -> (Vec<Value>, String) {
    let mut args = vec![
        "check",
        "--zone",
        zone.to_str().unwrap(),
        "--format",
        "jsonl",
    ];
    args.extend(extra);
    let out = run_ok(&args, Some(input.as_bytes()));
    (jsonl(&out), String::from_utf8(out.stderr).unwrap())
}

/// Every form is suppressed with the reason its embedded or special-purpose
/// address calls for, and the note names the range.
fn assert_suppressed(rows: &[Value]) {
    let by = by_address(rows);
    for (label, ip, reason, range) in FORMS {
        let row = &by[&format!("a@{label}.zz")];
        assert_eq!(row["reason"], *reason, "{ip}: {row}");
        assert_eq!(row["action"], "suppress", "{ip}: {row}");
        assert_eq!(row["status"], "5.4.4", "{ip}: {row}");
        let state = if *reason == "mx_localhost" {
            "loopback"
        } else {
            "non_global"
        };
        assert_eq!(row["mx"][0]["state"], state, "{ip}: {row}");
        let note = row["mx"][0]["note"].as_str().unwrap();
        assert!(
            note.contains(range) && note.contains("RFC "),
            "{ip}: {note}"
        );
    }
}

#[test]
fn non_global_forms_are_suppressed() {
    let dir = Dir::new();
    let z = dir.write("forms.zone", forms_zone());
    let (rows, _) = check(&z, &forms_input(), &[]);
    assert_eq!(rows.len(), FORMS.len() + 1);
    assert_suppressed(&rows);
    // The NAT64 form of a global address is how NAT64 works: deliverable.
    let by = by_address(&rows);
    assert_eq!(by["a@global-nat64.zz"]["reason"], "deliverable");
    assert_eq!(by["a@global-nat64.zz"]["mx"][0]["state"], "usable");
    // `prebounce domain` shows each address's class and range.
    for (domain, class, range) in [
        (
            "nat64-lo.zz",
            "loopback",
            "NAT64 form of a loopback address, RFC 6052",
        ),
        (
            "nat64-private.zz",
            "non_global",
            "NAT64 form of a non-global address, RFC 6052 §3.1",
        ),
        (
            "relay6to4.zz",
            "non_global",
            "6to4 relay anycast (deprecated), RFC 7526",
        ),
    ] {
        let out = run_ok(
            &[
                "domain",
                "--zone",
                z.to_str().unwrap(),
                "--format",
                "json",
                domain,
            ],
            None,
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let a = &v["mx"][0]["addresses"][0];
        assert_eq!(a["class"], class, "{v}");
        assert_eq!(a["range"], range, "{v}");
    }
}

#[test]
fn trusted_nets_still_override() {
    let dir = Dir::new();
    let z = dir.write("forms.zone", forms_zone());
    let mut extra = Vec::new();
    for net in [
        "64:ff9b::/96",
        "2002::/16",
        "::/96",
        "fec0::/10",
        "2001:2::/48",
        "3fff::/20",
        "64:ff9b:1::/48",
        "5f00::/16",
        "2001::/32",
        "2001:20::/28",
        "192.88.99.0/24",
    ] {
        extra.extend(["--trusted-net", net]);
    }
    let (rows, _) = check(&z, &forms_input(), &extra);
    let by = by_address(&rows);
    for (label, ip, ..) in FORMS {
        let row = &by[&format!("a@{label}.zz")];
        assert_eq!(row["reason"], "deliverable", "{ip}: {row}");
        assert_eq!(row["mx"][0]["state"], "usable", "{ip}: {row}");
    }
    // An IPv4 network does not cover the NAT64, 6to4 or IPv4-compatible
    // forms of its addresses: those are other destinations.
    let (rows, _) = check(
        &z,
        "a@nat64-lo.zz\na@sixtofour-lo.zz\na@compat-lo.zz\n",
        &["--trusted-net", "127.0.0.0/8"],
    );
    for row in &rows {
        assert_eq!(row["reason"], "mx_localhost", "{row}");
    }
}

fn at(ip: &str, port: u16) -> SocketAddr {
    format!("{ip}:{port}").parse().unwrap()
}

/// The probe connects to none of the forms: not for a domain that has only
/// them (DNS already suppresses it), not beside a usable MX host that comes
/// after them in preference order, not as a domain's own addresses under
/// `--implicit-mx probe`. Only the trusted loopback greeters and the canary
/// see connections.
///
/// The run without `--probe` comes first and must suppress every form, so
/// the probing run never starts with classes that would let it reach out
/// beyond loopback.
#[test]
fn probe_never_connects_to_non_global_forms() {
    let dir = Dir::new();
    let port = free_port();
    let good = SmtpHost::start(at("127.0.10.1", port), Smtp::Greet("220 good ESMTP"));
    let web = SmtpHost::start(at("127.0.10.2", port), Smtp::Greet("220 web ESMTP"));
    let canary = SmtpHost::start(at("127.0.10.250", port), Smtp::Greet("220 canary"));

    let mut z = forms_zone();
    // mixed.zz: every form on its preferred MX host, a greeter after it.
    z.push_str("mixed MX 10 bad.mixed\nmixed MX 20 good.mixed\ngood.mixed A 127.0.10.1\n");
    // web.zz: no MX; its own addresses are every form and a greeter.
    z.push_str("web A 127.0.10.2\n");
    for (_, ip, _, _) in FORMS {
        z.push_str(&format!(
            "bad.mixed {} {ip}\nweb {} {ip}\n",
            record(ip),
            record(ip)
        ));
    }
    let z = dir.write("probe.zone", z);
    // Not the control (global-nat64.zz): DNS finds it deliverable, so the
    // probe would connect to its global address, beyond loopback.
    let input: String = FORMS
        .iter()
        .map(|(label, ..)| format!("a@{label}.zz\n"))
        .chain(["a@mixed.zz\n".to_string(), "a@web.zz\n".to_string()])
        .collect();

    let (rows, _) = check(&z, &input, &["--trusted-net", "127.0.10.0/24"]);
    assert_suppressed(&rows);
    let mixed = &by_address(&rows)["a@mixed.zz"];
    assert_eq!(mixed["reason"], "deliverable", "{mixed}");
    assert_eq!(mixed["mx"][0]["state"], "non_global", "{mixed}");

    let port_s = port.to_string();
    let canary_s = canary.addr.to_string();
    let (rows, summary) = check(
        &z,
        &input,
        &[
            "--probe",
            "--implicit-mx",
            "probe",
            "--trusted-net",
            "127.0.10.0/24",
            "--smtp-port",
            &port_s,
            "--probe-canary",
            &canary_s,
            "--connect-timeout",
            "5s",
            "--greeting-timeout",
            "10s",
        ],
    );
    assert_suppressed(&rows);
    let by = by_address(&rows);
    for (label, ..) in FORMS {
        let row = &by[&format!("a@{label}.zz")];
        assert!(row["probe"].is_null(), "{row}");
    }
    for (a, greeter) in [("a@mixed.zz", &good), ("a@web.zz", &web)] {
        let row = &by[a];
        let want = if a == "a@web.zz" {
            "implicit_mx"
        } else {
            "deliverable"
        };
        assert_eq!(row["reason"], want, "{row}");
        assert_eq!(row["probe"]["status"], "answered", "{row}");
        let hosts: Vec<&str> = row["probe"]["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["address"].as_str().unwrap())
            .collect();
        assert_eq!(hosts, [greeter.addr.to_string()], "{row}");
        assert_eq!(greeter.accepted(), 1, "{a}");
    }
    assert_eq!(canary.accepted(), 1);
    assert!(summary.contains("2 addresses probed on port"), "{summary}");
}
