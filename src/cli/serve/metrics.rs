//! `GET /metrics`: the Prometheus text format, written by hand over
//! atomics (requests by route and status, a latency histogram per route,
//! verdicts by action and reason) and the checker's own counters (DNS
//! queries, caches, history reuse).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use prebounce::Checker;
use prebounce_core::verdict::Verdict;

/// The routes, as their `route` label says them.
pub const ROUTES: [&str; 8] = [
    "/v1/check",
    "/v1/domains/{domain}",
    "/healthz",
    "/metrics",
    "/openapi.json",
    "/",
    "other",
    "/v1/noop",
];

/// The latency histogram's upper bounds, in seconds.
const BUCKETS: [f64; 14] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

#[derive(Default)]
struct Histogram {
    /// Per bucket (not cumulative), then +Inf.
    counts: [AtomicU64; BUCKETS.len() + 1],
    /// Microseconds.
    sum_us: AtomicU64,
}

impl Histogram {
    fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|&b| s <= b)
            .unwrap_or(BUCKETS.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_us
            .fetch_add(d.as_micros() as u64, Ordering::Relaxed);
    }
}

/// The server's counters.
#[derive(Default)]
pub struct Metrics {
    latency: [Histogram; ROUTES.len()],
    statuses: Mutex<BTreeMap<(usize, u16), u64>>,
    verdicts: Mutex<BTreeMap<(&'static str, &'static str), u64>>,
    /// Addresses whose domain was already checked or being checked (the
    /// verdict cache, or a lookup in flight that the row joined).
    pub verdict_cache_hits: AtomicU64,
    /// Rows answered as retry because the request's time ran out.
    pub timeouts: AtomicU64,
    /// Requests refused by the rate limit.
    pub rate_limited: AtomicU64,
}

/// The index of a route label in [`ROUTES`].
pub fn route_index(path: &str) -> usize {
    ROUTES.iter().position(|r| *r == path).unwrap_or(6)
}

impl Metrics {
    /// Counts one answered request.
    pub fn request(&self, route: usize, status: u16, took: Duration) {
        self.latency[route].observe(took);
        *self
            .statuses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry((route, status))
            .or_default() += 1;
    }

    /// Counts the verdicts of a response's rows.
    pub fn verdicts<'a>(&self, verdicts: impl Iterator<Item = &'a Verdict>) {
        let mut m = self.verdicts.lock().unwrap_or_else(|e| e.into_inner());
        for v in verdicts {
            *m.entry((v.action().as_str(), v.reason.code())).or_default() += 1;
        }
    }

    /// The whole text exposition.
    pub fn render(&self, checker: &Checker, keys: usize) -> String {
        let mut out = String::with_capacity(4096);
        let w = &mut out;
        let _ = writeln!(
            w,
            "# HELP prebounce_http_requests_total HTTP requests answered, by route and status."
        );
        let _ = writeln!(w, "# TYPE prebounce_http_requests_total counter");
        for ((route, status), n) in self
            .statuses
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                w,
                "prebounce_http_requests_total{{route=\"{}\",status=\"{status}\"}} {n}",
                ROUTES[*route]
            );
        }
        let _ = writeln!(w, "# HELP prebounce_http_request_duration_seconds Time from a request's arrival to its response, by route.");
        let _ = writeln!(
            w,
            "# TYPE prebounce_http_request_duration_seconds histogram"
        );
        for (i, route) in ROUTES.iter().enumerate() {
            let h = &self.latency[i];
            let counts: Vec<u64> = h.counts.iter().map(|c| c.load(Ordering::Relaxed)).collect();
            let total: u64 = counts.iter().sum();
            if total == 0 {
                continue;
            }
            let mut cum = 0;
            for (b, n) in BUCKETS.iter().zip(&counts) {
                cum += n;
                let _ = writeln!(
                    w,
                    "prebounce_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{b}\"}} {cum}"
                );
            }
            let _ = writeln!(
                w,
                "prebounce_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {total}"
            );
            let _ = writeln!(
                w,
                "prebounce_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
                h.sum_us.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                w,
                "prebounce_http_request_duration_seconds_count{{route=\"{route}\"}} {total}"
            );
        }
        let _ = writeln!(
            w,
            "# HELP prebounce_verdicts_total Rows answered, by action and reason."
        );
        let _ = writeln!(w, "# TYPE prebounce_verdicts_total counter");
        for ((action, reason), n) in self
            .verdicts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                w,
                "prebounce_verdicts_total{{action=\"{action}\",reason=\"{reason}\"}} {n}"
            );
        }
        let stats = checker.resolver().stats();
        let t = &stats.transport;
        let counters: [(&str, &str, u64); 8] = [
            ("prebounce_dns_queries_total", "DNS questions asked (retransmissions not counted).", stats.queries),
            ("prebounce_dns_cache_hits_total", "Host lookups answered from the resolver's cache or merged with one in flight.", stats.cache_hits),
            ("prebounce_dns_datagrams_sent_total", "UDP datagrams sent.", t.sent),
            ("prebounce_dns_retransmitted_total", "Datagrams sent again after a timeout.", t.retransmits),
            ("prebounce_verdict_cache_hits_total", "Addresses whose domain was already checked or in flight (answered from the verdict cache or merged).", self.verdict_cache_hits.load(Ordering::Relaxed)),
            ("prebounce_history_reused_total", "Domains decided from stored evidence instead of DNS.", checker.history_reuse().map(|r| r.reused).unwrap_or(0)),
            ("prebounce_request_timeouts_total", "Rows answered as retry because the request's time limit ran out.", self.timeouts.load(Ordering::Relaxed)),
            ("prebounce_rate_limited_total", "Requests refused by the rate limit (429).", self.rate_limited.load(Ordering::Relaxed)),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(w, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        }
        let gauges: [(&str, &str, u64); 3] = [
            (
                "prebounce_domains_cached",
                "Distinct domains in the verdict cache.",
                checker.cached_domains() as u64,
            ),
            ("prebounce_api_keys", "API keys in force.", keys as u64),
            (
                "prebounce_resolver_healthy",
                "1 unless the resolver failed its health check.",
                u64::from(checker.resolver_unhealthy().is_none()),
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(w, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        out
    }
}
