//! The history keeps evidence: stored observations are decided again under
//! today's flags, reused rows look like fresh ones, temporary readings are
//! asked again, `domain` reads and explains history, and the first rule of
//! the reason table wins. The real binary, the loopback lab, a database per
//! test.

use std::net::SocketAddr;

use crate::util::*;

const SOA: &str = "$ORIGIN zz.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n";

fn start_lab(dir: &Dir, body: &str) -> LabProcess {
    let zone = dir.write("z.zone", format!("{SOA}{body}"));
    LabProcess::start(&[&zone], &[])
}

fn check(
    db: &str,
    resolver: &str,
    input: &str,
    extra: &[&str],
    when: &str,
) -> (Vec<serde_json::Value>, String) {
    let mut args = vec![
        "check",
        "--resolver",
        resolver,
        "--db",
        db,
        "--format",
        "jsonl",
        "--dns-timeout",
        "300ms",
        "--dns-attempts",
        "1",
    ];
    args.extend(extra);
    let out = run_env(&args, Some(input.as_bytes()), &[("PREBOUNCE_NOW", when)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (jsonl(&out), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn stored_evidence_is_decided_under_todays_policy() {
    let dir = Dir::new();
    let db = dir.path("h.sqlite");
    let db = db.to_str().unwrap();
    let lab = start_lab(&dir, "web A 93.184.215.30\n");
    let r = lab.resolver();
    let (rows, _) = check(db, &r, "a@web.zz\n", &[], "2026-11-02T09:00:00Z");
    assert_eq!(rows[0]["reason"], "no_mx");
    let asked = lab.queries().len();
    // Same store, another policy, an hour later: decided again from the
    // stored evidence, without asking DNS.
    let (rows, err) = check(
        db,
        &r,
        "a@web.zz\n",
        &["--implicit-mx", "accept"],
        "2026-11-02T10:00:00Z",
    );
    assert_eq!(rows[0]["action"], "deliver", "{}", rows[0]);
    assert_eq!(rows[0]["reason"], "implicit_mx");
    assert_eq!(rows[0]["history"]["reused"], true);
    assert_eq!(rows[0]["history"]["age"], 3600);
    assert_eq!(
        lab.queries().len(),
        asked,
        "no DNS query for reused evidence"
    );
    assert!(
        err.contains("history: 1 domains decided from stored evidence, 0 resolved now;"),
        "{err}"
    );
    assert!(
        err.contains("oldest observed 2026-11-02T09:00:00Z"),
        "{err}"
    );
    // And back: the default policy suppresses it again.
    let (rows, _) = check(db, &r, "a@web.zz\n", &[], "2026-11-02T11:00:00Z");
    assert_eq!(rows[0]["reason"], "no_mx");
    // Trusted networks are policy too.
    let lab2 = Dir::new();
    let private = start_lab(&lab2, "p MX 10 mx.p\nmx.p A 10.0.0.25\n");
    let db2 = lab2.path("h.sqlite");
    let db2 = db2.to_str().unwrap();
    let (rows, _) = check(
        db2,
        &private.resolver(),
        "a@p.zz\n",
        &[],
        "2026-11-02T09:00:00Z",
    );
    assert_eq!(rows[0]["reason"], "mx_unroutable");
    let (rows, _) = check(
        db2,
        &private.resolver(),
        "a@p.zz\n",
        &["--trusted-net", "10.0.0.0/8"],
        "2026-11-02T09:30:00Z",
    );
    assert_eq!(rows[0]["reason"], "deliverable");
    assert_eq!(rows[0]["history"]["reused"], true);
}

#[test]
fn reused_rows_have_the_shape_of_fresh_ones() {
    let dir = Dir::new();
    let db = dir.path("h.sqlite");
    let db = db.to_str().unwrap();
    let lab = start_lab(
        &dir,
        "ok MX 10 mx1.ok\nok MX 20 alias.ok\nmx1.ok A 93.184.215.14\nmx1.ok AAAA 2606:2800:21f:cb07:6820:80da:af6b:8b2c\nalias.ok CNAME mx1.ok\nweb A 93.184.215.30\n",
    );
    let input = "a@ok.zz\nb@web.zz\n";
    let (fresh, _) = check(db, &lab.resolver(), input, &[], "2026-11-02T09:00:00Z");
    let (reused, _) = check(db, &lab.resolver(), input, &[], "2026-11-02T09:05:00Z");
    for (f, r) in fresh.iter().zip(&reused) {
        assert_eq!(r["history"]["reused"], true, "{r}");
        assert_eq!(f["history"]["reused"], false, "{f}");
        let strip = |v: &serde_json::Value| {
            let mut v = v.clone();
            v.as_object_mut().unwrap().remove("history");
            v
        };
        assert_eq!(
            strip(f),
            strip(r),
            "a reused row equals the fresh one but for history"
        );
        let keys =
            |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(f), keys(r));
    }
    let ok = &reused[0];
    assert_eq!(ok["mx"].as_array().unwrap().len(), 2, "{ok}");
    assert_eq!(ok["dns"]["mx"], "answer");
    assert!(ok["warnings"].to_string().contains("mx_cname"));
    assert_eq!(reused[1]["dns"]["implicit"]["a"], "answer");
    // CSV too: the mx column is the same.
    let csv = |when: &str| {
        let out = run_env(
            &[
                "check",
                "--resolver",
                &lab.resolver(),
                "--db",
                db,
                "--format",
                "csv",
            ],
            Some(input.as_bytes()),
            &[("PREBOUNCE_NOW", when)],
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(csv("2026-11-02T09:06:00Z"), csv("2026-11-02T09:07:00Z"));
    assert!(csv("2026-11-02T09:08:00Z")
        .contains("10 mx1.ok.zz [93.184.215.14 2606:2800:21f:cb07:6820:80da:af6b:8b2c]"));
}

#[test]
fn temporary_readings_are_never_reused() {
    let dir = Dir::new();
    let db = dir.path("h.sqlite");
    let db = db.to_str().unwrap();
    // A dead resolver: a UDP port on loopback where nothing answers.
    let silent = SilentServer::start();
    let dead: SocketAddr = silent.addr;
    let input = "a@ok.zz\nb@also.zz\n";
    let (rows, _) = check(db, &dead.to_string(), input, &[], "2026-11-02T09:00:00Z");
    assert!(
        rows.iter().all(|r| r["reason"] == "dns_failure"),
        "{rows:?}"
    );
    // The resolver is fixed: the domains are asked again at once.
    let lab = start_lab(
        &dir,
        "ok MX 10 mx.ok\nalso MX 10 mx.ok\nmx.ok A 93.184.215.14\n",
    );
    let (rows, err) = check(db, &lab.resolver(), input, &[], "2026-11-02T09:10:00Z");
    assert!(
        rows.iter().all(|r| r["reason"] == "deliverable"),
        "{rows:?}"
    );
    assert!(rows.iter().all(|r| r["history"]["reused"] == false));
    assert!(lab.queries().len() >= 3, "asked DNS again");
    assert!(
        err.contains("history: 0 domains decided from stored evidence, 2 resolved now"),
        "{err}"
    );
}

#[test]
fn domain_reads_and_explains_history() {
    let dir = Dir::new();
    let db = dir.path("h.sqlite");
    let db = db.to_str().unwrap();
    let lab = start_lab(
        &dir,
        ";! fault tfail servfail\ntfail MX 10 mx.ok\nmx.ok A 93.184.215.14\n",
    );
    for day in ["02", "04", "07"] {
        check(
            db,
            &lab.resolver(),
            "a@tfail.zz\n",
            &[],
            &format!("2026-11-{day}T09:00:00Z"),
        );
    }
    let domain = |extra: &[&str], when: &str| {
        let r = lab.resolver();
        let mut args = vec!["domain", "--resolver", &r, "tfail.zz"];
        args.extend(extra);
        let out = run_env(&args, None, &[("PREBOUNCE_NOW", when)]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let text = domain(&["--db", db], "2026-11-07T10:00:00Z");
    assert!(
        text.contains("verdict   suppress dead_domain 5.4.7"),
        "{text}"
    );
    assert!(
        text.contains("failing temporarily since 2026-11-02T09:00:00Z, 4 check(s); dead_domain since 2026-11-07T09:00:00Z"),
        "{text}"
    );
    let json: serde_json::Value = serde_json::from_str(&domain(
        &["--db", db, "--format", "json"],
        "2026-11-07T11:00:00Z",
    ))
    .unwrap();
    assert_eq!(json["reason"], "dead_domain");
    assert_eq!(json["history"]["failing_since"], "2026-11-02T09:00:00Z");
    assert_eq!(json["history"]["checks"], 5);
    assert_eq!(json["history"]["dead_from"], "2026-11-07T09:00:00Z");
    // Without history it can only say what DNS says today.
    let text = domain(&["--no-history"], "2026-11-07T12:00:00Z");
    assert!(text.contains("verdict   retry dns_failure 4.4.3"), "{text}");
    assert!(!text.contains("history"), "{text}");
    // A young store explains the way to dead_domain.
    let db2 = dir.path("young.sqlite");
    let text = domain(&["--db", db2.to_str().unwrap()], "2026-11-02T09:00:00Z");
    assert!(
        text.contains("becomes dead_domain from 2026-11-07T09:00:00Z if failures persist, after 2 more check(s)"),
        "{text}"
    );
    // domain writes history like check: its observation is in the timeline.
    let out = run_ok(
        &["history", "tfail.zz", "--db", db2.to_str().unwrap()],
        None,
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 observations"));
}

#[test]
fn the_first_rule_in_table_order_wins() {
    let dir = Dir::new();
    let zz = dir.write(
        "zz.zone",
        format!("{SOA}mixed MX 10 mx.mixed\nmixed MX 20 mx1.pphosted.con.\nmx.mixed A 127.0.0.1\ntypo MX 10 mx1.pphosted.con.\n"),
    );
    // The typo's TLD exists in this world, its domain does not.
    let con = dir.write(
        "con.zone",
        "$ORIGIN con.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n",
    );
    let lab = LabProcess::start(&[&zz, &con], &[]);
    let out = run_ok(
        &[
            "check",
            "--resolver",
            &lab.resolver(),
            "--no-history",
            "--format",
            "jsonl",
        ],
        Some(b"a@mixed.zz\na@typo.zz\n"),
    );
    let rows = by_address(&jsonl(&out));
    // mx_localhost comes before mx_typo in the table.
    assert_eq!(
        rows["a@mixed.zz"]["reason"], "mx_localhost",
        "{}",
        rows["a@mixed.zz"]
    );
    assert_eq!(rows["a@typo.zz"]["reason"], "mx_typo");
    assert_eq!(rows["a@typo.zz"]["suggestion"], "mx1.pphosted.com");
}

#[test]
fn names_are_normalised_like_check() {
    let dir = Dir::new();
    let db = dir.path("h.sqlite");
    let db = db.to_str().unwrap();
    let lab = start_lab(&dir, "xn--bcher-kva MX 10 mx.ok\nmx.ok A 93.184.215.14\n");
    // A trailing dot is the same domain.
    let (rows, _) = check(
        db,
        &lab.resolver(),
        "a@bücher.zz.\nb@BÜCHER.zz\n",
        &[],
        "2026-11-02T09:00:00Z",
    );
    assert_eq!(rows[0]["domain"], "xn--bcher-kva.zz");
    assert_eq!(rows[0]["reason"], "deliverable", "{}", rows[0]);
    assert_eq!(rows[1]["domain"], "xn--bcher-kva.zz");
    let out = run_ok(&["history", "Bücher.ZZ.", "--db", db], None);
    assert!(String::from_utf8_lossy(&out.stdout).contains("xn--bcher-kva.zz: 1 observations"));
    let out = run_ok(&["forget", "bücher.zz", "--db", db], None);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "xn--bcher-kva.zz: forgot 1 observations\n"
    );
}

#[test]
fn a_database_url_of_another_kind_is_a_usage_error() {
    // postgres:// and postgresql:// name a PostgreSQL store (tests/pg.rs);
    // any other scheme is refused, naming those, and makes no file.
    let dir = Dir::new();
    for cmd in [
        &["check", "--db", "mysql://u:p@127.0.0.1/db", "-"][..],
        &["suppressions", "--db", "sqlite://x/y"],
    ] {
        let out = run(cmd, Some(b"a@b.zz\n"));
        assert_eq!(out.status.code(), Some(2), "{cmd:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("URLs are not supported"), "{err}");
        assert!(err.contains("postgres://"), "{err}");
    }
    let out = run_env(&["suppressions"], None, &[("PREBOUNCE_DB", "redis://x/y")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(!std::path::Path::new("redis:").exists());
    drop(dir);
}

#[test]
fn a_read_only_store_serves_history_and_suppressions() {
    // Root can write anywhere: the commands run as `nobody` (setpriv) on a
    // store nobody may write.
    if !std::path::Path::new("/usr/bin/setpriv").exists() || euid() != 0 {
        panic!("this test needs root and setpriv (util-linux)");
    }
    let dir = Dir::new();
    let db = dir.path("h.sqlite");
    let lab = start_lab(&dir, "null MX 0 .\n");
    check(
        db.to_str().unwrap(),
        &lab.resolver(),
        "a@null.zz\n",
        &[],
        "2026-11-02T09:00:00Z",
    );
    // nobody may read the folder and the file, not write them.
    let mode = |p: &std::path::Path, m: u32| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap();
    };
    mode(dir.tmp.path(), 0o755);
    mode(&db, 0o644);
    let as_nobody = |args: &[&str]| {
        std::process::Command::new("/usr/bin/setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_prebounce"))
            .args(args)
            .env_remove("PREBOUNCE_NOW")
            .output()
            .unwrap()
    };
    let out = as_nobody(&["suppressions", "--db", db.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("null.zz,null_mx,5.1.10"));
    let out = as_nobody(&["history", "null.zz", "--db", db.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("null_mx"));
    let out = as_nobody(&[
        "check",
        "--resolver",
        &lab.resolver(),
        "--db",
        db.to_str().unwrap(),
        "/dev/null",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is read-only"), "{err}");
    assert!(!err.contains("not a prebounce history database"), "{err}");
}

fn euid() -> u32 {
    // The effective user id, from /proc (no libc needed).
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(str::to_string))
        })
        .and_then(|u| u.parse().ok())
        .unwrap_or(u32::MAX)
}

#[test]
fn a_probe_run_over_dns_only_evidence_gathers_the_probe() {
    let port = free_port();
    let at = |ip: &str| -> SocketAddr { format!("{ip}:{port}").parse().unwrap() };
    let host = SmtpHost::start(at("127.0.5.1"), Smtp::Greet("220 mx.p.zz ready"));
    let canary = SmtpHost::start(at("127.0.5.250"), Smtp::Greet("220 canary"));
    let dir = Dir::new();
    let db = dir.path("h.sqlite");
    let db = db.to_str().unwrap();
    let lab = start_lab(&dir, "p MX 10 mx.p\nmx.p A 127.0.5.1\n");
    let trusted = ["--trusted-net", "127.0.5.0/24"];
    let (rows, _) = check(
        db,
        &lab.resolver(),
        "a@p.zz\n",
        &trusted,
        "2026-11-02T09:00:00Z",
    );
    assert_eq!(rows[0]["reason"], "deliverable");
    assert_eq!(rows[0]["probe"], serde_json::Value::Null);
    let asked = lab.queries().len();
    let port_s = port.to_string();
    let canary_s = canary.addr.to_string();
    let probe = [
        "--trusted-net",
        "127.0.5.0/24",
        "--probe",
        "--smtp-port",
        &port_s,
        "--probe-canary",
        &canary_s,
        "--connect-timeout",
        "5s",
        "--greeting-timeout",
        "10s",
    ];
    // Today's policy needs a probe the stored evidence lacks: the stored
    // DNS evidence is used, the probe is made and recorded.
    let (rows, _) = check(
        db,
        &lab.resolver(),
        "a@p.zz\n",
        &probe,
        "2026-11-02T09:10:00Z",
    );
    assert_eq!(rows[0]["probe"]["status"], "answered", "{}", rows[0]);
    assert_eq!(rows[0]["history"]["reused"], false);
    assert_eq!(lab.queries().len(), asked, "the DNS evidence was reused");
    assert_eq!(host.accepted(), 1);
    // Now the stored evidence has it: reused as a whole.
    let (rows, _) = check(
        db,
        &lab.resolver(),
        "a@p.zz\n",
        &probe,
        "2026-11-02T09:20:00Z",
    );
    assert_eq!(rows[0]["probe"]["status"], "answered");
    assert_eq!(rows[0]["history"]["reused"], true);
    assert_eq!(host.accepted(), 1, "no new connection");
}
