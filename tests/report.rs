//! The HTML report, rendered in headless Chromium (Debian's package,
//! installed by scripts/test.sh): the charts are there, with the counts the
//! rows say.

use std::collections::BTreeMap;
use std::process::Command;

use crate::util::*;

fn chromium() -> &'static str {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("chromium is not installed: run scripts/test.sh, which installs it")
}

fn headless(dir: &Dir, extra: &[&str], page: &std::path::Path) -> std::process::Output {
    Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--disable-quic",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path("chromium").display()
        ))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium")
}

#[test]
fn report_renders_with_the_right_counts() {
    let dir = Dir::new();
    let mut csv = String::from("email,name,source\n");
    let domains = [
        (
            "signup-form",
            [
                "northwind-mail.com",
                "northwind-mail.com",
                "cname-mx.com",
                "gmial.com",
            ],
        ),
        (
            "import",
            [
                "northwind-mail.com",
                "parked-domain.net",
                "website-only.com",
                "northwind-mail.com",
            ],
        ),
        (
            "partner-feed",
            [
                "no-such-domain-4711.com",
                "gmial.com",
                "parked-domain.net",
                "servfail-dns.net",
            ],
        ),
    ];
    for i in 0..240 {
        let (source, ds) = &domains[i % 3];
        let d = if *source == "partner-feed" || i % 7 == 0 {
            ds[i % 4]
        } else {
            ds[0]
        };
        csv.push_str(&format!("user{i}@{d},User <{i}>,{source}\n"));
    }
    let list = dir.write("list.csv", csv);
    let report = dir.path("report.html");
    let out = run_ok(
        &[
            "check",
            "--zone",
            root().join("examples/demo.zone").to_str().unwrap(),
            list.to_str().unwrap(),
            "--source-column",
            "source",
            "--report",
            report.to_str().unwrap(),
            "--format",
            "jsonl",
        ],
        None,
    );
    let summary = String::from_utf8_lossy(&out.stderr);
    assert!(summary.contains("by source:"), "{summary}");
    assert!(
        summary.contains("source 'partner-feed' stands out"),
        "{summary}"
    );

    // What the rows say, per source and action.
    let mut want: BTreeMap<(String, String), u64> = BTreeMap::new();
    for row in jsonl(&out) {
        let source = row["columns"]["source"].as_str().unwrap().to_string();
        let action = row["action"].as_str().unwrap().to_string();
        *want.entry((source, action)).or_default() += 1;
    }
    assert!(want.len() >= 5, "{want:?}");

    // What the browser sees.
    let dom = headless(&dir, &["--dump-dom"], &report);
    assert!(
        dom.status.success(),
        "{}",
        String::from_utf8_lossy(&dom.stderr)
    );
    let dom = String::from_utf8(dom.stdout).unwrap();
    assert!(dom.contains("<svg id=\"actions\""), "the actions chart");
    assert!(dom.contains("<svg id=\"reasons\""), "the reasons chart");
    let mut seen: BTreeMap<(String, String), u64> = BTreeMap::new();
    for seg in dom.split("<rect class=\"seg\" ").skip(1) {
        let attr = |name: &str| {
            let key = format!("{name}=\"");
            let start = seg.find(&key)? + key.len();
            Some(seg[start..start + seg[start..].find('"')?].to_string())
        };
        if let (Some(s), Some(a), Some(n)) =
            (attr("data-source"), attr("data-action"), attr("data-count"))
        {
            seen.insert((s, a), n.parse().unwrap());
        }
    }
    assert_eq!(seen, want, "the chart's segments carry the rows' counts");
    assert!(dom.contains("data-total=\"rows\">240<"), "the totals");
    assert!(
        dom.contains("<tr class=\"warn\" data-source=\"partner-feed\""),
        "the outlier"
    );
    assert!(
        dom.contains("<td>gmial.com</td><td>gmail.com</td>"),
        "the suggested correction"
    );
    assert!(!dom.contains("<script"), "no script");

    // It renders: a screenshot of a real page.
    let png = dir.path("report.png");
    let shot = headless(
        &dir,
        &[
            &format!("--screenshot={}", png.display()),
            "--window-size=1000,1400",
        ],
        &report,
    );
    assert!(
        shot.status.success(),
        "{}",
        String::from_utf8_lossy(&shot.stderr)
    );
    let bytes = std::fs::read(&png).expect("screenshot");
    assert!(
        bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
        "{} bytes",
        bytes.len()
    );
}

#[test]
fn source_column_needs_csv_and_a_real_column() {
    let dir = Dir::new();
    let csv = dir.write("l.csv", "email,origin\na@x.zz,form\n");
    let out = run(
        &[
            "check",
            "--zone",
            fixture("faults.zone").to_str().unwrap(),
            "--source-column",
            "source",
            csv.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--source-column"));
    let out = run(
        &[
            "check",
            "--zone",
            fixture("faults.zone").to_str().unwrap(),
            "--source-column",
            "source",
        ],
        Some(b"a@x.zz\n"),
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs CSV input"));
}
