//! `prebounce domain`: one domain's verdict with all its evidence.

use std::io::{self, Write};

use prebounce::DomainReport;
use prebounce_core::rules::{assess_host, assess_target, Policy, TargetAssessment};
use prebounce_core::verdict::Suggestion;
use serde::Serialize;

use super::args::{DomainArgs, ExplainFormat};
use super::config::{dns_setup, history_setup, GuardTripped};
use super::output::{dns_view, probe_view, DnsView, ProbeView};
use prebounce_core::decide::judge;
use prebounce_core::history::{explain, format_rfc3339, HistoryPolicy};

#[derive(Serialize)]
struct AddrJson {
    ip: String,
    class: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    range: Option<&'static str>,
}

#[derive(Serialize)]
struct TargetJson {
    preference: u16,
    exchange: String,
    state: &'static str,
    note: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    a: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    aaaa: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    cname: Vec<String>,
    addresses: Vec<AddrJson>,
}

#[derive(Serialize)]
struct DomainJson<'a> {
    domain: &'a str,
    action: &'static str,
    reason: &'static str,
    status: Option<String>,
    detail: &'a str,
    warnings: Vec<&'static str>,
    rule: &'static str,
    dns: Option<DnsView>,
    mx: Vec<TargetJson>,
    probe: Option<ProbeView>,
    /// MX hosts that look like typos of a provider's.
    typos: Vec<TypoJson>,
    /// The host or mailbox domain probably meant.
    suggestion: Option<String>,
    /// What history says (absent with --no-history).
    history: Option<HistoryJson>,
}

#[derive(Serialize)]
struct HistoryJson {
    /// When the evidence was observed.
    observed: String,
    /// Whether it was decided from stored evidence instead of asking DNS.
    reused: bool,
    /// Its age then, in seconds.
    age: i64,
    last_success: Option<String>,
    /// When the current run of temporary failures began.
    failing_since: Option<String>,
    /// Checks in that run, today's included.
    checks: usize,
    /// When the run makes (or made) the domain dead_domain, if failures go on.
    dead_from: Option<String>,
    /// Checks still needed for that.
    checks_needed: usize,
}

fn history_json(
    r: &DomainReport,
    policy: &Policy,
    hp: Option<&HistoryPolicy>,
) -> Option<HistoryJson> {
    let h = r.history.as_ref()?;
    let reading = r.evidence.as_ref().map(|ev| judge(ev, policy).reason);
    let e = explain(&h.past, reading, h.observed, hp?);
    Some(HistoryJson {
        observed: format_rfc3339(h.observed),
        reused: h.reused,
        age: h.age,
        last_success: e.last_success.map(format_rfc3339),
        failing_since: e.failing_since.map(format_rfc3339),
        checks: e.checks,
        dead_from: e.dead_from.map(format_rfc3339),
        checks_needed: e.checks_needed,
    })
}

#[derive(Serialize)]
struct TypoJson {
    host: String,
    provider: String,
    provider_domain: String,
    meant: String,
}

fn addrs(a: &TargetAssessment) -> Vec<AddrJson> {
    a.addresses
        .iter()
        .map(|c| AddrJson {
            ip: c.ip.to_string(),
            class: c.class.as_str(),
            range: c.range,
        })
        .collect()
}

fn to_json<'a>(r: &'a DomainReport, policy: &Policy, hp: Option<&HistoryPolicy>) -> DomainJson<'a> {
    let v = &r.verdict;
    let mx = r
        .evidence
        .iter()
        .flat_map(|ev| ev.targets.iter())
        .map(|t| {
            let a = assess_target(t, policy);
            TargetJson {
                preference: t.mx.preference,
                exchange: t.mx.exchange.clone(),
                state: a.state.as_str(),
                note: a.note(),
                a: t.host.as_ref().map(|h| h.a.status.name()),
                aaaa: t.host.as_ref().map(|h| h.aaaa.status.name()),
                cname: t
                    .host
                    .as_ref()
                    .map(|h| h.cname().to_vec())
                    .unwrap_or_default(),
                addresses: addrs(&a),
            }
        })
        .collect();
    DomainJson {
        domain: &r.domain,
        action: v.action().as_str(),
        reason: v.reason.code(),
        status: v.status().map(|s| s.to_string()),
        detail: &v.detail,
        warnings: v.warnings.iter().map(|w| w.code()).collect(),
        rule: v.reason.info().when,
        dns: dns_view(r, policy),
        mx,
        probe: probe_view(r),
        typos: r
            .evidence
            .iter()
            .flat_map(|ev| ev.typos.near_misses.iter())
            .map(|m| TypoJson {
                host: m.host.clone(),
                provider: m.provider.clone(),
                provider_domain: m.provider_domain.clone(),
                meant: m.meant.clone(),
            })
            .collect(),
        history: history_json(r, policy, hp),
        suggestion: v.suggestion.as_ref().map(|s| match s {
            Suggestion::Host(h) | Suggestion::Domain(h) => h.clone(),
        }),
    }
}

fn write_text(
    out: &mut impl Write,
    r: &DomainReport,
    policy: &Policy,
    hp: Option<&HistoryPolicy>,
) -> io::Result<()> {
    let j = to_json(r, policy, hp);
    writeln!(out, "{}", j.domain)?;
    writeln!(
        out,
        "  verdict   {} {} {}",
        j.action,
        j.reason,
        j.status.as_deref().unwrap_or("-")
    )?;
    writeln!(out, "  rule      {}", j.rule)?;
    writeln!(out, "  detail    {}", j.detail)?;
    if !j.warnings.is_empty() {
        writeln!(out, "  warnings  {}", j.warnings.join(", "))?;
    }
    if let Some(ev) = &r.evidence {
        let cname = if ev.mx.cname.is_empty() {
            String::new()
        } else {
            format!(" (via CNAME {})", ev.mx.cname.join(" -> "))
        };
        writeln!(out, "  MX query  {}{cname}", ev.mx.status.describe())?;
        for t in &j.mx {
            writeln!(
                out,
                "    MX {:<5} {:<40} {:<12} {}",
                t.preference, t.exchange, t.state, t.note
            )?;
            for a in &t.addresses {
                writeln!(
                    out,
                    "      {:<39} {}{}",
                    a.ip,
                    a.class,
                    a.range.map(|r| format!(" ({r})")).unwrap_or_default()
                )?;
            }
        }
        if let Some(h) = &ev.implicit {
            let a = assess_host(h, policy);
            writeln!(
                out,
                "  implicit MX (A {}, AAAA {}): {} {}",
                h.a.status,
                h.aaaa.status,
                a.state.as_str(),
                a.note()
            )?;
        }
    }
    for t in &j.typos {
        writeln!(
            out,
            "  typo      {} looks like {}'s {}: probably meant {}",
            t.host, t.provider, t.provider_domain, t.meant
        )?;
    }
    if let Some(s) = &j.suggestion {
        writeln!(out, "  suggest   {s}")?;
    }
    if let Some(h) = &j.history {
        let seen = if h.reused {
            format!(
                "decided from evidence observed {} ({} s old)",
                h.observed, h.age
            )
        } else {
            format!("observed now ({})", h.observed)
        };
        writeln!(out, "  history   {seen}")?;
        match &h.last_success {
            Some(t) => writeln!(out, "            last success {t}")?,
            None => writeln!(out, "            no success on record")?,
        }
        if let (Some(since), Some(dead)) = (&h.failing_since, &h.dead_from) {
            let when = if j.reason == "dead_domain" {
                format!("dead_domain since {dead}")
            } else if h.checks_needed > 0 {
                format!(
                    "becomes dead_domain from {dead} if failures persist, after {} more check(s)",
                    h.checks_needed
                )
            } else {
                format!("becomes dead_domain from {dead} if failures persist")
            };
            writeln!(
                out,
                "            failing temporarily since {since}, {} check(s); {when}",
                h.checks
            )?;
        }
    }
    if let Some(p) = &j.probe {
        writeln!(out, "  port 25   {}", p.status)?;
        if let Some(why) = &p.unavailable {
            writeln!(out, "    {why}")?;
        }
        for h in &p.hosts {
            let code = h.code.map(|c| format!(" {c}")).unwrap_or_default();
            let tls = match h.starttls {
                Some(true) => ", STARTTLS offered",
                Some(false) => ", no STARTTLS",
                None => "",
            };
            writeln!(
                out,
                "    {:<40} {}{code} in {} ms{tls}",
                h.address, h.outcome, h.ms
            )?;
        }
        if let Some(g) = &p.greeting {
            writeln!(out, "    greeting: {g}")?;
        }
    }
    writeln!(out)
}

pub async fn run(args: DomainArgs) -> anyhow::Result<()> {
    let history = history_setup(&args.history, !args.dns.zone.is_empty(), true)?;
    let setup = dns_setup(&args.dns, &args.probe, history).await?;
    let checker = setup.checker.clone();
    let policy = checker.policy().clone();
    let hp = checker.history_policy().cloned();
    let _ = checker.check_resolver(true).await;
    let mut out = io::BufWriter::new(io::stdout().lock());
    for name in &args.names {
        let report = match name.rsplit_once('@') {
            Some(_) => match checker.check_address(name).await.report {
                Some(r) => r,
                None => {
                    checker
                        .check_domain(name.rsplit('@').next().unwrap_or_default())
                        .await
                }
            },
            None => checker.check_domain(name).await,
        };
        match args.format {
            // One object per domain, each on its own line: for one domain,
            // one JSON document (as `json` always wrote), and JSON lines for
            // several.
            ExplainFormat::Json | ExplainFormat::Jsonl => {
                serde_json::to_writer(&mut out, &to_json(&report, &policy, hp.as_ref()))?;
                writeln!(out)?;
            }
            ExplainFormat::Table => write_text(&mut out, &report, &policy, hp.as_ref())?,
        }
    }
    out.flush()?;
    let finished = checker.finish_history();
    if let Some(why) = checker.resolver_unhealthy() {
        return Err(super::config::unhealthy_error(&why).into());
    }
    match finished {
        Ok(()) => Ok(()),
        Err(e @ prebounce::HistoryError::Guard(_)) => Err(GuardTripped(e.to_string()).into()),
        Err(e) => Err(anyhow::anyhow!("{e}")),
    }
}
