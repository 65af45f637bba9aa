//! The conventions of command-line tools: a closed pipe is a normal end,
//! shell completions, a man page, exit codes in `--help`, one `--format`
//! vocabulary, `recheck`'s own help and columns, `--version`.

use std::io::{BufRead, BufReader, Read};
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

use prebounce::store::{Observation, SqliteStore, Store};
use prebounce_core::verdict::{Action, Reason};

use crate::util::*;

/// A list of `n` addresses over the demo zone's domains (deliverable,
/// suppressed and failing ones), enough output to fill any pipe.
fn big_list(dir: &Dir, n: usize) -> PathBuf {
    let domains = [
        "northwind-mail.com",
        "parked-domain.net",
        "botched-null.com",
        "servfail-dns.net",
        "cname-mx.com",
        "no-such-domain.example",
    ];
    let list: String = (0..n)
        .map(|i| format!("user{i}@{}\n", domains[i % domains.len()]))
        .collect();
    dir.write("big.txt", list)
}

fn demo_zone() -> String {
    root().join("examples/demo.zone").display().to_string()
}

/// What a run whose output reader went away left.
struct Closed {
    status: ExitStatus,
    stderr: String,
}

impl Closed {
    fn assert_quiet(&self, what: &str) {
        assert!(
            self.status.success(),
            "{what}: {:?}\nstderr: {}",
            self.status,
            self.stderr
        );
        assert!(
            !self.stderr.to_lowercase().contains("broken pipe"),
            "{what}: {}",
            self.stderr
        );
        assert!(!self.stderr.contains("panicked"), "{what}: {}", self.stderr);
    }
}

/// Runs the binary like `prebounce ARGS | head -1`: reads one line of its
/// output, then closes the pipe while it still writes.
fn head_one(cmd: &mut Command) -> Closed {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn prebounce");
    let mut stderr = child.stderr.take().unwrap();
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    {
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).expect("a first line");
        assert!(!line.is_empty(), "no output at all");
    } // the read end closes here
    let status = child.wait().expect("wait");
    Closed {
        status,
        stderr: err.join().unwrap(),
    }
}

/// Runs the binary with its standard output a pipe whose read end is
/// already closed: its first write fails with EPIPE, however small the
/// output (completions, a man page, one domain).
fn closed_from_start(cmd: &mut Command) -> Closed {
    let mut fds = [0; 2];
    // SAFETY: pipe(2) fills two new descriptors, owned here at once.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0, "pipe");
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::from(write))
        .stderr(Stdio::piped())
        .output()
        .expect("run prebounce");
    Closed {
        status: out.status,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn with(args: &[&str]) -> Command {
    let mut cmd = bin();
    cmd.args(args);
    cmd
}

#[test]
fn check_ends_quietly_when_the_reader_goes_away_in_every_format() {
    let dir = Dir::new();
    let list = big_list(&dir, 20_000);
    let zone = demo_zone();
    for format in ["csv", "jsonl", "table", "json"] {
        let args = [
            "check",
            "--zone",
            &zone,
            list.to_str().unwrap(),
            "--no-history",
            "--format",
            format,
        ];
        head_one(&mut with(&args)).assert_quiet(&format!("check --format {format} | head -1"));
        closed_from_start(&mut with(&args))
            .assert_quiet(&format!("check --format {format} > closed pipe"));
    }
    // -o FILE is not the pipe: the summary's stderr is unaffected, and the
    // default format (csv when not a terminal) too.
    let args = [
        "check",
        "--zone",
        &zone,
        list.to_str().unwrap(),
        "--no-history",
    ];
    head_one(&mut with(&args)).assert_quiet("check | head -1");
}

#[test]
fn domain_ends_quietly_when_the_reader_goes_away() {
    let zone = demo_zone();
    let names: Vec<&str> = ["northwind-mail.com", "parked-domain.net", "cname-mx.com"]
        .into_iter()
        .cycle()
        .take(3_000)
        .collect();
    for format in ["table", "json", "jsonl", "text"] {
        let mut args = vec!["domain", "--zone", &zone, "--format", format];
        args.extend(&names);
        head_one(&mut with(&args)).assert_quiet(&format!("domain --format {format} | head -1"));
        let one = [
            "domain",
            "--zone",
            &zone,
            "--format",
            format,
            "cname-mx.com",
        ];
        closed_from_start(&mut with(&one))
            .assert_quiet(&format!("domain --format {format} > closed pipe"));
    }
}

/// A store where `many.zz` has `n` observations.
fn long_history(dir: &Dir, n: i64) -> PathBuf {
    let db = dir.path("long.sqlite");
    let store = SqliteStore::open(&db).expect("open store");
    let observations: Vec<Observation> = (0..n)
        .map(|i| Observation {
            domain: "many.zz".into(),
            at: 1_793_610_000 + i * 3600,
            reading: Reason::DnsFailure,
            verdict: Reason::DnsFailure,
            action: Action::Retry,
            status: "4.4.3".parse().ok(),
            detail: format!("many.zz: MX query failed temporarily (SERVFAIL), check {i}"),
            warnings: Vec::new(),
            mx: String::new(),
            probe: None,
            evidence: None,
            counts: true,
        })
        .collect();
    store.record(&observations).expect("record");
    db
}

#[test]
fn history_ends_quietly_when_the_reader_goes_away() {
    let dir = Dir::new();
    let db = long_history(&dir, 3_000);
    let db = db.to_str().unwrap();
    for format in ["table", "jsonl", "text"] {
        let args = ["history", "many.zz", "--db", db, "--format", format];
        head_one(&mut with(&args)).assert_quiet(&format!("history --format {format} | head -1"));
    }
    for format in ["table", "json", "jsonl"] {
        let args = ["history", "many.zz", "--db", db, "--format", format];
        closed_from_start(&mut with(&args))
            .assert_quiet(&format!("history --format {format} > closed pipe"));
    }
}

/// A zone of `n` null-MX domains `nN.zz` and a list with one address at
/// each, checked into a store: `n` suppressed domains.
fn many_suppressed(dir: &Dir, n: usize) -> PathBuf {
    let mut zone =
        String::from("$ORIGIN zz.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n");
    let mut list = String::new();
    for i in 0..n {
        zone.push_str(&format!("n{i} MX 0 .\n"));
        list.push_str(&format!("a@n{i}.zz\n"));
    }
    let zone = dir.write("null.zone", zone);
    let list = dir.write("null.txt", list);
    let db = dir.path("suppressed.sqlite");
    run_ok(
        &[
            "check",
            "--zone",
            zone.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            list.to_str().unwrap(),
            "--format",
            "jsonl",
            "--quiet",
        ],
        None,
    );
    db
}

#[test]
fn suppressions_end_quietly_when_the_reader_goes_away_and_speak_every_format() {
    let dir = Dir::new();
    let db = many_suppressed(&dir, 3_000);
    let db = db.to_str().unwrap();
    for format in ["csv", "jsonl", "json", "table"] {
        let args = ["suppressions", "--db", db, "--format", format];
        head_one(&mut with(&args))
            .assert_quiet(&format!("suppressions --format {format} | head -1"));
        closed_from_start(&mut with(&args))
            .assert_quiet(&format!("suppressions --format {format} > closed pipe"));
    }
    // The formats agree: 3,000 domains each.
    let csv = run_ok(&["suppressions", "--db", db], None);
    let csv = String::from_utf8(csv.stdout).unwrap();
    assert!(csv.starts_with("domain,reason,status,since,last_seen,detail\n"));
    assert_eq!(csv.lines().count(), 3_001);
    let lines = jsonl(&run_ok(
        &["suppressions", "--db", db, "--format", "jsonl"],
        None,
    ));
    assert_eq!(lines.len(), 3_000);
    let array: serde_json::Value = serde_json::from_slice(
        &run_ok(&["suppressions", "--db", db, "--format", "json"], None).stdout,
    )
    .expect("one JSON document");
    assert_eq!(array.as_array().unwrap().len(), 3_000);
    assert_eq!(array[0], lines[0]);
    assert_eq!(array[0]["reason"], "null_mx");
    let table = run_ok(&["suppressions", "--db", db, "--format", "table"], None);
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(table.starts_with("DOMAIN "), "{table}");
    assert_eq!(table.lines().count(), 3_001);
}

/// Check a zone whose every domain fails (SERVFAIL) into a store at day 0,
/// so that they are due for `recheck` two hours later.
fn failing_store(dir: &Dir, n: usize) -> (PathBuf, PathBuf) {
    let mut zone = String::from(
        "$ORIGIN zz.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\nmx.ok A 93.184.215.14\n",
    );
    let mut list = String::new();
    for i in 0..n {
        zone.push_str(&format!(";! fault f{i}.zz. servfail\nf{i} MX 10 mx.ok\n"));
        list.push_str(&format!("a@f{i}.zz\n"));
    }
    let zone = dir.write("fail.zone", zone);
    let list = dir.write("fail.txt", list);
    let db = dir.path("fail.sqlite");
    let out = run_env(
        &[
            "check",
            "--zone",
            zone.to_str().unwrap(),
            "--db",
            db.to_str().unwrap(),
            list.to_str().unwrap(),
            "--quiet",
        ],
        None,
        &[("PREBOUNCE_NOW", "2026-11-02T09:00:00Z")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (zone, db)
}

/// `recheck` on the `failing_store`, its `run`th time: each a day and an
/// hour after the one before, so that every domain is due again (the
/// backoff is at most 24 h), and never dead (--dead-after 365d).
fn recheck(zone: &Path, db: &Path, run: u32, extra: &[&str]) -> Command {
    let mut cmd = with(&[
        "recheck",
        "--zone",
        zone.to_str().unwrap(),
        "--db",
        db.to_str().unwrap(),
        "--dead-after",
        "365d",
        "--quiet",
    ]);
    let day = 2 + run;
    let hour = 11 + run;
    cmd.args(extra).env(
        "PREBOUNCE_NOW",
        format!("2026-11-{day:02}T{hour:02}:00:00Z"),
    );
    cmd
}

#[test]
fn recheck_rows_are_domains_and_end_quietly_when_the_reader_goes_away() {
    let dir = Dir::new();
    let (zone, db) = failing_store(&dir, 4);
    let out = recheck(&zone, &db, 0, &["--format", "csv"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "domain,action,reason,status,detail,warnings,mx,suggestion"
    );
    let rows: Vec<&str> = lines.collect();
    assert_eq!(rows.len(), 4, "{csv}");
    for r in &rows {
        assert!(
            r.starts_with('f') && r.contains(".zz,retry,dns_failure,4."),
            "{r}"
        );
    }
    let out = recheck(&zone, &db, 1, &["--format", "jsonl"])
        .output()
        .unwrap();
    let rows = jsonl(&out);
    assert_eq!(rows.len(), 4);
    for r in &rows {
        let o = r.as_object().unwrap();
        assert!(!o.contains_key("address") && !o.contains_key("line"), "{r}");
        assert!(r["domain"].as_str().unwrap().ends_with(".zz"), "{r}");
        assert_eq!(r["action"], "retry");
        assert!(o.contains_key("mx") && o.contains_key("suggestion"), "{r}");
    }
    let out = recheck(&zone, &db, 2, &["--format", "json"])
        .output()
        .unwrap();
    let array: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(array.as_array().unwrap().len(), 4);
    let out = recheck(&zone, &db, 3, &["--format", "table"])
        .output()
        .unwrap();
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.starts_with("DOMAIN "), "{table}");
    assert!(table.lines().nth(1).unwrap().starts_with('f'), "{table}");

    // Enough due domains to fill the pipe.
    let dir = Dir::new();
    let (zone, db) = failing_store(&dir, 3_000);
    for (i, format) in ["csv", "jsonl", "table", "json"].into_iter().enumerate() {
        let run = 2 * i as u32;
        head_one(&mut recheck(&zone, &db, run, &["--format", format]))
            .assert_quiet(&format!("recheck --format {format} | head -1"));
        closed_from_start(&mut recheck(&zone, &db, run + 1, &["--format", format]))
            .assert_quiet(&format!("recheck --format {format} > closed pipe"));
    }
}

#[test]
fn forget_help_and_version_end_quietly_on_a_closed_pipe() {
    let dir = Dir::new();
    let db = long_history(&dir, 2);
    closed_from_start(&mut with(&[
        "forget",
        "many.zz",
        "--db",
        db.to_str().unwrap(),
    ]))
    .assert_quiet("forget > closed pipe");
    // Forgotten all the same.
    let out = run_ok(&["history", "many.zz", "--db", db.to_str().unwrap()], None);
    assert!(String::from_utf8_lossy(&out.stdout).contains("no observations"));
    for args in [&["--help"][..], &["check", "--help"], &["--version"]] {
        closed_from_start(&mut with(args)).assert_quiet(&format!("{args:?} > closed pipe"));
    }
}

const SHELLS: [&str; 5] = ["bash", "zsh", "fish", "elvish", "powershell"];

#[test]
fn completions_for_every_shell_name_the_commands_and_flags() {
    for shell in SHELLS {
        let out = run_ok(&["completions", shell], None);
        let script = String::from_utf8(out.stdout).unwrap();
        // fish spells flags `-l dns-canary`.
        for word in [
            "check",
            "recheck",
            "suppressions",
            "dns-canary",
            "implicit-mx",
        ] {
            assert!(script.contains(word), "{shell} completion lacks {word}");
        }
        if shell != "fish" {
            assert!(script.contains("--dns-canary"), "{shell}");
        }
        closed_from_start(&mut with(&["completions", shell]))
            .assert_quiet(&format!("completions {shell} > closed pipe"));
    }
    let dir = Dir::new();
    let bash = dir.write(
        "prebounce.bash",
        run_ok(&["completions", "bash"], None).stdout,
    );
    let out = Command::new("bash")
        .arg("-n")
        .arg(&bash)
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An unknown shell is a usage error.
    let out = run(&["completions", "tcsh"], None);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn man_prints_one_page_for_the_whole_tree_that_renders() {
    let out = run_ok(&["man"], None);
    let page = String::from_utf8(out.stdout).unwrap();
    assert!(page.starts_with(".TH "), "{}", &page[..page.len().min(200)]);
    for section in [
        ".SH NAME",
        ".SH \"PREBOUNCE CHECK\"",
        ".SH \"PREBOUNCE RECHECK\"",
        ".SH \"PREBOUNCE LAB SERVE\"",
        ".SH \"EXIT STATUS\"",
    ] {
        assert!(page.contains(section), "no {section}");
    }
    assert!(page.contains("implicit\\-mx"), "flags are listed");
    assert!(
        page.contains("17 * * * *"),
        "recheck's schedule is in the page"
    );
    closed_from_start(&mut with(&["man"])).assert_quiet("man > closed pipe");

    // Rendered by whichever of man or groff this machine has.
    let dir = Dir::new();
    let file = dir.write("prebounce.1", &page);
    let rendered = if Path::new("/usr/bin/groff").exists() || which("groff") {
        Command::new("groff")
            .args(["-man", "-Tutf8", "-ww"])
            .arg(&file)
            .output()
            .expect("groff")
    } else if which("man") {
        Command::new("man")
            .arg("-l")
            .arg(&file)
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "100")
            .output()
            .expect("man")
    } else {
        eprintln!("neither groff nor man here: the page is not rendered");
        return;
    };
    assert!(rendered.status.success(), "{rendered:?}");
    let text = String::from_utf8_lossy(&rendered.stdout);
    // groff overstrikes bold with backspaces: compare without them.
    let text: String = {
        let mut s = String::new();
        for c in text.chars() {
            if c == '\u{8}' {
                s.pop();
            } else {
                s.push(c);
            }
        }
        s
    };
    for words in [
        "PREBOUNCE CHECK",
        "EXIT STATUS",
        "--dns-canary",
        "wrong column?",
    ] {
        assert!(text.contains(words), "rendered page lacks {words}:\n{text}");
    }
    let warnings = String::from_utf8_lossy(&rendered.stderr);
    assert!(warnings.trim().is_empty(), "roff warnings: {warnings}");
}

fn which(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
}

#[test]
fn help_lists_the_exit_codes() {
    for args in [
        &["--help"][..],
        &["check", "--help"],
        &["recheck", "--help"],
        &["domain", "--help"],
        &["check", "-h"],
    ] {
        let out = run_ok(args, None);
        let help = String::from_utf8(out.stdout).unwrap();
        let codes = help
            .split_once("Exit codes:")
            .unwrap_or_else(|| panic!("{args:?}: no exit codes\n{help}"))
            .1;
        for (code, words) in [
            ("0", "completed"),
            ("1", "fatal I/O"),
            ("2", "usage"),
            ("3", "sanity guard"),
            ("4", "most rows invalid: wrong column?"),
        ] {
            assert!(
                codes.contains(&format!("\n  {code}  ")) && codes.contains(words),
                "{args:?}: exit code {code} ({words}) missing:\n{codes}"
            );
        }
    }
}

#[test]
fn recheck_has_its_own_help() {
    let recheck = String::from_utf8(run_ok(&["recheck", "--help"], None).stdout).unwrap();
    let check = String::from_utf8(run_ok(&["check", "--help"], None).stdout).unwrap();
    assert_ne!(recheck, check);
    for words in [
        "retry",
        "due",
        "one row per domain",
        "cron",
        "17 * * * *",
        "--limit",
    ] {
        assert!(
            recheck.contains(words),
            "recheck --help lacks {words}:\n{recheck}"
        );
    }
    assert!(!recheck.contains("Input files"), "{recheck}");
}

#[test]
fn one_format_vocabulary_and_the_old_names_still_work() {
    // Every command that writes rows offers the same names where they make
    // sense; help lists them.
    for (cmd, names) in [
        ("check", &["table", "csv", "jsonl", "json"][..]),
        ("recheck", &["table", "csv", "jsonl", "json"]),
        ("suppressions", &["table", "csv", "jsonl", "json"]),
        ("domain", &["table", "json", "jsonl"]),
        ("history", &["table", "json", "jsonl"]),
    ] {
        let help = String::from_utf8(run_ok(&[cmd, "--help"], None).stdout).unwrap();
        for name in names {
            assert!(
                help.contains(&format!("- {name}:")),
                "{cmd} --help lacks format {name}"
            );
        }
        // The old name `text` is an alias, not advertised (check has
        // `--input-format text`, another flag).
        if matches!(cmd, "domain" | "history") {
            assert!(!help.contains("- text:"), "{cmd}: {help}");
        }
    }
    // check: json is one array of the jsonl objects.
    let zone = demo_zone();
    let list = root().join("examples/addresses.txt");
    let list = list.to_str().unwrap();
    let lines = jsonl(&run_ok(
        &["check", "--zone", &zone, list, "--format", "jsonl", "-q"],
        None,
    ));
    let array: serde_json::Value = serde_json::from_slice(
        &run_ok(
            &["check", "--zone", &zone, list, "--format", "json", "-q"],
            None,
        )
        .stdout,
    )
    .expect("one JSON document");
    assert_eq!(array.as_array().unwrap(), &lines);
    // An empty list is an empty array.
    let empty: serde_json::Value = serde_json::from_slice(
        &run_ok(
            &["check", "--zone", &zone, "--format", "json", "-q"],
            Some(b""),
        )
        .stdout,
    )
    .unwrap();
    assert_eq!(empty, serde_json::json!([]));

    // domain: `text` is `table`; json and jsonl are one object per domain.
    let domain = |format: &str| {
        run_ok(
            &[
                "domain",
                "--zone",
                &zone,
                "--format",
                format,
                "parked-domain.net",
                "cname-mx.com",
            ],
            None,
        )
        .stdout
    };
    let table = domain("table");
    assert!(String::from_utf8_lossy(&table).contains("verdict   suppress null_mx"));
    assert_eq!(domain("text"), table);
    let json = jsonl(&run_ok(
        &[
            "domain",
            "--zone",
            &zone,
            "--format",
            "jsonl",
            "parked-domain.net",
            "cname-mx.com",
        ],
        None,
    ));
    assert_eq!(json.len(), 2);
    assert_eq!(json[0]["reason"], "null_mx");
    assert_eq!(domain("json"), domain("jsonl"));

    // history: `text` is `table`; json one document, jsonl one per
    // observation.
    let dir = Dir::new();
    let db = long_history(&dir, 3);
    let db = db.to_str().unwrap();
    let history = |format: &str| {
        run_ok(
            &["history", "many.zz", "--db", db, "--format", format],
            None,
        )
        .stdout
    };
    let table = history("table");
    assert!(String::from_utf8_lossy(&table).contains("many.zz: 3 observations"));
    assert_eq!(history("text"), table);
    let doc: serde_json::Value = serde_json::from_slice(&history("json")).unwrap();
    assert_eq!(doc["domain"], "many.zz");
    assert_eq!(doc["observations"].as_array().unwrap().len(), 3);
    let out = run_ok(
        &["history", "many.zz", "--db", db, "--format", "jsonl"],
        None,
    );
    let lines = jsonl(&out);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["domain"], "many.zz");
    assert_eq!(lines[0]["verdict"], doc["observations"][0]["verdict"]);
    assert_eq!(lines[2]["at"], doc["observations"][2]["at"]);

    // A name from another command's vocabulary is a usage error.
    let out = run(&["history", "many.zz", "--db", db, "--format", "csv"], None);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn version_names_the_version_and_the_commit() {
    let out = run_ok(&["--version"], None);
    let version = String::from_utf8(out.stdout).unwrap();
    let expected = format!("prebounce {}", env!("CARGO_PKG_VERSION"));
    assert!(version.starts_with(&expected), "{version}");
    // Built from a git checkout (when git is here): the commit too.
    let head = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(root())
        .output();
    if let Ok(head) = head {
        if head.status.success() {
            let commit = String::from_utf8(head.stdout).unwrap();
            assert!(
                version.trim() == format!("{expected} ({})", commit.trim()),
                "{version} is not built from {commit}"
            );
        }
    }
    // -V too.
    assert_eq!(run_ok(&["-V"], None).stdout, version.as_bytes());
}
