//! Never a false suppression from a failure on our side: the resolver
//! health check and the outage guard, end to end (the real binary, the
//! loopback lab, a UDP port where nothing answers).

use crate::util::*;

const SOA: &str = "$ORIGIN zz.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\nmx.ok A 93.184.215.14\nok MX 10 mx.ok\n";

fn world(n: usize) -> (String, String) {
    (0..n)
        .map(|i| (format!("d{i} MX 10 mx.ok\n"), format!("a@d{i}.zz\n")))
        .unzip()
}

fn day(d: u32) -> String {
    format!("2026-11-{:02}T09:00:00Z", 2 + d)
}

fn run_check(
    resolver: &str,
    db: Option<&str>,
    list: &str,
    extra: &[&str],
    when: &str,
) -> (Option<i32>, Vec<serde_json::Value>, String) {
    let mut args = vec![
        "check",
        "--resolver",
        resolver,
        "--format",
        "jsonl",
        "--dns-timeout",
        "200ms",
        "--dns-attempts",
        "1",
    ];
    match db {
        Some(db) => args.extend(["--db", db]),
        None => args.push("--no-history"),
    }
    args.extend(extra);
    let out = run_env(&args, Some(list.as_bytes()), &[("PREBOUNCE_NOW", when)]);
    (
        out.status.code(),
        jsonl(&out),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_week_long_resolver_outage_kills_no_domain() {
    let dir = Dir::new();
    let (zone, list) = world(46);
    let z = dir.write("z.zone", format!("{SOA}{zone}"));
    let lab = LabProcess::start(&[&z], &[]);
    let dead = SilentServer::start().addr.to_string();
    // Without canaries: the outage guard alone.
    let db = dir.path("guard.sqlite");
    let db = db.to_str().unwrap();
    let none = ["--dns-canary", "none"];
    let (code, rows, _) = run_check(&lab.resolver(), Some(db), &list, &none, &day(0));
    assert_eq!(code, Some(0));
    assert!(rows.iter().all(|r| r["action"] == "deliver"));
    for d in 1..=7 {
        let (code, rows, err) = run_check(&dead, Some(db), &list, &none, &day(d));
        assert_eq!(code, Some(0), "{err}");
        assert!(
            rows.iter()
                .all(|r| r["action"] == "retry" && r["reason"] == "dns_failure"),
            "day {d}: {:?}",
            rows.iter().find(|r| r["action"] != "retry")
        );
        assert!(
            err.contains("outage guard: 46 of 46 domains failed temporarily"),
            "{err}"
        );
    }
    let out = run_ok(&["suppressions", "--db", db], None);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).lines().count(),
        1,
        "header only"
    );
    // The recorded readings say they do not count.
    let out = run_ok(&["history", "d0.zz", "--db", db, "--format", "json"], None);
    let h: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let obs = h["observations"].as_array().unwrap();
    assert_eq!(obs.len(), 8);
    assert!(obs[1..].iter().all(|o| o["counts"] == false));

    // With a canary: the health check stops every day at once.
    let db = dir.path("canary.sqlite");
    let db = db.to_str().unwrap();
    let canary = ["--dns-canary", "ok.zz"];
    let (code, _, err) = run_check(&lab.resolver(), Some(db), &list, &canary, &day(0));
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("health: resolver healthy"), "{err}");
    for d in 1..=7 {
        let (code, rows, err) = run_check(&dead, Some(db), &list, &canary, &day(d));
        assert_eq!(code, Some(3), "{err}");
        assert!(rows
            .iter()
            .all(|r| r["action"] == "retry"
                && r["warnings"].to_string().contains("resolver_unhealthy")));
        assert!(err.contains("failed its health check"), "{err}");
    }
    let out = run_ok(&["history", "d0.zz", "--db", db], None);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("d0.zz: 1 observations"),
        "nothing recorded while unhealthy"
    );
}

#[test]
fn a_resolver_that_says_nxdomain_to_everything_suppresses_no_one() {
    let dir = Dir::new();
    // A root zone with nothing in it: every name is NXDOMAIN.
    let root = dir.write(
        "root.zone",
        "$ORIGIN .\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n",
    );
    let liar = LabProcess::start(&[&root], &[]);
    let (zone, list) = world(30);
    let canary = ["--dns-canary", "ok.zz"];
    let (code, rows, err) = run_check(&liar.resolver(), None, &list, &canary, &day(0));
    assert_eq!(code, Some(3), "{err}");
    assert_eq!(rows.len(), 30);
    for r in &rows {
        assert_eq!(r["action"], "retry", "{r}");
        assert_eq!(r["status"], "4.4.3");
        assert!(
            r["warnings"].to_string().contains("resolver_unhealthy"),
            "{r}"
        );
    }
    assert_eq!(
        err.matches("failed its health check").count(),
        2,
        "the summary and the closing line: {err}"
    );
    // With a fresh store nothing is recorded, so the fixed resolver's
    // answers are not shadowed by reused suppressions.
    let db = dir.path("h.sqlite");
    let db = db.to_str().unwrap();
    let (code, _, _) = run_check(&liar.resolver(), Some(db), &list, &canary, &day(0));
    assert_eq!(code, Some(3));
    let z = dir.write("z.zone", format!("{SOA}{zone}"));
    let good = LabProcess::start(&[&z], &[]);
    let (code, rows, err) = run_check(&good.resolver(), Some(db), &list, &canary, &day(0));
    assert_eq!(code, Some(0), "{err}");
    assert!(rows.iter().all(|r| r["reason"] == "deliverable"), "{err}");
}

#[test]
fn a_resolver_that_invents_answers_is_unhealthy() {
    let dir = Dir::new();
    // Every name under zz has an MX: a made-up name is answered.
    let z = dir.write("z.zone", format!("{SOA}* MX 10 mx.ok\n"));
    let lab = LabProcess::start(&[&z], &[]);
    let (code, rows, err) = run_check(
        &lab.resolver(),
        None,
        "a@nowhere.zz\n",
        &["--dns-canary", "ok.zz"],
        &day(0),
    );
    assert_eq!(code, Some(3), "{err}");
    assert!(err.contains("the resolver invents answers"), "{err}");
    assert_eq!(rows[0]["action"], "retry");
    // `domain` says so too.
    let out = run_env(
        &[
            "domain",
            "--resolver",
            &lab.resolver(),
            "--no-history",
            "--dns-canary",
            "ok.zz",
            "x.zz",
        ],
        None,
        &[],
    );
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stdout).contains("resolver_unhealthy"));
}

#[test]
fn canaries_are_checked_names() {
    let out = run(
        &[
            "check",
            "--resolver",
            "127.0.0.1:1",
            "--dns-canary",
            "not a domain",
            "-",
        ],
        Some(b""),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--dns-canary not a domain"));
    let out = run(
        &[
            "check",
            "--resolver",
            "127.0.0.1:1",
            "--dns-canary",
            "none",
            "--dns-canary",
            "ok.zz",
            "-",
        ],
        Some(b""),
    );
    assert_eq!(out.status.code(), Some(2));
}
