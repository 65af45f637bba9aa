//! The hygiene report: verdicts by collection source, as one self-contained
//! HTML file (inline CSS and SVG, no script, no external asset).
//!
//! Every reason's colour, plain-language explanation and recommended action
//! come from one table, [`REASON_GUIDE`] (and [`WARNING_GUIDE`] for the
//! warnings); a test checks that it covers every reason and warning.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use prebounce_core::verdict::{Action, Reason, Suggestion, Verdict, Warning};

use super::args::{CheckArgs, EngineArg, ImplicitMxArg};
use super::config::DnsSetup;

/// What a chart segment, a legend entry or a guide row stands for: a
/// reason, or a permanent reason held back as `retry` until confirmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Cause {
    Reason(Reason),
    /// `needs_confirmation`: held as retry, whatever the reason.
    Held,
}

/// One row of the guide: how a cause looks and what it means.
pub struct Guide {
    pub cause: Cause,
    /// Fill colour (sRGB hex), in its action's colour family.
    pub color: &'static str,
    /// What happened, in plain language.
    pub what: &'static str,
    /// What to do about it.
    pub todo: &'static str,
}

const fn g(reason: Reason, color: &'static str, what: &'static str, todo: &'static str) -> Guide {
    Guide {
        cause: Cause::Reason(reason),
        color,
        what,
        todo,
    }
}

/// The colours of the three actions: Okabe-Ito blue and orange, and Paul
/// Tol's wine; the three families are told apart by colour-blind readers
/// too (lightness differs, and retry and suppress also carry a pattern).
pub const ACTION_COLORS: [(Action, &str); 3] = [
    (Action::Deliver, "#0072b2"),
    (Action::Retry, "#e69f00"),
    (Action::Suppress, "#882255"),
];

/// Every cause, in display order (deliver, retry, suppress; within
/// suppress: syntax, the domain refuses or lacks mail, its MX leads
/// nowhere, history). Colours: blues for deliver, ambers for retry,
/// purples, magentas and reds for suppress (Okabe-Ito and ColorBrewer's
/// PRGn, PiYG, RdBu and RdPu); the 13 suppress colours were picked from
/// those for the largest smallest difference (CIELAB) between any two
/// colours of this table, as seen with normal vision, deuteranopia and
/// protanopia (a test checks it),
/// alternating light and dark so that neighbouring segments stand apart.
pub const REASON_GUIDE: &[Guide] = &[
    g(
        Reason::Deliverable,
        "#0072b2",
        "The domain has a mail server that can be reached.",
        "Send.",
    ),
    g(
        Reason::ImplicitMx,
        "#56b4e9",
        "The domain publishes no MX record; mail goes to its own address, as the mail standard allows (--implicit-mx accept).",
        "Send; such domains are often web-only, so watch for bounces.",
    ),
    g(
        Reason::DnsFailure,
        "#e69f00",
        "DNS did not answer in time or answered with an error; this is temporary.",
        "Keep the addresses and check again later.",
    ),
    g(
        Reason::NoAnswer,
        "#f5d13b",
        "DNS is fine, but no mail server of the domain answered on port 25 (--probe).",
        "Keep the addresses and check again later; if it lasts for days, the domain is dead.",
    ),
    Guide {
        cause: Cause::Held,
        color: "#b36b00",
        what: "The domain was deliverable within 30 days and now fails: held back in case it is a registrar hiccup (warning needs_confirmation).",
        todo: "Keep the addresses; a check at least an hour later confirms or clears the failure.",
    },
    g(
        Reason::AddressInvalid,
        "#e7d4e8",
        "The address is not a valid email address (a missing @, spaces, forbidden characters).",
        "Remove these addresses, or fix them at the source.",
    ),
    g(
        Reason::DomainInvalid,
        "#762a83",
        "The part after the @ is not a valid domain name (user@gmail, bad characters).",
        "Remove these addresses, or fix them at the source.",
    ),
    g(
        Reason::DomainReserved,
        "#e78ac3",
        "The domain is reserved and never receives mail (.example, .test, .invalid, localhost).",
        "Remove these addresses: they are placeholders or test data.",
    ),
    g(
        Reason::Nxdomain,
        "#ee6677",
        "The domain does not exist.",
        "Remove these addresses (check the suggested corrections for typos).",
    ),
    g(
        Reason::NullMx,
        "#67001f",
        "The domain says it accepts no mail (RFC 7505).",
        "Remove these addresses.",
    ),
    g(
        Reason::NullMxMalformed,
        "#fa9fb5",
        "The domain's mail record is a botched 'accepts no mail' record (MX 0 0.).",
        "Remove these addresses.",
    ),
    g(
        Reason::NoMailHost,
        "#a50026",
        "The domain exists but has no mail server and no address at all.",
        "Remove these addresses.",
    ),
    g(
        Reason::NoMx,
        "#ce1256",
        "The domain has a website but no mail server (MX record).",
        "Remove these addresses, or run with --implicit-mx accept if you trust such domains.",
    ),
    g(
        Reason::MxLocalhost,
        "#40004b",
        "The domain's mail server points at this very machine (localhost, 127.0.0.1): a placeholder.",
        "Remove these addresses.",
    ),
    g(
        Reason::MxUnroutable,
        "#980043",
        "The domain's mail server has only private or reserved addresses, unreachable from the Internet.",
        "Remove these addresses.",
    ),
    g(
        Reason::MxTypo,
        "#aa3377",
        "The domain's mail server name is a misspelling of a major provider's (mx1.pphosted.con).",
        "Remove these addresses; the domain's owner has to fix their DNS.",
    ),
    g(
        Reason::MxUnresolvable,
        "#49006a",
        "The domain's mail server names do not exist.",
        "Remove these addresses.",
    ),
    g(
        Reason::DeadDomain,
        "#8e0152",
        "DNS has been failing for days, on every check: the domain is dead.",
        "Remove these addresses.",
    ),
];

/// Every warning, explained.
pub const WARNING_GUIDE: &[(Warning, &str)] = &[
    (Warning::NullMxMixed, "The domain publishes an 'accepts no mail' record beside real mail servers (against RFC 7505): ask its owner which is meant."),
    (Warning::MxCname, "A mail server name is an alias (against RFC 2181); mail is delivered anyway."),
    (Warning::MxIpLiteral, "A mail server is written as an IP address instead of a name; it is used as an address."),
    (Warning::MxPartiallyUnusable, "Some of the domain's mail servers are unusable; mail goes to the others."),
    (Warning::ImplicitMx, "The domain has no MX record: the verdict rests on its own address."),
    (Warning::NeedsConfirmation, "The domain was deliverable lately and now fails: held as retry until a second check an hour later agrees."),
    (Warning::MxTypoSuspect, "A working mail server whose name is a near miss of a major provider's: a typosquatted domain may be receiving the mail."),
    (Warning::ResolverUnhealthy, "Our own DNS resolver failed its health check: nothing was judged on its answers. Fix the resolver and run again."),
    (Warning::Unfinished, "The check did not finish within the server's request deadline: ask again, the answer will be cached."),
    (Warning::ProbeUnavailable, "Port 25 could not be tested from here (blocked outbound, or no route): the verdict rests on DNS alone."),
];

impl Cause {
    fn of(v: &Verdict) -> Cause {
        if v.held {
            Cause::Held
        } else {
            Cause::Reason(v.reason)
        }
    }

    /// Its row in [`REASON_GUIDE`].
    pub fn guide(self) -> &'static Guide {
        REASON_GUIDE
            .iter()
            .find(|g| g.cause == self)
            .expect("every reason has a row in REASON_GUIDE")
    }

    /// The position in display order.
    fn rank(self) -> usize {
        REASON_GUIDE
            .iter()
            .position(|g| g.cause == self)
            .unwrap_or(usize::MAX)
    }

    pub fn code(self) -> &'static str {
        match self {
            Cause::Reason(r) => r.code(),
            Cause::Held => "needs_confirmation",
        }
    }

    pub fn action(self) -> Action {
        match self {
            Cause::Reason(r) => r.action(),
            Cause::Held => Action::Retry,
        }
    }

    fn status(self) -> String {
        match self {
            Cause::Reason(r) => r.status().map(|s| s.to_string()).unwrap_or_default(),
            Cause::Held => "4.x.x".into(),
        }
    }
}

/// Counts for one collection source.
#[derive(Clone, Debug, Default)]
pub struct SourceStats {
    pub rows: u64,
    pub actions: BTreeMap<Action, u64>,
    /// Rows by cause (held rows under [`Cause::Held`], not their reason).
    pub causes: BTreeMap<Cause, u64>,
}

impl SourceStats {
    fn add(&mut self, v: &Verdict) {
        self.rows += 1;
        *self.actions.entry(v.action()).or_default() += 1;
        *self.causes.entry(Cause::of(v)).or_default() += 1;
    }

    fn count(&self, a: Action) -> u64 {
        self.actions.get(&a).copied().unwrap_or(0)
    }

    fn cause(&self, c: Cause) -> u64 {
        self.causes.get(&c).copied().unwrap_or(0)
    }

    /// The share of rows to suppress.
    pub fn bad_rate(&self) -> f64 {
        if self.rows == 0 {
            0.0
        } else {
            self.count(Action::Suppress) as f64 / self.rows as f64
        }
    }

    fn share(&self, n: u64) -> f64 {
        if self.rows == 0 {
            0.0
        } else {
            100.0 * n as f64 / self.rows as f64
        }
    }
}

/// What the report and the per-source summary are made of.
#[derive(Debug, Default)]
pub struct ReportData {
    pub sources: BTreeMap<String, SourceStats>,
    pub total: SourceStats,
    /// Rows per failing (retry or suppress) domain, with its cause.
    failing: HashMap<String, (u64, Cause)>,
    /// Rows per (typed domain, suggested domain or host).
    suggestions: HashMap<(String, String), u64>,
    /// Rows per warning.
    warnings: BTreeMap<Warning, u64>,
}

/// A source that stands out.
#[derive(Debug)]
pub struct Outlier {
    pub source: String,
    pub rate: f64,
    pub rows: u64,
    pub z: f64,
}

impl ReportData {
    pub fn add(&mut self, source: &str, domain: Option<&str>, v: &Verdict) {
        self.total.add(v);
        self.sources.entry(source.to_string()).or_default().add(v);
        if v.action() != Action::Deliver {
            if let Some(d) = domain {
                let e = self
                    .failing
                    .entry(d.to_string())
                    .or_insert((0, Cause::of(v)));
                e.0 += 1;
                e.1 = Cause::of(v);
            }
        }
        if let (Some(d), Some(s)) = (domain, &v.suggestion) {
            let to = match s {
                Suggestion::Host(h) => h.clone(),
                Suggestion::Domain(d) => d.clone(),
            };
            *self.suggestions.entry((d.to_string(), to)).or_default() += 1;
        }
        for w in &v.warnings {
            *self.warnings.entry(*w).or_default() += 1;
        }
    }

    /// The sources, highest suppression rate first (then more rows first,
    /// then by name).
    pub fn by_rate(&self) -> Vec<(&String, &SourceStats)> {
        let mut v: Vec<_> = self.sources.iter().collect();
        v.sort_by(|a, b| {
            b.1.bad_rate()
                .total_cmp(&a.1.bad_rate())
                .then(b.1.rows.cmp(&a.1.rows))
                .then(a.0.cmp(b.0))
        });
        v
    }

    /// Sources whose suppression rate stands out from the whole list: at
    /// least 20 rows and a rate more than three standard errors above the
    /// list's (a one-sided z-test on proportions).
    pub fn outliers(&self) -> Vec<Outlier> {
        let p = self.total.bad_rate();
        let mut out: Vec<Outlier> = self
            .sources
            .iter()
            .filter(|(_, s)| s.rows >= 20)
            .filter_map(|(name, s)| {
                let se = (p * (1.0 - p) / s.rows as f64).sqrt();
                let z = if se > 0.0 {
                    (s.bad_rate() - p) / se
                } else {
                    0.0
                };
                (z > 3.0 && s.bad_rate() > p).then(|| Outlier {
                    source: name.clone(),
                    rate: s.bad_rate(),
                    rows: s.rows,
                    z,
                })
            })
            .collect();
        out.sort_by(|a, b| b.z.total_cmp(&a.z));
        out
    }

    /// The summary lines by source, for standard error (highest suppression
    /// rate first).
    pub fn summary(&self) -> String {
        let mut s = String::from("  by source:\n");
        for (name, st) in self.by_rate() {
            let _ = writeln!(
                s,
                "    {:<20} {:>8} rows  deliver {:>7}  retry {:>7}  suppress {:>7} ({:.1}%)",
                name,
                st.rows,
                st.count(Action::Deliver),
                st.count(Action::Retry),
                st.count(Action::Suppress),
                100.0 * st.bad_rate()
            );
        }
        for o in self.outliers() {
            let _ = writeln!(
                s,
                "    source '{}' stands out: {:.1}% suppressed vs {:.1}% overall ({} rows)",
                o.source,
                100.0 * o.rate,
                100.0 * self.total.bad_rate(),
                o.rows
            );
        }
        s
    }
}

/// How the run was made, for the report's settings section.
#[derive(Debug, Default)]
pub struct RunSettings {
    pub title: String,
    pub generated: String,
    /// (key, label, value), in display order.
    pub items: Vec<(&'static str, &'static str, String)>,
}

impl RunSettings {
    /// The settings of a `check` run.
    pub fn new(args: &CheckArgs, setup: &DnsSetup) -> RunSettings {
        let generated = prebounce_core::history::format_rfc3339(
            prebounce::Clock::from_env().map(|c| c.now()).unwrap_or(0),
        );
        let files = if args.files.is_empty() {
            "standard input".to_string()
        } else {
            args.files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut items = vec![
            ("date", "Date", generated.clone()),
            ("input", "Input", files.clone()),
        ];
        if let Some(c) = &args.source_column {
            items.push(("source-column", "Source column", c.clone()));
        }
        let mut resolver = setup.describe();
        if !args.dns.zone.is_empty() {
            let zones: Vec<String> = args
                .dns
                .zone
                .iter()
                .map(|z| z.display().to_string())
                .collect();
            let _ = write!(resolver, "; zone {}", zones.join(", "));
        }
        items.push(("resolver", "Resolver", resolver));
        let engine = match args.dns.dns_engine {
            EngineArg::Bulk => "bulk",
            EngineArg::Stub => "stub",
            EngineArg::Hickory => "hickory",
        };
        let qps = args
            .dns
            .qps
            .map(|q| format!(", at most {q} questions/s"))
            .unwrap_or_default();
        items.push((
            "dns",
            "DNS",
            format!(
                "{engine} engine, {} domains at once, {} questions in flight{qps}",
                args.dns.concurrency,
                super::config::queries_in_flight(&args.dns)
            ),
        ));
        let health = match (
            setup.checker.health_checks(),
            setup.checker.resolver_unhealthy(),
        ) {
            (None, _) => "off (--dns-canary none, or an offline --zone run)".to_string(),
            (Some(n), None) => format!("healthy ({n} check(s))"),
            (Some(_), Some(why)) => format!("UNHEALTHY: {why}"),
        };
        items.push(("health", "Resolver health check", health));
        items.push((
            "implicit-mx",
            "--implicit-mx",
            match args.dns.implicit_mx {
                ImplicitMxArg::Suppress => "suppress (default): a domain without MX is no_mx",
                ImplicitMxArg::Accept => "accept: a domain without MX but with a usable address is deliverable",
                ImplicitMxArg::Probe => "probe: a domain without MX is deliverable when its own address answers on port 25",
            }
            .to_string(),
        ));
        let p = &args.probe;
        items.push((
            "probe",
            "--probe (port 25)",
            if p.probe {
                format!(
                    "on: connect timeout {:?}, greeting timeout {:?}, at most {} hosts per domain",
                    p.connect_timeout, p.greeting_timeout, p.probe_max_hosts
                )
            } else {
                "off: DNS evidence only".to_string()
            },
        ));
        let trusted: Vec<String> = args.dns.trusted_net.iter().map(|c| c.to_string()).collect();
        items.push((
            "trusted-net",
            "--trusted-net",
            if trusted.is_empty() {
                "none".to_string()
            } else {
                trusted.join(", ")
            },
        ));
        let h = &args.history;
        items.push((
            "history",
            "History",
            match setup.checker.history_location() {
                Some(at) => format!(
                    "on: store {at}; evidence reused for {}, dead_domain after {} and {} checks",
                    human(h.max_age),
                    human(h.dead_after),
                    h.dead_min_checks
                ),
                None => "off: no dead_domain, no confirmation of flips".to_string(),
            },
        ));
        RunSettings {
            title: format!("prebounce report: {files}"),
            generated,
            items,
        }
    }
}

impl RunSettings {
    /// One line under the title: the resolver and the policy flags, with a
    /// link to the details.
    fn brief(&self) -> String {
        let get = |key: &str| {
            self.items
                .iter()
                .find(|(k, _, _)| *k == key)
                .map(|(_, _, v)| v.as_str())
        };
        let mut parts = Vec::new();
        if let Some(r) = get("resolver") {
            parts.push(format!("Resolver: {}", esc(r)));
        }
        for (key, flag) in [
            ("implicit-mx", "--implicit-mx"),
            ("probe", "--probe"),
            ("history", "history"),
        ] {
            if let Some(v) = get(key) {
                let word = v.split([':', ' ']).next().unwrap_or(v);
                parts.push(format!("<code class=\"nw\">{flag}</code> {}", esc(word)));
            }
        }
        if parts.is_empty() {
            return String::new();
        }
        format!(
            "<p class=\"meta\" id=\"brief\">{} (<a href=\"#settings\">all settings</a>)</p>",
            parts.join(" · ")
        )
    }
}

/// A duration as the flags write it (`5d`, `24h`, `90s`).
fn human(d: std::time::Duration) -> String {
    let s = d.as_secs();
    for (unit, n) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
        if s >= n && s % n == 0 {
            return format!("{}{unit}", s / n);
        }
    }
    format!("{s}s")
}

pub(crate) fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c if c.is_control() => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

/// A reason or warning code for display: it may break after an underscore.
fn code(c: &str) -> String {
    format!("<code>{}</code>", c.replace('_', "_<wbr>"))
}

/// Plain text for display, escaped, with `--flags` kept on one line.
fn prose(text: &str) -> String {
    text.split(' ')
        .map(|w| {
            if w.starts_with("--") {
                format!("<code class=\"nw\">{}</code>", esc(w))
            } else {
                esc(w)
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A count with thousands separators.
pub(crate) fn num(n: u64) -> String {
    let s = n.to_string();
    let mut o = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            o.push(',');
        }
        o.push(c);
    }
    o
}

/// A percentage for reading: one decimal, none at 100 or 0.
fn pct(p: f64) -> String {
    if p == 0.0 || p == 100.0 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

fn action_color(a: Action) -> &'static str {
    ACTION_COLORS
        .iter()
        .find(|(x, _)| *x == a)
        .map(|(_, c)| *c)
        .unwrap_or("#777777")
}

/// Dark text on light fills, white on dark ones (WCAG relative luminance).
fn text_on(hex: &str) -> &'static str {
    let v = u32::from_str_radix(hex.trim_start_matches('#'), 16).unwrap_or(0);
    let lin = |c: u32| {
        let c = c as f64 / 255.0;
        if c <= 0.039_28 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    let l = 0.2126 * lin(v >> 16 & 255) + 0.7152 * lin(v >> 8 & 255) + 0.0722 * lin(v & 255);
    if l > 0.3 {
        "#1a1a1a"
    } else {
        "#ffffff"
    }
}

/// The pattern over an action's segments, so that the three families are
/// told apart without colour: none for deliver, dots for retry, hatching
/// for suppress; white on dark fills, dark on light ones.
fn pattern(a: Action, fill: &str) -> Option<&'static str> {
    let light = text_on(fill) != "#ffffff";
    match (a, light) {
        (Action::Deliver, _) => None,
        (Action::Retry, false) => Some("url(#p-retry)"),
        (Action::Retry, true) => Some("url(#p-retry-dark)"),
        (Action::Suppress, false) => Some("url(#p-suppress)"),
        (Action::Suppress, true) => Some("url(#p-suppress-dark)"),
    }
}

/// A small legend swatch, with its family's pattern.
fn swatch(color: &str, a: Action) -> String {
    let mut s = format!(
        r#"<svg class="sw" width="14" height="14" aria-hidden="true"><rect width="14" height="14" rx="2" fill="{color}"/>"#
    );
    if let Some(p) = pattern(a, color) {
        let _ = write!(s, r#"<rect width="14" height="14" rx="2" fill="{p}"/>"#);
    }
    s.push_str("</svg>");
    s
}

/// One segment of a stacked bar.
struct Segment {
    count: u64,
    name: String,
    action: Action,
    color: String,
}

/// One bar per source.
type Bars = Vec<(String, u64, f64, Vec<Segment>)>;

/// Horizontal stacked bars, each 100% wide: one per source (its name as
/// wrapping HTML, the bar as SVG with percentages in its segments), one
/// segment per key.
fn stacked(id: &str, title: &str, rows: &Bars, kind: &str) -> String {
    let mut h = format!(
        r#"<div class="chart" id="{id}" role="group" aria-label="{}">"#,
        esc(title)
    );
    for (source, total, bad, segs) in rows {
        let _ = write!(
            h,
            r#"<div class="bar-row"><div class="src" title="{s}">{s}</div><svg class="bar" width="100%" height="26" role="img" aria-label="{s}">"#,
            s = esc(source)
        );
        let mut x = 0.0;
        let mut labels = String::new();
        for Segment {
            count,
            name,
            action,
            color,
        } in segs
        {
            if *count == 0 {
                continue;
            }
            let w = 100.0 * *count as f64 / (*total).max(1) as f64;
            let family = action.as_str();
            let _ = write!(
                h,
                r#"<rect class="seg" data-source="{}" data-{kind}="{}" data-count="{count}" data-family="{family}" x="{x:.3}%" y="0" width="{w:.3}%" height="26" fill="{color}"><title>{}: {} {} ({})</title></rect>"#,
                esc(source),
                esc(name),
                esc(source),
                esc(name),
                num(*count),
                pct(w)
            );
            if let Some(p) = pattern(*action, color) {
                let _ = write!(
                    h,
                    r#"<rect class="pat" x="{x:.3}%" y="0" width="{w:.3}%" height="26" fill="{p}"/>"#
                );
            }
            if w >= 7.0 {
                let _ = write!(
                    labels,
                    r#"<text x="{:.3}%" y="17.5" text-anchor="middle" fill="{}">{:.0}%</text>"#,
                    x + w / 2.0,
                    text_on(color),
                    w
                );
            }
            x += w;
        }
        h.push_str(&labels);
        let _ = write!(
            h,
            r#"</svg><div class="num"><span class="nw"><b>{}</b> suppressed</span><br>{} rows</div></div>"#,
            pct(100.0 * bad),
            num(*total)
        );
    }
    h.push_str("</div>\n");
    h
}

pub(crate) const CSS: &str = r#"
*, *::before, *::after { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; margin: 0; color: #1f2328; background: #f6f7f9; }
main { max-width: 1120px; margin: 0 auto; padding: 24px 24px 48px; }
header h1 { font-size: 1.55em; margin: 0 0 .15em; overflow-wrap: anywhere; }
.meta { color: #57606a; margin: 0; overflow-wrap: anywhere; }
section { background: #fff; border: 1px solid #d8dee4; border-radius: 8px; padding: 16px 20px; margin-top: 20px; }
h2 { font-size: 1.15em; margin: 0 0 .6em; }
p { margin: .4em 0; }
.hint { color: #57606a; font-size: .92em; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(170px, 1fr)); gap: 12px; margin-top: 20px; }
.card { background: #fff; border: 1px solid #d8dee4; border-left: 6px solid var(--c, #8c959f); border-radius: 8px; padding: 10px 14px; }
.card .k { color: #57606a; font-size: .9em; display: flex; align-items: center; gap: 6px; }
.card b { display: block; font-size: 1.75em; line-height: 1.2; font-variant-numeric: tabular-nums; }
.card .p { font-weight: 600; }
.card .do { color: #57606a; font-size: .88em; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; margin: 0 0 10px; padding: 0; list-style: none; font-size: .9em; }
.legend li { display: flex; align-items: center; gap: 5px; }
.legend .fam { font-weight: 600; color: #57606a; }
.sw { flex: none; vertical-align: -2px; }
.chart { display: grid; gap: 6px; }
.bar-row { display: grid; grid-template-columns: minmax(0, 15em) minmax(0, 1fr) 8.6em; gap: 12px; align-items: center; }
.src { font-size: .92em; overflow-wrap: anywhere; line-height: 1.3; }
.bar { display: block; border-radius: 3px; background: #eef1f4; }
.bar .seg { stroke: #fff; stroke-width: 1; }
.bar .pat, .bar text { pointer-events: none; }
.bar text { font-size: 12px; font-weight: 600; font-variant-numeric: tabular-nums; }
.num { font-size: .85em; color: #57606a; font-variant-numeric: tabular-nums; line-height: 1.25; }
.num b { color: #1f2328; }
.nw { white-space: nowrap; }
.wrap { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; table-layout: fixed; }
th, td { padding: 6px 8px; border-bottom: 1px solid #eaeef2; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
th { font-size: .85em; color: #57606a; font-weight: 600; overflow-wrap: normal; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; }
td .sub { display: block; color: #57606a; font-size: .85em; }
code { overflow-wrap: normal; font: .9em ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; background: #f0f2f5; padding: 0 3px; border-radius: 3px; }
.act { display: inline-block; font-size: .78em; font-weight: 600; padding: 0 6px; border-radius: 9px; color: #fff; }
.act.deliver { background: #0072b2; } .act.retry { background: #8a5a00; } .act.suppress { background: #882255; }
tr.warn td { background: #fdf2f5; }
dl.settings { display: grid; grid-template-columns: minmax(0, 13em) minmax(0, 1fr); gap: 4px 16px; margin: 0; }
dl.settings dt { color: #57606a; }
dl.settings dd { margin: 0; overflow-wrap: anywhere; }
@media (max-width: 720px) {
  main { padding: 12px 12px 32px; }
  section { padding: 12px; }
  .bar-row { grid-template-columns: minmax(0, 1fr) 8.6em; gap: 2px 8px; }
  .bar-row .src { grid-column: 1 / -1; }
  dl.settings { grid-template-columns: minmax(0, 1fr); }
  dl.settings dd { margin-bottom: 6px; }
}
"#;

/// The patterns referred to by [`pattern`], defined once.
const PATTERNS: &str = concat!(
    r##"<svg width="0" height="0" style="position:absolute" aria-hidden="true"><defs>"##,
    r##"<pattern id="p-retry" patternUnits="userSpaceOnUse" width="6" height="6"><circle cx="3" cy="3" r="1.1" fill="#ffffff" fill-opacity="0.6"/></pattern>"##,
    r##"<pattern id="p-retry-dark" patternUnits="userSpaceOnUse" width="6" height="6"><circle cx="3" cy="3" r="1.1" fill="#000000" fill-opacity="0.3"/></pattern>"##,
    r##"<pattern id="p-suppress" patternUnits="userSpaceOnUse" width="7" height="7" patternTransform="rotate(45)"><rect width="2.2" height="7" fill="#ffffff" fill-opacity="0.38"/></pattern>"##,
    r##"<pattern id="p-suppress-dark" patternUnits="userSpaceOnUse" width="7" height="7" patternTransform="rotate(45)"><rect width="2.2" height="7" fill="#000000" fill-opacity="0.2"/></pattern>"##,
    "</defs></svg>"
);

/// The report as one HTML document.
pub fn html(data: &ReportData, settings: &RunSettings) -> String {
    let mut h = String::new();
    let total = &data.total;
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title>\n<style>{CSS}</style></head><body>\n{PATTERNS}\n<main>\n\
         <header><h1>{t}</h1><p class=\"meta\">Generated by prebounce {v} on {g}. \
         Each address is classified from DNS evidence: <b>deliver</b> (send), \
         <b>retry</b> (keep, check again later) or <b>suppress</b> (remove).</p>{b}</header>\n",
        t = esc(&settings.title),
        v = env!("CARGO_PKG_VERSION"),
        g = esc(&settings.generated),
        b = settings.brief(),
    );

    // Cards.
    h.push_str("<div class=\"cards\" id=\"totals\">\n");
    let _ = writeln!(
        h,
        "<div class=\"card\"><span class=\"k\">rows</span><b data-total=\"rows\">{}</b><span class=\"do\">{} source{}</span></div>",
        num(total.rows),
        data.sources.len(),
        if data.sources.len() == 1 { "" } else { "s" }
    );
    for (a, todo) in [
        (Action::Deliver, "Send."),
        (Action::Retry, "Keep them; check again later."),
        (Action::Suppress, "Remove them from the list."),
    ] {
        let n = total.count(a);
        let _ = writeln!(
            h,
            "<div class=\"card\" style=\"--c:{c}\"><span class=\"k\">{sw}{name}</span><b data-total=\"{name}\">{n}</b><span class=\"p\" data-share=\"{name}\">{p}</span> of rows<br><span class=\"do\">{todo}</span></div>",
            c = action_color(a),
            sw = swatch(action_color(a), a),
            name = a.as_str(),
            n = num(n),
            p = pct(total.share(n)),
        );
    }
    h.push_str("</div>\n");

    let sources = data.by_rate();

    // Actions by source.
    let action_rows: Bars = sources
        .iter()
        .map(|(name, st)| {
            (
                name.to_string(),
                st.rows,
                st.bad_rate(),
                ACTION_COLORS
                    .iter()
                    .map(|(a, c)| Segment {
                        count: st.count(*a),
                        name: a.as_str().to_string(),
                        action: *a,
                        color: c.to_string(),
                    })
                    .collect(),
            )
        })
        .collect();
    h.push_str("<section><h2>Actions by source</h2>\n<p class=\"hint\">Sources sorted by suppression rate, highest first. Each bar is 100% of the source's rows.</p>\n<ul class=\"legend\">");
    for (a, c) in ACTION_COLORS {
        let _ = write!(h, "<li>{}{}</li>", swatch(c, a), a.as_str());
    }
    h.push_str("</ul>\n");
    h.push_str(&stacked(
        "actions",
        "Actions by source",
        &action_rows,
        "action",
    ));
    h.push_str("</section>\n");

    // Reasons by source.
    let mut causes: Vec<Cause> = total.causes.keys().copied().collect();
    causes.sort_by_key(|c| c.rank());
    let reason_rows: Bars = sources
        .iter()
        .map(|(name, st)| {
            (
                name.to_string(),
                st.rows,
                st.bad_rate(),
                causes
                    .iter()
                    .map(|c| Segment {
                        count: st.cause(*c),
                        name: c.code().to_string(),
                        action: c.action(),
                        color: c.guide().color.to_string(),
                    })
                    .collect(),
            )
        })
        .collect();
    h.push_str("<section><h2>Reasons by source</h2>\n<p class=\"hint\">Blues: deliver. Ambers, dotted: retry. Purples and reds, hatched: suppress. Hover a segment for its count; the reasons are explained below.</p>\n<ul class=\"legend\">");
    let mut last = None;
    for c in &causes {
        if last != Some(c.action()) {
            last = Some(c.action());
            let _ = write!(h, "<li class=\"fam\">{}:</li>", c.action().as_str());
        }
        let _ = write!(
            h,
            "<li>{}{}</li>",
            swatch(c.guide().color, c.action()),
            c.code()
        );
    }
    h.push_str("</ul>\n");
    h.push_str(&stacked(
        "reasons",
        "Reasons by source",
        &reason_rows,
        "reason",
    ));
    h.push_str("</section>\n");

    // What each reason means.
    h.push_str("<section id=\"guide\"><h2>What the reasons mean, and what to do</h2>\n<div class=\"wrap\"><table id=\"reason-guide\"><colgroup><col style=\"width:22%\"><col style=\"width:10%\"><col style=\"width:36%\"><col style=\"width:32%\"></colgroup>\n<tr><th>reason</th><th class=\"n\">rows</th><th>what it means</th><th>what to do</th></tr>\n");
    for c in &causes {
        let n = total.cause(*c);
        let guide = c.guide();
        let status = c.status();
        let _ = writeln!(
            h,
            "<tr data-reason=\"{code}\"><td>{sw} {shown}<span class=\"sub\"><span class=\"act {a}\">{a}</span> {status}</span></td><td class=\"n\">{n}<span class=\"sub\">{p}</span></td><td class=\"what\">{what}</td><td class=\"todo\">{todo}</td></tr>",
            sw = swatch(guide.color, c.action()),
            code = c.code(),
            shown = code(c.code()),
            a = c.action().as_str(),
            n = num(n),
            p = pct(total.share(n)),
            what = prose(guide.what),
            todo = prose(guide.todo),
        );
    }
    h.push_str("</table></div>\n");
    if !data.warnings.is_empty() {
        h.push_str("<h2 style=\"margin-top:1em\">Warnings</h2>\n<p class=\"hint\">A warning does not change the action; it says something worth knowing.</p>\n<div class=\"wrap\"><table id=\"warning-guide\"><colgroup><col style=\"width:22%\"><col style=\"width:11%\"><col style=\"width:67%\"></colgroup>\n<tr><th>warning</th><th class=\"n\">rows</th><th>what it means</th></tr>\n");
        for (w, n) in &data.warnings {
            let what = WARNING_GUIDE
                .iter()
                .find(|(x, _)| x == w)
                .map(|(_, t)| *t)
                .unwrap_or("");
            let _ = writeln!(
                h,
                "<tr data-warning=\"{c}\"><td>{shown}</td><td class=\"n\">{n}</td><td>{what}</td></tr>",
                c = w.code(),
                shown = code(w.code()),
                n = num(*n),
                what = prose(what)
            );
        }
        h.push_str("</table></div>\n");
    }
    h.push_str("</section>\n");

    // Sources in numbers.
    h.push_str("<section><h2>Sources in numbers</h2>\n<div class=\"wrap\"><table id=\"reason-table\"><colgroup><col style=\"width:30%\"><col style=\"width:10%\"><col style=\"width:10%\"><col style=\"width:10%\"><col style=\"width:10%\"><col style=\"width:30%\"></colgroup>\n<tr><th>source</th><th class=\"n\">rows</th><th class=\"n\">deliver</th><th class=\"n\">retry</th><th class=\"n\">suppress</th><th>main reasons to suppress</th></tr>\n");
    for (name, st) in &sources {
        let mut bad: Vec<(Cause, u64)> = st
            .causes
            .iter()
            .filter(|(c, _)| c.action() == Action::Suppress)
            .map(|(c, n)| (*c, *n))
            .collect();
        bad.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.rank().cmp(&b.0.rank())));
        let main: Vec<String> = bad
            .iter()
            .take(3)
            .map(|(c, n)| format!("{}&nbsp;{}", code(c.code()), num(*n)))
            .collect();
        let _ = write!(
            h,
            "<tr data-source=\"{s}\"><td title=\"{s}\">{s}</td><td class=\"n\">{}</td>",
            num(st.rows),
            s = esc(name),
        );
        for a in Action::ALL {
            let n = st.count(a);
            let _ = write!(
                h,
                "<td class=\"n\">{}<span class=\"sub\">{}</span></td>",
                num(n),
                pct(st.share(n))
            );
        }
        let _ = writeln!(
            h,
            "<td>{}</td></tr>",
            if main.is_empty() {
                "none".to_string()
            } else {
                main.join("<br>")
            }
        );
    }
    h.push_str("</table></div>\n</section>\n");

    // Outliers.
    h.push_str("<section><h2>Sources that stand out</h2>\n");
    let outliers = data.outliers();
    if outliers.is_empty() {
        let _ = writeln!(
            h,
            "<p id=\"outliers\">No source's suppression rate stands out from the list's {} (a source needs at least 20 rows and a rate more than three standard errors above).</p>",
            pct(100.0 * total.bad_rate())
        );
    } else {
        h.push_str("<div class=\"wrap\"><table id=\"outliers\"><colgroup><col style=\"width:46%\"><col style=\"width:11%\"><col style=\"width:16%\"><col style=\"width:15%\"><col style=\"width:12%\"></colgroup>\n<tr><th>source</th><th class=\"n\">rows</th><th class=\"n\">suppressed</th><th class=\"n\">whole list</th><th class=\"n\">z</th></tr>\n");
        for o in &outliers {
            let _ = writeln!(
                h,
                "<tr class=\"warn\" data-source=\"{s}\"><td title=\"{s}\">{s}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}</td></tr>",
                num(o.rows),
                pct(100.0 * o.rate),
                pct(100.0 * total.bad_rate()),
                o.z,
                s = esc(&o.source),
            );
        }
        h.push_str("</table></div>\n<p>These sources' suppression rates are more than three standard errors above the whole list's. Fixing how they collect addresses (confirmation emails, validation at the form) is worth more than cleaning the list.</p>\n");
    }
    h.push_str("</section>\n");

    // Top failing domains.
    let mut failing: Vec<(&String, &(u64, Cause))> = data.failing.iter().collect();
    failing.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
    h.push_str("<section><h2>Top failing domains</h2>\n");
    if failing.is_empty() {
        h.push_str("<p id=\"failing\">No domain failed.</p>\n");
    } else {
        h.push_str("<div class=\"wrap\"><table id=\"failing\"><colgroup><col style=\"width:45%\"><col style=\"width:15%\"><col style=\"width:40%\"></colgroup>\n<tr><th>domain</th><th class=\"n\">rows</th><th>reason</th></tr>\n");
        for (d, (n, c)) in failing.iter().take(25) {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td class=\"n\">{}</td><td>{} {} <span class=\"act {a}\">{a}</span></td></tr>",
                esc(d),
                num(*n),
                swatch(c.guide().color, c.action()),
                code(c.code()),
                a = c.action().as_str(),
            );
        }
        h.push_str("</table></div>\n");
    }
    h.push_str("</section>\n");

    // Suggested corrections.
    let mut sugg: Vec<(&(String, String), &u64)> = data.suggestions.iter().collect();
    sugg.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    h.push_str("<section><h2>Suggested corrections</h2>\n");
    if sugg.is_empty() {
        h.push_str("<p id=\"suggestions\">No probable typo found.</p>\n");
    } else {
        h.push_str("<p class=\"hint\">Domains (or their mail servers) that are a near miss of a well-known one: the address's owner, or the domain's, probably mistyped it.</p>\n<div class=\"wrap\"><table id=\"suggestions\"><colgroup><col style=\"width:40%\"><col style=\"width:40%\"><col style=\"width:20%\"></colgroup>\n<tr><th>written</th><th>probably meant</th><th class=\"n\">rows</th></tr>\n");
        for ((from, to), n) in sugg.iter().take(50) {
            let _ = writeln!(
                h,
                "<tr><td>{}</td><td>{}</td><td class=\"n\">{}</td></tr>",
                esc(from),
                esc(to),
                num(**n)
            );
        }
        h.push_str("</table></div>\n");
    }
    h.push_str("</section>\n");

    // How the run was made.
    h.push_str(
        "<section id=\"settings\"><h2>How this run was made</h2>\n<dl class=\"settings\">\n",
    );
    for (key, label, value) in &settings.items {
        let _ = writeln!(
            h,
            "<dt>{}</dt><dd data-setting=\"{key}\">{}</dd>",
            esc(label),
            esc(value)
        );
    }
    h.push_str("</dl>\n</section>\n</main>\n</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;
    use prebounce_core::verdict::REASONS;

    fn settings(title: &str) -> RunSettings {
        RunSettings {
            title: title.into(),
            generated: "now".into(),
            items: vec![("resolver", "Resolver", "127.0.0.1:53".into())],
        }
    }

    #[test]
    fn outliers_need_rows_and_a_real_difference() {
        let mut d = ReportData::default();
        let ok = Verdict::new(Reason::Deliverable, "");
        let bad = Verdict::new(Reason::Nxdomain, "");
        for i in 0..400 {
            d.add("form", Some("a.zz"), if i % 20 == 0 { &bad } else { &ok });
        }
        for i in 0..100 {
            d.add("import", Some("b.zz"), if i % 2 == 0 { &bad } else { &ok });
        }
        for _ in 0..5 {
            d.add("tiny", Some("c.zz"), &bad);
        }
        let o = d.outliers();
        assert_eq!(o.len(), 1, "{o:?}");
        assert_eq!(o[0].source, "import");
        let names: Vec<&str> = d.by_rate().iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["tiny", "import", "form"], "by suppression rate");
        let page = html(&d, &settings("t <x>"));
        assert!(page.contains(r#"data-source="import" data-action="suppress" data-count="50""#));
        assert!(page.contains("t &lt;x&gt;"));
        assert!(page.contains(r#"<dd data-setting="resolver">127.0.0.1:53</dd>"#));
        assert!(!page.contains("<script"));
        assert!(
            !page.contains("http://") || page.matches("http://").count() == 1,
            "only the SVG namespace"
        );
    }

    #[test]
    fn every_reason_and_warning_is_explained_once() {
        for info in REASONS {
            let n = REASON_GUIDE
                .iter()
                .filter(|g| g.cause == Cause::Reason(info.reason))
                .count();
            assert_eq!(n, 1, "{}", info.code);
        }
        assert_eq!(
            REASON_GUIDE.len(),
            REASONS.len() + 1,
            "the reasons and held"
        );
        for w in Warning::ALL {
            assert_eq!(
                WARNING_GUIDE.iter().filter(|(x, _)| *x == w).count(),
                1,
                "{}",
                w.code()
            );
        }
        for g in REASON_GUIDE {
            assert!(
                !g.what.is_empty() && !g.todo.is_empty(),
                "{}",
                g.cause.code()
            );
        }
    }

    /// The hue (degrees) and lightness (0-1) of an sRGB hex colour.
    fn hue_light(hex: &str) -> (f64, f64) {
        let v = u32::from_str_radix(hex.trim_start_matches('#'), 16).unwrap();
        let (r, g, b) = (
            (v >> 16 & 255) as f64 / 255.0,
            (v >> 8 & 255) as f64 / 255.0,
            (v & 255) as f64 / 255.0,
        );
        let (max, min) = (r.max(g).max(b), r.min(g).min(b));
        let d = max - min;
        let h = if d == 0.0 {
            0.0
        } else if max == r {
            60.0 * ((g - b) / d).rem_euclid(6.0)
        } else if max == g {
            60.0 * ((b - r) / d + 2.0)
        } else {
            60.0 * ((r - g) / d + 4.0)
        };
        (h, (max + min) / 2.0)
    }

    /// Blues for deliver, ambers for retry, purples and reds for suppress:
    /// three hue ranges that do not touch.
    pub(crate) fn family_of(hex: &str) -> Option<Action> {
        let (h, _) = hue_light(hex);
        if (190.0..=215.0).contains(&h) {
            Some(Action::Deliver)
        } else if (30.0..=55.0).contains(&h) {
            Some(Action::Retry)
        } else if (280.0..=360.0).contains(&h) || h < 5.0 {
            Some(Action::Suppress)
        } else {
            None
        }
    }

    #[test]
    fn colours_come_in_three_families_and_differ_within_each() {
        for (a, c) in ACTION_COLORS {
            assert_eq!(family_of(c), Some(a), "{c}");
        }
        for g in REASON_GUIDE {
            assert_eq!(
                family_of(g.color),
                Some(g.cause.action()),
                "{} {}",
                g.cause.code(),
                g.color
            );
        }
        // Within a family, every two colours differ clearly, as seen with
        // normal vision and with the two common colour-vision deficiencies;
        // and the three action colours differ a lot.
        for (i, a) in REASON_GUIDE.iter().enumerate() {
            for b in &REASON_GUIDE[i + 1..] {
                for (vision, m) in VISIONS {
                    let d = delta_e(a.color, b.color, m);
                    assert!(
                        d >= 11.0,
                        "{} {} and {} {} are too alike for {vision} vision (delta E {d:.1})",
                        a.cause.code(),
                        a.color,
                        b.cause.code(),
                        b.color
                    );
                }
            }
        }
        for (i, (_, a)) in ACTION_COLORS.iter().enumerate() {
            for (_, b) in &ACTION_COLORS[i + 1..] {
                for (vision, m) in VISIONS {
                    let d = delta_e(a, b, m);
                    assert!(d >= 30.0, "{a} and {b} for {vision} vision: {d:.1}");
                }
            }
        }
    }

    /// Dichromacy simulation (Machado, Oliveira and Fernandes 2009,
    /// severity 1), on linear RGB.
    const VISIONS: [(&str, [[f64; 3]; 3]); 3] = [
        (
            "normal",
            [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]],
        ),
        (
            "deuteranope",
            [
                [0.367_322, 0.860_646, -0.227_968],
                [0.280_085, 0.672_501, 0.047_413],
                [-0.011_820, 0.042_940, 0.968_881],
            ],
        ),
        (
            "protanope",
            [
                [0.152_286, 1.052_583, -0.204_868],
                [0.114_503, 0.786_281, 0.099_216],
                [-0.003_882, -0.048_116, 1.051_998],
            ],
        ),
    ];

    /// CIE76 colour difference of two sRGB colours as seen through `m`.
    fn delta_e(a: &str, b: &str, m: [[f64; 3]; 3]) -> f64 {
        let lab = |hex: &str| {
            let v = u32::from_str_radix(hex.trim_start_matches('#'), 16).unwrap();
            let lin = |c: u32| {
                let c = c as f64 / 255.0;
                if c <= 0.040_45 {
                    c / 12.92
                } else {
                    ((c + 0.055) / 1.055).powf(2.4)
                }
            };
            let c = [lin(v >> 16 & 255), lin(v >> 8 & 255), lin(v & 255)];
            let s: Vec<f64> = m
                .iter()
                .map(|row| (row[0] * c[0] + row[1] * c[1] + row[2] * c[2]).clamp(0.0, 1.0))
                .collect();
            let x = (0.4124 * s[0] + 0.3576 * s[1] + 0.1805 * s[2]) / 0.950_47;
            let y = 0.2126 * s[0] + 0.7152 * s[1] + 0.0722 * s[2];
            let z = (0.0193 * s[0] + 0.1192 * s[1] + 0.9505 * s[2]) / 1.088_83;
            let f = |t: f64| {
                if t > 0.008_856 {
                    t.cbrt()
                } else {
                    7.787 * t + 16.0 / 116.0
                }
            };
            [
                116.0 * f(y) - 16.0,
                500.0 * (f(x) - f(y)),
                200.0 * (f(y) - f(z)),
            ]
        };
        let (p, q) = (lab(a), lab(b));
        ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt()
    }

    #[test]
    fn held_rows_count_as_retry_in_both_charts() {
        let mut d = ReportData::default();
        let mut v = Verdict::new(Reason::Nxdomain, "");
        v.held = true;
        d.add("s", Some("x.zz"), &v);
        let page = html(&d, &settings("t"));
        assert!(page.contains(r#"data-action="retry" data-count="1" data-family="retry""#));
        assert!(
            page.contains(r#"data-reason="needs_confirmation" data-count="1" data-family="retry""#)
        );
        assert!(page.contains(r#"<tr data-reason="needs_confirmation">"#));
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(num(0), "0");
        assert_eq!(num(999), "999");
        assert_eq!(num(1350), "1,350");
        assert_eq!(num(1234567), "1,234,567");
        assert_eq!(pct(52.94), "52.9%");
        assert_eq!(pct(100.0), "100%");
        assert_eq!(human(std::time::Duration::from_secs(5 * 86400)), "5d");
        assert_eq!(human(std::time::Duration::from_secs(90)), "90s");
    }
}
