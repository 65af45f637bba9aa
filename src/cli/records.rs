//! `prebounce history`, `suppressions` and `forget`: reading and editing
//! the history store.

use std::io::{self, Write};

use prebounce_core::history::format_rfc3339;
use serde::Serialize;

use super::args::{ExplainFormat, ForgetArgs, HistoryCmdArgs, ListFormat, SuppressionsArgs};
use super::config::open_store;

fn domain_key(d: &str) -> String {
    d.trim().trim_end_matches('.').to_ascii_lowercase()
}

#[derive(Serialize)]
struct ObservationJson<'a> {
    at: String,
    reading: &'a str,
    verdict: &'a str,
    action: &'a str,
    status: Option<&'a str>,
    detail: &'a str,
    warnings: Vec<&'a str>,
    mx: &'a str,
    mx_digest: &'a str,
    probe: Option<&'a str>,
}

pub fn history(args: HistoryCmdArgs) -> anyhow::Result<()> {
    let store = open_store(&args.db)?;
    let domain = domain_key(&args.domain);
    let timeline = store.timeline(&domain)?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    match args.format {
        ExplainFormat::Json => {
            let rows: Vec<ObservationJson> = timeline
                .iter()
                .map(|o| ObservationJson {
                    at: format_rfc3339(o.at),
                    reading: &o.reading,
                    verdict: &o.verdict,
                    action: &o.action,
                    status: o.status.as_deref(),
                    detail: &o.detail,
                    warnings: o.warnings.split(';').filter(|w| !w.is_empty()).collect(),
                    mx: &o.mx,
                    mx_digest: &o.digest,
                    probe: o.probe.as_deref(),
                })
                .collect();
            serde_json::to_writer(
                &mut out,
                &serde_json::json!({"domain": domain, "observations": rows}),
            )?;
            writeln!(out)?;
        }
        ExplainFormat::Text => {
            if timeline.is_empty() {
                writeln!(out, "{domain}: no observations")?;
            } else {
                writeln!(out, "{domain}: {} observations", timeline.len())?;
            }
            for o in &timeline {
                let reading = if o.reading == o.verdict {
                    String::new()
                } else {
                    format!(" (read {})", o.reading)
                };
                writeln!(
                    out,
                    "  {}  {:<8} {:<18} {:<6} {}{reading}",
                    format_rfc3339(o.at),
                    o.action,
                    o.verdict,
                    o.status.as_deref().unwrap_or("-"),
                    o.detail
                )?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

#[derive(Serialize)]
struct SuppressionJson<'a> {
    domain: &'a str,
    reason: &'a str,
    status: Option<&'a str>,
    since: String,
    last_seen: String,
    detail: &'a str,
}

pub fn suppressions(args: SuppressionsArgs) -> anyhow::Result<()> {
    let store = open_store(&args.db)?;
    let list = store.suppressions(args.since)?;
    let stdout = io::stdout();
    match args.format {
        ListFormat::Jsonl => {
            let mut out = io::BufWriter::new(stdout.lock());
            for s in &list {
                serde_json::to_writer(
                    &mut out,
                    &SuppressionJson {
                        domain: &s.domain,
                        reason: &s.reason,
                        status: s.status.as_deref(),
                        since: format_rfc3339(s.since),
                        last_seen: format_rfc3339(s.last_seen),
                        detail: &s.detail,
                    },
                )?;
                writeln!(out)?;
            }
            out.flush()?;
        }
        ListFormat::Csv => {
            let mut w = csv::Writer::from_writer(stdout.lock());
            w.write_record(["domain", "reason", "status", "since", "last_seen", "detail"])?;
            for s in &list {
                w.write_record([
                    s.domain.as_str(),
                    &s.reason,
                    s.status.as_deref().unwrap_or_default(),
                    &format_rfc3339(s.since),
                    &format_rfc3339(s.last_seen),
                    &s.detail,
                ])?;
            }
            w.flush()?;
        }
    }
    Ok(())
}

pub fn forget(args: ForgetArgs) -> anyhow::Result<()> {
    let store = open_store(&args.db)?;
    for d in &args.domains {
        let domain = domain_key(d);
        let n = store.forget(&domain)?;
        println!("{domain}: forgot {n} observations");
    }
    Ok(())
}
