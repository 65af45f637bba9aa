//! `prebounce check`: the streaming pipeline.
//!
//! A reader thread parses rows; a dispatcher starts each new domain's check
//! (bounded by `--concurrency`); the main task waits for rows in input order
//! (a bounded window) and hands them to a writer thread. Memory grows with
//! distinct domains and the window, never with the input's length.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::{Duration, Instant};

use prebounce::{DomainReport, PendingReport};
use prebounce_core::verdict::{Action, Reason, Verdict};
use tokio::sync::mpsc;

use super::args::{CheckArgs, OutputFormat};
use super::config::{dns_setup, history_setup, GuardTripped, UsageError};
use super::input::{pick_column, Inputs, Row};
use super::output::{Outcome, Writer};
use super::report::ReportData;

/// Rows waiting in order for their domain's verdict.
const WINDOW: usize = 65_536;
/// Rows handed between threads at once.
const BATCH: usize = 1024;

/// The verdict on a row that failed the syntax checks.
fn syntax_verdict(row: &Row, e: &prebounce_core::address::SyntaxError) -> Verdict {
    let domain = row.address.rsplit_once('@').map(|(_, d)| d);
    prebounce::syntax_verdict(e, domain.unwrap_or_default())
}

/// Counts for the summary.
#[derive(Default)]
struct Tally {
    rows: u64,
    actions: BTreeMap<Action, u64>,
    reasons: BTreeMap<Reason, u64>,
    /// Counts by source, for the summary and the HTML report.
    by_source: Option<ReportData>,
}

/// A row's verdict: known at once (syntax), or after DNS.
enum Step {
    Ready(Verdict),
    Wait(PendingReport),
}

/// A row with its verdict, for the writer.
struct Judged {
    row: Row,
    verdict: Verdict,
    report: Option<Arc<DomainReport>>,
}

enum Done {
    Finished(Box<Tally>),
    /// The reader of our output went away (a closed pipe): stop quietly.
    Closed,
}

pub async fn run(args: CheckArgs) -> anyhow::Result<()> {
    let inputs = Inputs::open(&args.files, args.input_format, args.column.as_deref())?;
    let header = inputs.header.clone();
    let source_index = match (&args.source_column, &header) {
        (None, _) => None,
        (Some(_), None) => {
            return Err(UsageError(
                "--source-column needs CSV input (a .csv file or --input-format csv)".into(),
            )
            .into())
        }
        (Some(name), Some(h)) => Some(
            pick_column(h, Some(name))
                .map_err(|e| UsageError(format!("--source-column: {}", e.0)))?,
        ),
    };
    let by_source = args.report.is_some() || source_index.is_some();
    let history = history_setup(&args.history, !args.dns.zone.is_empty(), true)?;
    let setup = dns_setup(&args.dns, &args.probe, history).await?;
    let checker = setup.checker.clone();
    let policy = checker.policy().clone();
    // Before any domain: is our resolver healthy? (If not, the rows say so.)
    let _ = checker.check_resolver(true).await;

    let to_terminal = args.output.is_none() && io::stdout().is_terminal();
    let format = args.format.unwrap_or(if to_terminal {
        OutputFormat::Table
    } else {
        OutputFormat::Csv
    });
    let sink: Box<dyn Write + Send> = match &args.output {
        Some(path) => Box::new(
            File::create(path)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?,
        ),
        None => Box::new(io::stdout()),
    };
    let mut writer = Writer::new(
        format,
        BufWriter::with_capacity(256 * 1024, sink),
        header,
        policy,
        checker.prober().is_some(),
    )?;

    let started = Instant::now();
    let written = Arc::new(AtomicU64::new(0));

    // Reader thread -> dispatcher, in batches of rows.
    let (row_tx, mut row_rx) = mpsc::channel::<anyhow::Result<Vec<Row>>>(8);
    let reader = std::thread::spawn(move || {
        let mut inputs = inputs;
        let mut batch = Vec::with_capacity(BATCH);
        loop {
            match inputs.next_row() {
                Ok(Some(row)) => {
                    batch.push(row);
                    if batch.len() < BATCH && inputs.has_buffered() {
                        continue;
                    }
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    if row_tx.blocking_send(Ok(full)).is_err() {
                        return;
                    }
                }
                Ok(None) => {
                    if !batch.is_empty() {
                        let _ = row_tx.blocking_send(Ok(batch));
                    }
                    return;
                }
                Err(e) => {
                    if !batch.is_empty() {
                        let _ = row_tx.blocking_send(Ok(std::mem::take(&mut batch)));
                    }
                    let _ = row_tx.blocking_send(Err(e));
                    return;
                }
            }
        }
    });

    // Dispatcher -> in-order window: starts each new domain's check.
    let (win_tx, mut win_rx) = mpsc::channel::<anyhow::Result<Vec<(Row, Step)>>>(WINDOW / BATCH);
    // Read-ahead -> dispatcher: the history of each batch's new domains is
    // read in one pass, a few batches ahead of the dispatcher, so that the
    // store is never waited for domain by domain.
    let (ahead_tx, mut ahead_rx) = mpsc::channel::<anyhow::Result<Vec<Row>>>(8);
    let ahead_checker = checker.clone();
    let read_ahead = tokio::spawn(async move {
        while let Some(item) = row_rx.recv().await {
            if let Ok(rows) = &item {
                let mut fresh: Vec<String> = rows
                    .iter()
                    .filter_map(|r| r.parsed.as_ref().ok())
                    .map(|a| &a.domain)
                    .filter(|d| !ahead_checker.is_started(d))
                    .cloned()
                    .collect();
                fresh.sort_unstable();
                fresh.dedup();
                ahead_checker.read_ahead(fresh).await;
            }
            if ahead_tx.send(item).await.is_err() {
                return;
            }
        }
    });

    let dispatch_checker = checker.clone();
    let dispatcher = tokio::spawn(async move {
        while let Some(item) = ahead_rx.recv().await {
            let item = match item {
                Ok(rows) => {
                    let mut steps = Vec::with_capacity(rows.len());
                    for row in rows {
                        let step = match &row.parsed {
                            Ok(a) => Step::Wait(dispatch_checker.start(&a.domain).await),
                            Err(e) => Step::Ready(syntax_verdict(&row, e)),
                        };
                        steps.push((row, step));
                    }
                    Ok(steps)
                }
                Err(e) => Err(e),
            };
            if win_tx.send(item).await.is_err() {
                return;
            }
        }
    });

    // Writer thread.
    let (out_tx, out_rx) = std_mpsc::sync_channel::<Vec<Judged>>(16);
    let counter = written.clone();
    let writer_thread = std::thread::spawn(move || -> io::Result<Done> {
        let mut tally = Tally {
            by_source: by_source.then(ReportData::default),
            ..Tally::default()
        };
        for Judged {
            row,
            verdict,
            report,
        } in out_rx.into_iter().flatten()
        {
            let domain = match &row.parsed {
                Ok(a) => Some(a.domain.as_str()),
                Err(e) => e.domain.as_deref(),
            };
            if let Some(data) = tally.by_source.as_mut() {
                let source = match (source_index, &row.columns) {
                    (Some(i), Some(cols)) => cols
                        .get(i)
                        .map(|s| s.trim())
                        .filter(|s| !s.is_empty())
                        .unwrap_or("(none)"),
                    _ => "all",
                };
                data.add(source, domain, &verdict);
            }
            let outcome = Outcome {
                row: &row,
                domain,
                verdict: &verdict,
                report: report.as_ref(),
            };
            match writer.write(&outcome) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Ok(Done::Closed),
                Err(e) => return Err(e),
            }
            tally.rows += 1;
            *tally.actions.entry(verdict.action()).or_default() += 1;
            *tally.reasons.entry(verdict.reason).or_default() += 1;
            counter.fetch_add(1, Ordering::Relaxed);
        }
        match writer.flush() {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(Done::Closed),
            Err(e) => Err(e),
            Ok(()) => Ok(Done::Finished(Box::new(tally))),
        }
    });

    let progress = (!args.quiet && io::stderr().is_terminal()).then(|| {
        let written = written.clone();
        let checker = checker.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(250));
            loop {
                tick.tick().await;
                let rows = written.load(Ordering::Relaxed);
                let secs = started.elapsed().as_secs_f64().max(0.001);
                eprint!(
                    "\r\x1b[K{rows} rows, {} domains, {:.0} rows/s",
                    checker.domains_seen(),
                    rows as f64 / secs
                );
            }
        })
    });

    let mut failure = None;
    'rows: while let Some(item) = win_rx.recv().await {
        let steps = match item {
            Ok(steps) => steps,
            Err(e) => {
                failure = Some(e);
                break;
            }
        };
        let mut out = Vec::with_capacity(steps.len());
        for (row, step) in steps {
            out.push(match step {
                Step::Ready(verdict) => Judged {
                    row,
                    verdict,
                    report: None,
                },
                Step::Wait(pending) => {
                    let report = pending.wait().await;
                    Judged {
                        row,
                        verdict: report.verdict.clone(),
                        report: Some(report),
                    }
                }
            });
        }
        if out_tx.send(out).is_err() {
            break 'rows; // the writer stopped: its result says why
        }
        if checker.guard_tripped() {
            break 'rows; // the resolver looks broken: stop here
        }
    }
    drop(out_tx);
    drop(win_rx);
    let done = writer_thread
        .join()
        .map_err(|_| anyhow::anyhow!("the output thread panicked"))?;
    dispatcher.abort();
    read_ahead.abort();
    let _ = reader.join();
    if let Some(p) = progress {
        p.abort();
        eprint!("\r\x1b[K");
    }
    let done = done.map_err(|e| anyhow::anyhow!("cannot write the output: {e}"))?;
    if let Some(e) = failure {
        return Err(e);
    }
    let tally = match done {
        Done::Finished(t) => t,
        Done::Closed => return Ok(()),
    };
    match checker.finish_history() {
        Ok(()) => {}
        Err(e @ prebounce::HistoryError::Guard(_)) => {
            return Err(GuardTripped(format!("stopped after {} rows: {e}", tally.rows)).into());
        }
        Err(e) => return Err(anyhow::anyhow!("{e}")),
    }
    if let (Some(path), Some(data)) = (&args.report, &tally.by_source) {
        let generated = prebounce_core::history::format_rfc3339(
            prebounce::Clock::from_env().map(|c| c.now()).unwrap_or(0),
        );
        let title = format!(
            "prebounce report: {}",
            args.files
                .iter()
                .map(|f| f.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        std::fs::write(path, super::report::html(data, &title, &generated))
            .map_err(|e| anyhow::anyhow!("cannot write the report {}: {e}", path.display()))?;
    }
    let blocked = match checker.prober() {
        Some(p) => p.blocked().await,
        None => None,
    };
    if !args.quiet {
        eprint!("{}", summary(&tally, started.elapsed(), &setup, blocked));
        if let (Some(_), Some(data)) = (&args.source_column, &tally.by_source) {
            eprint!("{}", data.summary());
        }
    } else if let Some(why) = blocked {
        eprintln!("prebounce: outbound port 25 seems blocked here: {why}; probing stopped");
    }
    if let Some(why) = checker.resolver_unhealthy() {
        return Err(super::config::unhealthy_error(&why).into());
    }
    // The process ends now: freeing every domain's evidence one by one
    // would only cost time (a sixth of a run's CPU in profiles).
    std::mem::forget(setup);
    std::mem::forget(checker);
    Ok(())
}

fn summary(
    t: &Tally,
    elapsed: Duration,
    setup: &super::config::DnsSetup,
    probe_blocked: Option<String>,
) -> String {
    let secs = elapsed.as_secs_f64().max(1e-6);
    let domains = setup.checker.domains_seen();
    let stats = setup.checker.resolver().stats();
    let mut s = format!(
        "prebounce: {} rows, {} distinct domains, {:.2} s ({:.0} rows/s, {:.0} domains/s)\n",
        t.rows,
        domains,
        secs,
        t.rows as f64 / secs,
        domains as f64 / secs
    );
    for action in Action::ALL {
        let n = t.actions.get(&action).copied().unwrap_or(0);
        let reasons: Vec<String> = t
            .reasons
            .iter()
            .filter(|(r, _)| r.action() == action)
            .map(|(r, n)| format!("{r} {n}"))
            .collect();
        s.push_str(&format!(
            "  {:<9}{:>8}  {}\n",
            action.as_str(),
            n,
            reasons.join(", ")
        ));
    }
    if let (Some(reuse), Some(location)) = (
        setup.checker.history_reuse(),
        setup.checker.history_location(),
    ) {
        let oldest = match reuse.oldest {
            Some(at) => format!(
                " (oldest observed {})",
                prebounce_core::history::format_rfc3339(at)
            ),
            None => String::new(),
        };
        s.push_str(&format!(
            "  history: {} domains decided from stored evidence{oldest}, {} resolved now; store {location}\n",
            reuse.reused,
            (domains as u64).saturating_sub(reuse.reused),
        ));
    } else {
        s.push_str("  history: off\n");
    }
    match (setup.checker.health_checks(), setup.checker.resolver_unhealthy()) {
        (None, _) => s.push_str("  health: resolver health check off (--dns-canary none, or an offline --zone run)\n"),
        (Some(n), None) => s.push_str(&format!("  health: resolver healthy ({n} check(s): a canary resolved, a made-up name was NXDOMAIN)\n")),
        (Some(_), Some(why)) => s.push_str(&format!("  health: RESOLVER UNHEALTHY: {why}\n")),
    }
    let uncounted = setup.checker.uncounted();
    if uncounted > 0 {
        s.push_str(&format!(
            "  outage guard: {uncounted} temporary failures recorded as not counting toward dead_domain (more than half of their window of domains failed)\n"
        ));
    }
    let outage = setup.checker.outage();
    if outage.is_outage() {
        s.push_str(&format!(
            "  outage guard: {} of {} domains failed temporarily, an outage on our side: those failures do not count toward dead_domain\n",
            outage.temporary, outage.decided
        ));
    }
    let t = stats.transport;
    s.push_str(&format!(
        "  dns: {} queries, {} host lookups answered from the run's cache; {} datagrams sent, {} retransmitted, {} over TCP; {}; {}\n",
        stats.queries,
        stats.cache_hits,
        t.sent,
        t.retransmits,
        t.tcp,
        t.defences(),
        setup.describe()
    ));
    if let Some(prober) = setup.checker.prober() {
        let p = prober.stats();
        s.push_str(&format!(
            "  probe: {} addresses probed on port {}, {} answered, {} failed, {:.2} s probing\n",
            p.probed,
            prober.config().port,
            p.answered,
            p.failed,
            p.span_ms as f64 / 1000.0
        ));
    }
    if let Some(why) = probe_blocked {
        s.push_str(&format!(
            "  probe: OUTBOUND PORT 25 SEEMS BLOCKED HERE: {why}. Probing stopped; rows keep their DNS verdict (warning probe_unavailable)\n"
        ));
    }
    s
}
