//! The shared history in PostgreSQL, end to end: a private cluster (initdb
//! into a temporary folder, a loopback port), a fresh database per test,
//! the real binary. Also `--shard`.
//!
//! The cluster is started once per test binary run. It is torn down when
//! the test process exits, whatever the outcome: a watchdog process waits
//! for the test process to end (`tail --pid`), then stops the cluster
//! (`pg_ctl -m immediate stop`) and removes its folder. A static's Drop
//! would not run at exit, and a panicking test must not leave a server
//! behind.
//!
//! Where PostgreSQL is not installed these tests say so and pass, except
//! under CI (`CI` set), where that is a failure: `.ci/run` installs it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use crate::util::*;

/// The private cluster.
struct Cluster {
    bin: PathBuf,
    port: u16,
}

fn pg_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path().join("bin"))
        .filter(|b| b.join("initdb").exists() && b.join("pg_ctl").exists())
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs a PostgreSQL tool as the `postgres` user when we are root (the
/// server refuses to run as root).
fn as_postgres(bin: &Path, tool: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    }
}

fn must(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn start_cluster() -> Option<Cluster> {
    let Some(bin) = pg_bin() else {
        assert!(
            std::env::var_os("CI").is_none(),
            "PostgreSQL is not installed (/usr/lib/postgresql/*/bin): .ci/run installs Debian's postgresql"
        );
        eprintln!("PostgreSQL is not installed: the PostgreSQL tests check nothing here (apt-get install postgresql)");
        return None;
    };
    let dir = tempfile::Builder::new()
        .prefix("prebounce-pg-")
        .tempdir()
        .expect("temp dir")
        .keep();
    if is_root() {
        must(
            Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(&dir),
            "chown",
        );
    }
    let data = dir.join("data");
    must(
        as_postgres(&bin, "initdb")
            .arg("-D")
            .arg(&data)
            .args(["-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"])
            .stdout(Stdio::piped()),
        "initdb",
    );
    let port = free_port();
    // The watchdog first: from here on the cluster goes when we go.
    let me = std::process::id();
    let stop = format!(
        "tail --pid={me} -f /dev/null; {} -D '{}' -m immediate stop >/dev/null 2>&1; rm -rf '{}'",
        shell_words(&as_postgres(&bin, "pg_ctl")),
        data.display(),
        dir.display()
    );
    // setsid -f forks it off (its own session, outside our process
    // group) and returns at once.
    must(
        Command::new("setsid")
            .args(["-f", "sh", "-c", &stop])
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
        "start the cluster's watchdog",
    );
    must(
        as_postgres(&bin, "pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-o")
            .arg(format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
                dir.display()
            ))
            .arg("-l")
            .arg(dir.join("log"))
            .args(["-w", "start"])
            .stdout(Stdio::piped()),
        "pg_ctl start",
    );
    Some(Cluster { bin, port })
}

/// A command as one shell line.
fn shell_words(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| format!("'{}'", a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn cluster() -> Option<&'static Cluster> {
    static CLUSTER: OnceLock<Option<Cluster>> = OnceLock::new();
    CLUSTER.get_or_init(start_cluster).as_ref()
}

impl Cluster {
    /// A fresh, empty database; its URL.
    fn database(&self) -> String {
        static N: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        self.psql("postgres", &format!("CREATE DATABASE {name}"));
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Runs `sql` in `db`; the output rows, `|`-separated.
    fn psql(&self, db: &str, sql: &str) -> String {
        let out = must(
            Command::new(self.bin.join("psql"))
                .args([
                    "-X",
                    "-At",
                    "-v",
                    "ON_ERROR_STOP=1",
                    "-h",
                    "127.0.0.1",
                    "-U",
                    "postgres",
                ])
                .arg("-p")
                .arg(self.port.to_string())
                .args(["-d", db, "-c", sql]),
            "psql",
        );
        String::from_utf8(out.stdout).unwrap()
    }
}

fn db_name(url: &str) -> &str {
    url.rsplit('/').next().unwrap()
}

const SOA: &str =
    "$ORIGIN zz.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\nmx.ok A 93.184.215.14\n";

const DAY0: i64 = 1_793_610_000; // 2026-11-02T09:00:00Z

/// `DAY0` plus `hours`, in RFC 3339 (the tests stay in November 2026).
fn at(hours: i64) -> String {
    at_secs(hours * 3600)
}

/// `DAY0` plus `secs`.
fn at_secs(secs: i64) -> String {
    let t = DAY0 + secs;
    let day = 2 + (t.div_euclid(86_400) - 20_759);
    let secs = t.rem_euclid(86_400);
    format!(
        "2026-11-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn check(db: &str, lab: &LabProcess, when: &str, input: &str, extra: &[&str]) -> Output {
    let resolver = lab.resolver();
    let mut args = vec![
        "check",
        "--resolver",
        &resolver,
        "--db",
        db,
        "--format",
        "jsonl",
        "--dns-timeout",
        "300ms",
    ];
    args.extend(extra);
    run_env(&args, Some(input.as_bytes()), &[("PREBOUNCE_NOW", when)])
}

fn ok(out: Output) -> Output {
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The multi-day `dead_domain` scenario, then `history`, `suppressions`
/// and `forget`, against the store at `db` (a path or a URL).
fn dead_domain_scenario(db: &str, dir: &Dir) {
    let failing = LabProcess::start(
        &[&dir.write(
            "fail.zone",
            format!("{SOA};! fault dead servfail\n;! fault flaky servfail\ndead MX 10 mx.ok\nflaky MX 10 mx.ok\nnull MX 0 .\n"),
        )],
        &[],
    );
    let working = LabProcess::start(
        &[&dir.write("ok.zone", format!("{SOA}flaky MX 10 mx.ok\n"))],
        &[],
    );
    let all = "a@dead.zz\na@flaky.zz\n";
    for day in [0, 2] {
        let r = by_address(&jsonl(&ok(check(db, &failing, &at(day * 24), all, &[]))));
        assert_eq!(r["a@dead.zz"]["reason"], "dns_failure", "day {day}");
        assert_eq!(r["a@dead.zz"]["action"], "retry");
    }
    let r = by_address(&jsonl(&ok(check(
        db,
        &working,
        &at(72),
        "a@flaky.zz\n",
        &[],
    ))));
    assert_eq!(r["a@flaky.zz"]["reason"], "deliverable");
    let r = by_address(&jsonl(&ok(check(
        db,
        &failing,
        &at(5 * 24 + 1),
        "a@dead.zz\na@flaky.zz\nb@null.zz\n",
        &[],
    ))));
    assert_eq!(
        r["a@dead.zz"]["reason"], "dead_domain",
        "{}",
        r["a@dead.zz"]
    );
    assert_eq!(r["a@dead.zz"]["status"], "5.4.7");
    assert_eq!(r["a@flaky.zz"]["reason"], "dns_failure");
    assert_eq!(r["b@null.zz"]["reason"], "null_mx");
    // Suppressions: both, with since when.
    let list = jsonl(&ok(run(
        &["suppressions", "--db", db, "--format", "jsonl"],
        None,
    )));
    let got: BTreeMap<String, (String, String)> = list
        .iter()
        .map(|s| {
            (
                s["domain"].as_str().unwrap().to_string(),
                (
                    s["reason"].as_str().unwrap().to_string(),
                    s["since"].as_str().unwrap().to_string(),
                ),
            )
        })
        .collect();
    assert_eq!(
        got,
        BTreeMap::from([
            ("dead.zz".into(), ("dead_domain".into(), at(121))),
            ("null.zz".into(), ("null_mx".into(), at(121))),
        ])
    );
    // The timeline: every check, oldest first, with the evidence decoded.
    let h: serde_json::Value = serde_json::from_slice(
        &ok(run(
            &["history", "dead.zz", "--db", db, "--format", "json"],
            None,
        ))
        .stdout,
    )
    .unwrap();
    let obs = h["observations"].as_array().unwrap();
    assert_eq!(obs.len(), 3, "{h}");
    assert_eq!(obs[0]["reading"], "dns_failure");
    assert_eq!(obs[2]["verdict"], "dead_domain");
    let flaky: serde_json::Value = serde_json::from_slice(
        &ok(run(
            &["history", "flaky.zz", "--db", db, "--format", "json"],
            None,
        ))
        .stdout,
    )
    .unwrap();
    assert_eq!(flaky["observations"].as_array().unwrap().len(), 4);
    // recheck: the retry domains due (flaky.zz, failing since day 5) are
    // checked again, from the store's schedule.
    let out = ok(run_env(
        &[
            "recheck",
            "--resolver",
            &failing.resolver(),
            "--db",
            db,
            "--format",
            "jsonl",
            "--dns-timeout",
            "300ms",
        ],
        None,
        &[("PREBOUNCE_NOW", &at(6 * 24))],
    ));
    let rows = jsonl(&out);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["domain"], "flaky.zz");
    assert_eq!(rows[0]["reason"], "dns_failure");
    // domain: the verdict with its history (one more observation).
    let out = ok(run_env(
        &[
            "domain",
            "dead.zz",
            "--resolver",
            &failing.resolver(),
            "--db",
            db,
            "--dns-timeout",
            "300ms",
        ],
        None,
        &[("PREBOUNCE_NOW", &at(5 * 24 + 2))],
    ));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("dead_domain"), "{text}");
    // A reused observation: a null MX read again within --max-age comes
    // from the store's evidence, without asking DNS.
    let silent = SilentServer::start();
    let out = ok(run_env(
        &[
            "check",
            "--resolver",
            &silent.addr.to_string(),
            "--db",
            db,
            "--format",
            "jsonl",
            "--dns-timeout",
            "200ms",
            "--dns-attempts",
            "1",
        ],
        Some(b"c@null.zz\n"),
        &[("PREBOUNCE_NOW", &at(5 * 24 + 2))],
    ));
    assert_eq!(jsonl(&out)[0]["reason"], "null_mx", "reused from {db}");
    // Forget.
    let out = ok(run(&["forget", "dead.zz", "--db", db], None));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("forgot 4 observations"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let list = jsonl(&ok(run(
        &["suppressions", "--db", db, "--format", "jsonl"],
        None,
    )));
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["domain"], "null.zz");
    let h: serde_json::Value = serde_json::from_slice(
        &ok(run(
            &["history", "dead.zz", "--db", db, "--format", "json"],
            None,
        ))
        .stdout,
    )
    .unwrap();
    assert!(
        h["observations"].as_array().is_none_or(|o| o.is_empty()),
        "{h}"
    );
    // The operators' commands.
    let backend = if db.contains("://") {
        "backend: postgresql (schema 2)"
    } else {
        "backend: sqlite (schema 4)"
    };
    let out = ok(run(&["db", "migrate", "--db", db], None));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("up to date"),
        "{out:?}"
    );
    let text = String::from_utf8(ok(run(&["db", "stats", "--db", db], None)).stdout).unwrap();
    for line in [backend, "domains: 2\n", "suppressed: 1\n", "retry: 1"] {
        assert!(text.contains(line), "{line}: {text}");
    }
}

#[test]
fn pg_the_same_store_scenario_on_sqlite_and_postgresql() {
    let dir = Dir::new();
    let sqlite = dir.path("h.sqlite");
    dead_domain_scenario(sqlite.to_str().unwrap(), &dir);
    let Some(c) = cluster() else { return };
    let url = c.database();
    dead_domain_scenario(&url, &dir);
    // The libpq-style scheme and PREBOUNCE_DB name the same database.
    let alt = url.replacen("postgres://", "postgresql://", 1);
    let list = jsonl(&ok(run_env(
        &["suppressions", "--format", "jsonl"],
        None,
        &[("PREBOUNCE_DB", &alt)],
    )));
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["domain"], "null.zz");
    // Domains only: no address (nor local part) anywhere in the store.
    let dump = c.psql(
        db_name(&url),
        "SELECT string_agg(o::text, ' ') FROM observations o",
    );
    assert!(dump.contains("null.zz"), "{dump}");
    assert!(!dump.contains('@'), "{dump}");
}

#[test]
fn pg_four_concurrent_checks_keep_every_observation_and_escalate_once() {
    let Some(c) = cluster() else { return };
    let url = c.database();
    let dir = Dir::new();
    // 60 domains that fail (SERVFAIL) and 100 that work: fewer than half
    // temporary, so no window is taken for an outage of ours.
    let mut zone = String::from(SOA);
    for i in 0..60 {
        zone.push_str(&format!(";! fault f{i} servfail\nf{i} MX 10 mx.ok\n"));
    }
    for i in 0..100 {
        zone.push_str(&format!("k{i} MX 10 mx.ok\n"));
    }
    let lab = LabProcess::start(&[&dir.write("z.zone", zone)], &[]);
    let all: String = (0..60)
        .map(|i| format!("a@f{i}.zz\n"))
        .chain((0..100).map(|i| format!("a@k{i}.zz\n")))
        .collect();
    // Days 0 and 2, one process each: two failing checks of every domain.
    for day in [0, 2] {
        ok(check(&url, &lab, &at(day * 24), &all, &["--max-age", "1s"]));
    }
    // Day 5, four processes at once on overlapping lists: process p takes
    // the domains whose number is not p modulo 4... and every k domain.
    let lists: Vec<String> = (0..4)
        .map(|p| {
            (0..60)
                .filter(|i| i % 4 != p)
                .map(|i| format!("a@f{i}.zz\nb@f{i}.zz\n"))
                .chain(
                    (0..100)
                        .filter(|i| i % 4 != p)
                        .map(|i| format!("a@k{i}.zz\n")),
                )
                .collect()
        })
        .collect();
    // Ten seconds apart: an observation another process made a moment ago
    // would otherwise be reused (younger than --max-age), not made again.
    let when = |p: usize| at_secs((5 * 24 + 1) * 3600 + 10 * p as i64);
    let children: Vec<std::process::Child> = lists
        .iter()
        .enumerate()
        .map(|(p, list)| {
            let mut cmd = bin();
            cmd.args([
                "check",
                "--resolver",
                &lab.resolver(),
                "--db",
                &url,
                "--format",
                "jsonl",
                "--dns-timeout",
                "300ms",
                "--max-age",
                "1s",
            ])
            .env("PREBOUNCE_NOW", when(p))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
            let mut child = cmd.spawn().unwrap();
            let mut stdin = child.stdin.take().unwrap();
            let list = list.clone();
            std::thread::spawn(move || {
                use std::io::Write;
                let _ = stdin.write_all(list.as_bytes());
            });
            child
        })
        .collect();
    let mut stderr = String::new();
    for (p, child) in children.into_iter().enumerate() {
        let out = ok(child.wait_with_output().unwrap());
        stderr.push_str(&String::from_utf8_lossy(&out.stderr));
        let rows = jsonl(&out);
        assert_eq!(rows.len(), lists[p].lines().count(), "process {p}");
        for r in &rows {
            let a = r["address"].as_str().unwrap();
            let expect = if a.contains("@f") {
                "dead_domain"
            } else {
                "deliverable"
            };
            assert_eq!(r["reason"], expect, "process {p}: {r}");
        }
    }
    let db = db_name(&url);
    // Every observation kept: 2 + one per process that had the domain.
    let counts = c.psql(
        db,
        "SELECT count(*) FILTER (WHERE domain LIKE 'f%'), count(*) FILTER (WHERE domain LIKE 'k%') FROM observations",
    );
    assert_eq!(
        counts.trim(),
        format!("{}|{}", 60 * 5, 100 * 5),
        "the four runs said: {stderr}"
    );
    // Each streak holds every reading (no lost update): 2 + 3.
    let streaks = c.psql(
        db,
        "SELECT count(*) FROM domains WHERE domain LIKE 'f%' AND array_length(string_to_array(streak, ' '), 1) = 5",
    );
    assert_eq!(streaks.trim(), "60");
    // One escalation per dead domain, seen by all.
    let esc = c.psql(
        db,
        "SELECT count(DISTINCT domain), count(*) FROM observations WHERE escalation",
    );
    assert_eq!(esc.trim(), "60|60");
    // Every observation on its domain's chain, though four processes
    // wrote the same domains at once.
    let chained = c.psql(
        db,
        "WITH RECURSIVE chain(id) AS (
           SELECT latest_id FROM domains WHERE latest_id IS NOT NULL
           UNION
           SELECT o.prev_id FROM observations o JOIN chain c ON o.id = c.id WHERE o.prev_id IS NOT NULL)
         SELECT (SELECT count(*) FROM chain), (SELECT count(*) FROM observations)",
    );
    assert_eq!(chained.trim(), format!("{0}|{0}", 60 * 5 + 100 * 5));
    let list = jsonl(&ok(run(
        &["suppressions", "--db", &url, "--format", "jsonl"],
        None,
    )));
    assert_eq!(list.len(), 60);
    let times: Vec<String> = (0..4).map(when).collect();
    assert!(list
        .iter()
        .all(|s| times.iter().any(|t| s["since"] == t.as_str())));
}

#[test]
fn pg_migrations_run_once_when_processes_start_together() {
    let Some(c) = cluster() else { return };
    let url = c.database();
    let children: Vec<_> = (0..6)
        .map(|_| {
            bin()
                .args(["suppressions", "--db", &url, "--format", "jsonl"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        ok(child.wait_with_output().unwrap());
    }
    let v = c.psql(
        db_name(&url),
        "SELECT value FROM prebounce_meta WHERE key = 'schema_version'",
    );
    assert_eq!(v.trim(), "2");
}

#[test]
fn pg_the_password_is_never_shown() {
    let Some(c) = cluster() else { return };
    // Trust authentication: the password is sent to nobody, but it is in
    // the URL, and must not come out.
    let url = c.database().replacen("postgres@", "postgres:s3cr3t-pw@", 1);
    let dir = Dir::new();
    let lab = LabProcess::start(
        &[&dir.write("z.zone", format!("{SOA}ok MX 10 mx.ok\n"))],
        &[],
    );
    let out = ok(run(
        &[
            "check",
            "--resolver",
            &lab.resolver(),
            "--db",
            &url,
            "--format",
            "jsonl",
        ],
        Some(b"a@ok.zz\n"),
    ));
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(all.contains("postgres:***@127.0.0.1"), "{all}");
    assert!(!all.contains("s3cr3t"), "{all}");
    // Nobody listens there: the error names the store, not the password.
    let dead = format!("postgres://app:s3cr3t-pw@127.0.0.1:{}/x", free_port());
    let out = run(&["suppressions", "--db", &dead], None);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("postgres://app:***@127.0.0.1"), "{err}");
    assert!(!err.contains("s3cr3t"), "{err}");
}

#[test]
fn pg_urls_this_build_cannot_serve_are_usage_errors() {
    for (db, says) in [
        (
            "postgres://u:s3cr3t@127.0.0.1:1/x?sslmode=require",
            "sslmode=require asks for TLS",
        ),
        (
            "postgresql://u@127.0.0.1:1/x?sslmode=verify-full",
            "does not build in",
        ),
        ("mysql://u@127.0.0.1/x", "'mysql://' URLs are not supported"),
    ] {
        let out = run(&["suppressions", "--db", db], None);
        assert_eq!(out.status.code(), Some(2), "{db}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(says), "{db}: {err}");
        assert!(!err.contains("s3cr3t"), "{err}");
    }
}

/// Runs `check --shard I/N` (or unsharded) and returns (line, address,
/// reason) per row.
fn sharded(
    lab: &LabProcess,
    input: &Path,
    db: &str,
    shard: Option<&str>,
) -> Vec<(u64, String, String)> {
    let mut args = vec![
        "check".to_string(),
        "--resolver".into(),
        lab.resolver(),
        "--db".into(),
        db.into(),
        "--format".into(),
        "jsonl".into(),
        "--dns-timeout".into(),
        "300ms".into(),
        input.to_str().unwrap().into(),
    ];
    if let Some(s) = shard {
        args.extend(["--shard".into(), s.into()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = ok(run(&args, None));
    jsonl(&out)
        .iter()
        .map(|r| {
            (
                r["line"].as_u64().unwrap_or(0),
                r["address"].as_str().unwrap().to_string(),
                r["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn pg_shards_cover_a_list_exactly_once() {
    let dir = Dir::new();
    let mut zone = String::from(SOA);
    let mut list = String::new();
    for i in 0..90 {
        zone.push_str(&format!("d{i} MX 10 mx.ok\n"));
        list.push_str(&format!("a@d{i}.zz\nb@D{i}.zz.\n"));
    }
    list.push_str("not an address\nx@\n@@bad..zz\nc@nowhere.zz\n");
    let lab = LabProcess::start(&[&dir.write("z.zone", zone)], &[]);
    let input = dir.write("list.txt", &list);
    let (db, check_store): (String, Option<&Cluster>) = match cluster() {
        Some(c) => (c.database(), Some(c)),
        None => (dir.path("h.sqlite").to_str().unwrap().to_string(), None),
    };
    let whole = sharded(
        &lab,
        &input,
        dir.path("whole.sqlite").to_str().unwrap(),
        None,
    );
    assert_eq!(whole.len(), list.lines().count());
    let mut union = Vec::new();
    // Where each d<i> went: both spellings of a domain go to one shard.
    let mut placed: BTreeMap<String, BTreeSet<usize>> = BTreeMap::new();
    for (n, s) in ["1/3", "2/3", "3/3"].into_iter().enumerate() {
        let part = sharded(&lab, &input, &db, Some(s));
        assert!(part.len() > 20, "{s}: {} rows", part.len());
        for (_, a, _) in &part {
            if let Some((_, d)) = a.rsplit_once('@') {
                let d = d.to_ascii_lowercase();
                placed
                    .entry(d.trim_end_matches('.').to_string())
                    .or_default()
                    .insert(n);
            }
        }
        union.extend(part);
    }
    assert!(placed.values().all(|s| s.len() == 1), "{placed:?}");
    union.sort();
    let mut expect = whole.clone();
    expect.sort();
    assert_eq!(union, expect, "every row exactly once, judged alike");
    // Each shard wrote only its own domains: together, each once.
    if let Some(c) = check_store {
        let n = c.psql(
            db_name(&db),
            "SELECT count(*), count(DISTINCT domain) FROM domains",
        );
        assert_eq!(n.trim(), "91|91");
    }
    // Bad specifications: usage errors.
    for bad in ["0/3", "4/3", "1/0", "two/3", "3"] {
        let out = run(&["check", "--shard", bad, input.to_str().unwrap()], None);
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("is not I/N"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The store's own rules under contention, through the library: eight
/// stores (eight pools, as eight processes would have) record readings of
/// the same domains at once. No reading is lost from any streak, and each
/// domain escalates once.
#[test]
fn pg_concurrent_writers_lose_nothing_and_escalate_once() {
    use prebounce::store::{Observation, PgStore, Store};
    use prebounce_core::verdict::{Action, Reason};
    let Some(c) = cluster() else { return };
    let url = c.database();
    const WRITERS: i64 = 8;
    const ROUNDS: i64 = 6;
    const DOMAINS: usize = 40;
    let barrier = std::sync::Barrier::new(WRITERS as usize);
    std::thread::scope(|s| {
        for t in 0..WRITERS {
            let (url, barrier) = (&url, &barrier);
            s.spawn(move || {
                let store = PgStore::open(url).unwrap();
                barrier.wait();
                for r in 0..ROUNDS {
                    // From round 3 on, every writer decides dead_domain.
                    let dead = r >= 3;
                    let batch: Vec<Observation> = (0..DOMAINS)
                        .map(|d| Observation {
                            domain: format!("d{d}.zz"),
                            at: 1_000_000 + r * 100 + t,
                            reading: Reason::DnsFailure,
                            verdict: if dead {
                                Reason::DeadDomain
                            } else {
                                Reason::DnsFailure
                            },
                            action: if dead {
                                Action::Suppress
                            } else {
                                Action::Retry
                            },
                            status: None,
                            detail: String::new(),
                            warnings: vec![],
                            mx: String::new(),
                            probe: None,
                            evidence: Some("{}".into()),
                            counts: true,
                        })
                        .collect();
                    store.record(&batch).unwrap();
                }
            });
        }
    });
    let store = PgStore::open(&url).unwrap();
    let names: Vec<String> = (0..DOMAINS).map(|d| format!("d{d}.zz")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let states = store.states(&refs).unwrap();
    for n in &names {
        assert_eq!(
            states[n].history.since_success.len(),
            (WRITERS * ROUNDS) as usize,
            "{n}: a reading was lost from the streak"
        );
        assert_eq!(
            store.timeline(n).unwrap().len(),
            (WRITERS * ROUNDS) as usize
        );
    }
    let esc = c.psql(
        db_name(&url),
        "SELECT count(DISTINCT domain), count(*) FROM observations WHERE escalation",
    );
    assert_eq!(esc.trim(), format!("{DOMAINS}|{DOMAINS}"));
    assert_eq!(store.suppressions(None).unwrap().len(), DOMAINS);
}

/// Schema 2 chains observations: a schema-1 database's observations,
/// interleaved across domains, are all in each timeline after the
/// migration, new ones join the chain, and `forget` finds every one.
#[test]
fn pg_schema_1_databases_migrate_in_place() {
    use prebounce::store::{Observation, PgStore, Store};
    use prebounce_core::verdict::{Action, Reason};
    let Some(c) = cluster() else { return };
    let url = c.database();
    let db = db_name(&url);
    // Schema 1 as it was created (crates/store/src/pg.rs, step 1).
    c.psql(
        db,
        "CREATE TABLE prebounce_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         INSERT INTO prebounce_meta VALUES ('schema_version', '1');
         CREATE TABLE observations (id BIGSERIAL PRIMARY KEY, domain TEXT NOT NULL, at BIGINT NOT NULL,
           reading TEXT NOT NULL, verdict TEXT NOT NULL, action TEXT NOT NULL, status TEXT,
           detail TEXT NOT NULL, warnings TEXT NOT NULL, mx TEXT NOT NULL, probe TEXT, evidence TEXT,
           counts BOOLEAN NOT NULL, escalation BOOLEAN NOT NULL DEFAULT false);
         CREATE INDEX observations_domain_at ON observations (domain, at, id);
         CREATE TABLE domains (domain TEXT PRIMARY KEY, first_seen BIGINT, last_at BIGINT,
           action TEXT NOT NULL DEFAULT '', verdict TEXT NOT NULL DEFAULT '', status TEXT,
           detail TEXT NOT NULL DEFAULT '', last_success BIGINT, state_since BIGINT,
           retries BIGINT NOT NULL DEFAULT 0, next_check BIGINT, latest_id BIGINT,
           streak TEXT NOT NULL DEFAULT '');
         CREATE INDEX domains_due ON domains (next_check) WHERE action = 'retry';
         CREATE INDEX domains_suppressed ON domains (state_since) WHERE action = 'suppress';
         INSERT INTO observations (domain, at, reading, verdict, action, status, detail, warnings, mx, evidence, counts)
           SELECT d, 100 * n, 'dns_failure', 'dns_failure', 'retry', '4.4.3', 'sf', '', '', NULL, true
           FROM unnest(ARRAY['a.zz', 'b.zz', 'a.zz', 'c.zz', 'a.zz', 'b.zz']) WITH ORDINALITY AS t(d, n)
           ORDER BY n;
         INSERT INTO domains (domain, first_seen, last_at, action, verdict, status, detail, state_since, retries, latest_id)
           SELECT domain, min(at), max(at), 'retry', 'dns_failure', '4.4.3', 'sf', min(at), 1, max(id)
           FROM observations GROUP BY domain;",
    );
    let store = PgStore::open(&url).unwrap();
    let ats = |d: &str| {
        store
            .timeline(d)
            .unwrap()
            .iter()
            .map(|o| o.at)
            .collect::<Vec<_>>()
    };
    assert_eq!(ats("a.zz"), [100, 300, 500]);
    assert_eq!(ats("b.zz"), [200, 600]);
    assert_eq!(ats("c.zz"), [400]);
    let obs = |domain: &str, at: i64| Observation {
        domain: domain.to_string(),
        at,
        reading: Reason::DnsFailure,
        verdict: Reason::DnsFailure,
        action: Action::Retry,
        status: None,
        detail: "sf".to_string(),
        warnings: Vec::new(),
        mx: String::new(),
        probe: None,
        evidence: None,
        counts: true,
    };
    store
        .record(&[obs("b.zz", 700), obs("a.zz", 800), obs("a.zz", 900)])
        .unwrap();
    assert_eq!(ats("a.zz"), [100, 300, 500, 800, 900]);
    assert_eq!(ats("b.zz"), [200, 600, 700]);
    assert_eq!(store.forget("a.zz").unwrap(), 5);
    assert_eq!(ats("b.zz"), [200, 600, 700]);
    let stats = store.stats().unwrap();
    assert_eq!((stats.schema, stats.observations), (2, 4));
    assert_eq!(
        c.psql(
            db,
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'observations_domain_at'"
        )
        .trim(),
        "0"
    );
}
