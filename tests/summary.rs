//! The end-of-run summary: as text on standard error (80 columns), as JSON
//! with --summary-json, and when the run is interrupted (SIGINT).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::util::*;

/// The demo list repeated into more than a thousand rows (numbers with
/// thousands separators), with --summary-json: the JSON counts the rows as
/// the output has them, and the text says the same in 80 columns.
#[test]
fn summary_json_counts_the_rows_written() {
    let dir = Dir::new();
    let demo = std::fs::read_to_string(root().join("examples/addresses.txt")).unwrap();
    let list = dir.write("list.txt", demo.repeat(50));
    let json_path = dir.path("summary.json");
    let zone = root().join("examples/demo.zone");
    let out = run_ok(
        &[
            "check",
            "--zone",
            zone.to_str().unwrap(),
            list.to_str().unwrap(),
            "--format",
            "jsonl",
            "--summary-json",
            json_path.to_str().unwrap(),
        ],
        None,
    );
    let rows = jsonl(&out);
    assert!(rows.len() > 1000, "{}", rows.len());
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(summary["rows"], rows.len());
    assert_eq!(summary["interrupted"], false);
    // Per action and reason, as the rows say.
    let mut want: BTreeMap<(String, String), u64> = BTreeMap::new();
    for r in &rows {
        *want
            .entry((
                r["action"].as_str().unwrap().to_string(),
                r["reason"].as_str().unwrap().to_string(),
            ))
            .or_default() += 1;
    }
    let mut got = BTreeMap::new();
    let mut percent_sum = 0.0;
    for action in ["deliver", "retry", "suppress"] {
        let a = &summary["actions"][action];
        percent_sum += a["percent"].as_f64().unwrap();
        let mut sum = 0;
        for (reason, share) in a["reasons"].as_object().unwrap() {
            let n = share["count"].as_u64().unwrap();
            sum += n;
            let p = share["percent"].as_f64().unwrap();
            assert!((p - n as f64 * 100.0 / rows.len() as f64).abs() < 1e-9);
            got.insert((action.to_string(), reason.clone()), n);
        }
        assert_eq!(a["count"], sum, "{action}");
    }
    assert_eq!(got, want);
    assert!((percent_sum - 100.0).abs() < 1e-9, "{percent_sum}");
    assert_eq!(summary["store"], Value::Null, "--zone runs keep no history");
    assert_eq!(summary["history"], Value::Null);
    assert!(
        summary["resolver"]
            .as_str()
            .unwrap()
            .starts_with("in-process zone lab 127.0.0.1:"),
        "{summary}"
    );
    assert_eq!(summary["health"]["enabled"], false);
    assert!(summary["dns"]["queries"].as_u64().unwrap() > 0);
    assert_eq!(summary["probe"], Value::Null);

    // The text: the same counts with separators, 80 columns.
    let text = String::from_utf8(out.stderr).unwrap();
    // Standard error is not a terminal here: no progress display.
    assert!(!text.contains('\r') && !text.contains("ETA") && !text.contains('\x1b'));
    let rows_text = format!("{},{:03} rows,", rows.len() / 1000, rows.len() % 1000);
    // (The input's own line, naming the file, comes first.)
    let summary_text = text
        .find(&format!("prebounce: {rows_text}"))
        .map(|at| &text[at..])
        .unwrap_or_else(|| panic!("{text}"));
    for line in summary_text.lines() {
        assert!(line.chars().count() <= 80, "{line}\n{text}");
    }
    let deliverable = want[&("deliver".to_string(), "deliverable".to_string())];
    assert!(
        text.contains(&format!("deliverable {deliverable} (")),
        "{text}"
    );
    assert!(text.contains("resolver: in-process zone lab"), "{text}");

    // --quiet: nothing on standard error, the JSON still written.
    std::fs::remove_file(&json_path).unwrap();
    let out = run_ok(
        &[
            "check",
            "-q",
            "--zone",
            zone.to_str().unwrap(),
            list.to_str().unwrap(),
            "-o",
            dir.path("out.csv").to_str().unwrap(),
            "--summary-json",
            json_path.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let quiet: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(quiet["rows"], rows.len());
}

/// An unwritable --summary-json path is an I/O error (exit 1), named,
/// before any row.
#[test]
fn summary_json_unwritable() {
    let zone = root().join("examples/demo.zone");
    let out = run(
        &[
            "check",
            "--zone",
            zone.to_str().unwrap(),
            "--summary-json",
            "/nonexistent/dir/summary.json",
        ],
        Some(b"a@northwind-mail.com\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "stopped before the run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/dir/summary.json"), "{err}");
}

/// SIGINT while a domain's answer is outstanding (its resolver never
/// answers it): the rows before it are written whole and in order, none
/// after; the history observed so far is recorded; the summary (text and
/// JSON) says the run was interrupted; the exit code is 130, long before
/// the slow domain's timeout.
#[test]
fn sigint_writes_what_is_done_and_exits_130() {
    let dir = Dir::new();
    let zone = dir.write(
        "slow.zone",
        ";! fault slow.zz. timeout\n\
         $ORIGIN .\n$TTL 3600\n\
         .         SOA ns.lab. hostmaster.lab. 1 3600 600 86400 300\n\
         .         NS  ns.lab.\n\
         ns.lab.   A   127.0.0.1\n\
         ok.zz.    MX  10 mx.ok.zz.\n\
         mx.ok.zz. A   93.184.215.14\n\
         slow.zz.  MX  10 mx.ok.zz.\n",
    );
    let lab = LabProcess::start(&[&zone], &[]);
    let mut list = String::new();
    for i in 0..3000 {
        list.push_str(&format!("a{i}@ok.zz\n"));
    }
    list.push_str("x@slow.zz\n");
    for i in 0..3000 {
        list.push_str(&format!("b{i}@ok.zz\n"));
    }
    let list = dir.write("list.txt", list);
    let db = dir.path("history.sqlite");
    let json_path = dir.path("summary.json");
    let started = std::time::Instant::now();
    let child = bin()
        .args([
            "check",
            "--resolver",
            &lab.resolver(),
            "--dns-timeout",
            "10s",
            "--dns-attempts",
            "3",
            "--db",
            db.to_str().unwrap(),
            "--summary-json",
            json_path.to_str().unwrap(),
            list.to_str().unwrap(),
        ])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the slow domain is asked, everything before it is decided.
    let deadline = started + std::time::Duration::from_secs(20);
    while !lab.queries().iter().any(|(_, _, name)| name == "slow.zz.") {
        assert!(std::time::Instant::now() < deadline, "slow.zz never asked");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGINT) }, 0);
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "it did not wait for the slow domain"
    );
    assert!(err.contains("INTERRUPTED (SIGINT)"), "{err}");
    assert!(err.contains("3,000 rows"), "{err}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.ends_with('\n'), "ends with a whole line");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines.len(),
        3001,
        "the header and the 3000 rows before slow.zz"
    );
    for (i, line) in lines[1..].iter().enumerate() {
        assert!(
            line.starts_with(&format!("a{i}@ok.zz,ok.zz,deliver,deliverable,")),
            "{line}"
        );
    }
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert_eq!(summary["interrupted"], true);
    assert_eq!(summary["rows"], 3000);
    // The history observed so far is recorded.
    let history = run_ok(&["history", "ok.zz", "--db", db.to_str().unwrap()], None);
    let history = String::from_utf8_lossy(&history.stdout);
    assert!(history.contains("deliverable"), "{history}");
}
