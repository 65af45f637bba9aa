//! The HTML report, rendered in headless Chromium (Debian's package,
//! installed by scripts/test.sh): the charts are there, with the counts the
//! rows say; the page fits the window; its colours come in three families;
//! every reason is explained; sources are sorted by suppression rate; the
//! run's settings are shown.

use std::collections::BTreeMap;
use std::process::Command;

use crate::util::*;

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
    assert!(dom.contains(" id=\"actions\""), "the actions chart");
    assert!(dom.contains(" id=\"reasons\""), "the reasons chart");
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

/// Measures the page in headless Chromium over the DevTools protocol (a
/// pipe, no port): for each viewport width, the document's scroll width and
/// client width once the page has loaded. The report itself has no script:
/// the measuring is done from outside.
fn measure_script() -> String {
    devtools_script(
        r#"    url, widths = args[0], [int(w) for w in args[1:]]
    target = call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    call("Page.enable", {}, session)
    result = {}
    for w in widths:
        call("Emulation.setDeviceMetricsOverride",
             {"width": w, "height": 900, "deviceScaleFactor": 1, "mobile": False}, session)
        events.clear()
        call("Page.navigate", {"url": url}, session)
        wait_for("Page.loadEventFired")
        value = call("Runtime.evaluate", {"returnByValue": True, "expression":
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth,"
            " window.innerWidth, document.querySelectorAll('rect.seg').length]"}, session)
        result[str(w)] = value["result"]["value"]
    print(json.dumps(result))
"#,
    )
}

/// For each width: (scroll width, client width, window width, segments).
fn measure(dir: &Dir, page: &std::path::Path, widths: &[u32]) -> BTreeMap<u32, [u64; 4]> {
    let out = Command::new("python3")
        .arg("-c")
        .arg(measure_script())
        .arg(chromium())
        .arg(dir.path("chromium-cdp"))
        .arg(format!("file://{}", page.display()))
        .args(widths.iter().map(|w| w.to_string()))
        .output()
        .expect("python3 (the DevTools client) runs");
    assert!(
        out.status.success(),
        "measuring failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("measurements");
    widths
        .iter()
        .map(|w| {
            let m = &v[w.to_string()];
            let n = |i: usize| m[i].as_u64().expect("a number");
            (*w, [n(0), n(1), n(2), n(3)])
        })
        .collect()
}

/// The hue of an sRGB hex colour, in degrees.
fn hue(hex: &str) -> f64 {
    let v = u32::from_str_radix(hex.trim_start_matches('#'), 16).expect("a hex colour");
    let (r, g, b) = (
        (v >> 16 & 255) as f64 / 255.0,
        (v >> 8 & 255) as f64 / 255.0,
        (v & 255) as f64 / 255.0,
    );
    let (max, min) = (r.max(g).max(b), r.min(g).min(b));
    let d = max - min;
    assert!(d > 0.05, "{hex} is a grey: no family");
    if max == r {
        60.0 * ((g - b) / d).rem_euclid(6.0)
    } else if max == g {
        60.0 * ((b - r) / d + 2.0)
    } else {
        60.0 * ((r - g) / d + 4.0)
    }
}

/// The colour family of a hue: blues (deliver), ambers and oranges (retry),
/// purples and reds (suppress); ranges that do not touch.
fn family(hex: &str) -> &'static str {
    let h = hue(hex);
    if (185.0..=220.0).contains(&h) {
        "deliver"
    } else if (28.0..=58.0).contains(&h) {
        "retry"
    } else if (275.0..=360.0).contains(&h) || h <= 8.0 {
        "suppress"
    } else {
        panic!("{hex} (hue {h:.0}) belongs to no family")
    }
}

/// The value of attribute `name` in the start of `tag`.
fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let start = tag.find(&key)? + key.len();
    Some(tag[start..start + tag[start..].find('"')?].to_string())
}

const LONG_SOURCE: &str = "Q3 2026 co-registration partner campaign via affiliate network (landing page variant B, Germany and Austria), imported from the vendor's nightly SFTP drop";

/// A realistic list: seven sources of different quality (one with a very
/// long name), nearly every reason the demo zone has, and typos.
fn realistic_list(dir: &Dir) -> std::path::PathBuf {
    let good = [
        "northwind-mail.com",
        "northwind-mail.com",
        "bücher-laden.de",
        "cname-mx.com",
        "ip-literal-mx.net",
        "partly-broken.com",
        "squatted-mx.net",
    ];
    // A leading '!' marks an invalid address rather than a domain.
    let bad = [
        "parked-domain.net",
        "half-null.org",
        "botched-null.com",
        "no-such-domain-4711.com",
        "gmial.com",
        "empty-domain.org",
        "website-only.com",
        "loopback-mx.com",
        "loopback-a.com",
        "private-mx.org",
        "dangling-mx.com",
        "typo-mx.com",
        "shop.example",
        "bad_domain.com",
        "!",
    ];
    let temporary = ["servfail-dns.net", "refusing-dns.org", "lame-dns.com"];
    // (source, rows, % to suppress, % to retry)
    let sources: [(&str, usize, usize, usize); 7] = [
        ("signup-form", 300, 4, 2),
        ("newsletter-popup", 150, 10, 3),
        ("crm-import-2024", 200, 24, 5),
        ("partner-feed", 100, 55, 8),
        ("trade-show-badge-scans", 60, 30, 10),
        (LONG_SOURCE, 100, 45, 5),
        ("manual", 30, 0, 0),
    ];
    let mut csv = String::from("email,name,source\n");
    let mut i = 0;
    for (s, (source, rows, bad_pct, tmp_pct)) in sources.iter().enumerate() {
        for j in 0..*rows {
            i += 1;
            let k = (j * 100 / rows + j) % 100;
            let address = if k < *bad_pct {
                match bad[(j + s * 3) % bad.len()] {
                    "!" => format!("not an address {i}"),
                    d => format!("user{i}@{d}"),
                }
            } else if k < bad_pct + tmp_pct {
                format!("user{i}@{}", temporary[j % temporary.len()])
            } else {
                format!("user{i}@{}", good[j % good.len()])
            };
            csv.push_str(&format!("{address},User {i},\"{source}\"\n"));
        }
    }
    dir.write("contacts.csv", csv)
}

#[test]
fn report_fits_the_window_explains_every_reason_and_shows_the_run() {
    let dir = Dir::new();
    let list = realistic_list(&dir);
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
            "--no-history",
        ],
        None,
    );

    // What the rows say: reasons, and each source's suppression rate.
    let rows = jsonl(&out);
    let mut reasons: BTreeMap<String, u64> = BTreeMap::new();
    let mut per_source: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for row in &rows {
        *reasons
            .entry(row["reason"].as_str().unwrap().to_string())
            .or_default() += 1;
        let e = per_source
            .entry(row["columns"]["source"].as_str().unwrap().to_string())
            .or_default();
        e.0 += 1;
        e.1 += u64::from(row["action"] == "suppress");
    }
    assert!(reasons.len() >= 14, "a list with many reasons: {reasons:?}");
    assert_eq!(per_source.len(), 7);

    // It fits a 1,280 px window, and an 800 px one, without scrolling
    // sideways.
    let sizes = measure(&dir, &report, &[1280, 800]);
    for (w, [scroll, client, inner, segments]) in &sizes {
        assert_eq!(*inner, u64::from(*w), "the viewport is {w} px");
        assert!(segments > &20, "the charts rendered at {w} px");
        assert!(
            scroll <= client && *scroll <= u64::from(*w),
            "at {w} px the page is {scroll} px wide (client {client} px): it scrolls sideways"
        );
    }

    let dom = headless(&dir, &["--dump-dom"], &report);
    assert!(dom.status.success());
    let dom = String::from_utf8(dom.stdout).unwrap();
    assert!(!dom.contains("<script"), "no script");

    // Three families of colours: every segment's fill is in its action's
    // family, all three families are there, and within the reasons chart
    // each reason has a colour of its own.
    let mut fills: BTreeMap<String, String> = BTreeMap::new();
    let mut families = std::collections::BTreeSet::new();
    for seg in dom.split("<rect class=\"seg\" ").skip(1) {
        let tag = &seg[..seg.find('>').unwrap()];
        let tag = format!(" {tag}");
        let fill = attr(&tag, "fill").expect("a fill");
        let fam = attr(&tag, "data-family").expect("a family");
        assert_eq!(family(&fill), fam, "{tag}");
        families.insert(fam);
        if let Some(r) = attr(&tag, "data-reason") {
            let before = fills.insert(r.clone(), fill.clone());
            assert!(before.is_none() || before == Some(fill), "{r}: one colour");
        }
    }
    assert_eq!(families.len(), 3, "{families:?}");
    let mut distinct: Vec<&String> = fills.values().collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(
        distinct.len(),
        fills.len(),
        "a colour per reason: {fills:?}"
    );
    assert_eq!(
        fills.keys().cloned().collect::<Vec<_>>(),
        reasons.keys().cloned().collect::<Vec<_>>(),
        "every reason in the chart"
    );
    // Not by colour alone: every retry and suppress segment carries its
    // family's pattern, deliver segments none.
    let mut patterned = 0;
    for seg in dom.split("<rect class=\"seg\" ").skip(1) {
        let fam = attr(&format!(" {seg}"), "data-family").unwrap();
        let next = &seg[seg.find("</rect>").unwrap() + 7..];
        let pat = next
            .strip_prefix("<rect class=\"pat\" ")
            .and_then(|p| attr(&format!(" {p}"), "fill"));
        match fam.as_str() {
            "deliver" => assert_eq!(pat, None, "{seg}"),
            _ => {
                let pat = pat.unwrap_or_else(|| panic!("no pattern: {seg}"));
                assert!(pat.starts_with(&format!("url(#p-{fam}")), "{pat}");
                patterned += 1;
            }
        }
    }
    assert!(patterned > 20);

    // Every reason in the data is explained, with what to do.
    for (reason, n) in &reasons {
        let start = dom
            .find(&format!("<tr data-reason=\"{reason}\">"))
            .unwrap_or_else(|| panic!("no explanation for {reason}"));
        let tr = &dom[start..start + dom[start..].find("</tr>").unwrap()];
        let cell = |class: &str| {
            let key = format!("<td class=\"{class}\">");
            let at = tr.find(&key).unwrap_or_else(|| panic!("{reason}: {class}")) + key.len();
            tr[at..at + tr[at..].find("</td>").unwrap()].to_string()
        };
        assert!(cell("what").len() > 20, "{reason}: {tr}");
        assert!(cell("todo").len() >= 5, "{reason}: {tr}");
        assert!(
            tr.contains(&format!(">{n}<")),
            "{reason}: its count {n}: {tr}"
        );
    }
    assert!(dom.contains("The domain says it accepts no mail (RFC 7505)."));

    // Sources sorted by suppression rate, highest first, with their full
    // names (wrapped, and as a tooltip).
    let chart = &dom[dom.find(" id=\"actions\"").unwrap()..dom.find(" id=\"reasons\"").unwrap()];
    let shown: Vec<String> = chart
        .split("<div class=\"src\" ")
        .skip(1)
        .map(|d| {
            attr(&format!(" {d}"), "title")
                .unwrap()
                .replace("&#39;", "'")
        })
        .collect();
    let mut want: Vec<(&String, &(u64, u64))> = per_source.iter().collect();
    want.sort_by(|a, b| {
        let rate = |x: &(u64, u64)| x.1 as f64 / x.0 as f64;
        rate(b.1).total_cmp(&rate(a.1)).then(b.1 .0.cmp(&a.1 .0))
    });
    let want: Vec<String> = want.into_iter().map(|(s, _)| s.clone()).collect();
    assert_eq!(shown, want, "sources by suppression rate");
    assert_eq!(shown[0], "partner-feed");
    assert!(
        chart.contains(&format!(">{}</div>", LONG_SOURCE.replace('\'', "&#39;")))
            || chart.contains(&format!(">{LONG_SOURCE}</div>")),
        "the long name in full"
    );

    // Percentages: on the cards, and beside and on the bars.
    let suppressed: u64 = per_source.values().map(|v| v.1).sum();
    let share = format!("{:.1}%", 100.0 * suppressed as f64 / rows.len() as f64);
    assert!(
        dom.contains(&format!("data-share=\"suppress\">{share}<")),
        "the suppress card says {share}"
    );
    let (n, bad) = per_source["partner-feed"];
    assert!(chart.contains(&format!(
        "<b>{:.1}%</b> suppressed",
        100.0 * bad as f64 / n as f64
    )));
    assert!(chart.contains(&format!(">{:.0}%</text>", 100.0 * bad as f64 / n as f64)));

    // The run's settings.
    let setting = |key: &str| {
        let k = format!("<dd data-setting=\"{key}\">");
        let at = dom.find(&k).unwrap_or_else(|| panic!("setting {key}")) + k.len();
        dom[at..at + dom[at..].find("</dd>").unwrap()].to_string()
    };
    assert!(
        setting("resolver").contains("in-process zone lab 127.0.0.1:"),
        "{}",
        setting("resolver")
    );
    assert!(setting("resolver").contains("demo.zone"));
    assert!(setting("implicit-mx").starts_with("suppress"));
    assert!(setting("probe").starts_with("off"));
    assert!(setting("history").starts_with("off"));
    assert!(setting("trusted-net").starts_with("none"));
    assert!(setting("date").starts_with("20"), "{}", setting("date"));
    assert_eq!(setting("source-column"), "source");
    // And in brief under the title, linking to them.
    let brief = &dom[dom
        .find("<p class=\"meta\" id=\"brief\">")
        .expect("the brief line")..];
    let brief = &brief[..brief.find("</p>").unwrap()];
    assert!(
        brief.contains("Resolver: in-process zone lab") && brief.contains("href=\"#settings\""),
        "{brief}"
    );
}
