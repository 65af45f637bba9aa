//! The hygiene report: verdicts by collection source, as one self-contained
//! HTML file (inline CSS and SVG, no script, no external asset).

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use prebounce_core::verdict::{Action, Reason, Suggestion, Verdict};

/// Counts for one collection source.
#[derive(Clone, Debug, Default)]
pub struct SourceStats {
    pub rows: u64,
    pub actions: BTreeMap<Action, u64>,
    pub reasons: BTreeMap<Reason, u64>,
}

impl SourceStats {
    fn add(&mut self, v: &Verdict) {
        self.rows += 1;
        *self.actions.entry(v.action()).or_default() += 1;
        *self.reasons.entry(v.reason).or_default() += 1;
    }

    fn count(&self, a: Action) -> u64 {
        self.actions.get(&a).copied().unwrap_or(0)
    }

    /// The share of rows to suppress.
    pub fn bad_rate(&self) -> f64 {
        if self.rows == 0 {
            0.0
        } else {
            self.count(Action::Suppress) as f64 / self.rows as f64
        }
    }
}

/// What the report and the per-source summary are made of.
#[derive(Debug, Default)]
pub struct ReportData {
    pub sources: BTreeMap<String, SourceStats>,
    pub total: SourceStats,
    /// Rows per failing (retry or suppress) domain, with its reason.
    failing: HashMap<String, (u64, Reason)>,
    /// Rows per (typed domain, suggested domain or host).
    suggestions: HashMap<(String, String), u64>,
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
                let e = self.failing.entry(d.to_string()).or_insert((0, v.reason));
                e.0 += 1;
                e.1 = v.reason;
            }
        }
        if let (Some(d), Some(s)) = (domain, &v.suggestion) {
            let to = match s {
                Suggestion::Host(h) => h.clone(),
                Suggestion::Domain(d) => d.clone(),
            };
            *self.suggestions.entry((d.to_string(), to)).or_default() += 1;
        }
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

    /// The summary lines by source, for standard error.
    pub fn summary(&self) -> String {
        let mut s = String::from("  by source:\n");
        for (name, st) in &self.sources {
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

fn esc(s: &str) -> String {
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

const COLORS: [(Action, &str); 3] = [
    (Action::Deliver, "#2e7d32"),
    (Action::Retry, "#f9a825"),
    (Action::Suppress, "#c62828"),
];

/// A palette for reasons, stable by reason: greens for deliver, ambers for
/// retry, reds and purples for suppress, told apart by shade.
fn reason_color(r: Reason) -> String {
    let i = prebounce_core::verdict::REASONS
        .iter()
        .position(|x| x.reason == r)
        .unwrap_or(0);
    let (hue, spread) = match r.action() {
        Action::Deliver => (125, 25),
        Action::Retry => (42, 12),
        Action::Suppress => (350, 60),
    };
    let hue = (hue + (i * 37) % spread.max(1)) % 360;
    let light = 35 + (i * 13) % 30;
    format!("hsl({hue}, 60%, {light}%)")
}

/// One segment of a stacked bar.
struct Segment {
    count: u64,
    name: String,
    color: String,
}

/// One bar per source.
type Bars = Vec<(String, Vec<Segment>)>;

/// Horizontal stacked bars: one bar per source, one segment per key.
fn stacked_svg(id: &str, title: &str, rows: &Bars, kind: &str) -> String {
    let label_w = 180.0;
    let bar_w = 560.0;
    let bar_h = 22.0;
    let gap = 10.0;
    let max = rows
        .iter()
        .map(|(_, segs)| segs.iter().map(|s| s.count).sum::<u64>())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let height = rows.len() as f64 * (bar_h + gap) + 10.0;
    let mut svg = format!(
        r#"<svg id="{id}" class="chart" role="img" aria-label="{}" xmlns="http://www.w3.org/2000/svg" width="{}" height="{height}" viewBox="0 0 {} {height}">"#,
        esc(title),
        label_w + bar_w + 80.0,
        label_w + bar_w + 80.0
    );
    for (i, (source, segs)) in rows.iter().enumerate() {
        let y = 5.0 + i as f64 * (bar_h + gap);
        let total: u64 = segs.iter().map(|s| s.count).sum();
        let _ = write!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="end" class="label">{}</text>"#,
            label_w - 8.0,
            y + bar_h * 0.7,
            esc(source)
        );
        let mut x = label_w;
        for Segment { count, name, color } in segs {
            if *count == 0 {
                continue;
            }
            let w = bar_w * *count as f64 / max;
            let _ = write!(
                svg,
                r#"<rect class="seg" data-source="{}" data-{kind}="{}" data-count="{count}" x="{x:.2}" y="{y}" width="{w:.2}" height="{bar_h}" fill="{color}"><title>{}: {} {count}</title></rect>"#,
                esc(source),
                esc(name),
                esc(source),
                esc(name)
            );
            x += w;
        }
        let _ = write!(
            svg,
            r#"<text x="{:.2}" y="{}" class="total">{total}</text>"#,
            x + 6.0,
            y + bar_h * 0.7
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The report as one HTML document.
pub fn html(data: &ReportData, title: &str, generated: &str) -> String {
    let mut h = String::new();
    let total = &data.total;
    let _ = write!(
        h,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{t}</title>
<style>
body {{ font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 980px; color: #222; }}
h1 {{ font-size: 1.6em; margin-bottom: 0; }} h2 {{ margin-top: 2em; border-bottom: 1px solid #ddd; }}
.meta {{ color: #666; }} table {{ border-collapse: collapse; margin: .5em 0; }}
td, th {{ padding: 3px 10px; border-bottom: 1px solid #eee; text-align: left; }} td.n {{ text-align: right; font-variant-numeric: tabular-nums; }}
.cards {{ display: flex; gap: 1em; }} .card {{ border: 1px solid #ddd; border-radius: 6px; padding: .6em 1.2em; }}
.card b {{ display: block; font-size: 1.6em; }} .label, .total {{ font-size: 12px; fill: #333; }}
.legend span {{ display: inline-block; margin-right: 1.2em; }} .legend i {{ display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -1px; }}
.warn {{ color: #c62828; }}
</style></head><body>
<h1>{t}</h1><p class="meta">Generated by prebounce {v} on {g}.</p>
<div class="cards" id="totals">
<div class="card">rows<b data-total="rows">{rows}</b></div>
<div class="card">deliver<b data-total="deliver">{d}</b></div>
<div class="card">retry<b data-total="retry">{r}</b></div>
<div class="card">suppress<b data-total="suppress">{s}</b></div>
</div>
"#,
        t = esc(title),
        v = env!("CARGO_PKG_VERSION"),
        g = esc(generated),
        rows = total.rows,
        d = total.count(Action::Deliver),
        r = total.count(Action::Retry),
        s = total.count(Action::Suppress),
    );

    // Actions by source.
    let action_rows: Bars = data
        .sources
        .iter()
        .map(|(name, st)| {
            (
                name.clone(),
                COLORS
                    .iter()
                    .map(|(a, c)| Segment {
                        count: st.count(*a),
                        name: a.as_str().to_string(),
                        color: c.to_string(),
                    })
                    .collect(),
            )
        })
        .collect();
    h.push_str("<h2>Actions by source</h2>\n<p class=\"legend\">");
    for (a, c) in COLORS {
        let _ = write!(
            h,
            r#"<span><i style="background:{c}"></i>{}</span>"#,
            a.as_str()
        );
    }
    h.push_str("</p>\n");
    h.push_str(&stacked_svg(
        "actions",
        "Actions by source",
        &action_rows,
        "action",
    ));

    // Reasons by source.
    let reasons: Vec<Reason> = {
        let mut r: Vec<Reason> = total.reasons.keys().copied().collect();
        r.sort();
        r
    };
    let reason_rows: Bars = data
        .sources
        .iter()
        .map(|(name, st)| {
            (
                name.clone(),
                reasons
                    .iter()
                    .map(|r| Segment {
                        count: st.reasons.get(r).copied().unwrap_or(0),
                        name: r.code().to_string(),
                        color: reason_color(*r),
                    })
                    .collect(),
            )
        })
        .collect();
    h.push_str("<h2>Reasons by source</h2>\n<p class=\"legend\">");
    for r in &reasons {
        let _ = write!(
            h,
            r#"<span><i style="background:{}"></i>{}</span>"#,
            reason_color(*r),
            r.code()
        );
    }
    h.push_str("</p>\n");
    h.push_str(&stacked_svg(
        "reasons",
        "Reasons by source",
        &reason_rows,
        "reason",
    ));
    h.push_str("<table id=\"reason-table\"><tr><th>source</th><th>rows</th>");
    for r in &reasons {
        let _ = write!(h, "<th>{}</th>", r.code());
    }
    h.push_str("<th>suppressed</th></tr>\n");
    for (name, st) in &data.sources {
        let _ = write!(
            h,
            "<tr><td>{}</td><td class=\"n\">{}</td>",
            esc(name),
            st.rows
        );
        for r in &reasons {
            let _ = write!(
                h,
                "<td class=\"n\">{}</td>",
                st.reasons.get(r).copied().unwrap_or(0)
            );
        }
        let _ = writeln!(h, "<td class=\"n\">{:.1}%</td></tr>", 100.0 * st.bad_rate());
    }
    h.push_str("</table>\n");

    // Outliers.
    h.push_str("<h2>Sources that stand out</h2>\n");
    let outliers = data.outliers();
    if outliers.is_empty() {
        let _ = writeln!(
            h,
            "<p id=\"outliers\">No source's suppression rate stands out from the list's {:.1}% (a source needs at least 20 rows and a rate more than three standard errors above).</p>",
            100.0 * total.bad_rate()
        );
    } else {
        h.push_str("<table id=\"outliers\"><tr><th>source</th><th>rows</th><th>suppressed</th><th>list</th><th>z</th></tr>\n");
        for o in &outliers {
            let _ = writeln!(
                h,
                "<tr class=\"warn\" data-source=\"{}\"><td>{}</td><td class=\"n\">{}</td><td class=\"n\">{:.1}%</td><td class=\"n\">{:.1}%</td><td class=\"n\">{:.1}</td></tr>",
                esc(&o.source),
                esc(&o.source),
                o.rows,
                100.0 * o.rate,
                100.0 * total.bad_rate(),
                o.z
            );
        }
        h.push_str("</table>\n<p>Fixing how these sources collect addresses is worth more than cleaning the list.</p>\n");
    }

    // Top failing domains.
    let mut failing: Vec<(&String, &(u64, Reason))> = data.failing.iter().collect();
    failing.sort_by(|a, b| b.1 .0.cmp(&a.1 .0).then(a.0.cmp(b.0)));
    h.push_str("<h2>Top failing domains</h2>\n<table id=\"failing\"><tr><th>domain</th><th>rows</th><th>reason</th></tr>\n");
    for (d, (n, r)) in failing.iter().take(25) {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td class=\"n\">{n}</td><td>{}</td></tr>",
            esc(d),
            r.code()
        );
    }
    h.push_str("</table>\n");

    // Suggested corrections.
    let mut sugg: Vec<(&(String, String), &u64)> = data.suggestions.iter().collect();
    sugg.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    h.push_str("<h2>Suggested corrections</h2>\n<table id=\"suggestions\"><tr><th>written</th><th>probably meant</th><th>rows</th></tr>\n");
    for ((from, to), n) in sugg.iter().take(50) {
        let _ = writeln!(
            h,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{n}</td></tr>",
            esc(from),
            esc(to)
        );
    }
    h.push_str("</table>\n</body></html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let page = html(&d, "t <x>", "now");
        assert!(page.contains(r#"data-source="import" data-action="suppress" data-count="50""#));
        assert!(page.contains("t &lt;x&gt;"));
        assert!(!page.contains("<script"));
        assert!(
            !page.contains("http://") || page.matches("http://").count() == 2,
            "only the SVG namespace"
        );
    }
}
