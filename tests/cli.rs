//! The command line: inputs, outputs, exit codes, `domain`.

use crate::util::*;

fn zone_args() -> Vec<String> {
    vec![
        "--zone".into(),
        fixture("faults.zone").display().to_string(),
        "--dns-timeout".into(),
        "300ms".into(),
    ]
}

fn check(extra: &[&str], stdin: Option<&[u8]>) -> std::process::Output {
    let mut args = vec!["check".to_string()];
    args.extend(zone_args());
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    run(&args, stdin)
}

#[test]
fn junk_input_gives_one_invalid_row_each_and_never_panics() {
    let mut input: Vec<u8> = Vec::new();
    input.extend_from_slice("\u{feff}a@ok.zz\r\n".as_bytes());
    input.extend_from_slice(b"\n   \n# a comment\n");
    input.extend_from_slice(b"bad\xff\xfeutf8@ok.zz\n");
    input.extend_from_slice(b"nul\0byte@ok.zz\n");
    input.extend(std::iter::repeat_n(b'x', 1 << 20));
    input.extend_from_slice(b"@ok.zz\n");
    // Every byte but the line ends (a lone CR ends a line too).
    input.extend((0u8..=255).filter(|b| *b != b'\n' && *b != b'\r'));
    input.push(b'\n');
    input.extend_from_slice(b"  b@ok.zz  \n");
    input.extend_from_slice(b"last@ok.zz"); // no final newline
    let out = check(&["--format", "jsonl"], Some(&input));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = jsonl(&out);
    let reasons: Vec<&str> = rows.iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert_eq!(
        reasons,
        [
            "deliverable",
            "address_invalid",
            "address_invalid",
            "address_invalid",
            "address_invalid",
            "deliverable",
            "deliverable"
        ]
    );
    assert_eq!(rows[0]["address"], "a@ok.zz", "BOM and CRLF stripped");
    assert!(rows[1]["detail"].as_str().unwrap().contains("UTF-8"));
    assert!(rows[2]["detail"].as_str().unwrap().contains("U+0000"));
    assert!(rows[3]["detail"]
        .as_str()
        .unwrap()
        .contains("1048582 bytes"));
    assert_eq!(rows[5]["address"], "b@ok.zz", "trimmed");
    assert_eq!(rows[6]["line"], 10);
}

#[test]
fn csv_input_passes_columns_through() {
    let dir = Dir::new();
    let input = dir.write(
        "list.csv",
        "\u{feff}id,Name,E-Mail,source\r\n1,Ann,ann@ok.zz,form\r\n2,\"Doe, John\",john@nxdomain.zz,import\r\n3,Short\r\n4,Bad,not-an-address,form\r\n",
    );
    let out = check(&["--format", "csv", input.to_str().unwrap()], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "id",
            "Name",
            "E-Mail",
            "source",
            "domain",
            "action",
            "reason",
            "status",
            "detail",
            "warnings",
            "mx",
            "suggestion"
        ]
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 4);
    assert_eq!(&rows[0][1], "Ann");
    assert_eq!(&rows[0][6], "deliverable");
    assert!(rows[0][10].contains("mx.ok.zz"));
    assert_eq!(&rows[1][1], "Doe, John");
    assert_eq!(&rows[1][6], "nxdomain");
    assert_eq!(&rows[2][0], "3");
    assert_eq!(&rows[2][6], "address_invalid", "a short row is a row");
    assert_eq!(&rows[3][6], "address_invalid");

    // --column picks another column; JSONL carries the columns.
    let other = dir.write("other.csv", "who,contact\nAnn,ann@ok.zz\n");
    let out = check(
        &[
            "--format",
            "jsonl",
            "--column",
            "CONTACT",
            other.to_str().unwrap(),
        ],
        None,
    );
    let rows = jsonl(&out);
    assert_eq!(rows[0]["reason"], "deliverable");
    assert_eq!(rows[0]["columns"]["who"], "Ann");
    // Without --column and no email-like header: the column whose values
    // are addresses.
    let out = check(&["--format", "jsonl", other.to_str().unwrap()], None);
    assert_eq!(jsonl(&out)[0]["address"], "ann@ok.zz");
}

#[test]
fn formats_and_output_file() {
    let dir = Dir::new();
    let out_file = dir.path("out.jsonl");
    let out = check(
        &[
            "--format",
            "jsonl",
            "-o",
            out_file.to_str().unwrap(),
            "--quiet",
        ],
        Some(b"a@ok.zz\nb@nxdomain.zz\n"),
    );
    assert!(out.status.success());
    assert!(
        out.stdout.is_empty() && out.stderr.is_empty(),
        "quiet and to a file"
    );
    let text = std::fs::read_to_string(&out_file).unwrap();
    assert_eq!(text.lines().count(), 2);

    // CSV is the default when stdout is not a terminal.
    let out = check(&[], Some(b"a@ok.zz\n"));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("address,domain,action,reason,status,detail,warnings,mx,suggestion\n"),
        "{text}"
    );
    assert!(
        text.contains("a@ok.zz,ok.zz,deliver,deliverable,,"),
        "{text}"
    );
    let summary = String::from_utf8(out.stderr).unwrap();
    assert!(summary.contains("1 rows, 1 distinct domains"), "{summary}");
    assert!(summary.contains("deliverable 1"), "{summary}");

    let out = check(&["--format", "table"], Some(b"a@ok.zz\nb@nxdomain.zz\n"));
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("ADDRESS"));
    assert!(
        lines[1].contains("deliver") && lines[2].contains("nxdomain"),
        "{text}"
    );
}

#[test]
fn several_files_and_stdin_dash() {
    let dir = Dir::new();
    let a = dir.write("a.txt", "a@ok.zz\n");
    let b = dir.write("b.txt", "b@nxdomain.zz\n");
    let out = check(
        &[
            "--format",
            "jsonl",
            a.to_str().unwrap(),
            "-",
            b.to_str().unwrap(),
        ],
        Some(b"c@nodata.zz\n"),
    );
    let rows = jsonl(&out);
    let addresses: Vec<&str> = rows
        .iter()
        .map(|r| r["address"].as_str().unwrap())
        .collect();
    assert_eq!(addresses, ["a@ok.zz", "c@nodata.zz", "b@nxdomain.zz"]);
}

#[test]
fn output_dash_is_standard_output() {
    let dir = Dir::new();
    let mut args = vec!["check".to_string()];
    args.extend(zone_args());
    args.extend(["-o", "-", "--format", "jsonl", "-"].map(String::from));
    let mut child = bin()
        .current_dir(dir.path("."))
        .args(&args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn prebounce");
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"a@ok.zz\n").unwrap();
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(jsonl(&out)[0]["address"], "a@ok.zz");
    assert!(!dir.path("-").exists(), "no file named -");
}

#[test]
fn exit_codes() {
    // Usage errors: 2, with a message that names the fix.
    for (args, needle) in [
        (vec!["check", "--format", "xml"], "invalid value 'xml'"),
        (
            vec!["check", "--dns-timeout", "5", "--resolver", "127.0.0.1"],
            "no unit",
        ),
        (
            vec![
                "check",
                "--trusted-net",
                "10.0.0.1/8",
                "--resolver",
                "127.0.0.1",
            ],
            "Did you mean 10.0.0.0/8?",
        ),
        (
            vec!["check", "--resolver", "dns.example"],
            "not a resolver address",
        ),
        (
            vec!["check", "--dns-attempts", "0", "--resolver", "127.0.0.1"],
            "attempts",
        ),
        (
            vec!["check", "--zone", "/nonexistent/zone", "-"],
            "cannot read zone file",
        ),
        (vec!["frobnicate"], "unrecognized subcommand"),
    ] {
        let out = run(&args, Some(b""));
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    }
    let dir = Dir::new();
    let csv = dir.write("x.csv", "name,email\nA,a@ok.zz\n");
    let out = check(&["--column", "mail", csv.to_str().unwrap()], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("header has: name, email"));
    // A missing input file is an I/O error: 1.
    let out = check(&["/nonexistent/list.txt"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot open /nonexistent/list.txt"));
    // Whatever the verdicts, a completed run exits 0.
    let out = check(&[], Some(b"a@mx-servfail.zz\nb@nxdomain.zz\n"));
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn domain_explains_the_evidence() {
    let mut args = vec!["domain".to_string()];
    args.extend(zone_args());
    args.extend(["target-mixed.zz", "user@null-mx-ten.zz", "foo.test"].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_ok(&args, None);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("target-mixed.zz\n  verdict   deliver deliverable -"),
        "{text}"
    );
    assert!(text.contains("slow-host.zz"), "{text}");
    assert!(text.contains("temp_fail"), "{text}");
    assert!(text.contains("93.184.215.14"), "{text}");
    assert!(
        text.contains("null-mx-ten.zz\n  verdict   suppress null_mx 5.1.10"),
        "{text}"
    );
    assert!(
        text.contains("foo.test\n  verdict   suppress domain_reserved 5.1.2"),
        "{text}"
    );

    let mut args = vec!["domain".to_string(), "--format".into(), "json".into()];
    args.extend(zone_args());
    args.push("doc-mx.zz".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run_ok(&args, None);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["reason"], "mx_unroutable");
    assert_eq!(v["mx"][0]["addresses"][0]["class"], "non_global");
    assert_eq!(
        v["mx"][0]["addresses"][0]["range"],
        "documentation TEST-NET-1, RFC 5737"
    );
    assert_eq!(v["mx"][0]["a"], "answer");
}

/// The scheduling policy of every thread of process `pid` (field 41 of
/// `/proc/PID/task/TID/stat`).
fn thread_policies(pid: u32) -> Vec<i32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("stat")).ok())
        .filter_map(|stat| {
            // After the command name (in parentheses, maybe with spaces)
            // comes field 3; the policy is field 41.
            let rest = &stat[stat.rfind(')')? + 1..];
            rest.split_whitespace().nth(41 - 3)?.parse().ok()
        })
        .collect()
}

/// A batch command runs all its threads under SCHED_BATCH, so that its
/// wake-ups do not preempt the local resolver; one started under another
/// policy than the default keeps it.
#[test]
fn batch_commands_run_as_batch_jobs_unless_started_otherwise() {
    use std::io::Write as _;
    use std::os::unix::process::CommandExt as _;
    use std::process::Stdio;
    use std::time::{Duration, Instant};
    let silent = SilentServer::start();
    let resolver = silent.addr.to_string();
    for (start_idle, expected) in [(false, libc::SCHED_BATCH), (true, libc::SCHED_IDLE)] {
        let mut cmd = bin();
        cmd.args(["check", "--resolver", &resolver, "--no-history"])
            .args(["--dns-timeout", "5s", "-o", "/dev/null"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if start_idle {
            // SAFETY: between fork and exec, one system call on the child
            // itself, no allocation.
            unsafe {
                cmd.pre_exec(|| {
                    let param = libc::sched_param { sched_priority: 0 };
                    if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        let mut child = cmd.spawn().unwrap();
        child.stdin.take().unwrap().write_all(b"a@d.zz\n").unwrap();
        // The runtime's threads are up once there are at least three (the
        // main thread and two workers); the silent resolver keeps them.
        let limit = Instant::now() + Duration::from_secs(20);
        let mut policies = thread_policies(child.id());
        while policies.len() < 3 && Instant::now() < limit {
            std::thread::sleep(Duration::from_millis(20));
            policies = thread_policies(child.id());
        }
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(policies.len() >= 3, "{policies:?}");
        assert!(policies.iter().all(|&p| p == expected), "{policies:?}");
    }
}
