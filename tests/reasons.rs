//! Every reason code, warning and DNS fault, end to end through the binary
//! against a real DNS server on loopback (the lab, as a separate process or
//! in-process with --zone).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use crate::util::*;

/// Expected (reason, action, status, warnings) for an address.
type Want = (
    &'static str,
    &'static str,
    Option<&'static str>,
    &'static [&'static str],
);

fn assert_rows(rows: &[serde_json::Value], want: &[(&str, Want)]) {
    let got = by_address(rows);
    for (address, (reason, action, status, warns)) in want {
        let row = got
            .get(*address)
            .unwrap_or_else(|| panic!("no output row for {address}"));
        assert_eq!(row["reason"], *reason, "{address}: {row}");
        assert_eq!(row["action"], *action, "{address}: {row}");
        assert_eq!(row["status"].as_str(), *status, "{address}: {row}");
        assert_eq!(warnings(row), *warns, "{address}: {row}");
        assert!(!row["detail"].as_str().unwrap().is_empty(), "{address}");
    }
}

// Keep this in sync with the example in the README: it runs the bundled
// demo and checks that every reason code comes out of it.
#[test]
fn readme_demo_covers_every_reason() {
    let rows = demo_rows(&[]);
    assert_eq!(rows.len(), 29, "one row per address line");
    assert_rows(
        &rows,
        &[
            (
                "alice@northwind-mail.com",
                ("deliverable", "deliver", None, &[]),
            ),
            (
                "jürgen@bücher-laden.de",
                ("deliverable", "deliver", None, &[]),
            ),
            (
                "carol@cname-mx.com",
                ("deliverable", "deliver", None, &["mx_cname"]),
            ),
            (
                "dave@ip-literal-mx.net",
                ("deliverable", "deliver", None, &["mx_ip_literal"]),
            ),
            (
                "erin@partly-broken.com",
                ("deliverable", "deliver", None, &["mx_partially_unusable"]),
            ),
            (
                "not-an-address",
                ("address_invalid", "suppress", Some("5.1.3"), &[]),
            ),
            (
                "john doe@northwind-mail.com",
                ("address_invalid", "suppress", Some("5.1.3"), &[]),
            ),
            (
                "user@gmail",
                ("domain_invalid", "suppress", Some("5.1.2"), &[]),
            ),
            (
                "user@bad_domain.com",
                ("domain_invalid", "suppress", Some("5.1.2"), &[]),
            ),
            (
                "user@shop.example",
                ("domain_reserved", "suppress", Some("5.1.2"), &[]),
            ),
            (
                "root@localhost",
                ("domain_reserved", "suppress", Some("5.1.2"), &[]),
            ),
            (
                "frank@parked-domain.net",
                ("null_mx", "suppress", Some("5.1.10"), &[]),
            ),
            (
                "grace@half-null.org",
                ("null_mx", "suppress", Some("5.1.10"), &["null_mx_mixed"]),
            ),
            (
                "heidi@botched-null.com",
                ("null_mx_malformed", "suppress", Some("5.1.10"), &[]),
            ),
            (
                "ivan@no-such-domain-4711.com",
                ("nxdomain", "suppress", Some("5.1.2"), &[]),
            ),
            (
                "judy@empty-domain.org",
                ("no_mail_host", "suppress", Some("5.4.4"), &[]),
            ),
            (
                "mallory@website-only.com",
                ("no_mx", "suppress", Some("5.4.4"), &[]),
            ),
            (
                "niaj@loopback-mx.com",
                ("mx_localhost", "suppress", Some("5.4.4"), &[]),
            ),
            (
                "olivia@loopback-a.com",
                ("mx_localhost", "suppress", Some("5.4.4"), &[]),
            ),
            (
                "peggy@private-mx.org",
                ("mx_unroutable", "suppress", Some("5.4.4"), &[]),
            ),
            (
                "rupert@dangling-mx.com",
                ("mx_unresolvable", "suppress", Some("5.4.4"), &[]),
            ),
            (
                "sybil@typo-mx.com",
                ("mx_typo", "suppress", Some("5.4.4"), &[]),
            ),
            (
                "fay@squatted-mx.net",
                ("deliverable", "deliver", None, &["mx_typo_suspect"]),
            ),
            (
                "xavier@gmial.com",
                ("nxdomain", "suppress", Some("5.1.2"), &[]),
            ),
            (
                "trent@servfail-dns.net",
                ("dns_failure", "retry", Some("4.4.3"), &[]),
            ),
            (
                "uma@refusing-dns.org",
                ("dns_failure", "retry", Some("4.4.3"), &[]),
            ),
            (
                "victor@lame-dns.com",
                ("dns_failure", "retry", Some("4.4.3"), &[]),
            ),
            (
                "walter@target-down.net",
                ("dns_failure", "retry", Some("4.4.3"), &[]),
            ),
        ],
    );
    // Every reason but implicit_mx (which needs --implicit-mx accept, below).
    let seen: BTreeSet<&str> = rows.iter().map(|r| r["reason"].as_str().unwrap()).collect();
    let all = [
        "address_invalid",
        "domain_invalid",
        "domain_reserved",
        "nxdomain",
        "dns_failure",
        "null_mx",
        "null_mx_malformed",
        "no_mail_host",
        "no_mx",
        "deliverable",
        "mx_localhost",
        "mx_unroutable",
        "mx_unresolvable",
        "mx_typo",
    ];
    for reason in all {
        assert!(seen.contains(reason), "the demo lacks {reason}");
    }
    // The address is echoed as given; the domain is ASCII lowercase.
    let rows = by_address(&rows);
    assert_eq!(
        rows["jürgen@bücher-laden.de"]["domain"],
        "xn--bcher-laden-thb.de"
    );
    assert_eq!(
        rows["Bob.Smith+news@Northwind-Mail.COM"]["domain"],
        "northwind-mail.com"
    );
    assert!(rows["user@gmail"]["domain"].is_null());
    assert_eq!(rows["user@shop.example"]["domain"], "shop.example");
    // Typos: the host meant, and the address meant.
    assert_eq!(rows["sybil@typo-mx.com"]["suggestion"], "mx1.pphosted.com");
    assert_eq!(rows["xavier@gmial.com"]["suggestion"], "xavier@gmail.com");
    assert_eq!(rows["user@gmail"]["suggestion"], "user@gmail.com");
    assert!(rows["alice@northwind-mail.com"]["suggestion"].is_null());
}

fn fault_run(addresses: &[&str], extra: &[&str]) -> Vec<serde_json::Value> {
    let lab = LabProcess::start(&[&fixture("faults.zone"), &fixture("other.zone")], &[]);
    let mut args = vec![
        "check",
        "--resolver",
        &lab.addr.to_string(),
        "--dns-timeout",
        "300ms",
        "--dns-attempts",
        "2",
        "--format",
        "jsonl",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let input = addresses.join("\n");
    let out = run_ok(&args, Some(input.as_bytes()));
    let rows = jsonl(&out);
    assert_eq!(rows.len(), addresses.len());
    for (row, address) in rows.iter().zip(addresses) {
        assert_eq!(row["address"], *address, "rows come out in input order");
    }
    rows
}

#[test]
fn mx_query_faults_are_retried_never_suppressed() {
    let rows = fault_run(
        &[
            "a@mx-servfail.zz",
            "a@mx-refused.zz",
            "a@mx-timeout.zz",
            "a@mx-lame.zz",
            "a@mx-malformed.zz",
            "a@mx-formerr.zz",
            "a@ok.zz",
            "a@nodata.zz",
            "a@nxdomain.zz",
        ],
        &[],
    );
    let by = by_address(&rows);
    for (address, status) in [
        ("a@mx-servfail.zz", "servfail"),
        ("a@mx-refused.zz", "refused"),
        ("a@mx-timeout.zz", "timeout"),
        ("a@mx-lame.zz", "lame"),
        ("a@mx-malformed.zz", "malformed"),
        ("a@mx-formerr.zz", "rcode_1"),
    ] {
        let row = &by[address];
        assert_eq!(row["reason"], "dns_failure", "{row}");
        assert_eq!(row["action"], "retry", "{row}");
        assert_eq!(row["status"], "4.4.3", "{row}");
        assert_eq!(row["dns"]["mx"], status, "{row}");
    }
    // NXDOMAIN, NODATA, SERVFAIL and timeout each keep their own evidence.
    assert_eq!(by["a@nxdomain.zz"]["dns"]["mx"], "nxdomain");
    assert_eq!(by["a@nxdomain.zz"]["reason"], "nxdomain");
    assert_eq!(by["a@nodata.zz"]["dns"]["mx"], "nodata");
    assert_eq!(by["a@nodata.zz"]["reason"], "no_mail_host");
    assert_eq!(by["a@nodata.zz"]["dns"]["implicit"]["a"], "nodata");
    assert_eq!(by["a@ok.zz"]["dns"]["mx"], "answer");
    assert_eq!(by["a@ok.zz"]["mx"][0]["exchange"], "mx.ok.zz");
    assert_eq!(
        by["a@ok.zz"]["mx"][0]["addresses"],
        serde_json::json!(["93.184.215.14", "2606:2800:21f:cb07::25"])
    );
}

#[test]
fn truncated_answers_are_retried_over_tcp() {
    let lab = LabProcess::start(&[&fixture("faults.zone")], &[]);
    let out = run_ok(
        &["check", "--resolver", &lab.resolver(), "--format", "jsonl"],
        Some(b"a@big-answer.zz\n"),
    );
    let rows = jsonl(&out);
    assert_eq!(rows[0]["reason"], "deliverable", "{}", rows[0]);
    let mx_queries: Vec<_> = lab
        .queries()
        .into_iter()
        .filter(|(_, t, n)| t == "MX" && n == "big-answer.zz.")
        .map(|(transport, _, _)| transport)
        .collect();
    assert_eq!(mx_queries, ["udp", "tcp"], "UDP answer truncated, then TCP");
}

#[test]
fn target_lookups_and_address_classes() {
    let rows = fault_run(
        &[
            "a@target-timeout.zz",
            "a@target-servfail.zz",
            "a@target-mixed.zz",
            "a@trusted.zz",
            "a@v6-loopback.zz",
            "a@v4-mapped.zz",
            "a@zero-mx.zz",
            "a@doc-mx.zz",
            "a@null-mx-ten.zz",
            "a@numeric-pair.zz",
            "a@mx-to-sub.zz",
        ],
        &[],
    );
    assert_rows(
        &rows,
        &[
            (
                "a@target-timeout.zz",
                ("dns_failure", "retry", Some("4.4.3"), &[]),
            ),
            (
                "a@target-servfail.zz",
                ("dns_failure", "retry", Some("4.4.3"), &[]),
            ),
            (
                "a@target-mixed.zz",
                ("deliverable", "deliver", None, &["mx_partially_unusable"]),
            ),
            (
                "a@trusted.zz",
                ("mx_localhost", "suppress", Some("5.4.4"), &[]),
            ),
            (
                "a@v6-loopback.zz",
                ("mx_localhost", "suppress", Some("5.4.4"), &[]),
            ),
            (
                "a@v4-mapped.zz",
                ("mx_unroutable", "suppress", Some("5.4.4"), &[]),
            ),
            (
                "a@zero-mx.zz",
                (
                    "mx_localhost",
                    "suppress",
                    Some("5.4.4"),
                    &["mx_ip_literal"],
                ),
            ),
            (
                "a@doc-mx.zz",
                ("mx_unroutable", "suppress", Some("5.4.4"), &[]),
            ),
            (
                "a@null-mx-ten.zz",
                ("null_mx", "suppress", Some("5.1.10"), &[]),
            ),
            (
                "a@numeric-pair.zz",
                ("null_mx_malformed", "suppress", Some("5.1.10"), &[]),
            ),
            // A referral for the MX host: lame, so temporary.
            (
                "a@mx-to-sub.zz",
                ("dns_failure", "retry", Some("4.4.3"), &[]),
            ),
        ],
    );
    let by = by_address(&rows);
    assert_eq!(by["a@target-timeout.zz"]["mx"][0]["state"], "temp_fail");
    assert_eq!(by["a@target-mixed.zz"]["mx"][1]["state"], "usable");
}

#[test]
fn trusted_net_makes_private_targets_usable() {
    let rows = fault_run(
        &["a@trusted.zz", "a@v6-loopback.zz"],
        &["--trusted-net", "127.0.1.0/24"],
    );
    assert_rows(
        &rows,
        &[
            ("a@trusted.zz", ("deliverable", "deliver", None, &[])),
            (
                "a@v6-loopback.zz",
                ("mx_localhost", "suppress", Some("5.4.4"), &[]),
            ),
        ],
    );
}

#[test]
fn implicit_mx_policy() {
    let addresses = [
        "a@implicit-ok.zz",
        "a@implicit-lo.zz",
        "a@implicit-v6.zz",
        "a@implicit-slow.zz",
        "a@nodata.zz",
    ];
    let default = fault_run(&addresses, &[]);
    assert_rows(
        &default,
        &[
            (
                "a@implicit-ok.zz",
                ("no_mx", "suppress", Some("5.4.4"), &[]),
            ),
            (
                "a@implicit-lo.zz",
                ("no_mx", "suppress", Some("5.4.4"), &[]),
            ),
            (
                "a@implicit-v6.zz",
                ("no_mx", "suppress", Some("5.4.4"), &[]),
            ),
            (
                "a@implicit-slow.zz",
                ("no_mx", "suppress", Some("5.4.4"), &[]),
            ),
            (
                "a@nodata.zz",
                ("no_mail_host", "suppress", Some("5.4.4"), &[]),
            ),
        ],
    );
    let accept = fault_run(&addresses, &["--implicit-mx", "accept"]);
    assert_rows(
        &accept,
        &[
            (
                "a@implicit-ok.zz",
                ("implicit_mx", "deliver", None, &["implicit_mx"]),
            ),
            (
                "a@implicit-lo.zz",
                ("mx_localhost", "suppress", Some("5.4.4"), &["implicit_mx"]),
            ),
            (
                "a@implicit-v6.zz",
                ("implicit_mx", "deliver", None, &["implicit_mx"]),
            ),
            (
                "a@implicit-slow.zz",
                ("implicit_mx", "deliver", None, &["implicit_mx"]),
            ),
            (
                "a@nodata.zz",
                ("no_mail_host", "suppress", Some("5.4.4"), &[]),
            ),
        ],
    );
    let by = by_address(&accept);
    assert_eq!(by["a@implicit-slow.zz"]["dns"]["implicit"]["a"], "timeout");
}

#[test]
fn cname_chains_are_followed_and_reported() {
    let rows = fault_run(&["a@cname-domain.zz", "a@alias-nx.zz", "a@chase.zz"], &[]);
    assert_rows(
        &rows,
        &[
            ("a@cname-domain.zz", ("deliverable", "deliver", None, &[])),
            (
                "a@alias-nx.zz",
                ("nxdomain", "suppress", Some("5.1.2"), &[]),
            ),
            // The alias leaves the zone: the lab answers with the CNAME only
            // and the client follows it to the other zone.
            ("a@chase.zz", ("deliverable", "deliver", None, &[])),
        ],
    );
    let by = by_address(&rows);
    assert_eq!(
        by["a@cname-domain.zz"]["dns"]["mx_cname"],
        serde_json::json!(["ok.zz"])
    );
    assert_eq!(
        by["a@chase.zz"]["dns"]["mx_cname"],
        serde_json::json!(["mail.other-zone.yy"])
    );
}

#[test]
fn a_dead_resolver_suppresses_nobody_and_ends_in_time() {
    let silent = SilentServer::start();
    let input =
        "a@ok.zz\nb@nodata.zz\nc@nxdomain.zz\nbad-address\nd@shop.test\ne@one.zz\ne@one.zz\n";
    let started = Instant::now();
    let out = run_ok(
        &[
            "check",
            "--resolver",
            &silent.addr.to_string(),
            "--dns-timeout",
            "500ms",
            "--dns-attempts",
            "2",
            "--format",
            "jsonl",
        ],
        Some(input.as_bytes()),
    );
    let elapsed = started.elapsed();
    let rows = jsonl(&out);
    assert_eq!(rows.len(), 7);
    for row in &rows {
        match row["address"].as_str().unwrap() {
            "bad-address" => assert_eq!(row["reason"], "address_invalid"),
            "d@shop.test" => assert_eq!(row["reason"], "domain_reserved"),
            _ => {
                assert_eq!(row["reason"], "dns_failure", "{row}");
                assert_eq!(row["action"], "retry", "{row}");
                assert_eq!(row["dns"]["mx"], "timeout", "{row}");
            }
        }
    }
    // timeout x attempts = 1 s, plus a few seconds of slack.
    assert!(
        elapsed >= Duration::from_millis(900),
        "{elapsed:?}: the timeout was not waited for"
    );
    assert!(elapsed < Duration::from_secs(4), "{elapsed:?}");
}

#[test]
fn a_closed_resolver_port_is_a_temporary_failure() {
    let port = free_port();
    let out = run_ok(
        &[
            "check",
            "--resolver",
            &format!("127.0.0.1:{port}"),
            "--dns-timeout",
            "500ms",
            "--format",
            "jsonl",
        ],
        Some(b"a@ok.zz\n"),
    );
    let rows = jsonl(&out);
    assert_eq!(rows[0]["reason"], "dns_failure");
    assert_eq!(rows[0]["action"], "retry");
}

#[test]
fn every_warning_is_produced() {
    let demo = demo_rows(&[]);
    let accept = fault_run(&["a@implicit-ok.zz"], &["--implicit-mx", "accept"]);
    let mut seen = BTreeSet::new();
    for row in demo.iter().chain(accept.iter()) {
        seen.extend(warnings(row));
    }
    for w in [
        "null_mx_mixed",
        "mx_cname",
        "mx_ip_literal",
        "mx_partially_unusable",
        "implicit_mx",
    ] {
        assert!(seen.contains(w), "warning {w} never produced; saw {seen:?}");
    }
}

#[test]
fn shared_mx_hosts_and_repeated_domains_are_resolved_once() {
    let dir = Dir::new();
    let mut zone = String::from("$ORIGIN zz.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\nmx.shared A 93.184.215.14\n");
    let mut list = String::new();
    for i in 0..300 {
        zone.push_str(&format!("d{i} MX 10 mx.shared\nd{i} MX 20 mx.shared\n"));
    }
    for round in 0..3 {
        for i in 0..300 {
            list.push_str(&format!("user{round}@d{i}.zz\n"));
        }
    }
    let zone = dir.write("shared.zone", zone);
    let lab = LabProcess::start(&[&zone], &[]);
    let out = run_ok(
        &[
            "check",
            "--resolver",
            &lab.resolver(),
            "--format",
            "jsonl",
            "--concurrency",
            "64",
        ],
        Some(list.as_bytes()),
    );
    let rows = jsonl(&out);
    assert_eq!(rows.len(), 900);
    assert!(rows.iter().all(|r| r["reason"] == "deliverable"));
    let queries = lab.queries();
    let count = |t: &str, n: &str| {
        queries
            .iter()
            .filter(|(_, qt, qn)| qt == t && qn == n)
            .count()
    };
    assert_eq!(
        count("A", "mx.shared.zz."),
        1,
        "the shared MX host is resolved once"
    );
    assert_eq!(count("AAAA", "mx.shared.zz."), 1);
    for i in [0, 150, 299] {
        assert_eq!(
            count("MX", &format!("d{i}.zz.")),
            1,
            "d{i}: one MX query per domain"
        );
    }
    assert_eq!(queries.len(), 302, "300 MX queries and one A/AAAA pair");
}

#[test]
fn lab_serve_takes_faults_from_the_command_line() {
    let lab = LabProcess::start(
        &[&fixture("faults.zone")],
        &["--fault", "ok.zz=servfail/MX"],
    );
    let out = run_ok(
        &["check", "--resolver", &lab.resolver(), "--format", "jsonl"],
        Some(b"a@ok.zz\n"),
    );
    let rows = jsonl(&out);
    assert_eq!(rows[0]["reason"], "dns_failure");
    assert_eq!(rows[0]["dns"]["mx"], "servfail");
}

/// The README's reason table states each reason's action and status as the
/// code does.
#[test]
fn readme_reason_table_matches_the_code() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let mut last = 0;
    for info in prebounce::core::verdict::REASONS {
        let status = info
            .status
            .map(|s| s.to_string())
            .unwrap_or_else(|| "-".into());
        let row = format!("| `{}` | {} | {} |", info.code, info.action, status);
        assert_eq!(
            readme.matches(&row).count(),
            1,
            "README needs the row {row} once"
        );
        let at = readme.find(&row).unwrap();
        assert!(
            at > last,
            "README lists {} out of the rule order",
            info.code
        );
        last = at;
    }
    // The rule table tries the reasons in the same order.
    let rules: Vec<_> = prebounce::core::decide::RULES
        .iter()
        .map(|r| r.reason)
        .collect();
    let table: Vec<_> = prebounce::core::verdict::REASONS
        .iter()
        .map(|r| r.reason)
        .collect();
    assert_eq!(rules, table);
    for w in prebounce::core::verdict::Warning::ALL {
        assert!(
            readme.contains(&format!("| `{}` |", w.code())),
            "README lacks warning {w}"
        );
    }
}
