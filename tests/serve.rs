//! `prebounce serve` end to end: the real binary against the lab DNS
//! server (a process on loopback), asked with a real HTTP client (ureq):
//! every endpoint, every error status, keys and SIGHUP, limits, the rate
//! limit, merged lookups, the per-request timeout, graceful shutdown, the
//! page in headless Chromium and schemathesis against /openapi.json.

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::util::*;

/// The test world: a deliverable domain, a null MX, NXDOMAIN, SERVFAIL, a
/// server that never answers for `slow.zz`, and 40 deliverable domains
/// `d0.zz`... for the merging test.
fn world(dir: &Dir) -> LabProcess {
    let mut zone = String::from(
        "$ORIGIN zz.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 300\n\
         ;! fault fail.zz. servfail\n\
         ;! fault slow.zz. timeout\n\
         mx.ok A 93.184.215.14\n\
         ok MX 10 mx.ok\n\
         null MX 0 .\n\
         fail MX 10 mx.ok\n\
         slow MX 10 mx.ok\n\
         local MX 10 localhost.\n",
    );
    for i in 0..40 {
        zone.push_str(&format!("d{i} MX 10 mx.ok\n"));
    }
    let path = dir.write("world.zone", zone);
    LabProcess::start(&[&path], &[])
}

/// A `prebounce serve` process on an ephemeral loopback port.
struct Server {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Server {
    fn start(lab: &LabProcess, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let mut cmd = bin();
        cmd.args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--resolver",
            &lab.resolver(),
            "--dns-attempts",
            "1",
        ]);
        if !extra.contains(&"--dns-timeout") {
            cmd.args(["--dns-timeout", "500ms"]);
        }
        cmd.args(extra);
        cmd.envs(env.iter().copied());
        cmd.env_remove("PREBOUNCE_API_KEYS");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let server = spawn_server(&mut cmd, "serve");
        let Ok(addr) = server.listen.parse() else {
            server.did_not_start("serve")
        };
        Server {
            child: server.child,
            addr,
            log: server.log,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        let r = unsafe { libc::kill(self.child.id() as i32, sig) };
        assert_eq!(r, 0, "kill");
    }

    /// Waits for the process to exit (at most `limit`).
    fn wait(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn stderr(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client that returns every status as a response.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

struct Reply {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

fn reply(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut r = r.expect("an HTTP response");
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.body_mut().read_to_string().expect("a body");
    Reply {
        status,
        headers,
        body,
    }
}

fn post(s: &Server, path: &str, key: Option<&str>, body: &str) -> Reply {
    let mut req = agent()
        .post(s.url(path))
        .header("Content-Type", "application/json");
    if let Some(k) = key {
        req = req.header("Authorization", format!("Bearer {k}"));
    }
    reply(req.send(body))
}

fn get(s: &Server, path: &str, key: Option<&str>) -> Reply {
    let mut req = agent().get(s.url(path));
    if let Some(k) = key {
        req = req.header("Authorization", format!("Bearer {k}"));
    }
    reply(req.call())
}

/// `check --format jsonl` rows for `addresses` (one per line, in order).
fn check_rows(lab: &LabProcess, dir: &Dir, addresses: &[&str]) -> Vec<Value> {
    let list = dir.write("list.txt", addresses.join("\n") + "\n");
    let out = run_ok(
        &[
            "check",
            list.to_str().unwrap(),
            "--format",
            "jsonl",
            "--no-history",
            "--resolver",
            &lab.resolver(),
            "--dns-timeout",
            "500ms",
            "--dns-attempts",
            "1",
        ],
        None,
    );
    jsonl(&out)
}

/// A metric's value in the Prometheus text, by its full name with labels.
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn serve_results_are_check_jsonl_rows() {
    let dir = Dir::new();
    let lab = world(&dir);
    let s = Server::start(&lab, &["--no-history"], &[]);
    let addresses = [
        "ann@ok.zz",
        "bob@null.zz",
        "cy@nowhere.zz",
        "dee@fail.zz",
        "not an address",
        "eve@local.zz",
        "  Fay@OK.zz ",
        "HAL@Null.zz",
    ];
    let expected = check_rows(&lab, &dir, &addresses);
    assert_eq!(expected.len(), addresses.len());

    // One address: one object, equal to check's row (line 1).
    let one = post(
        &s,
        "/v1/check",
        None,
        &json!({"address": "ann@ok.zz"}).to_string(),
    );
    assert_eq!(one.status, 200, "{}", one.body);
    assert_eq!(one.headers.get("content-type").unwrap(), "application/json");
    assert_eq!(one.json(), expected[0]);
    assert_eq!(one.json()["action"], "deliver");

    // A list: results in order, each equal to check's row (line = position).
    let many = post(
        &s,
        "/v1/check",
        None,
        &json!({ "addresses": addresses }).to_string(),
    );
    assert_eq!(many.status, 200, "{}", many.body);
    let results = many.json()["results"].as_array().unwrap().clone();
    assert_eq!(results, expected);
    let reasons: Vec<&str> = results
        .iter()
        .map(|r| r["reason"].as_str().unwrap())
        .collect();
    assert_eq!(
        reasons,
        [
            "deliverable",
            "null_mx",
            "nxdomain",
            "dns_failure",
            "address_invalid",
            "mx_localhost",
            "deliverable",
            "null_mx"
        ]
    );
    // SERVFAIL is retry, never suppress.
    assert_eq!(results[3]["action"], "retry");

    // An empty list is an empty answer.
    let none = post(&s, "/v1/check", None, r#"{"addresses": []}"#);
    assert_eq!((none.status, none.json()), (200, json!({"results": []})));

    // The domain endpoint prints what `domain --format json` prints.
    for name in ["null.zz", "ok.zz", "fail.zz", "bad..name"] {
        let r = get(&s, &format!("/v1/domains/{name}"), None);
        assert_eq!(r.status, 200, "{name}: {}", r.body);
        let out = run_ok(
            &[
                "domain",
                name,
                "--format",
                "json",
                "--no-history",
                "--resolver",
                &lab.resolver(),
                "--dns-timeout",
                "500ms",
                "--dns-attempts",
                "1",
            ],
            None,
        );
        let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(r.json(), cli, "{name}");
    }
}

#[test]
fn serve_answers_every_endpoint_and_error() {
    let dir = Dir::new();
    let lab = world(&dir);
    let mut s = Server::start(
        &lab,
        &[
            "--max-batch",
            "3",
            "--max-body",
            "2KiB",
            "--request-timeout",
            "300ms",
            "--dns-timeout",
            "3s",
        ],
        &[],
    );
    let health = get(&s, "/healthz", None);
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");

    let doc = get(&s, "/openapi.json", None);
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in ["/v1/check", "/v1/domains/{domain}", "/healthz", "/metrics"] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }

    // Malformed JSON, and JSON of the wrong shape: 400 with a JSON body.
    for body in [
        "{\"address\": ",
        "[]",
        "{}",
        "{\"address\": 5}",
        "{\"addresses\": \"a@ok.zz\"}",
        "{\"address\": \"a@ok.zz\", \"addresses\": []}",
        "{\"address\": \"a@ok.zz\", \"extra\": 1}",
        "\u{0}",
    ] {
        let r = post(&s, "/v1/check", None, body);
        assert_eq!(r.status, 400, "{body:?}: {}", r.body);
        assert_eq!(r.json()["error"], "bad_request", "{body:?}");
        assert!(!r.json()["message"].as_str().unwrap().is_empty());
    }
    // Too many addresses: 413 with a clear JSON error.
    let r = post(
        &s,
        "/v1/check",
        None,
        r#"{"addresses": ["a@ok.zz", "b@ok.zz", "c@ok.zz", "d@ok.zz"]}"#,
    );
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(r.json()["error"], "too_many_addresses");
    assert!(r.json()["message"]
        .as_str()
        .unwrap()
        .contains("--max-batch"));
    // A body over --max-body: 413.
    let big = json!({ "address": "x".repeat(4096) }).to_string();
    let r = post(&s, "/v1/check", None, &big);
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(r.json()["error"], "payload_too_large");
    // No such route: a JSON 404.
    let r = get(&s, "/v2/nothing", None);
    assert_eq!(r.status, 404);
    assert_eq!(r.json()["error"], "not_found");
    // The page: the empty form, and without keys a linkable answer.
    let r = get(&s, "/", None);
    assert_eq!(r.status, 200);
    assert!(r.body.contains("<form method=\"post\" action=\"/\">"));
    assert!(
        !r.body.contains("name=\"key\""),
        "no key field without keys"
    );
    let r = get(&s, "/?addresses=ann%40null.zz%0Abob%40ok.zz", None);
    assert_eq!(r.status, 200);
    assert!(r.body.contains("data-reason=\"null_mx\""), "{}", r.body);
    assert!(r.body.contains("data-reason=\"deliverable\""), "{}", r.body);
    // A known route with another method: a JSON 405.
    let r = get(&s, "/v1/check", None);
    assert_eq!(r.status, 405);
    assert_eq!(r.json()["error"], "method_not_allowed");

    // A lookup that outlasts the request's time: a retry row, not a 5xx,
    // in about --request-timeout.
    let started = Instant::now();
    let r = post(
        &s,
        "/v1/check",
        None,
        r#"{"addresses": ["a@slow.zz", "b@null.zz"]}"#,
    );
    let took = started.elapsed();
    assert_eq!(r.status, 200, "{}", r.body);
    let rows = r.json()["results"].as_array().unwrap().clone();
    assert_eq!(rows[0]["action"], "retry");
    assert_eq!(rows[0]["reason"], "dns_failure");
    assert_eq!(rows[0]["warnings"], serde_json::json!(["unfinished"]));
    assert!(
        rows[0]["detail"]
            .as_str()
            .unwrap()
            .contains("--request-timeout"),
        "{}",
        rows[0]
    );
    assert_eq!(rows[1]["reason"], "null_mx");
    assert!(took < Duration::from_secs(3), "took {took:?}");
    // The domain endpoint too.
    let r = get(&s, "/v1/domains/slow.zz", None);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["action"], "retry");

    // Metrics: requests by route and status, latency, verdicts, DNS.
    let m = get(&s, "/metrics", None);
    assert_eq!(m.status, 200);
    assert!(m
        .headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = &m.body;
    let count = |name: &str| metric(text, name).unwrap_or_else(|| panic!("{name} in {text}"));
    assert_eq!(
        count("prebounce_http_requests_total{route=\"/v1/check\",status=\"400\"}"),
        8.0
    );
    assert_eq!(
        count("prebounce_http_requests_total{route=\"/v1/check\",status=\"413\"}"),
        2.0
    );
    assert_eq!(
        count("prebounce_http_requests_total{route=\"/v1/check\",status=\"200\"}"),
        1.0
    );
    assert_eq!(
        count("prebounce_http_requests_total{route=\"other\",status=\"404\"}"),
        1.0
    );
    assert_eq!(
        count("prebounce_http_requests_total{route=\"/v1/check\",status=\"405\"}"),
        1.0
    );
    assert_eq!(
        count("prebounce_http_request_duration_seconds_count{route=\"/v1/check\"}"),
        12.0
    );
    assert_eq!(
        count("prebounce_http_request_duration_seconds_bucket{route=\"/healthz\",le=\"+Inf\"}"),
        1.0
    );
    assert_eq!(
        count("prebounce_verdicts_total{action=\"suppress\",reason=\"null_mx\"}"),
        2.0,
        "the API's row and the page's"
    );
    assert_eq!(
        count("prebounce_http_requests_total{route=\"/\",status=\"200\"}"),
        2.0
    );
    assert_eq!(
        count("prebounce_verdicts_total{action=\"retry\",reason=\"dns_failure\"}"),
        2.0
    );
    assert_eq!(count("prebounce_request_timeouts_total"), 2.0);
    assert!(count("prebounce_dns_queries_total") >= 2.0);
    assert!(metric(text, "prebounce_dns_cache_hits_total").is_some());
    assert!(metric(text, "prebounce_history_reused_total").is_some());

    // SIGINT stops it cleanly too.
    s.signal(libc::SIGINT);
    let status = s.wait(Duration::from_secs(10)).expect("serve exits");
    assert_eq!(status.code(), Some(0), "{}", s.stderr());
}

#[test]
fn serve_merges_identical_lookups_and_caches_them() {
    let dir = Dir::new();
    let lab = world(&dir);
    let s = Arc::new(Server::start(
        &lab,
        &["--no-history", "--rate-limit", "off"],
        &[],
    ));
    // 16 clients at once ask for the same 40 new domains.
    let addresses: Vec<String> = (0..40).map(|i| format!("x@d{i}.zz")).collect();
    let body = json!({ "addresses": addresses }).to_string();
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let s = s.clone();
            let body = body.clone();
            std::thread::spawn(move || post(&s, "/v1/check", None, &body))
        })
        .collect();
    for t in threads {
        let r = t.join().unwrap();
        assert_eq!(r.status, 200, "{}", r.body);
        let results = r.json()["results"].as_array().unwrap().clone();
        assert_eq!(results.len(), 40);
        for (i, row) in results.iter().enumerate() {
            assert_eq!(row["address"], format!("x@d{i}.zz"));
            assert_eq!(row["reason"], "deliverable");
        }
    }
    // Asked again later: from the cache.
    let r = post(&s, "/v1/check", None, &body);
    assert_eq!(r.status, 200);
    let text = get(&s, "/metrics", None).body;
    // One MX question per domain, however many asked at once, and the A
    // and AAAA of the one MX host (retransmissions are not counted).
    assert_eq!(
        metric(&text, "prebounce_dns_queries_total"),
        Some(42.0),
        "{text}"
    );
    let mut mx: Vec<String> = lab
        .queries()
        .into_iter()
        .filter(|(_, t, n)| t == "MX" && n.starts_with('d'))
        .map(|(_, _, n)| n)
        .collect();
    mx.sort();
    mx.dedup();
    assert_eq!(mx.len(), 40, "every domain was asked");
    // The last request's 40 rows at least came from the cache.
    assert!(
        metric(&text, "prebounce_verdict_cache_hits_total").unwrap() >= 40.0,
        "{text}"
    );
    assert_eq!(
        metric(
            &text,
            "prebounce_verdicts_total{action=\"deliver\",reason=\"deliverable\"}"
        ),
        Some(17.0 * 40.0)
    );
}

#[test]
fn serve_checks_a_domain_again_after_the_cache_ttl() {
    let dir = Dir::new();
    let lab = world(&dir);
    let s = Server::start(&lab, &["--no-history", "--cache-ttl", "1s"], &[]);
    let body = r#"{"address": "x@d7.zz"}"#;
    // DNS questions the server asked (retransmissions not counted).
    let asked = || {
        let text = get(&s, "/metrics", None).body;
        metric(&text, "prebounce_dns_queries_total").unwrap()
    };
    assert_eq!(
        post(&s, "/v1/check", None, body).json()["reason"],
        "deliverable"
    );
    let first = asked();
    assert!(first >= 1.0);
    assert_eq!(
        post(&s, "/v1/check", None, body).json()["reason"],
        "deliverable"
    );
    assert_eq!(
        asked(),
        first,
        "the second request was answered from the cache"
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        post(&s, "/v1/check", None, body).json()["reason"],
        "deliverable"
    );
    assert!(asked() > first, "past --cache-ttl, DNS was asked again");
    let mx = lab
        .queries()
        .into_iter()
        .filter(|(_, t, n)| t == "MX" && n == "d7.zz.")
        .count();
    assert!(mx >= 2, "the lab saw the MX question again");
}

#[test]
fn serve_needs_a_key_when_keys_are_on_and_rereads_them_on_sighup() {
    let dir = Dir::new();
    let lab = world(&dir);
    let keys = dir.write("keys", "# the ops team\n\nalpha-key-1\n  beta-key-2  \n");
    let s = Server::start(
        &lab,
        &["--no-history", "--api-keys", keys.to_str().unwrap()],
        &[],
    );
    let body = r#"{"address": "ann@null.zz"}"#;
    // No key, a wrong key, a prefix of a key, another scheme: 401, JSON.
    for (key, header) in [
        (None, None),
        (Some("wrong"), None),
        (Some("alpha-key-"), None),
        (Some("alpha-key-10"), None),
        (None, Some("Basic YWxwaGEta2V5LTE=")),
    ] {
        let mut req = agent()
            .post(s.url("/v1/check"))
            .header("Content-Type", "application/json");
        if let Some(k) = key {
            req = req.header("Authorization", format!("Bearer {k}"));
        }
        if let Some(h) = header {
            req = req.header("Authorization", h);
        }
        let r = reply(req.send(body));
        assert_eq!(r.status, 401, "{key:?} {header:?}: {}", r.body);
        assert_eq!(r.json()["error"], "unauthorized");
        assert!(r.headers.get("www-authenticate").is_some());
    }
    for k in ["alpha-key-1", "beta-key-2"] {
        let r = post(&s, "/v1/check", Some(k), body);
        assert_eq!(r.status, 200, "{k}: {}", r.body);
        assert_eq!(r.json()["reason"], "null_mx");
    }
    assert_eq!(get(&s, "/v1/domains/null.zz", None).status, 401);
    assert_eq!(
        get(&s, "/v1/domains/null.zz", Some("beta-key-2")).status,
        200
    );
    assert_eq!(get(&s, "/metrics", None).status, 401);
    assert_eq!(get(&s, "/metrics", Some("alpha-key-1")).status, 200);
    // No key needed: health, the document, the empty form.
    assert_eq!(get(&s, "/healthz", None).status, 200);
    assert_eq!(get(&s, "/openapi.json", None).status, 200);
    assert_eq!(get(&s, "/", None).status, 200);

    // SIGHUP: the file again; the old key is gone, the new one works.
    std::fs::write(&keys, "gamma-key-3\n").unwrap();
    s.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(5);
    while post(&s, "/v1/check", Some("gamma-key-3"), body).status != 200 {
        assert!(Instant::now() < deadline, "{}", s.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(post(&s, "/v1/check", Some("alpha-key-1"), body).status, 401);
    assert!(
        s.stderr().contains("1 API key(s) in force"),
        "{}",
        s.stderr()
    );
    // An unreadable file keeps the keys in force.
    std::fs::remove_file(&keys).unwrap();
    s.signal(libc::SIGHUP);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !s.stderr().contains("the keys in force stay") {
        assert!(Instant::now() < deadline, "{}", s.stderr());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(post(&s, "/v1/check", Some("gamma-key-3"), body).status, 200);

    // Keys from the environment.
    let e = Server::start(&lab, &["--no-history"], &[("PREBOUNCE_API_KEYS", "k1, k2")]);
    assert_eq!(post(&e, "/v1/check", None, body).status, 401);
    assert_eq!(post(&e, "/v1/check", Some("k2"), body).status, 200);
}

#[test]
fn serve_refuses_a_public_address_without_keys() {
    let out = run(&["serve", "--listen", "0.0.0.0:0", "--no-history"], None);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("not a loopback address") && err.contains("--no-auth"),
        "{err}"
    );
    let out = run(
        &[
            "serve",
            "--listen",
            "[::]:0",
            "--no-history",
            "--max-batch",
            "0",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    for bad in [
        ["--rate-limit", "0/s"],
        ["--rate-limit", "fast"],
        ["--max-body", "1GiB"],
        ["--request-timeout", "0s"],
    ] {
        let out = run(&["serve", "--no-history", bad[0], bad[1]], None);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
    }
}

#[test]
fn serve_rate_limits_each_key() {
    let dir = Dir::new();
    let lab = world(&dir);
    let keys = dir.write("keys", "one\ntwo\n");
    let s = Server::start(
        &lab,
        &[
            "--no-history",
            "--api-keys",
            keys.to_str().unwrap(),
            "--rate-limit",
            "2/s,burst=4",
        ],
        &[],
    );
    let body = r#"{"address": "ann@ok.zz"}"#;
    let started = Instant::now();
    for i in 0..4 {
        let r = post(&s, "/v1/check", Some("one"), body);
        assert_eq!(r.status, 200, "request {i}: {}", r.body);
    }
    let r = post(&s, "/v1/check", Some("one"), body);
    // Unless this machine took more than half a second for the burst, the
    // bucket is empty now.
    if started.elapsed() < Duration::from_millis(450) {
        assert_eq!(r.status, 429, "{}", r.body);
        assert_eq!(r.json()["error"], "rate_limited");
        assert_eq!(r.headers.get("retry-after").unwrap(), "1");
    }
    // Another key has its own bucket.
    assert_eq!(post(&s, "/v1/check", Some("two"), body).status, 200);
    // Half a second later, one more token.
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(post(&s, "/v1/check", Some("one"), body).status, 200);
    let m = get(&s, "/metrics", Some("two")).body;
    assert!(metric(&m, "prebounce_rate_limited_total").unwrap() >= 1.0);
}

#[test]
fn serve_finishes_requests_in_flight_on_sigterm_and_records_history() {
    let dir = Dir::new();
    let lab = world(&dir);
    let db = dir.path("history.sqlite");
    let mut s = Server::start(
        &lab,
        &[
            "--db",
            db.to_str().unwrap(),
            "--dns-timeout",
            "1500ms",
            "--request-timeout",
            "10s",
        ],
        &[],
    );
    let addr = s.addr;
    // A request that waits on a server that never answers...
    let slow = std::thread::spawn(move || {
        let started = Instant::now();
        let r = reply(
            agent()
                .post(format!("http://{addr}/v1/check"))
                .send(r#"{"addresses": ["a@slow.zz", "b@null.zz"]}"#),
        );
        (r, started.elapsed())
    });
    std::thread::sleep(Duration::from_millis(400));
    // ...is in flight when SIGTERM comes.
    s.signal(libc::SIGTERM);
    let (r, took) = slow.join().unwrap();
    assert_eq!(r.status, 200, "{}", r.body);
    let rows = r.json()["results"].as_array().unwrap().clone();
    assert_eq!(rows[0]["reason"], "dns_failure");
    assert_eq!(rows[0]["dns"]["mx"], "timeout");
    assert_eq!(rows[1]["reason"], "null_mx");
    assert!(
        took >= Duration::from_millis(1000),
        "it waited for DNS: {took:?}"
    );
    let status = s.wait(Duration::from_secs(10)).expect("serve exits");
    assert_eq!(status.code(), Some(0), "{}", s.stderr());
    // No new connection after that.
    assert!(std::net::TcpStream::connect(addr).is_err());
    // The history held back (the failure) was written at the end.
    for domain in ["slow.zz", "null.zz"] {
        let observations = timeline(&db, domain);
        assert_eq!(observations.len(), 1, "{domain}: {observations:?}");
    }
}

/// Drives headless Chromium over the DevTools protocol (a pipe): opens the
/// page, types into the form as a person would (the page has no script of
/// its own), submits it, and prints the result rows' text and a screenshot.
fn form_script() -> String {
    devtools_script(
        r#"    url, shot, addresses, key = args[:4]
    target = call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    call("Page.enable", {}, session)
    call("Emulation.setDeviceMetricsOverride",
         {"width": 1000, "height": 700, "deviceScaleFactor": 1, "mobile": False}, session)
    events.clear()
    call("Page.navigate", {"url": url}, session)
    wait_for("Page.loadEventFired")
    scripts = js(session, "document.scripts.length")
    # Type the list into the textarea, and the key, then press the button.
    js(session, "document.querySelector('#addresses').focus()")
    call("Input.insertText", {"text": addresses}, session)
    if key:
        js(session, "document.querySelector('#key').focus()")
        call("Input.insertText", {"text": key}, session)
    box = js(session, "(() => { const r = document.querySelector('button[type=submit]').getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()")
    events.clear()
    for kind in ("mousePressed", "mouseReleased"):
        call("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1], "button": "left", "clickCount": 1}, session)
    wait_for("Page.loadEventFired")
    rows = js(session, "[...document.querySelectorAll('tr.result')].map(r => [r.dataset.action, r.dataset.reason, r.querySelector('.address').textContent, r.querySelector('.detail').textContent])")
    message_text = js(session, "(document.querySelector('#message') || {}).textContent || null")
    png = call("Page.captureScreenshot", {"format": "png"}, session)["data"]
    with open(shot, "wb") as f:
        f.write(base64.b64decode(png))
    print(json.dumps({"rows": rows, "message": message_text, "scripts": scripts,
                      "url": js(session, "location.href")}))
"#,
    )
}

fn fill_form(dir: &Dir, s: &Server, addresses: &str, key: &str, shot: &std::path::Path) -> Value {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(form_script())
        .arg(chromium())
        .arg(dir.path(&format!("chromium-{}", key.len())))
        .arg(s.url("/"))
        .arg(shot)
        .arg(addresses)
        .arg(key)
        .output()
        .expect("python3 (the DevTools client) runs");
    assert!(
        out.status.success(),
        "the browser run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the browser's findings")
}

#[test]
fn serve_page_form_works_in_headless_chromium() {
    let dir = Dir::new();
    let lab = world(&dir);
    let keys = dir.write("keys", "page-key\n");
    let s = Server::start(
        &lab,
        &["--no-history", "--api-keys", keys.to_str().unwrap()],
        &[],
    );
    // Where the screenshot is kept, to look at: target/serve-page.png.
    let shot = root().join("target").join("serve-page.png");
    let found = fill_form(
        &dir,
        &s,
        "ann@ok.zz\nbob@null.zz\ndee@fail.zz\nnot an address",
        "page-key",
        &shot,
    );
    assert_eq!(found["scripts"], 0, "the page has no script");
    let rows = found["rows"].as_array().unwrap();
    let got: Vec<(&str, &str, &str)> = rows
        .iter()
        .map(|r| {
            (
                r[0].as_str().unwrap(),
                r[1].as_str().unwrap(),
                r[2].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("deliver", "deliverable", "ann@ok.zz"),
            ("suppress", "null_mx", "bob@null.zz"),
            ("retry", "dns_failure", "dee@fail.zz"),
            ("suppress", "address_invalid", "not an address"),
        ]
    );
    assert!(
        rows[1][3].as_str().unwrap().contains("null MX"),
        "{}",
        rows[1]
    );
    let png = std::fs::read(&shot).unwrap();
    assert!(png.starts_with(b"\x89PNG") && png.len() > 5000);
    // A wrong key: the form again, with a message, and no verdict.
    let found = fill_form(&dir, &s, "ann@ok.zz", "nope", &dir.path("wrong.png"));
    assert_eq!(found["rows"], json!([]));
    assert!(found["message"].as_str().unwrap().contains("not valid"));
}

/// The schemathesis command: its script on PATH, else the module of
/// python3 (pip may put scripts off PATH).
fn schemathesis() -> std::process::Command {
    let works = |cmd: &mut std::process::Command| {
        cmd.arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    if works(&mut std::process::Command::new("schemathesis")) {
        return std::process::Command::new("schemathesis");
    }
    let module = || {
        let mut c = std::process::Command::new("python3");
        c.args(["-m", "schemathesis.cli"]);
        c
    };
    assert!(
        works(&mut module()),
        "schemathesis is not installed: run scripts/test.sh, which installs it from PyPI"
    );
    module()
}

/// Schemathesis (from PyPI; scripts/test.sh installs it) generates
/// requests from /openapi.json and checks every answer against it: no
/// server error, every status and body as documented.
#[test]
fn serve_passes_schemathesis() {
    let dir = Dir::new();
    let lab = world(&dir);
    let keys = dir.write("keys", "st-key\n");
    let s = Server::start(
        &lab,
        &[
            "--no-history",
            "--api-keys",
            keys.to_str().unwrap(),
            "--rate-limit",
            "off",
            "--request-timeout",
            "2s",
        ],
        &[],
    );
    let mut cmd = schemathesis();
    let out = cmd
        .current_dir(dir.tmp.path())
        .env("SCHEMATHESIS_HOOKS", "")
        .args([
            "run",
            &s.url("/openapi.json"),
            "--url",
            &s.url(""),
            "-H",
            "Authorization: Bearer st-key",
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance",
            "--max-examples",
            "40",
            "--seed",
            "1",
            "--request-timeout",
            "10",
            "--no-color",
        ])
        .stdin(Stdio::null())
        .output()
        .expect("run schemathesis");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    let _ = (&out.stderr[..]).read_to_string(&mut text);
    assert!(out.status.success(), "schemathesis found problems:\n{text}");
    // It did test: many cases, over every operation.
    let generated = text
        .lines()
        .find_map(|l| l.trim().strip_suffix(" passed")?.split_once(" generated, "))
        .map(|(g, p)| {
            (
                g.trim().parse::<u64>().unwrap(),
                p.trim().parse::<u64>().unwrap(),
            )
        });
    let (generated, passed) = generated.unwrap_or_else(|| panic!("no totals in:\n{text}"));
    assert!(generated >= 50 && passed == generated, "{text}");
    assert!(text.contains("Tested: 4"), "{text}");
}
