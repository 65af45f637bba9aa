//! History end to end: the real binary, the loopback lab, a history
//! database per test, and the clock moved with PREBOUNCE_NOW.

use std::path::Path;
use std::time::Duration;

use crate::util::*;

const DAY0: &str = "2026-11-02T09:00:00Z";

/// `DAY0` plus `hours`.
fn at(hours: i64) -> String {
    let base = 1_793_610_000i64; // 2026-11-02T09:00:00Z
    let t = base + hours * 3600;
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // 2026-11-02 is day 20759 since the epoch; the tests stay in November.
    let day = 2 + (days - 20_759);
    format!(
        "2026-11-{day:02}T{:02}:{:02}:00Z",
        secs / 3600,
        secs / 60 % 60
    )
}

const SOA: &str =
    "$ORIGIN zz.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\nmx.ok A 93.184.215.14\n";

fn lab_with(dir: &Dir, name: &str, body: &str) -> LabProcess {
    let zone = dir.write(name, format!("{SOA}{body}"));
    LabProcess::start(&[&zone], &[])
}

/// Zone lines for `n` deliverable domains `d0.zz`... and a list with one
/// address at each.
fn deliverable_world(n: usize) -> (String, String) {
    (0..n)
        .map(|i| (format!("d{i} MX 10 mx.ok\n"), format!("a@d{i}.zz\n")))
        .unzip()
}

fn check_at(
    db: &Path,
    lab: &LabProcess,
    when: &str,
    input: &str,
    extra: &[&str],
) -> std::process::Output {
    let resolver = lab.resolver();
    let mut args = vec![
        "check",
        "--resolver",
        &resolver,
        "--db",
        db.to_str().unwrap(),
        "--format",
        "jsonl",
        "--dns-timeout",
        "300ms",
    ];
    args.extend(extra);
    run_env(&args, Some(input.as_bytes()), &[("PREBOUNCE_NOW", when)])
}

fn rows_at(
    db: &Path,
    lab: &LabProcess,
    when: &str,
    input: &str,
    extra: &[&str],
) -> std::collections::BTreeMap<String, serde_json::Value> {
    let out = check_at(db, lab, when, input, extra);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    by_address(&jsonl(&out))
}

#[test]
fn servfail_for_five_days_becomes_dead_domain() {
    assert_eq!(at(0), DAY0);
    let dir = Dir::new();
    let db = dir.path("h.sqlite");
    let failing = lab_with(
        &dir,
        "fail.zone",
        ";! fault dead servfail\n;! fault two servfail\n;! fault flaky servfail\ndead MX 10 mx.ok\ntwo MX 10 mx.ok\nflaky MX 10 mx.ok\n",
    );
    let working = lab_with(&dir, "ok.zone", "flaky MX 10 mx.ok\n");
    let all = "a@dead.zz\na@flaky.zz\n";
    let not_yet = dir.path("not-yet.sqlite");
    // Day 0 and 2: retry.
    for day in [0, 2] {
        for d in [&db, &not_yet] {
            let r = rows_at(d, &failing, &at(day * 24), all, &[]);
            assert_eq!(r["a@dead.zz"]["reason"], "dns_failure", "day {day}");
            assert_eq!(r["a@dead.zz"]["action"], "retry");
        }
    }
    // Day 3: flaky.zz answers (a success resets its streak).
    let r = rows_at(&db, &working, &at(3 * 24), "a@flaky.zz\n", &[]);
    assert_eq!(r["a@flaky.zz"]["reason"], "deliverable");
    // A third check just before day 5: not yet.
    let r = rows_at(&not_yet, &failing, &at(5 * 24 - 1), "a@dead.zz\n", &[]);
    assert_eq!(r["a@dead.zz"]["reason"], "dns_failure");
    // Day 5: the third check (day 0, 2, 5) spans five days: dead.
    let r = rows_at(&db, &failing, &at(5 * 24 + 1), all, &[]);
    let dead = &r["a@dead.zz"];
    assert_eq!(dead["reason"], "dead_domain", "{dead}");
    assert_eq!(dead["action"], "suppress");
    assert_eq!(dead["status"], "5.4.7");
    assert!(
        dead["detail"]
            .as_str()
            .unwrap()
            .starts_with("DNS failing temporarily since 2026-11-02, 3 checks"),
        "{dead}"
    );
    // flaky.zz: failing on day 0, 2, 5 but deliverable on day 3: retry.
    assert_eq!(
        r["a@flaky.zz"]["reason"], "dns_failure",
        "{}",
        r["a@flaky.zz"]
    );
    // two.zz: only two checks (day 0 and day 5): retry.
    let db2 = dir.path("h2.sqlite");
    rows_at(&db2, &failing, &at(0), "a@two.zz\n", &[]);
    let r = rows_at(&db2, &failing, &at(5 * 24 + 1), "a@two.zz\n", &[]);
    assert_eq!(r["a@two.zz"]["reason"], "dns_failure");
    // The suppression is listed, with since when.
    let out = run_ok(
        &[
            "suppressions",
            "--db",
            db.to_str().unwrap(),
            "--format",
            "jsonl",
        ],
        None,
    );
    let list = jsonl(&out);
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["domain"], "dead.zz");
    assert_eq!(list[0]["reason"], "dead_domain");
    assert_eq!(list[0]["since"], at(5 * 24 + 1));
    // The timeline shows every check.
    let obs = timeline(&db, "dead.zz");
    assert_eq!(obs.len(), 3);
    assert_eq!(obs[2]["verdict"], "dead_domain");
    assert_eq!(obs[2]["reading"], "dns_failure");
    let text = String::from_utf8(
        run_ok(&["history", "dead.zz", "--db", db.to_str().unwrap()], None).stdout,
    )
    .unwrap();
    assert!(text.contains("dead.zz: 3 observations"), "{text}");
    // Forget clears it.
    let out = run_ok(&["forget", "dead.zz", "--db", db.to_str().unwrap()], None);
    assert!(String::from_utf8_lossy(&out.stdout).contains("forgot 3 observations"));
    let out = run_ok(&["suppressions", "--db", db.to_str().unwrap()], None);
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().lines().count(),
        1,
        "only the header"
    );
}

#[test]
fn a_flip_to_nxdomain_needs_a_second_reading_an_hour_later() {
    let dir = Dir::new();
    let db = dir.path("h.sqlite");
    let before = lab_with(&dir, "before.zone", "flip MX 10 mx.ok\nnull MX 10 mx.ok\n");
    let after = lab_with(&dir, "after.zone", "null MX 0 .\n");
    let input = "a@flip.zz\na@null.zz\n";
    let r = rows_at(&db, &before, &at(0), input, &[]);
    assert_eq!(r["a@flip.zz"]["action"], "deliver");
    let max_age = ["--max-age", "1s"];
    let r = rows_at(&db, &after, &at(24), input, &max_age);
    let held = &r["a@flip.zz"];
    assert_eq!(held["reason"], "nxdomain", "{held}");
    assert_eq!(held["action"], "retry", "{held}");
    assert_eq!(held["status"], "4.1.2");
    assert_eq!(warnings(held), ["needs_confirmation"]);
    // An explicit null MX is suppressed at once.
    assert_eq!(r["a@null.zz"]["reason"], "null_mx");
    assert_eq!(r["a@null.zz"]["action"], "suppress");
    // Half an hour later: still held.
    let when = "2026-11-03T09:30:00Z";
    let r = rows_at(&db, &after, when, "a@flip.zz\n", &max_age);
    assert_eq!(r["a@flip.zz"]["action"], "retry");
    // An hour after the first reading: confirmed.
    let r = rows_at(&db, &after, &at(25), "a@flip.zz\n", &max_age);
    assert_eq!(r["a@flip.zz"]["action"], "suppress", "{}", r["a@flip.zz"]);
    assert_eq!(r["a@flip.zz"]["status"], "5.1.2");
}

#[test]
fn young_observations_are_reused_instead_of_asking_dns() {
    let dir = Dir::new();
    let db = dir.path("h.sqlite");
    let lab = lab_with(&dir, "z.zone", "ok MX 10 mx.ok\n");
    rows_at(&db, &lab, &at(0), "a@ok.zz\n", &[]);
    let asked = lab.queries().len();
    let r = rows_at(&db, &lab, &at(1), "b@ok.zz\n", &[]);
    assert_eq!(r["b@ok.zz"]["reason"], "deliverable");
    assert_eq!(r["b@ok.zz"]["history"]["reused"], true);
    assert_eq!(r["b@ok.zz"]["history"]["observed"], at(0));
    assert_eq!(
        lab.queries().len(),
        asked,
        "no DNS query for a reused domain"
    );
    // Older than --max-age: asked again.
    let r = rows_at(&db, &lab, &at(30), "c@ok.zz\n", &[]);
    assert_eq!(r["c@ok.zz"]["history"]["reused"], false);
    assert!(lab.queries().len() > asked);
}

#[test]
fn recheck_takes_the_domains_that_are_due() {
    let dir = Dir::new();
    let db = dir.path("h.sqlite");
    let lab = lab_with(
        &dir,
        "z.zone",
        ";! fault down servfail\ndown MX 10 mx.ok\nok MX 10 mx.ok\n",
    );
    rows_at(&db, &lab, &at(0), "a@down.zz\na@ok.zz\n", &[]);
    let recheck = |when: &str| {
        let out = run_env(
            &[
                "recheck",
                "--resolver",
                &lab.resolver(),
                "--db",
                db.to_str().unwrap(),
                "--format",
                "jsonl",
            ],
            None,
            &[("PREBOUNCE_NOW", when)],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        jsonl(&out)
    };
    // Not due yet (the first retry waits an hour).
    assert!(recheck("2026-11-02T09:30:00Z").is_empty());
    let rows = recheck(&at(2));
    assert_eq!(rows.len(), 1, "only the retry domain");
    assert_eq!(rows[0]["domain"], "down.zz");
    assert_eq!(rows[0]["reason"], "dns_failure");
    // Recorded: the next is due four hours later.
    assert!(recheck(&at(3)).is_empty());
    assert_eq!(recheck(&at(7)).len(), 1);
}

#[test]
fn the_sanity_guard_trips_on_a_broken_resolver_and_writes_nothing() {
    let dir = Dir::new();
    let db = dir.path("h.sqlite");
    let (zone, list) = deliverable_world(150);
    let good = lab_with(&dir, "good.zone", &zone);
    let r = rows_at(&db, &good, &at(0), &list, &[]);
    assert!(r.values().all(|v| v["action"] == "deliver"));
    // The next day the resolver says NXDOMAIN to everything.
    let broken = lab_with(&dir, "broken.zone", "");
    let out = check_at(&db, &broken, &at(30), &list, &[]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("resolver looks broken"), "{err}");
    // Nothing of that run was written.
    for d in ["d0.zz", "d149.zz"] {
        assert_eq!(timeline(&db, d).len(), 1, "{d}");
    }
    // --force records it.
    let out = check_at(&db, &broken, &at(31), &list, &["--force"]);
    assert!(out.status.success());
    let h = timeline(&db, "d0.zz");
    assert_eq!(h.len(), 2);
}

#[test]
fn a_killed_run_restarted_completes_with_the_same_verdicts() {
    let dir = Dir::new();
    let db = dir.path("h.sqlite");
    let mut zone = String::new();
    let mut list = String::new();
    for i in 0..3000 {
        match i % 3 {
            0 => zone.push_str(&format!("d{i} MX 10 mx.ok\n")),
            1 => zone.push_str(&format!("d{i} MX 0 .\n")),
            _ => {}
        }
        list.push_str(&format!("a@d{i}.zz\n"));
    }
    let lab = lab_with(&dir, "z.zone", &zone);
    let input_path = dir.write("list.txt", &list);
    let args = |db: &str| -> Vec<String> {
        [
            "check",
            "--resolver",
            &lab.resolver(),
            "--db",
            db,
            "--format",
            "jsonl",
            "--qps",
            "1000",
            input_path.to_str().unwrap(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    // A reference run, without history.
    let reference = jsonl(&run_ok(
        &[
            "check",
            "--resolver",
            &lab.resolver(),
            "--no-history",
            "--format",
            "jsonl",
            input_path.to_str().unwrap(),
        ],
        None,
    ));
    // The first run is killed with SIGKILL after a second.
    let mut child = bin()
        .args(args(db.to_str().unwrap()))
        .env("PREBOUNCE_NOW", at(0))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1800));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run should still be going (--qps 1000)"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    // Restarted: every row, the same verdicts.
    let out = run_env(
        &args(db.to_str().unwrap())
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        None,
        &[("PREBOUNCE_NOW", &at(0))],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = jsonl(&out);
    assert_eq!(rows.len(), 3000);
    let reused = rows
        .iter()
        .filter(|r| r["history"]["reused"] == true)
        .count();
    assert!(reused > 0, "the killed run had recorded some domains");
    for (r, want) in rows.iter().zip(&reference) {
        assert_eq!(r["address"], want["address"]);
        for f in ["reason", "action", "status"] {
            assert_eq!(r[f], want[f], "{}", r["address"]);
        }
    }
}

#[test]
fn two_concurrent_runs_on_one_database_both_finish() {
    let dir = Dir::new();
    let db = dir.path("h.sqlite");
    let (zone, list) = deliverable_world(2000);
    let lab = lab_with(&dir, "z.zone", &zone);
    let input = dir.write("list.txt", &list);
    let spawn = || {
        bin()
            .args([
                "check",
                "--resolver",
                &lab.resolver(),
                "--db",
                db.to_str().unwrap(),
                "--format",
                "csv",
                "-o",
                "/dev/null",
            ])
            .arg(&input)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    for c in [a, b] {
        let out = c.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let h = timeline(&db, "d1999.zz");
    assert!(!h.is_empty());
}

#[test]
fn corrupt_or_foreign_databases_give_a_clear_error() {
    let dir = Dir::new();
    let junk = dir.write("junk.sqlite", vec![0x42u8; 10_000]);
    let foreign = dir.path("foreign.sqlite");
    let made = std::process::Command::new("python3")
        .args(["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('create table invoices(id)'); c.commit()"])
        .arg(&foreign)
        .status()
        .unwrap();
    assert!(made.success());
    for (path, needle) in [
        (&junk, "is not a prebounce history database"),
        (&foreign, "not prebounce's (it has the tables invoices)"),
    ] {
        let out = run(
            &[
                "check",
                "--resolver",
                "127.0.0.1:9",
                "--db",
                path.to_str().unwrap(),
            ],
            Some(b"a@ok.zz\n"),
        );
        assert_eq!(out.status.code(), Some(1));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
    let out = run_env(
        &["check", "--resolver", "127.0.0.1:9"],
        Some(b"a@ok.zz\n"),
        &[("PREBOUNCE_NOW", "soon")],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PREBOUNCE_NOW"));
}
