//! `prebounce audit` end to end: the real binary reads MTA log fixtures,
//! and the verdicts come from the lab DNS server on loopback
//! (tests/fixtures/mta/mta.zone).
//!
//! tests/fixtures/mta/postfix-real.log is real: captured from a private
//! Postfix 3.7 instance relaying to a local aiosmtpd sink
//! (tests/fixtures/mta/capture-postfix.sh). exim-main.log and kumomta.jsonl
//! are written from the MTAs' documentation (see the comments in those
//! files' tests below).

use std::collections::BTreeMap;
use std::process::Output;

use serde_json::Value;

use crate::util::*;

fn lab() -> LabProcess {
    LabProcess::start(&[&fixture("mta/mta.zone")], &[])
}

fn audit(lab: &LabProcess, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let resolver = lab.resolver();
    let mut all = vec!["audit", "--resolver", &resolver, "--dns-timeout", "300ms"];
    all.extend(args);
    run(&all, stdin)
}

fn ok(out: &Output) -> &Output {
    assert!(
        out.status.success(),
        "audit failed: {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Findings keyed by `finding domain`.
fn findings(out: &Output) -> BTreeMap<String, Value> {
    jsonl(ok(out))
        .into_iter()
        .map(|f| {
            (
                format!(
                    "{} {}",
                    f["finding"].as_str().unwrap(),
                    f["domain"].as_str().unwrap()
                ),
                f,
            )
        })
        .collect()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn path(name: &str) -> String {
    fixture(&format!("mta/{name}"))
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn real_postfix_log_shows_mail_sent_to_dead_domains_through_the_relay() {
    let lab = lab();
    let out = audit(
        &lab,
        &[
            "--format",
            "jsonl",
            "--year",
            "2026",
            &path("postfix-real.log"),
        ],
        None,
    );
    let f = findings(&out);
    let keys: Vec<&str> = f.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "bounced_preventable gone.zz",
            "deferred_dead nullmx.zz",
            "logged_delivered gone.zz",
            "logged_delivered loopback.zz",
            "logged_delivered nullmx.zz",
        ],
        "ok.zz and shop.zz deliver; flaky.zz is SERVFAIL (retry): no finding"
    );
    // The seed case: the log says sent, the domain publishes a null MX; the
    // mail went to the relay.
    let n = &f["logged_delivered nullmx.zz"];
    for field in [
        "finding",
        "domain",
        "reason",
        "status",
        "messages",
        "first_seen",
        "last_seen",
        "relays",
        "senders",
    ] {
        assert!(n.get(field).is_some(), "{field} missing in {n}");
    }
    assert_eq!(n["reason"], "null_mx");
    assert_eq!(n["status"], "5.1.10");
    assert_eq!(n["action"], "suppress");
    assert_eq!(n["log_status"], "sent");
    assert_eq!(n["messages"], 2);
    assert_eq!(n["first_seen"], "2026-11-30T04:08:44Z");
    assert_eq!(n["last_seen"], "2026-11-30T04:08:44Z");
    assert_eq!(n["relays"][0]["name"], "127.0.0.1[127.0.0.1]:10925");
    assert_eq!(n["relays"][0]["attempts"], 2);
    assert_eq!(n["senders"][0]["name"], "news@shop.zz", "joined from qmgr");
    assert_eq!(n["sender_domains"][0]["name"], "shop.zz");
    assert_eq!(n["formats"][0], "postfix");
    assert_eq!(f["logged_delivered gone.zz"]["reason"], "nxdomain");
    assert_eq!(f["logged_delivered loopback.zz"]["reason"], "mx_localhost");
    // One message deferred seven times: one message, retried for 15 s.
    let d = &f["deferred_dead nullmx.zz"];
    assert_eq!(d["messages"], 1);
    assert_eq!(d["log_lines"], 7);
    assert_eq!(d["retrying_for"], 15);
    assert_eq!(d["senders"][0]["name"], "alerts@ops.zz");
    assert_eq!(d["senders"][0]["messages"], 1);
    assert_eq!(d["relays"][0]["attempts"], 7, "every retry is an attempt");
    let b = &f["bounced_preventable gone.zz"];
    assert_eq!(b["dsns"][0]["name"], "5.1.1");
    assert!(b.get("retrying_for").is_none());
    let err = stderr(&out);
    assert!(err.contains("1 file (postfix 1)"), "{err}");
    assert!(err.contains("(6 sent, 14 deferred, 1 bounced)"), "{err}");
    assert!(
        err.contains("6 domains (2 deliver, 1 retry, 3 suppress)"),
        "{err}"
    );
}

/// exim-main.log follows the Exim specification, chapter "Log files"
/// ("Log line flags": `<=` arrival, `=>` delivery, `->` further address,
/// `**` failed, `==` deferred; `Completed`). kumomta.jsonl follows
/// KumoMTA's reference/log_record (one JSON object per line: `type`,
/// `sender`, `recipient`, `response.enhanced_code`, `peer_address`,
/// `timestamp` in epoch seconds).
#[test]
fn exim_and_kumomta_logs_mixed_across_files() {
    let lab = lab();
    let out = audit(
        &lab,
        &[
            "-f",
            "jsonl",
            &path("exim-main.log"),
            &path("kumomta.jsonl"),
        ],
        None,
    );
    let f = findings(&out);
    let keys: Vec<&str> = f.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "bounced_preventable gone.zz",
            "bounced_preventable nullmx.zz",
            "deferred_dead private.zz",
            "logged_delivered botched.zz",
            "logged_delivered loopback.zz",
        ]
    );
    let b = &f["logged_delivered botched.zz"];
    assert_eq!(b["reason"], "null_mx_malformed");
    assert_eq!(b["relays"][0]["name"], "relay.ok.zz[192.0.2.25]");
    assert_eq!(b["messages"], 2, "=> and ->");
    assert_eq!(b["senders"][0]["name"], "news@shop.zz", "joined from <=");
    // Deferred in both logs: Exim for two days, KumoMTA once.
    let p = &f["deferred_dead private.zz"];
    assert_eq!(p["messages"], 2);
    assert_eq!(p["first_seen"], "2026-11-28T09:05:02Z");
    assert_eq!(p["last_seen"], "2026-11-30T09:05:02Z");
    assert_eq!(p["retrying_for"], 2 * 86_400);
    assert_eq!(p["formats"], serde_json::json!(["exim", "kumomta"]));
    let n = &f["bounced_preventable nullmx.zz"];
    assert_eq!(n["messages"], 2);
    let senders: Vec<&str> = n["senders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(senders, ["alerts@ops.zz", "billing@shop.zz"]);
    let l = &f["logged_delivered loopback.zz"];
    assert_eq!(l["relays"][0]["name"], "relay.ok.zz[192.0.2.25]");
    assert_eq!(l["first_seen"], "2026-11-30T09:00:01Z");
    let err = stderr(&out);
    assert!(err.contains("2 files (exim 1, kumomta 1)"), "{err}");
}

#[test]
fn gzip_files_and_standard_input_read_like_plain_files() {
    let dir = Dir::new();
    let gz = dir.path("exim-main.log.gz");
    let status = std::process::Command::new("gzip")
        .arg("-c")
        .arg(fixture("mta/exim-main.log"))
        .stdout(std::fs::File::create(&gz).unwrap())
        .status()
        .expect("gzip");
    assert!(status.success());
    let kumo = std::fs::read(fixture("mta/kumomta.jsonl")).unwrap();
    let lab = lab();
    let plain = findings(&audit(
        &lab,
        &[
            "-f",
            "jsonl",
            &path("exim-main.log"),
            &path("kumomta.jsonl"),
        ],
        None,
    ));
    let out = audit(
        &lab,
        &["-f", "jsonl", gz.to_str().unwrap(), "-"],
        Some(&kumo),
    );
    let packed = findings(&out);
    assert_eq!(
        packed.keys().collect::<Vec<_>>(),
        plain.keys().collect::<Vec<_>>()
    );
    for (k, v) in &plain {
        assert_eq!(packed[k]["messages"], v["messages"], "{k}");
        assert_eq!(packed[k]["last_seen"], v["last_seen"], "{k}");
    }
    assert!(stderr(&out).contains("2 files (exim 1, kumomta 1)"));
}

#[test]
fn garbage_invalid_utf8_and_an_empty_file_are_counted_not_fatal() {
    let dir = Dir::new();
    let mut bad = b"this is not a mail log\n\xff\xfe\xfd binary junk\n".to_vec();
    bad.extend_from_slice(b"Nov 30 04:08:44 mx1 kernel: [1.0] something else\n");
    bad.extend_from_slice(b"Nov 30 04:08:44 mx1 postfix/smtp[1]: ABCDE12345: to=<z@nullmx.zz>, relay=127.0.0.1[127.0.0.1]:25, delay=0.1, delays=0/0/0/0, dsn=2.0.0, status=sent (250 OK)\n");
    let bad = dir.write("mixed.log", bad);
    let empty = dir.write("empty.log", "");
    let lab = lab();
    let out = audit(
        &lab,
        &[
            "-f",
            "jsonl",
            "--year",
            "2026",
            bad.to_str().unwrap(),
            empty.to_str().unwrap(),
        ],
        None,
    );
    let f = findings(&out);
    assert_eq!(f.keys().collect::<Vec<_>>(), ["logged_delivered nullmx.zz"]);
    assert_eq!(
        f["logged_delivered nullmx.zz"]["senders"],
        serde_json::json!([])
    );
    let err = stderr(&out);
    assert!(err.contains("2 files (postfix 1, unrecognized 1)"), "{err}");
    assert!(err.contains("4 lines"), "{err}");
    assert!(err.contains("1 of other programs"), "{err}");
    assert!(
        err.contains("2 unrecognized (1 not UTF-8, 0 too long)"),
        "{err}"
    );
}

#[test]
fn table_output_and_html_report() {
    let dir = Dir::new();
    let report = dir.path("audit.html");
    let lab = lab();
    let out = audit(
        &lab,
        &[
            "--format",
            "table",
            "--year",
            "2026",
            "--report",
            report.to_str().unwrap(),
            &path("postfix-real.log"),
        ],
        None,
    );
    let text = String::from_utf8(ok(&out).stdout.clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 6, "{text}");
    for col in [
        "FINDING",
        "DOMAIN",
        "REASON",
        "STATUS",
        "MSGS",
        "FIRST SEEN",
        "RELAY",
        "SENDER",
    ] {
        assert!(lines[0].contains(col), "{text}");
    }
    let seed = lines
        .iter()
        .find(|l| l.starts_with("logged_delivered") && l.contains("nullmx.zz"))
        .unwrap_or_else(|| panic!("{text}"));
    let words: Vec<&str> = seed.split_whitespace().collect();
    assert_eq!(
        words,
        [
            "logged_delivered",
            "nullmx.zz",
            "null_mx",
            "5.1.10",
            "2",
            "2026-11-30T04:08:44Z",
            "2026-11-30T04:08:44Z",
            "127.0.0.1[127.0.0.1]:10925",
            "news@shop.zz"
        ]
    );
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains(".cards {"), "the report's style");
    assert!(
        html.contains("<b data-total=\"logged_delivered\">4</b>"),
        "4 messages: {html}"
    );
    assert!(html.contains("<td>nullmx.zz</td>"));
    assert!(html.contains("news@shop.zz (2)"));
    assert!(html.contains("id=\"senders\""));
    assert!(!html.contains("flaky.zz"), "retry is never a finding");
}

#[test]
fn fail_on_findings_exits_5_only_with_findings() {
    let dir = Dir::new();
    let healthy = dir.write(
        "ok.log",
        "2026-11-28 09:00:01 1tAbCd-000AbC-Ab => c@ok.zz R=dnslookup T=remote_smtp H=mx.ok.zz [93.184.215.14] C=\"250 OK\"\n\
         2026-11-28 09:00:01 1tAbCd-000AbC-Ab == w@flaky.zz R=dnslookup defer (-1): host lookup did not complete\n",
    );
    let lab = lab();
    let out = audit(
        &lab,
        &[
            "-f",
            "jsonl",
            "--fail-on-findings",
            healthy.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let out = audit(
        &lab,
        &["-f", "jsonl", "--fail-on-findings", &path("exim-main.log")],
        None,
    );
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert_eq!(jsonl(&out).len(), 4, "findings are written first");
    assert!(stderr(&out).contains("--fail-on-findings"));
}

#[test]
fn syslog_year_is_inferred_from_the_file_time() {
    let dir = Dir::new();
    let log = dir.write(
        "maillog",
        "Dec 31 23:59:00 mx1 postfix/smtp[1]: ABCDE12345: to=<a@gone.zz>, relay=none, delay=0, delays=0/0/0/0, dsn=5.4.4, status=bounced (Host or domain name not found)\n\
         Jan  1 00:01:00 mx1 postfix/smtp[1]: ABCDE12346: to=<b@gone.zz>, relay=none, delay=0, delays=0/0/0/0, dsn=5.4.4, status=bounced (Host or domain name not found)\n",
    );
    // Last written on 2026-01-02 (a time in the past: a file time in the
    // future is taken as now).
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600 + 86_400);
    std::fs::File::options()
        .write(true)
        .open(&log)
        .unwrap()
        .set_modified(t)
        .unwrap();
    let lab = lab();
    let f = findings(&audit(&lab, &["-f", "jsonl", log.to_str().unwrap()], None));
    let g = &f["bounced_preventable gone.zz"];
    assert_eq!(g["first_seen"], "2025-12-31T23:59:00Z");
    assert_eq!(g["last_seen"], "2026-01-01T00:01:00Z");
    assert_eq!(g["relays"], serde_json::json!([]), "relay=none");
}

#[test]
fn a_missing_file_is_an_error_naming_it() {
    let out = run(
        &["audit", "--zone", &path("mta.zone"), "/nonexistent/maillog"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("cannot open /nonexistent/maillog"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn verdicts_come_from_history_first() {
    let dir = Dir::new();
    let db = dir.path("history.sqlite");
    let db = db.to_str().unwrap();
    let lab = lab();
    let first = findings(&audit(
        &lab,
        &["-f", "jsonl", "--db", db, &path("exim-main.log")],
        None,
    ));
    // Now a resolver that never answers: the verdicts recorded above are
    // younger than --max-age, so DNS is not needed.
    let silent = SilentServer::start();
    let out = run(
        &[
            "audit",
            "--resolver",
            &silent.addr.to_string(),
            "--dns-timeout",
            "100ms",
            "--dns-attempts",
            "1",
            "--db",
            db,
            "-f",
            "jsonl",
            &path("exim-main.log"),
        ],
        None,
    );
    let again = findings(&out);
    assert_eq!(
        again.keys().collect::<Vec<_>>(),
        first.keys().collect::<Vec<_>>()
    );
    assert_eq!(again["deferred_dead private.zz"]["reason"], "mx_unroutable");
}

/// Keep this in sync with the example in the README (Auditing MTA logs).
#[test]
fn the_readme_example_is_true() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme
        .find("$ prebounce audit --zone tests/fixtures/mta/mta.zone")
        .expect("the example");
    let block = &readme[start..];
    let block = &block[..block.find("```").unwrap()];
    let shown: Vec<&str> = block.lines().skip(2).collect();
    let out = run(
        &[
            "audit",
            "--zone",
            &path("mta.zone"),
            "--year",
            "2026",
            "-f",
            "table",
            &path("postfix-real.log"),
            &path("exim-main.log"),
        ],
        None,
    );
    let text = String::from_utf8(ok(&out).stdout.clone()).unwrap();
    assert_eq!(text.lines().collect::<Vec<_>>(), shown);
}

/// An aiosmtpd sink on a loopback port that accepts every recipient but
/// `bounce*` (550 5.1.1) and `defer*` (451 4.3.0); killed on drop.
struct Sink {
    child: std::process::Child,
    _dir: Dir,
}

impl Sink {
    fn start(port: u16) -> Sink {
        let dir = Dir::new();
        let script = dir.write(
            "sink.py",
            r#"import asyncio, sys
from aiosmtpd.controller import Controller
class Sink:
    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0]
        if local.startswith("bounce"):
            return "550 5.1.1 <%s>: no such user here" % address
        if local.startswith("defer"):
            return "451 4.3.0 <%s>: try again later" % address
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"
    async def handle_DATA(self, server, session, envelope):
        return "250 2.0.0 OK queued"
c = Controller(Sink(), hostname="127.0.0.1", port=int(sys.argv[1]))
c.start()
asyncio.get_event_loop().run_until_complete(asyncio.sleep(600))
"#,
        );
        let child = std::process::Command::new("python3")
            .arg(&script)
            .arg(port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3");
        let sink = Sink { child, _dir: dir };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the aiosmtpd sink did not listen (is aiosmtpd installed? run scripts/test.sh)"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        sink
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Submits one message through smtpd on `port` with Python's smtplib.
fn submit(port: u16, from: &str, to: &[&str]) {
    let script = r#"
import smtplib, sys
port, sender, rcpts = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
s = smtplib.SMTP("127.0.0.1", port, timeout=30)
s.sendmail(sender, rcpts, "Subject: audit test\r\n\r\nhello\r\n")
s.quit()
"#;
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(port.to_string())
        .arg(from)
        .args(to)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "smtplib: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Live: Postfix relays mail for a null-MX and an NXDOMAIN domain to a
/// sink, logs `status=sent`, and audit reports it, with the relay.
#[test]
fn a_live_postfix_instance_logs_what_audit_reports() {
    let port = free_port();
    let _sink = Sink::start(port);
    // Postfix (tests/mta.rs) relaying everything to the sink on loopback.
    let relay = format!("relayhost=[127.0.0.1]:{port}");
    let pf = crate::mta::Postfix::start(
        "permit_mynetworks, reject",
        &[
            &relay,
            "default_transport=smtp",
            "relay_transport=relay",
            "smtp_tls_security_level=none",
            "myhostname=mx1.shop.zz",
        ],
    );
    submit(
        pf.smtp_port,
        "news@shop.zz",
        &["a@nullmx.zz", "b@nullmx.zz"],
    );
    submit(pf.smtp_port, "news@shop.zz", &["c@gone.zz"]);
    submit(pf.smtp_port, "alerts@ops.zz", &["d@ok.zz"]);
    submit(pf.smtp_port, "news@shop.zz", &["bounce-e@gone.zz"]);
    submit(pf.smtp_port, "alerts@ops.zz", &["defer-f@nullmx.zz"]);
    submit(pf.smtp_port, "alerts@ops.zz", &["defer-g@flaky.zz"]);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let want = [
        "to=<a@nullmx.zz>",
        "to=<b@nullmx.zz>",
        "to=<c@gone.zz>",
        "to=<d@ok.zz>",
        "to=<bounce-e@gone.zz>",
        "to=<defer-f@nullmx.zz>",
        "to=<defer-g@flaky.zz>",
    ];
    let log = loop {
        let log = pf.log();
        if want.iter().all(|w| log.contains(w)) {
            break log;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Postfix did not log every delivery in 30 s:\n{log}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let dir = Dir::new();
    let maillog = dir.write("maillog", &log);
    let lab = lab();
    let f = findings(&audit(
        &lab,
        &["-f", "jsonl", maillog.to_str().unwrap()],
        None,
    ));
    let keys: Vec<&str> = f.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "bounced_preventable gone.zz",
            "deferred_dead nullmx.zz",
            "logged_delivered gone.zz",
            "logged_delivered nullmx.zz",
        ],
        "{}",
        pf.log()
    );
    let n = &f["logged_delivered nullmx.zz"];
    assert_eq!(n["messages"], 2);
    assert_eq!(
        n["relays"][0]["name"],
        format!("127.0.0.1[127.0.0.1]:{port}")
    );
    assert_eq!(n["senders"][0]["name"], "news@shop.zz");
    assert_eq!(
        f["deferred_dead nullmx.zz"]["senders"][0]["name"],
        "alerts@ops.zz"
    );
    assert_eq!(f["bounced_preventable gone.zz"]["dsns"][0]["name"], "5.1.1");
}

#[test]
fn recipient_domains_are_normalized_like_check() {
    let dir = Dir::new();
    let log = dir.write(
        "kumo.jsonl",
        concat!(
            r#"{"type":"Delivery","sender":"news@shop.zz","recipient":"a@Bücher.zz","timestamp":1796029201}"#,
            "\n",
            r#"{"type":"Delivery","sender":"news@shop.zz","recipient":"b@XN--BCHER-KVA.zz.","timestamp":1796029202}"#,
            "\n",
            r#"{"type":"Bounce","sender":"news@shop.zz","recipient":"c@-bad-.zz","timestamp":1796029203}"#,
            "\n",
            r#"{"type":"Delivery","sender":"news@shop.zz","recipient":"postmaster","timestamp":1796029204}"#,
            "\n",
        ),
    );
    let lab = lab();
    let out = audit(&lab, &["-f", "jsonl", log.to_str().unwrap()], None);
    let f = findings(&out);
    assert_eq!(
        f.keys().collect::<Vec<_>>(),
        [
            "bounced_preventable -bad-.zz",
            "logged_delivered xn--bcher-kva.zz"
        ]
    );
    assert_eq!(f["logged_delivered xn--bcher-kva.zz"]["messages"], 2);
    assert_eq!(f["logged_delivered xn--bcher-kva.zz"]["reason"], "nxdomain");
    assert_eq!(
        f["bounced_preventable -bad-.zz"]["reason"],
        "domain_invalid"
    );
    assert!(
        stderr(&out).contains("1 to local recipients"),
        "{}",
        stderr(&out)
    );
}
