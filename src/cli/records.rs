//! `prebounce history`, `suppressions` and `forget`: reading and editing
//! the history store.

use std::io::{self, IsTerminal, Write};

use prebounce_core::history::format_rfc3339;
use serde::Serialize;

use super::args::{ExplainFormat, ForgetArgs, HistoryCmdArgs, ListFormat, SuppressionsArgs};
use super::config::{open_store, StoreMode, UsageError};

/// The history's key for a name as the user wrote it: the domain exactly
/// as `check` stores it (IDNA to ASCII, lowercase, no trailing dot); an
/// address is taken for its domain.
pub fn domain_key(d: &str) -> anyhow::Result<String> {
    let name = d.trim();
    let name = name.rsplit_once('@').map(|(_, d)| d).unwrap_or(name);
    let name = name.trim_end_matches('.');
    prebounce_core::address::normalize_domain(name)
        .or_else(|e| e.domain.clone().ok_or(e))
        .map_err(|e| UsageError(format!("'{d}' is not a domain: {}", e.detail)).into())
}

#[derive(Serialize)]
struct ObservationJson<'a> {
    /// The domain, in JSON lines (one observation per line).
    #[serde(skip_serializing_if = "Option::is_none")]
    domain: Option<&'a str>,
    at: String,
    reading: &'static str,
    verdict: &'static str,
    action: &'static str,
    status: Option<String>,
    detail: &'a str,
    warnings: Vec<&'static str>,
    mx: std::borrow::Cow<'a, str>,
    probe: Option<&'a str>,
    /// Whether the reading counts toward dead_domain.
    counts: bool,
    /// The evidence it was judged on (absent for observations recorded
    /// before prebounce kept evidence).
    evidence: Option<serde_json::Value>,
}

/// An observation's MX set in one line: from its evidence, or as stored
/// by schema 1.
fn mx_line(o: &prebounce::store::Observation) -> std::borrow::Cow<'_, str> {
    match o
        .evidence
        .as_deref()
        .and_then(prebounce_core::evidence::DomainEvidence::decode)
    {
        Some(ev) => prebounce::mx_summary(&ev, &Default::default()).into(),
        None => o.mx.as_str().into(),
    }
}

pub fn history(args: HistoryCmdArgs) -> anyhow::Result<()> {
    let store = open_store(&args.db, StoreMode::Read)?;
    let domain = domain_key(&args.domain)?;
    let timeline = store.timeline(&domain)?;
    let mut out = io::BufWriter::new(io::stdout().lock());
    let jsonl = args.format == ExplainFormat::Jsonl;
    match args.format {
        ExplainFormat::Json | ExplainFormat::Jsonl => {
            let rows: Vec<ObservationJson> = timeline
                .iter()
                .map(|o| ObservationJson {
                    domain: jsonl.then_some(domain.as_str()),
                    at: format_rfc3339(o.at),
                    reading: o.reading.code(),
                    verdict: o.verdict.code(),
                    action: o.action.as_str(),
                    status: o.status.map(|s| s.to_string()),
                    detail: &o.detail,
                    warnings: o.warnings.iter().map(|w| w.code()).collect(),
                    mx: mx_line(o),
                    probe: o.probe.as_deref(),
                    counts: o.counts,
                    evidence: o
                        .evidence
                        .as_deref()
                        .and_then(|e| serde_json::from_str::<serde_json::Value>(e).ok())
                        .and_then(|mut v| v.get_mut("evidence").map(serde_json::Value::take)),
                })
                .collect();
            if jsonl {
                for row in &rows {
                    serde_json::to_writer(&mut out, row)?;
                    writeln!(out)?;
                }
            } else {
                serde_json::to_writer(
                    &mut out,
                    &serde_json::json!({"domain": domain, "observations": rows}),
                )?;
                writeln!(out)?;
            }
        }
        ExplainFormat::Table => {
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
                    o.action.as_str(),
                    o.verdict.code(),
                    o.status
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "-".into()),
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
    reason: &'static str,
    status: Option<String>,
    since: String,
    last_seen: String,
    detail: &'a str,
}

fn suppression_json(s: &prebounce_store::Suppression) -> SuppressionJson<'_> {
    SuppressionJson {
        domain: &s.domain,
        reason: s.reason.code(),
        status: s.status.map(|s| s.to_string()),
        since: format_rfc3339(s.since),
        last_seen: format_rfc3339(s.last_seen),
        detail: &s.detail,
    }
}

pub fn suppressions(args: SuppressionsArgs) -> anyhow::Result<()> {
    let store = open_store(&args.db, StoreMode::Read)?;
    let list = store.suppressions(args.since)?;
    let stdout = io::stdout();
    let format = args.format.unwrap_or(if stdout.is_terminal() {
        ListFormat::Table
    } else {
        ListFormat::Csv
    });
    match format {
        ListFormat::Jsonl => {
            let mut out = io::BufWriter::new(stdout.lock());
            for s in &list {
                serde_json::to_writer(&mut out, &suppression_json(s))?;
                writeln!(out)?;
            }
            out.flush()?;
        }
        ListFormat::Json => {
            let mut out = io::BufWriter::new(stdout.lock());
            out.write_all(b"[")?;
            for (i, s) in list.iter().enumerate() {
                out.write_all(if i == 0 { b"\n" } else { b",\n" })?;
                serde_json::to_writer(&mut out, &suppression_json(s))?;
            }
            out.write_all(b"\n]\n")?;
            out.flush()?;
        }
        ListFormat::Table => {
            let mut out = io::BufWriter::new(stdout.lock());
            writeln!(
                out,
                "{:<40} {:<18} {:<6} {:<20} {:<20} DETAIL",
                "DOMAIN", "REASON", "STATUS", "SINCE", "LAST SEEN"
            )?;
            for s in &list {
                writeln!(
                    out,
                    "{:<40} {:<18} {:<6} {:<20} {:<20} {}",
                    s.domain,
                    s.reason.code(),
                    s.status
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "-".into()),
                    format_rfc3339(s.since),
                    format_rfc3339(s.last_seen),
                    s.detail
                )?;
            }
            out.flush()?;
        }
        ListFormat::Csv => {
            let mut w = csv::Writer::from_writer(stdout.lock());
            w.write_record(["domain", "reason", "status", "since", "last_seen", "detail"])?;
            for s in &list {
                w.write_record([
                    s.domain.as_str(),
                    s.reason.code(),
                    &s.status.map(|s| s.to_string()).unwrap_or_default(),
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
    let store = open_store(&args.db, StoreMode::Write)?;
    let mut out = io::stdout().lock();
    // Every domain is forgotten even when the reader of the output went
    // away: the first write error is returned at the end.
    let mut written: io::Result<()> = Ok(());
    for d in &args.domains {
        let domain = domain_key(d)?;
        let n = store.forget(&domain)?;
        if written.is_ok() {
            written = writeln!(out, "{domain}: forgot {n} observations");
        }
    }
    Ok(written?)
}
