//! Every number on the command line is checked: zero and absurd values are
//! usage errors (exit 2) that name the range, never a panic, and nothing is
//! written to the history.

use crate::util::*;

#[test]
fn numeric_flags_reject_zero_and_absurd_values() {
    const HUGE: &str = "2305843009213693952";
    // (subcommand, flag, zero, huge, the range named in the message)
    let cases: &[(&str, &str, &str, &str, &str)] = &[
        ("check", "--concurrency", "0", HUGE, "from 1 to 100000"),
        ("check", "--dns-in-flight", "0", HUGE, "from 1 to 100000"),
        ("check", "--dns-timeout", "0s", "100000d", "from 10ms to 1m"),
        ("check", "--dns-attempts", "0", HUGE, "from 1 to 10"),
        ("check", "--qps", "0", HUGE, "from 1 to 1000000"),
        ("check", "--probe-concurrency", "0", HUGE, "from 1 to 10000"),
        ("check", "--probe-max-hosts", "0", HUGE, "from 1 to 100"),
        (
            "check",
            "--connect-timeout",
            "0s",
            "1000d",
            "from 100ms to 5m",
        ),
        (
            "check",
            "--greeting-timeout",
            "0ms",
            "1000d",
            "from 100ms to 10m",
        ),
        ("check", "--smtp-port", "0", "65536", "from 1 to 65535"),
        ("check", "--max-age", "0s", "100000d", "from 1s to 365d"),
        ("check", "--dead-after", "0s", "100000d", "from 1h to 365d"),
        ("check", "--dead-min-checks", "0", HUGE, "from 1 to 1000"),
        ("domain", "--concurrency", "0", HUGE, "from 1 to 100000"),
        (
            "domain",
            "--dns-timeout",
            "0s",
            "100000d",
            "from 10ms to 1m",
        ),
        ("recheck", "--limit", "0", HUGE, "from 1 to 100000000"),
        (
            "recheck",
            "--dead-after",
            "0s",
            "100000d",
            "from 1h to 365d",
        ),
    ];
    let dir = Dir::new();
    let db = dir.path("history.sqlite");
    let db_s = db.to_str().unwrap().to_string();
    for (cmd, flag, zero, huge, range) in cases {
        for value in [*zero, *huge, "1.5", "many"] {
            let mut args = vec![*cmd, *flag, value, "--resolver", "127.0.0.1"];
            if *cmd != "domain" {
                args.extend(["--db", &db_s]);
            }
            if *cmd == "domain" {
                args.push("a.zz");
            }
            let out = run(&args, Some(b"a@a.zz\n"));
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
            assert!(
                err.contains(&format!("invalid value '{value}' for '{flag}")),
                "{args:?}: {err}"
            );
            if value == *zero || value == *huge {
                assert!(err.contains(range), "{args:?}: {err}");
            }
            assert!(!err.contains("panicked"), "{args:?}: {err}");
            assert!(!db.exists(), "{args:?} wrote {}", db.display());
        }
    }
    // A duration of a thousand parts is refused before it can overflow.
    let long = "1d".repeat(1000);
    let out = run(&["check", "--dead-after", &long, "--db", &db_s], Some(b""));
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a duration"));
    // The lab's drop rate is a share.
    for v in ["-0.1", "1.5", "NaN"] {
        let flag = format!("--drop-rate={v}");
        let out = run(&["lab", "serve", "x.zone", &flag], None);
        assert_eq!(out.status.code(), Some(2), "{v}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("share from 0 to 1"));
    }
    assert!(!db.exists());
    // In range: accepted (an offline run, nothing recorded without --db).
    let zone = root().join("examples/demo.zone");
    let out = run(
        &[
            "check",
            "--zone",
            zone.to_str().unwrap(),
            "--concurrency",
            "100000",
            "--dns-timeout",
            "1m",
            "--qps",
            "1000000",
            "--format",
            "jsonl",
        ],
        Some(b"a@nxdomain.zz\n"),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn mixed_resolver_families_with_the_bulk_engine_are_a_usage_error() {
    let dir = Dir::new();
    let db = dir.path("history.sqlite");
    let db_s = db.to_str().unwrap();
    for args in [
        vec![
            "check",
            "--resolver",
            "127.0.0.1",
            "--resolver",
            "::1",
            "--db",
            db_s,
        ],
        vec![
            "check",
            "--resolver",
            "[::1]:5353",
            "--resolver",
            "127.0.0.1:5353",
            "--dns-engine",
            "bulk",
            "--db",
            db_s,
        ],
        vec![
            "domain",
            "--resolver",
            "127.0.0.1",
            "--resolver",
            "::1",
            "a.zz",
        ],
        vec![
            "recheck",
            "--resolver",
            "127.0.0.1",
            "--resolver",
            "::1",
            "--db",
            db_s,
        ],
    ] {
        let out = run(&args, Some(b"a@a.zz\n"));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains("the bulk DNS engine takes IPv4 or IPv6 resolvers, not both")
                && err.contains("--dns-engine stub"),
            "{args:?}: {err}"
        );
        assert!(!db.exists(), "{args:?}");
    }
    // The stub engine takes both: a lab on 127.0.0.1 answers, and the run
    // completes (::1 is tried only when 127.0.0.1 fails).
    let zone = root().join("examples/demo.zone");
    let lab = LabProcess::start(&[&zone], &[]);
    let out = run(
        &[
            "check",
            "--resolver",
            &lab.resolver(),
            "--resolver",
            &format!("[::1]:{}", lab.addr.port()),
            "--dns-engine",
            "stub",
            "--no-history",
            "--format",
            "jsonl",
        ],
        Some(b"a@nxdomain.zz\n"),
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(jsonl(&out)[0]["reason"], "nxdomain");
}

#[test]
fn a_loopback_canary_literal_needs_a_trusted_net() {
    let out = run(
        &[
            "check",
            "--probe",
            "--probe-canary",
            "127.0.0.25:25",
            "--resolver",
            "127.0.0.1",
        ],
        Some(b""),
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--probe-canary 127.0.0.25:25")
            && err.contains("refused as a canary")
            && err.contains("--trusted-net"),
        "{err}"
    );
    for bad in ["host:0", "a b", "[::1]:99999"] {
        let out = run(&["check", "--probe-canary", bad], Some(b""));
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("is not a canary"));
    }
}

/// Runs the binary with `resolv` bind-mounted over /etc/resolv.conf, in a
/// private mount namespace (root only).
fn run_with_resolv_conf(resolv: &std::path::Path, args: &[&str]) -> std::process::Output {
    use std::ffi::CString;
    use std::os::unix::process::CommandExt;
    let src = CString::new(resolv.to_str().unwrap()).unwrap();
    let dst = CString::new("/etc/resolv.conf").unwrap();
    let root = CString::new("/").unwrap();
    let mut cmd = bin();
    // SAFETY: unshare and mount are plain system calls, safe after fork.
    unsafe {
        cmd.pre_exec(move || {
            let fail = || Err(std::io::Error::last_os_error());
            if libc::unshare(libc::CLONE_NEWNS) != 0 {
                return fail();
            }
            let private = libc::MS_REC | libc::MS_PRIVATE;
            if libc::mount(
                std::ptr::null(),
                root.as_ptr(),
                std::ptr::null(),
                private,
                std::ptr::null(),
            ) != 0
            {
                return fail();
            }
            if libc::mount(
                src.as_ptr(),
                dst.as_ptr(),
                std::ptr::null(),
                libc::MS_BIND,
                std::ptr::null(),
            ) != 0
            {
                return fail();
            }
            Ok(())
        });
    }
    cmd.args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run prebounce in a mount namespace (needs root)")
}

#[test]
fn a_mixed_or_zero_timeout_resolv_conf_still_works() {
    // A lab on port 53 of a loopback address, named by a resolv.conf that
    // also names an IPv6 nameserver and says `timeout:0`.
    let zone = root().join("examples/demo.zone");
    let mut lab = bin()
        .args(["lab", "serve", "--listen", "127.0.11.53:53"])
        .arg(&zone)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("lab");
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(lab.stdout.take().unwrap()),
        &mut ready,
    )
    .unwrap();
    assert_eq!(ready.trim(), "127.0.11.53:53");
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _lab = Kill(lab);
    let dir = Dir::new();
    let resolv = dir.write(
        "resolv.conf",
        "nameserver 127.0.11.53\nnameserver ::1\noptions timeout:0 attempts:1\n",
    );
    let out = run_with_resolv_conf(&resolv, &["domain", "--format", "json", "nxdomain.zz"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("names IPv4 and IPv6 nameservers; the bulk engine asks the IPv4 ones"),
        "{err}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["reason"], "nxdomain", "{v}");
}
