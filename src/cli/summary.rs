//! The end-of-run summary of `prebounce check`: one set of facts
//! ([`Summary`]), written as text for people (standard error, at most 80
//! columns) and as JSON for machines (`--summary-json FILE`).

use std::collections::BTreeMap;
use std::time::Duration;

use prebounce_core::verdict::{Action, Reason};
use serde::Serialize;

use super::config::DnsSetup;

/// The width the text summary keeps to.
pub const WIDTH: usize = 80;

/// Counts of the rows written, for the summary.
#[derive(Default)]
pub struct Counts {
    pub rows: u64,
    /// By the row's action and reason (a reason can appear under another
    /// action than its own: `nxdomain` held as `retry`, say).
    pub verdicts: BTreeMap<(Action, Reason), u64>,
}

impl Counts {
    pub fn add(&mut self, action: Action, reason: Reason) {
        self.rows += 1;
        *self.verdicts.entry((action, reason)).or_default() += 1;
    }

    /// Rows with this reason, whatever their action.
    pub fn of_reason(&self, reason: Reason) -> u64 {
        self.verdicts
            .iter()
            .filter(|((_, r), _)| *r == reason)
            .map(|(_, n)| n)
            .sum()
    }
}

/// Everything the summary says.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// The run was stopped by SIGINT: the counts cover the rows written.
    pub interrupted: bool,
    pub rows: u64,
    pub domains: u64,
    pub seconds: f64,
    pub rows_per_second: f64,
    pub domains_per_second: f64,
    /// `deliver`, `retry` and `suppress`, always all three.
    pub actions: BTreeMap<&'static str, ActionFacts>,
    /// Where the history store is; `null` when history is off.
    pub store: Option<String>,
    /// `null` when history is off.
    pub history: Option<HistoryFacts>,
    /// The resolver asked, the engine, timeout and attempts.
    pub resolver: String,
    pub health: HealthFacts,
    pub outage: OutageFacts,
    pub dns: DnsFacts,
    /// `null` without `--probe`.
    pub probe: Option<ProbeFacts>,
}

#[derive(Debug, Serialize)]
pub struct Share {
    pub count: u64,
    /// Of all rows, 0 to 100.
    pub percent: f64,
}

#[derive(Debug, Serialize)]
pub struct ActionFacts {
    pub count: u64,
    pub percent: f64,
    /// By reason code; only reasons that occurred.
    pub reasons: BTreeMap<&'static str, Share>,
}

#[derive(Debug, Serialize)]
pub struct HistoryFacts {
    /// Domains decided from stored evidence, without DNS.
    pub reused: u64,
    /// Domains resolved now.
    pub resolved: u64,
    /// The oldest reused observation (RFC 3339), `null` when none.
    pub oldest_observed: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct HealthFacts {
    /// Whether the resolver health check is on (off with `--dns-canary
    /// none` and in offline `--zone` runs).
    pub enabled: bool,
    /// How many checks ran.
    pub checks: u64,
    /// `null` when the check is off.
    pub healthy: Option<bool>,
    /// Why the resolver was found unhealthy.
    pub problem: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct OutageFacts {
    /// Distinct domains decided from fresh DNS evidence.
    pub decided: u64,
    /// Of those, the ones that failed temporarily.
    pub temporary: u64,
    /// More than half of at least 20 failed: an outage on our side.
    pub outage: bool,
    /// Temporary failures recorded as not counting toward `dead_domain`
    /// (more than half of their window of domains failed).
    pub uncounted: u64,
}

#[derive(Debug, Serialize)]
pub struct DnsFacts {
    pub queries: u64,
    pub cache_hits: u64,
    pub datagrams_sent: u64,
    pub retransmitted: u64,
    pub tcp: u64,
    pub source_ports: u64,
    pub dropped_replies: u64,
    /// DNS 0x20 was on.
    pub case_randomization: bool,
    /// Servers 0x20 was turned off for (they do not echo the case).
    pub case_fallback_servers: u64,
    pub wrong_case_replies: u64,
    pub oversize_replies: u64,
    /// The spoofing defences in words, as the text summary says them.
    #[serde(skip)]
    pub defences: String,
}

#[derive(Debug, Serialize)]
pub struct ProbeFacts {
    pub port: u16,
    pub probed: u64,
    pub answered: u64,
    pub failed: u64,
    pub seconds: f64,
    /// Why outbound port 25 seems blocked here; `null` when it is not.
    pub blocked: Option<String>,
}

fn percent(n: u64, total: u64) -> f64 {
    if total == 0 {
        0.0
    } else {
        n as f64 * 100.0 / total as f64
    }
}

impl Summary {
    /// Gathers the facts of a run.
    pub fn collect(
        counts: &Counts,
        elapsed: Duration,
        setup: &DnsSetup,
        probe_blocked: Option<String>,
        interrupted: bool,
    ) -> Summary {
        let checker = &setup.checker;
        let secs = elapsed.as_secs_f64().max(1e-6);
        let domains = checker.domains_seen() as u64;
        let total = counts.rows;
        let actions = action_facts(counts, total);
        let history = checker.history_reuse().map(|reuse| HistoryFacts {
            reused: reuse.reused,
            resolved: domains.saturating_sub(reuse.reused),
            oldest_observed: reuse.oldest.map(prebounce_core::history::format_rfc3339),
        });
        let health = match (checker.health_checks(), checker.resolver_unhealthy()) {
            (None, _) => HealthFacts {
                enabled: false,
                checks: 0,
                healthy: None,
                problem: None,
            },
            (Some(n), why) => HealthFacts {
                enabled: true,
                checks: n,
                healthy: Some(why.is_none()),
                problem: why,
            },
        };
        let outage = checker.outage();
        let stats = checker.resolver().stats();
        let t = stats.transport;
        let probe = checker.prober().map(|p| {
            let s = p.stats();
            ProbeFacts {
                port: p.config().port,
                probed: s.probed,
                answered: s.answered,
                failed: s.failed,
                seconds: s.span_ms as f64 / 1000.0,
                blocked: probe_blocked,
            }
        });
        Summary {
            interrupted,
            rows: total,
            domains,
            seconds: secs,
            rows_per_second: total as f64 / secs,
            domains_per_second: domains as f64 / secs,
            actions,
            store: checker.history_location(),
            history,
            resolver: setup.describe(),
            health,
            outage: OutageFacts {
                decided: outage.decided,
                temporary: outage.temporary,
                outage: outage.is_outage(),
                uncounted: checker.uncounted(),
            },
            dns: DnsFacts {
                queries: stats.queries,
                cache_hits: stats.cache_hits,
                datagrams_sent: t.sent,
                retransmitted: t.retransmits,
                tcp: t.tcp,
                source_ports: t.ports,
                dropped_replies: t.unmatched,
                case_randomization: t.case_randomization,
                case_fallback_servers: t.case_fallbacks,
                wrong_case_replies: t.case_mismatches,
                oversize_replies: t.oversize,
                defences: t.defences(),
            },
            probe,
        }
    }

    /// The summary as text for people, no line wider than [`WIDTH`]
    /// columns unless one item alone is (a long path).
    pub fn text(&self) -> String {
        let mut s = String::new();
        if self.interrupted {
            s.push_str(&wrap(
                "prebounce: ",
                &format!(
                    "INTERRUPTED (SIGINT): partial results, {} rows written in input order; the rest of the input was not checked",
                    thousands(self.rows)
                ),
                11,
            ));
        }
        s.push_str(&wrap(
            "prebounce: ",
            &format!(
                "{} rows, {} distinct domains, {} s, {} rows/s, {} domains/s",
                thousands(self.rows),
                thousands(self.domains),
                seconds(self.seconds),
                thousands(self.rows_per_second.round() as u64),
                thousands(self.domains_per_second.round() as u64),
            ),
            11,
        ));
        s.push_str(&self.actions_text());
        match &self.store {
            Some(store) => s.push_str(&wrap("  store: ", store, 9)),
            None => s.push_str("  store: none (history off)\n"),
        }
        match &self.history {
            Some(h) => {
                let oldest = match &h.oldest_observed {
                    Some(at) => format!("; oldest observed {at}"),
                    None => String::new(),
                };
                s.push_str(&wrap(
                    "  history: ",
                    &format!(
                        "{} domains decided from stored evidence, {} resolved now{oldest}",
                        thousands(h.reused),
                        thousands(h.resolved)
                    ),
                    11,
                ));
            }
            None => s.push_str("  history: off\n"),
        }
        s.push_str(&wrap("  resolver: ", &self.resolver, 12));
        let health = &self.health;
        let line = match (health.enabled, &health.problem) {
            (false, _) => {
                "resolver health check off (--dns-canary none or an offline --zone run)".to_string()
            }
            (true, None) => format!(
                "resolver healthy ({} check(s): a canary resolved, a made-up name was NXDOMAIN)",
                thousands(health.checks)
            ),
            (true, Some(why)) => format!("RESOLVER UNHEALTHY: {why}"),
        };
        s.push_str(&wrap("  health: ", &line, 10));
        if self.outage.uncounted > 0 {
            s.push_str(&wrap(
                "  outage guard: ",
                &format!(
                    "{} temporary failures recorded, not counting toward dead_domain; more than half of their window of domains failed",
                    thousands(self.outage.uncounted)
                ),
                16,
            ));
        }
        if self.outage.outage {
            s.push_str(&wrap(
                "  outage guard: ",
                &format!(
                    "{} of {} domains failed temporarily, an outage on our side: those failures do not count toward dead_domain",
                    thousands(self.outage.temporary),
                    thousands(self.outage.decided)
                ),
                16,
            ));
        }
        let d = &self.dns;
        s.push_str(&wrap(
            "  dns: ",
            &format!(
                "{} queries, {} host lookups answered from the run's cache; {} datagrams sent, {} retransmitted, {} over TCP; {}",
                thousands(d.queries),
                thousands(d.cache_hits),
                thousands(d.datagrams_sent),
                thousands(d.retransmitted),
                thousands(d.tcp),
                group_digits(&d.defences),
            ),
            7,
        ));
        if let Some(p) = &self.probe {
            s.push_str(&wrap(
                "  probe: ",
                &format!(
                    "{} addresses probed on port {}, {} answered, {} failed, {} s probing",
                    thousands(p.probed),
                    p.port,
                    thousands(p.answered),
                    thousands(p.failed),
                    seconds(p.seconds)
                ),
                9,
            ));
            if let Some(why) = &p.blocked {
                s.push_str(&wrap(
                    "  probe: ",
                    &format!(
                        "OUTBOUND PORT 25 SEEMS BLOCKED HERE: {why}. Probing stopped; rows keep their DNS verdict (warning probe_unavailable)"
                    ),
                    9,
                ));
            }
        }
        s
    }

    /// One line per action (wrapped): count, share, and its reasons.
    fn actions_text(&self) -> String {
        let count_width = self
            .actions
            .values()
            .map(|a| thousands(a.count).len())
            .max()
            .unwrap_or(0)
            .max(7);
        let mut s = String::new();
        for action in Action::ALL {
            let Some(a) = self.actions.get(action.as_str()) else {
                continue;
            };
            let head = format!(
                "  {:<9}{:>count_width$} {:>6}  ",
                action.as_str(),
                thousands(a.count),
                share(a.count, self.rows),
            );
            // In the order of the rules, as the README's table lists them.
            let mut reasons: Vec<(&&str, &Share)> = a.reasons.iter().collect();
            reasons.sort_by_key(|(code, _)| Reason::from_code(code));
            let items: Vec<String> = reasons
                .into_iter()
                .map(|(code, r)| {
                    format!(
                        "{code} {} ({})",
                        thousands(r.count),
                        share(r.count, self.rows)
                    )
                })
                .collect();
            if items.is_empty() {
                s.push_str(head.trim_end());
                s.push('\n');
                continue;
            }
            let text = items.join(", ");
            let widest = items.iter().map(|i| i.chars().count() + 1).max();
            let column = head.chars().count();
            if widest.is_some_and(|w| column + w > WIDTH) {
                // Too narrow beside the numbers: the reasons go below.
                s.push_str(head.trim_end());
                s.push('\n');
                s.push_str(&wrap("      ", &text, 6));
            } else {
                s.push_str(&wrap(&head, &text, column));
            }
        }
        s
    }

    /// The summary as JSON (see the README for the fields).
    pub fn json(&self) -> String {
        let mut s = serde_json::to_string_pretty(self).expect("the summary serializes");
        s.push('\n');
        s
    }
}

/// `n` with a comma between groups of three digits: `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Seconds with two decimals, the whole seconds grouped: `12,345.68`.
fn seconds(secs: f64) -> String {
    let text = format!("{:.2}", secs.max(0.0));
    let (whole, frac) = text.split_once('.').unwrap_or((&text, "00"));
    format!("{}.{frac}", thousands(whole.parse().unwrap_or(0)))
}

/// Groups the digits of every plain count of four digits or more in
/// `text` (not those inside names, versions or addresses: `0x20`,
/// `127.0.0.1:5353`).
fn group_digits(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() + 8);
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            let c = text[i..].chars().next().expect("in bounds");
            out.push(c);
            i += c.len_utf8();
            continue;
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let glued =
            |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric() || b".:".contains(b));
        let run = &text[start..i];
        let plain = !glued(start.checked_sub(1).and_then(|j| bytes.get(j))) && !glued(bytes.get(i));
        match run.parse::<u64>() {
            Ok(n) if plain && run.len() >= 4 => out.push_str(&thousands(n)),
            _ => out.push_str(run),
        }
    }
    out
}

/// `n` as a share of `total`: `71.2%`, `<0.1%` for a few, `>99.9%` for
/// all but a few.
fn share(n: u64, total: u64) -> String {
    if total == 0 || n == 0 {
        return "0.0%".into();
    }
    if n == total {
        return "100.0%".into();
    }
    let p = percent(n, total);
    if p < 0.05 {
        "<0.1%".into()
    } else if p >= 99.95 {
        ">99.9%".into()
    } else {
        format!("{p:.1}%")
    }
}

/// Lays `text` out after `head`, breaking lines only after a `, ` or
/// `; ` between items (never inside a number: thousands separators have
/// no space after them), continuation lines indented by `indent` spaces;
/// every line fits [`WIDTH`] columns unless one item alone does not.
fn wrap(head: &str, text: &str, indent: usize) -> String {
    // Pieces end with their separator's punctuation; the space after it is
    // where a line may break.
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(at) = [", ", "; "].iter().filter_map(|sep| rest.find(sep)).min() {
        pieces.push(&rest[..=at]);
        rest = &rest[at + 2..];
    }
    pieces.push(rest);
    // An item too wide beside the indent: every continuation line gets a
    // narrow one, and the first item may start below the head.
    let longest = pieces.iter().map(|p| p.chars().count()).max().unwrap_or(0);
    let indent = if indent + longest > WIDTH { 4 } else { indent };
    let mut out = String::from(head);
    let mut column = head.chars().count();
    let mut fresh = true;
    if column + pieces[0].chars().count() > WIDTH && column > indent {
        out.truncate(out.trim_end().len());
        // Continues below, as every other line.
        fresh = false;
    }
    for piece in pieces {
        let len = piece.chars().count();
        if !fresh && column + 1 + len > WIDTH {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            column = indent;
            fresh = true;
        }
        if !fresh {
            out.push(' ');
            column += 1;
        }
        out.push_str(piece);
        column += len;
        fresh = false;
    }
    out.push('\n');
    out
}

/// Rows per action, and per reason within it, with their shares of `total`.
fn action_facts(counts: &Counts, total: u64) -> BTreeMap<&'static str, ActionFacts> {
    let mut actions = BTreeMap::new();
    for action in Action::ALL {
        let reasons: BTreeMap<&'static str, Share> = counts
            .verdicts
            .iter()
            .filter(|((a, _), _)| *a == action)
            .map(|((_, r), &n)| {
                (
                    r.code(),
                    Share {
                        count: n,
                        percent: percent(n, total),
                    },
                )
            })
            .collect();
        let count = reasons.values().map(|s| s.count).sum();
        actions.insert(
            action.as_str(),
            ActionFacts {
                count,
                percent: percent(count, total),
                reasons,
            },
        );
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;
    use prebounce_core::verdict::REASONS;

    fn facts(rows: u64, counts: &Counts) -> Summary {
        let actions = action_facts(counts, rows);
        let big = 9_876_543_210_987;
        Summary {
            interrupted: true,
            rows,
            domains: big,
            seconds: 123_456.789,
            rows_per_second: 1_234_567_890.4,
            domains_per_second: 987_654_321.0,
            actions,
            store: Some("/var/lib/prebounce/history.db".into()),
            history: Some(HistoryFacts {
                reused: big,
                resolved: big,
                oldest_observed: Some("2026-11-02T09:00:00Z".into()),
            }),
            resolver: "resolver 192.0.2.53:53, 198.51.100.53:53 (bulk engine, timeout 3s x 2 attempts)".into(),
            health: HealthFacts {
                enabled: true,
                checks: big,
                healthy: Some(true),
                problem: None,
            },
            outage: OutageFacts {
                decided: big,
                temporary: big,
                outage: true,
                uncounted: big,
            },
            dns: DnsFacts {
                queries: big,
                cache_hits: big,
                datagrams_sent: big,
                retransmitted: big,
                tcp: big,
                source_ports: big,
                dropped_replies: big,
                case_randomization: true,
                case_fallback_servers: 1,
                wrong_case_replies: big,
                oversize_replies: big,
                defences: format!("{big} source ports, {big} stray or forged replies dropped, 0x20 TURNED OFF for 1 server(s) that do not echo the query's case, {big} replies with the wrong case asked again over TCP, {big} oversize UDP replies asked again over TCP"),
            },
            probe: Some(ProbeFacts {
                port: 25,
                probed: big,
                answered: big,
                failed: big,
                seconds: 12_345.678,
                blocked: Some("no canary answered (ipv4: timeout, ipv6: unreachable)".into()),
            }),
        }
    }

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(u64::MAX), "18,446,744,073,709,551,615");
        assert_eq!(
            group_digits("1600 source ports, 65536 stray, 0x20 on, 127.0.0.1:53589 x 12"),
            "1,600 source ports, 65,536 stray, 0x20 on, 127.0.0.1:53589 x 12"
        );
    }

    #[test]
    fn shares() {
        assert_eq!(share(0, 0), "0.0%");
        assert_eq!(share(1, 1), "100.0%");
        assert_eq!(share(712, 1000), "71.2%");
        assert_eq!(share(1, 1_000_000), "<0.1%");
        assert_eq!(share(999_999, 1_000_000), ">99.9%");
    }

    #[test]
    fn wraps_between_items_only() {
        let items: Vec<String> = (0..40)
            .map(|i| format!("item {}", thousands(i * 1001)))
            .collect();
        let text = wrap("  head: ", &items.join(", "), 8);
        for line in text.lines() {
            assert!(line.chars().count() <= WIDTH, "{line}");
            assert!(
                line.ends_with(',') || line == text.lines().last().unwrap(),
                "{line}"
            );
        }
        // Every item is whole on some line.
        let flat: Vec<&str> = text.lines().collect();
        for item in &items {
            assert!(flat.iter().any(|l| l.contains(item.as_str())), "{item}");
        }
    }

    /// Huge numbers and every reason under every action: 80 columns, no
    /// number cut, every fact present.
    #[test]
    fn fits_80_columns_with_huge_numbers_and_every_reason() {
        let mut counts = Counts::default();
        let each = 1_234_567_890_123;
        for action in Action::ALL {
            for info in REASONS {
                counts.verdicts.insert((action, info.reason), each);
                counts.rows += each;
            }
        }
        let rows = counts.rows;
        let summary = facts(rows, &counts);
        let text = summary.text();
        for line in text.lines() {
            assert!(
                line.chars().count() <= WIDTH,
                "{} columns: {line}\n{text}",
                line.chars().count()
            );
        }
        let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
        for info in REASONS {
            assert!(
                one_line.contains(&format!("{} 1,234,567,890,123 (", info.code)),
                "{}: {text}",
                info.code
            );
        }
        for needle in [
            "INTERRUPTED",
            &format!("{} rows", thousands(rows)),
            "9,876,543,210,987 distinct domains",
            "store: /var/lib/prebounce/history.db",
            "history: 9,876,543,210,987 domains decided from stored evidence",
            "oldest observed 2026-11-02T09:00:00Z",
            "resolver: resolver 192.0.2.53:53",
            "health: resolver healthy",
            "outage guard: 9,876,543,210,987 of 9,876,543,210,987 domains failed temporarily",
            "outage guard: 9,876,543,210,987 temporary failures recorded, not counting toward dead_domain",
            "dns: 9,876,543,210,987 queries",
            "9,876,543,210,987 stray or forged replies dropped",
            "0x20 TURNED OFF for 1 server(s) that do not echo the query's case",
            "9,876,543,210,987 addresses probed on port 25",
            "OUTBOUND PORT 25 SEEMS BLOCKED HERE",
        ] {
            assert!(one_line.contains(needle), "{needle}: {text}");
        }
        // Numbers are whole: a number cut across lines would read
        // `1,234, 567` once the lines are joined.
        assert!(!one_line.contains(", 567"), "{text}");
        // Percentages per action.
        assert!(text.contains("20,987,654,132,091  33.3%\n"), "{text}");
    }

    /// A small run reads as before: the tests' and scripts' phrases.
    #[test]
    fn small_run() {
        let mut counts = Counts::default();
        counts.add(Action::Deliver, Reason::Deliverable);
        let mut summary = facts(1, &counts);
        summary.interrupted = false;
        summary.domains = 1;
        summary.outage.outage = false;
        summary.outage.uncounted = 0;
        let text = summary.text();
        assert!(
            text.starts_with("prebounce: 1 rows, 1 distinct domains, "),
            "{text}"
        );
        assert!(
            text.contains("  deliver        1 100.0%  deliverable 1 (100.0%)\n"),
            "{text}"
        );
        assert!(text.contains("  retry          0   0.0%\n"), "{text}");
        assert!(
            !text.contains("INTERRUPTED") && !text.contains("outage guard"),
            "{text}"
        );
        let json: serde_json::Value = serde_json::from_str(&summary.json()).unwrap();
        assert_eq!(
            json["actions"]["deliver"]["reasons"]["deliverable"]["count"],
            1
        );
        assert_eq!(json["actions"]["retry"]["count"], 0);
        assert_eq!(json["rows"], 1);
    }
}
